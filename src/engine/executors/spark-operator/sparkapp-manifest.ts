/**
 * This file builds the SparkApplication (sparkoperator.k8s.io/v1beta2) of one attempt (pure: no
 * I/O). One attempt is one application: `restartPolicy: {type: Never}` (the engine retries, each
 * retry a new application with new driver and executor pods), `timeToLiveSeconds` to collect it.
 *
 * The application is a Python one whose `mainApplicationFile` is the image's runner entry script
 * (default `local:///opt/larkflow/runners/python/larkflow_entry.py`, which does what
 * `python3 -m larkflow_runner` does). `arguments` is empty: no data on a command line; the
 * runner finds its input and result through the I/O URLs in the environment. `spec.command` is not
 * used (the entry script is the runner).
 *
 * Mapping of `SparkTask(...)` (TaskResources.spark), driver sizes falling back to the task's
 * cpu/memory/gpu:
 * - `driverCpu`/`executorCpu` → `cores` (whole cores, ≥ 1, rounded up) and `coreLimit` (the
 *   quantity as written);
 * - `driverMemory`/`executorMemory` → `memory` as a Spark size ("4Gi" → "4g", "512Mi" → "512m";
 *   ../livy/spark-sizes.ts);
 * - `driverGpu`/`executorGpu` → `gpu: {name: "nvidia.com/gpu", quantity}`;
 * - `executorInstances` → `executor.instances` (default 1);
 * - `conf` → `sparkConf`.
 * The driver's and executors' env: the resources' env, `spec.env` (wins), `LARKFLOW_SESSION=spark`
 * and `LARKFLOW_SPARK_APP_NAME` (the application's name). Driver and executors carry the
 * attempt labels.
 */
import { AdapterError, IO_ENV, attemptLabels, submissionIdOf, type AttemptRef, type LaunchSpec } from '../contract.js';
import { attemptAnnotations, type JsonRecord } from '../kubernetes/client-calls.js';
import { QuantityError, validateQuantity } from '../kubernetes/quantities.js';
import { sparkCores, sparkMemory } from '../livy/spark-sizes.js';

/** SparkApplication names stay ≤ 40: the driver pod and UI service names append suffixes. */
export const SPARKAPP_NAME_MAX = 40;

/** The driver's container (its log is the attempt's log). */
export const SPARK_DRIVER_CONTAINER = 'spark-kubernetes-driver';

/** The image's runner entry script. */
export const DEFAULT_MAIN_APPLICATION_FILE = 'local:///opt/larkflow/runners/python/larkflow_entry.py';

/** The environment variable with the application's name. */
export const SPARK_APP_NAME_ENV = 'LARKFLOW_SPARK_APP_NAME';

/** Annotation with the attempt's deadline (ISO time), enforced by the adapter (SparkApplication has none). */
export const DEADLINE_ANNOTATION = 'larkflow.dev/deadline';

/** Options of `buildSparkApplicationManifest` that come from the adapter rather than the task. */
export interface SparkApplicationManifestOptions {
  readonly namespace: string;
  /** @default "3.5.1" */
  readonly sparkVersion?: string;
  /** @default DEFAULT_MAIN_APPLICATION_FILE */
  readonly mainApplicationFile?: string;
  /** Image of driver and executors. @default spec.resources.image */
  readonly sparkImage?: string;
  /** `timeToLiveSeconds`; undefined leaves it unset. */
  readonly timeToLiveSeconds?: number;
  /** Service account of the driver when the task names none (it must be allowed to create executor pods). */
  readonly serviceAccount?: string;
  /** The time the attempt starts, for the deadline annotation. @default Date.now() */
  readonly now?: number;
}

/** A SparkApplication manifest (plain JSON, for CustomObjectsApi). */
export interface SparkApplicationManifest extends JsonRecord {
  readonly apiVersion: 'sparkoperator.k8s.io/v1beta2';
  readonly kind: 'SparkApplication';
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels: Record<string, string>; readonly annotations: Record<string, string> };
  readonly spec: JsonRecord;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function invalid(message: string): never {
  throw new AdapterError(message, 'invalid');
}

function checked<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof QuantityError) invalid(`${what}: ${e.message}`);
    throw e;
  }
}

function gpuOf(n: number | undefined, what: string): JsonRecord | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 0) invalid(`${what} gpu must be a whole number ≥ 0, not ${n}`);
  return n > 0 ? { name: 'nvidia.com/gpu', quantity: n } : undefined;
}

/** The SparkApplication of an attempt. Throws AdapterError('invalid') when the spec cannot become one. */
export function buildSparkApplicationManifest(spec: LaunchSpec, ref: AttemptRef, opts: SparkApplicationManifestOptions): SparkApplicationManifest {
  const r = spec.resources;
  const s = r.spark ?? {};
  const name = submissionIdOf(ref, spec.task, SPARKAPP_NAME_MAX);
  const namespace = r.namespace ?? opts.namespace;
  if (!DNS_LABEL.test(namespace) || namespace.length > 63) invalid(`invalid Kubernetes namespace ${JSON.stringify(namespace)}`);
  const image = opts.sparkImage ?? r.image;
  if (image === undefined || image.trim() === '') invalid(`task ${JSON.stringify(spec.task)} has no container image (resources.image)`);
  const instances = s.executorInstances ?? 1;
  if (!Number.isInteger(instances) || instances < 1) invalid(`executorInstances must be a whole number ≥ 1, not ${instances}`);

  const env: Record<string, string> = { ...(r.env ?? {}), ...spec.env, [IO_ENV.session]: 'spark', [SPARK_APP_NAME_ENV]: name };
  const envList = Object.entries(env).map(([n, value]) => ({ name: n, value }));
  const labels = attemptLabels(ref, spec.task);

  const role = (cpu: string | undefined, memory: string | undefined, gpu: number | undefined, what: string): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    out['cores'] = cpu === undefined ? 1 : checked(`${what} cpu`, () => sparkCores(cpu));
    if (cpu !== undefined) out['coreLimit'] = checked(`${what} cpu`, () => validateQuantity('cpu', cpu));
    if (memory !== undefined) out['memory'] = checked(`${what} memory`, () => sparkMemory(memory));
    const g = gpuOf(gpu, what);
    if (g !== undefined) out['gpu'] = g;
    out['labels'] = { ...labels };
    out['env'] = envList.map((e) => ({ ...e }));
    if (r.nodeSelector !== undefined) out['nodeSelector'] = { ...r.nodeSelector };
    return out;
  };
  const driver = role(s.driverCpu ?? r.cpu, s.driverMemory ?? r.memory, s.driverGpu ?? r.gpu, 'driver');
  const serviceAccount = r.serviceAccount ?? opts.serviceAccount;
  if (serviceAccount !== undefined) driver['serviceAccount'] = serviceAccount;
  const executor = { ...role(s.executorCpu, s.executorMemory, s.executorGpu, 'executor'), instances, deleteOnTermination: true };

  const sparkConf: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.conf ?? {})) {
    if (typeof v !== 'string') invalid(`spark conf ${JSON.stringify(k)} must be a string, not ${JSON.stringify(v)}`);
    sparkConf[k] = v;
  }

  const annotations = attemptAnnotations(ref, spec.task);
  if (spec.timeoutMs !== undefined) {
    if (!(spec.timeoutMs > 0)) invalid(`timeoutMs must be positive, not ${spec.timeoutMs}`);
    annotations[DEADLINE_ANNOTATION] = new Date((opts.now ?? Date.now()) + spec.timeoutMs).toISOString();
  }
  const appSpec: Record<string, unknown> = {
    type: 'Python',
    mode: 'cluster',
    sparkVersion: opts.sparkVersion ?? '3.5.1',
    image,
    mainApplicationFile: opts.mainApplicationFile ?? DEFAULT_MAIN_APPLICATION_FILE,
    arguments: [],
    restartPolicy: { type: 'Never' },
    driver,
    executor,
    ...(Object.keys(sparkConf).length > 0 ? { sparkConf } : {}),
  };
  if (opts.timeToLiveSeconds !== undefined) {
    if (!Number.isInteger(opts.timeToLiveSeconds) || opts.timeToLiveSeconds < 0) invalid('timeToLiveSeconds must be a whole number ≥ 0');
    appSpec['timeToLiveSeconds'] = opts.timeToLiveSeconds;
  }
  return {
    apiVersion: 'sparkoperator.k8s.io/v1beta2',
    kind: 'SparkApplication',
    metadata: { name, namespace, labels: { ...labels }, annotations },
    spec: appSpec,
  };
}
