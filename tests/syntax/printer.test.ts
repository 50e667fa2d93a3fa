import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type {
  Arg,
  AssignOp,
  BinaryOp,
  ComprehensionClause,
  DictEntry,
  Expr,
  Ident,
  IfStmt,
  LoadStmt,
  Param,
  Stmt,
  StringLiteral,
  UnaryOp,
} from '../../src/interpreter/syntax/index.js';
import { printExpr, printFile } from '../../src/interpreter/syntax/index.js';
import { utf8Decode, utf8Encode } from '../../src/lexer/index.js';
import { CORPUS } from './corpus.js';
import { expr, parse, strip, stripParens } from './helpers.js';

describe('printFile: round trip on a corpus', () => {
  it.each(CORPUS.map((p, i) => [i, p] as const))('program %i parses back to the same tree', (_i, program) => {
    const tree = parse(program);
    const printed = printFile(tree);
    const again = parse(printed);
    expect(strip(again.stmts)).toEqual(strip(tree.stmts));
    expect(printFile(again)).toBe(printed);
  });
});

describe('printExpr', () => {
  it('prints the canonical form', () => {
    const cases: [string, string][] = [
      ['a+b*c', 'a + b * c'],
      ['(a+b)*c', '(a + b) * c'],
      ['(1,)', '(1,)'],
      ['()', '()'],
      ['1,2', '1, 2'],
      ['x[1,2]', 'x[1, 2]'],
      ['x[ : : ]', 'x[:]'],
      ['x[::2]', 'x[::2]'],
      ['x[a:b:c]', 'x[a:b:c]'],
      ['f(a,*b,c=1,**d)', 'f(a, *b, c=1, **d)'],
      ['lambda:0', 'lambda: 0'],
      ['lambda a,*b,c=1,**d:a', 'lambda a, *b, c=1, **d: a'],
      ['{1:2,3:4}', '{1: 2, 3: 4}'],
      ['[x for x in y if z]', '[x for x in y if z]'],
      ['{k:v for k,v in d}', '{k: v for k, v in d}'],
      ['a if b else c', 'a if b else c'],
      ['not a', 'not a'],
      ['- - a', '--a'],
      ['a not in b', 'a not in b'],
      ['1 .real', '1 .real'],
      ['1.0.real', '1.0.real'],
      ['0x1F', '31'],
      ['1e3', '1000.0'],
      ['1e100', '1e+100'],
      ['.5', '0.5'],
      ['123456789012345678901234567890', '123456789012345678901234567890'],
      ['"é\\n\\t\\"\\\\"', '"é\\n\\t\\"\\\\"'],
      ["'\\x00\\x7f'", '"\\x00\\x7f"'],
      ['"\\u0085"', '"\\u0085"'],
      ["r'\\d'", '"\\\\d"'],
      ['b"\\xff\\x00a\\""', 'b"\\xff\\x00a\\""'],
      ['b"é"', 'b"\\xc3\\xa9"'],
    ];
    for (const [src, want] of cases) {
      expect(printExpr(expr(src)), src).toBe(want);
      expect(strip(expr(want)), want).toEqual(strip(expr(src)));
    }
  });

  it('adds parentheses that precedence requires in hand-built trees', () => {
    const id = (name: string): Ident => ({ kind: 'Ident', name, span: sp });
    const bin = (op: BinaryOp, x: Expr, y: Expr): Expr => ({ kind: 'BinaryExpr', op, x, y, opPos: 0, span: sp });
    expect(printExpr(bin('*', bin('+', id('a'), id('b')), id('c')))).toBe('(a + b) * c');
    expect(printExpr(bin('-', id('a'), bin('-', id('b'), id('c'))))).toBe('a - (b - c)');
    expect(printExpr(bin('<', bin('<', id('a'), id('b')), id('c')))).toBe('(a < b) < c');
    expect(printExpr({ kind: 'UnaryExpr', op: '-', x: bin('+', id('a'), id('b')), span: sp })).toBe('-(a + b)');
    expect(printExpr({ kind: 'TupleExpr', elems: [id('a')], span: sp })).toBe('(a,)');
    expect(printExpr({ kind: 'DotExpr', x: { kind: 'UnaryExpr', op: '-', x: id('a'), span: sp }, name: id('b'), dot: 0, span: sp })).toBe('(-a).b');
  });

  it('prints if/elif/else chains and one-line suites as blocks', () => {
    expect(printFile(parse('if a: x\nelif b: y\nelse: z\n'))).toBe('if a:\n    x\nelif b:\n    y\nelse:\n    z\n');
    expect(printFile(parse('if a: x\nelse:\n  if b: y\n'))).toBe('if a:\n    x\nelse:\n    if b:\n        y\n');
  });
});

// ---------------------------------------------------------------------------------------------
// Generated trees

const sp = { start: 0, end: 0 };

const NAMES = ['a', 'b', 'x', 'y', 'foo', '_', '_z1', 'formal', 'iffy', 'notin', 'assert', 'é', '名前'];
const identArb: fc.Arbitrary<Ident> = fc.constantFrom(...NAMES).map((name) => ({ kind: 'Ident', name, span: sp }));

const intArb: fc.Arbitrary<Expr> = fc
  .oneof(fc.nat({ max: 1000 }), fc.maxSafeNat(), fc.bigInt({ min: 2n ** 53n, max: 2n ** 90n }))
  .map((value) => ({ kind: 'Literal', type: 'int', value, raw: '', span: sp }));
const floatArb: fc.Arbitrary<Expr> = fc
  .double({ min: 0, max: 1e300, noNaN: true, noDefaultInfinity: true })
  .filter((v) => !Object.is(v, -0))
  .map((value) => ({ kind: 'Literal', type: 'float', value, raw: '', span: sp }));
const stringValueArb = fc.string({ unit: 'binary', maxLength: 6 }).map(utf8Encode);
const stringArb: fc.Arbitrary<StringLiteral> = stringValueArb.map((value) => ({ kind: 'Literal', type: 'string', value, raw: '', span: sp }));
const bytesArb: fc.Arbitrary<Expr> = fc
  .uint8Array({ maxLength: 6 })
  .map((a) => ({ kind: 'Literal', type: 'bytes', value: String.fromCharCode(...a), raw: '', span: sp }));

const BINOPS: BinaryOp[] = ['or', 'and', '==', '!=', '<', '>', '<=', '>=', 'in', 'not in', '|', '^', '&', '<<', '>>', '+', '-', '*', '/', '//', '%'];
const UNOPS: UnaryOp[] = ['+', '-', '~', 'not'];
const AUGOPS: AssignOp[] = ['+=', '-=', '*=', '/=', '//=', '%=', '&=', '|=', '^=', '<<=', '>>='];

const paramArb: fc.Arbitrary<Param> = fc.oneof(
  identArb.map((name): Param => ({ kind: 'Param', name, span: sp })),
  fc.tuple(identArb, intArb).map(([name, d]): Param => ({ kind: 'Param', name, default: d, span: sp })),
  fc.option(identArb, { nil: undefined }).map((name): Param => (name ? { kind: 'StarParam', name, span: sp } : { kind: 'StarParam', span: sp })),
  identArb.map((name): Param => ({ kind: 'StarStarParam', name, span: sp })),
);
const paramsArb = fc.array(paramArb, { maxLength: 3 });

/** Loop variables: an identifier or a tuple/list/paren of identifiers. */
const loopVarsArb: fc.Arbitrary<Expr> = fc.oneof(
  identArb,
  fc.array(identArb, { minLength: 1, maxLength: 3 }).map((elems): Expr => ({ kind: 'TupleExpr', elems, span: sp })),
  fc.array(identArb, { minLength: 1, maxLength: 2 }).map((elems): Expr => ({ kind: 'ListExpr', elems, span: sp })),
);

const { expr: exprArb } = fc.letrec<{ expr: Expr }>((tie) => {
  const e = tie('expr');
  const opt = (a: fc.Arbitrary<Expr>) => fc.option(a, { nil: undefined });
  const entry: fc.Arbitrary<DictEntry> = fc.tuple(e, e).map(([key, value]) => ({ kind: 'DictEntry', key, value, colon: 0, span: sp }));
  const forClause: fc.Arbitrary<ComprehensionClause> = fc
    .tuple(loopVarsArb, e)
    .map(([vars, x]) => ({ kind: 'ForClause', vars, x, forPos: 0, span: sp }));
  const clause: fc.Arbitrary<ComprehensionClause> = fc.oneof(forClause, e.map((cond): ComprehensionClause => ({ kind: 'IfClause', cond, span: sp })));
  const argArb: fc.Arbitrary<Arg> = fc.oneof(
    e.map((value): Arg => ({ kind: 'PosArg', value, span: sp })),
    fc.tuple(identArb, e).map(([name, value]): Arg => ({ kind: 'KwArg', name, value, span: sp })),
    e.map((value): Arg => ({ kind: 'StarArg', value, span: sp })),
    e.map((value): Arg => ({ kind: 'StarStarArg', value, span: sp })),
  );
  return {
    expr: fc.oneof(
      { maxDepth: 3, depthIdentifier: 'expr' },
      identArb,
      intArb,
      floatArb,
      stringArb,
      bytesArb,
      fc.array(e, { maxLength: 3 }).map((elems): Expr => ({ kind: 'ListExpr', elems, span: sp })),
      fc.array(e, { maxLength: 3 }).map((elems): Expr => ({ kind: 'TupleExpr', elems, span: sp })),
      fc.array(entry, { maxLength: 2 }).map((entries): Expr => ({ kind: 'DictExpr', entries, span: sp })),
      fc
        .tuple(fc.boolean(), e, entry, forClause, fc.array(clause, { maxLength: 2 }))
        .map(([curly, body, dictBody, first, rest]): Expr => ({
          kind: 'Comprehension',
          curly,
          body: curly ? dictBody : body,
          clauses: [first, ...rest],
          span: sp,
        })),
      fc.tuple(e, e, e).map(([cond, then, els]): Expr => ({ kind: 'CondExpr', cond, then, els, span: sp })),
      fc.tuple(fc.constantFrom(...BINOPS), e, e).map(([op, x, y]): Expr => ({ kind: 'BinaryExpr', op, x, y, opPos: 0, span: sp })),
      fc.tuple(fc.constantFrom(...UNOPS), e).map(([op, x]): Expr => ({ kind: 'UnaryExpr', op, x, span: sp })),
      fc.tuple(e, fc.array(argArb, { maxLength: 3 })).map(([fn, args]): Expr => ({ kind: 'CallExpr', fn, args, lparen: 0, span: sp })),
      fc.tuple(e, identArb).map(([x, name]): Expr => ({ kind: 'DotExpr', x, name, dot: 0, span: sp })),
      fc.tuple(e, e).map(([x, index]): Expr => ({ kind: 'IndexExpr', x, index, lbrack: 0, span: sp })),
      fc.tuple(e, opt(e), opt(e), opt(e)).map(([x, lo, hi, step]): Expr => ({
        kind: 'SliceExpr', x, ...(lo ? { lo } : {}), ...(hi ? { hi } : {}), ...(step ? { step } : {}), lbrack: 0, span: sp,
      })),
      fc.tuple(paramsArb, e).map(([params, body]): Expr => ({ kind: 'LambdaExpr', params, body, lambdaPos: 0, span: sp })),
      e.map((x): Expr => ({ kind: 'ParenExpr', x, span: sp })),
    ),
  };
});

const targetArb: fc.Arbitrary<Expr> = fc.oneof(
  identArb,
  fc.tuple(exprArb, identArb).map(([x, name]): Expr => ({ kind: 'DotExpr', x, name, dot: 0, span: sp })),
  fc.tuple(exprArb, exprArb).map(([x, index]): Expr => ({ kind: 'IndexExpr', x, index, lbrack: 0, span: sp })),
);
const unpackArb: fc.Arbitrary<Expr> = fc.oneof(
  targetArb,
  fc.array(targetArb, { minLength: 1, maxLength: 3 }).map((elems): Expr => ({ kind: 'TupleExpr', elems, span: sp })),
  fc.array(targetArb, { minLength: 1, maxLength: 3 }).map((elems): Expr => ({ kind: 'ListExpr', elems, span: sp })),
);

const { stmt: stmtArb } = fc.letrec<{ stmt: Stmt; block: Stmt[]; elif: IfStmt }>((tie) => {
  const block = tie('block') as fc.Arbitrary<Stmt[]>;
  const elif = tie('elif') as fc.Arbitrary<IfStmt>;
  const tail = fc.oneof({ maxDepth: 2, depthIdentifier: 'stmt' }, fc.constant([] as Stmt[]), block, elif.map((s) => [s]));
  const ifArb = (isElif: boolean) =>
    fc.tuple(exprArb, block, tail).map(([cond, then, els]): IfStmt => ({ kind: 'IfStmt', cond, then, els, elif: isElif, span: sp }));
  const loadArb = fc
    .tuple(
      stringValueArb,
      fc.array(
        fc.oneof(
          fc.tuple(identArb, stringValueArb).map(([local, value]) => ({ local, remote: { kind: 'Literal', type: 'string', value, raw: '', span: sp } as StringLiteral })),
          identArb.map((local) => ({ local, remote: { kind: 'Literal', type: 'string', value: utf8Encode(local.name), raw: '', span: sp } as StringLiteral })),
        ),
        { minLength: 1, maxLength: 3 },
      ),
    )
    .map(([module, bindings]): Stmt => ({
      kind: 'LoadStmt',
      module: { kind: 'Literal', type: 'string', value: module, raw: '', span: sp },
      bindings,
      span: sp,
    }));
  const simple = fc.oneof(
    exprArb.map((x): Stmt => ({ kind: 'ExprStmt', x, span: sp })),
    fc.tuple(unpackArb, exprArb).map(([lhs, rhs]): Stmt => ({ kind: 'AssignStmt', op: '=', lhs, rhs, opPos: 0, span: sp })),
    fc.tuple(fc.constantFrom(...AUGOPS), targetArb, exprArb).map(([op, lhs, rhs]): Stmt => ({ kind: 'AssignStmt', op, lhs, rhs, opPos: 0, span: sp })),
    fc.option(exprArb, { nil: undefined }).map((result): Stmt => (result ? { kind: 'ReturnStmt', result, span: sp } : { kind: 'ReturnStmt', span: sp })),
    fc.constantFrom('break', 'continue', 'pass').map((token): Stmt => ({ kind: 'BranchStmt', token: token as 'pass', span: sp })),
    loadArb,
  );
  return {
    stmt: fc.oneof(
      { maxDepth: 2, depthIdentifier: 'stmt' },
      simple,
      fc
        .tuple(fc.array(exprArb, { maxLength: 2 }), identArb, paramsArb, block)
        .map(([decorators, name, params, body]): Stmt => ({ kind: 'DefStmt', name, params, body, decorators, defPos: 0, span: sp })),
      ifArb(false),
      fc.tuple(loopVarsArb, exprArb, block).map(([vars, x, body]): Stmt => ({ kind: 'ForStmt', vars, x, body, forPos: 0, span: sp })),
      fc.tuple(exprArb, block).map(([cond, body]): Stmt => ({ kind: 'WhileStmt', cond, body, span: sp })),
    ),
    block: fc.array(tie('stmt') as fc.Arbitrary<Stmt>, { minLength: 1, maxLength: 3 }),
    elif: ifArb(true),
  };
});

describe('printer/parser round trip on generated trees', () => {
  it('parse(printExpr(e)) is e, up to parentheses the printer must add', () => {
    fc.assert(
      fc.property(exprArb, (e) => {
        const printed = printExpr(e);
        const back = expr(printed);
        expect(stripParens(back)).toEqual(stripParens(e));
        // Printing what was parsed is stable, parentheses included.
        expect(strip(expr(printExpr(back)))).toEqual(strip(back));
      }),
      { numRuns: 1500 },
    );
  });

  it('parse(printFile(f)) is f, up to parentheses the printer must add', () => {
    fc.assert(
      fc.property(fc.array(stmtArb, { minLength: 1, maxLength: 4 }), (stmts) => {
        const printed = printFile({ stmts });
        const back = parse(printed);
        expect(stripParens(back.stmts)).toEqual(stripParens(stmts));
        expect(strip(parse(printFile(back)).stmts)).toEqual(strip(back.stmts));
      }),
      { numRuns: 600 },
    );
  });

  it('round-trips load bindings whose names are not ASCII', () => {
    const f = parse('load("m", "名前", ü = "ö")\n');
    expect(printFile(f)).toBe('load("m", "名前", ü="ö")\n');
    expect(utf8Decode((f.stmts[0] as LoadStmt).bindings[1]!.remote.value)).toBe('ö');
  });
});
