// load_data(params): n points of y = slope * x + intercept + noise, from a seed.
import { input, output, rng, round } from './lib.mjs';

const { params } = input();
const n = params.n ?? 50;
const rand = rng(params.seed ?? 1);
const [slope, intercept, noise] = [params.slope ?? 2, params.intercept ?? 1, params.noise ?? 0.1];
const rows = [];
for (let i = 0; i < n; i++) {
  const x = round(rand() * 10);
  rows.push({ x, y: round(slope * x + intercept + (rand() - 0.5) * 2 * noise) });
}
output({ rows });
