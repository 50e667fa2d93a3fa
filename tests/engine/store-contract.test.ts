/**
 * This file is the contract suite of the event stores: one set of tests, run with `describe.each`
 * against the memory store and the SQLite store (on a real file in the temp directory), so that the
 * engine can rely on the same semantics from both. After it come the tests only SQLite has: a
 * reopened file, durability settings, schema migrations, broken files and two writers on one file.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuplicateRunError, StoreError } from '../../src/engine/core/errors.js';
import type { HistoryEvent, NewEvent, RunStarted } from '../../src/engine/core/events.js';
import type { EventStore } from '../../src/engine/core/ports.js';
import { MemoryEventStore, MIGRATIONS, openSqliteStore, SCHEMA_VERSION } from '../../src/engine/store/index.js';
import type { SqliteEventStore } from '../../src/engine/store/index.js';
import { migrate } from '../../src/engine/store/sqlite-store.js';

const root = mkdtempSync(join(tmpdir(), 'larkflow-store-'));
let dbCounter = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fresh database path of its own (in its own directory, with its -wal and -shm files). */
function freshPath(name = 'runs.db'): string {
  const dir = join(root, `db${++dbCounter}`);
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

// ---------------------------------------------------------------------------------------------
// Events built by hand

function started(runId: string, at = 1000, extra: Partial<Omit<RunStarted, 'kind' | 'seq'>> = {}): Omit<RunStarted, 'seq'> {
  return {
    kind: 'RunStarted',
    at,
    runId,
    workflow: 'wf',
    file: 'wf.star',
    scriptDigest: 'digest-1',
    args: [1, 'two'],
    kwargs: { k: { nested: [true, null] } },
    env: { HOME: '/home/x' },
    seed: 'seed-1',
    attempt: 1,
    ...extra,
  };
}

const progress = (at: number, message = 'working'): NewEvent => ({ kind: 'ProgressReported', at, message });
const completed = (at: number, result: unknown = 42): NewEvent => ({ kind: 'RunCompleted', at, result: result as never });
const failed = (at: number): NewEvent => ({ kind: 'RunFailed', at, error: { kind: 'task', message: 'boom', retryable: false } });
const cancelled = (at: number): NewEvent => ({ kind: 'RunCancelled', at, reason: 'user' });
const blocked = (at: number): NewEvent => ({ kind: 'NondeterminismDetected', at, message: 'script changed', stepId: 'a#1' });
const taskCompleted = (at: number, stepId: string, result: unknown): NewEvent => ({
  kind: 'TaskCompleted',
  at,
  stepId,
  attempt: 1,
  result: result as never,
  source: 'executed',
});

/** An event seen as a plain mutable object, to try to change it. */
const loose = (e: HistoryEvent): Record<string, unknown> => e as unknown as Record<string, unknown>;

/** Runs `fn`, expecting a StoreError; returns it. */
function storeError(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return err as StoreError;
  }
  throw new Error('expected a StoreError, nothing was thrown');
}

// ---------------------------------------------------------------------------------------------
// The contract

interface Harness {
  readonly name: string;
  open(): EventStore;
}

const harnesses: Harness[] = [
  { name: 'MemoryEventStore', open: () => new MemoryEventStore() },
  { name: 'SqliteEventStore', open: () => openSqliteStore(freshPath()) },
];

describe.each(harnesses)('EventStore contract: $name', (harness) => {
  let store: EventStore;
  beforeEach(() => {
    store = harness.open();
  });
  afterEach(() => store.close());

  describe('createRun', () => {
    it('records RunStarted as seq 1 and a running summary', () => {
      const first = store.createRun(started('r1', 1000, { parent: { runId: 'p1', stepId: 'child#1' }, resumedFrom: { runId: 'old1', fromStep: 'b#1' } }));
      expect(first).toEqual({ ...started('r1', 1000, { parent: { runId: 'p1', stepId: 'child#1' }, resumedFrom: { runId: 'old1', fromStep: 'b#1' } }), seq: 1 });
      expect(store.history('r1')).toEqual([first]);
      expect(store.getRun('r1')).toEqual({
        runId: 'r1',
        workflow: 'wf',
        file: 'wf.star',
        status: 'running',
        startedAt: 1000,
        parentRunId: 'p1',
        resumedFrom: 'old1',
        lastSeq: 1,
      });
    });

    it('leaves out the optional summary fields a run does not have', () => {
      store.createRun(started('r1'));
      const run = store.getRun('r1')!;
      expect(Object.keys(run).sort()).toEqual(['file', 'lastSeq', 'runId', 'startedAt', 'status', 'workflow']);
    });

    it('refuses a second run with the same id and keeps the first', () => {
      store.createRun(started('r1', 1000));
      const err = storeError(() => store.createRun(started('r1', 2000, { workflow: 'other' })));
      expect(err.message).toBe('cannot create run r1: a run with this id already exists');
      expect(err.code).toBe('duplicate');
      expect(err).toBeInstanceOf(DuplicateRunError);
      expect((err as DuplicateRunError).existingRunId).toBe('r1');
      expect(store.getRun('r1')).toMatchObject({ workflow: 'wf', startedAt: 1000, lastSeq: 1 });
      expect(store.history('r1')).toHaveLength(1);
    });

    it('refuses a first event that is not RunStarted', () => {
      const bad = { ...started('r1'), kind: 'RunCompleted' } as unknown as Omit<RunStarted, 'seq'>;
      expect(storeError(() => store.createRun(bad)).message).toBe('cannot create run r1: the first event of a run must be RunStarted');
      expect(store.getRun('r1')).toBeUndefined();
    });
  });

  describe('append and history', () => {
    it('assigns consecutive seqs, returns the full events and keeps them in order', () => {
      store.createRun(started('r1'));
      const a = store.append('r1', 1, [progress(1001, 'a'), progress(1002, 'b')]);
      expect(a).toEqual([
        { kind: 'ProgressReported', at: 1001, message: 'a', seq: 2 },
        { kind: 'ProgressReported', at: 1002, message: 'b', seq: 3 },
      ]);
      const b = store.append('r1', 3, [taskCompleted(1003, 'x#1', { deep: [1, { two: 2 }] })]);
      expect(b).toEqual([{ kind: 'TaskCompleted', at: 1003, stepId: 'x#1', attempt: 1, result: { deep: [1, { two: 2 }] }, source: 'executed', seq: 4 }]);
      const h = store.history('r1');
      expect(h.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect(h.slice(1)).toEqual([...a, ...b]);
      expect(store.getRun('r1')!.lastSeq).toBe(4);
    });

    it('reads from a given seq', () => {
      store.createRun(started('r1'));
      store.append('r1', 1, [progress(1), progress(2), progress(3)]);
      expect(store.history('r1', 3).map((e) => e.seq)).toEqual([3, 4]);
      expect(store.history('r1', 5)).toEqual([]);
      expect(store.history('r1', 1)).toHaveLength(4);
    });

    it('keeps the histories of runs apart', () => {
      store.createRun(started('r1'));
      store.createRun(started('r2'));
      store.append('r2', 1, [progress(5, 'only r2')]);
      expect(store.history('r1')).toHaveLength(1);
      expect(store.history('r2').map((e) => e.kind)).toEqual(['RunStarted', 'ProgressReported']);
    });

    it('gives an empty history and no summary for an unknown run', () => {
      expect(store.history('nope')).toEqual([]);
      expect(store.getRun('nope')).toBeUndefined();
    });

    it('refuses a stale expectedLastSeq with the seq it found, and writes nothing', () => {
      store.createRun(started('r1'));
      store.append('r1', 1, [progress(2)]);
      expect(storeError(() => store.append('r1', 1, [progress(3, 'late')])).message).toBe('history of run r1 moved on: expected seq 1, found 2');
      expect(storeError(() => store.append('r1', 7, [progress(3, 'ahead')])).message).toBe('history of run r1 moved on: expected seq 7, found 2');
      expect(store.history('r1')).toHaveLength(2);
      expect(store.getRun('r1')!.lastSeq).toBe(2);
      expect(store.append('r1', 2, [progress(4)])[0]!.seq).toBe(3);
    });

    it('refuses to append to an unknown run', () => {
      expect(storeError(() => store.append('ghost', 1, [progress(1)])).message).toBe('cannot append to run ghost: no such run');
      expect(store.history('ghost')).toEqual([]);
    });

    it('refuses a negative or fractional expectedLastSeq', () => {
      store.createRun(started('r1'));
      expect(storeError(() => store.append('r1', -1, [progress(1)])).message).toBe('cannot append to run r1: expected seq -1 is not a non-negative integer');
      expect(storeError(() => store.append('r1', 1.5, [progress(1)])).message).toMatch(/expected seq 1\.5 is not a non-negative integer/);
    });

    it('checks the seq of an empty append and returns nothing', () => {
      store.createRun(started('r1'));
      expect(store.append('r1', 1, [])).toEqual([]);
      expect(storeError(() => store.append('r1', 0, [])).message).toBe('history of run r1 moved on: expected seq 0, found 1');
      expect(storeError(() => store.append('ghost', 0, [])).message).toBe('cannot append to run ghost: no such run');
      expect(store.getRun('r1')!.lastSeq).toBe(1);
    });

    it('is all or nothing: an event that is not JSON fails the whole append', () => {
      store.createRun(started('r1'));
      const err = storeError(() => store.append('r1', 1, [progress(2), taskCompleted(3, 'x#1', { n: 10n })]));
      expect(err.message).toMatch(/^cannot store event TaskCompleted of run r1: it is not JSON \(.*BigInt.*\)$/);
      expect(store.history('r1')).toHaveLength(1);
      expect(store.getRun('r1')).toMatchObject({ lastSeq: 1, status: 'running' });
      expect(store.append('r1', 1, [progress(2)])[0]!.seq).toBe(2);
    });

    it('refuses RunStarted after the first event, writing nothing', () => {
      store.createRun(started('r1'));
      const again = { ...started('r1'), seq: undefined } as unknown as NewEvent;
      expect(storeError(() => store.append('r1', 1, [progress(2), again])).message).toBe('cannot append to run r1: RunStarted may only be the first event of a run');
      expect(store.history('r1')).toHaveLength(1);
    });

    it('stores values as JSON does: undefined fields vanish', () => {
      store.createRun(started('r1'));
      store.append('r1', 1, [{ kind: 'AttemptStarted', at: 2, stepId: 'a#1', attempt: 1, executor: 'local', handle: 'r1/a#1/1', idempotencyKey: 'r1/a#1/1', logs: undefined }]);
      const e = store.history('r1')[1]!;
      expect('logs' in e).toBe(false);
      expect(e).toEqual({ kind: 'AttemptStarted', at: 2, stepId: 'a#1', attempt: 1, executor: 'local', handle: 'r1/a#1/1', idempotencyKey: 'r1/a#1/1', seq: 2 });
    });
  });

  describe('status', () => {
    it.each([
      ['completed', completed(2000)],
      ['failed', failed(2000)],
      ['cancelled', cancelled(2000)],
    ] as const)('a terminal event makes the run %s and sets endedAt from its time', (status, terminal) => {
      store.createRun(started('r1', 1000));
      store.append('r1', 1, [progress(1500), terminal]);
      expect(store.getRun('r1')).toMatchObject({ status, startedAt: 1000, endedAt: 2000, lastSeq: 3 });
      expect(store.unfinishedRuns()).toEqual([]);
    });

    it('NondeterminismDetected blocks a run without ending it; a later event makes it run again', () => {
      store.createRun(started('r1'));
      store.append('r1', 1, [blocked(1100)]);
      const run = store.getRun('r1')!;
      expect(run.status).toBe('blocked');
      expect(run.endedAt).toBeUndefined();
      store.append('r1', 2, [progress(1200, 'resumed')]);
      expect(store.getRun('r1')).toMatchObject({ status: 'running', lastSeq: 3 });
      store.append('r1', 3, [cancelled(1300)]);
      expect(store.getRun('r1')).toMatchObject({ status: 'cancelled', endedAt: 1300 });
    });

    it('an ended run takes no more events', () => {
      store.createRun(started('r1'));
      store.append('r1', 1, [completed(2000)]);
      expect(storeError(() => store.append('r1', 2, [progress(2100)])).message).toBe(
        'cannot append to run r1: the run has ended (completed); its history takes no more events',
      );
      expect(store.history('r1')).toHaveLength(2);
      expect(store.getRun('r1')).toMatchObject({ status: 'completed', lastSeq: 2, endedAt: 2000 });
    });

    it('a terminal event must be the last of its append', () => {
      store.createRun(started('r1'));
      expect(storeError(() => store.append('r1', 1, [failed(2), progress(3)])).message).toBe(
        'cannot append to run r1: RunFailed ends the run and must be the last event appended',
      );
      expect(store.getRun('r1')).toMatchObject({ status: 'running', lastSeq: 1 });
    });
  });

  describe('listing', () => {
    beforeEach(() => {
      // Created out of time order on purpose; r3 and r4 start at the same time.
      store.createRun(started('r2', 2000, { workflow: 'etl' }));
      store.createRun(started('r1', 1000, { workflow: 'train' }));
      store.createRun(started('r3', 3000, { workflow: 'train' }));
      store.createRun(started('r4', 3000, { workflow: 'etl' }));
      store.createRun(started('r5', 5000, { workflow: 'train' }));
      store.append('r2', 1, [completed(2500)]);
      store.append('r3', 1, [failed(3500)]);
      store.append('r5', 1, [blocked(5100)]);
    });

    it('lists every run newest first, ties in creation order reversed', () => {
      expect(store.listRuns().map((r) => r.runId)).toEqual(['r5', 'r4', 'r3', 'r2', 'r1']);
      expect(store.listRuns({}).map((r) => r.runId)).toEqual(['r5', 'r4', 'r3', 'r2', 'r1']);
    });

    it('filters by status, workflow and start time, and limits', () => {
      const ids = (f: Parameters<EventStore['listRuns']>[0]) => store.listRuns(f).map((r) => r.runId);
      expect(ids({ status: 'running' })).toEqual(['r4', 'r1']);
      expect(ids({ status: 'completed' })).toEqual(['r2']);
      expect(ids({ status: 'blocked' })).toEqual(['r5']);
      expect(ids({ status: 'cancelled' })).toEqual([]);
      expect(ids({ workflow: 'train' })).toEqual(['r5', 'r3', 'r1']);
      expect(ids({ since: 3000 })).toEqual(['r5', 'r4', 'r3']);
      expect(ids({ limit: 2 })).toEqual(['r5', 'r4']);
      expect(ids({ limit: 0 })).toEqual([]);
      expect(ids({ workflow: 'train', since: 2000, limit: 1 })).toEqual(['r5']);
      expect(ids({ workflow: 'etl', status: 'running' })).toEqual(['r4']);
    });

    it('returns whole summaries', () => {
      expect(store.listRuns({ status: 'failed' })).toEqual([
        { runId: 'r3', workflow: 'train', file: 'wf.star', status: 'failed', startedAt: 3000, endedAt: 3500, lastSeq: 2 },
      ]);
    });

    it('lists unfinished runs (running only, not blocked or ended), oldest first', () => {
      expect(store.unfinishedRuns().map((r) => r.runId)).toEqual(['r1', 'r4']);
      store.append('r1', 1, [cancelled(6000)]);
      expect(store.unfinishedRuns().map((r) => r.runId)).toEqual(['r4']);
    });
  });

  describe('scripts', () => {
    const files = [
      { path: 'main.star', text: 'load("lib.star", "f")\nf()\n' },
      { path: 'lib.star', text: 'def f():\n    return "é ☃"\n' },
    ];

    it('stores a bundle under its digest and gives it back', () => {
      store.putScript('d1', files);
      expect(store.getScript('d1')).toEqual(files);
      expect(store.getScript('other')).toBeUndefined();
    });

    it('keeps the first bundle stored under a digest', () => {
      store.putScript('d1', files);
      store.putScript('d1', [{ path: 'x.star', text: 'changed' }]);
      expect(store.getScript('d1')).toEqual(files);
    });

    it('is not changed through the arrays it was given or gave back', () => {
      const mine = files.map((f) => ({ ...f }));
      store.putScript('d1', mine);
      mine[0]!.text = 'mutated';
      mine.pop();
      const got = store.getScript('d1')!;
      got[0] = { path: 'evil.star', text: '' };
      expect(store.getScript('d1')).toEqual(files);
    });
  });

  describe('immutability of history', () => {
    it('is not changed by mutating the events given to it', () => {
      const first = started('r1');
      store.createRun(first);
      (first.kwargs as Record<string, unknown>).k = 'changed';
      const result = { items: [1, 2, 3] };
      store.append('r1', 1, [taskCompleted(2, 'a#1', result)]);
      result.items.push(4);
      const h = store.history('r1');
      expect((h[0] as RunStarted).kwargs).toEqual({ k: { nested: [true, null] } });
      expect((h[1] as { result: unknown }).result).toEqual({ items: [1, 2, 3] });
    });

    it('is not changed by mutating what it returned', () => {
      store.createRun(started('r1'));
      const appended = store.append('r1', 1, [taskCompleted(2, 'a#1', { items: [1, 2] })]);
      const read = store.history('r1');
      const attempts: Array<() => void> = [
        () => ((loose(appended[0]!).result as { items: number[] }).items[0] = 99),
        () => (loose(read[1]!).result as { items: number[] }).items.push(3),
        () => (loose(read[0]!).seq = 7),
        () => ((loose(read[0]!).args as unknown[]).length = 0),
        () => read.pop(),
      ];
      for (const attempt of attempts) {
        try {
          attempt();
        } catch (err) {
          // A store may freeze what it returns; then mutating throws instead.
          expect(err).toBeInstanceOf(TypeError);
        }
      }
      const again = store.history('r1');
      expect(again).toHaveLength(2);
      expect(again[0]).toMatchObject({ seq: 1, args: [1, 'two'] });
      expect((again[1] as { result: unknown }).result).toEqual({ items: [1, 2] });
    });

    it('returns a summary that does not change when the run moves on', () => {
      store.createRun(started('r1'));
      const before = store.getRun('r1')!;
      store.append('r1', 1, [completed(9)]);
      expect(before).toMatchObject({ status: 'running', lastSeq: 1 });
      expect(store.getRun('r1')).toMatchObject({ status: 'completed', lastSeq: 2 });
    });
  });

  describe('close', () => {
    it('is idempotent, and a closed store refuses every call', () => {
      store.createRun(started('r1'));
      store.close();
      store.close();
      const calls: Array<() => unknown> = [
        () => store.createRun(started('r2')),
        () => store.append('r1', 1, [progress(2)]),
        () => store.history('r1'),
        () => store.getRun('r1'),
        () => store.listRuns(),
        () => store.unfinishedRuns(),
        () => store.putScript('d', []),
        () => store.getScript('d'),
      ];
      for (const call of calls) expect(storeError(call).message).toBe('the event store is closed');
    });
  });
});

// ---------------------------------------------------------------------------------------------
// SQLite only

describe('SqliteEventStore', () => {
  const open: SqliteEventStore[] = [];
  const track = (s: SqliteEventStore): SqliteEventStore => (open.push(s), s);
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });

  /** Reads a database with a connection of its own, as another program would. */
  function raw<T>(path: string, fn: (db: Database.Database) => T): T {
    const db = new Database(path);
    try {
      return fn(db);
    } finally {
      db.close();
    }
  }

  it('keeps everything across close and reopen', () => {
    const path = freshPath();
    const a = openSqliteStore(path);
    a.createRun(started('r1', 10));
    a.append('r1', 1, [taskCompleted(11, 'x#1', { ok: [1, 'é', null] }), completed(12, 'done')]);
    a.createRun(started('r2', 20, { parent: { runId: 'r1', stepId: 'c#1' } }));
    a.putScript('d1', [{ path: 'a.star', text: 'x = 1' }]);
    const historyBefore = a.history('r1');
    a.close();

    const b = track(openSqliteStore(path));
    expect(b.history('r1')).toEqual(historyBefore);
    expect(b.getRun('r1')).toEqual({ runId: 'r1', workflow: 'wf', file: 'wf.star', status: 'completed', startedAt: 10, endedAt: 12, lastSeq: 3 });
    expect(b.getRun('r2')).toMatchObject({ status: 'running', parentRunId: 'r1' });
    expect(b.unfinishedRuns().map((r) => r.runId)).toEqual(['r2']);
    expect(b.getScript('d1')).toEqual([{ path: 'a.star', text: 'x = 1' }]);
    expect(b.append('r2', 1, [progress(21)])[0]!.seq).toBe(2);
  });

  it('creates missing parent directories', () => {
    const path = join(root, `nested${++dbCounter}`, 'a', 'b', 'runs.db');
    const s = track(openSqliteStore(path));
    s.createRun(started('r1'));
    expect(statSync(path).isFile()).toBe(true);
  });

  it('uses WAL with synchronous=NORMAL by default, FULL when asked, and a busy timeout', () => {
    const path = freshPath();
    const s = openSqliteStore(path);
    expect(s.settings()).toEqual({ journalMode: 'wal', synchronous: 'NORMAL', busyTimeoutMs: 5000 });
    s.close();
    const full = track(openSqliteStore(path, { synchronous: 'FULL', busyTimeoutMs: 250 }));
    expect(full.settings()).toEqual({ journalMode: 'wal', synchronous: 'FULL', busyTimeoutMs: 250 });
    // WAL is a property of the file: another connection sees it too.
    expect(raw(path, (db) => db.pragma('journal_mode', { simple: true }))).toBe('wal');
  });

  it('writes the schema version and the documented tables', () => {
    const path = freshPath();
    track(openSqliteStore(path)).createRun(started('r1'));
    raw(path, (db) => {
      expect(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe(String(SCHEMA_VERSION));
      const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all();
      expect(tables).toEqual(['events', 'inbox', 'meta', 'outbox', 'runs', 'scripts', 'sqlite_sequence', 'workers']);
      expect(db.prepare('SELECT run_id, seq, kind, at FROM events').all()).toEqual([{ run_id: 'r1', seq: 1, kind: 'RunStarted', at: 1000 }]);
      expect(db.prepare('SELECT status, last_seq, ended_at FROM runs').get()).toEqual({ status: 'running', last_seq: 1, ended_at: null });
    });
  });

  describe('migrations', () => {
    it('migrates a v0 database (a meta table and nothing else) to the current schema', () => {
      const path = freshPath();
      raw(path, (db) => {
        db.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES ('schema_version', '0')");
      });
      const s = track(openSqliteStore(path));
      s.createRun(started('r1'));
      expect(s.history('r1')).toHaveLength(1);
      expect(raw(path, (db) => db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get())).toBe(String(SCHEMA_VERSION));
    });

    it('moves an older database forward, keeping its data', () => {
      const path = freshPath();
      const s = openSqliteStore(path);
      s.createRun(started('r1'));
      s.close();
      const v2 = [...MIGRATIONS, { version: SCHEMA_VERSION + 1, description: 'notes on runs', sql: 'ALTER TABLE runs ADD COLUMN note TEXT' }];
      raw(path, (db) => {
        expect(migrate(db, path, v2)).toBe(SCHEMA_VERSION + 1);
        expect(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe(String(SCHEMA_VERSION + 1));
        expect(db.prepare('SELECT run_id, note FROM runs').all()).toEqual([{ run_id: 'r1', note: null }]);
        // Migrating again does nothing.
        expect(migrate(db, path, v2)).toBe(SCHEMA_VERSION + 1);
      });
    });

    it('rolls a failed migration back whole, leaving the old version', () => {
      const path = freshPath();
      openSqliteStore(path).close();
      const broken = [...MIGRATIONS, { version: SCHEMA_VERSION + 1, description: 'half done', sql: 'CREATE TABLE extra (a); SELECT nonsense FROM nowhere' }];
      raw(path, (db) => {
        const err = storeError(() => migrate(db, path, broken));
        expect(err.message).toBe(
          `cannot migrate database ${path} from schema v${SCHEMA_VERSION} to v${SCHEMA_VERSION + 1} (half done): no such table: nowhere; the database is unchanged`,
        );
        expect(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe(String(SCHEMA_VERSION));
        expect(db.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'extra'").pluck().get()).toBe(0);
      });
    });

    it('refuses a database written by a newer larkflow, and leaves it alone', () => {
      const path = freshPath();
      const s = openSqliteStore(path);
      s.createRun(started('r1'));
      s.close();
      raw(path, (db) => db.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run());
      const before = readFileSync(path);
      const err = storeError(() => openSqliteStore(path));
      expect(err.message).toBe(`database ${path} was written by a newer larkflow (schema v99); upgrade larkflow`);
      expect(readFileSync(path).equals(before)).toBe(true);
    });
  });

  describe('broken files', () => {
    it('refuses a text file, naming it and saying what to do, and leaves it as it was', () => {
      const path = freshPath('notes.txt');
      writeFileSync(path, 'these are my notes, not a database\n'.repeat(20));
      const err = storeError(() => openSqliteStore(path));
      expect(err.message).toBe(`${path} is not a larkflow database (file is not a database); move it aside or pass --db PATH`);
      expect(err.stack).not.toMatch(/SqliteError/);
      expect(readFileSync(path, 'utf8')).toBe('these are my notes, not a database\n'.repeat(20));
    });

    it('refuses random bytes', () => {
      const path = freshPath();
      const bytes = randomBytes(16384);
      writeFileSync(path, bytes);
      expect(storeError(() => openSqliteStore(path)).message).toBe(
        `${path} is not a larkflow database (file is not a database); move it aside or pass --db PATH`,
      );
      expect(readFileSync(path).equals(bytes)).toBe(true);
    });

    it('refuses a truncated database as damaged', () => {
      const path = freshPath();
      const s = openSqliteStore(path);
      s.createRun(started('r1'));
      for (let i = 0; i < 200; i++) s.append('r1', i + 1, [progress(i, 'x'.repeat(500))]);
      s.close(); // checkpoints the WAL into the file
      const whole = readFileSync(path);
      expect(whole.length).toBeGreaterThan(40_000);
      writeFileSync(path, whole.subarray(0, Math.floor(whole.length / 2)));
      expect(storeError(() => openSqliteStore(path)).message).toBe(
        `${path} is a damaged database (database disk image is malformed); restore it from a backup, or move it aside or pass --db PATH`,
      );
    });

    it('refuses a database of some other program, listing its tables', () => {
      const path = freshPath('other.sqlite');
      raw(path, (db) => db.exec('CREATE TABLE users (id INTEGER); CREATE TABLE orders (id INTEGER)'));
      expect(storeError(() => openSqliteStore(path)).message).toBe(
        `${path} is not a larkflow database (it holds tables orders, users but no larkflow meta table); move it aside or pass --db PATH`,
      );
      // Not switched to WAL: opening changed nothing.
      expect(raw(path, (db) => db.pragma('journal_mode', { simple: true }))).toBe('delete');
    });

    it('refuses a meta table without a schema version', () => {
      const path = freshPath();
      raw(path, (db) => db.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('owner', 'someone')"));
      expect(storeError(() => openSqliteStore(path)).message).toBe(
        `${path} is not a larkflow database (its meta table has no schema_version); move it aside or pass --db PATH`,
      );
    });

    it('refuses a meta table of another shape', () => {
      const path = freshPath();
      raw(path, (db) => db.exec('CREATE TABLE meta (a, b)'));
      expect(storeError(() => openSqliteStore(path)).message).toBe(
        `${path} is not a larkflow database (its meta table is not larkflow's); move it aside or pass --db PATH`,
      );
    });

    it('refuses a directory', () => {
      const dir = join(root, `dir${++dbCounter}`);
      mkdirSync(dir);
      expect(storeError(() => openSqliteStore(dir)).message).toBe(`cannot open database ${dir}: it is a directory; pass --db PATH with a file name`);
    });

    it('opens an empty file as a new database', () => {
      const path = freshPath();
      writeFileSync(path, '');
      const s = track(openSqliteStore(path));
      s.createRun(started('r1'));
      expect(s.getRun('r1')!.status).toBe('running');
    });
  });

  describe('two writers on one file', () => {
    it('lets only one of two writers extend the same seq', () => {
      const path = freshPath();
      const a = track(openSqliteStore(path));
      const b = track(openSqliteStore(path));
      a.createRun(started('r1'));
      expect(b.getRun('r1')!.lastSeq).toBe(1);
      a.append('r1', 1, [progress(2, 'from a')]);
      expect(storeError(() => b.append('r1', 1, [progress(2, 'from b')])).message).toBe('history of run r1 moved on: expected seq 1, found 2');
      expect(b.history('r1').map((e) => (e.kind === 'ProgressReported' ? e.message : e.kind))).toEqual(['RunStarted', 'from a']);
      b.append('r1', 2, [progress(3, 'b again')]);
      expect(a.history('r1')).toHaveLength(3);
      expect(storeError(() => a.createRun(started('r1'))).message).toBe('cannot create run r1: a run with this id already exists');
    });

    it('never shows an uncommitted write, and reports a held lock as a StoreError', () => {
      const path = freshPath();
      const s = track(openSqliteStore(path, { busyTimeoutMs: 50 }));
      s.createRun(started('r1'));
      const other = new Database(path);
      try {
        other.exec('BEGIN IMMEDIATE');
        other.prepare("INSERT INTO events (run_id, seq, kind, at, body) VALUES ('r1', 2, 'ProgressReported', 5, '{}')").run();
        other.prepare("UPDATE runs SET last_seq = 2 WHERE run_id = 'r1'").run();
        expect(s.history('r1')).toHaveLength(1);
        expect(s.getRun('r1')!.lastSeq).toBe(1);
        const err = storeError(() => s.append('r1', 1, [progress(3)]));
        expect(err.message).toBe(`cannot append to run r1: database ${path} failed (database is locked, SQLITE_BUSY); nothing of this call was written`);
        other.exec('ROLLBACK');
      } finally {
        other.close();
      }
      expect(s.append('r1', 1, [progress(3)])[0]!.seq).toBe(2);
    });
  });

  it('appends at a useful rate (single-event transactions)', () => {
    const s = track(openSqliteStore(freshPath()));
    s.createRun(started('r1'));
    const n = 3000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) s.append('r1', i + 1, [taskCompleted(i, `t#${i}`, { i })]);
    const seconds = (performance.now() - t0) / 1000;
    // A loose floor (the store does ~25,000/s here): it catches a per-append fsync or history read.
    expect(n / seconds).toBeGreaterThan(2000);
    expect(s.getRun('r1')!.lastSeq).toBe(n + 1);
  });
});
