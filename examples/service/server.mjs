#!/usr/bin/env node
/**
 * An HTTP service that embeds larkflow (plain node:http, no framework): it starts runs of
 * promote.star, streams their events, answers questions about them and forwards approvals.
 *
 *   npm run build && node examples/service/server.mjs [--port 8080] [--db PATH]
 *
 *   POST /runs                       {"model": "iris-v3"}  (header Idempotency-Key: a retry is the same run)
 *   GET  /runs?limit=20&after=CURSOR  a page of runs, and the next cursor
 *   GET  /runs/ID                     status, published events, progress
 *   GET  /runs/ID/stream              Server-Sent Events: the run's history as it is recorded
 *   GET  /runs/ID/query/status        the workflow's status query
 *   POST /runs/ID/signals/approve     {"ok": true, "by": "ana"}  (header Idempotency-Key)
 *   POST /runs/ID/cancel
 *   GET  /runs/ID/result              waits for the end
 *
 * It prints `listening on http://127.0.0.1:PORT` when ready. Runs left unfinished by a previous
 * process (a crash, a deploy) are recovered at start.
 */
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import '../../dist/stdlib/index.js';
import { Engine } from '../../dist/engine/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({ options: { port: { type: 'string', default: '0' }, db: { type: 'string', default: join('.larkflow', 'service.db') } } });

const engine = Engine.open({ db: opts.db, pollIntervalMs: 200 });
engine.registerTask('evaluate', (model) => (String(model).includes('bad') ? 0.5 : 0.95));
engine.registerTask('deploy', (model) => `models://${model}`);
engine.recover();

/** Reads a JSON body (at most 64 KiB). */
function body(req) {
  return new Promise((resolve, reject) => {
    let text = '';
    req.on('data', (d) => {
      text += d;
      if (text.length > 65536) reject(Object.assign(new Error('body too large'), { status: 413 }));
    });
    req.on('end', () => {
      try {
        resolve(text === '' ? {} : JSON.parse(text));
      } catch {
        reject(Object.assign(new Error('the body is not valid JSON'), { status: 400 }));
      }
    });
  });
}

function send(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const parts = url.pathname.split('/').filter(Boolean);
  try {
    if (req.method === 'POST' && url.pathname === '/runs') {
      const input = await body(req);
      if (typeof input.model !== 'string') return send(res, 400, { error: 'give {"model": "name"}' });
      const key = req.headers['idempotency-key'];
      const run = engine.start({ file: join(here, 'promote.star'), kwargs: { model: input.model }, ...(typeof key === 'string' ? { idempotencyKey: key } : {}) });
      return send(res, 201, { runId: run.runId });
    }
    if (req.method === 'GET' && url.pathname === '/runs') {
      const after = url.searchParams.get('after');
      const page = engine.listRuns({ limit: Math.min(100, Number(url.searchParams.get('limit') ?? 20)), ...(after ? { after } : {}) });
      return send(res, 200, { runs: page.runs.map((r) => ({ runId: r.runId, status: r.status, startedAt: r.startedAt })), next: page.next ?? null });
    }
    if (parts[0] === 'runs' && parts[1]) {
      const run = engine.handle(parts[1]);
      if (req.method === 'GET' && parts.length === 2) {
        const st = run.state();
        return send(res, 200, { runId: run.runId, status: st.status, events: st.events, progress: st.progress });
      }
      if (req.method === 'GET' && parts[2] === 'stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        for (const e of run.history()) res.write(`data: ${JSON.stringify(e)}\n\n`);
        if (run.status() !== 'running') return res.end();
        const unsubscribe = engine.subscribe(run.runId, (e) => {
          res.write(`data: ${JSON.stringify(e)}\n\n`);
          if (e.kind === 'RunCompleted' || e.kind === 'RunFailed' || e.kind === 'RunCancelled') res.end();
        });
        req.on('close', unsubscribe);
        return;
      }
      if (req.method === 'GET' && parts[2] === 'query' && parts[3]) return send(res, 200, { answer: run.query(parts[3]) });
      if (req.method === 'POST' && parts[2] === 'signals' && parts[3]) {
        const key = req.headers['idempotency-key'];
        const r = run.signal(parts[3], await body(req), typeof key === 'string' ? { key } : {});
        return send(res, 202, r);
      }
      if (req.method === 'POST' && parts[2] === 'cancel') {
        run.cancel('cancelled through the service');
        return send(res, 202, { cancelling: run.runId });
      }
      if (req.method === 'GET' && parts[2] === 'result') return send(res, 200, await run.result());
    }
    return send(res, 404, { error: `no route ${req.method} ${url.pathname}` });
  } catch (e) {
    // larkflow's UsageErrors (no such run, ended run, conflicting idempotency key) are the caller's.
    const usage = e.name === 'UsageError' || e.code === 'usage';
    const status = e.status ?? (usage ? (/^no run /.test(e.message) ? 404 : 409) : 500);
    return send(res, status, { error: e.message });
  }
});

server.listen(Number(opts.port), '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    server.close();
    server.closeAllConnections();
    // Runs stay unfinished in the database; the next start recovers them.
    void engine.close().then(() => process.exit(0));
  });
}
