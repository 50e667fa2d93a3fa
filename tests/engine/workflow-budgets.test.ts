/**
 * Workflow code and Starlark `@task` bodies run within budgets and in time slices (issue 9): a
 * runaway loop neither freezes the host's event loop nor runs again after recovery; it fails its run
 * (or its attempt) with a recorded, clear budget error.
 */
import { describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine, MemoryEventStore, type EngineOptions } from '../../src/engine/index.js';
import { MemoryBlobStore, MemoryCacheIndex } from '../../src/engine/cache/index.js';

const RUNAWAY_WORKFLOW = '@workflow()\ndef w():\n    n = 0\n    for i in range(1 << 30):\n        for j in range(1 << 30):\n            n += 1\n    return n\n';
const RUNAWAY_TASK = '@task()\ndef spin(k):\n    n = 0\n    for i in range(1 << 30):\n        for j in range(1 << 30):\n            n += k\n    return n\n@workflow()\ndef w():\n    return spin(1)\n';

function open(store = new MemoryEventStore(), budgets?: EngineOptions["budgets"]) {
  return Engine.open({ db: store, cacheIndex: new MemoryCacheIndex(), blobs: new MemoryBlobStore(), ...(budgets ? { budgets } : {}) });
}

/** Counts event-loop turns (a 5 ms interval) while `p` is pending. */
async function ticksWhile<T>(p: Promise<T>): Promise<{ value: T; ticks: number; ms: number }> {
  let ticks = 0;
  const t0 = performance.now();
  const timer = setInterval(() => ticks++, 5);
  try {
    const value = await p;
    return { value, ticks, ms: performance.now() - t0 };
  } finally {
    clearInterval(timer);
  }
}

describe('workflow budgets (issue 9)', () => {
  it('regression: a runaway workflow body fails its run on the step budget (recorded; the event loop kept turning)', async () => {
    const store = new MemoryEventStore();
    const engine = open(store, { maxSteps: 3_000_000 });
    const h = engine.start({ source: { name: 'r.star', text: RUNAWAY_WORKFLOW } });
    const { value: r, ticks } = await ticksWhile(h.result);
    expect(r.status).toBe('failed');
    expect(r.error).toMatchObject({ kind: 'budget', line: 6 });
    expect(r.error!.message).toMatch(/^workflow budget exceeded \(maxSteps 3000000 per activation; raise it with .*\): Starlark computation cancelled: too many steps/);
    void ticks; // 3M steps may end within a slice or two: the event loop's turns are checked below
    expect(store.history(h.runId).at(-1)).toMatchObject({ kind: 'RunFailed', error: { kind: 'budget' } });
    // Recorded: a restart does not run it again, and replay reaches the same failure.
    expect(engine.recover()).toEqual([]);
    expect(engine.replay(h.runId).ok).toBe(true);
    await engine.close();
  });

  it('regression: the time budget stops a runaway workflow while timers and other work go on', async () => {
    const engine = open(new MemoryEventStore(), { maxMs: 400 });
    const h = engine.start({ source: { name: 'r.star', text: RUNAWAY_WORKFLOW } });
    const { value: r, ticks, ms } = await ticksWhile(h.result);
    expect(r.status).toBe('failed');
    expect(r.error!.message).toMatch(/workflow budget exceeded \(maxMs 400 per activation.*time limit exceeded/);
    expect(ms).toBeLessThan(5000);
    // Slices of 20 ms: a 5 ms interval fires many times during 400 ms of computation.
    expect(ticks).toBeGreaterThan(10);
    await engine.close();
  });

  it('per-run budgets (StartOptions.budgets) are recorded and used by recovery', async () => {
    const store = new MemoryEventStore();
    const engine = open(store);
    const h = engine.start({ source: { name: 'r.star', text: RUNAWAY_WORKFLOW }, budgets: { maxSteps: 100_000 } });
    const r = await h.result;
    expect(r.error!.message).toMatch(/maxSteps 100000 per activation/);
    expect(store.history(h.runId)[0]).toMatchObject({ kind: 'RunStarted', budgets: { maxSteps: 100_000 } });
    expect(() => engine.start({ source: { name: 'r.star', text: RUNAWAY_WORKFLOW }, budgets: { maxSteps: -1 } })).toThrow(/budget maxSteps must be a positive number/);
    await engine.close();
  });

  it('regression: a runaway @task body fails its attempt with a budget error (not retried) and does not block the event loop', async () => {
    const engine = open(new MemoryEventStore(), { maxMs: 300 });
    const h = engine.start({ source: { name: 't.star', text: RUNAWAY_TASK } });
    const { value: r, ticks } = await ticksWhile(h.result);
    expect(r.status).toBe('failed');
    expect(r.error!.message).toMatch(/task spin exceeded its budget \(steps 100000000, 300 ms\).*time limit exceeded/);
    const st = engine.state(h.runId).steps['spin#1']!;
    expect(st.attempts).toHaveLength(1);
    expect(st.attempts[0]!.error).toMatchObject({ kind: 'budget', retryable: false });
    expect(ticks).toBeGreaterThan(10);
    await engine.close();
  });

  it('cancelling a run stops a computing @task body at once', async () => {
    const engine = open(new MemoryEventStore());
    const h = engine.start({ source: { name: 't.star', text: RUNAWAY_TASK } });
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    engine.cancel(h.runId);
    const r = await h.result;
    expect(r.status).toBe('cancelled');
    expect(performance.now() - t0).toBeLessThan(1000);
    await engine.close();
  });
});
