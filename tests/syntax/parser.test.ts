import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/interpreter/errors.js';
import type { AssignStmt, DefStmt, Expr, ForStmt, IfStmt, LoadStmt } from '../../src/interpreter/syntax/index.js';
import { createParser } from '../../src/interpreter/syntax/parser.js';
import { Source } from '../../src/lexer/index.js';
import { CORPUS } from './corpus.js';
import { expr, nodes, parse, parseError, strip } from './helpers.js';

/** The source text a node's span covers. */
function textOf(src: string, n: { span: { start: number; end: number } }): string {
  return src.slice(n.span.start, n.span.end);
}

describe('parseFile: statements', () => {
  it('parses assignments with operator positions and spans', () => {
    const src = 'x = a + b * c\n';
    const s = parse(src).stmts[0] as AssignStmt;
    expect(s).toMatchObject({
      kind: 'AssignStmt',
      op: '=',
      opPos: 2,
      span: { start: 0, end: 13 },
      lhs: { kind: 'Ident', name: 'x', span: { start: 0, end: 1 } },
      rhs: {
        kind: 'BinaryExpr',
        op: '+',
        opPos: 6,
        x: { kind: 'Ident', name: 'a' },
        y: { kind: 'BinaryExpr', op: '*', opPos: 10, span: { start: 8, end: 13 } },
      },
    });
  });

  it('parses every augmented assignment operator', () => {
    for (const op of ['+=', '-=', '*=', '/=', '//=', '%=', '&=', '|=', '^=', '<<=', '>>=']) {
      expect(parse(`x.f ${op} 1`).stmts[0]).toMatchObject({ kind: 'AssignStmt', op, opPos: 4, lhs: { kind: 'DotExpr' } });
    }
    // Redundant parentheses around an augmented target are dropped (ast.ts: lhs is Ident/Index/Dot).
    expect(parse('(x) += 1').stmts[0]).toMatchObject({ lhs: { kind: 'Ident', name: 'x' } });
  });

  it('parses unpacking targets', () => {
    expect(strip((parse('a, b = 1, 2').stmts[0] as AssignStmt).lhs)).toMatchObject({ kind: 'TupleExpr', elems: [{ name: 'a' }, { name: 'b' }] });
    expect(strip((parse('[a, (b, c)] = x').stmts[0] as AssignStmt).lhs)).toMatchObject({
      kind: 'ListExpr',
      elems: [{ name: 'a' }, { kind: 'ParenExpr', x: { kind: 'TupleExpr' } }],
    });
    expect((parse('(a, b,) = x').stmts[0] as AssignStmt).lhs).toMatchObject({ kind: 'ParenExpr', span: { start: 0, end: 7 } });
    expect((parse('x[i], y.z = 1, 2').stmts[0] as AssignStmt).lhs).toMatchObject({ kind: 'TupleExpr' });
  });

  it('parses def with defaults, *args, bare *, keyword-only parameters and **kwargs', () => {
    const src = 'def f(a, b = 1, *args, c, d = 2, **kw):\n  return a\n';
    const d = parse(src).stmts[0] as DefStmt;
    expect(d).toMatchObject({ kind: 'DefStmt', defPos: 0, decorators: [], span: { start: 0, end: src.length - 1 } });
    expect(d.params.map((p) => [p.kind, p.name?.name, textOf(src, p)])).toEqual([
      ['Param', 'a', 'a'],
      ['Param', 'b', 'b = 1'],
      ['StarParam', 'args', '*args'],
      ['Param', 'c', 'c'],
      ['Param', 'd', 'd = 2'],
      ['StarStarParam', 'kw', '**kw'],
    ]);
    const bare = parse('def g(*, k): pass').stmts[0] as DefStmt;
    expect(bare.params).toMatchObject([{ kind: 'StarParam', span: { start: 6, end: 7 } }, { kind: 'Param' }]);
    expect(bare.params[0]).not.toHaveProperty('name');
    expect(parse('def f(a, ): pass\ndef f(*args, ): pass\ndef f(**kwargs, ): pass').stmts).toHaveLength(3);
  });

  it('parses decorators before def', () => {
    const src = '@memo\n@app.route("/x", methods = ["GET"])\ndef f():\n  pass\n';
    const d = parse(src).stmts[0] as DefStmt;
    expect(d.decorators.map((e) => textOf(src, e))).toEqual(['memo', 'app.route("/x", methods = ["GET"])']);
    expect(d.span.start).toBe(0);
    expect(d.defPos).toBe(src.indexOf('def'));
  });

  it('parses if/elif/else as nested IfStmts', () => {
    const src = 'if a:\n  x\nelif b:\n  y\nelif c: z\nelse:\n  w\n';
    const s = parse(src).stmts[0] as IfStmt;
    expect(strip(s)).toEqual({
      kind: 'IfStmt',
      cond: { kind: 'Ident', name: 'a' },
      then: [{ kind: 'ExprStmt', x: { kind: 'Ident', name: 'x' } }],
      elif: false,
      els: [
        {
          kind: 'IfStmt',
          cond: { kind: 'Ident', name: 'b' },
          then: [{ kind: 'ExprStmt', x: { kind: 'Ident', name: 'y' } }],
          elif: true,
          els: [
            {
              kind: 'IfStmt',
              cond: { kind: 'Ident', name: 'c' },
              then: [{ kind: 'ExprStmt', x: { kind: 'Ident', name: 'z' } }],
              elif: true,
              els: [{ kind: 'ExprStmt', x: { kind: 'Ident', name: 'w' } }],
            },
          ],
        },
      ],
    });
    expect(textOf(src, s)).toBe(src.trimEnd());
    expect(textOf(src, s.els[0]!)).toBe('elif b:\n  y\nelif c: z\nelse:\n  w');
  });

  it('parses for, while, break, continue, pass and return', () => {
    const src = 'def f():\n  for k, v in x.items():\n    while k:\n      break\n    continue\n  pass\n  return\n';
    const body = (parse(src).stmts[0] as DefStmt).body;
    expect(body.map((s) => s.kind)).toEqual(['ForStmt', 'BranchStmt', 'ReturnStmt']);
    const f = body[0] as ForStmt;
    expect(f).toMatchObject({ forPos: src.indexOf('for'), vars: { kind: 'TupleExpr', elems: [{ name: 'k' }, { name: 'v' }] } });
    expect(f.body.map((s) => s.kind)).toEqual(['WhileStmt', 'BranchStmt']);
    expect(parse('for x in 1, 2, 3:\n  pass').stmts[0]).toMatchObject({ x: { kind: 'TupleExpr' } });
    expect(parse('def f(): return 1, 2').stmts[0]).toMatchObject({ body: [{ kind: 'ReturnStmt', result: { kind: 'TupleExpr' } }] });
  });

  it('parses simple statements separated by semicolons and suites on one line', () => {
    expect(parse('a = 1; b = 2; f()').stmts.map((s) => s.kind)).toEqual(['AssignStmt', 'AssignStmt', 'ExprStmt']);
    expect(parse('a = 1;\nb = 2;').stmts).toHaveLength(2);
    expect((parse('if x: a; b').stmts[0] as IfStmt).then).toHaveLength(2);
    expect(parse('f();').stmts).toHaveLength(1);
  });

  it('parses load statements', () => {
    const src = 'load("m.star", "a", b = "c", "é",)\n';
    const s = parse(src).stmts[0] as LoadStmt;
    expect(strip(s)).toEqual({
      kind: 'LoadStmt',
      module: { kind: 'Literal', type: 'string', value: 'm.star' },
      bindings: [
        { local: { kind: 'Ident', name: 'a' }, remote: { kind: 'Literal', type: 'string', value: 'a' } },
        { local: { kind: 'Ident', name: 'b' }, remote: { kind: 'Literal', type: 'string', value: 'c' } },
        { local: { kind: 'Ident', name: 'é' }, remote: { kind: 'Literal', type: 'string', value: '\xc3\xa9' } },
      ],
    });
    // The local name of `"a"` is positioned inside the quotes.
    expect(textOf(src, s.bindings[0]!.local)).toBe('a');
    expect(textOf(src, s.bindings[1]!.local)).toBe('b');
    expect(textOf(src, s)).toBe(src.trimEnd());
  });

  it('skips blank lines, comments and backslash continuations', () => {
    expect(parse('\n# c\n\nx = 1  # d\n\n\ny = \\\n  2\n').stmts).toHaveLength(2);
    expect(parse('').stmts).toEqual([]);
    expect(parse('# only a comment').stmts).toEqual([]);
  });
});

describe('parseFile: expressions', () => {
  it('follows the spec precedence', () => {
    const shape = (e: Expr): unknown => {
      switch (e.kind) {
        case 'BinaryExpr': return [e.op, shape(e.x), shape(e.y)];
        case 'UnaryExpr': return [e.op, shape(e.x)];
        case 'Ident': return e.name;
        case 'ParenExpr': return shape(e.x);
        case 'CondExpr': return ['if', shape(e.cond), shape(e.then), shape(e.els)];
        case 'DotExpr': return ['.', shape(e.x), e.name.name];
        case 'CallExpr': return ['call', shape(e.fn)];
        default: return e.kind;
      }
    };
    const cases: [string, unknown][] = [
      ['a or b and c', ['or', 'a', ['and', 'b', 'c']]],
      ['a and not b or c', ['or', ['and', 'a', ['not', 'b']], 'c']],
      ['not a == b', ['not', ['==', 'a', 'b']]],
      ['a < b | c', ['<', 'a', ['|', 'b', 'c']]],
      ['a | b ^ c & d', ['|', 'a', ['^', 'b', ['&', 'c', 'd']]]],
      ['a & b << c', ['&', 'a', ['<<', 'b', 'c']]],
      ['a >> b + c', ['>>', 'a', ['+', 'b', 'c']]],
      ['a - b * c', ['-', 'a', ['*', 'b', 'c']]],
      ['a - b - c', ['-', ['-', 'a', 'b'], 'c']],
      ['a // b % c / d', ['/', ['%', ['//', 'a', 'b'], 'c'], 'd']],
      ['-a * b', ['*', ['-', 'a'], 'b']],
      ['-a.b', ['-', ['.', 'a', 'b']]],
      ['~-+a', ['~', ['-', ['+', 'a']]]],
      ['a in b', ['in', 'a', 'b']],
      ['a not in b', ['not in', 'a', 'b']],
      ['not not a', ['not', ['not', 'a']]],
      ['a if b else c if d else e', ['if', 'b', 'a', ['if', 'd', 'c', 'e']]],
      ['a or b if c or d else e', ['if', ['or', 'c', 'd'], ['or', 'a', 'b'], 'e']],
      ['(a + b) * c', ['*', ['+', 'a', 'b'], 'c']],
      ['(a < b) < c', ['<', ['<', 'a', 'b'], 'c']],
      ['f()()', ['call', ['call', 'f']]],
    ];
    for (const [text, want] of cases) expect(shape(expr(text)), text).toEqual(want);
  });

  it('records operator, bracket and keyword positions', () => {
    expect(expr('a not in b')).toMatchObject({ opPos: 2, span: { start: 0, end: 10 } });
    expect(expr('f(a, *b, c = 1, **d)')).toMatchObject({
      kind: 'CallExpr',
      lparen: 1,
      span: { start: 0, end: 20 },
      args: [
        { kind: 'PosArg', span: { start: 2, end: 3 } },
        { kind: 'StarArg', span: { start: 5, end: 7 } },
        { kind: 'KwArg', name: { name: 'c' }, span: { start: 9, end: 14 } },
        { kind: 'StarStarArg', span: { start: 16, end: 19 } },
      ],
    });
    expect(expr('x.y[1]')).toMatchObject({ kind: 'IndexExpr', lbrack: 3, x: { kind: 'DotExpr', dot: 1, span: { start: 0, end: 3 } } });
    expect(expr('{1: 2, 3 : 4}')).toMatchObject({ entries: [{ colon: 2, span: { start: 1, end: 5 } }, { colon: 9 }] });
    expect(expr('lambda x, y = 1: x')).toMatchObject({ kind: 'LambdaExpr', lambdaPos: 0, params: [{ kind: 'Param' }, { kind: 'Param', default: {} }] });
    expect(expr('lambda: 0')).toMatchObject({ params: [], body: { kind: 'Literal' } });
    expect(expr('[x for x in y]')).toMatchObject({ clauses: [{ kind: 'ForClause', forPos: 3, span: { start: 3, end: 13 } }] });
    expect(expr('-x')).toMatchObject({ kind: 'UnaryExpr', op: '-', span: { start: 0, end: 2 } });
  });

  it('parses slices', () => {
    const sl = (t: string): unknown => {
      const e = expr(t);
      if (e.kind !== 'SliceExpr') return e.kind;
      return [e.lo && 'lo', e.hi && 'hi', e.step && 'step'].filter(Boolean).join(',');
    };
    expect(sl('x[a]')).toBe('IndexExpr');
    expect(sl('x[a:]')).toBe('lo');
    expect(sl('x[:b]')).toBe('hi');
    expect(sl('x[::c]')).toBe('step');
    expect(sl('x[a:b:c]')).toBe('lo,hi,step');
    expect(sl('x[:]')).toBe('');
    expect(sl('x[::]')).toBe('');
    expect(sl('x[a::c]')).toBe('lo,step');
    expect(expr('x[1, 2:]')).toMatchObject({ kind: 'SliceExpr', lo: { kind: 'TupleExpr' }, lbrack: 1 });
    expect(expr('x[1, 2]')).toMatchObject({ kind: 'IndexExpr', index: { kind: 'TupleExpr' } });
  });

  it('parses comprehensions with several for and if clauses', () => {
    expect(strip(expr('[x * y for x in a if x for y in b if y if z]'))).toMatchObject({
      kind: 'Comprehension',
      curly: false,
      clauses: [{ kind: 'ForClause' }, { kind: 'IfClause' }, { kind: 'ForClause' }, { kind: 'IfClause' }, { kind: 'IfClause' }],
    });
    expect(expr('{k: v for k, v in x}')).toMatchObject({ curly: true, body: { kind: 'DictEntry' }, clauses: [{ vars: { kind: 'TupleExpr' } }] });
    expect(expr('[x for x in (lambda: True, lambda: False) if x()]')).toMatchObject({ kind: 'Comprehension' });
    expect(expr('[a for b in c if lambda: d]')).toMatchObject({ clauses: [{}, { cond: { kind: 'LambdaExpr' } }] });
    expect(expr('[a if b else c for d in e]')).toMatchObject({ body: { kind: 'CondExpr' } });
  });

  it('parses literals, tuples, lists and dicts', () => {
    expect(expr('()')).toMatchObject({ kind: 'TupleExpr', elems: [], span: { start: 0, end: 2 } });
    expect(expr('(1,)')).toMatchObject({ kind: 'ParenExpr', x: { kind: 'TupleExpr', elems: [{}] } });
    expect(expr('(1)')).toMatchObject({ kind: 'ParenExpr', x: { kind: 'Literal' } });
    expect(expr('1, 2')).toMatchObject({ kind: 'TupleExpr', span: { start: 0, end: 4 } });
    expect(expr('[1, 2,]')).toMatchObject({ kind: 'ListExpr', elems: [{}, {}] });
    expect(expr('{}')).toMatchObject({ kind: 'DictExpr', entries: [] });
    expect(expr('{1: 2,}')).toMatchObject({ kind: 'DictExpr', entries: [{}] });
    expect(expr('0x10')).toEqual({ kind: 'Literal', type: 'int', value: 16, raw: '0x10', span: { start: 0, end: 4 } });
    expect(expr('12345678901234567890')).toMatchObject({ type: 'int', value: 12345678901234567890n });
    expect(expr('1.5')).toMatchObject({ type: 'float', value: 1.5, raw: '1.5' });
    expect(expr('"é"')).toMatchObject({ type: 'string', value: '\xc3\xa9', raw: '"é"' });
    expect(expr("b'\\xff'")).toMatchObject({ type: 'bytes', value: '\xff' });
  });

  it('parseExpr accepts one expression and an optional newline', () => {
    expect(expr('a, b\n')).toMatchObject({ kind: 'TupleExpr' });
    expect(parseError('a\nb', true)).toMatchObject({ line: 2, column: 1, msg: 'got identifier after expression, want EOF' });
    expect(parseError('a = 1', true)).toMatchObject({ line: 1, column: 3, msg: "got '=' after expression, want EOF" });
    expect(parseError('', true)).toMatchObject({ line: 1, column: 1, msg: 'got end of file, want primary expression' });
  });

  it('gives every node a span inside its parent and the source', () => {
    const src = [
      'load("m", "a", b = "c")',
      '@d(1)',
      'def f(a, b = [1, {2: 3}], *c, d, **e):',
      '    x = [i * -j for i, j in z if i not in (1, 2)][1:2:3]',
      '    y = lambda q, *r: q.s(r, t = 1, *u, **v) if q else ~q',
      '    if a: return 1',
      '    elif b:',
      '        for k in x, y: pass',
      '    else:',
      '        while c: break',
      '    z += {"k": (1,), \'v\': ()}["k"]',
      '',
    ].join('\n');
    let count = 0;
    for (const [n, parent] of nodes(parse(src).stmts)) {
      count++;
      expect(n.span.start).toBeLessThanOrEqual(n.span.end);
      expect(n.span.start).toBeGreaterThanOrEqual(0);
      expect(n.span.end).toBeLessThanOrEqual(src.length);
      if (parent) {
        expect(n.span.start, `${n.kind} in ${parent.kind}`).toBeGreaterThanOrEqual(parent.span.start);
        expect(n.span.end, `${n.kind} in ${parent.kind}`).toBeLessThanOrEqual(parent.span.end);
      }
      if (n.kind === 'Ident') expect(textOf(src, n)).toBe(n.name);
      if (n.kind === 'Literal') expect(textOf(src, n)).toBe(n.raw);
    }
    expect(count).toBeGreaterThan(80);
  });
});

describe('parse errors', () => {
  // [source, message, line, column]: go.starlark.net's syntax/testdata/errors.star and more.
  const cases: [string, string, number, number][] = [
    ['x = 1 +\n2', 'got newline, want primary expression', 1, 8],
    ['x = 1 +', 'got end of file, want primary expression', 1, 8],
    ['_ = *x', "got '*', want primary expression", 1, 5],
    ['def f(a, *-b, c):\n  pass', "got '-', want ','", 1, 11],
    ['def pass():\n  pass', 'not an identifier', 1, 5],
    ['def f :', "got ':', want '('", 1, 7],
    ['def f(a b): pass', "got identifier, want ','", 1, 9],
    ['def f(1): pass', 'not an identifier', 1, 7],
    ['def f(a,,): pass', 'not an identifier', 1, 9],
    ['def f(**): pass', 'not an identifier', 1, 9],
    ['def f(a=): pass', "got ')', want primary expression", 1, 9],
    ['def f(a): pass x', "got identifier, want newline", 1, 16],
    ['f(a=1, *, b=2)', "got ',', want primary expression", 1, 9],
    ['f(a b)', "got identifier, want ','", 1, 5],
    ['f(,)', "got ',', want primary expression", 1, 3],
    ['f(1+2 = 3)', 'keyword argument must have form name=expr', 1, 7],
    ['f(a=1=2)', "got '=', want ','", 1, 6],
    ['print(1, 2, 3\n', "got end of file, want ')'", 2, 1],
    ['_ = {x for y in z}', "got for, want ':'", 1, 8],
    ['_ = {1: 2 3: 4}', "got int literal, want '}'", 1, 11],
    ['_ = {1: 2, ]', "got ']', want primary expression", 1, 12],
    ['_ = [x for x in lambda: True, lambda: False if x()]', 'got lambda, want primary expression', 1, 17],
    ['_ = [x for x in 1, 2, 3]', "got ',', want ']', for, or if", 1, 18],
    ['_ = [a for b in c if 1, 2]', "got ',', want ']', for, or if", 1, 23],
    ['_ = [a for b in c if lambda: d if e else f]', "got else, want ']', for, or if", 1, 37],
    ['_ = [a for b in lambda: c]', 'got lambda, want primary expression', 1, 17],
    ['_ = [x for x in a if b else c]', "got else, want ']', for, or if", 1, 24],
    ['[a for b in c else d]', "got else, want ']', for, or if", 1, 15],
    ['_ = [1 2]', "got int literal, want ']'", 1, 8],
    ['_ = [1, :]', "got ':', want primary expression", 1, 9],
    ['_ = [', 'got end of file, want primary expression', 1, 6],
    ['_ = (x for x in y)', "got for, want ')'", 1, 8],
    ['for x, in y: pass', 'got in, want primary expression', 1, 8],
    ['for x y: pass', 'got identifier, want in', 1, 7],
    ['_ = 0 == 1 == 2', '== does not associate with == (use parens)', 1, 12],
    ['_ = 0 <= i < n', '<= does not associate with < (use parens)', 1, 12],
    ['_ = a in b not in c', 'in does not associate with not in (use parens)', 1, 12],
    ['_ = a + b not c', 'got identifier, want in', 1, 15],
    ['_ = a if b', 'conditional expression without else clause', 1, 7],
    ['_ = a == not b', 'got not, want primary expression', 1, 10],
    ['_ = a ** b', "got '**', want newline", 1, 7],
    ['_ = lambda x y: 1', "got identifier, want ','", 1, 14],
    ['_ = lambda x,: 1', 'not an identifier', 1, 14],
    ['_ = lambda 1: 1', 'not an identifier', 1, 12],
    ['load("")', 'load statement must import at least 1 symbol', 1, 5],
    ['load("", 1)', 'load operand must be "name" or localname="name" (got int literal)', 1, 10],
    ['load(1, 2)', 'first operand of load statement must be a string literal', 1, 6],
    ['load(b"m", "x")', 'first operand of load statement must be a string literal', 1, 6],
    ['load("a", x)', 'load operand must be "x" or x="originalname" (want \'=\' after x)', 1, 12],
    ['load("a", x2=x)', 'original name of loaded symbol must be quoted: x2="originalname"', 1, 14],
    ['load("a", "x" "y")', "got string literal, want ','", 1, 15],
    ['load = 1', "got '=', want '('", 1, 6],
    ['f(load())', 'got load, want primary expression', 1, 3],
    ['def load():\n  pass', 'not an identifier', 1, 5],
    ['def f(load):\n  pass', 'not an identifier', 1, 7],
    ['print 1 2', 'got int literal, want newline', 1, 7],
    ['x = "a" "b"', 'got string literal, want newline', 1, 9],
    ['x[1, 2,:]', "got ':', want primary expression", 1, 8],
    ['x[]', "got ']', want primary expression", 1, 3],
    ['x[1:)', "got ')', want primary expression", 1, 5],
    ['x[1::)', "got ')', want primary expression", 1, 6],
    ['x[1 2]', "got int literal, want ']'", 1, 5],
    ['a, b, = 1, 2', 'unparenthesized tuple with trailing comma', 1, 5],
    ['a, b = 1, 2,', 'unparenthesized tuple with trailing comma', 1, 12],
    ['x[1,]', 'unparenthesized tuple with trailing comma', 1, 4],
    ['return 1,', 'unparenthesized tuple with trailing comma', 1, 9],
    ['a = b = 1', "got '=', want newline", 1, 7],
    ['x = 1;;', "got ';', want primary expression", 1, 7],
    ['return else', 'got else, want primary expression', 1, 8],
    ['  x = 1', 'got indent, want primary expression', 1, 3],
    ['x = 1\n  y = 2', 'got indent, want primary expression', 2, 3],
    ['def f():\n  x\n    y', 'got indent, want primary expression', 3, 5],
    ['if x:\ny', 'got identifier, want indent', 2, 1],
    ['if x:', 'got end of file, want primary expression', 1, 6],
    ['def f():\n  if x:', 'got outdent, want indent', 2, 8],
    ['if x\n  pass', "got newline, want ':'", 1, 5],
    ['else: pass', 'got else, want primary expression', 1, 1],
    ['x.(1)', 'not an identifier', 1, 3],
    ['x.1', 'got float literal, want newline', 1, 2],
    ['x.class', 'not an identifier', 1, 3],
    ['class = 1', 'got class, want primary expression', 1, 1],
    ['def f(x, import): pass', 'not an identifier', 1, 10],
    ['@dec\nx = 1', 'got identifier, want def', 2, 1],
    ['@dec', 'got end of file, want def', 1, 5],
    ['while x', "got end of file, want ':'", 1, 8],
    // Lexical errors; a syntax error met before the bad token wins, as in Go.
    ['def f():\n  pass\n pass', 'unindent does not match any outer indentation level', 3, 2],
    ["raw = r'a\nb'", 'unexpected newline in string', 1, 7],
    ['a = max(range(10)))', "unexpected ')'", 1, 19],
    ['s = "\\x-0"', 'invalid escape sequence \\x-0', 1, 5],
    ['x = = 1 $', "got '=', want primary expression", 1, 5],
    ['x = $', "unexpected input character '$'", 1, 5],
    ['x = 1 +\n$', "got newline, want primary expression", 1, 8],
    ['f(1, $', "unexpected input character '$'", 1, 6],
    // Invalid assignment targets (reported once the whole file has parsed, as Go's resolver does).
    ['f() = 1', "can't assign to function call", 1, 1],
    ['1 = x', "can't assign to literal", 1, 1],
    ['a + b += 1', "can't assign to binary expression", 1, 1],
    ['() += x', "can't use tuple expression in augmented assignment", 1, 1],
    ['[] -= x', "can't use list expression in augmented assignment", 1, 1],
    ['a, b += 1', "can't use tuple expression in augmented assignment", 1, 1],
    ['(a, b) += 1', "can't use tuple expression in augmented assignment", 1, 2],
    ['[a] -= 1', "can't use list expression in augmented assignment", 1, 1],
    ['for f() in x: pass', "can't assign to function call", 1, 5],
    ['_ = [1 for -x in y]', "can't assign to unary expression", 1, 12],
    ['x[1:2] = y', "can't assign to slice expression", 1, 1],
    ['(a, f()) = y', "can't assign to function call", 1, 5],
  ];

  it.each(cases)('%j: %s at %i:%i', (text, msg, line, column) => {
    const err = parseError(text);
    expect(err).toMatchObject({ kind: 'parse', line, column, msg });
    expect(err.message.split('\n')[0]).toBe(`t.star:${line}:${column}: ${msg}`);
  });

  it('reports every lexical error at once', () => {
    const err = parseError('x = $\ny = "\\q"\nz = 0x\n');
    expect(err.diagnostics.map((d) => d.message)).toEqual([
      "unexpected input character '$'",
      'invalid escape sequence \\q',
      'invalid hex literal',
    ]);
  });

  it('reports every invalid assignment target', () => {
    const err = parseError('f() = 1\ng() = 2\n');
    expect(err.diagnostics.map((d) => [d.message, err.diagnostics.indexOf(d)])).toEqual([
      ["can't assign to function call", 0],
      ["can't assign to function call", 1],
    ]);
  });

  it('prefers a syntax error to a later invalid target', () => {
    expect(parseError('f() = 1\nx = (')).toMatchObject({ line: 2, msg: 'got end of file, want primary expression' });
  });

  it('turns runaway nesting into a ParseError', () => {
    const err = parseError('x = ' + '('.repeat(20000) + '1' + ')'.repeat(20000));
    expect(err).toBeInstanceOf(ParseError);
    expect(err.msg).toBe('nesting too deep');
    // The parser is still usable afterwards.
    expect(parse('x = ((((1))))').stmts).toHaveLength(1);
  });

  it('renders a code frame', () => {
    expect(parseError('x = 1 +\n').render()).toBe('t.star:1:8: got newline, want primary expression\nx = 1 +\n       ^');
  });
});

describe('the grammar', () => {
  it('passes chevrotain validations (ambiguities, left recursion)', () => {
    expect(() => createParser({ validate: true })).not.toThrow();
  });

  it('parses the same with eagerly and lazily computed lookahead', () => {
    const eager = createParser({ validate: true });
    const inputs = [...CORPUS, ...CORPUS.map((p) => p.slice(0, Math.floor(p.length / 2))), 'x = (', 'f(a b)', '[1 for]'];
    for (const text of inputs) {
      const outcome = (f: (s: Source) => unknown): unknown => {
        try {
          return f(new Source('t.star', text));
        } catch (e) {
          return (e as ParseError).message;
        }
      };
      expect(outcome(eager.parseFile)).toEqual(outcome((s) => parse(s.text)));
    }
  });

  it('parses a 5,000-line file in well under a second', () => {
    const chunk = [
      'def f_N(a, b = [1, 2, 3], *args, **kwargs):',
      '    """Docstring for f_N."""',
      '    total = 0',
      '    for i, x in enumerate(args):',
      '        if x % 2 == 0 and i not in b:',
      '            total += x * a',
      '        elif x:',
      '            total -= {"k": x, "v": [y for y in b if y > i]}["k"]',
      '        else:',
      '            continue',
      '    return total if total > 0 else -total',
      '',
    ];
    const lines: string[] = [];
    for (let n = 0; lines.length < 5000; n++) lines.push(...chunk.map((l) => l.replace(/N/g, String(n))));
    const text = lines.join('\n');
    parse(chunk.join('\n')); // warm up
    const t0 = performance.now();
    const file = parse(text);
    const ms = performance.now() - t0;
    expect(file.stmts.length).toBeGreaterThan(400);
    console.log(`parsed ${lines.length} lines (${text.length} chars) in ${ms.toFixed(1)} ms`);
    expect(ms).toBeLessThan(1000);
  });
});
