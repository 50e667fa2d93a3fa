/**
 * This file defines `Thread`, the state of one Starlark execution: its hooks (print, load), budgets
 * (steps, call depth, allocated bytes, deadline, cancellation by AbortSignal), time slicing, the stack
 * of active functions, and the driver that runs compiled code and *suspends* it.
 *
 * Compiled code is a tree of JS generators. It yields to the driver only when a builtin returned a
 * `Pending` (the host must supply a value later, or an incremental builtin has more work to do) or
 * when a budget chunk is spent while the time slice is over (TICK). The driver returns an Outcome:
 * either the final value, or "suspended, waiting for <pending>" (SLICE_END when only the slice
 * ended). `resume(value)` continues exactly where the thread paused: the pending call expression
 * evaluates to `value`, and no code before it runs again. When nothing blocks and no slice is set,
 * evaluation is one synchronous call.
 *
 * Budgets: compiled code counts steps (loop iterations and calls) down in `budget` and calls
 * `refill` every CHUNK steps; builtins and operators charge work and estimated bytes through the
 * meter (values/budget.ts), whose sink is the running thread. Every refill and every charge checks
 * the step limit, the deadline and the signal; byte charges feed the cumulative cap and the heap
 * guard (heap-guard.ts).
 */
import { EvalError } from '../errors.js';
import { Function, TICK, type FunctionCode, type StarGenerator, type Yielded } from '../values/function.js';
import { meter, type MeterSink } from '../values/budget.js';
import { Job, jobOf } from '../values/job.js';
import { Pending, type KwArgs, type ThreadContext, type Value } from '../values/value.js';
import { builtinFrame, callGen, toEvalError, type ModuleCode } from './runtime.js';
import { checkHeap, HEAP_CHECK_INTERVAL } from './heap-guard.js';
import type { Position } from '../../lexer/source.js';

/** Loads a module by name for `load()`: its exported members, or a Pending to suspend. */
export type LoadHook = (module: string, thread: Thread) => ReadonlyMap<string, Value> | Pending;

/** Dynamic settings of a thread (the static dialect choices are FileOptions). */
export interface ThreadOptions {
  /** A name for diagnostics. @default "main" */
  readonly name?: string;
  /** Receives the output of `print`. @default writes to process.stdout */
  readonly print?: (msg: string, thread: Thread) => void;
  /** Resolves `load("module", ...)`. @default every load fails */
  readonly load?: LoadHook;
  /**
   * Maximum steps: loop iterations and calls of compiled code, plus the work builtins and operators
   * charge in proportion to the size of their operands (about one step per element compared, hashed
   * or printed, per 8 elements copied, or per 16 bytes of text). Exceeding it fails with an EvalError
   * of kind 'budget' ("too many steps"). @default Infinity
   */
  readonly maxSteps?: number;
  /**
   * Maximum depth of nested Starlark calls; a deeper call fails with "Starlark stack overflow". Calls
   * nest on the JS stack, which (at Node's default size) holds about 2,500 frames of a simple
   * recursive function; if it runs out first, the error is the same. @default 2000
   */
  readonly maxCallDepth?: number;
  /**
   * A hard cap on the bytes the script allocates in total over its whole run, counted as estimated
   * sizes of the values operations build (8 bytes per list slot, 1 per byte of text, 40 per dict
   * entry, ...). Garbage counts too, so it also limits scripts that churn.
   *
   * @default Infinity: no cumulative cap. Whatever this option, the heap guard applies: every 1 MiB
   * of estimated allocation (and before any single larger one) the thread checks that V8's live heap
   * plus what is about to be allocated stays under `liveHeapLimit()`, 75% of
   * (`v8.getHeapStatistics().heap_size_limit` − 64 MiB), forcing a full GC first when the used heap
   * is over it (so garbage does not count), and fails with "allocation budget exceeded" otherwise.
   * Each single value is also capped at 2^26 elements (a dict or set at 2^24 − 1 entries).
   */
  readonly maxAllocations?: number;
  /**
   * An absolute time, in `performance.now()` milliseconds, after which the execution fails with an
   * EvalError of kind 'budget' ("Starlark computation cancelled: time limit exceeded (N ms)").
   * Checked at every budget check (every 4096 steps) and at every charge of work, including inside
   * long builtins, so it is observed within about a millisecond of work. @default none
   */
  readonly deadline?: number;
  /**
   * Cancels the execution when aborted (EvalError kind 'cancelled'). Checked on every start and
   * resume, at every budget check and at every charge of work; in a time-sliced run (`sliceUntil`,
   * `execFileAsync`) the event loop turns between slices, so a timer can abort it.
   */
  readonly signal?: AbortSignal;
}

/** The result of running a thread until it finishes or waits. */
export type Outcome<T = Value> = { readonly done: true; readonly value: T } | { readonly done: false; readonly pending: Pending };

/** New limits for `Thread.setLimits`, each relative to now; an absent field keeps its limit. */
export interface ThreadLimits {
  /** How many more steps may run from now (Infinity: no step limit). */
  readonly steps?: number;
  /** How many more estimated bytes may be allocated from now (Infinity: no cumulative cap). */
  readonly bytes?: number;
  /** An absolute `performance.now()` time after which the thread fails; null clears it. */
  readonly deadline?: number | null;
}

/** Steps between budget checks. */
const CHUNK = 4096;

/**
 * The pending value `start`, `resume` and `resumeWithError` return when the thread's time slice is
 * spent (`thread.sliceUntil` has passed). It is not a host request: continue with `resume(null)`.
 */
export const SLICE_END: Pending = new Pending('larkflow.slice-end');

export class Thread implements ThreadContext, MeterSink {
  readonly name: string;
  readonly locals = new Map<string, unknown>();
  /** Code currently executing (the module, then functions), outermost first. */
  readonly stack: (FunctionCode | ModuleCode)[] = [];
  /** Offset of the call site of the builtin being called (-1 if unknown), in the top frame's source. */
  callerOffset = -1;
  readonly maxCallDepth: number;
  /**
   * Steps left in the current chunk; compiled code decrements it, charged work lowers it. When it
   * reaches 0, compiled code calls `refill`. @internal
   */
  budget = 0;
  /**
   * End of the current time slice, as a `performance.now()` time. When set, the first budget check at
   * or after it makes `start`/`resume`/`resumeWithError` return `{ done: false, pending: SLICE_END }`;
   * continue with `resume(null)` (after setting a new `sliceUntil`). A slice always runs at least one
   * chunk of steps, so a past time still makes progress. Undefined (the default): no slicing, the
   * thread runs until it finishes or waits for the host.
   */
  sliceUntil: number | undefined = undefined;
  /** Steps spent in earlier chunks; with `granted - budget`, the steps so far. */
  private spent = 0;
  /** The size of the current chunk. */
  private granted = 0;
  private maxSteps: number;
  /** The step limit as given (maxSteps or setLimits), for the error message. */
  private stepsLimit: number;
  private deadline: number | undefined;
  /** The span of the deadline when it was set, for the error message. */
  private deadlineSpan = 0;
  private allocated = 0;
  private maxBytes: number;
  /** The cap as given (maxAllocations or setLimits), for the error message. */
  private bytesLimit: number;
  private nextHeapCheck = HEAP_CHECK_INTERVAL;
  private lastHeapCheck = 0;
  private readonly signal: AbortSignal | undefined;
  private readonly printHook: (msg: string, thread: Thread) => void;
  private readonly loadHook: LoadHook | undefined;
  private current: StarGenerator | null = null;
  private currentFinish: ((v: Value) => unknown) | null = null;
  /** An incremental builtin in progress when the slice ended (continued by `resume`). */
  private job: Job | null = null;

  constructor(options: ThreadOptions = {}) {
    this.name = options.name ?? 'main';
    this.maxSteps = this.stepsLimit = options.maxSteps ?? Infinity;
    this.maxCallDepth = options.maxCallDepth ?? 2000;
    this.maxBytes = this.bytesLimit = options.maxAllocations ?? Infinity;
    this.signal = options.signal;
    this.printHook = options.print ?? ((msg) => process.stdout.write(msg + '\n'));
    this.loadHook = options.load;
    if (options.deadline !== undefined) this.setDeadline(options.deadline);
    this.grant();
  }

  /** Executed steps so far, charged work included. */
  get steps(): number {
    return this.spent + this.granted - this.budget + (meter.sink === this ? Math.floor(meter.steps) : 0);
  }

  /** Estimated bytes allocated so far (what `maxAllocations` and `setLimits({ bytes })` count). */
  get allocatedBytes(): number {
    return this.allocated + (meter.sink === this ? meter.bytes : 0);
  }

  /**
   * Sets new limits, each counted from now: `steps` more steps (Infinity clears the step limit),
   * `bytes` more estimated bytes (Infinity clears the cumulative cap; the heap guard always applies),
   * and an absolute `deadline` in `performance.now()` milliseconds (null clears it). Fields left out
   * keep their current limit. The new limits are checked at the next budget check or charge.
   * @example thread.setLimits({ steps: 1e6, deadline: performance.now() + 100 })
   */
  setLimits(limits: ThreadLimits): void {
    if (meter.sink === this) this.absorb();
    if (limits.steps !== undefined) {
      const now = this.spent + this.granted - this.budget;
      this.stepsLimit = limits.steps;
      this.maxSteps = limits.steps === Infinity ? Infinity : now + Math.max(0, limits.steps);
      this.spent = now;
      this.grant();
    }
    if (limits.bytes !== undefined) {
      this.bytesLimit = limits.bytes;
      this.maxBytes = limits.bytes === Infinity ? Infinity : this.allocated + Math.max(0, limits.bytes);
    }
    if (limits.deadline !== undefined) {
      if (limits.deadline === null) this.deadline = undefined;
      else this.setDeadline(limits.deadline);
    }
  }

  private setDeadline(deadline: number): void {
    this.deadline = deadline;
    this.deadlineSpan = Math.max(0, deadline - performance.now());
  }

  /** Starts a new chunk of at most CHUNK steps, within the step limit. */
  private grant(): void {
    const left = this.maxSteps - this.spent;
    this.granted = this.budget = left >= CHUNK ? CHUNK : left > 0 ? left : 0;
  }

  /**
   * Called by compiled code when `budget` runs out: checks the limits and starts a new chunk. Returns
   * true when the time slice is spent (compiled code then yields TICK to the driver). @internal
   */
  refill(): boolean {
    this.spent += this.granted - this.budget;
    this.granted = this.budget = 0;
    if (this.spent >= this.maxSteps) throw this.tooManySteps();
    this.checkTimeAndSignal();
    this.grant();
    return this.sliceUntil !== undefined && performance.now() >= this.sliceUntil;
  }

  private tooManySteps(): EvalError {
    return new EvalError(`Starlark computation cancelled: too many steps (limit ${this.stepsLimit})`, 'budget');
  }

  private checkTimeAndSignal(): void {
    if (this.deadline !== undefined && performance.now() >= this.deadline) {
      throw new EvalError(`Starlark computation cancelled: time limit exceeded (${Math.round(this.deadlineSpan)} ms)`, 'budget');
    }
    this.checkCancelled();
  }

  private checkCancelled(): void {
    if (this.signal?.aborted) {
      const reason: unknown = this.signal.reason;
      const why = reason instanceof Error ? reason.message : reason !== undefined ? String(reason) : 'aborted';
      throw new EvalError(`Starlark computation cancelled: ${why}`, 'cancelled');
    }
  }

  /** Where the builtin being called was called from (file:line:col), if known. */
  callerPosition(): Position | undefined {
    const top = this.stack[this.stack.length - 1];
    if (!top || this.callerOffset < 0) return undefined;
    return top.source.position(this.callerOffset);
  }

  /** Names of the Starlark functions on the stack, outermost first. */
  callStackNames(): string[] {
    return this.stack.map((c) => c.name);
  }

  print(msg: string): void {
    this.printHook(msg, this);
  }

  /**
   * Charges `n` estimated bytes about to be allocated: the cumulative cap, then (every 1 MiB, or at
   * once for a large charge) the heap guard.
   * @throws EvalError (kind 'budget') "allocation budget exceeded ..."
   */
  charge(n: number): void {
    this.allocated += n;
    if (this.allocated > this.maxBytes) {
      throw new EvalError(`allocation budget exceeded (limit ${this.bytesLimit} bytes)`, 'budget');
    }
    if (this.allocated >= this.nextHeapCheck || n >= HEAP_CHECK_INTERVAL) {
      const checked = this.allocated - this.lastHeapCheck;
      this.lastHeapCheck = this.allocated;
      this.nextHeapCheck = this.allocated + HEAP_CHECK_INTERVAL;
      checkHeap(n, checked);
    }
  }

  /**
   * Charges `n` steps of work about to be done: they come off the step budget (so the next budget
   * check in compiled code comes sooner), then the step limit, the deadline and the signal are checked.
   * @throws EvalError (kind 'budget' or 'cancelled')
   */
  work(n: number): void {
    this.budget -= Math.ceil(n);
    if (this.spent + this.granted - this.budget > this.maxSteps) throw this.tooManySteps();
    this.checkTimeAndSignal();
  }

  /** Takes the meter's counters and checks the budgets (MeterSink). @internal */
  flush(): void {
    const bytes = meter.bytes;
    const steps = Math.floor(meter.steps);
    meter.bytes = 0;
    meter.steps -= steps;
    if (steps > 0) this.work(steps);
    if (bytes > 0) this.charge(bytes);
  }

  /** Takes the meter's counters without checking anything (MeterSink: another thread takes over). @internal */
  absorb(): void {
    const steps = Math.floor(meter.steps);
    this.budget -= steps;
    this.allocated += meter.bytes;
    meter.bytes = 0;
    meter.steps = 0;
  }

  /** True while this thread is slicing and its slice is spent (MeterSink). @internal */
  sliceOver(): boolean {
    return this.sliceUntil !== undefined && performance.now() >= this.sliceUntil;
  }

  /** Makes this thread the meter's sink; returns the previous one, for `leaveMeter`. */
  private enterMeter(): MeterSink {
    const prev = meter.sink;
    if (prev !== this) {
      prev.absorb();
      meter.sink = this;
    }
    return prev;
  }

  private leaveMeter(prev: MeterSink): void {
    if (prev !== this) {
      this.absorb();
      meter.sink = prev;
    }
  }

  /** Loads a module's members through the load hook. */
  loadModule(module: string): ReadonlyMap<string, Value> | Pending {
    if (!this.loadHook) throw new EvalError(`cannot load ${module}: this thread has no load hook`);
    return this.loadHook(module, this);
  }

  /**
   * Calls a callable synchronously (for builtins such as sorted(key=...)). A callee that tries to
   * suspend fails with a clear error: a builtin's callback cannot wait for the host.
   */
  call(fn: Value, args: Value[], kwargs: KwArgs | null = null): Value {
    const savedOffset = this.callerOffset;
    // A host stack overflow may skip a frame's `finally` that pops its entry; a caller that goes
    // on after the error (assert.fails) must see the call stack as it was.
    const savedDepth = this.stack.length;
    try {
      // Fast path: a Starlark function whose parameters take the positional arguments directly.
      const gen =
        kwargs === null && fn instanceof Function && args.length < 31 && (fn.posMask & (1 << args.length)) !== 0
          ? fn.gen(this as never, ...args)
          : callGen(this, fn, args, kwargs);
      return this.runSync(gen, 'a builtin callback');
    } finally {
      this.callerOffset = savedOffset;
      this.stack.length = savedDepth;
    }
  }

  /**
   * Runs a generator to completion synchronously; a Pending is an error. A spent time slice does not
   * stop it (a callback cannot give the event loop a turn); the caller's next budget check will.
   */
  runSync(gen: StarGenerator, what: string): Value {
    const prev = this.enterMeter();
    try {
      let r = gen.next(null);
      for (;;) {
        if (r.done) return r.value;
        if (r.value === TICK) {
          r = gen.next(null);
          continue;
        }
        const job = jobOf(r.value);
        if (job !== undefined) {
          r = this.finishJob(gen, job, false) as IteratorResult<Yielded, Value>;
          continue;
        }
        gen.return(null);
        throw new EvalError(`cannot suspend inside ${what}: the call waited for the host`);
      }
    } finally {
      this.leaveMeter(prev);
    }
  }

  /** True while an execution is suspended, waiting for `resume`. */
  get suspended(): boolean {
    return this.current !== null;
  }

  /**
   * Starts running compiled code; returns its value, or the Pending it waits on (then call
   * `resume`/`resumeWithError`), or SLICE_END when `sliceUntil` has passed (then call `resume(null)`).
   * `finish` maps the generator's return value to the outcome's value.
   * @throws EvalError if the script fails
   */
  start<T>(gen: StarGenerator, finish: (v: Value) => T): Outcome<T> {
    if (this.current) throw new EvalError('thread is already running a suspended execution');
    this.current = gen;
    this.currentFinish = finish as (v: Value) => unknown;
    return this.drive({ value: null }) as Outcome<T>;
  }

  /**
   * Like `start`, but runs in time slices of `sliceMs` (with `sliceUntil`), giving the event loop a
   * turn between them, so a long script does not block the process and its AbortSignal can be aborted
   * by a timer or another request. Resolves like `start` returns, except that it never resolves with
   * SLICE_END: the value, or the Pending the script waits on.
   */
  async startAsync<T>(gen: StarGenerator, finish: (v: Value) => T, sliceMs = 20): Promise<Outcome<T>> {
    return this.runSliced(() => this.start(gen, finish), sliceMs) as Promise<Outcome<T>>;
  }

  /** `resume`, in time slices of `sliceMs` (see `startAsync`). */
  async resumeAsync<T = Value>(value: Value, sliceMs = 20): Promise<Outcome<T>> {
    return this.runSliced(() => this.resume(value), sliceMs) as Promise<Outcome<T>>;
  }

  private async runSliced(first: () => Outcome<unknown>, sliceMs: number): Promise<Outcome<unknown>> {
    const saved = this.sliceUntil;
    try {
      this.sliceUntil = performance.now() + sliceMs;
      let out = first();
      while (!out.done && out.pending === SLICE_END) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.sliceUntil = performance.now() + sliceMs;
        out = this.resume(null);
      }
      return out;
    } finally {
      this.sliceUntil = saved;
    }
  }

  /** Continues a suspended execution: the pending call returns `value` (after SLICE_END: pass null). */
  resume<T = Value>(value: Value): Outcome<T> {
    if (!this.current) throw new EvalError('thread is not suspended');
    return this.drive({ value }) as Outcome<T>;
  }

  /** Continues a suspended execution: the pending call fails with `error` (a Starlark error there). */
  resumeWithError<T = Value>(error: unknown): Outcome<T> {
    if (!this.current) throw new EvalError('thread is not suspended');
    const err = error instanceof EvalError ? error : new EvalError(error instanceof Error ? error.message : String(error));
    return this.drive({ error: err }) as Outcome<T>;
  }

  /** Abandons a suspended execution (runs no more Starlark code). */
  abandon(): void {
    const g = this.current;
    this.current = null;
    this.currentFinish = null;
    this.stack.length = 0;
    this.dropJob();
    if (g) {
      try {
        g.return(null);
      } catch {
        // a finally block that failed while unwinding: nothing to report
      }
    }
  }

  private dropJob(): void {
    const job = this.job;
    this.job = null;
    if (job) {
      try {
        job.work.return(null);
      } catch {
        // nothing to report
      }
    }
  }

  /**
   * Steps an incremental builtin until it finishes, then hands its result (or error) to `gen`.
   * With `slicing`, stops when the slice is spent (after one piece at least, so that every slice
   * makes progress) and returns undefined (the job is kept in `job`).
   */
  private finishJob(gen: StarGenerator, job: Job, slicing: boolean): IteratorResult<Yielded, Value> | undefined {
    for (;;) {
      let step: IteratorResult<undefined, Value>;
      try {
        step = job.work.next();
      } catch (e) {
        this.job = null;
        return gen.throw(builtinFrame(e, job.name));
      }
      if (step.done) {
        this.job = null;
        return gen.next(step.value);
      }
      if (slicing && this.sliceOver()) {
        this.job = job;
        return undefined;
      }
    }
  }

  private drive(input: { value: Value } | { error: EvalError }): Outcome<unknown> {
    const gen = this.current!;
    const prev = this.enterMeter();
    try {
      this.checkTimeAndSignal();
      let r: IteratorResult<Yielded, Value>;
      if (this.job !== null) {
        if ('error' in input) {
          this.dropJob();
          r = gen.throw(input.error);
        } else {
          const next = this.finishJob(gen, this.job, true);
          if (next === undefined) return { done: false, pending: SLICE_END };
          r = next;
        }
      } else {
        r = 'error' in input ? gen.throw(input.error) : gen.next(input.value);
      }
      for (;;) {
        if (r.done) {
          const finish = this.currentFinish!;
          this.current = null;
          this.currentFinish = null;
          return { done: true, value: finish(r.value) };
        }
        if (r.value === TICK) return { done: false, pending: SLICE_END };
        const job = jobOf(r.value);
        if (job === undefined) return { done: false, pending: r.value };
        if (this.sliceUntil !== undefined) {
          // An incremental builtin hands over its work only when the slice is spent.
          this.job = job;
          return { done: false, pending: SLICE_END };
        }
        r = this.finishJob(gen, job, false)!;
      }
    } catch (e) {
      this.current = null;
      this.currentFinish = null;
      this.stack.length = 0;
      this.dropJob();
      throw toEvalError(e);
    } finally {
      this.leaveMeter(prev);
    }
  }
}
