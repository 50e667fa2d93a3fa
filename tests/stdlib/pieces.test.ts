/**
 * The incremental (piecewise) versions of builtins on large values give exactly what the one-shot
 * versions give: sorting (stability, reverse, tuple keys, errors), the windowed replace, split and
 * join (overlapping patterns, separators across windows), json.encode (errors with their paths) and
 * repr of big nested values.
 */
import { describe, expect, it } from 'vitest';
import { json } from '../../src/stdlib/index.js';
import { sortPieces, stableSort, RUN } from '../../src/stdlib/sort.js';
import { countPieces, joinPieces, replaceAllPieces, splitPieces } from '../../src/stdlib/methods/string-pieces.js';
import { EvalError, Float, List, Source, Thread, Tuple, evalExpr, execFile, repr, reprPieces, type Value } from '../../src/interpreter/index.js';

/** Runs a generator to its end. */
function finish<T>(g: Generator<undefined, T, undefined>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

/** A deterministic pseudo-random sequence (xorshift). */
function randoms(n: number, seed: number, mod: number): number[] {
  let x = seed;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.push((x >>> 0) % mod);
  }
  return out;
}

describe('sortPieces agrees with stableSort', () => {
  it.each([
    ['ints with many ties', randoms(3 * RUN + 17, 1, 50)],
    ['distinct ints', randoms(5 * RUN, 7, 1_000_000_007)],
    ['small input', randoms(100, 3, 10)],
  ])('%s, ascending and descending, keyed and not', (_name, nums) => {
    const values: Value[] = nums.map((n, i) => new Tuple([n, i]));
    const keys: Value[] = nums;
    for (const reverse of [false, true]) {
      expect(finish(sortPieces(values, keys, reverse))).toEqual(stableSort(values, keys, reverse));
      expect(finish(sortPieces(nums, nums, reverse))).toEqual(stableSort(nums, nums, reverse));
    }
  });

  it('tuple and string keys, mixed int/float keys', () => {
    const nums = randoms(2 * RUN + 5, 11, 30);
    const tuples: Value[] = nums.map((n, i) => new Tuple([n % 3, String(n), i % 2]));
    const strs: Value[] = nums.map((n) => `k${n}`);
    const mixed: Value[] = nums.map((n, i) => (i % 2 ? n : new Float(n + 0.5)));
    for (const keys of [tuples, strs, mixed]) {
      for (const reverse of [false, true]) expect(finish(sortPieces(keys, keys, reverse))).toEqual(stableSort(keys, keys, reverse));
    }
  });

  it('an unordered pair fails with the same message as the one-shot sort', () => {
    const keys: Value[] = randoms(2 * RUN, 5, 100);
    keys[RUN + 3] = 'x';
    const message = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return (e as EvalError).message;
      }
      return 'no error';
    };
    expect(message(() => finish(sortPieces(keys, keys, false)))).toBe(message(() => stableSort(keys, keys, false)));
    expect(message(() => finish(sortPieces(keys, keys, false)))).toMatch(/not implemented/);
  });

  it('sorted() on a large list uses it and keeps stability', () => {
    const g = execFile(
      new Thread(),
      new Source('t.star', 'pairs = [((i * 7919) % 1000, i) for i in range(20000)]\nx = sorted(pairs, key = lambda p: p[0], reverse = True)\n'),
      new Map(),
    );
    const x = (g.get('x') as List).elems as Tuple[];
    for (let i = 1; i < x.length; i++) {
      const [a, ai] = x[i - 1]!.elems as number[];
      const [b, bi] = x[i]!.elems as number[];
      expect(a! > b! || (a === b && ai! < bi!)).toBe(true);
    }
  });
});

describe('windowed string algorithms agree with the native ones', () => {
  const big = (unit: string, n: number): string => unit.repeat(n);
  it.each([
    ['a', 'xy', big('ab', 400000)],
    ['aa', 'b', big('a', 700001)],
    ['aba', '_', big('ab', 300000) + 'a'],
    ['needle', 'N', big('hay', 200000) + 'needle' + big('hay', 200000)],
    ['x', 'y', big('abc', 300000)],
    ['abcabd', '!', big('abcab', 100000) + 'd' + big('abcabd', 50000)],
  ])('replace(%j, %j) and split over windows', (old, repl, s) => {
    expect(finish(replaceAllPieces(s, old, repl))).toBe(s.split(old).join(repl));
    expect(finish(splitPieces(s, old))).toEqual(s.split(old));
    expect(finish(countPieces(s, old))).toBe(s.split(old).length - 1);
  });

  it('join in groups', () => {
    const parts = Array.from({ length: 100000 }, (_, i) => String(i));
    const size = parts.join(', ').length;
    expect(finish(joinPieces(parts, ', ', size))).toBe(parts.join(', '));
  });

  it('the methods on large strings give the reference results', () => {
    const th = new Thread();
    expect(evalExpr(th, '("aaa" * 100000).replace("aa", "b") == "b" * 150000')).toBe(true);
    expect(evalExpr(th, '("aab" * 100000).replace("ab", "c")[:7]')).toBe('acacaca');
    expect(evalExpr(th, 'len(("ab," * 200000).split(","))')).toBe(200001);
    expect(evalExpr(th, '("a,b," * 100000).rsplit(",", 2)[0][-5:]')).toBe('a,b,a');
    expect(evalExpr(th, 'len(("x" * 1000000).replace("x", "yy"))')).toBe(2000000);
    expect(evalExpr(th, '("ab" * 100000).replace("b", "", 3)[:8]')).toBe('aaaababa');
  });
});

describe('json.encode and repr of big values, piece by piece', () => {
  const run = (text: string): Map<string, Value> => execFile(new Thread(), new Source('t.star', text), new Map([['json', json]]), { set: true });

  it('encodes like the one-shot encoder, and reports errors with their paths', () => {
    const g = run('big = [{"k": [i, str(i)], "j": None} for i in range(10000)]\nbig2 = {str(i): [i] * 3 for i in range(6000)}\n');
    const th = new Thread();
    const encodeBig = (name: string): Value => execFile(th, new Source('e.star', `x = json.encode(${name})\n`), new Map<string, Value>([['json', json], [name, g.get(name)!]])).get('x')!;
    expect(encodeBig('big')).toBe(JSON.stringify((g.get('big') as List).elems.map((_, i) => ({ j: null, k: [i, String(i)] }))));
    expect(JSON.parse(encodeBig('big2') as string)['5999']).toEqual([5999, 5999, 5999]);
    const err = (() => {
      try {
        run('big = [i for i in range(10000)] + [[1, {"a": len}]]\nx = json.encode(big)\n');
      } catch (e) {
        return (e as EvalError).message;
      }
      return 'no error';
    })();
    expect(err).toBe('json.encode: at list index 10000: at list index 1: in dict key "a": cannot encode builtin_function_or_method as JSON');
  });

  it('repr of a big nested value equals the plain repr', () => {
    const g = run('inner = [(i, "s%d" % i, {i: [i]}) for i in range(5000)]\nbig = [inner, set([1, 2]), inner, {"x": inner}] + list(range(5000))\n');
    expect(finish(reprPieces(g.get('big')!))).toBe(repr(g.get('big')!));
    const cyclic = run('l = list(range(5000))\nl.append(l)\n').get('l')!;
    expect(finish(reprPieces(cyclic))).toBe(repr(cyclic));
    expect(repr(cyclic).endsWith(', 4999, [...]]')).toBe(true);
  });
});
