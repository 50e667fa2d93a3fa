/**
 * This file is the contract between the run inspector's server (src/ui/server/) and its browser
 * app (src/ui/client/): the JSON shapes of `/api/*` and of its Server-Sent Events. Both sides
 * import these types; neither imports the other's code. Every field is plain JSON.
 *
 * Routes (all under the handler's base path; the server answers JSON with `content-type:
 * application/json`, errors as ApiError):
 *   GET  /api/meta                          → Meta
 *   GET  /api/runs?status=a,b&workflow=&pipeline=&trigger=&q=&since=&until=&after=CURSOR&limit=N
 *                                            → RunPage (newest first, keyset pages; since/until are
 *                                              ms since the epoch or ISO dates; trigger: a prefix of
 *                                              RunRow.trigger, e.g. `trigger:` or `resume`; limit ≤ 500,
 *                                              default 50)
 *   GET  /api/runs/:id                      → RunDetail
 *   GET  /api/runs/:id/steps                → { steps: Step[] }
 *   GET  /api/runs/:id/graph                → Graph
 *   GET  /api/runs/:id/history?after=SEQ&limit=N&kinds=A,B&failures=1&q=TEXT
 *                                            → HistoryPage (limit ≤ 1000, default 200; q: case-insensitive
 *                                              substring of the event's JSON)
 *   GET  /api/runs/:id/history.json         → the whole history (download, attachment)
 *   GET  /api/runs/:id/events/:seq          → HistoryEventJson (one event, whole: the JSON view)
 *   GET  /api/runs/:id/payload?seq=N&part=P → JsonValue: the whole value a PayloadRef stands for
 *                                             (P is `result`, `args.I` or `kwargs.NAME` of event N;
 *                                             a blob is fetched from blob storage)
 *   GET  /api/runs/:id/logs?step=S&attempt=N&bytes=B → LogTail (the end of an attempt's local log file)
 *   GET  /api/runs/:id/source               → Source
 *   GET  /api/runs/:id/resume-plan?from=STEP → ResumePlan (from: default the first failed step)
 *   GET  /api/runs/:id/stream               → SSE: `id: <seq>`, `event: history`, `data: HistoryEventJson`;
 *                                             replays after Last-Event-ID (or ?after=), then follows
 *   GET  /api/stream                        → SSE for the runs list: `event: run`, `data: RunRow`
 *                                             (`id:` is a server cursor; a reconnect with Last-Event-ID
 *                                             gets the rows of the runs that changed meanwhile; one
 *                                             `event: cursor`, `data: { cursor }` on connect only
 *                                             sets that id, ignore it)
 *   Both streams start with `retry: 300` and send a `: heartbeat` comment every 15 s.
 *   GET  /api/pipelines, /api/triggers, /api/cache → PipelineRow[], TriggerRow[], CacheRow[] (wrapped in { items };
 *                                             the cache's 1000 newest entries, expired ones included)
 *   POST /api/runs/:id/cancel  { reason? }             → ActionResult
 *   POST /api/runs/:id/retry   { step? }               → ActionResult (a resumed run from the failed step)
 *   POST /api/runs/:id/resume  { fromStep }            → ActionResult
 *   POST /api/runs/:id/rerun   { args?, kwargs? }      → ActionResult (a new run of the stored script)
 * POSTs need actions enabled (`--allow-actions`, or `Authorization: Bearer <token>`), then
 * `content-type: application/json` and an Origin (when sent) of the server itself; otherwise 403
 * (415 for another content type) with an ApiError. An action the run refuses (cancel an ended
 * run, retry a run that did not fail, resume a running one) is a 409.
 * Any other GET outside /api/ is the browser app (index.html, or a file of dist/ui/assets).
 * Errors: 400 bad parameters, 404 unknown run/route, 503 database unreadable, 500 a bug.
 * Every request's Host must be the server's (loopback names and IP literals by default), which
 * stops DNS rebinding; a refused Host is a 403 too.
 * Every response carries a strict Content-Security-Policy and `x-content-type-options: nosniff`.
 * PayloadRef.$ref is relative to the base path (no leading slash): fetch it as is under `<base href>`.
 */

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Every non-2xx answer. */
export interface ApiError {
  readonly error: string;
  /** What to do about it, for people. */
  readonly hint?: string;
}

export interface Meta {
  readonly version: string;
  /** False when actions are allowed. */
  readonly readOnly: boolean;
  /** What the server reads (a path or a redacted URL). */
  readonly db: string;
  /** Server time, ms since the epoch. */
  readonly now: number;
  /** Actions are accepted with `Authorization: Bearer <token>` (the server has a token). */
  readonly tokenAccepted?: boolean;
}

export type RunStatusName = 'running' | 'completed' | 'failed' | 'cancelled' | 'blocked';

/** One row of the runs list. */
export interface RunRow {
  readonly runId: string;
  readonly workflow: string;
  readonly file: string;
  readonly pipeline?: string;
  readonly status: RunStatusName;
  readonly startedAt: number;
  readonly endedAt?: number;
  readonly durationMs?: number;
  readonly scriptDigest?: string;
  /** Task calls done (completed, failed or from the cache) of those scheduled so far. */
  readonly progress: { readonly done: number; readonly total: number };
  readonly cacheHits: number;
  /** The run's first failure, short. */
  readonly firstError?: { readonly task?: string; readonly message: string };
  /**
   * What started the run, when its history says so: "trigger:<pipeline>/<trigger>", "resume" (a
   * resumed or retried run), "child" (a child workflow run), "pipeline" (a pipeline run).
   */
  readonly trigger?: string;
  readonly lastSeq: number;
}

export interface RunPage {
  readonly runs: RunRow[];
  /** Cursor of the next page (absent on the last page). */
  readonly next?: string;
}

export interface CallSiteJson {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly stack?: readonly string[];
}

/** The root failure of a run, shown up front. */
export interface Failure {
  readonly message: string;
  readonly kind: string;
  readonly task?: string;
  readonly stepId?: string;
  readonly attempt?: number;
  /** Starlark traceback or task stack. */
  readonly traceback?: string;
  /** Where the attempt's log is. */
  readonly log?: string;
  readonly site?: CallSiteJson;
}

export interface RunDetail extends RunRow {
  readonly inputs: { readonly args: JsonValue[]; readonly kwargs: { [k: string]: JsonValue } };
  readonly env: { readonly [k: string]: string };
  readonly result?: JsonValue;
  readonly failure?: Failure;
  readonly parent?: { readonly runId: string; readonly stepId: string };
  readonly resumedFrom?: { readonly runId: string; readonly fromStep?: string };
  /** Runs started from this one (children, resumes, re-runs) that the server knows of. */
  readonly related: { readonly runId: string; readonly relation: 'child' | 'resumed' | 'retried' }[];
  /** Where the workflow waits now (a running run). */
  readonly waitingAt?: readonly CallSiteJson[];
  /** The CLI commands equivalent to the page's actions. */
  readonly cli: { readonly cancel: string; readonly resume: string; readonly rerun: string; readonly history: string };
}

export type StepState = 'scheduled' | 'running' | 'retrying' | 'completed' | 'failed' | 'cached' | 'cancelled';

export interface Attempt {
  readonly attempt: number;
  readonly startedAt: number;
  readonly endedAt?: number;
  readonly outcome?: 'ok' | 'failed';
  readonly error?: { readonly kind: string; readonly message: string; readonly details?: string };
  readonly executor?: string;
  /** Remote job id (Ray job, Kubernetes Job, Livy batch, ...). */
  readonly backendId?: string;
  readonly logs?: string;
}

/** A large value shown as a reference, not inline. */
export interface PayloadRef {
  readonly $ref: string;
  readonly bytes: number;
  /** The first characters of its JSON. */
  readonly preview: string;
}

export interface Step {
  readonly stepId: string;
  /** A task call, a durable sleep (`time.sleep`, task "sleep") or a child workflow run. */
  readonly kind?: 'task' | 'timer' | 'child';
  readonly task: string;
  /** seq of the TaskScheduled event. */
  readonly seq: number;
  readonly site?: CallSiteJson;
  readonly state: StepState;
  /** Steps scheduled by one activation from one call site share a group (a fan-out). */
  readonly group?: string;
  readonly attempts: Attempt[];
  readonly maxAttempts?: number;
  readonly executor?: string;
  readonly cache?: {
    readonly outcome: 'hit' | 'miss' | 'written' | 'off';
    readonly key?: string;
    readonly sourceRunId?: string;
    /** What the key was made of (runs recorded since the engine keeps it): a changed part explains a miss. */
    readonly parts?: { readonly implementation: string; readonly version: string; readonly args: string };
  };
  readonly input: { readonly args: (JsonValue | PayloadRef)[]; readonly kwargs: { [k: string]: JsonValue | PayloadRef } };
  readonly output?: JsonValue | PayloadRef;
  readonly error?: { readonly kind: string; readonly message: string; readonly details?: string };
  readonly startedAt: number;
  readonly endedAt?: number;
  /** Steps whose results this step's arguments came from (data flow). */
  readonly deps: string[];
  /** The child run a step started (child workflows). */
  readonly childRunId?: string;
  /** Where the result came from: run here, the task cache, or reused from the run this one resumed. */
  readonly source?: 'executed' | 'cache' | 'reused';
  /** A timer's or a retry wait's firing time (ms since the epoch). */
  readonly fireAt?: number;
  /** A remote task's resources (image, cpu, memory, gpu, Ray/Spark sizes), as recorded. */
  readonly resources?: JsonValue;
  /** The arguments' digest (a part of the cache key). */
  readonly argsDigest?: string;
  /** The latest heartbeat of the running attempt (`ctx.heartbeat`). */
  readonly heartbeat?: { readonly at: number; readonly details: JsonValue };
}

export interface Graph {
  readonly nodes: { readonly id: string; readonly label: string; readonly state: StepState; /** >1 for a collapsed fan-out. */ readonly count: number; readonly steps: string[] }[];
  readonly edges: { readonly from: string; readonly to: string }[];
}

/** A history event as JSON (the engine's HistoryEvent). */
export type HistoryEventJson = { readonly seq: number; readonly at: number; readonly kind: string } & { readonly [k: string]: JsonValue | undefined };

export interface HistoryPage {
  readonly events: HistoryEventJson[];
  /** `after` for the next page (absent on the last page). */
  readonly next?: number;
  /** Events in the whole history (unfiltered). */
  readonly total: number;
  /** One line per event, in the order of `events`: its fields that matter, as `larkflow history` prints them. */
  readonly summaries?: string[];
}

export interface SourceMark {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly kind: 'task' | 'waiting' | 'error';
  readonly state?: StepState;
  readonly stepId?: string;
  readonly message?: string;
}

export interface Source {
  readonly digest: string;
  readonly entry: string;
  readonly files: { readonly path: string; readonly text: string }[];
  readonly marks: SourceMark[];
}

export interface ResumePlan {
  readonly fromStep: string;
  /** Steps whose recorded results the resumed run reuses. */
  readonly reused: string[];
  /** Steps it runs again (from `fromStep` on). */
  readonly rerun: string[];
  readonly cli: string;
}

/** The end of an attempt's log (`GET /api/runs/:id/logs`). */
export interface LogTail {
  readonly stepId: string;
  readonly attempt: number;
  /** Where the log is (a path or URI). */
  readonly location?: string;
  readonly text: string;
  /** The text is the end of a longer log. */
  readonly truncated: boolean;
  /** Why there is no text (a remote log: use the CLI command). */
  readonly note?: string;
  readonly cli: string;
}

export interface ActionResult {
  readonly ok: true;
  /** The run an action started (resume, retry, re-run). */
  readonly runId?: string;
  readonly cli: string;
}

export interface PipelineRow {
  readonly name: string;
  readonly namespace?: string;
  readonly revision: string;
  readonly revisions: number;
  readonly kind: 'custom' | 'standard';
  readonly updatedAt: number;
}

export interface TriggerRow {
  readonly pipeline: string;
  readonly trigger: string;
  readonly schedule: string;
  readonly paused: boolean;
  readonly lastTick?: number;
  readonly nextTick?: number;
}

export interface CacheRow {
  readonly key: string;
  readonly task: string;
  readonly runId?: string;
  readonly createdAt: number;
  readonly expiresAt?: number;
  readonly bytes?: number;
  /** The step whose attempt produced the entry. */
  readonly stepId?: string;
  /** Lookups served from the entry, and the last one. */
  readonly hits?: number;
  readonly lastHitAt?: number;
}
