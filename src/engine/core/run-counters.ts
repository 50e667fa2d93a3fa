/**
 * This file defines a run's counters: how many task calls it has scheduled and finished, how many
 * came from the cache, and its first failure. Stores keep them on the run's row, updated by each
 * append from the appended events alone, so a runs list never reads histories.
 */
import type { HistoryEvent, NewEvent } from './events.js';

/** A run's counters as stored on its row. */
export interface RunCounters {
  /** Task calls scheduled so far. */
  readonly total: number;
  /** Task calls finished (completed, from the cache, reused, or failed for good). */
  readonly done: number;
  /** Task calls answered from the cache. */
  readonly cacheHits: number;
  /** The first failure: the failed step's task (when known) and message. */
  readonly firstError?: { readonly task?: string; readonly message: string };
}

export const NO_COUNTERS: RunCounters = { total: 0, done: 0, cacheHits: 0 };

/**
 * The counters after `events` (appended in order). `taskOf` names a step's task for the first
 * error when the step was scheduled by an earlier append (stores look it up; may return undefined).
 */
export function advanceCounters(
  before: RunCounters,
  events: readonly (HistoryEvent | NewEvent)[],
  taskOf: (stepId: string) => string | undefined = () => undefined,
): RunCounters {
  let { total, done, cacheHits } = before;
  let firstError = before.firstError;
  const scheduled = new Map<string, string>();
  for (const e of events) {
    switch (e.kind) {
      case 'TaskScheduled':
        total++;
        scheduled.set(e.stepId, e.task);
        break;
      case 'TaskCompleted':
        done++;
        if (e.source === 'cache') cacheHits++;
        break;
      case 'TaskFailed':
        done++;
        if (!firstError) {
          const task = scheduled.get(e.stepId) ?? taskOf(e.stepId);
          firstError = { ...(task !== undefined ? { task } : {}), message: e.error.message };
        }
        break;
      case 'RunFailed':
        if (!firstError) firstError = { message: e.error.message };
        break;
      default:
        break;
    }
  }
  return { total, done, cacheHits, ...(firstError ? { firstError } : {}) };
}
