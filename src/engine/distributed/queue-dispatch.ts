/**
 * This file connects an engine on a shared database to the PostgreSQL task queue (scale-out notes
 * §5.3): the attempts of the executors it handles become `tasks` rows, one queue per executor, that
 * any worker's `TaskPoller` runs. The row is keyed by (run, step, attempt), so queueing an attempt
 * again (its run's next owner recovering it) does nothing, also after it finished.
 */
import type { QueuedAttempt, TaskDispatch } from '../core/ports.js';
import type { PostgresTaskQueue } from '../store/postgres/task-queue.js';

export class QueueDispatch implements TaskDispatch {
  constructor(
    private readonly queue: PostgresTaskQueue,
    /** True for the executors whose attempts go to the queue (never 'starlark': those run in the workflow's interpreter). */
    private readonly queued: (executor: string) => boolean,
    /** Called once an attempt is in the queue (a hint: this process's poller may take it at once). */
    private readonly onEnqueued?: () => void,
  ) {}

  handles(executor: string): boolean {
    return executor !== 'starlark' && this.queued(executor);
  }

  async enqueue(a: QueuedAttempt): Promise<void> {
    await this.queue.enqueue([{ runId: a.runId, stepKey: a.stepId, attempt: a.attempt, queue: a.executor, executor: a.executor, spec: a }]);
    this.onEnqueued?.();
  }

  async withdraw(a: { readonly runId: string; readonly stepId: string; readonly attempt: number }, reason: string): Promise<void> {
    await this.queue.withdraw(a.runId, a.stepId, a.attempt, reason);
  }
}
