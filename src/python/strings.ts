/**
 * Python string literal bodies → values, and values → Starlark literals. A decoded value marks two
 * things the Starlark text must reproduce to keep line numbers: an escaped `\n` is ESC_NL (a real
 * newline in the value is a newline of the source, inside a triple-quoted literal), and a
 * backslash-newline continuation is CONT (no character in the value).
 */
import { Problem } from './errors.js';

export const ESC_NL = '\uE000';
export const CONT = '\uE001';

/** The value a decoded literal stands for (markers resolved). */
export function plainValue(s: string): string {
  return s.replaceAll(ESC_NL, '\n').replaceAll(CONT, '');
}

const SIMPLE: Record<string, string> = { '\\': '\\', '\'': '\'', '"': '"', a: '\x07', b: '\b', f: '\f', n: ESC_NL, r: '\r', t: '\t', v: '\v' };

/**
 * Decodes a literal body. `at(i)` gives the .py position of body offset `i` for errors.
 * Raw bodies keep backslashes. Newlines in the body (CRLF too) become '\n'.
 */
export function decodeBody(body: string, raw: boolean, bytes: boolean, at: (i: number) => { line: number; col: number }): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\r') {
      out += '\n';
      if (body[i + 1] === '\n') i++;
      continue;
    }
    if (c !== '\\' || raw) {
      if (bytes && c.charCodeAt(0) > 0x7f) {
        const p = at(i);
        throw new Problem('bytes can only contain ASCII literal characters', p.line, p.col);
      }
      out += c;
      continue;
    }
    const n = body[i + 1];
    if (n === undefined) {
      out += '\\';
      continue;
    }
    if (n === '\n' || n === '\r') {
      out += CONT;
      i += n === '\r' && body[i + 2] === '\n' ? 2 : 1;
      continue;
    }
    if (SIMPLE[n] !== undefined) {
      out += SIMPLE[n];
      i++;
      continue;
    }
    if (/[0-7]/.test(n)) {
      const m = /^[0-7]{1,3}/.exec(body.slice(i + 1))![0];
      out += String.fromCharCode(parseInt(m, 8) & (bytes ? 0xff : 0x1ff));
      i += m.length;
      continue;
    }
    const hex = (len: number): void => {
      const h = body.slice(i + 2, i + 2 + len);
      if (h.length !== len || !/^[0-9a-fA-F]+$/.test(h)) {
        const p = at(i);
        throw new Problem(`truncated \\${n} escape`, p.line, p.col);
      }
      const cp = parseInt(h, 16);
      if (cp > 0x10ffff) {
        const p = at(i);
        throw new Problem(`illegal Unicode character \\${n}${h}`, p.line, p.col);
      }
      out += String.fromCodePoint(cp);
      i += 1 + len;
    };
    if (n === 'x') {
      hex(2);
      continue;
    }
    if (!bytes && n === 'u') {
      hex(4);
      continue;
    }
    if (!bytes && n === 'U') {
      hex(8);
      continue;
    }
    if (!bytes && n === 'N') {
      const p = at(i);
      throw new Problem('not supported yet: \\N{...} escapes in workflow code', p.line, p.col, 'write the character itself or a \\u escape');
    }
    // Python keeps an unknown escape as a backslash and the character.
    out += '\\';
  }
  return out;
}

function escapeChar(c: string, bytes: boolean, triple: boolean): string {
  switch (c) {
    case '\\':
      return '\\\\';
    case '"':
      return '\\"';
    case ESC_NL:
      return '\\n';
    case CONT:
      return '\\\n';
    case '\n':
      return triple ? '\n' : '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
  }
  const code = c.codePointAt(0)!;
  if (code < 0x20 || code === 0x7f) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (bytes && code > 0x7f) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code >= 0xd800 && code <= 0xdfff) return `\\u${code.toString(16).padStart(4, '0')}`;
  if ((code >= 0x80 && code < 0xa0) || code === 0x2028 || code === 0x2029) return code > 0xffff ? `\\U${code.toString(16).padStart(8, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  return c;
}

/** A Starlark string (or bytes) literal for a decoded value, triple-quoted if it spans lines. */
export function starlarkLiteral(value: string, bytes = false): string {
  const triple = value.includes('\n') || value.includes(CONT);
  let body = '';
  for (const c of value) body += escapeChar(c, bytes, triple);
  const q = triple ? '"""' : '"';
  // A body ending in a quote would merge with the closing triple quote: it is escaped already.
  return `${bytes ? 'b' : ''}${q}${body}${q}`;
}
