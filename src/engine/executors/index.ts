/**
 * Executors: adapters that implement engine/core's `Executor` port. Each runs one attempt of one
 * task and reports a `TaskOutcome`; retries, backoff and history belong to the engine.
 *
 * Invariants: `TaskHandle.done` never rejects; a handle id is `runId/stepId/attempt`; a timeout is
 * the outcome kind 'timeout' (retryable) and a cancellation 'cancelled' (not retryable), whatever
 * the task does with its signal; results are JSON (an int beyond ±(2^53−1) as `{"$bigint": ...}`,
 * a BigInt to a JS task, a plain number with every digit to a process); a task gets the run's
 * declared environment (TaskRequest.env), never the engine's whole shell environment.
 */
export {
  FunctionExecutor,
  TaskFailure,
  currentTask,
  toJson,
  handleIdOf,
  attemptDirOf,
  type FunctionExecutorOptions,
  type RegisterOptions,
  type TaskContext,
  type TaskFunction,
  type TaskValue,
  type ContextTaskFunction,
  type TaskFailureOptions,
} from './function-executor.js';
export { ProcessExecutor, BASE_ENV, taskEnvironment, type ProcessExecutorOptions } from './process-executor.js';
export { isBigintMarker, parseExactJson, writeExactJson, type ReadonlyJson } from './exact-json.js';
export { Semaphore, type Release } from './semaphore.js';
