#!/usr/bin/env node
/**
 * A protocol-faithful fake Apache Livy server (REST batches, notes §2) that really runs its batches.
 *
 * It serves, over plain HTTP on 127.0.0.1 (errors are `{"msg": ...}` with application/json, as
 * Livy's servlets answer them):
 * - `POST   /batches` → 201, `Location: /batches/{id}`, the Batch. 400 `File is required.` without
 *   `file`; 400 `Duplicate session name: Some(<name>)` when a batch of that name is still known
 *   (running or finished but not yet garbage-collected: Livy's SessionManager keeps names until the
 *   session is removed); 400 for a request body that is not a JSON object or whose fields have the
 *   wrong types (`driverCores: 1.5`, `args: "x"`).
 * - `GET    /batches?from=0&size=100` → `{"from", "total", "sessions": [Batch...]}` (in creation order).
 * - `GET    /batches/{id}` → the Batch; 404 `Session '{id}' not found.`
 * - `GET    /batches/{id}/state` → `{"id", "state"}`.
 * - `GET    /batches/{id}/log?from=&size=` → `{"id", "from", "total", "log": [...]}`; `size`
 *   defaults to 100; without `from` it is the LAST `size` lines; a negative size is all of it.
 * - `DELETE /batches/{id}` → 200 `{"msg":"deleted"}`: the batch's process group is killed and the
 *   batch is removed (later GETs 404), whatever its state, as Livy does.
 * A Batch is `{id, name, owner, proxyUser, state, appId, appInfo: {driverLogUrl, sparkUiUrl}, log}`
 * where `log` is its last 10 log lines. Ids count from 0.
 *
 * CSRF (`requireCsrf`, default true, as `livy.server.csrf-protection.enabled`): a non-GET request
 * without an `X-Requested-By` header gets 400 `Missing Required Header for CSRF protection.`
 * Authentication (`basicAuth: {user, password}`): every request needs that HTTP Basic
 * `Authorization` header, else 401 (with `WWW-Authenticate: Basic realm="livy"`); the batch's owner
 * is then that user.
 *
 * Running a batch (like `spark-submit <file> <args>` of a Python application, in client mode): the
 * batch is `starting` for `startDelayMs` (default 0), then `python3 <file> ...args` is spawned, where
 * <file> is the batch's `file` with a `local:` or `file:` scheme stripped, or the local path the
 * `files` option maps that URI to (`{ [uri]: localPath }`, so tests can point the image's runner
 * path at runners/python/larkflow_entry.py). The process is detached (its own process group), in
 * `cwd` (default this process's cwd), with the driver's environment: PATH and HOME of this process,
 * then the `env` option (the "cluster", e.g. PYTHONPATH), then every `spark.yarn.appMasterEnv.K`
 * and `spark.kubernetes.driverEnv.K` conf value. The batch is then `running`, with an
 * `appId` (`application_<ts>_<seq>`, as on YARN). Its log is Livy's: `"stdout: "`, the stdout lines,
 * `"\nstderr: "`, the stderr lines, `"\nYARN Diagnostics: "` and, after a non-zero exit,
 * `"User application exited with status N"` (what YARN reports for a failed Python application).
 * Exit 0 → `success`; non-zero (or a signal not ours) → `dead`; `kill(id)` (an external `yarn
 * application -kill`) → `killed`. `driverMemory`/`executorMemory` must be Spark sizes ("4g", "512m")
 * and the core counts integers, as spark-submit checks them: otherwise the batch goes `dead`
 * without running, with spark-submit's error in its log. A `file` that does not exist is `dead` too
 * (python3 says so on stderr).
 *
 * Disappearing batches: `gcAfterMs` (default: never) removes finished batches that long after they
 * finish (`livy.server.session.state-retain.sec`); `forget(id)` removes one at once (its process
 * killed); `restart()` forgets every batch and restarts the ids at 0 (a Livy restart without
 * recovery), so a later batch of another name can get an old id.
 *
 * Test hooks: `journal` (every request: method, path, query, status, the X-Requested-By header and
 * the parsed JSON body of a POST), `failNext(n, status, match?)`, `failAfterCreate(n)` (the batch is
 * created, then the answer is 500), `delayNext(ms, match?)` (the request is read whole, then held:
 * a request whose client timed out is still performed), `forget(id)`, `kill(id)`, `restart()`,
 * `stopListening()`/`resume()` (connection refused meanwhile), `batchesStarted()` (batches created
 * per name), `batch(id)` (the stored batch with its create request), `processes()`.
 *
 * Not modelled: interactive sessions, `recovering` (no recovery store), YARN/Kubernetes themselves
 * (the driver's stdout is shown as spark-submit shows it in client mode), `proxyUser` checks, and
 * `livy.server.session.max-creation`.
 *
 * Standalone: `node tests/fakes/livy.mjs [--port P] [--env K=V ...] [--file URI=PATH ...]
 * [--start-delay-ms N] [--gc-after-ms N] [--no-csrf]` prints
 * `fake livy listening on http://127.0.0.1:PORT` and stops on SIGTERM/SIGINT, killing the
 * processes it started.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';

const TERMINAL = new Set(['success', 'dead', 'killed', 'error']);
const SPARK_SIZE = /^\d+([kmgtp]b?|b)?$/i;
const LOG_IN_BATCH = 10;

/**
 * @typedef {object} FakeLivyOptions
 * @property {number} [port] port to listen on (default 0: random)
 * @property {Record<string, string>} [env] environment of every driver process (the "cluster")
 * @property {Record<string, string>} [files] batch `file` URI → local path of the script to run
 * @property {string} [cwd] working directory of the driver processes (default: this process's cwd)
 * @property {string} [python] the interpreter (default "python3")
 * @property {number} [startDelayMs] time a batch stays `starting` (default 0)
 * @property {number} [gcAfterMs] finished batches are removed this long after finishing (default: never)
 * @property {boolean} [requireCsrf] non-GET requests need X-Requested-By (default true)
 * @property {{user: string, password: string}} [basicAuth] require HTTP Basic authentication
 */

/**
 * @typedef {object} Proc
 * @property {import('node:child_process').ChildProcess} child
 * @property {number} pid
 * @property {number} batchId
 * @property {string | null} name
 * @property {boolean} exited
 * @property {number | null} exitCode
 * @property {NodeJS.Signals | null} signal
 * @property {Promise<void>} done
 */

/**
 * @typedef {object} BatchRec
 * @property {number} id
 * @property {string | null} name
 * @property {string | null} owner
 * @property {string | null} proxyUser
 * @property {string} state
 * @property {string | null} appId
 * @property {string[]} stdout
 * @property {string[]} stderr
 * @property {string[]} diagnostics
 * @property {Record<string, unknown>} request
 * @property {Proc | undefined} proc
 * @property {Set<NodeJS.Timeout>} timers
 * @property {boolean} removed
 * @property {'kill' | undefined} stopping
 */

class HttpError extends Error {
  /** @param {number} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
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

/** Splits a stream into lines, keeping a partial last line until more comes or the stream ends. */
class LineSplitter {
  /** @param {string[]} into */
  constructor(into) {
    this.into = into;
    this.rest = '';
  }
  /** @param {Buffer} chunk */
  push(chunk) {
    const parts = (this.rest + chunk.toString('utf8')).split('\n');
    this.rest = parts.pop() ?? '';
    for (const p of parts) this.into.push(p.replace(/\r$/, ''));
  }
  end() {
    if (this.rest !== '') this.into.push(this.rest);
    this.rest = '';
  }
}

/** The type checks Livy's JSON binding (CreateBatchRequest) makes. @param {any} b @returns {string | undefined} */
function badField(b) {
  /** @type {Record<string, 'string' | 'int' | 'strings' | 'map'>} */
  const fields = {
    file: 'string',
    proxyUser: 'string',
    className: 'string',
    name: 'string',
    queue: 'string',
    driverMemory: 'string',
    executorMemory: 'string',
    driverCores: 'int',
    executorCores: 'int',
    numExecutors: 'int',
    args: 'strings',
    jars: 'strings',
    pyFiles: 'strings',
    files: 'strings',
    archives: 'strings',
    conf: 'map',
  };
  for (const [k, t] of Object.entries(fields)) {
    const v = b[k];
    if (v === undefined || v === null) continue;
    const ok =
      t === 'string'
        ? typeof v === 'string'
        : t === 'int'
          ? Number.isInteger(v)
          : t === 'strings'
            ? Array.isArray(v) && v.every((x) => typeof x === 'string')
            : typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
    if (!ok) return `Cannot deserialize value of field "${k}" (expected ${t === 'int' ? 'an int' : t === 'strings' ? 'a list of strings' : t === 'map' ? 'a map of strings' : 'a string'}): ${JSON.stringify(v)}`;
  }
  return undefined;
}

export class FakeLivy {
  /** @param {FakeLivyOptions} [opts] */
  constructor(opts = {}) {
    this.requestedPort = opts.port ?? 0;
    /** @type {Record<string, string>} */
    this.env = { ...(opts.env ?? {}) };
    /** @type {Record<string, string>} */
    this.files = { ...(opts.files ?? {}) };
    this.cwd = opts.cwd ?? process.cwd();
    this.python = opts.python ?? 'python3';
    this.startDelayMs = opts.startDelayMs ?? 0;
    /** @type {number | undefined} */
    this.gcAfterMs = opts.gcAfterMs;
    this.requireCsrf = opts.requireCsrf ?? true;
    this.basicAuth = opts.basicAuth;
    /** @type {{method: string, path: string, query: Record<string, string>, status: number, requestedBy?: string, body?: unknown, time: number}[]} */
    this.journal = [];
    /** @type {Map<number, BatchRec>} */
    this.batches = new Map();
    /** @type {Map<string, number>} */
    this.created = new Map();
    /** @type {Set<Proc>} */
    this.procs = new Set();
    /** @type {Set<NodeJS.Timeout>} */
    this.timers = new Set();
    /** @type {{remaining: number, status: number, path?: string | RegExp, method?: string}[]} */
    this.faults = [];
    /** @type {{remaining: number, ms: number, path?: string | RegExp, method?: string}[]} */
    this.delays = [];
    this.afterCreate = 0;
    this.nextId = 0;
    this.appSeq = 0;
    this.clusterTs = Date.now();
    this.port = 0;
    this.closed = false;
    this.listening = false;
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        try {
          this.send(res, req, 500, { msg: `${e instanceof Error ? e.message : String(e)}` });
        } catch {
          /* connection gone */
        }
      });
    });
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /** Starts listening on 127.0.0.1. @returns {Promise<{url: string, port: number}>} */
  async start() {
    await this.listen(this.requestedPort);
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    return { url: this.url, port: this.port };
  }

  /** @param {number} port */
  async listen(port) {
    await new Promise((res, rej) => {
      this.server.once('error', rej);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', rej);
        res(undefined);
      });
    });
    this.listening = true;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Stops accepting connections (clients get ECONNREFUSED); batches keep running. */
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
    await this.listen(this.port);
  }

  /** Stops the server, every timer, and every process it spawned (by process group). */
  async close() {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const b of this.batches.values()) for (const t of b.timers) clearTimeout(t);
    const waits = [];
    for (const p of this.procs) {
      if (!p.exited) {
        killGroup(p.pid, 'SIGKILL');
        waits.push(p.done);
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
   * with `status` and a `{"msg"}` body before any handling (and before the CSRF check).
   * @param {number} n @param {number} [status] @param {{path?: string | RegExp, method?: string}} [match]
   */
  failNext(n, status = 500, match = {}) {
    this.faults.push({ remaining: n, status, ...match });
  }

  /** The next `n` creates are performed (the batch starts), but answered 500. @param {number} [n] */
  failAfterCreate(n = 1) {
    this.afterCreate += n;
  }

  /**
   * The next `n` (default 1) requests matching `match` are read whole, then wait `ms` before
   * being handled (a client that gave up meanwhile still gets its request performed).
   * @param {number} ms @param {{path?: string | RegExp, method?: string, n?: number}} [match]
   */
  delayNext(ms, match = {}) {
    this.delays.push({ remaining: match.n ?? 1, ms, ...(match.path !== undefined ? { path: match.path } : {}), ...(match.method !== undefined ? { method: match.method } : {}) });
  }

  /** The batch disappears (404 afterwards, as after GC); its process is killed. @param {number} id @returns {boolean} */
  forget(id) {
    const b = this.batches.get(id);
    if (b === undefined) return false;
    this.remove(b);
    return true;
  }

  /** An external kill (`yarn application -kill`): the process is killed, the batch stays, `killed`. @param {number} id @returns {boolean} */
  kill(id) {
    const b = this.batches.get(id);
    if (b === undefined || TERMINAL.has(b.state)) return false;
    b.stopping = 'kill';
    if (b.proc !== undefined && !b.proc.exited) killGroup(b.proc.pid, 'SIGKILL');
    else this.finish(b, 'killed');
    return true;
  }

  /** A Livy restart without recovery: every batch is forgotten (processes killed), ids restart at 0. */
  restart() {
    for (const b of [...this.batches.values()]) this.remove(b);
    this.nextId = 0;
    this.clusterTs = Date.now();
    this.appSeq = 0;
  }

  /** Batches created (201, or the ambiguous 500 of `failAfterCreate`) per name. @returns {Record<string, number>} */
  batchesStarted() {
    return Object.fromEntries(this.created);
  }

  /** Processes spawned so far. */
  processes() {
    return [...this.procs].map((p) => ({ pid: p.pid, batchId: p.batchId, name: p.name, exited: p.exited, exitCode: p.exitCode, signal: p.signal }));
  }

  /** A stored batch (a copy: its Batch view, whole log and create request), or undefined. @param {number} id */
  batch(id) {
    const b = this.batches.get(id);
    if (b === undefined) return undefined;
    return { ...this.view(b), logLines: this.logLines(b), request: structuredClone(b.request) };
  }

  // ---- batches ---------------------------------------------------------------------------------

  /** @param {BatchRec} b */
  logLines(b) {
    return ['stdout: ', ...b.stdout, '\nstderr: ', ...b.stderr, '\nYARN Diagnostics: ', ...b.diagnostics];
  }

  /** @param {BatchRec} b */
  view(b) {
    return {
      id: b.id,
      name: b.name,
      owner: b.owner,
      proxyUser: b.proxyUser,
      state: b.state,
      appId: b.appId,
      appInfo: { driverLogUrl: null, sparkUiUrl: null },
      log: this.logLines(b).slice(-LOG_IN_BATCH),
    };
  }

  /** @param {BatchRec} b @param {number} ms @param {() => void} fn */
  later(b, ms, fn) {
    const t = setTimeout(() => {
      b.timers.delete(t);
      this.timers.delete(t);
      if (!b.removed && !this.closed) fn();
    }, ms);
    b.timers.add(t);
    this.timers.add(t);
  }

  /** @param {BatchRec} b */
  remove(b) {
    b.removed = true;
    for (const t of b.timers) {
      clearTimeout(t);
      this.timers.delete(t);
    }
    b.timers.clear();
    if (b.proc !== undefined && !b.proc.exited) killGroup(b.proc.pid, 'SIGKILL');
    if (this.batches.get(b.id) === b) this.batches.delete(b.id);
  }

  /** @param {BatchRec} b @param {string} state */
  finish(b, state) {
    if (TERMINAL.has(b.state) || b.removed) return;
    b.state = state;
    if (this.gcAfterMs !== undefined) this.later(b, this.gcAfterMs, () => this.remove(b));
  }

  /** @param {any} body @param {string | null} owner @returns {BatchRec} */
  createBatch(body, owner) {
    const id = this.nextId++;
    const name = typeof body.name === 'string' ? body.name : null;
    /** @type {BatchRec} */
    const b = {
      id,
      name,
      owner,
      proxyUser: typeof body.proxyUser === 'string' ? body.proxyUser : owner,
      state: 'starting',
      appId: null,
      stdout: [],
      stderr: [],
      diagnostics: [],
      request: structuredClone(body),
      proc: undefined,
      timers: new Set(),
      removed: false,
      stopping: undefined,
    };
    this.batches.set(id, b);
    const key = name ?? `#${id}`;
    this.created.set(key, (this.created.get(key) ?? 0) + 1);
    this.later(b, this.startDelayMs, () => this.run(b));
    return b;
  }

  /** spark-submit's checks, then the driver process. @param {BatchRec} b */
  run(b) {
    const r = /** @type {any} */ (b.request);
    for (const k of ['driverMemory', 'executorMemory']) {
      const v = r[k];
      if (typeof v === 'string' && !SPARK_SIZE.test(v)) {
        b.stderr.push(
          `Exception in thread "main" java.lang.NumberFormatException: Size must be specified as bytes (b), kibibytes (k), mebibytes (m), gibibytes (g), tebibytes (t), or pebibytes(p). E.g. 50b, 100k, or 250m.`,
          `Failed to parse byte string: ${v}`,
        );
        this.finish(b, 'dead');
        return;
      }
    }
    const file = String(r.file);
    const local = this.files[file] ?? file.replace(/^(local|file):(\/\/(?=\/))?/, '');
    /** @type {Record<string, string>} */
    const env = {};
    if (process.env.PATH !== undefined) env.PATH = process.env.PATH;
    if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
    Object.assign(env, this.env);
    const conf = /** @type {Record<string, string>} */ (r.conf ?? {});
    for (const prefix of ['spark.yarn.appMasterEnv.', 'spark.kubernetes.driverEnv.']) {
      for (const [k, v] of Object.entries(conf)) if (k.startsWith(prefix) && k.length > prefix.length) env[k.slice(prefix.length)] = v;
    }
    const args = Array.isArray(r.args) ? r.args.map(String) : [];
    let child;
    try {
      child = spawn(this.python, [local, ...args], { cwd: this.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      b.stderr.push(`Exception in thread "main" java.io.IOException: Cannot run program "${this.python}": ${e instanceof Error ? e.message : String(e)}`);
      this.finish(b, 'dead');
      return;
    }
    /** @type {() => void} */
    let markDone = () => {};
    /** @type {Proc} */
    const proc = {
      child,
      pid: child.pid ?? -1,
      batchId: b.id,
      name: b.name,
      exited: child.pid === undefined,
      exitCode: null,
      signal: null,
      done: new Promise((res) => (markDone = () => res(undefined))),
    };
    const out = new LineSplitter(b.stdout);
    const err = new LineSplitter(b.stderr);
    child.stdout?.on('data', (c) => out.push(c));
    child.stderr?.on('data', (c) => err.push(c));
    let ended = false;
    const end = (/** @type {number | null} */ code, /** @type {NodeJS.Signals | null} */ signal) => {
      if (ended) return;
      ended = true;
      out.end();
      err.end();
      proc.exited = true;
      proc.exitCode = code;
      proc.signal = signal;
      markDone();
      if (b.removed) return;
      if (b.stopping === 'kill') {
        b.diagnostics.push('Application killed by user.');
        this.finish(b, 'killed');
      } else if (code === 0) {
        this.finish(b, 'success');
      } else {
        b.diagnostics.push(code !== null ? `User application exited with status ${code}` : `User application was terminated by signal ${signal ?? '?'}`);
        this.finish(b, 'dead');
      }
    };
    child.on('error', (e) => {
      if (child.pid !== undefined || ended) return;
      ended = true;
      proc.exited = true;
      markDone();
      b.stderr.push(`Exception in thread "main" java.io.IOException: Cannot run program "${this.python}": ${e.message}`);
      this.finish(b, 'dead');
    });
    if (child.pid === undefined) return;
    this.procs.add(proc);
    b.proc = proc;
    child.on('exit', (code, signal) => {
      // wait for stdio to drain, but not forever (a grandchild may hold the pipes)
      const t = setTimeout(() => end(code, signal), 100);
      child.once('close', () => {
        clearTimeout(t);
        end(code, signal);
      });
    });
    b.state = 'running';
    b.appId = `application_${this.clusterTs}_${String(++this.appSeq).padStart(4, '0')}`;
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res */
  async handle(req, res) {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const matchHook = (/** @type {{path?: string | RegExp, method?: string}} */ h) =>
      (h.method === undefined || h.method.toUpperCase() === method) && (h.path === undefined || (typeof h.path === 'string' ? path.includes(h.path) : h.path.test(path)));
    const raw = await readBody(req);
    /** @type {unknown} */
    let body;
    if (method === 'POST') {
      try {
        body = raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
      } catch {
        body = raw.toString('utf8');
      }
    }
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
      const msgs = { 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 429: 'Too Many Requests', 401: 'Unauthorized', 403: 'Forbidden' };
      this.send(res, req, fault.status, { msg: msgs[/** @type {keyof typeof msgs} */ (fault.status)] ?? 'injected fault' }, {}, body);
      return;
    }
    /** @type {string | null} */
    let owner = null;
    if (this.basicAuth !== undefined) {
      const want = `Basic ${Buffer.from(`${this.basicAuth.user}:${this.basicAuth.password}`).toString('base64')}`;
      if (req.headers.authorization !== want) {
        this.send(res, req, 401, { msg: 'Unauthorized' }, { 'WWW-Authenticate': 'Basic realm="livy"' }, body);
        return;
      }
      owner = this.basicAuth.user;
    }
    if (this.requireCsrf && method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS' && req.headers['x-requested-by'] === undefined) {
      this.send(res, req, 400, { msg: 'Missing Required Header for CSRF protection.' }, {}, body);
      return;
    }
    try {
      this.route(req, res, url, method, body, owner);
    } catch (e) {
      if (e instanceof HttpError) this.send(res, req, e.code, { msg: e.message }, {}, body);
      else throw e;
    }
  }

  /**
   * @param {import('node:http').ServerResponse} res @param {import('node:http').IncomingMessage} req
   * @param {number} code @param {unknown} payload @param {Record<string, string>} [headers] @param {unknown} [body]
   */
  send(res, req, code, payload, headers = {}, body) {
    const url = new URL(req.url ?? '/', 'http://x');
    const by = req.headers['x-requested-by'];
    this.journal.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status: code,
      ...(typeof by === 'string' ? { requestedBy: by } : {}),
      ...(body !== undefined ? { body } : {}),
      time: Date.now(),
    });
    if (res.destroyed || res.writableEnded) return;
    const text = JSON.stringify(payload);
    res.writeHead(code, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  /**
   * @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res
   * @param {URL} url @param {string} method @param {unknown} body @param {string | null} owner
   */
  route(req, res, url, method, body, owner) {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const q = url.searchParams;
    if (path === '/batches') {
      if (method === 'GET') {
        const all = [...this.batches.values()];
        const from = Math.max(0, Number(q.get('from') ?? 0) || 0);
        const size = Number(q.get('size') ?? 100);
        const page = all.slice(from, from + (Number.isFinite(size) && size >= 0 ? size : 100));
        this.send(res, req, 200, { from, total: all.length, sessions: page.map((b) => this.view(b)) });
        return;
      }
      if (method === 'POST') {
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'Rejected, the request body is not a JSON object.');
        const b = /** @type {Record<string, unknown>} */ (body);
        const bad = badField(b);
        if (bad !== undefined) throw new HttpError(400, bad);
        if (typeof b.file !== 'string' || b.file === '') throw new HttpError(400, 'File is required.');
        if (typeof b.name === 'string' && [...this.batches.values()].some((x) => x.name === b.name)) {
          throw new HttpError(400, `Duplicate session name: Some(${b.name})`);
        }
        const rec = this.createBatch(b, owner);
        if (this.afterCreate > 0) {
          this.afterCreate--;
          this.send(res, req, 500, { msg: 'Internal Server Error' }, {}, body);
          return;
        }
        this.send(res, req, 201, this.view(rec), { Location: `/batches/${rec.id}` }, body);
        return;
      }
      throw new HttpError(405, `Method ${method} not allowed.`);
    }
    const m = /^\/batches\/([^/]+)(\/state|\/log)?$/.exec(path);
    if (m !== null) {
      const idText = decodeURIComponent(m[1] ?? '');
      if (!/^-?\d+$/.test(idText)) throw new HttpError(400, `Invalid session id: ${idText}`);
      const id = Number(idText);
      const b = this.batches.get(id);
      if (b === undefined) throw new HttpError(404, `Session '${id}' not found.`);
      if (m[2] === undefined && method === 'GET') {
        this.send(res, req, 200, this.view(b));
        return;
      }
      if (m[2] === undefined && method === 'DELETE') {
        this.remove(b);
        this.send(res, req, 200, { msg: 'deleted' });
        return;
      }
      if (m[2] === '/state' && method === 'GET') {
        this.send(res, req, 200, { id: b.id, state: b.state });
        return;
      }
      if (m[2] === '/log' && method === 'GET') {
        const lines = this.logLines(b);
        let size = q.has('size') ? Number(q.get('size')) : 100;
        let from = q.has('from') ? Number(q.get('from')) : -1;
        if (!Number.isInteger(size) || !Number.isInteger(from)) throw new HttpError(400, 'from and size must be integers');
        if (size < 0) {
          from = 0;
          size = lines.length;
        } else if (from < 0) {
          from = Math.max(0, lines.length - size);
        }
        this.send(res, req, 200, { id: b.id, from, total: lines.length, log: lines.slice(from, from + size) });
        return;
      }
      throw new HttpError(405, `Method ${method} not allowed.`);
    }
    throw new HttpError(404, `Not Found: ${url.pathname}`);
  }
}

/** Creates and starts a fake. @param {FakeLivyOptions} [opts] */
export async function startFakeLivy(opts) {
  const fake = new FakeLivy(opts);
  await fake.start();
  return fake;
}

async function main() {
  const args = process.argv.slice(2);
  /** @type {FakeLivyOptions & {env: Record<string, string>, files: Record<string, string>}} */
  const opts = { env: {}, files: {} };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = () => {
      const x = args[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    const pair = (/** @type {string} */ s) => {
      const eq = s.indexOf('=');
      if (eq <= 0) throw new Error(`${a} wants K=V, not ${s}`);
      return [s.slice(0, eq), s.slice(eq + 1)];
    };
    if (a === '--port') opts.port = Number(v());
    else if (a === '--env') {
      const [k, x] = pair(v());
      opts.env[/** @type {string} */ (k)] = /** @type {string} */ (x);
    } else if (a === '--file') {
      const s = v();
      const eq = s.lastIndexOf('=');
      if (eq <= 0) throw new Error(`--file wants URI=PATH, not ${s}`);
      opts.files[s.slice(0, eq)] = resolvePath(s.slice(eq + 1));
    } else if (a === '--start-delay-ms') opts.startDelayMs = Number(v());
    else if (a === '--gc-after-ms') opts.gcAfterMs = Number(v());
    else if (a === '--no-csrf') opts.requireCsrf = false;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node tests/fakes/livy.mjs [--port P] [--env K=V ...] [--file URI=PATH ...] [--start-delay-ms N] [--gc-after-ms N] [--no-csrf]\n');
      return;
    } else throw new Error(`unknown argument ${a}`);
  }
  const fake = new FakeLivy(opts);
  await fake.start();
  process.stdout.write(`fake livy listening on ${fake.url}\n`);
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
