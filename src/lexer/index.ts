/**
 * The lexer phase: source text in, Starlark tokens out.
 *
 * Invariants: positions are UTF-16 offsets into `Source.text` (line and column are computed only when
 * printed); tokenizing never throws and keeps no state between calls; lexical errors come back as data.
 */
export { Source, codeFrame, formatPosition } from './source.js';
export type { Position, Span } from './source.js';
export { tokenize, tokenKind, buildLexer } from './lexer.js';
export type { LexResult, LexDiagnostic, LexerBuildOptions } from './lexer.js';
export type { LexError, NumberPayload, StringPayload } from './indentation.js';
export { utf8Encode, utf8Decode, utf8DecodeRune } from './strings.js';
export * as tokens from './tokens.js';
export { describeToken, describeTokenType, RESERVED_WORDS, KEYWORDS } from './tokens.js';
