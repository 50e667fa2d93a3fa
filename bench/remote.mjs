#!/usr/bin/env node
/**
 * The remote-task overhead benchmark: a no-op task through the engine on each executor, measured in
 * this one process (the machine is shared and noisy: medians, and ratios to the baseline measured in
 * the same run). `node bench/remote.mjs [--runs N]` after `npm run build`; `npm run bench` runs it last.
 *
 *   process     the baseline: a local process task (`command = [node, noop.mjs]`), the engine's own
 *               process executor (no job, no storage round trip)
 *   subprocess  the durable local backend: a supervised process group per attempt, input and result
 *               through the storage directory, the Node runner (`larkflow task-run`)
 *   k8s         a Kubernetes Job per attempt on the fake API server (tests/fakes/kubernetes.mjs,
 *               which runs the container as a local process), the Node runner, status polled
 *
 * For each: latency (submit to result, one task at a time, median of `--runs` × 5) and throughput
 * (20 tasks in parallel, tasks/s, median of `--runs`).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import '../dist/stdlib/index.js';
import { Engine, RemoteExecutor } from '../dist/engine/index.js';
import { KubernetesAdapter } from '../dist/engine/executors/kubernetes/index.js';
import { SubprocessAdapter } from '../dist/engine/executors/subprocess/index.js';
import { FsAttemptIO } from '../dist/engine/remote/attempt-io.js';
import { FakeKubernetes } from '../tests/fakes/kubernetes.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const RUNS = Math.max(1, Number(opts.runs));
const IMAGE = 'bench:1';

const dir = mkdtempSync(join(tmpdir(), 'lf-bench-remote-'));
const bin = join(dir, 'bin');
mkdirSync(bin);
writeFileSync(join(bin, 'larkflow'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'dist/bundle/larkflow.mjs')}" "$@"\n`);
chmodSync(join(bin, 'larkflow'), 0o755);
writeFileSync(join(dir, 'tasks.mjs'), 'export function noop(i) { return i; }\n');
writeFileSync(join(dir, 'noop.mjs'), 'import { readFileSync, writeFileSync } from "node:fs";\nconst input = JSON.parse(readFileSync(process.env.LARKFLOW_INPUT, "utf8"));\nwriteFileSync(process.env.LARKFLOW_OUTPUT, JSON.stringify(input.args[0]));\n');

const fake = new FakeKubernetes({ images: { [IMAGE]: { cwd: dir, env: { PATH: `${bin}:${process.env.PATH ?? ''}` } } }, conditionLagMs: 0 });
await fake.start();

const io = new FsAttemptIO(join(dir, 'io'));
const poll = { pollIntervalMs: 10, maxPollIntervalMs: 50 };
function executors() {
  const kc = new KubeConfig();
  kc.loadFromOptions(fake.kubeConfigOptions('default'));
  return [
    new RemoteExecutor({ name: 'k8s', adapter: new KubernetesAdapter({ kubeConfig: kc }), storage: io, defaults: { image: IMAGE }, ...poll }),
    new RemoteExecutor({ name: 'subprocess', adapter: new SubprocessAdapter({ stateDir: join(dir, 'sub'), cwd: dir, inheritEnv: ['HOME'] }), storage: io, defaults: {}, ...poll, runners: { node: [join(bin, 'larkflow'), 'task-run'] } }),
  ];
}

function source(executor, n) {
  const decl =
    executor === 'process'
      ? `noop = task("noop", command = [${JSON.stringify(process.execPath)}, ${JSON.stringify(join(dir, 'noop.mjs'))}], retries = 0)`
      : `noop = task("noop", executor = "${executor}", function = "tasks.mjs#noop", config = KubernetesTask(runner = "node"), retries = 0)`;
  return `${decl}\n\n@workflow()\ndef main():\n    fs = [run(noop, i) for i in range(${n})]\n    return [f.result() for f in fs]\n`;
}

let dbSeq = 0;
async function once(executor, n) {
  const engine = Engine.open({ db: join(dir, `b${dbSeq++}.db`), workDir: join(dir, 'attempts'), executors: executors(), concurrency: 32 });
  try {
    const t0 = performance.now();
    const h = engine.start({ source: { name: 'b.star', text: source(executor, n) } });
    const r = await h.result;
    const ms = performance.now() - t0;
    if (r.status !== 'completed') throw new Error(`${executor}: ${r.status} ${JSON.stringify(r.error)}`);
    return ms;
  } finally {
    await engine.close();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const rows = [];
for (const ex of ['process', 'subprocess', 'k8s']) {
  await once(ex, 1); // warm-up
  const lat = [];
  for (let i = 0; i < RUNS * 5; i++) lat.push(await once(ex, 1));
  const thr = [];
  for (let i = 0; i < RUNS; i++) thr.push(20 / ((await once(ex, 20)) / 1000));
  rows.push({ ex, latency: median(lat), throughput: median(thr) });
}
await fake.close();
rmSync(dir, { recursive: true, force: true });

const base = rows[0];
console.log('remote task overhead (no-op task through the engine; medians)');
console.log('executor     latency ms  vs process   20 parallel tasks/s  vs process');
for (const r of rows) {
  console.log(`${r.ex.padEnd(12)} ${r.latency.toFixed(1).padStart(10)}  ${(r.latency / base.latency).toFixed(2).padStart(9)}×  ${r.throughput.toFixed(1).padStart(19)}  ${(r.throughput / base.throughput).toFixed(2).padStart(9)}×`);
}
