/**
 * This file defines the executor of `@task` bodies: Starlark functions declared in the workflow file
 * that run in the engine's process, each attempt on a Starlark thread of its own (no tasks or sleeps
 * inside a task body). An attempt runs in time slices, so the event loop turns while it computes,
 * and within budgets: steps and estimated bytes as the engine gives workflow code, and wall-clock
 * time `maxMs` or the task's timeout, whichever is shorter. A budget failure is not retryable (the
 * same code would fail the same way); a cancel of the attempt or of its run aborts the thread at its
 * next check.
 */
import { EvalError, SLICE_END, Thread, startCall, utf8Encode, type Function, type Value } from '../../interpreter/index.js';
import type { Executor, TaskOutcome } from '../core/ports.js';
import { fromHistory, toHistory } from '../workflow/convert.js';
import type { WorkflowBudgets } from '../workflow/machine.js';

/**
 * An executor for the `@task` bodies of one run.
 * @param bodies the run's task bodies by task name (the workflow machine's `starlarkTasks`)
 * @param budgets steps, bytes and time per attempt
 * @param sliceMs how long a body computes before the event loop gets a turn
 */
export function starlarkExecutor(bodies: ReadonlyMap<string, Function>, budgets: WorkflowBudgets & { readonly maxSteps: number; readonly maxMs: number }, sliceMs: number): Executor {
  const aborts = new Map<string, AbortController>();
  return {
    name: 'starlark',
    canRun: (task) => bodies.has(task),
    cancel: (id) => aborts.get(id)?.abort(new Error('the attempt was cancelled')),
    submit: (req) => {
      const abort = new AbortController();
      aborts.set(req.idempotencyKey, abort);
      const onRunAbort = (): void => abort.abort(req.signal.reason);
      req.signal.addEventListener('abort', onRunAbort, { once: true });
      const done = (async (): Promise<TaskOutcome> => {
        const fn = bodies.get(req.task)!;
        const ms = Math.min(budgets.maxMs, req.timeoutMs ?? Infinity);
        const thread = new Thread({
          name: req.task,
          print: () => {},
          maxSteps: budgets.maxSteps,
          ...(budgets.maxBytes !== undefined ? { maxAllocations: budgets.maxBytes } : {}),
          deadline: performance.now() + ms,
          signal: abort.signal,
        });
        try {
          const args = req.args.map(fromHistory);
          const kwargs = Object.entries(req.kwargs).map(([k, x]) => [utf8Encode(k), fromHistory(x)] as [string, Value]);
          thread.sliceUntil = performance.now() + sliceMs;
          let out = startCall(thread, fn, args, kwargs.length > 0 ? kwargs : null);
          while (!out.done) {
            if (out.pending !== SLICE_END) throw new EvalError(`task ${req.task} waited for the host; a @task body cannot call tasks or sleep`);
            await new Promise((r) => setImmediate(r));
            thread.sliceUntil = performance.now() + sliceMs;
            out = thread.resume(null);
          }
          return { ok: true, value: toHistory(out.value, `the result of task ${req.task}`) };
        } catch (e) {
          const err = e instanceof EvalError ? e : new EvalError(String(e));
          const budget = err.kind === 'budget';
          if (thread.suspended) thread.abandon();
          return {
            ok: false,
            error: {
              kind: budget ? 'budget' : err.kind === 'cancelled' ? 'cancelled' : 'starlark',
              message: budget ? `task ${req.task} exceeded its budget (steps ${budgets.maxSteps}, ${ms} ms${budgets.maxBytes !== undefined ? `, ${budgets.maxBytes} bytes` : ''}): ${err.message}` : err.message,
              details: err.backtrace(),
              retryable: !budget && err.kind !== 'cancelled',
            },
          };
        } finally {
          aborts.delete(req.idempotencyKey);
          req.signal.removeEventListener('abort', onRunAbort);
        }
      })();
      return { id: req.idempotencyKey, done };
    },
  };
}
