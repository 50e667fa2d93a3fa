/**
 * This file defines the workflow machine: the deterministic heart of a run. It owns the run's
 * Starlark coroutines (the workflow function, each `run(...)`, atexit handlers) and turns
 * *activation events* (RunStarted, TaskCompleted, TaskFailed, TimerFired, child results,
 * CancelRequested) into *commands* (schedule a task, start a timer, complete the run...).
 *
 * Determinism: the machine sees no clock, randomness or I/O. Its time is the `at` of the event being
 * processed, its randomness is seeded from the run's recorded seed, values from outside arrive as
 * history JSON, and ready coroutines run in FIFO order of the events that woke them. So the same
 * history always yields the same commands, which is what replay checks (replay.ts).
 *
 * While a run is live the machine stays in memory with its coroutines suspended, so a step costs the
 * same whatever the history's length; after a restart it is rebuilt by replaying the history once.
 */
import { CHILD_ENDED_SIGNAL, TASK_RESULT_SIGNAL } from '../core/ports.js';
import {
  Dict,
  EvalError,
  Function,
  List,
  SLICE_END,
  Source,
  StarValue,
  Thread,
  Tuple,
  compileProgram,
  startCall,
  startProgram,
  typeName,
  utf8Decode,
  utf8Encode,
  type KwArgs,
  type Outcome,
  type Value,
  type FileOptions,
} from '../../interpreter/index.js';
import { digestOf } from '../../util/hash.js';
import { GoRand, Prng } from '../../util/prng.js';
import type { Command } from '../core/commands.js';
import type { ArgOrigin, CallSite, ErrorInfo, HistoryEvent, RunStarted } from '../core/events.js';
import type { Json } from '../core/json.js';
import { fromHistory, toHistory } from './convert.js';
import { fromJSON } from '../../stdlib/index.js';
import {
  Future,
  SignalChannel,
  HOST_KEY,
  NewCallable,
  Struct,
  TaskStub,
  WorkflowFn,
  workflowPredeclared,
  type HostRef,
  type HostRequest,
  type WorkflowHost,
} from './surface.js';

/**
 * Budgets of a workflow's own code, per activation (the work one event causes: the workflow running
 * from one wait to the next). A workflow that exceeds one fails with a clear, recorded error, so
 * recovery does not run it again. The step and byte budgets are deterministic (replay hits them at
 * the same place); the time budget is a guard against a host that would otherwise freeze.
 */
export interface WorkflowBudgets {
  /** Steps (loop iterations, calls and charged work) one coroutine may run per resume. @default 100_000_000 */
  readonly maxSteps?: number;
  /** Wall-clock milliseconds one activation may compute. @default 60_000 */
  readonly maxMs?: number;
  /** Estimated bytes one coroutine may allocate per resume. @default the interpreter's heap guard only */
  readonly maxBytes?: number;
}

/** The budgets a workflow gets when none are given. */
export const DEFAULT_WORKFLOW_BUDGETS: Required<Omit<WorkflowBudgets, 'maxBytes'>> & Pick<WorkflowBudgets, 'maxBytes'> = { maxSteps: 100_000_000, maxMs: 60_000 };

/**
 * Behaviours a run records in `RunStarted.features` when it starts, so that a history recorded
 * before a behaviour changed replays with the old one. `go-seeded-random`: `random.seed(<int>)`
 * switches to Go's math/rand sequence (as the Go worker).
 */
export const FEATURE_GO_SEEDED_RANDOM = 'go-seeded-random';
export const RUN_FEATURES: readonly string[] = [FEATURE_GO_SEEDED_RANDOM];

/** How far an activation got: done with its commands, or paused at the end of a time slice. */
export type ActivationProgress = { readonly done: true; readonly commands: Command[] } | { readonly done: false };

/** Workflow files are Starlark with these dialect options. */
export const WORKFLOW_FILE_OPTIONS: FileOptions = { decorators: true, set: true, while: true, recursion: true, topLevelControl: true };

/** The stored files of a run's script: the main file first. */
export interface ScriptBundle {
  readonly main: string;
  readonly files: ReadonlyMap<string, string>;
}

type Settled = { readonly value: Value } | { readonly error: EvalError };

interface Coroutine {
  readonly id: number;
  readonly thread: Thread;
  /** Settled with the coroutine's result. */
  readonly future: Future;
  started: boolean;
  readonly start: () => Outcome<Value>;
  /** Where the coroutine waits (the call it is suspended in), while it waits. */
  waitingAt?: CallSite | undefined;
  done?: boolean;
  /** For an atexit handler: where it was registered (the call site of tasks it calls directly). */
  exitSite?: CallSite | undefined;
}

/** A task implemented as a Starlark `@task` def, which the driver runs in process. */
export interface StarlarkTaskBody {
  readonly fn: Function;
}

/**
 * Library modules a workflow file may load by name (e.g. `load("@plugin", "time")`), given the host
 * reference of the run. Returns the module's members, or undefined if the name is not a library.
 */
export type LibraryResolver = (module: string, hostRef: HostRef) => ReadonlyMap<string, Value> | undefined;

const libraryResolvers: LibraryResolver[] = [];

/** Registers library modules for workflow files (used by the `@plugin` modules). @internal */
export function registerWorkflowLibrary(r: LibraryResolver): void {
  libraryResolvers.push(r);
}

/** Data files a workflow may load: `load("x.json", catalog = "json")`, `load("x.txt", data = "txt")`. */
function dataModule(path: string, text: string): Map<string, Value> | undefined {
  if (path.endsWith('.json')) {
    let decoded: Value;
    try {
      decoded = fromJSON(JSON.parse(text) as unknown);
    } catch (e) {
      throw new EvalError(`cannot load ${path}: invalid JSON: ${(e as Error).message}`);
    }
    return new Map<string, Value>([['json', decoded]]);
  }
  if (path.endsWith('.txt')) return new Map<string, Value>([['txt', utf8Encode(text)]]);
  return undefined;
}

/**
 * Loads a workflow module: compiles the bundle's main file (and the files it loads) and runs its top
 * level. Tasks and workflows are declared there; nothing may block at top level. `hostRef` is the
 * run's (in a run) or, to list or check workflows, `{ current: null, env }` with the environment
 * the `@plugin` os module shows (the predeclared `os` takes its own from `workflowPredeclared`).
 */
/**
 * Translators of workflow files written in another language to Starlark, by file extension (".py":
 * a Uniflow Python file, src/engine/workflow/python-files.ts). A translation keeps line numbers, so
 * positions in errors and reports are the original file's. The stored script keeps the original text.
 */
const workflowTranslators = new Map<string, (text: string, path: string) => string>();

/** Registers the translator of workflow files ending in `ext` (".py"). */
/** Updates travel as signals with this name prefix (the inbox delivers them exactly once, in order). */
export const UPDATE_SIGNAL_PREFIX = '__update__:';
/**
 * A cancellation sent through a run's inbox (from a process that cannot append to the run: a shared
 * database's other hosts). Its payload is `{ reason }`; the run's owner turns it into a cancel.
 */
export const CANCEL_SIGNAL = '__cancel__';
export { CHILD_ENDED_SIGNAL, TASK_RESULT_SIGNAL };

export function registerWorkflowTranslator(ext: string, translate: (text: string, path: string) => string): void {
  workflowTranslators.set(ext, translate);
}

export function loadWorkflowModule(
  bundle: ScriptBundle,
  predeclared: ReadonlyMap<string, Value>,
  hostRef: HostRef = { current: null },
  /** Receives every module the load graph holds (the main file's and those it loads), by path. */
  modules: Map<string, ReadonlyMap<string, Value>> = new Map(),
): Map<string, Value> {
  const loading = new Set<string>();
  const run = (path: string): ReadonlyMap<string, Value> => {
    const cached = modules.get(path);
    if (cached) return cached;
    if (loading.has(path)) throw new EvalError(`cannot load ${path}: cycle in load graph`);
    const text = bundle.files.get(path);
    if (text === undefined) throw new EvalError(`cannot load ${path}: not found next to the workflow file`);
    const data = dataModule(path, text);
    if (data) {
      modules.set(path, data);
      return data;
    }
    loading.add(path);
    const translate = workflowTranslators.get(path.slice(path.lastIndexOf('.')));
    const starlark = translate ? translate(text, path) : text;
    const thread = new Thread({
      name: path,
      print: () => {},
      load: (m) => {
        for (const r of libraryResolvers) {
          const lib = r(m, hostRef);
          if (lib) return lib;
        }
        if (m.startsWith('@')) throw new EvalError(`cannot load ${m}: no such library module`);
        return run(resolveLoad(path, m, `(the directory of ${bundle.main})`));
      },
    });
    const program = compileProgram(new Source(path, starlark), predeclared, WORKFLOW_FILE_OPTIONS);
    const out = startProgram(thread, program, predeclared);
    if (!out.done) {
      thread.abandon();
      throw new EvalError(`${path}: a task or sleep was called at the top level of the file; call it inside a @workflow() function`);
    }
    loading.delete(path);
    modules.set(path, out.value);
    return out.value;
  };
  return run(bundle.main) as Map<string, Value>;
}

/**
 * The function a run of workflow `name` calls: a `@workflow()` function of the main file, or, as
 * the Go worker runs any function by name, a plain top-level def. Undefined if `name` is neither
 * (so a check "is this a workflow I can start" is `workflowEntry(globals, name) !== undefined`).
 */
export function workflowEntry(globals: ReadonlyMap<string, Value>, name: string): Function | undefined {
  const v = globals.get(name);
  if (v instanceof WorkflowFn) return v.fn;
  if (v instanceof Function) return v;
  return undefined;
}

/**
 * Resolves a load() path to a bundle key (POSIX-style, relative to the workflow root, the directory
 * of the main file), as the Go worker resolves them:
 *
 *   "lib/x.star", "../lib/x.star"   relative to the loading file; `..` may leave the root (such
 *                                   files are stored in the bundle as "../lib/x.star")
 *   "//lib/x.star"                  relative to the workflow root; it must stay inside it
 *   "/abs/x.star"                   as is
 *
 * @param root how errors name the workflow root
 * @throws EvalError for a `//` path that leaves the root, naming the path and the root
 */
export function resolveLoad(from: string, module: string, root = 'the workflow root'): string {
  const rooted = module.startsWith('//');
  if (module.startsWith('/') && !rooted) return module;
  const absolute = !rooted && from.startsWith('/');
  const dir = rooted ? '' : from.includes('/') ? from.slice(0, from.lastIndexOf('/')) : '';
  const body = rooted ? module.slice(2) : module;
  const out: string[] = [];
  for (const p of (dir ? dir + '/' + body : body).split('/')) {
    if (p === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!absolute) out.push('..');
    } else if (p !== '.' && p !== '') out.push(p);
  }
  const path = out.join('/');
  if (rooted && out[0] === '..') throw new EvalError(`cannot load ${module}: ${path} is outside the workflow root ${root}`);
  return (absolute ? '/' : '') + path;
}

export class WorkflowMachine implements WorkflowHost {
  private readonly hostRef: { current: WorkflowHost | null } = { current: null };
  private readonly predeclared: Map<string, Value>;
  private commands: Command[] = [];
  private readonly readyQueue: { co: Coroutine; input: Settled | null }[] = [];
  private readonly stepWaiters = new Map<string, ((s: Settled) => void)[]>();
  private readonly counters = new Map<string, number>();
  private readonly exitHandlers: { fn: Value; args: Value[]; kwargs: KwArgs | null; site?: CallSite }[] = [];
  private readonly provenance = new WeakMap<object, string>();
  private readonly stringProvenance = new Map<string, string>();
  private coroutines = 0;
  private clock = 0;
  private prng: Prng;
  /** Behaviours of the run (RunStarted.features): what its history was recorded with. */
  private features: ReadonlySet<string> = new Set();
  /** After `random.seed(<int>)`: Go's seeded source, which random() and randint() then draw from. */
  private goRand: GoRand | null = null;
  private root: Coroutine | null = null;
  private rootOutcome: Settled | null = null;
  private phase: 'idle' | 'running' | 'exiting' | 'done' = 'idle';
  private cancelReason: string | null = null;
  private globals: Map<string, Value> | null = null;
  /** Starlark task bodies by task name (for the driver's in-process Starlark executor). */
  readonly starlarkTasks = new Map<string, Function>();
  /** Declared task stubs by name (for cache versions and implementation digests). */
  readonly declaredTasks = new Map<string, TaskStub>();
  env!: Dict;
  ctx!: Value;

  constructor(
    private readonly bundle: ScriptBundle,
    budgets: WorkflowBudgets = {},
  ) {
    this.predeclared = workflowPredeclared(this.hostRef);
    this.prng = new Prng('');
    this.budgets = { ...DEFAULT_WORKFLOW_BUDGETS, ...budgets };
  }

  private readonly budgets: WorkflowBudgets & { maxSteps: number; maxMs: number };
  /** The current activation's deadline (performance.now() time). */
  private deadline = Infinity;
  /** The current slice's end, when the activation is time-sliced. */
  private sliceUntil: number | undefined;
  /** A coroutine whose time slice ended mid-computation: it goes on first at the next slice. */
  private sliced: Coroutine | null = null;

  /** True once the run has emitted its final command. */
  get finished(): boolean {
    return this.phase === 'done';
  }

  /**
   * Delivers one activation event and runs the workflow until it waits again; returns the commands
   * it caused, in order. Synchronous (replay uses it); the live driver uses `beginActivation`.
   */
  activate(event: HistoryEvent): Command[] {
    const p = this.beginActivation(event);
    if (!p.done) throw new EvalError('internal error: a synchronous activation was sliced');
    return p.commands;
  }

  /**
   * Delivers one activation event and runs the workflow; with `sliceMs`, it stops after about that
   * much computation (`{ done: false }`) and goes on with `continueActivation`, so the host's event
   * loop can turn while a workflow computes.
   */
  beginActivation(event: HistoryEvent, sliceMs?: number): ActivationProgress {
    this.deadline = performance.now() + this.budgets.maxMs;
    this.sliceUntil = sliceMs === undefined ? undefined : performance.now() + sliceMs;
    this.deliver(event);
    return this.proceed();
  }

  /** Goes on with an activation paused at the end of a slice (see `beginActivation`). */
  continueActivation(sliceMs?: number): ActivationProgress {
    this.sliceUntil = sliceMs === undefined ? undefined : performance.now() + sliceMs;
    return this.proceed();
  }

  private proceed(): ActivationProgress {
    if (!this.runReady()) return { done: false };
    const out = this.commands;
    this.commands = [];
    return { done: true, commands: out };
  }

  private deliver(event: HistoryEvent): void {
    this.clock = event.at;
    switch (event.kind) {
      case 'RunStarted':
        this.begin(event);
        break;
      case 'TaskCompleted':
      case 'ChildRunCompleted':
        this.settleStep(event.stepId, { value: fromHistory(event.result) }, event.result);
        break;
      case 'TaskFailed':
        this.settleStep(event.stepId, { error: stepError(event.stepId, event.error) });
        break;
      case 'ChildRunFailed':
        this.settleStep(event.stepId, { error: stepError(event.stepId, event.error) });
        break;
      case 'TimerFired':
        this.settleStep(event.stepId, { value: null });
        break;
      case 'CancelRequested':
        this.cancel(event.reason);
        break;
      case 'SignalReceived':
        if (event.name === TASK_RESULT_SIGNAL || event.name === CHILD_ENDED_SIGNAL) break; // the driver's bookkeeping
        if (event.name.startsWith(UPDATE_SIGNAL_PREFIX)) this.deliverUpdate(event.name.slice(UPDATE_SIGNAL_PREFIX.length), fromHistory(event.payload));
        else this.deliverSignal(event.name, fromHistory(event.payload));
        break;
      default:
        break; // not an activation event
    }
  }

  // ---------------------------------------------------------------------------------------------
  // WorkflowHost (called by the builtins in surface.ts)

  now(): number {
    return this.clock;
  }
  random(): number {
    return this.goRand ? this.goRand.float64() : this.prng.next();
  }
  randint(lo: number, hi: number): number {
    // The Go worker's randint(a, b) is a + rand.Intn(b - a + 1).
    if (this.goRand) return lo + Number(this.goRand.intn(BigInt(hi) - BigInt(lo) + 1n));
    return this.prng.int(lo, hi);
  }
  seed(s: string | bigint): void {
    // An int seed gives Go's rand.NewSource(seed) sequence; uuids keep drawing from our own PRNG.
    this.prng = new Prng(`seed:${typeof s === 'bigint' ? String(s) : s}`);
    // Runs recorded before this behaviour (no 'go-seeded-random' feature) replay as they ran.
    this.goRand = typeof s === 'bigint' && this.features.has(FEATURE_GO_SEEDED_RANDOM) ? new GoRand(s) : null;
  }
  uuidBytes(): Uint8Array {
    return this.prng.bytes(16);
  }
  progress(message: string): void {
    this.commands.push({ kind: 'ReportProgress', message });
  }
  /** Query handlers the workflow registered (`query.handler`), by name. */
  readonly queryHandlers = new Map<string, Value>();
  registerQuery(name: string, fn: Value): void {
    this.queryHandlers.set(name, fn);
  }

  /**
   * Answers a query with the handler the workflow registered, on this machine's current state. The
   * handler must not wait (call a task, sleep, wait for a signal): that is an error, as a query never
   * changes history. Run it on a replayed copy of the run: what it mutates is thrown away.
   */
  runQuery(name: string, args: Value[]): Value {
    const fn = this.queryHandlers.get(name);
    if (!fn) {
      const known = [...this.queryHandlers.keys()];
      throw new EvalError(`the run has no query handler ${JSON.stringify(name)} (${known.length ? `handlers: ${known.join(', ')}` : 'it registers none with query.handler'}; built in: progress, prints)`);
    }
    const thread = new Thread({ name: `query ${name}`, print: () => {} });
    thread.locals.set(HOST_KEY, this);
    // A query answers at once: a runaway handler stops after 5 s (or the run's own time budget, if smaller).
    thread.setLimits({ steps: this.budgets.maxSteps, deadline: performance.now() + Math.min(this.budgets.maxMs, 5000) });
    const commandsBefore = this.commands.length;
    this.hostRef.current = this;
    const out = startCall(thread, fn, args, null);
    if (!out.done) {
      thread.abandon();
      throw new EvalError(`query handler ${JSON.stringify(name)} tried to wait (call a task, sleep or wait for a signal): a query is read-only and answers at once`);
    }
    if (this.commands.length > commandsBefore) {
      throw new EvalError(`query handler ${JSON.stringify(name)} tried to change the run (${this.commands[commandsBefore]!.kind}): a query is read-only`);
    }
    return out.value;
  }

  /** Update handlers and validators the workflow registered (`update.handler`), by name. */
  readonly updateHandlers = new Map<string, { fn: Value; validator: Value | undefined }>();
  registerUpdate(name: string, fn: Value, validator: Value | undefined): void {
    this.updateHandlers.set(name, { fn, validator });
  }

  /**
   * Runs an update's validator on this machine's state (a replayed copy): throws its error to reject
   * the update before anything is recorded.
   */
  validateUpdate(name: string, args: Value[]): void {
    const h = this.updateHandlers.get(name);
    if (!h) {
      const known = [...this.updateHandlers.keys()];
      throw new EvalError(`the run has no update handler ${JSON.stringify(name)} (${known.length ? `handlers: ${known.join(', ')}` : 'it registers none with update.handler'})`);
    }
    if (h.validator === undefined) return;
    const thread = new Thread({ name: `validate ${name}`, print: () => {} });
    thread.locals.set(HOST_KEY, this);
    thread.setLimits({ steps: this.budgets.maxSteps, deadline: performance.now() + this.budgets.maxMs });
    this.hostRef.current = this;
    const out = startCall(thread, h.validator, args, null);
    if (!out.done) {
      thread.abandon();
      throw new EvalError(`the validator of update ${JSON.stringify(name)} tried to wait: a validator answers at once`);
    }
  }

  /** An update arrives (a SignalReceived of UPDATE_SIGNAL_PREFIX + name): its handler runs as a coroutine; its end is recorded. */
  private deliverUpdate(name: string, payload: Value): void {
    const id = payload instanceof Dict ? payload.get('id') : null;
    const args = payload instanceof Dict ? payload.get('args') : null;
    const updateId = typeof id === 'string' ? utf8Decode(id) : 'unknown';
    const h = this.updateHandlers.get(name);
    if (!h) {
      this.commands.push({ kind: 'CompleteUpdate', updateId, name, error: { kind: 'update', message: `the run has no update handler ${JSON.stringify(name)}`, retryable: false } });
      return;
    }
    const f = this.spawn(h.fn, args instanceof List ? [...args.elems] : [], null, { file: this.bundle.main, line: 0, column: 0 } as CallSite);
    const done = (s: Settled): void => {
      if ('error' in s) this.commands.push({ kind: 'CompleteUpdate', updateId, name, error: { kind: 'update', message: s.error.message, retryable: false } });
      else this.commands.push({ kind: 'CompleteUpdate', updateId, name, result: toHistory(s.value, `the result of update ${name}`) });
    };
    if (f.outcome) done(f.outcome);
    else f.waiters.push(done);
  }

  setEvent(key: string, value: Value): void {
    this.commands.push({ kind: 'SetEvent', key, value: toHistory(value, `the value of event ${key}`) });
  }
  registerExit(fn: Value, args: Value[], kwargs: KwArgs | null, site?: CallSite): void {
    this.exitHandlers.push({ fn, args, kwargs, ...(site ? { site } : {}) });
  }
  unregisterExit(fn: Value): void {
    for (let i = this.exitHandlers.length - 1; i >= 0; i--) if (this.exitHandlers[i]!.fn === fn) this.exitHandlers.splice(i, 1);
  }
  /** Futures of spawned work not yet settled (cancellation fails them). */
  private futures: Future[] = [];

  spawn(fn: Value, args: Value[], kwargs: KwArgs | null, site: CallSite): Future {
    if (this.futures.length > 64) this.futures = this.futures.filter((f) => !f.outcome);
    if (fn instanceof TaskStub) {
      const future = new Future(fn.taskName);
      this.futures.push(future);
      const stepId = this.scheduleTask(fn, args, kwargs, site);
      this.waitStep(stepId, (s) => future.settle(s));
      return future;
    }
    const co = this.newCoroutine(fn, args, kwargs, `run(${fn instanceof StarValue ? fn.type : 'value'})`);
    this.futures.push(co.future);
    return co.future;
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  private begin(e: RunStarted): void {
    if (this.phase !== 'idle') throw new EvalError('internal error: RunStarted delivered twice');
    this.phase = 'running';
    this.features = new Set(e.features ?? []);
    this.prng = new Prng(e.seed);
    this.hostRef.current = this;
    this.env = new Dict();
    for (const [k, v] of Object.entries(e.env)) this.env.set(utf8Encode(k), utf8Encode(v));
    const args = e.args.map(fromHistory);
    // Keyword names are Starlark strings (UTF-8) inside, JS text in history.
    const kwargs: KwArgs = Object.entries(e.kwargs).map(([k, v]) => [utf8Encode(k), fromHistory(v)]);
    const inputs = new Dict();
    for (const [k, v] of kwargs) inputs.set(k, v);
    this.ctx = new Struct([
      ['run_id', utf8Encode(e.runId)],
      ['workflow', utf8Encode(e.workflow)],
      ['attempt', e.attempt],
      ['inputs', inputs],
      ['args', new Tuple(args)],
    ]);
    let wf: Function | undefined;
    try {
      this.globals = loadWorkflowModule(this.bundle, this.predeclared, this.hostRef);
      // Top-level code may keep `os.environ` in a global, and a module's globals are frozen once it
      // has loaded: the run goes on with its own mutable copy (top-level changes included).
      const live = new Dict();
      for (const [k, v] of this.env.entries()) live.set(k, v);
      this.env = live;
      for (const v of this.globals.values()) {
        if (v instanceof TaskStub) {
          this.declaredTasks.set(v.taskName, v);
          if (v.body) this.starlarkTasks.set(v.taskName, v.body);
        }
      }
      wf = workflowEntry(this.globals, e.workflow);
      if (!wf) {
        const v = this.globals.get(e.workflow);
        const names = [...this.globals].filter(([, x]) => x instanceof WorkflowFn).map(([k]) => k);
        throw new EvalError(
          v === undefined
            ? `no workflow named ${e.workflow} in ${this.bundle.main}${names.length ? ` (workflows: ${names.join(', ')})` : ' (mark one with @workflow())'}`
            : `${e.workflow} in ${this.bundle.main} is a ${typeName(v)}, not a function to run as a workflow`,
        );
      }
    } catch (err) {
      this.rootOutcome = { error: err instanceof EvalError ? err : new EvalError(String(err)) };
      this.finish();
      return;
    }
    this.root = this.newCoroutine(wf, args, kwargs.length ? kwargs : null, e.workflow);
  }

  /**
   * Where `print` goes. Unset while a history is replayed (recovery), so a print is shown once, when
   * the run first executes it.
   */
  onPrint: ((msg: string) => void) | undefined;

  private newCoroutine(fn: Value, args: Value[], kwargs: KwArgs | null, label: string): Coroutine {
    const thread = new Thread({ name: label, print: (msg) => this.onPrint?.(msg) });
    thread.locals.set(HOST_KEY, this);
    const co: Coroutine = {
      id: ++this.coroutines,
      thread,
      future: new Future(label),
      started: false,
      start: () => startCall(thread, fn, args, kwargs),
    };
    this.readyQueue.push({ co, input: null });
    return co;
  }

  /**
   * Runs ready coroutines until every one is blocked or done (true), or the time slice ends (false:
   * the coroutine that was running goes on first at the next call).
   */
  private runReady(): boolean {
    for (;;) {
      let co: Coroutine;
      let out: Outcome<Value>;
      try {
        if (this.sliced) {
          co = this.sliced;
          this.sliced = null;
          co.thread.sliceUntil = this.sliceUntil;
          out = co.thread.resume(null);
        } else {
          const next = this.readyQueue.shift();
          if (!next) break;
          co = next.co;
          const input = next.input;
          co.waitingAt = undefined;
          // Each resume of workflow code gets the activation's budgets.
          co.thread.setLimits({ steps: this.budgets.maxSteps, ...(this.budgets.maxBytes !== undefined ? { bytes: this.budgets.maxBytes } : {}), deadline: this.deadline });
          co.thread.sliceUntil = this.sliceUntil;
          if (!co.started) {
            co.started = true;
            out = co.start();
          } else if (input && 'error' in input) {
            out = co.thread.resumeWithError(input.error);
          } else {
            out = co.thread.resume(input ? input.value : null);
          }
        }
      } catch (e) {
        this.coroutineDone(co!, { error: budgetAware(e instanceof EvalError ? e : new EvalError(String(e)), this.budgets) });
        continue;
      }
      if (!out.done && out.pending === SLICE_END) {
        this.sliced = co;
        return false;
      }
      if (out.done) this.coroutineDone(co, { value: out.value });
      else {
        try {
          this.handle(co, out.pending.request as HostRequest);
        } catch (e) {
          // e.g. an argument with no JSON form: the call fails where it was made.
          co.waitingAt = undefined;
          this.readyQueue.push({ co, input: { error: e instanceof EvalError ? e : new EvalError(String(e)) } });
        }
      }
    }
    if (this.phase === 'exiting' && this.readyQueue.length === 0 && !this.exitInFlight) return this.nextExitHandler();
    return true;
  }

  private wake(co: Coroutine): (s: Settled) => void {
    return (s) => this.readyQueue.push({ co, input: s });
  }

  private handle(co: Coroutine, req: HostRequest): void {
    co.waitingAt = req.site;
    this.waiting.add(co);
    switch (req.kind) {
      case 'task': {
        // A task registered directly as an atexit handler has no Starlark caller: use the register() site.
        const site = req.site.line === 0 && co.exitSite ? co.exitSite : req.site;
        const stepId = this.scheduleTask(req.stub, req.args, req.kwargs, site);
        this.waitStep(stepId, this.wake(co));
        return;
      }
      case 'await': {
        const f = req.future;
        if (f.outcome) this.readyQueue.push({ co, input: f.outcome });
        else f.waiters.push(this.wake(co));
        return;
      }
      case 'sleep': {
        const stepId = this.nextStepId('sleep');
        this.commands.push({ kind: 'StartTimer', stepId, durationMs: req.ms, callSite: req.site });
        this.waitStep(stepId, this.wake(co));
        return;
      }
      case 'child': {
        const name = req.workflow.fn.name;
        const stepId = this.nextStepId(name);
        const args = req.args.map((a, i) => toHistory(a, `argument ${i + 1} of ${name}`));
        const kwargs: { [k: string]: Json } = {};
        for (const [k, v] of req.kwargs ?? []) kwargs[utf8Decode(k)] = toHistory(v, `argument ${utf8Decode(k)} of ${name}`);
        this.commands.push({ kind: 'StartChildRun', stepId, workflow: name, args, kwargs, callSite: req.site });
        this.waitStep(stepId, this.wake(co));
        return;
      }
      case 'batch':
        this.batch(co, req.callables, req.maxConcurrency, req.site);
        return;
      case 'signal':
        this.waitSignal(co, req.name, req.timeoutMs, req.failOnTimeout, req.site);
        return;
      case 'any':
        this.waitAny(co, req.items, req.timeoutMs, req.site);
        return;
    }
  }

  /** `wait_any`: the first item to complete (see surface.ts waitAnyBuiltin). */
  private waitAny(co: Coroutine, items: readonly (Future | SignalChannel)[], timeoutMs: number | undefined, site: CallSite): void {
    const wake = this.wake(co);
    const pair = (i: number | null, v: Value): Settled => ({ value: new Tuple([i === null ? null : i, v]) });
    // Already complete: the first in list order.
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (it instanceof Future && it.outcome) {
        this.readyQueue.push({ co, input: 'error' in it.outcome ? it.outcome : pair(i, it.outcome.value) });
        return;
      }
      if (it instanceof SignalChannel) {
        const buf = this.signalBuffer.get(it.name);
        if (buf && buf.length > 0) {
          const payload = buf.shift()!;
          if (buf.length === 0) this.signalBuffer.delete(it.name);
          this.readyQueue.push({ co, input: pair(i, payload) });
          return;
        }
      }
    }
    const sel = { done: false };
    const finish = (s: Settled): void => {
      if (sel.done) return;
      sel.done = true;
      wake(s);
    };
    items.forEach((it, i) => {
      if (it instanceof Future) {
        it.waiters.push((s) => finish('error' in s ? s : pair(i, s.value)));
      } else {
        let list = this.signalWaiters.get(it.name);
        if (!list) this.signalWaiters.set(it.name, (list = []));
        // Shares the selection's state: once another item won, a signal skips this waiter.
        list.push({
          wake: (s) => {
            sel.done = false;
            finish('error' in s ? s : pair(i, s.value));
          },
          get done() {
            return sel.done;
          },
          set done(v: boolean) {
            sel.done = v;
          },
        });
      }
    });
    if (timeoutMs !== undefined) {
      const stepId = this.nextStepId('wait_any_timeout');
      this.commands.push({ kind: 'StartTimer', stepId, durationMs: timeoutMs, callSite: site });
      this.waitStep(stepId, () => finish(pair(null, null)));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Signals

  /** Delivered signals nobody has taken yet, by name, in order of delivery. */
  private readonly signalBuffer = new Map<string, Value[]>();
  /** Coroutines waiting for a signal, by name, in order of waiting. */
  private readonly signalWaiters = new Map<string, { wake: (s: Settled) => void; done: boolean }[]>();


  /**
   * `signal.wait`: a delivered message at once (the oldest buffered), else a wait until one arrives;
   * with a timeout, a durable timer races it (the loser is ignored).
   */
  private waitSignal(co: Coroutine, name: string, timeoutMs: number | undefined, failOnTimeout: boolean, site: CallSite): void {
    const buffered = this.signalBuffer.get(name);
    if (buffered && buffered.length > 0) {
      const payload = buffered.shift()!;
      if (buffered.length === 0) this.signalBuffer.delete(name);
      this.readyQueue.push({ co, input: { value: payload } });
      return;
    }
    const waiter = { wake: this.wake(co), done: false };
    let list = this.signalWaiters.get(name);
    if (!list) this.signalWaiters.set(name, (list = []));
    list.push(waiter);
    if (timeoutMs !== undefined) {
      const stepId = this.nextStepId(`signal_timeout`);
      this.commands.push({ kind: 'StartTimer', stepId, durationMs: timeoutMs, callSite: site });
      this.waitStep(stepId, () => {
        if (waiter.done) return;
        waiter.done = true;
        const l = this.signalWaiters.get(name);
        if (l) l.splice(l.indexOf(waiter), 1);
        waiter.wake(
          failOnTimeout
            ? { error: new EvalError(`signal.wait: no signal ${JSON.stringify(name)} within ${timeoutMs / 1000}s`) }
            : { value: null },
        );
      });
    }
  }

  /** A signal arrives: the oldest waiter for its name takes it, or it waits in the buffer. */
  private deliverSignal(name: string, payload: Value): void {
    const list = this.signalWaiters.get(name);
    while (list && list.length > 0) {
      const w = list.shift()!;
      if (w.done) continue;
      w.done = true;
      if (list.length === 0) this.signalWaiters.delete(name);
      w.wake({ value: payload });
      return;
    }
    let buf = this.signalBuffer.get(name);
    if (!buf) this.signalBuffer.set(name, (buf = []));
    buf.push(payload);
  }

  private batch(co: Coroutine, callables: readonly NewCallable[], max: number, site: CallSite): void {
    const { all } = this.spawnBatch(callables, max, site);
    if (all.outcome) this.readyQueue.push({ co, input: all.outcome });
    else all.waiters.push(this.wake(co));
  }

  /**
   * Starts callables with at most `max` in flight (0: no limit), each when a slot frees, in order.
   * `items[i]` settles with callable i's result; `all` with the list of results in submission order,
   * or with the first error.
   */
  spawnBatch(callables: readonly NewCallable[], max: number, site: CallSite): { all: Future; items: Future[] } {
    const all = new Future('batch');
    const items = callables.map((c, i) => new Future(`batch[${i}]`));
    const results: Value[] = new Array(callables.length).fill(null);
    let next = 0;
    let done = 0;
    const limit = max > 0 ? max : callables.length;
    const startOne = (): void => {
      const i = next++;
      const c = callables[i]!;
      const f = this.spawn(c.fn, c.args, c.kwargs, site);
      const onSettle = (s: Settled): void => {
        items[i]!.settle(s);
        if ('error' in s) {
          all.settle(s);
        } else {
          results[i] = s.value;
          done++;
          if (done === callables.length) all.settle({ value: new List(results) });
        }
        if (next < callables.length) startOne();
      };
      if (f.outcome) onSettle(f.outcome);
      else f.waiters.push(onSettle);
    };
    if (callables.length === 0) all.settle({ value: new List([]) });
    for (let k = 0; k < Math.min(limit, callables.length); k++) startOne();
    return { all, items };
  }

  /** Coroutines that suspended at least once and have not finished. */
  private readonly waiting = new Set<Coroutine>();

  /** Where the run's coroutines are waiting now (their suspended calls), oldest coroutine first. */
  waitingSites(): CallSite[] {
    const out: CallSite[] = [];
    for (const co of this.waiting) if (co.waitingAt && !co.done) out.push(co.waitingAt);
    return out;
  }

  private coroutineDone(co: Coroutine, s: Settled): void {
    co.done = true;
    this.waiting.delete(co);
    co.future.settle(s);
    if (co === this.root) {
      this.rootOutcome = s;
      this.startExit();
    } else if (this.phase === 'exiting' && co === this.exitInFlight) {
      this.exitInFlight = null;
      if ('error' in s && this.rootOutcome && 'value' in this.rootOutcome) this.rootOutcome = s;
    }
  }

  private exitInFlight: Coroutine | null = null;

  private startExit(): void {
    if (this.phase === 'exiting' || this.phase === 'done') return;
    this.phase = 'exiting';
  }

  private nextExitHandler(): boolean {
    const h = this.exitHandlers.pop();
    if (!h) {
      this.finish();
      return true;
    }
    this.exitInFlight = this.newCoroutine(h.fn, h.args, h.kwargs, 'atexit');
    this.exitInFlight.exitSite = h.site;
    return this.runReady();
  }

  private finish(): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    if (this.cancelReason !== null) {
      this.commands.push({ kind: 'CancelRun', reason: this.cancelReason });
      return;
    }
    const o = this.rootOutcome!;
    if ('error' in o) {
      this.commands.push({ kind: 'FailRun', error: errorInfo(o.error) });
      return;
    }
    let result: Json;
    try {
      result = toHistory(o.value, 'the workflow result');
    } catch (e) {
      this.commands.push({ kind: 'FailRun', error: errorInfo(e as EvalError) });
      return;
    }
    this.commands.push({ kind: 'CompleteRun', result });
  }

  private cancel(reason: string): void {
    if (this.phase === 'done') return;
    this.cancelReason = reason;
    // Waiting coroutines are abandoned; the atexit handlers still run. Futures of the abandoned
    // work fail, so a handler that awaits one gets an error instead of waiting forever.
    for (const w of this.stepWaiters.values()) w.length = 0;
    this.stepWaiters.clear();
    const cancelled = { error: new EvalError(`run cancelled: ${reason}`, 'cancelled') };
    for (const f of this.futures) if (!f.outcome) f.settle(cancelled);
    this.futures.length = 0;
    this.readyQueue.length = 0;
    if (this.phase === 'running' || this.phase === 'idle') {
      this.rootOutcome = { error: new EvalError(`run cancelled: ${reason}`, 'cancelled') };
      this.phase = 'exiting';
    }
    this.exitInFlight = null;
  }

  // ---------------------------------------------------------------------------------------------
  // Steps

  private nextStepId(name: string): string {
    const n = (this.counters.get(name) ?? 0) + 1;
    this.counters.set(name, n);
    return `${name}#${n}`;
  }

  private waitStep(stepId: string, fn: (s: Settled) => void): void {
    let ws = this.stepWaiters.get(stepId);
    if (!ws) this.stepWaiters.set(stepId, (ws = []));
    ws.push(fn);
  }

  private settleStep(stepId: string, s: Settled, raw?: Json): void {
    if ('value' in s) this.track(s.value, stepId, 0);
    void raw;
    const ws = this.stepWaiters.get(stepId);
    if (!ws) return;
    this.stepWaiters.delete(stepId);
    for (const w of ws) w(s);
  }

  /** Remembers which step produced a value (and its parts), to record data flow. */
  private track(v: Value, stepId: string, depth: number): void {
    if (depth > 3) return;
    if (typeof v === 'string') {
      // The first step that produced a string is its origin (later results often repeat it).
      if (v.length >= 2 && !this.stringProvenance.has(v)) this.stringProvenance.set(v, stepId);
      return;
    }
    if (v !== null && typeof v === 'object') {
      this.provenance.set(v, stepId);
      if (v instanceof List || v instanceof Tuple) for (const e of v.elems.slice(0, 64)) this.track(e, stepId, depth + 1);
      else if (v instanceof Dict) for (const [, e] of v.entries().slice(0, 64)) this.track(e, stepId, depth + 1);
    }
  }

  private originOf(v: Value): string | undefined {
    if (typeof v === 'string') return this.stringProvenance.get(v);
    if (v !== null && typeof v === 'object') return this.provenance.get(v);
    return undefined;
  }

  private inputsFrom(args: Value[], kwargs: KwArgs | null): ArgOrigin[] {
    const out: ArgOrigin[] = [];
    const visit = (v: Value, path: string, depth: number): void => {
      const step = this.originOf(v);
      if (step) {
        out.push({ arg: path, step });
        return;
      }
      if (depth >= 2) return;
      if (v instanceof List || v instanceof Tuple) v.elems.slice(0, 64).forEach((e, i) => visit(e, `${path}.${i}`, depth + 1));
      else if (v instanceof Dict) for (const [k, e] of v.entries().slice(0, 64)) if (typeof k === 'string') visit(e, `${path}.${k}`, depth + 1);
    };
    args.forEach((a, i) => visit(a, String(i), 0));
    for (const [k, v] of kwargs ?? []) visit(v, `kw.${k}`, 0);
    return out;
  }

  private scheduleTask(stub: TaskStub, args: Value[], kwargs: KwArgs | null, site: CallSite): string {
    const name = stub.taskName;
    const jargs = args.map((a, i) => toHistory(a, `argument ${i + 1} of task ${name}`));
    const jkwargs: { [k: string]: Json } = {};
    for (const [k, v] of kwargs ?? []) jkwargs[utf8Decode(k)] = toHistory(v, `argument ${utf8Decode(k)} of task ${name}`);
    const stepId = this.nextStepId(name);
    const o = stub.options;
    this.commands.push({
      kind: 'ScheduleTask',
      stepId,
      task: name,
      args: jargs,
      kwargs: jkwargs,
      argsDigest: digestOf({ args: jargs, kwargs: jkwargs }),
      callSite: site,
      inputsFrom: this.inputsFrom(args, kwargs),
      executor: o.executor,
      retry: o.retry,
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      ...(o.overallTimeoutMs !== undefined ? { overallTimeoutMs: o.overallTimeoutMs } : {}),
      ...(o.command ? { command: o.command } : {}),
      ...(o.cache ? { cache: { version: o.cacheVersion, ttlMs: o.cacheTtlMs } } : {}),
      ...(o.reference !== undefined ? { reference: o.reference } : {}),
      ...(o.resources !== undefined ? { resources: o.resources } : {}),
      ...(!o.executorExplicit && !o.command && (o.executor === 'local' || o.executor === 'python') ? { executorDefaulted: true } : {}),
    });
    return stepId;
  }
}

function stepError(stepId: string, e: ErrorInfo): EvalError {
  const err = new EvalError(`step ${stepId} failed: ${e.message}`, e.kind === 'cancelled' ? 'cancelled' : 'eval');
  (err as EvalError & { info?: ErrorInfo }).info = e;
  return err;
}

/** A budget error of workflow code, told as such (which budget, and the option that sets it). */
function budgetAware(e: EvalError, budgets: WorkflowBudgets & { maxSteps: number; maxMs: number }): EvalError {
  if (e.kind !== 'budget' || e.message.startsWith('workflow budget exceeded')) return e;
  const which = /too many steps/.test(e.message)
    ? `maxSteps ${budgets.maxSteps} per activation`
    : /time limit/.test(e.message)
      ? `maxMs ${budgets.maxMs} per activation`
      : budgets.maxBytes !== undefined
        ? `maxBytes ${budgets.maxBytes} per activation, or the heap`
        : 'the heap';
  const out = new EvalError(`workflow budget exceeded (${which}; raise it with the engine's budgets option or StartOptions.budgets): ${e.message}`, 'budget', { cause: e });
  // Keep the traceback of where it happened.
  out.frames.push(...e.frames);
  return out;
}

/** Converts a Starlark error into history's ErrorInfo. */
export function errorInfo(e: EvalError): ErrorInfo {
  const pos = e.position;
  return {
    kind: e.kind === 'cancelled' ? 'cancelled' : e.kind === 'budget' ? 'budget' : 'starlark',
    message: e.message,
    details: e.backtrace(),
    retryable: false,
    ...(pos ? { file: pos.file, line: pos.line, column: pos.column } : {}),
  };
}
