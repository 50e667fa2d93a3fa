/**
 * One worker process of bench/postgres.mjs, forked with IPC:
 *
 *   node bench/lib/pg-worker.mjs append URL NAME raw,cas,store
 *   node bench/lib/pg-worker.mjs claim URL NAME raw|queue
 *
 * It connects (one connection per variant), prepares its own rows, sends { ready: true }, waits for
 * { go: true, start, ms, sliceMs } and works from wall-clock time `start` for `ms`, in slices of
 * `sliceMs` that rotate through the variants (every worker switches at the same moments):
 * `append` appends 10 events per statement to a run of its own; `claim` claims a batch of 10 and
 * finishes it, per step, until its variant's queue is empty. It sends { counts, busy } (events or
 * tasks per variant, and the ms its steps took) and exits. Every statement commits on its own,
 * synchronous_commit on.
 *
 * The raw statements are prepared (named), as the task queue's hot statements are.
 *
 * Append variants: raw    the baseline, one multi-row INSERT of 10 events (unnest) into b_events
 *                  cas    notes §5.2's fenced append: one statement compare-and-sets b_runs(owner,
 *                         epoch, next_seq) and inserts the events only if that matched
 *                  store  the PostgreSQL store's appendMany (dist/engine/store/postgres), 10 events
 *                         of one run under its lease per call
 * Claim variants:  raw    the baseline on raw_tasks (a copy of tasks): claim 10 (the same UPDATE …
 *                         SKIP LOCKED through its tasks_ready), then DELETE them
 *                  queue  PostgresTaskQueue.claim(10) then finishMany (fenced, task_history, seats)
 */
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';

const DIST = process.env.LARKFLOW_DIST ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');
const [mode, url, name, variantList] = process.argv.slice(2);
const BATCH = 10;
const MESSAGE = 'x'.repeat(150); // a ProgressReported event of about 200 bytes of JSON

const send = (m) => new Promise((res) => process.send(m, res));
const go = new Promise((res) => process.on('message', (m) => m.go && res(m)));

/** The append variants: name → prepare() returning one step (appends BATCH events, returns BATCH). */
async function appendVariant(v, close) {
  const runId = `run-${name}-${v}`;
  if (v === 'store') {
    const { openPostgresStore } = await import(pathToFileURL(join(DIST, 'engine', 'store', 'postgres', 'index.js')).href);
    const store = await openPostgresStore(url, { poolSize: 1 });
    close.push(() => store.close());
    await store.createRun({ kind: 'RunStarted', at: Date.now(), runId, workflow: 'bench', file: 'bench.star', scriptDigest: 'd', args: [], kwargs: {}, env: {}, seed: 's', attempt: 1 }, { owner: name, leaseMs: 3_600_000 });
    const lease = { owner: name, epoch: 1 };
    let last = 1;
    return async () => {
      const at = Date.now();
      const events = Array.from({ length: BATCH }, () => ({ kind: 'ProgressReported', at, message: MESSAGE }));
      const r = (await store.appendMany([{ runId, expectedLastSeq: last, events, lease }])).get(runId);
      if (!r.ok) throw r.error;
      last += BATCH;
      return BATCH;
    };
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  close.push(() => client.end());
  await client.query(`INSERT INTO b_runs (run_id, owner, epoch, next_seq) VALUES ($1, $2, 1, 0)`, [runId, name]);
  let next = 0;
  const cas = `
    WITH ok AS (UPDATE b_runs SET next_seq = next_seq + $5 WHERE run_id = $1 AND owner = $2 AND epoch = $3 AND next_seq = $4 RETURNING run_id)
    INSERT INTO b_events (run_id, seq, kind, body)
    SELECT e.run_id, e.seq, e.kind, e.body FROM unnest($6::text[], $7::bigint[], $8::text[], $9::jsonb[]) AS e(run_id, seq, kind, body)
     WHERE e.run_id IN (SELECT run_id FROM ok)`;
  const raw = `INSERT INTO b_events (run_id, seq, kind, body) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::jsonb[])`;
  return async () => {
    const at = Date.now();
    const seqs = Array.from({ length: BATCH }, (_, i) => next + i + 1);
    const cols = [seqs.map(() => runId), seqs, seqs.map(() => 'ProgressReported'), seqs.map((seq) => JSON.stringify({ kind: 'ProgressReported', at, message: MESSAGE, seq }))];
    if (v === 'raw') await client.query({ name: 'bench_raw', text: raw, values: cols });
    else {
      const r = await client.query({ name: 'bench_cas', text: cas, values: [runId, name, 1, next, BATCH, ...cols] });
      if (r.rowCount !== BATCH) throw new Error(`fenced append refused at ${next}`);
    }
    next += BATCH;
    return BATCH;
  };
}

/** The claim variants: one step claims a batch and finishes it; returns how many (0: queue empty). */
async function claimVariant(v, close) {
  if (v === 'queue') {
    const { PostgresTaskQueue } = await import(pathToFileURL(join(DIST, 'engine', 'store', 'postgres', 'task-queue.js')).href);
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    pool.on('error', () => {});
    close.push(() => pool.end());
    await pool.query('SELECT 1');
    const q = new PostgresTaskQueue(pool);
    return async () => {
      const leases = await q.claim(name, ['q'], BATCH, 60_000);
      if (leases.length === 0) return 0;
      const done = await q.finishMany(leases.map((lease) => ({ lease, outcome: { status: 'succeeded' } })));
      if (done.some((d) => d !== 'ok')) throw new Error('a finish was fenced');
      return leases.length;
    };
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  close.push(() => client.end());
  return async () => {
    const r = await client.query({
      name: 'bench_claim',
      text: `UPDATE raw_tasks t SET status = 'running', owner = $2, epoch = t.epoch + 1, lease_until = now() + interval '60 seconds'
              WHERE t.task_id = ANY(ARRAY(SELECT task_id FROM raw_tasks WHERE status = 'queued' AND queue = ANY($1::text[]) AND run_at <= now()
                                          ORDER BY queue, run_at, task_id LIMIT ${BATCH} FOR UPDATE SKIP LOCKED))
             RETURNING t.task_id`,
      values: [['q'], name],
    });
    if (r.rowCount === 0) return 0;
    await client.query({ name: 'bench_delete', text: 'DELETE FROM raw_tasks WHERE task_id = ANY($1::bigint[])', values: [r.rows.map((x) => x.task_id)] });
    return r.rowCount;
  };
}

async function main() {
  const close = [];
  const variants = variantList.split(',');
  const steps = [];
  for (const v of variants) steps.push(await (mode === 'append' ? appendVariant(v, close) : claimVariant(v, close)));
  await send({ ready: true });
  const { start, ms, sliceMs } = await go;
  const counts = variants.map(() => 0);
  const busy = variants.map(() => 0); // ms spent in each variant's steps
  const empty = variants.map(() => false);
  // Time slices shared by every worker (wall clock): in slice k all of them run variant k mod n,
  // so load from elsewhere falls on every variant alike. A claim variant whose queue ran empty
  // sits its slices out; the run ends when every queue is empty or the time is up.
  while (Date.now() < start) await new Promise((r) => setTimeout(r, 1));
  for (let now = Date.now(); now < start + ms && !empty.every(Boolean); now = Date.now()) {
    const k = Math.floor((now - start) / sliceMs) % variants.length;
    if (empty[k]) {
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    const t = performance.now();
    const n = await steps[k]();
    if (n === 0) empty[k] = true;
    else {
      busy[k] += performance.now() - t;
      counts[k] += n;
    }
  }
  for (const c of close) await c();
  await send({ counts, busy });
  process.disconnect();
}

main().catch(async (err) => {
  await send({ error: String(err?.stack ?? err) }).catch(() => {});
  process.exit(1);
});
