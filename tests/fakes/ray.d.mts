/** Types of the fake Ray Jobs API server in ray.mjs (see that file for the behaviour). */

export interface FakeRayOptions {
  /** Environment of the cluster's nodes (PYTHONPATH, PATH...): under the runtime_env's env_vars. */
  env?: Record<string, string>;
  /** Working directory of the entrypoints. @default this process's cwd */
  cwd?: string;
  /** How long a job stays PENDING. @default 50 */
  startDelayMs?: number;
  /** When set, every request needs `Authorization: Bearer <token>`. */
  token?: string;
  port?: number;
  /** SIGKILL this long after a stop's SIGTERM. @default 200 */
  stopGraceMs?: number;
  /** Status of the duplicate submission_id answer: 500 (current Ray) or 400 (old Ray). @default 500 */
  duplicateStatus?: number;
  maxLogBytes?: number;
}

export interface JournalEntry {
  method: string;
  path: string;
  status: number;
  time: number;
}

export interface HookMatch {
  /** A substring of, or a RegExp over, the request path. */
  path?: string | RegExp;
  method?: string;
}

export interface FakeRayProcess {
  pid: number;
  submissionId: string;
  exited: boolean;
}

/** Ray's JobDetails, as the fake serves them. */
export interface FakeJobDetails {
  type: 'SUBMISSION';
  job_id: string | null;
  submission_id: string;
  driver_info: { id: string; node_ip_address: string; pid: string } | null;
  status: 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'STOPPED';
  entrypoint: string;
  message: string;
  error_type: string | null;
  start_time: number;
  end_time: number | null;
  metadata: Record<string, string>;
  runtime_env: { env_vars?: Record<string, string>; [k: string]: unknown };
  driver_agent_http_address: string | null;
  driver_node_id: string | null;
  driver_exit_code: number | null;
  entrypoint_num_cpus: number | null;
  entrypoint_num_gpus: number | null;
  entrypoint_memory: number | null;
  entrypoint_resources: Record<string, number> | null;
}

export declare class FakeRay {
  constructor(opts?: FakeRayOptions);
  readonly journal: JournalEntry[];
  env: Record<string, string>;
  cwd: string;
  /** Mutable: how long the next jobs stay PENDING. */
  startDelayMs: number;
  stopGraceMs: number;
  duplicateStatus: number;
  token: string | undefined;
  port: number;
  readonly url: string;
  start(): Promise<{ url: string; port: number }>;
  stopListening(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
  failNext(n: number, status?: number, match?: HookMatch & { retryAfterSeconds?: number; body?: string }): void;
  failAfterCreate(n?: number): void;
  delayNext(ms: number, match?: HookMatch & { n?: number }): void;
  requireToken(token: string | undefined): void;
  forget(id: string): boolean;
  jobsStarted(): Record<string, number>;
  processes(): FakeRayProcess[];
  job(id: string): FakeJobDetails | undefined;
}

export declare function startFakeRay(opts?: FakeRayOptions): Promise<FakeRay>;
