// Cancellation latency of scripts whose every step is an expensive builtin or operator: how long after
// its time limit a script stops, with an AbortSignal (AbortSignal.timeout, execFileAsync: the event
// loop must turn for the timer to fire) and with a thread deadline (Thread({ deadline }), checked at
// every charge of work, also in a synchronous execFile). Also reports how long one such operation
// takes, and how far the default allocation budget lets a runaway script go before its clean error
// (in a child process, so an out-of-memory crash would show as such).
//
//   npm run build && node bench/budget.mjs            # 3 rounds, median
//   node bench/budget.mjs --runs 5 --limit 1000      # more rounds; time limit in ms (default 1000)
//   node bench/budget.mjs --no-memory                 # skip the allocation run (it takes a while)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    limit: { type: 'string', default: '1000' },
    'no-memory': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  console.log('usage: node bench/budget.mjs [--runs N] [--limit MS] [--no-memory]');
  process.exit(0);
}
const RUNS = Number(opts.runs);
const LIMIT = Number(opts.limit);
const dist = new URL('../dist/index.js', import.meta.url);
const { Thread, execFile, execFileAsync, evalExpr, json } = await import(dist.href);

// Each case: `setup` builds the big operands once; `op` is one expensive operation on them; the
// measured script runs `op` in a loop until it is stopped.
const CASES = [
  { name: 'str.replace on 8 MB', setup: '', op: 'len(("ab" * (1 << 22)).replace("a", "b"))' },
  { name: 'sorted, 1M shuffled ints', setup: 'big = [(i * 7919) % 1000003 for i in range(1000000)]', op: 'len(sorted(big))' },
  { name: 'json.encode, 200k dicts', setup: 'big = [{"a": i, "b": [i, str(i)]} for i in range(200000)]', op: 'len(json.encode(big))' },
  { name: '"%s" % big, 1M ints', setup: 'big = list(range(1000000))', op: 'len("%s" % big)' },
  { name: 'big == big, 4M ints', setup: 'a = list(range(4000000))\nb = list(range(4000000))', op: 'a == b' },
  // An operator is not incremental: one on a huge value holds the thread for its whole duration, so
  // it delays an AbortSignal by that much (a deadline is still checked inside it).
  { name: 'big == big, 16M ints', setup: 'a = list(range(16000000))\nb = list(range(16000000))', op: 'a == b' },
  { name: 'str(big), 1M ints', setup: 'big = list(range(1000000))', op: 'len(str(big))' },
  { name: '",".join, 2M strings', setup: 'big = [str(i) for i in range(2000000)]', op: 'len(",".join(big))' },
];

const predeclared = new Map([['json', json]]);
const script = (c) => `${c.setup}\ndef f():\n    n = 0\n    for _ in range(1000000):\n        n += 1 if ${c.op} else 0\n    return n\nr = f()\n`;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Milliseconds one operation takes (median of 3, after the setup). */
function opTime(c) {
  const th = new Thread();
  const globals = execFile(th, c.setup + '\n', predeclared);
  const pre = new Map([...predeclared, ...globals]);
  const times = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    evalExpr(new Thread(), c.op, pre);
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** How long after `LIMIT` ms (from the start) the script stops, cancelled by AbortSignal.timeout. */
async function signalLatency(c) {
  const t0 = performance.now();
  const err = await execFileAsync(new Thread({ signal: AbortSignal.timeout(LIMIT) }), script(c), predeclared).then(
    () => new Error('finished'),
    (e) => e,
  );
  const late = performance.now() - (t0 + LIMIT);
  if (err.kind !== 'cancelled') throw new Error(`${c.name}: expected a cancellation, got ${err.message}`);
  return late;
}

/** How long after its deadline a synchronous run stops. */
function deadlineLatency(c) {
  const t0 = performance.now();
  let err;
  try {
    execFile(new Thread({ deadline: t0 + LIMIT }), script(c), predeclared);
  } catch (e) {
    err = e;
  }
  const late = performance.now() - (t0 + LIMIT);
  if (err?.kind !== 'budget' || !/time limit exceeded/.test(err.message)) throw new Error(`${c.name}: expected a time limit error, got ${err?.message}`);
  return late;
}

function pad(s, n, right = false) {
  s = String(s);
  return right ? s.padStart(n) : s.padEnd(n);
}

console.log(`Cancellation latency: time from the limit (${LIMIT} ms after the start) to the error; median of ${RUNS} runs.`);
console.log(`${pad('script (loop of one operation)', 30)} | ${pad('one op ms', 9, true)} | ${pad('signal late ms', 14, true)} | ${pad('deadline late ms', 16, true)}`);
console.log(`${'-'.repeat(30)}-|-${'-'.repeat(9)}-|-${'-'.repeat(14)}-|-${'-'.repeat(16)}`);
for (const c of CASES) {
  const one = opTime(c);
  const sig = [];
  const dl = [];
  for (let r = 0; r < RUNS; r++) {
    sig.push(await signalLatency(c));
    dl.push(deadlineLatency(c));
  }
  console.log(`${pad(c.name, 30)} | ${pad(one.toFixed(0), 9, true)} | ${pad(median(sig).toFixed(0), 14, true)} | ${pad(median(dl).toFixed(0), 16, true)}`);
}

if (!opts['no-memory']) {
  // The runaway script of issue 9: a thousand lists of a million elements (8 GB) with the default
  // budget, in a child process with the default heap.
  const child = `
    import { Thread, execFile } from ${JSON.stringify(dist.href)};
    import v8 from 'node:v8';
    let built = 0;
    const counter = new (await import(${JSON.stringify(dist.href)})).Builtin('built', () => { built++; return null; });
    const t0 = performance.now();
    try {
      execFile(new Thread(), 'r = [[0] * 1000000 for _ in range(1000) if built() == None]\\n', new Map([['built', counter]]));
      console.log(JSON.stringify({ ok: true }));
    } catch (e) {
      const h = v8.getHeapStatistics();
      console.log(JSON.stringify({ kind: e.kind, message: e.message, built, ms: performance.now() - t0, limit: h.heap_size_limit }));
    }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) });
  console.log('');
  if (r.status !== 0) {
    console.log(`allocation run: the child died (status ${r.status}, signal ${r.signal}): ${r.stderr.split('\n').slice(-5).join(' ')}`);
  } else {
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    const mb = (n) => `${Math.round(n / 2 ** 20)} MB`;
    console.log(`allocation run ([[0] * 1000000 for _ in range(1000)], default budget, heap limit ${mb(out.limit)}):`);
    // built() runs before each list is made: the last one counted is the one that failed.
    const complete = out.built - 1;
    console.log(`  ${out.ok ? 'finished (unexpected)' : `${out.kind} error after ${complete} of 1000 lists (${mb(complete * 8e6)} of list elements) in ${(out.ms / 1000).toFixed(1)} s`}`);
    if (!out.ok) console.log(`  ${out.message}`);
  }
}
