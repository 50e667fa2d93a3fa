/**
 * Ray and Spark tasks through the engine, on the fake Ray Jobs API and the fake Livy server (each
 * runs the real Python runner as a local process): the task's session is set up (LARKFLOW_SESSION),
 * a failed attempt is retried as a new backend job, and after an engine crash the run re-attaches to
 * its job — exactly one backend job per attempt.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine, RemoteExecutor, type ExecutorAdapter, type HistoryEvent } from '../../src/engine/index.js';
import { LivyAdapter, DEFAULT_RUNNER_FILE } from '../../src/engine/executors/livy/index.js';
import { RayJobsAdapter } from '../../src/engine/executors/ray/index.js';
import { FsAttemptIO } from '../../src/engine/remote/attempt-io.js';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeRayAdapter } from '../../src/engine/executors/kuberay/index.js';
import { SparkOperatorAdapter, DEFAULT_MAIN_APPLICATION_FILE } from '../../src/engine/executors/spark-operator/index.js';
import { FakeKubernetes } from '../fakes/kubernetes.mjs';
import { FakeLivy } from '../fakes/livy.mjs';
import { FakeRay } from '../fakes/ray.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const RUNNERS = join(ROOT, 'runners/python');

let dir: string;
let code: string;
const closers: (() => Promise<unknown>)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lf-compute-'));
  code = join(dir, 'code');
  mkdirSync(code);
  writeFileSync(
    join(code, 'mltrain.py'),
    [
      'import os, time',
      'def train(marker, lr):',
      '    if marker and not os.path.exists(marker):',
      '        open(marker, "w").close()',
      '        raise RuntimeError("cluster hiccup")',
      '    return {"lr": lr, "session": os.environ.get("LARKFLOW_SESSION"), "acc": 0.9}',
      'def slow(log, ms):',
      '    time.sleep(ms / 1000)',
      '    with open(log, "a") as f:',
      '        f.write("ran\\n")',
      '    return ms',
      '',
    ].join('\n'),
  );
});

afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

interface Backend {
  readonly name: 'ray' | 'livy' | 'kuberay' | 'spark';
  readonly config: string;
  adapter(): ExecutorAdapter;
  started(): number[];
  /** For backends with a fresh cluster per attempt: the clusters each job brought up, and those alive now. */
  clusters?(): { created: string[][]; alive: string[] };
}

const IMAGE = 'ml-train:1';

async function fakeKube(): Promise<FakeKubernetes> {
  const fake = new FakeKubernetes({
    images: { [IMAGE]: { cwd: code, env: { PYTHONPATH: RUNNERS }, files: { [DEFAULT_MAIN_APPLICATION_FILE.replace(/^local:\/\//, '')]: join(RUNNERS, 'larkflow_entry.py'), [DEFAULT_MAIN_APPLICATION_FILE]: join(RUNNERS, 'larkflow_entry.py') } } },
    conditionLagMs: 5,
  });
  await fake.start();
  closers.push(() => fake.close());
  return fake;
}

function kubeConfig(fake: FakeKubernetes): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions(fake.kubeConfigOptions('default'));
  return kc;
}

async function kuberay(): Promise<Backend> {
  const fake = await fakeKube();
  return {
    name: 'kuberay',
    config: `RayTask(head_cpu = 1, head_memory = "1Gi", worker_instances = 2)`,
    adapter: () => new KubeRayAdapter({ kubeConfig: kubeConfig(fake), ttlSecondsAfterFinished: 0, retries: { attempts: 3, baseMs: 10, maxMs: 50 } }),
    started: () => Object.values(fake.rayJobsCreated()),
    clusters: () => ({ created: Object.values(fake.clustersCreated()), alive: fake.clustersAlive() }),
  };
}

async function spark(): Promise<Backend> {
  const fake = await fakeKube();
  return {
    name: 'spark',
    config: 'SparkTask(driver_memory = "1Gi", executor_instances = 2)',
    adapter: () => new SparkOperatorAdapter({ kubeConfig: kubeConfig(fake), retries: { attempts: 3, baseMs: 10, maxMs: 50 } }),
    started: () => Object.values(fake.sparkAppsCreated()),
  };
}

async function ray(): Promise<Backend> {
  const fake = new FakeRay({ cwd: code, env: { PYTHONPATH: RUNNERS }, startDelayMs: 20 });
  await fake.start();
  closers.push(() => fake.close());
  return { name: 'ray', config: 'RayTask(entrypoint_num_cpus = 1)', adapter: () => new RayJobsAdapter({ address: fake.url, retries: { attempts: 3, baseMs: 10, maxMs: 50 } }), started: () => Object.values(fake.jobsStarted()) };
}

async function livy(): Promise<Backend> {
  const fake = new FakeLivy({ cwd: code, files: { [DEFAULT_RUNNER_FILE]: join(RUNNERS, 'larkflow_entry.py') } });
  await fake.start();
  closers.push(() => fake.close());
  return { name: 'livy', config: 'SparkTask(driver_memory = "1Gi", executor_instances = 2)', adapter: () => new LivyAdapter({ url: fake.url, retries: { attempts: 3, baseMs: 10, maxMs: 50 } }), started: () => Object.values(fake.batchesStarted()) };
}

function open(b: Backend): Engine {
  const fresh = b.name === 'kuberay' || b.name === 'spark';
  const executor = new RemoteExecutor({ name: b.name, adapter: b.adapter(), storage: new FsAttemptIO(join(dir, 'io')), pollIntervalMs: 20, maxPollIntervalMs: 100, defaults: { image: IMAGE }, ...(fresh ? { cleanup: true } : {}) });
  const e = Engine.open({ db: join(dir, 'runs.db'), workDir: join(dir, 'attempts'), executors: [executor] });
  closers.push(() => e.close());
  return e;
}

const kinds = (h: readonly HistoryEvent[], kind: string): HistoryEvent[] => h.filter((e) => e.kind === kind);

for (const make of [ray, livy, kuberay, spark]) {
  describe(`${make.name} tasks through the engine`, () => {
    it('sets up the session, and retries a failed attempt as a new backend job', async () => {
      const b = await make();
      const engine = open(b);
      const src = `
train = task("train", executor = "${b.name}", function = "mltrain:train", config = ${b.config}, retry = RetryPolicy(max_attempts = 2, initial_interval = "10ms"))

@workflow()
def main():
    return train(${JSON.stringify(join(dir, 'marker'))}, 0.1)
`;
      const h = engine.start({ source: { name: 'wf.star', text: src } });
      const r = await h.result;
      expect(r.error).toBeUndefined();
      expect(r.result).toEqual({ lr: 0.1, session: b.name === 'ray' || b.name === 'kuberay' ? 'ray' : 'spark', acc: 0.9 });
      const st = engine.state(h.runId).steps['train#1']!;
      expect(st.attempts).toHaveLength(2);
      expect(st.attempts[0]!.error?.message).toContain('RuntimeError: cluster hiccup');
      const jobs = (kinds(engine.history(h.runId), 'AttemptSubmitted') as { submissionId: string }[]).map((s) => s.submissionId);
      expect(new Set(jobs).size).toBe(2);
      expect(b.started()).toEqual([1, 1]);
      if (b.clusters) {
        // One fresh cluster per attempt, and none left once the attempts ended.
        for (let i = 0; i < 100 && b.clusters().alive.length > 0; i++) await new Promise((r) => setTimeout(r, 20));
        const c = b.clusters();
        expect(c.created.map((x) => x.length)).toEqual([1, 1]);
        expect(new Set(c.created.flat()).size).toBe(2);
        expect(c.alive).toEqual([]);
      }
    });

    it('re-attaches to its job after an engine crash: one job per attempt', async () => {
      const b = await make();
      const log = join(dir, 'ran.log');
      const src = `
slow = task("slow", executor = "${b.name}", function = "mltrain:slow", config = ${b.config})

@workflow()
def main():
    return slow(${JSON.stringify(log)}, 700)
`;
      const first = open(b);
      const h = first.start({ source: { name: 'wf.star', text: src } });
      for (let i = 0; i < 300 && kinds(first.history(h.runId), 'AttemptSubmitted').length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      first.abandon();
      const second = open(b);
      second.recover();
      const r = await second.result(h.runId);
      expect(r.error).toBeUndefined();
      expect(r.result).toBe(700);
      expect(b.started()).toEqual([1]);
      expect(readFileSync(log, 'utf8')).toBe('ran\n');
    });
  });
}
