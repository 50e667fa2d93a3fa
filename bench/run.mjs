#!/usr/bin/env node
/**
 * The interpreter benchmark (`npm run bench`, which builds first). For each program in
 * bench/programs it runs three whole processes and times them with a wall clock:
 *
 *   larkflow  node dist/bundle/larkflow.mjs eval bench/programs/NAME.star (the bundled CLI users run)
 *   CPython   python3 bench/programs/NAME.py   (or NAME.star when there is no NAME.py)
 *   JS        node bench/programs/NAME.js
 *
 * Runs are interleaved (every program and implementation once per round, implementation order
 * rotated each round) and the table reports medians. Every run's stdout must equal the CPython
 * output; any mismatch or failure is reported and makes the exit status non-zero, but the other
 * programs still run. See bench/README.md.
 *
 * Options: --runs N (default 5), --only NAME[,NAME...] (repeatable), --timeout SECONDS per process
 * (default 300), --help. Environment: PYTHON (default python3), LARKFLOW_CLI (default dist/bundle/larkflow.mjs).
 *
 * Then it runs the workflow engine benchmark, bench/engine.mjs (in a process of its own, with the
 * same --runs), and fails if that does. --no-engine skips it; --engine-only runs nothing else (but
 * the blob benchmark). Last comes the blob store benchmark, bench/blobs.mjs (S3 against s3rver vs
 * the local store, put/get throughput; its own process, same --runs), then the remote-task overhead
 * benchmark, bench/remote.mjs (no-op tasks on the process, subprocess and k8s executors, the last on
 * the fake Kubernetes API), then the PostgreSQL benchmark, bench/postgres.mjs (fenced appends and
 * task-queue claims against raw baselines on a server it starts; skipped with the reason when
 * PostgreSQL is not installed) and bench/scale-out.mjs (steps/s of 1, 2 and 4 shared-database
 * workers); --no-blobs skips these three.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PROGRAM_DIR = 'bench/programs';
const CLI = process.env.LARKFLOW_CLI ?? 'dist/bundle/larkflow.mjs';
const PYTHON = process.env.PYTHON ?? 'python3';
let python = PYTHON; // the resolved executable (see main)

const PROGRAMS = ['int_loop', 'float_math', 'strings', 'lists', 'dicts', 'calls_kwargs', 'sort_comprehension', 'json'];

// ---------------------------------------------------------------------------------------------
// Arguments

function usage() {
  return [
    'usage: node bench/run.mjs [--runs N] [--only NAME[,NAME...]] [--timeout SECONDS] [--no-engine | --engine-only] [--no-blobs]',
    `programs: ${PROGRAMS.join(', ')}`,
  ].join('\n');
}

function parseArgs(argv) {
  const opts = { runs: 5, only: [], timeoutMs: 300_000, engine: true, interpreter: true, blobs: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) fatal(`${flag} needs a value\n${usage()}`);
      return v;
    };
    switch (flag) {
      case '--runs': {
        opts.runs = Number(value());
        if (!Number.isInteger(opts.runs) || opts.runs < 1) fatal('--runs must be a positive integer');
        break;
      }
      case '--only':
        opts.only.push(...value().split(',').map((s) => s.trim()).filter(Boolean));
        break;
      case '--timeout': {
        const s = Number(value());
        if (!(s > 0)) fatal('--timeout must be a positive number of seconds');
        opts.timeoutMs = s * 1000;
        break;
      }
      case '--no-engine':
        opts.engine = false;
        break;
      case '--engine-only':
        opts.interpreter = false;
        break;
      case '--no-blobs':
        opts.blobs = false;
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
  for (const name of opts.only) {
    if (!PROGRAMS.includes(name)) fatal(`unknown program ${name}\n${usage()}`);
  }
  if (!opts.engine && !opts.interpreter && !opts.blobs) fatal('--no-engine, --engine-only and --no-blobs leave nothing to run');
  return opts;
}

function fatal(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Running processes

/** Runs a command to completion; returns { ms, stdout, error } where error is a one-line string or null. */
function timeProcess(cmd, args, timeoutMs) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - t0;
  let error = null;
  if (r.error) {
    error = r.error.code === 'ETIMEDOUT' ? `timed out after ${timeoutMs / 1000}s` : String(r.error.message ?? r.error);
  } else if (r.status !== 0) {
    error = `exit ${r.status ?? r.signal}: ${summarize(r.stderr)}`;
  }
  return { ms, stdout: r.stdout ?? '', error };
}

/** The most informative line of an error output: the first non-empty line. */
function summarize(stderr) {
  const lines = String(stderr ?? '').split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  if (lines.length === 0) return '(no stderr)';
  // Python tracebacks put the message last.
  const line = lines[0].startsWith('Traceback') ? lines[lines.length - 1] : lines[0];
  return line.length > 200 ? line.slice(0, 197) + '...' : line;
}

function implementations(name) {
  const py = existsSync(join(ROOT, PROGRAM_DIR, `${name}.py`)) ? `${name}.py` : `${name}.star`;
  return [
    { key: 'lark', label: 'larkflow', cmd: process.execPath, args: [CLI, 'eval', `${PROGRAM_DIR}/${name}.star`] },
    { key: 'py', label: 'CPython', cmd: python, args: [`${PROGRAM_DIR}/${py}`] },
    { key: 'js', label: 'JS', cmd: process.execPath, args: [`${PROGRAM_DIR}/${name}.js`] },
  ];
}

// ---------------------------------------------------------------------------------------------
// Statistics and formatting

function median(xs) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function geomean(xs) {
  if (xs.length === 0) return NaN;
  return Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
}

const fmtMs = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const fmtRatio = (x) => (Number.isFinite(x) ? x.toFixed(2) + 'x' : '-');

/** Formats rows ({ cells, notes }) as a table; each row's notes are printed on lines under it. */
function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('-|-')];
  for (const r of rows) {
    out.push(line(r.cells));
    for (const n of r.notes) out.push(`    ^ ${n}`);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.interpreter) interpreterBench(opts);
  if (opts.engine) engineBench(opts);
  if (opts.blobs) blobsBench(opts);
  if (opts.blobs) remoteBench(opts);
  if (opts.blobs) postgresBench(opts);
  if (opts.blobs) scaleOutBench(opts);
}

/** Steps/s of 1, 2 and 4 shared-database workers on one PostgreSQL (bench/scale-out.mjs). */
function scaleOutBench(opts) {
  console.log();
  const r = spawnSync(process.execPath, ['bench/scale-out.mjs', '--runs', String(opts.runs)], { cwd: ROOT, stdio: 'inherit' });
  if (r.error || r.status !== 0) {
    console.log(`bench: scale-out benchmark ${r.error ? `could not run (${r.error.message})` : `FAILED (exit ${r.status ?? r.signal})`}`);
    process.exitCode = 1;
  }
}

/** The PostgreSQL benchmark (bench/postgres.mjs: fenced appends and task claims vs raw baselines; at least 3 rounds). */
function postgresBench(opts) {
  console.log();
  const r = spawnSync(process.execPath, ['bench/postgres.mjs', '--runs', String(Math.max(3, opts.runs))], { cwd: ROOT, stdio: 'inherit' });
  if (r.error || r.status !== 0) {
    console.log(`bench: postgres benchmark ${r.error ? `could not run (${r.error.message})` : `FAILED (exit ${r.status ?? r.signal})`}`);
    process.exitCode = 1;
  }
}

/** The remote-task overhead benchmark (bench/remote.mjs: no-op tasks on the process, subprocess and k8s executors). */
function remoteBench(opts) {
  console.log();
  const r = spawnSync(process.execPath, ['bench/remote.mjs', '--runs', String(opts.runs)], { cwd: ROOT, stdio: 'inherit' });
  if (r.error || r.status !== 0) {
    console.log(`bench: remote task benchmark ${r.error ? `could not run (${r.error.message})` : `FAILED (exit ${r.status ?? r.signal})`}`);
    process.exitCode = 1;
  }
}

/** The blob store benchmark (bench/blobs.mjs: S3 via s3rver vs the local store), in a process of its own. */
function blobsBench(opts) {
  if (opts.interpreter || opts.engine) console.log();
  const r = spawnSync(process.execPath, ['bench/blobs.mjs', '--runs', String(opts.runs)], { cwd: ROOT, stdio: 'inherit' });
  if (r.error || r.status !== 0) {
    console.log(`bench: blob store benchmark ${r.error ? `could not run (${r.error.message})` : `FAILED (exit ${r.status ?? r.signal})`}`);
    process.exitCode = 1;
  }
}

/** The workflow engine benchmark (bench/engine.mjs), in a process of its own, its output shown as it comes. */
function engineBench(opts) {
  if (opts.interpreter) console.log();
  const r = spawnSync(process.execPath, ['bench/engine.mjs', '--runs', String(opts.runs)], { cwd: ROOT, stdio: 'inherit' });
  if (r.error || r.status !== 0) {
    console.log(`bench: engine benchmark ${r.error ? `could not run (${r.error.message})` : `FAILED (exit ${r.status ?? r.signal})`}`);
    process.exitCode = 1;
  }
}

function interpreterBench(opts) {
  const names = opts.only.length ? PROGRAMS.filter((n) => opts.only.includes(n)) : PROGRAMS;
  const cliMissing = !existsSync(resolve(ROOT, CLI));
  if (cliMissing) console.error(`bench: ${CLI} not found; run \`npm run build\` (larkflow columns will show an error)`);

  // Resolve the real interpreter binary: `python3` may be a wrapper script (pyenv shims are bash
  // scripts costing tens of milliseconds per start), which should not be charged to CPython.
  const probe = spawnSync(PYTHON, ['-c', 'import sys, platform; print(sys.executable); print(platform.python_implementation(), platform.python_version())'], { encoding: 'utf8' });
  const [pyExe, pyVersion] = probe.error || probe.status !== 0 ? [] : probe.stdout.trim().split('\n');
  if (!pyExe || !pyVersion) fatal(`cannot run ${PYTHON}; set PYTHON=/path/to/python3`);
  python = pyExe;
  console.log(`node ${process.version}, ${pyVersion} (${pyExe}), ${opts.runs} run(s) per measurement, medians of wall time (ms) per whole process`);

  // state[name][key] = { times: [], outputs: Set, error: string|null }
  const state = {};
  for (const name of names) {
    state[name] = {};
    for (const impl of implementations(name)) {
      state[name][impl.key] = { times: [], outputs: new Set(), error: impl.key === 'lark' && cliMissing ? `${CLI} not found (npm run build)` : null };
    }
  }
  const cold = { lark: { times: [], error: cliMissing ? `${CLI} not found` : null, outputs: new Set() }, node: { times: [], error: null, outputs: new Set() } };

  for (let run = 0; run < opts.runs; run++) {
    process.stderr.write(`bench: round ${run + 1}/${opts.runs}:`);
    for (const name of names) {
      process.stderr.write(` ${name}`);
      const impls = implementations(name);
      // Rotate the order each round so no implementation always runs right after another.
      for (let k = 0; k < impls.length; k++) {
        const impl = impls[(k + run) % impls.length];
        const st = state[name][impl.key];
        if (st.error) continue; // a failed implementation is not retried
        const r = timeProcess(impl.cmd, impl.args, opts.timeoutMs);
        if (r.error) {
          st.error = r.error;
          continue;
        }
        st.times.push(r.ms);
        st.outputs.add(r.stdout);
      }
    }
    // Cold start: a trivial script through the CLI, against a bare node process.
    const coldImpls = [
      ['lark', process.execPath, [CLI, 'eval', `${PROGRAM_DIR}/hello.star`]],
      ['node', process.execPath, ['-e', '']],
    ];
    for (let k = 0; k < coldImpls.length; k++) {
      const [key, cmd, args] = coldImpls[(k + run) % coldImpls.length];
      if (cold[key].error) continue;
      const r = timeProcess(cmd, args, opts.timeoutMs);
      if (r.error) cold[key].error = r.error;
      else {
        cold[key].times.push(r.ms);
        cold[key].outputs.add(r.stdout);
      }
    }
    process.stderr.write('\n');
  }

  // Check outputs: every implementation must print exactly what CPython printed, every time.
  let failed = false;
  const rows = [];
  const notes = []; // problems not tied to a table row
  const larkPy = [];
  const larkJs = [];
  for (const name of names) {
    const s = state[name];
    // The reference output is CPython's, or JS's if CPython failed.
    const refKey = s.py.error ? (s.js.error ? null : 'js') : 'py';
    const ref = refKey === null ? null : [...s[refKey].outputs][0];
    const status = {};
    const rowNotes = [];
    for (const key of ['lark', 'py', 'js']) {
      const st = s[key];
      const label = { lark: 'larkflow', py: 'CPython', js: 'JS' }[key];
      if (st.error) {
        status[key] = 'ERROR';
        rowNotes.push(`${label}: ${st.error}`);
        failed = true;
      } else if (st.outputs.size > 1) {
        status[key] = 'NONDETERMINISTIC';
        rowNotes.push(`${label}: output differed between runs: ${[...st.outputs].map((o) => JSON.stringify(o.trim())).join(' vs ')}`);
        failed = true;
      } else if (ref !== null && key !== refKey && [...st.outputs][0] !== ref) {
        status[key] = 'MISMATCH';
        const refLabel = refKey === 'py' ? 'CPython' : 'JS';
        rowNotes.push(`${label}: printed ${JSON.stringify([...st.outputs][0].trim())}, ${refLabel} printed ${JSON.stringify(ref.trim())}`);
        failed = true;
      } else {
        status[key] = 'ok';
      }
    }
    const t = { lark: median(s.lark.times), py: median(s.py.times), js: median(s.js.times) };
    const cell = (key) => (status[key] === 'ok' ? fmtMs(t[key]) : status[key]);
    const ok = (key) => status[key] === 'ok';
    const rPy = ok('lark') && ok('py') ? t.lark / t.py : NaN;
    const rJs = ok('lark') && ok('js') ? t.lark / t.js : NaN;
    if (Number.isFinite(rPy)) larkPy.push(rPy);
    if (Number.isFinite(rJs)) larkJs.push(rJs);
    const checksum = ref === null ? '-' : ref.trim().split('\n').pop();
    rows.push({ cells: [name, cell('lark'), cell('py'), cell('js'), fmtRatio(rPy), fmtRatio(rJs), checksum], notes: rowNotes });
  }

  console.log();
  console.log(table(['program', 'larkflow ms', 'CPython ms', 'JS ms', 'larkflow/CPython', 'larkflow/JS', 'checksum'], rows));
  const partial = (arr) => (arr.length === names.length ? '' : ` (over ${arr.length} of ${names.length} programs)`);
  console.log();
  console.log(`geometric mean larkflow/CPython: ${fmtRatio(geomean(larkPy))}${partial(larkPy)}`);
  console.log(`geometric mean larkflow/JS:      ${fmtRatio(geomean(larkJs))}${partial(larkJs)}`);

  let coldLine;
  if (cold.lark.error) {
    coldLine = `cold start: larkflow eval hello.star ERROR (${cold.lark.error}); node -e '' ${fmtMs(median(cold.node.times))} ms`;
    failed = true;
  } else {
    const outs = [...cold.lark.outputs];
    if (outs.length !== 1 || outs[0] !== 'hello\n') {
      notes.push(`  hello / larkflow: printed ${outs.map((o) => JSON.stringify(o)).join(' vs ')}, expected "hello\\n"`);
      failed = true;
    }
    const l = median(cold.lark.times);
    const n = median(cold.node.times);
    coldLine = `cold start: larkflow eval hello.star ${fmtMs(l)} ms vs node -e '' ${fmtMs(n)} ms (+${fmtMs(l - n)} ms, ${fmtRatio(l / n)})`;
  }
  console.log(coldLine);

  if (notes.length) {
    console.log();
    console.log('problems:');
    for (const n of notes) console.log(n);
  }
  if (failed) {
    console.log();
    console.log('bench: FAILED (errors or output mismatches above)');
    process.exitCode = 1;
  }
}

main();
