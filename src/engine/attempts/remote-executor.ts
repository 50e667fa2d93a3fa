/**
 * This file defines the attempt lifecycle of remote tasks: `RemoteExecutor` runs each attempt of a
 * task on a durable backend (an `ExecutorAdapter`: Kubernetes, a local process group, later Ray and
 * Spark) and gives the engine the outcome through its ordinary `Executor` port. The engine stays
 * unaware of backends; this module owns what every backend shares:
 *
 * 1. Input: the attempt's input document (task reference, args, kwargs) goes to storage first
 *    (`AttemptIO`); the job gets only URLs in its environment (IO_ENV), never data on a command line.
 * 2. Submission, idempotent: an attempt whose job was recorded in history (AttemptSubmitted, passed
 *    back as `TaskRequest.submitted` after a restart) is re-attached; otherwise `lookup` finds a job
 *    a crashed engine submitted but did not record; only then is a job submitted. The backend's id is
 *    reported at once (`TaskRequest.onSubmitted`), so the engine records it.
 * 3. Waiting: `status` is polled (with backoff) until a terminal phase. Transient backend errors
 *    are retried for up to `unreachableLimitMs`; past that the attempt fails as retryable.
 * 4. Outcome: SUCCEEDED → the runner's result document (verified: it must name this attempt);
 *    FAILED → the runner's error document if it wrote one, else the job's reason, exit code and log
 *    tail; DeadlineExceeded → a retryable 'timeout'; LOST → a retryable 'lost'; cancellation →
 *    `cancel` on the backend, then the real terminal state is awaited (bounded).
 */
import type { ErrorInfo } from '../core/events.js';
import type { Json } from '../core/json.js';
import type { Executor, TaskHandle, TaskOutcome, TaskRequest } from '../core/ports.js';
import {
  AdapterError,
  IO_ENV,
  TERMINAL_PHASES,
  type AttemptRef,
  type ExecutionHandle,
  type ExecutorAdapter,
  type LaunchSpec,
  type LookupHints,
  type StatusReport,
  type TaskInputDoc,
  type TaskResources,
  type TaskResultDoc,
} from '../executors/contract.js';
import { handleIdOf } from '../executors/function-executor.js';

/** Where attempts' inputs, results and code bundles are kept (src/engine/remote/attempt-io.ts). */
export interface AttemptStorage {
  putInput(ref: AttemptRef, doc: TaskInputDoc): Promise<string>;
  resultUrl(ref: AttemptRef): Promise<string>;
  readResult(ref: AttemptRef): Promise<TaskResultDoc | undefined>;
  /** Where runners store values that are not JSON (a file:// directory), if this storage has such a place. */
  refsUrl?(): string | undefined;
  readonly where: string;
}

/** The code bundle remote attempts unpack before importing their task (`--file-sync`). */
export interface CodeBundle {
  readonly url: string;
  readonly sha256: string;
}

/** Options of a RemoteExecutor. */
export interface RemoteExecutorOptions {
  /** The executor name tasks use (`executor = "k8s"`) and history records. */
  readonly name: string;
  readonly adapter: ExecutorAdapter;
  readonly storage: AttemptStorage;
  /** Resources every task gets unless its config says otherwise (`--image`, `--namespace`). */
  readonly defaults?: TaskResources;
  /** The runner command per runner kind. @default python: ["python3", "-m", "larkflow_runner"], node: ["larkflow", "task-run"] */
  readonly runners?: Readonly<Record<string, readonly string[]>>;
  /** The runner kind of tasks that do not name one. @default "python" */
  readonly defaultRunner?: string;
  /** The task reference of a task that does not give `function=` (e.g. "tasks.mjs#train" for JS tasks). */
  readonly referenceOf?: (task: string) => string | undefined;
  /** The runner kind for a task without one (e.g. "node" for the tasks of a JS module). */
  readonly runnerOf?: (task: string) => string | undefined;
  /** The code bundle to unpack before the task runs, if any (file sync). */
  readonly bundle?: CodeBundle;
  /** First status poll interval; it doubles up to `maxPollIntervalMs`. @default 100 */
  readonly pollIntervalMs?: number;
  /** @default 2000 */
  readonly maxPollIntervalMs?: number;
  /** How long the backend may stay unreachable before the attempt fails (retryably). @default 300000 */
  readonly unreachableLimitMs?: number;
  /** How long to wait for a cancelled job to reach a terminal phase. @default 30000 */
  readonly cancelWaitMs?: number;
  /** More environment for an attempt's job, computed from its request (the local Python executor's PYTHONPATH). */
  readonly extraEnv?: (req: TaskRequest) => Readonly<Record<string, string>>;
  /** Time past a task's timeout before the engine itself cancels the job. @default 60000 */
  readonly timeoutGraceMs?: number;
  /** Remove a job's backend records once its outcome is read. @default false (the TTL removes it) */
  readonly cleanup?: boolean;
}

const DEFAULT_RUNNERS: Readonly<Record<string, readonly string[]>> = {
  python: ['python3', '-m', 'larkflow_runner'],
  node: ['larkflow', 'task-run'],
};

interface InFlight {
  readonly controller: AbortController;
  readonly done: Promise<TaskOutcome>;
  handle?: ExecutionHandle;
}

/** Runs task attempts on a durable backend; see the file comment. */
export class RemoteExecutor implements Executor {
  readonly name: string;
  readonly adapter: ExecutorAdapter;
  private readonly options: RemoteExecutorOptions;
  private readonly inFlight = new Map<string, InFlight>();
  private closed = false;

  constructor(options: RemoteExecutorOptions) {
    this.name = options.name;
    this.adapter = options.adapter;
    this.options = options;
  }

  canRun(): boolean {
    return true;
  }

  submit(req: TaskRequest): TaskHandle {
    const id = handleIdOf(req);
    const running = this.inFlight.get(id);
    if (running) return { id, done: running.done, logs: this.logs(id) };
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(req.signal.reason);
    if (req.signal.aborted) controller.abort(req.signal.reason);
    else req.signal.addEventListener('abort', onAbort, { once: true });
    // The backend enforces the attempt's timeout (activeDeadlineSeconds); this is the backstop for a
    // backend that does not, measured from submission with a grace for scheduling.
    const backstop =
      req.timeoutMs !== undefined && Number.isFinite(req.timeoutMs) && req.timeoutMs > 0
        ? setTimeout(() => controller.abort(new DOMException(`task ${req.task} timed out after ${req.timeoutMs} ms`, 'TimeoutError')), req.timeoutMs + (this.options.timeoutGraceMs ?? 60_000))
        : undefined;
    const entry: InFlight = { controller, done: Promise.resolve(null as unknown as TaskOutcome) };
    const done = this.runAttempt(req, controller.signal, entry)
      .catch((e: unknown): TaskOutcome => ({ ok: false, error: describeFailure(e) }))
      .finally(() => {
        if (backstop) clearTimeout(backstop);
        req.signal.removeEventListener('abort', onAbort);
        this.inFlight.delete(id);
      });
    (entry as { done: Promise<TaskOutcome> }).done = done;
    this.inFlight.set(id, entry);
    return { id, done };
  }

  cancel(handleId: string): void {
    this.inFlight.get(handleId)?.controller.abort(new DOMException('cancelled', 'AbortError'));
  }

  logs(handleId: string): string | undefined {
    const h = this.inFlight.get(handleId)?.handle;
    return h ? `${h.executor}://${h.backendId}` : undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    // Jobs outlive the engine: closing stops waiting, it does not cancel them.
    for (const f of this.inFlight.values()) f.controller.abort(new DOMException('engine closed', 'AbortError'));
    await this.adapter.close?.();
  }

  /** The launch spec of an attempt (exported for `show` and tests). */
  launchSpec(req: TaskRequest, urls: { input: string; result: string }): LaunchSpec {
    const run = req.runDefaults;
    const res = {
      ...(this.options.defaults ?? {}),
      ...(run?.image !== undefined ? { image: run.image } : {}),
      ...(run?.namespace !== undefined ? { namespace: run.namespace } : {}),
      ...stripUndefined(req.resources ?? {}),
    };
    const runnerKind = req.resources?.runner ?? this.options.runnerOf?.(req.task) ?? this.options.defaultRunner ?? 'python';
    const runners = { ...DEFAULT_RUNNERS, ...(this.options.runners ?? {}) };
    const command = req.command ?? runners[runnerKind];
    if (!command) throw new AdapterError(`unknown runner ${JSON.stringify(runnerKind)} for task ${req.task} (known: ${Object.keys(runners).join(', ')})`, 'invalid');
    const refs = this.options.storage.refsUrl?.();
    const env: Record<string, string> = {
      ...(refs !== undefined ? { LARKFLOW_REF_DIR_URL: refs } : {}),
      ...(this.options.extraEnv?.(req) ?? {}),
      ...(req.env ?? {}),
      ...(res.env ?? {}),
      [IO_ENV.input]: urls.input,
      [IO_ENV.result]: urls.result,
      LARKFLOW_RUN_ID: req.runId,
      LARKFLOW_STEP_ID: req.stepId,
      LARKFLOW_ATTEMPT: String(req.attempt),
    };
    const bundle = req.runDefaults?.bundle ?? this.options.bundle;
    if (bundle) {
      env[IO_ENV.code] = bundle.url;
      env[IO_ENV.codeSha256] = bundle.sha256;
    }
    const { runner: _runner, ...resources } = res;
    void _runner;
    return { task: req.task, command, env, resources, ...(req.timeoutMs !== undefined ? { timeoutMs: req.timeoutMs } : {}) };
  }

  private async runAttempt(req: TaskRequest, signal: AbortSignal, entry: InFlight): Promise<TaskOutcome> {
    const ref: AttemptRef = { runId: req.runId, stepId: req.stepId, attempt: req.attempt };
    const { storage, adapter } = this.options;
    if (signal.aborted) return aborted(req, signal.reason);
    // Re-attach to the job history recorded, or find one a crashed engine submitted.
    const ns = req.resources?.namespace ?? req.runDefaults?.namespace ?? this.options.defaults?.namespace;
    const hints: LookupHints = { signal, task: req.task, ...(ns !== undefined ? { namespace: ns } : {}) };
    let handle = req.submitted ?? (await this.withRetries(() => adapter.lookup(ref, hints), signal));
    if (!handle) {
      const reference = req.reference ?? this.options.referenceOf?.(req.task) ?? req.task;
      const input: TaskInputDoc = { version: 1, task: reference, args: req.args, kwargs: req.kwargs, runId: req.runId, stepId: req.stepId, attempt: req.attempt };
      const inputUrl = await storage.putInput(ref, input);
      const resultUrl = await storage.resultUrl(ref);
      const spec = this.launchSpec(req, { input: inputUrl, result: resultUrl });
      if (signal.aborted) return aborted(req, signal.reason);
      handle = await this.withRetries(() => adapter.submit(spec, ref, { signal }), signal);
    }
    entry.handle = handle;
    if (!req.submitted || req.submitted.backendUid !== handle.backendUid || req.submitted.backendId !== handle.backendId) req.onSubmitted?.(handle);
    const report = await this.waitTerminal(handle, signal);
    if (report === 'aborted') {
      const reason: unknown = signal.reason;
      if (this.closed) return { ok: false, error: { kind: 'executor', message: 'the engine closed while the job ran (it goes on; recovery re-attaches to it)', retryable: true } };
      await adapter.cancel(handle).catch(() => undefined);
      const final = await this.waitTerminal(handle, AbortSignal.timeout(this.options.cancelWaitMs ?? 30_000)).catch(() => 'aborted' as const);
      if (final !== 'aborted' && final.phase === 'SUCCEEDED') return this.outcomeOf(req, ref, handle, final);
      return aborted(req, reason);
    }
    return this.outcomeOf(req, ref, handle, report);
  }

  private async outcomeOf(req: TaskRequest, ref: AttemptRef, handle: ExecutionHandle, report: StatusReport): Promise<TaskOutcome> {
    const { storage, adapter } = this.options;
    const where = `${handle.executor} job ${handle.backendId}`;
    let doc: TaskResultDoc | undefined;
    let readError: unknown;
    try {
      doc = report.phase === 'SUCCEEDED' || report.phase === 'FAILED' ? await storage.readResult(ref) : undefined;
    } catch (e) {
      readError = e;
    }
    // A failure's log tail is read before cleanup removes the job (and, on some backends, its logs).
    const tail = report.phase === 'FAILED' && !(doc && !doc.ok) ? await this.logTail(handle) : undefined;
    if (this.options.cleanup) await adapter.cleanup?.(handle).catch(() => undefined);
    switch (report.phase) {
      case 'SUCCEEDED':
        if (readError !== undefined) return { ok: false, error: { kind: 'executor', message: `${where} succeeded, but its result cannot be read: ${messageOf(readError)}`, retryable: true } };
        if (!doc) return { ok: false, error: { kind: 'executor', message: `${where} succeeded without writing a result to ${storage.where} (is the image's command a larkflow runner?)`, retryable: true } };
        if (!doc.ok) return { ok: false, error: errorFromDoc(doc.error) };
        return { ok: true, value: doc.value as Json };
      case 'FAILED': {
        if (doc && !doc.ok) return { ok: false, error: errorFromDoc(doc.error) };
        if (report.reason === 'DeadlineExceeded') {
          return { ok: false, error: { kind: 'timeout', message: `task ${req.task} timed out: ${where} passed its deadline`, retryable: true, ...(tail ? { details: tail } : {}) } };
        }
        const code = report.exitCode !== undefined ? ` with exit code ${report.exitCode}` : '';
        const why = report.reason ? ` (${report.reason}${report.message ? `: ${report.message}` : ''})` : '';
        return { ok: false, error: { kind: 'task', message: `${where} failed${code}${why}`, retryable: true, ...(tail ? { details: tail } : {}) } };
      }
      case 'LOST':
        return { ok: false, error: { kind: 'lost', message: `${where} was lost: the backend no longer knows it${report.message ? ` (${report.message})` : ''}`, retryable: true } };
      case 'CANCELLED':
        return { ok: false, error: { kind: 'cancelled', message: `${where} was cancelled`, retryable: false } };
      default:
        return { ok: false, error: { kind: 'executor', message: `${where} ended in phase ${report.phase}`, retryable: true } };
    }
  }

  private async logTail(h: ExecutionHandle): Promise<string | undefined> {
    try {
      const chunk = await this.options.adapter.logs(h, { tailLines: 20 });
      return chunk.available && chunk.text.trim() !== '' ? chunk.text.trimEnd() : undefined;
    } catch {
      return undefined;
    }
  }

  /** Polls until a terminal phase; 'aborted' when `signal` aborts first. */
  private async waitTerminal(h: ExecutionHandle, signal: AbortSignal): Promise<StatusReport | 'aborted'> {
    let interval = this.options.pollIntervalMs ?? 100;
    const max = this.options.maxPollIntervalMs ?? 2000;
    for (;;) {
      if (signal.aborted) return 'aborted';
      const report = await this.withRetries(() => this.options.adapter.status(h, { signal }), signal).catch((e: unknown) => {
        if (signal.aborted) return 'aborted' as const;
        throw e;
      });
      if (report === 'aborted') return 'aborted';
      if (TERMINAL_PHASES.has(report.phase)) return report;
      if (!(await sleep(interval, signal))) return 'aborted';
      interval = Math.min(max, interval * 2);
    }
  }

  /** Calls `fn`, retrying transient failures for up to `unreachableLimitMs`. */
  private async withRetries<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    const limit = this.options.unreachableLimitMs ?? 300_000;
    const start = Date.now();
    let wait = 200;
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof AdapterError) || e.category !== 'transient' || signal.aborted || Date.now() - start > limit) throw e;
        if (!(await sleep(wait, signal))) throw e;
        wait = Math.min(5000, wait * 2);
      }
    }
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function aborted(req: TaskRequest, reason: unknown): TaskOutcome {
  const isTimeout = reason instanceof DOMException && reason.name === 'TimeoutError';
  return isTimeout
    ? { ok: false, error: { kind: 'timeout', message: `task ${req.task} timed out`, retryable: true } }
    : { ok: false, error: { kind: 'cancelled', message: `task ${req.task} was cancelled`, retryable: false } };
}

function errorFromDoc(e: { readonly kind: string; readonly message: string; readonly retryable: boolean; readonly details?: string }): ErrorInfo {
  return { kind: e.kind, message: e.message, retryable: e.retryable, ...(e.details !== undefined ? { details: e.details } : {}) };
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function describeFailure(e: unknown): ErrorInfo {
  if (e instanceof AdapterError) {
    const retryable = e.category === 'transient' || e.category === 'conflict';
    return { kind: 'executor', message: `${e.category === 'transient' ? 'backend unreachable' : `backend refused (${e.category})`}: ${e.message}`, retryable };
  }
  return { kind: 'executor', message: messageOf(e), retryable: true };
}
