/**
 * This file defines the process executor ("process"): each attempt runs a task's command as a
 * local process, without a shell, in its own attempt directory `<workDir>/<runId>/<stepId>/<attempt>/`.
 * Arguments never travel on the command line (no quoting, no length limit, nothing in `ps`): the
 * executor writes them to `input.json` and the process writes its result to `output.json`.
 *
 * The process contract, for task authors:
 * - `LARKFLOW_INPUT` is the path of `input.json`: `{task, args, kwargs, runId, stepId, attempt, idempotencyKey}`.
 *   An int beyond ±(2^53−1) is written as a plain JSON number with all its digits (Python's `json`
 *   reads it as an int), never as history's `{"$bigint": ...}`.
 * - `LARKFLOW_OUTPUT` is where to write the JSON result; no file means the result `null`. Integers
 *   in it are read exactly, however many digits they have (exact-json.ts).
 * - `LARKFLOW_ATTEMPT`, `LARKFLOW_IDEMPOTENCY_KEY`, `LARKFLOW_ATTEMPT_DIR` (scratch space).
 * - The environment is the run's, not the engine's: a minimal base taken from the engine's own
 *   environment (BASE_ENV: PATH, HOME, LANG, LC_*, TMPDIR; on Windows also SYSTEMROOT, WINDIR,
 *   COMSPEC, PATHEXT, TEMP, TMP, USERPROFILE), then `ProcessExecutorOptions.passEnv` names and
 *   `ProcessExecutorOptions.env`, then the run's declared environment (`TaskRequest.env`: `larkflow
 *   run --env`, recorded in history), then the `LARKFLOW_*` variables above; each layer wins over
 *   the ones before. Nothing else of the shell's environment reaches a task, so an attempt run by a
 *   recovery worker started elsewhere sees what the original worker's attempt saw.
 * - Exit 0 is success; any other exit is a retryable failure whose details are the stderr tail.
 * - stdout and stderr go to `stdout.log` and `stderr.log` in the attempt directory.
 * - On timeout or cancellation the process gets SIGTERM, then SIGKILL after a grace period. On
 *   POSIX it leads its own process group and the signals go to the whole group, so children it
 *   spawned stop too; for the same reason a Ctrl-C at the engine's terminal does not reach it, and
 *   the engine must call `close()` on shutdown.
 *
 * A re-run of the same attempt (after an engine crash) reuses its directory: `output.json` is
 * removed and the logs are truncated, but other files stay, so an idempotent process may resume.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ErrorInfo } from '../core/events.js';
import type { Executor, TaskHandle, TaskOutcome, TaskRequest } from '../core/ports.js';
import { parseExactJson, writeExactJson } from './exact-json.js';
import {
  abortedOutcome,
  attemptDirOf,
  cancelledReason,
  executorFailure,
  handleIdOf,
  linkAbort,
  startTimeout,
} from './function-executor.js';
import { Semaphore, type Release } from './semaphore.js';

/** Options of a ProcessExecutor. */
export interface ProcessExecutorOptions {
  /** Root of the attempt directories, resolved against the current directory. @default '.larkflow/attempts' */
  readonly workDir?: string;
  /** Processes running at once; more wait in FIFO order. @default 4 */
  readonly concurrency?: number;
  /** Time between SIGTERM and SIGKILL on timeout or cancellation, in ms. @default 2000 */
  readonly killGraceMs?: number;
  /** Working directory of the processes (relative commands resolve against it). @default process.cwd() */
  readonly cwd?: string;
  /**
   * Variables every task gets, over the minimal base (BASE_ENV) and under the run's declared
   * environment. @default {}
   */
  readonly env?: { readonly [name: string]: string };
  /**
   * Names of more of the engine's own variables to pass through, when set (`CUDA_VISIBLE_DEVICES`,
   * say); a name ending in `*` passes every variable it starts. @default []
   */
  readonly passEnv?: readonly string[];
  /** Lines of stderr kept in a failure's details. @default 20 */
  readonly stderrTailLines?: number;
}

/** How a process ended. */
interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the executor stopped it (timeout or cancellation). */
  readonly abortReason?: unknown;
  /** Set when it never started. */
  readonly spawnError?: NodeJS.ErrnoException;
}

interface Inflight {
  readonly task: string;
  readonly handle: TaskHandle;
  readonly controller: AbortController;
}

const isWindows = process.platform === 'win32';

/**
 * The engine's variables every task gets (when set): what a program needs to start and to find its
 * tools, home, locale and temporary directory. A trailing `*` matches a prefix.
 */
export const BASE_ENV: readonly string[] = isWindows
  ? ['PATH', 'HOME', 'LANG', 'LC_*', 'TMPDIR', 'SYSTEMROOT', 'WINDIR', 'COMSPEC', 'PATHEXT', 'TEMP', 'TMP', 'USERPROFILE']
  : ['PATH', 'HOME', 'LANG', 'LC_*', 'TMPDIR'];

/**
 * The environment of a task's process, without the LARKFLOW_* variables: `names` taken from
 * `from` (the engine's environment), then `extra`, then the run's `declared` environment.
 */
export function taskEnvironment(
  declared: Readonly<Record<string, string>> | undefined,
  extra: Readonly<Record<string, string>> = {},
  names: readonly string[] = BASE_ENV,
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  const exact = new Set(names.filter((n) => !n.endsWith('*')).map((n) => (isWindows ? n.toUpperCase() : n)));
  const prefixes = names.filter((n) => n.endsWith('*')).map((n) => (isWindows ? n.slice(0, -1).toUpperCase() : n.slice(0, -1)));
  for (const [name, value] of Object.entries(from)) {
    if (value === undefined) continue;
    const key = isWindows ? name.toUpperCase() : name;
    if (exact.has(key) || prefixes.some((p) => key.startsWith(p))) env[name] = value;
  }
  for (const [name, value] of Object.entries(extra)) env[name] = value;
  for (const [name, value] of Object.entries(declared ?? {})) env[name] = value;
  return env;
}

/** Bytes read from the end of stderr.log for a failure's details. */
const TAIL_BYTES = 64 * 1024;

/**
 * Runs task commands as local processes.
 * @example
 *   const proc = new ProcessExecutor({ workDir: '.larkflow/attempts', concurrency: 2 });
 *   const h = proc.submit({ ...req, command: ['python3', 'train.py'] });
 *   const outcome = await h.done; // h.logs holds stdout.log and stderr.log
 */
export class ProcessExecutor implements Executor {
  readonly name = 'process';
  /** Absolute root of the attempt directories. */
  readonly workDir: string;
  private readonly slots: Semaphore;
  private readonly killGraceMs: number;
  private readonly cwd: string;
  private readonly env: { readonly [name: string]: string };
  private readonly passEnv: readonly string[];
  private readonly tailLines: number;
  private readonly inflight = new Map<string, Inflight>();
  private closed = false;

  /** @throws RangeError if `concurrency` is not an integer ≥ 1 */
  constructor(options: ProcessExecutorOptions = {}) {
    this.workDir = resolve(options.workDir ?? '.larkflow/attempts');
    this.slots = new Semaphore(options.concurrency ?? 4);
    this.killGraceMs = options.killGraceMs ?? 2000;
    this.cwd = resolve(options.cwd ?? process.cwd());
    this.env = options.env ?? {};
    this.passEnv = [...BASE_ENV, ...(options.passEnv ?? [])];
    this.tailLines = options.stderrTailLines ?? 20;
  }

  /** True iff a non-empty command is given. */
  canRun(_task: string, command?: readonly string[]): boolean {
    return command !== undefined && command.length > 0;
  }

  /** The attempt directory of a request (TaskHandle.logs). */
  attemptDir(req: Pick<TaskRequest, 'runId' | 'stepId' | 'attempt'>): string {
    return attemptDirOf(this.workDir, req);
  }

  /** Starts an attempt. Submitting an attempt that is still in flight returns its handle again. */
  submit(req: TaskRequest): TaskHandle {
    const id = handleIdOf(req);
    const existing = this.inflight.get(id);
    if (existing) return existing.handle;
    const dir = this.attemptDir(req);
    const controller = new AbortController();
    const done = this.run(req, dir, controller).catch(
      (e: unknown): TaskOutcome => executorFailure(`process executor failed: ${e instanceof Error ? e.message : String(e)}`, true),
    );
    const handle: TaskHandle = { id, logs: dir, done };
    this.inflight.set(id, { task: req.task, handle, controller });
    void done.then(() => this.inflight.delete(id));
    return handle;
  }

  /** Stops an attempt (SIGTERM, then SIGKILL): its outcome is 'cancelled'. Unknown handles are ignored. */
  cancel(handleId: string): void {
    const f = this.inflight.get(handleId);
    if (f) f.controller.abort(cancelledReason(f.task));
  }

  /** Stops every process in flight, waits for them to exit, and refuses new attempts. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.inflight.values()];
    for (const f of all) f.controller.abort(cancelledReason(f.task));
    await Promise.all(all.map((f) => f.handle.done));
  }

  private async run(req: TaskRequest, dir: string, controller: AbortController): Promise<TaskOutcome> {
    if (this.closed) return executorFailure('process executor is closed', false);
    const command = req.command;
    if (command === undefined || command.length === 0) return executorFailure(`task ${req.task} has no command`, false);
    const unlink = linkAbort(req.signal, controller, req.task);
    let release: Release;
    try {
      release = await this.slots.acquire(controller.signal);
    } catch {
      unlink();
      return abortedOutcome(req.task, controller.signal.reason);
    }
    const stopTimeout = startTimeout(req, controller);
    try {
      return await this.attempt(req, command, dir, controller.signal);
    } finally {
      stopTimeout();
      unlink();
      release();
    }
  }

  private async attempt(req: TaskRequest, command: readonly string[], dir: string, signal: AbortSignal): Promise<TaskOutcome> {
    const inputPath = join(dir, 'input.json');
    const outputPath = join(dir, 'output.json');
    const stderrPath = join(dir, 'stderr.log');
    await mkdir(dir, { recursive: true });
    await rm(outputPath, { force: true });
    const input = { task: req.task, args: req.args, kwargs: req.kwargs, runId: req.runId, stepId: req.stepId, attempt: req.attempt, idempotencyKey: req.idempotencyKey };
    await writeFile(inputPath, writeExactJson(input));
    if (signal.aborted) return abortedOutcome(req.task, signal.reason);

    const stdout = await open(join(dir, 'stdout.log'), 'w');
    const stderr = await open(stderrPath, 'w');
    let exited: Promise<Exit>;
    try {
      const child = spawn(command[0]!, command.slice(1), {
        cwd: this.cwd,
        env: {
          ...taskEnvironment(req.env, this.env, this.passEnv),
          LARKFLOW_INPUT: inputPath,
          LARKFLOW_OUTPUT: outputPath,
          LARKFLOW_ATTEMPT: String(req.attempt),
          LARKFLOW_IDEMPOTENCY_KEY: req.idempotencyKey,
          LARKFLOW_ATTEMPT_DIR: dir,
        },
        stdio: ['ignore', stdout.fd, stderr.fd],
        detached: !isWindows,
        windowsHide: true,
      });
      // Listen at once: a failure to start is emitted on the next tick.
      exited = this.waitForExit(child, signal);
    } catch (e) {
      // Synchronous failures are bad arguments (a NUL byte in argv): retrying cannot help.
      return executorFailure(`cannot run ${command[0]}: ${e instanceof Error ? e.message : String(e)}`, false);
    } finally {
      // The child holds its own copies of the descriptors once spawn() returns.
      await stdout.close();
      await stderr.close();
    }

    const ended = await exited;
    if (ended.spawnError) return this.spawnFailure(command[0]!, ended.spawnError);
    if (ended.abortReason !== undefined) return abortedOutcome(req.task, ended.abortReason, await this.stderrTail(stderrPath));
    if (ended.code !== 0) {
      const message = ended.code === null ? `process killed by signal ${ended.signal ?? 'unknown'}` : `process exited with code ${ended.code}`;
      const details = await this.stderrTail(stderrPath);
      const error: ErrorInfo = { kind: 'task', message, retryable: true, ...(details ? { details } : {}) };
      return { ok: false, error };
    }
    return readOutput(req.task, outputPath);
  }

  private waitForExit(child: ChildProcess, signal: AbortSignal): Promise<Exit> {
    return new Promise((resolveExit) => {
      let abortReason: unknown;
      let aborted = false;
      let killTimer: NodeJS.Timeout | undefined;
      const kill = (sig: NodeJS.Signals): void => {
        if (child.pid === undefined) return;
        try {
          if (isWindows) child.kill(sig);
          else process.kill(-child.pid, sig);
        } catch {
          child.kill(sig);
        }
      };
      const onAbort = (): void => {
        if (aborted) return;
        aborted = true;
        abortReason = signal.reason;
        kill('SIGTERM');
        killTimer = setTimeout(() => kill('SIGKILL'), this.killGraceMs);
      };
      let settled = false;
      const finish = (r: Exit): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (killTimer) clearTimeout(killTimer);
        // The leader is gone; stop any of its children that outlived it.
        if (aborted) kill('SIGKILL');
        resolveExit(aborted ? { ...r, abortReason } : r);
      };
      child.once('error', (e: NodeJS.ErrnoException) => {
        // Only a failure to start ends the attempt; a failed kill() also lands here and is ignored.
        if (child.pid === undefined) finish({ code: null, signal: null, spawnError: e });
      });
      child.once('close', (code, sig) => finish({ code, signal: sig }));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private spawnFailure(program: string, e: NodeJS.ErrnoException): TaskOutcome {
    if (e.code === 'ENOENT') {
      if (!existsSync(this.cwd)) return executorFailure(`cannot run ${program}: working directory ${this.cwd} does not exist`, false);
      return executorFailure(`cannot run ${program}: command not found`, false);
    }
    if (e.code === 'EACCES') return executorFailure(`cannot run ${program}: permission denied`, false);
    return executorFailure(`cannot run ${program}: ${e.message}`, true);
  }

  private async stderrTail(path: string): Promise<string | undefined> {
    let text: string;
    try {
      const f = await open(path, 'r');
      try {
        const { size } = await f.stat();
        const start = Math.max(0, size - TAIL_BYTES);
        const buf = Buffer.alloc(size - start);
        await f.read(buf, 0, buf.length, start);
        text = buf.toString('utf8');
      } finally {
        await f.close();
      }
    } catch {
      return undefined;
    }
    const lines = text.split(/\r?\n/);
    if (lines.at(-1) === '') lines.pop();
    const tail = lines.slice(-this.tailLines).join('\n');
    return tail === '' ? undefined : tail;
  }
}

async function readOutput(task: string, path: string): Promise<TaskOutcome> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, value: null };
    return executorFailure(`cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`, true);
  }
  try {
    return { ok: true, value: parseExactJson(text) };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return { ok: false, error: { kind: 'task', message: `task ${task} wrote invalid JSON to ${path}: ${why}`, retryable: false } };
  }
}
