#!/usr/bin/env node
/**
 * The PostgreSQL benchmark (`node bench/postgres.mjs` after `npm run build`; `npm run bench` runs
 * it last): the scale-out hot paths against raw baselines measured in the same run, on a server this
 * script starts (initdb + pg_ctl in a temp dir, 127.0.0.1, synchronous_commit on) and removes at the
 * end. Skipped, with the reason printed, when PostgreSQL is not installed.
 *
 *   (a) fenced batched append, 1 process, 1 connection, 10 events per statement and commit: the
 *       store's `appendMany` (compare-and-set of the run row plus the events, one statement) and
 *       the bare statement shape of scale-out notes §5.2, each against a raw multi-row INSERT of
 *       the same 10 events. Target ≥ 0.8x.
 *   (b) the same three from 4 worker processes (one connection each per variant): events/s.
 *       Target ≥ 20,000/s for the store (the §5.2 statement when the build has no store).
 *   (c) draining --tasks queued tasks (default 20,000) with 4 poller processes, batches of 10:
 *       PostgresTaskQueue.claim + finishMany (fenced, task_history, seats) against a raw claim
 *       (the same SKIP LOCKED UPDATE on a copy of the table) + DELETE. Tasks/s; target ≥ 10,000/s.
 *
 * The variants of each part run interleaved in 200 ms time slices, in the same workers and
 * database (every worker switches at the same wall-clock moments), so load from elsewhere on this
 * shared machine falls on each alike and their ratio stays meaningful when absolute rates swing. A
 * rate is the sum over workers of count / time spent in that variant's steps. Every part gets a
 * fresh database and a CHECKPOINT first; workers are separate processes (bench/lib/pg-worker.mjs)
 * that connect and prepare before a common start. The table shows medians over rounds [min–max];
 * each ratio is the median of the per-round ratios. Postgres and the clients share the machine's
 * cores and disk, so absolute rates are a floor; a target missed is reported, and does not fail
 * the run.
 *
 * Options: --runs N rounds (default 3, at least 3), --seconds S per timed measurement (default 2),
 * --tasks N (default 20000), --json (one JSON line of rates per round as well).
 * Environment: LARKFLOW_DIST, the build to load (default dist).
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { postgresBinDir, startPostgres } from './lib/postgres.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = process.env.LARKFLOW_DIST ?? join(ROOT, 'dist');
const WORKER = join(ROOT, 'bench', 'lib', 'pg-worker.mjs');

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' }, seconds: { type: 'string', default: '2' }, tasks: { type: 'string', default: '20000' }, json: { type: 'boolean', default: false } } });
const ROUNDS = Math.max(3, Number(args.runs) || 3);
const MS = Math.max(250, Number(args.seconds) * 1000 || 2000);
const TASKS = Math.max(1000, Math.floor(Number(args.tasks) || 20_000));

if (!postgresBinDir()) {
  console.log('postgres benchmark: skipped: PostgreSQL server binaries not found (install Debian\'s "postgresql" package; .ci/run does)');
  process.exit(0);
}
const QUEUE_JS = join(DIST, 'engine', 'store', 'postgres', 'task-queue.js');
const SCHEMA_JS = join(DIST, 'engine', 'store', 'postgres', 'task-queue-schema.js');
const STORE_JS = join(DIST, 'engine', 'store', 'postgres', 'index.js');
for (const f of [QUEUE_JS, SCHEMA_JS]) {
  if (!existsSync(f)) {
    console.error(`bench: ${f} not found; run \`npm run build\``);
    process.exit(1);
  }
}
const { TASK_QUEUE_DDL } = await import(pathToFileURL(SCHEMA_JS).href);
let storeModule = {};
let storeWhy = `${STORE_JS} has no openPostgresStore`;
if (existsSync(STORE_JS)) {
  try {
    storeModule = await import(pathToFileURL(STORE_JS).href);
  } catch (err) {
    storeWhy = `${STORE_JS} did not load (${err?.message ?? err})`;
  }
}
const HAVE_STORE = typeof storeModule.openPostgresStore === 'function';

// ---------------------------------------------------------------------------------------------
// Measurements

const BENCH_DDL = `
  CREATE TABLE b_runs (run_id text PRIMARY KEY, owner text, epoch bigint NOT NULL, next_seq bigint NOT NULL) WITH (fillfactor = 80);
  CREATE TABLE b_events (run_id text, seq bigint, kind text NOT NULL, body jsonb NOT NULL, PRIMARY KEY (run_id, seq));`;

let server;
let dbCounter = 0;

async function withDb(prepare, fn) {
  const name = `b${++dbCounter}`;
  const url = await server.createDatabase(name);
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    await prepare(url);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('CHECKPOINT');
    await c.end();
    return await fn(url);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
}

async function sql(url, text) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

/**
 * Forks `n` workers of `mode` with `variants`, starts them together for `ms` (time-sliced between
 * the variants); returns per variant { count, rate per second }.
 */
async function runWorkers(mode, url, n, variants, ms) {
  const kids = Array.from({ length: n }, (_, i) => fork(WORKER, [mode, url, `w${i}`, variants.join(',')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const next = (kid) =>
    new Promise((res, rej) => {
      const onExit = (code) => rej(new Error(`${mode} worker exited ${code}`));
      kid.once('message', (m) => {
        kid.off('exit', onExit);
        if (m.error) rej(new Error(`${mode} worker: ${m.error}`));
        else res(m);
      });
      kid.once('exit', onExit);
    });
  try {
    await Promise.all(kids.map(next));
    const done = kids.map(next);
    const start = Date.now() + 50;
    for (const k of kids) k.send({ go: true, start, ms, sliceMs: SLICE_MS });
    const results = await Promise.all(done);
    // Per variant: its total count, and its rate (the sum of each worker's count / time in its steps).
    return variants.map((_, i) => ({
      count: results.reduce((a, r) => a + r.counts[i], 0),
      rate: results.reduce((a, r) => a + (r.busy[i] > 0 ? r.counts[i] / (r.busy[i] / 1000) : 0), 0),
    }));
  } finally {
    for (const k of kids) if (k.exitCode === null) k.kill();
  }
}

const prepareAppend = async (url) => {
  await sql(url, BENCH_DDL);
  if (HAVE_STORE) {
    const store = await storeModule.openPostgresStore(url, { forMigration: true });
    await store.migrate();
    await store.close();
  }
};

const prepareQueue = async (url) => {
  await sql(url, TASK_QUEUE_DDL);
  await sql(url, 'CREATE TABLE raw_tasks (LIKE tasks INCLUDING ALL)');
  for (const table of ['tasks', 'raw_tasks']) {
    await sql(
      url,
      `INSERT INTO ${table} (run_id, step_key, attempt, queue, executor, spec)
       SELECT 'r' || (g / 100), 's' || g, 1, 'q', 'local', jsonb_build_object('i', g) FROM generate_series(0, ${TASKS - 1}) g`,
    );
  }
  await sql(url, 'VACUUM ANALYZE tasks, raw_tasks');
};

const APPENDS = HAVE_STORE ? ['raw', 'cas', 'store'] : ['raw', 'cas'];
const CLAIMS = ['raw', 'queue'];
const SLICE_MS = 200;

/** One round: every measurement once. Returns rates per key. */
async function round() {
  const out = {};
  for (const [part, procs] of [['a', 1], ['b', 4]]) {
    const got = await withDb(prepareAppend, (u) => runWorkers('append', u, procs, APPENDS, MS * APPENDS.length));
    APPENDS.forEach((v, i) => (out[`${part}.${v}`] = got[i].rate));
  }
  const got = await withDb(prepareQueue, (u) => runWorkers('claim', u, 4, CLAIMS, 60_000));
  CLAIMS.forEach((v, i) => {
    if (got[i].count !== TASKS) throw new Error(`the ${v} drain finished ${got[i].count} of ${TASKS} tasks within 60 s`);
    out[`c.${v}`] = got[i].rate;
  });
  return out;
}

const LABELS = {
  'a.raw': 'raw INSERT, 1 conn',
  'a.cas': 'fenced, §5.2 statement, 1 conn',
  'a.store': 'fenced, store.appendMany, 1 conn',
  'b.raw': 'raw INSERT, 4 procs',
  'b.cas': 'fenced, §5.2 statement, 4 procs',
  'b.store': 'fenced, store.appendMany, 4 procs',
  'c.raw': 'raw claim + DELETE, 4 pollers',
  'c.queue': 'PostgresTaskQueue claim + finishMany, 4 pollers',
};

// ---------------------------------------------------------------------------------------------
// Statistics and output

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const fmtRate = (xs) => `${Math.round(median(xs)).toLocaleString('en-US')} [${Math.round(Math.min(...xs)).toLocaleString('en-US')}–${Math.round(Math.max(...xs)).toLocaleString('en-US')}]`;
// Rounded down, so a ratio just under a target never prints as the target.
const fmtRatio = (x) => (Number.isFinite(x) ? `${(Math.floor(x * 100) / 100).toFixed(2)}x` : '-');

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

async function main() {
  server = await startPostgres();
  try {
    const info = await sql(server.url, "SELECT current_setting('server_version') AS v, current_setting('synchronous_commit') AS sc, current_setting('fsync') AS fsync");
    const { v, sc, fsync } = info.rows[0];
    console.log(`PostgreSQL ${v} (synchronous_commit=${sc}, fsync=${fsync}), node ${process.version}, ${ROUNDS} rounds, ${MS / 1000} s per timed measurement, ${TASKS.toLocaleString('en-US')} tasks per drain`);
    if (!HAVE_STORE) console.log(`note: ${storeWhy}; the fenced side is the §5.2 statement shape alone, not the store`);
    const rates = {};
    for (let r = 0; r < ROUNDS; r++) {
      process.stderr.write(`bench: postgres round ${r + 1}/${ROUNDS}\n`);
      const got = await round();
      for (const [k, v] of Object.entries(got)) (rates[k] ??= []).push(v);
      if (args.json) console.log(JSON.stringify({ bench: 'postgres', round: r, rates: Object.fromEntries(Object.entries(got).map(([k, v]) => [k, Math.round(v)])) }));
    }
    const ratio = (k, base) => median(rates[k].map((x, i) => x / rates[base][i]));
    const label = (k) => LABELS[k];
    const rows = [];
    const verdicts = [];
    const row = (k, base, unit, target, ok) => {
      rows.push([label(k), `${fmtRate(rates[k])} ${unit}`, k === base ? '1.00x' : fmtRatio(ratio(k, base)), target, ok === undefined ? '' : ok ? 'ok' : 'BELOW']);
      if (ok === false) verdicts.push(`${label(k)}: below ${target}`);
    };
    row('a.raw', 'a.raw', 'events/s', 'baseline');
    row('a.cas', 'a.raw', 'events/s', '≥ 0.80x', ratio('a.cas', 'a.raw') >= 0.8);
    if (HAVE_STORE) row('a.store', 'a.raw', 'events/s', '≥ 0.80x', ratio('a.store', 'a.raw') >= 0.8);
    row('b.raw', 'b.raw', 'events/s', 'baseline');
    row('b.cas', 'b.raw', 'events/s', HAVE_STORE ? '' : '≥ 20,000/s', HAVE_STORE ? undefined : median(rates['b.cas']) >= 20_000);
    if (HAVE_STORE) row('b.store', 'b.raw', 'events/s', '≥ 20,000/s', median(rates['b.store']) >= 20_000);
    row('c.raw', 'c.raw', 'tasks/s', 'baseline');
    row('c.queue', 'c.raw', 'tasks/s', '≥ 10,000/s', median(rates['c.queue']) >= 10_000);
    console.log();
    console.log(table(['measurement (10 per statement, sync commit on)', 'median [min–max]', 'vs raw', 'target', ''], rows));
    console.log();
    console.log(verdicts.length === 0 ? 'postgres: every target met' : `postgres: ${verdicts.length} below target on this machine: ${verdicts.join('; ')}`);
  } finally {
    await server.destroy();
  }
}

await main();
