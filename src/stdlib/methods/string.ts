/**
 * This file defines the methods of the built-in `string` type (`"abc".upper()` and friends) with
 * go.starlark.net's semantics and error wording, and registers them with `defineMethods`; importing
 * it is enough to install them. A string is a binary JS string of UTF-8 bytes (values/value.ts), so
 * indices, lengths and substring searches are byte-based as in the reference. Operations on code
 * points (case mapping, the `is*` predicates, whitespace, strip cutsets) decode UTF-8 only for
 * non-ASCII input; invalid bytes decode as U+FFFD and, where Go's `strings.Map`/`WriteRune` would,
 * are written back as its encoding. Case mapping is Go's *simple* per-code-point mapping
 * (`unicode.ToUpper` etc.), not JS's full, context-sensitive `toUpperCase`.
 */
import { EvalError } from '../../interpreter/errors.js';
import {
  decodeRune,
  defineMethods,
  Dict,
  encodeRune,
  intToString,
  isAscii,
  isInt,
  iterElems,
  List,
  quoteString,
  Range,
  repr,
  StarSet,
  StarValue,
  Tuple,
  typeName,
  unpackPositional,
  wantError,
  type BuiltinImpl,
  type KwArgs,
  type ThreadContext,
  type Value,
  BYTES_PER_STEP,
  checkSize,
  incremental,
  chargeBytes,
  chargeScan,
  chargeSteps,
  chargeText,
  OBJECT_BYTES,
  SLOT_BYTES,
} from '../../interpreter/values/index.js';
import { countPieces, joinPieces, replaceAllPieces, splitPieces } from './string-pieces.js';

/** Strings up to this size are processed in one go (one native call), without an incremental job. */
const SMALL = 1 << 16;

// ---------------------------------------------------------------------------------------------
// Iterable views: "abc".elems(), .elem_ords(), .codepoints(), .codepoint_ords()

/** Go's outOfRange message for an indexable value. */
function indexOutOfRange(i: number, n: number, type: string): EvalError {
  if (n === 0) return new EvalError(`index ${i} out of range: empty ${type}`);
  return new EvalError(`${type} index ${i} out of range [${-n}:${n - 1}]`);
}

/**
 * The value of `s.elems()` (1-byte substrings) or `s.elem_ords()` (byte values 0..255): iterable,
 * indexable and of known length, of type "string.elems", printed as `"abc".elems()`.
 */
export class StringElems extends StarValue {
  constructor(
    readonly s: string,
    readonly ords: boolean,
  ) {
    super();
  }
  get type(): string {
    return 'string.elems';
  }
  repr(out: string[]): void {
    out.push(quoteString(this.s) + (this.ords ? '.elem_ords()' : '.elems()'));
  }
  override hashKey(): unknown {
    throw new EvalError(`unhashable: ${this.type}`);
  }
  override equals(y: Value): boolean {
    return y instanceof StringElems && y.s === this.s && y.ords === this.ords;
  }
  override len(): number {
    return this.s.length;
  }
  override *iterate(): Iterable<Value> {
    const s = this.s;
    for (let i = 0; i < s.length; i++) yield this.ords ? s.charCodeAt(i) : s[i]!;
  }
  override index(k: Value): Value {
    if (!isInt(k)) throw new EvalError(`${this.type} index: got ${typeName(k)}, want int`);
    if (typeof k === 'bigint' || k < -0x80000000 || k > 0x7fffffff) throw new EvalError(`${this.type} index: ${intToString(k)} out of range`);
    const n = this.s.length;
    const i = k < 0 ? k + n : k;
    if (i < 0 || i >= n) throw indexOutOfRange(k, n, this.type);
    return this.ords ? this.s.charCodeAt(i) : this.s[i]!;
  }
}

/**
 * The value of `s.codepoints()` (1-code-point substrings) or `s.codepoint_ords()` (code points):
 * iterable only (no len, no indexing), of type "string.codepoints". Each invalid byte yields U+FFFD.
 */
export class StringCodepoints extends StarValue {
  constructor(
    readonly s: string,
    readonly ords: boolean,
  ) {
    super();
  }
  get type(): string {
    return 'string.codepoints';
  }
  repr(out: string[]): void {
    out.push(quoteString(this.s) + (this.ords ? '.codepoint_ords()' : '.codepoints()'));
  }
  override hashKey(): unknown {
    throw new EvalError(`unhashable: ${this.type}`);
  }
  override equals(y: Value): boolean {
    return y instanceof StringCodepoints && y.s === this.s && y.ords === this.ords;
  }
  override *iterate(): Iterable<Value> {
    const s = this.s;
    for (let i = 0; i < s.length; ) {
      const c = s.charCodeAt(i);
      if (c < 0x80) {
        yield this.ords ? c : s[i]!;
        i++;
        continue;
      }
      const [r, n] = decodeRune(s, i);
      yield this.ords ? r : r === 0xfffd ? REPLACEMENT : s.slice(i, i + n);
      i += n;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Code points: decoding, predicates and simple case mapping

const REPLACEMENT = '\xef\xbf\xbd';

/** Go's utf8.DecodeLastRuneInString(s[:end]): [rune, size]; an invalid ending yields [0xFFFD, 1]. */
function decodeLastRune(s: string, end: number): [number, number] {
  const last = s.charCodeAt(end - 1);
  if (last < 0x80) return [last, 1];
  const lim = Math.max(0, end - 4);
  let start = end - 2;
  for (; start >= lim; start--) if ((s.charCodeAt(start) & 0xc0) !== 0x80) break;
  if (start < lim) start = lim;
  if (start < 0) start = 0;
  const [r, n] = decodeRune(s.slice(start, end), 0);
  return start + n === end ? [r, n] : [0xfffd, 1];
}

/** Bytes a loop over code points goes through between two charges of work (a step per 4 bytes). */
const RUNE_PIECE = 1 << 14;

/** Calls f(rune, byteIndex, byteLength) for each code point of s (invalid bytes as U+FFFD). */
function forEachRune(s: string, f: (r: number, i: number, n: number) => boolean | void): void {
  let charged = 0;
  for (let i = 0; i < s.length; ) {
    if (i >= charged) {
      chargeSteps(RUNE_PIECE / 4);
      charged = i + RUNE_PIECE;
    }
    const c = s.charCodeAt(i);
    const [r, n] = c < 0x80 ? [c, 1] : decodeRune(s, i);
    if (f(r, i, n) === false) return;
    i += n;
  }
}

function runeCount(s: string): number {
  if (isAscii(s)) return s.length;
  let count = 0;
  forEachRune(s, () => {
    count++;
  });
  return count;
}

const RE_LETTER = /^\p{L}$/u;
const RE_DIGIT = /^\p{Nd}$/u;
const RE_SPACE = /^\p{White_Space}$/u;
const RE_LOWER = /^\p{Ll}$/u;
const RE_UPPER = /^\p{Lu}$/u;
const RE_TITLE = /^\p{Lt}$/u;

function testRune(re: RegExp, r: number): boolean {
  return re.test(String.fromCodePoint(r));
}

/** Go's unicode.IsSpace. */
function isSpaceRune(r: number): boolean {
  if (r < 0x100) return r === 0x20 || (r >= 0x09 && r <= 0x0d) || r === 0x85 || r === 0xa0;
  return testRune(RE_SPACE, r);
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isAsciiDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Go's unicode.IsLetter. */
function isLetterRune(r: number): boolean {
  return r < 0x80 ? isAsciiLetter(r) : testRune(RE_LETTER, r);
}

/** Go's unicode.IsDigit. */
function isDigitRune(r: number): boolean {
  return r < 0x80 ? isAsciiDigit(r) : testRune(RE_DIGIT, r);
}

/**
 * The few code points whose simple uppercase differs from the first code point of JS's full
 * uppercase: Greek letters with a combining iota (ypogegrammeni), which uppercase to the titlecase
 * form in UnicodeData but to two letters in SpecialCasing.
 */
function greekIotaUpper(r: number): number | undefined {
  if ((r >= 0x1f80 && r <= 0x1f87) || (r >= 0x1f90 && r <= 0x1f97) || (r >= 0x1fa0 && r <= 0x1fa7)) return r + 8;
  if (r === 0x1fb3) return 0x1fbc;
  if (r === 0x1fc3) return 0x1fcc;
  if (r === 0x1ff3) return 0x1ffc;
  return undefined;
}

/** A single code point that `s` consists of, or undefined when JS's mapping produced several. */
function singleRune(s: string): number | undefined {
  const c = s.codePointAt(0);
  if (c === undefined) return undefined;
  return s.length === (c > 0xffff ? 2 : 1) ? c : undefined;
}

const lowerCache = new Map<number, number>();
const upperCache = new Map<number, number>();

/**
 * Go's unicode.ToLower (simple mapping). JS's toLowerCase is the full mapping; where it yields
 * several code points the simple mapping is the identity, except U+0130 (İ → i).
 */
function lowerRune(r: number): number {
  if (r < 0x80) return r >= 0x41 && r <= 0x5a ? r + 32 : r;
  let m = lowerCache.get(r);
  if (m === undefined) {
    m = r === 0x130 ? 0x69 : (singleRune(String.fromCodePoint(r).toLowerCase()) ?? r);
    lowerCache.set(r, m);
  }
  return m;
}

/** Go's unicode.ToUpper (simple mapping): see lowerRune. */
function upperRune(r: number): number {
  if (r < 0x80) return r >= 0x61 && r <= 0x7a ? r - 32 : r;
  let m = upperCache.get(r);
  if (m === undefined) {
    m = greekIotaUpper(r) ?? singleRune(String.fromCodePoint(r).toUpperCase()) ?? r;
    upperCache.set(r, m);
  }
  return m;
}

/**
 * Go's unicode.ToTitle: the uppercase mapping, except for the Latin digraphs (ǅ ǈ ǋ ǲ are their own
 * titlecase) and Georgian Mkhedruli letters (whose titlecase is themselves).
 */
function titleRune(r: number): number {
  if (r >= 0x1c4 && r <= 0x1cc) return r - ((r - 0x1c4) % 3) + 1;
  if (r >= 0x1f1 && r <= 0x1f3) return 0x1f2;
  if ((r >= 0x10d0 && r <= 0x10fa) || (r >= 0x10fd && r <= 0x10ff)) return r;
  return upperRune(r);
}

/**
 * Code points that have a case-folding partner (Go's `unicode.SimpleFold(r) != r`) although their
 * own simple case mappings are the identity: ß (↔ ẞ), ΐ/ΐ, ΰ/ΰ, ﬅ/ﬆ.
 */
const FOLD_ONLY = new Set([0xdf, 0x390, 0x1fd3, 0x3b0, 0x1fe3, 0xfb05, 0xfb06]);

/** The reference's isCasedRune: an ASCII letter, or a code point with a case-folding partner. */
function isCasedRune(r: number): boolean {
  if (r < 0x80) return isAsciiLetter(r);
  return lowerRune(r) !== r || upperRune(r) !== r || titleRune(r) !== r || FOLD_ONLY.has(r);
}

/** Go's strings.Map(f, s): each code point mapped; invalid bytes are written as U+FFFD. */
function mapRunes(s: string, f: (r: number) => number): string {
  chargeText(s.length);
  let out = '';
  forEachRune(s, (r) => {
    out += encodeRune(f(r));
  });
  return out;
}

function lowerString(s: string): string {
  chargeScan(s.length);
  if (!isAscii(s)) return mapRunes(s, lowerRune);
  chargeText(s.length);
  return s.toLowerCase();
}

function upperString(s: string): string {
  chargeScan(s.length);
  if (!isAscii(s)) return mapRunes(s, upperRune);
  chargeText(s.length);
  return s.toUpperCase();
}

function isCasedString(s: string): boolean {
  let cased = false;
  forEachRune(s, (r) => {
    if (isCasedRune(r)) {
      cased = true;
      return false;
    }
    return true;
  });
  return cased;
}

/** True if s is non-empty and every code point satisfies pred (invalid bytes are U+FFFD). */
function allRunes(s: string, pred: (r: number) => boolean): boolean {
  if (s.length === 0) return false;
  let ok = true;
  forEachRune(s, (r) => {
    if (!pred(r)) {
      ok = false;
      return false;
    }
    return true;
  });
  return ok;
}

// ---------------------------------------------------------------------------------------------
// Argument helpers, worded as go.starlark.net's UnpackPositionalArgs

/** A `string` positional parameter (1-based position `pos`). */
function strArg(fn: string, pos: number, v: Value): string {
  if (typeof v === 'string') return v;
  throw wantError(fn, String(pos), v, 'string');
}

/** A Go `int` positional parameter (64-bit; values beyond 2^53 are imprecise but only clamp). */
function intArg(fn: string, pos: number, v: Value): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') {
    if (v < -(2n ** 63n) || v >= 2n ** 63n) {
      throw new EvalError(`${fn}: for parameter ${pos}: ${v.toString()} out of range (want value in signed 64-bit range)`);
    }
    return Number(v);
  }
  throw wantError(fn, String(pos), v, 'int');
}

/** A `bool` positional parameter (no truthiness conversion, as in the reference). */
function boolArg(fn: string, pos: number, v: Value): boolean {
  if (typeof v === 'boolean') return v;
  throw wantError(fn, String(pos), v, 'bool');
}

/** Go's AsInt32 on an optional index; None or undefined keeps the default. */
function asIndex(v: Value | undefined, len: number, dflt: number): number | string {
  if (v === undefined || v === null) return dflt;
  if (!isInt(v)) return `got ${typeName(v)}, want int`;
  if (typeof v === 'bigint' || v < -0x80000000 || v > 0x7fffffff) return `${intToString(v)} out of range`;
  return v < 0 ? v + len : v;
}

/**
 * The reference's `indices(start, end, len)`: optional start/end, negative values counted from the
 * end, then clamped to [0, len]. start may exceed end.
 */
function indices(fn: string, start: Value | undefined, end: Value | undefined, len: number): [number, number] {
  let a = asIndex(start, len, 0);
  if (typeof a === 'string') throw new EvalError(`${fn}: invalid start index: ${a}`);
  let b = asIndex(end, len, len);
  if (typeof b === 'string') throw new EvalError(`${fn}: invalid end index: ${b}`);
  a = a < 0 ? 0 : a > len ? len : a;
  b = b < 0 ? 0 : b > len ? len : b;
  return [a, b];
}

/** True if `for x in v` works (strings and bytes are not iterable). */
function isIterable(v: Value): boolean {
  if (v instanceof List || v instanceof Tuple || v instanceof Dict || v instanceof StarSet || v instanceof Range) return true;
  return v instanceof StarValue && typeof v.iterate === 'function';
}

function recvString(recv: Value): string {
  if (typeof recv !== 'string') throw new EvalError(`string method called on ${typeName(recv)}`);
  return recv;
}

// ---------------------------------------------------------------------------------------------
// Searching, splitting and trimming helpers

/** Go's strings.Count: non-overlapping occurrences; an empty sub counts code points plus one. */
function countSub(s: string, sub: string): number {
  chargeScan(s.length);
  if (sub.length === 0) return runeCount(s) + 1;
  let n = 0;
  for (let i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length)) n++;
  return n;
}

/** Go's strings.SplitN with n > 0: at most n pieces, the last one being the remainder. */
function splitN(s: string, sep: string, n: number): string[] {
  const out: string[] = [];
  let start = 0;
  while (out.length < n - 1) {
    const j = s.indexOf(sep, start);
    if (j < 0) break;
    chargeBytes(SLOT_BYTES + OBJECT_BYTES);
    out.push(s.slice(start, j));
    start = j + sep.length;
  }
  out.push(s.slice(start));
  return out;
}

/** Go's strings.Fields: the runs of non-space code points. */
function fields(s: string): string[] {
  return splitSpace(s, -1);
}

/** The reference's splitspace: at most max splits (max < 0: no limit), leading spaces dropped. */
function splitSpace(s: string, max: number): string[] {
  const res: string[] = [];
  let start = -1;
  forEachRune(s, (r, i) => {
    if (isSpaceRune(r)) {
      if (start >= 0) {
        if (max >= 0 && res.length === max) return false; // let this field run to the end
        chargeBytes(SLOT_BYTES + OBJECT_BYTES);
        res.push(s.slice(start, i));
        start = -1;
      }
    } else if (start === -1) {
      start = i;
    }
    return true;
  });
  if (start >= 0) res.push(s.slice(start));
  return res;
}

/** The reference's rsplitspace: at most max splits from the right, trailing spaces dropped. */
function rsplitSpace(s: string, max: number): string[] {
  const res: string[] = [];
  let end = -1;
  chargeSteps(s.length / 4);
  for (let i = s.length; i > 0; ) {
    const [r, n] = decodeLastRune(s, i);
    if (isSpaceRune(r)) {
      if (end >= 0) {
        if (res.length === max) break; // let this field run to the start
        chargeBytes(SLOT_BYTES + OBJECT_BYTES);
        res.push(s.slice(i, end));
        end = -1;
      }
    } else if (end < 0) {
      end = i;
    }
    i -= n;
  }
  if (end >= 0) res.push(s.slice(0, end));
  return res.reverse();
}

/** Trims code points satisfying `pred` from the chosen ends of s (Go's TrimFunc and friends). */
function trimFunc(s: string, pred: (r: number) => boolean, left: boolean, right: boolean): string {
  chargeScan(s.length);
  let i = 0;
  let j = s.length;
  if (left) {
    while (i < j) {
      const c = s.charCodeAt(i);
      const [r, n] = c < 0x80 ? [c, 1] : decodeRune(s, i);
      if (!pred(r)) break;
      i += n;
    }
  }
  if (right) {
    while (j > i) {
      const [r, n] = decodeLastRune(s, j);
      if (!pred(r)) break;
      j -= n;
    }
  }
  return i === 0 && j === s.length ? s : s.slice(i, j);
}

/** The set of code points of a cutset (invalid bytes count as U+FFFD), as a predicate. */
function cutsetPredicate(cutset: string): (r: number) => boolean {
  if (isAscii(cutset)) {
    const set = new Uint8Array(128);
    for (let i = 0; i < cutset.length; i++) set[cutset.charCodeAt(i)] = 1;
    return (r) => r < 0x80 && set[r] === 1;
  }
  const runes = new Set<number>();
  forEachRune(cutset, (r) => {
    runes.add(r);
  });
  return (r) => runes.has(r);
}

/**
 * Go's strings.Replace(s, old, new, n) (n < 0: all) by a loop over the matches: for an empty `old`
 * (which matches before each code point) and for a limited count. Charges its result and work.
 */
function replaceN(s: string, old: string, repl: string, n: number): string {
  if (old === repl || n === 0) return s;
  const m = countSub(s, old);
  if (m === 0) return s;
  if (n < 0 || m < n) n = m;
  chargeText(s.length + n * (repl.length - old.length));
  const out: string[] = [];
  let start = 0;
  for (let k = 0; k < n; k++) {
    if ((k & 0xfff) === 0xfff) chargeBytes(0x1000 * 2 * SLOT_BYTES);
    let j = start;
    if (old.length === 0) {
      if (k > 0) {
        const c = s.charCodeAt(start);
        j += c < 0x80 ? 1 : decodeRune(s, start)[1];
      }
    } else {
      j = s.indexOf(old, start);
    }
    out.push(s.slice(start, j), repl);
    start = j + old.length;
  }
  out.push(s.slice(start));
  return out.join('');
}

/** All occurrences of non-empty `old` replaced: the result's bytes are charged before it is built. */
function* replaceAll(s: string, old: string, repl: string): Generator<undefined, Value, undefined> {
  const m = repl.length > old.length ? yield* countPieces(s, old) : 0;
  chargeBytes(s.length + m * (repl.length - old.length));
  return yield* replaceAllPieces(s, old, repl);
}

// ---------------------------------------------------------------------------------------------
// str.format

/** The reference's `decimal`: a non-empty run of ASCII digits (leading zeros allowed) as an int. */
function decimalIndex(s: string): number | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  if (v >= 2n ** 63n) return undefined; // Go's int overflows: treated as a keyword
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/** `S.format(*args, **kwargs)`, worded as go.starlark.net's string_format. */
function formatString(format: string, args: readonly Value[], kwargs: KwArgs | null): string {
  let out = '';
  let auto = false;
  let manual = false;
  let index = 0;
  let rest = format;
  for (;;) {
    const i = rest.indexOf('{');
    let literal = i >= 0 ? rest.slice(0, i) : rest;
    // "}}" in a literal portion is a '}'; a lone '}' is an error.
    for (;;) {
      const j = literal.indexOf('}');
      if (j < 0) {
        out += literal;
        break;
      }
      if (j + 1 === literal.length || literal[j + 1] !== '}') throw new EvalError("format: single '}' in format");
      out += literal.slice(0, j + 1);
      literal = literal.slice(j + 2);
    }
    if (i < 0) break;
    if (rest[i + 1] === '{') {
      out += '{'; // "{{" is a literal '{'
      rest = rest.slice(i + 2);
      continue;
    }
    rest = rest.slice(i + 1);
    const close = rest.indexOf('}');
    if (close < 0) throw new EvalError("format: unmatched '{' in format");
    let field = rest.slice(0, close);
    rest = rest.slice(close + 1);

    let name: string;
    let conv = 's';
    let spec = '';
    const bang = field.indexOf('!');
    if (bang < 0) {
      const colon = field.indexOf(':');
      if (colon < 0) name = field;
      else {
        name = field.slice(0, colon);
        spec = field.slice(colon + 1);
      }
    } else {
      name = field.slice(0, bang);
      field = field.slice(bang + 1);
      const colon = field.indexOf(':');
      if (colon < 0) conv = field;
      else {
        conv = field.slice(0, colon);
        spec = field.slice(colon + 1);
      }
    }

    let arg: Value | undefined;
    if (name === '') {
      if (manual) throw new EvalError('format: cannot switch from manual field specification to automatic field numbering');
      auto = true;
      if (index >= args.length) throw new EvalError('format: tuple index out of range');
      arg = args[index++]!;
    } else {
      const num = decimalIndex(name);
      if (num !== undefined) {
        if (auto) throw new EvalError('format: cannot switch from automatic field numbering to manual field specification');
        manual = true;
        if (num >= args.length) throw new EvalError('format: tuple index out of range');
        arg = args[num]!;
      } else {
        if (kwargs !== null) {
          for (const [k, v] of kwargs) {
            if (k === name) {
              arg = v;
              break;
            }
          }
        }
        if (arg === undefined) {
          if (name.includes('.')) throw new EvalError(`format: attribute syntax x.y is not supported in replacement fields: ${name}`);
          if (name.includes('[')) throw new EvalError(`format: element syntax a[i] is not supported in replacement fields: ${name}`);
          if (name.includes('{')) throw new EvalError('format: nested replacement fields not supported');
          throw new EvalError(`format: keyword ${name} not found`);
        }
      }
    }

    if (spec !== '') throw new EvalError(`format spec features not supported in replacement fields: ${spec}`);
    switch (conv) {
      case 's':
        out += typeof arg === 'string' ? arg : repr(arg);
        break;
      case 'r':
        out += repr(arg);
        break;
      default:
        throw new EvalError(`format: unknown conversion ${quoteString(conv)}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The methods

/** A method taking no arguments. */
function nullary(name: string, f: (s: string) => Value): BuiltinImpl {
  return (_th, args, kwargs, recv) => {
    unpackPositional(name, args, kwargs, 0);
    return f(recvString(recv));
  };
}

/** elems, elem_ords, codepoints, codepoint_ords. */
function iterableView(name: 'elems' | 'elem_ords' | 'codepoints' | 'codepoint_ords'): BuiltinImpl {
  const ords = name.endsWith('_ords');
  const codepoints = name.startsWith('codepoint');
  return nullary(name, (s) => (codepoints ? new StringCodepoints(s, ords) : new StringElems(s, ords)));
}

/** find, rfind, index, rindex. */
function findImpl(name: string, allowMissing: boolean, last: boolean): BuiltinImpl {
  return (_th, args, kwargs, recv) => {
    unpackPositional(name, args, kwargs, 1, 3);
    const s = recvString(recv);
    const sub = strArg(name, 1, args[0]!);
    let start = 0;
    let slice = s;
    if (args.length > 1) {
      let end: number;
      [start, end] = indices(name, args[1], args[2], s.length);
      slice = start < end ? s.slice(start, end) : '';
    }
    chargeScan(slice.length);
    const i = last ? slice.lastIndexOf(sub) : slice.indexOf(sub);
    if (i < 0) {
      if (!allowMissing) throw new EvalError(`${name}: substring not found`);
      return -1;
    }
    return i + start;
  };
}

/** startswith, endswith. */
function startsWithImpl(name: 'startswith' | 'endswith'): BuiltinImpl {
  return (_th, args, kwargs, recv) => {
    unpackPositional(name, args, kwargs, 1, 3);
    let s = recvString(recv);
    if (args.length > 1) {
      const [start, end] = indices(name, args[1], args[2], s.length);
      s = end < start ? '' : s.slice(start, end);
    }
    const test = name === 'startswith' ? (p: string) => s.startsWith(p) : (p: string) => s.endsWith(p);
    const x = args[0]!;
    if (typeof x === 'string') return test(x);
    if (x instanceof Tuple) {
      for (let i = 0; i < x.elems.length; i++) {
        const p = x.elems[i]!;
        if (typeof p !== 'string') throw new EvalError(`${name}: want string, got ${typeName(p)}, for element ${i}`);
        if (test(p)) return true;
      }
      return false;
    }
    throw new EvalError(`${name}: got ${typeName(x)}, want string or tuple of string`);
  };
}

/** strip, lstrip, rstrip. */
function stripImpl(name: 'strip' | 'lstrip' | 'rstrip'): BuiltinImpl {
  const left = name !== 'rstrip';
  const right = name !== 'lstrip';
  return (_th, args, kwargs, recv) => {
    unpackPositional(name, args, kwargs, 0, 1);
    const s = recvString(recv);
    const chars = args.length > 0 ? strArg(name, 1, args[0]!) : '';
    if (chars === '') {
      if (isAscii(s)) {
        const isWs = (r: number): boolean => r === 0x20 || (r >= 0x09 && r <= 0x0d);
        return trimFunc(s, isWs, left, right);
      }
      return trimFunc(s, isSpaceRune, left, right);
    }
    return trimFunc(s, cutsetPredicate(chars), left, right);
  };
}

/** partition, rpartition. */
function partitionImpl(name: 'partition' | 'rpartition'): BuiltinImpl {
  return (_th, args, kwargs, recv) => {
    unpackPositional(name, args, kwargs, 1);
    const s = recvString(recv);
    const sep = strArg(name, 1, args[0]!);
    if (sep === '') throw new EvalError(`${name}: empty separator`);
    chargeScan(s.length);
    const i = name === 'partition' ? s.indexOf(sep) : s.lastIndexOf(sep);
    if (i < 0) return name === 'partition' ? new Tuple([s, '', '']) : new Tuple(['', '', s]);
    return new Tuple([s.slice(0, i), sep, s.slice(i + sep.length)]);
  };
}

/** split, rsplit. */
function splitImpl(name: 'split' | 'rsplit'): BuiltinImpl {
  return (th: ThreadContext, args, kwargs, recv) => {
    unpackPositional(name, args, kwargs, 0, 2);
    const s = recvString(recv);
    const sepv = args.length > 0 ? args[0]! : null;
    const maxsplit = args.length > 1 ? intArg(name, 2, args[1]!) : -1;
    let res: string[];
    if (sepv === null) {
      if (maxsplit < 0) res = fields(s);
      else if (name === 'split') res = splitSpace(s, maxsplit);
      else res = rsplitSpace(s, maxsplit);
    } else if (typeof sepv === 'string') {
      if (sepv === '') throw new EvalError('split: empty separator');
      if (maxsplit < 0 || name === 'rsplit') {
        if (s.length > SMALL) return incremental(name, splitList(name, s, sepv, maxsplit));
        chargeScan(s.length);
        res = rsplitTail(s.split(sepv), sepv, maxsplit);
        chargeBytes(res.length * (SLOT_BYTES + OBJECT_BYTES));
      } else {
        res = splitN(s, sepv, maxsplit + 1);
      }
    } else {
      throw new EvalError(`split: got ${typeName(sepv)} for separator, want string`);
    }
    th.charge(OBJECT_BYTES);
    return new List(res);
  };
}

/** `rsplit` with a maxsplit: the fields of a full split, the leading ones joined back. */
function rsplitTail(res: string[], sep: string, maxsplit: number): string[] {
  if (maxsplit < 0) return res;
  const excess = res.length - maxsplit;
  return excess > 0 ? [res.slice(0, excess).join(sep), ...res.slice(excess)] : res;
}

/** `s.split(sep)` (or rsplit with a maxsplit) of a large string, window by window. */
function* splitList(name: string, s: string, sep: string, maxsplit: number): Generator<undefined, Value, undefined> {
  const fields = yield* splitPieces(s, sep);
  checkSize(fields.length, 'list');
  return new List(name === 'rsplit' ? rsplitTail(fields, sep, maxsplit) : fields);
}

/** removeprefix, removesuffix. */
function removeFixImpl(name: 'removeprefix' | 'removesuffix'): BuiltinImpl {
  return (_th, args, kwargs, recv) => {
    unpackPositional(name, args, kwargs, 1);
    const s = recvString(recv);
    const fix = strArg(name, 1, args[0]!);
    if (name === 'removeprefix') return s.startsWith(fix) ? s.slice(fix.length) : s;
    return fix.length > 0 && s.endsWith(fix) ? s.slice(0, s.length - fix.length) : s;
  };
}

/**
 * The methods of `string`, keyed by Starlark name. Each is documented at
 * https://github.com/google/starlark-go/blob/master/doc/spec.md#string·NAME (e.g. `#string·split`).
 */
export const stringMethods: Record<string, BuiltinImpl> = {
  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·capitalize
  // Example: "hElLo, wOrLd!".capitalize() == "Hello, world!"
  capitalize: nullary('capitalize', (s) => {
    chargeText(2 * s.length);
    if (isAscii(s)) return s.length === 0 ? s : s[0]!.toUpperCase() + s.slice(1).toLowerCase();
    let out = '';
    forEachRune(s, (r, i) => {
      out += encodeRune(i === 0 ? titleRune(r) : lowerRune(r));
    });
    return out;
  }),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·codepoint_ords
  // Example: list("aЙ".codepoint_ords()) == [97, 1049]
  codepoint_ords: iterableView('codepoint_ords'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·codepoints
  // Example: list("aЙ".codepoints()) == ["a", "Й"]
  codepoints: iterableView('codepoints'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·count
  // Example: "hello, world!".count("o", 7, 12) == 1
  count: (_th, args, kwargs, recv) => {
    unpackPositional('count', args, kwargs, 1, 3);
    const s = recvString(recv);
    const sub = strArg('count', 1, args[0]!);
    const [start, end] = indices('count', args[1], args[2], s.length);
    return countSub(start < end ? s.slice(start, end) : '', sub);
  },

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·elem_ords
  // Example: list("aé".elem_ords()) == [97, 195, 169]
  elem_ords: iterableView('elem_ords'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·elems
  // Example: list("ab".elems()) == ["a", "b"]
  elems: iterableView('elems'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·endswith
  // Example: "foo.cc".endswith((".cc", ".h")) == True
  endswith: startsWithImpl('endswith'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·find
  // Example: "bonbon".find("on", 2) == 4
  find: findImpl('find', true, false),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·format
  // Example: "a{x}b{y}c{}".format(1, x=2, y=3) == "a2b3c1"
  format: (th: ThreadContext, args, kwargs, recv) => {
    const format = recvString(recv);
    chargeText(format.length);
    const out = formatString(format, args, kwargs);
    // The operands' reprs charged themselves; this charges the result's text.
    th.charge(out.length);
    return out;
  },

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·index
  // Example: "bonbon".index("on", 2) == 4
  index: findImpl('index', false, false),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·isalnum
  // Example: "base64".isalnum() == True
  isalnum: nullary('isalnum', (s) => allRunes(s, (r) => isLetterRune(r) || isDigitRune(r))),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·isalpha
  // Example: "ABC".isalpha() == True
  isalpha: nullary('isalpha', (s) => allRunes(s, isLetterRune)),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·isdigit
  // Example: "123".isdigit() == True
  isdigit: nullary('isdigit', (s) => allRunes(s, isDigitRune)),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·islower
  // Example: "hello, world".islower() == True
  islower: nullary('islower', (s) => isCasedString(s) && s === lowerString(s)),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·isspace
  // Example: "\r\t\n".isspace() == True
  isspace: nullary('isspace', (s) => allRunes(s, isSpaceRune)),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·istitle
  // Example: "Catch-22".istitle() == True; "HAL-9000".istitle() == False
  istitle: nullary('istitle', (s) => {
    // Uppercase letters may only follow uncased ones, lowercase letters only cased ones.
    let cased = false;
    let prevCased = false;
    let ok = true;
    forEachRune(s, (r) => {
      const ascii = r < 0x80;
      if ((r >= 0x41 && r <= 0x5a) || (!ascii && testRune(RE_TITLE, r))) {
        if (prevCased) return (ok = false);
        prevCased = cased = true;
      } else if (ascii ? r >= 0x61 && r <= 0x7a : testRune(RE_LOWER, r)) {
        if (!prevCased) return (ok = false);
        prevCased = cased = true;
      } else if (!ascii && testRune(RE_UPPER, r)) {
        return (ok = false);
      } else {
        prevCased = false;
      }
      return true;
    });
    return ok && cased;
  }),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·isupper
  // Example: "HAL-9000".isupper() == True
  isupper: nullary('isupper', (s) => isCasedString(s) && s === upperString(s)),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·join
  // Example: ", ".join(["one", "two"]) == "one, two"
  join: (th: ThreadContext, args, kwargs, recv) => {
    unpackPositional('join', args, kwargs, 1);
    const sep = recvString(recv);
    const iterable = args[0]!;
    if (!isIterable(iterable)) throw wantError('join', '1', iterable, 'iterable');
    const elems = iterElems(iterable);
    const n = elems.length;
    const parts = new Array<string>(n);
    let size = sep.length * Math.max(0, n - 1);
    for (let i = 0; i < n; i++) {
      if ((i & 0xfff) === 0) chargeSteps(Math.min(0x1000, n - i) / 4);
      const x = elems instanceof Range ? elems.at(i) : elems[i]!;
      if (typeof x !== 'string') throw new EvalError(`join: in list, want string, got ${typeName(x)}`);
      parts[i] = x;
      size += x.length;
    }
    checkSize(size, 'string');
    th.charge(size + n * SLOT_BYTES);
    if (size <= SMALL && n <= SMALL) {
      chargeSteps(size / BYTES_PER_STEP);
      return parts.join(sep);
    }
    return incremental('join', joinPieces(parts, sep, size));
  },

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·lower
  // Example: "Hello, World!".lower() == "hello, world!"
  lower: nullary('lower', lowerString),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·lstrip
  // Example: "  hello  ".lstrip() == "hello  "
  lstrip: stripImpl('lstrip'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·partition
  // Example: "one/two/three".partition("/") == ("one", "/", "two/three")
  partition: partitionImpl('partition'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·removeprefix
  // Example: "banana".removeprefix("ban") == "ana"
  removeprefix: removeFixImpl('removeprefix'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·removesuffix
  // Example: "banana".removesuffix("nana") == "ba"
  removesuffix: removeFixImpl('removesuffix'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·replace
  // Example: "banana".replace("a", "o", 2) == "bonona"
  replace: (th: ThreadContext, args, kwargs, recv) => {
    unpackPositional('replace', args, kwargs, 2, 3);
    const s = recvString(recv);
    const old = strArg('replace', 1, args[0]!);
    const repl = strArg('replace', 2, args[1]!);
    const count = args.length > 2 ? intArg('replace', 3, args[2]!) : -1;
    if (old === repl || count === 0) return s;
    if (old.length === 0 || count > 0) return replaceN(s, old, repl, count);
    if (s.length <= SMALL) {
      const pieces = s.split(old);
      if (pieces.length === 1) return s;
      th.charge(s.length + (pieces.length - 1) * (repl.length - old.length));
      chargeSteps((2 * s.length) / BYTES_PER_STEP);
      return pieces.join(repl);
    }
    return incremental('replace', replaceAll(s, old, repl));
  },

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·rfind
  // Example: "bonbon".rfind("on") == 4
  rfind: findImpl('rfind', true, true),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·rindex
  // Example: "bonbon".rindex("on", None, 5) == 1
  rindex: findImpl('rindex', false, true),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·rpartition
  // Example: "one/two/three".rpartition("/") == ("one/two", "/", "three")
  rpartition: partitionImpl('rpartition'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·rsplit
  // Example: "banana".rsplit("n", 1) == ["bana", "a"]
  rsplit: splitImpl('rsplit'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·rstrip
  // Example: "  hello  ".rstrip() == "  hello"
  rstrip: stripImpl('rstrip'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·split
  // Example: "one two  three".split() == ["one", "two", "three"]
  split: splitImpl('split'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·splitlines
  // Example: "one\n\ntwo".splitlines(True) == ["one\n", "\n", "two"]
  splitlines: (th: ThreadContext, args, kwargs, recv) => {
    unpackPositional('splitlines', args, kwargs, 0, 1);
    const s = recvString(recv);
    const keepends = args.length > 0 ? boolArg('splitlines', 1, args[0]!) : false;
    // Only "\n" ends a line (the reference's TODO: CRLF), and a final "\n" starts no new line.
    const lines: string[] = [];
    chargeScan(s.length);
    for (let start = 0; start < s.length; ) {
      if ((lines.length & 0xfff) === 0) chargeBytes(0x1000 * (SLOT_BYTES + OBJECT_BYTES));
      const j = s.indexOf('\n', start);
      if (j < 0) {
        lines.push(s.slice(start));
        break;
      }
      lines.push(s.slice(start, keepends ? j + 1 : j));
      start = j + 1;
    }
    th.charge(OBJECT_BYTES);
    return new List(lines);
  },

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·startswith
  // Example: "abc".startswith(("a", "A")) == True
  startswith: startsWithImpl('startswith'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·strip
  // Example: "  hello  ".strip("h o") == "ell"
  strip: stripImpl('strip'),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·title
  // Example: "hElLo, WoRlD!".title() == "Hello, World!"
  title: nullary('title', (s) => {
    chargeText(4 * s.length);
    if (isAscii(s)) {
      let out = '';
      let prevCased = false;
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        const m = prevCased ? lowerRune(c) : upperRune(c);
        prevCased = isAsciiLetter(m);
        out += String.fromCharCode(m);
      }
      return out;
    }
    let out = '';
    let prevCased = false;
    forEachRune(s, (r) => {
      const m = prevCased ? lowerRune(r) : titleRune(r);
      prevCased = isCasedRune(m);
      out += encodeRune(m);
    });
    return out;
  }),

  // https://github.com/google/starlark-go/blob/master/doc/spec.md#string·upper
  // Example: "Hello, World!".upper() == "HELLO, WORLD!"
  upper: nullary('upper', upperString),
};

defineMethods('string', stringMethods);
