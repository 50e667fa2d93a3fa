/**
 * This file defines the history of a workflow run: an append-only list of typed events. The history
 * alone is enough to replay, draw and explain a run: every scheduled task records its call site and
 * where its arguments came from, every attempt records its executor, handle and logs, and a resumed
 * run records the run it came from.
 *
 * Event kinds are persisted: they are string literals in the past tense, never renamed. A change to
 * an event's shape bumps HISTORY_SCHEMA_VERSION and adds a migration in store/.
 */
import type { Json } from './json.js';

/** Version of the event shapes below (stored with every database). */
export const HISTORY_SCHEMA_VERSION = 1;

/** Where in a workflow file something happened. */
export interface CallSite {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Starlark function names on the stack, outermost first. */
  readonly stack?: readonly string[];
}

/** An error as stored in history: plain JSON. */
export interface ErrorInfo {
  /** e.g. 'task', 'timeout', 'cancelled', 'starlark', 'nondeterminism', 'storage', 'executor' */
  readonly kind: string;
  readonly message: string;
  /** Starlark traceback, task stack or stderr tail, for people. */
  readonly details?: string;
  readonly retryable: boolean;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
}

/** Retry policy of a task, as recorded when it is scheduled. Durations in milliseconds. */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly initialIntervalMs: number;
  readonly backoffCoefficient: number;
  readonly maxIntervalMs: number;
  /** Fraction of the delay added as deterministic jitter (0..1). */
  readonly jitter: number;
  /** Error kinds that are never retried. */
  readonly nonRetryable: readonly string[];
}

/** The data-flow origin of one argument: the step whose result it came from. */
export interface ArgOrigin {
  /** Argument path, e.g. "0", "1.train_data" or "kw.params". */
  readonly arg: string;
  readonly step: string;
}

interface Base {
  /** 1-based position in the run's history. */
  readonly seq: number;
  /** Engine clock (ms since epoch) when the event was recorded. */
  readonly at: number;
  /**
   * On an event that woke the workflow: where its coroutines wait once it has run (the calls they
   * are suspended in), so a blocked run can be explained from its history alone.
   */
  readonly waitingAt?: readonly CallSite[];
}

export interface RunStarted extends Base {
  readonly kind: 'RunStarted';
  readonly runId: string;
  readonly workflow: string;
  /** Path of the workflow file as given. */
  readonly file: string;
  /** Digest of the stored script bundle (the file and every file it loads). */
  readonly scriptDigest: string;
  readonly args: readonly Json[];
  readonly kwargs: { readonly [name: string]: Json };
  /** The run's declared environment (what `os.environ` shows). */
  readonly env: { readonly [name: string]: string };
  /** Seed of the run's deterministic randomness. */
  readonly seed: string;
  readonly parent?: { readonly runId: string; readonly stepId: string };
  readonly resumedFrom?: { readonly runId: string; readonly fromStep?: string };
  /** Attempt number of the run itself (1 unless restarted as a whole). */
  readonly attempt: number;
  /** How the run uses the task cache, when not the default 'use'. */
  readonly cacheMode?: 'refresh' | 'off';
  /** Steps that must not come from the cache (a resumed run's first step). */
  readonly noCacheSteps?: readonly string[];
  /**
   * Behaviours the run was started with (workflow/machine.ts RUN_FEATURES): a history without one
   * replays the behaviour from before it.
   */
  readonly features?: readonly string[];
  /** Budgets of the workflow's code given for this run (the engine's defaults otherwise). */
  readonly budgets?: { readonly maxSteps?: number; readonly maxMs?: number; readonly maxBytes?: number };
  /** Where the run's tasks go by default (`larkflow run --executor k8s ...`); child runs inherit it. */
  readonly remote?: RemoteDefaults;
  /** The workflow file's directory, absolute: local Python tasks (executor "python") import their modules from it. */
  readonly codeDir?: string;
  /**
   * The queue the run belongs to (`larkflow run --queue`, `StartOptions.queue`): on a shared
   * database only workers serving it (`larkflow worker --queues`) take the run. Absent: "default".
   * Child runs and resumed runs inherit it.
   */
  readonly queue?: string;
  /** Where to notify about the run's start and end (`StartOptions.notify`); child runs do not inherit it. */
  readonly notify?: readonly NotifySpec[];
}

/**
 * A run event a notification is sent for. The TRIGGER_* ones concern runs a pipeline trigger started
 * (and TRIGGER_TICK_SKIPPED a tick of a trigger that started no run on time).
 */
export type NotifyEvent = 'STARTED' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'TRIGGER_RUN_STARTED' | 'TRIGGER_RUN_SUCCEEDED' | 'TRIGGER_RUN_FAILED' | 'TRIGGER_RUN_CANCELLED' | 'TRIGGER_TICK_SKIPPED';

/** Where a notification goes. */
export type NotifySink =
  | { readonly kind: 'webhook'; readonly url: string; /** An environment variable holding the HMAC-SHA256 signing secret. */ readonly secretEnv?: string }
  | { readonly kind: 'slack'; readonly url: string }
  | { readonly kind: 'email'; readonly to: readonly string[] };

/** Notify `sink` when the run reaches one of the events `on`. */
export interface NotifySpec {
  readonly on: readonly NotifyEvent[];
  readonly sink: NotifySink;
}

/** One notification queued in the outbox (see NotificationsQueued). */
export interface QueuedNotification {
  readonly event: NotifyEvent;
  /** The index of the sink in `RunStarted.notify`: with the run id and event, the idempotency key. */
  readonly sinkIndex: number;
  readonly sink: NotifySink;
  readonly payload: Json;
}

/**
 * A run's remote execution defaults: the executor its tasks use unless they name one, and what a
 * worker needs to reach that executor again after a restart.
 */
export interface RemoteDefaults {
  /** The executor name ("k8s", "subprocess"). */
  readonly executor: string;
  /** Default container image. */
  readonly image?: string;
  /** Default Kubernetes namespace. */
  readonly namespace?: string;
  /** Where task inputs and results go: a directory or s3://bucket/prefix. */
  readonly storage?: string;
  /** The code bundle (file sync) the tasks unpack: its sha256 and URL. */
  readonly bundle?: { readonly sha256: string; readonly url: string };
  /**
   * Every task with a Python function reference goes to `executor`, whatever its config names
   * (`larkflow run FILE.py --local`: Uniflow's local run, with the engine's retries and cache).
   */
  readonly all?: boolean;
}

/** A call of a task, as the workflow made it: what both ScheduleTask and TaskScheduled carry. */
export interface TaskCall {
  /** Stable step id: task name plus occurrence, e.g. "train#2". */
  readonly stepId: string;
  readonly task: string;
  readonly args: readonly Json[];
  readonly kwargs: { readonly [name: string]: Json };
  readonly argsDigest: string;
  readonly callSite: CallSite;
  readonly inputsFrom: readonly ArgOrigin[];
  readonly executor: string;
  readonly retry: RetryPolicy;
  readonly timeoutMs?: number;
  /** Time allowed from scheduling to the step's end, across attempts and retry waits. */
  readonly overallTimeoutMs?: number;
  /** For remote tasks: the function a runner calls ("module:function", "tasks.mjs#train"). */
  readonly reference?: string;
  /** For remote tasks: resources and placement from `config = KubernetesTask(...)`. */
  readonly resources?: TaskResources;
}

/** CPU, memory, accelerators and placement of a remote task (`KubernetesTask(...)`). */
export interface TaskResources {
  /** Container image. */
  readonly image?: string;
  /** Kubernetes CPU quantity ("500m", "4"). */
  readonly cpu?: string;
  /** Kubernetes memory quantity ("512Mi", "16Gi"). */
  readonly memory?: string;
  /** Number of GPUs (`nvidia.com/gpu`). */
  readonly gpu?: number;
  /** More environment variables for the container. */
  readonly env?: { readonly [name: string]: string };
  readonly nodeSelector?: { readonly [name: string]: string };
  readonly serviceAccount?: string;
  readonly namespace?: string;
  /** Which task runner the container runs: "python" (default) or "node". */
  readonly runner?: string;
  /** A Ray task's cluster (`RayTask(...)`): sizes are Kubernetes quantities as written ("4", "16Gi"). */
  readonly ray?: RayResources;
  /** A Spark task's application (`SparkTask(...)`): Kubernetes quantities as written. */
  readonly spark?: SparkResources;
}

/**
 * `RayTask(...)` (Uniflow's field names): the head and worker groups of a fresh cluster per attempt
 * (KubeRay), or the entrypoint's share of an existing cluster (the Ray Jobs API).
 */
export interface RayResources {
  readonly headCpu?: string;
  readonly headMemory?: string;
  readonly headDisk?: string;
  readonly headGpu?: number;
  readonly headObjectStoreMemory?: string;
  readonly workerCpu?: string;
  readonly workerMemory?: string;
  readonly workerDisk?: string;
  readonly workerGpu?: number;
  readonly workerObjectStoreMemory?: string;
  readonly workerInstances?: number;
  /** Ray Jobs API: `entrypoint_num_cpus`, `entrypoint_num_gpus`, `entrypoint_memory` (a quantity; bytes on the wire). */
  readonly entrypointCpu?: number;
  readonly entrypointGpu?: number;
  readonly entrypointMemory?: string;
  /** Ray's runtime_env (pip, env_vars, ...), passed through; the I/O variables are added to its env_vars. */
  readonly runtimeEnv?: { readonly [key: string]: Json };
}

/** `SparkTask(...)` (Uniflow's field names): driver and executors of one application per attempt. */
export interface SparkResources {
  readonly driverCpu?: string;
  readonly driverMemory?: string;
  readonly driverDisk?: string;
  readonly driverGpu?: number;
  readonly executorCpu?: string;
  readonly executorMemory?: string;
  readonly executorDisk?: string;
  readonly executorGpu?: number;
  readonly executorInstances?: number;
  /** More Spark properties ("spark.sql.shuffle.partitions": "64"). */
  readonly conf?: { readonly [key: string]: string };
}

export interface TaskScheduled extends Base, TaskCall {
  readonly kind: 'TaskScheduled';
  /** Present when the task is cacheable and the run uses the cache. */
  readonly cacheKey?: string;
  /**
   * What the cache key was made of (with `cacheKey`), so a miss can be explained: the digest of the
   * task's implementation, its `cache_version`, and the digest of its arguments.
   */
  readonly cacheKeyParts?: { readonly implementation: string; readonly version: string; readonly args: string };
}

export interface AttemptStarted extends Base {
  readonly kind: 'AttemptStarted';
  readonly stepId: string;
  readonly attempt: number;
  readonly executor: string;
  /** The executor's deterministic submission id: runId/stepId/attempt. */
  readonly handle: string;
  readonly idempotencyKey: string;
  /** Where the attempt's logs are (a file path or URI), if any. */
  readonly logs?: string;
}

/**
 * A remote attempt's job, as soon as the backend named it: recovery re-attaches to this job instead
 * of submitting another. Bookkeeping: replay skips it.
 */
export interface AttemptSubmitted extends Base {
  readonly kind: 'AttemptSubmitted';
  readonly stepId: string;
  readonly attempt: number;
  /** The backend kind ("k8s", "subprocess"). */
  readonly executor: string;
  /** Deterministic, from run, step and attempt. */
  readonly submissionId: string;
  /** The backend's id: "namespace/name" of a Job, a pid... */
  readonly backendId: string;
  readonly backendUid?: string;
}

/** A long task's progress report (`ctx.heartbeat(details)`): bookkeeping, replay skips it. */
export interface AttemptHeartbeat extends Base {
  readonly kind: 'AttemptHeartbeat';
  readonly stepId: string;
  readonly attempt: number;
  readonly details: Json;
}

export interface AttemptFailed extends Base {
  readonly kind: 'AttemptFailed';
  readonly stepId: string;
  readonly attempt: number;
  readonly error: ErrorInfo;
}

/** A retry wait: a durable timer after a failed attempt. */
export interface RetryScheduled extends Base {
  readonly kind: 'RetryScheduled';
  readonly stepId: string;
  /** The attempt that will run when the timer fires. */
  readonly attempt: number;
  readonly fireAt: number;
}

export interface TaskCompleted extends Base {
  readonly kind: 'TaskCompleted';
  readonly stepId: string;
  readonly attempt: number;
  readonly result: Json;
  /** 'executed', 'cache' (a cache hit) or 'reused' (copied from the run this one resumed). */
  readonly source: 'executed' | 'cache' | 'reused';
  /** A cache hit: the run and step whose attempt produced the value. */
  readonly cachedFrom?: { readonly runId: string; readonly stepId: string };
  readonly durationMs?: number;
}

/** The step failed for good (no attempts left, or a non-retryable error). */
export interface TaskFailed extends Base {
  readonly kind: 'TaskFailed';
  readonly stepId: string;
  readonly error: ErrorInfo;
}

export interface TimerStarted extends Base {
  readonly kind: 'TimerStarted';
  readonly stepId: string;
  readonly durationMs: number;
  readonly fireAt: number;
  readonly callSite: CallSite;
}

export interface TimerFired extends Base {
  readonly kind: 'TimerFired';
  readonly stepId: string;
}

export interface ChildRunStarted extends Base {
  readonly kind: 'ChildRunStarted';
  readonly stepId: string;
  readonly childRunId: string;
  readonly workflow: string;
  readonly args: readonly Json[];
  readonly kwargs: { readonly [name: string]: Json };
  readonly callSite: CallSite;
}

export interface ChildRunCompleted extends Base {
  readonly kind: 'ChildRunCompleted';
  readonly stepId: string;
  readonly result: Json;
}

export interface ChildRunFailed extends Base {
  readonly kind: 'ChildRunFailed';
  readonly stepId: string;
  readonly error: ErrorInfo;
}

export interface ProgressReported extends Base {
  readonly kind: 'ProgressReported';
  readonly message: string;
}

export interface CancelRequested extends Base {
  readonly kind: 'CancelRequested';
  readonly reason: string;
}

/**
 * A signal delivered to the run (an activation): taken from the run's inbox in the same transaction
 * (`inboxId`), so it is delivered exactly once; replay delivers it at the same point.
 */
export interface SignalReceived extends Base {
  readonly kind: 'SignalReceived';
  readonly name: string;
  readonly payload: Json;
  /** The inbox message this delivers. */
  readonly inboxId: number;
}

/** The end of an update (`handle.update(name, ...)`): its handler's result or error. */
export interface UpdateCompleted extends Base {
  readonly kind: 'UpdateCompleted';
  readonly updateId: string;
  readonly name: string;
  readonly result?: Json;
  readonly error?: ErrorInfo;
}

/** `events.set(key, value)`: a key the outside can read or wait for (the record of a SetEvent command). */
export interface EventSet extends Base {
  readonly kind: 'EventSet';
  readonly key: string;
  readonly value: Json;
}

/** Replay found the script behaving differently from its history; the run is blocked. */
export interface NondeterminismDetected extends Base {
  readonly kind: 'NondeterminismDetected';
  readonly message: string;
  readonly stepId?: string;
  readonly expected?: string;
  readonly actual?: string;
  readonly callSite?: CallSite;
}

/**
 * Notifications to send (bookkeeping: replay skips it). The store puts them in its outbox in the
 * transaction that appends this event, so a notification exists exactly when its event does.
 */
export interface NotificationsQueued extends Base {
  readonly kind: 'NotificationsQueued';
  readonly notifications: readonly QueuedNotification[];
}

export interface RunCompleted extends Base {
  readonly kind: 'RunCompleted';
  readonly result: Json;
}

export interface RunFailed extends Base {
  readonly kind: 'RunFailed';
  readonly error: ErrorInfo;
}

export interface RunCancelled extends Base {
  readonly kind: 'RunCancelled';
  readonly reason: string;
}

export type HistoryEvent =
  | RunStarted
  | TaskScheduled
  | AttemptStarted
  | AttemptSubmitted
  | AttemptHeartbeat
  | AttemptFailed
  | RetryScheduled
  | TaskCompleted
  | TaskFailed
  | TimerStarted
  | TimerFired
  | ChildRunStarted
  | ChildRunCompleted
  | ChildRunFailed
  | ProgressReported
  | SignalReceived
  | EventSet
  | UpdateCompleted
  | CancelRequested
  | NondeterminismDetected
  | NotificationsQueued
  | RunCompleted
  | RunFailed
  | RunCancelled;

export type EventKind = HistoryEvent['kind'];

/** An event before the store assigns its position. */
export type NewEvent = HistoryEvent extends infer E ? (E extends HistoryEvent ? Omit<E, 'seq'> : never) : never;

/** Status of a run, derived from its history. */
export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'blocked';

/** Events that end a run. */
export function isTerminal(e: { readonly kind: EventKind }): boolean {
  return e.kind === 'RunCompleted' || e.kind === 'RunFailed' || e.kind === 'RunCancelled';
}
