/**
 * Run ownership is a lease with a fencing epoch on the run's row (src/engine/leases.ts): a run
 * another live worker holds is not taken by recover(); a run whose process died (or is a zombie)
 * on this machine is taken at once; a run whose lease ran out is taken, and the worker that lost it
 * can no longer append to its history.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, FencedError, MemoryEventStore, openSqliteStore } from '../../src/engine/index.js';
import { holderIsGone, processIsAlive } from '../../src/engine/leases.js';
import '../../src/stdlib/index.js';

const dir = mkdtempSync(join(tmpdir(), 'larkflow-own-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NEVER = 'never = task("never")\n@workflow()\ndef w():\n    return never()\n';

/** Makes the run's lease look held by `owner` until `untilMs` from now (as another worker's would be). */
function setHolder(db: string, runId: string, owner: string, untilMs: number): void {
  const raw = new Database(db);
  raw.prepare("UPDATE runs SET owner = ?, lease_until = CAST(unixepoch('subsec') * 1000 AS INTEGER) + ? WHERE run_id = ?").run(owner, untilMs, runId);
  raw.close();
}

describe('run ownership by lease', () => {
  it('recover() leaves a run a live process holds, and takes it once that process is dead', async () => {
    const db = join(dir, 'o.db');
    const a = Engine.open({ db });
    a.registerTask('never', () => new Promise(() => {}));
    const h = a.start({ source: { name: 'o.star', text: NEVER } });
    a.abandon();
    // Pretend the run is held by another live process of this machine.
    const other = spawn('sleep', ['30']);
    setHolder(db, h.runId, `${hostname()}/${other.pid}/abcd`, 60_000);
    const b = Engine.open({ db });
    b.registerTask('never', () => 'done');
    expect(b.recover()).toEqual([]);
    expect(b.recoveryIssues.get(h.runId)).toMatchObject({ reason: 'owned' });
    expect(b.recoveryIssues.get(h.runId)!.message).toMatch(new RegExp(`run ${h.runId} is being run by worker .*/${other.pid}/abcd`));
    other.kill('SIGKILL');
    await new Promise((r) => other.once('exit', r));
    expect(b.recover()).toEqual([h.runId]);
    expect(b.recoveryIssues.has(h.runId)).toBe(false);
    await b.whenIdle();
    expect(await b.result(h.runId)).toMatchObject({ status: 'completed', result: 'done' });
    await b.close();
  });

  it('regression: a zombie owner (kill(pid, 0) succeeds on it) counts as dead', async () => {
    // A real zombie: a process whose parent never waits for it.
    const parent = spawn('sh', ['-c', 'sleep 0.05 & exec sleep 30'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    const zombie = Number(spawnSync('sh', ['-c', `ps -o pid= --ppid ${parent.pid}`], { encoding: 'utf8' }).stdout.trim());
    expect(Number.isInteger(zombie) && zombie > 0).toBe(true);
    let signalable = true;
    try {
      process.kill(zombie, 0);
    } catch {
      signalable = false;
    }
    expect(signalable).toBe(true); // what fooled the pid-file ownership
    expect(processIsAlive(zombie)).toBe(false);
    expect(holderIsGone({ owner: `${hostname()}/${zombie}/0000`, epoch: 1, leaseUntil: Date.now() + 60_000, now: Date.now() })).toBe(true);
    expect(holderIsGone({ owner: `${hostname()}/${parent.pid}/0000`, epoch: 1, leaseUntil: Date.now() + 60_000, now: Date.now() })).toBe(false);
    // Another machine's pid means nothing here: only its lease counts.
    expect(holderIsGone({ owner: `elsewhere-${hostname()}/${zombie}/0000`, epoch: 1, leaseUntil: Date.now() + 60_000, now: Date.now() })).toBe(false);
    parent.kill('SIGKILL');
  });

  it('a run whose lease ran out is taken; the worker that lost it is fenced and drops it', async () => {
    const store = new MemoryEventStore();
    const a = Engine.open({ db: store, leaseMs: 60_000 });
    let release!: (v: string) => void;
    a.registerTask('never', () => new Promise<string>((r) => (release = r)));
    const h = a.start({ source: { name: 'o.star', text: NEVER } });
    await new Promise((r) => setTimeout(r, 20));
    // The lease runs out (as if `a` had been frozen): another worker claims the run.
    store.releaseLeases(a.workerId, [{ runId: h.runId, owner: a.workerId, epoch: 1 }]);
    const b = Engine.open({ db: store });
    let bCalls = 0;
    b.registerTask('never', () => {
      bCalls++;
      return 'from b';
    });
    expect(b.recover()).toEqual([h.runId]);
    await b.whenIdle();
    expect(await b.result(h.runId)).toMatchObject({ status: 'completed', result: 'from b' });
    // `a` wakes up: its task's result cannot be recorded; `a` drops the run and reports b's result.
    release('from a');
    expect(await h.result).toMatchObject({ status: 'completed', result: 'from b' });
    expect(bCalls).toBe(1);
    expect(store.history(h.runId).filter((e) => e.kind === 'TaskCompleted')).toHaveLength(1);
    await a.close();
    await b.close();
  });

  it('the store refuses an append with a stale epoch or another owner (FencedError), and accepts one without a lease', () => {
    const path = join(dir, 'fence.db');
    for (const store of [new MemoryEventStore(), openSqliteStore(path)]) {
      const first = { kind: 'RunStarted', at: 1, runId: 'r', workflow: 'w', file: 'f.star', scriptDigest: 'd', args: [], kwargs: {}, env: {}, seed: 's', attempt: 1 } as const;
      store.createRun(first, { owner: 'w1', leaseMs: 60_000 });
      expect(store.leaseOf('r')).toMatchObject({ owner: 'w1', epoch: 1 });
      expect(store.append('r', 1, [{ kind: 'ProgressReported', at: 2, message: 'a' }], { owner: 'w1', epoch: 1 })).toHaveLength(1);
      // w2 cannot claim a live lease, unless the holder is gone.
      expect(store.claimRun('r', 'w2', 1000)).toMatchObject({ ok: false, reason: 'held' });
      expect(store.claimRun('r', 'w2', 1000, () => true)).toEqual({ ok: true, epoch: 2 });
      expect(() => store.append('r', 2, [{ kind: 'ProgressReported', at: 3, message: 'b' }], { owner: 'w1', epoch: 1 })).toThrow(FencedError);
      expect(() => store.append('r', 2, [{ kind: 'ProgressReported', at: 3, message: 'b' }], { owner: 'w2', epoch: 1 })).toThrow(FencedError);
      expect(store.renewLeases('w1', [{ runId: 'r', owner: 'w1', epoch: 1 }], 1000)).toEqual(['r']);
      expect(store.renewLeases('w2', [{ runId: 'r', owner: 'w2', epoch: 2 }], 1000)).toEqual([]);
      expect(store.append('r', 2, [{ kind: 'ProgressReported', at: 3, message: 'b' }], { owner: 'w2', epoch: 2 })).toHaveLength(1);
      // A request from outside (a cancel) carries no lease.
      expect(store.append('r', 3, [{ kind: 'CancelRequested', at: 4, reason: 'x' }])).toHaveLength(1);
      // A released lease is free at once; an ended run cannot be claimed.
      store.releaseLeases('w2', [{ runId: 'r', owner: 'w2', epoch: 2 }]);
      expect(store.claimRun('r', 'w3', 1000)).toEqual({ ok: true, epoch: 3 });
      store.append('r', 4, [{ kind: 'RunCancelled', at: 5, reason: 'x' }], { owner: 'w3', epoch: 3 });
      expect(store.claimRun('r', 'w4', 1000)).toEqual({ ok: false, reason: 'ended' });
      expect(store.claimRun('nope', 'w4', 1000)).toEqual({ ok: false, reason: 'missing' });
      store.close();
    }
  });

  it('regression: an empty (or garbage) pid file left beside the database hides no run (ownership is in the database now)', async () => {
    const db = join(dir, 'empty-lock.db');
    const a = Engine.open({ db });
    a.registerTask('never', () => new Promise(() => {}));
    const h = a.start({ source: { name: 'o.star', text: NEVER } });
    await a.close();
    // What a disk-full write or a kill between truncate and write left with pid-file ownership.
    mkdirSync(join(dir, 'locks'), { recursive: true });
    writeFileSync(join(dir, 'locks', `${h.runId}.pid`), '');
    const b = Engine.open({ db });
    b.registerTask('never', () => 'done');
    expect(b.recover()).toEqual([h.runId]);
    await b.whenIdle();
    expect(await b.result(h.runId)).toMatchObject({ status: 'completed', result: 'done' });
    await b.close();
  });
});
