/** The syntax tree of the Python subset the compiler reads (positions are 1-based .py line/column). */

export interface Pos {
  readonly line: number;
  readonly col: number;
}

/** One piece of a string literal (adjacent literals concatenate). */
export type StrPiece =
  | { readonly kind: 'lit'; readonly value: string; readonly line: number; readonly col: number; readonly multiline: boolean }
  | {
      readonly kind: 'field';
      readonly expr: Expr;
      readonly conv: string;
      readonly spec: string;
      /** `{x=}`: the text "x=" that precedes the value. */
      readonly debug?: string;
      readonly line: number;
      readonly col: number;
    };

export type Arg =
  | { readonly kind: 'pos'; readonly value: Expr }
  | { readonly kind: 'star'; readonly value: Expr }
  | { readonly kind: 'kw'; readonly name: string; readonly value: Expr; readonly pos: Pos }
  | { readonly kind: 'dstar'; readonly value: Expr };

export interface Param {
  readonly kind: 'normal' | 'star' | 'dstar' | 'kwmarker' | 'posmarker';
  readonly name: string;
  readonly default?: Expr;
  readonly pos: Pos;
}

export interface CompClause {
  readonly kind: 'for' | 'if';
  readonly target?: Expr;
  readonly expr: Expr;
  readonly async?: boolean;
  readonly pos: Pos;
}

export type Expr = Pos &
  (
    | { readonly kind: 'Name'; readonly id: string }
    | { readonly kind: 'Num'; readonly text: string }
    | { readonly kind: 'Str'; readonly pieces: readonly StrPiece[]; readonly bytes: boolean; readonly fstring: boolean }
    | { readonly kind: 'Const'; readonly value: 'True' | 'False' | 'None' | '...' }
    | { readonly kind: 'Attr'; readonly value: Expr; readonly attr: string }
    | { readonly kind: 'Subscript'; readonly value: Expr; readonly index: Expr }
    | { readonly kind: 'Slice'; readonly lo?: Expr; readonly hi?: Expr; readonly step?: Expr }
    | { readonly kind: 'Call'; readonly func: Expr; readonly args: readonly Arg[]; readonly end: Pos }
    | { readonly kind: 'BinOp'; readonly op: string; readonly left: Expr; readonly right: Expr }
    | { readonly kind: 'Unary'; readonly op: string; readonly operand: Expr }
    | { readonly kind: 'BoolOp'; readonly op: 'and' | 'or'; readonly left: Expr; readonly right: Expr }
    | { readonly kind: 'Compare'; readonly ops: readonly { readonly op: string; readonly pos: Pos }[]; readonly operands: readonly Expr[] }
    | { readonly kind: 'IfExp'; readonly test: Expr; readonly body: Expr; readonly orelse: Expr }
    | { readonly kind: 'Lambda'; readonly params: readonly Param[]; readonly body: Expr }
    | { readonly kind: 'List'; readonly elts: readonly Expr[]; readonly end: Pos }
    | { readonly kind: 'Tuple'; readonly elts: readonly Expr[]; readonly paren: boolean; readonly end?: Pos }
    | { readonly kind: 'Set'; readonly elts: readonly Expr[] }
    | { readonly kind: 'Dict'; readonly entries: readonly ({ readonly key: Expr; readonly value: Expr } | { readonly dstar: Expr })[]; readonly end: Pos }
    | { readonly kind: 'Comp'; readonly comp: 'list' | 'set' | 'dict' | 'gen'; readonly elt: Expr; readonly value?: Expr; readonly clauses: readonly CompClause[]; readonly end: Pos }
    | { readonly kind: 'Starred'; readonly value: Expr; readonly double?: boolean }
    | { readonly kind: 'Walrus'; readonly target: string; readonly value: Expr }
    | { readonly kind: 'Await'; readonly value: Expr }
    | { readonly kind: 'Yield'; readonly value?: Expr }
    | { readonly kind: 'Paren'; readonly value: Expr; readonly end: Pos }
  );

export type Stmt = Pos &
  (
    | { readonly kind: 'Expr'; readonly value: Expr }
    | { readonly kind: 'Assign'; readonly targets: readonly Expr[]; readonly value: Expr }
    | { readonly kind: 'AugAssign'; readonly target: Expr; readonly op: string; readonly value: Expr }
    | { readonly kind: 'AnnAssign'; readonly target: Expr; readonly value?: Expr }
    | { readonly kind: 'Return'; readonly value?: Expr }
    | { readonly kind: 'Pass' | 'Break' | 'Continue' }
    | { readonly kind: 'If'; readonly test: Expr; readonly body: Block; readonly orelse?: Block; readonly elif: boolean; readonly elsePos?: Pos }
    | { readonly kind: 'For'; readonly target: Expr; readonly iter: Expr; readonly body: Block; readonly orelse?: Block; readonly async: boolean }
    | { readonly kind: 'While'; readonly test: Expr; readonly body: Block; readonly orelse?: Block }
    | { readonly kind: 'Def'; readonly def: FuncDef }
    | { readonly kind: 'Import'; readonly names: readonly { readonly module: string; readonly asname?: string }[] }
    | { readonly kind: 'ImportFrom'; readonly module: string; readonly names: readonly { readonly name: string; readonly asname?: string }[] }
    /** A statement Starlark lacks (try, with, class, raise, global, ...): its keyword. */
    | { readonly kind: 'Unsupported'; readonly keyword: string; readonly names: readonly string[] }
  );

/** A suite; `inline` when it is on the header's line (`if x: return 1`). */
export interface Block {
  readonly stmts: readonly Stmt[];
  readonly inline: boolean;
}

export interface Decorator {
  readonly expr: Expr;
  readonly line: number;
  readonly col: number;
}

export interface FuncDef {
  readonly name: string;
  readonly params: readonly Param[];
  readonly decorators: readonly Decorator[];
  readonly async: boolean;
  readonly line: number;
  readonly col: number;
  /** The line of the body's last token. */
  readonly endLine: number;
  /** Undefined when the body was skipped (a @task) or failed to parse (see `bodyError`). */
  readonly body?: Block;
  readonly bodyError?: { readonly message: string; readonly line: number; readonly col: number; readonly hint?: string | undefined };
}
