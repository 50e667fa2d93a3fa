/**
 * This file defines the methods of `set` (add, clear, difference, discard, intersection, issubset,
 * issuperset, pop, remove, symmetric_difference, union, update), the optional type enabled by the
 * `set` dialect option. Semantics and error wording follow go.starlark.net: errors carry the
 * method's name ("remove: missing key", "union: argument #1 is not iterable: int"), and mutators
 * fail on a frozen or iterated set even when they would change nothing (add of a present element).
 */
import { EvalError } from '../../interpreter/errors.js';
import {
  defineMethods,
  hashKey,
  iterElems,
  length,
  lock,
  Range,
  StarSet,
  typeName,
  unlock,
  unpackPositional,
  type BuiltinImpl,
  type KwArgs,
  type Value,
  chargeBytes,
  chargeSteps,
  ENTRY_BYTES,
  OBJECT_BYTES,
} from '../../interpreter/values/index.js';
import { isIterable, mutationError, prefixError, wantIterable } from './list.js';

function recvSet(recv: Value): StarSet {
  return recv as StarSet;
}

/**
 * Calls `f` on each element of iterable `v`, charging a step per element (every 4096); iterated
 * sets and lists are locked meanwhile.
 */
function forEachElem(v: Value, f: (x: Value) => void): void {
  const e = iterElems(v);
  const n = e.length;
  if (e instanceof Range) {
    for (let i = 0; i < n; i++) {
      if ((i & 0xfff) === 0) chargeSteps(Math.min(0x1000, n - i));
      f(e.at(i));
    }
    return;
  }
  lock(v);
  try {
    for (let i = 0; i < n; i++) {
      if ((i & 0xfff) === 0) chargeSteps(Math.min(0x1000, n - i));
      f(e[i]!);
    }
  } finally {
    unlock(v);
  }
}

/** The elements of iterable `v` as a map from hash key to value (first occurrence wins). */
function keyed(v: Value): Map<unknown, Value> {
  if (v instanceof StarSet) return v.map;
  chargeBytes(length(v) * ENTRY_BYTES + OBJECT_BYTES);
  const m = new Map<unknown, Value>();
  forEachElem(v, (x) => {
    const k = hashKey(x);
    if (!m.has(k)) m.set(k, x);
  });
  return m;
}

/** The single iterable argument of difference, intersection, issubset... */
function oneIterable(name: string, args: Value[], kwargs: KwArgs | null): Value {
  unpackPositional(name, args, kwargs, 1);
  wantIterable(name, '1', args[0]!);
  return args[0]!;
}

/** Adds the elements of each iterable in `args` to `s` (union, update). */
function addAll(name: string, s: StarSet, args: Value[], kwargs: KwArgs | null): void {
  if (kwargs !== null && kwargs.length > 0) throw new EvalError(`${name}: does not accept keyword arguments`);
  for (let i = 0; i < args.length; i++) {
    if (!isIterable(args[i]!)) throw new EvalError(`${name}: argument #${i + 1} is not iterable: ${typeName(args[i]!)}`);
  }
  try {
    for (const a of args) forEachElem(a, (x) => s.add(x));
  } catch (e) {
    throw prefixError(name, e);
  }
}

function copyOf(s: StarSet): StarSet {
  chargeBytes(s.size * ENTRY_BYTES + OBJECT_BYTES);
  chargeSteps(s.size);
  const r = new StarSet();
  for (const [k, v] of s.map) r.map.set(k, v);
  return r;
}

// https://github.com/google/starlark-go/blob/master/doc/spec.md#set·add
// x = set([1]); x.add(2)  # x == set([1, 2])
const add: BuiltinImpl = (th, args, kwargs, recv) => {
  unpackPositional('add', args, kwargs, 1);
  const s = recvSet(recv);
  if (s.frozen || s.itercount > 0) mutationError('add', s, 'insert into');
  th.charge(ENTRY_BYTES);
  try {
    s.add(args[0]!);
  } catch (e) {
    throw prefixError('add', e);
  }
  return null;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#set·clear
// x = set([1]); x.clear()  # x == set()
const clear: BuiltinImpl = (_th, args, kwargs, recv) => {
  unpackPositional('clear', args, kwargs, 0);
  const s = recvSet(recv);
  if (s.size > 0) {
    try {
      s.clear();
    } catch (e) {
      throw prefixError('clear', e);
    }
  }
  return null;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#set·difference
// set([1, 2, 3]).difference([3, 4])  # set([1, 2])
const difference: BuiltinImpl = (_th, args, kwargs, recv) => {
  const other = oneIterable('difference', args, kwargs);
  const r = copyOf(recvSet(recv));
  try {
    forEachElem(other, (x) => void r.map.delete(hashKey(x)));
  } catch (e) {
    throw prefixError('difference', e);
  }
  return r;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#set·discard
// x = set([1, 2]); x.discard(2); x.discard(5)  # x == set([1])
const discard: BuiltinImpl = (_th, args, kwargs, recv) => {
  unpackPositional('discard', args, kwargs, 1);
  const s = recvSet(recv);
  if (s.frozen || s.itercount > 0) mutationError('discard', s, 'delete from');
  try {
    s.delete(args[0]!);
  } catch (e) {
    throw prefixError('discard', e);
  }
  return null;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#set·intersection
// set([1, 2, 3]).intersection([3, 4])  # set([3])
const intersection: BuiltinImpl = (_th, args, kwargs, recv) => {
  const other = oneIterable('intersection', args, kwargs);
  const s = recvSet(recv);
  const r = new StarSet();
  try {
    forEachElem(other, (x) => {
      const k = hashKey(x);
      if (s.map.has(k) && !r.map.has(k)) r.map.set(k, x);
    });
  } catch (e) {
    throw prefixError('intersection', e);
  }
  return r;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#set·issubset
// set([1, 2]).issubset([1, 2, 3])  # True
const issubset: BuiltinImpl = (_th, args, kwargs, recv) => {
  const other = oneIterable('issubset', args, kwargs);
  const s = recvSet(recv);
  let m: Map<unknown, Value>;
  try {
    m = keyed(other);
  } catch (e) {
    throw prefixError('issubset', e);
  }
  chargeSteps(s.size);
  for (const k of s.map.keys()) if (!m.has(k)) return false;
  return true;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#set·issuperset
// set([1, 2, 3]).issuperset([1, 2])  # True
const issuperset: BuiltinImpl = (_th, args, kwargs, recv) => {
  const other = oneIterable('issuperset', args, kwargs);
  const s = recvSet(recv);
  let all = true;
  try {
    forEachElem(other, (x) => {
      if (all && !s.map.has(hashKey(x))) all = false;
    });
  } catch (e) {
    throw prefixError('issuperset', e);
  }
  return all;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#set·pop
// x = set([1, 2]); x.pop()  # 1, the first inserted
const pop: BuiltinImpl = (_th, args, kwargs, recv) => {
  unpackPositional('pop', args, kwargs, 0);
  const s = recvSet(recv);
  const first = s.map.values().next();
  if (first.done) throw new EvalError('pop: empty set');
  try {
    s.delete(first.value);
  } catch (e) {
    throw prefixError('pop', e);
  }
  return first.value;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#set·remove
// x = set([1, 2]); x.remove(2)  # x == set([1])
const remove: BuiltinImpl = (_th, args, kwargs, recv) => {
  unpackPositional('remove', args, kwargs, 1);
  let found: boolean;
  try {
    found = recvSet(recv).delete(args[0]!);
  } catch (e) {
    throw prefixError('remove', e); // frozen, iterating, or unhashable
  }
  if (!found) throw new EvalError('remove: missing key');
  return null;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#set·symmetric_difference
// set([1, 2, 3]).symmetric_difference([3, 4])  # set([1, 2, 4])
const symmetric_difference: BuiltinImpl = (_th, args, kwargs, recv) => {
  const other = oneIterable('symmetric_difference', args, kwargs);
  const s = recvSet(recv);
  let m: Map<unknown, Value>;
  try {
    m = keyed(other);
  } catch (e) {
    throw prefixError('symmetric_difference', e);
  }
  chargeBytes((s.size + m.size) * ENTRY_BYTES + OBJECT_BYTES);
  chargeSteps(s.size + m.size);
  const r = new StarSet();
  for (const [k, v] of s.map) if (!m.has(k)) r.map.set(k, v);
  for (const [k, v] of m) if (!s.map.has(k)) r.map.set(k, v);
  return r;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#set·union
// set([1, 2]).union([2, 3], (4,))  # set([1, 2, 3, 4])
const union: BuiltinImpl = (_th, args, kwargs, recv) => {
  const r = copyOf(recvSet(recv));
  addAll('union', r, args, kwargs);
  return r;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#set·update
// x = set([1]); x.update([2], [3])  # x == set([1, 2, 3])
const update: BuiltinImpl = (_th, args, kwargs, recv) => {
  addAll('update', recvSet(recv), args, kwargs);
  return null;
};

defineMethods('set', {
  add,
  clear,
  difference,
  discard,
  intersection,
  issubset,
  issuperset,
  pop,
  remove,
  symmetric_difference,
  union,
  update,
});
