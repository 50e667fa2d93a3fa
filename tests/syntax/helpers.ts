/** Shared helpers for the syntax tests. */
import { expect } from 'vitest';
import { ParseError } from '../../src/interpreter/errors.js';
import type { Expr, File, Node } from '../../src/interpreter/syntax/index.js';
import { parseExpr, parseFile } from '../../src/interpreter/syntax/index.js';
import { Source } from '../../src/lexer/index.js';

export function parse(text: string): File {
  return parseFile(new Source('t.star', text));
}

export function expr(text: string): Expr {
  return parseExpr(new Source('t.star', text));
}

/** The ParseError thrown by parsing `text` (fails the test if there is none). */
export function parseError(text: string, asExpr = false): ParseError {
  try {
    if (asExpr) expr(text);
    else parse(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ParseError);
    return e as ParseError;
  }
  throw new Error(`expected a parse error for ${JSON.stringify(text)}`);
}

/** Offsets that change when the same tree is printed differently. */
const POSITIONAL = new Set(['span', 'raw', 'source', 'opPos', 'lparen', 'lbrack', 'dot', 'colon', 'defPos', 'forPos', 'lambdaPos']);

/** A copy of an AST without spans, `raw` and other offsets, for comparing trees. */
export function strip(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(strip);
  if (x !== null && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) if (!POSITIONAL.has(k)) out[k] = strip(v);
    return out;
  }
  return x;
}

/** Like strip, also removing ParenExpr nodes (for trees the printer had to parenthesize). */
export function stripParens(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(stripParens);
  if (x !== null && typeof x === 'object') {
    const o = x as Record<string, unknown>;
    if (o.kind === 'ParenExpr') return stripParens(o.x);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) if (!POSITIONAL.has(k)) out[k] = stripParens(v);
    return out;
  }
  return x;
}

/** Every node of a tree, with its parent. */
export function* nodes(n: unknown, parent?: Node): Generator<[Node, Node | undefined]> {
  if (Array.isArray(n)) {
    for (const c of n) yield* nodes(c, parent);
    return;
  }
  if (n === null || typeof n !== 'object') return;
  const o = n as Record<string, unknown>;
  if (typeof o.kind === 'string' && o.kind !== 'File' && 'span' in o) {
    yield [o as unknown as Node, parent];
    parent = o as unknown as Node;
  }
  for (const [k, v] of Object.entries(o)) if (k !== 'source' && k !== 'span') yield* nodes(v, parent);
}
