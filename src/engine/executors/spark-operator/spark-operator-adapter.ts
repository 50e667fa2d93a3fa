/**
 * This file defines the spark-on-k8s operator executor adapter ("spark"): each attempt runs as one
 * SparkApplication (sparkoperator.k8s.io/v1beta2, sparkapp-manifest.ts), a fresh driver and
 * executors, through `@kubernetes/client-node` 1.4.0's CustomObjectsApi, by polling.
 *
 * Behaviour, per the executor contract (../contract.ts), as the Jobs adapter's:
 * - every call has a timeout and is classified from the HTTP status; transient failures are
 *   retried with bounded backoff (../kubernetes/client-calls.ts);
 * - `submit` creates the application named `submissionIdOf(ref, task, 40)`; a 409 adopts the
 *   existing one after checking its attempt labels;
 * - `status` maps `status.applicationState.state`: COMPLETED → SUCCEEDED; FAILED and
 *   SUBMISSION_FAILED → FAILED (reason the state, message `errorMessage`, the exit code from the
 *   operator's "driver container failed with ExitCode: N"); RUNNING, SUCCEEDING and FAILING →
 *   RUNNING (the driver ended, executors wind down: never terminal); "", SUBMITTED, PENDING_RERUN,
 *   INVALIDATING, UNKNOWN and the rest → PENDING. A 404 is LOST, or CANCELLED after our own cancel
 *   (in memory only); a same-name application with another uid is LOST.
 * - Deadline: SparkApplication has no deadline of its own, so the adapter keeps one: the attempt's
 *   `timeoutMs` is written as an absolute time (annotation `larkflow.dev/deadline`, the adapter's
 *   clock) and a `status` call past it on a non-terminal application deletes the application
 *   (Background) and reports FAILED "DeadlineExceeded" (also on the 404s after, within this
 *   adapter instance).
 * - `cancel` and `cleanup` delete the application with `propagationPolicy: Background` (driver
 *   and executor pods are owned and collected); `cancel` sends uid + resourceVersion
 *   preconditions so an application that ended meanwhile is reported as it ended.
 * - `logs` reads the log of `status.driverInfo.podName` (container "spark-kubernetes-driver"); the
 *   cursor is a byte offset, as in the Jobs adapter.
 */
import { KubeConfig, type KubeConfig as KubeConfigType } from '@kubernetes/client-node';
import {
  AdapterError,
  TERMINAL_PHASES,
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
import { CustomObjects, KubeCalls, field, metadataOf, parseNamespacedId, stringField, timeOf, type CallRetryOptions, type JsonRecord } from '../kubernetes/client-calls.js';
import { DEADLINE_ANNOTATION, SPARKAPP_NAME_MAX, SPARK_DRIVER_CONTAINER, buildSparkApplicationManifest } from './sparkapp-manifest.js';

/** Options of a SparkOperatorAdapter. */
export interface SparkOperatorAdapterOptions {
  /** Cluster and credentials. @default a KubeConfig loaded with loadFromDefault() */
  readonly kubeConfig?: KubeConfigType;
  /** Namespace of applications whose resources name none. @default the current context's namespace, else "default" */
  readonly namespace?: string;
  /** Timeout of each API call, in ms. @default 30000 */
  readonly callTimeoutMs?: number;
  readonly retries?: CallRetryOptions;
  /** `spec.sparkVersion`. @default "3.5.1" */
  readonly sparkVersion?: string;
  /** The image's runner entry script. @default "local:///opt/larkflow/runners/python/larkflow_entry.py" */
  readonly mainApplicationFile?: string;
  /** Image of driver and executors. @default the task's resources.image */
  readonly sparkImage?: string;
  /** `spec.timeToLiveSeconds` (the operator removes a finished application after it); null leaves it unset. @default 3600 */
  readonly timeToLiveSeconds?: number | null;
  /** The driver's service account when the task names none. @default unset (the namespace's default) */
  readonly serviceAccount?: string;
  /** Interval of `wait()` polling, in ms. @default 1000 */
  readonly pollIntervalMs?: number;
  /** Source of jitter in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** Options of `wait`. */
export interface SparkOperatorWaitOptions extends CallOptions {
  readonly timeoutMs?: number;
  readonly pollIntervalMs?: number;
  readonly onStatus?: (s: StatusReport) => void;
}

const SPARKAPPS = { group: 'sparkoperator.k8s.io', version: 'v1beta2', plural: 'sparkapplications', kind: 'SparkApplication' } as const;

const RUNNING_STATES = new Set(['RUNNING', 'SUCCEEDING', 'FAILING']);

/** The StatusReport of a SparkApplication object (pure). */
export function sparkApplicationStatusReport(app: unknown): StatusReport {
  const state = stringField(app, 'status', 'applicationState', 'state') ?? '';
  const errorMessage = stringField(app, 'status', 'applicationState', 'errorMessage');
  const raw = state === '' ? 'New' : state;
  if (state === 'COMPLETED') return { phase: 'SUCCEEDED', rawState: raw, exitCode: 0 };
  if (state === 'FAILED' || state === 'SUBMISSION_FAILED') {
    const m = errorMessage === undefined ? null : /ExitCode: (-?\d+)/.exec(errorMessage);
    return {
      phase: 'FAILED',
      rawState: raw,
      reason: state,
      ...(errorMessage !== undefined && errorMessage !== '' ? { message: errorMessage } : {}),
      ...(m !== null ? { exitCode: Number(m[1]) } : {}),
    };
  }
  if (RUNNING_STATES.has(state)) return { phase: 'RUNNING', rawState: raw };
  return { phase: 'PENDING', rawState: raw, ...(errorMessage !== undefined && errorMessage !== '' ? { message: errorMessage } : {}) };
}

function isTerminalApp(app: unknown): boolean {
  const state = stringField(app, 'status', 'applicationState', 'state');
  return state === 'COMPLETED' || state === 'FAILED' || state === 'SUBMISSION_FAILED';
}

/** Runs task attempts as SparkApplications of the spark-on-k8s operator. */
export class SparkOperatorAdapter implements ExecutorAdapter {
  readonly kind = 'spark';
  readonly namespace: string;
  private readonly kc: KubeConfigType;
  private readonly calls: KubeCalls;
  private readonly objects: CustomObjects;
  private readonly sparkVersion: string | undefined;
  private readonly mainApplicationFile: string | undefined;
  private readonly sparkImage: string | undefined;
  private readonly ttl: number | undefined;
  private readonly serviceAccount: string | undefined;
  private readonly pollIntervalMs: number;
  /** backendIds this instance cancelled (a later 404 means CANCELLED, not LOST). */
  private readonly cancelled = new Set<string>();
  /** backendIds this instance deleted past their deadline (a later 404 is still FAILED DeadlineExceeded). */
  private readonly deadlined = new Map<string, StatusReport>();

  constructor(options: SparkOperatorAdapterOptions = {}) {
    let kc = options.kubeConfig;
    if (kc === undefined) {
      kc = new KubeConfig();
      kc.loadFromDefault();
    }
    this.kc = kc;
    const ctx = kc.getContextObject(kc.getCurrentContext());
    this.namespace = options.namespace ?? (ctx?.namespace !== undefined && ctx.namespace !== '' ? ctx.namespace : 'default');
    this.calls = new KubeCalls({
      label: 'spark-operator',
      ...(options.callTimeoutMs !== undefined ? { callTimeoutMs: options.callTimeoutMs } : {}),
      ...(options.retries !== undefined ? { retries: options.retries } : {}),
      ...(options.random !== undefined ? { random: options.random } : {}),
    });
    this.objects = new CustomObjects(kc, this.calls, SPARKAPPS);
    this.sparkVersion = options.sparkVersion;
    this.mainApplicationFile = options.mainApplicationFile;
    this.sparkImage = options.sparkImage;
    this.ttl = options.timeToLiveSeconds === null ? undefined : (options.timeToLiveSeconds ?? 3600);
    this.serviceAccount = options.serviceAccount;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
  }

  get kubeConfig(): KubeConfigType {
    return this.kc;
  }


  async submit(spec: LaunchSpec, attempt: AttemptRef, opts?: CallOptions): Promise<ExecutionHandle> {
    this.calls.ensureOpen('submit');
    const manifest = buildSparkApplicationManifest(spec, attempt, {
      namespace: this.namespace,
      ...(this.sparkVersion !== undefined ? { sparkVersion: this.sparkVersion } : {}),
      ...(this.mainApplicationFile !== undefined ? { mainApplicationFile: this.mainApplicationFile } : {}),
      ...(this.sparkImage !== undefined ? { sparkImage: this.sparkImage } : {}),
      ...(this.ttl !== undefined ? { timeToLiveSeconds: this.ttl } : {}),
      ...(this.serviceAccount !== undefined ? { serviceAccount: this.serviceAccount } : {}),
    });
    return this.objects.submitHandle(this.kind, manifest, attempt, opts?.signal);
  }

  async lookup(attempt: AttemptRef, opts?: LookupHints): Promise<ExecutionHandle | null> {
    this.calls.ensureOpen('lookup');
    const namespace = opts?.namespace ?? this.namespace;
    return this.objects.lookupHandle(this.kind, attempt, namespace, opts?.task, SPARKAPP_NAME_MAX, opts?.signal);
  }

  async status(h: ExecutionHandle, opts?: CallOptions): Promise<StatusReport> {
    this.calls.ensureOpen('status');
    const { namespace, name } = parseNamespacedId(h.executor, h.backendId, this.kind);
    const obj = await this.objects.get(namespace, name, opts?.signal);
    const cancelled = this.cancelled.has(h.backendId);
    const deadlined = this.deadlined.get(h.backendId);
    const sameUid = obj !== null && (h.backendUid === undefined || metadataOf(obj).uid === h.backendUid);
    if (!sameUid) {
      if (deadlined !== undefined) return deadlined;
      if (cancelled) return { phase: 'CANCELLED', rawState: 'Deleted', reason: 'Cancelled' };
      return obj === null
        ? { phase: 'LOST', rawState: 'NotFound', reason: 'NotFound', message: `SparkApplication ${namespace}/${name} no longer exists` }
        : {
            phase: 'LOST',
            rawState: 'Recreated',
            reason: 'UidChanged',
            message: `SparkApplication ${namespace}/${name} was re-created (uid ${metadataOf(obj).uid ?? '?'}, expected ${h.backendUid ?? '?'})`,
          };
    }
    const report = sparkApplicationStatusReport(obj);
    if (TERMINAL_PHASES.has(report.phase)) return report;
    if (deadlined !== undefined) return deadlined;
    if (cancelled) return { phase: 'CANCELLED', rawState: 'Deleting', reason: 'Cancelled' };
    const deadline = metadataOf(obj).annotations?.[DEADLINE_ANNOTATION];
    if (deadline !== undefined && timeOf(deadline) > 0 && Date.now() >= timeOf(deadline)) {
      const failed: StatusReport = {
        phase: 'FAILED',
        rawState: report.rawState,
        reason: 'DeadlineExceeded',
        message: `SparkApplication ${namespace}/${name} was still ${report.rawState} at its deadline ${deadline}; deleted`,
      };
      this.deadlined.set(h.backendId, failed);
      try {
        await this.objects.delete(namespace, name, metadataOf(obj).uid, opts?.signal);
      } catch (e) {
        if (!(e instanceof AdapterError) || (e.category !== 'not-found' && e.category !== 'conflict')) {
          this.deadlined.delete(h.backendId);
          throw e;
        }
      }
      return failed;
    }
    return report;
  }

  async cancel(h: ExecutionHandle): Promise<CancelResult> {
    this.calls.ensureOpen('cancel');
    const { namespace, name } = parseNamespacedId(h.executor, h.backendId, this.kind);
    if (this.deadlined.has(h.backendId)) return 'already-terminal';
    const gone = (): CancelResult => (this.cancelled.has(h.backendId) ? 'already-terminal' : 'not-found');
    for (let round = 0; round < 5; round++) {
      const obj = await this.objects.get(namespace, name);
      if (obj === null) return gone();
      const meta = metadataOf(obj);
      if (h.backendUid !== undefined && meta.uid !== h.backendUid) return gone();
      if (isTerminalApp(obj)) return 'already-terminal';
      const known = this.cancelled.has(h.backendId);
      this.cancelled.add(h.backendId);
      const preconditions = { ...(meta.uid !== undefined ? { uid: meta.uid } : {}), ...(round < 4 && meta.resourceVersion !== undefined ? { resourceVersion: meta.resourceVersion } : {}) };
      try {
        await this.calls.call(`delete SparkApplication ${namespace}/${name}`, (o) =>
          this.objects.custom.deleteNamespacedCustomObject(
            {
              ...SPARKAPPS,
              namespace,
              name,
              propagationPolicy: 'Background',
              body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions },
            },
            o,
          ) as Promise<unknown>,
        );
        return 'requested';
      } catch (e) {
        if (e instanceof AdapterError && e.category === 'not-found') return known ? 'already-terminal' : 'requested';
        if (!known) this.cancelled.delete(h.backendId);
        if (e instanceof AdapterError && e.category === 'conflict') continue;
        throw e;
      }
    }
    throw new AdapterError(`spark-operator delete SparkApplication ${namespace}/${name}: the application kept changing`, 'transient', 409);
  }

  async logs(h: ExecutionHandle, opts?: { readonly tailLines?: number; readonly cursor?: string }): Promise<LogChunk> {
    this.calls.ensureOpen('logs');
    const { namespace, name } = parseNamespacedId(h.executor, h.backendId, this.kind);
    const empty: LogChunk = { text: '', available: true, truncated: false, ...(opts?.cursor !== undefined ? { nextCursor: opts.cursor } : {}) };
    const obj = await this.objects.get(namespace, name);
    if (obj === null || (h.backendUid !== undefined && metadataOf(obj).uid !== h.backendUid)) return empty;
    const podName = stringField(field(obj, 'status', 'driverInfo'), 'podName');
    if (podName === undefined || podName === '') return empty;
    const pod = await this.objects.pod(namespace, podName);
    return this.objects.podLog(namespace, pod, SPARK_DRIVER_CONTAINER, opts);
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
  async wait(h: ExecutionHandle, opts: SparkOperatorWaitOptions = {}): Promise<StatusReport> {
    return pollUntilTerminal('spark-operator', h, (o) => this.status(h, o), (ms, signal) => this.calls.sleep(ms, signal), () => this.calls.ensureOpen('wait'), opts, this.pollIntervalMs);
  }

  close(): void {
    this.calls.close();
  }
}
