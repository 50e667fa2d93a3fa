/**
 * This file defines `asyncStoreOf`: the SQLite store as an `AsyncEventStore`, so that one worker
 * and one contract suite serve both stores. Each call runs the synchronous store's method and
 * returns its result as a settled promise: no thread hop, no extra statement, so the engine's
 * SQLite path pays a microtask and nothing more. What many workers need (claims in batches, group
 * commit, parking, heartbeats, counters, import) is implemented by `SqliteEventStore` itself, each
 * as one IMMEDIATE transaction: on one host, SQLite's write lock stands in for SKIP LOCKED.
 *
 * A SQLite file is for one host: `multiHost` is false (never put it on a network file system).
 * SQLite migrates when it opens (existing behaviour); `migrate()` reports the version reached.
 */
import type { HistoryEvent, NewEvent } from '../core/events.js';
import type { ClaimResult, InboxMessage, InboxPost, LeaseHolder, OutboxFilter, OutboxItem, RunFilter, RunLease, RunRecord, ScriptFile } from '../core/ports.js';
import { NO_COUNTERS } from '../core/run-counters.js';
import type { AppendBatch, AppendOutcome, AsyncEventStore, ClaimedRun, MigrationReport, RunRecordWithCounters, WorkerInfo } from './async-store.js';
import type { SqliteEventStore } from './sqlite-store.js';

/** The SQLite store as an `AsyncEventStore`. Closing it closes `store`. */
export function asyncStoreOf(store: SqliteEventStore): SqliteAsyncStore {
  return new SqliteAsyncStore(store);
}

type Lease = RunLease & { readonly runId: string };

/** What `asyncStoreOf` returns; `sync` is the wrapped store (the engine keeps using it directly). */
export class SqliteAsyncStore implements AsyncEventStore {
  readonly kind = 'sqlite' as const;
  readonly multiHost = false;
  constructor(readonly sync: SqliteEventStore) {}

  async createRun(first: Omit<HistoryEvent & { kind: 'RunStarted' }, 'seq'>, lease?: { readonly owner: string; readonly leaseMs: number }, idempotencyKey?: string): Promise<HistoryEvent> {
    return this.sync.createRun(first, lease, idempotencyKey);
  }
  async runByIdempotencyKey(key: string): Promise<RunRecord | undefined> {
    return this.sync.runByIdempotencyKey(key);
  }
  async append(runId: string, expectedLastSeq: number, events: readonly NewEvent[], lease?: RunLease): Promise<HistoryEvent[]> {
    return this.sync.append(runId, expectedLastSeq, events, lease);
  }
  async appendMany(batches: readonly AppendBatch[]): Promise<Map<string, AppendOutcome>> {
    return this.sync.appendMany(batches);
  }
  async claimRun(runId: string, owner: string, leaseMs: number): Promise<ClaimResult> {
    return this.sync.claimRun(runId, owner, leaseMs);
  }
  async claimRuns(owner: string, max: number, leaseMs: number, queues?: readonly string[]): Promise<ClaimedRun[]> {
    return this.sync.claimRuns(owner, max, leaseMs, queues);
  }
  async renewLeases(owner: string, leases: readonly Lease[], leaseMs: number): Promise<string[]> {
    return this.sync.renewLeases(owner, leases, leaseMs);
  }
  async releaseLeases(owner: string, leases: readonly Lease[]): Promise<void> {
    this.sync.releaseLeases(owner, leases);
  }
  async leaseOf(runId: string): Promise<LeaseHolder | undefined> {
    return this.sync.leaseOf(runId);
  }
  async park(runId: string, lease: RunLease, wakeAt: number | null): Promise<'ok' | 'fenced'> {
    return this.sync.park(runId, lease, wakeAt);
  }
  async history(runId: string, fromSeq?: number): Promise<HistoryEvent[]> {
    return this.sync.history(runId, fromSeq);
  }
  async getRun(runId: string): Promise<RunRecord | undefined> {
    return this.sync.getRun(runId);
  }
  async getRunWithCounters(runId: string): Promise<RunRecordWithCounters | undefined> {
    const run = this.sync.getRun(runId);
    return run === undefined ? undefined : { ...run, counters: this.sync.counters(runId) ?? NO_COUNTERS };
  }
  async listRuns(filter?: RunFilter): Promise<RunRecord[]> {
    return this.sync.listRuns(filter);
  }
  async listRunsWithCounters(filter?: RunFilter): Promise<RunRecordWithCounters[]> {
    return this.sync.listRuns(filter).map((r) => ({ ...r, counters: this.sync.counters(r.runId) ?? NO_COUNTERS }));
  }
  async unfinishedRuns(): Promise<RunRecord[]> {
    return this.sync.unfinishedRuns();
  }
  async postInbox(runId: string, msg: InboxPost): Promise<{ readonly id: number; readonly duplicate: boolean }> {
    return this.sync.postInbox(runId, msg);
  }
  async pendingInbox(runId: string): Promise<InboxMessage[]> {
    return this.sync.pendingInbox(runId);
  }
  async runsWithPendingInbox(): Promise<string[]> {
    return this.sync.runsWithPendingInbox();
  }
  async claimOutbox(owner: string, now: number, limit: number, leaseMs: number): Promise<OutboxItem[]> {
    return this.sync.claimOutbox(owner, now, limit, leaseMs);
  }
  async completeOutbox(id: number, ok: boolean, error?: string, nextAt?: number, giveUp?: boolean): Promise<void> {
    this.sync.completeOutbox(id, ok, error, nextAt, giveUp);
  }
  async listOutbox(filter?: OutboxFilter): Promise<OutboxItem[]> {
    return this.sync.listOutbox(filter);
  }
  async putScript(digest: string, files: readonly ScriptFile[]): Promise<void> {
    this.sync.putScript(digest, files);
  }
  async getScript(digest: string): Promise<ScriptFile[] | undefined> {
    return this.sync.getScript(digest);
  }
  async heartbeat(worker: Omit<WorkerInfo, 'seenAt' | 'startedAt' | 'runs'>): Promise<void> {
    this.sync.heartbeat(worker);
  }
  async listWorkers(withinMs: number): Promise<WorkerInfo[]> {
    return this.sync.listWorkers(withinMs);
  }
  async unregisterWorker(workerId: string): Promise<void> {
    this.sync.unregisterWorker(workerId);
  }
  async dbNow(): Promise<number> {
    return this.sync.dbNow();
  }
  async schemaVersion(): Promise<number> {
    return this.sync.schemaVersion();
  }
  async migrate(): Promise<MigrationReport> {
    // Opening the file migrated it already (one IMMEDIATE transaction, serialized across processes).
    const v = this.sync.schemaVersion();
    return { from: v, to: v, applied: [] };
  }
  async importRun(history: readonly HistoryEvent[], options?: { readonly idempotencyKey?: string }): Promise<void> {
    this.sync.importRun(history, options);
  }
  async close(): Promise<void> {
    this.sync.close();
  }
}
