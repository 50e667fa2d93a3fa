/**
 * The Ray Jobs API adapter against the fake Ray Jobs API server (tests/fakes/ray.mjs), which runs
 * every job's entrypoint as a real local process group. Covers the fault matrix of notes §8 for Ray.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdapterError, submissionIdOf, type AttemptRef, type ExecutionHandle, type LaunchSpec, type Phase } from '../../src/engine/executors/contract.js';
import {
  RayJobsAdapter,
  bodyExcerpt,
  buildSubmitRequest,
  rayJobsBaseUrl,
  shellJoin,
  truncateMessage,
  type RayJobsAdapterOptions,
} from '../../src/engine/executors/ray/index.js';
import { FakeRay } from '../fakes/ray.mjs';

let fake: FakeRay;
let adapters: RayJobsAdapter[] = [];
let seq = 0;

beforeEach(async () => {
  fake = new FakeRay({ startDelayMs: 20, stopGraceMs: 100, env: { NODE_MARK: 'from-node' } });
  await fake.start();
  adapters = [];
});

afterEach(async () => {
  for (const a of adapters) a.close();
  await fake.close();
});

function adapter(opts: Partial<RayJobsAdapterOptions> = {}): RayJobsAdapter {
  const a = new RayJobsAdapter({
    address: fake.url,
    env: {},
    callTimeoutMs: 1000,
    retries: { attempts: 4, baseMs: 10, maxMs: 40 },
    pollIntervalMs: 20,
    ...opts,
  });
  adapters.push(a);
  return a;
}

function ref(): AttemptRef {
  seq++;
  return { runId: `run-${process.pid}-${seq}`, stepId: `step-${seq}`, attempt: 1 };
}

/** A task whose process is `node -e js`. */
function spec(js: string, over: Partial<LaunchSpec> = {}): LaunchSpec {
  return { task: 'demo-task', command: [process.execPath, '-e', js], env: { GREETING: 'hello' }, resources: {}, ...over };
}

const LONG = 'setTimeout(() => {}, 20000)';

function calls(method?: string): string[] {
  return fake.journal.filter((e) => method === undefined || e.method === method).map((e) => `${e.method} ${e.path} ${e.status}`);
}

async function until<T>(what: string, f: () => T | Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

async function rejection(p: Promise<unknown>): Promise<AdapterError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(AdapterError);
    return e as AdapterError;
  }
  throw new Error('expected a rejection');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function pidOf(h: ExecutionHandle): number {
  return fake.processes().find((p) => p.submissionId === h.submissionId)?.pid ?? -1;
}

describe('RayJobsAdapter against the fake Ray Jobs API', () => {
  it('runs a task to SUCCEEDED: one POST /api/jobs/ with the attempt as submission_id and metadata', async () => {
    const a = adapter();
    const r = ref();
    const h = await a.submit(spec('console.log("hi there")'), r);
    const id = submissionIdOf(r, 'demo-task');
    expect(h).toEqual({ executor: 'ray', submissionId: id, backendId: id });
    expect(calls()).toEqual([`POST /api/jobs/ 200`]);
    const s = await a.wait(h, { timeoutMs: 5000 });
    expect(s).toMatchObject({ phase: 'SUCCEEDED', rawState: 'SUCCEEDED', exitCode: 0, message: 'Job finished successfully.' });
    expect((await a.logs(h)).text).toBe('hi there\n');
    expect(fake.jobsStarted()).toEqual({ [id]: 1 });
    const job = fake.job(id);
    expect(job?.metadata).toMatchObject({
      'larkflow.dev/run': r.runId,
      'larkflow.dev/step': r.stepId,
      'larkflow.dev/attempt': '1',
      'larkflow.dev/task': 'demo-task',
      'larkflow.dev/run-id': r.runId,
    });
    expect(Object.values(job?.metadata ?? {}).every((v) => typeof v === 'string')).toBe(true);
  });

  it('reports a non-zero exit as FAILED with the exit code, error_type and the log tail', async () => {
    const a = adapter();
    const h = await a.submit(spec('console.error("boom"); process.exit(3)'), ref());
    const s = await a.wait(h, { timeoutMs: 5000 });
    expect(s).toMatchObject({ phase: 'FAILED', rawState: 'FAILED', reason: 'JOB_ENTRYPOINT_COMMAND_ERROR', exitCode: 3 });
    expect(s.message).toMatch(/^Job entrypoint command failed with exit code 3/);
    expect(s.message).toContain('boom');
    expect((await a.logs(h)).text).toContain('boom');
  });

  it('cuts a long failure message to about 2,000 chars, keeping its first line and the end of the log', async () => {
    const a = adapter();
    const h = await a.submit(spec('process.stdout.write("x".repeat(30000) + "\\nTHE-END\\n", () => process.exit(1))'), ref());
    const s = await a.wait(h, { timeoutMs: 5000 });
    expect(s.phase).toBe('FAILED');
    expect(fake.job(h.submissionId)?.message.length).toBeGreaterThan(20_000);
    expect(s.message?.length).toBeLessThanOrEqual(2000);
    expect(s.message).toMatch(/^Job entrypoint command failed with exit code 1/);
    expect(s.message).toMatch(/THE-END\n$/);
  });

  it('reports a slow start as PENDING (no logs yet), then RUNNING, then SUCCEEDED', async () => {
    fake.startDelayMs = 300;
    const a = adapter();
    const h = await a.submit(spec('console.log("started"); setTimeout(() => {}, 300)'), ref());
    expect(await a.status(h)).toMatchObject({ phase: 'PENDING', rawState: 'PENDING' });
    expect(await a.logs(h)).toEqual({ text: '', nextCursor: '0', truncated: false, available: true });
    const phases: Phase[] = [];
    const s = await a.wait(h, { timeoutMs: 5000, pollIntervalMs: 15, onStatus: (x) => phases.push(x.phase) });
    expect(s.phase).toBe('SUCCEEDED');
    expect(phases.filter((p, i) => p !== phases[i - 1])).toEqual(['PENDING', 'RUNNING', 'SUCCEEDED']);
  });

  it('reads logs with a byte cursor and tailLines', async () => {
    const a = adapter();
    const h = await a.submit(spec('console.log("one"); console.error("two"); setTimeout(() => console.log("three"), 400)'), ref());
    const first = await until('two lines', () => a.logs(h), (l) => l.text.includes('two'));
    expect(first).toEqual({ text: 'one\ntwo\n', nextCursor: '8', truncated: false, available: true });
    expect(await a.logs(h, { cursor: '8' })).toEqual({ text: '', nextCursor: '8', truncated: false, available: true });
    await a.wait(h, { timeoutMs: 5000 });
    expect(await a.logs(h, { cursor: first.nextCursor ?? '' })).toEqual({ text: 'three\n', nextCursor: '14', truncated: false, available: true });
    expect(await a.logs(h, { tailLines: 1 })).toMatchObject({ text: 'three\n', truncated: true });
    expect(await a.logs(h, { cursor: '999' })).toMatchObject({ text: 'one\ntwo\nthree\n', nextCursor: '14' }); // a shorter log: start over
    expect((await rejection(a.logs(h, { cursor: 'abc' }))).category).toBe('invalid');
  });

  it('retries 5xx and 429 before the create and makes one job', async () => {
    fake.failNext(2, 503, { method: 'POST' });
    fake.failNext(1, 429, { method: 'POST', retryAfterSeconds: 30 });
    const a = adapter();
    const t0 = Date.now();
    const h = await a.submit(spec('0'), ref());
    expect(Date.now() - t0).toBeLessThan(1000); // Retry-After is capped at retries.maxMs
    expect(calls('POST')).toEqual(['POST /api/jobs/ 503', 'POST /api/jobs/ 503', 'POST /api/jobs/ 429', 'POST /api/jobs/ 200']);
    expect(fake.jobsStarted()).toEqual({ [h.submissionId]: 1 });
    expect((await a.wait(h, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
  });

  it('retries a 500 on GET and recovers', async () => {
    const a = adapter();
    const h = await a.submit(spec(LONG), ref());
    fake.failNext(2, 500, { method: 'GET' });
    expect(['PENDING', 'RUNNING']).toContain((await a.status(h)).phase);
    expect(calls('GET').map((c) => c.split(' ')[2])).toEqual(['500', '500', '200']);
  });

  it('adopts the job when a 500 came after the create (ambiguous submit): exactly one job started', async () => {
    fake.failAfterCreate(1);
    const a = adapter();
    const r = ref();
    const h = await a.submit(spec('console.log("once")'), r);
    const id = submissionIdOf(r, 'demo-task');
    expect(h).toEqual({ executor: 'ray', submissionId: id, backendId: id });
    // the 500 is retried; the retry's "already exists" (500 too) adopts after a GET
    expect(calls()).toEqual(['POST /api/jobs/ 500', 'POST /api/jobs/ 500', `GET /api/jobs/${id} 200`]);
    expect(fake.jobsStarted()).toEqual({ [id]: 1 });
    expect((await a.wait(h, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
    expect(fake.processes().filter((p) => p.submissionId === id)).toHaveLength(1);
  });

  it('adopts on a second submit of the same attempt, from another adapter instance too, with old Ray\'s 400 duplicate answer too', async () => {
    const r = ref();
    const s = spec(LONG);
    const h1 = await adapter().submit(s, r);
    const h2 = await adapter().submit(s, r);
    expect(h2).toEqual(h1);
    fake.duplicateStatus = 400;
    const h3 = await adapter().submit(s, r);
    expect(h3).toEqual(h1);
    expect(calls('POST')).toEqual(['POST /api/jobs/ 200', 'POST /api/jobs/ 500', 'POST /api/jobs/ 400']);
    expect(fake.jobsStarted()).toEqual({ [h1.submissionId]: 1 });
  });

  it('refuses to adopt a job of another attempt that holds the submission id', async () => {
    const r = ref();
    const id = submissionIdOf(r, 'demo-task');
    const res = await fetch(`${fake.url}/api/jobs/`, {
      method: 'POST',
      body: JSON.stringify({ entrypoint: 'sleep 5', submission_id: id, metadata: { 'larkflow.dev/attempt': '9' } }),
    });
    expect(res.status).toBe(200);
    const err = await rejection(adapter().submit(spec('0'), r));
    expect(err.category).toBe('conflict');
    expect((await rejection(adapter().lookup(r, { task: 'demo-task' }))).category).toBe('conflict');
    expect(await adapter().lookup(r)).toBeNull();
  });

  it('retries while the connection is refused and recovers', async () => {
    const a = adapter({ retries: { attempts: 8, baseMs: 40, maxMs: 80 } });
    await fake.stopListening();
    setTimeout(() => void fake.resume(), 200);
    const h = await a.submit(spec('0'), ref());
    expect(Object.values(fake.jobsStarted())).toEqual([1]);
    expect((await a.wait(h, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
  });

  it('gives up with a transient error when the connection stays refused (bounded, no hang)', async () => {
    const a = adapter({ retries: { attempts: 3, baseMs: 20, maxMs: 40 } });
    await fake.stopListening();
    const t0 = Date.now();
    const err = await rejection(a.submit(spec('0'), ref()));
    expect(err.category).toBe('transient');
    expect(err.message).toMatch(/after 3 tries/);
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('times out a hung call and retries it', async () => {
    const a = adapter({ callTimeoutMs: 150 });
    const h = await a.submit(spec(LONG), ref());
    fake.delayNext(2000, { method: 'GET' });
    const t0 = Date.now();
    const s = await a.status(h);
    const took = Date.now() - t0;
    expect(['PENDING', 'RUNNING']).toContain(s.phase);
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(1500);
  });

  it('a call that always hangs ends with a transient timeout error', async () => {
    const a = adapter({ callTimeoutMs: 100, retries: { attempts: 2, baseMs: 10, maxMs: 20 } });
    fake.delayNext(3000, { method: 'GET', n: 5 });
    const t0 = Date.now();
    const err = await rejection(a.status({ executor: 'ray', submissionId: 'x', backendId: 'x' }));
    expect(err.category).toBe('transient');
    expect(err.message).toMatch(/no answer within 100 ms \(after 2 tries\)/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('a hung submit that the server performs late still gives one job', async () => {
    const a = adapter({ callTimeoutMs: 150 });
    fake.delayNext(400, { method: 'POST' });
    const h = await a.submit(spec(LONG), ref());
    // the retry created the job; the delayed first POST, handled later, gets the duplicate answer
    await until('the late POST', () => calls('POST'), (c) => c.length === 2);
    expect(calls('POST')).toEqual(['POST /api/jobs/ 200', 'POST /api/jobs/ 500']);
    expect(fake.jobsStarted()).toEqual({ [h.submissionId]: 1 });
  });

  it('reports a job the cluster forgot (restart) as LOST; its process is gone', async () => {
    const a = adapter();
    const h = await a.submit(spec(LONG), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    const pid = pidOf(h);
    expect(alive(pid)).toBe(true);
    expect(fake.forget(h.submissionId)).toBe(true);
    expect(await a.status(h)).toMatchObject({ phase: 'LOST', rawState: 'NotFound', reason: 'NotFound' });
    await until('the process to end', () => alive(pid), (x) => !x);
    expect(await a.cancel(h)).toBe('not-found');
    expect(await a.logs(h)).toMatchObject({ text: '', available: true });
  });

  it('enforces timeoutMs by stopping the job: FAILED DeadlineExceeded, the process gone', async () => {
    const a = adapter();
    const h = await a.submit(spec(LONG, { timeoutMs: 300 }), ref());
    expect(fake.job(h.submissionId)?.metadata['larkflow.dev/timeout-ms']).toBe('300');
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    const pid = pidOf(h);
    const s = await a.wait(h, { timeoutMs: 5000 });
    expect(s).toMatchObject({ phase: 'FAILED', rawState: 'STOPPED', reason: 'DeadlineExceeded' });
    expect(alive(pid)).toBe(false);
    // another adapter (after an engine restart) reads the same from the job's metadata and times
    expect(await adapter().status(h)).toMatchObject({ phase: 'FAILED', reason: 'DeadlineExceeded' });
  });

  it('cancels a running job: CANCELLED, idempotent, the process group gone', async () => {
    const a = adapter();
    const h = await a.submit(spec(LONG), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    const pid = pidOf(h);
    expect(await a.cancel(h)).toBe('requested');
    expect(['requested', 'already-terminal']).toContain(await a.cancel(h));
    const s = await a.wait(h, { timeoutMs: 5000 });
    expect(s).toMatchObject({ phase: 'CANCELLED', rawState: 'STOPPED', reason: 'Cancelled' });
    expect(alive(pid)).toBe(false);
    expect(await a.cancel(h)).toBe('already-terminal');
    expect(calls('POST').filter((c) => c.includes('/stop')).every((c) => c.endsWith(' 200'))).toBe(true);
    // a job stopped by someone else (another adapter instance, after a restart) is FAILED "STOPPED"
    expect(await adapter().status(h)).toMatchObject({ phase: 'FAILED', reason: 'STOPPED' });
  });

  it('cancels a PENDING job', async () => {
    fake.startDelayMs = 2000;
    const a = adapter();
    const h = await a.submit(spec(LONG), ref());
    expect(await a.cancel(h)).toBe('requested');
    expect(await a.status(h)).toMatchObject({ phase: 'CANCELLED' });
    expect(fake.processes()).toHaveLength(0);
  });

  it('cancel of a finished job is already-terminal and keeps its phase; of an unknown job not-found', async () => {
    const a = adapter();
    const h = await a.submit(spec('0'), ref());
    await a.wait(h, { timeoutMs: 5000 });
    expect(await a.cancel(h)).toBe('already-terminal');
    expect(await a.status(h)).toMatchObject({ phase: 'SUCCEEDED' });
    expect(await a.cancel({ executor: 'ray', submissionId: 'nope', backendId: 'nope' })).toBe('not-found');
  });

  it('cancel racing completion reports the real terminal state', async () => {
    const a = adapter({ callTimeoutMs: 3000 });
    const h = await a.submit(spec('setTimeout(() => {}, 150)'), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    fake.delayNext(1500, { method: 'POST', path: '/stop' }); // the stop lands after the job ended
    expect(await a.cancel(h)).toBe('already-terminal');
    expect(calls('POST').filter((c) => c.includes('/stop'))).toEqual([`POST /api/jobs/${h.submissionId}/stop 200`]);
    expect(await a.status(h)).toMatchObject({ phase: 'SUCCEEDED', exitCode: 0 });
  });

  it('an ambiguous stop (performed, answer lost) whose retry finds the job stopped still reads CANCELLED', async () => {
    const a = adapter({ callTimeoutMs: 600 });
    const h = await a.submit(spec(LONG), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    // try 1 times out at 600 ms and is performed at 700 ms; try 2 (sent at ~610 ms) is handled at
    // ~1010 ms, after the job STOPPED, and answers {stopped: false}
    fake.delayNext(700, { method: 'POST', path: '/stop' });
    fake.delayNext(400, { method: 'POST', path: '/stop' });
    expect(await a.cancel(h)).toBe('already-terminal');
    expect(calls('POST').filter((c) => c.includes('/stop'))).toHaveLength(2);
    expect(await a.status(h)).toMatchObject({ phase: 'CANCELLED', rawState: 'STOPPED' });
  });

  it('cleanup deletes only terminal jobs', async () => {
    const a = adapter();
    const h = await a.submit(spec('setTimeout(() => {}, 300)'), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    await a.cleanup(h); // not yet: no DELETE
    expect(calls('DELETE')).toEqual([]);
    expect(fake.job(h.submissionId)?.status).toBe('RUNNING');
    await a.wait(h, { timeoutMs: 5000 });
    await a.cleanup(h);
    expect(calls('DELETE')).toEqual([`DELETE /api/jobs/${h.submissionId} 200`]);
    expect(fake.job(h.submissionId)).toBeUndefined();
    await a.cleanup(h); // gone: fine
    expect(calls('DELETE')).toHaveLength(1);
  });

  it('cleanup: Ray\'s 500 "non-terminal state" is "not yet" (no retry, no error); another 500 is retried', async () => {
    const a = adapter();
    const running = await a.submit(spec(LONG), ref());
    await until('RUNNING', () => a.status(running), (s) => s.phase === 'RUNNING');
    // Ray's answer to a DELETE of a job that is not terminal
    const res = await fetch(`${fake.url}/api/jobs/${running.submissionId}`, { method: 'DELETE' });
    expect(res.status).toBe(500);
    const nonTerminal = await res.text();
    expect(nonTerminal).toMatch(/Attempted to delete job '.*', but it is in a non-terminal state RUNNING\./);
    const h = await a.submit(spec('0'), ref());
    await a.wait(h, { timeoutMs: 5000 });
    fake.failNext(1, 500, { method: 'DELETE', body: nonTerminal }); // as if the job were still ending
    await a.cleanup(h);
    expect(calls('DELETE').slice(1)).toEqual([`DELETE /api/jobs/${h.submissionId} 500`]);
    expect(fake.job(h.submissionId)).toBeDefined();
    fake.failNext(1, 500, { method: 'DELETE' });
    await a.cleanup(h);
    expect(calls('DELETE').slice(2)).toEqual([`DELETE /api/jobs/${h.submissionId} 500`, `DELETE /api/jobs/${h.submissionId} 200`]);
    expect(fake.job(h.submissionId)).toBeUndefined();
  });

  it('maps 401 and 403 to auth without retrying; sends the token as a Bearer header', async () => {
    fake.requireToken('s3cret');
    const none = adapter();
    expect(await rejection(none.submit(spec('0'), ref()))).toMatchObject({ category: 'auth', status: 401 });
    const wrong = adapter({ token: 'nope' });
    const e403 = await rejection(wrong.status({ executor: 'ray', submissionId: 'x', backendId: 'x' }));
    expect(e403).toMatchObject({ category: 'auth', status: 403 });
    expect(e403.message).toContain('Forbidden: Invalid authentication token');
    expect(fake.journal.map((e) => e.status)).toEqual([401, 403]);
    const fromEnv = adapter({ env: { RAY_AUTH_TOKEN: 's3cret' } });
    const h = await fromEnv.submit(spec('0'), ref());
    expect((await fromEnv.wait(h, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
  });

  it('refuses head/worker sizing (needs kuberay) and bad quantities before any request', async () => {
    const a = adapter();
    const sized = await rejection(a.submit(spec('0', { resources: { ray: { headCpu: '1', workerInstances: 2 } } }), ref()));
    expect(sized.category).toBe('invalid');
    expect(sized.message).toMatch(/head\/worker sizing needs a fresh cluster: use executor kuberay/);
    expect(sized.message).toContain('headCpu, workerInstances');
    const mem = await rejection(a.submit(spec('0', { resources: { ray: { entrypointMemory: '4GB' } } }), ref()));
    expect(mem.category).toBe('invalid');
    expect(mem.message).toMatch(/entrypointMemory/);
    const vars = await rejection(a.submit(spec('0', { resources: { ray: { runtimeEnv: { env_vars: { N: 1 } } } } }), ref()));
    expect(vars.category).toBe('invalid');
    expect(fake.journal).toHaveLength(0);
  });

  it('maps a 400 from the server to invalid, with the traceback\'s last line, without retrying', async () => {
    fake.failNext(1, 400, { method: 'POST' });
    const err = await rejection(adapter().submit(spec('0'), ref()));
    expect(err).toMatchObject({ category: 'invalid', status: 400 });
    expect(calls('POST')).toHaveLength(1);
    // the fake's own validation, as Ray's JobSubmitRequest: entrypoint_memory must be an int
    const res = await fetch(`${fake.url}/api/jobs/`, { method: 'POST', body: JSON.stringify({ entrypoint: 'true', entrypoint_memory: 1.5 }) });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(bodyExcerpt(text)).toBe("TypeError: entrypoint_memory must be an int, got <class 'float'>");
  });

  it('sends entrypoint resources: cpus, gpus and memory as integer bytes ("4Gi" → 4294967296)', async () => {
    const a = adapter();
    const r = ref();
    const h = await a.submit(spec('0', { resources: { ray: { entrypointCpu: 2, entrypointGpu: 0.5, entrypointMemory: '4Gi', runtimeEnv: { pip: ['pandas==2.2.2'] } } } }), r);
    const job = fake.job(h.submissionId);
    expect(job).toMatchObject({ entrypoint_num_cpus: 2, entrypoint_num_gpus: 0.5, entrypoint_memory: 4294967296 });
    expect(job?.runtime_env['pip']).toEqual(['pandas==2.2.2']);
    expect(buildSubmitRequest(spec('0', { resources: { ray: { entrypointMemory: '1.5G' } } }), r)['entrypoint_memory']).toBe(1_500_000_000);
  });

  it('the environment reaches the process: runtime_env env_vars, spec.env over them, LARKFLOW_SESSION=ray, the node env; not the engine\'s', async () => {
    process.env['LARKFLOW_RAY_TEST_LEAK'] = 'leaked';
    try {
      const a = adapter();
      const js = 'console.log([process.env.GREETING, process.env.FROM_RUNTIME_ENV, process.env.OVERRIDDEN, process.env.LARKFLOW_SESSION, process.env.NODE_MARK, process.env.LARKFLOW_RAY_TEST_LEAK].join(","))';
      const h = await a.submit(
        spec(js, { env: { GREETING: 'hello', OVERRIDDEN: 'by-spec' }, resources: { ray: { runtimeEnv: { env_vars: { FROM_RUNTIME_ENV: 'rt', OVERRIDDEN: 'by-runtime-env' } } } } }),
        ref(),
      );
      expect((await a.wait(h, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
      expect((await a.logs(h)).text).toBe('hello,rt,by-spec,ray,from-node,\n');
    } finally {
      delete process.env['LARKFLOW_RAY_TEST_LEAK'];
    }
  });

  it('shell quoting: argv with spaces, quotes, $, backticks, newlines, globs and empty strings survives /bin/sh', async () => {
    const args = ['a b', "it's", '"dq"', '$HOME', '`id`', 'x\ny', '*', '', ';', '--flag=v', 'ünï', '\\'];
    const a = adapter();
    const h = await a.submit(spec('console.log(JSON.stringify(process.argv.slice(1)))', { command: [process.execPath, '-e', 'console.log(JSON.stringify(process.argv.slice(1)))', ...args] }), ref());
    expect((await a.wait(h, { timeoutMs: 5000 })).phase).toBe('SUCCEEDED');
    expect(JSON.parse((await a.logs(h)).text)).toEqual(args);
    expect(shellJoin(['A=B', 'if', 'x=y'])).toBe("'A=B' if x=y");
    expect(shellJoin(['if'])).toBe("'if'");
    expect(() => shellJoin([])).toThrow(AdapterError);
    expect(() => shellJoin(['a\0b'])).toThrow(AdapterError);
  });

  it('finds the job of an attempt after a restart (lookup by task, and by listing), without submitting', async () => {
    const r = ref();
    const h = await adapter().submit(spec(LONG), r);
    const fresh = adapter();
    expect(await fresh.lookup(r)).toEqual(h);
    expect(await fresh.lookup(r, { task: 'demo-task' })).toEqual(h);
    expect(await fresh.lookup({ ...r, attempt: 2 })).toBeNull();
    expect(await fresh.lookup({ ...r, attempt: 2 }, { task: 'demo-task' })).toBeNull();
    expect(calls('POST')).toHaveLength(1);
    expect(calls('GET')).toContain('GET /api/jobs/ 200');
  });

  it('address: option, RAY_API_SERVER_ADDRESS, RAY_ADDRESS, a bare host:port; refuses ray:// and none', async () => {
    const port = new URL(fake.url).port;
    expect(adapter({ address: `127.0.0.1:${port}` }).baseUrl).toBe(fake.url);
    expect(adapter({ address: undefined, env: { RAY_ADDRESS: `${fake.url}/` } }).baseUrl).toBe(fake.url);
    expect(adapter({ address: undefined, env: { RAY_API_SERVER_ADDRESS: fake.url, RAY_ADDRESS: 'ray://head:10001' } }).baseUrl).toBe(fake.url);
    expect(rayJobsBaseUrl('https://proxy.example/ray/')).toBe('https://proxy.example/ray');
    expect(() => new RayJobsAdapter({ address: 'ray://head:10001' })).toThrow(/needs the dashboard's http\(s\) address/);
    expect(() => new RayJobsAdapter({ env: { RAY_ADDRESS: 'ray://head:10001' } })).toThrow(/Ray Client/);
    expect(() => new RayJobsAdapter({ env: {} })).toThrow(/no Ray address/);
    expect(() => new RayJobsAdapter({ address: 'auto' })).toThrow(AdapterError);
    const h = await adapter({ address: undefined, env: { RAY_ADDRESS: `127.0.0.1:${port}` } }).submit(spec('0'), ref());
    expect(h.executor).toBe('ray');
  });

  it('refuses a handle of another executor', async () => {
    const err = await rejection(adapter().status({ executor: 'k8s', submissionId: 'x', backendId: 'default/x' }));
    expect(err.category).toBe('invalid');
  });

  it('close() rejects a hung call at once, and later calls', async () => {
    const a = adapter({ callTimeoutMs: 10_000 });
    fake.delayNext(3000, { method: 'GET' });
    const p = a.status({ executor: 'ray', submissionId: 'x', backendId: 'x' });
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    a.close();
    expect(await rejection(p)).toBeInstanceOf(AdapterError);
    expect(Date.now() - t0).toBeLessThan(500);
    expect((await rejection(a.lookup(ref()))).category).toBe('invalid');
  });

  it('close() during a backoff sleep ends the call without another request', async () => {
    const a = adapter({ retries: { attempts: 5, baseMs: 1000, maxMs: 1000 } });
    fake.failNext(1, 503, { method: 'GET' });
    const p = a.status({ executor: 'ray', submissionId: 'x', backendId: 'x' });
    await until('the 503', () => fake.journal.length, (n) => n === 1);
    const t0 = Date.now();
    a.close();
    expect((await rejection(p)).category).toBe('invalid');
    expect(Date.now() - t0).toBeLessThan(300);
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.journal).toHaveLength(1);
  });

  it('truncateMessage and bodyExcerpt', () => {
    expect(truncateMessage('short')).toBe('short');
    const long = `head line\n${'y'.repeat(5000)}END`;
    const t = truncateMessage(long, 100);
    expect(t.length).toBe(100);
    expect(t.startsWith('head line\n…\n')).toBe(true);
    expect(t.endsWith('END')).toBe(true);
    expect(bodyExcerpt('Job x does not exist')).toBe('Job x does not exist');
    expect(bodyExcerpt('Traceback (most recent call last):\n  File "a.py"\nValueError: Job with submission_id j already exists. Please use a different submission_id.\n')).toBe(
      'ValueError: Job with submission_id j already exists. Please use a different submission_id.',
    );
  });
});
