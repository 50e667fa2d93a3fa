/**
 * A tokenizer for Python 3 source (all of it: task bodies are skipped, not parsed, but must
 * tokenize): names, numbers, strings (every prefix; f-strings are kept raw and split later),
 * operators, NEWLINE/INDENT/DEDENT, with 1-based line and column positions.
 */
import { Problem } from './errors.js';

export type TokKind = 'name' | 'number' | 'string' | 'op' | 'newline' | 'indent' | 'dedent' | 'eof';

/** A string literal token's parts. */
export interface StrInfo {
  /** Lower-cased prefix: '', 'r', 'b', 'rb', 'f', 'rf', 'u'. */
  readonly prefix: string;
  /** The quote: ', ", ''' or """. */
  readonly quote: string;
  /** Offset of the body (after the opening quote) in the text, and its end (before the closing quote). */
  readonly bodyStart: number;
  readonly bodyEnd: number;
}

export interface Tok {
  readonly kind: TokKind;
  readonly value: string;
  readonly line: number;
  readonly col: number;
  readonly offset: number;
  readonly end: number;
  readonly str?: StrInfo;
}

const OPS = [
  '**=', '//=', '>>=', '<<=', '...', '->', ':=', '==', '!=', '<=', '>=', '**', '//', '<<', '>>', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '@=',
  '+', '-', '*', '/', '%', '@', '&', '|', '^', '~', '<', '>', '(', ')', '[', ']', '{', '}', ',', ':', '.', ';', '=', '!',
];

const STRING_PREFIXES = new Set(['r', 'u', 'b', 'f', 'br', 'rb', 'fr', 'rf']);

const NUMBER = /(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?[jJ]?)/y;
const NAME = /[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*/uy;

/** Positions in a text: offset → 1-based line and column. */
export class Lines {
  readonly starts: number[] = [0];
  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) this.starts.push(i + 1);
      else if (c === 13) {
        if (text.charCodeAt(i + 1) === 10) i++;
        this.starts.push(i + 1);
      }
    }
  }
  pos(offset: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - this.starts[lo]! + 1 };
  }
}

/**
 * Scans a string literal whose opening quote is at `q` (prefix already read); returns the offset
 * after the closing quote. `fstring`: replacement fields may hold nested strings (Python 3.12).
 */
export function scanString(text: string, q: number, fstring: boolean, lines: Lines): { quote: string; bodyStart: number; bodyEnd: number; end: number } {
  const ch = text[q]!;
  const triple = text.startsWith(ch.repeat(3), q);
  const quote = triple ? ch.repeat(3) : ch;
  let i = q + quote.length;
  const bodyStart = i;
  const fail = (msg: string): never => {
    const p = lines.pos(q);
    throw new Problem(msg, p.line, p.col);
  };
  let depth = 0; // inside a replacement field of an f-string
  let inSpec = false; // in the field's format spec (after a top-level ':')
  while (i < text.length) {
    const c = text[i]!;
    if (depth === 0) {
      if (c === '\\') {
        i += 2;
        continue;
      }
      if (text.startsWith(quote, i)) return { quote, bodyStart, bodyEnd: i, end: i + quote.length };
      if (!triple && (c === '\n' || c === '\r')) fail('unterminated string literal');
      if (fstring && c === '{') {
        if (text[i + 1] === '{') i += 2;
        else {
          depth = 1;
          i++;
        }
        continue;
      }
      i++;
      continue;
    }
    // Inside a replacement field: brackets, nested strings, the closing brace.
    if (c === '\'' || c === '"') {
      // A nested string (any prefix letters were consumed as plain characters before it).
      const inner = scanString(text, i, /[fF][rR]?$|[rR][fF]$/.test(text.slice(Math.max(0, i - 2), i)), lines);
      i = inner.end;
      continue;
    }
    if (c === '{' || c === '(' || c === '[') depth++;
    else if (c === '}' || c === ')' || c === ']') {
      depth--;
      if (depth === 0) inSpec = false;
    } else if (c === ':' && depth === 1 && text[i + 1] !== '=') inSpec = true;
    else if (c === '#' && !inSpec) fail('f-string expression part cannot include \'#\'');
    else if (!triple && (c === '\n' || c === '\r') && depth <= 1) fail('unterminated f-string');
    i++;
  }
  return fail(triple ? 'unterminated triple-quoted string literal' : 'unterminated string literal');
}

/**
 * Tokenizes `text[start, end)`. With `expression`, the range is one expression (an f-string
 * field): no NEWLINE/INDENT/DEDENT, newlines are spaces.
 */
export function tokenize(text: string, lines: Lines, start = 0, end = text.length, expression = false): Tok[] {
  const toks: Tok[] = [];
  const indents = [0];
  let i = start;
  let depth = expression ? 1 : 0;
  let atLineStart = !expression;
  const push = (kind: TokKind, value: string, offset: number, endOff: number, str?: StrInfo): void => {
    const p = lines.pos(offset);
    toks.push({ kind, value, line: p.line, col: p.col, offset, end: endOff, ...(str ? { str } : {}) });
  };
  const fail = (msg: string, at: number): never => {
    const p = lines.pos(at);
    throw new Problem(msg, p.line, p.col);
  };
  while (i < end) {
    if (atLineStart) {
      // Measure the indentation; skip blank and comment-only lines.
      let col = 0;
      let j = i;
      while (j < end && (text[j] === ' ' || text[j] === '\t' || text[j] === '\f')) {
        col = text[j] === '\t' ? (Math.floor(col / 8) + 1) * 8 : text[j] === ' ' ? col + 1 : 0;
        j++;
      }
      const c = text[j];
      if (j >= end) {
        i = j;
        break;
      }
      if (c === '#' || c === '\n' || c === '\r') {
        while (j < end && text[j] !== '\n' && text[j] !== '\r') j++;
        if (text[j] === '\r' && text[j + 1] === '\n') j++;
        i = j + 1;
        continue;
      }
      if (c === '\\' && (text[j + 1] === '\n' || text[j + 1] === '\r')) {
        // A continuation on an otherwise empty line: treat as whitespace.
        i = j;
        atLineStart = false;
        continue;
      }
      atLineStart = false;
      if (col > indents[indents.length - 1]!) {
        indents.push(col);
        push('indent', '', j, j);
      } else {
        while (col < indents[indents.length - 1]!) {
          indents.pop();
          push('dedent', '', j, j);
        }
        if (col !== indents[indents.length - 1]) fail('unindent does not match any outer indentation level', j);
      }
      i = j;
      continue;
    }
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\f') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < end && text[i] !== '\n' && text[i] !== '\r') i++;
      continue;
    }
    if (c === '\\') {
      if (text[i + 1] === '\n') {
        i += 2;
        continue;
      }
      if (text[i + 1] === '\r') {
        i += text[i + 2] === '\n' ? 3 : 2;
        continue;
      }
      fail('unexpected character after line continuation character', i);
    }
    if (c === '\n' || c === '\r') {
      const nl = c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      if (depth === 0) {
        const last = toks[toks.length - 1];
        if (last && last.kind !== 'newline') push('newline', '\n', i, i + nl);
        atLineStart = true;
      }
      i += nl;
      continue;
    }
    // Names and string prefixes.
    NAME.lastIndex = i;
    const nm = NAME.exec(text);
    if (nm) {
      const word = nm[0];
      const after = i + word.length;
      const q = text[after];
      if ((q === '\'' || q === '"') && STRING_PREFIXES.has(word.toLowerCase())) {
        const w = word.toLowerCase();
        const norm = w === 'br' ? 'rb' : w === 'fr' ? 'rf' : w;
        const s = scanString(text, after, norm.includes('f'), lines);
        push('string', text.slice(i, s.end), i, s.end, { prefix: norm, quote: s.quote, bodyStart: s.bodyStart, bodyEnd: s.bodyEnd });
        i = s.end;
        continue;
      }
      push('name', word, i, after);
      i = after;
      continue;
    }
    if (c === '\'' || c === '"') {
      const s = scanString(text, i, false, lines);
      push('string', text.slice(i, s.end), i, s.end, { prefix: '', quote: s.quote, bodyStart: s.bodyStart, bodyEnd: s.bodyEnd });
      i = s.end;
      continue;
    }
    if ((c >= '0' && c <= '9') || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text)!;
      push('number', m[0], i, i + m[0].length);
      i += m[0].length;
      continue;
    }
    const op = OPS.find((o) => text.startsWith(o, i));
    if (!op) fail(`invalid character ${JSON.stringify(c)}`, i);
    if (op === '(' || op === '[' || op === '{') depth++;
    else if ((op === ')' || op === ']' || op === '}') && depth > (expression ? 1 : 0)) depth--;
    push('op', op!, i, i + op!.length);
    i += op!.length;
  }
  if (!expression) {
    const last = toks[toks.length - 1];
    if (last && last.kind !== 'newline' && last.kind !== 'dedent') push('newline', '\n', end, end);
    while (indents.length > 1) {
      indents.pop();
      push('dedent', '', end, end);
    }
  }
  push('eof', '', end, end);
  return toks;
}
