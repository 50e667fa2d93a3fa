/**
 * The fake kube-apiserver's RayJob and RayCluster endpoints (tests/fakes/kubernetes.mjs), through
 * the real client's CustomObjectsApi: protocol details the adapter tests do not reach.
 */
import { ApiException, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeKubernetes } from '../fakes/kubernetes.mjs';

let fake: FakeKubernetes;
let custom: CustomObjectsApi;
const RJ = { group: 'ray.io', version: 'v1', namespace: 'default', plural: 'rayjobs' };

beforeEach(async () => {
  fake = new FakeKubernetes({ conditionLagMs: 5, clusterStartMs: 10 });
  await fake.start();
  const kc = new KubeConfig();
  kc.loadFromOptions(fake.kubeConfigOptions());
  custom = kc.makeApiClient(CustomObjectsApi);
});

afterEach(async () => {
  await fake.close();
});

function rayJob(name: string, entrypoint: string, labels: Record<string, string> = {}): Record<string, unknown> {
  const container = (n: string) => ({ name: n, image: 'rayproject/ray:2.40.0' });
  return {
    apiVersion: 'ray.io/v1',
    kind: 'RayJob',
    metadata: { name, labels },
    spec: {
      entrypoint,
      runtimeEnvYAML: 'env_vars:\n  FROM_YAML: "y"\n',
      shutdownAfterJobFinishes: true,
      ttlSecondsAfterFinished: 0,
      rayClusterSpec: {
        headGroupSpec: { rayStartParams: {}, template: { spec: { containers: [{ ...container('ray-head'), env: [{ name: 'FROM_HEAD', value: 'h' }] }] } } },
        workerGroupSpecs: [{ groupName: 'workers', replicas: 1, minReplicas: 1, maxReplicas: 1, rayStartParams: {}, template: { spec: { containers: [container('ray-worker')] } } }],
      },
    },
  };
}

async function code(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApiException);
    return (e as ApiException<string>).code;
  }
  return 0;
}

async function until<T>(f: () => T | Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const state = (o: unknown): unknown => (o as { status?: { jobDeploymentStatus?: string } }).status?.jobDeploymentStatus;

describe('fake kube-apiserver: RayJobs', () => {
  it('runs the entrypoint with the runtime env and head env through the submitter Job, lists by label, serves /status', async () => {
    await custom.createNamespacedCustomObject({ ...RJ, body: rayJob('demo', 'echo "$FROM_YAML$FROM_HEAD"; exit 0', { app: 'a' }) });
    await custom.createNamespacedCustomObject({ ...RJ, body: rayJob('other', 'exit 0', { app: 'b' }) });
    const done = await until(() => custom.getNamespacedCustomObjectStatus({ ...RJ, name: 'demo' }), (o) => state(o) === 'Complete');
    expect(done).toMatchObject({ status: { jobStatus: 'SUCCEEDED', jobId: 'demo' } });
    const list = (await custom.listNamespacedCustomObject({ ...RJ, labelSelector: 'app=a' })) as { kind: string; items: { metadata: { name: string } }[] };
    expect(list.kind).toBe('RayJobList');
    expect(list.items.map((i) => i.metadata.name)).toEqual(['demo']);
    expect(fake.job('default', 'demo')?.metadata['ownerReferences']).toMatchObject([{ kind: 'RayJob', name: 'demo' }]);
    const pods = fake.podsWith('default', 'batch.kubernetes.io/job-name=demo');
    expect(pods).toHaveLength(1);
    const log = await fetch(`${fake.url}/api/v1/namespaces/default/pods/${pods[0]?.metadata.name}/log?container=ray-job-submitter`, { headers: { authorization: `Bearer ${fake.token}` } });
    expect(await log.text()).toBe('yh\n');
    await until(() => fake.clustersAlive(), (c) => c.length === 0);
    expect(Object.keys(fake.clustersCreated())).toEqual(['default/demo', 'default/other']);
  });

  it('merge-patches with the MergePatch header, refuses other patch types with 415', async () => {
    await custom.createNamespacedCustomObject({ ...RJ, body: rayJob('patched', 'sleep 5') });
    const patched = (await custom.patchNamespacedCustomObject(
      { ...RJ, name: 'patched', body: { metadata: { labels: { x: 'y' } }, spec: { suspend: true } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as { metadata: { labels: Record<string, string> }; spec: { suspend?: boolean; entrypoint: string } };
    expect(patched.metadata.labels).toEqual({ x: 'y' });
    expect(patched.spec).toMatchObject({ suspend: true, entrypoint: 'sleep 5' });
    expect(await code(custom.patchNamespacedCustomObject({ ...RJ, name: 'patched', body: [{ op: 'add', path: '/spec/suspend', value: false }] }))).toBe(415);
  });

  it('answers 409 for a duplicate, 404 for an unknown name, 422 for a bad spec, and orphans on request', async () => {
    await custom.createNamespacedCustomObject({ ...RJ, body: rayJob('dup', 'sleep 5') });
    expect(await code(custom.createNamespacedCustomObject({ ...RJ, body: rayJob('dup', 'sleep 5') }))).toBe(409);
    expect(await code(custom.getNamespacedCustomObject({ ...RJ, name: 'nope' }))).toBe(404);
    const bad = rayJob('bad', 'x');
    (bad['spec'] as Record<string, unknown>)['rayClusterSpec'] = { headGroupSpec: { template: { spec: { containers: [] } } } };
    expect(await code(custom.createNamespacedCustomObject({ ...RJ, body: bad }))).toBe(422);
    expect(await code(custom.createNamespacedCustomObject({ ...RJ, body: { ...rayJob('ok', 'x'), spec: { ...(rayJob('ok', 'x')['spec'] as object), backoffLimit: -1 } } }))).toBe(422);
    await until(() => fake.clustersAlive(), (c) => c.length === 1);
    await custom.deleteNamespacedCustomObject({ ...RJ, name: 'dup', propagationPolicy: 'Orphan' });
    expect(fake.rayJob('default', 'dup')).toBeUndefined();
    expect(fake.clustersAlive()).toHaveLength(1); // orphaned
    expect(await code(custom.deleteNamespacedCustomObject({ ...RJ, name: 'dup' }))).toBe(404);
  });
});
