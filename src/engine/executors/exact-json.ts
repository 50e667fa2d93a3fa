/**
 * This file defines the JSON text of the process task protocol, exact for big integers. History
 * keeps an int beyond ±(2^53−1) as `{"$bigint": "digits"}` (core/json.ts); a process task must see
 * it as a plain JSON number with all its digits (Python's `json` reads it as an int), and a big
 * integer it writes must come back with all its digits, not rounded to a double.
 *
 * `JSON.parse` cannot do the second (Node 20 gives a reviver the rounded value, not its source
 * text), so `parseExactJson` takes `JSON.parse`'s fast path when the text has no run of 16 digits
 * (every integer beyond 2^53 has at least 16), and otherwise a small tokenizer-based parser that
 * keeps an integer literal (no fraction, no exponent) beyond ±(2^53−1) as `{"$bigint": "digits"}`.
 * A literal with a fraction or an exponent (`1e20`, `2.0`) stays a double, as JSON.parse gives it.
 */
import type { Json } from '../core/json.js';

/** True for history's form of a big integer: an object whose only key is `$bigint`, with digits. */
export function isBigintMarker(v: unknown): v is { readonly $bigint: string } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === '$bigint' && typeof (v as { $bigint?: unknown }).$bigint === 'string' && INTEGER.test((v as { $bigint: string }).$bigint);
}

/** A JSON value, possibly read-only (what a TaskRequest holds). */
export type ReadonlyJson = null | boolean | number | string | readonly ReadonlyJson[] | { readonly [key: string]: ReadonlyJson };

const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

/**
 * JSON text of a history value, with every big integer marker written as the number it stands for
 * (`{"$bigint": "123456789012345678901"}` → `123456789012345678901`). Otherwise as JSON.stringify
 * (NaN and ±Infinity become null).
 */
export function writeExactJson(v: ReadonlyJson): string {
  const out: string[] = [];
  write(v, out);
  return out.join('');
}

const isArray = Array.isArray as (v: unknown) => v is readonly ReadonlyJson[];

function write(v: ReadonlyJson, out: string[]): void {
  if (v === null || typeof v !== 'object') {
    out.push(JSON.stringify(v) ?? 'null');
    return;
  }
  if (isArray(v)) {
    out.push('[');
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.push(',');
      write(v[i] === undefined ? null : v[i]!, out);
    }
    out.push(']');
    return;
  }
  if (isBigintMarker(v)) {
    out.push(v.$bigint);
    return;
  }
  const obj = v as { readonly [key: string]: ReadonlyJson };
  out.push('{');
  let first = true;
  for (const key of Object.keys(obj)) {
    const item = obj[key];
    if (item === undefined) continue;
    if (!first) out.push(',');
    first = false;
    out.push(JSON.stringify(key), ':');
    write(item, out);
  }
  out.push('}');
}

/**
 * Parses JSON text; an integer literal beyond ±(2^53−1) becomes `{"$bigint": "digits"}`.
 * @throws SyntaxError as JSON.parse does (with its message) for text that is not JSON
 */
export function parseExactJson(text: string): Json {
  if (!/[0-9]{16}/.test(text)) return JSON.parse(text) as Json;
  try {
    return new ExactParser(text).document();
  } catch (e) {
    // The message of a syntax error is JSON.parse's own, the one people know.
    if (e instanceof ParseFailure) JSON.parse(text);
    throw e;
  }
}

class ParseFailure extends SyntaxError {}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Recursive descent over JSON text; strings go through JSON.parse (escapes), numbers are exact. */
class ExactParser {
  private i = 0;
  constructor(private readonly text: string) {}

  document(): Json {
    const v = this.value(0);
    this.space();
    if (this.i !== this.text.length) this.fail();
    return v;
  }

  private fail(): never {
    throw new ParseFailure(`invalid JSON at position ${this.i}`);
  }

  private space(): void {
    const t = this.text;
    while (this.i < t.length) {
      const c = t.charCodeAt(this.i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.i++;
    }
  }

  private value(depth: number): Json {
    if (depth > 10_000) throw new ParseFailure('JSON nested too deeply');
    this.space();
    const t = this.text;
    const c = t[this.i];
    switch (c) {
      case '{': {
        this.i++;
        const out: { [key: string]: Json } = {};
        this.space();
        if (t[this.i] === '}') {
          this.i++;
          return out;
        }
        for (;;) {
          this.space();
          if (t[this.i] !== '"') this.fail();
          const key = this.string();
          this.space();
          if (t[this.i] !== ':') this.fail();
          this.i++;
          const v = this.value(depth + 1);
          // A "__proto__" key stays an own property, as JSON.parse makes it.
          if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
          else out[key] = v;
          this.space();
          if (t[this.i] === ',') {
            this.i++;
            continue;
          }
          if (t[this.i] === '}') {
            this.i++;
            return out;
          }
          this.fail();
        }
      }
      case '[': {
        this.i++;
        const out: Json[] = [];
        this.space();
        if (t[this.i] === ']') {
          this.i++;
          return out;
        }
        for (;;) {
          out.push(this.value(depth + 1));
          this.space();
          if (t[this.i] === ',') {
            this.i++;
            continue;
          }
          if (t[this.i] === ']') {
            this.i++;
            return out;
          }
          this.fail();
        }
      }
      case '"':
        return this.string();
      case 't':
        return this.word('true', true);
      case 'f':
        return this.word('false', false);
      case 'n':
        return this.word('null', null);
      default:
        return this.number();
    }
  }

  private word<T extends Json>(w: string, v: T): T {
    if (!this.text.startsWith(w, this.i)) this.fail();
    this.i += w.length;
    return v;
  }

  private string(): string {
    STRING.lastIndex = this.i;
    const m = STRING.exec(this.text);
    if (!m) this.fail();
    this.i += m[0].length;
    return JSON.parse(m[0]) as string;
  }

  private number(): Json {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.text);
    if (!m) this.fail();
    const literal = m[0];
    this.i += literal.length;
    if (/[.eE]/.test(literal)) return Number(literal);
    const n = BigInt(literal);
    return n > MAX_SAFE || n < -MAX_SAFE ? { $bigint: n.toString() } : Number(literal);
  }
}
