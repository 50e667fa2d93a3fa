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
