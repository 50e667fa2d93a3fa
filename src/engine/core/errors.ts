/**
 * This file defines the engine's errors. `...Error` classes are failures of the engine or its use;
 * what enters history is plain `ErrorInfo` JSON (events.ts).
 */
import type { CallSite } from './events.js';

/** Base class of engine errors. */
export class EngineError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'EngineError';
  }
}

/**
 * The database or blob store failed, or refused a write; nothing committed is lost. `code` is
 * `'store'` unless a more specific one says why: `'duplicate'` (DuplicateRunError), `'ended'` (a
 * signal for a run that has ended), `'missing'` (a signal for a run that does not exist), `'inbox'`
 * (an append that would deliver an inbox message twice, or one that is not the run's).
 */
export class StoreError extends EngineError {
  constructor(message: string, options?: ErrorOptions, code = 'store') {
    super(message, code, options);
    this.name = 'StoreError';
  }
}

/**
 * `createRun` was refused because the run exists already: a run with the same id, or with the same
 * idempotency key (`existingRunId` is that run). Code `'duplicate'`.
 */
export class DuplicateRunError extends StoreError {
  constructor(
    message: string,
    readonly existingRunId: string,
    options?: ErrorOptions,
  ) {
    super(message, options, 'duplicate');
    this.name = 'DuplicateRunError';
  }
}

/**
 * An append carried a lease the run no longer honours: another worker claimed the run (its epoch
 * moved on) after this one's lease ran out. The caller must stop driving the run at once.
 */
export class FencedError extends StoreError {
  constructor(
    message: string,
    readonly runId: string,
  ) {
    super(message);
    this.name = 'FencedError';
  }
}

/** A script behaved differently from its recorded history. */
export class NondeterminismError extends EngineError {
  constructor(
    message: string,
    readonly stepId: string | undefined,
    readonly expected: string | undefined,
    readonly actual: string | undefined,
    readonly callSite?: CallSite,
  ) {
    super(message, 'nondeterminism');
    this.name = 'NondeterminismError';
  }
}

/** An executor could not run an attempt. */
export class ExecutorError extends EngineError {
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: ErrorOptions,
  ) {
    super(message, 'executor', options);
    this.name = 'ExecutorError';
  }
}

/** Bad input from a user: unknown run, unknown workflow, bad --input... */
export class UsageError extends EngineError {
  constructor(message: string) {
    super(message, 'usage');
    this.name = 'UsageError';
  }
}
