/**
 * This file defines the durable event store: run histories in one SQLite file, through
 * better-sqlite3. Every append is one IMMEDIATE transaction that checks the run's last event,
 * inserts the events and, only when the run's status changes, updates its summary row, so a history
 * read never shows half an append and two writers (two processes on one file) cannot both extend the
 * same seq. The database runs in WAL mode: `synchronous=NORMAL` (the default) never corrupts the file
 * and loses no committed data on a process crash, while `FULL` also keeps the last commits across a
 * power loss. Appends are on the engine's hot path (≥ 15,000 steps/s, one transaction of about 3
 * events a step), so statements are prepared once, each event is serialized once, and an append
 * that leaves a running run running writes nothing but its events: it reads the event at the
 * expected seq (one primary-key lookup, no page written) instead of updating `runs.last_seq`, which
 * would add a page of the `runs` table to every commit. A run's last seq is therefore read as
 * `max(seq)` of its events (the primary key's last entry); `runs.last_seq` is only brought up to
 * date when the status changes (see schema.ts). The run's counters (run-counters.ts) follow the same
 * rule: stored with the status, as `(counters, counters_seq)`; the store counts each append's few
 * events in memory as they go by, so the append that changes the status writes them without reading
 * the run's events, and a read adds the events after `counters_seq` (counted in SQL).
 *
 * Opening a file checks it before changing it: a file that is not a database, is damaged, or holds
 * some other program's tables is refused with a `StoreError` that says so and what to do, and is
 * left as it was; a larkflow database of an older schema is migrated (schema.ts), one of a newer
 * schema is refused.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { DuplicateRunError, FencedError, StoreError } from '../core/errors.js';
import { HISTORY_SCHEMA_VERSION, isTerminal } from '../core/events.js';
import type { HistoryEvent, NewEvent, RunStatus } from '../core/events.js';
import type { Json } from '../core/json.js';
import type { ClaimResult, EventStore, InboxMessage, InboxPost, LeaseHolder, OutboxFilter, OutboxItem, RunFilter, RunLease, RunRecord, ScriptFile } from '../core/ports.js';
import { advanceCounters, NO_COUNTERS } from '../core/run-counters.js';
import type { RunCounters } from '../core/run-counters.js';
import type { AppendBatch, AppendOutcome, ClaimedRun, WorkerInfo } from './async-store.js';
import { MIGRATIONS, SCHEMA_VERSION, checkHistory, foldCase, inboxIdOf, isEndedStatus, outboxRowsOf, outboxItemOf, parseRunCursor, runRecordOf, runStatusAfter, storeMessages as msg } from './schema.js';
import type { Migration, OutboxRecordRow, RunRecordRow } from './schema.js';

/** Options of `openSqliteStore`. */
export interface SqliteStoreOptions {
  /**
   * SQLite's `synchronous` setting. `NORMAL` (with WAL) keeps every commit across a process crash
   * and may lose the last commits, never the file, on power loss; `FULL` syncs every commit.
   * @default 'NORMAL'
   */
  readonly synchronous?: 'NORMAL' | 'FULL';
  /**
   * How long a statement waits for another process's write lock before failing, in milliseconds.
   * @default 5000
   */
  readonly busyTimeoutMs?: number;
}

type Db = Database.Database;

/** A `runs` row as read for a RunRecord. */
type RunRow = RunRecordRow;

interface InboxRow {
  id: number;
  run_id: string;
  name: string;
  payload: string;
  key: string | null;
  posted_at: number;
}

/** An `outbox` row as SQLite gives it (sink and payload as JSON text). */
type OutboxRow = OutboxRecordRow<string, string>;

const OUTBOX_COLUMNS = 'id, run_id, event, sink_index, sink, payload, key, status, attempts, next_at, last_error, claimed_until, delivered_at, created_at';

/** The parameters of a `listRuns` statement (only those its filter uses are bound). */
interface ListParams {
  status?: string;
  workflow?: string;
  since?: number;
  until?: number;
  search?: string;
  afterAt?: number;
  afterId?: string;
  limit: number;
}

/** The database clock in ms since the epoch: leases compare times on one clock, the database's. */
const DB_NOW = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/** What one connection counted of a run's events in (from, to] (mutable: an append adds to it). */
interface Counting {
  from: number;
  to: number;
  total: number;
  done: number;
  cacheHits: number;
  firstError: RunCounters['firstError'];
}

/** The most runs whose counters `#counting` keeps at once (it starts again when full). */
const MAX_COUNTING = 10_000;

/** The most events one INSERT statement takes (5 parameters each); larger appends use several. */
const MAX_ROWS_PER_INSERT = 16;

/** The run's last seq, from its events: `runs.last_seq` is stale while a run runs (see schema.ts). */
const LAST_SEQ = 'coalesce((SELECT max(seq) FROM events WHERE events.run_id = runs.run_id), runs.last_seq) AS last_seq';
const RUN_COLUMNS = `run_id, workflow, file, status, started_at, ended_at, parent_run_id, resumed_from, ${LAST_SEQ}, idempotency_key`;

/** The SQL function (registered on every connection) that folds case for `RunFilter.search`, as the memory store does. */
const FOLD = 'larkflow_fold';

/**
 * Opens (creating it and its parent directories if need be) the larkflow database at `path`.
 * `':memory:'` gives a private in-memory database.
 * @throws StoreError if the file cannot be opened, is not a larkflow database, is damaged, or was
 *   written by a newer larkflow; the message names the file and says what to do
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteEventStore {
  const synchronous = options.synchronous ?? 'NORMAL';
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  // Both end up in PRAGMA text, so they are checked, not trusted, whatever the types say.
  if (synchronous !== 'NORMAL' && synchronous !== 'FULL') throw new StoreError(`cannot open database ${path}: synchronous must be NORMAL or FULL, not ${String(synchronous)}`);
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) throw new StoreError(`cannot open database ${path}: busyTimeoutMs must be a non-negative integer, not ${busyTimeoutMs}`);
  const inMemory = path === ':memory:';
  if (!inMemory) prepareLocation(path);
  let db: Db;
  try {
    db = new Database(path, { timeout: busyTimeoutMs });
  } catch (err) {
    throw openError(path, err);
  }
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    // Several processes opening a fresh file at once race to create the schema and switch it to WAL;
    // SQLite answers some of those steps with SQLITE_BUSY at once (the busy handler does not cover
    // a journal-mode change), so the opening steps are retried until the busy timeout.
    const version = whileBusy(busyTimeoutMs, () => {
      // Look before writing anything: WAL mode and migrations would change someone else's file.
      const v = inspect(db, path);
      if (!inMemory) {
        const mode = db.pragma('journal_mode = WAL', { simple: true });
        if (mode !== 'wal') throw new StoreError(`cannot use database ${path}: SQLite would not switch it to WAL mode (it stays in ${String(mode)} mode); put it on a local disk or pass --db PATH`);
      }
      return v;
    });
    db.pragma(`synchronous = ${synchronous}`);
    // Checkpoint the WAL every ~40 MiB rather than every ~4 MiB: a step's commit then rarely pays for
    // a checkpoint (measured: 3-event commits about 30% faster). Durability is unchanged.
    if (!inMemory) db.pragma('wal_autocheckpoint = 10000');
    if (version < SCHEMA_VERSION) whileBusy(busyTimeoutMs, () => migrate(db, path));
    return new SqliteEventStore(db, path);
  } catch (err) {
    try {
      db.close();
    } catch {
      // Already failing; the first error is the one to report.
    }
    throw openError(path, err);
  }
}

/** Runs `step`, again after a short pause while SQLite says the database is busy, up to `timeoutMs`. */
function whileBusy<T>(timeoutMs: number, step: () => T): T {
  const until = Date.now() + timeoutMs;
  for (let pause = 2; ; pause = Math.min(pause * 2, 100)) {
    try {
      return step();
    } catch (err) {
      const busy = err instanceof Database.SqliteError && (err.code.startsWith('SQLITE_BUSY') || err.code.startsWith('SQLITE_LOCKED'));
      if (!busy || Date.now() + pause > until) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause + Math.floor(Math.random() * pause));
    }
  }
}

/** Creates the database's directory; refuses a directory given as the database. */
function prepareLocation(path: string): void {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // Missing: SQLite creates it.
  }
  if (isDir) throw new StoreError(`cannot open database ${path}: it is a directory; pass --db PATH with a file name`);
  const dir = dirname(resolve(path));
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new StoreError(`cannot create directory ${dir} for database ${path}: ${(err as Error).message}; check its permissions or pass --db PATH`, { cause: err });
  }
}

/**
 * Reads the schema version of the database, refusing what is not a larkflow database or is newer
 * than this code. An empty database is version 0.
 */
function inspect(db: Db, path: string): number {
  const tables = db.prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all();
  if (tables.length === 0) return 0;
  if (!tables.includes('meta')) {
    const shown = tables.slice(0, 5).join(', ') + (tables.length > 5 ? `, ... (${tables.length} tables)` : '');
    throw notLarkflow(path, `it holds tables ${shown} but no larkflow meta table`);
  }
  let value: unknown;
  try {
    value = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get();
  } catch (err) {
    if (err instanceof Database.SqliteError && err.code === 'SQLITE_ERROR') throw notLarkflow(path, 'its meta table is not larkflow\'s');
    throw err;
  }
  const version = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
  if (version === undefined) throw notLarkflow(path, 'its meta table has no schema_version');
  if (version > SCHEMA_VERSION) throw newerSchema(path, version);
  return version;
}

/**
 * Brings the database up to `SCHEMA_VERSION` (or the last of `migrations`) in one transaction. The
 * version is read again inside the transaction, so two processes opening an old file migrate it
 * once.
 * @throws StoreError if the database is newer than the migrations, or a migration fails (the
 *   database then stays at its old version)
 * @internal exported for the migration tests
 */
export function migrate(db: Db, path: string, migrations: readonly Migration[] = MIGRATIONS): number {
  const target = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
  const run = db.transaction((): number => {
    db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    const stored = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get();
    const from = stored === undefined ? 0 : Number(stored);
    if (from > target) throw newerSchema(path, from);
    const setVersion = db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    for (const m of migrations) {
      if (m.version <= from) continue;
      try {
        db.exec(m.sql);
      } catch (err) {
        throw new StoreError(`cannot migrate database ${path} from schema v${from} to v${m.version} (${m.description}): ${(err as Error).message}; the database is unchanged`, { cause: err });
      }
      setVersion.run(String(m.version));
    }
    db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('history_schema_version', ?)").run(String(HISTORY_SCHEMA_VERSION));
    return Math.max(from, target);
  });
  return run.immediate();
}

function notLarkflow(path: string, why: string): StoreError {
  return new StoreError(`${path} is not a larkflow database (${why}); move it aside or pass --db PATH`);
}

function newerSchema(path: string, version: number): StoreError {
  return new StoreError(`database ${path} was written by a newer larkflow (schema v${version}); upgrade larkflow`);
}

/** Turns whatever opening threw into a `StoreError` that names the file and says what to do. */
function openError(path: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  if (err instanceof Database.SqliteError) {
    const code = err.code;
    if (code === 'SQLITE_NOTADB') return new StoreError(`${path} is not a larkflow database (file is not a database); move it aside or pass --db PATH`, { cause: err });
    if (code.startsWith('SQLITE_CORRUPT')) return new StoreError(`${path} is a damaged database (${err.message}); restore it from a backup, or move it aside or pass --db PATH`, { cause: err });
    if (code.startsWith('SQLITE_CANTOPEN')) return new StoreError(`cannot open database ${path} (${err.message}); check that its directory exists and is writable, or pass --db PATH`, { cause: err });
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return new StoreError(`database ${path} is locked by another process (${err.message}); try again when it is done`, { cause: err });
    if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_PERM') || code.startsWith('SQLITE_AUTH')) return new StoreError(`database ${path} cannot be written (${err.message}); check its permissions or pass --db PATH`, { cause: err });
    if (code.startsWith('SQLITE_FULL')) return new StoreError(`database ${path} cannot grow: the disk is full; free some space`, { cause: err });
    return new StoreError(`cannot open database ${path} (${err.message}, ${code}); move it aside or pass --db PATH`, { cause: err });
  }
  return new StoreError(`cannot open database ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/**
 * The SQLite `EventStore`. Make one with `openSqliteStore`. One instance is one connection; it is
 * not meant to be shared between threads, but any number of processes may open the same file.
 */
export class SqliteEventStore implements EventStore {
  readonly #db: Db;
  readonly #path: string;
  readonly #insertRun;
  readonly #insertEvent;
  /** `#insertEvents[n]` inserts n events in one statement (1 ≤ n ≤ MAX_ROWS_PER_INSERT), made on first use. */
  readonly #insertEvents: Database.Statement<unknown[]>[] = [];
  readonly #lastEvent;
  readonly #lastEventLeased;
  readonly #setStatus;
  readonly #runState;
  readonly #getRun;
  readonly #history;
  /** `listRuns` statements by the shape of their filter (which conditions they have), made on first use. */
  readonly #listRuns = new Map<string, Database.Statement<[ListParams], RunRow>>();
  readonly #runByKey;
  readonly #runExists;
  readonly #consume;
  readonly #inboxState;
  readonly #postRun;
  readonly #postKey;
  readonly #postInsert;
  readonly #pending;
  readonly #waiting;
  readonly #postTx;
  readonly #unfinished;
  readonly #putScript;
  readonly #getScript;
  readonly #createTx;
  readonly #appendTx;
  readonly #leaseRow;
  readonly #fence;
  readonly #claim;
  readonly #renew;
  readonly #release;
  readonly #claimTx;
  readonly #outboxInsert;
  readonly #outboxDue;
  readonly #outboxClaim;
  readonly #outboxAny;
  readonly #outboxClaimTx;
  readonly #outboxDone;
  readonly #outboxRetry;
  readonly #renewTx;
  readonly #releaseTx;
  readonly #countersRow;
  readonly #countersAgg;
  readonly #eventBody;
  readonly #taskOf;
  readonly #unpark;
  /**
   * Per run this connection appends to: the counters of its events in (from, to], counted as they
   * were appended, so the append that changes the status stores the counters without reading the
   * run's events. Only a cache: an entry that does not line up is ignored and the events are counted.
   */
  readonly #counting = new Map<string, Counting>();

  /** @internal use `openSqliteStore`, which checks and migrates the file first. */
  constructor(db: Db, path: string) {
    this.#db = db;
    this.#path = path;
    db.function(FOLD, { deterministic: true }, (text: unknown) => (typeof text === 'string' ? foldCase(text) : text));
    this.#insertRun = db.prepare<[string, string, string, number, string | null, string | null, string | null, number, number, string | null]>(
      `INSERT INTO runs (run_id, workflow, file, status, started_at, parent_run_id, resumed_from, last_seq, owner, epoch, lease_until, idempotency_key)
       VALUES (?, ?, ?, 'running', ?, ?, ?, 1, ?, ?, ${DB_NOW} + ?, ?)`,
    );
    this.#runByKey = db.prepare<[string], RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE idempotency_key = ?`);
    this.#runExists = db.prepare<[string], number>('SELECT 1 FROM runs WHERE run_id = ?').pluck();
    this.#consume = db.prepare<[number, number, string]>('UPDATE inbox SET consumed_seq = ? WHERE id = ? AND run_id = ? AND consumed_seq IS NULL');
    this.#inboxState = db.prepare<[number, string], { consumed_seq: number | null }>('SELECT consumed_seq FROM inbox WHERE id = ? AND run_id = ?');
    this.#postRun = db.prepare<[string], RunStatus>('SELECT status FROM runs WHERE run_id = ?').pluck();
    this.#postKey = db.prepare<[string, string], number>('SELECT id FROM inbox WHERE run_id = ? AND key = ?').pluck();
    this.#postInsert = db.prepare<[string, string, string, string | null]>(
      `INSERT INTO inbox (run_id, kind, name, payload, key, posted_at) VALUES (?, 'signal', ?, ?, ?, ${DB_NOW})`,
    );
    this.#pending = db.prepare<[string], InboxRow>('SELECT id, run_id, name, payload, key, posted_at FROM inbox WHERE run_id = ? AND consumed_seq IS NULL ORDER BY id');
    this.#waiting = db
      .prepare<[], string>(
        `SELECT inbox.run_id FROM inbox JOIN runs ON runs.run_id = inbox.run_id
         WHERE inbox.consumed_seq IS NULL AND runs.status = 'running'
         GROUP BY inbox.run_id ORDER BY min(inbox.id)`,
      )
      .pluck();
    this.#unpark = db.prepare<[string]>("UPDATE runs SET lease_until = 0, wake_at = NULL WHERE run_id = ? AND owner IS NULL AND lease_until > 0 AND status = 'running'");
    this.#postTx = db.transaction((runId: string, post: InboxPost): { id: number; duplicate: boolean } => {
      // The same checks, in the same order, as the memory store's.
      const status = this.#postRun.get(runId);
      if (status === undefined) throw new StoreError(msg.postNoSuchRun(runId), undefined, 'missing');
      if (post.key !== undefined) {
        const id = this.#postKey.get(runId, post.key);
        if (id !== undefined) return { id, duplicate: true };
      }
      if (isEndedStatus(status)) throw new StoreError(msg.postEnded(runId, status), undefined, 'ended');
      if (post.kind !== 'signal') throw new StoreError(msg.postBadKind(runId, String(post.kind)));
      const payload = serializePayload(runId, post);
      const info = this.#postInsert.run(runId, post.name, payload, post.key ?? null);
      // A parked run (no owner, lease_until its wake time) is claimable at once; no other row matches.
      this.#unpark.run(runId);
      return { id: Number(info.lastInsertRowid), duplicate: false };
    });
    this.#leaseRow = db.prepare<[string], { owner: string | null; epoch: number; lease_until: number; status: RunStatus; now: number }>(
      `SELECT owner, epoch, lease_until, status, ${DB_NOW} AS now FROM runs WHERE run_id = ?`,
    );
    this.#fence = db.prepare<[string], { owner: string | null; epoch: number }>('SELECT owner, epoch FROM runs WHERE run_id = ?');
    this.#claim = db.prepare<[string, number, string, number]>(`UPDATE runs SET owner = ?, epoch = epoch + 1, lease_until = ${DB_NOW} + ? WHERE run_id = ? AND epoch = ?`);
    this.#renew = db.prepare<[number, string, string, number]>(`UPDATE runs SET lease_until = ${DB_NOW} + ? WHERE run_id = ? AND owner = ? AND epoch = ?`);
    this.#release = db.prepare<[string, string, number]>('UPDATE runs SET lease_until = 0 WHERE run_id = ? AND owner = ? AND epoch = ?');
    this.#claimTx = db.transaction((runId: string, owner: string, leaseMs: number, canBreak: ((h: LeaseHolder) => boolean) | undefined): ClaimResult => {
      const row = this.#leaseRow.get(runId);
      if (row === undefined) return { ok: false, reason: 'missing' };
      if (row.status !== 'running') return { ok: false, reason: 'ended' };
      const holder: LeaseHolder = { owner: row.owner, epoch: row.epoch, leaseUntil: row.lease_until, now: row.now };
      const free = row.owner === null || row.owner === owner || row.lease_until <= row.now || (canBreak?.(holder) ?? false);
      if (!free) return { ok: false, reason: 'held', holder };
      // The write lock is held from BEGIN IMMEDIATE, so the epoch read above is still the run's.
      this.#claim.run(owner, leaseMs, runId, row.epoch);
      return { ok: true, epoch: row.epoch + 1 };
    });
    this.#renewTx = db.transaction((owner: string, leases: readonly (RunLease & { readonly runId: string })[], leaseMs: number): string[] => {
      const lost: string[] = [];
      for (const l of leases) if (this.#renew.run(leaseMs, l.runId, owner, l.epoch).changes !== 1) lost.push(l.runId);
      return lost;
    });
    this.#releaseTx = db.transaction((owner: string, leases: readonly (RunLease & { readonly runId: string })[]): void => {
      for (const l of leases) this.#release.run(l.runId, owner, l.epoch);
    });
    this.#outboxInsert = db.prepare<[string, string, number, string, string, string, number]>(
      'INSERT OR IGNORE INTO outbox (run_id, event, sink_index, sink, payload, key, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)',
    );
    this.#outboxDue = db.prepare<[number, number, number], OutboxRow>(
      `SELECT ${OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending' AND next_at <= ? AND claimed_until < ? ORDER BY next_at, id LIMIT ?`,
    );
    this.#outboxAny = db.prepare<[number, number], number>("SELECT 1 FROM outbox WHERE status = 'pending' AND next_at <= ? AND claimed_until < ? LIMIT 1").pluck();
    this.#outboxClaim = db.prepare<[number, string, number]>('UPDATE outbox SET claimed_until = ?, claimed_by = ? WHERE id = ?');
    this.#outboxClaimTx = db.transaction((owner: string, now: number, limit: number, leaseMs: number): OutboxItem[] => {
      // Under the write lock (BEGIN IMMEDIATE): of two claimers, the second sees the first's claims.
      const rows = this.#outboxDue.all(now, now, limit);
      for (const row of rows) {
        row.claimed_until = now + leaseMs;
        this.#outboxClaim.run(row.claimed_until, owner, row.id);
      }
      return rows.map((r) => this.#outboxItem(r));
    });
    this.#outboxDone = db.prepare<[number, number]>(
      "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, claimed_until = 0, claimed_by = NULL WHERE id = ? AND status = 'pending'",
    );
    this.#outboxRetry = db.prepare<[string, string | null, number | null, number]>(
      "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?, next_at = coalesce(?, next_at), claimed_until = 0, claimed_by = NULL WHERE id = ? AND status = 'pending'",
    );
    this.#insertEvent = db.prepare<[string, number, string, number, string]>('INSERT INTO events (run_id, seq, kind, at, body) VALUES (?, ?, ?, ?, ?)');
    // The last entry of the run in the events' primary key: one index descent, no table scan.
    this.#lastEvent = db.prepare<[string], { seq: number; kind: NewEvent['kind'] }>('SELECT seq, kind FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1');
    // Two correlated look-ups of the events' primary key's last entry: faster here than a join.
    this.#lastEventLeased = db.prepare<[string], { seq: number | null; kind: NewEvent['kind'] | null; owner: string | null; epoch: number }>(
      `SELECT owner, epoch,
              (SELECT seq FROM events WHERE events.run_id = runs.run_id ORDER BY seq DESC LIMIT 1) AS seq,
              (SELECT kind FROM events WHERE events.run_id = runs.run_id ORDER BY seq DESC LIMIT 1) AS kind
       FROM runs WHERE run_id = ?`,
    );
    this.#setStatus = db.prepare<[RunStatus, number | null, number, string, number, string]>(
      "UPDATE runs SET status = ?, ended_at = ?, last_seq = ?, counters = ?, counters_seq = ? WHERE run_id = ? AND status NOT IN ('completed', 'failed', 'cancelled')",
    );
    this.#countersRow = db.prepare<[string], { counters: string | null; counters_seq: number }>('SELECT counters, counters_seq FROM runs WHERE run_id = ?');
    // One pass over the events after counters_seq (a range of the primary key): only what the
    // counters need, in SQL; the first error's event is read alone afterwards.
    this.#countersAgg = db.prepare<[string, number, number], { total: number; done: number; hits: number; err_seq: number | null }>(
      `SELECT count(*) FILTER (WHERE kind = 'TaskScheduled') AS total,
              count(*) FILTER (WHERE kind IN ('TaskCompleted', 'TaskFailed')) AS done,
              count(*) FILTER (WHERE kind = 'TaskCompleted' AND json_extract(body, '$.source') = 'cache') AS hits,
              min(seq) FILTER (WHERE kind IN ('TaskFailed', 'RunFailed')) AS err_seq
       FROM events WHERE run_id = ? AND seq > ? AND seq <= ?`,
    );
    this.#eventBody = db.prepare<[string, number], string>('SELECT body FROM events WHERE run_id = ? AND seq = ?').pluck();
    this.#taskOf = db
      .prepare<[string, string], string>("SELECT json_extract(body, '$.task') FROM events WHERE run_id = ? AND kind = 'TaskScheduled' AND json_extract(body, '$.stepId') = ? ORDER BY seq LIMIT 1")
      .pluck();
    this.#runState = db.prepare<[string], { last_seq: number; status: RunStatus }>(`SELECT status, ${LAST_SEQ} FROM runs WHERE run_id = ?`);
    this.#getRun = db.prepare<[string], RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE run_id = ?`);
    this.#history = db.prepare<[string, number], [number, string]>('SELECT seq, body FROM events WHERE run_id = ? AND seq >= ? ORDER BY seq').raw();
    this.#unfinished = db.prepare<[], RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE status = 'running' ORDER BY started_at, rowid`);
    this.#putScript = db.prepare<[string, string]>('INSERT OR IGNORE INTO scripts (digest, files) VALUES (?, ?)');
    this.#getScript = db.prepare<[string], string>('SELECT files FROM scripts WHERE digest = ?').pluck();

    this.#createTx = db.transaction((event: HistoryEvent & { kind: 'RunStarted' }, body: string, lease: { owner: string; leaseMs: number } | undefined, key: string | undefined) => {
      // Checked under the write lock (BEGIN IMMEDIATE), so of two creators, even in two processes,
      // the second sees the first's run; the unique indexes would refuse it anyway.
      if (key !== undefined) {
        const existing = this.#runByKey.get(key);
        if (existing !== undefined) throw new DuplicateRunError(msg.keyTaken(event.runId, key, existing.run_id), existing.run_id);
      }
      if (this.#runExists.get(event.runId) !== undefined) throw new DuplicateRunError(msg.runExists(event.runId), event.runId);
      this.#insertRun.run(
        event.runId,
        event.workflow,
        event.file,
        event.at,
        event.parent?.runId ?? null,
        event.resumedFrom?.runId ?? null,
        lease?.owner ?? null,
        lease ? 1 : 0,
        lease ? lease.leaseMs : -Number.MAX_SAFE_INTEGER,
        key ?? null,
      );
      this.#insertEvent.run(event.runId, 1, 'RunStarted', event.at, body);
    });
    this.#appendTx = db.transaction((runId: string, expectedLastSeq: number, events: readonly NewEvent[], lease: RunLease | undefined): HistoryEvent[] => {
      // The fence: with a lease, the run must still be the caller's (same owner, same epoch). It is
      // read with the run's last event, in one statement (two primary-key descents).
      let last: { seq: number; kind: NewEvent['kind'] } | undefined;
      if (lease) {
        const row = this.#lastEventLeased.get(runId);
        if (row !== undefined && (row.owner !== lease.owner || row.epoch !== lease.epoch)) throw new FencedError(msg.fenced(runId, lease.epoch, row.owner, row.epoch), runId);
        last = row?.seq === null || row === undefined ? undefined : (row as { seq: number; kind: NewEvent['kind'] });
      } else {
        last = this.#lastEvent.get(runId);
      }
      // The guard, checked first (as the memory store does): the run's last event is at the
      // expected seq and does not end the run. The write lock is held from BEGIN IMMEDIATE, so
      // nothing can change before the commit; the primary key would refuse a duplicate seq anyway.
      if (last === undefined || last.seq !== expectedLastSeq || last.kind === 'RunCompleted' || last.kind === 'RunFailed' || last.kind === 'RunCancelled') {
        throw this.#whyNotAppended(runId, expectedLastSeq);
      }
      const out: HistoryEvent[] = new Array(events.length);
      const params: unknown[] = new Array(events.length * 5);
      let seq = expectedLastSeq;
      let kind: NewEvent['kind'] = last.kind;
      let endedAt: number | null = null;
      /** Pairs (inbox id, seq of the event delivering it). */
      let consumed: number[] | undefined;
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!;
        kind = e.kind;
        if (kind === 'RunStarted') throw new StoreError(msg.startedAgain(runId));
        if (endedAt !== null) throw new StoreError(msg.afterTerminal(runId, events[i - 1]!.kind));
        if (isTerminal(e)) endedAt = e.at;
        seq++;
        const inboxId = inboxIdOf(e);
        if (inboxId !== undefined) (consumed ??= []).push(inboxId, seq);
        const event = { ...e, seq } as HistoryEvent;
        const p = i * 5;
        params[p] = runId;
        params[p + 1] = seq;
        params[p + 2] = kind;
        params[p + 3] = e.at;
        params[p + 4] = serialize(runId, event);
        out[i] = event;
      }
      try {
        // One statement for the usual activation (about 3 events), not one per event.
        for (let i = 0; i < events.length; i += MAX_ROWS_PER_INSERT) {
          const n = Math.min(MAX_ROWS_PER_INSERT, events.length - i);
          this.#insertRows(n).run(n === events.length ? params : params.slice(i * 5, (i + n) * 5));
        }
      } catch (err) {
        // Another writer got there first (the guard makes this unlikely): say so, not the key.
        if (err instanceof Database.SqliteError && err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw this.#whyNotAppended(runId, expectedLastSeq, err);
        throw err;
      }
      // Notifications queued by an event go into the outbox with it (idempotent by key); a
      // failure later in this transaction (a signal already delivered, say) takes them back too.
      for (let i = 0; i < events.length; i++) {
        const rows = outboxRowsOf(runId, events[i]!);
        if (rows === undefined) continue;
        for (const r of rows) this.#outboxInsert.run(runId, r.event, r.sinkIndex, r.sink, r.payload, r.key, events[i]!.at);
      }
      // Delivering a signal consumes its inbox message in this transaction: a message that is not
      // waiting in this run's inbox fails the whole append, so none is delivered twice.
      if (consumed !== undefined) {
        for (let i = 0; i < consumed.length; i += 2) {
          const inboxId = consumed[i]!;
          if (this.#consume.run(consumed[i + 1]!, inboxId, runId).changes === 1) continue;
          const state = this.#inboxState.get(inboxId, runId);
          if (state === undefined) throw new StoreError(msg.inboxMissing(runId, inboxId), undefined, 'inbox');
          throw new StoreError(msg.inboxConsumed(runId, inboxId, state.consumed_seq ?? -1), undefined, 'inbox');
        }
      }
      // The status follows the last event (runStatusAfter); the summary row is only written when it
      // changes (the run ends, blocks, or a blocked run goes on), which keeps the usual append to
      // the pages of the events table alone.
      // The counters are written with it (from the stored ones and the events since), so that an
      // ended run's counters are one column read.
      // Count this append's events onto what this connection counted since the counters were last
      // stored (no allocation on this path); `to` must be where this append starts, or they are
      // counted again from the events (another writer, or a transaction that did not commit).
      let total = 0;
      let done = 0;
      let hits = 0;
      let failedAt = -1;
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!;
        if (e.kind === 'TaskScheduled') total++;
        else if (e.kind === 'TaskCompleted') (done++, e.source === 'cache' && hits++);
        else if (e.kind === 'TaskFailed') (done++, failedAt < 0 && (failedAt = i));
        else if (e.kind === 'RunFailed' && failedAt < 0) failedAt = i;
      }
      let c = this.#counting.get(runId);
      if (c === undefined || c.to !== expectedLastSeq) {
        if (c === undefined && this.#counting.size >= MAX_COUNTING) this.#counting.clear();
        c = { from: expectedLastSeq, to: expectedLastSeq, total: 0, done: 0, cacheHits: 0, firstError: undefined };
        this.#counting.set(runId, c);
      }
      if (failedAt >= 0 && c.firstError === undefined) c.firstError = advanceCounters(NO_COUNTERS, events.slice(0, failedAt + 1), (stepId) => this.#taskOf.get(runId, stepId) ?? undefined).firstError;
      c.total += total;
      c.done += done;
      c.cacheHits += hits;
      c.to = seq;
      const status = runStatusAfter(kind);
      if (status !== runStatusAfter(last.kind)) {
        const counters = JSON.stringify(this.#countersNow(runId, seq));
        if (this.#setStatus.run(status, endedAt, seq, counters, seq, runId).changes !== 1) throw this.#whyNotAppended(runId, expectedLastSeq);
        if (status === 'running' || status === 'blocked') this.#counting.set(runId, { from: seq, to: seq, total: 0, done: 0, cacheHits: 0, firstError: undefined });
        else this.#counting.delete(runId);
      }
      return out;
    });
  }

  /** The statement inserting `n` events (prepared on first use). */
  #insertRows(n: number): Database.Statement<unknown[]> {
    let st = this.#insertEvents[n];
    if (st === undefined) {
      st = this.#db.prepare<unknown[]>(`INSERT INTO events (run_id, seq, kind, at, body) VALUES ${new Array(n).fill('(?, ?, ?, ?, ?)').join(', ')}`);
      this.#insertEvents[n] = st;
    }
    return st;
  }

  /** The database file's path, as given to `openSqliteStore`. */
  get path(): string {
    return this.#path;
  }

  /**
   * The connection's durability settings as SQLite reports them now, for diagnostics and tests.
   * @throws StoreError if the store is closed
   */
  settings(): { readonly journalMode: string; readonly synchronous: 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA'; readonly busyTimeoutMs: number } {
    this.#checkOpen();
    const sync = this.#db.pragma('synchronous', { simple: true }) as number;
    return {
      journalMode: String(this.#db.pragma('journal_mode', { simple: true })),
      synchronous: (['OFF', 'NORMAL', 'FULL', 'EXTRA'] as const)[sync] ?? 'OFF',
      busyTimeoutMs: this.#db.pragma('busy_timeout', { simple: true }) as number,
    };
  }

  createRun(
    first: Omit<HistoryEvent & { kind: 'RunStarted' }, 'seq'>,
    lease?: { readonly owner: string; readonly leaseMs: number },
    idempotencyKey?: string,
  ): HistoryEvent {
    this.#checkOpen();
    if (first.kind !== 'RunStarted') throw new StoreError(msg.notFirst(first.runId));
    const event = { ...first, seq: 1 } as HistoryEvent & { kind: 'RunStarted' };
    const body = serialize(first.runId, event);
    try {
      this.#createTx.immediate(event, body, lease, idempotencyKey);
    } catch (err) {
      // The checks in the transaction come first; these are for a database changed meanwhile by hand.
      if (err instanceof Database.SqliteError && err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new DuplicateRunError(msg.runExists(first.runId), first.runId, { cause: err });
      if (err instanceof Database.SqliteError && err.code === 'SQLITE_CONSTRAINT_UNIQUE' && idempotencyKey !== undefined) {
        const existing = this.#runByKey.get(idempotencyKey)?.run_id;
        if (existing !== undefined) throw new DuplicateRunError(msg.keyTaken(first.runId, idempotencyKey, existing), existing, { cause: err });
      }
      throw this.#wrap(err, `cannot create run ${first.runId}`);
    }
    return event;
  }

  runByIdempotencyKey(key: string): RunRecord | undefined {
    this.#checkOpen();
    try {
      const row = this.#runByKey.get(key);
      return row === undefined ? undefined : runRecordOf(row);
    } catch (err) {
      throw this.#wrap(err, `cannot read the run of idempotency key ${JSON.stringify(key)}`);
    }
  }

  postInbox(runId: string, post: InboxPost): { readonly id: number; readonly duplicate: boolean } {
    this.#checkOpen();
    try {
      return this.#postTx.immediate(runId, post);
    } catch (err) {
      throw this.#wrap(err, `cannot post to run ${runId}`);
    }
  }

  pendingInbox(runId: string): InboxMessage[] {
    this.#checkOpen();
    let rows: InboxRow[];
    try {
      rows = this.#pending.all(runId);
    } catch (err) {
      throw this.#wrap(err, `cannot read the inbox of run ${runId}`);
    }
    return rows.map((row) => {
      let payload: Json;
      try {
        payload = JSON.parse(row.payload) as Json;
      } catch (err) {
        throw new StoreError(`inbox message ${row.id} of run ${runId} in database ${this.#path} is damaged (${(err as Error).message}); restore the database from a backup`, { cause: err });
      }
      const m: { -readonly [K in keyof InboxMessage]: InboxMessage[K] } = { id: row.id, runId: row.run_id, kind: 'signal', name: row.name, payload, postedAt: row.posted_at };
      if (row.key !== null) m.key = row.key;
      return m;
    });
  }

  runsWithPendingInbox(): string[] {
    this.#checkOpen();
    try {
      return this.#waiting.all();
    } catch (err) {
      throw this.#wrap(err, 'cannot list the runs with waiting messages');
    }
  }

  append(runId: string, expectedLastSeq: number, events: readonly NewEvent[], lease?: RunLease): HistoryEvent[] {
    this.#checkOpen();
    if (!Number.isSafeInteger(expectedLastSeq) || expectedLastSeq < 0) throw new StoreError(msg.badSeq(runId, expectedLastSeq));
    try {
      if (events.length === 0) {
        if (lease) {
          const row = this.#fence.get(runId);
          if (row !== undefined && (row.owner !== lease.owner || row.epoch !== lease.epoch)) throw new FencedError(msg.fenced(runId, lease.epoch, row.owner, row.epoch), runId);
        }
        const state = this.#runState.get(runId);
        if (state === undefined) throw new StoreError(msg.noSuchRun(runId));
        if (state.last_seq !== expectedLastSeq) throw new StoreError(msg.movedOn(runId, expectedLastSeq, state.last_seq));
        return [];
      }
      return this.#appendTx.immediate(runId, expectedLastSeq, events, lease);
    } catch (err) {
      throw this.#wrap(err, `cannot append to run ${runId}`);
    }
  }

  claimOutbox(owner: string, now: number, limit: number, leaseMs: number): OutboxItem[] {
    this.#checkOpen();
    if (limit <= 0) return [];
    try {
      // A read first: the usual poll finds nothing due and takes no write lock.
      if (this.#outboxAny.get(now, now) === undefined) return [];
      return this.#outboxClaimTx.immediate(owner, now, Math.floor(limit), leaseMs);
    } catch (err) {
      throw this.#wrap(err, 'cannot claim outbox rows');
    }
  }

  completeOutbox(id: number, ok: boolean, error?: string, nextAt?: number, giveUp?: boolean): void {
    this.#checkOpen();
    try {
      if (ok) this.#outboxDone.run(Date.now(), id);
      else this.#outboxRetry.run(giveUp ? 'failed' : 'pending', error ?? null, nextAt ?? null, id);
    } catch (err) {
      throw this.#wrap(err, `cannot record the delivery of outbox row ${id}`);
    }
  }

  listOutbox(filter: OutboxFilter = {}): OutboxItem[] {
    this.#checkOpen();
    const where: string[] = [];
    const params: string[] = [];
    if (filter.status !== undefined) (where.push('status = ?'), params.push(filter.status));
    if (filter.runId !== undefined) (where.push('run_id = ?'), params.push(filter.runId));
    try {
      const rows = this.#db.prepare<string[], OutboxRow>(`SELECT ${OUTBOX_COLUMNS} FROM outbox ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`).all(...params);
      return rows.map((r) => this.#outboxItem(r));
    } catch (err) {
      throw this.#wrap(err, 'cannot list the outbox');
    }
  }

  #outboxItem(row: OutboxRow): OutboxItem {
    let sink: OutboxItem['sink'];
    let payload: Json;
    try {
      sink = JSON.parse(row.sink) as OutboxItem['sink'];
      payload = JSON.parse(row.payload) as Json;
    } catch (err) {
      throw new StoreError(`outbox row ${row.id} in database ${this.#path} is damaged (${(err as Error).message}); restore the database from a backup`, { cause: err });
    }
    return outboxItemOf(row, sink, payload);
  }

  claimRun(runId: string, owner: string, leaseMs: number, canBreak?: (holder: LeaseHolder) => boolean): ClaimResult {
    this.#checkOpen();
    try {
      return this.#claimTx.immediate(runId, owner, leaseMs, canBreak);
    } catch (err) {
      throw this.#wrap(err, `cannot claim run ${runId}`);
    }
  }

  renewLeases(owner: string, leases: readonly (RunLease & { readonly runId: string })[], leaseMs: number): string[] {
    this.#checkOpen();
    if (leases.length === 0) return [];
    try {
      return this.#renewTx.immediate(owner, leases, leaseMs);
    } catch (err) {
      throw this.#wrap(err, 'cannot renew run leases');
    }
  }

  releaseLeases(owner: string, leases: readonly (RunLease & { readonly runId: string })[]): void {
    this.#checkOpen();
    if (leases.length === 0) return;
    try {
      this.#releaseTx.immediate(owner, leases);
    } catch (err) {
      throw this.#wrap(err, 'cannot release run leases');
    }
  }

  leaseOf(runId: string): LeaseHolder | undefined {
    this.#checkOpen();
    try {
      const row = this.#leaseRow.get(runId);
      return row === undefined ? undefined : { owner: row.owner, epoch: row.epoch, leaseUntil: row.lease_until, now: row.now };
    } catch (err) {
      throw this.#wrap(err, `cannot read the lease of run ${runId}`);
    }
  }

  history(runId: string, fromSeq = 1): HistoryEvent[] {
    this.#checkOpen();
    let rows: [number, string][];
    try {
      rows = this.#history.all(runId, fromSeq);
    } catch (err) {
      throw this.#wrap(err, `cannot read the history of run ${runId}`);
    }
    const out: HistoryEvent[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const [seq, body] = rows[i]!;
      try {
        out[i] = JSON.parse(body) as HistoryEvent;
      } catch (err) {
        throw new StoreError(
          `event ${seq} of run ${runId} in database ${this.#path} is damaged (${(err as Error).message}); the history cannot be read past it: restore the database from a backup (larkflow db backup), or cancel the run`,
          { cause: err },
        );
      }
    }
    return out;
  }

  /**
   * Writes a consistent copy of the database to `file` (SQLite's online backup: other processes
   * may go on writing meanwhile). The copy is a complete database on its own (no WAL beside it).
   * @throws StoreError if the copy cannot be written
   */
  async backup(file: string): Promise<void> {
    this.#checkOpen();
    try {
      await this.#db.backup(file);
    } catch (err) {
      throw this.#wrap(err, `cannot back up to ${file}`);
    }
  }

  getRun(runId: string): RunRecord | undefined {
    this.#checkOpen();
    try {
      const row = this.#getRun.get(runId);
      return row === undefined ? undefined : runRecordOf(row);
    } catch (err) {
      throw this.#wrap(err, `cannot read run ${runId}`);
    }
  }

  listRuns(filter: RunFilter = {}): RunRecord[] {
    this.#checkOpen();
    // A bad cursor is the caller's mistake (UsageError), not the database's: parsed outside the try.
    const after = filter.after === undefined ? undefined : parseRunCursor(filter.after);
    const params: ListParams = { limit: filter.limit === undefined ? -1 : Math.max(0, Math.floor(filter.limit)) };
    // Only the conditions the filter has go into the SQL (one statement per shape), so that the
    // planner sees a plain range on runs_by_started_id for the cursor: a page costs its own rows,
    // not the rows of the pages before it.
    const where: string[] = [];
    if (filter.status !== undefined) (where.push('status = @status'), (params.status = filter.status));
    if (filter.workflow !== undefined) (where.push('workflow = @workflow'), (params.workflow = filter.workflow));
    if (filter.since !== undefined) (where.push('started_at >= @since'), (params.since = filter.since));
    if (filter.until !== undefined) (where.push('started_at < @until'), (params.until = filter.until));
    if (filter.search !== undefined) {
      where.push(`(instr(${FOLD}(run_id), @search) > 0 OR instr(${FOLD}(workflow), @search) > 0)`);
      params.search = foldCase(filter.search);
    }
    if (after !== undefined) {
      where.push('(started_at, run_id) < (@afterAt, @afterId)');
      params.afterAt = after.startedAt;
      params.afterId = after.runId;
    }
    const shape = where.join(' AND ');
    try {
      let st = this.#listRuns.get(shape);
      if (st === undefined) {
        st = this.#db.prepare<[ListParams], RunRow>(
          `SELECT ${RUN_COLUMNS} FROM runs ${where.length > 0 ? `WHERE ${shape}` : ''} ORDER BY started_at DESC, run_id DESC LIMIT @limit`,
        );
        this.#listRuns.set(shape, st);
      }
      return st.all(params).map(runRecordOf);
    } catch (err) {
      throw this.#wrap(err, 'cannot list runs');
    }
  }

  /** Runs whose status is `running`, oldest first (the order to recover them in). */
  unfinishedRuns(): RunRecord[] {
    this.#checkOpen();
    try {
      return this.#unfinished.all().map(runRecordOf);
    } catch (err) {
      throw this.#wrap(err, 'cannot list unfinished runs');
    }
  }

  putScript(digest: string, files: readonly ScriptFile[]): void {
    this.#checkOpen();
    const text = JSON.stringify(files.map((f) => ({ path: f.path, text: f.text })));
    try {
      this.#putScript.run(digest, text);
    } catch (err) {
      throw this.#wrap(err, `cannot store script ${digest}`);
    }
  }

  getScript(digest: string): ScriptFile[] | undefined {
    this.#checkOpen();
    let text: string | undefined;
    try {
      text = this.#getScript.get(digest);
    } catch (err) {
      throw this.#wrap(err, `cannot read script ${digest}`);
    }
    return text === undefined ? undefined : (JSON.parse(text) as ScriptFile[]);
  }

  // -------------------------------------------------------------------------------------------
  // What the asynchronous store adds (sqlite-async.ts wraps these for `AsyncEventStore`)

  /**
   * A run's counters now: the stored ones (up to `counters_seq`, written when the status last
   * changed) plus the events after them: those this connection appended since (`#counting`,
   * counted as they were appended) and any others counted in SQL. Undefined for an unknown run.
   */
  #countersNow(runId: string, upTo = Number.MAX_SAFE_INTEGER): RunCounters | undefined {
    const row = this.#countersRow.get(runId);
    if (row === undefined) return undefined;
    const base: RunCounters = row.counters === null ? NO_COUNTERS : (JSON.parse(row.counters) as RunCounters);
    const known = this.#counting.get(runId);
    const usable = known !== undefined && known.from >= row.counters_seq && known.to === upTo;
    const agg = this.#countersAgg.get(runId, row.counters_seq, usable ? known.from : upTo)!;
    let firstError = base.firstError;
    if (firstError === undefined && agg.err_seq !== null) {
      const e = JSON.parse(this.#eventBody.get(runId, agg.err_seq)!) as HistoryEvent;
      firstError = advanceCounters(NO_COUNTERS, [e], (stepId) => this.#taskOf.get(runId, stepId) ?? undefined).firstError;
    }
    const more: RunCounters = usable ? known : NO_COUNTERS;
    firstError ??= more.firstError;
    return {
      total: base.total + agg.total + more.total,
      done: base.done + agg.done + more.done,
      cacheHits: base.cacheHits + agg.hits + more.cacheHits,
      ...(firstError !== undefined ? { firstError } : {}),
    };
  }

  /** A run's counters (see `RunCounters`); undefined for an unknown run. */
  counters(runId: string): RunCounters | undefined {
    this.#checkOpen();
    try {
      return this.#db.transaction(() => this.#countersNow(runId, this.#runState.get(runId)?.last_seq ?? 0))();
    } catch (err) {
      throw this.#wrap(err, `cannot read the counters of run ${runId}`);
    }
  }

  /**
   * Claims up to `max` runs that nobody holds, whose lease ran out, or that are parked and due
   * (database clock), oldest `lease_until` first, in one IMMEDIATE transaction.
   */
  claimRuns(owner: string, max: number, leaseMs: number, queues?: readonly string[]): ClaimedRun[] {
    this.#checkOpen();
    const n = Math.max(0, Math.min(1000, Math.floor(max)));
    if (n === 0) return [];
    try {
      return this.#db
        .transaction((): ClaimedRun[] => {
          // With queues: only runs whose RunStarted (seq 1) names one of them (none: "default").
          const rows =
            queues === undefined
              ? this.#db
                  .prepare<[number], { run_id: string; epoch: number }>(`SELECT run_id, epoch FROM runs WHERE status = 'running' AND lease_until <= ${DB_NOW} ORDER BY lease_until LIMIT ?`)
                  .all(n)
              : this.#db
                  .prepare<[string, number], { run_id: string; epoch: number }>(
                    `SELECT run_id, epoch FROM runs WHERE status = 'running' AND lease_until <= ${DB_NOW}
                       AND coalesce((SELECT json_extract(e.body, '$.queue') FROM events e WHERE e.run_id = runs.run_id AND e.seq = 1), 'default') IN (SELECT value FROM json_each(?))
                     ORDER BY lease_until LIMIT ?`,
                  )
                  .all(JSON.stringify(queues), n);
          const claim = this.#db.prepare<[string, number, string]>(`UPDATE runs SET owner = ?, epoch = epoch + 1, lease_until = ${DB_NOW} + ?, wake_at = NULL WHERE run_id = ?`);
          return rows.map((r) => {
            claim.run(owner, leaseMs, r.run_id);
            return { runId: r.run_id, epoch: r.epoch + 1, lastSeq: this.#runState.get(r.run_id)!.last_seq };
          });
        })
        .immediate();
    } catch (err) {
      throw this.#wrap(err, 'cannot claim runs');
    }
  }

  /**
   * Group commit: every batch in one IMMEDIATE transaction, each under a savepoint, so a refused
   * batch (fenced, moved on, a message delivered twice) takes back only its own writes.
   * @throws StoreError if the database fails (busy past the timeout, disk full): nothing was written
   */
  appendMany(batches: readonly AppendBatch[]): Map<string, AppendOutcome> {
    this.#checkOpen();
    const out = new Map<string, AppendOutcome>();
    const run = (): void => {
      for (const b of batches) {
        if (out.has(b.runId)) continue;
        try {
          out.set(b.runId, { ok: true, events: this.#appendOne(b.runId, b.expectedLastSeq, b.events, b.lease) });
        } catch (err) {
          if (err instanceof Database.SqliteError && (err.code.startsWith('SQLITE_BUSY') || err.code.startsWith('SQLITE_IOERR') || err.code.startsWith('SQLITE_FULL'))) throw err;
          out.set(b.runId, { ok: false, error: this.#wrap(err, `cannot append to run ${b.runId}`) });
        }
      }
    };
    try {
      this.#db.transaction(run).immediate();
    } catch (err) {
      // The database failed (busy past the timeout, disk full): nothing of the group was written.
      throw this.#wrap(err, `cannot append to ${batches.length} run${batches.length === 1 ? '' : 's'}`);
    }
    return out;
  }

  /** One append inside an open transaction (a savepoint of it). */
  #appendOne(runId: string, expectedLastSeq: number, events: readonly NewEvent[], lease: RunLease | undefined): HistoryEvent[] {
    if (!Number.isSafeInteger(expectedLastSeq) || expectedLastSeq < 0) throw new StoreError(msg.badSeq(runId, expectedLastSeq));
    if (events.length === 0) return this.append(runId, expectedLastSeq, [], lease);
    return this.#appendTx(runId, expectedLastSeq, events, lease);
  }

  /**
   * Gives up a run's lease because it waits: no owner, and `lease_until` its wake time (never, for
   * null), so claims pass it by until then; a message already waiting in its inbox keeps it
   * claimable at once. 'fenced' if the lease is not the caller's any more.
   */
  park(runId: string, lease: RunLease, wakeAt: number | null): 'ok' | 'fenced' {
    this.#checkOpen();
    try {
      return this.#db
        .transaction((): 'ok' | 'fenced' => {
          const changed = this.#db
            .prepare<[number | null, number, string, string, number]>(
              `UPDATE runs SET owner = NULL, wake_at = ?,
                 lease_until = CASE WHEN EXISTS (SELECT 1 FROM inbox WHERE inbox.run_id = runs.run_id AND consumed_seq IS NULL) THEN 0 ELSE ? END
               WHERE run_id = ? AND owner = ? AND epoch = ? AND status = 'running'`,
            )
            .run(wakeAt, wakeAt ?? Number.MAX_SAFE_INTEGER, runId, lease.owner, lease.epoch).changes;
          return changed === 1 ? 'ok' : 'fenced';
        })
        .immediate();
    } catch (err) {
      throw this.#wrap(err, `cannot park run ${runId}`);
    }
  }

  /** Records a worker's heartbeat (database clock), creating its row. */
  heartbeat(worker: { readonly workerId: string; readonly host: string; readonly pid: number; readonly queues: readonly string[] }): void {
    this.#checkOpen();
    try {
      this.#db
        .prepare(
          `INSERT INTO workers (worker_id, host, pid, queues, started_at, seen_at) VALUES (?, ?, ?, ?, ${DB_NOW}, ${DB_NOW})
           ON CONFLICT (worker_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, queues = excluded.queues, seen_at = excluded.seen_at`,
        )
        .run(worker.workerId, worker.host, worker.pid, JSON.stringify(worker.queues));
    } catch (err) {
      throw this.#wrap(err, `cannot record the heartbeat of worker ${worker.workerId}`);
    }
  }

  /** Workers seen within `withinMs`, with the runs whose lease they hold now. */
  listWorkers(withinMs: number): WorkerInfo[] {
    this.#checkOpen();
    try {
      const rows = this.#db
        .prepare<[number], { worker_id: string; host: string; pid: number; queues: string; started_at: number; seen_at: number }>(
          `SELECT worker_id, host, pid, queues, started_at, seen_at FROM workers WHERE seen_at >= ${DB_NOW} - ? ORDER BY worker_id`,
        )
        .all(withinMs);
      const held = this.#db.prepare<[string], string>(`SELECT run_id FROM runs WHERE owner = ? AND status = 'running' AND lease_until > ${DB_NOW} ORDER BY run_id`).pluck();
      return rows.map((r) => ({ workerId: r.worker_id, host: r.host, pid: r.pid, queues: JSON.parse(r.queues) as string[], startedAt: r.started_at, seenAt: r.seen_at, runs: held.all(r.worker_id) }));
    } catch (err) {
      throw this.#wrap(err, 'cannot list workers');
    }
  }

  /** Removes a worker's row. */
  unregisterWorker(workerId: string): void {
    this.#checkOpen();
    try {
      this.#db.prepare('DELETE FROM workers WHERE worker_id = ?').run(workerId);
    } catch (err) {
      throw this.#wrap(err, `cannot remove worker ${workerId}`);
    }
  }

  /** The database clock, ms since the epoch. */
  dbNow(): number {
    this.#checkOpen();
    return this.#db.prepare<[], number>(`SELECT ${DB_NOW}`).pluck().get()!;
  }

  /** The schema version of the file (opening migrated it to `SCHEMA_VERSION`). */
  schemaVersion(): number {
    this.#checkOpen();
    const v = this.#db.prepare<[], string>("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get();
    return v === undefined ? 0 : Number(v);
  }

  /**
   * Writes a whole run as it was (import): its row, unowned, and its events, in one IMMEDIATE
   * transaction.
   * @throws DuplicateRunError if a run with this id or idempotency key exists
   * @throws StoreError if the history is not a valid one
   */
  importRun(history: readonly HistoryEvent[], options: { readonly idempotencyKey?: string } = {}): void {
    this.#checkOpen();
    const run = checkHistory(history);
    const bodies = history.map((e) => serialize(run.runId, e));
    const counters = advanceCounters(NO_COUNTERS, history);
    const key = options.idempotencyKey;
    try {
      this.#db
        .transaction(() => {
          if (key !== undefined) {
            const existing = this.#runByKey.get(key);
            if (existing !== undefined) throw new DuplicateRunError(existing.run_id === run.runId ? msg.runExists(run.runId) : msg.keyTaken(run.runId, key, existing.run_id), existing.run_id);
          }
          if (this.#runExists.get(run.runId) !== undefined) throw new DuplicateRunError(msg.runExists(run.runId), run.runId);
          this.#db
            .prepare(
              `INSERT INTO runs (run_id, workflow, file, status, started_at, ended_at, parent_run_id, resumed_from, last_seq, owner, epoch, lease_until, idempotency_key, counters, counters_seq)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, 0, ?, ?, ?)`,
            )
            .run(run.runId, run.workflow, run.file, run.status, run.startedAt, run.endedAt ?? null, run.parentRunId ?? null, run.resumedFrom ?? null, history.length, key ?? null, JSON.stringify(counters), history.length);
          for (let i = 0; i < history.length; i += MAX_ROWS_PER_INSERT) {
            const n = Math.min(MAX_ROWS_PER_INSERT, history.length - i);
            const params: unknown[] = [];
            for (let j = i; j < i + n; j++) params.push(run.runId, history[j]!.seq, history[j]!.kind, history[j]!.at, bodies[j]);
            this.#insertRows(n).run(params);
          }
        })
        .immediate();
    } catch (err) {
      throw this.#wrap(err, `cannot import run ${run.runId}`);
    }
  }

  /** Closes the connection (idempotent). Later calls throw `StoreError`. */
  close(): void {
    if (!this.#db.open) return;
    try {
      this.#db.pragma('optimize');
    } catch {
      // Only a hint to SQLite; closing matters more.
    }
    // Move the WAL's commits into the database file, so that the file alone holds the history
    // (a copy of larkflow.db without its -wal would otherwise miss the recent commits). Another
    // process still reading keeps the WAL; that is fine, it checkpoints when it closes.
    try {
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // busy or read-only: the WAL stays, nothing is lost
    }
    this.#db.close();
  }

  #checkOpen(): void {
    if (!this.#db.open) throw new StoreError(msg.closed());
  }

  /** Explains an append that the guarded UPDATE refused (runs inside the append's transaction). */
  #whyNotAppended(runId: string, expectedLastSeq: number, cause?: unknown): StoreError {
    const state = this.#runState.get(runId);
    if (state === undefined) return new StoreError(msg.noSuchRun(runId), { cause });
    if (state.last_seq !== expectedLastSeq) return new StoreError(msg.movedOn(runId, expectedLastSeq, state.last_seq), { cause });
    if (isEndedStatus(state.status)) return new StoreError(msg.runEnded(runId, state.status), { cause });
    return new StoreError(`cannot append to run ${runId}: database ${this.#path} holds events past the run's last seq ${state.last_seq}; it was changed outside larkflow`, { cause });
  }

  #wrap(err: unknown, what: string): StoreError {
    if (err instanceof StoreError) return err;
    if (err instanceof Database.SqliteError) {
      return new StoreError(`${what}: database ${this.#path} failed (${err.message}, ${err.code}); nothing of this call was written`, { cause: err });
    }
    return new StoreError(`${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** JSON text of a message's payload. */
function serializePayload(runId: string, post: InboxPost): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(post.payload);
  } catch (err) {
    throw new StoreError(msg.postNotJson(runId, post.name, (err as Error).message), { cause: err });
  }
  if (text === undefined) throw new StoreError(msg.postNotJson(runId, post.name, `${typeof post.payload} has no JSON form`));
  return text;
}

/** JSON text of an event: the one serialization an append does. */
function serialize(runId: string, event: HistoryEvent): string {
  try {
    return JSON.stringify(event);
  } catch (err) {
    throw new StoreError(msg.notJson(runId, event.kind, (err as Error).message), { cause: err });
  }
}


