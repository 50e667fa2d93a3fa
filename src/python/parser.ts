/**
 * A recursive-descent parser for Python 3 statements and expressions into the tree of ast.ts.
 * Top-level statements are parsed one by one and a statement that fails to parse is kept as an
 * error (reported only if workflow code reaches a name it defines); the bodies of `@task`
 * functions are skipped without parsing, so any Python is fine there.
 */
import type { Arg, Block, CompClause, Decorator, Expr, FuncDef, Param, Pos, Stmt, StrPiece } from './ast.js';
import { Problem } from './errors.js';
import { decodeBody } from './strings.js';
import { Lines, scanString, tokenize, type Tok } from './tokenizer.js';

/** One top-level statement, or the error it failed with (and the names it seems to define). */
export type TopItem =
  | { readonly kind: 'stmt'; readonly stmt: Stmt; readonly endLine: number }
  | { readonly kind: 'error'; readonly error: Problem; readonly names: readonly string[]; readonly line: number; readonly endLine: number };

const COMPARE_OPS = new Set(['<', '>', '==', '>=', '<=', '!=']);
const AUG_OPS = new Set(['+=', '-=', '*=', '/=', '//=', '%=', '&=', '|=', '^=', '<<=', '>>=', '**=', '@=']);
const KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif', 'else', 'except', 'finally', 'for', 'from',
  'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield',
]);

/** Is this decorator expression a task decorator (`task`, `x.task`, called or not)? */
export function isTaskDecorator(e: Expr): boolean {
  const f = e.kind === 'Call' ? e.func : e;
  // `task`, and Michelangelo's other task decorators such as `pipeline_task`.
  const isTask = (n: string): boolean => n === 'task' || n.endsWith('_task');
  return (f.kind === 'Name' && isTask(f.id)) || (f.kind === 'Attr' && isTask(f.attr));
}

export class Parser {
  private i = 0;
  constructor(
    private readonly text: string,
    private readonly lines: Lines,
    private readonly toks: readonly Tok[],
  ) {}

  static forText(text: string): { parser: Parser; lines: Lines } {
    const lines = new Lines(text);
    return { parser: new Parser(text, lines, tokenize(text, lines)), lines };
  }

  // ---- token helpers
  private at(k: Tok['kind']): boolean {
    return this.tok.kind === k;
  }
  private get tok(): Tok {
    return this.toks[this.i]!;
  }
  private peek(k = 1): Tok {
    return this.toks[Math.min(this.i + k, this.toks.length - 1)]!;
  }
  private isOp(v: string, t: Tok = this.tok): boolean {
    return t.kind === 'op' && t.value === v;
  }
  private isKw(v: string, t: Tok = this.tok): boolean {
    return t.kind === 'name' && t.value === v;
  }
  private next(): Tok {
    const t = this.tok;
    if (this.i < this.toks.length - 1) this.i++;
    return t;
  }
  private fail(msg: string, t: Tok = this.tok, hint?: string): never {
    throw new Problem(msg, t.line, t.col, hint);
  }
  private describe(t: Tok): string {
    switch (t.kind) {
      case 'newline':
        return 'end of line';
      case 'indent':
        return 'unexpected indent';
      case 'dedent':
        return 'unindent';
      case 'eof':
        return 'end of file';
      default:
        return JSON.stringify(t.value);
    }
  }
  private expectOp(v: string): Tok {
    if (!this.isOp(v)) this.fail(`invalid syntax: expected ${JSON.stringify(v)}, got ${this.describe(this.tok)}`);
    return this.next();
  }
  private expectKw(v: string): Tok {
    if (!this.isKw(v)) this.fail(`invalid syntax: expected ${JSON.stringify(v)}, got ${this.describe(this.tok)}`);
    return this.next();
  }
  private ident(): Tok {
    const t = this.tok;
    if (t.kind !== 'name' || KEYWORDS.has(t.value)) this.fail(`invalid syntax: expected a name, got ${this.describe(t)}`);
    return this.next();
  }
  private pos(t: Tok = this.tok): Pos {
    return { line: t.line, col: t.col };
  }
  private prevLine(): number {
    return this.toks[Math.max(0, this.i - 1)]!.line;
  }

  // ---- module
  parseModule(): TopItem[] {
    const items: TopItem[] = [];
    while (!this.at('eof')) {
      if (this.at('newline') || this.at('dedent')) {
        this.next();
        continue;
      }
      const start = this.i;
      try {
        if (this.at('indent')) this.fail('unexpected indent');
        const stmts = this.statement(true);
        for (const s of stmts) items.push({ kind: 'stmt', stmt: s, endLine: this.lastLine() });
      } catch (e) {
        if (!(e instanceof Problem)) throw e;
        this.i = start;
        const names = this.guessNames();
        const line = this.tok.line;
        this.skipStatement();
        items.push({ kind: 'error', error: e, names, line, endLine: this.lastLine() });
      }
    }
    return items;
  }

  private lastLine(): number {
    // The line of the last token consumed that is not a layout token.
    for (let k = this.i - 1; k >= 0; k--) {
      const t = this.toks[k]!;
      if (t.kind !== 'newline' && t.kind !== 'indent' && t.kind !== 'dedent') return this.lines.pos(Math.max(t.offset, t.end - 1)).line;
    }
    return 1;
  }

  /** Names a statement that failed to parse seems to define (`def f`, `class C`, `X = ...`). */
  private guessNames(): string[] {
    let k = this.i;
    while (this.isOp('@', this.toks[k]!)) {
      while (this.toks[k]!.kind !== 'newline' && this.toks[k]!.kind !== 'eof') k++;
      k++;
    }
    const t = this.toks[k]!;
    if (this.isKw('async', t)) k++;
    const t2 = this.toks[k]!;
    if ((this.isKw('def', t2) || this.isKw('class', t2)) && this.toks[k + 1]!.kind === 'name') return [this.toks[k + 1]!.value];
    const names: string[] = [];
    for (; this.toks[k]!.kind === 'name' && !KEYWORDS.has(this.toks[k]!.value); k += 2) {
      names.push(this.toks[k]!.value);
      const sep = this.toks[k + 1]!;
      if (this.isOp('=', sep) || this.isOp(':', sep)) return names;
      if (!this.isOp(',', sep)) break;
    }
    return [];
  }

  /** Skips one top-level statement (decorators and an indented body included). */
  private skipStatement(): void {
    let decorated = false;
    do {
      decorated = this.isOp('@');
      while (!this.at('newline') && !this.at('eof')) this.next();
      if (this.at('newline')) this.next();
      if (this.at('indent')) this.skipIndented();
      // `try:` ... `except`/`finally`/`else`, `if` ... `elif`/`else`: the clauses of one statement.
      while (!decorated && ['except', 'finally', 'else', 'elif'].some((w) => this.isKw(w))) {
        while (!this.at('newline') && !this.at('eof')) this.next();
        if (this.at('newline')) this.next();
        if (this.at('indent')) this.skipIndented();
      }
    } while (decorated && !this.at('eof'));
  }

  /** At an INDENT: skips to after its DEDENT. */
  private skipIndented(): void {
    let depth = 0;
    do {
      const t = this.next();
      if (t.kind === 'indent') depth++;
      else if (t.kind === 'dedent') depth--;
      if (t.kind === 'eof') return;
    } while (depth > 0);
  }

  // ---- statements
  /** One statement; a simple-statement line may hold several (`a = 1; b = 2`). */
  private statement(top = false): Stmt[] {
    const t = this.tok;
    if (t.kind === 'op' && t.value === '@') return [this.decorated()];
    if (t.kind === 'name') {
      switch (t.value) {
        case 'if':
          return [this.ifStmt(false)];
        case 'for':
          return [this.forStmt(false)];
        case 'while':
          return [this.whileStmt()];
        case 'def':
          return [this.defStmt([], false)];
        case 'async': {
          const n = this.peek();
          if (this.isKw('def', n)) {
            this.next();
            return [this.defStmt([], true, t)];
          }
          if (this.isKw('for', n)) {
            this.next();
            return [this.forStmt(true, t)];
          }
          return [this.unsupportedCompound(t, 'async')];
        }
        case 'try':
        case 'with':
        case 'class':
          return [this.unsupportedCompound(t, t.value)];
        case 'match': {
          // A soft keyword: `match x:` starts a match statement when a ':' ends the line.
          const n = this.peek();
          if (n.kind !== 'op' || n.value === '(' || n.value === '[' || n.value === '{' || n.value === '-' || n.value === '*') {
            let k = this.i + 1;
            while (this.toks[k]!.kind !== 'newline' && this.toks[k]!.kind !== 'eof') k++;
            if (this.isOp(':', this.toks[k - 1]!) && !this.isOp('=', n)) return [this.unsupportedCompound(t, 'match')];
          }
          break;
        }
      }
    }
    void top;
    return this.simpleLine();
  }

  private unsupportedCompound(t: Tok, keyword: string): Stmt {
    const names = keyword === 'class' && this.peek().kind === 'name' ? [this.peek().value] : [];
    this.next();
    while (!this.at('newline') && !this.at('eof')) this.next();
    if (this.at('newline')) this.next();
    if (this.at('indent')) this.skipIndented();
    if (keyword === 'try' || keyword === 'match') {
      while (['except', 'finally', 'else', 'case'].some((w) => this.isKw(w))) {
        while (!this.at('newline') && !this.at('eof')) this.next();
        if (this.at('newline')) this.next();
        if (this.at('indent')) this.skipIndented();
      }
    }
    return { kind: 'Unsupported', keyword, names, line: t.line, col: t.col };
  }

  private simpleLine(): Stmt[] {
    const out: Stmt[] = [this.smallStmt()];
    while (this.isOp(';')) {
      this.next();
      if (this.at('newline') || this.at('eof')) break;
      out.push(this.smallStmt());
    }
    if (!this.at('newline') && !this.at('eof')) this.fail(`invalid syntax: unexpected ${this.describe(this.tok)}`);
    this.next();
    return out;
  }

  private smallStmt(): Stmt {
    const t = this.tok;
    const p = this.pos();
    if (t.kind === 'name') {
      switch (t.value) {
        case 'pass':
        case 'break':
        case 'continue':
          this.next();
          return { kind: t.value === 'pass' ? 'Pass' : t.value === 'break' ? 'Break' : 'Continue', ...p };
        case 'return': {
          this.next();
          if (this.at('newline') || this.isOp(';') || this.at('eof')) return { kind: 'Return', ...p };
          return { kind: 'Return', value: this.testListStar(), ...p };
        }
        case 'import':
          return this.importStmt();
        case 'from':
          return this.fromStmt();
        case 'raise':
        case 'global':
        case 'nonlocal':
        case 'assert':
        case 'del': {
          this.next();
          while (!this.at('newline') && !this.at('eof') && !this.isOp(';')) this.next();
          return { kind: 'Unsupported', keyword: t.value, names: [], ...p };
        }
      }
    }
    if (this.isKw('yield')) return { kind: 'Expr', value: this.yieldExpr(), ...p };
    const first = this.testListStar(true);
    if (this.isOp(':')) {
      this.next();
      this.test(); // the annotation
      if (this.isOp('=')) {
        this.next();
        return { kind: 'AnnAssign', target: first, value: this.yieldOrTestList(), ...p };
      }
      return { kind: 'AnnAssign', target: first, ...p };
    }
    if (this.at('op') && AUG_OPS.has(this.tok.value)) {
      const op = this.next().value;
      return { kind: 'AugAssign', target: first, op, value: this.yieldOrTestList(), ...p };
    }
    if (this.isOp('=')) {
      const targets = [first];
      let value: Expr = first;
      while (this.isOp('=')) {
        this.next();
        value = this.yieldOrTestList();
        targets.push(value);
      }
      targets.pop();
      return { kind: 'Assign', targets, value, ...p };
    }
    return { kind: 'Expr', value: first, ...p };
  }

  private yieldOrTestList(): Expr {
    if (this.isKw('yield')) return this.yieldExpr();
    return this.testListStar();
  }

  private yieldExpr(): Expr {
    const t = this.next();
    if (this.isKw('from')) this.next();
    if (this.at('newline') || this.isOp(')') || this.isOp(';') || this.isOp('=')) return { kind: 'Yield', ...this.pos(t) };
    return { kind: 'Yield', value: this.testListStar(), ...this.pos(t) };
  }

  private dotted(): string {
    let s = this.ident().value;
    while (this.isOp('.')) {
      this.next();
      s += '.' + this.ident().value;
    }
    return s;
  }

  private importStmt(): Stmt {
    const t = this.next();
    const names: { module: string; asname?: string }[] = [];
    do {
      if (names.length > 0) this.next();
      const module = this.dotted();
      if (this.isKw('as')) {
        this.next();
        names.push({ module, asname: this.ident().value });
      } else names.push({ module });
    } while (this.isOp(','));
    return { kind: 'Import', names, ...this.pos(t) };
  }

  private fromStmt(): Stmt {
    const t = this.next();
    let module = '';
    while (this.isOp('.') || this.isOp('...')) module += this.next().value;
    if (!this.isKw('import')) module += this.dotted();
    this.expectKw('import');
    const names: { name: string; asname?: string }[] = [];
    if (this.isOp('*')) {
      this.next();
      names.push({ name: '*' });
    } else {
      const paren = this.isOp('(');
      if (paren) this.next();
      do {
        if (names.length > 0) {
          this.next();
          if (paren && this.isOp(')')) break;
        }
        const name = this.ident().value;
        if (this.isKw('as')) {
          this.next();
          names.push({ name, asname: this.ident().value });
        } else names.push({ name });
      } while (this.isOp(','));
      if (paren) this.expectOp(')');
    }
    return { kind: 'ImportFrom', module, names, ...this.pos(t) };
  }

  private block(): Block {
    this.expectOp(':');
    if (!this.at('newline')) return { stmts: this.simpleLine(), inline: true };
    this.next();
    if (!this.at('indent')) this.fail('expected an indented block');
    this.next();
    const stmts: Stmt[] = [];
    while (!this.at('dedent') && !this.at('eof')) stmts.push(...this.statement());
    this.next();
    return { stmts, inline: false };
  }

  private ifStmt(elif: boolean): Stmt {
    const t = this.next();
    const test = this.namedExprTest();
    const body = this.block();
    if (this.isKw('elif')) {
      const e = this.pos();
      const nested = this.ifStmt(true);
      return { kind: 'If', test, body, orelse: { stmts: [nested], inline: false }, elif, elsePos: e, ...this.pos(t) };
    }
    if (this.isKw('else')) {
      const e = this.pos();
      this.next();
      return { kind: 'If', test, body, orelse: this.block(), elif, elsePos: e, ...this.pos(t) };
    }
    return { kind: 'If', test, body, elif, ...this.pos(t) };
  }

  private forStmt(isAsync: boolean, asyncTok?: Tok): Stmt {
    const t = this.next();
    const target = this.targetList();
    this.expectKw('in');
    const iter = this.testListStar();
    const body = this.block();
    let orelse: Block | undefined;
    if (this.isKw('else')) {
      this.next();
      orelse = this.block();
    }
    return { kind: 'For', target, iter, body, ...(orelse ? { orelse } : {}), async: isAsync, ...this.pos(asyncTok ?? t) };
  }

  private whileStmt(): Stmt {
    const t = this.next();
    const test = this.namedExprTest();
    const body = this.block();
    let orelse: Block | undefined;
    if (this.isKw('else')) {
      this.next();
      orelse = this.block();
    }
    return { kind: 'While', test, body, ...(orelse ? { orelse } : {}), ...this.pos(t) };
  }

  private decorated(): Stmt {
    const decorators: Decorator[] = [];
    while (this.isOp('@')) {
      const at = this.next();
      const expr = this.namedExprTest();
      decorators.push({ expr, line: at.line, col: at.col });
      if (!this.at('newline')) this.fail(`invalid syntax: unexpected ${this.describe(this.tok)}`);
      this.next();
    }
    if (this.isKw('async') && this.isKw('def', this.peek())) {
      const a = this.next();
      return this.defStmt(decorators, true, a);
    }
    if (this.isKw('def')) return this.defStmt(decorators, false);
    if (this.isKw('class')) return this.unsupportedCompound(this.tok, 'class');
    return this.fail('invalid syntax: a decorator must be followed by def');
  }

  private defStmt(decorators: Decorator[], isAsync: boolean, asyncTok?: Tok): Stmt {
    const t = this.next();
    const start = asyncTok ?? t;
    const name = this.ident().value;
    this.expectOp('(');
    const params = this.params(')');
    this.expectOp(')');
    if (this.isOp('->')) {
      this.next();
      this.test();
    }
    const skip = decorators.some((d) => isTaskDecorator(d.expr));
    let body: Block | undefined;
    let bodyError: FuncDef['bodyError'];
    const bodyStart = this.i;
    if (skip) this.skipBlock();
    else {
      try {
        body = this.block();
      } catch (e) {
        if (!(e instanceof Problem)) throw e;
        bodyError = { message: e.message, line: e.line, col: e.column, hint: e.hint };
        this.i = bodyStart;
        this.skipBlock();
      }
    }
    const def: FuncDef = { name, params, decorators, async: isAsync, line: start.line, col: start.col, endLine: this.lastLine(), ...(body ? { body } : {}), ...(bodyError ? { bodyError } : {}) };
    return { kind: 'Def', def, ...this.pos(start) };
  }

  /** Skips `: suite` without parsing it. */
  private skipBlock(): void {
    this.expectOp(':');
    while (!this.at('newline') && !this.at('eof')) this.next();
    this.next();
    if (this.at('indent')) this.skipIndented();
  }

  private params(close: string): Param[] {
    const out: Param[] = [];
    while (!this.isOp(close)) {
      const t = this.tok;
      if (this.isOp('/')) {
        this.next();
        out.push({ kind: 'posmarker', name: '/', pos: this.pos(t) });
      } else if (this.isOp('*') || this.isOp('**')) {
        const star = this.next().value;
        if (star === '*' && (this.isOp(',') || this.isOp(close))) out.push({ kind: 'kwmarker', name: '*', pos: this.pos(t) });
        else {
          const name = this.ident().value;
          if (close === ')' && this.isOp(':')) {
            this.next();
            this.test();
          }
          out.push({ kind: star === '*' ? 'star' : 'dstar', name, pos: this.pos(t) });
        }
      } else {
        const name = this.ident().value;
        if (close === ')' && this.isOp(':')) {
          this.next();
          this.test();
        }
        if (this.isOp('=')) {
          this.next();
          out.push({ kind: 'normal', name, default: this.test(), pos: this.pos(t) });
        } else out.push({ kind: 'normal', name, pos: this.pos(t) });
      }
      if (!this.isOp(',')) break;
      this.next();
    }
    return out;
  }

  // ---- expressions
  /** `a, b` (a tuple without parentheses) or one expression; starred items allowed. */
  private testListStar(allowWalrusLike = false): Expr {
    void allowWalrusLike;
    const first = this.starOrTest();
    if (!this.isOp(',')) return first;
    const elts = [first];
    while (this.isOp(',')) {
      this.next();
      if (this.endsList()) break;
      elts.push(this.starOrTest());
    }
    return { kind: 'Tuple', elts, paren: false, line: first.line, col: first.col };
  }

  private endsList(): boolean {
    const t = this.tok;
    return t.kind === 'newline' || t.kind === 'eof' || (t.kind === 'op' && ['=', ')', ']', '}', ';', ':'].includes(t.value)) || (t.kind === 'op' && AUG_OPS.has(t.value)) || this.isKw('in');
  }

  private targetList(): Expr {
    const first = this.starOrExpr();
    if (!this.isOp(',')) return first;
    const elts = [first];
    while (this.isOp(',')) {
      this.next();
      if (this.isKw('in') || this.isOp('=')) break;
      elts.push(this.starOrExpr());
    }
    return { kind: 'Tuple', elts, paren: false, line: first.line, col: first.col };
  }

  private starOrExpr(): Expr {
    if (this.isOp('*')) {
      const t = this.next();
      return { kind: 'Starred', value: this.orExpr(), ...this.pos(t) };
    }
    return this.orExpr();
  }

  private starOrTest(): Expr {
    if (this.isOp('*')) {
      const t = this.next();
      return { kind: 'Starred', value: this.orExpr(), ...this.pos(t) };
    }
    return this.namedExprTest();
  }

  private namedExprTest(): Expr {
    const t = this.tok;
    if (t.kind === 'name' && this.isOp(':=', this.peek())) {
      this.next();
      this.next();
      return { kind: 'Walrus', target: t.value, value: this.test(), ...this.pos(t) };
    }
    return this.test();
  }

  test(): Expr {
    if (this.isKw('lambda')) {
      const t = this.next();
      const params = this.params(':');
      this.expectOp(':');
      return { kind: 'Lambda', params, body: this.test(), ...this.pos(t) };
    }
    const body = this.orTest();
    if (this.isKw('if')) {
      this.next();
      const test = this.orTest();
      this.expectKw('else');
      const orelse = this.test();
      return { kind: 'IfExp', test, body, orelse, line: body.line, col: body.col };
    }
    return body;
  }

  /** An expression without a conditional (comprehension conditions, lambda-less contexts). */
  private testNoCond(): Expr {
    if (this.isKw('lambda')) return this.test();
    return this.orTest();
  }

  private orTest(): Expr {
    let left = this.andTest();
    while (this.isKw('or')) {
      this.next();
      left = { kind: 'BoolOp', op: 'or', left, right: this.andTest(), line: left.line, col: left.col };
    }
    return left;
  }

  private andTest(): Expr {
    let left = this.notTest();
    while (this.isKw('and')) {
      this.next();
      left = { kind: 'BoolOp', op: 'and', left, right: this.notTest(), line: left.line, col: left.col };
    }
    return left;
  }

  private notTest(): Expr {
    if (this.isKw('not')) {
      const t = this.next();
      return { kind: 'Unary', op: 'not', operand: this.notTest(), ...this.pos(t) };
    }
    return this.comparison();
  }

  private compOp(): string | undefined {
    const t = this.tok;
    if (t.kind === 'op' && COMPARE_OPS.has(t.value)) return t.value;
    if (this.isKw('in')) return 'in';
    if (this.isKw('not') && this.isKw('in', this.peek())) return 'not in';
    if (this.isKw('is')) return this.isKw('not', this.peek()) ? 'is not' : 'is';
    return undefined;
  }

  private comparison(): Expr {
    const first = this.orExpr();
    const operands = [first];
    const ops: { op: string; pos: Pos }[] = [];
    for (let op = this.compOp(); op !== undefined; op = this.compOp()) {
      const p = this.pos();
      this.next();
      if (op === 'not in' || op === 'is not') this.next();
      ops.push({ op, pos: p });
      operands.push(this.orExpr());
    }
    if (ops.length === 0) return first;
    return { kind: 'Compare', ops, operands, line: first.line, col: first.col };
  }

  private binary(next: () => Expr, ops: readonly string[]): Expr {
    let left = next();
    while (this.at('op') && ops.includes(this.tok.value)) {
      const op = this.next().value;
      left = { kind: 'BinOp', op, left, right: next(), line: left.line, col: left.col };
    }
    return left;
  }

  private orExpr(): Expr {
    return this.binary(() => this.xorExpr(), ['|']);
  }
  private xorExpr(): Expr {
    return this.binary(() => this.andExpr(), ['^']);
  }
  private andExpr(): Expr {
    return this.binary(() => this.shiftExpr(), ['&']);
  }
  private shiftExpr(): Expr {
    return this.binary(() => this.arith(), ['<<', '>>']);
  }
  private arith(): Expr {
    return this.binary(() => this.term(), ['+', '-']);
  }
  private term(): Expr {
    return this.binary(() => this.factor(), ['*', '/', '//', '%', '@']);
  }

  private factor(): Expr {
    const t = this.tok;
    if (t.kind === 'op' && (t.value === '+' || t.value === '-' || t.value === '~')) {
      this.next();
      return { kind: 'Unary', op: t.value, operand: this.factor(), ...this.pos(t) };
    }
    return this.power();
  }

  private power(): Expr {
    let base: Expr;
    if (this.isKw('await')) {
      const t = this.next();
      base = { kind: 'Await', value: this.primary(), ...this.pos(t) };
    } else base = this.primary();
    if (this.isOp('**')) {
      this.next();
      return { kind: 'BinOp', op: '**', left: base, right: this.factor(), line: base.line, col: base.col };
    }
    return base;
  }

  private primary(): Expr {
    let e = this.atom();
    for (;;) {
      if (this.isOp('.')) {
        this.next();
        const name = this.tok;
        if (name.kind !== 'name') this.fail('invalid syntax: expected an attribute name');
        this.next();
        e = { kind: 'Attr', value: e, attr: name.value, line: e.line, col: e.col };
      } else if (this.isOp('(')) {
        this.next();
        const args = this.callArgs();
        const end = this.expectOp(')');
        e = { kind: 'Call', func: e, args, end: this.pos(end), line: e.line, col: e.col };
      } else if (this.isOp('[')) {
        this.next();
        const index = this.subscript();
        this.expectOp(']');
        e = { kind: 'Subscript', value: e, index, line: e.line, col: e.col };
      } else return e;
    }
  }

  private subscript(): Expr {
    const items: Expr[] = [];
    let tuple = false;
    for (;;) {
      items.push(this.sliceItem());
      if (!this.isOp(',')) break;
      tuple = true;
      this.next();
      if (this.isOp(']')) break;
    }
    if (!tuple) return items[0]!;
    return { kind: 'Tuple', elts: items, paren: false, line: items[0]!.line, col: items[0]!.col };
  }

  private sliceItem(): Expr {
    const p = this.pos();
    let lo: Expr | undefined;
    if (!this.isOp(':')) {
      lo = this.starOrTest();
      if (!this.isOp(':')) return lo;
    }
    this.next();
    let hi: Expr | undefined;
    let step: Expr | undefined;
    if (!this.isOp(':') && !this.isOp(']') && !this.isOp(',')) hi = this.test();
    if (this.isOp(':')) {
      this.next();
      if (!this.isOp(']') && !this.isOp(',')) step = this.test();
    }
    return { kind: 'Slice', ...(lo ? { lo } : {}), ...(hi ? { hi } : {}), ...(step ? { step } : {}), ...p };
  }

  private callArgs(): Arg[] {
    const args: Arg[] = [];
    while (!this.isOp(')')) {
      const t = this.tok;
      if (this.isOp('*')) {
        this.next();
        args.push({ kind: 'star', value: this.test() });
      } else if (this.isOp('**')) {
        this.next();
        args.push({ kind: 'dstar', value: this.test() });
      } else if (t.kind === 'name' && this.isOp('=', this.peek())) {
        this.next();
        this.next();
        args.push({ kind: 'kw', name: t.value, value: this.test(), pos: this.pos(t) });
      } else {
        const v = this.namedExprTest();
        if (this.isKw('for') || this.isKw('async')) {
          const clauses = this.compClauses();
          args.push({ kind: 'pos', value: { kind: 'Comp', comp: 'gen', elt: v, clauses, end: this.pos(), line: v.line, col: v.col } });
        } else args.push({ kind: 'pos', value: v });
      }
      if (!this.isOp(',')) break;
      this.next();
    }
    return args;
  }

  private compClauses(): CompClause[] {
    const out: CompClause[] = [];
    for (;;) {
      const t = this.tok;
      if (this.isKw('async') && this.isKw('for', this.peek())) {
        this.next();
        this.next();
        const target = this.targetList();
        this.expectKw('in');
        out.push({ kind: 'for', target, expr: this.orTest(), async: true, pos: this.pos(t) });
      } else if (this.isKw('for')) {
        this.next();
        const target = this.targetList();
        this.expectKw('in');
        out.push({ kind: 'for', target, expr: this.orTest(), pos: this.pos(t) });
      } else if (this.isKw('if')) {
        this.next();
        out.push({ kind: 'if', expr: this.testNoCond(), pos: this.pos(t) });
      } else return out;
    }
  }

  private atom(): Expr {
    const t = this.tok;
    const p = this.pos(t);
    switch (t.kind) {
      case 'number':
        this.next();
        return { kind: 'Num', text: t.value, ...p };
      case 'string':
        return this.strings();
      case 'name': {
        if (t.value === 'True' || t.value === 'False' || t.value === 'None') {
          this.next();
          return { kind: 'Const', value: t.value, ...p };
        }
        if (t.value === 'yield') this.fail('invalid syntax: yield must be parenthesized here');
        if (KEYWORDS.has(t.value)) this.fail(`invalid syntax: unexpected keyword ${t.value}`);
        this.next();
        return { kind: 'Name', id: t.value, ...p };
      }
      case 'op':
        break;
      default:
        this.fail(`invalid syntax: unexpected ${this.describe(t)}`);
    }
    if (t.value === '...') {
      this.next();
      return { kind: 'Const', value: '...', ...p };
    }
    if (t.value === '(') {
      this.next();
      if (this.isOp(')')) {
        const end = this.next();
        return { kind: 'Tuple', elts: [], paren: true, end: this.pos(end), ...p };
      }
      if (this.isKw('yield')) {
        const y = this.yieldExpr();
        this.expectOp(')');
        return y;
      }
      const first = this.starOrTest();
      if (this.isKw('for') || this.isKw('async')) {
        const clauses = this.compClauses();
        const end = this.expectOp(')');
        return { kind: 'Comp', comp: 'gen', elt: first, clauses, end: this.pos(end), ...p };
      }
      if (!this.isOp(',')) {
        const end = this.expectOp(')');
        return { kind: 'Paren', value: first, end: this.pos(end), ...p };
      }
      const elts = [first];
      while (this.isOp(',')) {
        this.next();
        if (this.isOp(')')) break;
        elts.push(this.starOrTest());
      }
      const end = this.expectOp(')');
      return { kind: 'Tuple', elts, paren: true, end: this.pos(end), ...p };
    }
    if (t.value === '[') {
      this.next();
      if (this.isOp(']')) {
        const end = this.next();
        return { kind: 'List', elts: [], end: this.pos(end), ...p };
      }
      const first = this.starOrTest();
      if (this.isKw('for') || this.isKw('async')) {
        const clauses = this.compClauses();
        const end = this.expectOp(']');
        return { kind: 'Comp', comp: 'list', elt: first, clauses, end: this.pos(end), ...p };
      }
      const elts = [first];
      while (this.isOp(',')) {
        this.next();
        if (this.isOp(']')) break;
        elts.push(this.starOrTest());
      }
      const end = this.expectOp(']');
      return { kind: 'List', elts, end: this.pos(end), ...p };
    }
    if (t.value === '{') {
      this.next();
      if (this.isOp('}')) {
        const end = this.next();
        return { kind: 'Dict', entries: [], end: this.pos(end), ...p };
      }
      if (this.isOp('**')) {
        this.next();
        const entries: ({ key: Expr; value: Expr } | { dstar: Expr })[] = [{ dstar: this.orExpr() }];
        return this.dictRest(entries, p);
      }
      const first = this.starOrTest();
      if (this.isOp(':')) {
        this.next();
        const value = this.test();
        if (this.isKw('for') || this.isKw('async')) {
          const clauses = this.compClauses();
          const end = this.expectOp('}');
          return { kind: 'Comp', comp: 'dict', elt: first, value, clauses, end: this.pos(end), ...p };
        }
        return this.dictRest([{ key: first, value }], p);
      }
      if (this.isKw('for') || this.isKw('async')) {
        const clauses = this.compClauses();
        const end = this.expectOp('}');
        return { kind: 'Comp', comp: 'set', elt: first, clauses, end: this.pos(end), ...p };
      }
      const elts = [first];
      while (this.isOp(',')) {
        this.next();
        if (this.isOp('}')) break;
        elts.push(this.starOrTest());
      }
      this.expectOp('}');
      return { kind: 'Set', elts, ...p };
    }
    return this.fail(`invalid syntax: unexpected ${this.describe(t)}`);
  }

  private dictRest(entries: ({ key: Expr; value: Expr } | { dstar: Expr })[], p: Pos): Expr {
    while (this.isOp(',')) {
      this.next();
      if (this.isOp('}')) break;
      if (this.isOp('**')) {
        this.next();
        entries.push({ dstar: this.orExpr() });
        continue;
      }
      const key = this.test();
      this.expectOp(':');
      entries.push({ key, value: this.test() });
    }
    const end = this.expectOp('}');
    return { kind: 'Dict', entries, end: this.pos(end), ...p };
  }

  // ---- string literals
  private strings(): Expr {
    const first = this.tok;
    const pieces: StrPiece[] = [];
    let bytes = false;
    let fstring = false;
    while (this.at('string')) {
      const t = this.next();
      const s = t.str!;
      const raw = s.prefix.includes('r');
      if (s.prefix.includes('b')) bytes = true;
      const body = this.text.slice(s.bodyStart, s.bodyEnd);
      const at = (i: number): { line: number; col: number } => this.lines.pos(s.bodyStart + i);
      const p0 = this.lines.pos(s.bodyStart);
      if (!s.prefix.includes('f')) {
        pieces.push({ kind: 'lit', value: decodeBody(body, raw, s.prefix.includes('b'), at), line: p0.line, col: p0.col, multiline: s.quote.length === 3 });
        continue;
      }
      fstring = true;
      this.fstringPieces(s.bodyStart, s.bodyEnd, raw, s.quote.length === 3, pieces);
    }
    return { kind: 'Str', pieces, bytes, fstring, line: first.line, col: first.col };
  }

  /** Splits an f-string body into literal pieces and replacement fields. */
  private fstringPieces(start: number, end: number, raw: boolean, triple: boolean, out: StrPiece[]): void {
    const text = this.text;
    let lit = '';
    let litStart = start;
    const flush = (upto: number): void => {
      if (upto > litStart || lit !== '') {
        const p = this.lines.pos(litStart);
        out.push({ kind: 'lit', value: decodeBody(lit, raw, false, (i) => this.lines.pos(litStart + i)), line: p.line, col: p.col, multiline: triple });
      }
      lit = '';
    };
    let i = start;
    while (i < end) {
      const c = text[i]!;
      if (c === '\\' && !raw) {
        lit += text.slice(i, i + 2);
        i += 2;
        continue;
      }
      if (c === '{' && text[i + 1] === '{') {
        lit += '{';
        i += 2;
        continue;
      }
      if (c === '}') {
        if (text[i + 1] === '}') {
          lit += '}';
          i += 2;
          continue;
        }
        const p = this.lines.pos(i);
        throw new Problem("f-string: single '}' is not allowed", p.line, p.col);
      }
      if (c !== '{') {
        lit += c;
        i++;
        continue;
      }
      flush(i);
      const open = i;
      i++;
      // The expression ends at '!', ':', '=' (debug) or '}' at depth 0.
      const exprStart = i;
      let depth = 0;
      let exprEnd = -1;
      let debug = false;
      let debugEnd = -1;
      while (i < end) {
        const d = text[i]!;
        if (d === '\'' || d === '"') {
          i = scanString(text, i, /[fF][rR]?$|[rR][fF]$/.test(text.slice(Math.max(0, i - 2), i)), this.lines).end;
          continue;
        }
        if (d === '(' || d === '[' || d === '{') depth++;
        else if (d === ')' || d === ']' || (d === '}' && depth > 0)) depth--;
        else if (depth === 0) {
          if (d === '}' || (d === '!' && text[i + 1] !== '=') || d === ':') {
            exprEnd = i;
            break;
          }
          if (d === '=' && text[i + 1] !== '=' && !'=!<>'.includes(text[i - 1]!)) {
            exprEnd = i;
            debug = true;
            i++;
            while (text[i] === ' ' || text[i] === '\t') i++;
            debugEnd = i;
            break;
          }
        }
        i++;
      }
      const pOpen = this.lines.pos(open);
      if (exprEnd < 0) throw new Problem("f-string: expecting '}'", pOpen.line, pOpen.col);
      if (text.slice(exprStart, exprEnd).trim() === '') throw new Problem('f-string: empty expression not allowed', pOpen.line, pOpen.col);
      const sub = new Parser(text, this.lines, tokenize(text, this.lines, exprStart, exprEnd, true));
      const expr = sub.testListStar();
      if (sub.tok.kind !== 'eof') sub.fail(`f-string: invalid syntax: unexpected ${sub.describe(sub.tok)}`);
      let conv = '';
      if (text[i] === '!') {
        conv = text[i + 1] ?? '';
        i += 2;
      }
      let spec = '';
      if (text[i] === ':') {
        i++;
        let d = 0;
        const specStart = i;
        while (i < end && (text[i] !== '}' || d > 0)) {
          if (text[i] === '{') d++;
          else if (text[i] === '}') d--;
          i++;
        }
        spec = text.slice(specStart, i);
      }
      if (text[i] !== '}') throw new Problem("f-string: expecting '}'", pOpen.line, pOpen.col);
      i++;
      const debugText = debug ? text.slice(exprStart, debugEnd) : undefined;
      out.push({ kind: 'field', expr, conv, spec, ...(debugText !== undefined ? { debug: debugText } : {}), line: pOpen.line, col: pOpen.col });
      litStart = i;
    }
    flush(i);
  }
}
