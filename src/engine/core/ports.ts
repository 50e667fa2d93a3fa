/**
 * This file defines the ports of the engine: the interfaces its pure core needs from the outside
 * world. Adapters implement them (store/ for EventStore, executors/ for Executor, the driver for
 * Clock). The core never imports an adapter, `node:fs`, `better-sqlite3` or `node:child_process`.
 */
import type { ErrorInfo, HistoryEvent, NewEvent, NotifyEvent, NotifySink, RemoteDefaults, RunStatus, TaskResources } from './events.js';
import type { Json } from './json.js';
import type { RunCounters } from './run-counters.js';

// ---------------------------------------------------------------------------------------------
// Event store

/** A run's summary row (derived from its history; kept by the store for listing). */
export interface RunRecord {
  readonly runId: string;
  readonly workflow: string;
  readonly file: string;
  readonly status: RunStatus;
  /** Engine clock, ms since epoch. */
  readonly startedAt: number;
  readonly endedAt?: number;
  readonly parentRunId?: string;
  readonly resumedFrom?: string;
  /** Number of events in the history. */
  readonly lastSeq: number;
  /** The idempotency key the run was started with, if any (unique among runs). */
  readonly idempotencyKey?: string;
  /** The run's counters, when the call that returned the record reads them (`getRunWithCounters`). */
  readonly counters?: RunCounters;
}

/**
 * Which runs `EventStore.listRuns` returns. Runs come newest first: `startedAt` descending, then
 * `runId` descending (code-point order) between runs that started at the same time. Pages are
 * keyset pages: `after: runCursor(lastRunOfPage)` gives the next page, with no run twice and none
 * missed, however many runs share a `startedAt`.
 */
export interface RunFilter {
  readonly status?: RunStatus;
  readonly workflow?: string;
  /** Runs started at or after this time (ms since the epoch). */
  readonly since?: number;
  /** Runs started before this time (ms since the epoch; exclusive, so `since`..`until` is half-open). */
  readonly until?: number;
  /** Runs whose runId or workflow contains this text, ignoring case. */
  readonly search?: string;
  /** A cursor (`runCursor(r)` of the last run of the previous page): runs after it in list order. */
  readonly after?: string;
  readonly limit?: number;
}

/** A message for a run from outside (a signal), waiting in its inbox until the run consumes it. */
export interface InboxMessage {
  /** Increasing per store (never reused). */
  readonly id: number;
  readonly runId: string;
  readonly kind: 'signal';
  readonly name: string;
  readonly payload: Json;
  /** The sender's idempotency key, if given: a second post with the same (runId, key) is the same message. */
  readonly key?: string;
  /** Store clock (ms since epoch). */
  readonly postedAt: number;
}

/** What `EventStore.postInbox` takes. */
export interface InboxPost {
  readonly kind: 'signal';
  readonly name: string;
  readonly payload: Json;
  readonly key?: string;
}

/** Where a notification of the outbox stands. */
export type OutboxStatus = 'pending' | 'delivered' | 'failed';

/**
 * A notification in the outbox: created with the NotificationsQueued event that queued it (same
 * transaction), then delivered (at least once; receivers dedupe by `key`).
 */
export interface OutboxItem {
  /** Increasing per store (never reused). */
  readonly id: number;
  readonly runId: string;
  readonly event: NotifyEvent;
  readonly sinkIndex: number;
  readonly sink: NotifySink;
  readonly payload: Json;
  /** `${runId}:${event}:${sinkIndex}`: unique; sent with every delivery attempt. */
  readonly key: string;
  readonly status: OutboxStatus;
  /** Delivery attempts made so far. */
  readonly attempts: number;
  /** When the next attempt is due (ms since the epoch). */
  readonly nextAt: number;
  readonly lastError?: string;
  /** A claimed row is not claimed again before this time (ms since the epoch); 0 when not claimed. */
  readonly claimedUntil: number;
  readonly deliveredAt?: number;
  /** When the row was created (ms since the epoch). */
  readonly createdAt: number;
}

/** Which rows `EventStore.listOutbox` returns (oldest first). */
export interface OutboxFilter {
  readonly status?: OutboxStatus;
  readonly runId?: string;
}

/** A file of a stored script bundle. */
export interface ScriptFile {
  readonly path: string;
  readonly text: string;
}

/**
 * Proof that a worker drives a run: its worker id and the fencing epoch of its claim. Every claim
 * adds one to the run's epoch, so a worker that lost a run (its lease expired and another worker
 * claimed it) holds a stale epoch, and its appends are refused.
 */
export interface RunLease {
  readonly owner: string;
  readonly epoch: number;
}

/** Who holds a run's lease, as the store saw it (times in the database clock, ms since the epoch). */
export interface LeaseHolder {
  /** The holder's worker id, or null for a run nobody has claimed. */
  readonly owner: string | null;
  readonly epoch: number;
  /** When the lease runs out unless renewed. */
  readonly leaseUntil: number;
  /** The database clock when this was read. */
  readonly now: number;
}

/** The outcome of `EventStore.claimRun`. */
export type ClaimResult =
  | { readonly ok: true; readonly epoch: number }
  | { readonly ok: false; readonly reason: 'held'; readonly holder: LeaseHolder }
  | { readonly ok: false; readonly reason: 'ended' | 'missing' };

/**
 * Durable, append-only storage of run histories. Appends are atomic: all events of one call commit
 * together or not at all, and `expectedLastSeq` guards against two writers.
 *
 * Run ownership is a lease with a fencing epoch on the run's row: `createRun` (with a lease) and
 * `claimRun` make a worker the run's owner; every append that carries the lease checks, in its
 * transaction, that the run's owner and epoch are still the caller's (`FencedError` otherwise).
 * Appends without a lease are requests from outside (a cancel from another process).
 */
export interface EventStore {
  /**
   * Creates a run with its first event (RunStarted, seq 1); with `lease`, owned by `lease.owner` at
   * epoch 1 for `lease.leaseMs`. With `idempotencyKey`, the key is recorded on the run, and no
   * other run may have it. Atomic: of two creators with the same key (or run id), even in two
   * processes, exactly one succeeds.
   * @throws DuplicateRunError (code 'duplicate') if a run with this idempotency key or this run id
   *   exists; `existingRunId` names it (the key is checked first)
   */
  createRun(
    first: Omit<HistoryEvent & { kind: 'RunStarted' }, 'seq'>,
    lease?: { readonly owner: string; readonly leaseMs: number },
    idempotencyKey?: string,
  ): HistoryEvent;
  /** The run started with this idempotency key, if any. */
  runByIdempotencyKey(key: string): RunRecord | undefined;
  /**
   * Appends events after `expectedLastSeq` in one transaction; returns them with positions. An
   * event `{ kind: 'SignalReceived', inboxId: number }` consumes that inbox message in the same
   * transaction (its `consumed_seq` becomes the event's seq), so a message is delivered once.
   * @throws FencedError if `lease` is given and the run's owner or epoch is no longer the lease's
   * An event `{ kind: 'NotificationsQueued' }` puts its notifications in the outbox in the same
   * transaction (a row whose key exists already is left as it is).
   * @throws StoreError with code 'inbox' if such an event names an inbox message that is not this
   *   run's, does not exist, or is consumed already (nothing is appended)
   * @throws StoreError if the history has moved on (another writer) or the database fails
   */
  append(runId: string, expectedLastSeq: number, events: readonly NewEvent[], lease?: RunLease): HistoryEvent[];
  /**
   * Claims an unfinished run for `owner`, atomically: it succeeds when nobody holds the run, the
   * holder is `owner` itself, the lease has run out, or `canBreak(holder)` says the holder is gone
   * (a dead process on this machine). The claim adds one to the epoch and leases the run for
   * `leaseMs`.
   */
  claimRun(runId: string, owner: string, leaseMs: number, canBreak?: (holder: LeaseHolder) => boolean): ClaimResult;
  /** Extends the leases `owner` still holds by `leaseMs`; returns the ids of the runs it lost. */
  renewLeases(owner: string, leases: readonly (RunLease & { readonly runId: string })[], leaseMs: number): string[];
  /** Gives leases up at once (the runs stay unfinished for another worker to claim). */
  releaseLeases(owner: string, leases: readonly (RunLease & { readonly runId: string })[]): void;
  /** Who holds a run's lease now. */
  leaseOf(runId: string): LeaseHolder | undefined;
  /** The history of a run from `fromSeq` (default 1), in order. */
  history(runId: string, fromSeq?: number): HistoryEvent[];
  getRun(runId: string): RunRecord | undefined;
  /**
   * Runs, newest first (see `RunFilter`).
   * @throws UsageError if `after` is not a cursor made by `runCursor`
   */
  listRuns(filter?: RunFilter): RunRecord[];
  /** Runs that have not reached a terminal event (for recovery). */
  unfinishedRuns(): RunRecord[];
  /**
   * Puts a message in a run's inbox. A second post with the same (runId, key) is the same message:
   * its id comes back with `duplicate: true` and nothing is written (even if the run has ended
   * since, or the second post's name or payload differ).
   * @throws StoreError with code 'missing' if the run does not exist, 'ended' if it has ended
   *   (completed, failed or cancelled; a blocked run takes messages), 'store' if the payload is not JSON
   */
  postInbox(runId: string, msg: InboxPost): { readonly id: number; readonly duplicate: boolean };
  /** A run's messages not consumed yet, oldest (lowest id) first; [] for an unknown run. */
  pendingInbox(runId: string): InboxMessage[];
  /**
   * The ids of the runs with status `running` (as `unfinishedRuns`) that have messages not consumed
   * yet, the run with the longest-waiting message first.
   */
  runsWithPendingInbox(): string[];
  /**
   * Claims up to `limit` pending outbox rows that are due (`nextAt <= now`) and not claimed by
   * anyone (`claimedUntil < now`), oldest first, atomically: their `claimedUntil` becomes
   * `now + leaseMs`, so no other claimer gets them until then (a claimer that dies lets them go).
   */
  claimOutbox(owner: string, now: number, limit: number, leaseMs: number): OutboxItem[];
  /**
   * Records a delivery attempt of outbox row `id`: `ok` marks it delivered; otherwise its error is
   * recorded and it is due again at `nextAt` (or, with `giveUp`, marked failed). Either way the row
   * is released and `attempts` goes up by one. An unknown id is ignored.
   */
  completeOutbox(id: number, ok: boolean, error?: string, nextAt?: number, giveUp?: boolean): void;
  /** Outbox rows, oldest first. */
  listOutbox(filter?: OutboxFilter): OutboxItem[];
  /**
   * For stores that commit in the background (a worker's view of a shared database): a promise
   * that settles once everything appended to the run so far is durable, rejecting if the database
   * refused it; undefined when nothing is pending. The engine waits for it before any side effect
   * of an append. Synchronous stores leave it out.
   */
  durable?(runId: string): Promise<void> | undefined;
  /** Stores a script bundle under its digest (idempotent). */
  putScript(digest: string, files: readonly ScriptFile[]): void;
  getScript(digest: string): ScriptFile[] | undefined;
  /** Closes the store (a store that commits in the background returns when its writes are in). */
  close(): void | Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Executors

/** What an executor is asked to run: one attempt of one task. */
export interface TaskRequest {
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  /** runId/stepId/attempt: the same for a re-run of the same attempt after a crash. */
  readonly idempotencyKey: string;
  /** The registered task name. */
  readonly task: string;
  /** For process tasks: the argv to run. */
  readonly command?: readonly string[];
  readonly args: readonly Json[];
  readonly kwargs: { readonly [name: string]: Json };
  /**
   * The run's declared environment (`larkflow run --env`, `StartOptions.env`), recorded in its
   * history: process tasks get exactly this on top of a minimal base (PATH, HOME, ...), so a task
   * sees the same environment after recovery on another worker. @default {}
   */
  readonly env?: Readonly<Record<string, string>>;
  /** Per-attempt timeout; the executor aborts the attempt when it passes. */
  readonly timeoutMs?: number;
  /** Aborted when the run is cancelled (or the attempt times out). */
  readonly signal: AbortSignal;
  /** Remote tasks: the function a runner calls ("module:function", "tasks.mjs#train"). */
  readonly reference?: string;
  /** Remote tasks: resources from `config = KubernetesTask(...)`. */
  readonly resources?: TaskResources;
  /** Remote tasks: the run's remote defaults (`larkflow run --executor k8s --image ...`): image, namespace, code bundle. */
  readonly runDefaults?: RemoteDefaults;
  /** The workflow file's directory (RunStarted.codeDir): where local Python tasks import their modules from. */
  readonly codeDir?: string;
  /** Remote tasks: the job recorded for this attempt before a restart (re-attach to it). */
  readonly submitted?: SubmittedJob;
  /** Called with a task's heartbeat details (`ctx.heartbeat`): the engine records the latest. */
  readonly onHeartbeat?: (details: Json) => void;
  /** Remote tasks: called once the backend has named the attempt's job (the engine records it). */
  readonly onSubmitted?: (job: SubmittedJob) => void;
}

/** A remote attempt's job, as history records it (AttemptSubmitted). */
export interface SubmittedJob {
  /** The backend kind ("k8s", "subprocess"). */
  readonly executor: string;
  readonly submissionId: string;
  readonly backendId: string;
  readonly backendUid?: string;
}

/**
 * The result of an attempt that ran from the shared task queue (scale-out notes §5.3), posted to its
 * run's inbox by the worker that ran it. Its payload is `{ stepId, attempt, outcome }`; the run's
 * owner records it with the attempt's end in one append. Workflow code never sees it.
 */
export const TASK_RESULT_SIGNAL = '__task_result__';
/**
 * A hint posted to a parent run's inbox when a child run driven by another worker ends (payload
 * `{ childRunId }`): it wakes a parked parent, whose worker then reads the child's end from the
 * database. Workflow code never sees it.
 */
export const CHILD_ENDED_SIGNAL = '__child_ended__';

/**
 * An attempt handed to a shared task queue instead of run here (scale-out notes §5.3): what any
 * worker needs to run it, as JSON. `submitted` is the remote job an earlier try recorded.
 */
export type QueuedAttempt = Omit<TaskRequest, 'signal' | 'onHeartbeat' | 'onSubmitted'> & {
  /** The executor's name (the task queue's queue). */
  readonly executor: string;
};

/**
 * Where a shared-database engine sends the attempts that should not tie a run to its owner's
 * process (remote jobs, long tasks): a durable task queue any worker's poller takes them from. The
 * result comes back through the run's inbox (`TASK_RESULT_SIGNAL`), so the run can be parked while
 * the attempt runs, and its next owner, on any host, records it.
 */
export interface TaskDispatch {
  /** True if attempts of this executor go to the queue. */
  handles(executor: string): boolean;
  /**
   * Queues an attempt; idempotent by (runId, stepId, attempt), also once it has finished. Rejects
   * if the database is unreachable (the engine tries again).
   */
  enqueue(attempt: QueuedAttempt): Promise<void>;
  /** Withdraws a queued or running attempt (its run was cancelled, its step timed out). Idempotent. */
  withdraw(attempt: { readonly runId: string; readonly stepId: string; readonly attempt: number }, reason: string): Promise<void>;
}

/** The outcome of an attempt. */
export type TaskOutcome =
  | { readonly ok: true; readonly value: Json }
  | { readonly ok: false; readonly error: ErrorInfo };

/** A submitted attempt. */
export interface TaskHandle {
  /** Deterministic submission id (runId/stepId/attempt). */
  readonly id: string;
  /** Where the attempt's logs are, if the executor keeps any. */
  readonly logs?: string;
  /** Settles when the attempt ends; never rejects (failures are TaskOutcome errors). */
  readonly done: Promise<TaskOutcome>;
}

/**
 * Runs tasks somewhere: in process, as local processes, later on Ray, Spark or Kubernetes. The
 * engine owns retries, timeouts between attempts and history; an executor runs one attempt.
 */
export interface Executor {
  /** Name recorded in history ("local", "process", "ray", ...). */
  readonly name: string;
  /** True if this executor can run the named task (with or without a command). */
  canRun(task: string, command?: readonly string[]): boolean;
  /** Starts an attempt; `handle.done` is the wait. Submitting an attempt in flight returns its handle. */
  submit(req: TaskRequest): TaskHandle;
  /** Stops an attempt (best effort). */
  cancel(handleId: string): void;
  /** Where an attempt stands, for remote backends that outlive this process. @default unknown */
  status?(handleId: string): 'queued' | 'running' | 'succeeded' | 'failed' | 'unknown';
  /** Where an attempt's logs are (a path or URI), if the executor keeps any. */
  logs?(handleId: string): string | undefined;
  /** Releases resources (worker processes, connections). */
  close?(): Promise<void> | void;
}

// ---------------------------------------------------------------------------------------------
// Clock

/** The engine's time: real for live runs, virtual in tests. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` at time `at` (or at once if past); returns a cancel function. */
  setTimer(at: number, fn: () => void): () => void;
}
