/**
 * The contract of the asynchronous run store (scale-out notes §5.7, 1): one suite, run with
 * `describe.each` against the SQLite store (`asyncStoreOf`, a temp file) and the PostgreSQL store (a
 * real server started by this file, a fresh database per test), so that workers can rely on the same
 * semantics from both: runs and idempotency keys, ordered appends guarded by the expected seq,
 * fencing by lease, claims (one at a time and in batches, exactly once under concurrent claimers),
 * parking and waking, the inbox and outbox, counters, listing, group commit, import and migrations.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DuplicateRunError, FencedError, StoreError } from '../../src/engine/core/errors.js';
import type { HistoryEvent } from '../../src/engine/core/events.js';
import { advanceCounters, NO_COUNTERS } from '../../src/engine/core/run-counters.js';
import type { AsyncEventStore } from '../../src/engine/store/async-store.js';
import { runCursor } from '../../src/engine/store/schema.js';
import { startPostgres, type PgServer } from '../helpers/postgres.js';
import {
  blocked,
  cancelled,
  completed,
  failed,
  notifications,
  postgresHarness,
  progress,
  received,
  rejects,
  scheduled,
  signal,
  sqliteHarness,
  started,
  taskCompleted,
  taskFailed,
  type Harness,
} from './helpers.js';

// The append runs as a named prepared statement unless turned off (PgBouncer < 1.21 in transaction
// mode): both ways on PostgreSQL.
let server: PgServer | undefined;
beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server?.destroy();
}, 60_000);
const harnesses: Harness[] = [sqliteHarness(), postgresHarness(() => server!), postgresHarness(() => server!, { preparedStatements: false })];

describe.each(harnesses)('AsyncEventStore contract: $label', (h) => {
  beforeAll(() => h.setup(), 60_000);
  afterAll(() => h.teardown(), 60_000);

  let where: string;
  let store: AsyncEventStore;
  const extra: AsyncEventStore[] = [];
  /** Another connection to the same database (closed after the test). */
  const another = async (): Promise<AsyncEventStore> => {
    const s = await h.open(where);
    extra.push(s);
    return s;
  };
  beforeEach(async () => {
    where = await h.fresh();
    store = await h.open(where);
  });
  afterEach(async () => {
    for (const s of extra.splice(0)) await s.close();
    await store.close();
  });

  describe('create and idempotency', () => {
    it('records RunStarted as seq 1 and a running summary', async () => {
      const first = await store.createRun(started('r1', 1000, { parent: { runId: 'p1', stepId: 'c#1' } }));
      expect(first).toEqual({ ...started('r1', 1000, { parent: { runId: 'p1', stepId: 'c#1' } }), seq: 1 });
      expect(await store.history('r1')).toEqual([first]);
      expect(await store.getRun('r1')).toEqual({ runId: 'r1', workflow: 'wf', file: 'wf.star', status: 'running', startedAt: 1000, parentRunId: 'p1', lastSeq: 1 });
    });

    it('refuses a second run with the same id or idempotency key, naming the existing run', async () => {
      await store.createRun(started('r1'), undefined, 'key-1');
      expect(await store.runByIdempotencyKey('key-1')).toMatchObject({ runId: 'r1', idempotencyKey: 'key-1' });
      const byId = await rejects(store.createRun(started('r1', 2000)), DuplicateRunError);
      expect(byId.message).toBe('cannot create run r1: a run with this id already exists');
      const byKey = await rejects(store.createRun(started('r2')), DuplicateRunError).catch(() => undefined);
      expect(byKey).toBeUndefined(); // r2 has no key: created
      const err = await rejects(store.createRun(started('r3'), undefined, 'key-1'), DuplicateRunError);
      expect(err.existingRunId).toBe('r1');
      expect(err.message).toBe('cannot create run r3: idempotency key "key-1" belongs to run r1');
      expect(await store.getRun('r3')).toBeUndefined();
      expect(await store.runByIdempotencyKey('nope')).toBeUndefined();
    });

    it('lets exactly one of several concurrent creators with one key succeed', async () => {
      const others = await Promise.all([another(), another(), another()]);
      const results = await Promise.allSettled([store, ...others].map((s, i) => s.createRun(started(`c${i}`), undefined, 'same')));
      const ok = results.filter((r) => r.status === 'fulfilled');
      expect(ok).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(DuplicateRunError);
      expect((await store.listRuns()).map((r) => r.runId)).toHaveLength(1);
    });
  });

  describe('append', () => {
    it('assigns consecutive seqs in order and reads from a seq', async () => {
      await store.createRun(started('r1'));
      const a = await store.append('r1', 1, [progress(1001, 'a'), progress(1002, 'b')]);
      expect(a).toEqual([
        { kind: 'ProgressReported', at: 1001, message: 'a', seq: 2 },
        { kind: 'ProgressReported', at: 1002, message: 'b', seq: 3 },
      ]);
      await store.append('r1', 3, [taskCompleted(1003, 'x#1', { deep: [1, { two: 2 }] })]);
      expect((await store.history('r1')).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect((await store.history('r1', 3)).map((e) => e.seq)).toEqual([3, 4]);
      expect((await store.getRun('r1'))!.lastSeq).toBe(4);
      expect(await store.history('nope')).toEqual([]);
    });

    it('refuses a stale or future expected seq with the seq it found, writing nothing', async () => {
      await store.createRun(started('r1'));
      await store.append('r1', 1, [progress(2)]);
      expect((await rejects(store.append('r1', 1, [progress(3)]))).message).toBe('history of run r1 moved on: expected seq 1, found 2');
      expect((await rejects(store.append('r1', 7, [progress(3)]))).message).toBe('history of run r1 moved on: expected seq 7, found 2');
      expect((await rejects(store.append('ghost', 1, [progress(3)]))).message).toBe('cannot append to run ghost: no such run');
      expect((await rejects(store.append('r1', -1, [progress(3)]))).message).toBe('cannot append to run r1: expected seq -1 is not a non-negative integer');
      expect(await store.append('r1', 2, [])).toEqual([]);
      expect((await rejects(store.append('r1', 1, []))).message).toBe('history of run r1 moved on: expected seq 1, found 2');
      expect(await store.history('r1')).toHaveLength(2);
    });

    it('lets one of two concurrent appenders at one seq win', async () => {
      await store.createRun(started('r1'));
      const other = await another();
      const results = await Promise.allSettled([store.append('r1', 1, [progress(2, 'a')]), other.append('r1', 1, [progress(2, 'b')])]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(await store.history('r1')).toHaveLength(2);
    });

    it('is all or nothing, and follows the status rules', async () => {
      await store.createRun(started('r1', 1000));
      expect((await rejects(store.append('r1', 1, [progress(2), { ...started('r1'), seq: undefined } as never]))).message).toBe(
        'cannot append to run r1: RunStarted may only be the first event of a run',
      );
      expect((await rejects(store.append('r1', 1, [failed(2), progress(3)]))).message).toBe('cannot append to run r1: RunFailed ends the run and must be the last event appended');
      expect((await rejects(store.append('r1', 1, [taskCompleted(3, 'x#1', { n: 10n })]))).message).toMatch(/^cannot store event TaskCompleted of run r1: it is not JSON/);
      await store.append('r1', 1, [blocked(1100)]);
      expect(await store.getRun('r1')).toMatchObject({ status: 'blocked', lastSeq: 2 });
      await store.append('r1', 2, [progress(1200)]);
      expect(await store.getRun('r1')).toMatchObject({ status: 'running', lastSeq: 3 });
      await store.append('r1', 3, [completed(2000)]);
      expect(await store.getRun('r1')).toMatchObject({ status: 'completed', endedAt: 2000, lastSeq: 4 });
      expect((await rejects(store.append('r1', 4, [progress(2100)]))).message).toBe('cannot append to run r1: the run has ended (completed); its history takes no more events');
      expect(await store.unfinishedRuns()).toEqual([]);
    });
  });

  describe('leases and fencing', () => {
    it('refuses an append with a stale epoch or another owner, and lets a lease-free append (a cancel) through', async () => {
      await store.createRun(started('r1'), { owner: 'w1', leaseMs: 60_000 });
      expect(await store.leaseOf('r1')).toMatchObject({ owner: 'w1', epoch: 1 });
      await store.append('r1', 1, [progress(2)], { owner: 'w1', epoch: 1 });
      const wrongOwner = await rejects(store.append('r1', 2, [progress(3)], { owner: 'w2', epoch: 1 }), FencedError);
      expect(wrongOwner.message).toBe("cannot append to run r1: this worker's lease (epoch 1) was lost; w1 holds the run now (epoch 1)");
      // w1's lease runs out; w2 claims the run at epoch 2.
      await store.releaseLeases('w1', [{ runId: 'r1', owner: 'w1', epoch: 1 }]);
      expect(await store.claimRun('r1', 'w2', 60_000)).toEqual({ ok: true, epoch: 2 });
      const stale = await rejects(store.append('r1', 2, [progress(3, 'zombie')], { owner: 'w1', epoch: 1 }), FencedError);
      expect(stale.runId).toBe('r1');
      expect(stale.message).toBe("cannot append to run r1: this worker's lease (epoch 1) was lost; w2 holds the run now (epoch 2)");
      await rejects(store.append('r1', 2, [], { owner: 'w1', epoch: 1 }), FencedError);
      await store.append('r1', 2, [progress(3, 'w2')], { owner: 'w2', epoch: 2 });
      // From outside, with no lease: only the seq is checked.
      await store.append('r1', 3, [cancelled(4)]);
      expect((await store.history('r1')).map((e) => e.kind)).toEqual(['RunStarted', 'ProgressReported', 'ProgressReported', 'RunCancelled']);
    });

    it('claims a free run, refuses a held one, and says why for ended and missing runs', async () => {
      await store.createRun(started('r1'));
      await store.createRun(started('r2'));
      await store.append('r2', 1, [completed(5)]);
      expect(await store.claimRun('r1', 'w1', 60_000)).toEqual({ ok: true, epoch: 1 });
      expect(await store.claimRun('r1', 'w1', 60_000)).toEqual({ ok: true, epoch: 2 }); // its own: a new epoch
      const held = await store.claimRun('r1', 'w2', 60_000);
      expect(held).toMatchObject({ ok: false, reason: 'held', holder: { owner: 'w1', epoch: 2 } });
      if (!held.ok && held.reason === 'held') expect(held.holder.leaseUntil).toBeGreaterThan(held.holder.now);
      expect(await store.claimRun('r2', 'w1', 60_000)).toEqual({ ok: false, reason: 'ended' });
      expect(await store.claimRun('nope', 'w1', 60_000)).toEqual({ ok: false, reason: 'missing' });
    });

    it('renews the leases a worker holds and reports the ones it lost', async () => {
      await store.createRun(started('r1'), { owner: 'w1', leaseMs: 60_000 });
      await store.createRun(started('r2'), { owner: 'w1', leaseMs: 60_000 });
      await store.releaseLeases('w1', [{ runId: 'r2', owner: 'w1', epoch: 1 }]);
      expect(await store.claimRun('r2', 'w2', 60_000)).toEqual({ ok: true, epoch: 2 });
      const lost = await store.renewLeases('w1', [{ runId: 'r1', owner: 'w1', epoch: 1 }, { runId: 'r2', owner: 'w1', epoch: 1 }, { runId: 'gone', owner: 'w1', epoch: 1 }], 60_000);
      expect(lost.sort()).toEqual(['gone', 'r2']);
    });

    it('claims runs in batches, exactly once across concurrent claimers, never an ended one', async () => {
      const n = 40;
      for (let i = 0; i < n; i++) await store.createRun(started(`r${String(i).padStart(2, '0')}`, 1000 + i));
      await store.append('r00', 1, [completed(9)]); // ended: never claimed
      const claimers = [store, ...(await Promise.all([another(), another(), another()]))];
      const got = new Map<string, string>();
      let rounds = 0;
      for (;;) {
        const batch = await Promise.all(claimers.map((s, i) => s.claimRuns(`w${i}`, 4, 60_000)));
        rounds++;
        let any = false;
        batch.forEach((claimed, i) => {
          for (const c of claimed) {
            any = true;
            expect(got.has(c.runId)).toBe(false);
            got.set(c.runId, `w${i}`);
            expect(c.epoch).toBe(1);
            expect(c.lastSeq).toBe(1);
          }
        });
        if (!any) break;
        expect(rounds).toBeLessThan(50);
      }
      expect(got.size).toBe(n - 1);
      expect(got.has('r00')).toBe(false);
      for (const [runId, owner] of got) expect(await store.leaseOf(runId)).toMatchObject({ owner, epoch: 1 });
      expect(await store.claimRuns('w9', 10, 60_000)).toEqual([]);
    });

    it('gives a run whose lease ran out to the next claimer, at a new epoch', async () => {
      await store.createRun(started('r1'), { owner: 'w1', leaseMs: 1 });
      await store.append('r1', 1, [progress(2)], { owner: 'w1', epoch: 1 });
      const until = (await store.leaseOf('r1'))!.leaseUntil;
      while ((await store.dbNow()) <= until) await new Promise((r) => setTimeout(r, 5));
      expect(await store.claimRuns('w2', 10, 60_000)).toEqual([{ runId: 'r1', epoch: 2, lastSeq: 2 }]);
      await rejects(store.append('r1', 2, [progress(3)], { owner: 'w1', epoch: 1 }), FencedError);
    });
  });

  describe('fencing under contention', () => {
    it('a worker frozen past its lease never writes again; histories stay contiguous, one writer per epoch', async () => {
      const runs = 12;
      for (let i = 0; i < runs; i++) await store.createRun(started(`r${i}`, 1000 + i));
      const zombie = await another();
      // The zombie claims a third of the runs with a short lease, writes once, then "freezes".
      const frozen = await zombie.claimRuns('zombie', 4, 50);
      expect(frozen).toHaveLength(4);
      for (const c of frozen) await zombie.append(c.runId, c.lastSeq, [progress(0, `zombie@${c.epoch}`)], { owner: 'zombie', epoch: c.epoch });
      const until = Math.max(...(await Promise.all(frozen.map(async (c) => (await store.leaseOf(c.runId))!.leaseUntil))));
      while ((await store.dbNow()) <= until) await new Promise((r) => setTimeout(r, 5));
      // Three live workers take every run (the zombie's too) and append to each until 10 events.
      const workers = [store, await another(), await another()];
      await Promise.all(
        workers.map(async (w, i) => {
          for (let round = 0; round < 100; round++) {
            const claimed = await w.claimRuns(`w${i}`, 2, 60_000);
            if (claimed.length === 0) break;
            for (const c of claimed) {
              let seq = c.lastSeq;
              while (seq < 10) {
                const out = await w.appendMany([{ runId: c.runId, expectedLastSeq: seq, events: [progress(seq, `w${i}@${c.epoch}`)], lease: { owner: `w${i}`, epoch: c.epoch } }]);
                expect(out.get(c.runId)).toMatchObject({ ok: true });
                seq++;
              }
              await w.append(c.runId, seq, [completed(seq)], { owner: `w${i}`, epoch: c.epoch });
            }
          }
        }),
      );
      // The zombie wakes up: every write it tries is refused.
      for (const c of frozen) {
        await rejects(zombie.append(c.runId, 2, [progress(0, 'late')], { owner: 'zombie', epoch: c.epoch }), FencedError);
        const out = await zombie.appendMany([{ runId: c.runId, expectedLastSeq: 11, events: [progress(0, 'late')], lease: { owner: 'zombie', epoch: c.epoch } }]);
        expect((out.get(c.runId) as { error: unknown }).error).toBeInstanceOf(FencedError);
      }
      for (let i = 0; i < runs; i++) {
        const h = await store.history(`r${i}`);
        expect(h.map((e) => e.seq)).toEqual(Array.from({ length: 11 }, (_, k) => k + 1));
        expect(h[10]!.kind).toBe('RunCompleted');
        const writers = h.slice(1, 10).map((e) => (e as { message: string }).message);
        const epochs = writers.map((m) => Number(m.split('@')[1]));
        expect(epochs).toEqual([...epochs].sort((a, b) => a - b));
        // One writer per epoch.
        const byEpoch = new Map<number, Set<string>>();
        for (const m of writers) {
          const [who, epoch] = m.split('@');
          byEpoch.set(Number(epoch), (byEpoch.get(Number(epoch)) ?? new Set()).add(who!));
        }
        for (const set of byEpoch.values()) expect(set.size).toBe(1);
      }
    }, 30_000);
  });

  describe('park and wake', () => {
    it('a parked run is not claimable until a message arrives in its inbox', async () => {
      await store.createRun(started('r1'), { owner: 'w1', leaseMs: 60_000 });
      expect(await store.park('r1', { owner: 'w1', epoch: 1 }, null)).toBe('ok');
      expect(await store.leaseOf('r1')).toMatchObject({ owner: null, epoch: 1 });
      expect(await store.claimRuns('w2', 10, 60_000)).toEqual([]);
      await rejects(store.append('r1', 1, [progress(2)], { owner: 'w1', epoch: 1 }), FencedError);
      expect(await store.park('r1', { owner: 'w1', epoch: 1 }, null)).toBe('fenced');
      const other = await another();
      await other.postInbox('r1', signal('go'));
      expect(await store.claimRuns('w2', 10, 60_000)).toEqual([{ runId: 'r1', epoch: 2, lastSeq: 1 }]);
    });

    it('a parked run wakes at its time (database clock)', async () => {
      await store.createRun(started('r1'), { owner: 'w1', leaseMs: 60_000 });
      await store.createRun(started('r2'), { owner: 'w1', leaseMs: 60_000 });
      const now = await store.dbNow();
      expect(Math.abs(now - Date.now())).toBeLessThan(60_000);
      expect(await store.park('r1', { owner: 'w1', epoch: 1 }, now + 3_600_000)).toBe('ok');
      expect(await store.park('r2', { owner: 'w1', epoch: 1 }, now - 1)).toBe('ok');
      expect((await store.claimRuns('w2', 10, 60_000)).map((c) => c.runId)).toEqual(['r2']);
      expect(await store.claimRuns('w2', 10, 60_000)).toEqual([]);
    });

    it('a run parked with a message already waiting stays claimable', async () => {
      await store.createRun(started('r1'), { owner: 'w1', leaseMs: 60_000 });
      await store.postInbox('r1', signal('early'));
      expect(await store.park('r1', { owner: 'w1', epoch: 1 }, null)).toBe('ok');
      expect((await store.claimRuns('w2', 10, 60_000)).map((c) => c.runId)).toEqual(['r1']);
    });
  });

  describe('inbox', () => {
    it('is idempotent by key, refuses ended and missing runs, and lists what waits', async () => {
      await store.createRun(started('r1'));
      await store.createRun(started('r2'));
      const a = await store.postInbox('r1', signal('go', { n: 1 }, 'k1'));
      expect(a.duplicate).toBe(false);
      expect(await store.postInbox('r1', signal('other', 2, 'k1'))).toEqual({ id: a.id, duplicate: true });
      const b = await store.postInbox('r2', signal('go'));
      expect(b.id).toBeGreaterThan(a.id);
      const pending = await store.pendingInbox('r1');
      expect(pending).toMatchObject([{ id: a.id, runId: 'r1', kind: 'signal', name: 'go', payload: { n: 1 }, key: 'k1' }]);
      expect(pending[0]!.postedAt).toBeGreaterThan(0);
      expect(await store.runsWithPendingInbox()).toEqual(['r1', 'r2']);
      expect((await rejects(store.postInbox('ghost', signal('go')))).code).toBe('missing');
      await store.append('r2', 1, [completed(5)]);
      expect((await rejects(store.postInbox('r2', signal('late')))).code).toBe('ended');
      expect(await store.runsWithPendingInbox()).toEqual(['r1']);
      expect(await store.pendingInbox('ghost')).toEqual([]);
    });

    it('consumes a message exactly once, in the append that delivers it', async () => {
      await store.createRun(started('r1'));
      await store.createRun(started('r2'));
      const { id } = await store.postInbox('r1', signal('go', 'payload'));
      const other = await store.postInbox('r2', signal('go'));
      // Two appenders deliver the same message: one wins.
      const results = await Promise.allSettled([store.append('r1', 1, [received(2, id)]), (await another()).append('r1', 1, [received(2, id)])]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(await store.pendingInbox('r1')).toEqual([]);
      const twice = await rejects(store.append('r1', 2, [progress(3), received(4, id)]));
      expect(twice.code).toBe('inbox');
      expect(twice.message).toBe(`cannot append to run r1: inbox message ${id} was delivered already (event 2); a message is delivered once`);
      const foreign = await rejects(store.append('r1', 2, [received(3, other.id)]));
      expect(foreign.message).toBe(`cannot append to run r1: SignalReceived names inbox message ${other.id}, which the run's inbox does not hold`);
      expect(await store.history('r1')).toHaveLength(2);
      expect((await store.pendingInbox('r2')).map((m) => m.id)).toEqual([other.id]);
    });
  });

  describe('outbox', () => {
    it('fills the outbox with the append that queues it, or not at all', async () => {
      await store.createRun(started('r1'));
      const { id } = await store.postInbox('r1', signal('go'));
      await store.append('r1', 1, [received(2, id)]);
      // This append would deliver the message again: it fails whole, outbox included.
      await rejects(store.append('r1', 2, [notifications('r1', ['https://a.example']), received(3, id)]));
      expect(await store.listOutbox()).toEqual([]);
      await store.append('r1', 2, [notifications('r1', ['https://a.example', 'https://b.example']), completed(3)]);
      const rows = await store.listOutbox({ runId: 'r1' });
      expect(rows).toMatchObject([
        { runId: 'r1', event: 'SUCCEEDED', sinkIndex: 0, sink: { kind: 'webhook', url: 'https://a.example' }, payload: { runId: 'r1', n: 0 }, key: 'r1:SUCCEEDED:0', status: 'pending', attempts: 0, createdAt: 2000 },
        { key: 'r1:SUCCEEDED:1', sinkIndex: 1 },
      ]);
    });

    it('claims due rows once, records deliveries and retries', async () => {
      await store.createRun(started('r1'));
      await store.append('r1', 1, [notifications('r1', ['https://a.example', 'https://b.example', 'https://c.example'])]);
      const now = Date.now();
      const other = await another();
      const [x, y] = await Promise.all([store.claimOutbox('o1', now, 2, 60_000), other.claimOutbox('o2', now, 2, 60_000)]);
      expect([...x, ...y].map((r) => r.key).sort()).toEqual(['r1:SUCCEEDED:0', 'r1:SUCCEEDED:1', 'r1:SUCCEEDED:2']);
      expect(await store.claimOutbox('o3', now, 10, 60_000)).toEqual([]);
      const [first, second, third] = [...x, ...y].sort((a, b) => a.id - b.id);
      await store.completeOutbox(first!.id, true);
      await store.completeOutbox(second!.id, false, 'HTTP 500', now + 1000);
      await store.completeOutbox(third!.id, false, 'HTTP 400', undefined, true);
      expect(await store.listOutbox({ status: 'delivered' })).toMatchObject([{ id: first!.id, attempts: 1, claimedUntil: 0 }]);
      expect(await store.listOutbox({ status: 'pending' })).toMatchObject([{ id: second!.id, attempts: 1, lastError: 'HTTP 500', nextAt: now + 1000, claimedUntil: 0 }]);
      expect(await store.listOutbox({ status: 'failed' })).toMatchObject([{ id: third!.id, lastError: 'HTTP 400' }]);
      expect(await store.claimOutbox('o1', now, 10, 60_000)).toEqual([]);
      expect((await store.claimOutbox('o1', now + 1000, 10, 60_000)).map((r) => r.id)).toEqual([second!.id]);
    });
  });

  describe('counters', () => {
    it('keeps total, done, cache hits and the first error, across appends and status changes', async () => {
      await store.createRun(started('r1'));
      await store.append('r1', 1, [scheduled(2, 'load#1'), scheduled(3, 'train#1')]);
      await store.append('r1', 3, [taskCompleted(4, 'load#1', 1, 'cache'), progress(5)]);
      expect((await store.getRunWithCounters('r1'))!.counters).toEqual({ total: 2, done: 1, cacheHits: 1 });
      await store.append('r1', 5, [taskFailed(6, 'train#1', 'out of memory'), scheduled(7, 'eval#1'), taskFailed(8, 'eval#1', 'second')]);
      await store.append('r1', 8, [blocked(9)]);
      await store.append('r1', 9, [failed(10, 'run failed')]);
      const run = await store.getRunWithCounters('r1');
      const expected = advanceCounters(NO_COUNTERS, await store.history('r1'));
      expect(expected).toEqual({ total: 3, done: 3, cacheHits: 1, firstError: { task: 'train', message: 'out of memory' } });
      expect(run).toMatchObject({ runId: 'r1', status: 'failed', counters: expected });
      expect(await store.getRunWithCounters('nope')).toBeUndefined();
      await store.createRun(started('r2', 2000));
      const listed = await store.listRunsWithCounters();
      expect(listed.map((r) => [r.runId, r.counters])).toEqual([
        ['r2', NO_COUNTERS],
        ['r1', expected],
      ]);
    });

    it('names a RunFailed message when no task failed', async () => {
      await store.createRun(started('r1'));
      await store.append('r1', 1, [scheduled(2, 'a#1'), taskCompleted(3, 'a#1')]);
      await store.append('r1', 3, [failed(4, 'script error')]);
      expect((await store.getRunWithCounters('r1'))!.counters).toEqual({ total: 1, done: 1, cacheHits: 0, firstError: { message: 'script error' } });
    });
  });

  describe('listing', () => {
    beforeEach(async () => {
      await store.createRun(started('r2', 2000, { workflow: 'etl' }));
      await store.createRun(started('r1', 1000, { workflow: 'Train' }));
      await store.createRun(started('r3', 3000, { workflow: 'Train' }));
      await store.createRun(started('r4', 3000, { workflow: 'etl' }));
      await store.createRun(started('r5', 5000, { workflow: 'Train' }));
      await store.append('r2', 1, [completed(2500)]);
      await store.append('r3', 1, [failed(3500)]);
      await store.append('r5', 1, [blocked(5100)]);
    });

    it('filters by status, workflow, time and text, newest first', async () => {
      const ids = async (f: Parameters<AsyncEventStore['listRuns']>[0]) => (await store.listRuns(f)).map((r) => r.runId);
      expect(await ids({})).toEqual(['r5', 'r4', 'r3', 'r2', 'r1']);
      expect(await ids({ status: 'running' })).toEqual(['r4', 'r1']);
      expect(await ids({ status: 'blocked' })).toEqual(['r5']);
      expect(await ids({ workflow: 'Train' })).toEqual(['r5', 'r3', 'r1']);
      expect(await ids({ since: 3000 })).toEqual(['r5', 'r4', 'r3']);
      expect(await ids({ since: 2000, until: 3000 })).toEqual(['r2']);
      expect(await ids({ search: 'train' })).toEqual(['r5', 'r3', 'r1']);
      expect(await ids({ search: 'R4' })).toEqual(['r4']);
      expect(await ids({ limit: 2 })).toEqual(['r5', 'r4']);
      expect(await ids({ limit: 0 })).toEqual([]);
      expect(await store.listRuns({ status: 'failed' })).toEqual([{ runId: 'r3', workflow: 'Train', file: 'wf.star', status: 'failed', startedAt: 3000, endedAt: 3500, lastSeq: 2 }]);
      expect((await store.unfinishedRuns()).map((r) => r.runId)).toEqual(['r1', 'r4']);
    });

    it('pages with a keyset cursor: no run twice, none missed', async () => {
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.listRuns({ limit: 2, ...(after !== undefined ? { after } : {}) });
        if (page.length === 0) break;
        seen.push(...page.map((r) => r.runId));
        after = runCursor(page[page.length - 1]!);
      }
      expect(seen).toEqual(['r5', 'r4', 'r3', 'r2', 'r1']);
      await expect(store.listRuns({ after: 'not a cursor' })).rejects.toThrow(/^invalid run cursor "not a cursor"/);
    });
  });

  describe('group commit', () => {
    it('commits the runs it can and refuses the others one by one', async () => {
      for (const id of ['a', 'b', 'c', 'd', 'e']) await store.createRun(started(id), { owner: 'w1', leaseMs: 60_000 });
      await store.releaseLeases('w1', [{ runId: 'c', owner: 'w1', epoch: 1 }]);
      await store.claimRun('c', 'w2', 60_000);
      const { id } = await store.postInbox('e', signal('go'));
      await store.append('e', 1, [received(2, id)], { owner: 'w1', epoch: 1 });
      const lease = { owner: 'w1', epoch: 1 };
      const out = await store.appendMany([
        { runId: 'a', expectedLastSeq: 1, events: [progress(2), scheduled(3, 't#1')], lease },
        { runId: 'b', expectedLastSeq: 5, events: [progress(2)], lease },
        { runId: 'c', expectedLastSeq: 1, events: [progress(2)], lease },
        { runId: 'd', expectedLastSeq: 1, events: [completed(2)], lease },
        { runId: 'e', expectedLastSeq: 2, events: [received(3, id)], lease },
      ]);
      expect([...out.keys()]).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(out.get('a')).toEqual({ ok: true, events: [{ ...progress(2), seq: 2 }, { ...scheduled(3, 't#1'), seq: 3 }] });
      expect(out.get('b')).toMatchObject({ ok: false, error: { message: 'history of run b moved on: expected seq 5, found 1' } });
      expect(out.get('c')!.ok).toBe(false);
      expect((out.get('c') as { error: unknown }).error).toBeInstanceOf(FencedError);
      expect(out.get('d')).toMatchObject({ ok: true });
      expect(out.get('e')).toMatchObject({ ok: false, error: { code: 'inbox' } });
      expect((await store.history('a')).map((e) => e.seq)).toEqual([1, 2, 3]);
      expect((await store.getRunWithCounters('a'))!.counters.total).toBe(1);
      expect(await store.history('b')).toHaveLength(1);
      expect(await store.getRun('d')).toMatchObject({ status: 'completed', lastSeq: 2 });
      expect(await store.history('e')).toHaveLength(2);
    });
  });

  describe('workers', () => {
    it('records heartbeats and lists live workers with the runs they hold', async () => {
      await store.createRun(started('r1'), { owner: 'w1', leaseMs: 60_000 });
      await store.heartbeat({ workerId: 'w1', host: 'h1', pid: 11, queues: ['default', 'gpu'] });
      await store.heartbeat({ workerId: 'w2', host: 'h2', pid: 22, queues: [] });
      await store.heartbeat({ workerId: 'w1', host: 'h1', pid: 11, queues: ['default'] });
      const list = await store.listWorkers(60_000);
      expect(list.map((w) => [w.workerId, w.host, w.pid, w.queues, w.runs])).toEqual([
        ['w1', 'h1', 11, ['default'], ['r1']],
        ['w2', 'h2', 22, [], []],
      ]);
      expect(list[0]!.seenAt).toBeGreaterThanOrEqual(list[0]!.startedAt);
      await store.unregisterWorker('w2');
      expect((await store.listWorkers(60_000)).map((w) => w.workerId)).toEqual(['w1']);
    });
  });

  describe('import', () => {
    it('writes a run as it was, unowned, and refuses it a second time', async () => {
      await store.createRun(started('src', 1000));
      await store.append('src', 1, [scheduled(2, 'a#1'), taskCompleted(3, 'a#1', { v: [1, 'é'] }, 'cache'), completed(4, 'done')]);
      const history = await store.history('src');
      const target = await h.open(await h.fresh());
      extra.push(target);
      await target.importRun(history, { idempotencyKey: 'k' });
      expect(await target.history('src')).toEqual(history);
      expect(await target.getRunWithCounters('src')).toEqual({ ...(await store.getRun('src')), idempotencyKey: 'k', counters: { total: 1, done: 1, cacheHits: 1 } });
      expect(await target.leaseOf('src')).toMatchObject({ owner: null, epoch: 0 });
      expect((await rejects(target.importRun(history), DuplicateRunError)).existingRunId).toBe('src');
      // An unfinished run comes in claimable.
      await target.importRun([{ ...started('open'), seq: 1 } as HistoryEvent]);
      expect((await target.claimRuns('w', 10, 60_000)).map((c) => c.runId)).toEqual(['open']);
      await rejects(target.importRun([{ ...started('bad'), seq: 2 } as HistoryEvent]));
      expect(await target.getRun('bad')).toBeUndefined();
    });
  });

  describe('scripts, clock and schema', () => {
    it('stores script bundles once', async () => {
      const files = [{ path: 'main.star', text: 'x = "é ☃"\n' }];
      await store.putScript('d1', files);
      await store.putScript('d1', [{ path: 'other', text: '' }]);
      expect(await store.getScript('d1')).toEqual(files);
      expect(await store.getScript('none')).toBeUndefined();
    });

    it('is at the current schema version, and migrating again does nothing', async () => {
      const v = await store.schemaVersion();
      expect(v).toBeGreaterThan(0);
      expect(await store.migrate()).toEqual({ from: v, to: v, applied: [] });
    });

    it('refuses every call once closed', async () => {
      await store.close();
      expect((await rejects(store.getRun('r1'))).message).toBe('the event store is closed');
      expect((await rejects(store.claimRuns('w', 1, 1000))).message).toBe('the event store is closed');
      store = await h.open(where); // for afterEach
    });
  });
});
