/**
 * This file defines `larkflow resume RUN [--from STEP]`: start a new run, linked to RUN, that reuses
 * the recorded results of the steps before STEP (default: the first failed step) and runs the rest;
 * it is shown and ends like `larkflow run`. `--no-cache` and `--refresh-cache` apply to the steps it
 * runs (the step it restarts from is never served from the cache).
 */
import type { RunStarted } from '../../engine/index.js';
import { CliError } from '../errors.js';
import { cacheModeOf, closeQuietly, openEngine, type CacheCliOptions, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { resolveRunId } from '../engine-options.js';
import { driveRun } from './run.js';

export interface ResumeOptions extends EngineCliOptions, CacheCliOptions {
  readonly from?: string;
}

export async function resumeCommand(runId: string, opts: ResumeOptions, io: CliIo): Promise<number> {
  const cache = cacheModeOf(opts);
  const engine = await openEngine(opts, { mustExist: true });
  try {
    runId = resolveRunId(engine, runId);
    const state = engine.state(runId);
    let fromStep = opts.from;
    if (fromStep !== undefined && !state.order.includes(fromStep)) {
      // `--from train` names the first occurrence of a task.
      if (!fromStep.includes('#') && state.order.includes(`${fromStep}#1`)) fromStep = `${fromStep}#1`;
      else throw new CliError(`run ${runId} has no step ${fromStep} (steps: ${state.order.join(', ') || 'none'})`);
    }
    if (state.status === 'running') {
      io.err(`note: run ${runId} has not finished (it may still be running elsewhere); the new run does not stop it\n`);
    }
    const options: { fromStep?: string; cache?: 'off' | 'refresh' } = { ...(fromStep !== undefined ? { fromStep } : {}), ...(cache ? { cache } : {}) };
    return await driveRun(engine, io, () => {
      const handle = engine.resume(runId, options);
      if (cache) {
        // The run records its cache mode in RunStarted; an engine without the option would use the cache.
        const started = engine.history(handle.runId)[0] as RunStarted | undefined;
        if (started?.cacheMode !== cache) io.err(`warning: this engine ignores ${cache === 'off' ? '--no-cache' : '--refresh-cache'} on resume; run ${handle.runId} uses the task cache\n`);
      }
      return handle;
    });
  } finally {
    await closeQuietly(engine);
  }
}
