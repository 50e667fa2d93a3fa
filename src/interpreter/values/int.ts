/**
 * This file defines int arithmetic. An int is a JS number while |x| <= 2^53-1 and a bigint beyond;
 * every result is normalised back to that form, so results are identical to pure BigInt arithmetic
 * (checked by a property test). The fast paths are plain number operations guarded by a range check.
 *
 * An int may have at most MAX_INT_BITS bits: V8's multiplication, division and decimal conversion of
 * big ints take time that grows faster than their size (squaring a 2^27-bit int takes seconds, with
 * no way to check a budget inside), so, as lists are capped in elements, ints are capped in bits,
 * which keeps every single int operation within tens of milliseconds. Python caps int/str
 * conversions for the same reason (sys.set_int_max_str_digits).
 */
import { EvalError } from '../errors.js';

export type Int = number | bigint;

const MAX = Number.MAX_SAFE_INTEGER;
const MIN = -MAX;
const BMAX = BigInt(MAX);
const BMIN = -BMAX;

/** Most bits an int may have (2^20: about 315,000 decimal digits). */
export const MAX_INT_BITS = 2 ** 20;
/** 2^MAX_INT_BITS, and 2^(MAX_INT_BITS / 2), made on first use. */
let intLimit: bigint | undefined;
let halfLimit: bigint | undefined;

function intTooLarge(): EvalError {
  return new EvalError(`int too large: more than ${MAX_INT_BITS} bits`, 'budget');
}

/** Normalises a bigint: back to a number when it is in the safe range; checks its size. */
export function normBig(b: bigint): Int {
  if (b >= BMIN && b <= BMAX) return Number(b);
  const limit = (intLimit ??= 1n << BigInt(MAX_INT_BITS));
  if (b >= limit || b <= -limit) throw intTooLarge();
  return b;
}

/** Throws the budget error if an int written with `digits` digits in `base` could exceed MAX_INT_BITS. */
export function checkIntDigits(digits: number, base: number): void {
  if (digits * Math.log2(base) > MAX_INT_BITS + 64) throw intTooLarge();
}

/** Bits of |x| for a bigint at least 2^(MAX_INT_BITS / 2) in magnitude (linear, but rare). */
function bitLength(x: bigint): number {
  return (x < 0n ? -x : x).toString(16).length * 4;
}

export function big(x: Int): bigint {
  return typeof x === 'bigint' ? x : BigInt(x);
}

export function intAdd(x: Int, y: Int): Int {
  if (typeof x === 'number' && typeof y === 'number') {
    const r = x + y;
    if (r <= MAX && r >= MIN) return r;
  }
  return normBig(big(x) + big(y));
}

export function intSub(x: Int, y: Int): Int {
  if (typeof x === 'number' && typeof y === 'number') {
    const r = x - y;
    if (r <= MAX && r >= MIN) return r;
  }
  return normBig(big(x) - big(y));
}

export function intMul(x: Int, y: Int): Int {
  if (typeof x === 'number' && typeof y === 'number') {
    const r = x * y;
    if (r <= MAX && r >= MIN) return r === 0 ? 0 : r; // no -0
  }
  const bx = big(x);
  const by = big(y);
  // Refuse a product over the cap before computing it (its cost grows faster than its size).
  const half = (halfLimit ??= 1n << BigInt(MAX_INT_BITS / 2));
  if ((bx >= half || bx <= -half || by >= half || by <= -half) && bitLength(bx) + bitLength(by) > MAX_INT_BITS + 8) throw intTooLarge();
  return normBig(bx * by);
}

export function intNeg(x: Int): Int {
  if (typeof x === 'number') return x === 0 ? 0 : -x;
  return normBig(-x);
}

function isZero(y: Int): boolean {
  return y === 0; // a bigint is never zero once normalised
}

/** Floored division (Python semantics: the result is rounded towards -infinity). */
export function intFloorDiv(x: Int, y: Int): Int {
  if (isZero(y)) throw new EvalError('floored division by zero');
  if (typeof x === 'number' && typeof y === 'number') {
    let r = x % y;
    if (r !== 0 && r < 0 !== y < 0) r += y;
    const q = (x - r) / y;
    if (q <= MAX && q >= MIN && Number.isInteger(q)) return q === 0 ? 0 : q;
  }
  const bx = big(x);
  const by = big(y);
  let q = bx / by;
  if ((bx % by !== 0n) && (bx < 0n) !== (by < 0n)) q -= 1n;
  return normBig(q);
}

/** Modulo with the sign of the divisor (Python semantics). */
export function intMod(x: Int, y: Int): Int {
  if (isZero(y)) throw new EvalError('integer modulo by zero');
  if (typeof x === 'number' && typeof y === 'number') {
    let r = x % y;
    if (r !== 0 && r < 0 !== y < 0) r += y;
    return r === 0 ? 0 : r;
  }
  const by = big(y);
  let r = big(x) % by;
  if (r !== 0n && r < 0n !== by < 0n) r += by;
  return normBig(r);
}

export function intAnd(x: Int, y: Int): Int {
  if (typeof x === 'number' && typeof y === 'number' && (x | 0) === x && (y | 0) === y) return x & y;
  return normBig(big(x) & big(y));
}
export function intOr(x: Int, y: Int): Int {
  if (typeof x === 'number' && typeof y === 'number' && (x | 0) === x && (y | 0) === y) return x | y;
  return normBig(big(x) | big(y));
}
export function intXor(x: Int, y: Int): Int {
  if (typeof x === 'number' && typeof y === 'number' && (x | 0) === x && (y | 0) === y) return x ^ y;
  return normBig(big(x) ^ big(y));
}
export function intNot(x: Int): Int {
  if (typeof x === 'number' && (x | 0) === x) return ~x;
  return normBig(~big(x));
}

/** Maximum shift count, as in go.starlark.net (keeps `1 << huge` from exhausting memory). */
const MAX_SHIFT = 512;

export function intShl(x: Int, y: Int): Int {
  if (y < 0) throw new EvalError(`negative shift count: ${y}`);
  if (y >= MAX_SHIFT) throw new EvalError(`shift count too large: ${y}`);
  if (typeof x === 'number' && (x | 0) === x && typeof y === 'number' && y < 22 && x < 0x7fffffff >> y && x > -0x7fffffff >> y) {
    return x << y;
  }
  return normBig(big(x) << big(y));
}

export function intShr(x: Int, y: Int): Int {
  if (y < 0) throw new EvalError(`negative shift count: ${y}`);
  if (typeof x === 'number' && (x | 0) === x) return typeof y === 'number' && y < 32 ? x >> y : x < 0 ? -1 : 0;
  if (typeof y === 'bigint' || y > 1_000_000) return big(x) < 0n ? -1 : 0;
  return normBig(big(x) >> BigInt(y));
}

export function intCompare(x: Int, y: Int): number {
  if (typeof x === 'number' && typeof y === 'number') return x < y ? -1 : x > y ? 1 : 0;
  return x < y ? -1 : x > y ? 1 : 0; // mixed number/bigint comparisons are exact in JS
}

/** Converts an int to a float (JS number), failing as the reference does when it overflows. */
export function intToFloat(x: Int): number {
  if (typeof x === 'number') return x;
  const f = Number(x);
  if (!Number.isFinite(f)) throw new EvalError('int too large to convert to float');
  return f;
}

/** Converts a finite float to the int of the same value, truncating towards zero. */
export function floatToInt(f: number): Int {
  if (Number.isNaN(f)) throw new EvalError('cannot convert float NaN to integer');
  if (!Number.isFinite(f)) throw new EvalError('cannot convert float infinity to integer');
  const t = Math.trunc(f);
  if (t <= MAX && t >= MIN) return t === 0 ? 0 : t;
  return BigInt(t);
}

/** Decimal text of an int. */
export function intToString(x: Int): string {
  return typeof x === 'number' ? String(x) : x.toString();
}

/** Exact comparison of an int with a float (NaN sorts above everything, as in the reference). */
export function compareIntFloat(x: Int, f: number): number {
  if (Number.isNaN(f)) return -1;
  if (typeof x === 'number') return x < f ? -1 : x > f ? 1 : 0;
  if (!Number.isFinite(f)) return f > 0 ? -1 : 1;
  const fi = BigInt(Math.trunc(f));
  if (x < fi) return -1;
  if (x > fi) return 1;
  const frac = f - Math.trunc(f);
  return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}
