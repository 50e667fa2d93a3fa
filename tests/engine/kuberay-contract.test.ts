/**
 * The executor contract suite for the KubeRayAdapter, against the fake kube-apiserver
 * (tests/fakes/kubernetes.mjs): each RayJob brings up a fake RayCluster (pod objects), then its
 * submitter Job runs the entrypoint (`node -e <code>`, shell-quoted) as a local process.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { LaunchSpec } from '../../src/engine/executors/contract.js';
import { KubeRayAdapter } from '../../src/engine/executors/kuberay/index.js';
import { FakeKubernetes } from '../fakes/kubernetes.mjs';
import { executorContract } from './executor-contract.js';

const NS = 'contract';

executorContract({
  name: 'kuberay (fake kube-apiserver)',
  async make() {
    const fake = new FakeKubernetes({ images: { 'rayproject/ray:2.40.0': {} }, conditionLagMs: 10, clusterStartMs: 20 });
    await fake.start();
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions(fake.kubeConfigOptions(NS));
    const adapter = new KubeRayAdapter({ kubeConfig, callTimeoutMs: 2000, retries: { attempts: 4, baseMs: 10, maxMs: 50 }, pollIntervalMs: 25, ttlSecondsAfterFinished: 0 });
    return {
      adapter,
      spec(code: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): LaunchSpec {
        return {
          task: 'contract-task',
          command: [process.execPath, '-e', code],
          env: opts.env ?? {},
          resources: { image: 'rayproject/ray:2.40.0', ray: { workerInstances: 2 } },
          ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        };
      },
      async forget(h) {
        const [ns, name] = h.backendId.split('/');
        fake.forgetRayJob(ns ?? '', name ?? '');
      },
      async started(submissionId: string) {
        return fake.rayJobsCreated()[`${NS}/${submissionId}`] ?? 0;
      },
      async close() {
        adapter.close();
        await fake.close();
      },
    };
  },
});
