#!/usr/bin/env node
/**
 * Records the histories that pipeline.test.ts replays: runs the Iris pipeline
 * (../ml-pipeline/pipeline.star with the tasks of ../ml-pipeline/tasks.mjs) on a test engine with a
 * virtual clock, and writes each run's history as `larkflow history RUN --json` would print it.
 *
 *   npm run build && node examples/testing/record.mjs
 *
 * Run ids, seeds and the clock are fixed, and the registered model's uri is recorded relative to the
 * temporary working directory, so recording again gives the same files. In a real project you would
 * export histories of production runs instead:
 *
 *   larkflow history RUN --json > examples/testing/histories/RUN.json
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestEngine } from '../../dist/testing/index.js';
import * as tasks from '../ml-pipeline/tasks.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const pipeline = join(here, '..', 'ml-pipeline', 'pipeline.star');

// register_model writes the model under `registry`, relative to the working directory: keep it out of the repo.
const work = mkdtempSync(join(tmpdir(), 'larkflow-record-'));
process.chdir(work);

const runs = [
  // The quick candidate misses 90% accuracy, so the pipeline retrains with the full one.
  { runId: 'iris-retrained', kwargs: { seed: 7, min_accuracy: 0.9, registry: 'models' } },
  // A lower bar: the quick candidate is registered at once.
  { runId: 'iris-quick', kwargs: { seed: 11, min_accuracy: 0.5, registry: 'models' } },
];

// register_model returns the absolute path of the file it wrote, which lies in the temporary directory
// above (a new name each time): record it relative to that directory (`models/...`) instead, so that
// the histories do not depend on where and when they were recorded.
const register_model = (...args) => {
  const r = tasks.register_model(...args);
  return { ...r, uri: relative(process.cwd(), r.uri).split(sep).join('/') };
};

const te = createTestEngine();
te.registerTasks({ ...tasks, register_model });
try {
  for (const { runId, kwargs } of runs) {
    const result = await te.runToCompletion(te.start({ file: pipeline, workflow: 'iris_pipeline', kwargs, runId, seed: `seed-${runId}` }));
    if (result.status !== 'completed') throw new Error(`run ${runId} ${result.status}: ${result.error?.message}`);
    const out = join(here, 'histories', `${runId}.json`);
    writeFileSync(out, JSON.stringify(te.history(runId), null, 2) + '\n');
    console.log(`${runId}: ${result.result.candidate} candidate registered (accuracy ${result.result.metrics.accuracy}) -> ${out}`);
  }
} finally {
  await te.dispose();
  process.chdir(here);
  rmSync(work, { recursive: true, force: true });
}
