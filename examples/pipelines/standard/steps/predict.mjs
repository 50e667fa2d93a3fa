// predict(model, data, params): the model's prediction for every row.
import { input, output, round } from './lib.mjs';

const { model, data } = input();
if (!model || typeof model.w !== 'number') {
  process.stderr.write('predict: no model (give model={"w": ..., "b": ...})\n');
  process.exit(1);
}
output(data.rows.map((r) => ({ x: r.x, prediction: round(model.w * r.x + model.b) })));
