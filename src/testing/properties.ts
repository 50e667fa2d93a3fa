/**
 * This file defines the ready-made properties of `larkflow/testing`, which a user applies to a
 * workflow (its script, inputs and tasks) with fast-check:
 *
 * - `replayPrefixProperty`: replaying any prefix of a run's history reproduces exactly the calls
 *   the run recorded next.
 * - `crashRecoveryProperty`: a run that crashes at any commit and is recovered ends as the
 *   uninterrupted run does (same result, same completed steps' results), and no step whose
 *   completion was committed before the crash runs again.
 * - `completionOrderProperty`: the result does not depend on the order in which concurrent tasks
 *   run and complete.
 * - `cacheAgreementProperty`: a run served from the task cache (`cache=True` tasks) ends as a run
 *   that executes everything does.
 *
 * Each case draws task outcome schedules (failures, retries, timeouts, durations) for the faked
 * tasks. A failing case throws a `WorkflowPropertyError` whose message holds the readable schedule,
 * the crash point or completion order, what differed, and the history; fast-check shrinks it, and
 * `assertProperty` prints the shrunk one.
 */
import fc from 'fast-check';
import { canonicalJson } from '../util/hash.js';
import { commandMatchesEvent, COMMAND_EVENT_KINDS, describeCommand, describeEvent, type Command } from '../engine/core/commands.js';
import type { HistoryEvent } from '../engine/core/events.js';
import type { Json } from '../engine/core/json.js';
import type { RunResult } from '../engine/engine.js';
import { WorkflowMachine } from '../engine/workflow/machine.js';
import { ACTIVATION_KINDS } from '../engine/workflow/replay.js';
import { completionOrder, crashPoint, formatSchedules, type CompletionOrder, type CrashPoint } from './arbitraries.js';
import { loadScript, type ScriptInput } from './replay.js';
import { createTestEngine, type TaskSchedules, type TestEngine, type TestEngineOptions } from './test-engine.js';
import { MemoryBlobStore, MemoryCacheIndex } from '../engine/cache/index.js';

// ---------------------------------------------------------------------------------------------
// The workflow under test

/** A workflow, its inputs and its tasks: what a property runs. */
export interface WorkflowSpec {
  /** The workflow script: a file path, or `{ name, text }`. */
  readonly script: ScriptInput;
  /** The @workflow() function. @default the script's only one */
  readonly workflow?: string;
  readonly args?: readonly unknown[];
  readonly kwargs?: Readonly<Record<string, unknown>>;
  /** Seed of the runs' randomness (the same in every run compared). @default "larkflow-testing" */
  readonly seed?: string;
  /** Real task implementations, registered on every test engine (a task with a schedule is faked instead). */
  readonly tasks?: Readonly<Record<string, unknown>>;
  /**
   * Called on every fresh test engine (a fresh "world"), after the fakes and `tasks` are
   * registered: register more tasks here, e.g. ones with context or with external state of their
   * own (`te.registerTaskWithContext(...)`). The world lives on across a simulated crash.
   */
  readonly setup?: (te: TestEngine) => void | Promise<void>;
  /** Outcome schedules of the faked tasks, drawn per case (see `taskSchedules`). @default no fakes */
  readonly schedules?: fc.Arbitrary<TaskSchedules>;
  /**
   * What of a run's outcome is compared. @default the status with the result (completed) or the
   * error message (failed)
   */
  readonly normalize?: (outcome: RunResult) => unknown;
  /** Compare completed steps' results too (crash recovery, completion order). @default true */
  readonly compareSteps?: boolean;
  /** The test engine's store. @default 'memory' */
  readonly store?: 'memory' | 'sqlite';
  /** More options for every engine (e.g. a task cache), see `TestEngineOptions.engineOptions`. */
  readonly engineOptions?: TestEngineOptions['engineOptions'];
}

/** A failed property case, with everything needed to understand it. */
export class WorkflowPropertyError extends Error {
  constructor(
    readonly property: string,
    message: string,
    readonly history: readonly HistoryEvent[],
  ) {
    super(message);
    this.name = 'WorkflowPropertyError';
  }
}

const DEFAULT_SEED = 'larkflow-testing';

function defaultNormalize(r: RunResult): unknown {
  return r.status === 'completed' ? { status: r.status, result: r.result ?? null } : { status: r.status, error: r.error?.message };
}

function brief(v: unknown, max = 300): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? 'undefined';
  } catch {
    s = String(v);
  }
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

function scriptName(s: ScriptInput): string {
  return typeof s === 'string' ? s : s.name;
}

/** One event per line: `  7 TaskCompleted step=fit#1 attempt=2 result=…`. */
export function formatHistory(history: readonly HistoryEvent[], { max = 80 } = {}): string {
  const lines = history.map((e) => {
    const f: string[] = [];
    const x = e as unknown as Record<string, unknown>;
    if (typeof x.stepId === 'string') f.push(`step=${x.stepId}`);
    if (typeof x.attempt === 'number' && e.kind !== 'RunStarted') f.push(`attempt=${x.attempt}`);
    if (e.kind === 'TaskScheduled') f.push(`task=${e.task}`, `at=${e.callSite.file}:${e.callSite.line}`, `args=${brief(e.args, 60)}`);
    if (e.kind === 'RunStarted') f.push(`workflow=${e.workflow}`, `args=${brief(e.args, 60)}`, `kwargs=${brief(e.kwargs, 60)}`);
    if (e.kind === 'TaskCompleted') f.push(`source=${e.source}`, `result=${brief(e.result, 60)}`);
    if (e.kind === 'AttemptFailed' || e.kind === 'TaskFailed' || e.kind === 'RunFailed') f.push(`error=[${e.error.kind}] ${e.error.message}`);
    if (e.kind === 'RetryScheduled' || e.kind === 'TimerStarted') f.push(`in=${e.fireAt - e.at}ms`);
    if (e.kind === 'RunCompleted') f.push(`result=${brief(e.result, 100)}`);
    if (e.kind === 'ProgressReported') f.push(JSON.stringify(e.message));
    if (e.kind === 'NondeterminismDetected') f.push(e.message);
    return `  ${String(e.seq).padStart(3)} ${e.kind} ${f.join(' ')}`;
  });
  if (lines.length > max) return [...lines.slice(0, max / 2), `  ... ${lines.length - max} more events ...`, ...lines.slice(-max / 2)].join('\n');
  return lines.join('\n');
}

function header(spec: WorkflowSpec, schedules: TaskSchedules): string {
  return [
    `  workflow: ${scriptName(spec.script)}${spec.workflow ? ` (${spec.workflow})` : ''}${spec.args?.length ? ` args=${brief(spec.args, 120)}` : ''}${spec.kwargs && Object.keys(spec.kwargs).length ? ` kwargs=${brief(spec.kwargs, 120)}` : ''}`,
    `  schedule:`,
    formatSchedules(schedules, '    '),
  ].join('\n');
}

async function prepare(spec: WorkflowSpec, schedules: TaskSchedules, te: TestEngine): Promise<void> {
  for (const [name, s] of Object.entries(schedules)) te.fake(name, s);
  if (spec.tasks) te.registerTasks(spec.tasks);
  await spec.setup?.(te);
}

function startOptions(spec: WorkflowSpec, runId: string) {
  const script = spec.script;
  return {
    ...(typeof script === 'string' ? { file: script } : { source: script }),
    ...(spec.workflow ? { workflow: spec.workflow } : {}),
    ...(spec.args ? { args: spec.args } : {}),
    ...(spec.kwargs ? { kwargs: spec.kwargs } : {}),
    runId,
    seed: spec.seed ?? DEFAULT_SEED,
  };
}

interface Completed {
  readonly result: RunResult;
  readonly history: HistoryEvent[];
  readonly commits: number;
  /** The kinds of the events of each commit. */
  readonly commitKinds: readonly (readonly string[])[];
  readonly completions: readonly string[];
}

/** Runs the workflow once, start to end, on a fresh test engine. */
async function runOnce(spec: WorkflowSpec, schedules: TaskSchedules, order?: CompletionOrder): Promise<Completed> {
  const te = createTestEngine({ ...engineOf(spec), ...(order ? { order: order.chooser() } : {}) });
  try {
    await prepare(spec, schedules, te);
    const h = te.start(startOptions(spec, 'run-1'));
    const result = await te.runToCompletion(h);
    return { result, history: te.history(h.runId), commits: te.commits, commitKinds: te.commitLog.map((c) => c.kinds), completions: [...te.completions] };
  } finally {
    await te.dispose();
  }
}

function stepResults(history: readonly HistoryEvent[]): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const e of history) if (e.kind === 'TaskCompleted') out.set(e.stepId, e.result);
  return out;
}

/** The first difference between two runs' outcomes and step results, or undefined. */
function difference(spec: WorkflowSpec, want: Completed | { result: RunResult; history: readonly HistoryEvent[] }, got: { result: RunResult; history: readonly HistoryEvent[] }, labels: [string, string]): string | undefined {
  const norm = spec.normalize ?? defaultNormalize;
  const a = norm(want.result);
  const b = norm(got.result);
  if (canonicalJson(a) !== canonicalJson(b)) {
    return [`  the outcomes differ:`, `    ${labels[0].padEnd(14)} ${brief(a, 400)}`, `    ${labels[1].padEnd(14)} ${brief(b, 400)}`].join('\n');
  }
  if (spec.compareSteps === false) return undefined;
  const sa = stepResults(want.history);
  const sb = stepResults(got.history);
  for (const [step, v] of sa) {
    if (!sb.has(step)) return `  step ${step} completed in the ${labels[0]} run but not in the ${labels[1]} run`;
    if (canonicalJson(v) !== canonicalJson(sb.get(step)!)) {
      return [`  the results of step ${step} differ:`, `    ${labels[0].padEnd(14)} ${brief(v, 300)}`, `    ${labels[1].padEnd(14)} ${brief(sb.get(step), 300)}`].join('\n');
    }
  }
  for (const step of sb.keys()) if (!sa.has(step)) return `  step ${step} completed in the ${labels[1]} run but not in the ${labels[0]} run`;
  return undefined;
}

function fail(property: string, spec: WorkflowSpec, schedules: TaskSchedules, details: string[], history: readonly HistoryEvent[], historyLabel: string): never {
  throw new WorkflowPropertyError(
    property,
    [`property "${property}" does not hold`, header(spec, schedules), ...details, `  history (${historyLabel}):`, formatHistory(history)].join('\n'),
    history,
  );
}

const noSchedules = fc.constant<TaskSchedules>({});

function engineOf(spec: WorkflowSpec): TestEngineOptions {
  return { store: spec.store ?? 'memory', ...(spec.engineOptions ? { engineOptions: spec.engineOptions } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Replay of any prefix

/** The command events a history records after position `k`, up to its next activation. */
function recordedNext(history: readonly HistoryEvent[], k: number): HistoryEvent[] {
  const next: HistoryEvent[] = [];
  for (let i = k; i < history.length; i++) {
    const e = history[i]!;
    if (ACTIVATION_KINDS.has(e.kind)) break;
    if (COMMAND_EVENT_KINDS.has(e.kind)) next.push(e);
  }
  return next;
}

/**
 * Feeds `history` to a fresh machine, checking the calls; calls `atPrefix(k, pending)` after each
 * of the first `upTo` events (or only after the last, when `every` is false). Returns a problem or undefined.
 */
function walk(bundle: ReturnType<typeof loadScript>, history: readonly HistoryEvent[], upTo: number, every: boolean, atPrefix: (k: number, pending: readonly Command[]) => string | undefined): string | undefined {
  const canonical = (v: Json): string => canonicalJson(v);
  const machine = new WorkflowMachine(bundle);
  const queue: Command[] = [];
  for (let i = 0; i < upTo; i++) {
    const e = history[i]!;
    if (COMMAND_EVENT_KINDS.has(e.kind)) {
      const c = queue.shift();
      if (!c || !commandMatchesEvent(c, e, canonical)) {
        return `replaying events 1..${upTo}: at event ${e.seq} the history records ${describeEvent(e)}, but the script ${c ? `makes ${describeCommand(c)}` : 'makes no call'}`;
      }
    } else if (ACTIVATION_KINDS.has(e.kind)) {
      try {
        queue.push(...machine.activate(e));
      } catch (err) {
        return `replaying events 1..${upTo}: event ${e.seq} (${e.kind}) raised ${(err as Error).message}`;
      }
    }
    if (every || i === upTo - 1) {
      const problem = atPrefix(i + 1, queue);
      if (problem) return problem;
    }
  }
  return undefined;
}

/**
 * Checks one history: after every prefix, the script's pending calls are exactly the calls the
 * history records next (up to the next activation). Every prefix is checked on one machine, and up
 * to `freshPrefixes` prefixes (spread over the history, all of them for a short one) each on a
 * fresh machine, as a recovering engine would replay them. Returns the first failure, or undefined.
 */
export function checkReplayPrefixes(script: ScriptInput, history: readonly HistoryEvent[], { freshPrefixes = 24 } = {}): string | undefined {
  const bundle = loadScript(script);
  const canonical = (v: Json): string => canonicalJson(v);
  const compare = (k: number, pending: readonly Command[]): string | undefined => {
    const next = recordedNext(history, k);
    const n = Math.max(next.length, pending.length);
    for (let j = 0; j < n; j++) {
      const c = pending[j];
      const e = next[j];
      if (!c || !e || !commandMatchesEvent(c, e, canonical)) {
        return `after replaying events 1..${k} (last: ${history[k - 1]!.kind}), the script's call #${j + 1} is ${c ? describeCommand(c) : 'none'}, but the history records ${e ? `${describeEvent(e)} (event ${e.seq})` : 'none'}`;
      }
    }
    return undefined;
  };
  const n = history.length;
  const points = new Set<number>();
  if (n <= freshPrefixes) for (let k = 1; k <= n; k++) points.add(k);
  else for (let i = 0; i < freshPrefixes; i++) points.add(1 + Math.round((i * (n - 1)) / (freshPrefixes - 1)));
  for (const k of [...points].sort((a, b) => a - b)) {
    const problem = walk(bundle, history, k, false, compare);
    if (problem) return problem;
  }
  return walk(bundle, history, n, true, compare);
}

/**
 * "Replay of any prefix reproduces the commands": for drawn schedules (and completion orders),
 * runs the workflow, then replays every prefix of its history and checks that the script makes
 * exactly the calls recorded next.
 */
export function replayPrefixProperty(spec: WorkflowSpec): fc.IAsyncPropertyWithHooks<[TaskSchedules, CompletionOrder]> {
  const name = 'replay of any prefix reproduces the commands';
  return fc.asyncProperty(spec.schedules ?? noSchedules, completionOrder(), async (schedules, order) => {
    const run = await runOnce(spec, schedules, order);
    const problem = checkReplayPrefixes(spec.script, run.history);
    if (problem) fail(name, spec, schedules, [`  completion order: ${run.completions.join(', ')}`, `  ${problem}`], run.history, 'the run');
  });
}

// ---------------------------------------------------------------------------------------------
// Crash and recover

/** Facts about a crash-and-recover case, for statistics (`onCase`). */
export interface CrashCase {
  readonly commit: number;
  readonly commits: number;
  readonly lost: readonly string[];
}

/**
 * "Crash at any point and recover gives the uninterrupted result": for drawn schedules and a drawn
 * crash point (a commit of the run), the run crashes there (the commit fails, the process dies with
 * its in-flight work), a new engine recovers it, and it must end as the uninterrupted run does, with
 * the same completed steps' results; no step whose completion was committed before the crash may
 * run again. Task side effects that are not idempotent by `ctx.idempotencyKey` show up here.
 */
export function crashRecoveryProperty(spec: WorkflowSpec & { readonly onCase?: (c: CrashCase) => void }): fc.IAsyncPropertyWithHooks<[TaskSchedules, CrashPoint]> {
  const name = 'crash at any point and recover gives the uninterrupted result';
  return fc.asyncProperty(spec.schedules ?? noSchedules, crashPoint(), async (schedules, point) => {
    const want = await runOnce(spec, schedules);
    const commit = point.commitOf(want.commitKinds);
    const te = createTestEngine({ ...engineOf(spec), crashAtCommit: commit });
    try {
      await prepare(spec, schedules, te);
      const h = te.start(startOptions(spec, 'run-1'));
      await te.runUntilIdle();
      const crash = te.crashed;
      const lost = crash ? crash.lost.map((e) => ('stepId' in e ? `${e.kind} ${e.stepId}` : e.kind)) : [];
      spec.onCase?.({ commit, commits: want.commits, lost });
      const committedBefore = stepResults(te.history(h.runId));
      const before = te.history(h.runId).length;
      te.restart();
      const result = await te.runToCompletion(h.runId);
      const history = te.history(h.runId);
      const crashLine = `  crash: at commit ${commit} of ${want.commits}${crash ? `, after event ${before} (${history[before - 1]?.kind ?? '-'}); the lost commit held: ${lost.join(', ') || '(nothing)'}` : ' (the run ended before it: no crash)'}`;
      const diff = difference(spec, want, { result, history }, ['uninterrupted:', 'recovered:']);
      if (diff) fail(name, spec, schedules, [crashLine, diff], history, 'the crashed and recovered run');
      const again = te.attempts.filter((a) => a.generation > 0 && committedBefore.has(a.stepId));
      if (again.length > 0) {
        fail(name, spec, schedules, [crashLine, `  step ${again[0]!.stepId} ran again after recovery (attempt ${again[0]!.attempt}), though its completion was committed before the crash`], history, 'the crashed and recovered run');
      }
    } finally {
      await te.dispose();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Completion order

/**
 * "The result is independent of the completion order of concurrent tasks": for drawn schedules,
 * runs the workflow with attempts completing in submission order (FIFO) and in a drawn order, and
 * compares the outcomes (and completed steps' results). A workflow whose result depends on which
 * concurrent task finishes first (a shared list appended to by `run(...)` coroutines, a task with
 * shared state) fails it.
 */
export function completionOrderProperty(spec: WorkflowSpec): fc.IAsyncPropertyWithHooks<[TaskSchedules, CompletionOrder]> {
  const name = 'the result is independent of the completion order of concurrent tasks';
  return fc.asyncProperty(spec.schedules ?? noSchedules, completionOrder(), async (schedules, order) => {
    const want = await runOnce(spec, schedules, { choices: [], chooser: () => () => 0 });
    const got = await runOnce(spec, schedules, order);
    const diff = difference(spec, want, got, ['FIFO order:', 'drawn order:']);
    if (diff) {
      fail(name, spec, schedules, [`  FIFO completion order:  ${want.completions.join(', ')}`, `  drawn completion order: ${got.completions.join(', ')} (choices [${order.choices.join(', ')}])`, diff], got.history, 'the run in the drawn order');
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Cached and uncached runs

/** Facts about a cache case, for statistics (`onCase`): how many steps the warm run took from the cache. */
export interface CacheCase {
  readonly cacheHits: number;
  readonly steps: number;
}

/**
 * "Cached and uncached runs agree": for drawn schedules, runs the workflow on a fresh engine (every
 * task executes), then again in a fresh world (new task registrations) on the same store and
 * engine options, where tasks declared with `cache=True` may be served from the cache, and compares
 * the outcomes. `onCase` reports the cache hits of the cached run; with none (no cacheable task, or
 * an engine without a task cache) the property holds trivially.
 */
export function cacheAgreementProperty(spec: WorkflowSpec & { readonly onCase?: (c: CacheCase) => void }): fc.IAsyncPropertyWithHooks<[TaskSchedules]> {
  const name = 'cached and uncached runs agree';
  return fc.asyncProperty(spec.schedules ?? noSchedules, async (schedules) => {
    // Both engines share one task cache (and blob store) unless the spec brings its own.
    const shared = { cacheIndex: spec.engineOptions?.cacheIndex ?? new MemoryCacheIndex(), blobs: spec.engineOptions?.blobs ?? new MemoryBlobStore() };
    const withCache = { ...engineOf(spec), engineOptions: { ...spec.engineOptions, ...shared } };
    const te = createTestEngine(withCache);
    // The cached run gets a fresh world (its own task registrations and their state) on the same
    // store and engine options, so it sees the cache the uncached run filled.
    const te2 = createTestEngine({ ...withCache, store: te.store });
    try {
      await prepare(spec, schedules, te);
      const cold = await te.runToCompletion(te.start(startOptions(spec, 'run-cold')));
      const coldHistory = te.history('run-cold');
      await prepare(spec, schedules, te2);
      const warm = await te2.runToCompletion(te2.start(startOptions(spec, 'run-warm')));
      const warmHistory = te2.history('run-warm');
      const hits = warmHistory.filter((e) => e.kind === 'TaskCompleted' && e.source === 'cache').length;
      spec.onCase?.({ cacheHits: hits, steps: warmHistory.filter((e) => e.kind === 'TaskScheduled').length });
      const diff = difference({ ...spec, compareSteps: false }, { result: cold, history: coldHistory }, { result: warm, history: warmHistory }, ['uncached:', 'cached:']);
      if (diff) fail(name, spec, schedules, [`  cache hits in the cached run: ${hits}`, diff], warmHistory, 'the cached run');
    } finally {
      await te2.dispose();
      await te.dispose();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Running properties

/** Parameters of `assertProperty` (fast-check's, with fewer runs by default). */
export type PropertyParameters = fc.Parameters<unknown> & { readonly numRuns?: number };

/**
 * Checks a property with fast-check and, if it fails, throws an Error holding the shrunk
 * counterexample as a readable schedule, what differed and the history, plus the seed and path to
 * replay it (`fc.assert(prop, { seed, path })`).
 * @throws Error describing the shrunk counterexample
 */
export async function assertProperty<Ts extends unknown[]>(property: fc.IAsyncPropertyWithHooks<Ts> | fc.IAsyncProperty<Ts>, params: PropertyParameters = {}): Promise<void> {
  const out = await fc.check(property as fc.IAsyncProperty<Ts>, { numRuns: 30, ...(params as fc.Parameters<Ts>) });
  if (!out.failed) return;
  const err = out.errorInstance;
  const what = err instanceof WorkflowPropertyError ? err.message : err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
  throw new Error(
    [
      `Property failed after ${out.numRuns} case(s) and ${out.numShrinks} shrink(s) (reproduce with { seed: ${out.seed}, path: ${JSON.stringify(out.counterexamplePath)} })`,
      `Shrunk counterexample: ${out.counterexample ? out.counterexample.map((v) => fc.stringify(v)).join(', ') : '-'}`,
      '',
      what,
    ].join('\n'),
    { cause: err },
  );
}

/** Which ready-made properties `assertWorkflowProperties` checks. */
export type PropertyName = 'replay' | 'crash' | 'order' | 'cache';

/**
 * Checks the ready-made properties of a workflow (all four by default), one after the other.
 * @throws Error describing the first property that fails, with its shrunk counterexample
 */
export async function assertWorkflowProperties(spec: WorkflowSpec, params: PropertyParameters & { readonly properties?: readonly PropertyName[] } = {}): Promise<void> {
  const which = params.properties ?? ['replay', 'crash', 'order', 'cache'];
  const { properties: _ignored, ...fcParams } = params;
  for (const p of which) {
    switch (p) {
      case 'replay':
        await assertProperty(replayPrefixProperty(spec), fcParams);
        break;
      case 'crash':
        await assertProperty(crashRecoveryProperty(spec), fcParams);
        break;
      case 'order':
        await assertProperty(completionOrderProperty(spec), fcParams);
        break;
      case 'cache':
        await assertProperty(cacheAgreementProperty(spec), fcParams);
        break;
    }
  }
}
