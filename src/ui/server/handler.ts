/**
 * This file defines `createUiHandler`: the run inspector as one node:http request handler, mountable
 * under a base path in any server (node:http, express, fastify, hono's node adapter). It routes
 * `/api/*` to the JSON API and the live streams (see src/ui/api-types.ts for every route and shape)
 * and everything else to the prebuilt browser app. Every answer carries the security headers of
 * http.ts; errors are ApiError JSON with a hint.
 */
import { existsSync, openSync, readSync, closeSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe } from '../../cli/commands/history.js';
import { attemptDirOf } from '../../engine/executors/index.js';
import { Engine, isBlobMarker, type HistoryEvent, type RunRecord, type RunStarted } from '../../engine/index.js';
import type { HistoryPage, LogTail, Meta } from '../api-types.js';
import { cancelRun, rerunRun, resumeRun, retryRun, type ActionContext } from './actions.js';
import { cacheAvailable, listCache, listPipelines, listTriggers } from './catalog.js';
import { HttpError, readJsonBody, safeJson, securityHeaders, sendError, sendFailure, sendJson } from './http.js';
import { projectGraph } from './projections/graph.js';
import { kindsOf } from './projections/history.js';
import { partOf } from './projections/payload.js';
import { PlanError, resumePlan } from './projections/resume-plan.js';
import { runDetail } from './projections/run.js';
import { projectSource } from './projections/source.js';
import { projectSteps } from './projections/steps.js';
import { SqliteReader, StoreReader, type HistoryReader } from './reader.js';
import { RunData } from './run-data.js';
import { intParam, listRuns, resumesOf } from './runs.js';
import { checkAction, checkHost } from './security.js';
import { SseHub } from './sse.js';
import { defaultStaticDir, StaticFiles } from './static.js';
import { resumePoint, RunListStreams, streamRun } from './streams.js';
import { EngineTailer, SqliteTailer, type Tailer } from './tailer.js';

/** Options of `createUiHandler`. */
export interface UiHandlerOptions {
  /** The engine to read (and act) through. Without it, one is opened on `db` and closed by `close()`. */
  readonly engine?: Engine;
  /** The SQLite database to open when no engine is given. @default ".larkflow/larkflow.db" */
  readonly db?: string;
  /** Where the handler is mounted ("/" or "/larkflow"). @default "/" */
  readonly basePath?: string;
  /** Accept actions (cancel, retry, resume, re-run) from anyone who reaches the server. @default false */
  readonly allowActions?: boolean;
  /** Accept actions from requests with `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** The built browser app. @default the package's dist/ui */
  readonly staticDir?: string;
  /**
   * Host names (without port) the server answers to besides loopback names and IP literals, or
   * ['*'] for any (behind a proxy that checks Host itself). Guards against DNS rebinding.
   */
  readonly allowedHosts?: readonly string[];
  /** How often the database is checked for new events, in ms. @default 250 */
  readonly pollMs?: number;
  /** How often an idle stream gets a heartbeat comment, in ms. @default 15000 */
  readonly heartbeatMs?: number;
  /** The `--db` argument the CLI lines show. @default the database path */
  readonly dbLabel?: string;
  /** Called before an action starts or resumes a run on the engine (to add the executors it needs). */
  readonly prepareRun?: (runId: string, started: RunStarted) => Promise<void>;
}

/** A request handler with what it holds open. */
export interface UiHandler {
  (req: IncomingMessage, res: ServerResponse, next?: () => void): void;
  /** The engine it reads through. */
  readonly engine: Engine;
  /** Ends every open stream and stops following the database; closes the engine if it opened it. */
  close(): Promise<void>;
}

const LOG_TAIL_DEFAULT = 64 * 1024;
const LOG_TAIL_MAX = 1 << 20;
const HISTORY_DEFAULT = 200;
const HISTORY_MAX = 1000;

function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'larkflow') return pkg.version ?? '0.0.0';
    } catch {
      // not here
    }
    dir = dirname(dir);
  }
  return '0.0.0';
}

/** "/larkflow/" from "/larkflow", "larkflow/" or "/". */
function normalizeBase(base: string | undefined): string {
  const b = (base ?? '/').trim();
  const withSlash = (b.startsWith('/') ? b : `/${b}`).replace(/\/+$/, '');
  return `${withSlash}/`;
}

/** The path of a SQLite store, if the engine's store is one. */
function storePath(engine: Engine): string | undefined {
  const p = (engine.store as { path?: unknown }).path;
  return typeof p === 'string' && p !== ':memory:' ? p : undefined;
}

/**
 * Creates the run inspector's request handler: the browser app, its JSON API and its live streams
 * (see src/ui/api-types.ts), for the runs of an engine's database. Read-only unless `allowActions`
 * or a `token` is given. Call `close()` before closing the server: it ends the open streams.
 *
 * @example Mount it under /larkflow in an existing server
 * ```ts
 * import { createServer } from 'node:http';
 * import { createUiHandler } from 'larkflow';
 * const ui = createUiHandler({ db: '.larkflow/larkflow.db', basePath: '/larkflow' });
 * createServer((req, res) => ui(req, res, () => { res.statusCode = 404; res.end(); })).listen(8080, '127.0.0.1');
 * ```
 */
export function createUiHandler(options: UiHandlerOptions = {}): UiHandler {
  const ownEngine = options.engine === undefined;
  const engine = options.engine ?? Engine.open({ db: options.db ?? join('.larkflow', 'larkflow.db') });
  const dbPath = storePath(engine) ?? (typeof options.db === 'string' && options.db !== ':memory:' ? resolve(options.db) : undefined);
  const sqlite = dbPath !== undefined && existsSync(dbPath) ? new SqliteReader(dbPath) : undefined;
  const reader: HistoryReader = sqlite ?? new StoreReader(engine.store);
  const tailer: Tailer = sqlite ? new SqliteTailer(sqlite, options.pollMs ?? 250) : new EngineTailer(engine);
  const hub = new SseHub(options.heartbeatMs);
  const data = new RunData(engine, reader);
  const lists = new RunListStreams(hub, tailer, data);
  const base = normalizeBase(options.basePath);
  const files = new StaticFiles(options.staticDir ?? defaultStaticDir(), base);
  const dbLabel = options.dbLabel ?? dbPath ?? '';
  const version = packageVersion();
  const actions: ActionContext = { engine, dbArg: dbLabel, first: (runId) => reader.event(runId, 1), ...(options.prepareRun ? { prepare: options.prepareRun } : {}) };
  const cacheOk = (): boolean => cacheAvailable(engine, dbPath);
  let closed = false;

  const recordOf = (runId: string): RunRecord => {
    const rec = engine.store.getRun(runId);
    if (!rec) throw new HttpError(404, `no run ${runId}`, 'see the runs list for the ids');
    return rec;
  };
  const steps = (rec: RunRecord) =>
    data.memo(rec, 'steps', (h) => {
      const started = h[0]?.kind === 'RunStarted' ? h[0] : undefined;
      return projectSteps(h, {
        runId: rec.runId,
        ...(started?.resumedFrom ? { resumedFrom: started.resumedFrom.runId } : {}),
        cacheSource: (key) => {
          if (!cacheOk()) return undefined;
          try {
            return engine.cache.lookup(key, engine.clock.now())?.runId;
          } catch {
            return undefined;
          }
        },
      });
    });

  const historyPage = (rec: RunRecord, q: URLSearchParams): HistoryPage => {
    const after = intParam('after', q.get('after'), 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam('limit', q.get('limit'), HISTORY_DEFAULT, 1, HISTORY_MAX);
    const kindList = q.get('kinds') ? q.get('kinds')!.split(',').map((k) => k.trim()).filter((k) => k !== '') : undefined;
    const kinds = kindsOf(kindList, q.get('failures') === '1' || q.get('failures') === 'true');
    const text = q.get('q') ?? undefined;
    const events = reader.page(rec.runId, { after, limit: limit + 1, ...(kinds ? { kinds } : {}), ...(text ? { q: text } : {}) });
    const more = events.length > limit;
    const page = more ? events.slice(0, limit) : events;
    return { events: page as unknown as HistoryPage['events'], ...(more ? { next: page[page.length - 1]!.seq } : {}), total: rec.lastSeq, summaries: page.map((e) => describe(e)) };
  };

  const downloadHistory = async (rec: RunRecord, res: ServerResponse): Promise<void> => {
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-disposition': `attachment; filename="${rec.runId.replace(/[^A-Za-z0-9_.-]/g, '_')}.history.json"`,
      'cache-control': 'no-store',
    });
    let after = 0;
    let first = true;
    // Waits for the socket to drain (or close: a client that went away).
    const write = (s: string): Promise<void> =>
      res.write(s)
        ? Promise.resolve()
        : new Promise((r) => {
            const done = (): void => {
              res.off('drain', done);
              res.off('close', done);
              r();
            };
            res.on('drain', done);
            res.on('close', done);
          });
    await write('[');
    for (;;) {
      const page = reader.page(rec.runId, { after, limit: 1000 });
      if (page.length === 0) break;
      await write((first ? '\n' : ',\n') + page.map((e) => safeJson(e)).join(',\n'));
      first = false;
      after = page[page.length - 1]!.seq;
      if (res.destroyed) return;
    }
    res.end('\n]\n');
  };

  const payload = async (rec: RunRecord, q: URLSearchParams, res: ServerResponse): Promise<void> => {
    const seq = intParam('seq', q.get('seq'), 0, 0, Number.MAX_SAFE_INTEGER);
    const part = q.get('part') ?? 'result';
    const e = reader.event(rec.runId, seq);
    if (!e) throw new HttpError(404, `run ${rec.runId} has no event ${seq}`, 'the reference names an event of the run');
    const v = partOf(e as unknown as Record<string, unknown>, part);
    if (v === undefined) throw new HttpError(404, `event ${seq} of run ${rec.runId} has no ${part}`, 'part is result, args.I or kwargs.NAME');
    if (!isBlobMarker(v)) return sendJson(res, 200, v);
    const bytes = await engine.blobs.get(v.$blob);
    if (!bytes) throw new HttpError(404, `blob ${v.$blob} is missing from ${v.uri}`, 'it may have been deleted; re-run the step that produced it');
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch {
      throw new HttpError(502, `blob ${v.$blob} at ${v.uri} is not JSON`, 'it may be damaged; re-run the step that produced it');
    }
    sendJson(res, 200, value);
  };

  const logTail = (rec: RunRecord, q: URLSearchParams): LogTail => {
    const stepId = q.get('step');
    if (!stepId) throw new HttpError(400, 'logs needs step', 'e.g. logs?step=train%231');
    const history = data.history(rec);
    const attempts = history.filter((e): e is Extract<HistoryEvent, { kind: 'AttemptStarted' }> => e.kind === 'AttemptStarted' && e.stepId === stepId);
    if (attempts.length === 0) throw new HttpError(404, `step ${stepId} of run ${rec.runId} ran no attempt`, 'a cached or reused step has no logs');
    const want = q.get('attempt') ? intParam('attempt', q.get('attempt'), 1, 1, Number.MAX_SAFE_INTEGER) : attempts[attempts.length - 1]!.attempt;
    const a = attempts.find((x) => x.attempt === want);
    if (!a) throw new HttpError(404, `step ${stepId} has no attempt ${want}`, `attempts: ${attempts.map((x) => x.attempt).join(', ')}`);
    const cli = `larkflow logs ${rec.runId} ${stepId} --attempt ${want}${dbLabel ? ` --db ${dbLabel}` : ''}`;
    const bytes = intParam('bytes', q.get('bytes'), LOG_TAIL_DEFAULT, 1, LOG_TAIL_MAX);
    // In-process tasks' `ctx.log` lines go to the CLI's attempt directory beside the database
    // (<db dir>/attempts/RUN/STEP/N/task.log), which their AttemptStarted does not record.
    const where = a.logs ?? (a.executor === 'local' && dbPath !== undefined ? attemptDirOf(join(dirname(dbPath), 'attempts'), { runId: rec.runId, stepId, attempt: want }) : undefined);
    const base = { stepId, attempt: want, ...(where ? { location: where } : {}), cli };
    if (!where || (!a.logs && !existsSync(where))) return { ...base, text: '', truncated: false, note: 'the attempt kept no log (an in-process task that wrote none, or ran in another process)' };
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(where) || !existsSync(where)) return { ...base, text: '', truncated: false, note: `the log is not a file on this machine: ${cli}` };
    const st = statSync(where);
    if (st.isDirectory()) {
      // An attempt directory: its stdout/stderr files.
      const parts: string[] = [];
      let truncated = false;
      const names = ['task.log', 'stdout.log', 'stderr.log'].filter((name) => existsSync(join(where, name)));
      for (const name of names) {
        const t = tailOf(join(where, name), bytes);
        truncated ||= t.truncated;
        parts.push(names.length > 1 ? `== ${name} ==\n${t.text}` : t.text);
      }
      return { ...base, text: parts.join('\n'), truncated, ...(parts.length === 0 ? { note: `no log files in ${where}` } : {}) };
    }
    const t = tailOf(where, bytes);
    return { ...base, text: t.text, truncated: t.truncated };
  };

  const get = async (rel: string, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (rel === 'api/meta') {
      const meta: Meta = { version, readOnly: !options.allowActions, db: dbPath ?? 'memory', now: Date.now(), tokenAccepted: options.token !== undefined && options.token !== '' };
      return sendJson(res, 200, meta);
    }
    if (rel === 'api/runs') return sendJson(res, 200, listRuns(data, q));
    if (rel === 'api/stream') return lists.open(req, res, q);
    if (rel === 'api/pipelines') return sendJson(res, 200, { items: await listPipelines(dbPath) });
    if (rel === 'api/triggers') return sendJson(res, 200, { items: await listTriggers(dbPath, Date.now()) });
    if (rel === 'api/cache') return sendJson(res, 200, { items: listCache(engine, dbPath) });
    const m = /^api\/runs\/([^/]+)(?:\/(.+))?$/.exec(rel);
    if (!m) throw new HttpError(404, `no such API route: /${rel}`, 'see the routes in src/ui/api-types.ts');
    const runId = decodeURIComponent(m[1]!);
    const sub = m[2] ?? '';
    const rec = recordOf(runId);
    switch (sub) {
      case '': {
        const history = data.headerHistory(rec);
        const s = data.summary(rec);
        return sendJson(res, 200, runDetail(rec, history, { counters: s.counters, related: resumesOf(data, rec), dbArg: dbLabel }));
      }
      case 'steps':
        return sendJson(res, 200, { steps: steps(rec) });
      case 'graph':
        return sendJson(res, 200, data.memo(rec, 'graph', () => projectGraph(steps(rec))));
      case 'history':
        return sendJson(res, 200, historyPage(rec, q));
      case 'history.json':
        return downloadHistory(rec, res);
      case 'payload':
        return payload(rec, q, res);
      case 'logs':
        return sendJson(res, 200, logTail(rec, q));
      case 'source':
        return sendJson(res, 200, data.memo(rec, 'source', (h) => projectSource(h, steps(rec), h[0]?.kind === 'RunStarted' ? engine.store.getScript(h[0].scriptDigest) : undefined)));
      case 'resume-plan':
        try {
          return sendJson(res, 200, resumePlan(runId, data.history(rec), q.get('from') || undefined, dbLabel));
        } catch (e) {
          if (e instanceof PlanError) throw new HttpError(400, e.message, 'pick a step of the run (see its Steps tab)');
          throw e;
        }
      case 'stream':
        return streamRun(hub, tailer, reader, runId, resumePoint(req, q), req, res);
      default: {
        const ev = /^events\/(\d+)$/.exec(sub);
        if (ev) {
          const e = reader.event(runId, Number(ev[1]));
          if (!e) throw new HttpError(404, `run ${runId} has no event ${ev[1]}`, `its events are 1..${rec.lastSeq}`);
          return sendJson(res, 200, e);
        }
        throw new HttpError(404, `no such API route: /${rel}`, 'see the routes in src/ui/api-types.ts');
      }
    }
  };

  const post = async (rel: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const m = /^api\/runs\/([^/]+)\/(cancel|retry|resume|rerun)$/.exec(rel);
    if (!m) throw new HttpError(404, `no such action: POST /${rel}`, 'actions: cancel, retry, resume, rerun under /api/runs/:id/');
    checkAction(req, options);
    const body = await readJsonBody(req);
    const runId = decodeURIComponent(m[1]!);
    switch (m[2]) {
      case 'cancel':
        return sendJson(res, 200, cancelRun(actions, runId, body));
      case 'retry':
        return sendJson(res, 200, await retryRun(actions, runId, body));
      case 'resume':
        return sendJson(res, 200, await resumeRun(actions, runId, body));
      default:
        return sendJson(res, 200, await rerunRun(actions, runId, body));
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, next?: () => void): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (!path.startsWith(base)) {
      if (`${path}/` === base && req.method === 'GET') {
        securityHeaders(res);
        res.writeHead(308, { location: base + url.search });
        res.end();
        return;
      }
      if (next) return next();
      securityHeaders(res);
      return sendError(res, 404, `not found: ${path}`, `the inspector is at ${base}`);
    }
    securityHeaders(res);
    if (closed) return sendError(res, 503, 'the server is shutting down', 'try again when it is back');
    const rel = path.slice(base.length);
    const api = rel === 'api' || rel.startsWith('api/');
    try {
      checkHost(req, options);
      const method = req.method ?? 'GET';
      if (api) {
        if (method === 'GET' || method === 'HEAD') return await get(rel, url.searchParams, req, res);
        if (method === 'POST') return await post(rel, req, res);
        res.setHeader('allow', 'GET, HEAD, POST');
        throw new HttpError(405, `method ${method} is not allowed here`, 'the API takes GET, and POST for actions');
      }
      if (method !== 'GET' && method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        throw new HttpError(405, `method ${method} is not allowed here`, 'pages are read with GET');
      }
      if (files.serveFile(rel, res, method === 'HEAD')) return;
      // A missing asset is a 404, not the app's page (a stale index.html asking for an old bundle).
      if (/^assets\//.test(rel) || /\.[a-z0-9]{1,5}$/i.test(rel)) throw new HttpError(404, `not found: /${rel}`, 'rebuild the UI (npm run build) and reload');
      files.serveIndex(res, method === 'HEAD');
    } catch (e) {
      sendFailure(res, e);
    }
  };

  const handler = ((req: IncomingMessage, res: ServerResponse, next?: () => void): void => {
    void handle(req, res, next);
  }) as UiHandler;
  Object.defineProperty(handler, 'engine', { value: engine, enumerable: true });
  handler.close = async () => {
    if (closed) return;
    closed = true;
    hub.closeAll();
    tailer.close();
    reader.close();
    if (ownEngine) await engine.close();
  };
  return handler;
}

/** The last `max` bytes of a file, as text. */
function tailOf(file: string, max: number): { text: string; truncated: boolean } {
  const size = statSync(file).size;
  const start = Math.max(0, size - max);
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    return { text: buf.toString('utf8'), truncated: start > 0 };
  } finally {
    closeSync(fd);
  }
}
