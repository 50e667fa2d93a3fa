/**
 * This file defines the in-process executor ("local"): tasks are JS functions registered by name and
 * run on the engine's own event loop, behind a concurrency limit. It also holds what both local
 * executors share: deterministic handle ids, the attempt directory layout, and the mapping of an
 * aborted attempt (timeout or cancellation) to its outcome.
 *
 * Hazards: a function runs in the engine's process. A synchronous function that loops blocks the
 * engine, and no timeout can interrupt it; an async function that ignores its AbortSignal keeps
 * running after its attempt has ended (the outcome is still 'timeout' or 'cancelled', and its slot
 * is given back at once). Arguments are deep-copied before the call, so a function that mutates
 * them cannot change the recorded history; an int beyond ±(2^53−1) (history's `{"$bigint": ...}`)
 * arrives as a BigInt, and a BigInt result goes back to that form exactly.
 *
 * Containment: while in-process attempts run, errors their code raises outside the call (a throw
 * in a `setTimeout` callback, a promise rejected and never awaited, a throw in `queueMicrotask`)
 * and `process.exit()` called from their code fail the attempt they came from instead of ending
 * the engine's process. Each call runs in an AsyncLocalStorage scope that names its attempt, so
 * timers, promises and callbacks it starts carry the attempt with them. While any attempt runs
 * (and until the event loop's next turn after the last), `process.emit` passes on
 * 'uncaughtException', 'uncaughtExceptionMonitor' and 'unhandledRejection' events of a task's
 * scope to that attempt, not to the process's listeners (which may be a test runner's that would
 * report them), and `process.exit` called in a task's scope throws instead of exiting. Everything
 * raised outside a task's scope goes on exactly as before: to the host's handlers, or to Node's
 * default (print the error and exit). The originals are put back when the last attempt ends; an
 * error a task raises after that (a timer it left behind) is the host's again. A successful
 * attempt reports its outcome one turn of the event loop after the function returns, so that a
 * promise it rejected without awaiting is seen first.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ErrorInfo } from '../core/events.js';
import type { Json } from '../core/json.js';
import type { Executor, TaskHandle, TaskOutcome, TaskRequest } from '../core/ports.js';
import { ExecutorError } from '../core/errors.js';
import { canonicalJson, sha256 } from '../../util/hash.js';
import { isBigintMarker } from './exact-json.js';
import { Semaphore, type Release } from './semaphore.js';

// ---------------------------------------------------------------------------------------------
// Shared by the local executors

/** The deterministic submission id of an attempt: `runId/stepId/attempt`. */
export function handleIdOf(req: Pick<TaskRequest, 'runId' | 'stepId' | 'attempt'>): string {
  return `${req.runId}/${req.stepId}/${req.attempt}`;
}

/**
 * The directory of one attempt: `<root>/<runId>/<stepId>/<attempt>`. Each id is one path segment:
 * characters outside `[A-Za-z0-9._#@+=-]`, and a leading dot, are percent-encoded, so an id such as
 * `"a/../b"` can neither climb out of `root` nor collide with another id.
 */
export function attemptDirOf(root: string, req: Pick<TaskRequest, 'runId' | 'stepId' | 'attempt'>): string {
  return join(root, pathSegment(req.runId), pathSegment(req.stepId), String(req.attempt));
}

function pathSegment(id: string): string {
  if (id === '') return '%';
  const encoded = id.replace(/[^A-Za-z0-9._#@+=-]/g, (c) =>
    Array.from(Buffer.from(c, 'utf8'), (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
  return encoded.startsWith('.') ? `%2E${encoded.slice(1)}` : encoded;
}

/**
 * The reason an attempt's signal carries when its timeout passes (a DOMException named
 * 'TimeoutError', as `AbortSignal.timeout` gives).
 * @internal
 */
export function timeoutReason(task: string, ms: number): DOMException {
  return new DOMException(`task ${task} timed out after ${ms} ms`, 'TimeoutError');
}

/**
 * The reason an attempt's signal carries when it is cancelled (a DOMException named 'AbortError').
 * @internal
 */
export function cancelledReason(task: string): DOMException {
  return new DOMException(`task ${task} was cancelled`, 'AbortError');
}

/**
 * The outcome of an attempt aborted with `reason`: kind 'timeout' (retryable) for a TimeoutError,
 * else kind 'cancelled' (not retryable).
 * @internal
 */
export function abortedOutcome(task: string, reason: unknown, details?: string): TaskOutcome {
  const isTimeout = reason instanceof DOMException && reason.name === 'TimeoutError';
  const message = reason instanceof Error || reason instanceof DOMException ? reason.message : `task ${task} was cancelled`;
  const error: ErrorInfo = isTimeout
    ? { kind: 'timeout', message, retryable: true, ...(details ? { details } : {}) }
    : { kind: 'cancelled', message, retryable: false, ...(details ? { details } : {}) };
  return { ok: false, error };
}

/**
 * Aborts `controller` (as a cancellation) when `signal` aborts; returns the unlink function.
 * @internal
 */
export function linkAbort(signal: AbortSignal, controller: AbortController, task: string): () => void {
  const onAbort = (): void => controller.abort(cancelledReason(task));
  if (signal.aborted) {
    onAbort();
    return () => {};
  }
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/**
 * Starts the attempt's timeout (start-to-close: it runs from when the attempt gets its slot, not
 * from submission); returns the stop function. Only a positive finite `timeoutMs` sets a timeout.
 * @internal
 */
export function startTimeout(req: TaskRequest, controller: AbortController): () => void {
  const ms = req.timeoutMs;
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) return () => {};
  const timer = setTimeout(() => controller.abort(timeoutReason(req.task, ms)), ms);
  return () => clearTimeout(timer);
}

/** The outcome of an attempt the executor could not run at all. @internal */
export function executorFailure(message: string, retryable: boolean): TaskOutcome {
  return { ok: false, error: { kind: 'executor', message, retryable } };
}

// ---------------------------------------------------------------------------------------------
// JSON results

/**
 * Converts a JS value to the JSON that crosses the engine's boundaries, checking it on the way.
 * - `undefined` at the top level becomes `null`; an object property whose value is `undefined` is
 *   left out (as `JSON.stringify` does).
 * - A BigInt within ±(2^53−1) becomes a number; a larger one becomes `{"$bigint": "digits"}`.
 * - An object with a `toJSON` method (a Date) is replaced by what it returns; `-0` becomes `0`.
 * - The same object may appear twice (a DAG), but not inside itself.
 * @throws TypeError naming the path of the first value that is not JSON: a function, a symbol,
 *   `undefined` in an array, NaN or ±Infinity, a cycle, or an object that is not plain (Map, Set,
 *   class instance, typed array)
 */
export function toJson(value: unknown): Json {
  return convert(value === undefined ? null : value, '$', []);
}

function convert(v: unknown, path: string, ancestors: object[]): Json {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError(`${path} is ${v}`);
      return Object.is(v, -0) ? 0 : v;
    case 'bigint':
      return v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : { $bigint: v.toString() };
    case 'undefined':
      throw new TypeError(`${path} is undefined`);
    case 'function':
      throw new TypeError(`${path} is a function`);
    case 'symbol':
      throw new TypeError(`${path} is a symbol`);
    case 'object':
      break;
  }
  if (v === null) return null;
  const obj = v as object;
  if (ancestors.includes(obj)) throw new TypeError(`${path} is a cycle (the value contains itself)`);
  if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') {
    return convert((obj as { toJSON: (key: string) => unknown }).toJSON(''), path, [...ancestors, obj]);
  }
  ancestors.push(obj);
  try {
    if (Array.isArray(obj)) {
      const out: Json[] = [];
      for (let i = 0; i < obj.length; i++) out.push(convert(obj[i], `${path}[${i}]`, ancestors));
      return out;
    }
    const proto = Object.getPrototypeOf(obj) as object | null;
    if (proto !== Object.prototype && proto !== null) {
      const name = (obj.constructor as { name?: string } | undefined)?.name ?? 'object';
      throw new TypeError(`${path} is a ${name}, not a plain object`);
    }
    const out: { [key: string]: Json } = {};
    for (const [key, item] of Object.entries(obj)) {
      if (item === undefined) continue;
      out[key] = convert(item, `${path}.${key}`, ancestors);
    }
    return out;
  } finally {
    ancestors.pop();
  }
}

// ---------------------------------------------------------------------------------------------
// Task failures

/** Options of a TaskFailure. */
export interface TaskFailureOptions extends ErrorOptions {
  /** Error kind recorded in history (a retry policy may list it as non-retryable). @default 'task' */
  readonly kind?: string;
  /** Whether the engine may retry the attempt. @default true */
  readonly retryable?: boolean;
  /** Text for people (defaults to the stack). @default undefined */
  readonly details?: string;
}

/**
 * An error a task function throws to choose how its failure is recorded.
 * @example
 *   throw new TaskFailure('no such dataset: ' + name, { kind: 'not_found', retryable: false });
 */
export class TaskFailure extends Error {
  readonly kind: string;
  readonly retryable: boolean;
  readonly details?: string;

  constructor(message: string, options: TaskFailureOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TaskFailure';
    this.kind = options.kind ?? 'task';
    this.retryable = options.retryable ?? true;
    if (options.details !== undefined) this.details = options.details;
  }
}

/**
 * The ErrorInfo of a thrown value. A string `kind`, a boolean `retryable`, `nonRetryable: true` and
 * a string `details` on the error are honoured (TaskFailure has them; so may any error). A thrown
 * value that is not an Error reads as what it holds: its `message` if it has one, else its JSON
 * (`task threw {"code":42}`), never "[object Object]".
 */
function errorInfoOf(thrown: unknown): ErrorInfo {
  if (typeof thrown !== 'object' || thrown === null) {
    return { kind: 'task', message: `task threw ${describe(thrown)}`, retryable: true };
  }
  const e = thrown as { kind?: unknown; retryable?: unknown; nonRetryable?: unknown; details?: unknown; message?: unknown; stack?: unknown; name?: unknown };
  const kind = typeof e.kind === 'string' && e.kind !== '' ? e.kind : 'task';
  const retryable = typeof e.retryable === 'boolean' ? e.retryable : e.nonRetryable !== true;
  let message: string;
  if (typeof e.message === 'string' && e.message !== '') message = e.message;
  else if (thrown instanceof Error) message = typeof e.name === 'string' && e.name !== '' ? e.name : 'Error';
  else message = `task threw ${describe(thrown)}`;
  const details = typeof e.details === 'string' ? e.details : typeof e.stack === 'string' ? e.stack : undefined;
  return { kind, message, retryable, ...(details !== undefined ? { details } : {}) };
}

/** Longest description of a thrown value kept in a message. */
const DESCRIBE_MAX = 2000;

/** A thrown value for people: a string quoted, an object as JSON (BigInts as digits), else String(). */
function describe(v: unknown): string {
  let text: string;
  try {
    if (typeof v === 'string') text = JSON.stringify(v);
    else if (typeof v === 'object' && v !== null) {
      const own = String(v);
      // A class with its own toString says best what it is.
      if (own !== '[object Object]' && !Array.isArray(v)) text = own;
      else text = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? own;
      const name = (v.constructor as { name?: unknown } | undefined)?.name;
      if (typeof name === 'string' && name !== '' && name !== 'Object' && name !== 'Array' && text.startsWith('{')) text = `${name} ${text}`;
    } else text = String(v);
  } catch {
    // A cycle, or a throwing toJSON/toString.
    const name = typeof v === 'object' && v !== null ? (v.constructor as { name?: unknown } | undefined)?.name : undefined;
    const what = typeof name === 'string' && name !== '' && name !== 'Object' ? `a ${name}` : 'an object';
    text = typeof v === 'object' && v !== null ? `${what} with keys ${Object.keys(v).join(', ') || '(none)'}` : typeof v;
  }
  return text.length > DESCRIBE_MAX ? `${text.slice(0, DESCRIBE_MAX)}…` : text;
}

// ---------------------------------------------------------------------------------------------
// The executor

/** What a context task function gets as its first argument: the attempt it runs. */
export interface TaskContext {
  /** The registered task name. */
  readonly task: string;
  readonly runId: string;
  readonly stepId: string;
  /** 1-based attempt number. */
  readonly attempt: number;
  /** The same for a re-run of the same attempt: use it to make side effects idempotent. */
  readonly idempotencyKey: string;
  /** Aborted on timeout (reason: DOMException 'TimeoutError') or cancellation ('AbortError'). */
  readonly signal: AbortSignal;
  /** The keyword arguments (also passed as the last argument when there are any). */
  readonly kwargs: { readonly [name: string]: TaskValue };
  /**
   * The run's declared environment (`larkflow run --env`, `StartOptions.env`), recorded in its
   * history: the same after recovery on another worker. Read it instead of `process.env`, which is
   * the engine's. Frozen. @default {}
   */
  readonly env: Readonly<Record<string, string>>;
  /** Writes a line to the attempt's log (see FunctionExecutorOptions.logDir and onLog). */
  log(message: string): void;
  /**
   * Reports progress of a long task (JSON `details`: a count, a phase, a checkpoint): recorded in the
   * run's history (the latest at most once a second) and shown by `larkflow show`.
   */
  heartbeat(details?: TaskValue): void;
}

/**
 * A value as a task function receives it: JSON, except that an int beyond ±(2^53−1) is a BigInt.
 */
export type TaskValue = null | boolean | number | bigint | string | TaskValue[] | { [key: string]: TaskValue };

/**
 * A task function, called as `fn(...args)` when the task was called without keyword arguments and
 * as `fn(...args, kwargs)` when it had some; `this` is undefined. Its arguments are TaskValues.
 * It returns (or resolves to) a JSON-like value, checked by `toJson` (a BigInt is allowed). Parameters are typed `never` so that a function of any
 * parameter types can be registered.
 */
export type TaskFunction = (...args: never[]) => unknown;

/** A task function that takes the attempt's context first: `fn(ctx, ...args[, kwargs])`. */
export type ContextTaskFunction = (ctx: TaskContext, ...args: never[]) => unknown;

/** Options of a registration. */
export interface RegisterOptions {
  /** Bump it when the function's behaviour changes without its source (a helper, a model file). @default undefined */
  readonly version?: string;
}

/** Options of a FunctionExecutor. */
export interface FunctionExecutorOptions {
  /** Attempts running at once; more wait in FIFO order. @default 8 */
  readonly concurrency?: number;
  /**
   * Where `ctx.log` writes: `<logDir>/<runId>/<stepId>/<attempt>/task.log`, and TaskHandle.logs is
   * that attempt directory (created on the first log line). Without it, handles have no logs.
   * @default undefined
   */
  readonly logDir?: string;
  /** Also called with every `ctx.log` line. @default undefined */
  readonly onLog?: (handleId: string, message: string) => void;
}

interface Registered {
  readonly fn: (...args: unknown[]) => unknown;
  readonly withContext: boolean;
  readonly version: string | undefined;
}

/**
 * One attempt, from submission to its outcome. An attempt is cheap when it can be: its
 * AbortController exists only for a context task (whose function sees `ctx.signal`), it listens to
 * the request's signal only while it waits for a slot (the semaphore does) or while an async
 * function runs, and it has a timer only when it has a timeout. The outcome is settled once, by
 * `finish`, which also gives everything back (timer, listener, slot, in-flight entry).
 */
interface Attempt {
  readonly req: TaskRequest;
  readonly id: string;
  readonly logs: string | undefined;
  readonly handle: TaskHandle;
  readonly resolve: (outcome: TaskOutcome) => void;
  settled: boolean;
  controller: AbortController | undefined;
  /** The attempt's context, once made (argumentsOf or currentTask). */
  context?: TaskContext;
  release: Release | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  onCancel: (() => void) | undefined;
  /** Set while the function's code may run: it holds the containment guard (see the file's doc). */
  guarded: boolean;
  /** The success outcome waiting for the next turn of the event loop before it is reported. */
  returned: TaskOutcome | undefined;
}

/**
 * Runs registered JS functions in process.
 * @example
 *   const local = new FunctionExecutor({ concurrency: 4 });
 *   local.register('add', (a: number, b: number) => a + b);
 *   local.register('greet', (name: string, kw?: { greeting?: string }) => `${kw?.greeting ?? 'hello'} ${name}`);
 *   local.registerWithContext('fetch', async (ctx, url: string) => (await fetch(url, { signal: ctx.signal })).json());
 */
export class FunctionExecutor implements Executor {
  readonly name = 'local';
  private readonly tasks = new Map<string, Registered>();
  private readonly inflight = new Map<string, Attempt>();
  private readonly slots: Semaphore;
  private readonly logDir: string | undefined;
  private readonly onLog: ((handleId: string, message: string) => void) | undefined;
  private closed = false;

  /** @throws RangeError if `concurrency` is not an integer ≥ 1 */
  constructor(options: FunctionExecutorOptions = {}) {
    this.slots = new Semaphore(options.concurrency ?? 8);
    this.logDir = options.logDir;
    this.onLog = options.onLog;
  }

  /**
   * Registers `fn` as task `name`, called as `fn(...args)` or, when the task was called with keyword
   * arguments, `fn(...args, kwargs)`.
   * @throws ExecutorError if the name is empty or already registered
   */
  register(name: string, fn: TaskFunction, options: RegisterOptions = {}): this {
    return this.add(name, fn as (...args: unknown[]) => unknown, false, options);
  }

  /**
   * Registers `fn` as task `name`, called as `fn(ctx, ...args)` or `fn(ctx, ...args, kwargs)`.
   * @throws ExecutorError if the name is empty or already registered
   */
  registerWithContext(name: string, fn: ContextTaskFunction, options: RegisterOptions = {}): this {
    return this.add(name, fn as (...args: unknown[]) => unknown, true, options);
  }

  /** Names of the registered tasks, in registration order. */
  taskNames(): string[] {
    return [...this.tasks.keys()];
  }

  /**
   * SHA-256 (hex) of the task's function source and version, for cache keys; undefined for an
   * unknown task. Hazard: the source does not cover what the function calls or closes over; bump
   * `version` when those change.
   */
  implementationDigestOf(name: string): string | undefined {
    const t = this.tasks.get(name);
    if (!t) return undefined;
    return sha256(canonicalJson({ executor: this.name, source: t.fn.toString(), version: t.version ?? null, withContext: t.withContext }));
  }

  /** True if `task` is registered and no command is given (a task with a command is a process task). */
  canRun(task: string, command?: readonly string[]): boolean {
    return this.tasks.has(task) && (command === undefined || command.length === 0);
  }

  /**
   * Starts an attempt. Submitting an attempt that is still in flight returns its handle again.
   * An unknown task, or a closed executor, gives a non-retryable 'executor' error. The function is
   * never called from inside `submit`: at the earliest in a microtask, once the attempt has its slot.
   */
  submit(req: TaskRequest): TaskHandle {
    const id = handleIdOf(req);
    const existing = this.inflight.get(id);
    if (existing) return existing.handle;
    const logs = this.logDir === undefined ? undefined : attemptDirOf(this.logDir, req);
    let resolve!: (outcome: TaskOutcome) => void;
    const done = new Promise<TaskOutcome>((r) => (resolve = r));
    const handle: TaskHandle = logs === undefined ? { id, done } : { id, logs, done };
    const a: Attempt = { req, id, logs, handle, resolve, settled: false, controller: undefined, release: undefined, timer: undefined, onCancel: undefined, guarded: false, returned: undefined };
    this.inflight.set(id, a);
    if (this.closed) {
      this.finish(a, executorFailure('local executor is closed', false));
    } else if (!this.tasks.has(req.task)) {
      this.finish(a, executorFailure(`unknown task ${req.task} (registered: ${this.taskNames().join(', ') || 'none'})`, false));
    } else if (req.signal.aborted) {
      this.finish(a, abortedOutcome(req.task, cancelledReason(req.task)));
    } else {
      // A free slot is taken now (acquire counts it at once), so attempts start in submission
      // order; a queued attempt leaves the queue if the request's signal aborts.
      this.slots.acquire(req.signal).then(
        (release) => {
          try {
            this.begin(a, release);
          } catch (e) {
            this.finish(a, executorFailure(`local executor failed: ${e instanceof Error ? e.message : String(e)}`, true));
          }
        },
        () => this.finish(a, abortedOutcome(req.task, cancelledReason(req.task))),
      );
    }
    return handle;
  }

  /** Aborts an attempt: its outcome is 'cancelled'. Unknown or finished handles are ignored. */
  cancel(handleId: string): void {
    const a = this.inflight.get(handleId);
    if (a) this.abort(a, cancelledReason(a.req.task));
  }

  /** Cancels every attempt in flight, waits for their outcomes, and refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.inflight.values()];
    for (const a of all) this.abort(a, cancelledReason(a.req.task));
    await Promise.all(all.map((a) => a.handle.done));
  }

  private add(name: string, fn: (...args: unknown[]) => unknown, withContext: boolean, options: RegisterOptions): this {
    if (name === '') throw new ExecutorError('task name must not be empty', false);
    if (this.tasks.has(name)) throw new ExecutorError(`task ${name} is already registered`, false);
    if (typeof fn !== 'function') throw new ExecutorError(`task ${name}: not a function`, false);
    this.tasks.set(name, { fn, withContext, version: options.version });
    return this;
  }

  /** The attempt has its slot: starts its timeout and calls the function. */
  private begin(a: Attempt, release: Release): void {
    a.release = release;
    // Cancelled (by handle) while it waited, or closed: it never runs.
    if (a.settled) return release();
    const req = a.req;
    if (req.signal.aborted) return this.finish(a, abortedOutcome(req.task, cancelledReason(req.task)));
    const t = this.tasks.get(req.task)!;
    const ms = req.timeoutMs;
    if (ms !== undefined && Number.isFinite(ms) && ms > 0) a.timer = setTimeout(() => this.abort(a, timeoutReason(req.task, ms)), ms);
    if (t.withContext) {
      // The function sees the signal: abort it when the request's signal aborts. (For other
      // functions, currentTask() makes it on first use.)
      a.controller = new AbortController();
      this.listen(a);
    }
    let value: unknown;
    const args = this.argumentsOf(a, t);
    enterGuard();
    a.guarded = true;
    const scope: AttemptScope = {
      task: req.task,
      id: a.id,
      context: () => this.contextOf(a),
      ended: () => a.settled,
      fail: (error) => this.finish(a, { ok: false, error }),
    };
    try {
      value = attemptScopes.run(scope, () => t.fn.apply(undefined, args));
    } catch (e) {
      // An abort during the call (the function cancelled its own run, say) wins, whether the
      // function then returns or throws.
      if (req.signal.aborted) this.abort(a, cancelledReason(req.task));
      return this.finish(a, { ok: false, error: errorInfoOf(e) });
    }
    if (req.signal.aborted) this.abort(a, cancelledReason(req.task));
    if (a.settled) return;
    if (typeof (value as { then?: unknown } | null)?.then !== 'function') return this.succeed(a, resultOutcome(req.task, value));
    // Async: from now on an abort must end the attempt at once, whatever the function does.
    this.listen(a);
    Promise.resolve(value).then(
      (v) => this.succeed(a, resultOutcome(req.task, v)),
      (e: unknown) => this.finish(a, { ok: false, error: errorInfoOf(e) }),
    );
  }

  /**
   * Reports a returned value one turn of the event loop later (a failure to convert it at once):
   * a promise the function rejected without awaiting is reported in between, and fails the attempt.
   */
  private succeed(a: Attempt, outcome: TaskOutcome): void {
    if (a.settled || a.returned !== undefined) return;
    if (!outcome.ok) return this.finish(a, outcome);
    a.returned = outcome;
    this.returned.push(a);
    if (this.returned.length === 1) setImmediate(this.reportReturned);
  }

  /** Attempts whose function has returned, in order, waiting for the next turn of the event loop. */
  private returned: Attempt[] = [];

  private readonly reportReturned = (): void => {
    const all = this.returned;
    this.returned = [];
    for (const a of all) this.finish(a, a.returned!);
  };

  /** Makes an abort of the request's signal cancel the attempt (once per attempt). */
  private listen(a: Attempt): void {
    if (a.onCancel !== undefined || a.settled) return;
    a.onCancel = () => this.abort(a, cancelledReason(a.req.task));
    a.req.signal.addEventListener('abort', a.onCancel, { once: true });
  }

  /** Ends the attempt as aborted with `reason` (and aborts the signal its function sees). */
  private abort(a: Attempt, reason: DOMException): void {
    // A function that has returned is done: its value is reported whatever happens meanwhile.
    if (a.settled || a.returned !== undefined) return;
    a.controller?.abort(reason);
    this.finish(a, abortedOutcome(a.req.task, reason));
  }

  /** Settles the attempt's outcome (the first call wins) and gives back what it held. */
  private finish(a: Attempt, outcome: TaskOutcome): void {
    if (a.settled) return;
    a.settled = true;
    if (a.timer !== undefined) clearTimeout(a.timer);
    if (a.onCancel !== undefined) a.req.signal.removeEventListener('abort', a.onCancel);
    a.release?.();
    if (this.inflight.get(a.id) === a) this.inflight.delete(a.id);
    if (a.guarded) {
      a.guarded = false;
      leaveGuard();
    }
    a.resolve(outcome);
  }

  private argumentsOf(a: Attempt, t: Registered): unknown[] {
    const req = a.req;
    const args: unknown[] = new Array(req.args.length);
    for (let i = 0; i < args.length; i++) args[i] = copyArgument(req.args[i]!);
    const hasKwargs = hasOwnKeys(req.kwargs);
    if (hasKwargs) args.push(copyArgument(req.kwargs));
    if (!t.withContext) return args;
    args.unshift(this.contextOf(a));
    return args;
  }

  /** The attempt's TaskContext (made once). */
  private contextOf(a: Attempt): TaskContext {
    if (a.context) return a.context;
    if (!a.controller) {
      a.controller = new AbortController();
      if (a.settled) a.controller.abort(cancelledReason(a.req.task));
      else this.listen(a);
    }
    const req = a.req;
    const ctx: TaskContext = {
      task: req.task,
      runId: req.runId,
      stepId: req.stepId,
      attempt: req.attempt,
      idempotencyKey: req.idempotencyKey,
      signal: a.controller!.signal,
      kwargs: hasOwnKeys(req.kwargs) ? (copyArgument(req.kwargs) as { [name: string]: TaskValue }) : {},
      env: Object.freeze({ ...(req.env ?? {}) }),
      log: (message) => this.log(a.id, a.logs, message),
      heartbeat: (details) => req.onHeartbeat?.(toJson(details ?? null)),
    };
    a.context = ctx;
    return ctx;
  }

  private log(id: string, logs: string | undefined, message: string): void {
    this.onLog?.(id, message);
    if (logs === undefined) return;
    mkdirSync(logs, { recursive: true });
    appendFileSync(join(logs, 'task.log'), message.endsWith('\n') ? message : `${message}\n`);
  }
}

/** The outcome of a function that returned (or resolved to) `value`. */
function resultOutcome(task: string, value: unknown): TaskOutcome {
  try {
    return { ok: true, value: toJson(value) };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return { ok: false, error: { kind: 'task', message: `task ${task} returned a value that is not JSON: ${why}`, retryable: false } };
  }
}

function hasOwnKeys(o: object): boolean {
  for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k)) return true;
  return false;
}

/**
 * A deep copy of a JSON argument (what `structuredClone` gives for one, much cheaper), with every
 * big integer marker `{"$bigint": "digits"}` made a BigInt: primitives are returned as they are,
 * arrays and plain objects are copied; a `__proto__` key stays an own property. Anything else (not
 * expected in a request) goes through `structuredClone`.
 */
function copyArgument(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    const out: unknown[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = copyArgument(v[i]);
    return out;
  }
  const proto = Object.getPrototypeOf(v) as object | null;
  if (proto !== Object.prototype && proto !== null) return structuredClone(v);
  if (isBigintMarker(v)) return BigInt(v.$bigint);
  const out: { [key: string]: unknown } = {};
  for (const key of Object.keys(v)) {
    const item = copyArgument((v as { [key: string]: unknown })[key]);
    if (key === '__proto__') Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
    else out[key] = item;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Containment of what task code raises outside its call (see the file's doc)

/** The attempt whose code runs in an async context. */
interface AttemptScope {
  readonly task: string;
  /** The handle id (`runId/stepId/attempt`), for warnings. */
  readonly id: string;
  /** The attempt's context (`currentTask()`), made on first use. */
  context(): TaskContext;
  /** True once the attempt has its outcome. */
  ended(): boolean;
  /** Ends the attempt with `error` (ignored if it has ended). */
  fail(error: ErrorInfo): void;
}

const attemptScopes = new AsyncLocalStorage<AttemptScope>();

/**
 * The context of the task attempt whose code is running — for any registered function, not only
 * those registered with a context: `const { attempt, idempotencyKey, signal, heartbeat } = currentTask()`.
 * It follows the task's own async work (timers, promises it starts).
 * @throws Error when called outside a task's code
 */
export function currentTask(): TaskContext {
  const scope = attemptScopes.getStore();
  if (!scope) throw new Error('currentTask() was called outside a task attempt: call it from the code of a registered task function');
  return scope.context();
}

/** What `process.exit` throws in a task's scope: it unwinds the task's code, which has failed. */
class TaskExitError extends Error {
  override readonly name = 'TaskExitError';
}

interface Installed {
  readonly emit: typeof process.emit;
  readonly exit: typeof process.exit;
  readonly queueMicrotask: typeof queueMicrotask;
  readonly guardedEmit: typeof process.emit;
  readonly guardedExit: typeof process.exit;
  readonly guardedQueueMicrotask: typeof queueMicrotask;
}

/** Attempts holding the guard, across every FunctionExecutor of the process. */
let guardHolders = 0;
let installed: Installed | undefined;
let uninstallTimer: ReturnType<typeof setImmediate> | undefined;

function enterGuard(): void {
  guardHolders++;
  if (uninstallTimer !== undefined) {
    clearImmediate(uninstallTimer);
    uninstallTimer = undefined;
  }
  if (installed === undefined) installGuard();
}

function leaveGuard(): void {
  if (--guardHolders > 0 || uninstallTimer !== undefined) return;
  // One more turn of the event loop: an error raised as the last attempt ends (a rejection of the
  // same tick) is still the task's.
  uninstallTimer = setImmediate(() => {
    uninstallTimer = undefined;
    if (guardHolders === 0) uninstallGuard();
  });
  uninstallTimer.unref();
}

/** Ends the attempt of `scope` with what its code raised (or warns, if it had ended). */
function contain(scope: AttemptScope, raised: unknown, how: 'uncaught exception' | 'unhandled rejection'): void {
  if (raised instanceof TaskExitError) return;
  if (scope.ended()) {
    process.emitWarning(`larkflow: task ${scope.task} (attempt ${scope.id}, already ended) raised an ${how}: ${errorInfoOf(raised).message}`, 'LarkflowTaskWarning');
    return;
  }
  const info = errorInfoOf(raised);
  scope.fail({ ...info, message: `task ${scope.task}: ${how}: ${info.message}` });
}

function installGuard(): void {
  const emit = process.emit;
  const exit = process.exit;
  const originalQueueMicrotask = globalThis.queueMicrotask;
  const guardedEmit = function (this: unknown, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'uncaughtException' || event === 'unhandledRejection' || event === 'uncaughtExceptionMonitor') {
      const scope = attemptScopes.getStore();
      if (scope !== undefined) {
        // The monitor event comes first; the attempt hears of it once, from the main event.
        if (event !== 'uncaughtExceptionMonitor') contain(scope, args[0], event === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception');
        return true;
      }
    }
    return (emit as (this: unknown, event: string | symbol, ...args: unknown[]) => boolean).call(this, event, ...args);
  } as typeof process.emit;
  const guardedExit = function (this: unknown, code?: string | number | null): never {
    const scope = attemptScopes.getStore();
    if (scope === undefined) return (exit as (this: unknown, code?: string | number | null) => never).call(this, code);
    const message = `task ${scope.task} called process.exit(${code === undefined ? '' : JSON.stringify(code)}): tasks must return or throw`;
    scope.fail({ kind: 'task', message, retryable: false });
    throw new TaskExitError(message);
  } as typeof process.exit;
  // A throw in a microtask reaches 'uncaughtException' outside any async context: catch it here.
  const guardedQueueMicrotask = function (callback: () => void): void {
    const scope = attemptScopes.getStore();
    if (scope === undefined || typeof callback !== 'function') return originalQueueMicrotask(callback);
    originalQueueMicrotask(() => {
      try {
        callback();
      } catch (e) {
        contain(scope, e, 'uncaught exception');
      }
    });
  };
  process.emit = guardedEmit;
  process.exit = guardedExit;
  globalThis.queueMicrotask = guardedQueueMicrotask;
  installed = { emit, exit, queueMicrotask: originalQueueMicrotask, guardedEmit, guardedExit, guardedQueueMicrotask };
}

/**
 * Puts the originals back. One that someone else has wrapped since stays wrapped (taking ours out
 * would drop theirs), and passes everything on: with the scopes disabled, no code is a task's.
 * Disabling the scopes also takes their cost (async hooks on every promise) off the process.
 */
function uninstallGuard(): void {
  const i = installed;
  if (i === undefined) return;
  installed = undefined;
  attemptScopes.disable();
  if (process.emit === i.guardedEmit) process.emit = i.emit;
  if (process.exit === i.guardedExit) process.exit = i.exit;
  if (globalThis.queueMicrotask === i.guardedQueueMicrotask) globalThis.queueMicrotask = i.queueMicrotask;
}
