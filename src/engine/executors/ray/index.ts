/**
 * The Ray Jobs API executor backend ("ray"): each task attempt runs as one job submitted to an
 * existing Ray cluster's dashboard (`POST /api/jobs/`), with Node's global fetch.
 *
 * - `RayJobsAdapter`: the ExecutorAdapter (submit, lookup, status, cancel, logs, cleanup, close,
 *   plus a `wait` helper).
 * - `buildSubmitRequest`: the pure LaunchSpec + AttemptRef → JobSubmitRequest mapping it sends.
 * - `rayJobsBaseUrl`, `shellJoin`, `shellQuote`, `rayJobBelongsTo`: address parsing, entrypoint
 *   quoting and the ownership check, for tests and tools.
 */
export {
  RAY_METADATA,
  RayJobsAdapter,
  bodyExcerpt,
  buildSubmitRequest,
  rayJobBelongsTo,
  rayJobsBaseUrl,
  shellJoin,
  shellQuote,
  truncateMessage,
  type RayJobDetails,
  type RayJobStatus,
  type RayJobsAdapterOptions,
  type RayRetryOptions,
  type RayWaitOptions,
} from './ray-jobs-adapter.js';
