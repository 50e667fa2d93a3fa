/**
 * This file defines `larkflow history RUN`: a run's events, one per line (seq, time, kind and the
 * fields that matter), or the raw events as a JSON array with `--json`.
 */
import type { HistoryEvent } from '../../engine/index.js';
import { brief, duration, iso, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { openRunView } from '../shared-read.js';

export interface HistoryOptions extends EngineCliOptions {
  readonly json?: boolean;
}

/** The fields of an event that matter, as `key=value` text. */
export function describe(e: HistoryEvent): string {
  switch (e.kind) {
    case 'RunStarted':
      return [
        `run=${e.runId}`,
        `workflow=${e.workflow}`,
        `file=${e.file}`,
        `script=${e.scriptDigest.slice(0, 12)}`,
        `args=${brief(e.args, 60)}`,
        `kwargs=${brief(e.kwargs, 60)}`,
        ...(e.parent ? [`parent=${e.parent.runId}/${e.parent.stepId}`] : []),
        ...(e.resumedFrom ? [`resumedFrom=${e.resumedFrom.runId}${e.resumedFrom.fromStep ? `@${e.resumedFrom.fromStep}` : ''}`] : []),
      ].join(' ');
    case 'TaskScheduled':
      return [
        `step=${e.stepId}`,
        `task=${e.task}`,
        `at=${e.callSite.file}:${e.callSite.line}`,
        `executor=${e.executor}`,
        `args=${brief(e.args, 60)}`,
        ...(Object.keys(e.kwargs).length > 0 ? [`kwargs=${brief(e.kwargs, 60)}`] : []),
        ...(e.inputsFrom.length > 0 ? [`inputsFrom=${e.inputsFrom.map((o) => `${o.arg}<-${o.step}`).join(',')}`] : []),
      ].join(' ');
    case 'AttemptStarted':
      return `step=${e.stepId} attempt=${e.attempt} executor=${e.executor} handle=${e.handle}${e.logs ? ` logs=${e.logs}` : ''}`;
    case 'AttemptHeartbeat':
      return `step=${e.stepId} attempt=${e.attempt} details=${brief(e.details, 80)}`;
    case 'AttemptSubmitted':
      return `step=${e.stepId} attempt=${e.attempt} executor=${e.executor} job=${e.backendId}${e.backendUid ? ` uid=${e.backendUid}` : ''}`;
    case 'AttemptFailed':
      return `step=${e.stepId} attempt=${e.attempt} error=[${e.error.kind}] ${e.error.message}`;
    case 'RetryScheduled':
      return `step=${e.stepId} attempt=${e.attempt} fireAt=${iso(e.fireAt)} (in ${duration(e.fireAt - e.at)})`;
    case 'TaskCompleted':
      return `step=${e.stepId} attempt=${e.attempt} source=${e.source}${e.durationMs !== undefined ? ` duration=${duration(e.durationMs)}` : ''} result=${brief(e.result, 80)}`;
    case 'TaskFailed':
      return `step=${e.stepId} error=[${e.error.kind}] ${e.error.message}`;
    case 'TimerStarted':
      return `step=${e.stepId} duration=${duration(e.durationMs)} fireAt=${iso(e.fireAt)} at=${e.callSite.file}:${e.callSite.line}`;
    case 'TimerFired':
      return `step=${e.stepId}`;
    case 'ChildRunStarted':
      return `step=${e.stepId} child=${e.childRunId} workflow=${e.workflow} at=${e.callSite.file}:${e.callSite.line}`;
    case 'ChildRunCompleted':
      return `step=${e.stepId} result=${brief(e.result, 80)}`;
    case 'ChildRunFailed':
      return `step=${e.stepId} error=[${e.error.kind}] ${e.error.message}`;
    case 'ProgressReported':
      return `message=${JSON.stringify(e.message)}`;
    case 'CancelRequested':
      return `reason=${JSON.stringify(e.reason)}`;
    case 'NondeterminismDetected':
      return `${e.stepId ? `step=${e.stepId} ` : ''}${e.message}`;
    case 'RunCompleted':
      return `result=${brief(e.result, 100)}`;
    case 'RunFailed':
      return `error=[${e.error.kind}] ${e.error.message}`;
    case 'RunCancelled':
      return `reason=${JSON.stringify(e.reason)}`;
    default:
      return brief(e, 100);
  }
}

export async function historyCommand(runArg: string, opts: HistoryOptions, io: CliIo): Promise<number> {
  // A SQLite file or a shared database (PostgreSQL): the same engine reads either way.
  const view = await openRunView(opts, runArg);
  try {
    const { engine, runId } = view;
    const events = engine.history(runId);
    if (opts.json) {
      io.out(JSON.stringify(events, null, 2) + '\n');
      return 0;
    }
    const w = Math.max(...events.map((e) => e.kind.length));
    const sw = String(events[events.length - 1]!.seq).length;
    for (const e of events) io.out(`${String(e.seq).padStart(sw)}  ${iso(e.at)}  ${e.kind.padEnd(w)}  ${describe(e)}\n`);
    return 0;
  } finally {
    await view.close();
  }
}
