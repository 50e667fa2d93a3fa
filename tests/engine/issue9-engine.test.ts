/**
 * Regression tests for the engine defects of issue 9 (found by new users): a cancelled step left
 * "running", result promises that never settle after close, `__proto__` inputs dropped, identical
 * cached calls run twice after a restart, large task arguments stored inline, and resuming a run
 * with fixed code.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine, MemoryEventStore, NondeterminismError, StoreError, UsageError, VirtualClock, type EventStore } from '../../src/engine/index.js';
import { MemoryBlobStore, MemoryCacheIndex } from '../../src/engine/cache/index.js';
import { drive } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'larkflow-issue9-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function open(store: EventStore = new MemoryEventStore(), clock = new VirtualClock(), cache = new MemoryCacheIndex(), blobs = new MemoryBlobStore()) {
  const engine = Engine.open({ db: store, clock, cacheIndex: cache, blobs, blobThresholdBytes: 1024 });
  return { engine, clock, store, cache, blobs };
}

const kinds = (t: { engine: Engine }, runId: string) => t.engine.history(runId).map((e) => `${e.kind}${'stepId' in e ? ' ' + String(e.stepId) : ''}`);

describe('issue 9: engine regressions', () => {
  it('regression: cancel during a task records the attempt as cancelled; state shows the step cancelled, not running', async () => {
    const t = open();
    t.engine.registerTask('slow', () => new Promise(() => {}));
    const h = t.engine.start({ source: { name: 'c.star', text: 'slow = task("slow")\n@workflow()\ndef w():\n    return slow()\n' } });
    for (let i = 0; i < 5; i++) await tick();
    t.engine.cancel(h.runId, 'stop');
    await drive(t);
    expect((await h.result).status).toBe('cancelled');
    expect(kinds(t, h.runId)).toEqual(['RunStarted', 'TaskScheduled slow#1', 'AttemptStarted slow#1', 'AttemptFailed slow#1', 'CancelRequested', 'RunCancelled']);
    const step = t.engine.state(h.runId).steps['slow#1']!;
    expect(step.status).toBe('cancelled');
    expect(step.attempts[0]).toMatchObject({ error: { kind: 'cancelled' } });
    expect(step.attempts[0]!.endedAt).toBeTypeOf('number');
    expect(t.engine.replay(h.runId).ok).toBe(true);
  });

  it('regression: a cancel from another process also records the end of the attempt in flight', async () => {
    const t = open();
    t.engine.registerTask('slow', () => new Promise(() => {}));
    const h = t.engine.start({ source: { name: 'c.star', text: 'slow = task("slow")\n@workflow()\ndef w():\n    return slow()\n' } });
    for (let i = 0; i < 5; i++) await tick();
    t.store.append(h.runId, t.store.getRun(h.runId)!.lastSeq, [{ kind: 'CancelRequested', at: t.clock.now(), reason: 'elsewhere' }]);
    (t.engine as unknown as { pollExternalEvents(): void }).pollExternalEvents();
    await drive(t);
    expect((await h.result).status).toBe('cancelled');
    expect(t.engine.state(h.runId).steps['slow#1']!.status).toBe('cancelled');
    expect(kinds(t, h.runId)).toContain('AttemptFailed slow#1');
  });

  it('regression: handle.result rejects with a clear error when the engine is closed before the run ends', async () => {
    const t = open();
    t.engine.registerTask('slow', () => new Promise(() => {}));
    const h = t.engine.start({ source: { name: 'c.star', text: 'slow = task("slow")\n@workflow()\ndef w():\n    return slow()\n' } });
    for (let i = 0; i < 5; i++) await tick();
    await t.engine.close();
    await expect(h.result).rejects.toThrow(new RegExp(`engine was closed before run ${h.runId} ended; the run stays unfinished`));
  });

  it('regression: a __proto__ key in workflow inputs is refused, not dropped', () => {
    const t = open();
    const src = { name: 'p.star', text: '@workflow()\ndef w(cfg = None, **kw):\n    return cfg\n' };
    expect(() => t.engine.start({ source: src, kwargs: { cfg: JSON.parse('{"__proto__": {"x": 1}, "a": 2}') as unknown } })).toThrow(UsageError);
    expect(() => t.engine.start({ source: src, kwargs: { cfg: JSON.parse('{"a": 2}') as unknown } })).not.toThrow();
    const kw: Record<string, unknown> = {};
    Object.defineProperty(kw, '__proto__', { value: 1, enumerable: true });
    expect(() => t.engine.start({ source: src, kwargs: kw })).toThrow(/named "__proto__"/);
  });

  it('regression: after a restart, identical cached calls in flight run once (single flight survives recovery)', async () => {
    const src = 'sq = task("sq", cache = True)\n@workflow()\ndef w(x):\n    return sq(x)\n';
    const base = new MemoryEventStore();
    const cache = new MemoryCacheIndex();
    const t1 = open(base, new VirtualClock(), cache);
    t1.engine.registerTask('sq', () => new Promise(() => {}));
    // Two runs of the same call: the first leads, the second waits for it.
    const a = t1.engine.start({ source: { name: 's.star', text: src }, args: [3], runId: 'ra' });
    const b = t1.engine.start({ source: { name: 's.star', text: src }, args: [3], runId: 'rb' });
    for (let i = 0; i < 5; i++) await tick();
    void a;
    void b;
    expect(kinds(t1, 'ra')).toEqual(['RunStarted', 'TaskScheduled sq#1', 'AttemptStarted sq#1']);
    expect(kinds(t1, 'rb')).toEqual(['RunStarted', 'TaskScheduled sq#1']);
    t1.engine.abandon();
    // The new process recovers both; the waiter must not start its own attempt. Recovery order
    // puts rb (the waiter) in the same pass as ra (the leader).
    const t2 = open(base, new VirtualClock(t1.clock.now()), cache);
    let calls = 0;
    t2.engine.registerTask('sq', (x: number) => {
      calls++;
      return x * x;
    });
    expect(t2.engine.recover().sort()).toEqual(['ra', 'rb']);
    await drive(t2);
    expect(calls).toBe(1);
    expect(await t2.engine.result('ra')).toMatchObject({ status: 'completed', result: 9 });
    expect(await t2.engine.result('rb')).toMatchObject({ status: 'completed', result: 9 });
    expect(t2.engine.state('rb').steps['sq#1']!.source).toBe('cache');
  });

  it('regression: large task arguments go to the blob store, not inline into every event; recovery gives the task the value', async () => {
    const base = new MemoryEventStore();
    const blobs = new MemoryBlobStore();
    const t1 = open(base, new VirtualClock(), new MemoryCacheIndex(), blobs);
    const seen: number[] = [];
    t1.engine.registerTask('size', () => new Promise(() => {}));
    const src = 'size = task("size")\n@workflow()\ndef w(n):\n    rows = ["row-%d" % i for i in range(n)]\n    return size(rows, label = "x" * 5000)\n';
    const h = t1.engine.start({ source: { name: 'b.star', text: src }, args: [20_000] });
    for (let i = 0; i < 10; i++) await tick();
    const scheduled = t1.engine.history(h.runId).find((e) => e.kind === 'TaskScheduled')!;
    const text = JSON.stringify(scheduled);
    expect(text.length).toBeLessThan(2000);
    expect(text).toContain('$blob');
    t1.engine.abandon();
    const t2 = open(base, new VirtualClock(t1.clock.now()), new MemoryCacheIndex(), blobs);
    t2.engine.registerTask('size', (rows: string[], kw: { label: string }) => {
      seen.push(rows.length, kw.label.length);
      return rows.length;
    });
    expect(t2.engine.recover()).toEqual([h.runId]);
    for (let i = 0; i < 20; i++) await tick();
    await drive(t2);
    expect(seen).toEqual([20_000, 5000]);
    expect(await t2.engine.result(h.runId)).toMatchObject({ status: 'completed', result: 20_000 });
    expect((await t2.engine.replayAsync(h.runId)).ok).toBe(true);
  });

  it('resume --workflow FIXED: steps before the failed one are reused when the fixed script reaches them with the same calls', async () => {
    const t = open();
    const calls: string[] = [];
    t.engine.registerTask('prep', (x: number) => {
      calls.push(`prep ${x}`);
      return x + 1;
    });
    t.engine.registerTask('train', (x: number) => {
      calls.push(`train ${x}`);
      if (x > 0) throw new Error('bad learning rate');
      return 'model';
    });
    const broken = join(dir, 'wf.star');
    writeFileSync(broken, 'prep = task("prep")\ntrain = task("train")\n@workflow()\ndef w():\n    d = prep(1)\n    return train(d)\n');
    const h = t.engine.start({ file: broken });
    await drive(t);
    expect((await h.result).status).toBe('failed');
    // The fix: train gets a different argument; prep is called as before.
    const fixed = join(dir, 'fixed.star');
    writeFileSync(fixed, 'prep = task("prep")\ntrain = task("train")\n@workflow()\ndef w():\n    d = prep(1)\n    return train(d - 2)\n');
    calls.length = 0;
    const r = t.engine.resume(h.runId, { file: fixed });
    await drive(t);
    expect(await r.result).toMatchObject({ status: 'completed', result: 'model' });
    expect(calls).toEqual(['train 0']);
    expect(t.engine.state(r.runId).steps['prep#1']!.source).toBe('reused');
    expect(t.engine.history(r.runId)[0]).toMatchObject({ kind: 'RunStarted', file: 'fixed.star', resumedFrom: { runId: h.runId } });
    // A fix that changes a reused step's call is reported as replay reports it, and starts nothing.
    const wrong = join(dir, 'wrong.star');
    writeFileSync(wrong, 'prep = task("prep")\ntrain = task("train")\n@workflow()\ndef w():\n    d = prep(2)\n    return train(d - 3)\n');
    const before = t.engine.runs().length;
    let err: unknown;
    try {
      t.engine.resume(h.runId, { file: wrong });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NondeterminismError);
    expect((err as Error).message).toMatch(/^cannot resume run .* with wrong\.star: .*nondeterminism at step prep#1 at wrong\.star:5: history records call of task prep as step prep#1 \(args digest [0-9a-f]+\) \(event 2\), but the script now makes call of task prep/);
    expect(t.engine.runs().length).toBe(before);
    // A file without the run's workflow is a usage error.
    const other = join(dir, 'other.star');
    writeFileSync(other, '@workflow()\ndef other():\n    return 1\n');
    expect(() => t.engine.resume(h.runId, { file: other })).toThrow(/has no workflow w, the workflow of run/);
  });

  it('regression: a process task is a cache miss after a change to a helper it imports, or to the environment it gets (never a stale hit)', async () => {
    const proj = mkdtempSync(join(dir, 'proj-'));
    writeFileSync(join(proj, 'train.py'), 'import json, os, helper\nargs = json.load(open(os.environ["LARKFLOW_INPUT"]))["args"]\njson.dump(helper.score(args[0]) + os.environ.get("MODE", ""), open(os.environ["LARKFLOW_OUTPUT"], "w"))\n');
    writeFileSync(join(proj, 'helper.py'), 'def score(x):\n    return "v1:%d" % x\n');
    const wf = join(proj, 'wf.star');
    writeFileSync(wf, `train = task("train", command = ["python3", ${JSON.stringify(join(proj, 'train.py'))}], cache = True)\n@workflow()\ndef w():\n    return train(7)\n`);
    const cache = new MemoryCacheIndex();
    const t = open(new MemoryEventStore(), new VirtualClock(), cache);
    const runOnce = async (env: Record<string, string> = {}) => {
      const h = t.engine.start({ file: wf, env });
      const r = await h.result;
      return { result: r.result, source: t.engine.state(h.runId).steps['train#1']!.source };
    };
    expect(await runOnce()).toEqual({ result: 'v1:7', source: 'executed' });
    expect(await runOnce()).toEqual({ result: 'v1:7', source: 'cache' });
    writeFileSync(join(proj, 'helper.py'), 'def score(x):\n    return "ver2:%d" % x\n');
    expect(await runOnce()).toEqual({ result: 'ver2:7', source: 'executed' });
    expect(await runOnce({ MODE: '-prod' })).toEqual({ result: 'ver2:7-prod', source: 'executed' });
    expect(await runOnce({ MODE: '-prod' })).toEqual({ result: 'ver2:7-prod', source: 'cache' });
    await t.engine.close();
  });

  it('regression: a database that refuses writes (read-only) leaves runs unfinished with a clear issue, and runs no task first', async () => {
    const base = new MemoryEventStore();
    const t1 = open(base);
    t1.engine.registerTask('slow', () => new Promise(() => {}));
    const h = t1.engine.start({ source: { name: 'c.star', text: 'slow = task("slow")\n@workflow()\ndef w():\n    return slow()\n' }, runId: 'ro' });
    for (let i = 0; i < 5; i++) await tick();
    void h;
    t1.engine.abandon();
    // The same store, but every write fails as SQLite's do on a read-only file.
    const readOnly = new Proxy(base, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        if (['append', 'createRun', 'claimRun', 'renewLeases', 'releaseLeases', 'putScript'].includes(String(prop))) {
          return () => {
            throw new StoreError('cannot claim run ro: database runs.db failed (attempt to write a readonly database, SQLITE_READONLY); nothing of this call was written');
          };
        }
        return (v as (...a: unknown[]) => unknown).bind(target);
      },
    });
    const t2 = open(readOnly);
    let calls = 0;
    t2.engine.registerTask('slow', () => {
      calls++;
      return 1;
    });
    expect(t2.engine.recover()).toEqual([]);
    expect(t2.engine.recoveryIssues.get('ro')).toMatchObject({ reason: 'store' });
    expect(t2.engine.recoveryIssues.get('ro')!.message).toMatch(/^cannot recover run ro: .*readonly database/);
    for (let i = 0; i < 5; i++) await tick();
    expect(calls).toBe(0);
    expect(base.getRun('ro')!.status).toBe('running');
    await expect(t2.engine.result('ro')).rejects.toThrow(/not finished and no worker is running it \(cannot recover run ro: .*readonly/);
  });
});
