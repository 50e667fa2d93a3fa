/**
 * The ready-made properties of larkflow/testing hold for sound workflows and FIND planted bugs that
 * appear only under a particular crash point or completion order, reporting the shrunk
 * counterexample as a readable schedule with the history.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TaskContext } from '../../src/engine/index.js';
import {
  assertProperty,
  assertWorkflowProperties,
  cacheAgreementProperty,
  checkReplayPrefixes,
  completionOrderProperty,
  crashRecoveryProperty,
  createTestEngine,
  formatSchedule,
  outcomeSchedule,
  replayPrefixProperty,
  taskSchedules,
  type CacheCase,
  type TestEngine,
  type WorkflowSpec,
} from '../../src/testing/index.js';

/** A payment workflow: a priced order is charged once, then a receipt is sent. */
const PAYMENT = [
  'price = task("price", retries = 3)',
  'charge = task("charge")',
  'receipt = task("receipt", cache = True)',
  '',
  '@workflow()',
  'def pay(items):',
  '    total = 0',
  '    for item in items:',
  '        total += price(item)',
  '    charged = charge("acct-1", total)',
  '    time.sleep(60)',
  '    r = receipt("acct-1", charged)',
  '    return {"total": total, "charged": charged, "receipt": r}',
  '',
].join('\n');

/** The bank: an external world that outlives a crash of the engine's process. */
function bank(keyOf: (ctx: TaskContext) => string) {
  return (te: TestEngine): void => {
    const ledger = new Map<string, number>();
    te.registerTaskWithContext('charge', (ctx, account: string, amount: number) => {
      ledger.set(keyOf(ctx), amount); // the charge, keyed for deduplication
      return [...ledger.values()].reduce((a, b) => a + b, 0); // total charged to the account
    });
    te.registerTask('receipt', (account: string, charged: number) => `${account}: ${charged}`);
  };
}

const prices = { price: { returns: (item: string) => item.length, maxFailures: 2, maxDurationMs: 5000, timeouts: true } };

function paymentSpec(keyOf: (ctx: TaskContext) => string): WorkflowSpec {
  return { script: { name: 'pay.star', text: PAYMENT }, args: [['apple', 'fig']], setup: bank(keyOf), schedules: taskSchedules(prices) };
}

describe('arbitraries', () => {
  it('draw readable schedules that shrink towards "succeeds at once"', () => {
    const s = fc.sample(outcomeSchedule({ returns: 1, maxFailures: 2, maxDurationMs: 1000, timeouts: true }), { numRuns: 50, seed: 1 });
    expect(s.every((x) => x.length >= 1 && x.length <= 3)).toBe(true);
    expect(formatSchedule([{ fail: 'boom' }, { takes: 30_000, then: { return: 3 } }])).toBe('attempt 1 fails "boom"; attempt 2+ takes 30s, then returns 3');
    expect(fc.stringify(s[0])).toMatch(/^attempt 1/);
  });
});

describe('crash recovery property', () => {
  it('holds for a side effect keyed by the idempotency key', async () => {
    await assertProperty(crashRecoveryProperty(paymentSpec((ctx) => ctx.idempotencyKey)), { numRuns: 40, seed: 42 });
  });

  it('finds a side effect keyed incorrectly, with the shrunk crash point and schedule', async () => {
    // The bug: the charge is keyed per attempt *execution* (as with a random or a wall-clock id), so
    // re-running the attempt in flight at a crash charges twice. Only a crash at the one commit that
    // records the charge's completion shows it.
    let executions = 0;
    const spec = paymentSpec(() => `charge-${++executions}`);
    const cases: number[] = [];
    const err = await assertProperty(crashRecoveryProperty({ ...spec, onCase: (c) => void cases.push(c.commit) }), { numRuns: 60, seed: 7 }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err, 'the property must fail').toBeInstanceOf(Error);
    const msg = err!.message;
    expect(msg).toMatch(/Property failed after \d+ case\(s\) and \d+ shrink\(s\) \(reproduce with \{ seed: 7, path: /);
    expect(msg).toMatch(/property "crash at any point and recover gives the uninterrupted result" does not hold/);
    // The shrunk schedule, readable: prices succeed at once.
    expect(msg).toMatch(/schedule:\n {4}price: attempt 1\+ returns fn\(\.\.\.\)/);
    // The shrunk crash point: the commit that would have recorded the charge's completion.
    expect(msg).toMatch(/crash: at commit \d+ of \d+, after event \d+ \(AttemptStarted\); the lost commit held: TaskCompleted charge#1/);
    expect(msg).toMatch(/the outcomes differ:\n\s+uninterrupted: +\{"status":"completed","result":\{"total":8,"charged":8,"receipt":"acct-1: 8"\}\}\n\s+recovered: +\{"status":"completed","result":\{"total":8,"charged":16/);
    expect(msg).toMatch(/history \(the crashed and recovered run\):\n\s+1 RunStarted workflow=pay/);
    expect(msg).toMatch(/TaskCompleted step=charge#1 attempt=1 source=executed result=16/);
  });
});

const FANOUT = [
  'fetch = task("fetch")',
  '',
  'def worker(x, acc):',
  '    acc.append(fetch(x))',
  '',
  '@workflow()',
  'def gather():',
  '    acc = []',
  '    fs = [run(worker, x, acc) for x in ["a", "b", "c"]]',
  '    for f in fs:',
  '        f.result()',
  '    return acc',
  '',
].join('\n');

describe('completion order property', () => {
  const schedules = taskSchedules({ fetch: { returns: (x: string) => x.toUpperCase(), maxFailures: 0 } });

  it('finds a result that depends on completion order (a shared list), with the shrunk order', async () => {
    const err = await assertProperty(completionOrderProperty({ script: { name: 'gather.star', text: FANOUT }, schedules }), { numRuns: 50, seed: 3 }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err, 'the property must fail').toBeInstanceOf(Error);
    const msg = err!.message;
    expect(msg).toMatch(/property "the result is independent of the completion order of concurrent tasks" does not hold/);
    expect(msg).toMatch(/schedule:\n {4}fetch: attempt 1\+ returns fn\(\.\.\.\)/);
    expect(msg).toMatch(/FIFO completion order: +fetch#1@1, fetch#2@1, fetch#3@1/);
    // Shrunk to one swap: the smallest choice that changes the order.
    expect(msg).toMatch(/drawn completion order: fetch#2@1, fetch#1@1, fetch#3@1 \(choices \[1\]\)/);
    expect(msg).toMatch(/FIFO order: +\{"status":"completed","result":\["A","B","C"\]\}\n\s+drawn order: +\{"status":"completed","result":\["B","A","C"\]\}/);
  });

  it('holds when results are gathered from the futures in order', async () => {
    const fixed = FANOUT.replace('    acc.append(fetch(x))', '    return fetch(x)').replace('    for f in fs:\n        f.result()\n    return acc', '    return [f.result() for f in fs]');
    await assertProperty(completionOrderProperty({ script: { name: 'gather.star', text: fixed }, schedules }), { numRuns: 40, seed: 3 });
  });
});

describe('replay prefix property', () => {
  it('holds for the payment workflow under drawn schedules and completion orders', async () => {
    await assertProperty(replayPrefixProperty(paymentSpec((ctx) => ctx.idempotencyKey)), { numRuns: 15, seed: 5 });
  });

  it('names the first prefix whose next calls differ from the history', async () => {
    const te = createTestEngine();
    te.registerTask('fetch', (x: string) => x);
    const r = await te.runToCompletion(te.start({ source: { name: 'g.star', text: FANOUT }, runId: 'g' }));
    expect(r.status).toBe('completed');
    const h = te.history('g');
    expect(checkReplayPrefixes({ name: 'g.star', text: FANOUT }, h)).toBeUndefined();
    // Doctor the history: the second and third calls swap places.
    const i = h.findIndex((e) => e.kind === 'TaskScheduled' && e.stepId === 'fetch#2');
    const j = h.findIndex((e) => e.kind === 'TaskScheduled' && e.stepId === 'fetch#3');
    const doctored = h.map((e, k) => (k === i ? { ...h[j]!, seq: e.seq } : k === j ? { ...h[i]!, seq: e.seq } : e));
    expect(checkReplayPrefixes({ name: 'g.star', text: FANOUT }, doctored)).toMatch(
      /after replaying events 1\.\.1 \(last: RunStarted\), the script's call #2 is call of task fetch as step fetch#2 .*, but the history records call of task fetch as step fetch#3/,
    );
  });
});

describe('cache agreement property', () => {
  it('serves cache hits in the cached run, and cached and uncached runs agree', async () => {
    const seen: CacheCase[] = [];
    const script = {
      name: 'cached.star',
      text: 'square = task("square", cache = True)\n@workflow()\ndef w(xs):\n    return [square(x) for x in xs]\n',
    };
    await assertProperty(
      cacheAgreementProperty({ script, args: [[1, 2, 3]], tasks: { square: (x: number) => x * x }, onCase: (c) => void seen.push(c) }),
      { numRuns: 5, seed: 4 },
    );
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((c) => c.cacheHits === 3)).toBe(true);
  });

  it('holds for a workflow without cacheable tasks, and reports the hits it saw', async () => {
    const seen: CacheCase[] = [];
    await assertProperty(cacheAgreementProperty({ ...paymentSpec((ctx) => ctx.idempotencyKey), onCase: (c) => void seen.push(c) }), { numRuns: 10, seed: 9 });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((c) => c.steps >= 4)).toBe(true);
  });

  it('assertWorkflowProperties checks all four', async () => {
    await assertWorkflowProperties(paymentSpec((ctx) => ctx.idempotencyKey), { numRuns: 8, seed: 11 });
  });
});
