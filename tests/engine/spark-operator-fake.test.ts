/**
 * The fake kube-apiserver's SparkApplication endpoints (tests/fakes/kubernetes.mjs), through the
 * real client's CustomObjectsApi: validation, the driver's file and process, dry runs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeKubernetes } from '../fakes/kubernetes.mjs';

let fake: FakeKubernetes;
let custom: CustomObjectsApi;
let dir: string;
const SA = { group: 'sparkoperator.k8s.io', version: 'v1beta2', namespace: 'default', plural: 'sparkapplications' };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larkflow-spark-fake-'));
  writeFileSync(join(dir, 'app.py'), 'import os, sys\nprint("driver", os.environ.get("D"), os.environ.get("IMG"), os.getcwd() == os.path.dirname(sys.argv[0]))\nsys.exit(int(os.environ.get("CODE", "0")))\n');
  fake = new FakeKubernetes({ images: { 'spark:1': { cwd: dir, env: { IMG: 'i' } } }, conditionLagMs: 5 });
  await fake.start();
  const kc = new KubeConfig();
  kc.loadFromOptions(fake.kubeConfigOptions());
  custom = kc.makeApiClient(CustomObjectsApi);
});

afterEach(async () => {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

function app(name: string, code: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'sparkoperator.k8s.io/v1beta2',
    kind: 'SparkApplication',
    metadata: { name },
    spec: {
      type: 'Python',
      mode: 'cluster',
      sparkVersion: '3.5.1',
      image: 'spark:1',
      mainApplicationFile: 'local:///app.py',
      restartPolicy: { type: 'Never' },
      driver: { cores: 1, memory: '512m', env: [{ name: 'D', value: 'd' }, { name: 'CODE', value: code }] },
      executor: { cores: 1, instances: 2, memory: '512m' },
      ...over,
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

const appState = (o: unknown): unknown => (o as { status?: { applicationState?: { state?: string } } }).status?.applicationState?.state;

describe('fake kube-apiserver: SparkApplications', () => {
  it('runs the main file found under the image cwd with the driver env and image env; exit codes become FAILED', async () => {
    await custom.createNamespacedCustomObject({ ...SA, body: app('ok', '0') });
    await custom.createNamespacedCustomObject({ ...SA, body: app('bad', '5') });
    await until(() => custom.getNamespacedCustomObject({ ...SA, name: 'ok' }), (o) => appState(o) === 'COMPLETED');
    const bad = await until(() => custom.getNamespacedCustomObject({ ...SA, name: 'bad' }), (o) => appState(o) === 'FAILED');
    expect(bad).toMatchObject({ status: { applicationState: { errorMessage: 'driver container failed with ExitCode: 5, Reason: Error' }, driverInfo: { podName: 'bad-driver' } } });
    const log = await fetch(`${fake.url}/api/v1/namespaces/default/pods/ok-driver/log?container=spark-kubernetes-driver`, { headers: { authorization: `Bearer ${fake.token}` } });
    expect(await log.text()).toBe('driver d i True\n'); // cwd: the image's
    expect(fake.sparkAppsCreated()).toEqual({ 'default/ok': 1, 'default/bad': 1 });
  });

  it('validates the spec (422), dry-runs without creating, and 404s after a delete', async () => {
    expect(await code(custom.createNamespacedCustomObject({ ...SA, body: app('x', '0', { type: 'Go' }) }))).toBe(422);
    expect(await code(custom.createNamespacedCustomObject({ ...SA, body: app('x', '0', { driver: { cores: 0 } }) }))).toBe(422);
    expect(await code(custom.createNamespacedCustomObject({ ...SA, body: app('x', '0', { sparkVersion: undefined }) }))).toBe(422);
    await custom.createNamespacedCustomObject({ ...SA, body: app('dry', '0'), dryRun: 'All' });
    expect(fake.sparkApplication('default', 'dry')).toBeUndefined();
    await custom.createNamespacedCustomObject({ ...SA, body: app('gone', '0') });
    await custom.deleteNamespacedCustomObject({ ...SA, name: 'gone', propagationPolicy: 'Background' });
    expect(await code(custom.getNamespacedCustomObject({ ...SA, name: 'gone' }))).toBe(404);
  });
});
