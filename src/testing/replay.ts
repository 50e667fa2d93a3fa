/**
 * This file defines offline replay for users' tests and CI: `replayHistory(script, history)` and
 * `replayHistories(script, histories)` replay recorded histories (exported with
 * `larkflow history RUN --json`, or read from a database) against the current script, and report
 * every way the script now differs from what was recorded:
 *
 * - calls: each call the script makes must be the recorded one, in the same order, with the same
 *   arguments (as the engine's own replay checks). A mismatch names the step, the recorded and the
 *   new call, and the file:line of both.
 * - the final result (or failure) of an ended run.
 * - completed steps' results. Replay feeds every step its *recorded* result, so a step executed by
 *   someone else (a JS task, a process) is checked only through what the workflow does with it.
 *   What the script itself computes can be re-derived: the result of every `@task` step whose body
 *   is Starlark is recomputed with the new script from the recorded arguments and compared with the
 *   recorded one; so is the result of every JS task given in `options.tasks` (deterministic tasks).
 */
import { existsSync, readFileSync } from 'node:fs';
import '../stdlib/index.js';
import { EvalError, Thread, utf8Encode, type Value } from '../interpreter/index.js';
import { canonicalJson } from '../util/hash.js';
import { COMMAND_EVENT_KINDS, commandMatchesEvent, describeCommand, describeEvent, type Command } from '../engine/core/commands.js';
import { isTerminal, type CallSite, type HistoryEvent, type RunStarted, type RunStatus, type TaskScheduled } from '../engine/core/events.js';
import type { Json } from '../engine/core/json.js';
import { replayAgainst } from '../engine/engine.js';
import { collectScript, fromFiles } from '../engine/script.js';
import { openSqliteStore } from '../engine/store/index.js';
import { fromHistory, toHistory } from '../engine/workflow/convert.js';
import { WorkflowMachine, type ScriptBundle } from '../engine/workflow/machine.js';
import { ACTIVATION_KINDS } from '../engine/workflow/replay.js';

/** A workflow script: a file path (files it loads are read too), or sources in memory. */
export type ScriptInput = string | { readonly name: string; readonly text: string; readonly files?: Readonly<Record<string, string>> };

/** A recorded history: its events, or the path of a JSON file written by `larkflow history RUN --json`. */
export type HistoryInput = readonly HistoryEvent[] | string;

/** Recorded runs read from a database. */
export interface DatabaseHistories {
  /** The SQLite database (e.g. `.larkflow/larkflow.db`). */
  readonly db: string;
  /** Only runs whose recorded workflow file has this name (the file name, e.g. `pipeline.star`). */
  readonly file?: string;
  /** Only runs of this @workflow() function. */
  readonly workflow?: string;
  /** Only runs started at or after this time (ms since the epoch, or a Date). */
  readonly since?: number | Date;
  /** Only runs with this status. */
  readonly status?: RunStatus;
  /** Include child runs (started by another run). @default true */
  readonly children?: boolean;
}

/** What differs. */
export type MismatchKind =
  /** The script makes a different call than the recorded one. */
  | 'call'
  /** The history records a call the script no longer makes. */
  | 'missing-call'
  /** The script makes a call the ended run never made. */
  | 'extra-call'
  /** The run's final result (or failure) differs. */
  | 'result'
  /** A completed step's recorded result differs from what the script (or the given task) computes now. */
  | 'step-result'
  /** The script fails to load or raises an error where the recorded run did not. */
  | 'error';

/** One difference between a recorded history and the current script. */
export interface ReplayMismatch {
  readonly kind: MismatchKind;
  /** The whole story, for people: step, recorded and new call, file:line. */
  readonly message: string;
  readonly stepId?: string;
  /** The step of the recorded event, when it differs from `stepId` (the script now makes another step there). */
  readonly recordedStepId?: string;
  /** The recorded call (or result), described. */
  readonly recorded?: string;
  /** The call (or result) the script makes now, described. */
  readonly now?: string;
  /** Where the script makes the new call (file:line). */
  readonly site?: CallSite;
  /** Where the recorded call was made. */
  readonly recordedSite?: CallSite;
  /** The recorded event's position in the history. */
  readonly seq?: number;
  /** For a call with changed arguments: the first argument that differs, e.g. `args[0].lr: recorded 0.05, now 0.1`. */
  readonly argumentsDiffer?: string;
  /** For results: the recorded value and the new one. */
  readonly recordedValue?: Json;
  readonly newValue?: Json;
}

/** The outcome of replaying one history. */
export interface HistoryReplayReport {
  readonly runId: string;
  readonly workflow: string;
  readonly ok: boolean;
  /** Events in the history. */
  readonly events: number;
  /** Whether the recorded run had ended. */
  readonly ended: boolean;
  readonly mismatches: readonly ReplayMismatch[];
  /** For a run in flight: the calls the script would add on recovery (new work, not a mismatch). */
  readonly pending: readonly string[];
  /** Completed steps whose result was recomputed and compared. */
  readonly checkedSteps: readonly string[];
}

/** The outcome of replaying several histories. */
export interface ReplaySummary {
  readonly ok: boolean;
  readonly reports: readonly HistoryReplayReport[];
  /** Every mismatch, with the run it belongs to. */
  readonly mismatches: readonly (ReplayMismatch & { readonly runId: string })[];
}

/** Options of `replayHistory`. */
export interface ReplayHistoryOptions {
  /**
   * Deterministic JS task implementations to re-check: for every completed step of these tasks the
   * function is called with the recorded arguments (kwargs as a last object) and its result is
   * compared with the recorded one.
   */
  readonly tasks?: Readonly<Record<string, (...args: never[]) => unknown>>;
  /** Recompute the results of Starlark `@task` steps with the new script. @default true */
  readonly starlarkSteps?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Inputs

/** The bundle of a script input. */
export function loadScript(script: ScriptInput): ScriptBundle {
  if (typeof script === 'string') return collectScript(script).bundle;
  return fromFiles(script.name, new Map([[script.name, script.text], ...Object.entries(script.files ?? {})])).bundle;
}

/**
 * Reads a history: events as given, or a JSON file (an array of events, as `larkflow history RUN
 * --json` prints, or an object with an `events` or `history` array).
 * @throws Error if the file cannot be read or is not a history
 */
export function loadHistory(history: HistoryInput): HistoryEvent[] {
  let events: unknown = history;
  let where = 'history';
  if (typeof history === 'string') {
    where = history;
    let text: string;
    try {
      text = readFileSync(history, 'utf8');
    } catch (e) {
      throw new Error(`cannot read history ${history}: ${(e as Error).message}`);
    }
    try {
      events = JSON.parse(text) as unknown;
    } catch (e) {
      throw new Error(`history ${history} is not JSON: ${(e as Error).message}`);
    }
    if (events !== null && typeof events === 'object' && !Array.isArray(events)) {
      const o = events as { events?: unknown; history?: unknown };
      events = o.events ?? o.history;
    }
  }
  if (!Array.isArray(events) || events.length === 0) throw new Error(`${where}: not a history (want a non-empty array of events, as larkflow history RUN --json prints)`);
  const first = events[0] as { kind?: unknown };
  if (first?.kind !== 'RunStarted') throw new Error(`${where}: a history starts with a RunStarted event, not ${String(first?.kind)}`);
  events.forEach((e, i) => checkEvent(where, e, i));
  return events as HistoryEvent[];
}

/** The fields each recorded command event must have for replay to compare it. */
const REQUIRED: Record<string, readonly string[]> = {
  RunStarted: ['runId', 'workflow', 'args', 'kwargs', 'seed'],
  TaskScheduled: ['stepId', 'task', 'args', 'kwargs', 'argsDigest', 'callSite'],
  TaskCompleted: ['stepId', 'result'],
  TaskFailed: ['stepId', 'error'],
  TimerStarted: ['stepId', 'durationMs'],
  TimerFired: ['stepId'],
  ChildRunStarted: ['stepId', 'workflow'],
  ChildRunCompleted: ['stepId', 'result'],
  ChildRunFailed: ['stepId', 'error'],
  RunFailed: ['error'],
  ProgressReported: ['message'],
};

/** Checks one event of a history read from outside; throws a clear error naming it. */
function checkEvent(where: string, e: unknown, i: number): void {
  if (e === null || typeof e !== 'object' || Array.isArray(e)) throw new Error(`${where}: event ${i + 1} is not an object`);
  const ev = e as Record<string, unknown>;
  if (typeof ev.kind !== 'string') throw new Error(`${where}: event ${i + 1} has no kind`);
  if (typeof ev.seq !== 'number') throw new Error(`${where}: event ${i + 1} (${ev.kind}) has no numeric seq`);
  for (const f of REQUIRED[ev.kind] ?? []) {
    if (ev[f] === undefined) throw new Error(`${where}: event ${ev.seq} (${ev.kind}) lacks '${f}'`);
  }
}

/** Reads the recorded histories of a database, oldest run first. */
export function readHistories(source: DatabaseHistories): HistoryEvent[][] {
  if (!existsSync(source.db)) throw new Error(`no database at ${source.db}`);
  const store = openSqliteStore(source.db);
  try {
    const since = source.since instanceof Date ? source.since.getTime() : source.since;
    const runs = store
      .listRuns({ ...(source.status ? { status: source.status } : {}), ...(source.workflow ? { workflow: source.workflow } : {}), ...(since !== undefined ? { since } : {}) })
      .filter((r) => (source.file === undefined || baseName(r.file) === baseName(source.file)) && (source.children !== false || r.parentRunId === undefined))
      .reverse();
    return runs.map((r) => store.history(r.runId));
  } finally {
    store.close();
  }
}

function baseName(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}

// ---------------------------------------------------------------------------------------------
// Replay

function at(site: CallSite | undefined): string {
  return site ? ` at ${site.file}:${site.line}` : '';
}

function briefJson(v: unknown, max = 200): string {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

function stepOfEvent(e: HistoryEvent): string | undefined {
  return 'stepId' in e ? e.stepId : undefined;
}

function siteOfEvent(e: HistoryEvent | undefined): CallSite | undefined {
  return e && 'callSite' in e ? e.callSite : undefined;
}

function siteOfCommand(c: Command): CallSite | undefined {
  return 'callSite' in c ? c.callSite : undefined;
}

/** Replays the calls; returns the machine (for recomputing steps) and what differed. */
function replayCalls(bundle: ScriptBundle, history: readonly HistoryEvent[]): { machine: WorkflowMachine; mismatch?: ReplayMismatch; pending: Command[] } {
  const machine = new WorkflowMachine(bundle);
  const queue: Command[] = [];
  const canonical = (v: Json): string => canonicalJson(v);
  const scheduled = new Map<string, HistoryEvent>();
  for (const e of history) {
    if (e.kind === 'TaskScheduled' || e.kind === 'TimerStarted' || e.kind === 'ChildRunStarted') scheduled.set(e.stepId, e);
    if (COMMAND_EVENT_KINDS.has(e.kind)) {
      const c = queue.shift();
      const stepId = stepOfEvent(e);
      if (!c) {
        const recordedSite = siteOfEvent(e);
        return {
          machine,
          pending: [],
          mismatch: {
            kind: 'missing-call',
            message: `nondeterminism${stepId ? ` at step ${stepId}` : ''}: history records ${describeEvent(e)} (event ${e.seq}${recordedSite ? `, made${at(recordedSite)}` : ''}), but the script made no such call`,
            ...(stepId ? { stepId } : {}),
            recorded: describeEvent(e),
            ...(recordedSite ? { recordedSite } : {}),
            seq: e.seq,
          },
        };
      }
      if (!commandMatchesEvent(c, e, canonical)) {
        const step = ('stepId' in c ? c.stepId : undefined) ?? stepId;
        const site = siteOfCommand(c);
        const recordedSite = siteOfEvent(e) ?? (step ? siteOfEvent(scheduled.get(step)) : undefined);
        const isResult = (c.kind === 'CompleteRun' || c.kind === 'FailRun') && (e.kind === 'RunCompleted' || e.kind === 'RunFailed');
        const differ = argumentsDiffer(e, c);
        return {
          machine,
          pending: [],
          mismatch: {
            kind: isResult ? 'result' : c.kind === 'FailRun' ? 'error' : 'call',
            message: `nondeterminism${step ? ` at step ${step}` : ''}${at(site)}: history records ${describeEvent(e)} (event ${e.seq}${recordedSite && at(recordedSite) !== at(site) ? `, made${at(recordedSite)}` : ''}), but the script now makes ${describeCommand(c)}${differ ? ` (${differ})` : ''}`,
            ...(differ ? { argumentsDiffer: differ } : {}),
            ...(step ? { stepId: step } : {}),
            ...(stepId && stepId !== step ? { recordedStepId: stepId } : {}),
            recorded: describeEvent(e) + argsText(e),
            now: describeCommand(c) + argsText(c),
            ...(site ? { site } : {}),
            ...(recordedSite ? { recordedSite } : {}),
            seq: e.seq,
            ...(e.kind === 'RunCompleted' ? { recordedValue: e.result } : {}),
            ...(c.kind === 'CompleteRun' ? { newValue: c.result } : {}),
          },
        };
      }
    } else if (ACTIVATION_KINDS.has(e.kind)) {
      try {
        queue.push(...machine.activate(e));
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        return { machine, pending: [], mismatch: { kind: 'error', message: `the script fails to replay event ${e.seq} (${e.kind}): ${msg}`, seq: e.seq } };
      }
    }
  }
  if (history.some(isTerminal) && queue.length > 0) {
    const c = queue[0]!;
    const step = 'stepId' in c ? c.stepId : undefined;
    const site = siteOfCommand(c);
    return {
      machine,
      pending: [],
      mismatch: {
        kind: 'extra-call',
        message: `nondeterminism${step ? ` at step ${step}` : ''}${at(site)}: the script now makes ${describeCommand(c)}, which the recorded run (ended at event ${history.length}) never made`,
        ...(step ? { stepId: step } : {}),
        now: describeCommand(c),
        ...(site ? { site } : {}),
      },
    };
  }
  return { machine, pending: queue };
}

type CallLike = { readonly args: readonly Json[]; readonly kwargs: { readonly [k: string]: Json } };

function callOf(x: HistoryEvent | Command): CallLike | undefined {
  return x.kind === 'TaskScheduled' || x.kind === 'ScheduleTask' || x.kind === 'ChildRunStarted' || x.kind === 'StartChildRun' ? x : undefined;
}

/** The arguments of a recorded or new call when they are short: ` args=["a"] kwargs={"k":1}`. */
function argsText(x: HistoryEvent | Command): string {
  const c = callOf(x);
  if (!c) return '';
  const text = ` args=${JSON.stringify(c.args)}${Object.keys(c.kwargs).length > 0 ? ` kwargs=${JSON.stringify(c.kwargs)}` : ''}`;
  return text.length <= 120 ? text : '';
}

/** The first place where two JSON values differ: `[path, a, b]`, or undefined if equal. */
function firstDifference(a: Json | undefined, b: Json | undefined, path: string): [string, Json | undefined, Json | undefined] | undefined {
  if (canonicalJson(a ?? null) === canonicalJson(b ?? null) && (a === undefined) === (b === undefined)) return undefined;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const d = firstDifference(a[k], b[k], `${path}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return [path, a, b];
}

/** Where the arguments of the same task's recorded and new call differ, for people. */
function argumentsDiffer(e: HistoryEvent, c: Command): string | undefined {
  const r = callOf(e);
  const n = callOf(c);
  if (!r || !n) return undefined;
  const d = firstDifference(r.args as Json[], n.args as Json[], 'args') ?? firstDifference(r.kwargs as Json, n.kwargs as Json, 'kwargs');
  if (!d) return undefined;
  const show = (v: Json | undefined): string => (v === undefined ? '(missing)' : briefJson(v, 80));
  return `${d[0]}: recorded ${show(d[1])}, now ${show(d[2])}`;
}

function sameJson(a: Json, b: Json): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** Recomputes completed steps' results (Starlark bodies with the new script; given JS tasks). */
async function recheckSteps(machine: WorkflowMachine, history: readonly HistoryEvent[], options: ReplayHistoryOptions): Promise<{ checked: string[]; mismatches: ReplayMismatch[] }> {
  const checked: string[] = [];
  const mismatches: ReplayMismatch[] = [];
  const scheduled = new Map<string, TaskScheduled>();
  for (const e of history) {
    if (e.kind === 'TaskScheduled') scheduled.set(e.stepId, e);
    if (e.kind !== 'TaskCompleted') continue;
    const s = scheduled.get(e.stepId);
    if (!s) continue;
    let now: Json;
    /** The step's task now fails where the run recorded a result. */
    const nowFails = (msg: string): void => {
      mismatches.push({
        kind: 'step-result',
        message: `step ${e.stepId}${at(s.callSite)}: the recorded result was ${briefJson(e.result)}, but task ${s.task} now fails: ${msg}`,
        stepId: e.stepId,
        recorded: briefJson(e.result),
        now: `failure: ${msg}`,
        recordedSite: s.callSite,
        seq: e.seq,
        recordedValue: e.result,
      });
      checked.push(e.stepId);
    };
    if (s.executor === 'starlark' && options.starlarkSteps !== false) {
      const fn = machine.starlarkTasks.get(s.task);
      if (!fn) continue; // the call check reports a renamed or removed task
      const thread = new Thread({ name: s.task, print: () => {} });
      try {
        const v = thread.call(
          fn,
          s.args.map(fromHistory),
          Object.entries(s.kwargs).map(([k, x]) => [utf8Encode(k), fromHistory(x)] as [string, Value]),
        );
        now = toHistory(v, `the result of task ${s.task}`);
      } catch (err) {
        const msg = err instanceof EvalError ? err.message : String(err);
        nowFails(msg);
        continue;
      }
    } else if (options.tasks?.[s.task]) {
      const args: unknown[] = s.args.map((a) => JSON.parse(JSON.stringify(a)) as unknown);
      if (Object.keys(s.kwargs).length > 0) args.push(JSON.parse(JSON.stringify(s.kwargs)) as unknown);
      try {
        now = JSON.parse(JSON.stringify((await (options.tasks[s.task] as (...a: unknown[]) => unknown)(...args)) ?? null)) as Json;
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        nowFails(msg);
        continue;
      }
    } else continue;
    checked.push(e.stepId);
    if (!sameJson(now, e.result)) {
      mismatches.push({
        kind: 'step-result',
        message: `step ${e.stepId}${at(s.callSite)}: task ${s.task} now computes ${briefJson(now)} from the recorded arguments, but the recorded result is ${briefJson(e.result)}`,
        stepId: e.stepId,
        recorded: briefJson(e.result),
        now: briefJson(now),
        recordedSite: s.callSite,
        seq: e.seq,
        recordedValue: e.result,
        newValue: now,
      });
    }
  }
  return { checked, mismatches };
}

/**
 * Replays one recorded history against a script and reports every difference (see the file
 * comment): the calls, the final result, and the results of the steps the script computes.
 * @example
 *   const report = await replayHistory('pipeline.star', 'histories/run-1.json');
 *   expect(report.mismatches).toEqual([]);
 * @throws Error if the history cannot be read; a script that fails to parse is reported as a mismatch
 */
export async function replayHistory(script: ScriptInput | ScriptBundle, history: HistoryInput, options: ReplayHistoryOptions = {}): Promise<HistoryReplayReport> {
  const events = loadHistory(history);
  const started = events[0] as RunStarted;
  const ended = events.some(isTerminal);
  let bundle: ScriptBundle;
  try {
    bundle = isBundle(script) ? script : loadScript(script);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return { runId: started.runId, workflow: started.workflow, ok: false, events: events.length, ended, mismatches: [{ kind: 'error', message: `cannot load the script: ${msg}` }], pending: [], checkedSteps: [] };
  }
  const { machine, mismatch, pending } = replayCalls(bundle, events);
  const mismatches: ReplayMismatch[] = [];
  if (mismatch) mismatches.push(mismatch);
  else {
    // The engine's own replay must agree (it is what blocks a run in production).
    const engineView = replayAgainst(bundle, events);
    if (!engineView.ok && engineView.mismatch) {
      const m = engineView.mismatch;
      mismatches.push({ kind: 'call', message: m.message, ...(m.stepId ? { stepId: m.stepId } : {}), ...(m.expected ? { recorded: m.expected } : {}), ...(m.actual ? { now: m.actual } : {}), ...(m.callSite ? { site: m.callSite } : {}) });
    }
  }
  const rechecked = await recheckSteps(machine, events, options);
  mismatches.push(...rechecked.mismatches);
  return {
    runId: started.runId,
    workflow: started.workflow,
    ok: mismatches.length === 0,
    events: events.length,
    ended,
    mismatches,
    pending: mismatch ? [] : pending.map(describeCommand),
    checkedSteps: rechecked.checked,
  };
}

function isBundle(x: unknown): x is ScriptBundle {
  return typeof x === 'object' && x !== null && 'main' in x && (x as { files?: unknown }).files instanceof Map;
}

/**
 * Replays many recorded histories against a script: given as events or JSON files, or read from a
 * database (`{ db, file?, workflow?, since? }`).
 * @example
 *   const summary = await replayHistories('pipeline.star', ['h/run-1.json', 'h/run-2.json']);
 *   if (!summary.ok) throw new Error(formatReplaySummary(summary));
 */
export async function replayHistories(script: ScriptInput, histories: readonly HistoryInput[] | DatabaseHistories, options: ReplayHistoryOptions = {}): Promise<ReplaySummary> {
  const list: readonly HistoryInput[] = Array.isArray(histories) ? histories : readHistories(histories as DatabaseHistories);
  let bundle: ScriptBundle | undefined;
  try {
    bundle = loadScript(script);
  } catch {
    bundle = undefined; // each report says why
  }
  const reports: HistoryReplayReport[] = [];
  for (const h of list) reports.push(await replayHistory(bundle ?? script, h, options));
  const mismatches = reports.flatMap((r) => r.mismatches.map((m) => ({ ...m, runId: r.runId })));
  return { ok: mismatches.length === 0, reports, mismatches };
}

/** One report as text: `OK run-1 (42 events)` or `MISMATCH run-1` with each mismatch. */
export function formatReplayReport(r: HistoryReplayReport): string {
  if (r.ok) {
    const extra = [r.checkedSteps.length > 0 ? `${r.checkedSteps.length} step results recomputed` : '', r.pending.length > 0 ? `in flight; would add: ${r.pending.join('; ')}` : ''].filter(Boolean);
    return `OK ${r.runId} (${r.workflow}, ${r.events} events${extra.length > 0 ? '; ' + extra.join('; ') : ''})`;
  }
  const lines = [`MISMATCH ${r.runId} (${r.workflow}, ${r.events} events)`];
  for (const m of r.mismatches) {
    lines.push(`  [${m.kind}] ${m.message}`);
    if (m.recorded !== undefined) lines.push(`    recorded: ${m.recorded}${m.recordedSite ? ` (${m.recordedSite.file}:${m.recordedSite.line})` : ''}`);
    if (m.now !== undefined) lines.push(`    now:      ${m.now}${m.site ? ` (${m.site.file}:${m.site.line})` : ''}`);
    if (m.argumentsDiffer !== undefined) lines.push(`    differs:  ${m.argumentsDiffer}`);
  }
  return lines.join('\n');
}

/** A summary as text, one report after the other. */
export function formatReplaySummary(s: ReplaySummary): string {
  const bad = s.reports.filter((r) => !r.ok).length;
  return [...s.reports.map(formatReplayReport), `${s.reports.length} histories replayed, ${bad === 0 ? 'all match' : `${bad} do not match`}`].join('\n');
}

/**
 * Replays histories and throws if any does not match, with every mismatch in the message: a
 * one-liner for a test.
 * @throws Error listing the mismatches
 */
export async function assertReplays(script: ScriptInput, histories: readonly HistoryInput[] | DatabaseHistories, options?: ReplayHistoryOptions): Promise<ReplaySummary> {
  const s = await replayHistories(script, histories, options);
  if (!s.ok) throw new Error(`recorded histories do not replay against ${typeof script === 'string' ? script : script.name}:\n${formatReplaySummary(s)}`);
  return s;
}
