/**
 * This file projects a run onto the runs list row and the run page header: status and timing from
 * the store's run record, inputs and links from its RunStarted event, progress and cache hits from
 * its counters (the store's, or counted from the history), and the result or the root failure
 * (the first step that failed for good, with its attempt, message, stack, log and call site; else
 * the workflow's own error with its Starlark traceback). A task's stack keeps the user's frames,
 * as `larkflow show` prints it (taskDetails).
 */
import type { HistoryEvent, RunRecord, RunStarted } from '../../../engine/index.js';
import type { RunCounters } from '../../../engine/core/run-counters.js';
import type { CallSiteJson, Failure, JsonValue, RunDetail, RunRow } from '../../api-types.js';
import { taskDetails } from '../../../cli/engine-options.js';
import { siteJson } from './steps.js';

/** The environment variable the pipelines set on their runs. */
const PIPELINE_ENV = 'LARKFLOW_PIPELINE';

/** What started a run, when its history says so. */
export function triggerOf(rec: Pick<RunRecord, 'idempotencyKey'>, started: RunStarted | undefined): string | undefined {
  const key = rec.idempotencyKey;
  if (key?.startsWith('trigger/')) {
    const [, pipeline, trigger] = key.split('/');
    return `trigger:${pipeline}/${trigger}`;
  }
  if (started?.resumedFrom) return 'resume';
  if (started?.parent) return 'child';
  if (started?.env.LARKFLOW_PIPELINE !== undefined) return 'pipeline';
  return undefined;
}

/** A row of the runs list. */
export function runRow(rec: RunRecord, started: RunStarted | undefined, counters: RunCounters): RunRow {
  const trigger = triggerOf(rec, started);
  const pipeline = started?.env[PIPELINE_ENV];
  return {
    runId: rec.runId,
    workflow: rec.workflow,
    file: rec.file,
    ...(pipeline !== undefined ? { pipeline } : {}),
    status: rec.status,
    startedAt: rec.startedAt,
    ...(rec.endedAt !== undefined ? { endedAt: rec.endedAt, durationMs: rec.endedAt - rec.startedAt } : {}),
    ...(started ? { scriptDigest: started.scriptDigest } : {}),
    progress: { done: counters.done, total: counters.total },
    cacheHits: counters.cacheHits,
    ...(counters.firstError ? { firstError: { ...counters.firstError } } : {}),
    ...(trigger !== undefined ? { trigger } : {}),
    lastSeq: rec.lastSeq,
  };
}

/** Shell quoting for the CLI lines the page shows. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./#-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The CLI equivalents of the page's actions. */
export function cliLines(runId: string, started: RunStarted | undefined, dbArg: string): RunDetail['cli'] {
  const db = dbArg ? ` --db ${shellQuote(dbArg)}` : '';
  const inputs = started && (started.args.length > 0 || Object.keys(started.kwargs).length > 0)
    ? ` --input ${shellQuote(JSON.stringify(started.args.length > 0 ? started.args : started.kwargs))}`
    : '';
  const workflow = started ? ` --workflow ${shellQuote(started.workflow)}` : '';
  return {
    cancel: `larkflow cancel ${runId} --reason 'REASON'${db}`,
    resume: `larkflow resume ${runId}${db}`,
    rerun: `larkflow run ${shellQuote(started?.file ?? 'FILE')}${workflow}${inputs}${db}`,
    history: `larkflow history ${runId} --json${db}`,
  };
}

/** The root failure of a run: the first step that failed for good, else the run's own error. */
export function rootFailure(history: readonly HistoryEvent[]): Failure | undefined {
  const scheduled = new Map<string, { task: string; site?: CallSiteJson; attempts: number; logs?: string }>();
  let stepFailure: Failure | undefined;
  let runError: Failure | undefined;
  let cancelled: Failure | undefined;
  for (const e of history) {
    switch (e.kind) {
      case 'TaskScheduled':
        scheduled.set(e.stepId, { task: e.task, ...(e.callSite ? { site: siteJson(e.callSite)! } : {}), attempts: 0 });
        break;
      case 'ChildRunStarted':
        scheduled.set(e.stepId, { task: e.workflow, site: siteJson(e.callSite)!, attempts: 0 });
        break;
      case 'AttemptStarted': {
        const s = scheduled.get(e.stepId);
        if (s) {
          s.attempts = Math.max(s.attempts, e.attempt);
          if (e.logs) s.logs = e.logs;
        }
        break;
      }
      case 'TaskFailed':
      case 'ChildRunFailed': {
        if (stepFailure || e.error.kind === 'cancelled') break;
        const s = scheduled.get(e.stepId);
        stepFailure = {
          message: e.error.message,
          kind: e.error.kind,
          stepId: e.stepId,
          ...(s ? { task: s.task } : {}),
          ...(s && s.attempts > 0 ? { attempt: s.attempts } : {}),
          ...(taskDetails(e.error.details) !== undefined ? { traceback: taskDetails(e.error.details)! } : {}),
          ...(s?.logs ? { log: s.logs } : {}),
          ...(s?.site ? { site: s.site } : {}),
        };
        break;
      }
      case 'RunFailed':
        runError = {
          message: e.error.message,
          kind: e.error.kind,
          ...(e.error.details !== undefined ? { traceback: e.error.details } : {}),
          ...(e.error.file !== undefined && e.error.line !== undefined ? { site: { file: e.error.file, line: e.error.line, column: e.error.column ?? 1 } } : {}),
        };
        break;
      case 'NondeterminismDetected':
        runError = {
          message: e.message,
          kind: 'nondeterminism',
          ...(e.stepId ? { stepId: e.stepId } : {}),
          ...(e.expected !== undefined || e.actual !== undefined ? { traceback: `expected: ${e.expected ?? '-'}\nactual:   ${e.actual ?? '-'}` } : {}),
          ...(e.callSite ? { site: siteJson(e.callSite)! } : {}),
        };
        break;
      case 'RunCancelled':
        cancelled = { message: e.reason, kind: 'cancelled' };
        break;
      default:
        break;
    }
  }
  if (stepFailure) return stepFailure;
  return runError ?? cancelled;
}

/** What the header needs beyond the history. */
export interface DetailContext {
  readonly counters: RunCounters;
  /** Runs started from this one that the server knows of (beyond its children, read from history). */
  readonly related?: RunDetail['related'];
  /** The `--db` argument of the CLI lines ('' for none). */
  readonly dbArg: string;
}

/** The run page's header. */
export function runDetail(rec: RunRecord, history: readonly HistoryEvent[], ctx: DetailContext): RunDetail {
  const started = history[0]?.kind === 'RunStarted' ? history[0] : undefined;
  const row = runRow(rec, started, ctx.counters);
  let result: JsonValue | undefined;
  let waitingAt: CallSiteJson[] | undefined;
  const children: RunDetail['related'] = [];
  for (const e of history) {
    if (e.waitingAt) waitingAt = e.waitingAt.map((w) => siteJson(w)!);
    if (e.kind === 'RunCompleted') result = e.result as JsonValue;
    if (e.kind === 'ChildRunStarted') children.push({ runId: e.childRunId, relation: 'child' });
  }
  const failure = rec.status === 'completed' ? undefined : rootFailure(history);
  return {
    ...row,
    inputs: { args: (started?.args ?? []) as JsonValue[], kwargs: (started?.kwargs ?? {}) as { [k: string]: JsonValue } },
    env: { ...(started?.env ?? {}) },
    ...(result !== undefined ? { result } : {}),
    ...(failure ? { failure } : {}),
    ...(started?.parent ? { parent: { ...started.parent } } : {}),
    ...(started?.resumedFrom ? { resumedFrom: { ...started.resumedFrom } } : {}),
    related: [...children, ...(ctx.related ?? [])],
    ...(rec.status === 'running' && waitingAt && waitingAt.length > 0 ? { waitingAt } : {}),
    cli: cliLines(rec.runId, started, ctx.dbArg),
  };
}
