#!/usr/bin/env node
/**
 * Runs the Iris pipeline end to end through the Engine API, on the embedded SQLite store.
 *
 *   node examples/ml-pipeline/run.mjs [--db PATH] [--seed N] [--min-accuracy X] [--registry DIR]
 *
 * Progress lines go to stderr, the final result (JSON) to stdout. Exit code 0 when the run completed,
 * 1 when it failed, 2 on a bad option. Needs the built engine (`npm run build`; `npm start` builds first).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import '../../dist/stdlib/index.js';
import { Engine } from '../../dist/engine/index.js';
import * as tasks from './tasks.mjs';

const here = dirname(fileURLToPath(import.meta.url));

const usage = 'usage: node examples/ml-pipeline/run.mjs [--db PATH] [--seed N] [--min-accuracy X] [--registry DIR]';
let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      db: { type: 'string', default: join('.larkflow', 'larkflow.db') },
      seed: { type: 'string', default: '7' },
      'min-accuracy': { type: 'string', default: '0.9' },
      registry: { type: 'string', default: join('.larkflow', 'models') },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (e) {
  // Unknown options, missing values, stray arguments: one line and the usage, not a stack trace.
  if (typeof e?.code !== 'string' || !e.code.startsWith('ERR_PARSE_ARGS_')) throw e;
  console.error(`run.mjs: ${e.message.replace(/\.?$/, '.')} ${usage}`);
  process.exit(2);
}
if (opts.help) {
  console.log(usage);
  process.exit(0);
}
const seed = Number(opts.seed);
const minAccuracy = Number(opts['min-accuracy']);
if (!Number.isInteger(seed) || !(minAccuracy >= 0 && minAccuracy <= 1)) {
  console.error('run.mjs: --seed must be an integer and --min-accuracy a number between 0 and 1');
  process.exit(2);
}

const t0 = performance.now();
const engine = Engine.open({ db: opts.db });
engine.registerTasks(tasks);

const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(2)}s`.padStart(6);
engine.subscribe('*', (e) => {
  if (e.kind === 'RunStarted') console.error(`${elapsed()}  run ${e.runId} started (db ${opts.db})`);
  else if (e.kind === 'ProgressReported') console.error(`${elapsed()}  ${e.message}`);
  else if (e.kind === 'TaskCompleted') console.error(`${elapsed()}    step ${e.stepId} done${e.source && e.source !== 'executed' ? ` (${e.source})` : ''}`);
  else if (e.kind === 'AttemptFailed') console.error(`${elapsed()}    step ${e.stepId} attempt ${e.attempt} failed: ${e.error.message}`);
  else if (e.kind === 'TaskFailed') console.error(`${elapsed()}    step ${e.stepId} failed: ${e.error.message}`);
});

let code = 1;
try {
  const handle = engine.start({
    file: join(here, 'pipeline.star'),
    workflow: 'iris_pipeline',
    kwargs: { seed, min_accuracy: minAccuracy, registry: resolve(opts.registry) },
  });
  const runId = handle.runId;
  const r = await handle.result;
  console.error(`${elapsed()}  run ${runId} ${r.status}${r.error ? `: ${r.error.message}` : ''}`);
  console.log(JSON.stringify(r, null, 2));
  code = r.status === 'completed' ? 0 : 1;
} catch (e) {
  console.error(`run.mjs: ${e instanceof Error ? e.message : String(e)}`);
} finally {
  await engine.close();
}
process.exit(code);
