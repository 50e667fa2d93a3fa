/**
 * This file builds the KubeRay RayJob (ray.io/v1) of one attempt (pure: no I/O). One attempt is one
 * RayJob and so one fresh RayCluster: `backoffLimit: 0` (a KubeRay retry would bring another cluster
 * under the same RayJob), `shutdownAfterJobFinishes: true` with `ttlSecondsAfterFinished` (the
 * cluster goes when the Ray job ends), `activeDeadlineSeconds` from the attempt's timeout as a
 * backstop, `submissionMode: K8sJobMode` (a submitter Job, named like the RayJob, runs the
 * entrypoint's submission; its pod log is the attempt's log).
 *
 * Mapping of `RayTask(...)` (TaskResources.ray), each falling back to the task's cpu/memory/gpu:
 * - head: `headCpu`, `headMemory`, `headDisk` (ephemeral-storage), `headGpu` (`nvidia.com/gpu`)
 *   as container requests = limits (KubeRay derives `ray start --num-cpus/--memory/--num-gpus`
 *   from the limits); `headObjectStoreMemory` → rayStartParams `object-store-memory` in bytes.
 * - one worker group "workers": `workerInstances` (default 1; 0 is a head-only cluster) as replicas
 *   = minReplicas = maxReplicas, and the worker* sizes as for the head (no fallback to the task's
 *   sizes, which are the head's).
 * - `entrypointCpu`/`entrypointGpu` → `entrypointNumCpus`/`entrypointNumGpus`.
 * - `runtimeEnv` is passed through as `runtimeEnvYAML` (JSON, which is YAML), its `env_vars`
 *   extended with the attempt's environment (`spec.env`, which wins) and `LARKFLOW_SESSION=ray`.
 *   The same environment is also set on the head and worker containers.
 * - the entrypoint is `spec.command` shell-quoted (no data on the command line: the input and
 *   result travel by the I/O URLs in the environment).
 */
import type { V1Container, V1EnvVar, V1ResourceRequirements } from '@kubernetes/client-node';
import { AdapterError, IO_ENV, attemptLabels, submissionIdOf, type AttemptRef, type LaunchSpec } from '../contract.js';
import type { Json } from '../../core/json.js';
import { attemptAnnotations, type JsonRecord } from '../kubernetes/client-calls.js';
import { QuantityError, parseMemoryQuantity, validateQuantity } from '../kubernetes/quantities.js';

/** KubeRay's RayJob name limit (MaxRayJobNameLength = 53 - 6). */
export const RAYJOB_NAME_MAX = 47;

/** Container names. */
export const RAY_HEAD_CONTAINER = 'ray-head';
export const RAY_WORKER_CONTAINER = 'ray-worker';
/** The container of the submitter Job's pod (K8sJobMode). */
export const RAY_SUBMITTER_CONTAINER = 'ray-job-submitter';

/** Options of `buildRayJobManifest` that come from the adapter rather than the task. */
export interface RayJobManifestOptions {
  /** Namespace when the task's resources name none. */
  readonly namespace: string;
  /** `spec.ttlSecondsAfterFinished`: how long the cluster outlives the job. */
  readonly ttlSecondsAfterFinished: number;
  /** Image of the head and workers. @default spec.resources.image */
  readonly rayImage?: string;
  /** `rayClusterSpec.rayVersion`. */
  readonly rayVersion?: string;
}

/** A RayJob manifest (plain JSON, for CustomObjectsApi). */
export interface RayJobManifest extends JsonRecord {
  readonly apiVersion: 'ray.io/v1';
  readonly kind: 'RayJob';
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels: Record<string, string>; readonly annotations: Record<string, string> };
  readonly spec: JsonRecord;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function invalid(message: string): never {
  throw new AdapterError(message, 'invalid');
}

function quantity(kind: 'cpu' | 'memory', text: string, what: string): string {
  try {
    return validateQuantity(kind, text);
  } catch (e) {
    if (e instanceof QuantityError) invalid(`${what}: ${e.message}`);
    throw e;
  }
}

function bytesOf(text: string, what: string): string {
  try {
    return String(Math.floor(parseMemoryQuantity(text)));
  } catch (e) {
    if (e instanceof QuantityError) invalid(`${what}: ${e.message}`);
    throw e;
  }
}

/** POSIX shell quoting of one word. */
export function shellQuote(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_\/.,:=@%+-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line for `/bin/sh -c`. */
export function shellCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

function resourcesOf(cpu: string | undefined, memory: string | undefined, disk: string | undefined, gpu: number | undefined, what: string): V1ResourceRequirements | undefined {
  const r: Record<string, string> = {};
  if (cpu !== undefined) r['cpu'] = quantity('cpu', cpu, `${what} cpu`);
  if (memory !== undefined) r['memory'] = quantity('memory', memory, `${what} memory`);
  if (disk !== undefined) r['ephemeral-storage'] = quantity('memory', disk, `${what} disk`);
  if (gpu !== undefined) {
    if (!Number.isInteger(gpu) || gpu < 0) invalid(`${what} gpu must be a whole number ≥ 0, not ${gpu}`);
    if (gpu > 0) r['nvidia.com/gpu'] = String(gpu);
  }
  if (Object.keys(r).length === 0) return undefined;
  return { requests: { ...r }, limits: { ...r } };
}

function isJsonObject(v: Json | undefined): v is { readonly [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The environment of the attempt's Ray job: resources' env, spec.env (wins), LARKFLOW_SESSION=ray. */
export function rayJobEnv(spec: LaunchSpec): Record<string, string> {
  return { ...(spec.resources.env ?? {}), ...spec.env, [IO_ENV.session]: 'ray' };
}

/**
 * The RayJob of an attempt. Throws AdapterError('invalid') when the spec cannot become one: no
 * image, an empty command, a bad quantity or GPU count, a bad worker count or namespace.
 */
export function buildRayJobManifest(spec: LaunchSpec, ref: AttemptRef, opts: RayJobManifestOptions): RayJobManifest {
  const r = spec.resources;
  const ray = r.ray ?? {};
  const name = submissionIdOf(ref, spec.task, RAYJOB_NAME_MAX);
  const namespace = r.namespace ?? opts.namespace;
  if (!DNS_LABEL.test(namespace) || namespace.length > 63) invalid(`invalid Kubernetes namespace ${JSON.stringify(namespace)}`);
  const image = opts.rayImage ?? r.image;
  if (image === undefined || image.trim() === '') invalid(`task ${JSON.stringify(spec.task)} has no container image (resources.image)`);
  if (spec.command.length === 0) invalid(`task ${JSON.stringify(spec.task)} has an empty command`);
  const workers = ray.workerInstances ?? 1;
  if (!Number.isInteger(workers) || workers < 0) invalid(`workerInstances must be a whole number ≥ 0, not ${workers}`);

  const env = rayJobEnv(spec);
  const envList: V1EnvVar[] = Object.entries(env).map(([n, value]) => ({ name: n, value }));

  // runtime env: passed through, env_vars extended (the attempt's variables win)
  const runtimeEnv: Record<string, Json> = { ...(ray.runtimeEnv ?? {}) };
  const given = ray.runtimeEnv?.['env_vars'];
  const envVars: Record<string, Json> = {};
  if (isJsonObject(given)) for (const [k, v] of Object.entries(given)) envVars[k] = typeof v === 'string' ? v : JSON.stringify(v);
  Object.assign(envVars, env);
  runtimeEnv['env_vars'] = envVars;

  const labels = attemptLabels(ref, spec.task);
  const headResources = resourcesOf(ray.headCpu ?? r.cpu, ray.headMemory ?? r.memory, ray.headDisk, ray.headGpu ?? r.gpu, 'head');
  const workerResources = resourcesOf(ray.workerCpu, ray.workerMemory, ray.workerDisk, ray.workerGpu, 'worker');
  const headParams: Record<string, string> = { 'dashboard-host': '0.0.0.0' };
  if (ray.headObjectStoreMemory !== undefined) headParams['object-store-memory'] = bytesOf(ray.headObjectStoreMemory, 'head object store memory');
  const workerParams: Record<string, string> = {};
  if (ray.workerObjectStoreMemory !== undefined) workerParams['object-store-memory'] = bytesOf(ray.workerObjectStoreMemory, 'worker object store memory');

  const container = (cname: string, resources: V1ResourceRequirements | undefined, ports?: V1Container['ports']): V1Container => ({
    name: cname,
    image,
    ...(ports !== undefined ? { ports } : {}),
    ...(envList.length > 0 ? { env: envList.map((e) => ({ ...e })) } : {}),
    ...(resources !== undefined ? { resources } : {}),
  });
  const podSpec = (c: V1Container): JsonRecord => ({
    containers: [c],
    ...(r.nodeSelector !== undefined ? { nodeSelector: { ...r.nodeSelector } } : {}),
    ...(r.serviceAccount !== undefined ? { serviceAccountName: r.serviceAccount } : {}),
  });
  const headPorts = [
    { containerPort: 6379, name: 'gcs-server' },
    { containerPort: 8265, name: 'dashboard' },
    { containerPort: 10001, name: 'client' },
  ];

  const jobSpec: Record<string, unknown> = {
    entrypoint: shellCommand(spec.command),
    jobId: name,
    runtimeEnvYAML: JSON.stringify(runtimeEnv),
    metadata: { ...labels },
    submissionMode: 'K8sJobMode',
    shutdownAfterJobFinishes: true,
    ttlSecondsAfterFinished: opts.ttlSecondsAfterFinished,
    backoffLimit: 0,
    rayClusterSpec: {
      ...(opts.rayVersion !== undefined ? { rayVersion: opts.rayVersion } : {}),
      headGroupSpec: {
        rayStartParams: headParams,
        template: { metadata: { labels: { ...labels } }, spec: podSpec(container(RAY_HEAD_CONTAINER, headResources, headPorts)) },
      },
      workerGroupSpecs: [
        {
          groupName: 'workers',
          replicas: workers,
          minReplicas: workers,
          maxReplicas: workers,
          rayStartParams: workerParams,
          template: { metadata: { labels: { ...labels } }, spec: podSpec(container(RAY_WORKER_CONTAINER, workerResources)) },
        },
      ],
    },
  };
  if (ray.entrypointCpu !== undefined) {
    if (!(ray.entrypointCpu >= 0)) invalid(`entrypointCpu must be ≥ 0, not ${ray.entrypointCpu}`);
    jobSpec['entrypointNumCpus'] = ray.entrypointCpu;
  }
  if (ray.entrypointGpu !== undefined) {
    if (!(ray.entrypointGpu >= 0)) invalid(`entrypointGpu must be ≥ 0, not ${ray.entrypointGpu}`);
    jobSpec['entrypointNumGpus'] = ray.entrypointGpu;
  }
  if (spec.timeoutMs !== undefined) {
    if (!(spec.timeoutMs > 0)) invalid(`timeoutMs must be positive, not ${spec.timeoutMs}`);
    jobSpec['activeDeadlineSeconds'] = Math.ceil(spec.timeoutMs / 1000);
  }
  if (!Number.isInteger(opts.ttlSecondsAfterFinished) || opts.ttlSecondsAfterFinished < 0) invalid(`ttlSecondsAfterFinished must be a whole number ≥ 0`);
  return {
    apiVersion: 'ray.io/v1',
    kind: 'RayJob',
    metadata: { name, namespace, labels: { ...labels }, annotations: attemptAnnotations(ref, spec.task) },
    spec: jobSpec,
  };
}
