/**
 * This file reads from a run's history what the run waits on now: tasks with an attempt in
 * flight, child runs, and durable timers (sleeps, retry back-offs, signal timeouts) with their
 * fire times. A shared-database worker parks a run that waits only on far timers or on signals,
 * giving up its lease until it is due.
 */
import type { HistoryEvent } from '../core/events.js';
import { isTerminal } from '../core/events.js';

export interface PendingWork {
  /** Something runs now (an attempt in flight, a child run): the run cannot be parked. */
  readonly busy: boolean;
  /** The earliest durable timer (engine clock, ms), or null if none is pending. */
  readonly wakeAt: number | null;
  /** The run has ended. */
  readonly ended: boolean;
}

export function pendingWork(history: readonly HistoryEvent[]): PendingWork {
  const openTasks = new Map<string, 'running' | number>();
  const timers = new Map<string, number>();
  const children = new Set<string>();
  let ended = false;
  for (const e of history) {
    if (isTerminal(e)) ended = true;
    switch (e.kind) {
      case 'TaskScheduled':
        openTasks.set(e.stepId, 'running');
        break;
      case 'AttemptStarted':
        if (openTasks.has(e.stepId)) openTasks.set(e.stepId, 'running');
        break;
      case 'RetryScheduled':
        if (openTasks.has(e.stepId)) openTasks.set(e.stepId, e.fireAt);
        break;
      case 'TaskCompleted':
      case 'TaskFailed':
        openTasks.delete(e.stepId);
        break;
      case 'TimerStarted':
        timers.set(e.stepId, e.fireAt);
        break;
      case 'TimerFired':
        timers.delete(e.stepId);
        break;
      case 'ChildRunStarted':
        children.add(e.stepId);
        break;
      case 'ChildRunCompleted':
      case 'ChildRunFailed':
        children.delete(e.stepId);
        break;
      default:
        break;
    }
  }
  let wakeAt: number | null = null;
  let busy = children.size > 0;
  for (const v of openTasks.values()) {
    if (v === 'running') busy = true;
    else wakeAt = wakeAt === null ? v : Math.min(wakeAt, v);
  }
  for (const at of timers.values()) wakeAt = wakeAt === null ? at : Math.min(wakeAt, at);
  return { busy, wakeAt, ended };
}
