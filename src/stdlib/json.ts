/**
 * This file defines the `json` module (`load("json.star", "json")`), after go.starlark.net's
 * lib/json: `encode`, `encode_indent`, `decode` and `indent`, with the reference's rules and error
 * wording (string dict keys, sorted object keys, cycle detection, non-finite floats refused, big ints
 * as exact decimals, decode errors "json.decode: at offset N, ..."). It also exports `toJSON` and
 * `fromJSON`, which convert values between Starlark and plain JS data for the embedding API and the
 * workflow engine.
 *
 * Strings are binary strings of UTF-8 bytes (see values/value.ts), and so is everything here: JSON
 * text is produced and consumed as UTF-8 bytes, exactly as Go handles it. Only `toJSON`/`fromJSON`
 * convert to and from JS (UTF-16) text.
 */
import { EvalError } from '../interpreter/errors.js';
import {
  attrNames,
  Builtin,
  Bytes,
  decodeRune,
  Dict,
  encodeRune,
  Float,
  formatFloat,
  getAttrOrUndefined,
  intToString,
  List,
  Module,
  normBig,
  quoteString,
  Range,
  StarSet,
  StarValue,
  Tuple,
  typeName,
  asString,
  unpackArgs,
  unpackPositional,
  utf8Decode,
  utf8Encode,
  type KwArgs,
  type Pending,
  type ThreadContext,
  type Value,
  incremental,
  checkIntDigits,
  chargeBytes,
  chargeSteps,
  OBJECT_BYTES,
  SLOT_BYTES,
} from '../interpreter/values/index.js';

/** Nesting deeper than this is refused by encode, decode and the JS conversions (the JS stack is finite). */
export const MAX_JSON_DEPTH = 1000;

/** Output is charged to the thread's budgets in chunks of this many bytes. */
const CHARGE_CHUNK = 1 << 16;

/**
 * Bytes of JSON text produced or consumed per step of work (encoding and decoding visit each value
 * in JS, a few bytes of text each).
 */
const JSON_BYTES_PER_STEP = 4;

/**
 * An output buffer that charges the thread as it grows: the text's bytes, and the work of producing
 * it. Every CHARGE_CHUNK bytes its pieces are joined into one chunk, so the final join is short.
 */
class Out {
  private parts: string[] = [];
  private readonly chunks: string[] = [];
  private uncharged = 0;
  length = 0;
  constructor(private readonly th: ThreadContext) {}
  push(s: string): void {
    this.parts.push(s);
    this.length += s.length;
    this.uncharged += s.length;
    if (this.uncharged >= CHARGE_CHUNK) this.flush();
  }
  flush(): void {
    if (this.uncharged > 0) {
      const n = this.uncharged;
      this.uncharged = 0;
      this.th.charge(n);
      this.th.work(n / JSON_BYTES_PER_STEP);
      this.chunks.push(this.parts.join(''));
      this.parts = [];
    }
  }
  toString(): string {
    this.flush();
    return this.chunks.length === 1 ? this.chunks[0]! : this.chunks.join('');
  }
}

// ---------------------------------------------------------------------------------------------
// Quoting

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

/**
 * Quotes a Starlark string as JSON, as go.starlark.net does: printable ASCII as itself (only `"`
 * and `\` escaped); anything else as Go's json.Marshal does it (\n \r \t \b \f, other control
 * characters as \u00XX, `<` `>` `&` U+2028 U+2029 as \uXXXX, invalid UTF-8 bytes as \ufffd,
 * other non-ASCII text as its UTF-8 bytes).
 */
export function jsonQuote(s: string): string {
  let simple = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x80) {
      simple = false;
      break;
    }
  }
  let out = '"';
  let plain = 0;
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    let esc: string | null = null;
    let n = 1;
    if (c === 0x22) esc = '\\"';
    else if (c === 0x5c) esc = '\\\\';
    else if (simple) {
      i++;
      continue;
    } else if (c < 0x20) {
      switch (c) {
        case 0x08: esc = '\\b'; break;
        case 0x0c: esc = '\\f'; break;
        case 0x0a: esc = '\\n'; break;
        case 0x0d: esc = '\\r'; break;
        case 0x09: esc = '\\t'; break;
        default: esc = '\\u' + hex4(c);
      }
    } else if (c === 0x3c || c === 0x3e || c === 0x26) {
      esc = '\\u' + hex4(c);
    } else if (c >= 0x80) {
      const [r, size] = decodeRune(s, i);
      n = size;
      if (r === 0xfffd && size === 1) esc = '\\ufffd';
      else if (r === 0x2028 || r === 0x2029) esc = '\\u' + hex4(r);
      else {
        i += size;
        continue;
      }
    } else {
      i++;
      continue;
    }
    if (plain < i) out += s.slice(plain, i);
    out += esc;
    i += n;
    plain = i;
  }
  if (plain < s.length) out += s.slice(plain);
  return out + '"';
}

/**
 * Go's quoting of one byte or rune in scanner and decoder messages (`%q` of a byte): 'x', '\n',
 * '\x00', '\'', and for bytes 0x80..0xFF the Latin-1 character they denote (as UTF-8).
 */
function quoteChar(c: number): string {
  switch (c) {
    case 0x27: return "'\\''";
    case 0x5c: return "'\\\\'";
    case 0x07: return "'\\a'";
    case 0x08: return "'\\b'";
    case 0x0c: return "'\\f'";
    case 0x0a: return "'\\n'";
    case 0x0d: return "'\\r'";
    case 0x09: return "'\\t'";
    case 0x0b: return "'\\v'";
  }
  if (c < 0x20 || c === 0x7f) return `'\\x${c.toString(16).padStart(2, '0')}'`;
  if (c < 0x80) return `'${String.fromCharCode(c)}'`;
  if (c < 0xa1 || c === 0xad) return `'\\u${hex4(c)}'`;
  return `'${encodeRune(c)}'`;
}

// ---------------------------------------------------------------------------------------------
// encode

/** True if the value is encoded as a JSON object of its attributes (Go's HasAttrs case). */
function hasAttrs(x: StarValue): boolean {
  return x.attrNames !== undefined || attrNames(x).length > 0;
}

/** Containers with more elements than this are encoded incrementally (in blocks, yielding between). */
const BIG = 4096;

/**
 * Encodes values as JSON text (a binary string), appending to `out`. `emit` encodes a value at once;
 * `emitPieces` encodes it as incremental work: a big list, tuple, set or dict block by block, and a
 * big container inside it the same way. Both throw the reference's error message without the
 * function-name prefix (the caller adds it).
 */
class Encoder {
  private readonly path: StarValue[] = [];
  constructor(private readonly out: Out) {}

  private fail(msg: string): never {
    throw new JsonError(msg);
  }

  /** Encodes a scalar and returns true, or returns false for a container (a StarValue). */
  private scalar(x: Value): boolean {
    const out = this.out;
    switch (typeof x) {
      case 'boolean':
        out.push(x ? 'true' : 'false');
        return true;
      case 'number':
        out.push(String(x));
        return true;
      case 'bigint':
        out.push(intToString(x));
        return true;
      case 'string':
        out.push(jsonQuote(x));
        return true;
    }
    if (x === null) {
      out.push('null');
      return true;
    }
    if (x instanceof Float) {
      if (!Number.isFinite(x.v)) this.fail(`cannot encode non-finite float ${formatFloat(x.v)}`);
      out.push(formatFloat(x.v));
      return true;
    }
    if (!(x instanceof StarValue)) this.fail(`cannot encode ${typeName(x)} as JSON`);
    return false;
  }

  private enter(x: StarValue): void {
    if (this.path.includes(x)) this.fail('cycle in JSON structure');
    if (this.path.length >= MAX_JSON_DEPTH) this.fail(`nesting depth exceeds ${MAX_JSON_DEPTH}`);
    this.path.push(x);
  }

  /** A dict's items sorted by key (all keys must be strings). */
  private sortedItems(x: Dict): [Value, Value][] {
    const items = x.entries();
    for (const [k] of items) if (typeof k !== 'string') this.fail(`${x.type} has ${typeName(k)} key, want string`);
    items.sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : (a[0] as string) > (b[0] as string) ? 1 : 0));
    return items;
  }

  /** The elements of an iterable container, or undefined if x is not one. */
  private elemsOf(x: StarValue): readonly Value[] | undefined {
    if (x instanceof List || x instanceof Tuple) return x.elems;
    if (x instanceof StarSet) return x.elems();
    if (x instanceof Range) return rangeElems(x, this.out);
    if (x.iterate) return [...x.iterate()];
    return undefined;
  }

  emit(x: Value): void {
    if (this.scalar(x)) return;
    const v = x as StarValue;
    const out = this.out;
    this.enter(v);
    try {
      if (v instanceof Dict) {
        const items = this.sortedItems(v);
        out.push('{');
        let i = 0;
        try {
          for (; i < items.length; i++) {
            if (i > 0) out.push(',');
            const [k, e] = items[i]!;
            out.push(jsonQuote(k as string));
            out.push(':');
            this.emit(e);
          }
        } catch (e) {
          throw prefixed(e, `in ${v.type} key ${quoteString(items[i]![0] as string)}: `);
        }
        out.push('}');
        return;
      }
      const elems = this.elemsOf(v);
      if (elems !== undefined) {
        out.push('[');
        let i = 0;
        try {
          for (; i < elems.length; i++) {
            if (i > 0) out.push(',');
            const e = elems[i]!;
            if (typeof e === 'number') out.push(String(e));
            else this.emit(e);
          }
        } catch (e) {
          throw prefixed(e, `at ${v.type} index ${i}: `);
        }
        out.push(']');
        return;
      }
      this.emitAttrs(v);
    } finally {
      this.path.pop();
    }
  }

  private emitAttrs(x: StarValue): void {
    const out = this.out;
    if (!hasAttrs(x)) this.fail(`cannot encode ${x.type} as JSON`);
    const names = [...attrNames(x)].sort();
    out.push('{');
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const v = getAttrOrUndefined(x, name);
      if (v === undefined) this.fail(`missing attribute ${x.type}.${name} (despite ${quoteString(name)} appearing in dir())`);
      if (i > 0) out.push(',');
      out.push(jsonQuote(name));
      out.push(':');
      try {
        this.emit(v!);
      } catch (e) {
        throw prefixed(e, `in field .${name}: `);
      }
    }
    out.push('}');
  }

  /** Like `emit`, as incremental work: yields after each block of BIG elements of a big container. */
  *emitPieces(x: Value): Generator<undefined, void, undefined> {
    if (!isBigContainer(x)) {
      this.emit(x);
      return;
    }
    const v = x as StarValue;
    const out = this.out;
    this.enter(v);
    try {
      if (v instanceof Dict) {
        const items = this.sortedItems(v);
        out.push('{');
        let i = 0;
        try {
          for (; i < items.length; i++) {
            if (i > 0) out.push(',');
            const [k, e] = items[i]!;
            out.push(jsonQuote(k as string));
            out.push(':');
            yield* this.emitPieces(e);
            if (i % BIG === BIG - 1) yield;
          }
        } catch (e) {
          throw prefixed(e, `in ${v.type} key ${quoteString(items[i]![0] as string)}: `);
        }
        out.push('}');
        return;
      }
      const elems = this.elemsOf(v)!;
      out.push('[');
      let i = 0;
      try {
        for (; i < elems.length; i++) {
          if (i > 0) out.push(',');
          const e = elems[i]!;
          if (typeof e === 'number') out.push(String(e));
          else yield* this.emitPieces(e);
          if (i % BIG === BIG - 1) yield;
        }
      } catch (e) {
        throw prefixed(e, `at ${v.type} index ${i}: `);
      }
      out.push(']');
    } finally {
      this.path.pop();
    }
  }
}

/** True for a list, tuple, set or dict with more than BIG elements (encoded incrementally). */
function isBigContainer(x: Value): boolean {
  if (x instanceof List || x instanceof Tuple) return x.elems.length > BIG;
  if (x instanceof Dict || x instanceof StarSet) return x.size > BIG;
  return false;
}

function rangeElems(r: Range, out: Out): Value[] {
  out.flush();
  const a: Value[] = new Array<Value>(r.length);
  for (let i = 0; i < r.length; i++) a[i] = r.at(i);
  return a;
}

/** An encoding failure, carrying the message path built so far. */
class JsonError extends Error {}

/** A JsonError with `prefix` added to its message; any other error unchanged. */
function prefixed(e: unknown, prefix: string): unknown {
  return e instanceof JsonError ? new JsonError(prefix + e.message) : e;
}

/**
 * Encodes a value as JSON (a Starlark string), as `json.encode` does.
 * @throws EvalError "json.encode: ..." (or `fnName: ...`) for a value that has no JSON form.
 */
export function encodeJSON(th: ThreadContext, x: Value, fnName = 'json.encode'): string {
  const out = new Out(th);
  try {
    new Encoder(out).emit(x);
  } catch (e) {
    if (e instanceof JsonError) throw new EvalError(`${fnName}: ${e.message}`);
    throw e;
  }
  return out.toString();
}

/** `encodeJSON` as incremental work (values/job.ts), for big values. */
function* encodePieces(th: ThreadContext, x: Value, fnName: string): Generator<undefined, string, undefined> {
  const out = new Out(th);
  try {
    yield* new Encoder(out).emitPieces(x);
  } catch (e) {
    if (e instanceof JsonError) throw new EvalError(`${fnName}: ${e.message}`);
    throw e;
  }
  return out.toString();
}

// https://github.com/google/starlark-go/blob/master/lib/json/json.go (encode)
function encode(th: ThreadContext, args: Value[], kwargs: KwArgs | null): Value | Pending {
  unpackPositional('json.encode', args, kwargs, 1);
  const x = args[0]!;
  return isBigContainer(x) ? incremental('json.encode', encodePieces(th, x, 'json.encode')) : encodeJSON(th, x);
}

// ---------------------------------------------------------------------------------------------
// indent: a byte-at-a-time JSON scanner with the states and messages of Go's encoding/json

/** What the scanner reports for one byte (Go's scanXxx opcodes). */
const enum Scan {
  Continue,
  BeginLiteral,
  BeginObject,
  ObjectKey,
  ObjectValue,
  EndObject,
  BeginArray,
  ArrayValue,
  EndArray,
  SkipSpace,
  End,
  Error,
}

const enum Parse {
  ObjectKey,
  ObjectValue,
  ArrayValue,
}

/** Go's encoding/json nesting limit. */
const SCANNER_MAX_DEPTH = 10000;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

type StepFn = (s: Scanner, c: number) => Scan;

/**
 * A JSON syntax checker fed one byte at a time, as Go's encoding/json scanner: `step` classifies
 * each byte, `eof` finishes; after an error, `err` holds Go's message (e.g. "invalid character 'x'
 * looking for beginning of value", "unexpected end of JSON input").
 */
class Scanner {
  step: StepFn = beginValue;
  stack: Parse[] = [];
  endTop = false;
  err: string | null = null;

  error(c: number, context: string): Scan {
    this.step = stateError;
    this.err = `invalid character ${quoteChar(c)} ${context}`;
    return Scan.Error;
  }
  push(c: number, p: Parse, success: Scan): Scan {
    this.stack.push(p);
    return this.stack.length <= SCANNER_MAX_DEPTH ? success : this.error(c, 'exceeded max depth');
  }
  pop(): void {
    this.stack.pop();
    if (this.stack.length === 0) {
      this.step = endTop;
      this.endTop = true;
    } else {
      this.step = endValue;
    }
  }
  eof(): Scan {
    if (this.err !== null) return Scan.Error;
    if (this.endTop) return Scan.End;
    this.step(this, 0x20);
    if (this.endTop) return Scan.End;
    if (this.err === null) this.err = 'unexpected end of JSON input';
    return Scan.Error;
  }
}

function stateError(): Scan {
  return Scan.Error;
}

function beginValueOrEmpty(s: Scanner, c: number): Scan {
  if (isSpace(c)) return Scan.SkipSpace;
  if (c === 0x5d) return endValue(s, c);
  return beginValue(s, c);
}

function beginValue(s: Scanner, c: number): Scan {
  if (isSpace(c)) return Scan.SkipSpace;
  switch (c) {
    case 0x7b:
      s.step = beginStringOrEmpty;
      return s.push(c, Parse.ObjectKey, Scan.BeginObject);
    case 0x5b:
      s.step = beginValueOrEmpty;
      return s.push(c, Parse.ArrayValue, Scan.BeginArray);
    case 0x22:
      s.step = inString;
      return Scan.BeginLiteral;
    case 0x2d:
      s.step = neg;
      return Scan.BeginLiteral;
    case 0x30:
      s.step = state0;
      return Scan.BeginLiteral;
    case 0x74:
      s.step = literal('true', 1);
      return Scan.BeginLiteral;
    case 0x66:
      s.step = literal('false', 1);
      return Scan.BeginLiteral;
    case 0x6e:
      s.step = literal('null', 1);
      return Scan.BeginLiteral;
  }
  if (c >= 0x31 && c <= 0x39) {
    s.step = state1;
    return Scan.BeginLiteral;
  }
  return s.error(c, 'looking for beginning of value');
}

function beginStringOrEmpty(s: Scanner, c: number): Scan {
  if (isSpace(c)) return Scan.SkipSpace;
  if (c === 0x7d) {
    s.stack[s.stack.length - 1] = Parse.ObjectValue;
    return endValue(s, c);
  }
  return beginString(s, c);
}

function beginString(s: Scanner, c: number): Scan {
  if (isSpace(c)) return Scan.SkipSpace;
  if (c === 0x22) {
    s.step = inString;
    return Scan.BeginLiteral;
  }
  return s.error(c, 'looking for beginning of object key string');
}

function endValue(s: Scanner, c: number): Scan {
  const n = s.stack.length;
  if (n === 0) {
    s.step = endTop;
    s.endTop = true;
    return endTop(s, c);
  }
  if (isSpace(c)) {
    s.step = endValue;
    return Scan.SkipSpace;
  }
  switch (s.stack[n - 1]!) {
    case Parse.ObjectKey:
      if (c === 0x3a) {
        s.stack[n - 1] = Parse.ObjectValue;
        s.step = beginValue;
        return Scan.ObjectKey;
      }
      return s.error(c, 'after object key');
    case Parse.ObjectValue:
      if (c === 0x2c) {
        s.stack[n - 1] = Parse.ObjectKey;
        s.step = beginString;
        return Scan.ObjectValue;
      }
      if (c === 0x7d) {
        s.pop();
        return Scan.EndObject;
      }
      return s.error(c, 'after object key:value pair');
    case Parse.ArrayValue:
      if (c === 0x2c) {
        s.step = beginValue;
        return Scan.ArrayValue;
      }
      if (c === 0x5d) {
        s.pop();
        return Scan.EndArray;
      }
      return s.error(c, 'after array element');
  }
}

function endTop(s: Scanner, c: number): Scan {
  if (!isSpace(c)) s.error(c, 'after top-level value');
  return Scan.End;
}

function inString(s: Scanner, c: number): Scan {
  if (c === 0x22) {
    s.step = endValue;
    return Scan.Continue;
  }
  if (c === 0x5c) {
    s.step = inStringEsc;
    return Scan.Continue;
  }
  if (c < 0x20) return s.error(c, 'in string literal');
  return Scan.Continue;
}

function inStringEsc(s: Scanner, c: number): Scan {
  switch (c) {
    case 0x62: case 0x66: case 0x6e: case 0x72: case 0x74: case 0x5c: case 0x2f: case 0x22:
      s.step = inString;
      return Scan.Continue;
    case 0x75:
      s.step = inStringEscU(0);
      return Scan.Continue;
  }
  return s.error(c, 'in string escape code');
}

const escU: StepFn[] = [];
function inStringEscU(k: number): StepFn {
  return (escU[k] ??= (s: Scanner, c: number): Scan => {
    if (!isHex(c)) return s.error(c, 'in \\u hexadecimal character escape');
    s.step = k === 3 ? inString : inStringEscU(k + 1);
    return Scan.Continue;
  });
}

function neg(s: Scanner, c: number): Scan {
  if (c === 0x30) {
    s.step = state0;
    return Scan.Continue;
  }
  if (c >= 0x31 && c <= 0x39) {
    s.step = state1;
    return Scan.Continue;
  }
  return s.error(c, 'in numeric literal');
}

function state1(s: Scanner, c: number): Scan {
  if (isDigit(c)) {
    s.step = state1;
    return Scan.Continue;
  }
  return state0(s, c);
}

function state0(s: Scanner, c: number): Scan {
  if (c === 0x2e) {
    s.step = stateDot;
    return Scan.Continue;
  }
  if (c === 0x65 || c === 0x45) {
    s.step = stateE;
    return Scan.Continue;
  }
  return endValue(s, c);
}

function stateDot(s: Scanner, c: number): Scan {
  if (isDigit(c)) {
    s.step = stateDot0;
    return Scan.Continue;
  }
  return s.error(c, 'after decimal point in numeric literal');
}

function stateDot0(s: Scanner, c: number): Scan {
  if (isDigit(c)) return Scan.Continue;
  if (c === 0x65 || c === 0x45) {
    s.step = stateE;
    return Scan.Continue;
  }
  return endValue(s, c);
}

function stateE(s: Scanner, c: number): Scan {
  if (c === 0x2b || c === 0x2d) {
    s.step = stateESign;
    return Scan.Continue;
  }
  return stateESign(s, c);
}

function stateESign(s: Scanner, c: number): Scan {
  if (isDigit(c)) {
    s.step = stateE0;
    return Scan.Continue;
  }
  return s.error(c, 'in exponent of numeric literal');
}

function stateE0(s: Scanner, c: number): Scan {
  if (isDigit(c)) return Scan.Continue;
  return endValue(s, c);
}

const literalSteps = new Map<string, StepFn>();
/** The state after the first `k` bytes of the literal `word` (true, false, null). */
function literal(word: string, k: number): StepFn {
  const key = `${word}${k}`;
  let f = literalSteps.get(key);
  if (f === undefined) {
    f = (s: Scanner, c: number): Scan => {
      const want = word.charCodeAt(k);
      if (c !== want) return s.error(c, `in literal ${word} (expecting ${quoteChar(want)})`);
      s.step = k + 1 === word.length ? endValue : literal(word, k + 1);
      return Scan.Continue;
    };
    literalSteps.set(key, f);
  }
  return f;
}

/** Checks that `src` is one valid JSON value, as Go's checkValid does; returns Go's error message or null. */
function checkValid(src: string): string | null {
  const s = new Scanner();
  for (let i = 0; i < src.length; i++) {
    if (s.step(s, src.charCodeAt(i)) === Scan.Error) return s.err;
  }
  return s.eof() === Scan.Error ? s.err : null;
}

/**
 * Re-indents JSON text as Go's json.Indent does: one element per line, `prefix` at the start of
 * every line but the first, `indent` once per nesting level, `": "` after keys, empty arrays and
 * objects kept as `[]` and `{}`, leading and inner space dropped, trailing space kept.
 * @throws JsonError with Go's scanner message.
 */
function indentJSON(src: string, prefix: string, indent: string, out: Out): void {
  const s = new Scanner();
  let needIndent = false;
  let depth = 0;
  const newline = (d: number): void => {
    out.push('\n');
    if (prefix) out.push(prefix);
    if (indent) for (let k = 0; k < d; k++) out.push(indent);
  };
  // Runs of bytes copied unchanged (string contents, numbers) are pushed as one slice.
  let run = -1;
  const endRun = (i: number): void => {
    if (run >= 0) {
      out.push(src.slice(run, i));
      run = -1;
    }
  };
  for (let i = 0; i < src.length; i++) {
    const c = src.charCodeAt(i);
    const v = s.step(s, c);
    if (v === Scan.SkipSpace) {
      endRun(i);
      continue;
    }
    if (v === Scan.Error) break;
    if (needIndent && v !== Scan.EndObject && v !== Scan.EndArray) {
      needIndent = false;
      depth++;
      newline(depth);
    }
    if (v === Scan.Continue || v === Scan.BeginLiteral || v === Scan.End) {
      if (run < 0) run = i;
      continue;
    }
    endRun(i);
    switch (c) {
      case 0x7b:
      case 0x5b:
        needIndent = true;
        out.push(src[i]!);
        break;
      case 0x2c:
        out.push(',');
        newline(depth);
        break;
      case 0x3a:
        out.push(': ');
        break;
      case 0x7d:
      case 0x5d:
        if (needIndent) needIndent = false;
        else {
          depth--;
          newline(depth);
        }
        out.push(src[i]!);
        break;
      default:
        out.push(src[i]!);
    }
  }
  if (s.eof() === Scan.Error) throw new JsonError(s.err!);
  endRun(src.length);
}

/** Go's json.Indent on a Starlark string (bytes), or a JsonError. */
function indentString(th: ThreadContext, src: string, prefix: string, indent: string): string {
  const out = new Out(th);
  indentJSON(src, prefix, indent, out);
  return out.toString();
}

function unpackIndentKwargs(fnName: string, kwargs: KwArgs | null): [string, string] {
  const [p, ind] = unpackArgs(fnName, [], kwargs, ['prefix?', 'indent?']);
  const prefix = p === undefined ? '' : asString(fnName, 'prefix', p);
  const indent = ind === undefined ? '\t' : asString(fnName, 'indent', ind);
  return [prefix, indent];
}

// https://github.com/google/starlark-go/blob/master/lib/json/json.go (indent)
function indent(th: ThreadContext, args: Value[], kwargs: KwArgs | null): Value {
  const [prefix, ind] = unpackIndentKwargs('json.indent', kwargs);
  unpackPositional('json.indent', args, null, 1);
  const s = args[0]!;
  if (typeof s !== 'string') throw new EvalError(`json.indent: for parameter 1: got ${typeName(s)}, want string`);
  try {
    return indentString(th, s, prefix, ind);
  } catch (e) {
    if (e instanceof JsonError) throw new EvalError(`json.indent: ${e.message}`);
    throw e;
  }
}

// https://github.com/google/starlark-go/blob/master/lib/json/json.go (encode_indent)
function encodeIndent(th: ThreadContext, args: Value[], kwargs: KwArgs | null): Value {
  const [prefix, ind] = unpackIndentKwargs('json.encode_indent', kwargs);
  unpackPositional('json.encode_indent', args, null, 1);
  const s = encodeJSON(th, args[0]!, 'json.encode_indent');
  try {
    return indentString(th, s, prefix, ind);
  } catch (e) {
    if (e instanceof JsonError) throw new EvalError(`json.encode_indent: ${e.message}`);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// decode

/** A syntax error in decode's input: turned into the default value when one is given. */
class DecodeFailure extends Error {}

const GO_FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Go's json.Unmarshal of a quoted string literal (with escapes or non-ASCII bytes): validates it
 * with the scanner, then decodes escapes (a surrogate pair to one code point, a lone surrogate to
 * U+FFFD) and replaces invalid UTF-8 bytes by U+FFFD.
 * @throws DecodeFailure with the scanner's message.
 */
function unquote(lit: string): string {
  const err = checkValid(lit);
  if (err !== null) throw new DecodeFailure(err);
  const n = lit.length - 1; // index of the closing quote
  const hexVal = (c: number): number =>
    c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
  /** The code unit of a \uXXXX escape at `at`, or -1. */
  const u4 = (at: number): number => {
    if (at + 6 > n || lit.charCodeAt(at) !== 0x5c || lit.charCodeAt(at + 1) !== 0x75) return -1;
    let r = 0;
    for (let k = 2; k < 6; k++) {
      const h = hexVal(lit.charCodeAt(at + k));
      if (h < 0) return -1;
      r = r * 16 + h;
    }
    return r;
  };
  let out = '';
  let i = 1;
  while (i < n) {
    const c = lit.charCodeAt(i);
    if (c === 0x5c) {
      switch (lit.charCodeAt(i + 1)) {
        case 0x62: out += '\b'; i += 2; continue;
        case 0x66: out += '\f'; i += 2; continue;
        case 0x6e: out += '\n'; i += 2; continue;
        case 0x72: out += '\r'; i += 2; continue;
        case 0x74: out += '\t'; i += 2; continue;
        case 0x75: {
          let r = u4(i);
          i += 6;
          if (r >= 0xd800 && r < 0xe000) {
            const r2 = u4(i);
            if (r < 0xdc00 && r2 >= 0xdc00 && r2 < 0xe000) {
              r = 0x10000 + ((r - 0xd800) << 10) + (r2 - 0xdc00);
              i += 6;
            } else {
              r = 0xfffd;
            }
          }
          out += encodeRune(r);
          continue;
        }
        default: // \\ \/ \"
          out += lit[i + 1];
          i += 2;
          continue;
      }
    }
    if (c < 0x80) {
      out += lit[i];
      i++;
      continue;
    }
    const [r, size] = decodeRune(lit, i);
    out += size === 1 && r === 0xfffd ? '\xef\xbf\xbd' : lit.slice(i, i + size);
    i += size;
  }
  return out;
}

/**
 * Decodes JSON text (a Starlark string) into a Starlark value, as `json.decode` does: objects to
 * new dicts, arrays to new lists, numbers to int (exact, big if need be) or float (if they contain
 * '.', 'e' or 'E'), strings to UTF-8 strings.
 * @throws EvalError "json.decode: at offset N, ..." for invalid JSON, unless `dflt` is given, in
 * which case it is returned instead.
 */
export function decodeJSON(th: ThreadContext, s: string, dflt?: Value): Value {
  let i = 0;
  let depth = 0;
  const fail = (msg: string): never => {
    throw new DecodeFailure(msg);
  };
  const skipSpace = (): boolean => {
    for (; i < s.length; i++) {
      const b = s.charCodeAt(i);
      if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return true;
    }
    return false;
  };
  const next = (): number => {
    if (skipSpace()) return s.charCodeAt(i);
    return fail('unexpected end of file');
  };
  const parse = (): Value => {
    let b = next();
    switch (b) {
      case 0x22: {
        let safe = true;
        let closed = false;
        let j = i + 1;
        for (; j < s.length; j++) {
          const c = s.charCodeAt(j);
          if (c === 0x5c) {
            safe = false;
            j++;
          } else if (c === 0x22) {
            closed = true;
            j++;
            break;
          } else if (c >= 0x80) {
            safe = false;
          }
        }
        if (!closed) fail('unclosed string literal');
        const lit = s.slice(i, j);
        i = j;
        const r = safe ? lit.slice(1, -1) : unquote(lit);
        // A short string's work is the step its container charges for it.
        if (lit.length > 256) chargeSteps(lit.length / JSON_BYTES_PER_STEP);
        chargeBytes(safe ? OBJECT_BYTES : r.length + OBJECT_BYTES);
        return r;
      }
      case 0x6e:
        if (s.startsWith('null', i)) {
          i += 4;
          return null;
        }
        break;
      case 0x74:
        if (s.startsWith('true', i)) {
          i += 4;
          return true;
        }
        break;
      case 0x66:
        if (s.startsWith('false', i)) {
          i += 5;
          return false;
        }
        break;
      case 0x5b: {
        if (++depth > MAX_JSON_DEPTH) throw new EvalError(`json.decode: at offset ${i}, nesting depth exceeds ${MAX_JSON_DEPTH}`);
        const elems: Value[] = [];
        i++;
        b = next();
        if (b !== 0x5d) {
          for (;;) {
            if ((elems.length & 1023) === 1023) chargeBytes(1024 * SLOT_BYTES);
            elems.push(parse());
            b = next();
            if (b !== 0x2c) {
              if (b !== 0x5d) fail(`got ${quoteChar(b)}, want ',' or ']'`);
              break;
            }
            i++;
          }
        }
        i++;
        depth--;
        chargeSteps(elems.length);
        chargeBytes((elems.length & 1023) * SLOT_BYTES + OBJECT_BYTES);
        return new List(elems);
      }
      case 0x7b: {
        if (++depth > MAX_JSON_DEPTH) throw new EvalError(`json.decode: at offset ${i}, nesting depth exceeds ${MAX_JSON_DEPTH}`);
        const dict = new Dict();
        i++;
        b = next();
        if (b !== 0x7d) {
          for (;;) {
            const key = parse();
            if (typeof key !== 'string') fail(`got ${typeName(key)} for object key, want string`);
            b = next();
            if (b !== 0x3a) fail(`after object key, got ${quoteChar(b)}, want ':' `);
            i++;
            const value = parse();
            dict.set(key, value);
            b = next();
            if (b !== 0x2c) {
              if (b !== 0x7d) fail(`in object, got ${quoteChar(b)}, want ',' or '}'`);
              break;
            }
            i++;
          }
        }
        i++;
        depth--;
        chargeBytes(OBJECT_BYTES);
        return dict;
      }
      default:
        if (isDigit(b) || b === 0x2d) {
          let isFloat = false;
          let j = i + 1;
          for (; j < s.length; j++) {
            const c = s.charCodeAt(j);
            if (isDigit(c)) continue;
            if (c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d) isFloat = true;
            else break;
          }
          const num = s.slice(i, j);
          i = j;
          const digits = num[0] === '-' ? num.slice(1) : num;
          if (digits === '' || (digits[0] === '0' && digits.length > 1 && isDigit(digits.charCodeAt(1)))) {
            fail(`invalid number: ${num}`);
          }
          if (isFloat) {
            if (!GO_FLOAT.test(num)) fail(`invalid number: ${num}`);
            const f = Number(num);
            if (!Number.isFinite(f)) fail(`invalid number: ${num}`);
            return new Float(f);
          }
          if (!/^-?\d+$/.test(num)) fail(`invalid number: ${num}`);
          if (num.length > 64) {
            checkIntDigits(num.length, 10);
            chargeSteps(num.length / JSON_BYTES_PER_STEP);
            th.charge(num.length);
          }
          return num.length <= 15 ? Number(num) || 0 : normBig(BigInt(num));
        }
    }
    return fail(`unexpected character ${quoteChar(b)}`);
  };
  try {
    const x = parse();
    if (skipSpace()) fail(`unexpected character ${quoteChar(s.charCodeAt(i))} after value`);
    return x;
  } catch (e) {
    if (e instanceof DecodeFailure) {
      if (dflt !== undefined) return dflt;
      throw new EvalError(`json.decode: at offset ${i}, ${e.message}`);
    }
    throw e;
  }
}

// https://github.com/google/starlark-go/blob/master/lib/json/json.go (decode)
function decode(th: ThreadContext, args: Value[], kwargs: KwArgs | null): Value {
  const [x, dflt] = unpackArgs('json.decode', args, kwargs, ['x', 'default?']);
  if (args.length < 1) throw new EvalError('json.decode: unexpected keyword argument x');
  const s = asString('json.decode', 'x', x!);
  return decodeJSON(th, s, dflt);
}

/** The `json` module: `load("json.star", "json")`. */
export const json: Module = new Module(
  'json',
  new Map<string, Value>([
    ['encode', new Builtin('json.encode', encode)],
    ['encode_indent', new Builtin('json.encode_indent', encodeIndent)],
    ['decode', new Builtin('json.decode', decode)],
    ['indent', new Builtin('json.indent', indent)],
  ]),
);

// ---------------------------------------------------------------------------------------------
// JS <-> Starlark conversions

/**
 * Converts a Starlark value to plain JS data, the JSON-like way: None → null, bool → boolean,
 * int → number (bigint beyond ±(2^53-1)), float → number (non-finite refused), string → JS text,
 * bytes → refused, list/tuple/set/range → array, dict (string keys) and struct → plain object.
 * @throws EvalError for values with no JSON-like form (functions, non-string dict keys, cycles...).
 */
export function toJSON(v: Value): unknown {
  const path: StarValue[] = [];
  const conv = (x: Value): unknown => {
    switch (typeof x) {
      case 'boolean':
      case 'number':
      case 'bigint':
        return x;
      case 'string':
        return utf8Decode(x);
    }
    if (x === null) return null;
    if (x instanceof Float) {
      if (!Number.isFinite(x.v)) throw new EvalError(`cannot convert non-finite float ${formatFloat(x.v)} to JSON`);
      return x.v;
    }
    if (!(x instanceof StarValue)) throw new EvalError(`cannot convert ${typeName(x)} to JSON`);
    if (path.includes(x)) throw new EvalError('cannot convert to JSON: cycle in structure');
    if (path.length >= MAX_JSON_DEPTH) throw new EvalError(`cannot convert to JSON: nesting depth exceeds ${MAX_JSON_DEPTH}`);
    path.push(x);
    try {
      if (x instanceof Dict) {
        const entries: [string, unknown][] = [];
        for (const [k, val] of x.entries()) {
          if (typeof k !== 'string') throw new EvalError(`cannot convert to JSON: dict has ${typeName(k)} key, want string`);
          entries.push([utf8Decode(k), conv(val)]);
        }
        return Object.fromEntries(entries);
      }
      if (x instanceof List || x instanceof Tuple) return x.elems.map(conv);
      if (x instanceof StarSet) return x.elems().map(conv);
      if (x instanceof Range) {
        const a: unknown[] = [];
        for (let i = 0; i < x.length; i++) a.push(x.at(i));
        return a;
      }
      if (x instanceof Bytes || x instanceof Module) throw new EvalError(`cannot convert ${x.type} to JSON`);
      if (x.iterate) return [...x.iterate()].map(conv);
      // An opaque value that knows its own JSON form (a task's reference to a stored value).
      const own = (x as { jsonValue?: () => unknown }).jsonValue;
      if (typeof own === 'function') return own.call(x);
      if (x.attrNames && x.getAttr) {
        const entries: [string, unknown][] = [];
        for (const name of x.attrNames()) {
          const val = x.getAttr(name);
          if (val !== undefined) entries.push([utf8Decode(name), conv(val)]);
        }
        return Object.fromEntries(entries);
      }
      throw new EvalError(`cannot convert ${x.type} to JSON`);
    } finally {
      path.pop();
    }
  };
  return conv(v);
}

function jsTypeName(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  const ctor = (x as { constructor?: { name?: unknown } }).constructor;
  return typeof ctor?.name === 'string' && ctor.name ? ctor.name : 'object';
}

/**
 * Converts plain JS data to a new (unfrozen) Starlark value, the JSON-like way: null → None,
 * boolean → bool, safe integer → int, other number → float, bigint → int, string → string (UTF-8),
 * array → list, plain object or Map → dict (object properties whose value is undefined are
 * skipped), a Starlark value → itself.
 * @throws EvalError for JS values with no Starlark equivalent (undefined, functions, symbols,
 * class instances such as Date) and for cyclic data.
 */
export function fromJSON(x: unknown): Value {
  const path: object[] = [];
  const conv = (x: unknown): Value => {
    switch (typeof x) {
      case 'boolean':
        return x;
      case 'number':
        if (Number.isSafeInteger(x)) return x === 0 ? 0 : x;
        return new Float(x);
      case 'bigint':
        return normBig(x);
      case 'string':
        return utf8Encode(x);
      case 'object':
        break;
      default:
        throw new EvalError(`cannot convert JS ${typeof x} to a Starlark value`);
    }
    if (x === null) return null;
    if (x instanceof StarValue) return x;
    if (path.includes(x)) throw new EvalError('cannot convert JS value to Starlark: cycle in structure');
    if (path.length >= MAX_JSON_DEPTH) throw new EvalError(`cannot convert JS value to Starlark: nesting depth exceeds ${MAX_JSON_DEPTH}`);
    path.push(x);
    try {
      if (Array.isArray(x)) {
        const elems: Value[] = new Array<Value>(x.length);
        for (let i = 0; i < x.length; i++) elems[i] = conv(x[i]);
        return new List(elems);
      }
      if (x instanceof Map) {
        const d = new Dict();
        for (const [k, v] of x) d.set(conv(k), conv(v));
        return d;
      }
      const proto: unknown = Object.getPrototypeOf(x);
      if (proto === Object.prototype || proto === null) {
        const d = new Dict();
        for (const [k, v] of Object.entries(x)) {
          if (v === undefined) continue;
          d.set(utf8Encode(k), conv(v));
        }
        return d;
      }
      throw new EvalError(`cannot convert JS ${jsTypeName(x)} to a Starlark value`);
    } finally {
      path.pop();
    }
  };
  return conv(x);
}
