// train(data, params): a least-squares line through the rows.
import { input, output, round } from './lib.mjs';

const { data } = input();
const n = data.rows.length;
const mx = data.rows.reduce((s, r) => s + r.x, 0) / n;
const my = data.rows.reduce((s, r) => s + r.y, 0) / n;
let sxy = 0;
let sxx = 0;
for (const r of data.rows) {
  sxy += (r.x - mx) * (r.y - my);
  sxx += (r.x - mx) ** 2;
}
const w = sxy / sxx;
output({ w: round(w), b: round(my - w * mx), trained_on: n });
