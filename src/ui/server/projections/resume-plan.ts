/**
 * This file says what resuming a run from a step would do, as `Engine.resume` does it: the steps
 * before the chosen one (default: the first failed step) that completed are reused (their recorded
 * results), as are completed siblings after the failed step when no step is chosen; the rest run
 * again. The chosen step itself always runs again and is never served from the cache.
 */
import { foldHistory, type HistoryEvent } from '../../../engine/index.js';
import type { ResumePlan } from '../../api-types.js';
import { shellQuote } from './run.js';

export class PlanError extends Error {}

export function resumePlan(runId: string, history: readonly HistoryEvent[], fromStep: string | undefined, dbArg: string): ResumePlan {
  const state = foldHistory(history);
  let from = fromStep;
  if (from !== undefined && !state.order.includes(from)) {
    // `--from train` names the first call of a task, as the CLI reads it.
    if (!from.includes('#') && state.order.includes(`${from}#1`)) from = `${from}#1`;
    else throw new PlanError(`run ${runId} has no step ${from}`);
  }
  const firstFailed = state.order.find((id) => state.steps[id]!.status === 'failed');
  const limit = from !== undefined ? state.order.indexOf(from) : state.order.length;
  const restart = from ?? firstFailed;
  const reused: string[] = [];
  const rerun: string[] = [];
  state.order.forEach((id, i) => {
    const s = state.steps[id]!;
    const reusable = i < limit && id !== restart && s.status === 'completed' && (s.kind === 'task' || s.kind === 'timer');
    (reusable ? reused : rerun).push(id);
  });
  const db = dbArg ? ` --db ${shellQuote(dbArg)}` : '';
  return {
    fromStep: restart ?? '',
    reused,
    rerun,
    cli: `larkflow resume ${runId}${from !== undefined ? ` --from ${shellQuote(from)}` : ''}${db}`,
  };
}
