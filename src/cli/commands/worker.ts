/**
 * This file defines `larkflow worker`: finish the unfinished runs of a database. It recovers every
 * unfinished run (rebuilt by replaying its history; in-flight tasks run again with the same
 * idempotency key), prints one line per run that ends, and then either exits when nothing is left
 * (`--until-idle`) or keeps looking for new unfinished runs every second until SIGINT/SIGTERM.
 */
import type { Engine } from '../../engine/index.js';
import { closeQuietly, openEngine, renderErrorInfo, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { renderError } from '../errors.js';

export interface WorkerOptions extends EngineCliOptions {
  readonly untilIdle?: boolean;
  /** Milliseconds between looks for new unfinished runs. @default 1000 */
  readonly pollMs?: number;
}

export async function workerCommand(opts: WorkerOptions, io: CliIo): Promise<number> {
  // --until-idle finishes what a database holds: a missing one is a mistake, not an empty queue.
  const engine = await openEngine(opts, opts.untilIdle ? { mustExist: true } : {});
  const watched = new Map<string, Promise<void>>();
  const watch = (ids: readonly string[]): void => {
    for (const id of ids) {
      if (watched.has(id)) continue;
      watched.set(id, report(engine, id, io));
    }
  };
  try {
    const first = engine.recover();
    const skipped = engine.skippedRecoveries.size;
    io.err(
      first.length === 0
        ? skipped > 0
          ? 'worker: recovered no runs\n'
          : 'worker: no unfinished runs\n'
        : `worker: recovered ${first.length} unfinished run${first.length === 1 ? '' : 's'}: ${first.join(', ')}\n`,
    );
    for (const [id, tasks] of engine.skippedRecoveries) {
      io.err(`worker: left run ${id} unfinished: it needs task ${tasks.join(', ')}, which this worker does not have (pass --tasks FILE)\n`);
    }
    watch(first);
    if (opts.untilIdle) {
      await engine.whenIdle();
      await Promise.all(watched.values());
      return engine.skippedRecoveries.size > 0 ? 1 : 0;
    }
    io.err('worker: waiting for unfinished runs (Ctrl-C to stop)\n');
    await new Promise<void>((resolveStop) => {
      const stop = (): void => {
        clearInterval(timer);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolveStop();
      };
      const timer = setInterval(() => {
        try {
          watch(engine.recover());
        } catch (e) {
          io.err(`worker: ${renderError(e).replace(/^larkflow: /, '')}\n`);
        }
      }, opts.pollMs ?? 1000);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    const left = engine.liveRuns;
    io.err(`worker: stopped${left > 0 ? `; ${left} run${left === 1 ? '' : 's'} left unfinished (a worker finishes them later)` : ''}\n`);
    return 0;
  } finally {
    await closeQuietly(engine);
  }
}

/** Prints one stdout line when a recovered run ends. */
async function report(engine: Engine, runId: string, io: CliIo): Promise<void> {
  try {
    const r = await engine.result(runId);
    let workflow = '';
    try {
      workflow = ` (workflow ${engine.state(runId).workflow})`;
    } catch {
      // the store is closing
    }
    const why = r.error && r.status !== 'completed' ? `: ${renderErrorInfo(r.error).split('\n')[0]}` : '';
    io.out(`${runId} ${r.status}${workflow}${why}\n`);
  } catch (e) {
    io.out(`${runId} unfinished: ${renderError(e).replace(/^larkflow: /, '')}\n`);
  }
}
