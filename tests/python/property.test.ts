/**
 * Property: a generated workflow body in the subset Python and Starlark share (assignments,
 * arithmetic, if/else, for over range, list/dict literals, calls to two tasks, return) written once
 * as Python (with annotations, a docstring, comments and task bodies as noise) and once as
 * Starlark gives the same result on the test engine with the same fake tasks, and the compiled
 * Python keeps the lines of the .py.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePythonWorkflow } from '../../src/python/index.js';
import { numbered, runCompiled, type FakeImpl } from './helpers.js';

type E =
  | { readonly k: 'int'; readonly v: number }
  | { readonly k: 'var'; readonly i: number }
  | { readonly k: 'bin'; readonly op: '+' | '-'; readonly l: E; readonly r: E }
  | { readonly k: 'mul'; readonly l: E; readonly c: number }
  | { readonly k: 'div'; readonly op: '//' | '%'; readonly l: E; readonly d: number }
  | { readonly k: 'len'; readonly elts: readonly E[] }
  | { readonly k: 'dict'; readonly v: E }
  | { readonly k: 'cond'; readonly c: C; readonly a: E; readonly b: E };
type C = { readonly op: '<' | '<=' | '==' | '!=' | '>' | '>='; readonly l: E; readonly r: E };
type S =
  | { readonly k: 'assign'; readonly i: number; readonly e: E }
  | { readonly k: 'aug'; readonly i: number; readonly e: E }
  | { readonly k: 'if'; readonly c: C; readonly body: readonly S[]; readonly orelse: readonly S[] }
  | { readonly k: 'for'; readonly n: number; readonly body: readonly S[]; readonly use: number }
  | { readonly k: 't1'; readonly i: number; readonly a: E }
  | { readonly k: 't2'; readonly i: number; readonly a: E; readonly b: E };

const NVARS = 4;

const exprArb: fc.Arbitrary<E> = fc.letrec<{ e: E; c: C }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ k: fc.constant('int' as const), v: fc.integer({ min: -20, max: 20 }) }),
    fc.record({ k: fc.constant('var' as const), i: fc.nat(NVARS - 1) }),
    fc.record({ k: fc.constant('bin' as const), op: fc.constantFrom('+' as const, '-' as const), l: tie('e'), r: tie('e') }),
    fc.record({ k: fc.constant('mul' as const), l: tie('e'), c: fc.integer({ min: -3, max: 3 }) }),
    fc.record({ k: fc.constant('div' as const), op: fc.constantFrom('//' as const, '%' as const), l: tie('e'), d: fc.integer({ min: 1, max: 5 }) }),
    fc.record({ k: fc.constant('len' as const), elts: fc.array(tie('e'), { maxLength: 3 }) }),
    fc.record({ k: fc.constant('dict' as const), v: tie('e') }),
    fc.record({ k: fc.constant('cond' as const), c: tie('c'), a: tie('e'), b: tie('e') }),
  ),
  c: fc.record({ op: fc.constantFrom('<' as const, '<=' as const, '==' as const, '!=' as const, '>' as const, '>=' as const), l: tie('e'), r: tie('e') }),
})).e;

const condArb: fc.Arbitrary<C> = fc.record({ op: fc.constantFrom('<' as const, '<=' as const, '==' as const, '!=' as const, '>' as const, '>=' as const), l: exprArb, r: exprArb });

const stmtArb: fc.Arbitrary<S> = fc.letrec<{ s: S; b: S[] }>((tie) => ({
  s: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ k: fc.constant('assign' as const), i: fc.nat(NVARS - 1), e: exprArb }),
    fc.record({ k: fc.constant('aug' as const), i: fc.nat(NVARS - 1), e: exprArb }),
    fc.record({ k: fc.constant('t1' as const), i: fc.nat(NVARS - 1), a: exprArb }),
    fc.record({ k: fc.constant('t2' as const), i: fc.nat(NVARS - 1), a: exprArb, b: exprArb }),
    fc.record({ k: fc.constant('if' as const), c: condArb, body: tie('b'), orelse: fc.oneof(fc.constant([] as S[]), tie('b')) }),
    fc.record({ k: fc.constant('for' as const), n: fc.integer({ min: 0, max: 3 }), body: tie('b'), use: fc.nat(NVARS - 1) }),
  ),
  b: fc.array(tie('s'), { minLength: 1, maxLength: 3 }),
})).s;

const bodyArb = fc.array(stmtArb, { minLength: 1, maxLength: 6 });

function expr(e: E): string {
  switch (e.k) {
    case 'int':
      return e.v < 0 ? `(${e.v})` : String(e.v);
    case 'var':
      return `v${e.i}`;
    case 'bin':
      return `(${expr(e.l)} ${e.op} ${expr(e.r)})`;
    case 'mul':
      return `(${expr(e.l)} * ${e.c < 0 ? `(${e.c})` : e.c})`;
    case 'div':
      return `(${expr(e.l)} ${e.op} ${e.d})`;
    case 'len':
      return `len([${e.elts.map(expr).join(', ')}])`;
    case 'dict':
      return `{"a": ${expr(e.v)}}["a"]`;
    case 'cond':
      return `(${expr(e.a)} if ${cond(e.c)} else ${expr(e.b)})`;
  }
}

function cond(c: C): string {
  return `${expr(c.l)} ${c.op} ${expr(c.r)}`;
}

/** Renders statements; `python` adds noise lines (comments, annotations) that the compiler must drop. */
function stmts(list: readonly S[], indent: string, python: boolean, depth: number, out: string[]): void {
  for (const s of list) {
    switch (s.k) {
      case 'assign':
        out.push(`${indent}v${s.i}${python && depth === 0 ? ': int' : ''} = ${expr(s.e)}`);
        break;
      case 'aug':
        out.push(`${indent}v${s.i} += ${expr(s.e)}`);
        break;
      case 't1':
        out.push(`${indent}v${s.i} = t1(${expr(s.a)})`);
        break;
      case 't2':
        out.push(`${indent}v${s.i} = t2(${expr(s.a)}, k=${expr(s.b)})`);
        break;
      case 'if':
        out.push(`${indent}if ${cond(s.c)}:`);
        if (python) out.push(`${indent}    # the then branch`);
        stmts(s.body, indent + '    ', python, depth + 1, out);
        if (s.orelse.length > 0) {
          out.push(`${indent}else:`);
          stmts(s.orelse, indent + '    ', python, depth + 1, out);
        }
        break;
      case 'for':
        out.push(`${indent}for j${depth} in range(${s.n}):`);
        stmts(s.body, indent + '    ', python, depth + 1, out);
        out.push(`${indent}    v${s.use} += j${depth}`);
        break;
    }
  }
}

function pythonFile(body: readonly S[]): string {
  const out = [
    'import michelangelo.uniflow.core as uniflow',
    'import numpy as np',
    '',
    '@uniflow.task()',
    'def t1(x: int) -> int:',
    '    """Python task body: never compiled."""',
    '    try:',
    '        return int(np.int64(x) * 3 + 1)',
    '    except OverflowError as e:',
    '        raise RuntimeError(f"{e!s:>10}") from e',
    '',
    '@uniflow.task(retry_attempts=0)',
    'def t2(x, k):',
    '    return x - k',
    '',
    '@uniflow.workflow()',
    'def w(a: int, b: int = 2) -> list:',
    '    """A generated workflow.',
    '',
    '    It returns its variables."""',
    '    v0: int = a',
    '    v1 = b  # a comment',
    '    v2: int = 0',
    '    v3 = 1',
  ];
  stmts(body, '    ', true, 0, out);
  out.push('    return [v0, v1, v2, v3]', '', 'if __name__ == "__main__":', '    ctx = uniflow.create_context()', '    ctx.run(w, a=3)', '');
  return out.join('\n');
}

function starlarkFile(body: readonly S[]): string {
  const out = ['t1 = task("t1")', 't2 = task("t2")', '@workflow()', 'def w(a, b = 2):', '    v0 = a', '    v1 = b', '    v2 = 0', '    v3 = 1'];
  stmts(body, '    ', false, 0, out);
  out.push('    return [v0, v1, v2, v3]');
  return out.join('\n');
}

const IMPLS: Record<string, FakeImpl> = {
  t1: (args) => (args[0] as number) * 3 + 1,
  t2: (args, kwargs) => (args[0] as number) - (kwargs['k'] as number),
};

describe('compiled Python agrees with hand-written Starlark', () => {
  it('on generated workflow bodies (same result, same task calls)', async () => {
    await fc.assert(
      fc.asyncProperty(bodyArb, fc.integer({ min: -10, max: 10 }), async (body, a) => {
        const py = pythonFile(body);
        const c = compilePythonWorkflow(py, 'gen.py');
        expect(c.starlark.split('\n').length).toBe(py.split('\n').length);
        expect(c.defaults).toEqual({ workflow: 'w', kwargs: { a: 3 }, env: {} });
        // Every statement of the workflow starts on its .py line.
        const pyLines = py.split('\n');
        c.starlark.split('\n').forEach((l, k) => {
          if (/^\s+(v\d|if |for |else|return)/.test(l)) expect(pyLines[k]!.trim().startsWith(l.trim().split(/[ :=]/)[0]!), `${numbered(c.starlark)}`).toBe(true);
        });
        const want = await runCompiled(starlarkFile(body), 'w', { a }, IMPLS);
        const got = await runCompiled(c, 'w', { a }, IMPLS);
        expect(got.status, `${numbered(py)}\n---\n${numbered(c.starlark)}\n${JSON.stringify(got.error)}`).toBe(want.status);
        expect(got.result, `${numbered(py)}\n---\n${numbered(c.starlark)}`).toEqual(want.result);
        expect(got.calls).toEqual(want.calls);
      }),
      { numRuns: 40 },
    );
  });
});
