/**
 * The spark-on-k8s operator executor backend ("spark"): each task attempt runs as one
 * SparkApplication (sparkoperator.k8s.io/v1beta2) whose main file is the image's Python runner
 * entry script.
 *
 * - `SparkOperatorAdapter`: the ExecutorAdapter (submit, lookup, status, cancel, logs, cleanup,
 *   close, plus `wait`), on `@kubernetes/client-node` 1.4.0's CustomObjectsApi.
 * - `buildSparkApplicationManifest`: the pure LaunchSpec + AttemptRef → SparkApplication mapping.
 * - `sparkApplicationStatusReport`: the pure status → StatusReport mapping.
 */
export {
  SparkOperatorAdapter,
  sparkApplicationStatusReport,
  type SparkOperatorAdapterOptions,
  type SparkOperatorWaitOptions,
} from './spark-operator-adapter.js';
export {
  DEADLINE_ANNOTATION,
  DEFAULT_MAIN_APPLICATION_FILE,
  SPARKAPP_NAME_MAX,
  SPARK_APP_NAME_ENV,
  SPARK_DRIVER_CONTAINER,
  buildSparkApplicationManifest,
  type SparkApplicationManifest,
  type SparkApplicationManifestOptions,
} from './sparkapp-manifest.js';
