/**
 * This file defines the last line of defence behind the CLI's promise that exit status 0 means "done":
 * the `larkflow` process's `beforeExit`, `exit`, `uncaughtException`, `unhandledRejection` and
 * `warning` handlers (installed by main.ts when it is the program, never in tests that call `main`).
 *
 * A command that drives the engine (run, resume, worker, test --workflows) *commits* to finishing
 * something, and says what is left if it cannot. Two things can end the process before that:
 *
 * - the event loop empties while the command still waits (a task whose promise never settles and has
 *   no timeout: Node would exit 0 with the run unfinished). `beforeExit` asks the command to give up
 *   (`abandon`): it reports what it waits on and ends with `EXIT_UNFINISHED`, closing the engine on
 *   its way out; should it not, the guard reports and sets the code itself.
 * - something calls `process.exit()` (a task calling `process.exit(0)`). The `exit` handler (which
 *   can only act synchronously) prints what is left and changes the exit code to `EXIT_UNFINISHED`
 *   (setting `process.exitCode` inside an exit listener changes the code the process exits with).
 *
 * Once the command has ended, the code it returned is final: a stray `process.exit(0)` from a task
 * timer after a failed run cannot turn it into 0. Errors raised outside any call (a rejected promise
 * nobody awaits, a throw in a timer of a task) are printed as one line, never as a Node stack trace,
 * and do not change the exit code: the command's outcome (or this guard) decides it.
 */

/** Exit status of an engine command that did not finish what it promised (a run is left unfinished). */
export const EXIT_UNFINISHED = 4;

/** Why the guard acts: the event loop emptied, or the process is exiting. */
export type GuardReason = 'idle' | 'exit';

/** What a command promised. */
export interface Commitment {
  /** What is not done, for stderr; synchronous (it may run inside the process's exit handler). */
  describe(reason: GuardReason): string;
  /**
   * Ends the command now (the event loop is empty: nothing can finish it any more); the command
   * reports and returns `EXIT_UNFINISHED`.
   */
  abandon?(): void;
  /** Said only when no other commitment is (a command's own, before it knows what it will run). */
  readonly fallback?: boolean;
}

/** Where the guard writes, and how to flush buffered output first. */
export interface GuardOutput {
  /** Writes synchronously to stderr (pipes and files are synchronous on Linux). */
  readonly write: (text: string) => void;
  /** Writes whatever the CLI has buffered. */
  readonly flush: () => void;
}

/** The process-wide guard (one per `larkflow` process). */
export class ExitGuard {
  private readonly commitments = new Set<Commitment>();
  private settledCode: number | undefined;
  private abandoned = false;
  private reported = false;
  private output: GuardOutput | undefined;
  /** Handlers of process warnings; the last one added gets them (see `onWarning`). */
  private readonly warningSinks: ((text: string) => void)[] = [];

  /**
   * Records that the running command promised `c`; the returned function releases it (call it when
   * the command has reported its outcome, whatever it was).
   */
  commit(c: Commitment): () => void {
    this.commitments.add(c);
    return () => void this.commitments.delete(c);
  }

  /** The command ended with `code`: from now on that is the process's exit status. */
  settle(code: number): void {
    this.settledCode = code;
    process.exitCode = code;
  }

  /**
   * Sends the text of process warnings (`process.emitWarning`, as the engine's "cannot recover run
   * X") to `sink` until the returned function is called; otherwise they print as `larkflow: warning: ...`.
   */
  onWarning(sink: (text: string) => void): () => void {
    this.warningSinks.push(sink);
    // Called in a process without the guard (a test calling `main`): listen while a sink wants them.
    if (!this.output && !this.listening) {
      this.listening = (w: Error) => this.onProcessWarning(w);
      process.on('warning', this.listening);
    }
    return () => {
      const i = this.warningSinks.lastIndexOf(sink);
      if (i >= 0) this.warningSinks.splice(i, 1);
      if (this.warningSinks.length === 0 && this.listening) {
        process.off('warning', this.listening);
        this.listening = undefined;
      }
    };
  }

  private listening: ((w: Error) => void) | undefined;

  /** Installs the process handlers (once). */
  install(output: GuardOutput): void {
    if (this.output) return;
    this.output = output;
    process.on('beforeExit', () => this.onIdle());
    process.on('exit', () => this.onExit());
    process.on('uncaughtException', (e) => this.onStrayError(e));
    process.on('unhandledRejection', (e) => this.onStrayError(e));
    // No raw "(node:PID) Warning: ..." lines: Node's own printer goes, ours prints one clean line.
    process.removeAllListeners('warning');
    process.on('warning', (w) => this.onProcessWarning(w));
  }

  /**
   * How the guard's own lines are written while a command logs JSON (`--log-format json`): as JSON
   * objects too, `{"kind": ..., "message": first line, "details": [other lines]}`. @default 'text'
   */
  format: 'text' | 'json' = 'text';

  private say(text: string, kind = 'error'): void {
    if (!this.output) return;
    this.output.flush();
    if (this.format === 'json') {
      const [message, ...details] = text.trimEnd().split('\n');
      text = JSON.stringify({ kind, message, ...(details.length > 0 ? { details: details.map((d) => d.trim()) } : {}) });
    }
    this.output.write(text.endsWith('\n') ? text : text + '\n');
  }

  private describeAll(reason: GuardReason): string {
    const parts: string[] = [];
    const specific = [...this.commitments].filter((c) => !c.fallback);
    for (const c of specific.length > 0 ? specific : this.commitments) {
      try {
        parts.push(c.describe(reason));
      } catch (e) {
        parts.push(`larkflow: the command did not finish (${e instanceof Error ? e.message : String(e)})`);
      }
    }
    return parts.join('\n');
  }

  private onIdle(): void {
    if (this.settledCode !== undefined || this.commitments.size === 0) return;
    const abandonable = [...this.commitments].filter((c) => c.abandon);
    if (!this.abandoned && abandonable.length > 0) {
      // The commands report and close their engines; the loop then empties again, settled.
      this.abandoned = true;
      for (const c of abandonable) c.abandon!();
      return;
    }
    this.reported = true;
    this.say(this.describeAll('idle'), 'unfinished');
    process.exitCode = EXIT_UNFINISHED;
  }

  private onExit(): void {
    try {
      if (this.settledCode !== undefined) {
        this.output?.flush();
        process.exitCode = this.settledCode;
        return;
      }
      if (this.commitments.size > 0) {
        if (!this.reported) this.say(this.describeAll('exit'), 'unfinished');
        process.exitCode = EXIT_UNFINISHED;
        return;
      }
      this.output?.flush();
    } catch {
      // nothing more can be done while exiting
    }
  }

  private onStrayError(e: unknown): void {
    const msg = e instanceof Error ? e.message : String(e);
    const debug = process.env.LARKFLOW_DEBUG && e instanceof Error && e.stack ? `\n${e.stack}` : '';
    this.say(`larkflow: a task raised an error outside its call: ${msg.split('\n')[0]}${debug}`);
  }

  private onProcessWarning(w: Error): void {
    const text = w.message.replace(/^larkflow: /, '');
    const sink = this.warningSinks[this.warningSinks.length - 1];
    if (sink) sink(text);
    else this.say(`larkflow: warning: ${w.name !== 'Warning' ? `${w.name}: ` : ''}${text}`, 'warning');
  }
}

/** The guard of this process. */
export const exitGuard = new ExitGuard();
