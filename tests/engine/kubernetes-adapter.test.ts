/**
 * The Kubernetes Jobs adapter, driven through @kubernetes/client-node 1.4.0 against the fake
 * kube-apiserver (tests/fakes/kubernetes.mjs), which runs every Job as a real local process.
 * Covers the fault matrix of docs notes §8 for Kubernetes.
 */
import { BatchV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdapterError, submissionIdOf, type AttemptRef, type LaunchSpec, type Phase } from '../../src/engine/executors/contract.js';
import { KubernetesAdapter, type KubernetesAdapterOptions } from '../../src/engine/executors/kubernetes/index.js';
import { FakeKubernetes } from '../fakes/kubernetes.mjs';

const IMAGE = 'larkflow/runner:1';
const NS = 'default';

let fake: FakeKubernetes;
let adapters: KubernetesAdapter[] = [];
let seq = 0;

beforeEach(async () => {
  fake = new FakeKubernetes({ images: { [IMAGE]: { env: { IMAGE_MARK: 'from-image' } } }, conditionLagMs: 10 });
  await fake.start();
  adapters = [];
});

afterEach(async () => {
  for (const a of adapters) a.close();
  await fake.close();
});

function kubeConfig(token?: string, namespace = NS): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions(fake.kubeConfigOptions(namespace, token));
  return kc;
}

function adapter(opts: Partial<KubernetesAdapterOptions> = {}): KubernetesAdapter {
  const a = new KubernetesAdapter({
    kubeConfig: kubeConfig(),
    callTimeoutMs: 1000,
    retries: { attempts: 4, baseMs: 10, maxMs: 40 },
    pollIntervalMs: 20,
    ...opts,
  });
  adapters.push(a);
  return a;
}

function ref(): AttemptRef {
  seq++;
  return { runId: `run-${process.pid}-${seq}`, stepId: `step-${seq}`, attempt: 1 };
}

/** A task whose process is `node -e js`. */
function spec(js: string, over: Partial<LaunchSpec> = {}): LaunchSpec {
  return { task: 'demo-task', command: [process.execPath, '-e', js], env: { GREETING: 'hello' }, resources: { image: IMAGE }, ...over };
}

function posts(): number {
  return fake.journal.filter((e) => e.method === 'POST').length;
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

const LONG = 'setTimeout(() => {}, 20000)';

describe('KubernetesAdapter against the fake kube-apiserver', () => {
  it('runs a task to SUCCEEDED with its env and the image env, one Job per attempt', async () => {
    const a = adapter();
    const r = ref();
    const h = await a.submit(spec('console.log(process.env.GREETING, process.env.IMAGE_MARK, process.env.SECRET_FROM_ENGINE)'), r);
    const name = submissionIdOf(r, 'demo-task');
    expect(h).toMatchObject({ executor: 'k8s', submissionId: name, backendId: `${NS}/${name}` });
    expect(h.backendUid).toBe(fake.job(NS, name)?.metadata.uid);
    const s = await a.wait(h, { timeoutMs: 5000 });
    expect(s).toMatchObject({ phase: 'SUCCEEDED', rawState: 'Complete', exitCode: 0 });
    const logs = await a.logs(h);
    // the engine's own environment does not leak into the pod: only the Job's env, PATH, HOME and the image's
    expect(logs.text).toBe('hello from-image undefined\n');
    expect(fake.jobsCreated()).toEqual({ [`${NS}/${name}`]: 1 });
    const job = fake.job(NS, name);
    expect(job?.spec['backoffLimit']).toBe(0);
    expect(job?.spec['ttlSecondsAfterFinished']).toBe(3600);
  });

  it('reports a non-zero exit as FAILED with the exit code', async () => {
    const a = adapter();
    const h = await a.submit(spec('console.error("boom"); process.exit(3)'), ref());
    const s = await a.wait(h, { timeoutMs: 5000 });
    expect(s).toMatchObject({ phase: 'FAILED', rawState: 'Failed', reason: 'BackoffLimitExceeded', exitCode: 3 });
    expect((await a.logs(h)).text).toContain('boom');
  });

  it('reports a slow start as PENDING, then RUNNING, then SUCCEEDED', async () => {
    fake.setTiming({ startDelayMs: 250 });
    const a = adapter();
    const h = await a.submit(spec('setTimeout(() => {}, 250)'), ref());
    const phases: Phase[] = [];
    const s = await a.wait(h, { timeoutMs: 5000, pollIntervalMs: 15, onStatus: (x) => phases.push(x.phase) });
    expect(s.phase).toBe('SUCCEEDED');
    const distinct = phases.filter((p, i) => p !== phases[i - 1]);
    expect(distinct).toEqual(['PENDING', 'RUNNING', 'SUCCEEDED']);
  });

  it('does not take the interim SuccessCriteriaMet condition as terminal', async () => {
    fake.setTiming({ conditionLagMs: 400 });
    const a = adapter();
    const r = ref();
    const h = await a.submit(spec('process.exit(0)'), r);
    const name = submissionIdOf(r, 'demo-task');
    const conds = (): string[] => ((fake.job(NS, name)?.status['conditions'] as { type: string }[] | undefined) ?? []).map((c) => c.type);
    await until('SuccessCriteriaMet', conds, (c) => c.includes('SuccessCriteriaMet'));
    expect(conds()).not.toContain('Complete');
    expect((await a.status(h)).phase).toBe('RUNNING');
    expect((await a.wait(h, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
  });

  it('retries 5xx and 429 before the create and makes one Job', async () => {
    fake.failNext(2, 503, { method: 'POST', retryAfterSeconds: 0 });
    fake.failNext(1, 429, { method: 'POST', retryAfterSeconds: 30 });
    const a = adapter();
    const r = ref();
    const t0 = Date.now();
    const h = await a.submit(spec('process.exit(0)'), r);
    expect(Date.now() - t0).toBeLessThan(1000); // Retry-After is capped at retries.maxMs
    expect(fake.journal.filter((e) => e.method === 'POST').map((e) => e.status)).toEqual([503, 503, 429, 201]);
    expect(fake.jobsCreated()).toEqual({ [`${NS}/${h.submissionId}`]: 1 });
    expect((await a.wait(h, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
  });

  it('honours Retry-After on 429', async () => {
    fake.failNext(1, 429, { method: 'GET', retryAfterSeconds: 1 });
    const a = adapter({ retries: { attempts: 3, baseMs: 10, maxMs: 2000 } });
    const t0 = Date.now();
    expect((await a.status({ executor: 'k8s', submissionId: 'x', backendId: `${NS}/x` })).phase).toBe('LOST');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(fake.journal.map((e) => e.status)).toEqual([429, 404]);
  });

  it('adopts the Job when a 500 came after the create (ambiguous submit)', async () => {
    fake.failAfterCreate(1);
    const a = adapter();
    const r = ref();
    const h = await a.submit(spec('process.exit(0)'), r);
    const key = `${NS}/${h.submissionId}`;
    expect(fake.journal.map((e) => `${e.method} ${e.status}`)).toEqual(['POST 500', 'POST 409', 'GET 200']);
    expect(fake.jobsCreated()).toEqual({ [key]: 1 });
    expect(h.backendUid).toBe(fake.job(NS, h.submissionId)?.metadata.uid);
    expect((await a.wait(h, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
  });

  it('adopts on a second submit of the same attempt (409), also from another adapter instance', async () => {
    const r = ref();
    const s = spec(LONG);
    const h1 = await adapter().submit(s, r);
    const h2 = await adapter().submit(s, r);
    expect(h2).toEqual(h1);
    expect(fake.journal.filter((e) => e.method === 'POST').map((e) => e.status)).toEqual([201, 409]);
    expect(Object.values(fake.jobsCreated())).toEqual([1]);
  });

  it('refuses to adopt a Job of another attempt that holds the name', async () => {
    const r = ref();
    const name = submissionIdOf(r, 'demo-task');
    const batch = kubeConfig().makeApiClient(BatchV1Api);
    await batch.createNamespacedJob({
      namespace: NS,
      body: {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name, labels: { 'larkflow.dev/attempt': '9' } },
        spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'task', image: IMAGE, command: [process.execPath, '-e', '0'] }] } } },
      },
    });
    const err = await rejection(adapter().submit(spec('0'), r));
    expect(err.category).toBe('conflict');
  });

  it('retries while the connection is refused and recovers', async () => {
    const a = adapter({ retries: { attempts: 8, baseMs: 40, maxMs: 80 } });
    await fake.stopListening();
    setTimeout(() => void fake.resume(), 200);
    const h = await a.submit(spec('process.exit(0)'), ref());
    expect(Object.values(fake.jobsCreated())).toEqual([1]);
    expect((await a.wait(h, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
  });

  it('gives up with a transient error when the connection never recovers (no hang)', async () => {
    const a = adapter({ retries: { attempts: 3, baseMs: 20, maxMs: 40 } });
    await fake.stopListening();
    const t0 = Date.now();
    const err = await rejection(a.submit(spec('0'), ref()));
    expect(err.category).toBe('transient');
    expect(err.message).toMatch(/after 3 tries/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('times out a hung call and retries it', async () => {
    const a = adapter({ callTimeoutMs: 150 });
    const h = await a.submit(spec(LONG), ref());
    fake.delayNext(2000, { method: 'GET' });
    const t0 = Date.now();
    const s = await a.status(h);
    const took = Date.now() - t0;
    expect(['PENDING', 'RUNNING']).toContain(s.phase);
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(1500);
  });

  it('a hung create that the server performs late still gives one Job', async () => {
    const a = adapter({ callTimeoutMs: 150 });
    fake.delayNext(400, { method: 'POST' });
    const r = ref();
    const h = await a.submit(spec(LONG), r);
    // the delayed first POST is handled after the retry created the Job: it gets 409
    await until('the late POST', () => fake.journal.filter((e) => e.method === 'POST').map((e) => e.status), (s) => s.length === 2);
    expect(fake.journal.filter((e) => e.method === 'POST').map((e) => e.status)).toEqual([201, 409]);
    expect(fake.jobsCreated()).toEqual({ [`${NS}/${h.submissionId}`]: 1 });
  });

  it('reports a Job that disappears as LOST', async () => {
    const a = adapter();
    const h = await a.submit(spec(LONG), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    const pid = fake.processes()[0]?.pid ?? -1;
    expect(fake.forget(NS, h.submissionId)).toBe(true);
    expect(await a.status(h)).toMatchObject({ phase: 'LOST', reason: 'NotFound' });
    await until('the process to end', () => alive(pid), (x) => !x);
    expect(await a.cancel(h)).toBe('not-found');
  });

  it('reports a same-name re-creation (new uid) as LOST', async () => {
    const a = adapter();
    const h = await a.submit(spec(LONG), ref());
    const uid = fake.recreate(NS, h.submissionId);
    expect(uid).toBeDefined();
    expect(uid).not.toBe(h.backendUid);
    expect(await a.status(h)).toMatchObject({ phase: 'LOST', reason: 'UidChanged' });
    // neither cancel nor cleanup touches the new Job
    expect(await a.cancel(h)).toBe('not-found');
    await a.cleanup(h);
    expect(fake.job(NS, h.submissionId)?.metadata.uid).toBe(uid);
  });

  it('enforces the deadline: FAILED DeadlineExceeded and the process is gone', async () => {
    const a = adapter();
    const r = ref();
    const h = await a.submit(spec(LONG, { timeoutMs: 300 }), r);
    expect(fake.job(NS, h.submissionId)?.spec['activeDeadlineSeconds']).toBe(1);
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    const pid = fake.processes()[0]?.pid ?? -1;
    expect(alive(pid)).toBe(true);
    const s = await a.wait(h, { timeoutMs: 5000 });
    expect(s).toMatchObject({ phase: 'FAILED', reason: 'DeadlineExceeded' });
    expect(alive(pid)).toBe(false);
  });

  it('cancels a running Job with propagationPolicy=Background, idempotently', async () => {
    const a = adapter();
    const h = await a.submit(spec(LONG), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    const pid = fake.processes()[0]?.pid ?? -1;
    expect(await a.cancel(h)).toBe('requested');
    const del = fake.journal.filter((e) => e.method === 'DELETE');
    expect(del).toHaveLength(1);
    expect(del[0]?.query).toMatchObject({ propagationPolicy: 'Background' });
    expect(del[0]?.warning).toBeUndefined();
    expect(await a.status(h)).toMatchObject({ phase: 'CANCELLED' });
    expect(await a.cancel(h)).toBe('already-terminal');
    expect(fake.journal.filter((e) => e.method === 'DELETE')).toHaveLength(1);
    await until('the process to end', () => alive(pid), (x) => !x);
  });

  it('cancel racing completion reports what really happened', async () => {
    const a = adapter();
    const h = await a.submit(spec('setTimeout(() => {}, 150)'), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    // the DELETE reaches the server only after the Job completed: its resourceVersion precondition fails
    fake.delayNext(500, { method: 'DELETE' });
    expect(await a.cancel(h)).toBe('already-terminal');
    const del = fake.journal.filter((e) => e.method === 'DELETE');
    expect(del.map((e) => e.status)).toEqual([409]);
    expect(del[0]?.query).toMatchObject({ propagationPolicy: 'Background' });
    expect(await a.status(h)).toMatchObject({ phase: 'SUCCEEDED', exitCode: 0 });
    expect(await a.cancel(h)).toBe('already-terminal');
    await a.cleanup(h);
    expect(fake.job(NS, h.submissionId)).toBeUndefined();
    await a.cleanup(h); // 404 ignored
  });

  it('cancel of a finished Job is already-terminal; of an unknown Job not-found', async () => {
    const a = adapter();
    const h = await a.submit(spec('0'), ref());
    await a.wait(h, { timeoutMs: 5000 });
    expect(await a.cancel(h)).toBe('already-terminal');
    expect(await a.cancel({ executor: 'k8s', submissionId: 'nope', backendId: `${NS}/nope` })).toBe('not-found');
    expect(fake.journal.filter((e) => e.method === 'DELETE')).toHaveLength(0);
  });

  it('reads logs: stdout and stderr, tailLines, a byte cursor, and nothing before the pod exists', async () => {
    fake.setTiming({ podDelayMs: 200 });
    const a = adapter();
    const h = await a.submit(spec('console.log("one"); console.error("two"); setTimeout(() => console.log("three"), 400)'), ref());
    expect(await a.logs(h)).toEqual({ text: '', available: true, truncated: false });
    const first = await until('two lines', () => a.logs(h), (l) => l.text.includes('two'));
    expect(first.text).toBe('one\ntwo\n');
    expect(first.nextCursor).toBe('8');
    await a.wait(h, { timeoutMs: 5000 });
    const rest = await a.logs(h, { cursor: first.nextCursor ?? '' });
    expect(rest).toEqual({ text: 'three\n', nextCursor: '14', truncated: false, available: true });
    const tail = await a.logs(h, { tailLines: 1 });
    expect(tail).toMatchObject({ text: 'three\n', truncated: true });
    expect(fake.journal.some((e) => e.path.endsWith('/log') && e.query['container'] === 'task')).toBe(true);
  });

  it('refuses an invalid task: no image (before any request) and a manifest the server rejects (422)', async () => {
    const a = adapter();
    const noImage = await rejection(a.submit(spec('0', { resources: {} }), ref()));
    expect(noImage.category).toBe('invalid');
    expect(posts()).toBe(0);
    const bad = await rejection(a.submit(spec('0', { env: { 'A=B': 'x' } }), ref()));
    expect(bad).toMatchObject({ category: 'invalid', status: 422 });
    expect(JSON.parse(bad.backendBody ?? '{}')).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422 });
    expect(posts()).toBe(1);
  });

  it('maps 401 and 403 to auth without retrying', async () => {
    const wrong = adapter({ kubeConfig: kubeConfig('wrong-token') });
    const e401 = await rejection(wrong.submit(spec('0'), ref()));
    expect(e401).toMatchObject({ category: 'auth', status: 401 });
    const none = adapter({ kubeConfig: kubeConfig('') });
    expect(await rejection(none.status({ executor: 'k8s', submissionId: 'x', backendId: `${NS}/x` }))).toMatchObject({ category: 'auth', status: 401 });
    fake.forbid('locked');
    const e403 = await rejection(adapter().submit(spec('0', { resources: { image: IMAGE, namespace: 'locked' } }), ref()));
    expect(e403).toMatchObject({ category: 'auth', status: 403 });
    expect(fake.journal.map((e) => e.status)).toEqual([401, 401, 403]);
  });

  it('keeps a pod of an image that cannot be pulled PENDING with the reason', async () => {
    const a = adapter();
    const h = await a.submit(spec('0', { resources: { image: 'no/such:image' } }), ref());
    const s = await until('ErrImagePull', () => a.status(h), (x) => x.reason === 'ErrImagePull' || x.reason === 'ImagePullBackOff');
    expect(s.phase).toBe('PENDING');
  });

  it('finds the Job of an attempt after a restart (lookup), without creating one', async () => {
    const r = ref();
    const h = await adapter().submit(spec(LONG), r);
    const fresh = adapter();
    expect(await fresh.lookup(r)).toEqual(h);
    expect(await fresh.lookup(r, { task: 'demo-task' })).toEqual(h);
    expect(await fresh.lookup({ ...r, attempt: 2 })).toBeNull();
    expect(await fresh.lookup({ ...r, attempt: 2 }, { task: 'demo-task' })).toBeNull();
    expect(posts()).toBe(1);
  });

  it('close() rejects a hung call at once and later calls', async () => {
    const a = adapter({ callTimeoutMs: 10_000 });
    fake.delayNext(3000, { method: 'GET' });
    const p = a.status({ executor: 'k8s', submissionId: 'x', backendId: `${NS}/x` });
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    a.close();
    expect(await rejection(p)).toBeInstanceOf(AdapterError);
    expect(Date.now() - t0).toBeLessThan(500);
    expect((await rejection(a.lookup(ref()))).category).toBe('invalid');
  });

  it('close() during a backoff sleep ends the call without another request', async () => {
    const a = adapter({ retries: { attempts: 5, baseMs: 1000, maxMs: 1000 } });
    fake.failNext(1, 503, { method: 'GET', retryAfterSeconds: 0 });
    const p = a.status({ executor: 'k8s', submissionId: 'x', backendId: `${NS}/x` });
    await until('the 503', () => fake.journal.length, (n) => n === 1);
    const t0 = Date.now();
    a.close();
    expect((await rejection(p)).category).toBe('invalid');
    expect(Date.now() - t0).toBeLessThan(300);
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.journal).toHaveLength(1);
  });
});
