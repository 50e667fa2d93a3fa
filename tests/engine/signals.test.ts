/**
 * Talking to running workflows: signals (buffered in order, a wait with a timeout on a virtual
 * clock, delivered exactly once, replayed at the recorded points), events the outside reads or
 * waits for, idempotent start, and a handle for any run in the database — also one another process
 * (another Engine on the same file) drives.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine, VirtualClock, currentTask, type HistoryEvent, type TaskContext } from '../../src/engine/index.js';

let dir: string;
const engines: Engine[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lf-signals-'));
});
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

function open(opts: { clock?: VirtualClock; db?: string } = {}): Engine {
  const e = Engine.open({ db: opts.db ?? join(dir, 'runs.db'), pollIntervalMs: 50, ...(opts.clock ? { clock: opts.clock } : {}) });
  engines.push(e);
  return e;
}

const APPROVAL = `
train = task("train")

@workflow()
def promote(model):
    events.set("stage", "waiting for approval")
    decision = signal.wait("approve", timeout = "1d")
    if decision == None:
        return "timed out"
    events.set("stage", "approved by " + decision["by"])
    notes = signal.channel("note")
    first = notes.receive()
    second = notes.receive()
    return [decision["by"], first, second, train(model)]
`;

const kinds = (h: readonly HistoryEvent[], k: string): HistoryEvent[] => h.filter((e) => e.kind === k);

describe('signals and events', () => {
  it('a workflow waits for a signal; early signals are buffered in order; events are readable', async () => {
    const engine = open();
    engine.registerTask('train', (m: unknown) => `trained ${String(m)}`);
    const h = engine.start({ source: { name: 'wf.star', text: APPROVAL }, args: ['m1'] });
    const handle = engine.handle(h.runId);
    expect(await handle.getEvent('stage', { timeoutMs: 2000 })).toBe('waiting for approval');
    // Notes sent before anyone waits for them are kept, in order.
    handle.signal('note', 'first');
    handle.signal('note', 'second');
    handle.signal('approve', { by: 'ana' });
    const r = await handle.result();
    expect(r.error).toBeUndefined();
    expect(r.result).toEqual(['ana', 'first', 'second', 'trained m1']);
    expect(handle.state().events).toEqual({ stage: 'approved by ana' });
    const history = engine.history(h.runId);
    expect(kinds(history, 'SignalReceived').map((e) => (e as { name: string }).name)).toEqual(['note', 'note', 'approve']);
    // Replay delivers them at the same points.
    expect(engine.replay(h.runId).ok).toBe(true);
  });

  it('a wait times out on the durable clock and returns None', async () => {
    const clock = new VirtualClock();
    const engine = Engine.open({ db: ':memory:', clock });
    engines.push(engine);
    engine.registerTask('train', () => 'x');
    const h = engine.start({ source: { name: 'wf.star', text: APPROVAL }, args: ['m1'] });
    await new Promise((r) => setTimeout(r, 20));
    clock.advance(86_400_000);
    const r = await h.result;
    expect(r.result).toBe('timed out');
  });

  it('the same signal key is delivered once; signals to an ended or missing run are refused clearly', async () => {
    const engine = open();
    engine.registerTask('train', () => 'x');
    const h = engine.start({ source: { name: 'wf.star', text: APPROVAL }, args: ['m1'] });
    const handle = engine.handle(h.runId);
    const a = handle.signal('approve', { by: 'ana' }, { key: 'req-1' });
    const b = handle.signal('approve', { by: 'bob' }, { key: 'req-1' });
    expect(b.duplicate).toBe(true);
    expect(b.id).toBe(a.id);
    handle.signal('note', 1);
    handle.signal('note', 2);
    const r = await handle.result();
    expect((r.result as unknown[])[0]).toBe('ana');
    expect(kinds(engine.history(h.runId), 'SignalReceived')).toHaveLength(3);
    expect(() => handle.signal('note', 3)).toThrow(/has ended/);
    expect(() => engine.handle('run-nope').signal('x', 1)).toThrow(/no run run-nope/);
  });

  it('a signal sent through another engine (another process) reaches the run where it runs', async () => {
    const driver = open();
    driver.registerTask('train', (m: unknown) => `trained ${String(m)}`);
    const h = driver.start({ source: { name: 'wf.star', text: APPROVAL }, args: ['m2'] });
    const other = open();
    const remote = other.handle(h.runId);
    expect(await remote.getEvent('stage', { timeoutMs: 3000 })).toBe('waiting for approval');
    remote.signal('approve', { by: 'eve' });
    remote.signal('note', 'n1');
    remote.signal('note', 'n2');
    // The other engine follows the run to its end through the store.
    const r = await remote.result();
    expect(r.result).toEqual(['eve', 'n1', 'n2', 'trained m2']);
  });
});

describe('idempotent start', () => {
  const SRC = 'train = task("train")\n\n@workflow()\ndef main(x):\n    return train(x)\n';
  it('the same key (or run id) with the same inputs is the same run; different inputs are a conflict', async () => {
    const engine = open();
    engine.registerTask('train', (x: unknown) => x);
    const a = engine.start({ source: { name: 'wf.star', text: SRC }, args: [1], idempotencyKey: 'order-7' });
    const b = engine.start({ source: { name: 'wf.star', text: SRC }, args: [1], idempotencyKey: 'order-7' });
    expect(b.runId).toBe(a.runId);
    expect((await b.result).result).toBe(1);
    expect(() => engine.start({ source: { name: 'wf.star', text: SRC }, args: [2], idempotencyKey: 'order-7' })).toThrow(/idempotency key order-7 .*different inputs/);
    const c = engine.start({ source: { name: 'wf.star', text: SRC }, args: [3], runId: 'run-fixed' });
    const d = engine.start({ source: { name: 'wf.star', text: SRC }, args: [3], runId: 'run-fixed' });
    expect(d.runId).toBe(c.runId);
    expect(engine.runs({ limit: 100 })).toHaveLength(2);
  });

  it('two engines starting the same key at once create one run', async () => {
    const e1 = open();
    const e2 = open();
    for (const e of [e1, e2]) e.registerTask('train', (x: unknown) => x);
    const [a, b] = await Promise.all([
      Promise.resolve().then(() => e1.start({ source: { name: 'wf.star', text: SRC }, args: [5], idempotencyKey: 'k' })),
      Promise.resolve().then(() => e2.start({ source: { name: 'wf.star', text: SRC }, args: [5], idempotencyKey: 'k' })),
    ]);
    expect(a.runId).toBe(b.runId);
    expect(e1.runs({ limit: 100 })).toHaveLength(1);
  });
});

describe('listing runs with a cursor', () => {
  it('pages through runs newest first with no gaps or repeats, and filters by search', async () => {
    const clock = new VirtualClock();
    const engine = open({ clock });
    engine.registerTask('train', (x: unknown) => x);
    const src = 'train = task("train")\n\n@workflow()\ndef main(x):\n    return train(x)\n';
    const ids: string[] = [];
    for (let i = 0; i < 11; i++) ids.push(engine.start({ source: { name: 'wf.star', text: src }, args: [i], runId: `run-page-${String(i).padStart(2, '0')}` }).runId);
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = engine.listRuns({ limit: 4, ...(after !== undefined ? { after } : {}) });
      seen.push(...page.runs.map((r) => r.runId));
      if (!page.next) break;
      after = page.next;
    }
    expect(seen).toEqual([...ids].reverse());
    expect(engine.runs({ search: 'PAGE-0', limit: 100 }).map((r) => r.runId)).toEqual(ids.slice(0, 10).reverse());
  });
});

describe('queries', () => {
  const SRC = `
train = task("train")

@workflow()
def main(n):
    state = {"done": 0, "log": []}
    def status(detail = False):
        return state if detail else state["done"]
    query.handler("status", status)
    query.handler("bad_wait", lambda: train(0))
    query.handler("bad_event", lambda: events.set("x", 1))
    def mutate():
        state["done"] = 999
        return "mutated"
    query.handler("mutate", mutate)
    for i in range(n):
        print("step", i)
        state["done"] += 1
        state["log"].append(train(i))
        progress.report("did %d" % (i + 1))
    return state
`;
  it('answers from the recorded state, for any run; never changes history', async () => {
    const engine = open();
    let release: (() => void) | undefined;
    const gate = new Promise<void>((r) => (release = r));
    engine.registerTask('train', async (i: number) => {
      if (i === 2) await gate;
      return `t${i}`;
    });
    const h = engine.start({ source: { name: 'wf.star', text: SRC }, args: [3] });
    const handle = engine.handle(h.runId);
    // Waiting on train(2): three steps counted, two results logged.
    for (let i = 0; i < 200 && handle.query('status') !== 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(handle.query('status')).toBe(3);
    expect(handle.query('status', true)).toEqual({ done: 3, log: ['t0', 't1'] });
    expect(handle.query('progress')).toEqual(['did 1', 'did 2']);
    expect(handle.query('prints')).toEqual(['step 0', 'step 1', 'step 2']);
    const before = engine.history(h.runId).length;
    // A handler that mutates changes only the copy it runs on.
    expect(handle.query('mutate')).toBe('mutated');
    expect(handle.query('status')).toBe(3);
    expect(() => handle.query('bad_wait')).toThrow(/tried to wait .* read-only/);
    expect(() => handle.query('bad_event')).toThrow(/tried to change the run .* read-only/);
    expect(() => handle.query('nope')).toThrow(/no query handler "nope" \(handlers: status, bad_wait, bad_event, mutate/);
    expect(engine.history(h.runId).length).toBe(before);
    release!();
    expect((await h.result).result).toEqual({ done: 3, log: ['t0', 't1', 't2'] });
    // Another engine (process) answers too, from the store.
    expect(open().handle(h.runId).query('status')).toBe(3);
  });
});

describe('a worker with graceful shutdown', () => {
  it('keeps recovering runs orphaned later, and drains in-flight tasks on stop', async () => {
    const SRC = 'slow = task("slow")\n\n@workflow()\ndef main(ms):\n    a = slow(ms)\n    return [a, slow(ms)]\n';
    const w = open();
    let finished = 0;
    w.registerTask('slow', async (ms: number) => {
      await new Promise((r) => setTimeout(r, ms));
      finished++;
      return ms;
    });
    const worker = w.worker({ pollIntervalMs: 50 });
    worker.start();
    // Another process starts a run and dies: the worker takes it over.
    const other = open();
    other.registerTask('slow', () => new Promise(() => {}));
    const h = other.start({ source: { name: 'wf.star', text: SRC }, args: [150] });
    await new Promise((r) => setTimeout(r, 30));
    other.abandon();
    for (let i = 0; i < 100 && w.liveRuns === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(w.liveRuns).toBe(1);
    for (let i = 0; i < 100 && w.attemptsInFlight === 0; i++) await new Promise((r) => setTimeout(r, 10));
    // Stop while the first attempt runs: it finishes and is recorded; the second is left recorded, not run.
    await worker.stop({ drainMs: 2000 });
    expect(finished).toBe(1);
    const next = open();
    next.registerTask('slow', async (ms: number) => ms);
    const hist = next.history(h.runId);
    expect(hist.filter((e) => e.kind === 'TaskCompleted')).toHaveLength(1);
    next.recover();
    expect((await next.result(h.runId)).result).toEqual([150, 150]);
  });
});

describe('wait_any', () => {
  const SRC = `
slow = task("slow")

@workflow()
def main():
    f = run(slow, 1000)
    approvals = signal.channel("approve")
    i, v = wait_any([f, approvals], timeout = "1h")
    first = ["task", "signal"][i] if i != None else "timeout"
    j, w = wait_any([f], timeout = "10s")
    return [first, v, j, w]
`;
  it('returns the first of a task and a signal; a timeout returns (None, None); replays the same', async () => {
    const clock = new VirtualClock();
    const engine = Engine.open({ db: join(dir, 'any.db'), clock });
    engines.push(engine);
    let release: ((v: number) => void) | undefined;
    engine.registerTask('slow', () => new Promise<number>((r) => (release = r)));
    const h = engine.start({ source: { name: 'wf.star', text: SRC } });
    await new Promise((r) => setTimeout(r, 20));
    engine.signal(h.runId, 'approve', 'yes');
    await new Promise((r) => setTimeout(r, 20));
    // The signal won; the task is still running, and the second wait times out on the durable clock.
    clock.advance(10_000);
    const r = await h.result;
    expect(r.result).toEqual(['signal', 'yes', null, null]);
    release?.(1);
    expect(engine.replay(h.runId).ok).toBe(true);
  });
});

describe('task heartbeats', () => {
  it('records the latest details, at most once a second, and folds them into the attempt', async () => {
    const engine = open();
    engine.registerTaskWithContext('crunch', async (ctx: TaskContext) => {
      for (let i = 1; i <= 5; i++) {
        ctx.heartbeat({ done: i, of: 5 });
        await new Promise((r) => setTimeout(r, 60));
      }
      return 'ok';
    });
    const h = engine.start({ source: { name: 'wf.star', text: 'crunch = task("crunch")\n\n@workflow()\ndef main():\n    return crunch()\n' } });
    expect((await h.result).result).toBe('ok');
    const beats = engine.history(h.runId).filter((e) => e.kind === 'AttemptHeartbeat');
    expect(beats.length).toBeGreaterThanOrEqual(1);
    expect(beats.length).toBeLessThanOrEqual(2);
    expect(beats[0]).toMatchObject({ stepId: 'crunch#1', attempt: 1, details: { done: 1, of: 5 } });
    expect(engine.state(h.runId).steps['crunch#1']!.attempts[0]!.heartbeat?.details).toEqual((beats.at(-1) as { details: unknown }).details);
    expect(engine.replay(h.runId).ok).toBe(true);
  });
});

describe('updates', () => {
  const SRC = `
train = task("train")

@workflow()
def main():
    state = {"threshold": 0.5, "trained": []}
    def set_threshold(t):
        old = state["threshold"]
        state["threshold"] = t
        state["trained"].append(train(t))
        return old
    def check(t):
        if t < 0 or t > 1:
            fail("threshold must be between 0 and 1, not %s" % t)
    update.handler("set_threshold", set_threshold, validator = check)
    signal.wait("finish")
    return state
`;
  it('changes the workflow state, returns the handler result; the validator rejects before anything is recorded', async () => {
    const engine = open();
    engine.registerTask('train', (t: number) => `trained at ${t}`);
    const h = engine.start({ source: { name: 'wf.star', text: SRC } });
    const handle = engine.handle(h.runId);
    await new Promise((r) => setTimeout(r, 50));
    expect(await handle.update('set_threshold', 0.8)).toBe(0.5);
    const before = engine.history(h.runId).length;
    await expect(handle.update('set_threshold', 3)).rejects.toThrow(/rejected: .*threshold must be between 0 and 1, not 3/);
    await expect(handle.update('nope')).rejects.toThrow(/no update handler "nope"/);
    expect(engine.history(h.runId).length).toBe(before);
    // From another engine (process) too.
    expect(await open().handle(h.runId).update('set_threshold', 0.9)).toBe(0.8);
    handle.signal('finish');
    expect((await h.result).result).toEqual({ threshold: 0.9, trained: ['trained at 0.8', 'trained at 0.9'] });
    expect(engine.replay(h.runId).ok).toBe(true);
    expect(() => handle.signal('__update__:set_threshold', 1)).toThrow(/reserved for updates/);
  });
});

describe('currentTask() and signals across a crash', () => {
  it('gives every registered function its attempt context', async () => {
    const engine = open();
    engine.registerTask('whoami', async (x: number) => {
      await new Promise((r) => setTimeout(r, 5));
      const ctx = currentTask();
      ctx.heartbeat({ x });
      return `${ctx.task} ${ctx.stepId} attempt ${ctx.attempt} key ${ctx.idempotencyKey.split('/').slice(1).join('/')} aborted ${ctx.signal.aborted}`;
    });
    const h = engine.start({ source: { name: 'wf.star', text: 'whoami = task("whoami")\n\n@workflow()\ndef main():\n    return whoami(7)\n' } });
    expect((await h.result).result).toBe('whoami whoami#1 attempt 1 key whoami#1/1 aborted false');
    expect(() => currentTask()).toThrow(/outside a task attempt/);
  });

  it('a signal sent while the driving process is dead is delivered once by the next one', async () => {
    const first = open();
    const SRC = '@workflow()\ndef main():\n    return [signal.wait("go"), signal.wait("go", timeout = "50ms")]\n';
    const h = first.start({ source: { name: 'wf.star', text: SRC } });
    await new Promise((r) => setTimeout(r, 20));
    first.abandon();
    const sender = open();
    sender.signal(h.runId, 'go', 1, { key: 'once' });
    sender.signal(h.runId, 'go', 1, { key: 'once' });
    const second = open();
    second.recover();
    const r = await second.result(h.runId);
    expect(r.result).toEqual([1, null]);
    expect(second.history(h.runId).filter((e) => e.kind === 'SignalReceived')).toHaveLength(1);
  });
});

describe('hostile input', () => {
  it('refuses a huge signal payload and stops a runaway query', async () => {
    const engine = open();
    const h = engine.start({ source: { name: 'wf.star', text: '@workflow()\ndef main():\n    def spin():\n        n = 0\n        for i in range(100000000):\n            n += i\n        return n\n    query.handler("spin", spin)\n    return signal.wait("x")\n' } });
    const handle = engine.handle(h.runId);
    await new Promise((r) => setTimeout(r, 20));
    expect(() => handle.signal('x', 'a'.repeat(2 << 20))).toThrow(/at most 1048576/);
    const t0 = Date.now();
    expect(() => handle.query('spin')).toThrow(/spin/);
    expect(Date.now() - t0).toBeLessThan(20_000);
    handle.signal('x', 1);
    expect((await h.result).result).toBe(1);
  });
});

describe('listing runs of a pipeline', () => {
  it('pages through the runs whose environment names the pipeline', async () => {
    const clock = new VirtualClock();
    const engine = open({ clock });
    const src = '@workflow()\ndef main(x):\n    return x\n';
    const mine: string[] = [];
    for (let i = 0; i < 7; i++) {
      const h = engine.start({ source: { name: 'wf.star', text: src }, args: [i], env: i % 2 === 0 ? { LARKFLOW_PIPELINE: 'p' } : {} });
      if (i % 2 === 0) mine.push(h.runId);
      clock.advance(1000);
    }
    const seen: string[] = [];
    let after: string | undefined;
    for (let n = 0; n < 10; n++) {
      const page = engine.listRuns({ pipeline: 'p', limit: 3, ...(after !== undefined ? { after } : {}) });
      seen.push(...page.runs.map((r) => r.runId));
      if (!page.next) break;
      after = page.next;
    }
    expect(seen).toEqual([...mine].reverse());
  });
});
