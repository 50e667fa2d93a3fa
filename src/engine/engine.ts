/**
 * This file defines `Engine`, the driver around the deterministic core: it owns the event store,
 * the executors and the clock. For each live run it keeps a suspended workflow machine in memory,
 * turns executor results and timers into activation events, and commits every activation (the event
 * plus the events of the commands it caused) in one transaction before doing any side effect. A run
 * whose machine is gone (restart, crash) is rebuilt by replaying its history once.
 *
 * The same engine runs every mode: only the executor differs, so a workflow behaves the same locally
 * and remotely.
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { EvalError, bindArgs, utf8Encode, type Value } from '../interpreter/index.js';
import { canonicalJson, digestOf } from '../util/hash.js';
import type { Command, ScheduleTask } from './core/commands.js';
import { DuplicateRunError, EngineError, FencedError, NondeterminismError, StoreError, UsageError } from './core/errors.js';
import type { ErrorInfo, HistoryEvent, NewEvent, RemoteDefaults, RunStarted, TaskCompleted, TaskScheduled } from './core/events.js';
import { isTerminal } from './core/events.js';
import type { Json } from './core/json.js';
import type { Clock, EventStore, Executor, QueuedAttempt, RunFilter, RunRecord, ScriptFile, SubmittedJob, TaskDispatch, TaskHandle, TaskOutcome } from './core/ports.js';
import { retryDelay } from './core/retry.js';
import { foldHistory, type RunState } from './core/state.js';
import { RealClock } from './clock.js';
import { FunctionExecutor, ProcessExecutor, type ContextTaskFunction, type RegisterOptions, type TaskFunction } from './executors/index.js';
import { MemoryEventStore, openSqliteStore, runCursor } from './store/index.js';
import { collectScript, fromFiles, fromStored, type StoredScript } from './script.js';
import { DEFAULT_WORKFLOW_BUDGETS, errorInfo, loadWorkflowModule, RUN_FEATURES, UPDATE_SIGNAL_PREFIX, CANCEL_SIGNAL, CHILD_ENDED_SIGNAL, TASK_RESULT_SIGNAL, WorkflowMachine, workflowEntry, type ScriptBundle, type WorkflowBudgets } from './workflow/machine.js';
import { ACTIVATION_KINDS, replayHistory } from './workflow/replay.js';
import { fromHistory, historyToJs, jsToHistory, toHistory } from './workflow/convert.js';
import { TaskStub, WorkflowFn, workflowPredeclared } from './workflow/surface.js';
import { registerPluginTasks } from './workflow/plugins.js';
import {
  DEFAULT_BLOB_THRESHOLD_BYTES,
  FsBlobStore,
  MemoryBlobStore,
  MemoryCacheIndex,
  S3BlobStore,
  argumentDigest,
  cacheKey,
  getJson,
  isBlobMarker,
  jsonBytes,
  openSqliteCacheIndex,
  planOffload,
  processImplementationDigest,
  starlarkImplementationDigest,
  type BlobStore,
  type CacheIndex,
} from './cache/index.js';
import { dirname, join, resolve } from 'node:path';
import { localPythonExecutor, type LocalPythonOptions } from './attempts/local-python.js';
import { LeaseKeeper, holderIsGone, leaseIsHeld, newWorkerId, retireWorkerId, type HeldRun } from './leases.js';
import { starlarkExecutor } from './executors/starlark-executor.js';
import { deliverDue, type DeliverOptions } from './notify/deliver.js';
import { notificationsFor, validateNotify, type NotifySpec, type RunFacts } from './notify/spec.js';
import './workflow/python-files.js';

/** Options of `Engine.open`. */
export interface EngineOptions {
  /** SQLite database path, ':memory:' for an in-memory store, or a store. @default ".larkflow/larkflow.db" */
  readonly db?: string | EventStore;
  /** SQLite durability: NORMAL (default, WAL) or FULL (fsync every commit). @default "NORMAL" */
  readonly synchronous?: 'NORMAL' | 'FULL';
  /** The engine's clock. @default the real clock */
  readonly clock?: Clock;
  /** More executors (Ray, Spark, Kubernetes...), chosen by a task's `executor=` name. */
  readonly executors?: readonly Executor[];
  /** Where process tasks keep their attempt directories. @default ".larkflow/attempts" */
  readonly workDir?: string;
  /** The interpreter of local Python tasks (executor "python"). @default LARKFLOW_PYTHON, else "python3" */
  readonly python?: string;
  /** Maximum concurrent in-process task functions. @default 8 */
  readonly concurrency?: number;
  /** How often to look for events other processes appended to live runs (ms). @default 1000 */
  readonly pollIntervalMs?: number;
  /**
   * The task cache's index. @default `cache.db` beside the SQLite database (memory for in-memory stores)
   */
  readonly cacheIndex?: CacheIndex;
  /**
   * Where large task results and inputs are stored: a BlobStore, a directory, or `s3://bucket/prefix`
   * (endpoint, region and credentials from the standard AWS environment variables).
   * @default `blobs/` beside the SQLite database (memory for in-memory stores)
   */
  readonly blobs?: BlobStore | string;
  /** Results whose canonical JSON is larger than this are stored as blobs. @default 65536 */
  readonly blobThresholdBytes?: number;
  /**
   * Budgets of workflow code and of Starlark `@task` bodies, so a runaway script cannot freeze or
   * crash the host: steps and estimated bytes per resume of a workflow coroutine (deterministic),
   * wall-clock time per activation, and for `@task` bodies per attempt (their `timeout` if shorter).
   * Workflow code runs in time slices of `sliceMs`, between which the event loop turns. A run may
   * lower or raise the workflow budgets with `StartOptions.budgets` (recorded in its history).
   * @default { maxSteps: 100_000_000, maxMs: 60_000, sliceMs: 20 } (bytes: the interpreter's heap guard)
   */
  readonly budgets?: WorkflowBudgets & { readonly sliceMs?: number };
  /**
   * How long a run's lease lasts without renewal (ms). The engine renews the leases of its live runs
   * every quarter of this; another worker may claim a run whose lease ran out (or at once, on this
   * machine, when the holder's process is gone). @default 15000
   */
  readonly leaseMs?: number;
  /**
   * Receives what workflows `print` while they run live (not while a history is replayed).
   * @default writes `[run id] message` to stderr
   */
  readonly print?: (runId: string, message: string) => void;
  /**
   * How run notifications (`StartOptions.notify`) are delivered: timeouts, backoff, attempts, and
   * the environment secrets and SMTP settings are read from. @default see `DeliverOptions`
   */
  readonly notifications?: Omit<DeliverOptions, 'now' | 'owner'>;
  /**
   * @internal A shared database's task queue: attempts of the executors it handles are queued there
   * (any worker runs them) instead of run in this process, and their results come back through the
   * runs' inboxes, so a run waiting on them can be parked. Set by `SharedWorker`.
   */
  readonly taskDispatch?: TaskDispatch;
}

/** Where a run starts from: a workflow file on disk, or sources in memory. */
export interface StartOptions {
  /** Path of the workflow file. */
  readonly file?: string;
  /** In-memory sources: the main file's name and text (and loaded files). */
  readonly source?: { readonly name: string; readonly text: string; readonly files?: Readonly<Record<string, string>> };
  /** The @workflow() function to run. @default the file's only workflow */
  readonly workflow?: string;
  readonly args?: readonly unknown[];
  readonly kwargs?: Readonly<Record<string, unknown>>;
  /** The run's environment (`os.environ`). @default {} */
  readonly env?: Readonly<Record<string, string>>;
  /** A run id to use. @default a new random id */
  readonly runId?: string;
  /** Seed of the run's deterministic randomness (uuid, random). @default a new random seed */
  readonly seed?: string;
  /**
   * The task cache for this run: 'use' (look up and store), 'refresh' (do not look up, store fresh
   * results), 'off' (neither). @default 'use'
   */
  readonly cache?: CacheMode;
  /** Budgets of this run's workflow code, over the engine's (recorded, so recovery and replay use them). */
  readonly budgets?: WorkflowBudgets;
  /**
   * Where the run's tasks go unless they name an executor (`larkflow run --executor k8s`): the
   * executor must be one of the engine's `executors`. Recorded; child runs inherit it.
   */
  readonly remote?: RemoteDefaults;
  /** For in-memory sources: the directory local Python tasks import their modules from. @default the file's directory */
  readonly codeDir?: string;
  /**
   * The run's queue: on a shared database only workers serving it take the run (recorded; child
   * and resumed runs inherit it). @default "default"
   */
  readonly queue?: string;
  /**
   * Notifications about the run's start and end: webhooks, Slack, email (see notify/). Recorded in
   * RunStarted; child runs do not inherit them. Each notification goes into the outbox in the
   * transaction that records its event, and is delivered at least once with an idempotency key
   * (`${runId}:${event}:${sinkIndex}`) receivers dedupe by.
   */
  readonly notify?: readonly NotifySpec[];
  /**
   * Makes the start idempotent (an HTTP POST's key): a run started with this key before is returned
   * instead of a new one, when it has the same workflow and inputs; different ones are a UsageError.
   * (A `runId` that exists is treated the same way.)
   */
  readonly idempotencyKey?: string;
}

/** How a run uses the task cache. */
export type CacheMode = 'use' | 'refresh' | 'off';

/** Why `recover()` left an unfinished run alone (see `Engine.recoveryIssues`). */
export interface RecoveryIssue {
  readonly reason: 'missing-tasks' | 'owned' | 'blobs' | 'store';
  /** One line for people: what is wrong and what to do. */
  readonly message: string;
}

/** Options of `Engine.resume`. */
export interface ResumeOptions {
  /** The step to run again (default: the first failed step); steps before it are reused. */
  readonly fromStep?: string;
  readonly cache?: CacheMode;
  /**
   * A fixed workflow file to resume with instead of the run's stored script ("resume after fixing
   * the code"): the steps before `fromStep` are reused when the fixed script reaches them with the
   * same calls; if it does not, `resume` throws a `NondeterminismError` naming the step and call.
   */
  readonly file?: string;
  /** Variables set over the resumed run's environment (a pipeline resume records the revision it runs). */
  readonly env?: Readonly<Record<string, string>>;
  /** The new run's notifications (default: none, as for any run started without them). */
  readonly notify?: readonly NotifySpec[];
}

/** How a run ended. */
export interface RunResult {
  readonly runId: string;
  readonly status: 'completed' | 'failed' | 'cancelled' | 'blocked';
  /** The workflow's return value as plain JS (when completed). */
  readonly result?: unknown;
  readonly error?: ErrorInfo;
}

/** Control of any run in the database (`engine.handle(runId)`), whichever process drives it. */
export interface RunControl {
  readonly runId: string;
  /** The run's status now ('running', 'completed', 'failed', 'cancelled', 'blocked'). */
  status(): RunRecord['status'];
  /** The folded state: steps, attempts, published events, signals received. */
  state(): RunState;
  /** Events after seq `after` (default 0), at most `limit`. */
  history(options?: { readonly after?: number; readonly limit?: number }): HistoryEvent[];
  /** Waits for the run's end (following the store for a run another process drives). */
  result(): Promise<RunResult>;
  cancel(reason?: string): void;
  /** Calls a query handler on the run's current state (see `Engine.query`). */
  query(name: string, ...args: unknown[]): unknown;
  /** Sends an update and waits for its result (see `Engine.update`). */
  update(name: string, ...args: unknown[]): Promise<unknown>;
  /** Sends a signal (see `Engine.signal`). */
  signal(name: string, payload?: unknown, options?: { readonly key?: string }): { readonly id: number; readonly duplicate: boolean };
  /** A published event's value (see `Engine.getEvent`). */
  getEvent(key: string, options?: { readonly timeoutMs?: number }): Promise<unknown>;
}

/** A worker loop on an engine (`engine.worker()`). */
export interface EngineWorker {
  /** Recovers unfinished runs now and keeps looking for orphaned ones. */
  start(): void;
  /** Stops looking, lets in-flight attempts finish for up to `drainMs` (default 30 s), then closes the engine. */
  stop(options?: { readonly drainMs?: number }): Promise<void>;
}

/** A started run. */
export interface RunHandle {
  readonly runId: string;
  /** Settles when the run completes, fails, is cancelled or blocks. */
  readonly result: Promise<RunResult>;
}

interface StepRuntime {
  readonly cmd: ScheduleTask;
  attempt: number;
  handleId?: string;
  executor?: Executor;
  abandoned?: boolean;
  cancelTimer?: () => void;
  startedAt?: number;
  /** The step completed or failed for good. */
  ended?: boolean;
  /** An attempt of the step is running now (submitted, not yet settled). */
  attemptInFlight?: boolean;
  /** The cache key, when the task is cacheable and the run uses the cache. */
  cacheKey?: string;
  /** Remote jobs recorded for the step's attempts (AttemptSubmitted), by attempt number. */
  submitted?: Map<number, SubmittedJob>;
  /** The attempt handed to the shared task queue and not yet ended (its result comes through the inbox). */
  queued?: number;
  /** Settles when the queued attempt is in the queue (or gave up trying). */
  enqueued?: Promise<void>;
  /** True until the queued attempt is in the queue. */
  enqueuing?: boolean;
}

interface LiveRun {
  readonly runId: string;
  readonly machine: WorkflowMachine;
  readonly script: StoredScript | { digest: string; bundle: ScriptBundle };
  lastSeq: number;
  readonly steps: Map<string, StepRuntime>;
  readonly timers: Map<string, () => void>;
  readonly children: Map<string, string>;
  /** Child steps whose end is recorded or on its way to the history (never recorded twice). */
  readonly childEnds: Set<string>;
  readonly reuse: Map<string, TaskCompleted & { task?: string; argsDigest?: string }>;
  readonly parent?: { readonly runId: string; readonly stepId: string };
  readonly env: Readonly<Record<string, string>>;
  finished: boolean;
  cancelling: boolean;
  /** Aborted when the run ends or is cancelled: the signal of every attempt of the run. */
  readonly abort: AbortController;
  /** The fencing epoch of this engine's lease on the run (every append carries it). */
  epoch: number;
  cacheMode: CacheMode;
  /** Steps that must not come from the cache (the step a resumed run restarts from). */
  readonly noCacheSteps: Set<string>;
  resolve: (r: RunResult) => void;
  reject: (e: Error) => void;
  readonly result: Promise<RunResult>;
  /** Activations to process after the current commit (cache hits, reused steps, unknown tasks). */
  readonly followUps: NewEvent[][];
  busy: boolean;
  /** The run's remote execution defaults (RunStarted.remote). */
  remote?: RemoteDefaults;
  /** Inbox messages already queued for delivery (their activation may not be committed yet). */
  readonly deliveredInbox: Set<number>;
  /** The workflow file's directory (RunStarted.codeDir). */
  codeDir?: string;
  /** The run's queue (RunStarted.queue), inherited by its children. */
  queue?: string;
  /** What notifications about the run need (when RunStarted.notify asks for some). */
  notify?: RunFacts;
}

/** Receives a run's events as they are committed, with the run's id. */
type Listener = (e: HistoryEvent, runId: string) => void;

/** The run-wide abort controller: every attempt of a run listens to its signal, so no listener cap. */
function runAbortController(): AbortController {
  const c = new AbortController();
  setMaxListeners(0, c.signal);
  return c;
}

/** Marks a finished sleep of the resumed run in the reuse table. */
const REUSED_TIMER = '\u0000timer';

function newRunId(): string {
  return 'run-' + randomBytes(6).toString('hex');
}

export class Engine {
  readonly store: EventStore;
  readonly clock: Clock;
  readonly functions: FunctionExecutor;
  readonly processes: ProcessExecutor;
  private readonly executors = new Map<string, Executor>();
  private readonly pythonOptions: LocalPythonOptions;
  private cacheIndex: CacheIndex | undefined;
  private readonly openCache: () => CacheIndex;
  /** The task cache's index (opened on first use, so a broken cache never blocks reading runs). */
  get cache(): CacheIndex {
    if (!this.cacheIndex) this.cacheIndex = this.openCache();
    return this.cacheIndex;
  }
  readonly blobs: BlobStore;
  private readonly blobThreshold: number;
  private readonly printHook: (runId: string, message: string) => void;
  /** Cacheable attempts in flight, by cache key: identical calls wait for the first one. */
  private readonly inflightKeys = new Map<string, { runId: string; stepId: string; waiters: { run: LiveRun; stepId: string }[] }>();
  /** Values of blob-offloaded results known in this process (so replay need not fetch them). */
  private readonly blobValues = new Map<string, Json>();
  /** Real values of events whose history form is a blob marker, for the machine. */
  private readonly liveValues = new WeakMap<object, Json>();
  private readonly live = new Map<string, LiveRun>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly globalListeners = new Set<Listener & { runId?: string }>();
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  private constructor(options: EngineOptions) {
    const db = options.db ?? '.larkflow/larkflow.db';
    const onDiskDb = typeof db === 'string' && db !== ':memory:' ? db : undefined;
    this.store = typeof db === 'string' ? (db === ':memory:' ? new MemoryEventStore() : openSqliteStore(db, { synchronous: options.synchronous ?? 'NORMAL' })) : db;
    this.clock = options.clock ?? new RealClock();
    // `ctx.log` lines of in-process tasks go beside the process tasks' attempt directories.
    const logDir = options.workDir ?? (onDiskDb ? '.larkflow/attempts' : undefined);
    this.functions = new FunctionExecutor({ concurrency: options.concurrency ?? 8, ...(logDir !== undefined ? { logDir } : {}) });
    this.processes = new ProcessExecutor({ workDir: options.workDir ?? '.larkflow/attempts' });
    this.pythonOptions = { workRoot: dirname(resolve(options.workDir ?? '.larkflow/attempts')), ...(options.python !== undefined ? { python: options.python } : {}) };
    this.executors.set('local', this.functions);
    this.executors.set('process', this.processes);
    for (const e of options.executors ?? []) this.executors.set(e.name, e);
    const onDisk = typeof db === 'string' && db !== ':memory:';
    const cachePath = onDisk ? join(dirname(db), 'cache.db') : undefined;
    this.cacheIndex = options.cacheIndex ?? (cachePath ? undefined : new MemoryCacheIndex());
    this.openCache = () => {
      try {
        return openSqliteCacheIndex(cachePath!);
      } catch (e) {
        throw new StoreError(`${(e as Error).message} (the file only holds the task cache: delete it to start an empty cache)`, { cause: e });
      }
    };
    const blobs = options.blobs ?? (onDisk ? join(dirname(db)) : undefined);
    this.blobs =
      blobs === undefined ? new MemoryBlobStore() : typeof blobs === 'string' ? (blobs.startsWith('s3://') ? new S3BlobStore({ url: blobs }) : new FsBlobStore({ root: blobs })) : blobs;
    this.blobThreshold = options.blobThresholdBytes ?? DEFAULT_BLOB_THRESHOLD_BYTES;
    this.printHook = options.print ?? ((runId, message) => process.stderr.write(`[${runId}] ${message}\n`));
    const { sliceMs, ...budgets } = options.budgets ? checkBudgets(options.budgets) : {};
    this.budgets = budgets;
    this.sliceMs = sliceMs ?? 20;
    this.workerId = newWorkerId();
    this.leaseMs = options.leaseMs ?? 15_000;
    if (!(this.leaseMs > 0 && Number.isFinite(this.leaseMs))) throw new UsageError(`leaseMs must be a positive number of milliseconds, not ${options.leaseMs}`);
    this.leases = new LeaseKeeper(this.store, this.workerId, this.leaseMs, () => this.heldRuns(), (lost) => {
      for (const id of lost) {
        const run = this.live.get(id);
        if (run) this.dropLive(run, new FencedError(`run ${id} was claimed by another worker after this worker's lease ran out`, id));
      }
    });
    registerPluginTasks(this);
    // Other processes may append to a live run's history (`larkflow cancel`): look for that once a
    // second and rebuild such a run from its history.
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.notifyOptions = options.notifications ?? {};
    this.taskDispatch = options.taskDispatch;
    if (typeof db === 'string' && db !== ':memory:') {
      this.poller = setInterval(() => this.pollExternalEvents(), this.pollIntervalMs);
      this.poller.unref();
    }
  }

  private poller: NodeJS.Timeout | undefined;
  private readonly pollIntervalMs: number;
  private readonly taskDispatch: TaskDispatch | undefined;
  /** The engine's default budgets of workflow code. */
  private readonly budgets: WorkflowBudgets;
  /** How long workflow code computes before the event loop gets a turn (ms). */
  private readonly sliceMs: number;
  /** This engine's worker id (`host/pid/nonce`): the owner recorded on the runs it drives. */
  readonly workerId: string;
  private readonly leaseMs: number;
  /** Renews the leases of the live runs. */
  private readonly leases: LeaseKeeper;
  /** Recoveries waiting for blobs, by run id (`result()` waits for them). */
  private readonly recovering = new Map<string, Promise<void>>();
  /** Numbers the waits on other workers' runs (keys of `followed`). */
  private followSeq = 0;
  /** Runs another worker drives now, whose results this engine's callers still await. */
  private readonly followed = new Map<string, { timer: NodeJS.Timeout; reject: (e: Error) => void }>();

  /** The leases of the runs live here. */
  private heldRuns(): HeldRun[] {
    const out: HeldRun[] = [];
    for (const r of this.live.values()) if (!r.finished) out.push({ runId: r.runId, owner: this.workerId, epoch: r.epoch });
    return out;
  }

  /** Appends to a live run's history under its lease; returns the events with their positions. */
  private appendRun(run: LiveRun, events: readonly NewEvent[]): HistoryEvent[] {
    const appended = this.store.append(run.runId, run.lastSeq, events, { owner: this.workerId, epoch: run.epoch });
    if (appended.length > 0) run.lastSeq = appended[appended.length - 1]!.seq;
    return appended;
  }
  /**
   * Runs `recover()` left unfinished because tasks they need are not registered in this process, with
   * those tasks (a process that has them finishes the runs).
   */
  readonly skippedRecoveries = new Map<string, string[]>();
  /**
   * Every unfinished run the last `recover()` calls left alone, with why: its tasks are missing here,
   * another worker holds its lease, a blob it needs cannot be read, or the database refused a write.
   * A run that a later `recover()` takes is removed.
   */
  readonly recoveryIssues = new Map<string, RecoveryIssue>();

  /**
   * @internal Looks at the live runs now: histories other processes moved on, and inbox messages
   * (a shared-database worker calls this after refreshing its view of the database).
   */
  pollNow(): void {
    if (!this.closed) this.pollExternalEvents();
  }

  /**
   * @internal Lets go of a live run that waits on nothing this process is doing (no attempt in
   * flight, no activation pending): its timers stop and it leaves this engine, without a word in
   * its history. A shared-database worker does this before parking the run in the database, to be
   * claimed again (here or elsewhere) when it is due. False if the run is busy.
   */
  letGo(runId: string): boolean {
    const run = this.live.get(runId);
    if (!run || run.busy || run.finished || run.followUps.length > 0) return false;
    for (const st of run.steps.values()) if (st.attemptInFlight || st.enqueuing) return false;
    run.finished = true;
    this.live.delete(runId);
    this.releaseKeysOf(run);
    for (const c of run.timers.values()) c();
    for (const st of run.steps.values()) st.cancelTimer?.();
    if (!run.abort.signal.aborted) run.abort.abort(new Error('run parked'));
    this.checkIdle();
    return true;
  }

  /** @internal The ids of the runs this engine drives now. */
  liveRunIds(): string[] {
    return [...this.live.values()].filter((r) => !r.finished).map((r) => r.runId);
  }

  private pollExternalEvents(): void {
    for (const run of [...this.live.values()]) {
      if (run.busy || run.finished) continue;
      let rec;
      try {
        rec = this.store.getRun(run.runId);
      } catch {
        continue;
      }
      if (rec && rec.lastSeq > run.lastSeq) {
        this.dropLive(run, new StoreError(`history of run ${run.runId} moved on: expected seq ${run.lastSeq}, found ${rec.lastSeq}`));
        continue;
      }
      // Signals sent by other processes wait in the run's inbox.
      this.deliverInbox(run);
    }
    // Notifications due (retries, and those a crashed process left in the outbox).
    this.scheduleDelivery();
  }

  /** The notification delivery in flight (one at a time per engine). */
  private delivering: Promise<void> | undefined;
  /** Another delivery pass was asked for while one was in flight. */
  private deliveryAgain = false;
  /** This engine queued notifications: close() delivers them before closing the store. */
  private queuedNotifications = false;
  /** The engine stopped as a crash would (abandon()): it sends nothing more. */
  private abandoned = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly notifyOptions: Omit<DeliverOptions, 'now' | 'owner'>;

  /**
   * Delivers the outbox's due notifications soon (after the current turn of the event loop), in the
   * background: failures are recorded in the outbox rows, never thrown into the engine.
   */
  private scheduleDelivery(): void {
    if (this.closed || this.abandoned) return;
    if (this.delivering) {
      this.deliveryAgain = true;
      return;
    }
    this.delivering = new Promise<void>((r) => setImmediate(r))
      .then(() => this.deliverNow())
      .finally(() => {
        this.delivering = undefined;
        if (this.deliveryAgain) {
          this.deliveryAgain = false;
          this.scheduleDelivery();
        }
      });
  }

  /** One delivery pass; with no poller (a memory store), a timer for the next retry. */
  private async deliverNow(): Promise<void> {
    if (this.abandoned) return;
    let report;
    try {
      report = await deliverDue(this.store, { ...this.notifyOptions, owner: this.workerId });
    } catch {
      return; // the store is busy or closed: the next pass retries
    }
    if (report.retrying > 0 && !this.poller && !this.closed && !this.abandoned) {
      let next = Infinity;
      try {
        for (const item of this.store.listOutbox({ status: 'pending' })) next = Math.min(next, item.nextAt);
      } catch {
        return;
      }
      if (next === Infinity) return;
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.scheduleDelivery();
      }, Math.max(0, next - Date.now()) + 5);
      this.retryTimer.unref();
    }
  }

  /**
   * Delivers the signals waiting in a live run's inbox, oldest first: each as a SignalReceived
   * activation that takes its inbox message in the same transaction (exactly once).
   */
  private deliverInbox(run: LiveRun): void {
    if (run.finished || this.closed) return;
    let pending;
    try {
      pending = this.store.pendingInbox(run.runId);
    } catch {
      return; // the store is busy or failing: the next look retries
    }
    for (const m of pending) {
      if (run.deliveredInbox.has(m.id)) continue;
      run.deliveredInbox.add(m.id);
      const received: NewEvent = { kind: 'SignalReceived', at: this.clock.now(), name: m.name, payload: m.payload, inboxId: m.id };
      if (m.name === TASK_RESULT_SIGNAL) this.queuedAttemptEnded(run, received, m.payload);
      else this.activate(run, null, [received]);
    }
  }

  /**
   * Sends a signal to a run (any run of the database, whichever process drives it): it waits in the
   * run's inbox until the run takes it (`signal.wait`, `signal.channel(...).receive()`), in order.
   * With `key`, sending again is a no-op that returns the first message (`duplicate: true`).
   * @throws UsageError for a missing or ended run, or a payload with no JSON form
   */
  signal(runId: string, name: string, payload: unknown = null, options: { readonly key?: string; /** @internal */ readonly internal?: boolean } = {}): { readonly id: number; readonly duplicate: boolean } {
    if (typeof name !== 'string' || name === '') throw new UsageError('a signal needs a name');
    if (name.startsWith(UPDATE_SIGNAL_PREFIX) && !options.internal) throw new UsageError(`signal names starting with ${UPDATE_SIGNAL_PREFIX} are reserved for updates (use update())`);
    if (name === CANCEL_SIGNAL && !options.internal) throw new UsageError(`the signal name ${CANCEL_SIGNAL} is reserved for cancellations (use cancel())`);
    if (name === TASK_RESULT_SIGNAL || name === CHILD_ENDED_SIGNAL) throw new UsageError(`the signal name ${name} is reserved for the engine's own messages`);
    const rec = this.store.getRun(runId);
    if (!rec) throw new UsageError(`no run ${runId}`);
    // (An ended run refuses new signals; a repeat of a keyed one still answers with the first: the store decides.)
    const json = toJsonArg(payload, `the payload of signal ${name}`);
    const size = canonicalJson(json).length;
    if (size > MAX_SIGNAL_BYTES) throw new UsageError(`the payload of signal ${name} is ${size} bytes; at most ${MAX_SIGNAL_BYTES} go through a run's inbox (store large data elsewhere and send its address)`);
    let posted;
    try {
      posted = this.store.postInbox(runId, { kind: 'signal', name, payload: json, ...(options.key !== undefined ? { key: options.key } : {}) });
    } catch (e) {
      if (e instanceof StoreError && (e as StoreError & { code?: string }).code === 'ended') throw new UsageError(`run ${runId} has ended (${rec.status === 'running' ? 'just now' : rec.status}): it takes no more signals`);
      throw e;
    }
    const run = this.live.get(runId);
    if (run) this.deliverInbox(run);
    return posted;
  }

  /**
   * The latest value of a key the run published (`events.set`); with `timeoutMs`, waits for it (and
   * for a run driven by another process, follows the store). Undefined if it is not set (in time).
   */
  async getEvent(runId: string, key: string, options: { readonly timeoutMs?: number } = {}): Promise<unknown> {
    const read = (): { found: boolean; value?: unknown; ended: boolean } => {
      const rec = this.store.getRun(runId);
      if (!rec) throw new UsageError(`no run ${runId}`);
      const st = this.state(runId);
      return Object.prototype.hasOwnProperty.call(st.events, key) ? { found: true, value: historyToJs(st.events[key]!), ended: rec.status !== 'running' } : { found: false, ended: rec.status !== 'running' };
    };
    const first = read();
    if (first.found || first.ended || !options.timeoutMs) return first.value;
    const until = Date.now() + options.timeoutMs;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (fn: () => void): void => {
        if (timer) clearTimeout(timer);
        unsubscribe();
        fn();
      };
      const unsubscribe = this.subscribe(runId, (e) => {
        if (e.kind === 'EventSet' && e.key === key) finish(() => resolve(historyToJs(e.value)));
      });
      const poll = (): void => {
        if (this.closed) return finish(() => reject(new EngineError(`the engine was closed while waiting for event ${key} of run ${runId}`, 'closed')));
        let r;
        try {
          r = read();
        } catch (e) {
          return finish(() => reject(e as Error));
        }
        if (r.found || r.ended || Date.now() >= until) return finish(() => resolve(r.value));
        timer = setTimeout(poll, Math.min(this.pollIntervalMs, Math.max(1, until - Date.now())));
      };
      timer = setTimeout(poll, Math.min(this.pollIntervalMs, options.timeoutMs ?? 0));
    });
  }

  /**
   * Calls a query handler the run registered (`query.handler(name, fn)`) with `args`, on a copy of
   * the run rebuilt from its history (whichever process drives it): the answer reflects every
   * recorded event, and nothing it does reaches the run. Built in: `progress` (the run's progress
   * reports) and `prints` (its recent print lines).
   * @throws UsageError for a missing run, an unknown handler, or a handler that fails, waits or tries to change the run
   */
  query(runId: string, name: string, ...args: unknown[]): unknown {
    const history = this.history(runId);
    if (name === 'progress') return [...foldHistory(history).progress];
    const { machine, prints } = this.replicaOf(runId, history);
    if (name === 'prints') return prints;
    const values = args.map((a, i) => fromHistory(toJsonArg(a, `query argument ${i + 1}`)));
    try {
      return historyToJs(toHistory(machine.runQuery(name, values), `the answer of query ${name}`));
    } catch (e) {
      if (e instanceof EvalError) throw new UsageError(`query ${name} of run ${runId}: ${e.message}`);
      throw e;
    }
  }

  /**
   * Sends an update to a run: its validator runs first on the run's recorded state (a failure
   * rejects it, with nothing recorded); then the request travels through the run's inbox, the
   * workflow's handler runs (it may change the workflow's state, call tasks, wait), and its result
   * (or error) is recorded (UpdateCompleted) and returned here — for a run driven by any process.
   * @throws UsageError for a missing or ended run, an unknown handler or a failed validation
   */
  async update(runId: string, name: string, ...args: unknown[]): Promise<unknown> {
    const { machine } = this.replicaOf(runId, this.history(runId));
    const jsonArgs = args.map((a, i) => toJsonArg(a, `update argument ${i + 1}`));
    try {
      machine.validateUpdate(name, jsonArgs.map((a) => fromHistory(a)));
    } catch (e) {
      if (e instanceof EvalError) throw new UsageError(`update ${name} of run ${runId} rejected: ${e.message}`);
      throw e;
    }
    const updateId = randomBytes(12).toString('hex');
    const ended = (): { result?: unknown; error?: ErrorInfo } | undefined => {
      for (const e of this.store.history(runId)) if (e.kind === 'UpdateCompleted' && e.updateId === updateId) return e.error ? { error: e.error } : { result: historyToJs(e.result ?? null) };
      return undefined;
    };
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (r: { result?: unknown; error?: ErrorInfo }): void => {
        if (timer) clearTimeout(timer);
        unsubscribe();
        if (r.error) reject(new UsageError(`update ${name} of run ${runId} failed: ${r.error.message}`));
        else resolve(r.result);
      };
      const unsubscribe = this.subscribe(runId, (e) => {
        if (e.kind === 'UpdateCompleted' && e.updateId === updateId) settle(e.error ? { error: e.error } : { result: historyToJs(e.result ?? null) });
      });
      const poll = (): void => {
        if (this.closed) {
          unsubscribe();
          return reject(new EngineError(`the engine was closed while waiting for update ${name} of run ${runId}`, 'closed'));
        }
        const r = ended();
        if (r) return settle(r);
        const rec = this.store.getRun(runId);
        if (rec && rec.status !== 'running') {
          unsubscribe();
          return reject(new UsageError(`run ${runId} ended (${rec.status}) before update ${name} ran`));
        }
        timer = setTimeout(poll, this.pollIntervalMs);
      };
      try {
        this.signal(runId, `${UPDATE_SIGNAL_PREFIX}${name}`, { id: updateId, args: jsonArgs }, { internal: true });
      } catch (e) {
        unsubscribe();
        return reject(e as Error);
      }
      timer = setTimeout(poll, this.pollIntervalMs);
    });
  }

  /** A copy of a run rebuilt from its history (for queries and update validation), with its print lines. */
  private replicaOf(runId: string, history: HistoryEvent[]): { machine: WorkflowMachine; prints: string[] } {
    const started = history[0] as RunStarted;
    const files = this.store.getScript(started.scriptDigest);
    if (!files) throw new UsageError(`the script of run ${runId} is missing from the database`);
    const machine = new WorkflowMachine(fromStored(files), started.budgets);
    const prints: string[] = [];
    machine.onPrint = (m) => {
      prints.push(m);
      if (prints.length > 100) prints.shift();
    };
    const { history: resolved, missing } = this.withBlobValues(history);
    if (missing.length > 0) throw new UsageError(`run ${runId} has results stored as blobs not fetched in this process; query it from the process that drives it`);
    const { mismatch } = replayHistory(machine, resolved);
    if (mismatch) throw new UsageError(`cannot query run ${runId}: its history does not replay (${mismatch.message})`);
    return { machine, prints };
  }

  /**
   * A handle on any run of the database, whichever process drives it: its status, state and history,
   * its result (waited for, following the store for a run driven elsewhere), cancel, signals and
   * published events.
   */
  handle(runId: string): RunControl {
    return {
      runId,
      status: () => {
        const rec = this.store.getRun(runId);
        if (!rec) throw new UsageError(`no run ${runId}`);
        return rec.status;
      },
      state: () => this.state(runId),
      history: (o = {}) => {
        const events = this.store.history(runId, (o.after ?? 0) + 1);
        return o.limit !== undefined ? events.slice(0, o.limit) : events;
      },
      result: () => this.result(runId),
      cancel: (reason) => this.cancel(runId, reason),
      signal: (name, payload, o) => this.signal(runId, name, payload, o),
      query: (name, ...args) => this.query(runId, name, ...args),
      update: (name, ...args) => this.update(runId, name, ...args),
      getEvent: (key, o) => this.getEvent(runId, key, o),
    };
  }

  /**
   * Opens an engine on a database (created if missing).
   * @throws StoreError if the database cannot be opened (with what to do about it)
   */
  static open(options: EngineOptions = {}): Engine {
    return new Engine(options);
  }

  /** Registers an in-process task implementation, called as `fn(...args)` (kwargs as a last object). */
  registerTask(name: string, fn: TaskFunction, options?: RegisterOptions): this {
    this.functions.register(name, fn, options);
    return this;
  }

  /**
   * Registers an in-process task that also gets a context first: `fn(ctx, ...args)` with the run
   * and step ids, attempt, idempotency key, the run's environment, an AbortSignal and `ctx.log`.
   */
  registerTaskWithContext(name: string, fn: ContextTaskFunction, options?: RegisterOptions): this {
    this.functions.registerWithContext(name, fn, options);
    return this;
  }

  /**
   * Registers every function of an object as a task (e.g. the exports of a module). `version` goes
   * into their cache keys (e.g. a digest of the module, so that a changed helper is a cache miss).
   */
  registerTasks(tasks: Readonly<Record<string, unknown>>, options?: RegisterOptions): this {
    for (const [name, fn] of Object.entries(tasks)) if (typeof fn === 'function') this.registerTask(name, fn as TaskFunction, options);
    return this;
  }

  /** Subscribes to the events of one run (or of every run with '*'); returns an unsubscribe function. */
  /**
   * Adds an executor (a `RemoteExecutor` for Kubernetes, say) that tasks name with `executor = ...`
   * or that runs take by default (`StartOptions.remote`). Replaces one of the same name.
   */
  addExecutor(executor: Executor): this {
    if (executor.name === 'local' || executor.name === 'process' || executor.name === 'starlark') {
      throw new UsageError(`executor name ${JSON.stringify(executor.name)} is reserved for a built-in executor`);
    }
    this.executors.set(executor.name, executor);
    return this;
  }

  /** The executor of a name, if this engine has one. */
  /** @internal The names of the executors this engine has now. */
  executorNames(): string[] {
    return [...this.executors.keys()];
  }

  executor(name: string): Executor | undefined {
    return this.executors.get(name);
  }

  subscribe(runId: string, listener: Listener): () => void {
    let set = this.listeners.get(runId);
    if (!set) this.listeners.set(runId, (set = new Set()));
    set.add(listener);
    return () => set!.delete(listener);
  }

  // ---------------------------------------------------------------------------------------------
  // Starting runs

  /**
   * Starts a run of a workflow.
   * @throws UsageError for a missing file or unknown workflow; ParseError/ResolveError for a bad script
   */
  start(opts: StartOptions): RunHandle {
    if (opts.kwargs && Object.prototype.hasOwnProperty.call(opts.kwargs, '__proto__')) {
      throw new UsageError('an input is named "__proto__", which cannot be passed through JavaScript objects; rename it');
    }
    const script = opts.file
      ? collectScript(opts.file)
      : opts.source
        ? fromFiles(opts.source.name, new Map([[opts.source.name, opts.source.text], ...Object.entries(opts.source.files ?? {})]))
        : undefined;
    if (!script) throw new UsageError('start: give a workflow file or source');
    // The module's top level sees the environment the run starts with (os.environ).
    const hostRef = { current: null, ...(opts.env ? { env: opts.env } : {}) };
    const globals = loadWorkflowModule(script.bundle, workflowPredeclared(hostRef), hostRef);
    const names = [...globals].filter(([, v]) => v instanceof WorkflowFn).map(([k]) => k);
    const workflow = opts.workflow ?? this.defaultWorkflow(script.bundle, names);
    // A plain top-level def runs as a workflow when named, as the Go worker runs any function.
    const entry = workflowEntry(globals, workflow);
    if (!entry) {
      throw new UsageError(`no workflow named ${workflow} in ${script.bundle.main}${names.length ? ` (workflows: ${names.join(', ')})` : ' (mark one with @workflow())'}`);
    }
    // Inputs that the workflow function cannot take are a usage error, before anything is recorded.
    try {
      bindArgs(
        entry,
        (opts.args ?? []).map((a, i) => fromHistory(toJsonArg(a, `input ${i + 1}`))),
        Object.entries(opts.kwargs ?? {}).map(([k, v]) => [utf8Encode(k), fromHistory(toJsonArg(v, `input ${k}`))] as [string, Value]),
      );
    } catch (e) {
      if (e instanceof EvalError) throw new UsageError(`bad inputs for workflow ${workflow}: ${e.message}`);
      throw e;
    }
    const blobs: { digest: string; bytes: Uint8Array; value: Json }[] = [];
    // Inputs above the blob threshold are stored as blobs; history keeps their markers.
    const offload = (v: Json): Json => {
      const plan = planOffload(this.blobs, v, this.blobThreshold);
      if (plan.blob) blobs.push({ ...plan.blob, value: v });
      return plan.value;
    };
    const args = (opts.args ?? []).map((a) => offload(toJsonArg(a)));
    const kwargs: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(opts.kwargs ?? {})) kwargs[k] = offload(toJsonArg(v));
    // An idempotent start: the run this key (or run id) started before, if it has the same inputs.
    const again = this.existingStart(opts, workflow, args, kwargs);
    if (again) return again;
    this.store.putScript(script.digest, script.files);
    const runId = opts.runId ?? newRunId();
    const extra = {
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.cache !== undefined ? { cacheMode: opts.cache } : {}),
      ...(opts.budgets !== undefined ? { budgets: checkBudgets(opts.budgets) } : {}),
      ...(opts.remote !== undefined ? { remote: this.checkRemote(opts.remote) } : {}),
      ...(opts.file !== undefined ? { codeDir: dirname(resolve(opts.file)) } : opts.codeDir !== undefined ? { codeDir: resolve(opts.codeDir) } : {}),
      ...(opts.idempotencyKey !== undefined ? { idempotencyKey: opts.idempotencyKey } : {}),
      ...(opts.notify !== undefined && opts.notify.length > 0 ? { notify: validateNotify(opts.notify)! } : {}),
      ...(opts.queue !== undefined && opts.queue !== 'default' ? { queue: checkQueue(opts.queue) } : {}),
      startCheck: { workflow, args, kwargs, opts },
    };
    if (blobs.length === 0) return this.startRun(script, workflow, args, kwargs, opts.env ?? {}, runId, extra);
    // The blobs are stored before the run's first event refers to them.
    this.pendingIo++;
    const result = Promise.all(blobs.map((b) => this.blobs.put(b.digest, b.bytes))).then(
      () => {
        this.pendingIo--;
        for (const b of blobs) this.blobValues.set(b.digest, b.value);
        return this.startRun(script, workflow, args, kwargs, opts.env ?? {}, runId, extra).result;
      },
      (err: unknown): RunResult => {
        this.pendingIo--;
        this.checkIdle();
        return { runId, status: 'failed', error: { kind: 'storage', message: `cannot store the inputs of run ${runId}: ${(err as Error).message}`, retryable: true } };
      },
    );
    return { runId, result };
  }

  /**
   * The run an idempotent start names (by `idempotencyKey`, or an existing `runId`) if there is one:
   * its handle when its workflow and inputs are the same, else a UsageError.
   */
  private existingStart(opts: StartOptions, workflow: string, args: Json[], kwargs: { [k: string]: Json }): RunHandle | undefined {
    const rec = opts.idempotencyKey !== undefined ? this.store.runByIdempotencyKey(opts.idempotencyKey) : opts.runId !== undefined ? this.store.getRun(opts.runId) : undefined;
    if (!rec) return undefined;
    const first = this.store.history(rec.runId)[0];
    const what = opts.idempotencyKey !== undefined ? `idempotency key ${opts.idempotencyKey} (run ${rec.runId})` : `run id ${rec.runId}`;
    if (first?.kind !== 'RunStarted' || first.workflow !== workflow || digestOf({ a: first.args, k: first.kwargs }) !== digestOf({ a: args, k: kwargs })) {
      throw new UsageError(`${what} was used to start ${first?.kind === 'RunStarted' ? `workflow ${first.workflow}` : 'a run'} with different inputs: use another key for another run`);
    }
    const result = this.result(rec.runId);
    result.catch(() => {});
    return { runId: rec.runId, result };
  }

  /** The only @workflow() of a bundle, or a UsageError naming the choices. */
  private defaultWorkflow(bundle: ScriptBundle, names: readonly string[]): string {
    if (names.length === 1) return names[0]!;
    if (names.length === 0) throw new UsageError(`${bundle.main} defines no @workflow() function`);
    throw new UsageError(`${bundle.main} defines several workflows (${names.join(', ')}): choose one with --workflow NAME`);
  }

  /**
   * Names of the @workflow() functions of a script, and `also` if it names a plain top-level def
   * (which runs as a workflow when named); `env` is what `os.environ` shows at the top level.
   */
  workflowNames(bundle: ScriptBundle, also?: string, env?: Readonly<Record<string, string>>): string[] {
    const hostRef = { current: null, ...(env ? { env } : {}) };
    const globals = loadWorkflowModule(bundle, workflowPredeclared(hostRef), hostRef);
    return [...globals].filter(([k, v]) => v instanceof WorkflowFn || (also !== undefined && k === also && workflowEntry(globals, k) !== undefined)).map(([k]) => k);
  }

  /**
   * The executors a workflow's tasks name (those of the main file and of every file it loads, with
   * the run's remote default for tasks that name none), so an embedder or the CLI can set them up
   * before the run starts.
   */
  declaredExecutors(bundle: ScriptBundle, env?: Readonly<Record<string, string>>, remote?: RemoteDefaults): string[] {
    const hostRef = { current: null, ...(env ? { env } : {}) };
    const modules = new Map<string, ReadonlyMap<string, Value>>();
    loadWorkflowModule(bundle, workflowPredeclared(hostRef), hostRef, modules);
    const out = new Set<string>();
    for (const globals of modules.values()) {
      for (const v of globals.values()) {
        if (!(v instanceof TaskStub)) continue;
        const o = v.options;
        const routed = remote && !o.command && ((!o.executorExplicit && (o.executor === 'local' || o.executor === 'python')) || (remote.all && o.executor !== 'starlark' && o.reference?.includes(':')));
        out.add(routed ? remote.executor : o.executor);
      }
    }
    if (remote) out.add(remote.executor);
    return [...out];
  }

  /**
   * The executors an unfinished run needs: its remote default, the executors of the tasks it has
   * scheduled, and those its stored script declares.
   */
  executorsOfRun(runId: string): string[] {
    const history = this.store.history(runId);
    const first = history[0];
    if (first?.kind !== 'RunStarted') return [];
    const out = new Set<string>();
    if (first.remote) out.add(first.remote.executor);
    for (const e of history) if (e.kind === 'TaskScheduled') out.add(e.executor);
    const files = this.store.getScript(first.scriptDigest);
    if (files) {
      try {
        for (const x of this.declaredExecutors(fromStored(files), first.env, first.remote)) out.add(x);
      } catch {
        // A script that no longer loads is the recovery's to report.
      }
    }
    return [...out];
  }

  private startRun(
    script: StoredScript | { digest: string; bundle: ScriptBundle },
    workflow: string,
    args: Json[],
    kwargs: { [k: string]: Json },
    env: Readonly<Record<string, string>>,
    runId: string,
    extra: {
      parent?: { runId: string; stepId: string };
      resumedFrom?: { runId: string; fromStep?: string };
      reuse?: LiveRun['reuse'];
      seed?: string;
      cacheMode?: CacheMode;
      noCacheSteps?: readonly string[];
      budgets?: WorkflowBudgets;
      remote?: RemoteDefaults;
      codeDir?: string;
      idempotencyKey?: string;
      /** Notifications of this run (not inherited by its children: they never pass it). */
      notify?: readonly NotifySpec[];
      queue?: string;
      /** For an idempotent start that lost a race: what to compare the winner with. */
      startCheck?: { workflow: string; args: Json[]; kwargs: { [k: string]: Json }; opts: StartOptions };
    } = {},
  ): RunHandle {
    if (this.closed) throw new EngineError('the engine is closed', 'closed');
    // The run's effective budgets are recorded, so recovery and replay apply the same ones.
    const budgets: WorkflowBudgets = { ...this.budgets, ...extra.budgets };
    const first: Omit<RunStarted, 'seq'> = {
      kind: 'RunStarted',
      at: this.clock.now(),
      runId,
      workflow,
      file: script.bundle.main,
      scriptDigest: script.digest,
      args,
      kwargs,
      env: { ...env },
      seed: extra.seed ?? randomBytes(16).toString('hex'),
      attempt: 1,
      ...(extra.parent ? { parent: extra.parent } : {}),
      ...(extra.resumedFrom ? { resumedFrom: extra.resumedFrom } : {}),
      ...(extra.cacheMode && extra.cacheMode !== 'use' ? { cacheMode: extra.cacheMode } : {}),
      ...(extra.noCacheSteps && extra.noCacheSteps.length > 0 ? { noCacheSteps: extra.noCacheSteps } : {}),
      ...(Object.keys(budgets).length > 0 ? { budgets } : {}),
      ...(extra.remote ? { remote: extra.remote } : {}),
      ...(extra.codeDir !== undefined ? { codeDir: extra.codeDir } : {}),
      ...(extra.notify !== undefined && extra.notify.length > 0 ? { notify: extra.notify } : {}),
      ...(extra.queue !== undefined ? { queue: extra.queue } : {}),
      features: RUN_FEATURES,
    };
    let started: HistoryEvent;
    try {
      started = this.store.createRun(first, { owner: this.workerId, leaseMs: this.leaseMs }, extra.idempotencyKey);
    } catch (e) {
      // Another engine created the run (the same key or id) between our check and our insert.
      if (e instanceof DuplicateRunError && extra.startCheck) {
        const c = extra.startCheck;
        const again = this.existingStart(c.opts, c.workflow, c.args, c.kwargs);
        if (again) return again;
      }
      throw e;
    }
    const run = this.newLive(runId, script, extra.parent, extra.reuse ?? new Map(), env, 1, budgets);
    run.machine.onPrint = (m) => this.printHook(runId, m);
    run.lastSeq = started.seq;
    if (extra.remote) run.remote = extra.remote;
    if (extra.codeDir !== undefined) run.codeDir = extra.codeDir;
    if (extra.queue !== undefined) run.queue = extra.queue;
    if (first.notify) run.notify = { runId, workflow, startedAt: first.at, env: first.env, notify: first.notify };
    run.cacheMode = extra.cacheMode ?? 'use';
    for (const id of extra.noCacheSteps ?? []) run.noCacheSteps.add(id);
    this.emit(runId, [started]);
    this.activate(run, started, []);
    return { runId, result: run.result };
  }

  private newLive(
    runId: string,
    script: LiveRun['script'],
    parent: LiveRun['parent'],
    reuse: LiveRun['reuse'],
    env: Readonly<Record<string, string>>,
    epoch: number,
    budgets: WorkflowBudgets | undefined,
  ): LiveRun {
    let resolve!: (r: RunResult) => void;
    let reject!: (e: Error) => void;
    const result = new Promise<RunResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A caller need not await the result: a rejection (engine closed) must not be unhandled.
    result.catch(() => {});
    const run: LiveRun = {
      runId,
      machine: new WorkflowMachine(script.bundle, { ...this.budgets, ...budgets }),
      script,
      lastSeq: 0,
      steps: new Map(),
      timers: new Map(),
      children: new Map(),
      childEnds: new Set(),
      reuse,
      ...(parent ? { parent } : {}),
      env,
      finished: false,
      cancelling: false,
      abort: runAbortController(),
      epoch,
      cacheMode: 'use',
      noCacheSteps: new Set(),
      resolve,
      reject,
      result,
      followUps: [],
      busy: false,
      deliveredInbox: new Set(),
    };
    this.live.set(runId, run);
    return run;
  }

  // ---------------------------------------------------------------------------------------------
  // Activations

  /**
   * Delivers an activation event (already committed when `committed` is given, as RunStarted is) and
   * commits it with the events of the commands it causes, in one transaction; then does the side
   * effects. Follow-up activations (cache hits, reused steps) are processed in order afterwards.
   */
  private activate(run: LiveRun, committed: HistoryEvent | null, events: NewEvent[]): void {
    run.followUps.push(events);
    if (run.busy) return;
    run.busy = true;
    this.pump(run, committed);
  }

  /**
   * Commits the run's queued activations in order. An activation that must wait (large arguments
   * being stored as blobs, a long workflow computation yielding to the event loop) pauses the pump;
   * the run stays busy, so later activations queue behind it, and the pump goes on when it is done.
   */
  private pump(run: LiveRun, committed: HistoryEvent | null): void {
    try {
      let first = committed;
      while (run.followUps.length > 0 && !run.finished) {
        const batch = run.followUps.shift()!;
        const paused = this.commitActivation(run, first, batch);
        first = null;
        if (paused) {
          this.pendingIo++;
          paused.then(
            () => {
              this.pendingIo--;
              this.pump(run, null);
            },
            (e: unknown) => {
              this.pendingIo--;
              run.busy = false;
              this.dropLive(run, e);
              this.checkIdle();
            },
          );
          return;
        }
      }
    } catch (e) {
      // The store failed mid-activation: nothing of it was committed. The run stays unfinished in
      // the database, and recover() rebuilds it from what was.
      run.busy = false;
      this.dropLive(run, e);
    }
    run.busy = false;
    this.checkIdle();
  }

  /** Commits one activation; returns a promise if it had to wait (see `pump`). */
  private commitActivation(run: LiveRun, committed: HistoryEvent | null, batch: NewEvent[]): Promise<void> | undefined {
    // The activation event is the last of `batch` (e.g. [AttemptFailed, TaskFailed]) or `committed`.
    const toAppend: NewEvent[] = [...batch];
    const activation = committed ?? (batch.length > 0 ? batch[batch.length - 1]! : null);
    if (!activation) return undefined;
    // Bookkeeping (a remote attempt's job id) is recorded without waking the workflow.
    if (!committed && !ACTIVATION_KINDS.has(activation.kind)) return this.appendAndApply(run, toAppend);
    const live = this.liveValues.get(activation);
    const seqd = this.machineView({ ...activation, seq: run.lastSeq + batch.length, ...(live !== undefined ? { result: live } : {}) } as HistoryEvent);
    const failed = (e: unknown): Command[] => [{ kind: 'FailRun' as const, error: errorInfo(e instanceof EvalError ? e : new EvalError(String(e), 'internal')) }];
    let progress;
    try {
      progress = run.machine.beginActivation(seqd, this.sliceMs);
    } catch (e) {
      progress = { done: true as const, commands: failed(e) };
    }
    if (progress.done) return this.commitCommands(run, committed, batch, toAppend, progress.commands);
    // The workflow computes for longer than a slice: let the event loop turn between slices (timers,
    // I/O, other runs, lease renewals), then go on. The run stays busy meanwhile.
    return (async () => {
      for (;;) {
        await new Promise((r) => setImmediate(r));
        if (run.finished) return;
        let p;
        try {
          p = run.machine.continueActivation(this.sliceMs);
        } catch (e) {
          p = { done: true as const, commands: failed(e) };
        }
        if (p.done) return this.commitCommands(run, committed, batch, toAppend, p.commands);
      }
    })();
  }

  /** Records the commands of an activation with it (after storing large arguments as blobs). */
  private commitCommands(run: LiveRun, committed: HistoryEvent | null, batch: NewEvent[], toAppend: NewEvent[], commands: readonly Command[]): Promise<void> | undefined {
    {
      const at = this.clock.now();
      // STARTED notifications are queued with the run's first activation (in its transaction).
      if (committed?.kind === 'RunStarted' && run.notify) {
        const queued = notificationsFor(run.notify, committed);
        if (queued) toAppend.push(queued);
      }
      for (const c of commands) toAppend.push(...this.commandEvents(run, c, at));
      // Record where the workflow now waits on the event that woke it (not on RunStarted, which is
      // committed before the workflow runs; its first waits are the calls recorded after it).
      if (!committed && batch.length > 0 && !run.machine.finished) {
        const i = batch.length - 1;
        const sites = run.machine.waitingSites();
        if (sites.length > 0) {
          const woke = { ...toAppend[i]!, waitingAt: sites } as NewEvent;
          const live = this.liveValues.get(toAppend[i]!);
          if (live !== undefined) this.liveValues.set(woke, live);
          toAppend[i] = woke;
        }
      }
    }
    // Large task arguments go to the blob store before the history refers to them.
    const blobs: { digest: string; bytes: Uint8Array }[] = [];
    for (let i = 0; i < toAppend.length; i++) {
      const e = toAppend[i]!;
      if (e.kind !== 'TaskScheduled') continue;
      const offloaded = this.offloadArgs(e, blobs);
      if (offloaded !== e) toAppend[i] = offloaded;
    }
    if (blobs.length > 0) {
      return Promise.all(blobs.map((b) => this.blobs.put(b.digest, b.bytes))).then(() => {
        if (run.finished) return;
        return this.appendAndApply(run, toAppend);
      });
    }
    return this.appendAndApply(run, toAppend);
  }

  /**
   * Appends an activation's events, then applies them (listeners, side effects). A store that
   * commits in the background (`EventStore.durable`) is waited for first: nothing is started on
   * the strength of an event the database has not committed. Returns the wait, if any.
   */
  private appendAndApply(run: LiveRun, toAppend: readonly NewEvent[]): Promise<void> | undefined {
    if (toAppend.length === 0) return undefined;
    const appended = this.appendRun(run, toAppend);
    const durable = this.store.durable?.(run.runId);
    if (durable) return durable.then(() => this.applyAppended(run, appended));
    this.applyAppended(run, appended);
    return undefined;
  }

  /**
   * Outside the pump (recovery): keeps the engine from looking idle while an append's commit is
   * awaited, and drops the run if the database refused it.
   */
  private awaitApplied(run: LiveRun, wait: Promise<void> | undefined): void {
    if (!wait) return;
    this.pendingIo++;
    wait.then(
      () => {
        this.pendingIo--;
        this.checkIdle();
      },
      (e: unknown) => {
        this.pendingIo--;
        this.dropLive(run, e);
        this.checkIdle();
      },
    );
  }

  private applyAppended(run: LiveRun, appended: readonly HistoryEvent[]): void {
    if (run.finished && !this.live.has(run.runId)) return;
    this.emit(run.runId, appended);
    // Notifications committed with this activation (STARTED): send them (async, best effort).
    if (run.notify && appended.some((e) => e.kind === 'NotificationsQueued')) {
      this.queuedNotifications = true;
      this.scheduleDelivery();
    }
    for (const e of appended) this.sideEffect(run, e);
  }

  /**
   * A TaskScheduled event whose arguments over the blob threshold are blob markers (the blobs to
   * store are added to `blobs`, their values remembered here); the event itself if none is.
   */
  private offloadArgs(e: NewEvent & { kind: 'TaskScheduled' }, blobs: { digest: string; bytes: Uint8Array }[]): NewEvent {
    let changed = false;
    const one = (v: Json): Json => {
      const plan = planOffload(this.blobs, v, this.blobThreshold);
      if (!plan.blob) return v;
      changed = true;
      blobs.push(plan.blob);
      this.blobValues.set(plan.blob.digest, v);
      return plan.value;
    };
    const args = e.args.map(one);
    const kwargs: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(e.kwargs)) kwargs[k] = one(v);
    return changed ? { ...e, args, kwargs } : e;
  }

  /** The events recording a command (and the first attempt of a task). */
  private commandEvents(run: LiveRun, c: ReturnType<WorkflowMachine['activate']>[number], at: number): NewEvent[] {
    switch (c.kind) {
      case 'ScheduleTask': {
        // A task that names no executor goes where the run's remote defaults say.
        if (c.executorDefaulted && run.remote && (c.executor === 'local' || c.executor === 'python')) c = { ...c, executor: run.remote.executor };
        else if (run.remote?.all && !c.command && c.executor !== 'starlark' && c.reference?.includes(':')) c = { ...c, executor: run.remote.executor };
        const scheduled: NewEvent = {
          kind: 'TaskScheduled',
          at,
          stepId: c.stepId,
          task: c.task,
          args: c.args,
          kwargs: c.kwargs,
          argsDigest: c.argsDigest,
          callSite: c.callSite,
          inputsFrom: c.inputsFrom,
          executor: c.executor,
          retry: c.retry,
          ...(c.timeoutMs !== undefined ? { timeoutMs: c.timeoutMs } : {}),
          ...(c.overallTimeoutMs !== undefined ? { overallTimeoutMs: c.overallTimeoutMs } : {}),
          ...(c.reference !== undefined ? { reference: c.reference } : {}),
          ...(c.resources !== undefined ? { resources: c.resources } : {}),
        };
        run.steps.set(c.stepId, { cmd: c, attempt: 1 });
        const keyed = c.cache && run.cacheMode !== 'off' ? this.cacheKeyOf(run, c) : undefined;
        if (keyed) {
          const rec = scheduled as { cacheKey?: string; cacheKeyParts?: TaskScheduled['cacheKeyParts'] };
          rec.cacheKey = keyed.key;
          rec.cacheKeyParts = keyed.parts;
          run.steps.get(c.stepId)!.cacheKey = keyed.key;
        }
        return [scheduled, ...this.startStep(run, c, at)];
      }
      case 'StartTimer': {
        // A resumed run does not wait again for a sleep its original run already finished.
        const done = run.reuse.get(c.stepId);
        if (done && done.task === REUSED_TIMER && done.argsDigest === String(c.durationMs)) {
          run.followUps.push([{ kind: 'TimerFired', at, stepId: c.stepId }]);
          return [{ kind: 'TimerStarted', at, stepId: c.stepId, durationMs: c.durationMs, fireAt: at, callSite: c.callSite }];
        }
        return [{ kind: 'TimerStarted', at, stepId: c.stepId, durationMs: c.durationMs, fireAt: at + c.durationMs, callSite: c.callSite }];
      }
      case 'StartChildRun': {
        const childRunId = `${run.runId}.${c.stepId.replace('#', '-')}`;
        run.children.set(c.stepId, childRunId);
        return [{ kind: 'ChildRunStarted', at, stepId: c.stepId, childRunId, workflow: c.workflow, args: c.args, kwargs: c.kwargs, callSite: c.callSite }];
      }
      case 'SetEvent':
        return [{ kind: 'EventSet', at, key: c.key, value: c.value }];
      case 'CompleteUpdate':
        return [{ kind: 'UpdateCompleted', at, updateId: c.updateId, name: c.name, ...(c.error ? { error: c.error } : { result: c.result ?? null }) }];
      case 'ReportProgress':
        return [{ kind: 'ProgressReported', at, message: c.message }];
      case 'CompleteRun':
        return this.withNotifications(run, { kind: 'RunCompleted', at, result: c.result });
      case 'FailRun':
        return this.withNotifications(run, { kind: 'RunFailed', at, error: c.error });
      case 'CancelRun':
        return this.withNotifications(run, { kind: 'RunCancelled', at, reason: c.reason });
    }
  }

  /**
   * A terminal event, after the NotificationsQueued event its notifications need (if the run asks
   * for any): appended together, so the outbox rows exist exactly when the terminal event does.
   */
  private withNotifications(run: LiveRun, terminal: NewEvent & { kind: 'RunCompleted' | 'RunFailed' | 'RunCancelled' }): NewEvent[] {
    const queued = run.notify ? notificationsFor(run.notify, terminal) : undefined;
    return queued ? [queued, terminal] : [terminal];
  }

  /**
   * What happens to a scheduled step next: a reused or cached result (a follow-up activation), a
   * missing implementation (a follow-up failure), a wait for an identical call in flight, or its first
   * attempt (returned, to commit with the scheduling). Used when a step is scheduled and again when a
   * run is recovered with a step that had not started.
   */
  private startStep(run: LiveRun, c: ScheduleTask, at: number): NewEvent[] {
    const reused = run.reuse.get(c.stepId);
    if (reused && reused.task === c.task && reused.argsDigest === c.argsDigest) {
      run.followUps.push([{ kind: 'TaskCompleted', at, stepId: c.stepId, attempt: 0, result: reused.result, source: 'reused' }]);
      return [];
    }
    const executor = this.executorFor(run, c);
    if (typeof executor === 'string') {
      run.followUps.push([{ kind: 'TaskFailed', at, stepId: c.stepId, error: { kind: 'missing-task', message: executor, retryable: false } }]);
      return [];
    }
    const key = run.steps.get(c.stepId)?.cacheKey;
    if (key) {
      if (run.cacheMode === 'use' && !run.noCacheSteps.has(c.stepId)) {
        const entry = this.cacheLookup(key, at);
        if (entry && (!isBlobMarker(entry.result) || this.blobValues.has(entry.result.$blob))) {
          const done: NewEvent = { kind: 'TaskCompleted', at, stepId: c.stepId, attempt: 0, result: entry.result, source: 'cache', cachedFrom: { runId: entry.runId, stepId: entry.stepId } };
          if (isBlobMarker(entry.result)) this.liveValues.set(done, this.blobValues.get(entry.result.$blob)!);
          run.followUps.push([done]);
          this.cacheRecordHit(key, at);
          return [];
        }
        if (entry) {
          // The result is a blob: fetch (and verify) it first; a missing or corrupt blob is a miss.
          this.fetchCachedBlob(run, c, key, entry.result, { runId: entry.runId, stepId: entry.stepId });
          return [];
        }
        const leader = this.inflightKeys.get(key);
        if (leader && !(leader.runId === run.runId && leader.stepId === c.stepId)) {
          leader.waiters.push({ run, stepId: c.stepId });
          return [];
        }
      }
      if (!this.inflightKeys.has(key)) this.inflightKeys.set(key, { runId: run.runId, stepId: c.stepId, waiters: [] });
    }
    return [this.attemptStarted(run, c, 1, executor, at)];
  }

  /** A cache lookup; a cache that cannot be read is a miss (with a warning), never a failed run. */
  private cacheLookup(key: string, at: number): ReturnType<CacheIndex['lookup']> {
    try {
      return this.cache.lookup(key, at);
    } catch (e) {
      process.emitWarning(`larkflow: task cache unavailable, running the task: ${(e as Error).message}`);
      return undefined;
    }
  }

  private cacheRecordHit(key: string, at: number): void {
    try {
      this.cache.recordHit(key, at);
    } catch {
      // a hit count is not worth failing a run for
    }
  }

  /** A step whose implementation is missing in this process fails with the reason. */
  private failMissing(run: LiveRun, stepId: string, why: string): void {
    this.activate(run, null, [{ kind: 'TaskFailed', at: this.clock.now(), stepId, error: { kind: 'missing-task', message: why, retryable: false } }]);
  }

  private attemptStarted(run: LiveRun, c: ScheduleTask, attempt: number, executor: Executor, at: number): NewEvent {
    const handle = `${run.runId}/${c.stepId}/${attempt}`;
    const logs = executor === this.processes ? this.processes.attemptDir({ runId: run.runId, stepId: c.stepId, attempt }) : undefined;
    return { kind: 'AttemptStarted', at, stepId: c.stepId, attempt, executor: executor.name, handle, idempotencyKey: handle, ...(logs ? { logs } : {}) };
  }

  /** The executor for a task, or a message saying why there is none. */
  private executorFor(run: LiveRun, c: ScheduleTask): Executor | string {
    if (c.executor === 'starlark') {
      const body = run.machine.starlarkTasks.get(c.task);
      if (!body) return `no Starlark body for task ${c.task}`;
      return starlarkExecutor(run.machine.starlarkTasks, { ...DEFAULT_WORKFLOW_BUDGETS, ...this.budgets }, this.sliceMs);
    }
    // Tasks with a Python function reference run locally unless routed elsewhere: made on first use.
    if (c.executor === 'python' && !this.executors.has('python')) this.executors.set('python', localPythonExecutor(this.pythonOptions));
    const ex = this.executors.get(c.executor);
    if (!ex) return `unknown executor ${JSON.stringify(c.executor)} for task ${c.task} (known: ${[...this.executors.keys(), 'starlark'].join(', ')})`;
    if (!ex.canRun(c.task, c.command)) {
      return c.command
        ? `executor ${c.executor} cannot run task ${c.task}`
        : `task ${c.task} has no implementation: register it (engine.registerTask(${JSON.stringify(c.task)}, fn), or larkflow run --tasks FILE exporting ${c.task}), or declare it with command=[...]`;
    }
    return ex;
  }

  /** Starts the work an appended event calls for. */
  private sideEffect(run: LiveRun, e: HistoryEvent): void {
    switch (e.kind) {
      case 'SignalReceived':
        // A cancellation that came through the inbox (committed): cancel now.
        if (e.name === CANCEL_SIGNAL) this.cancelFromInbox(run, e.payload);
        return;
      case 'TaskScheduled':
        if (e.overallTimeoutMs !== undefined) this.armOverallTimeout(run, e.stepId, e.at + e.overallTimeoutMs, e.overallTimeoutMs);
        return;
      case 'TaskCompleted':
      case 'TaskFailed': {
        const st = run.steps.get(e.stepId);
        if (st) st.ended = true;
        run.timers.get(`overall:${e.stepId}`)?.();
        run.timers.delete(`overall:${e.stepId}`);
        return;
      }
      case 'AttemptStarted':
        this.submitAttempt(run, e.stepId, e.attempt);
        return;
      case 'TimerStarted': {
        const cancel = this.clock.setTimer(e.fireAt, () => {
          run.timers.delete(e.stepId);
          if (run.finished) return;
          this.activate(run, null, [{ kind: 'TimerFired', at: this.clock.now(), stepId: e.stepId }]);
        });
        run.timers.set(e.stepId, cancel);
        return;
      }
      case 'RetryScheduled': {
        const st = run.steps.get(e.stepId);
        if (!st) return;
        st.cancelTimer = this.clock.setTimer(e.fireAt, () => {
          st.cancelTimer = undefined;
          if (run.finished || st.abandoned) return;
          const ex = this.executorFor(run, st.cmd);
          if (typeof ex === 'string') return this.failMissing(run, e.stepId, ex);
          st.attempt = e.attempt;
          this.activate(run, null, [this.attemptStarted(run, st.cmd, e.attempt, ex, this.clock.now())]);
        });
        return;
      }
      case 'ChildRunStarted': {
        if (!this.store.getRun(e.childRunId)) {
          this.startRun(run.script, e.workflow, [...e.args], { ...e.kwargs }, run.env, e.childRunId, {
            parent: { runId: run.runId, stepId: e.stepId },
            ...(run.remote ? { remote: run.remote } : {}),
            ...(run.codeDir !== undefined ? { codeDir: run.codeDir } : {}),
            ...(run.queue !== undefined ? { queue: run.queue } : {}),
          });
        }
        return;
      }
      case 'RunCompleted':
      case 'RunFailed':
      case 'RunCancelled':
        this.finishRun(run, e);
        return;
      default:
        return;
    }
  }

  private submitAttempt(run: LiveRun, stepId: string, attempt: number): void {
    const st = run.steps.get(stepId);
    if (!st) return;
    st.attempt = attempt;
    // Draining: the attempt is recorded (AttemptStarted) but left for the worker that takes the run next.
    if (this.draining) return;
    const ex = this.executorFor(run, st.cmd);
    if (typeof ex === 'string') {
      queueMicrotask(() => {
        if (!run.finished) this.failMissing(run, stepId, ex);
      });
      return;
    }
    st.executor = ex;
    st.startedAt = this.clock.now();
    if (ex.name !== 'starlark' && this.taskDispatch?.handles(ex.name)) return this.dispatchAttempt(run, st, stepId, attempt, ex.name);
    const handle = ex.submit({
      ...this.attemptRequest(run, st, stepId, attempt),
      signal: run.abort.signal,
      onHeartbeat: this.heartbeatRecorder(run, st, stepId, attempt),
      onSubmitted: (job: SubmittedJob) => {
        if (run.finished || this.closed || st.attempt !== attempt) return;
        (st.submitted ??= new Map()).set(attempt, job);
        this.activate(run, null, [{ kind: 'AttemptSubmitted', at: this.clock.now(), stepId, attempt, ...job }]);
      },
    });
    st.handleId = handle.id;
    st.attemptInFlight = true;
    this.inFlight++;
    handle.done.then(
      (outcome) => {
        if (st.attempt === attempt) st.attemptInFlight = false;
        this.inFlight--;
        this.attemptDone(run, stepId, attempt, outcome);
      },
      (err: unknown) => {
        if (st.attempt === attempt) st.attemptInFlight = false;
        this.inFlight--;
        this.attemptDone(run, stepId, attempt, { ok: false, error: { kind: 'executor', message: String(err), retryable: true } });
      },
    );
  }

  private inFlight = 0;
  private draining = false;

  /** What an executor needs to run an attempt, as JSON (the same whether it runs here or from the task queue). */
  private attemptRequest(run: LiveRun, st: StepRuntime, stepId: string, attempt: number): Omit<QueuedAttempt, 'executor'> {
    return {
      runId: run.runId,
      stepId,
      attempt,
      idempotencyKey: `${run.runId}/${stepId}/${attempt}`,
      task: st.cmd.task,
      ...(st.cmd.command ? { command: st.cmd.command } : {}),
      args: st.cmd.args,
      kwargs: st.cmd.kwargs,
      env: run.env,
      ...(st.cmd.timeoutMs !== undefined ? { timeoutMs: st.cmd.timeoutMs } : {}),
      ...(st.cmd.reference !== undefined ? { reference: st.cmd.reference } : {}),
      ...(run.remote ? { runDefaults: run.remote } : {}),
      ...(run.codeDir !== undefined ? { codeDir: run.codeDir } : {}),
      ...(st.cmd.resources !== undefined ? { resources: st.cmd.resources } : {}),
      ...(st.submitted?.has(attempt) ? { submitted: st.submitted.get(attempt)! } : {}),
    };
  }

  /**
   * Hands an attempt to the shared task queue (its AttemptStarted is durable): any worker's poller
   * runs it and posts the result to the run's inbox. Enqueueing is idempotent, so a new owner of
   * the run (after a crash here) queues the same attempt again harmlessly; an unreachable database
   * is tried again until the attempt is in or the run left this engine.
   */
  private dispatchAttempt(run: LiveRun, st: StepRuntime, stepId: string, attempt: number, executor: string): void {
    st.queued = attempt;
    st.enqueuing = true;
    const queued: QueuedAttempt = { ...this.attemptRequest(run, st, stepId, attempt), executor };
    const dispatch = this.taskDispatch!;
    st.enqueued = new Promise<void>((resolve) => {
      const send = (delayMs: number): void => {
        dispatch.enqueue(queued).then(
          () => {
            st.enqueuing = false;
            resolve();
            this.checkIdle();
          },
          () => {
            if (run.finished || this.closed || st.queued !== attempt) {
              st.enqueuing = false;
              resolve();
              return;
            }
            setTimeout(() => send(Math.min(delayMs * 2, 5000)), delayMs).unref();
          },
        );
      };
      send(200);
    });
  }

  /** Takes back a queued attempt that will not be waited for (the run is cancelled, the step timed out). */
  private withdrawQueued(run: LiveRun, st: StepRuntime, reason: string): void {
    const attempt = st.queued;
    if (attempt === undefined || !this.taskDispatch) return;
    st.queued = undefined;
    const dispatch = this.taskDispatch;
    void (st.enqueued ?? Promise.resolve())
      .then(() => dispatch.withdraw({ runId: run.runId, stepId: st.cmd.stepId, attempt }, reason))
      .catch(() => undefined); // a late result is recorded as stale when it arrives
  }

  /**
   * A queued attempt's result arrived in the run's inbox: recorded with the message's receipt in
   * one append (so it is taken exactly once), or, if the attempt no longer counts (the step timed
   * out, the run is cancelled, a result of an earlier try), only the receipt.
   */
  private queuedAttemptEnded(run: LiveRun, received: NewEvent, payload: Json): void {
    const p = payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? payload : {};
    const stepId = typeof p['stepId'] === 'string' ? p['stepId'] : undefined;
    const attempt = typeof p['attempt'] === 'number' ? p['attempt'] : undefined;
    const outcome = taskOutcomeOf(p['outcome']);
    const st = stepId !== undefined ? run.steps.get(stepId) : undefined;
    if (!st || stepId === undefined || attempt === undefined || !outcome || st.queued !== attempt || st.attempt !== attempt || st.ended || st.abandoned || run.cancelling) {
      this.activate(run, null, [received]);
      return;
    }
    st.queued = undefined;
    const job = p['submitted'];
    const before: NewEvent[] = [received];
    if (job !== null && typeof job === 'object' && !Array.isArray(job) && typeof job['submissionId'] === 'string' && typeof job['backendId'] === 'string' && typeof job['executor'] === 'string' && !st.submitted?.has(attempt)) {
      const j: SubmittedJob = { executor: job['executor'], submissionId: job['submissionId'], backendId: job['backendId'], ...(typeof job['backendUid'] === 'string' ? { backendUid: job['backendUid'] } : {}) };
      (st.submitted ??= new Map()).set(attempt, j);
      before.push({ kind: 'AttemptSubmitted', at: received.at, stepId, attempt, ...j });
    }
    this.attemptDone(run, stepId, attempt, outcome, before);
  }

  /**
   * @internal A child run driven by another worker ended (a shared-database worker read it from
   * the database): its parent, live here, records the end once. False if there is nothing to do.
   */
  childEnded(parentRunId: string, childRunId: string, status: RunRecord['status'], childHistory: readonly HistoryEvent[]): boolean {
    const run = this.live.get(parentRunId);
    if (!run || run.finished || status === 'running') return false;
    const stepId = [...run.children].find(([, c]) => c === childRunId)?.[0];
    if (stepId === undefined || run.childEnds.has(stepId)) return false;
    if (this.store.history(parentRunId).some((e) => (e.kind === 'ChildRunCompleted' || e.kind === 'ChildRunFailed') && e.stepId === stepId)) return false;
    run.childEnds.add(stepId);
    const ch = foldHistory(childHistory);
    const at = this.clock.now();
    this.activate(run, null, [
      status === 'completed'
        ? { kind: 'ChildRunCompleted', at, stepId, result: ch.result ?? null }
        : { kind: 'ChildRunFailed', at, stepId, error: ch.error ?? { kind: 'child', message: `child run ${status}`, retryable: false } },
    ]);
    return true;
  }

  /**
   * @internal Runs here an attempt a shared-database worker's task poller took from the task queue
   * (another worker's run). Returns its handle, or why this process cannot run it.
   */
  runQueuedAttempt(a: QueuedAttempt, io: { readonly signal: AbortSignal; readonly onSubmitted?: (job: SubmittedJob) => void }): { readonly handle: TaskHandle; readonly executor: Executor } | string {
    if (this.closed) return 'this worker is stopping';
    if (a.executor === 'python' && !this.executors.has('python')) this.executors.set('python', localPythonExecutor(this.pythonOptions));
    const ex = this.executors.get(a.executor);
    if (!ex || a.executor === 'starlark') return `this worker has no executor ${JSON.stringify(a.executor)} (known: ${[...this.executors.keys()].join(', ')})`;
    if (!ex.canRun(a.task, a.command)) return `this worker cannot run task ${a.task} on executor ${a.executor}: register it on every worker (larkflow worker --tasks FILE)`;
    const { executor: _name, ...request } = a;
    const handle = ex.submit({ ...request, signal: io.signal, ...(io.onSubmitted ? { onSubmitted: io.onSubmitted } : {}) });
    return { handle, executor: ex };
  }

  /** Records an attempt's heartbeats: the latest details, at most once a second. */
  private heartbeatRecorder(run: LiveRun, st: StepRuntime, stepId: string, attempt: number): (details: Json) => void {
    let last = -Infinity;
    let pending: Json | undefined;
    let timer: NodeJS.Timeout | undefined;
    const record = (details: Json): void => {
      if (run.finished || this.closed || st.attempt !== attempt || st.ended) return;
      last = Date.now();
      this.activate(run, null, [{ kind: 'AttemptHeartbeat', at: this.clock.now(), stepId, attempt, details }]);
    };
    return (details) => {
      const wait = last + 1000 - Date.now();
      if (wait <= 0) return record(details);
      pending = details;
      timer ??= setTimeout(() => {
        timer = undefined;
        if (pending !== undefined) record(pending);
        pending = undefined;
      }, wait);
      timer.unref();
    };
  }

  /** Task attempts running now in this process. */
  get attemptsInFlight(): number {
    return this.inFlight;
  }

  /**
   * Stops gracefully: no new attempt starts; the attempts in flight may finish (and their results be
   * recorded) for up to `drainMs`; then the engine closes, releasing its runs for another worker
   * (which runs the attempts recorded meanwhile, with the same idempotency keys).
   */
  async drain(drainMs = 30_000): Promise<void> {
    if (this.closed) return;
    this.draining = true;
    const until = Date.now() + drainMs;
    while (this.inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    // Let the last results' activations commit.
    await new Promise((r) => setImmediate(r));
    await this.close();
  }

  /**
   * A worker on this engine's database: `start()` recovers unfinished runs nobody drives now and
   * keeps looking every `pollIntervalMs` (runs orphaned later by a crashed process); `stop({ drainMs })`
   * drains and closes the engine.
   */
  worker(options: { readonly pollIntervalMs?: number } = {}): EngineWorker {
    let timer: NodeJS.Timeout | undefined;
    const look = (): void => {
      if (this.closed) return;
      try {
        this.recover();
      } catch (e) {
        process.emitWarning(`larkflow: worker: ${(e as Error).message}`);
      }
    };
    return {
      start: () => {
        if (timer) return;
        look();
        timer = setInterval(look, options.pollIntervalMs ?? 1000);
      },
      stop: async (o = {}) => {
        if (timer) clearInterval(timer);
        timer = undefined;
        await this.drain(o.drainMs);
      },
    };
  }

  /** Fails a step that has not ended by `at`: its attempt is aborted and no retry follows. */
  private armOverallTimeout(run: LiveRun, stepId: string, at: number, ms: number): void {
    const st = run.steps.get(stepId);
    if (!st) return;
    const cancel = this.clock.setTimer(at, () => {
      if (run.finished || st.abandoned || st.ended) return;
      st.abandoned = true;
      st.cancelTimer?.();
      if (st.handleId && st.executor) st.executor.cancel(st.handleId);
      this.withdrawQueued(run, st, 'the step timed out');
      this.releaseWaiters(st.cacheKey, run, stepId, null);
      const now = this.clock.now();
      this.activate(run, null, [
        { kind: 'TaskFailed', at: now, stepId, error: { kind: 'timeout', message: `task ${st.cmd.task} did not finish within its overall timeout of ${ms / 1000}s`, retryable: false } },
      ]);
    });
    run.timers.set(`overall:${stepId}`, cancel);
  }

  private attemptDone(run: LiveRun, stepId: string, attempt: number, outcome: TaskOutcome, before: readonly NewEvent[] = []): void {
    const st = run.steps.get(stepId);
    if (!st || run.finished || st.abandoned || st.attempt !== attempt || this.closed) {
      if (before.length > 0 && !run.finished && !this.closed) this.activate(run, null, [...before]);
      this.checkIdle();
      return;
    }
    const at = this.clock.now();
    try {
      if (outcome.ok) {
        const plan = planOffload(this.blobs, outcome.value, this.blobThreshold);
        if (plan.blob) {
          // The blob is stored before the history refers to it.
          const blob = plan.blob;
          this.pendingIo++;
          this.blobs.put(blob.digest, blob.bytes).then(
            () => {
              this.pendingIo--;
              this.blobValues.set(blob.digest, outcome.value);
              this.completeExecuted(run, st, stepId, attempt, plan.value, outcome.value, before);
            },
            (err: unknown) => {
              this.pendingIo--;
              const retryable = (err as { retryable?: boolean }).retryable ?? true;
              this.attemptDone(run, stepId, attempt, { ok: false, error: { kind: 'storage', message: `cannot store the result of ${st.cmd.task}: ${(err as Error).message}`, retryable } }, before);
            },
          );
          return;
        }
        this.completeExecuted(run, st, stepId, attempt, outcome.value, outcome.value, before);
        return;
      }
      const failed: NewEvent = { kind: 'AttemptFailed', at, stepId, attempt, error: outcome.error };
      const delay = run.cancelling ? null : retryDelay(st.cmd.retry, attempt, outcome.error, `${run.runId}/${stepId}`);
      if (delay !== null) {
        // Through the activation queue (RetryScheduled wakes no workflow code), so it is recorded
        // in order after an activation in progress.
        this.activate(run, null, [...before, failed, { kind: 'RetryScheduled', at, stepId, attempt: attempt + 1, fireAt: at + delay }]);
        return;
      }
      this.activate(run, null, [...before, failed, { kind: 'TaskFailed', at, stepId, error: attemptsExhausted(outcome.error, attempt) }]);
      this.releaseWaiters(st.cacheKey, run, stepId, null);
    } catch (e) {
      // The store failed: the run stays unfinished in the database and is recovered later.
      this.dropLive(run, e);
    }
  }

  /** Outstanding blob reads and writes (the engine is not idle while there are some). */
  private pendingIo = 0;

  /** Records a successful attempt (`result` as history keeps it, `value` the real value). */
  private completeExecuted(run: LiveRun, st: StepRuntime, stepId: string, attempt: number, result: Json, value: Json, before: readonly NewEvent[] = []): void {
    if (run.finished || this.closed) return this.checkIdle();
    if (st.abandoned) {
      if (before.length > 0) this.activate(run, null, [...before]);
      return this.checkIdle();
    }
    const at = this.clock.now();
    const done: NewEvent = { kind: 'TaskCompleted', at, stepId, attempt, result, source: 'executed', durationMs: at - (st.startedAt ?? at) };
    if (result !== value) this.liveValues.set(done, value);
    if (st.cacheKey && run.cacheMode !== 'off') {
      try {
        const size = isBlobMarker(result) ? result.size : jsonBytes(result).byteLength;
        this.cache.put({ key: st.cacheKey, task: st.cmd.task, result, size, createdAt: at, expiresAt: at + (st.cmd.cache?.ttlMs ?? 0), runId: run.runId, stepId });
      } catch (e) {
        process.emitWarning(`larkflow: could not cache the result of ${stepId}: ${(e as Error).message}`);
      }
    }
    // Identical calls waiting on this one get its result first: committing it may end this run, and
    // a run that ends releases the keys it still leads as failed.
    this.releaseWaiters(st.cacheKey, run, stepId, { result, value });
    try {
      this.activate(run, null, [...before, done]);
    } catch (e) {
      this.dropLive(run, e);
    }
  }

  /**
   * The first attempt of a cache key has ended: identical calls waiting for it complete from its
   * result (recorded as cache hits), or, if it failed, run attempts of their own.
   */
  private releaseWaiters(key: string | undefined, run: LiveRun, stepId: string, ok: { result: Json; value: Json } | null): void {
    if (!key) return;
    const lead = this.inflightKeys.get(key);
    if (!lead || lead.runId !== run.runId || lead.stepId !== stepId) return;
    this.inflightKeys.delete(key);
    for (const w of lead.waiters) {
      if (w.run.finished) continue;
      const wst = w.run.steps.get(w.stepId);
      if (!wst || wst.abandoned) continue;
      const at = this.clock.now();
      if (ok) {
        const done: NewEvent = { kind: 'TaskCompleted', at, stepId: w.stepId, attempt: 0, result: ok.result, source: 'cache', cachedFrom: { runId: lead.runId, stepId: lead.stepId } };
        if (ok.result !== ok.value) this.liveValues.set(done, ok.value);
        this.activate(w.run, null, [done]);
      } else {
        const ex = this.executorFor(w.run, wst.cmd);
        if (typeof ex !== 'string') this.activate(w.run, null, [this.attemptStarted(w.run, wst.cmd, 1, ex, at)]);
      }
    }
  }

  /** Serves a cache hit whose result is a blob: fetched and verified first; a bad blob is a miss. */
  private fetchCachedBlob(run: LiveRun, c: ScheduleTask, key: string, marker: Json, from: { runId: string; stepId: string }): void {
    if (!isBlobMarker(marker)) return;
    this.pendingIo++;
    getJson(this.blobs, { digest: marker.$blob, size: marker.size }).then(
      (value) => {
        this.pendingIo--;
        if (run.finished) return this.checkIdle();
        this.blobValues.set(marker.$blob, value);
        const done: NewEvent = { kind: 'TaskCompleted', at: this.clock.now(), stepId: c.stepId, attempt: 0, result: marker, source: 'cache', cachedFrom: from };
        this.liveValues.set(done, value);
        this.cacheRecordHit(key, this.clock.now());
        this.activate(run, null, [done]);
      },
      (err: unknown) => {
        this.pendingIo--;
        if (run.finished) return this.checkIdle();
        process.emitWarning(`larkflow: cache entry ${key.slice(0, 12)} of ${c.task} is unusable (${(err as Error).message}); running the task`);
        const ex = this.executorFor(run, c);
        if (typeof ex !== 'string') this.activate(run, null, [this.attemptStarted(run, c, 1, ex, this.clock.now())]);
      },
    );
  }

  /** The cache key of a task call: task, implementation digest, cache_version and arguments. */
  private cacheKeyOf(run: LiveRun, c: ScheduleTask): { key: string; parts: NonNullable<TaskScheduled['cacheKeyParts']> } {
    let impl: string;
    if (c.executor === 'starlark') {
      const fn = run.machine.starlarkTasks.get(c.task);
      const code = fn?.code;
      impl = starlarkImplementationDigest(code ? code.source.text.slice(code.pos, code.end ?? code.source.text.length) : c.task);
    } else if (c.command) {
      // The code the command can reach (its script's work tree, or the task's code = [...]) and the
      // environment it gets: a change to either is a miss, never a stale hit.
      impl = processImplementationDigest(c.command, process.cwd(), { code: run.machine.declaredTasks.get(c.task)?.options.code, env: run.env });
    } else if (c.executor !== 'local' && c.executor !== 'process') {
      // A remote task: what it calls, the image it runs in, and the code bundle it unpacks (file
      // sync); a JS task of this process also its function's digest. (An image tag that is rebuilt
      // under the same name is not seen: use immutable tags, or bump cache_version.)
      const image = c.resources?.image ?? run.remote?.image ?? '';
      impl = digestOf({
        remote: c.executor,
        reference: c.reference ?? c.task,
        image,
        bundle: run.remote?.bundle?.sha256 ?? null,
        local: this.functions.implementationDigestOf(c.task) ?? null,
      });
    } else {
      impl = this.functions.implementationDigestOf(c.task) ?? `unregistered:${c.task}`;
    }
    const version = c.cache?.version ?? '';
    const key = cacheKey({ task: c.task, implementationDigest: impl, cacheVersion: version, args: c.args, kwargs: c.kwargs });
    return { key, parts: { implementation: impl, version, args: digestOf({ args: c.args.map(argumentDigest), kwargs: Object.fromEntries(Object.keys(c.kwargs).map((k) => [k, argumentDigest(c.kwargs[k]!)])) }) } };
  }

  /** Identical calls waiting on attempts of a run that stops run attempts of their own. */
  private releaseKeysOf(run: LiveRun): void {
    for (const [key, lead] of [...this.inflightKeys]) if (lead.runId === run.runId) this.releaseWaiters(key, run, lead.stepId, null);
  }

  private finishRun(run: LiveRun, e: HistoryEvent): void {
    run.finished = true;
    // The run's end notifications were committed with its terminal event: send them now (async).
    if (run.notify) {
      this.queuedNotifications = true;
      this.scheduleDelivery();
    }
    this.releaseKeysOf(run);
    for (const cancel of run.timers.values()) cancel();
    for (const st of run.steps.values()) st.cancelTimer?.();
    if (!run.abort.signal.aborted) run.abort.abort(new Error('run finished'));
    this.live.delete(run.runId);
    let result: RunResult;
    switch (e.kind) {
      case 'RunCompleted':
        result = { runId: run.runId, status: 'completed', result: historyToJs(e.result) };
        break;
      case 'RunFailed':
        result = { runId: run.runId, status: 'failed', error: e.error };
        break;
      default:
        result = { runId: run.runId, status: 'cancelled', error: { kind: 'cancelled', message: (e as { reason?: string }).reason ?? 'cancelled', retryable: false } };
    }
    run.resolve(result);
    if (run.parent) {
      const parent = this.live.get(run.parent.runId);
      // On a shared database a parent driven elsewhere (or parked) is told through its inbox; its
      // worker reads the child's end from the database.
      if (!parent && this.store.durable) {
        try {
          this.store.postInbox(run.parent.runId, { kind: 'signal', name: CHILD_ENDED_SIGNAL, payload: { childRunId: run.runId } });
        } catch {
          // the parent's worker also looks at its children at every poll
        }
      }
      if (parent && !parent.finished && !parent.childEnds.has(run.parent.stepId)) {
        parent.childEnds.add(run.parent.stepId);
        const at = this.clock.now();
        this.activate(parent, null, [
          e.kind === 'RunCompleted'
            ? { kind: 'ChildRunCompleted', at, stepId: run.parent.stepId, result: e.result }
            : { kind: 'ChildRunFailed', at, stepId: run.parent.stepId, error: result.error! },
        ]);
      }
    }
    this.checkIdle();
  }

  private dropLive(run: LiveRun, e: unknown): void {
    if (run.finished && !this.live.has(run.runId)) return;
    run.finished = true;
    this.live.delete(run.runId);
    this.releaseKeysOf(run);
    if (!run.abort.signal.aborted) run.abort.abort(new Error(e instanceof FencedError ? 'run taken over by another worker' : 'engine error'));
    for (const c of run.timers.values()) c();
    for (const st of run.steps.values()) st.cancelTimer?.();
    // Another worker holds the run now: stop driving it at once (its appends would be refused) and
    // let callers have the result that worker records.
    if (e instanceof FencedError) {
      if (!this.closed) this.follow(run);
      this.checkIdle();
      return;
    }
    // Another writer appended to the history (e.g. `larkflow cancel` from another process): rebuild
    // the run from its history here and go on (the lease is still this engine's, so the claim
    // succeeds); the caller's result promise follows the rebuilt run, or the worker that has it.
    if (!this.closed && e instanceof StoreError && /moved on/.test(e.message)) {
      try {
        const rebuilt = this.recoverRun(run.runId);
        if (rebuilt) {
          rebuilt.result.then(run.resolve, run.reject);
          return;
        }
        if (this.recoveryIssues.get(run.runId)?.reason === 'owned') {
          this.follow(run);
          this.checkIdle();
          return;
        }
        const recovering = this.recovering.get(run.runId);
        if (recovering) {
          recovering.then(() => this.result(run.runId)).then(run.resolve, run.reject);
          return;
        }
      } catch {
        // fall through: report the original failure
      }
    }
    // Give the lease up, so that a recover() (here or elsewhere) may take the run at once.
    if (!this.closed) {
      try {
        this.store.releaseLeases(this.workerId, [{ runId: run.runId, owner: this.workerId, epoch: run.epoch }]);
      } catch {
        // the lease runs out on its own
      }
    }
    const msg = e instanceof Error ? e.message : String(e);
    run.resolve({ runId: run.runId, status: 'failed', error: { kind: 'storage', message: msg, retryable: true } });
    this.checkIdle();
  }

  /** The result of a run another worker drives, when it ends (the store is polled). */
  private awaitRemote(runId: string): Promise<RunResult> {
    return new Promise<RunResult>((resolve, reject) => {
      const key = `${runId}\u0000${++this.followSeq}`;
      const timer = setInterval(() => {
        let rec: RunRecord | undefined;
        try {
          rec = this.store.getRun(runId);
        } catch {
          return;
        }
        if (rec && rec.status === 'running') {
          // Still running: fine while a live worker holds it; if that worker went away, say so.
          let lease: ReturnType<EventStore['leaseOf']>;
          try {
            lease = this.store.leaseOf(runId);
          } catch {
            return;
          }
          if (leaseIsHeld(lease)) return;
          this.unfollow(key);
          reject(new UsageError(`run ${runId} is not finished and its worker ${lease?.owner ?? ''} went away: recover() it (or run larkflow worker)`));
          return;
        }
        this.unfollow(key);
        this.result(runId).then(resolve, reject);
      }, this.pollIntervalMs);
      this.followed.set(key, { timer, reject });
    });
  }

  /** Settles a dropped run's result when the worker that took it over ends it. */
  private follow(run: LiveRun): void {
    this.awaitRemote(run.runId).then(run.resolve, run.reject);
  }

  private unfollow(runId: string): void {
    const f = this.followed.get(runId);
    if (!f) return;
    clearInterval(f.timer);
    this.followed.delete(runId);
  }

  private emit(runId: string, events: readonly HistoryEvent[]): void {
    const a = this.listeners.get(runId);
    const b = this.listeners.get('*');
    if (!a && !b) return;
    for (const e of events) {
      if (a) for (const l of a) l(e, runId);
      if (b) for (const l of b) l(e, runId);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Inspecting, cancelling, recovering

  /**
   * The result of a run: at once if it has ended, else when it ends — a run live here, being
   * recovered here, or driven by another worker that holds its lease (then the store is polled).
   * @throws UsageError for an unknown run, or an unfinished run that no worker drives
   */
  async result(runId: string): Promise<RunResult> {
    const live = this.live.get(runId);
    if (live) return live.result;
    const recovering = this.recovering.get(runId);
    if (recovering) {
      await recovering;
      return this.result(runId);
    }
    const rec = this.store.getRun(runId);
    if (!rec) throw new UsageError(`no run ${runId}`);
    if (rec.status === 'running') {
      const lease = this.store.leaseOf(runId);
      if (!leaseIsHeld(lease)) {
        const issue = this.recoveryIssues.get(runId);
        throw new UsageError(`run ${runId} is not finished and no worker is running it${issue ? ` (${issue.message})` : ''}: recover() it (or run larkflow worker)`);
      }
      return this.awaitRemote(runId);
    }
    const state = this.state(runId);
    return {
      runId,
      status: rec.status as RunResult['status'],
      ...(state.result !== undefined ? { result: historyToJs(state.result) } : {}),
      ...(state.error ? { error: state.error } : {}),
      ...(state.status === 'cancelled' ? { error: { kind: 'cancelled', message: state.cancelReason ?? 'cancelled', retryable: false } } : {}),
    };
  }

  /** The folded state of a run (steps, attempts, status). */
  state(runId: string): RunState {
    const h = this.store.history(runId);
    if (h.length === 0) throw new UsageError(`no run ${runId}`);
    return foldHistory(h);
  }

  history(runId: string): HistoryEvent[] {
    const h = this.store.history(runId);
    if (h.length === 0) throw new UsageError(`no run ${runId}`);
    return h;
  }

  /**
   * Runs, newest first: by `status`, `workflow`, `since`/`until` (start time), `search` (a
   * case-insensitive substring of the id or workflow), at most `limit`, after the cursor `after`.
   */
  runs(filter?: RunFilter): RunRecord[] {
    return this.store.listRuns(filter);
  }

  /**
   * A page of runs (as `runs`) and the cursor of the next page (undefined on the last): keyset
   * pagination, stable while runs are added.
   */
  listRuns(filter: RunFilter & { readonly limit: number; /** Only runs of this pipeline (LARKFLOW_PIPELINE in their environment). */ readonly pipeline?: string }): { readonly runs: RunRecord[]; readonly next?: string } {
    if (filter.pipeline !== undefined) {
      // Scan pages of the store, keeping the pipeline's runs: the cursor stays the store's.
      const { pipeline, ...rest } = filter;
      const kept: RunRecord[] = [];
      let after = rest.after;
      for (;;) {
        const page = this.store.listRuns({ ...rest, limit: 200, ...(after !== undefined ? { after } : {}) });
        for (const r of page) {
          const first = this.store.history(r.runId, 1)[0];
          if (first?.kind === 'RunStarted' && first.env.LARKFLOW_PIPELINE === pipeline) kept.push(r);
          if (kept.length > filter.limit) return { runs: kept.slice(0, filter.limit), next: runCursor(kept[filter.limit - 1]!) };
        }
        if (page.length < 200) return { runs: kept };
        after = runCursor(page[page.length - 1]!);
      }
    }
    const page = this.store.listRuns({ ...filter, limit: filter.limit + 1 });
    if (page.length <= filter.limit) return { runs: page };
    const runs = page.slice(0, filter.limit);
    return { runs, next: runCursor(runs[runs.length - 1]!) };
  }

  /**
   * Requests cancellation: running attempts are aborted, atexit handlers run, and the run ends as
   * cancelled.
   */
  cancel(runId: string, reason = 'cancelled by user'): void {
    const run = this.live.get(runId);
    if (!run) {
      const rec = this.store.getRun(runId);
      if (!rec) throw new UsageError(`no run ${runId}`);
      if (rec.status !== 'running') throw new UsageError(`run ${runId} has already ${rec.status === 'blocked' ? 'blocked' : 'ended'} (${rec.status})`);
      // On a shared database the run is another worker's: the request goes through its inbox.
      if (this.store.durable) {
        this.store.postInbox(runId, { kind: 'signal', name: CANCEL_SIGNAL, payload: { reason } });
        return;
      }
      // Not live here: record the request (without a lease: it comes from outside); the run's worker
      // sees its history move on and acts on it, or recover() does.
      this.store.append(runId, rec.lastSeq, [{ kind: 'CancelRequested', at: this.clock.now(), reason }]);
      return;
    }
    if (run.cancelling) return;
    run.cancelling = true;
    const at = this.clock.now();
    // The attempts in flight end here, recorded with the request (before it: they are bookkeeping,
    // not activations, so replay skips them).
    const stopped: NewEvent[] = [];
    for (const st of run.steps.values()) {
      st.abandoned = true;
      st.cancelTimer?.();
      // Only the attempts in flight now: atexit cleanups scheduled after this must still run.
      if (st.handleId && st.executor && !st.ended) st.executor.cancel(st.handleId);
      const queued = st.queued !== undefined && st.queued === st.attempt && !st.ended;
      if (st.queued !== undefined) this.withdrawQueued(run, st, `cancelled: ${reason}`);
      if ((st.attemptInFlight || queued) && !st.ended) {
        stopped.push({ kind: 'AttemptFailed', at, stepId: st.cmd.stepId, attempt: st.attempt, error: { kind: 'cancelled', message: `cancelled: ${reason}`, retryable: false } });
      }
      if (!st.ended) this.releaseWaiters(st.cacheKey, run, st.cmd.stepId, null);
    }
    for (const cancel of run.timers.values()) cancel();
    run.timers.clear();
    this.activate(run, null, [...stopped, { kind: 'CancelRequested', at, reason }]);
    // Children after the parent's own request, so their ends do not wake the parent's workflow.
    for (const child of run.children.values()) {
      try {
        if (this.live.has(child) || this.store.getRun(child)?.status === 'running') this.cancel(child, `parent ${runId} cancelled`);
      } catch {
        // the child ended meanwhile
      }
    }
  }

  /** Cancels a live run on a cancellation taken from its inbox (once its receipt is committed). */
  private cancelFromInbox(run: LiveRun, payload: Json): void {
    const reason = payload !== null && typeof payload === 'object' && !Array.isArray(payload) && typeof payload['reason'] === 'string' ? payload['reason'] : 'cancelled by user';
    setImmediate(() => {
      if (run.finished || run.cancelling || this.live.get(run.runId) !== run) return;
      try {
        this.cancel(run.runId, reason);
      } catch {
        // the run ended meanwhile
      }
    });
  }

  /**
   * Finishes every unfinished run in the database: rebuilds each by replaying its history, then
   * restarts the work that was in flight (same attempt, same idempotency key) and pending timers.
   * @returns the ids of the runs recovered
   */
  recover(): string[] {
    if (this.closed) throw new EngineError('the engine is closed', 'closed');
    const out: string[] = [];
    const runs = this.store.unfinishedRuns().filter((r) => !this.live.has(r.runId));
    // Children first, so a parent's recovery can see their state.
    runs.sort((a, b) => b.runId.length - a.runId.length);
    const deferred: { run: LiveRun; finish: () => void }[] = [];
    const failed = (runId: string, e: unknown): void => {
      // The database refused (read-only, full, damaged): say so and leave the run for later.
      this.recoveryIssues.set(runId, { reason: 'store', message: `cannot recover run ${runId}: ${(e as Error).message}` });
      const i = out.indexOf(runId);
      if (i >= 0) out.splice(i, 1);
      const run = this.live.get(runId);
      if (run) this.dropLive(run, e);
    };
    for (const rec of runs) {
      this.recoveryIssues.delete(rec.runId);
      this.skippedRecoveries.delete(rec.runId);
      try {
        this.recoverRun(rec.runId, deferred);
      } catch (e) {
        failed(rec.runId, e);
        continue;
      }
      if (!this.recoveryIssues.has(rec.runId)) out.push(rec.runId);
    }
    for (const d of deferred) {
      try {
        d.finish();
      } catch (e) {
        failed(d.run.runId, e);
      }
    }
    return out;
  }

  /**
   * Claims a run for this engine (see leases.ts): a run another live worker holds is left to it and
   * recorded in `recoveryIssues`. Returns the epoch of the claim, or undefined.
   */
  private claim(runId: string): number | undefined {
    const got = this.store.claimRun(runId, this.workerId, this.leaseMs, holderIsGone);
    if (got.ok) return got.epoch;
    if (got.reason === 'held') {
      const h = got.holder;
      const secs = Math.max(0, Math.ceil((h.leaseUntil - h.now) / 1000));
      this.recoveryIssues.set(runId, {
        reason: 'owned',
        message: `run ${runId} is being run by worker ${h.owner} (its lease runs for ${secs} more s unless renewed); it is left to that worker`,
      });
    }
    return undefined;
  }

  /** The blob digests an event refers to (offloaded inputs or results). */
  private blobsOf(e: HistoryEvent): string[] {
    if ((e.kind === 'TaskCompleted' || e.kind === 'ChildRunCompleted') && isBlobMarker(e.result)) return [e.result.$blob];
    if (e.kind === 'RunStarted' || e.kind === 'TaskScheduled') {
      const out: string[] = [];
      for (const v of [...e.args, ...Object.values(e.kwargs)]) if (isBlobMarker(v)) out.push(v.$blob);
      return out;
    }
    return [];
  }

  /** The event as the machine must see it: blob markers replaced by the values known here. */
  private machineView(e: HistoryEvent): HistoryEvent {
    const value = (v: Json): Json => (isBlobMarker(v) ? (this.blobValues.get(v.$blob) ?? v) : v);
    if ((e.kind === 'TaskCompleted' || e.kind === 'ChildRunCompleted') && isBlobMarker(e.result)) return { ...e, result: value(e.result) } as HistoryEvent;
    if ((e.kind === 'RunStarted' || e.kind === 'TaskScheduled') && this.blobsOf(e).length > 0) {
      return { ...e, args: e.args.map(value), kwargs: Object.fromEntries(Object.entries(e.kwargs).map(([k, v]) => [k, value(v)])) };
    }
    return e;
  }

  /** History with blob markers replaced by their values, or the digests still to fetch. */
  private withBlobValues(history: readonly HistoryEvent[]): { history: HistoryEvent[]; missing: string[] } {
    const missing: string[] = [];
    let any = false;
    for (const e of history) {
      for (const d of this.blobsOf(e)) {
        any = true;
        if (!this.blobValues.has(d)) missing.push(d);
      }
    }
    if (!any || missing.length > 0) return { history: history as HistoryEvent[], missing };
    return { history: history.map((e) => this.machineView(e)), missing };
  }

  /** Fetches (and verifies) blobs into this process's value map. */
  private async fetchBlobs(digests: readonly string[]): Promise<void> {
    for (const d of digests) {
      if (this.blobValues.has(d)) continue;
      try {
        this.blobValues.set(d, await getJson(this.blobs, { digest: d }));
      } catch (e) {
        const msg = (e as Error).message;
        throw new StoreError(/missing|nothing is stored/.test(msg) ? `${msg} (was the run made with another blob storage? pass the same --storage / blobs option)` : msg, { cause: e });
      }
    }
  }

  private recoverRun(runId: string, deferred?: { run: LiveRun; finish: () => void }[]): LiveRun | undefined {
    const epoch = this.claim(runId);
    if (epoch === undefined) return undefined;
    const lease = { owner: this.workerId, epoch };
    const giveUp = (): void => {
      try {
        this.store.releaseLeases(this.workerId, [{ runId, ...lease }]);
      } catch {
        // the lease runs out on its own
      }
    };
    let stored: HistoryEvent[];
    try {
      stored = this.store.history(runId);
    } catch (e) {
      giveUp();
      throw e;
    }
    const { history, missing: missingOwn } = this.withBlobValues(stored);
    const first = stored[0];
    const missing =
      first?.kind === 'RunStarted' && first.resumedFrom
        ? [...missingOwn, ...this.reuseMissing(this.reusableSteps(first.resumedFrom.runId, first.resumedFrom.fromStep))]
        : missingOwn;
    if (missing.length > 0) {
      // Results kept as blobs are fetched first; the run is rebuilt when they are here. It counts
      // as recovered meanwhile (the engine is not idle until it is rebuilt or given up).
      this.pendingIo++;
      const fetched = this.fetchBlobs(missing).then(
        () => {
          this.pendingIo--;
          this.recovering.delete(runId);
          if (!this.live.has(runId) && !this.closed) {
            try {
              this.recoverRun(runId);
            } catch (e) {
              this.recoveryIssues.set(runId, { reason: 'store', message: `cannot recover run ${runId}: ${(e as Error).message}` });
              const run = this.live.get(runId);
              if (run) this.dropLive(run, e);
            }
          }
          this.checkIdle();
        },
        (err: unknown) => {
          this.pendingIo--;
          this.recovering.delete(runId);
          if (!this.closed) giveUp();
          this.recoveryIssues.set(runId, { reason: 'blobs', message: `cannot recover run ${runId}: ${(err as Error).message}` });
          this.checkIdle();
        },
      );
      this.recovering.set(runId, fetched);
      return undefined;
    }
    const started = history[0];
    if (!started || started.kind !== 'RunStarted') return undefined;
    const files = this.store.getScript(started.scriptDigest);
    if (!files) {
      const failed: NewEvent & { kind: 'RunFailed' } = { kind: 'RunFailed', at: this.clock.now(), error: { kind: 'storage', message: `script ${started.scriptDigest} of run ${runId} is missing from the database`, retryable: false } };
      const queued = started.notify ? notificationsFor({ runId, workflow: started.workflow, startedAt: started.at, env: started.env, notify: started.notify }, failed) : undefined;
      this.store.append(runId, history[history.length - 1]!.seq, queued ? [queued, failed] : [failed], lease);
      if (queued) {
        this.queuedNotifications = true;
        this.scheduleDelivery();
      }
      return undefined;
    }
    const reuse = started.resumedFrom ? this.reusableSteps(started.resumedFrom.runId, started.resumedFrom.fromStep) : new Map();
    const run = this.newLive(runId, { digest: started.scriptDigest, bundle: fromStored(files) }, started.parent, reuse, started.env, epoch, started.budgets);
    run.lastSeq = history[history.length - 1]!.seq;
    if (started.remote) run.remote = started.remote;
    if (started.codeDir !== undefined) run.codeDir = started.codeDir;
    if (started.queue !== undefined) run.queue = started.queue;
    if (started.notify) run.notify = { runId, workflow: started.workflow, startedAt: started.at, env: started.env, notify: started.notify };
    run.cacheMode = started.cacheMode ?? 'use';
    for (const id of started.noCacheSteps ?? []) run.noCacheSteps.add(id);
    const { pending, mismatch } = replayHistory(run.machine, history);
    if (mismatch) {
      this.block(run, mismatch);
      return run;
    }
    run.machine.onPrint = (m) => this.printHook(runId, m);
    // STARTED notifications are queued with the run's first activation; if that commit was lost,
    // queue them now (the outbox key makes a second queueing a no-op anyway).
    if (run.notify && !history.some((e) => e.kind === 'NotificationsQueued' && e.notifications.some((n) => n.event === 'STARTED' || n.event === 'TRIGGER_RUN_STARTED'))) {
      const queued = notificationsFor(run.notify, started);
      if (queued) {
        this.emit(runId, this.appendRun(run, [queued]));
        this.queuedNotifications = true;
        this.scheduleDelivery();
      }
    }
    // Rebuild the in-memory step table and restart in-flight work.
    const state = foldHistory(history);
    for (const e of history) {
      if (e.kind === 'TaskScheduled') {
        run.steps.set(e.stepId, {
          cmd: { kind: 'ScheduleTask', stepId: e.stepId, task: e.task, args: e.args, kwargs: e.kwargs, argsDigest: e.argsDigest, callSite: e.callSite, inputsFrom: e.inputsFrom, executor: e.executor, retry: e.retry, ...(e.timeoutMs !== undefined ? { timeoutMs: e.timeoutMs } : {}), ...(e.overallTimeoutMs !== undefined ? { overallTimeoutMs: e.overallTimeoutMs } : {}), ...(e.reference !== undefined ? { reference: e.reference } : {}), ...(e.resources !== undefined ? { resources: e.resources } : {}), ...(this.commandOf(run, e.task) ? { command: this.commandOf(run, e.task)! } : {}) },
          attempt: 1,
        });
      }
      if (e.kind === 'AttemptSubmitted') {
        const st = run.steps.get(e.stepId);
        if (st) (st.submitted ??= new Map()).set(e.attempt, { executor: e.executor, submissionId: e.submissionId, backendId: e.backendId, ...(e.backendUid ? { backendUid: e.backendUid } : {}) });
      }
      if (e.kind === 'TaskScheduled' && e.cacheKey) run.steps.get(e.stepId)!.cacheKey = e.cacheKey;
      if (e.kind === 'ChildRunStarted') run.children.set(e.stepId, e.childRunId);
    }
    const restart: ScheduleTask[] = [];
    const cancelSeq = history.find((e) => e.kind === 'CancelRequested')?.seq;
    if (cancelSeq !== undefined) run.cancelling = true;
    const scheduledAt = new Map<string, number>();
    for (const e of history) if ('stepId' in e && (e.kind === 'TaskScheduled' || e.kind === 'TimerStarted' || e.kind === 'ChildRunStarted')) scheduledAt.set(e.stepId, e.seq);
    // Work that must go on needs its task implementations in this process; without them the run
    // is left unfinished (a worker with the tasks finishes it) rather than failed.
    const missingTasks: string[] = [];
    for (const id of state.order) {
      const s = state.steps[id]!;
      const st = run.steps.get(id);
      if (!st || s.kind !== 'task' || s.status === 'completed' || s.status === 'failed') continue;
      if (cancelSeq !== undefined && (scheduledAt.get(id) ?? 0) < cancelSeq) continue;
      const ex = this.executorFor(run, st.cmd);
      if (typeof ex === 'string' && !missingTasks.includes(st.cmd.task)) missingTasks.push(st.cmd.task);
    }
    if (missingTasks.length > 0) {
      this.live.delete(runId);
      run.finished = true;
      giveUp();
      this.skippedRecoveries.set(runId, missingTasks);
      this.recoveryIssues.set(runId, {
        reason: 'missing-tasks',
        message: `run ${runId} needs task${missingTasks.length === 1 ? '' : 's'} ${missingTasks.join(', ')}, which this process does not have (register them, or pass --tasks FILE); it is left unfinished`,
      });
      return undefined;
    }
    for (const id of state.order) {
      const s = state.steps[id]!;
      // Work scheduled before a cancellation was abandoned by it (atexit cleanups come after).
      if (cancelSeq !== undefined && (scheduledAt.get(id) ?? 0) < cancelSeq) {
        const st = run.steps.get(id);
        if (st) st.abandoned = true;
        continue;
      }
      if (s.kind === 'task' && s.status === 'scheduled' && s.attempts.length === 0) {
        // Scheduled, but what came next (a cache hit, a reused result, a wait for an identical call)
        // was lost: decide again.
        const st = run.steps.get(id);
        if (st) restart.push(st.cmd);
      }
      if (s.kind === 'task') {
        const ev = history.find((x) => x.kind === 'TaskScheduled' && x.stepId === id);
        if (ev && ev.kind === 'TaskScheduled' && ev.overallTimeoutMs !== undefined && s.status !== 'completed' && s.status !== 'failed') {
          this.armOverallTimeout(run, id, ev.at + ev.overallTimeoutMs, ev.overallTimeoutMs);
        }
        const last = s.attempts[s.attempts.length - 1];
        if (s.status === 'running' && last) {
          // The attempt in flight leads its cache key again: identical calls wait for it.
          const key = run.steps.get(id)?.cacheKey;
          if (key && !this.inflightKeys.has(key) && run.cacheMode !== 'off') this.inflightKeys.set(key, { runId, stepId: id, waiters: [] });
          this.submitAttempt(run, id, last.attempt);
        }
        else if (s.status === 'retrying' && s.fireAt !== undefined) {
          const lastFailed = last?.attempt ?? 1;
          this.sideEffect(run, { kind: 'RetryScheduled', seq: 0, at: 0, stepId: id, attempt: lastFailed + 1, fireAt: s.fireAt });
        }
      } else if (s.kind === 'timer' && s.status === 'waiting' && s.fireAt !== undefined) {
        this.sideEffect(run, { kind: 'TimerStarted', seq: 0, at: 0, stepId: id, durationMs: 0, fireAt: s.fireAt, callSite: s.callSite! });
      } else if (s.kind === 'child' && s.status === 'running' && s.childRunId) {
        const child = this.store.getRun(s.childRunId);
        if (!child) {
          const ev = history.find((x) => x.kind === 'ChildRunStarted' && x.stepId === id);
          if (ev) this.sideEffect(run, ev);
        } else if (child.status !== 'running') {
          const ch = foldHistory(this.store.history(s.childRunId));
          const at = this.clock.now();
          run.childEnds.add(id);
          run.followUps.push([
            child.status === 'completed'
              ? { kind: 'ChildRunCompleted', at, stepId: id, result: ch.result ?? null }
              : { kind: 'ChildRunFailed', at, stepId: id, error: ch.error ?? { kind: 'child', message: `child run ${child.status}`, retryable: false } },
          ]);
        }
      }
    }
    // ...and ends the attempts that were in flight then (stopped with the old owner's process).
    if (cancelSeq !== undefined) {
      const at = this.clock.now();
      const stopped: NewEvent[] = [];
      for (const id of state.order) {
        const s = state.steps[id]!;
        const last = s.attempts[s.attempts.length - 1];
        if (s.kind !== 'task' || s.status !== 'running' || !last || last.endedAt !== undefined) continue;
        if ((scheduledAt.get(id) ?? 0) >= cancelSeq) continue;
        stopped.push({ kind: 'AttemptFailed', at, stepId: id, attempt: last.attempt, error: { kind: 'cancelled', message: `cancelled: ${state.cancelRequested ?? 'cancelled'}`, retryable: false } });
        // A queued attempt (on a shared database) is taken back from the queue too.
        void this.taskDispatch?.withdraw({ runId, stepId: id, attempt: last.attempt }, `cancelled: ${state.cancelRequested ?? 'cancelled'}`).catch(() => undefined);
      }
      if (stopped.length > 0) this.emit(runId, this.appendRun(run, stopped));
    }
    if (pending.length > 0) {
      // Commands the history lacks (the script is the stored one, so this follows a lost commit).
      const at = this.clock.now();
      const events = pending.flatMap((c) => this.commandEvents(run, c, at));
      this.awaitApplied(run, this.appendAndApply(run, events));
    }
    // The steps to decide again wait until every run of this recovery has resubmitted its attempts
    // in flight, so that a step that waited on an identical call of another run waits again rather
    // than running a second copy (single flight survives a restart).
    // A cancellation taken from the inbox whose request was not recorded yet (the process stopped
    // between the two): cancel now.
    let lastCancelSignal: HistoryEvent | undefined;
    for (const e of history) if (e.kind === 'SignalReceived' && e.name === CANCEL_SIGNAL) lastCancelSignal = e;
    const cancelPending = lastCancelSignal !== undefined && !history.some((e) => e.kind === 'CancelRequested' && e.seq > lastCancelSignal.seq);
    const finish = (): void => {
      if (cancelPending && lastCancelSignal?.kind === 'SignalReceived') this.cancelFromInbox(run, lastCancelSignal.payload);
      if (restart.length > 0 && !run.finished) {
        const at = this.clock.now();
        const events = restart.flatMap((c) => this.startStep(run, c, at));
        if (events.length > 0) this.awaitApplied(run, this.appendAndApply(run, events));
      }
      // A cancellation recorded while the run was not live here reaches the children too.
      if (cancelSeq !== undefined) {
        for (const child of run.children.values()) {
          try {
            if (this.store.getRun(child)?.status === 'running') this.cancel(child, `parent ${runId} cancelled`);
          } catch {
            // the child ended meanwhile
          }
        }
      }
      if (run.followUps.length > 0 && !run.finished) this.activate(run, null, []);
      // Signals that arrived while nobody drove the run.
      this.deliverInbox(run);
    };
    if (deferred) deferred.push({ run, finish });
    else finish();
    return run;
  }

  private commandOf(run: LiveRun, task: string): readonly string[] | undefined {
    return run.machine.declaredTasks.get(task)?.options.command;
  }

  private block(run: LiveRun, m: NondeterminismError): void {
    const appended = this.appendRun(run, [
      { kind: 'NondeterminismDetected', at: this.clock.now(), message: m.message, ...(m.stepId ? { stepId: m.stepId } : {}), ...(m.expected ? { expected: m.expected } : {}), ...(m.actual ? { actual: m.actual } : {}), ...(m.callSite ? { callSite: m.callSite } : {}) },
    ]);
    this.emit(run.runId, appended);
    run.finished = true;
    this.live.delete(run.runId);
    run.resolve({ runId: run.runId, status: 'blocked', error: { kind: 'nondeterminism', message: m.message, retryable: false } });
    const parent = run.parent ? this.live.get(run.parent.runId) : undefined;
    if (parent && !parent.finished && run.parent) {
      this.activate(parent, null, [
        { kind: 'ChildRunFailed', at: this.clock.now(), stepId: run.parent.stepId, error: { kind: 'nondeterminism', message: `child run ${run.runId} is blocked: ${m.message}`, retryable: false } },
      ]);
    }
  }

  /** Completed task steps of an old run that a resumed run may reuse. */
  private reusableSteps(oldRunId: string, fromStep?: string): LiveRun['reuse'] {
    const history = this.store.history(oldRunId);
    const state = foldHistory(history);
    let limit = state.order.length;
    const from = fromStep ?? state.order.find((id) => state.steps[id]!.status === 'failed');
    if (fromStep !== undefined) {
      const i = state.order.indexOf(fromStep);
      if (i < 0) throw new UsageError(`run ${oldRunId} has no step ${fromStep} (steps: ${state.order.join(', ')})`);
      limit = i;
    }
    const out: LiveRun['reuse'] = new Map();
    state.order.slice(0, limit).forEach((id) => {
      const s = state.steps[id]!;
      if (s.kind === 'timer' && s.status === 'completed') {
        const started = history.find((e) => e.kind === 'TimerStarted' && e.stepId === id);
        const ms = started && started.kind === 'TimerStarted' ? started.durationMs : -1;
        out.set(id, { kind: 'TaskCompleted', seq: 0, at: 0, stepId: id, attempt: 0, result: null, source: 'reused', task: REUSED_TIMER, argsDigest: String(ms) });
      }
      if (s.kind === 'task' && s.status === 'completed' && id !== from) {
        out.set(id, { kind: 'TaskCompleted', seq: 0, at: 0, stepId: id, attempt: 0, result: s.result ?? null, source: 'reused', task: s.name, ...(s.argsDigest ? { argsDigest: s.argsDigest } : {}) });
      }
    });
    return out;
  }

  /**
   * Starts a new run that resumes an ended one: it reuses the recorded results of the steps before
   * `fromStep` (default: the first failed step; siblings that succeeded are reused too) and runs the
   * rest. The new run records the run it came from.
   */
  resume(runId: string, options: ResumeOptions = {}): RunHandle {
    const history = this.store.history(runId);
    const started = history[0];
    if (!started || started.kind !== 'RunStarted') throw new UsageError(`no run ${runId}`);
    const rec = this.store.getRun(runId)!;
    if (rec.status === 'running' && this.live.has(runId)) throw new UsageError(`run ${runId} is still running; cancel it first or wait for it`);
    // "Resume after fixing the code": the fixed file's script, checked against the old history.
    const fixed = options.file !== undefined ? collectScript(options.file) : undefined;
    const files = fixed ? fixed.files : this.store.getScript(started.scriptDigest);
    if (!files) throw new UsageError(`the script of run ${runId} is missing from the database`);
    if (fixed) {
      const names = this.workflowNames(fixed.bundle, started.workflow, started.env);
      if (!names.includes(started.workflow)) {
        throw new UsageError(`${options.file} has no workflow ${started.workflow}, the workflow of run ${runId}${names.length ? ` (it has ${names.join(', ')})` : ''}`);
      }
    }
    const reuse = this.reusableSteps(runId, options.fromStep);
    const state = foldHistory(history);
    const from = options.fromStep ?? state.order.find((id) => state.steps[id]!.status === 'failed');
    const missing = [...this.reuseMissing(reuse), ...(fixed ? this.withBlobValues(history).missing : [])];
    if (missing.length > 0) {
      // Reused results kept as blobs are fetched first, so the workflow sees their values.
      const newId = newRunId();
      this.pendingIo++;
      const result = this.fetchBlobs(missing).then(
        () => {
          this.pendingIo--;
          if (fixed) this.checkFixedScript(runId, history, fixed.bundle, from);
          return this.resumeNow(runId, started, fixed ?? files, reuse, from, options, newId).result;
        },
        (err: unknown): RunResult => {
          this.pendingIo--;
          this.checkIdle();
          return { runId: newId, status: 'failed', error: { kind: 'storage', message: `cannot resume run ${runId}: ${(err as Error).message}`, retryable: true } };
        },
      );
      return { runId: newId, result };
    }
    if (fixed) this.checkFixedScript(runId, history, fixed.bundle, from);
    return this.resumeNow(runId, started, fixed ?? files, reuse, from, options, newRunId());
  }

  /**
   * Checks that a fixed script reaches the steps a resumed run reuses with the same calls: the old
   * history up to the step to run again is replayed against it.
   * @throws NondeterminismError naming the step and the recorded and new calls, as replay does
   */
  private checkFixedScript(runId: string, history: readonly HistoryEvent[], bundle: ScriptBundle, from: string | undefined): void {
    loadWorkflowModule(bundle, workflowPredeclared({ current: null }));
    let end = history.findIndex((e) => 'stepId' in e && e.stepId === from && (e.kind === 'TaskScheduled' || e.kind === 'TimerStarted' || e.kind === 'ChildRunStarted'));
    if (end < 0) end = history.length;
    const prefix = this.withBlobValues(history.slice(0, end).filter((e) => !isTerminal(e) && e.kind !== 'NondeterminismDetected')).history;
    const { mismatch } = replayHistory(new WorkflowMachine(bundle), prefix);
    if (mismatch) {
      throw new NondeterminismError(
        `cannot resume run ${runId} with ${bundle.main}: the fixed script does not reach the steps to reuse with the same calls: ${mismatch.message}`,
        mismatch.stepId,
        mismatch.expected,
        mismatch.actual,
        mismatch.callSite,
      );
    }
  }

  /** Blob digests of reused results that this process does not have. */
  private reuseMissing(reuse: LiveRun['reuse']): string[] {
    const out: string[] = [];
    for (const r of reuse.values()) if (isBlobMarker(r.result) && !this.blobValues.has(r.result.$blob)) out.push(r.result.$blob);
    return out;
  }

  private resumeNow(
    runId: string,
    started: RunStarted,
    script: ScriptFile[] | StoredScript,
    reuse: LiveRun['reuse'],
    from: string | undefined,
    options: ResumeOptions,
    newId: string,
  ): RunHandle {
    if (!Array.isArray(script)) this.store.putScript(script.digest, script.files);
    return this.startRun(
      Array.isArray(script) ? { digest: started.scriptDigest, bundle: fromStored(script) } : script,
      started.workflow,
      [...started.args],
      { ...started.kwargs },
      options.env ? { ...started.env, ...options.env } : started.env,
      newId,
      {
        resumedFrom: { runId, ...(options.fromStep ? { fromStep: options.fromStep } : {}) },
        ...(options.notify !== undefined && options.notify.length > 0 ? { notify: validateNotify(options.notify)! } : {}),
        reuse,
        ...(from ? { noCacheSteps: [from] } : {}),
        ...(options.cache !== undefined ? { cacheMode: options.cache } : {}),
        ...(started.remote ? { remote: started.remote } : {}),
        ...(started.codeDir !== undefined ? { codeDir: started.codeDir } : {}),
        ...(started.queue !== undefined ? { queue: started.queue } : {}),
      },
    );
  }

  /**
   * Replays a run's recorded history against its own script or a changed one, offline: checks each
   * call against the history and compares the final result.
   */
  replay(runId: string, options: { file?: string; source?: { name: string; text: string } } = {}): ReplayReport {
    const history = this.history(runId);
    const started = history[0] as RunStarted;
    let bundle: ScriptBundle;
    if (options.file) bundle = collectScript(options.file).bundle;
    else if (options.source) bundle = fromFiles(options.source.name, new Map([[options.source.name, options.source.text]])).bundle;
    else {
      const files = this.store.getScript(started.scriptDigest);
      if (!files) throw new UsageError(`the script of run ${runId} is missing from the database`);
      bundle = fromStored(files);
    }
    // A script that does not load (a syntax error) is an error of its own, not nondeterminism.
    if (options.file || options.source) loadWorkflowModule(bundle, workflowPredeclared({ current: null }));
    const { history: resolved, missing } = this.withBlobValues(history);
    if (missing.length > 0) throw new UsageError(`run ${runId} has results stored as blobs not fetched in this process: use replayAsync`);
    return replayAgainst(bundle, resolved);
  }

  /** `replay`, fetching results stored as blobs first. */
  async replayAsync(runId: string, options: { file?: string; source?: { name: string; text: string } } = {}): Promise<ReplayReport> {
    const { missing } = this.withBlobValues(this.history(runId));
    await this.fetchBlobs(missing);
    return this.replay(runId, options);
  }

  // ---------------------------------------------------------------------------------------------
  // Idle and shutdown

  /** Number of runs live in this process. */
  get liveRuns(): number {
    return this.live.size;
  }

  /** Resolves when no run is live in this process. */
  whenIdle(): Promise<void> {
    if (this.live.size === 0 && this.pendingIo === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Closes the executors added beside the built-in ones (close starts synchronously: no cancel follows). */
  private closeExtraExecutors(): Promise<unknown> {
    const extra = [...this.executors.values()].filter((e) => e !== this.functions && e !== this.processes);
    return Promise.all(extra.map((e) => e.close?.()));
  }

  /** Remote defaults must name an executor this engine has. */
  private checkRemote(remote: RemoteDefaults): RemoteDefaults {
    if (!this.executors.has(remote.executor) && remote.executor !== 'python') {
      throw new UsageError(`unknown executor ${JSON.stringify(remote.executor)} for the run's tasks (this engine has: ${[...this.executors.keys()].join(', ')}; pass it in EngineOptions.executors)`);
    }
    return remote;
  }

  private checkIdle(): void {
    if (this.live.size === 0 && this.pendingIo === 0 && this.idleWaiters.length > 0) {
      const ws = this.idleWaiters.splice(0);
      for (const w of ws) w();
    }
  }

  /**
   * Stops this engine the way a crash would, for tests that simulate a process dying: nothing more
   * runs, nothing more is written, no lease is given up and no result settles; the store stays open
   * (it may be shared). Engines of this process may take its runs at once, as they take a dead
   * process's runs on this machine.
   * @internal for larkflow/testing and the engine's own tests
   */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    this.abandoned = true;
    if (this.poller) clearInterval(this.poller);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.leases.stop([]);
    retireWorkerId(this.workerId);
    // Remote jobs outlive the engine: stop waiting for them without cancelling them.
    const remotes = this.closeExtraExecutors();
    void remotes.catch(() => undefined);
    for (const run of this.live.values()) {
      run.finished = true;
      if (!run.abort.signal.aborted) run.abort.abort(new Error('engine abandoned'));
      for (const c of run.timers.values()) c();
      for (const st of run.steps.values()) st.cancelTimer?.();
    }
    this.live.clear();
    for (const runId of [...this.followed.keys()]) this.unfollow(runId);
  }

  /** Stops all live work (runs stay unfinished in the database, to be recovered) and closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.poller) clearInterval(this.poller);
    // Give the leases up at once: another worker may take the runs without waiting for them to run out.
    this.leases.stop(this.heldRuns());
    retireWorkerId(this.workerId);
    // Remote jobs outlive the engine: stop waiting for them without cancelling them (recovery re-attaches).
    const remotes = this.closeExtraExecutors();
    for (const run of this.live.values()) {
      if (!run.abort.signal.aborted) run.abort.abort(new Error('engine closed'));
      for (const c of run.timers.values()) c();
      for (const st of run.steps.values()) st.cancelTimer?.();
      run.finished = true;
      run.reject(new EngineError(`the engine was closed before run ${run.runId} ended; the run stays unfinished in the database, and recover() (or larkflow worker) finishes it`, 'closed'));
    }
    this.live.clear();
    for (const [runId, f] of [...this.followed]) {
      this.unfollow(runId);
      f.reject(new EngineError(`the engine was closed while run ${runId} ran on another worker; ask that worker or the database for its result`, 'closed'));
    }
    this.checkIdle();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    // Notifications this engine queued get their (first) delivery before the store closes; what
    // fails waits in the outbox for the next engine's poller (larkflow worker).
    await this.delivering?.catch(() => undefined);
    if (this.queuedNotifications) await deliverDue(this.store, { ...this.notifyOptions, owner: this.workerId }).catch(() => undefined);
    await this.processes.close?.();
    await remotes.catch(() => undefined);
    // A store that commits in the background finishes its writes before it closes.
    await this.store.close();
    this.cacheIndex?.close();
    await this.blobs.close?.();
  }
}

/** The outcome of `Engine.replay`. */
export interface ReplayReport {
  readonly ok: boolean;
  readonly mismatch?: NondeterminismError;
  /** Number of history events checked. */
  readonly events: number;
}

/** Replays a history against a script bundle; compares calls, and the final result if there is one. */
export function replayAgainst(bundle: ScriptBundle, history: readonly HistoryEvent[]): ReplayReport {
  const first = history[0];
  const machine = new WorkflowMachine(bundle, first?.kind === 'RunStarted' ? first.budgets : undefined);
  const { pending, mismatch } = replayHistory(machine, history);
  if (mismatch) return { ok: false, mismatch, events: history.length };
  const ended = history.some(isTerminal);
  if (ended && pending.length > 0) {
    const c = pending[0]!;
    const site = 'callSite' in c ? c.callSite : undefined;
    return {
      ok: false,
      events: history.length,
      mismatch: new NondeterminismError(
        `nondeterminism${'stepId' in c ? ` at step ${c.stepId}` : ''}${site ? ` at ${site.file}:${site.line}` : ''}: the script now makes a call the recorded run never made (${c.kind})`,
        'stepId' in c ? c.stepId : undefined,
        undefined,
        c.kind,
        site,
      ),
    };
  }
  return { ok: true, events: history.length };
}

/** The largest signal or update payload (canonical JSON), so the inbox and history stay small. */
const MAX_SIGNAL_BYTES = 1 << 20;

/** A queue name as given (`[A-Za-z0-9._-]`, 1–64 characters). @throws UsageError otherwise */
function checkQueue(queue: string): string {
  if (typeof queue !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(queue)) throw new UsageError(`a queue name is 1 to 64 letters, digits, '.', '_' or '-', not ${JSON.stringify(queue)}`);
  return queue;
}

function attemptsExhausted(e: ErrorInfo, attempt: number): ErrorInfo {
  if (!e.retryable || attempt <= 1) return e;
  return { ...e, message: `${e.message} (after ${attempt} attempts)` };
}

function toJsonArg(v: unknown, where = 'input'): Json {
  rejectProtoKeys(v, where);
  try {
    const j = jsToHistory(v);
    JSON.stringify(j);
    return j;
  } catch (e) {
    throw new UsageError(`input is not JSON: ${(e as Error).message}`);
  }
}

/** Budgets as given, checked: positive numbers only. */
function checkBudgets<T extends WorkflowBudgets & { sliceMs?: number }>(b: T): T {
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v > 0)) throw new UsageError(`budget ${k} must be a positive number, not ${String(v)}`);
  }
  return b;
}

/**
 * Refuses an object key `__proto__` in workflow inputs: JS would drop it silently (it sets the
 * object's prototype instead of a key), so the workflow would see other inputs than were given.
 */
function rejectProtoKeys(v: unknown, where: string, depth = 0): void {
  if (v === null || typeof v !== 'object' || depth > 64) return;
  if (Array.isArray(v)) {
    v.forEach((x, i) => rejectProtoKeys(x, `${where}[${i}]`, depth + 1));
    return;
  }
  if (Object.prototype.hasOwnProperty.call(v, '__proto__')) {
    throw new UsageError(`${where} has a key "__proto__", which cannot be passed through JavaScript objects; rename the key`);
  }
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) rejectProtoKeys(x, `${where}.${k}`, depth + 1);
}

export { digestOf };

/** A task outcome as a queued attempt's result message carries it, or undefined if it is malformed. */
function taskOutcomeOf(v: Json | undefined): TaskOutcome | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  if (v['ok'] === true && 'value' in v) return { ok: true, value: v['value']! };
  const e = v['error'];
  if (v['ok'] !== false || e === null || typeof e !== 'object' || Array.isArray(e) || typeof e['kind'] !== 'string' || typeof e['message'] !== 'string') return undefined;
  return { ok: false, error: e as unknown as ErrorInfo };
}
