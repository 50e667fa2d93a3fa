/**
 * Regressions found in a review of the interpreter that need the JS API (each was a bug, now fixed):
 * long operator and elif chains compile, unpacking reads no more than it needs, load bindings are
 * file-local, error messages are text. The chunked ones are in tests/testdata/regressions.star.
 */
import { describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { EvalError, StarlarkError, Source, Thread, execFile, makeLoader, type Value } from '../../src/interpreter/index.js';

function run(text: string, thread = new Thread({ print: () => {} })): Map<string, Value> {
  return execFile(thread, new Source('t.star', text), new Map());
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('regression: deep but flat-looking programs compile (no raw RangeError)', () => {
  // go.starlark.net handles both; larkflow overflows V8's stack (in `new Function` for the first,
  // in the resolver for the second) and the embedder receives a raw RangeError.
  it('a chain of 2000 `+` operators', () => {
    const src = `x = 1${' + 1'.repeat(2000)}\n`;
    let g: Map<string, Value> | undefined;
    const e = (() => {
      try {
        g = run(src);
        return undefined;
      } catch (err) {
        return err;
      }
    })();
    expect(e === undefined || e instanceof StarlarkError).toBe(true);
    expect(g?.get('x')).toBe(2001);
  });

  it('an if/elif chain of 3000 branches', () => {
    let src = 'def f(x):\n    if x == 0:\n        return 0\n';
    for (let i = 1; i < 3000; i++) src += `    elif x == ${i}:\n        return ${i}\n`;
    src += 'y = f(2999)\n';
    let g: Map<string, Value> | undefined;
    const e = (() => {
      try {
        g = run(src);
        return undefined;
      } catch (err) {
        return err;
      }
    })();
    expect(e === undefined || e instanceof StarlarkError).toBe(true);
    expect(g?.get('y')).toBe(2999);
  });
});

describe('regression: sequence unpacking does not materialise the iterable', () => {
  // Go iterates at most n+1 elements: `a, b = range(10000000)` is "too many values to unpack".
  // larkflow copies the whole range into an array first (ops.toArray), which here exhausts a modest
  // allocation budget, and with the default budget (2^31) `a, b = range(1000000000)` kills the
  // process with a V8 heap OOM.
  it('a, b = range(10000000) reports too many values', () => {
    const th = new Thread({ print: () => {}, maxAllocations: 1_000_000 });
    const e = errorOf(() => run('a, b = range(10000000)\n', th));
    expect(e).toBeInstanceOf(EvalError);
    expect((e as Error).message).toMatch(/too many values to unpack \(got 10000000, want 2\)/);
  });
});

describe('regression: load bindings are file-local (not exported)', () => {
  // resolver.ts marks load bindings file-local, but compiler.ts returns them with the globals and
  // exec.ts puts them in the module's globals, so another module can load a re-exported name.
  // go.starlark.net: "load: name lst not found in module b.star".
  it('a name loaded by b.star cannot be loaded from b.star', () => {
    const files: Record<string, string> = {
      'a.star': 'lst = [1, 2]\n',
      'b.star': 'load("a.star", "lst")\ny = 1\n',
    };
    const load = makeLoader({ resolve: (m) => (files[m] ? { source: new Source(m, files[m]!) } : undefined) });
    const th = new Thread({ print: () => {}, load });
    const e = errorOf(() => execFile(th, new Source('main.star', 'load("b.star", "lst")\n'), new Map()));
    expect(e).toBeInstanceOf(EvalError);
    expect((e as Error).message).toMatch(/name lst not found in module b\.star/);
  });

  it('execFile globals exclude load bindings', () => {
    const files: Record<string, string> = { 'a.star': 'lst = [1, 2]\n' };
    const load = makeLoader({ resolve: (m) => (files[m] ? { source: new Source(m, files[m]!) } : undefined) });
    const th = new Thread({ print: () => {}, load });
    const g = execFile(th, new Source('main.star', 'load("a.star", "lst")\ny = 1\n'), new Map());
    expect([...g.keys()]).toEqual(['y']);
  });
});

describe('regression: error messages are text, not UTF-8 bytes', () => {
  // Starlark strings are binary UTF-8 internally; messages built from them (fail, key not in dict,
  // unexpected keyword) are never decoded, so EvalError.message and the CLI show mojibake ("Ã©").
  it('fail("é") has message "fail: é"', () => {
    const e = errorOf(() => run('fail("é")\n'));
    expect(e).toBeInstanceOf(EvalError);
    expect((e as Error).message).toBe('fail: é');
  });

  it('a missing dict key shows the key as text', () => {
    const e = errorOf(() => run('x = {}["é"]\n'));
    expect((e as Error).message).toBe('key "é" not in dict');
  });
});
