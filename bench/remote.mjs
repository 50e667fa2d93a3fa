#!/usr/bin/env node
/**
 * The remote-task overhead benchmark: a no-op task through the engine on each executor, measured in
 * this one process (the machine is shared and noisy: medians, and ratios to the baseline measured in
 * the same run). `node bench/remote.mjs [--runs N]` after `npm run build`; `npm run bench` runs it last.
 *
 *   process     the baseline: a local process task (`command = [python3, noop_proc.py]`), the
 *               engine's own process executor (no job, no storage round trip)
 *   python      the local Python executor (a task with `function = "noop:noop"`): a supervised
 *               process group per attempt, input and result through storage, the Python runner
 *   subprocess  the same through `executor = "subprocess"`
 *   k8s         a Kubernetes Job per attempt on the fake API server (tests/fakes/kubernetes.mjs,
 *               which runs the container as a local process), status polled
 *   ray         a Ray job per attempt on the fake Ray Jobs API (tests/fakes/ray.mjs)
 *   livy        a Spark batch per attempt on the fake Livy server (tests/fakes/livy.mjs)
 *   kuberay     a RayJob (a fresh RayCluster) per attempt on the fake API server
 *   spark       a SparkApplication per attempt on the fake API server
 * Every backend runs the Python runner (`python3 -m larkflow_runner`) with the same no-op task.
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
import { KubeRayAdapter } from '../dist/engine/executors/kuberay/index.js';
import { LivyAdapter, DEFAULT_RUNNER_FILE } from '../dist/engine/executors/livy/index.js';
import { RayJobsAdapter } from '../dist/engine/executors/ray/index.js';
import { SparkOperatorAdapter, DEFAULT_MAIN_APPLICATION_FILE } from '../dist/engine/executors/spark-operator/index.js';
import { SubprocessAdapter } from '../dist/engine/executors/subprocess/index.js';
import { FsAttemptIO } from '../dist/engine/remote/attempt-io.js';
import { FakeKubernetes } from '../tests/fakes/kubernetes.mjs';
import { FakeLivy } from '../tests/fakes/livy.mjs';
import { FakeRay } from '../tests/fakes/ray.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const RUNS = Math.max(1, Number(opts.runs));
const IMAGE = 'bench:1';

const dir = mkdtempSync(join(tmpdir(), 'lf-bench-remote-'));
const RUNNERS = join(ROOT, 'runners/python');
writeFileSync(join(dir, 'noop.py'), 'def noop(i):\n    return i\n');
writeFileSync(join(dir, 'noop_proc.py'), 'import json, os\nv = json.load(open(os.environ["LARKFLOW_INPUT"]))["args"][0]\njson.dump(v, open(os.environ["LARKFLOW_OUTPUT"], "w"))\n');
const pyEnv = { PYTHONPATH: `${dir}:${RUNNERS}`, PATH: process.env.PATH ?? '' };

const fake = new FakeKubernetes({
  images: { [IMAGE]: { cwd: dir, env: pyEnv, files: { [DEFAULT_MAIN_APPLICATION_FILE]: join(RUNNERS, 'larkflow_entry.py'), [DEFAULT_MAIN_APPLICATION_FILE.replace(/^local:\/\//, '')]: join(RUNNERS, 'larkflow_entry.py') } } },
  conditionLagMs: 0,
  clusterStartMs: 0,
});
await fake.start();
const ray = new FakeRay({ cwd: dir, env: pyEnv, startDelayMs: 0 });
await ray.start();
const livy = new FakeLivy({ cwd: dir, env: pyEnv, files: { [DEFAULT_RUNNER_FILE]: join(RUNNERS, 'larkflow_entry.py') } });
await livy.start();

const io = new FsAttemptIO(join(dir, 'io'));
const poll = { pollIntervalMs: 10, maxPollIntervalMs: 50 };
function executors() {
  const kc = new KubeConfig();
  kc.loadFromOptions(fake.kubeConfigOptions('default'));
  const common = { storage: io, defaults: { image: IMAGE }, ...poll };
  return [
    new RemoteExecutor({ name: 'k8s', adapter: new KubernetesAdapter({ kubeConfig: kc }), ...common }),
    new RemoteExecutor({ name: 'subprocess', adapter: new SubprocessAdapter({ stateDir: join(dir, 'sub'), cwd: dir, inheritEnv: ['HOME', 'PATH'] }), ...common, extraEnv: () => pyEnv }),
    new RemoteExecutor({ name: 'ray', adapter: new RayJobsAdapter({ address: ray.url }), ...common }),
    new RemoteExecutor({ name: 'livy', adapter: new LivyAdapter({ url: livy.url }), ...common }),
    new RemoteExecutor({ name: 'kuberay', adapter: new KubeRayAdapter({ kubeConfig: kc, ttlSecondsAfterFinished: 0 }), ...common, cleanup: true }),
    new RemoteExecutor({ name: 'spark', adapter: new SparkOperatorAdapter({ kubeConfig: kc }), ...common, cleanup: true }),
  ];
}

function source(executor, n) {
  const config = { ray: ', config = RayTask(entrypoint_num_cpus = 1)', kuberay: ', config = RayTask(worker_instances = 1)', livy: ', config = SparkTask()', spark: ', config = SparkTask()' }[executor] ?? '';
  const decl =
    executor === 'process'
      ? `noop = task("noop", command = ["python3", ${JSON.stringify(join(dir, 'noop_proc.py'))}], retries = 0)`
      : executor === 'python'
        ? 'noop = task("noop", function = "noop:noop", retries = 0)'
        : `noop = task("noop", executor = "${executor}", function = "noop:noop"${config}, retries = 0)`;
  return `${decl}\n\n@workflow()\ndef main():\n    fs = [run(noop, i) for i in range(${n})]\n    return [f.result() for f in fs]\n`;
}

let dbSeq = 0;
async function once(executor, n) {
  const engine = Engine.open({ db: join(dir, `b${dbSeq++}.db`), workDir: join(dir, 'attempts'), executors: executors(), concurrency: 32 });
  // The local Python executor imports the task module from the workflow's directory.
  const codeDir = dir;
  try {
    const t0 = performance.now();
    const h = engine.start({ source: { name: 'b.star', text: source(executor, n) }, codeDir });
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
for (const ex of ['process', 'python', 'subprocess', 'k8s', 'ray', 'livy', 'kuberay', 'spark']) {
  await once(ex, 1); // warm-up
  const lat = [];
  for (let i = 0; i < RUNS * 5; i++) lat.push(await once(ex, 1));
  const thr = [];
  for (let i = 0; i < RUNS; i++) thr.push(20 / ((await once(ex, 20)) / 1000));
  rows.push({ ex, latency: median(lat), throughput: median(thr) });
}
await fake.close();
await ray.close();
await livy.close();
rmSync(dir, { recursive: true, force: true });

const base = rows[0];
console.log('remote task overhead (a no-op Python task through the engine, against the fakes; medians)');
console.log('executor     latency ms  vs process   20 parallel tasks/s  vs process');
for (const r of rows) {
  console.log(`${r.ex.padEnd(12)} ${r.latency.toFixed(1).padStart(10)}  ${(r.latency / base.latency).toFixed(2).padStart(9)}×  ${r.throughput.toFixed(1).padStart(19)}  ${(r.throughput / base.throughput).toFixed(2).padStart(9)}×`);
}
