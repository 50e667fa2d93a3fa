/**
 * This file defines `Thread`, the state of one Starlark execution: its hooks (print, load), budgets
 * (steps, call depth, allocations, cancellation by AbortSignal), the stack of active functions, and
 * the driver that runs compiled code and *suspends* it.
 *
 * Compiled code is a tree of JS generators. It yields to the driver only when a builtin returned a
 * `Pending` (the host must supply a value later) or when a budget chunk is spent (TICK). The driver
 * returns an Outcome: either the final value, or "suspended, waiting for <pending>". `resume(value)`
 * continues exactly where the thread paused: the pending call expression evaluates to `value`, and no
 * code before it runs again. When nothing blocks, evaluation is one synchronous call.
 */
import { EvalError } from '../errors.js';
import { Function, TICK, type FunctionCode, type StarGenerator } from '../values/function.js';
import { allocation } from '../values/ops.js';
import { Pending, type KwArgs, type ThreadContext, type Value } from '../values/value.js';
import { callGen, toEvalError, type ModuleCode } from './runtime.js';
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
  /** Maximum executed steps (loop iterations and calls). @default Infinity */
  readonly maxSteps?: number;
  /** Maximum depth of nested Starlark calls. @default 1000 */
  readonly maxCallDepth?: number;
  /**
   * Allocation budget in units (roughly elements or bytes) charged by operations that build values.
   * It bounds what a script allocates in total, over its whole run. (Each single value is also capped
   * at 2^26 elements, so a runaway list fails cleanly long before the process runs out of memory.)
   * @default 2^32
   */
  readonly maxAllocations?: number;
  /** Cancels the execution when aborted (checked at every step-budget chunk and on resume). */
  readonly signal?: AbortSignal;
}

/** The result of running a thread until it finishes or waits. */
export type Outcome<T = Value> = { readonly done: true; readonly value: T } | { readonly done: false; readonly pending: Pending };

/** Steps between budget checks. */
const CHUNK = 4096;

/** Internal: an async run's time slice is spent (not a host request). */
const SLICE_END = new Pending('larkflow.slice-end');

export class Thread implements ThreadContext {
  readonly name: string;
  readonly locals = new Map<string, unknown>();
  /** Code currently executing (the module, then functions), outermost first. */
  readonly stack: (FunctionCode | ModuleCode)[] = [];
  /** Offset of the call site of the builtin being called (-1 if unknown), in the top frame's source. */
  callerOffset = -1;
  readonly maxCallDepth: number;
  /** Steps left in the current chunk; compiled code decrements it. */
  budget = CHUNK;
  private stepsBeforeChunk = 0;
  private readonly maxSteps: number;
  private allocated = 0;
  private readonly maxAllocations: number;
  private readonly signal: AbortSignal | undefined;
  private readonly printHook: (msg: string, thread: Thread) => void;
  private readonly loadHook: LoadHook | undefined;
  private current: StarGenerator | null = null;
  /** `charge` bound once, installed as the operators' allocation hook while this thread runs. */
  private readonly chargeHook = (n: number): void => this.charge(n);
  private currentFinish: ((v: Value) => unknown) | null = null;

  constructor(options: ThreadOptions = {}) {
    this.name = options.name ?? 'main';
    this.maxSteps = options.maxSteps ?? Infinity;
    this.maxCallDepth = options.maxCallDepth ?? 1000;
    this.maxAllocations = options.maxAllocations ?? 2 ** 32;
    this.signal = options.signal;
    this.printHook = options.print ?? ((msg) => process.stdout.write(msg + '\n'));
    this.loadHook = options.load;
    if (this.maxSteps < CHUNK) this.budget = Math.max(1, this.maxSteps);
  }

  /** Executed steps so far (approximate to the chunk in progress). */
  get steps(): number {
    return this.stepsBeforeChunk + (CHUNK - this.budget);
  }

  /** Called by compiled code when `budget` runs out: checks limits and starts a new chunk. */
  refill(): boolean {
    this.stepsBeforeChunk += CHUNK - this.budget;
    if (this.stepsBeforeChunk >= this.maxSteps) {
      throw new EvalError(`Starlark computation cancelled: too many steps (limit ${this.maxSteps})`, 'budget');
    }
    this.checkCancelled();
    this.budget = Math.min(CHUNK, this.maxSteps - this.stepsBeforeChunk);
    this.stepsBeforeChunk -= CHUNK - this.budget;
    // In an async run, give the event loop a turn when the time slice is spent (so timers, I/O and
    // an AbortSignal's abort can happen while a long script runs).
    return this.sliceMs !== undefined && performance.now() >= this.sliceDeadline;
  }

  /** Time slice of an async run (ms), or undefined when running synchronously. */
  private sliceMs: number | undefined;
  private sliceDeadline = 0;

  private checkCancelled(): void {
    if (this.signal?.aborted) {
      const reason = this.signal.reason;
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

  charge(n: number): void {
    this.allocated += n;
    if (this.allocated > this.maxAllocations) {
      throw new EvalError(`allocation budget exceeded (limit ${this.maxAllocations} units)`, 'budget');
    }
  }

  /** Asks the load hook for a module's members. */
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
    try {
      // Fast path: a Starlark function whose parameters take the positional arguments directly.
      const gen =
        kwargs === null && fn instanceof Function && args.length < 31 && (fn.posMask & (1 << args.length)) !== 0
          ? fn.gen(this as never, ...args)
          : callGen(this, fn, args, kwargs);
      return this.runSync(gen, 'a builtin callback');
    } finally {
      this.callerOffset = savedOffset;
    }
  }

  /** Runs a generator to completion synchronously; a Pending is an error. */
  runSync(gen: StarGenerator, what: string): Value {
    const prevCharge = allocation.charge;
    allocation.charge = this.chargeHook;
    try {
      let r = gen.next(null);
      for (;;) {
        if (r.done) return r.value;
        if (r.value === TICK) {
          r = gen.next(null);
          continue;
        }
        gen.return(null);
        throw new EvalError(`cannot suspend inside ${what}: the call waited for the host`);
      }
    } finally {
      allocation.charge = prevCharge;
    }
  }

  /** True while an execution is suspended, waiting for `resume`. */
  get suspended(): boolean {
    return this.current !== null;
  }

  /**
   * Starts running compiled code; returns its value, or the Pending it waits on (then call
   * `resume`/`resumeWithError`). `finish` maps the generator's return value to the outcome's value.
   * @throws EvalError if the script fails
   */
  start<T>(gen: StarGenerator, finish: (v: Value) => T): Outcome<T> {
    if (this.current) throw new EvalError('thread is already running a suspended execution');
    this.current = gen;
    this.currentFinish = finish as (v: Value) => unknown;
    return this.drive({ value: null }) as Outcome<T>;
  }

  /**
   * Like `start`, but yields to the event loop every `sliceMs` of computation, so a long script does
   * not block the process and can be cancelled by its AbortSignal from a timer or another request.
   * Resolves like `start` returns (the value, or the Pending the script waits on).
   */
  async startAsync<T>(gen: StarGenerator, finish: (v: Value) => T, sliceMs = 20): Promise<Outcome<T>> {
    if (this.current) throw new EvalError('thread is already running a suspended execution');
    this.current = gen;
    this.currentFinish = finish as (v: Value) => unknown;
    return this.driveAsync({ value: null }, sliceMs) as Promise<Outcome<T>>;
  }

  /** `resume`, yielding to the event loop every `sliceMs` (see `startAsync`). */
  async resumeAsync<T = Value>(value: Value, sliceMs = 20): Promise<Outcome<T>> {
    if (!this.current) throw new EvalError('thread is not suspended');
    return this.driveAsync({ value }, sliceMs) as Promise<Outcome<T>>;
  }

  private async driveAsync(input: { value: Value }, sliceMs: number): Promise<Outcome<unknown>> {
    this.sliceMs = sliceMs;
    try {
      this.sliceDeadline = performance.now() + sliceMs;
      let out = this.drive(input, true);
      while (!out.done && out.pending === SLICE_END) {
        await new Promise((r) => setImmediate(r));
        this.sliceDeadline = performance.now() + sliceMs;
        out = this.drive({ value: null }, true);
      }
      return out;
    } finally {
      this.sliceMs = undefined;
    }
  }

  /** Continues a suspended execution: the pending call returns `value`. */
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
    if (g) {
      try {
        g.return(null);
      } catch {
        // a finally block that failed while unwinding: nothing to report
      }
    }
  }

  private drive(input: { value: Value } | { error: EvalError }, slicing = false): Outcome<unknown> {
    const gen = this.current!;
    const prevCharge = allocation.charge;
    allocation.charge = this.chargeHook;
    try {
      this.checkCancelled();
      let r = 'error' in input ? gen.throw(input.error) : gen.next(input.value);
      for (;;) {
        if (r.done) {
          const finish = this.currentFinish!;
          this.current = null;
          this.currentFinish = null;
          return { done: true, value: finish(r.value) };
        }
        if (r.value === TICK) {
          if (slicing) return { done: false, pending: SLICE_END };
          r = gen.next(null);
          continue;
        }
        return { done: false, pending: r.value };
      }
    } catch (e) {
      this.current = null;
      this.currentFinish = null;
      this.stack.length = 0;
      throw toEvalError(e);
    } finally {
      allocation.charge = prevCharge;
    }
  }
}
