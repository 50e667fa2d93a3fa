/**
 * This file defines the durable executor contract: what a backend that runs task attempts outside
 * the engine's process (a local process group, a Kubernetes Job, a Ray job, a Spark batch) must
 * offer. The engine's attempt lifecycle (`../attempts/remote-executor.ts`) drives any adapter through
 * it; every adapter passes one contract suite (tests/engine/executor-contract.test.ts).
 *
 * Rules every adapter keeps:
 * - Submission is idempotent. An attempt has a deterministic submission id (`submissionIdOf`);
 *   submitting the same attempt twice starts at most one job: a duplicate answer from the backend
 *   (Kubernetes 409, Ray "use a different submission_id") means "adopt the existing job".
 * - `lookup` finds the job of an attempt after a crash, by its submission id, or returns null.
 * - `status` of a job that was seen and is now gone is LOST (or CANCELLED after our own cancel),
 *   never an error.
 * - Every failure of a call is an `AdapterError` with a category; transient calls are retried inside
 *   the adapter with bounded backoff, and every call has a timeout (no client library applies one).
 * - Attempt retries are the engine's: each retry is a new attempt number, so a new job.
 */

import { createHash } from 'node:crypto';

/** One try of one task. The engine owns retries; every attempt is a new AttemptRef. */
export interface AttemptRef {
  readonly runId: string;
  readonly stepId: string;
  /** 1, 2, 3 ... (never reused). */
  readonly attempt: number;
}

/** Where an attempt stands. */
export type Phase =
  /** Accepted, not yet running (queued, image pulling, cluster starting). */
  | 'PENDING'
  | 'RUNNING'
  | 'SUCCEEDED'
  /** The task itself failed (non-zero exit, deadline exceeded). */
  | 'FAILED'
  /** Stopped on our request. */
  | 'CANCELLED'
  /** The backend no longer knows a job it had (deleted, garbage-collected, cluster gone). */
  | 'LOST';

export const TERMINAL_PHASES: ReadonlySet<Phase> = new Set<Phase>(['SUCCEEDED', 'FAILED', 'CANCELLED', 'LOST']);

/** A submitted job, as recorded in a run's history (AttemptSubmitted). */
export interface ExecutionHandle {
  /** The adapter's kind, e.g. "k8s". */
  readonly executor: string;
  /** Deterministic, derived from the AttemptRef (`submissionIdOf`). */
  readonly submissionId: string;
  /** The backend's id: "namespace/name" of a Job, a Ray submission id, a Livy batch id, a pid. */
  readonly backendId: string;
  /** The backend's unique id of this object (Kubernetes metadata.uid), to notice a same-name re-creation. */
  readonly backendUid?: string;
}

/** What a status call saw. */
export interface StatusReport {
  readonly phase: Phase;
  /** The backend's own word: "Complete", "RUNNING", "dead", "exit 3"... */
  readonly rawState: string;
  /** Why it ended, when it ended badly: "DeadlineExceeded", "BackoffLimitExceeded"... */
  readonly reason?: string;
  readonly message?: string;
  readonly exitCode?: number;
}

/** A piece of an attempt's logs. */
export interface LogChunk {
  readonly text: string;
  /** Pass back to get what follows; undefined when the backend returns everything each time. */
  readonly nextCursor?: string;
  readonly truncated: boolean;
  /** False when the backend has no log API. */
  readonly available: boolean;
}

export type CancelResult = 'requested' | 'already-terminal' | 'not-found';

/** CPU, memory, accelerators and placement of a task (recorded with TaskScheduled). */
export type { TaskResources } from '../core/events.js';
import type { TaskResources } from '../core/events.js';

/**
 * One attempt as an adapter receives it: everything needed to start the job, nothing secret on a
 * command line. The task's input and result travel through storage; `env` carries their URLs.
 */
export interface LaunchSpec {
  /** The registered task name (labels, messages). */
  readonly task: string;
  /** The program the job runs (the task runner), without arguments that carry data. */
  readonly command: readonly string[];
  /** The container's whole environment: the run's environment, the resources' env, the I/O URLs. */
  readonly env: Readonly<Record<string, string>>;
  readonly resources: TaskResources;
  /** Per-attempt deadline; the adapter also sets the backend's own deadline as a backstop. */
  readonly timeoutMs?: number;
}

/** Options of a call that may take long. */
export interface CallOptions {
  readonly signal?: AbortSignal;
}

/** Hints for `lookup` beyond the AttemptRef: an adapter may use them to find the job with fewer calls. */
export interface LookupHints extends CallOptions {
  /** The task name (the submission id's readable prefix). */
  readonly task?: string;
  /** The namespace the task's resources named. */
  readonly namespace?: string;
}

/** A backend that runs task attempts as jobs that outlive the engine's process. */
export interface ExecutorAdapter {
  /** The adapter's kind, recorded in history: "k8s", "subprocess", "ray", ... */
  readonly kind: string;
  /** Idempotent: the same AttemptRef yields the same handle and starts at most one job. */
  submit(spec: LaunchSpec, attempt: AttemptRef, opts?: CallOptions): Promise<ExecutionHandle>;
  /** The job of an attempt, found by its submission id (after a crash), or null. */
  lookup(attempt: AttemptRef, opts?: LookupHints): Promise<ExecutionHandle | null>;
  status(h: ExecutionHandle, opts?: CallOptions): Promise<StatusReport>;
  /** Idempotent; does not wait (follow with status to observe CANCELLED). */
  cancel(h: ExecutionHandle): Promise<CancelResult>;
  logs(h: ExecutionHandle, opts?: { readonly tailLines?: number; readonly cursor?: string }): Promise<LogChunk>;
  /** Removes a finished job's backend records and resources. */
  cleanup?(h: ExecutionHandle): Promise<void>;
  /** Releases connections and timers. */
  close?(): Promise<void> | void;
}

/** Why an adapter call failed. */
export type AdapterErrorCategory =
  /** 5xx, 429, connection refused or reset, timeouts: retry the call. */
  | 'transient'
  /** Duplicate id on create: look the job up and adopt it. */
  | 'conflict'
  /** Validation (400/422): retrying does not help. */
  | 'invalid'
  /** 401/403. */
  | 'auth'
  | 'not-found'
  | 'unsupported';

/** Every adapter throws this, never a raw HTTP or client error. */
export class AdapterError extends Error {
  override readonly name = 'AdapterError';
  constructor(
    message: string,
    readonly category: AdapterErrorCategory,
    readonly status?: number,
    readonly backendBody?: string,
  ) {
    super(message);
  }
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * The deterministic submission id of an attempt: `<task prefix>-<16 base32 chars of
 * sha256(runId NUL stepId NUL attempt)>-a<attempt>`, lowercase `[a-z0-9-]`, starting with a letter
 * and at most `maxLength` characters (63: a Kubernetes Job name; 47 for a KubeRay RayJob), so it is
 * a valid DNS-1035 label on every backend.
 */
export function submissionIdOf(ref: AttemptRef, task: string, maxLength = 63): string {
  const hash = base32(createHash('sha256').update(`${ref.runId}\0${ref.stepId}\0${ref.attempt}`).digest()).slice(0, 16);
  const tail = `-${hash}-a${ref.attempt}`;
  let prefix = task
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+/g, '-');
  const room = Math.max(0, maxLength - tail.length - 0);
  prefix = prefix.slice(0, Math.min(room, 24)).replace(/-+$/, '');
  if (prefix === '') prefix = 't';
  return `${prefix}${tail}`.slice(0, maxLength);
}

/** The labels that name an attempt on a backend object (Kubernetes label values: ≤ 63 chars, safe characters). */
export function attemptLabels(ref: AttemptRef, task: string): Record<string, string> {
  const safe = (s: string): string => {
    const v = s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 63);
    return v.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '');
  };
  return {
    'larkflow.dev/run': safe(ref.runId),
    'larkflow.dev/step': safe(ref.stepId),
    'larkflow.dev/attempt': String(ref.attempt),
    'larkflow.dev/task': safe(task),
  };
}

/**
 * The environment variables of the task I/O protocol (docs/remote.md): where a runner reads the
 * attempt's input and writes its result, and where the code bundle is.
 */
export const IO_ENV = {
  /** URL of the attempt's input JSON (file:// or a presigned https/http GET URL). */
  input: 'LARKFLOW_INPUT_URL',
  /** URL the runner writes the result JSON to (file:// or a presigned PUT URL). */
  result: 'LARKFLOW_RESULT_URL',
  /** Optional: URL of the workflow's code bundle (tar.gz) to unpack before importing. */
  code: 'LARKFLOW_CODE_URL',
  /** Optional: the bundle's sha256, checked by the runner. */
  codeSha256: 'LARKFLOW_CODE_SHA256',
  /** Optional: where the runner unpacks the bundle (default: a new temporary directory). */
  codeDir: 'LARKFLOW_CODE_DIR',
  /** Optional: "ray" or "spark": the Python runner sets up that session before the call (Uniflow's pre_run). */
  session: 'LARKFLOW_SESSION',
} as const;

/**
 * The attempt's input document, written by the engine before submission (at `LARKFLOW_INPUT_URL`).
 * Ints beyond ±(2^53−1) are plain JSON numbers with all their digits.
 */
export interface TaskInputDoc {
  readonly version: 1;
  /** What to call: "module:function" (Python runner), "file.mjs#export" or "module#export" (Node runner). */
  readonly task: string;
  readonly args: readonly unknown[];
  readonly kwargs: { readonly [name: string]: unknown };
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
}

/**
 * The result document a runner writes (at `LARKFLOW_RESULT_URL`). It names the attempt it answers,
 * so a stale result of another attempt is never taken.
 */
export type TaskResultDoc =
  | { readonly version: 1; readonly runId: string; readonly stepId: string; readonly attempt: number; readonly ok: true; readonly value: unknown }
  | {
      readonly version: 1;
      readonly runId: string;
      readonly stepId: string;
      readonly attempt: number;
      readonly ok: false;
      /** kind: "task" for an exception in the task; message: "ValueError: bad input"; details: the traceback. */
      readonly error: { readonly kind: string; readonly message: string; readonly retryable: boolean; readonly details?: string };
    };

/** Options of `pollUntilTerminal` (an adapter's `wait`). */
export interface WaitOptions extends CallOptions {
  /** Overall budget in ms; past it the wait rejects with AdapterError('transient'). */
  readonly timeoutMs?: number;
  readonly pollIntervalMs?: number;
  readonly onStatus?: (s: StatusReport) => void;
}

/**
 * Polls an adapter's `status` until a terminal phase (what every adapter's `wait` does; not part of
 * the contract: the engine has its own loop). `sleep` is the adapter's (cut short by `close`), and
 * `ensureOpen` throws once the adapter is closed.
 */
export async function pollUntilTerminal(
  label: string,
  h: ExecutionHandle,
  status: (opts: CallOptions) => Promise<StatusReport>,
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>,
  ensureOpen: () => void,
  opts: WaitOptions,
  defaultPollMs: number,
): Promise<StatusReport> {
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  for (;;) {
    const s = await status(opts.signal !== undefined ? { signal: opts.signal } : {});
    opts.onStatus?.(s);
    if (TERMINAL_PHASES.has(s.phase)) return s;
    if (Date.now() >= deadline) throw new AdapterError(`${label} wait ${h.backendId}: still ${s.phase} after ${opts.timeoutMs} ms`, 'transient');
    if (opts.signal?.aborted === true) throw new AdapterError(`${label} wait ${h.backendId}: aborted`, 'transient');
    await sleep(Math.min(opts.pollIntervalMs ?? defaultPollMs, Math.max(0, deadline - Date.now())), opts.signal);
    ensureOpen();
  }
}
