/**
 * `larkflow/testing`: test workflows before deploying them.
 *
 * - A test engine (`createTestEngine`): an Engine in memory or on a temporary SQLite file, with a
 *   virtual clock that skips time, fake tasks whose outcomes a test programs (`fakeTask`),
 *   controllable completion order of concurrent tasks, and simulated crashes with `restart()`.
 * - Offline replay of recorded histories against the current script (`replayHistory`,
 *   `replayHistories`, `assertReplays`): calls, the final result and recomputable step results.
 * - fast-check arbitraries (`outcomeSchedule`, `taskSchedules`, `crashPoint`, `completionOrder`) and
 *   ready-made properties (`replayPrefixProperty`, `crashRecoveryProperty`,
 *   `completionOrderProperty`, `cacheAgreementProperty`), checked with `assertProperty` or
 *   `assertWorkflowProperties`, which print the shrunk counterexample as a readable schedule.
 *
 * fast-check (4.x) is a peer dependency: install it next to larkflow to use the properties.
 *
 * @example
 * ```ts
 * import { assertWorkflowProperties, taskSchedules, assertReplays } from 'larkflow/testing';
 * await assertWorkflowProperties({
 *   script: 'pipeline.star', kwargs: { seed: 7 }, tasks,
 *   schedules: taskSchedules({ train_model: { returns: tasks.train_model, maxFailures: 1 } }),
 * }, { numRuns: 20 });
 * await assertReplays('pipeline.star', ['histories/run-1.json']);
 * ```
 * @packageDocumentation
 */
import '../stdlib/index.js';

export {
  TestEngine,
  createTestEngine,
  fakeTask,
  choicesChooser,
  type TestEngineOptions,
  type Schedule,
  type ScheduleEntry,
  type TaskSchedules,
  type FakeTask,
  type FakeTaskOptions,
  type FakeCall,
  type ReadyAttempt,
  type CompletionChooser,
  type CrashInfo,
  type AttemptRecord,
  type CommitRecord,
} from './test-engine.js';
export {
  replayHistory,
  replayHistories,
  assertReplays,
  loadHistory,
  loadScript,
  readHistories,
  formatReplayReport,
  formatReplaySummary,
  type ScriptInput,
  type HistoryInput,
  type DatabaseHistories,
  type MismatchKind,
  type ReplayMismatch,
  type HistoryReplayReport,
  type ReplaySummary,
  type ReplayHistoryOptions,
} from './replay.js';
export {
  outcomeSchedule,
  taskSchedules,
  crashPoint,
  completionOrder,
  formatSchedule,
  formatSchedules,
  formatEntry,
  formatDuration,
  type OutcomeScheduleOptions,
  type CrashPoint,
  type CompletionOrder,
} from './arbitraries.js';
export {
  replayPrefixProperty,
  crashRecoveryProperty,
  completionOrderProperty,
  cacheAgreementProperty,
  checkReplayPrefixes,
  assertProperty,
  assertWorkflowProperties,
  formatHistory,
  WorkflowPropertyError,
  type WorkflowSpec,
  type CrashCase,
  type CacheCase,
  type PropertyParameters,
  type PropertyName,
} from './properties.js';
export { replayAllCommand, parseSince, REPLAY_ALL_MISMATCH, type ReplayAllOptions, type ReplayAllIo } from './replay-all.js';
