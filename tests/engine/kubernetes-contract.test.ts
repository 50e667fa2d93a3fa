/**
 * The executor contract suite for the KubernetesAdapter, against the fake kube-apiserver
 * (tests/fakes/kubernetes.mjs), which runs each Job's `node -e` command as a local process.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { LaunchSpec } from '../../src/engine/executors/contract.js';
import { KubernetesAdapter } from '../../src/engine/executors/kubernetes/index.js';
import { FakeKubernetes } from '../fakes/kubernetes.mjs';
import { executorContract } from './executor-contract.js';

const NS = 'contract';

executorContract({
  name: 'k8s (fake kube-apiserver)',
  async make() {
    const fake = new FakeKubernetes({ images: { 'larkflow/node:1': {} }, conditionLagMs: 10 });
    await fake.start();
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions(fake.kubeConfigOptions(NS));
    const adapter = new KubernetesAdapter({ kubeConfig, callTimeoutMs: 2000, retries: { attempts: 4, baseMs: 10, maxMs: 50 }, pollIntervalMs: 25 });
    return {
      adapter,
      spec(code: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): LaunchSpec {
        return {
          task: 'contract-task',
          command: [process.execPath, '-e', code],
          env: opts.env ?? {},
          resources: { image: 'larkflow/node:1' },
          ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        };
      },
      async forget(h) {
        const [ns, name] = h.backendId.split('/');
        fake.forget(ns ?? '', name ?? '');
      },
      async started(submissionId: string) {
        return fake.jobsCreated()[`${NS}/${submissionId}`] ?? 0;
      },
      async close() {
        adapter.close();
        await fake.close();
      },
    };
  },
});
