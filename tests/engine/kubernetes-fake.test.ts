/**
 * The fake kube-apiserver itself (tests/fakes/kubernetes.mjs), through the real client library:
 * protocol details the adapter tests do not reach, and the standalone command.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ApiException, BatchV1Api, CoreV1Api, KubeConfig, Watch, type V1Job } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeKubernetes } from '../fakes/kubernetes.mjs';

let fake: FakeKubernetes;
let batch: BatchV1Api;
let core: CoreV1Api;
let kc: KubeConfig;

beforeEach(async () => {
  fake = new FakeKubernetes({ conditionLagMs: 5 });
  await fake.start();
  kc = new KubeConfig();
  kc.loadFromString(fake.kubeConfigYaml());
  batch = kc.makeApiClient(BatchV1Api);
  core = kc.makeApiClient(CoreV1Api);
});

afterEach(async () => {
  await fake.close();
});

function job(name: string, js: string, spec: Record<string, unknown> = {}): V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels: { app: 'demo' } },
    spec: {
      backoffLimit: 0,
      ...spec,
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'task', image: 'any:1', command: [process.execPath, '-e', js] }] } },
    },
  };
}

async function apiError(p: Promise<unknown>): Promise<{ code: number; body: { reason?: string; message?: string; code?: number } }> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApiException);
    const x = e as ApiException<string>;
    return { code: x.code, body: JSON.parse(x.body) as { reason?: string; message?: string; code?: number } };
  }
  throw new Error('expected an ApiException');
}

async function until<T>(f: () => Promise<T> | T, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('fake kube-apiserver', () => {
  it('fills in server fields and defaults, and answers errors as Status objects', async () => {
    const created = await batch.createNamespacedJob({ namespace: 'default', body: { ...job('j1', '0'), spec: { template: job('j1', '0').spec?.template ?? {} } } });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.resourceVersion).toBeDefined();
    expect(created.metadata?.creationTimestamp).toBeDefined();
    expect(created.spec?.backoffLimit).toBe(6);
    expect(created.spec?.completions).toBe(1);
    expect(created.spec?.template.metadata?.labels?.['batch.kubernetes.io/job-name']).toBe('j1');
    const nf = await apiError(batch.readNamespacedJob({ name: 'nope', namespace: 'default' }));
    expect(nf).toMatchObject({ code: 404, body: { reason: 'NotFound', message: 'jobs.batch "nope" not found', code: 404 } });
    const dup = await apiError(batch.createNamespacedJob({ namespace: 'default', body: job('j1', '0') }));
    expect(dup).toMatchObject({ code: 409, body: { reason: 'AlreadyExists' } });
    const long = await apiError(batch.createNamespacedJob({ namespace: 'default', body: job('x'.repeat(64), '0') }));
    expect(long).toMatchObject({ code: 422, body: { reason: 'Invalid' } });
    expect(long.body.message).toContain('must be no more than 63 characters');
    const upper = await apiError(batch.createNamespacedJob({ namespace: 'default', body: job('Bad_Name', '0') }));
    expect(upper).toMatchObject({ code: 422, body: { reason: 'Invalid' } });
    const noImage = job('j2', '0');
    delete noImage.spec?.template.spec?.containers[0]?.image;
    const ni = await apiError(batch.createNamespacedJob({ namespace: 'default', body: noImage }));
    expect(ni.body.message).toContain('spec.template.spec.containers[0].image: Required value');
  });

  it('retries failed pods up to backoffLimit, then fails with BackoffLimitExceeded', async () => {
    await batch.createNamespacedJob({ namespace: 'default', body: job('retry', 'process.exit(2)', { backoffLimit: 2 }) });
    const done = await until(
      () => batch.readNamespacedJobStatus({ name: 'retry', namespace: 'default' }),
      (j) => (j.status?.conditions ?? []).some((c) => c.type === 'Failed'),
    );
    expect(done.status?.failed).toBe(3);
    expect(done.status?.conditions?.map((c) => c.type)).toEqual(['FailureTarget', 'Failed']);
    const pods = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'job-name=retry' });
    expect(pods.items).toHaveLength(3);
  });

  it('orphans the pod on a delete without propagationPolicy, with the warning, until close', async () => {
    await batch.createNamespacedJob({ namespace: 'default', body: job('orphan', 'setTimeout(() => {}, 20000)') });
    const proc = await until(() => fake.processes(), (p) => p.length === 1);
    const pid = proc[0]?.pid ?? -1;
    await batch.deleteNamespacedJob({ name: 'orphan', namespace: 'default' });
    const del = fake.journal.find((e) => e.method === 'DELETE');
    expect(del?.warning).toContain('child pods are preserved by default');
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(pid)).toBe(true);
    expect(fake.processes()[0]?.orphan).toBe(true);
    const pods = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'batch.kubernetes.io/job-name=orphan' });
    expect(pods.items).toHaveLength(1);
    await fake.close();
    expect(alive(pid)).toBe(false);
  });

  it('keeps a Foreground-deleted Job with deletionTimestamp until its pod is gone', async () => {
    await batch.createNamespacedJob({ namespace: 'default', body: job('fg', 'setTimeout(() => {}, 20000)') });
    await until(() => fake.processes(), (p) => p.length === 1);
    await batch.deleteNamespacedJob({ name: 'fg', namespace: 'default', propagationPolicy: 'Foreground' });
    const after = await until(
      () => batch.readNamespacedJob({ name: 'fg', namespace: 'default' }).catch(() => null),
      (j) => j === null || j.metadata?.deletionTimestamp !== undefined,
    );
    expect(after?.metadata?.finalizers ?? ['foregroundDeletion']).toContain('foregroundDeletion');
    await until(
      () => batch.readNamespacedJob({ name: 'fg', namespace: 'default' }).then(() => 'there', (e: ApiException<string>) => e.code),
      (x) => x === 404,
    );
  });

  it('streams watch events until Complete', async () => {
    const types: string[] = [];
    let complete = false;
    let resolveDone: () => void = () => {};
    const done = new Promise<void>((r) => (resolveDone = r));
    const ac = await new Watch(kc).watch(
      '/apis/batch/v1/namespaces/default/jobs',
      { fieldSelector: 'metadata.name=w', timeoutSeconds: 10 },
      (type: string, obj: V1Job) => {
        types.push(type);
        if ((obj.status?.conditions ?? []).some((c) => c.type === 'Complete' && c.status === 'True')) {
          complete = true;
          resolveDone();
        }
      },
      () => resolveDone(),
    );
    await batch.createNamespacedJob({ namespace: 'default', body: job('w', 'process.exit(0)') });
    await done;
    ac.abort();
    expect(complete).toBe(true);
    expect(types[0]).toBe('ADDED');
    expect(types).toContain('MODIFIED');
  });

  it('serves pod logs with tailLines, and 400 while the container waits', async () => {
    fake.setTiming({ startDelayMs: 300 });
    await batch.createNamespacedJob({ namespace: 'default', body: job('logs', 'for (let i = 1; i <= 5; i++) console.log("line " + i)') });
    const pods = await until(() => core.listNamespacedPod({ namespace: 'default', labelSelector: 'job-name=logs' }), (l) => l.items.length === 1);
    const pod = pods.items[0]?.metadata?.name ?? '';
    const waiting = await apiError(core.readNamespacedPodLog({ name: pod, namespace: 'default', container: 'task' }));
    expect(waiting).toMatchObject({ code: 400, body: { reason: 'BadRequest' } });
    expect(waiting.body.message).toContain('is waiting to start: ContainerCreating');
    await until(
      () => core.readNamespacedPod({ name: pod, namespace: 'default' }),
      (p) => p.status?.phase === 'Succeeded',
    );
    const tail = await core.readNamespacedPodLog({ name: pod, namespace: 'default', container: 'task', tailLines: 2 });
    expect(tail).toBe('line 4\nline 5\n');
    const logReq = fake.journal.find((e) => e.path.endsWith('/log') && e.status === 200);
    expect(logReq?.query).toMatchObject({ container: 'task', tailLines: '2' });
  });

  it('runs standalone: writes a kubeconfig, runs Jobs, and stops on SIGTERM killing its processes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kfake-'));
    const kcPath = join(dir, 'kc.yaml');
    const child = spawn(process.execPath, ['tests/fakes/kubernetes.mjs', '--kubeconfig', kcPath, '--image', `runner:1=${dir}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const rl = createInterface({ input: child.stdout });
        rl.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`fake exited ${code}`)));
      });
      expect(line).toMatch(/^fake kubernetes listening on http:\/\/127\.0\.0\.1:\d+$/);
      expect(readFileSync(kcPath, 'utf8')).toContain('insecure-skip-tls-verify: true');
      const kc2 = new KubeConfig();
      kc2.loadFromFile(kcPath);
      expect(kc2.getContextObject(kc2.getCurrentContext())?.namespace).toBe('default');
      const b2 = kc2.makeApiClient(BatchV1Api);
      const c2 = kc2.makeApiClient(CoreV1Api);
      const pidFile = join(dir, 'pid');
      const body = job('cwd', `require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); console.log(process.cwd(), process.env.PYTHONPATH); setTimeout(() => {}, 20000)`);
      const ctr = body.spec?.template.spec?.containers[0];
      if (ctr !== undefined) ctr.image = 'runner:1';
      await b2.createNamespacedJob({ namespace: 'default', body });
      const pods = await until(() => c2.listNamespacedPod({ namespace: 'default', labelSelector: 'job-name=cwd' }), (l) => l.items[0]?.status?.phase === 'Running');
      const pod = pods.items[0]?.metadata?.name ?? '';
      const log = await until(() => c2.readNamespacedPodLog({ name: pod, namespace: 'default', container: 'task' }), (t) => t.length > 0);
      expect(log.trim().split(' ')).toEqual([dir, dir]);
      const pid = Number(readFileSync(pidFile, 'utf8'));
      expect(alive(pid)).toBe(true);
      const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
      expect(alive(pid)).toBe(false);
    } finally {
      if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
