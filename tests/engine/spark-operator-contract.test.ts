/**
 * The executor contract suite for the SparkOperatorAdapter, against the fake kube-apiserver
 * (tests/fakes/kubernetes.mjs), whose spark operator runs a SparkApplication's driver as
 * `python3 <mainApplicationFile>`.
 *
 * A SparkApplication runs the image's runner entry script, not `spec.command`. So the fake image
 * here maps that script (`/opt/larkflow/runners/python/larkflow_entry.py`, the adapter's default
 * mainApplicationFile) to a tiny temporary Python file that execs the argv JSON-encoded in the
 * environment variable LARKFLOW_CONTRACT_ARGV, which `spec(code)` sets to `[node, "-e", code]`.
 * The job's exit code, stdout and environment are then the node program's.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { LaunchSpec } from '../../src/engine/executors/contract.js';
import { SparkOperatorAdapter } from '../../src/engine/executors/spark-operator/index.js';
import { FakeKubernetes } from '../fakes/kubernetes.mjs';
import { executorContract } from './executor-contract.js';

const NS = 'contract';
const IMAGE = 'larkflow/spark:3.5.1';
const ENTRY = '/opt/larkflow/runners/python/larkflow_entry.py';

executorContract({
  name: 'spark operator (fake kube-apiserver)',
  async make() {
    const dir = mkdtempSync(join(tmpdir(), 'larkflow-spark-contract-'));
    const entry = join(dir, 'larkflow_entry.py');
    writeFileSync(entry, 'import json, os\nargv = json.loads(os.environ["LARKFLOW_CONTRACT_ARGV"])\nos.execvp(argv[0], argv)\n');
    const fake = new FakeKubernetes({ images: { [IMAGE]: { files: { [ENTRY]: entry } } }, conditionLagMs: 10 });
    await fake.start();
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions(fake.kubeConfigOptions(NS));
    const adapter = new SparkOperatorAdapter({ kubeConfig, callTimeoutMs: 2000, retries: { attempts: 4, baseMs: 10, maxMs: 50 }, pollIntervalMs: 25 });
    return {
      adapter,
      spec(code: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): LaunchSpec {
        return {
          task: 'contract-task',
          command: [process.execPath, '-e', code],
          env: { ...(opts.env ?? {}), LARKFLOW_CONTRACT_ARGV: JSON.stringify([process.execPath, '-e', code]) },
          resources: { image: IMAGE, spark: { driverMemory: '512Mi', executorInstances: 2 } },
          ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        };
      },
      async forget(h) {
        const [ns, name] = h.backendId.split('/');
        fake.forgetSparkApplication(ns ?? '', name ?? '');
      },
      async started(submissionId: string) {
        return fake.sparkAppsCreated()[`${NS}/${submissionId}`] ?? 0;
      },
      async close() {
        adapter.close();
        await fake.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
