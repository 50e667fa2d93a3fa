/**
 * The predeclared `batch_run` and `concurrent.batch_run` are one implementation: both return a
 * batch future with get(), get_futures() and is_ready() (the Uniflow reference worker's shape),
 * and the run's history is the same whichever a workflow uses (issue 9).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../src/engine/core/events.js';
import { runWorkflowTests } from '../../src/testing/workflow-tests.js';
import { drive, testEngine } from './helpers.js';

/** The task calls of a history, without times. */
function calls(h: readonly HistoryEvent[]): string[] {
  return h.flatMap((e) => (e.kind === 'TaskScheduled' ? [`${e.stepId}(${JSON.stringify(e.args)})`] : []));
}

async function run(src: string) {
  const t = testEngine();
  let inFlight = 0;
  let maxInFlight = 0;
  t.engine.registerTask('slow', async (x: number) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, 2 + ((x * 7) % 5)));
    inFlight--;
    return x * x;
  });
  const h = t.engine.start({ source: { name: 'b.star', text: src } });
  await drive(t);
  const r = await h.result;
  return { r, maxInFlight, calls: calls(t.engine.history(h.runId)), replay: t.engine.replay(h.runId).ok };
}

describe('batch_run', () => {
  it('predeclared: returns a batch future (get, get_futures, is_ready), not a list', async () => {
    const src = [
      'slow = task("slow")',
      '@workflow()',
      'def w():',
      '    batch = batch_run([new_callable(slow, i) for i in range(6)], max_concurrency = 2)',
      '    ready_before = batch.is_ready()',
      '    results = batch.get()',
      '    return [type(batch), ready_before, results, [f.result() for f in batch.get_futures()], batch.is_ready()]',
      '',
    ].join('\n');
    const { r, maxInFlight, replay } = await run(src);
    expect(r).toMatchObject({ status: 'completed', result: ['batch_future', false, [0, 1, 4, 9, 16, 25], [0, 1, 4, 9, 16, 25], true] });
    expect(maxInFlight).toBe(2);
    expect(replay).toBe(true);
  });

  it('predeclared and concurrent.batch_run schedule the same steps and give the same result', async () => {
    const body = (prefix: string) =>
      `slow = task("slow")\n${prefix === 'concurrent.' ? 'load("@plugin", "concurrent")\n' : ''}@workflow()\ndef w():\n    return ${prefix}batch_run([${prefix}new_callable(slow, i) for i in range(5)], max_concurrency = 3).get()\n`;
    const a = await run(body(''));
    const b = await run(body('concurrent.'));
    expect(a.r.result).toEqual([0, 1, 4, 9, 16]);
    expect(b.r.result).toEqual(a.r.result);
    expect(a.calls).toEqual(b.calls);
  });

  it('a failing item: get() raises its error and the run fails', async () => {
    const t = testEngine();
    t.engine.registerTask('t', (i: number) => {
      if (i === 1) throw Object.assign(new Error('bad'), { nonRetryable: true });
      return i;
    });
    const src = 't = task("t")\n@workflow()\ndef w():\n    return batch_run([new_callable(t, i) for i in range(3)], max_concurrency = 1).get()\n';
    const h = t.engine.start({ source: { name: 'b.star', text: src } });
    await drive(t);
    const r = await h.result;
    expect(r.status).toBe('failed');
    expect(r.error!.message).toMatch(/bad/);
  });

  it('checks its arguments as before', async () => {
    const t = testEngine();
    const h = t.engine.start({ source: { name: 'b.star', text: '@workflow()\ndef w():\n    return batch_run([len], max_concurrency = 1).get()\n' } });
    await drive(t);
    expect((await h.result).error!.message).toMatch(/batch_run: element 0 is builtin_function_or_method, want new_callable\(\.\.\.\)/);
    const h2 = t.engine.start({ source: { name: 'c.star', text: '@workflow()\ndef w():\n    return batch_run([], max_concurrency = -1)\n' } });
    await drive(t);
    expect((await h2.result).error!.message).toMatch(/max_concurrency must be a non-negative int/);
  });

  it('the workflow test file for the predeclared batch_run passes', async () => {
    const r = await runWorkflowTests([join(import.meta.dirname, '..', 'testdata', 'workflows', 'batch_run_test.star')], { out: () => {} });
    expect(r.failed, r.report).toBe(0);
    expect(r.passed).toBe(5);
  });
});
