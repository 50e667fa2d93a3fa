/**
 * Unit tests of the universal builtins (src/stdlib/universe.ts), calling their implementations
 * directly with a small fake thread. Error messages are pinned to go.starlark.net's wording.
 */
import { describe, expect, it } from 'vitest';
import { EvalError } from '../../src/interpreter/errors.js';
import {
  Builtin,
  Bytes,
  Dict,
  Float,
  List,
  Module,
  Range,
  repr,
  StarSet,
  Tuple,
  type KwArgs,
  type ThreadContext,
  type Value,
} from '../../src/interpreter/values/index.js';
import '../../src/stdlib/methods/list.js';
import '../../src/stdlib/methods/dict.js';
import '../../src/stdlib/methods/set.js';
import { universe } from '../../src/stdlib/universe.js';

interface FakeThread extends ThreadContext {
  printed: string[];
  charged: number;
}

function thread(): FakeThread {
  const th: FakeThread = {
    name: 't',
    printed: [],
    charged: 0,
    print(s: string) {
      th.printed.push(s);
    },
    charge(n: number) {
      th.charged += n;
    },
    work() {},
    call(fn: Value, args: Value[], kwargs?: KwArgs | null): Value {
      if (!(fn instanceof Builtin)) throw new Error('fake thread calls builtins only');
      const r = fn.impl(th, args, kwargs ?? null, fn.recv);
      if (!(r === null || typeof r !== 'object' || 'type' in r)) throw new Error('pending');
      return r as Value;
    },
    locals: new Map(),
  };
  return th;
}

/** Calls universal builtin `name`. */
function call(name: string, args: Value[], kwargs: KwArgs | null = null, th: FakeThread = thread()): Value {
  const b = universe.get(name);
  if (!(b instanceof Builtin)) throw new Error(`no builtin ${name}`);
  return b.impl(th, args, kwargs, null) as Value;
}

/** repr of the result, for compact expectations. */
function r(name: string, args: Value[], kwargs: KwArgs | null = null): string {
  return repr(call(name, args, kwargs));
}

function err(f: () => unknown): EvalError {
  try {
    f();
  } catch (e) {
    if (e instanceof EvalError) return e;
    throw e;
  }
  throw new Error('expected an EvalError');
}

function fails(name: string, args: Value[], kwargs: KwArgs | null = null): string {
  return err(() => call(name, args, kwargs)).message;
}

const list = (...xs: Value[]) => new List(xs);
const tuple = (...xs: Value[]) => new Tuple(xs);
const f = (x: number) => new Float(x);
const len = universe.get('len')!;

describe('universe', () => {
  it('has every universal name of the Go spec', () => {
    const want = [
      'None', 'True', 'False', 'abs', 'all', 'any', 'bool', 'bytes', 'chr', 'dict', 'dir', 'enumerate', 'fail',
      'float', 'getattr', 'hasattr', 'hash', 'int', 'len', 'list', 'max', 'min', 'ord', 'print', 'range', 'repr',
      'reversed', 'set', 'sorted', 'str', 'tuple', 'type', 'zip',
    ];
    for (const n of want) expect(universe.has(n), n).toBe(true);
    expect(universe.has('freeze')).toBe(false);
    expect(universe.get('None')).toBe(null);
    expect(universe.get('True')).toBe(true);
    expect(universe.get('False')).toBe(false);
    expect(repr(universe.get('len')!)).toBe('<built-in function len>');
  });
  it('is immutable', () => {
    const m = universe as Map<string, Value>;
    expect(() => m.set('len', 1)).toThrow(TypeError);
    expect(() => m.delete('len')).toThrow(TypeError);
    expect(() => m.clear()).toThrow(TypeError);
    expect(universe.get('len')).toBeInstanceOf(Builtin);
  });
  it('is not reachable through JS property names', () => {
    expect(universe.get('__proto__')).toBeUndefined();
    expect(universe.get('constructor')).toBeUndefined();
    expect(universe.get('toString')).toBeUndefined();
  });
});

describe('abs, bool, len, type', () => {
  it('abs', () => {
    expect(call('abs', [-3])).toBe(3);
    expect(call('abs', [-(2n ** 70n)])).toBe(2n ** 70n);
    expect(repr(call('abs', [f(-1.5)]))).toBe('1.5');
    expect(fails('abs', ['x'])).toBe('got string, want int or float');
    expect(fails('abs', [])).toBe('abs: got 0 arguments, want 1');
  });
  it('bool', () => {
    expect(call('bool', [])).toBe(false);
    expect(call('bool', [list()])).toBe(false);
    expect(call('bool', [f(NaN)])).toBe(true); // Go: Float.Truth is f != 0.0
    expect(call('bool', ['x'])).toBe(true);
    expect(fails('bool', [1, 2])).toBe('bool: got 2 arguments, want at most 1');
  });
  it('len', () => {
    expect(call('len', ['abc'])).toBe(3);
    expect(call('len', ['\xc3\xa9'])).toBe(2); // "é" is two bytes
    expect(call('len', [new Range(0, 10, 3)])).toBe(4);
    expect(fails('len', [1])).toBe('len: value of type int has no len');
    expect(fails('len', [[1] as unknown as Value], [['x', 1]])).toBe('len: unexpected keyword arguments');
  });
  it('type', () => {
    expect(call('type', [null])).toBe('NoneType');
    expect(call('type', [2n ** 80n])).toBe('int');
    expect(call('type', [f(0)])).toBe('float');
    expect(call('type', [new Range(0, 1, 1)])).toBe('range');
    expect(fails('type', [])).toBe('type: got 0 arguments, want exactly 1');
    expect(fails('type', [1], [['x', 1]])).toBe('type does not accept keyword arguments');
  });
});

describe('any, all', () => {
  it('works on any iterable', () => {
    expect(call('all', [list()])).toBe(true);
    expect(call('all', [list(1, true, 'x')])).toBe(true);
    expect(call('all', [list(1, '')])).toBe(false);
    expect(call('any', [list()])).toBe(false);
    expect(call('any', [list(0, false, 'x')])).toBe(true);
    expect(call('any', [new Range(0, 1, 1)])).toBe(false);
    expect(call('any', [new Range(0, 2, 1)])).toBe(true);
    expect(fails('any', [1])).toBe('any: for parameter 1: got int, want iterable');
    expect(fails('all', ['abc'])).toBe('all: for parameter 1: got string, want iterable');
  });
});

describe('int', () => {
  it('converts numbers and bools', () => {
    expect(call('int', [true])).toBe(1);
    expect(call('int', [f(-2.7)])).toBe(-2);
    expect(call('int', [f(1e20)])).toBe(100000000000000000000n);
    expect(fails('int', [f(Infinity)])).toMatch(/^int: cannot convert float infinity/);
    expect(fails('int', [f(NaN)])).toMatch(/^int: cannot convert float NaN/);
    expect(fails('int', [null])).toBe('int: cannot convert NoneType to int');
    expect(fails('int', [])).toBe('int: missing argument for x');
    expect(fails('int', [3], [['base', 10]])).toBe("int: can't convert non-string with explicit base");
  });
  it('parses strings as go.starlark.net does', () => {
    const cases: [string, number | undefined, Value][] = [
      ['123', undefined, 123],
      ['-123', undefined, -123],
      ['+0', undefined, 0],
      ['-0', undefined, 0],
      ['0123', undefined, 123],
      ['0123', 8, 83],
      ['0o123', 8, 83],
      ['-0x12', 16, -18],
      ['0x1f', 0, 31],
      ['0X1F', 0, 31],
      ['0b0101', 0, 5],
      ['0b1', 16, 0xb1],
      ['0b0', 2, 0],
      ['00', 0, 0],
      ['zz', 36, 1295],
      ['11', 9, 10],
      ['100000000000000000000', undefined, 10n ** 20n],
      ['-100000000000000000000', 0, -(10n ** 20n)],
      ['ffffffffffffffffffff', 16, 2n ** 80n - 1n],
      ['1' + '0'.repeat(40), 7, 7n ** 40n],
      ['9007199254740991', undefined, 9007199254740991],
      ['9007199254740992', undefined, 9007199254740992n],
    ];
    for (const [s, base, want] of cases) {
      expect(call('int', base === undefined ? [s] : [s, base]), `int(${s}, ${base})`).toBe(want);
    }
  });
  it('rejects invalid literals with the reference message', () => {
    expect(fails('int', ['0x12'])).toBe('int: invalid literal with base 10: 0x12');
    expect(fails('int', ['0755', 0])).toBe('int: invalid literal with base 0: 0755');
    expect(fails('int', ['0x123', 8])).toBe('int: invalid literal with base 8: 0x123');
    expect(fails('int', ['--4'])).toBe('int: invalid literal with base 10: --4');
    expect(fails('int', ['+-4'])).toBe('int: invalid literal with base 10: +-4');
    expect(fails('int', ['0x-4', 16])).toBe('int: invalid literal with base 16: 0x-4');
    expect(fails('int', ['0x', 0])).toBe('int: invalid literal with base 0: 0x');
    expect(fails('int', [''])).toBe('int: invalid literal with base 10: ');
    expect(fails('int', [' 1'])).toBe('int: invalid literal with base 10:  1');
    expect(fails('int', ['1_000'])).toBe('int: invalid literal with base 10: 1_000');
    expect(fails('int', ['12', 1])).toBe('int: base must be an integer >= 2 && <= 36');
    expect(fails('int', ['12', 37])).toBe('int: base must be an integer >= 2 && <= 36');
    expect(fails('int', ['12', 'x'])).toBe('int: for base, got string, want int');
  });
});

describe('float', () => {
  it('converts', () => {
    expect(repr(call('float', []))).toBe('0.0');
    expect(repr(call('float', [true]))).toBe('1.0');
    expect(repr(call('float', [3]))).toBe('3.0');
    expect(repr(call('float', ['1.5e3']))).toBe('1500.0');
    expect(repr(call('float', ['-.5']))).toBe('-0.5');
    expect(repr(call('float', ['5.']))).toBe('5.0');
    expect(repr(call('float', ['+InFiniTy']))).toBe('+inf');
    expect(repr(call('float', ['-inf']))).toBe('-inf');
    expect(repr(call('float', ['-NaN']))).toBe('nan');
    expect(repr(call('float', ['0x1p-2']))).toBe('0.25');
    expect(repr(call('float', ['1e-400']))).toBe('0.0');
    const x = f(2.5);
    expect(call('float', [x])).toBe(x);
  });
  it('fails as the reference does', () => {
    expect(fails('float', ['1e1000'])).toBe('floating-point number too large');
    expect(fails('float', ['1.1abc'])).toBe('invalid float literal: 1.1abc');
    expect(fails('float', ['1.2.3'])).toBe('invalid float literal: 1.2.3');
    expect(fails('float', [' 1'])).toBe('invalid float literal:  1');
    expect(fails('float', ['0x10'])).toBe('invalid float literal: 0x10');
    expect(fails('float', ['Infinity!'])).toBe('invalid float literal: Infinity!');
    expect(fails('float', [''])).toBe('float: empty string');
    expect(fails('float', [null])).toBe('float got NoneType, want number or string');
    expect(fails('float', [1, 2])).toBe('float got 2 arguments, wants 1');
    expect(fails('float', [2n ** 1100n])).toBe('int too large to convert to float');
  });
});

describe('range', () => {
  it('builds ranges', () => {
    expect(r('range', [5])).toBe('range(5)');
    expect(r('range', [1, 5])).toBe('range(1, 5)');
    expect(r('range', [10, 0, -3])).toBe('range(10, 0, -3)');
    expect(r('list', [call('range', [10, 0, -3])])).toBe('[10, 7, 4, 1]');
    expect(call('len', [call('range', [0x7fffffff])])).toBe(0x7fffffff);
  });
  it("enforces the reference's limits", () => {
    expect(fails('range', [3000000000])).toBe('range: for parameter 1: 3000000000 out of range');
    expect(fails('range', [0, 'x'])).toBe('range: for parameter 2: got string, want int');
    expect(fails('range', [0, 1, 0])).toBe('range: step argument must not be zero');
    expect(fails('range', [])).toBe('range: got 0 arguments, want at least 1');
    expect(fails('range', [1, 2, 3, 4])).toBe('range: got 4 arguments, want at most 3');
    expect(fails('range', [f(1)])).toBe('range: for parameter 1: got float, want int');
  });
});

describe('list, tuple, reversed, enumerate, zip, dict, set', () => {
  it('list and tuple', () => {
    expect(r('list', [])).toBe('[]');
    expect(r('list', [tuple(1, 2)])).toBe('[1, 2]');
    const d = new Dict();
    d.set('a', 1);
    d.set('b', 2);
    expect(r('list', [d])).toBe('["a", "b"]');
    const l = list(1);
    const l2 = call('list', [l]) as List;
    expect(l2).not.toBe(l);
    expect(r('tuple', [])).toBe('()');
    expect(r('tuple', [list(1)])).toBe('(1,)');
    expect(fails('list', [1])).toBe('list: for parameter 1: got int, want iterable');
    expect(fails('tuple', ['ab'])).toBe('tuple: for parameter 1: got string, want iterable');
    expect(fails('list', [list(), list()])).toBe('list: got 2 arguments, want at most 1');
  });
  it('charges the allocation budget', () => {
    const th = thread();
    call('list', [new Range(0, 1000, 1)], null, th);
    expect(th.charged).toBeGreaterThanOrEqual(1000);
  });
  it('reversed', () => {
    expect(r('reversed', [new Range(0, 5, 1)])).toBe('[4, 3, 2, 1, 0]');
    expect(r('reversed', [list(1, 144, 81)])).toBe('[81, 144, 1]');
    expect(fails('reversed', [null])).toBe('reversed: for parameter 1: got NoneType, want iterable');
  });
  it('enumerate', () => {
    expect(r('enumerate', [list('a', 'b')])).toBe('[(0, "a"), (1, "b")]');
    expect(r('enumerate', [list(false, null), 42])).toBe('[(42, False), (43, None)]');
    expect(fails('enumerate', [list(), 'x'])).toBe('enumerate: for parameter 2: got string, want int');
  });
  it('zip', () => {
    expect(r('zip', [])).toBe('[]');
    expect(r('zip', [list(1, 2, 3)])).toBe('[(1,), (2,), (3,)]');
    expect(r('zip', [new Range(0, 5, 1), list('a', 'b')])).toBe('[(0, "a"), (1, "b")]');
    expect(fails('zip', [list(1), 1])).toBe('zip: argument #2 is not iterable: int');
    expect(fails('zip', [], [['x', 1]])).toBe('zip does not accept keyword arguments');
  });
  it('dict', () => {
    expect(r('dict', [])).toBe('{}');
    expect(r('dict', [list(tuple(1, 2), list('a', 'b'))])).toBe('{1: 2, "a": "b"}');
    expect(r('dict', [list(tuple('a', 2))], [['a', 4], ['b', 5]])).toBe('{"a": 4, "b": 5}');
    const src = call('dict', [], [['x', 1]]) as Dict;
    const copy = call('dict', [src]) as Dict;
    expect(copy).not.toBe(src);
    expect(repr(copy)).toBe('{"x": 1}');
    expect(fails('dict', [null])).toBe('dict: got NoneType, want iterable');
    expect(fails('dict', [list(), list()])).toBe('dict: got 2 arguments, want at most 1');
    expect(fails('dict', [list(1)])).toBe('dict: dictionary update sequence element #0 is not iterable (int)');
    expect(fails('dict', [list(tuple(1, 2, 3))])).toBe('dict: dictionary update sequence element #0 has length 3, want 2');
    expect(fails('dict', [list(tuple(list(), 1))])).toBe('dict: unhashable type: list');
    expect(fails('dict', [], [['a', 1], ['a', 2]])).toBe('dict: duplicate keyword arg: "a"');
  });
  it('set', () => {
    expect(r('set', [])).toBe('set([])');
    expect(r('set', [list(3, 1, 3, 2)])).toBe('set([3, 1, 2])');
    expect(call('set', [list()])).toBeInstanceOf(StarSet);
    expect(fails('set', [1])).toBe('set: for parameter 1: got int, want iterable');
    expect(fails('set', [1, 2, 3])).toBe('set: got 3 arguments, want at most 1');
    expect(fails('set', [list(1, new Dict())])).toBe('set: unhashable type: dict');
  });
});

describe('sorted', () => {
  it('sorts', () => {
    expect(r('sorted', [list(42, 123, 3)])).toBe('[3, 42, 123]');
    expect(r('sorted', [list(42, 123, 3)], [['reverse', true]])).toBe('[123, 42, 3]');
    expect(r('sorted', [list('wiz', 'foo', 'bar')])).toBe('["bar", "foo", "wiz"]');
    expect(r('sorted', [list(3, f(1.5), 2n ** 60n, -1)])).toBe('[-1, 1.5, 3, 1152921504606846976]');
    expect(r('sorted', [list(f(NaN), 1, f(-Infinity))])).toBe('[-inf, 1, nan]');
    expect(r('sorted', [list('two', 'three', 'four')], [['key', len]])).toBe('["two", "four", "three"]');
    expect(r('sorted', [list('two', 'three', 'four')], [['key', len], ['reverse', 1]])).toBe('["three", "four", "two"]');
    // all parameters may be positional
    expect(r('sorted', [list('bb', 'a'), len])).toBe('["a", "bb"]');
  });
  it('is stable, forwards and in reverse', () => {
    const pairs = [[4, 0], [3, 1], [4, 2], [2, 3], [3, 4], [1, 5], [2, 6], [3, 7]].map(([a, b]) => tuple(a!, b!));
    const first = new Builtin('first', (_th, args) => (args[0] as Tuple).elems[0]!);
    expect(r('sorted', [new List(pairs)], [['key', first]])).toBe(
      '[(1, 5), (2, 3), (2, 6), (3, 1), (3, 4), (3, 7), (4, 0), (4, 2)]',
    );
    expect(r('sorted', [new List(pairs)], [['key', first], ['reverse', true]])).toBe(
      '[(4, 0), (4, 2), (3, 1), (3, 4), (3, 7), (2, 3), (2, 6), (1, 5)]',
    );
    // a big input with many ties: stable order = order of the second component
    const big: Value[] = [];
    for (let i = 0; i < 500; i++) big.push(tuple((i * 7919) % 13, i));
    const out = call('sorted', [new List(big)], [['key', first]]) as List;
    for (let i = 1; i < out.elems.length; i++) {
      const [a0, a1] = (out.elems[i - 1] as Tuple).elems as [number, number];
      const [b0, b1] = (out.elems[i] as Tuple).elems as [number, number];
      expect(a0 < b0 || (a0 === b0 && a1 < b1)).toBe(true);
    }
  });
  it('reports the comparison error go.starlark.net reports', () => {
    expect(fails('sorted', [list(1, 2, null, 3)])).toBe('int < NoneType not implemented');
    expect(fails('sorted', [list(1, 'one')])).toBe('string < int not implemented');
    expect(fails('sorted', [list(1, 2, 3)], [['key', null]])).toBe('sorted: for parameter key: got NoneType, want callable');
    expect(fails('sorted', [1])).toBe('sorted: for parameter iterable: got int, want iterable');
    expect(fails('sorted', [list()], [['cmp', 1]])).toMatch(/^sorted: unexpected keyword argument cmp/);
  });
  it('locks the iterable while key functions run', () => {
    const l = list(1, 2);
    const appender = new Builtin('k', (_th, args) => {
      if (l.itercount === 0) throw new Error('not locked');
      return args[0]!;
    });
    expect(r('sorted', [l], [['key', appender]])).toBe('[1, 2]');
    expect(l.itercount).toBe(0);
  });
});

describe('min, max', () => {
  it('finds extrema', () => {
    expect(call('min', [5, -2, 1, 7, 3])).toBe(-2);
    expect(call('max', [5, -2, 1, 7, 3])).toBe(7);
    expect(call('min', [list(5, -2, 1)])).toBe(-2);
    expect(call('max', ['one', 'two', 'three', 'four'])).toBe('two');
    expect(call('max', ['two', 'three', 'four'], [['key', len]])).toBe('three');
    expect(call('min', ['two', 'three', 'four'], [['key', len]])).toBe('two'); // first of equals wins
    expect(call('max', [list(1, 3, 3)])).toBe(3);
    expect(repr(call('max', [1, f(NaN)]))).toBe('nan');
  });
  it('fails as the reference does', () => {
    expect(fails('min', [])).toBe('min requires at least one positional argument');
    expect(fails('min', [1])).toBe('min: int value is not iterable');
    expect(fails('max', [list()])).toBe('max: argument is an empty sequence');
    expect(fails('max', [1, 'a'])).toBe('max: string > int not implemented');
    expect(fails('min', [list(1)], [['default', 0]])).toMatch(/^min: unexpected keyword argument default/);
    expect(fails('min', [list(1)], [['key', 1]])).toBe('min: for parameter key: got int, want callable');
  });
});

describe('print and fail', () => {
  it('print joins str() of its arguments', () => {
    const th = thread();
    call('print', [1, 'hi', list('x')], null, th);
    call('print', ['a', 'b'], [['sep', ', ']], th);
    call('print', [], null, th);
    call('print', ['\xc3\xa9', new Bytes('\xc3\xa9!')], null, th);
    expect(th.printed).toEqual(['1 hi ["x"]', 'a, b', '', 'é é!']); // JS text for the host
    expect(fails('print', [1], [['sep', 1]])).toBe('print: for parameter sep: got int, want string');
    expect(fails('print', [1], [['end', '']])).toMatch(/^print: unexpected keyword argument end/);
  });
  it('fail raises a "fail" error', () => {
    const e = err(() => call('fail', ['oops', 1, false], [['sep', '/']]));
    expect(e.kind).toBe('fail');
    expect(e.message).toBe('fail: oops/1/False');
    expect(fails('fail', [])).toBe('fail: ');
    expect(fails('fail', [list('x')])).toBe('fail: ["x"]');
  });
});

describe('dir, getattr, hasattr', () => {
  it('lists methods', () => {
    expect(r('dir', [null])).toBe('[]');
    expect(r('dir', [1])).toBe('[]');
    expect(repr(new List((call('dir', [list()]) as List).elems.slice(0, 3)))).toBe('["append", "clear", "extend"]');
    expect(repr(new List((call('dir', [new Dict()]) as List).elems.slice(0, 3)))).toBe('["clear", "get", "items"]');
    const a = call('dir', [list()]) as List;
    const b = call('dir', [list()]) as List;
    expect(a).not.toBe(b); // a new list each time
  });
  it('getattr and hasattr', () => {
    const m = call('getattr', [list(), 'append']);
    expect(repr(m)).toBe('<built-in method append of list value>');
    expect(call('hasattr', [list(), 'append'])).toBe(true);
    expect(call('hasattr', [list(), 'appendx'])).toBe(false);
    expect(call('getattr', [1, 'x', 42])).toBe(42);
    expect(fails('getattr', [1, 'x'])).toBe('getattr: int has no .x field or method');
    expect(fails('getattr', [1, 2])).toBe('getattr: for parameter 2: got int, want string');
    expect(fails('getattr', [1])).toBe('getattr: got 1 arguments, want at least 2');
    expect(fails('hasattr', [1])).toBe('hasattr: got 1 arguments, want 2');
    const mod = new Module('m', new Map<string, Value>([['x', 1]]));
    expect(call('getattr', [mod, 'x'])).toBe(1);
    expect(call('hasattr', [mod, 'y'])).toBe(false);
  });
  it('never reaches JS properties', () => {
    const values: Value[] = [null, 1, 'abc', true, list(), new Dict(), new StarSet(), tuple(), new Range(0, 1, 1), f(1), new Module('m', new Map())];
    const names = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'elems', 'map', 'frozen', 'type', 'length', 'repr'];
    for (const v of values) {
      for (const n of names) {
        expect(call('hasattr', [v, n]), `hasattr(${repr(v)}, ${n})`).toBe(false);
        expect(call('getattr', [v, n, 'dflt']), `getattr(${repr(v)}, ${n})`).toBe('dflt');
        expect(fails('getattr', [v, n])).toMatch(/has no \..* field or method$/);
      }
      expect((call('dir', [v]) as List).elems).not.toContain('__proto__');
    }
  });
});
