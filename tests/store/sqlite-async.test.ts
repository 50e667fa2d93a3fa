/**
 * What only the SQLite side of the async store has: schema v5 (migrated in place from v4, counters
 * of old runs counted from their events), counters kept lazily (an append that leaves a running run
 * running writes no `runs` row; the append that changes the status stores them), and counters that
 * stay right when two connections take turns appending to one run.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../src/engine/core/events.js';
import { advanceCounters, NO_COUNTERS } from '../../src/engine/core/run-counters.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/engine/store/schema.js';
import { asyncStoreOf } from '../../src/engine/store/sqlite-async.js';
import { migrate, openSqliteStore } from '../../src/engine/store/sqlite-store.js';
import { blocked, completed, progress, scheduled, started, taskCompleted, taskFailed } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'larkflow-sqlite-async-'));
let n = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));
const freshPath = (): string => {
  const dir = join(root, `db${++n}`);
  mkdirSync(dir);
  return join(dir, 'runs.db');
};

function raw<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const countersRow = (path: string, runId: string) =>
  raw(path, (db) => db.prepare<[string], { counters: string | null; counters_seq: number }>('SELECT counters, counters_seq FROM runs WHERE run_id = ?').get(runId));

describe('SQLite schema v5', () => {
  it('migrates a v4 database in place; counters of its runs are counted from their events', async () => {
    const path = freshPath();
    raw(path, (db) => {
      migrate(db, path, MIGRATIONS.filter((m) => m.version <= 4));
      const event = (runId: string, e: HistoryEvent) => db.prepare('INSERT INTO events (run_id, seq, kind, at, body) VALUES (?, ?, ?, ?, ?)').run(runId, e.seq, e.kind, e.at, JSON.stringify(e));
      db.prepare("INSERT INTO runs (run_id, workflow, file, status, started_at, ended_at, last_seq) VALUES ('old', 'wf', 'wf.star', 'completed', 1, 9, 5)").run();
      const h = [
        { ...started('old', 1), seq: 1 },
        { ...scheduled(2, 'a#1'), seq: 2 },
        { ...taskCompleted(3, 'a#1', 1, 'cache'), seq: 3 },
        { ...scheduled(4, 'b#1'), seq: 4 },
        { ...taskFailed(5, 'b#1', 'nope'), seq: 5 },
      ] as HistoryEvent[];
      for (const e of h) event('old', e);
    });
    const s = asyncStoreOf(openSqliteStore(path));
    try {
      expect(await s.schemaVersion()).toBe(SCHEMA_VERSION);
      expect(SCHEMA_VERSION).toBe(5);
      expect((await s.getRunWithCounters('old'))!.counters).toEqual({ total: 2, done: 2, cacheHits: 1, firstError: { task: 'b', message: 'nope' } });
      expect(await s.listWorkers(1000)).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('writes no runs row while a running run stays running, and stores the counters when its status changes', async () => {
    const path = freshPath();
    const s = asyncStoreOf(openSqliteStore(path));
    try {
      await s.createRun(started('r1'));
      let seq = 1;
      for (let i = 1; i <= 20; i++) {
        await s.append('r1', seq, [scheduled(i, `t#${i}`), taskCompleted(i, `t#${i}`, i, i % 4 === 0 ? 'cache' : 'executed'), progress(i)]);
        seq += 3;
      }
      const modified = raw(path, (db) => db.prepare("SELECT last_seq FROM runs WHERE run_id = 'r1'").pluck().get());
      expect(modified).toBe(1); // untouched since createRun
      expect(countersRow(path, 'r1')).toEqual({ counters: null, counters_seq: 0 });
      expect((await s.getRunWithCounters('r1'))!.counters).toEqual({ total: 20, done: 20, cacheHits: 5 });
      await s.append('r1', seq, [blocked(100)]);
      seq++;
      expect(countersRow(path, 'r1')).toEqual({ counters: JSON.stringify({ total: 20, done: 20, cacheHits: 5 }), counters_seq: seq });
      await s.append('r1', seq, [scheduled(101, 'x#1'), taskFailed(102, 'x#1', 'late')]);
      seq += 2;
      await s.append('r1', seq, [completed(103)]);
      seq++;
      const want = advanceCounters(NO_COUNTERS, await s.history('r1'));
      expect(want).toEqual({ total: 21, done: 21, cacheHits: 5, firstError: { task: 'x', message: 'late' } });
      expect(countersRow(path, 'r1')).toEqual({ counters: JSON.stringify(want), counters_seq: seq });
      expect((await s.getRunWithCounters('r1'))!.counters).toEqual(want);
    } finally {
      await s.close();
    }
  });

  it('keeps counters right when two connections take turns appending to one run', async () => {
    const path = freshPath();
    const a = openSqliteStore(path);
    const b = openSqliteStore(path);
    try {
      a.createRun(started('r1'));
      a.append('r1', 1, [scheduled(2, 'load#1')]);
      b.append('r1', 2, [taskCompleted(3, 'load#1', 1, 'cache'), scheduled(4, 'train#1')]);
      a.append('r1', 4, [taskFailed(5, 'train#1', 'oom')]); // a's count (from seq 1) no longer lines up
      b.append('r1', 5, [progress(6)]);
      a.append('r1', 6, [completed(7)]);
      const want = advanceCounters(NO_COUNTERS, a.history('r1'));
      expect(want).toEqual({ total: 2, done: 2, cacheHits: 1, firstError: { task: 'train', message: 'oom' } });
      expect(a.counters('r1')).toEqual(want);
      expect(b.counters('r1')).toEqual(want);
      expect(countersRow(path, 'r1')!.counters).toBe(JSON.stringify(want));
    } finally {
      a.close();
      b.close();
    }
  });

  it('group commit takes back a refused batch only', async () => {
    const path = freshPath();
    const s = asyncStoreOf(openSqliteStore(path));
    try {
      await s.createRun(started('a'));
      await s.createRun(started('b'));
      const out = await s.appendMany([
        { runId: 'a', expectedLastSeq: 1, events: [scheduled(2, 'x#1'), completed(3)], lease: { owner: 'w', epoch: 0 } },
        { runId: 'b', expectedLastSeq: 1, events: [progress(2), { ...started('b'), seq: undefined } as never] },
      ]);
      expect(out.get('a')!.ok).toBe(false); // epoch 0 and no owner: fenced
      expect(out.get('b')).toMatchObject({ ok: false, error: { message: 'cannot append to run b: RunStarted may only be the first event of a run' } });
      const ok = await s.appendMany([{ runId: 'a', expectedLastSeq: 1, events: [scheduled(2, 'x#1'), completed(3)] }]);
      expect(ok.get('a')).toMatchObject({ ok: true });
      expect((await s.getRunWithCounters('a'))!.counters).toEqual({ total: 1, done: 0, cacheHits: 0 });
      expect(await s.history('b')).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  it('group commit fails as a whole when the database is busy, writing nothing', async () => {
    const path = freshPath();
    const s = asyncStoreOf(openSqliteStore(path, { busyTimeoutMs: 50 }));
    try {
      await s.createRun(started('a'));
      await s.createRun(started('b'));
      const other = new Database(path);
      try {
        other.exec('BEGIN IMMEDIATE');
        const err = await s.appendMany([
          { runId: 'a', expectedLastSeq: 1, events: [progress(2)] },
          { runId: 'b', expectedLastSeq: 1, events: [progress(2)] },
        ]).then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(Error);
        expect((err as Error).message).toMatch(/^cannot append to 2 runs: database .* failed \(database is locked, SQLITE_BUSY\)/);
        other.exec('ROLLBACK');
      } finally {
        other.close();
      }
      expect(await s.history('a')).toHaveLength(1);
      expect((await s.appendMany([{ runId: 'a', expectedLastSeq: 1, events: [progress(2)] }])).get('a')).toMatchObject({ ok: true });
    } finally {
      await s.close();
    }
  });
});
