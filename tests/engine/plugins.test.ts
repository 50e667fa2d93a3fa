/**
 * The Uniflow-compatible `@plugin` modules and the workflow test runner: every
 * tests/testdata/workflows/*_test.star passes through `runWorkflowTests` (with an echo HTTP server
 * for `request`), failures are reported with `assert: ...`, Expected/Actual and a traceback, atexit
 * cleanups run on success, failure and cancel, and every module's recorded values are the same
 * after a crash and a recovery as in an uninterrupted run.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine, MemoryEventStore, VirtualClock, type HistoryEvent } from '../../src/engine/index.js';
import { blake2bHex, registerPluginTasks, utcFormatSeconds } from '../../src/engine/workflow/plugins.js';
import { workflowPredeclared } from '../../src/engine/workflow/surface.js';
import { driveVirtual, findTests, runOneTest, runWorkflowTests, trackAttempts } from '../../src/testing/workflow-tests.js';
import { parseEnvPairs, runWorkflowTestsCommand } from '../../src/cli/commands/test-workflows.js';

const DIR = join(import.meta.dirname, '..', 'testdata', 'workflows');

let server: Server;
let base = '';
let hits = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    hits++;
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url === '/echo') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, body, headers: req.headers }));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":"not found"}');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

/** Predeclared dataclass/callable_object are merged into workflowPredeclared by the lead. */
expect(workflowPredeclared({ current: null }).has('dataclass')).toBe(true);

function tmpFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'larkflow-wt-'));
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

async function runSource(text: string, test: string, env: Record<string, string> = {}) {
  const r = await runOneTest({ main: 'x_test.star', text, files: {} }, { name: test, isWorkflow: false }, { env });
  await r.engine.close();
  return r;
}

describe('workflow test files', () => {
  it('pass: every *_test.star under tests/testdata/workflows', async () => {
    const files = readdirSync(DIR)
      .filter((f) => f.endsWith('_test.star'))
      .map((f) => join(DIR, f));
    expect(files.length).toBeGreaterThanOrEqual(8);
    const lines: string[] = [];
    const before = hits;
    const r = await runWorkflowTests(files, {
      env: { LARKFLOW_TEST_ENV: 'yes', STARLARK_TIME: 'unix:1700000000', REQUEST_TEST_URL: base },
      out: (s) => lines.push(s),
    });
    expect(r.failed, r.report).toBe(0);
    expect(r.passed).toBeGreaterThanOrEqual(40);
    expect(lines.at(-1)).toBe(`${r.passed} passed, 0 failed`);
    const byName = new Map(r.results.map((x) => [x.test, x]));
    // Run time is exact on the virtual clock.
    expect(byName.get('test_five_concurrent_five_second_sleeps_take_five_seconds')!.runTimeMs).toBe(5_000);
    expect(byName.get('test_batch_run_max_concurrency_2_takes_20_seconds_in_order')!.runTimeMs).toBe(20_000);
    // STARLARK_TIME: 1700000000 is 2023-11-14 22:13:20 UTC; the test sleeps 90 s.
    expect(byName.get('test_starlark_time_shifts_the_clock')!.result).toBe('2023-11-14 22:14:50');
    // request.do really went out (twice).
    expect(byName.get('test_request_do')!.result).toBe(200);
    expect(hits - before).toBe(2);
  });

  it('dataclass and callable_object are predeclared', async () => {
    const r = await runWorkflowTests([join(DIR, 'dataclass_test.star')], { out: () => {} });
    expect(r.failed, r.report).toBe(0);
  });

  it('reports a failing test with assert:, Expected/Actual and a traceback', async () => {
    const file = tmpFile(
      'fail_test.star',
      [
        'load("@plugin", "time", t = "test")',
        '',
        'def check(xs):',
        '    t.equal([1, 2], xs, "lists differ")',
        '',
        'def test_fails():',
        '    time.sleep(5)',
        '    check([1, 3])',
        '',
        'def test_passes():',
        '    t.true(True)',
        '',
      ].join('\n'),
    );
    const out: string[] = [];
    const r = await runWorkflowTests([file], { out: (s) => out.push(s) });
    expect(r.passed).toBe(1);
    expect(r.failed).toBe(1);
    const text = out.join('\n');
    expect(text).toContain(`FAIL ${file}::test_fails`);
    expect(text).toContain('Traceback (most recent call last):');
    expect(text).toContain('fail_test.star:8:10: in test_fails');
    expect(text).toContain('fail_test.star:4:12: in check');
    expect(text).toContain('assert: lists differ\n    Expected : [1, 2]\n    Actual   : [1, 3]');
    expect(out.at(-1)).toBe('1 passed, 1 failed');
    expect(await runWorkflowTestsCommand([file], {}, () => {})).toBe(1);
    expect(await runWorkflowTestsCommand([file], { filter: 'passes' }, () => {})).toBe(0);
  });

  it('reports files that cannot be read or parsed', async () => {
    const bad = tmpFile('bad_test.star', 'def test_x(:\n    pass\n');
    const r = await runWorkflowTests([bad, join(DIR, 'no_such_test.star')], { out: () => {} });
    expect(r.failed).toBe(2);
    expect(r.results[0]!.test).toBe('<file>');
    expect(r.results[1]!.error).toMatch(/no such file/);
  });

  it('finds top-level test_ functions in source order', () => {
    expect(findTests('a.star', 'def test_b():\n  pass\ndef helper():\n  pass\n@workflow()\ndef test_a():\n  pass\n')).toEqual([
      { name: 'test_b', isWorkflow: false },
      { name: 'test_a', isWorkflow: true },
    ]);
  });

  it('parses --env pairs', () => {
    expect(parseEnvPairs(['A=1', 'B=x=y', 'C='])).toEqual({ A: '1', B: 'x=y', C: '' });
    expect(() => parseEnvPairs(['nope'])).toThrow(/KEY=VALUE/);
  });

  it('gives up on a test that waits forever', async () => {
    // A coroutine that awaits itself, and the test awaits it: no timer, no task, ever.
    const r = await runSource('load("@plugin", "concurrent")\ndef test_x():\n    fs = []\n    fs.append(concurrent.run(lambda: fs[0].result()))\n    return fs[0].result()\n', 'test_x');
    expect(r.result.error!.message).toMatch(/waits for something that never happens/);
    expect(r.result.status).toBe('failed');
  });
});

describe('test module failures', () => {
  const cases: [string, RegExp][] = [
    ['t.equal(1, 2)', /^assert\nExpected : 1\nActual   : 2$/],
    ['t.equal("a", "b", "strings")', /^assert: strings\nExpected : "a"\nActual   : "b"$/],
    ['t.not_equal([1], [1], message = "same")', /^assert: same\nExpected : \[1\]\nActual   : \[1\]$/],
    ['t.true(0, "zero")', /^assert: zero$/],
    ['t.false([1])', /^assert$/],
  ];
  for (const [call, want] of cases) {
    it(call, async () => {
      const r = await runSource(`load("@plugin", t = "test")\ndef test_x():\n    ${call}\n`, 'test_x');
      expect(r.result.status).toBe('failed');
      expect(r.result.error!.message).toMatch(want);
      expect(r.result.error!.details).toContain('x_test.star:3:');
    });
  }
});

describe('plugin errors', () => {
  it('a malformed STARLARK_TIME fails the run', async () => {
    const r = await runSource('load("@plugin", "time")\ndef test_x():\n    return time.time()\n', 'test_x', { STARLARK_TIME: '2024-01-01' });
    expect(r.result.error!.message).toMatch(/STARLARK_TIME: invalid value "2024-01-01": want unix:<seconds>/);
  });

  it('execute_workflow runs a plain top-level def as a child workflow (as the Go worker), and names an unknown one', async () => {
    const ok = await runSource('load("@plugin", "workflow")\ndef helper(x):\n    return x * 2\ndef test_x():\n    return workflow.execute_workflow("helper", 21)\n', 'test_x');
    expect(ok.result.error).toBeUndefined();
    expect(ok.result.result).toBe(42);
    const r = await runSource('load("@plugin", "workflow")\nhelper = 3\ndef test_x():\n    workflow.execute_workflow("helper")\n', 'test_x');
    expect(r.result.error!.message).toMatch(/no workflow named helper in this script \(helper is a int, not a function\)/);
    const u = await runSource('load("@plugin", "workflow")\ndef test_x():\n    workflow.execute_workflow("nowhere")\n', 'test_x');
    expect(u.result.error!.message).toMatch(/no workflow named nowhere in this script/);
  });

  it('execute_activity of an unregistered task fails with what to do', async () => {
    const r = await runSource('load("@plugin", "workflow")\ndef test_x():\n    workflow.execute_activity("nope", 1)\n', 'test_x');
    expect(r.result.error!.message).toMatch(/task nope has no implementation/);
  });

  it('utc_format_seconds refuses unknown directives', async () => {
    const r = await runSource('load("@plugin", "time")\ndef test_x():\n    time.utc_format_seconds("%Q", 0)\n', 'test_x');
    expect(r.result.error!.message).toMatch(/unsupported date format: %Q/);
    expect(utcFormatSeconds('%Y-%m-%dT%H:%M:%S %y', 0)).toBe('1970-01-01T00:00:00 70');
    expect(() => utcFormatSeconds('100%%', 0)).toThrow(/unsupported/);
  });

  it('blake2b matches known digests', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(blake2bHex(enc('abc'), 16)).toBe('cf4ab791c62b8d2b2109c90275287816');
    expect(blake2bHex(enc('x'.repeat(300)), 64)).toHaveLength(128);
  });
});

// -----------------------------------------------------------------------------------------------
// atexit on success, failure and cancel

const CLEANUP = `
load("@plugin", "atexit", "progress", "time")

@task()
def teardown(name):
    return "deleted " + name

def cleanup(name):
    progress.report(teardown(name))

@workflow()
def main(mode):
    atexit.register(progress.report, "registered first, runs last")
    atexit.register(cleanup, "cluster-1")
    progress.report("up")
    if mode == "fail":
        fail("boom")
    time.sleep(3600)
    return "done"
`;

async function cleanupRun(mode: 'ok' | 'fail' | 'cancel') {
  const clock = new VirtualClock();
  const engine = Engine.open({ db: ':memory:', clock });
  const tracker = trackAttempts(engine);
  const h = engine.start({ source: { name: 'c.star', text: CLEANUP }, args: [mode] });
  if (mode === 'cancel') {
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    engine.cancel(h.runId, 'stop');
  }
  await driveVirtual(clock, h.result, tracker);
  const r = await h.result;
  const state = engine.state(h.runId);
  await engine.close();
  return { r, progress: state.progress };
}

describe('atexit', () => {
  it('runs cleanups last-first after success', async () => {
    const { r, progress } = await cleanupRun('ok');
    expect(r.status).toBe('completed');
    expect(progress).toEqual(['up', 'deleted cluster-1', 'registered first, runs last']);
  });
  it('runs cleanups after a failure', async () => {
    const { r, progress } = await cleanupRun('fail');
    expect(r.status).toBe('failed');
    expect(r.error!.message).toMatch(/boom/);
    expect(progress).toEqual(['up', 'deleted cluster-1', 'registered first, runs last']);
  });
  it('runs cleanups after a cancel, tasks included', async () => {
    const { r, progress } = await cleanupRun('cancel');
    expect(r.status).toBe('cancelled');
    expect(progress).toEqual(['up', 'deleted cluster-1', 'registered first, runs last']);
  });
});

// -----------------------------------------------------------------------------------------------
// Every module's recorded values, after a crash

const EVERYTHING = `
load("@plugin", "time", "random", "uuid", "json", "hashlib", "os", "progress", "request", "workflow", "concurrent", "atexit")

record = task("record")

@task()
def shout(s):
    return s.upper()

def values(url):
    return {
        "time": time.time(),
        "ns": time.time_ns(),
        "rand": random.random(),
        "int": random.randint(1, 1000000),
        "uuid": str(uuid.uuid4()),
        "hex": uuid.uuid4().hex,
        "json": json.dumps({"b": 1, "a": [1.5]}),
        "hash": hashlib.blake2b_hex("x", digest_size = 8),
        "env": os.environ["MODE"],
        "run": workflow.execution_id,
        "act": workflow.execute_activity("shout", "hi"),
        "batch": concurrent.batch_run([concurrent.new_callable(random.randint, 1, 100) for _ in range(3)], max_concurrency = 2).get(),
        "http": request.do("POST", url + "/echo", body = "x").json()["method"],
        "date": time.utc_format_seconds("%Y-%m-%d %H:%M:%S", time.time()),
    }

@workflow()
def main(url):
    atexit.register(progress.report, "cleanup")
    a = values(url)
    record(a)
    time.sleep(100)
    random.seed(7)
    b = values(url)
    record(b)
    return {"a": a, "b": b}
`;

async function everythingRun(store: MemoryEventStore, clock: VirtualClock, crash: boolean) {
  const engine = Engine.open({ db: store, clock });
  registerPluginTasks(engine);
  const recorded: unknown[] = [];
  engine.registerTask('record', (v: unknown) => {
    recorded.push(v);
    return true;
  });
  const tracker = trackAttempts(engine);
  const h = engine.start({ source: { name: 'e.star', text: EVERYTHING }, args: [base], env: { MODE: 'prod', STARLARK_TIME: 'unix:1600000000' }, runId: 'run-e', seed: 'seed-e' });
  if (!crash) {
    await driveVirtual(clock, h.result, tracker);
    return { engine, result: await h.result, recorded };
  }
  // Run until the workflow sleeps, then "crash": abandon this engine and recover on a new one.
  const started = Date.now();
  while (!engine.history('run-e').some((e) => e.kind === 'TimerStarted' && e.stepId.startsWith('sleep#') && e.durationMs === 100_000)) {
    if (Date.now() - started > 10_000) throw new Error('the run never reached its sleep');
    await new Promise((r) => setTimeout(r, 2));
  }
  engine.abandon();
  const clock2 = new VirtualClock(clock.now());
  const engine2 = Engine.open({ db: store, clock: clock2 });
  registerPluginTasks(engine2);
  engine2.registerTask('record', (v: unknown) => {
    recorded.push(v);
    return true;
  });
  const tracker2 = trackAttempts(engine2);
  expect(engine2.recover()).toEqual(['run-e']);
  const result = engine2.result('run-e');
  await driveVirtual(clock2, result, tracker2);
  return { engine: engine2, result: await result, recorded };
}

describe('recorded values after a crash', () => {
  it('are the same as in an uninterrupted run, and replay exactly', async () => {
    const live = await everythingRun(new MemoryEventStore(), new VirtualClock(), false);
    expect(live.result.status, JSON.stringify(live.result.error)).toBe('completed');
    const a = (live.result.result as { a: Record<string, unknown> }).a;
    expect(a).toMatchObject({ time: 1600000000, env: 'prod', run: 'run-e', act: 'HI', http: 'POST', date: '2020-09-13 12:26:40' });
    expect(live.recorded).toHaveLength(2);
    expect(live.engine.replay('run-e')).toMatchObject({ ok: true });

    const crashed = await everythingRun(new MemoryEventStore(), new VirtualClock(), true);
    expect(crashed.result).toEqual(live.result);
    expect(crashed.recorded).toEqual(live.recorded);
    expect(crashed.engine.replay('run-e')).toMatchObject({ ok: true });
    const kinds = (h: HistoryEvent[]) => h.map((e) => `${e.kind}:${'stepId' in e ? e.stepId : ''}`);
    expect(kinds(crashed.engine.history('run-e'))).toEqual(kinds(live.engine.history('run-e')));
    expect(crashed.engine.state('run-e').progress).toEqual(['cleanup']);
    await live.engine.close();
    await crashed.engine.close();
  });
});
