/**
 * This file defines what a workflow file sees: `task(...)`, `@workflow()`, futures (`run`,
 * `new_callable`, and `batch_run`, which returns a batch future as `concurrent.batch_run` does), `RetryPolicy`, and the deterministic modules `time`, `uuid`,
 * `random`, `os`, `ctx`, `progress` and `atexit`. Everything that touches time, randomness or the
 * outside world goes through the `WorkflowHost` of the running machine, which records or derives it
 * from history, so replay sees exactly what the live run saw.
 *
 * A call that must wait (a task, a sleep, a child workflow, a future's result) returns a Pending
 * whose request is one of the `HostRequest`s below; the machine (machine.ts) handles it.
 */
import {
  Builtin,
  Dict,
  EvalError,
  Float,
  Function,
  List,
  Module,
  Pending,
  StarValue,
  Tuple,
  isInt,
  normBig,
  repr,
  typeName,
  unpackArgs,
  utf8Decode,
  utf8Encode,
  type KwArgs,
  type ThreadContext,
  type Value,
} from '../../interpreter/index.js';
import { Struct } from '../../stdlib/index.js';
import type { CallSite, RetryPolicy, TaskResources } from '../core/events.js';
import { ComputeConfigValue, TaskConfigValue, executorForConfig, kubernetesTaskBuiltin, rayTaskBuiltin, sparkTaskBuiltin } from './task-config.js';
import { pluginPredeclared } from './plugins/predeclared.js';

// ---------------------------------------------------------------------------------------------
// Host interface: what the builtins need from the running machine

/** A request a workflow thread suspends on. */
export type HostRequest =
  | { readonly kind: 'task'; readonly stub: TaskStub; readonly args: Value[]; readonly kwargs: KwArgs | null; readonly site: CallSite }
  | { readonly kind: 'await'; readonly future: Future; readonly site: CallSite }
  | { readonly kind: 'sleep'; readonly ms: number; readonly site: CallSite }
  | { readonly kind: 'child'; readonly workflow: WorkflowFn; readonly args: Value[]; readonly kwargs: KwArgs | null; readonly site: CallSite }
  | { readonly kind: 'batch'; readonly callables: readonly NewCallable[]; readonly maxConcurrency: number; readonly site: CallSite }
  | { readonly kind: 'signal'; readonly name: string; readonly timeoutMs?: number; readonly failOnTimeout: boolean; readonly site: CallSite }
  | { readonly kind: 'any'; readonly items: readonly (Future | SignalChannel)[]; readonly timeoutMs?: number; readonly site: CallSite };

/** The running machine, as the builtins see it (stored in thread.locals under HOST_KEY). */
export interface WorkflowHost {
  /** The run's clock: the time of the event being processed (ms since epoch). */
  now(): number;
  random(): number;
  randint(lo: number, hi: number): number;
  /** Reseeds: an int (as bigint) switches to Go's seeded source (util/prng.ts GoRand). */
  seed(s: string | bigint): void;
  uuidBytes(): Uint8Array;
  /** Starts `fn(*args, **kwargs)` concurrently; returns its future. */
  spawn(fn: Value, args: Value[], kwargs: KwArgs | null, site: CallSite): Future;
  /** Starts callables with at most `max` in flight (0: no limit); see WorkflowMachine.spawnBatch. */
  spawnBatch(callables: readonly NewCallable[], max: number, site: CallSite): { all: Future; items: Future[] };
  progress(message: string): void;
  /** Publishes `key` for the outside to read or wait for (`events.set`). */
  setEvent(key: string, value: Value): void;
  /** Registers a read-only query handler (`query.handler`). */
  registerQuery(name: string, fn: Value): void;
  /** Registers an update handler and its validator (`update.handler`). */
  registerUpdate(name: string, fn: Value, validator: Value | undefined): void;
  registerExit(fn: Value, args: Value[], kwargs: KwArgs | null, site?: CallSite): void;
  unregisterExit(fn: Value): void;
  readonly env: Dict;
  readonly ctx: Value;
}

export const HOST_KEY = 'larkflow.workflow.host';

/**
 * Where the builtins find the run being executed: `current` is set by the machine before it runs
 * Starlark code. Outside a run (a file loaded to list or check its workflows), `env` is what
 * `os.environ` shows at the top level: give the environment the run will start with, so that the
 * check sees what the run's own top level will see. @default env: {}
 */
export interface HostRef {
  current: WorkflowHost | null;
  readonly env?: Readonly<Record<string, string>>;
}

function hostOf(th: ThreadContext, what: string): WorkflowHost {
  const h = th.locals.get(HOST_KEY) as WorkflowHost | undefined;
  if (!h) throw new EvalError(`${what} can only be used while a workflow runs (not at the top level of a file)`);
  return h;
}

/** The call site of the builtin being called. */
export function siteOf(th: ThreadContext): CallSite {
  const p = th.callerPosition?.();
  const stack = (th as unknown as { callStackNames?: () => string[] }).callStackNames?.();
  return { file: p?.file ?? '<unknown>', line: p?.line ?? 0, column: p?.column ?? 0, ...(stack ? { stack } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Durations

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration: seconds as a number, or text like "500ms", "10m", "1h30m", "28d". */
export function parseDuration(v: Value, what: string): number {
  const finite = (ms: number): number => {
    if (!Number.isFinite(ms) || ms < 0) throw new EvalError(`${what}: a duration must be finite and not negative, not ${repr(v)}`);
    return ms;
  };
  if (typeof v === 'number') return finite(v * 1000);
  if (v instanceof Float) return finite(v.v * 1000);
  if (typeof v === 'string') {
    const text = utf8Decode(v).trim();
    const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
    let total = 0;
    let consumed = 0;
    for (const m of text.matchAll(re)) {
      if (m.index !== consumed) break;
      total += parseFloat(m[1]!) * UNIT_MS[m[2]!]!;
      consumed += m[0].length;
    }
    if (consumed === text.length && text.length > 0) return total;
    throw new EvalError(`${what}: invalid duration ${repr(v)} (use seconds, or text like "30s", "10m", "1h", "28d")`);
  }
  throw new EvalError(`${what}: got ${typeName(v)}, want a duration (seconds or text like "10m")`);
}

// ---------------------------------------------------------------------------------------------
// Retry policies

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 1,
  initialIntervalMs: 1000,
  backoffCoefficient: 2,
  maxIntervalMs: 100_000,
  jitter: 0.1,
  nonRetryable: [],
};

/** `RetryPolicy(max_attempts=, initial_interval=, backoff=, max_interval=, jitter=, non_retryable=)` */
export class RetryPolicyValue extends StarValue {
  constructor(readonly policy: RetryPolicy) {
    super();
  }
  get type(): string {
    return 'RetryPolicy';
  }
  repr(out: string[]): void {
    const p = this.policy;
    out.push(`RetryPolicy(max_attempts = ${p.maxAttempts}, initial_interval = "${p.initialIntervalMs}ms", backoff = ${p.backoffCoefficient}, max_interval = "${p.maxIntervalMs}ms")`);
  }
}

export const retryPolicyBuiltin = new Builtin('RetryPolicy', (_th, args, kwargs) => {
  const [maxAttempts, initial, backoff, maxInterval, jitter, nonRetryable] = unpackArgs('RetryPolicy', args, kwargs, [
    'max_attempts?',
    'initial_interval?',
    'backoff?',
    'max_interval?',
    'jitter?',
    'non_retryable?',
  ]);
  const num = (v: Value | undefined, dflt: number, name: string): number => {
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'number') return v;
    if (v instanceof Float) return v.v;
    throw new EvalError(`RetryPolicy: ${name}: got ${typeName(v)}, want a number`);
  };
  const kinds: string[] = [];
  if (nonRetryable !== undefined && nonRetryable !== null) {
    if (!(nonRetryable instanceof List || nonRetryable instanceof Tuple)) throw new EvalError('RetryPolicy: non_retryable must be a list of error kinds');
    for (const k of nonRetryable.elems) kinds.push(utf8Decode(String(k)));
  }
  const policy: RetryPolicy = {
    maxAttempts: Math.max(1, Math.floor(num(maxAttempts, 3, 'max_attempts'))),
    initialIntervalMs: initial === undefined ? DEFAULT_RETRY.initialIntervalMs : parseDuration(initial, 'RetryPolicy: initial_interval'),
    backoffCoefficient: num(backoff, 2, 'backoff'),
    maxIntervalMs: maxInterval === undefined ? DEFAULT_RETRY.maxIntervalMs : parseDuration(maxInterval, 'RetryPolicy: max_interval'),
    jitter: num(jitter, 0.1, 'jitter'),
    nonRetryable: kinds,
  };
  if (policy.backoffCoefficient < 1) throw new EvalError('RetryPolicy: backoff must be >= 1');
  if (policy.jitter < 0 || policy.jitter > 1) throw new EvalError('RetryPolicy: jitter must be between 0 and 1');
  return new RetryPolicyValue(policy);
});

// ---------------------------------------------------------------------------------------------
// Tasks and workflows

/** Options of a declared task. */
export interface TaskOptions {
  readonly retry: RetryPolicy;
  readonly timeoutMs?: number;
  readonly overallTimeoutMs?: number;
  readonly command?: readonly string[];
  /**
   * For a process task, `code = [...]`: the paths and globs (relative to the engine's working
   * directory) of the code its command runs, which its cache key covers instead of the script's
   * working tree (cache/cache-key.ts processImplementationDigest). `[]`: the argv covers it all.
   */
  readonly code?: readonly string[];
  readonly executor: string;
  /** The task named its executor (`executor = ...`); otherwise the run's remote default may take it. */
  readonly executorExplicit?: boolean;
  /** For remote tasks, `function = "module:function"`: what the runner calls. */
  readonly reference?: string;
  /** For remote tasks, `config = KubernetesTask(...)`. */
  readonly resources?: TaskResources;
  readonly cache: boolean;
  readonly cacheVersion: string;
  readonly cacheTtlMs: number;
}

const DEFAULT_CACHE_TTL_MS = 28 * 86_400_000;

/** A task stub: calling it schedules the task and suspends the workflow until its result. */
export class TaskStub extends Builtin {
  constructor(
    readonly taskName: string,
    readonly options: TaskOptions,
    /** For `@task` on a def: the Starlark body run as a step of its own. */
    readonly body?: Function,
  ) {
    super(taskName, (th, args, kwargs) => {
      hostOf(th, `task ${taskName}`);
      return new Pending({ kind: 'task', stub: this, args, kwargs, site: siteOf(th) } satisfies HostRequest);
    });
  }
  override get type(): string {
    return 'task';
  }
  override repr(out: string[]): void {
    out.push(`<task ${this.taskName}>`);
  }
  override getAttr(name: string): Value | undefined {
    if (name === 'name') return utf8Encode(this.taskName);
    if (name === 'with_overrides') return new Builtin('with_overrides', (_th, args, kwargs) => this.withOverrides(args, kwargs));
    return undefined;
  }
  override attrNames(): string[] {
    return ['name', 'with_overrides'];
  }

  /**
   * Uniflow's `t.with_overrides(alias=..., config=..., retry_attempts=..., cache_enabled=...,
   * cache_version=..., timeout=...)`: a copy of the task with the given options replaced (a new
   * `config` replaces the old one whole, as Uniflow documents; options not given are kept, in local
   * and remote runs alike).
   */
  private withOverrides(args: Value[], kwargs: KwArgs | null): TaskStub {
    if (this.body) throw new EvalError(`with_overrides: task ${this.taskName} has a Starlark body; declare a new @task instead`);
    const [alias, config, retryAttempts, cacheEnabled, cacheVersion, timeout] = unpackArgs('with_overrides', args, kwargs, [
      'alias?',
      'config?',
      'retry_attempts?',
      'cache_enabled?',
      'cache_version?',
      'timeout?',
    ]);
    let o: TaskOptions = this.options;
    let name = this.taskName;
    if (alias !== undefined && alias !== null) {
      if (typeof alias !== 'string' || utf8Decode(alias) === '') throw new EvalError('with_overrides: alias must be a non-empty string');
      name = utf8Decode(alias);
      // The alias names the step; the function called stays the same.
      if (o.reference === undefined && o.command === undefined) o = { ...o, reference: this.taskName };
    }
    if (config !== undefined && config !== null) {
      if (!(config instanceof TaskConfigValue)) throw new EvalError(`with_overrides: config must be a KubernetesTask, RayTask or SparkTask, not ${typeName(config)}`);
      const executor = executorForConfig(config, o.executorExplicit && !(config instanceof ComputeConfigValue) ? o.executor : undefined) ?? o.executor;
      o = { ...o, resources: config.resources, executor, executorExplicit: o.executorExplicit || config instanceof ComputeConfigValue };
    }
    if (retryAttempts !== undefined && retryAttempts !== null) {
      if (!isInt(retryAttempts) || Number(retryAttempts) < 0) throw new EvalError('with_overrides: retry_attempts must be a non-negative int');
      o = { ...o, retry: { ...o.retry, maxAttempts: Number(retryAttempts) + 1 } };
    }
    if (cacheEnabled !== undefined && cacheEnabled !== null) {
      if (typeof cacheEnabled !== 'boolean') throw new EvalError(`with_overrides: cache_enabled must be a bool, not ${typeName(cacheEnabled)}`);
      o = { ...o, cache: cacheEnabled };
    }
    if (cacheVersion !== undefined && cacheVersion !== null) {
      if (typeof cacheVersion !== 'string') throw new EvalError(`with_overrides: cache_version must be a string, not ${typeName(cacheVersion)}`);
      o = { ...o, cacheVersion: utf8Decode(cacheVersion) };
    }
    if (timeout !== undefined && timeout !== null) o = { ...o, timeoutMs: parseDuration(timeout, 'with_overrides: timeout') };
    return new TaskStub(name, o);
  }
}

function parseTaskOptions(kwargs: KwArgs | null, args: Value[], hasName: boolean): { name?: string; options: TaskOptions } {
  const [name, command, retries, retry, timeout, cache, cacheVersion, cacheTtl, executor, overallTimeout, code, config, fn] = unpackArgs(
    'task',
    args,
    kwargs,
    ['name?', 'command?', 'retries?', 'retry?', 'timeout?', 'cache?', 'cache_version?', 'cache_ttl?', 'executor?', 'overall_timeout?', 'code?', 'config?', 'function?'],
  );
  if (config !== undefined && config !== null && !(config instanceof TaskConfigValue)) {
    throw new EvalError(`task: config must be a KubernetesTask(...), not ${typeName(config)}`);
  }
  let reference: string | undefined;
  if (fn !== undefined && fn !== null) {
    if (typeof fn !== 'string') throw new EvalError(`task: function must be a string such as "package.module:function" or "tasks.mjs#train", not ${typeName(fn)}`);
    reference = utf8Decode(fn);
    if (!/^[^\s:#]+(:[A-Za-z_][A-Za-z0-9_.]*|#[A-Za-z_$][A-Za-z0-9_$]*)$/.test(reference)) {
      throw new EvalError(`task: function ${JSON.stringify(reference)} must be "package.module:function" (Python) or "file.mjs#export" (Node)`);
    }
  }
  let policy = DEFAULT_RETRY;
  if (retry !== undefined && retry !== null) {
    if (!(retry instanceof RetryPolicyValue)) throw new EvalError(`task: retry must be a RetryPolicy(...), not ${typeName(retry)}`);
    policy = retry.policy;
  }
  if (retries !== undefined && retries !== null) {
    if (!isInt(retries) || Number(retries) < 0) throw new EvalError('task: retries must be a non-negative int');
    policy = { ...policy, maxAttempts: Number(retries) + 1 };
  }
  let argv: string[] | undefined;
  if (command !== undefined && command !== null) {
    if (!(command instanceof List || command instanceof Tuple) || command.elems.length === 0) {
      throw new EvalError('task: command must be a non-empty list of strings, e.g. ["python3", "train.py"]');
    }
    argv = command.elems.map((e) => {
      if (typeof e !== 'string') throw new EvalError(`task: command elements must be strings, not ${typeName(e)}`);
      return utf8Decode(e);
    });
  }
  let codePaths: string[] | undefined;
  if (code !== undefined && code !== null) {
    if (!(code instanceof List || code instanceof Tuple)) throw new EvalError(`task: code must be a list of paths or globs, e.g. ["src/**/*.py"], not ${typeName(code)}`);
    if (!argv) throw new EvalError('task: code = [...] names the code of a command: give the task a command = [...] too');
    codePaths = code.elems.map((e) => {
      if (typeof e !== 'string') throw new EvalError(`task: code elements must be strings, not ${typeName(e)}`);
      const path = utf8Decode(e);
      if (path === '') throw new EvalError('task: code elements must not be empty');
      return path;
    });
  }
  if (name !== undefined && typeof name !== 'string') throw new EvalError(`task: name must be a string, not ${typeName(name)}`);
  void hasName;
  const str = (v: Value | undefined, what: string): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new EvalError(`task: ${what} must be a string, not ${typeName(v)}`);
    return utf8Decode(v);
  };
  return {
    ...(name !== undefined ? { name: utf8Decode(name as string) } : {}),
    options: {
      retry: policy,
      ...(timeout !== undefined && timeout !== null ? { timeoutMs: parseDuration(timeout, 'task: timeout') } : {}),
      ...(overallTimeout !== undefined && overallTimeout !== null ? { overallTimeoutMs: parseDuration(overallTimeout, 'task: overall_timeout') } : {}),
      ...(argv ? { command: argv } : {}),
      ...(codePaths ? { code: codePaths } : {}),
      executor:
        (config instanceof TaskConfigValue ? executorForConfig(config, str(executor, 'executor')) : undefined) ??
        str(executor, 'executor') ??
        (argv ? 'process' : reference !== undefined && reference.includes(':') ? 'python' : 'local'),
      executorExplicit: (executor !== undefined && executor !== null) || config instanceof ComputeConfigValue,
      ...(reference !== undefined ? { reference } : {}),
      ...(config instanceof TaskConfigValue ? { resources: config.resources } : {}),
      cache: cache === true,
      cacheVersion: str(cacheVersion, 'cache_version') ?? '',
      cacheTtlMs: cacheTtl !== undefined && cacheTtl !== null ? parseDuration(cacheTtl, 'task: cache_ttl') : DEFAULT_CACHE_TTL_MS,
    },
  };
}

/**
 * `task("name", ...)` declares a task implemented outside the workflow (a registered JS function or a
 * `command`); `@task(...)` on a def makes the def's body a durable step of its own.
 */
export const taskBuiltin = new Builtin('task', (_th, args, kwargs) => {
  const { name, options } = parseTaskOptions(kwargs, args, args.length > 0);
  if (name !== undefined) return new TaskStub(name, options);
  return new Builtin('task.decorator', (_th2, dargs) => {
    const fn = dargs[0];
    if (!(fn instanceof Function) || dargs.length !== 1) throw new EvalError('@task(...) must decorate a def');
    if (options.executorExplicit && !options.command && options.executor !== 'starlark') {
      throw new EvalError(
        `not supported yet: running a Starlark @task body on executor ${JSON.stringify(options.executor)}; declare the remote function instead: task("${fn.name}", executor = ${JSON.stringify(options.executor)}, function = "module:function", config = ...)`,
      );
    }
    return new TaskStub(fn.name, { ...options, executor: options.command ? options.executor : 'starlark' }, fn);
  });
});

/** A workflow entry point (`@workflow()`); calling it from another workflow starts a child run. */
export class WorkflowFn extends Builtin {
  constructor(readonly fn: Function) {
    super(fn.name, (th, args, kwargs) => {
      hostOf(th, `workflow ${fn.name}`);
      return new Pending({ kind: 'child', workflow: this, args, kwargs, site: siteOf(th) } satisfies HostRequest);
    });
  }
  override get type(): string {
    return 'workflow';
  }
  override repr(out: string[]): void {
    out.push(`<workflow ${this.fn.name}>`);
  }
}

export const workflowBuiltin = new Builtin('workflow', (_th, args, kwargs) => {
  unpackArgs('workflow', args, kwargs, []);
  return new Builtin('workflow.decorator', (_th2, dargs) => {
    const fn = dargs[0];
    if (!(fn instanceof Function) || dargs.length !== 1) throw new EvalError('@workflow() must decorate a def');
    return new WorkflowFn(fn);
  });
});

// ---------------------------------------------------------------------------------------------
// Futures and concurrency

type Settled = { readonly value: Value } | { readonly error: EvalError };

/** The eventual result of `run(...)`. */
export class Future extends StarValue {
  outcome: Settled | null = null;
  readonly waiters: ((s: Settled) => void)[] = [];
  constructor(readonly label: string) {
    super();
  }
  get type(): string {
    return 'future';
  }
  repr(out: string[]): void {
    out.push(`<future ${this.label}${this.outcome ? ' (done)' : ''}>`);
  }
  settle(s: Settled): void {
    if (this.outcome) return;
    this.outcome = s;
    const ws = this.waiters.splice(0);
    for (const w of ws) w(s);
  }
  override getAttr(name: string): Value | undefined {
    if (name === 'result') {
      return new Builtin('result', (th) => {
        if (this.outcome && 'value' in this.outcome) return this.outcome.value;
        return new Pending({ kind: 'await', future: this, site: siteOf(th) } satisfies HostRequest);
      });
    }
    if (name === 'done') return new Builtin('done', () => this.outcome !== null);
    return undefined;
  }
  override attrNames(): string[] {
    return ['done', 'result'];
  }
}

/** `new_callable(fn, *args, **kwargs)`: a call to make later (for batch_run). */
export class NewCallable extends StarValue {
  constructor(
    readonly fn: Value,
    readonly args: Value[],
    readonly kwargs: KwArgs | null,
  ) {
    super();
  }
  get type(): string {
    return 'callable';
  }
  repr(out: string[]): void {
    out.push(`<callable ${repr(this.fn)}>`);
  }
}

export const runBuiltin = new Builtin('run', (th, args, kwargs) => {
  if (args.length === 0) throw new EvalError('run: missing argument for fn');
  const host = hostOf(th, 'run');
  return host.spawn(args[0]!, args.slice(1), kwargs, siteOf(th));
});

export const newCallableBuiltin = new Builtin('new_callable', (_th, args, kwargs) => {
  if (args.length === 0) throw new EvalError('new_callable: missing argument for fn');
  return new NewCallable(args[0]!, args.slice(1), kwargs);
});

/** A future's value now, or a Pending that waits for it (its error is raised either way). */
export function awaitFuture(th: ThreadContext, f: Future): Value | Pending {
  if (f.outcome) {
    if ('value' in f.outcome) return f.outcome.value;
    throw f.outcome.error;
  }
  return new Pending({ kind: 'await', future: f, site: siteOf(th) } satisfies HostRequest);
}

/**
 * What `batch_run` returns, predeclared and from `concurrent` alike (the shape of Uniflow's
 * reference Go worker): `get()` waits for the list of results in submission order (or raises the
 * first error), `get_futures()` gives each callable's future, `is_ready()` says whether `get()`
 * would return without waiting.
 */
export class BatchFuture extends StarValue {
  constructor(
    readonly all: Future,
    readonly items: readonly Future[],
  ) {
    super();
  }
  get type(): string {
    return 'batch_future';
  }
  repr(out: string[]): void {
    out.push(`<batch_future of ${this.items.length}${this.all.outcome ? ' (done)' : ''}>`);
  }
  override getAttr(name: string): Value | undefined {
    switch (name) {
      case 'get':
        return new Builtin('get', (th, args, kwargs) => {
          unpackArgs('get', args, kwargs, []);
          return awaitFuture(th, this.all);
        });
      case 'get_futures':
        return new Builtin('get_futures', (_th, args, kwargs) => {
          unpackArgs('get_futures', args, kwargs, []);
          return new Tuple([...this.items]);
        });
      case 'is_ready':
        return new Builtin('is_ready', (_th, args, kwargs) => {
          unpackArgs('is_ready', args, kwargs, []);
          return this.all.outcome !== null;
        });
      default:
        return undefined;
    }
  }
  override attrNames(): string[] {
    return ['get', 'get_futures', 'is_ready'];
  }
}

/**
 * `batch_run(callables, max_concurrency = 0)`: starts the callables (`new_callable(...)`), at most
 * `max_concurrency` at once (0: no limit), each as a slot frees, in order; returns a BatchFuture at
 * once. The one implementation behind the predeclared `batch_run` and `concurrent.batch_run`,
 * which differ only in how they find the run (`hostOf`) and in the name of `new_callable` their
 * messages give.
 */
export function makeBatchRun(hostOf: (th: ThreadContext) => WorkflowHost, newCallableName: string): Builtin {
  return new Builtin('batch_run', (th, args, kwargs) => {
    const [callables, maxConc] = unpackArgs('batch_run', args, kwargs, ['callables', 'max_concurrency?']);
    const host = hostOf(th);
    if (!(callables instanceof List || callables instanceof Tuple)) throw new EvalError(`batch_run: callables must be a list, not ${typeName(callables!)}`);
    const items = callables.elems.map((c, i) => {
      if (!(c instanceof NewCallable)) throw new EvalError(`batch_run: element ${i} is ${typeName(c)}, want ${newCallableName}(...)`);
      return c;
    });
    const max = maxConc === undefined || maxConc === null ? 0 : maxConc;
    if (!isInt(max) || Number(max) < 0 || !Number.isSafeInteger(Number(max))) throw new EvalError('batch_run: max_concurrency must be a non-negative int');
    const { all, items: futures } = host.spawnBatch(items, Number(max), siteOf(th));
    return new BatchFuture(all, futures);
  });
}

/** The predeclared `batch_run`; see makeBatchRun. */
export const batchRunBuiltin = makeBatchRun((th) => hostOf(th, 'batch_run'), 'new_callable');

// ---------------------------------------------------------------------------------------------
// Deterministic modules

/** A UUID value: str() is the canonical 36-character form; .hex and .urn as in Python. */
export class UuidValue extends StarValue {
  constructor(readonly hex: string) {
    super();
  }
  get type(): string {
    return 'UUID';
  }
  get canonical(): string {
    const h = this.hex;
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  repr(out: string[]): void {
    out.push(this.canonical);
  }
  override getAttr(name: string): Value | undefined {
    if (name === 'hex') return this.hex;
    if (name === 'urn') return `urn:uuid:${this.canonical}`;
    return undefined;
  }
  override attrNames(): string[] {
    return ['hex', 'urn'];
  }
  override equals(y: Value): boolean {
    return y instanceof UuidValue && y.hex === this.hex;
  }
  override hashKey(): unknown {
    return `\u0100uuid${this.hex}`;
  }
}

function mod(name: string, members: Record<string, Value>): Module {
  return new Module(name, new Map(Object.entries(members)));
}

const timeModule = mod('time', {
  time: new Builtin('time', (th) => new Float(hostOf(th, 'time.time').now() / 1000)),
  time_ns: new Builtin('time_ns', (th) => normBig(BigInt(Math.round(hostOf(th, 'time.time_ns').now())) * 1_000_000n)),
  sleep: new Builtin('sleep', (th, args, kwargs) => {
    const [secs] = unpackArgs('sleep', args, kwargs, ['seconds']);
    hostOf(th, 'time.sleep');
    const ms = parseDuration(secs!, 'sleep');
    if (ms < 0) throw new EvalError('sleep: negative duration');
    return new Pending({ kind: 'sleep', ms, site: siteOf(th) } satisfies HostRequest);
  }),
});

const uuidModule = mod('uuid', {
  uuid4: new Builtin('uuid4', (th) => {
    const b = hostOf(th, 'uuid.uuid4').uuidBytes();
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    return new UuidValue(Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(''));
  }),
});

const randomModule = mod('random', {
  random: new Builtin('random', (th) => new Float(hostOf(th, 'random.random').random())),
  randint: new Builtin('randint', (th, args, kwargs) => {
    const [a, b] = unpackArgs('randint', args, kwargs, ['a', 'b']);
    if (typeof a !== 'number' || typeof b !== 'number') throw new EvalError('randint: a and b must be ints');
    if (b < a) throw new EvalError(`randint: empty range (${a}, ${b})`);
    return hostOf(th, 'random.randint').randint(a, b);
  }),
  seed: new Builtin('seed', (th, args, kwargs) => {
    const [s] = unpackArgs('seed', args, kwargs, ['n']);
    hostOf(th, 'random.seed').seed(seedOf(s!));
    return null;
  }),
});

/** A `random.seed` argument for the host: an int64 as a bigint, anything else by its repr. */
export function seedOf(s: Value): string | bigint {
  if (!isInt(s)) return repr(s);
  const n = BigInt(s as number | bigint);
  if (n !== BigInt.asIntN(64, n)) throw new EvalError(`seed: ${n} is out of range (a seed is a 64-bit int)`);
  return n;
}

const progressModule = mod('progress', {
  report: new Builtin('report', (th, args, kwargs) => {
    const [msg] = unpackArgs('report', args, kwargs, ['message']);
    hostOf(th, 'progress.report').progress(typeof msg === 'string' ? utf8Decode(msg) : utf8Decode(repr(msg!)));
    return null;
  }),
});

/** `signal.wait(name, timeout = None, fail_on_timeout = False)` as a host request. */
function signalWait(th: ThreadContext, fnName: string, name: string, timeout: Value | undefined, failOnTimeout: Value | undefined): Pending {
  hostOf(th, fnName);
  if (name === '') throw new EvalError(`${fnName}: the signal name must not be empty`);
  let timeoutMs: number | undefined;
  if (timeout !== undefined && timeout !== null) {
    timeoutMs = parseDuration(timeout, `${fnName}: timeout`);
    if (timeoutMs < 0) throw new EvalError(`${fnName}: negative timeout`);
  }
  if (failOnTimeout !== undefined && failOnTimeout !== null && typeof failOnTimeout !== 'boolean') throw new EvalError(`${fnName}: fail_on_timeout must be a bool`);
  return new Pending({ kind: 'signal', name, ...(timeoutMs !== undefined ? { timeoutMs } : {}), failOnTimeout: failOnTimeout === true, site: siteOf(th) } satisfies HostRequest);
}

function signalName(v: Value | undefined, fnName: string): string {
  if (typeof v !== 'string') throw new EvalError(`${fnName}: the signal name must be a string, not ${typeName(v ?? null)}`);
  return utf8Decode(v);
}

/** `signal.channel(name)`: the stream of a signal's messages; `.receive(timeout = None)` takes the next. */
export class SignalChannel extends StarValue {
  constructor(readonly name: string) {
    super();
  }
  get type(): string {
    return 'signal_channel';
  }
  repr(out: string[]): void {
    out.push(`<signal channel ${JSON.stringify(this.name)}>`);
  }
  override getAttr(name: string): Value | undefined {
    if (name === 'name') return utf8Encode(this.name);
    if (name === 'receive') {
      return new Builtin('receive', (th, args, kwargs) => {
        const [timeout, failOnTimeout] = unpackArgs('receive', args, kwargs, ['timeout?', 'fail_on_timeout?']);
        return signalWait(th, 'receive', this.name, timeout, failOnTimeout);
      });
    }
    return undefined;
  }
  override attrNames(): string[] {
    return ['name', 'receive'];
  }
}

/**
 * `signal`: messages from outside the run (`engine.handle(id).signal(name, payload)`, `larkflow
 * signal RUN NAME JSON`), recorded in history when delivered, buffered in order until a wait takes
 * them. `wait(name, timeout = None, fail_on_timeout = False)` returns the next message's payload, or
 * None when the timeout passes first (an error with `fail_on_timeout = True`).
 */
const signalModule = mod('signal', {
  wait: new Builtin('wait', (th, args, kwargs) => {
    const [name, timeout, failOnTimeout] = unpackArgs('wait', args, kwargs, ['name', 'timeout?', 'fail_on_timeout?']);
    return signalWait(th, 'signal.wait', signalName(name, 'signal.wait'), timeout, failOnTimeout);
  }),
  channel: new Builtin('channel', (_th, args, kwargs) => {
    const [name] = unpackArgs('channel', args, kwargs, ['name']);
    const n = signalName(name, 'signal.channel');
    if (n === '') throw new EvalError('signal.channel: the signal name must not be empty');
    return new SignalChannel(n);
  }),
});

/**
 * `query.handler(name, fn)`: a read-only function the outside can call (`handle.query(name, *args)`,
 * `larkflow query RUN NAME`), answered from the run's current state without changing its history.
 */
const queryModule = mod('query', {
  handler: new Builtin('handler', (th, args, kwargs) => {
    const [name, fn] = unpackArgs('handler', args, kwargs, ['name', 'fn']);
    if (typeof name !== 'string' || utf8Decode(name) === '') throw new EvalError('query.handler: the name must be a non-empty string');
    if (!(fn instanceof Function) && !(fn instanceof Builtin)) throw new EvalError(`query.handler: fn must be a function, not ${typeName(fn!)}`);
    hostOf(th, 'query.handler').registerQuery(utf8Decode(name), fn);
    return null;
  }),
});

/**
 * `wait_any(items, timeout = None)`: waits for the first of futures (`run(...)`) and signal channels
 * (`signal.channel(name)`) to complete — Temporal's selector — and returns `(index, value)`: a future's
 * result, or the channel's next message (taken from it); `(None, None)` when the durable timeout passes
 * first. Items already complete win in list order; otherwise the first to complete in the run's
 * recorded order wins, so replay picks the same one.
 */
export const waitAnyBuiltin = new Builtin('wait_any', (th, args, kwargs) => {
  const [items, timeout] = unpackArgs('wait_any', args, kwargs, ['items', 'timeout?']);
  hostOf(th, 'wait_any');
  if (!(items instanceof List || items instanceof Tuple)) throw new EvalError(`wait_any: items must be a list of futures and signal channels, not ${typeName(items!)}`);
  const list = items.elems.map((x, i) => {
    if (x instanceof Future || x instanceof SignalChannel) return x;
    throw new EvalError(`wait_any: item ${i} is a ${typeName(x)}; give futures (run(task, ...)) or signal channels (signal.channel(name))`);
  });
  if (list.length === 0 && (timeout === undefined || timeout === null)) throw new EvalError('wait_any: nothing to wait for (an empty list and no timeout)');
  let timeoutMs: number | undefined;
  if (timeout !== undefined && timeout !== null) {
    timeoutMs = parseDuration(timeout, 'wait_any: timeout');
    if (timeoutMs < 0) throw new EvalError('wait_any: negative timeout');
  }
  return new Pending({ kind: 'any', items: list, ...(timeoutMs !== undefined ? { timeoutMs } : {}), site: siteOf(th) } satisfies HostRequest);
});

/**
 * `update.handler(name, fn, validator = None)`: a request from outside (`handle.update(name, *args)`)
 * that may change the workflow's state and returns `fn`'s result to the caller; recorded in history.
 * The validator (same arguments) runs first on the run's recorded state: if it fails, nothing is recorded.
 */
const updateModule = mod('update', {
  handler: new Builtin('handler', (th, args, kwargs) => {
    const [name, fn, validator] = unpackArgs('handler', args, kwargs, ['name', 'fn', 'validator?']);
    if (typeof name !== 'string' || utf8Decode(name) === '') throw new EvalError('update.handler: the name must be a non-empty string');
    const isFn = (v: Value | undefined): boolean => v instanceof Function || v instanceof Builtin;
    if (!isFn(fn)) throw new EvalError(`update.handler: fn must be a function, not ${typeName(fn!)}`);
    if (validator !== undefined && validator !== null && !isFn(validator)) throw new EvalError(`update.handler: validator must be a function, not ${typeName(validator)}`);
    hostOf(th, 'update.handler').registerUpdate(utf8Decode(name), fn!, validator === null ? undefined : validator);
    return null;
  }),
});

/** `events.set(key, value)`: publishes a key the outside can read or wait for (`handle.getEvent(key)`). */
const eventsModule = mod('events', {
  set: new Builtin('set', (th, args, kwargs) => {
    const [key, value] = unpackArgs('set', args, kwargs, ['key', 'value']);
    if (typeof key !== 'string' || utf8Decode(key) === '') throw new EvalError('events.set: the key must be a non-empty string');
    hostOf(th, 'events.set').setEvent(utf8Decode(key), value!);
    return null;
  }),
});

const atexitModule = mod('atexit', {
  register: new Builtin('register', (th, args, kwargs) => {
    if (args.length === 0) throw new EvalError('register: missing argument for fn');
    hostOf(th, 'atexit.register').registerExit(args[0]!, args.slice(1), kwargs, siteOf(th));
    return args[0]!;
  }),
  unregister: new Builtin('unregister', (th, args, kwargs) => {
    const [fn] = unpackArgs('unregister', args, kwargs, ['fn']);
    hostOf(th, 'atexit.unregister').unregisterExit(fn!);
    return null;
  }),
});

/**
 * `os.environ` and `ctx` differ per run: these are looked up through the host on access. With no
 * run (a file loaded only to list its workflows), `unbound` gives the members that still work.
 */
class HostBound extends StarValue {
  constructor(
    readonly moduleName: string,
    readonly get: (h: WorkflowHost) => Record<string, Value>,
    readonly hostRef: HostRef,
    readonly unbound?: (ref: HostRef) => Record<string, Value>,
  ) {
    super();
  }
  get type(): string {
    return 'module';
  }
  repr(out: string[]): void {
    out.push(`<module "${this.moduleName}">`);
  }
  override getAttr(name: string): Value | undefined {
    const h = this.hostRef.current;
    if (h) return this.get(h)[name];
    const members = this.unbound?.(this.hostRef);
    if (members && name in members) return members[name];
    throw new EvalError(`${this.moduleName}.${name} can only be used while a workflow runs`);
  }
  override attrNames(): string[] {
    const h = this.hostRef.current;
    return Object.keys(h ? this.get(h) : (this.unbound?.(this.hostRef) ?? {})).sort();
  }
}

/**
 * `os.environ` when a file is loaded outside a run (to list or check its workflows, before the run
 * starts): a dict of `ref.env` (empty if not given), so a top-level read such as
 * `os.environ.get("X", "default")` loads. In a run, top-level code sees the run's environment,
 * recorded in RunStarted, so replay sees it too.
 */
export function unboundEnviron(ref: HostRef): Record<string, Value> {
  const environ = new Dict();
  for (const [k, v] of Object.entries(ref.env ?? {})) environ.set(utf8Encode(k), utf8Encode(v));
  return { environ };
}

/**
 * The names predeclared in workflow files. `hostRef` points at the host of the run being executed
 * (set by the machine before it runs Starlark code), for the attribute-style modules.
 */
export function workflowPredeclared(hostRef: HostRef): Map<string, Value> {
  return new Map<string, Value>([
    ...pluginPredeclared(),
    ['task', taskBuiltin],
    ['workflow', workflowBuiltin],
    ['run', runBuiltin],
    ['new_callable', newCallableBuiltin],
    ['batch_run', batchRunBuiltin],
    ['RetryPolicy', retryPolicyBuiltin],
    ['wait_any', waitAnyBuiltin],
    ['KubernetesTask', kubernetesTaskBuiltin],
    ['RayTask', rayTaskBuiltin],
    ['SparkTask', sparkTaskBuiltin],
    ['time', timeModule],
    ['uuid', uuidModule],
    ['random', randomModule],
    ['progress', progressModule],
    ['signal', signalModule],
    ['events', eventsModule],
    ['query', queryModule],
    ['update', updateModule],
    ['atexit', atexitModule],
    ['os', new HostBound('os', (h) => ({ environ: h.env }), hostRef, unboundEnviron)],
    ['ctx', new HostBound('ctx', (h) => (h.ctx instanceof Struct ? Object.fromEntries(h.ctx.names.map((n, i) => [n, (h.ctx as Struct).values[i]!])) : {}), hostRef)],
    ['struct', new Builtin('struct', (_th, args, kwargs) => {
      if (args.length > 0) throw new EvalError('struct: unexpected positional arguments');
      return new Struct((kwargs ?? []).map(([k, v]) => [k, v] as const));
    })],
  ]);
}

export { Struct };
