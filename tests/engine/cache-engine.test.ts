/**
 * The task cache inside the engine: a warm cache returns exactly the uncached result; a change of
 * argument, version or code misses; entries expire; failed attempts are never cached; identical
 * calls at the same time run once; large results go to blob storage and replay from it; a resumed
 * step is recomputed even when cached.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Engine, MemoryEventStore, VirtualClock, type HistoryEvent } from '../../src/engine/index.js';
import { MemoryBlobStore, MemoryCacheIndex } from '../../src/engine/cache/index.js';
import { drive } from './helpers.js';
import { opArb, workflowSource } from './generated-workflows.js';

function engineWith(cache = new MemoryCacheIndex(), blobs = new MemoryBlobStore(), clock = new VirtualClock()) {
  const engine = Engine.open({ db: new MemoryEventStore(), clock, cacheIndex: cache, blobs, blobThresholdBytes: 1024 });
  return { engine, clock, cache, blobs };
}

const SRC = (version = 'v1', body = 'return x * 2') => `
square = task("square", cache = True, cache_version = "${version}", cache_ttl = "1h")
@task(cache = True)
def halve(x):
    ${body.replace('x * 2', 'x // 2')}
@workflow()
def w(xs):
    return [square(x) + halve(x) for x in xs]
`;

function sources(h: readonly HistoryEvent[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of h) if (e.kind === 'TaskCompleted') out[e.stepId] = e.source;
  return out;
}

describe('task cache', () => {
  it('a warm cache returns exactly the result of an uncached run (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 5 }), async (xs) => {
        const t = engineWith();
        let calls = 0;
        t.engine.registerTask('square', (x: number) => (calls++, x * x));
        const cold = t.engine.start({ source: { name: 'c.star', text: SRC() }, args: [xs] });
        await drive(t);
        const r1 = await cold.result;
        const callsCold = calls;
        const warm = t.engine.start({ source: { name: 'c.star', text: SRC() }, args: [xs] });
        await drive(t);
        const r2 = await warm.result;
        expect(r2.result).toEqual(r1.result);
        expect(calls).toBe(callsCold); // nothing ran again
        expect(Object.values(sources(t.engine.history(warm.runId))).every((s) => s === 'cache')).toBe(true);
        const uncached = t.engine.start({ source: { name: 'c.star', text: SRC() }, args: [xs], cache: 'off' });
        await drive(t);
        expect((await uncached.result).result).toEqual(r1.result);
      }),
      { numRuns: 25 },
    );
  });

  it('over generated workflows, a warm-cache run equals an uncached one and executes nothing cached (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 5 }), async (ops) => {
        const t = engineWith();
        const executed: string[] = [];
        t.engine.functions.registerWithContext('add', (ctx, a: number, b: number) => (executed.push(ctx.stepId), a + b));
        t.engine.functions.registerWithContext('mul', (ctx, a: number, b: number) => (executed.push(ctx.stepId), a * b));
        t.engine.functions.registerWithContext('flaky', (ctx, v: number, fails: number) => {
          executed.push(ctx.stepId);
          if (ctx.attempt <= fails) throw new Error('planned failure');
          return v + 7;
        });
        const run = async (text: string, cache: 'use' | 'off') => {
          const h = t.engine.start({ source: { name: 'g.star', text }, seed: 's', cache });
          await drive(t);
          return { r: await h.result, history: t.engine.history(h.runId) };
        };
        const uncached = await run(workflowSource(ops, false), 'off');
        const cold = await run(workflowSource(ops, true), 'use');
        const before = executed.length;
        const warm = await run(workflowSource(ops, true), 'use');
        expect(cold.r.result).toEqual(uncached.r.result);
        expect(warm.r.result).toEqual(uncached.r.result);
        expect(executed.length).toBe(before); // every step of the warm run was a hit
        expect(warm.history.some((e) => e.kind === 'AttemptStarted')).toBe(false);
        // Changing the input changes the first task call's arguments: it misses, and the result is
        // the uncached one for that input.
        const changed = workflowSource(ops, true).replace('    v = 1\n', '    v = 0.5\n');
        const changedUncached = await run(workflowSource(ops, false).replace('    v = 1\n', '    v = 0.5\n'), 'off');
        const before2 = executed.length;
        const changedCached = await run(changed, 'use');
        expect(changedCached.r.result).toEqual(changedUncached.r.result);
        const firstTask = changedCached.history.find((e) => e.kind === 'TaskScheduled');
        if (firstTask) expect(executed.length).toBeGreaterThan(before2); // ints only before: 0.5 is new
      }),
      { numRuns: 30 },
    );
  });

  it('misses when an argument, the cache version or the task code changes', async () => {
    const t = engineWith();
    let calls = 0;
    t.engine.registerTask('square', (x: number) => (calls++, x * x));
    const run = async (text: string, xs: number[]) => {
      const h = t.engine.start({ source: { name: 'c.star', text }, args: [xs] });
      await drive(t);
      await h.result;
      return sources(t.engine.history(h.runId));
    };
    await run(SRC(), [3]);
    expect(await run(SRC(), [3])).toEqual({ 'square#1': 'cache', 'halve#1': 'cache' });
    expect(await run(SRC(), [4])).toEqual({ 'square#1': 'executed', 'halve#1': 'executed' });
    expect(await run(SRC('v2'), [3])).toEqual({ 'square#1': 'executed', 'halve#1': 'cache' });
    expect(await run(SRC('v1', 'return (x + 0) * 2'), [3])).toEqual({ 'square#1': 'cache', 'halve#1': 'executed' });
  });

  it('enforces the TTL and never caches failed attempts', async () => {
    const t = engineWith();
    let fail = true;
    t.engine.registerTask('square', (x: number) => {
      if (fail) throw Object.assign(new Error('boom'), { nonRetryable: true });
      return x * x;
    });
    const h1 = t.engine.start({ source: { name: 'c.star', text: SRC() }, args: [[2]] });
    await drive(t);
    expect((await h1.result).status).toBe('failed');
    expect(t.cache.list({ task: 'square' })).toEqual([]);
    fail = false;
    const h2 = t.engine.start({ source: { name: 'c.star', text: SRC() }, args: [[2]] });
    await drive(t);
    expect(sources(t.engine.history(h2.runId))['square#1']).toBe('executed');
    t.clock.advance(2 * 3600_000); // past the 1h TTL
    const h3 = t.engine.start({ source: { name: 'c.star', text: SRC() }, args: [[2]] });
    await drive(t);
    expect(sources(t.engine.history(h3.runId))['square#1']).toBe('executed');
  });

  it('runs identical calls that happen at the same time once', async () => {
    const t = engineWith();
    let calls = 0;
    t.engine.registerTask('slow', async (x: number) => {
      calls++;
      await new Promise((r) => setTimeout(r, 20));
      return x + 1;
    });
    const src = 'slow = task("slow", cache = True)\n@workflow()\ndef w():\n    fs = [run(slow, 7) for i in range(4)]\n    return [f.result() for f in fs]\n';
    const h = t.engine.start({ source: { name: 'd.star', text: src } });
    const r = await h.result;
    expect(r.result).toEqual([8, 8, 8, 8]);
    expect(calls).toBe(1);
    expect(Object.values(sources(t.engine.history(h.runId))).sort()).toEqual(['cache', 'cache', 'cache', 'executed']);
  });

  it('stores large results as verified blobs, replays from them, and treats a corrupt blob as a miss', async () => {
    const t = engineWith();
    let calls = 0;
    t.engine.registerTask('big', (n: number) => (calls++, Array.from({ length: n }, (_, i) => `row-${i}`)));
    const src = 'big = task("big", cache = True)\n@workflow()\ndef w(n):\n    rows = big(n)\n    return len(rows)\n';
    const h = t.engine.start({ source: { name: 'b.star', text: src }, args: [500] });
    await drive(t);
    expect(await h.result).toMatchObject({ status: 'completed', result: 500 });
    const done = t.engine.history(h.runId).find((e) => e.kind === 'TaskCompleted')!;
    const marker = (done as unknown as { result: { $blob: string; size: number } }).result;
    expect(marker.$blob).toMatch(/^[0-9a-f]{64}$/);
    expect(t.engine.replay(h.runId).ok).toBe(true);
    // Corrupt the stored blob: a new engine (no values in memory) must not use it.
    const stored = t.blobs.getSync(marker.$blob)!;
    stored[3] = stored[3]! ^ 0xff;
    const t2 = engineWith(t.cache, t.blobs, t.clock);
    t2.engine.registerTask('big', (n: number) => (calls++, Array.from({ length: n }, (_, i) => `row-${i}`)));
    const h2 = t2.engine.start({ source: { name: 'b.star', text: src }, args: [500] });
    await drive(t2);
    expect(await h2.result).toMatchObject({ status: 'completed', result: 500 });
    expect(calls).toBe(2);
  });

  it('stores large workflow inputs as blobs; the run, its replay and its recovery see the values', async () => {
    const store = new MemoryEventStore();
    const blobs = new MemoryBlobStore();
    const clock = new VirtualClock();
    const e1 = Engine.open({ db: store, clock, blobs, cacheIndex: new MemoryCacheIndex(), blobThresholdBytes: 1024 });
    e1.registerTask('count', (rows: string[]) => rows.length);
    const rows = Array.from({ length: 300 }, (_, i) => `input-row-${i}`);
    const src = 'count = task("count")\n@workflow()\ndef w(rows):\n    time.sleep(10)\n    return count(rows) + len(rows)\n';
    const h = e1.start({ source: { name: 'i.star', text: src }, args: [rows] });
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    const started = store.history(h.runId)[0] as unknown as { args: { $blob: string }[] };
    expect(started.args[0]!.$blob).toMatch(/^[0-9a-f]{64}$/);
    // A crash while the run sleeps (e1's clock never moves again): a new engine with nothing in
    // memory recovers the run from its history and the blobs.
    e1.abandon();
    const clock2 = new VirtualClock(clock.now());
    const e2 = Engine.open({ db: store, clock: clock2, blobs, cacheIndex: new MemoryCacheIndex(), blobThresholdBytes: 1024 });
    e2.registerTask('count', (r: string[]) => r.length);
    e2.recover();
    await new Promise((r) => setTimeout(r, 20));
    await drive({ engine: e2, clock: clock2 });
    expect(await e2.result(h.runId)).toMatchObject({ status: 'completed', result: 600 });
    expect((await e2.replayAsync(h.runId)).ok).toBe(true);
  });

  it('recomputes the step a resumed run restarts from, even when cached', async () => {
    const t = engineWith();
    let broken = true;
    let squares = 0;
    t.engine.registerTask('square', (x: number) => (squares++, x * x));
    t.engine.registerTask('check', (v: number) => {
      if (broken) throw Object.assign(new Error('check failed'), { nonRetryable: true });
      return v;
    });
    const src = 'square = task("square", cache = True)\ncheck = task("check", cache = True)\n@workflow()\ndef w():\n    return check(square(3))\n';
    const h = t.engine.start({ source: { name: 'r.star', text: src } });
    await drive(t);
    expect((await h.result).status).toBe('failed');
    broken = false;
    const h2 = t.engine.resume(h.runId, { fromStep: 'square#1' });
    await drive(t);
    expect(await h2.result).toMatchObject({ status: 'completed', result: 9 });
    expect(squares).toBe(2);
    expect(sources(t.engine.history(h2.runId))).toEqual({ 'square#1': 'executed', 'check#1': 'executed' });
  });
});
