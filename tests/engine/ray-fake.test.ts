/**
 * The fake Ray Jobs API server itself (tests/fakes/ray.mjs): what it answers, checked with raw
 * fetch, and its standalone mode.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeRay, type FakeJobDetails } from '../fakes/ray.mjs';

const FAKE = fileURLToPath(new URL('../fakes/ray.mjs', import.meta.url));

let fake: FakeRay;

beforeEach(async () => {
  fake = new FakeRay({ startDelayMs: 100, stopGraceMs: 100 });
  await fake.start();
});

afterEach(async () => {
  await fake.close();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(`${fake.url}${path}`, { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

async function details(id: string): Promise<FakeJobDetails> {
  const r = await call('GET', `/api/jobs/${id}`);
  expect(r.status).toBe(200);
  return JSON.parse(r.text) as FakeJobDetails;
}

/** Live (not zombie) processes of a process group, from /proc (this container's PID 1 reaps slowly). */
function liveInGroup(pgid: number): number[] {
  const live: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') live.push(Number(name));
  }
  return live;
}

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

describe('fake Ray Jobs API', () => {
  it('serves the Jobs API shapes: version, submit, JobDetails, list, logs, stop, delete, text/plain errors', async () => {
    expect(JSON.parse((await call('GET', '/api/version')).text)).toMatchObject({ ray_version: expect.any(String) });
    const sub = await call('POST', '/api/jobs/', { entrypoint: 'echo out; echo err >&2; sleep 0.2', submission_id: 'j-1', metadata: { k: 'v' } });
    expect(sub.status).toBe(200);
    expect(JSON.parse(sub.text)).toEqual({ job_id: 'j-1', submission_id: 'j-1' });
    const pending = await details('j-1');
    expect(pending).toMatchObject({ type: 'SUBMISSION', status: 'PENDING', job_id: null, driver_info: null, metadata: { k: 'v' }, end_time: null });
    expect(pending.message).toMatch(/^Job has not started yet\./);
    expect(JSON.parse((await call('GET', '/api/jobs/j-1/logs')).text)).toEqual({ logs: '' });
    const running = await until(() => details('j-1'), (d) => d.status === 'RUNNING');
    expect(running).toMatchObject({ job_id: '01000000', message: 'Job is currently running.' });
    expect(running.driver_info?.id).toBe('01000000');
    expect((await details('01000000')).submission_id).toBe('j-1'); // by Ray job id too
    const del = await call('DELETE', '/api/jobs/j-1');
    expect(del.status).toBe(500);
    expect(del.type).toMatch(/^text\/plain/);
    expect(del.text).toContain("Attempted to delete job 'j-1', but it is in a non-terminal state RUNNING.");
    const done = await until(() => details('j-1'), (d) => d.status === 'SUCCEEDED');
    expect(done).toMatchObject({ driver_exit_code: 0, message: 'Job finished successfully.' });
    expect(done.end_time).toBeGreaterThanOrEqual(done.start_time);
    expect(JSON.parse((await call('GET', '/api/jobs/j-1/logs')).text)).toEqual({ logs: 'out\nerr\n' });
    expect(JSON.parse((await call('POST', '/api/jobs/j-1/stop')).text)).toEqual({ stopped: false });
    const list = JSON.parse((await call('GET', '/api/jobs/')).text) as FakeJobDetails[];
    expect(Array.isArray(list)).toBe(true);
    expect(list.map((j) => j.submission_id)).toEqual(['j-1']);
    const dup = await call('POST', '/api/jobs/', { entrypoint: 'true', submission_id: 'j-1' });
    expect(dup.status).toBe(500);
    expect(dup.type).toMatch(/^text\/plain/);
    expect(dup.text).toContain('Job with submission_id j-1 already exists. Please use a different submission_id.');
    expect(JSON.parse((await call('DELETE', '/api/jobs/j-1')).text)).toEqual({ deleted: true });
    expect(await call('GET', '/api/jobs/j-1')).toMatchObject({ status: 404, text: 'Job j-1 does not exist' });
    expect((await call('GET', '/api/jobs')).status).toBe(404); // the route needs its trailing slash
    expect(fake.jobsStarted()).toEqual({ 'j-1': 1 });
  });

  it('validates like JobSubmitRequest: 400 with a traceback', async () => {
    for (const body of [{ entrypoint: 1 }, { entrypoint: 'true', metadata: { a: 1 } }, { entrypoint: 'true', entrypoint_memory: 1.5 }, { entrypoint: 'true', nope: 1 }, { entrypoint: 'true', runtime_env: { env_vars: { A: 1 } } }]) {
      const r = await call('POST', '/api/jobs/', body);
      expect(r.status).toBe(400);
      expect(r.text).toMatch(/^Traceback/);
      expect(r.text).toMatch(/(TypeError|ValueError): /);
    }
    expect(fake.jobsStarted()).toEqual({});
  });

  it('a failing entrypoint is FAILED with JOB_ENTRYPOINT_COMMAND_ERROR; stop of a running job is STOPPED and kills its group', async () => {
    await call('POST', '/api/jobs/', { entrypoint: 'echo bad; exit 7', submission_id: 'f' });
    const failed = await until(() => details('f'), (d) => d.status === 'FAILED');
    expect(failed).toMatchObject({ error_type: 'JOB_ENTRYPOINT_COMMAND_ERROR', driver_exit_code: 7 });
    expect(failed.message).toBe('Job entrypoint command failed with exit code 7, last available logs (truncated to 20,000 chars):\nbad\n');
    await call('POST', '/api/jobs/', { entrypoint: 'sleep 30 & sleep 30', submission_id: 's' });
    await until(() => details('s'), (d) => d.status === 'RUNNING');
    expect(JSON.parse((await call('POST', '/api/jobs/s/stop')).text)).toEqual({ stopped: true });
    const stopped = await until(() => details('s'), (d) => d.status === 'STOPPED');
    expect(stopped.message).toBe('Job was intentionally stopped.');
    const pid = fake.processes().find((p) => p.submissionId === 's')?.pid ?? -1;
    expect(pid).toBeGreaterThan(0);
    expect(liveInGroup(pid)).toEqual([]); // the whole group, the background sleep too
    // a background process that ignores SIGTERM gets SIGKILL stopGraceMs later
    await call('POST', '/api/jobs/', { entrypoint: `sh -c 'trap "" TERM; sleep 30' & sleep 30`, submission_id: 't' });
    await until(() => details('t'), (d) => d.status === 'RUNNING');
    const tpid = fake.processes().find((p) => p.submissionId === 't')?.pid ?? -1;
    await until(async () => liveInGroup(tpid).length, (n) => n >= 3);
    await call('POST', '/api/jobs/t/stop');
    await until(() => details('t'), (d) => d.status === 'STOPPED');
    await until(async () => liveInGroup(tpid), (l) => l.length === 0, 2000);
  });

  it('auth: 401 without a token, 403 with a wrong one', async () => {
    fake.requireToken('t');
    expect(await call('GET', '/api/jobs/')).toMatchObject({ status: 401 });
    const wrong = await fetch(`${fake.url}/api/jobs/`, { headers: { Authorization: 'Bearer x' } });
    expect(wrong.status).toBe(403);
    const right = await fetch(`${fake.url}/api/jobs/`, { headers: { Authorization: 'Bearer t' } });
    expect(right.status).toBe(200);
  });

  it('runs standalone: prints its URL, passes --env to jobs, and stops on SIGTERM killing its processes', async () => {
    const child = spawn(process.execPath, [FAKE, '--port', '0', '--env', 'NODE_ENV_MARK=cluster', '--start-delay-ms', '10'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const rl = createInterface({ input: child.stdout });
      const [line] = (await once(rl, 'line')) as [string];
      const m = /^fake ray listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      expect(m).not.toBeNull();
      const url = m?.[1] ?? '';
      await fetch(`${url}/api/jobs/`, { method: 'POST', body: JSON.stringify({ entrypoint: 'echo $NODE_ENV_MARK; sleep 30', submission_id: 'x' }) });
      const d = await until(
        async () => (await (await fetch(`${url}/api/jobs/x`)).json()) as FakeJobDetails,
        (j) => j.status === 'RUNNING',
      );
      const logs = await until(async () => ((await (await fetch(`${url}/api/jobs/x/logs`)).json()) as { logs: string }).logs, (l) => l !== '');
      expect(logs).toBe('cluster\n');
      const pid = Number(d.driver_info?.pid);
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(0);
      expect(() => process.kill(pid, 0)).toThrow();
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
