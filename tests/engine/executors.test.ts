/**
 * Executors: one contract suite that every Executor must pass (run against the real adapters, no
 * mocks), then what is specific to the in-process and the process executor.
 */
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Json } from '../../src/engine/core/json.js';
import type { Executor, TaskOutcome, TaskRequest } from '../../src/engine/core/ports.js';
import {
  FunctionExecutor,
  ProcessExecutor,
  Semaphore,
  TaskFailure,
  attemptDirOf,
  toJson,
  type TaskContext,
} from '../../src/engine/executors/index.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'larkflow-executors-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

let seq = 0;
function request(task: string, over: Partial<TaskRequest> = {}): TaskRequest {
  const stepId = `${task}#${++seq}`;
  return {
    runId: 'run-1',
    stepId,
    attempt: 1,
    idempotencyKey: `run-1/${stepId}/1`,
    task,
    args: [],
    kwargs: {},
    signal: new AbortController().signal,
    ...over,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every file under `dir`, with its text. */
function filesUnder(dir: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push({ path: p, text: readFileSync(p, 'utf8') });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Fixtures: the same behaviours, as JS functions and as a script

/**
 * The behaviours the contract needs:
 * - greet(name): `{greeting: "hello <name>", n: [1, 2]}`
 * - fail(msg): a retryable failure that mentions msg
 * - sleep(ms): waits ms, ignoring its signal
 * - probe(ms): returns how many probes were running at once, as far as it saw
 * - key(): returns the attempt's idempotency key
 * - log(line): writes line to the attempt's log
 */
interface Fixture {
  readonly name: string;
  make(concurrency: number): Executor;
  req(behaviour: string, args: Json[], over?: Partial<TaskRequest>): TaskRequest;
}

const functionFixture: Fixture = {
  name: 'FunctionExecutor',
  make(concurrency) {
    const ex = new FunctionExecutor({ concurrency, logDir: join(root, 'fn-logs') });
    let running = 0;
    ex.register('greet', (name: string) => ({ greeting: `hello ${name}`, n: [1, 2] }));
    ex.register('fail', (msg: string) => {
      throw new Error(msg);
    });
    ex.register('sleep', (ms: number) => sleep(ms).then(() => 'slept'));
    ex.register('probe', async (ms: number) => {
      running++;
      let seen = running;
      await sleep(ms);
      seen = Math.max(seen, running);
      running--;
      return seen;
    });
    ex.registerWithContext('key', (ctx) => ctx.idempotencyKey);
    ex.registerWithContext('log', (ctx, line: string) => {
      ctx.log(line);
      return null;
    });
    return ex;
  },
  req: (behaviour, args, over) => request(behaviour, { args, ...over }),
};

const SCRIPT = `
import { readFileSync, writeFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
const input = JSON.parse(readFileSync(process.env.LARKFLOW_INPUT, 'utf8'));
const out = (v) => writeFileSync(process.env.LARKFLOW_OUTPUT, JSON.stringify(v));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const [a0] = input.args;
switch (process.argv[2]) {
  case 'greet': out({ greeting: 'hello ' + a0, n: [1, 2] }); break;
  case 'fail': console.error('trace line'); console.error(a0); process.exit(3);
  case 'sleep': await sleep(a0); out('slept'); break;
  case 'probe': {
    const dir = process.argv[3];
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, String(process.pid)), '');
    let seen = readdirSync(dir).length;
    await sleep(a0);
    seen = Math.max(seen, readdirSync(dir).length);
    rmSync(join(dir, String(process.pid)));
    out(seen);
    break;
  }
  case 'key':
    if (process.env.LARKFLOW_IDEMPOTENCY_KEY !== input.idempotencyKey) process.exit(1);
    out(input.idempotencyKey); break;
  case 'log': console.log(a0); break;
  case 'echo': out({ input, env: { attempt: process.env.LARKFLOW_ATTEMPT, key: process.env.LARKFLOW_IDEMPOTENCY_KEY, dir: process.env.LARKFLOW_ATTEMPT_DIR, output: process.env.LARKFLOW_OUTPUT }, argv: process.argv.slice(3) }); break;
  case 'stubborn': process.on('SIGTERM', () => {}); console.error('ignoring SIGTERM'); setInterval(() => {}, 1000); break;
  default: console.error('unknown behaviour ' + process.argv[2]); process.exit(2);
}
`;

let scriptPath = '';
function scriptCommand(behaviour: string, ...extra: string[]): string[] {
  if (scriptPath === '') {
    scriptPath = join(root, 'task.mjs');
    writeFileSync(scriptPath, SCRIPT);
  }
  return [process.execPath, scriptPath, behaviour, ...extra];
}

/** Where the probes of the executor made last mark themselves running. */
let probeDir = '';
const processFixture: Fixture = {
  name: 'ProcessExecutor',
  make(concurrency) {
    probeDir = mkdtempSync(join(root, 'probe-'));
    return new ProcessExecutor({ concurrency, workDir: join(root, 'attempts'), killGraceMs: 300 });
  },
  req(behaviour, args, over) {
    const extra = behaviour === 'probe' ? [probeDir] : [];
    return request(behaviour, { args, command: scriptCommand(behaviour, ...extra), ...over });
  },
};

// ---------------------------------------------------------------------------------------------
// The contract

describe.each([functionFixture, processFixture])('Executor contract: $name', (fx) => {
  it('runs a task and reports its JSON value', async () => {
    const ex = fx.make(4);
    const req = fx.req('greet', ['ada']);
    expect(ex.canRun(req.task, req.command)).toBe(true);
    const h = ex.submit(req);
    expect(h.id).toBe(`${req.runId}/${req.stepId}/${req.attempt}`);
    expect(await h.done).toEqual({ ok: true, value: { greeting: 'hello ada', n: [1, 2] } });
  });

  it('reports a failure as a retryable task error', async () => {
    const ex = fx.make(4);
    const outcome = await ex.submit(fx.req('fail', ['disk on fire'])).done;
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.error).toMatchObject({ kind: 'task', retryable: true });
    expect(`${outcome.error.message}\n${outcome.error.details ?? ''}`).toContain('disk on fire');
  });

  it('times out an attempt that ignores its signal', async () => {
    const ex = fx.make(4);
    const t0 = Date.now();
    const outcome = await ex.submit(fx.req('sleep', [5000], { timeoutMs: 150 })).done;
    expect(outcome).toMatchObject({ ok: false, error: { kind: 'timeout', retryable: true } });
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('cancels an attempt when the request signal aborts', async () => {
    const ex = fx.make(4);
    const ac = new AbortController();
    const t0 = Date.now();
    const h = ex.submit(fx.req('sleep', [5000], { signal: ac.signal }));
    setTimeout(() => ac.abort(), 100);
    expect(await h.done).toMatchObject({ ok: false, error: { kind: 'cancelled', retryable: false } });
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('cancels an attempt by handle id', async () => {
    const ex = fx.make(4);
    const h = ex.submit(fx.req('sleep', [5000]));
    setTimeout(() => ex.cancel(h.id), 100);
    expect(await h.done).toMatchObject({ ok: false, error: { kind: 'cancelled', retryable: false } });
  });

  it('cancels a queued attempt without running it', async () => {
    const ex = fx.make(1);
    const first = ex.submit(fx.req('sleep', [300]));
    const ac = new AbortController();
    const queued = ex.submit(fx.req('log', ['must not run'], { signal: ac.signal }));
    ac.abort();
    expect(await queued.done).toMatchObject({ ok: false, error: { kind: 'cancelled' } });
    expect(await first.done).toEqual({ ok: true, value: 'slept' });
    if (queued.logs !== undefined) {
      const logged = (() => {
        try {
          return filesUnder(queued.logs).map((f) => f.text).join('');
        } catch {
          return '';
        }
      })();
      expect(logged).not.toContain('must not run');
    }
  });

  it('honours its concurrency limit', async () => {
    const ex = fx.make(2);
    const handles = Array.from({ length: 6 }, () => ex.submit(fx.req('probe', [150])));
    const outcomes = await Promise.all(handles.map((h) => h.done));
    const seen = outcomes.map((o) => (o.ok ? (o.value as number) : -1));
    expect(Math.max(...seen)).toBe(2);
  });

  it('delivers the idempotency key', async () => {
    const ex = fx.make(4);
    const req = fx.req('key', [], { idempotencyKey: 'custom-key-42' });
    expect(await ex.submit(req).done).toEqual({ ok: true, value: 'custom-key-42' });
  });

  it('keeps the attempt logs where the handle says', async () => {
    const ex = fx.make(4);
    const h = ex.submit(fx.req('log', ['a line for the log']));
    expect(await h.done).toMatchObject({ ok: true });
    expect(h.logs).toBeDefined();
    const files = filesUnder(h.logs!);
    expect(files.some((f) => f.text.includes('a line for the log'))).toBe(true);
  });

  it('returns the same handle for an attempt still in flight', async () => {
    const ex = fx.make(4);
    const req = fx.req('sleep', [50]);
    const a = ex.submit(req);
    expect(ex.submit(req)).toBe(a);
    await a.done;
  });

  it('close() cancels what is in flight', async () => {
    const ex = fx.make(4);
    const h = ex.submit(fx.req('sleep', [5000]));
    await sleep(50);
    await ex.close?.();
    expect(await h.done).toMatchObject({ ok: false, error: { kind: 'cancelled' } });
  });
});

// ---------------------------------------------------------------------------------------------
// FunctionExecutor

describe('FunctionExecutor', () => {
  const run = (ex: FunctionExecutor, task: string, args: Json[] = [], kwargs: { [k: string]: Json } = {}): Promise<TaskOutcome> =>
    ex.submit(request(task, { args, kwargs })).done;

  it('passes kwargs as a final object only when there are some, with `this` undefined', async () => {
    const ex = new FunctionExecutor();
    ex.register('args', function (this: unknown, ...a: Json[]) {
      return { thisIsUndefined: this === undefined, a };
    });
    expect(await run(ex, 'args', [1, 'x'])).toEqual({ ok: true, value: { thisIsUndefined: true, a: [1, 'x'] } });
    expect(await run(ex, 'args', [1], { lr: 0.1 })).toEqual({ ok: true, value: { thisIsUndefined: true, a: [1, { lr: 0.1 }] } });
  });

  it('gives a context task the attempt first, then the same arguments', async () => {
    const ex = new FunctionExecutor();
    const lines: string[] = [];
    const ex2 = new FunctionExecutor({ onLog: (id, m) => lines.push(`${id}: ${m}`) });
    const body = (ctx: TaskContext, ...a: Json[]) => {
      ctx.log('hi');
      const { task, runId, stepId, attempt, idempotencyKey, kwargs } = ctx;
      return { task, runId, stepId, attempt, idempotencyKey, kwargs, aborted: ctx.signal.aborted, a };
    };
    ex.registerWithContext('ctx', body);
    ex2.registerWithContext('ctx', body);
    const req = request('ctx', { args: [7], kwargs: { k: true }, attempt: 3, idempotencyKey: 'ik' });
    expect(await ex.submit(req).done).toEqual({
      ok: true,
      value: { task: 'ctx', runId: 'run-1', stepId: req.stepId, attempt: 3, idempotencyKey: 'ik', kwargs: { k: true }, aborted: false, a: [7, { k: true }] },
    });
    await ex2.submit(req).done;
    expect(lines).toEqual([`run-1/${req.stepId}/3: hi`]);
  });

  it('deep-copies arguments, so a task cannot change the request', async () => {
    const ex = new FunctionExecutor();
    ex.register('mutate', (xs: number[]) => {
      xs.push(99);
      return xs;
    });
    const req = request('mutate', { args: [[1]] });
    expect(await ex.submit(req).done).toEqual({ ok: true, value: [1, 99] });
    expect(req.args).toEqual([[1]]);
  });

  it('aborts the signal it gives the task on timeout', async () => {
    const ex = new FunctionExecutor();
    let reason = '';
    ex.registerWithContext('wait', (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => {
      reason = (ctx.signal.reason as DOMException).name;
      reject(ctx.signal.reason as Error);
    })));
    const outcome = await ex.submit(request('wait', { timeoutMs: 30 })).done;
    expect(outcome).toMatchObject({ ok: false, error: { kind: 'timeout', retryable: true, message: 'task wait timed out after 30 ms' } });
    expect(reason).toBe('TimeoutError');
  });

  it('checks that results are JSON', async () => {
    const ex = new FunctionExecutor();
    const big = 2n ** 64n;
    const shared = { s: 1 };
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    const values: { [name: string]: unknown } = {
      undef: undefined,
      date: new Date(0),
      small: 5n,
      big,
      dag: [shared, shared],
      holes: { a: 1, b: undefined },
      negzero: -0,
      nan: NaN,
      inf: [Infinity],
      fn: { f: () => 1 },
      cycle: cyclic,
      map: new Map(),
      arrayUndef: [undefined],
    };
    for (const [name, v] of Object.entries(values)) ex.register(name, () => v);
    expect(await run(ex, 'undef')).toEqual({ ok: true, value: null });
    expect(await run(ex, 'date')).toEqual({ ok: true, value: '1970-01-01T00:00:00.000Z' });
    expect(await run(ex, 'small')).toEqual({ ok: true, value: 5 });
    expect(await run(ex, 'big')).toEqual({ ok: true, value: { $bigint: '18446744073709551616' } });
    expect(await run(ex, 'dag')).toEqual({ ok: true, value: [{ s: 1 }, { s: 1 }] });
    expect(await run(ex, 'holes')).toEqual({ ok: true, value: { a: 1 } });
    expect(Object.is((await run(ex, 'negzero') as { value: number }).value, 0)).toBe(true);
    const bad: [string, string][] = [
      ['nan', '$ is NaN'],
      ['inf', '$[0] is Infinity'],
      ['fn', '$.f is a function'],
      ['cycle', '$.self is a cycle (the value contains itself)'],
      ['map', '$ is a Map, not a plain object'],
      ['arrayUndef', '$[0] is undefined'],
    ];
    for (const [name, why] of bad) {
      const o = await run(ex, name);
      expect(o).toMatchObject({ ok: false, error: { kind: 'task', retryable: false } });
      if (!o.ok) expect(o.error.message).toBe(`task ${name} returned a value that is not JSON: ${why}`);
    }
    expect(() => toJson(Symbol('s'))).toThrow(TypeError);
  });

  it('maps thrown errors to ErrorInfo', async () => {
    const ex = new FunctionExecutor();
    ex.register('plain', () => {
      throw new Error('boom');
    });
    ex.register('failure', async () => {
      throw new TaskFailure('no such dataset', { kind: 'not_found', retryable: false, details: 'looked in /data' });
    });
    ex.register('default-failure', () => {
      throw new TaskFailure('try again');
    });
    ex.register('flagged', () => {
      throw Object.assign(new Error('bad config'), { nonRetryable: true });
    });
    ex.register('kinded', () => {
      throw Object.assign(new Error('quota'), { kind: 'quota' });
    });
    ex.register('string', () => {
      throw 'just a string';
    });
    const plain = await run(ex, 'plain');
    expect(plain).toMatchObject({ ok: false, error: { kind: 'task', message: 'boom', retryable: true } });
    if (!plain.ok) expect(plain.error.details).toContain('Error: boom');
    expect(await run(ex, 'failure')).toEqual({ ok: false, error: { kind: 'not_found', message: 'no such dataset', retryable: false, details: 'looked in /data' } });
    expect(await run(ex, 'default-failure')).toMatchObject({ ok: false, error: { kind: 'task', message: 'try again', retryable: true } });
    expect(await run(ex, 'flagged')).toMatchObject({ ok: false, error: { kind: 'task', message: 'bad config', retryable: false } });
    expect(await run(ex, 'kinded')).toMatchObject({ ok: false, error: { kind: 'quota', retryable: true } });
    expect(await run(ex, 'string')).toEqual({ ok: false, error: { kind: 'task', message: 'task threw "just a string"', retryable: true } });
  });

  it('digests the implementation: source and version', () => {
    const a = new FunctionExecutor();
    const b = new FunctionExecutor();
    const c = new FunctionExecutor();
    a.register('t', (x: number) => x + 1);
    b.register('t', (x: number) => x + 1);
    c.register('t', (x: number) => x + 2);
    const d = a.implementationDigestOf('t');
    expect(d).toMatch(/^[0-9a-f]{64}$/);
    expect(b.implementationDigestOf('t')).toBe(d);
    expect(c.implementationDigestOf('t')).not.toBe(d);
    a.register('v1', (x: number) => x, { version: '1' });
    a.register('v2', (x: number) => x, { version: '2' });
    expect(a.implementationDigestOf('v1')).not.toBe(a.implementationDigestOf('v2'));
    expect(a.implementationDigestOf('nope')).toBeUndefined();
  });

  it('refuses unknown tasks, commands and duplicate names', async () => {
    const ex = new FunctionExecutor();
    ex.register('t', () => 1);
    expect(ex.canRun('t')).toBe(true);
    expect(ex.canRun('t', [])).toBe(true);
    expect(ex.canRun('t', ['python3', 't.py'])).toBe(false);
    expect(ex.canRun('u')).toBe(false);
    expect(await run(ex, 'u')).toMatchObject({ ok: false, error: { kind: 'executor', retryable: false } });
    expect(() => ex.register('t', () => 2)).toThrow(/already registered/);
    expect(ex.taskNames()).toEqual(['t']);
  });
});

// ---------------------------------------------------------------------------------------------
// ProcessExecutor

describe('ProcessExecutor', () => {
  let workDir = '';
  let ex: ProcessExecutor;
  beforeAll(() => {
    workDir = join(root, 'proc');
    ex = new ProcessExecutor({ workDir, killGraceMs: 200 });
  });
  const node = (code: string): string[] => [process.execPath, '--input-type=module', '-e', code];

  it('passes arguments in input.json and the environment, never on the command line', async () => {
    const req = request('echo', { args: [1, 'two words; rm -rf /', { $bigint: '99999999999999999999' }], kwargs: { lr: 0.5 }, attempt: 2, idempotencyKey: 'ik-2', command: scriptCommand('echo') });
    const h = ex.submit(req);
    const dir = join(workDir, 'run-1', req.stepId, '2');
    expect(h.logs).toBe(dir);
    const outcome = await h.done;
    expect(outcome).toEqual({
      ok: true,
      value: {
        // The script parses input.json with JSON.parse, which rounds the big int it gets as plain digits.
        input: { task: 'echo', args: [1, 'two words; rm -rf /', { $bigint: '100000000000000000000' }], kwargs: { lr: 0.5 }, runId: 'run-1', stepId: req.stepId, attempt: 2, idempotencyKey: 'ik-2' },
        env: { attempt: '2', key: 'ik-2', dir, output: join(dir, 'output.json') },
        argv: [],
      },
    });
    // A process gets a big int as plain JSON digits, every one of them.
    expect(readFileSync(join(dir, 'input.json'), 'utf8')).toContain('"args":[1,"two words; rm -rf /",99999999999999999999]');
  });

  it('treats a missing output.json as null, and removes a stale one first', async () => {
    const req = request('quiet', { command: node('') });
    const dir = ex.attemptDir(req);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'output.json'), '"stale"');
    expect(await ex.submit(req).done).toEqual({ ok: true, value: null });
  });

  it('captures stdout and stderr in the attempt directory', async () => {
    const h = ex.submit(request('talk', { command: node('console.log("to stdout"); console.error("to stderr")') }));
    expect(await h.done).toEqual({ ok: true, value: null });
    expect(readFileSync(join(h.logs!, 'stdout.log'), 'utf8')).toBe('to stdout\n');
    expect(readFileSync(join(h.logs!, 'stderr.log'), 'utf8')).toBe('to stderr\n');
  });

  it('reports a non-zero exit with the last 20 lines of stderr', async () => {
    const code = 'for (let i = 1; i <= 30; i++) console.error("line " + i); process.exit(7)';
    const outcome = await ex.submit(request('exit7', { command: node(code) })).done;
    expect(outcome).toMatchObject({ ok: false, error: { kind: 'task', message: 'process exited with code 7', retryable: true } });
    if (!outcome.ok) expect(outcome.error.details).toBe(Array.from({ length: 20 }, (_, i) => `line ${i + 11}`).join('\n'));
  });

  it('reports a command that does not exist as a non-retryable executor error', async () => {
    const outcome = await ex.submit(request('missing', { command: ['python3x-does-not-exist', 'x.py'] })).done;
    expect(outcome).toEqual({ ok: false, error: { kind: 'executor', message: 'cannot run python3x-does-not-exist: command not found', retryable: false } });
  });

  it('reports invalid JSON output as a non-retryable error naming the file', async () => {
    const req = request('badjson', { command: node('import { writeFileSync } from "node:fs"; writeFileSync(process.env.LARKFLOW_OUTPUT, "{not json")') });
    const outcome = await ex.submit(req).done;
    expect(outcome).toMatchObject({ ok: false, error: { kind: 'task', retryable: false } });
    if (!outcome.ok) expect(outcome.error.message).toContain(join(ex.attemptDir(req), 'output.json'));
  });

  it('kills a process that ignores SIGTERM after the grace period', async () => {
    const t0 = Date.now();
    const outcome = await ex.submit(request('stubborn', { command: scriptCommand('stubborn'), timeoutMs: 300 })).done;
    expect(outcome).toMatchObject({ ok: false, error: { kind: 'timeout', retryable: true, details: 'ignoring SIGTERM' } });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('runs only requests with a command', async () => {
    expect(ex.canRun('t', ['node'])).toBe(true);
    expect(ex.canRun('t', [])).toBe(false);
    expect(ex.canRun('t')).toBe(false);
    expect(await ex.submit(request('nocmd')).done).toMatchObject({ ok: false, error: { kind: 'executor', retryable: false } });
  });

  it('keeps every id inside the work directory', () => {
    const dir = attemptDirOf(workDir, { runId: '..', stepId: 'a/../../b#2', attempt: 1 });
    const rel = relative(workDir, dir);
    expect(rel.split(sep)).toEqual(['%2E.', 'a%2F..%2F..%2Fb#2', '1']);
  });
});

// ---------------------------------------------------------------------------------------------
// Semaphore

describe('Semaphore', () => {
  it('serves waiters in order and lets an aborted waiter leave', async () => {
    const s = new Semaphore(1);
    const r1 = await s.acquire();
    const order: string[] = [];
    const ac = new AbortController();
    const p2 = s.acquire(ac.signal).then(
      () => order.push('aborted one ran'),
      () => order.push('aborted one left'),
    );
    const p3 = s.acquire().then((r) => {
      order.push('third');
      r();
    });
    expect(s.waiting).toBe(2);
    ac.abort();
    await p2;
    r1();
    r1(); // twice is harmless
    await p3;
    expect(order).toEqual(['aborted one left', 'third']);
    expect(s.inFlight).toBe(0);
    expect(() => new Semaphore(0)).toThrow(RangeError);
  });
});
