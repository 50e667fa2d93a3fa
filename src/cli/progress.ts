/**
 * This file defines the progress printer of `larkflow run` and `larkflow resume`: one stderr line per
 * step state change (scheduled, running, retrying, completed (cached/reused), failed, waiting) and per
 * `progress.report(...)` message, for the run and the child runs it starts. The first line names the
 * run id.
 */
import type { Engine, HistoryEvent } from '../engine/index.js';
import { brief, duration } from './engine-options.js';

export interface ProgressOptions {
  /** Where lines go (stderr). */
  readonly write: (line: string) => void;
  /**
   * A live view for terminals: below the lines, one status line (steps running, waiting and done,
   * elapsed time) redrawn in place. Needs `writeRaw` (no newline added). @default false
   */
  readonly live?: boolean;
  readonly writeRaw?: (text: string) => void;
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

  constructor(
    private readonly engine: Engine,
    private readonly options: ProgressOptions,
  ) {
    if (options.live && options.writeRaw) {
      this.ticker = setInterval(() => this.drawStatus(), 500);
      this.ticker.unref();
    }
    // The root run's id is only known when it starts: catch its RunStarted, then follow it by id (the
    // engine looks listeners up on every emit, so the events of the same activation are seen too).
    const off = engine.subscribe('*', (e) => {
      if (this.runId !== undefined || e.kind !== 'RunStarted' || e.parent) return;
      this.runId = e.runId;
      this.follow(e.runId, '');
      this.onEvent(e, '');
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
        if (e.kind === 'RunStarted') return; // printed by whoever started following
        this.onEvent(e, prefix);
      }),
    );
  }

  private line(prefix: string, stepId: string, status: string, detail = ''): void {
    const id = prefix + stepId;
    if (id.length > this.width) this.width = Math.min(40, id.length);
    this.states.set(id, status);
    this.write(`  ${id.padEnd(this.width)}  ${status.padEnd(9)}${detail ? '  ' + detail : ''}`);
  }

  private onEvent(e: HistoryEvent, prefix: string): void {
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
