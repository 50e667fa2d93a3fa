/**
 * The KubeRay adapter, driven through @kubernetes/client-node 1.4.0 against the fake kube-apiserver
 * (tests/fakes/kubernetes.mjs), which brings up a RayCluster of pod objects per RayJob and runs the
 * entrypoint as a real local process through the RayJob's submitter Job. Covers the fault matrix of
 * the executor notes §8 for RayJobs, the RayJob manifest, and one fresh cluster per attempt.
 */
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdapterError, submissionIdOf, type AttemptRef, type LaunchSpec, type Phase } from '../../src/engine/executors/contract.js';
import { KubeRayAdapter, buildRayJobManifest, rayJobStatusReport, type KubeRayAdapterOptions } from '../../src/engine/executors/kuberay/index.js';
import { FakeKubernetes } from '../fakes/kubernetes.mjs';

const IMAGE = 'rayproject/ray:2.40.0';
const NS = 'default';
const LONG = 'setTimeout(() => {}, 20000)';

let fake: FakeKubernetes;
let adapters: KubeRayAdapter[] = [];
let seq = 0;

beforeEach(async () => {
  fake = new FakeKubernetes({ images: { [IMAGE]: { env: { IMAGE_MARK: 'from-image' } } }, conditionLagMs: 10, clusterStartMs: 20 });
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

function adapter(opts: Partial<KubeRayAdapterOptions> = {}): KubeRayAdapter {
  const a = new KubeRayAdapter({ kubeConfig: kubeConfig(), callTimeoutMs: 1000, retries: { attempts: 4, baseMs: 10, maxMs: 40 }, pollIntervalMs: 20, ttlSecondsAfterFinished: 0, ...opts });
  adapters.push(a);
  return a;
}

function ref(attempt = 1): AttemptRef {
  seq++;
  return { runId: `run-${process.pid}-${seq}`, stepId: `step-${seq}`, attempt };
}

function spec(js: string, over: Partial<LaunchSpec> = {}): LaunchSpec {
  return { task: 'ray-task', command: [process.execPath, '-e', js], env: { GREETING: 'hello world' }, resources: { image: IMAGE, ray: { workerInstances: 2 } }, ...over };
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

function posts(): { status: number; path: string }[] {
  return fake.journal.filter((e) => e.method === 'POST').map((e) => ({ status: e.status, path: e.path }));
}

/** The process of a RayJob's submitter (the entrypoint). */
async function entrypointPid(name: string): Promise<number> {
  const p = await until('the entrypoint process', () => fake.processes().find((x) => x.job === name), (x) => x !== undefined);
  return p?.pid ?? -1;
}

type Obj = Record<string, unknown>;
const get = (o: unknown, ...path: (string | number)[]): unknown => path.reduce<unknown>((v, k) => (v === null || typeof v !== 'object' ? undefined : (v as Obj)[k]), o);

describe('KubeRayAdapter against the fake kube-apiserver', () => {
  it('runs a task to SUCCEEDED through PENDING (cluster starting) and RUNNING, with its env, on one fresh cluster that goes afterwards', async () => {
    fake.setOperatorTiming({ clusterStartMs: 300 });
    const a = adapter();
    const r = ref();
    const h = await a.submit(spec('console.log(process.env.GREETING, process.env.LARKFLOW_SESSION, process.env.IMAGE_MARK); setTimeout(() => {}, 200)'), r);
    const name = submissionIdOf(r, 'ray-task', 47);
    expect(h).toMatchObject({ executor: 'kuberay', submissionId: name, backendId: `${NS}/${name}` });
    expect(h.backendUid).toBe(fake.rayJob(NS, name)?.metadata.uid);
    const phases: Phase[] = [];
    const raw: string[] = [];
    const s = await a.wait(h, {
      timeoutMs: 5000,
      pollIntervalMs: 15,
      onStatus: (x) => {
        phases.push(x.phase);
        raw.push(x.rawState);
      },
    });
    expect(s).toMatchObject({ phase: 'SUCCEEDED', rawState: 'Complete/SUCCEEDED', exitCode: 0 });
    expect(phases.filter((p, i) => p !== phases[i - 1])).toEqual(['PENDING', 'RUNNING', 'SUCCEEDED']);
    expect(raw).toContain('Initializing');
    expect((await a.logs(h)).text).toBe('hello world ray from-image\n');
    expect(fake.rayJobsCreated()).toEqual({ [`${NS}/${name}`]: 1 });
    const clusters = fake.clustersCreated()[`${NS}/${name}`] ?? [];
    expect(clusters).toHaveLength(1);
    expect(fake.rayJob(NS, name)?.status['rayClusterName']).toBe(clusters[0]?.split('/')[1]);
    await until('the cluster to go', () => fake.clustersAlive(), (x) => x.length === 0);
    expect(fake.podsWith(NS, `ray.io/cluster=${clusters[0]?.split('/')[1]}`)).toEqual([]);
  });

  it('brings up the head and the worker replicas as pods while Initializing', async () => {
    fake.setOperatorTiming({ clusterStartMs: 400 });
    const a = adapter();
    const h = await a.submit(spec('0', { resources: { image: IMAGE, ray: { workerInstances: 3 } } }), ref());
    const job = await until('the cluster name', () => fake.rayJob(NS, h.submissionId), (j) => typeof j?.status['rayClusterName'] === 'string');
    const cluster = String(job?.status['rayClusterName']);
    expect(fake.podsWith(NS, `ray.io/cluster=${cluster},ray.io/node-type=head`)).toHaveLength(1);
    expect(fake.podsWith(NS, `ray.io/cluster=${cluster},ray.io/node-type=worker`)).toHaveLength(3);
    expect(await a.status(h)).toMatchObject({ phase: 'PENDING', rawState: 'Initializing' });
    expect((await a.logs(h)).text).toBe('');
    expect((await a.wait(h, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
  });

  it('reports a failing entrypoint as FAILED AppFailed with its exit code, and the log tail', async () => {
    const a = adapter();
    const h = await a.submit(spec('console.error("boom"); process.exit(3)'), ref());
    const s = await a.wait(h, { timeoutMs: 5000 });
    expect(s).toMatchObject({ phase: 'FAILED', rawState: 'Failed/FAILED', reason: 'AppFailed', exitCode: 3 });
    expect(s.message).toContain('boom');
    expect((await a.logs(h)).text).toContain('boom');
  });

  it('reads an older KubeRay (Complete with jobStatus FAILED) as FAILED too', async () => {
    await fake.close();
    fake = new FakeKubernetes({ images: { [IMAGE]: {} }, conditionLagMs: 10, rayFailedStatus: 'Complete' });
    await fake.start();
    const a = adapter();
    const h = await a.submit(spec('process.exit(4)'), ref());
    expect(await a.wait(h, { timeoutMs: 5000 })).toMatchObject({ phase: 'FAILED', rawState: 'Complete/FAILED', reason: 'AppFailed', exitCode: 4 });
  });

  it('maps RayJob statuses: terminal only on Complete or Failed', () => {
    const st = (status: Obj) => rayJobStatusReport({ status });
    expect(st({})).toMatchObject({ phase: 'PENDING', rawState: 'New' });
    expect(st({ jobDeploymentStatus: 'Initializing' }).phase).toBe('PENDING');
    expect(st({ jobDeploymentStatus: 'Waiting' }).phase).toBe('PENDING');
    expect(st({ jobDeploymentStatus: 'Running', jobStatus: 'PENDING' }).phase).toBe('RUNNING');
    // the Ray job ended but KubeRay has not moved the deployment status yet: not terminal
    expect(st({ jobDeploymentStatus: 'Running', jobStatus: 'SUCCEEDED' }).phase).toBe('RUNNING');
    expect(st({ jobDeploymentStatus: 'Running', jobStatus: 'FAILED' }).phase).toBe('RUNNING');
    expect(st({ jobDeploymentStatus: 'Complete', jobStatus: 'SUCCEEDED' }).phase).toBe('SUCCEEDED');
    expect(st({ jobDeploymentStatus: 'Complete', jobStatus: 'STOPPED' }).phase).toBe('CANCELLED');
    expect(st({ jobDeploymentStatus: 'Failed', jobStatus: 'RUNNING', reason: 'DeadlineExceeded', message: 'too long' })).toMatchObject({ phase: 'FAILED', reason: 'DeadlineExceeded', message: 'too long' });
    expect(st({ jobDeploymentStatus: 'Failed', reason: 'SubmissionFailed' })).toMatchObject({ phase: 'FAILED', reason: 'SubmissionFailed' });
    expect(st({ jobDeploymentStatus: 'Failed', jobStatus: 'FAILED', reason: 'AppFailed', message: 'Job entrypoint command failed with exit code 7, last...' })).toMatchObject({ phase: 'FAILED', reason: 'AppFailed', exitCode: 7 });
  });

  it('builds the RayJob: name ≤ 47, backoffLimit 0, shutdown after the job, workers, GPU, object store memory, runtime env', () => {
    const r = ref();
    const task = 'a-very-long-task-name-that-goes-on-and-on-and-on';
    const m = buildRayJobManifest(
      {
        task,
        command: ['python3', '-m', 'larkflow_runner', "it's"],
        env: { LARKFLOW_INPUT_URL: 'file:///tmp/in.json', SHARED: 'spec' },
        resources: {
          image: IMAGE,
          env: { SHARED: 'resources', EXTRA: 'x' },
          nodeSelector: { pool: 'gpu' },
          ray: {
            headCpu: '2',
            headMemory: '8Gi',
            headGpu: 1,
            headObjectStoreMemory: '2Gi',
            workerCpu: '4',
            workerMemory: '16Gi',
            workerGpu: 2,
            workerObjectStoreMemory: '1G',
            workerInstances: 4,
            entrypointCpu: 1,
            runtimeEnv: { pip: ['numpy'], env_vars: { FROM_RUNTIME: 'yes', SHARED: 'runtime' } },
          },
        },
        timeoutMs: 90_500,
      },
      r,
      { namespace: 'ml', ttlSecondsAfterFinished: 60, rayVersion: '2.40.0' },
    );
    const name = m.metadata.name;
    expect(name.length).toBeLessThanOrEqual(47);
    expect(name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    expect(name).toBe(submissionIdOf(r, task, 47));
    expect(m.metadata.namespace).toBe('ml');
    expect(m.metadata.labels).toMatchObject({ 'larkflow.dev/attempt': '1', 'larkflow.dev/run': r.runId });
    const sp = m.spec;
    expect(sp).toMatchObject({
      backoffLimit: 0,
      shutdownAfterJobFinishes: true,
      ttlSecondsAfterFinished: 60,
      activeDeadlineSeconds: 91,
      submissionMode: 'K8sJobMode',
      jobId: name,
      entrypointNumCpus: 1,
      entrypoint: `python3 -m larkflow_runner 'it'\\''s'`,
    });
    const rt = parseYaml(String(sp['runtimeEnvYAML'])) as Obj;
    expect(rt['pip']).toEqual(['numpy']);
    expect(rt['env_vars']).toEqual({ FROM_RUNTIME: 'yes', SHARED: 'spec', EXTRA: 'x', LARKFLOW_INPUT_URL: 'file:///tmp/in.json', LARKFLOW_SESSION: 'ray' });
    const head = get(sp, 'rayClusterSpec', 'headGroupSpec');
    expect(get(sp, 'rayClusterSpec', 'rayVersion')).toBe('2.40.0');
    expect(get(head, 'rayStartParams')).toEqual({ 'dashboard-host': '0.0.0.0', 'object-store-memory': String(2 * 2 ** 30) });
    const hc = get(head, 'template', 'spec', 'containers', 0);
    expect(get(hc, 'image')).toBe(IMAGE);
    expect(get(hc, 'resources')).toEqual({
      requests: { cpu: '2', memory: '8Gi', 'nvidia.com/gpu': '1' },
      limits: { cpu: '2', memory: '8Gi', 'nvidia.com/gpu': '1' },
    });
    expect(get(hc, 'env')).toContainEqual({ name: 'LARKFLOW_SESSION', value: 'ray' });
    expect(get(head, 'template', 'spec', 'nodeSelector')).toEqual({ pool: 'gpu' });
    const workers = get(sp, 'rayClusterSpec', 'workerGroupSpecs') as Obj[];
    expect(workers).toHaveLength(1);
    expect(workers[0]).toMatchObject({ groupName: 'workers', replicas: 4, minReplicas: 4, maxReplicas: 4, rayStartParams: { 'object-store-memory': '1000000000' } });
    expect(get(workers[0], 'template', 'spec', 'containers', 0, 'resources')).toEqual({
      requests: { cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '2' },
      limits: { cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '2' },
    });
    // defaults: one worker; a bad quantity or worker count is refused before any request
    const d = buildRayJobManifest(spec('0'), r, { namespace: NS, ttlSecondsAfterFinished: 60 });
    expect(get(d.spec, 'rayClusterSpec', 'workerGroupSpecs', 0, 'replicas')).toBe(2);
    const one = buildRayJobManifest(spec('0', { resources: { image: IMAGE } }), r, { namespace: NS, ttlSecondsAfterFinished: 60 });
    expect(get(one.spec, 'rayClusterSpec', 'workerGroupSpecs', 0, 'replicas')).toBe(1);
    expect(() => buildRayJobManifest(spec('0', { resources: { image: IMAGE, ray: { headMemory: '4GB' } } }), r, { namespace: NS, ttlSecondsAfterFinished: 60 })).toThrow(AdapterError);
    expect(() => buildRayJobManifest(spec('0', { resources: { image: IMAGE, ray: { workerInstances: 1.5 } } }), r, { namespace: NS, ttlSecondsAfterFinished: 60 })).toThrow(AdapterError);
    expect(() => buildRayJobManifest(spec('0', { resources: {} }), r, { namespace: NS, ttlSecondsAfterFinished: 60 })).toThrow(/no container image/);
  });

  it('submits a manifest the fake accepts, and the fake refuses a RayJob name over 47 or not DNS-1035 (422)', async () => {
    const a = adapter();
    const r = ref();
    const h = await a.submit(spec('0', { task: 'x'.repeat(80), resources: { image: IMAGE, ray: { headObjectStoreMemory: '1Gi', headGpu: 1 } } }), r);
    expect(h.submissionId.length).toBeLessThanOrEqual(47);
    const stored = fake.rayJob(NS, h.submissionId);
    expect(stored?.spec['backoffLimit']).toBe(0);
    expect(get(stored?.spec, 'rayClusterSpec', 'headGroupSpec', 'rayStartParams', 'object-store-memory')).toBe(String(2 ** 30));
    const custom = kubeConfig().makeApiClient(CustomObjectsApi);
    const manifest = buildRayJobManifest(spec('0'), ref(), { namespace: NS, ttlSecondsAfterFinished: 0 });
    for (const bad of ['r' + 'x'.repeat(47), '1starts-with-a-digit']) {
      const err = await custom
        .createNamespacedCustomObject({ group: 'ray.io', version: 'v1', namespace: NS, plural: 'rayjobs', body: { ...manifest, metadata: { ...manifest.metadata, name: bad } } })
        .then(() => undefined, (e: unknown) => e as { code?: number });
      expect(err?.code).toBe(422);
    }
  });

  it('adopts on a second submit of the same attempt (409), also from another adapter instance: one RayJob, one cluster', async () => {
    const r = ref();
    const s = spec(LONG);
    const h1 = await adapter().submit(s, r);
    const h2 = await adapter().submit(s, r);
    expect(h2).toEqual(h1);
    expect(posts().map((p) => p.status)).toEqual([201, 409]);
    expect(fake.rayJobsCreated()).toEqual({ [`${NS}/${h1.submissionId}`]: 1 });
    await until('the cluster', () => fake.clustersCreated()[`${NS}/${h1.submissionId}`] ?? [], (c) => c.length === 1);
  });

  it('retries 5xx before the create, and adopts after a 500 that came after the create: one RayJob each time', async () => {
    fake.failNext(2, 503, { method: 'POST', retryAfterSeconds: 0 });
    const a = adapter();
    const h1 = await a.submit(spec('0'), ref());
    expect(posts().map((p) => p.status)).toEqual([503, 503, 201]);
    fake.journal.length = 0;
    fake.failAfterCreate(1);
    const h2 = await a.submit(spec('0'), ref());
    expect(fake.journal.filter((e) => e.path.includes('/rayjobs')).map((e) => `${e.method} ${e.status}`)).toEqual(['POST 500', 'POST 409', 'GET 200']);
    expect(h2.backendUid).toBe(fake.rayJob(NS, h2.submissionId)?.metadata.uid);
    expect(fake.rayJobsCreated()).toEqual({ [`${NS}/${h1.submissionId}`]: 1, [`${NS}/${h2.submissionId}`]: 1 });
    expect((await a.wait(h1, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
    expect((await a.wait(h2, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
    expect(Object.values(fake.clustersCreated()).map((c) => c.length)).toEqual([1, 1]);
  });

  it('refuses to adopt a RayJob of another attempt that holds the name', async () => {
    const r = ref();
    const custom = kubeConfig().makeApiClient(CustomObjectsApi);
    const other = buildRayJobManifest(spec('0'), { ...r, attempt: 9 }, { namespace: NS, ttlSecondsAfterFinished: 0 });
    await custom.createNamespacedCustomObject({
      group: 'ray.io',
      version: 'v1',
      namespace: NS,
      plural: 'rayjobs',
      body: { ...other, metadata: { ...other.metadata, name: submissionIdOf(r, 'ray-task', 47) } },
    });
    expect((await rejection(adapter().submit(spec('0'), r))).category).toBe('conflict');
  });

  it('keeps a cluster that cannot start PENDING (image not pulled), then fails it at the deadline', async () => {
    const a = adapter();
    const h = await a.submit(spec('0', { resources: { image: 'no/such:image' }, timeoutMs: 400 }), ref());
    await until('Initializing', () => a.status(h), (s) => s.rawState === 'Initializing');
    await new Promise((r) => setTimeout(r, 200));
    expect((await a.status(h)).phase).toBe('PENDING');
    expect(await a.wait(h, { timeoutMs: 5000 })).toMatchObject({ phase: 'FAILED', reason: 'DeadlineExceeded' });
    expect(fake.processes()).toEqual([]);
  });

  it('reports a RayJob that disappears as LOST, its cluster and process gone', async () => {
    const a = adapter();
    const h = await a.submit(spec(LONG), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    const pid = await entrypointPid(h.submissionId);
    expect(fake.forgetRayJob(NS, h.submissionId)).toBe(true);
    expect(await a.status(h)).toMatchObject({ phase: 'LOST', reason: 'NotFound' });
    expect(fake.clustersAlive()).toEqual([]);
    await until('the process to end', () => alive(pid), (x) => !x);
    expect(await a.cancel(h)).toBe('not-found');
  });

  it('cancels a running RayJob with propagationPolicy=Background: the cluster and the entrypoint go; idempotent', async () => {
    const a = adapter();
    const h = await a.submit(spec(LONG), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    const pid = await entrypointPid(h.submissionId);
    expect(fake.clustersAlive()).toHaveLength(1);
    expect(await a.cancel(h)).toBe('requested');
    const del = fake.journal.filter((e) => e.method === 'DELETE');
    expect(del).toHaveLength(1);
    expect(del[0]?.path).toBe(`/apis/ray.io/v1/namespaces/${NS}/rayjobs/${h.submissionId}`);
    expect(del[0]?.query).toMatchObject({ propagationPolicy: 'Background' });
    expect(await a.status(h)).toMatchObject({ phase: 'CANCELLED' });
    expect(fake.clustersAlive()).toEqual([]);
    expect(fake.job(NS, h.submissionId)).toBeUndefined(); // the submitter Job too
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
    const del = fake.journal.filter((e) => e.method === 'DELETE');
    expect(del.map((e) => e.status)).toEqual([409]);
    expect(await a.status(h)).toMatchObject({ phase: 'SUCCEEDED' });
    await a.cleanup(h);
    expect(fake.rayJob(NS, h.submissionId)).toBeUndefined();
    await a.cleanup(h); // 404 ignored
  });

  it('enforces activeDeadlineSeconds: FAILED DeadlineExceeded, the entrypoint killed, the cluster shut down', async () => {
    const a = adapter();
    const h = await a.submit(spec(LONG, { timeoutMs: 300 }), ref());
    expect(fake.rayJob(NS, h.submissionId)?.spec['activeDeadlineSeconds']).toBe(1);
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    const pid = await entrypointPid(h.submissionId);
    const s = await a.wait(h, { timeoutMs: 5000 });
    expect(s).toMatchObject({ phase: 'FAILED', rawState: 'Failed/RUNNING', reason: 'DeadlineExceeded' });
    await until('the process to end', () => alive(pid), (x) => !x);
    await until('the cluster to go', () => fake.clustersAlive(), (c) => c.length === 0);
  });

  it('one cluster per attempt: two attempts of a task are two RayJobs with two RayClusters, both deleted when their attempts end', async () => {
    const a = adapter();
    const r1 = ref(1);
    const r2 = { ...r1, attempt: 2 };
    const h1 = await a.submit(spec('process.exit(1)'), r1);
    expect((await a.wait(h1, { timeoutMs: 5000 })).phase).toBe('FAILED');
    const h2 = await a.submit(spec('console.log("second")'), r2);
    expect((await a.wait(h2, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
    expect(h2.submissionId).not.toBe(h1.submissionId);
    expect(fake.rayJobsCreated()).toEqual({ [`${NS}/${h1.submissionId}`]: 1, [`${NS}/${h2.submissionId}`]: 1 });
    const created = fake.clustersCreated();
    const c1 = created[`${NS}/${h1.submissionId}`] ?? [];
    const c2 = created[`${NS}/${h2.submissionId}`] ?? [];
    expect(c1).toHaveLength(1);
    expect(c2).toHaveLength(1);
    expect(c1[0]).not.toBe(c2[0]);
    await until('both clusters to go', () => fake.clustersAlive(), (c) => c.length === 0);
    // the RayJobs stay (for their status and logs) until cleanup
    expect((await a.logs(h2)).text).toBe('second\n');
    await a.cleanup(h1);
    await a.cleanup(h2);
    expect(fake.rayJob(NS, h1.submissionId)).toBeUndefined();
    expect(fake.rayJob(NS, h2.submissionId)).toBeUndefined();
    expect(fake.journal.filter((e) => e.method === 'DELETE').every((e) => e.query['propagationPolicy'] === 'Background')).toBe(true);
  });

  it('keeps the cluster ttlSecondsAfterFinished after the end', async () => {
    const a = adapter({ ttlSecondsAfterFinished: 1 });
    const h = await a.submit(spec('0'), ref());
    expect((await a.wait(h, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
    expect(fake.clustersAlive()).toHaveLength(1);
    await until('the cluster to go', () => fake.clustersAlive(), (c) => c.length === 0, 3000);
  });

  it('finds the RayJob of an attempt after a restart (lookup), without creating one', async () => {
    const r = ref();
    const h = await adapter().submit(spec(LONG), r);
    const fresh = adapter();
    expect(await fresh.lookup(r)).toEqual(h);
    expect(await fresh.lookup(r, { task: 'ray-task' })).toEqual(h);
    expect(await fresh.lookup({ ...r, attempt: 2 })).toBeNull();
    expect(await fresh.lookup({ ...r, attempt: 2 }, { task: 'ray-task' })).toBeNull();
    expect(posts()).toHaveLength(1);
  });

  it('a same-name re-creation (new uid) is LOST; a hung call times out and is retried', async () => {
    const a = adapter({ callTimeoutMs: 150 });
    const r = ref();
    const h = await a.submit(spec(LONG), r);
    fake.delayNext(2000, { method: 'GET' });
    const t0 = Date.now();
    expect(['PENDING', 'RUNNING']).toContain((await a.status(h)).phase);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(fake.forgetRayJob(NS, h.submissionId)).toBe(true);
    const custom = kubeConfig().makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({ group: 'ray.io', version: 'v1', namespace: NS, plural: 'rayjobs', body: buildRayJobManifest(spec(LONG), r, { namespace: NS, ttlSecondsAfterFinished: 0 }) });
    expect(await a.status(h)).toMatchObject({ phase: 'LOST', reason: 'UidChanged' });
    expect(await a.cancel(h)).toBe('not-found');
  });
});

