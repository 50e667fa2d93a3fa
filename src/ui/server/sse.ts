/**
 * This file writes Server-Sent Events. A connection says `retry: 300` first (browsers reconnect
 * after 300 ms), sends a comment every 15 s so proxies keep it open, waits for the socket to drain
 * before writing more (a replay of a 100,000-event history does not pile up in memory), and is
 * ended by the hub's `closeAll()` when the server stops.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { safeJson } from './http.js';

export const HEARTBEAT_MS = 15_000;
export const RETRY_MS = 300;

export class SseConnection {
  #closed = false;
  readonly #timer: NodeJS.Timeout;
  readonly #onClose: (() => void)[] = [];

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    heartbeatMs = HEARTBEAT_MS,
  ) {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${RETRY_MS}\n\n`);
    this.#timer = setInterval(() => this.comment('heartbeat'), heartbeatMs);
    this.#timer.unref();
    const close = (): void => this.close();
    req.on('close', close);
    res.on('close', close);
    res.on('error', close);
  }

  get closed(): boolean {
    return this.#closed;
  }

  onClose(fn: () => void): void {
    if (this.#closed) fn();
    else this.#onClose.push(fn);
  }

  /** Writes one event; resolves when the socket can take more (at once unless its buffer is full). */
  send(event: string, data: unknown, id?: number | string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const text = `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${safeJson(data)}\n\n`;
    if (this.res.write(text)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  comment(text: string): void {
    if (!this.#closed) this.res.write(`: ${text.replace(/\n/g, ' ')}\n\n`);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const fn of this.#onClose.splice(0)) {
      try {
        fn();
      } catch {
        // closing anyway
      }
    }
    if (!this.res.writableEnded) this.res.end();
  }
}

/** The open connections of a server. */
export class SseHub {
  readonly #open = new Set<SseConnection>();

  constructor(private readonly heartbeatMs = HEARTBEAT_MS) {}

  open(req: IncomingMessage, res: ServerResponse): SseConnection {
    const c = new SseConnection(req, res, this.heartbeatMs);
    this.#open.add(c);
    c.onClose(() => this.#open.delete(c));
    return c;
  }

  get size(): number {
    return this.#open.size;
  }

  closeAll(): void {
    for (const c of [...this.#open]) c.close();
  }
}
