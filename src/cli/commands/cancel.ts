/**
 * This file defines `larkflow cancel RUN`: request the cancellation of a run. The run's running tasks
 * are aborted, its atexit cleanups run and it ends as cancelled. A run that is not live in this
 * process gets a CancelRequested event in its history; the worker that runs it finishes the
 * cancellation (`larkflow worker` for a run no process is running).
 */
import { closeQuietly, openEngine, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { resolveRunId } from '../engine-options.js';

export interface CancelOptions extends EngineCliOptions {
  readonly reason?: string;
}

export async function cancelCommand(runId: string, opts: CancelOptions, io: CliIo): Promise<number> {
  const { dbOption, isSharedDbUrl, postToSharedRun } = await import('../shared-db.js');
  const shared = dbOption(opts);
  if (isSharedDbUrl(shared)) {
    // A shared database: the request goes through the run's inbox; the worker holding the run (or
    // the next to claim it) cancels it. A second request is the same message.
    const reason = opts.reason ?? 'cancelled by user (larkflow cancel)';
    const r = await postToSharedRun(shared, runId, { name: '__cancel__', payload: { reason }, key: 'cancel' });
    io.err(r.duplicate ? `cancellation of run ${runId} was already requested\n` : `cancellation of run ${runId} requested (in its inbox): the worker holding it stops its tasks and ends it cancelled\n`);
    return 0;
  }
  const engine = await openEngine(opts, { mustExist: true });
  try {
    runId = resolveRunId(engine, runId);
    const before = engine.state(runId);
    if (before.status !== 'running') {
      io.err(`run ${runId} has already ${before.status === 'blocked' ? 'blocked' : `ended (${before.status})`}; nothing to cancel\n`);
      return 1;
    }
    if (before.cancelRequested !== undefined) {
      io.err(`cancellation of run ${runId} was already requested (${before.cancelRequested}); \`larkflow worker\` finishes it if no process is running the run\n`);
      return 0;
    }
    // A fresh engine has no live runs: this records the request in the run's history.
    engine.cancel(runId, opts.reason ?? 'cancelled by user (larkflow cancel)');
    io.err(
      `cancellation of run ${runId} requested (recorded in its history). A process running it (e.g. \`larkflow run\`) ` +
        `picks the request up within a second: its tasks are stopped, its atexit cleanups run, and it ends cancelled. ` +
        `If no process is running it, \`larkflow worker --until-idle\` finishes the cancellation.\n`,
    );
    return 0;
  } finally {
    await closeQuietly(engine);
  }
}
