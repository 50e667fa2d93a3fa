/**
 * This file defines how the `larkflow` process writes to stdout and stderr: buffered. A run of
 * thousands of steps prints a progress line per step change, and one `write` per line (a system call
 * each, on a pipe or a file) cost the CLI two thirds of the engine's throughput. Text is collected and
 * written in one call when a buffer passes 64 KiB, every 100 ms (so a terminal still sees progress as
 * it happens), before the other stream is written (so stdout and stderr keep their relative order on
 * a shared terminal), and on `flush()`, which the process calls when a command ends and in its exit
 * handler (writes to pipes and files are synchronous on Linux, so nothing is lost at exit).
 */
import type { CliIo } from './engine-options.js';

/** Where buffered text finally goes: a stream's write, as `process.stderr.write`. */
export type Sink = (text: string) => void;

/** Buffers writes to stdout and stderr; see the file comment. */
export class BufferedOutput {
  private outBuf = '';
  private errBuf = '';
  private timer: NodeJS.Timeout | undefined;

  /** The CLI's io over these buffers (`live` when stderr is a terminal). */
  readonly io: CliIo;

  /**
   * @param options.limit buffer size that triggers a write (0: every write goes through at once)
   * @param options.intervalMs the longest text waits in a buffer
   */
  constructor(
    private readonly sinks: { readonly out: Sink; readonly err: Sink },
    options: { readonly live?: boolean; readonly limit?: number; readonly intervalMs?: number } = {},
  ) {
    const limit = options.limit ?? 64 * 1024;
    const interval = options.intervalMs ?? 100;
    this.intervalMs = interval;
    // A synchronous computation (`larkflow eval` of a long loop that prints) never lets the timer
    // run: a write also flushes when the last flush is `interval` old.
    const due = (): boolean => Date.now() - this.lastFlush >= interval;
    this.io = {
      out: (s: string) => {
        if (this.errBuf) this.flushErr();
        this.outBuf += s;
        if (this.outBuf.length >= limit || due()) this.flushOut();
        else this.arm();
      },
      err: (s: string) => {
        if (this.outBuf) this.flushOut();
        this.errBuf += s;
        if (this.errBuf.length >= limit || due()) this.flushErr();
        else this.arm();
      },
      live: options.live === true,
    };
  }

  private readonly intervalMs: number;
  private lastFlush = Date.now();

  /** Writes what is buffered, stdout's and stderr's, in the order it came (they never both hold text). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.flushOut();
    this.flushErr();
  }

  private arm(): void {
    if (this.timer) return;
    // unref: a pending flush never keeps the process alive (the exit handler flushes).
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushOut();
      this.flushErr();
    }, this.intervalMs);
    this.timer.unref();
  }

  private flushOut(): void {
    this.lastFlush = Date.now();
    if (!this.outBuf) return;
    const s = this.outBuf;
    this.outBuf = '';
    this.sinks.out(s);
  }

  private flushErr(): void {
    this.lastFlush = Date.now();
    if (!this.errBuf) return;
    const s = this.errBuf;
    this.errBuf = '';
    this.sinks.err(s);
  }
}
