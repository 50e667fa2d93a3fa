/**
 * This file defines when triggers fire: the ticks of a cron schedule (5 fields, in a time zone, DST
 * handled by croner), of an interval, or of a backfill range, and which of the ticks missed while no
 * worker ran are fired (the catch-up policy). Pure: it reads no clock; the caller gives `now`.
 *
 * A tick is the logical time of a run (ms since the epoch): runs get it as their tick time, and the
 * previous tick as Uniflow's LAST_EXECUTION_TIMESTAMP. Firing a tick is made exactly-once by the
 * caller (an idempotent start keyed by pipeline, trigger, tick and parameter set).
 */
import { Cron } from 'croner';

/** When a trigger fires. Exactly one of `cron` and `intervalMs`. */
export interface TriggerSchedule {
  /** A 5-field cron expression ("0 9 * * 1-5") and its IANA time zone (default UTC). */
  readonly cron?: { readonly expression: string; readonly timezone?: string };
  /** Every this many milliseconds, counted from `anchor`. */
  readonly intervalMs?: number;
  /** The origin of an interval's ticks (default 0, the epoch). */
  readonly anchor?: number;
}

/** Which missed ticks fire after downtime: every one, only the latest, or none (only ticks that are on time). */
export type CatchUpPolicy = 'all' | 'latest' | 'skip';

/** A schedule that cannot be used, with what is wrong. */
export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
}

/** The croner job of a schedule (checked: 5 fields, a known time zone). */
function cronOf(s: TriggerSchedule): Cron {
  const { expression, timezone } = s.cron!;
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) throw new ScheduleError(`cron ${JSON.stringify(expression)} has ${fields.length} fields; give 5: minute hour day-of-month month day-of-week`);
  if (timezone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    } catch {
      throw new ScheduleError(`unknown time zone ${JSON.stringify(timezone)} (an IANA name such as "Europe/Berlin")`);
    }
  }
  try {
    return new Cron(expression, { timezone: timezone ?? 'UTC', paused: true });
  } catch (e) {
    throw new ScheduleError(`cron ${JSON.stringify(expression)}: ${(e as Error).message}`);
  }
}

/** Checks a schedule; throws a ScheduleError saying what is wrong. */
export function checkSchedule(s: TriggerSchedule): void {
  if ((s.cron === undefined) === (s.intervalMs === undefined)) throw new ScheduleError('a trigger needs exactly one of a cron schedule and an interval');
  if (s.cron) cronOf(s);
  if (s.intervalMs !== undefined && !(Number.isFinite(s.intervalMs) && s.intervalMs >= 1000)) throw new ScheduleError(`an interval must be at least one second, not ${s.intervalMs} ms`);
}

/** The first tick strictly after `after`, or undefined if there is none. */
export function nextTick(s: TriggerSchedule, after: number): number | undefined {
  if (s.intervalMs !== undefined) {
    const anchor = s.anchor ?? 0;
    const k = Math.floor((after - anchor) / s.intervalMs) + 1;
    return anchor + k * s.intervalMs;
  }
  const next = cronOf(s).nextRun(new Date(after));
  // croner works to the second: a tick equal to `after` is not after it.
  return next ? (next.getTime() <= after ? nextTick(s, after + 1000) : next.getTime()) : undefined;
}

/** The ticks in [from, to], in order (at most `max`: a wider range is an error, not a silent cut). */
export function ticksBetween(s: TriggerSchedule, from: number, to: number, max = 10_000): number[] {
  const out: number[] = [];
  for (let t = nextTick(s, from - 1); t !== undefined && t <= to; t = nextTick(s, t)) {
    out.push(t);
    if (out.length > max) throw new ScheduleError(`the range has more than ${max} ticks: narrow it`);
  }
  return out;
}

/**
 * The ticks to fire now: those after `lastTick` and not after `now`, by the catch-up policy. A tick
 * is "on time" when it is within `graceMs` of now; `skip` fires only such a tick.
 */
export function dueTicks(s: TriggerSchedule, lastTick: number, now: number, policy: CatchUpPolicy, graceMs = 60_000, max = 1000): number[] {
  const missed: number[] = [];
  for (let t = nextTick(s, lastTick); t !== undefined && t <= now; t = nextTick(s, t)) {
    missed.push(t);
    if (missed.length > max && policy === 'all') break;
    if (missed.length > 2 && policy !== 'all') missed.shift();
  }
  if (missed.length === 0) return [];
  if (policy === 'all') return missed.slice(0, max);
  const latest = missed[missed.length - 1]!;
  if (policy === 'latest') return [latest];
  return now - latest <= graceMs ? [latest] : [];
}
