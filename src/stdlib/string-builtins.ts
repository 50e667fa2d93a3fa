/**
 * This file defines the universal functions that are about text: `str`, `repr`, `chr`, `ord`,
 * `bytes` and `hash`, with go.starlark.net's semantics and error wording. They are exported as one
 * record, `stringBuiltins`, that universe.ts spreads into the universe; nothing is registered here.
 * Strings are binary UTF-8 strings (see values/value.ts), so conversions between str and bytes are
 * UTF-8 to UTF-8 transcodings that only replace invalid sequences by U+FFFD.
 */
import { EvalError } from '../interpreter/errors.js';
import {
  Bytes,
  decodeRune,
  encodeRune,
  Dict,
  intToString,
  isAscii,
  isInt,
  iterElems,
  List,
  Range,
  repr,
  StarSet,
  StarValue,
  str,
  Tuple,
  typeName,
  unpackPositional,
  type BuiltinImpl,
  type ThreadContext,
  type Value,
  chargeScan,
  chargeSteps,
  chargeText,
  incremental,
  OBJECT_BYTES,
  printsIncrementally,
  reprPieces,
} from '../interpreter/values/index.js';

/** The encoding of U+FFFD, which replaces each byte of an invalid UTF-8 sequence. */
const REPLACEMENT = '\xef\xbf\xbd';

/**
 * Replaces each byte of an invalid UTF-8 sequence in the binary string `s` by the encoding of
 * U+FFFD (Go's utf8Transcode: `for _, r := range s { WriteRune(r) }`). Valid text is unchanged.
 * @example utf8Transcode('a\xff') // "a\xef\xbf\xbd"
 */
export function utf8Transcode(s: string): string {
  chargeScan(s.length);
  if (isAscii(s)) return s;
  chargeText(s.length);
  let out = '';
  let plain = 0;
  for (let i = 0; i < s.length; ) {
    if (s.charCodeAt(i) < 0x80) {
      i++;
      continue;
    }
    const [r, n] = decodeRune(s, i);
    if (r === 0xfffd && n === 1) {
      out += s.slice(plain, i) + REPLACEMENT;
      plain = i + 1;
    }
    i += n;
  }
  return plain === 0 ? s : out + s.slice(plain);
}

/** Number of code points in a binary string, each invalid byte counting as one (utf8.RuneCount). */
export function runeCount(s: string): number {
  let count = 0;
  for (let i = 0; i < s.length; count++) i += s.charCodeAt(i) < 0x80 ? 1 : decodeRune(s, i)[1];
  return count;
}

/**
 * go.starlark.net's string hash: java.lang.String.hashCode's polynomial over the code points, as an
 * int32. Hazard: the reference tests `utf16.IsSurrogate(r)` on decoded runes, which is never true,
 * so a supplementary code point is accumulated whole rather than as a UTF-16 surrogate pair; we
 * match the reference, not Java, for such strings. Invalid bytes count as U+FFFD.
 */
export function javaStringHash(s: string): number {
  chargeSteps(s.length / 4);
  let h = 0;
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    let r: number;
    if (c < 0x80) {
      r = c;
      i++;
    } else {
      const [cp, n] = decodeRune(s, i);
      r = cp;
      i += n;
    }
    h = (Math.imul(31, h) + r) | 0;
  }
  return h;
}

/** 32-bit FNV-1a over the bytes of a binary string, as an unsigned value (the reference's bytes hash). */
export function fnv1a32(s: string): number {
  chargeSteps(s.length / 4);
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** True if `v` can be iterated by `for` (not strings or bytes, which need .elems()). */
function isIterable(v: Value): boolean {
  if (v instanceof List || v instanceof Tuple || v instanceof Dict || v instanceof StarSet || v instanceof Range) return true;
  return v instanceof StarValue && typeof v.iterate === 'function';
}

function noKwargs(name: string, kwargs: readonly unknown[] | null): void {
  if (kwargs !== null && kwargs.length > 0) throw new EvalError(`${name} does not accept keyword arguments`);
}

// https://github.com/google/starlark-go/blob/master/doc/spec.md#str
// Example: str(1) == "1"; str("x") == "x"; str(b"\xff") == "\ufffd"
const strImpl: BuiltinImpl = (_th, args, kwargs) => {
  noKwargs('str', kwargs);
  if (args.length !== 1) throw new EvalError(`str: got ${args.length} arguments, want exactly 1`);
  const x = args[0]!;
  if (typeof x === 'string') return x;
  if (x instanceof Bytes) return utf8Transcode(x.s);
  return printsIncrementally(x) ? incremental('str', reprPieces(x)) : str(x);
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#repr
// Example: repr([1, "x"]) == '[1, "x"]'
const reprImpl: BuiltinImpl = (_th, args, kwargs) => {
  unpackPositional('repr', args, kwargs, 1);
  const x = args[0]!;
  return printsIncrementally(x) ? incremental('repr', reprPieces(x)) : repr(x);
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#chr
// Example: chr(65) == "A"; chr(0x1F63F) == "😿"
const chrImpl: BuiltinImpl = (_th, args, kwargs) => {
  noKwargs('chr', kwargs);
  if (args.length !== 1) throw new EvalError(`chr: got ${args.length} arguments, want 1`);
  const x = args[0]!;
  if (!isInt(x)) throw new EvalError(`chr: got ${typeName(x)}, want int`);
  if (typeof x === 'bigint' || x < -0x80000000 || x > 0x7fffffff) throw new EvalError(`chr: ${intToString(x)} out of range`);
  if (x < 0) throw new EvalError(`chr: Unicode code point ${x} out of range (<0)`);
  if (x > 0x10ffff) throw new EvalError(`chr: Unicode code point U+${x.toString(16).toUpperCase()} out of range (>0x10FFFF)`);
  return encodeRune(x);
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#ord
// Example: ord("A") == 65; ord(b"a") == 97
const ordImpl: BuiltinImpl = (_th, args, kwargs) => {
  noKwargs('ord', kwargs);
  if (args.length !== 1) throw new EvalError(`ord: got ${args.length} arguments, want 1`);
  const x = args[0]!;
  if (typeof x === 'string') {
    if (x.length > 0) {
      const [r, n] = decodeRune(x, 0);
      if (n === x.length) return r;
    }
    throw new EvalError(`ord: string encodes ${runeCount(x)} Unicode code points, want 1`);
  }
  if (x instanceof Bytes) {
    if (x.s.length !== 1) throw new EvalError(`ord: bytes has length ${x.s.length}, want 1`);
    return x.s.charCodeAt(0);
  }
  throw new EvalError(`ord: got ${typeName(x)}, want string or bytes`);
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#bytes
// Example: bytes("hi") == b"hi"; bytes([65, 66]) == b"AB"
const bytesImpl: BuiltinImpl = (th: ThreadContext, args, kwargs) => {
  noKwargs('bytes', kwargs);
  if (args.length !== 1) throw new EvalError(`bytes: got ${args.length} arguments, want exactly 1`);
  const x = args[0]!;
  if (x instanceof Bytes) return x;
  if (typeof x === 'string') return new Bytes(utf8Transcode(x));
  if (isIterable(x)) {
    const elems = iterElems(x);
    const n = elems.length;
    th.charge(n * 9 + OBJECT_BYTES); // the codes array, then the bytes
    th.work(n / 2);
    const codes = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const e = elems instanceof Range ? elems.at(i) : elems[i]!;
      if (!isInt(e)) throw new EvalError(`bytes: at index ${i}, got ${typeName(e)}, want int`);
      if (typeof e !== 'number' || e < 0 || e > 255) {
        throw new EvalError(`bytes: at index ${i}, ${intToString(e)} out of range (want value in unsigned 8-bit range)`);
      }
      codes[i] = e;
    }
    let s = '';
    for (let i = 0; i < n; i += 0x2000) s += String.fromCharCode.apply(null, codes.slice(i, i + 0x2000));
    return new Bytes(s);
  }
  throw new EvalError(`bytes: got ${typeName(x)}, want string, bytes, or iterable of ints`);
};

// https://github.com/google/starlark-go/blob/master/doc/spec.md#hash
// Example: hash("hello") == 99162322; hash(b"a") == 0xe40c292c
const hashImpl: BuiltinImpl = (_th, args, kwargs) => {
  unpackPositional('hash', args, kwargs, 1);
  const x = args[0]!;
  if (typeof x === 'string') return javaStringHash(x);
  if (x instanceof Bytes) return fnv1a32(x.s);
  throw new EvalError(`hash: got ${typeName(x)}, want string or bytes`);
};

/**
 * The text-related universal functions, keyed by their Starlark names, for universe.ts to spread
 * into the universe: `{ ...stringBuiltins }`.
 */
export const stringBuiltins: Record<string, BuiltinImpl> = {
  bytes: bytesImpl,
  chr: chrImpl,
  hash: hashImpl,
  ord: ordImpl,
  repr: reprImpl,
  str: strImpl,
};
