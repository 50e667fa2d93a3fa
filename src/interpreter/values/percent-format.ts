/**
 * This file defines printf-style string interpolation, `format % args`, exactly as go.starlark.net
 * implements it (`interpolate` in starlark/eval.go): the conversions `%s %r %d %i %o %x %X %e %E %f
 * %F %g %G %c %%`, the `%(key)s` form with a dict operand, and the reference's error messages. Like
 * go.starlark.net, and unlike Python, it supports no flags, width or precision: `"%5d" % 1` fails
 * with "unknown conversion %5". It also defines the `%e`/`%f` float formatters, which round the exact
 * binary value half-to-even as Go's strconv does (JS's toFixed/toExponential round ties upwards).
 * https://github.com/google/starlark-go/blob/master/doc/spec.md#string-interpolation
 */
import { EvalError } from '../errors.js';
import { Dict } from './dict.js';
import { floatToInt, intToString, type Int } from './int.js';
import { Tuple } from './list.js';
import { repr } from './repr.js';
import { chargeText } from './budget.js';
import { decodeRune, encodeRune, Float, formatFloat, isInt, typeName, type Value } from './value.js';

/**
 * Evaluates `format % arg`. `format` and the result are Starlark strings (binary UTF-8 strings).
 * A tuple `arg` supplies one operand per conversion; any other value is the sole operand, and a dict
 * also serves the `%(key)s` conversions.
 * @throws EvalError with go.starlark.net's messages ("not enough arguments for format string",
 *   "too many arguments for format string", "%d format requires integer: ...", ...).
 * @example percentFormat('%s=%d', new Tuple(['x', 1])) // "x=1"
 */
export function percentFormat(format: string, arg: Value): string {
  const tuple = arg instanceof Tuple ? arg : null;
  const nargs = tuple ? tuple.elems.length : 1;
  // The operands' reprs charge themselves; this charges the literal text of a long format.
  if (format.length > 256) chargeText(format.length);
  let out = '';
  let index = 0;
  let pos = 0;
  const n = format.length;
  for (;;) {
    const i = format.indexOf('%', pos);
    if (i < 0) {
      out += pos === 0 ? format : format.slice(pos);
      break;
    }
    out += format.slice(pos, i);
    pos = i + 1;
    if (pos < n && format.charCodeAt(pos) === 0x25 /* % */) {
      out += '%';
      pos++;
      continue;
    }

    let operand: Value;
    if (pos < n && format.charCodeAt(pos) === 0x28 /* ( */) {
      // keyword operand: %(name)s
      const j = format.indexOf(')', pos + 1);
      if (j < 0) throw new EvalError('incomplete format key');
      const key = format.slice(pos + 1, j);
      if (!(arg instanceof Dict)) throw new EvalError('format requires a mapping');
      const v = arg.get(key);
      if (v === undefined) throw new EvalError(`key not found: ${key}`);
      operand = v;
      pos = j + 1;
    } else {
      // positional operand
      if (index >= nargs) throw new EvalError('not enough arguments for format string');
      operand = tuple ? tuple.elems[index]! : arg;
    }

    if (pos >= n) throw new EvalError('incomplete format');
    const c = format[pos]!;
    switch (c) {
      case 's':
        out += typeof operand === 'string' ? operand : repr(operand);
        break;
      case 'r':
        out += repr(operand);
        break;
      case 'd':
      case 'i':
      case 'o':
      case 'x':
      case 'X':
        out += formatIntConversion(c, operand);
        break;
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        let f: number;
        if (operand instanceof Float) f = operand.v;
        else if (isInt(operand)) f = Number(operand); // may be ±Inf for a huge int, as in Go
        else throw new EvalError(`%${c} format requires float, not ${typeName(operand)}`);
        out += formatFloatConversion(f, c);
        break;
      }
      case 'c':
        out += formatCharConversion(operand);
        break;
      case '%':
        out += '%';
        break;
      default:
        // Go prints the offending byte with %c, i.e. as the code point of that byte value.
        throw new EvalError(`unknown conversion %${encodeRune(format.charCodeAt(pos))}`);
    }
    pos++;
    index++;
  }
  // A mapping operand may hold keys the format does not use (go.starlark.net, and Python).
  if (index < nargs && !(arg instanceof Dict)) throw new EvalError('too many arguments for format string');
  return out;
}

/** `%d %i %o %x %X`: the operand is converted as by Go's NumberToInt (floats truncate). */
function formatIntConversion(c: string, v: Value): string {
  let i: Int;
  if (isInt(v)) {
    i = v;
  } else if (v instanceof Float) {
    if (Number.isNaN(v.v)) throw new EvalError(`%${c} format requires integer: cannot convert float NaN to integer`);
    if (!Number.isFinite(v.v)) throw new EvalError(`%${c} format requires integer: cannot convert float infinity to integer`);
    i = floatToInt(v.v);
  } else {
    throw new EvalError(`%${c} format requires integer: cannot convert ${typeName(v)} to int`);
  }
  switch (c) {
    case 'o':
      return i.toString(8);
    case 'x':
      return i.toString(16);
    case 'X':
      return i.toString(16).toUpperCase();
    default:
      return intToString(i);
  }
}

/** `%c`: an int code point (as by chr) or a string holding exactly one code point. */
function formatCharConversion(v: Value): string {
  if (isInt(v)) {
    if (typeof v !== 'number' || v < 0 || v > 0x10ffff) {
      throw new EvalError(`%c format requires a valid Unicode code point, got ${intToString(v)}`);
    }
    return encodeRune(v); // surrogates become U+FFFD, as Go's WriteRune does
  }
  if (typeof v === 'string') {
    if (v.length === 0) throw new EvalError('%c format requires a single-character string');
    const [r, size] = decodeRune(v, 0);
    if (size !== v.length) throw new EvalError('%c format requires a single-character string');
    return encodeRune(r);
  }
  throw new EvalError(`%c format requires int or single-character string, not ${typeName(v)}`);
}

/**
 * Formats a float for one of the conversions `e E f F g G`, as go.starlark.net's Float.format:
 * non-finite values are "+inf", "-inf" and "nan" whatever the conversion; `g`/`G` use the shortest
 * representation (plus ".0" when it has neither point nor exponent); `e`/`E`/`f`/`F` use 6 digits
 * of precision.
 * @example formatFloatConversion(1.5, 'e') // "1.500000e+00"
 */
export function formatFloatConversion(f: number, conv: 'e' | 'E' | 'f' | 'F' | 'g' | 'G'): string {
  if (!Number.isFinite(f)) return Number.isNaN(f) ? 'nan' : f > 0 ? '+inf' : '-inf';
  switch (conv) {
    case 'g':
      return formatFloat(f);
    case 'G':
      return formatFloat(f).toUpperCase();
    case 'e':
      return formatFloatE(f, 6);
    case 'E':
      return formatFloatE(f, 6).toUpperCase();
    default:
      return formatFloatF(f, 6);
  }
}

// ---------------------------------------------------------------------------------------------
// Exact float formatting (Go's strconv.FormatFloat with 'e' and 'f' and a fixed precision)

const scratch = new DataView(new ArrayBuffer(8));

/**
 * The exact decimal value of a finite, positive double: `digits * 10^exp10`. Every double is
 * m * 2^e with an integer m, which equals (m * 5^-e) * 10^e when e < 0, so the digits are exact.
 */
function exactDecimal(a: number): { digits: bigint; exp10: number } {
  scratch.setFloat64(0, a);
  const hi = scratch.getUint32(0);
  const lo = scratch.getUint32(4);
  let e = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (e === 0) e = 1; // subnormal
  else mant |= 1n << 52n;
  const e2 = e - 1075;
  if (e2 >= 0) return { digits: mant << BigInt(e2), exp10: 0 };
  return { digits: mant * 5n ** BigInt(-e2), exp10: e2 };
}

/** Divides by 10^k (k > 0), rounding half to even. */
function roundShift(d: bigint, k: number): bigint {
  const div = 10n ** BigInt(k);
  let q = d / div;
  const r2 = (d % div) * 2n;
  if (r2 > div || (r2 === div && (q & 1n) === 1n)) q += 1n;
  return q;
}

function signOf(f: number): string {
  return f < 0 || Object.is(f, -0) ? '-' : '';
}

/**
 * Go's `strconv.FormatFloat(f, 'f', prec, 64)` for finite f: exactly `prec` fraction digits,
 * rounded half to even on the exact binary value; "-0.000000" keeps its sign.
 * @example formatFloatF(0.0078125, 6) // "0.007812" (JS's toFixed gives "0.007813")
 */
export function formatFloatF(f: number, prec: number): string {
  const sign = signOf(f);
  const a = Math.abs(f);
  let n: bigint;
  if (a === 0) {
    n = 0n;
  } else {
    const { digits, exp10 } = exactDecimal(a);
    const s = exp10 + prec;
    n = s >= 0 ? digits * 10n ** BigInt(s) : roundShift(digits, -s);
  }
  const str = n.toString().padStart(prec + 1, '0');
  if (prec === 0) return sign + str;
  return `${sign}${str.slice(0, str.length - prec)}.${str.slice(str.length - prec)}`;
}

/**
 * Go's `strconv.FormatFloat(f, 'e', prec, 64)` for finite f: one digit, a point, `prec` digits and
 * an exponent of at least two digits ("1.500000e+00"), rounded half to even.
 */
export function formatFloatE(f: number, prec: number): string {
  const sign = signOf(f);
  const a = Math.abs(f);
  let mant: string;
  let exp: number;
  if (a === 0) {
    mant = '0'.repeat(prec + 1);
    exp = 0;
  } else {
    const { digits, exp10 } = exactDecimal(a);
    let d = digits.toString();
    exp = d.length - 1 + exp10;
    if (d.length > prec + 1) {
      let q = roundShift(digits, d.length - (prec + 1)).toString();
      if (q.length > prec + 1) {
        q = q.slice(0, prec + 1); // 99.9 rounded up to 100: the dropped digit is a zero
        exp++;
      }
      d = q;
    } else {
      d = d.padEnd(prec + 1, '0');
    }
    mant = d;
  }
  const ae = Math.abs(exp);
  const es = `${exp < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`;
  return `${sign}${mant[0]}${prec > 0 ? '.' + mant.slice(1) : ''}e${es}`;
}
