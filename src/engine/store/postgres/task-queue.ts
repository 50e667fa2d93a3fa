/**
 * This file defines the PostgreSQL task queue (scale-out notes §5.3): tasks for executors as rows
 * of `tasks` (task-queue-schema.ts), claimed in bounded batches by any number of pollers on any
 * hosts, each claim a lease with a fencing epoch on the database clock.
 *
 * The statement shapes are the point, so here they are:
 *
 * - **claim**: one `UPDATE … WHERE task_id = ANY(ARRAY(SELECT … WHERE status='queued' AND queue =
 *   ANY($1) AND run_at <= now() ORDER BY queue, run_at, task_id LIMIT $n FOR UPDATE SKIP LOCKED))
 *   RETURNING …`. The ORDER BY is the column order of the partial index `tasks_ready`, so the
 *   inner scan reads only queued rows in order and stops after `n`; ordered any other way the
 *   planner walks the primary key with a filter and each claim costs O(finished rows) (notes
 *   §4.2: 1,226 → 330 jobs/s over one drain). Claims are bounded to {@link MAX_CLAIM} rows.
 *   `= ANY(ARRAY(…))` rather than `IN (…)`: the same rows, but the outer update is always a
 *   primary-key lookup; with `IN`, a generic plan (a prepared statement after five runs), which
 *   cannot see `n`, joins the subquery by hash against a sequential scan of the whole table.
 *   The row lock lasts for that one statement only; what holds a task afterwards is its lease
 *   columns (owner, epoch, lease_until), never a lock held while the task runs.
 * - **prepared**: the hot statements (claim, finish, renew, recordExternalRef) are named, so each
 *   connection parses and plans them once (planning is a third of a claim's server time); their
 *   generic plans are checked by tests/store/task-queue.test.ts as their custom plans are. Turn
 *   `preparedStatements` off behind PgBouncer in transaction mode before 1.21.
 * - **fencing**: the epoch moves on (+1) at every claim and at every requeue, so a lease is current
 *   exactly while the row still has its epoch. Every later write of a holder names that epoch:
 *   `recordExternalRef`, `renew` and `finish` affect nothing once the lease was requeued
 *   (`requeueExpired`) or claimed by someone else, and report `'fenced'` / lost. They find the row
 *   by its primary key and test the epoch only (with `owner IS NOT NULL`), never `status =
 *   'running'`: that would let the planner walk the partial index `tasks_leased` (every running
 *   task) whenever statistics say few tasks run, and each finish would cost O(running tasks).
 * - **finish** moves the row to `task_history` and releases its seat in one statement, and runs the
 *   caller's hook (posting the result to the run's inbox, deduplicated by `taskId:epoch`) in the
 *   same transaction: the result is posted exactly when the task leaves the queue.
 * - **expiry**: `requeueExpired` puts tasks whose lease ran out back in the queue with their
 *   `external_ref`, so the next poller re-attaches to the remote job instead of submitting again.
 * - **seats**: a queue's concurrency limit is `limit` rows of `task_slots`; `claimWithSeats` takes
 *   a free seat row (`FOR UPDATE SKIP LOCKED`) for each task it claims, in the same statement. Two
 *   pollers can never take one seat, so the limit holds; counting running tasks under SKIP LOCKED
 *   would not (two claims both see room, pgqueuer 1.4).
 *
 * The caller owns the pool and its session settings (`lock_timeout`,
 * `idle_in_transaction_session_timeout`); nothing here holds a transaction open across a wait.
 */
import type { ClientBase, Pool, QueryConfig } from 'pg';

/** The most tasks one claim takes (DBOS #1300: an unbounded dequeue locks the whole backlog). */
export const MAX_CLAIM = 100;

/** A task to put in the queue. `(runId, stepKey, attempt)` identifies it: enqueueing it again does nothing. */
export interface NewTask {
  readonly runId: string;
  readonly stepKey: string;
  readonly attempt: number;
  readonly queue: string;
  readonly executor: string;
  /** What the executor needs (JSON). */
  readonly spec: unknown;
  /** Not claimable before this many ms from now (database clock). Default 0. */
  readonly delayMs?: number;
}

/** A claimed task: who holds it, at which epoch, until when (database clock, ms since the epoch). */
export interface TaskLease {
  readonly taskId: number;
  readonly runId: string;
  readonly stepKey: string;
  readonly attempt: number;
  readonly queue: string;
  readonly executor: string;
  readonly spec: unknown;
  readonly owner: string;
  readonly epoch: number;
  readonly leaseUntil: number;
  /** The remote job's id recorded by an earlier holder: re-attach to it, do not submit again. */
  readonly externalRef: string | null;
}

/** How a task ended, as `task_history` keeps it. */
export interface TaskOutcome {
  readonly status: 'succeeded' | 'failed' | 'cancelled';
  /** The result or the error (JSON); kept in `task_history.result`. */
  readonly result?: unknown;
}

/** A task that `finish` took out of the queue, as the result hook sees it. */
export interface FinishedTask {
  readonly lease: TaskLease;
  readonly outcome: TaskOutcome;
  /** `taskId:epoch`: the inbox dedupe key of this result (one result per lease). */
  readonly dedupeKey: string;
}

/**
 * Posts results, in the transaction that takes the tasks out of the queue (on `client`; do not
 * commit or roll back). Throwing rolls the whole finish back: the tasks stay leased.
 */
export type PostResults = (client: ClientBase, finished: readonly FinishedTask[]) => Promise<void>;

/** What a queue's rows look like when selected with {@link LEASE_COLUMNS}. */
interface LeaseRow {
  task_id: string;
  run_id: string;
  step_key: string;
  attempt: number;
  queue: string;
  executor: string;
  spec: unknown;
  owner: string;
  epoch: string;
  lease_until_ms: number;
  external_ref: string | null;
}

const LEASE_COLUMNS = (t: string): string =>
  `${t}.task_id, ${t}.run_id, ${t}.step_key, ${t}.attempt, ${t}.queue, ${t}.executor, ${t}.spec, ${t}.owner, ${t}.epoch,
   (extract(epoch FROM ${t}.lease_until) * 1000)::float8 AS lease_until_ms, ${t}.external_ref`;

function leaseOf(r: LeaseRow): TaskLease {
  return {
    taskId: Number(r.task_id),
    runId: r.run_id,
    stepKey: r.step_key,
    attempt: r.attempt,
    queue: r.queue,
    executor: r.executor,
    spec: r.spec,
    owner: r.owner,
    epoch: Number(r.epoch),
    leaseUntil: r.lease_until_ms,
    externalRef: r.external_ref,
  };
}

/** UPDATE … RETURNING comes in no particular order: leases are returned by queue, then task id. */
function byQueueAndId(a: TaskLease, b: TaskLease): number {
  return a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : a.taskId - b.taskId;
}

/** The statements (exported for the EXPLAIN tests). */
export const TASK_QUEUE_SQL = {
  enqueue: `
    INSERT INTO tasks (run_id, step_key, attempt, queue, executor, spec, run_at)
    SELECT v.run_id, v.step_key, v.attempt, v.queue, v.executor, v.spec, now() + v.delay_ms * interval '1 millisecond'
      FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::jsonb[], $7::float8[])
           AS v(run_id, step_key, attempt, queue, executor, spec, delay_ms)
     WHERE NOT EXISTS (SELECT 1 FROM task_history h
                        WHERE h.run_id = v.run_id AND h.step_key = v.step_key AND h.attempt = v.attempt)
    ON CONFLICT (run_id, step_key, attempt) DO NOTHING
    RETURNING task_id, run_id, step_key, attempt`,
  claim: `
    UPDATE tasks t
       SET status = 'running', owner = $3, epoch = t.epoch + 1, lease_until = now() + $4 * interval '1 millisecond'
     WHERE t.task_id = ANY(ARRAY(SELECT task_id FROM tasks
                                  WHERE status = 'queued' AND queue = ANY($1::text[]) AND run_at <= now()
                                  ORDER BY queue, run_at, task_id
                                  LIMIT $2
                                  FOR UPDATE SKIP LOCKED))
    RETURNING ${LEASE_COLUMNS('t')}`,
  claimWithSeats: `
    WITH free AS (
           SELECT slot, row_number() OVER (ORDER BY slot) AS n
             FROM (SELECT slot FROM task_slots WHERE queue = $1 AND task_id IS NULL
                    ORDER BY slot LIMIT $2 FOR UPDATE SKIP LOCKED) s),
         picked AS (
           SELECT task_id, row_number() OVER (ORDER BY queue, run_at, task_id) AS n
             FROM (SELECT task_id, queue, run_at FROM tasks
                    WHERE status = 'queued' AND queue = $1 AND run_at <= now()
                    ORDER BY queue, run_at, task_id
                    LIMIT (SELECT count(*) FROM free)
                    FOR UPDATE SKIP LOCKED) q),
         pairs AS (SELECT picked.task_id, free.slot FROM picked JOIN free USING (n)),
         seated AS (UPDATE task_slots s SET task_id = pairs.task_id FROM pairs
                     WHERE s.queue = $1 AND s.slot = pairs.slot)
    UPDATE tasks t
       SET status = 'running', owner = $3, epoch = t.epoch + 1, lease_until = now() + $4 * interval '1 millisecond'
      FROM pairs
     WHERE t.task_id = pairs.task_id
    RETURNING ${LEASE_COLUMNS('t')}`,
  renew: `
    UPDATE tasks t SET lease_until = now() + $3 * interval '1 millisecond'
      FROM unnest($1::bigint[], $2::bigint[]) AS v(task_id, epoch)
     WHERE t.task_id = v.task_id AND t.epoch = v.epoch AND t.owner IS NOT NULL
    RETURNING t.task_id, t.epoch`,
  recordExternalRef: `
    UPDATE tasks SET external_ref = $3 WHERE task_id = $1 AND epoch = $2 AND owner IS NOT NULL`,
  finish: `
    WITH v AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::jsonb[]) AS v(task_id, epoch, outcome, result)),
         done AS (DELETE FROM tasks t USING v
                   WHERE t.task_id = v.task_id AND t.epoch = v.epoch AND t.owner IS NOT NULL
                  RETURNING t.task_id, t.run_id, t.step_key, t.attempt, t.queue, t.executor, t.owner, t.epoch,
                            t.external_ref, v.outcome, v.result),
         kept AS (INSERT INTO task_history (task_id, run_id, step_key, attempt, queue, executor, owner, epoch, external_ref, outcome, result)
                  SELECT task_id, run_id, step_key, attempt, queue, executor, owner, epoch, external_ref, outcome, result FROM done
                  ON CONFLICT DO NOTHING),
         freed AS (UPDATE task_slots SET task_id = NULL WHERE task_id IN (SELECT task_id FROM done))
    SELECT task_id, epoch FROM done`,
  dropFinishedKeys: `
    DELETE FROM tasks t USING task_history h
     WHERE t.task_id = ANY($1::bigint[]) AND h.run_id = t.run_id AND h.step_key = t.step_key AND h.attempt = t.attempt
    RETURNING t.task_id`,
  withdraw: `
    WITH done AS (DELETE FROM tasks t WHERE t.run_id = $1 AND t.step_key = $2 AND t.attempt = $3
                  RETURNING t.task_id, t.run_id, t.step_key, t.attempt, t.queue, t.executor, t.owner, t.epoch, t.external_ref),
         kept AS (INSERT INTO task_history (task_id, run_id, step_key, attempt, queue, executor, owner, epoch, external_ref, outcome, result)
                  SELECT task_id, run_id, step_key, attempt, queue, executor, owner, epoch, external_ref, 'cancelled', $4::jsonb FROM done
                  ON CONFLICT DO NOTHING),
         freed AS (UPDATE task_slots SET task_id = NULL WHERE task_id IN (SELECT task_id FROM done))
    SELECT task_id FROM done`,
  release: `
    WITH v AS (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS v(task_id, epoch)),
         back AS (UPDATE tasks t SET status = 'queued', owner = NULL, lease_until = NULL, epoch = t.epoch + 1
                    FROM v WHERE t.task_id = v.task_id AND t.epoch = v.epoch AND t.owner IS NOT NULL
                  RETURNING t.task_id),
         freed AS (UPDATE task_slots SET task_id = NULL WHERE task_id IN (SELECT task_id FROM back))
    SELECT task_id FROM back`,
  requeueExpired: `
    WITH expired AS (SELECT task_id FROM tasks WHERE status = 'running' AND lease_until < now()
                      ORDER BY lease_until LIMIT $1 FOR UPDATE SKIP LOCKED),
         back AS (UPDATE tasks t SET status = 'queued', owner = NULL, lease_until = NULL, epoch = t.epoch + 1
                    FROM expired WHERE t.task_id = expired.task_id
                  RETURNING t.task_id),
         freed AS (UPDATE task_slots SET task_id = NULL WHERE task_id IN (SELECT task_id FROM back))
    SELECT task_id FROM back ORDER BY task_id`,
} as const;

/** The task queue over a caller's pool (the tables exist: TASK_QUEUE_DDL, or the store's migrations). */
export interface TaskQueueOptions {
  /**
   * Name the hot statements, so each connection plans them once. Off for a pooler that cannot
   * keep prepared statements (PgBouncer in transaction mode before 1.21). @default true
   */
  readonly preparedStatements?: boolean;
}

export class PostgresTaskQueue {
  readonly #pool: Pool;
  readonly #prepared: boolean;

  constructor(pool: Pool, options: TaskQueueOptions = {}) {
    this.#pool = pool;
    this.#prepared = options.preparedStatements ?? true;
  }

  /** A query config for one of the hot statements: named when statements are prepared. */
  #hot(name: 'claim' | 'finish' | 'renew' | 'recordExternalRef', values: unknown[]): QueryConfig {
    return this.#prepared ? { name: `larkflow_tq_${name}`, text: TASK_QUEUE_SQL[name], values } : { text: TASK_QUEUE_SQL[name], values };
  }

  /**
   * Puts tasks in the queue, skipping any whose `(runId, stepKey, attempt)` is queued, running or
   * finished already. Pass `client` to enqueue inside the caller's transaction (the run's append:
   * a TaskScheduled event and its row exist together or not at all). Returns the tasks created.
   *
   * Enqueued at the very moment its task finishes, a key is not queued again: the insert's
   * history check reads a snapshot from before the finish committed, so a second statement in the
   * same transaction (with a new snapshot) takes back any new row whose key has finished.
   */
  async enqueue(tasks: readonly NewTask[], client?: ClientBase): Promise<{ taskId: number; runId: string; stepKey: string; attempt: number }[]> {
    if (tasks.length === 0) return [];
    const params = [
      tasks.map((t) => t.runId),
      tasks.map((t) => t.stepKey),
      tasks.map((t) => t.attempt),
      tasks.map((t) => t.queue),
      tasks.map((t) => t.executor),
      tasks.map((t) => JSON.stringify(t.spec ?? null)),
      tasks.map((t) => Math.max(0, t.delayMs ?? 0)),
    ];
    // The insert and the check after it run in one transaction: the insert may have waited for a
    // finish in progress of the same key (its row's delete), and the check, with a new snapshot,
    // then sees the finished row in task_history and takes the new row back before anyone sees it.
    const run = async (c: ClientBase) => {
      const r = await c.query<{ task_id: string; run_id: string; step_key: string; attempt: number }>(TASK_QUEUE_SQL.enqueue, params);
      if (r.rows.length === 0) return [];
      const gone = await c.query<{ task_id: string }>(TASK_QUEUE_SQL.dropFinishedKeys, [r.rows.map((row) => row.task_id)]);
      const dropped = new Set(gone.rows.map((row) => row.task_id));
      return r.rows.filter((row) => !dropped.has(row.task_id)).map((row) => ({ taskId: Number(row.task_id), runId: row.run_id, stepKey: row.step_key, attempt: row.attempt }));
    };
    if (client) return run(client);
    const c = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      const out = await run(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw err;
    } finally {
      c.release(broken);
    }
  }

  /**
   * Claims up to `max` (≤ {@link MAX_CLAIM}) due tasks of `queues` for `worker`, oldest first per
   * queue, each at a new epoch with a lease of `leaseMs`. One statement; concurrent pollers never
   * claim the same task. Queues with seats must be claimed with {@link claimWithSeats} instead.
   */
  async claim(worker: string, queues: readonly string[], max: number, leaseMs: number): Promise<TaskLease[]> {
    const n = Math.min(MAX_CLAIM, Math.floor(max));
    if (n < 1 || queues.length === 0) return [];
    const r = await this.#pool.query<LeaseRow>(this.#hot('claim', [queues, n, worker, leaseMs]));
    return r.rows.map(leaseOf).sort(byQueueAndId);
  }

  /**
   * Sets the concurrency limit of `queue` to `limit` seats. Raising adds seats; lowering removes the
   * free seats above the limit now, and the held ones when this is called again after they are
   * freed (until then the old, higher limit applies to them).
   */
  async setQueueLimit(queue: string, limit: number): Promise<void> {
    const n = Math.max(0, Math.floor(limit));
    await this.#pool.query(
      `WITH added AS (INSERT INTO task_slots (queue, slot) SELECT $1, g FROM generate_series(0, $2::int - 1) g ON CONFLICT DO NOTHING)
       DELETE FROM task_slots WHERE queue = $1 AND slot >= $2 AND task_id IS NULL`,
      [queue, n],
    );
  }

  /**
   * Claims up to `max` due tasks of a queue that has seats ({@link setQueueLimit}), one free seat
   * per task, in one statement: at most `limit` tasks of the queue hold a lease at any moment.
   * The seat is released when the task finishes or its lease is requeued.
   */
  async claimWithSeats(worker: string, queue: string, max: number, leaseMs: number): Promise<TaskLease[]> {
    const n = Math.min(MAX_CLAIM, Math.floor(max));
    if (n < 1) return [];
    const r = await this.#pool.query<LeaseRow>(TASK_QUEUE_SQL.claimWithSeats, [queue, n, worker, leaseMs]);
    return r.rows.map(leaseOf).sort(byQueueAndId);
  }

  /**
   * Extends the leases by `leaseMs` from now (database clock), in one statement. Returns the leases
   * that were lost (requeued or claimed by someone else): stop working on those at once.
   */
  async renew(leases: readonly TaskLease[], leaseMs: number): Promise<TaskLease[]> {
    if (leases.length === 0) return [];
    const r = await this.#pool.query<{ task_id: string; epoch: string }>(this.#hot('renew', [leases.map((l) => l.taskId), leases.map((l) => l.epoch), leaseMs]));
    const kept = new Set(r.rows.map((row) => `${row.task_id}:${row.epoch}`));
    return leases.filter((l) => !kept.has(`${l.taskId}:${l.epoch}`));
  }

  /**
   * Records the remote job's id (the deterministic submission id) on the task, if `lease` still
   * holds it; a poller that takes the task over later finds it in `TaskLease.externalRef`.
   */
  async recordExternalRef(lease: TaskLease, ref: string): Promise<'ok' | 'fenced'> {
    const r = await this.#pool.query(this.#hot('recordExternalRef', [lease.taskId, lease.epoch, ref]));
    return r.rowCount === 1 ? 'ok' : 'fenced';
  }

  /**
   * Finishes a task if `lease` still holds it: in one transaction the row moves to `task_history`,
   * its seat is freed, and `postResult` runs (on the same client) to post the result. 'fenced'
   * (and no hook call) if the lease was lost.
   */
  async finish(lease: TaskLease, outcome: TaskOutcome, postResult?: (client: ClientBase, finished: FinishedTask) => Promise<void>): Promise<'ok' | 'fenced'> {
    const [r] = await this.finishMany([{ lease, outcome }], postResult && ((client, done) => postResult(client, done[0]!)));
    return r!;
  }

  /**
   * {@link finish} for several tasks in one transaction and one statement; `postResult` runs once
   * with the ones that were still held (skipped when none were). Returns each item's fate, in order.
   */
  async finishMany(items: readonly { readonly lease: TaskLease; readonly outcome: TaskOutcome }[], postResult?: PostResults): Promise<('ok' | 'fenced')[]> {
    if (items.length === 0) return [];
    const key = (l: TaskLease) => `${l.taskId}:${l.epoch}`;
    // A lease listed twice finishes once, with its first outcome; the later copies are 'fenced'.
    const seen = new Set<string>();
    const unique = items.filter((i) => !seen.has(key(i.lease)) && !!seen.add(key(i.lease)));
    const params = [
      unique.map((i) => i.lease.taskId),
      unique.map((i) => i.lease.epoch),
      unique.map((i) => i.outcome.status),
      unique.map((i) => (i.outcome.result === undefined ? null : JSON.stringify(i.outcome.result))),
    ];
    /** Each item's fate, and the finished ones, from the statement's rows. */
    const sort = (rows: readonly { task_id: string; epoch: string }[]) => {
      const done = new Set(rows.map((row) => `${row.task_id}:${row.epoch}`));
      const out: ('ok' | 'fenced')[] = [];
      const finished: FinishedTask[] = [];
      for (const i of items) {
        const ok = done.delete(key(i.lease));
        out.push(ok ? 'ok' : 'fenced');
        if (ok) finished.push({ lease: i.lease, outcome: i.outcome, dedupeKey: key(i.lease) });
      }
      return { out, finished };
    };
    // Without a hook the one statement is the whole transaction: no BEGIN/COMMIT round trips.
    if (!postResult) return sort((await this.#pool.query<{ task_id: string; epoch: string }>(this.#hot('finish', params))).rows).out;
    const client = await this.#pool.connect();
    // Set when the connection cannot be trusted any more (its ROLLBACK failed): destroyed, not pooled.
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const { out, finished } = sort((await client.query<{ task_id: string; epoch: string }>(this.#hot('finish', params))).rows);
      if (finished.length > 0) await postResult(client, finished);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /**
   * Takes a task out of the queue, queued or running, into `task_history` as 'cancelled' (its run
   * was cancelled or its step timed out), freeing its seat. Its holder, if any, is fenced: its next
   * renewal reports the lease lost ({@link wasWithdrawn} tells why). Returns false if there was no
   * such task (never queued, or finished already).
   */
  async withdraw(runId: string, stepKey: string, attempt: number, reason: string): Promise<boolean> {
    const r = await this.#pool.query(TASK_QUEUE_SQL.withdraw, [runId, stepKey, attempt, JSON.stringify({ reason })]);
    return (r.rowCount ?? 0) > 0;
  }

  /** True if the task left the queue by {@link withdraw} (rather than being requeued or finished by another holder). */
  async wasWithdrawn(taskId: number): Promise<boolean> {
    const r = await this.#pool.query<{ outcome: string }>('SELECT outcome FROM task_history WHERE task_id = $1', [taskId]);
    return r.rows[0]?.outcome === 'cancelled';
  }

  /**
   * Gives leases back (a worker stopping): the tasks are queued again at once, keeping their
   * `external_ref` (the next poller re-attaches to a remote job), at a new epoch. Returns the task
   * ids released (a lease lost meanwhile is skipped).
   */
  async release(leases: readonly TaskLease[]): Promise<number[]> {
    if (leases.length === 0) return [];
    const r = await this.#pool.query<{ task_id: string }>(TASK_QUEUE_SQL.release, [leases.map((l) => l.taskId), leases.map((l) => l.epoch)]);
    return r.rows.map((row) => Number(row.task_id));
  }

  /**
   * Puts up to `max` tasks whose lease ran out (database clock) back in the queue, keeping their
   * `external_ref`, and frees their seats. Their epoch moves on, which fences the lost lease even
   * before anyone claims the task again. Any poller may run
   * it periodically; concurrent calls skip each other's rows. Returns the task ids requeued.
   */
  async requeueExpired(max = 1000): Promise<number[]> {
    const r = await this.#pool.query<{ task_id: string }>(TASK_QUEUE_SQL.requeueExpired, [Math.max(1, Math.floor(max))]);
    return r.rows.map((row) => Number(row.task_id));
  }
}
