/**
 * The run inspector's other pages and modes: pipelines, triggers (state and next tick) and cache
 * entries (expiry, producing run) read-only from the database; an attempt's log tail; and an engine
 * without a database file (memory store), followed through the engine's own events.
 */
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine } from '../../src/engine/index.js';
import { PipelineRegistry } from '../../src/pipelines/registry.js';
import { TriggerState } from '../../src/pipelines/triggers/runner.js';
import type { CacheRow, LogTail, PayloadRef, PipelineRow, RunRow, Step, TriggerRow } from '../../src/ui/api-types.js';
import { startUiServer, type UiServer } from '../../src/ui/server/index.js';
import { scratchDirs } from '../helpers/cli.js';
import { http, sse } from './fixtures/http.js';
import { SLEEPER, registerAll } from './fixtures/workflows.js';

const scratch = scratchDirs('larkflow-ui-pages-');
const open: { close(): Promise<void> | void }[] = [];
afterAll(async () => {
  for (const o of open.reverse()) await o.close();
});

const SPEC = `apiVersion: larkflow.dev/v1
kind: Pipeline
metadata: {namespace: ns, name: demo}
spec:
  manifest:
    filePath: main.star
    inputs: {n: 2}
    tasks: tasks.mjs
    triggerMap:
      hourly: {intervalSchedule: {interval: "1h"}, maxConcurrency: 1}
      daily: {cronSchedule: {cron: "0 9 * * *"}, maxConcurrency: 1}
`;

const TALKER = `
talk = task("talk", cache = True, cache_ttl = "2h")

@workflow()
def main(n):
    return talk(n)
`;

describe('pipelines, triggers, cache and logs', () => {
  it('lists the registered pipelines and their triggers with state and next tick', async () => {
    const s = scratch();
    mkdirSync(s.dir, { recursive: true });
    writeFileSync(join(s.dir, 'main.star'), 'double = task("double")\n\n@workflow()\ndef main(n = 1):\n    return double(n)\n');
    writeFileSync(join(s.dir, 'tasks.mjs'), 'export const double = (n) => 2 * n;\n');
    writeFileSync(join(s.dir, 'pipeline.yaml'), SPEC);
    const reg = PipelineRegistry.open(s.db, { now: () => 5000 });
    await reg.apply(join(s.dir, 'pipeline.yaml'));
    reg.close();
    const state = new TriggerState(s.db);
    state.setPaused('demo', 'daily', true, Date.now());
    state.close();
    const engine = Engine.open({ db: s.db });
    open.push(engine);
    const ui = await startUiServer({ engine });
    open.push(ui);
    const pipelines = (await http(`${ui.url}api/pipelines`)).json<{ items: PipelineRow[] }>().items;
    expect(pipelines).toEqual([{ name: 'demo', namespace: 'ns', revision: expect.stringMatching(/^[0-9a-f]{64}$/), revisions: 1, kind: 'custom', updatedAt: 5000 }]);
    const triggers = (await http(`${ui.url}api/triggers`)).json<{ items: TriggerRow[] }>().items;
    const byName = Object.fromEntries(triggers.map((t) => [t.trigger, t]));
    expect(byName.hourly).toMatchObject({ pipeline: 'demo', schedule: 'every 1h', paused: false });
    expect(byName.hourly!.nextTick! % 3_600_000).toBe(0);
    expect(byName.hourly!.nextTick!).toBeGreaterThan(Date.now() - 1);
    expect(byName.daily).toMatchObject({ schedule: 'cron 0 9 * * *', paused: true, lastTick: expect.any(Number) });
    expect(byName.daily!.nextTick).toBeUndefined();
  });

  it('lists nothing, and creates nothing, for a database without pipelines', async () => {
    const s = scratch();
    const engine = Engine.open({ db: s.db });
    open.push(engine);
    const ui = await startUiServer({ engine });
    open.push(ui);
    expect((await http(`${ui.url}api/pipelines`)).json()).toEqual({ items: [] });
    expect((await http(`${ui.url}api/triggers`)).json()).toEqual({ items: [] });
    expect((await http(`${ui.url}api/cache`)).json()).toEqual({ items: [] });
    const db = new Database(s.db, { readonly: true });
    const tables = db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    db.close();
    expect(tables).not.toContain('pipelines');
    expect(tables).not.toContain('trigger_state');
  });

  it('lists cache entries with their expiry and producing run, and tails an attempt log', async () => {
    const s = scratch();
    const engine = Engine.open({ db: s.db, workDir: join(s.dir, 'attempts') });
    open.push(engine);
    engine.registerTaskWithContext('talk', (ctx, n: number) => {
      ctx.log(`talking about ${n}`);
      ctx.log('<b>not markup</b>');
      return n * 10;
    });
    const h = engine.start({ source: { name: 'talk.star', text: TALKER }, args: [4] });
    await h.result;
    const ui = await startUiServer({ engine, dbLabel: 'x.db' });
    open.push(ui);
    const cache = (await http(`${ui.url}api/cache`)).json<{ items: CacheRow[] }>().items;
    expect(cache).toEqual([expect.objectContaining({ task: 'talk', runId: h.runId, stepId: 'talk#1', key: expect.any(String), hits: 0 })]);
    expect(cache[0]!.expiresAt! - cache[0]!.createdAt).toBe(2 * 3_600_000);
    const log = await http(`${ui.url}api/runs/${h.runId}/logs?step=talk%231`);
    expect(log.status).toBe(200);
    const tail = log.json<LogTail>();
    expect(tail).toMatchObject({ stepId: 'talk#1', attempt: 1, truncated: false, cli: `larkflow logs ${h.runId} talk#1 --attempt 1 --db x.db` });
    expect(tail.text, JSON.stringify(tail)).toContain('talking about 4');
    expect(log.text).not.toContain('<b>');
    const short = (await http(`${ui.url}api/runs/${h.runId}/logs?step=talk%231&bytes=5`)).json<LogTail>();
    expect(short).toMatchObject({ truncated: true, text: '</b>\n' });
    expect((await http(`${ui.url}api/runs/${h.runId}/logs?step=nope%231`)).status).toBe(404);
    expect((await http(`${ui.url}api/runs/${h.runId}/logs`)).status).toBe(400);
  });
});

describe('runs of pipelines and values in blob storage', () => {
  it('filters the runs of a pipeline, and fetches a result kept as a blob through its reference', async () => {
    const s = scratch();
    const engine = Engine.open({ db: s.db, blobThresholdBytes: 1024 });
    open.push(engine);
    registerAll(engine);
    const plain = engine.start({ source: { name: 'talk.star', text: 'echo = task("echo")\n\n@workflow()\ndef main(s):\n    return echo(s)\n' }, args: ['y'.repeat(5000)] });
    await plain.result;
    const piped = engine.start({ source: { name: 'talk.star', text: 'echo = task("echo")\n\n@workflow()\ndef main(s):\n    return echo(s)\n' }, args: ['small'], env: { LARKFLOW_PIPELINE: 'demo' } });
    await piped.result;
    const ui = await startUiServer({ engine });
    open.push(ui);
    const rows = (await http(`${ui.url}api/runs?pipeline=demo`)).json<{ runs: RunRow[] }>().runs;
    expect(rows).toEqual([expect.objectContaining({ runId: piped.runId, pipeline: 'demo', trigger: 'pipeline' })]);
    expect((await http(`${ui.url}api/runs?pipeline=other`)).json<{ runs: RunRow[] }>().runs).toEqual([]);
    const steps = (await http(`${ui.url}api/runs/${plain.runId}/steps`)).json<{ steps: Step[] }>().steps;
    const output = steps[0]!.output as PayloadRef;
    expect(output).toMatchObject({ $ref: expect.stringContaining('payload?seq='), preview: expect.stringContaining('stored as blob') });
    expect((steps[0]!.input.args[0] as PayloadRef).$ref).toContain('part=args.0');
    const whole = await http(ui.url + output.$ref);
    expect(whole.status).toBe(200);
    expect(whole.json()).toEqual({ html: 'y'.repeat(5000) });
    expect((await http(ui.url + (steps[0]!.input.args[0] as PayloadRef).$ref)).json()).toBe('y'.repeat(5000));
  });
});

describe('an engine without a database file', () => {
  it('follows runs through the engine\'s events, and a runs list reconnect gets what changed', async () => {
    const engine = Engine.open({ db: ':memory:' });
    open.push(engine);
    registerAll(engine);
    const ui = await startUiServer({ engine, basePath: '/inspect/' });
    open.push(ui);
    expect(ui.url).toMatch(/\/inspect\/$/);
    const list = sse(`${ui.url}api/stream`);
    await list.until((ev) => ev.some((e) => e.event === 'cursor'), 'the cursor');
    const cursor = list.events.find((e) => e.event === 'cursor')!.id!;
    list.close();
    const h = engine.start({ source: { name: 'sleep.star', text: SLEEPER }, args: [] });
    const s = sse(`${ui.url}api/runs/${h.runId}/stream`);
    try {
      await s.until((ev) => ev.some((e) => JSON.parse(e.data).kind === 'TimerStarted'), 'the timer');
      const again = sse(`${ui.url}api/stream`, { 'last-event-id': cursor });
      try {
        await again.until((ev) => ev.some((e) => e.event === 'run'), 'the changed run');
        expect(JSON.parse(again.events.find((e) => e.event === 'run')!.data) as RunRow).toMatchObject({ runId: h.runId, status: 'running' });
      } finally {
        again.close();
      }
      engine.cancel(h.runId, 'memory');
      await s.until((ev) => ev.some((e) => JSON.parse(e.data).kind === 'RunCancelled'), 'the cancellation');
      const seqs = s.events.map((e) => Number(e.id));
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    } finally {
      s.close();
    }
    const rows = (await http(`${ui.url}api/runs`)).json<{ runs: RunRow[] }>().runs;
    expect(rows).toEqual([expect.objectContaining({ runId: h.runId, status: 'cancelled', progress: { done: 1, total: 1 } })]);
  });
});
