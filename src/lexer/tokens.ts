/**
 * This file defines the chevrotain token table of Starlark: every token of the spec's "Lexical
 * elements", the synthetic layout tokens (Newline, Indent, Outdent) and a few lexing-only tokens that
 * indentation.ts consumes or rewrites (LineBreak, NumberLit, StringLit, Illegal).
 *
 * Ordering matters: chevrotain tries the patterns of a first character in table order and takes the
 * first match, so longer punctuation comes before its prefixes (`//=` before `//` before `/`), string
 * literals (which may start with the prefixes r, b) come before keywords and identifiers, numbers
 * (which may start with `.`) come before Dot, and keywords carry `longer_alt: Identifier` so that
 * `formal` is one identifier, not `for` + `mal`.
 *
 * Loading chevrotain: its package entry point pulls in lodash-es as hundreds of small modules, which
 * costs ~300 ms of start-up on our 2-core machines; the package also ships the same code as one bundled,
 * minified ES module (`lib/chevrotain.min.mjs`, ~10 ms; `lib/chevrotain.mjs` unminified ~16 ms). We load
 * the bundle by path (the package's `exports` map does not expose it) and fall back to the entry point
 * if the layout ever changes. Types come from the entry point (`import type` has no run-time cost).
 * All chevrotain values the lexer and parser use are re-exported from here, so that token types and
 * parser classes come from the same module instance.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Chevrotain from 'chevrotain';
import type { CustomPatternMatcherReturn, IToken, TokenType } from 'chevrotain';
import { scanNumber, scanString } from './strings.js';

async function loadChevrotain(): Promise<[typeof Chevrotain, string]> {
  for (const file of ['chevrotain.min.mjs', 'chevrotain.mjs']) {
    try {
      const entry = createRequire(import.meta.url).resolve('chevrotain');
      const bundle = join(dirname(entry), '..', file);
      const mod = (await import(pathToFileURL(bundle).href)) as typeof Chevrotain;
      if (typeof mod.createToken === 'function' && typeof mod.EmbeddedActionsParser === 'function') return [mod, file];
    } catch {
      // try the next form
    }
  }
  return [(await import('chevrotain')) as typeof Chevrotain, 'chevrotain'];
}

const [loaded, loadedFrom] = await loadChevrotain();
/** The chevrotain module (the bundled build when available). */
export const chevrotain: typeof Chevrotain = loaded;
/** Which form of chevrotain was loaded: "chevrotain.min.mjs" normally (a test checks it). @internal */
export const chevrotainLoadedFrom: string = loadedFrom;
const { createToken, Lexer } = chevrotain;

// ---------------------------------------------------------------------------------------------
// Start-character hints for custom patterns.
//
// Chevrotain's first-character optimisation needs to know which characters can start each custom
// pattern. Characters above 255 are grouped in buckets of 255 code units (see chevrotain's
// charCodeToOptimizedIndex), so a hint holding every code 128..255 plus one code per bucket covers all
// non-ASCII text, including both halves of surrogate pairs.

function nonAsciiHint(): number[] {
  const codes: number[] = [];
  for (let c = 0x80; c <= 0xff; c++) codes.push(c);
  for (let c = 0x100; c <= 0xffff; c += 255) codes.push(c);
  codes.push(0xffff);
  return codes;
}
const NON_ASCII = nonAsciiHint();
const IDENT_START_ASCII = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_'.split('');

// ---------------------------------------------------------------------------------------------
// Custom patterns. They are pure functions of (text, offset): all per-call state lives in
// indentation.ts, so tokenize() is re-entrant.

// Compiling a \p{L} regex costs about a millisecond, so ASCII identifiers never touch it.
let identRe: RegExp | undefined;
const identRestRe = (): RegExp => (identRe ??= /(?:[A-Za-z0-9_]|\p{L})*/uy);
const letterRe = /\p{L}/u;

function isAsciiIdentChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || (c >= 0x30 && c <= 0x39);
}

/** identifier = letter-or-underscore { letter-or-underscore | ASCII digit } (Go's isIdent rules). */
function matchIdentifier(text: string, offset: number): CustomPatternMatcherReturn | null {
  const c0 = text.charCodeAt(offset);
  let i = offset + 1;
  if (c0 < 0x80) {
    if (!isAsciiIdentChar(c0) || c0 <= 0x39) return null;
  } else {
    const cp = text.codePointAt(offset)!;
    if (!letterRe.test(String.fromCodePoint(cp))) return null;
    if (cp > 0xffff) i++;
  }
  while (i < text.length && isAsciiIdentChar(text.charCodeAt(i))) i++;
  if (i < text.length && text.charCodeAt(i) >= 0x80) {
    const re = identRestRe();
    re.lastIndex = i;
    re.exec(text);
    i = re.lastIndex;
  }
  return [text.slice(offset, i)] as unknown as CustomPatternMatcherReturn;
}

function matchString(text: string, offset: number): CustomPatternMatcherReturn | null {
  const r = scanString(text, offset);
  if (r === null) return null;
  const m = [text.slice(offset, r.end)] as unknown as CustomPatternMatcherReturn;
  m.payload = r;
  return m;
}

function matchNumber(text: string, offset: number): CustomPatternMatcherReturn | null {
  const r = scanNumber(text, offset);
  if (r === null) return null;
  const m = [text.slice(offset, r.end)] as unknown as CustomPatternMatcherReturn;
  m.payload = r;
  return m;
}

/** One code point (a surrogate pair counts as one). */
function matchIllegal(text: string, offset: number): CustomPatternMatcherReturn | null {
  if (offset >= text.length) return null;
  const cp = text.codePointAt(offset)!;
  return [text.slice(offset, offset + (cp > 0xffff ? 2 : 1))] as unknown as CustomPatternMatcherReturn;
}

// ---------------------------------------------------------------------------------------------
// Synthetic tokens, produced by indentation.ts (never matched by the chevrotain lexer).

/** End of a logical line (at the newline character, or at end of input). */
export const Newline = createToken({ name: 'Newline', pattern: Lexer.NA, label: 'newline' });
/** Increase of indentation, at the first character of the more-indented line. */
export const Indent = createToken({ name: 'Indent', pattern: Lexer.NA, label: 'indent' });
/** Decrease of indentation, at the first character of the less-indented line (or end of input). */
export const Outdent = createToken({ name: 'Outdent', pattern: Lexer.NA, label: 'outdent' });

// Literal kinds, assigned by indentation.ts from the payload of NumberLit / StringLit.
export const Int = createToken({ name: 'Int', pattern: Lexer.NA, label: 'int literal' });
export const Float = createToken({ name: 'Float', pattern: Lexer.NA, label: 'float literal' });
export const Str = createToken({ name: 'String', pattern: Lexer.NA, label: 'string literal' });
export const Bytes = createToken({ name: 'Bytes', pattern: Lexer.NA, label: 'bytes literal' });

// ---------------------------------------------------------------------------------------------
// Lexing-only tokens.

export const Whitespace = createToken({ name: 'Whitespace', pattern: /[ \t]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\r\n]*/, group: Lexer.SKIPPED });
/** Backslash-newline: joins two physical lines. */
export const Continuation = createToken({
  name: 'Continuation',
  pattern: /\\(?:\r\n?|\n)/,
  group: Lexer.SKIPPED,
  line_breaks: true,
});
/** A physical newline; indentation.ts turns it into Newline or drops it. */
export const LineBreak = createToken({ name: 'LineBreak', pattern: /\r\n?|\n/, line_breaks: true });
export const StringLit = createToken({
  name: 'StringLit',
  pattern: { exec: matchString },
  start_chars_hint: ['"', "'", 'r', 'R', 'b', 'B'],
  line_breaks: true,
});
export const NumberLit = createToken({
  name: 'NumberLit',
  pattern: { exec: matchNumber },
  start_chars_hint: '0123456789.'.split(''),
  line_breaks: false,
});
/** Any other character: reported as "unexpected input character" (or "stray backslash"). */
export const Illegal = createToken({
  name: 'Illegal',
  pattern: { exec: matchIllegal },
  start_chars_hint: [...Array.from({ length: 128 }, (_, i) => i), ...NON_ASCII],
  line_breaks: false,
});

// ---------------------------------------------------------------------------------------------
// Identifiers and keywords.

export const Identifier = createToken({
  name: 'Identifier',
  pattern: { exec: matchIdentifier },
  start_chars_hint: [...IDENT_START_ASCII, ...NON_ASCII],
  line_breaks: false,
  label: 'identifier',
});

function keyword(word: string, name: string): TokenType {
  return createToken({ name, pattern: word, longer_alt: Identifier, label: word });
}

export const And = keyword('and', 'And');
export const Break = keyword('break', 'Break');
export const Continue = keyword('continue', 'Continue');
export const Def = keyword('def', 'Def');
export const Elif = keyword('elif', 'Elif');
export const Else = keyword('else', 'Else');
export const For = keyword('for', 'For');
export const If = keyword('if', 'If');
export const In = keyword('in', 'In');
export const Lambda = keyword('lambda', 'Lambda');
export const Load = keyword('load', 'Load');
export const Not = keyword('not', 'Not');
export const Or = keyword('or', 'Or');
export const Pass = keyword('pass', 'Pass');
export const Return = keyword('return', 'Return');
export const While = keyword('while', 'While');

/** The keywords of the grammar, by spelling. */
export const KEYWORDS: ReadonlyMap<string, TokenType> = new Map([
  ['and', And], ['break', Break], ['continue', Continue], ['def', Def], ['elif', Elif], ['else', Else],
  ['for', For], ['if', If], ['in', In], ['lambda', Lambda], ['load', Load], ['not', Not], ['or', Or],
  ['pass', Pass], ['return', Return], ['while', While],
]);

/**
 * Words reserved for the future (following Python): they lex as their own tokens, so using one as an
 * identifier fails in the parser with Go's messages ("got class, want primary expression", "not an
 * identifier"). As in go.starlark.net, `assert` is not reserved: test scripts use an `assert` module.
 */
export const RESERVED_WORDS = [
  'as', 'async', 'await', 'class', 'del', 'except', 'finally', 'from', 'global', 'import', 'is',
  'nonlocal', 'raise', 'try', 'with', 'yield',
] as const;
const reservedTokens = RESERVED_WORDS.map((w) => keyword(w, `Reserved_${w}`));

// ---------------------------------------------------------------------------------------------
// Punctuation. Categories group operators the parser treats alike.

export const AssignOp = createToken({ name: 'AssignOp', pattern: Lexer.NA });
export const AugAssignOp = createToken({ name: 'AugAssignOp', pattern: Lexer.NA, categories: [AssignOp] });
export const CompareOp = createToken({ name: 'CompareOp', pattern: Lexer.NA });
export const ShiftOp = createToken({ name: 'ShiftOp', pattern: Lexer.NA });
export const AddOp = createToken({ name: 'AddOp', pattern: Lexer.NA });
export const MulOp = createToken({ name: 'MulOp', pattern: Lexer.NA });

function punct(image: string, name: string, categories?: TokenType[]): TokenType {
  return createToken({ name, pattern: image, label: `'${image}'`, ...(categories ? { categories } : {}) });
}

export const SlashSlashEq = punct('//=', 'SlashSlashEq', [AugAssignOp]);
export const LtLtEq = punct('<<=', 'LtLtEq', [AugAssignOp]);
export const GtGtEq = punct('>>=', 'GtGtEq', [AugAssignOp]);
export const StarStar = punct('**', 'StarStar');
export const SlashSlash = punct('//', 'SlashSlash', [MulOp]);
export const LtLt = punct('<<', 'LtLt', [ShiftOp]);
export const GtGt = punct('>>', 'GtGt', [ShiftOp]);
export const LtEq = punct('<=', 'LtEq', [CompareOp]);
export const GtEq = punct('>=', 'GtEq', [CompareOp]);
export const EqEq = punct('==', 'EqEq', [CompareOp]);
export const NotEq = punct('!=', 'NotEq', [CompareOp]);
export const PlusEq = punct('+=', 'PlusEq', [AugAssignOp]);
export const MinusEq = punct('-=', 'MinusEq', [AugAssignOp]);
export const StarEq = punct('*=', 'StarEq', [AugAssignOp]);
export const SlashEq = punct('/=', 'SlashEq', [AugAssignOp]);
export const PercentEq = punct('%=', 'PercentEq', [AugAssignOp]);
export const AmpEq = punct('&=', 'AmpEq', [AugAssignOp]);
export const PipeEq = punct('|=', 'PipeEq', [AugAssignOp]);
export const CaretEq = punct('^=', 'CaretEq', [AugAssignOp]);
export const Plus = punct('+', 'Plus', [AddOp]);
export const Minus = punct('-', 'Minus', [AddOp]);
export const Star = punct('*', 'Star', [MulOp]);
export const Slash = punct('/', 'Slash', [MulOp]);
export const Percent = punct('%', 'Percent', [MulOp]);
export const Amp = punct('&', 'Amp');
export const Pipe = punct('|', 'Pipe');
export const Caret = punct('^', 'Caret');
export const Tilde = punct('~', 'Tilde');
export const Lt = punct('<', 'Lt', [CompareOp]);
export const Gt = punct('>', 'Gt', [CompareOp]);
export const Eq = punct('=', 'Eq', [AssignOp]);
export const Dot = punct('.', 'Dot');
export const Comma = punct(',', 'Comma');
export const Semi = punct(';', 'Semi');
export const Colon = punct(':', 'Colon');
export const At = punct('@', 'At');
export const LParen = punct('(', 'LParen');
export const RParen = punct(')', 'RParen');
export const LBrack = punct('[', 'LBrack');
export const RBrack = punct(']', 'RBrack');
export const LBrace = punct('{', 'LBrace');
export const RBrace = punct('}', 'RBrace');

/** Every token type, in lexing priority order (categories and synthetic tokens last). */
export const allTokens: TokenType[] = [
  Whitespace,
  LineBreak,
  Comment,
  Continuation,
  StringLit,
  NumberLit,
  // Keywords and reserved words, longest first: chevrotain takes the first pattern that matches,
  // so `as` must not come before `async`.
  ...[...KEYWORDS.values(), ...reservedTokens].sort((a, b) => (b.PATTERN as string).length - (a.PATTERN as string).length),
  Identifier,
  SlashSlashEq, LtLtEq, GtGtEq,
  StarStar, SlashSlash, LtLt, GtGt, LtEq, GtEq, EqEq, NotEq,
  PlusEq, MinusEq, StarEq, SlashEq, PercentEq, AmpEq, PipeEq, CaretEq,
  Plus, Minus, Star, Slash, Percent, Amp, Pipe, Caret, Tilde, Lt, Gt, Eq,
  Dot, Comma, Semi, Colon, At, LParen, RParen, LBrack, RBrack, LBrace, RBrace,
  Illegal,
  // Never matched by the lexer; listed so the parser knows them.
  Newline, Indent, Outdent, Int, Float, Str, Bytes,
  AssignOp, AugAssignOp, CompareOp, ShiftOp, AddOp, MulOp,
];

/** The token types handed to the chevrotain Lexer (everything it can actually match). */
export const lexerTokens: TokenType[] = allTokens.slice(0, allTokens.indexOf(Illegal) + 1);

/** Payload of a Newline token synthesized at end of input where Go's scanner returns EOF itself. */
export interface NewlinePayload {
  readonly eof: true;
}

/**
 * How go.starlark.net names a token in "got X, want Y" messages: punctuation quoted (`'+'`), keywords
 * bare (`for`), and words for the rest (`identifier`, `int literal`, `newline`, `end of file`).
 */
export function describeToken(tok: IToken): string {
  const t = tok.tokenType;
  if (t === chevrotain.EOF) return 'end of file';
  if (t === Newline && (tok.payload as NewlinePayload | undefined)?.eof) return 'end of file';
  return describeTokenType(t);
}

/** Like describeToken, for a token type. */
export function describeTokenType(t: TokenType): string {
  if (t === chevrotain.EOF) return 'end of file';
  return t.LABEL ?? t.name;
}
