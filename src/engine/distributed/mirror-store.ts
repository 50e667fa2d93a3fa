/**
 * This file defines the store an engine drives shared-database runs through: a synchronous
 * `EventStore` over the runs this worker holds, kept in memory, whose writes go to an asynchronous
 * store (PostgreSQL) by group commit. The engine keeps its one code path: it appends, then waits
 * for `durable(runId)` before any side effect of the append (starting a task, reporting a result),
 * so nothing is done on the strength of an event the database has not committed. Within one
 * tick, the appends of every run this worker holds go to the database as one `appendMany`, each
 * proving its run's owner, epoch and next seq.
 *
 * A run whose write is refused (another worker claimed it after this one's lease ran out) is lost:
 * its later appends throw `FencedError` at once, and the engine's lease keeper drops it at its next
 * renewal (`renewLeases` reports it).
 *
 * Reads are served from memory for held runs only; a worker never needs another's.
 */
import { FencedError, StoreError } from '../core/errors.js';
import type { HistoryEvent, NewEvent } from '../core/events.js';
import type {
  ClaimResult,
  EventStore,
  InboxMessage,
  InboxPost,
  LeaseHolder,
  OutboxFilter,
  OutboxItem,
  RunFilter,
  RunLease,
  RunRecord,
  ScriptFile,
} from '../core/ports.js';
import { MemoryEventStore } from '../store/memory-store.js';
import type { AppendBatch, AsyncEventStore } from '../store/async-store.js';

interface Held {
  epoch: number;
  /** Seq up to which the database has this run's history. */
  durableSeq: number;
  /** Events appended here and not yet sent. */
  queued: NewEvent[];
  /** True while a write of this run is in flight. */
  inFlight: boolean;
  /** Set when the database refused a write (the run is lost to this worker). */
  lost?: Error;
  /** Callers waiting until `durableSeq` reaches a seq. */
  waiters: { seq: number; resolve: () => void; reject: (e: Error) => void }[];
  /** A run created here whose row the database does not have yet. */
  create?: { first: HistoryEvent & { kind: 'RunStarted' }; idempotencyKey?: string };
}

/** What a mirror reports of its writes (for `larkflow workers`, logs and the fault tests). */
export interface MirrorHooks {
  /** A write committed: events `fromSeq..toSeq` of the run, under `epoch`. */
  readonly onCommit?: (runId: string, epoch: number, fromSeq: number, toSeq: number) => void;
  /**
   * The run is lost to this worker: the database refused a write of it (`via` 'append': fenced, or
   * its history moved on), or a lease renewal found another worker holds it ('renew').
   */
  readonly onRefused?: (runId: string, epoch: number, error: Error, via: 'append' | 'create' | 'renew') => void;
}

export class MirrorStore implements EventStore {
  /** One in-memory store per held run (dropped whole when the run is forgotten). */
  private readonly locals = new Map<string, MemoryEventStore>();
  private readonly held = new Map<string, Held>();
  private readonly lostRuns = new Set<string>();
  private flushScheduled = false;
  private readonly scripts = new Map<string, ScriptFile[]>();
  private readonly scriptWrites = new Map<string, Promise<void>>();
  /** Lease releases in flight. */
  private readonly releases = new Set<Promise<void>>();
  /** Inbox messages of held runs, as last read from the database. */
  private readonly inbox = new Map<string, InboxMessage[]>();
  /** Per held run: database inbox id → the id of the same message in the run's in-memory store. */
  private readonly inboxIds = new Map<string, Map<number, number>>();
  private closing = false;
  /**
   * Runs held elsewhere that the held runs need to know of (their child runs), as last read from
   * the database by the worker: their rows, and the histories of those that ended.
   */
  private readonly foreign = new Map<string, { rec: RunRecord; history?: HistoryEvent[] }>();
  /** Messages to runs held elsewhere (a cancellation reaching a child), being posted. */
  private readonly posts = new Set<Promise<unknown>>();

  constructor(
    readonly remote: AsyncEventStore,
    /** The worker id of the engine over this store (set once the engine exists). */
    public owner: string,
    private readonly leaseMs: number,
    private readonly hooks: MirrorHooks = {},
    private readonly options: { /** close() closes the remote store too. */ readonly closeRemote?: boolean } = {},
  ) {}

  // -------------------------------------------------------------------------------------------
  // Adoption (the worker claimed a run in the database; the engine recovers it from here)

  /** Takes a run the worker claimed at `epoch`, with its history and script, into memory. */
  adopt(epoch: number, history: readonly HistoryEvent[], script: readonly ScriptFile[] | undefined): void {
    const first = history[0];
    if (!first || first.kind !== 'RunStarted') throw new StoreError('cannot adopt a run without its RunStarted event');
    const runId = first.runId;
    if (this.locals.has(runId)) this.forget(runId);
    const local = new MemoryEventStore();
    this.locals.set(runId, local);
    const { seq: _seq, ...start } = first;
    local.createRun(start as Omit<HistoryEvent & { kind: 'RunStarted' }, 'seq'>);
    // The inbox messages the history took (SignalReceived) are posted to the in-memory store first,
    // so that its append finds and consumes them; the in-memory history names them by their
    // in-memory ids, mapped from the database's as `setInbox` maps messages read later.
    const ids = new Map<number, number>();
    const rest = history.slice(1).map(({ seq: _s, ...e }) => {
      if (e.kind !== 'SignalReceived') return e as NewEvent;
      const posted = local.postInbox(runId, { kind: 'signal', name: e.name, payload: e.payload, key: `db:${e.inboxId}` });
      ids.set(e.inboxId, posted.id);
      return { ...e, inboxId: posted.id } as NewEvent;
    });
    if (rest.length > 0) local.append(runId, 1, rest);
    this.inboxIds.set(runId, ids);
    if (script) this.scripts.set(first.scriptDigest, [...script]);
    this.held.set(runId, { epoch, durableSeq: history.length, queued: [], inFlight: false, waiters: [] });
    this.lostRuns.delete(runId);
  }

  /**
   * Records what the database says of a run held elsewhere (a held run's child): `getRun` answers
   * with it, and `history` with the history of one that ended, so a parent's recovery sees its
   * child as it is instead of starting it again.
   */
  noteForeign(rec: RunRecord, history?: readonly HistoryEvent[]): void {
    if (this.held.has(rec.runId)) return;
    this.foreign.set(rec.runId, { rec, ...(history ? { history: [...history] } : {}) });
  }

  /** Forgets what was noted of a run held elsewhere. */
  forgetForeign(runId: string): void {
    this.foreign.delete(runId);
  }

  /** The runs held here. */
  heldRunIds(): string[] {
    return [...this.held.keys()];
  }

  /** True if a run is held here and not lost. */
  holds(runId: string): boolean {
    const h = this.held.get(runId);
    return h !== undefined && h.lost === undefined;
  }

  /** Drops a run from memory (finished, lost or released). */
  forget(runId: string): void {
    const h = this.held.get(runId);
    if (h) for (const w of h.waiters) w.reject(h.lost ?? new StoreError(`run ${runId} was released by this worker`));
    this.held.delete(runId);
    this.inbox.delete(runId);
    this.inboxIds.delete(runId);
    this.locals.delete(runId);
  }

  /**
   * Replaces the cached inbox of a held run (read from the database by the worker's poll). Each
   * message is also posted to the run's in-memory store, whose own id stands for the database's
   * in the in-memory history (the database's history keeps the database's id).
   */
  setInbox(runId: string, messages: readonly InboxMessage[]): void {
    const local = this.locals.get(runId);
    if (!this.held.has(runId) || !local) return;
    let ids = this.inboxIds.get(runId);
    if (!ids) this.inboxIds.set(runId, (ids = new Map()));
    for (const m of messages) {
      if (ids.has(m.id)) continue;
      const posted = local.postInbox(runId, { kind: 'signal', name: m.name, payload: m.payload, key: `db:${m.id}` });
      ids.set(m.id, posted.id);
    }
    this.inbox.set(runId, [...messages]);
  }

  /**
   * Resolves once everything appended to `runId` so far is committed in the database; rejects with
   * the database's refusal. Undefined when nothing is pending (the engine goes on synchronously).
   */
  durable(runId: string): Promise<void> | undefined {
    const h = this.held.get(runId);
    if (!h) return undefined;
    if (h.lost) return Promise.reject(h.lost);
    const seq = this.locals.get(runId)?.getRun(runId)?.lastSeq ?? 0;
    if (seq <= h.durableSeq) return undefined;
    return new Promise((resolve, reject) => h.waiters.push({ seq, resolve, reject }));
  }

  /** True while something appended to the run is not yet committed (or was refused). */
  hasPendingWrites(runId: string): boolean {
    const h = this.held.get(runId);
    if (!h) return false;
    if (h.lost) return true;
    return (this.locals.get(runId)?.getRun(runId)?.lastSeq ?? 0) > h.durableSeq;
  }

  /** Resolves once every queued write has been answered. */
  async flushed(): Promise<void> {
    const all = [...this.held.keys()].map((id) => this.durable(id)?.catch(() => undefined));
    await Promise.all([...all, ...this.scriptWrites.values(), ...this.releases, ...this.posts]);
  }

  // -------------------------------------------------------------------------------------------
  // Group commit

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const creates: { runId: string; h: Held }[] = [];
    const batches: AppendBatch[] = [];
    const sent = new Map<string, { h: Held; upTo: number; count: number }>();
    for (const [runId, h] of this.held) {
      if (h.inFlight || h.lost || (h.queued.length === 0 && !h.create)) continue;
      h.inFlight = true;
      if (h.create) {
        creates.push({ runId, h });
        continue;
      }
      const events = h.queued.splice(0);
      batches.push({ runId, expectedLastSeq: h.durableSeq, events, lease: { owner: this.owner, epoch: h.epoch } });
      sent.set(runId, { h, upTo: h.durableSeq + events.length, count: events.length });
    }
    await Promise.all(creates.map(({ runId, h }) => this.sendCreate(runId, h)));
    if (batches.length === 0) return;
    let outcomes;
    try {
      outcomes = await this.remote.appendMany(batches);
    } catch (e) {
      // The database is unreachable: keep the events queued and try again shortly (the lease has
      // slack; if it runs out meanwhile, the next write is refused and the run is lost).
      for (const b of batches) {
        const s = sent.get(b.runId)!;
        s.h.queued.unshift(...b.events);
        s.h.inFlight = false;
      }
      if (!this.closing) setTimeout(() => this.scheduleFlush(), 100).unref();
      void e;
      return;
    }
    for (const [runId, s] of sent) {
      const out = outcomes.get(runId);
      s.h.inFlight = false;
      if (out && out.ok) {
        this.hooks.onCommit?.(runId, s.h.epoch, s.h.durableSeq + 1, s.upTo);
        s.h.durableSeq = s.upTo;
        this.settle(s.h);
      } else {
        this.lose(runId, s.h, out && !out.ok ? out.error : new StoreError(`the database did not answer for run ${runId}`), 'append');
      }
    }
    if ([...this.held.values()].some((h) => h.queued.length > 0 && !h.inFlight && !h.lost)) this.scheduleFlush();
  }

  private async sendCreate(runId: string, h: Held): Promise<void> {
    const c = h.create!;
    const { seq: _seq, ...first } = c.first;
    try {
      await this.remote.createRun(first, { owner: this.owner, leaseMs: this.leaseMs }, c.idempotencyKey);
      delete h.create;
      h.durableSeq = 1;
      this.hooks.onCommit?.(runId, h.epoch, 1, 1);
      h.inFlight = false;
      this.settle(h);
      this.scheduleFlush();
    } catch (e) {
      h.inFlight = false;
      this.lose(runId, h, e instanceof Error ? e : new StoreError(String(e)), 'create');
    }
  }

  private settle(h: Held): void {
    const keep: Held['waiters'] = [];
    for (const w of h.waiters) (w.seq <= h.durableSeq ? w.resolve() : keep.push(w));
    h.waiters = keep;
  }

  private lose(runId: string, h: Held, e: Error, via: 'append' | 'create' | 'renew'): void {
    this.hooks.onRefused?.(runId, h.epoch, e, via);
    h.lost = e instanceof FencedError ? e : new FencedError(`run ${runId}: the database refused this worker's write (${e.message})`, runId);
    this.lostRuns.add(runId);
    for (const w of h.waiters) w.reject(h.lost);
    h.waiters = [];
  }

  // -------------------------------------------------------------------------------------------
  // EventStore

  createRun(first: Omit<HistoryEvent & { kind: 'RunStarted' }, 'seq'>, lease?: { readonly owner: string; readonly leaseMs: number }, idempotencyKey?: string): HistoryEvent {
    if (idempotencyKey !== undefined) {
      const existing = this.runByIdempotencyKey(idempotencyKey);
      if (existing) return this.locals.get(existing.runId)!.createRun(first, lease, idempotencyKey); // throws DuplicateRunError
    }
    const local = new MemoryEventStore();
    const e = local.createRun(first, lease, idempotencyKey);
    this.locals.set(first.runId, local);
    const h: Held = { epoch: 1, durableSeq: 0, queued: [], inFlight: false, waiters: [], create: { first: e as HistoryEvent & { kind: 'RunStarted' }, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) } };
    this.held.set(first.runId, h);
    this.scheduleFlush();
    return e;
  }

  runByIdempotencyKey(key: string): RunRecord | undefined {
    for (const l of this.locals.values()) {
      const r = l.runByIdempotencyKey(key);
      if (r) return r;
    }
    return undefined;
  }

  append(runId: string, expectedLastSeq: number, events: readonly NewEvent[], lease?: RunLease): HistoryEvent[] {
    const h = this.held.get(runId);
    if (!h) throw new FencedError(`run ${runId} is not held by this worker`, runId);
    if (h.lost) throw h.lost;
    if (lease && (lease.owner !== this.owner || lease.epoch !== h.epoch)) throw new FencedError(`run ${runId}: stale lease (epoch ${lease.epoch}, held at ${h.epoch})`, runId);
    // A SignalReceived names the database's inbox message: the in-memory copy names the same
    // message's in-memory id.
    const ids = this.inboxIds.get(runId);
    const localEvents = events.map((e) => {
      if (e.kind !== 'SignalReceived') return e;
      const localId = ids?.get(e.inboxId);
      if (localId === undefined) throw new StoreError(`cannot append to run ${runId}: SignalReceived names inbox message ${e.inboxId}, which this worker has not read`, undefined, 'inbox');
      return { ...e, inboxId: localId };
    });
    const appended = this.locals.get(runId)!.append(runId, expectedLastSeq, localEvents);
    // The messages taken are no longer waiting (the next read from the database agrees).
    const taken = new Set(events.flatMap((e) => (e.kind === 'SignalReceived' ? [e.inboxId] : [])));
    if (taken.size > 0) this.inbox.set(runId, (this.inbox.get(runId) ?? []).filter((m) => !taken.has(m.id)));
    h.queued.push(...events);
    this.scheduleFlush();
    return appended;
  }

  claimRun(runId: string, _owner: string, _leaseMs: number): ClaimResult {
    const h = this.held.get(runId);
    if (!h) return { ok: false, reason: 'missing' };
    if (h.lost) return { ok: false, reason: 'held', holder: { owner: null, epoch: h.epoch, leaseUntil: 0, now: 0 } };
    return { ok: true, epoch: h.epoch };
  }

  renewLeases(owner: string, leases: readonly (RunLease & { readonly runId: string })[], leaseMs: number): string[] {
    const lost = [...this.lostRuns];
    this.lostRuns.clear();
    const mine = leases.filter((l) => this.holds(l.runId) && !this.held.get(l.runId)!.create);
    if (mine.length > 0 && !this.closing) {
      const withEpochs = mine.map((l) => ({ ...l, epoch: this.held.get(l.runId)!.epoch }));
      this.remote.renewLeases(owner, withEpochs, leaseMs).then(
        (gone) => {
          for (const id of gone) {
            const h = this.held.get(id);
            if (h && !h.lost) this.lose(id, h, new FencedError(`run ${id} was claimed by another worker after this worker's lease ran out`, id), 'renew');
          }
        },
        () => undefined, // unreachable database: the lease has slack; try again next tick
      );
    }
    return lost;
  }

  releaseLeases(owner: string, leases: readonly (RunLease & { readonly runId: string })[]): void {
    const mine = leases.filter((l) => this.held.has(l.runId));
    if (mine.length === 0) return;
    const withEpochs = mine.map((l) => ({ ...l, epoch: this.held.get(l.runId)!.epoch }));
    const ids = mine.map((l) => l.runId);
    // Release only once the run's writes are in (a released run may be claimed at once).
    const p: Promise<void> = Promise.all(ids.map((id) => this.durable(id)?.catch(() => undefined)))
      .then(() => this.remote.releaseLeases(owner, withEpochs))
      .catch(() => undefined)
      .finally(() => this.releases.delete(p));
    this.releases.add(p);
  }

  leaseOf(runId: string): LeaseHolder | undefined {
    const h = this.held.get(runId);
    if (!h) return undefined;
    return { owner: h.lost ? null : this.owner, epoch: h.epoch, leaseUntil: Number.MAX_SAFE_INTEGER, now: 0 };
  }

  history(runId: string, fromSeq?: number): HistoryEvent[] {
    const local = this.locals.get(runId);
    if (local) return local.history(runId, fromSeq);
    const f = this.foreign.get(runId)?.history ?? [];
    return fromSeq === undefined ? [...f] : f.filter((e) => e.seq >= fromSeq);
  }

  getRun(runId: string): RunRecord | undefined {
    return this.locals.get(runId)?.getRun(runId) ?? this.foreign.get(runId)?.rec;
  }

  /** The held runs that match (the shared database has the others). */
  listRuns(filter: RunFilter = {}): RunRecord[] {
    const { after: _after, limit, ...rest } = filter;
    const all = [...this.locals.values()].flatMap((l) => l.listRuns(rest));
    all.sort((a, b) => b.startedAt - a.startedAt || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0));
    return limit !== undefined ? all.slice(0, limit) : all;
  }

  unfinishedRuns(): RunRecord[] {
    return [...this.locals.entries()].filter(([id]) => this.holds(id)).flatMap(([, l]) => l.unfinishedRuns());
  }

  /**
   * A message to a run held elsewhere (a cancellation of a child run, a child's end to its parent) is posted to the database in
   * the background, tried again for a while if it is unreachable; the answer is a placeholder.
   */
  postInbox(runId: string, msg: InboxPost): { readonly id: number; readonly duplicate: boolean } {
    if (this.held.has(runId)) {
      throw new StoreError(`signals to run ${runId} go through the shared database (engine.signal on a worker is not supported yet: use larkflow signal --db URL)`);
    }
    const send = async (): Promise<void> => {
      for (let tries = 0; ; tries++) {
        try {
          await this.remote.postInbox(runId, msg);
          return;
        } catch (e) {
          if ((e as { code?: string }).code === 'ended' || (e as { code?: string }).code === 'missing' || tries >= 20 || this.closing) return;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    };
    const p: Promise<void> = send().finally(() => this.posts.delete(p));
    this.posts.add(p);
    return { id: 0, duplicate: false };
  }

  pendingInbox(runId: string): InboxMessage[] {
    return [...(this.inbox.get(runId) ?? [])];
  }

  runsWithPendingInbox(): string[] {
    return [...this.inbox.entries()].filter(([id, m]) => m.length > 0 && this.holds(id)).map(([id]) => id);
  }

  // The outbox of a shared database is delivered by the worker's own loop over the database.
  claimOutbox(): OutboxItem[] {
    return [];
  }

  completeOutbox(): void {}

  listOutbox(_filter?: OutboxFilter): OutboxItem[] {
    return [];
  }

  putScript(digest: string, files: readonly ScriptFile[]): void {
    if (this.scripts.has(digest)) return;
    this.scripts.set(digest, [...files]);
    const w = this.remote.putScript(digest, files).catch(() => undefined);
    this.scriptWrites.set(digest, w.then(() => void this.scriptWrites.delete(digest)));
  }

  getScript(digest: string): ScriptFile[] | undefined {
    return this.scripts.get(digest);
  }

  /** Caches a script read from the database. */
  cacheScript(digest: string, files: readonly ScriptFile[]): void {
    this.scripts.set(digest, [...files]);
  }

  /** Waits for the writes in flight, then (with `closeRemote`) closes the database connection. */
  async close(): Promise<void> {
    if (this.closing) return;
    await this.flushed();
    this.closing = true;
    if (this.options.closeRemote) await this.remote.close();
  }

  /** Stops writing at once, as a crash would (tests). */
  abandon(): void {
    this.closing = true;
    for (const h of this.held.values()) h.lost = new StoreError('this worker stopped');
  }
}
