/**
 * Unit tests of the list, dict and set methods (src/stdlib/methods/{list,dict,set}.ts), called
 * through `getAttr` as the evaluator calls them. Error messages are pinned to go.starlark.net's
 * wording, including "hash table" for a frozen or iterated dict or set.
 */
import { describe, expect, it } from 'vitest';
import { EvalError } from '../../src/interpreter/errors.js';
import {
  Builtin,
  Dict,
  Float,
  getAttr,
  List,
  lock,
  Range,
  repr,
  StarSet,
  Tuple,
  unlock,
  type KwArgs,
  type ThreadContext,
  type Value,
} from '../../src/interpreter/values/index.js';
import { dictFromArgs } from '../../src/stdlib/methods/dict.js';
import '../../src/stdlib/methods/list.js';
import '../../src/stdlib/methods/set.js';

let charged = 0;
const th: ThreadContext = {
  name: 't',
  print() {},
  charge(n: number) {
    charged += n;
  },
  work() {},
  call(): Value {
    throw new Error('unused');
  },
  locals: new Map(),
};

/** Calls method `name` of `recv`. */
function m(recv: Value, name: string, args: Value[] = [], kwargs: KwArgs | null = null): Value {
  const b = getAttr(recv, name);
  if (!(b instanceof Builtin)) throw new Error('not a method');
  return b.impl(th, args, kwargs, b.recv) as Value;
}

function fails(recv: Value, name: string, args: Value[] = [], kwargs: KwArgs | null = null): string {
  try {
    m(recv, name, args, kwargs);
  } catch (e) {
    if (e instanceof EvalError) return e.message;
    throw e;
  }
  throw new Error(`${name} did not fail`);
}

const list = (...xs: Value[]) => new List(xs);
const tuple = (...xs: Value[]) => new Tuple(xs);
function dict(...kv: [Value, Value][]): Dict {
  const d = new Dict();
  for (const [k, v] of kv) d.set(k, v);
  return d;
}
function set(...xs: Value[]): StarSet {
  const s = new StarSet();
  for (const x of xs) s.add(x);
  return s;
}
function frozen<T extends Value>(v: T): T {
  (v as List).freeze();
  return v;
}
/** Runs f while v is being iterated. */
function during(v: Value, f: () => unknown): unknown {
  lock(v);
  try {
    return f();
  } finally {
    unlock(v);
  }
}
function failsDuring(v: Value, name: string, args: Value[] = []): string {
  return during(v, () => fails(v, name, args)) as string;
}

describe('list methods', () => {
  it('append, clear, extend', () => {
    const x = list(1);
    expect(m(x, 'append', ['abc'])).toBe(null);
    expect(repr(x)).toBe('[1, "abc"]');
    m(x, 'extend', [tuple(true, false)]);
    m(x, 'extend', [new Range(0, 3, 1)]);
    m(x, 'extend', [dict(['k', 1])]);
    expect(repr(x)).toBe('[1, "abc", True, False, 0, 1, 2, "k"]');
    m(x, 'extend', [x]);
    expect(x.elems.length).toBe(16);
    expect(m(x, 'clear')).toBe(null);
    expect(repr(x)).toBe('[]');
    expect(fails(x, 'extend', [1])).toBe('extend: for parameter 1: got int, want iterable');
    expect(fails(x, 'extend', ['abc'])).toBe('extend: for parameter 1: got string, want iterable');
    expect(fails(x, 'append', [])).toBe('append: got 0 arguments, want 1');
    expect(fails(x, 'append', [1], [['x', 1]])).toBe('append: unexpected keyword arguments');
  });
  it('charges growth', () => {
    charged = 0;
    m(list(), 'extend', [new Range(0, 100, 1)]);
    expect(charged).toBeGreaterThanOrEqual(100);
  });
  it('refuses to mutate frozen or iterated lists', () => {
    const f = frozen(list(1, 2, 3));
    expect(fails(f, 'append', [1])).toBe('append: cannot append to frozen list');
    expect(fails(f, 'clear')).toBe('clear: cannot clear frozen list');
    expect(fails(f, 'extend', [list()])).toBe('extend: cannot extend frozen list');
    expect(fails(f, 'insert', [0, 1])).toBe('insert: cannot insert into frozen list');
    expect(fails(f, 'pop')).toBe('pop: cannot pop from frozen list');
    expect(fails(f, 'remove', [1])).toBe('remove: cannot remove from frozen list');
    expect(m(f, 'index', [2])).toBe(1); // reading is fine
    const it = list(1, 2, 3);
    expect(failsDuring(it, 'append', [1])).toBe('append: cannot append to list during iteration');
    expect(failsDuring(it, 'extend', [list(3, 4)])).toBe('extend: cannot extend list during iteration');
    expect(failsDuring(it, 'remove', [1])).toBe('remove: cannot remove from list during iteration');
    expect(failsDuring(it, 'pop')).toBe('pop: cannot pop from list during iteration');
    expect(failsDuring(it, 'insert', [0, 0])).toBe('insert: cannot insert into list during iteration');
    expect(failsDuring(it, 'clear')).toBe('clear: cannot clear list during iteration');
    expect(repr(it)).toBe('[1, 2, 3]');
  });
  it('index', () => {
    const b = list(...'bananas'.split(''));
    expect(m(b, 'index', ['a'])).toBe(1);
    expect(m(b, 'index', ['a', -1000])).toBe(1);
    expect(m(b, 'index', ['a', 2])).toBe(3);
    expect(m(b, 'index', ['n', -3])).toBe(4);
    expect(m(b, 'index', ['s', -1000, 7])).toBe(6);
    expect(m(b, 'index', ['a', null, null])).toBe(1);
    expect(m(b, 'index', ['a', 2, 1000])).toBe(3);
    expect(fails(b, 'index', ['s', -1000, 6])).toBe('index: value not in list');
    expect(fails(b, 'index', ['n', -2])).toBe('index: value not in list');
    expect(fails(b, 'index', ['d'])).toBe('index: value not in list');
    expect(fails(b, 'index', ['a', 'x'])).toBe('index: invalid start index: got string, want int');
    expect(fails(b, 'index', ['a', 0, new Float(1)])).toBe('index: invalid end index: got float, want int');
    expect(m(list(1, new Float(2)), 'index', [2])).toBe(1); // 2 == 2.0
  });
  it('insert', () => {
    const at = (i: number) => {
      const x = list(0, 1, 2);
      m(x, 'insert', [i, 42]);
      return repr(x);
    };
    expect(at(-99)).toBe('[42, 0, 1, 2]');
    expect(at(-2)).toBe('[0, 42, 1, 2]');
    expect(at(-1)).toBe('[0, 1, 42, 2]');
    expect(at(0)).toBe('[42, 0, 1, 2]');
    expect(at(2)).toBe('[0, 1, 42, 2]');
    expect(at(3)).toBe('[0, 1, 2, 42]');
    expect(at(99)).toBe('[0, 1, 2, 42]');
    expect(fails(list(), 'insert', [new Float(1), 'D'])).toBe('insert: for parameter 1: got float, want int');
  });
  it('pop', () => {
    const x = list(1, 2, 3, 4, 5);
    expect(fails(x, 'pop', [-6])).toBe('pop: list index -6 out of range [-5:4]');
    expect(fails(x, 'pop', [6])).toBe('pop: list index 6 out of range [-5:4]');
    expect(m(x, 'pop')).toBe(5);
    expect(m(x, 'pop', [1])).toBe(2);
    expect(m(x, 'pop', [0])).toBe(1);
    expect(m(x, 'pop', [-2])).toBe(3);
    expect(m(x, 'pop', [-1])).toBe(4);
    expect(repr(x)).toBe('[]');
    expect(fails(x, 'pop')).toBe('pop: index -1 out of range: empty list');
    expect(fails(list(1), 'pop', [2n ** 64n])).toBe('pop: for parameter 1: 18446744073709551616 out of range');
    expect(fails(list(1), 'pop', [1, 2])).toBe('pop: got 2 arguments, want at most 1');
  });
  it('remove', () => {
    const rm = (v: Value) => {
      const x = list(3, 1, 4, 1);
      m(x, 'remove', [v]);
      return repr(x);
    };
    expect(rm(3)).toBe('[1, 4, 1]');
    expect(rm(1)).toBe('[3, 4, 1]');
    expect(rm(4)).toBe('[3, 1, 1]');
    expect(fails(list(3, 1), 'remove', [42])).toBe('remove: element not found');
  });
});

describe('dict methods', () => {
  it('get, keys, values, items', () => {
    const d = dict(['a', 1], ['b', 2]);
    expect(m(d, 'get', ['a'])).toBe(1);
    expect(m(d, 'get', ['z'])).toBe(null);
    expect(m(d, 'get', ['z', 0])).toBe(0);
    expect(repr(m(d, 'keys'))).toBe('["a", "b"]');
    expect(repr(m(d, 'values'))).toBe('[1, 2]');
    expect(repr(m(d, 'items'))).toBe('[("a", 1), ("b", 2)]');
    expect(fails(d, 'get', [list()])).toBe('get: unhashable type: list');
    expect(fails(d, 'get', [])).toBe('get: got 0 arguments, want at least 1');
    expect(fails(d, 'keys', [1])).toBe('keys: got 1 arguments, want 0');
    const fd = dict([1, 'x']);
    expect(m(fd, 'get', [new Float(1)])).toBe('x');
    expect(repr(m(dict([new Float(1.5), 1]), 'keys'))).toBe('[1.5]');
  });
  it('pop, popitem', () => {
    const d = dict(['a', 1], ['b', 2]);
    expect(m(d, 'pop', ['a'])).toBe(1);
    expect(repr(d)).toBe('{"b": 2}');
    expect(fails(d, 'pop', ['c'])).toBe('pop: missing key');
    expect(m(d, 'pop', ['c', 3])).toBe(3);
    expect(m(d, 'pop', ['c', null])).toBe(null);
    const e = dict(['a', 1], [tuple(1, 2), 2]);
    expect(repr(m(e, 'popitem'))).toBe('("a", 1)');
    expect(repr(m(e, 'popitem'))).toBe('((1, 2), 2)');
    expect(fails(e, 'popitem')).toBe('popitem: empty dict');
  });
  it('setdefault', () => {
    const d = dict(['a', 1]);
    expect(m(d, 'setdefault', ['a'])).toBe(1);
    expect(m(d, 'setdefault', ['b'])).toBe(null);
    expect(m(d, 'setdefault', ['c', 2])).toBe(2);
    expect(m(d, 'setdefault', ['c', 3])).toBe(2);
    expect(repr(d)).toBe('{"a": 1, "b": None, "c": 2}');
    frozen(d);
    expect(m(d, 'setdefault', ['a', 9])).toBe(1); // no change, no error
    expect(fails(d, 'setdefault', ['d', 1])).toBe('setdefault: cannot insert into frozen hash table');
  });
  it('update', () => {
    const d = dict(['a', 1]);
    expect(m(d, 'update', [], [['a', 2], ['b', 3]])).toBe(null);
    m(d, 'update', [list(tuple('b', 4), list('c', 5))]);
    m(d, 'update', [dict(['c', 6], ['d', 7])]);
    expect(repr(d)).toBe('{"a": 2, "b": 4, "c": 6, "d": 7}');
    expect(fails(d, 'update', [null])).toBe('update: got NoneType, want iterable');
    expect(fails(d, 'update', [list(), list()])).toBe('update: got 2 arguments, want at most 1');
    expect(fails(d, 'update', [list(list(1))])).toBe('update: dictionary update sequence element #0 has length 1, want 2');
    expect(fails(d, 'update', [list('ab')])).toBe('update: dictionary update sequence element #0 is not iterable (string)');
    frozen(d);
    expect(fails(d, 'update', [dict(['a', 8])])).toBe('update: cannot insert into frozen hash table');
    expect(m(d, 'update', [list()])).toBe(null); // nothing inserted, no error
  });
  it('clear and mutation guards', () => {
    const d = dict(['a', 1]);
    m(d, 'clear');
    expect(repr(d)).toBe('{}');
    const f = frozen(dict(['a', 1]));
    expect(fails(f, 'clear')).toBe('clear: cannot clear frozen hash table');
    expect(fails(f, 'pop', ['a'])).toBe('pop: cannot delete from frozen hash table');
    expect(fails(f, 'pop', ['zz', 0])).toBe('pop: cannot delete from frozen hash table');
    expect(fails(f, 'popitem')).toBe('popitem: cannot delete from frozen hash table');
    const it = dict([1, 1], [2, 1]);
    expect(failsDuring(it, 'pop', [1])).toBe('pop: cannot delete from hash table during iteration');
    expect(failsDuring(it, 'setdefault', [3])).toBe('setdefault: cannot insert into hash table during iteration');
    expect(failsDuring(it, 'update', [dict([3, 3])])).toBe('update: cannot insert into hash table during iteration');
    expect(failsDuring(it, 'clear')).toBe('clear: cannot clear hash table during iteration');
  });
  it('dictFromArgs', () => {
    expect(repr(dictFromArgs([list(tuple('a', 0), tuple('b', 1), tuple('a', 2))], null))).toBe('{"a": 2, "b": 1}');
    expect(repr(dictFromArgs([list(list('a', 2), list('a', 3))], [['a', 4]]))).toBe('{"a": 4}');
    expect(repr(dictFromArgs([new Range(0, 0, 1)], null))).toBe('{}');
    expect(repr(dictFromArgs([list(new Range(5, 7, 1))], null))).toBe('{5: 6}');
    expect(repr(dictFromArgs([list(set(1, 2))], null))).toBe('{1: 2}');
    expect(() => dictFromArgs([dict(['a', 2], ['b', 3])], [['a', 4], ['a', 5]])).toThrow('dict: duplicate keyword arg: "a"');
  });
});

describe('set methods', () => {
  it('add, discard, remove, pop, clear', () => {
    const s = set(1, 2, 3);
    expect(m(s, 'add', [4])).toBe(null);
    m(s, 'add', [1]);
    expect(repr(s)).toBe('set([1, 2, 3, 4])');
    expect(fails(s, 'add', [list(5)])).toBe('add: unhashable type: list');
    expect(m(s, 'discard', [4])).toBe(null);
    expect(m(s, 'discard', [4])).toBe(null);
    expect(fails(s, 'discard', [list(5)])).toBe('discard: unhashable type: list');
    m(s, 'remove', [3]);
    expect(fails(s, 'remove', [3])).toBe('remove: missing key');
    expect(repr(s)).toBe('set([1, 2])');
    expect(m(s, 'pop')).toBe(1);
    expect(m(s, 'pop')).toBe(2);
    expect(fails(s, 'pop')).toBe('pop: empty set');
    m(s, 'add', [7]);
    expect(m(s, 'clear')).toBe(null);
    expect(s.size).toBe(0);
  });
  it('refuses to mutate frozen or iterated sets, even for no-ops', () => {
    const f = frozen(set(1, 2, 3));
    expect(fails(f, 'add', [1])).toBe('add: cannot insert into frozen hash table');
    expect(fails(f, 'add', [5])).toBe('add: cannot insert into frozen hash table');
    expect(fails(f, 'discard', [9])).toBe('discard: cannot delete from frozen hash table');
    expect(fails(f, 'remove', [9])).toBe('remove: cannot delete from frozen hash table');
    expect(fails(f, 'pop')).toBe('pop: cannot delete from frozen hash table');
    expect(fails(f, 'clear')).toBe('clear: cannot clear frozen hash table');
    expect(fails(f, 'update', [list(1)])).toBe('update: cannot insert into frozen hash table');
    expect(m(frozen(set()), 'clear')).toBe(null); // empty: nothing to clear
    expect(m(f, 'union', [list(4)]) instanceof StarSet).toBe(true); // a new set
    const it = set(1, 2);
    expect(failsDuring(it, 'add', [4])).toBe('add: cannot insert into hash table during iteration');
    expect(failsDuring(it, 'discard', [2])).toBe('discard: cannot delete from hash table during iteration');
    const u = set(1);
    expect(fails(u, 'update', [u])).toBe('update: cannot insert into hash table during iteration');
  });
  it('union and update take any number of iterables', () => {
    const x = set(1, 2, 3);
    expect(repr(m(x, 'union', [set(3, 4, 5)]))).toBe('set([1, 2, 3, 4, 5])');
    expect(repr(m(x, 'union', [tuple(6, 5, 4), list(7)]))).toBe('set([1, 2, 3, 6, 5, 4, 7])');
    expect(repr(m(x, 'union'))).toBe('set([1, 2, 3])');
    expect(repr(x)).toBe('set([1, 2, 3])');
    expect(fails(x, 'union', [list(1, dict())])).toBe('union: unhashable type: dict');
    expect(fails(x, 'union', [1, 2])).toBe('union: argument #1 is not iterable: int');
    expect(fails(x, 'union', [], [['x', 1]])).toBe('union: does not accept keyword arguments');
    const y = set(1);
    expect(m(y, 'update', [list(2, 3), new Range(3, 5, 1)])).toBe(null);
    expect(repr(y)).toBe('set([1, 2, 3, 4])');
    expect(fails(y, 'update', [9])).toBe('update: argument #1 is not iterable: int');
  });
  it('difference, intersection, symmetric_difference', () => {
    const x = set(1, 2, 3, 4);
    expect(repr(m(x, 'difference', [list(1, 2)]))).toBe('set([3, 4])');
    expect(repr(m(x, 'difference', [set(1, 2, 3, 4)]))).toBe('set([])');
    expect(repr(m(x, 'intersection', [list(5, 4, 3, 4)]))).toBe('set([4, 3])');
    expect(repr(m(x, 'symmetric_difference', [list(3, 4, 5, 6, 6)]))).toBe('set([1, 2, 5, 6])');
    expect(repr(m(set(1, 2), 'symmetric_difference', [list(2, 3, 3)]))).toBe('set([1, 3])');
    expect(repr(x)).toBe('set([1, 2, 3, 4])');
    expect(fails(x, 'difference', [1])).toBe('difference: for parameter 1: got int, want iterable');
    expect(fails(x, 'intersection', [])).toBe('intersection: got 0 arguments, want 1');
    expect(fails(x, 'difference', [list(list())])).toBe('difference: unhashable type: list');
  });
  it('issubset, issuperset', () => {
    expect(m(set(1, 2), 'issubset', [list(1, 2, 3)])).toBe(true);
    expect(m(set(1, 2, 3), 'issubset', [set(1, 2, 4)])).toBe(false);
    expect(m(set(), 'issubset', [list()])).toBe(true);
    expect(m(set(1, 2, 3), 'issuperset', [list(1, 2)])).toBe(true);
    expect(m(set(1, 2, 3), 'issuperset', [set(1, 2, 4)])).toBe(false);
    expect(m(set(1), 'issuperset', [list(2, list())])).toBe(false); // stops before the unhashable value
    expect(fails(set(1), 'issuperset', [list(list())])).toBe('issuperset: unhashable type: list');
    expect(fails(set(1), 'issubset', [1])).toBe('issubset: for parameter 1: got int, want iterable');
  });
});
