/**
 * The syntax phase: Starlark source to AST (parser.ts) and back (printer.ts).
 *
 * Invariants: nodes are plain readonly data with UTF-16 spans into their Source; string and bytes
 * literal values are binary strings (one UTF-8 byte per char code); parseFile/parseExpr throw only
 * ParseError; printFile/printExpr produce text that parses back to the same tree (ignoring spans and
 * `raw`).
 */
export type * from './ast.js';
export { parseFile, parseExpr } from './parser.js';
export { printFile, printExpr } from './printer.js';
