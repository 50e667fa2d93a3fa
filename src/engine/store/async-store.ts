/**
 * This file defines the asynchronous run store: the store contract of the scale-out design (notes
 * scale-out.md §5.2, §5.4) that both the SQLite store (wrapped, `asyncStoreOf`) and the PostgreSQL
 * store implement, tested by one contract suite. It is `EventStore` with every call returning a
 * promise, plus what many workers on many hosts need: batched claims of runs whose lease ran out
 * (SKIP LOCKED on Postgres), group commit of appends across runs, parking a run that waits, worker
 * registration, explicit migrations, and raw import for `larkflow db import`.
 *
 * All lease times compare the database's clock, never the caller's.
 */
import type { FencedError, StoreError } from '../core/errors.js';
import type { HistoryEvent, NewEvent } from '../core/events.js';
import type { RunCounters } from '../core/run-counters.js';
import type { ClaimResult, EventStore, RunFilter, RunLease, RunRecord } from '../core/ports.js';

/** `T` with every method returning a promise of what it returned. */
export type Promisified<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : T[K];
};

/** A claimed run: who holds it now, at which epoch, and its last seq. */
export interface ClaimedRun {
  readonly runId: string;
  readonly epoch: number;
  readonly lastSeq: number;
}

/** One run's part of a group commit. */
export interface AppendBatch {
  readonly runId: string;
  readonly expectedLastSeq: number;
  readonly events: readonly NewEvent[];
  /** The appender's lease; without one (a request from outside, as a cancel) only the seq is checked. */
  readonly lease?: RunLease;
}

/** A group commit's outcome for one run: its events with positions, or why they were refused. */
export type AppendOutcome = { readonly ok: true; readonly events: HistoryEvent[] } | { readonly ok: false; readonly error: FencedError | StoreError };

/** A live worker, as `larkflow workers` lists it. */
export interface WorkerInfo {
  readonly workerId: string;
  readonly host: string;
  readonly pid: number;
  readonly queues: readonly string[];
  readonly startedAt: number;
  /** Last heartbeat (database clock, ms since the epoch). */
  readonly seenAt: number;
  /** Runs whose lease it holds now. */
  readonly runs: readonly string[];
}

/** What `migrate()` did. */
export interface MigrationReport {
  readonly from: number;
  readonly to: number;
  readonly applied: readonly number[];
}

/** A run row with its counters (what lists show without reading histories). */
export interface RunRecordWithCounters extends RunRecord {
  readonly counters: RunCounters;
}

export interface AsyncEventStore extends Promisified<Omit<EventStore, 'claimRun' | 'close'>> {
  readonly kind: 'sqlite' | 'postgres';
  /** True if workers on several hosts may share this store. */
  readonly multiHost: boolean;
  /**
   * Claims a run for `owner` if nobody holds it or its lease has run out (database clock), adding
   * one to its epoch. Unlike the synchronous store there is no "holder is gone" shortcut: pids mean
   * nothing across hosts.
   */
  claimRun(runId: string, owner: string, leaseMs: number): Promise<ClaimResult>;
  /**
   * Claims up to `max` unfinished runs that nobody holds (or whose lease ran out, or that are
   * parked and due), oldest lease first, for `owner` at a new epoch each. On Postgres one statement
   * with `FOR UPDATE SKIP LOCKED`, so two workers never claim the same run. With `queues`, only runs
   * whose RunStarted names one of them (no queue: "default").
   */
  claimRuns(owner: string, max: number, leaseMs: number, queues?: readonly string[]): Promise<ClaimedRun[]>;
  /**
   * Group commit: appends each batch under its lease in one transaction (on Postgres one
   * statement); a batch refused for itself (fenced, moved on, ended, a message delivered twice, an
   * event the database cannot store) is reported in its outcome, and the others commit. The map
   * holds one outcome per run, in the batches' order (a run named twice: its first batch counts,
   * the second is refused).
   * @throws StoreError if the database failed as a whole (unreachable, a timeout, busy): nothing
   *   was written, the call may be retried (with the same expected seqs)
   */
  appendMany(batches: readonly AppendBatch[]): Promise<Map<string, AppendOutcome>>;
  /**
   * Gives up a run's lease because it waits (a long timer, a slow remote task): it is claimable
   * again at `wakeAt` (ms, database clock; null: when a message arrives in its inbox), or at once
   * when its inbox gets a message. 'fenced' if the lease is no longer the caller's.
   */
  park(runId: string, lease: RunLease, wakeAt: number | null): Promise<'ok' | 'fenced'>;
  /** Records a worker's heartbeat (creating its row), with the runs it holds. */
  heartbeat(worker: Omit<WorkerInfo, 'seenAt' | 'startedAt' | 'runs'>): Promise<void>;
  /** Workers seen within `withinMs` (database clock). */
  listWorkers(withinMs: number): Promise<WorkerInfo[]>;
  /** Removes a worker's row (graceful stop). */
  unregisterWorker(workerId: string): Promise<void>;
  /** The database clock, ms since the epoch. */
  dbNow(): Promise<number>;
  /** The schema version of the database (0 for an empty one). */
  schemaVersion(): Promise<number>;
  /** Brings the schema to the current version, serialized across processes. */
  migrate(): Promise<MigrationReport>;
  /** A run's row with its counters. */
  getRunWithCounters(runId: string): Promise<RunRecordWithCounters | undefined>;
  /** `listRuns` with each run's counters. */
  listRunsWithCounters(filter?: RunFilter): Promise<RunRecordWithCounters[]>;
  /**
   * Writes a whole run as it was (import from another store): its row and events, unowned (any
   * worker may claim it if it has not ended), with its idempotency key if given. The history must
   * start with RunStarted and have contiguous seqs from 1.
   * @throws DuplicateRunError if a run with this id or idempotency key exists (nothing is written)
   * @throws StoreError if the history is not a valid one
   */
  importRun(history: readonly HistoryEvent[], options?: { readonly idempotencyKey?: string }): Promise<void>;
  close(): Promise<void>;
}
