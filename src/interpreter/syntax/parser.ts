/**
 * This file defines the Starlark parser: a chevrotain EmbeddedActionsParser whose rules build the AST
 * of ast.ts directly. The grammar is go.starlark.net's (syntax/parse.go, an LL(1) grammar following
 * Python), with our `@decorator` extension; rule names follow Go's parse functions and each rule
 * carries its production.
 *
 * Errors. We report the first error with go.starlark.net's wording and at the offending token, e.g.
 * "got newline, want primary expression", "got ':', want '('", "not an identifier". Chevrotain detects
 * most of them itself (translated by `errorMessages`); where Go's recursive descent would fail at a
 * different point or with a more specific message than an LL(k) parser naturally does, a rule checks
 * the lookahead in an ACTION and fails first (`fail`). Invalid assignment targets ("can't assign to
 * function call") are found while parsing but reported only if the whole file parses, as Go's resolver
 * would. The public functions throw only ParseError: lexical errors come first when the parser would
 * have reached them (Go scans lazily), and anything unexpected is wrapped.
 *
 * Cold start: the parser instance is created lazily, once, on the first parse. Chevrotain's
 * self-analysis is the main cost: with validations it takes 70-120 ms on our 2-core machines, so
 * production skips them (tests build a validating instance, see `createParser`) and defers building
 * each decision's lookahead function to its first use (LazyLookaheadStrategy); construction then takes
 * about 17 ms and the first small parse about 13 ms.
 */
import type {
  ILookaheadStrategy,
  ILookaheadValidationError,
  IOrAlt,
  IRecognitionException,
  IToken,
  Rule,
  TokenType,
} from 'chevrotain';
import { ParseError, type Diagnostic } from '../errors.js';
import { tokenize } from '../../lexer/lexer.js';
import type { NumberPayload, StringPayload } from '../../lexer/indentation.js';
import type { Source, Span } from '../../lexer/source.js';
import { utf8Decode } from '../../lexer/strings.js';
import * as T from '../../lexer/tokens.js';
import { chevrotain, describeToken, describeTokenType, type NewlinePayload } from '../../lexer/tokens.js';
import type {
  Arg,
  AssignOp,
  AssignStmt,
  BinaryExpr,
  BinaryOp,
  BytesLiteral,
  CallExpr,
  Comprehension,
  ComprehensionClause,
  DefStmt,
  DictEntry,
  Expr,
  File,
  FloatLiteral,
  ForStmt,
  Ident,
  IfStmt,
  IntLiteral,
  LambdaExpr,
  LoadStmt,
  Param,
  ReturnStmt,
  Stmt,
  StringLiteral,
  UnaryExpr,
  UnaryOp,
  WhileStmt,
} from './ast.js';

// ---------------------------------------------------------------------------------------------
// Helpers

const EOF = chevrotain.EOF;

/** A syntax error found by a rule's own check (not by chevrotain). */
class SyntaxFailure {
  constructor(
    readonly offset: number,
    readonly message: string,
    /** The lookahead token whose examination revealed the error. */
    readonly trigger: IToken,
  ) {}
}

function tokEnd(t: IToken): number {
  return t.startOffset + t.image.length;
}

function tokSpan(t: IToken): Span {
  return { start: t.startOffset, end: t.startOffset + t.image.length };
}

function stmtsEnd(stmts: readonly Stmt[], fallback: number): number {
  return stmts.length > 0 ? stmts[stmts.length - 1]!.span.end : fallback;
}

/** Is `t` the end of input (chevrotain's EOF, or the NEWLINE we synthesize where Go sees EOF)? */
function isEof(t: IToken): boolean {
  return t.tokenType === EOF || (t.tokenType === T.Newline && (t.payload as NewlinePayload | undefined)?.eof === true);
}

/** Tokens that can start an expression (a `test`). */
const EXPR_START: ReadonlySet<TokenType> = new Set([
  T.Identifier, T.Int, T.Float, T.Str, T.Bytes, T.LBrack, T.LBrace, T.LParen, T.Minus, T.Plus, T.Tilde,
  T.Not, T.Lambda,
]);

/** Go's terminatesExprList: tokens after which a trailing comma ends a list. */
const TERMINATES_EXPR_LIST: ReadonlySet<TokenType> = new Set([
  EOF, T.Newline, T.Eq, T.RBrace, T.RBrack, T.RParen, T.Semi,
]);

/** The resolver's description of an expression that cannot be assigned to (kept in step with it). */
function describeTarget(e: Expr): string {
  switch (e.kind) {
    case 'Literal': return 'literal';
    case 'CallExpr': return 'function call';
    case 'BinaryExpr': return 'binary expression';
    case 'UnaryExpr': return 'unary expression';
    case 'CondExpr': return 'conditional expression';
    case 'Comprehension': return 'comprehension';
    case 'LambdaExpr': return 'lambda expression';
    case 'DictExpr': return 'dict expression';
    case 'SliceExpr': return 'slice expression';
    default: return e.kind.replace(/Expr$/, '').toLowerCase() + ' expression';
  }
}

/** Error messages for the errors chevrotain detects itself, in go.starlark.net's wording. */
const errorMessages = {
  buildMismatchTokenMessage({ expected, actual }: { expected: TokenType; actual: IToken }): string {
    if (expected === T.Identifier) return 'not an identifier';
    return `got ${describeToken(actual)}, want ${describeTokenType(expected)}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }: { firstRedundant: IToken }): string {
    return `got ${describeToken(firstRedundant)}, want end of file`;
  },
  buildNoViableAltMessage({ actual, ruleName }: { actual: IToken[]; ruleName: string }): string {
    if (ruleName === 'param') return 'not an identifier';
    return `got ${describeToken(actual[0]!)}, want primary expression`;
  },
  buildEarlyExitMessage({ actual }: { actual: IToken[] }): string {
    return `got ${describeToken(actual[0]!)}, want primary expression`;
  },
};

// ---------------------------------------------------------------------------------------------
// Lazy lookahead

const MAX_LOOKAHEAD = 3;

/**
 * Chevrotain's LL(k) lookahead strategy, with each decision's lookahead function computed on first
 * use instead of during self-analysis. The functions are exactly chevrotain's; only their construction
 * (grammar path analysis, about half of the self-analysis time) is deferred, so a short script pays
 * only for the decisions it reaches.
 */
class LazyLookaheadStrategy implements ILookaheadStrategy {
  private readonly inner = new chevrotain.LLkLookaheadStrategy({ maxLookahead: MAX_LOOKAHEAD });

  validate(options: Parameters<ILookaheadStrategy['validate']>[0]): ILookaheadValidationError[] {
    return this.inner.validate(options);
  }

  initialize(options: { rules: Rule[] }): void {
    this.inner.initialize?.(options);
  }

  buildLookaheadForAlternation(
    options: Parameters<ILookaheadStrategy['buildLookaheadForAlternation']>[0],
  ): (orAlts?: IOrAlt<unknown>[]) => number | undefined {
    const inner = this.inner;
    let f: ((orAlts?: IOrAlt<unknown>[]) => number | undefined) | undefined;
    return function (this: unknown, orAlts?: IOrAlt<unknown>[]) {
      f ??= inner.buildLookaheadForAlternation(options);
      return f.call(this, orAlts);
    };
  }

  buildLookaheadForOptional(options: Parameters<ILookaheadStrategy['buildLookaheadForOptional']>[0]): () => boolean {
    const inner = this.inner;
    let f: (() => boolean) | undefined;
    return function (this: unknown) {
      f ??= inner.buildLookaheadForOptional(options);
      return f.call(this);
    };
  }
}

// ---------------------------------------------------------------------------------------------
// The grammar

/** Options for building a parser instance. */
export interface ParserBuildOptions {
  /** Run chevrotain's grammar validations during self-analysis (slower; for tests). @default false */
  readonly validate?: boolean;
}

class StarlarkParser extends chevrotain.EmbeddedActionsParser {
  private textLength = 0;
  /** Errors reported only if the parse succeeds (Go finds them in its resolver). */
  private deferred: { offset: number; message: string }[] = [];

  constructor(options: ParserBuildOptions = {}) {
    super(T.allTokens, {
      maxLookahead: MAX_LOOKAHEAD,
      // Validations need the eager analysis; production builds defer it.
      ...(options.validate ? {} : { lookaheadStrategy: new LazyLookaheadStrategy() }),
      recoveryEnabled: false,
      skipValidations: !options.validate,
      errorMessageProvider: errorMessages,
    });
    this.performSelfAnalysis();
  }

  /** Prepares for parsing `tokens` of a text of the given length. */
  begin(tokens: IToken[], textLength: number): void {
    this.input = tokens;
    this.textLength = textLength;
    this.deferred = [];
  }

  takeDeferred(): { offset: number; message: string }[] {
    return this.deferred;
  }

  /** Offset of the current lookahead token (end of text for EOF). */
  currentOffset(): number {
    return this.offsetOf(this.LA(1));
  }

  // --- helpers used inside ACTIONs -------------------------------------------------------------

  private offsetOf(t: IToken): number {
    return t.tokenType === EOF ? this.textLength : t.startOffset;
  }

  private fail(message: string, at?: number, trigger: IToken = this.LA(1)): never {
    throw new SyntaxFailure(at ?? this.offsetOf(trigger), message, trigger);
  }

  /** Go's parsePrimary error, for a token that cannot start an expression. */
  private failPrimary(t: IToken = this.LA(1)): never {
    this.fail(`got ${describeToken(t)}, want primary expression`, undefined, t);
  }

  private is(t: IToken, type: TokenType): boolean {
    return t.tokenType === type;
  }

  /**
   * After a trailing comma in an expression list (Go's parseExprs): the list must end here. Outside
   * parentheses (allowTrailing false) a trailing comma is an error.
   */
  private afterTrailingComma(comma: IToken, allowTrailing: boolean): void {
    const t = this.LA(1);
    if (TERMINATES_EXPR_LIST.has(t.tokenType)) {
      if (!allowTrailing) this.fail('unparenthesized tuple with trailing comma', comma.startOffset, t);
      return;
    }
    this.failPrimary(t);
  }

  /** Records an error if `e` cannot be assigned to (Go's resolver checks, reported after parsing). */
  private checkTarget(e: Expr, augmented: boolean): void {
    switch (e.kind) {
      case 'Ident':
      case 'IndexExpr':
      case 'DotExpr':
        return;
      case 'TupleExpr':
      case 'ListExpr': {
        const what = e.kind === 'TupleExpr' ? 'tuple' : 'list';
        // An empty target is valid, as in go.starlark.net: `() = ()` checks that the value is empty.
        if (augmented) {
          this.deferred.push({ offset: e.span.start, message: `can't use ${what} expression in augmented assignment` });
        }
        for (const x of e.elems) this.checkTarget(x, augmented);
        return;
      }
      case 'ParenExpr':
        this.checkTarget(e.x, augmented);
        return;
      default:
        this.deferred.push({ offset: e.span.start, message: `can't assign to ${describeTarget(e)}` });
    }
  }

  private ident(t: IToken): Ident {
    return { kind: 'Ident', name: t.image, span: tokSpan(t) };
  }

  private stringLit(t: IToken): StringLiteral {
    return { kind: 'Literal', type: 'string', value: (t.payload as StringPayload).value, raw: t.image, span: tokSpan(t) };
  }

  // --- files and statements --------------------------------------------------------------------

  /** file = {stmt | NEWLINE} EOF */
  public file = this.RULE('file', (): Stmt[] => {
    const stmts: Stmt[] = [];
    this.MANY(() => {
      this.OR([
        { ALT: () => { this.CONSUME(T.Newline); } },
        { ALT: () => { this.SUBRULE(this.stmt, { ARGS: [stmts] }); } },
      ]);
    });
    this.ACTION(() => {
      if (!this.is(this.LA(1), EOF)) this.failPrimary();
    });
    return stmts;
  });

  /** exprInput = expr [NEWLINE] EOF   (for parseExpr) */
  public exprInput = this.RULE('exprInput', (): Expr => {
    const e = this.SUBRULE(this.expr, { ARGS: [false] });
    this.OPTION(() => this.CONSUME(T.Newline));
    this.ACTION(() => {
      const t = this.LA(1);
      if (!this.is(t, EOF)) this.fail(`got ${describeToken(t)} after expression, want EOF`);
    });
    return e;
  });

  /** stmt = def_stmt | if_stmt | for_stmt | while_stmt | simple_stmt */
  private stmt = this.RULE('stmt', (out: Stmt[]): void => {
    this.OR([
      { ALT: () => { const s = this.SUBRULE(this.defStmt); this.ACTION(() => out.push(s)); } },
      { ALT: () => { const s = this.SUBRULE(this.ifStmt); this.ACTION(() => out.push(s)); } },
      { ALT: () => { const s = this.SUBRULE(this.forStmt); this.ACTION(() => out.push(s)); } },
      { ALT: () => { const s = this.SUBRULE(this.whileStmt); this.ACTION(() => out.push(s)); } },
      { ALT: () => { this.SUBRULE(this.simpleStmt, { ARGS: [out] }); } },
    ]);
  });

  /** def_stmt = {'@' test NEWLINE} DEF IDENT '(' params ')' ':' suite */
  private defStmt = this.RULE('defStmt', (): DefStmt => {
    const decorators: Expr[] = [];
    let first: IToken | undefined;
    this.MANY(() => {
      const at = this.CONSUME(T.At);
      const d = this.SUBRULE(this.test);
      this.CONSUME(T.Newline);
      this.ACTION(() => {
        first ??= at;
        decorators.push(d);
      });
    });
    const def = this.CONSUME(T.Def);
    const name = this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    const params = this.SUBRULE(this.params, { ARGS: [T.RParen] });
    this.CONSUME(T.RParen);
    this.CONSUME(T.Colon);
    const body = this.SUBRULE(this.suite);
    return this.ACTION(() => ({
      kind: 'DefStmt',
      name: this.ident(name),
      params,
      body,
      decorators,
      defPos: def.startOffset,
      span: { start: (first ?? def).startOffset, end: stmtsEnd(body, tokEnd(def)) },
    }));
  });

  /**
   * params = [param {',' param} [',']]
   *
   * `closer` is the token that follows: ')' for def, ':' for lambda.
   */
  private params = this.RULE('params', (closer: TokenType): Param[] => {
    const ps: Param[] = [];
    this.OPTION(() => {
      const p = this.SUBRULE(this.param);
      this.ACTION(() => ps.push(p));
      this.MANY(() => {
        this.CONSUME(T.Comma);
        const q = this.SUBRULE2(this.param);
        this.ACTION(() => ps.push(q));
      });
      this.OPTION2(() => this.CONSUME2(T.Comma));
    });
    this.ACTION(() => {
      // Go's parseParams loop: `for tok != ')' && tok != ':' && tok != EOF { [consume ','] param }`.
      const t = this.LA(1);
      const prev = this.LA(0);
      if (isEof(t) || this.is(t, T.RParen) || this.is(t, T.Colon)) {
        // A lambda's parameter list may not end with a comma.
        if (closer === T.Colon && this.is(t, T.Colon) && this.is(prev, T.Comma)) this.fail('not an identifier');
        return; // consume(closer) reports anything else
      }
      if (ps.length === 0 || this.is(prev, T.Comma)) this.fail('not an identifier');
      this.fail(`got ${describeToken(t)}, want ','`);
    });
    return ps;
  });

  /** param = IDENT ['=' test] | '*' [IDENT] | '**' IDENT */
  private param = this.RULE('param', (): Param => {
    return this.OR([
      {
        ALT: () => {
          const star = this.CONSUME(T.Star);
          const name = this.OPTION(() => this.CONSUME(T.Identifier));
          return this.ACTION((): Param =>
            name
              ? { kind: 'StarParam', name: this.ident(name), span: { start: star.startOffset, end: tokEnd(name) } }
              : { kind: 'StarParam', span: tokSpan(star) },
          );
        },
      },
      {
        ALT: () => {
          const star = this.CONSUME(T.StarStar);
          const name = this.CONSUME2(T.Identifier);
          return this.ACTION((): Param => ({
            kind: 'StarStarParam',
            name: this.ident(name),
            span: { start: star.startOffset, end: tokEnd(name) },
          }));
        },
      },
      {
        ALT: () => {
          const name = this.CONSUME3(T.Identifier);
          const dflt = this.OPTION2(() => {
            this.CONSUME(T.Eq);
            return this.SUBRULE(this.test);
          });
          return this.ACTION((): Param =>
            dflt
              ? { kind: 'Param', name: this.ident(name), default: dflt, span: { start: name.startOffset, end: dflt.span.end } }
              : { kind: 'Param', name: this.ident(name), span: tokSpan(name) },
          );
        },
      },
    ]);
  });

  /** if_stmt = IF test ':' suite {ELIF test ':' suite} [ELSE ':' suite] */
  private ifStmt = this.RULE('ifStmt', (): IfStmt => {
    const ifTok = this.CONSUME(T.If);
    const cond = this.SUBRULE(this.test);
    this.CONSUME(T.Colon);
    const then = this.SUBRULE(this.suite);
    const elifs: { tok: IToken; cond: Expr; then: Stmt[] }[] = [];
    this.MANY(() => {
      const tok = this.CONSUME(T.Elif);
      const c = this.SUBRULE2(this.test);
      this.CONSUME2(T.Colon);
      const b = this.SUBRULE2(this.suite);
      this.ACTION(() => elifs.push({ tok, cond: c, then: b }));
    });
    const els = this.OPTION(() => {
      this.CONSUME(T.Else);
      this.CONSUME3(T.Colon);
      return this.SUBRULE3(this.suite);
    });
    return this.ACTION(() => {
      let tail: Stmt[] = els ?? [];
      for (let i = elifs.length - 1; i >= 0; i--) {
        const e = elifs[i]!;
        const node: IfStmt = {
          kind: 'IfStmt',
          cond: e.cond,
          then: e.then,
          els: tail,
          elif: true,
          span: { start: e.tok.startOffset, end: stmtsEnd(tail, stmtsEnd(e.then, tokEnd(e.tok))) },
        };
        tail = [node];
      }
      return {
        kind: 'IfStmt',
        cond,
        then,
        els: tail,
        elif: false,
        span: { start: ifTok.startOffset, end: stmtsEnd(tail, stmtsEnd(then, tokEnd(ifTok))) },
      };
    });
  });

  /** for_stmt = FOR loop_variables IN expr ':' suite */
  private forStmt = this.RULE('forStmt', (): ForStmt => {
    const forTok = this.CONSUME(T.For);
    const vars = this.SUBRULE(this.loopVariables);
    this.CONSUME(T.In);
    const x = this.SUBRULE(this.expr, { ARGS: [false] });
    this.CONSUME(T.Colon);
    const body = this.SUBRULE(this.suite);
    return this.ACTION(() => {
      this.checkTarget(vars, false);
      return {
        kind: 'ForStmt',
        vars,
        x,
        body,
        forPos: forTok.startOffset,
        span: { start: forTok.startOffset, end: stmtsEnd(body, x.span.end) },
      };
    });
  });

  /** while_stmt = WHILE test ':' suite */
  private whileStmt = this.RULE('whileStmt', (): WhileStmt => {
    const w = this.CONSUME(T.While);
    const cond = this.SUBRULE(this.test);
    this.CONSUME(T.Colon);
    const body = this.SUBRULE(this.suite);
    return this.ACTION(() => ({
      kind: 'WhileStmt',
      cond,
      body,
      span: { start: w.startOffset, end: stmtsEnd(body, cond.span.end) },
    }));
  });

  /** loop_variables = primary_with_suffix {',' primary_with_suffix} */
  private loopVariables = this.RULE('loopVariables', (): Expr => {
    const first = this.SUBRULE(this.primaryWithSuffix);
    const rest: Expr[] = [];
    this.MANY(() => {
      this.CONSUME(T.Comma);
      const v = this.SUBRULE2(this.primaryWithSuffix);
      this.ACTION(() => rest.push(v));
    });
    return this.ACTION((): Expr => {
      if (rest.length === 0) return first;
      const elems = [first, ...rest];
      return { kind: 'TupleExpr', elems, span: { start: first.span.start, end: rest[rest.length - 1]!.span.end } };
    });
  });

  /** suite = simple_stmt | NEWLINE INDENT {stmt} OUTDENT */
  private suite = this.RULE('suite', (): Stmt[] => {
    const stmts: Stmt[] = [];
    this.ACTION(() => {
      // Where Go sees EOF (not NEWLINE) it parses a simple statement.
      if (isEof(this.LA(1))) this.failPrimary();
    });
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Newline);
          this.CONSUME(T.Indent);
          this.MANY(() => this.SUBRULE(this.stmt, { ARGS: [stmts] }));
          this.ACTION(() => {
            if (!this.is(this.LA(1), T.Outdent)) this.failPrimary();
          });
          this.CONSUME(T.Outdent);
        },
      },
      { ALT: () => this.SUBRULE(this.simpleStmt, { ARGS: [stmts] }) },
    ]);
    return stmts;
  });

  /** simple_stmt = small_stmt {';' small_stmt} [';'] NEWLINE */
  private simpleStmt = this.RULE('simpleStmt', (out: Stmt[]): void => {
    const s = this.SUBRULE(this.smallStmt);
    this.ACTION(() => out.push(s));
    this.MANY(() => {
      this.CONSUME(T.Semi);
      const t = this.SUBRULE2(this.smallStmt);
      this.ACTION(() => out.push(t));
    });
    this.OPTION(() => {
      this.CONSUME2(T.Semi);
      this.ACTION(() => {
        if (!this.is(this.LA(1), T.Newline)) this.failPrimary();
      });
    });
    this.CONSUME(T.Newline);
  });

  /**
   * small_stmt = RETURN [expr] | BREAK | CONTINUE | PASS | load_stmt
   *            | expr [('=' | '+=' | ... | '>>=') expr]
   */
  private smallStmt = this.RULE('smallStmt', (): Stmt => {
    return this.OR([
      {
        ALT: () => {
          const ret = this.CONSUME(T.Return);
          this.ACTION(() => {
            const t = this.LA(1);
            if (!this.is(t, T.Newline) && !this.is(t, T.Semi) && !this.is(t, EOF) && !EXPR_START.has(t.tokenType)) {
              this.failPrimary(t);
            }
          });
          const result = this.OPTION(() => this.SUBRULE(this.expr, { ARGS: [false] }));
          return this.ACTION((): ReturnStmt =>
            result
              ? { kind: 'ReturnStmt', result, span: { start: ret.startOffset, end: result.span.end } }
              : { kind: 'ReturnStmt', span: tokSpan(ret) },
          );
        },
      },
      {
        ALT: () => {
          const t = this.OR2([
            { ALT: () => this.CONSUME(T.Break) },
            { ALT: () => this.CONSUME(T.Continue) },
            { ALT: () => this.CONSUME(T.Pass) },
          ]);
          return this.ACTION((): Stmt => ({
            kind: 'BranchStmt',
            token: t.image as 'break' | 'continue' | 'pass',
            span: tokSpan(t),
          }));
        },
      },
      { ALT: () => this.SUBRULE(this.loadStmt) },
      {
        ALT: () => {
          const lhs = this.SUBRULE2(this.expr, { ARGS: [false] });
          const assign = this.OPTION2(() => {
            const op = this.CONSUME(T.AssignOp);
            const rhs = this.SUBRULE3(this.expr, { ARGS: [false] });
            return { op, rhs };
          });
          return this.ACTION((): Stmt => {
            if (!assign) return { kind: 'ExprStmt', x: lhs, span: lhs.span };
            const op = assign.op.image as AssignOp;
            const augmented = op !== '=';
            this.checkTarget(lhs, augmented);
            // An augmented target is an Ident, IndexExpr or DotExpr (ast.ts); drop redundant parens.
            let target = lhs;
            if (augmented) while (target.kind === 'ParenExpr') target = target.x;
            const s: AssignStmt = {
              kind: 'AssignStmt',
              op,
              lhs: target,
              rhs: assign.rhs,
              opPos: assign.op.startOffset,
              span: { start: lhs.span.start, end: assign.rhs.span.end },
            };
            return s;
          });
        },
      },
    ]);
  });

  /** load_stmt = LOAD '(' STRING {',' (STRING | IDENT '=' STRING)} [','] ')' */
  private loadStmt = this.RULE('loadStmt', (): LoadStmt => {
    const load = this.CONSUME(T.Load);
    const lparen = this.CONSUME(T.LParen);
    this.ACTION(() => {
      if (!this.is(this.LA(1), T.Str)) this.fail('first operand of load statement must be a string literal');
    });
    const module = this.CONSUME(T.Str);
    const bindings: { local: Ident; remote: StringLiteral }[] = [];
    this.MANY(() => {
      this.CONSUME(T.Comma);
      const b = this.SUBRULE(this.loadOperand);
      this.ACTION(() => bindings.push(b));
    });
    this.OPTION(() => this.CONSUME2(T.Comma));
    this.ACTION(() => {
      const t = this.LA(1);
      if (this.is(t, T.RParen) || isEof(t)) return;
      if (this.is(this.LA(0), T.Comma)) {
        this.fail(`load operand must be "name" or localname="name" (got ${describeToken(t)})`);
      }
      this.fail(`got ${describeToken(t)}, want ','`);
    });
    const rparen = this.CONSUME(T.RParen);
    return this.ACTION(() => {
      if (bindings.length === 0) this.fail('load statement must import at least 1 symbol', lparen.startOffset, rparen);
      return {
        kind: 'LoadStmt',
        module: this.stringLit(module),
        bindings,
        span: { start: load.startOffset, end: tokEnd(rparen) },
      };
    });
  });

  /** load_operand = STRING | IDENT '=' STRING */
  private loadOperand = this.RULE('loadOperand', (): { local: Ident; remote: StringLiteral } => {
    return this.OR([
      {
        ALT: () => {
          const s = this.CONSUME(T.Str);
          return this.ACTION(() => {
            const remote = this.stringLit(s);
            // The local name is the string's text, positioned inside the quotes.
            const quote = s.image.search(/["']/);
            const q = s.image.startsWith('"""', quote) || s.image.startsWith("'''", quote) ? 3 : 1;
            const local: Ident = {
              kind: 'Ident',
              name: utf8Decode(remote.value),
              span: { start: s.startOffset + quote + q, end: tokEnd(s) - q },
            };
            return { local, remote };
          });
        },
      },
      {
        ALT: () => {
          const id = this.CONSUME(T.Identifier);
          this.ACTION(() => {
            if (!this.is(this.LA(1), T.Eq)) {
              const n = id.image;
              this.fail(`load operand must be "${n}" or ${n}="originalname" (want '=' after ${n})`);
            }
          });
          this.CONSUME(T.Eq);
          this.ACTION(() => {
            if (!this.is(this.LA(1), T.Str)) {
              this.fail(`original name of loaded symbol must be quoted: ${id.image}="originalname"`);
            }
          });
          const s = this.CONSUME2(T.Str);
          return this.ACTION(() => ({ local: this.ident(id), remote: this.stringLit(s) }));
        },
      },
    ]);
  });

  // --- expressions -----------------------------------------------------------------------------

  /**
   * expr = test {',' test} [',']
   *
   * A comma-separated list is a tuple. A trailing comma is allowed only within parentheses
   * (`inParens`), as in Go.
   */
  private expr = this.RULE('expr', (inParens: boolean): Expr => {
    const first = this.SUBRULE(this.test);
    const rest: Expr[] = [];
    this.MANY(() => {
      this.CONSUME(T.Comma);
      const e = this.SUBRULE2(this.test);
      this.ACTION(() => rest.push(e));
    });
    const trailing = this.OPTION(() => {
      const comma = this.CONSUME2(T.Comma);
      this.ACTION(() => this.afterTrailingComma(comma, inParens));
      return comma;
    });
    return this.ACTION((): Expr => {
      if (rest.length === 0 && !trailing) return first;
      const elems = [first, ...rest];
      const end = trailing ? tokEnd(trailing) : elems[elems.length - 1]!.span.end;
      return { kind: 'TupleExpr', elems, span: { start: first.span.start, end } };
    });
  });

  /** test = lambda | or_test [IF or_test ELSE test] */
  private test = this.RULE('test', (): Expr => {
    return this.OR([
      { ALT: () => this.SUBRULE(this.lambdaExpr) },
      {
        ALT: () => {
          const x = this.SUBRULE(this.orTest);
          const cond = this.OPTION(() => {
            const ifTok = this.CONSUME(T.If);
            const c = this.SUBRULE2(this.orTest);
            this.ACTION(() => {
              if (!this.is(this.LA(1), T.Else)) this.fail('conditional expression without else clause', ifTok.startOffset);
            });
            this.CONSUME(T.Else);
            const els = this.SUBRULE(this.test);
            return { c, els };
          });
          return this.ACTION((): Expr =>
            cond
              ? { kind: 'CondExpr', cond: cond.c, then: x, els: cond.els, span: { start: x.span.start, end: cond.els.span.end } }
              : x,
          );
        },
      },
    ]);
  });

  /** test_no_cond = lambda_no_cond | or_test   (a test without a trailing conditional) */
  private testNoCond = this.RULE('testNoCond', (): Expr => {
    return this.OR([
      { ALT: () => this.SUBRULE(this.lambdaNoCond) },
      { ALT: () => this.SUBRULE(this.orTest) },
    ]);
  });

  /** lambda = LAMBDA params ':' test */
  private lambdaExpr = this.RULE('lambdaExpr', (): LambdaExpr => {
    const lambda = this.CONSUME(T.Lambda);
    const params = this.SUBRULE(this.params, { ARGS: [T.Colon] });
    this.CONSUME(T.Colon);
    const body = this.SUBRULE(this.test);
    return this.ACTION(() => this.lambdaNode(lambda, params, body));
  });

  /** lambda_no_cond = LAMBDA params ':' test_no_cond   (in a comprehension's `if` clause) */
  private lambdaNoCond = this.RULE('lambdaNoCond', (): LambdaExpr => {
    const lambda = this.CONSUME(T.Lambda);
    const params = this.SUBRULE(this.params, { ARGS: [T.Colon] });
    this.CONSUME(T.Colon);
    const body = this.SUBRULE(this.testNoCond);
    return this.ACTION(() => this.lambdaNode(lambda, params, body));
  });

  private lambdaNode(lambda: IToken, params: Param[], body: Expr): LambdaExpr {
    return {
      kind: 'LambdaExpr',
      params,
      body,
      lambdaPos: lambda.startOffset,
      span: { start: lambda.startOffset, end: body.span.end },
    };
  }

  private binary(op: BinaryOp, opTok: IToken, x: Expr, y: Expr): BinaryExpr {
    return { kind: 'BinaryExpr', op, x, y, opPos: opTok.startOffset, span: { start: x.span.start, end: y.span.end } };
  }

  /** or_test = and_test {OR and_test} */
  private orTest = this.RULE('orTest', (): Expr => {
    let x = this.SUBRULE(this.andTest);
    this.MANY(() => {
      const op = this.CONSUME(T.Or);
      const y = this.SUBRULE2(this.andTest);
      this.ACTION(() => { x = this.binary('or', op, x, y); });
    });
    return x;
  });

  /** and_test = not_test {AND not_test} */
  private andTest = this.RULE('andTest', (): Expr => {
    let x = this.SUBRULE(this.notTest);
    this.MANY(() => {
      const op = this.CONSUME(T.And);
      const y = this.SUBRULE2(this.notTest);
      this.ACTION(() => { x = this.binary('and', op, x, y); });
    });
    return x;
  });

  /** not_test = NOT not_test | comparison */
  private notTest = this.RULE('notTest', (): Expr => {
    return this.OR([
      {
        ALT: () => {
          const op = this.CONSUME(T.Not);
          const x = this.SUBRULE(this.notTest);
          return this.ACTION((): UnaryExpr => ({ kind: 'UnaryExpr', op: 'not', x, span: { start: op.startOffset, end: x.span.end } }));
        },
      },
      { ALT: () => this.SUBRULE(this.comparison) },
    ]);
  });

  /**
   * comparison = bit_or [comp_op bit_or]
   * comp_op = '==' | '!=' | '<' | '>' | '<=' | '>=' | IN | NOT IN
   *
   * Comparisons do not associate: `a < b < c` is an error.
   */
  private comparison = this.RULE('comparison', (): Expr => {
    let x = this.SUBRULE(this.bitOr);
    let prevOp: BinaryOp | undefined;
    this.MANY(() => {
      // (No destructuring: during chevrotain's recording phase OR returns a placeholder object.)
      const o = this.OR([
        { ALT: () => { const tok = this.CONSUME(T.CompareOp); return { tok, op: tok.image as BinaryOp }; } },
        { ALT: () => ({ tok: this.CONSUME(T.In), op: 'in' as BinaryOp }) },
        { ALT: () => { const tok = this.CONSUME(T.Not); this.CONSUME2(T.In); return { tok, op: 'not in' as BinaryOp }; } },
      ]);
      this.ACTION(() => {
        if (prevOp !== undefined) this.fail(`${prevOp} does not associate with ${o.op} (use parens)`, o.tok.startOffset);
        prevOp = o.op;
      });
      const y = this.SUBRULE2(this.bitOr);
      this.ACTION(() => { x = this.binary(o.op, o.tok, x, y); });
    });
    return x;
  });

  /** bit_or = bit_xor {'|' bit_xor} */
  private bitOr = this.RULE('bitOr', (): Expr => {
    let x = this.SUBRULE(this.bitXor);
    this.MANY(() => {
      const op = this.CONSUME(T.Pipe);
      const y = this.SUBRULE2(this.bitXor);
      this.ACTION(() => { x = this.binary('|', op, x, y); });
    });
    return x;
  });

  /** bit_xor = bit_and {'^' bit_and} */
  private bitXor = this.RULE('bitXor', (): Expr => {
    let x = this.SUBRULE(this.bitAnd);
    this.MANY(() => {
      const op = this.CONSUME(T.Caret);
      const y = this.SUBRULE2(this.bitAnd);
      this.ACTION(() => { x = this.binary('^', op, x, y); });
    });
    return x;
  });

  /** bit_and = shift {'&' shift} */
  private bitAnd = this.RULE('bitAnd', (): Expr => {
    let x = this.SUBRULE(this.shift);
    this.MANY(() => {
      const op = this.CONSUME(T.Amp);
      const y = this.SUBRULE2(this.shift);
      this.ACTION(() => { x = this.binary('&', op, x, y); });
    });
    return x;
  });

  /** shift = arith {('<<' | '>>') arith} */
  private shift = this.RULE('shift', (): Expr => {
    let x = this.SUBRULE(this.arith);
    this.MANY(() => {
      const op = this.CONSUME(T.ShiftOp);
      const y = this.SUBRULE2(this.arith);
      this.ACTION(() => { x = this.binary(op.image as BinaryOp, op, x, y); });
    });
    return x;
  });

  /** arith = term {('+' | '-') term} */
  private arith = this.RULE('arith', (): Expr => {
    let x = this.SUBRULE(this.term);
    this.MANY(() => {
      const op = this.CONSUME(T.AddOp);
      const y = this.SUBRULE2(this.term);
      this.ACTION(() => { x = this.binary(op.image as BinaryOp, op, x, y); });
    });
    return x;
  });

  /** term = primary_with_suffix {('*' | '/' | '//' | '%') primary_with_suffix} */
  private term = this.RULE('term', (): Expr => {
    let x = this.SUBRULE(this.primaryWithSuffix);
    this.MANY(() => {
      const op = this.CONSUME(T.MulOp);
      const y = this.SUBRULE2(this.primaryWithSuffix);
      this.ACTION(() => { x = this.binary(op.image as BinaryOp, op, x, y); });
    });
    return x;
  });

  /** primary_with_suffix = primary {'.' IDENT | call_suffix | slice_suffix} */
  private primaryWithSuffix = this.RULE('primaryWithSuffix', (): Expr => {
    let x = this.SUBRULE(this.primary);
    this.MANY(() => {
      this.OR([
        {
          ALT: () => {
            const dot = this.CONSUME(T.Dot);
            const name = this.CONSUME(T.Identifier);
            this.ACTION(() => {
              x = { kind: 'DotExpr', x, name: this.ident(name), dot: dot.startOffset, span: { start: x.span.start, end: tokEnd(name) } };
            });
          },
        },
        {
          ALT: () => {
            const c = this.SUBRULE(this.callSuffix, { ARGS: [x] });
            this.ACTION(() => { x = c; });
          },
        },
        {
          ALT: () => {
            const s = this.SUBRULE(this.sliceSuffix, { ARGS: [x] });
            this.ACTION(() => { x = s; });
          },
        },
      ]);
    });
    return x;
  });

  /** call_suffix = '(' [arg {',' arg} [',']] ')' */
  private callSuffix = this.RULE('callSuffix', (fn: Expr): CallExpr => {
    const lparen = this.CONSUME(T.LParen);
    const args: Arg[] = [];
    this.OPTION(() => {
      const a = this.SUBRULE(this.arg);
      this.ACTION(() => args.push(a));
      this.MANY(() => {
        this.CONSUME(T.Comma);
        const b = this.SUBRULE2(this.arg);
        this.ACTION(() => args.push(b));
      });
      this.OPTION2(() => this.CONSUME2(T.Comma));
    });
    this.ACTION(() => {
      // Go's parseArgs loop: `for tok != ')' && tok != EOF { [consume ','] arg }`.
      const t = this.LA(1);
      if (this.is(t, T.RParen) || isEof(t)) return;
      const prev = this.LA(0);
      const last = args[args.length - 1];
      if (this.is(t, T.Eq) && last?.kind === 'PosArg' && !this.is(prev, T.Comma)) {
        this.fail('keyword argument must have form name=expr');
      }
      if (this.is(prev, T.LParen) || this.is(prev, T.Comma)) this.failPrimary(t);
      this.fail(`got ${describeToken(t)}, want ','`);
    });
    const rparen = this.CONSUME(T.RParen);
    return this.ACTION(() => ({
      kind: 'CallExpr',
      fn,
      args,
      lparen: lparen.startOffset,
      span: { start: fn.span.start, end: tokEnd(rparen) },
    }));
  });

  /** arg = '*' test | '**' test | IDENT '=' test | test */
  private arg = this.RULE('arg', (): Arg => {
    return this.OR([
      {
        ALT: () => {
          const star = this.CONSUME(T.Star);
          const value = this.SUBRULE(this.test);
          return this.ACTION((): Arg => ({ kind: 'StarArg', value, span: { start: star.startOffset, end: value.span.end } }));
        },
      },
      {
        ALT: () => {
          const star = this.CONSUME(T.StarStar);
          const value = this.SUBRULE2(this.test);
          return this.ACTION((): Arg => ({ kind: 'StarStarArg', value, span: { start: star.startOffset, end: value.span.end } }));
        },
      },
      {
        ALT: () => {
          const name = this.CONSUME(T.Identifier);
          this.CONSUME(T.Eq);
          const value = this.SUBRULE3(this.test);
          return this.ACTION((): Arg => ({
            kind: 'KwArg',
            name: this.ident(name),
            value,
            span: { start: name.startOffset, end: value.span.end },
          }));
        },
      },
      {
        ALT: () => {
          const value = this.SUBRULE4(this.test);
          return this.ACTION((): Arg => ({ kind: 'PosArg', value, span: value.span }));
        },
      },
    ]);
  });

  /**
   * slice_suffix = '[' expr ']'
   *              | '[' [expr] ':' [test] [':' [test]] ']'
   */
  private sliceSuffix = this.RULE('sliceSuffix', (x: Expr): Expr => {
    const lbrack = this.CONSUME(T.LBrack);
    let lo: Expr | undefined;
    let tail: { hi?: Expr; step?: Expr } | undefined;
    this.OR([
      {
        ALT: () => {
          lo = this.SUBRULE(this.expr, { ARGS: [false] });
          tail = this.OPTION(() => this.SUBRULE(this.sliceTail));
        },
      },
      { ALT: () => { tail = this.SUBRULE2(this.sliceTail); } },
    ]);
    const rbrack = this.CONSUME(T.RBrack);
    return this.ACTION((): Expr => {
      const span = { start: x.span.start, end: tokEnd(rbrack) };
      if (!tail) return { kind: 'IndexExpr', x, index: lo!, lbrack: lbrack.startOffset, span };
      return {
        kind: 'SliceExpr',
        x,
        ...(lo ? { lo } : {}),
        ...(tail.hi ? { hi: tail.hi } : {}),
        ...(tail.step ? { step: tail.step } : {}),
        lbrack: lbrack.startOffset,
        span,
      };
    });
  });

  /** slice_tail = ':' [test] [':' [test]] */
  private sliceTail = this.RULE('sliceTail', (): { hi?: Expr; step?: Expr } => {
    this.CONSUME(T.Colon);
    this.ACTION(() => {
      const t = this.LA(1);
      if (!this.is(t, T.Colon) && !this.is(t, T.RBrack) && !EXPR_START.has(t.tokenType)) this.failPrimary(t);
    });
    const hi = this.OPTION(() => this.SUBRULE(this.test));
    const step = this.OPTION2(() => {
      this.CONSUME2(T.Colon);
      this.ACTION(() => {
        const t = this.LA(1);
        if (!this.is(t, T.RBrack) && !EXPR_START.has(t.tokenType)) this.failPrimary(t);
      });
      return this.OPTION3(() => this.SUBRULE2(this.test));
    });
    return this.ACTION(() => ({ ...(hi ? { hi } : {}), ...(step ? { step } : {}) }));
  });

  /**
   * primary = IDENT | INT | FLOAT | STRING | BYTES
   *         | list | dict | paren
   *         | ('-' | '+' | '~') primary_with_suffix
   */
  private primary = this.RULE('primary', (): Expr => {
    return this.OR([
      { ALT: () => { const t = this.CONSUME(T.Identifier); return this.ACTION(() => this.ident(t)); } },
      {
        ALT: () => {
          const t = this.CONSUME(T.Int);
          return this.ACTION((): IntLiteral => ({
            kind: 'Literal', type: 'int', value: (t.payload as NumberPayload).value, raw: t.image, span: tokSpan(t),
          }));
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(T.Float);
          return this.ACTION((): FloatLiteral => ({
            kind: 'Literal', type: 'float', value: (t.payload as NumberPayload).value as number, raw: t.image, span: tokSpan(t),
          }));
        },
      },
      { ALT: () => { const t = this.CONSUME(T.Str); return this.ACTION(() => this.stringLit(t)); } },
      {
        ALT: () => {
          const t = this.CONSUME(T.Bytes);
          return this.ACTION((): BytesLiteral => ({
            kind: 'Literal', type: 'bytes', value: (t.payload as StringPayload).value, raw: t.image, span: tokSpan(t),
          }));
        },
      },
      { ALT: () => this.SUBRULE(this.list) },
      { ALT: () => this.SUBRULE(this.dict) },
      { ALT: () => this.SUBRULE(this.paren) },
      {
        ALT: () => {
          const op = this.OR2([
            { ALT: () => this.CONSUME(T.Minus) },
            { ALT: () => this.CONSUME(T.Plus) },
            { ALT: () => this.CONSUME(T.Tilde) },
          ]);
          const x = this.SUBRULE(this.primaryWithSuffix);
          return this.ACTION((): UnaryExpr => ({
            kind: 'UnaryExpr',
            op: op.image as UnaryOp,
            x,
            span: { start: op.startOffset, end: x.span.end },
          }));
        },
      },
    ]);
  });

  /** paren = '(' ')' | '(' expr ')'   (a trailing comma is allowed inside) */
  private paren = this.RULE('paren', (): Expr => {
    const lparen = this.CONSUME(T.LParen);
    return this.OR([
      {
        ALT: () => {
          const rparen = this.CONSUME(T.RParen);
          return this.ACTION((): Expr => ({ kind: 'TupleExpr', elems: [], span: { start: lparen.startOffset, end: tokEnd(rparen) } }));
        },
      },
      {
        ALT: () => {
          const x = this.SUBRULE(this.expr, { ARGS: [true] });
          const rparen = this.CONSUME2(T.RParen);
          return this.ACTION((): Expr => ({ kind: 'ParenExpr', x, span: { start: lparen.startOffset, end: tokEnd(rparen) } }));
        },
      },
    ]);
  });

  /**
   * list = '[' ']'
   *      | '[' test {',' test} [','] ']'
   *      | '[' test comp_clauses ']'
   */
  private list = this.RULE('list', (): Expr => {
    const lbrack = this.CONSUME(T.LBrack);
    return this.OR([
      {
        ALT: () => {
          const rbrack = this.CONSUME(T.RBrack);
          return this.ACTION((): Expr => ({ kind: 'ListExpr', elems: [], span: { start: lbrack.startOffset, end: tokEnd(rbrack) } }));
        },
      },
      {
        ALT: () => {
          const first = this.SUBRULE(this.test);
          const clauses = this.OPTION(() => this.SUBRULE(this.compClauses, { ARGS: [T.RBrack] }));
          const rest: Expr[] = [];
          this.MANY(() => {
            this.CONSUME(T.Comma);
            const e = this.SUBRULE2(this.test);
            this.ACTION(() => rest.push(e));
          });
          this.OPTION2(() => {
            const comma = this.CONSUME2(T.Comma);
            this.ACTION(() => this.afterTrailingComma(comma, true));
          });
          const rbrack = this.CONSUME2(T.RBrack);
          return this.ACTION((): Expr => {
            const span = { start: lbrack.startOffset, end: tokEnd(rbrack) };
            if (clauses) return { kind: 'Comprehension', curly: false, body: first, clauses, span } satisfies Comprehension;
            return { kind: 'ListExpr', elems: [first, ...rest], span };
          });
        },
      },
    ]);
  });

  /**
   * dict = '{' '}'
   *      | '{' entry {',' entry} [','] '}'
   *      | '{' entry comp_clauses '}'
   */
  private dict = this.RULE('dict', (): Expr => {
    const lbrace = this.CONSUME(T.LBrace);
    return this.OR([
      {
        ALT: () => {
          const rbrace = this.CONSUME(T.RBrace);
          return this.ACTION((): Expr => ({ kind: 'DictExpr', entries: [], span: { start: lbrace.startOffset, end: tokEnd(rbrace) } }));
        },
      },
      {
        ALT: () => {
          const first = this.SUBRULE(this.dictEntry);
          const clauses = this.OPTION(() => this.SUBRULE(this.compClauses, { ARGS: [T.RBrace] }));
          const rest: DictEntry[] = [];
          this.MANY(() => {
            this.CONSUME(T.Comma);
            const e = this.SUBRULE2(this.dictEntry);
            this.ACTION(() => rest.push(e));
          });
          this.OPTION2(() => {
            this.CONSUME2(T.Comma);
            this.ACTION(() => {
              if (!this.is(this.LA(1), T.RBrace)) this.failPrimary();
            });
          });
          const rbrace = this.CONSUME2(T.RBrace);
          return this.ACTION((): Expr => {
            const span = { start: lbrace.startOffset, end: tokEnd(rbrace) };
            if (clauses) return { kind: 'Comprehension', curly: true, body: first, clauses, span } satisfies Comprehension;
            return { kind: 'DictExpr', entries: [first, ...rest], span };
          });
        },
      },
    ]);
  });

  /** entry = test ':' test */
  private dictEntry = this.RULE('dictEntry', (): DictEntry => {
    const key = this.SUBRULE(this.test);
    const colon = this.CONSUME(T.Colon);
    const value = this.SUBRULE2(this.test);
    return this.ACTION(() => ({
      kind: 'DictEntry',
      key,
      value,
      colon: colon.startOffset,
      span: { start: key.span.start, end: value.span.end },
    }));
  });

  /**
   * comp_clauses = for_clause {for_clause | if_clause}
   * for_clause = FOR loop_variables IN or_test
   * if_clause = IF test_no_cond
   *
   * `end` is the closing bracket, which must follow.
   */
  private compClauses = this.RULE('compClauses', (end: TokenType): ComprehensionClause[] => {
    const clauses: ComprehensionClause[] = [];
    const f = this.SUBRULE(this.forClause);
    this.ACTION(() => clauses.push(f));
    this.MANY(() => {
      this.OR([
        { ALT: () => { const c = this.SUBRULE2(this.forClause); this.ACTION(() => clauses.push(c)); } },
        {
          ALT: () => {
            const ifTok = this.CONSUME(T.If);
            const cond = this.SUBRULE(this.testNoCond);
            this.ACTION(() => clauses.push({ kind: 'IfClause', cond, span: { start: ifTok.startOffset, end: cond.span.end } }));
          },
        },
      ]);
    });
    this.ACTION(() => {
      const t = this.LA(1);
      if (!this.is(t, end)) this.fail(`got ${describeToken(t)}, want ${describeTokenType(end)}, for, or if`);
    });
    return clauses;
  });

  private forClause = this.RULE('forClause', (): ComprehensionClause => {
    const forTok = this.CONSUME(T.For);
    const vars = this.SUBRULE(this.loopVariables);
    this.CONSUME(T.In);
    // Following Python 3, the operand of `in` is not a conditional, a lambda, or an unparenthesized tuple.
    const x = this.SUBRULE(this.orTest);
    return this.ACTION((): ComprehensionClause => {
      this.checkTarget(vars, false);
      return { kind: 'ForClause', vars, x, forPos: forTok.startOffset, span: { start: forTok.startOffset, end: x.span.end } };
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Public API

let instance: StarlarkParser | undefined;

/** A parser built by createParser. */
export interface StarlarkParserInstance {
  parseFile(source: Source): File;
  parseExpr(source: Source): Expr;
}

/**
 * Builds a separate parser instance (running chevrotain's self-analysis again). The public functions
 * share one lazily-built instance; this is for tests (grammar validation, comparing the lazy and eager
 * lookahead strategies) and start-up measurements.
 * @internal
 */
export function createParser(options: ParserBuildOptions = {}): StarlarkParserInstance {
  const p = new StarlarkParser(options);
  return {
    parseFile: (source) => fileNode(source, run(source, p, (q) => q.file())),
    parseExpr: (source) => run(source, p, (q) => q.exprInput()),
  };
}

function getParser(): StarlarkParser {
  return (instance ??= new StarlarkParser());
}

type Failure = { offset: number; message: string; trigger: IToken | undefined };

function run<R>(source: Source, which: StarlarkParser | undefined, start: (p: StarlarkParser) => R): R {
  const diag = (offset: number, message: string): Diagnostic => ({ message, source, offset });
  let parser: StarlarkParser | undefined;
  try {
    const lex = tokenize(source);
    let tokens = lex.tokens;
    if (lex.errors.length > 0) tokens = tokens.slice(0, lex.errors[0]!.tokenIndex);
    parser = which ?? getParser();
    parser.begin(tokens, source.text.length);

    let result: R | undefined;
    let failure: Failure | undefined;
    try {
      result = start(parser);
      const e = parser.errors[0] as IRecognitionException | undefined;
      if (e) {
        const t = e.token;
        failure = { offset: t.tokenType === EOF ? source.text.length : t.startOffset, message: e.message, trigger: t };
      }
    } catch (e) {
      if (e instanceof SyntaxFailure) failure = e;
      else if (e instanceof RangeError && /call stack/i.test(e.message)) {
        failure = { offset: parser.currentOffset(), message: 'nesting too deep', trigger: undefined };
      } else throw e;
    }

    if (lex.errors.length > 0) {
      // go.starlark.net scans lazily: a syntax error wins if the parser met it before the bad token.
      if (failure && failure.trigger && failure.trigger.tokenType !== EOF) {
        throw new ParseError([diag(failure.offset, failure.message)]);
      }
      throw new ParseError(lex.errors.map((e) => diag(e.offset, e.message)));
    }
    if (failure) throw new ParseError([diag(failure.offset, failure.message)]);
    const deferred = parser.takeDeferred();
    if (deferred.length > 0) throw new ParseError(deferred.map((d) => diag(d.offset, d.message)));
    return result as R;
  } catch (e) {
    if (e instanceof ParseError) throw e;
    // Our bug, but the contract is that bad input only ever yields ParseError.
    const err = new ParseError([diag(parser ? parser.currentOffset() : 0, `internal error: ${e instanceof Error ? e.message : String(e)}`)]);
    (err as { cause?: unknown }).cause = e;
    throw err;
  } finally {
    if (parser) parser.begin([], 0); // drop references to the tokens
  }
}

/**
 * Parses a Starlark file.
 * @throws ParseError with every lexical error, or the first syntax error, in go.starlark.net's wording.
 */
export function parseFile(source: Source): File {
  return fileNode(source, run(source, undefined, (p) => p.file()));
}

function fileNode(source: Source, stmts: Stmt[]): File {
  return { kind: 'File', source, stmts, span: { start: 0, end: source.text.length } };
}

/**
 * Parses a Starlark expression (a comma-separated list is a tuple), optionally followed by a newline.
 * @throws ParseError as parseFile does.
 */
export function parseExpr(source: Source): Expr {
  return run(source, undefined, (p) => p.exprInput());
}
