#!/usr/bin/env node
/**
 * A protocol-faithful fake of the Ray Jobs REST API (the head node's dashboard, port 8265) that
 * really runs the jobs.
 *
 * It serves, over plain HTTP on 127.0.0.1 (notes/executors.md §1):
 * - `GET    /api/version` → `{version, ray_version, ray_commit, session_name}`
 * - `POST   /api/jobs/` (trailing slash) → `{job_id, submission_id}` (job_id equals the submission
 *   id, as on real Ray). A duplicate submission_id answers `duplicateStatus` (500, as current Ray,
 *   whose head wraps the agent's error; 400 as old Ray) with a text/plain traceback containing
 *   "Job with submission_id X already exists. Please use a different submission_id.". Validation
 *   (entrypoint a string; metadata a dict of str → str; entrypoint_memory an int; cpus/gpus
 *   numbers; runtime_env a dict whose env_vars are str → str; no unknown fields) answers 400 with a
 *   TypeError/ValueError traceback.
 * - `GET    /api/jobs/` → a JSON array of JobDetails.
 * - `GET    /api/jobs/{submission_id or job_id}` → JobDetails; 404 text/plain `Job X does not exist`.
 * - `GET    /api/jobs/{id}/logs` → `{logs}`: the whole driver log (stdout and stderr interleaved),
 *   `""` while PENDING.
 * - `POST   /api/jobs/{id}/stop` → `{stopped: true}` when the job is not terminal (a PENDING job is
 *   STOPPED at once; a RUNNING one gets SIGTERM to its process group, and SIGKILL to the group
 *   `stopGraceMs` later, and is STOPPED when its shell has exited), `{stopped: false}` when it is
 *   terminal.
 * - `DELETE /api/jobs/{id}` → `{deleted: true}` for a terminal job; 500 traceback "Attempted to
 *   delete job 'X', but it is in a non-terminal state RUNNING." otherwise.
 * Errors are text/plain (Python tracebacks), never JSON, as on real Ray.
 *
 * JobDetails (§1.3): type "SUBMISSION", job_id (null while PENDING, then "01000000", "02000000"...),
 * submission_id, driver_info, status, entrypoint, message (the default texts of §1.4), error_type,
 * start_time/end_time (Unix ms), metadata, runtime_env, driver_agent_http_address, driver_node_id,
 * driver_exit_code, entrypoint_num_cpus/gpus/memory/resources.
 *
 * Running a job: it stays PENDING for `startDelayMs` (default 50), then its entrypoint runs as
 * `/bin/sh -c <entrypoint>` in its own process group (detached), in `cwd`, with env = PATH and HOME
 * of this process, then the fake's `env` option (what the cluster's nodes have: PYTHONPATH, a PATH
 * with a `larkflow` command...), then the runtime_env's env_vars. Exit 0 → SUCCEEDED; non-zero →
 * FAILED, error_type JOB_ENTRYPOINT_COMMAND_ERROR, driver_exit_code N (−signal when killed by a
 * signal), message "Job entrypoint command failed with exit code N, last available logs
 * (truncated to 20,000 chars):\n<log tail>". Terminal states never change.
 *
 * Test hooks: `journal`, `failNext`, `failAfterCreate`, `delayNext`, `forget`, `requireToken`,
 * `jobsStarted`, `processes`, `job`, `stopListening`/`resume`, and the mutable `startDelayMs`.
 *
 * Standalone: `node tests/fakes/ray.mjs [--port P] [--env K=V ...] [--cwd DIR] [--token T]
 * [--start-delay-ms N]` prints `fake ray listening on http://127.0.0.1:PORT` and stops on
 * SIGTERM/SIGINT, killing the processes it started.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';

const RAY_VERSION = '2.52.0';

const MESSAGES = {
  PENDING:
    'Job has not started yet. It may be waiting for resources (CPUs, GPUs, memory, custom resources) to become available. It may be waiting for the runtime environment to be set up.',
  RUNNING: 'Job is currently running.',
  STOPPED: 'Job was intentionally stopped.',
  SUCCEEDED: 'Job finished successfully.',
  FAILED: 'Job failed.',
};

const TERMINAL = new Set(['STOPPED', 'SUCCEEDED', 'FAILED']);

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };

const REQUEST_FIELDS = new Set([
  'entrypoint',
  'submission_id',
  'job_id',
  'runtime_env',
  'metadata',
  'entrypoint_num_cpus',
  'entrypoint_num_gpus',
  'entrypoint_memory',
  'entrypoint_resources',
  'entrypoint_label_selector',
]);

/**
 * @typedef {{ path?: string | RegExp, method?: string }} HookMatch
 * @typedef {{ method: string, path: string, status: number, time: number }} JournalEntry
 * @typedef {{ pid: number, submissionId: string, exited: boolean, exitedAt?: number, done: Promise<void> }} Proc
 * @typedef {{
 *   details: Record<string, any>,
 *   log: Buffer[],
 *   logBytes: number,
 *   proc?: Proc,
 *   timer?: NodeJS.Timeout,
 *   stopRequested: boolean,
 * }} JobRecord
 */

/** A Python-like traceback, as Ray's dashboard answers errors (text/plain). @param {string} where @param {string} line */
function traceback(where, line) {
  return [
    'Traceback (most recent call last):',
    '  File "/home/ray/anaconda3/lib/python3.11/site-packages/ray/dashboard/modules/job/job_head.py", line 410, in ' + where,
    '    result = await self._handle(req)',
    '  File "/home/ray/anaconda3/lib/python3.11/site-packages/ray/dashboard/modules/job/job_manager.py", line 512, in ' + where,
    '    raise',
    line,
    '',
  ].join('\n');
}

class HttpError extends Error {
  /** @param {number} code @param {string} text */
  constructor(code, text) {
    super(text);
    this.code = code;
    this.text = text;
  }
}

/** @param {import('node:http').IncomingMessage} req @returns {Promise<Buffer>} */
function readBody(req) {
  return new Promise((res, rej) => {
    /** @type {Buffer[]} */
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => res(Buffer.concat(chunks)));
    req.on('close', () => res(Buffer.concat(chunks)));
    req.on('error', rej);
  });
}

/** Python's type name of a JSON value. @param {unknown} v */
function pyType(v) {
  if (v === null) return "<class 'NoneType'>";
  if (typeof v === 'string') return "<class 'str'>";
  if (typeof v === 'boolean') return "<class 'bool'>";
  if (typeof v === 'number') return Number.isInteger(v) ? "<class 'int'>" : "<class 'float'>";
  if (Array.isArray(v)) return "<class 'list'>";
  return "<class 'dict'>";
}

const isDict = (/** @type {unknown} */ v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JobSubmitRequest.__post_init__ (ray/dashboard/modules/job/common.py). @param {any} body @returns {string | undefined} the error line */
function validate(body) {
  if (!isDict(body)) return `TypeError: ray.dashboard.modules.job.common.JobSubmitRequest() argument after ** must be a mapping, not ${pyType(body).slice(8, -2)}`;
  for (const k of Object.keys(body)) {
    if (!REQUEST_FIELDS.has(k)) return `TypeError: JobSubmitRequest.__init__() got an unexpected keyword argument '${k}'`;
  }
  if (!('entrypoint' in body)) return "TypeError: JobSubmitRequest.__init__() missing 1 required positional argument: 'entrypoint'";
  if (typeof body.entrypoint !== 'string') return `TypeError: entrypoint must be a string, got ${pyType(body.entrypoint)}`;
  if (body.submission_id != null && typeof body.submission_id !== 'string') return `TypeError: submission_id must be a string if provided, got ${pyType(body.submission_id)}`;
  if (body.runtime_env != null) {
    if (!isDict(body.runtime_env)) return `TypeError: runtime_env must be a dict, got ${pyType(body.runtime_env)}`;
    const ev = body.runtime_env.env_vars;
    if (ev != null) {
      if (!isDict(ev)) return `TypeError: runtime_env['env_vars'] must be of type Dict[str, str], got ${pyType(ev)}`;
      for (const [k, v] of Object.entries(ev)) {
        if (typeof v !== 'string') return `TypeError: runtime_env['env_vars'] must be of type Dict[str, str], got ${pyType(v)} for key ${JSON.stringify(k)}`;
      }
    }
  }
  if (body.metadata != null) {
    if (!isDict(body.metadata)) return `TypeError: metadata must be a dict, got ${pyType(body.metadata)}`;
    for (const [k, v] of Object.entries(body.metadata)) {
      if (typeof v !== 'string') return `TypeError: metadata values must be strings, got ${pyType(v)} for key ${JSON.stringify(k)}`;
    }
  }
  for (const f of ['entrypoint_num_cpus', 'entrypoint_num_gpus']) {
    const v = body[f];
    if (v != null && typeof v !== 'number') return `TypeError: ${f} must be a number, got ${pyType(v)}`;
    if (typeof v === 'number' && v < 0) return `ValueError: ${f} must be non-negative, got ${v}`;
  }
  const mem = body.entrypoint_memory;
  if (mem != null && !(typeof mem === 'number' && Number.isInteger(mem))) return `TypeError: entrypoint_memory must be an int, got ${pyType(mem)}`;
  if (typeof mem === 'number' && mem < 0) return `ValueError: entrypoint_memory must be non-negative, got ${mem}`;
  if (body.entrypoint_resources != null) {
    if (!isDict(body.entrypoint_resources)) return `TypeError: entrypoint_resources must be a dict, got ${pyType(body.entrypoint_resources)}`;
    for (const [k, v] of Object.entries(body.entrypoint_resources)) {
      if (typeof v !== 'number') return `TypeError: entrypoint_resources values must be numbers, got ${pyType(v)} for key ${JSON.stringify(k)}`;
    }
  }
  return undefined;
}

/** @param {number} pid @param {NodeJS.Signals} signal */
function killGroup(pid, signal) {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
}

/** The 8-hex-digit Ray job id of the n-th job ("01000000"): a little-endian 4-byte counter. @param {number} n */
function rayJobId(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b.toString('hex');
}

export class FakeRay {
  /**
   * @param {{ env?: Record<string, string>, cwd?: string, startDelayMs?: number, token?: string, port?: number,
   *   stopGraceMs?: number, duplicateStatus?: number, maxLogBytes?: number }} [opts]
   */
  constructor(opts = {}) {
    /** Environment of the cluster's nodes, under the runtime_env's env_vars. */
    this.env = { ...(opts.env ?? {}) };
    this.cwd = opts.cwd ?? process.cwd();
    /** How long a job stays PENDING before its entrypoint runs (mutable). */
    this.startDelayMs = opts.startDelayMs ?? 50;
    this.stopGraceMs = opts.stopGraceMs ?? 200;
    this.duplicateStatus = opts.duplicateStatus ?? 500;
    this.maxLogBytes = opts.maxLogBytes ?? 8 * 1024 * 1024;
    /** @type {string | undefined} */
    this.token = opts.token;
    this.requestedPort = opts.port ?? 0;
    /** @type {JournalEntry[]} */
    this.journal = [];
    /** @type {Map<string, JobRecord>} by submission id */
    this.jobs = new Map();
    /** @type {Map<string, number>} */
    this.created = new Map();
    /** @type {Set<Proc>} */
    this.procs = new Set();
    /** @type {Set<NodeJS.Timeout>} */
    this.timers = new Set();
    /** @type {(HookMatch & { remaining: number, status: number, retryAfterSeconds?: number, body?: string })[]} */
    this.faults = [];
    /** @type {(HookMatch & { remaining: number, ms: number })[]} */
    this.delays = [];
    this.afterCreate = 0;
    this.jobCounter = 0;
    this.port = 0;
    this.closed = false;
    this.listening = false;
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        try {
          this.send(res, req, 500, traceback('handle', `RuntimeError: ${e instanceof Error ? e.message : String(e)}`));
        } catch {
          /* connection gone */
        }
      });
    });
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /** Starts listening on 127.0.0.1. @returns {Promise<{url: string, port: number}>} */
  async start() {
    await new Promise((res, rej) => {
      this.server.once('error', rej);
      this.server.listen(this.requestedPort, '127.0.0.1', () => {
        this.server.off('error', rej);
        res(undefined);
      });
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    this.listening = true;
    return { url: this.url, port: this.port };
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Stops accepting connections (clients get ECONNREFUSED); jobs keep running. */
  async stopListening() {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise((res) => this.server.close(() => res(undefined)));
    this.server.closeAllConnections();
    await closed;
  }

  /** Listens again on the same port. */
  async resume() {
    if (this.listening || this.closed) return;
    await new Promise((res, rej) => {
      this.server.once('error', rej);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', rej);
        res(undefined);
      });
    });
    this.listening = true;
  }

  /** Stops the server, every timer, and every process group it started. */
  async close() {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    /** @type {Promise<void>[]} */
    const waits = [];
    for (const p of this.procs) {
      if (!p.exited) {
        killGroup(p.pid, 'SIGKILL');
        waits.push(p.done);
      } else if (p.exitedAt !== undefined && Date.now() - p.exitedAt < 60_000) {
        killGroup(p.pid, 'SIGKILL'); // what the entrypoint left running in the background
      }
    }
    if (this.listening) {
      this.listening = false;
      const closed = new Promise((res) => this.server.close(() => res(undefined)));
      this.server.closeAllConnections();
      await closed;
    }
    await Promise.race([Promise.all(waits), new Promise((res) => setTimeout(res, 1000).unref())]);
  }

  // ---- hooks -----------------------------------------------------------------------------------

  /**
   * The next `n` requests matching `match` (method, and a path substring or RegExp) are answered
   * `status` with a text/plain body (`match.body`, else a stock text for the status), before any handling.
   * @param {number} n @param {number} [status] @param {HookMatch & { retryAfterSeconds?: number, body?: string }} [match]
   */
  failNext(n, status = 500, match = {}) {
    this.faults.push({ remaining: n, status, ...match });
  }

  /** The next `n` submissions create their job but are answered 500 (the ambiguous case). @param {number} [n] */
  failAfterCreate(n = 1) {
    this.afterCreate += n;
  }

  /** The next `n` (default 1) requests matching `match` wait `ms` before being handled. @param {number} ms @param {HookMatch & { n?: number }} [match] */
  delayNext(ms, match = {}) {
    const { n, ...m } = match;
    this.delays.push({ remaining: n ?? 1, ms, ...m });
  }

  /** Every request must carry `Authorization: Bearer <token>` (401 without, 403 when wrong); undefined turns auth off. @param {string | undefined} token */
  requireToken(token) {
    this.token = token;
  }

  /**
   * The job disappears, as when the cluster restarts without GCS fault tolerance: 404 afterwards,
   * its process group killed. Accepts a submission id or a Ray job id. @param {string} id
   */
  forget(id) {
    const rec = this.find(id);
    if (rec === undefined) return false;
    this.jobs.delete(rec.details.submission_id);
    if (rec.timer !== undefined) {
      clearTimeout(rec.timer);
      this.timers.delete(rec.timer);
    }
    rec.details.status = 'STOPPED'; // nobody sees it any more; the process's exit changes nothing
    if (rec.proc !== undefined) killGroup(rec.proc.pid, 'SIGKILL'); // the group, even when its shell is gone
    return true;
  }

  /** Jobs created (a 200, or the ambiguous 500 of `failAfterCreate`) per submission id. @returns {Record<string, number>} */
  jobsStarted() {
    return Object.fromEntries(this.created);
  }

  /** Entrypoint processes started so far. */
  processes() {
    return [...this.procs].map((p) => ({ pid: p.pid, submissionId: p.submissionId, exited: p.exited }));
  }

  /** A job's JobDetails (a copy), or undefined. @param {string} id */
  job(id) {
    const rec = this.find(id);
    return rec === undefined ? undefined : structuredClone(rec.details);
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  /** @param {string} id @returns {JobRecord | undefined} */
  find(id) {
    const direct = this.jobs.get(id);
    if (direct !== undefined) return direct;
    for (const r of this.jobs.values()) if (r.details.job_id === id) return r;
    return undefined;
  }

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res */
  async handle(req, res) {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const matchHook = (/** @type {HookMatch} */ h) =>
      (h.method === undefined || h.method.toUpperCase() === method) && (h.path === undefined || (typeof h.path === 'string' ? path.includes(h.path) : h.path.test(path)));

    // The request is received whole first: a slow server still performs what it was sent.
    const raw = await readBody(req);
    const delay = this.delays.find((d) => d.remaining > 0 && matchHook(d));
    if (delay !== undefined) {
      delay.remaining--;
      this.delays = this.delays.filter((d) => d.remaining > 0);
      await new Promise((r) => {
        const t = setTimeout(() => {
          this.timers.delete(t);
          r(undefined);
        }, delay.ms);
        this.timers.add(t);
      });
      if (this.closed) return;
    }
    const fault = this.faults.find((f) => f.remaining > 0 && matchHook(f));
    if (fault !== undefined) {
      fault.remaining--;
      this.faults = this.faults.filter((f) => f.remaining > 0);
      const texts = /** @type {Record<number, string>} */ ({
        500: traceback('handle', 'RuntimeError: injected fault'),
        502: '502 Bad Gateway',
        503: 'No available agent to submit job, please try again later.',
        429: 'Too Many Requests',
      });
      const headers = fault.retryAfterSeconds !== undefined ? { 'Retry-After': String(fault.retryAfterSeconds) } : {};
      this.send(res, req, fault.status, fault.body ?? texts[fault.status] ?? `injected fault ${fault.status}`, headers);
      return;
    }
    if (this.token !== undefined) {
      const auth = req.headers.authorization ?? req.headers['x-ray-authorization'];
      const header = Array.isArray(auth) ? auth[0] : auth;
      if (header === undefined || header === '') {
        this.send(res, req, 401, 'Unauthorized: Missing authentication token');
        return;
      }
      if (header !== `Bearer ${this.token}`) {
        this.send(res, req, 403, 'Forbidden: Invalid authentication token');
        return;
      }
    }
    try {
      this.route(req, res, path, method, raw);
    } catch (e) {
      if (e instanceof HttpError) this.send(res, req, e.code, e.text);
      else throw e;
    }
  }

  /** @param {import('node:http').ServerResponse} res @param {import('node:http').IncomingMessage} req @param {number} code @param {unknown} body @param {Record<string, string>} [headers] */
  send(res, req, code, body, headers = {}) {
    const url = new URL(req.url ?? '/', 'http://x');
    this.journal.push({ method: req.method ?? 'GET', path: url.pathname, status: code, time: Date.now() });
    if (res.destroyed || res.writableEnded) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(code, {
      'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {string} path @param {string} method @param {Buffer} raw */
  route(req, res, path, method, raw) {
    if (path === '/api/version' && method === 'GET') {
      this.send(res, req, 200, { version: '4', ray_version: RAY_VERSION, ray_commit: 'fake', session_name: 'session_fake' });
      return;
    }
    if (path === '/api/jobs/') {
      if (method === 'POST') return this.submit(req, res, raw);
      if (method === 'GET') {
        this.send(res, req, 200, [...this.jobs.values()].map((r) => r.details));
        return;
      }
      throw new HttpError(405, '405: Method Not Allowed');
    }
    if (path === '/api/jobs') {
      // aiohttp answers the path without the trailing slash 404 (the route is "/api/jobs/")
      throw new HttpError(404, '404: Not Found');
    }
    const m = /^\/api\/jobs\/([^/]+)(\/logs|\/stop)?$/.exec(path);
    if (m !== null) {
      const id = decodeURIComponent(m[1] ?? '');
      const rec = this.find(id);
      if (rec === undefined) throw new HttpError(404, `Job ${id} does not exist`);
      const d = rec.details;
      if (m[2] === undefined && method === 'GET') {
        this.send(res, req, 200, d);
        return;
      }
      if (m[2] === undefined && method === 'DELETE') {
        if (!TERMINAL.has(d.status)) {
          throw new HttpError(500, traceback('delete_job', `RuntimeError: Attempted to delete job '${d.submission_id}', but it is in a non-terminal state ${d.status}.`));
        }
        this.jobs.delete(d.submission_id);
        this.send(res, req, 200, { deleted: true });
        return;
      }
      if (m[2] === '/logs' && method === 'GET') {
        this.send(res, req, 200, { logs: d.status === 'PENDING' ? '' : Buffer.concat(rec.log).toString('utf8') });
        return;
      }
      if (m[2] === '/stop' && method === 'POST') {
        this.send(res, req, 200, { stopped: this.stop(rec) });
        return;
      }
      throw new HttpError(405, '405: Method Not Allowed');
    }
    throw new HttpError(404, '404: Not Found');
  }

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {Buffer} raw */
  submit(req, res, raw) {
    /** @type {any} */
    let body;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw new HttpError(400, traceback('submit_job', `json.decoder.JSONDecodeError: ${e instanceof Error ? e.message : String(e)}`));
    }
    const invalid = validate(body);
    if (invalid !== undefined) throw new HttpError(400, traceback('submit_job', invalid));
    const id = body.submission_id ?? body.job_id ?? `raysubmit_${Math.random().toString(36).slice(2, 18)}`;
    if (this.jobs.has(id)) {
      const line = `ValueError: Job with submission_id ${id} already exists. Please use a different submission_id.`;
      const text =
        this.duplicateStatus === 500
          ? traceback('submit_job', `RuntimeError: Request failed with status code 400: Traceback (most recent call last):\n  File "job_agent.py", line 67, in submit_job\n${line}\n.`)
          : traceback('submit_job', line);
      throw new HttpError(this.duplicateStatus, text);
    }
    const start = Date.now();
    /** @type {JobRecord} */
    const rec = {
      details: {
        type: 'SUBMISSION',
        job_id: null,
        submission_id: id,
        driver_info: null,
        status: 'PENDING',
        entrypoint: body.entrypoint,
        message: MESSAGES.PENDING,
        error_type: null,
        start_time: start,
        end_time: null,
        metadata: body.metadata ?? {},
        runtime_env: body.runtime_env ?? {},
        driver_agent_http_address: null,
        driver_node_id: null,
        driver_exit_code: null,
        entrypoint_num_cpus: body.entrypoint_num_cpus ?? null,
        entrypoint_num_gpus: body.entrypoint_num_gpus ?? null,
        entrypoint_memory: body.entrypoint_memory ?? null,
        entrypoint_resources: body.entrypoint_resources ?? null,
      },
      log: [],
      logBytes: 0,
      stopRequested: false,
    };
    this.jobs.set(id, rec);
    this.created.set(id, (this.created.get(id) ?? 0) + 1);
    const t = setTimeout(() => {
      this.timers.delete(t);
      rec.timer = undefined;
      this.run(rec);
    }, this.startDelayMs);
    rec.timer = t;
    this.timers.add(t);
    if (this.afterCreate > 0) {
      this.afterCreate--;
      throw new HttpError(500, traceback('submit_job', 'asyncio.exceptions.TimeoutError: the job agent did not answer in time'));
    }
    this.send(res, req, 200, { job_id: id, submission_id: id });
  }

  /** Moves a job to a terminal status (never from one). @param {JobRecord} rec @param {'SUCCEEDED'|'FAILED'|'STOPPED'} status @param {Record<string, unknown>} [extra] */
  end(rec, status, extra = {}) {
    const d = rec.details;
    if (TERMINAL.has(d.status)) return;
    Object.assign(d, { status, message: MESSAGES[status], end_time: Date.now() }, extra);
  }

  /** Starts the entrypoint. @param {JobRecord} rec */
  run(rec) {
    const d = rec.details;
    if (this.closed || d.status !== 'PENDING') return;
    /** @type {Record<string, string>} */
    const env = {};
    if (process.env.PATH !== undefined) env.PATH = process.env.PATH;
    if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
    Object.assign(env, this.env, d.runtime_env?.env_vars ?? {});
    let child;
    try {
      child = spawn('/bin/sh', ['-c', d.entrypoint], { cwd: this.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      this.end(rec, 'FAILED', { error_type: 'JOB_SUPERVISOR_ACTOR_START_FAILURE', message: `Failed to start supervisor actor: ${e instanceof Error ? e.message : String(e)}` });
      return;
    }
    const pid = child.pid ?? -1;
    /** @type {() => void} */
    let markDone = () => {};
    /** @type {Proc} */
    const proc = { pid, submissionId: d.submission_id, exited: child.pid === undefined, done: new Promise((r) => (markDone = () => r())) };
    rec.proc = proc;
    const onData = (/** @type {Buffer} */ chunk) => {
      if (rec.logBytes >= this.maxLogBytes) return;
      const part = chunk.subarray(0, this.maxLogBytes - rec.logBytes);
      rec.log.push(part);
      rec.logBytes += part.length;
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    let ended = false;
    const finish = (/** @type {number | null} */ code, /** @type {NodeJS.Signals | null} */ signal) => {
      if (ended) return;
      ended = true;
      proc.exited = true;
      proc.exitedAt = Date.now();
      markDone();
      if (this.jobs.get(d.submission_id) !== rec) return; // forgotten
      if (rec.stopRequested) {
        this.end(rec, 'STOPPED');
        return;
      }
      const exit = code ?? -(SIGNALS[/** @type {keyof typeof SIGNALS} */ (signal ?? 'SIGKILL')] ?? 9);
      if (exit === 0) {
        this.end(rec, 'SUCCEEDED', { driver_exit_code: 0 });
        return;
      }
      const tail = Buffer.concat(rec.log).toString('utf8').slice(-20_000);
      this.end(rec, 'FAILED', {
        error_type: 'JOB_ENTRYPOINT_COMMAND_ERROR',
        driver_exit_code: exit,
        message: `Job entrypoint command failed with exit code ${exit}, last available logs (truncated to 20,000 chars):\n${tail}`,
      });
    };
    child.on('error', (err) => {
      if (child.pid !== undefined || ended) return;
      ended = true;
      proc.exited = true;
      markDone();
      this.end(rec, 'FAILED', { error_type: 'JOB_SUPERVISOR_ACTOR_START_FAILURE', message: `Failed to start the entrypoint: ${err.message}` });
    });
    if (child.pid === undefined) return;
    this.procs.add(proc);
    child.on('exit', (code, signal) => {
      // wait for stdio to drain, but not forever (a grandchild may hold the pipes)
      const t = setTimeout(() => finish(code, signal), 50);
      child.once('close', () => {
        clearTimeout(t);
        finish(code, signal);
      });
    });
    this.jobCounter++;
    const jobId = rayJobId(this.jobCounter);
    Object.assign(d, {
      status: 'RUNNING',
      message: MESSAGES.RUNNING,
      job_id: jobId,
      driver_info: { id: jobId, node_ip_address: '127.0.0.1', pid: String(pid) },
      driver_agent_http_address: 'http://127.0.0.1:52365',
      driver_node_id: 'fake-node-0000000000000000000000000000000000000000000000000000',
    });
  }

  /** POST stop: true when the supervisor was alive (the job not terminal). @param {JobRecord} rec */
  stop(rec) {
    const d = rec.details;
    if (TERMINAL.has(d.status)) return false;
    rec.stopRequested = true;
    if (d.status === 'PENDING') {
      if (rec.timer !== undefined) {
        clearTimeout(rec.timer);
        this.timers.delete(rec.timer);
        rec.timer = undefined;
      }
      this.end(rec, 'STOPPED');
      return true;
    }
    const p = rec.proc;
    if (p !== undefined) {
      killGroup(p.pid, 'SIGTERM');
      const t = setTimeout(() => {
        this.timers.delete(t);
        killGroup(p.pid, 'SIGKILL'); // the whole group, as Ray does, even when the shell has gone
      }, this.stopGraceMs);
      this.timers.add(t);
    }
    return true;
  }
}

/** Creates and starts a fake. @param {ConstructorParameters<typeof FakeRay>[0]} [opts] */
export async function startFakeRay(opts) {
  const fake = new FakeRay(opts);
  await fake.start();
  return fake;
}

async function main() {
  const args = process.argv.slice(2);
  /** @type {NonNullable<ConstructorParameters<typeof FakeRay>[0]>} */
  const opts = {};
  /** @type {Record<string, string>} */
  const env = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = () => {
      const x = args[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--port') opts.port = Number(v());
    else if (a === '--env') {
      const kv = v();
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new Error(`--env wants K=V, not ${kv}`);
      env[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else if (a === '--cwd') opts.cwd = resolvePath(v());
    else if (a === '--token') opts.token = v();
    else if (a === '--start-delay-ms') opts.startDelayMs = Number(v());
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node tests/fakes/ray.mjs [--port P] [--env K=V ...] [--cwd DIR] [--token T] [--start-delay-ms N]\n');
      return;
    } else throw new Error(`unknown argument ${a}`);
  }
  opts.env = env;
  const fake = new FakeRay(opts);
  await fake.start();
  process.stdout.write(`fake ray listening on ${fake.url}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void fake.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolvePath(process.argv[1])).href) {
  main().catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  });
}
