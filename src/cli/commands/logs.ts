/**
 * This file defines `larkflow logs RUN [STEP] [--attempt N] [--follow]`: an attempt's output from
 * wherever it is. A process task's attempt directory (stdout.log, stderr.log); an in-process task's
 * log file, when the engine kept one; a remote attempt's job (AttemptSubmitted), through its
 * backend's log API (pod logs for Kubernetes, the job's log file for subprocess). `--follow` keeps
 * printing new output until the attempt ends.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AttemptState, Engine, RunStarted, StepState } from '../../engine/index.js';
import { CliError } from '../errors.js';
import { dbDirOf, storageOf, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { openRunView, type RunView } from '../shared-read.js';

export interface LogsOptions extends EngineCliOptions {
  readonly attempt?: string;
  readonly follow?: boolean;
  /** Milliseconds between looks with --follow. @default 1000 */
  readonly pollMs?: number;
}

/** The step to show: the one named, or the last step that ran an attempt. */
function pickStep(steps: readonly StepState[], stepId: string | undefined, runId: string): StepState {
  if (stepId !== undefined) {
    const st = steps.find((s) => s.stepId === stepId) ?? (stepId.includes('#') ? undefined : steps.find((s) => s.stepId === `${stepId}#1`));
    if (!st) throw new CliError(`run ${runId} has no step ${stepId} (steps: ${steps.map((s) => s.stepId).join(', ') || 'none'})`);
    return st;
  }
  const ran = steps.filter((s) => s.attempts.length > 0);
  if (ran.length === 0) throw new CliError(`run ${runId} has no task attempts yet`);
  return ran[ran.length - 1]!;
}

function pickAttempt(st: StepState, n: string | undefined): AttemptState {
  if (st.attempts.length === 0) throw new CliError(`step ${st.stepId} has no attempts${st.status === 'completed' ? ' (its result came from the cache or an earlier run)' : ''}`);
  if (n === undefined) return st.attempts[st.attempts.length - 1]!;
  const a = st.attempts.find((x) => String(x.attempt) === n);
  if (!a) throw new CliError(`step ${st.stepId} has no attempt ${n} (attempts: ${st.attempts.map((x) => x.attempt).join(', ')})`);
  return a;
}

export async function logsCommand(runArg: string, stepId: string | undefined, opts: LogsOptions, io: CliIo): Promise<number> {
  if (opts.attempt !== undefined && !/^[1-9][0-9]*$/.test(opts.attempt)) throw new CliError(`--attempt must be a positive number, not ${JSON.stringify(opts.attempt)}`);
  // A SQLite file or a shared database (PostgreSQL, whose run is re-read while --follow waits).
  const view = await openRunView(opts, runArg);
  try {
    const { engine, runId } = view;
    const state = engine.state(runId);
    const steps = state.order.map((id) => state.steps[id]!).filter((s) => s.kind === 'task');
    const st = pickStep(steps, stepId, runId);
    const attempt = pickAttempt(st, opts.attempt);
    if (attempt.job) return await remoteLogs(engine, runId, st, attempt, opts, io);
    return await localLogs(view, st, attempt, opts, io);
  } finally {
    await view.close();
  }
}

/** Logs of a local attempt: the files of its directory, printed (and followed) from a byte offset. */
async function localLogs(view: RunView, st: StepState, attempt: AttemptState, opts: LogsOptions, io: CliIo): Promise<number> {
  const { engine, runId } = view;
  const where = attempt.logs;
  if (where === undefined) {
    io.err(`step ${st.stepId} attempt ${attempt.attempt} ran in process (executor ${attempt.executor}); its output went to the engine's own stdout and stderr, and no log was kept\n`);
    return 1;
  }
  const files = existsSync(where) && statSync(where).isDirectory() ? ['stdout.log', 'stderr.log'].map((f) => join(where, f)).filter((f) => existsSync(f)) : existsSync(where) ? [where] : [];
  if (files.length === 0) {
    io.err(`no logs at ${where} (the attempt directory is gone, or was on another machine)\n`);
    return 1;
  }
  const offsets = new Map<string, number>();
  const drain = (): void => {
    for (const f of files) {
      const buf = readFileSync(f);
      const from = offsets.get(f) ?? 0;
      if (buf.length > from) io.out(buf.subarray(from).toString('utf8'));
      offsets.set(f, buf.length);
    }
  };
  drain();
  while (opts.follow && attemptRunning(engine, runId, st.stepId, attempt.attempt)) {
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
    drain();
    await view.refresh();
  }
  return 0;
}

function attemptRunning(engine: Engine, runId: string, stepId: string, n: number): boolean {
  const st = engine.state(runId).steps[stepId];
  const a = st?.attempts.find((x) => x.attempt === n);
  return a !== undefined && a.endedAt === undefined && (st!.status === 'running' || st!.status === 'scheduled');
}

/** Logs of a remote attempt, through its backend (recorded in RunStarted.remote and AttemptSubmitted). */
async function remoteLogs(engine: Engine, runId: string, st: StepState, attempt: AttemptState, opts: LogsOptions, io: CliIo): Promise<number> {
  const job = attempt.job!;
  const first = engine.history(runId)[0] as RunStarted | undefined;
  const { addExecutorOfKind } = await import('../remote.js');
  const storage = await storageOf(opts.storage);
  await addExecutorOfKind(
    engine,
    job.executor,
    first?.remote,
    { dbDir: dbDirOf(opts), ...(storage !== undefined ? { storage } : {}) },
    {},
    { ...(opts.rayAddress !== undefined ? { rayAddress: opts.rayAddress } : {}), ...(opts.livyUrl !== undefined ? { livyUrl: opts.livyUrl } : {}) },
  );
  const { RemoteExecutor } = await import('../../engine/attempts/remote-executor.js');
  const ex = engine.executor(job.executor);
  if (!(ex instanceof RemoteExecutor)) throw new CliError(`executor ${job.executor} of step ${st.stepId} is not a remote executor`);
  const { TERMINAL_PHASES } = await import('../../engine/executors/contract.js');
  let cursor: string | undefined;
  for (;;) {
    let chunk;
    try {
      chunk = await ex.adapter.logs(job, cursor !== undefined ? { cursor } : {});
    } catch (e) {
      throw new CliError(`cannot read the logs of ${job.executor} job ${job.backendId}: ${(e as Error).message}`);
    }
    if (!chunk.available) {
      io.err(`${job.executor} job ${job.backendId} has no log API; look for its output on the cluster\n`);
      return 1;
    }
    if (chunk.text !== '') io.out(chunk.text);
    if (!opts.follow) return 0;
    const status = await ex.adapter.status(job).catch(() => undefined);
    if (status === undefined || TERMINAL_PHASES.has(status.phase)) {
      if (chunk.nextCursor === undefined) return 0;
      // One last read for what the job wrote as it ended.
      const last = await ex.adapter.logs(job, { cursor: chunk.nextCursor }).catch(() => undefined);
      if (last?.text) io.out(last.text);
      return 0;
    }
    if (chunk.nextCursor === undefined) {
      io.err('(this backend returns whole logs: --follow prints them once)\n');
      return 0;
    }
    cursor = chunk.nextCursor;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
  }
}
