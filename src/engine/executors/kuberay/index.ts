/**
 * The KubeRay executor backend ("kuberay"): each task attempt runs as one RayJob (ray.io/v1) with
 * a fresh RayCluster, shut down when the job ends.
 *
 * - `KubeRayAdapter`: the ExecutorAdapter (submit, lookup, status, cancel, logs, cleanup, close,
 *   plus `wait`), on `@kubernetes/client-node` 1.4.0's CustomObjectsApi.
 * - `buildRayJobManifest`: the pure LaunchSpec + AttemptRef → RayJob mapping it submits.
 * - `rayJobStatusReport`: the pure RayJob status → StatusReport mapping.
 */
export { KubeRayAdapter, rayJobStatusReport, type KubeRayAdapterOptions, type KubeRayWaitOptions } from './kuberay-adapter.js';
export {
  RAYJOB_NAME_MAX,
  RAY_HEAD_CONTAINER,
  RAY_SUBMITTER_CONTAINER,
  RAY_WORKER_CONTAINER,
  buildRayJobManifest,
  rayJobEnv,
  shellCommand,
  shellQuote,
  type RayJobManifest,
  type RayJobManifestOptions,
} from './rayjob-manifest.js';
