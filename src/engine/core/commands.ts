/**
 * This file defines the commands a workflow emits when it is activated: imperative requests that the
 * driver turns into history events and work (tasks, timers, child runs). Replay matches each command
 * against the event recorded for it; `commandMatchesEvent` is that comparison.
 */
import type { CallSite, ErrorInfo, HistoryEvent, TaskCall } from './events.js';
import type { Json } from './json.js';

export interface ScheduleTask extends TaskCall {
  readonly kind: 'ScheduleTask';
  /** For process tasks. */
  readonly command?: readonly string[];
  /** Present when the task's results may be cached. */
  readonly cache?: { readonly version: string; readonly ttlMs: number };
  /** The task did not name an executor (it is "local", or "python" for a Python function reference): the run's default executor (RunStarted.remote) takes it. */
  readonly executorDefaulted?: boolean;
}

export interface StartTimer {
  readonly kind: 'StartTimer';
  readonly stepId: string;
  readonly durationMs: number;
  readonly callSite: CallSite;
}

export interface StartChildRun {
  readonly kind: 'StartChildRun';
  readonly stepId: string;
  readonly workflow: string;
  readonly args: readonly Json[];
  readonly kwargs: { readonly [name: string]: Json };
  readonly callSite: CallSite;
}

export interface ReportProgress {
  readonly kind: 'ReportProgress';
  readonly message: string;
}

export interface SetEvent {
  readonly kind: 'SetEvent';
  readonly key: string;
  readonly value: Json;
}

export interface CompleteUpdate {
  readonly kind: 'CompleteUpdate';
  readonly updateId: string;
  readonly name: string;
  readonly result?: Json;
  readonly error?: ErrorInfo;
}

export interface CompleteRun {
  readonly kind: 'CompleteRun';
  readonly result: Json;
}

export interface FailRun {
  readonly kind: 'FailRun';
  readonly error: ErrorInfo;
}

export interface CancelRun {
  readonly kind: 'CancelRun';
  readonly reason: string;
}

export type Command = ScheduleTask | StartTimer | StartChildRun | ReportProgress | SetEvent | CompleteUpdate | CompleteRun | FailRun | CancelRun;

/** The event kind each command is recorded as. */
export const RECORDED_AS = {
  ScheduleTask: 'TaskScheduled',
  StartTimer: 'TimerStarted',
  StartChildRun: 'ChildRunStarted',
  ReportProgress: 'ProgressReported',
  SetEvent: 'EventSet',
  CompleteUpdate: 'UpdateCompleted',
  CompleteRun: 'RunCompleted',
  FailRun: 'RunFailed',
  CancelRun: 'RunCancelled',
} as const satisfies { [K in Command['kind']]: HistoryEvent['kind'] };

/** Event kinds that record a command (the workflow's outputs). */
export const COMMAND_EVENT_KINDS: ReadonlySet<string> = new Set(Object.values(RECORDED_AS));

function describeCall(c: TaskCall): string {
  return `call of task ${c.task} as step ${c.stepId} (args digest ${c.argsDigest.slice(0, 12)})`;
}

/** A short description of a command, for nondeterminism messages. */
export function describeCommand(c: Command): string {
  switch (c.kind) {
    case 'ScheduleTask':
      return describeCall(c);
    case 'StartTimer':
      return `sleep of ${c.durationMs / 1000}s as step ${c.stepId}`;
    case 'StartChildRun':
      return `child workflow ${c.workflow} as step ${c.stepId}`;
    case 'ReportProgress':
      return `progress report ${JSON.stringify(c.message)}`;
    case 'SetEvent':
      return `events.set(${JSON.stringify(c.key)})`;
    case 'CompleteUpdate':
      return `the end of update ${c.name} (${c.updateId})`;
    case 'CompleteRun':
      return `completion with result ${JSON.stringify(c.result)}`;
    case 'FailRun':
      return `failure: ${c.error.message}`;
    case 'CancelRun':
      return 'cancellation';
  }
}

/** A short description of a recorded command event. */
export function describeEvent(e: HistoryEvent): string {
  switch (e.kind) {
    case 'TaskScheduled':
      return describeCall(e);
    case 'TimerStarted':
      return `sleep of ${e.durationMs / 1000}s as step ${e.stepId}`;
    case 'ChildRunStarted':
      return `child workflow ${e.workflow} as step ${e.stepId}`;
    case 'ProgressReported':
      return `progress report ${JSON.stringify(e.message)}`;
    case 'EventSet':
      return `events.set(${JSON.stringify(e.key)})`;
    case 'UpdateCompleted':
      return `the end of update ${e.name} (${e.updateId})`;
    case 'RunCompleted':
      return `completion with result ${JSON.stringify(e.result)}`;
    case 'RunFailed':
      return `failure: ${e.error.message}`;
    case 'RunCancelled':
      return 'cancellation';
    default:
      return e.kind;
  }
}

/** True if a recorded event is the record of this command (same kind, step, task and arguments). */
export function commandMatchesEvent(c: Command, e: HistoryEvent, canonical: (v: Json) => string): boolean {
  switch (c.kind) {
    case 'ScheduleTask':
      return e.kind === 'TaskScheduled' && e.stepId === c.stepId && e.task === c.task && e.argsDigest === c.argsDigest;
    case 'StartTimer':
      return e.kind === 'TimerStarted' && e.stepId === c.stepId && e.durationMs === c.durationMs;
    case 'StartChildRun':
      return e.kind === 'ChildRunStarted' && e.stepId === c.stepId && e.workflow === c.workflow;
    case 'ReportProgress':
      return e.kind === 'ProgressReported' && e.message === c.message;
    case 'SetEvent':
      return e.kind === 'EventSet' && e.key === c.key && canonical(e.value) === canonical(c.value);
    case 'CompleteUpdate':
      return e.kind === 'UpdateCompleted' && e.updateId === c.updateId;
    case 'CompleteRun':
      return e.kind === 'RunCompleted' && canonical(e.result) === canonical(c.result);
    case 'FailRun':
      return e.kind === 'RunFailed' && e.error.message === c.error.message;
    case 'CancelRun':
      return e.kind === 'RunCancelled';
  }
}

/** The step a command or event is about, if any. */
export function stepOf(x: Command | HistoryEvent): string | undefined {
  return 'stepId' in x ? x.stepId : undefined;
}
