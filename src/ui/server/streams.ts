/**
 * This file serves the two live streams.
 *
 * `/api/runs/:id/stream`: the run's history as events whose ids are history seqs. On connect it
 * replays every event after `Last-Event-ID` (or `?after=`) in pages, then follows the tailer. Each
 * event is sent once and in order: the connection remembers the last seq it sent, takes the
 * tailer's events when they continue it, and reads the gap from the database when they do not
 * (events that arrived while it replayed).
 *
 * `/api/stream`: a `run` event with the run's list row whenever a run changes. The rows of one
 * change are computed once for every open runs list.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HistoryEvent } from '../../engine/index.js';
import type { RunRow } from '../api-types.js';
import type { HistoryReader } from './reader.js';
import type { RunData } from './run-data.js';
import { row } from './runs.js';
import type { SseConnection, SseHub } from './sse.js';
import type { Tailer } from './tailer.js';

const REPLAY_PAGE = 500;

/** Where a stream starts: `Last-Event-ID`, else `?after=`, else the beginning. */
export function resumePoint(req: IncomingMessage, q: URLSearchParams): number {
  const header = req.headers['last-event-id'];
  const v = typeof header === 'string' && header.trim() !== '' ? header.trim() : q.get('after');
  return v !== null && /^\d+$/.test(v) ? Number(v) : 0;
}

export function streamRun(hub: SseHub, tailer: Tailer, reader: HistoryReader, runId: string, after: number, req: IncomingMessage, res: ServerResponse): void {
  const conn = hub.open(req, res);
  let last = after;
  let pumping = false;
  let again = false;

  const send = async (events: readonly HistoryEvent[]): Promise<void> => {
    for (const e of events) {
      if (conn.closed) return;
      if (e.seq !== last + 1) continue;
      last = e.seq;
      await conn.send('history', e, e.seq);
    }
  };
  // Reads and sends everything after `last` from the database, page by page.
  const pump = async (): Promise<void> => {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        for (;;) {
          if (conn.closed) return;
          const page = reader.page(runId, { after: last, limit: REPLAY_PAGE });
          await send(page);
          if (page.length < REPLAY_PAGE) break;
        }
      } while (again && !conn.closed);
    } catch (e) {
      conn.comment(`error: ${(e as Error).message}`);
      conn.close();
    } finally {
      pumping = false;
    }
  };
  const unsubscribe = tailer.subscribeRun(runId, (events) => {
    if (pumping || events.length === 0 || events[0]!.seq > last + 1) {
      void pump();
      return;
    }
    void send(events).then(() => {
      // A batch that ended before the run's last event (or skipped ahead) leaves a gap: read it.
      if (events[events.length - 1]!.seq > last) void pump();
    });
  });
  conn.onClose(unsubscribe);
  void pump();
}

/** Sends list rows to every open runs list. */
export class RunListStreams {
  readonly #conns = new Set<SseConnection>();
  #unsubscribe: (() => void) | undefined;

  constructor(
    private readonly hub: SseHub,
    private readonly tailer: Tailer,
    private readonly data: RunData,
  ) {}

  #rows(runIds: readonly string[]): RunRow[] {
    const out: RunRow[] = [];
    for (const id of runIds) {
      const rec = this.data.record(id);
      if (rec) out.push(row(this.data, rec));
    }
    return out;
  }

  open(req: IncomingMessage, res: ServerResponse, q: URLSearchParams): void {
    const conn = this.hub.open(req, res);
    const header = req.headers['last-event-id'];
    const since = typeof header === 'string' && /^\d+$/.test(header.trim()) ? Number(header.trim()) : undefined;
    this.#conns.add(conn);
    conn.onClose(() => {
      this.#conns.delete(conn);
      if (this.#conns.size === 0 && this.#unsubscribe) {
        this.#unsubscribe();
        this.#unsubscribe = undefined;
      }
    });
    this.#unsubscribe ??= this.tailer.subscribeList(({ cursor, runIds }) => {
      const rows = this.#rows(runIds);
      for (const c of this.#conns) for (const r of rows) void c.send('run', r, cursor);
    });
    const cursor = this.tailer.cursor();
    if (since !== undefined || q.get('after') !== null) {
      const changed = this.tailer.changedSince(since ?? Number(q.get('after') ?? 0));
      if (changed === undefined) conn.comment('reload: the changes since your last event are no longer known');
      else for (const r of this.#rows(changed)) void conn.send('run', r, cursor);
    }
    // The position even when nothing changed, so that a reconnect asks from here (browsers send the
    // last `id:` they saw); a page that listens to `run` events only never sees this one.
    void conn.send('cursor', { cursor }, cursor);
  }
}
