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
import type { EventKind, RunStatus } from '../core/events.js';

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
} as const;
