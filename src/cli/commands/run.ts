/**
 * This file defines `larkflow run FILE`: start a workflow run, show its progress on stderr (the first
 * line names the run id), and print its result as JSON on stdout. Exit 0 when it completes, 1 when it
 * fails (with the Starlark traceback and the task's error), is cancelled or blocks, 2 for bad usage.
 * `--no-cache` runs every task (no cache look-ups, nothing stored); `--refresh-cache` runs every
 * cacheable task and stores its fresh result.
 */
import { existsSync, statSync } from 'node:fs';
import type { Engine, RunHandle, RunResult } from '../../engine/index.js';
import { CliError } from '../errors.js';
import { cacheModeOf, closeQuietly, exitCodeOf, openEngine, renderOutcome, type CacheCliOptions, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { exactJson } from '../json-out.js';
import { ProgressPrinter } from '../progress.js';

export interface RunOptions extends EngineCliOptions, CacheCliOptions {
  readonly workflow?: string;
  readonly input?: string;
  readonly env?: readonly string[];
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
    else if (v !== null && typeof v === 'object') Object.assign(kwargs, v);
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
  const env = parseEnv(opts.env);
  const cache = cacheModeOf(opts);
  const engine = await openEngine(opts);
  try {
    const { collectScript } = await import('../../engine/index.js');
    // Check the workflow name before a run is recorded: a typo is a usage error, not a failed run.
    const names = engine.workflowNames(collectScript(file).bundle);
    if (opts.workflow !== undefined && !names.includes(opts.workflow)) {
      throw new CliError(`${file} has no workflow named ${opts.workflow} (${names.length > 0 ? `workflows: ${names.join(', ')}` : 'it defines no @workflow() function'})`);
    }
    return await driveRun(engine, io, () => engine.start({ file, ...(opts.workflow ? { workflow: opts.workflow } : {}), args, kwargs, env, ...(cache ? { cache } : {}) }));
  } finally {
    await closeQuietly(engine);
  }
}

/**
 * Starts a run with `start`, prints its progress and outcome, and prints its result on stdout.
 * Ctrl-C leaves the run unfinished in the database (a worker finishes it) and exits 130.
 */
export async function driveRun(engine: Engine, io: CliIo, start: () => RunHandle): Promise<number> {
  // On a terminal, a live status line is redrawn below the step lines.
  const live = io.live === true;
  const printer = new ProgressPrinter(engine, { write: (l) => io.err(l + '\n'), live, writeRaw: (t) => io.err(t) });
  const t0 = Date.now();
  let interrupted: (() => void) | undefined;
  const interrupt = new Promise<'interrupted'>((r) => (interrupted = () => r('interrupted')));
  const onSignal = (): void => interrupted?.();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const handle = start();
    const outcome: RunResult | 'interrupted' = await Promise.race([handle.result, interrupt]);
    if (outcome === 'interrupted') {
      io.err(
        `interrupted: run ${handle.runId} is left unfinished in the database; ` +
          `\`larkflow worker\` finishes it, \`larkflow cancel ${handle.runId}\` cancels it\n`,
      );
      return 130;
    }
    let state;
    try {
      state = engine.state(handle.runId);
    } catch {
      state = undefined;
    }
    if (outcome.status === 'failed' && outcome.error?.kind === 'storage' && state?.status === 'running') {
      // The engine gave the run up (e.g. another process appended to its history, as `larkflow
      // cancel` does): it is not failed, it is unfinished in the database.
      io.err(
        `run ${handle.runId} stopped in this process: ${outcome.error.message}\n` +
          `it is unfinished in the database${state.cancelRequested !== undefined ? ` and its cancellation was requested (${state.cancelRequested})` : ''}; ` +
          `\`larkflow worker --until-idle\` finishes it\n`,
      );
      return 1;
    }
    io.err(renderOutcome(outcome, state, Date.now() - t0) + '\n');
    if (outcome.status === 'completed') io.out(exactJson(outcome.result ?? null, 2) + '\n');
    return exitCodeOf(outcome);
  } finally {
    printer.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
