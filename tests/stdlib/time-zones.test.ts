/**
 * Unit tests of the time module's IANA locations (stdlib/time.ts): results never depend on the
 * host's zone (the TZ variable), the module reads no local-time getter, and every zone ICU knows
 * loads and prints an abbreviation of the tz database's forms. Values against Go are in
 * tests/testdata/time-zones.star.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Builtin, repr, type KwArgs, type ThreadContext, type Value } from '../../src/interpreter/values/index.js';
import { time, type Time } from '../../src/stdlib/time.js';

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
  return (time.getAttr(name) as Builtin).impl(th, args, kwargs, null) as Value;
}
function method(t: Value, name: string, ...args: Value[]): Value {
  return ((t as Time).getAttr(name) as Builtin).impl(th, args, null, null) as Value;
}

/** A sample of the module's zone-dependent results, as strings. */
function sample(): string[] {
  const out: string[] = [];
  const u = call('from_timestamp', [1720000000]);
  out.push(repr(u));
  for (const z of ['Local', 'UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Tokyo', 'Australia/Sydney', 'Asia/Dubai']) {
    const t = method(u, 'in_location', z);
    out.push(repr(t), repr(method(t, 'format', 'Mon Jan 2 15:04:05 MST -07:00 2006')), String((t as Time).getAttr('hour')));
    const c = call('time', [], [['year', 2024], ['month', 3], ['day', 10], ['hour', 2], ['minute', 30], ['location', z]]);
    out.push(repr(c));
    out.push(repr(call('parse_time', ['2024-11-03 01:30'], [['format', '2006-01-02 15:04'], ['location', z]])));
  }
  out.push(repr(call('parse_time', ['2024-11-03T01:30:00-07:00'])));
  out.push(repr(call('time', [], [['year', 1800], ['month', 1], ['day', 1], ['location', 'Europe/London']])));
  return out;
}

describe('time zones', () => {
  const savedTZ = process.env.TZ;
  afterEach(() => {
    if (savedTZ === undefined) delete process.env.TZ;
    else process.env.TZ = savedTZ;
  });

  it('give the same results whatever the host zone (TZ)', () => {
    process.env.TZ = 'UTC';
    expect(new Date(0).getTimezoneOffset()).toBe(0);
    const base = sample();
    expect(base).toContain('2024-07-03 05:46:40 -0400 EDT');
    expect(base[1]).toBe('2024-07-03 09:46:40 +0000 UTC'); // Local is UTC
    for (const tz of ['America/Los_Angeles', 'Asia/Tokyo', 'Pacific/Kiritimati', 'Europe/Berlin']) {
      process.env.TZ = tz;
      expect(new Date(0).getTimezoneOffset()).not.toBe(0); // the host zone did change
      expect(sample()).toEqual(base);
    }
  });

  it('are computed without local-time getters or the default zone', () => {
    const src = readFileSync(join(import.meta.dirname, '../../src/stdlib/time.ts'), 'utf8');
    expect(src).not.toMatch(/\.get(FullYear|Month|Date|Day|Hours|Minutes|Seconds|Milliseconds|TimezoneOffset)\(/);
    expect(src).not.toMatch(/toLocale\w*\(|Date\.now\(|new Date\(/);
    // Every Intl.DateTimeFormat names its zone.
    const formats = [...src.matchAll(/new Intl\.DateTimeFormat\(([^)]*)\)/g)].map((m) => m[1]!);
    expect(formats.length).toBeGreaterThan(0);
    for (const args of formats) expect(args).toMatch(/timeZone:/);
  });

  it('load every zone ICU knows, with a tz-database-style abbreviation', () => {
    const u = call('from_timestamp', [1720000000]);
    const w = call('from_timestamp', [1705000000]);
    for (const z of Intl.supportedValuesOf('timeZone')) {
      expect(call('is_valid_timezone', [z])).toBe(true);
      for (const t of [method(u, 'in_location', z), method(w, 'in_location', z)]) {
        const abbr = method(t, 'format', 'MST') as string;
        expect(abbr, z).toMatch(/^(?:[A-Z][A-Za-z]{1,5}|[+-]\d\d(?:\d\d)?)$/);
        // The offset printed agrees with ICU's.
        const icu = new Intl.DateTimeFormat('en-US', { timeZone: z, timeZoneName: 'longOffset' })
          .formatToParts((t as Time).sec * 1000)
          .find((p) => p.type === 'timeZoneName')!.value;
        const want = icu === 'GMT' ? '+00:00' : icu.slice(3);
        expect(method(t, 'format', '-07:00'), z).toBe(want);
      }
    }
  });
});
