/**
 * This file defines `larkflow run FILE`: start a workflow run, show its progress on stderr (the first
 * line names the run id), and print its result as JSON on stdout. Exit 0 when it completes, 1 when it
 * fails (with the Starlark traceback and the task's error), is cancelled or blocks, 2 for bad usage,
 * 4 when it is left unfinished (see main.ts's help), 130 when interrupted.
 * `--no-cache` runs every task (no cache look-ups, nothing stored); `--refresh-cache` runs every
 * cacheable task and stores its fresh result.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Engine, RunHandle, RunResult } from '../../engine/index.js';
import { CliError } from '../errors.js';
import { cacheModeOf, closeQuietly, exitCodeOf, openEngine, renderOutcome, type CacheCliOptions, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { exactJson } from '../json-out.js';
import { EXIT_UNFINISHED, exitGuard } from '../exit-guard.js';
import { ProgressPrinter, type LogFormat } from '../progress.js';
import { describeUnfinished } from '../unfinished.js';
import type { RemoteCliOptions } from '../remote.js';
import { notifyOptionsOf, type NotifyCliOptions } from './notifications.js';

export interface RunOptions extends EngineCliOptions, CacheCliOptions, ProgressCliOptions, RemoteCliOptions, NotifyCliOptions {
  readonly workflow?: string;
  readonly input?: string;
  readonly env?: readonly string[];
  /** The run's queue (shared databases: only workers serving it take the run). */
  readonly queue?: string;
}

/** The run's inputs: `--input JSON` (an object of kwargs or an array of args) and `key=value` pairs. */
export function parseInputs(input: string | undefined, pairs: readonly string[]): { args: unknown[]; kwargs: Record<string, unknown> } {
  const args: unknown[] = [];
  const kwargs: Record<string, unknown> = {};
  if (input !== undefined) {
    let v: unknown;
    try {
      v = JSON.parse(input);
    } catch (e) {
      throw new CliError(`--input is not valid JSON: ${(e as Error).message}`);
    }
    if (Array.isArray(v)) args.push(...(v as unknown[]));
    else if (v !== null && typeof v === 'object') {
      // Own properties as data, so a "__proto__" key stays a key (and is refused by the engine)
      // rather than silently replacing the object's prototype.
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) Object.defineProperty(kwargs, k, { value: x, enumerable: true, writable: true, configurable: true });
    }
    else throw new CliError(`--input must be a JSON object (keyword arguments) or array (positional arguments), not ${v === null ? 'null' : typeof v}`);
  }
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new CliError(`bad argument ${JSON.stringify(p)}: inputs are key=value pairs (or use --input JSON)`);
    const key = p.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new CliError(`bad input name ${JSON.stringify(key)} in ${JSON.stringify(p)}: it must be a Starlark identifier`);
    const text = p.slice(eq + 1);
    let value: unknown = text;
    try {
      // An int beyond 2^53 keeps every digit (JSON.parse would round it).
      value = /^-?\d+$/.test(text) && !Number.isSafeInteger(Number(text)) ? BigInt(text) : JSON.parse(text);
    } catch {
      // a plain string
    }
    kwargs[key] = value;
  }
  return { args, kwargs };
}

/** `NAME=VALUE` pairs of `--env` as the run's environment. */
function parseEnv(pairs: readonly string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new CliError(`bad --env ${JSON.stringify(p)}: give NAME=VALUE`);
    env[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return env;
}

export async function runCommand(file: string, pairs: readonly string[], opts: RunOptions, io: CliIo): Promise<number> {
  if (!existsSync(file)) throw new CliError(`cannot read workflow file ${file}: no such file`);
  if (statSync(file).isDirectory()) throw new CliError(`${file} is a directory; give a workflow .star file`);
  const { args, kwargs } = parseInputs(opts.input, pairs);
  let env = parseEnv(opts.env);
  let workflow = opts.workflow;
  if (file.endsWith('.py')) {
    // A Uniflow file's `if __name__ == "__main__":` block gives the defaults: ctx.run's workflow and
    // constant keyword arguments, and ctx.environ (the command line's inputs and --env win).
    const { pythonDefaults } = await import('../python-files.js');
    const d = pythonDefaults(file);
    if (workflow === undefined && d.workflow !== undefined) workflow = d.workflow;
    if (args.length === 0) for (const [k, v] of Object.entries(d.kwargs)) if (!(k in kwargs)) kwargs[k] = v;
    env = { ...d.env, ...env };
  }
  const cache = cacheModeOf(opts);
  const notify = notifyOptionsOf(opts);
  const engine = await openEngine(opts, { shared: true });
  try {
    const { collectScript } = await import('../../engine/index.js');
    const { ensureExecutors, remoteDefaultsOf } = await import('../remote.js');
    const { dbDirOf, storageOf } = await import('../engine-options.js');
    const places = { dbDir: dbDirOf(opts), ...(opts.storage !== undefined ? { storage: (await storageOf(opts.storage))! } : {}) };
    const remote = await remoteDefaultsOf(opts, file, places);
    // The remote executors the workflow's tasks name (and the run's default), set up before it starts.
    const needed = engine.declaredExecutors(collectScript(file).bundle, env, remote);
    if (needed.some((n) => n !== 'local' && n !== 'process' && n !== 'starlark')) {
      const tasks = opts.tasks !== undefined ? Object.keys(await (await import('../engine-options.js')).loadTasks(opts.tasks)) : [];
      await ensureExecutors(
        engine,
        needed,
        remote,
        places,
        { ...(opts.tasks !== undefined ? { tasksFile: opts.tasks } : {}), taskNames: tasks, workflowFile: file },
        { ...(opts.rayAddress !== undefined ? { rayAddress: opts.rayAddress } : {}), ...(opts.livyUrl !== undefined ? { livyUrl: opts.livyUrl } : {}) },
        true,
      );
    }
    // Check the workflow name before a run is recorded: a typo is a usage error, not a failed run.
    const names = engine.workflowNames(collectScript(file).bundle, workflow, env);
    if (workflow !== undefined && !names.includes(workflow)) {
      throw new CliError(`${file} has no workflow named ${workflow} (${names.length > 0 ? `workflows: ${names.join(', ')}` : 'it defines no @workflow() function'})`);
    }
    return await driveRun(engine, io, () => engine.start({ file, ...(workflow ? { workflow } : {}), args, kwargs, env, ...(cache ? { cache } : {}), ...(remote ? { remote } : {}), ...(notify ? { notify } : {}), ...(opts.queue !== undefined ? { queue: opts.queue } : {}) }), opts);
  } finally {
    await closeQuietly(engine);
  }
}

/** How `run` and `resume` show progress (`--quiet`, `--log-format`). */
export interface ProgressCliOptions {
  readonly quiet?: boolean;
  readonly logFormat?: LogFormat;
}

/** The `--log-format` of the options. @throws CliError for an unknown format */
export function logFormatOf(opts: ProgressCliOptions): LogFormat {
  const f = opts.logFormat ?? 'text';
  if (f !== 'text' && f !== 'json') throw new CliError(`--log-format must be text or json (not ${JSON.stringify(f)})`);
  return f;
}

/** A note or warning of `run`/`resume` on stderr: a text line, or a JSON object with --log-format json. */
export function notice(io: CliIo, opts: ProgressCliOptions, kind: 'note' | 'warning', text: string): void {
  io.err((opts.logFormat === 'json' ? JSON.stringify({ kind, message: text }) : `${kind}: ${text}`) + '\n');
}

/**
 * Starts a run with `start`, prints its progress and outcome (as text or JSON lines, or with
 * `quiet` only a failure), and prints its result on stdout. Ctrl-C leaves the run unfinished in the
 * database (a worker finishes it) and exits 130; a run that cannot go on in this process (the event
 * loop is empty: a task that never settles) is reported with what it waits on, and exits 4.
 */
export async function driveRun(engine: Engine, io: CliIo, start: () => RunHandle, options: ProgressCliOptions = {}): Promise<number> {
  const format = logFormatOf(options);
  const json = format === 'json';
  // On a terminal, a live status line is redrawn below the step lines.
  const live = io.live === true && !json;
  const printer = options.quiet ? undefined : new ProgressPrinter(engine, { write: (l) => io.err(l + '\n'), format, live, writeRaw: (t) => io.err(t) });
  /** What the command reports: a text block, or one JSON object (`kind` and fields) with --log-format json. */
  const say = (kind: string, text: string, fields: Record<string, unknown>): void => {
    io.err((json ? exactJson({ kind, ...fields, message: text.split('\n')[0] }) : text) + '\n');
  };
  const t0 = Date.now();
  let stop: ((why: 'interrupted' | 'stalled') => void) | undefined;
  const stopped = new Promise<'interrupted' | 'stalled'>((r) => (stop = r));
  const onSignal = (): void => stop?.('interrupted');
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let handle: RunHandle | undefined;
  const guardFormat = exitGuard.format;
  exitGuard.format = format;
  const release = exitGuard.commit({
    describe: (reason) => (handle ? describeUnfinished(engine, handle.runId, reason) : 'larkflow: the run did not start'),
    abandon: () => stop?.('stalled'),
  });
  try {
    handle = start();
    const runId = handle.runId;
    const outcome: RunResult | 'interrupted' | 'stalled' = await Promise.race([handle.result, stopped]);
    if (outcome === 'interrupted') {
      say(
        'interrupted',
        `interrupted: run ${runId} is left unfinished in the database; \`larkflow worker\` finishes it, \`larkflow cancel ${runId}\` cancels it`,
        { runId },
      );
      return 130;
    }
    if (outcome === 'stalled') {
      const text = describeUnfinished(engine, runId, 'idle');
      say('unfinished', text, { runId, waiting: text.split('\n').slice(1, -1).map((l) => l.trim()) });
      return EXIT_UNFINISHED;
    }
    const elapsedMs = Date.now() - t0;
    // The folded state (for a failure's steps) costs a pass over the whole history: not for a success.
    let state;
    if (outcome.status !== 'completed') {
      try {
        state = engine.state(runId);
      } catch {
        state = undefined;
      }
    }
    if (outcome.status === 'failed' && outcome.error?.kind === 'storage' && state?.status === 'running') {
      // The engine gave the run up (e.g. another process appended to its history, as `larkflow
      // cancel` does): it is not failed, it is unfinished in the database.
      say(
        'unfinished',
        `run ${runId} stopped in this process: ${outcome.error.message}\n` +
          `it is unfinished in the database${state.cancelRequested !== undefined ? ` and its cancellation was requested (${state.cancelRequested})` : ''}; ` +
          `\`larkflow worker --until-idle\` finishes it`,
        { runId, error: outcome.error },
      );
      return EXIT_UNFINISHED;
    }
    if (!options.quiet || outcome.status !== 'completed') {
      if (json) say('outcome', `run ${runId} ${outcome.status}`, { runId, status: outcome.status, elapsedMs, ...(outcome.error ? { error: outcome.error } : {}) });
      else io.err(renderOutcome(outcome, state, elapsedMs) + '\n');
    }
    if (outcome.status === 'completed') io.out(exactJson(outcome.result ?? null, 2) + '\n');
    return exitCodeOf(outcome);
  } finally {
    release();
    exitGuard.format = guardFormat;
    printer?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
