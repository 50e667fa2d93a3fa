/**
 * This file defines the KubeRay executor adapter ("kuberay"): each attempt runs as one RayJob
 * (ray.io/v1, rayjob-manifest.ts), which brings up one fresh RayCluster and shuts it down when the
 * job ends. Driven through `@kubernetes/client-node` 1.4.0's CustomObjectsApi by polling.
 *
 * Behaviour, per the executor contract (../contract.ts), as the Jobs adapter's:
 * - every call has a timeout and is classified from the HTTP status; transient failures are
 *   retried with bounded backoff (../kubernetes/client-calls.ts);
 * - `submit` creates the RayJob named `submissionIdOf(ref, task, 47)`; a 409 AlreadyExists adopts
 *   the existing RayJob after checking its attempt labels, so one attempt never gets two RayJobs
 *   (nor two clusters);
 * - `status` is terminal only when `jobDeploymentStatus` is Complete or Failed. Then `jobStatus`
 *   decides: SUCCEEDED → SUCCEEDED, FAILED → FAILED (reason `status.reason`, AppFailed when
 *   empty; the exit code from Ray's message "... failed with exit code N"), STOPPED → CANCELLED;
 *   Failed with reason DeadlineExceeded → FAILED "DeadlineExceeded" whatever the jobStatus; other
 *   Failed reasons (SubmissionFailed, ...) → FAILED with that reason. Running → RUNNING; anything
 *   else ("", Initializing, Waiting, Retrying, Suspending, Suspended) → PENDING, with the
 *   RayCluster's state as the reason while it starts. A RayJob that 404s is LOST, or CANCELLED
 *   when this adapter instance deleted it (in memory only); a same-name RayJob with another uid
 *   is LOST.
 * - `cancel` and `cleanup` delete the RayJob with `propagationPolicy: Background`, which also
 *   removes its RayCluster and submitter Job. `cancel` sends uid + resourceVersion preconditions,
 *   so a RayJob that ended between our read and our delete is reported as it really ended.
 * - `logs` reads the log of the submitter Job's pod (K8sJobMode: a batch/v1 Job named like the
 *   RayJob; container "ray-job-submitter"). The cursor is a byte offset, as in the Jobs adapter.
 */
import { type KubeConfig as KubeConfigType, KubeConfig } from '@kubernetes/client-node';
import {
  TERMINAL_PHASES,
  AdapterError,
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
import {
  CustomObjects,
  KubeCalls,
  field,
  metadataOf,
  parseNamespacedId,
  stringField,
  type CallRetryOptions,
} from '../kubernetes/client-calls.js';
import { RAYJOB_NAME_MAX, RAY_SUBMITTER_CONTAINER, buildRayJobManifest } from './rayjob-manifest.js';

/** Options of a KubeRayAdapter. */
export interface KubeRayAdapterOptions {
  /** Cluster and credentials. @default a KubeConfig loaded with loadFromDefault() */
  readonly kubeConfig?: KubeConfigType;
  /** Namespace of RayJobs whose resources name none. @default the current context's namespace, else "default" */
  readonly namespace?: string;
  /** Timeout of each API call, in ms. @default 30000 */
  readonly callTimeoutMs?: number;
  readonly retries?: CallRetryOptions;
  /** The RayJobs' `ttlSecondsAfterFinished`: how long a finished job's cluster stays. @default 60 */
  readonly ttlSecondsAfterFinished?: number;
  /** Image of the head and workers. @default the task's resources.image */
  readonly rayImage?: string;
  /** `rayClusterSpec.rayVersion` (KubeRay uses it for feature checks). @default unset */
  readonly rayVersion?: string;
  /** Interval of `wait()` polling, in ms. @default 1000 */
  readonly pollIntervalMs?: number;
  /** Source of jitter in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** Options of `wait`. */
export interface KubeRayWaitOptions extends CallOptions {
  readonly timeoutMs?: number;
  readonly pollIntervalMs?: number;
  readonly onStatus?: (s: StatusReport) => void;
}

const RAYJOBS = { group: 'ray.io', version: 'v1', plural: 'rayjobs', kind: 'RayJob' } as const;

/** The exit code in Ray's message of a failed entrypoint ("Job entrypoint command failed with exit code 3, ..."). */
function exitCodeOf(message: string | undefined): number | undefined {
  const m = message === undefined ? null : /failed with exit code (-?\d+)/.exec(message);
  return m === null ? undefined : Number(m[1]);
}

/**
 * The StatusReport of a RayJob object (pure): terminal only on jobDeploymentStatus Complete or
 * Failed, the outcome from jobStatus (see the file comment).
 */
export function rayJobStatusReport(rayJob: unknown): StatusReport {
  const st = field(rayJob, 'status');
  const jds = stringField(st, 'jobDeploymentStatus') ?? '';
  const js = stringField(st, 'jobStatus') ?? '';
  const reason = stringField(st, 'reason') ?? '';
  const message = stringField(st, 'message');
  const raw = `${jds === '' ? 'New' : jds}${js === '' ? '' : `/${js}`}`;
  const msg = message !== undefined && message !== '' ? { message } : {};
  if (jds === 'Complete' || jds === 'Failed') {
    if (jds === 'Failed' && reason === 'DeadlineExceeded') return { phase: 'FAILED', rawState: raw, reason: 'DeadlineExceeded', ...msg };
    if (js === 'SUCCEEDED' && jds === 'Complete') return { phase: 'SUCCEEDED', rawState: raw, exitCode: 0, ...msg };
    if (js === 'STOPPED') return { phase: 'CANCELLED', rawState: raw, reason: reason === '' ? 'Stopped' : reason, ...msg };
    const exitCode = js === 'FAILED' ? exitCodeOf(message) : undefined;
    return {
      phase: 'FAILED',
      rawState: raw,
      reason: reason !== '' ? reason : js === 'FAILED' ? 'AppFailed' : jds,
      ...msg,
      ...(exitCode !== undefined ? { exitCode } : {}),
    };
  }
  if (jds === 'Running') return { phase: 'RUNNING', rawState: raw };
  const clusterState = stringField(st, 'rayClusterStatus', 'state');
  return {
    phase: 'PENDING',
    rawState: raw,
    ...(reason !== '' ? { reason } : clusterState !== undefined && clusterState !== '' ? { reason: `cluster ${clusterState}` } : {}),
    ...msg,
  };
}

function isTerminalRayJob(rayJob: unknown): boolean {
  const jds = stringField(rayJob, 'status', 'jobDeploymentStatus');
  return jds === 'Complete' || jds === 'Failed';
}

/** Runs task attempts as KubeRay RayJobs, one fresh Ray cluster per attempt. */
export class KubeRayAdapter implements ExecutorAdapter {
  readonly kind = 'kuberay';
  /** The namespace of RayJobs whose resources name none. */
  readonly namespace: string;
  private readonly kc: KubeConfigType;
  private readonly calls: KubeCalls;
  private readonly objects: CustomObjects;
  private readonly ttl: number;
  private readonly rayImage: string | undefined;
  private readonly rayVersion: string | undefined;
  private readonly pollIntervalMs: number;
  /** backendIds this instance cancelled (a later 404 means CANCELLED, not LOST). */
  private readonly cancelled = new Set<string>();

  constructor(options: KubeRayAdapterOptions = {}) {
    let kc = options.kubeConfig;
    if (kc === undefined) {
      kc = new KubeConfig();
      kc.loadFromDefault();
    }
    this.kc = kc;
    const ctx = kc.getContextObject(kc.getCurrentContext());
    this.namespace = options.namespace ?? (ctx?.namespace !== undefined && ctx.namespace !== '' ? ctx.namespace : 'default');
    this.calls = new KubeCalls({
      label: 'kuberay',
      ...(options.callTimeoutMs !== undefined ? { callTimeoutMs: options.callTimeoutMs } : {}),
      ...(options.retries !== undefined ? { retries: options.retries } : {}),
      ...(options.random !== undefined ? { random: options.random } : {}),
    });
    this.objects = new CustomObjects(kc, this.calls, RAYJOBS);
    this.ttl = options.ttlSecondsAfterFinished ?? 60;
    this.rayImage = options.rayImage;
    this.rayVersion = options.rayVersion;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
  }

  /** The KubeConfig the adapter talks through. */
  get kubeConfig(): KubeConfigType {
    return this.kc;
  }


  async submit(spec: LaunchSpec, attempt: AttemptRef, opts?: CallOptions): Promise<ExecutionHandle> {
    this.calls.ensureOpen('submit');
    const manifest = buildRayJobManifest(spec, attempt, {
      namespace: this.namespace,
      ttlSecondsAfterFinished: this.ttl,
      ...(this.rayImage !== undefined ? { rayImage: this.rayImage } : {}),
      ...(this.rayVersion !== undefined ? { rayVersion: this.rayVersion } : {}),
    });
    return this.objects.submitHandle(this.kind, manifest, attempt, opts?.signal);
  }

  async lookup(attempt: AttemptRef, opts?: LookupHints): Promise<ExecutionHandle | null> {
    this.calls.ensureOpen('lookup');
    const namespace = opts?.namespace ?? this.namespace;
    return this.objects.lookupHandle(this.kind, attempt, namespace, opts?.task, RAYJOB_NAME_MAX, opts?.signal);
  }

  async status(h: ExecutionHandle, opts?: CallOptions): Promise<StatusReport> {
    this.calls.ensureOpen('status');
    const { namespace, name } = parseNamespacedId(h.executor, h.backendId, this.kind);
    const obj = await this.objects.get(namespace, name, opts?.signal);
    const cancelled = this.cancelled.has(h.backendId);
    if (obj === null) {
      return cancelled
        ? { phase: 'CANCELLED', rawState: 'Deleted', reason: 'Cancelled' }
        : { phase: 'LOST', rawState: 'NotFound', reason: 'NotFound', message: `RayJob ${namespace}/${name} no longer exists` };
    }
    const uid = metadataOf(obj).uid;
    if (h.backendUid !== undefined && uid !== h.backendUid) {
      return cancelled
        ? { phase: 'CANCELLED', rawState: 'Deleted', reason: 'Cancelled' }
        : { phase: 'LOST', rawState: 'Recreated', reason: 'UidChanged', message: `RayJob ${namespace}/${name} was re-created (uid ${uid ?? '?'}, expected ${h.backendUid})` };
    }
    const report = rayJobStatusReport(obj);
    if (!TERMINAL_PHASES.has(report.phase) && cancelled) return { phase: 'CANCELLED', rawState: 'Deleting', reason: 'Cancelled' };
    return report;
  }

  async cancel(h: ExecutionHandle): Promise<CancelResult> {
    this.calls.ensureOpen('cancel');
    const { namespace, name } = parseNamespacedId(h.executor, h.backendId, this.kind);
    const gone = (): CancelResult => (this.cancelled.has(h.backendId) ? 'already-terminal' : 'not-found');
    for (let round = 0; round < 5; round++) {
      const obj = await this.objects.get(namespace, name);
      if (obj === null) return gone();
      const meta = metadataOf(obj);
      if (h.backendUid !== undefined && meta.uid !== h.backendUid) return gone();
      if (isTerminalRayJob(obj)) return 'already-terminal';
      const known = this.cancelled.has(h.backendId);
      this.cancelled.add(h.backendId); // before the call: an ambiguous delete that did happen is still ours
      try {
        await this.deleteWith(namespace, name, meta.uid, round < 4 ? meta.resourceVersion : undefined);
        return 'requested';
      } catch (e) {
        if (e instanceof AdapterError && e.category === 'not-found') return known ? 'already-terminal' : 'requested';
        if (!known) this.cancelled.delete(h.backendId);
        if (e instanceof AdapterError && e.category === 'conflict') continue; // changed since read: look again
        throw e;
      }
    }
    throw new AdapterError(`kuberay delete RayJob ${namespace}/${name}: the RayJob kept changing`, 'transient', 409);
  }

  /** DELETE (Background) with uid and, when given, resourceVersion preconditions. */
  private async deleteWith(namespace: string, name: string, uid: string | undefined, resourceVersion: string | undefined): Promise<void> {
    const preconditions = { ...(uid !== undefined ? { uid } : {}), ...(resourceVersion !== undefined ? { resourceVersion } : {}) };
    await this.calls.call(`delete RayJob ${namespace}/${name}`, (o) =>
      this.objects.custom.deleteNamespacedCustomObject(
        {
          ...RAYJOBS,
          namespace,
          name,
          propagationPolicy: 'Background',
          body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', ...(Object.keys(preconditions).length > 0 ? { preconditions } : {}) },
        },
        o,
      ) as Promise<unknown>,
    );
  }

  async logs(h: ExecutionHandle, opts?: { readonly tailLines?: number; readonly cursor?: string }): Promise<LogChunk> {
    this.calls.ensureOpen('logs');
    const { namespace, name } = parseNamespacedId(h.executor, h.backendId, this.kind);
    const pods = await this.objects.pods(namespace, `batch.kubernetes.io/job-name=${name}`);
    return this.objects.podLog(namespace, pods[0] ?? null, RAY_SUBMITTER_CONTAINER, opts);
  }

  async cleanup(h: ExecutionHandle): Promise<void> {
    this.calls.ensureOpen('cleanup');
    const { namespace, name } = parseNamespacedId(h.executor, h.backendId, this.kind);
    try {
      await this.objects.delete(namespace, name, h.backendUid);
    } catch (e) {
      if (e instanceof AdapterError && (e.category === 'not-found' || e.category === 'conflict')) return;
      throw e;
    }
  }

  /** Polls `status` until a terminal phase (not part of the contract). Rejects with AdapterError('transient') after `timeoutMs`. */
  async wait(h: ExecutionHandle, opts: KubeRayWaitOptions = {}): Promise<StatusReport> {
    return pollUntilTerminal('kuberay', h, (o) => this.status(h, o), (ms, signal) => this.calls.sleep(ms, signal), () => this.calls.ensureOpen('wait'), opts, this.pollIntervalMs);
  }

  /** Aborts calls in flight and backoff sleeps; later calls reject with AdapterError('invalid'). */
  close(): void {
    this.calls.close();
  }
}
