/**
 * This file defines the abstract syntax tree of Starlark, as produced by the parser and consumed by the
 * resolver and compiler. Every node is a plain, readonly object with a `kind` discriminant and a `span`
 * (UTF-16 offsets into the file's Source). Nodes that can fail at run time also carry the offset of the
 * token the reference implementation reports errors at (`opPos`, `lparen`, `lbrack`, `dot`), so our
 * error columns match go.starlark.net's.
 *
 * The tree is data only: the resolver records its findings in side tables, never in the nodes, so a
 * parsed file can be resolved twice (with different options) and printed back (see printer.ts).
 */
import type { Source, Span } from '../../lexer/source.js';

// ---------------------------------------------------------------------------------------------
// Files and statements

/** A parsed file: its statements in order. */
export interface File {
  readonly kind: 'File';
  readonly source: Source;
  readonly stmts: readonly Stmt[];
  readonly span: Span;
}

export type Stmt =
  | ExprStmt
  | AssignStmt
  | DefStmt
  | ReturnStmt
  | IfStmt
  | ForStmt
  | WhileStmt
  | BranchStmt
  | LoadStmt;

/** An expression evaluated for its effect, e.g. a call. */
export interface ExprStmt {
  readonly kind: 'ExprStmt';
  readonly x: Expr;
  readonly span: Span;
}

/** `=` and the augmented assignments. */
export type AssignOp = '=' | '+=' | '-=' | '*=' | '/=' | '//=' | '%=' | '&=' | '|=' | '^=' | '<<=' | '>>=';

/**
 * `lhs op rhs`. For `=`, lhs is an Ident, IndexExpr, DotExpr, or a TupleExpr/ListExpr/ParenExpr of
 * targets (unpacking). For augmented ops lhs is an Ident, IndexExpr or DotExpr.
 */
export interface AssignStmt {
  readonly kind: 'AssignStmt';
  readonly op: AssignOp;
  readonly lhs: Expr;
  readonly rhs: Expr;
  /** Offset of the operator token. */
  readonly opPos: number;
  readonly span: Span;
}

/** A parameter of a def or lambda. */
export type Param =
  /** `name` or `name = default`. After a `*` or `*args`, a keyword-only parameter. */
  | { readonly kind: 'Param'; readonly name: Ident; readonly default?: Expr; readonly span: Span }
  /** `*args`, or a bare `*` (name undefined) that only separates keyword-only parameters. */
  | { readonly kind: 'StarParam'; readonly name?: Ident; readonly span: Span }
  /** `**kwargs` */
  | { readonly kind: 'StarStarParam'; readonly name: Ident; readonly span: Span };

/** `def name(params): body`, with optional decorators (`@expr` lines, our `decorators` extension). */
export interface DefStmt {
  readonly kind: 'DefStmt';
  readonly name: Ident;
  readonly params: readonly Param[];
  readonly body: readonly Stmt[];
  /** Decorator expressions, outermost first (as written, top to bottom). */
  readonly decorators: readonly Expr[];
  /** Offset of the `def` keyword. */
  readonly defPos: number;
  readonly span: Span;
}

/** `return` or `return x`. */
export interface ReturnStmt {
  readonly kind: 'ReturnStmt';
  readonly result?: Expr;
  readonly span: Span;
}

/** `if cond: then else: els`. `elif` parses as an else branch holding one nested IfStmt. */
export interface IfStmt {
  readonly kind: 'IfStmt';
  readonly cond: Expr;
  readonly then: readonly Stmt[];
  readonly els: readonly Stmt[];
  /** True when this IfStmt was written as `elif` (for printing). */
  readonly elif: boolean;
  readonly span: Span;
}

/** `for vars in x: body`. `vars` is an Ident or a tuple/list/paren of targets. */
export interface ForStmt {
  readonly kind: 'ForStmt';
  readonly vars: Expr;
  readonly x: Expr;
  readonly body: readonly Stmt[];
  /** Offset of the `for` keyword. */
  readonly forPos: number;
  readonly span: Span;
}

/** `while cond: body` (dialect option `while`). */
export interface WhileStmt {
  readonly kind: 'WhileStmt';
  readonly cond: Expr;
  readonly body: readonly Stmt[];
  readonly span: Span;
}

/** `break`, `continue` or `pass`. */
export interface BranchStmt {
  readonly kind: 'BranchStmt';
  readonly token: 'break' | 'continue' | 'pass';
  readonly span: Span;
}

/** `load("module", "a", b = "c")`: binds local `a` to the module's `a`, local `b` to its `c`. */
export interface LoadStmt {
  readonly kind: 'LoadStmt';
  readonly module: StringLiteral;
  readonly bindings: readonly { readonly local: Ident; readonly remote: StringLiteral }[];
  readonly span: Span;
}

// ---------------------------------------------------------------------------------------------
// Expressions

export type Expr =
  | Ident
  | Literal
  | ListExpr
  | TupleExpr
  | DictExpr
  | Comprehension
  | CondExpr
  | BinaryExpr
  | UnaryExpr
  | CallExpr
  | DotExpr
  | IndexExpr
  | SliceExpr
  | LambdaExpr
  | ParenExpr;

export interface Ident {
  readonly kind: 'Ident';
  readonly name: string;
  readonly span: Span;
}

/** A literal. Strings are decoded text (UTF-16 JS strings); bytes are arrays of 0..255. */
export type Literal = IntLiteral | FloatLiteral | StringLiteral | BytesLiteral;

export interface IntLiteral {
  readonly kind: 'Literal';
  readonly type: 'int';
  /** A JS number when |value| <= 2^53-1, else a bigint. */
  readonly value: number | bigint;
  /** The literal as written, e.g. `0x1F`. */
  readonly raw: string;
  readonly span: Span;
}
export interface FloatLiteral {
  readonly kind: 'Literal';
  readonly type: 'float';
  readonly value: number;
  readonly raw: string;
  readonly span: Span;
}
export interface StringLiteral {
  readonly kind: 'Literal';
  readonly type: 'string';
  /**
   * The string's value in our internal representation: a "binary" JS string holding one UTF-8 byte
   * per char code (0..255), so `len`, indexing and slicing are by byte, as in go.starlark.net.
   * ASCII text is unchanged by this encoding. See values/str.ts.
   */
  readonly value: string;
  readonly raw: string;
  readonly span: Span;
}
export interface BytesLiteral {
  readonly kind: 'Literal';
  readonly type: 'bytes';
  /** The bytes as a binary JS string (one char code 0..255 per byte). */
  readonly value: string;
  readonly raw: string;
  readonly span: Span;
}

/** `[a, b, c]` */
export interface ListExpr {
  readonly kind: 'ListExpr';
  readonly elems: readonly Expr[];
  readonly span: Span;
}

/** `a, b` or `(a, b)` (the parentheses, if any, are a ParenExpr around it). */
export interface TupleExpr {
  readonly kind: 'TupleExpr';
  readonly elems: readonly Expr[];
  readonly span: Span;
}

/** `{k: v, ...}` */
export interface DictExpr {
  readonly kind: 'DictExpr';
  readonly entries: readonly DictEntry[];
  readonly span: Span;
}
export interface DictEntry {
  readonly kind: 'DictEntry';
  readonly key: Expr;
  readonly value: Expr;
  /** Offset of the colon (errors about unhashable keys are reported here). */
  readonly colon: number;
  readonly span: Span;
}

/** A `for` or `if` clause of a comprehension. */
export type ComprehensionClause =
  | { readonly kind: 'ForClause'; readonly vars: Expr; readonly x: Expr; readonly forPos: number; readonly span: Span }
  | { readonly kind: 'IfClause'; readonly cond: Expr; readonly span: Span };

/** `[body for ... if ...]` or `{k: v for ...}` (then body is a DictEntry). */
export interface Comprehension {
  readonly kind: 'Comprehension';
  readonly curly: boolean;
  readonly body: Expr | DictEntry;
  /** The first clause is always a ForClause. */
  readonly clauses: readonly ComprehensionClause[];
  readonly span: Span;
}

/** `a if cond else b` */
export interface CondExpr {
  readonly kind: 'CondExpr';
  readonly cond: Expr;
  readonly then: Expr;
  readonly els: Expr;
  readonly span: Span;
}

export type BinaryOp =
  | 'or' | 'and'
  | '==' | '!=' | '<' | '>' | '<=' | '>=' | 'in' | 'not in'
  | '|' | '^' | '&' | '<<' | '>>'
  | '+' | '-' | '*' | '/' | '//' | '%';

export interface BinaryExpr {
  readonly kind: 'BinaryExpr';
  readonly op: BinaryOp;
  readonly x: Expr;
  readonly y: Expr;
  /** Offset of the operator token (for `not in`, of `not`). */
  readonly opPos: number;
  readonly span: Span;
}

export type UnaryOp = '+' | '-' | '~' | 'not';

export interface UnaryExpr {
  readonly kind: 'UnaryExpr';
  readonly op: UnaryOp;
  readonly x: Expr;
  readonly span: Span;
}

/** An argument at a call site. */
export type Arg =
  | { readonly kind: 'PosArg'; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'KwArg'; readonly name: Ident; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'StarArg'; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'StarStarArg'; readonly value: Expr; readonly span: Span };

/** `fn(args)` */
export interface CallExpr {
  readonly kind: 'CallExpr';
  readonly fn: Expr;
  readonly args: readonly Arg[];
  /** Offset of `(`. */
  readonly lparen: number;
  readonly span: Span;
}

/** `x.name` */
export interface DotExpr {
  readonly kind: 'DotExpr';
  readonly x: Expr;
  readonly name: Ident;
  /** Offset of `.`. */
  readonly dot: number;
  readonly span: Span;
}

/** `x[index]` */
export interface IndexExpr {
  readonly kind: 'IndexExpr';
  readonly x: Expr;
  readonly index: Expr;
  /** Offset of `[`. */
  readonly lbrack: number;
  readonly span: Span;
}

/** `x[lo:hi:step]`, each part optional. */
export interface SliceExpr {
  readonly kind: 'SliceExpr';
  readonly x: Expr;
  readonly lo?: Expr;
  readonly hi?: Expr;
  readonly step?: Expr;
  readonly lbrack: number;
  readonly span: Span;
}

/** `lambda params: body` */
export interface LambdaExpr {
  readonly kind: 'LambdaExpr';
  readonly params: readonly Param[];
  readonly body: Expr;
  /** Offset of the `lambda` keyword. */
  readonly lambdaPos: number;
  readonly span: Span;
}

/** `(x)`: kept so the printer can reproduce parentheses. */
export interface ParenExpr {
  readonly kind: 'ParenExpr';
  readonly x: Expr;
  readonly span: Span;
}

export type Node = File | Stmt | Expr | DictEntry | Param | Arg | ComprehensionClause;
