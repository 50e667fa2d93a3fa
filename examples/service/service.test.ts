/**
 * examples/service/server.mjs, an HTTP service embedding larkflow: idempotent POST of a run, its
 * event stream, a status query, an approval signal (with an idempotency key), the result, listing
 * with a cursor, and errors as HTTP statuses. Uses dist/ (`npm test` builds first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lf-service-'));
let server: ChildProcess;
let base = '';

beforeAll(async () => {
  server = spawn(process.execPath, [join(here, 'server.mjs'), '--db', join(dir, 'service.db')], { stdio: ['ignore', 'pipe', 'inherit'] });
  base = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    server.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
});
afterAll(async () => {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(base + path, { method, headers: { 'content-type': 'application/json', ...headers }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

describe('examples/service/server.mjs', () => {
  it('starts a run idempotently, streams it, answers its status, forwards the approval', async () => {
    const a = await call('POST', '/runs', { model: 'iris-v3' }, { 'idempotency-key': 'promote-iris-v3' });
    const b = await call('POST', '/runs', { model: 'iris-v3' }, { 'idempotency-key': 'promote-iris-v3' });
    expect(a.status).toBe(201);
    expect(b.json.runId).toBe(a.json.runId);
    const conflict = await call('POST', '/runs', { model: 'other' }, { 'idempotency-key': 'promote-iris-v3' });
    expect(conflict.status).toBe(409);
    const id = a.json.runId as string;
    const stream = await fetch(`${base}/runs/${id}/stream`);
    const reader = stream.body!.getReader();
    let text = '';
    // Wait until the run asks for approval (its stage event is in the stream).
    while (!text.includes('"waiting for approval"')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain('"kind":"RunStarted"');
    const status = await call('GET', `/runs/${id}/query/status`);
    expect(status.json.answer).toEqual({ stage: 'waiting for approval', accuracy: 0.95 });
    const s1 = await call('POST', `/runs/${id}/signals/approve`, { ok: true, by: 'ana' }, { 'idempotency-key': 'approval-1' });
    const s2 = await call('POST', `/runs/${id}/signals/approve`, { ok: true, by: 'bob' }, { 'idempotency-key': 'approval-1' });
    expect(s1.status).toBe(202);
    expect(s2.json.duplicate).toBe(true);
    const result = await call('GET', `/runs/${id}/result`);
    expect(result.json.result).toEqual({ model: 'iris-v3', promoted: true, uri: 'models://iris-v3', approved_by: 'ana' });
    // The stream ends with the run.
    while (!text.includes('RunCompleted')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain('"kind":"SignalReceived"');
    expect(text).toContain('"kind":"RunCompleted"');
  });

  it('lists runs with a cursor and maps errors to HTTP statuses', async () => {
    for (const m of ['bad-1', 'bad-2', 'bad-3']) expect((await call('POST', '/runs', { model: m })).status).toBe(201);
    const first = await call('GET', '/runs?limit=2');
    expect((first.json.runs as unknown[]).length).toBe(2);
    const second = await call('GET', `/runs?limit=2&after=${encodeURIComponent(first.json.next as string)}`);
    expect((second.json.runs as unknown[]).length).toBe(2);
    const ids = [...(first.json.runs as { runId: string }[]), ...(second.json.runs as { runId: string }[])].map((r) => r.runId);
    expect(new Set(ids).size).toBe(4);
    expect((await call('GET', '/runs/run-nope')).status).toBe(404);
    expect((await call('POST', '/runs', { nope: 1 })).status).toBe(400);
  });
});
