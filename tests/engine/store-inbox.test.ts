/**
 * The event stores' idempotent start, run inboxes (signals) and keyset listing of runs: one
 * contract, run with `describe.each` against the memory store and the SQLite store (on real files
 * in the temp directory), then what only SQLite has: two store instances (and several processes)
 * on one file, reopening, and the migration of a schema v2 database.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuplicateRunError, FencedError, StoreError, UsageError } from '../../src/engine/core/errors.js';
import type { NewEvent, RunStarted } from '../../src/engine/core/events.js';
import type { EventStore, RunFilter, RunRecord } from '../../src/engine/core/ports.js';
import { MemoryEventStore, openSqliteStore, runCursor, SCHEMA_VERSION } from '../../src/engine/store/index.js';
import type { SqliteEventStore } from '../../src/engine/store/index.js';

const root = mkdtempSync(join(tmpdir(), 'larkflow-inbox-'));
let dbCounter = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

function freshPath(): string {
  const dir = join(root, `db${++dbCounter}`);
  mkdirSync(dir, { recursive: true });
  return join(dir, 'runs.db');
}

function started(runId: string, at = 1000, extra: Partial<Omit<RunStarted, 'kind' | 'seq'>> = {}): Omit<RunStarted, 'seq'> {
  return { kind: 'RunStarted', at, runId, workflow: 'wf', file: 'wf.star', scriptDigest: 'd', args: [], kwargs: {}, env: {}, seed: 's', attempt: 1, ...extra };
}
const progress = (at: number, message = 'working'): NewEvent => ({ kind: 'ProgressReported', at, message });
const completed = (at: number): NewEvent => ({ kind: 'RunCompleted', at, result: null });
const cancelled = (at: number): NewEvent => ({ kind: 'RunCancelled', at, reason: 'user' });
const blocked = (at: number): NewEvent => ({ kind: 'NondeterminismDetected', at, message: 'changed', stepId: 'a#1' });
/** The event that delivers inbox message `inboxId` (built generically: the store looks at kind and inboxId only). */
const received = (at: number, inboxId: unknown, name = 'go', payload: unknown = null): NewEvent =>
  ({ kind: 'SignalReceived', at, name, payload, inboxId }) as unknown as NewEvent;
const signal = (name: string, payload: unknown = null, key?: string) =>
  ({ kind: 'signal', name, payload, ...(key !== undefined ? { key } : {}) }) as Parameters<EventStore['postInbox']>[1];

/** Runs `fn`, expecting an error of `type`; returns it. */
function thrown<E extends Error>(type: abstract new (...a: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as E;
  }
  throw new Error(`expected a ${type.name}, nothing was thrown`);
}

interface Harness {
  readonly name: string;
  open(): EventStore;
}

const harnesses: Harness[] = [
  { name: 'MemoryEventStore', open: () => new MemoryEventStore() },
  { name: 'SqliteEventStore', open: () => openSqliteStore(freshPath()) },
];

describe.each(harnesses)('EventStore inbox, idempotency and paging contract: $name', (harness) => {
  let store: EventStore;
  beforeEach(() => {
    store = harness.open();
  });
  afterEach(() => store.close());

  describe('idempotent start', () => {
    it('records the key on the run and finds the run by it', () => {
      store.createRun(started('r1'), undefined, 'key-1');
      store.createRun(started('r2'));
      expect(store.getRun('r1')).toEqual({ runId: 'r1', workflow: 'wf', file: 'wf.star', status: 'running', startedAt: 1000, lastSeq: 1, idempotencyKey: 'key-1' });
      expect(store.runByIdempotencyKey('key-1')).toEqual(store.getRun('r1'));
      expect(store.runByIdempotencyKey('key-2')).toBeUndefined();
      expect('idempotencyKey' in store.getRun('r2')!).toBe(false);
      expect(store.listRuns().find((r) => r.runId === 'r1')!.idempotencyKey).toBe('key-1');
    });

    it('refuses a second run with the same key, naming the first, and creates nothing', () => {
      store.createRun(started('r1'), { owner: 'w1', leaseMs: 60_000 }, 'key-1');
      const err = thrown(DuplicateRunError, () => store.createRun(started('r2', 2000), { owner: 'w2', leaseMs: 60_000 }, 'key-1'));
      expect(err).toBeInstanceOf(StoreError);
      expect(err.code).toBe('duplicate');
      expect(err.existingRunId).toBe('r1');
      expect(err.message).toBe('cannot create run r2: idempotency key "key-1" belongs to run r1');
      expect(store.getRun('r2')).toBeUndefined();
      expect(store.history('r2')).toEqual([]);
      expect(store.listRuns().map((r) => r.runId)).toEqual(['r1']);
      expect(store.leaseOf('r1')).toMatchObject({ owner: 'w1', epoch: 1 });
    });

    it('keeps the key after the run has ended', () => {
      store.createRun(started('r1'), undefined, 'key-1');
      store.append('r1', 1, [completed(1100)]);
      expect(thrown(DuplicateRunError, () => store.createRun(started('r2'), undefined, 'key-1')).existingRunId).toBe('r1');
      expect(store.runByIdempotencyKey('key-1')).toMatchObject({ runId: 'r1', status: 'completed' });
    });

    it('refuses the same run id twice (with or without keys) and does not record the second key', () => {
      store.createRun(started('r1'), undefined, 'key-1');
      const plain = thrown(DuplicateRunError, () => store.createRun(started('r1')));
      expect(plain.existingRunId).toBe('r1');
      expect(plain.code).toBe('duplicate');
      expect(plain.message).toBe('cannot create run r1: a run with this id already exists');
      expect(thrown(DuplicateRunError, () => store.createRun(started('r1'), undefined, 'key-2')).existingRunId).toBe('r1');
      expect(store.runByIdempotencyKey('key-2')).toBeUndefined();
      // key-2 is free: another run may take it.
      store.createRun(started('r2'), undefined, 'key-2');
      expect(store.runByIdempotencyKey('key-2')!.runId).toBe('r2');
    });

    it('checks the key before the run id', () => {
      store.createRun(started('a'), undefined, 'key-a');
      store.createRun(started('b'));
      expect(thrown(DuplicateRunError, () => store.createRun(started('b'), undefined, 'key-a')).existingRunId).toBe('a');
    });

    it('lets any number of runs have no key', () => {
      for (let i = 0; i < 5; i++) store.createRun(started(`r${i}`));
      expect(store.listRuns()).toHaveLength(5);
    });
  });

  describe('inbox', () => {
    it('posts messages with increasing ids and gives the waiting ones back oldest first', () => {
      store.createRun(started('r1'));
      store.createRun(started('r2'));
      const before = Date.now();
      const a = store.postInbox('r1', signal('approve', { by: 'ann', n: [1, 2] }, 'k1'));
      const b = store.postInbox('r2', signal('other'));
      const c = store.postInbox('r1', signal('reject', 'no'));
      const after = Date.now();
      expect(a.duplicate || b.duplicate || c.duplicate).toBe(false);
      expect(b.id).toBeGreaterThan(a.id);
      expect(c.id).toBeGreaterThan(b.id);
      const pending = store.pendingInbox('r1');
      expect(pending.map((m) => m.id)).toEqual([a.id, c.id]);
      expect(pending[0]).toMatchObject({ id: a.id, runId: 'r1', kind: 'signal', name: 'approve', payload: { by: 'ann', n: [1, 2] }, key: 'k1' });
      expect(pending[1]).toMatchObject({ id: c.id, runId: 'r1', kind: 'signal', name: 'reject', payload: 'no' });
      expect('key' in pending[1]!).toBe(false);
      expect(Object.keys(pending[0]!).sort()).toEqual(['id', 'key', 'kind', 'name', 'payload', 'postedAt', 'runId']);
      for (const m of pending) {
        expect(m.postedAt).toBeGreaterThanOrEqual(before - 1000);
        expect(m.postedAt).toBeLessThanOrEqual(after + 1000);
      }
      expect(store.pendingInbox('r2').map((m) => m.name)).toEqual(['other']);
      expect(store.pendingInbox('nobody')).toEqual([]);
    });

    it('treats a second post with the same (run, key) as the same message', () => {
      store.createRun(started('r1'));
      store.createRun(started('r2'));
      const first = store.postInbox('r1', signal('approve', 1, 'k'));
      expect(store.postInbox('r1', signal('approve', 1, 'k'))).toEqual({ id: first.id, duplicate: true });
      // The first message stands, whatever the second said.
      expect(store.postInbox('r1', signal('reject', 2, 'k'))).toEqual({ id: first.id, duplicate: true });
      expect(store.pendingInbox('r1')).toHaveLength(1);
      expect(store.pendingInbox('r1')[0]).toMatchObject({ name: 'approve', payload: 1 });
      // The same key on another run is another message; posts without a key are never duplicates.
      expect(store.postInbox('r2', signal('approve', 1, 'k')).duplicate).toBe(false);
      expect(store.postInbox('r1', signal('approve', 1)).duplicate).toBe(false);
      expect(store.postInbox('r1', signal('approve', 1)).duplicate).toBe(false);
      expect(store.pendingInbox('r1')).toHaveLength(3);
    });

    it('still recognises a duplicate once the message was consumed', () => {
      store.createRun(started('r1'));
      const { id } = store.postInbox('r1', signal('go', null, 'k'));
      store.append('r1', 1, [received(2, id)]);
      expect(store.postInbox('r1', signal('go', null, 'k'))).toEqual({ id, duplicate: true });
      expect(store.pendingInbox('r1')).toEqual([]);
    });

    it('refuses a message for a run that does not exist', () => {
      const err = thrown(StoreError, () => store.postInbox('ghost', signal('go')));
      expect(err.code).toBe('missing');
      expect(err.message).toBe('cannot post to run ghost: no such run');
      expect(store.pendingInbox('ghost')).toEqual([]);
    });

    it.each([
      ['completed', completed(2)],
      ['cancelled', cancelled(2)],
    ] as const)('refuses a message for a %s run, but answers a duplicate of an earlier one', (status, end) => {
      store.createRun(started('r1'));
      const { id } = store.postInbox('r1', signal('go', null, 'k'));
      store.append('r1', 1, [end]);
      const err = thrown(StoreError, () => store.postInbox('r1', signal('go')));
      expect(err.code).toBe('ended');
      expect(err.message).toBe(`cannot post to run r1: run r1 has ended (${status})`);
      expect(store.postInbox('r1', signal('go', null, 'k'))).toEqual({ id, duplicate: true });
      expect(store.pendingInbox('r1').map((m) => m.id)).toEqual([id]);
    });

    it('takes messages for a blocked run', () => {
      store.createRun(started('r1'));
      store.append('r1', 1, [blocked(2)]);
      expect(store.postInbox('r1', signal('go')).duplicate).toBe(false);
      expect(store.pendingInbox('r1')).toHaveLength(1);
    });

    it('refuses a payload that is not JSON, storing nothing', () => {
      store.createRun(started('r1'));
      const err = thrown(StoreError, () => store.postInbox('r1', signal('go', { n: 10n })));
      expect(err.message).toMatch(/^cannot post go to run r1: its payload is not JSON \(.*BigInt.*\)$/);
      expect(err.code).toBe('store');
      expect(thrown(StoreError, () => store.postInbox('r1', { kind: 'signal', name: 'go', payload: undefined as never })).message).toMatch(/payload is not JSON/);
      expect(store.pendingInbox('r1')).toEqual([]);
    });

    it('stores the payload as a value: later changes to the posted object do not reach it', () => {
      store.createRun(started('r1'));
      const payload = { items: [1, 2] };
      store.postInbox('r1', signal('go', payload));
      payload.items.push(3);
      const got = store.pendingInbox('r1')[0]!;
      expect(got.payload).toEqual({ items: [1, 2] });
      try {
        (got.payload as { items: number[] }).items.push(4);
      } catch (err) {
        expect(err).toBeInstanceOf(TypeError); // a store may freeze what it returns
      }
      expect(store.pendingInbox('r1')[0]!.payload).toEqual({ items: [1, 2] });
    });

    it('is refused by a closed store', () => {
      store.createRun(started('r1'));
      store.close();
      for (const call of [() => store.postInbox('r1', signal('go')), () => store.pendingInbox('r1'), () => store.runsWithPendingInbox(), () => store.runByIdempotencyKey('k')]) {
        expect(thrown(StoreError, call).message).toBe('the event store is closed');
      }
    });
  });

  describe('consuming inbox messages with history', () => {
    it('consumes the message an appended SignalReceived names, in the same append', () => {
      store.createRun(started('r1'));
      const a = store.postInbox('r1', signal('a', 1)).id;
      const b = store.postInbox('r1', signal('b', 2)).id;
      const out = store.append('r1', 1, [progress(2), received(3, a, 'a', 1)]);
      expect(out.map((e) => e.seq)).toEqual([2, 3]);
      expect(store.pendingInbox('r1').map((m) => m.id)).toEqual([b]);
      expect(store.history('r1')[2]).toMatchObject({ kind: 'SignalReceived', inboxId: a, seq: 3 });
    });

    it('refuses to deliver a message twice: the second append fails whole and appends nothing', () => {
      store.createRun(started('r1'));
      const a = store.postInbox('r1', signal('a')).id;
      store.append('r1', 1, [received(2, a)]);
      const err = thrown(StoreError, () => store.append('r1', 2, [progress(3), received(4, a)]));
      expect(err.code).toBe('inbox');
      expect(err.message).toBe(`cannot append to run r1: inbox message ${a} was delivered already (event 2); a message is delivered once`);
      expect(store.history('r1').map((e) => e.kind)).toEqual(['RunStarted', 'SignalReceived']);
      expect(store.getRun('r1')!.lastSeq).toBe(2);
      // The history is still at seq 2: the next append goes on from there.
      expect(store.append('r1', 2, [progress(3)])[0]!.seq).toBe(3);
    });

    it('refuses the same message twice in one append', () => {
      store.createRun(started('r1'));
      const a = store.postInbox('r1', signal('a')).id;
      const err = thrown(StoreError, () => store.append('r1', 1, [received(2, a), received(3, a)]));
      expect(err.code).toBe('inbox');
      expect(err.message).toBe(`cannot append to run r1: inbox message ${a} was delivered already (event 2); a message is delivered once`);
      expect(store.history('r1')).toHaveLength(1);
      expect(store.pendingInbox('r1').map((m) => m.id)).toEqual([a]);
    });

    it('refuses a message of another run, or one that does not exist, leaving it waiting', () => {
      store.createRun(started('r1'));
      store.createRun(started('r2'));
      const theirs = store.postInbox('r2', signal('x')).id;
      const mine = store.postInbox('r1', signal('y')).id;
      const err = thrown(StoreError, () => store.append('r1', 1, [received(2, mine), received(3, theirs)]));
      expect(err.code).toBe('inbox');
      expect(err.message).toBe(`cannot append to run r1: SignalReceived names inbox message ${theirs}, which the run's inbox does not hold`);
      expect(thrown(StoreError, () => store.append('r1', 1, [received(2, 999_999)])).code).toBe('inbox');
      expect(store.history('r1')).toHaveLength(1);
      expect(store.pendingInbox('r1').map((m) => m.id)).toEqual([mine]);
      expect(store.pendingInbox('r2').map((m) => m.id)).toEqual([theirs]);
    });

    it('consumes nothing when the append fails for another reason', () => {
      store.createRun(started('r1'), { owner: 'w1', leaseMs: 60_000 });
      const a = store.postInbox('r1', signal('a')).id;
      store.append('r1', 1, [progress(2)]);
      // A stale seq, a fenced lease, and a bad event later in the append.
      expect(thrown(StoreError, () => store.append('r1', 1, [received(3, a)])).message).toBe('history of run r1 moved on: expected seq 1, found 2');
      expect(store.claimRun('r1', 'w2', 60_000)).toEqual({ ok: false, reason: 'held', holder: expect.anything() });
      expect(store.claimRun('r1', 'w2', 60_000, () => true)).toEqual({ ok: true, epoch: 2 });
      thrown(FencedError, () => store.append('r1', 2, [received(3, a)], { owner: 'w1', epoch: 1 }));
      thrown(StoreError, () => store.append('r1', 2, [received(3, a), { kind: 'ProgressReported', at: 4, message: 10n } as unknown as NewEvent]));
      thrown(StoreError, () => store.append('r1', 2, [received(3, a), completed(4), progress(5)]));
      expect(store.pendingInbox('r1').map((m) => m.id)).toEqual([a]);
      expect(store.history('r1')).toHaveLength(2);
      // The new owner delivers it.
      store.append('r1', 2, [received(3, a)], { owner: 'w2', epoch: 2 });
      expect(store.pendingInbox('r1')).toEqual([]);
    });

    it('leaves SignalReceived events without a numeric inboxId alone', () => {
      store.createRun(started('r1'));
      const a = store.postInbox('r1', signal('a')).id;
      store.append('r1', 1, [received(2, String(a)), received(3, undefined)]);
      expect(store.pendingInbox('r1').map((m) => m.id)).toEqual([a]);
      expect(store.history('r1')).toHaveLength(3);
    });

    it('lists the running runs with waiting messages, longest waiting first', () => {
      for (const id of ['r1', 'r2', 'r3', 'r4', 'r5']) store.createRun(started(id));
      expect(store.runsWithPendingInbox()).toEqual([]);
      const m2 = store.postInbox('r2', signal('a')).id;
      const m1 = store.postInbox('r1', signal('a')).id;
      store.postInbox('r2', signal('b'));
      store.postInbox('r4', signal('a'));
      store.postInbox('r5', signal('a'));
      store.append('r5', 1, [blocked(2)]); // blocked: not driven, not listed
      expect(store.runsWithPendingInbox()).toEqual(['r2', 'r1', 'r4']);
      store.append('r2', 1, [received(2, m2)]);
      expect(store.runsWithPendingInbox()).toEqual(['r1', 'r2', 'r4']);
      store.append('r1', 1, [received(2, m1), progress(3)]);
      store.append('r4', 1, [cancelled(2)]); // ended: its message will never be delivered
      expect(store.runsWithPendingInbox()).toEqual(['r2']);
      expect(store.pendingInbox('r4')).toHaveLength(1);
    });
  });

  describe('listing with cursors', () => {
    const ids = (f?: RunFilter) => store.listRuns(f).map((r) => r.runId);

    /** Every page of `pageSize` runs under `filter`, following cursors to the end. */
    function pages(pageSize: number, filter: RunFilter = {}): RunRecord[][] {
      const out: RunRecord[][] = [];
      let after: string | undefined;
      for (let guard = 0; guard < 100; guard++) {
        const page = store.listRuns({ ...filter, limit: pageSize, ...(after !== undefined ? { after } : {}) });
        if (page.length === 0) return out;
        out.push(page);
        after = runCursor(page[page.length - 1]!);
      }
      throw new Error('paging did not end');
    }

    it('pages through 25 runs that started at the same time, each once, in order', () => {
      // Created in shuffled order; ids that sort differently by UTF-16 and by code point included.
      const runIds = Array.from({ length: 22 }, (_, i) => `run-${String(i).padStart(2, '0')}`).concat(['run-\u{1F600}', 'run-\uFFFD', 'run-:colon']);
      const shuffled = runIds.map((_, i) => runIds[(i * 11) % runIds.length]!);
      for (const id of shuffled) store.createRun(started(id, 5000));
      const got = pages(7);
      expect(got.map((p) => p.length)).toEqual([7, 7, 7, 4]);
      const flat = got.flat().map((r) => r.runId);
      expect(new Set(flat).size).toBe(25);
      expect(flat).toEqual(ids());
      // Newest first, ties by runId descending in code-point order (as SQLite's BINARY collation).
      const byCodePoint = [...runIds].sort((a, b) => {
        const x = [...a].map((c) => c.codePointAt(0)!);
        const y = [...b].map((c) => c.codePointAt(0)!);
        for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return y[i]! - x[i]!;
        return y.length - x.length;
      });
      expect(flat).toEqual(byCodePoint);
      expect(flat.slice(0, 3)).toEqual(['run-\u{1F600}', 'run-\uFFFD', 'run-:colon']);
    });

    it('pages through runs of mixed start times with filters, and the cursor of a page end stays valid as runs are added', () => {
      for (let i = 0; i < 30; i++) store.createRun(started(`r${String(i).padStart(2, '0')}`, 1000 + Math.floor(i / 4) * 10, { workflow: i % 3 === 0 ? 'etl' : 'train' }));
      const all = ids();
      expect(all[0]).toBe('r29');
      expect(pages(4).flat().map((r) => r.runId)).toEqual(all);
      const etl = pages(3, { workflow: 'etl' }).flat().map((r) => r.runId);
      expect(etl).toEqual(all.filter((id) => Number(id.slice(1)) % 3 === 0));
      const first = store.listRuns({ limit: 5 });
      // A newer run does not shift the next page.
      store.createRun(started('r99', 9999));
      expect(ids({ after: runCursor(first[4]!), limit: 5 })).toEqual(all.slice(5, 10));
      expect(ids({ after: runCursor(store.listRuns().at(-1)!) })).toEqual([]);
    });

    it('makes opaque cursors and refuses ones it did not make', () => {
      store.createRun(started('a:b/c é', 1234));
      const cursor = runCursor(store.getRun('a:b/c é')!);
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(ids({ after: cursor })).toEqual([]);
      for (const bad of ['', 'not a cursor', '!!!', Buffer.from('x:run').toString('base64url'), Buffer.from('12').toString('base64url'), `${cursor}=`]) {
        const err = thrown(UsageError, () => store.listRuns({ after: bad }));
        expect(err.message).toBe(`invalid run cursor ${JSON.stringify(bad)}: pass the cursor a listing of runs gave`);
      }
    });

    it('filters by search (case-insensitive substring of runId or workflow), since and until', () => {
      store.createRun(started('Alpha-1', 1000, { workflow: 'ETL-daily' }));
      store.createRun(started('beta-2', 2000, { workflow: 'train' }));
      store.createRun(started('gamma-3', 3000, { workflow: 'Train_Big' }));
      store.createRun(started('delta%4', 4000, { workflow: 'ÉTÉ' }));
      expect(ids({ search: 'ALP' })).toEqual(['Alpha-1']);
      expect(ids({ search: 'etl' })).toEqual(['Alpha-1']);
      expect(ids({ search: 'TRAIN' })).toEqual(['gamma-3', 'beta-2']);
      expect(ids({ search: 'a-' })).toEqual(['gamma-3', 'beta-2', 'Alpha-1']);
      expect(ids({ search: '' })).toEqual(['delta%4', 'gamma-3', 'beta-2', 'Alpha-1']);
      // Literal text, not a pattern.
      expect(ids({ search: '%' })).toEqual(['delta%4']);
      expect(ids({ search: '_' })).toEqual(['gamma-3']);
      expect(ids({ search: 'a%' })).toEqual(['delta%4']);
      expect(ids({ search: 'été' })).toEqual(['delta%4']);
      expect(ids({ search: 'nothing' })).toEqual([]);
      expect(ids({ since: 2000 })).toEqual(['delta%4', 'gamma-3', 'beta-2']);
      expect(ids({ until: 3000 })).toEqual(['beta-2', 'Alpha-1']);
      expect(ids({ since: 2000, until: 4000 })).toEqual(['gamma-3', 'beta-2']);
      expect(ids({ since: 2000, until: 2000 })).toEqual([]);
      expect(ids({ search: 'a', until: 4000, workflow: 'train' })).toEqual(['beta-2']);
      store.append('beta-2', 1, [completed(2500)]);
      expect(ids({ search: 'A', status: 'running' })).toEqual(['delta%4', 'gamma-3', 'Alpha-1']);
      const page = store.listRuns({ search: 'a', limit: 2 });
      expect(ids({ search: 'a', after: runCursor(page[1]!) })).toEqual(['beta-2', 'Alpha-1']);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// SQLite only

describe('SqliteEventStore: two stores on one file, reopening, migration', () => {
  const open: SqliteEventStore[] = [];
  const track = (s: SqliteEventStore): SqliteEventStore => (open.push(s), s);
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });

  it('of two creators with the same key, exactly one succeeds, though both looked first', () => {
    const path = freshPath();
    const a = track(openSqliteStore(path));
    const b = track(openSqliteStore(path));
    // Both check, find nothing, and create: the store, not the check, decides.
    expect(a.runByIdempotencyKey('k')).toBeUndefined();
    expect(b.runByIdempotencyKey('k')).toBeUndefined();
    a.createRun(started('run-a'), { owner: 'wa', leaseMs: 60_000 }, 'k');
    const err = thrown(DuplicateRunError, () => b.createRun(started('run-b'), { owner: 'wb', leaseMs: 60_000 }, 'k'));
    expect(err.existingRunId).toBe('run-a');
    expect(b.runByIdempotencyKey('k')!.runId).toBe('run-a');
    expect(b.getRun('run-b')).toBeUndefined();
    expect(a.listRuns().map((r) => r.runId)).toEqual(['run-a']);
    // And the same run id from the other store.
    expect(thrown(DuplicateRunError, () => b.createRun(started('run-a'))).existingRunId).toBe('run-a');
  });

  it('of several processes creating runs with the same key at once, exactly one succeeds', async () => {
    const path = freshPath();
    openSqliteStore(path).close();
    const go = join(root, `go-${++dbCounter}`);
    const script = join(root, `creator-${dbCounter}.ts`);
    writeFileSync(
      script,
      `import { existsSync } from 'node:fs';
import { openSqliteStore } from ${JSON.stringify(resolve('src/engine/store/index.js'))};
const [path, go, runId] = process.argv.slice(2);
const store = openSqliteStore(path);
store.runByIdempotencyKey('same-key');
while (!existsSync(go)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
try {
  store.createRun({ kind: 'RunStarted', at: 1, runId, workflow: 'w', file: 'w.star', scriptDigest: 'd', args: [], kwargs: {}, env: {}, seed: 's', attempt: 1 }, undefined, 'same-key');
  console.log(JSON.stringify({ ok: true }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, name: err.name, code: err.code, existing: err.existingRunId }));
}
store.close();
`,
    );
    const n = 6;
    const results = Promise.all(
      Array.from({ length: n }, (_, i) => {
        return new Promise<{ ok: boolean; name?: string; code?: string; existing?: string }>((res, rej) => {
          const p = spawn(process.execPath, [resolve('node_modules/vite-node/vite-node.mjs'), script, path, go, `p${i}`], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          p.stdout.on('data', (d: Buffer) => (out += d.toString()));
          p.stderr.on('data', (d: Buffer) => (err += d.toString()));
          p.on('exit', (code) => {
            const line = out.trim().split('\n').pop() ?? '';
            try {
              res(JSON.parse(line) as { ok: boolean });
            } catch {
              rej(new Error(`creator ${i} exited ${code}: ${out}${err}`));
            }
          });
        });
      }),
    );
    // Let them all start and reach the barrier, then release them together.
    await new Promise((r) => setTimeout(r, 1500));
    writeFileSync(go, '');
    const got = await results;
    const winners = got.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    const store = track(openSqliteStore(path));
    const winner = store.runByIdempotencyKey('same-key')!.runId;
    expect(store.listRuns().map((r) => r.runId)).toEqual([winner]);
    expect(got.filter((r) => !r.ok)).toEqual(Array.from({ length: n - 1 }, () => ({ ok: false, name: 'DuplicateRunError', code: 'duplicate', existing: winner })));
  }, 60_000);

  it('keeps keys, inbox messages and their consumption across close and reopen, and ids keep increasing', () => {
    const path = freshPath();
    const a = openSqliteStore(path);
    a.createRun(started('r1'), undefined, 'k1');
    const m1 = a.postInbox('r1', signal('one', { x: 1 }, 's1')).id;
    const m2 = a.postInbox('r1', signal('two', [1, 'é'])).id;
    a.append('r1', 1, [received(2, m1)]);
    a.close();
    const b = track(openSqliteStore(path));
    expect(b.runByIdempotencyKey('k1')).toMatchObject({ runId: 'r1', idempotencyKey: 'k1' });
    expect(b.pendingInbox('r1')).toMatchObject([{ id: m2, name: 'two', payload: [1, 'é'] }]);
    expect(b.postInbox('r1', signal('one', null, 's1'))).toEqual({ id: m1, duplicate: true });
    expect(b.postInbox('r1', signal('three')).id).toBeGreaterThan(m2);
    expect(thrown(StoreError, () => b.append('r1', 2, [received(3, m1)])).code).toBe('inbox');
  });

  it('does not reuse an inbox id after rows are deleted (AUTOINCREMENT)', () => {
    const path = freshPath();
    const s = track(openSqliteStore(path));
    s.createRun(started('r1'));
    const last = s.postInbox('r1', signal('a')).id;
    const db = new Database(path);
    db.prepare('DELETE FROM inbox').run();
    db.close();
    expect(s.postInbox('r1', signal('b')).id).toBeGreaterThan(last);
  });

  describe('migration from schema v2', () => {
    /** Schema v2 exactly as larkflow wrote it before v3 (migrations 1 and 2), written by hand. */
    const V2_SCHEMA = `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, file TEXT NOT NULL, status TEXT NOT NULL,
        started_at INTEGER NOT NULL, ended_at INTEGER, parent_run_id TEXT, resumed_from TEXT, last_seq INTEGER NOT NULL
      );
      CREATE INDEX runs_by_started ON runs (started_at);
      CREATE INDEX runs_by_status ON runs (status, started_at);
      CREATE INDEX runs_by_workflow ON runs (workflow, started_at);
      CREATE TABLE events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (run_id, seq));
      CREATE TABLE scripts (digest TEXT PRIMARY KEY, files TEXT NOT NULL);
      ALTER TABLE runs ADD COLUMN owner TEXT;
      ALTER TABLE runs ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE runs ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
      INSERT INTO meta (key, value) VALUES ('schema_version', '2'), ('history_schema_version', '1');
    `;

    /** A v2 database with runs as v2 larkflow left them: one ended, one running and leased, one waiting. */
    function v2Database(): string {
      const path = freshPath();
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.exec(V2_SCHEMA);
      const insertRun = db.prepare('INSERT INTO runs (run_id, workflow, file, status, started_at, ended_at, last_seq, owner, epoch, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
      const insertEvent = db.prepare('INSERT INTO events (run_id, seq, kind, at, body) VALUES (?, ?, ?, ?, ?)');
      const event = (runId: string, seq: number, e: object) => insertEvent.run(runId, seq, (e as { kind: string }).kind, (e as { at: number }).at, JSON.stringify({ ...e, seq }));
      insertRun.run('old-done', 'etl', 'etl.star', 'completed', 100, 150, 2, 'w0', 1, 0);
      event('old-done', 1, started('old-done', 100, { workflow: 'etl', file: 'etl.star' }));
      event('old-done', 2, completed(150));
      insertRun.run('old-run', 'train', 'wf.star', 'running', 200, null, 1, 'w1', 3, 9_999_999_999_999);
      event('old-run', 1, started('old-run', 200, { workflow: 'train' }));
      event('old-run', 2, progress(210)); // runs.last_seq lags while a run runs (v2 did the same)
      insertRun.run('old-same-time', 'train', 'wf.star', 'running', 200, null, 1, null, 0, 0);
      event('old-same-time', 1, started('old-same-time', 200, { workflow: 'train' }));
      db.close();
      return path;
    }

    it('migrates a v2 database in place: its runs, histories and leases stay, and the new features work', () => {
      const path = v2Database();
      const s = track(openSqliteStore(path));
      const meta = new Database(path, { readonly: true });
      try {
        expect(meta.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe(String(SCHEMA_VERSION));
        expect(SCHEMA_VERSION).toBe(5);
        const indexes = meta.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all();
        expect(indexes).toEqual(['inbox_by_key', 'inbox_pending', 'outbox_by_status', 'outbox_due', 'runs_by_idempotency_key', 'runs_by_started_id', 'runs_by_status', 'runs_by_workflow', 'runs_claimable']);
      } finally {
        meta.close();
      }
      expect(s.getRun('old-done')).toEqual({ runId: 'old-done', workflow: 'etl', file: 'etl.star', status: 'completed', startedAt: 100, endedAt: 150, lastSeq: 2 });
      expect(s.getRun('old-run')).toEqual({ runId: 'old-run', workflow: 'train', file: 'wf.star', status: 'running', startedAt: 200, lastSeq: 2 });
      expect(s.history('old-run').map((e) => e.kind)).toEqual(['RunStarted', 'ProgressReported']);
      expect(s.leaseOf('old-run')).toMatchObject({ owner: 'w1', epoch: 3 });
      expect(s.listRuns().map((r) => r.runId)).toEqual(['old-same-time', 'old-run', 'old-done']);
      expect(s.unfinishedRuns().map((r) => r.runId)).toEqual(['old-run', 'old-same-time']);
      // New features on old runs.
      const page = s.listRuns({ limit: 1 });
      expect(s.listRuns({ after: runCursor(page[0]!) }).map((r) => r.runId)).toEqual(['old-run', 'old-done']);
      expect(s.listRuns({ search: 'TRAIN', until: 300 }).map((r) => r.runId)).toEqual(['old-same-time', 'old-run']);
      const { id } = s.postInbox('old-run', signal('go', 1, 'once'));
      expect(thrown(StoreError, () => s.postInbox('old-done', signal('go'))).code).toBe('ended');
      expect(s.runsWithPendingInbox()).toEqual(['old-run']);
      s.append('old-run', 2, [received(220, id)], { owner: 'w1', epoch: 3 });
      expect(s.pendingInbox('old-run')).toEqual([]);
      expect(s.runByIdempotencyKey('once')).toBeUndefined();
      s.createRun(started('new', 300), undefined, 'k');
      expect(thrown(DuplicateRunError, () => s.createRun(started('new2', 300), undefined, 'k')).existingRunId).toBe('new');
      expect(thrown(DuplicateRunError, () => s.createRun(started('old-done', 300))).existingRunId).toBe('old-done');
      // Reopening a migrated file migrates nothing again.
      s.close();
      const again = track(openSqliteStore(path));
      expect(again.listRuns().map((r) => r.runId)).toEqual(['new', 'old-same-time', 'old-run', 'old-done']);
    });

    it('leaves a v2 database whole at v2 when the migration cannot run', () => {
      const path = v2Database();
      // Something in the way of the v3 migration: it must roll back whole.
      const db = new Database(path);
      db.exec('CREATE TABLE inbox (x)');
      db.close();
      const err = thrown(StoreError, () => openSqliteStore(path));
      expect(err.message).toBe(
        `cannot migrate database ${path} from schema v2 to v3 (idempotency keys of runs, run inboxes (signals), keyset listing of runs): table inbox already exists; the database is unchanged`,
      );
      const raw = new Database(path, { readonly: true });
      try {
        expect(raw.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe('2');
        expect(raw.prepare("SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'idempotency_key'").pluck().get()).toBe(0);
        expect(raw.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'runs_by_started'").pluck().get()).toBe(1);
        expect(raw.prepare('SELECT count(*) FROM runs').pluck().get()).toBe(3);
      } finally {
        raw.close();
      }
    });

    it('refuses a database of the next schema version, and leaves it alone', () => {
      const path = freshPath();
      openSqliteStore(path).close();
      const db = new Database(path);
      db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION + 1));
      db.close();
      const before = readFileSync(path);
      expect(thrown(StoreError, () => openSqliteStore(path)).message).toBe(`database ${path} was written by a newer larkflow (schema v${SCHEMA_VERSION + 1}); upgrade larkflow`);
      expect(readFileSync(path).equals(before)).toBe(true);
    });
  });
});
