/**
 * The durable workflow engine. Layers, inside out:
 *   core/      pure types and decisions: events, commands, ports, the state fold, retries
 *   workflow/  the Starlark surface of workflows and the deterministic machine, replay
 *   store/     event stores (SQLite, memory)     executors/  local functions and processes
 *   engine.ts  the driver: store + executors + clock around the core
 */
export { Engine, replayAgainst, type EngineOptions, type StartOptions, type RunResult, type RunHandle, type RunControl, type EngineWorker, type ReplayReport, type CacheMode, type RecoveryIssue, type ResumeOptions } from './engine.js';
export { RealClock, VirtualClock } from './clock.js';
export * from './core/events.js';
export type { Command } from './core/commands.js';
export type { Clock, EventStore, Executor, TaskRequest, TaskHandle, TaskOutcome, RunRecord, ScriptFile, RunLease, LeaseHolder, ClaimResult, SubmittedJob, InboxMessage, InboxPost, RunFilter, OutboxItem, OutboxFilter, OutboxStatus } from './core/ports.js';
export { deliverDue, deliverOne, backoffDelay, type DeliverOptions, type DeliverReport } from './notify/deliver.js';
export { validateNotify, notificationsFor, summaryLine, NOTIFY_EVENTS, DEFAULT_NOTIFY_ON, type RunFacts } from './notify/spec.js';
export { EngineError, StoreError, FencedError, NondeterminismError, ExecutorError, UsageError, DuplicateRunError } from './core/errors.js';
export { foldHistory, applyEvents, type RunState, type StepState, type AttemptState } from './core/state.js';
export { retryDelay } from './core/retry.js';
export type { Json } from './core/json.js';
export {
  FunctionExecutor,
  ProcessExecutor,
  TaskFailure,
  currentTask,
  type TaskContext,
  type TaskFunction,
  type ContextTaskFunction,
  type RegisterOptions,
  type TaskFailureOptions,
  type FunctionExecutorOptions,
  type ProcessExecutorOptions,
} from './executors/index.js';
export type { WorkflowBudgets } from './workflow/machine.js';
export { MemoryEventStore, SqliteEventStore, openSqliteStore, runCursor } from './store/index.js';
export { WorkflowMachine, WORKFLOW_FILE_OPTIONS, type ScriptBundle } from './workflow/machine.js';
export { replayHistory } from './workflow/replay.js';
export { collectScript, fromFiles } from './script.js';
export { registerPluginTasks, pluginPredeclared, Dataclass } from './workflow/plugins.js';
export * from './cache/index.js';
export { RemoteExecutor, type RemoteExecutorOptions, type AttemptStorage, type CodeBundle as RemoteCodeBundle } from './attempts/remote-executor.js';
export {
  AdapterError,
  IO_ENV,
  TERMINAL_PHASES,
  attemptLabels,
  submissionIdOf,
  type AdapterErrorCategory,
  type AttemptRef,
  type CallOptions,
  type CancelResult,
  type ExecutionHandle,
  type ExecutorAdapter,
  type LaunchSpec,
  type LogChunk,
  type LookupHints,
  type Phase,
  type StatusReport,
  type TaskInputDoc,
  type TaskResultDoc,
} from './executors/contract.js';
