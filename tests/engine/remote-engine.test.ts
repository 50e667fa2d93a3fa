/**
 * Remote tasks through the engine: a workflow whose tasks run as Kubernetes Jobs on the fake
 * kube-apiserver (real processes running the real Python and Node runners), task I/O through a
 * storage directory, results verified, the job recorded in history (AttemptSubmitted), re-attached
 * after an engine crash without a second Job, retries as new Jobs, lost Jobs retried, and resource
 * configs checked when the workflow loads.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine, type HistoryEvent } from '../../src/engine/index.js';
import { RemoteExecutor } from '../../src/engine/attempts/remote-executor.js';
import { KubernetesAdapter } from '../../src/engine/executors/kubernetes/index.js';
import { FsAttemptIO, S3AttemptIO, type AttemptIO } from '../../src/engine/remote/attempt-io.js';
import { packWorkflowDir } from '../../src/engine/remote/file-sync.js';
import { S3rver, S3RVER_CREDENTIALS } from '../helpers/s3rver.js';
import { FakeKubernetes } from '../fakes/kubernetes.mjs';

const IMAGE = 'larkflow-test:1';
const ROOT = resolve(import.meta.dirname, '../..');

let dir: string;
let fake: FakeKubernetes;
const engines: Engine[] = [];

/** A directory with a `larkflow` command (the built CLI), as an image with larkflow installed has. */
function shimDir(): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const shim = join(bin, 'larkflow');
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'dist/bundle/larkflow.mjs')}" "$@"\n`);
  chmodSync(shim, 0o755);
  return bin;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lf-remote-'));
  const code = join(dir, 'code');
  mkdirSync(code);
  writeFileSync(join(code, 'mltasks.py'), 'import os\ndef double(x):\n    print("doubling", x)\n    return 2 * x\n\ndef boom(x):\n    raise ValueError("bad input %r" % (x,))\n\ndef flaky(marker):\n    if not os.path.exists(marker):\n        open(marker, "w").write("1")\n        raise RuntimeError("first try fails")\n    return "ok"\n\ndef slow(path, ms):\n    import time\n    time.sleep(ms / 1000)\n    with open(path, "a") as f:\n        f.write("ran\\n")\n    return ms\n');
  writeFileSync(join(code, 'tasks.mjs'), 'export function triple(x) { return 3 * x; }\nexport async function big() { return 2n ** 70n; }\n');
  fake = new FakeKubernetes({ images: { [IMAGE]: { cwd: code, env: { PATH: `${shimDir()}:${process.env.PATH ?? ''}`, PYTHONPATH: join(ROOT, 'runners/python') } } }, conditionLagMs: 5 });
  await fake.start();
});

afterEach(async () => {
  for (const e of engines.splice(0)) await e.close().catch(() => undefined);
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

function k8sExecutor(storage: AttemptIO = new FsAttemptIO(join(dir, 'io')), bundle?: { url: string; sha256: string }): RemoteExecutor {
  const kc = new KubeConfig();
  kc.loadFromOptions(fake.kubeConfigOptions('default'));
  return new RemoteExecutor({
    name: 'k8s',
    adapter: new KubernetesAdapter({ kubeConfig: kc, callTimeoutMs: 2000, retries: { attempts: 4, baseMs: 10, maxMs: 50 } }),
    storage,
    defaults: { image: IMAGE },
    ...(bundle ? { bundle } : {}),
    pollIntervalMs: 20,
    maxPollIntervalMs: 100,
    unreachableLimitMs: 5000,
  });
}

function open(executor: RemoteExecutor = k8sExecutor()): Engine {
  const e = Engine.open({ db: join(dir, 'runs.db'), workDir: join(dir, 'attempts'), executors: [executor] });
  engines.push(e);
  return e;
}

const kinds = (h: readonly HistoryEvent[], kind: string): HistoryEvent[] => h.filter((e) => e.kind === kind);

describe('remote tasks on Kubernetes through the engine', () => {
  it('runs Python and Node tasks as Jobs and records each Job', async () => {
    const engine = open();
    const src = `
double = task("double", executor = "k8s", function = "mltasks:double", config = KubernetesTask(cpu = "500m", memory = "256Mi"))
triple = task("triple", executor = "k8s", function = "tasks.mjs#triple", config = KubernetesTask(runner = "node"))
big = task("big", executor = "k8s", function = "tasks.mjs#big", config = KubernetesTask(runner = "node"))

@workflow()
def main(n):
    return [double(n), triple(n), big()]
`;
    const h = engine.start({ source: { name: 'wf.star', text: src }, args: [21] });
    const r = await h.result;
    expect(r.error).toBeUndefined();
    expect(r.status).toBe('completed');
    expect(r.result).toEqual([42, 63, 2n ** 70n]);
    const history = engine.history(h.runId);
    const submitted = kinds(history, 'AttemptSubmitted');
    expect(submitted).toHaveLength(3);
    for (const s of submitted) expect(s).toMatchObject({ executor: 'k8s', backendId: expect.stringMatching(/^default\//) });
    // One Job per attempt, with the resources the workflow asked for.
    expect(Object.values(fake.jobsCreated())).toEqual([1, 1, 1]);
    const doubleJob = fake.job('default', (submitted[0] as { submissionId: string }).submissionId)!;
    const container = (doubleJob.spec as { template: { spec: { containers: { resources: unknown }[] } } }).template.spec.containers[0]!;
    expect(container.resources).toMatchObject({ requests: { cpu: '500m', memory: '256Mi' } });
    expect(engine.state(h.runId).steps['double#1']!.resources).toMatchObject({ cpu: '500m', memory: '256Mi' });
  });

  it("a task's exception is its error, with the Python traceback; retries are new Jobs", async () => {
    const engine = open();
    const marker = join(dir, 'marker');
    const src = `
boom = task("boom", executor = "k8s", function = "mltasks:boom", retries = 0)
flaky = task("flaky", executor = "k8s", function = "mltasks:flaky", retry = RetryPolicy(max_attempts = 2, initial_interval = "10ms"))

@workflow()
def main():
    ok = flaky(${JSON.stringify(marker)})
    return boom(ok)
`;
    const h = engine.start({ source: { name: 'wf.star', text: src } });
    const r = await h.result;
    expect(r.status).toBe('failed');
    expect(r.error?.message).toContain('ValueError: bad input');
    const st = engine.state(h.runId);
    expect(st.steps['flaky#1']!.attempts).toHaveLength(2);
    expect(st.steps['flaky#1']!.attempts[0]!.error?.message).toContain('RuntimeError: first try fails');
    expect(st.steps['boom#1']!.error?.details).toContain('Traceback');
    const subs = kinds(engine.history(h.runId), 'AttemptSubmitted') as { submissionId: string; stepId: string }[];
    const flakyJobs = subs.filter((s) => s.stepId === 'flaky#1').map((s) => s.submissionId);
    expect(new Set(flakyJobs).size).toBe(2);
    expect(flakyJobs[1]).toMatch(/-a2$/);
  });

  it('re-attaches to the running Job after the engine dies: no second Job, the run completes', async () => {
    const path = join(dir, 'ran.txt');
    const src = `
slow = task("slow", executor = "k8s", function = "mltasks:slow")

@workflow()
def main():
    return slow(${JSON.stringify(path)}, 600)
`;
    const first = open();
    const h = first.start({ source: { name: 'wf.star', text: src } });
    // Wait until the Job is recorded, then die as a crash would.
    for (let i = 0; i < 200 && kinds(first.history(h.runId), 'AttemptSubmitted').length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(kinds(first.history(h.runId), 'AttemptSubmitted')).toHaveLength(1);
    first.abandon();
    const second = open();
    second.recover();
    const r = await second.result(h.runId);
    expect(r.status).toBe('completed');
    expect(r.result).toBe(600);
    expect(Object.values(fake.jobsCreated())).toEqual([1]);
    expect(fake.journal.filter((e) => e.method === 'POST')).toHaveLength(1);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(path, 'utf8')).toBe('ran\n');
  });

  it('a Job that disappears is LOST and the attempt is retried as a new Job', async () => {
    const engine = open();
    const path = join(dir, 'ran.txt');
    const src = `
slow = task("slow", executor = "k8s", function = "mltasks:slow", retry = RetryPolicy(max_attempts = 2, initial_interval = "10ms"))

@workflow()
def main():
    return slow(${JSON.stringify(path)}, 400)
`;
    const h = engine.start({ source: { name: 'wf.star', text: src } });
    let sub: { submissionId: string } | undefined;
    for (let i = 0; i < 200 && !sub; i++) {
      sub = kinds(engine.history(h.runId), 'AttemptSubmitted')[0] as { submissionId: string } | undefined;
      if (!sub) await new Promise((r) => setTimeout(r, 10));
    }
    expect(fake.forget('default', sub!.submissionId)).toBe(true);
    const r = await h.result;
    expect(r.status).toBe('completed');
    const attempts = engine.state(h.runId).steps['slow#1']!.attempts;
    expect(attempts).toHaveLength(2);
    expect(attempts[0]!.error).toMatchObject({ kind: 'lost', retryable: true });
  });

  it('cancelling the run deletes the running Job', async () => {
    const engine = open();
    const src = `
slow = task("slow", executor = "k8s", function = "mltasks:slow")

@workflow()
def main():
    return slow(${JSON.stringify(join(dir, 'x'))}, 5000)
`;
    const h = engine.start({ source: { name: 'wf.star', text: src } });
    for (let i = 0; i < 200 && kinds(engine.history(h.runId), 'AttemptSubmitted').length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    engine.cancel(h.runId);
    const r = await h.result;
    expect(r.status).toBe('cancelled');
    await new Promise((r) => setTimeout(r, 200));
    const del = fake.journal.filter((e) => e.method === 'DELETE');
    expect(del.length).toBeGreaterThan(0);
    expect(del[0]!.query.propagationPolicy).toBe('Background');
    expect(fake.processes().filter((p) => !p.exited)).toHaveLength(0);
  });
});

describe('remote tasks with S3 storage and code bundles', () => {
  it('moves input and result through presigned S3 URLs (the job has no credentials)', async () => {
    const server = await S3rver.start({ directory: join(dir, 's3rver'), bucket: 'tasks' });
    try {
      const io = new S3AttemptIO({ url: 's3://tasks/prod', endpoint: server.endpoint, credentials: S3RVER_CREDENTIALS });
      const engine = open(k8sExecutor(io));
      const src = 'double = task("double", executor = "k8s", function = "mltasks:double")\n\n@workflow()\ndef main(n):\n    return double(n)\n';
      const h = engine.start({ source: { name: 'wf.star', text: src }, args: [2n ** 60n] });
      const r = await h.result;
      expect(r.error).toBeUndefined();
      expect(r.result).toBe(2n ** 61n);
      // The Job saw URLs, never credentials or arguments.
      const sub = kinds(engine.history(h.runId), 'AttemptSubmitted')[0] as { submissionId: string };
      const job = fake.job('default', sub.submissionId)!;
      const envs = (job.spec as { template: { spec: { containers: { env: { name: string; value: string }[]; command: string[] }[] } } }).template.spec.containers[0]!;
      const byName = Object.fromEntries(envs.env.map((e) => [e.name, e.value]));
      expect(byName.LARKFLOW_INPUT_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/tasks\/prod\/attempts\/.*X-Amz-Signature=/);
      expect(byName.LARKFLOW_RESULT_URL).toMatch(/X-Amz-Signature=/);
      // No credentials: no AWS_* variables; only the presigned URLs name the access key id (by design).
      expect(Object.keys(byName).filter((k) => k.startsWith('AWS_'))).toEqual([]);
      expect(Object.entries(byName).filter(([k, v]) => !k.endsWith('_URL') && v.includes('S3RVER'))).toEqual([]);
      expect(envs.command.join(' ')).not.toContain(String(2n ** 60n));
    } finally {
      await server.stop();
    }
  });

  it('the code bundle is part of the cache key: a code change is a miss, the same code a hit', async () => {
    const io = new FsAttemptIO(join(dir, 'io'));
    const src = 'double = task("double", executor = "k8s", function = "mltasks:double", cache = True)\n\n@workflow()\ndef main(n):\n    return double(n)\n';
    const runWith = async (bundleDir: string): Promise<HistoryEvent[]> => {
      const packed = await packWorkflowDir(bundleDir, { useGit: false });
      const bundle = { sha256: packed.sha256, url: await io.putBundle(packed.sha256, packed.bytes) };
      const engine = open(k8sExecutor(io, bundle));
      const h = engine.start({ source: { name: 'wf.star', text: src }, args: [5], remote: { executor: 'k8s', bundle } });
      const r = await h.result;
      expect(r.status).toBe('completed');
      const history = engine.history(h.runId);
      await engine.close();
      return history;
    };
    const v1 = join(dir, 'v1');
    mkdirSync(v1);
    writeFileSync(join(v1, 'mltasks.py'), 'def double(x):\n    return 2 * x\n');
    const v2 = join(dir, 'v2');
    mkdirSync(v2);
    writeFileSync(join(v2, 'mltasks.py'), 'def double(x):\n    return 2 * x + 1000\n');
    const a = await runWith(v1);
    expect(a.at(-1)).toMatchObject({ kind: 'RunCompleted', result: 10 });
    const b = await runWith(v1);
    expect(b.find((e) => e.kind === 'TaskCompleted')).toMatchObject({ source: 'cache' });
    const c = await runWith(v2);
    expect(c.find((e) => e.kind === 'TaskCompleted')).toMatchObject({ source: 'executed' });
    expect(c.at(-1)).toMatchObject({ kind: 'RunCompleted', result: 1010 });
  });
});

describe('KubernetesTask(...) is checked when the workflow loads', () => {
  const cases: [string, RegExp][] = [
    ['KubernetesTask(memory = "16GB")', /memory.*16GB/],
    ['KubernetesTask(cpu = -1)', /cpu/],
    ['KubernetesTask(gpu = -1)', /gpu must be between 0 and 64/],
    ['KubernetesTask(cpus = 4)', /cpus/],
    ['KubernetesTask(runner = "ruby")', /runner must be one of/],
    ['KubernetesTask(env = {"LARKFLOW_INPUT_URL": "x"})', /reserved/],
    ['"4 cores"', /config must be a KubernetesTask/],
  ];
  for (const [config, message] of cases) {
    it(`refuses ${config} with the file:line`, () => {
      const engine = open();
      const src = `\n\nt = task("t", executor = "k8s", config = ${config})\n\n@workflow()\ndef main():\n    return t()\n`;
      let err: unknown;
      try {
        engine.start({ source: { name: 'wf.star', text: src } });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(Error);
      const text = (err as { backtrace?: () => string }).backtrace?.() ?? String(err);
      expect(text).toMatch(message);
      expect(text).toMatch(/wf\.star:3/);
      // Nothing was submitted.
      expect(fake.journal.filter((e) => e.method === 'POST')).toHaveLength(0);
    });
  }
});
