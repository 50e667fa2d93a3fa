/**
 * This file defines a worker's task poller (scale-out notes §5.3): it claims queued attempts in
 * bounded batches (`FOR UPDATE SKIP LOCKED`, one queue per executor; a queue with a concurrency
 * limit through its seats), runs each here on the engine's executors, renews the leases every
 * quarter lease, and posts each outcome to its run's inbox in the transaction that takes the task
 * out of the queue. The run's owner, whichever worker that is by then, records it.
 *
 * Remote jobs: the job's id is recorded on the task with a fenced update as soon as the backend
 * names it; a poller that takes a task over (its holder died or stalled) passes it to the executor,
 * which re-attaches to the job instead of submitting another. A lease lost to another poller stops
 * only the watching here (the job goes on, watched by the new holder); a task withdrawn (its run
 * cancelled, its step timed out) is cancelled.
 */
import type { Json } from '../core/json.js';
import type { Executor, QueuedAttempt, SubmittedJob, TaskHandle, TaskOutcome } from '../core/ports.js';
import type { Engine } from '../engine.js';
import type { PostgresTaskQueue, TaskLease } from '../store/postgres/task-queue.js';
import { postTaskResults } from '../store/postgres/task-results.js';

export interface TaskPollerOptions {
  readonly queue: PostgresTaskQueue;
  /** Runs the attempts (its executors and registered tasks). */
  readonly engine: Engine;
  /** The worker id recorded as the tasks' owner. */
  readonly owner: string;
  /** The executors (queues) this poller serves. */
  readonly executors: readonly string[];
  /** Most attempts running here at once. */
  readonly concurrency: number;
  /** Task lease length (ms); renewed every quarter. */
  readonly leaseMs: number;
  /** Concurrency limits across all workers, by executor (seats). */
  readonly limits?: Readonly<Record<string, number>>;
  /** Called once an outcome is posted to its run's inbox (a hint: the run may be held in this process). */
  readonly onPosted?: (runId: string) => void;
  /** Readies the engine for an attempt before it runs (sets up the remote executor it names). */
  readonly prepare?: (attempt: QueuedAttempt) => Promise<void>;
  readonly onError: (e: Error) => void;
}

interface Running {
  readonly lease: TaskLease;
  readonly abort: AbortController;
  handle?: TaskHandle;
  executor?: Executor;
  job?: SubmittedJob;
  /** The lease was lost: the outcome is not posted. */
  lost?: boolean;
}

export class TaskPoller {
  private readonly running = new Map<number, Running>();
  private readonly finishing = new Set<Promise<void>>();
  private renewTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private limitsSet: Promise<void> | undefined;
  /** Counters for tests and logs. */
  readonly stats = { claimed: 0, finished: 0, lost: 0, withdrawn: 0, reattached: 0 };

  constructor(private readonly options: TaskPollerOptions) {
    const every = Math.max(50, Math.floor(options.leaseMs / 4));
    this.renewTimer = setInterval(() => void this.renew(), every);
    this.renewTimer.unref();
  }

  /** Attempts running here now. */
  get inFlight(): number {
    return this.running.size;
  }

  private polling: Promise<void> | undefined;
  private pollAgain = false;

  /**
   * Requeues expired leases (anyone's), then claims up to the free slots and starts them. One poll
   * at a time: a call during one makes it go again once (so hints are never lost, and slots never
   * over-claimed).
   */
  poll(): Promise<void> {
    if (this.polling) {
      this.pollAgain = true;
      return this.polling;
    }
    this.polling = (async () => {
      try {
        do {
          this.pollAgain = false;
          await this.pollOnce();
        } while (this.pollAgain && !this.stopped);
      } finally {
        this.polling = undefined;
      }
    })();
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    if (this.stopped) return;
    const { queue, owner, executors, leaseMs } = this.options;
    const limits = this.options.limits ?? {};
    this.limitsSet ??= Promise.all(Object.entries(limits).map(([q, n]) => queue.setQueueLimit(q, n))).then(() => undefined);
    await this.limitsSet.catch((e: unknown) => {
      this.limitsSet = undefined;
      throw e;
    });
    await queue.requeueExpired(100);
    let free = this.options.concurrency - this.running.size;
    if (free <= 0) return;
    const claimed: TaskLease[] = [];
    for (const q of executors.filter((x) => limits[x] !== undefined)) {
      if (free <= 0) break;
      const got = await queue.claimWithSeats(owner, q, free, leaseMs);
      claimed.push(...got);
      free -= got.length;
    }
    const open = executors.filter((x) => limits[x] === undefined);
    if (free > 0 && open.length > 0) claimed.push(...(await queue.claim(owner, open, free, leaseMs)));
    for (const lease of claimed) {
      if (this.stopped) {
        await queue.release([lease]).catch(() => undefined);
        continue;
      }
      this.stats.claimed++;
      this.start(lease);
    }
  }

  private start(lease: TaskLease): void {
    const r: Running = { lease, abort: new AbortController() };
    this.running.set(lease.taskId, r);
    const spec = lease.spec as QueuedAttempt;
    if (!this.options.prepare) return this.run(r, spec);
    this.options.prepare(spec).then(
      () => this.run(r, spec),
      (e: unknown) => this.settle(r, { ok: false, error: { kind: 'executor', message: `this worker cannot set up executor ${spec.executor}: ${(e as Error).message}`, retryable: true } }),
    );
  }

  private run(r: Running, spec: QueuedAttempt): void {
    const { lease } = r;
    let recorded: SubmittedJob | undefined;
    if (lease.externalRef !== null) {
      try {
        recorded = JSON.parse(lease.externalRef) as SubmittedJob;
        this.stats.reattached++;
      } catch {
        recorded = undefined;
      }
    }
    let started;
    try {
      started = this.options.engine.runQueuedAttempt({ ...spec, ...(recorded ?? spec.submitted ? { submitted: recorded ?? spec.submitted! } : {}) }, {
        signal: r.abort.signal,
        onSubmitted: (job) => {
          r.job = job;
          this.options.queue.recordExternalRef(lease, JSON.stringify(job)).then(
            (res) => {
              if (res === 'fenced') void this.lose(r);
            },
            (e: unknown) => this.options.onError(new Error(`cannot record the job of task ${lease.taskId}: ${(e as Error).message}`)),
          );
        },
      });
    } catch (e) {
      started = `the executor failed to start the attempt: ${(e as Error).message}`;
    }
    if (typeof started === 'string') {
      this.settle(r, { ok: false, error: { kind: 'executor', message: started, retryable: false } });
      return;
    }
    r.handle = started.handle;
    r.executor = started.executor;
    if (recorded) r.job = recorded;
    else if (spec.submitted) {
      // The job was submitted before the attempt was queued (by the run's earlier owner): record it
      // on the task, so that a poller taking the task over re-attaches too.
      r.job = spec.submitted;
      this.options.queue.recordExternalRef(lease, JSON.stringify(spec.submitted)).catch(() => undefined);
    }
    started.handle.done.then(
      (outcome) => this.settle(r, outcome),
      (e: unknown) => this.settle(r, { ok: false, error: { kind: 'executor', message: String(e), retryable: true } }),
    );
  }

  /** Posts an outcome (trying again while the lease holds), then forgets the task. */
  private settle(r: Running, outcome: TaskOutcome): void {
    const p = this.finish(r, outcome).finally(() => {
      // (The same task may be running here again under a newer lease: leave that one.)
      if (this.running.get(r.lease.taskId) === r) this.running.delete(r.lease.taskId);
      this.finishing.delete(p);
    });
    this.finishing.add(p);
  }

  private async finish(r: Running, outcome: TaskOutcome): Promise<void> {
    const { lease } = r;
    const payload: { [k: string]: Json } = { stepId: lease.stepKey, attempt: lease.attempt, outcome: outcome as unknown as Json };
    if (r.job) payload['submitted'] = r.job as unknown as Json;
    const status = outcome.ok ? 'succeeded' : outcome.error.kind === 'cancelled' ? 'cancelled' : 'failed';
    const result = (outcome.ok ? outcome.value : outcome.error) as Json;
    for (let delay = 200; !r.lost; delay = Math.min(delay * 2, 2000)) {
      try {
        const res = await this.options.queue.finish(lease, { status, result }, (client, f) => postTaskResults(client, [{ runId: lease.runId, payload, key: `task:${f.dedupeKey}` }]));
        if (res === 'ok') {
          this.stats.finished++;
          this.options.onPosted?.(lease.runId);
        } else this.stats.lost++;
        return;
      } catch (e) {
        // The database is unreachable: the lease has slack; once it is gone, another poller runs
        // the task again (or re-attaches to its job).
        this.options.onError(new Error(`cannot post the result of task ${lease.taskId} (run ${lease.runId}, step ${lease.stepKey}): ${(e as Error).message}`));
        if (this.stopped && Date.now() > lease.leaseUntil) return;
        await new Promise((res) => setTimeout(res, delay).unref());
      }
    }
  }

  /** Renews the leases of the attempts running here; the lost ones are dropped (cancelled if withdrawn). */
  private async renew(): Promise<void> {
    const byLease = new Map([...this.running.values()].filter((r) => !r.lost).map((r) => [r.lease, r] as const));
    if (byLease.size === 0) return;
    let lost: TaskLease[];
    try {
      lost = await this.options.queue.renew([...byLease.keys()], this.options.leaseMs);
    } catch {
      return; // unreachable database: the lease has slack; try again next quarter
    }
    for (const l of lost) {
      const r = byLease.get(l);
      if (r) await this.lose(r);
    }
  }

  private async lose(r: Running): Promise<void> {
    if (r.lost) return;
    r.lost = true;
    const withdrawn = await this.options.queue.wasWithdrawn(r.lease.taskId).catch(() => false);
    // A remote job another poller now watches goes on; a withdrawn one, or an in-process attempt
    // whose result nobody will take, stops.
    const remote = r.job !== undefined;
    if (withdrawn) this.stats.withdrawn++;
    else this.stats.lost++;
    if (withdrawn || !remote) r.abort.abort(new Error(withdrawn ? 'the task was withdrawn' : 'the task lease was lost'));
    if (!withdrawn && remote && this.running.get(r.lease.taskId) === r) this.running.delete(r.lease.taskId);
  }

  /**
   * Stops claiming; lets the attempts running here finish for up to `drainMs` (their results are
   * posted); then gives the leases of the rest back, so another worker takes them at once (and
   * re-attaches to their remote jobs).
   */
  async stop(drainMs: number): Promise<void> {
    this.stopped = true;
    const until = Date.now() + drainMs;
    while (this.running.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const rest = [...this.running.values()].filter((r) => !r.lost);
    if (rest.length > 0) {
      for (const r of rest) r.lost = true;
      await this.options.queue.release(rest.map((r) => r.lease)).catch(() => undefined);
      // In-process attempts stop; remote jobs go on, for the next poller to re-attach to.
      for (const r of rest) if (r.job === undefined) r.abort.abort(new Error('the worker is stopping'));
    }
    await Promise.all([...this.finishing]);
    if (this.renewTimer) clearInterval(this.renewTimer);
  }

  /** Stops at once, as a crash would (tests): leases run out on their own. */
  abandon(): void {
    this.stopped = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    for (const r of this.running.values()) r.lost = true;
  }
}
