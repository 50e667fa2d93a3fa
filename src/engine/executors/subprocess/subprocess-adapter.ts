/**
 * This file defines the subprocess executor adapter ("subprocess"): the durable executor contract
 * (../contract.ts) on the local machine. Each attempt's `spec.command` runs, without a shell, as a
 * detached process group that outlives the engine, and everything known about the job is on disk,
 * so a new engine process (after a crash or a kill -9) finds it, watches it and cancels it.
 *
 * The task runs under a tiny supervisor (`process.execPath -e SUPERVISOR_SOURCE <jobDir>`, see
 * below), itself detached and deaf to SIGHUP, which records the exit status even when the engine
 * that started it is gone, and enforces `spec.timeoutMs` (as Kubernetes' activeDeadlineSeconds does).
 *
 * On-disk layout, under `stateDir` (default `.larkflow/subprocess`, resolved against the current
 * directory when the adapter is made):
 *
 *     <stateDir>/.index/<sha256 hex of "runId NUL stepId NUL attempt">   {submissionId, ref}
 *     <stateDir>/<submissionId>/            mode 0700; created with mkdir, which is the claim
 *       launch.json      (0600) {command, env, cwd, timeoutMs?, killGraceMs, ref, task}: written before the supervisor starts
 *       supervisor.json  {pid, startTime, bootId}: the supervisor's own claim (link(2), one per directory)
 *       job.json         {ref, task, submissionId, pid, startTime, bootId, command, createdAt}: the handle's source
 *       task.json        {pid, startTime} of the task process (leader of its process group)
 *       spawns           one line per task process the supervisor started (a journal; always one line)
 *       log              the task's stdout and stderr, appended
 *       supervisor.err   the supervisor's own stderr (empty unless something is badly wrong)
 *       cancelled        marker {at, killGraceMs}, written by cancel()
 *       exit.json        {code, signal, stoppedBy?, reason?, error?, startedAt, finishedAt}, written atomically at the end
 *
 * `lookup` has only the AttemptRef, not the task name that `submissionIdOf` needs, so submit also
 * writes the `.index` entry (before starting anything); lookup reads it, then job.json, and checks
 * that the ref recorded there is the one asked for. Given the task name as a hint (`opts.task`),
 * lookup also finds a job whose index entry is missing, and writes the entry.
 *
 * Rules:
 * - submit is idempotent within a process (one promise per submission id) and across processes
 *   (mkdir of the job directory is the claim; whoever finds it taken adopts the job in it). A
 *   claimer that died before writing job.json is recovered by the next submit: after `claimWaitMs`
 *   it starts a supervisor from launch.json, which exits at once if one had started already.
 * - The handle is `{executor: 'subprocess', submissionId, backendId: String(supervisor pid),
 *   backendUid: supervisor start time}`: the start time is field 22 of /proc/<pid>/stat (clock ticks
 *   since boot), so a reused pid is not mistaken for the supervisor, and job.json's boot id tells a
 *   rebooted machine. Without /proc (not Linux) the uid is absent and liveness is `kill(pid, 0)`.
 * - status: exit.json → SUCCEEDED (exit 0), FAILED (exitCode, reason "exit N" / "signal SIGx",
 *   "DeadlineExceeded" for a timeout, "StartError" when the command could not be started) or
 *   CANCELLED (stopped by our cancel); no exit.json and the supervisor alive → RUNNING (PENDING
 *   until the task process exists); no exit.json and the supervisor gone → LOST (CANCELLED when we
 *   had cancelled); job directory missing, or a handle whose pid/start time is not job.json's → LOST.
 * - cancel writes the marker and sends SIGTERM to the supervisor, which sends SIGTERM to the task's
 *   process group and SIGKILL after `killGraceMs`; the adapter also SIGKILLs the group itself a
 *   second after that if it is still there. Idempotent; 'already-terminal' once exit.json exists or
 *   the supervisor is gone; 'not-found' without a job.json.
 * - logs reads `log` from a byte-offset cursor (`nextCursor` is the offset after the text, held
 *   back before a UTF-8 sequence cut at the end), at most `maxLogBytes` a call (`truncated`: more
 *   follows); `tailLines` keeps the last lines (`truncated`: earlier ones were dropped). A job
 *   without a record is an AdapterError 'not-found'.
 * - cleanup removes the job directory and its index entry once the job is terminal (exit.json, or
 *   the supervisor gone: an orphaned task is SIGKILLed first); a running job is an 'invalid' error.
 * - close() only stops timers: jobs belong to the machine, not to the engine process.
 * - The task's environment is exactly `spec.env`, plus the engine's own `inheritEnv` variables
 *   (default PATH and HOME) when `spec.env` does not set them. The working directory is `cwd`.
 * - `spec.resources` are not enforced (no cgroups); `image` is ignored. POSIX only (process groups).
 * - Every failure is an AdapterError (fs errors: EACCES/EPERM/EROFS 'auth', ENOENT and friends
 *   'invalid', others 'transient'); transient ones are retried a few times with backoff. Local file
 *   calls take no timeout; `CallOptions.signal` is honoured between steps.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  AdapterError,
  submissionIdOf,
  type AttemptRef,
  type CallOptions,
  type CancelResult,
  type ExecutionHandle,
  type ExecutorAdapter,
  type LaunchSpec,
  type LogChunk,
  type StatusReport,
} from '../contract.js';

/** Options of a SubprocessAdapter. */
export interface SubprocessAdapterOptions {
  /** Where jobs are recorded, resolved against the current directory. @default '.larkflow/subprocess' */
  readonly stateDir?: string;
  /** Working directory of the tasks. @default process.cwd() when the adapter is made */
  readonly cwd?: string;
  /** Time between SIGTERM and SIGKILL on cancellation and on timeout, in ms. @default 2000 */
  readonly killGraceMs?: number;
  /** The engine's variables a task gets when `spec.env` does not set them. @default ['PATH', 'HOME'] */
  readonly inheritEnv?: readonly string[];
  /** How long a submit or lookup waits for another submitter's job.json before recovering the claim. @default 3000 */
  readonly claimWaitMs?: number;
  /** Most bytes one `logs` call returns (the rest follows with the cursor). @default 1 MiB */
  readonly maxLogBytes?: number;
  /** The node binary that runs the supervisor. @default process.execPath */
  readonly nodePath?: string;
}

/** What job.json holds. */
export interface SubprocessJobRecord {
  readonly version: 1;
  readonly submissionId: string;
  readonly ref: AttemptRef;
  readonly task: string;
  readonly command: readonly string[];
  /** The supervisor's pid. */
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat of the supervisor; absent without /proc. */
  readonly startTime?: string;
  /** /proc/sys/kernel/random/boot_id when the supervisor started; absent without /proc. */
  readonly bootId?: string;
  readonly createdAt: string;
}

/** What exit.json holds (written by the supervisor). */
export interface SubprocessExitRecord {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stoppedBy?: 'cancel' | 'deadline';
  readonly reason?: string;
  /** Set when the command could not be started (spawn error). */
  readonly error?: string;
  readonly startedAt: string;
  readonly finishedAt: string;
}

interface LaunchRecord {
  readonly version: 1;
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly timeoutMs?: number;
  readonly killGraceMs: number;
  readonly ref: AttemptRef;
  readonly task: string;
}

interface ProcIdentity {
  readonly pid: number;
  readonly startTime?: string;
  readonly bootId?: string;
}

interface IndexRecord {
  readonly submissionId: string;
  readonly ref: AttemptRef;
}

const KIND = 'subprocess';
const SUBMISSION_ID = /^[a-z][a-z0-9-]{0,62}$/;
const hasProc = process.platform === 'linux';

/** The executor adapter that runs attempts as local, detached, supervised process groups. */
export class SubprocessAdapter implements ExecutorAdapter {
  readonly kind = KIND;
  readonly stateDir: string;
  private readonly cwd: string;
  private readonly killGraceMs: number;
  private readonly inheritEnv: readonly string[];
  private readonly claimWaitMs: number;
  private readonly maxLogBytes: number;
  private readonly nodePath: string;
  private readonly inflight = new Map<string, Promise<ExecutionHandle>>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(options: SubprocessAdapterOptions = {}) {
    this.stateDir = resolve(options.stateDir ?? '.larkflow/subprocess');
    this.cwd = resolve(options.cwd ?? process.cwd());
    this.killGraceMs = options.killGraceMs ?? 2000;
    this.inheritEnv = options.inheritEnv ?? ['PATH', 'HOME'];
    this.claimWaitMs = options.claimWaitMs ?? 3000;
    this.maxLogBytes = options.maxLogBytes ?? 1 << 20;
    this.nodePath = options.nodePath ?? process.execPath;
  }

  /** The directory of a submission id (which must be one `submissionIdOf` makes). */
  jobDirOf(submissionId: string): string {
    if (!SUBMISSION_ID.test(submissionId)) throw new AdapterError(`not a submission id: ${JSON.stringify(submissionId)}`, 'invalid');
    return join(this.stateDir, submissionId);
  }

  submit(spec: LaunchSpec, attempt: AttemptRef, opts?: CallOptions): Promise<ExecutionHandle> {
    let id: string;
    try {
      checkRef(attempt);
      if (process.platform === 'win32') throw new AdapterError('the subprocess executor needs POSIX process groups', 'unsupported');
      if (spec.command.length === 0 || spec.command[0] === '') throw new AdapterError(`task ${spec.task}: empty command`, 'invalid');
      id = submissionIdOf(attempt, spec.task);
    } catch (e) {
      return Promise.reject(asAdapterError(e, 'submit'));
    }
    const running = this.inflight.get(id);
    if (running !== undefined) return running;
    const p = retrying(() => this.submitOnce(id, spec, attempt, opts?.signal), opts?.signal, 'submit').finally(() => {
      this.inflight.delete(id);
    });
    this.inflight.set(id, p);
    return p;
  }

  /**
   * Finds the attempt's job through the `.index` entry; given the task name (`opts.task`, the
   * contract's LookupHints), also without one (a submitter that died between its claim and the index).
   */
  async lookup(attempt: AttemptRef, opts?: CallOptions & { readonly task?: string }): Promise<ExecutionHandle | null> {
    return retrying(
      async () => {
        checkRef(attempt);
        const index = await readJson<IndexRecord>(this.indexPathOf(attempt));
        let id: string;
        if (index !== undefined && sameRef(index.ref, attempt)) id = index.submissionId;
        else if (opts?.task !== undefined) id = submissionIdOf(attempt, opts.task);
        else return null;
        const dir = this.jobDirOf(id);
        if (!(await exists(dir))) return null;
        const job = await this.settle(dir, id, attempt, undefined, opts?.signal);
        if (job === undefined) return null;
        if (index === undefined) await this.writeIndex(attempt, id);
        return handleOf(job);
      },
      opts?.signal,
      'lookup',
    );
  }

  async status(h: ExecutionHandle, opts?: CallOptions): Promise<StatusReport> {
    return retrying(
      async () => {
        const dir = this.dirOfHandle(h);
        const job = await readJson<SubprocessJobRecord>(join(dir, 'job.json'));
        if (job === undefined) return { phase: 'LOST', rawState: 'missing', message: `no record of job ${h.submissionId} under ${this.stateDir}` };
        if (!matches(job, h)) {
          return { phase: 'LOST', rawState: 'replaced', message: `job ${h.submissionId} is now supervisor pid ${job.pid} (start ${job.startTime ?? '?'}), not ${h.backendId}` };
        }
        const exit = await readJson<SubprocessExitRecord>(join(dir, 'exit.json'));
        if (exit !== undefined) return fromExit(exit, await exists(join(dir, 'cancelled')));
        if (await isAlive(job)) {
          return (await exists(join(dir, 'task.json'))) ? { phase: 'RUNNING', rawState: 'running' } : { phase: 'PENDING', rawState: 'starting' };
        }
        // The supervisor may have written exit.json and exited since the first read.
        const late = await readJson<SubprocessExitRecord>(join(dir, 'exit.json'));
        const cancelled = await exists(join(dir, 'cancelled'));
        if (late !== undefined) return fromExit(late, cancelled);
        if (cancelled) return { phase: 'CANCELLED', rawState: 'gone', message: `supervisor pid ${job.pid} is gone after our cancel` };
        return {
          phase: 'LOST',
          rawState: 'gone',
          message: `supervisor pid ${job.pid} is gone without recording an exit status (the machine rebooted or it was killed)`,
        };
      },
      opts?.signal,
      'status',
    );
  }

  async cancel(h: ExecutionHandle): Promise<CancelResult> {
    return retrying(
      async () => {
        const dir = this.dirOfHandle(h);
        const job = await readJson<SubprocessJobRecord>(join(dir, 'job.json'));
        if (job === undefined || !matches(job, h)) return 'not-found';
        if (await exists(join(dir, 'exit.json'))) return 'already-terminal';
        if (!(await isAlive(job))) {
          // LOST (or finishing right now): stop an orphaned task all the same.
          await this.killOrphanTask(dir);
          return 'already-terminal';
        }
        const marker = join(dir, 'cancelled');
        if (!(await exists(marker))) await writeJsonAtomic(marker, { at: new Date().toISOString(), killGraceMs: this.killGraceMs });
        signal(job.pid, 'SIGTERM');
        // A backstop, should the supervisor not manage: SIGKILL the task's group a second after its grace.
        const t = setTimeout(() => {
          this.timers.delete(t);
          void (async () => {
            if (await exists(join(dir, 'exit.json'))) return;
            const task = await readJson<ProcIdentity>(join(dir, 'task.json'));
            if (task !== undefined && (await isAlive(task))) signal(-task.pid, 'SIGKILL');
          })().catch(() => undefined);
        }, this.killGraceMs + 1000);
        t.unref();
        this.timers.add(t);
        return 'requested';
      },
      undefined,
      'cancel',
    );
  }

  async logs(h: ExecutionHandle, opts: { readonly tailLines?: number; readonly cursor?: string } = {}): Promise<LogChunk> {
    return retrying(
      async () => {
        const dir = this.dirOfHandle(h);
        if (!(await exists(join(dir, 'job.json')))) throw new AdapterError(`no record of job ${h.submissionId}`, 'not-found');
        let from = 0;
        if (opts.cursor !== undefined && opts.cursor !== '') {
          if (!/^\d+$/.test(opts.cursor)) throw new AdapterError(`bad log cursor ${JSON.stringify(opts.cursor)}`, 'invalid');
          from = Number(opts.cursor);
        }
        return readLog(join(dir, 'log'), from, opts.tailLines, this.maxLogBytes);
      },
      undefined,
      'logs',
    );
  }

  /** Removes a terminal job's directory and index entry; a job still running is an 'invalid' error. */
  async cleanup(h: ExecutionHandle): Promise<void> {
    await retrying(
      async () => {
        const dir = this.dirOfHandle(h);
        const job = await readJson<SubprocessJobRecord>(join(dir, 'job.json'));
        if (job !== undefined && matches(job, h)) {
          if (!(await exists(join(dir, 'exit.json'))) && (await isAlive(job))) {
            throw new AdapterError(`job ${h.submissionId} is still running; cancel it first`, 'invalid');
          }
          await this.killOrphanTask(dir);
          const index = this.indexPathOf(job.ref);
          const entry = await readJson<IndexRecord>(index);
          if (entry !== undefined && entry.submissionId === h.submissionId) await rm(index, { force: true });
        } else if (job !== undefined) {
          return; // another job now has this id: not ours to remove
        }
        await rm(dir, { recursive: true, force: true });
      },
      undefined,
      'cleanup',
    );
  }

  /** Stops the adapter's timers. Jobs keep running: they belong to the machine, not to the engine. */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private dirOfHandle(h: ExecutionHandle): string {
    if (h.executor !== KIND) throw new AdapterError(`a ${h.executor} handle given to the subprocess executor`, 'invalid');
    return this.jobDirOf(h.submissionId);
  }

  private async writeIndex(ref: AttemptRef, submissionId: string): Promise<void> {
    await mkdir(join(this.stateDir, '.index'), { recursive: true, mode: 0o700 });
    await writeJsonAtomic(this.indexPathOf(ref), { submissionId, ref: { runId: ref.runId, stepId: ref.stepId, attempt: ref.attempt } } satisfies IndexRecord);
  }

  private indexPathOf(ref: AttemptRef): string {
    const key = createHash('sha256').update(`${ref.runId}\0${ref.stepId}\0${ref.attempt}`).digest('hex');
    return join(this.stateDir, '.index', key);
  }

  private async submitOnce(id: string, spec: LaunchSpec, attempt: AttemptRef, abort: AbortSignal | undefined): Promise<ExecutionHandle> {
    abort?.throwIfAborted();
    const dir = this.jobDirOf(id);
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    let claimed = true;
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      claimed = false;
    }
    const launch = this.launchRecordOf(spec, attempt);
    if (claimed) {
      // The index first, so that a lookup after a crash from here on finds the directory.
      await this.writeIndex(attempt, id);
      await writeJsonAtomic(join(dir, 'launch.json'), launch, 0o600);
      await this.startSupervisor(dir, abort);
      const job = await this.settle(dir, id, attempt, launch, abort);
      if (job === undefined) throw new AdapterError(`job ${id}: the supervisor did not start`, 'transient');
      return handleOf(job);
    }
    // Someone claimed this attempt already (this process earlier, or another engine): adopt.
    const job = await this.settle(dir, id, attempt, launch, abort);
    if (job === undefined) throw new AdapterError(`job ${id}: the claimed job did not start`, 'transient');
    await this.writeIndex(attempt, id);
    return handleOf(job);
  }

  /**
   * The job.json of a claimed directory: waits `claimWaitMs` for it; then, when a supervisor has
   * claimed the directory (supervisor.json), writes job.json from it; otherwise, given a launch
   * record (submit, not lookup), starts a supervisor (one that finds the directory claimed exits) and
   * waits for its claim. Undefined when there is no job.
   */
  private async settle(
    dir: string,
    id: string,
    ref: AttemptRef,
    launch: LaunchRecord | undefined,
    abort: AbortSignal | undefined,
  ): Promise<SubprocessJobRecord | undefined> {
    const jobPath = join(dir, 'job.json');
    const supPath = join(dir, 'supervisor.json');
    const checked = (job: SubprocessJobRecord): SubprocessJobRecord => {
      if (!sameRef(job.ref, ref)) {
        throw new AdapterError(`submission id ${id} belongs to ${JSON.stringify(job.ref)}, not ${JSON.stringify(ref)}`, 'conflict');
      }
      return job;
    };
    const until = Date.now() + this.claimWaitMs;
    for (;;) {
      const job = await readJson<SubprocessJobRecord>(jobPath);
      if (job !== undefined) return checked(job);
      const sup = await readJson<ProcIdentity>(supPath);
      if (sup !== undefined) return checked(await this.writeJobRecord(dir, id, sup, launch));
      if (Date.now() >= until) break;
      await sleep(10, abort);
    }
    if (launch === undefined) return undefined;
    // The claimer died before its supervisor claimed the directory (or is very slow): start one.
    if ((await readJson<LaunchRecord>(join(dir, 'launch.json'))) === undefined) await writeJsonAtomic(join(dir, 'launch.json'), launch, 0o600);
    await this.startSupervisor(dir, abort);
    const sup = await readJson<ProcIdentity>(supPath);
    if (sup === undefined) return undefined;
    return checked(await this.writeJobRecord(dir, id, sup, launch));
  }

  /** job.json from the supervisor's claim, created once (link), then read back. */
  private async writeJobRecord(dir: string, id: string, sup: ProcIdentity, launch: LaunchRecord | undefined): Promise<SubprocessJobRecord> {
    const jobPath = join(dir, 'job.json');
    const l = launch ?? (await readJson<LaunchRecord>(join(dir, 'launch.json')));
    if (l === undefined) throw new AdapterError(`job ${id}: launch.json is missing`, 'transient');
    const record: SubprocessJobRecord = {
      version: 1,
      submissionId: id,
      ref: { runId: l.ref.runId, stepId: l.ref.stepId, attempt: l.ref.attempt },
      task: l.task,
      command: l.command,
      pid: sup.pid,
      ...(sup.startTime !== undefined ? { startTime: sup.startTime } : {}),
      ...(sup.bootId !== undefined ? { bootId: sup.bootId } : {}),
      createdAt: new Date().toISOString(),
    };
    await createExclusive(jobPath, record);
    const job = await readJson<SubprocessJobRecord>(jobPath);
    if (job === undefined) throw new AdapterError(`job ${id}: job.json vanished`, 'transient');
    return job;
  }

  /**
   * Starts a supervisor for `dir` and waits until the directory is claimed (supervisor.json, by it
   * or by an earlier one) or the supervisor exits. Throws when it exits without a claim.
   */
  private async startSupervisor(dir: string, abort: AbortSignal | undefined): Promise<void> {
    const supPath = join(dir, 'supervisor.json');
    const errFd = openSync(join(dir, 'supervisor.err'), 'a');
    const env: Record<string, string> = {};
    for (const name of ['PATH', 'HOME', 'LANG', 'TMPDIR']) {
      const v = process.env[name];
      if (v !== undefined) env[name] = v;
    }
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let failed: Error | undefined;
    try {
      const child = spawn(this.nodePath, ['-e', SUPERVISOR_SOURCE, dir], {
        cwd: dir,
        env,
        detached: true,
        stdio: ['ignore', 'ignore', errFd],
      });
      child.on('exit', (code, sig) => {
        exited = { code, signal: sig };
      });
      await new Promise<void>((res) => {
        child.once('spawn', () => res());
        child.once('error', (e) => {
          failed = e;
          res();
        });
      });
      child.unref();
    } finally {
      closeSync(errFd);
    }
    if (failed !== undefined) {
      const code = (failed as NodeJS.ErrnoException).code;
      throw new AdapterError(`cannot start the supervisor (${this.nodePath}): ${failed.message}`, code === 'ENOENT' || code === 'EACCES' ? 'invalid' : 'transient');
    }
    const until = Date.now() + Math.max(this.claimWaitMs, 10_000);
    for (;;) {
      if (await exists(supPath)) return;
      if (exited !== undefined) {
        // It may have claimed just before exiting (a task that ended at once).
        if (await exists(supPath)) return;
        const err = (await readFile(join(dir, 'supervisor.err'), 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n');
        throw new AdapterError(
          `the supervisor exited (${exited.signal ?? `code ${exited.code}`}) without starting the job${err ? `: ${err}` : ''}`,
          'transient',
        );
      }
      if (Date.now() >= until) throw new AdapterError(`the supervisor of ${dir} did not start in time`, 'transient');
      await sleep(5, abort);
    }
  }

  private launchRecordOf(spec: LaunchSpec, attempt: AttemptRef): LaunchRecord {
    const env: Record<string, string> = {};
    for (const name of this.inheritEnv) {
      const v = process.env[name];
      if (v !== undefined && !(name in spec.env)) env[name] = v;
    }
    Object.assign(env, spec.env);
    return {
      version: 1,
      command: [...spec.command],
      env,
      cwd: this.cwd,
      ...(spec.timeoutMs !== undefined && spec.timeoutMs > 0 ? { timeoutMs: spec.timeoutMs } : {}),
      killGraceMs: this.killGraceMs,
      ref: { runId: attempt.runId, stepId: attempt.stepId, attempt: attempt.attempt },
      task: spec.task,
    };
  }

  /** SIGKILLs the task's process group when the task outlived its supervisor. */
  private async killOrphanTask(dir: string): Promise<void> {
    const task = await readJson<ProcIdentity>(join(dir, 'task.json'));
    if (task !== undefined && (await isAlive(task))) signal(-task.pid, 'SIGKILL');
  }
}

function checkRef(ref: AttemptRef): void {
  if (typeof ref.runId !== 'string' || typeof ref.stepId !== 'string' || !Number.isSafeInteger(ref.attempt) || ref.attempt < 1) {
    throw new AdapterError(`bad attempt ref ${JSON.stringify(ref)}`, 'invalid');
  }
}

function sameRef(a: AttemptRef, b: AttemptRef): boolean {
  return a.runId === b.runId && a.stepId === b.stepId && a.attempt === b.attempt;
}

function handleOf(job: SubprocessJobRecord): ExecutionHandle {
  return {
    executor: KIND,
    submissionId: job.submissionId,
    backendId: String(job.pid),
    ...(job.startTime !== undefined ? { backendUid: job.startTime } : {}),
  };
}

function matches(job: SubprocessJobRecord, h: ExecutionHandle): boolean {
  return String(job.pid) === h.backendId && (h.backendUid === undefined || h.backendUid === job.startTime);
}

function fromExit(exit: SubprocessExitRecord, cancelled: boolean): StatusReport {
  const raw = exit.error !== undefined ? 'start-error' : exit.signal !== null ? `signal ${exit.signal}` : `exit ${exit.code}`;
  const code = exit.code !== null ? { exitCode: exit.code } : {};
  if (exit.stoppedBy === 'deadline') {
    return { phase: 'FAILED', rawState: raw, reason: 'DeadlineExceeded', message: 'the task ran past its timeoutMs and was stopped', ...code };
  }
  if (exit.stoppedBy === 'cancel') return { phase: 'CANCELLED', rawState: raw, ...code };
  if (exit.error !== undefined) return { phase: 'FAILED', rawState: raw, reason: 'StartError', message: exit.error };
  if (exit.code === 0) return { phase: 'SUCCEEDED', rawState: raw, exitCode: 0 };
  if (cancelled && exit.signal !== null) return { phase: 'CANCELLED', rawState: raw };
  return { phase: 'FAILED', rawState: raw, reason: raw, ...code };
}

/** Field 3 (state) and field 22 (start time) of /proc/<pid>/stat; null if no such process; undefined without /proc. */
async function procStat(pid: number): Promise<{ state: string; startTime: string } | null | undefined> {
  if (!hasProc) return undefined;
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', startTime: fields[19] ?? '' };
}

let bootIdCache: string | undefined;
async function bootId(): Promise<string | undefined> {
  if (!hasProc) return undefined;
  if (bootIdCache === undefined) bootIdCache = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
  return bootIdCache === '' ? undefined : bootIdCache;
}

/** True iff the process recorded in `p` still runs (same boot, same start time, not a zombie). */
async function isAlive(p: ProcIdentity): Promise<boolean> {
  if (p.bootId !== undefined) {
    const now = await bootId();
    if (now !== undefined && now !== p.bootId) return false;
  }
  const st = await procStat(p.pid);
  if (st === null) return false;
  if (st !== undefined) return st.state !== 'Z' && st.state !== 'X' && (p.startTime === undefined || p.startTime === st.startTime);
  try {
    process.kill(p.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

async function readLog(path: string, from: number, tailLines: number | undefined, maxBytes: number): Promise<LogChunk> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', nextCursor: String(from), truncated: false, available: true };
    throw e;
  }
  try {
    const size = (await fh.stat()).size;
    let start = Math.min(from, size);
    let truncated = false;
    if (tailLines !== undefined && size - start > maxBytes) {
      start = size - maxBytes;
      truncated = true;
    }
    const length = Math.min(size - start, maxBytes);
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, start);
    let bytes = buf.subarray(0, bytesRead);
    // Hold back a UTF-8 sequence cut at the end: the cursor points at its first byte.
    const keep = completeUtf8Length(bytes);
    const end = start + keep;
    bytes = bytes.subarray(0, keep);
    if (start + bytesRead < size && tailLines === undefined) truncated = true;
    let text = bytes.toString('utf8');
    if (tailLines !== undefined) {
      const lines = text.split('\n');
      const last = lines[lines.length - 1] === '' ? lines.pop() : undefined;
      if (lines.length > tailLines) {
        truncated = true;
        lines.splice(0, lines.length - tailLines);
      } else if (truncated && lines.length > 0) {
        lines.shift(); // a partial first line of a window cut for size
      }
      text = lines.join('\n') + (last !== undefined ? '\n' : '');
      if (tailLines === 0) text = '';
    }
    return { text, nextCursor: String(end), truncated, available: true };
  } finally {
    await fh.close();
  }
}

/** The length of the longest prefix of `b` that does not end inside a UTF-8 sequence. */
function completeUtf8Length(b: Buffer): number {
  for (let back = 1; back <= Math.min(3, b.length); back++) {
    const byte = b[b.length - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? b.length - back : b.length;
  }
  return b.length;
}

async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new AdapterError(`corrupt record ${path}`, 'invalid');
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw e;
  }
}

function tmpPathOf(path: string): string {
  return `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

async function writeJsonAtomic(path: string, value: unknown, mode = 0o644): Promise<void> {
  const tmp = tmpPathOf(path);
  await writeFile(tmp, JSON.stringify(value), { mode });
  await rename(tmp, path);
}

/** Creates `path` with `value` unless it exists (atomic, via link); false if it existed. */
async function createExclusive(path: string, value: unknown): Promise<boolean> {
  const tmp = tmpPathOf(path);
  await writeFile(tmp, JSON.stringify(value));
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

function sleep(ms: number, abort: AbortSignal | undefined): Promise<void> {
  return new Promise((res, rej) => {
    if (abort?.aborted) {
      rej(abort.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      rej(abort?.reason);
    };
    const t = setTimeout(() => {
      abort?.removeEventListener('abort', onAbort);
      res();
    }, ms);
    abort?.addEventListener('abort', onAbort, { once: true });
  });
}

function asAdapterError(e: unknown, what: string): AdapterError {
  if (e instanceof AdapterError) return e;
  const err = e as NodeJS.ErrnoException;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError') return new AdapterError(`${what}: ${err.message}`, 'transient');
  const category =
    code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
      ? 'auth'
      : code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR' || code === 'ENAMETOOLONG' || code === 'EINVAL'
        ? 'invalid'
        : 'transient';
  return new AdapterError(`subprocess ${what}: ${err instanceof Error ? err.message : String(e)}`, category);
}

/** Runs `fn`, retrying transient failures three times with backoff (20, 80, 320 ms). */
async function retrying<T>(fn: () => Promise<T>, abort: AbortSignal | undefined, what: string): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      abort?.throwIfAborted();
      return await fn();
    } catch (e) {
      if (abort?.aborted) throw asAdapterError(abort.reason ?? e, what);
      const err = asAdapterError(e, what);
      if (err.category !== 'transient' || attempt >= 3) throw err;
      await sleep(20 * 4 ** attempt, abort).catch(() => undefined);
    }
  }
}


/**
 * The supervisor of one subprocess job, as plain CommonJS source that the adapter runs with
 * `process.execPath -e <source> <jobDir>`: no file has to ship next to the module (the CLI is bundled
 * by esbuild, and `import.meta.url` then points into dist/bundle/).
 *
 * The supervisor runs detached (its own session and process group) and ignores SIGHUP, so it
 * outlives the engine that spawned it. In `<jobDir>` it:
 * 1. reads `launch.json` ({command, env, cwd, timeoutMs?, killGraceMs});
 * 2. claims the directory by creating `supervisor.json` ({pid, startTime, bootId, at}) with
 *    link(2), which fails if it exists: a second supervisor of the same job exits at once (status 0);
 * 3. exits, recording a cancellation, if the `cancelled` marker is already there;
 * 4. appends a line to `spawns` (one line per task process started: the journal tests count) and
 *    spawns the command without a shell, detached (the task leads its own process group), with
 *    exactly `launch.env`, stdout and stderr appended to `log`; writes `task.json` ({pid, startTime});
 * 5. on SIGTERM or SIGINT (the adapter's cancel) sends SIGTERM to the task's process group and
 *    SIGKILL after the grace period (`killGraceMs` of the `cancelled` marker, else of launch.json);
 *    at `timeoutMs` after its start does the same, recording the reason "DeadlineExceeded";
 * 6. when the task exits, SIGKILLs what is left of its process group and writes `exit.json`
 *    ({code, signal, stoppedBy?: "cancel" | "deadline", reason?, error?, startedAt, finishedAt})
 *    atomically (write and rename), then exits.
 *
 * Keep it free of backquotes and dollar-brace: it lives in a template literal.
 */
export const SUPERVISOR_SOURCE = `'use strict';
const fs = require('fs');
const path = require('path');
const cp = require('child_process');
const dir = process.argv[1];
const file = (n) => path.join(dir, n);
const stamp = () => new Date().toISOString();
function readText(p) { try { return fs.readFileSync(p, 'utf8'); } catch (e) { return undefined; } }
function startTimeOf(pid) {
  const s = readText('/proc/' + pid + '/stat');
  if (s === undefined) return undefined;
  return s.slice(s.lastIndexOf(')') + 2).split(' ')[19];
}
function writeAtomic(name, value) {
  const tmp = file('.' + name + '.' + process.pid + '.tmp');
  fs.writeFileSync(tmp, JSON.stringify(value));
  fs.renameSync(tmp, file(name));
}
function killGroup(pid, sig) { try { process.kill(-pid, sig); } catch (e) { /* gone */ } }
process.on('SIGHUP', () => {});
const launch = JSON.parse(fs.readFileSync(file('launch.json'), 'utf8'));
const bootId = (readText('/proc/sys/kernel/random/boot_id') || '').trim() || undefined;
const claimTmp = file('.supervisor.' + process.pid + '.tmp');
fs.writeFileSync(claimTmp, JSON.stringify({ pid: process.pid, startTime: startTimeOf(process.pid), bootId: bootId, at: stamp() }));
try {
  fs.linkSync(claimTmp, file('supervisor.json'));
} catch (e) {
  try { fs.unlinkSync(claimTmp); } catch (e2) { /* ignore */ }
  process.exit(e && e.code === 'EEXIST' ? 0 : 2);
}
fs.unlinkSync(claimTmp);
const startedAt = stamp();
let child;
let stoppedBy;
let killTimer;
let deadlineTimer;
let finished = false;
function finish(result) {
  if (finished) return;
  finished = true;
  clearTimeout(killTimer);
  clearTimeout(deadlineTimer);
  if (child !== undefined && child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
  const rec = { code: result.code, signal: result.signal, startedAt: startedAt, finishedAt: stamp() };
  if (stoppedBy !== undefined) rec.stoppedBy = stoppedBy;
  if (stoppedBy === 'deadline') rec.reason = 'DeadlineExceeded';
  if (result.error !== undefined) rec.error = result.error;
  writeAtomic('exit.json', rec);
  process.exit(0);
}
function graceMs() {
  try {
    const m = JSON.parse(fs.readFileSync(file('cancelled'), 'utf8'));
    if (typeof m.killGraceMs === 'number') return m.killGraceMs;
  } catch (e) { /* no marker */ }
  return launch.killGraceMs;
}
function stop(why) {
  if (stoppedBy !== undefined || finished) return;
  stoppedBy = why;
  if (child === undefined || child.pid === undefined) { finish({ code: null, signal: null }); return; }
  const pid = child.pid;
  killGroup(pid, 'SIGTERM');
  killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), why === 'cancel' ? graceMs() : launch.killGraceMs);
}
process.on('SIGTERM', () => stop('cancel'));
process.on('SIGINT', () => stop('cancel'));
if (fs.existsSync(file('cancelled'))) { stoppedBy = 'cancel'; finish({ code: null, signal: null }); }
const out = fs.openSync(file('log'), 'a');
fs.appendFileSync(file('spawns'), JSON.stringify({ supervisor: process.pid, at: stamp() }) + '\\n');
try {
  child = cp.spawn(launch.command[0], launch.command.slice(1), { cwd: launch.cwd, env: launch.env, detached: true, stdio: ['ignore', out, out] });
} catch (e) {
  finish({ code: null, signal: null, error: String((e && e.message) || e) });
}
fs.closeSync(out);
child.on('spawn', () => { writeAtomic('task.json', { pid: child.pid, startTime: startTimeOf(child.pid), at: stamp() }); });
child.on('error', (e) => { if (child.pid === undefined) finish({ code: null, signal: null, error: String(e.message) }); });
child.on('exit', (code, signal) => finish({ code: code, signal: signal }));
if (typeof launch.timeoutMs === 'number' && launch.timeoutMs > 0) deadlineTimer = setTimeout(() => stop('deadline'), launch.timeoutMs);
`;
