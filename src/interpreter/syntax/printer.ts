/**
 * This file prints an AST back as Starlark source. The output parses to the same tree, ignoring spans,
 * `raw` and the other offsets, for every tree the parser can produce: ParenExpr nodes are printed as
 * written, and compound statements always get an indented block (4 spaces).
 *
 * For trees built by hand the printer still produces valid Starlark where it can, adding parentheses
 * where precedence requires them (e.g. a BinaryExpr operand of higher precedence, a one-element tuple);
 * the result then parses to the same tree with extra ParenExpr nodes. Values with no literal form
 * (a non-finite float, or a string value that is not valid UTF-8) are printed as calls (`float("inf")`)
 * or with `\x` escapes, as go.starlark.net's Quote does.
 */
import type { Source } from '../../lexer/source.js';
import { utf8DecodeRune } from '../../lexer/strings.js';
import type {
  Arg,
  BinaryOp,
  Comprehension,
  ComprehensionClause,
  DictEntry,
  Expr,
  File,
  Literal,
  Param,
  Stmt,
} from './ast.js';

// Precedence levels, loosest first. An operand printed where a level `p` is required gets parentheses
// if its own level is lower.
const P_TUPLE = 0; // expr: a bare tuple
const P_TEST = 1; // lambda, conditional
const P_OR = 2;
const P_AND = 3;
const P_NOT = 4;
const P_CMP = 5;
const P_UNARY = 12; // + - ~ and their operand (primary_with_suffix)
const P_PRIMARY = 13;

const BINARY_PREC: Record<BinaryOp, number> = {
  or: P_OR,
  and: P_AND,
  '==': P_CMP, '!=': P_CMP, '<': P_CMP, '>': P_CMP, '<=': P_CMP, '>=': P_CMP, in: P_CMP, 'not in': P_CMP,
  '|': 6,
  '^': 7,
  '&': 8,
  '<<': 9, '>>': 9,
  '+': 10, '-': 10,
  '*': 11, '/': 11, '//': 11, '%': 11,
};

function precOf(e: Expr): number {
  switch (e.kind) {
    case 'TupleExpr':
      return e.elems.length === 0 ? P_PRIMARY : P_TUPLE;
    case 'LambdaExpr':
    case 'CondExpr':
      return P_TEST;
    case 'BinaryExpr':
      return BINARY_PREC[e.op];
    case 'UnaryExpr':
      return e.op === 'not' ? P_NOT : P_UNARY;
    default:
      return P_PRIMARY;
  }
}

/** Prints `e` where precedence level `min` is required. */
function expr(e: Expr, min: number): string {
  // A bare one-element tuple has no unparenthesized form.
  if (precOf(e) < min || (e.kind === 'TupleExpr' && e.elems.length === 1)) return `(${tupleBody(e)})`;
  return exprNoParens(e);
}

/** The inside of a pair of parentheses holding `e` (a tuple gets its trailing comma if needed). */
function tupleBody(e: Expr): string {
  if (e.kind === 'TupleExpr' && e.elems.length === 1) return `${expr(e.elems[0]!, P_TEST)},`;
  return expr(e, P_TUPLE);
}

function exprNoParens(e: Expr): string {
  switch (e.kind) {
    case 'Ident':
      return e.name;
    case 'Literal':
      return literal(e);
    case 'ListExpr':
      return `[${e.elems.map((x) => expr(x, P_TEST)).join(', ')}]`;
    case 'TupleExpr':
      return e.elems.length === 0 ? '()' : e.elems.map((x) => expr(x, P_TEST)).join(', ');
    case 'DictExpr':
      return `{${e.entries.map(entry).join(', ')}}`;
    case 'Comprehension':
      return comprehension(e);
    case 'CondExpr':
      return `${expr(e.then, P_OR)} if ${expr(e.cond, P_OR)} else ${expr(e.els, P_TEST)}`;
    case 'BinaryExpr': {
      const p = BINARY_PREC[e.op];
      // Left-associative, except comparisons, which do not associate at all.
      const left = expr(e.x, p === P_CMP ? p + 1 : p);
      return `${left} ${e.op} ${expr(e.y, p + 1)}`;
    }
    case 'UnaryExpr':
      if (e.op === 'not') return `not ${expr(e.x, P_NOT)}`;
      return `${e.op}${expr(e.x, P_UNARY)}`;
    case 'CallExpr':
      return `${suffixBase(e.fn)}(${e.args.map(arg).join(', ')})`;
    case 'DotExpr':
      return `${suffixBase(e.x)}.${e.name.name}`;
    case 'IndexExpr':
      return `${suffixBase(e.x)}[${expr(e.index, P_TUPLE)}]`;
    case 'SliceExpr': {
      let s = `${suffixBase(e.x)}[${e.lo ? expr(e.lo, P_TUPLE) : ''}:${e.hi ? expr(e.hi, P_TEST) : ''}`;
      if (e.step) s += `:${expr(e.step, P_TEST)}`;
      return s + ']';
    }
    case 'LambdaExpr':
      return lambda(e.params, expr(e.body, P_TEST));
    case 'ParenExpr':
      return `(${tupleBody(e.x)})`;
  }
}

/** The operand of a suffix (call, dot, index, slice). `1 .real` needs a space: `1.` is a float. */
function suffixBase(x: Expr): string {
  const s = expr(x, P_PRIMARY);
  return x.kind === 'Literal' && x.type === 'int' && /^\d+$/.test(s) ? `${s} ` : s;
}

function lambda(params: readonly Param[], body: string): string {
  return params.length === 0 ? `lambda: ${body}` : `lambda ${params.map(param).join(', ')}: ${body}`;
}

/** test_no_cond: a test with no trailing conditional (the condition of a comprehension's `if`). */
function testNoCond(e: Expr): string {
  if (e.kind === 'LambdaExpr') return lambda(e.params, testNoCond(e.body));
  return expr(e, P_OR);
}

/** Loop variables: primary_with_suffix {',' primary_with_suffix}. */
function loopVars(e: Expr): string {
  if (e.kind === 'TupleExpr' && e.elems.length >= 2) return e.elems.map((x) => expr(x, P_UNARY)).join(', ');
  return expr(e, P_UNARY);
}

function entry(d: DictEntry): string {
  return `${expr(d.key, P_TEST)}: ${expr(d.value, P_TEST)}`;
}

function clause(c: ComprehensionClause): string {
  return c.kind === 'ForClause' ? `for ${loopVars(c.vars)} in ${expr(c.x, P_OR)}` : `if ${testNoCond(c.cond)}`;
}

function comprehension(e: Comprehension): string {
  const body = e.body.kind === 'DictEntry' ? entry(e.body) : expr(e.body, P_TEST);
  const clauses = e.clauses.map(clause).join(' ');
  return e.curly ? `{${body} ${clauses}}` : `[${body} ${clauses}]`;
}

function arg(a: Arg): string {
  switch (a.kind) {
    case 'PosArg':
      return expr(a.value, P_TEST);
    case 'KwArg':
      return `${a.name.name}=${expr(a.value, P_TEST)}`;
    case 'StarArg':
      return `*${expr(a.value, P_TEST)}`;
    case 'StarStarArg':
      return `**${expr(a.value, P_TEST)}`;
  }
}

function param(p: Param): string {
  switch (p.kind) {
    case 'Param':
      return p.default ? `${p.name.name}=${expr(p.default, P_TEST)}` : p.name.name;
    case 'StarParam':
      return p.name ? `*${p.name.name}` : '*';
    case 'StarStarParam':
      return `**${p.name.name}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Literals

function literal(e: Literal): string {
  switch (e.type) {
    case 'int': {
      const v = e.value;
      if (typeof v === 'number' && !Number.isSafeInteger(v)) return BigInt(Math.trunc(v)).toString();
      return v.toString();
    }
    case 'float': {
      const v = e.value;
      if (Number.isNaN(v)) return 'float("nan")';
      if (!Number.isFinite(v)) return v > 0 ? 'float("inf")' : '-float("inf")';
      if (Object.is(v, -0)) return '-0.0';
      const s = String(v);
      return /[.eE]/.test(s) ? s : `${s}.0`;
    }
    case 'string':
      return quote(e.value, false);
    case 'bytes':
      return quote(e.value, true);
  }
}

const ESCAPES: Record<number, string> = {
  0x07: '\\a', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t', 0x0b: '\\v', 0x22: '\\"', 0x5c: '\\\\',
};

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/**
 * A double-quoted Starlark literal denoting the binary string `value` (one UTF-8 byte per char code).
 * Text is printed as characters where printable, else with escapes; in bytes literals every
 * non-ASCII byte is a `\x` escape.
 */
export function quote(value: string, bytes: boolean): string {
  let out = bytes ? 'b"' : '"';
  for (let i = 0; i < value.length; ) {
    const c = value.charCodeAt(i);
    if (c < 0x80) {
      const esc = ESCAPES[c];
      if (esc) out += esc;
      else if (c < 0x20 || c === 0x7f) out += `\\x${hex(c, 2)}`;
      else out += value[i];
      i++;
      continue;
    }
    const [cp, n] = bytes ? [-1, 1] : utf8DecodeRune(value, i);
    if (cp < 0) {
      out += `\\x${hex(c & 0xff, 2)}`;
    } else {
      const ch = String.fromCodePoint(cp);
      if (PRINTABLE.test(ch)) out += ch;
      else out += cp < 0x10000 ? `\\u${hex(cp, 4)}` : `\\U${hex(cp, 8)}`;
    }
    i += n;
  }
  return out + '"';
}

// ---------------------------------------------------------------------------------------------
// Statements

const INDENT = '    ';

function block(stmts: readonly Stmt[], indent: string, out: string[]): void {
  if (stmts.length === 0) {
    out.push(`${indent}pass`);
    return;
  }
  for (const s of stmts) stmt(s, indent, out);
}

function stmt(s: Stmt, indent: string, out: string[]): void {
  const inner = indent + INDENT;
  switch (s.kind) {
    case 'ExprStmt':
      out.push(indent + expr(s.x, P_TUPLE));
      return;
    case 'AssignStmt':
      out.push(`${indent}${expr(s.lhs, P_TUPLE)} ${s.op} ${expr(s.rhs, P_TUPLE)}`);
      return;
    case 'ReturnStmt':
      out.push(s.result ? `${indent}return ${expr(s.result, P_TUPLE)}` : `${indent}return`);
      return;
    case 'BranchStmt':
      out.push(indent + s.token);
      return;
    case 'LoadStmt': {
      const parts = [quote(s.module.value, false)];
      for (const b of s.bindings) {
        const remote = quote(b.remote.value, false);
        parts.push(isSameName(b.local.name, b.remote.value) ? remote : `${b.local.name}=${remote}`);
      }
      out.push(`${indent}load(${parts.join(', ')})`);
      return;
    }
    case 'DefStmt':
      for (const d of s.decorators) out.push(`${indent}@${expr(d, P_TEST)}`);
      out.push(`${indent}def ${s.name.name}(${s.params.map(param).join(', ')}):`);
      block(s.body, inner, out);
      return;
    case 'IfStmt': {
      // An `elif` is printed as such only as the sole statement of an else branch.
      let keyword = 'if';
      for (let cur: Stmt | undefined = s; cur?.kind === 'IfStmt'; ) {
        out.push(`${indent}${keyword} ${expr(cur.cond, P_TEST)}:`);
        block(cur.then, inner, out);
        const els: readonly Stmt[] = cur.els;
        cur = undefined;
        if (els.length === 1 && els[0]!.kind === 'IfStmt' && els[0]!.elif) {
          cur = els[0];
          keyword = 'elif';
        } else if (els.length > 0) {
          out.push(`${indent}else:`);
          block(els, inner, out);
        }
      }
      return;
    }
    case 'ForStmt':
      out.push(`${indent}for ${loopVars(s.vars)} in ${expr(s.x, P_TUPLE)}:`);
      block(s.body, inner, out);
      return;
    case 'WhileStmt':
      out.push(`${indent}while ${expr(s.cond, P_TEST)}:`);
      block(s.body, inner, out);
      return;
  }
}

/** Does a load binding's local name equal its remote name (so `"x"` can stand for `x="x"`)? */
function isSameName(local: string, remoteBinary: string): boolean {
  if (local.length === remoteBinary.length && local === remoteBinary) return true;
  // Non-ASCII names: the remote is UTF-8 bytes, the local is text.
  let text = '';
  for (let i = 0; i < remoteBinary.length; ) {
    const [cp, n] = utf8DecodeRune(remoteBinary, i);
    if (cp < 0) return false;
    text += String.fromCodePoint(cp);
    i += n;
  }
  return text === local;
}

/** Prints a file: one statement (or compound statement) per line, blocks indented by 4 spaces. */
export function printFile(file: File | { readonly stmts: readonly Stmt[]; readonly source?: Source }): string {
  const out: string[] = [];
  for (const s of file.stmts) stmt(s, '', out);
  return out.length > 0 ? out.join('\n') + '\n' : '';
}

/** Prints an expression; a top-level tuple is printed without parentheses. */
export function printExpr(e: Expr): string {
  return expr(e, P_TUPLE);
}

/** Prints one statement (and its block), without a trailing newline. */
export function printStmt(s: Stmt): string {
  const out: string[] = [];
  stmt(s, '', out);
  return out.join('\n');
}
