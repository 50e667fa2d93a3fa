/**
 * This file turns the raw chevrotain token stream into the token stream the parser reads: it
 * synthesizes NEWLINE, INDENT and OUTDENT, drops newlines inside brackets and on blank lines, gives
 * literals their final token types, and collects lexical errors as data.
 *
 * The rules are go.starlark.net's (syntax/scan.go):
 *   - A line is blank if, after its leading spaces and tabs, it ends, holds only a comment, or the
 *     input ends. Blank lines produce no tokens.
 *   - The indentation of a non-blank line outside brackets is compared with a stack of levels: more
 *     gives one INDENT, less gives one OUTDENT per level popped, and a level that matches none of the
 *     outer ones is "unindent does not match any outer indentation level". A tab advances the column
 *     by `8 - (characters so far on the line) % 8`, exactly as Go's scanner counts it.
 *   - A newline inside (), [] or {} is ignored; one that ends a non-blank line outside brackets is a
 *     NEWLINE token. Backslash-newline joins lines (it never starts a new logical line).
 *   - At end of input: a NEWLINE if the last token was not one, then an OUTDENT per open level.
 *     Where Go's scanner would return EOF directly (no open indentation) our NEWLINE carries the
 *     payload `{eof: true}` so that error messages still say "got end of file".
 *
 * Positions: NEWLINE sits on its newline character (or at the end of input); INDENT and OUTDENT are
 * zero-width and sit at the first character of the line whose indentation produced them (the position
 * at which Go reports them); end-of-input tokens sit at the end of the text.
 *
 * All state is local to one call of `layout`, so tokenizing is re-entrant.
 */
import type { IToken, TokenType } from 'chevrotain';
import type { NumberScan, StringScan } from './strings.js';
import {
  Bytes,
  chevrotain,
  Float,
  Illegal,
  Indent,
  Int,
  LBrace,
  LBrack,
  LineBreak,
  LParen,
  Newline,
  NumberLit,
  Outdent,
  RBrace,
  RBrack,
  RParen,
  Str,
  StringLit,
} from './tokens.js';

/** A lexical error: its message, offset, and where in the token stream it arose. */
export interface LexError {
  readonly message: string;
  /** UTF-16 offset into the source text. */
  readonly offset: number;
  /**
   * Index in the output token stream at which the error arose: a parser that never looks at the
   * token with this index would not have met the error (go.starlark.net scans lazily).
   */
  readonly tokenIndex: number;
}

/** Payload of an Int or Float token. */
export interface NumberPayload {
  readonly value: number | bigint;
}
/** Payload of a String or Bytes token: the value as a binary string (one UTF-8 byte per char). */
export interface StringPayload {
  readonly value: string;
}

const TAB = 8;

function synth(type: TokenType, image: string, offset: number, payload?: unknown): IToken {
  const tok = chevrotain.createTokenInstance(type, image, offset, offset + image.length - 1, NaN, NaN, NaN, NaN);
  if (payload !== undefined) tok.payload = payload;
  return tok;
}

function retype(tok: IToken, type: TokenType, payload: unknown): void {
  tok.tokenType = type;
  tok.tokenTypeIdx = type.tokenTypeIdx!;
  tok.payload = payload;
}

/** Go's %#q of a rune, as in "unexpected input character '$'". */
export function quoteRune(ch: string): string {
  const cp = ch.codePointAt(0)!;
  if (ch === "'") return "'\\''";
  if (ch === '\\') return "'\\\\'";
  if (cp >= 0x20 && cp < 0x7f) return `'${ch}'`;
  if (cp >= 0xa1 && /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(ch)) return `'${ch}'`;
  switch (cp) {
    case 0x07: return "'\\a'";
    case 0x08: return "'\\b'";
    case 0x0c: return "'\\f'";
    case 0x0a: return "'\\n'";
    case 0x0d: return "'\\r'";
    case 0x09: return "'\\t'";
    case 0x0b: return "'\\v'";
  }
  if (cp < 0x80) return `'\\x${cp.toString(16).padStart(2, '0')}'`;
  if (cp < 0x10000) return `'\\u${cp.toString(16).padStart(4, '0')}'`;
  return `'\\U${cp.toString(16).padStart(8, '0')}'`;
}

/**
 * Lays out the raw tokens of `text` (as produced by the chevrotain lexer from `lexerTokens`) into the
 * parser's token stream. Lexical errors are appended to `errors`.
 */
export function layout(text: string, raw: readonly IToken[], errors: LexError[]): IToken[] {
  const out: IToken[] = [];
  const stack = [0];
  let depth = 0;
  let lineStart = true; // the next token is the first one on a physical line
  let lineStartOffset = 0;
  let lineBlank = false;

  const error = (offset: number, message: string): void => {
    errors.push({ message, offset, tokenIndex: out.length });
  };

  /** Handles the indentation of the physical line starting at `start` (Go's lineStart logic). */
  const startLine = (start: number): void => {
    let col = 0;
    let i = start;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20) col++;
      else if (c === 0x09) col += TAB - ((i - start) % TAB);
      else break;
      i++;
    }
    const c = text.charCodeAt(i);
    lineBlank = i >= text.length || c === 0x23 /* # */ || c === 0x0a || c === 0x0d;
    if (lineBlank || depth > 0) return;
    const cur = stack[stack.length - 1]!;
    if (col > cur) {
      stack.push(col);
      out.push(synth(Indent, '', i));
    } else if (col < cur) {
      while (stack.length > 1 && col < stack[stack.length - 1]!) {
        stack.pop();
        out.push(synth(Outdent, '', i));
      }
      if (col !== stack[stack.length - 1]) {
        error(i, 'unindent does not match any outer indentation level');
        stack.push(col); // carry on as if this were a new level
      }
    }
  };

  for (let k = 0; k < raw.length; k++) {
    const tok = raw[k]!;
    if (lineStart) {
      lineStart = false;
      startLine(lineStartOffset);
    }
    const type = tok.tokenType;
    if (type === LineBreak) {
      lineStart = true;
      lineStartOffset = tok.startOffset + tok.image.length;
      if (depth > 0 || lineBlank) continue;
      retype(tok, Newline, undefined);
      out.push(tok);
      continue;
    }
    if (type === StringLit) {
      const p = tok.payload as StringScan;
      if (p.error) {
        error(p.error.offset, p.error.message);
        continue;
      }
      retype(tok, p.kind === 'bytes' ? Bytes : Str, { value: p.value } satisfies StringPayload);
    } else if (type === NumberLit) {
      const p = tok.payload as NumberScan;
      if (p.error) {
        error(p.error.offset, p.error.message);
        continue;
      }
      retype(tok, p.kind === 'float' ? Float : Int, { value: p.value } satisfies NumberPayload);
    } else if (type === LParen || type === LBrack || type === LBrace) {
      depth++;
    } else if (type === RParen || type === RBrack || type === RBrace) {
      if (depth === 0) {
        error(tok.startOffset, `unexpected ${quoteRune(tok.image)}`);
        continue;
      }
      depth--;
    } else if (type === Illegal) {
      if (tok.image === '\\') error(tok.startOffset + 1, 'stray backslash in program');
      else error(tok.startOffset, `unexpected input character ${quoteRune(tok.image)}`);
      continue;
    }
    out.push(tok);
  }

  // End of input.
  const end = text.length;
  const last = out[out.length - 1];
  const needNewline = last !== undefined && last.tokenType !== Newline;
  if (stack.length > 1) {
    if (needNewline) out.push(synth(Newline, '', end));
    for (let k = stack.length - 1; k > 0; k--) out.push(synth(Outdent, '', end));
  } else if (needNewline) {
    out.push(synth(Newline, '', end, { eof: true }));
  }
  return out;
}
