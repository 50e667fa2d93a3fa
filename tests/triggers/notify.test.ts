/**
 * Trigger notifications, through the outbox of the run database: TRIGGER_TICK_SKIPPED for ticks held
 * back by maxConcurrency or batchPolicy or dropped by the catch-up policy (once per tick and sink);
 * TRIGGER_RUN_STARTED/SUCCEEDED/FAILED/CANCELLED for runs a trigger started, queued with the run's
 * own events and delivered once across a crash; and, end to end through the worker's trigger firer,
 * a pipeline's notifications changed after apply reach the runs its triggers start afterwards.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine, openSqliteStore } from '../../src/engine/index.js';
import { deliverDue } from '../../src/engine/notify/deliver.js';
import type { NotifySpec } from '../../src/engine/notify/spec.js';
import { PipelineRegistry } from '../../src/pipelines/registry.js';
import { TriggerState, fireDue, type StartPipelineRun, type TriggerInfo } from '../../src/pipelines/triggers/runner.js';
import { triggerFirer } from '../../src/cli/commands/trigger.js';
import { pcli } from '../pipelines/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'lf-trigger-notify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});
const at = (s: string): number => Date.parse(s);

interface Received {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/** A loopback HTTP receiver (200 to everything). */
async function receiver(): Promise<{ url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      got.push({ url: req.url ?? '', headers: req.headers, body: JSON.parse(text) as Record<string, unknown> });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A run database (the engine's schema, with its outbox) at a fresh path. */
function freshDb(name: string): string {
  const db = join(dir, name);
  PipelineRegistry.open(db).close();
  return db;
}

function fakeStart(): StartPipelineRun {
  const runs = new Map<string, string>();
  return async (_p, over) => {
    if (!runs.has(over.idempotencyKey)) runs.set(over.idempotencyKey, `run-${runs.size + 1}`);
    return { runId: runs.get(over.idempotencyKey)! };
  };
}

describe('TRIGGER_TICK_SKIPPED', () => {
  it('is queued once per held-back tick and sink, for the sinks that ask, and delivered once', async () => {
    const r = await receiver();
    const db = freshDb('skip.db');
    const state = new TriggerState(db);
    closers.push(() => state.close());
    const notify: NotifySpec[] = [
      { on: ['FAILED'], sink: { kind: 'webhook', url: r.url } },
      { on: ['TRIGGER_TICK_SKIPPED'], sink: { kind: 'webhook', url: r.url } },
    ];
    const t: TriggerInfo = { pipeline: 'p', trigger: 'm', spec: { intervalSchedule: { interval: '1h' }, catchUp: 'all', maxConcurrency: 1 }, paused: false, notify };
    const start = fakeStart();
    let running = 1;
    await fireDue([t], state, at('2026-01-01T00:30:00Z'), start, { running: () => running });
    // The 01:00 tick is held back at two polls: one notification.
    expect(await fireDue([t], state, at('2026-01-01T01:00:01Z'), start, { running: () => running })).toEqual([]);
    expect(await fireDue([t], state, at('2026-01-01T01:00:02Z'), start, { running: () => running })).toEqual([]);
    const store = openSqliteStore(db);
    closers.push(() => store.close());
    expect(store.listOutbox()).toMatchObject([{ runId: 'trigger/p/m/2026-01-01T01:00:00.000Z', event: 'TRIGGER_TICK_SKIPPED', sinkIndex: 1, key: 'trigger/p/m/2026-01-01T01:00:00.000Z:TRIGGER_TICK_SKIPPED:1', status: 'pending' }]);
    expect(store.listOutbox()[0]!.payload).toMatchObject({ event: 'TRIGGER_TICK_SKIPPED', trigger: 'p/m', tick: '2026-01-01T01:00:00.000Z', reason: 'maxConcurrency' });
    // Once the run ended the tick starts (late): nothing more is queued for it.
    running = 0;
    expect(await fireDue([t], state, at('2026-01-01T01:10:00Z'), start, { running: () => running })).toHaveLength(1);
    expect(store.listOutbox()).toHaveLength(1);
    const report = await deliverDue(store);
    expect(report).toEqual({ delivered: 1, retrying: 0, failed: 0 });
    expect(await deliverDue(store)).toEqual({ delivered: 0, retrying: 0, failed: 0 });
    expect(r.got).toHaveLength(1);
    expect(r.got[0]!.headers['x-larkflow-idempotency-key']).toBe('trigger/p/m/2026-01-01T01:00:00.000Z:TRIGGER_TICK_SKIPPED:1');
    expect(r.got[0]!.headers['x-larkflow-event']).toBe('TRIGGER_TICK_SKIPPED');
    expect(r.got[0]!.body).toMatchObject({ trigger: 'p/m', reason: 'maxConcurrency' });
  });

  it('reports missed ticks the catch-up policy drops, and ticks a batch holds back', async () => {
    const db = freshDb('skip2.db');
    const state = new TriggerState(db);
    closers.push(() => state.close());
    const notify: NotifySpec[] = [{ on: ['TRIGGER_TICK_SKIPPED'], sink: { kind: 'webhook', url: 'http://127.0.0.1:9/never' } }];
    const latest: TriggerInfo = { pipeline: 'p', trigger: 'l', spec: { intervalSchedule: { interval: '1h' }, catchUp: 'latest', maxConcurrency: 5 }, paused: false, notify };
    const batched: TriggerInfo = { pipeline: 'p', trigger: 'b', spec: { intervalSchedule: { interval: '1h' }, catchUp: 'all', batchPolicy: { batchSize: 1, wait: '0s' }, parametersMap: { x: {}, y: {} } }, paused: false, notify };
    const start = fakeStart();
    const opts = { running: () => 0, runEnd: () => undefined };
    await fireDue([latest, batched], state, at('2026-01-01T00:30:00Z'), start, opts);
    // Down from 00:30 to 03:10: `latest` fires 03:00 only; 01:00 and 02:00 are reported, once.
    const fired = await fireDue([latest, batched], state, at('2026-01-01T03:10:00Z'), start, opts);
    expect(fired.map((f) => `${f.trigger} ${new Date(f.tick).toISOString().slice(11, 16)} ${f.params}`)).toEqual(['l 03:00 default', 'b 01:00 x']);
    await fireDue([latest, batched], state, at('2026-01-01T03:11:00Z'), start, opts);
    const store = openSqliteStore(db);
    closers.push(() => store.close());
    const rows = store.listOutbox().map((i) => [i.runId, (i.payload as { reason: string }).reason]);
    expect(rows).toEqual([
      ['trigger/p/l/2026-01-01T01:00:00.000Z', 'catchUp'],
      ['trigger/p/b/2026-01-01T01:00:00.000Z', 'batchPolicy'],
      ['trigger/p/b/2026-01-01T02:00:00.000Z', 'batchPolicy'],
      ['trigger/p/b/2026-01-01T03:00:00.000Z', 'batchPolicy'],
    ]);
    expect(store.listOutbox()[0]!.payload).toMatchObject({ detail: expect.stringContaining('until 2026-01-01T03:00:00.000Z were missed and not fired (catchUp: latest)') });
  });

  it('queues nothing when no sink asks for it', async () => {
    const db = freshDb('skip3.db');
    const state = new TriggerState(db);
    closers.push(() => state.close());
    const t: TriggerInfo = { pipeline: 'p', trigger: 'm', spec: { intervalSchedule: { interval: '1h' }, maxConcurrency: 1 }, paused: false, notify: [{ on: ['FAILED', 'TRIGGER_RUN_FAILED'], sink: { kind: 'webhook', url: 'http://127.0.0.1:9/x' } }] };
    await fireDue([t], state, at('2026-01-01T00:30:00Z'), fakeStart(), { running: () => 1 });
    await fireDue([t], state, at('2026-01-01T01:00:01Z'), fakeStart(), { running: () => 1 });
    const store = openSqliteStore(db);
    closers.push(() => store.close());
    expect(store.listOutbox()).toEqual([]);
  });
});

const FAILS = '@workflow()\ndef main(x = 1):\n    fail("boom " + str(x))\n';
const OK = '@workflow()\ndef main(x = 1):\n    return x + 1\n';

describe('trigger-run events', () => {
  it('a run a trigger started raises TRIGGER_RUN_* besides its run events; other runs do not', async () => {
    const r = await receiver();
    const engine = Engine.open({ db: ':memory:' });
    closers.push(() => engine.close());
    const notify: NotifySpec[] = [
      { on: ['TRIGGER_RUN_STARTED', 'TRIGGER_RUN_FAILED'], sink: { kind: 'webhook', url: r.url } },
      { on: ['FAILED'], sink: { kind: 'webhook', url: r.url } },
    ];
    const env = { LARKFLOW_PIPELINE: 'p', LARKFLOW_TRIGGER: 'p/nightly', LARKFLOW_TICK_TIME: '2026-01-01T01:00:00.000Z' };
    const h = engine.start({ source: { name: 'wf.star', text: FAILS }, notify, env });
    expect((await h.result).status).toBe('failed');
    const plain = engine.start({ source: { name: 'wf.star', text: FAILS }, notify, env: { LARKFLOW_PIPELINE: 'p' } });
    expect((await plain.result).status).toBe('failed');
    await until(() => engine.store.listOutbox({ status: 'delivered' }).length === 4);
    expect(engine.store.listOutbox().map((i) => i.key).sort()).toEqual(
      [`${h.runId}:TRIGGER_RUN_STARTED:0`, `${h.runId}:TRIGGER_RUN_FAILED:0`, `${h.runId}:FAILED:1`, `${plain.runId}:FAILED:1`].sort(),
    );
    const failed = r.got.find((g) => g.headers['x-larkflow-event'] === 'TRIGGER_RUN_FAILED')!;
    expect(failed.body).toMatchObject({ runId: h.runId, event: 'TRIGGER_RUN_FAILED', status: 'failed', trigger: 'p/nightly', tick: '2026-01-01T01:00:00.000Z', pipeline: 'p', error: { message: expect.stringContaining('boom 1') } });
    // The end notifications were queued with the terminal event (one append).
    expect(engine.history(h.runId).slice(-2).map((e) => e.kind)).toEqual(['NotificationsQueued', 'RunFailed']);
  });

  it('a crash between the terminal event and delivery: the next engine delivers each once', async () => {
    const r = await receiver();
    const db = join(dir, 'crash.db');
    const first = Engine.open({ db, pollIntervalMs: 60_000 });
    const h = first.start({
      source: { name: 'wf.star', text: OK },
      notify: [{ on: ['TRIGGER_RUN_SUCCEEDED'], sink: { kind: 'webhook', url: r.url } }],
      env: { LARKFLOW_TRIGGER: 'p/t', LARKFLOW_TICK_TIME: '2026-01-01T00:00:00.000Z' },
    });
    await h.result;
    first.abandon();
    expect(first.store.listOutbox()).toMatchObject([{ event: 'TRIGGER_RUN_SUCCEEDED', status: 'pending' }]);
    first.store.close();
    const second = Engine.open({ db, pollIntervalMs: 20 });
    closers.push(() => second.close());
    await until(() => second.store.listOutbox({ status: 'delivered' }).length === 1);
    const third = Engine.open({ db, pollIntervalMs: 20 });
    closers.push(() => third.close());
    await third.recover();
    expect(r.got.map((g) => g.headers['x-larkflow-idempotency-key'])).toEqual([`${h.runId}:TRIGGER_RUN_SUCCEEDED:0`]);
  });
});

describe('trigger-run events and recovery', () => {
  it('a recovered run does not queue TRIGGER_RUN_STARTED again', async () => {
    const r = await receiver();
    const db = join(dir, 'recover.db');
    const first = Engine.open({ db, pollIntervalMs: 60_000 });
    const h = first.start({
      source: { name: 'wf.star', text: '@workflow()\ndef main():\n    return signal.wait("go")\n' },
      notify: [{ on: ['TRIGGER_RUN_STARTED', 'TRIGGER_RUN_SUCCEEDED'], sink: { kind: 'webhook', url: r.url } }],
      env: { LARKFLOW_TRIGGER: 'p/t' },
    });
    await until(() => r.got.length === 1);
    first.abandon();
    first.store.close();
    const second = Engine.open({ db, pollIntervalMs: 20 });
    closers.push(() => second.close());
    await second.recover();
    second.signal(h.runId, 'go', 'yes');
    expect(await second.result(h.runId)).toMatchObject({ status: 'completed', result: 'yes' });
    await until(() => r.got.length === 2);
    const queued = second.history(h.runId).filter((e) => e.kind === 'NotificationsQueued');
    expect(queued.map((e) => (e as unknown as { notifications: { event: string }[] }).notifications.map((n) => n.event))).toEqual([['TRIGGER_RUN_STARTED'], ['TRIGGER_RUN_SUCCEEDED']]);
    expect(r.got.map((g) => g.headers['x-larkflow-event'])).toEqual(['TRIGGER_RUN_STARTED', 'TRIGGER_RUN_SUCCEEDED']);
  });
});

describe('through the worker\'s trigger firer', () => {
  it('runs a trigger starts notify per the pipeline\'s notifications, also after they are changed without a new revision', async () => {
    const r = await receiver();
    const p = join(dir, 'firer');
    rmSync(p, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(p);
    writeFileSync(join(p, 'flow.star'), OK);
    writeFileSync(
      join(p, 'pipeline.yaml'),
      [
        'apiVersion: larkflow.dev/v1',
        'kind: Pipeline',
        'metadata: {name: fired}',
        'spec:',
        '  manifest:',
        '    filePath: flow.star',
        '    triggerMap:',
        '      hourly: {intervalSchedule: {interval: 1h}, maxConcurrency: 5}',
        '  notifications:',
        `    - {notificationType: WEBHOOK, eventTypes: [EVENT_TYPE_TRIGGER_RUN_STATE_SUCCEEDED], url: "${r.url}?from=spec"}`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(p, 'notifications.yaml'), `- {notificationType: WEBHOOK, resourceType: TRIGGER_RUN, eventTypes: [EVENT_TYPE_TRIGGER_RUN_STATE_STARTED], url: "${r.url}?from=set"}\n`);
    const db = join(p, 'runs.db');
    expect((await pcli('pipeline', 'apply', '-f', join(p, 'pipeline.yaml'), '--db', db)).code).toBe(0);
    const engine = Engine.open({ db });
    closers.push(() => engine.close());
    const firer = triggerFirer(engine, { db });
    closers.push(() => firer.close());
    const warn = (t: string): never => {
      throw new Error(t);
    };
    await firer.fire(at('2026-01-01T00:30:00Z'), warn);
    const [one] = await firer.fire(at('2026-01-01T01:00:01Z'), warn);
    expect((await engine.result(one!.runId)).status).toBe('completed');
    await until(() => r.got.length === 1);
    expect(r.got[0]!.headers['x-larkflow-event']).toBe('TRIGGER_RUN_SUCCEEDED');
    expect(r.got[0]!.url).toBe('/hook?from=spec');
    // Changed without a new revision: the next tick's run uses the new ones.
    const set = await pcli('pipeline', 'notifications', 'fired', '--set', '-f', join(p, 'notifications.yaml'), '--db', db);
    expect(set.code, set.err).toBe(0);
    expect((await pcli('pipeline', 'revisions', 'fired', '--json', '--db', db)).out).not.toContain('"seq": 2');
    const [two] = await firer.fire(at('2026-01-01T02:00:01Z'), warn);
    expect((await engine.result(two!.runId)).status).toBe('completed');
    await until(() => r.got.length === 2);
    await new Promise((res) => setTimeout(res, 50));
    expect(r.got).toHaveLength(2);
    expect(r.got[1]!.headers['x-larkflow-event']).toBe('TRIGGER_RUN_STARTED');
    expect(r.got[1]!.url).toBe('/hook?from=set');
    expect(r.got[1]!.body).toMatchObject({ runId: two!.runId, trigger: 'fired/hourly', tick: '2026-01-01T02:00:00.000Z' });
  });
});
