/** Types of the fake Apache Livy server in livy.mjs (see that file for the behaviour). */

export interface FakeLivyOptions {
  /** Port to listen on. @default 0 (random) */
  port?: number;
  /** Environment of every driver process (the "cluster"), e.g. PYTHONPATH. */
  env?: Record<string, string>;
  /** Batch `file` URI → local path of the script to run in its place. */
  files?: Record<string, string>;
  /** Working directory of the driver processes. @default this process's cwd */
  cwd?: string;
  /** The interpreter that runs a batch's file. @default "python3" */
  python?: string;
  /** Time a batch stays `starting` before its process starts. @default 0 */
  startDelayMs?: number;
  /** Finished batches are removed this long after finishing. @default never */
  gcAfterMs?: number;
  /** Non-GET requests need an X-Requested-By header (400 otherwise). @default true */
  requireCsrf?: boolean;
  /** Require this HTTP Basic authentication (401 otherwise). */
  basicAuth?: { user: string; password: string };
}

export interface LivyJournalEntry {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  /** The X-Requested-By header, when sent. */
  requestedBy?: string;
  /** The parsed JSON body of a POST. */
  body?: unknown;
  time: number;
}

export interface HookMatch {
  /** A substring of, or a RegExp over, the request path. */
  path?: string | RegExp;
  method?: string;
}

export type LivyBatchState = 'not_started' | 'starting' | 'recovering' | 'idle' | 'running' | 'busy' | 'shutting_down' | 'error' | 'dead' | 'killed' | 'success';

/** Livy's Batch view. */
export interface LivyBatchView {
  id: number;
  name: string | null;
  owner: string | null;
  proxyUser: string | null;
  state: LivyBatchState;
  appId: string | null;
  appInfo: { driverLogUrl: string | null; sparkUiUrl: string | null };
  /** The last 10 log lines. */
  log: string[];
}

export interface FakeLivyProcess {
  pid: number;
  batchId: number;
  name: string | null;
  exited: boolean;
  exitCode: number | null;
  signal: string | null;
}

export declare class FakeLivy {
  constructor(opts?: FakeLivyOptions);
  readonly journal: LivyJournalEntry[];
  port: number;
  readonly url: string;
  startDelayMs: number;
  gcAfterMs: number | undefined;
  requireCsrf: boolean;
  env: Record<string, string>;
  files: Record<string, string>;
  start(): Promise<{ url: string; port: number }>;
  stopListening(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
  failNext(n: number, status?: number, match?: HookMatch): void;
  failAfterCreate(n?: number): void;
  delayNext(ms: number, match?: HookMatch & { n?: number }): void;
  forget(id: number): boolean;
  kill(id: number): boolean;
  restart(): void;
  batchesStarted(): Record<string, number>;
  processes(): FakeLivyProcess[];
  batch(id: number): (LivyBatchView & { logLines: string[]; request: Record<string, unknown> }) | undefined;
}

export declare function startFakeLivy(opts?: FakeLivyOptions): Promise<FakeLivy>;
