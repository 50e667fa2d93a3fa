/**
 * Unit tests of the math module (stdlib/math.ts), calling the builtins directly with a fake thread.
 * Expected values, special cases and error messages are those of go.starlark.net's lib/math (and
 * of Go's math package where JS's Math differs).
 */
import { describe, expect, it } from 'vitest';
import { EvalError } from '../../src/interpreter/errors.js';
import { Builtin, equals, Float, repr, type KwArgs, type ThreadContext, type Value } from '../../src/interpreter/values/index.js';
import { gamma, math } from '../../src/stdlib/math.js';

const th: ThreadContext = {
  name: 't',
  print() {},
  charge() {},
  work() {},
  call() {
    throw new Error('unexpected call');
  },
  locals: new Map(),
};

function call(name: string, args: Value[], kwargs: KwArgs | null = null): Value {
  return (math.getAttr(name) as Builtin).impl(th, args, kwargs, null) as Value;
}
const f = (v: number): Float => new Float(v);
/** The float result of math.name(...args). */
function fl(name: string, ...args: Value[]): number {
  const r = call(name, args);
  expect(r).toBeInstanceOf(Float);
  return (r as Float).v;
}
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof EvalError) return e.message;
    throw e;
  }
  throw new Error('no error');
}
const inf = Infinity;
const nan = NaN;

describe('math module', () => {
  it('has the reference members', () => {
    expect(math.attrNames()).toEqual([
      'acos', 'acosh', 'asin', 'asinh', 'atan', 'atan2', 'atanh', 'ceil', 'copysign', 'cos', 'cosh', 'degrees', 'e', 'exp',
      'fabs', 'floor', 'gamma', 'hypot', 'log', 'mod', 'pi', 'pow', 'radians', 'remainder', 'round', 'sin', 'sinh', 'sqrt',
      'tan', 'tanh',
    ]);
    expect(repr(math)).toBe('<module "math">');
    expect(repr(math.getAttr('e')!)).toBe('2.718281828459045');
    expect(repr(math.getAttr('pi')!)).toBe('3.141592653589793');
  });

  it('ceil and floor return ints', () => {
    expect(call('ceil', [f(0.4)])).toBe(1);
    expect(call('ceil', [f(-0.5)])).toBe(0);
    expect(call('ceil', [10])).toBe(10);
    expect(call('ceil', [2n ** 70n])).toBe(2n ** 70n);
    expect(call('floor', [f(-0.5)])).toBe(-1);
    expect(call('floor', [f(0.5)])).toBe(0);
    expect(call('floor', [f(-0)])).toBe(0);
    expect(call('ceil', [f(2 ** 63 + 0.5)])).toBe(2n ** 63n);
    expect(errorOf(() => call('ceil', [f(inf)]))).toBe('cannot convert float infinity to integer');
    expect(errorOf(() => call('floor', [f(-inf)]))).toBe('cannot convert float infinity to integer');
    expect(errorOf(() => call('ceil', [f(nan)]))).toBe('cannot convert float NaN to integer');
    expect(errorOf(() => call('ceil', ['0']))).toBe('got string, want float or int');
    expect(errorOf(() => call('floor', []))).toBe('floor: got 0 arguments, want 1');
  });

  it('round rounds half away from zero', () => {
    expect(fl('round', f(0.5))).toBe(1);
    expect(fl('round', f(-0.5))).toBe(-1);
    expect(fl('round', f(2.5))).toBe(3);
    expect(fl('round', f(0.49999999999999994))).toBe(0);
    expect(Object.is(fl('round', f(-0.4)), -0)).toBe(true);
    expect(fl('round', f(inf))).toBe(inf);
    expect(fl('round', f(nan))).toBeNaN();
    expect(fl('round', 7)).toBe(7);
  });

  it('fabs, mod, pow, copysign, remainder', () => {
    expect(fl('fabs', -2)).toBe(2);
    expect(fl('fabs', f(-inf))).toBe(inf);
    expect(fl('mod', 5, 3)).toBe(2);
    expect(fl('mod', -5, 3)).toBe(-2);
    expect(fl('mod', f(1), f(0))).toBeNaN();
    expect(fl('mod', f(1), f(-inf))).toBe(1);
    expect(fl('pow', 5, 3)).toBe(125);
    expect(fl('pow', f(1.1), f(-inf))).toBe(0);
    expect(fl('pow', 1, f(nan))).toBe(1);
    expect(fl('pow', -1, f(inf))).toBe(1);
    expect(fl('pow', f(nan), 0)).toBe(1);
    expect(fl('copysign', f(3.2), -1)).toBe(-3.2);
    expect(fl('copysign', -1, f(nan))).toBe(1);
    expect(fl('copysign', 1, f(-0))).toBe(-1);
    expect(fl('remainder', 3, 5)).toBe(-2);
    expect(fl('remainder', 5, 2)).toBe(1);
    expect(fl('remainder', 7, 2)).toBe(-1);
    expect(fl('remainder', f(-7.5), 2)).toBe(0.5);
    expect(fl('remainder', 1, 0)).toBeNaN();
    expect(fl('remainder', 2, f(-inf))).toBe(2);
    expect(fl('remainder', f(inf), 1)).toBeNaN();
  });

  it('exp, sqrt, log', () => {
    expect(fl('exp', 1)).toBe(Math.E);
    expect(fl('exp', f(-inf))).toBe(0);
    expect(fl('sqrt', 4)).toBe(2);
    expect(fl('sqrt', -4)).toBeNaN();
    expect(fl('log', f(Math.E))).toBe(1);
    expect(fl('log', 10, 10)).toBe(1);
    expect(fl('log', 8, 2)).toBe(3);
    expect(fl('log', 0)).toBe(-inf);
    expect(fl('log', -1)).toBeNaN();
    expect(errorOf(() => call('log', [2, 1]))).toBe('division by zero');
    expect(errorOf(() => call('log', [10, '10']))).toBe('log: for parameter 2: got string, want float or int');
    expect(errorOf(() => call('log', [1, 2, 3]))).toBe('log: got 3 arguments, want at most 2');
  });

  it('trigonometric and hyperbolic functions', () => {
    expect(fl('acos', 1)).toBe(0);
    expect(fl('acos', -1)).toBe(Math.PI);
    expect(fl('asin', 1)).toBe(Math.PI / 2);
    expect(fl('atan', f(inf))).toBe(Math.PI / 2);
    expect(fl('atan2', f(-0), -10)).toBe(-Math.PI);
    expect(fl('atan2', f(-inf), f(-inf))).toBe((-3 * Math.PI) / 4);
    expect(fl('cos', f(Math.PI))).toBe(-1);
    expect(fl('hypot', 4, 3)).toBe(5);
    expect(fl('hypot', f(nan), f(inf))).toBe(inf);
    expect(fl('sin', f(Math.PI / 2))).toBe(1);
    expect(fl('tan', 0)).toBe(0);
    expect(fl('degrees', 1)).toBe(57.29577951308232);
    expect(fl('radians', 1)).toBe(0.017453292519943295);
    expect(fl('acosh', 1)).toBe(0);
    expect(fl('asinh', f(-inf))).toBe(-inf);
    expect(fl('atanh', f(0.5))).toBe(0.5493061443340548);
    expect(fl('atanh', 1)).toBe(inf);
    expect(fl('cosh', 1)).toBe(1.5430806348152437);
    expect(fl('sinh', 1)).toBe(1.1752011936438014);
    expect(fl('tanh', 1)).toBe(0.7615941559557649);
    expect(fl('tanh', f(-inf))).toBe(-1);
  });

  it('gamma follows Go', () => {
    expect(fl('gamma', 1)).toBe(1);
    expect(fl('gamma', f(5))).toBe(24);
    expect(fl('gamma', 0)).toBe(inf);
    expect(fl('gamma', f(-0))).toBe(-inf);
    expect(fl('gamma', -1)).toBeNaN();
    expect(fl('gamma', f(-inf))).toBeNaN();
    expect(fl('gamma', f(inf))).toBe(inf);
    expect(gamma(0.5)).toBeCloseTo(Math.sqrt(Math.PI), 14);
    expect(gamma(-0.5)).toBeCloseTo(-2 * Math.sqrt(Math.PI), 14);
    expect(gamma(10)).toBe(362880);
    expect(gamma(50) / 6.082818640342675e62).toBeCloseTo(1, 12);
    expect(gamma(-40.5) / -6.031660822178508e-49).toBeCloseTo(1, 12);
    expect(gamma(3.7)).toBeCloseTo(4.170651783796604, 14);
    expect(gamma(-2.3)).toBeCloseTo(-1.4471073942559183, 14);
    expect(gamma(172)).toBe(inf);
    expect(gamma(1e-10)).toBeCloseTo(1e10, -1);
  });

  it('accepts ints and floats, big ints included', () => {
    expect(fl('sqrt', 2n ** 100n)).toBe(2 ** 50);
    expect(fl('sqrt', 10n ** 400n)).toBe(inf);
    expect(errorOf(() => call('sqrt', ['0']))).toBe('sqrt: for parameter 1: got string, want float or int');
    expect(errorOf(() => call('atan2', [f(1), '0']))).toBe('atan2: for parameter 2: got string, want float or int');
    expect(errorOf(() => call('sin', [true]))).toBe('sin: for parameter 1: got bool, want float or int');
    expect(errorOf(() => call('sin', [1], [['x', 1]]))).toBe('sin: unexpected keyword arguments');
    expect(equals(call('pow', [2, 10]), 1024)).toBe(true);
  });
});
