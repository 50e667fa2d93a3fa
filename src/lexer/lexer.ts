/**
 * This file defines `tokenize`, the Starlark lexer: chevrotain splits the text into raw tokens using
 * the table in tokens.ts, then indentation.ts lays them out into logical lines (NEWLINE, INDENT,
 * OUTDENT) and collects lexical errors. Errors are returned as data; the parser's public API turns them
 * into one ParseError.
 *
 * The chevrotain Lexer is built once, lazily, on first use; building it analyses the token table
 * (a few milliseconds). Tokenizing keeps no state between calls.
 */
import type { IToken, Lexer as ChevrotainLexer } from 'chevrotain';
import { layout, type LexError } from './indentation.js';
import type { Source } from './source.js';
import { chevrotain, lexerTokens } from './tokens.js';

/** The result of tokenizing a source. */
export interface LexResult {
  /** The parser's token stream (without a trailing EOF token: chevrotain's parser supplies it). */
  readonly tokens: IToken[];
  /** Lexical errors in source order; each is structurally a Diagnostic of the source. */
  readonly errors: readonly LexDiagnostic[];
}

/** A lexical error, shaped like interpreter/errors.ts's Diagnostic. */
export interface LexDiagnostic extends LexError {
  readonly source: Source;
}

let lexer: ChevrotainLexer | undefined;

/** Options for building the chevrotain lexer (tests turn validations on). */
export interface LexerBuildOptions {
  /** Run chevrotain's checks of the token table (slower start). @default false */
  readonly validate?: boolean;
}

/** Builds a fresh chevrotain lexer for the token table. Exposed for tests and measurements. */
export function buildLexer(options: LexerBuildOptions = {}): ChevrotainLexer {
  return new chevrotain.Lexer(lexerTokens, {
    positionTracking: 'onlyOffset',
    skipValidations: !options.validate,
    ensureOptimizations: !!options.validate,
    recoveryEnabled: true,
  });
}

function getLexer(): ChevrotainLexer {
  return (lexer ??= buildLexer());
}

/**
 * Splits `source` into the tokens of the Starlark grammar, with NEWLINE/INDENT/OUTDENT synthesized.
 * Never throws for any input text; problems are reported in `errors`.
 */
export function tokenize(source: Source): LexResult {
  const text = source.text;
  const result = getLexer().tokenize(text);
  const errors: LexError[] = [];
  // The Illegal token catches every character, so chevrotain itself should report nothing;
  // translate defensively anyway.
  for (const e of result.errors) {
    errors.push({ message: `unexpected input character at offset ${e.offset}`, offset: e.offset, tokenIndex: 0 });
  }
  const tokens = layout(text, result.tokens, errors);
  errors.sort((a, b) => a.tokenIndex - b.tokenIndex || a.offset - b.offset);
  return { tokens, errors: errors.map((e) => ({ ...e, source })) };
}

/** The name of a token's type, e.g. "Identifier", "Newline", "LParen" (for tests and debugging). */
export function tokenKind(tok: IToken): string {
  return tok.tokenType.name;
}
