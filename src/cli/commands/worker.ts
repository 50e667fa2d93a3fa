/**
 * This file defines `larkflow worker`: finish the unfinished runs of a database. It recovers every
 * unfinished run (rebuilt by replaying its history; in-flight tasks run again with the same
 * idempotency key), prints one stdout line per run that ends, one stderr line (`worker: ...`) per run
 * it leaves alone and why (`engine.recoveryIssues`: its tasks are missing here, another worker holds
 * it, a blob or the database failed), and then either exits when nothing is left (`--until-idle`) or
 * keeps looking for new unfinished runs every second until SIGINT/SIGTERM.
 *
 * With `--until-idle` the exit status says whether the database's unfinished runs were finished:
 * 0 every run it took ended (completed, failed or cancelled) and was recorded (runs another live
 * worker holds are named and left to it); 1 a run was left unfinished (an issue above: missing
 * tasks, a missing blob, a database that refuses writes) or its outcome could not be recorded; 2 bad usage; 4 a run could not
 * go on in this process (a task that never settles, or one that ended the process).
 */
import type { Engine, RecoveryIssue } from '../../engine/index.js';
import { closeQuietly, openEngine, renderErrorInfo, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { renderError } from '../errors.js';
import { EXIT_UNFINISHED, exitGuard } from '../exit-guard.js';
import { driftText, scriptDrift } from '../script-drift.js';
import { describeUnfinished } from '../unfinished.js';

export interface WorkerOptions extends EngineCliOptions {
  readonly untilIdle?: boolean;
  /** Milliseconds between looks for new unfinished runs. @default 1000 */
  readonly pollMs?: number;
}

/** What the worker saw happen to the runs it watches. */
export interface Tally {
  /** Runs whose outcome is recorded, by id. */
  readonly ended: Set<string>;
  /** Runs left unfinished (an issue, an unrecorded outcome), by id. */
  readonly unfinished: Set<string>;
  /** The worker gave up waiting (nothing could finish the runs still open): no more run lines. */
  stopped?: boolean;
}

/** "worker: <what>" for one text that may start with larkflow's own prefix. */
function workerLine(text: string): string {
  return `worker: ${text.replace(/^larkflow: /, '')}\n`;
}

/** The issues of the engine (and the older `skippedRecoveries`, for runs that have no issue), by run id. */
function issuesOf(engine: Engine): Map<string, RecoveryIssue> {
  const out = new Map<string, RecoveryIssue>(engine.recoveryIssues ?? []);
  for (const [id, tasks] of engine.skippedRecoveries) {
    if (!out.has(id)) {
      out.set(id, { reason: 'missing-tasks', message: `left run ${id} unfinished: it needs task ${tasks.join(', ')}, which this worker does not have (pass --tasks FILE)` });
    }
  }
  return out;
}

export async function workerCommand(opts: WorkerOptions, io: CliIo): Promise<number> {
  // --until-idle finishes what a database holds: a missing one is a mistake, not an empty queue.
  const engine = await openEngine(opts, { mustExist: opts.untilIdle === true, remote: true });
  const tally: Tally = { ended: new Set(), unfinished: new Set() };
  const watched = new Map<string, Promise<void>>();
  // Process warnings (the engine's "cannot recover run X: ...") are worker lines, not Node's.
  const stopWarnings = exitGuard.onWarning((text) => io.err(workerLine(text)));
  const printedIssues = new Map<string, string>();
  /** Runs another live worker holds: named, and not counted as left unfinished by this worker. */
  const leftToOthers = new Set<string>();
  const printIssues = (): void => {
    for (const [id, issue] of issuesOf(engine)) {
      if (printedIssues.get(id) === issue.message) continue;
      printedIssues.set(id, issue.message);
      io.err(workerLine(issue.message));
      // A run another live worker drives is that worker's to finish, not a failure of this one.
      if (issue.reason === 'owned') {
        leftToOthers.add(id);
        continue;
      }
      tally.unfinished.add(id);
    }
  };
  const watch = (ids: readonly string[]): void => {
    for (const id of ids) {
      if (watched.has(id)) continue;
      const drift = scriptDrift(engine, id);
      if (drift) io.err(workerLine(`${driftText(drift)}: continuing it with the stored script; to resume with the changed file, use \`larkflow resume ${id} --workflow ${drift.file}\``));
      watched.set(id, reportOutcome(engine, id, io, tally));
    }
  };
  let stalled: (() => void) | undefined;
  const stall = new Promise<'stalled'>((r) => (stalled = () => r('stalled')));
  const release = exitGuard.commit({
    describe: (reason) => {
      const open = [...watched.keys()].filter((id) => !tally.ended.has(id) && !tally.unfinished.has(id));
      return open.length === 0 ? 'worker: stopped before it was done' : open.map((id) => describeUnfinished(engine, id, reason).replace(/^larkflow: /, 'worker: ')).join('\n');
    },
    abandon: () => stalled?.(),
  });
  // The triggers of registered pipelines fire here too: each due tick starts its run (once, across workers).
  const { triggerFirer } = await import('./trigger.js');
  const firer = triggerFirer(engine, opts);
  const fireTriggers = async (): Promise<void> => {
    try {
      const fired = await firer.fire(Date.now(), (text) => io.err(workerLine(text)));
      for (const f of fired) io.err(workerLine(`trigger ${f.pipeline}/${f.trigger} fired for ${new Date(f.tick).toISOString()} (${f.params}): run ${f.runId}`));
      watch(fired.map((f) => f.runId));
    } catch (e) {
      io.err(workerLine(`triggers: ${renderError(e)}`));
    }
  };
  try {
    const first = engine.recover();
    const skipped = issuesOf(engine).size;
    io.err(
      first.length === 0
        ? skipped > 0
          ? 'worker: recovered no runs\n'
          : 'worker: no unfinished runs\n'
        : `worker: recovered ${first.length} unfinished run${first.length === 1 ? '' : 's'}: ${first.join(', ')}\n`,
    );
    printIssues();
    watch(first);
    await fireTriggers();
    if (opts.untilIdle) {
      const done = Promise.all([engine.whenIdle(), ...watched.values()]);
      const outcome = await Promise.race([done, stall]);
      if (outcome === 'stalled') {
        // Nothing in this process can finish the runs still open (a task that never settles).
        tally.stopped = true;
        for (const id of watched.keys()) {
          if (tally.ended.has(id) || tally.unfinished.has(id)) continue;
          tally.unfinished.add(id);
          io.err(describeUnfinished(engine, id, 'idle').replace(/^larkflow: /, 'worker: ') + '\n');
          io.out(`${id} unfinished${workflowOf(engine, id)}: it did not finish in this worker\n`);
        }
        return EXIT_UNFINISHED;
      }
      printIssues(); // issues found while it worked (a blob that could not be fetched)
      // Whatever the reports said, the database decides what is finished.
      for (const id of [...watched.keys(), ...printedIssues.keys()]) {
        if (leftToOthers.has(id)) continue;
        let status: string | undefined;
        try {
          status = engine.store.getRun(id)?.status;
        } catch {
          status = undefined;
        }
        if (status === 'running' && !tally.unfinished.has(id)) {
          tally.unfinished.add(id);
          io.err(workerLine(`run ${id} is still unfinished in the database`));
        }
      }
      return tally.unfinished.size > 0 ? 1 : 0;
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
          printIssues();
        } catch (e) {
          io.err(workerLine(renderError(e)));
        }
        void fireTriggers();
      }, opts.pollMs ?? 1000);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    const left = engine.liveRuns;
    io.err(`worker: stopped${left > 0 ? `; ${left} run${left === 1 ? '' : 's'} left unfinished (a worker finishes them later)` : ''}\n`);
    return 0;
  } finally {
    firer.close();
    release();
    stopWarnings();
    await closeQuietly(engine);
  }
}

/** " (workflow NAME)" of a run, or nothing if its state cannot be read. */
function workflowOf(engine: Engine, runId: string): string {
  try {
    const rec = engine.store.getRun(runId);
    return rec ? ` (workflow ${rec.workflow})` : '';
  } catch {
    return ''; // the store is closing
  }
}

/** The run's status in the database, or undefined if it cannot be read. */
function storedStatus(engine: Engine, runId: string): string | undefined {
  try {
    return engine.store.getRun(runId)?.status;
  } catch {
    return undefined;
  }
}

/**
 * Prints one stdout line when a recovered run ends: its status as the database records it. A run
 * the engine gave up with an outcome the database does not hold (a write that failed) is unfinished.
 */
export async function reportOutcome(engine: Engine, runId: string, io: CliIo, tally: Tally): Promise<void> {
  const workflow = workflowOf(engine, runId);
  let r;
  try {
    r = await engine.result(runId);
  } catch (e) {
    if (tally.stopped) return; // reported when the worker gave up
    // Not live (yet): its blobs are being fetched, or recovery left it. Look again once idle.
    await engine.whenIdle();
    if (tally.stopped || issuesOf(engine).has(runId)) return; // printed as an issue
    try {
      r = await engine.result(runId);
    } catch {
      tally.unfinished.add(runId);
      io.out(`${runId} unfinished${workflow}: ${renderError(e).replace(/^larkflow: /, '')}\n`);
      return;
    }
  }
  if (tally.stopped) return;
  const status = storedStatus(engine, runId);
  if (status === 'running' || (status !== undefined && status !== r.status)) {
    tally.unfinished.add(runId);
    const why = r.error ? renderErrorInfo(r.error).split('\n')[0] : r.status;
    io.out(`${runId} unfinished${workflow}: could not record the outcome of run ${runId} (${why}): it stays unfinished\n`);
    return;
  }
  tally.ended.add(runId);
  const why = r.error && r.status !== 'completed' ? `: ${renderErrorInfo(r.error).split('\n')[0]}` : '';
  io.out(`${runId} ${r.status}${workflow}${why}\n`);
}
