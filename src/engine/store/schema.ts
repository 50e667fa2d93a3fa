/**
 * This file defines the event store's database schema and the rules both stores share. The schema
 * is versioned: `MIGRATIONS` is an ordered list, migration N turns a version N-1 database into
 * version N, and the version a database is at lives in its `meta` table. A database is only ever
 * moved forward, one migration at a time, inside one transaction, so a crash mid-migration leaves
 * it at the old version. The `runs` table is a summary derived from each run's history (status,
 * end time, last seq); `runStatusAfter` and the checks below say how, and the memory store follows
 * the same rules so that both stores pass one contract suite. `runs.last_seq` is written when the
 * run is created and whenever its status changes, not on every append (that would add a page of
 * `runs` to every commit): a run's last seq is `max(seq)` of its events, which the SQLite store
 * reads through the events' primary key, so the column is only exact for a run that has ended or
 * blocked. Nothing here touches a database: the
 * migrations are SQL text, applied by sqlite-store.ts.
 */
import { StoreError, UsageError } from '../core/errors.js';
import { isTerminal } from '../core/events.js';
import type { EventKind, HistoryEvent, RunStatus } from '../core/events.js';
import type { Json } from '../core/json.js';
import type { OutboxItem, RunRecord } from '../core/ports.js';

/** One step of the schema: turns a database at `version - 1` into one at `version`. */
export interface Migration {
  /** The version the database is at after this migration (1, 2, ...). */
  readonly version: number;
  /** What the migration does, for people reading the list. */
  readonly description: string;
  /** SQL statements, run in the migration's transaction. */
  readonly sql: string;
}

/**
 * The schema's migrations, in order. Never edit a released one: add the next. Version 1 creates
 * the tables; `meta.schema_version` is written by the migration runner, not by the SQL.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'runs, events, scripts',
    sql: `
      CREATE TABLE IF NOT EXISTS meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE runs (
        run_id        TEXT PRIMARY KEY,
        workflow      TEXT NOT NULL,
        file          TEXT NOT NULL,
        status        TEXT NOT NULL,
        started_at    INTEGER NOT NULL,
        ended_at      INTEGER,
        parent_run_id TEXT,
        resumed_from  TEXT,
        last_seq      INTEGER NOT NULL
      );
      CREATE INDEX runs_by_started ON runs (started_at);
      CREATE INDEX runs_by_status ON runs (status, started_at);
      CREATE INDEX runs_by_workflow ON runs (workflow, started_at);
      CREATE TABLE events (
        run_id TEXT NOT NULL,
        seq    INTEGER NOT NULL,
        kind   TEXT NOT NULL,
        at     INTEGER NOT NULL,
        body   TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
      );
      CREATE TABLE scripts (
        digest TEXT PRIMARY KEY,
        files  TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: 'run leases: owner, fencing epoch, lease expiry',
    sql: `
      ALTER TABLE runs ADD COLUMN owner TEXT;
      ALTER TABLE runs ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE runs ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 3,
    description: 'idempotency keys of runs, run inboxes (signals), keyset listing of runs',
    // inbox.id is AUTOINCREMENT so that an id is never reused, even after rows are deleted: history
    // records the id a SignalReceived consumed. consumed_seq is the seq of that event (NULL while
    // the message waits). The partial indexes keep only what is looked up: keys that exist, and
    // messages that wait. runs_by_started_id serves listRuns' order and its keyset cursor, and
    // replaces runs_by_started.
    sql: `
      ALTER TABLE runs ADD COLUMN idempotency_key TEXT;
      CREATE UNIQUE INDEX runs_by_idempotency_key ON runs (idempotency_key) WHERE idempotency_key IS NOT NULL;
      DROP INDEX runs_by_started;
      CREATE INDEX runs_by_started_id ON runs (started_at, run_id);
      CREATE TABLE inbox (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id       TEXT NOT NULL,
        kind         TEXT NOT NULL,
        name         TEXT NOT NULL,
        payload      TEXT NOT NULL,
        key          TEXT,
        posted_at    INTEGER NOT NULL,
        consumed_seq INTEGER
      );
      CREATE UNIQUE INDEX inbox_by_key ON inbox (run_id, key) WHERE key IS NOT NULL;
      CREATE INDEX inbox_pending ON inbox (run_id, id) WHERE consumed_seq IS NULL;
    `,
  },
  {
    version: 4,
    description: 'notification outbox (rows created with the NotificationsQueued event that queues them)',
    // key is `${run_id}:${event}:${sink index}`, unique: queueing the same notification again is a
    // no-op (INSERT OR IGNORE). outbox_due serves claimOutbox: the pending rows, by due time.
    sql: `
      CREATE TABLE outbox (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id        TEXT NOT NULL,
        event         TEXT NOT NULL,
        sink_index    INTEGER NOT NULL,
        sink          TEXT NOT NULL,
        payload       TEXT NOT NULL,
        key           TEXT NOT NULL UNIQUE,
        status        TEXT NOT NULL DEFAULT 'pending',
        attempts      INTEGER NOT NULL DEFAULT 0,
        next_at       INTEGER NOT NULL,
        last_error    TEXT,
        claimed_until INTEGER NOT NULL DEFAULT 0,
        claimed_by    TEXT,
        delivered_at  INTEGER,
        created_at    INTEGER NOT NULL
      );
      CREATE INDEX outbox_due ON outbox (next_at, id) WHERE status = 'pending';
      CREATE INDEX outbox_by_status ON outbox (status, id);
    `,
  },
  {
    version: 5,
    description: 'run counters (written when the status changes), parking (wake_at), claims in batches, workers',
    // counters is the JSON of RunCounters up to counters_seq; the events after it are counted when
    // read (an append that leaves a running run running still writes only its events). A parked run
    // has no owner and lease_until = its wake time (or the largest integer): runs_claimable serves
    // claimRuns' "lease_until <= now ORDER BY lease_until" for expired, released, unclaimed and due
    // parked runs alike. workers holds the heartbeats of `larkflow worker` processes.
    sql: `
      ALTER TABLE runs ADD COLUMN counters TEXT;
      ALTER TABLE runs ADD COLUMN counters_seq INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE runs ADD COLUMN wake_at INTEGER;
      CREATE INDEX runs_claimable ON runs (lease_until) WHERE status = 'running';
      CREATE TABLE workers (
        worker_id  TEXT PRIMARY KEY,
        host       TEXT NOT NULL,
        pid        INTEGER NOT NULL,
        queues     TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        seen_at    INTEGER NOT NULL
      );
    `,
  },
];

/** The schema version this larkflow writes: the last migration's. */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]!.version;

// ---------------------------------------------------------------------------------------------
// Rules shared by the stores

/**
 * The status of a run whose history ends with an event of `kind`: the terminal events end it,
 * `NondeterminismDetected` blocks it, and anything else (a resumed blocked run, say) means it runs.
 * @internal
 */
export function runStatusAfter(kind: EventKind): RunStatus {
  switch (kind) {
    case 'RunCompleted':
      return 'completed';
    case 'RunFailed':
      return 'failed';
    case 'RunCancelled':
      return 'cancelled';
    case 'NondeterminismDetected':
      return 'blocked';
    default:
      return 'running';
  }
}

/** True for the statuses of a run that has ended: its history takes no more events. @internal */
export function isEndedStatus(status: RunStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

/**
 * The cursor of a run in `listRuns`' order, for `listRuns({ after })`: opaque text (base64url of
 * `startedAt:runId`), safe in a URL or a command line.
 */
export function runCursor(r: Pick<RunRecord, 'startedAt' | 'runId'>): string {
  return Buffer.from(`${r.startedAt}:${r.runId}`, 'utf8').toString('base64url');
}

/**
 * The position a cursor of `runCursor` stands for.
 * @throws UsageError if `cursor` was not made by `runCursor`
 * @internal
 */
export function parseRunCursor(cursor: string): { readonly startedAt: number; readonly runId: string } {
  const text = /^[A-Za-z0-9_-]*$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const colon = text.indexOf(':');
  const startedAt = colon > 0 ? Number(text.slice(0, colon)) : NaN;
  const runId = text.slice(colon + 1);
  // Only the canonical form: what runCursor would make of the position it decodes to.
  if (!Number.isFinite(startedAt) || runCursor({ startedAt, runId }) !== cursor) {
    throw new UsageError(`invalid run cursor ${JSON.stringify(cursor)}: pass the cursor a listing of runs gave`);
  }
  return { startedAt, runId };
}

/**
 * Orders run ids as SQLite's BINARY collation does (UTF-8 bytes, that is code points), which is
 * not JavaScript's `<` (UTF-16 code units) beyond the BMP. @internal
 */
export function compareRunIds(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * The inbox message an event delivers: `inboxId` of a SignalReceived (events are looked at
 * generically here, as the store sees them). @internal
 */
export function inboxIdOf(e: { readonly kind: string }): number | undefined {
  const { kind, inboxId } = e as { readonly kind: string; readonly inboxId?: unknown };
  return kind === 'SignalReceived' && typeof inboxId === 'number' ? inboxId : undefined;
}

/**
 * The outbox rows an event queues: the notifications of a NotificationsQueued (events are looked at
 * generically here, as the store sees them), with their idempotency keys. @internal
 */
export function outboxRowsOf(
  runId: string,
  e: { readonly kind: string },
): { readonly key: string; readonly event: string; readonly sinkIndex: number; readonly sink: string; readonly payload: string }[] | undefined {
  if (e.kind !== 'NotificationsQueued') return undefined;
  const list = (e as { readonly notifications?: unknown }).notifications;
  if (!Array.isArray(list)) return undefined;
  return list.map((n: { event: string; sinkIndex: number; sink: unknown; payload: unknown }) => ({
    key: outboxKey(runId, n.event, n.sinkIndex),
    event: n.event,
    sinkIndex: n.sinkIndex,
    sink: JSON.stringify(n.sink),
    payload: JSON.stringify(n.payload ?? null),
  }));
}

/** The idempotency key of a notification: one per run, event and sink. */
export function outboxKey(runId: string, event: string, sinkIndex: number): string {
  return `${runId}:${event}:${sinkIndex}`;
}

/** The case-folded text `RunFilter.search` compares (both stores fold the same way). @internal */
export function foldCase(text: string): string {
  return text.toLowerCase();
}

/**
 * The messages of the errors both stores throw, so that they read the same whichever store a
 * caller has. @internal
 */
export const storeMessages = {
  movedOn: (runId: string, expected: number, found: number): string =>
    `history of run ${runId} moved on: expected seq ${expected}, found ${found}`,
  noSuchRun: (runId: string): string => `cannot append to run ${runId}: no such run`,
  runExists: (runId: string): string => `cannot create run ${runId}: a run with this id already exists`,
  runEnded: (runId: string, status: RunStatus): string =>
    `cannot append to run ${runId}: the run has ended (${status}); its history takes no more events`,
  notFirst: (runId: string): string =>
    `cannot create run ${runId}: the first event of a run must be RunStarted`,
  startedAgain: (runId: string): string =>
    `cannot append to run ${runId}: RunStarted may only be the first event of a run`,
  afterTerminal: (runId: string, kind: string): string =>
    `cannot append to run ${runId}: ${kind} ends the run and must be the last event appended`,
  notJson: (runId: string, kind: string, why: string): string =>
    `cannot store event ${kind} of run ${runId}: it is not JSON (${why})`,
  badSeq: (runId: string, expected: number): string =>
    `cannot append to run ${runId}: expected seq ${expected} is not a non-negative integer`,
  closed: (): string => 'the event store is closed',
  fenced: (runId: string, epoch: number, owner: string | null, found: number): string =>
    `cannot append to run ${runId}: this worker's lease (epoch ${epoch}) was lost; ${owner ?? 'nobody'} holds the run now (epoch ${found})`,
  keyTaken: (runId: string, key: string, existing: string): string =>
    `cannot create run ${runId}: idempotency key ${JSON.stringify(key)} belongs to run ${existing}`,
  postNoSuchRun: (runId: string): string => `cannot post to run ${runId}: no such run`,
  postEnded: (runId: string, status: RunStatus): string => `cannot post to run ${runId}: run ${runId} has ended (${status})`,
  postNotJson: (runId: string, name: string, why: string): string =>
    `cannot post ${name} to run ${runId}: its payload is not JSON (${why})`,
  postBadKind: (runId: string, kind: string): string => `cannot post to run ${runId}: unknown message kind ${JSON.stringify(kind)}`,
  inboxMissing: (runId: string, inboxId: number): string =>
    `cannot append to run ${runId}: SignalReceived names inbox message ${inboxId}, which the run's inbox does not hold`,
  inboxConsumed: (runId: string, inboxId: number, seq: number): string =>
    `cannot append to run ${runId}: inbox message ${inboxId} was delivered already (event ${seq}); a message is delivered once`,
} as const;

/** The run row an imported history stands for. @throws StoreError if it is not a valid history @internal */
export function checkHistory(history: readonly HistoryEvent[]): RunRecord {
  const first = history[0];
  if (first === undefined || first.kind !== 'RunStarted') throw new StoreError('cannot import a run: its history must start with RunStarted');
  const runId = first.runId;
  for (let i = 0; i < history.length; i++) {
    const e = history[i]!;
    if (e.seq !== i + 1) throw new StoreError(`cannot import run ${runId}: event ${i + 1} has seq ${String(e.seq)}; seqs must run 1, 2, 3, ...`);
    if (i > 0 && e.kind === 'RunStarted') throw new StoreError(storeMessages.startedAgain(runId));
    if (i < history.length - 1 && isTerminal(e)) throw new StoreError(`cannot import run ${runId}: ${e.kind} at seq ${e.seq} is not the last event`);
  }
  const last = history[history.length - 1]!;
  const r: { -readonly [K in keyof RunRecord]: RunRecord[K] } = {
    runId,
    workflow: first.workflow,
    file: first.file,
    status: runStatusAfter(last.kind),
    startedAt: first.at,
    lastSeq: history.length,
  };
  if (isTerminal(last)) r.endedAt = last.at;
  if (first.parent !== undefined) r.parentRunId = first.parent.runId;
  if (first.resumedFrom !== undefined) r.resumedFrom = first.resumedFrom.runId;
  return r;
}

/** The columns of a `runs` row that make a RunRecord (the same in both stores). */
export interface RunRecordRow {
  run_id: string;
  workflow: string;
  file: string;
  status: RunStatus;
  started_at: number;
  ended_at: number | null;
  parent_run_id: string | null;
  resumed_from: string | null;
  last_seq: number;
  idempotency_key: string | null;
}

/** The RunRecord of a `runs` row. */
export function runRecordOf(row: RunRecordRow): RunRecord {
  const r: { -readonly [K in keyof RunRecord]: RunRecord[K] } = {
    runId: row.run_id,
    workflow: row.workflow,
    file: row.file,
    status: row.status,
    startedAt: row.started_at,
    lastSeq: row.last_seq,
  };
  if (row.ended_at !== null) r.endedAt = row.ended_at;
  if (row.parent_run_id !== null) r.parentRunId = row.parent_run_id;
  if (row.resumed_from !== null) r.resumedFrom = row.resumed_from;
  if (row.idempotency_key !== null) r.idempotencyKey = row.idempotency_key;
  return r;
}

/** An `outbox` row as both stores read it; `S` and `P` are the sink and payload as the driver gives them (text or JSON). */
export interface OutboxRecordRow<S, P> {
  id: number;
  run_id: string;
  event: string;
  sink_index: number;
  sink: S;
  payload: P;
  key: string;
  status: string;
  attempts: number;
  next_at: number;
  last_error: string | null;
  claimed_until: number;
  delivered_at: number | null;
  created_at: number;
}

/** The OutboxItem of an `outbox` row, with its sink and payload already parsed. */
export function outboxItemOf(row: OutboxRecordRow<unknown, unknown>, sink: OutboxItem['sink'], payload: Json): OutboxItem {
  const item: { -readonly [K in keyof OutboxItem]: OutboxItem[K] } = {
    id: row.id,
    runId: row.run_id,
    event: row.event as OutboxItem['event'],
    sinkIndex: row.sink_index,
    sink,
    payload,
    key: row.key,
    status: row.status as OutboxItem['status'],
    attempts: row.attempts,
    nextAt: row.next_at,
    claimedUntil: row.claimed_until,
    createdAt: row.created_at,
  };
  if (row.last_error !== null) item.lastError = row.last_error;
  if (row.delivered_at !== null) item.deliveredAt = row.delivered_at;
  return item;
}
