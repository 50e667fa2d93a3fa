/**
 * This file defines a worker of a shared database (PostgreSQL): one of N identical processes on
 * any hosts that together drive every run. Each poll it claims runs nobody holds (a new run, or one
 * whose worker died or stalled past its lease) with one SKIP LOCKED statement, reads their
 * histories and scripts, and hands them to an ordinary `Engine` over a `MirrorStore`: the engine
 * replays each history and goes on exactly as the embedded engine does, its appends group-committed
 * to the database under the run's lease and fencing epoch. There is no coordinator: a lease that
 * runs out makes the run claimable, and the new owner's higher epoch refuses every late write of
 * the old one.
 */
import { hostname } from 'node:os';
import { Engine } from '../engine.js';
import type { EngineOptions } from '../engine.js';
import type { AsyncEventStore } from '../store/async-store.js';
import type { QueuedAttempt } from '../core/ports.js';
import { UsageError } from '../core/errors.js';
import { RemoteExecutor } from '../attempts/remote-executor.js';
import type { PostgresTaskQueue } from '../store/postgres/task-queue.js';
import { deliverDue } from '../notify/deliver.js';
import { MirrorStore } from './mirror-store.js';
import { pendingWork } from './pending-work.js';
import type { MirrorHooks } from './mirror-store.js';
import { QueueDispatch } from './queue-dispatch.js';
import { TaskPoller } from './task-poller.js';

/** How a worker uses the shared task queue (PostgreSQL; scale-out notes §5.3). */
export interface SharedTaskQueueOptions {
  /**
   * Which executors' attempts go to the queue instead of running in the run owner's process:
   * 'remote' (Kubernetes, Ray, Spark... jobs), 'all' (every task but Starlark ones), or names.
   */
  readonly executors: 'remote' | 'all' | readonly string[];
  /** Most queued attempts this worker runs at once. @default 8 */
  readonly concurrency?: number;
  /** Concurrency limits across all workers, by executor (seats in the database). */
  readonly limits?: Readonly<Record<string, number>>;
  /** Task lease length (ms). @default the run lease */
  readonly leaseMs?: number;
  /**
   * A run whose only work is queued attempts is parked once the newest has waited this long (ms),
   * so quick tasks do not make it change hands. @default 1000
   */
  readonly parkAfterMs?: number;
}

/** A parent waiting on child runs parks once the newest has run this long (ms). */
const CHILD_PARK_AFTER_MS = 1000;
/**
 * A parked parent looks at its children at least this often (ms): a child's end also posts a
 * message that wakes it at once, but that post is a hint, made after the child's end is committed.
 */
const CHILD_CHECK_MS = 60_000;

export interface SharedWorkerOptions {
  /** The shared database. */
  readonly store: AsyncEventStore;
  /** How the engine runs tasks (executors, concurrency, budgets...); `db` is the mirror. */
  readonly engine?: Omit<EngineOptions, 'db' | 'leaseMs'>;
  /** Registers tasks on the engine before it takes runs. */
  readonly setup?: (engine: Engine) => void;
  /**
   * Readies the engine for runs it just claimed, before it recovers them (the CLI sets up the remote
   * executors they recorded, so the engine re-attaches to their jobs).
   */
  readonly prepareRuns?: (engine: Engine, runIds: readonly string[]) => Promise<void>;
  /** Readies the engine for an attempt its task poller took (sets up the executor it names). */
  readonly prepareAttempt?: (engine: Engine, attempt: QueuedAttempt) => Promise<void>;
  /** Most runs held at once. @default 50 */
  readonly maxRuns?: number;
  /**
   * Most runs claimed by one poll, so that workers starting together share the runs out instead of
   * the first one taking all it may hold (and a bounded claim keeps each statement short). @default 10
   */
  readonly claimBatch?: number;
  /**
   * A run that waits only on durable timers due later than this (ms), or only on signals, is
   * parked: its lease is given up and it is claimable again when due (or when a signal arrives),
   * so a worker holds only runs that have work. @default 60000
   */
  readonly parkAfterMs?: number;
  /** How often to look for claimable runs and inbox messages (ms). @default 500 */
  readonly pollIntervalMs?: number;
  /** Lease length (ms); renewed every quarter. @default 15000 */
  readonly leaseMs?: number;
  /** The queues this worker takes runs of (RunStarted.queue; none is "default"). @default ["default"] */
  readonly queues?: readonly string[];
  /** Reports of the worker's writes (committed, refused). */
  readonly hooks?: MirrorHooks;
  /** Called with a failure of a poll (the worker goes on at the next one). @default a process warning */
  readonly onError?: (e: Error) => void;
  /**
   * Queue attempts in the database (PostgreSQL only): any worker runs them, results come back
   * through the runs' inboxes, and a run waiting on them is parked. @default no queue: a run's
   * attempts run in its owner's process
   */
  readonly taskQueue?: SharedTaskQueueOptions;
}

/**
 * Reads the inbox messages of the runs `mirror` holds from the database and lets the engine
 * deliver them (one query when none is waiting).
 */
export async function refreshInboxes(store: AsyncEventStore, mirror: MirrorStore, engine: Engine): Promise<void> {
  const ids = new Set(mirror.heldRunIds());
  if (ids.size === 0) return;
  const waiting = (await store.runsWithPendingInbox()).filter((id) => ids.has(id));
  for (const id of waiting) mirror.setInbox(id, await store.pendingInbox(id));
  if (waiting.length > 0) engine.pollNow();
}

export class SharedWorker {
  readonly engine: Engine;
  readonly mirror: MirrorStore;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  private readonly maxRuns: number;
  private readonly leaseMs: number;
  private readonly queues: readonly string[];
  private readonly onError: (e: Error) => void;
  /** Runs claimed (their epoch) whose history is being read. */
  private readonly adopting = new Set<string>();
  /** Runs taken over since start, and runs lost to another worker: for tests and `larkflow workers`. */
  readonly stats = { claimed: 0, finished: 0, lost: 0, parked: 0, polls: 0 };
  /** The worker's task poller, when it uses the task queue. */
  readonly tasks: TaskPoller | undefined;
  /** True for the executors whose attempts go to the task queue. */
  private readonly queued: (executor: string) => boolean;

  private constructor(private readonly options: SharedWorkerOptions) {
    this.maxRuns = options.maxRuns ?? 50;
    this.leaseMs = options.leaseMs ?? 15_000;
    this.queues = options.queues ?? ['default'];
    this.onError = options.onError ?? ((e) => process.emitWarning(`larkflow worker: ${e.message}`));
    // The engine's worker id is made in its constructor: the mirror learns it right after.
    this.mirror = new MirrorStore(options.store, '', this.leaseMs, options.hooks);
    const tq = options.taskQueue;
    let queue: PostgresTaskQueue | undefined;
    if (tq) {
      const withQueue = options.store as AsyncEventStore & { taskQueue?: () => PostgresTaskQueue };
      if (typeof withQueue.taskQueue !== 'function') throw new UsageError(`not supported yet: the task queue on a ${options.store.kind} database (use PostgreSQL, or run without taskQueue)`);
      queue = withQueue.taskQueue();
    }
    // Decided per executor name once the engine (and its executors) exist.
    let engine: Engine | undefined;
    this.queued = (name) => {
      if (!tq || name === 'starlark') return false;
      if (tq.executors === 'all') return true;
      if (tq.executors === 'remote') return engine?.executor(name) instanceof RemoteExecutor;
      return tq.executors.includes(name);
    };
    this.engine = engine = Engine.open({ ...options.engine, db: this.mirror, leaseMs: this.leaseMs, ...(queue ? { taskDispatch: new QueueDispatch(queue, this.queued, () => this.claimTasksSoon()) } : {}) });
    this.mirror.owner = this.engine.workerId;
    options.setup?.(this.engine);
    if (queue && tq) {
      const served = [...new Set([...this.engine.executorNames(), ...(tq.executors === 'all' ? ['python'] : []), ...(Array.isArray(tq.executors) ? tq.executors : [])])].filter((n) => this.queued(n));
      this.tasks = new TaskPoller({
        queue,
        engine: this.engine,
        owner: this.engine.workerId,
        executors: served,
        concurrency: tq.concurrency ?? 8,
        leaseMs: tq.leaseMs ?? this.leaseMs,
        ...(tq.limits ? { limits: tq.limits } : {}),
        ...(options.prepareAttempt ? { prepare: (a: QueuedAttempt) => options.prepareAttempt!(this.engine, a) } : {}),
        onPosted: (runId) => this.readInboxSoon(runId),
        onError: this.onError,
      });
    }
  }

  /** Starts a worker: it claims runs at once, then every poll interval. */
  static start(options: SharedWorkerOptions): SharedWorker {
    const w = new SharedWorker(options);
    w.timer = setInterval(() => w.pollSoon(), options.pollIntervalMs ?? 500);
    w.pollSoon();
    return w;
  }

  /**
   * True when the worker holds no run, is taking none up (a claimed run is in `adopting` from the
   * moment its claim returns) and runs no queued attempt. A poll in progress does not count: under
   * load polls follow each other without a gap.
   */
  get idle(): boolean {
    return this.adopting.size === 0 && this.mirror.heldRunIds().length === 0 && this.engine.liveRunIds().length === 0 && (this.tasks?.inFlight ?? 0) === 0;
  }

  /** The worker id recorded as the owner of the runs it holds. */
  get workerId(): string {
    return this.engine.workerId;
  }

  /**
   * Hints within this process (polling alone is correct; these only cut the wait for the next
   * poll): an attempt queued here may be claimed by this worker's poller at once, and a result
   * posted here for a run held here is read at once.
   */
  private claimTasksSoon(): void {
    if (this.stopped || !this.tasks) return;
    this.tasks.poll().catch((e: unknown) => this.onError(e instanceof Error ? e : new Error(String(e))));
  }

  private readInboxSoon(runId: string): void {
    if (this.stopped || !this.mirror.holds(runId)) return;
    this.options.store.pendingInbox(runId).then(
      (messages) => {
        if (!this.mirror.holds(runId)) return;
        this.mirror.setInbox(runId, messages);
        this.engine.pollNow();
      },
      () => undefined, // the next poll reads it
    );
  }

  private pollSoon(): void {
    if (this.stopped || this.polling) return;
    this.polling = this.poll()
      .catch((e: unknown) => this.onError(e instanceof Error ? e : new Error(String(e))))
      .finally(() => (this.polling = undefined));
  }

  /** One poll: forget finished runs, claim free ones, refresh inboxes, heartbeat. */
  async poll(): Promise<void> {
    this.stats.polls++;
    const store = this.options.store;
    // Runs that ended (durably) or were lost leave memory.
    for (const id of this.mirror.heldRunIds()) {
      if (!this.mirror.holds(id)) {
        this.stats.lost++;
        this.mirror.forget(id);
        this.waits.delete(id);
        continue;
      }
      const status = this.mirror.getRun(id)?.status;
      if (status !== undefined && status !== 'running' && status !== 'blocked' && !this.mirror.hasPendingWrites(id)) {
        this.stats.finished++;
        this.mirror.forget(id);
        this.waits.delete(id);
      }
    }
    await this.parkIdle();
    const held = this.mirror.heldRunIds().length + this.adopting.size;
    const free = Math.min(this.maxRuns - held, this.options.claimBatch ?? 10);
    if (free > 0 && !this.stopped) {
      const claimed = await store.claimRuns(this.workerId, free, this.leaseMs, this.queues);
      for (const c of claimed) this.adopting.add(c.runId);
      try {
        await Promise.all(
          claimed.map(async (c) => {
            try {
              const history = await store.history(c.runId);
              const first = history[0];
              const script = first?.kind === 'RunStarted' ? await store.getScript(first.scriptDigest) : undefined;
              this.mirror.adopt(c.epoch, history, script);
              this.stats.claimed++;
            } catch (e) {
              // This run only: the others of the batch are recovered; its lease runs out.
              this.mirror.forget(c.runId);
              this.onError(new Error(`cannot take run ${c.runId}: ${(e as Error).message}`));
            }
          }),
        );
      } finally {
        for (const c of claimed) this.adopting.delete(c.runId);
      }
      // Their children held elsewhere, as the database has them (recovery must not start them again),
      // and the runs resumed ones reuse steps of (recovery reads which).
      if (claimed.length > 0) {
        await this.refreshChildren(claimed.map((c) => c.runId));
        await this.noteResumedFrom(claimed.map((c) => c.runId));
      }
      if (claimed.length > 0 && this.options.prepareRuns) {
        try {
          await this.options.prepareRuns(this.engine, claimed.map((c) => c.runId));
        } catch (e) {
          this.onError(e instanceof Error ? e : new Error(String(e)));
        }
      }
      if (claimed.length > 0 && !this.stopped) {
        this.engine.recover();
        // A run the engine could not take up (its tasks are missing here, a blob is unreadable...)
        // is said, and given back at once (another worker may have what it needs).
        for (const c of claimed) {
          const issue = this.engine.recoveryIssues.get(c.runId);
          if (issue && issue.reason !== 'owned') this.onError(new Error(issue.message));
        }
      }
    }
    // Signals, cancellations and results of queued attempts posted to held runs.
    await refreshInboxes(store, this.mirror, this.engine);
    // Child runs other workers drive: a parent held here records their ends.
    await this.refreshChildren(this.mirror.heldRunIds(), true);
    if (this.tasks && !this.stopped) await this.tasks.poll();
    this.deliverSoon();
    await store.heartbeat({ workerId: this.workerId, host: hostname(), pid: process.pid, queues: this.queues });
  }

  private delivering: Promise<void> | undefined;

  /** Notes in the mirror the runs that the resumed runs among `runIds` reuse steps of. */
  private async noteResumedFrom(runIds: readonly string[]): Promise<void> {
    for (const id of runIds) {
      const first = this.mirror.holds(id) ? this.mirror.history(id)[0] : undefined;
      const from = first?.kind === 'RunStarted' ? first.resumedFrom?.runId : undefined;
      if (from === undefined || this.mirror.holds(from)) continue;
      const rec = await this.options.store.getRun(from);
      if (rec) this.mirror.noteForeign(rec, await this.options.store.history(from));
    }
  }

  /**
   * Reads from the database the child runs that `parents` wait on and that other workers drive
   * (one row read per child; the history too once it ended), notes them in the mirror, and with
   * `deliver`, hands the ends to the engine, which records each in its parent once.
   */
  private async refreshChildren(parents: readonly string[], deliver = false): Promise<void> {
    const store = this.options.store;
    for (const parentId of parents) {
      if (!this.mirror.holds(parentId)) continue;
      for (const childId of this.pendingWorkOf(parentId).children) {
        if (this.mirror.holds(childId)) continue; // driven here: the engine sees it end
        const rec = await store.getRun(childId);
        if (!rec) {
          this.mirror.forgetForeign(childId);
          continue;
        }
        if (rec.status === 'running') {
          this.mirror.noteForeign(rec);
          continue;
        }
        const history = await store.history(childId);
        this.mirror.noteForeign(rec, history);
        if (deliver) this.engine.childEnded(parentId, childId, rec.status, history);
      }
    }
  }

  /**
   * Delivers the due notifications of the shared outbox (any run's: rows are claimed with SKIP
   * LOCKED, so each goes out from one worker at a time, at least once, with its idempotency key),
   * in the background so that a slow receiver does not hold up the poll.
   */
  private deliverSoon(): void {
    if (this.delivering || this.stopped) return;
    this.delivering = deliverDue(this.options.store, { ...this.options.engine?.notifications, owner: this.workerId })
      .then(() => undefined)
      .catch((e: unknown) => this.onError(new Error(`cannot deliver notifications: ${(e as Error).message}`)))
      .finally(() => (this.delivering = undefined));
  }

  /** What each held run waits on, as of its last seq (recomputed only when its history grew). */
  private readonly waits = new Map<string, { seq: number; work: ReturnType<typeof pendingWork> }>();

  private pendingWorkOf(runId: string): ReturnType<typeof pendingWork> {
    const seq = this.mirror.getRun(runId)?.lastSeq ?? 0;
    const known = this.waits.get(runId);
    if (known && known.seq === seq) return known.work;
    const work = pendingWork(this.mirror.history(runId), this.queued);
    this.waits.set(runId, { seq, work });
    return work;
  }

  /** Parks the held runs that wait only on far timers or on signals (see `parkAfterMs`). */
  private async parkIdle(): Promise<void> {
    const after = this.options.parkAfterMs ?? 60_000;
    const now = Date.now();
    for (const id of this.mirror.heldRunIds()) {
      if (!this.mirror.holds(id) || this.mirror.hasPendingWrites(id)) continue;
      const w = this.pendingWorkOf(id);
      if (w.ended || w.busy || (w.wakeAt !== null && w.wakeAt - now < after)) continue;
      if (w.queuedSince !== null && now - w.queuedSince < (this.options.taskQueue?.parkAfterMs ?? 1000)) continue;
      // A parent waits for its children a little before it parks (quick children end first); parked,
      // it wakes when a child's end is posted to its inbox, or at the latest after CHILD_CHECK_MS.
      if (w.childrenSince !== null && now - w.childrenSince < CHILD_PARK_AFTER_MS) continue;
      const wakeAt = w.children.length === 0 ? w.wakeAt : Math.min(w.wakeAt ?? Infinity, now + CHILD_CHECK_MS);
      if (this.mirror.pendingInbox(id).length > 0) continue;
      const lease = this.mirror.leaseOf(id);
      if (!lease || !this.engine.letGo(id)) continue;
      this.mirror.forget(id);
      this.waits.delete(id);
      try {
        await this.options.store.park(id, { owner: this.workerId, epoch: lease.epoch }, wakeAt);
        this.stats.parked++;
      } catch (e) {
        // Not parked: the lease runs out and another poll (here or elsewhere) claims the run.
        this.onError(e instanceof Error ? e : new Error(String(e)));
      }
    }
  }

  /**
   * Stops taking runs and lets the runs in flight finish for up to `drainMs`; then gives up the
   * leases of those still unfinished (another worker takes them at once) and closes.
   */
  async stop(options: { readonly drainMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.polling;
    await this.delivering;
    const drainMs = options.drainMs ?? 10_000;
    const started = Date.now();
    await this.tasks?.stop(drainMs);
    await this.engine.drain(Math.max(0, drainMs - (Date.now() - started)));
    await this.mirror.flushed();
    await this.engine.close();
    await this.mirror.flushed();
    await this.options.store.unregisterWorker(this.workerId).catch(() => undefined);
  }

  /** Stops at once without finishing or releasing anything, as a crash would (tests). */
  abandon(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.tasks?.abandon();
    this.mirror.abandon();
    this.engine.abandon();
  }
}
