/**
 * This file defines the PostgreSQL event store: the `AsyncEventStore` that many workers on many
 * hosts share (scale-out notes §5.2). It keeps the SQLite store's semantics (the same seq guard,
 * status rules, idempotency keys, inbox and outbox, error messages; tests/store/async-contract.test.ts
 * runs one suite against both), with these statement shapes:
 *
 * - **Append** (and group commit, `appendMany`): ONE statement for any number of runs. A CTE
 *   compare-and-sets each run's row (`last_seq = expected`, not ended, and with a lease `owner` and
 *   `epoch` equal to the lease's), and only for the runs it updated inserts the events, consumes the
 *   inbox messages their SignalReceived events name, fills the outbox from their
 *   NotificationsQueued events and moves the counters and status. A run missing from the result was
 *   refused (a second read says why: fenced, moved on, ended, missing). A SignalReceived whose
 *   message is not waiting fails the statement (`larkflow_check_consumed`), so nothing is delivered
 *   twice; a group then retries its runs one by one, so only that run is refused. The runs and
 *   their events travel as one jsonb parameter; the usual append (one run, events and counters
 *   only) takes a leaner statement of the same guard and updates (APPEND_ONE_SQL).
 * - **Claim**: `UPDATE runs ... WHERE run_id IN (SELECT ... WHERE status = 'running' AND
 *   lease_until <= now() ORDER BY lease_until LIMIT n FOR UPDATE SKIP LOCKED)`, served by the
 *   partial index `runs_claimable (lease_until)`: two claimers never get the same run.
 * - **Park** gives the lease up (`owner = NULL`) and sets `lease_until` to the wake time (or
 *   'infinity'), so a parked run is claimable exactly when it is due. Posting to the inbox of an
 *   unowned run sets `lease_until = '-infinity'`: claimable at once. Both lock the run's row first,
 *   so a message posted while the run parks is never missed.
 *
 * Every session runs with `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout`
 * (sent in the startup packet, no extra round trip). Opening checks the connection and the schema
 * version, and never migrates: `migrate()` does, explicitly (`larkflow db migrate --db URL`).
 */
import { hostname } from 'node:os';
import pg from 'pg';
import { DuplicateRunError, FencedError, StoreError } from '../../core/errors.js';
import { isTerminal } from '../../core/events.js';
import type { HistoryEvent, NewEvent, RunStatus } from '../../core/events.js';
import type { Json } from '../../core/json.js';
import { advanceCounters, NO_COUNTERS } from '../../core/run-counters.js';
import type { RunCounters } from '../../core/run-counters.js';
import type { ClaimResult, InboxMessage, InboxPost, LeaseHolder, OutboxFilter, OutboxItem, RunFilter, RunLease, RunRecord, ScriptFile } from '../../core/ports.js';
import type { AppendBatch, AppendOutcome, AsyncEventStore, ClaimedRun, MigrationReport, RunRecordWithCounters, WorkerInfo } from '../async-store.js';
import { checkHistory, foldCase, inboxIdOf, isEndedStatus, outboxRowsOf, outboxItemOf, parseRunCursor, runRecordOf, runStatusAfter, storeMessages as msg } from '../schema.js';
import type { OutboxRecordRow, RunRecordRow } from '../schema.js';
import { MIGRATION_LOCK, PG_MIGRATIONS, PG_SCHEMA_VERSION } from './migrations.js';
import type { PgMigration } from './migrations.js';
import { PostgresTaskQueue } from './task-queue.js';

/** Options of `openPostgresStore`. */
export interface PostgresStoreOptions {
  /** Connections in the pool. @default 10 */
  readonly poolSize?: number;
  /** A statement running longer is cancelled. @default 30000 */
  readonly statementTimeoutMs?: number;
  /** A statement waiting longer for a row lock fails. @default 5000 */
  readonly lockTimeoutMs?: number;
  /** A session idle inside a transaction longer is ended by the server. @default 60000 */
  readonly idleInTransactionTimeoutMs?: number;
  /** Connecting longer fails. @default 10000 */
  readonly connectTimeoutMs?: number;
  /**
   * Run the append as a named prepared statement (parsed and planned once per connection). Turn it
   * off behind PgBouncer older than 1.21 in transaction mode, which cannot route them. @default true
   */
  readonly preparedStatements?: boolean;
  /**
   * Open a database whose schema is behind (or empty), for `migrate()` alone. Every other call
   * then fails until it is migrated. @default false
   */
  readonly forMigration?: boolean;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:\/\/([^:/@]+):[^@]*@/, '://$1:***@');
  }
}

/** True for `postgres://` and `postgresql://` URLs. */
export function isPostgresUrl(text: string): boolean {
  return /^postgres(ql)?:\/\//i.test(text);
}

/** int8 as a JS number (ids, seqs, epochs and ms stay far below 2^53). */
const TYPES = {
  getTypeParser: (oid: number, format?: string): ((v: string) => unknown) => {
    if (oid === 20) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** ms since the epoch of a timestamptz expression (±Infinity for ±infinity). */
const ms = (expr: string): string => `(extract(epoch FROM ${expr}) * 1000)::float8`;
/** A timestamptz `$n` ms after now(). */
const nowPlus = (param: string): string => `now() + (${param}::float8 * interval '1 millisecond')`;

const RUN_COLUMNS =
  'run_id, workflow, file, status, started_at, ended_at, parent_run_id, resumed_from, last_seq, idempotency_key, total, done, cache_hits, first_error';

/** A `runs` row with its counters. */
interface RunRow extends RunRecordRow {
  total: number;
  done: number;
  cache_hits: number;
  first_error: RunCounters['firstError'] | null;
}

const OUTBOX_COLUMNS = 'id, run_id, event, sink_index, sink, payload, key, status, attempts, next_at, last_error, claimed_until, delivered_at, created_at';

/** An `outbox` row as pg gives it (sink and payload parsed from jsonb). */
type OutboxRow = OutboxRecordRow<OutboxItem['sink'], Json>;

/**
 * The group-commit append (see the file comment). One parameter, $1: a jsonb array with one object
 * per run (`run_id`, `expected`, lease `owner` and `epoch`, `n` events, the `status` after them,
 * `ended_at`, the counter deltas `d_total`/`d_done`/`d_hits`, the first error `fe_task`/`fe_step`/
 * `fe_msg`, `n_consume` inbox messages to consume; its `events` bodies in order, an event's seq
 * being `expected` + its position; `consume` as [{id, seq}] and `outbox` rows, both left out when
 * none). One parameter rather than 28 parallel arrays: the driver escapes no array elements and
 * the server parses one value, and, as no row estimate of it depends on the values, the prepared
 * statement keeps its generic plan (by primary keys, tested) instead of planning every call.
 * @internal exported for the plan test
 */
export const APPEND_SQL = `
WITH ok AS (
  UPDATE runs r SET
    last_seq = r.last_seq + v.n,
    status = v.status,
    ended_at = coalesce(v.ended_at, r.ended_at),
    total = r.total + v.d_total,
    done = r.done + v.d_done,
    cache_hits = r.cache_hits + v.d_hits,
    first_error = coalesce(r.first_error, CASE WHEN v.fe_msg IS NULL THEN NULL ELSE jsonb_strip_nulls(jsonb_build_object(
      'task', coalesce(v.fe_task, (SELECT e.body->>'task' FROM events e
                                   WHERE e.run_id = v.run_id AND e.kind = 'TaskScheduled' AND e.body->>'stepId' = v.fe_step
                                   ORDER BY e.seq LIMIT 1)),
      'message', v.fe_msg)) END)
  FROM jsonb_to_recordset($1::jsonb) AS v(run_id text, expected bigint, owner text, epoch bigint, n int, status text, ended_at bigint, d_total int, d_done int, d_hits int,
                                          fe_task text, fe_step text, fe_msg text, n_consume int, events jsonb, consume jsonb, outbox jsonb)
  WHERE r.run_id = v.run_id AND r.last_seq = v.expected AND r.status NOT IN ('completed', 'failed', 'cancelled')
    AND (v.owner IS NULL OR (r.owner = v.owner AND r.epoch = v.epoch))
  RETURNING r.run_id, v.expected, v.n_consume, v.events, v.consume, v.outbox
),
ins AS (
  INSERT INTO events (run_id, seq, kind, body)
  SELECT ok.run_id, ok.expected + e.i, e.body->>'kind', e.body FROM ok, jsonb_array_elements(ok.events) WITH ORDINALITY AS e(body, i)
),
con AS (
  UPDATE inbox i SET consumed_seq = c.seq
  FROM ok, jsonb_to_recordset(ok.consume) AS c(id bigint, seq bigint)
  WHERE i.id = c.id AND i.run_id = ok.run_id AND i.consumed_seq IS NULL
  RETURNING i.run_id
),
obx AS (
  INSERT INTO outbox (run_id, event, sink_index, sink, payload, key, next_at, created_at)
  SELECT ok.run_id, o.event, o.sink_index, o.sink, o.payload, o.key, 0, o.created_at
  FROM ok, jsonb_to_recordset(ok.outbox) AS o(event text, sink_index int, sink jsonb, payload jsonb, key text, created_at bigint)
  ON CONFLICT (key) DO NOTHING
)
SELECT ok.run_id, larkflow_check_consumed(ok.run_id, ok.n_consume, (SELECT count(*)::int FROM con WHERE con.run_id = ok.run_id)) AS checked
FROM ok`;

/**
 * The usual append, one run and nothing but events and counters (no inbox message consumed, no
 * notification queued, no first error whose task must be looked up): the same compare-and-set of
 * the run's row (`last_seq`, not ended, lease owner and epoch) and the same counter and status
 * updates as APPEND_SQL, with the run's values as scalars and its events as ONE jsonb array ($13, in
 * order; an event's seq is $2 + its position, its kind the body's). It returns no rows: the run
 * was appended when it inserted all its events (rowCount), refused when it inserted none. Measured
 * for a batch of 10 events: about a quarter less time in the server than the group statement (no
 * inbox, outbox or first-error lookup steps to start, no join), and about 20% more appends/s. It
 * has no step a custom plan could fold away, so its prepared statement keeps the generic plan (by
 * primary key, tested) rather than planning every call.
 * @internal exported for the plan test
 */
export const APPEND_ONE_SQL = `
WITH ok AS (
  UPDATE runs r SET
    last_seq = r.last_seq + $5::int,
    status = $6::text,
    ended_at = coalesce($7::bigint, r.ended_at),
    total = r.total + $8::int,
    done = r.done + $9::int,
    cache_hits = r.cache_hits + $10::int,
    first_error = coalesce(r.first_error, CASE WHEN $12::text IS NULL THEN NULL ELSE jsonb_strip_nulls(jsonb_build_object('task', $11::text, 'message', $12::text)) END)
  WHERE r.run_id = $1::text AND r.last_seq = $2::bigint AND r.status NOT IN ('completed', 'failed', 'cancelled')
    AND ($3::text IS NULL OR (r.owner = $3::text AND r.epoch = $4::bigint))
  RETURNING r.run_id
)
INSERT INTO events (run_id, seq, kind, body)
SELECT ok.run_id, $2::bigint + e.i, e.body->>'kind', e.body FROM ok, jsonb_array_elements($13::jsonb) WITH ORDINALITY AS e(body, i)`;

/**
 * The batch claim ($1 owner, $2 how many, $3 lease ms). The inner SELECT walks `runs_claimable` in
 * its own order and skips rows another claimer has locked; `= ANY(ARRAY(...))` makes it an InitPlan
 * run once, so the UPDATE goes by primary key whatever plan (custom or generic) is chosen.
 * @internal exported for the plan test
 */
export const CLAIM_RUNS_SQL = `UPDATE runs SET owner = $1, epoch = epoch + 1, lease_until = ${nowPlus('$3')}, wake_at = NULL
WHERE run_id = ANY(ARRAY(
  SELECT run_id FROM runs WHERE status = 'running' AND lease_until <= now()
  ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED))
RETURNING run_id, epoch, last_seq`;

/** CLAIM_RUNS_SQL for the runs of the queues $4 (a run's queue is in its RunStarted, seq 1; none: "default"). */
export const CLAIM_QUEUE_RUNS_SQL = `UPDATE runs SET owner = $1, epoch = epoch + 1, lease_until = ${nowPlus('$3')}, wake_at = NULL
WHERE run_id = ANY(ARRAY(
  SELECT run_id FROM runs WHERE status = 'running' AND lease_until <= now()
    AND coalesce((SELECT e.body->>'queue' FROM events e WHERE e.run_id = runs.run_id AND e.seq = 1), 'default') = ANY($4::text[])
  ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED))
RETURNING run_id, epoch, last_seq`;

/** One run's part of an append statement, prepared in JS. */
interface PreparedAppend {
  readonly runId: string;
  readonly expected: number;
  readonly lease: RunLease | undefined;
  readonly out: HistoryEvent[];
  readonly bodies: string[];
  readonly status: RunStatus;
  readonly endedAt: number | null;
  readonly delta: RunCounters;
  /** The step of the first error when its task must be looked up in earlier events. */
  readonly firstErrorStep: string | null;
  readonly consumed: number[];
  readonly outbox: { key: string; event: string; sinkIndex: number; sink: string; payload: string; at: number }[];
}

/**
 * Opens the PostgreSQL store at `url` (`postgres://user:pass@host:port/db`), checking that the
 * server answers and that the database has this larkflow's schema.
 * @throws StoreError if the server cannot be reached, refuses the login, the database does not
 *   exist, was never migrated or is behind (run `larkflow db migrate --db URL`), or is newer
 */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<PostgresEventStore> {
  const shown = redactUrl(url);
  const settings: [string, number][] = [
    ['statement_timeout', options.statementTimeoutMs ?? 30_000],
    ['lock_timeout', options.lockTimeoutMs ?? 5_000],
    ['idle_in_transaction_session_timeout', options.idleInTransactionTimeoutMs ?? 60_000],
  ];
  for (const [name, v] of settings) {
    if (!Number.isSafeInteger(v) || v < 0) throw new StoreError(`cannot open database ${shown}: ${name} must be a non-negative integer of ms, not ${v}`);
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    options: settings.map(([k, v]) => `-c ${k}=${v}`).join(' '),
    types: TYPES,
    application_name: 'larkflow',
  });
  // An idle connection the server drops (restart, pg_terminate_backend) must not crash the
  // process: the pool discards it and the next call connects again.
  pool.on('error', () => {});
  let version: number;
  try {
    version = await readVersion(pool);
  } catch (err) {
    await pool.end().catch(() => {});
    throw connectError(shown, err);
  }
  if (version > PG_SCHEMA_VERSION) {
    await pool.end().catch(() => {});
    throw new StoreError(`database ${shown} was written by a newer larkflow (schema v${version}, this larkflow knows v${PG_SCHEMA_VERSION}); upgrade larkflow`);
  }
  if (version < PG_SCHEMA_VERSION && !options.forMigration) {
    await pool.end().catch(() => {});
    throw new StoreError(
      version === 0
        ? `database ${shown} has no larkflow schema (never migrated); run \`larkflow db migrate --db ${shown}\` once, then start again`
        : `database ${shown} is at larkflow schema v${version}, this larkflow needs v${PG_SCHEMA_VERSION}; run \`larkflow db migrate --db ${shown}\``,
    );
  }
  return new PostgresEventStore(pool, shown, options.preparedStatements ?? true);
}

async function readVersion(q: pg.Pool | pg.PoolClient): Promise<number> {
  const has = await q.query<{ has: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS has");
  if (!has.rows[0]?.has) return 0;
  const { rows } = await q.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
  return rows[0]?.v ?? 0;
}

/** A StoreError for a failed connection or login, saying what to do. */
function connectError(shown: string, err: unknown): StoreError {
  const e = err as { code?: string; message?: string };
  const why = e.message ?? String(err);
  switch (e.code) {
    case 'ECONNREFUSED':
      return new StoreError(`cannot connect to PostgreSQL at ${shown}: connection refused; is the server running and listening on that host and port? Check the URL (--db or LARKFLOW_DB)`, { cause: err });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new StoreError(`cannot connect to PostgreSQL at ${shown}: unknown host (${why}); check the URL (--db or LARKFLOW_DB)`, { cause: err });
    case '28P01':
    case '28000':
      return new StoreError(`cannot log in to PostgreSQL at ${shown}: ${why}; check the user and password in the URL (--db or LARKFLOW_DB) and the server's pg_hba.conf`, { cause: err });
    case '3D000':
      return new StoreError(`cannot open database ${shown}: ${why}; create it (createdb) or fix the URL, then run \`larkflow db migrate --db ${shown}\``, { cause: err });
    default:
      if (err instanceof StoreError) return err;
      return new StoreError(`cannot open database ${shown}: ${why}${e.code ? ` (${e.code})` : ''}`, { cause: err });
  }
}

/** The PostgreSQL `AsyncEventStore`. Make one with `openPostgresStore`; one instance is one pool. */
export class PostgresEventStore implements AsyncEventStore {
  readonly kind = 'postgres' as const;
  readonly multiHost = true;
  readonly #pool: pg.Pool;
  readonly #url: string;
  /** The append's prepared-statement name, or undefined to send it unnamed. */
  readonly #appendName: string | undefined;
  /** APPEND_ONE_SQL's prepared-statement name, or undefined to send it unnamed. */
  readonly #appendOneName: string | undefined;
  #closed = false;

  /** @internal use `openPostgresStore`, which checks the connection and the schema. */
  constructor(pool: pg.Pool, shownUrl: string, prepared = true) {
    this.#pool = pool;
    this.#url = shownUrl;
    this.#appendName = prepared ? 'larkflow_append' : undefined;
    this.#appendOneName = prepared ? 'larkflow_append_one' : undefined;
  }

  /** The database URL, password hidden. */
  get url(): string {
    return this.#url;
  }

  // -------------------------------------------------------------------------------------------
  // Schema

  async schemaVersion(): Promise<number> {
    return this.#q('cannot read the schema version', () => readVersion(this.#pool));
  }

  async migrate(): Promise<MigrationReport> {
    return this.migrateTo(PG_SCHEMA_VERSION);
  }

  /**
   * Applies the migrations up to `target`, in one transaction under an advisory lock: of two
   * migrators, the second waits and then finds nothing to do.
   * @internal `migrate()` is the API; the tests stop at earlier versions.
   */
  async migrateTo(target: number, migrations: readonly PgMigration[] = PG_MIGRATIONS): Promise<MigrationReport> {
    this.#checkOpen();
    const client = await this.#connect();
    try {
      await client.query('BEGIN');
      try {
        await client.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
        await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
        const from = await readVersion(client);
        const known = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
        if (from > known) throw new StoreError(`database ${this.#url} was written by a newer larkflow (schema v${from}, this larkflow knows v${known}); upgrade larkflow`);
        const applied: number[] = [];
        for (const m of migrations) {
          if (m.version <= from || m.version > target) continue;
          try {
            await client.query(m.sql);
          } catch (err) {
            throw new StoreError(
              `cannot migrate database ${this.#url} from schema v${from} to v${m.version} (${m.description}): ${(err as Error).message}; the database is unchanged`,
              { cause: err },
            );
          }
          await client.query('INSERT INTO schema_migrations (version, description) VALUES ($1, $2)', [m.version, m.description]);
          applied.push(m.version);
        }
        await client.query('COMMIT');
        return { from, to: Math.max(from, applied.length > 0 ? applied[applied.length - 1]! : from), applied };
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    } catch (err) {
      throw this.#wrap(err, `cannot migrate database ${this.#url}`);
    } finally {
      client.release();
    }
  }

  /** The timeouts of this store's sessions, as the server reports them (for diagnostics and tests). */
  async settings(): Promise<{ readonly statementTimeoutMs: number; readonly lockTimeoutMs: number; readonly idleInTransactionTimeoutMs: number }> {
    return this.#q('cannot read the session settings', async () => {
      const { rows } = await this.#pool.query<{ s: string; l: string; i: string }>(
        "SELECT current_setting('statement_timeout') AS s, current_setting('lock_timeout') AS l, current_setting('idle_in_transaction_session_timeout') AS i",
      );
      const toMs = (v: string): number => {
        const m = /^(\d+)(ms|s|min)?$/.exec(v);
        if (!m) return NaN;
        return Number(m[1]) * (m[2] === 's' ? 1000 : m[2] === 'min' ? 60_000 : 1);
      };
      return { statementTimeoutMs: toMs(rows[0]!.s), lockTimeoutMs: toMs(rows[0]!.l), idleInTransactionTimeoutMs: toMs(rows[0]!.i) };
    });
  }

  async dbNow(): Promise<number> {
    return this.#q('cannot read the database clock', async () => {
      const { rows } = await this.#pool.query<{ now: number }>(`SELECT ${ms('clock_timestamp()')} AS now`);
      return Math.floor(rows[0]!.now);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Runs

  async createRun(
    first: Omit<HistoryEvent & { kind: 'RunStarted' }, 'seq'>,
    lease?: { readonly owner: string; readonly leaseMs: number },
    idempotencyKey?: string,
  ): Promise<HistoryEvent> {
    this.#checkOpen();
    if (first.kind !== 'RunStarted') throw new StoreError(msg.notFirst(first.runId));
    const event = { ...first, seq: 1 } as HistoryEvent & { kind: 'RunStarted' };
    const body = serialize(first.runId, event);
    const stored = JSON.parse(body) as HistoryEvent;
    const rows = await this.#q(`cannot create run ${first.runId}`, async () => {
      const r = await this.#pool.query<{ run_id: string }>(
        `WITH r AS (
           INSERT INTO runs (run_id, workflow, file, status, started_at, parent_run_id, resumed_from, idempotency_key,
                             folded_id, folded_workflow, owner, epoch, lease_until, last_seq)
           VALUES ($1, $2, $3, 'running', $4, $5, $6, $7, $8, $9, $10, $11,
                   CASE WHEN $10::text IS NULL THEN '-infinity'::timestamptz ELSE ${nowPlus('$12')} END, 1)
           ON CONFLICT DO NOTHING
           RETURNING run_id
         ), e AS (
           INSERT INTO events (run_id, seq, kind, body) SELECT run_id, 1, 'RunStarted', $13::jsonb FROM r
         )
         SELECT run_id FROM r`,
        [
          event.runId,
          event.workflow,
          event.file,
          event.at,
          event.parent?.runId ?? null,
          event.resumedFrom?.runId ?? null,
          idempotencyKey ?? null,
          foldCase(event.runId),
          foldCase(event.workflow),
          lease?.owner ?? null,
          lease ? 1 : 0,
          lease?.leaseMs ?? 0,
          body,
        ],
      );
      return r.rows;
    });
    if (rows.length === 1) return stored;
    // Refused by a unique index: say which, the key first (as SQLite does).
    if (idempotencyKey !== undefined) {
      const existing = await this.runByIdempotencyKey(idempotencyKey);
      if (existing !== undefined) throw new DuplicateRunError(msg.keyTaken(first.runId, idempotencyKey, existing.runId), existing.runId);
    }
    throw new DuplicateRunError(msg.runExists(first.runId), first.runId);
  }

  async runByIdempotencyKey(key: string): Promise<RunRecord | undefined> {
    const row = await this.#one<RunRow>(`cannot read the run of idempotency key ${JSON.stringify(key)}`, `SELECT ${RUN_COLUMNS} FROM runs WHERE idempotency_key = $1`, [key]);
    return row === undefined ? undefined : runRecordOf(row);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const row = await this.#one<RunRow>(`cannot read run ${runId}`, `SELECT ${RUN_COLUMNS} FROM runs WHERE run_id = $1`, [runId]);
    return row === undefined ? undefined : runRecordOf(row);
  }

  async getRunWithCounters(runId: string): Promise<RunRecordWithCounters | undefined> {
    const row = await this.#one<RunRow>(`cannot read run ${runId}`, `SELECT ${RUN_COLUMNS} FROM runs WHERE run_id = $1`, [runId]);
    return row === undefined ? undefined : { ...runRecordOf(row), counters: countersOf(row) };
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    return (await this.#listRows(filter)).map(runRecordOf);
  }

  async listRunsWithCounters(filter: RunFilter = {}): Promise<RunRecordWithCounters[]> {
    return (await this.#listRows(filter)).map((r) => ({ ...runRecordOf(r), counters: countersOf(r) }));
  }

  async #listRows(filter: RunFilter): Promise<RunRow[]> {
    this.#checkOpen();
    const after = filter.after === undefined ? undefined : parseRunCursor(filter.after);
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown): string => (params.push(v), `$${params.length}`);
    if (filter.status !== undefined) where.push(`status = ${p(filter.status)}`);
    if (filter.workflow !== undefined) where.push(`workflow = ${p(filter.workflow)}`);
    if (filter.since !== undefined) where.push(`started_at >= ${p(filter.since)}`);
    if (filter.until !== undefined) where.push(`started_at < ${p(filter.until)}`);
    if (filter.search !== undefined) {
      const s = p(foldCase(filter.search));
      where.push(`(strpos(folded_id, ${s}) > 0 OR strpos(folded_workflow, ${s}) > 0)`);
    }
    if (after !== undefined) where.push(`(started_at, run_id) < (${p(after.startedAt)}, ${p(after.runId)})`);
    const limit = filter.limit === undefined ? '' : ` LIMIT ${p(Math.max(0, Math.floor(filter.limit)))}`;
    return this.#q('cannot list runs', async () => {
      const r = await this.#pool.query<RunRow>(
        `SELECT ${RUN_COLUMNS} FROM runs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, run_id DESC${limit}`,
        params,
      );
      return r.rows;
    });
  }

  async unfinishedRuns(): Promise<RunRecord[]> {
    return this.#q('cannot list unfinished runs', async () => {
      const r = await this.#pool.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE status = 'running' ORDER BY started_at, created_order`);
      return r.rows.map(runRecordOf);
    });
  }

  async history(runId: string, fromSeq = 1): Promise<HistoryEvent[]> {
    return this.#q(`cannot read the history of run ${runId}`, async () => {
      const r = await this.#pool.query<{ body: HistoryEvent }>('SELECT body FROM events WHERE run_id = $1 AND seq >= $2 ORDER BY seq', [runId, Math.ceil(fromSeq)]);
      return r.rows.map((row) => row.body);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Appends

  async append(runId: string, expectedLastSeq: number, events: readonly NewEvent[], lease?: RunLease): Promise<HistoryEvent[]> {
    this.#checkOpen();
    if (!Number.isSafeInteger(expectedLastSeq) || expectedLastSeq < 0) throw new StoreError(msg.badSeq(runId, expectedLastSeq));
    if (events.length === 0) {
      const row = await this.#one<{ owner: string | null; epoch: number; last_seq: number }>(`cannot append to run ${runId}`, 'SELECT owner, epoch, last_seq FROM runs WHERE run_id = $1', [runId]);
      if (row === undefined) throw new StoreError(msg.noSuchRun(runId));
      if (lease && (row.owner !== lease.owner || row.epoch !== lease.epoch)) throw new FencedError(msg.fenced(runId, lease.epoch, row.owner, row.epoch), runId);
      if (row.last_seq !== expectedLastSeq) throw new StoreError(msg.movedOn(runId, expectedLastSeq, row.last_seq));
      return [];
    }
    const prepared = prepareAppend(runId, expectedLastSeq, events, lease);
    const outcome = (await this.#appendPrepared([prepared])).get(runId)!;
    if (!outcome.ok) throw outcome.error;
    return outcome.events;
  }

  async appendMany(batches: readonly AppendBatch[]): Promise<Map<string, AppendOutcome>> {
    this.#checkOpen();
    const out = new Map<string, AppendOutcome>();
    const ready: PreparedAppend[] = [];
    const named = new Set<string>();
    for (const b of batches) {
      if (named.has(b.runId)) continue; // a run named twice: only its first batch is appended
      named.add(b.runId);
      if (out.has(b.runId)) {
        out.set(b.runId, { ok: false, error: new StoreError(`cannot append to run ${b.runId}: it appears twice in one group commit; append its events as one batch`) });
        continue;
      }
      try {
        if (!Number.isSafeInteger(b.expectedLastSeq) || b.expectedLastSeq < 0) throw new StoreError(msg.badSeq(b.runId, b.expectedLastSeq));
        if (b.events.length === 0) {
          out.set(b.runId, { ok: true, events: await this.append(b.runId, b.expectedLastSeq, [], b.lease) });
          continue;
        }
        ready.push(prepareAppend(b.runId, b.expectedLastSeq, b.events, b.lease));
      } catch (err) {
        out.set(b.runId, { ok: false, error: asStoreError(err) });
      }
    }
    if (ready.length > 0) for (const [id, o] of await this.#appendPrepared(ready)) out.set(id, o);
    // In the callers' order.
    return new Map(batches.filter((b) => out.has(b.runId)).map((b) => [b.runId, out.get(b.runId)!]));
  }

  /**
   * Runs the append statement for `runs`. A run's own fault (a message delivered twice, an event
   * PostgreSQL cannot store: SQLSTATE classes 22 and 23, LF001) fails the whole statement, so with
   * several runs each goes again alone and only that run is refused. Anything else (connection
   * lost, timeouts, the server shutting down) throws: nothing was written, the caller may retry.
   */
  async #appendPrepared(runs: readonly PreparedAppend[]): Promise<Map<string, AppendOutcome>> {
    const out = new Map<string, AppendOutcome>();
    let appended: Set<string>;
    try {
      appended = await this.#appendStatement(runs);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const runsFault = typeof code === 'string' && (code === 'LF001' || code.startsWith('22') || code.startsWith('23'));
      if (!runsFault) throw this.#wrap(err, runs.length === 1 ? `cannot append to run ${runs[0]!.runId}` : `cannot append to ${runs.length} runs`);
      if (runs.length > 1) {
        for (const r of runs) for (const [id, o] of await this.#appendPrepared([r])) out.set(id, o);
        return out;
      }
      const r = runs[0]!;
      out.set(r.runId, { ok: false, error: code === 'LF001' ? await this.#whyInboxRefused(r) : this.#wrap(err, `cannot append to run ${r.runId}`) });
      return out;
    }
    for (const r of runs) {
      if (appended.has(r.runId)) out.set(r.runId, { ok: true, events: r.out });
      else out.set(r.runId, { ok: false, error: await this.#whyNotAppended(r.runId, r.expected, r.lease) });
    }
    return out;
  }

  async #appendStatement(runs: readonly PreparedAppend[]): Promise<Set<string>> {
    const one = runs.length === 1 ? runs[0]! : undefined;
    if (one !== undefined && one.consumed.length === 0 && one.outbox.length === 0 && one.firstErrorStep === null) {
      const fe = one.delta.firstError;
      const values = [one.runId, one.expected, one.lease?.owner ?? null, one.lease?.epoch ?? null, one.out.length, one.status, one.endedAt,
        one.delta.total, one.delta.done, one.delta.cacheHits, fe?.task ?? null, fe?.message ?? null, `[${one.bodies.join(',')}]`];
      const res = await this.#pool.query(this.#appendOneName === undefined ? { text: APPEND_ONE_SQL, values } : { name: this.#appendOneName, text: APPEND_ONE_SQL, values });
      return res.rowCount === one.out.length ? new Set([one.runId]) : new Set();
    }
    let doc = '[';
    for (const r of runs) {
      const fe = r.delta.firstError;
      if (doc.length > 1) doc += ',';
      doc += `{"run_id":${JSON.stringify(r.runId)},"expected":${r.expected},"owner":${JSON.stringify(r.lease?.owner ?? null)},"epoch":${r.lease?.epoch ?? null},"n":${r.out.length},`;
      doc += `"status":${JSON.stringify(r.status)},"ended_at":${r.endedAt},"d_total":${r.delta.total},"d_done":${r.delta.done},"d_hits":${r.delta.cacheHits},`;
      doc += `"fe_task":${JSON.stringify(fe?.task ?? null)},"fe_step":${JSON.stringify(r.firstErrorStep)},"fe_msg":${JSON.stringify(fe?.message ?? null)},"n_consume":${r.consumed.length / 2},`;
      doc += `"events":[${r.bodies.join(',')}]`;
      if (r.consumed.length > 0) {
        const pairs: string[] = [];
        for (let i = 0; i < r.consumed.length; i += 2) pairs.push(`{"id":${r.consumed[i]!},"seq":${r.consumed[i + 1]!}}`);
        doc += `,"consume":[${pairs.join(',')}]`;
      }
      if (r.outbox.length > 0) {
        const rows = r.outbox.map((o) => `{"event":${JSON.stringify(o.event)},"sink_index":${o.sinkIndex},"sink":${o.sink ?? 'null'},"payload":${o.payload ?? 'null'},"key":${JSON.stringify(o.key)},"created_at":${o.at}}`);
        doc += `,"outbox":[${rows.join(',')}]`;
      }
      doc += '}';
    }
    doc += ']';
    const values = [doc];
    const res = await this.#pool.query<{ run_id: string }>(this.#appendName === undefined ? { text: APPEND_SQL, values } : { name: this.#appendName, text: APPEND_SQL, values });
    return new Set(res.rows.map((row) => row.run_id));
  }

  /** Explains an append the compare-and-set refused. */
  async #whyNotAppended(runId: string, expected: number, lease: RunLease | undefined): Promise<StoreError> {
    const row = await this.#one<{ owner: string | null; epoch: number; last_seq: number; status: RunStatus }>(
      `cannot append to run ${runId}`,
      'SELECT owner, epoch, last_seq, status FROM runs WHERE run_id = $1',
      [runId],
    );
    if (row === undefined) return new StoreError(msg.noSuchRun(runId));
    if (lease && (row.owner !== lease.owner || row.epoch !== lease.epoch)) return new FencedError(msg.fenced(runId, lease.epoch, row.owner, row.epoch), runId);
    if (row.last_seq !== expected) return new StoreError(msg.movedOn(runId, expected, row.last_seq));
    if (isEndedStatus(row.status)) return new StoreError(msg.runEnded(runId, row.status));
    return new StoreError(`cannot append to run ${runId}: the run changed while appending; read it again`);
  }

  /** Explains an append refused because a SignalReceived names a message that is not waiting. */
  async #whyInboxRefused(r: PreparedAppend): Promise<StoreError> {
    const seen = new Map<number, number>();
    for (let i = 0; i < r.consumed.length; i += 2) {
      const id = r.consumed[i]!;
      const row = await this.#one<{ consumed_seq: number | null }>(`cannot append to run ${r.runId}`, 'SELECT consumed_seq FROM inbox WHERE id = $1 AND run_id = $2', [id, r.runId]);
      if (row === undefined) return new StoreError(msg.inboxMissing(r.runId, id), undefined, 'inbox');
      const by = row.consumed_seq ?? seen.get(id);
      if (by !== undefined) return new StoreError(msg.inboxConsumed(r.runId, id, by), undefined, 'inbox');
      seen.set(id, r.consumed[i + 1]!);
    }
    return new StoreError(`cannot append to run ${r.runId}: its inbox changed while appending; read it again`, undefined, 'inbox');
  }

  // -------------------------------------------------------------------------------------------
  // Leases

  async claimRun(runId: string, owner: string, leaseMs: number): Promise<ClaimResult> {
    const rows = await this.#rows<{ epoch: number }>(
      `cannot claim run ${runId}`,
      `UPDATE runs SET owner = $2, epoch = epoch + 1, lease_until = ${nowPlus('$3')}, wake_at = NULL
       WHERE run_id = $1 AND status = 'running' AND (owner IS NULL OR owner = $2 OR lease_until <= now())
       RETURNING epoch`,
      [runId, owner, leaseMs],
    );
    if (rows.length === 1) return { ok: true, epoch: rows[0]!.epoch };
    const row = await this.#leaseRow(runId);
    if (row === undefined) return { ok: false, reason: 'missing' };
    if (row.status !== 'running') return { ok: false, reason: 'ended' };
    return { ok: false, reason: 'held', holder: holderOf(row) };
  }

  async claimRuns(owner: string, max: number, leaseMs: number, queues?: readonly string[]): Promise<ClaimedRun[]> {
    const n = Math.max(0, Math.min(1000, Math.floor(max)));
    if (n === 0) return [];
    const rows =
      queues === undefined
        ? await this.#rows<{ run_id: string; epoch: number; last_seq: number }>('cannot claim runs', CLAIM_RUNS_SQL, [owner, n, leaseMs])
        : await this.#rows<{ run_id: string; epoch: number; last_seq: number }>('cannot claim runs', CLAIM_QUEUE_RUNS_SQL, [owner, n, leaseMs, [...queues]]);
    return rows.map((r) => ({ runId: r.run_id, epoch: r.epoch, lastSeq: r.last_seq }));
  }

  async renewLeases(owner: string, leases: readonly (RunLease & { readonly runId: string })[], leaseMs: number): Promise<string[]> {
    if (leases.length === 0) return [];
    const rows = await this.#rows<{ run_id: string }>(
      'cannot renew run leases',
      `UPDATE runs r SET lease_until = ${nowPlus('$4')}
       FROM unnest($2::text[], $3::bigint[]) AS l(run_id, epoch)
       WHERE r.run_id = l.run_id AND r.owner = $1 AND r.epoch = l.epoch
       RETURNING r.run_id`,
      [owner, leases.map((l) => l.runId), leases.map((l) => l.epoch), leaseMs],
    );
    const kept = new Set(rows.map((r) => r.run_id));
    return leases.filter((l) => !kept.has(l.runId)).map((l) => l.runId);
  }

  async releaseLeases(owner: string, leases: readonly (RunLease & { readonly runId: string })[]): Promise<void> {
    if (leases.length === 0) return;
    await this.#rows(
      'cannot release run leases',
      `UPDATE runs r SET lease_until = '-infinity'
       FROM unnest($2::text[], $3::bigint[]) AS l(run_id, epoch)
       WHERE r.run_id = l.run_id AND r.owner = $1 AND r.epoch = l.epoch`,
      [owner, leases.map((l) => l.runId), leases.map((l) => l.epoch)],
    );
  }

  async leaseOf(runId: string): Promise<LeaseHolder | undefined> {
    const row = await this.#leaseRow(runId);
    return row === undefined ? undefined : holderOf(row);
  }

  async #leaseRow(runId: string): Promise<{ owner: string | null; epoch: number; lease_until: number; now: number; status: RunStatus } | undefined> {
    return this.#one(
      `cannot read the lease of run ${runId}`,
      `SELECT owner, epoch, ${ms('lease_until')} AS lease_until, ${ms('clock_timestamp()')} AS now, status FROM runs WHERE run_id = $1`,
      [runId],
    );
  }

  async park(runId: string, lease: RunLease, wakeAt: number | null): Promise<'ok' | 'fenced'> {
    return this.#tx(`cannot park run ${runId}`, async (c) => {
      // Lock the row first: a post to the inbox that committed before this point is seen by the
      // next statement (a new snapshot), and one that comes after waits and then sees the run parked.
      const locked = await c.query('SELECT 1 FROM runs WHERE run_id = $1 AND owner = $2 AND epoch = $3 AND status = $4 FOR NO KEY UPDATE', [runId, lease.owner, lease.epoch, 'running']);
      if (locked.rowCount !== 1) return 'fenced';
      await c.query(
        `UPDATE runs SET owner = NULL,
           wake_at = CASE WHEN $2::float8 IS NULL THEN NULL ELSE to_timestamp($2::float8 / 1000) END,
           lease_until = CASE
             WHEN EXISTS (SELECT 1 FROM inbox WHERE inbox.run_id = $1 AND consumed_seq IS NULL) THEN '-infinity'::timestamptz
             WHEN $2::float8 IS NULL THEN 'infinity'::timestamptz
             ELSE to_timestamp($2::float8 / 1000) END
         WHERE run_id = $1`,
        [runId, wakeAt],
      );
      return 'ok';
    });
  }

  // -------------------------------------------------------------------------------------------
  // Inbox

  async postInbox(runId: string, post: InboxPost): Promise<{ readonly id: number; readonly duplicate: boolean }> {
    this.#checkOpen();
    return this.#tx(`cannot post to run ${runId}`, async (c) => {
      // The same checks, in the same order, as the other stores'. The row lock serializes posts to
      // one run (and a post with a park).
      const run = await c.query<{ status: RunStatus; owner: string | null }>('SELECT status, owner FROM runs WHERE run_id = $1 FOR NO KEY UPDATE', [runId]);
      const row = run.rows[0];
      if (row === undefined) throw new StoreError(msg.postNoSuchRun(runId), undefined, 'missing');
      if (post.key !== undefined) {
        const same = await c.query<{ id: number }>('SELECT id FROM inbox WHERE run_id = $1 AND key = $2', [runId, post.key]);
        if (same.rows[0] !== undefined) return { id: same.rows[0].id, duplicate: true };
      }
      if (isEndedStatus(row.status)) throw new StoreError(msg.postEnded(runId, row.status), undefined, 'ended');
      if (post.kind !== 'signal') throw new StoreError(msg.postBadKind(runId, String(post.kind)));
      const payload = serializePayload(runId, post);
      const ins = await c.query<{ id: number }>(
        `INSERT INTO inbox (run_id, kind, name, payload, key, posted_at) VALUES ($1, 'signal', $2, $3::jsonb, $4, ${ms('now()')}::bigint) RETURNING id`,
        [runId, post.name, payload, post.key ?? null],
      );
      // A parked (or released) run nobody holds is claimable at once.
      if (row.owner === null && row.status === 'running') await c.query("UPDATE runs SET lease_until = '-infinity', wake_at = NULL WHERE run_id = $1", [runId]);
      return { id: ins.rows[0]!.id, duplicate: false };
    });
  }

  async pendingInbox(runId: string): Promise<InboxMessage[]> {
    const rows = await this.#rows<{ id: number; run_id: string; name: string; payload: Json; key: string | null; posted_at: number }>(
      `cannot read the inbox of run ${runId}`,
      'SELECT id, run_id, name, payload, key, posted_at FROM inbox WHERE run_id = $1 AND consumed_seq IS NULL ORDER BY id',
      [runId],
    );
    return rows.map((row) => {
      const m: { -readonly [K in keyof InboxMessage]: InboxMessage[K] } = { id: row.id, runId: row.run_id, kind: 'signal', name: row.name, payload: row.payload, postedAt: row.posted_at };
      if (row.key !== null) m.key = row.key;
      return m;
    });
  }

  async runsWithPendingInbox(): Promise<string[]> {
    const rows = await this.#rows<{ run_id: string }>(
      'cannot list the runs with waiting messages',
      `SELECT inbox.run_id FROM inbox JOIN runs ON runs.run_id = inbox.run_id
       WHERE inbox.consumed_seq IS NULL AND runs.status = 'running'
       GROUP BY inbox.run_id ORDER BY min(inbox.id)`,
    );
    return rows.map((r) => r.run_id);
  }

  // -------------------------------------------------------------------------------------------
  // Outbox

  async claimOutbox(owner: string, now: number, limit: number, leaseMs: number): Promise<OutboxItem[]> {
    if (limit <= 0) return [];
    const rows = await this.#rows<OutboxRow>(
      'cannot claim outbox rows',
      `UPDATE outbox SET claimed_until = $2::bigint + $4::bigint, claimed_by = $1
       WHERE id = ANY(ARRAY(SELECT id FROM outbox WHERE status = 'pending' AND next_at <= $2 AND claimed_until < $2
                            ORDER BY next_at, id LIMIT $3 FOR UPDATE SKIP LOCKED))
       RETURNING ${OUTBOX_COLUMNS}`,
      [owner, now, Math.floor(limit), Math.floor(leaseMs)],
    );
    rows.sort((a, b) => a.next_at - b.next_at || a.id - b.id);
    return rows.map(outboxItem);
  }

  async completeOutbox(id: number, ok: boolean, error?: string, nextAt?: number, giveUp?: boolean): Promise<void> {
    if (ok) {
      await this.#rows(
        `cannot record the delivery of outbox row ${id}`,
        "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = $1, claimed_until = 0, claimed_by = NULL WHERE id = $2 AND status = 'pending'",
        [Date.now(), id],
      );
    } else {
      await this.#rows(
        `cannot record the delivery of outbox row ${id}`,
        "UPDATE outbox SET status = $1, attempts = attempts + 1, last_error = $2, next_at = coalesce($3, next_at), claimed_until = 0, claimed_by = NULL WHERE id = $4 AND status = 'pending'",
        [giveUp ? 'failed' : 'pending', error ?? null, nextAt ?? null, id],
      );
    }
  }

  async listOutbox(filter: OutboxFilter = {}): Promise<OutboxItem[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.status !== undefined) (params.push(filter.status), where.push(`status = $${params.length}`));
    if (filter.runId !== undefined) (params.push(filter.runId), where.push(`run_id = $${params.length}`));
    const rows = await this.#rows<OutboxRow>('cannot list the outbox', `SELECT ${OUTBOX_COLUMNS} FROM outbox ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`, params);
    return rows.map(outboxItem);
  }

  // -------------------------------------------------------------------------------------------
  // Scripts, workers, import

  async putScript(digest: string, files: readonly ScriptFile[]): Promise<void> {
    const text = JSON.stringify(files.map((f) => ({ path: f.path, text: f.text })));
    await this.#rows(`cannot store script ${digest}`, 'INSERT INTO scripts (digest, files) VALUES ($1, $2::jsonb) ON CONFLICT (digest) DO NOTHING', [digest, text]);
  }

  async getScript(digest: string): Promise<ScriptFile[] | undefined> {
    const row = await this.#one<{ files: ScriptFile[] }>(`cannot read script ${digest}`, 'SELECT files FROM scripts WHERE digest = $1', [digest]);
    return row?.files;
  }

  async heartbeat(worker: Omit<WorkerInfo, 'seenAt' | 'startedAt' | 'runs'>): Promise<void> {
    await this.#rows(
      `cannot record the heartbeat of worker ${worker.workerId}`,
      `INSERT INTO workers (worker_id, host, pid, queues) VALUES ($1, $2, $3, $4::text[])
       ON CONFLICT (worker_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, queues = excluded.queues, seen_at = now()`,
      [worker.workerId, worker.host || hostname(), worker.pid, [...worker.queues]],
    );
  }

  async listWorkers(withinMs: number): Promise<WorkerInfo[]> {
    const rows = await this.#rows<{ worker_id: string; host: string; pid: number; queues: string[]; started_at: number; seen_at: number; runs: string[] }>(
      'cannot list workers',
      `SELECT w.worker_id, w.host, w.pid, w.queues, ${ms('w.started_at')} AS started_at, ${ms('w.seen_at')} AS seen_at,
              array(SELECT r.run_id FROM runs r WHERE r.owner = w.worker_id AND r.status = 'running' AND r.lease_until > now() ORDER BY r.run_id) AS runs
       FROM workers w WHERE w.seen_at >= ${nowPlus('-$1')} ORDER BY w.worker_id`,
      [withinMs],
    );
    return rows.map((r) => ({ workerId: r.worker_id, host: r.host, pid: r.pid, queues: r.queues, startedAt: Math.floor(r.started_at), seenAt: Math.floor(r.seen_at), runs: r.runs }));
  }

  async unregisterWorker(workerId: string): Promise<void> {
    await this.#rows(`cannot remove worker ${workerId}`, 'DELETE FROM workers WHERE worker_id = $1', [workerId]);
  }

  async importRun(history: readonly HistoryEvent[], options: { readonly idempotencyKey?: string } = {}): Promise<void> {
    this.#checkOpen();
    const run = checkHistory(history);
    const bodies = history.map((e) => serialize(run.runId, e));
    const c = advanceCounters(NO_COUNTERS, history);
    const rows = await this.#q(`cannot import run ${run.runId}`, async () => {
      const r = await this.#pool.query<{ run_id: string }>(
        `WITH r AS (
           INSERT INTO runs (run_id, workflow, file, status, started_at, ended_at, parent_run_id, resumed_from, idempotency_key,
                             folded_id, folded_workflow, last_seq, total, done, cache_hits, first_error)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb)
           ON CONFLICT DO NOTHING RETURNING run_id
         ), e AS (
           INSERT INTO events (run_id, seq, kind, body)
           SELECT r.run_id, x.seq, x.kind, x.body FROM r, unnest($17::bigint[], $18::text[], $19::jsonb[]) AS x(seq, kind, body)
         )
         SELECT run_id FROM r`,
        [
          run.runId, run.workflow, run.file, run.status, run.startedAt, run.endedAt ?? null, run.parentRunId ?? null, run.resumedFrom ?? null,
          options.idempotencyKey ?? null, foldCase(run.runId), foldCase(run.workflow), history.length, c.total, c.done, c.cacheHits,
          c.firstError === undefined ? null : JSON.stringify(c.firstError),
          history.map((e) => e.seq), history.map((e) => e.kind), bodies,
        ],
      );
      return r.rows;
    });
    if (rows.length === 1) return;
    if (options.idempotencyKey !== undefined) {
      const existing = await this.runByIdempotencyKey(options.idempotencyKey);
      if (existing !== undefined && existing.runId !== run.runId) throw new DuplicateRunError(msg.keyTaken(run.runId, options.idempotencyKey, existing.runId), existing.runId);
    }
    throw new DuplicateRunError(msg.runExists(run.runId), run.runId);
  }

  /** The task queue of this database (scale-out notes §5.3), on this store's connection pool. */
  taskQueue(): PostgresTaskQueue {
    this.#checkOpen();
    return (this.#taskQueue ??= new PostgresTaskQueue(this.#pool));
  }

  #taskQueue: PostgresTaskQueue | undefined;

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  #checkOpen(): void {
    if (this.#closed) throw new StoreError(msg.closed());
  }

  async #connect(): Promise<pg.PoolClient> {
    try {
      return await this.#pool.connect();
    } catch (err) {
      throw connectError(this.#url, err);
    }
  }

  /** Runs `fn`, turning what it throws into a StoreError that says what failed. */
  async #q<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.#checkOpen();
    try {
      return await fn();
    } catch (err) {
      throw this.#wrap(err, what);
    }
  }

  async #rows<T extends pg.QueryResultRow = pg.QueryResultRow>(what: string, sql: string, params: unknown[] = []): Promise<T[]> {
    return this.#q(what, async () => (await this.#pool.query<T>(sql, params)).rows);
  }

  async #one<T extends pg.QueryResultRow>(what: string, sql: string, params: unknown[] = []): Promise<T | undefined> {
    return (await this.#rows<T>(what, sql, params))[0];
  }

  /** Runs `fn` in a transaction on one connection; rolls back if it throws. */
  async #tx<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    this.#checkOpen();
    const c = await this.#connect();
    try {
      await c.query('BEGIN');
      try {
        const v = await fn(c);
        await c.query('COMMIT');
        return v;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {});
        throw err;
      }
    } catch (err) {
      throw this.#wrap(err, what);
    } finally {
      c.release();
    }
  }

  #wrap(err: unknown, what: string): StoreError {
    if (err instanceof StoreError) return err;
    const e = err as { code?: string; message?: string };
    if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === '28P01' || e.code === '28000' || e.code === '3D000') return connectError(this.#url, err);
    if (e.code === '22P05') return new StoreError(`${what}: PostgreSQL cannot store a \\u0000 character in JSON (${e.message}); nothing of this call was written`, { cause: err });
    if (e.code === '42P01') {
      return new StoreError(`${what}: database ${this.#url} has no larkflow schema (${e.message}); run \`larkflow db migrate --db ${this.#url}\``, { cause: err });
    }
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) {
      return new StoreError(`${what}: database ${this.#url} failed (${e.message}, ${e.code}); nothing of this call was written`, { cause: err });
    }
    return new StoreError(`${what}: ${e.message ?? String(err)} (database ${this.#url})`, { cause: err });
  }
}

/** Checks an append and builds its rows, as the SQLite store's transaction does (before any write). */
function prepareAppend(runId: string, expected: number, events: readonly NewEvent[], lease: RunLease | undefined): PreparedAppend {
  const out: HistoryEvent[] = new Array(events.length);
  const bodies: string[] = new Array(events.length);
  const consumed: number[] = [];
  const outbox: PreparedAppend['outbox'] = [];
  let seq = expected;
  let endedAt: number | null = null;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.kind === 'RunStarted') throw new StoreError(msg.startedAgain(runId));
    if (endedAt !== null) throw new StoreError(msg.afterTerminal(runId, events[i - 1]!.kind));
    if (isTerminal(e)) endedAt = e.at;
    seq++;
    // The event as appended is the caller's event with its seq (as the SQLite store returns it),
    // not a parse of its JSON: serializing is most of this function's time, parsing it back half
    // as much again.
    const event = { ...e, seq } as HistoryEvent;
    bodies[i] = serialize(runId, event);
    out[i] = event;
    const inboxId = inboxIdOf(e);
    if (inboxId !== undefined) consumed.push(inboxId, seq);
    const rows = outboxRowsOf(runId, e);
    if (rows !== undefined) for (const r of rows) outbox.push({ ...r, at: e.at });
  }
  let firstErrorStep: string | null = null;
  const delta = advanceCounters(NO_COUNTERS, events, (stepId) => {
    firstErrorStep = stepId;
    return undefined;
  });
  return {
    runId,
    expected,
    lease,
    out,
    bodies,
    status: runStatusAfter(events[events.length - 1]!.kind),
    endedAt,
    delta,
    firstErrorStep: delta.firstError !== undefined && delta.firstError.task === undefined ? firstErrorStep : null,
    consumed,
    outbox,
  };
}

function holderOf(row: { owner: string | null; epoch: number; lease_until: number; now: number }): LeaseHolder {
  const finite = (v: number): number => (v === Infinity ? Number.MAX_SAFE_INTEGER : v === -Infinity ? 0 : Math.floor(v));
  return { owner: row.owner, epoch: row.epoch, leaseUntil: finite(row.lease_until), now: Math.floor(row.now) };
}


function countersOf(row: RunRow): RunCounters {
  return { total: row.total, done: row.done, cacheHits: row.cache_hits, ...(row.first_error !== null ? { firstError: row.first_error } : {}) };
}

function outboxItem(row: OutboxRow): OutboxItem {
  return outboxItemOf(row, row.sink, row.payload);
}

function serialize(runId: string, event: HistoryEvent): string {
  try {
    return JSON.stringify(event);
  } catch (err) {
    throw new StoreError(msg.notJson(runId, event.kind, (err as Error).message), { cause: err });
  }
}

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

function asStoreError(err: unknown): StoreError {
  return err instanceof StoreError ? err : new StoreError(err instanceof Error ? err.message : String(err), { cause: err });
}
