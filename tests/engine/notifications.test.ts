/**
 * Run notifications: the outbox rows are created with the events they are about (same transaction,
 * both stores), delivered to webhooks (signed, with an idempotency key), Slack and email, retried
 * with backoff, and delivered once across a crash (again with the same key if the crash came after
 * sending).
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SMTPServer } from 'smtp-server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine, MemoryEventStore, StoreError, openSqliteStore, type EventStore, type HistoryEvent, type NewEvent } from '../../src/engine/index.js';
import { deliverDue } from '../../src/engine/notify/deliver.js';
import { validateNotify, type NotifySpec } from '../../src/engine/notify/spec.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/engine/store/schema.js';
import { migrate } from '../../src/engine/store/sqlite-store.js';

let dir: string;
const engines: Engine[] = [];
const servers: { close(cb?: () => void): unknown }[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lf-notify-'));
});
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close().catch(() => undefined);
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A loopback HTTP receiver answering with `statuses` in turn (then 200). */
async function receiver(statuses: number[] = []): Promise<{ url: string; got: Received[] }> {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.statusCode = statuses.shift() ?? 200;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  servers.push({ close: (cb) => server.close(cb) });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function open(opts: Parameters<typeof Engine.open>[0] = {}): Engine {
  const e = Engine.open({ db: ':memory:', ...opts });
  engines.push(e);
  return e;
}

const OK = '@workflow()\ndef main(x):\n    return x + 1\n';
const FAILS = '@workflow()\ndef main(x):\n    fail("boom " + str(x))\n';
const WAITS = '@workflow()\ndef main():\n    return signal.wait("go")\n';

describe('notifications: webhook', () => {
  it('POSTs SUCCEEDED with a valid HMAC signature and the idempotency key', async () => {
    const r = await receiver();
    process.env.LF_NOTIFY_TEST_SECRET = 's3cret';
    try {
      const engine = open();
      const notify: NotifySpec[] = [{ on: ['SUCCEEDED', 'FAILED'], sink: { kind: 'webhook', url: r.url, secretEnv: 'LF_NOTIFY_TEST_SECRET' } }];
      const h = engine.start({ source: { name: 'wf.star', text: OK }, args: [41], notify, env: { LARKFLOW_PIPELINE: 'nightly' } });
      expect((await h.result).status).toBe('completed');
      await until(() => r.got.length === 1);
      const { headers, body } = r.got[0]!;
      expect(headers['content-type']).toBe('application/json');
      expect(headers['x-larkflow-idempotency-key']).toBe(`${h.runId}:SUCCEEDED:0`);
      expect(headers['x-larkflow-event']).toBe('SUCCEEDED');
      expect(headers['x-larkflow-signature']).toBe(`sha256=${createHmac('sha256', 's3cret').update(body).digest('hex')}`);
      const payload = JSON.parse(body) as Record<string, unknown>;
      expect(payload).toMatchObject({ runId: h.runId, workflow: 'main', event: 'SUCCEEDED', status: 'completed', result: 42, pipeline: 'nightly' });
      expect(typeof payload.startedAt).toBe('number');
      expect(typeof payload.endedAt).toBe('number');
      // Recorded in RunStarted, queued just before the terminal event (same append).
      const history = engine.history(h.runId);
      expect((history[0] as HistoryEvent & { kind: 'RunStarted' }).notify).toEqual(notify);
      expect(history.slice(-2).map((e) => e.kind)).toEqual(['NotificationsQueued', 'RunCompleted']);
      await until(() => engine.store.listOutbox({ status: 'delivered' }).length === 1);
      expect(engine.store.listOutbox()).toMatchObject([{ runId: h.runId, event: 'SUCCEEDED', status: 'delivered', attempts: 1, key: `${h.runId}:SUCCEEDED:0` }]);
    } finally {
      delete process.env.LF_NOTIFY_TEST_SECRET;
    }
  });

  it('sends nothing unsigned-by-accident: no signature header without the secret; nothing for events not asked for', async () => {
    const r = await receiver();
    const engine = open();
    const h = engine.start({ source: { name: 'wf.star', text: FAILS }, args: [1], notify: [{ on: ['SUCCEEDED'], sink: { kind: 'webhook', url: r.url } }, { on: ['FAILED'], sink: { kind: 'webhook', url: r.url, secretEnv: 'LF_NOT_SET_ANYWHERE' } }] });
    expect((await h.result).status).toBe('failed');
    await until(() => r.got.length === 1);
    await new Promise((res) => setTimeout(res, 50));
    expect(r.got).toHaveLength(1);
    expect(r.got[0]!.headers['x-larkflow-idempotency-key']).toBe(`${h.runId}:FAILED:1`);
    expect(r.got[0]!.headers['x-larkflow-signature']).toBeUndefined();
    expect(JSON.parse(r.got[0]!.body)).toMatchObject({ event: 'FAILED', status: 'failed', error: { message: expect.stringContaining('boom 1') } });
  });

  it('retries a failing receiver (500, 500, then 200) with backoff and delivers once', async () => {
    const r = await receiver([500, 500]);
    const engine = open({ notifications: { backoffMs: 20 } });
    const h = engine.start({ source: { name: 'wf.star', text: OK }, args: [1], notify: [{ on: ['SUCCEEDED'], sink: { kind: 'webhook', url: r.url } }] });
    await h.result;
    await until(() => engine.store.listOutbox({ status: 'delivered' }).length === 1);
    await new Promise((res) => setTimeout(res, 100));
    expect(r.got).toHaveLength(3);
    expect(new Set(r.got.map((g) => g.headers['x-larkflow-idempotency-key']))).toEqual(new Set([`${h.runId}:SUCCEEDED:0`]));
    const [row] = engine.store.listOutbox();
    expect(row).toMatchObject({ status: 'delivered', attempts: 3, lastError: expect.stringContaining('HTTP 500') });
  });

  it('gives up after maxAttempts and records the last error', async () => {
    const store = new MemoryEventStore();
    queueOn(store, 'r1', [{ on: ['SUCCEEDED'], sink: { kind: 'webhook', url: 'http://127.0.0.1:1/nothing-listens' } }]);
    let now = Date.now();
    for (let i = 0; i < 3; i++) {
      await deliverDue(store, { now, maxAttempts: 3, timeoutMs: 2000 });
      now += 20 * 60_000;
    }
    expect(store.listOutbox()).toMatchObject([{ status: 'failed', attempts: 3, lastError: expect.stringContaining('POST http://127.0.0.1:1/nothing-listens') }]);
    expect(store.claimOutbox('x', now + 1e9, 10, 1000)).toEqual([]);
  });
});

describe('notifications: slack and email', () => {
  it('posts a one-line summary to a Slack incoming webhook', async () => {
    const r = await receiver();
    const engine = open();
    const h = engine.start({ source: { name: 'wf.star', text: OK }, args: [1], notify: [{ on: ['SUCCEEDED'], sink: { kind: 'slack', url: r.url } }] });
    await h.result;
    await until(() => r.got.length === 1);
    const body = JSON.parse(r.got[0]!.body) as { text: string };
    expect(Object.keys(body)).toEqual(['text']);
    expect(body.text).toContain(h.runId);
    expect(body.text).toContain('succeeded');
    expect(body.text).not.toContain('\n');
  });

  it('sends an email through SMTP (LARKFLOW_SMTP_URL) with the idempotency key', async () => {
    const mails: { from: string; to: string[]; data: string }[] = [];
    const smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, cb) {
        let data = '';
        stream.on('data', (c: Buffer) => (data += c.toString('utf8')));
        stream.on('end', () => {
          mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((a) => a.address), data });
          cb();
        });
      },
    });
    await new Promise<void>((res) => smtp.listen(0, '127.0.0.1', () => res()));
    servers.push({ close: (cb) => smtp.close(cb ?? (() => undefined)) });
    const port = (smtp.server.address() as AddressInfo).port;
    const engine = open({ notifications: { env: { LARKFLOW_SMTP_URL: `smtp://127.0.0.1:${port}`, LARKFLOW_SMTP_FROM: 'flows@example.test' } } });
    const h = engine.start({ source: { name: 'wf.star', text: FAILS }, args: [7], notify: [{ on: ['FAILED'], sink: { kind: 'email', to: ['ops@example.test', 'me@example.test'] } }] });
    expect((await h.result).status).toBe('failed');
    await until(() => engine.store.listOutbox({ status: 'delivered' }).length === 1, 8000);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.from).toBe('flows@example.test');
    expect(mails[0]!.to).toEqual(['ops@example.test', 'me@example.test']);
    expect(mails[0]!.data).toMatch(/^Subject: .*failed/m);
    expect(mails[0]!.data).toContain(`X-Larkflow-Idempotency-Key: ${h.runId}:FAILED:0`);
    expect(mails[0]!.data).toMatch(/^Message-ID: <.*@larkflow>/im);
  });

  it('records why an email was not sent when LARKFLOW_SMTP_URL is missing', async () => {
    const engine = open({ notifications: { env: {} } });
    const h = engine.start({ source: { name: 'wf.star', text: OK }, args: [1], notify: [{ on: ['SUCCEEDED'], sink: { kind: 'email', to: ['a@b.c'] } }] });
    await h.result;
    await until(() => engine.store.listOutbox()[0]?.attempts === 1);
    expect(engine.store.listOutbox()[0]).toMatchObject({ status: 'pending', lastError: expect.stringContaining('LARKFLOW_SMTP_URL') });
  });
});

describe('notifications: STARTED, CANCELLED, children', () => {
  it('sends STARTED (queued with the first activation) and CANCELLED; child runs do not inherit', async () => {
    const r = await receiver();
    const engine = open();
    const h = engine.start({ source: { name: 'wf.star', text: WAITS }, notify: [{ on: ['STARTED', 'CANCELLED'], sink: { kind: 'webhook', url: r.url } }] });
    await until(() => r.got.length === 1);
    expect(JSON.parse(r.got[0]!.body)).toMatchObject({ runId: h.runId, event: 'STARTED', status: 'running' });
    expect(engine.history(h.runId).map((e) => e.kind).slice(0, 2)).toEqual(['RunStarted', 'NotificationsQueued']);
    engine.cancel(h.runId, 'no longer needed');
    expect((await h.result).status).toBe('cancelled');
    await until(() => r.got.length === 2);
    expect(JSON.parse(r.got[1]!.body)).toMatchObject({ event: 'CANCELLED', status: 'cancelled', error: { message: 'no longer needed' } });
    expect(r.got.map((g) => g.headers['x-larkflow-idempotency-key'])).toEqual([`${h.runId}:STARTED:0`, `${h.runId}:CANCELLED:0`]);
  });

  it('child runs do not inherit the notifications', async () => {
    const r = await receiver();
    const engine = open();
    const src = '@workflow()\ndef child(x):\n    return x * 2\n\n@workflow()\ndef main(x):\n    return child(x) + 1\n';
    const h = engine.start({ source: { name: 'wf.star', text: src }, workflow: 'main', args: [2], notify: [{ on: ['SUCCEEDED'], sink: { kind: 'webhook', url: r.url } }] });
    expect(await h.result).toMatchObject({ status: 'completed', result: 5 });
    await until(() => r.got.length >= 1);
    await new Promise((res) => setTimeout(res, 50));
    expect(r.got.map((g) => (JSON.parse(g.body) as { runId: string }).runId)).toEqual([h.runId]);
    const childId = engine.history(h.runId).find((e) => e.kind === 'ChildRunStarted');
    if (childId?.kind === 'ChildRunStarted') expect((engine.history(childId.childRunId)[0] as { notify?: unknown }).notify).toBeUndefined();
  });

  it('refuses bad specs before anything is recorded', () => {
    const engine = open();
    const start = (notify: NotifySpec[]) => () => engine.start({ source: { name: 'wf.star', text: OK }, args: [1], notify });
    expect(start([{ on: [], sink: { kind: 'slack', url: 'https://hooks.example/x' } }])).toThrow(/at least one/);
    expect(start([{ on: ['DONE' as 'STARTED'], sink: { kind: 'slack', url: 'https://hooks.example/x' } }])).toThrow(/unknown event "DONE"/);
    expect(start([{ on: ['FAILED'], sink: { kind: 'webhook', url: 'ftp://x/y' } }])).toThrow(/http/);
    expect(start([{ on: ['FAILED'], sink: { kind: 'email', to: ['not an address'] } }])).toThrow(/not an email address/);
    expect(engine.store.listRuns()).toEqual([]);
    expect(validateNotify([{ on: ['FAILED', 'STARTED', 'FAILED'], sink: { kind: 'email', to: ['a@b.c'] } }])).toEqual([{ on: ['STARTED', 'FAILED'], sink: { kind: 'email', to: ['a@b.c'] } }]);
  });
});

describe('notifications: exactly once across crashes', () => {
  it('a crash right after the terminal event (before delivery): the next engine delivers it once', async () => {
    const r = await receiver();
    const db = join(dir, 'runs.db');
    const first = Engine.open({ db, pollIntervalMs: 60_000 });
    const h = first.start({ source: { name: 'wf.star', text: OK }, args: [1], notify: [{ on: ['SUCCEEDED'], sink: { kind: 'webhook', url: r.url } }] });
    await h.result;
    first.abandon(); // before the delivery scheduled after the commit ran
    await new Promise((res) => setTimeout(res, 50));
    expect(r.got).toHaveLength(0);
    expect(first.store.listOutbox()).toMatchObject([{ status: 'pending', attempts: 0 }]);
    first.store.close();
    const second = open({ db, pollIntervalMs: 20 });
    await until(() => second.store.listOutbox({ status: 'delivered' }).length === 1);
    await new Promise((res) => setTimeout(res, 150));
    expect(r.got).toHaveLength(1);
    expect(r.got[0]!.headers['x-larkflow-idempotency-key']).toBe(`${h.runId}:SUCCEEDED:0`);
  });

  it('a run recovered by another engine replays past NotificationsQueued and notifies its end once', async () => {
    const r = await receiver();
    const db = join(dir, 'runs.db');
    const first = Engine.open({ db, pollIntervalMs: 60_000 });
    const h = first.start({ source: { name: 'wf.star', text: WAITS }, notify: [{ on: ['STARTED', 'SUCCEEDED'], sink: { kind: 'webhook', url: r.url } }] });
    await until(() => r.got.length === 1);
    first.abandon();
    first.store.close();
    const second = open({ db, pollIntervalMs: 20 });
    await second.recover();
    second.signal(h.runId, 'go', 'yes');
    expect(await second.result(h.runId)).toMatchObject({ status: 'completed', result: 'yes' });
    await until(() => r.got.length === 2);
    await new Promise((res) => setTimeout(res, 100));
    expect(r.got.map((g) => g.headers['x-larkflow-event'])).toEqual(['STARTED', 'SUCCEEDED']);
    expect(second.history(h.runId).map((e) => e.kind)).not.toContain('NondeterminismDetected');
    expect(second.store.listOutbox().map((i) => [i.event, i.status])).toEqual([['STARTED', 'delivered'], ['SUCCEEDED', 'delivered']]);
  });

  it('a lost first commit: recovery queues the STARTED notification it should have carried', async () => {
    const r = await receiver();
    const inner = new MemoryEventStore();
    let failAppends = true;
    const flaky = new Proxy(inner, {
      get(target, prop) {
        if (prop === 'append' && failAppends) return () => { throw new StoreError('disk full'); };
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as EventStore;
    const first = Engine.open({ db: flaky });
    const h = first.start({ source: { name: 'wf.star', text: OK }, args: [1], notify: [{ on: ['STARTED', 'SUCCEEDED'], sink: { kind: 'webhook', url: r.url } }] });
    await first.whenIdle();
    expect(inner.history(h.runId).map((e) => e.kind)).toEqual(['RunStarted']);
    expect(inner.listOutbox()).toEqual([]);
    first.abandon();
    failAppends = false;
    const second = open({ db: inner });
    second.recover();
    expect(await second.result(h.runId)).toMatchObject({ status: 'completed', result: 2 });
    await until(() => r.got.length === 2);
    expect(r.got.map((g) => g.headers['x-larkflow-event']).sort()).toEqual(['STARTED', 'SUCCEEDED']);
    expect(inner.history(h.runId).map((e) => e.kind)).toEqual(['RunStarted', 'NotificationsQueued', 'NotificationsQueued', 'RunCompleted']);
  });

  it('a crash after sending but before marking delivered re-sends with the SAME key once the claim runs out', async () => {
    const r = await receiver();
    const inner = new MemoryEventStore();
    queueOn(inner, 'r1', [{ on: ['SUCCEEDED'], sink: { kind: 'webhook', url: r.url } }]);
    let crash = true;
    const crashing = new Proxy(inner, {
      get(target, prop) {
        if (prop === 'completeOutbox' && crash) return () => { throw new Error('process died'); };
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as EventStore;
    const t0 = Date.now();
    await deliverDue(crashing, { now: t0, leaseMs: 60_000 });
    expect(r.got).toHaveLength(1);
    crash = false;
    // Claimed by the dead deliverer: nobody takes it before its claim runs out.
    expect(await deliverDue(inner, { now: t0 + 1000 })).toEqual({ delivered: 0, retrying: 0, failed: 0 });
    expect(await deliverDue(inner, { now: t0 + 60_001 })).toEqual({ delivered: 1, retrying: 0, failed: 0 });
    expect(r.got).toHaveLength(2);
    expect(r.got.map((g) => g.headers['x-larkflow-idempotency-key'])).toEqual(['r1:SUCCEEDED:0', 'r1:SUCCEEDED:0']);
    expect(await deliverDue(inner, { now: t0 + 1e9 })).toEqual({ delivered: 0, retrying: 0, failed: 0 });
  });

  it('two deliverers on one database never claim the same row', () => {
    const path = join(dir, 'two.db');
    const a = openSqliteStore(path);
    const b = openSqliteStore(path);
    try {
      queueOn(a, 'r1', [{ on: ['SUCCEEDED'], sink: { kind: 'slack', url: 'http://127.0.0.1:1/x' } }, { on: ['SUCCEEDED'], sink: { kind: 'slack', url: 'http://127.0.0.1:1/y' } }]);
      const now = Date.now();
      const first = a.claimOutbox('a', now, 1, 10_000);
      const second = b.claimOutbox('b', now, 10, 10_000);
      const third = a.claimOutbox('a', now, 10, 10_000);
      expect(first.map((i) => i.key)).toEqual(['r1:SUCCEEDED:0']);
      expect(second.map((i) => i.key)).toEqual(['r1:SUCCEEDED:1']);
      expect(third).toEqual([]);
    } finally {
      a.close();
      b.close();
    }
  });
});

/** Creates run `runId` in `store` and appends its end with the notifications `notify` asks for. */
function queueOn(store: EventStore, runId: string, notify: NotifySpec[]): void {
  store.createRun({ kind: 'RunStarted', at: 1000, runId, workflow: 'wf', file: 'wf.star', scriptDigest: 'd', args: [], kwargs: {}, env: {}, seed: 's', attempt: 1, notify });
  store.append(runId, 1, [notifications(runId, notify), { kind: 'RunCompleted', at: 2000, result: 1 }]);
}

function notifications(runId: string, notify: NotifySpec[]): NewEvent {
  return {
    kind: 'NotificationsQueued',
    at: 2000,
    notifications: notify.map((n, sinkIndex) => ({ event: 'SUCCEEDED' as const, sinkIndex, sink: n.sink, payload: { runId, event: 'SUCCEEDED', workflow: 'wf', status: 'completed', startedAt: 1000, endedAt: 2000 } })),
  };
}

describe.each([
  ['MemoryEventStore', (): EventStore => new MemoryEventStore()],
  ['SqliteEventStore', (): EventStore => openSqliteStore(join(dir, `atomic-${Math.random()}.db`))],
])('outbox atomic with history: %s', (_name, make) => {
  const sink = { kind: 'webhook' as const, url: 'http://127.0.0.1:1/x' };
  const notify: NotifySpec[] = [{ on: ['SUCCEEDED'], sink }];

  it('an append that fails leaves no outbox rows', () => {
    const store = make();
    try {
      store.createRun({ kind: 'RunStarted', at: 1000, runId: 'r1', workflow: 'wf', file: 'wf.star', scriptDigest: 'd', args: [], kwargs: {}, env: {}, seed: 's', attempt: 1 });
      // The history moved on (wrong expected seq).
      expect(() => store.append('r1', 5, [notifications('r1', notify), { kind: 'RunCompleted', at: 2000, result: 1 }])).toThrow(/moved on/);
      // An event after the terminal one.
      expect(() => store.append('r1', 1, [notifications('r1', notify), { kind: 'RunCompleted', at: 2000, result: 1 }, { kind: 'ProgressReported', at: 2001, message: 'x' }])).toThrow();
      // A signal that is not in the inbox, after the notifications in the same append.
      expect(() => store.append('r1', 1, [notifications('r1', notify), { kind: 'SignalReceived', at: 2000, name: 'go', payload: null, inboxId: 999 }])).toThrow(/inbox/);
      expect(store.listOutbox()).toEqual([]);
      expect(store.history('r1')).toHaveLength(1);
      // The append that succeeds creates the row, with the event.
      store.append('r1', 1, [notifications('r1', notify), { kind: 'RunCompleted', at: 2000, result: 1 }]);
      expect(store.listOutbox()).toMatchObject([{ runId: 'r1', event: 'SUCCEEDED', sinkIndex: 0, sink, key: 'r1:SUCCEEDED:0', status: 'pending', attempts: 0 }]);
      expect(store.history('r1').map((e) => e.kind)).toEqual(['RunStarted', 'NotificationsQueued', 'RunCompleted']);
    } finally {
      store.close();
    }
  });

  it('queueing the same notification twice keeps one row (INSERT OR IGNORE on the key)', () => {
    const store = make();
    try {
      store.createRun({ kind: 'RunStarted', at: 1000, runId: 'r1', workflow: 'wf', file: 'wf.star', scriptDigest: 'd', args: [], kwargs: {}, env: {}, seed: 's', attempt: 1 });
      store.append('r1', 1, [notifications('r1', notify)]);
      store.append('r1', 2, [notifications('r1', notify)]);
      expect(store.listOutbox()).toHaveLength(1);
      const [row] = store.claimOutbox('w', Date.now(), 10, 1000);
      store.completeOutbox(row!.id, false, 'HTTP 503', 5000);
      expect(store.listOutbox({ status: 'pending' })).toMatchObject([{ attempts: 1, nextAt: 5000, lastError: 'HTTP 503', claimedUntil: 0 }]);
      expect(store.claimOutbox('w', 4999, 10, 1000)).toEqual([]);
      expect(store.claimOutbox('w', 5000, 10, 1000)).toHaveLength(1);
      store.completeOutbox(row!.id, true);
      expect(store.listOutbox({ status: 'delivered' })).toMatchObject([{ attempts: 2 }]);
      expect(store.listOutbox({ status: 'pending' })).toEqual([]);
    } finally {
      store.close();
    }
  });
});

describe('schema v4 migration', () => {
  it('migrates a v3 database in place: its runs stay and the outbox works', () => {
    const path = join(dir, 'v3.db');
    const db = new Database(path);
    migrate(db, path, MIGRATIONS.filter((m) => m.version <= 3));
    expect(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe('3');
    db.prepare("INSERT INTO runs (run_id, workflow, file, status, started_at, last_seq) VALUES ('old', 'wf', 'wf.star', 'running', 100, 1)").run();
    db.prepare('INSERT INTO events (run_id, seq, kind, at, body) VALUES (?, 1, ?, 100, ?)').run(
      'old',
      'RunStarted',
      JSON.stringify({ kind: 'RunStarted', seq: 1, at: 100, runId: 'old', workflow: 'wf', file: 'wf.star', scriptDigest: 'd', args: [], kwargs: {}, env: {}, seed: 's', attempt: 1 }),
    );
    db.close();
    const store = openSqliteStore(path);
    try {
      const raw = new Database(path, { readonly: true });
      expect(raw.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe(String(SCHEMA_VERSION));
      expect(SCHEMA_VERSION).toBe(5);
      expect(raw.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'outbox'").pluck().get()).toBe('outbox');
      raw.close();
      expect(store.getRun('old')).toMatchObject({ status: 'running', lastSeq: 1 });
      store.append('old', 1, [notifications('old', [{ on: ['SUCCEEDED'], sink: { kind: 'slack', url: 'https://hooks.example/x' } }]), { kind: 'RunCompleted', at: 200, result: null }]);
      expect(store.getRun('old')).toMatchObject({ status: 'completed' });
      expect(store.listOutbox()).toMatchObject([{ key: 'old:SUCCEEDED:0', status: 'pending' }]);
    } finally {
      store.close();
    }
  });
});
