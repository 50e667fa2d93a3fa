/**
 * Error messages and positions pinned together: resolver errors (all at once, with hints), run-time
 * errors with tracebacks, budgets (steps, depth, allocation, cancellation) and the sandbox.
 */
import { describe, expect, it } from 'vitest';
import { makeAssertModule, struct } from '../../src/stdlib/index.js';
import {
  EvalError,
  ParseError,
  ResolveError,
  Source,
  Thread,
  evalExpr,
  execFile,
  type FileOptions,
  type Value,
} from '../../src/interpreter/index.js';

function run(text: string, options: FileOptions = {}, thread = new Thread({ print: () => {} })): Map<string, Value> {
  return execFile(thread, new Source('t.star', text), new Map<string, Value>([['struct', struct]]), options);
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('resolver errors', () => {
  it('reports every static error at once, in order, with positions and hints', () => {
    const e = errorOf(() => run('x = lenn([1])\ndef f():\n    return yy\nbreak\nx = 2\n')) as ResolveError;
    expect(e).toBeInstanceOf(ResolveError);
    expect(e.diagnostics.map((d) => [d.source.position(d.offset).line, d.source.position(d.offset).column, d.message])).toEqual([
      [1, 5, 'undefined: lenn (did you mean len?)'],
      [3, 12, 'undefined: yy'],
      [4, 1, 'break not in a loop'],
      [5, 1, 'cannot reassign global x declared at t.star:1:1'],
    ]);
    expect(e.render()).toContain('t.star:1:5: undefined: lenn (did you mean len?)\nx = lenn([1])\n    ^');
  });

  it('rejects control flow at top level and misplaced statements', () => {
    const e = errorOf(() => run('for x in []:\n    pass\nif True:\n    pass\nreturn 1\n')) as ResolveError;
    expect(e.diagnostics.map((d) => d.message)).toEqual([
      'for loop not within a function',
      'if statement not within a function',
      'return statement not within a function',
    ]);
    expect(() => run('for x in []:\n    pass\n', { topLevelControl: true })).not.toThrow();
  });

  it('gates while, set and decorators behind dialect options', () => {
    expect((errorOf(() => run('def f():\n    while False:\n        pass\n')) as ResolveError).diagnostics[0]!.message).toMatch(/does not support while loops/);
    expect(() => run('def f():\n    while False:\n        pass\n', { while: true })).not.toThrow();
    expect((errorOf(() => run('s = set([1])\n')) as ResolveError).diagnostics[0]!.message).toMatch(/does not support sets/);
    expect(run('s = set([1, 1])\n', { set: true }).get('s')!.toString()).toBeDefined();
    expect((errorOf(() => run('def d(f):\n    return f\n@d\ndef g():\n    pass\n')) as ResolveError).diagnostics[0]!.message).toMatch(/does not support decorators/);
    const g = run('def d(f):\n    return lambda: f() + 1\ndef e(f):\n    return lambda: f() * 10\n@d\n@e\ndef g():\n    return 1\nr = g()\n', { decorators: true });
    expect(g.get('r')).toBe(11);
  });

  it('allows global reassignment only with the option', () => {
    expect(() => run('x = 1\nx = 2\n')).toThrow(ResolveError);
    expect(run('x = 1\nx = 2\n', { globalReassign: true }).get('x')).toBe(2);
  });
});

describe('run-time errors', () => {
  it('carry a Starlark traceback with file:line:col of each frame', () => {
    const e = errorOf(() => run('def f(x):\n    return x + "a"\ndef g():\n    return f(1)\ng()\n')) as EvalError;
    expect(e).toBeInstanceOf(EvalError);
    expect(e.message).toBe('unknown binary op: int + string');
    expect(e.backtrace()).toBe(
      [
        'Traceback (most recent call last):',
        '  t.star:5:2: in <toplevel>',
        '    g()',
        '  t.star:4:13: in g',
        '    return f(1)',
        '  t.star:2:14: in f',
        '    return x + "a"',
        'Error: unknown binary op: int + string',
      ].join('\n'),
    );
    expect(e.line).toBe(2);
    expect(e.column).toBe(14);
  });

  it('names the builtin that failed', () => {
    const e = errorOf(() => run('x = len(1)\n')) as EvalError;
    expect(e.message).toBe('len: value of type int has no len');
    expect(e.backtrace()).toContain('Error in len: len: value of type int has no len');
  });

  it('reports unbound locals, recursion and wrong calls as the reference does', () => {
    expect((errorOf(() => run('def f():\n    y = x\n    x = 1\nf()\n')) as EvalError).message).toBe('local variable x referenced before assignment');
    expect((errorOf(() => run('def f(n):\n    return f(n - 1) if n else 0\nf(3)\n')) as EvalError).message).toBe('function f called recursively');
    expect(run('def f(n):\n    return f(n - 1) + 1 if n else 0\nr = f(50)\n', { recursion: true }).get('r')).toBe(50);
    expect((errorOf(() => run('def f(a, b):\n    pass\nf(1)\n')) as EvalError).message).toBe('function f missing 1 argument (b)');
    expect((errorOf(() => run('def f(a):\n    pass\nf(1, 2)\n')) as EvalError).message).toBe('function f accepts 1 positional argument (2 given)');
    expect((errorOf(() => run('def f(alpha):\n    pass\nf(alpah = 1)\n')) as EvalError).message).toBe('function f got an unexpected keyword argument alpah (did you mean alpha?)');
  });

  it('parse errors name file:line:col and show the line', () => {
    const e = errorOf(() => run('x = 1 +\n')) as ParseError;
    expect(e).toBeInstanceOf(ParseError);
    expect(e.line).toBe(1);
    expect(e.render()).toMatch(/^t\.star:1:8: .*\nx = 1 \+\n {7}\^/);
  });
});

describe('budgets', () => {
  it('stops a runaway loop at the step budget', () => {
    const th = new Thread({ maxSteps: 10_000 });
    const e = errorOf(() => run('def f():\n    while True:\n        pass\nf()\n', { while: true }, th)) as EvalError;
    expect(e.message).toMatch(/too many steps \(limit 10000\)/);
    expect(e.kind).toBe('budget');
  });

  it('limits call depth with a clean Starlark error', () => {
    const th = new Thread({ maxCallDepth: 200 });
    const e = errorOf(() => run('def f(n):\n    return f(n + 1)\nf(0)\n', { recursion: true }, th)) as EvalError;
    expect(e.message).toBe('Starlark stack overflow (call stack deeper than 200 frames)');
    expect(e.kind).toBe('eval');
  });

  it('deep recursion within the default limit works', () => {
    expect(run('def f(n):\n    return f(n - 1) + 1 if n else 0\nr = f(1900)\n', { recursion: true }).get('r')).toBe(1900);
    expect(new Thread().maxCallDepth).toBe(2000);
  });

  it('turns an exhausted host stack into a clean Starlark stack overflow, and the thread goes on', () => {
    const th = new Thread({ maxCallDepth: 1e9, print: () => {} });
    const text =
      'def runaway(n):\n    return runaway(n + 1)\n' +
      'def depth(n):\n    return depth(n - 1) + 1 if n else 0\n' +
      'def catch():\n    for i in range(3):\n        assert.fails(lambda: runaway(0), "^Starlark stack overflow")\n    return depth(100)\n' +
      'r = catch()\nrunaway(0)\n';
    const assertMod = makeAssertModule((msg) => {
      throw new Error(msg);
    });
    const predeclared = new Map<string, Value>([['assert', assertMod]]);
    const e = errorOf(() => execFile(th, new Source('t.star', text), predeclared, { recursion: true })) as EvalError;
    expect(e.message).toBe('Starlark stack overflow (the host stack is exhausted)');
    expect(e.kind).toBe('eval');
    expect(th.stack.length).toBe(0);
  });

  it('fails fast on huge allocations instead of exhausting memory', () => {
    const t0 = Date.now();
    expect((errorOf(() => run('x = "x" * (1 << 40)\n')) as EvalError).message).toMatch(/repeat count 1099511627776 too large/);
    expect((errorOf(() => run('x = [1] * (1 << 30)\n')) as EvalError).message).toMatch(/excessive repeat/);
    expect((errorOf(() => run('x = "x" * (1 << 30)\n')) as EvalError).message).toMatch(/excessive repeat/);
    const th = new Thread({ maxAllocations: 1_000_000 });
    const e = errorOf(() => run('def f():\n    l = []\n    while True:\n        l.append(1)\nf()\n', { while: true }, th)) as EvalError;
    expect(e.message).toMatch(/allocation budget exceeded/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('cancels through an AbortSignal', () => {
    const ac = new AbortController();
    let n = 0;
    const th = new Thread({
      signal: ac.signal,
      print: () => {
        if (++n === 3) ac.abort(new Error('stop now'));
      },
    });
    const e = errorOf(() => run('def f():\n    for i in range(1000000):\n        print(i)\nf()\n', {}, th)) as EvalError;
    expect(e.kind).toBe('cancelled');
    expect(e.message).toMatch(/cancelled: stop now/);
  });
});

describe('sandbox', () => {
  it('JS prototype names are plain Starlark attributes and keys', () => {
    const g = run(
      [
        'd = {"__proto__": 1, "constructor": 2, "toString": 3}',
        'a = getattr([], "__proto__", "none")',
        'b = hasattr({}, "constructor")',
        'c = d["__proto__"] + d["constructor"] + d["toString"]',
        'k = sorted(d.keys())',
        's = struct(__proto__ = 5).__proto__',
      ].join('\n') + '\n',
      {},
      new Thread(),
    );
    expect(g.get('a')).toBe('none');
    expect(g.get('b')).toBe(false);
    expect(g.get('c')).toBe(6);
    expect(g.get('s')).toBe(5);
  });

  it('no JS global is reachable by name', () => {
    for (const name of ['process', 'require', 'globalThis', 'Function', 'eval', 'constructor', 'this']) {
      expect(() => evalExpr(new Thread(), name)).toThrow(ResolveError);
    }
    expect(() => evalExpr(new Thread(), '"".constructor')).toThrow(/string has no .constructor field or method/);
    expect(() => evalExpr(new Thread(), 'len.call')).toThrow(/has no .call field or method/);
  });
});

describe('async execution', () => {
  it('execFileAsync runs in time slices, so a timer can abort a runaway script', async () => {
    const { execFileAsync } = await import('../../src/interpreter/index.js');
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(new Error('took too long')), 50);
    const err = await execFileAsync(new Thread({ signal: ac.signal }), new Source('spin.star', 'def f():\n    while True:\n        pass\nf()\n'), new Map(), { while: true }, 5).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EvalError);
    expect((err as EvalError).kind).toBe('cancelled');
    expect((err as EvalError).message).toMatch(/cancelled: took too long/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('execFileAsync returns the module globals like execFile', async () => {
    const { execFileAsync } = await import('../../src/interpreter/index.js');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const g = await execFileAsync(new Thread(), new Source('sum.star', 'def f():\n    t = 0\n    for i in range(3000000):\n        t += i\n    return t\nx = f()\n'), new Map(), {}, 2);
    clearInterval(timer);
    expect(g.get('x')).toBe(4499998500000);
    expect(ticks).toBeGreaterThan(0); // the event loop ran while the script did
  });
});

describe('runaway values with the default thread', () => {
  it('a huge list fails with a budget error, not an out-of-memory crash', () => {
    const e1 = errorOf(() => run('x = list(range(1 << 30))\n')) as EvalError;
    expect(e1.message).toMatch(/allocation budget exceeded: a list may hold at most 67108864 elements/);
    const e2 = errorOf(() => run('x = zip(range(1 << 30), range(1 << 30))\n')) as EvalError;
    expect(e2.kind).toBe('budget');
  });

  it('a runaway append loop stops at the size cap', () => {
    const e = errorOf(() => run('def f():\n    l = []\n    for i in range(1 << 30):\n        l.append(i)\nf()\n')) as EvalError;
    expect(e.message).toMatch(/allocation budget exceeded: a list may hold at most 67108864 elements/);
    expect(e.backtrace()).toContain('Error in append');
  }, 60_000);
});
