/**
 * The PostgreSQL task queue (src/engine/store/postgres/task-queue.ts) on a real server started by
 * this file (tests/helpers/postgres.ts), one database per test: idempotent enqueue, exactly-once
 * claims under concurrent pollers (in this process with separate pools, and in separate
 * processes), lease expiry and redelivery with the external ref kept, fencing after a takeover,
 * concurrency seats, the plans of the claim and of the fenced writes, custom and generic (EXPLAIN),
 * and a 20,000-task drain whose rate must not decay.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TASK_QUEUE_DDL } from '../../src/engine/store/postgres/task-queue-schema.js';
import { MAX_CLAIM, PostgresTaskQueue, TASK_QUEUE_SQL } from '../../src/engine/store/postgres/task-queue.js';
import type { NewTask, TaskLease } from '../../src/engine/store/postgres/task-queue.js';
import { startPostgres } from '../helpers/postgres.js';
import type { PgServer } from '../helpers/postgres.js';

let server: PgServer;
const pools: pg.Pool[] = [];
let dbCounter = 0;
let admin: pg.Pool | undefined;
const scratch = mkdtempSync(join(tmpdir(), 'larkflow-tq-'));

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);

afterAll(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end().catch(() => undefined)));
  await server?.destroy();
  rmSync(scratch, { recursive: true, force: true });
}, 60_000);

/**
 * A fresh database with the queue's tables; returns its URL. Tests run one at a time, so the
 * previous test's database is dropped first: its garbage would keep autovacuum busy on this
 * 2-core machine while later tests measure.
 */
async function freshDb(): Promise<string> {
  admin ??= pool(server.url, 1);
  if (dbCounter > 0) await admin.query(`DROP DATABASE IF EXISTS tq_${dbCounter} WITH (FORCE)`);
  const url = await server.createDatabase(`tq_${++dbCounter}`);
  const p = pool(url);
  await p.query(TASK_QUEUE_DDL);
  return url;
}

function pool(url: string, max = 4): pg.Pool {
  const p = new pg.Pool({ connectionString: url, max });
  // Idle clients learn of the server's shutdown in afterAll as an error event: expected then.
  p.on('error', () => undefined);
  pools.push(p);
  return p;
}

function tasks(n: number, queue = 'q', from = 0, run = 'r'): NewTask[] {
  return Array.from({ length: n }, (_, i) => ({ runId: `${run}${Math.floor((from + i) / 100)}`, stepKey: `s${from + i}`, attempt: 1, queue, executor: 'local', spec: { i: from + i } }));
}

/** Fills the queue fast: one INSERT from generate_series (what enqueue does, minus the parameters). */
async function bulkFill(p: pg.Pool, n: number, queue = 'q'): Promise<void> {
  await p.query(
    `INSERT INTO tasks (run_id, step_key, attempt, queue, executor, spec)
     SELECT 'r' || (g / 100), 's' || g, 1, $1, 'local', jsonb_build_object('i', g) FROM generate_series(0, $2::int - 1) g`,
    [queue, n],
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PostgresTaskQueue', () => {
  it('enqueues idempotently on (run, step, attempt), also after the task finished', async () => {
    const p = pool(await freshDb());
    const q = new PostgresTaskQueue(p);
    const first = await q.enqueue([...tasks(3), tasks(1)[0]!]);
    expect(first.map((t) => t.stepKey)).toEqual(['s0', 's1', 's2']);
    expect(await q.enqueue(tasks(4))).toEqual([{ taskId: expect.any(Number), runId: 'r0', stepKey: 's3', attempt: 1 }]);
    // A retry is a new attempt, so a new row.
    expect(await q.enqueue([{ ...tasks(1)[0]!, attempt: 2 }])).toHaveLength(1);
    const [l] = await q.claim('w', ['q'], 1, 10_000);
    expect(await q.finish(l!, { status: 'succeeded', result: 1 })).toBe('ok');
    expect(await q.enqueue(tasks(1))).toEqual([]);
    const { rows } = await p.query('SELECT count(*)::int AS n FROM tasks');
    expect(rows[0].n).toBe(4);
  });

  it('enqueues inside the caller transaction: rolled back with it', async () => {
    const p = pool(await freshDb());
    const q = new PostgresTaskQueue(p);
    const c = await p.connect();
    await c.query('BEGIN');
    expect(await q.enqueue(tasks(2), c)).toHaveLength(2);
    await c.query('ROLLBACK');
    c.release();
    expect(await q.claim('w', ['q'], 10, 1000)).toEqual([]);
  });

  it('claims due tasks of the given queues in (queue, run_at, task_id) order, bounded, at epoch 1', async () => {
    const p = pool(await freshDb());
    const q = new PostgresTaskQueue(p);
    await q.enqueue(tasks(150, 'a'));
    await q.enqueue(tasks(5, 'b', 1000));
    await q.enqueue([{ ...tasks(1, 'a', 5000)[0]!, delayMs: 60_000 }]);
    const t0 = (await p.query('SELECT (extract(epoch FROM now()) * 1000)::float8 AS t')).rows[0].t as number;
    const got = await q.claim('w1', ['a'], 500, 5000);
    expect(got).toHaveLength(MAX_CLAIM);
    expect(got.map((l) => l.stepKey)).toEqual(tasks(100, 'a').map((t) => t.stepKey));
    expect(got[0]).toMatchObject({ runId: 'r0', queue: 'a', executor: 'local', spec: { i: 0 }, owner: 'w1', epoch: 1, externalRef: null });
    expect(got[0]!.leaseUntil).toBeGreaterThanOrEqual(t0 + 4900);
    expect(got[0]!.leaseUntil).toBeLessThan(t0 + 5000 + 5000);
    const rest = await q.claim('w2', ['a', 'b'], 100, 5000);
    expect(rest.map((l) => `${l.queue}/${l.stepKey}`)).toEqual([...tasks(50, 'a', 100).map((t) => `a/${t.stepKey}`), ...tasks(5, 'b', 1000).map((t) => `b/${t.stepKey}`)]);
    // The delayed one is not due; nothing else is queued.
    expect(await q.claim('w3', ['a', 'b'], 100, 5000)).toEqual([]);
    expect(await q.claim('w3', [], 100, 5000)).toEqual([]);
    expect(await q.claim('w3', ['a'], 0, 5000)).toEqual([]);
  });

  it('claims every task exactly once under 4 concurrent pollers with pools of their own', async () => {
    const url = await freshDb();
    const q0 = new PostgresTaskQueue(pool(url));
    const N = 3000;
    await q0.enqueue(tasks(N));
    const claimedBy = new Map<number, string[]>();
    const poller = async (worker: string) => {
      const q = new PostgresTaskQueue(pool(url, 2));
      for (;;) {
        const leases = await q.claim(worker, ['q'], 1 + Math.floor(Math.random() * 12), 30_000);
        if (leases.length === 0) return;
        for (const l of leases) claimedBy.set(l.taskId, [...(claimedBy.get(l.taskId) ?? []), worker]);
        const r = await q.finishMany(leases.map((lease) => ({ lease, outcome: { status: 'succeeded' as const } })));
        expect(r.every((v) => v === 'ok')).toBe(true);
      }
    };
    await Promise.all(['w0', 'w1', 'w2', 'w3'].map(poller));
    expect(claimedBy.size).toBe(N);
    expect([...claimedBy.values()].filter((ws) => ws.length !== 1)).toEqual([]);
    const p = pool(url);
    const { rows } = await p.query(`SELECT (SELECT count(*)::int FROM tasks) AS left, (SELECT count(*)::int FROM task_history) AS done,
                                           (SELECT count(DISTINCT owner)::int FROM task_history) AS owners, (SELECT max(epoch)::int FROM task_history) AS epoch`);
    expect(rows[0]).toEqual({ left: 0, done: N, owners: 4, epoch: 1 });
  });

  it('claims every task exactly once under 4 poller processes', async () => {
    const url = await freshDb();
    const N = 4000;
    await bulkFill(pool(url), N);
    const go = join(scratch, `go-${dbCounter}`);
    const fixture = resolve('tests/store/fixtures/task-poller.ts');
    const runs = ['p0', 'p1', 'p2', 'p3'].map(
      (worker) =>
        new Promise<{ worker: string; claimed: number[]; fenced: number }>((res, rej) => {
          const child = spawn(process.execPath, [resolve('node_modules/vite-node/vite-node.mjs'), fixture, url, worker, go, '10'], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.stderr.on('data', (d: Buffer) => (err += d.toString()));
          child.on('exit', (code) => {
            try {
              res(JSON.parse(out.trim().split('\n').pop() ?? ''));
            } catch {
              rej(new Error(`poller ${worker} exited ${code}: ${out}${err}`));
            }
          });
        }),
    );
    // All four connect and wait at the barrier, then start together.
    const p = pool(url);
    const until = Date.now() + 30_000;
    while ((await p.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()`)).rows[0].n < 5 && Date.now() < until) await sleep(50);
    writeFileSync(go, '');
    const got = await Promise.all(runs);
    const all = got.flatMap((g) => g.claimed);
    expect(new Set(all).size).toBe(N);
    expect(all).toHaveLength(N);
    expect(got.map((g) => g.fenced)).toEqual([0, 0, 0, 0]);
    // Each process got a share (they really raced), and the queue is empty.
    expect(got.filter((g) => g.claimed.length > 0).length).toBeGreaterThanOrEqual(2);
    const { rows } = await p.query(`SELECT (SELECT count(*)::int FROM tasks) AS left, (SELECT count(DISTINCT task_id)::int FROM task_history) AS done`);
    expect(rows[0]).toEqual({ left: 0, done: N });
  }, 60_000);

  it('redelivers a task whose lease ran out, keeping its external ref; the old holder is fenced everywhere', async () => {
    const url = await freshDb();
    const p = pool(url);
    const a = new PostgresTaskQueue(p);
    const b = new PostgresTaskQueue(pool(url));
    await a.enqueue(tasks(2));
    const [la, other] = await a.claim('A', ['q'], 2, 300);
    expect(await a.recordExternalRef(la!, 'ray-job-r0-s0-1')).toBe('ok');
    // Renewing keeps a lease past its first deadline; the other one runs out.
    await sleep(150);
    expect(await a.renew([la!], 300)).toEqual([]);
    await sleep(200);
    expect(await a.requeueExpired()).toEqual([other!.taskId]);
    await sleep(200);
    expect(await b.requeueExpired()).toEqual([la!.taskId]);
    expect(await b.requeueExpired()).toEqual([]);
    // Requeued, not yet claimed again: the lost lease is fenced already (the requeue moved the epoch).
    expect(await a.recordExternalRef(la!, 'ray-job-resubmitted')).toBe('fenced');
    const queued = await p.query('SELECT status, owner, epoch::int, external_ref FROM tasks WHERE task_id = $1', [la!.taskId]);
    expect(queued.rows).toEqual([{ status: 'queued', owner: null, epoch: 2, external_ref: 'ray-job-r0-s0-1' }]);

    // A takeover: a new epoch, and the ref to re-attach to instead of submitting again.
    const taken = await b.claim('B', ['q'], 10, 10_000);
    const lb = taken.find((l) => l.taskId === la!.taskId)!;
    expect(lb).toMatchObject({ owner: 'B', epoch: 3, externalRef: 'ray-job-r0-s0-1' });
    expect(taken.find((l) => l.taskId === other!.taskId)).toMatchObject({ epoch: 3, externalRef: null });

    // The frozen holder wakes up: every write of its lease is refused.
    expect(await a.recordExternalRef(la!, 'ray-job-resubmitted')).toBe('fenced');
    expect(await a.renew([la!], 10_000)).toEqual([la]);
    const hook = { calls: 0 };
    expect(await a.finish(la!, { status: 'succeeded', result: 'late' }, async () => void hook.calls++)).toBe('fenced');
    expect(hook.calls).toBe(0);
    const { rows } = await p.query('SELECT status, owner, epoch::int, external_ref FROM tasks WHERE task_id = $1', [la!.taskId]);
    expect(rows[0]).toEqual({ status: 'running', owner: 'B', epoch: 3, external_ref: 'ray-job-r0-s0-1' });

    // The new holder finishes; its result is posted with its own dedupe key.
    const keys: string[] = [];
    expect(await b.finish(lb, { status: 'succeeded', result: { x: 1 } }, async (_c, f) => void keys.push(f.dedupeKey))).toBe('ok');
    expect(keys).toEqual([`${la!.taskId}:3`]);
    expect(await b.recordExternalRef(lb, 'again')).toBe('fenced');
    expect(await b.finish(lb, { status: 'succeeded' })).toBe('fenced');
    const h = await p.query('SELECT owner, epoch::int, external_ref, outcome, result FROM task_history WHERE task_id = $1', [la!.taskId]);
    expect(h.rows).toEqual([{ owner: 'B', epoch: 3, external_ref: 'ray-job-r0-s0-1', outcome: 'succeeded', result: { x: 1 } }]);
  });

  it('renew and finish tell the old lease of a task from its new one', async () => {
    const url = await freshDb();
    const p = pool(url);
    const q = new PostgresTaskQueue(p);
    await q.enqueue(tasks(1));
    const [l1] = await q.claim('A', ['q'], 1, 50);
    await sleep(80);
    expect(await q.requeueExpired()).toEqual([l1!.taskId]);
    expect(await q.renew([l1!], 10_000)).toEqual([l1]);
    expect(await q.finish(l1!, { status: 'failed' })).toBe('fenced');
    const [l2] = await q.claim('B', ['q'], 1, 10_000);
    expect(l2!.epoch).toBe(l1!.epoch + 2);
    expect(await q.renew([l1!, l2!], 10_000)).toEqual([l1]);
    expect(await q.recordExternalRef(l2!, 'ref')).toBe('ok');
    expect(await q.finishMany([{ lease: l1!, outcome: { status: 'failed' } }, { lease: l2!, outcome: { status: 'succeeded' } }, { lease: l2!, outcome: { status: 'failed' } }])).toEqual([
      'fenced',
      'ok',
      'fenced',
    ]);
    expect((await p.query('SELECT owner, outcome FROM task_history')).rows).toEqual([{ owner: 'B', outcome: 'succeeded' }]);
  });

  it('works the same without prepared statements (for PgBouncer in transaction mode)', async () => {
    const url = await freshDb();
    const one = pool(url, 1); // one connection, so pg_prepared_statements below is the queue's session
    const q = new PostgresTaskQueue(one, { preparedStatements: false });
    await q.enqueue(tasks(3));
    const leases = await q.claim('w', ['q'], 10, 10_000);
    expect(leases.map((l) => l.stepKey)).toEqual(['s0', 's1', 's2']);
    expect(await q.recordExternalRef(leases[0]!, 'ref')).toBe('ok');
    expect(await q.renew(leases, 10_000)).toEqual([]);
    const keys: string[] = [];
    expect(await q.finishMany(leases.map((lease) => ({ lease, outcome: { status: 'succeeded' as const } })), async (_c, f) => void keys.push(...f.map((x) => x.dedupeKey)))).toEqual(['ok', 'ok', 'ok']);
    expect(keys).toEqual(leases.map((l) => `${l.taskId}:1`));
    const statements = `SELECT name FROM pg_prepared_statements WHERE name LIKE 'larkflow_tq_%' ORDER BY name`;
    expect((await one.query(statements)).rows).toEqual([]);
    // By default the hot statements are prepared on the connection.
    const named = new PostgresTaskQueue(one);
    await q.enqueue(tasks(1, 'q', 10));
    await named.finishMany((await named.claim('w', ['q'], 10, 10_000)).map((lease) => ({ lease, outcome: { status: 'succeeded' as const } })));
    expect((await one.query(statements)).rows.map((r) => r.name)).toEqual(['larkflow_tq_claim', 'larkflow_tq_finish']);
  });

  it('posts the result in the finishing transaction: a failing hook leaves the task leased, a second finish posts nothing', async () => {
    const url = await freshDb();
    const p = pool(url);
    await p.query('CREATE TABLE inbox (id bigserial PRIMARY KEY, run_id text NOT NULL, dedupe_key text UNIQUE NOT NULL, body jsonb)');
    const q = new PostgresTaskQueue(p);
    await q.enqueue(tasks(1));
    const [l] = await q.claim('w', ['q'], 1, 10_000);
    const post = async (c: pg.ClientBase, f: { lease: TaskLease; dedupeKey: string; outcome: { result?: unknown } }) => {
      await c.query('INSERT INTO inbox (run_id, dedupe_key, body) VALUES ($1, $2, $3)', [f.lease.runId, f.dedupeKey, JSON.stringify(f.outcome.result)]);
    };
    await expect(
      q.finish(l!, { status: 'succeeded', result: 7 }, async (c, f) => {
        await post(c, f);
        throw new Error('posting failed');
      }),
    ).rejects.toThrow('posting failed');
    expect((await p.query('SELECT status FROM tasks')).rows).toEqual([{ status: 'running' }]);
    expect((await p.query('SELECT count(*)::int AS n FROM inbox')).rows[0].n).toBe(0);
    expect((await p.query('SELECT count(*)::int AS n FROM task_history')).rows[0].n).toBe(0);
    // The pool still works (the connection was rolled back, not leaked mid-transaction).
    expect(await q.finish(l!, { status: 'succeeded', result: 7 }, post)).toBe('ok');
    expect((await p.query('SELECT run_id, dedupe_key, body FROM inbox')).rows).toEqual([{ run_id: 'r0', dedupe_key: `${l!.taskId}:1`, body: 7 }]);
    // Finishing the same lease again posts nothing: the task is gone, the hook is not called.
    expect(await q.finish(l!, { status: 'succeeded', result: 8 }, post)).toBe('fenced');
    expect((await p.query('SELECT count(*)::int AS n FROM inbox')).rows[0].n).toBe(1);
    expect((await p.query('SELECT count(*)::int AS n FROM tasks')).rows[0].n).toBe(0);
  });

  it('seats: 8 pollers racing on a limit of 3 never hold more than 3 tasks of the queue', async () => {
    const url = await freshDb();
    const q0Pool = pool(url);
    const q0 = new PostgresTaskQueue(q0Pool);
    await q0.setQueueLimit('gpu', 3);
    const N = 240;
    await q0.enqueue(tasks(N, 'gpu'));
    let holding = 0;
    let maxHolding = 0;
    let maxSampled = 0;
    const samples: number[] = [];
    const claimed = new Map<number, number>();
    const poller = async (worker: string) => {
      const q = new PostgresTaskQueue(pool(url, 2));
      for (;;) {
        const leases = await q.claimWithSeats(worker, 'gpu', 1 + Math.floor(Math.random() * 3), 30_000);
        if (leases.length === 0) {
          if ((await q0Pool.query(`SELECT count(*)::int AS n FROM tasks`)).rows[0].n === 0) return;
          await sleep(1 + Math.random() * 3);
          continue;
        }
        holding += leases.length;
        maxHolding = Math.max(maxHolding, holding);
        for (const l of leases) claimed.set(l.taskId, (claimed.get(l.taskId) ?? 0) + 1);
        await sleep(Math.random() * 4);
        // Counted down before the finish commits, so the in-memory count never exceeds the truth.
        holding -= leases.length;
        await q.finishMany(
          leases.map((lease) => ({ lease, outcome: { status: 'succeeded' as const } })),
          async (c, finished) => {
            // At every finish, the tasks of the queue held at that moment (one snapshot): the others'
            // running ones, plus this transaction's own, deleted but not committed, seats still held.
            const { rows } = await c.query(`SELECT count(*)::int AS n FROM tasks WHERE queue = 'gpu' AND status = 'running'`);
            const n = rows[0].n + finished.length;
            samples.push(n);
            maxSampled = Math.max(maxSampled, n);
          },
        );
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, i) => poller(`w${i}`)));
    expect(claimed.size).toBe(N);
    expect([...claimed.values()].every((c) => c === 1)).toBe(true);
    expect(maxSampled).toBeLessThanOrEqual(3);
    expect(maxHolding).toBeLessThanOrEqual(3);
    // The race was real: the limit was reached, not merely never approached.
    expect(maxSampled).toBe(3);
    expect(samples.length).toBeGreaterThan(50);
    const { rows } = await pool(url).query(`SELECT count(*)::int AS seats, count(task_id)::int AS held FROM task_slots WHERE queue = 'gpu'`);
    expect(rows[0]).toEqual({ seats: 3, held: 0 });
  }, 60_000);

  it('seats are released when a lease runs out, and the limit can be raised and lowered', async () => {
    const url = await freshDb();
    const p = pool(url);
    const q = new PostgresTaskQueue(p);
    await q.setQueueLimit('gpu', 2);
    await q.enqueue(tasks(5, 'gpu'));
    const first = await q.claimWithSeats('A', 'gpu', 5, 100);
    expect(first).toHaveLength(2);
    expect(await q.claimWithSeats('B', 'gpu', 5, 10_000)).toEqual([]);
    await sleep(150);
    expect((await q.requeueExpired()).sort()).toEqual(first.map((l) => l.taskId).sort());
    const second = await q.claimWithSeats('B', 'gpu', 5, 10_000);
    expect(second.map((l) => l.taskId)).toEqual(first.map((l) => l.taskId));
    expect(second.map((l) => l.epoch)).toEqual([3, 3]);
    await q.setQueueLimit('gpu', 3);
    expect(await q.claimWithSeats('C', 'gpu', 5, 10_000)).toHaveLength(1);
    expect(await q.claimWithSeats('C', 'gpu', 5, 10_000)).toEqual([]);
    await q.setQueueLimit('gpu', 1);
    expect((await p.query(`SELECT count(*)::int AS n FROM task_slots WHERE queue = 'gpu'`)).rows[0].n).toBe(3); // all held
    expect(await q.finishMany(second.map((lease) => ({ lease, outcome: { status: 'succeeded' as const } })))).toEqual(['ok', 'ok']);
    await q.setQueueLimit('gpu', 1);
    const { rows } = await p.query(`SELECT slot, task_id IS NOT NULL AS held FROM task_slots WHERE queue = 'gpu' ORDER BY slot`);
    expect(rows).toEqual([{ slot: 0, held: false }, { slot: 2, held: true }]);
    // Another queue without seats is not affected by claimWithSeats.
    await q.enqueue(tasks(1, 'cpu', 100));
    expect(await q.claimWithSeats('D', 'cpu', 5, 1000)).toEqual([]);
  });

  describe('plan and drain', () => {
    /** The names of the indexes the plan scans, and the scans of `tasks` that filter rows. */
    function scans(plan: unknown): { indexes: string[]; filtered: string[]; seq: string[] } {
      const out = { indexes: [] as string[], filtered: [] as string[], seq: [] as string[] };
      const walk = (n: Record<string, unknown>) => {
        const type = String(n['Node Type']);
        if (n['Relation Name'] === 'tasks') {
          if (typeof n['Index Name'] === 'string') out.indexes.push(n['Index Name']);
          if (type === 'Seq Scan') out.seq.push(type);
          // A scan of tasks_ready shows its own predicate as a Filter under UPDATE / FOR UPDATE (it
          // is rechecked on rows locked after a concurrent update): that removes no rows.
          const ownPredicate = n['Index Name'] === 'tasks_ready' && n['Filter'] === "(status = 'queued'::text)";
          if (n['Filter'] !== undefined && !ownPredicate) out.filtered.push(`${type} ${String(n['Index Name'] ?? '')}: ${String(n['Filter'])}`);
        }
        for (const c of (n['Plans'] as Record<string, unknown>[] | undefined) ?? []) walk(c);
      };
      walk((plan as { Plan: Record<string, unknown> }[])[0]!.Plan);
      return out;
    }

    let prepared = 0;
    /**
     * The plan of `sql` with `params`: the custom plan (what an unnamed statement gets), or with
     * `generic` the plan a prepared statement may switch to after five runs, which cannot see the
     * values (PREPARE under plan_cache_mode = force_generic_plan, then EXPLAIN EXECUTE).
     */
    async function explain(p: pg.Pool, sql: string, params: unknown[], generic = false) {
      const c = await p.connect();
      const name = `tq_plan_${++prepared}`;
      try {
        await c.query('BEGIN');
        if (!generic) return scans((await c.query(`EXPLAIN (FORMAT JSON) ${sql}`, params)).rows[0]['QUERY PLAN']);
        await c.query('SET LOCAL plan_cache_mode = force_generic_plan');
        await c.query(`PREPARE ${name} AS ${sql}`);
        // EXECUTE takes no bind parameters: the values go in as literals of unknown type.
        const element = (v: unknown) => (v === null ? 'NULL' : `"${String(v).replace(/[\\"]/g, (ch) => `\\${ch}`)}"`);
        const literal = (v: unknown) => (v === null ? 'NULL' : c.escapeLiteral(Array.isArray(v) ? `{${v.map(element).join(',')}}` : String(v)));
        return scans((await c.query(`EXPLAIN (FORMAT JSON) EXECUTE ${name}(${params.map(literal).join(', ')})`)).rows[0]['QUERY PLAN']);
      } finally {
        await c.query('ROLLBACK');
        if (generic) await c.query(`DEALLOCATE ${name}`).catch(() => undefined);
        c.release();
      }
    }

    it('after a bulk enqueue and ANALYZE, the claim reads tasks_ready, never the primary key with a filter (custom and generic plans)', async () => {
      const url = await freshDb();
      const p = pool(url);
      await bulkFill(p, 20_000, 'a');
      await p.query(`INSERT INTO tasks (run_id, step_key, attempt, queue, executor, spec) SELECT 'b', 's' || g, 1, 'b', 'local', '{}' FROM generate_series(1, 2000) g`);
      await p.query('ANALYZE tasks');
      for (const generic of [false, true]) {
        for (const queues of [['a'], ['a', 'b']]) {
          const plan = await explain(p, TASK_QUEUE_SQL.claim, [queues, 10, 'w', 1000], generic);
          expect(plan.indexes).toContain('tasks_ready');
          expect(plan.filtered).toEqual([]);
          expect(plan.seq).toEqual([]);
          expect(plan.indexes.filter((i) => i !== 'tasks_ready' && i !== 'tasks_pkey')).toEqual([]);
        }
        const seats = await explain(p, TASK_QUEUE_SQL.claimWithSeats, ['a', 10, 'w', 1000], generic);
        expect(seats.indexes).toContain('tasks_ready');
        expect(seats.filtered).toEqual([]);
        expect(seats.seq).toEqual([]);
      }
      // Half drained, with statistics that still say everything is queued: the same.
      const q = new PostgresTaskQueue(p);
      for (let i = 0; i < 100; i++) await q.finishMany((await q.claim('w', ['a'], 100, 10_000)).map((lease) => ({ lease, outcome: { status: 'succeeded' as const } })));
      for (const generic of [false, true]) {
        const half = await explain(p, TASK_QUEUE_SQL.claim, [['a'], 10, 'w', 1000], generic);
        expect(half.indexes).toContain('tasks_ready');
        expect(half.filtered).toEqual([]);
        expect(half.seq).toEqual([]);
      }
      // The check has teeth: the one-line mistake of notes §4.2 (ORDER BY the primary key) is caught.
      const wrong = TASK_QUEUE_SQL.claim.replace('ORDER BY queue, run_at, task_id', 'ORDER BY task_id');
      expect(wrong).not.toBe(TASK_QUEUE_SQL.claim);
      await p.query('ANALYZE tasks');
      const bad = await explain(p, wrong, [['a'], 10, 'w', 1000]);
      expect(bad.filtered.length > 0 || !bad.indexes.includes('tasks_ready')).toBe(true);
    }, 60_000);

    it('finish, renew and recordExternalRef find their rows by primary key while many tasks run and statistics say none do (custom and generic plans)', async () => {
      const url = await freshDb();
      const p = pool(url);
      await bulkFill(p, 20_000);
      await p.query('ANALYZE tasks');
      const q = new PostgresTaskQueue(p);
      const running: TaskLease[] = [];
      for (let i = 0; i < 50; i++) running.push(...(await q.claim('w', ['q'], 100, 60_000)));
      expect(running).toHaveLength(5000);
      const some = running.slice(100, 110);
      // A scan of tasks_leased here would read every running task on each call.
      const byKey = (plan: { indexes: string[]; filtered: string[]; seq: string[] }) => {
        expect(plan.indexes).toContain('tasks_pkey');
        expect(plan.indexes).not.toContain('tasks_leased');
        expect(plan.seq).toEqual([]);
      };
      for (const generic of [false, true]) {
        byKey(await explain(p, TASK_QUEUE_SQL.finish, [some.map((l) => l.taskId), some.map((l) => l.epoch), some.map(() => 'succeeded'), some.map(() => null)], generic));
        byKey(await explain(p, TASK_QUEUE_SQL.renew, [some.map((l) => l.taskId), some.map((l) => l.epoch), 1000], generic));
        byKey(await explain(p, TASK_QUEUE_SQL.recordExternalRef, [some[0]!.taskId, some[0]!.epoch, 'ref'], generic));
        // The sweep of expired leases is the one that reads tasks_leased.
        const sweep = await explain(p, TASK_QUEUE_SQL.requeueExpired, [1000], generic);
        expect(sweep.seq).toEqual([]);
        expect(sweep.indexes).toContain('tasks_leased');
      }
    });

    it('draining 20,000 queued tasks (4 pollers, batches of 10) keeps at least 0.7x its starting rate', async () => {
      const N = 20_000;
      /** One drain of a fresh queue: every task claimed once, and the rates of its first and last quarters. */
      const drain = async () => {
        const url = await freshDb();
        const p = pool(url);
        await bulkFill(p, N);
        await p.query('VACUUM ANALYZE tasks');
        const own = Array.from({ length: 4 }, () => pool(url, 1));
        // Connect every pool before the clock starts.
        await Promise.all(own.map((x) => x.query('SELECT 1')));
        let done = 0;
        // Per batch: the quarter it falls in (by tasks done before it) and its claim + finish time.
        const batches: { quarter: number; ms: number }[] = [];
        const marks: number[] = []; // marks[k]: ms when (k + 1) quarters were done
        const seen = new Set<number>();
        const t0 = performance.now();
        await Promise.all(
          own.map(async (x, i) => {
            const q = new PostgresTaskQueue(x);
            for (;;) {
              const quarter = Math.min(3, Math.floor((done * 4) / N));
              const b0 = performance.now();
              const leases = await q.claim(`w${i}`, ['q'], 10, 60_000);
              if (leases.length === 0) return;
              for (const l of leases) seen.add(l.taskId);
              await q.finishMany(leases.map((lease) => ({ lease, outcome: { status: 'succeeded' as const } })));
              if (leases.length === 10) batches.push({ quarter, ms: performance.now() - b0 });
              done += leases.length;
              while (marks.length < 4 && done >= ((marks.length + 1) * N) / 4) marks.push(performance.now() - t0);
            }
          }),
        );
        await Promise.all(own.map((x) => x.end()));
        expect(seen.size).toBe(N);
        expect(done).toBe(N);
        expect((await p.query('SELECT count(*)::int AS n FROM tasks')).rows[0].n).toBe(0);
        const quarter = N / 4;
        // A quarter's rate two ways: by the wall clock, and from its median batch (10 tasks per
        // claim + finish, 4 pollers), which a few batches stalled by something else cannot move.
        const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
        const batchRate = (k: number) => (4 * 10 * 1000) / median(batches.filter((b) => b.quarter === k).map((b) => b.ms));
        return {
          first: quarter / (marks[0]! / 1000),
          last: quarter / ((marks[3]! - marks[2]!) / 1000),
          total: N / (marks[3]! / 1000),
          firstByBatch: batchRate(0),
          lastByBatch: batchRate(3),
        };
      };
      // The decay this guards against (a claim whose cost grows with the finished rows, notes §4.2:
      // 3.7x slower by the end) slows every batch, so it moves the median batch. The machine is
      // shared: other processes' bursts (and autovacuum) stall some batches and swing wall-clock
      // quarter rates, so the bar is on the rates from median batches, and a drain below it is
      // repeated, at most twice (a real decay fails every drain).
      const lines: string[] = [];
      let best = 0;
      for (let attempt = 0; attempt < 3 && best < 0.7; attempt++) {
        const r = await drain();
        best = Math.max(best, r.lastByBatch / r.firstByBatch);
        lines.push(
          `${r.total.toFixed(0)} tasks/s overall; wall clock: first quarter ${r.first.toFixed(0)}/s, last ${r.last.toFixed(0)}/s (${(r.last / r.first).toFixed(2)}x); ` +
            `median batch: first ${r.firstByBatch.toFixed(0)}/s, last ${r.lastByBatch.toFixed(0)}/s (${(r.lastByBatch / r.firstByBatch).toFixed(2)}x)`,
        );
      }
      console.log(`drain of ${N}:\n  ${lines.join('\n  ')}`);
      expect(best).toBeGreaterThanOrEqual(0.7);
    }, 90_000);
  });
});
