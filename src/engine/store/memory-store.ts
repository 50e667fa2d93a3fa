/**
 * This file defines the in-memory event store, for tests and the in-memory test engine. It keeps
 * the SQLite store's semantics exactly (the same seq guard, status rules, ordering and error
 * messages; the contract suite runs against both), and like a database it stores values, not
 * references: every event goes through JSON on the way in, as it would into SQLite, and what is
 * stored is deep-frozen, so neither the caller's later changes to an event nor changes to what the
 * store returned can alter a recorded history.
 */
import { DuplicateRunError, FencedError, StoreError } from '../core/errors.js';
import { isTerminal } from '../core/events.js';
import type { HistoryEvent, NewEvent } from '../core/events.js';
import type { Json } from '../core/json.js';
import type { ClaimResult, EventStore, InboxMessage, InboxPost, LeaseHolder, OutboxFilter, OutboxItem, RunFilter, RunLease, RunRecord, ScriptFile } from '../core/ports.js';
import { compareRunIds, foldCase, inboxIdOf, isEndedStatus, outboxRowsOf, parseRunCursor, runStatusAfter, storeMessages as msg } from './schema.js';

interface MemoryRun {
  record: RunRecord;
  readonly events: HistoryEvent[];
  /** Creation order, to break ties of `startedAt` as SQLite's rowid does. */
  readonly order: number;
  owner: string | null;
  epoch: number;
  leaseUntil: number;
  /** The run's inbox, in id order. */
  readonly inbox: MemoryInboxEntry[];
}

interface MemoryInboxEntry {
  readonly message: InboxMessage;
  /** The seq of the SignalReceived that consumed the message; null while it waits. */
  consumedSeq: number | null;
}

/** An `EventStore` in memory: nothing survives the process. */
export class MemoryEventStore implements EventStore {
  readonly #runs = new Map<string, MemoryRun>();
  readonly #scripts = new Map<string, readonly ScriptFile[]>();
  /** Idempotency key → run id. */
  readonly #keys = new Map<string, string>();
  #lastInboxId = 0;
  /** The outbox, in id order (rows are replaced, never changed: each is frozen). */
  readonly #outbox: OutboxItem[] = [];
  readonly #outboxKeys = new Set<string>();
  #lastOutboxId = 0;
  #closed = false;

  createRun(
    first: Omit<HistoryEvent & { kind: 'RunStarted' }, 'seq'>,
    lease?: { readonly owner: string; readonly leaseMs: number },
    idempotencyKey?: string,
  ): HistoryEvent {
    this.#checkOpen();
    if (first.kind !== 'RunStarted') throw new StoreError(msg.notFirst(first.runId));
    if (idempotencyKey !== undefined) {
      const existing = this.#keys.get(idempotencyKey);
      if (existing !== undefined) throw new DuplicateRunError(msg.keyTaken(first.runId, idempotencyKey, existing), existing);
    }
    if (this.#runs.has(first.runId)) throw new DuplicateRunError(msg.runExists(first.runId), first.runId);
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
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
    };
    if (idempotencyKey !== undefined) this.#keys.set(idempotencyKey, first.runId);
    this.#runs.set(first.runId, {
      record: Object.freeze(record),
      events: [event],
      order: this.#runs.size,
      owner: lease?.owner ?? null,
      epoch: lease ? 1 : 0,
      leaseUntil: lease ? Date.now() + lease.leaseMs : 0,
      inbox: [],
    });
    return event;
  }

  runByIdempotencyKey(key: string): RunRecord | undefined {
    this.#checkOpen();
    const runId = this.#keys.get(key);
    return runId === undefined ? undefined : this.#runs.get(runId)?.record;
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
    /** The inbox messages this append delivers, with the seq of the event delivering each. */
    let consumed: [MemoryInboxEntry, number][] | undefined;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.kind === 'RunStarted') throw new StoreError(msg.startedAgain(runId));
      if (endedAt !== undefined) throw new StoreError(msg.afterTerminal(runId, events[i - 1]!.kind));
      if (isTerminal(e)) endedAt = e.at;
      seq++;
      out.push(stored(runId, { ...e, seq } as HistoryEvent));
      const inboxId = inboxIdOf(e);
      if (inboxId !== undefined) (consumed ??= []).push([this.#inboxEntry(run, inboxId), seq]);
    }
    // The checks SQLite's UPDATE ... WHERE consumed_seq IS NULL makes, before anything changes
    // (the same message twice in one append included).
    if (consumed !== undefined) {
      const seen = new Map<MemoryInboxEntry, number>();
      for (const [entry, at] of consumed) {
        const by = entry.consumedSeq ?? seen.get(entry);
        if (by !== undefined) throw new StoreError(msg.inboxConsumed(runId, entry.message.id, by), undefined, 'inbox');
        seen.set(entry, at);
      }
      for (const [entry, at] of consumed) entry.consumedSeq = at;
    }
    // Notifications queued by an event go into the outbox with it (idempotent by key); nothing
    // below can fail, so the append stays all or nothing.
    for (const e of out) {
      const rows = outboxRowsOf(runId, e);
      if (rows === undefined) continue;
      for (const r of rows) {
        if (this.#outboxKeys.has(r.key)) continue;
        this.#outboxKeys.add(r.key);
        this.#outbox.push(
          deepFreeze({
            id: ++this.#lastOutboxId,
            runId,
            event: r.event as OutboxItem['event'],
            sinkIndex: r.sinkIndex,
            sink: JSON.parse(r.sink) as OutboxItem['sink'],
            payload: JSON.parse(r.payload) as Json,
            key: r.key,
            status: 'pending',
            attempts: 0,
            nextAt: 0,
            claimedUntil: 0,
            createdAt: e.at,
          }),
        );
      }
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

  listRuns(filter: RunFilter = {}): RunRecord[] {
    this.#checkOpen();
    const { status, workflow, since, until, limit } = filter;
    const after = filter.after === undefined ? undefined : parseRunCursor(filter.after);
    const search = filter.search === undefined ? undefined : foldCase(filter.search);
    const records = [...this.#runs.values()]
      .map((r) => r.record)
      .filter(
        (r) =>
          (status === undefined || r.status === status) &&
          (workflow === undefined || r.workflow === workflow) &&
          (since === undefined || r.startedAt >= since) &&
          (until === undefined || r.startedAt < until) &&
          (search === undefined || foldCase(r.runId).includes(search) || foldCase(r.workflow).includes(search)) &&
          (after === undefined || r.startedAt < after.startedAt || (r.startedAt === after.startedAt && compareRunIds(r.runId, after.runId) < 0)),
      );
    records.sort((a, b) => b.startedAt - a.startedAt || compareRunIds(b.runId, a.runId));
    return limit === undefined ? records : records.slice(0, Math.max(0, Math.floor(limit)));
  }

  /** Runs whose status is `running`, oldest first (the order to recover them in). */
  unfinishedRuns(): RunRecord[] {
    this.#checkOpen();
    const runs = [...this.#runs.values()].filter((r) => r.record.status === 'running');
    runs.sort((a, b) => a.record.startedAt - b.record.startedAt || a.order - b.order);
    return runs.map((r) => r.record);
  }

  postInbox(runId: string, post: InboxPost): { readonly id: number; readonly duplicate: boolean } {
    this.#checkOpen();
    const run = this.#runs.get(runId);
    if (run === undefined) throw new StoreError(msg.postNoSuchRun(runId), undefined, 'missing');
    if (post.key !== undefined) {
      const same = run.inbox.find((e) => e.message.key === post.key);
      if (same !== undefined) return { id: same.message.id, duplicate: true };
    }
    if (isEndedStatus(run.record.status)) throw new StoreError(msg.postEnded(runId, run.record.status), undefined, 'ended');
    if (post.kind !== 'signal') throw new StoreError(msg.postBadKind(runId, String(post.kind)));
    const payload = storedPayload(runId, post);
    const id = ++this.#lastInboxId;
    const message: InboxMessage = {
      id,
      runId,
      kind: 'signal',
      name: post.name,
      payload,
      ...(post.key !== undefined ? { key: post.key } : {}),
      postedAt: Date.now(),
    };
    run.inbox.push({ message: deepFreeze(message), consumedSeq: null });
    return { id, duplicate: false };
  }

  pendingInbox(runId: string): InboxMessage[] {
    this.#checkOpen();
    const run = this.#runs.get(runId);
    if (run === undefined) return [];
    return run.inbox.filter((e) => e.consumedSeq === null).map((e) => e.message);
  }

  runsWithPendingInbox(): string[] {
    this.#checkOpen();
    const waiting: [string, number][] = [];
    for (const run of this.#runs.values()) {
      if (run.record.status !== 'running') continue;
      const first = run.inbox.find((e) => e.consumedSeq === null);
      if (first !== undefined) waiting.push([run.record.runId, first.message.id]);
    }
    return waiting.sort((a, b) => a[1] - b[1]).map(([runId]) => runId);
  }

  claimOutbox(_owner: string, now: number, limit: number, leaseMs: number): OutboxItem[] {
    this.#checkOpen();
    const due = this.#outbox
      .map((item, i) => [item, i] as const)
      .filter(([item]) => item.status === 'pending' && item.nextAt <= now && item.claimedUntil < now)
      .sort((a, b) => a[0].nextAt - b[0].nextAt || a[0].id - b[0].id)
      .slice(0, Math.max(0, Math.floor(limit)));
    return due.map(([item, i]) => (this.#outbox[i] = deepFreeze({ ...item, claimedUntil: now + leaseMs })));
  }

  completeOutbox(id: number, ok: boolean, error?: string, nextAt?: number, giveUp?: boolean): void {
    this.#checkOpen();
    const i = this.#outbox.findIndex((item) => item.id === id);
    const item = this.#outbox[i];
    if (item === undefined || item.status !== 'pending') return;
    const next: { -readonly [K in keyof OutboxItem]: OutboxItem[K] } = { ...item, attempts: item.attempts + 1, claimedUntil: 0 };
    if (ok) {
      next.status = 'delivered';
      next.deliveredAt = Date.now();
    } else {
      next.status = giveUp ? 'failed' : 'pending';
      if (error !== undefined) next.lastError = error;
      else delete next.lastError;
      if (nextAt !== undefined) next.nextAt = nextAt;
    }
    this.#outbox[i] = deepFreeze(next);
  }

  listOutbox(filter: OutboxFilter = {}): OutboxItem[] {
    this.#checkOpen();
    return this.#outbox.filter((item) => (filter.status === undefined || item.status === filter.status) && (filter.runId === undefined || item.runId === filter.runId));
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

  /** The entry of the run's inbox message `inboxId`. @throws StoreError (code 'inbox') if there is none */
  #inboxEntry(run: MemoryRun, inboxId: number): MemoryInboxEntry {
    const entry = run.inbox.find((e) => e.message.id === inboxId);
    if (entry === undefined) throw new StoreError(msg.inboxMissing(run.record.runId, inboxId), undefined, 'inbox');
    return entry;
  }
}

/** A message's payload as a database would give it back (through JSON). */
function storedPayload(runId: string, post: InboxPost): Json {
  let text: string | undefined;
  try {
    text = JSON.stringify(post.payload);
  } catch (err) {
    throw new StoreError(msg.postNotJson(runId, post.name, (err as Error).message), { cause: err });
  }
  if (text === undefined) throw new StoreError(msg.postNotJson(runId, post.name, `${typeof post.payload} has no JSON form`));
  return JSON.parse(text) as Json;
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
