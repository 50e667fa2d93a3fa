/**
 * This file holds the Kubernetes call machinery shared by the adapters over custom resources
 * (KubeRay RayJobs, SparkApplications): per-call timeouts, the mapping of every failure to an
 * AdapterError category, bounded retries of transient failures, and the helpers those adapters
 * have in common (custom-object get/create-or-adopt/list/delete, attempt ownership, pod logs with a
 * byte-offset cursor).
 *
 * The Jobs adapter (kubernetes-adapter.ts) makes its calls through `KubeCalls` too:
 * - every call has a timeout (`callTimeoutMs`; the client applies none) and the caller's signal;
 * - failures are classified from the HTTP status (`ApiException.code`), never from message text:
 *   429/5xx/408/410, connection errors and timeouts → transient (retried with exponential backoff
 *   and jitter, Retry-After honoured up to `maxMs`); 409 → conflict; 401/403 → auth; 404 →
 *   not-found; other 4xx → invalid;
 * - `close()` aborts calls in flight and backoff sleeps; later calls reject with 'invalid'.
 */
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  Observable,
  type ConfigurationOptions,
  type KubeConfig,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
  type V1ObjectMeta,
  type V1Pod,
} from '@kubernetes/client-node';
import { AdapterError, attemptLabels, submissionIdOf, type AdapterErrorCategory, type AttemptRef, type ExecutionHandle, type LogChunk } from '../contract.js';

/** Retries of transient call failures inside an adapter. */
export interface CallRetryOptions {
  /** Tries per call, the first included. @default 5 */
  readonly attempts?: number;
  /** First backoff delay; it doubles per retry, with jitter. @default 200 */
  readonly baseMs?: number;
  /** Largest delay between tries, also the cap on a server's Retry-After. @default 5000 */
  readonly maxMs?: number;
}

/** Options of a KubeCalls. */
export interface KubeCallsOptions {
  /** Timeout of each API call, in ms. @default 30000 */
  readonly callTimeoutMs?: number;
  readonly retries?: CallRetryOptions;
  /** Source of jitter in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Word that starts error messages. @default "kubernetes" */
  readonly label?: string;
}

interface Classified {
  readonly error: AdapterError;
  readonly retryAfterMs?: number;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET']);

class CallTimeout extends Error {
  override readonly name = 'CallTimeout';
}
class AdapterClosed extends Error {
  override readonly name = 'AdapterClosed';
}

/** The AdapterError category of an HTTP status. */
export function categoryOfStatus(code: number): AdapterErrorCategory {
  if (code === 429 || code === 408 || code === 410 || code >= 500) return 'transient';
  if (code === 409) return 'conflict';
  if (code === 401 || code === 403) return 'auth';
  if (code === 404) return 'not-found';
  return 'invalid';
}

function statusBody(body: unknown): { readonly reason?: string; readonly message?: string } {
  let v: unknown = body;
  if (typeof body === 'string') {
    try {
      v = JSON.parse(body);
    } catch {
      return body.trim() === '' ? {} : { message: body.slice(0, 500) };
    }
  }
  if (!isRecord(v)) return {};
  return {
    ...(typeof v['reason'] === 'string' ? { reason: v['reason'] } : {}),
    ...(typeof v['message'] === 'string' ? { message: v['message'] } : {}),
  };
}

function retryAfterOf(headers: Readonly<Record<string, string>> | undefined): number | undefined {
  if (headers === undefined) return undefined;
  const raw = headers['retry-after'] ?? headers['Retry-After'];
  if (raw === undefined) return undefined;
  const secs = Number(raw);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function isApiException(e: unknown): e is ApiException<unknown> {
  return e instanceof ApiException || (e instanceof Error && typeof (e as { code?: unknown }).code === 'number' && 'body' in e && 'headers' in e);
}

function classify(e: unknown, label: string, what: string, callTimeoutMs: number): Classified {
  if (e instanceof AdapterError) return { error: e };
  if (isApiException(e)) {
    const body = typeof e.body === 'string' ? e.body : e.body === undefined ? undefined : JSON.stringify(e.body);
    const s = statusBody(e.body);
    const detail = [s.reason, s.message].filter((x) => x !== undefined).join(': ');
    const error = new AdapterError(`${label} ${what}: HTTP ${e.code}${detail === '' ? '' : ` ${detail}`}`, categoryOfStatus(e.code), e.code, body);
    const retryAfterMs = retryAfterOf(e.headers);
    return retryAfterMs === undefined ? { error } : { error, retryAfterMs };
  }
  if (e instanceof CallTimeout) return { error: new AdapterError(`${label} ${what}: no answer within ${callTimeoutMs} ms`, 'transient') };
  if (e instanceof AdapterClosed) return { error: new AdapterError(`${label} ${what}: the adapter is closed`, 'invalid') };
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const cause = (e as { cause?: { code?: unknown } }).cause;
    const net =
      e.name === 'FetchError' ||
      e.name === 'AbortError' ||
      e.name === 'TimeoutError' ||
      (typeof code === 'string' && NETWORK_CODES.has(code)) ||
      (typeof cause?.code === 'string' && NETWORK_CODES.has(cause.code)) ||
      (e instanceof TypeError && e.message === 'fetch failed');
    return { error: new AdapterError(`${label} ${what}: ${e.message}`, net ? 'transient' : 'invalid') };
  }
  return { error: new AdapterError(`${label} ${what}: ${String(e)}`, 'invalid') };
}

function signalMiddleware(signal: AbortSignal): ObservableMiddleware {
  return {
    pre: (ctx: RequestContext) => {
      ctx.setSignal(signal);
      return new Observable(Promise.resolve(ctx));
    },
    post: (ctx: ResponseContext) => new Observable(Promise.resolve(ctx)),
  };
}

/** Timeouts, classification and retries of client-node calls. */
export class KubeCalls {
  readonly label: string;
  readonly callTimeoutMs: number;
  private readonly attempts: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;
  private readonly inflight = new Set<AbortController>();
  private readonly sleepers = new Set<() => void>();
  private closedFlag = false;

  constructor(options: KubeCallsOptions = {}) {
    this.label = options.label ?? 'kubernetes';
    this.callTimeoutMs = options.callTimeoutMs ?? 30_000;
    this.attempts = Math.max(1, Math.floor(options.retries?.attempts ?? 5));
    this.baseMs = Math.max(0, options.retries?.baseMs ?? 200);
    this.maxMs = Math.max(this.baseMs, options.retries?.maxMs ?? 5000);
    this.random = options.random ?? Math.random;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  ensureOpen(what: string): void {
    if (this.closedFlag) throw new AdapterError(`${this.label} ${what}: the adapter is closed`, 'invalid');
  }

  /** One try of one API call, with the call timeout and the caller's signal. Throws Classified. */
  private async once<T>(what: string, fn: (o: ConfigurationOptions) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new CallTimeout('timeout')), this.callTimeoutMs);
    const onAbort = (): void => ac.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    this.inflight.add(ac);
    let removeRace: () => void = () => {};
    const aborted = new Promise<never>((_, reject) => {
      const f = (): void => reject(ac.signal.reason);
      ac.signal.addEventListener('abort', f, { once: true });
      removeRace = () => ac.signal.removeEventListener('abort', f);
    });
    aborted.catch(() => {});
    try {
      if (signal?.aborted) throw signal.reason;
      const options: ConfigurationOptions = { middleware: [signalMiddleware(ac.signal)], middlewareMergeStrategy: 'append' };
      return await Promise.race([fn(options), aborted]);
    } catch (e) {
      const reason: unknown = ac.signal.aborted ? ac.signal.reason : e;
      if (signal?.aborted && reason === signal.reason) {
        throw { error: new AdapterError(`${this.label} ${what}: aborted`, 'transient') } satisfies Classified;
      }
      throw classify(reason instanceof Error || isApiException(reason) ? reason : e, this.label, what, this.callTimeoutMs);
    } finally {
      clearTimeout(timer);
      removeRace();
      signal?.removeEventListener('abort', onAbort);
      this.inflight.delete(ac);
    }
  }

  /** An API call with timeout and bounded retries of transient failures. Throws AdapterError. */
  async call<T>(what: string, fn: (o: ConfigurationOptions) => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let i = 1; ; i++) {
      this.ensureOpen(what); // also after a backoff sleep that close() cut short
      try {
        return await this.once(what, fn, signal);
      } catch (c) {
        const { error, retryAfterMs } = c as Classified;
        if (error.category !== 'transient' || i >= this.attempts || this.closedFlag || signal?.aborted === true) {
          if (error.category === 'transient' && i > 1) {
            throw new AdapterError(`${error.message} (after ${i} tries)`, error.category, error.status, error.backendBody);
          }
          throw error;
        }
        const exp = Math.min(this.maxMs, this.baseMs * 2 ** (i - 1));
        let delay = exp / 2 + (this.random() * exp) / 2;
        if (retryAfterMs !== undefined) delay = Math.max(delay, Math.min(retryAfterMs, this.maxMs));
        await this.sleep(delay, signal);
      }
    }
  }

  /** A call whose 404 is null. */
  async orNull<T>(what: string, fn: (o: ConfigurationOptions) => Promise<T>, signal?: AbortSignal): Promise<T | null> {
    try {
      return await this.call(what, fn, signal);
    } catch (e) {
      if (e instanceof AdapterError && e.category === 'not-found') return null;
      throw e;
    }
  }

  /** Sleeps `ms`, cut short by the signal or close(). */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
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

  /** Aborts calls in flight and backoff sleeps; later calls reject with AdapterError('invalid'). */
  close(): void {
    this.closedFlag = true;
    for (const ac of this.inflight) ac.abort(new AdapterClosed('closed'));
    this.inflight.clear();
    for (const wake of [...this.sleepers]) wake();
    this.sleepers.clear();
  }
}

// ---- plain-object narrowing ------------------------------------------------------------------

/** A JSON object (custom objects come back from the client untyped). */
export type JsonRecord = { readonly [key: string]: unknown };

export function isRecord(v: unknown): v is JsonRecord {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `v[key]` when `v` is an object, else undefined. */
export function field(v: unknown, ...path: readonly string[]): unknown {
  let cur: unknown = v;
  for (const k of path) {
    if (!isRecord(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

/** A string field, or undefined. */
export function stringField(v: unknown, ...path: readonly string[]): string | undefined {
  const x = field(v, ...path);
  return typeof x === 'string' ? x : undefined;
}

/** A custom object's metadata, narrowed to what the adapters read. */
export function metadataOf(v: unknown): V1ObjectMeta {
  const m = field(v, 'metadata');
  if (!isRecord(m)) return {};
  const strMap = (x: unknown): Record<string, string> | undefined => {
    if (!isRecord(x)) return undefined;
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(x)) if (typeof val === 'string') out[k] = val;
    return out;
  };
  const labels = strMap(m['labels']);
  const annotations = strMap(m['annotations']);
  const s = (k: string): string | undefined => (typeof m[k] === 'string' ? m[k] : undefined);
  const name = s('name');
  const namespace = s('namespace');
  const uid = s('uid');
  const resourceVersion = s('resourceVersion');
  const creationTimestamp = s('creationTimestamp');
  const deletionTimestamp = s('deletionTimestamp');
  return {
    ...(name !== undefined ? { name } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(uid !== undefined ? { uid } : {}),
    ...(resourceVersion !== undefined ? { resourceVersion } : {}),
    ...(creationTimestamp !== undefined ? { creationTimestamp: new Date(creationTimestamp) } : {}),
    ...(deletionTimestamp !== undefined ? { deletionTimestamp: new Date(deletionTimestamp) } : {}),
    ...(labels !== undefined ? { labels } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
  };
}

// ---- attempts and names ----------------------------------------------------------------------

/** Annotation keys with the attempt's full identity (labels may be truncated to 63 characters). */
export const ATTEMPT_ANNOTATIONS = {
  runId: 'larkflow.dev/run-id',
  stepId: 'larkflow.dev/step-id',
  task: 'larkflow.dev/task-name',
} as const;

/** The annotations naming an attempt. */
export function attemptAnnotations(ref: AttemptRef, task: string): Record<string, string> {
  return { [ATTEMPT_ANNOTATIONS.runId]: ref.runId, [ATTEMPT_ANNOTATIONS.stepId]: ref.stepId, [ATTEMPT_ANNOTATIONS.task]: task };
}

/** Whether an object found under an attempt's name belongs to that attempt (labels, and full-id annotations when present). */
export function belongsTo(meta: V1ObjectMeta, ref: AttemptRef): boolean {
  const expected = attemptLabels(ref, '');
  const labels = meta.labels ?? {};
  for (const key of ['larkflow.dev/run', 'larkflow.dev/step', 'larkflow.dev/attempt'] as const) {
    if (labels[key] !== expected[key]) return false;
  }
  const ann = meta.annotations ?? {};
  if (ann[ATTEMPT_ANNOTATIONS.runId] !== undefined && ann[ATTEMPT_ANNOTATIONS.runId] !== ref.runId) return false;
  if (ann[ATTEMPT_ANNOTATIONS.stepId] !== undefined && ann[ATTEMPT_ANNOTATIONS.stepId] !== ref.stepId) return false;
  return true;
}

/** The label selector of an attempt's objects (run, step, attempt). */
export function attemptSelector(ref: AttemptRef): string {
  const labels = attemptLabels(ref, '');
  return (['larkflow.dev/run', 'larkflow.dev/step', 'larkflow.dev/attempt'] as const).map((k) => `${k}=${labels[k]}`).join(',');
}

/** The tail of an attempt's object name that depends only on the attempt: `-<hash>-a<n>`. */
export function nameTailOf(ref: AttemptRef): string {
  return submissionIdOf(ref, 't').slice(1);
}

/** Milliseconds of a timestamp the client may hand over as a Date or a string; 0 when absent. */
export function timeOf(t: Date | string | undefined): number {
  if (t === undefined) return 0;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isNaN(ms) ? 0 : ms;
}

/** "namespace/name" of a handle of kind `kind`. */
export function parseNamespacedId(executor: string, backendId: string, kind: string): { readonly namespace: string; readonly name: string } {
  const i = backendId.indexOf('/');
  if (executor !== kind || i <= 0 || i === backendId.length - 1) {
    throw new AdapterError(`not a ${kind} handle: ${executor} ${JSON.stringify(backendId)}`, 'invalid');
  }
  return { namespace: backendId.slice(0, i), name: backendId.slice(i + 1) };
}

// ---- custom objects ---------------------------------------------------------------------------

/** Where a kind of custom object lives. */
export interface CustomResourceKind {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  /** For messages: "RayJob". */
  readonly kind: string;
}

/** Custom-object and pod calls of one resource kind, through a KubeCalls. */
export class CustomObjects {
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;

  constructor(
    kc: KubeConfig,
    readonly calls: KubeCalls,
    readonly rk: CustomResourceKind,
  ) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  private base(namespace: string): { group: string; version: string; plural: string; namespace: string } {
    return { group: this.rk.group, version: this.rk.version, plural: this.rk.plural, namespace };
  }

  /** The execution handle of an object of this kind: `namespace/name`, with its uid. */
  handleOf(executor: string, obj: JsonRecord, namespace: string, name: string): ExecutionHandle {
    const uid = metadataOf(obj).uid;
    return { executor, submissionId: name, backendId: `${namespace}/${name}`, ...(uid !== undefined ? { backendUid: uid } : {}) };
  }

  /** Creates the attempt's object from `manifest` (or adopts the one a 409 names); returns its handle. */
  async submitHandle(executor: string, manifest: JsonRecord & { metadata: { namespace: string; name: string } }, ref: AttemptRef, signal?: AbortSignal): Promise<ExecutionHandle> {
    const { namespace, name } = manifest.metadata;
    return this.handleOf(executor, await this.createOrAdopt(namespace, name, manifest, ref, signal), namespace, name);
  }

  /** The attempt's object (by its name when the task is known, else by labels) as a handle, or null. */
  async lookupHandle(executor: string, ref: AttemptRef, namespace: string, task: string | undefined, maxNameLength: number, signal?: AbortSignal): Promise<ExecutionHandle | null> {
    const name = task !== undefined ? submissionIdOf(ref, task, maxNameLength) : undefined;
    const obj = await this.find(namespace, ref, name, signal);
    return obj === null ? null : this.handleOf(executor, obj, namespace, metadataOf(obj).name ?? name ?? '');
  }

  /** GET; null on 404. */
  async get(namespace: string, name: string, signal?: AbortSignal): Promise<JsonRecord | null> {
    const v: unknown = await this.calls.orNull(
      `read ${this.rk.kind} ${namespace}/${name}`,
      (o) => this.custom.getNamespacedCustomObject({ ...this.base(namespace), name }, o) as Promise<unknown>,
      signal,
    );
    if (v === null) return null;
    if (!isRecord(v)) throw new AdapterError(`${this.calls.label} read ${this.rk.kind} ${namespace}/${name}: not an object`, 'invalid');
    return v;
  }

  /**
   * Creates the object, or adopts the one that already holds its name when it belongs to `ref`
   * (409 AlreadyExists: a second submit, or our own ambiguous create that did happen).
   */
  async createOrAdopt(namespace: string, name: string, body: JsonRecord, ref: AttemptRef, signal?: AbortSignal): Promise<JsonRecord> {
    const what = `create ${this.rk.kind} ${namespace}/${name}`;
    for (let round = 0; round < 3; round++) {
      try {
        const v: unknown = await this.calls.call(what, (o) => this.custom.createNamespacedCustomObject({ ...this.base(namespace), body }, o) as Promise<unknown>, signal);
        if (!isRecord(v)) throw new AdapterError(`${this.calls.label} ${what}: the answer is not an object`, 'invalid');
        return v;
      } catch (e) {
        if (!(e instanceof AdapterError) || e.category !== 'conflict') throw e;
      }
      const existing = await this.get(namespace, name, signal);
      if (existing === null) continue; // deleted in between: create again
      if (!belongsTo(metadataOf(existing), ref)) {
        throw new AdapterError(`${this.calls.label} ${what}: a ${this.rk.kind} of another attempt has this name`, 'conflict', 409);
      }
      return existing;
    }
    throw new AdapterError(`${this.calls.label} ${what}: the ${this.rk.kind} kept conflicting and disappearing`, 'transient', 409);
  }

  /** The attempt's object, by its name when the task is known, else by its labels; null when none. */
  async find(namespace: string, ref: AttemptRef, nameIfKnown: string | undefined, signal?: AbortSignal): Promise<JsonRecord | null> {
    if (nameIfKnown !== undefined) {
      const o = await this.get(namespace, nameIfKnown, signal);
      if (o === null) return null;
      if (!belongsTo(metadataOf(o), ref)) {
        throw new AdapterError(`${this.calls.label} lookup ${namespace}/${nameIfKnown}: a ${this.rk.kind} of another attempt has this name`, 'conflict');
      }
      return o;
    }
    const list: unknown = await this.calls.call(
      `list ${this.rk.plural} in ${namespace}`,
      (o) => this.custom.listNamespacedCustomObject({ ...this.base(namespace), labelSelector: attemptSelector(ref) }, o) as Promise<unknown>,
      signal,
    );
    const items = field(list, 'items');
    const tail = nameTailOf(ref);
    const mine = (Array.isArray(items) ? items : [])
      .filter(isRecord)
      .filter((x) => (metadataOf(x).name ?? '').endsWith(tail) && belongsTo(metadataOf(x), ref))
      .sort((a, b) => timeOf(metadataOf(b).creationTimestamp) - timeOf(metadataOf(a).creationTimestamp));
    return mine[0] ?? null;
  }

  /**
   * DELETE with propagationPolicy Background (the owned cluster, driver and executor pods go too),
   * with a uid precondition when given. Throws AdapterError (not-found on 404, conflict on a failed
   * precondition).
   */
  async delete(namespace: string, name: string, uid: string | undefined, signal?: AbortSignal): Promise<void> {
    await this.calls.call(
      `delete ${this.rk.kind} ${namespace}/${name}`,
      (o) =>
        this.custom.deleteNamespacedCustomObject(
          {
            ...this.base(namespace),
            name,
            propagationPolicy: 'Background',
            body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', ...(uid !== undefined ? { preconditions: { uid } } : {}) },
          },
          o,
        ) as Promise<unknown>,
      signal,
    );
  }

  /** Pods matching a label selector, newest first. */
  async pods(namespace: string, labelSelector: string, signal?: AbortSignal): Promise<V1Pod[]> {
    const list = await this.calls.call(`list pods in ${namespace} (${labelSelector})`, (o) => this.core.listNamespacedPod({ namespace, labelSelector }, o), signal);
    return [...list.items].sort((a, b) => timeOf(b.metadata?.creationTimestamp) - timeOf(a.metadata?.creationTimestamp));
  }

  /** A pod by name; null on 404. */
  async pod(namespace: string, name: string, signal?: AbortSignal): Promise<V1Pod | null> {
    return this.calls.orNull(`read pod ${namespace}/${name}`, (o) => this.core.readNamespacedPod({ name, namespace }, o), signal);
  }

  /**
   * A chunk of a pod container's log. The cursor is a decimal byte offset into the container's whole
   * log; `nextCursor` is the log's length in bytes. Nothing (and the same cursor) while the container
   * has not started or the pod is gone.
   */
  async podLog(namespace: string, pod: V1Pod | null, container: string, opts?: { readonly tailLines?: number; readonly cursor?: string }): Promise<LogChunk> {
    const empty: LogChunk = { text: '', available: true, truncated: false, ...(opts?.cursor !== undefined ? { nextCursor: opts.cursor } : {}) };
    const podName = pod?.metadata?.name;
    if (pod === null || podName === undefined) return empty;
    const state = pod.status?.containerStatuses?.find((c) => c.name === container)?.state;
    if (state?.running === undefined && state?.terminated === undefined) return empty;
    let text: string;
    try {
      text = await this.calls.call(`read log of pod ${namespace}/${podName}`, (o) => this.core.readNamespacedPodLog({ name: podName, namespace, container }, o));
    } catch (e) {
      // 404: the pod went away; 400: its container is waiting to start.
      if (e instanceof AdapterError && (e.category === 'not-found' || e.status === 400)) return empty;
      throw e;
    }
    return logChunkOf(typeof text === 'string' ? text : String(text), opts);
  }
}

/** The part of a whole log after a byte-offset cursor, with tailLines applied. */
export function logChunkOf(whole: string, opts?: { readonly tailLines?: number; readonly cursor?: string }): LogChunk {
  const buf = Buffer.from(whole, 'utf8');
  let offset = 0;
  if (opts?.cursor !== undefined) {
    if (!/^\d+$/.test(opts.cursor)) throw new AdapterError(`bad log cursor ${JSON.stringify(opts.cursor)}: expected a byte offset`, 'invalid');
    offset = Number(opts.cursor);
    if (offset > buf.length) offset = 0; // a different (re-created) pod: start over
  }
  let part = buf.subarray(offset).toString('utf8');
  let truncated = false;
  const tail = opts?.tailLines;
  if (tail !== undefined && tail >= 0) {
    const lines = part.split('\n');
    const endsWithNewline = lines.length > 0 && lines[lines.length - 1] === '';
    if (endsWithNewline) lines.pop();
    if (lines.length > tail) {
      truncated = true;
      part = lines.slice(lines.length - tail).join('\n') + (endsWithNewline && tail > 0 ? '\n' : '');
    }
  }
  return { text: part, nextCursor: String(buf.length), truncated, available: true };
}
