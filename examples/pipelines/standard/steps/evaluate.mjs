// evaluate(model, data, params): mean squared error and R² of the model on the rows.
import { input, output, round } from './lib.mjs';

const { model, data } = input();
if (!model || typeof model.w !== 'number') {
  process.stderr.write('evaluate: no model (give model={"w": ..., "b": ...})\n');
  process.exit(1);
}
const my = data.rows.reduce((s, r) => s + r.y, 0) / data.rows.length;
let sse = 0;
let sst = 0;
for (const r of data.rows) {
  sse += (r.y - (model.w * r.x + model.b)) ** 2;
  sst += (r.y - my) ** 2;
}
output({ mse: round(sse / data.rows.length), r2: round(1 - sse / sst), n: data.rows.length });
