/**
 * This file follows the database for the server's live streams. One tailer per server:
 *
 * - `SqliteTailer` (a database file, written by any process): every `intervalMs` (250 ms) it reads
 *   `PRAGMA data_version` on its own connection, which changes when another connection commits;
 *   only then does it run one query, the events after the last global position it saw (rowid), and
 *   fans them out: each run's events to that run's subscribers, the ids of the runs that changed to
 *   the runs-list subscribers. It polls only while someone subscribes.
 * - `EngineTailer` (a store without a file: the engine in this process is the only writer): the
 *   engine's own event emitter.
 *
 * The cursor of the runs list (`cursor()`, `changedSince`) is the global position for SQLite and a
 * counter of changes for the engine's emitter.
 */
import type { Engine, HistoryEvent } from '../../engine/index.js';
import type { SqliteReader } from './reader.js';

/** What the SQLite tailer reads (SqliteReader's tail methods). */
export type TailSource = Pick<SqliteReader, 'closed' | 'dataVersion' | 'maxRowid' | 'tail' | 'changedSince'>;

export type RunListener = (events: readonly HistoryEvent[]) => void;
export type ListListener = (change: { readonly cursor: number; readonly runIds: readonly string[] }) => void;

export interface Tailer {
  subscribeRun(runId: string, fn: RunListener): () => void;
  subscribeList(fn: ListListener): () => void;
  /** The position of the last change seen. */
  cursor(): number;
  /** The runs that changed after `cursor`, if the tailer can tell. */
  changedSince(cursor: number): string[] | undefined;
  close(): void;
}

abstract class Fanout {
  protected readonly runs = new Map<string, Set<RunListener>>();
  protected readonly lists = new Set<ListListener>();

  subscribeRun(runId: string, fn: RunListener): () => void {
    let set = this.runs.get(runId);
    if (!set) this.runs.set(runId, (set = new Set()));
    set.add(fn);
    this.changed();
    return () => {
      set!.delete(fn);
      if (set!.size === 0) this.runs.delete(runId);
      this.changed();
    };
  }

  subscribeList(fn: ListListener): () => void {
    this.lists.add(fn);
    this.changed();
    return () => {
      this.lists.delete(fn);
      this.changed();
    };
  }

  protected get subscribed(): boolean {
    return this.runs.size > 0 || this.lists.size > 0;
  }

  protected deliver(byRun: Map<string, HistoryEvent[]>, runIds: readonly string[], cursor: number): void {
    for (const [runId, events] of byRun) {
      for (const fn of [...(this.runs.get(runId) ?? [])]) {
        try {
          fn(events);
        } catch {
          // a listener's failure is its connection's; the others go on
        }
      }
    }
    if (runIds.length === 0) return;
    for (const fn of [...this.lists]) {
      try {
        fn({ cursor, runIds });
      } catch {
        // as above
      }
    }
  }

  /** Subscriptions changed (start or stop polling). */
  protected changed(): void {}
}

/** Tails a SQLite database file (see the file comment). */
export class SqliteTailer extends Fanout implements Tailer {
  #timer: NodeJS.Timeout | undefined;
  #version = -1;
  #cursor: number;
  #closed = false;

  constructor(
    private readonly reader: TailSource,
    private readonly intervalMs = 250,
  ) {
    super();
    this.#cursor = reader.maxRowid();
  }

  cursor(): number {
    return this.#cursor;
  }

  changedSince(cursor: number): string[] {
    return this.reader.changedSince(cursor);
  }

  protected override changed(): void {
    if (this.#closed) return;
    if (this.subscribed && !this.#timer) {
      // Nobody listened since the last look: what was appended meanwhile is nobody's news (a run
      // stream replays from the store itself), so start from the end instead of reading it all.
      try {
        this.#cursor = Math.max(this.#cursor, this.reader.maxRowid());
      } catch {
        // read it on the first tick instead
      }
      this.#timer = setInterval(() => this.tick(), this.intervalMs);
      this.#timer.unref();
    } else if (!this.subscribed && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#version = -1;
    }
  }

  /** One look at the database (public for tests and for an immediate look). */
  tick(): void {
    if (this.#closed || this.reader.closed) return;
    let version: number;
    try {
      version = this.reader.dataVersion();
    } catch {
      return; // the file is busy or gone for a moment: look again next tick
    }
    if (version === this.#version) return;
    this.#version = version;
    const byRun = new Map<string, HistoryEvent[]>();
    const changed = new Set<string>();
    try {
      for (let round = 0; round < 20; round++) {
        const rows = this.reader.tail(this.#cursor, 2000);
        for (const r of rows) {
          if (this.runs.has(r.runId)) {
            let list = byRun.get(r.runId);
            if (!list) byRun.set(r.runId, (list = []));
            list.push(JSON.parse(r.body) as HistoryEvent);
          }
          this.#cursor = r.rowid;
          changed.add(r.runId);
        }
        if (rows.length < 2000) break;
        this.#version = -1; // more to read: look again next tick even if nothing else commits
      }
    } catch {
      // A busy or damaged read: deliver what was read, and look again next tick.
      this.#version = -1;
    }
    if (changed.size > 0) this.deliver(byRun, [...changed], this.#cursor);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.runs.clear();
    this.lists.clear();
  }
}

/** Follows the engine of this process (stores without a file). */
export class EngineTailer extends Fanout implements Tailer {
  #cursor = 0;
  readonly #log: { cursor: number; runId: string }[] = [];
  #pending = new Map<string, HistoryEvent[]>();
  #scheduled = false;
  readonly #unsubscribe: () => void;

  constructor(engine: Engine) {
    super();
    this.#unsubscribe = engine.subscribe('*', (e, runId) => {
      let list = this.#pending.get(runId);
      if (!list) this.#pending.set(runId, (list = []));
      list.push(e);
      if (this.#scheduled) return;
      this.#scheduled = true;
      // The events of one commit arrive together: deliver them in one batch.
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.#scheduled = false;
    const batch = this.#pending;
    this.#pending = new Map();
    const runIds = [...batch.keys()];
    if (runIds.length === 0) return;
    this.#cursor++;
    for (const runId of runIds) this.#log.push({ cursor: this.#cursor, runId });
    if (this.#log.length > 10_000) this.#log.splice(0, this.#log.length - 10_000);
    this.deliver(batch, runIds, this.#cursor);
  }

  cursor(): number {
    return this.#cursor;
  }

  changedSince(cursor: number): string[] | undefined {
    if (this.#log.length > 0 && this.#log[0]!.cursor > cursor + 1) return undefined;
    return [...new Set(this.#log.filter((x) => x.cursor > cursor).map((x) => x.runId))];
  }

  close(): void {
    this.#unsubscribe();
    this.runs.clear();
    this.lists.clear();
  }
}
