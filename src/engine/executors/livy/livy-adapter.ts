/**
 * This file defines the Apache Livy executor adapter ("livy"): each attempt runs as one Livy batch
 * (`POST /batches`, notes §2), i.e. one `spark-submit` of the Python task runner, driven by polling
 * over Livy's REST API with the global `fetch`.
 *
 * What the batch runs: `file` is the runner's entry script (`runnerFile`, by default
 * `local:/opt/larkflow/runners/python/larkflow_entry.py`: the `local:` scheme tells Spark the file
 * is already on every node, i.e. baked into the Spark image at that path; point it at an `s3a://`,
 * `hdfs://` or `https://` copy of `runners/python/larkflow_entry.py` otherwise, and ship the
 * `larkflow_runner` package with it as a zip in `pyFiles`: Spark fetches only the file itself).
 * `spec.command` is not used: Spark starts the runner itself. `args` is empty:
 * the attempt's input and result travel through storage, and their URLs, like all of `spec.env`,
 * go in the batch's `conf` as the driver's and executors' environment
 * (`spark.yarn.appMasterEnv.K`, `spark.kubernetes.driverEnv.K`, `spark.executorEnv.K`), with
 * `LARKFLOW_SESSION=spark` (the runner builds a SparkSession before the call when pyspark is
 * importable) and `LARKFLOW_SPARK_APP_NAME`. The `appMasterEnv` keys reach the driver in YARN
 * cluster mode and `driverEnv` on Kubernetes; in client mode the driver runs inside Livy's
 * spark-submit with Livy's environment, so Livy must use cluster deploy mode. The Node runner cannot run on Spark: a task whose
 * `resources.runner` is "node" is refused (unsupported). Note that Spark shows its environment in
 * its UI and redacts only keys matching `spark.redaction.regex`; presigned URLs are capabilities.
 *
 * Sizes (`resources.spark`, Kubernetes quantities as written): `driverMemory`/`executorMemory`
 * become Spark sizes ("4Gi" → "4g", spark-sizes.ts), `driverCpu`/`executorCpu` whole cores
 * (`driverCores`/`executorCores`, rounded up), `executorInstances` → `numExecutors`, GPUs →
 * `spark.{driver,executor}.resource.gpu.amount`, `conf` is passed through. A task without
 * `resources.spark` but with `cpu`/`memory`/`gpu` sizes its driver with them (the driver runs the
 * task's code). `driverDisk`/`executorDisk` have no Livy or Spark equivalent and are ignored.
 *
 * Behaviour, per the executor contract (../contract.ts):
 * - Every call has a timeout (`callTimeoutMs`, AbortSignal.timeout) and every non-GET request sends
 *   `X-Requested-By: larkflow` (Livy's CSRF filter). Failures are AdapterErrors by HTTP status,
 *   never by a client's message text: 5xx, 429, 408, connection errors, timeouts and Livy's
 *   "Rejected, too many sessions are being created!" → transient, retried here with bounded
 *   exponential backoff and jitter (honouring Retry-After up to `retries.maxMs`); 400 "Duplicate
 *   session name: Some(x)" → conflict; other 400s → invalid; 401/403 → auth; 404 → not-found.
 * - Submission: the batch `name` is `submissionIdOf(ref, task)`, Livy's only idempotency handle
 *   (names are unique among the batches Livy knows). A duplicate name adopts the batch of that name,
 *   found by listing `GET /batches` page by page (Livy has no get-by-name). After an ambiguous
 *   failure (a 5xx or a timeout after which the batch may exist), the adapter lists and adopts
 *   before it posts again. Limits: once Livy has forgotten a finished batch
 *   (`livy.server.session.state-retain.sec`) or was restarted, a new submit of the same attempt
 *   starts a new batch; a Livy older than 0.7 ignores `name` and cannot be used.
 * - The handle is `{executor: "livy", submissionId: name, backendId: "<batch id>", backendUid: name}`.
 *   Batch ids restart at 0 when Livy restarts without recovery, so `status`, `cancel`, `logs` and
 *   `cleanup` always compare the batch's `name` with the handle's: another name means our batch is
 *   gone (LOST; never someone else's state, and never a DELETE of someone else's batch).
 * - States (notes §2.3): not_started/starting/recovering → PENDING; running/idle/busy/shutting_down
 *   → RUNNING; success → SUCCEEDED; dead/error → FAILED (message: the batch's last log lines;
 *   exitCode when YARN's diagnostics say "User application exited with status N"); killed →
 *   CANCELLED when this adapter cancelled it, else FAILED. A 404 is CANCELLED after our own cancel
 *   (Livy's DELETE removes the batch) and LOST otherwise. The cancel intent is kept in memory only.
 * - Livy has no deadline of its own: `spec.timeoutMs` is enforced by this adapter instance, from
 *   submit: a `status` call past the deadline of a batch still pending or running deletes it and
 *   reports FAILED with reason DeadlineExceeded (also afterwards). After an engine restart the
 *   deadline is unknown here, and the engine's own timeout (which cancels) applies.
 * - `cancel` deletes only a batch that is not finished: Livy's DELETE of a finished batch would
 *   remove its record and log, so a finished batch is 'already-terminal' and keeps its phase.
 *   Livy's DELETE has no precondition: a batch that finishes between our read and our DELETE is
 *   removed and reads as CANCELLED.
 * - `logs` reads `GET /batches/{id}/log?from=N&size=M`. The cursor is a line offset into Livy's log
 *   lines (`"stdout: "`, the stdout lines, `"\nstderr: "`, the stderr lines, ...); each line is
 *   returned followed by "\n"; `nextCursor` is the offset after the lines returned. While the batch
 *   runs, Livy's stderr lines move down as stdout grows, so a cursor is exact only for a finished
 *   batch. `tailLines` without a cursor asks Livy for the last lines; `truncated` says lines before
 *   the chunk were left out. One call returns at most `logPageLines` lines.
 * - `cleanup` deletes a finished batch (404 is fine); it leaves a batch that is still running, and
 *   one whose id now names another batch, alone.
 */
import {
  AdapterError,
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
  type Phase,
  type StatusReport, pollUntilTerminal
} from '../contract.js';
import { IO_ENV } from '../contract.js';
import { QuantityError, sparkCores, sparkMemory } from './spark-sizes.js';

/** Where the default Spark image has the Python runner's entry script (with `larkflow_runner/` beside it). */
export const DEFAULT_RUNNER_FILE = 'local:/opt/larkflow/runners/python/larkflow_entry.py';

/** The value of the CSRF header on every non-GET request. */
export const CSRF_HEADER = { name: 'X-Requested-By', value: 'larkflow' } as const;

/** Retries of transient call failures inside the adapter. */
export interface LivyRetryOptions {
  /** Tries per call, the first included. @default 5 */
  readonly attempts?: number;
  /** First backoff delay; it doubles per retry, with jitter. @default 200 */
  readonly baseMs?: number;
  /** Largest delay between tries, also the cap on a server's Retry-After. @default 5000 */
  readonly maxMs?: number;
}

/** Options of a LivyAdapter. */
export interface LivyAdapterOptions {
  /** Livy's base URL, e.g. "http://livy:8998". @default process.env.LIVY_URL (required one way or the other) */
  readonly url?: string;
  /**
   * The batch `file`: the Python runner's entry script as Spark can reach it.
   * @default DEFAULT_RUNNER_FILE ("local:/opt/larkflow/runners/python/larkflow_entry.py", inside the image)
   */
  readonly runnerFile?: string;
  /** Livy `proxyUser` (impersonation) of every batch. */
  readonly proxyUser?: string;
  /** YARN queue of every batch. */
  readonly queue?: string;
  /** Livy `pyFiles` of every batch: e.g. a zip of `larkflow_runner/` when `runnerFile` is remote. */
  readonly pyFiles?: readonly string[];
  /** Timeout of each HTTP call, in ms. @default 30000 */
  readonly callTimeoutMs?: number;
  readonly retries?: LivyRetryOptions;
  /** More headers on every request (e.g. `Authorization`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Page size of `GET /batches` when looking a batch up by name. @default 100 */
  readonly listPageSize?: number;
  /** Most log lines one `logs` call returns. @default 1000 */
  readonly logPageLines?: number;
  /** Source of jitter in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** The body of `POST /batches` (Livy's CreateBatchRequest, the fields this adapter sets). */
export interface LivyBatchRequest {
  readonly file: string;
  readonly name: string;
  readonly args: readonly string[];
  readonly pyFiles?: readonly string[];
  readonly proxyUser?: string;
  readonly queue?: string;
  readonly driverMemory?: string;
  readonly driverCores?: number;
  readonly executorMemory?: string;
  readonly executorCores?: number;
  readonly numExecutors?: number;
  readonly conf: Readonly<Record<string, string>>;
}

/** Livy's Batch view, as far as this adapter reads it. */
export interface LivyBatch {
  readonly id: number;
  /** Absent on Livy < 0.7; null for a batch created without a name. */
  readonly name?: string | null;
  readonly state: string;
  readonly appId?: string | null;
  /** The batch's last 10 log lines. */
  readonly log?: readonly string[];
}

/** Options of `buildBatchRequest`. */
export interface BatchRequestOptions {
  readonly runnerFile?: string;
  readonly pyFiles?: readonly string[];
  readonly proxyUser?: string;
  readonly queue?: string;
}

const ENV_PREFIXES = ['spark.yarn.appMasterEnv.', 'spark.kubernetes.driverEnv.', 'spark.executorEnv.'] as const;

/** The YARN application tags of an attempt (lowercase, no commas, ≤ 100 characters each). */
function yarnTags(ref: AttemptRef, task: string, name: string): string[] {
  const labels = attemptLabels(ref, task);
  const tag = (s: string): string => s.toLowerCase().replace(/,/g, '_').slice(0, 100);
  return [
    'larkflow',
    tag(`larkflow-submission-${name}`),
    tag(`larkflow-run-${labels['larkflow.dev/run'] ?? ''}`),
    tag(`larkflow-step-${labels['larkflow.dev/step'] ?? ''}`),
    tag(`larkflow-attempt-${ref.attempt}`),
  ];
}

function sized<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof QuantityError) throw new AdapterError(`livy batch request: ${what}: ${e.message}`, 'invalid');
    throw e;
  }
}

/**
 * The `POST /batches` body of an attempt (pure; exported for tests and `show`). Throws
 * AdapterError('invalid') for a size that is not a valid quantity, ('unsupported') for the Node runner.
 */
export function buildBatchRequest(spec: LaunchSpec, ref: AttemptRef, opts: BatchRequestOptions = {}): LivyBatchRequest {
  const res = spec.resources;
  if (res.runner !== undefined && res.runner !== 'python') {
    throw new AdapterError(`livy: task ${spec.task} uses the ${JSON.stringify(res.runner)} runner; a Spark batch runs the Python runner only`, 'unsupported');
  }
  const name = submissionIdOf(ref, spec.task);
  const spark = res.spark;
  const conf: Record<string, string> = { ...(spark?.conf ?? {}) };
  const env: Record<string, string> = { ...spec.env, [IO_ENV.session]: 'spark', LARKFLOW_SPARK_APP_NAME: name };
  for (const [k, v] of Object.entries(env)) {
    if (k === '' || k.includes('=')) throw new AdapterError(`livy batch request: bad environment variable name ${JSON.stringify(k)}`, 'invalid');
    for (const p of ENV_PREFIXES) conf[`${p}${k}`] = v;
  }
  conf['spark.app.name'] = name;
  const userTags = (conf['spark.yarn.tags'] ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '');
  conf['spark.yarn.tags'] = [...new Set([...userTags, ...yarnTags(ref, spec.task, name)])].join(',');
  for (const [k, v] of Object.entries(attemptLabels(ref, spec.task))) conf[`spark.kubernetes.driver.label.${k}`] = v;

  const driverCpu = spark?.driverCpu ?? (spark === undefined ? res.cpu : undefined);
  const driverMemory = spark?.driverMemory ?? (spark === undefined ? res.memory : undefined);
  const driverGpu = spark?.driverGpu ?? (spark === undefined ? res.gpu : undefined);
  const executorGpu = spark?.executorGpu;
  if (driverGpu !== undefined && driverGpu > 0) conf['spark.driver.resource.gpu.amount'] = String(driverGpu);
  if (executorGpu !== undefined && executorGpu > 0) conf['spark.executor.resource.gpu.amount'] = String(executorGpu);
  const instances = spark?.executorInstances;
  if (instances !== undefined && (!Number.isSafeInteger(instances) || instances < 0)) {
    throw new AdapterError(`livy batch request: executorInstances must be a whole number ≥ 0, not ${instances}`, 'invalid');
  }
  return {
    file: opts.runnerFile ?? DEFAULT_RUNNER_FILE,
    name,
    args: [],
    ...(opts.pyFiles !== undefined && opts.pyFiles.length > 0 ? { pyFiles: [...opts.pyFiles] } : {}),
    ...(opts.proxyUser !== undefined ? { proxyUser: opts.proxyUser } : {}),
    ...(opts.queue !== undefined ? { queue: opts.queue } : {}),
    ...(driverMemory !== undefined ? { driverMemory: sized('driver memory', () => sparkMemory(driverMemory)) } : {}),
    ...(driverCpu !== undefined ? { driverCores: sized('driver cpu', () => sparkCores(driverCpu)) } : {}),
    ...(spark?.executorMemory !== undefined ? { executorMemory: sized('executor memory', () => sparkMemory(spark.executorMemory ?? '')) } : {}),
    ...(spark?.executorCpu !== undefined ? { executorCores: sized('executor cpu', () => sparkCores(spark.executorCpu ?? '')) } : {}),
    ...(instances !== undefined ? { numExecutors: instances } : {}),
    conf,
  };
}

// ---- HTTP errors ---------------------------------------------------------------------------------

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED']);

const DUPLICATE_NAME = /^Duplicate session name: /;
const TOO_MANY_CREATING = /too many sessions are being created/i;

interface Failure {
  readonly error: AdapterError;
  readonly retryAfterMs?: number;
}

/** Livy's `{"msg": ...}`, or the body's start. */
function messageOf(text: string): string {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && typeof (v as { msg?: unknown }).msg === 'string') return (v as { msg: string }).msg;
  } catch {
    /* not JSON (a proxy's HTML page) */
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, 300);
}

function categoryOf(status: number, msg: string): AdapterErrorCategory {
  if (status === 429 || status === 408 || status >= 500) return 'transient';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not-found';
  if (status === 409 || DUPLICATE_NAME.test(msg)) return 'conflict';
  if (TOO_MANY_CREATING.test(msg)) return 'transient';
  return 'invalid';
}

function retryAfterOf(h: Headers): number | undefined {
  const raw = h.get('retry-after');
  if (raw === null) return undefined;
  const secs = Number(raw);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function isNetworkError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  const cause = (e as { cause?: { code?: unknown } }).cause;
  return (
    (typeof code === 'string' && NETWORK_CODES.has(code)) ||
    (typeof cause?.code === 'string' && NETWORK_CODES.has(cause.code)) ||
    (e instanceof TypeError && /fetch failed|terminated/.test(e.message))
  );
}

// ---- states ----------------------------------------------------------------------------------------

const PHASE_OF: Readonly<Record<string, Phase>> = {
  not_started: 'PENDING',
  starting: 'PENDING',
  recovering: 'PENDING',
  running: 'RUNNING',
  idle: 'RUNNING',
  busy: 'RUNNING',
  shutting_down: 'RUNNING',
  success: 'SUCCEEDED',
  dead: 'FAILED',
  error: 'FAILED',
  killed: 'CANCELLED',
};

const LIVY_TERMINAL = new Set(['success', 'dead', 'error', 'killed']);

const EXIT_STATUS = /(?:User application exited with status|exitCode:?|exit code:?)\s*(-?\d+)/i;

/** The informative log lines of a batch (Livy's section markers and blank lines left out). */
function logTail(lines: readonly string[] | undefined, max = 10): string[] {
  return (lines ?? []).map((l) => l.replace(/^\n/, '')).filter((l) => l.trim() !== '' && !/^(stdout|stderr|YARN Diagnostics):\s*$/.test(l)).slice(-max);
}

function parseBatch(v: unknown, what: string): LivyBatch {
  const o = v as { id?: unknown; name?: unknown; state?: unknown; appId?: unknown; log?: unknown } | null;
  if (typeof o !== 'object' || o === null || typeof o.id !== 'number' || typeof o.state !== 'string') {
    throw new AdapterError(`livy ${what}: not a Batch: ${JSON.stringify(v)?.slice(0, 200)}`, 'invalid');
  }
  return {
    id: o.id,
    state: o.state,
    ...(o.name === null || typeof o.name === 'string' ? { name: o.name } : {}),
    ...(o.appId === null || typeof o.appId === 'string' ? { appId: o.appId } : {}),
    ...(Array.isArray(o.log) ? { log: o.log.map(String) } : {}),
  };
}

/** The tail of an attempt's submission id that depends only on the attempt: `-<hash>-a<n>`. */
function nameTailOf(ref: AttemptRef): string {
  return submissionIdOf(ref, 't').slice(1);
}

class Closed extends Error {
  override readonly name = 'Closed';
}

/** Options of `wait`. */
export interface LivyWaitOptions extends CallOptions {
  /** Overall budget in ms; on expiry `wait` rejects with AdapterError('transient'). */
  readonly timeoutMs?: number;
  /** @default 1000 */
  readonly pollIntervalMs?: number;
  readonly onStatus?: (s: StatusReport) => void;
}

/** Runs task attempts as Apache Livy batches (Spark applications). */
export class LivyAdapter implements ExecutorAdapter {
  readonly kind = 'livy';
  /** Livy's base URL, without a trailing slash. */
  readonly url: string;
  readonly runnerFile: string;
  private readonly proxyUser: string | undefined;
  private readonly queue: string | undefined;
  private readonly pyFiles: readonly string[] | undefined;
  private readonly callTimeoutMs: number;
  private readonly attempts: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly headers: Readonly<Record<string, string>>;
  private readonly listPageSize: number;
  private readonly logPageLines: number;
  private readonly random: () => number;
  /** Handles (by key) this instance cancelled: a later 404 means CANCELLED, not LOST. */
  private readonly cancelled = new Set<string>();
  /** Deadlines (epoch ms) of handles submitted here with a timeoutMs. */
  private readonly deadlines = new Map<string, { readonly at: number; readonly timeoutMs: number }>();
  /** Handles this instance deleted because their deadline passed. */
  private readonly expired = new Set<string>();
  private readonly closer = new AbortController();
  private readonly sleepers = new Set<() => void>();
  private closed = false;

  constructor(options: LivyAdapterOptions = {}) {
    const url = options.url ?? process.env.LIVY_URL;
    if (url === undefined || url.trim() === '') throw new AdapterError('livy: no URL (set the url option or LIVY_URL)', 'invalid');
    try {
      new URL(url);
    } catch {
      throw new AdapterError(`livy: bad URL ${JSON.stringify(url)}`, 'invalid');
    }
    this.url = url.trim().replace(/\/+$/, '');
    this.runnerFile = options.runnerFile ?? DEFAULT_RUNNER_FILE;
    this.proxyUser = options.proxyUser;
    this.queue = options.queue;
    this.pyFiles = options.pyFiles;
    this.callTimeoutMs = options.callTimeoutMs ?? 30_000;
    this.attempts = Math.max(1, Math.floor(options.retries?.attempts ?? 5));
    this.baseMs = Math.max(0, options.retries?.baseMs ?? 200);
    this.maxMs = Math.max(this.baseMs, options.retries?.maxMs ?? 5000);
    this.headers = { ...(options.headers ?? {}) };
    this.listPageSize = Math.max(1, Math.floor(options.listPageSize ?? 100));
    this.logPageLines = Math.max(1, Math.floor(options.logPageLines ?? 1000));
    this.random = options.random ?? Math.random;
  }

  // ---- calls -------------------------------------------------------------------------------------

  private ensureOpen(what: string): void {
    if (this.closed) throw new AdapterError(`livy ${what}: the adapter is closed`, 'invalid');
  }

  /** One HTTP request with the call timeout and the caller's signal; the parsed JSON answer. Throws Failure. */
  private async once(method: string, path: string, what: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
    const timeout = AbortSignal.timeout(this.callTimeoutMs);
    const signals = [timeout, this.closer.signal, ...(signal !== undefined ? [signal] : [])];
    const combined = AbortSignal.any(signals);
    const headers: Record<string, string> = { Accept: 'application/json', ...this.headers };
    if (method !== 'GET') headers[CSRF_HEADER.name] = CSRF_HEADER.value;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let status: number;
    let text: string;
    let resHeaders: Headers;
    try {
      if (signal?.aborted === true) throw signal.reason;
      const res = await fetch(`${this.url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: combined,
        redirect: 'error',
      });
      status = res.status;
      resHeaders = res.headers;
      text = await res.text();
    } catch (e) {
      if (this.closed || this.closer.signal.aborted) throw { error: new AdapterError(`livy ${what}: the adapter is closed`, 'invalid') } satisfies Failure;
      if (signal?.aborted === true) throw { error: new AdapterError(`livy ${what}: aborted`, 'transient') } satisfies Failure;
      if (timeout.aborted) throw { error: new AdapterError(`livy ${what}: timed out after ${this.callTimeoutMs} ms`, 'transient') } satisfies Failure;
      const msg = e instanceof Error ? `${e.message}${(e as { cause?: { message?: unknown } }).cause?.message !== undefined ? ` (${String((e as { cause: { message: unknown } }).cause.message)})` : ''}` : String(e);
      throw { error: new AdapterError(`livy ${what}: ${msg}`, isNetworkError(e) ? 'transient' : 'invalid') } satisfies Failure;
    }
    if (status < 200 || status >= 300) {
      const msg = messageOf(text);
      const retryAfterMs = retryAfterOf(resHeaders);
      throw {
        error: new AdapterError(`livy ${what}: HTTP ${status}${msg !== '' ? `: ${msg}` : ''}`, categoryOf(status, msg), status, text.slice(0, 2000)),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      } satisfies Failure;
    }
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw { error: new AdapterError(`livy ${what}: HTTP ${status} with a body that is not JSON: ${text.slice(0, 200)}`, 'transient', status, text.slice(0, 2000)) } satisfies Failure;
    }
  }

  /** The backoff before try `i + 1`. */
  private delayOf(i: number, retryAfterMs?: number): number {
    const exp = Math.min(this.maxMs, this.baseMs * 2 ** (i - 1));
    let delay = exp / 2 + (this.random() * exp) / 2;
    if (retryAfterMs !== undefined) delay = Math.max(delay, Math.min(retryAfterMs, this.maxMs));
    return delay;
  }

  private final(error: AdapterError, tries: number): AdapterError {
    return error.category === 'transient' && tries > 1 ? new AdapterError(`${error.message} (after ${tries} tries)`, error.category, error.status, error.backendBody) : error;
  }

  /** An idempotent request (GET, DELETE) with bounded retries of transient failures. Throws AdapterError. */
  private async call(method: 'GET' | 'DELETE', path: string, what: string, signal?: AbortSignal): Promise<unknown> {
    for (let i = 1; ; i++) {
      this.ensureOpen(what); // also after a backoff sleep that close() cut short
      try {
        return await this.once(method, path, what, undefined, signal);
      } catch (f) {
        const { error, retryAfterMs } = f as Failure;
        if (error.category !== 'transient' || i >= this.attempts || this.closed || signal?.aborted === true) throw this.final(error, i);
        await this.sleep(this.delayOf(i, retryAfterMs), signal);
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

  /** GET a batch; null on 404. */
  private async readBatch(id: string, signal?: AbortSignal): Promise<LivyBatch | null> {
    try {
      return parseBatch(await this.call('GET', `/batches/${id}`, `get batch ${id}`, signal), `get batch ${id}`);
    } catch (e) {
      if (e instanceof AdapterError && e.category === 'not-found') return null;
      throw e;
    }
  }

  /** Every batch Livy knows, page by page (`GET /batches?from=&size=`). */
  private async listBatches(signal?: AbortSignal): Promise<LivyBatch[]> {
    const seen = new Map<number, LivyBatch>();
    let from = 0;
    for (let page = 0; page < 100_000; page++) {
      const what = `list batches from ${from}`;
      const v = (await this.call('GET', `/batches?from=${from}&size=${this.listPageSize}`, what, signal)) as { total?: unknown; sessions?: unknown } | undefined;
      if (typeof v !== 'object' || v === null || !Array.isArray(v.sessions)) throw new AdapterError(`livy ${what}: not a batch list`, 'invalid');
      for (const s of v.sessions) {
        const b = parseBatch(s, what);
        seen.set(b.id, b);
      }
      const total = typeof v.total === 'number' ? v.total : 0;
      if (v.sessions.length === 0 || from + v.sessions.length >= total) break;
      from += v.sessions.length;
    }
    return [...seen.values()];
  }

  /** The batch named `name`, or null. */
  private async findByName(name: string, signal?: AbortSignal): Promise<LivyBatch | null> {
    const found = (await this.listBatches(signal)).filter((b) => b.name === name);
    return found[found.length - 1] ?? null;
  }

  private handleOf(b: LivyBatch, name: string): ExecutionHandle {
    return { executor: this.kind, submissionId: name, backendId: String(b.id), backendUid: name };
  }

  private static keyOf(h: ExecutionHandle): string {
    return `${h.backendId}\0${h.backendUid ?? h.submissionId}`;
  }

  /** The batch id and name of a handle. */
  private parseHandle(h: ExecutionHandle): { readonly id: string; readonly name: string; readonly key: string } {
    if (h.executor !== this.kind || !/^\d+$/.test(h.backendId)) {
      throw new AdapterError(`not a Livy handle: ${h.executor} ${JSON.stringify(h.backendId)}`, 'invalid');
    }
    return { id: h.backendId, name: h.backendUid ?? h.submissionId, key: LivyAdapter.keyOf(h) };
  }

  /** Whether a batch read for a handle is that handle's batch (not another batch that got its id). */
  private static ours(b: LivyBatch, name: string): boolean {
    return b.name === undefined || b.name === name;
  }

  // ---- contract ----------------------------------------------------------------------------------

  async submit(spec: LaunchSpec, attempt: AttemptRef, opts?: CallOptions): Promise<ExecutionHandle> {
    this.ensureOpen('submit');
    const body = buildBatchRequest(spec, attempt, {
      runnerFile: this.runnerFile,
      ...(this.pyFiles !== undefined ? { pyFiles: this.pyFiles } : {}),
      ...(this.proxyUser !== undefined ? { proxyUser: this.proxyUser } : {}),
      ...(this.queue !== undefined ? { queue: this.queue } : {}),
    });
    const name = body.name;
    const what = `create batch ${name}`;
    const signal = opts?.signal;
    const adopt = (b: LivyBatch): ExecutionHandle => {
      const h = this.handleOf(b, name);
      const key = LivyAdapter.keyOf(h);
      if (spec.timeoutMs !== undefined && !this.deadlines.has(key)) this.deadlines.set(key, { at: Date.now() + spec.timeoutMs, timeoutMs: spec.timeoutMs });
      return h;
    };
    let mayExist = false;
    let conflicts = 0;
    for (let i = 1; ; i++) {
      this.ensureOpen(what);
      if (mayExist) {
        // An earlier try failed ambiguously: its batch may exist. Adopt it rather than post again.
        const found = await this.findByName(name, signal);
        if (found !== null) return adopt(found);
      }
      let failure: Failure;
      try {
        const b = parseBatch(await this.once('POST', '/batches', what, body, signal), what);
        if (b.name !== undefined && b.name !== name) throw new AdapterError(`livy ${what}: Livy answered with batch ${b.id} named ${JSON.stringify(b.name)}`, 'invalid');
        return adopt(b);
      } catch (f) {
        if (f instanceof AdapterError) throw f;
        failure = f as Failure;
      }
      const { error, retryAfterMs } = failure;
      if (error.category === 'conflict') {
        // "Duplicate session name": this attempt's batch exists (a second submit, or our own
        // earlier create whose answer we did not get).
        const found = await this.findByName(name, signal);
        if (found !== null) return adopt(found);
        // Gone between the POST and the list (deleted, garbage-collected): post again, a few times.
        if (++conflicts >= 3) throw new AdapterError(`livy ${what}: the batch of this name kept conflicting and disappearing`, 'transient', error.status, error.backendBody);
        i--;
        continue;
      }
      if (error.category !== 'transient' || i >= this.attempts || this.closed || signal?.aborted === true) throw this.final(error, i);
      mayExist = true;
      await this.sleep(this.delayOf(i, retryAfterMs), signal);
    }
  }

  async lookup(attempt: AttemptRef, opts?: LookupHints): Promise<ExecutionHandle | null> {
    this.ensureOpen('lookup');
    const batches = await this.listBatches(opts?.signal);
    if (opts?.task !== undefined) {
      const name = submissionIdOf(attempt, opts.task);
      const mine = batches.filter((b) => b.name === name);
      const b = mine[mine.length - 1];
      return b === undefined ? null : this.handleOf(b, name);
    }
    const tail = nameTailOf(attempt);
    const mine = batches.filter((b) => typeof b.name === 'string' && b.name.endsWith(tail));
    const b = mine[mine.length - 1];
    return b === undefined || typeof b.name !== 'string' ? null : this.handleOf(b, b.name);
  }

  async status(h: ExecutionHandle, opts?: CallOptions): Promise<StatusReport> {
    this.ensureOpen('status');
    const { id, name, key } = this.parseHandle(h);
    const b = await this.readBatch(id, opts?.signal);
    const expired = (): StatusReport => {
      const d = this.deadlines.get(key);
      return {
        phase: 'FAILED',
        rawState: 'deleted',
        reason: 'DeadlineExceeded',
        message: `batch ${id} (${name}) ran past its timeout${d !== undefined ? ` of ${d.timeoutMs} ms` : ''} and was deleted`,
      };
    };
    const gone = (rawState: string, reason: string, message: string): StatusReport => {
      if (this.expired.has(key)) return expired();
      if (this.cancelled.has(key)) return { phase: 'CANCELLED', rawState: 'deleted', reason: 'Cancelled' };
      return { phase: 'LOST', rawState, reason, message };
    };
    if (b === null) return gone('not_found', 'NotFound', `batch ${id} (${name}) no longer exists`);
    if (!LivyAdapter.ours(b, name)) {
      return gone(b.state, 'IdReused', `batch ${id} is now ${JSON.stringify(b.name)}, not ${name}: Livy forgot our batch (restarted?)`);
    }
    const phase = PHASE_OF[b.state];
    if (LIVY_TERMINAL.has(b.state)) this.deadlines.delete(key);
    if (phase === 'SUCCEEDED') return { phase, rawState: b.state, exitCode: 0 };
    if (phase === 'FAILED' || (phase === 'CANCELLED' && !this.cancelled.has(key))) {
      const tail = logTail(b.log);
      let exitCode: number | undefined;
      for (const l of tail) {
        const m = EXIT_STATUS.exec(l);
        if (m !== null) exitCode = Number(m[1]);
      }
      return {
        phase: 'FAILED',
        rawState: b.state,
        reason: b.state === 'killed' ? 'Killed' : b.state === 'error' ? 'Error' : 'Dead',
        ...(tail.length > 0 ? { message: tail.join('\n').slice(-4000) } : {}),
        ...(exitCode !== undefined ? { exitCode } : {}),
      };
    }
    if (phase === 'CANCELLED') return { phase, rawState: b.state, reason: 'Cancelled' };
    if (this.cancelled.has(key)) return { phase: 'CANCELLED', rawState: b.state, reason: 'Cancelled' };
    const deadline = this.deadlines.get(key);
    if (deadline !== undefined && Date.now() >= deadline.at) {
      this.expired.add(key);
      try {
        await this.call('DELETE', `/batches/${id}`, `delete batch ${id} (deadline)`, opts?.signal);
      } catch (e) {
        if (!(e instanceof AdapterError && e.category === 'not-found')) {
          this.expired.delete(key);
          throw e;
        }
      }
      return expired();
    }
    if (phase === undefined) return { phase: 'PENDING', rawState: b.state, message: `unknown Livy state ${JSON.stringify(b.state)}` };
    return { phase, rawState: b.state, ...(b.appId !== undefined && b.appId !== null ? { message: `application ${b.appId}` } : {}) };
  }

  async cancel(h: ExecutionHandle): Promise<CancelResult> {
    this.ensureOpen('cancel');
    const { id, name, key } = this.parseHandle(h);
    // A batch we deleted (cancel, deadline) has a terminal phase; one gone otherwise is not found.
    const gone = (): CancelResult => (this.cancelled.has(key) || this.expired.has(key) ? 'already-terminal' : 'not-found');
    const b = await this.readBatch(id);
    if (b === null || !LivyAdapter.ours(b, name)) return gone();
    if (LIVY_TERMINAL.has(b.state)) return 'already-terminal';
    const known = this.cancelled.has(key);
    this.cancelled.add(key); // before the call: an ambiguous delete that did happen is still ours
    try {
      await this.call('DELETE', `/batches/${id}`, `delete batch ${id}`);
      return 'requested';
    } catch (e) {
      if (e instanceof AdapterError && e.category === 'not-found') return known ? 'already-terminal' : 'requested';
      if (!known) this.cancelled.delete(key);
      throw e;
    }
  }

  async logs(h: ExecutionHandle, opts?: { readonly tailLines?: number; readonly cursor?: string }): Promise<LogChunk> {
    this.ensureOpen('logs');
    const { id, name } = this.parseHandle(h);
    const cursor = opts?.cursor;
    if (cursor !== undefined && !/^\d+$/.test(cursor)) throw new AdapterError(`bad log cursor ${JSON.stringify(cursor)}: expected a line offset`, 'invalid');
    const tail = opts?.tailLines;
    if (tail !== undefined && (!Number.isSafeInteger(tail) || tail < 0)) throw new AdapterError(`bad tailLines ${tail}: expected a whole number ≥ 0`, 'invalid');
    const empty: LogChunk = { text: '', available: true, truncated: false, ...(cursor !== undefined ? { nextCursor: cursor } : {}) };
    const b = await this.readBatch(id);
    if (b === null || !LivyAdapter.ours(b, name)) return empty;
    const query = cursor === undefined && tail !== undefined ? `size=${Math.min(tail, this.logPageLines)}` : `from=${cursor ?? '0'}&size=${this.logPageLines}`;
    let v: { from?: unknown; total?: unknown; log?: unknown } | undefined;
    try {
      v = (await this.call('GET', `/batches/${id}/log?${query}`, `log of batch ${id}`)) as typeof v;
    } catch (e) {
      if (e instanceof AdapterError && e.category === 'not-found') return empty;
      throw e;
    }
    if (typeof v !== 'object' || v === null || !Array.isArray(v.log)) throw new AdapterError(`livy log of batch ${id}: not a log answer`, 'invalid');
    const from = typeof v.from === 'number' ? v.from : Number(cursor ?? 0);
    let lines = v.log.map(String);
    const next = from + lines.length;
    let truncated = cursor === undefined && tail !== undefined ? from > 0 : false;
    if (tail !== undefined && lines.length > tail) {
      lines = lines.slice(lines.length - tail);
      truncated = true;
    }
    return { text: lines.map((l) => `${l}\n`).join(''), nextCursor: String(next), truncated, available: true };
  }

  async cleanup(h: ExecutionHandle): Promise<void> {
    this.ensureOpen('cleanup');
    const { id, name } = this.parseHandle(h);
    const b = await this.readBatch(id);
    if (b === null || !LivyAdapter.ours(b, name) || !LIVY_TERMINAL.has(b.state)) return;
    try {
      await this.call('DELETE', `/batches/${id}`, `delete batch ${id}`);
    } catch (e) {
      if (e instanceof AdapterError && e.category === 'not-found') return;
      throw e;
    }
  }

  /**
   * Polls `status` every `pollIntervalMs` until a terminal phase. Not part of the contract; the
   * engine has its own loop. Rejects with AdapterError('transient') when `timeoutMs` passes.
   */
  async wait(h: ExecutionHandle, opts: LivyWaitOptions = {}): Promise<StatusReport> {
    return pollUntilTerminal('livy', h, (o) => this.status(h, o), (ms, signal) => this.sleep(ms, signal), () => this.ensureOpen('wait'), opts, 1000);
  }

  /** Aborts calls in flight and backoff sleeps; later calls reject with AdapterError('invalid'). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closer.abort(new Closed('closed'));
    for (const wake of [...this.sleepers]) wake();
    this.sleepers.clear();
  }
}
