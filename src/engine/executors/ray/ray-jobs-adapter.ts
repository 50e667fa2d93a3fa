/**
 * This file defines the Ray Jobs API executor adapter ("ray"): each attempt runs as one job on an
 * existing Ray cluster, submitted to the head node's dashboard REST API (default port 8265) with
 * Node's global fetch, and followed by polling.
 *
 * Behaviour, per the executor contract (../contract.ts) and notes/executors.md §1:
 * - Every call has a timeout (`callTimeoutMs`, AbortSignal.timeout) and is mapped to an AdapterError
 *   category from the HTTP status: 429/408/5xx, connection errors and timeouts → transient, retried
 *   here with bounded exponential backoff and jitter (Retry-After honoured up to `retries.maxMs`);
 *   400 (and other 4xx) → invalid; 401/403 → auth; 404 → not-found. Ray's error bodies are
 *   text/plain Python tracebacks: messages carry their last exception line, `backendBody` the text.
 * - `submit` POSTs `/api/jobs/` with `submission_id = submissionIdOf(ref, task)`. Ray answers a
 *   duplicate submission_id with 500 (current Ray) or 400 (old Ray) and "Please use a different
 *   submission_id" / "already exists" in the body: that answer — a second submit, or the retry of
 *   an ambiguous submit (timeout, 5xx) whose job was created — adopts the existing job after
 *   checking that its metadata names the same attempt.
 * - The entrypoint is `spec.command` quoted for /bin/sh (Ray runs it with `shell=True`); the
 *   environment travels as `runtime_env.env_vars` (the task's runtime_env's, then `spec.env`, then
 *   LARKFLOW_SESSION=ray). Head/worker sizing cannot be honoured on an existing cluster: such a task
 *   is refused ('invalid'); `entrypointCpu/Gpu/Memory` become `entrypoint_num_cpus/gpus/memory`
 *   (memory as integer bytes).
 * - The handle has no `backendUid`: Ray's POST answer's `job_id` is the submission id itself, and
 *   the JobDetails' `job_id`/`driver_info` only exist once the driver runs, so neither would give
 *   the same handle at submit and at a later adopt or lookup.
 * - `status` maps PENDING/RUNNING/SUCCEEDED/FAILED as they are; STOPPED is CANCELLED when this
 *   adapter instance stopped the job, FAILED reason DeadlineExceeded when it was stopped for its
 *   deadline, else FAILED reason "STOPPED". A job that 404s is LOST (CANCELLED after our stop).
 *   The cancel intent is in memory only: after an engine restart a job we stopped reads FAILED
 *   "STOPPED" (or LOST once gone).
 * - Deadlines: the Jobs API has none. `spec.timeoutMs` is recorded in the job's metadata
 *   (`larkflow.dev/timeout-ms`), and `status` stops a job whose `start_time` (the head's clock) is
 *   older than that; nothing enforces it while no one polls.
 * - `logs`: Ray returns the whole driver log each time; the cursor is a decimal byte offset into it
 *   (`nextCursor` is its length in bytes), and `tailLines` is applied here.
 * - `cleanup` deletes the job's record only once it is terminal (Ray answers 500 otherwise).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AdapterError,
  IO_ENV,
  TERMINAL_PHASES,
  attemptLabels,
  submissionIdOf,
  type AdapterErrorCategory,
  type AttemptRef,
  type CallOptions,
  type CancelResult,
  type ExecutionHandle,
  type ExecutorAdapter,
  type LaunchSpec,
  type LogChunk,
  type LookupHints,
  type StatusReport, pollUntilTerminal
} from '../contract.js';
import { QuantityError, parseMemoryQuantity } from '../kubernetes/quantities.js';
import type { RayResources } from '../../core/events.js';

/** Retries of transient call failures inside the adapter. */
export interface RayRetryOptions {
  /** Tries per call, the first included. @default 5 */
  readonly attempts?: number;
  /** First backoff delay; it doubles per retry, with jitter. @default 200 */
  readonly baseMs?: number;
  /** Largest delay between tries, also the cap on a server's Retry-After. @default 5000 */
  readonly maxMs?: number;
}

/** Options of a RayJobsAdapter. */
export interface RayJobsAdapterOptions {
  /**
   * The dashboard's HTTP address, "http://head:8265" (a path prefix is kept: "https://proxy/ray").
   * "host:8265" means http. A Ray Client address (ray://...) or "auto" is refused: the Jobs API needs
   * the dashboard's http(s) address.
   * @default env RAY_API_SERVER_ADDRESS, else env RAY_ADDRESS (as `ray job submit` reads them)
   */
  readonly address?: string;
  /**
   * Sent as `Authorization: Bearer <token>` (Ray ≥ 2.52 token auth). An empty string sends none.
   * @default env RAY_AUTH_TOKEN, else the file at env RAY_AUTH_TOKEN_PATH, else none
   */
  readonly token?: string;
  /** Timeout of each HTTP call, in ms. @default 30000 */
  readonly callTimeoutMs?: number;
  readonly retries?: RayRetryOptions;
  /** Where RAY_API_SERVER_ADDRESS, RAY_ADDRESS, RAY_AUTH_TOKEN and RAY_AUTH_TOKEN_PATH are read. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Interval of `wait()` polling, in ms. @default 1000 */
  readonly pollIntervalMs?: number;
  /** Source of jitter in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** Options of `wait`. */
export interface RayWaitOptions extends CallOptions {
  /** Overall budget in ms; on expiry `wait` rejects with AdapterError('transient'). */
  readonly timeoutMs?: number;
  readonly pollIntervalMs?: number;
  readonly onStatus?: (s: StatusReport) => void;
}

/** Ray's job statuses (JobStatus). */
export type RayJobStatus = 'PENDING' | 'RUNNING' | 'STOPPED' | 'SUCCEEDED' | 'FAILED';

/** The fields of Ray's JobDetails this adapter reads (GET /api/jobs/{id}). */
export interface RayJobDetails {
  readonly type?: string;
  readonly job_id?: string | null;
  readonly submission_id?: string | null;
  readonly status: string;
  readonly message?: string | null;
  readonly error_type?: string | null;
  /** Unix ms. */
  readonly start_time?: number | null;
  readonly end_time?: number | null;
  readonly metadata?: Readonly<Record<string, string>> | null;
  readonly driver_exit_code?: number | null;
}

/** Metadata keys the adapter adds to `attemptLabels`: the unsanitized ids, and the deadline. */
export const RAY_METADATA = {
  runId: 'larkflow.dev/run-id',
  stepId: 'larkflow.dev/step-id',
  task: 'larkflow.dev/task-name',
  timeoutMs: 'larkflow.dev/timeout-ms',
} as const;

/** Longest `message` a StatusReport carries (Ray puts up to 20,000 chars of log there). */
const MESSAGE_LIMIT = 2000;
/** Longest body kept in an AdapterError's `backendBody`. */
const BODY_LIMIT = 64 * 1024;

const SIZING_FIELDS = [
  'headCpu',
  'headMemory',
  'headDisk',
  'headGpu',
  'headObjectStoreMemory',
  'workerCpu',
  'workerMemory',
  'workerDisk',
  'workerGpu',
  'workerObjectStoreMemory',
  'workerInstances',
] as const satisfies readonly (keyof RayResources)[];

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

const DUPLICATE = /Please use a different submission_id|already exists/;
const NOT_TERMINAL = /non-terminal state/;

// ---- pure helpers -------------------------------------------------------------------------------

/**
 * The Jobs API base URL from an address as Ray's tools take it: "http://host:8265",
 * "https://host/prefix", or "host:8265" (http). Throws AdapterError('invalid') for a Ray Client
 * (ray://), GCS-style ("auto", "local") or otherwise unusable address.
 */
export function rayJobsBaseUrl(address: string): string {
  const a = address.trim();
  const needsDashboard = 'the Ray Jobs API needs the dashboard\'s http(s) address, e.g. "http://<head-node>:8265"';
  if (a === '') throw new AdapterError(`no Ray address: ${needsDashboard} (option address, or env RAY_API_SERVER_ADDRESS / RAY_ADDRESS)`, 'invalid');
  if (/^ray:\/\//i.test(a)) throw new AdapterError(`Ray address ${JSON.stringify(a)} is a Ray Client (ray://) address: ${needsDashboard}`, 'invalid');
  if (a === 'auto' || a === 'local') throw new AdapterError(`Ray address ${JSON.stringify(a)} names no dashboard: ${needsDashboard}`, 'invalid');
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(a) ? a : `http://${a}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new AdapterError(`Ray address ${JSON.stringify(a)} is not a URL: ${needsDashboard}`, 'invalid');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AdapterError(`Ray address ${JSON.stringify(a)} has scheme ${url.protocol}: ${needsDashboard}`, 'invalid');
  }
  if (url.search !== '' || url.hash !== '') throw new AdapterError(`Ray address ${JSON.stringify(a)} must not have a query or fragment`, 'invalid');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;
const SHELL_RESERVED = new Set(['case', 'do', 'done', 'elif', 'else', 'esac', 'fi', 'for', 'if', 'in', 'then', 'until', 'while', 'function', 'select', 'time']);

/** One argv element quoted for /bin/sh: bare when it is plainly safe, else in single quotes. */
export function shellQuote(arg: string, first = false): string {
  if (arg.includes('\0')) throw new AdapterError('a command argument contains a NUL byte, which no shell command can carry', 'invalid');
  // The first word must not read as an assignment ("A=B cmd") or a reserved word.
  if (arg !== '' && SHELL_SAFE.test(arg) && !(first && (arg.includes('=') || SHELL_RESERVED.has(arg)))) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** An argv array as one /bin/sh command line that gives the program exactly these arguments. */
export function shellJoin(argv: readonly string[]): string {
  if (argv.length === 0) throw new AdapterError('the task has an empty command', 'invalid');
  return argv.map((a, i) => shellQuote(a, i === 0)).join(' ');
}

/** A short excerpt of a text/plain error body: the last exception line of a traceback, or the text. */
export function bodyExcerpt(body: string, max = 300): string {
  const lines = body
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length === 0) return '';
  // Python exception lines: "ValueError: ...", "ray.exceptions.RayTaskError: ...".
  const exc = [...lines].reverse().find((l) => /^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Timeout)\b[^\n]*/.test(l) && l.includes(':'));
  // A wrapped traceback (current Ray's "RuntimeError: Request failed ...: Traceback ... ValueError: ...")
  // ends with the inner exception, the one that says what went wrong.
  const text = exc ?? lines[lines.length - 1]!;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A long status message cut to `limit` chars: its first line and the end (where a log tail ends). */
export function truncateMessage(message: string, limit = MESSAGE_LIMIT): string {
  if (message.length <= limit) return message;
  const nl = message.indexOf('\n');
  const head = nl >= 0 && nl <= 400 ? message.slice(0, nl) : message.slice(0, 200);
  const marker = '\n…\n';
  return head + marker + message.slice(message.length - (limit - head.length - marker.length));
}

/** True when a job's metadata names this attempt (run, step and attempt; the full ids when present). */
export function rayJobBelongsTo(job: Pick<RayJobDetails, 'metadata'>, ref: AttemptRef): boolean {
  const md = job.metadata ?? {};
  const expected = attemptLabels(ref, '');
  for (const key of ['larkflow.dev/run', 'larkflow.dev/step', 'larkflow.dev/attempt'] as const) {
    if (md[key] !== expected[key]) return false;
  }
  if (md[RAY_METADATA.runId] !== undefined && md[RAY_METADATA.runId] !== ref.runId) return false;
  if (md[RAY_METADATA.stepId] !== undefined && md[RAY_METADATA.stepId] !== ref.stepId) return false;
  return true;
}

/** The JSON body of `POST /api/jobs/` for an attempt (pure; throws AdapterError('invalid')). */
export function buildSubmitRequest(spec: LaunchSpec, ref: AttemptRef): Record<string, unknown> {
  const ray = spec.resources.ray ?? {};
  const sizing = SIZING_FIELDS.filter((f) => ray[f] !== undefined);
  if (sizing.length > 0) {
    throw new AdapterError(
      `task ${spec.task}: head/worker sizing needs a fresh cluster: use executor kuberay (${sizing.join(', ')} given; the Ray Jobs API runs on an existing cluster and takes only entrypointCpu/entrypointGpu/entrypointMemory)`,
      'invalid',
    );
  }
  const runtimeEnv = ray.runtimeEnv ?? {};
  const baseVars = runtimeEnv['env_vars'];
  const envVars: Record<string, string> = {};
  if (baseVars !== undefined && baseVars !== null) {
    if (typeof baseVars !== 'object' || Array.isArray(baseVars)) throw new AdapterError(`task ${spec.task}: runtime_env.env_vars must be a dict of strings`, 'invalid');
    for (const [k, v] of Object.entries(baseVars)) {
      if (typeof v !== 'string') throw new AdapterError(`task ${spec.task}: runtime_env.env_vars[${JSON.stringify(k)}] must be a string, not ${v === null ? 'null' : typeof v}`, 'invalid');
      envVars[k] = v;
    }
  }
  Object.assign(envVars, spec.env, { [IO_ENV.session]: 'ray' });
  const metadata: Record<string, string> = {
    ...attemptLabels(ref, spec.task),
    [RAY_METADATA.runId]: ref.runId,
    [RAY_METADATA.stepId]: ref.stepId,
    [RAY_METADATA.task]: spec.task,
  };
  if (spec.timeoutMs !== undefined) {
    if (!(Number.isFinite(spec.timeoutMs) && spec.timeoutMs > 0)) throw new AdapterError(`task ${spec.task}: timeoutMs must be a positive number`, 'invalid');
    metadata[RAY_METADATA.timeoutMs] = String(Math.ceil(spec.timeoutMs));
  }
  const body: Record<string, unknown> = {
    entrypoint: shellJoin(spec.command),
    submission_id: submissionIdOf(ref, spec.task),
    runtime_env: { ...runtimeEnv, env_vars: envVars },
    metadata,
  };
  const count = (v: number | undefined, name: string): number | undefined => {
    if (v === undefined) return undefined;
    if (!(Number.isFinite(v) && v >= 0)) throw new AdapterError(`task ${spec.task}: ${name} must be a non-negative number, not ${v}`, 'invalid');
    return v;
  };
  const cpus = count(ray.entrypointCpu, 'entrypointCpu');
  const gpus = count(ray.entrypointGpu, 'entrypointGpu');
  if (cpus !== undefined) body['entrypoint_num_cpus'] = cpus;
  if (gpus !== undefined) body['entrypoint_num_gpus'] = gpus;
  if (ray.entrypointMemory !== undefined) {
    try {
      body['entrypoint_memory'] = Math.ceil(parseMemoryQuantity(ray.entrypointMemory));
    } catch (e) {
      if (e instanceof QuantityError) throw new AdapterError(`task ${spec.task}: entrypointMemory: ${e.message}`, 'invalid');
      throw e;
    }
  }
  return body;
}

function categoryOfStatus(code: number): AdapterErrorCategory {
  if (code === 429 || code === 408 || code >= 500) return 'transient';
  if (code === 409) return 'conflict';
  if (code === 401 || code === 403) return 'auth';
  if (code === 404) return 'not-found';
  return 'invalid';
}

function retryAfterOf(raw: string | null): number | undefined {
  if (raw === null) return undefined;
  const secs = Number(raw);
  if (raw.trim() !== '' && Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asJobDetails(v: unknown, what: string): RayJobDetails {
  if (!isObject(v) || typeof v['status'] !== 'string') throw new AdapterError(`ray ${what}: the answer is not a JobDetails object`, 'invalid');
  return v as unknown as RayJobDetails;
}

/** The tail of an attempt's submission id that depends only on the attempt: `-<hash>-a<n>`. */
function idTailOf(ref: AttemptRef): string {
  return submissionIdOf(ref, 't').slice(1);
}

class Failure {
  constructor(
    readonly error: AdapterError,
    readonly retryAfterMs?: number,
  ) {}
}

interface Response {
  readonly value: unknown;
  /** Tries the call took (more than one: an earlier try may have been performed). */
  readonly tries: number;
}

interface RequestOptions {
  readonly body?: unknown;
  readonly signal?: AbortSignal | undefined;
  /** Overrides the category of an error answer from its body (Ray's text/plain). */
  readonly categorize?: (status: number, body: string) => AdapterErrorCategory | undefined;
}

/** Runs task attempts as jobs of the Ray Jobs API on an existing cluster. */
export class RayJobsAdapter implements ExecutorAdapter {
  readonly kind = 'ray';
  /** The Jobs API's base URL (no trailing slash). */
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly callTimeoutMs: number;
  private readonly attempts: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly pollIntervalMs: number;
  private readonly random: () => number;
  /** Submission ids this instance stopped (STOPPED or a later 404 means CANCELLED). */
  private readonly cancelled = new Set<string>();
  /** Submission ids this instance stopped for their deadline. */
  private readonly deadlined = new Set<string>();
  private readonly closer = new AbortController();
  private readonly sleepers = new Set<() => void>();

  constructor(options: RayJobsAdapterOptions = {}) {
    const env = options.env ?? process.env;
    const address = options.address ?? nonEmpty(env['RAY_API_SERVER_ADDRESS']) ?? nonEmpty(env['RAY_ADDRESS']) ?? '';
    this.baseUrl = rayJobsBaseUrl(address);
    this.token = options.token !== undefined ? nonEmpty(options.token) : tokenFromEnv(env);
    this.callTimeoutMs = options.callTimeoutMs ?? 30_000;
    this.attempts = Math.max(1, Math.floor(options.retries?.attempts ?? 5));
    this.baseMs = Math.max(0, options.retries?.baseMs ?? 200);
    this.maxMs = Math.max(this.baseMs, options.retries?.maxMs ?? 5000);
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.random = options.random ?? Math.random;
  }

  // ---- calls -------------------------------------------------------------------------------

  private ensureOpen(what: string): void {
    if (this.closer.signal.aborted) throw new AdapterError(`ray ${what}: the adapter is closed`, 'invalid');
  }

  /** One HTTP exchange with the call timeout. Throws Failure. */
  private async once(method: string, path: string, what: string, opts: RequestOptions): Promise<unknown> {
    const timeout = AbortSignal.timeout(this.callTimeoutMs);
    const signals = [timeout, this.closer.signal, ...(opts.signal !== undefined ? [opts.signal] : [])];
    const signal = AbortSignal.any(signals);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.token !== undefined) headers['Authorization'] = `Bearer ${this.token}`;
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    let status: number;
    let text: string;
    let retryAfter: string | null;
    let location: string | null;
    try {
      const res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal,
        redirect: 'manual',
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      location = res.headers.get('location');
      text = await res.text();
    } catch (e) {
      if (this.closer.signal.aborted) throw new Failure(new AdapterError(`ray ${what}: the adapter is closed`, 'invalid'));
      if (opts.signal?.aborted === true) throw new Failure(new AdapterError(`ray ${what}: aborted`, 'transient'));
      if (timeout.aborted) throw new Failure(new AdapterError(`ray ${what}: no answer within ${this.callTimeoutMs} ms`, 'transient'));
      throw new Failure(networkError(e, what));
    }
    if (status >= 200 && status < 300) {
      if (text.trim() === '') return undefined;
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new Failure(new AdapterError(`ray ${what}: HTTP ${status} with a body that is not JSON (is ${this.baseUrl} the Ray dashboard?): ${bodyExcerpt(text, 120)}`, 'invalid', status, text.slice(0, BODY_LIMIT)));
      }
    }
    if (status >= 300 && status < 400) {
      throw new Failure(new AdapterError(`ray ${what}: HTTP ${status} redirect to ${location ?? '?'}: set the address to the dashboard's final URL`, 'invalid', status));
    }
    const category = opts.categorize?.(status, text) ?? categoryOfStatus(status);
    const excerpt = bodyExcerpt(text);
    const error = new AdapterError(`ray ${what}: HTTP ${status}${excerpt === '' ? '' : `: ${excerpt}`}`, category, status, text.slice(0, BODY_LIMIT));
    throw new Failure(error, category === 'transient' ? retryAfterOf(retryAfter) : undefined);
  }

  /** A call with bounded retries of transient failures. Throws AdapterError. */
  private async request(method: string, path: string, what: string, opts: RequestOptions = {}): Promise<Response> {
    for (let i = 1; ; i++) {
      this.ensureOpen(what); // also after a backoff sleep that close() cut short
      try {
        return { value: await this.once(method, path, what, opts), tries: i };
      } catch (f) {
        if (!(f instanceof Failure)) throw f;
        const { error, retryAfterMs } = f;
        if (error.category !== 'transient' || i >= this.attempts || this.closer.signal.aborted || opts.signal?.aborted === true) {
          if (error.category !== 'transient' && i > 1) {
            // an earlier try may have been performed: the caller learns it from the message only
            throw new AdapterError(`${error.message} (on try ${i})`, error.category, error.status, error.backendBody);
          }
          if (error.category === 'transient' && i > 1) {
            throw new AdapterError(`${error.message} (after ${i} tries)`, error.category, error.status, error.backendBody);
          }
          throw error;
        }
        const exp = Math.min(this.maxMs, this.baseMs * 2 ** (i - 1));
        let delay = exp / 2 + (this.random() * exp) / 2;
        if (retryAfterMs !== undefined) delay = Math.max(delay, Math.min(retryAfterMs, this.maxMs));
        await this.sleep(delay, opts.signal);
      }
    }
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.sleepers.add(done);
    });
  }

  /** GET a job's JobDetails; null on 404. */
  private async readJob(id: string, signal?: AbortSignal): Promise<RayJobDetails | null> {
    const what = `get job ${id}`;
    try {
      const r = await this.request('GET', `/api/jobs/${encodeURIComponent(id)}`, what, { signal });
      return asJobDetails(r.value, what);
    } catch (e) {
      if (e instanceof AdapterError && e.category === 'not-found') return null;
      throw e;
    }
  }

  private handleOf(submissionId: string): ExecutionHandle {
    return { executor: this.kind, submissionId, backendId: submissionId };
  }

  private idOf(h: ExecutionHandle): string {
    if (h.executor !== this.kind || h.backendId === '') {
      throw new AdapterError(`not a Ray Jobs handle: ${h.executor} ${JSON.stringify(h.backendId)}`, 'invalid');
    }
    return h.backendId;
  }

  // ---- contract ----------------------------------------------------------------------------

  async submit(spec: LaunchSpec, attempt: AttemptRef, opts?: CallOptions): Promise<ExecutionHandle> {
    this.ensureOpen('submit');
    const body = buildSubmitRequest(spec, attempt);
    const id = body['submission_id'] as string;
    const signal = opts?.signal;
    const what = `submit job ${id}`;
    for (let round = 0; round < 3; round++) {
      try {
        const r = await this.request('POST', '/api/jobs/', what, {
          body,
          signal,
          // Ray: the duplicate answer is 500 (current) or 400 (old), told by its text.
          categorize: (_status, text) => (DUPLICATE.test(text) ? 'conflict' : undefined),
        });
        const answered = isObject(r.value) ? r.value['submission_id'] : undefined;
        if (typeof answered === 'string' && answered !== id) {
          throw new AdapterError(`ray ${what}: the server answered submission_id ${JSON.stringify(answered)}`, 'invalid');
        }
        return this.handleOf(id);
      } catch (e) {
        if (!(e instanceof AdapterError) || e.category !== 'conflict') throw e;
      }
      // The submission id exists: a second submit of this attempt, or our own earlier, ambiguous one.
      const existing = await this.readJob(id, signal);
      if (existing === null) continue; // deleted in between: submit again
      if (!rayJobBelongsTo(existing, attempt)) {
        throw new AdapterError(`ray ${what}: a job of another attempt has this submission id`, 'conflict');
      }
      return this.handleOf(id);
    }
    throw new AdapterError(`ray ${what}: the job kept conflicting and disappearing`, 'transient');
  }

  async lookup(attempt: AttemptRef, opts?: LookupHints): Promise<ExecutionHandle | null> {
    this.ensureOpen('lookup');
    const signal = opts?.signal;
    if (opts?.task !== undefined) {
      const id = submissionIdOf(attempt, opts.task);
      const job = await this.readJob(id, signal);
      if (job === null) return null;
      if (!rayJobBelongsTo(job, attempt)) throw new AdapterError(`ray lookup ${id}: a job of another attempt has this submission id`, 'conflict');
      return this.handleOf(id);
    }
    const what = 'list jobs';
    const r = await this.request('GET', '/api/jobs/', what, { signal });
    // The API returns a list (older docs show a dict keyed by id: accept both).
    const items = Array.isArray(r.value) ? r.value : isObject(r.value) ? Object.values(r.value) : undefined;
    if (items === undefined) throw new AdapterError(`ray ${what}: the answer is not a list of jobs`, 'invalid');
    const tail = idTailOf(attempt);
    const mine = items
      .filter(isObject)
      .map((j) => j as unknown as RayJobDetails)
      .filter((j) => typeof j.submission_id === 'string' && j.submission_id.endsWith(tail) && rayJobBelongsTo(j, attempt))
      .sort((a, b) => (b.start_time ?? 0) - (a.start_time ?? 0));
    const job = mine[0];
    return job === undefined ? null : this.handleOf(job.submission_id as string);
  }

  async status(h: ExecutionHandle, opts?: CallOptions): Promise<StatusReport> {
    this.ensureOpen('status');
    const id = this.idOf(h);
    const signal = opts?.signal;
    const job = await this.readJob(id, signal);
    const cancelled = this.cancelled.has(id);
    if (job === null) {
      return cancelled
        ? { phase: 'CANCELLED', rawState: 'NotFound', reason: 'Cancelled' }
        : { phase: 'LOST', rawState: 'NotFound', reason: 'NotFound', message: `job ${id} no longer exists on the Ray cluster` };
    }
    const raw = job.status;
    const message = typeof job.message === 'string' && job.message !== '' ? { message: truncateMessage(job.message) } : {};
    const exitCode = typeof job.driver_exit_code === 'number' ? { exitCode: job.driver_exit_code } : {};
    const timeoutMs = Number(job.metadata?.[RAY_METADATA.timeoutMs] ?? NaN);
    const hasDeadline = Number.isFinite(timeoutMs) && timeoutMs > 0;
    switch (raw) {
      case 'SUCCEEDED':
        return { phase: 'SUCCEEDED', rawState: raw, exitCode: 0, ...message, ...exitCode };
      case 'FAILED':
        return { phase: 'FAILED', rawState: raw, reason: job.error_type ?? 'FAILED', ...message, ...exitCode };
      case 'STOPPED': {
        if (cancelled) return { phase: 'CANCELLED', rawState: raw, reason: 'Cancelled', ...message };
        const ranFor = (job.end_time ?? 0) - (job.start_time ?? 0);
        if (this.deadlined.has(id) || (hasDeadline && job.start_time != null && job.end_time != null && ranFor >= timeoutMs)) {
          return { phase: 'FAILED', rawState: raw, reason: 'DeadlineExceeded', message: `job ${id} was stopped after its deadline of ${timeoutMs} ms` };
        }
        return { phase: 'FAILED', rawState: raw, reason: 'STOPPED', ...message };
      }
      case 'PENDING':
      case 'RUNNING': {
        const phase = raw;
        if (hasDeadline && !cancelled && typeof job.start_time === 'number' && Date.now() - job.start_time >= timeoutMs) {
          // The Jobs API has no deadline of its own: stop the job; the next status sees STOPPED.
          this.deadlined.add(id);
          try {
            await this.request('POST', `/api/jobs/${encodeURIComponent(id)}/stop`, `stop job ${id}`, { signal });
          } catch (e) {
            if (!(e instanceof AdapterError) || e.category !== 'not-found') throw e;
          }
          return { phase, rawState: raw, reason: 'DeadlineExceeded', message: `stopping job ${id}: past its deadline of ${timeoutMs} ms` };
        }
        return { phase, rawState: raw, ...message };
      }
      default:
        // A status this adapter does not know (a newer Ray): not terminal as far as we can tell.
        return { phase: 'PENDING', rawState: raw, reason: 'UnknownStatus', ...message };
    }
  }

  async cancel(h: ExecutionHandle): Promise<CancelResult> {
    this.ensureOpen('cancel');
    const id = this.idOf(h);
    const known = this.cancelled.has(id);
    this.cancelled.add(id); // before the call: an ambiguous stop that did happen is still ours
    let r: Response;
    try {
      r = await this.request('POST', `/api/jobs/${encodeURIComponent(id)}/stop`, `stop job ${id}`);
    } catch (e) {
      if (e instanceof AdapterError && e.category === 'not-found') {
        if (!known) this.cancelled.delete(id);
        return known ? 'already-terminal' : 'not-found';
      }
      if (!known) this.cancelled.delete(id);
      throw e;
    }
    const stopped = isObject(r.value) ? r.value['stopped'] : undefined;
    if (stopped === true) return 'requested';
    // {stopped: false}: the job was terminal. Unless an earlier, unanswered try of this call
    // stopped it, that end was not ours.
    if (!known && r.tries === 1) this.cancelled.delete(id);
    return 'already-terminal';
  }

  async logs(h: ExecutionHandle, opts?: { readonly tailLines?: number; readonly cursor?: string }): Promise<LogChunk> {
    this.ensureOpen('logs');
    const id = this.idOf(h);
    if (opts?.cursor !== undefined && !/^\d+$/.test(opts.cursor)) {
      throw new AdapterError(`bad log cursor ${JSON.stringify(opts.cursor)}: expected a byte offset`, 'invalid');
    }
    const empty: LogChunk = { text: '', available: true, truncated: false, ...(opts?.cursor !== undefined ? { nextCursor: opts.cursor } : {}) };
    let r: Response;
    try {
      r = await this.request('GET', `/api/jobs/${encodeURIComponent(id)}/logs`, `get logs of job ${id}`);
    } catch (e) {
      if (e instanceof AdapterError && e.category === 'not-found') return empty; // the job is gone
      throw e;
    }
    const logs = isObject(r.value) ? r.value['logs'] : undefined;
    if (typeof logs !== 'string') throw new AdapterError(`ray get logs of job ${id}: the answer has no "logs" string`, 'invalid');
    const buf = Buffer.from(logs, 'utf8');
    let offset = opts?.cursor !== undefined ? Number(opts.cursor) : 0;
    if (offset > buf.length) offset = 0; // a shorter log than before: another job under this id, start over
    let part = buf.subarray(offset).toString('utf8');
    let truncated = false;
    const tail = opts?.tailLines;
    if (tail !== undefined && tail >= 0) {
      const lines = part.split('\n');
      const endsWithNewline = lines.length > 0 && lines[lines.length - 1] === '';
      if (endsWithNewline) lines.pop();
      if (lines.length > tail) {
        truncated = true;
        part = tail === 0 ? '' : lines.slice(lines.length - tail).join('\n') + (endsWithNewline ? '\n' : '');
      }
    }
    return { text: part, nextCursor: String(buf.length), truncated, available: true };
  }

  /** Deletes a terminal job's record (its logs stay on the cluster's disk); a job not yet terminal is left alone. */
  async cleanup(h: ExecutionHandle): Promise<void> {
    this.ensureOpen('cleanup');
    const id = this.idOf(h);
    const job = await this.readJob(id);
    if (job === null) return;
    if (job.status !== 'SUCCEEDED' && job.status !== 'FAILED' && job.status !== 'STOPPED') return; // not yet
    try {
      await this.request('DELETE', `/api/jobs/${encodeURIComponent(id)}`, `delete job ${id}`, {
        // 500 "Attempted to delete job ..., but it is in a non-terminal state": not a server fault
        categorize: (status, text) => (status === 500 && NOT_TERMINAL.test(text) ? 'conflict' : undefined),
      });
    } catch (e) {
      if (e instanceof AdapterError && (e.category === 'not-found' || e.category === 'conflict')) return;
      throw e;
    }
  }

  /**
   * Polls `status` every `pollIntervalMs` until a terminal phase. Not part of the contract; the
   * engine has its own loop. Rejects with AdapterError('transient') when `timeoutMs` passes.
   */
  async wait(h: ExecutionHandle, opts: RayWaitOptions = {}): Promise<StatusReport> {
    return pollUntilTerminal('ray', h, (o) => this.status(h, o), (ms, signal) => this.sleep(ms, signal), () => this.ensureOpen('wait'), opts, this.pollIntervalMs);
  }

  /** Aborts calls in flight and backoff sleeps; later calls reject with AdapterError('invalid'). */
  close(): void {
    this.closer.abort();
    for (const wake of [...this.sleepers]) wake();
    this.sleepers.clear();
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** Ray's token sources for a client (RAY_AUTH_TOKEN, then the file at RAY_AUTH_TOKEN_PATH). */
function tokenFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const direct = nonEmpty(env['RAY_AUTH_TOKEN']);
  if (direct !== undefined) return direct;
  const path = nonEmpty(env['RAY_AUTH_TOKEN_PATH']);
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path.startsWith('~/') && env['HOME'] !== undefined ? join(env['HOME'], path.slice(2)) : path, 'utf8');
  } catch (e) {
    throw new AdapterError(`RAY_AUTH_TOKEN_PATH ${JSON.stringify(path)} cannot be read: ${e instanceof Error ? e.message : String(e)}`, 'auth');
  }
  const token = nonEmpty(text);
  if (token === undefined) throw new AdapterError(`RAY_AUTH_TOKEN_PATH ${JSON.stringify(path)} is empty`, 'auth');
  return token;
}

/** Maps what fetch threw (not an HTTP answer) to an AdapterError. */
function networkError(e: unknown, what: string): AdapterError {
  if (!(e instanceof Error)) return new AdapterError(`ray ${what}: ${String(e)}`, 'transient');
  const cause = (e as { cause?: unknown }).cause;
  const causeCode = cause instanceof Error || isObject(cause) ? (cause as { code?: unknown }).code : undefined;
  const ownCode = (e as { code?: unknown }).code;
  const code = typeof causeCode === 'string' ? causeCode : typeof ownCode === 'string' ? ownCode : undefined;
  const detail = cause instanceof Error ? `${e.message}: ${cause.message}` : e.message;
  // TLS and certificate problems do not heal by retrying.
  if (code !== undefined && /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH|ERR_CERT)/.test(code)) {
    return new AdapterError(`ray ${what}: ${detail}`, 'invalid');
  }
  const network = (code !== undefined && NETWORK_CODES.has(code)) || (e instanceof TypeError && e.message === 'fetch failed') || e.name === 'AbortError' || e.name === 'TimeoutError';
  return new AdapterError(`ray ${what}: ${detail}${code !== undefined && !detail.includes(code) ? ` (${code})` : ''}`, network ? 'transient' : 'invalid');
}
