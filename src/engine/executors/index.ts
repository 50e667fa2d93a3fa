/**
 * Executors: adapters that implement engine/core's `Executor` port. Each runs one attempt of one
 * task and reports a `TaskOutcome`; retries, backoff and history belong to the engine.
 *
 * Invariants: `TaskHandle.done` never rejects; a handle id is `runId/stepId/attempt`; a timeout is
 * the outcome kind 'timeout' (retryable) and a cancellation 'cancelled' (not retryable), whatever
 * the task does with its signal; results are JSON.
 */
export {
  FunctionExecutor,
  TaskFailure,
  toJson,
  handleIdOf,
  attemptDirOf,
  type FunctionExecutorOptions,
  type RegisterOptions,
  type TaskContext,
  type TaskFunction,
  type ContextTaskFunction,
  type TaskFailureOptions,
} from './function-executor.js';
export { ProcessExecutor, type ProcessExecutorOptions } from './process-executor.js';
export { Semaphore, type Release } from './semaphore.js';
