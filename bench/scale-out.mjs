#!/usr/bin/env node
/**
 * Steps per second of shared-database workers (issue 16): N `SharedWorker` processes on one
 * PostgreSQL database (started here, synchronous commit on) drive R runs of S no-op steps that a
 * client submitted; the clock runs from the workers' start to the last run's end. Reported for 1, 2
 * and 4 workers, as steps/s and as the ratio to 1 worker measured in the same run (medians of
 * --runs rounds), with the tasks run in the run owner's process and through the shared task queue
 * (`--task-queue all`: each step's attempt is a row any worker's poller claims, its result posted to
 * the run's inbox; a step then waits for two polls, the claim's and the owner's). For scale: DBOS measured 559 steps/s for one workflow and 1,538 for ten on this
 * machine class (scale-out notes §4), and `bench/engine.mjs` gives the embedded SQLite rate.
 *
 *   node bench/scale-out.mjs [--runs N] [--workflows R] [--steps S]
 *
 * Needs `npm run build`; skipped with the reason when PostgreSQL is not installed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresBinDir, startPostgres } from './lib/postgres.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('--runs', 3);
const RUNS = arg('--workflows', 40);
const STEPS = arg('--steps', 50);
const SCRIPT = `step = task("step")

@workflow()
def count(n):
    acc = 0
    for i in range(n):
        acc = acc + step(i)
    return acc
`;

if (!postgresBinDir()) {
  console.log('scale-out: skipped (PostgreSQL is not installed: apt-get install postgresql)');
  process.exit(0);
}

const { Engine } = await import('../dist/engine/index.js');
const { openPostgresStore } = await import('../dist/engine/store/postgres/index.js');
await import('../dist/stdlib/index.js');

const server = await startPostgres();
const dir = mkdtempSync(join(tmpdir(), 'larkflow-scale-'));
let dbs = 0;

async function seed(store) {
  const e = Engine.open({ db: ':memory:' });
  e.registerTask('step', () => new Promise(() => {}));
  const h = e.start({ source: { name: 'count.star', text: SCRIPT }, args: [STEPS] });
  const first = e.history(h.runId)[0];
  await store.putScript(first.scriptDigest, e.store.getScript(first.scriptDigest));
  e.abandon();
  const { seq: _seq, ...rest } = first;
  for (let i = 0; i < RUNS; i++) await store.createRun({ ...rest, runId: `run-b${dbs}-${i}`, seed: `${first.seed}-${i}`, at: Date.now() });
}

async function measure(workers, mode) {
  const url = await server.createDatabase(`scale${++dbs}`);
  const m = await openPostgresStore(url, { forMigration: true });
  await m.migrate();
  await m.close();
  const store = await openPostgresStore(url);
  await seed(store);
  const procs = [];
  const ready = [];
  for (let i = 0; i < workers; i++) {
    const p = spawn(process.execPath, [join(HERE, 'lib/scale-worker.mjs'), url, join(dir, `w${dbs}-${i}`), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(p);
    ready.push(new Promise((r) => p.stdout.once('data', r)));
  }
  await Promise.all(ready);
  const t0 = performance.now();
  for (;;) {
    const done = (await store.listRuns({ status: 'completed' })).length;
    if (done >= RUNS) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const ms = performance.now() - t0;
  for (const p of procs) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => new Promise((r) => p.on('exit', r))));
  await store.close();
  return (RUNS * STEPS) / (ms / 1000);
}

const { performance } = await import('node:perf_hooks');
const counts = [1, 2, 4];
const modes = ['owner', 'queue'];
const results = new Map(modes.flatMap((m) => counts.map((c) => [`${m}:${c}`, []])));
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const m of modes) for (const c of r % 2 === 0 ? counts : [...counts].reverse()) results.get(`${m}:${c}`).push(await measure(c, m));
  }
} finally {
  await server.destroy();
  rmSync(dir, { recursive: true, force: true });
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(results.get('owner:1'));
console.log(`\nshared-database workers on PostgreSQL: ${RUNS} runs × ${STEPS} no-op steps, synchronous_commit on, medians of ${ROUNDS}`);
console.log('workers  steps/s (tasks in the owner)  vs 1 worker  steps/s (tasks through the queue)  vs owner');
for (const c of counts) {
  const o = median(results.get(`owner:${c}`));
  const q = median(results.get(`queue:${c}`));
  console.log(`${String(c).padStart(7)}  ${String(Math.round(o)).padStart(28)}  ${(o / base).toFixed(2).padStart(10)}×  ${String(Math.round(q)).padStart(32)}  ${(q / o).toFixed(2).padStart(7)}×`);
}
