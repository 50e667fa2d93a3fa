// write_output(predictions, params): writes the predictions as JSON lines to params.output (default:
// the attempt's scratch directory) and returns where, and how many.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { input, output } from './lib.mjs';

const { predictions, params } = input();
const path = params.output ?? join(process.env.LARKFLOW_ATTEMPT_DIR, 'predictions.jsonl');
writeFileSync(path, predictions.map((p) => JSON.stringify(p)).join('\n') + '\n');
output({ path, count: predictions.length });
