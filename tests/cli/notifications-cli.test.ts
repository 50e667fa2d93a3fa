/**
 * `larkflow run --notify-webhook URL` delivers the run's end to a loopback receiver before the
 * command exits, and `larkflow notifications ls` lists it (in-process CLI).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, scratchDirs } from '../helpers/cli.js';

const scratch = scratchDirs('lf-notify-cli-');
const got: { headers: IncomingHttpHeaders; body: string }[] = [];
const statuses: number[] = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString('utf8')));
  req.on('end', () => {
    got.push({ headers: req.headers, body });
    res.statusCode = statuses.shift() ?? 200;
    res.end();
  });
});
const listening = new Promise<string>((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`)));
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const WF = '@workflow()\ndef main(x):\n    return x * 2\n';

describe('larkflow run --notify-*', () => {
  it('delivers a signed webhook for SUCCEEDED, and notifications ls lists it', async () => {
    const url = await listening;
    const s = scratch();
    const file = s.file('wf.star', WF);
    process.env.LF_CLI_NOTIFY_SECRET = 'k';
    let r;
    try {
      r = await cli('run', file, 'x=21', '--db', s.db, '--quiet', '--notify-webhook', url, '--notify-secret-env', 'LF_CLI_NOTIFY_SECRET');
    } finally {
      delete process.env.LF_CLI_NOTIFY_SECRET;
    }
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toBe(42);
    // Delivered before the command returned.
    expect(got).toHaveLength(1);
    expect(got[0]!.headers['x-larkflow-event']).toBe('SUCCEEDED');
    expect(got[0]!.headers['x-larkflow-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    const payload = JSON.parse(got[0]!.body) as { runId: string; result: number };
    expect(payload.result).toBe(42);
    expect(got[0]!.headers['x-larkflow-idempotency-key']).toBe(`${payload.runId}:SUCCEEDED:0`);

    const ls = await cli('notifications', 'ls', '--db', s.db);
    expect(ls.code, ls.err).toBe(0);
    expect(ls.out).toMatch(/ID\s+RUN\s+EVENT\s+SINK\s+STATUS/);
    expect(ls.out).toContain(payload.runId);
    expect(ls.out).toMatch(/SUCCEEDED\s+webhook http:\/\/127\.0\.0\.1:\d+\/hook\s+delivered\s+1/);
    const json = await cli('notifications', 'ls', '--db', s.db, '--json', '--status', 'delivered');
    expect(JSON.parse(json.out)).toMatchObject([{ runId: payload.runId, event: 'SUCCEEDED', status: 'delivered', attempts: 1 }]);
    const pending = await cli('notifications', 'ls', '--db', s.db, '--json', '--status', 'pending');
    expect(JSON.parse(pending.out)).toEqual([]);
  });

  it('--notify-on picks the events; a failed delivery stays pending with its error', async () => {
    const url = await listening;
    const s = scratch();
    const file = s.file('wf.star', WF);
    got.length = 0;
    statuses.push(503, 503);
    const r = await cli('run', file, 'x=1', '--db', s.db, '--quiet', '--notify-webhook', url, '--notify-on', 'started,succeeded');
    expect(r.code, r.err).toBe(0);
    expect(got.map((g) => g.headers['x-larkflow-event']).sort()).toEqual(['STARTED', 'SUCCEEDED']);
    const ls = await cli('notifications', 'ls', '--db', s.db, '--json', '--status', 'pending');
    const rows = JSON.parse(ls.out) as { event: string; attempts: number; lastError: string }[];
    expect(rows.map((x) => x.event).sort()).toEqual(['STARTED', 'SUCCEEDED']);
    for (const row of rows) expect(row).toMatchObject({ attempts: 1, lastError: expect.stringContaining('HTTP 503') });
  });

  it('refuses bad notification options as usage errors', async () => {
    const s = scratch();
    const file = s.file('wf.star', WF);
    const bad = await cli('run', file, 'x=1', '--db', s.db, '--notify-webhook', 'ftp://nope', '--quiet');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/http/);
    const ev = await cli('run', file, 'x=1', '--db', s.db, '--notify-email', 'ops@example.test', '--notify-on', 'DONE', '--quiet');
    expect(ev.code).toBe(2);
    expect(ev.err).toMatch(/unknown event "DONE"/);
    const st = await cli('notifications', 'ls', '--db', s.db, '--status', 'sent');
    expect(st.code).toBe(2);
  });
});
