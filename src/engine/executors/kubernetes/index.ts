/**
 * The Kubernetes Jobs executor backend ("k8s"): each task attempt runs as one batch/v1 Job.
 *
 * - `KubernetesAdapter`: the ExecutorAdapter (submit, lookup, status, cancel, logs, cleanup, close,
 *   plus a `wait` helper), built on `@kubernetes/client-node` 1.4.0.
 * - `buildJobManifest`: the pure LaunchSpec + AttemptRef → V1Job mapping the adapter submits.
 * - `validateQuantity`, `parseCpuQuantity`, `parseMemoryQuantity`: checks of CPU and memory
 *   quantities ("500m", "4", "16Gi"), for workflow load time.
 */
export {
  KubernetesAdapter,
  type KubernetesAdapterOptions,
  type KubernetesLookupOptions,
  type KubernetesRetryOptions,
  type KubernetesWaitOptions,
} from './kubernetes-adapter.js';
export { ANNOTATIONS, CONTAINER_NAME, buildJobManifest, jobBelongsTo, namespaceOf, type JobManifestOptions } from './job-manifest.js';
export { QuantityError, parseCpuQuantity, parseMemoryQuantity, validateQuantity, type QuantityKind } from './quantities.js';
