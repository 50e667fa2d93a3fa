/**
 * The durable executor contract suite (src/engine/executors/contract.ts): every ExecutorAdapter
 * passes it, through a ContractTarget that knows how to make the adapter and how to look behind it.
 *
 * A target for a fake-backed adapter (a loopback fake kube-apiserver, say) maps `forget` to the
 * fake's "forget this job" hook and `started` to its request journal (how many creates of that
 * submission id made a job). Jobs are `node -e <code>` programs; the codes used here are:
 * - `console.log("<word>")` and exit 0 (success, logs);
 * - `process.exit(3)` (failure);
 * - `setTimeout(() => {}, 600)` (a short job) and `setInterval(() => {}, 1000)` (runs until stopped);
 * - `console.log("ENV=" + process.env.LARKFLOW_CONTRACT_VAR)` with that variable in `spec.env`.
 * A fake that cannot run node can recognize them by these exact texts (see `JOBS`).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  TERMINAL_PHASES,
  type AttemptRef,
  type ExecutionHandle,
  type ExecutorAdapter,
  type LaunchSpec,
  type Phase,
  type StatusReport,
} from '../../src/engine/executors/contract.js';

export interface ContractTarget {
  name: string;
  make(): Promise<{
    adapter: ExecutorAdapter;
    /** a LaunchSpec whose command runs node -e <code> with env */
    spec(code: string, opts?: { env?: Record<string, string>; timeoutMs?: number }): LaunchSpec;
    /** simulate the backend forgetting a job */
    forget(h: ExecutionHandle): Promise<void>;
    /** count of jobs the backend really started for a submission id */
    started(submissionId: string): Promise<number>;
    close(): Promise<void>;
  }>;
}

/** The job programs the suite runs (exact `node -e` codes). */
export const JOBS = {
  hello: (word: string) => `console.log(${JSON.stringify(word)})`,
  exit3: 'process.exit(3)',
  short: 'setTimeout(() => {}, 600)',
  forever: 'setInterval(() => {}, 1000)',
  printEnv: 'console.log("ENV=" + process.env.LARKFLOW_CONTRACT_VAR)',
} as const;

/** Polls `status` every 25 ms until a terminal phase, or fails after `ms`. */
export async function waitTerminal(adapter: ExecutorAdapter, h: ExecutionHandle, ms = 5000): Promise<StatusReport> {
  return waitPhase(adapter, h, (p) => TERMINAL_PHASES.has(p), ms);
}

/** Polls `status` every 25 ms until `want(phase)`, or fails after `ms` (with the last status seen). */
export async function waitPhase(adapter: ExecutorAdapter, h: ExecutionHandle, want: (p: Phase) => boolean, ms = 5000): Promise<StatusReport> {
  const until = Date.now() + ms;
  let last: StatusReport | undefined;
  for (;;) {
    last = await adapter.status(h);
    if (want(last.phase)) return last;
    if (Date.now() >= until) throw new Error(`job ${h.submissionId}: still ${last.phase} (${last.rawState}) after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The whole log of a job, following the cursor (or one call when the backend has none). */
export async function allLogs(adapter: ExecutorAdapter, h: ExecutionHandle): Promise<string> {
  let text = '';
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const chunk = await adapter.logs(h, cursor === undefined ? {} : { cursor });
    text += chunk.text;
    if (chunk.nextCursor === undefined || chunk.nextCursor === cursor || chunk.text === '') break;
    cursor = chunk.nextCursor;
  }
  return text;
}

export function executorContract(target: ContractTarget): void {
  describe(`executor contract: ${target.name}`, () => {
    let t: Awaited<ReturnType<ContractTarget['make']>>;
    const ref = (attempt = 1): AttemptRef => ({ runId: `run-${randomUUID()}`, stepId: 'step-1', attempt });

    beforeAll(async () => {
      t = await target.make();
    });
    afterAll(async () => {
      await t?.close();
    });

    it('a job that exits 0 reaches SUCCEEDED, and its stdout is in the logs', async () => {
      const h = await t.adapter.submit(t.spec(JOBS.hello('hello-from-the-job')), ref());
      expect(h.executor).toBe(t.adapter.kind);
      const s = await waitTerminal(t.adapter, h);
      expect(s.phase).toBe('SUCCEEDED');
      const first = await t.adapter.logs(h);
      expect(first.available).toBe(true);
      expect(first.text).toContain('hello-from-the-job');
      if (first.nextCursor !== undefined) {
        // Nothing was written since: the cursor does not repeat the text.
        const next = await t.adapter.logs(h, { cursor: first.nextCursor });
        expect(next.text).not.toContain('hello-from-the-job');
      }
    });

    it('a non-zero exit is FAILED with the exit code', async () => {
      const h = await t.adapter.submit(t.spec(JOBS.exit3), ref());
      const s = await waitTerminal(t.adapter, h);
      expect(s.phase).toBe('FAILED');
      expect(s.exitCode).toBe(3);
    });

    it('submitting the same attempt twice, in sequence, gives the same handle and starts one job', async () => {
      const r = ref();
      const spec = t.spec(JOBS.short);
      const a = await t.adapter.submit(spec, r);
      const b = await t.adapter.submit(spec, r);
      expect(b).toEqual(a);
      expect((await waitTerminal(t.adapter, a)).phase).toBe('SUCCEEDED');
      const c = await t.adapter.submit(spec, r); // after the end too
      expect(c).toEqual(a);
      expect(await t.started(a.submissionId)).toBe(1);
    });

    it('concurrent submits of one attempt give the same handle and start one job', async () => {
      const r = ref();
      const spec = t.spec(JOBS.short);
      const hs = await Promise.all([t.adapter.submit(spec, r), t.adapter.submit(spec, r), t.adapter.submit(spec, r)]);
      expect(hs[1]).toEqual(hs[0]);
      expect(hs[2]).toEqual(hs[0]);
      expect((await waitTerminal(t.adapter, hs[0]!)).phase).toBe('SUCCEEDED');
      expect(await t.started(hs[0]!.submissionId)).toBe(1);
    });

    it('lookup finds a submitted attempt, and null for one never submitted', async () => {
      const r = ref();
      const h = await t.adapter.submit(t.spec(JOBS.short), r);
      expect(await t.adapter.lookup(r)).toEqual(h);
      expect(await t.adapter.lookup({ ...r, attempt: 2 })).toBeNull();
      expect(await t.adapter.lookup(ref())).toBeNull();
      await waitTerminal(t.adapter, h);
      expect(await t.adapter.lookup(r)).toEqual(h);
    });

    it('a new attempt number is a new submission id and a new job', async () => {
      const r1 = ref(1);
      const r2 = { ...r1, attempt: 2 };
      const spec = t.spec(JOBS.hello('attempt'));
      const h1 = await t.adapter.submit(spec, r1);
      const h2 = await t.adapter.submit(spec, r2);
      expect(h2.submissionId).not.toBe(h1.submissionId);
      expect(h2.backendId).not.toBe(h1.backendId);
      expect((await waitTerminal(t.adapter, h1)).phase).toBe('SUCCEEDED');
      expect((await waitTerminal(t.adapter, h2)).phase).toBe('SUCCEEDED');
      expect(await t.started(h1.submissionId)).toBe(1);
      expect(await t.started(h2.submissionId)).toBe(1);
      expect(await t.adapter.lookup(r1)).toEqual(h1);
      expect(await t.adapter.lookup(r2)).toEqual(h2);
    });

    it('cancel of a running job ends CANCELLED; cancel is idempotent; then it is already terminal', async () => {
      const h = await t.adapter.submit(t.spec(JOBS.forever), ref());
      await waitPhase(t.adapter, h, (p) => p === 'RUNNING');
      expect(await t.adapter.cancel(h)).toBe('requested');
      expect(['requested', 'already-terminal']).toContain(await t.adapter.cancel(h));
      const s = await waitTerminal(t.adapter, h);
      expect(s.phase).toBe('CANCELLED');
      expect(await t.adapter.cancel(h)).toBe('already-terminal');
      expect((await t.adapter.status(h)).phase).toBe('CANCELLED');
    });

    it('cancel of a finished job is already-terminal and keeps its phase', async () => {
      const h = await t.adapter.submit(t.spec(JOBS.hello('done')), ref());
      expect((await waitTerminal(t.adapter, h)).phase).toBe('SUCCEEDED');
      expect(await t.adapter.cancel(h)).toBe('already-terminal');
      expect((await t.adapter.status(h)).phase).toBe('SUCCEEDED');
    });

    it('a job the backend forgot is LOST', async () => {
      const h = await t.adapter.submit(t.spec(JOBS.forever), ref());
      await waitPhase(t.adapter, h, (p) => p === 'RUNNING');
      await t.forget(h);
      const s = await waitTerminal(t.adapter, h);
      expect(s.phase).toBe('LOST');
    });

    it('a job past its timeoutMs is FAILED with reason DeadlineExceeded', async () => {
      const h = await t.adapter.submit(t.spec(JOBS.forever, { timeoutMs: 300 }), ref());
      const s = await waitTerminal(t.adapter, h, 6000);
      expect(s.phase).toBe('FAILED');
      expect(s.reason).toBe('DeadlineExceeded');
    });

    it('spec.env reaches the job', async () => {
      const h = await t.adapter.submit(t.spec(JOBS.printEnv, { env: { LARKFLOW_CONTRACT_VAR: 'v-42' } }), ref());
      expect((await waitTerminal(t.adapter, h)).phase).toBe('SUCCEEDED');
      expect(await allLogs(t.adapter, h)).toContain('ENV=v-42');
    });
  });
}
