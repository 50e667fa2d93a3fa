/**
 * This file defines the `time` module (`load("time.star", "time")`), after go.starlark.net's
 * lib/time: the types `time.duration` (a signed 64-bit count of nanoseconds, printed as Go's
 * Duration.String prints it, e.g. `1h2m3.5s`) and `time.time` (an instant with a zone, printed in
 * Go's default layout, e.g. `2009-11-10 23:00:00 +0000 UTC`); the duration constants nanosecond ...
 * hour; and the functions parse_duration, from_timestamp, time, is_valid_timezone, parse_time and
 * now.
 *
 * Determinism: scripts get no clock and no host time zone. `now()` works only when the embedder puts
 * a clock in the thread's locals under {@link TIME_NOW_LOCAL}; otherwise it fails. The only named
 * locations are "UTC" and "Local", and "Local" means UTC here (the host's zone would make a script's
 * output depend on the machine it ran on). Instants parsed with a numeric offset keep that fixed
 * offset.
 *
 * Arithmetic (through the interpreter's `StarValue.binary` hook), as Go's: duration ± duration,
 * duration * int (either side), duration / duration (a float), duration / int and duration // int
 * (durations), duration // duration (an int), time ± duration (a time in the same zone), and
 * time - time (a duration). Durations wrap at 64 bits as Go's do.
 */
import { EvalError } from '../interpreter/errors.js';
import {
  Builtin,
  Float,
  Module,
  StarValue,
  normBig,
  typeName,
  unpackArgs,
  utf8Decode,
  utf8Encode,
  isInt,
  type BinaryOperator,
  type KwArgs,
  type ThreadContext,
  type Value,
} from '../interpreter/values/index.js';

/**
 * The key in `ThreadContext.locals` under which an embedder may provide the clock for `time.now()`:
 * a function returning the current instant as nanoseconds since the Unix epoch.
 */
export const TIME_NOW_LOCAL = 'larkflow.time.now';

/** The clock an embedder may put in a thread's locals under {@link TIME_NOW_LOCAL}. */
export type TimeNowFn = () => bigint;

const NS = 1n;
const US = 1000n * NS;
const MS = 1000n * US;
const SEC = 1000n * MS;
const MIN = 60n * SEC;
const HOUR = 60n * MIN;
const MAX_I64 = (1n << 63n) - 1n;
const MIN_I64 = -(1n << 63n);

/** A quoted string as Go's %q would print a simple one (used inside error messages). */
function quote(s: string): string {
  return JSON.stringify(utf8Decode(s));
}

// ---------------------------------------------------------------------------------------------
// Durations

/** `time.duration`: a signed 64-bit count of nanoseconds. Immutable and hashable. */
export class Duration extends StarValue {
  constructor(readonly ns: bigint) {
    super();
  }
  get type(): string {
    return 'time.duration';
  }
  override truth(): boolean {
    return this.ns !== 0n;
  }
  repr(out: string[]): void {
    out.push(utf8Encode(formatDuration(this.ns)));
  }
  override hashKey(): unknown {
    return `\u0100td${this.ns}`;
  }
  override equals(y: Value): boolean {
    return y instanceof Duration && y.ns === this.ns;
  }
  override compareTo(y: Value): number {
    const o = (y as Duration).ns;
    return this.ns < o ? -1 : this.ns > o ? 1 : 0;
  }
  override getAttr(name: string): Value | undefined {
    const d = this.ns;
    switch (name) {
      case 'hours':
        return new Float(unitsAsFloat(d, HOUR));
      case 'minutes':
        return new Float(unitsAsFloat(d, MIN));
      case 'seconds':
        return new Float(unitsAsFloat(d, SEC));
      case 'milliseconds':
        return normBig(d / MS);
      case 'microseconds':
        return normBig(d / US);
      case 'nanoseconds':
        return normBig(d);
    }
    return undefined;
  }
  override attrNames(): string[] {
    return ['hours', 'microseconds', 'milliseconds', 'minutes', 'nanoseconds', 'seconds'];
  }
  override binary(op: BinaryOperator, y: Value, side: 'left' | 'right'): Value | undefined {
    const d = this.ns;
    if (y instanceof Duration) {
      // Both durations: this is the left operand (the left one is asked first).
      switch (op) {
        case '+':
          return new Duration(BigInt.asIntN(64, d + y.ns));
        case '-':
          return new Duration(BigInt.asIntN(64, d - y.ns));
        case '/':
          if (y.ns === 0n) throw new EvalError('division by zero');
          return new Float(Number(d) / Number(y.ns));
        case '//':
          if (y.ns === 0n) throw new EvalError('division by zero');
          return normBig(floorDivBig(d, y.ns));
        default:
          return undefined;
      }
    }
    if (isInt(y)) {
      const n = BigInt(y as number | bigint);
      if (op === '*') return new Duration(BigInt.asIntN(64, d * n));
      if (side === 'left' && (op === '/' || op === '//')) {
        if (n === 0n) throw new EvalError('division by zero');
        return new Duration(BigInt.asIntN(64, op === '/' ? d / n : floorDivBig(d, n)));
      }
      return undefined;
    }
    if (y instanceof Time && op === '+') return y.plus(d);
    return undefined;
  }
}

/** Floor division of bigints (toward negative infinity), as Starlark's `//`. */
function floorDivBig(a: bigint, b: bigint): bigint {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

/** d in whole units plus the remainder as a fraction, as Go's Duration.Hours/Minutes/Seconds. */
function unitsAsFloat(d: bigint, unit: bigint): number {
  return Number(d / unit) + Number(d % unit) / Number(unit);
}

/**
 * Go's Duration.String: "0s", "1.5µs", "300ms", "1h2m3.5s", "-2m0s". Units below a second are used
 * only when the whole duration is below a second.
 */
export function formatDuration(d: bigint): string {
  if (d === 0n) return '0s';
  const neg = d < 0n;
  let u = neg ? -d : d;
  let s: string;
  if (u < SEC) {
    if (u < US) s = `${u}ns`;
    else if (u < MS) s = `${fraction(u, 3)}µs`;
    else s = `${fraction(u, 6)}ms`;
  } else {
    s = `${fraction(u % MIN, 9)}s`;
    u /= MIN;
    if (u > 0n) {
      s = `${u % 60n}m${s}`;
      u /= 60n;
      if (u > 0n) s = `${u}h${s}`;
    }
  }
  return neg ? `-${s}` : s;
}

/** v / 10^prec with its fractional digits, trailing zeros dropped: fraction(1500n, 3) = "1.5". */
function fraction(v: bigint, prec: number): string {
  const p = 10n ** BigInt(prec);
  const whole = v / p;
  const frac = (v % p).toString().padStart(prec, '0').replace(/0+$/, '');
  return frac === '' ? `${whole}` : `${whole}.${frac}`;
}

const UNITS = new Map<string, bigint>([
  ['ns', NS],
  ['us', US],
  ['µs', US], // U+00B5 MICRO SIGN
  ['μs', US], // U+03BC GREEK SMALL LETTER MU
  ['ms', MS],
  ['s', SEC],
  ['m', MIN],
  ['h', HOUR],
]);

/**
 * Go's time.ParseDuration: an optional sign and a sequence of decimal numbers, each with an optional
 * fraction and a unit suffix ("300ms", "-1.5h", "2h45m"); "0" alone needs no unit.
 * @throws EvalError worded as Go's errors (`time: invalid duration "x"`).
 */
export function parseDuration(input: string): bigint {
  const s = utf8Decode(input);
  const invalid = (): EvalError => new EvalError(`time: invalid duration ${quote(input)}`);
  let i = 0;
  let neg = false;
  if (s[i] === '-' || s[i] === '+') {
    neg = s[i] === '-';
    i++;
  }
  if (s.slice(i) === '0') return 0n;
  if (i === s.length) throw invalid();
  let total = 0n;
  const limit = neg ? -MIN_I64 : MAX_I64;
  while (i < s.length) {
    const start = i;
    while (i < s.length && s[i]! >= '0' && s[i]! <= '9') i++;
    const whole = s.slice(start, i);
    let frac = '';
    if (s[i] === '.') {
      i++;
      const fs = i;
      while (i < s.length && s[i]! >= '0' && s[i]! <= '9') i++;
      frac = s.slice(fs, i);
    }
    if (whole === '' && frac === '') throw invalid();
    const us = i;
    while (i < s.length && s[i] !== '.' && !(s[i]! >= '0' && s[i]! <= '9')) i++;
    const unitName = s.slice(us, i);
    if (unitName === '') throw new EvalError(`time: missing unit in duration ${quote(input)}`);
    const unit = UNITS.get(unitName);
    if (unit === undefined) throw new EvalError(`time: unknown unit ${quote(utf8Encode(unitName))} in duration ${quote(input)}`);
    let v = (whole === '' ? 0n : BigInt(whole)) * unit;
    if (frac !== '') v += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
    total += v;
    if (total > limit) throw invalid();
  }
  return neg ? -total : total;
}

// ---------------------------------------------------------------------------------------------
// Instants

/** A time zone: a name (may be empty) and a fixed offset east of UTC in seconds. */
interface Zone {
  readonly name: string;
  readonly offset: number;
}

const UTC: Zone = { name: 'UTC', offset: 0 };

/**
 * The location named `loc`: "" and "UTC" are UTC; "Local" is also UTC, because a script must not
 * see the host's zone. Any other name is refused (this module has no time zone database).
 */
function loadLocation(fnName: string, loc: string): Zone {
  if (loc === '' || loc === 'UTC' || loc === 'Local') return UTC;
  throw new EvalError(`${fnName}: unknown time zone ${utf8Decode(loc)} (only "UTC" and "Local", which is UTC, are available)`);
}

/** The days since 1970-01-01 of a proleptic Gregorian date; month 1..12, any day. */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (m + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The inverse of daysFromCivil. */
function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

/** The broken-down fields of an instant in its zone. */
interface Civil {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  nanosecond: number;
  weekday: number; // 0 = Sunday
  yday: number; // 1-based
}

/** `time.time`: an instant (seconds and nanoseconds since the epoch) with a zone. Immutable. */
export class Time extends StarValue {
  constructor(
    /** Whole seconds since 1970-01-01T00:00:00Z (floored). */
    readonly sec: number,
    /** Nanoseconds within the second, 0..999999999. */
    readonly nsec: number,
    readonly zone: Zone = UTC,
  ) {
    super();
  }
  get type(): string {
    return 'time.time';
  }
  /** False only for Go's zero time, 0001-01-01 00:00:00 UTC (time.Time.IsZero). */
  override truth(): boolean {
    return !(this.sec === ZERO_TIME_SEC && this.nsec === 0);
  }
  repr(out: string[]): void {
    out.push(utf8Encode(formatTime(this, '2006-01-02 15:04:05.999999999 -0700 MST')));
  }
  override hashKey(): unknown {
    return `\u0100tt${this.sec}.${this.nsec}`;
  }
  /** Equal instants are equal, whatever their zones (Go's Time.Equal). */
  override equals(y: Value): boolean {
    return y instanceof Time && y.sec === this.sec && y.nsec === this.nsec;
  }
  override compareTo(y: Value): number {
    const o = y as Time;
    if (this.sec !== o.sec) return this.sec < o.sec ? -1 : 1;
    return this.nsec < o.nsec ? -1 : this.nsec > o.nsec ? 1 : 0;
  }
  /** Nanoseconds since the epoch. */
  unixNano(): bigint {
    return BigInt(this.sec) * SEC + BigInt(this.nsec);
  }
  /** This instant moved by `d` nanoseconds, in the same zone. */
  plus(d: bigint): Time {
    const t = timeFromUnixNano(this.unixNano() + d);
    if (!Number.isSafeInteger(t.sec)) throw new EvalError('time: date out of range');
    return new Time(t.sec, t.nsec, this.zone);
  }
  override binary(op: BinaryOperator, y: Value, side: 'left' | 'right'): Value | undefined {
    if (side !== 'left') return undefined; // duration + time is the duration's
    if (y instanceof Duration) {
      if (op === '+') return this.plus(y.ns);
      if (op === '-') return this.plus(-y.ns);
      return undefined;
    }
    if (y instanceof Time && op === '-') return new Duration(BigInt.asIntN(64, this.unixNano() - y.unixNano()));
    return undefined;
  }
  /** The fields in this time's zone. */
  civil(): Civil {
    const local = this.sec + this.zone.offset;
    const days = floorDiv(local, 86400);
    const secOfDay = local - days * 86400;
    const [year, month, day] = civilFromDays(days);
    return {
      year,
      month,
      day,
      hour: Math.floor(secOfDay / 3600),
      minute: Math.floor(secOfDay / 60) % 60,
      second: secOfDay % 60,
      nanosecond: this.nsec,
      weekday: (((days + 4) % 7) + 7) % 7,
      yday: days - daysFromCivil(year, 1, 1) + 1,
    };
  }
  override getAttr(name: string): Value | undefined {
    switch (name) {
      case 'year':
      case 'month':
      case 'day':
      case 'hour':
      case 'minute':
      case 'second':
      case 'nanosecond':
        return this.civil()[name];
      case 'unix':
        return this.sec;
      case 'unix_nano':
        return normBig(BigInt(this.sec) * SEC + BigInt(this.nsec));
      case 'format':
        return new Builtin('format', (_th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
          const [layout] = unpackArgs('format', args, kwargs, ['layout']);
          if (typeof layout !== 'string') throw new EvalError(`format: for parameter layout: got ${typeName(layout!)}, want string`);
          return utf8Encode(formatTime(this, utf8Decode(layout)));
        }, this, true);
      case 'in_location':
        return new Builtin('in_location', (_th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
          const [loc] = unpackArgs('in_location', args, kwargs, ['location']);
          if (typeof loc !== 'string') throw new EvalError(`in_location: for parameter location: got ${typeName(loc!)}, want string`);
          return new Time(this.sec, this.nsec, loadLocation('in_location', loc));
        }, this, true);
    }
    return undefined;
  }
  override attrNames(): string[] {
    return ['day', 'format', 'hour', 'in_location', 'minute', 'month', 'nanosecond', 'second', 'unix', 'unix_nano', 'year'];
  }
}

/** Seconds since the epoch of Go's zero time, 0001-01-01 00:00:00 UTC. */
const ZERO_TIME_SEC = daysFromCivil(1, 1, 1) * 86400;

/**
 * The instant of a civil date in `zone`, normalising out-of-range fields as Go's time.Date does
 * (month 13 is January of the next year, second 60 is the next minute, and so on).
 */
function timeFromCivil(year: number, month: number, day: number, hour: number, min: number, sec: number, nsec: number, zone: Zone): Time {
  const m0 = month - 1;
  year += floorDiv(m0, 12);
  month = m0 - floorDiv(m0, 12) * 12 + 1;
  sec += floorDiv(nsec, 1e9);
  nsec -= floorDiv(nsec, 1e9) * 1e9;
  const days = daysFromCivil(year, month, 1) + day - 1;
  const total = days * 86400 + hour * 3600 + min * 60 + sec - zone.offset;
  if (!Number.isSafeInteger(total)) throw new EvalError('time: date out of range');
  return new Time(total, nsec, zone);
}

/** An instant from nanoseconds since the epoch, in UTC. */
function timeFromUnixNano(ns: bigint): Time {
  const s = ns >= 0n ? ns / SEC : -((-ns + SEC - 1n) / SEC);
  return new Time(Number(s), Number(ns - s * SEC), UTC);
}

// ---------------------------------------------------------------------------------------------
// Layouts (Go's reference time: Mon Jan 2 15:04:05 MST 2006)

type Token =
  | { kind: 'lit'; text: string }
  | { kind: 'std'; code: string }
  | { kind: 'frac'; digits: number; trim: boolean; sep: string };

const LONG_MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

// Longest first where one element is a prefix of another.
const STD_CODES = [
  'January', 'Jan', 'Monday', 'Mon', 'MST',
  '2006', '002', '01', '02', '03', '04', '05', '06', '15', '1', '2', '__2', '_2', '3', '4', '5',
  'PM', 'pm',
  '-07:00:00', '-070000', '-07:00', '-0700', '-07',
  'Z07:00:00', 'Z070000', 'Z07:00', 'Z0700', 'Z07',
];

/** Splits a Go layout into literal text and the elements of the reference time. */
function tokenize(layout: string): Token[] {
  const out: Token[] = [];
  let lit = '';
  let i = 0;
  outer: while (i < layout.length) {
    const c = layout[i]!;
    if ((c === '.' || c === ',') && (layout[i + 1] === '0' || layout[i + 1] === '9')) {
      const d = layout[i + 1]!;
      let j = i + 1;
      while (layout[j] === d) j++;
      if (!(layout[j]! >= '0' && layout[j]! <= '9')) {
        if (lit) out.push({ kind: 'lit', text: lit });
        lit = '';
        out.push({ kind: 'frac', digits: j - i - 1, trim: d === '9', sep: c });
        i = j;
        continue;
      }
    }
    for (const code of STD_CODES) {
      if (layout.startsWith(code, i)) {
        // Go's exceptions: "Jan"/"Mon" must not be followed by a lower-case letter ("Janet").
        if ((code === 'Jan' || code === 'Mon') && /[a-z]/.test(layout[i + 3] ?? '')) continue;
        // "_2006" is an underscore and a year, not a padded day followed by "006".
        if (code === '_2' && layout.startsWith('_2006', i)) continue;
        if (lit) out.push({ kind: 'lit', text: lit });
        lit = '';
        out.push({ kind: 'std', code });
        i += code.length;
        continue outer;
      }
    }
    lit += c;
    i++;
  }
  if (lit) out.push({ kind: 'lit', text: lit });
  return out;
}

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

function formatOffset(off: number, code: string): string {
  if (code.startsWith('Z') && off === 0) return 'Z';
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  const hh = pad(Math.floor(a / 3600), 2);
  const mm = pad(Math.floor(a / 60) % 60, 2);
  const ss = pad(a % 60, 2);
  const body = code.slice(1);
  if (body === '07') return sign + hh;
  if (body === '0700') return sign + hh + mm;
  if (body === '07:00') return `${sign}${hh}:${mm}`;
  if (body === '070000') return sign + hh + mm + ss;
  return `${sign}${hh}:${mm}:${ss}`;
}

/** Go's Time.Format for the layout elements listed in STD_CODES and fractional seconds. */
export function formatTime(t: Time, layout: string): string {
  const c = t.civil();
  let out = '';
  for (const tok of tokenize(layout)) {
    if (tok.kind === 'lit') {
      out += tok.text;
      continue;
    }
    if (tok.kind === 'frac') {
      const digits = pad(c.nanosecond, 9).slice(0, tok.digits);
      if (!tok.trim) out += tok.sep + digits;
      else {
        const d = digits.replace(/0+$/, '');
        if (d) out += tok.sep + d;
      }
      continue;
    }
    const h12 = c.hour % 12 === 0 ? 12 : c.hour % 12;
    switch (tok.code) {
      case 'January': out += LONG_MONTHS[c.month - 1]; break;
      case 'Jan': out += LONG_MONTHS[c.month - 1]!.slice(0, 3); break;
      case 'Monday': out += LONG_DAYS[c.weekday]; break;
      case 'Mon': out += LONG_DAYS[c.weekday]!.slice(0, 3); break;
      case 'MST': out += t.zone.name !== '' ? t.zone.name : formatOffset(t.zone.offset, '-0700'); break;
      case '2006': out += c.year < 0 ? `-${pad(-c.year, 4)}` : pad(c.year, 4); break;
      case '06': out += pad(((c.year % 100) + 100) % 100, 2); break;
      case '002': out += pad(c.yday, 3); break;
      case '__2': out += String(c.yday).padStart(3, ' '); break;
      case '01': out += pad(c.month, 2); break;
      case '1': out += c.month; break;
      case '02': out += pad(c.day, 2); break;
      case '_2': out += String(c.day).padStart(2, ' '); break;
      case '2': out += c.day; break;
      case '15': out += pad(c.hour, 2); break;
      case '03': out += pad(h12, 2); break;
      case '3': out += h12; break;
      case '04': out += pad(c.minute, 2); break;
      case '4': out += c.minute; break;
      case '05': out += pad(c.second, 2); break;
      case '5': out += c.second; break;
      case 'PM': out += c.hour >= 12 ? 'PM' : 'AM'; break;
      case 'pm': out += c.hour >= 12 ? 'pm' : 'am'; break;
      default: out += formatOffset(t.zone.offset, tok.code);
    }
  }
  return out;
}

/**
 * Go's time.ParseInLocation for the layout elements of formatTime. A parsed numeric offset gives a
 * fixed zone (named "UTC" when it is zero and the layout says Z); otherwise the time is in `zone`.
 * @throws EvalError worded as Go's ParseError.
 */
export function parseTime(value: string, layout: string, zone: Zone): Time {
  const head = `parsing time ${JSON.stringify(value)} as ${JSON.stringify(layout)}`;
  const cannot = (rest: string, elem: string): EvalError =>
    new EvalError(`${head}: cannot parse ${JSON.stringify(rest)} as ${JSON.stringify(elem)}`);
  const range = (what: string): EvalError => new EvalError(`parsing time ${JSON.stringify(value)}: ${what} out of range`);
  let year = 1;
  let month = 1;
  let day = 1;
  let hour = 0;
  let min = 0;
  let sec = 0;
  let nsec = 0;
  let pm: boolean | undefined;
  let offset: number | undefined;
  let zoneName = '';
  let s = value;
  const num = (lo: number, hi: number, elem: string): number => {
    const m = new RegExp(`^\\d{${lo},${hi}}`).exec(s);
    if (!m) throw cannot(s, elem);
    s = s.slice(m[0].length);
    return parseInt(m[0], 10);
  };
  const fracDigits = (elem: string, n?: number): number => {
    const m = (n === undefined ? /^\d+/ : new RegExp(`^\\d{${n}}`)).exec(s);
    if (!m) throw cannot(s, elem);
    s = s.slice(m[0].length);
    return parseInt(m[0].slice(0, 9).padEnd(9, '0'), 10); // digits beyond nanoseconds are dropped, as Go does
  };
  const tokens = tokenize(layout);
  for (let k = 0; k < tokens.length; k++) {
    const tok = tokens[k]!;
    if (tok.kind === 'lit') {
      const lit = tok.text;
      if (!s.startsWith(lit)) throw cannot(s, lit);
      s = s.slice(lit.length);
      continue;
    }
    if (tok.kind === 'frac') {
      const elem = tok.sep + (tok.trim ? '9' : '0').repeat(tok.digits);
      if (tok.trim) {
        // Optional: present only if the value has a separator and digits here.
        if (s[0] === '.' || s[0] === ',') {
          s = s.slice(1);
          nsec = fracDigits(elem);
        }
      } else {
        if (s[0] !== tok.sep) throw cannot(s, elem);
        s = s.slice(1);
        nsec = fracDigits(elem, tok.digits);
      }
      continue;
    }
    const code = tok.code;
    switch (code) {
      case 'January':
      case 'Jan': {
        const names = code === 'Jan' ? LONG_MONTHS.map((n) => n.slice(0, 3)) : LONG_MONTHS;
        const i = names.findIndex((n) => s.toLowerCase().startsWith(n.toLowerCase()));
        if (i < 0) throw cannot(s, code);
        month = i + 1;
        s = s.slice(names[i]!.length);
        break;
      }
      case 'Monday':
      case 'Mon': {
        const names = code === 'Mon' ? LONG_DAYS.map((n) => n.slice(0, 3)) : LONG_DAYS;
        const i = names.findIndex((n) => s.toLowerCase().startsWith(n.toLowerCase()));
        if (i < 0) throw cannot(s, code);
        s = s.slice(names[i]!.length);
        break;
      }
      case 'MST': {
        const m = /^[A-Z]{3,5}/.exec(s);
        if (!m) throw cannot(s, code);
        zoneName = m[0];
        s = s.slice(m[0].length);
        if (zoneName === 'UTC' || zoneName === 'GMT') offset = 0;
        break;
      }
      case '2006': {
        const m = /^\d{4}/.exec(s);
        if (!m) throw cannot(s, code);
        year = parseInt(m[0], 10);
        s = s.slice(4);
        break;
      }
      case '06': {
        const y = num(2, 2, code);
        year = y >= 69 ? 1900 + y : 2000 + y;
        break;
      }
      case '002':
      case '__2':
        num(code === '002' ? 3 : 1, 3, code); // the day of the year is checked against nothing else here
        break;
      case '01':
      case '1':
        month = num(code === '01' ? 2 : 1, 2, code);
        if (month < 1 || month > 12) throw range('month');
        break;
      case '02':
      case '2':
      case '_2':
        if (code === '_2' && s[0] === ' ') s = s.slice(1);
        day = num(code === '02' ? 2 : 1, 2, code);
        break;
      case '15':
        hour = num(1, 2, code);
        if (hour > 23) throw range('hour');
        break;
      case '03':
      case '3':
        hour = num(code === '03' ? 2 : 1, 2, code);
        if (hour < 1 || hour > 12) throw range('hour');
        break;
      case '04':
      case '4':
        min = num(code === '04' ? 2 : 1, 2, code);
        if (min > 59) throw range('minute');
        break;
      case '05':
      case '5': {
        sec = num(code === '05' ? 2 : 1, 2, code);
        if (sec > 59) throw range('second');
        // As Go: a fraction the layout does not mention is accepted right after the seconds.
        const next = tokens[k + 1];
        if ((s[0] === '.' || s[0] === ',') && /^\d/.test(s.slice(1)) && next?.kind !== 'frac') {
          s = s.slice(1);
          nsec = fracDigits(code);
        }
        break;
      }
      case 'PM':
      case 'pm': {
        const p = s.slice(0, 2).toUpperCase();
        if (p !== 'AM' && p !== 'PM') throw cannot(s, code);
        pm = p === 'PM';
        s = s.slice(2);
        break;
      }
      default: {
        // Offsets: -07, -0700, -07:00, -070000, -07:00:00 and the Z forms.
        if (code.startsWith('Z') && s[0] === 'Z') {
          s = s.slice(1);
          offset = 0;
          zoneName = 'UTC';
          break;
        }
        const body = code.slice(1);
        const pattern =
          body === '07' ? /^([+-])(\d\d)/
          : body === '0700' ? /^([+-])(\d\d)(\d\d)/
          : body === '07:00' ? /^([+-])(\d\d):(\d\d)/
          : body === '070000' ? /^([+-])(\d\d)(\d\d)(\d\d)/
          : /^([+-])(\d\d):(\d\d):(\d\d)/;
        const m = pattern.exec(s);
        if (!m) throw cannot(s, code);
        const abs = parseInt(m[2]!, 10) * 3600 + parseInt(m[3] ?? '0', 10) * 60 + parseInt(m[4] ?? '0', 10);
        offset = m[1] === '-' ? -abs : abs;
        s = s.slice(m[0].length);
      }
    }
  }
  if (s !== '') throw new EvalError(`parsing time ${JSON.stringify(value)}: extra text: ${JSON.stringify(s)}`);
  if (pm !== undefined) {
    if (pm && hour < 12) hour += 12;
    else if (!pm && hour === 12) hour = 0;
  }
  const dim = daysFromCivil(month === 12 ? year + 1 : year, month === 12 ? 1 : month + 1, 1) - daysFromCivil(year, month, 1);
  if (day < 1 || day > dim) throw range('day');
  let z = zone;
  if (offset !== undefined) {
    z = offset === 0 && (zoneName === 'UTC' || zoneName === 'GMT' || zoneName === '') ? UTC : { name: zoneName, offset };
  } else if (zoneName !== '') {
    z = { name: zoneName, offset: zone.name === zoneName ? zone.offset : 0 };
  }
  return timeFromCivil(year, month, day, hour, min, sec, nsec, z);
}

// ---------------------------------------------------------------------------------------------
// The module's functions

function intArg(fnName: string, param: string, v: Value | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') throw new EvalError(`${fnName}: for parameter ${param}: ${v} out of range`);
  throw new EvalError(`${fnName}: for parameter ${param}: got ${typeName(v)}, want int`);
}

function strArg(fnName: string, param: string, v: Value | undefined, dflt: string): string {
  if (v === undefined) return dflt;
  if (typeof v === 'string') return v;
  throw new EvalError(`${fnName}: for parameter ${param}: got ${typeName(v)}, want string`);
}

const parseDurationBuiltin = new Builtin('parse_duration', (_th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
  const [d] = unpackArgs('parse_duration', args, kwargs, ['d']);
  if (d instanceof Duration) return d;
  return new Duration(parseDuration(strArg('parse_duration', 'd', d, '')));
});

const fromTimestamp = new Builtin('from_timestamp', (_th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
  const [sec, nsec] = unpackArgs('from_timestamp', args, kwargs, ['sec', 'nsec?']);
  if (typeof sec !== 'number' && typeof sec !== 'bigint') throw new EvalError(`from_timestamp: for parameter sec: got ${typeName(sec!)}, want int`);
  const ns = nsec === undefined ? 0n : typeof nsec === 'number' || typeof nsec === 'bigint' ? BigInt(nsec) : undefined;
  if (ns === undefined) throw new EvalError(`from_timestamp: for parameter nsec: got ${typeName(nsec!)}, want int`);
  const t = timeFromUnixNano(BigInt(sec) * SEC + ns);
  if (!Number.isSafeInteger(t.sec)) throw new EvalError('from_timestamp: timestamp out of range');
  return t;
});

const timeBuiltin = new Builtin('time', (_th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
  if (args.length > 0) throw new EvalError('time: unexpected positional arguments');
  const [y, mo, d, h, mi, s, ns, loc] = unpackArgs('time', args, kwargs, [
    'year?', 'month?', 'day?', 'hour?', 'minute?', 'second?', 'nanosecond?', 'location?',
  ]);
  const zone = loadLocation('time', strArg('time', 'location', loc, ''));
  return timeFromCivil(
    intArg('time', 'year', y, 0), intArg('time', 'month', mo, 0), intArg('time', 'day', d, 0),
    intArg('time', 'hour', h, 0), intArg('time', 'minute', mi, 0), intArg('time', 'second', s, 0),
    intArg('time', 'nanosecond', ns, 0), zone,
  );
});

const isValidTimezone = new Builtin('is_valid_timezone', (_th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
  const [loc] = unpackArgs('is_valid_timezone', args, kwargs, ['loc']);
  const name = strArg('is_valid_timezone', 'loc', loc, '');
  return name === '' || name === 'UTC' || name === 'Local';
});

const RFC3339 = '2006-01-02T15:04:05Z07:00';

const parseTimeBuiltin = new Builtin('parse_time', (_th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
  const [x, format, location] = unpackArgs('parse_time', args, kwargs, ['x', 'format?', 'location?']);
  const value = strArg('parse_time', 'x', x, '');
  const layout = strArg('parse_time', 'format', format, RFC3339);
  const zone = loadLocation('parse_time', strArg('parse_time', 'location', location, 'UTC'));
  return parseTime(utf8Decode(value), utf8Decode(layout), zone);
});

const now = new Builtin('now', (th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
  unpackArgs('now', args, kwargs, []);
  const clock = th.locals.get(TIME_NOW_LOCAL) as TimeNowFn | undefined;
  if (typeof clock !== 'function') throw new EvalError('time.now: not available (this host gives scripts no clock)');
  return timeFromUnixNano(clock());
});

/**
 * The `time` module: `load("time.star", "time")`.
 * https://github.com/google/starlark-go/blob/master/lib/time/time.go
 * @example
 * load("time.star", "time")
 * assert.eq(str(time.parse_duration("1h2m3.5s")), "1h2m3.5s")
 * assert.eq(str(time.from_timestamp(1257894000)), "2009-11-10 23:00:00 +0000 UTC")
 */
export const time: Module = new Module(
  'time',
  new Map<string, Value>([
    ['from_timestamp', fromTimestamp],
    ['is_valid_timezone', isValidTimezone],
    ['now', now],
    ['parse_duration', parseDurationBuiltin],
    ['parse_time', parseTimeBuiltin],
    ['time', timeBuiltin],
    ['nanosecond', new Duration(NS)],
    ['microsecond', new Duration(US)],
    ['millisecond', new Duration(MS)],
    ['second', new Duration(SEC)],
    ['minute', new Duration(MIN)],
    ['hour', new Duration(HOUR)],
  ]),
);
