/**
 * This file builds the batch/v1 Job of one attempt (pure: no I/O). One Job per attempt, never
 * retried by Kubernetes (`backoffLimit: 0`, pod `restartPolicy: Never`): attempt retries are the
 * engine's, and each is a new Job with a new name.
 *
 * The Job and its pod template carry `attemptLabels(ref, task)`; the Job also carries the full,
 * untruncated run and step ids as annotations, so adoption after a 409 can confirm ownership even
 * when a label value had to be shortened.
 */
import type { V1EnvVar, V1Job, V1ResourceRequirements } from '@kubernetes/client-node';
import { AdapterError, attemptLabels, submissionIdOf, type AttemptRef, type LaunchSpec } from '../contract.js';
import { QuantityError, validateQuantity } from './quantities.js';

/** Annotation keys with the attempt's full identity (labels may be truncated to 63 characters). */
export const ANNOTATIONS = {
  runId: 'larkflow.dev/run-id',
  stepId: 'larkflow.dev/step-id',
  task: 'larkflow.dev/task-name',
} as const;

/** The container's name in every Job this adapter creates. */
export const CONTAINER_NAME = 'task';

/** Options of `buildJobManifest` that come from the adapter rather than the task. */
export interface JobManifestOptions {
  /** Namespace to use when `spec.resources.namespace` is unset. */
  readonly namespace: string;
  /** `spec.ttlSecondsAfterFinished`; undefined leaves it unset. */
  readonly ttlSecondsAfterFinished?: number;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The namespace an attempt's Job goes to. */
export function namespaceOf(spec: LaunchSpec, defaultNamespace: string): string {
  return spec.resources.namespace ?? defaultNamespace;
}

function invalid(message: string): never {
  throw new AdapterError(message, 'invalid');
}

function quantity(kind: 'cpu' | 'memory', text: string): string {
  try {
    return validateQuantity(kind, text);
  } catch (e) {
    if (e instanceof QuantityError) invalid(e.message);
    throw e;
  }
}

/**
 * The Job manifest of an attempt. Throws AdapterError('invalid') when the spec cannot become a Job:
 * no image, an empty command, a bad CPU/memory quantity, a GPU count that is not a whole number,
 * or a namespace that is not a DNS label.
 */
export function buildJobManifest(spec: LaunchSpec, ref: AttemptRef, opts: JobManifestOptions): V1Job {
  const r = spec.resources;
  const name = submissionIdOf(ref, spec.task);
  const namespace = namespaceOf(spec, opts.namespace);
  if (!DNS_LABEL.test(namespace) || namespace.length > 63) invalid(`invalid Kubernetes namespace ${JSON.stringify(namespace)}`);
  if (r.image === undefined || r.image.trim() === '') invalid(`task ${JSON.stringify(spec.task)} has no container image (resources.image)`);
  if (spec.command.length === 0) invalid(`task ${JSON.stringify(spec.task)} has an empty command`);

  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (r.cpu !== undefined) requests['cpu'] = quantity('cpu', r.cpu);
  if (r.memory !== undefined) {
    const m = quantity('memory', r.memory);
    requests['memory'] = m;
    limits['memory'] = m;
  }
  if (r.gpu !== undefined) {
    if (!Number.isInteger(r.gpu) || r.gpu < 0) invalid(`gpu must be a whole number ≥ 0, not ${r.gpu}`);
    if (r.gpu > 0) limits['nvidia.com/gpu'] = String(r.gpu);
  }
  const resources: V1ResourceRequirements = {};
  if (Object.keys(requests).length > 0) resources.requests = requests;
  if (Object.keys(limits).length > 0) resources.limits = limits;

  // spec.env is the container's whole environment (it already holds the resources' env); it wins.
  const merged: Record<string, string> = { ...(r.env ?? {}), ...spec.env };
  const env: V1EnvVar[] = Object.entries(merged).map(([n, value]) => ({ name: n, value }));

  const labels = attemptLabels(ref, spec.task);
  const job: V1Job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace,
      labels: { ...labels },
      annotations: { [ANNOTATIONS.runId]: ref.runId, [ANNOTATIONS.stepId]: ref.stepId, [ANNOTATIONS.task]: spec.task },
    },
    spec: {
      backoffLimit: 0,
      completions: 1,
      parallelism: 1,
      template: {
        metadata: { labels: { ...labels } },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: CONTAINER_NAME,
              image: r.image,
              command: [...spec.command],
              ...(env.length > 0 ? { env } : {}),
              ...(Object.keys(resources).length > 0 ? { resources } : {}),
            },
          ],
          ...(r.nodeSelector !== undefined ? { nodeSelector: { ...r.nodeSelector } } : {}),
          ...(r.serviceAccount !== undefined ? { serviceAccountName: r.serviceAccount } : {}),
        },
      },
    },
  };
  const jobSpec = job.spec as NonNullable<V1Job['spec']>;
  if (spec.timeoutMs !== undefined) {
    if (!(spec.timeoutMs > 0)) invalid(`timeoutMs must be positive, not ${spec.timeoutMs}`);
    jobSpec.activeDeadlineSeconds = Math.ceil(spec.timeoutMs / 1000);
  }
  if (opts.ttlSecondsAfterFinished !== undefined) jobSpec.ttlSecondsAfterFinished = opts.ttlSecondsAfterFinished;
  return job;
}

/**
 * Whether a Job found under an attempt's name belongs to that attempt: its attempt, run and step
 * labels match, and (when present) its full-id annotations too.
 */
export function jobBelongsTo(job: V1Job, ref: AttemptRef, task?: string): boolean {
  const expected = attemptLabels(ref, task ?? '');
  const labels = job.metadata?.labels ?? {};
  for (const key of ['larkflow.dev/run', 'larkflow.dev/step', 'larkflow.dev/attempt'] as const) {
    if (labels[key] !== expected[key]) return false;
  }
  const ann = job.metadata?.annotations ?? {};
  if (ann[ANNOTATIONS.runId] !== undefined && ann[ANNOTATIONS.runId] !== ref.runId) return false;
  if (ann[ANNOTATIONS.stepId] !== undefined && ann[ANNOTATIONS.stepId] !== ref.stepId) return false;
  return true;
}
