/**
 * This file defines the methods of `list` (append, clear, extend, index, insert, pop, remove) with
 * go.starlark.net's semantics and error wording: every error a method raises is prefixed with the
 * method's name ("pop: list index 6 out of range [-5:4]", "append: cannot append to frozen list").
 *
 * It also exports the small helpers the other container builtins share (iterability, int32
 * arguments, error prefixing), so that the universe and the dict/set methods agree on them.
 */
import { EvalError } from '../../interpreter/errors.js';
import {
  Builtin,
  checkMutable,
  defineMethods,
  Dict,
  Function as StarFunction,
  iterElems,
  List,
  Range,
  StarSet,
  StarValue,
  str,
  Tuple,
  typeName,
  unpackPositional,
  wantError,
  type BuiltinImpl,
  type ThreadContext,
  type Value,
  checkSize,
  chargeSteps,
  COPIES_PER_STEP,
  growthBytes,
  indexOfValue,
  OBJECT_BYTES,
  SLOT_BYTES,
} from '../../interpreter/values/index.js';

// ---------------------------------------------------------------------------------------------
// Shared helpers

/** True if `for x in v` works on v (strings and bytes are not iterable in Starlark). */
export function isIterable(v: Value): boolean {
  return (
    v instanceof List ||
    v instanceof Tuple ||
    v instanceof Dict ||
    v instanceof StarSet ||
    v instanceof Range ||
    (v instanceof StarValue && typeof v.iterate === 'function')
  );
}

/** True if v can be called (a Starlark function or a builtin). */
export function isCallable(v: Value): boolean {
  return v instanceof StarFunction || v instanceof Builtin;
}

/**
 * Charges building a list or tuple of `n` elements copied from elsewhere: its bytes (8 per slot,
 * plus the object) and its work (a step per 8 elements).
 */
export function chargeElements(th: ThreadContext, n: number): void {
  th.charge(n * SLOT_BYTES + OBJECT_BYTES);
  th.work(n / COPIES_PER_STEP);
}

/**
 * A fresh JS array of the elements of iterable `v`, charged to the thread's budgets.
 * The caller has checked `isIterable(v)`.
 */
export function iterableToArray(th: ThreadContext, v: Value): Value[] {
  const e = iterElems(v);
  checkSize(e.length, 'list');
  chargeElements(th, e.length);
  if (e instanceof Range) {
    const out = new Array<Value>(e.length);
    for (let i = 0; i < e.length; i++) out[i] = e.at(i);
    return out;
  }
  return e.slice();
}

/**
 * An iterable parameter of a builtin checked as go.starlark.net's UnpackPositionalArgs checks it:
 * "fn: for parameter 1: got int, want iterable".
 */
export function wantIterable(fnName: string, param: string, v: Value): void {
  if (!isIterable(v)) throw wantError(fnName, param, v, 'iterable');
}

const MIN_INT32 = -0x80000000;
const MAX_INT32 = 0x7fffffff;

/**
 * An int parameter that must fit in 32 bits (go.starlark.net's AsInt32), with its errors:
 * "fn: for parameter p: got string, want int" and "fn: for parameter p: 3000000000 out of range".
 */
export function asInt32(fnName: string, param: string, v: Value): number {
  if (typeof v === 'number') {
    if (v >= MIN_INT32 && v <= MAX_INT32) return v;
    throw new EvalError(`${fnName}: for parameter ${param}: ${v} out of range`);
  }
  if (typeof v === 'bigint') throw new EvalError(`${fnName}: for parameter ${param}: ${str(v)} out of range`);
  throw wantError(fnName, param, v, 'int');
}

/** The error message of AsInt32 alone (no "for parameter" part), or undefined if v is a valid int32. */
export function int32Problem(v: Value): string | undefined {
  if (typeof v === 'number') return v >= MIN_INT32 && v <= MAX_INT32 ? undefined : `${v} out of range`;
  if (typeof v === 'bigint') return `${str(v)} out of range`;
  return `got ${typeName(v)}, want int`;
}

/**
 * `e` with "name: " in front of its message if it is a plain EvalError not yet unwound through any
 * frame (go.starlark.net's nameErr); anything else unchanged. Use only around code that does not
 * call back into Starlark, whose errors must pass through untouched.
 */
export function prefixError(fnName: string, e: unknown): unknown {
  if (e instanceof EvalError && e.kind === 'eval' && e.frames.length === 0) {
    return new EvalError(`${fnName}: ${e.message}`, e.kind, { cause: e });
  }
  return e;
}

/** Throws the named frozen/iteration error of `checkMutable`; call only when the check would fail. */
export function mutationError(
  fnName: string,
  v: { frozen: boolean; itercount: number; type: string },
  verb: string,
): never {
  try {
    checkMutable(v, verb);
  } catch (e) {
    throw prefixError(fnName, e);
  }
  throw new EvalError(`${fnName}: cannot ${verb} ${v.type}`);
}

/**
 * Resolves optional start/end arguments as go.starlark.net's `indices` does: None or absent means
 * the default; negative values count from the end; results are clamped to [0, n].
 */
export function sliceBounds(fnName: string, start: Value | undefined, end: Value | undefined, n: number): [number, number] {
  const one = (v: Value | undefined, dflt: number, what: string): number => {
    if (v === undefined || v === null) return dflt;
    const problem = int32Problem(v);
    if (problem !== undefined) throw new EvalError(`${fnName}: invalid ${what} index: ${problem}`);
    let i = v as number;
    if (i < 0) {
      i += n;
      if (i < 0) i = 0;
    } else if (i > n) {
      i = n;
    }
    return i;
  };
  return [one(start, 0, 'start'), one(end, n, 'end')];
}

function outOfRange(i: number, n: number, type: string): string {
  return n === 0 ? `index ${i} out of range: empty ${type}` : `${type} index ${i} out of range [${-n}:${n - 1}]`;
}

// ---------------------------------------------------------------------------------------------
// Methods

function recvList(recv: Value): List {
  return recv as List;
}

// https://github.com/google/starlark-go/blob/master/doc/spec.md#list·append
// x = []; x.append(1)  # x == [1]
const append: BuiltinImpl = (th, args, kwargs, recv) => {
  unpackPositional('append', args, kwargs, 1);
  const l = recvList(recv);
  if (l.frozen || l.itercount > 0) mutationError('append', l, 'append to');
  th.charge(growthBytes(l.elems.length, 1));
  checkSize(l.elems.length + 1, 'list');
  l.elems.push(args[0]!);
  return null;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#list·clear
// x = [1, 2]; x.clear()  # x == []
const clear: BuiltinImpl = (_th, args, kwargs, recv) => {
  unpackPositional('clear', args, kwargs, 0);
  const l = recvList(recv);
  if (l.frozen || l.itercount > 0) mutationError('clear', l, 'clear');
  l.elems = [];
  return null;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#list·extend
// x = [1]; x.extend((2, 3))  # x == [1, 2, 3]
const extend: BuiltinImpl = (th, args, kwargs, recv) => {
  unpackPositional('extend', args, kwargs, 1);
  const l = recvList(recv);
  const it = args[0]!;
  wantIterable('extend', '1', it);
  if (l.frozen || l.itercount > 0) mutationError('extend', l, 'extend');
  const e = iterElems(it);
  checkSize(l.elems.length + e.length, 'list');
  th.charge(growthBytes(l.elems.length, e.length));
  th.work(e.length / COPIES_PER_STEP);
  if (e instanceof Range) {
    for (let i = 0; i < e.length; i++) l.elems.push(e.at(i));
  } else {
    // Copy first: `x.extend(x)` must not see its own growth.
    const src = e === l.elems ? e.slice() : e;
    for (let i = 0; i < src.length; i++) l.elems.push(src[i]!);
  }
  return null;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#list·index
// ["a", "b", "a"].index("a", 1)  # 2
const index: BuiltinImpl = (_th, args, kwargs, recv) => {
  unpackPositional('index', args, kwargs, 1, 3);
  const l = recvList(recv);
  const [start, end] = sliceBounds('index', args[1], args[2], l.elems.length);
  const x = args[0]!;
  let i: number;
  try {
    i = indexOfValue(l.elems, x, start, Math.min(end, l.elems.length));
  } catch (e) {
    throw prefixError('index', e);
  }
  if (i >= 0) return i;
  throw new EvalError('index: value not in list');
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#list·insert
// x = ["b"]; x.insert(0, "a")  # x == ["a", "b"]
const insert: BuiltinImpl = (th, args, kwargs, recv) => {
  unpackPositional('insert', args, kwargs, 2);
  const l = recvList(recv);
  let i = asInt32('insert', '1', args[0]!);
  if (l.frozen || l.itercount > 0) mutationError('insert', l, 'insert into');
  th.charge(growthBytes(l.elems.length, 1));
  checkSize(l.elems.length + 1, 'list');
  const n = l.elems.length;
  chargeSteps(n / COPIES_PER_STEP); // the elements after the insertion point move
  if (i < 0) i += n;
  if (i >= n) l.elems.push(args[1]!);
  else l.elems.splice(i < 0 ? 0 : i, 0, args[1]!);
  return null;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#list·pop
// x = [1, 2, 3]; x.pop()  # 3;  x.pop(0)  # 1
const pop: BuiltinImpl = (_th, args, kwargs, recv) => {
  unpackPositional('pop', args, kwargs, 0, 1);
  const l = recvList(recv);
  const n = l.elems.length;
  const orig = args.length > 0 ? asInt32('pop', '1', args[0]!) : n - 1;
  const i = orig < 0 ? orig + n : orig;
  if (i < 0 || i >= n) throw new EvalError(`pop: ${outOfRange(orig, n, 'list')}`);
  if (l.frozen || l.itercount > 0) mutationError('pop', l, 'pop from');
  if (i === n - 1) return l.elems.pop()!;
  chargeSteps((n - i) / COPIES_PER_STEP);
  return l.elems.splice(i, 1)[0]!;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#list·remove
// x = [1, 2, 1]; x.remove(1)  # x == [2, 1]
const remove: BuiltinImpl = (_th, args, kwargs, recv) => {
  unpackPositional('remove', args, kwargs, 1);
  const l = recvList(recv);
  if (l.frozen || l.itercount > 0) mutationError('remove', l, 'remove from');
  const x = args[0]!;
  let found = -1;
  try {
    found = indexOfValue(l.elems, x, 0, l.elems.length);
  } catch (e) {
    throw prefixError('remove', e);
  }
  if (found >= 0) {
    chargeSteps((l.elems.length - found) / COPIES_PER_STEP);
    l.elems.splice(found, 1);
    return null;
  }
  throw new EvalError('remove: element not found');
};

defineMethods('list', { append, clear, extend, index, insert, pop, remove });
