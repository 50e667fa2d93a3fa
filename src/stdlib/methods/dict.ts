/**
 * This file defines the methods of `dict` (clear, get, items, keys, pop, popitem, setdefault, update,
 * values) and `dictFromArgs`, the shared core of the `dict(...)` builtin and `dict.update`. Semantics
 * and error wording follow go.starlark.net: errors carry the method's name ("pop: missing key",
 * "update: dictionary update sequence element #0 has length 3, want 2").
 */
import { EvalError } from '../../interpreter/errors.js';
import {
  defineMethods,
  Dict,
  iterElems,
  length,
  List,
  Range,
  repr,
  Tuple,
  typeName,
  unpackPositional,
  type BuiltinImpl,
  type KwArgs,
  type Value,
  chargeSteps,
  OBJECT_BYTES,
  SLOT_BYTES,
} from '../../interpreter/values/index.js';
import { chargeElements, isIterable, prefixError } from './list.js';

/**
 * Inserts into `d` the pairs of the optional positional argument (a dict, or an iterable of
 * 2-element iterables) and then the keyword arguments, as `dict(...)` and `dict.update(...)` do.
 * Errors are unprefixed ("got NoneType, want iterable"); callers add their name.
 * Precondition: `updates.length <= 1`.
 */
function updateDict(d: Dict, updates: readonly Value[], kwargs: KwArgs | null): void {
  if (updates.length === 1) {
    const u = updates[0]!;
    if (u instanceof Dict) {
      chargeSteps(u.size);
      for (const [k, v] of u.entries()) d.set(k, v);
    } else {
      if (!isIterable(u)) throw new EvalError(`got ${typeName(u)}, want iterable`);
      const elems = iterElems(u);
      const n = elems instanceof Range ? elems.length : elems.length;
      for (let i = 0; i < n; i++) {
        if ((i & 0xfff) === 0) chargeSteps(Math.min(0x1000, n - i));
        const pair = elems instanceof Range ? elems.at(i) : elems[i]!;
        if (!isIterable(pair)) {
          throw new EvalError(`dictionary update sequence element #${i} is not iterable (${typeName(pair)})`);
        }
        const len = length(pair);
        if (len < 0) throw new EvalError(`dictionary update sequence element #${i} has unknown length (${typeName(pair)})`);
        if (len !== 2) throw new EvalError(`dictionary update sequence element #${i} has length ${len}, want 2`);
        let k: Value;
        let v: Value;
        if (pair instanceof Tuple || pair instanceof List) {
          k = pair.elems[0]!;
          v = pair.elems[1]!;
        } else {
          const kv = iterElems(pair);
          k = kv instanceof Range ? kv.at(0) : kv[0]!;
          v = kv instanceof Range ? kv.at(1) : kv[1]!;
        }
        d.set(k, v);
      }
    }
  }
  if (kwargs !== null && kwargs.length > 0) {
    const before = d.size;
    for (const [k, v] of kwargs) d.set(k, v);
    // Each keyword normally adds an entry; if not, report a duplicated keyword.
    if (d.size < before + kwargs.length) {
      const seen = new Set<string>();
      for (const [k] of kwargs) {
        if (seen.has(k)) throw new EvalError(`duplicate keyword arg: ${repr(k)}`);
        seen.add(k);
      }
    }
  }
}

/**
 * Builds the dict of a `dict(...)` call: at most one positional argument (a dict or an iterable of
 * pairs), then keyword arguments, later entries winning.
 * @throws EvalError "dict: got 2 arguments, want at most 1", "dict: got NoneType, want iterable", ...
 * @example dictFromArgs([new List([new Tuple([1, 2])])], [['x', 3]])  // {1: 2, "x": 3}
 */
export function dictFromArgs(args: readonly Value[], kwargs: KwArgs | null): Dict {
  if (args.length > 1) throw new EvalError(`dict: got ${args.length} arguments, want at most 1`);
  const d = new Dict();
  try {
    updateDict(d, args, kwargs);
  } catch (e) {
    throw prefixError('dict', e);
  }
  return d;
}

function recvDict(recv: Value): Dict {
  return recv as Dict;
}

// https://github.com/google/starlark-go/blob/master/doc/spec.md#dict·clear
// x = {"a": 1}; x.clear()  # x == {}
const clear: BuiltinImpl = (_th, args, kwargs, recv) => {
  unpackPositional('clear', args, kwargs, 0);
  try {
    recvDict(recv).clear();
  } catch (e) {
    throw prefixError('clear', e);
  }
  return null;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#dict·get
// {"a": 1}.get("b", 0)  # 0
const get: BuiltinImpl = (_th, args, kwargs, recv) => {
  unpackPositional('get', args, kwargs, 1, 2);
  let v: Value | undefined;
  try {
    v = recvDict(recv).get(args[0]!);
  } catch (e) {
    throw prefixError('get', e);
  }
  if (v !== undefined) return v;
  return args.length > 1 ? args[1]! : null;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#dict·items
// {"a": 1}.items()  # [("a", 1)]
const items: BuiltinImpl = (th, args, kwargs, recv) => {
  unpackPositional('items', args, kwargs, 0);
  const d = recvDict(recv);
  // Each item: a slot in the list, a tuple, and the pair array that entries() makes on the way.
  th.charge(d.size * (3 * SLOT_BYTES + 2 * OBJECT_BYTES) + OBJECT_BYTES);
  th.work(d.size / 2);
  return new List(d.entries().map(([k, v]) => new Tuple([k, v])));
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#dict·keys
// {"a": 1, "b": 2}.keys()  # ["a", "b"]
const keys: BuiltinImpl = (th, args, kwargs, recv) => {
  unpackPositional('keys', args, kwargs, 0);
  const d = recvDict(recv);
  chargeElements(th, d.size);
  return new List(d.keys());
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#dict·pop
// x = {"a": 1}; x.pop("a")  # 1;  x.pop("z", None)  # None
const pop: BuiltinImpl = (_th, args, kwargs, recv) => {
  unpackPositional('pop', args, kwargs, 1, 2);
  let v: Value | undefined;
  try {
    v = recvDict(recv).delete(args[0]!);
  } catch (e) {
    throw prefixError('pop', e); // frozen, iterating, or unhashable key
  }
  if (v !== undefined) return v;
  if (args.length > 1) return args[1]!;
  throw new EvalError('pop: missing key');
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#dict·popitem
// x = {"a": 1, "b": 2}; x.popitem()  # ("a", 1)
const popitem: BuiltinImpl = (_th, args, kwargs, recv) => {
  unpackPositional('popitem', args, kwargs, 0);
  const d = recvDict(recv);
  if (d.size === 0) throw new EvalError('popitem: empty dict');
  const k = d.firstKey()!;
  try {
    const v = d.delete(k)!;
    return new Tuple([k, v]);
  } catch (e) {
    throw prefixError('popitem', e);
  }
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#dict·setdefault
// x = {}; x.setdefault("a", 1)  # 1, and x == {"a": 1}
const setdefault: BuiltinImpl = (_th, args, kwargs, recv) => {
  unpackPositional('setdefault', args, kwargs, 1, 2);
  const d = recvDict(recv);
  const key = args[0]!;
  const dflt = args.length > 1 ? args[1]! : null;
  try {
    const v = d.get(key);
    if (v !== undefined) return v;
    d.set(key, dflt);
  } catch (e) {
    throw prefixError('setdefault', e);
  }
  return dflt;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#dict·update
// x = {"a": 1}; x.update([("b", 2)], c=3)  # x == {"a": 1, "b": 2, "c": 3}
const update: BuiltinImpl = (_th, args, kwargs, recv) => {
  if (args.length > 1) throw new EvalError(`update: got ${args.length} arguments, want at most 1`);
  try {
    updateDict(recvDict(recv), args, kwargs);
  } catch (e) {
    throw prefixError('update', e);
  }
  return null;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#dict·values
// {"a": 1, "b": 2}.values()  # [1, 2]
const values: BuiltinImpl = (th, args, kwargs, recv) => {
  unpackPositional('values', args, kwargs, 0);
  const d = recvDict(recv);
  chargeElements(th, d.size);
  return new List(d.values());
};

defineMethods('dict', { clear, get, items, keys, pop, popitem, setdefault, update, values });
