/**
 * The SparkApplication adapter, driven through @kubernetes/client-node 1.4.0 against the fake
 * kube-apiserver (tests/fakes/kubernetes.mjs), whose spark operator runs the driver as a real
 * `python3 <mainApplicationFile>` process (executors are pod objects without processes). Covers
 * the fault matrix of the executor notes §8 for SparkApplications, and the manifest.
 *
 * The image's runner entry script is a tiny Python file here (see `ENTRY_PY`): it runs the node
 * program JSON-encoded in LARKFLOW_TEST_ARGV, which `spec(js)` sets.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AdapterError, submissionIdOf, type AttemptRef, type LaunchSpec, type Phase } from '../../src/engine/executors/contract.js';
import {
  SparkOperatorAdapter,
  buildSparkApplicationManifest,
  sparkApplicationStatusReport,
  type SparkOperatorAdapterOptions,
} from '../../src/engine/executors/spark-operator/index.js';
import { FakeKubernetes } from '../fakes/kubernetes.mjs';

const IMAGE = 'larkflow/spark:3.5.1';
const NS = 'default';
const ENTRY = '/opt/larkflow/runners/python/larkflow_entry.py';
const ENTRY_PY = 'import json, os\nargv = json.loads(os.environ["LARKFLOW_TEST_ARGV"])\nos.execvp(argv[0], argv)\n';
const LONG = 'setTimeout(() => {}, 20000)';

let dir: string;
let fake: FakeKubernetes;
let adapters: SparkOperatorAdapter[] = [];
let seq = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'larkflow-spark-adapter-'));
  writeFileSync(join(dir, 'entry.py'), ENTRY_PY);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(async () => {
  fake = new FakeKubernetes({ images: { [IMAGE]: { env: { IMAGE_MARK: 'from-image' }, files: { [ENTRY]: join(dir, 'entry.py') } } }, conditionLagMs: 10 });
  await fake.start();
  adapters = [];
});

afterEach(async () => {
  for (const a of adapters) a.close();
  await fake.close();
});

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions(fake.kubeConfigOptions(NS));
  return kc;
}

function adapter(opts: Partial<SparkOperatorAdapterOptions> = {}): SparkOperatorAdapter {
  const a = new SparkOperatorAdapter({ kubeConfig: kubeConfig(), callTimeoutMs: 1000, retries: { attempts: 4, baseMs: 10, maxMs: 40 }, pollIntervalMs: 20, ...opts });
  adapters.push(a);
  return a;
}

function ref(attempt = 1): AttemptRef {
  seq++;
  return { runId: `run-${process.pid}-${seq}`, stepId: `step-${seq}`, attempt };
}

function spec(js: string, over: Partial<LaunchSpec> = {}): LaunchSpec {
  return {
    task: 'spark-task',
    command: ['python3', '-m', 'larkflow_runner'],
    env: { GREETING: 'hello', LARKFLOW_TEST_ARGV: JSON.stringify([process.execPath, '-e', js]) },
    resources: { image: IMAGE, spark: { driverMemory: '512Mi', executorInstances: 2 } },
    ...over,
  };
}

async function until<T>(what: string, f: () => T | Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

async function rejection(p: Promise<unknown>): Promise<AdapterError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(AdapterError);
    return e as AdapterError;
  }
  throw new Error('expected a rejection');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function driverPid(name: string): Promise<number> {
  const p = await until('the driver process', () => fake.processes().find((x) => x.job === name), (x) => x !== undefined);
  return p?.pid ?? -1;
}

type Obj = Record<string, unknown>;
const get = (o: unknown, ...path: (string | number)[]): unknown => path.reduce<unknown>((v, k) => (v === null || typeof v !== 'object' ? undefined : (v as Obj)[k]), o);

describe('SparkOperatorAdapter against the fake kube-apiserver', () => {
  it('runs a task to SUCCEEDED through PENDING and RUNNING, with its env on the driver, executors as pods', async () => {
    fake.setTiming({ startDelayMs: 250 });
    const a = adapter();
    const r = ref();
    const h = await a.submit(
      spec('console.log(process.env.GREETING, process.env.LARKFLOW_SESSION, process.env.LARKFLOW_SPARK_APP_NAME, process.env.IMAGE_MARK); setTimeout(() => {}, 300)'),
      r,
    );
    const name = submissionIdOf(r, 'spark-task', 40);
    expect(h).toMatchObject({ executor: 'spark', submissionId: name, backendId: `${NS}/${name}` });
    expect(h.backendUid).toBe(fake.sparkApplication(NS, name)?.metadata.uid);
    const phases: Phase[] = [];
    const waiting = a.wait(h, { timeoutMs: 5000, pollIntervalMs: 15, onStatus: (x) => phases.push(x.phase) });
    await until('RUNNING', () => phases.includes('RUNNING'), (x) => x);
    expect(fake.podsWith(NS, `sparkoperator.k8s.io/app-name=${name},spark-role=executor`)).toHaveLength(2);
    const s = await waiting;
    expect(s).toMatchObject({ phase: 'SUCCEEDED', rawState: 'COMPLETED', exitCode: 0 });
    expect(phases.filter((p, i) => p !== phases[i - 1])).toEqual(['PENDING', 'RUNNING', 'SUCCEEDED']);
    expect((await a.logs(h)).text).toBe(`hello spark ${name} from-image\n`);
    expect(fake.journal.some((e) => e.path === `/api/v1/namespaces/${NS}/pods/${name}-driver/log` && e.query['container'] === 'spark-kubernetes-driver')).toBe(true);
    expect(fake.sparkAppsCreated()).toEqual({ [`${NS}/${name}`]: 1 });
    // executors wound down with the application
    expect(fake.podsWith(NS, `sparkoperator.k8s.io/app-name=${name},spark-role=executor`)).toEqual([]);
  });

  it('reports a failing driver as FAILED with the exit code; SUCCEEDING/FAILING are not terminal', async () => {
    fake.setTiming({ conditionLagMs: 400 });
    const a = adapter();
    const h = await a.submit(spec('console.error("boom"); process.exit(3)'), ref());
    await until('FAILING', () => fake.sparkApplication(NS, h.submissionId), (x) => get(x?.status, 'applicationState', 'state') === 'FAILING');
    expect(await a.status(h)).toMatchObject({ phase: 'RUNNING', rawState: 'FAILING' });
    const s = await a.wait(h, { timeoutMs: 5000 });
    expect(s).toMatchObject({ phase: 'FAILED', rawState: 'FAILED', reason: 'FAILED', exitCode: 3, message: 'driver container failed with ExitCode: 3, Reason: Error' });
    expect((await a.logs(h)).text).toContain('boom');
  });

  it('maps application states', () => {
    const st = (applicationState: Obj | undefined) => sparkApplicationStatusReport({ status: applicationState === undefined ? {} : { applicationState } });
    expect(st(undefined)).toMatchObject({ phase: 'PENDING', rawState: 'New' });
    for (const s of ['SUBMITTED', 'PENDING_RERUN', 'INVALIDATING', 'UNKNOWN', '']) expect(st({ state: s }).phase).toBe('PENDING');
    for (const s of ['RUNNING', 'SUCCEEDING', 'FAILING']) expect(st({ state: s }).phase).toBe('RUNNING');
    expect(st({ state: 'COMPLETED' }).phase).toBe('SUCCEEDED');
    expect(st({ state: 'SUBMISSION_FAILED', errorMessage: 'no' })).toMatchObject({ phase: 'FAILED', reason: 'SUBMISSION_FAILED', message: 'no' });
  });

  it('builds the SparkApplication: Spark sizes, restartPolicy Never, cores, GPUs, env, conf, no arguments', () => {
    const r = ref();
    const task = 'an-extremely-long-spark-task-name-for-testing';
    const m = buildSparkApplicationManifest(
      {
        task,
        command: ['python3', '-m', 'larkflow_runner'],
        env: { LARKFLOW_INPUT_URL: 'file:///tmp/in.json', SHARED: 'spec' },
        resources: {
          image: IMAGE,
          env: { SHARED: 'resources', EXTRA: 'x' },
          serviceAccount: 'spark',
          spark: { driverCpu: '1500m', driverMemory: '4Gi', driverGpu: 1, executorCpu: '2', executorMemory: '512Mi', executorGpu: 2, executorInstances: 4, conf: { 'spark.sql.shuffle.partitions': '64' } },
        },
        timeoutMs: 60_000,
      },
      r,
      { namespace: 'etl', timeToLiveSeconds: 600, now: Date.parse('2026-12-01T00:00:00Z') },
    );
    expect(m.metadata.name.length).toBeLessThanOrEqual(40);
    expect(m.metadata.name).toBe(submissionIdOf(r, task, 40));
    expect(m.metadata.namespace).toBe('etl');
    expect(m.metadata.annotations['larkflow.dev/deadline']).toBe('2026-12-01T00:01:00.000Z');
    expect(m.spec).toMatchObject({
      type: 'Python',
      mode: 'cluster',
      sparkVersion: '3.5.1',
      image: IMAGE,
      mainApplicationFile: 'local:///opt/larkflow/runners/python/larkflow_entry.py',
      arguments: [],
      restartPolicy: { type: 'Never' },
      timeToLiveSeconds: 600,
      sparkConf: { 'spark.sql.shuffle.partitions': '64' },
      driver: { cores: 2, coreLimit: '1500m', memory: '4g', gpu: { name: 'nvidia.com/gpu', quantity: 1 }, serviceAccount: 'spark' },
      executor: { cores: 2, coreLimit: '2', memory: '512m', instances: 4, gpu: { name: 'nvidia.com/gpu', quantity: 2 } },
    });
    const env = get(m.spec, 'driver', 'env');
    expect(env).toEqual([
      { name: 'SHARED', value: 'spec' },
      { name: 'EXTRA', value: 'x' },
      { name: 'LARKFLOW_INPUT_URL', value: 'file:///tmp/in.json' },
      { name: 'LARKFLOW_SESSION', value: 'spark' },
      { name: 'LARKFLOW_SPARK_APP_NAME', value: m.metadata.name },
    ]);
    expect(get(m.spec, 'executor', 'env')).toEqual(env);
    expect(get(m.spec, 'driver', 'labels')).toMatchObject({ 'larkflow.dev/attempt': '1' });
    // the task's sizes are the driver's when SparkTask names none; defaults: 1 core, 1 executor
    const d = buildSparkApplicationManifest(spec('0', { resources: { image: IMAGE, memory: '2Gi', cpu: '500m' } }), r, { namespace: NS });
    expect(d.spec).toMatchObject({ driver: { cores: 1, coreLimit: '500m', memory: '2g' }, executor: { cores: 1, instances: 1 } });
    expect(get(d.spec, 'executor', 'memory')).toBeUndefined();
    expect(() => buildSparkApplicationManifest(spec('0', { resources: { image: IMAGE, spark: { driverMemory: '4g' } } }), r, { namespace: NS })).toThrow(AdapterError);
    expect(() => buildSparkApplicationManifest(spec('0', { resources: { image: IMAGE, spark: { executorInstances: 0 } } }), r, { namespace: NS })).toThrow(AdapterError);
  });

  it('Kubernetes sizes would fail spark-submit: the fake answers "4Gi" with SUBMISSION_FAILED, which the adapter reads as FAILED', async () => {
    const r = ref();
    const m = buildSparkApplicationManifest(spec('0'), r, { namespace: NS });
    const custom = kubeConfig().makeApiClient(CustomObjectsApi);
    const body = { ...m, spec: { ...m.spec, driver: { ...(m.spec['driver'] as Obj), memory: '4Gi' } } };
    await custom.createNamespacedCustomObject({ group: 'sparkoperator.k8s.io', version: 'v1beta2', namespace: NS, plural: 'sparkapplications', body });
    const h = await adapter().lookup(r, { task: 'spark-task' });
    expect(h).not.toBeNull();
    const s = await adapter().wait(h!, { timeoutMs: 5000 });
    expect(s).toMatchObject({ phase: 'FAILED', reason: 'SUBMISSION_FAILED' });
    expect(s.message).toContain('4Gi');
    // what the adapter submits passes
    const ok = await adapter().submit(spec('0', { resources: { image: IMAGE, spark: { driverMemory: '4Gi', executorMemory: '1Gi' } } }), ref());
    expect(get(fake.sparkApplication(NS, ok.submissionId)?.spec, 'driver', 'memory')).toBe('4g');
    expect((await adapter().wait(ok, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
  });

  it('adopts on a second submit (409) and after a 500 that came after the create; retries 5xx before it: one application each', async () => {
    const r = ref();
    const h1 = await adapter().submit(spec(LONG), r);
    const h2 = await adapter().submit(spec(LONG), r);
    expect(h2).toEqual(h1);
    fake.failNext(1, 503, { method: 'POST', retryAfterSeconds: 0 });
    fake.failAfterCreate(1);
    const h3 = await adapter().submit(spec('0'), ref());
    expect(fake.journal.filter((e) => e.path.includes('/sparkapplications')).map((e) => `${e.method} ${e.status}`)).toEqual(['POST 201', 'POST 409', 'GET 200', 'POST 503', 'POST 500', 'POST 409', 'GET 200']);
    expect(fake.sparkAppsCreated()).toEqual({ [`${NS}/${h1.submissionId}`]: 1, [`${NS}/${h3.submissionId}`]: 1 });
    expect(h3.backendUid).toBe(fake.sparkApplication(NS, h3.submissionId)?.metadata.uid);
  });

  it('refuses to adopt an application of another attempt that holds the name', async () => {
    const r = ref();
    const other = buildSparkApplicationManifest(spec('0'), { ...r, attempt: 9 }, { namespace: NS });
    const custom = kubeConfig().makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      group: 'sparkoperator.k8s.io',
      version: 'v1beta2',
      namespace: NS,
      plural: 'sparkapplications',
      body: { ...other, metadata: { ...other.metadata, name: submissionIdOf(r, 'spark-task', 40) } },
    });
    expect((await rejection(adapter().submit(spec('0'), r))).category).toBe('conflict');
  });

  it('keeps an application whose image cannot be pulled PENDING (SUBMITTED)', async () => {
    const a = adapter();
    const h = await a.submit(spec('0', { resources: { image: 'no/such:image' } }), ref());
    await until('SUBMITTED', () => a.status(h), (s) => s.rawState === 'SUBMITTED');
    await new Promise((r) => setTimeout(r, 150));
    expect(await a.status(h)).toMatchObject({ phase: 'PENDING', rawState: 'SUBMITTED' });
    expect((await a.logs(h)).text).toBe('');
  });

  it('reports an application that disappears as LOST, its driver process gone', async () => {
    const a = adapter();
    const h = await a.submit(spec(LONG), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    const pid = await driverPid(h.submissionId);
    expect(fake.forgetSparkApplication(NS, h.submissionId)).toBe(true);
    expect(await a.status(h)).toMatchObject({ phase: 'LOST', reason: 'NotFound' });
    await until('the process to end', () => alive(pid), (x) => !x);
    expect(fake.podsWith(NS, `sparkoperator.k8s.io/app-name=${h.submissionId}`)).toEqual([]);
    expect(await a.cancel(h)).toBe('not-found');
  });

  it('cancels with propagationPolicy=Background: driver and executors go; idempotent', async () => {
    const a = adapter();
    const h = await a.submit(spec(LONG), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    const pid = await driverPid(h.submissionId);
    expect(fake.podsWith(NS, `sparkoperator.k8s.io/app-name=${h.submissionId}`)).toHaveLength(3);
    expect(await a.cancel(h)).toBe('requested');
    const del = fake.journal.filter((e) => e.method === 'DELETE');
    expect(del).toHaveLength(1);
    expect(del[0]?.path).toBe(`/apis/sparkoperator.k8s.io/v1beta2/namespaces/${NS}/sparkapplications/${h.submissionId}`);
    expect(del[0]?.query).toMatchObject({ propagationPolicy: 'Background' });
    expect(await a.status(h)).toMatchObject({ phase: 'CANCELLED' });
    expect(fake.podsWith(NS, `sparkoperator.k8s.io/app-name=${h.submissionId}`)).toEqual([]);
    await until('the process to end', () => alive(pid), (x) => !x);
    expect(await a.cancel(h)).toBe('already-terminal');
    expect(fake.journal.filter((e) => e.method === 'DELETE')).toHaveLength(1);
  });

  it('cancel racing completion reports what really happened', async () => {
    const a = adapter();
    const h = await a.submit(spec('setTimeout(() => {}, 150)'), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    fake.delayNext(600, { method: 'DELETE' });
    expect(await a.cancel(h)).toBe('already-terminal');
    expect(fake.journal.filter((e) => e.method === 'DELETE').map((e) => e.status)).toEqual([409]);
    expect(await a.status(h)).toMatchObject({ phase: 'SUCCEEDED' });
    await a.cleanup(h);
    expect(fake.sparkApplication(NS, h.submissionId)).toBeUndefined();
    await a.cleanup(h);
  });

  it('enforces the attempt deadline itself: FAILED DeadlineExceeded, the application deleted, the driver killed', async () => {
    const a = adapter();
    const h = await a.submit(spec(LONG, { timeoutMs: 400 }), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    const pid = await driverPid(h.submissionId);
    const s = await a.wait(h, { timeoutMs: 5000 });
    expect(s).toMatchObject({ phase: 'FAILED', reason: 'DeadlineExceeded' });
    expect(fake.journal.filter((e) => e.method === 'DELETE').map((e) => e.query['propagationPolicy'])).toEqual(['Background']);
    expect(fake.sparkApplication(NS, h.submissionId)).toBeUndefined();
    await until('the process to end', () => alive(pid), (x) => !x);
    expect(await a.status(h)).toMatchObject({ phase: 'FAILED', reason: 'DeadlineExceeded' });
    expect(await a.cancel(h)).toBe('already-terminal');
  });

  it('two attempts of a task are two applications with their own drivers; timeToLiveSeconds collects them', async () => {
    const a = adapter({ timeToLiveSeconds: 1 });
    const r1 = ref(1);
    const h1 = await a.submit(spec('process.exit(1)'), r1);
    const h2 = await a.submit(spec('0'), { ...r1, attempt: 2 });
    expect(h2.submissionId).not.toBe(h1.submissionId);
    expect((await a.wait(h1, { timeoutMs: 5000 })).phase).toBe('FAILED');
    expect((await a.wait(h2, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
    expect(fake.sparkApplication(NS, h1.submissionId)?.spec['timeToLiveSeconds']).toBe(1);
    // collected a second after it ended, with its driver pod: a 404 now reads LOST, as for any application that is gone
    await until('the TTL', () => fake.sparkApplication(NS, h1.submissionId), (x) => x === undefined, 4000);
    await until('the TTL', () => fake.sparkApplication(NS, h2.submissionId), (x) => x === undefined, 4000);
    expect(fake.podsWith(NS, `sparkoperator.k8s.io/app-name=${h1.submissionId}`)).toEqual([]);
    expect((await a.status(h1)).phase).toBe('LOST');
    expect(fake.sparkAppsCreated()).toEqual({ [`${NS}/${h1.submissionId}`]: 1, [`${NS}/${h2.submissionId}`]: 1 });
    expect(new Set(fake.processes().map((p) => p.job))).toEqual(new Set([h1.submissionId, h2.submissionId]));
  });

  it('finds the application of an attempt after a restart (lookup), without creating one', async () => {
    const r = ref();
    const h = await adapter().submit(spec(LONG), r);
    const fresh = adapter();
    expect(await fresh.lookup(r)).toEqual(h);
    expect(await fresh.lookup(r, { task: 'spark-task' })).toEqual(h);
    expect(await fresh.lookup({ ...r, attempt: 2 })).toBeNull();
    expect(fake.journal.filter((e) => e.method === 'POST')).toHaveLength(1);
  });

  it('maps 401/403 to auth and gives up on a refused connection with a transient error', async () => {
    fake.forbid('locked');
    const e403 = await rejection(adapter().submit(spec('0', { resources: { image: IMAGE, namespace: 'locked' } }), ref()));
    expect(e403).toMatchObject({ category: 'auth', status: 403 });
    const a = adapter({ retries: { attempts: 3, baseMs: 20, maxMs: 40 } });
    await fake.stopListening();
    const err = await rejection(a.submit(spec('0'), ref()));
    expect(err.category).toBe('transient');
    expect(err.message).toMatch(/after 3 tries/);
  });
});
