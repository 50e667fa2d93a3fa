/**
 * The shared task queue wired into the engine, on a real PostgreSQL: attempts of queued executors
 * become `tasks` rows that any worker's poller runs; the result reaches the run through its inbox
 * and is recorded with the message's receipt in one append; a run whose only work is queued is
 * parked meanwhile (its lease given up); a poller that takes over a task whose holder died
 * re-attaches to the recorded remote job instead of submitting another; a cancelled run's task is
 * withdrawn (its attempt stopped); a queue's seats cap its attempts across workers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor, HistoryEvent, TaskHandle, TaskOutcome, TaskRequest } from '../../src/engine/index.js';
import { SharedWorker } from '../../src/engine/distributed/shared-worker.js';
import type { SharedWorkerOptions } from '../../src/engine/distributed/shared-worker.js';
import type { PostgresEventStore } from '../../src/engine/store/postgres/index.js';
import '../../src/stdlib/index.js';
import { startPostgres, type PgServer } from '../helpers/postgres.js';
import { migratedDatabase, pgRows as sql, submitRuns, until } from '../helpers/shared-db.js';

const dir = mkdtempSync(join(tmpdir(), 'larkflow-tq-'));
let server: PgServer;
let n = 0;

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);

afterAll(async () => {
  await server?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function fresh(): Promise<{ url: string; store: PostgresEventStore }> {
  return migratedDatabase(server, `tq${++n}`);
}


const ended = (store: PostgresEventStore, runId: string) => async () => {
  const r = await store.getRun(runId);
  return r && r.status !== 'running' ? r : undefined;
};


/**
 * A remote backend in miniature, shared by every worker of a test: `submit` starts a "job" that
 * ends after `ms` (its first argument) with twice its second, names it (onSubmitted) like a real
 * adapter, and re-attaches to the job a request names in `submitted` instead of starting another.
 */
class FakeRemote implements Executor {
  readonly name = 'fake';
  submits = 0;
  attaches = 0;
  aborted = 0;
  running = 0;
  maxRunning = 0;
  private readonly jobs = new Map<string, { endsAt: number; value: number }>();
  canRun(): boolean {
    return true;
  }
  submit(req: TaskRequest): TaskHandle {
    const id = `${req.runId}/${req.stepId}/${req.attempt}`;
    const [ms, x] = req.args as [number, number];
    let job = req.submitted ? this.jobs.get(req.submitted.submissionId) : undefined;
    if (job) this.attaches++;
    else {
      this.submits++;
      job = { endsAt: Date.now() + ms, value: x * 2 };
      this.jobs.set(id, job);
      setTimeout(() => req.onSubmitted?.({ executor: 'fake', submissionId: id, backendId: `job-${this.submits}` }), 5);
    }
    const theJob = job;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const done = new Promise<TaskOutcome>((resolve) => {
      const finish = (o: TaskOutcome): void => {
        clearTimeout(timer);
        this.running--;
        resolve(o);
      };
      const timer = setTimeout(() => finish({ ok: true, value: theJob.value }), Math.max(0, theJob.endsAt - Date.now()));
      req.signal.addEventListener('abort', () => {
        this.aborted++;
        finish({ ok: false, error: { kind: 'cancelled', message: 'cancelled', retryable: false } });
      });
    });
    return { id, done };
  }
  cancel(): void {}
}

function worker(store: PostgresEventStore, fake: FakeRemote, extra: Partial<SharedWorkerOptions> = {}): SharedWorker {
  return SharedWorker.start({
    store,
    pollIntervalMs: 50,
    leaseMs: 1500,
    engine: { workDir: join(dir, `w${++n}`), executors: [fake] },
    taskQueue: { executors: ['fake'], parkAfterMs: 100, leaseMs: 600 },
    ...extra,
  });
}

const REMOTE = `work = task("work", executor = "fake")

@workflow()
def main(ms, x):
    return work(ms, x) + work(100, x + 1)
`;

describe('the task queue in the engine (PostgreSQL)', () => {
  it('runs queued attempts on any worker, parks the run meanwhile, and records each result once with its receipt', async () => {
    const { url, store } = await fresh();
    const fake = new FakeRemote();
    const [runId] = await submitRuns(store, REMOTE, { args: [1500, 20] });
    const a = worker(store, fake);
    try {
      // While the 1.5 s job runs, nobody holds the run.
      await until('the run to be parked', async () => a.stats.parked >= 1 && (await store.leaseOf(runId!))?.owner === null);
      const rec = await until('the run to end', ended(store, runId!));
      expect(rec.status).toBe('completed');
      const h = await store.history(runId!);
      expect(h[h.length - 1]).toMatchObject({ kind: 'RunCompleted', result: 40 + 42 });
      // Each result: the inbox message's receipt, the job's id, the attempt's end, in one append.
      const receipts = h.filter((e) => e.kind === 'SignalReceived' && e.name === '__task_result__');
      expect(receipts).toHaveLength(2);
      for (const r of receipts) {
        const next = h.slice(r.seq).slice(0, 2).map((e) => e.kind);
        expect(next).toEqual(['AttemptSubmitted', 'TaskCompleted']);
      }
      expect(fake.submits).toBe(2);
      const done = await sql<{ step_key: string; outcome: string }>(url, 'SELECT step_key, outcome FROM task_history ORDER BY step_key');
      expect(done.map((d) => d.outcome)).toEqual(['succeeded', 'succeeded']);
      expect(await sql(url, 'SELECT 1 FROM tasks')).toHaveLength(0);
      expect(await sql(url, 'SELECT 1 FROM inbox WHERE consumed_seq IS NULL')).toHaveLength(0);
    } finally {
      await a.stop({ drainMs: 100 });
      await store.close();
    }
  }, 30_000);

  it('a failed attempt is retried as a new task row; the retry policy stays in the history', async () => {
    const { url, store } = await fresh();
    let calls = 0;
    const [runId] = await submitRuns(store, 'flaky = task("flaky", retry = RetryPolicy(max_attempts = 3, initial_interval = "10ms"))\n\n@workflow()\ndef main():\n    return flaky()\n');
    const w = SharedWorker.start({
      store,
      pollIntervalMs: 50,
      leaseMs: 1500,
      engine: { workDir: join(dir, `w${++n}`) },
      taskQueue: { executors: ['local'], parkAfterMs: 100 },
      setup: (e) =>
        e.registerTask('flaky', () => {
          calls++;
          if (calls < 3) throw new Error(`try ${calls} fails`);
          return 'ok';
        }),
    });
    try {
      const rec = await until('the run to end', ended(store, runId!));
      expect(rec.status).toBe('completed');
      const h = await store.history(runId!);
      expect(h.filter((e) => e.kind === 'AttemptFailed').map((e) => (e as HistoryEvent & { kind: 'AttemptFailed' }).error.message)).toEqual(['try 1 fails', 'try 2 fails']);
      expect(h.filter((e) => e.kind === 'RetryScheduled')).toHaveLength(2);
      expect(h[h.length - 1]).toMatchObject({ kind: 'RunCompleted', result: 'ok' });
      const rows = await sql<{ attempt: number; outcome: string }>(url, 'SELECT attempt, outcome FROM task_history ORDER BY attempt');
      expect(rows).toEqual([
        { attempt: 1, outcome: 'failed' },
        { attempt: 2, outcome: 'failed' },
        { attempt: 3, outcome: 'succeeded' },
      ]);
      expect(calls).toBe(3);
    } finally {
      await w.stop({ drainMs: 100 });
      await store.close();
    }
  }, 30_000);

  it('a poller that takes over a task whose holder died re-attaches to its job instead of submitting again', async () => {
    const { url, store } = await fresh();
    const fake = new FakeRemote();
    const [runId] = await submitRuns(store, 'work = task("work", executor = "fake")\n\n@workflow()\ndef main():\n    return work(2500, 5)\n');
    const a = worker(store, fake);
    let b: SharedWorker | undefined;
    try {
      // A's poller submits the job and records it on the task row; then A dies.
      await until('the job to be recorded', async () => (await sql(url, 'SELECT 1 FROM tasks WHERE external_ref IS NOT NULL')).length === 1);
      a.abandon();
      b = worker(store, fake);
      const rec = await until('the run to end', ended(store, runId!));
      expect(rec.status).toBe('completed');
      expect(fake.submits).toBe(1);
      expect(fake.attaches).toBe(1);
      expect(b.tasks!.stats.reattached).toBe(1);
      const h = await store.history(runId!);
      expect(h[h.length - 1]).toMatchObject({ kind: 'RunCompleted', result: 10 });
      expect(h.filter((e) => e.kind === 'AttemptSubmitted')).toMatchObject([{ backendId: 'job-1' }]);
      // The task changed hands once: the dead holder's epoch, then the new one's.
      const [row] = await sql<{ owner: string; epoch: string }>(url, 'SELECT owner, epoch FROM task_history');
      expect(row!.owner).toBe(b.workerId);
      expect(Number(row!.epoch)).toBeGreaterThanOrEqual(3); // claim, requeue, claim
    } finally {
      await b?.stop({ drainMs: 100 });
      await store.close();
    }
  }, 30_000);

  it('cancelling a run withdraws its queued attempt: the job is stopped and the run ends cancelled', async () => {
    const { url, store } = await fresh();
    const fake = new FakeRemote();
    const [runId] = await submitRuns(store, 'work = task("work", executor = "fake")\n\n@workflow()\ndef main():\n    return work(60000, 1)\n');
    const w = worker(store, fake);
    try {
      await until('the job to run', () => fake.running === 1);
      await store.postInbox(runId!, { kind: 'signal', name: '__cancel__', payload: { reason: 'no longer needed' } });
      const rec = await until('the run to end', ended(store, runId!));
      expect(rec.status).toBe('cancelled');
      await until('the job to be stopped', () => fake.aborted === 1);
      expect(w.tasks!.stats.withdrawn).toBe(1);
      const rows = await sql<{ outcome: string }>(url, 'SELECT outcome FROM task_history');
      expect(rows).toEqual([{ outcome: 'cancelled' }]);
      const h = await store.history(runId!);
      expect(h.find((e) => e.kind === 'AttemptFailed')).toMatchObject({ error: { kind: 'cancelled' } });
    } finally {
      await w.stop({ drainMs: 100 });
      await store.close();
    }
  }, 30_000);

  it("a queue's seats cap its attempts across workers", async () => {
    const { store } = await fresh();
    const fake = new FakeRemote();
    const ids = await submitRuns(store, 'work = task("work", executor = "fake")\n\n@workflow()\ndef main():\n    return work(300, 1)\n', { count: 6 });
    const limits = { fake: 2 };
    const a = worker(store, fake, { taskQueue: { executors: ['fake'], parkAfterMs: 100, limits } });
    const b = worker(store, fake, { taskQueue: { executors: ['fake'], parkAfterMs: 100, limits } });
    try {
      for (const id of ids) expect((await until('every run to end', ended(store, id))).status).toBe('completed');
      expect(fake.submits).toBe(6);
      expect(fake.maxRunning).toBe(2);
    } finally {
      await Promise.all([a.stop({ drainMs: 100 }), b.stop({ drainMs: 100 })]);
      await store.close();
    }
  }, 30_000);
});
