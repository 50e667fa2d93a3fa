/**
 * The run inspector's server across processes and at scale: a run driven by `larkflow run` in a
 * child process is followed live (list and run streams, a dropped stream resumed with
 * Last-Event-ID without duplicates) and cancelled through `larkflow ui --allow-actions` in another
 * child process, which stops cleanly on SIGTERM with its streams open; a 100,000-event history
 * (written through the store) pages by seq, filters, searches and replays from Last-Event-ID.
 * The child processes run the built CLI: `npm run build` first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine, type NewEvent } from '../../src/engine/index.js';
import type { HistoryPage, Meta, RunDetail, RunPage, RunRow, Step } from '../../src/ui/api-types.js';
import { startUiServer, type UiServer } from '../../src/ui/server/index.js';
import { scratchDirs } from '../helpers/cli.js';
import { act, http, sse } from './fixtures/http.js';

const CLI = resolve('dist/bundle/larkflow.mjs');
const scratch = scratchDirs('larkflow-ui-live-');
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function larkflow(args: string[], cwd: string): { child: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out, err: () => err, exit };
}

async function until<T>(f: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const GATED = `
gate = task("gate")
inc = task("inc")

@workflow()
def main(path):
    a = inc(1)
    g = gate(path)
    return inc(a)
`;

const TASKS = `
import { existsSync } from 'node:fs';
export async function gate(path) {
  while (!existsSync(path)) await new Promise((r) => setTimeout(r, 25));
  return 'opened';
}
export function inc(x) { return x + 1; }
`;

describe('a run in another process', () => {
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  });

  it('is followed live through the list and run streams, and a dropped stream resumes without duplicates', async () => {
    const s = scratch();
    const wf = s.file('gated.star', GATED);
    const tasks = s.file('tasks.mjs', TASKS);
    const go = join(s.dir, 'go');
    // The database exists before the server opens it (the run creates it otherwise).
    Engine.open({ db: s.db }).close();
    const ui: UiServer = await startUiServer({ db: s.db, pollMs: 100 });
    const list = sse(`${ui.url}api/stream`);
    const run = larkflow(['run', wf, `path=${go}`, '--tasks', tasks, '--db', s.db], s.dir);
    try {
      await list.until((ev) => ev.some((e) => e.event === 'run'), 'the new run in the list');
      const row = JSON.parse(list.events.find((e) => e.event === 'run')!.data) as RunRow;
      expect(row).toMatchObject({ workflow: 'main', status: 'running' });
      const first = sse(`${ui.url}api/runs/${row.runId}/stream`);
      await first.until((ev) => ev.some((e) => JSON.parse(e.data).kind === 'AttemptStarted' && JSON.parse(e.data).stepId === 'gate#1'), 'the gate attempt');
      first.close();
      const lastId = first.events[first.events.length - 1]!.id!;
      // While running: the header says where it waits, the steps show the gate running.
      const detail = (await http(`${ui.url}api/runs/${row.runId}`)).json<RunDetail>();
      expect(detail.status).toBe('running');
      expect(detail.waitingAt).toEqual([expect.objectContaining({ file: expect.stringContaining('gated.star'), line: 8 })]);
      const steps = (await http(`${ui.url}api/runs/${row.runId}/steps`)).json<{ steps: Step[] }>().steps;
      expect(steps.map((x) => [x.stepId, x.state])).toEqual([
        ['inc#1', 'completed'],
        ['gate#1', 'running'],
      ]);
      const second = sse(`${ui.url}api/runs/${row.runId}/stream`, { 'last-event-id': lastId });
      try {
        writeFileSync(go, '');
        await second.until((ev) => ev.some((e) => JSON.parse(e.data).kind === 'RunCompleted'), 'the end of the run');
        const seqs = [...first.events, ...second.events].map((e) => Number(e.id));
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
        expect(seqs.length).toBe(JSON.parse(second.events.at(-1)!.data).seq);
      } finally {
        second.close();
      }
      await list.until((ev) => ev.some((e) => e.event === 'run' && JSON.parse(e.data).status === 'completed'), 'the completed row');
      const done = list.events.filter((e) => e.event === 'run').map((e) => JSON.parse(e.data) as RunRow).at(-1)!;
      expect(done).toMatchObject({ runId: row.runId, status: 'completed', progress: { done: 3, total: 3 } });
      expect(await run.exit).toBe(0);
    } finally {
      list.close();
      await ui.close();
    }
  });

  it('is cancelled through larkflow ui --allow-actions, which stops on SIGTERM with its streams open', async () => {
    const s = scratch();
    const wf = s.file('gated.star', GATED);
    const tasks = s.file('tasks.mjs', TASKS);
    Engine.open({ db: s.db }).close();
    const ui = larkflow(['ui', '--db', s.db, '--port', '0', '--allow-actions'], s.dir);
    const url = await until(() => /^(http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(ui.out())?.[1], 'the URL of larkflow ui');
    expect(ui.err()).toContain('actions allowed');
    expect(ui.err()).not.toContain('WARNING');
    const run = larkflow(['run', wf, `path=${join(s.dir, 'never')}`, '--tasks', tasks, '--db', s.db], s.dir);
    const runId = await until(() => /(run-[0-9a-f]+)/.exec(run.err())?.[1], 'the run id');
    const stream = sse(`${url}api/runs/${runId}/stream`);
    await stream.until((ev) => ev.some((e) => JSON.parse(e.data).kind === 'AttemptStarted' && JSON.parse(e.data).stepId === 'gate#1'), 'the gate attempt');
    expect((await http(`${url}api/meta`)).json<Meta>()).toMatchObject({ readOnly: false, db: resolve(s.db) });
    const cancel = await act(url, `api/runs/${runId}/cancel`, { reason: 'stopped from the page' });
    expect(cancel.status).toBe(200);
    expect(cancel.json().cli).toBe(`larkflow cancel ${runId} --reason 'stopped from the page' --db ${s.db}`);
    // The process running the run sees the request in its history and ends the run cancelled.
    await stream.until((ev) => ev.some((e) => JSON.parse(e.data).kind === 'RunCancelled'), 'the cancellation');
    expect(JSON.parse(stream.events.find((e) => JSON.parse(e.data).kind === 'RunCancelled')!.data).reason).toBe('stopped from the page');
    // (The run's process goes on polling in its gate task, which ignores the abort: stop it.)
    run.child.kill('SIGKILL');
    const rows = (await http(`${url}api/runs?status=cancelled`)).json<RunPage>().runs;
    expect(rows.map((r) => r.runId)).toEqual([runId]);
    ui.child.kill('SIGTERM');
    expect(await ui.exit).toBe(0);
    await stream.ended;
    expect(ui.err()).toContain('larkflow ui: stopped');
  });

  it('warns loudly when listening beyond this machine without a token', async () => {
    const s = scratch();
    Engine.open({ db: s.db }).close();
    const ui = larkflow(['ui', '--db', s.db, '--port', '0', '--host', '0.0.0.0'], s.dir);
    await until(() => (/^http:\/\//m.test(ui.out()) ? true : undefined), 'the URL');
    expect(ui.err()).toMatch(/WARNING: larkflow ui listens on 0\.0\.0\.0.*--token/);
    ui.child.kill('SIGINT');
    expect(await ui.exit).toBe(0);
    const bad = larkflow(['ui', '--db', s.db, '--port', 'eighty'], s.dir);
    expect(await bad.exit).toBe(2);
    expect(bad.err()).toContain('--port must be a port number');
  });
});

describe('a 100,000-event history', () => {
  const N = 100_000;
  let engine: Engine;
  let ui: UiServer;
  let runId: string;

  beforeAll(async () => {
    const s = scratch();
    engine = Engine.open({ db: s.db });
    runId = 'run-big000000001';
    const at = Date.UTC(2026, 0, 1);
    engine.store.createRun({ kind: 'RunStarted', at, runId, workflow: 'big', file: 'big.star', scriptDigest: '0'.repeat(64), args: [], kwargs: {}, env: {}, seed: 's', attempt: 1 });
    let last = 1;
    const batch: NewEvent[] = [];
    const flush = (): void => {
      if (batch.length === 0) return;
      last = engine.store.append(runId, last, batch.splice(0)).at(-1)!.seq;
    };
    for (let i = 2; i < N; i++) {
      if (i === 50_000) {
        batch.push({
          kind: 'TaskScheduled', at: at + i, stepId: 'needle#1', task: 'needle', args: [], kwargs: {}, argsDigest: 'd', callSite: { file: 'big.star', line: 3, column: 5 }, inputsFrom: [], executor: 'local',
          retry: { maxAttempts: 1, initialIntervalMs: 1000, backoffCoefficient: 2, maxIntervalMs: 1000, jitter: 0, nonRetryable: [] },
        });
      } else if (i === 50_001) {
        batch.push({ kind: 'TaskFailed', at: at + i, stepId: 'needle#1', error: { kind: 'task', message: 'the needle broke', retryable: false } });
      } else {
        batch.push({ kind: 'ProgressReported', at: at + i, message: `step ${i}` });
      }
      if (batch.length === 5000) flush();
    }
    batch.push({ kind: 'RunFailed', at: at + N, error: { kind: 'starlark', message: 'the needle broke', retryable: false } });
    flush();
    // A running run of 6,000 events whose workflow last said where it waits at event 3,000.
    engine.store.createRun({ kind: 'RunStarted', at, runId: 'run-big000000002', workflow: 'big', file: 'big.star', scriptDigest: '0'.repeat(64), args: [], kwargs: {}, env: {}, seed: 's', attempt: 1 });
    const events: NewEvent[] = [];
    for (let i = 2; i <= 6000; i++) {
      events.push({ kind: 'ProgressReported', at: at + i, message: `tick ${i}`, ...(i === 3000 ? { waitingAt: [{ file: 'big.star', line: 9, column: 5, stack: ['main'] }] } : {}) });
    }
    engine.store.append('run-big000000002', 1, events);
    ui = await startUiServer({ engine });
  });

  afterAll(async () => {
    await ui?.close();
    await engine?.close();
  });

  it('pages by seq, filters and searches on the server', async () => {
    const p1 = (await http(`${ui.url}api/runs/${runId}/history`)).json<HistoryPage>();
    expect(p1.total).toBe(N);
    expect(p1.events.map((e) => e.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(p1.next).toBe(200);
    const mid = (await http(`${ui.url}api/runs/${runId}/history?after=49990&limit=20`)).json<HistoryPage>();
    expect(mid.events.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 49_991 + i));
    expect(mid.events.find((e) => e.seq === 50_000)!.kind).toBe('TaskScheduled');
    const end = (await http(`${ui.url}api/runs/${runId}/history?after=${N - 5}&limit=1000`)).json<HistoryPage>();
    expect(end.events.map((e) => e.seq)).toEqual([N - 4, N - 3, N - 2, N - 1, N]);
    expect(end.next).toBeUndefined();
    const failures = (await http(`${ui.url}api/runs/${runId}/history?failures=1`)).json<HistoryPage>();
    expect(failures.events.map((e) => [e.seq, e.kind])).toEqual([
      [50_001, 'TaskFailed'],
      [N, 'RunFailed'],
    ]);
    const search = (await http(`${ui.url}api/runs/${runId}/history?q=STEP%2099998`)).json<HistoryPage>();
    expect(search.events.map((e) => e.seq)).toEqual([99_998]);
    const row = (await http(`${ui.url}api/runs`)).json<RunPage>().runs.find((r) => r.runId === runId)!;
    expect(row).toMatchObject({ runId, status: 'failed', lastSeq: N, progress: { done: 1, total: 1 }, firstError: { task: 'needle', message: 'the needle broke' } });
    const detail = (await http(`${ui.url}api/runs/${runId}`)).json<RunDetail>();
    expect(detail.failure).toMatchObject({ task: 'needle', stepId: 'needle#1', message: 'the needle broke', site: { file: 'big.star', line: 3 } });
    const running = (await http(`${ui.url}api/runs/run-big000000002`)).json<RunDetail>();
    expect(running).toMatchObject({ status: 'running', lastSeq: 6000, waitingAt: [{ file: 'big.star', line: 9, column: 5, stack: ['main'] }] });
    expect(running.failure).toBeUndefined();
  });

  it('replays only what follows Last-Event-ID', async () => {
    const s = sse(`${ui.url}api/runs/${runId}/stream`, { 'last-event-id': String(N - 10) });
    try {
      await s.until((ev) => ev.some((e) => e.id === String(N)), 'the last event');
      expect(s.events.map((e) => Number(e.id))).toEqual(Array.from({ length: 10 }, (_, i) => N - 9 + i));
    } finally {
      s.close();
    }
  });
});
