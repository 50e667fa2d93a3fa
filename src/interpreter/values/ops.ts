/**
 * This file defines the operators of the language on values: equality and ordering, the binary and
 * unary operators, indexing, slicing, attribute access, `len` and iteration. The compiler emits
 * inline fast paths for the commonest cases (small-int arithmetic, list indexing) and calls these
 * functions for everything else. Error messages follow go.starlark.net's wording.
 *
 * Budgets: an operator whose cost grows with its operands charges the running thread through the
 * meter (budget.ts): the bytes of the value it builds, before building it, and its work, before or
 * while doing it (loops over large values charge every 4096 elements, so a deadline is observed
 * within the operation). Operations on small values cost a counter increment at most.
 */
import { EvalError } from '../errors.js';
import { Dict, StarSet } from './dict.js';
import { Builtin, type BuiltinImpl } from './function.js';
import {
  compareIntFloat,
  floatToInt,
  intAdd,
  intAnd,
  intCompare,
  intFloorDiv,
  intMod,
  intMul,
  intNeg,
  intNot,
  intOr,
  intShl,
  intShr,
  intSub,
  intToFloat,
  intXor,
  type Int,
} from './int.js';
import { checkMutable, List, Tuple } from './list.js';
import { Range } from './range.js';
import { repr, str } from './repr.js';
import { Bytes, Float, isInt, StarValue, truth, typeName, type BinaryOperator, type Value } from './value.js';
import { percentFormat } from './percent-format.js';
import {
  chargeBytes,
  chargeCopy,
  chargeScan,
  chargeSteps,
  chargeText,
  checkSize,
  COPIES_PER_STEP,
  ENTRY_BYTES,
  MAX_ELEMENTS,
  OBJECT_BYTES,
  SLOT_BYTES,
} from './budget.js';
export { checkSize, MAX_ELEMENTS };

// ---------------------------------------------------------------------------------------------
// Method tables: the stdlib registers the methods of the built-in types here (the interpreter never
// imports the stdlib).

const methodTables = new Map<string, Map<string, BuiltinImpl>>();

/** Registers methods of a built-in type ('string', 'bytes', 'list', 'dict', 'set', ...). */
export function defineMethods(type: string, methods: Record<string, BuiltinImpl>): void {
  let t = methodTables.get(type);
  if (!t) methodTables.set(type, (t = new Map()));
  for (const [k, v] of Object.entries(methods)) t.set(k, v);
}

/** The method table of a type (possibly empty). */
export function methodsOf(type: string): ReadonlyMap<string, BuiltinImpl> | undefined {
  return methodTables.get(type);
}

// ---------------------------------------------------------------------------------------------
// Equality and ordering

const MAX_DEPTH = 1000;

/** `x == y` */
export function equals(x: Value, y: Value, depth = 0): boolean {
  // Identical values are equal, NaN included (as in the reference), except that a container is
  // compared element by element, so a cyclic one fails with the reference's recursion error.
  if (x === y && !(x instanceof List || x instanceof Tuple || x instanceof Dict)) return true;
  switch (typeof x) {
    case 'string':
    case 'boolean':
      return false;
    case 'number':
    case 'bigint':
      return y instanceof Float ? compareIntFloat(x, y.v) === 0 : false;
    case 'object':
      if (x === null || y === null || typeof y !== 'object') {
        if (x instanceof Float && isInt(y as Value)) return compareIntFloat(y as Int, x.v) === 0;
        return false;
      }
  }
  if (depth > MAX_DEPTH) throw new EvalError('comparison exceeded maximum recursion depth');
  if (x instanceof Float) {
    if (!(y instanceof Float)) return false;
    return x.v === y.v || (Number.isNaN(x.v) && Number.isNaN(y.v));
  }
  if (x instanceof List) {
    return y instanceof List && seqEquals(x.elems, y.elems, depth);
  }
  if (x instanceof Tuple) {
    return y instanceof Tuple && seqEquals(x.elems, y.elems, depth);
  }
  if (x instanceof Dict) {
    if (!(y instanceof Dict) || x.size !== y.size) return false;
    chargeSteps(x.size);
    for (const [k, v] of x.map) {
      const w = y.map.get(k);
      if (w === undefined || !equals(v, w, depth + 1)) return false;
    }
    return true;
  }
  if (x instanceof StarSet) {
    if (!(y instanceof StarSet) || x.size !== y.size) return false;
    chargeSteps(x.size);
    for (const k of x.map.keys()) if (!y.map.has(k)) return false;
    return true;
  }
  if (x instanceof Bytes) {
    if (!(y instanceof Bytes)) return false;
    if (x.s.length > 4096) chargeScan(x.s.length);
    return x.s === y.s;
  }
  if (x.equals) return x.equals(y);
  return x === y;
}

/** Elements compared between two charges of work (a power of two, for the mask below). */
const PIECE = 4096;

function seqEquals(a: readonly Value[], b: readonly Value[], depth: number): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) {
    if ((i & (PIECE - 1)) === PIECE - 1) chargeSteps(PIECE);
    if (!equals(a[i]!, b[i]!, depth + 1)) {
      if (i > 16) chargeSteps(i & (PIECE - 1));
      return false;
    }
  }
  // A short sequence costs the step of the operation that compares it.
  if (n > 16) chargeSteps(n & (PIECE - 1));
  return true;
}

/**
 * Three-way comparison for ordering (`<` and friends, sorted, min, max). Throws the reference's
 * "T < U not implemented" for unordered operands.
 */
export function compare(x: Value, y: Value, op = '<', depth = 0): number {
  // Tuples first: they are the common composite sort key.
  if (x instanceof Tuple && y instanceof Tuple && depth <= MAX_DEPTH) return compareSeq(x.elems, y.elems, op, depth);
  const tx = typeof x;
  if (tx === 'number' || tx === 'bigint') {
    const ty = typeof y;
    if (ty === 'number' || ty === 'bigint') return intCompare(x as Int, y as Int);
    if (y instanceof Float) return compareIntFloat(x as Int, y.v);
  } else if (tx === 'string') {
    if (typeof y === 'string') return x === y ? 0 : (x as string) < y ? -1 : 1;
  } else if (x instanceof Float) {
    if (y instanceof Float) return compareFloat(x.v, y.v);
    if (isInt(y)) return -compareIntFloat(y, x.v);
  } else if (tx === 'boolean') {
    if (typeof y === 'boolean') return x === y ? 0 : x ? 1 : -1;
  } else if (x instanceof List || x instanceof Tuple) {
    if (depth > MAX_DEPTH) throw new EvalError('comparison exceeded maximum recursion depth');
    if ((x instanceof List && y instanceof List) || (x instanceof Tuple && y instanceof Tuple)) {
      return compareSeq(x.elems, (y as List | Tuple).elems, op, depth);
    }
  } else if (x instanceof Bytes) {
    if (y instanceof Bytes) return x.s === y.s ? 0 : x.s < y.s ? -1 : 1;
  } else if (x instanceof StarSet) {
    // sorted, min and max order sets as go.starlark.net's "less" does: by proper subset (a partial
    // order: sets neither of which contains the other count as equal here).
    if (y instanceof StarSet) return setCompare('<', x, y) ? -1 : setCompare('<', y, x) ? 1 : 0;
  } else if (x instanceof StarValue && x.compareTo && y instanceof StarValue && y.type === x.type) {
    return x.compareTo(y);
  }
  throw new EvalError(`${typeName(x)} ${op} ${typeName(y)} not implemented`);
}

/**
 * `x < y` and friends on two sets: subset and superset tests, proper for `<` and `>`, as in
 * go.starlark.net (sets are only partially ordered, so `compare` does not order them).
 */
export function setCompare(op: '<' | '>' | '<=' | '>=', x: StarSet, y: StarSet): boolean {
  const [small, big] = op === '<' || op === '<=' ? [x, y] : [y, x];
  if (small.size > big.size || ((op === '<' || op === '>') && small.size === big.size)) return false;
  chargeSteps(small.size);
  for (const k of small.map.keys()) if (!big.map.has(k)) return false;
  return true;
}

/** Lexicographic order of two sequences (lists or tuples), as the reference compares them. */
function compareSeq(a: readonly Value[], b: readonly Value[], op: string, depth: number): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if ((i & (PIECE - 1)) === PIECE - 1) chargeSteps(PIECE);
    const x = a[i]!;
    const y = b[i]!;
    // Fast paths for the common element types; otherwise the reference's equal-then-compare.
    if ((typeof x === 'number' && typeof y === 'number') || (typeof x === 'string' && typeof y === 'string')) {
      if (x !== y) return x < y ? -1 : 1;
      continue;
    }
    if (!equals(x, y, depth + 1)) return compare(x, y, op, depth + 1);
  }
  if (n > 16) chargeSteps(n & (PIECE - 1));
  return a.length - b.length;
}

/** Float ordering of the reference: NaN equals NaN and is above every other value. */
export function compareFloat(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a === b) return 0;
  const an = Number.isNaN(a);
  const bn = Number.isNaN(b);
  return an && bn ? 0 : an ? 1 : -1;
}

/** Evaluates a comparison operator. */
export function compareOp(op: '==' | '!=' | '<' | '>' | '<=' | '>=', x: Value, y: Value): boolean {
  switch (op) {
    case '==':
      return equals(x, y);
    case '!=':
      return !equals(x, y);
  }
  if (x instanceof StarSet && y instanceof StarSet) return setCompare(op, x, y);
  switch (op) {
    case '<':
      return compare(x, y, op) < 0;
    case '>':
      return compare(x, y, op) > 0;
    case '<=':
      return compare(x, y, op) <= 0;
    case '>=':
      return compare(x, y, op) >= 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Arithmetic

function unknownBinary(op: string, x: Value, y: Value): EvalError {
  return new EvalError(`unknown binary op: ${typeName(x)} ${op} ${typeName(y)}`);
}

/** A library type's operator (`StarValue.binary`, left operand first), or the unknown-op error. */
function libraryBinary(op: BinaryOperator, x: Value, y: Value): Value {
  if (x instanceof StarValue && x.binary) {
    const r = x.binary(op, y, 'left');
    if (r !== undefined) return r;
  }
  if (y instanceof StarValue && y.binary) {
    const r = y.binary(op, x, 'right');
    if (r !== undefined) return r;
  }
  throw unknownBinary(op, x, y);
}

function toNumber(v: Value): number | undefined {
  if (typeof v === 'number') return v;
  if (v instanceof Float) return v.v;
  if (typeof v === 'bigint') return intToFloat(v);
  return undefined;
}

/**
 * The count of a repetition `seq * n` of a sequence of `unit` elements (0 if n <= 0); checks its size.
 * As in go.starlark.net, a count outside int32 is "too large" (unless the sequence is empty), and the
 * excessive-repeat error names the operands in source order (`countFirst` for `n * seq`).
 */
function repeatCount(n: Int, unit: number, countFirst: boolean): number {
  if (unit === 0) return 0;
  if (typeof n === 'bigint' || n > 0x7fffffff || n < -0x80000000) throw new EvalError(`repeat count ${n.toString()} too large`);
  if (n <= 0) return 0;
  if (n * unit > MAX_ELEMENTS) {
    throw new EvalError(`excessive repeat (${countFirst ? `${n} * ${unit}` : `${unit} * ${n}`} elements)`);
  }
  return n;
}

/** Elements copied between two charges of work by the copying loops below. */
const COPY_PIECE = PIECE * COPIES_PER_STEP;

/** `a.concat(b)`, charged: the new array's slots, and the copying. */
function concatCharged(a: readonly Value[], b: readonly Value[]): Value[] {
  const n = a.length + b.length;
  chargeCopy(n);
  chargeBytes(OBJECT_BYTES);
  return a.concat(b);
}

/** `x + y` */
export function add(x: Value, y: Value): Value {
  if (isInt(x)) {
    if (isInt(y)) return intAdd(x, y);
    if (y instanceof Float) return new Float(intToFloat(x) + y.v);
  } else if (typeof x === 'string') {
    if (typeof y === 'string') {
      // V8 concatenates by reference (a cons string, flattened later by whatever reads it).
      const n = x.length + y.length;
      if (n > 1 << 20) checkSize(n, 'string');
      chargeBytes(n < 16 ? n + 16 : OBJECT_BYTES);
      return x + y;
    }
  } else if (x instanceof Float) {
    const b = toNumber(y);
    if (b !== undefined && typeof y !== 'boolean') return new Float(x.v + b);
  } else if (x instanceof List) {
    if (y instanceof List) {
      checkSize(x.elems.length + y.elems.length, 'list');
      return new List(concatCharged(x.elems, y.elems));
    }
  } else if (x instanceof Tuple) {
    if (y instanceof Tuple) {
      checkSize(x.elems.length + y.elems.length, 'tuple');
      return new Tuple(concatCharged(x.elems, y.elems));
    }
  } else if (x instanceof Bytes) {
    if (y instanceof Bytes) {
      checkSize(x.s.length + y.s.length, 'bytes');
      chargeBytes(2 * OBJECT_BYTES);
      return new Bytes(x.s + y.s);
    }
  }
  return libraryBinary('+', x, y);
}

/** `x - y` */
export function sub(x: Value, y: Value): Value {
  if (isInt(x)) {
    if (isInt(y)) return intSub(x, y);
    if (y instanceof Float) return new Float(intToFloat(x) - y.v);
  } else if (x instanceof Float) {
    const b = toNumber(y);
    if (b !== undefined) return new Float(x.v - b);
  } else if (x instanceof StarSet && y instanceof StarSet) {
    chargeSetOp(x.size);
    const r = new StarSet();
    for (const [k, v] of x.map) if (!y.map.has(k)) r.map.set(k, v);
    return r;
  }
  return libraryBinary('-', x, y);
}

function repeatSeq(seq: Value, n: Int, countFirst: boolean): Value | undefined {
  if (typeof seq === 'string') {
    const c = repeatCount(n, seq.length, countFirst);
    // V8 builds the repetition by reference; the text is written when something reads it.
    chargeText(c * seq.length);
    return seq.repeat(c);
  }
  if (seq instanceof Bytes) {
    const c = repeatCount(n, seq.s.length, countFirst);
    chargeText(c * seq.s.length);
    return new Bytes(seq.s.repeat(c));
  }
  if (seq instanceof List || seq instanceof Tuple) {
    const c = repeatCount(n, seq.elems.length, countFirst);
    const elems = seq.elems;
    const k = elems.length;
    const total = c * k;
    let charged = 0;
    chargeBytes(total * SLOT_BYTES + OBJECT_BYTES);
    const out: Value[] = [];
    for (let i = 0; i < c; i++) {
      if (out.length >= charged) {
        chargeSteps(PIECE);
        charged += COPY_PIECE;
      }
      for (let j = 0; j < k; j++) out.push(elems[j]!);
    }
    return seq instanceof List ? new List(out) : new Tuple(out);
  }
  return undefined;
}

/** `x * y` */
export function mul(x: Value, y: Value): Value {
  if (isInt(x)) {
    if (isInt(y)) return intMul(x, y);
    if (y instanceof Float) return new Float(intToFloat(x) * y.v);
    const r = repeatSeq(y, x, true);
    if (r !== undefined) return r;
  } else if (x instanceof Float) {
    const b = toNumber(y);
    if (b !== undefined) return new Float(x.v * b);
  } else if (isInt(y)) {
    const r = repeatSeq(x, y, false);
    if (r !== undefined) return r;
  }
  return libraryBinary('*', x, y);
}

/** `x / y` (always a float) */
export function div(x: Value, y: Value): Value {
  const a = toNumber(x);
  const b = toNumber(y);
  if (a !== undefined && b !== undefined) {
    if (b === 0) throw new EvalError('floating-point division by zero');
    return new Float(a / b);
  }
  return libraryBinary('/', x, y);
}

/** `x // y` */
export function floorDiv(x: Value, y: Value): Value {
  if (isInt(x) && isInt(y)) return intFloorDiv(x, y);
  const a = toNumber(x);
  const b = toNumber(y);
  if (a !== undefined && b !== undefined) {
    if (b === 0) throw new EvalError('floored division by zero');
    return new Float(Math.floor(a / b));
  }
  return libraryBinary('//', x, y);
}

/** `x % y`: int/float modulo, or string formatting. */
export function mod(x: Value, y: Value): Value {
  if (isInt(x) && isInt(y)) return intMod(x, y);
  if (typeof x === 'string') return percentFormat(x, y);
  const a = toNumber(x);
  const b = toNumber(y);
  if (a !== undefined && b !== undefined) {
    if (b === 0) throw new EvalError('floating-point modulo by zero');
    let r = a % b;
    if (r !== 0 && r < 0 !== b < 0) r += b;
    return new Float(r);
  }
  return libraryBinary('%', x, y);
}

/** Charges a set or dict operation that visits `n` entries and may copy them into a new one. */
function chargeSetOp(n: number): void {
  chargeBytes(n * ENTRY_BYTES + OBJECT_BYTES);
  chargeSteps(n);
}

function setOp(op: string, x: StarSet, y: StarSet): StarSet {
  chargeSetOp(x.size + y.size);
  const r = new StarSet();
  switch (op) {
    case '|':
      for (const [k, v] of x.map) r.map.set(k, v);
      for (const [k, v] of y.map) if (!r.map.has(k)) r.map.set(k, v);
      break;
    case '&':
      for (const [k, v] of x.map) if (y.map.has(k)) r.map.set(k, v);
      break;
    case '^':
      for (const [k, v] of x.map) if (!y.map.has(k)) r.map.set(k, v);
      for (const [k, v] of y.map) if (!x.map.has(k)) r.map.set(k, v);
      break;
  }
  return r;
}

/** The bitwise and set operators `| & ^ << >>`. */
export function bitwise(op: '|' | '&' | '^' | '<<' | '>>', x: Value, y: Value): Value {
  if (isInt(x) && isInt(y)) {
    switch (op) {
      case '|':
        return intOr(x, y);
      case '&':
        return intAnd(x, y);
      case '^':
        return intXor(x, y);
      case '<<':
        return intShl(x, y);
      case '>>':
        return intShr(x, y);
    }
  }
  if (x instanceof StarSet && y instanceof StarSet && op !== '<<' && op !== '>>') return setOp(op, x, y);
  if (op === '|' && x instanceof Dict && y instanceof Dict) {
    chargeSetOp(x.size + y.size);
    const r = new Dict();
    for (const [k, v] of x.entries()) r.set(k, v);
    for (const [k, v] of y.entries()) r.set(k, v);
    return r;
  }
  throw unknownBinary(op, x, y);
}

/** `x in y` */
export function contains(y: Value, x: Value): boolean {
  if (y instanceof List || y instanceof Tuple) return indexOfValue(y.elems, x, 0, y.elems.length) >= 0;
  if (y instanceof Dict) return y.has(x);
  if (y instanceof StarSet) return y.has(x);
  if (typeof y === 'string') {
    if (typeof x !== 'string') throw new EvalError(`'in <string>' requires string as left operand, not ${typeName(x)}`);
    if (y.length > 4096) chargeScan(y.length);
    return y.includes(x);
  }
  if (y instanceof Bytes) {
    if (y.s.length > 4096) chargeScan(y.s.length);
    if (x instanceof Bytes) return y.s.includes(x.s);
    if (isInt(x)) {
      if (typeof x !== 'number' || x < 0 || x > 255) throw new EvalError(`int in bytes: ${str(x)} out of range`);
      return y.s.includes(String.fromCharCode(x));
    }
    throw new EvalError(`'in bytes' requires bytes or int as left operand, not ${typeName(x)}`);
  }
  if (y instanceof Range) {
    // As go.starlark.net: the operand goes through NumberToInt (a finite float is truncated);
    // anything else is an error.
    if (x instanceof Float && Number.isFinite(x.v)) x = Math.trunc(x.v);
    if (!isInt(x)) throw new EvalError(`'in <range>' requires integer as left operand, not ${typeName(x)}`);
    if (typeof x === 'bigint' || !Number.isSafeInteger(x)) return false;
    const r = y;
    if (r.length === 0) return false;
    const off = x - r.start;
    if (off % r.step !== 0) return false;
    const i = off / r.step;
    return i >= 0 && i < r.length;
  }
  throw unknownBinary('in', x, y);
}

/**
 * The first index in [start, end) of an element equal to `x`, or -1: `x in list`, `list.index`,
 * `list.remove`. Charges one step per element compared.
 */
export function indexOfValue(elems: readonly Value[], x: Value, start: number, end: number): number {
  let charged = start;
  for (let i = start; i < end; i++) {
    if (i - charged === PIECE) {
      chargeSteps(PIECE);
      charged = i;
    }
    if (equals(elems[i]!, x)) {
      chargeSteps(i - charged);
      return i;
    }
  }
  chargeSteps(end - charged);
  return -1;
}

/** Evaluates any binary operator except `and`/`or`. */
export function binary(op: string, x: Value, y: Value): Value {
  switch (op) {
    case '+':
      return add(x, y);
    case '-':
      return sub(x, y);
    case '*':
      return mul(x, y);
    case '/':
      return div(x, y);
    case '//':
      return floorDiv(x, y);
    case '%':
      return mod(x, y);
    case '|':
    case '&':
    case '^':
    case '<<':
    case '>>':
      return bitwise(op, x, y);
    case 'in':
      return contains(y, x);
    case 'not in':
      return !contains(y, x);
    case '==':
    case '!=':
    case '<':
    case '>':
    case '<=':
    case '>=':
      return compareOp(op, x, y);
  }
  throw new EvalError(`unknown binary op: ${op}`);
}

/** `-x`, `+x`, `~x`, `not x` */
export function unary(op: string, x: Value): Value {
  switch (op) {
    case 'not':
      return !truth(x);
    case '-':
      if (isInt(x)) return intNeg(x);
      if (x instanceof Float) return new Float(-x.v);
      break;
    case '+':
      if (isInt(x) || x instanceof Float) return x;
      break;
    case '~':
      if (isInt(x)) return intNot(x);
      break;
  }
  throw new EvalError(`unknown unary op: ${op} ${typeName(x)}`);
}

// ---------------------------------------------------------------------------------------------
// Indexing, slicing, attributes

/** Converts an index operand to a JS number, with the reference's errors. */
export function toIndex(v: Value, what = 'index'): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return v < 0n ? -Infinity : Infinity;
  throw new EvalError(`${what}: got ${typeName(v)}, want int`);
}

function seqIndex(type: string, i: Value, n: number): number {
  const k = toIndex(i, `${type} index`);
  const j = k < 0 ? k + n : k;
  if (j < 0 || j >= n) {
    // https://github.com/google/starlark-go/blob/master/starlark/eval.go (outOfRange)
    if (n === 0) throw new EvalError(`index ${str(i)} out of range: empty ${type}`);
    throw new EvalError(`${type} index ${str(i)} out of range [${-n}:${n - 1}]`);
  }
  return j;
}

/** `x[i]` */
export function index(x: Value, i: Value): Value {
  if (x instanceof List || x instanceof Tuple) return x.elems[seqIndex(x.type, i, x.elems.length)]!;
  if (x instanceof Dict) {
    const v = x.get(i);
    if (v === undefined) throw new EvalError(`key ${repr(i)} not in dict`);
    return v;
  }
  if (typeof x === 'string') {
    const j = seqIndex('string', i, x.length);
    return x[j]!;
  }
  if (x instanceof Bytes) return new Bytes(x.s[seqIndex('bytes', i, x.s.length)]!);
  if (x instanceof Range) return x.at(seqIndex('range', i, x.length));
  if (x instanceof StarValue && x.index) return x.index(i);
  throw new EvalError(`unhandled index operation ${typeName(x)}[${typeName(i)}]`);
}

/** `x[i] = v` */
export function setIndex(x: Value, i: Value, v: Value): void {
  if (x instanceof List) {
    checkMutable(x, 'assign to element of');
    x.elems[seqIndex('list', i, x.elems.length)] = v;
    return;
  }
  if (x instanceof Dict) {
    checkMutable(x, 'insert into');
    x.set(i, v);
    return;
  }
  throw new EvalError(`${typeName(x)} value does not support item assignment`);
}

/** Resolves slice bounds as Python does; returns [start, stop, step]. */
export function sliceIndices(n: number, lo: Value, hi: Value, stepv: Value): [number, number, number] {
  let step = 1;
  if (stepv !== null) {
    step = toIndex(stepv, 'invalid slice step');
    if (step === 0) throw new EvalError('zero is not a valid slice step');
  }
  const clamp = (v: Value, dflt: number, min: number, max: number, what: string): number => {
    if (v === null) return dflt;
    let k = toIndex(v, what);
    if (k < 0) k += n;
    return k < min ? min : k > max ? max : k;
  };
  const S = 'invalid start index';
  const E = 'invalid end index';
  if (step > 0) return [clamp(lo, 0, 0, n, S), clamp(hi, n, 0, n, E), step];
  return [clamp(lo, n - 1, -1, n - 1, S), clamp(hi, -1, -1, n - 1, E), step];
}

function sliceArray<T>(a: readonly T[] | string, start: number, stop: number, step: number): T[] {
  const n = step > 0 ? (stop > start ? Math.ceil((stop - start) / step) : 0) : start > stop ? Math.ceil((start - stop) / -step) : 0;
  chargeCopy(n);
  const out: T[] = [];
  if (step > 0) for (let i = start; i < stop; i += step) out.push(a[i] as T);
  else for (let i = start; i > stop; i += step) out.push(a[i] as T);
  return out;
}

/** `x[lo:hi:step]` (None for an omitted part) */
export function slice(x: Value, lo: Value, hi: Value, step: Value): Value {
  if (typeof x === 'string' || x instanceof Bytes) {
    const s = typeof x === 'string' ? x : x.s;
    const [a, b, k] = sliceIndices(s.length, lo, hi, step);
    // A contiguous slice is a reference into the string in V8; a stepped one is new text.
    let r: string;
    if (k === 1) {
      chargeBytes(OBJECT_BYTES);
      r = a < b ? s.slice(a, b) : '';
    } else {
      const parts = sliceArray<string>(s, a, b, k);
      chargeText(parts.length);
      r = parts.join('');
    }
    return typeof x === 'string' ? r : new Bytes(r);
  }
  if (x instanceof List || x instanceof Tuple) {
    const [a, b, k] = sliceIndices(x.elems.length, lo, hi, step);
    let r: Value[];
    if (k === 1) {
      chargeCopy(Math.max(0, b - a));
      r = x.elems.slice(a, Math.max(a, b));
    } else {
      r = sliceArray(x.elems, a, b, k);
    }
    chargeBytes(OBJECT_BYTES);
    return x instanceof List ? new List(r) : new Tuple(r);
  }
  if (x instanceof Range) {
    const [a, b, k] = sliceIndices(x.length, lo, hi, step);
    return new Range(x.start + a * x.step, x.start + b * x.step, x.step * k);
  }
  throw new EvalError(`invalid slice operand ${typeName(x)}`);
}

/** `len(x)`, or -1 if x has no length. */
export function length(x: Value): number {
  if (typeof x === 'string') return x.length;
  if (x instanceof List || x instanceof Tuple) return x.elems.length;
  if (x instanceof Dict || x instanceof StarSet) return x.size;
  if (x instanceof Bytes) return x.s.length;
  if (x instanceof Range) return x.length;
  if (x instanceof StarValue && x.len) return x.len();
  return -1;
}

/** Names of fields and methods of x, sorted (`dir(x)`). */
export function attrNames(x: Value): string[] {
  const names = new Set<string>();
  const t = methodTables.get(typeName(x));
  if (t) for (const k of t.keys()) names.add(k);
  if (x instanceof StarValue && x.attrNames) for (const k of x.attrNames()) names.add(k);
  return [...names].sort();
}

/** `x.name`, or undefined when there is no such field or method. */
export function getAttrOrUndefined(x: Value, name: string): Value | undefined {
  if (x instanceof StarValue && x.getAttr) {
    const v = x.getAttr(name);
    if (v !== undefined) return v;
  }
  const t = methodTables.get(typeName(x));
  const m = t?.get(name);
  if (m !== undefined) return new Builtin(name, m, x, true);
  return undefined;
}

/** A value that words its missing-attribute error itself (struct: "struct has no .x attribute"). */
interface HasNoSuchAttrMessage {
  noSuchAttrMessage(name: string): string;
}

/**
 * The reference's message for a missing attribute `x.name` (without spelling hint): the value's own
 * `noSuchAttrMessage(name)` if it has one, else "T has no .name field or method".
 */
export function noSuchAttrMessage(x: Value, name: string): string {
  if (x instanceof StarValue && typeof (x as Partial<HasNoSuchAttrMessage>).noSuchAttrMessage === 'function') {
    return (x as unknown as HasNoSuchAttrMessage).noSuchAttrMessage(name);
  }
  return `${typeName(x)} has no .${name} field or method`;
}

/** `x.name`, failing with the reference's message (and a "did you mean" hint). */
export function getAttr(x: Value, name: string): Value {
  const v = getAttrOrUndefined(x, name);
  if (v !== undefined) return v;
  const hint = suggest(name, attrNames(x));
  throw new EvalError(`${noSuchAttrMessage(x, name)}${hint ? ` (did you mean .${hint}?)` : ''}`);
}

/** `x.name = v` */
export function setAttr(x: Value, name: string, v: Value): void {
  if (x instanceof StarValue && x.setAttr) {
    x.setAttr(name, v);
    return;
  }
  throw new EvalError(`can't assign to .${name} field of ${typeName(x)}`);
}

/**
 * The elements to iterate over in `for x in v`: an array (a list's live array: mutation during
 * iteration is prevented by the caller's lock) or a Range.
 */
export function iterElems(v: Value): readonly Value[] | Range {
  if (v instanceof List || v instanceof Tuple) return v.elems;
  if (v instanceof Range) return v;
  if (v instanceof Dict) {
    chargeCopy(v.size);
    return v.keys();
  }
  if (v instanceof StarSet) {
    chargeCopy(v.size);
    return v.elems();
  }
  if (v instanceof StarValue && v.iterate) return materialize(v.iterate(), typeName(v));
  throw new EvalError(`${typeName(v)} value is not iterable`);
}

/** The elements of a lazily iterated value in an array, charged as they come and size-checked. */
function materialize(it: Iterable<Value>, what: string): Value[] {
  const out: Value[] = [];
  for (const x of it) {
    if ((out.length & (PIECE - 1)) === 0) {
      chargeCopy(PIECE);
      checkSize(out.length + 1, what);
    }
    out.push(x);
  }
  return out;
}

/** Marks a container as being iterated (mutation fails until unlock). */
export function lock(v: Value): void {
  if (v instanceof List || v instanceof Dict || v instanceof StarSet) v.itercount++;
}
export function unlock(v: Value): void {
  if (v instanceof List || v instanceof Dict || v instanceof StarSet) v.itercount--;
}

/** Materialises any iterable into a fresh JS array. */
export function toArray(v: Value): Value[] {
  const e = iterElems(v);
  checkSize(e.length, typeName(v));
  chargeCopy(e.length);
  if (e instanceof Range) {
    const out = new Array<Value>(e.length);
    for (let i = 0; i < e.length; i++) out[i] = e.at(i);
    return out;
  }
  return e.slice();
}

/** The closest candidate within a small edit distance, for "did you mean" hints. */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  // go.starlark.net's spell.Nearest: case and underscores are ignored, up to 50% typos allowed.
  const fold = (s: string): string => s.replace(/_/g, '').toLowerCase();
  const x = fold(name);
  let bestD = Math.floor((x.length + 1) / 2);
  for (const c of candidates) {
    const d = editDistance(x, fold(c));
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

/** Levenshtein edit distance, as go.starlark.net's spell package computes it. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

export { floatToInt };
