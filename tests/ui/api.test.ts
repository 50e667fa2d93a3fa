/**
 * The run inspector's HTTP API on a real SQLite database, served on 127.0.0.1: the runs list
 * (filters, keyset pages, counters), a run's header with its root failure, steps, graph, history
 * (pages, filters, search, download, one event, references to large values), source marks, the
 * live stream's replay after Last-Event-ID, the static app, and the security of every answer
 * (CSP, nosniff, JSON only, Host checks) and of actions (read-only, content type, Origin, token).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine } from '../../src/engine/index.js';
import type { HistoryPage, RunDetail, RunPage, Step, Graph, Source, ResumePlan, Meta } from '../../src/ui/api-types.js';
import { startUiServer, type UiServer } from '../../src/ui/server/index.js';
import { scratchDirs } from '../helpers/cli.js';
import { act, http, sse } from './fixtures/http.js';
import { FAILING, FANOUT, MARKUP, SLEEPER, registerAll } from './fixtures/workflows.js';

const scratch = scratchDirs('larkflow-ui-api-');
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'";

let engine: Engine;
let ro: UiServer;
let rw: UiServer;
let dir: string;
const ids: { fan1: string; fan2: string; fail: string; markup: string } = { fan1: '', fan2: '', fail: '', markup: '' };

beforeAll(async () => {
  const s = scratch();
  dir = s.dir;
  engine = Engine.open({ db: s.db, workDir: join(s.dir, 'attempts') });
  registerAll(engine);
  const run = async (text: string, args: unknown[], name: string): Promise<string> => {
    const h = engine.start({ source: { name, text }, args });
    await h.result;
    return h.runId;
  };
  ids.fan1 = await run(FANOUT, [3], 'fan.star');
  ids.fan2 = await run(FANOUT, [3], 'fan.star');
  ids.fail = await run(FAILING, [7], 'fail.star');
  ids.markup = await run(MARKUP, ['<script>alert(1)</script>'], 'markup.star');
  const ui = join(s.dir, 'ui');
  mkdirSync(join(ui, 'assets'), { recursive: true });
  writeFileSync(join(ui, 'index.html'), '<!doctype html><html><head><meta charset="utf-8"><title>t</title></head><body><div id="app"></div><script type="module" src="assets/app-3f9a1c2b.js"></script></body></html>');
  writeFileSync(join(ui, 'assets', 'app-3f9a1c2b.js'), 'console.log(1)');
  writeFileSync(join(s.dir, 'secret.txt'), 'TOPSECRET-CONTENT');
  ro = await startUiServer({ engine, staticDir: ui, dbLabel: 'runs.db' });
  rw = await startUiServer({ engine, staticDir: ui, allowActions: true, basePath: '/lf' });
});

afterAll(async () => {
  await ro?.close();
  await rw?.close();
  await engine?.close();
});

describe('the runs list', () => {
  it('lists runs newest first with progress, cache hits and the first error', async () => {
    const a = await http(`${ro.url}api/runs`);
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toMatch(/^application\/json/);
    const page = a.json<RunPage>();
    expect(page.runs.map((r) => r.runId)).toEqual([ids.markup, ids.fail, ids.fan2, ids.fan1]);
    const fan2 = page.runs.find((r) => r.runId === ids.fan2)!;
    expect(fan2).toMatchObject({ status: 'completed', workflow: 'main', file: 'fan.star', progress: { done: 6, total: 6 }, cacheHits: 1, lastSeq: expect.any(Number) });
    expect(fan2.durationMs).toBeGreaterThanOrEqual(0);
    expect(page.runs.find((r) => r.runId === ids.fan1)!.cacheHits).toBe(0);
    expect(page.runs.find((r) => r.runId === ids.fail)!.firstError).toMatchObject({ task: 'explode', message: expect.stringContaining('exploded on 7') });
  });

  it('filters by status (one or several), workflow file text and time', async () => {
    expect((await http(`${ro.url}api/runs?status=failed`)).json<RunPage>().runs.map((r) => r.runId)).toEqual([ids.fail]);
    expect((await http(`${ro.url}api/runs?status=failed,completed&limit=2`)).json<RunPage>().runs.map((r) => r.runId)).toEqual([ids.markup, ids.fail]);
    expect((await http(`${ro.url}api/runs?q=${ids.fan1.slice(4, 10)}`)).json<RunPage>().runs.map((r) => r.runId)).toEqual([ids.fan1]);
    expect((await http(`${ro.url}api/runs?until=1000`)).json<RunPage>().runs).toEqual([]);
    expect((await http(`${ro.url}api/runs?since=2000-01-01T00:00:00Z`)).json<RunPage>().runs).toHaveLength(4);
    const bad = await http(`${ro.url}api/runs?status=exploded`);
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ error: expect.stringContaining('unknown status'), hint: expect.any(String) });
  });

  it('pages with a keyset cursor: every run once, none missed, with filters', async () => {
    for (const filter of ['', '&status=completed,failed']) {
      const seen: string[] = [];
      let next: string | undefined;
      do {
        const page: RunPage = (await http(`${ro.url}api/runs?limit=1${filter}${next ? `&after=${next}` : ''}`)).json<RunPage>();
        seen.push(...page.runs.map((r) => r.runId));
        next = page.next;
      } while (next);
      expect(seen).toEqual([ids.markup, ids.fail, ids.fan2, ids.fan1]);
    }
  });
});

describe('a run', () => {
  it('has a header with the root failure: task, attempt, message, stack, call site, and the CLI lines', async () => {
    const d = (await http(`${ro.url}api/runs/${ids.fail}`)).json<RunDetail>();
    expect(d).toMatchObject({ runId: ids.fail, status: 'failed', inputs: { args: [7], kwargs: {} }, scriptDigest: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(d.failure).toMatchObject({ kind: 'task', task: 'explode', stepId: 'explode#1', attempt: 2, site: { file: 'fail.star', line: 8 } });
    expect(d.failure!.traceback).toContain('exploded on 7');
    // The task's stack without larkflow's and Node's frames, as `larkflow show` prints it.
    expect(d.failure!.traceback).not.toContain('function-executor');
    expect(engine.history(ids.fail).find((e) => e.kind === 'TaskFailed')).toMatchObject({ error: { details: expect.stringContaining('function-executor') } });
    expect(d.cli).toMatchObject({ resume: `larkflow resume ${ids.fail} --db runs.db`, cancel: expect.stringContaining(`larkflow cancel ${ids.fail}`) });
    const ok = (await http(`${ro.url}api/runs/${ids.fan1}`)).json<RunDetail>();
    expect(ok.result).toEqual({ model: 'm-0.3', n: 3 });
    expect(ok.failure).toBeUndefined();
    const missing = await http(`${ro.url}api/runs/run-nope`);
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({ error: 'no run run-nope', hint: expect.any(String) });
  });

  it('has steps with attempts, a fan-out group, and a cache hit linking to the producing run', async () => {
    const steps = (await http(`${ro.url}api/runs/${ids.fan2}/steps`)).json<{ steps: Step[] }>().steps;
    expect(steps.map((s) => s.stepId)).toEqual(['get#1', 'train#1', 'train#2', 'train#3', 'big#1', 'pick#1']);
    const pick = steps.find((s) => s.stepId === 'pick#1')!;
    expect(pick).toMatchObject({ state: 'cached', cache: { outcome: 'hit', sourceRunId: ids.fan1 } });
    const train2 = steps.find((s) => s.stepId === 'train#2')!;
    expect(train2.attempts.map((a) => a.outcome)).toEqual(['failed', 'ok']);
    expect(train2.group).toBeDefined();
    expect(new Set(steps.filter((s) => s.task === 'train').map((s) => s.group)).size).toBe(1);
  });

  it('has a graph with the fan-out collapsed and data-flow edges', async () => {
    const g = (await http(`${ro.url}api/runs/${ids.fan1}/graph`)).json<Graph>();
    const group = g.nodes.find((n) => n.count === 3)!;
    expect(group.label).toBe('train ×3');
    expect(g.edges).toEqual(expect.arrayContaining([{ from: 'get#1', to: group.id }, { from: group.id, to: 'pick#1' }]));
  });

  it('serves a large value by its reference, and one event whole', async () => {
    const steps = (await http(`${ro.url}api/runs/${ids.fan1}/steps`)).json<{ steps: Step[] }>().steps;
    const ref = steps.find((s) => s.stepId === 'big#1')!.output as { $ref: string; bytes: number };
    expect(ref.bytes).toBe(20_005);
    const whole = await http(ro.url + ref.$ref);
    expect(whole.status).toBe(200);
    expect(whole.json()).toBe('x'.repeat(20_003));
    const e = (await http(`${ro.url}api/runs/${ids.fan1}/events/1`)).json();
    expect(e).toMatchObject({ seq: 1, kind: 'RunStarted', runId: ids.fan1 });
  });

  it('pages its history by seq, filters by kind, failures and text, and downloads it whole', async () => {
    const total = (await http(`${ro.url}api/runs/${ids.fail}`)).json<RunDetail>().lastSeq;
    const p1 = (await http(`${ro.url}api/runs/${ids.fail}/history?limit=4`)).json<HistoryPage>();
    expect(p1.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(p1).toMatchObject({ next: 4, total });
    // One line per event, as `larkflow history` prints it.
    expect(p1.summaries).toHaveLength(4);
    expect(p1.summaries![1]).toMatch(/^step=prep#1 task=prep at=fail\.star:7 executor=local args=\[7\]/);
    const rest = (await http(`${ro.url}api/runs/${ids.fail}/history?after=${p1.next}&limit=1000`)).json<HistoryPage>();
    expect(rest.events.map((e) => e.seq)).toEqual(Array.from({ length: total - 4 }, (_, i) => i + 5));
    expect(rest.next).toBeUndefined();
    const kinds = (await http(`${ro.url}api/runs/${ids.fail}/history?kinds=TaskScheduled,RunFailed`)).json<HistoryPage>();
    expect(kinds.events.map((e) => e.kind)).toEqual(['TaskScheduled', 'TaskScheduled', 'RunFailed']);
    const failures = (await http(`${ro.url}api/runs/${ids.fail}/history?failures=1`)).json<HistoryPage>();
    expect(failures.events.map((e) => e.kind)).toEqual(['AttemptFailed', 'AttemptFailed', 'TaskFailed', 'RunFailed']);
    const search = (await http(`${ro.url}api/runs/${ids.fail}/history?q=EXPLODED%20ON%207&kinds=TaskFailed`)).json<HistoryPage>();
    expect(search.events.map((e) => e.kind)).toEqual(['TaskFailed']);
    const dl = await http(`${ro.url}api/runs/${ids.fail}/history.json`);
    expect(dl.headers['content-disposition']).toBe(`attachment; filename="${ids.fail}.history.json"`);
    expect(dl.json<{ seq: number }[]>().map((e) => e.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(dl.json()).toEqual(engine.history(ids.fail));
  });

  it('has its pinned source with marks at task call sites and the error line', async () => {
    const src = (await http(`${ro.url}api/runs/${ids.fail}/source`)).json<Source>();
    expect(src.entry).toBe('fail.star');
    expect(src.files).toEqual([{ path: 'fail.star', text: FAILING }]);
    expect(src.marks).toEqual([
      expect.objectContaining({ line: 7, kind: 'task', state: 'completed' }),
      expect.objectContaining({ line: 8, kind: 'task', state: 'failed', stepId: 'explode#1' }),
      expect.objectContaining({ line: 8, kind: 'error' }),
    ]);
  });

  it('says which steps a resume reuses', async () => {
    const plan = (await http(`${ro.url}api/runs/${ids.fail}/resume-plan`)).json<ResumePlan>();
    expect(plan).toEqual({ fromStep: 'explode#1', reused: ['prep#1'], rerun: ['explode#1'], cli: `larkflow resume ${ids.fail} --db runs.db` });
    expect((await http(`${ro.url}api/runs/${ids.fail}/resume-plan?from=nope`)).status).toBe(400);
  });
});

describe('the run stream', () => {
  it('replays after Last-Event-ID exactly once, with ids that are seqs', async () => {
    const total = engine.history(ids.fail).length;
    const s = sse(`${ro.url}api/runs/${ids.fail}/stream`, { 'last-event-id': '3' });
    try {
      expect(await s.status).toBe(200);
      const h = await s.headers;
      expect(h['content-type']).toMatch(/^text\/event-stream/);
      expect(h['cache-control']).toMatch(/no-cache/);
      expect(h['x-accel-buffering']).toBe('no');
      expect(h['content-security-policy']).toBe(CSP);
      await s.until((ev) => ev.some((e) => e.id === String(total)), 'the last event');
      const hist = s.events.filter((e) => e.event === 'history');
      expect(hist.map((e) => Number(e.id))).toEqual(Array.from({ length: total - 3 }, (_, i) => i + 4));
      expect(hist.map((e) => JSON.parse(e.data).seq)).toEqual(hist.map((e) => Number(e.id)));
    } finally {
      s.close();
    }
    const q = sse(`${ro.url}api/runs/${ids.fail}/stream?after=${total - 1}`);
    try {
      await q.until((ev) => ev.length > 0, 'an event');
      expect(q.events.map((e) => e.id)).toEqual([String(total)]);
    } finally {
      q.close();
    }
  });

  it('follows a running run live and sends the runs list its changes', async () => {
    const list = sse(`${ro.url}api/stream`);
    const h = engine.start({ source: { name: 'sleep.star', text: SLEEPER }, args: [] });
    const s = sse(`${ro.url}api/runs/${h.runId}/stream`);
    try {
      await s.until((ev) => ev.some((e) => JSON.parse(e.data).kind === 'TimerStarted'), 'the timer');
      engine.cancel(h.runId, 'from the test');
      await s.until((ev) => ev.some((e) => JSON.parse(e.data).kind === 'RunCancelled'), 'the end of the run');
      const seqs = s.events.map((e) => Number(e.id));
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
      await list.until((ev) => ev.some((e) => e.event === 'run' && JSON.parse(e.data).runId === h.runId && JSON.parse(e.data).status === 'cancelled'), 'the run row');
    } finally {
      s.close();
      list.close();
    }
  });

  it('says retry: 300 first, then keeps an idle stream open with heartbeat comments', async () => {
    const hb = await startUiServer({ engine, heartbeatMs: 50 });
    const s = sse(`${hb.url}api/runs/${ids.fail}/stream?after=1000`);
    try {
      await s.until(() => s.raw().includes(': heartbeat\n\n'), 'a heartbeat');
      expect(s.raw().startsWith('retry: 300\n\n')).toBe(true);
      expect(s.events).toEqual([]);
    } finally {
      s.close();
      await hb.close();
    }
  });

  it('ends every open stream when the server closes', async () => {
    const extra = await startUiServer({ engine });
    const s = sse(`${extra.url}api/runs/${ids.fail}/stream`);
    await s.until((ev) => ev.length > 0, 'the replay');
    await extra.close();
    await s.ended;
  });
});

describe('security', () => {
  it('sends the CSP and nosniff on every answer, and errors as JSON without stacks', async () => {
    for (const path of ['api/meta', 'api/runs', 'api/nope', '', 'runs/abc', 'assets/app-3f9a1c2b.js', 'assets/missing-12345678.js']) {
      const a = await http(ro.url + path);
      expect(a.headers['content-security-policy'], path).toBe(CSP);
      expect(a.headers['x-content-type-options'], path).toBe('nosniff');
    }
    const nope = await http(`${ro.url}api/nope`);
    expect(nope.status).toBe(404);
    expect(nope.json()).toEqual({ error: expect.any(String), hint: expect.any(String) });
    expect(nope.text).not.toMatch(/\n\s+at /);
  });

  it('returns a task result with <script> as JSON data, escaped, never as markup', async () => {
    for (const path of [`api/runs/${ids.markup}`, `api/runs/${ids.markup}/steps`, `api/runs/${ids.markup}/history`]) {
      const a = await http(ro.url + path);
      expect(a.headers['content-type']).toMatch(/^application\/json/);
      expect(a.text).not.toContain('<script>');
      expect(a.text).toContain('\\u003cscript\\u003e');
    }
    const d = (await http(`${ro.url}api/runs/${ids.markup}`)).json<RunDetail>();
    expect(d.result).toEqual({ html: '<script>alert(1)</script>' });
  });

  it('refuses a Host that is not the server (DNS rebinding)', async () => {
    const a = await http(`${ro.url}api/runs`, { headers: { host: 'evil.example:80' } });
    expect(a.status).toBe(403);
    expect(a.json()).toMatchObject({ error: expect.stringContaining('evil.example') });
    expect((await http(`${ro.url}api/runs`, { headers: { host: `localhost:${ro.port}` } })).status).toBe(200);
  });

  it('refuses actions on a read-only server, without JSON, or from another origin; the token opens them', async () => {
    const meta = (await http(`${ro.url}api/meta`)).json<Meta>();
    expect(meta.readOnly).toBe(true);
    const readOnly = await act(ro.url, `api/runs/${ids.fail}/retry`, {});
    expect(readOnly.status).toBe(403);
    expect(readOnly.json()).toMatchObject({ error: 'this server is read-only', hint: expect.stringContaining('--allow-actions') });
    const form = await http(`${rw.url}api/runs/${ids.fail}/cancel`, { method: 'POST', body: 'reason=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    const foreign = await act(rw.url, `api/runs/${ids.fail}/cancel`, {}, { origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.json().error).toContain('refused origin');
    const crossSite = await act(rw.url, `api/runs/${ids.fail}/cancel`, {}, { 'sec-fetch-site': 'cross-site' });
    expect(crossSite.status).toBe(403);
    const withToken = await startUiServer({ engine, token: 'a-long-enough-token-123' });
    try {
      expect((await act(withToken.url, `api/runs/${ids.fail}/cancel`, {}, { authorization: 'Bearer wrong-token-but-long-1' })).status).toBe(403);
      const ok = await act(withToken.url, `api/runs/${ids.fail}/cancel`, {}, { authorization: 'Bearer a-long-enough-token-123' });
      // Allowed through, and refused by the run itself: it has ended.
      expect(ok.status).toBe(409);
      expect(ok.json().error).toContain('has already ended');
    } finally {
      await withToken.close();
    }
  });
});

describe('actions', () => {
  it('cancels a running run with a reason and says the CLI equivalent', async () => {
    const h = engine.start({ source: { name: 'sleep.star', text: SLEEPER }, args: [] });
    const s = sse(`${rw.url}api/runs/${h.runId}/stream`);
    try {
      await s.until((ev) => ev.some((e) => JSON.parse(e.data).kind === 'TimerStarted'), 'the timer');
    } finally {
      s.close();
    }
    const a = await act(rw.url, `api/runs/${h.runId}/cancel`, { reason: 'no longer needed' });
    expect(a.status).toBe(200);
    expect(a.json()).toEqual({ ok: true, cli: expect.stringMatching(new RegExp(`^larkflow cancel ${h.runId} --reason 'no longer needed' --db .*runs\\.db$`)) });
    const r = await h.result;
    expect(r.status).toBe('cancelled');
    expect(engine.history(h.runId).find((e) => e.kind === 'RunCancelled')).toMatchObject({ reason: 'no longer needed' });
  });

  it('retries a failed step and resumes from a chosen step as new runs linked to the old one', async () => {
    const retry = await act(rw.url, `api/runs/${ids.fail}/retry`, {});
    expect(retry.status).toBe(200);
    const r1 = retry.json<{ runId: string; cli: string }>();
    expect(r1.cli).toMatch(new RegExp(`^larkflow resume ${ids.fail} --db `));
    expect((await engine.result(r1.runId)).status).toBe('failed');
    const first = engine.history(r1.runId);
    expect(first[0]).toMatchObject({ kind: 'RunStarted', resumedFrom: { runId: ids.fail } });
    expect(first.find((e) => e.kind === 'TaskCompleted' && e.stepId === 'prep#1')).toMatchObject({ source: 'reused' });
    const resume = await act(rw.url, `api/runs/${ids.fail}/resume`, { fromStep: 'prep' });
    expect(resume.status).toBe(200);
    const r2 = resume.json<{ runId: string; cli: string }>();
    expect(r2.cli).toContain('--from prep#1');
    await engine.result(r2.runId);
    expect(engine.history(r2.runId)[0]).toMatchObject({ resumedFrom: { runId: ids.fail, fromStep: 'prep#1' } });
    const resumed = (await http(`${rw.url}api/runs?trigger=resume`)).json<RunPage>().runs.map((r) => r.runId);
    expect(resumed.sort()).toEqual([r1.runId, r2.runId].sort());
    const d = (await http(`${rw.url}api/runs/${ids.fail}`)).json<RunDetail>();
    expect(d.related).toEqual(expect.arrayContaining([{ runId: r1.runId, relation: 'retried' }, { runId: r2.runId, relation: 'resumed' }]));
    const steps = (await http(`${rw.url}api/runs/${r1.runId}/steps`)).json<{ steps: Step[] }>().steps;
    expect(steps[0]).toMatchObject({ stepId: 'prep#1', source: 'reused', cache: { sourceRunId: ids.fail } });
    expect((await act(rw.url, `api/runs/${ids.fan1}/retry`, {})).status).toBe(409);
    expect((await act(rw.url, `api/runs/${ids.fail}/resume`, {})).status).toBe(400);
  });

  it('re-runs the stored script with the same or edited inputs', async () => {
    const same = (await act(rw.url, `api/runs/${ids.fan1}/rerun`, {})).json<{ runId: string; cli: string }>();
    expect((await engine.result(same.runId)).result).toEqual({ model: 'm-0.3', n: 3 });
    expect(same.cli).toContain(`larkflow run fan.star --workflow main --input '[3]'`);
    const edited = (await act(rw.url, `api/runs/${ids.fan1}/rerun`, { args: [5] })).json<{ runId: string }>();
    expect((await engine.result(edited.runId)).result).toEqual({ model: 'm-0.3', n: 5 });
  });
});

describe('the app', () => {
  it('serves index.html uncached with a <base href> for the mount path, hashed assets cached for long, and routes to the app', async () => {
    const index = await http(`${rw.url}`);
    expect(index.status).toBe(200);
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(index.text).toContain('<base href="/lf/">');
    const deep = await http(`${rw.url}runs/run-123/history`);
    expect(deep.text).toBe(index.text);
    const asset = await http(`${rw.url}assets/app-3f9a1c2b.js`);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(asset.headers['content-type']).toMatch(/^text\/javascript/);
    expect((await http(`${rw.url}assets/gone-12345678.js`)).status).toBe(404);
    for (const path of ['..%2fsecret.txt', '%2e%2e/secret.txt', '..%5csecret.txt', 'assets/..%2f..%2fsecret.txt']) {
      const a = await http(rw.url + path);
      expect(a.text, path).not.toContain('TOPSECRET-CONTENT');
    }
    const outside = await http(rw.url.replace(/\/lf\/$/, '/other'));
    expect(outside.status).toBe(404);
    expect((await http(rw.url.replace(/\/$/, ''))).status).toBe(308);
    expect((await http(`${rw.url}api/meta`)).json<Meta>().readOnly).toBe(false);
  });

  it('says how to build the app when dist/ui is missing', async () => {
    const bare = await startUiServer({ engine, staticDir: join(dir, 'no-such-dir') });
    try {
      const a = await http(bare.url);
      expect(a.status).toBe(503);
      expect(a.text).toContain('UI not built: run npm run build');
      expect(a.headers['content-security-policy']).toBe(CSP);
      expect((await http(`${bare.url}api/runs`)).status).toBe(200);
    } finally {
      await bare.close();
    }
  });
});
