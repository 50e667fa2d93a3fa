/**
 * What only the PostgreSQL store has: explicit, numbered migrations (from empty, from every earlier
 * version, two migrators at once), the checks and messages of opening (server down, login refused,
 * a database never migrated, behind or ahead), session timeouts, the claim's and the appends'
 * plans, the two append statements agreeing, and recovery after the server restarts. One real
 * server for the file, a database per test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { StoreError } from '../../src/engine/core/errors.js';
import { openPostgresStore, PG_MIGRATIONS, PG_SCHEMA_VERSION, redactUrl } from '../../src/engine/store/postgres/index.js';
import { APPEND_ONE_SQL, APPEND_SQL, CLAIM_RUNS_SQL } from '../../src/engine/store/postgres/postgres-store.js';
import { startPostgres, type PgServer } from '../helpers/postgres.js';
import { blocked, completed, notifications, progress, rejects, scheduled, started, taskCompleted, taskFailed } from './helpers.js';

let server: PgServer;
let n = 0;
beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server?.destroy();
}, 60_000);

const fresh = (): Promise<string> => server.createDatabase(`pgs${process.pid}_${++n}`);

async function sql<T extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

async function tables(url: string): Promise<string[]> {
  return (await sql<{ t: string }>(url, "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).map((r) => r.t);
}

describe('migrations', () => {
  it('are numbered from 1, the task queue DDL among them', () => {
    expect(PG_MIGRATIONS.map((m) => m.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
    expect(PG_MIGRATIONS.find((m) => m.sql.includes('CREATE TABLE IF NOT EXISTS tasks'))?.version).toBe(2);
  });

  it('migrate an empty database to the current version, once', async () => {
    const url = await fresh();
    const s = await openPostgresStore(url, { forMigration: true });
    try {
      expect(await s.schemaVersion()).toBe(0);
      expect(await s.migrate()).toEqual({ from: 0, to: PG_SCHEMA_VERSION, applied: PG_MIGRATIONS.map((m) => m.version) });
      expect(await s.migrate()).toEqual({ from: PG_SCHEMA_VERSION, to: PG_SCHEMA_VERSION, applied: [] });
    } finally {
      await s.close();
    }
    // The task queue's tables (v2) belong to the task queue; these are the store's.
    expect(await tables(url)).toEqual(expect.arrayContaining(['events', 'inbox', 'outbox', 'runs', 'schema_migrations', 'scripts', 'task_slots', 'tasks', 'workers']));
    const rows = await sql<{ version: number; description: string }>(url, 'SELECT version, description FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((m) => m.version));
  });

  it.each(PG_MIGRATIONS.slice(0, -1).map((m) => m.version))('move a database at v%i forward, keeping its runs', async (from) => {
    const url = await fresh();
    const old = await openPostgresStore(url, { forMigration: true });
    try {
      expect(await old.migrateTo(from)).toMatchObject({ from: 0, to: from });
    } finally {
      await old.close();
    }
    // Written as larkflow at that version would have (v1 has every runs column).
    await sql(url, "INSERT INTO runs (run_id, workflow, file, status, started_at, folded_id, folded_workflow, last_seq) VALUES ('old', 'wf', 'wf.star', 'running', 5, 'old', 'wf', 1)");
    await sql(url, `INSERT INTO events (run_id, seq, kind, body) VALUES ('old', 1, 'RunStarted', $1::jsonb)`, [JSON.stringify({ ...started('old', 5), seq: 1 })]);
    await expect(openPostgresStore(url)).rejects.toThrow(`is at larkflow schema v${from}, this larkflow needs v${PG_SCHEMA_VERSION}; run \`larkflow db migrate --db ${url}\``);
    const m = await openPostgresStore(url, { forMigration: true });
    try {
      expect(await m.migrate()).toEqual({ from, to: PG_SCHEMA_VERSION, applied: PG_MIGRATIONS.filter((x) => x.version > from).map((x) => x.version) });
    } finally {
      await m.close();
    }
    const s = await openPostgresStore(url);
    try {
      expect(await s.getRun('old')).toMatchObject({ status: 'running', lastSeq: 1 });
      expect((await s.append('old', 1, [progress(6)]))[0]!.seq).toBe(2);
    } finally {
      await s.close();
    }
  });

  it('apply each migration once when two migrators race', async () => {
    const url = await fresh();
    const a = await openPostgresStore(url, { forMigration: true });
    const b = await openPostgresStore(url, { forMigration: true });
    try {
      const [x, y] = await Promise.all([a.migrate(), b.migrate()]);
      const all = PG_MIGRATIONS.map((m) => m.version);
      expect([x.applied, y.applied].sort((p, q) => q.length - p.length)).toEqual([all, []]);
    } finally {
      await a.close();
      await b.close();
    }
    const rows = await sql<{ c: number }>(url, 'SELECT count(*)::int AS c FROM schema_migrations');
    expect(rows[0]!.c).toBe(PG_MIGRATIONS.length);
  });

  it('roll a failed migration back whole', async () => {
    const url = await fresh();
    const s = await openPostgresStore(url, { forMigration: true });
    try {
      await s.migrateTo(1);
      const broken = [...PG_MIGRATIONS.slice(0, 1), { version: 2, description: 'half done', sql: 'CREATE TABLE extra (a int); SELECT nonsense FROM nowhere' }];
      const err = await rejects(s.migrateTo(2, broken));
      expect(err.message).toMatch(/^cannot migrate database .* from schema v1 to v2 \(half done\): relation "nowhere" does not exist; the database is unchanged$/);
      expect(await s.schemaVersion()).toBe(1);
    } finally {
      await s.close();
    }
    expect(await tables(url)).not.toContain('extra');
  });
});

describe('opening', () => {
  it('refuses a database that was never migrated, saying what to run', async () => {
    const url = await fresh();
    const err = await rejects(openPostgresStore(url));
    expect(err.message).toBe(`database ${url} has no larkflow schema (never migrated); run \`larkflow db migrate --db ${url}\` once, then start again`);
    expect(await tables(url)).toEqual([]);
  });

  it('refuses a database of a newer schema', async () => {
    const url = await fresh();
    const s = await openPostgresStore(url, { forMigration: true });
    await s.migrate();
    await s.close();
    await sql(url, "INSERT INTO schema_migrations (version, description) VALUES (99, 'future')");
    expect((await rejects(openPostgresStore(url))).message).toBe(`database ${url} was written by a newer larkflow (schema v99, this larkflow knows v${PG_SCHEMA_VERSION}); upgrade larkflow`);
  });

  it('explains a refused connection, naming the URL without its password', async () => {
    const url = `postgres://larkflow:secret@127.0.0.1:1/db`;
    const err = await rejects(openPostgresStore(url, { connectTimeoutMs: 2000 }));
    expect(err.message).toBe(
      'cannot connect to PostgreSQL at postgres://larkflow:***@127.0.0.1:1/db: connection refused; is the server running and listening on that host and port? Check the URL (--db or LARKFLOW_DB)',
    );
    expect(err.message).not.toContain('secret');
    expect(redactUrl('postgres://u:p@h/d')).toBe('postgres://u:***@h/d');
  });

  it('explains a refused login and a missing database', async () => {
    const nobody = server.url.replace('postgres@', 'nobody@');
    expect((await rejects(openPostgresStore(nobody))).message).toMatch(/^cannot log in to PostgreSQL at .*: role "nobody" does not exist; check the user and password/);
    const missing = server.url.replace(/\/postgres$/, '/nosuchdb');
    expect((await rejects(openPostgresStore(missing))).message).toMatch(/^cannot open database .*nosuchdb: database "nosuchdb" does not exist; create it/);
  });

  it('sets the session timeouts on every connection, and a held row lock fails a call instead of hanging it', async () => {
    const url = await fresh();
    const m = await openPostgresStore(url, { forMigration: true });
    await m.migrate();
    await m.close();
    const s = await openPostgresStore(url, { poolSize: 2, statementTimeoutMs: 60_000, lockTimeoutMs: 300, idleInTransactionTimeoutMs: 8900 });
    const t = await openPostgresStore(url, { poolSize: 1, statementTimeoutMs: 300, lockTimeoutMs: 60_000 });
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      expect(await s.settings()).toEqual({ statementTimeoutMs: 60_000, lockTimeoutMs: 300, idleInTransactionTimeoutMs: 8900 });
      await s.createRun(started('r1'));
      await other.query('BEGIN');
      await other.query("SELECT 1 FROM runs WHERE run_id = 'r1' FOR UPDATE");
      expect((await rejects(s.append('r1', 1, [progress(2)]))).message).toMatch(/^cannot append to run r1: database .* failed \(canceling statement due to lock timeout, 55P03\); nothing of this call was written$/);
      expect((await rejects(t.append('r1', 1, [progress(2)]))).message).toMatch(/canceling statement due to statement timeout, 57014/);
      await other.query('ROLLBACK');
      expect((await s.append('r1', 1, [progress(2)]))[0]!.seq).toBe(2);
    } finally {
      await other.end();
      await s.close();
      await t.close();
    }
  });

  it('fails a call cleanly while the server is down, and works again after it restarts', async () => {
    const url = await fresh();
    const m = await openPostgresStore(url, { forMigration: true });
    await m.migrate();
    await m.close();
    const s = await openPostgresStore(url, { connectTimeoutMs: 2000 });
    try {
      await s.createRun(started('r1'));
      await server.stop();
      const err = await rejects(s.append('r1', 1, [progress(2)]));
      expect(err).toBeInstanceOf(StoreError);
      // A group commit fails as a whole (nothing written, the caller retries), not run by run.
      await rejects(s.appendMany([{ runId: 'r1', expectedLastSeq: 1, events: [progress(2)] }]));
      await server.start();
      let appended = false;
      for (let i = 0; i < 50 && !appended; i++) {
        try {
          await s.append('r1', 1, [progress(2)]);
          appended = true;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect(appended).toBe(true);
      expect((await s.history('r1')).map((e) => e.seq)).toEqual([1, 2]);
    } finally {
      await s.close();
    }
  }, 60_000);
});

describe('claim plan', () => {
  it('claims through runs_claimable, never a scan of the primary key', async () => {
    const url = await fresh();
    const m = await openPostgresStore(url, { forMigration: true });
    await m.migrate();
    await m.close();
    await sql(
      url,
      `INSERT INTO runs (run_id, workflow, file, status, started_at, folded_id, folded_workflow, last_seq, lease_until)
       SELECT 'r' || i, 'wf', 'wf.star', CASE WHEN i % 4 = 0 THEN 'running' ELSE 'completed' END, i, 'r' || i, 'wf', 1,
              CASE WHEN i % 8 = 0 THEN '-infinity'::timestamptz ELSE now() + interval '1 hour' END
       FROM generate_series(1, 20000) AS i`,
    );
    await sql(url, 'ANALYZE runs');
    // The store's own statement, with a custom plan and with a generic one (a prepared statement
    // reused by a driver or a pooler): both walk runs_claimable and update by primary key.
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(`PREPARE claim(text, int, float8) AS ${CLAIM_RUNS_SQL}`);
      for (const mode of ['force_custom_plan', 'force_generic_plan']) {
        await c.query(`SET plan_cache_mode = ${mode}`);
        const plan = (await c.query<{ 'QUERY PLAN': string }>("EXPLAIN EXECUTE claim('w', 10, 1000)")).rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(plan, mode).toContain('runs_claimable');
        expect(plan, mode).toMatch(/Index Scan using runs_pkey/);
        expect(plan, mode).not.toMatch(/Seq Scan|Hash Join/);
      }
    } finally {
      await c.end();
    }
    // The append's generic plan (it is a named prepared statement): primary keys only.
    const a = new pg.Client({ connectionString: url });
    await a.connect();
    try {
      await a.query('SET plan_cache_mode = force_generic_plan');
      await a.query(`PREPARE app(jsonb) AS ${APPEND_SQL}`);
      const doc = [{ run_id: 'r4', expected: 1, owner: 'w', epoch: 1, n: 1, status: 'running', ended_at: null, d_total: 0, d_done: 0, d_hits: 0, fe_task: null, fe_step: null, fe_msg: null, n_consume: 0, events: [{ kind: 'ProgressReported' }] }];
      const plan = (await a.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE app('${JSON.stringify(doc)}')`)).rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(plan).toMatch(/Index Scan using runs_pkey on runs/);
      expect(plan).not.toMatch(/Seq Scan on (runs|events|inbox)/);
      await a.query(`PREPARE one(text, bigint, text, bigint, int, text, bigint, int, int, int, text, text, jsonb) AS ${APPEND_ONE_SQL}`);
      const onePlan = (await a.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE one('r4', 1, 'w', 1, 1, 'running', NULL, 0, 0, 0, NULL, NULL, '[{"kind":"ProgressReported"}]')`)).rows
        .map((r) => r['QUERY PLAN'])
        .join('\n');
      expect(onePlan).toMatch(/Index Scan using runs_pkey on runs/);
      expect(onePlan).not.toMatch(/Seq Scan on (runs|events)/);
    } finally {
      await a.end();
    }
    // Run as the store runs them (named, parsed once per connection), both keep their generic plan
    // after the first five calls instead of planning every call again (a custom plan that folds
    // away a step the parameters make dead can look cheaper than the generic one).
    const p = new pg.Client({ connectionString: url });
    await p.connect();
    try {
      await sql(url, "UPDATE runs SET status = 'running', last_seq = 1, owner = NULL WHERE run_id IN ('r1', 'r2')");
      for (let i = 0; i < 8; i++) {
        const body = JSON.stringify({ kind: 'ProgressReported', at: i, message: 'm' });
        const one = await p.query({ name: 'one', text: APPEND_ONE_SQL, values: ['r1', 1 + i, null, null, 1, 'running', null, 0, 0, 0, null, null, `[${body}]`] });
        expect(one.rowCount).toBe(1);
        const run = { run_id: 'r2', expected: 1 + i, owner: null, epoch: null, n: 1, status: 'running', ended_at: null, d_total: 0, d_done: 0, d_hits: 0, fe_task: null, fe_step: null, fe_msg: null, n_consume: 0 };
        const group = await p.query({ name: 'group', text: APPEND_SQL, values: [`[${JSON.stringify(run).slice(0, -1)},"events":[${body}]}]`] });
        expect(group.rows.map((r) => r.run_id)).toEqual(['r2']);
      }
      const plans = await p.query<{ name: string; generic_plans: number; custom_plans: number }>(
        "SELECT name, generic_plans::int, custom_plans::int FROM pg_prepared_statements WHERE name IN ('one', 'group') ORDER BY name",
      );
      expect(plans.rows).toEqual([
        { name: 'group', generic_plans: 3, custom_plans: 5 },
        { name: 'one', generic_plans: 3, custom_plans: 5 },
      ]);
    } finally {
      await p.end();
    }
    const s = await openPostgresStore(url);
    try {
      const got = await s.claimRuns('w', 10, 60_000);
      expect(got).toHaveLength(10);
      expect(new Set(got.map((c) => c.runId)).size).toBe(10);
    } finally {
      await s.close();
    }
  });
});

describe('append statements', () => {
  async function migrated(): Promise<string> {
    const url = await fresh();
    const m = await openPostgresStore(url, { forMigration: true });
    await m.migrate();
    await m.close();
    return url;
  }

  it('the one-run statement and the group statement write the same rows', async () => {
    const url = await migrated();
    const s = await openPostgresStore(url);
    try {
      for (const id of ['one', 'grp', 'other']) await s.createRun(started(id), { owner: 'w', leaseMs: 60_000 });
      const lease = { owner: 'w', epoch: 1 };
      // One batch per step: alone, `one` takes the one-run statement where it can (not for the
      // first error whose task is in an earlier append, nor for the notifications); `grp` always
      // goes with `other` in one group statement.
      const steps = [
        [progress(2, 'a'), scheduled(3, 'load#1'), scheduled(4, 'train#1')],
        [taskCompleted(5, 'load#1', { rows: [1, 2] }, 'cache'), scheduled(6, 'eval#1'), taskFailed(7, 'eval#1', 'eval broke')],
        [taskFailed(8, 'train#1', 'second')],
        [blocked(9)],
        [progress(10, 'b')],
        [notifications('x', ['http://127.0.0.1:1/hook'], 11)],
        [completed(12, { ok: true })],
      ];
      let seq = 1;
      let otherSeq = 1;
      for (const events of steps) {
        const alone = await s.appendMany([{ runId: 'one', expectedLastSeq: seq, events, lease }]);
        expect(alone.get('one')).toMatchObject({ ok: true });
        const both = await s.appendMany([
          { runId: 'grp', expectedLastSeq: seq, events, lease },
          { runId: 'other', expectedLastSeq: otherSeq, events: [progress(1)], lease },
        ]);
        expect([...both.values()].map((o) => o.ok)).toEqual([true, true]);
        expect(both.get('grp')).toEqual(alone.get('one'));
        seq += events.length;
        otherSeq++;
      }
      const runs = await sql(url, "SELECT run_id, status, ended_at, last_seq, total, done, cache_hits, first_error, owner, epoch FROM runs WHERE run_id IN ('one', 'grp') ORDER BY run_id");
      expect(runs[0]).toMatchObject({ run_id: 'grp', status: 'completed', ended_at: '12', last_seq: '12', total: 3, done: 3, cache_hits: 1, first_error: { task: 'eval', message: 'eval broke' } });
      expect({ ...runs[1], run_id: 'grp' }).toEqual(runs[0]);
      const events = await sql<{ run_id: string; seq: string; kind: string; body: unknown }>(url, "SELECT run_id, seq, kind, body FROM events WHERE run_id IN ('one', 'grp') AND seq > 1 ORDER BY run_id, seq");
      const of = (id: string): unknown[] => events.filter((e) => e.run_id === id).map(({ seq, kind, body }) => ({ seq, kind, body }));
      expect(of('one')).toHaveLength(11);
      expect(of('one')).toEqual(of('grp'));
      expect(of('one').map((e) => (e as { kind: string }).kind)).toEqual(steps.flat().map((e) => e.kind));
      expect(await s.history('one')).toEqual((await s.history('grp')).map((e) => (e.kind === 'RunStarted' ? { ...e, runId: 'one' } : e)));
      const outbox = await sql<{ run_id: string; c: number }>(url, 'SELECT run_id, count(*)::int AS c FROM outbox GROUP BY run_id ORDER BY run_id');
      expect(outbox).toEqual([
        { run_id: 'grp', c: 1 },
        { run_id: 'one', c: 1 },
      ]);
    } finally {
      await s.close();
    }
  });

  it('refuses an event PostgreSQL cannot store (\\u0000) with what to do, alone or in a group, writing nothing of that run', async () => {
    const url = await migrated();
    const s = await openPostgresStore(url);
    try {
      await s.createRun(started('bad'));
      await s.createRun(started('good'));
      const err = await rejects(s.append('bad', 1, [progress(2, 'nul \u0000 here')]));
      expect(err.message).toMatch(/^cannot append to run bad: PostgreSQL cannot store a \\u0000 character in JSON \(.*\); nothing of this call was written$/);
      const got = await s.appendMany([
        { runId: 'bad', expectedLastSeq: 1, events: [progress(2, 'nul \u0000 here')] },
        { runId: 'good', expectedLastSeq: 1, events: [progress(2)] },
      ]);
      expect(got.get('good')).toMatchObject({ ok: true, events: [{ seq: 2 }] });
      expect(got.get('bad')).toMatchObject({ ok: false, error: { message: expect.stringMatching(/PostgreSQL cannot store a \\u0000 character/) } });
      expect((await s.history('bad')).map((e) => e.seq)).toEqual([1]);
      expect(await s.getRun('bad')).toMatchObject({ status: 'running', lastSeq: 1 });
    } finally {
      await s.close();
    }
  });
});
