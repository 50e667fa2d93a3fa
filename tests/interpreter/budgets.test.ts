/**
 * Budgets against expensive builtins and operators (issue 9 §1): the work a builtin does on a large
 * value is charged to the step budget and checks the deadline and the AbortSignal, so a script whose
 * every iteration is one huge operation still stops soon after its limit; and the public API for
 * time-sliced, per-activation budgets (§3): SLICE_END, `sliceUntil`, `setLimits`, `allocatedBytes`,
 * the `deadline` option. Time assertions are generous upper bounds only (the target is ~100 ms).
 */
import { describe, expect, it } from 'vitest';
import { json } from '../../src/stdlib/index.js';
import {
  Builtin,
  EvalError,
  List,
  Pending,
  SLICE_END,
  Source,
  Thread,
  compileProgram,
  execFile,
  execFileAsync,
  incremental,
  repr,
  startCall,
  startFile,
  startProgram,
  type FileOptions,
  type ModuleGlobals,
  type Outcome,
  type Value,
} from '../../src/interpreter/index.js';

const predeclared = new Map<string, Value>([['json', json]]);

function run(text: string, thread = new Thread({ print: () => {} }), options: FileOptions = {}, names = predeclared): Map<string, Value> {
  return execFile(thread, new Source('t.star', text), names, options);
}

function errorOf(fn: () => unknown): EvalError {
  try {
    fn();
  } catch (e) {
    if (e instanceof EvalError) return e;
    throw e;
  }
  throw new Error('expected an error');
}

async function rejectionOf(p: Promise<unknown>): Promise<EvalError> {
  const e = await p.then(
    () => new Error('expected a rejection'),
    (err: unknown) => err,
  );
  if (e instanceof EvalError) return e;
  throw e;
}

/** The script of issue 9: every iteration is one replace over an 8 MB string. */
const REPLACE_LOOP = 'r = [len(("ab" * (1 << 22)).replace("a", "b")) for _ in range(10)]\n';

describe('expensive builtins charge the budgets (issue 9 §1)', () => {
  it('the replace loop stops soon after a 500 ms AbortSignal.timeout, with maxSteps 1e6', async () => {
    const t0 = performance.now();
    const e = await rejectionOf(execFileAsync(new Thread({ maxSteps: 1e6, signal: AbortSignal.timeout(500) }), REPLACE_LOOP));
    // Either budget may come first: the replaces' work counts as steps, and the signal fires on time.
    expect(['budget', 'cancelled']).toContain(e.kind);
    expect(e.message).toMatch(/too many steps \(limit 1000000\)|cancelled: The operation was aborted due to timeout/);
    expect(performance.now() - t0).toBeLessThan(500 + 1000);
  }, 30_000);

  it('the replace loop is cancelled by AbortSignal.timeout alone, soon after it fires', async () => {
    const t0 = performance.now();
    const e = await rejectionOf(execFileAsync(new Thread({ signal: AbortSignal.timeout(300) }), REPLACE_LOOP));
    expect(e.kind).toBe('cancelled');
    expect(performance.now() - t0).toBeLessThan(300 + 1000);
  }, 30_000);

  it('a deadline stops the replace loop in a synchronous execFile', () => {
    const t0 = performance.now();
    const e = errorOf(() => run(REPLACE_LOOP, new Thread({ deadline: t0 + 200 })));
    expect(e.kind).toBe('budget');
    expect(e.message).toMatch(/^Starlark computation cancelled: time limit exceeded \(\d+ ms\)$/);
    expect(performance.now() - t0).toBeLessThan(200 + 1000);
  }, 30_000);

  it('work done by builtins counts as steps: one sort of a million elements exceeds 100,000 steps', () => {
    const e = errorOf(() => run('x = sorted([(i * 7919) % 1000003 for i in range(1000000)])\n', new Thread({ maxSteps: 1_100_000 })));
    expect(e.message).toMatch(/too many steps \(limit 1100000\)/);
    // The same script without the sort is well within the limit.
    expect(run('x = [(i * 7919) % 1000003 for i in range(1000000)]\n', new Thread({ maxSteps: 1_100_000 })).get('x')).toBeInstanceOf(List);
  });

  it('ints are capped at 2^20 bits, so no single int operation runs for seconds', () => {
    const t0 = performance.now();
    const e = errorOf(() => run('def f():\n    x = 3\n    for i in range(40):\n        x = x * x\n    return x\ny = f()\n'));
    expect([e.kind, e.message]).toEqual(['budget', 'int too large: more than 1048576 bits']);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(errorOf(() => run('y = int("9" * 400000)\n')).message).toBe('int too large: more than 1048576 bits');
    expect(run('y = len(str(int("9" * 300000)))\n').get('y')).toBe(300000);
  });

  // Each script repeats one expensive operation until stopped; a deadline 150 ms after the start must
  // stop it within a generous second, in the middle of an operation if need be.
  const EXPENSIVE: [string, string, string][] = [
    ['sorted', 'big = [(i * 7919) % 100003 for i in range(300000)]', 'len(sorted(big))'],
    ['json.encode', 'big = [{"a": i, "b": [i, "x"]} for i in range(50000)]', 'len(json.encode(big))'],
    ['json.decode', 'text = json.encode(list(range(300000)))', 'len(json.decode(text))'],
    ['"%s" % big', 'big = list(range(300000))', 'len("%s" % big)'],
    ['big == big', 'a = list(range(1000000))\nb = list(range(1000000))', 'a == b'],
    ['big < big', 'a = list(range(1000000))\nb = list(range(1000000))', 'a < b'],
    ['str(big)', 'big = [(i, str(i)) for i in range(200000)]', 'len(str(big))'],
    ['repr(dict)', 'big = {i: i for i in range(200000)}', 'len(repr(big))'],
    ['join', 'big = [str(i) for i in range(500000)]', 'len(",".join(big))'],
    ['split', 'text = ",".join([str(i) for i in range(500000)])', 'len(text.split(","))'],
    ['replace', 'text = "ab" * 2000000', 'len(text.replace("a", "xy"))'],
    ['upper', 'text = "ab" * 2000000', 'len(text.upper())'],
    ['count', 'text = "ab" * 2000000', 'text.count("b")'],
    ['in list', 'big = list(range(1000000))', '-1 in big'],
    ['list + list', 'big = list(range(1000000))', 'len(big + big)'],
    ['list * n', 'small = [1, 2, 3]', 'len(small * 300000)'],
    ['slice', 'big = list(range(1000000))', 'len(big[1:])'],
    ['dict(zip)', 'big = list(range(200000))', 'len(dict(zip(big, big)))'],
    ['set', 'big = list(range(300000))', 'len(set(big))'],
    ['list(range)', '', 'len(list(range(1000000)))'],
    ['tuple hash', 't = tuple(range(300000))\nd = {}', 'd.get(t) == None'],
    ['enumerate', 'big = list(range(300000))', 'len(enumerate(big))'],
    ['extend', 'big = list(range(300000))', 'len([].extend(big) or big)'],
  ];
  it.each(EXPENSIVE)('a deadline stops a loop of %s within the operation', (_name, setup, op) => {
    const script = `${setup}\ndef f():\n    n = 0\n    for _ in range(100000):\n        n += 1 if ${op} else 0\n    return n\nr = f()\n`;
    const th = new Thread();
    const setupDone = performance.now();
    const deadline = setupDone + 150;
    th.setLimits({ deadline });
    const e = errorOf(() => run(script, th, { set: true }));
    expect(e.kind).toBe('budget');
    expect(e.message).toMatch(/time limit exceeded/);
    expect(performance.now() - deadline).toBeLessThan(1000);
  }, 30_000);
});

describe('incremental builtins in time-sliced runs', () => {
  function drain<T>(th: Thread, out: Outcome<T>): { value: T; slices: number } {
    let slices = 0;
    while (!out.done) {
      expect(out.pending).toBe(SLICE_END);
      slices++;
      th.sliceUntil = performance.now() - 1;
      out = th.resume<T>(null);
    }
    return { value: out.value, slices };
  }

  it.each([
    ['sorted', 'x = sorted([(i * 7919) % 100003 for i in range(100000)], reverse = True)\n', (g: ModuleGlobals) => (g.get('x') as List).elems.slice(0, 3)],
    ['json.encode', 'x = len(json.encode([[i, "a"] for i in range(100000)]))\n', (g: ModuleGlobals) => g.get('x')],
    ['str', 'x = len(str([(i, "a") for i in range(100000)]))\n', (g: ModuleGlobals) => g.get('x')],
    ['join', 'x = len(",".join([str(i) for i in range(300000)]))\n', (g: ModuleGlobals) => g.get('x')],
    ['replace', 'x = ("ab" * 2000000).replace("b", "cd")[-5:]\n', (g: ModuleGlobals) => g.get('x')],
    ['split', 'x = len(("ab," * 1000000).split(","))\n', (g: ModuleGlobals) => g.get('x')],
  ])('%s on a large value is sliced, and gives the result of an unsliced run', (_name, text, pick) => {
    const program = compileProgram(new Source('t.star', text), predeclared);
    const sliced = new Thread();
    // A slice that is already over: every budget check and every piece of an incremental builtin ends it.
    sliced.sliceUntil = performance.now() - 1;
    const { value, slices } = drain(sliced, startProgram(sliced, program, predeclared));
    expect(slices).toBeGreaterThan(5);
    const plain = run(text);
    expect(pick(value)).toEqual(pick(plain));
  });

  /** A builtin doing `pieces` pieces of incremental work of 1,000 steps each; `log` records its progress. */
  function slowBuiltin(pieces: number, log: string[]): Builtin {
    return new Builtin('slow', (th) =>
      incremental(
        'slow',
        (function* () {
          try {
            for (let i = 0; i < pieces; i++) {
              th.work(1000);
              log.push(`piece ${i}`);
              yield;
            }
            return pieces;
          } finally {
            log.push('finally');
          }
        })(),
      ),
    );
  }

  it('an incremental builtin of a host ends slices between its pieces; its result comes last', () => {
    const log: string[] = [];
    const th = new Thread();
    th.sliceUntil = 0;
    const { value, slices } = drain(th, startFile(th, new Source('t.star', 'x = slow() + 1\n'), new Map([['slow', slowBuiltin(5, log)]])));
    expect(value.get('x')).toBe(6);
    // A slice ends after each piece (the first one inside the call), then the result comes.
    expect(slices).toBe(5);
    expect(log).toEqual(['piece 0', 'piece 1', 'piece 2', 'piece 3', 'piece 4', 'finally']);
    // Unsliced, the pieces run one after another in one call.
    log.length = 0;
    expect(run('x = slow() + 1\n', new Thread(), {}, new Map([['slow', slowBuiltin(5, log)]])).get('x')).toBe(6);
    expect(log).toHaveLength(6);
  });

  it('resumeWithError while an incremental builtin is in progress abandons its work and fails at its call', () => {
    const log: string[] = [];
    const th = new Thread();
    th.sliceUntil = 0;
    const out = startFile(th, new Source('t.star', 'x = slow()\n'), new Map([['slow', slowBuiltin(5, log)]]));
    expect(out.done).toBe(false);
    const e = errorOf(() => th.resumeWithError(new Error('stopped by the host')));
    expect(e.message).toBe('stopped by the host');
    expect(log).toEqual(['piece 0', 'finally']);
    expect(th.suspended).toBe(false);
  });

  it('a budget error in a later piece carries the builtin in the traceback', () => {
    const log: string[] = [];
    const th = new Thread();
    th.sliceUntil = 0;
    const text = 'def f():\n    return slow()\nx = f()\n';
    const out = startFile(th, new Source('t.star', text), new Map([['slow', slowBuiltin(5, log)]]));
    expect(out.done).toBe(false);
    th.setLimits({ steps: 1500 });
    const e = errorOf(() => {
      for (;;) if (th.resume(null).done) break;
    });
    expect(e.message).toBe('Starlark computation cancelled: too many steps (limit 1500)');
    expect(e.backtrace()).toMatch(/t\.star:2:16: in f[\s\S]*Error in slow: /);
    expect(log).toEqual(['piece 0', 'piece 1', 'finally']);
  });
});

describe('time slices and per-activation limits (issue 9 §3)', () => {
  const LOOP = 'def f(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\nx = f(100000)\n';

  it('a thread whose sliceUntil has passed returns SLICE_END; resume(null) continues', () => {
    const th = new Thread();
    th.sliceUntil = 0;
    let out = startFile(th, new Source('t.star', LOOP));
    let slices = 0;
    while (!out.done) {
      expect(out.pending).toBe(SLICE_END);
      slices++;
      out = th.resume(null);
    }
    expect(out.value.get('x')).toBe(4999950000);
    // 100,000 iterations make about 100000 / 4096 budget checks, each of which ends a slice.
    expect(slices).toBeGreaterThanOrEqual(20);
    expect(th.steps).toBeGreaterThanOrEqual(100000);
  });

  it('without sliceUntil, the same run is one synchronous call; a future sliceUntil does not end it', () => {
    const th = new Thread();
    expect(startFile(th, new Source('t.star', LOOP)).done).toBe(true);
    const th2 = new Thread();
    th2.sliceUntil = performance.now() + 60_000;
    expect(startFile(th2, new Source('t.star', LOOP)).done).toBe(true);
  });

  it('startCall returns SLICE_END too, and execFile runs through slice ends', () => {
    const g = run('def f(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n');
    const th = new Thread();
    th.sliceUntil = 0;
    let out: Outcome<Value> = startCall(th, g.get('f')!, [50000]);
    expect(out.done).toBe(false);
    while (!out.done) out = th.resume(null);
    expect(out.value).toBe(1249975000);
    const th2 = new Thread();
    th2.sliceUntil = 0;
    expect(run(LOOP, th2).get('x')).toBe(4999950000);
  });

  it('a host Pending is still returned as such while slicing', () => {
    const ask = new Builtin('ask', () => new Pending({ q: 1 }));
    const th = new Thread();
    th.sliceUntil = 0;
    let out = startFile(th, new Source('t.star', 'x = ask() + 1\n'), new Map([['ask', ask]]));
    expect(out.done).toBe(false);
    if (!out.done) expect(out.pending.request).toEqual({ q: 1 });
    out = th.resume(41);
    expect(out.done && out.value.get('x')).toBe(42);
  });

  it('setLimits({ steps }) counts from now, per activation; Infinity clears it', () => {
    const ask = new Builtin('ask', () => new Pending('next'));
    const text = 'def f():\n    t = 0\n    for k in range(3):\n        ask()\n        for i in range(20000):\n            t += 1\n    return t\nx = f()\n';
    const th = new Thread();
    let out = startFile(th, new Source('t.star', text), new Map([['ask', ask]]));
    // Each activation between two asks runs 20,000 iterations: 30,000 steps each are enough.
    for (let k = 0; k < 3; k++) {
      expect(out.done).toBe(false);
      th.setLimits({ steps: 30_000 });
      out = th.resume(null);
    }
    expect(out.done && out.value.get('x')).toBe(60000);
    expect(th.steps).toBeGreaterThan(60000);

    const th2 = new Thread();
    out = startFile(th2, new Source('t.star', text), new Map([['ask', ask]]));
    th2.setLimits({ steps: 10_000 });
    const e = errorOf(() => th2.resume(null));
    expect(e.kind).toBe('budget');
    expect(e.message).toBe('Starlark computation cancelled: too many steps (limit 10000)');

    const th3 = new Thread({ maxSteps: 10 });
    th3.setLimits({ steps: Infinity });
    expect(run(LOOP, th3).get('x')).toBe(4999950000);
  });

  it('setLimits({ deadline }) fails the thread after that time; null clears it', () => {
    const spin = 'def f():\n    while True:\n        pass\nf()\n';
    const th = new Thread();
    th.setLimits({ deadline: performance.now() + 50 });
    const e = errorOf(() => run(spin, th, { while: true }));
    expect(e.kind).toBe('budget');
    expect(e.message).toMatch(/^Starlark computation cancelled: time limit exceeded \((49|50) ms\)$/);

    const th2 = new Thread({ deadline: performance.now() - 1 });
    th2.setLimits({ deadline: null });
    expect(run(LOOP, th2).get('x')).toBe(4999950000);
  });

  it('setLimits({ bytes }) caps the bytes allocated from now; allocatedBytes counts them', () => {
    const th = new Thread();
    const g = run('x = [0] * 100000\n', th);
    expect((g.get('x') as List).elems.length).toBe(100000);
    // 8 bytes per list slot.
    expect(th.allocatedBytes).toBeGreaterThanOrEqual(800000);
    expect(th.allocatedBytes).toBeLessThan(1_000_000);

    const ask = new Builtin('ask', () => new Pending('more'));
    const th2 = new Thread();
    const out = startFile(th2, new Source('t.star', 'a = [0] * 100000\nask()\nb = [0] * 100000\n'), new Map([['ask', ask]]));
    expect(out.done).toBe(false);
    th2.setLimits({ bytes: 500_000 });
    const e = errorOf(() => th2.resume(null));
    expect(e.kind).toBe('budget');
    expect(e.message).toBe('allocation budget exceeded (limit 500000 bytes)');

    const th3 = new Thread({ maxAllocations: 1000 });
    th3.setLimits({ bytes: Infinity });
    expect(run('x = [0] * 100000\n', th3).has('x')).toBe(true);
  });

  it('maxAllocations is a cumulative cap in bytes: garbage counts', () => {
    const churn = 'def f():\n    for i in range(100):\n        x = [0] * 10000\nf()\n';
    // 100 lists of 80 KB each: 8 MB in total, never more than 80 KB live.
    expect(() => run(churn, new Thread({ maxAllocations: 16_000_000 }))).not.toThrow();
    const e = errorOf(() => run(churn, new Thread({ maxAllocations: 4_000_000 })));
    expect(e.message).toBe('allocation budget exceeded (limit 4000000 bytes)');
    // The default has no cumulative cap.
    expect(() => run(churn.replace('range(100)', 'range(2000)'))).not.toThrow();
  });

  it('execFileAsync runs in slices and restores the thread\'s sliceUntil', async () => {
    const th = new Thread();
    th.sliceUntil = 12345;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const g = await execFileAsync(th, LOOP.replace('100000', '3000000'), new Map(), {}, 2);
    clearInterval(timer);
    expect(g.get('x')).toBe(4499998500000);
    expect(ticks).toBeGreaterThan(0);
    expect(th.sliceUntil).toBe(12345);
  });

  it('repr of an incremental builtin result matches the plain repr', () => {
    const g = run('x = str([[i, {"k": (i,)}] for i in range(10000)])\ny = [[i, {"k": (i,)}] for i in range(10000)]\n');
    expect(g.get('x')).toBe(repr(g.get('y')!));
  });
});
