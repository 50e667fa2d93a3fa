/**
 * This file defines the PostgreSQL schema of the event store as numbered migrations (scale-out
 * notes §5.2). `migrate` in postgres-store.ts applies the pending ones in one transaction under
 * `pg_advisory_xact_lock`, so two migrators at once apply each migration once; opening a store never
 * migrates (River's rule: "ordinary client construction and startup never migrate"), it checks the
 * version and refuses a database that is behind or ahead.
 *
 * Hot-path shape of `runs`: an append updates `last_seq`, the counters and (with the same value
 * unless the run ends or blocks) `status`; none of them is in an index except `status`, which changes
 * only a few times per run, so the usual append is a HOT update (fillfactor 80 leaves the room).
 * `runs_claimable` is ordered by `lease_until` alone, which is the claim's ORDER BY: an expired lease,
 * a run nobody has claimed ('-infinity') and a parked run that is due (its `lease_until` is its wake
 * time) are all "lease_until <= now()". Times of the engine (started_at, ended_at, event times) are
 * ms bigints of the engine clock, as in SQLite; lease times are `timestamptz` of the database clock.
 * `run_id` is `COLLATE "C"` so that listing order (and its keyset cursor) is code-point order, as in
 * SQLite, whatever the database's locale.
 */
import { TASK_QUEUE_DDL } from './task-queue-schema.js';

/** One numbered step of the PostgreSQL schema. */
export interface PgMigration {
  /** The version the database is at after this migration (1, 2, ...). */
  readonly version: number;
  readonly description: string;
  /** SQL run in the migration's transaction. */
  readonly sql: string;
}

/** The migrations, in order. Never edit a released one: add the next. */
export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    description: 'runs (leases, counters, parking), events, inbox, outbox, scripts, workers',
    sql: `
      CREATE TABLE runs (
        run_id          text COLLATE "C" PRIMARY KEY,
        workflow        text NOT NULL,
        file            text NOT NULL,
        status          text NOT NULL,
        started_at      bigint NOT NULL,
        ended_at        bigint,
        parent_run_id   text,
        resumed_from    text,
        idempotency_key text UNIQUE,
        created_order   bigint GENERATED ALWAYS AS IDENTITY,
        folded_id       text NOT NULL,
        folded_workflow text NOT NULL,
        owner           text,
        epoch           bigint NOT NULL DEFAULT 0,
        lease_until     timestamptz NOT NULL DEFAULT '-infinity',
        wake_at         timestamptz,
        last_seq        bigint NOT NULL,
        total           integer NOT NULL DEFAULT 0,
        done            integer NOT NULL DEFAULT 0,
        cache_hits      integer NOT NULL DEFAULT 0,
        first_error     jsonb
      ) WITH (fillfactor = 80);
      CREATE INDEX runs_claimable ON runs (lease_until) WHERE status = 'running';
      -- listWorkers: the runs each worker holds (owner changes at claims, never in an append).
      CREATE INDEX runs_by_owner ON runs (owner) WHERE status = 'running';
      CREATE INDEX runs_by_started ON runs (started_at, run_id);
      CREATE INDEX runs_by_status ON runs (status, started_at, run_id);
      CREATE INDEX runs_by_workflow ON runs (workflow, started_at, run_id);
      CREATE TABLE events (
        run_id text COLLATE "C" NOT NULL,
        seq    bigint NOT NULL,
        kind   text NOT NULL,
        body   jsonb NOT NULL,
        PRIMARY KEY (run_id, seq)
      );
      CREATE TABLE inbox (
        id           bigserial PRIMARY KEY,
        run_id       text COLLATE "C" NOT NULL,
        kind         text NOT NULL,
        name         text NOT NULL,
        payload      jsonb NOT NULL,
        key          text,
        posted_at    bigint NOT NULL,
        consumed_seq bigint
      ) WITH (autovacuum_vacuum_scale_factor = 0.05);
      CREATE UNIQUE INDEX inbox_by_key ON inbox (run_id, key) WHERE key IS NOT NULL;
      CREATE INDEX inbox_pending ON inbox (run_id, id) WHERE consumed_seq IS NULL;
      CREATE TABLE outbox (
        id            bigserial PRIMARY KEY,
        run_id        text COLLATE "C" NOT NULL,
        event         text NOT NULL,
        sink_index    integer NOT NULL,
        sink          jsonb NOT NULL,
        payload       jsonb NOT NULL,
        key           text NOT NULL UNIQUE,
        status        text NOT NULL DEFAULT 'pending',
        attempts      integer NOT NULL DEFAULT 0,
        next_at       bigint NOT NULL,
        last_error    text,
        claimed_until bigint NOT NULL DEFAULT 0,
        claimed_by    text,
        delivered_at  bigint,
        created_at    bigint NOT NULL
      ) WITH (autovacuum_vacuum_scale_factor = 0.05);
      CREATE INDEX outbox_due ON outbox (next_at, id) WHERE status = 'pending';
      CREATE INDEX outbox_by_status ON outbox (status, id);
      CREATE TABLE scripts (
        digest text PRIMARY KEY,
        files  jsonb NOT NULL
      );
      CREATE TABLE workers (
        worker_id  text PRIMARY KEY,
        host       text NOT NULL,
        pid        integer NOT NULL,
        queues     text[] NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        seen_at    timestamptz NOT NULL DEFAULT now()
      );
      -- Fails the append statement (and so its transaction) when it consumed fewer inbox messages
      -- than its SignalReceived events name: a message is delivered once, all or nothing.
      CREATE FUNCTION larkflow_check_consumed(run text, expected integer, got integer) RETURNS boolean
      LANGUAGE plpgsql AS $$
      BEGIN
        IF got <> expected THEN
          RAISE EXCEPTION 'inbox messages of run % are not waiting (% of %)', run, got, expected USING ERRCODE = 'LF001';
        END IF;
        RETURN true;
      END $$;
    `,
  },
  {
    version: 2,
    description: 'task queue: tasks and concurrency seats',
    sql: TASK_QUEUE_DDL,
  },
];

/** The schema version this larkflow writes on PostgreSQL. */
export const PG_SCHEMA_VERSION: number = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]!.version;

/** The key of the advisory lock that serializes migrators (any constant; `hashtext` of a name). */
export const MIGRATION_LOCK = "hashtext('larkflow.migrate')";
