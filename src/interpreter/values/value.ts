/**
 * This file defines how Starlark values are represented in JavaScript. The representation is chosen
 * for speed of the common cases, and so that no JS object is ever reachable from a script:
 *
 *   Starlark     JavaScript
 *   None         null
 *   bool         boolean
 *   int          number while |x| <= 2^53-1, else bigint (always normalised: a bigint result in the
 *                safe range is converted back to a number, so `===` is int equality)
 *   string       string holding UTF-8 *bytes*, one char code 0..255 each (a "binary string"). ASCII
 *                text is unchanged, so ASCII strings are plain fast JS strings; len/index/slice are by
 *                byte, as in go.starlark.net. Convert at the boundary with `utf8Decode`/`utf8Encode`.
 *   float        Float (a box around a number, so 1.0 and 1 stay distinct)
 *   others       subclasses of StarValue (List, Tuple, Dict, Set, Range, Bytes, Function, Builtin...)
 *
 * `undefined` is never a Starlark value; the compiler uses it for "unbound".
 */

import { chargeText } from './budget.js';

/** Any Starlark value. */
export type Value = null | boolean | number | bigint | string | StarValue;

/**
 * The host side of a running thread, as seen by builtins: printing, the budgets (bytes and work) and
 * calling back into Starlark. Implemented by vm/thread.ts.
 */
export interface ThreadContext {
  /** Name of the thread, for diagnostics. */
  readonly name: string;
  /** Prints a line (the `print` builtin). */
  print(msg: string): void;
  /**
   * Charges `n` estimated bytes against the allocation budget and the heap guard; throws an EvalError
   * of kind 'budget' ("allocation budget exceeded") when it is spent. Call before building a large
   * value (estimates: 8 bytes per list slot, 1 per byte of text, 40 per dict entry; see budget.ts).
   */
  charge(n: number): void;
  /**
   * Charges `n` steps of work (about one per element compared, hashed or printed, per 8 elements
   * copied, or per 16 bytes of text) against the step budget, and checks the step limit, the deadline
   * and the signal; throws an EvalError of kind 'budget' or 'cancelled'. Call before doing the work,
   * and in pieces (every `STEP_CHUNK` steps or so) while doing long work.
   */
  work(n: number): void;
  /** Calls a Starlark or builtin callable synchronously (for sorted(key=...), etc.). */
  call(fn: Value, args: Value[], kwargs?: KwArgs | null): Value;
  /** Embedder-owned per-thread storage (e.g. the workflow engine's run context). */
  readonly locals: Map<string, unknown>;
  /** Where the builtin being called was called from, if known (for assertions and call sites). */
  callerPosition?(): { readonly file: string; readonly line: number; readonly column: number } | undefined;
}

/** Keyword arguments at a call: name/value pairs in call order. */
export type KwArgs = [string, Value][];

/** Base class of every non-primitive Starlark value. */
/** The arithmetic operators a library type may implement (`StarValue.binary`). */
export type BinaryOperator = '+' | '-' | '*' | '/' | '//' | '%';

export abstract class StarValue {
  /** The Starlark type name, as `type(x)` returns it. */
  abstract get type(): string;
  /** Truth value (`bool(x)`). Default: true. */
  truth(): boolean {
    return true;
  }
  /** Makes the value and everything reachable from it immutable. Default: no-op (immutable types). */
  freeze(): void {}
  /** Appends the Starlark representation to `out` (`repr(x)`). `seen` guards against cycles. */
  abstract repr(out: string[], seen: Set<StarValue>): void;
  /**
   * A key for dicts and sets: a primitive that is equal for equal values. Types that are unhashable
   * throw (see dict.ts `hashKey`). Default: identity (functions, builtins...).
   */
  hashKey?(): unknown;
  /** `x.name`: the attribute, or undefined if there is none (HasAttrs). */
  getAttr?(name: string): Value | undefined;
  /** Names of the attributes, for `dir(x)` (HasAttrs). */
  attrNames?(): string[];
  /** `x.name = v` (HasSetField). Throw an EvalError to refuse. */
  setAttr?(name: string, v: Value): void;
  /** `x == y` for a value of the same type (default: identity). */
  equals?(y: Value): boolean;
  /**
   * A binary operator (`+ - * / // %`) with this value on the given side, for library types (e.g.
   * `time.duration`): the result, or undefined if this type does not take part (the operator then
   * fails with "unknown binary op"). Consulted only after the built-in types' cases.
   */
  binary?(op: BinaryOperator, other: Value, side: 'left' | 'right'): Value | undefined;
  /** Ordering against a value of the same type (Comparable); absent means unordered. */
  compareTo?(y: Value): number;
  /** `len(x)` (Sequence/Mapping); absent means "has no len". */
  len?(): number;
  /** Iteration (`for x in v`); absent means "not iterable". Must snapshot or guard mutation. */
  iterate?(): Iterable<Value>;
  /** `x[k]` (Indexable/Mapping); absent means "unhandled index operation". */
  index?(k: Value): Value;
}

/**
 * Returned by a builtin that must wait for the host (e.g. a workflow task call). The evaluator pauses
 * the whole thread and `Thread.resume(value)` later continues exactly where it paused.
 */
export class Pending {
  constructor(readonly request: unknown) {}
}

/** A float. Immutable. */
export class Float extends StarValue {
  constructor(readonly v: number) {
    super();
  }
  get type(): string {
    return 'float';
  }
  override truth(): boolean {
    return this.v !== 0; // NaN is true, as in go.starlark.net (f != 0.0)
  }
  repr(out: string[]): void {
    out.push(formatFloat(this.v));
  }
}

/**
 * Formats a float as go.starlark.net's `str` does: Go's `%g` with the shortest exact digits
 * (strconv.FormatFloat(f, 'g', -1, 64)), plus ".0" when the result has neither '.' nor exponent;
 * +inf, -inf, nan.
 */
export function formatFloat(f: number): string {
  if (!Number.isFinite(f)) return Number.isNaN(f) ? 'nan' : f > 0 ? '+inf' : '-inf';
  if (f === 0) return Object.is(f, -0) ? '-0.0' : '0.0';
  // Shortest round-trip digits, from JS's own shortest algorithm.
  const e = f.toExponential(); // e.g. "1.2345e+6", "-5e-7"
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(e)!;
  const neg = m[1]!;
  const digits = m[2]! + (m[3] ?? '');
  const exp = parseInt(m[4]!, 10);
  // Go's %g with shortest precision uses exponent form when exp < -4 || exp >= 6 (strconv: "if
  // precision was the shortest possible, use precision 6 for this decision").
  if (exp < -4 || exp >= 6) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const es = Math.abs(exp) < 10 ? `0${Math.abs(exp)}` : `${Math.abs(exp)}`;
    return `${neg}${mant}e${exp < 0 ? '-' : '+'}${es}`;
  }
  let s: string;
  if (exp >= 0) {
    s = digits.length <= exp + 1 ? digits + '0'.repeat(exp + 1 - digits.length) : `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  } else {
    s = `0.${'0'.repeat(-exp - 1)}${digits}`;
  }
  if (s.indexOf('.') < 0) s += '.0';
  return neg + s;
}

/** An immutable byte string (`b"..."`), as a binary JS string. */
export class Bytes extends StarValue {
  constructor(readonly s: string) {
    super();
  }
  get type(): string {
    return 'bytes';
  }
  override truth(): boolean {
    return this.s.length > 0;
  }
  repr(out: string[]): void {
    out.push(quoteBytes(this.s));
  }
  override hashKey(): unknown {
    return `\u0100b${this.s.length}:${this.s}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Type names and predicates

/** The Starlark type name of a value. */
export function typeName(v: Value): string {
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'number':
    case 'bigint':
      return 'int';
    case 'boolean':
      return 'bool';
    case 'object':
      return v === null ? 'NoneType' : v.type;
    default:
      return 'invalid';
  }
}

export function isInt(v: Value): v is number | bigint {
  return typeof v === 'number' || typeof v === 'bigint';
}

/** Truth value of any Starlark value. */
export function truth(v: Value): boolean {
  switch (typeof v) {
    case 'boolean':
      return v;
    case 'string':
      return v.length > 0;
    case 'number':
      return v !== 0;
    case 'bigint':
      return true; // normalised: a bigint is never zero
    default:
      return v === null ? false : v.truth();
  }
}

// ---------------------------------------------------------------------------------------------
// UTF-8 helpers for the binary-string representation of str

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: false });

/** True if every char code is < 0x80 (the string is the same in both representations). */
export function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** JS (UTF-16) text → Starlark string (UTF-8 bytes as a binary string). */
export function utf8Encode(text: string): string {
  if (isAscii(text)) return text;
  const bytes = textEncoder.encode(text);
  return binaryFromBytes(bytes);
}

/** Starlark string → JS text. Invalid UTF-8 sequences decode to U+FFFD. */
export function utf8Decode(s: string): string {
  if (isAscii(s)) return s;
  return textDecoder.decode(bytesFromBinary(s));
}

export function binaryFromBytes(bytes: Uint8Array): string {
  let out = '';
  const CHUNK = 0x2000;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    out += String.fromCharCode.apply(null, Array.from(bytes.subarray(i, i + CHUNK)));
  }
  return out;
}

export function bytesFromBinary(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/**
 * Decodes one UTF-8 code point of binary string `s` at byte index `i`.
 * Returns [codepoint, byteLength]; an invalid sequence yields [0xFFFD, 1].
 */
export function decodeRune(s: string, i: number): [number, number] {
  const c0 = s.charCodeAt(i);
  if (c0 < 0x80) return [c0, 1];
  const cont = (k: number): number => {
    const c = s.charCodeAt(i + k);
    return c >= 0x80 && c < 0xc0 ? c & 0x3f : -1;
  };
  if (c0 >= 0xc2 && c0 < 0xe0) {
    const c1 = cont(1);
    if (c1 >= 0) return [((c0 & 0x1f) << 6) | c1, 2];
  } else if (c0 >= 0xe0 && c0 < 0xf0) {
    const c1 = cont(1);
    const c2 = cont(2);
    if (c1 >= 0 && c2 >= 0) {
      const r = ((c0 & 0x0f) << 12) | (c1 << 6) | c2;
      if (r >= 0x800 && (r < 0xd800 || r > 0xdfff)) return [r, 3];
    }
  } else if (c0 >= 0xf0 && c0 < 0xf5) {
    const c1 = cont(1);
    const c2 = cont(2);
    const c3 = cont(3);
    if (c1 >= 0 && c2 >= 0 && c3 >= 0) {
      const r = ((c0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
      if (r >= 0x10000 && r <= 0x10ffff) return [r, 4];
    }
  }
  return [0xfffd, 1];
}

/** Encodes one code point as a binary UTF-8 string. */
export function encodeRune(r: number): string {
  if (r < 0 || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) r = 0xfffd;
  if (r < 0x80) return String.fromCharCode(r);
  if (r < 0x800) return String.fromCharCode(0xc0 | (r >> 6), 0x80 | (r & 0x3f));
  if (r < 0x10000) return String.fromCharCode(0xe0 | (r >> 12), 0x80 | ((r >> 6) & 0x3f), 0x80 | (r & 0x3f));
  return String.fromCharCode(0xf0 | (r >> 18), 0x80 | ((r >> 12) & 0x3f), 0x80 | ((r >> 6) & 0x3f), 0x80 | (r & 0x3f));
}

/** True if a code point prints as itself in a quoted string (Go's strconv.IsPrint, approximately). */
function isPrintableRune(r: number): boolean {
  if (r < 0x20 || r === 0x7f) return false;
  if (r >= 0x80 && r < 0xa0) return false;
  if (r === 0xad || r === 0xfffd) return r === 0xfffd;
  if (r >= 0xd800 && r <= 0xdfff) return false;
  if (r === 0x2028 || r === 0x2029) return false;
  if (r >= 0xe000 && r <= 0xf8ff) return false;
  return /\p{L}|\p{M}|\p{N}|\p{P}|\p{S}|\u0020/u.test(String.fromCodePoint(r));
}

function hex2(n: number): string {
  return (n < 16 ? '0' : '') + n.toString(16);
}

/**
 * Quotes a Starlark string as go.starlark.net does (double quotes, Go-style escapes; printable
 * non-ASCII code points as themselves, invalid bytes as \xHH).
 */
export function quoteString(s: string): string {
  if (s.length > 1024) chargeText(s.length);
  let out = '"';
  let plain = 0;
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) {
      i++;
      continue;
    }
    if (plain < i) out += s.slice(plain, i);
    if (c < 0x80) {
      switch (c) {
        case 0x22: out += '\\"'; break;
        case 0x5c: out += '\\\\'; break;
        case 0x07: out += '\\a'; break;
        case 0x08: out += '\\b'; break;
        case 0x0c: out += '\\f'; break;
        case 0x0a: out += '\\n'; break;
        case 0x0d: out += '\\r'; break;
        case 0x09: out += '\\t'; break;
        case 0x0b: out += '\\v'; break;
        default: out += '\\x' + hex2(c);
      }
      i++;
    } else {
      const [r, n] = decodeRune(s, i);
      if (r === 0xfffd && n === 1 && !(s.charCodeAt(i) === 0xef && s.charCodeAt(i + 1) === 0xbf && s.charCodeAt(i + 2) === 0xbd)) {
        out += '\\x' + hex2(c);
      } else if (isPrintableRune(r)) {
        out += s.slice(i, i + n);
      } else if (r < 0x10000) {
        out += '\\u' + r.toString(16).padStart(4, '0');
      } else {
        out += '\\U' + r.toString(16).padStart(8, '0');
      }
      i += n;
    }
    plain = i;
  }
  if (plain < s.length) out += s.slice(plain);
  return out + '"';
}

/** Quotes a bytes value as go.starlark.net does: `b` then the string quoting (valid UTF-8 shows as text). */
export function quoteBytes(s: string): string {
  return 'b' + quoteString(s);
}
