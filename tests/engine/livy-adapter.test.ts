/**
 * The Livy adapter against the fake Livy server (tests/fakes/livy.mjs), which runs every batch as a
 * real `python3 <file>` process with the driver environment of the batch's conf. Covers the fault
 * matrix of the executor notes §8 for Livy, and a real end-to-end attempt with the Python runner.
 *
 * Most batches here run a tiny script (the fake maps the adapter's `runnerFile` URI to it) that
 * executes the Python source in its JOB_PY environment variable, so each test says what its job does.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AdapterError,
  submissionIdOf,
  type AttemptRef,
  type ExecutionHandle,
  type LaunchSpec,
  type Phase,
  type StatusReport,
  type TaskInputDoc,
  type TaskResultDoc,
} from '../../src/engine/executors/contract.js';
import { DEFAULT_RUNNER_FILE, LivyAdapter, buildBatchRequest, type LivyAdapterOptions } from '../../src/engine/executors/livy/index.js';
import { FakeLivy, type FakeLivyOptions } from '../fakes/livy.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ENTRY = join(ROOT, 'runners', 'python', 'larkflow_entry.py');
const JOB_URI = 'local:/opt/test/job.py';
const JOB_PY = `import os
exec(compile(os.environ["JOB_PY"], "job", "exec"))
`;

let tmp: string;
let fake: FakeLivy;
let adapters: LivyAdapter[] = [];
let seq = 0;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'larkflow-livy-'));
  writeFileSync(join(tmp, 'job.py'), JOB_PY);
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

async function startFake(opts: FakeLivyOptions = {}): Promise<FakeLivy> {
  await fake?.close();
  fake = new FakeLivy({ files: { [JOB_URI]: join(tmp, 'job.py') }, cwd: tmp, ...opts });
  await fake.start();
  return fake;
}

beforeEach(async () => {
  await startFake();
  adapters = [];
});

afterEach(async () => {
  for (const a of adapters) a.close();
  await fake.close();
});

function adapter(opts: Partial<LivyAdapterOptions> = {}): LivyAdapter {
  const a = new LivyAdapter({ url: fake.url, runnerFile: JOB_URI, callTimeoutMs: 1000, retries: { attempts: 4, baseMs: 10, maxMs: 40 }, ...opts });
  adapters.push(a);
  return a;
}

function ref(): AttemptRef {
  seq++;
  return { runId: `run-${process.pid}-${seq}`, stepId: `step-${seq}`, attempt: 1 };
}

/** A task whose batch runs the Python source `py`. */
function spec(py: string, over: Partial<LaunchSpec> = {}): LaunchSpec {
  const { env, ...rest } = over;
  return { task: 'demo-task', command: ['python3', '-m', 'larkflow_runner'], resources: {}, ...rest, env: { GREETING: 'hello', JOB_PY: py, ...(env ?? {}) } };
}

function requests(method: string, path?: string): number {
  return fake.journal.filter((e) => e.method === method && (path === undefined || e.path === path)).length;
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

const terminal = (p: Phase): boolean => p === 'SUCCEEDED' || p === 'FAILED' || p === 'CANCELLED' || p === 'LOST';

function finish(a: LivyAdapter, h: ExecutionHandle, ms = 5000): Promise<StatusReport> {
  return until(`batch ${h.backendId} to end`, () => a.status(h), (s) => terminal(s.phase), ms);
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

async function allLogs(a: LivyAdapter, h: ExecutionHandle): Promise<{ text: string; calls: number }> {
  let text = '';
  let cursor: string | undefined;
  let calls = 0;
  for (;;) {
    const c = await a.logs(h, cursor === undefined ? {} : { cursor });
    calls++;
    text += c.text;
    if (c.text === '' || c.nextCursor === cursor) return { text, calls };
    cursor = c.nextCursor;
  }
}

describe('Livy adapter: lifecycle', () => {
  it('a batch that exits 0: starting → running → SUCCEEDED, with an appId, and its log read page by page', async () => {
    const a = adapter({ logPageLines: 100 });
    const r = ref();
    const h = await a.submit(spec('import time\ntime.sleep(0.3)\nfor i in range(250): print("line-%03d" % i)'), r);
    expect(h).toEqual({ executor: 'livy', submissionId: submissionIdOf(r, 'demo-task'), backendId: '0', backendUid: submissionIdOf(r, 'demo-task') });
    const running = await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    expect(running.rawState).toBe('running');
    expect(running.message).toMatch(/^application application_\d+_0001$/);
    const s = await finish(a, h);
    expect(s).toMatchObject({ phase: 'SUCCEEDED', rawState: 'success', exitCode: 0 });

    const { text, calls } = await allLogs(a, h);
    expect(calls).toBeGreaterThanOrEqual(3); // 250 stdout lines + Livy's markers, 100 per page
    const printed = text.split('\n').filter((l) => l.startsWith('line-'));
    expect(printed).toEqual(Array.from({ length: 250 }, (_, i) => `line-${String(i).padStart(3, '0')}`));
    expect(text.startsWith('stdout: \n')).toBe(true);
    expect(fake.journal.filter((e) => e.path === '/batches/0/log').map((e) => e.query.from)).toEqual(expect.arrayContaining(['0', '100', '200']));

    const first = await a.logs(h);
    expect(first).toMatchObject({ available: true, truncated: false, nextCursor: '100' });
    const tail = await a.logs(h, { tailLines: 3 });
    expect(tail.truncated).toBe(true);
    expect(tail.text).toBe('line-249\n\nstderr: \n\nYARN Diagnostics: \n');
    expect(tail.nextCursor).toBe(String(fake.batch(0)?.logLines.length));
    // nothing new after the end
    const after = await a.logs(h, { cursor: tail.nextCursor ?? '' });
    expect(after.text).toBe('');
    expect(after.nextCursor).toBe(tail.nextCursor);
  });

  it('a failing task is FAILED with the log tail (the traceback) and the exit status YARN reports', async () => {
    const a = adapter();
    const h = await a.submit(spec('print("about to fail")\nraise ValueError("bad input 42")'), ref());
    const s = await finish(a, h);
    expect(s.phase).toBe('FAILED');
    expect(s.rawState).toBe('dead');
    expect(s.reason).toBe('Dead');
    expect(s.exitCode).toBe(1);
    expect(s.message).toContain('ValueError: bad input 42');
    expect(s.message).toContain('User application exited with status 1');
    expect(s.message).not.toMatch(/^stdout: $/m);
    const tail = await a.logs(h, { tailLines: 10 });
    expect(tail.text).toContain('Traceback (most recent call last):');
  });

  it('exit 3 is FAILED with exitCode 3; a batch killed by someone else is FAILED (Killed), not CANCELLED', async () => {
    const a = adapter();
    const h = await a.submit(spec('import sys\nsys.exit(3)'), ref());
    expect(await finish(a, h)).toMatchObject({ phase: 'FAILED', exitCode: 3 });
    const k = await a.submit(spec('import time\ntime.sleep(60)'), ref());
    await until('RUNNING', () => a.status(k), (s) => s.phase === 'RUNNING');
    expect(fake.kill(Number(k.backendId))).toBe(true);
    expect(await finish(a, k)).toMatchObject({ phase: 'FAILED', rawState: 'killed', reason: 'Killed' });
  });

  it('a slow start is PENDING (starting) until the driver runs', async () => {
    fake.startDelayMs = 800;
    const a = adapter();
    const h = await a.submit(spec('print("late")'), ref());
    const s = await a.status(h);
    expect(s).toMatchObject({ phase: 'PENDING', rawState: 'starting' });
    expect(fake.processes()).toHaveLength(0);
    expect((await finish(a, h)).phase).toBe('SUCCEEDED');
    expect(fake.processes()).toHaveLength(1);
  });

  it('spec.env, LARKFLOW_SESSION=spark and the app name reach the driver; the conf carries them for driver and executors', async () => {
    const a = adapter();
    const r = ref();
    const py = 'import os\nfor k in ("GREETING", "LARKFLOW_SESSION", "LARKFLOW_SPARK_APP_NAME", "SECRET_ISH"): print("%s=%s" % (k, os.environ.get(k)))';
    const h = await a.submit(spec(py, { env: { SECRET_ISH: 'v=1,2' } }), r);
    expect((await finish(a, h)).phase).toBe('SUCCEEDED');
    const name = submissionIdOf(r, 'demo-task');
    const { text } = await allLogs(a, h);
    expect(text).toContain('GREETING=hello\n');
    expect(text).toContain('LARKFLOW_SESSION=spark\n');
    expect(text).toContain(`LARKFLOW_SPARK_APP_NAME=${name}\n`);
    expect(text).toContain('SECRET_ISH=v=1,2\n');
    const req = fake.batch(Number(h.backendId))?.request as { file: string; name: string; args: string[]; conf: Record<string, string> };
    expect(req.file).toBe(JOB_URI);
    expect(req.name).toBe(name);
    expect(req.args).toEqual([]);
    for (const p of ['spark.yarn.appMasterEnv.', 'spark.kubernetes.driverEnv.', 'spark.executorEnv.']) {
      expect(req.conf[`${p}GREETING`]).toBe('hello');
      expect(req.conf[`${p}LARKFLOW_SESSION`]).toBe('spark');
    }
    expect(req.conf['spark.app.name']).toBe(name);
    expect(req.conf['spark.yarn.tags']?.split(',')).toEqual(expect.arrayContaining(['larkflow', `larkflow-submission-${name}`, 'larkflow-attempt-1']));
  });
});

describe('Livy adapter: sizes and the request', () => {
  it('converts SparkTask sizes to Spark sizes, and the batch runs (the fake checks Spark size syntax as spark-submit does)', async () => {
    const a = adapter({ proxyUser: 'wf', queue: 'etl' });
    const h = await a.submit(
      spec('print("sized")', {
        resources: {
          spark: { driverMemory: '4Gi', driverCpu: '1500m', executorMemory: '1.5Gi', executorCpu: '2', executorInstances: 3, executorGpu: 1, conf: { 'spark.sql.shuffle.partitions': '64', 'spark.yarn.tags': 'team-a' } },
        },
      }),
      ref(),
    );
    expect((await finish(a, h)).phase).toBe('SUCCEEDED');
    const b = fake.batch(Number(h.backendId));
    expect(b?.proxyUser).toBe('wf');
    expect(b?.request).toMatchObject({ driverMemory: '4g', driverCores: 2, executorMemory: '1536m', executorCores: 2, numExecutors: 3, queue: 'etl', proxyUser: 'wf' });
    const conf = (b?.request as { conf: Record<string, string> }).conf;
    expect(conf['spark.executor.resource.gpu.amount']).toBe('1');
    expect(conf['spark.driver.resource.gpu.amount']).toBeUndefined();
    expect(conf['spark.sql.shuffle.partitions']).toBe('64');
    expect(conf['spark.yarn.tags']?.split(',')[0]).toBe('team-a');
  });

  it('a task without SparkTask sizes sizes its driver from cpu/memory/gpu', () => {
    const body = buildBatchRequest(spec('', { resources: { cpu: '500m', memory: '512Mi', gpu: 2 } }), ref());
    expect(body).toMatchObject({ driverCores: 1, driverMemory: '512m', file: DEFAULT_RUNNER_FILE, args: [] });
    expect(body.conf['spark.driver.resource.gpu.amount']).toBe('2');
    expect(body.pyFiles).toBeUndefined();
    const remote = buildBatchRequest(spec(''), ref(), { runnerFile: 's3a://b/larkflow_entry.py', pyFiles: ['s3a://b/larkflow_runner.zip'], proxyUser: 'wf' });
    expect(remote).toMatchObject({ file: 's3a://b/larkflow_entry.py', pyFiles: ['s3a://b/larkflow_runner.zip'], proxyUser: 'wf' });
    expect(remote.driverMemory).toBeUndefined();
  });

  it('an invalid size fails as invalid before anything is sent; the Node runner is unsupported', async () => {
    const a = adapter();
    const e = await rejection(a.submit(spec('', { resources: { spark: { executorMemory: '4g' } } }), ref()));
    expect(e.category).toBe('invalid');
    expect(e.message).toMatch(/executor memory.*"4Gi"/);
    expect((await rejection(a.submit(spec('', { resources: { spark: { driverCpu: 'two' } } }), ref()))).category).toBe('invalid');
    expect((await rejection(a.submit(spec('', { resources: { runner: 'node' } }), ref()))).category).toBe('unsupported');
    expect(fake.journal).toHaveLength(0);
  });

  it('the fake fails a batch whose sizes spark-submit would refuse ("4Gi"), so the conversion matters', async () => {
    const res = await fetch(`${fake.url}/batches`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Requested-By': 'test' },
      body: JSON.stringify({ file: JOB_URI, name: 'raw', driverMemory: '4Gi', conf: { 'spark.yarn.appMasterEnv.JOB_PY': 'print(1)' } }),
    });
    expect(res.status).toBe(201);
    const a = adapter();
    const h: ExecutionHandle = { executor: 'livy', submissionId: 'raw', backendId: '0', backendUid: 'raw' };
    const s = await finish(a, h);
    expect(s.phase).toBe('FAILED');
    expect(s.message).toContain('Failed to parse byte string: 4Gi');
  });

  it('a 400 from Livy is invalid and not retried ("File is required.")', async () => {
    const a = adapter({ runnerFile: '' });
    const e = await rejection(a.submit(spec(''), ref()));
    expect(e).toMatchObject({ category: 'invalid', status: 400 });
    expect(e.message).toContain('File is required.');
    expect(requests('POST')).toBe(1);
  });
});

describe('Livy adapter: idempotent submission', () => {
  it('5xx before the create: retried, one batch', async () => {
    const a = adapter();
    const r = ref();
    fake.failNext(2, 503, { method: 'POST' });
    const h = await a.submit(spec('print(1)'), r);
    expect(fake.batchesStarted()).toEqual({ [h.submissionId]: 1 });
    expect(requests('POST', '/batches')).toBe(3);
    expect((await finish(a, h)).phase).toBe('SUCCEEDED');
  });

  it('500 after the create (ambiguous): the adapter lists, finds the batch and adopts it: one POST, one batch', async () => {
    const a = adapter();
    fake.failAfterCreate(1);
    const h = await a.submit(spec('print(1)'), ref());
    expect(h.backendId).toBe('0');
    expect(requests('POST', '/batches')).toBe(1);
    expect(fake.batchesStarted()).toEqual({ [h.submissionId]: 1 });
    expect(fake.journal.filter((e) => e.method === 'GET' && e.path === '/batches')).not.toHaveLength(0);
    expect((await finish(a, h)).phase).toBe('SUCCEEDED');
    expect(fake.processes()).toHaveLength(1);
  });

  it('a POST that hangs past the call timeout: the retry finds no batch yet, posts again, and the late original gets "duplicate": one batch', async () => {
    const a = adapter({ callTimeoutMs: 300 });
    fake.delayNext(800, { method: 'POST' });
    const h = await a.submit(spec('import time\ntime.sleep(1)'), ref());
    // wait for the late original to be handled
    const posts = await until('both POSTs answered', () => fake.journal.filter((e) => e.method === 'POST'), (p) => p.length === 2);
    expect(fake.batchesStarted()).toEqual({ [h.submissionId]: 1 });
    expect(posts.map((p) => p.status).sort()).toEqual([201, 400]);
    expect((await finish(a, h)).phase).toBe('SUCCEEDED');
  });

  it('a duplicate name (another engine submitted this attempt) adopts the existing batch', async () => {
    const r = ref();
    const first = await adapter().submit(spec('import time\ntime.sleep(0.5)'), r);
    const other = adapter(); // a fresh instance, as after an engine restart
    const again = await other.submit(spec('import time\ntime.sleep(0.5)'), r);
    expect(again).toEqual(first);
    const dup = fake.journal.find((e) => e.method === 'POST' && e.status === 400);
    expect(dup).toBeDefined();
    expect(fake.batchesStarted()).toEqual({ [first.submissionId]: 1 });
    expect(await other.lookup(r, { task: 'demo-task' })).toEqual(first);
  });

  it('"too many sessions are being created" is transient and retried', async () => {
    const a = adapter();
    fake.failNext(1, 429, { method: 'POST' });
    const h = await a.submit(spec('print(1)'), ref());
    expect(fake.batchesStarted()[h.submissionId]).toBe(1);
  });

  it('lookup pages through GET /batches; without a task hint it matches the attempt hash', async () => {
    const a = adapter({ listPageSize: 2 });
    const refs = Array.from({ length: 5 }, () => ref());
    const hs = [];
    for (const r of refs) hs.push(await a.submit(spec('print(1)'), r));
    fake.journal.length = 0;
    expect(await a.lookup(refs[4] as AttemptRef, { task: 'demo-task' })).toEqual(hs[4]);
    expect(fake.journal.filter((e) => e.path === '/batches').map((e) => e.query.from)).toEqual(['0', '2', '4']);
    expect(await a.lookup(refs[3] as AttemptRef)).toEqual(hs[3]);
    expect(await a.lookup({ ...(refs[3] as AttemptRef), attempt: 2 })).toBeNull();
    expect(await a.lookup(ref(), { task: 'demo-task' })).toBeNull();
  });
});

describe('Livy adapter: disappearing batches', () => {
  it('after a Livy restart, an id that now names another batch is LOST — never that batch\'s status, log or deletion', async () => {
    const a = adapter();
    const mine = await a.submit(spec('import time\ntime.sleep(30)'), ref());
    await until('RUNNING', () => a.status(mine), (s) => s.phase === 'RUNNING');
    fake.restart();
    const theirs = await a.submit(spec('print("their output")\nimport time\ntime.sleep(30)'), ref());
    expect(theirs.backendId).toBe(mine.backendId); // id 0 again
    await until('RUNNING', () => a.status(theirs), (s) => s.phase === 'RUNNING');
    const s = await a.status(mine);
    expect(s.phase).toBe('LOST');
    expect(s.reason).toBe('IdReused');
    expect((await a.logs(mine)).text).toBe('');
    expect(await a.cancel(mine)).toBe('not-found');
    await a.cleanup(mine);
    expect(requests('DELETE')).toBe(0);
    expect((await a.status(theirs)).phase).toBe('RUNNING');
  });

  it('a finished batch garbage-collected by Livy is LOST (after having been SUCCEEDED)', async () => {
    await startFake({ gcAfterMs: 150 });
    const a = adapter();
    const h = await a.submit(spec('print(1)'), ref());
    expect((await finish(a, h)).phase).toBe('SUCCEEDED');
    const s = await until('LOST', () => a.status(h), (x) => x.phase === 'LOST', 3000);
    expect(s).toMatchObject({ rawState: 'not_found', reason: 'NotFound' });
  });

  it('a running batch Livy forgot is LOST, and its process is gone', async () => {
    const a = adapter();
    const h = await a.submit(spec('import time\ntime.sleep(30)'), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    fake.forget(Number(h.backendId));
    expect((await a.status(h)).phase).toBe('LOST');
    await until('process gone', () => fake.processes()[0]?.exited, (x) => x === true);
  });
});

describe('Livy adapter: cancel and cleanup', () => {
  it('cancel deletes the batch: CANCELLED (the 404 afterwards too, not LOST); idempotent; one DELETE', async () => {
    const a = adapter();
    const h = await a.submit(spec('import time\ntime.sleep(30)'), ref());
    await until('RUNNING', () => a.status(h), (s) => s.phase === 'RUNNING');
    expect(await a.cancel(h)).toBe('requested');
    expect(await a.status(h)).toMatchObject({ phase: 'CANCELLED', reason: 'Cancelled' });
    expect(await a.cancel(h)).toBe('already-terminal');
    expect((await a.status(h)).phase).toBe('CANCELLED');
    expect(requests('DELETE', `/batches/${h.backendId}`)).toBe(1);
    await until('process gone', () => fake.processes()[0]?.exited, (x) => x === true);
    // The intent is in memory only: another instance sees a batch that vanished.
    expect((await adapter().status(h)).phase).toBe('LOST');
    expect(await adapter().cancel(h)).toBe('not-found');
  });

  it('cancel of a starting batch works too', async () => {
    fake.startDelayMs = 1000;
    const a = adapter();
    const h = await a.submit(spec('print(1)'), ref());
    expect(await a.cancel(h)).toBe('requested');
    expect((await a.status(h)).phase).toBe('CANCELLED');
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.processes()).toHaveLength(0);
  });

  it('cancel of a finished batch is already-terminal, deletes nothing, and the phase stays', async () => {
    const a = adapter();
    const h = await a.submit(spec('print(1)'), ref());
    expect((await finish(a, h)).phase).toBe('SUCCEEDED');
    expect(await a.cancel(h)).toBe('already-terminal');
    expect(requests('DELETE')).toBe(0);
    expect((await a.status(h)).phase).toBe('SUCCEEDED');
    expect(await a.cancel({ ...h, backendId: '99' })).toBe('not-found');
  });

  it('cleanup deletes a finished batch (once; a 404 is fine) and leaves a running one alone', async () => {
    const a = adapter();
    const done = await a.submit(spec('print(1)'), ref());
    const running = await a.submit(spec('import time\ntime.sleep(30)'), ref());
    await finish(a, done);
    await a.cleanup(done);
    await a.cleanup(done);
    expect(requests('DELETE', `/batches/${done.backendId}`)).toBe(1);
    expect(fake.batch(Number(done.backendId))).toBeUndefined();
    await a.cleanup(running);
    expect(fake.batch(Number(running.backendId))?.state).toMatch(/starting|running/);
  });

  it('every non-GET request carries X-Requested-By (Livy CSRF protection), and the fake refuses one without it', async () => {
    const a = adapter();
    const h = await a.submit(spec('import time\ntime.sleep(30)'), ref());
    await a.cancel(h);
    const done = await a.submit(spec('print(1)'), ref());
    await finish(a, done);
    await a.cleanup(done);
    const nonGet = fake.journal.filter((e) => e.method !== 'GET');
    expect(nonGet.map((e) => e.method).sort()).toEqual(['DELETE', 'DELETE', 'POST', 'POST']);
    for (const e of nonGet) expect(e.requestedBy).toBe('larkflow');
    expect(fake.journal.every((e) => e.status !== 400)).toBe(true);
    const bare = await fetch(`${fake.url}/batches`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ file: JOB_URI }) });
    expect(bare.status).toBe(400);
    expect(await bare.json()).toEqual({ msg: 'Missing Required Header for CSRF protection.' });
  });
});

describe('Livy adapter: transport faults and auth', () => {
  it('connection refused: bounded retries, then a transient AdapterError (not FAILED); fine again after the server is back', async () => {
    const a = adapter({ retries: { attempts: 3, baseMs: 20, maxMs: 40 } });
    const h = await a.submit(spec('import time\ntime.sleep(1)'), ref());
    await fake.stopListening();
    const t0 = Date.now();
    const e = await rejection(a.status(h));
    expect(e.category).toBe('transient');
    expect(e.message).toMatch(/after 3 tries/);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await rejection(a.submit(spec('print(1)'), ref()))).category).toBe('transient');
    await fake.resume();
    expect((await finish(a, h)).phase).toBe('SUCCEEDED');
  });

  it('a hung server: each call times out and is retried', async () => {
    const a = adapter({ callTimeoutMs: 200 });
    const h = await a.submit(spec('print(1)'), ref());
    fake.delayNext(2000, { method: 'GET', n: 2 });
    const t0 = Date.now();
    const s = await a.status(h);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(s.phase).not.toBe('LOST');
    fake.delayNext(2000, { method: 'GET', n: 10 });
    const e = await rejection(a.status(h));
    expect(e.category).toBe('transient');
    expect(e.message).toMatch(/timed out after 200 ms.*after 4 tries/);
  });

  it('401 is auth, not retried; with the credentials in headers it works and the owner is that user', async () => {
    await startFake({ basicAuth: { user: 'alice', password: 's3cret' } });
    const anon = adapter();
    const e = await rejection(anon.submit(spec('print(1)'), ref()));
    expect(e).toMatchObject({ category: 'auth', status: 401 });
    expect(fake.journal).toHaveLength(1);
    const a = adapter({ headers: { Authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` } });
    const h = await a.submit(spec('print(1)'), ref());
    expect(fake.batch(Number(h.backendId))?.owner).toBe('alice');
    fake.failNext(1, 403);
    expect((await rejection(a.status(h))).category).toBe('auth');
  });

  it('a 404 on a path is not-found; the adapter closes cleanly', async () => {
    const a = adapter();
    const h = await a.submit(spec('import time\ntime.sleep(30)'), ref());
    a.close();
    expect((await rejection(a.status(h))).category).toBe('invalid');
    const b = adapter();
    expect((await rejection(b.status({ executor: 'k8s', submissionId: 'x', backendId: 'ns/x' }))).category).toBe('invalid');
  });
});

describe('Livy adapter: end to end with the real Python runner', () => {
  it('runs larkflow_entry.py as the batch file: input and result through file:// URLs, the session set up as spark', async () => {
    const image = join(tmp, 'image');
    mkdirSync(image, { recursive: true });
    writeFileSync(
      join(image, 'sparktasks.py'),
      [
        'import os',
        'def add(a, b, scale=1):',
        '    print("adding", a, b)',
        '    return {"sum": (a + b) * scale, "big": 2 ** 80, "session": os.environ.get("LARKFLOW_SESSION"), "app": os.environ.get("LARKFLOW_SPARK_APP_NAME")}',
        'def boom(x):',
        '    raise ValueError("bad input %s" % x)',
        '',
      ].join('\n'),
    );
    // The "cluster": the image's code on PYTHONPATH, the runner at the default runnerFile path.
    await startFake({ files: { [DEFAULT_RUNNER_FILE]: ENTRY }, env: { PYTHONPATH: image, PYTHONDONTWRITEBYTECODE: '1' }, cwd: image });
    const a = adapter({ runnerFile: undefined });
    expect(a.runnerFile).toBe(DEFAULT_RUNNER_FILE);

    const attemptOf = async (task: string, args: unknown[], kwargs: Record<string, unknown>) => {
      const r = ref();
      const dir = join(tmp, `attempt-${seq}`);
      mkdirSync(dir, { recursive: true });
      const input: TaskInputDoc = { version: 1, task, args, kwargs, runId: r.runId, stepId: r.stepId, attempt: r.attempt };
      writeFileSync(join(dir, 'input.json'), JSON.stringify(input));
      const env = { LARKFLOW_INPUT_URL: pathToFileURL(join(dir, 'input.json')).href, LARKFLOW_RESULT_URL: pathToFileURL(join(dir, 'result.json')).href };
      const h = await a.submit({ task: 'spark-add', command: ['python3', '-m', 'larkflow_runner'], env, resources: { spark: { driverMemory: '1Gi', executorInstances: 1 } } }, r);
      const s = await finish(a, h, 15_000);
      const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8').replace(/"big":\s*(\d+)/, '"big":"$1"')) as TaskResultDoc;
      return { r, h, s, result };
    };

    const ok = await attemptOf('sparktasks:add', [2, 3], { scale: 10 });
    expect(ok.s.phase).toBe('SUCCEEDED');
    expect(ok.result).toEqual({
      version: 1,
      runId: ok.r.runId,
      stepId: ok.r.stepId,
      attempt: 1,
      ok: true,
      value: { sum: 50, big: String(2n ** 80n), session: 'spark', app: ok.h.submissionId },
    });
    const { text } = await allLogs(a, ok.h);
    expect(text).toContain('adding 2 3');
    expect(text).toContain('pyspark is not importable here'); // LARKFLOW_SESSION=spark reached the runner

    const bad = await attemptOf('sparktasks:boom', [7], {});
    expect(bad.s).toMatchObject({ phase: 'FAILED', exitCode: 1 });
    expect(bad.s.message).toContain('ValueError: bad input 7');
    expect(bad.result).toMatchObject({ ok: false, error: { kind: 'task', message: 'ValueError: bad input 7', retryable: true } });
  }, 30_000);
});
