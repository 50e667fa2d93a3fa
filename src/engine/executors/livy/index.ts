/**
 * The Apache Livy executor backend ("livy"): each task attempt runs as one Livy batch, a
 * `spark-submit` of the Python task runner's entry script.
 *
 * - `LivyAdapter`: the ExecutorAdapter (submit, lookup, status, cancel, logs, cleanup, close, plus
 *   a `wait` helper), over Livy's REST API with the global `fetch`.
 * - `buildBatchRequest`: the pure LaunchSpec + AttemptRef → `POST /batches` body the adapter sends.
 * - `sparkMemory`, `sparkMemoryMiB`, `sparkCores`: Kubernetes quantities → Spark sizes
 *   ("4Gi" → "4g", "1.5Gi" → "1536m", "500m" cpu → 1 core).
 */
export {
  CSRF_HEADER,
  DEFAULT_RUNNER_FILE,
  LivyAdapter,
  buildBatchRequest,
  type BatchRequestOptions,
  type LivyAdapterOptions,
  type LivyBatch,
  type LivyBatchRequest,
  type LivyRetryOptions,
  type LivyWaitOptions,
} from './livy-adapter.js';
export { QuantityError, sparkCores, sparkMemory, sparkMemoryMiB } from './spark-sizes.js';
