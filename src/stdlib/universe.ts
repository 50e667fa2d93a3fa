/**
 * This file defines the universe: the predeclared names every Starlark program sees (None, True,
 * False, len, range, sorted...), after go.starlark.net's `starlark.Universe`, with its semantics and
 * error wording. The text builtins (str, repr, chr, ord, bytes, hash) live in string-builtins.ts and
 * are merged in here. `set` is always present in the map; the resolver hides it unless the `set`
 * dialect option is on. `freeze` is not universal (only the test harness provides it).
 *
 * Builtins that take a function argument (sorted/min/max with `key=`) call it through `th.call` and
 * let its errors through untouched, so Starlark tracebacks stay intact. The sort itself is in sort.ts.
 */
import { setUniverse } from '../interpreter/exec.js';
import { EvalError } from '../interpreter/errors.js';
import {
  asString,
  attrNames,
  Builtin,
  Bytes,
  compare,
  EMPTY_TUPLE,
  Float,
  floatToInt,
  getAttrOrUndefined,
  noSuchAttrMessage,
  intNeg,
  intToFloat,
  isInt,
  iterElems,
  length,
  List,
  lock,
  normBig,
  Range,
  repr,
  StarSet,
  str,
  truth,
  Tuple,
  typeName,
  unlock,
  unpackArgs,
  unpackPositional,
  utf8Decode,
  wantError,
  type BuiltinImpl,
  type Int,
  type KwArgs,
  type ThreadContext,
  type Value,
  checkSize,
  checkIntDigits,
  chargeSteps,
  incremental,
  OBJECT_BYTES,
  SLOT_BYTES,
} from '../interpreter/values/index.js';
import { dictFromArgs } from './methods/dict.js';
import { asInt32, chargeElements, isCallable, isIterable, iterableToArray, prefixError, wantIterable } from './methods/list.js';
import { stringBuiltins } from './string-builtins.js';
import { RUN, sortPieces, stableSort } from './sort.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * Calls `f` on each element of iterable `v`, charging a step per element (every 4096); lists, dicts
 * and sets are locked against mutation meanwhile.
 */
function forEach(v: Value, f: (x: Value) => boolean | void): void {
  const e = iterElems(v);
  const n = e.length;
  if (e instanceof Range) {
    for (let i = 0; i < n; i++) {
      if ((i & 0xfff) === 0) chargeSteps(Math.min(0x1000, n - i));
      if (f(e.at(i)) === false) return;
    }
    return;
  }
  lock(v);
  try {
    for (let i = 0; i < n; i++) {
      if ((i & 0xfff) === 0) chargeSteps(Math.min(0x1000, n - i));
      if (f(e[i]!) === false) return;
    }
  } finally {
    unlock(v);
  }
}

/** `str(x)` for print/fail: strings as themselves, everything else as its repr. */
function joinArgs(args: readonly Value[], sep: string, rawBytes: boolean): string {
  let out = '';
  for (let i = 0; i < args.length; i++) {
    if (i > 0) out += sep;
    const v = args[i]!;
    out += rawBytes && v instanceof Bytes ? v.s : str(v);
  }
  return out;
}

function sepArg(fnName: string, kwargs: KwArgs | null): string {
  if (kwargs === null || kwargs.length === 0) return ' ';
  const [sep] = unpackArgs(fnName, [], kwargs, ['sep?']);
  return sep === undefined ? ' ' : asString(fnName, 'sep', sep);
}

function noKeywords(fnName: string, kwargs: KwArgs | null): void {
  if (kwargs !== null && kwargs.length > 0) throw new EvalError(`${fnName} does not accept keyword arguments`);
}

// ---------------------------------------------------------------------------------------------
// Number parsing

/** Digit value of char code c in bases up to 36, or 99. */
function digitValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 122) return c - 87;
  if (c >= 65 && c <= 90) return c - 55;
  return 99;
}

/** Parses unsigned digits in `base` (2..36), no prefix, no underscores; undefined if invalid. */
function parseDigits(s: string, base: number): Int | undefined {
  if (s.length === 0) return undefined;
  for (let i = 0; i < s.length; i++) if (digitValue(s.charCodeAt(i)) >= base) return undefined;
  // Fast path: the value certainly fits in 53 bits.
  if (s.length * Math.log2(base) < 52) return parseInt(s, base);
  checkIntDigits(s.length, base);
  chargeSteps(s.length);
  switch (base) {
    case 10:
      return normBig(BigInt(s));
    case 16:
      return normBig(BigInt('0x' + s));
    case 8:
      return normBig(BigInt('0o' + s));
    case 2:
      return normBig(BigInt('0b' + s));
  }
  const B = BigInt(base);
  let r = 0n;
  for (let i = 0; i < s.length; i++) r = r * B + BigInt(digitValue(s.charCodeAt(i)));
  return normBig(r);
}

/** go.starlark.net's parseInt: the value of `int(s, base)` or undefined if s is not a valid literal. */
function parseIntLiteral(s0: string, base0: number): Int | undefined {
  let s = s0;
  let base = base0;
  let neg = false;
  if (s !== '') {
    if (s[0] === '+') s = s.slice(1);
    else if (s[0] === '-') {
      neg = true;
      s = s.slice(1);
    }
  }
  if (s.length > 1 && s[0] === '0') {
    let prefix = 0;
    if (s.length > 2) {
      switch (s[1]) {
        case 'o':
        case 'O':
          prefix = 8;
          break;
        case 'x':
        case 'X':
          prefix = 16;
          break;
        case 'b':
        case 'B':
          prefix = 2;
          break;
      }
    }
    if (prefix !== 0) {
      // The prefix is removed if it matches the explicit base, or if base is 0.
      if (base === 0 || prefix === base) {
        base = prefix;
        s = s.slice(2);
      }
    } else if (base === 0) {
      // With automatic base detection, a literal starting with 0 must be all zeros ("0755" is invalid).
      for (let i = 1; i < s.length; i++) if (s[i] !== '0') return undefined;
      return 0;
    }
  }
  if (base === 0) base = 10;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) return undefined;
  const v = parseDigits(s, base);
  if (v === undefined) return undefined;
  return neg ? intNeg(v) : v;
}

const DECIMAL_FLOAT = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const HEX_FLOAT = /^([+-]?)0[xX]_?([0-9a-fA-F]*(?:_[0-9a-fA-F]+)*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?[0-9]+)$/;

/** Go's strconv.ParseFloat(s, 64) for the syntax float() reaches it with; NaN marks a syntax error. */
function parseGoFloat(s: string): number {
  if (DECIMAL_FLOAT.test(s)) return Number(s);
  const m = HEX_FLOAT.exec(s);
  if (m) {
    const intPart = m[2]!.replace(/_/g, '');
    const frac = m[3] ?? '';
    if (intPart.length + frac.length === 0) return NaN;
    const mant = BigInt('0x' + (intPart + frac || '0'));
    const exp = parseInt(m[4]!, 10) - 4 * frac.length;
    let f = Number(mant) * Math.pow(2, exp);
    if (!Number.isFinite(f) && Number(mant) !== Infinity && exp < 0) f = 0;
    return m[1] === '-' ? -f : f;
  }
  return NaN;
}

function eqFold(a: string, b: string): boolean {
  return a.toLowerCase() === b;
}

// ---------------------------------------------------------------------------------------------
// The builtins

// https://github.com/google/starlark-go/blob/master/doc/spec.md#abs
// abs(-3)  # 3;  abs(-1.5)  # 1.5
const abs: BuiltinImpl = (_th, args, kwargs) => {
  unpackPositional('abs', args, kwargs, 1);
  const x = args[0]!;
  if (x instanceof Float) return new Float(Math.abs(x.v));
  if (isInt(x)) return x < 0 ? intNeg(x) : x;
  throw new EvalError(`got ${typeName(x)}, want int or float`);
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#all
// all([1, True, "x"])  # True
const all: BuiltinImpl = (_th, args, kwargs) => {
  unpackPositional('all', args, kwargs, 1);
  wantIterable('all', '1', args[0]!);
  let r = true;
  forEach(args[0]!, (x) => (truth(x) ? true : (r = false)));
  return r;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#any
// any([0, "", "x"])  # True
const any: BuiltinImpl = (_th, args, kwargs) => {
  unpackPositional('any', args, kwargs, 1);
  wantIterable('any', '1', args[0]!);
  let r = false;
  forEach(args[0]!, (x) => {
    if (truth(x)) {
      r = true;
      return false;
    }
    return true;
  });
  return r;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#bool
// bool([])  # False
const bool: BuiltinImpl = (_th, args, kwargs) => {
  unpackPositional('bool', args, kwargs, 0, 1);
  return args.length > 0 && truth(args[0]!);
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#dict
// dict([("a", 1)], b=2)  # {"a": 1, "b": 2}
const dict: BuiltinImpl = (_th, args, kwargs) => dictFromArgs(args, kwargs);

// https://github.com/google/starlark-go/blob/master/doc/spec.md#dir
// dir([])[:2]  # ["append", "clear"]
const dir: BuiltinImpl = (_th, args, kwargs) => {
  noKeywords('dir', kwargs);
  if (args.length !== 1) throw new EvalError(`dir: got ${args.length} arguments, want 1`);
  return new List(attrNames(args[0]!));
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#enumerate
// enumerate(["a", "b"], 1)  # [(1, "a"), (2, "b")]
const enumerate: BuiltinImpl = (th, args, kwargs) => {
  unpackPositional('enumerate', args, kwargs, 1, 2);
  const it = args[0]!;
  wantIterable('enumerate', '1', it);
  const start = args.length > 1 ? asInt32('enumerate', '2', args[1]!) : 0;
  const elems = iterableToArray(th, it);
  const n = elems.length;
  th.charge(n * (OBJECT_BYTES + 3 * SLOT_BYTES));
  const out = new Array<Value>(n);
  for (let i = 0; i < n; i++) {
    if ((i & 0xfff) === 0) chargeSteps(Math.min(0x1000, n - i));
    out[i] = new Tuple([start + i, elems[i]!]);
  }
  return new List(out);
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#fail
// fail("oops", 1, sep="/")  # error: fail: oops/1
const fail: BuiltinImpl = (_th, args, kwargs) => {
  const sep = sepArg('fail', kwargs);
  throw new EvalError(`fail: ${joinArgs(args, sep, false)}`, 'fail');
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#float
// float("1.5e3")  # 1500.0;  float(2)  # 2.0
const float: BuiltinImpl = (_th, args, kwargs) => {
  noKeywords('float', kwargs);
  if (args.length === 0) return new Float(0);
  if (args.length !== 1) throw new EvalError(`float got ${args.length} arguments, wants 1`);
  const x = args[0]!;
  if (typeof x === 'boolean') return new Float(x ? 1 : 0);
  if (isInt(x)) return new Float(intToFloat(x));
  if (x instanceof Float) return x;
  if (typeof x === 'string') {
    if (x === '') throw new EvalError('float: empty string');
    switch (x[x.length - 1]) {
      case 'y':
      case 'Y':
        if (eqFold(x, 'infinity') || eqFold(x, '+infinity')) return new Float(Infinity);
        if (eqFold(x, '-infinity')) return new Float(-Infinity);
        break;
      case 'f':
      case 'F':
        if (eqFold(x, 'inf') || eqFold(x, '+inf')) return new Float(Infinity);
        if (eqFold(x, '-inf')) return new Float(-Infinity);
        break;
      case 'n':
      case 'N':
        if (eqFold(x, 'nan') || eqFold(x, '+nan') || eqFold(x, '-nan')) return new Float(NaN);
        break;
    }
    const f = parseGoFloat(x);
    if (f === Infinity || f === -Infinity) throw new EvalError('floating-point number too large');
    if (Number.isNaN(f)) throw new EvalError(`invalid float literal: ${x}`);
    return new Float(f);
  }
  throw new EvalError(`float got ${typeName(x)}, want number or string`);
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#getattr
// getattr([], "append")  # <built-in method append of list value>;  getattr(1, "x", None)  # None
const getattr: BuiltinImpl = (_th, args, kwargs) => {
  unpackPositional('getattr', args, kwargs, 2, 3);
  const x = args[0]!;
  const name = args[1]!;
  if (typeof name !== 'string') throw wantError('getattr', '2', name, 'string');
  const dflt = args.length > 2 ? args[2]! : undefined;
  let v: Value | undefined;
  try {
    v = getAttrOrUndefined(x, name);
  } catch (e) {
    // An attribute that exists but could not be computed: the default wins, as in the reference.
    if (dflt !== undefined && e instanceof EvalError) return dflt;
    throw prefixError('getattr', e);
  }
  if (v !== undefined) return v;
  if (dflt !== undefined) return dflt;
  throw new EvalError(`getattr: ${noSuchAttrMessage(x, name)}`);
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#hasattr
// hasattr([], "append")  # True
const hasattr: BuiltinImpl = (_th, args, kwargs) => {
  unpackPositional('hasattr', args, kwargs, 2);
  const x = args[0]!;
  const name = args[1]!;
  if (typeof name !== 'string') throw wantError('hasattr', '2', name, 'string');
  try {
    return getAttrOrUndefined(x, name) !== undefined;
  } catch (e) {
    if (!(e instanceof EvalError)) throw e;
    // An error does not say whether the attribute exists; consult the list of names.
    return attrNames(x).includes(name);
  }
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#int
// int("0x1f", 0)  # 31;  int(-2.7)  # -2;  int("ff", 16)  # 255
const int: BuiltinImpl = (_th, args, kwargs) => {
  const [x, base] = unpackArgs('int', args, kwargs, ['x', 'base?']) as [Value, Value | undefined];
  if (typeof x === 'string') {
    let b = 10;
    if (base !== undefined) {
      if (typeof base !== 'number' || base < -0x80000000 || base > 0x7fffffff) {
        throw new EvalError(`int: for base, got ${typeName(base)}, want int`);
      }
      b = base;
      if (b !== 0 && (b < 2 || b > 36)) throw new EvalError('int: base must be an integer >= 2 && <= 36');
    }
    const r = parseIntLiteral(x, b);
    if (r === undefined) throw new EvalError(`int: invalid literal with base ${b}: ${x}`);
    return r;
  }
  if (base !== undefined) throw new EvalError("int: can't convert non-string with explicit base");
  if (typeof x === 'boolean') return x ? 1 : 0;
  if (isInt(x)) return x;
  if (x instanceof Float) {
    try {
      return floatToInt(x.v);
    } catch (e) {
      throw prefixError('int', e);
    }
  }
  throw new EvalError(`int: cannot convert ${typeName(x)} to int`);
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#len
// len("abc")  # 3
const len: BuiltinImpl = (_th, args, kwargs) => {
  unpackPositional('len', args, kwargs, 1);
  const n = length(args[0]!);
  if (n < 0) throw new EvalError(`len: value of type ${typeName(args[0]!)} has no len`);
  return n;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#list
// list((1, 2))  # [1, 2]
const list: BuiltinImpl = (th, args, kwargs) => {
  unpackPositional('list', args, kwargs, 0, 1);
  if (args.length === 0) return new List();
  wantIterable('list', '1', args[0]!);
  return new List(iterableToArray(th, args[0]!));
};

/** min and max share this: `op` is the comparison that makes a new element win. */
function minmax(name: 'min' | 'max'): BuiltinImpl {
  const op = name === 'max' ? '>' : '<';
  return (th, args, kwargs) => {
    if (args.length === 0) throw new EvalError(`${name} requires at least one positional argument`);
    let keyFn: Value | undefined;
    if (kwargs !== null && kwargs.length > 0) {
      [keyFn] = unpackArgs(name, [], kwargs, ['key?']);
      if (keyFn !== undefined && !isCallable(keyFn)) throw wantError(name, 'key', keyFn, 'callable');
    }
    const iterable: Value = args.length === 1 ? args[0]! : new Tuple(args);
    if (!isIterable(iterable)) throw new EvalError(`${name}: ${typeName(iterable)} value is not iterable`);
    let best: Value | undefined;
    let bestKey: Value = null;
    forEach(iterable, (x) => {
      const k = keyFn === undefined ? x : th.call(keyFn, [x], null);
      if (best === undefined) {
        best = x;
        bestKey = k;
        return;
      }
      let c: number;
      try {
        c = compare(k, bestKey, op);
      } catch (e) {
        throw prefixError(name, e);
      }
      if (op === '>' ? c > 0 : c < 0) {
        best = x;
        bestKey = k;
      }
    });
    if (best === undefined) throw new EvalError(`${name}: argument is an empty sequence`);
    return best;
  };
}

// https://github.com/google/starlark-go/blob/master/doc/spec.md#print
// print("a", 1, sep="-")  # prints "a-1"
const print: BuiltinImpl = (th, args, kwargs) => {
  const sep = sepArg('print', kwargs);
  // The hook receives JS text (the thread's default writes it to stdout), not UTF-8 bytes.
  th.print(utf8Decode(joinArgs(args, sep, true)));
  return null;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#range
// list(range(10, 0, -3))  # [10, 7, 4, 1]
const range: BuiltinImpl = (_th, args, kwargs) => {
  unpackPositional('range', args, kwargs, 1, 3);
  const a = asInt32('range', '1', args[0]!);
  if (args.length === 1) return new Range(0, a, 1);
  const stop = asInt32('range', '2', args[1]!);
  const step = args.length > 2 ? asInt32('range', '3', args[2]!) : 1;
  if (step === 0) throw new EvalError('range: step argument must not be zero');
  return new Range(a, stop, step);
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#reversed
// reversed(range(3))  # [2, 1, 0]
const reversed: BuiltinImpl = (th, args, kwargs) => {
  unpackPositional('reversed', args, kwargs, 1);
  wantIterable('reversed', '1', args[0]!);
  return new List(iterableToArray(th, args[0]!).reverse());
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#set
// set([3, 1, 3])  # set([3, 1])
const set: BuiltinImpl = (th, args, kwargs) => {
  unpackPositional('set', args, kwargs, 0, 1);
  const s = new StarSet();
  if (args.length === 0) return s;
  wantIterable('set', '1', args[0]!);
  const elems = iterableToArray(th, args[0]!);
  try {
    for (const x of elems) s.add(x);
  } catch (e) {
    throw prefixError('set', e);
  }
  return s;
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#sorted
// sorted(["bb", "a", "ccc"], key=len, reverse=True)  # ["ccc", "bb", "a"]
const sorted: BuiltinImpl = (th, args, kwargs) => {
  const [it, key, rev] = unpackArgs('sorted', args, kwargs, ['iterable', 'key?', 'reverse?']) as [Value, Value | undefined, Value | undefined];
  wantIterable('sorted', 'iterable', it);
  if (key !== undefined && !isCallable(key)) throw wantError('sorted', 'key', key, 'callable');
  const reverse = rev !== undefined && truth(rev);
  // The iterable stays locked while key functions run, as in the reference.
  lock(it);
  let values: Value[];
  let keys: Value[];
  try {
    values = iterableToArray(th, it);
    if (key === undefined) {
      keys = values;
    } else {
      keys = new Array<Value>(values.length);
      for (let i = 0; i < values.length; i++) keys[i] = th.call(key, [values[i]!], null);
    }
  } finally {
    unlock(it);
  }
  // The sorted copy; and a comparison per element and level of the merge.
  const n = values.length;
  chargeElements(th, n);
  if (n > RUN) return incremental('sorted', sortedList(values, keys, reverse));
  th.work(n * Math.log2(n + 1));
  return new List(stableSort(values, keys, reverse));
};

function* sortedList(values: Value[], keys: Value[], reverse: boolean): Generator<undefined, Value, undefined> {
  return new List(yield* sortPieces(values, keys, reverse));
}

// https://github.com/google/starlark-go/blob/master/doc/spec.md#tuple
// tuple([1, 2])  # (1, 2)
const tuple: BuiltinImpl = (th, args, kwargs) => {
  unpackPositional('tuple', args, kwargs, 0, 1);
  if (args.length === 0) return EMPTY_TUPLE;
  const x = args[0]!;
  wantIterable('tuple', '1', x);
  if (x instanceof Tuple) return x;
  const elems = iterableToArray(th, x);
  return elems.length === 0 ? EMPTY_TUPLE : new Tuple(elems);
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#type
// type(1.0)  # "float"
const type: BuiltinImpl = (_th, args, kwargs) => {
  noKeywords('type', kwargs);
  if (args.length !== 1) throw new EvalError(`type: got ${args.length} arguments, want exactly 1`);
  return typeName(args[0]!);
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#zip
// zip([1, 2, 3], ["a", "b"])  # [(1, "a"), (2, "b")]
const zip: BuiltinImpl = (th, args, kwargs) => {
  noKeywords('zip', kwargs);
  const cols = args.length;
  for (let i = 0; i < cols; i++) {
    if (!isIterable(args[i]!)) throw new EvalError(`zip: argument #${i + 1} is not iterable: ${typeName(args[i]!)}`);
  }
  if (cols === 0) return new List();
  const seqs: (readonly Value[] | Range)[] = args.map((a) => iterElems(a));
  let rows = Infinity;
  for (const s of seqs) rows = Math.min(rows, s.length);
  checkSize(rows, 'list');
  th.charge(rows * (OBJECT_BYTES + (cols + 1) * SLOT_BYTES));
  const out = new Array<Value>(rows);
  for (let r = 0; r < rows; r++) {
    if ((r & 0xfff) === 0) chargeSteps(Math.min(0x1000, rows - r) * (1 + cols / 8));
    const t = new Array<Value>(cols);
    for (let c = 0; c < cols; c++) {
      const s = seqs[c]!;
      t[c] = s instanceof Range ? s.at(r) : s[r]!;
    }
    out[r] = new Tuple(t);
  }
  return new List(out);
};

const impls: Record<string, BuiltinImpl> = {
  abs,
  all,
  any,
  bool,
  dict,
  dir,
  enumerate,
  fail,
  float,
  getattr,
  hasattr,
  int,
  len,
  list,
  max: minmax('max'),
  min: minmax('min'),
  print,
  range,
  reversed,
  set,
  sorted,
  tuple,
  type,
  zip,
  ...stringBuiltins,
};

/** A Map that refuses every mutation once built (the universe is shared by all threads). */
class FrozenMap<K, V> extends Map<K, V> {
  #sealed = false;
  constructor(entries: Iterable<readonly [K, V]>) {
    super();
    for (const [k, v] of entries) super.set(k, v);
    this.#sealed = true;
    Object.freeze(this);
  }
  override set(k: K, v: V): this {
    if (this.#sealed) throw new TypeError('the universe is immutable');
    return super.set(k, v);
  }
  override delete(_k: K): boolean {
    throw new TypeError('the universe is immutable');
  }
  override clear(): void {
    throw new TypeError('the universe is immutable');
  }
}

function makeUniverse(): ReadonlyMap<string, Value> {
  const entries: [string, Value][] = [
    ['None', null],
    ['True', true],
    ['False', false],
  ];
  for (const name of Object.keys(impls).sort()) entries.push([name, new Builtin(name, impls[name]!)]);
  return new FrozenMap(entries);
}

/**
 * The universal (predeclared-everywhere) names of go.starlark.net: None, True, False and every
 * universal builtin function. Immutable. `set` is included; the resolver hides it unless the `set`
 * dialect option is enabled.
 * @example universe.get('len')  // the Builtin `len`
 */
export const universe: ReadonlyMap<string, Value> = makeUniverse();

/** The names in `universe`, sorted (for "did you mean" hints and docs). */
export const universeNames: readonly string[] = Object.freeze([...universe.keys()].sort());

// Install the universe in the interpreter (go.starlark.net's starlark.Universe): every module sees
// these names unless it shadows them.
setUniverse(universe);
