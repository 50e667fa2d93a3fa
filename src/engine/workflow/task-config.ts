/**
 * This file defines `KubernetesTask(...)`, the resource and placement config of a remote task:
 *
 *     train = task("train", executor = "k8s", function = "iris.train:main",
 *                  config = KubernetesTask(cpu = 4, memory = "16Gi", gpu = 1, image = "ml:1.2"))
 *
 * Every field is checked when the workflow file loads, so a typo ("16GB", a negative GPU count, an
 * unknown field) fails with the file:line of the call, not minutes later at submission.
 */
import { Builtin, Dict, EvalError, Float, StarValue, isInt, typeName, unpackArgs, utf8Decode, type Value } from '../../interpreter/index.js';
import type { TaskResources } from '../core/events.js';
import type { Json } from '../core/json.js';
import { toHistory } from './convert.js';
import { QuantityError, validateQuantity } from '../executors/kubernetes/quantities.js';

/** The runner kinds a container may run (src/engine/attempts/remote-executor.ts). */
export const RUNNER_KINDS: readonly string[] = ['python', 'node'];

/** A task's remote config, as `KubernetesTask(...)` returns it. */
export class TaskConfigValue extends StarValue {
  constructor(readonly resources: TaskResources) {
    super();
  }
  get type(): string {
    return 'KubernetesTask';
  }
  repr(out: string[]): void {
    const r = this.resources;
    const parts: string[] = [];
    if (r.image !== undefined) parts.push(`image = ${JSON.stringify(r.image)}`);
    if (r.cpu !== undefined) parts.push(`cpu = ${JSON.stringify(r.cpu)}`);
    if (r.memory !== undefined) parts.push(`memory = ${JSON.stringify(r.memory)}`);
    if (r.gpu !== undefined) parts.push(`gpu = ${r.gpu}`);
    if (r.namespace !== undefined) parts.push(`namespace = ${JSON.stringify(r.namespace)}`);
    if (r.serviceAccount !== undefined) parts.push(`service_account = ${JSON.stringify(r.serviceAccount)}`);
    if (r.runner !== undefined) parts.push(`runner = ${JSON.stringify(r.runner)}`);
    out.push(`KubernetesTask(${parts.join(', ')})`);
  }
}

const FIELDS = ['cpu?', 'memory?', 'gpu?', 'image?', 'env?', 'node_selector?', 'service_account?', 'namespace?', 'runner?'];

function str(v: Value, field: string): string {
  if (typeof v !== 'string') throw new EvalError(`KubernetesTask: ${field} must be a string, not ${typeName(v)}`);
  const s = utf8Decode(v);
  if (s === '') throw new EvalError(`KubernetesTask: ${field} must not be empty`);
  return s;
}

function stringMap(v: Value, field: string, keyRule?: (k: string) => string | undefined): Record<string, string> {
  if (!(v instanceof Dict)) throw new EvalError(`KubernetesTask: ${field} must be a dict of strings, not ${typeName(v)}`);
  const out: Record<string, string> = {};
  for (const [k, x] of v.entries()) {
    if (typeof k !== 'string') throw new EvalError(`KubernetesTask: ${field} keys must be strings, not ${typeName(k)}`);
    const key = utf8Decode(k);
    const bad = keyRule?.(key);
    if (bad) throw new EvalError(`KubernetesTask: ${field} key ${JSON.stringify(key)} ${bad}`);
    if (typeof x !== 'string') throw new EvalError(`KubernetesTask: ${field}[${JSON.stringify(key)}] must be a string, not ${typeName(x)}`);
    out[key] = utf8Decode(x);
  }
  return out;
}

function quantity(kind: 'cpu' | 'memory', v: Value): string {
  let input: string | number;
  if (typeof v === 'string') input = utf8Decode(v);
  else if (isInt(v)) input = Number(v);
  else if (v instanceof Float) input = v.v;
  else throw new EvalError(`KubernetesTask: ${kind} must be a string or a number, not ${typeName(v)}`);
  try {
    return validateQuantity(kind, input);
  } catch (e) {
    if (e instanceof QuantityError) throw new EvalError(`KubernetesTask: ${e.message}`);
    throw e;
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `KubernetesTask(cpu, memory, gpu, image, env, node_selector, service_account, namespace, runner)`. */
export const kubernetesTaskBuiltin = new Builtin('KubernetesTask', (_th, args, kwargs) => {
  if (args.length > 0) throw new EvalError('KubernetesTask: takes keyword arguments only, e.g. KubernetesTask(cpu = 4, memory = "16Gi")');
  const [cpu, memory, gpu, image, env, nodeSelector, serviceAccount, namespace, runner] = unpackArgs('KubernetesTask', args, kwargs, FIELDS);
  const r: { -readonly [K in keyof TaskResources]: TaskResources[K] } = {};
  if (cpu !== undefined && cpu !== null) r.cpu = quantity('cpu', cpu);
  if (memory !== undefined && memory !== null) r.memory = quantity('memory', memory);
  if (gpu !== undefined && gpu !== null) {
    if (!isInt(gpu)) throw new EvalError(`KubernetesTask: gpu must be an int, not ${typeName(gpu)}`);
    const n = Number(gpu);
    if (n < 0 || n > 64) throw new EvalError(`KubernetesTask: gpu must be between 0 and 64, not ${n}`);
    r.gpu = n;
  }
  if (image !== undefined && image !== null) {
    r.image = str(image, 'image');
    if (/\s/.test(r.image)) throw new EvalError(`KubernetesTask: image ${JSON.stringify(r.image)} must not contain spaces`);
  }
  if (env !== undefined && env !== null) {
    r.env = stringMap(env, 'env', (k) => (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) ? (k.startsWith('LARKFLOW_') ? 'is reserved for the task runner' : undefined) : 'is not a valid environment variable name'));
  }
  if (nodeSelector !== undefined && nodeSelector !== null) r.nodeSelector = stringMap(nodeSelector, 'node_selector');
  if (serviceAccount !== undefined && serviceAccount !== null) {
    r.serviceAccount = str(serviceAccount, 'service_account');
    if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(r.serviceAccount)) throw new EvalError(`KubernetesTask: service_account ${JSON.stringify(r.serviceAccount)} is not a valid Kubernetes name (lowercase letters, digits, '-' and '.')`);
  }
  if (namespace !== undefined && namespace !== null) {
    r.namespace = str(namespace, 'namespace');
    if (!DNS_LABEL.test(r.namespace)) throw new EvalError(`KubernetesTask: namespace ${JSON.stringify(r.namespace)} is not a valid Kubernetes namespace (lowercase letters, digits and '-', at most 63)`);
  }
  if (runner !== undefined && runner !== null) {
    r.runner = str(runner, 'runner');
    if (!RUNNER_KINDS.includes(r.runner)) throw new EvalError(`KubernetesTask: runner must be one of ${RUNNER_KINDS.map((k) => JSON.stringify(k)).join(', ')}, not ${JSON.stringify(r.runner)}`);
  }
  return new TaskConfigValue(r);
});

// ---------------------------------------------------------------------------------------------
// RayTask and SparkTask (Uniflow's names)

/** Executors of each config kind; a task whose executor is not here may take any config (an embedder's own executor). */
const FAMILY: Readonly<Record<string, readonly string[]>> = {
  KubernetesTask: ['k8s', 'subprocess'],
  RayTask: ['ray', 'kuberay'],
  SparkTask: ['spark', 'livy'],
};
const KNOWN_REMOTE = new Set(Object.values(FAMILY).flat());

/** A task's config as `RayTask(...)` or `SparkTask(...)` returns it. */
export class ComputeConfigValue extends TaskConfigValue {
  constructor(
    readonly kind: 'RayTask' | 'SparkTask',
    resources: TaskResources,
    /** RayTask: true when it sizes a cluster (head/worker fields): a fresh KubeRay cluster per attempt. */
    readonly sizesCluster: boolean,
  ) {
    super(resources);
  }
  override get type(): string {
    return this.kind;
  }
  override repr(out: string[]): void {
    const fields = this.kind === 'RayTask' ? this.resources.ray : this.resources.spark;
    out.push(`${this.kind}(${Object.entries(fields ?? {}).map(([k, v]) => `${snake(k)} = ${JSON.stringify(v)}`).join(', ')})`);
  }
  /** The executor the config implies when the task names none. */
  defaultExecutor(): string {
    return this.kind === 'SparkTask' ? 'spark' : this.sizesCluster ? 'kuberay' : 'ray';
  }
}

function snake(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function count(v: Value, what: string, max: number): number {
  if (!isInt(v)) throw new EvalError(`${what} must be an int, not ${typeName(v)}`);
  const n = Number(v);
  if (n < 0 || n > max) throw new EvalError(`${what} must be between 0 and ${max}, not ${n}`);
  return n;
}

function q(kind: 'cpu' | 'memory', v: Value, what: string): string {
  try {
    return quantity(kind, v);
  } catch (e) {
    throw new EvalError(String((e as Error).message).replace(/^KubernetesTask: /, `${what}: `));
  }
}

const RAY_FIELDS = [
  'head_cpu?',
  'head_memory?',
  'head_disk?',
  'head_gpu?',
  'head_object_store_memory?',
  'worker_cpu?',
  'worker_memory?',
  'worker_disk?',
  'worker_gpu?',
  'worker_object_store_memory?',
  'worker_instances?',
  'breakpoint?',
  'runtime_env?',
  'entrypoint_num_cpus?',
  'entrypoint_num_gpus?',
  'entrypoint_memory?',
];

/** `RayTask(head_cpu, head_memory, ..., worker_instances, runtime_env)`: Uniflow's fields, all optional. */
export const rayTaskBuiltin = new Builtin('RayTask', (_th, args, kwargs) => {
  if (args.length > 0) throw new EvalError('RayTask: takes keyword arguments only, e.g. RayTask(head_cpu = 2, worker_instances = 4)');
  const v = unpackArgs('RayTask', args, kwargs, RAY_FIELDS);
  const given = (i: number): Value | undefined => (v[i] === undefined || v[i] === null ? undefined : v[i]);
  const r: { -readonly [K in keyof NonNullable<TaskResources['ray']>]: NonNullable<TaskResources['ray']>[K] } = {};
  const cpuAt = (i: number, name: string): string | undefined => (given(i) === undefined ? undefined : q('cpu', given(i)!, `RayTask: ${name}`));
  const memAt = (i: number, name: string): string | undefined => (given(i) === undefined ? undefined : q('memory', given(i)!, `RayTask: ${name}`));
  const set = <K extends keyof typeof r>(k: K, x: (typeof r)[K] | undefined): void => {
    if (x !== undefined) r[k] = x;
  };
  set('headCpu', cpuAt(0, 'head_cpu'));
  set('headMemory', memAt(1, 'head_memory'));
  set('headDisk', memAt(2, 'head_disk'));
  set('headGpu', given(3) === undefined ? undefined : count(given(3)!, 'RayTask: head_gpu', 64));
  set('headObjectStoreMemory', memAt(4, 'head_object_store_memory'));
  set('workerCpu', cpuAt(5, 'worker_cpu'));
  set('workerMemory', memAt(6, 'worker_memory'));
  set('workerDisk', memAt(7, 'worker_disk'));
  set('workerGpu', given(8) === undefined ? undefined : count(given(8)!, 'RayTask: worker_gpu', 64));
  set('workerObjectStoreMemory', memAt(9, 'worker_object_store_memory'));
  set('workerInstances', given(10) === undefined ? undefined : count(given(10)!, 'RayTask: worker_instances', 10_000));
  if (given(11) !== undefined && given(11) !== false) throw new EvalError('not supported yet: RayTask(breakpoint = True) (keeping a cluster for debugging)');
  if (given(12) !== undefined) {
    if (!(given(12) instanceof Dict)) throw new EvalError(`RayTask: runtime_env must be a dict, not ${typeName(given(12)!)}`);
    const json = toHistory(given(12)!, 'RayTask: runtime_env');
    r.runtimeEnv = json as { readonly [key: string]: Json };
  }
  if (given(13) !== undefined) r.entrypointCpu = Number(q('cpu', given(13)!, 'RayTask: entrypoint_num_cpus').replace(/m$/, 'e-3'));
  set('entrypointGpu', given(14) === undefined ? undefined : count(given(14)!, 'RayTask: entrypoint_num_gpus', 64));
  set('entrypointMemory', memAt(15, 'entrypoint_memory'));
  const sizes = Object.keys(r).some((k) => k.startsWith('head') || k.startsWith('worker'));
  return new ComputeConfigValue('RayTask', { ray: r }, sizes);
});

const SPARK_FIELDS = ['driver_cpu?', 'driver_memory?', 'driver_disk?', 'driver_gpu?', 'executor_cpu?', 'executor_memory?', 'executor_disk?', 'executor_gpu?', 'executor_instances?', 'conf?'];

/** `SparkTask(driver_cpu, driver_memory, ..., executor_instances)`: Uniflow's fields, all optional; `conf` adds Spark properties. */
export const sparkTaskBuiltin = new Builtin('SparkTask', (_th, args, kwargs) => {
  if (args.length > 0) throw new EvalError('SparkTask: takes keyword arguments only, e.g. SparkTask(executor_instances = 4, executor_memory = "8Gi")');
  const v = unpackArgs('SparkTask', args, kwargs, SPARK_FIELDS);
  const given = (i: number): Value | undefined => (v[i] === undefined || v[i] === null ? undefined : v[i]);
  const r: { -readonly [K in keyof NonNullable<TaskResources['spark']>]: NonNullable<TaskResources['spark']>[K] } = {};
  const set = <K extends keyof typeof r>(k: K, x: (typeof r)[K] | undefined): void => {
    if (x !== undefined) r[k] = x;
  };
  set('driverCpu', given(0) === undefined ? undefined : q('cpu', given(0)!, 'SparkTask: driver_cpu'));
  set('driverMemory', given(1) === undefined ? undefined : q('memory', given(1)!, 'SparkTask: driver_memory'));
  set('driverDisk', given(2) === undefined ? undefined : q('memory', given(2)!, 'SparkTask: driver_disk'));
  set('driverGpu', given(3) === undefined ? undefined : count(given(3)!, 'SparkTask: driver_gpu', 64));
  set('executorCpu', given(4) === undefined ? undefined : q('cpu', given(4)!, 'SparkTask: executor_cpu'));
  set('executorMemory', given(5) === undefined ? undefined : q('memory', given(5)!, 'SparkTask: executor_memory'));
  set('executorDisk', given(6) === undefined ? undefined : q('memory', given(6)!, 'SparkTask: executor_disk'));
  set('executorGpu', given(7) === undefined ? undefined : count(given(7)!, 'SparkTask: executor_gpu', 64));
  set('executorInstances', given(8) === undefined ? undefined : count(given(8)!, 'SparkTask: executor_instances', 10_000));
  if (given(9) !== undefined) {
    const conf = stringMap(given(9)!, 'conf');
    for (const k of Object.keys(conf)) if (!k.startsWith('spark.')) throw new EvalError(`SparkTask: conf key ${JSON.stringify(k)} is not a Spark property (they start with "spark.")`);
    r.conf = conf;
  }
  return new ComputeConfigValue('SparkTask', { spark: r }, false);
});

/**
 * The executor of a task with `config`: the one the task names (checked against the config's kind),
 * or the one the config implies. Throws an EvalError saying what is wrong.
 */
export function executorForConfig(config: TaskConfigValue, executor: string | undefined): string | undefined {
  const kind = config instanceof ComputeConfigValue ? config.kind : 'KubernetesTask';
  if (executor === undefined) return config instanceof ComputeConfigValue ? config.defaultExecutor() : undefined;
  if (KNOWN_REMOTE.has(executor) && !FAMILY[kind]!.includes(executor)) {
    throw new EvalError(`task: config = ${kind}(...) does not fit executor ${JSON.stringify(executor)} (${kind} is for ${FAMILY[kind]!.map((e) => JSON.stringify(e)).join(' or ')})`);
  }
  if (executor === 'ray' && config instanceof ComputeConfigValue && config.sizesCluster) {
    throw new EvalError(
      'task: RayTask head/worker sizing needs a fresh cluster per attempt, which the Ray Jobs API on an existing cluster (executor = "ray") cannot give: use executor = "kuberay", or size the entrypoint with entrypoint_num_cpus/entrypoint_num_gpus/entrypoint_memory',
    );
  }
  return executor;
}
