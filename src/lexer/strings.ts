/**
 * This file scans and decodes Starlark string, bytes and number literals, following go.starlark.net's
 * scanner (syntax/scan.go) and unquoting rules (syntax/quote.go), including their error messages and
 * the positions they are reported at.
 *
 * Representation: the value of a string or bytes literal is a "binary" JS string holding one UTF-8 byte
 * per char code (0..255), as in go.starlark.net where strings are byte sequences. Non-ASCII source text
 * inside a literal is UTF-8-encoded into that form, so `"é"` has the value "\xc3\xa9" (length 2). ASCII
 * text is unchanged by the encoding.
 *
 * The scanners are pure functions of (text, offset): they never throw and report problems in their
 * result, so the lexer can collect them as data.
 */

/** A problem found while scanning a literal: message and UTF-16 offset in the source text. */
export interface LiteralError {
  readonly offset: number;
  readonly message: string;
}

/** Result of scanning a string or bytes literal. */
export interface StringScan {
  /** Offset just past the literal (or where scanning stopped, for an unterminated literal). */
  readonly end: number;
  readonly kind: 'string' | 'bytes';
  /** The decoded value as a binary string (see the file comment); '' if `error` is set. */
  readonly value: string;
  readonly error?: LiteralError;
}

/** Result of scanning a number literal. */
export interface NumberScan {
  readonly end: number;
  readonly kind: 'int' | 'float';
  /** Ints: a number when |v| <= 2^53-1, else a bigint. Floats: a number. 0 if `error` is set. */
  readonly value: number | bigint;
  readonly error?: LiteralError;
}

// ---------------------------------------------------------------------------------------------
// UTF-8 helpers for the binary-string representation

/** Appends the UTF-8 encoding of code point `cp` to `out` as binary chars. */
function pushUtf8(out: string[], cp: number): void {
  if (cp < 0x80) out.push(String.fromCharCode(cp));
  else if (cp < 0x800) out.push(String.fromCharCode(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)));
  else if (cp < 0x10000) {
    out.push(String.fromCharCode(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)));
  } else {
    out.push(
      String.fromCharCode(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)),
    );
  }
}

/**
 * Encodes JS (UTF-16) text as a binary string of its UTF-8 bytes. A lone surrogate is encoded as
 * U+FFFD, as TextEncoder does.
 */
export function utf8Encode(text: string): string {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return text;
  const out: string[] = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = text.charCodeAt(i + 1);
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else {
        c = 0xfffd;
      }
    }
    pushUtf8(out, c);
  }
  return out.join('');
}

/**
 * Decodes one UTF-8 sequence of binary string `s` at `i`: returns [codePoint, length]. Invalid or
 * truncated sequences (and encoded surrogates, overlong forms) decode as [-1, 1].
 */
export function utf8DecodeRune(s: string, i: number): [number, number] {
  const b0 = s.charCodeAt(i);
  if (b0 < 0x80) return [b0, 1];
  const cont = (k: number): number => {
    const b = s.charCodeAt(i + k);
    return b >= 0x80 && b <= 0xbf ? b & 0x3f : -1;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const b1 = cont(1);
    return b1 < 0 ? [-1, 1] : [((b0 & 0x1f) << 6) | b1, 2];
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const b1 = cont(1);
    const b2 = cont(2);
    if (b1 < 0 || b2 < 0) return [-1, 1];
    const cp = ((b0 & 0x0f) << 12) | (b1 << 6) | b2;
    if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return [-1, 1];
    return [cp, 3];
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const b1 = cont(1);
    const b2 = cont(2);
    const b3 = cont(3);
    if (b1 < 0 || b2 < 0 || b3 < 0) return [-1, 1];
    const cp = ((b0 & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3;
    if (cp < 0x10000 || cp > 0x10ffff) return [-1, 1];
    return [cp, 4];
  }
  return [-1, 1];
}

/** Decodes a binary UTF-8 string to JS text; invalid bytes become U+FFFD. */
export function utf8Decode(s: string): string {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return s;
  let out = '';
  for (let i = 0; i < s.length; ) {
    const [cp, n] = utf8DecodeRune(s, i);
    out += String.fromCodePoint(cp < 0 ? 0xfffd : cp);
    i += n;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// String literals

const CH_BACKSLASH = 0x5c;
const CH_CR = 0x0d;
const CH_LF = 0x0a;

function isQuote(c: number): boolean {
  return c === 0x22 || c === 0x27;
}

/**
 * Length of a string-literal prefix at `offset` (0, 1 or 2: r, b, rb, br in either case) if a quote
 * follows it, else -1.
 */
function prefixLength(text: string, offset: number): number {
  const c0 = text.charCodeAt(offset) | 0x20; // lower-case ASCII letters
  if (isQuote(text.charCodeAt(offset))) return 0;
  if (c0 !== 0x72 /* r */ && c0 !== 0x62 /* b */) return -1;
  const c1 = text.charCodeAt(offset + 1);
  if (isQuote(c1)) return 1;
  const l1 = c1 | 0x20;
  if ((l1 === 0x72 || l1 === 0x62) && l1 !== c0 && isQuote(text.charCodeAt(offset + 2))) return 2;
  return -1;
}

/**
 * Scans a string or bytes literal starting at `offset` (at its prefix or opening quote), or returns
 * null if there is none. Errors as in go.starlark.net: an unterminated literal is reported at its
 * start ("unexpected newline in string", "unexpected EOF in string"); a bad escape at the opening quote.
 */
export function scanString(text: string, offset: number): StringScan | null {
  const plen = prefixLength(text, offset);
  if (plen < 0) return null;
  let raw = false;
  let bytes = false;
  for (let k = 0; k < plen; k++) {
    if ((text.charCodeAt(offset + k) | 0x20) === 0x72) raw = true;
    else bytes = true;
  }
  const kind = bytes ? 'bytes' : 'string';
  const qpos = offset + plen;
  const q = text.charCodeAt(qpos);
  const n = text.length;
  const triple = text.charCodeAt(qpos + 1) === q && text.charCodeAt(qpos + 2) === q;
  let i: number;
  let contentStart: number;
  let contentEnd: number;
  if (!triple) {
    i = qpos + 1;
    contentStart = i;
    for (;;) {
      if (i >= n) return { end: n, kind, value: '', error: { offset, message: 'unexpected EOF in string' } };
      const c = text.charCodeAt(i);
      if (c === q) {
        contentEnd = i;
        i++;
        break;
      }
      if (c === CH_LF || c === CH_CR) {
        return { end: i, kind, value: '', error: { offset, message: 'unexpected newline in string' } };
      }
      if (c === CH_BACKSLASH) {
        if (i + 1 >= n) return { end: n, kind, value: '', error: { offset, message: 'unexpected EOF in string' } };
        i += text.charCodeAt(i + 1) === CH_CR && text.charCodeAt(i + 2) === CH_LF ? 3 : 2;
      } else {
        i++;
      }
    }
  } else {
    i = qpos + 3;
    contentStart = i;
    let quotes = 0;
    for (;;) {
      if (i >= n) return { end: n, kind, value: '', error: { offset, message: 'unexpected EOF in string' } };
      const c = text.charCodeAt(i++);
      if (c === q) {
        if (++quotes === 3) {
          contentEnd = i - 3;
          break;
        }
      } else {
        quotes = 0;
      }
      if (c === CH_BACKSLASH) {
        if (i >= n) return { end: n, kind, value: '', error: { offset, message: 'unexpected EOF in string' } };
        i += text.charCodeAt(i) === CH_CR && text.charCodeAt(i + 1) === CH_LF ? 2 : 1;
      }
    }
  }
  const decoded = decodeContent(text, contentStart, contentEnd, raw, bytes, qpos);
  if (typeof decoded !== 'string') return { end: i, kind, value: '', error: decoded };
  return { end: i, kind, value: decoded };
}

const SIMPLE_ESCAPES: Record<string, string> = {
  a: '\x07', b: '\x08', f: '\x0c', n: '\n', r: '\r', t: '\t', v: '\x0b', '\\': '\\', "'": "'", '"': '"',
};

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, '0');
}

/**
 * Decodes the text between the quotes of a literal into its binary value (see the file comment), or
 * returns the first error, located at `errOffset` (the opening quote), as go.starlark.net does.
 */
function decodeContent(
  text: string,
  start: number,
  end: number,
  raw: boolean,
  bytes: boolean,
  errOffset: number,
): string | LiteralError {
  // Fast path: plain ASCII without escapes or carriage returns.
  let plain = true;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80 || c === CH_CR || (c === CH_BACKSLASH && !raw)) {
      plain = false;
      break;
    }
  }
  if (plain) return text.slice(start, end);

  const err = (message: string): LiteralError => ({ offset: errOffset, message });
  const out: string[] = [];
  let i = start;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c === CH_CR) {
      // An unescaped line ending always denotes "\n".
      out.push('\n');
      i += text.charCodeAt(i + 1) === CH_LF && i + 1 < end ? 2 : 1;
      continue;
    }
    // In a raw literal a backslash is an ordinary character: r"\"" is backslash + quote (the scanner
    // already made sure the escaped quote did not end the literal).
    if (c !== CH_BACKSLASH || raw) {
      if (c < 0x80) {
        out.push(text[i]!);
        i++;
      } else {
        const cp = text.codePointAt(i)!;
        if (cp >= 0xd800 && cp <= 0xdfff) {
          pushUtf8(out, 0xfffd); // lone surrogate
          i++;
        } else {
          pushUtf8(out, cp);
          i += cp > 0xffff ? 2 : 1;
        }
      }
      continue;
    }
    // Escape sequence. The scanner guarantees a character after the backslash.
    const rest = (): string => text.slice(i, end);
    const e = text[i + 1]!;
    const ec = text.charCodeAt(i + 1);
    if (ec === CH_LF) {
      i += 2; // escaped newline: ignored
      continue;
    }
    if (ec === CH_CR) {
      i += text.charCodeAt(i + 2) === CH_LF ? 3 : 2;
      continue;
    }
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out.push(simple);
      i += 2;
      continue;
    }
    if (ec >= 0x30 && ec <= 0x37) {
      // Octal escape: one to three digits.
      let n = ec - 0x30;
      let j = i + 2;
      for (let k = 1; k < 3 && j < end; k++) {
        const d = text.charCodeAt(j);
        if (d < 0x30 || d > 0x37) break;
        n = n * 8 + (d - 0x30);
        j++;
      }
      if (!bytes && n > 127) {
        return err(`non-ASCII octal escape \\${n.toString(8)} (use \\u${hex4(n)} for the UTF-8 encoding of U+${hex4(n)})`);
      }
      if (n >= 256) return err(`invalid escape sequence \\${n.toString(8).padStart(3, '0')}`);
      out.push(String.fromCharCode(n));
      i = j;
      continue;
    }
    if (e === 'x') {
      if (end - i < 4) return err(`truncated escape sequence ${rest()}`);
      if (!isHexDigit(text.charCodeAt(i + 2)) || !isHexDigit(text.charCodeAt(i + 3))) {
        return err(`invalid escape sequence ${text.slice(i, i + 4)}`);
      }
      const n = parseInt(text.slice(i + 2, i + 4), 16);
      if (!bytes && n > 127) {
        return err(`non-ASCII hex escape ${text.slice(i, i + 4)} (use \\u${hex4(n)} for the UTF-8 encoding of U+${hex4(n)})`);
      }
      out.push(String.fromCharCode(n));
      i += 4;
      continue;
    }
    if (e === 'u' || e === 'U') {
      const sz = e === 'u' ? 6 : 10;
      if (end - i < sz) return err(`truncated escape sequence ${rest()}`);
      for (let k = 2; k < sz; k++) {
        if (!isHexDigit(text.charCodeAt(i + k))) return err(`invalid escape sequence ${text.slice(i, i + sz)}`);
      }
      const n = parseInt(text.slice(i + 2, i + sz), 16);
      if (n > 0x10ffff) return err(`code point out of range: ${text.slice(i, i + sz)} (max \\U0010ffff)`);
      if (n >= 0xd800 && n < 0xe000) return err(`invalid Unicode code point U+${hex4(n)}`);
      pushUtf8(out, n);
      i += sz;
      continue;
    }
    // In Starlark, as in Go, a backslash must escape something.
    const cp = text.codePointAt(i + 1)!;
    return err(`invalid escape sequence \\${String.fromCodePoint(cp)}`);
  }
  return out.join('');
}

// ---------------------------------------------------------------------------------------------
// Number literals

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Converts a bigint to a number when it is a safe integer, as the AST requires. */
function normalizeInt(v: bigint): number | bigint {
  return v <= 9007199254740991n && v >= -9007199254740991n ? Number(v) : v;
}

/**
 * Scans an int or float literal at `offset`, or returns null if there is none (a `.` not followed by a
 * digit is the Dot token). Errors and their positions follow go.starlark.net's scanNumber: e.g.
 * "invalid hex literal" at the start, "invalid octal literal" after `0o`, "obsolete form of octal
 * literal; use 0o123" at the end of `0123`.
 */
export function scanNumber(text: string, offset: number): NumberScan | null {
  let i = offset;
  let c = text.charCodeAt(i);
  let fraction = false;
  let exponent = false;
  const fail = (end: number, at: number, message: string, kind: 'int' | 'float' = 'int'): NumberScan => ({
    end,
    kind,
    value: 0,
    error: { offset: at, message },
  });

  if (c === 0x2e /* . */) {
    if (!isDigit(text.charCodeAt(i + 1))) return null;
    fraction = true;
  } else if (!isDigit(c)) {
    return null;
  } else if (c === 0x30 /* 0 */) {
    i++;
    c = text.charCodeAt(i);
    const lc = c | 0x20;
    if (c === 0x2e) {
      fraction = true;
    } else if (lc === 0x78 /* x */) {
      i++;
      if (!isHexDigit(text.charCodeAt(i))) return fail(i, offset, 'invalid hex literal');
      while (isHexDigit(text.charCodeAt(i))) i++;
      return { end: i, kind: 'int', value: normalizeInt(BigInt('0x' + text.slice(offset + 2, i))) };
    } else if (lc === 0x6f /* o */) {
      i++;
      const isOct = (d: number): boolean => d >= 0x30 && d <= 0x37;
      if (!isOct(text.charCodeAt(i))) return fail(i, i, 'invalid octal literal');
      while (isOct(text.charCodeAt(i))) i++;
      return { end: i, kind: 'int', value: normalizeInt(BigInt('0o' + text.slice(offset + 2, i))) };
    } else if (lc === 0x62 /* b */) {
      i++;
      const isBin = (d: number): boolean => d === 0x30 || d === 0x31;
      if (!isBin(text.charCodeAt(i))) return fail(i, i, 'invalid binary literal');
      while (isBin(text.charCodeAt(i))) i++;
      return { end: i, kind: 'int', value: normalizeInt(BigInt('0b' + text.slice(offset + 2, i))) };
    } else {
      // A float such as 0.5 or 01.5e3, or an obsolete octal such as 0755.
      let allZeros = true;
      let octal = true;
      while (isDigit(c)) {
        if (c !== 0x30) allZeros = false;
        if (c > 0x37) octal = false;
        i++;
        c = text.charCodeAt(i);
      }
      if (c === 0x2e) fraction = true;
      else if ((c | 0x20) === 0x65) exponent = true;
      else if (!allZeros) {
        if (octal) return fail(i, i, `obsolete form of octal literal; use 0o${text.slice(offset + 1, i)}`);
        return fail(i, offset, 'invalid int literal');
      }
    }
  } else {
    while (isDigit(c)) {
      i++;
      c = text.charCodeAt(i);
    }
    if (c === 0x2e) fraction = true;
    else if ((c | 0x20) === 0x65) exponent = true;
  }

  if (fraction) {
    i++; // '.'
    c = text.charCodeAt(i);
    while (isDigit(c)) {
      i++;
      c = text.charCodeAt(i);
    }
    if ((c | 0x20) === 0x65) exponent = true;
  }
  if (exponent) {
    i++; // 'e'
    c = text.charCodeAt(i);
    if (c === 0x2b || c === 0x2d) {
      i++;
      c = text.charCodeAt(i);
      if (!isDigit(c)) return fail(i, i, 'invalid float literal', 'float');
    }
    while (isDigit(c)) {
      i++;
      c = text.charCodeAt(i);
    }
  }

  const raw = text.slice(offset, i);
  if (fraction || exponent) {
    const v = Number(raw);
    // Go's strconv.ParseFloat rejects "1e" and out-of-range values such as 1e400.
    if (!Number.isFinite(v)) return fail(i, i, 'invalid float literal', 'float');
    return { end: i, kind: 'float', value: v };
  }
  if (raw.length <= 15) return { end: i, kind: 'int', value: Number(raw) };
  return { end: i, kind: 'int', value: normalizeInt(BigInt(raw)) };
}
