/**
 * A user's test of the Iris pipeline with larkflow/testing (see README.md here):
 *
 * 1. Replays the saved histories (histories/*.json, exported with `larkflow history RUN --json`)
 *    against the current pipeline.star: every call, the final result, and the steps the script
 *    computes (the Starlark `macro_average` step, and the deterministic JS tasks named below) must
 *    match. A change that breaks runs in flight fails here, before it is deployed.
 * 2. Property-tests the pipeline with the real tasks of tasks.mjs wrapped in drawn outcome
 *    schedules (failures and retries, timeouts, durations in virtual time), under crashes at any
 *    commit and any completion order of its concurrent steps. The model registry is faked.
 *
 * In your project, import from 'larkflow/testing' instead of the source path.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  assertProperty,
  assertReplays,
  cacheAgreementProperty,
  completionOrderProperty,
  crashRecoveryProperty,
  replayPrefixProperty,
  taskSchedules,
  type WorkflowSpec,
} from '../../src/testing/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const PIPELINE = join(here, '..', 'ml-pipeline', 'pipeline.star');
const HISTORIES = readdirSync(join(here, 'histories'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => join(here, 'histories', f));

type TaskFn = (...args: never[]) => unknown;
let tasks: Record<string, TaskFn>;
let spec: WorkflowSpec;

/** The model registry, faked: a version derived from the model, nothing written. */
function registerModel(model: { weights: number[][] }, _metrics: unknown, kw: { name?: string }) {
  const version = 'v' + String(Math.abs(Math.round(model.weights.flat().reduce((a, b) => a + b, 0) * 1e6)) % 1e9);
  return { name: kw.name ?? 'iris-classifier', version, uri: `memory://${version}` };
}

beforeAll(async () => {
  // tasks.mjs is plain JS without type declarations: load it by URL.
  tasks = (await import(pathToFileURL(join(here, '..', 'ml-pipeline', 'tasks.mjs')).href)) as Record<string, TaskFn>;
  spec = {
    script: PIPELINE,
    workflow: 'iris_pipeline',
    // A small training budget keeps each run fast; the quick candidate fails the bar, so every run
    // also retrains (the branch on the metric is exercised).
    kwargs: {
      seed: 7,
      min_accuracy: 0.9,
      candidates: [
        { name: 'quick', lr: 0.05, epochs: 5, l2: 0.0 },
        { name: 'full', lr: 0.5, epochs: 60, l2: 0.001 },
      ],
    },
    tasks,
    schedules: taskSchedules({
      // prepare_data has retries = 2: up to two failures, each after a while.
      prepare_data: { returns: tasks.prepare_data, maxFailures: 2, maxDurationMs: 10_000 },
      // train_model has a 1 minute timeout and no retries: durations stay under it.
      train_model: { returns: tasks.train_model, maxFailures: 0, maxDurationMs: 50_000 },
      // The two evaluations and the per-class fan-out run concurrently: durations reorder them.
      evaluate_model: { returns: tasks.evaluate_model, maxFailures: 0, maxDurationMs: 20_000 },
      class_metrics: { returns: tasks.class_metrics, maxFailures: 0, maxDurationMs: 20_000 },
      // register_model has retries = 2: failures and timeouts before it succeeds.
      register_model: { returns: registerModel, maxFailures: 2, timeouts: true },
    }),
  };
});

describe('saved histories', () => {
  it('replay against the current pipeline.star', async () => {
    expect(HISTORIES.length).toBeGreaterThanOrEqual(2);
    const summary = await assertReplays(PIPELINE, HISTORIES, {
      // Deterministic tasks: recompute their recorded results too.
      tasks: { evaluate_model: tasks.evaluate_model!, class_metrics: tasks.class_metrics! },
    });
    for (const r of summary.reports) expect(r.checkedSteps).toContain('macro_average#1');
  });
});

describe('properties of the pipeline', () => {
  const params = { numRuns: 8, seed: 2026 };

  it('a crash at any commit, then recovery, gives the uninterrupted result', async () => {
    await assertProperty(crashRecoveryProperty(spec), { ...params, numRuns: 15 });
  });

  it('the result does not depend on which concurrent step finishes first', async () => {
    await assertProperty(completionOrderProperty(spec), { ...params, numRuns: 12 });
  });

  it('replaying any prefix of a run reproduces its next calls', async () => {
    await assertProperty(replayPrefixProperty(spec), { ...params, numRuns: 4 });
  });

  it('cached and uncached runs agree (prepare_data has cache = True)', async () => {
    await assertProperty(cacheAgreementProperty(spec), { ...params, numRuns: 4 });
  });
});
