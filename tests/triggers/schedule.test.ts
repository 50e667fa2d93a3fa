/**
 * When triggers fire: cron ticks in a time zone across DST changes, intervals, backfill ranges
 * (inclusive), and the catch-up policies after downtime.
 */
import { describe, expect, it } from 'vitest';
import { ScheduleError, checkSchedule, dueTicks, nextTick, ticksBetween } from '../../src/pipelines/triggers/schedule.js';

const iso = (t: number | undefined): string | undefined => (t === undefined ? undefined : new Date(t).toISOString());
const at = (s: string): number => Date.parse(s);

describe('trigger schedules', () => {
  it('cron in a time zone keeps local time across DST (and skips a local time that does not exist)', () => {
    const daily = { cron: { expression: '30 9 * * *', timezone: 'Europe/Berlin' } };
    // 09:30 in Berlin is 08:30Z in winter, 07:30Z in summer; DST starts on 2026-03-29.
    expect(ticksBetween(daily, at('2026-03-27T00:00:00Z'), at('2026-03-30T23:59:59Z')).map(iso)).toEqual([
      '2026-03-27T08:30:00.000Z',
      '2026-03-28T08:30:00.000Z',
      '2026-03-29T07:30:00.000Z',
      '2026-03-30T07:30:00.000Z',
    ]);
    // 02:30 does not exist in Berlin on 2026-03-29: one tick that day, none twice.
    const night = { cron: { expression: '30 2 * * *', timezone: 'Europe/Berlin' } };
    const ticks = ticksBetween(night, at('2026-03-28T12:00:00Z'), at('2026-03-30T12:00:00Z'));
    expect(ticks.length).toBe(2);
    expect(new Set(ticks.map((t) => new Date(t).toISOString().slice(0, 10))).size).toBe(2);
  });

  it('intervals tick from their anchor; backfill ranges include both ends', () => {
    const every15m = { intervalMs: 15 * 60_000, anchor: at('2026-01-01T00:00:00Z') };
    expect(iso(nextTick(every15m, at('2026-01-01T00:07:00Z')))).toBe('2026-01-01T00:15:00.000Z');
    expect(iso(nextTick(every15m, at('2026-01-01T00:15:00Z')))).toBe('2026-01-01T00:30:00.000Z');
    const hourly = { cron: { expression: '0 * * * *' } };
    expect(ticksBetween(hourly, at('2026-01-01T00:00:00Z'), at('2026-01-01T03:00:00Z')).map(iso)).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2026-01-01T01:00:00.000Z',
      '2026-01-01T02:00:00.000Z',
      '2026-01-01T03:00:00.000Z',
    ]);
    expect(() => ticksBetween({ intervalMs: 1000 }, 0, 1e9, 100)).toThrow(/more than 100 ticks/);
  });

  it('after downtime: all missed ticks, only the latest, or only an on-time one', () => {
    const hourly = { cron: { expression: '0 * * * *' } };
    const last = at('2026-01-01T00:00:00Z');
    const now = at('2026-01-01T03:00:30Z');
    expect(dueTicks(hourly, last, now, 'all').map(iso)).toEqual(['2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z', '2026-01-01T03:00:00.000Z']);
    expect(dueTicks(hourly, last, now, 'latest').map(iso)).toEqual(['2026-01-01T03:00:00.000Z']);
    expect(dueTicks(hourly, last, now, 'skip').map(iso)).toEqual(['2026-01-01T03:00:00.000Z']);
    expect(dueTicks(hourly, last, at('2026-01-01T03:20:00Z'), 'skip')).toEqual([]);
    expect(dueTicks(hourly, at('2026-01-01T03:00:00Z'), now, 'all')).toEqual([]);
  });

  it('refuses a bad schedule with what is wrong', () => {
    expect(() => checkSchedule({ cron: { expression: '0 9 * *' } })).toThrow(ScheduleError);
    expect(() => checkSchedule({ cron: { expression: '0 9 * *' } })).toThrow(/4 fields; give 5/);
    expect(() => checkSchedule({ cron: { expression: '0 9 * * *', timezone: 'Mars/Olympus' } })).toThrow(/unknown time zone/);
    expect(() => checkSchedule({ cron: { expression: '61 9 * * *' } })).toThrow(/cron/);
    expect(() => checkSchedule({ intervalMs: 10 })).toThrow(/at least one second/);
    expect(() => checkSchedule({})).toThrow(/exactly one of/);
  });
});
