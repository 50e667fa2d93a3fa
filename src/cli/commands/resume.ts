/**
 * This file defines `larkflow resume RUN [--from STEP]`: start a new run, linked to RUN, that reuses
 * the recorded results of the steps before STEP (default: the first failed step) and runs the rest;
 * it is shown and ends like `larkflow run`.
 */
import { CliError } from '../errors.js';
import { closeQuietly, openEngine, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { driveRun } from './run.js';

export interface ResumeOptions extends EngineCliOptions {
  readonly from?: string;
}

export async function resumeCommand(runId: string, opts: ResumeOptions, io: CliIo): Promise<number> {
  const engine = await openEngine(opts, { mustExist: true });
  try {
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
    return await driveRun(engine, io, () => engine.resume(runId, fromStep !== undefined ? { fromStep } : {}));
  } finally {
    await closeQuietly(engine);
  }
}
