/**
 * Crash recovery, property-tested: generated workflows (sequences, loops, branches on results,
 * fan-out, sleeps, flaky tasks with retries) crash at a generated point (the Nth commit fails and the
 * engine is abandoned), then a new engine recovers the run from the store. The final result and every
 * completed step's result equal those of an uninterrupted run, and no step whose completion was
 * committed before the crash runs again.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryEventStore, StoreError, VirtualClock, type EventStore, type HistoryEvent, type Json } from '../../src/engine/index.js';
import { drive, testEngine } from './helpers.js';
import { opArb, workflowSource } from './generated-workflows.js';

/** A store that fails every append from the `crashAt`-th one on: the process "dies" there. */
class CrashingStore implements EventStore {
  appends = 0;
  crashed = false;
  constructor(
    readonly inner: EventStore,
    readonly crashAt: number,
  ) {}
  createRun(first: Parameters<EventStore['createRun']>[0], lease?: Parameters<EventStore['createRun']>[1], key?: string) {
    return this.inner.createRun(first, lease, key);
  }
  runByIdempotencyKey(key: string) {
    return this.inner.runByIdempotencyKey(key);
  }
  postInbox(runId: string, msg: Parameters<EventStore['postInbox']>[1]) {
    return this.inner.postInbox(runId, msg);
  }
  pendingInbox(runId: string) {
    return this.inner.pendingInbox(runId);
  }
  runsWithPendingInbox() {
    return this.inner.runsWithPendingInbox();
  }
  claimOutbox(owner: string, now: number, limit: number, leaseMs: number) {
    return this.inner.claimOutbox(owner, now, limit, leaseMs);
  }
  completeOutbox(id: number, ok: boolean, error?: string, nextAt?: number, giveUp?: boolean) {
    this.inner.completeOutbox(id, ok, error, nextAt, giveUp);
  }
  listOutbox(filter?: Parameters<EventStore['listOutbox']>[0]) {
    return this.inner.listOutbox(filter);
  }
  append(runId: string, expected: number, events: Parameters<EventStore['append']>[2], lease?: Parameters<EventStore['append']>[3]) {
    if (this.crashed || ++this.appends >= this.crashAt) {
      this.crashed = true;
      throw new StoreError('simulated crash');
    }
    return this.inner.append(runId, expected, events, lease);
  }
  history(runId: string, fromSeq?: number) {
    return this.inner.history(runId, fromSeq);
  }
  getRun(runId: string) {
    return this.inner.getRun(runId);
  }
  listRuns(f?: Parameters<EventStore['listRuns']>[0]) {
    return this.inner.listRuns(f);
  }
  unfinishedRuns() {
    return this.inner.unfinishedRuns();
  }
  putScript(d: string, f: Parameters<EventStore['putScript']>[1]) {
    this.inner.putScript(d, f);
  }
  getScript(d: string) {
    return this.inner.getScript(d);
  }
  claimRun(...a: Parameters<EventStore['claimRun']>) { return this.inner.claimRun(...a); }
  renewLeases(...a: Parameters<EventStore['renewLeases']>) { return this.inner.renewLeases(...a); }
  releaseLeases(...a: Parameters<EventStore['releaseLeases']>) { this.inner.releaseLeases(...a); }
  leaseOf(runId: string) { return this.inner.leaseOf(runId); }
  close() {}
}

interface Execution {
  readonly stepId: string;
  readonly attempt: number;
  readonly phase: 'before' | 'after';
}

function registerTasks(t: ReturnType<typeof testEngine>, log: Execution[], phase: 'before' | 'after'): void {
  t.engine.functions.registerWithContext('add', (ctx, a: number, b: number) => {
    log.push({ stepId: ctx.stepId, attempt: ctx.attempt, phase });
    return a + b;
  });
  t.engine.functions.registerWithContext('mul', (ctx, a: number, b: number) => {
    log.push({ stepId: ctx.stepId, attempt: ctx.attempt, phase });
    return a * b;
  });
  t.engine.functions.registerWithContext('flaky', (ctx, v: number, fails: number) => {
    log.push({ stepId: ctx.stepId, attempt: ctx.attempt, phase });
    if (ctx.attempt <= fails) throw new Error(`planned failure ${ctx.attempt}`);
    return v + 7;
  });
}

function completedResults(history: readonly HistoryEvent[]): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const e of history) if (e.kind === 'TaskCompleted') out.set(e.stepId, e.result);
  return out;
}

async function uninterrupted(src: string) {
  const t = testEngine();
  registerTasks(t, [], 'before');
  const h = t.engine.start({ source: { name: 'gen.star', text: src }, runId: 'r1', seed: 'seed' });
  await drive(t);
  const r = await h.result;
  // Replaying every completed history reproduces it exactly.
  expect(t.engine.replay('r1')).toMatchObject({ ok: true });
  return { result: r, steps: completedResults(t.engine.history('r1')) };
}

async function crashedAndRecovered(src: string, crashAt: number) {
  const base = new MemoryEventStore();
  const crashing = new CrashingStore(base, crashAt);
  const clock1 = new VirtualClock();
  const t1 = testEngine(crashing, clock1);
  const log: Execution[] = [];
  registerTasks(t1, log, 'before');
  t1.engine.start({ source: { name: 'gen.star', text: src }, runId: 'r1', seed: 'seed' });
  await drive(t1);
  const committedBefore = completedResults(base.history('r1'));
  // A new process: new engine, new executors, the same store; the clock goes on from where it was.
  const t2 = testEngine(base, new VirtualClock(clock1.now()));
  registerTasks(t2, log, 'after');
  const recovered = t2.engine.recover();
  await drive(t2);
  const r = await t2.engine.result('r1');
  expect(t2.engine.replay('r1')).toMatchObject({ ok: true });
  return { result: r, steps: completedResults(base.history('r1')), committedBefore, log, recovered, crashed: crashing.crashed };
}

describe('crash recovery', () => {
  it('a recovered run equals the uninterrupted run, and completed steps never run again', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 40 }), async (ops, crashAt) => {
        const src = workflowSource(ops);
        const want = await uninterrupted(src);
        expect(want.result.status).toBe('completed');
        const got = await crashedAndRecovered(src, crashAt);
        expect(got.result.status).toBe('completed');
        expect(got.result.result).toEqual(want.result.result);
        expect(got.steps).toEqual(want.steps);
        for (const [stepId] of got.committedBefore) {
          expect(got.log.filter((x) => x.stepId === stepId && x.phase === 'after')).toEqual([]);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('recovers a run that crashed right after it started', async () => {
    const src = workflowSource([{ kind: 'call', k: 1 }, { kind: 'sleep', s: 5 }, { kind: 'call', k: 2 }]);
    const got = await crashedAndRecovered(src, 1);
    expect(got.crashed).toBe(true);
    expect(got.recovered).toEqual(['r1']);
    expect(got.result).toMatchObject({ status: 'completed', result: 4 });
  });
});
