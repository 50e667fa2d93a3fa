/**
 * This file reads histories for the server, cheaply. For a SQLite database it keeps one read-only
 * connection of its own on the file and asks it for exactly what a request needs: one event, a
 * keyset page of a history (filtered in SQL), the events appended since a global position (rowid),
 * and `PRAGMA data_version`, which changes when another connection commits. So a page of a
 * 100,000-event history costs its own rows, and tailing costs one query per change whatever the
 * number of open pages. These are reads of the store's `events` table (schema.ts); every write goes
 * through the engine.
 *
 * Other stores (memory, or a store without a file) are read through the `EventStore` API.
 */
import Database from 'better-sqlite3';
import type { EventStore, HistoryEvent } from '../../engine/index.js';
import { matches } from './projections/history.js';

/** One event row of the tail: its global position, run and seq, and its JSON. */
export interface TailRow {
  readonly rowid: number;
  readonly runId: string;
  readonly seq: number;
  readonly body: string;
}

/** Filter of a history page. */
export interface PageQuery {
  readonly after: number;
  /** Rows to return at most. */
  readonly limit: number;
  readonly kinds?: readonly string[];
  readonly q?: string;
}

/** How the server reads histories. */
export interface HistoryReader {
  /** Events of a run after `after`, in order, at most `limit`, filtered. */
  page(runId: string, q: PageQuery): HistoryEvent[];
  /** One event, or undefined. */
  event(runId: string, seq: number): HistoryEvent | undefined;
  /** The run's last event that says where the workflow waits (`waitingAt`), if any. */
  lastWaiting(runId: string): HistoryEvent | undefined;
  close(): void;
}

/** Reads through the EventStore API (whole histories, sliced). */
export class StoreReader implements HistoryReader {
  constructor(private readonly store: EventStore) {}

  page(runId: string, q: PageQuery): HistoryEvent[] {
    const out: HistoryEvent[] = [];
    for (const e of this.store.history(runId, q.after + 1)) {
      if (!matches(e, q)) continue;
      out.push(e);
      if (out.length >= q.limit) break;
    }
    return out;
  }

  event(runId: string, seq: number): HistoryEvent | undefined {
    const e = this.store.history(runId, seq)[0];
    return e?.seq === seq ? e : undefined;
  }

  lastWaiting(runId: string): HistoryEvent | undefined {
    const h = this.store.history(runId);
    for (let i = h.length - 1; i >= 0; i--) if (h[i]!.waitingAt) return h[i];
    return undefined;
  }

  close(): void {}
}

/** Reads a SQLite database's events through a read-only connection of its own. */
export class SqliteReader implements HistoryReader {
  readonly #db: Database.Database;
  readonly #pages = new Map<string, Database.Statement<unknown[], { body: string }>>();
  readonly #event;
  readonly #tail;
  readonly #maxRowid;
  readonly #changed;
  readonly #resumes;
  readonly #waiting;
  #closed = false;

  constructor(path: string) {
    this.#db = new Database(path, { readonly: true, fileMustExist: true });
    this.#db.pragma('busy_timeout = 5000');
    this.#event = this.#db.prepare<[string, number], { body: string }>('SELECT body FROM events WHERE run_id = ? AND seq = ?');
    this.#tail = this.#db.prepare<[number, number], TailRow>('SELECT rowid AS rowid, run_id AS runId, seq, body FROM events WHERE rowid > ? ORDER BY rowid LIMIT ?');
    this.#maxRowid = this.#db.prepare<[], number | null>('SELECT max(rowid) FROM events').pluck();
    this.#changed = this.#db.prepare<[number], string>('SELECT DISTINCT run_id FROM events WHERE rowid > ?').pluck();
    this.#waiting = this.#db.prepare<[string], { body: string }>(`SELECT body FROM events WHERE run_id = ? AND instr(body, '"waitingAt"') > 0 ORDER BY seq DESC LIMIT 1`);
    this.#resumes = this.#db.prepare<[string], string>('SELECT run_id FROM runs WHERE resumed_from = ? ORDER BY started_at, run_id').pluck();
  }

  /** The runs that resumed `runId` (one scan of the runs table, which has no index on it). */
  resumesOf(runId: string): string[] {
    return this.#resumes.all(runId);
  }

  get closed(): boolean {
    return this.#closed;
  }

  page(runId: string, q: PageQuery): HistoryEvent[] {
    const where = ['run_id = ?', 'seq > ?'];
    const params: unknown[] = [runId, q.after];
    if (q.kinds) {
      if (q.kinds.length === 0) return [];
      where.push(`kind IN (${q.kinds.map(() => '?').join(', ')})`);
      params.push(...q.kinds);
    }
    if (q.q !== undefined && q.q !== '') {
      where.push('instr(lower(body), ?) > 0');
      params.push(q.q.toLowerCase());
    }
    params.push(q.limit);
    const sql = `SELECT body FROM events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`;
    let st = this.#pages.get(sql);
    if (!st) {
      st = this.#db.prepare<unknown[], { body: string }>(sql);
      this.#pages.set(sql, st);
    }
    const rows = st.all(...params);
    const out: HistoryEvent[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = JSON.parse(rows[i]!.body) as HistoryEvent;
    // lower() folds ASCII only: a search with other letters is checked again in JS.
    return q.q !== undefined && /[^\x00-\x7f]/.test(q.q) ? out.filter((e) => matches(e, { q: q.q! })) : out;
  }

  event(runId: string, seq: number): HistoryEvent | undefined {
    const row = this.#event.get(runId, seq);
    return row ? (JSON.parse(row.body) as HistoryEvent) : undefined;
  }

  lastWaiting(runId: string): HistoryEvent | undefined {
    const row = this.#waiting.get(runId);
    return row ? (JSON.parse(row.body) as HistoryEvent) : undefined;
  }

  /** Changes whenever another connection has committed since the last call. */
  dataVersion(): number {
    return this.#db.pragma('data_version', { simple: true }) as number;
  }

  /** The global position of the last event. */
  maxRowid(): number {
    return this.#maxRowid.get() ?? 0;
  }

  /** Events appended after global position `rowid`, oldest first. */
  tail(rowid: number, limit: number): TailRow[] {
    return this.#tail.all(rowid, limit);
  }

  /** The runs that have events after global position `rowid`. */
  changedSince(rowid: number): string[] {
    return this.#changed.all(rowid);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
