/**
 * This file defines the `time` module (`load("time.star", "time")`), after go.starlark.net's
 * lib/time: the types `time.duration` (a signed 64-bit count of nanoseconds, printed as Go's
 * Duration.String prints it, e.g. `1h2m3.5s`) and `time.time` (an instant with a zone, printed in
 * Go's default layout, e.g. `2009-11-10 23:00:00 +0000 UTC`); the duration constants nanosecond ...
 * hour; and the functions parse_duration, from_timestamp, time, is_valid_timezone, parse_time and
 * now.
 *
 * Determinism: scripts get no clock and no host time zone. `now()` works only when the embedder puts
 * a clock in the thread's locals under {@link TIME_NOW_LOCAL}; otherwise it fails. "Local" means UTC
 * here (the host's zone would make a script's output depend on the machine it ran on).
 *
 * Locations: "" and "UTC" are UTC; any other name is an IANA zone ("Asia/Tokyo", "US/Eastern"),
 * spelled as in the tz database. Its offsets come from the ICU built into Node
 * (`Intl.DateTimeFormat` with an explicit `timeZone`, never the host's zone or the TZ variable), so
 * they follow the tz database version of the Node build; its abbreviations are the tz database's, as
 * Go prints them ("JST", "CEST", "+04"), from a table of every zone's abbreviations since 1970
 * (before 1970 an offset the table does not name prints in the numeric form, and the time before a
 * zone's first transition is "LMT"). A civil time that a transition skips or repeats resolves as in
 * Go's time.Date (see timeFromCivil). Instants parsed with an offset the location does not have at
 * that instant keep that fixed offset.
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

/** The offset east of UTC in seconds and the abbreviation (Go's zone name) in effect at an instant. */
interface ZoneInfo {
  readonly abbr: string;
  readonly offset: number;
}

/**
 * A location, as Go's *time.Location: UTC, a fixed zone (a parsed offset), or an IANA zone whose
 * offsets come from the ICU built into Node (`Intl.DateTimeFormat` with `timeZone`), never from the
 * host's zone or the TZ variable.
 */
export abstract class Zone {
  /** The location's name: "UTC", an IANA name such as "Asia/Tokyo", or a fixed zone's abbreviation. */
  abstract readonly name: string;
  /** The zone in effect at `sec` seconds since the epoch. */
  abstract lookup(sec: number): ZoneInfo;
  /**
   * The offset of the zone named `abbr` (e.g. "EDT") around `sec`, as Go's Location.lookupName: a zone
   * with that name in effect at the time, else any zone of the location with that name.
   */
  lookupName(_abbr: string, _sec: number): number | undefined {
    return undefined;
  }
}

/** A zone with one offset and abbreviation; an empty abbreviation prints as the offset (-0700). */
class FixedZone extends Zone {
  private readonly info: ZoneInfo;
  constructor(readonly name: string, offset: number) {
    super();
    this.info = { abbr: name, offset };
  }
  lookup(): ZoneInfo {
    return this.info;
  }
}

const UTC: Zone = new FixedZone('UTC', 0);

/** The range of a JS Date, in seconds. */
const DATE_MIN_SEC = -8.64e12;
const DATE_MAX_SEC = 8.64e12;
/** Seconds in 400 Gregorian years, after which the calendar (and a zone's rules) repeat. */
const SEC_400Y = 146097 * 86400;

/**
 * An IANA zone. The offset at an instant comes from ICU ("GMT-04:56:02" as `longOffset`); the
 * abbreviation is the tz database's, as Go prints it, from {@link ZONE_ABBRS} (ICU's own short names
 * are CLDR's, which differ: "GMT+9" for JST, "GST" for Dubai's "+04"). Before the zone's first
 * transition the abbreviation is "LMT" (local mean time), as in the tz database.
 */
class IanaZone extends Zone {
  private readonly fmt: Intl.DateTimeFormat;
  private firstTransition: number | undefined;
  /** Abbreviation entries since 1970: offset, abbreviation ("" for the numeric form), in use before. */
  private readonly abbrs: readonly AbbrEntry[];
  constructor(readonly name: string, readonly id: string) {
    super();
    this.fmt = new Intl.DateTimeFormat('en-US', { timeZone: id, timeZoneName: 'longOffset' });
    this.abbrs = zoneAbbrs(name) ?? zoneAbbrs(id) ?? [];
  }
  /** The offset at `sec`, in seconds. */
  offsetAt(sec: number): number {
    if (sec < DATE_MIN_SEC) sec = DATE_MIN_SEC;
    // Past the range of Date, the zone's rules (and the calendar) repeat every 400 years.
    if (sec > DATE_MAX_SEC) sec -= Math.ceil((sec - DATE_MAX_SEC) / SEC_400Y) * SEC_400Y;
    const part = this.fmt.formatToParts(sec * 1000).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
    const m = /^GMT(?:([+-])(\d\d):(\d\d)(?::(\d\d))?)?$/.exec(part);
    if (!m?.[1]) return 0;
    const abs = +m[2]! * 3600 + +m[3]! * 60 + +(m[4] ?? 0);
    return m[1] === '-' ? -abs : abs;
  }
  /** The first instant whose offset differs from the zone's earliest (local mean time); -Infinity if none. */
  private first(): number {
    if (this.firstTransition === undefined) {
      const lmt = this.offsetAt(DATE_MIN_SEC);
      let hi = [-2.5e9, -1e9, 0, 1e9, 2e9].find((s) => this.offsetAt(s) !== lmt);
      if (hi === undefined) this.firstTransition = -Infinity;
      else {
        let lo = DATE_MIN_SEC; // offsetAt(lo) === lmt, offsetAt(hi) !== lmt
        while (hi - lo > 1) {
          const mid = Math.floor((lo + hi) / 2);
          if (this.offsetAt(mid) === lmt) lo = mid;
          else hi = mid;
        }
        this.firstTransition = hi;
      }
    }
    return this.firstTransition;
  }
  lookup(sec: number): ZoneInfo {
    const offset = this.offsetAt(sec);
    return { offset, abbr: this.abbrFor(offset, sec) };
  }
  private abbrFor(offset: number, sec: number): string {
    for (const e of this.abbrs) {
      if (e.offset === offset && sec < e.until) return e.abbr || numericAbbr(offset);
    }
    const first = this.first();
    if (sec < first && first < 0) return 'LMT'; // a zone whose history starts after 1970 has no LMT
    return numericAbbr(offset);
  }
  override lookupName(abbr: string, sec: number): number | undefined {
    const candidates = this.abbrs.filter((e) => e.abbr === abbr).map((e) => e.offset);
    const numeric = /^([+-])(\d\d)(\d\d)?(\d\d)?$/.exec(abbr);
    if (numeric) {
      // A numeric name ("+04") is the zone's if it names the offset it spells there at that time.
      const off = (numeric[1] === '-' ? -1 : 1) * (+numeric[2]! * 3600 + +(numeric[3] ?? 0) * 60 + +(numeric[4] ?? 0));
      if (this.lookup(sec - off).abbr === abbr) return off;
    }
    if (abbr === 'LMT' && this.first() !== -Infinity) candidates.push(this.offsetAt(DATE_MIN_SEC));
    for (const off of candidates) if (this.lookup(sec - off).abbr === abbr) return this.offsetAt(sec - off);
    return candidates[0];
  }
}

/** The tz database's form of an unnamed offset: "+04", "+0530", "-0330". */
function numericAbbr(offset: number): string {
  const a = Math.abs(offset);
  const mm = Math.floor(a / 60) % 60;
  const ss = a % 60;
  let s = (offset < 0 ? '-' : '+') + pad(Math.floor(a / 3600), 2);
  if (mm || ss) s += pad(mm, 2);
  if (ss) s += pad(ss, 2);
  return s;
}

interface AbbrEntry {
  readonly offset: number;
  readonly abbr: string;
  readonly until: number;
}

let abbrTable: Map<string, AbbrEntry[]> | undefined;

/** The abbreviation entries of the zone named `name` in {@link ZONE_ABBRS}. */
function zoneAbbrs(name: string): AbbrEntry[] | undefined {
  if (!abbrTable) {
    abbrTable = new Map();
    for (const row of ZONE_ABBRS) {
      const [names, list] = row.split('|') as [string, string];
      const entries = list.split(',').map((e) => {
        const m = /^(-?[0-9a-z]+)=([^<]*)(?:<(-?[0-9a-z]+))?$/.exec(e)!;
        return { offset: parseInt(m[1]!, 36), abbr: m[2]!, until: m[3] === undefined ? Infinity : parseInt(m[3], 36) };
      });
      for (const n of names.split(' ')) abbrTable.set(n, entries);
    }
  }
  return abbrTable.get(name);
}

const zoneCache = new Map<string, Zone>();
let canonicalZones: Set<string> | undefined;
let aliasZones: Set<string> | undefined;

/**
 * The IANA zone named `name` (case as in the tz database), or undefined. A name is known if ICU
 * knows it and it is spelled as one of ICU's canonical names, as a tz database alias in
 * {@link ZONE_ALIASES}, or as the name ICU resolves it to.
 */
function ianaZone(name: string): Zone | undefined {
  const cached = zoneCache.get(name);
  if (cached) return cached;
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(name) || name.includes('//') || name.endsWith('/')) return undefined;
  let id: string;
  try {
    id = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
  canonicalZones ??= new Set(Intl.supportedValuesOf('timeZone'));
  aliasZones ??= new Set(ZONE_ALIASES.trim().split(/\s+/));
  if (id !== name && !canonicalZones.has(name) && !aliasZones.has(name)) return undefined;
  const zone = new IanaZone(name, id);
  zoneCache.set(name, zone);
  return zone;
}

/**
 * The location named `loc`, as Go's time.LoadLocation: "" and "UTC" are UTC; "Local" is also UTC,
 * because a script must not see the host's zone; any other name is an IANA zone ("Asia/Tokyo").
 */
function loadLocation(fnName: string, loc: string): Zone {
  if (loc === '' || loc === 'UTC' || loc === 'Local') return UTC;
  if (loc.includes('..') || loc[0] === '/' || loc[0] === '\\') throw new EvalError(`${fnName}: time: invalid location name`);
  const zone = ianaZone(utf8Decode(loc));
  if (!zone) throw new EvalError(`${fnName}: unknown time zone ${utf8Decode(loc)}`);
  return zone;
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
  private info: ZoneInfo | undefined;
  /** The offset and abbreviation of this time's zone at this instant. */
  zoneInfo(): ZoneInfo {
    return (this.info ??= this.zone.lookup(this.sec));
  }
  /** The fields in this time's zone. */
  civil(): Civil {
    const local = this.sec + this.zoneInfo().offset;
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
 *
 * Around a transition of the zone's offset, as Go's time.Date: with L the civil time read as if it
 * were UTC, the offset o1 in effect at the instant L gives a first guess L - o1, and the result is
 * L - o2 where o2 is the offset in effect at L - o1. So a civil time in a gap (it never happened) or
 * in an overlap (it happened twice) resolves by where the transition falls in UTC: in New York,
 * 2024-03-10 02:30 is 01:30 EST and 2024-11-03 01:30 is the first one, EDT; in Berlin,
 * 2024-03-31 02:30 is 03:30 CEST and 2024-10-27 02:30 is the second one, CET.
 */
function timeFromCivil(year: number, month: number, day: number, hour: number, min: number, sec: number, nsec: number, zone: Zone): Time {
  const m0 = month - 1;
  year += floorDiv(m0, 12);
  month = m0 - floorDiv(m0, 12) * 12 + 1;
  sec += floorDiv(nsec, 1e9);
  nsec -= floorDiv(nsec, 1e9) * 1e9;
  const days = daysFromCivil(year, month, 1) + day - 1;
  const local = days * 86400 + hour * 3600 + min * 60 + sec;
  if (!Number.isSafeInteger(local)) throw new EvalError('time: date out of range');
  const total = local - zone.lookup(local - zone.lookup(local).offset).offset;
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
  const zi = t.zoneInfo();
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
      case 'MST': out += zi.abbr !== '' ? zi.abbr : formatOffset(zi.offset, '-0700'); break;
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
      default: out += formatOffset(zi.offset, tok.code);
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
  let utc = false; // "Z" or "UTC" was read
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
        if (s.startsWith('UTC')) {
          utc = true;
          s = s.slice(3);
          break;
        }
        const n = zoneNameLength(s);
        if (n === 0) throw cannot(s, code);
        zoneName = s.slice(0, n);
        s = s.slice(n);
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
          utc = true;
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
  if (utc) return timeFromCivil(year, month, day, hour, min, sec, nsec, UTC);
  if (offset !== undefined) {
    // As Go: the location's own zone if it has this offset (and name) at that instant, else a fixed zone.
    const t = timeFromCivil(year, month, day, hour, min, sec, nsec, UTC);
    const at = t.sec - offset;
    const zi = zone.lookup(at);
    const z = zi.offset === offset && (zoneName === '' || zi.abbr === zoneName) ? zone : new FixedZone(zoneName, offset);
    return new Time(at, t.nsec, z);
  }
  if (zoneName !== '') {
    // As Go: a name the location uses gives its offset; any other name gives a fixed zone of offset
    // zero, or of h hours for "GMT+h", whose clock then reads h hours ahead (Go keeps the instant read
    // as UTC: "10:00 GMT+3" is 13:00 +0300).
    const t = timeFromCivil(year, month, day, hour, min, sec, nsec, UTC);
    const off = zone.lookupName(zoneName, t.sec);
    if (off !== undefined) return new Time(t.sec - off, t.nsec, zone);
    const gmt = /^GMT([+-]\d+)$/.exec(zoneName);
    return new Time(t.sec, t.nsec, new FixedZone(zoneName, gmt ? parseInt(gmt[1]!, 10) * 3600 : 0));
  }
  return timeFromCivil(year, month, day, hour, min, sec, nsec, zone);
}

/**
 * The length of the zone abbreviation at the start of `s`, as Go's parseTimeZone: "ChST" and
 * "MeST"; "GMT" with an optional signed hour ("GMT+3"); a signed hour offset ("+03", "-0330"); or
 * three to five upper-case letters (four must end in T or be WITA; five must end in T). 0 if none.
 */
function zoneNameLength(s: string): number {
  if (s.length < 3) return 0;
  if (s.startsWith('ChST') || s.startsWith('MeST')) return 4;
  const signed = (v: string): number => {
    const m = /^[+-](\d+)/.exec(v);
    return m && parseInt(m[1]!, 10) <= 23 ? m[0].length : 0;
  };
  if (s.startsWith('GMT')) return 3 + (s.length > 3 ? signed(s.slice(3)) : 0);
  if (s[0] === '+' || s[0] === '-') return signed(s);
  let n = 0;
  while (n < 6 && n < s.length && s[n]! >= 'A' && s[n]! <= 'Z') n++;
  if (n === 3) return 3;
  if (n === 4 && (s[3] === 'T' || s.startsWith('WITA'))) return 4;
  if (n === 5 && s[4] === 'T') return 5;
  return 0;
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
  return name === '' || name === 'UTC' || name === 'Local' || ianaZone(utf8Decode(name)) !== undefined;
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

// ---------------------------------------------------------------------------------------------
// Time zone data

/**
 * The tz database's abbreviations of each IANA zone since 1970, as Go prints them (generated from
 * tzdata 2025b through Go's time package). A row is `names|entries`; an entry `offset=abbr<until`
 * (offset in seconds, base 36) names the zone at that offset before `until` (seconds since the
 * epoch, base 36; no `<until` is "ever since"); an empty abbr is the numeric form ("+04"). An offset
 * no entry names prints in the numeric form. Zones are looked up by the name given, then by ICU's
 * canonical name.
 */
const ZONE_ABBRS = [
  'Africa/Abidjan Africa/Accra Africa/Bamako Africa/Banjul Africa/Bissau Africa/Conakry Africa/Dakar Africa/Freetown Africa/Lome Africa/Nouakchott Africa/Ouagadougou America/Danmarkshavn Atlantic/Reykjavik Atlantic/St_Helena Etc/GMT+0 Etc/GMT Etc/GMT-0 Etc/GMT0 Etc/Greenwich GMT+0 GMT GMT-0 GMT0 Greenwich|0=GMT',
  'Africa/Addis_Ababa Africa/Asmera Africa/Dar_es_Salaam Africa/Djibouti Africa/Kampala Africa/Mogadishu Africa/Nairobi Indian/Antananarivo Indian/Comoro Indian/Mayotte|8c0=EAT',
  'Africa/Algiers|0=WET,2s0=WEST<42lp80,2s0=CET<5drxc0,2s0=WEST<5wuyo0,2s0=CET,5k0=CEST',
  'Africa/Bangui Africa/Brazzaville Africa/Douala Africa/Kinshasa Africa/Lagos Africa/Libreville Africa/Luanda Africa/Malabo Africa/Niamey Africa/Porto-Novo|2s0=WAT',
  'Africa/Blantyre Africa/Bujumbura Africa/Gaborone Africa/Harare Africa/Kigali Africa/Lubumbashi Africa/Lusaka Africa/Maputo|5k0=CAT',
  'Africa/Cairo Asia/Beirut Asia/Nicosia Europe/Athens Europe/Bucharest Europe/Helsinki Europe/Mariehamn Europe/Sofia|5k0=EET,8c0=EEST',
  'Africa/Ceuta|0=WET,2s0=WEST<7eveo0,2s0=CET,5k0=CEST',
  'Africa/Johannesburg Africa/Maseru Africa/Mbabane|5k0=SAST',
  'Africa/Juba Africa/Khartoum|5k0=CAT,8c0=CAST<fodfs0,8c0=EAT',
  'Africa/Monrovia|-226=MMT,0=GMT',
  'Africa/Ndjamena|2s0=WAT,5k0=WAST',
  'Africa/Sao_Tome|0=GMT,2s0=WAT',
  'Africa/Tripoli|2s0=CET,5k0=EET<6e3980,5k0=CEST<am3h80,5k0=EET<e833w0,5k0=CEST<ehhx40,5k0=EET<mkeao0,5k0=CEST<mv76o0,5k0=EET',
  'Africa/Tunis Arctic/Longyearbyen Europe/Amsterdam Europe/Andorra Europe/Belgrade Europe/Berlin Europe/Bratislava Europe/Brussels Europe/Budapest Europe/Busingen Europe/Copenhagen Europe/Gibraltar Europe/Ljubljana Europe/Luxembourg Europe/Madrid Europe/Malta Europe/Monaco Europe/Oslo Europe/Paris Europe/Podgorica Europe/Prague Europe/Rome Europe/San_Marino Europe/Sarajevo Europe/Skopje Europe/Stockholm Europe/Tirane Europe/Vaduz Europe/Vatican Europe/Vienna Europe/Warsaw Europe/Zagreb Europe/Zurich|2s0=CET,5k0=CEST',
  'Africa/Windhoek|2s0=WAT,5k0=SAST<ajtx40,5k0=CAT',
  'America/Adak|-uk0=BST,-rs0=BDT<77ss00,-rs0=AHST<79e140,-rs0=HST,-p00=HDT',
  'America/Anchorage|-rs0=AHST,-p00=AHDT<77sp80,-p00=YST<79dyc0,-p00=AKST,-m80=AKDT',
  'America/Anguilla America/Antigua America/Aruba America/Blanc-Sablon America/Curacao America/Dominica America/Grenada America/Guadeloupe America/Kralendijk America/Lower_Princes America/Marigot America/Miquelon America/Montserrat America/Port_of_Spain America/Puerto_Rico America/St_Barthelemy America/St_Kitts America/St_Lucia America/St_Thomas America/St_Vincent America/Tortola|-b40=AST',
  'America/Bahia_Banderas|-jg0=MST,-go0=MDT<lb57g0,-go0=CST,-dw0=CDT',
  'America/Barbados America/Glace_Bay America/Halifax America/Martinique America/Moncton America/Thule Atlantic/Bermuda|-b40=AST,-8c0=ADT',
  'America/Belize America/Chicago America/Costa_Rica America/El_Salvador America/Guatemala America/Matamoros America/Mexico_City America/Monterrey America/Tegucigalpa America/Winnipeg|-go0=CST,-dw0=CDT',
  'America/Boise America/Denver America/Edmonton America/Hermosillo America/Mazatlan|-jg0=MST,-go0=MDT',
  'America/Cambridge_Bay|-jg0=MST,-go0=MDT<fkgjk0,-go0=CST<gb3vo0,-go0=MDT,-dw0=CDT<g36jg0,-dw0=EST',
  'America/Cancun|-go0=CST,-dw0=EST<dphfk0,-dw0=CDT<eincs0,-dw0=EST<ex1so0,-dw0=CDT<nj3280,-dw0=EST,-b40=EDT',
  'America/Cayman America/Coral_Harbour America/Panama|-dw0=EST',
  'America/Chihuahua America/Ojinaga|-jg0=MST,-go0=CST<eqxno0,-go0=MDT<rkk3k0,-go0=CST,-dw0=CDT',
  'America/Ciudad_Juarez|-jg0=MST,-go0=CST<eqxno0,-go0=MDT<rkk3k0,-go0=CST<rreh00,-go0=MDT,-dw0=CDT',
  'America/Creston America/Phoenix|-jg0=MST',
  'America/Dawson|-p00=YST,-m80=PST,-jg0=PDT<qj3vg0,-jg0=MST',
  'America/Dawson_Creek|-m80=PST,-jg0=PDT<1e0p00,-jg0=MST',
  'America/Detroit America/Indiana/Vevay America/Indianapolis America/Jamaica America/Nassau America/New_York America/Port-au-Prince America/Toronto|-dw0=EST,-b40=EDT',
  'America/Fort_Nelson|-m80=PST,-jg0=PDT<nkw140,-jg0=MST',
  'America/Goose_Bay|-b40=AST,-8c0=ADT,-5k0=ADDT',
  'America/Grand_Turk|-dw0=EST,-b40=EDT<nkvss0,-b40=AST<p5ezg0,-b40=EDT',
  'America/Havana|-dw0=CST,-b40=CDT',
  'America/Indiana/Knox|-go0=CST,-dw0=CDT<bdxy40,-dw0=EST<ix3240,-dw0=CDT',
  'America/Indiana/Marengo America/Louisville|-dw0=EST<23fcs0,-dw0=CDT<2ijss0,-dw0=EST,-b40=EDT',
  'America/Indiana/Petersburg|-go0=CST,-dw0=CDT<432zg0,-dw0=EST<ix3240,-dw0=CDT<jqyzg0,-dw0=EST,-b40=EDT',
  'America/Indiana/Tell_City|-go0=CST,-dw0=EST<ix3240,-dw0=CDT,-b40=EDT',
  'America/Indiana/Vincennes|-go0=CST,-dw0=EST<ix3240,-dw0=CDT<jqyzg0,-dw0=EST,-b40=EDT',
  'America/Indiana/Winamac|-go0=CST,-dw0=EST<ix3240,-dw0=CDT<jqywo0,-dw0=EST,-b40=EDT',
  'America/Inuvik|-m80=PST,-jg0=PDT<54j7k0,-jg0=MST,-go0=MDT',
  'America/Iqaluit|-go0=CST,-dw0=EST<fsdq80,-dw0=CDT<g36jg0,-dw0=EST,-b40=EDT',
  'America/Juneau|-p00=YST<79dyc0,-p00=AKST,-m80=PST<5dweg0,-m80=YDT<5n9fs0,-m80=PST<7h5qk0,-m80=AKDT,-jg0=PDT',
  'America/Kentucky/Monticello|-go0=CST,-dw0=CDT<g36jg0,-dw0=EST,-b40=EDT',
  'America/Los_Angeles America/Tijuana America/Vancouver|-m80=PST,-jg0=PDT',
  'America/Managua|-go0=CST,-dw0=EST<4t08o0,-dw0=CDT<bhceg0,-dw0=EST<iepvc0,-dw0=CDT',
  'America/Menominee|-go0=CST,-dw0=EST<1qgos0,-dw0=CDT',
  'America/Merida|-go0=CST,-dw0=EST<dphfk0,-dw0=CDT',
  'America/Metlakatla|-p00=AKST,-m80=PST<o3z580,-m80=AKDT<phnyg0,-m80=PST<po5d80,-m80=AKDT,-jg0=PDT',
  'America/Nome|-uk0=BST,-rs0=BDT,-p00=YST<79dyc0,-p00=AKST,-m80=AKDT',
  'America/North_Dakota/Beulah|-jg0=MST,-go0=MDT<lbi8w0,-go0=CST,-dw0=CDT',
  'America/North_Dakota/Center|-jg0=MST,-go0=MDT<bwo3k0,-go0=CST,-dw0=CDT',
  'America/North_Dakota/New_Salem|-jg0=MST,-go0=MDT<hncu80,-go0=CST,-dw0=CDT',
  'America/Rankin_Inlet|-go0=CST,-dw0=CDT<g36jg0,-dw0=EST<gb3sw0,-dw0=CDT',
  'America/Regina|-go0=CST',
  'America/Resolute|-go0=CST,-dw0=CDT<g36jg0,-dw0=EST<gb3sw0,-dw0=CDT<j7vy40,-dw0=EST<jeqbk0,-dw0=CDT',
  'America/Santo_Domingo|-dw0=EST,-b40=AST',
  'America/Sitka|-p00=YST<79dyc0,-p00=AKST,-m80=PST<7h5qk0,-m80=AKDT,-jg0=PDT',
  'America/St_Johns|-9q0=NST,-6y0=NDT,-460=NDDT',
  'America/Swift_Current|-jg0=MST,-go0=CST',
  'America/Whitehorse|-m80=PST,-jg0=PDT<qj3vg0,-jg0=MST',
  'America/Yakutat|-p00=YST<79dyc0,-p00=AKST,-m80=YDT<7h5qk0,-m80=AKDT',
  'Antarctica/Macquarie Australia/Brisbane Australia/Hobart Australia/Lindeman Australia/Melbourne Australia/Sydney|rs0=AEST,uk0=AEDT',
  'Antarctica/McMurdo Pacific/Auckland|xc0=NZST,1040=NZDT',
  'Antarctica/Rothera Antarctica/Vostok|0=-00',
  'Antarctica/Troll|0=-00<ibruo0',
  'Asia/Amman|5k0=EET,8c0=EEST<rkfmg0',
  'Asia/Calcutta|fa0=IST',
  'Asia/Damascus|5k0=EET,8c0=EEST<rkfjo0',
  'Asia/Famagusta|5k0=EET,8c0=EEST<od5jo0,8c0=<p64g40,8c0=EEST',
  'Asia/Gaza Asia/Hebron|5k0=IST<dkh140,5k0=EET,8c0=IDT<dpcyg0,8c0=EEST',
  'Asia/Hong_Kong|m80=HKT,p00=HKST',
  'Asia/Jakarta|jg0=WIB',
  'Asia/Jayapura|p00=WIT',
  'Asia/Jerusalem|5k0=IST,8c0=IDT',
  'Asia/Karachi|dw0=<n33g0,dw0=PKT,go0=PKST',
  'Asia/Macau Asia/Shanghai Asia/Taipei|m80=CST,p00=CDT',
  'Asia/Makassar|m80=WITA',
  'Asia/Manila|m80=PST,p00=PDT',
  'Asia/Pontianak|jg0=WIB,m80=WITA',
  'Asia/Pyongyang|nm0=KST,p00=KST',
  'Asia/Seoul|p00=KST,rs0=KDT',
  'Asia/Tokyo|p00=JST',
  'Atlantic/Azores|0=<bzwaw0,0=WET<c8qqs0,2s0=WEST',
  'Atlantic/Canary Atlantic/Faeroe Atlantic/Madeira WET|0=WET,2s0=WEST',
  'Australia/Adelaide Australia/Broken_Hill|qe0=ACST,t60=ACDT',
  'Australia/Darwin|qe0=ACST',
  'Australia/Lord_Howe|rs0=AEST',
  'Australia/Perth|m80=AWST,p00=AWDT',
  'Europe/Chisinau|5k0=EET,8c0=MSK<am73s0,8c0=EEST,b40=MSD',
  'Europe/Dublin|0=GMT,2s0=IST',
  'Europe/Guernsey Europe/Isle_of_Man Europe/Jersey Europe/London|0=GMT,2s0=BST',
  'Europe/Istanbul|5k0=EET,8c0=EEST<4fid00,8c0=<7zg2k0,8c0=EEST<od3p00',
  'Europe/Kaliningrad|5k0=EET,8c0=MSK<a1bbw0,8c0=EEST<liow00,b40=MSD',
  'Europe/Kiev|5k0=EET,8c0=MSK<ap2t40,8c0=EEST,b40=MSD',
  'Europe/Kirov|8c0=MSK,b40=<a1b940,b40=MSD<b34fw0,b40=<blufs0,b40=MSD<liot80,b40=MSK',
  'Europe/Lisbon|0=WET,2s0=CET<3rwlc0,2s0=WEST<bv7pg0,2s0=CET<dp3xg0,2s0=WEST,5k0=CEST',
  'Europe/Minsk|5k0=EET,8c0=MSK<b34fw0,8c0=EEST<liow00,b40=MSD',
  'Europe/Moscow|5k0=EET,8c0=MSK<b34fw0,8c0=EEST<bi8yo0,8c0=MSK,b40=MSD<liot80,b40=MSK',
  'Europe/Riga Europe/Tallinn|5k0=EET,8c0=MSK<a1bbw0,8c0=EEST,b40=MSD',
  'Europe/Simferopol|5k0=EET,8c0=MSK<blulc0,8c0=EEST<cwnp80,8c0=MSK<e7u040,8c0=EEST<ne0t40,8c0=MSK,b40=MSD<n382o0,b40=MSK',
  'Europe/Vilnius|2s0=CET,5k0=EET<eqk2s0,5k0=CEST<fkg040,5k0=EET,8c0=MSK<a1bbw0,8c0=EEST,b40=MSD',
  'Europe/Volgograd|8c0=MSK,b40=<9il6g0,b40=MSD<b34fw0,b40=<blufs0,b40=MSD<liot80,b40=MSK<pha580',
  'MET|2s0=MET,5k0=MEST',
  'Pacific/Guam Pacific/Saipan|rs0=GST<g5z2w0,rs0=ChST,uk0=GDT',
  'Pacific/Honolulu|-rs0=HST',
  'Pacific/Midway Pacific/Pago_Pago|-uk0=SST',
  'UTC|0=UTC',
];

/** The tz database names (links) that ICU knows but does not list among its canonical zones. */
const ZONE_ALIASES = `
Africa/Asmara Africa/Timbuktu America/Argentina/Buenos_Aires America/Argentina/Catamarca
America/Argentina/ComodRivadavia America/Argentina/Cordoba America/Argentina/Jujuy
America/Argentina/Mendoza America/Atikokan America/Atka America/Ensenada America/Fort_Wayne
America/Indiana/Indianapolis America/Kentucky/Louisville America/Knox_IN America/Montreal
America/Nipigon America/Nuuk America/Pangnirtung America/Porto_Acre America/Rainy_River
America/Rosario America/Santa_Isabel America/Shiprock America/Thunder_Bay America/Virgin
America/Yellowknife Antarctica/South_Pole Asia/Ashkhabad Asia/Choibalsan Asia/Chongqing
Asia/Chungking Asia/Dacca Asia/Harbin Asia/Ho_Chi_Minh Asia/Istanbul Asia/Kashgar Asia/Kathmandu
Asia/Kolkata Asia/Macao Asia/Tel_Aviv Asia/Thimbu Asia/Ujung_Pandang Asia/Ulan_Bator Asia/Yangon
Atlantic/Faroe Atlantic/Jan_Mayen Australia/ACT Australia/Canberra Australia/Currie Australia/LHI
Australia/NSW Australia/North Australia/Queensland Australia/South Australia/Tasmania
Australia/Victoria Australia/West Australia/Yancowinna Brazil/Acre Brazil/DeNoronha Brazil/East
Brazil/West CET CST6CDT Canada/Atlantic Canada/Central Canada/Eastern Canada/Mountain
Canada/Newfoundland Canada/Pacific Canada/Saskatchewan Canada/Yukon Chile/Continental
Chile/EasterIsland Cuba EET EST EST5EDT Egypt Eire Etc/GMT Etc/GMT+0 Etc/GMT+1 Etc/GMT+10
Etc/GMT+11 Etc/GMT+12 Etc/GMT+2 Etc/GMT+3 Etc/GMT+4 Etc/GMT+5 Etc/GMT+6 Etc/GMT+7 Etc/GMT+8
Etc/GMT+9 Etc/GMT-0 Etc/GMT-1 Etc/GMT-10 Etc/GMT-11 Etc/GMT-12 Etc/GMT-13 Etc/GMT-14 Etc/GMT-2
Etc/GMT-3 Etc/GMT-4 Etc/GMT-5 Etc/GMT-6 Etc/GMT-7 Etc/GMT-8 Etc/GMT-9 Etc/GMT0 Etc/Greenwich
Etc/UCT Etc/UTC Etc/Universal Etc/Zulu Europe/Belfast Europe/Kyiv Europe/Nicosia Europe/Tiraspol
Europe/Uzhgorod Europe/Zaporozhye GB GB-Eire GMT GMT+0 GMT-0 GMT0 Greenwich HST Hongkong Iceland
Iran Israel Jamaica Japan Kwajalein Libya MET MST MST7MDT Mexico/BajaNorte Mexico/BajaSur
Mexico/General NZ NZ-CHAT Navajo PRC PST8PDT Pacific/Chuuk Pacific/Johnston Pacific/Kanton
Pacific/Pohnpei Pacific/Samoa Pacific/Yap Poland Portugal ROC ROK Singapore Turkey UCT US/Alaska
US/Aleutian US/Arizona US/Central US/East-Indiana US/Eastern US/Hawaii US/Indiana-Starke
US/Michigan US/Mountain US/Pacific US/Samoa UTC Universal W-SU WET Zulu
`;
