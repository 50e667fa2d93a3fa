/**
 * This file defines the test engine of `larkflow/testing`: an `Engine` on a memory store or a
 * temporary SQLite file, with a `VirtualClock` that skips time, a driver (`runUntilIdle`,
 * `runToCompletion`) that fires timers in order, fake tasks whose outcomes a test programs, a
 * controllable order in which concurrent task attempts run and complete, and simulated crashes (the
 * Nth commit fails, the "process" dies, `restart()` recovers the runs in a new engine on the same
 * store).
 *
 * Every task attempt goes through the test engine's own executor (registered under the name
 * `local`, so it replaces the engine's in-process executor): fake tasks are answered from their
 * schedule, and functions registered with `te.registerTask` run on the engine's FunctionExecutor.
 * Registrations made through the test engine survive `restart()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import '../stdlib/index.js';
import { Engine, type EngineOptions, type RunHandle, type RunResult, type StartOptions } from '../engine/engine.js';
import { VirtualClock } from '../engine/clock.js';
import { StoreError } from '../engine/core/errors.js';
import type { ErrorInfo, HistoryEvent, NewEvent } from '../engine/core/events.js';
import type { Json } from '../engine/core/json.js';
import type { EventStore, Executor, TaskHandle, TaskOutcome, TaskRequest, RunLease } from '../engine/core/ports.js';
import type { ContextTaskFunction, TaskFunction } from '../engine/executors/function-executor.js';
import { toJson } from '../engine/executors/function-executor.js';
import { MemoryEventStore, openSqliteStore } from '../engine/store/index.js';

// ---------------------------------------------------------------------------------------------
// Schedules of fake tasks

/**
 * What one attempt (or call) of a fake task does.
 * - `{ return: v }` succeeds with `v`; a function is called as `fn(...args)` (kwargs as a last
 *   object, as the engine calls task functions) and its (awaited) value is the result.
 * - `{ fail: message, retryable?, kind? }` fails the attempt (retryable by default, kind 'task').
 * - `{ timeout: true }` times the attempt out (kind 'timeout', retryable) after the task's
 *   `timeout=` in virtual time, or at once if it has none.
 * - `{ takes: ms, then }` takes `ms` of virtual time, then does `then`; if the task's `timeout=` is
 *   shorter, the attempt times out at the timeout instead.
 */
export type ScheduleEntry =
  | { readonly return: unknown }
  | { readonly fail: string; readonly retryable?: boolean; readonly kind?: string }
  | { readonly timeout: true }
  | { readonly takes: number; readonly then: ScheduleEntry };

/** The outcomes of successive attempts (or calls) of a fake task; the last entry repeats. */
export type Schedule = readonly ScheduleEntry[];

/** Schedules by task name. */
export type TaskSchedules = Readonly<Record<string, Schedule>>;

/** Options of `fakeTask`. */
export interface FakeTaskOptions {
  /**
   * How entries are consumed: 'attempt' gives attempt N of every step entry N-1 (so a step re-run
   * after a crash gets the same outcome); 'call' consumes one entry per call of the task, across
   * steps. @default 'attempt'
   */
  readonly by?: 'attempt' | 'call';
}

/** One call of a fake task, as recorded by the test engine. */
export interface FakeCall {
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  readonly args: readonly Json[];
  readonly kwargs: { readonly [name: string]: Json };
  /** The schedule entry that answered it. */
  readonly entry: ScheduleEntry;
  /** Incremented by `restart()`: the simulated process the call ran in (0 first). */
  readonly generation: number;
}

/** A fake task registered on a test engine. */
export interface FakeTask {
  readonly name: string;
  readonly schedule: Schedule;
  /** Every call so far, in the order the attempts started. */
  readonly calls: readonly FakeCall[];
}

interface FakeState extends FakeTask {
  readonly by: 'attempt' | 'call';
  readonly calls: FakeCall[];
}

// ---------------------------------------------------------------------------------------------
// Completion order

/** A task attempt that is ready to run and complete, waiting for the test's order to choose it. */
export interface ReadyAttempt {
  readonly runId: string;
  readonly task: string;
  readonly stepId: string;
  readonly attempt: number;
}

/**
 * Chooses which of the ready attempts runs (and completes) next: returns an index into `ready`
 * (taken modulo its length). Called only when more than one attempt is ready.
 */
export type CompletionChooser = (ready: readonly ReadyAttempt[]) => number;

/** A chooser that follows a list of choices (each taken modulo the number of ready attempts), then FIFO. */
export function choicesChooser(choices: readonly number[]): CompletionChooser {
  let i = 0;
  return (ready) => {
    const c = i < choices.length ? choices[i]! : 0;
    i++;
    return ((c % ready.length) + ready.length) % ready.length;
  };
}

// ---------------------------------------------------------------------------------------------
// The test engine

/** Options of `createTestEngine`. */
export interface TestEngineOptions {
  /**
   * Where histories go: memory, a SQLite file in a new temporary directory, or a store of your own
   * (e.g. another test engine's `store`, to share runs and cache; it is not closed by `dispose()`).
   * @default 'memory'
   */
  readonly store?: 'memory' | 'sqlite' | EventStore;
  /**
   * More options for every engine this test engine opens (also after `restart()`): e.g. a task
   * cache or blob store. `db`, `clock` and `concurrency` are the test engine's own.
   */
  readonly engineOptions?: Omit<EngineOptions, 'db' | 'clock' | 'concurrency'>;
  /** The virtual clock, or its start time (ms since the epoch). @default a clock at 2026-01-01 */
  readonly clock?: VirtualClock | number;
  /**
   * Controls concurrency: with a chooser, task attempts wait until the driver (`runUntilIdle`)
   * picks them, one at a time, so the order in which concurrent tasks run and complete is the
   * chooser's. Without one, attempts run as soon as they are submitted (FIFO).
   */
  readonly order?: CompletionChooser;
  /** Simulate a crash: the Nth commit (store append, 1-based) fails and the engine is abandoned. */
  readonly crashAtCommit?: number;
  /** Concurrent in-process task functions. @default 8 */
  readonly concurrency?: number;
}

/** The simulated crash, once it has happened. */
export interface CrashInfo {
  /** The commit (store append, 1-based) that failed. */
  readonly commit: number;
  readonly runId: string;
  /** The events that commit would have recorded (lost). */
  readonly lost: readonly NewEvent[];
}

/** An attempt the test engine's executor was asked to run. */
export interface AttemptRecord {
  readonly runId: string;
  readonly task: string;
  readonly stepId: string;
  readonly attempt: number;
  readonly idempotencyKey: string;
  /** The simulated process (0, then +1 per `restart()`). */
  readonly generation: number;
}

/** One commit (store append) seen by the test engine. */
export interface CommitRecord {
  /** 1-based, across restarts. */
  readonly commit: number;
  readonly runId: string;
  /** Kinds of the events it appended. */
  readonly kinds: readonly string[];
  /** The step of its first event, if any. */
  readonly stepId?: string;
  /** True if it failed (the simulated crash). */
  readonly lost: boolean;
}

interface Registration {
  readonly name: string;
  readonly fn: TaskFunction | ContextTaskFunction;
  readonly withContext: boolean;
}

interface Pending {
  readonly req: TaskRequest;
  readonly generation: number;
  readonly run: () => Promise<TaskOutcome>;
  readonly resolve: (o: TaskOutcome) => void;
}

const DEFAULT_START = Date.UTC(2026, 0, 1);

function timeoutOutcome(task: string, ms: number | undefined): TaskOutcome {
  return { ok: false, error: { kind: 'timeout', message: `task ${task} timed out after ${ms ?? 0} ms`, retryable: true } };
}

function cancelledOutcome(task: string): TaskOutcome {
  return { ok: false, error: { kind: 'cancelled', message: `task ${task} was cancelled`, retryable: false } };
}

function thrownInfo(e: unknown): ErrorInfo {
  if (typeof e !== 'object' || e === null) return { kind: 'task', message: `task threw ${String(e)}`, retryable: true };
  const x = e as { kind?: unknown; retryable?: unknown; nonRetryable?: unknown; message?: unknown; stack?: unknown };
  return {
    kind: typeof x.kind === 'string' && x.kind !== '' ? x.kind : 'task',
    message: typeof x.message === 'string' && x.message !== '' ? x.message : String(e),
    retryable: typeof x.retryable === 'boolean' ? x.retryable : x.nonRetryable !== true,
    ...(typeof x.stack === 'string' ? { details: x.stack } : {}),
  };
}

/**
 * An engine for tests. Create it with `createTestEngine`; `engine` and `clock` change on
 * `restart()` (a new simulated process), `store` does not.
 */
export class TestEngine {
  /** The SQLite file, when the store is 'sqlite'. */
  readonly dbPath: string | undefined;
  /** Attempts in the order they ran (with a chooser) or were submitted: `stepId@attempt`. */
  readonly completions: string[] = [];
  /** Every attempt submitted to the test engine's executor (fake or real), in order. */
  readonly attempts: AttemptRecord[] = [];
  /** Number of commits (store appends) so far, across restarts. */
  commits = 0;
  /** Every commit so far, in order (the crash's lost one included). */
  readonly commitLog: CommitRecord[] = [];
  private crashAt: number | undefined;
  private crash: CrashInfo | undefined;
  private inner: EventStore;
  private readonly ownsStore: boolean;
  private readonly proxy: EventStore;
  private currentEngine!: Engine;
  private currentClock: VirtualClock;
  private readonly tmpDir: string | undefined;
  private readonly registrations: Registration[] = [];
  private readonly fakes = new Map<string, FakeState>();
  private readonly ready: Pending[] = [];
  private generationNo = 0;
  private realInFlight = 0;
  private disposed = false;

  constructor(private readonly options: TestEngineOptions = {}) {
    this.crashAt = options.crashAtCommit;
    this.currentClock = options.clock instanceof VirtualClock ? options.clock : new VirtualClock(options.clock ?? DEFAULT_START);
    this.ownsStore = typeof options.store !== 'object';
    if (typeof options.store === 'object') {
      this.inner = options.store;
    } else if (options.store === 'sqlite') {
      this.tmpDir = mkdtempSync(join(tmpdir(), 'larkflow-test-'));
      this.dbPath = join(this.tmpDir, 'larkflow.db');
      this.inner = openSqliteStore(this.dbPath);
    } else {
      this.inner = new MemoryEventStore();
    }
    this.proxy = this.crashingStore();
    this.openEngine();
  }

  /** The current engine (a new one after `restart()`). */
  get engine(): Engine {
    return this.currentEngine;
  }

  /** The current virtual clock (a new one, at the same time, after `restart()`). */
  get clock(): VirtualClock {
    return this.currentClock;
  }

  /** The durable store (shared by every engine of this test engine; never crashes). */
  get store(): EventStore {
    return this.inner;
  }

  /** The simulated crash, if it has happened. */
  get crashed(): CrashInfo | undefined {
    return this.crash;
  }

  /** The simulated process: 0, then incremented by every `restart()`. */
  get generation(): number {
    return this.generationNo;
  }

  /** Every fake task registered, by name. */
  get fakeTasks(): ReadonlyMap<string, FakeTask> {
    return this.fakes;
  }

  /** Arms a crash: the `commit`-th commit from now fails (1 = the next one). */
  crashAtCommit(commit: number): void {
    this.crashAt = this.commits + commit;
  }

  /** Registers a task function `fn(...args[, kwargs])`; it is registered again after `restart()`. */
  registerTask(name: string, fn: TaskFunction): this {
    if (this.fakes.has(name)) return this; // a fake wins
    this.registrations.push({ name, fn, withContext: false });
    this.currentEngine.functions.register(name, fn);
    return this;
  }

  /** Registers a task function `fn(ctx, ...args[, kwargs])` (ctx: attempt, stepId, runId, idempotencyKey...). */
  registerTaskWithContext(name: string, fn: ContextTaskFunction): this {
    if (this.fakes.has(name)) return this; // a fake wins
    this.registrations.push({ name, fn, withContext: true });
    this.currentEngine.functions.registerWithContext(name, fn);
    return this;
  }

  /** Registers every function of an object (e.g. a tasks module) as a task. */
  registerTasks(tasks: Readonly<Record<string, unknown>>): this {
    for (const [name, fn] of Object.entries(tasks)) if (typeof fn === 'function' && !this.fakes.has(name)) this.registerTask(name, fn as TaskFunction);
    return this;
  }

  /** Registers a fake task answered from `schedule` (see `ScheduleEntry`). @throws Error if the schedule is empty */
  fake(name: string, schedule: Schedule, options: FakeTaskOptions = {}): FakeTask {
    if (schedule.length === 0) throw new Error(`fakeTask ${name}: the schedule is empty`);
    const state: FakeState = { name, schedule, by: options.by ?? 'attempt', calls: [] };
    this.fakes.set(name, state);
    this.registerStub(this.currentEngine, name);
    return state;
  }

  /** Starts a run (see `Engine.start`). */
  start(opts: StartOptions): RunHandle {
    return this.currentEngine.start(opts);
  }

  /**
   * Drives the engine until no run can make progress: lets promises settle, runs ready attempts in
   * the chooser's order, and fires virtual timers in time order (time jumps to the next timer).
   * @throws Error if real (non-fake) task work is still pending after `realTimeoutMs`
   */
  async runUntilIdle({ maxSteps = 100_000, realTimeoutMs = 30_000 } = {}): Promise<void> {
    let waitedSince: number | undefined;
    for (let i = 0; i < maxSteps; i++) {
      await this.settle();
      // A crashed process runs nothing more: attempts that had not started die with it.
      if (this.crash) this.ready.length = 0;
      if (this.ready.length > 0) {
        waitedSince = undefined;
        const idx = this.ready.length === 1 || !this.options.order ? 0 : this.options.order(this.ready.map((p) => readyOf(p.req)));
        const [p] = this.ready.splice(((idx % this.ready.length) + this.ready.length) % this.ready.length, 1);
        if (p!.generation !== this.generationNo) continue;
        this.completions.push(`${p!.req.stepId}@${p!.req.attempt}`);
        p!.resolve(await p!.run());
        continue;
      }
      if (this.currentEngine.liveRuns === 0 && this.realInFlight === 0) return;
      if (this.realInFlight > 0) {
        // A real task function is still working (real I/O): give it real time.
        waitedSince ??= Date.now();
        if (Date.now() - waitedSince > realTimeoutMs) throw new Error(`runUntilIdle: task work still pending after ${realTimeoutMs} ms of real time`);
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      if (this.currentClock.fireNext()) continue;
      // Nothing ready, no timer: one more chance for stray promises, then the engine is idle.
      for (let k = 0; k < 20; k++) await tick();
      if (this.ready.length === 0 && !this.currentClock.pending && this.realInFlight === 0) return;
    }
    throw new Error(`runUntilIdle: no idle state after ${maxSteps} steps (a workflow that loops forever on timers?)`);
  }

  /**
   * Drives the engine until the run has ended, and returns how it ended.
   * @throws Error if the run cannot end (the engine crashed: call `restart()`; or it waits forever)
   */
  async runToCompletion(run: RunHandle | string): Promise<RunResult> {
    const runId = typeof run === 'string' ? run : run.runId;
    await this.runUntilIdle();
    const rec = this.inner.getRun(runId);
    if (!rec) throw new Error(`runToCompletion: no run ${runId}`);
    if (rec.status === 'running') {
      if (this.crash) throw new Error(`runToCompletion: run ${runId} is unfinished because the test engine crashed at commit ${this.crash.commit}; call restart() to recover it`);
      throw new Error(`runToCompletion: run ${runId} is still running but nothing can make progress (a task that never completes?)`);
    }
    return this.currentEngine.result(runId);
  }

  /** The history of a run. */
  history(runId: string): HistoryEvent[] {
    return this.inner.history(runId);
  }

  /**
   * Simulates a new process after a crash (or a restart): abandons the current engine and its
   * in-flight work, opens a new engine on the same store (a SQLite store is reopened from its file),
   * with a new virtual clock at the same time and the same task registrations, and recovers every
   * unfinished run. Later commits do not crash unless armed again with `crashAtCommit`.
   * @returns the ids of the recovered runs
   */
  restart(): string[] {
    this.generationNo++;
    this.ready.length = 0;
    this.crashAt = undefined;
    this.crash = undefined;
    this.currentClock = new VirtualClock(this.currentClock.now());
    // The old engine dies as a crashed process does: its leases may be broken at once.
    this.currentEngine.abandon();
    if (this.dbPath) {
      try {
        this.inner.close();
      } catch {
        // the abandoned engine's store: already closed is fine
      }
      this.inner = openSqliteStore(this.dbPath);
    }
    this.openEngine();
    return this.currentEngine.recover();
  }

  /** Closes the engine and removes the temporary database. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.generationNo++;
    this.ready.length = 0;
    try {
      await this.currentEngine.close();
    } catch {
      // closing an engine whose store failed
    }
    if (this.ownsStore) {
      try {
        this.inner.close();
      } catch {
        // already closed
      }
    }
    if (this.tmpDir) rmSync(this.tmpDir, { recursive: true, force: true });
  }

  // -------------------------------------------------------------------------------------------

  private async settle(): Promise<void> {
    for (let k = 0; k < 5; k++) await tick();
  }

  private openEngine(): void {
    const extra = this.options.engineOptions ?? {};
    this.currentEngine = Engine.open({ ...extra, db: this.proxy, clock: this.currentClock, executors: [...(extra.executors ?? []), this.executor()], concurrency: this.options.concurrency ?? 8 });
    for (const r of this.registrations) {
      if (r.withContext) this.currentEngine.functions.registerWithContext(r.name, r.fn as ContextTaskFunction);
      else this.currentEngine.functions.register(r.name, r.fn as TaskFunction);
    }
    for (const name of this.fakes.keys()) this.registerStub(this.currentEngine, name);
  }

  /** Fakes also exist in the FunctionExecutor (never called there), so anything that asks it about tasks (cache keys) sees them. */
  private registerStub(engine: Engine, name: string): void {
    if (engine.functions.taskNames().includes(name)) return;
    const schedule = this.fakes.get(name)!.schedule;
    engine.functions.register(name, () => null, { version: `fake:${describeScheduleForVersion(schedule)}` });
  }

  /** A store that forwards everything to the durable store, except that appends fail from the crash on. */
  private crashingStore(): EventStore {
    const append = (runId: string, expected: number, events: readonly NewEvent[], lease?: RunLease): HistoryEvent[] => {
      this.commits++;
      const first = events[0] as { stepId?: unknown } | undefined;
      const lost = this.crash !== undefined || (this.crashAt !== undefined && this.commits >= this.crashAt);
      this.commitLog.push({ commit: this.commits, runId, kinds: events.map((e) => e.kind), ...(typeof first?.stepId === 'string' ? { stepId: first.stepId } : {}), lost });
      if (lost) {
        this.crash ??= { commit: this.commits, runId, lost: [...events] };
        throw new StoreError(`simulated crash at commit ${this.crash.commit} (larkflow/testing)`);
      }
      return this.inner.append(runId, expected, events, lease);
    };
    return new Proxy({} as EventStore, {
      get: (_t, prop) => {
        if (prop === 'append') return append;
        if (prop === 'close') return () => {};
        const v = Reflect.get(this.inner as object, prop) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(this.inner) : v;
      },
      has: (_t, prop) => prop in (this.inner as object),
    });
  }

  /** The executor that runs every in-process attempt: fakes from their schedules, the rest on the FunctionExecutor. */
  private executor(): Executor {
    return {
      name: 'local',
      canRun: (task, command) => (this.fakes.has(task) && (command === undefined || command.length === 0)) || this.currentEngine.functions.canRun(task, command),
      cancel: (id) => this.currentEngine.functions.cancel(id),
      submit: (req) => this.submit(req),
    };
  }

  private submit(req: TaskRequest): TaskHandle {
    const id = `${req.runId}/${req.stepId}/${req.attempt}`;
    const generation = this.generationNo;
    this.attempts.push({ runId: req.runId, task: req.task, stepId: req.stepId, attempt: req.attempt, idempotencyKey: req.idempotencyKey, generation });
    let resolve!: (o: TaskOutcome) => void;
    const done = new Promise<TaskOutcome>((r) => (resolve = r));
    let settled = false;
    const settle = (o: TaskOutcome): void => {
      if (settled) return;
      settled = true;
      resolve(o);
    };
    req.signal.addEventListener('abort', () => settle(cancelledOutcome(req.task)), { once: true });
    const fake = this.fakes.get(req.task);
    if (!fake) {
      // A real function: it runs when chosen (or at once), its outcome is delivered as it ends.
      const run = async (): Promise<TaskOutcome> => {
        this.realInFlight++;
        try {
          return await this.currentEngine.functions.submit(req).done;
        } finally {
          this.realInFlight--;
        }
      };
      if (this.options.order) this.ready.push({ req, generation, run, resolve: settle });
      else {
        this.completions.push(`${req.stepId}@${req.attempt}`);
        void run().then(settle);
      }
      return { id, done };
    }
    const n = fake.by === 'attempt' ? req.attempt - 1 : fake.calls.length;
    const entry = fake.schedule[Math.min(n, fake.schedule.length - 1)]!;
    fake.calls.push({ runId: req.runId, stepId: req.stepId, attempt: req.attempt, args: req.args, kwargs: req.kwargs, entry, generation });
    this.startFake(req, entry, generation, settle);
    return { id, done };
  }

  /** Waits the entry's virtual time (a timer), then queues (with a chooser) or settles its outcome. */
  private startFake(req: TaskRequest, entry: ScheduleEntry, generation: number, settle: (o: TaskOutcome) => void): void {
    let delay = 0;
    let e = entry;
    while ('takes' in e) {
      delay += Math.max(0, e.takes);
      e = e.then;
    }
    const timeoutMs = req.timeoutMs !== undefined && Number.isFinite(req.timeoutMs) && req.timeoutMs > 0 ? req.timeoutMs : undefined;
    let final: ScheduleEntry | 'timeout' = e;
    if ('timeout' in e) {
      final = 'timeout';
      delay += timeoutMs ?? 0;
    } else if (timeoutMs !== undefined && delay > timeoutMs) {
      final = 'timeout';
      delay = timeoutMs;
    }
    const outcome = (): Promise<TaskOutcome> => (final === 'timeout' ? Promise.resolve(timeoutOutcome(req.task, timeoutMs)) : this.entryOutcome(req, final));
    const deliver = (): void => {
      if (generation !== this.generationNo || this.crash) return;
      if (this.options.order) this.ready.push({ req, generation, run: outcome, resolve: settle });
      else {
        this.completions.push(`${req.stepId}@${req.attempt}`);
        void outcome().then(settle);
      }
    };
    if (delay > 0) this.currentClock.setTimer(this.currentClock.now() + delay, deliver);
    else deliver();
  }

  private async entryOutcome(req: TaskRequest, e: ScheduleEntry): Promise<TaskOutcome> {
    if ('fail' in e) return { ok: false, error: { kind: e.kind ?? 'task', message: e.fail, retryable: e.retryable ?? true } };
    if (!('return' in e)) return { ok: false, error: { kind: 'executor', message: `fake task ${req.task}: bad schedule entry ${JSON.stringify(e)}`, retryable: false } };
    try {
      let v = e.return;
      if (typeof v === 'function') {
        const args: unknown[] = [...req.args.map(cloneJson)];
        if (Object.keys(req.kwargs).length > 0) args.push(cloneJson(req.kwargs));
        v = await (v as (...a: unknown[]) => unknown)(...args);
      }
      return { ok: true, value: toJson(v) };
    } catch (err) {
      return { ok: false, error: thrownInfo(err) };
    }
  }
}

function cloneJson(v: Json): Json {
  return v === null || typeof v !== 'object' ? v : (JSON.parse(JSON.stringify(v)) as Json);
}

function readyOf(req: TaskRequest): ReadyAttempt {
  return { runId: req.runId, task: req.task, stepId: req.stepId, attempt: req.attempt };
}

function describeScheduleForVersion(s: Schedule): string {
  try {
    return JSON.stringify(s, (_k, v: unknown) => (typeof v === 'function' ? `fn:${(v as { name?: string }).name ?? ''}` : v));
  } catch {
    return String(s.length);
  }
}

/**
 * Creates a test engine: an Engine on memory (or a temporary SQLite file) with a virtual clock.
 * @example
 *   const te = createTestEngine();
 *   fakeTask(te, 'fetch', [{ fail: 'flaky network' }, { takes: 30_000, then: { return: [1, 2, 3] } }]);
 *   const h = te.start({ source: { name: 'w.star', text: src }, args: [3] });
 *   const r = await te.runToCompletion(h); // the retry wait and the 30 s pass in virtual time
 */
export function createTestEngine(options: TestEngineOptions = {}): TestEngine {
  return new TestEngine(options);
}

/**
 * Registers a fake implementation of task `name` on a test engine: attempts are answered from
 * `schedule` in order (see `ScheduleEntry`); the last entry repeats.
 * @example fakeTask(te, 'train', [{ fail: 'OOM', retryable: true }, { takes: 3_600_000, then: { return: { acc: 0.93 } } }])
 */
export function fakeTask(te: TestEngine, name: string, schedule: Schedule, options?: FakeTaskOptions): FakeTask {
  return te.fake(name, schedule, options);
}
