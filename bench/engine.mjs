#!/usr/bin/env node
/**
 * The workflow engine benchmark (run by `npm run bench` after the interpreter benchmark, or alone as
 * `node bench/engine.mjs` after `npm run build`). Everything is measured in ONE process, interleaved
 * round by round, and the table reports medians, so that the ratios are comparable on a noisy
 * machine:
 *
 *   raw        better-sqlite3 alone: WAL, synchronous=NORMAL, one INSERT per transaction into a
 *              table shaped like larkflow's `events`, with bodies as long as a real run's events
 *   seq 100    one run of `for i in range(n): x = noop(i)` with n = 100 (per-step cost)
 *   seq 10000  the same with n = 10,000 (steps/s for one run, and per-step cost)
 *   10 runs    10 such runs started at once, n = 1,000 each (total steps/s)
 *   replay     engine.replay(runId) of the 10,000-step run (events/s)
 *   cache      the same loop over a `cache=True` no-op task, n = 1,000, run twice on a fresh engine
 *              (and cache): the first run executes every step and stores its result, the second
 *              is served entirely from the cache; per-step cost of each, and their ratio
 *
 *   CLI        `larkflow run` (the bundled CLI, dist/bundle/larkflow.mjs, a process of its own) of the
 *              same loop with n = 5,000 (tasks from `--tasks FILE` exporting the no-op), stdout and
 *              stderr pipes read by this process: with the default progress lines, with `--quiet`
 *              and with `--log-format json`; against the same run on the engine in a process of its
 *              own (this file with --child-run: the CLI's work without the CLI) and on the warm engine
 *              in this process, same round. Steps/s of the run (from its RunStarted to its
 *              RunCompleted in the history), and CPU per step less a 1-step run's (the start-up)
 *
 * Targets (issue 3, "Benchmarks"): seq 10000 ≥ 15,000 steps/s and ≥ 40% of raw transactions/s;
 * per-step cost at 10,000 steps ≤ 1.5× that at 100; replay ≥ 200,000 events/s. Issue 9: the CLI
 * run, default progress to a pipe and --quiet, ≥ 0.8× the steps/s of the engine in a process of its
 * own (the "vs warm" ratio, printed beside it, adds a fresh process's JIT warm-up). The exit status is 1
 * when a target fails or a run does not complete. See bench/README.md ("Engine").
 *
 * Options: --runs N rounds (default 5), --steps N for the long run (default 10000), --cli-steps N
 * for the CLI runs (default 5000; 0 skips them), --cli-only (only the CLI runs), --json (print the
 * medians as JSON after the tables), --help.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');

const TARGETS = { stepsPerSec: 15_000, rawFraction: 0.4, growth: 1.5, replayEventsPerSec: 200_000, cliFraction: 0.8 };
const CLI = join(DIST, 'bundle', 'larkflow.mjs');
/** The CLI runs: default progress (to a pipe), --quiet, --log-format json. */
const CLI_MODES = [
  { key: 'cliText', label: 'default progress to a pipe', flags: [], target: true },
  { key: 'cliQuiet', label: '--quiet', flags: ['--quiet'], target: true },
  { key: 'cliJson', label: '--log-format json', flags: ['--log-format', 'json'], target: false },
];
const SHORT = 100;
const CONCURRENT_RUNS = 10;
const CONCURRENT_STEPS = 1_000;
const RAW_TXNS = 10_000;
const CACHE_STEPS = 1_000;

const SOURCE = `noop = task("noop")

@workflow()
def w(n):
    x = 0
    for i in range(n):
        x = noop(i)
    return x
`;

/** The same loop over a cacheable task: a second run with the same n is all cache hits. */
const CACHED_SOURCE = SOURCE.replace('task("noop")', 'task("noop", cache = True)');

// ---------------------------------------------------------------------------------------------
// Arguments

function usage() {
  return 'usage: node bench/engine.mjs [--runs N] [--steps N] [--cli-steps N] [--cli-only] [--json]';
}

function fatal(msg) {
  console.error(`bench/engine: ${msg}`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { runs: 5, steps: 10_000, cliSteps: 5_000, cliOnly: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const [flag, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const int = (min) => {
      const v = Number(inline ?? argv[++i]);
      if (!Number.isInteger(v) || v < min) fatal(`${flag} needs an integer ≥ ${min}\n${usage()}`);
      return v;
    };
    switch (flag) {
      case '--runs':
        opts.runs = int(1);
        break;
      case '--steps':
        opts.steps = int(SHORT);
        break;
      case '--cli-steps':
        opts.cliSteps = int(0);
        break;
      case '--cli-only':
        opts.cliOnly = true;
        break;
      case '--json':
        opts.json = true;
        break;
      case '-h':
      case '--help':
        console.log(usage());
        process.exit(0);
        break;
      default:
        fatal(`unknown argument ${arg}\n${usage()}`);
    }
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------
// Measurements

async function load() {
  try {
    await import(pathToFileURL(join(DIST, 'stdlib/index.js')).href);
    const engine = await import(pathToFileURL(join(DIST, 'engine/index.js')).href);
    const { default: Database } = await import('better-sqlite3');
    return { ...engine, Database };
  } catch (err) {
    fatal(`cannot load the build (${err.message}); run \`npm run build\` first`);
  }
}

/** A fresh temporary directory, removed by `cleanup`. */
const dirs = [];
function tempDir() {
  const d = mkdtempSync(join(tmpdir(), 'larkflow-bench-'));
  dirs.push(d);
  return d;
}
function cleanup() {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

function openEngine(lib) {
  const engine = lib.Engine.open({ db: join(tempDir(), 'bench.db') });
  engine.registerTask('noop', (x) => x);
  return engine;
}

/** Runs the workflow (default: the plain no-op loop) with `n` steps; returns { ms, cpuMs, runId }. */
async function sequential(engine, n, text = SOURCE) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const h = engine.start({ source: { name: 'bench.star', text }, args: [n] });
  const r = await h.result;
  const ms = performance.now() - t0;
  const cpuMs = cpuSince(c0);
  if (r.status !== 'completed' || r.result !== n - 1) throw new Error(`run of ${n} steps ended ${r.status}: ${JSON.stringify(r.error ?? r.result)}`);
  return { ms, cpuMs, runId: h.runId };
}

/**
 * The cacheable loop twice on a fresh engine (so a fresh cache.db): the first run executes and
 * caches every step, the second must be served entirely from the cache. Returns both runs' wall and
 * CPU µs per step.
 */
async function cachedPair(lib, n) {
  const engine = openEngine(lib);
  try {
    const executed = await sequential(engine, n, CACHED_SOURCE);
    const cached = await sequential(engine, n, CACHED_SOURCE);
    const sources = engine.history(cached.runId).filter((e) => e.kind === 'TaskCompleted').map((e) => e.source);
    if (sources.length !== n || sources.some((s) => s !== 'cache')) throw new Error(`the second cached run was not all cache hits: ${sources.filter((s) => s !== 'cache').length} of ${n} steps executed`);
    if (engine.history(executed.runId).some((e) => e.kind === 'TaskCompleted' && e.source !== 'executed')) throw new Error('the first cached run had cache hits (the cache was not fresh)');
    const per = (x) => (x * 1000) / n;
    return { executedUs: per(executed.ms), executedCpuUs: per(executed.cpuMs), cachedUs: per(cached.ms), cachedCpuUs: per(cached.cpuMs) };
  } finally {
    await engine.close();
  }
}

/** `k` runs of `n` steps started at once; returns { ms, cpuMs }. */
async function concurrent(engine, k, n) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const hs = [];
  for (let i = 0; i < k; i++) hs.push(engine.start({ source: { name: 'bench.star', text: SOURCE }, args: [n] }));
  const rs = await Promise.all(hs.map((h) => h.result));
  const ms = performance.now() - t0;
  const cpuMs = cpuSince(c0);
  for (const r of rs) if (r.status !== 'completed') throw new Error(`a concurrent run ended ${r.status}: ${JSON.stringify(r.error)}`);
  return { ms, cpuMs };
}

/** The mean JSON length of the events of a no-op run (what the raw baseline inserts). */
function meanBodyLength(engine, runId) {
  const h = engine.history(runId);
  return Math.round(h.reduce((a, e) => a + JSON.stringify(e).length, 0) / h.length);
}

/** better-sqlite3 alone: `txns` transactions of one INSERT each; returns { tps, cpuUs } (CPU µs per transaction). */
function raw(lib, bodyLength, txns) {
  const db = new lib.Database(join(tempDir(), 'raw.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec('CREATE TABLE events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (run_id, seq))');
    const insert = db.prepare('INSERT INTO events (run_id, seq, kind, at, body) VALUES (?, ?, ?, ?, ?)');
    const tx = db.transaction((seq, body) => insert.run('run-0123456789ab', seq, 'TaskCompleted', 1_700_000_000_000, body));
    const pad = 'x'.repeat(bodyLength);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 1; i <= txns; i++) tx.immediate(i, pad);
    const ms = performance.now() - t0;
    return { tps: (txns / ms) * 1000, cpuUs: (cpuSince(c0) * 1000) / txns };
  } finally {
    db.close();
  }
}

/** CPU time (user + system, all threads) since `c0`, in ms. */
function cpuSince(c0) {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

/** The files of the CLI runs: the workflow and a tasks module exporting the no-op. */
function cliFiles() {
  const dir = tempDir();
  writeFileSync(join(dir, 'bench.star'), SOURCE);
  writeFileSync(join(dir, 'tasks.mjs'), 'export function noop(x) { return x; }\n');
  return dir;
}

/**
 * CPU time (user + system) of this process's ended children, in ms, or NaN where unknown: Linux's
 * /proc/self/stat fields cutime and cstime (clock ticks, 100 per second).
 */
function childrenCpuMs() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return NaN;
  }
}

/**
 * One process of its own running `n` steps: `larkflow run bench.star n=N` (the bundled CLI, `flags`
 * added) or, with `flags` null, the same run on the engine in process (this file with --child-run:
 * what the CLI does, without the CLI). stdout and stderr are pipes read here. Returns { wallMs,
 * cpuMs, runMs, errBytes }: the whole process (wall and CPU), and the run itself (RunStarted to
 * RunCompleted in its history, read afterwards).
 */
async function processRun(lib, dir, n, flags) {
  const db = join(dir, `cli-${Math.random().toString(36).slice(2)}.db`);
  const argv =
    flags === null
      ? [fileURLToPath(import.meta.url), '--child-run', String(n), dir, db]
      : [CLI, 'run', join(dir, 'bench.star'), `n=${n}`, '--tasks', join(dir, 'tasks.mjs'), '--db', db, ...flags];
  const c0 = childrenCpuMs();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, argv, { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 30 });
  const wallMs = performance.now() - t0;
  const cpuMs = childrenCpuMs() - c0;
  const what = flags === null ? 'the in-process child' : `larkflow run ${flags.join(' ')}`;
  if (r.status !== 0 || JSON.parse(r.stdout) !== n - 1) throw new Error(`${what} of ${n} steps exited ${r.status}: ${r.stderr.slice(-500)}`);
  const engine = lib.Engine.open({ db });
  try {
    const [run] = engine.runs({ limit: 1 });
    const h = engine.history(run.runId);
    return { wallMs, cpuMs, runMs: h[h.length - 1].at - h[0].at, errBytes: r.stderr.length };
  } finally {
    await engine.close();
  }
}

/** --child-run N DIR DB: the run `larkflow run` makes, on the engine in this process (as the CLI opens it). */
async function childRun(n, dir, db) {
  const lib = await load();
  const engine = lib.Engine.open({ db, synchronous: 'NORMAL', workDir: join(dir, 'attempts') });
  const tasks = await import(pathToFileURL(join(dir, 'tasks.mjs')).href);
  engine.registerTasks({ ...tasks }, { version: 'bench' });
  const r = await engine.start({ file: join(dir, 'bench.star'), kwargs: { n } }).result;
  await engine.close();
  process.stdout.write(JSON.stringify(r.result ?? null) + '\n');
  process.exitCode = r.status === 'completed' ? 0 : 1;
}

/**
 * One round of the CLI measurements: the warm in-process engine on n steps (this process, after the
 * rounds above), then in processes of their own, in an order rotated by round: the engine in
 * process (cold, as the CLI is) and each CLI mode; and 1-step runs of both for their startup.
 * Returns figures by key (steps/s of the run, CPU µs per step less startup, per-round ratios).
 */
async function cliRound(lib, n, round) {
  const out = {};
  const engine = openEngine(lib);
  try {
    const warm = await sequential(engine, n);
    out.cliWarm = (n / warm.ms) * 1000;
    out.cliWarmCpuUs = (warm.cpuMs * 1000) / n;
  } finally {
    await engine.close();
  }
  const dir = cliFiles();
  const startCli = await processRun(lib, dir, 1, []);
  const startChild = await processRun(lib, dir, 1, null);
  out.cliStartupMs = startCli.wallMs;
  const modes = [{ key: 'cliCold', flags: null }, ...CLI_MODES];
  for (let i = 0; i < modes.length; i++) {
    const mode = modes[(i + round) % modes.length];
    const r = await processRun(lib, dir, n, mode.flags);
    out[mode.key] = (n / r.runMs) * 1000;
    out[`${mode.key}CpuUs`] = ((r.cpuMs - (mode.flags === null ? startChild : startCli).cpuMs) * 1000) / n;
    out[`${mode.key}Bytes`] = r.errBytes;
  }
  // Ratios within the round: the runs compared saw the same machine load.
  for (const mode of CLI_MODES) {
    out[`${mode.key}Ratio`] = out[mode.key] / out.cliCold;
    out[`${mode.key}WarmRatio`] = out[mode.key] / out.cliWarm;
    out[`${mode.key}CpuRatio`] = out.cliColdCpuUs / out[`${mode.key}CpuUs`];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Statistics and output

function median(xs) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
const us = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const ratio = (x) => (Number.isFinite(x) ? x.toFixed(2) + 'x' : '-');
const pass = (ok) => (ok ? 'PASS' : 'FAIL');

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  if (process.argv[2] === '--child-run') return childRun(Number(process.argv[3]), process.argv[4], process.argv[5]);
  const opts = parseArgs(process.argv.slice(2));
  const lib = await load();
  const checks = {};
  if (opts.cliOnly && opts.cliSteps === 0) fatal('--cli-only with --cli-steps 0 measures nothing');
  const json = opts.cliOnly ? {} : await engineRounds(lib, opts, checks);
  const cli = opts.cliSteps > 0 ? await cliRounds(lib, opts, checks) : undefined;
  const failed = Object.values(checks).some((ok) => !ok);
  if (opts.json) console.log(JSON.stringify({ ...json, ...(cli ? { cli } : {}), checks }));
  console.log();
  console.log(failed ? 'bench/engine: FAILED (a target above was missed)' : 'bench/engine: all targets met');
  if (failed) process.exitCode = 1;
}

/** The engine measurements (every row but the CLI's): prints their table, fills `checks`, returns the medians. */
async function engineRounds(lib, opts, checks) {
  const LONG = opts.steps;
  console.log(`engine: node ${process.version}, ${opts.runs} round(s), medians; sequential runs of ${SHORT} and ${LONG} no-op steps, ${CONCURRENT_RUNS} concurrent runs of ${CONCURRENT_STEPS}, ${CACHE_STEPS} cache=True steps executed then cached`);

  // Warm up the JIT (and find the event size the raw baseline should insert).
  let bodyLength;
  {
    const engine = openEngine(lib);
    let last;
    for (let i = 0; i < 5; i++) last = await sequential(engine, 400);
    bodyLength = meanBodyLength(engine, last.runId);
    engine.replay(last.runId);
    await engine.close();
    await cachedPair(lib, 400);
    raw(lib, bodyLength, 2_000);
    cleanup();
  }

  // Wall-clock figures (the targets), and CPU time beside them: on a loaded machine the process
  // waits for a CPU, which inflates wall time but not CPU time.
  const m = { raw: [], short: [], long: [], conc: [], replay: [], rawCpu: [], shortCpu: [], longCpu: [], concCpu: [], cacheExec: [], cacheExecCpu: [], cacheHit: [], cacheHitCpu: [] };
  for (let round = 0; round < opts.runs; round++) {
    process.stderr.write(`bench/engine: round ${round + 1}/${opts.runs}\n`);
    const r = raw(lib, bodyLength, RAW_TXNS);
    m.raw.push(r.tps);
    m.rawCpu.push(r.cpuUs);
    const engine = openEngine(lib);
    try {
      // Short runs take a few ms each: the median of several is the round's figure.
      const shorts = [];
      const shortCpus = [];
      for (let i = 0; i < 9; i++) {
        const s = await sequential(engine, SHORT);
        shorts.push(s.ms);
        shortCpus.push(s.cpuMs);
      }
      m.short.push((median(shorts) * 1000) / SHORT);
      m.shortCpu.push((median(shortCpus) * 1000) / SHORT);
      const long = await sequential(engine, LONG);
      m.long.push((long.ms * 1000) / LONG);
      m.longCpu.push((long.cpuMs * 1000) / LONG);
      const t0 = performance.now();
      const report = engine.replay(long.runId);
      const replayMs = performance.now() - t0;
      if (!report.ok) throw new Error(`replay of the ${LONG}-step run failed: ${report.mismatch?.message}`);
      m.replay.push((report.events / replayMs) * 1000);
      const conc = await concurrent(engine, CONCURRENT_RUNS, CONCURRENT_STEPS);
      m.conc.push(((CONCURRENT_RUNS * CONCURRENT_STEPS) / conc.ms) * 1000);
      m.concCpu.push((conc.cpuMs * 1000) / (CONCURRENT_RUNS * CONCURRENT_STEPS));
      const pair = await cachedPair(lib, CACHE_STEPS);
      m.cacheExec.push(pair.executedUs);
      m.cacheExecCpu.push(pair.executedCpuUs);
      m.cacheHit.push(pair.cachedUs);
      m.cacheHitCpu.push(pair.cachedCpuUs);
    } finally {
      await engine.close();
      cleanup();
    }
  }

  const rawTps = median(m.raw);
  const rawUs = 1e6 / rawTps;
  const shortUs = median(m.short);
  const longUs = median(m.long);
  const longSps = 1e6 / longUs;
  const concSps = median(m.conc);
  const replayEps = median(m.replay);
  const growth = longUs / shortUs;
  const cacheExecUs = median(m.cacheExec);
  const cacheHitUs = median(m.cacheHit);

  Object.assign(checks, {
    steps: longSps >= TARGETS.stepsPerSec,
    raw: longSps / rawTps >= TARGETS.rawFraction,
    growth: growth <= TARGETS.growth,
    replay: replayEps >= TARGETS.replayEventsPerSec,
  });
  const cpu = (k) => us(median(m[k]));
  const rows = [
    ['raw better-sqlite3 (1 insert/txn)', `${int(rawTps)} txn/s`, us(rawUs), cpu('rawCpu'), '1.00x', `body ${bodyLength} B`, ''],
    [`seq ${SHORT} steps, one run`, `${int(1e6 / shortUs)} steps/s`, us(shortUs), cpu('shortCpu'), ratio(1e6 / shortUs / rawTps), '', ''],
    [`seq ${LONG} steps, one run`, `${int(longSps)} steps/s`, us(longUs), cpu('longCpu'), ratio(longSps / rawTps), `≥ ${int(TARGETS.stepsPerSec)}/s, ≥ ${TARGETS.rawFraction.toFixed(2)}x raw`, `${pass(checks.steps)} ${pass(checks.raw)}`],
    [`per-step cost ${LONG} / ${SHORT}`, ratio(growth), '', ratio(median(m.longCpu) / median(m.shortCpu)), '', `≤ ${TARGETS.growth.toFixed(2)}x`, pass(checks.growth)],
    [`${CONCURRENT_RUNS} concurrent runs x ${CONCURRENT_STEPS}`, `${int(concSps)} steps/s`, us(1e6 / concSps), cpu('concCpu'), ratio(concSps / rawTps), '', ''],
    [`replay of the ${LONG}-step run`, `${int(replayEps)} events/s`, us(1e6 / replayEps), '', '', `≥ ${int(TARGETS.replayEventsPerSec)}/s`, pass(checks.replay)],
    [`executed no-op step (cache=True, 1st run of ${CACHE_STEPS})`, `${int(1e6 / cacheExecUs)} steps/s`, us(cacheExecUs), cpu('cacheExecCpu'), ratio(1e6 / cacheExecUs / rawTps), '', ''],
    [`cached step (2nd run, all ${CACHE_STEPS} hit)`, `${int(1e6 / cacheHitUs)} steps/s`, us(cacheHitUs), cpu('cacheHitCpu'), ratio(1e6 / cacheHitUs / rawTps), '', ''],
    ['cached / executed step cost', ratio(cacheHitUs / cacheExecUs), '', ratio(median(m.cacheHitCpu) / median(m.cacheExecCpu)), '', '', ''],
  ];
  console.log();
  console.log(table(['measurement', 'median (wall)', 'µs each', 'CPU µs each', 'vs raw', 'target', 'result'], rows));
  return { rawTxnPerSec: rawTps, rawCpuUs: median(m.rawCpu), shortCpuUs: median(m.shortCpu), longCpuUs: median(m.longCpu), concurrentCpuUs: median(m.concCpu), bodyLength, shortStepUs: shortUs, longStepUs: longUs, longStepsPerSec: longSps, growth, concurrentStepsPerSec: concSps, replayEventsPerSec: replayEps, executedCachedStepUs: cacheExecUs, cachedStepUs: cacheHitUs, cachedOverExecuted: cacheHitUs / cacheExecUs, samples: m };
}

/** The CLI measurements (see cliRound): prints their table, fills `checks`, returns the medians. */
async function cliRounds(lib, opts, checks) {
  if (!existsSync(CLI)) fatal(`no bundled CLI at ${CLI}; run \`npm run build\` first (or --cli-steps 0)`);
  const m = {};
  for (const k of ['cliWarm', 'cliWarmCpuUs', 'cliStartupMs', 'cliCold', 'cliColdCpuUs', 'cliColdBytes']) m[k] = [];
  for (const mode of CLI_MODES) for (const suffix of ['', 'CpuUs', 'Bytes', 'Ratio', 'WarmRatio', 'CpuRatio']) m[mode.key + suffix] = [];
  // Warm this process's engine up, so that the "warm" row is what the rows above measure.
  {
    const engine = openEngine(lib);
    for (let i = 0; i < 5; i++) await sequential(engine, 400);
    await engine.close();
  }
  for (let round = 0; round < opts.runs; round++) {
    process.stderr.write(`bench/engine: CLI round ${round + 1}/${opts.runs}\n`);
    try {
      for (const [k, v] of Object.entries(await cliRound(lib, opts.cliSteps, round))) m[k].push(v);
    } finally {
      cleanup();
    }
  }
  {
    const N = opts.cliSteps;
    const cli = { steps: N, startupMs: median(m.cliStartupMs), warm: { stepsPerSec: median(m.cliWarm), cpuUs: median(m.cliWarmCpuUs) }, cold: { stepsPerSec: median(m.cliCold), cpuUs: median(m.cliColdCpuUs) } };
    const cliRows = [
      [`engine in this process (warm JIT)`, `${int(median(m.cliWarm))} steps/s`, '', '', us(median(m.cliWarmCpuUs)), '', '', '', ''],
      [`engine in a process of its own`, `${int(median(m.cliCold))} steps/s`, '1.00x', '', us(median(m.cliColdCpuUs)), '1.00x', `${int(median(m.cliColdBytes))} B`, '', ''],
    ];
    for (const mode of CLI_MODES) {
      const r = median(m[`${mode.key}Ratio`]);
      if (mode.target) checks[mode.key] = r >= TARGETS.cliFraction;
      cli[mode.key] = { stepsPerSec: median(m[mode.key]), ratio: r, warmRatio: median(m[`${mode.key}WarmRatio`]), cpuUs: median(m[`${mode.key}CpuUs`]), cpuRatio: median(m[`${mode.key}CpuRatio`]), stderrBytes: median(m[`${mode.key}Bytes`]) };
      cliRows.push([
        `larkflow run, ${mode.label}`,
        `${int(median(m[mode.key]))} steps/s`,
        ratio(r),
        ratio(median(m[`${mode.key}WarmRatio`])),
        us(median(m[`${mode.key}CpuUs`])),
        ratio(median(m[`${mode.key}CpuRatio`])),
        `${int(median(m[`${mode.key}Bytes`]))} B`,
        mode.target ? `≥ ${TARGETS.cliFraction.toFixed(2)}x` : '',
        mode.target ? pass(checks[mode.key]) : '',
      ]);
    }
    console.log();
    console.log(`CLI: runs of ${int(N)} no-op steps (tasks from --tasks FILE) in processes of their own, stdout and stderr to pipes; steps/s of the run (RunStarted to RunCompleted); CPU µs per step less a 1-step run's (startup ${int(median(m.cliStartupMs))} ms wall); ratios are medians of per-round ratios`);
    console.log(table(['measurement', 'run', 'vs own process', 'vs warm', 'CPU µs/step', 'CPU vs own', 'stderr', 'target', 'result'], cliRows));
    cli.samples = m;
    return cli;
  }
}

main().catch((err) => {
  cleanup();
  console.error(`bench/engine: ${err?.stack ?? err}`);
  process.exit(1);
});
