/**
 * This file defines the in-memory event store, for tests and the in-memory test engine. It keeps
 * the SQLite store's semantics exactly (the same seq guard, status rules, ordering and error
 * messages; the contract suite runs against both), and like a database it stores values, not
 * references: every event goes through JSON on the way in, as it would into SQLite, and what is
 * stored is deep-frozen, so neither the caller's later changes to an event nor changes to what the
 * store returned can alter a recorded history.
 */
import { FencedError, StoreError } from '../core/errors.js';
import { isTerminal } from '../core/events.js';
import type { HistoryEvent, NewEvent, RunStatus } from '../core/events.js';
import type { ClaimResult, EventStore, LeaseHolder, RunLease, RunRecord, ScriptFile } from '../core/ports.js';
import { isEndedStatus, runStatusAfter, storeMessages as msg } from './schema.js';

interface MemoryRun {
  record: RunRecord;
  readonly events: HistoryEvent[];
  /** Creation order, to break ties of `startedAt` as SQLite's rowid does. */
  readonly order: number;
  owner: string | null;
  epoch: number;
  leaseUntil: number;
}

/** An `EventStore` in memory: nothing survives the process. */
export class MemoryEventStore implements EventStore {
  readonly #runs = new Map<string, MemoryRun>();
  readonly #scripts = new Map<string, readonly ScriptFile[]>();
  #closed = false;

  createRun(first: Omit<HistoryEvent & { kind: 'RunStarted' }, 'seq'>, lease?: { readonly owner: string; readonly leaseMs: number }): HistoryEvent {
    this.#checkOpen();
    if (first.kind !== 'RunStarted') throw new StoreError(msg.notFirst(first.runId));
    if (this.#runs.has(first.runId)) throw new StoreError(msg.runExists(first.runId));
    const event = stored(first.runId, { ...first, seq: 1 } as HistoryEvent) as HistoryEvent & { kind: 'RunStarted' };
    const record: RunRecord = {
      runId: event.runId,
      workflow: event.workflow,
      file: event.file,
      status: 'running',
      startedAt: event.at,
      ...(event.parent !== undefined ? { parentRunId: event.parent.runId } : {}),
      ...(event.resumedFrom !== undefined ? { resumedFrom: event.resumedFrom.runId } : {}),
      lastSeq: 1,
    };
    this.#runs.set(first.runId, {
      record: Object.freeze(record),
      events: [event],
      order: this.#runs.size,
      owner: lease?.owner ?? null,
      epoch: lease ? 1 : 0,
      leaseUntil: lease ? Date.now() + lease.leaseMs : 0,
    });
    return event;
  }

  append(runId: string, expectedLastSeq: number, events: readonly NewEvent[], lease?: RunLease): HistoryEvent[] {
    this.#checkOpen();
    if (!Number.isSafeInteger(expectedLastSeq) || expectedLastSeq < 0) throw new StoreError(msg.badSeq(runId, expectedLastSeq));
    const run = this.#runs.get(runId);
    if (run === undefined) throw new StoreError(msg.noSuchRun(runId));
    if (lease && (run.owner !== lease.owner || run.epoch !== lease.epoch)) throw new FencedError(msg.fenced(runId, lease.epoch, run.owner, run.epoch), runId);
    const { record } = run;
    if (record.lastSeq !== expectedLastSeq) throw new StoreError(msg.movedOn(runId, expectedLastSeq, record.lastSeq));
    if (events.length === 0) return [];
    if (isEndedStatus(record.status)) throw new StoreError(msg.runEnded(runId, record.status));
    // Build everything first: an append is all or nothing.
    const out: HistoryEvent[] = [];
    let endedAt: number | undefined;
    let seq = expectedLastSeq;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.kind === 'RunStarted') throw new StoreError(msg.startedAgain(runId));
      if (endedAt !== undefined) throw new StoreError(msg.afterTerminal(runId, events[i - 1]!.kind));
      if (isTerminal(e)) endedAt = e.at;
      seq++;
      out.push(stored(runId, { ...e, seq } as HistoryEvent));
    }
    run.events.push(...out);
    // The run had not ended, so its record has no endedAt to drop.
    run.record = Object.freeze({
      ...record,
      status: runStatusAfter(out[out.length - 1]!.kind),
      ...(endedAt !== undefined ? { endedAt } : {}),
      lastSeq: seq,
    });
    return out;
  }

  claimRun(runId: string, owner: string, leaseMs: number, canBreak?: (holder: LeaseHolder) => boolean): ClaimResult {
    this.#checkOpen();
    const run = this.#runs.get(runId);
    if (run === undefined) return { ok: false, reason: 'missing' };
    if (run.record.status !== 'running') return { ok: false, reason: 'ended' };
    const now = Date.now();
    const holder: LeaseHolder = { owner: run.owner, epoch: run.epoch, leaseUntil: run.leaseUntil, now };
    if (run.owner !== null && run.owner !== owner && run.leaseUntil > now && !(canBreak?.(holder) ?? false)) return { ok: false, reason: 'held', holder };
    run.owner = owner;
    run.epoch++;
    run.leaseUntil = now + leaseMs;
    return { ok: true, epoch: run.epoch };
  }

  renewLeases(owner: string, leases: readonly (RunLease & { readonly runId: string })[], leaseMs: number): string[] {
    this.#checkOpen();
    const lost: string[] = [];
    const until = Date.now() + leaseMs;
    for (const l of leases) {
      const run = this.#runs.get(l.runId);
      if (run && run.owner === owner && run.epoch === l.epoch) run.leaseUntil = until;
      else lost.push(l.runId);
    }
    return lost;
  }

  releaseLeases(owner: string, leases: readonly (RunLease & { readonly runId: string })[]): void {
    this.#checkOpen();
    for (const l of leases) {
      const run = this.#runs.get(l.runId);
      if (run && run.owner === owner && run.epoch === l.epoch) run.leaseUntil = 0;
    }
  }

  leaseOf(runId: string): LeaseHolder | undefined {
    this.#checkOpen();
    const run = this.#runs.get(runId);
    return run === undefined ? undefined : { owner: run.owner, epoch: run.epoch, leaseUntil: run.leaseUntil, now: Date.now() };
  }

  history(runId: string, fromSeq = 1): HistoryEvent[] {
    this.#checkOpen();
    const run = this.#runs.get(runId);
    if (run === undefined) return [];
    return run.events.slice(Math.max(0, Math.ceil(fromSeq) - 1));
  }

  getRun(runId: string): RunRecord | undefined {
    this.#checkOpen();
    return this.#runs.get(runId)?.record;
  }

  listRuns(filter: { readonly status?: RunStatus; readonly workflow?: string; readonly since?: number; readonly limit?: number } = {}): RunRecord[] {
    this.#checkOpen();
    const { status, workflow, since, limit } = filter;
    const runs = [...this.#runs.values()].filter(
      (r) =>
        (status === undefined || r.record.status === status) &&
        (workflow === undefined || r.record.workflow === workflow) &&
        (since === undefined || r.record.startedAt >= since),
    );
    runs.sort((a, b) => b.record.startedAt - a.record.startedAt || b.order - a.order);
    const records = runs.map((r) => r.record);
    return limit === undefined ? records : records.slice(0, Math.max(0, Math.floor(limit)));
  }

  /** Runs whose status is `running`, oldest first (the order to recover them in). */
  unfinishedRuns(): RunRecord[] {
    this.#checkOpen();
    const runs = [...this.#runs.values()].filter((r) => r.record.status === 'running');
    runs.sort((a, b) => a.record.startedAt - b.record.startedAt || a.order - b.order);
    return runs.map((r) => r.record);
  }

  putScript(digest: string, files: readonly ScriptFile[]): void {
    this.#checkOpen();
    if (this.#scripts.has(digest)) return;
    this.#scripts.set(digest, deepFreeze(files.map((f) => ({ path: f.path, text: f.text }))));
  }

  getScript(digest: string): ScriptFile[] | undefined {
    this.#checkOpen();
    const files = this.#scripts.get(digest);
    return files === undefined ? undefined : files.map((f) => ({ path: f.path, text: f.text }));
  }

  /** Marks the store closed (idempotent). Later calls throw `StoreError`, as SQLite's do. */
  close(): void {
    this.#closed = true;
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreError(msg.closed());
  }
}

/** The event as a database would give it back (through JSON), deep-frozen. */
function stored(runId: string, event: HistoryEvent): HistoryEvent {
  let text: string;
  try {
    text = JSON.stringify(event);
  } catch (err) {
    throw new StoreError(msg.notJson(runId, event.kind, (err as Error).message), { cause: err });
  }
  return deepFreeze(JSON.parse(text) as HistoryEvent);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
