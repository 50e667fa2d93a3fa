/**
 * This file defines `larkflow show RUN`: a run's status, result or error, then its steps in order with
 * their state, attempts (executor, duration, error), cached/reused marks, call site, where their
 * inputs came from (data flow), and the latest progress messages.
 */
import type { HistoryEvent, RunStarted, RunState, StepState } from '../../engine/index.js';
import { brief, duration, indent, iso, renderErrorInfo, taskDetails, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { openRunView } from '../shared-read.js';
import { exactJson } from '../json-out.js';

export interface ShowOptions extends EngineCliOptions {
  readonly json?: boolean;
}

function mark(s: StepState): string {
  if (s.source === 'cache') return ' (cached)';
  if (s.source === 'reused') return ' (reused)';
  return '';
}

/** A remote task's resources in one line: `image=ml:1 cpu=4 memory=16Gi gpu=1 namespace=ml`. */
function resourcesText(r: NonNullable<StepState['resources']>): string {
  const parts: string[] = [];
  for (const k of ['image', 'cpu', 'memory', 'gpu', 'namespace', 'serviceAccount', 'runner'] as const) if (r[k] !== undefined) parts.push(`${k}=${String(r[k])}`);
  if (r.nodeSelector) parts.push(`nodeSelector=${Object.entries(r.nodeSelector).map(([k, v]) => `${k}:${v}`).join(',')}`);
  if (r.env) parts.push(`env=${Object.keys(r.env).join(',')}`);
  return parts.join(' ');
}

function stepLines(s: StepState, now: number, width: number): string[] {
  const out: string[] = [];
  const took = s.endedAt !== undefined ? duration(s.endedAt - s.scheduledAt) : s.status === 'completed' ? '-' : `${duration(now - s.scheduledAt)} so far`;
  const site = s.callSite ? `${s.callSite.file}:${s.callSite.line}` : '';
  const what = s.kind === 'task' ? `task ${s.name}` : s.kind === 'timer' ? 'timer' : `child run of ${s.name}`;
  const attempts = s.attempts.length > 1 ? `  ${s.attempts.length} attempts` : '';
  out.push(`${s.stepId.padEnd(width)}  ${(s.status + mark(s)).padEnd(20)}  ${what}  ${took}${attempts}${site ? `  at ${site}` : ''}`);
  if (s.inputsFrom.length > 0) out.push(`  inputs from: ${s.inputsFrom.map((o) => `${o.step} (arg ${o.arg})`).join(', ')}`);
  if (s.childRunId) out.push(`  child run: ${s.childRunId}`);
  if (s.resources) out.push(`  resources: ${resourcesText(s.resources)}`);
  if (s.status === 'waiting' && s.fireAt !== undefined) out.push(`  fires at ${iso(s.fireAt)}`);
  if (s.status === 'retrying' && s.fireAt !== undefined) out.push(`  next attempt at ${iso(s.fireAt)}`);
  for (const a of s.attempts) {
    const end = a.endedAt !== undefined ? duration(a.endedAt - a.startedAt) : 'running';
    const outcome = a.error ? `failed: [${a.error.kind}] ${a.error.message}` : a.endedAt !== undefined ? 'ok' : '';
    out.push(`  attempt ${a.attempt}  ${a.executor}  ${end}${outcome ? '  ' + outcome : ''}${a.logs ? `  logs ${a.logs}` : ''}${a.job ? `  job ${a.job.backendId}` : ''}`);
    if (a.heartbeat) out.push(`    heartbeat ${iso(a.heartbeat.at)}: ${brief(a.heartbeat.details, 80)}`);
  }
  if (s.status === 'completed' && s.result !== undefined) out.push(`  result: ${brief(s.result, 100)}`);
  if (s.status === 'failed' && s.error) {
    out.push(`  error: [${s.error.kind}] ${s.error.message}`);
    const d = taskDetails(s.error.details);
    if (d && d !== s.error.message) out.push(indent(d, '    '));
  }
  return out;
}

export function renderShow(state: RunState, started: RunStarted, now: number): string {
  const lines: string[] = [];
  lines.push(`run ${state.runId}`);
  lines.push(`  workflow: ${state.workflow} (${started.file}, script ${started.scriptDigest.slice(0, 12)})`);
  const inputs = [...started.args.map((a) => brief(a, 40)), ...Object.entries(started.kwargs).map(([k, v]) => `${k}=${brief(v, 40)}`)];
  if (inputs.length > 0) lines.push(`  inputs: ${inputs.join(', ')}`);
  if (started.parent) lines.push(`  parent: ${started.parent.runId} (step ${started.parent.stepId})`);
  if (started.resumedFrom) lines.push(`  resumed from: ${started.resumedFrom.runId}${started.resumedFrom.fromStep ? ` at step ${started.resumedFrom.fromStep}` : ''}`);
  const took = state.endedAt !== undefined ? ` (${duration(state.endedAt - state.startedAt)})` : '';
  lines.push(`  status: ${state.status}${took}`);
  lines.push(`  started: ${iso(state.startedAt)}`);
  if (state.endedAt !== undefined) lines.push(`  ended: ${iso(state.endedAt)}`);
  if (state.cancelRequested !== undefined && state.status === 'running') lines.push(`  cancel requested: ${state.cancelRequested}`);
  if (state.status === 'running' && state.waitingAt && state.waitingAt.length > 0) {
    for (const w of state.waitingAt) lines.push(`  waiting at ${w.file}:${w.line}${w.stack && w.stack.length ? ` (in ${w.stack[w.stack.length - 1]})` : ''}`);
  }
  if (state.status === 'completed') lines.push(`  result: ${brief(state.result ?? null, 400)}`);
  if (state.error) lines.push(`  error:`, indent(renderErrorInfo(state.error), '    '));
  lines.push('');
  lines.push(`steps (${state.order.length}):`);
  if (state.order.length === 0) lines.push('  (none)');
  const width = Math.max(0, ...state.order.map((id) => id.length));
  for (const id of state.order) for (const l of stepLines(state.steps[id]!, now, width)) lines.push('  ' + l);
  if (state.progress.length > 0) {
    lines.push('');
    lines.push('progress (latest last):');
    for (const p of state.progress.slice(-5)) lines.push(`  ${p}`);
  }
  const keys = Object.keys(state.events ?? {});
  if (keys.length > 0) {
    lines.push('');
    lines.push('events (events.set):');
    for (const k of keys) lines.push(`  ${k} = ${brief(state.events[k]!, 80)}`);
  }
  if ((state.signals ?? []).length > 0) {
    lines.push('');
    lines.push('signals received (latest last):');
    for (const sg of state.signals.slice(-5)) lines.push(`  ${iso(sg.at)}  ${sg.name}  ${brief(sg.payload, 60)}`);
  }
  return lines.join('\n');
}

export async function showCommand(runArg: string, opts: ShowOptions, io: CliIo): Promise<number> {
  // A SQLite file or a shared database (PostgreSQL): the same engine reads either way.
  const view = await openRunView(opts, runArg);
  try {
    const { engine, runId } = view;
    const history: HistoryEvent[] = engine.history(runId);
    const state = engine.state(runId);
    const started = history[0] as RunStarted;
    if (opts.json) {
      io.out(exactJson({ ...state, file: started.file, scriptDigest: started.scriptDigest, args: started.args, kwargs: started.kwargs, ...(started.parent ? { parent: started.parent } : {}), ...(started.resumedFrom ? { resumedFrom: started.resumedFrom } : {}) }, 2) + '\n');
      return 0;
    }
    io.out(renderShow(state, started, engine.clock.now()) + '\n');
    return 0;
  } finally {
    await view.close();
  }
}
