/**
 * This file defines the progress printer of `larkflow run` and `larkflow resume`, for the run and the
 * child runs it starts. As text (the default): one stderr line per step state change (scheduled,
 * running, retrying, completed (cached/reused), failed, waiting) and per `progress.report(...)`
 * message; the first line names the run id. As JSON (`--log-format json`): one JSON object per line
 * per history event, machine-readable:
 *
 *   {"runId":"run-1a2b","status":"completed","seq":7,"at":1767225600123,"kind":"TaskCompleted",
 *    "stepId":"train#1","attempt":1,"source":"executed","result":{"auc":0.9},"time":"2026-01-01T00:00:00.123Z"}
 *
 * Every object has the event's own fields (as `larkflow history RUN --json` prints them, but ints
 * beyond 2^53 as exact JSON numbers, and without the bookkeeping in `LEFT_OUT`: the run's `env`, its
 * seed, retry policies, digests, executor handles), `runId` (the run the event belongs
 * to: the run, or one of its child runs), `time` (ISO) and, when the event changes the state of a
 * step or of the run, its new `status` (scheduled, running, retrying, waiting, completed, failed;
 * for the run: running, completed, failed, cancelled, blocked). What the command itself reports
 * (the outcome, an interruption, a run that did not finish) is a JSON object too, with a lowercase
 * `kind` (see `run.ts`).
 */
import type { Engine, HistoryEvent } from '../engine/index.js';
import { brief, duration } from './engine-options.js';
import { exactJson } from './json-out.js';

/** How progress is written: lines for people, or JSON objects for programs. */
export type LogFormat = 'text' | 'json';

export interface ProgressOptions {
  /** Where lines go (stderr). */
  readonly write: (line: string) => void;
  /** @default 'text' */
  readonly format?: LogFormat;
  /**
   * A live view for terminals (text only): below the lines, one status line (steps running, waiting
   * and done, elapsed time) redrawn in place. Needs `writeRaw` (no newline added). @default false
   */
  readonly live?: boolean;
  readonly writeRaw?: (text: string) => void;
}

/** The state a step or run is in after an event, for the JSON log (undefined: no change). */
const STATUS_AFTER: { readonly [K in HistoryEvent['kind']]?: string } = {
  RunStarted: 'running',
  TaskScheduled: 'scheduled',
  AttemptStarted: 'running',
  RetryScheduled: 'retrying',
  TaskCompleted: 'completed',
  TaskFailed: 'failed',
  TimerStarted: 'waiting',
  TimerFired: 'completed',
  ChildRunStarted: 'running',
  ChildRunCompleted: 'completed',
  ChildRunFailed: 'failed',
  NondeterminismDetected: 'blocked',
  RunCompleted: 'completed',
  RunFailed: 'failed',
  RunCancelled: 'cancelled',
};

/**
 * Fields of history events left out of the JSON log: the run's environment (it may hold secrets),
 * and bookkeeping nobody follows progress for (the seed, retry policies, digests, executor handles;
 * `larkflow history RUN --json` has them all).
 */
const LEFT_OUT = new Set(['env', 'seed', 'retry', 'argsDigest', 'handle', 'idempotencyKey', 'waitingAt']);

/** One event as a line of the JSON log. */
export function eventJson(e: HistoryEvent, runId: string): string {
  const status = STATUS_AFTER[e.kind];
  const out: Record<string, unknown> = { runId };
  if (status !== undefined) out.status = status;
  for (const k in e) if (!LEFT_OUT.has(k)) out[k] = (e as unknown as Record<string, unknown>)[k];
  out.time = new Date(e.at).toISOString();
  return exactJson(out);
}

/** Follows the first root run started on an engine after it is created, and its child runs. */
export class ProgressPrinter {
  /** The followed run, once it has started. */
  runId: string | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  /** Step id width, so that columns line up for the usual names. */
  private width = 14;

  /** Live view state: steps by state, and when the run started. */
  private readonly states = new Map<string, string>();
  private statusShown = false;
  private ticker: NodeJS.Timeout | undefined;
  private readonly started = Date.now();

  private readonly json: boolean;

  constructor(
    private readonly engine: Engine,
    private readonly options: ProgressOptions,
  ) {
    this.json = options.format === 'json';
    if (options.live && options.writeRaw && !this.json) {
      this.ticker = setInterval(() => this.drawStatus(), 500);
      this.ticker.unref();
    }
    // The root run's id is only known when it starts: catch its RunStarted, then follow it by id (the
    // engine looks listeners up on every emit, so the events of the same activation are seen too).
    const off = engine.subscribe('*', (e) => {
      if (this.runId !== undefined || e.kind !== 'RunStarted' || e.parent) return;
      this.runId = e.runId;
      this.follow(e.runId, '');
      this.onEvent(e, '', e.runId);
    });
    this.unsubscribe.push(off);
  }

  /** Stops printing (and clears the live status line). */
  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    if (this.ticker) clearInterval(this.ticker);
    this.clearStatus();
  }

  private clearStatus(): void {
    if (this.statusShown && this.options.writeRaw) this.options.writeRaw('\r\x1b[K');
    this.statusShown = false;
  }

  private drawStatus(): void {
    if (!this.options.live || !this.options.writeRaw || this.runId === undefined) return;
    const count = (st: string): number => [...this.states.values()].filter((x) => x === st).length;
    const secs = ((Date.now() - this.started) / 1000).toFixed(1);
    const text = `  … ${count('running')} running, ${count('retrying')} retrying, ${count('waiting') + count('scheduled')} waiting, ${count('completed')} done, ${count('failed')} failed — ${secs}s`;
    this.options.writeRaw(`\r\x1b[K${text}`);
    this.statusShown = true;
  }

  /** Writes a line above the live status line. */
  private write(text: string): void {
    this.clearStatus();
    this.options.write(text);
    this.drawStatus();
  }

  private follow(runId: string, prefix: string): void {
    this.unsubscribe.push(
      this.engine.subscribe(runId, (e) => {
        if (e.kind === 'RunStarted' && !this.json) return; // printed by whoever started following
        if (e.kind === 'RunStarted' && !prefix) return; // the root's: printed when it was caught
        this.onEvent(e, prefix, runId);
      }),
    );
  }

  private line(prefix: string, stepId: string, status: string, detail = ''): void {
    const id = prefix + stepId;
    if (id.length > this.width) this.width = Math.min(40, id.length);
    this.states.set(id, status);
    this.write(`  ${id.padEnd(this.width)}  ${status.padEnd(9)}${detail ? '  ' + detail : ''}`);
  }

  private onEvent(e: HistoryEvent, prefix: string, runId: string): void {
    if (this.json) {
      this.options.write(eventJson(e, runId));
      if (e.kind === 'ChildRunStarted') this.follow(e.childRunId, `${prefix}${e.stepId}/`);
      return;
    }
    switch (e.kind) {
      case 'RunStarted':
        if (!prefix) {
          const from = e.resumedFrom ? `, resumed from ${e.resumedFrom.runId}${e.resumedFrom.fromStep ? ` at step ${e.resumedFrom.fromStep}` : ''}` : '';
          this.write(`run ${e.runId} started (workflow ${e.workflow}${from})`);
        }
        return;
      case 'TaskScheduled':
        this.line(prefix, e.stepId, 'scheduled', `${e.task}${e.executor !== 'local' ? ` on ${e.executor}` : ''} at ${e.callSite.file}:${e.callSite.line}`);
        return;
      case 'AttemptStarted':
        this.line(prefix, e.stepId, 'running', `attempt ${e.attempt}${e.executor !== 'local' ? ` (${e.executor})` : ''}${e.logs ? `, logs ${e.logs}` : ''}`);
        return;
      case 'AttemptFailed':
        // Printed with what follows it: RetryScheduled or TaskFailed.
        this.lastAttemptError.set(prefix + e.stepId, `attempt ${e.attempt} failed: ${e.error.message}`);
        return;
      case 'RetryScheduled': {
        const why = this.lastAttemptError.get(prefix + e.stepId) ?? 'attempt failed';
        this.line(prefix, e.stepId, 'retrying', `${why}; attempt ${e.attempt} in ${duration(e.fireAt - e.at)}`);
        return;
      }
      case 'TaskCompleted': {
        const mark = e.source === 'cache' ? ' (cached)' : e.source === 'reused' ? ' (reused)' : '';
        this.line(prefix, e.stepId, 'completed', `${mark ? mark.trim() + ' ' : ''}${e.durationMs !== undefined ? duration(e.durationMs) + ' ' : ''}→ ${brief(e.result, 60)}`);
        return;
      }
      case 'TaskFailed':
        this.lastAttemptError.delete(prefix + e.stepId);
        this.line(prefix, e.stepId, 'failed', `[${e.error.kind}] ${e.error.message}`);
        return;
      case 'TimerStarted':
        this.line(prefix, e.stepId, 'waiting', `sleep ${duration(e.durationMs)} at ${e.callSite.file}:${e.callSite.line}`);
        return;
      case 'TimerFired':
        this.line(prefix, e.stepId, 'completed', 'timer fired');
        return;
      case 'ChildRunStarted':
        this.line(prefix, e.stepId, 'running', `child run ${e.childRunId} (workflow ${e.workflow})`);
        this.follow(e.childRunId, `${prefix}${e.stepId}/`);
        return;
      case 'ChildRunCompleted':
        this.line(prefix, e.stepId, 'completed', `child run → ${brief(e.result, 60)}`);
        return;
      case 'ChildRunFailed':
        this.line(prefix, e.stepId, 'failed', `child run: ${e.error.message}`);
        return;
      case 'ProgressReported':
        this.write(`  ${prefix}progress: ${e.message}`);
        return;
      case 'CancelRequested':
        this.write(`  ${prefix}cancel requested: ${e.reason}`);
        return;
      case 'NondeterminismDetected':
        this.write(`  ${prefix}blocked: ${e.message}`);
        return;
      default:
        // Run endings are reported by the command (with the traceback and the result).
        return;
    }
  }

  private readonly lastAttemptError = new Map<string, string>();
}
