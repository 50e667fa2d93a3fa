/**
 * This file defines the `math` module (`load("math.star", "math")`), after go.starlark.net's
 * lib/math: the functions ceil, copysign, fabs, floor, mod, pow, remainder, round, exp, sqrt, acos,
 * asin, atan, atan2, cos, hypot, sin, tan, degrees, radians, acosh, asinh, atanh, cosh, sinh, tanh,
 * log and gamma, and the constants e and pi. Every function accepts ints and floats; all but ceil
 * and floor return a float. Where JS's Math differs from Go's math package on special values (pow,
 * round, remainder, copysign, gamma), the Go behaviour is implemented here.
 */
import { EvalError } from '../interpreter/errors.js';
import {
  Builtin,
  Float,
  floatToInt,
  Module,
  typeName,
  unpackPositional,
  type KwArgs,
  type ThreadContext,
  type Value,
} from '../interpreter/values/index.js';

/** The reference's floatOrInt unpacker message ("got string, want float or int"). */
function wantNumber(v: Value): string {
  return `got ${typeName(v)}, want float or int`;
}

/** An int or float argument as a JS number, with the reference's error. */
function num(fnName: string, i: number, v: Value): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v); // as Go's Int.Float: ±Inf beyond the float range
  if (v instanceof Float) return v.v;
  throw new EvalError(`${fnName}: for parameter ${i + 1}: ${wantNumber(v)}`);
}

function unary(name: string, fn: (x: number) => number): Builtin {
  return new Builtin(name, (_th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
    unpackPositional(name, args, kwargs, 1);
    return new Float(fn(num(name, 0, args[0]!)));
  });
}

function binary(name: string, fn: (x: number, y: number) => number): Builtin {
  return new Builtin(name, (_th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
    unpackPositional(name, args, kwargs, 2);
    return new Float(fn(num(name, 0, args[0]!), num(name, 1, args[1]!)));
  });
}

/** ceil and floor: an int is returned unchanged; a float is rounded to an int (not a float). */
function rounding(name: string, fn: (x: number) => number): Builtin {
  return new Builtin(name, (_th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
    unpackPositional(name, args, kwargs, 1);
    const x = args[0]!;
    if (typeof x === 'number' || typeof x === 'bigint') return x;
    if (x instanceof Float) return floatToInt(fn(x.v));
    throw new EvalError(wantNumber(x));
  });
}

const f64 = new DataView(new ArrayBuffer(8));

/** The sign bit of a float (NaN included), as Go's math.Signbit. */
function signbit(x: number): boolean {
  f64.setFloat64(0, x);
  return (f64.getUint8(0) & 0x80) !== 0;
}

/** Go's math.Copysign: the magnitude of x with the sign bit of y. */
function copysign(x: number, y: number): number {
  const ax = Number.isNaN(x) ? x : Math.abs(x);
  return signbit(y) ? -ax : ax;
}

/** Go's math.Round: half away from zero (JS's Math.round rounds half up). */
function round(x: number): number {
  const t = Math.trunc(x);
  if (Math.abs(x - t) >= 0.5) return t + Math.sign(x);
  return t;
}

/** Go's math.Pow, which follows C99 where JS differs: pow(1, y) = 1 and pow(-1, ±Inf) = 1. */
function pow(x: number, y: number): number {
  if (x === 1) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return x ** y;
}

/** Go's math.Mod: the remainder of x/y with the sign of x (JS's % operator). */
function mod(x: number, y: number): number {
  return x % y;
}

/** Go's math.Remainder: the IEEE 754 remainder x - n*y, n the integer nearest x/y (ties to even). */
function remainder(x: number, y: number): number {
  if (Number.isNaN(x) || Number.isNaN(y) || !Number.isFinite(x) || y === 0) return NaN;
  if (!Number.isFinite(y)) return x;
  const neg = x < 0 || Object.is(x, -0);
  x = Math.abs(x);
  y = Math.abs(y);
  if (x === y) return neg ? -0 : 0;
  if (y <= Number.MAX_VALUE / 2) x = x % (y + y); // now x < 2y
  if (y < 2 * 2.2250738585072014e-308) {
    if (x + x > y) {
      x -= y;
      if (x + x >= y) x -= y;
    }
  } else {
    const half = 0.5 * y;
    if (x > half) {
      x -= y;
      if (x >= half) x -= y;
    }
  }
  return neg ? -x : x;
}

// The Gamma function, after the Cephes library (as Go's math.Gamma): a rational approximation on
// [2, 3] with the recurrence Γ(x+1) = xΓ(x) to reach it, and Stirling's formula beyond 33.
const GAM_P = [
  1.60119522476751861407e-4, 1.19135147006586384913e-3, 1.04213797561761569935e-2, 4.76367800457137231464e-2,
  2.0744822764843597515e-1, 4.94214826801497100753e-1, 9.99999999999999996796e-1,
];
const GAM_Q = [
  -2.31581873324120129819e-5, 5.39605580493303397842e-4, -4.45641913851797240494e-3, 1.18139785222060435552e-2,
  3.58236398605498653373e-2, -2.34591795718243348568e-1, 7.14304917030273074085e-2, 1.0000000000000000032,
];
const GAM_S = [
  7.87311395793093628397e-4, -2.2954996161337812638e-4, -2.68132617805781232825e-3, 3.4722222160545866731e-3,
  8.33333333333482257126e-2,
];
const EULER = 0.5772156649015329;

/** Stirling's formula for x >= 33, as a pair of factors (to avoid an intermediate overflow). */
function stirling(x: number): [number, number] {
  if (x > 200) return [Infinity, 1];
  const SQRT_TWO_PI = 2.5066282746310007;
  const MAX_STIRLING = 143.01608;
  let w = 1 / x;
  w = 1 + w * ((((GAM_S[0]! * w + GAM_S[1]!) * w + GAM_S[2]!) * w + GAM_S[3]!) * w + GAM_S[4]!);
  let y1 = Math.exp(x);
  let y2 = 1;
  if (x > MAX_STIRLING) {
    const v = Math.pow(x, 0.5 * x - 0.25);
    y2 = v / y1;
    y1 = v;
  } else {
    y1 = Math.pow(x, x - 0.5) / y1;
  }
  return [y1, SQRT_TWO_PI * w * y2];
}

/** Go's math.Gamma. */
export function gamma(x: number): number {
  if ((x < 0 && Number.isInteger(x)) || x === -Infinity || Number.isNaN(x)) return NaN;
  if (x === Infinity) return Infinity;
  if (x === 0) return signbit(x) ? -Infinity : Infinity;
  let q = Math.abs(x);
  let p = Math.floor(q);
  if (q > 33) {
    if (x >= 0) {
      const [y1, y2] = stirling(x);
      return y1 * y2;
    }
    // x is negative and not an integer.
    const signgam = p % 2 === 0 ? -1 : 1;
    let z = q - p;
    if (z > 0.5) {
      p = p + 1;
      z = q - p;
    }
    z = q * Math.sin(Math.PI * z);
    if (z === 0) return signgam * Infinity;
    const [sq1, sq2] = stirling(q);
    const absz = Math.abs(z);
    const d = absz * sq1 * sq2;
    z = Number.isFinite(d) ? Math.PI / d : Math.PI / absz / sq1 / sq2;
    return signgam * z;
  }
  // Reduce the argument to [2, 3).
  let z = 1;
  while (x >= 3) {
    x = x - 1;
    z = z * x;
  }
  const small = (): number => (x === 0 ? Infinity : z / ((1 + EULER * x) * x));
  while (x < 0) {
    if (x > -1e-9) return small();
    z = z / x;
    x = x + 1;
  }
  while (x < 2) {
    if (x < 1e-9) return small();
    z = z / x;
    x = x + 1;
  }
  if (x === 2) return z;
  x = x - 2;
  p = (((((x * GAM_P[0]! + GAM_P[1]!) * x + GAM_P[2]!) * x + GAM_P[3]!) * x + GAM_P[4]!) * x + GAM_P[5]!) * x + GAM_P[6]!;
  q = ((((((x * GAM_Q[0]! + GAM_Q[1]!) * x + GAM_Q[2]!) * x + GAM_Q[3]!) * x + GAM_Q[4]!) * x + GAM_Q[5]!) * x + GAM_Q[6]!) * x + GAM_Q[7]!;
  return (z * p) / q;
}

// https://github.com/google/starlark-go/blob/master/lib/math/math.go (log)
const log = new Builtin('log', (_th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
  unpackPositional('log', args, kwargs, 1, 2);
  const x = num('log', 0, args[0]!);
  const base = args.length > 1 ? num('log', 1, args[1]!) : Math.E;
  if (base === 1) throw new EvalError('division by zero');
  return new Float(Math.log(x) / Math.log(base));
});

/**
 * The `math` module: `load("math.star", "math")`.
 * https://github.com/google/starlark-go/blob/master/lib/math/math.go
 */
export const math: Module = new Module(
  'math',
  new Map<string, Value>([
    ['ceil', rounding('ceil', Math.ceil)],
    ['copysign', binary('copysign', copysign)],
    ['fabs', unary('fabs', Math.abs)],
    ['floor', rounding('floor', Math.floor)],
    ['mod', binary('mod', mod)],
    ['pow', binary('pow', pow)],
    ['remainder', binary('remainder', remainder)],
    ['round', unary('round', round)],

    ['exp', unary('exp', Math.exp)],
    ['sqrt', unary('sqrt', Math.sqrt)],

    ['acos', unary('acos', Math.acos)],
    ['asin', unary('asin', Math.asin)],
    ['atan', unary('atan', Math.atan)],
    ['atan2', binary('atan2', Math.atan2)],
    ['cos', unary('cos', Math.cos)],
    ['hypot', binary('hypot', Math.hypot)],
    ['sin', unary('sin', Math.sin)],
    ['tan', unary('tan', Math.tan)],

    ['degrees', unary('degrees', (x) => (360 * x) / (2 * Math.PI))],
    ['radians', unary('radians', (x) => (2 * Math.PI * x) / 360)],

    ['acosh', unary('acosh', Math.acosh)],
    ['asinh', unary('asinh', Math.asinh)],
    ['atanh', unary('atanh', Math.atanh)],
    ['cosh', unary('cosh', Math.cosh)],
    ['sinh', unary('sinh', Math.sinh)],
    ['tanh', unary('tanh', Math.tanh)],

    ['log', log],

    ['gamma', unary('gamma', gamma)],

    ['e', new Float(Math.E)],
    ['pi', new Float(Math.PI)],
  ]),
);
