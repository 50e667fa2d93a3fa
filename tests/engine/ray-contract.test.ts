/**
 * The executor contract suite for the RayJobsAdapter, against the fake Ray Jobs API server
 * (tests/fakes/ray.mjs), which runs each job's entrypoint (`node -e <code>`, shell-quoted) as a
 * local process group.
 */
import type { LaunchSpec } from '../../src/engine/executors/contract.js';
import { RayJobsAdapter } from '../../src/engine/executors/ray/index.js';
import { FakeRay } from '../fakes/ray.mjs';
import { executorContract } from './executor-contract.js';

executorContract({
  name: 'ray (fake Ray Jobs API)',
  async make() {
    const fake = new FakeRay({ startDelayMs: 20, stopGraceMs: 100 });
    await fake.start();
    const adapter = new RayJobsAdapter({ address: fake.url, env: {}, callTimeoutMs: 2000, retries: { attempts: 4, baseMs: 10, maxMs: 50 }, pollIntervalMs: 25 });
    return {
      adapter,
      spec(code: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): LaunchSpec {
        return {
          task: 'contract-task',
          command: [process.execPath, '-e', code],
          env: opts.env ?? {},
          resources: {},
          ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        };
      },
      async forget(h) {
        fake.forget(h.backendId);
      },
      async started(submissionId: string) {
        return fake.jobsStarted()[submissionId] ?? 0;
      },
      async close() {
        adapter.close();
        await fake.close();
      },
    };
  },
});
