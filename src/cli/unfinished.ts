/**
 * This file defines how the CLI says that a run did not finish: which run, and what it waits on (each
 * step in flight: its task, attempt, when it started and where the workflow called it), read from the
 * database with `engine.state(runId)`. It is synchronous, because the exit handler uses it.
 */
import type { Engine, RunState, StepState } from '../engine/index.js';
import type { GuardReason } from './exit-guard.js';
import { duration } from './engine-options.js';

/** A local wall-clock time, as people read it in a log: 12:00:01. */
function clockTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function site(s: StepState): string {
  return s.callSite ? `, at ${s.callSite.file}:${s.callSite.line}` : '';
}

/** What one step in flight waits on, or undefined for a step that has ended. */
export function waitingOn(s: StepState, now: number): string | undefined {
  const last = s.attempts[s.attempts.length - 1];
  switch (s.status) {
    case 'running':
      if (s.kind === 'child') return `waiting on child run ${s.childRunId ?? '?'} of ${s.name} (step ${s.stepId}${site(s)})`;
      if (last) return `waiting on task ${s.name} (step ${s.stepId}, attempt ${last.attempt}, started ${clockTime(last.startedAt)}${site(s)}) for ${duration(now - last.startedAt)}`;
      return `waiting on task ${s.name} (step ${s.stepId}${site(s)})`;
    case 'scheduled':
      return `waiting for task ${s.name} to start (step ${s.stepId}, scheduled ${clockTime(s.scheduledAt)}${site(s)})`;
    case 'retrying':
      return `waiting to retry task ${s.name} (step ${s.stepId}, attempt ${last?.attempt ?? '?'} failed${s.fireAt !== undefined ? `, next attempt at ${clockTime(s.fireAt)}` : ''}${site(s)})`;
    case 'waiting':
      return `waiting on a timer (step ${s.stepId}${s.fireAt !== undefined ? `, fires at ${clockTime(s.fireAt)}` : ''}${site(s)})`;
    case 'completed':
    case 'failed':
      return undefined;
  }
}

/** The lines of what a run in flight waits on (its child runs' steps indented below theirs). */
export function waitingLines(engine: Engine, state: RunState, now: number, depth = 0): string[] {
  const lines: string[] = [];
  const pad = '  '.repeat(depth + 1);
  for (const id of state.order) {
    const s = state.steps[id]!;
    const w = waitingOn(s, now);
    if (!w) continue;
    lines.push(pad + w);
    if (s.kind === 'child' && s.childRunId && depth < 4) {
      try {
        lines.push(...waitingLines(engine, engine.state(s.childRunId), now, depth + 1));
      } catch {
        // the child run was never recorded
      }
    }
  }
  if (lines.length === 0 && depth === 0) {
    const at = state.waitingAt?.map((w) => `${w.file}:${w.line}`).join(', ');
    lines.push(`${pad}no step in flight${at ? ` (the workflow waits at ${at})` : ''}`);
  }
  return lines;
}

/** Why nothing finished the run, for people. */
export function whyUnfinished(reason: GuardReason): string {
  return reason === 'idle'
    ? 'nothing is left in this process that could finish it (a task whose promise never settles, with no timeout?)'
    : 'the process is exiting before the run ended (did a task call process.exit()?)';
}

/**
 * "run X did not finish: why", what it waits on, and what to do; for a run the database says has
 * ended meanwhile, just that.
 */
export function describeUnfinished(engine: Engine, runId: string, reason: GuardReason, now = Date.now()): string {
  let state: RunState;
  try {
    state = engine.state(runId);
  } catch (e) {
    return `larkflow: run ${runId} did not finish: ${whyUnfinished(reason)} (its state cannot be read: ${(e as Error).message})`;
  }
  if (state.status !== 'running') return `larkflow: run ${runId} ended (${state.status}) but this process did not see it end; see \`larkflow show ${runId}\``;
  return [
    `larkflow: run ${runId} did not finish: ${whyUnfinished(reason)}`,
    ...waitingLines(engine, state, now),
    `  it stays unfinished in the database: \`larkflow worker\` finishes it, \`larkflow cancel ${runId}\` cancels it`,
  ].join('\n');
}
