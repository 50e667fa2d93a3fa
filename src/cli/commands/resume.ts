/**
 * This file defines `larkflow resume RUN [--from STEP] [--workflow FILE]`: start a new run, linked to
 * RUN, that reuses the recorded results of the steps before STEP (default: the first failed step) and
 * runs the rest; it is shown and ends like `larkflow run`. `--no-cache` and `--refresh-cache` apply
 * to the steps it runs (the step it restarts from is never served from the cache).
 *
 * The new run uses RUN's stored script unless `--workflow FILE` gives a fixed one ("resume after
 * fixing the code"); when the file on disk differs from the stored script and no `--workflow` is
 * given, a note on stderr says so. With `--workflow FILE`, the steps to reuse must replay against
 * FILE: when they do not, the mismatch is printed as `larkflow replay` prints one, and the exit
 * status is 3.
 *
 * On a shared database (PostgreSQL, `--db postgres://…` or LARKFLOW_DB), the engine is the one
 * `larkflow run` opens there: the old run's row, history and script are read from the database into
 * its mirror (read only), and the new run is written to the database and driven by this process, as
 * `run` does. If this process dies, a `larkflow worker` takes the new run over (it reads the old
 * run whose steps the new one reuses, as this command does).
 */
import { existsSync } from 'node:fs';
import type { Engine, RunStarted } from '../../engine/index.js';
import { CliError } from '../errors.js';
import { cacheModeOf, closeQuietly, dbOption, isSharedDbUrl, openEngine, type CacheCliOptions, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { resolveRunId } from '../engine-options.js';
import { driftText, scriptDrift } from '../script-drift.js';
import { driveRun, logFormatOf, notice, type ProgressCliOptions } from './run.js';
import { REPLAY_MISMATCH, renderMismatch } from './replay.js';

export interface ResumeOptions extends EngineCliOptions, CacheCliOptions, ProgressCliOptions {
  readonly from?: string;
  /** A fixed workflow file to resume with instead of the run's stored script. */
  readonly workflow?: string;
}

/** True for the engine's NondeterminismError (by name too: the class may come from another copy of the engine). */
function isNondeterminism(e: unknown): e is Error & { stepId?: string } {
  return e instanceof Error && e.name === 'NondeterminismError';
}

export async function resumeCommand(runId: string, opts: ResumeOptions, io: CliIo): Promise<number> {
  cacheModeOf(opts); // usage errors first
  logFormatOf(opts);
  const file = opts.workflow;
  if (file !== undefined && !existsSync(file)) throw new CliError(`cannot read workflow file ${file}: no such file`);
  const shared = isSharedDbUrl(dbOption(opts));
  let engine: Engine | undefined;
  try {
    if (shared) {
      // The new run goes to the shared database (as with `run`); the old one is read from there.
      engine = await openEngine(opts, { shared: true });
      const { noteSharedRun } = await import('../shared-read.js');
      runId = await noteSharedRun(engine, runId);
    } else {
      engine = await openEngine(opts, { mustExist: true });
      runId = resolveRunId(engine, runId);
    }
    return await resumeOn(engine, runId, opts, io);
  } finally {
    await closeQuietly(engine);
  }
}

/** `resume` once the engine sees the old run (by its full id). */
async function resumeOn(engine: Engine, runId: string, opts: ResumeOptions, io: CliIo): Promise<number> {
  const cache = cacheModeOf(opts);
  const file = opts.workflow;
  const state = engine.state(runId);
  const first = engine.history(runId)[0] as RunStarted | undefined;
  if (first) {
    // The resumed run's tasks go where the original's went.
    const { ensureExecutors } = await import('../remote.js');
    const { dbDirOf, storageOf } = await import('../engine-options.js');
    const storage = await storageOf(opts.storage);
    const needed = file !== undefined ? engine.declaredExecutors((await import('../../engine/index.js')).collectScript(file).bundle, first.env, first.remote) : engine.executorsOfRun(runId);
    await ensureExecutors(
      engine,
      needed,
      first.remote,
      { dbDir: dbDirOf(opts), ...(storage !== undefined ? { storage } : {}) },
      { ...(opts.tasks !== undefined ? { tasksFile: opts.tasks, taskNames: engine.functions.taskNames() } : {}), workflowFile: file ?? first.file },
      { ...(opts.rayAddress !== undefined ? { rayAddress: opts.rayAddress } : {}), ...(opts.livyUrl !== undefined ? { livyUrl: opts.livyUrl } : {}) },
      true,
    );
  }
  let fromStep = opts.from;
  if (fromStep !== undefined && !state.order.includes(fromStep)) {
    // `--from train` names the first occurrence of a task.
    if (!fromStep.includes('#') && state.order.includes(`${fromStep}#1`)) fromStep = `${fromStep}#1`;
    else throw new CliError(`run ${runId} has no step ${fromStep} (steps: ${state.order.join(', ') || 'none'})`);
  }
  if (state.status === 'running') {
    notice(io, opts, 'note', `run ${runId} has not finished (it may still be running elsewhere); the new run does not stop it`);
  }
  let fileDigest: string | undefined;
  if (file === undefined) {
    const drift = scriptDrift(engine, runId);
    if (drift) notice(io, opts, 'note', `${driftText(drift)}: resuming with the stored script; to resume with the changed file, use \`larkflow resume ${runId} --workflow ${drift.file}\``);
  } else {
    const { collectScript } = await import('../../engine/index.js');
    fileDigest = collectScript(file).digest;
  }
  const options = { ...(fromStep !== undefined ? { fromStep } : {}), ...(cache ? { cache } : {}), ...(file !== undefined ? { file } : {}) };
  try {
    return await driveRun(
      engine,
      io,
      () => {
        const handle = engine.resume(runId, options);
        const started = engine.history(handle.runId)[0] as RunStarted | undefined;
        if (cache) {
          // The run records its cache mode in RunStarted; an engine without the option would use the cache.
          if (started?.cacheMode !== cache) notice(io, opts, 'warning', `this engine ignores ${cache === 'off' ? '--no-cache' : '--refresh-cache'} on resume; run ${handle.runId} uses the task cache`);
        }
        if (fileDigest !== undefined && started && started.scriptDigest !== fileDigest && started.scriptDigest === (engine.history(runId)[0] as RunStarted).scriptDigest) {
          notice(io, opts, 'warning', `this engine does not support resume --workflow yet; run ${handle.runId} uses the stored script of run ${runId}, not ${file}`);
        }
        return handle;
      },
      opts,
    );
  } catch (e) {
    if (!isNondeterminism(e)) throw e;
    // The fixed script does not reach the steps to reuse with the recorded calls.
    const text = await renderMismatch(engine, runId, e, {
      headline: `MISMATCH: run ${runId} does not replay against ${file ?? 'its stored script'}${fromStep ? ` up to step ${fromStep}` : ''}: its steps cannot be reused`,
      script: file,
      onlyStep: e.stepId,
    });
    if (opts.logFormat === 'json') {
      const [message, ...details] = text.trimEnd().split('\n');
      io.err(JSON.stringify({ kind: 'mismatch', runId, message, details }) + '\n');
    } else {
      io.err(text);
    }
    return REPLAY_MISMATCH;
  }
}
