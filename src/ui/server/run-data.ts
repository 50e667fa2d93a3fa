/**
 * This file keeps what the server knows of runs between requests, keyed by each run's last seq so
 * nothing is read twice: the full histories of the runs being looked at (a few, least recently used
 * dropped), extended with only the new events when a run moves on, with their projections (steps,
 * graph, ...) memoised per seq; and the runs list's per-run summary (the RunStarted event and the
 * counters), counted from the history only when the store keeps no counters on the run's row.
 */
import type { Engine, HistoryEvent, RunRecord, RunStarted } from '../../engine/index.js';
import { advanceCounters, NO_COUNTERS, type RunCounters } from '../../engine/core/run-counters.js';
import type { HistoryReader } from './reader.js';

/** Histories kept whole in memory at once (the pages being looked at). */
const MAX_HISTORIES = 8;
/** Summaries kept for the runs list. */
const MAX_SUMMARIES = 20_000;
/** Events read at once when a history is loaded or extended. */
const CHUNK = 5000;
/** Histories up to this long are read whole for the run page's header. */
const HEADER_WHOLE = 5000;
/** The events of a long history the header reads (see `headerHistory`). */
const HEADER_KINDS: readonly string[] = ['TaskFailed', 'ChildRunFailed', 'ChildRunStarted', 'RunCompleted', 'RunFailed', 'RunCancelled', 'NondeterminismDetected'];
const STEP_KINDS: readonly string[] = ['TaskScheduled', 'ChildRunStarted', 'AttemptStarted'];

interface HistoryEntry {
  events: HistoryEvent[];
  memo: Map<string, unknown>;
}

interface SummaryEntry {
  readonly started: RunStarted | undefined;
  lastSeq: number;
  counters: RunCounters;
  /** Task names by step, while a first error may still need one. */
  tasks?: Map<string, string>;
}

export class RunData {
  readonly #histories = new Map<string, HistoryEntry>();
  readonly #summaries = new Map<string, SummaryEntry>();

  constructor(
    readonly engine: Engine,
    readonly reader: HistoryReader,
  ) {}

  record(runId: string): RunRecord | undefined {
    return this.engine.store.getRun(runId);
  }

  /** Events after `after` (all of them, read in chunks), of `kinds` and containing `q` if given. */
  #read(runId: string, after: number, filter: { kinds?: readonly string[]; q?: string } = {}): HistoryEvent[] {
    const out: HistoryEvent[] = [];
    for (;;) {
      const page = this.reader.page(runId, { after, limit: CHUNK, ...filter });
      for (const e of page) out.push(e);
      if (page.length < CHUNK) return out;
      after = page[page.length - 1]!.seq;
    }
  }

  /** The whole history of a run, as of its record's last seq. */
  history(rec: RunRecord): HistoryEvent[] {
    let h = this.#histories.get(rec.runId);
    if (h) {
      this.#histories.delete(rec.runId); // most recently used last
      this.#histories.set(rec.runId, h);
    }
    const have = h ? (h.events[h.events.length - 1]?.seq ?? 0) : 0;
    if (!h || have < rec.lastSeq) {
      const more = this.#read(rec.runId, have);
      if (!h) h = { events: more, memo: new Map() };
      else if (more.length > 0) h = { events: h.events.concat(more), memo: new Map() };
      this.#histories.set(rec.runId, h);
      while (this.#histories.size > MAX_HISTORIES) this.#histories.delete(this.#histories.keys().next().value!);
    }
    return h.events;
  }

  /**
   * The events the run page's header needs: the whole history when it is small or already read,
   * else only the first event, the ends and failures, the child runs, the first failed step's
   * schedule and attempts, and the last event that says where the workflow waits. A header of a
   * 100,000-event run then reads a few hundred rows, not all of them.
   */
  headerHistory(rec: RunRecord): HistoryEvent[] {
    const cached = this.#histories.get(rec.runId);
    if (rec.lastSeq <= HEADER_WHOLE || (cached && (cached.events[cached.events.length - 1]?.seq ?? 0) >= rec.lastSeq)) return this.history(rec);
    const picked = new Map<number, HistoryEvent>();
    const add = (e: HistoryEvent | undefined): void => {
      if (e) picked.set(e.seq, e);
    };
    add(this.reader.event(rec.runId, 1));
    const ends = this.#read(rec.runId, 0, { kinds: HEADER_KINDS });
    ends.forEach(add);
    const failed = ends.find((e) => (e.kind === 'TaskFailed' || e.kind === 'ChildRunFailed') && e.error.kind !== 'cancelled');
    if (failed && 'stepId' in failed) {
      const stepId = failed.stepId;
      for (const e of this.#read(rec.runId, 0, { kinds: STEP_KINDS, q: JSON.stringify({ stepId }).slice(1, -1) })) if ('stepId' in e && e.stepId === stepId) add(e);
    }
    if (rec.status === 'running') add(this.reader.lastWaiting(rec.runId));
    return [...picked.values()].sort((a, b) => a.seq - b.seq);
  }

  /** A projection of a run's history, computed once per last seq. */
  memo<T>(rec: RunRecord, name: string, make: (history: HistoryEvent[]) => T): T {
    const events = this.history(rec);
    const h = this.#histories.get(rec.runId)!;
    if (h.memo.has(name)) return h.memo.get(name) as T;
    const v = make(events);
    h.memo.set(name, v);
    return v;
  }

  /** The counters the store keeps on the run's row, if it has them (SqliteEventStore.counters). */
  #storeCounters(runId: string): RunCounters | undefined {
    const store = this.engine.store as { counters?: (runId: string) => RunCounters | undefined };
    if (typeof store.counters !== 'function') return undefined;
    try {
      return store.counters(runId);
    } catch {
      return undefined;
    }
  }

  /**
   * The run's RunStarted event and counters, for its list row: the record's own counters when the
   * store returned them, an ended run's stored counters, else counted here from the events since
   * the last look (a running run: only its new events are read).
   */
  summary(rec: RunRecord): { started: RunStarted | undefined; counters: RunCounters } {
    const stored = rec.counters;
    let s = this.#summaries.get(rec.runId);
    if (!s) {
      const first = this.reader.event(rec.runId, 1);
      s = { started: first?.kind === 'RunStarted' ? first : undefined, lastSeq: 0, counters: NO_COUNTERS, tasks: new Map() };
      this.#summaries.set(rec.runId, s);
      while (this.#summaries.size > MAX_SUMMARIES) this.#summaries.delete(this.#summaries.keys().next().value!);
    }
    if (stored) return { started: s.started, counters: stored };
    if (s.lastSeq < rec.lastSeq && rec.status !== 'running') {
      // An ended run's counters are stored on its row (SQLite store): one read, and they stay.
      const fromStore = this.#storeCounters(rec.runId);
      if (fromStore) {
        s.counters = fromStore;
        s.lastSeq = rec.lastSeq;
        delete s.tasks;
      }
    }
    if (s.lastSeq < rec.lastSeq) {
      const cached = this.#histories.get(rec.runId);
      const events = cached && (cached.events[cached.events.length - 1]?.seq ?? 0) >= rec.lastSeq ? cached.events.slice(s.lastSeq) : this.#read(rec.runId, s.lastSeq);
      const tasks = s.tasks;
      if (tasks && !s.counters.firstError) for (const e of events) if (e.kind === 'TaskScheduled') tasks.set(e.stepId, e.task);
      s.counters = advanceCounters(s.counters, events, (id) => tasks?.get(id));
      if (s.counters.firstError || rec.status !== 'running') delete s.tasks;
      s.lastSeq = events[events.length - 1]?.seq ?? s.lastSeq;
    }
    return { started: s.started, counters: s.counters };
  }
}
