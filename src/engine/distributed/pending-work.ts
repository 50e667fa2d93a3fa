/**
 * This file reads from a run's history what the run waits on now: tasks with an attempt in
 * flight, child runs, and durable timers (sleeps, retry back-offs, signal timeouts, a step's overall
 * timeout) with their fire times. A shared-database worker parks a run that waits only on far
 * timers, on signals, or on attempts in the shared task queue (which any worker runs, and whose
 * results come through the inbox), giving up its lease until it is due or a message arrives.
 */
import type { HistoryEvent } from '../core/events.js';
import { isTerminal } from '../core/events.js';

export interface PendingWork {
  /** An attempt runs in the owner's process now: the run cannot be parked. */
  readonly busy: boolean;
  /** The earliest durable timer (engine clock, ms), or null if none is pending. */
  readonly wakeAt: number | null;
  /** The run has ended. */
  readonly ended: boolean;
  /** When the newest attempt in the task queue the run waits on started (engine clock), or null if none. */
  readonly queuedSince: number | null;
  /** The child runs it waits on (their ids). */
  readonly children: readonly string[];
  /** When the newest of those children started (engine clock), or null if none. */
  readonly childrenSince: number | null;
}

/**
 * What the run of `history` waits on. `queued` tells the executors whose attempts go to the shared
 * task queue (not busy: the run waits on its inbox).
 */
export function pendingWork(history: readonly HistoryEvent[], queued: (executor: string) => boolean = () => false): PendingWork {
  const openTasks = new Map<string, { state: 'running' | 'queued' | number; since: number; deadline?: number }>();
  const timers = new Map<string, number>();
  const children = new Map<string, { id: string; at: number }>();
  let ended = false;
  for (const e of history) {
    if (isTerminal(e)) ended = true;
    switch (e.kind) {
      case 'TaskScheduled':
        openTasks.set(e.stepId, { state: 'running', since: e.at, ...(e.overallTimeoutMs !== undefined ? { deadline: e.at + e.overallTimeoutMs } : {}) });
        break;
      case 'AttemptStarted': {
        const t = openTasks.get(e.stepId);
        if (t) openTasks.set(e.stepId, { ...t, state: queued(e.executor) ? 'queued' : 'running', since: e.at });
        break;
      }
      case 'RetryScheduled': {
        const t = openTasks.get(e.stepId);
        if (t) openTasks.set(e.stepId, { ...t, state: e.fireAt });
        break;
      }
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
        children.set(e.stepId, { id: e.childRunId, at: e.at });
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
  const wake = (at: number): void => {
    wakeAt = wakeAt === null ? at : Math.min(wakeAt, at);
  };
  let busy = false;
  let queuedSince: number | null = null;
  for (const t of openTasks.values()) {
    if (t.state === 'running') busy = true;
    else if (t.state === 'queued') queuedSince = queuedSince === null ? t.since : Math.max(queuedSince, t.since);
    else wake(t.state);
    if (t.deadline !== undefined) wake(t.deadline);
  }
  for (const at of timers.values()) wake(at);
  const kids = [...children.values()];
  const childrenSince = kids.length === 0 ? null : Math.max(...kids.map((k) => k.at));
  return { busy, wakeAt, ended, queuedSince, children: kids.map((k) => k.id), childrenSince };
}
