/**
 * This file defines the Kubernetes Jobs executor adapter ("k8s"): each attempt runs as one batch/v1
 * Job (job-manifest.ts), driven through `@kubernetes/client-node` 1.4.0 by polling (no watch).
 *
 * Behaviour, per the executor contract (../contract.ts):
 * - Every API call has a timeout (`callTimeoutMs`; the client applies none) and is mapped to an
 *   AdapterError category from the HTTP status (`ApiException.code`), never from message text:
 *   429/5xx/408/410, connection errors and timeouts → transient, retried here with bounded
 *   exponential backoff and jitter, honouring Retry-After up to `retries.maxMs`; 409 → conflict;
 *   400/422 (and other 4xx) → invalid; 401/403 → auth; 404 → not-found. (This call machinery
 *   lives in client-calls.ts, shared with the KubeRay and SparkApplication adapters.)
 * - `submit` creates the Job named `submissionIdOf(ref, task)`. A 409 AlreadyExists (a second
 *   submit, or a retry after an ambiguous 5xx/timeout whose create did happen) adopts the existing
 *   Job after checking its attempt/run/step labels, so one attempt never gets two Jobs.
 * - `status` decides terminality only from the `Complete`/`Failed` conditions with status "True"
 *   (the interim `SuccessCriteriaMet`/`FailureTarget` count as RUNNING). A Job that 404s is LOST,
 *   or CANCELLED when this adapter instance cancelled it; a Job with the same name but another uid
 *   than the handle's is LOST. The cancel intent is kept in memory only: after an engine restart,
 *   a Job cancelled by the previous process reads as LOST.
 * - `cancel` deletes with `propagationPolicy: Background` (the batch/v1 default, Orphan, would keep
 *   the pod running) and with a uid/resourceVersion precondition, so a Job that finished or was
 *   replaced between our read and our delete is reported as it really ended instead of deleted.
 * - `logs` reads the "task" container's log of the Job's pod. The cursor is a decimal byte offset
 *   into that container's whole log: a call with a cursor returns the bytes after it, and
 *   `nextCursor` is the log's length in bytes. Kubernetes has no byte-offset read, so every call
 *   reads the whole log; `tailLines` is applied here to what would be returned.
 */
import { BatchV1Api, CoreV1Api, KubeConfig, type ConfigurationOptions, type V1Job, type V1JobCondition, type V1Pod } from '@kubernetes/client-node';
import {
  AdapterError,
  TERMINAL_PHASES,
  submissionIdOf,
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
import { attemptLabels } from '../contract.js';
import { KubeCalls, logChunkOf, nameTailOf, timeOf, type CallRetryOptions } from './client-calls.js';
import { CONTAINER_NAME, buildJobManifest, jobBelongsTo } from './job-manifest.js';

/** Retries of transient call failures inside the adapter. */
export type KubernetesRetryOptions = CallRetryOptions;

/** Options of a KubernetesAdapter. */
export interface KubernetesAdapterOptions {
  /** Cluster and credentials. @default a KubeConfig loaded with loadFromDefault() (KUBECONFIG, ~/.kube/config or in-cluster) */
  readonly kubeConfig?: KubeConfig;
  /** Namespace of Jobs whose resources name none. @default the current context's namespace, else "default" */
  readonly namespace?: string;
  /** Timeout of each API call, in ms. @default 30000 */
  readonly callTimeoutMs?: number;
  readonly retries?: KubernetesRetryOptions;
  /** The Jobs' `ttlSecondsAfterFinished`; null leaves it unset. @default 3600 */
  readonly ttlSecondsAfterFinished?: number | null;
  /** Interval of `wait()` polling, in ms. @default 1000 */
  readonly pollIntervalMs?: number;
  /** Source of jitter in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/**
 * Options of `lookup` (the contract's LookupHints). `namespace`: where to look, when the task's
 * resources named one (default: the adapter's namespace). `task`: when known, the Job is read by its
 * deterministic name (one GET); without it, the namespace's Jobs are listed by the attempt's
 * run/step/attempt labels and matched by the name's attempt hash.
 */
export type KubernetesLookupOptions = LookupHints;

/** Options of `wait`. */
export interface KubernetesWaitOptions extends CallOptions {
  /** Overall budget in ms; on expiry `wait` rejects with AdapterError('transient'). */
  readonly timeoutMs?: number;
  readonly pollIntervalMs?: number;
  readonly onStatus?: (s: StatusReport) => void;
}

function conditionTrue(job: V1Job, type: string): V1JobCondition | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
}

function isTerminal(job: V1Job): boolean {
  return conditionTrue(job, 'Complete') !== undefined || conditionTrue(job, 'Failed') !== undefined;
}

function parseBackendId(h: ExecutionHandle): { readonly namespace: string; readonly name: string } {
  const i = h.backendId.indexOf('/');
  if (h.executor !== 'k8s' || i <= 0 || i === h.backendId.length - 1) {
    throw new AdapterError(`not a Kubernetes handle: ${h.executor} ${JSON.stringify(h.backendId)}`, 'invalid');
  }
  return { namespace: h.backendId.slice(0, i), name: h.backendId.slice(i + 1) };
}

/** Runs task attempts as Kubernetes Jobs. */
export class KubernetesAdapter implements ExecutorAdapter {
  readonly kind = 'k8s';
  /** The namespace of Jobs whose resources name none. */
  readonly namespace: string;
  private readonly kc: KubeConfig;
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  /** Timeouts, classification and retries of every call (client-calls.ts). */
  private readonly calls: KubeCalls;
  private readonly ttl: number | undefined;
  private readonly pollIntervalMs: number;
  /** backendIds this instance cancelled (a later 404 means CANCELLED, not LOST). */
  private readonly cancelled = new Set<string>();

  constructor(options: KubernetesAdapterOptions = {}) {
    let kc = options.kubeConfig;
    if (kc === undefined) {
      kc = new KubeConfig();
      kc.loadFromDefault();
    }
    this.kc = kc;
    const ctx = kc.getContextObject(kc.getCurrentContext());
    this.namespace = options.namespace ?? (ctx?.namespace !== undefined && ctx.namespace !== '' ? ctx.namespace : 'default');
    this.batch = kc.makeApiClient(BatchV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
    this.calls = new KubeCalls({
      label: 'kubernetes',
      ...(options.callTimeoutMs !== undefined ? { callTimeoutMs: options.callTimeoutMs } : {}),
      ...(options.retries !== undefined ? { retries: options.retries } : {}),
      ...(options.random !== undefined ? { random: options.random } : {}),
    });
    this.ttl = options.ttlSecondsAfterFinished === null ? undefined : (options.ttlSecondsAfterFinished ?? 3600);
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
  }

  /** The KubeConfig the adapter talks through. */
  get kubeConfig(): KubeConfig {
    return this.kc;
  }

  // ---- calls -------------------------------------------------------------------------------

  private ensureOpen(what: string): void {
    this.calls.ensureOpen(what);
  }

  /** An API call with timeout and bounded retries of transient failures. Throws AdapterError. */
  private call<T>(what: string, fn: (o: ConfigurationOptions) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.calls.call(what, fn, signal);
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.calls.sleep(ms, signal);
  }

  /** GET a Job; null on 404. */
  private async readJob(namespace: string, name: string, signal?: AbortSignal): Promise<V1Job | null> {
    try {
      return await this.call(`read job ${namespace}/${name}`, (o) => this.batch.readNamespacedJob({ name, namespace }, o), signal);
    } catch (e) {
      if (e instanceof AdapterError && e.category === 'not-found') return null;
      throw e;
    }
  }

  private handleOf(job: V1Job, namespace: string, name: string): ExecutionHandle {
    const uid = job.metadata?.uid;
    return { executor: this.kind, submissionId: name, backendId: `${namespace}/${name}`, ...(uid !== undefined ? { backendUid: uid } : {}) };
  }

  // ---- contract ----------------------------------------------------------------------------

  async submit(spec: LaunchSpec, attempt: AttemptRef, opts?: CallOptions): Promise<ExecutionHandle> {
    this.ensureOpen('submit');
    const manifest = buildJobManifest(spec, attempt, {
      namespace: this.namespace,
      ...(this.ttl !== undefined ? { ttlSecondsAfterFinished: this.ttl } : {}),
    });
    const namespace = manifest.metadata?.namespace ?? this.namespace;
    const name = manifest.metadata?.name ?? submissionIdOf(attempt, spec.task);
    const signal = opts?.signal;
    for (let round = 0; round < 3; round++) {
      try {
        const job = await this.call(`create job ${namespace}/${name}`, (o) => this.batch.createNamespacedJob({ namespace, body: manifest }, o), signal);
        return this.handleOf(job, namespace, name);
      } catch (e) {
        if (!(e instanceof AdapterError) || e.category !== 'conflict') throw e;
      }
      // 409 AlreadyExists: a second submit of this attempt, or our own earlier, ambiguous create.
      const existing = await this.readJob(namespace, name, signal);
      if (existing === null) continue; // deleted in between: create again
      if (!jobBelongsTo(existing, attempt, spec.task)) {
        throw new AdapterError(`kubernetes create job ${namespace}/${name}: a Job of another attempt has this name`, 'conflict', 409);
      }
      return this.handleOf(existing, namespace, name);
    }
    throw new AdapterError(`kubernetes create job ${namespace}/${name}: the Job kept conflicting and disappearing`, 'transient', 409);
  }

  async lookup(attempt: AttemptRef, opts?: KubernetesLookupOptions): Promise<ExecutionHandle | null> {
    this.ensureOpen('lookup');
    const namespace = opts?.namespace ?? this.namespace;
    const signal = opts?.signal;
    if (opts?.task !== undefined) {
      const name = submissionIdOf(attempt, opts.task);
      const job = await this.readJob(namespace, name, signal);
      if (job === null) return null;
      if (!jobBelongsTo(job, attempt, opts.task)) {
        throw new AdapterError(`kubernetes lookup ${namespace}/${name}: a Job of another attempt has this name`, 'conflict');
      }
      return this.handleOf(job, namespace, name);
    }
    const labels = attemptLabels(attempt, '');
    const selector = (['larkflow.dev/run', 'larkflow.dev/step', 'larkflow.dev/attempt'] as const).map((k) => `${k}=${labels[k]}`).join(',');
    const list = await this.call(`list jobs in ${namespace}`, (o) => this.batch.listNamespacedJob({ namespace, labelSelector: selector }, o), signal);
    const tail = nameTailOf(attempt);
    const mine = list.items
      .filter((j) => (j.metadata?.name ?? '').endsWith(tail) && jobBelongsTo(j, attempt))
      .sort((a, b) => timeOf(b.metadata?.creationTimestamp) - timeOf(a.metadata?.creationTimestamp));
    const job = mine[0];
    if (job === undefined) return null;
    return this.handleOf(job, namespace, job.metadata?.name ?? '');
  }

  async status(h: ExecutionHandle, opts?: CallOptions): Promise<StatusReport> {
    this.ensureOpen('status');
    const { namespace, name } = parseBackendId(h);
    const signal = opts?.signal;
    const job = await this.readJob(namespace, name, signal);
    const cancelled = this.cancelled.has(h.backendId);
    if (job === null) {
      return cancelled
        ? { phase: 'CANCELLED', rawState: 'Deleted', reason: 'Cancelled' }
        : { phase: 'LOST', rawState: 'NotFound', reason: 'NotFound', message: `job ${namespace}/${name} no longer exists` };
    }
    if (h.backendUid !== undefined && job.metadata?.uid !== h.backendUid) {
      return cancelled
        ? { phase: 'CANCELLED', rawState: 'Deleted', reason: 'Cancelled' }
        : {
            phase: 'LOST',
            rawState: 'Recreated',
            reason: 'UidChanged',
            message: `job ${namespace}/${name} was re-created (uid ${job.metadata?.uid ?? '?'}, expected ${h.backendUid})`,
          };
    }
    const complete = conditionTrue(job, 'Complete');
    if (complete !== undefined) {
      return { phase: 'SUCCEEDED', rawState: 'Complete', exitCode: 0, ...(complete.message !== undefined ? { message: complete.message } : {}) };
    }
    const failed = conditionTrue(job, 'Failed');
    if (failed !== undefined) {
      const pod = await this.findPod(namespace, name, h.backendUid, signal);
      const exitCode = pod?.status?.containerStatuses?.find((c) => c.name === CONTAINER_NAME)?.state?.terminated?.exitCode;
      return {
        phase: 'FAILED',
        rawState: 'Failed',
        reason: failed.reason ?? 'Failed',
        ...(failed.message !== undefined ? { message: failed.message } : {}),
        ...(exitCode !== undefined ? { exitCode } : {}),
      };
    }
    if (cancelled) return { phase: 'CANCELLED', rawState: 'Deleting', reason: 'Cancelled' };
    const st = job.status ?? {};
    const interim = conditionTrue(job, 'SuccessCriteriaMet') ?? conditionTrue(job, 'FailureTarget');
    if (interim !== undefined) return { phase: 'RUNNING', rawState: interim.type };
    if ((st.succeeded ?? 0) > 0 || (st.failed ?? 0) > 0) return { phase: 'RUNNING', rawState: 'Finishing' };
    if ((st.ready ?? 0) > 0) return { phase: 'RUNNING', rawState: 'Running' };
    if ((st.active ?? 0) > 0) {
      if (st.ready === undefined) return { phase: 'RUNNING', rawState: 'Active' };
      // active counts pods that are still Pending (image pull, scheduling): look at the pod.
      const pod = await this.findPod(namespace, name, h.backendUid, signal);
      if (pod?.status?.phase === 'Running') return { phase: 'RUNNING', rawState: 'Running' };
      const waiting = pod?.status?.containerStatuses?.find((c) => c.name === CONTAINER_NAME)?.state?.waiting;
      return {
        phase: 'PENDING',
        rawState: 'PodPending',
        ...(waiting?.reason !== undefined ? { reason: waiting.reason } : {}),
        ...(waiting?.message !== undefined ? { message: waiting.message } : {}),
      };
    }
    if (job.spec?.suspend === true) return { phase: 'PENDING', rawState: 'Suspended' };
    return { phase: 'PENDING', rawState: 'Pending' };
  }

  /** The Job's pod (the newest, of this Job's uid when known), or null. */
  private async findPod(namespace: string, name: string, uid: string | undefined, signal?: AbortSignal): Promise<V1Pod | null> {
    const list = await this.call(
      `list pods of job ${namespace}/${name}`,
      (o) => this.core.listNamespacedPod({ namespace, labelSelector: `batch.kubernetes.io/job-name=${name}` }, o),
      signal,
    );
    const pods = list.items
      .filter((p) => {
        const owner = p.metadata?.labels?.['batch.kubernetes.io/controller-uid'] ?? p.metadata?.labels?.['controller-uid'];
        return uid === undefined || owner === undefined || owner === uid;
      })
      .sort((a, b) => timeOf(b.metadata?.creationTimestamp) - timeOf(a.metadata?.creationTimestamp));
    return pods[0] ?? null;
  }

  async cancel(h: ExecutionHandle): Promise<CancelResult> {
    this.ensureOpen('cancel');
    const { namespace, name } = parseBackendId(h);
    const what = `delete job ${namespace}/${name}`;
    // A Job we deleted is CANCELLED, a terminal phase; one gone otherwise is not found.
    const gone = (): CancelResult => (this.cancelled.has(h.backendId) ? 'already-terminal' : 'not-found');
    for (let round = 0; round < 5; round++) {
      const job = await this.readJob(namespace, name);
      if (job === null) return gone();
      const uid = job.metadata?.uid;
      if (h.backendUid !== undefined && uid !== h.backendUid) return gone();
      if (isTerminal(job)) return 'already-terminal';
      const preconditions = {
        ...(uid !== undefined ? { uid } : {}),
        // On the last round, uid only: a Job whose status keeps changing is still deleted.
        ...(round < 4 && job.metadata?.resourceVersion !== undefined ? { resourceVersion: job.metadata.resourceVersion } : {}),
      };
      const known = this.cancelled.has(h.backendId);
      this.cancelled.add(h.backendId); // before the call: an ambiguous delete that did happen is still ours
      try {
        await this.call(
          what,
          (o) =>
            this.batch.deleteNamespacedJob(
              {
                name,
                namespace,
                propagationPolicy: 'Background',
                body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions },
              },
              o,
            ),
        );
        return 'requested';
      } catch (e) {
        if (e instanceof AdapterError && e.category === 'not-found') return known ? 'already-terminal' : 'requested';
        if (!known) this.cancelled.delete(h.backendId);
        if (e instanceof AdapterError && e.category === 'conflict') continue; // changed since read: look again
        throw e;
      }
    }
    throw new AdapterError(`kubernetes ${what}: the Job kept changing`, 'transient', 409);
  }

  async logs(h: ExecutionHandle, opts?: { readonly tailLines?: number; readonly cursor?: string }): Promise<LogChunk> {
    this.ensureOpen('logs');
    const { namespace, name } = parseBackendId(h);
    const empty: LogChunk = { text: '', available: true, truncated: false, ...(opts?.cursor !== undefined ? { nextCursor: opts.cursor } : {}) };
    const pod = await this.findPod(namespace, name, h.backendUid);
    const podName = pod?.metadata?.name;
    if (pod === null || podName === undefined) return empty;
    const state = pod.status?.containerStatuses?.find((c) => c.name === CONTAINER_NAME)?.state;
    if (state?.running === undefined && state?.terminated === undefined) return empty; // not started yet
    let text: string;
    try {
      text = await this.call(
        `read log of pod ${namespace}/${podName}`,
        (o) => this.core.readNamespacedPodLog({ name: podName, namespace, container: CONTAINER_NAME }, o),
      );
    } catch (e) {
      // 404: the pod went away; 400: its container is waiting to start.
      if (e instanceof AdapterError && (e.category === 'not-found' || e.status === 400)) return empty;
      throw e;
    }
    return logChunkOf(typeof text === 'string' ? text : String(text), opts);
  }

  async cleanup(h: ExecutionHandle): Promise<void> {
    this.ensureOpen('cleanup');
    const { namespace, name } = parseBackendId(h);
    try {
      await this.call(`delete job ${namespace}/${name}`, (o) =>
        this.batch.deleteNamespacedJob(
          {
            name,
            namespace,
            propagationPolicy: 'Background',
            body: {
              apiVersion: 'v1',
              kind: 'DeleteOptions',
              propagationPolicy: 'Background',
              ...(h.backendUid !== undefined ? { preconditions: { uid: h.backendUid } } : {}),
            },
          },
          o,
        ),
      );
    } catch (e) {
      if (e instanceof AdapterError && e.category === 'not-found') return;
      // 409 on the uid precondition: the name now belongs to another Job; ours is gone.
      if (e instanceof AdapterError && e.category === 'conflict') return;
      throw e;
    }
  }

  /**
   * Polls `status` every `pollIntervalMs` until a terminal phase. Not part of the contract; the
   * engine has its own loop. Rejects with AdapterError('transient') when `timeoutMs` passes.
   */
  async wait(h: ExecutionHandle, opts: KubernetesWaitOptions = {}): Promise<StatusReport> {
    return pollUntilTerminal('kubernetes', h, (o) => this.status(h, o), (ms, signal) => this.sleep(ms, signal), () => this.ensureOpen('wait'), opts, this.pollIntervalMs);
  }

  /** Aborts calls in flight and backoff sleeps; later calls reject with AdapterError('invalid'). */
  close(): void {
    this.calls.close();
  }
}
