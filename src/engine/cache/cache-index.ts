/**
 * This file defines the cache index: which task results are cached under which keys, until when.
 * `SqliteCacheIndex` keeps it in a SQLite file of its own (`.larkflow/cache.db`, WAL), apart from the
 * run histories, so that clearing the cache never touches a history and a history never depends on
 * the cache (a hit is recorded in history as its own event, with the result). `MemoryCacheIndex` is
 * the same contract in memory, for tests and `--no-persist` runs.
 *
 * Rules every index keeps, and the engine relies on:
 * - TTL is enforced on lookup: an entry whose `expiresAt` is at or before `now` is a miss, whether or
 *   not `prune` has removed it yet (Uniflow documents a 28-day TTL that it never enforces).
 * - Only successful attempts are ever put. The index cannot tell a failure from a result, so this is
 *   the engine's duty: it puts an entry after a `TaskCompleted` with `source: 'executed'` has
 *   committed, never for `AttemptFailed`/`TaskFailed`, nor for a result that came from the cache.
 * - A result may be a blob marker (`{"$blob": digest, "size", "uri"}`); the index stores the marker,
 *   never the blob, and removing an entry leaves the blob (a history may refer to it).
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from '../core/errors.js';
import type { Json } from '../core/json.js';

/** A cached task result. Times are engine clock ms since the epoch. */
export interface CacheEntry {
  /** The cache key (cache-key.ts). */
  readonly key: string;
  /** The task name, for listing and `larkflow cache rm --task`. */
  readonly task: string;
  /** The task's result as history JSON, or a blob marker when it was offloaded. */
  readonly result: Json;
  /** Size of the result in bytes: its canonical JSON, or the blob's size when offloaded. */
  readonly size: number;
  readonly createdAt: number;
  /** The entry is a miss from this time on. */
  readonly expiresAt: number;
  /** Lookups that were used as hits (`recordHit`). */
  readonly hits: number;
  /** Time of the last recorded hit, if any. */
  readonly lastHitAt?: number;
  /** The run and step whose successful attempt produced the result. */
  readonly runId: string;
  readonly stepId: string;
}

/** A new entry: `hits` starts at 0. */
export type NewCacheEntry = Omit<CacheEntry, 'hits' | 'lastHitAt'>;

/** The cache's index of entries. All methods are synchronous (like the event store). */
export interface CacheIndex {
  /** The live entry under `key`; undefined if there is none or it has expired (`expiresAt <= now`). */
  lookup(key: string, now: number): CacheEntry | undefined;
  /** Adds the entry, replacing any under the same key (a refreshed result; its hits restart at 0). */
  put(entry: NewCacheEntry): void;
  /** Counts a hit on `key` (no-op if it is gone). */
  recordHit(key: string, now: number): void;
  /** Entries, expired ones included, newest first; only those of `task` if given. */
  list(filter?: { readonly task?: string }): CacheEntry[];
  /** Removes the entry; true if there was one. */
  remove(key: string): boolean;
  /** Removes every entry of `task`; returns how many. */
  removeTask(task: string): number;
  /** Removes every expired entry (`expiresAt <= now`); returns how many. */
  prune(now: number): number;
  close(): void;
}

function checkEntry(e: NewCacheEntry): void {
  if (typeof e.key !== 'string' || e.key === '') throw new StoreError('cannot cache a result without a key');
  for (const [name, v] of [['createdAt', e.createdAt], ['expiresAt', e.expiresAt], ['size', e.size]] as const) {
    if (!Number.isSafeInteger(v)) throw new StoreError(`cannot cache the result of ${e.task} (${e.key}): ${name} must be an integer, not ${v}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Memory

/** The cache index in memory. */
export class MemoryCacheIndex implements CacheIndex {
  private readonly entries = new Map<string, CacheEntry>();
  private closed = false;

  lookup(key: string, now: number): CacheEntry | undefined {
    this.check();
    const e = this.entries.get(key);
    return e !== undefined && e.expiresAt > now ? e : undefined;
  }

  put(entry: NewCacheEntry): void {
    this.check();
    checkEntry(entry);
    this.entries.delete(entry.key); // re-inserted last: newest
    this.entries.set(entry.key, { ...entry, result: structuredClone(entry.result), hits: 0 });
  }

  recordHit(key: string, now: number): void {
    this.check();
    const e = this.entries.get(key);
    if (e !== undefined) this.entries.set(key, { ...e, hits: e.hits + 1, lastHitAt: now });
  }

  list(filter: { readonly task?: string } = {}): CacheEntry[] {
    this.check();
    return [...this.entries.values()].filter((e) => filter.task === undefined || e.task === filter.task).sort((a, b) => b.createdAt - a.createdAt);
  }

  remove(key: string): boolean {
    this.check();
    return this.entries.delete(key);
  }

  removeTask(task: string): number {
    return this.removeWhere((e) => e.task === task);
  }

  prune(now: number): number {
    return this.removeWhere((e) => e.expiresAt <= now);
  }

  close(): void {
    this.closed = true;
  }

  private removeWhere(pred: (e: CacheEntry) => boolean): number {
    this.check();
    let n = 0;
    for (const [k, e] of this.entries) {
      if (pred(e)) {
        this.entries.delete(k);
        n++;
      }
    }
    return n;
  }

  private check(): void {
    if (this.closed) throw new StoreError('the cache index is closed');
  }
}

// ---------------------------------------------------------------------------------------------
// SQLite

/** Version of the cache database's schema, kept in its `meta` table. */
export const CACHE_SCHEMA_VERSION = 1;

/** Marks the database as larkflow's cache, not a run database or someone else's. */
const CACHE_KIND = 'larkflow-cache';

const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE cache_entries (
  key         TEXT PRIMARY KEY,
  task        TEXT NOT NULL,
  result      TEXT NOT NULL,
  size        INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  hits        INTEGER NOT NULL DEFAULT 0,
  last_hit_at INTEGER,
  run_id      TEXT NOT NULL,
  step_id     TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX cache_entries_task ON cache_entries (task, created_at);
CREATE INDEX cache_entries_expiry ON cache_entries (expires_at);
`;

interface EntryRow {
  key: string;
  task: string;
  result: string;
  size: number;
  created_at: number;
  expires_at: number;
  hits: number;
  last_hit_at: number | null;
  run_id: string;
  step_id: string;
}

/** Options of `openSqliteCacheIndex`. */
export interface SqliteCacheIndexOptions {
  /**
   * How long a statement waits for another process's write lock, in milliseconds.
   * @default 5000
   */
  readonly busyTimeoutMs?: number;
}

/**
 * Opens (creating it and its directory if need be) the cache database at `path`, e.g.
 * `.larkflow/cache.db`. `':memory:'` gives a private in-memory database.
 * @throws StoreError if the file cannot be opened, is not a larkflow cache database (a run database
 *   included), or was written by a newer larkflow; the message names the file
 */
export function openSqliteCacheIndex(path: string, options: SqliteCacheIndexOptions = {}): SqliteCacheIndex {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) throw new StoreError(`cannot open cache database ${path}: busyTimeoutMs must be a non-negative integer, not ${busyTimeoutMs}`);
  const inMemory = path === ':memory:';
  if (!inMemory) {
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      // Missing: SQLite creates it.
    }
    if (isDir) throw new StoreError(`cannot open cache database ${path}: it is a directory`);
    try {
      mkdirSync(dirname(resolve(path)), { recursive: true });
    } catch (err) {
      throw new StoreError(`cannot create the directory of cache database ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  let db: Database.Database;
  try {
    db = new Database(path, { timeout: busyTimeoutMs });
  } catch (err) {
    throw new StoreError(`cannot open cache database ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    const tables = db.prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all();
    if (tables.length > 0) {
      const kind = tables.includes('meta') ? db.prepare<[], string>("SELECT value FROM meta WHERE key = 'kind'").pluck().get() : undefined;
      if (kind !== CACHE_KIND) {
        throw new StoreError(`cannot use ${path} as the cache database: it is not a larkflow cache database (it holds tables ${tables.slice(0, 5).join(', ')}); the cache needs a file of its own, e.g. .larkflow/cache.db`);
      }
      const version = Number(db.prepare<[], string>("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get());
      if (version > CACHE_SCHEMA_VERSION) throw new StoreError(`cannot use cache database ${path}: it was written by a newer larkflow (cache schema ${version}, this one knows ${CACHE_SCHEMA_VERSION}); upgrade larkflow or delete the file (it only holds the cache)`);
    }
    if (!inMemory) {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new StoreError(`cannot use cache database ${path}: SQLite would not switch it to WAL mode (it stays in ${String(mode)} mode); put it on a local disk`);
    }
    db.pragma('synchronous = NORMAL');
    if (tables.length === 0) {
      db.transaction(() => {
        // Another process may have created it between our look and this IMMEDIATE transaction.
        const again = db.prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'cache_entries'").pluck().get();
        if (again !== undefined) return;
        db.exec(SCHEMA);
        db.prepare('INSERT INTO meta (key, value) VALUES (?, ?), (?, ?)').run('kind', CACHE_KIND, 'schema_version', String(CACHE_SCHEMA_VERSION));
      }).immediate();
    }
    return new SqliteCacheIndex(db, path);
  } catch (err) {
    try {
      db.close();
    } catch {
      // Already failing; report the first error.
    }
    if (err instanceof StoreError) throw err;
    throw new StoreError(`cannot open cache database ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** The cache index in a SQLite file of its own. Create it with `openSqliteCacheIndex`. */
export class SqliteCacheIndex implements CacheIndex {
  private readonly stmts: {
    lookup: Database.Statement<[string, number], EntryRow>;
    put: Database.Statement<[string, string, string, number, number, number, string, string]>;
    hit: Database.Statement<[number, string]>;
    listAll: Database.Statement<[], EntryRow>;
    listTask: Database.Statement<[string], EntryRow>;
    remove: Database.Statement<[string]>;
    removeTask: Database.Statement<[string]>;
    prune: Database.Statement<[number]>;
  };

  /** @internal use `openSqliteCacheIndex` */
  constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    this.stmts = {
      lookup: db.prepare('SELECT * FROM cache_entries WHERE key = ? AND expires_at > ?'),
      put: db.prepare('INSERT OR REPLACE INTO cache_entries (key, task, result, size, created_at, expires_at, hits, last_hit_at, run_id, step_id) VALUES (?, ?, ?, ?, ?, ?, 0, NULL, ?, ?)'),
      hit: db.prepare('UPDATE cache_entries SET hits = hits + 1, last_hit_at = ? WHERE key = ?'),
      listAll: db.prepare('SELECT * FROM cache_entries ORDER BY created_at DESC, key'),
      listTask: db.prepare('SELECT * FROM cache_entries WHERE task = ? ORDER BY created_at DESC, key'),
      remove: db.prepare('DELETE FROM cache_entries WHERE key = ?'),
      removeTask: db.prepare('DELETE FROM cache_entries WHERE task = ?'),
      prune: db.prepare('DELETE FROM cache_entries WHERE expires_at <= ?'),
    };
  }

  lookup(key: string, now: number): CacheEntry | undefined {
    const row = this.run('look up a cache entry', () => this.stmts.lookup.get(key, now));
    if (row === undefined) return undefined;
    try {
      return toEntry(row, this.path);
    } catch (err) {
      // A damaged entry is a miss: it is removed, and the task runs.
      process.emitWarning(`larkflow: ${(err as Error).message}; removed it`);
      this.remove(key);
      return undefined;
    }
  }

  put(entry: NewCacheEntry): void {
    checkEntry(entry);
    const e = entry;
    this.run(`cache the result of ${e.task}`, () => this.stmts.put.run(e.key, e.task, JSON.stringify(e.result), e.size, e.createdAt, e.expiresAt, e.runId, e.stepId));
  }

  recordHit(key: string, now: number): void {
    this.run('record a cache hit', () => this.stmts.hit.run(now, key));
  }

  list(filter: { readonly task?: string } = {}): CacheEntry[] {
    const rows = this.run('list cache entries', () => (filter.task === undefined ? this.stmts.listAll.all() : this.stmts.listTask.all(filter.task!)));
    // A damaged entry is listed with a null result (so that `cache rm` can still name it).
    return rows.map((r) => {
      try {
        return toEntry(r, this.path);
      } catch {
        return toEntry({ ...r, result: 'null' }, this.path);
      }
    });
  }

  remove(key: string): boolean {
    return this.run('remove a cache entry', () => this.stmts.remove.run(key).changes > 0);
  }

  removeTask(task: string): number {
    return this.run(`remove the cache entries of ${task}`, () => this.stmts.removeTask.run(task).changes);
  }

  prune(now: number): number {
    return this.run('prune the cache', () => this.stmts.prune.run(now).changes);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private run<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot ${what} in ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }
}

function toEntry(r: EntryRow, path: string): CacheEntry {
  let result: Json;
  try {
    result = JSON.parse(r.result) as Json;
  } catch (err) {
    throw new StoreError(`cache entry ${r.key} in ${path} is damaged: its result is not JSON`, { cause: err });
  }
  return {
    key: r.key,
    task: r.task,
    result,
    size: r.size,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    hits: r.hits,
    ...(r.last_hit_at !== null ? { lastHitAt: r.last_hit_at } : {}),
    runId: r.run_id,
    stepId: r.step_id,
  };
}
