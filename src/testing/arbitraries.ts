/**
 * This file defines the fast-check arbitraries of `larkflow/testing`: outcome schedules of tasks
 * (successes, failures, retries, timeouts, durations in virtual time), crash points and completion
 * orders of concurrent tasks, and the readable text a failing property prints for each of them.
 *
 * Every generated value prints itself readably (fast-check's `toStringMethod`), so even a plain
 * `fc.assert` of a property built from these shows the shrunk counterexample as a schedule.
 */
import fc from 'fast-check';
import { choicesChooser, type CompletionChooser, type Schedule, type ScheduleEntry, type TaskSchedules } from './test-engine.js';

// ---------------------------------------------------------------------------------------------
// Readable text

function brief(v: unknown, max = 60): string {
  if (typeof v === 'function') {
    const name = (v as { name?: string }).name;
    return `${name && name !== 'returns' ? name : 'fn'}(...)`;
  }
  let s: string;
  try {
    s = JSON.stringify(v) ?? 'undefined';
  } catch {
    s = String(v);
  }
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

/** A duration for people: 250ms, 30s, 5m, 2h. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(2)}s`;
  if (ms < 3_600_000) return `${+(ms / 60_000).toFixed(2)}m`;
  return `${+(ms / 3_600_000).toFixed(2)}h`;
}

/** One schedule entry as text, e.g. `takes 30s, then fails "OOM"`. */
export function formatEntry(e: ScheduleEntry): string {
  if ('takes' in e) return `takes ${formatDuration(e.takes)}, then ${formatEntry(e.then)}`;
  if ('fail' in e) return `fails ${JSON.stringify(e.fail)}${e.kind && e.kind !== 'task' ? ` [${e.kind}]` : ''}${e.retryable === false ? ' (not retryable)' : ''}`;
  if ('timeout' in e) return 'times out';
  return `returns ${brief(e.return)}`;
}

/** A schedule as text: `attempt 1 fails "x"; attempt 2 returns 3 (and after)`. */
export function formatSchedule(s: Schedule): string {
  return s.map((e, i) => `attempt ${i + 1}${i === s.length - 1 ? '+' : ''} ${formatEntry(e)}`).join('; ');
}

/** Schedules by task, one task per line. */
export function formatSchedules(s: TaskSchedules, indent = '  '): string {
  const names = Object.keys(s);
  if (names.length === 0) return `${indent}(no fake tasks)`;
  return names.map((n) => `${indent}${n}: ${formatSchedule(s[n]!)}`).join('\n');
}

function printable<T extends object>(value: T, text: (v: T) => string): T {
  Object.defineProperty(value, fc.toStringMethod, { value: () => text(value), enumerable: false });
  Object.defineProperty(value, 'toString', { value: () => text(value), enumerable: false });
  return value;
}

// ---------------------------------------------------------------------------------------------
// Outcome schedules

/** Options of `outcomeSchedule`. */
export interface OutcomeScheduleOptions {
  /**
   * What a successful attempt returns: a value, a function called with the task's arguments (a
   * real implementation), or an arbitrary of values. @default null
   */
  readonly returns?: unknown;
  /** Most failed attempts before the success. Keep it below the task's attempts to keep runs succeeding. @default 2 */
  readonly maxFailures?: number;
  /** Failures may be timeouts. @default false */
  readonly timeouts?: boolean;
  /** Failures may be non-retryable (the step then fails for good). @default false */
  readonly nonRetryable?: boolean;
  /** Each attempt takes 0..maxDurationMs of virtual time (this also varies completion orders). @default 0 */
  readonly maxDurationMs?: number;
  /** Failure messages to draw from. @default ["transient failure"] */
  readonly messages?: readonly string[];
}

function withDuration(entry: fc.Arbitrary<ScheduleEntry>, maxMs: number): fc.Arbitrary<ScheduleEntry> {
  if (maxMs <= 0) return entry;
  return fc.tuple(fc.integer({ min: 0, max: maxMs }), entry).map(([ms, e]): ScheduleEntry => (ms === 0 ? e : { takes: ms, then: e }));
}

/**
 * Schedules of one task: up to `maxFailures` failed attempts, then a success; each attempt may take
 * virtual time. Shrinks towards "succeeds at once".
 */
export function outcomeSchedule(options: OutcomeScheduleOptions = {}): fc.Arbitrary<Schedule> {
  const maxFailures = options.maxFailures ?? 2;
  const maxMs = options.maxDurationMs ?? 0;
  const messages = options.messages ?? ['transient failure'];
  const returns = options.returns instanceof fc.Arbitrary ? (options.returns as fc.Arbitrary<unknown>) : fc.constant(options.returns ?? null);
  const failures: fc.Arbitrary<ScheduleEntry>[] = [fc.constantFrom(...messages).map((m): ScheduleEntry => ({ fail: m }))];
  if (options.timeouts) failures.push(fc.constant({ timeout: true } as const));
  if (options.nonRetryable) failures.push(fc.constantFrom(...messages).map((m): ScheduleEntry => ({ fail: m, retryable: false })));
  const failure = withDuration(fc.oneof(...failures), maxMs);
  const success = withDuration(
    returns.map((v): ScheduleEntry => ({ return: v })),
    maxMs,
  );
  return fc
    .tuple(fc.array(failure, { maxLength: maxFailures }), success)
    .map(([fails, ok]) => printable([...fails, ok] as ScheduleEntry[], formatSchedule) as Schedule);
}

/**
 * Schedules of several tasks at once, by task name: each is `outcomeSchedule(options)` or an
 * arbitrary of schedules of your own.
 */
export function taskSchedules(spec: Readonly<Record<string, OutcomeScheduleOptions | fc.Arbitrary<Schedule>>>): fc.Arbitrary<TaskSchedules> {
  const parts: Record<string, fc.Arbitrary<Schedule>> = {};
  for (const [name, s] of Object.entries(spec)) parts[name] = s instanceof fc.Arbitrary ? s : outcomeSchedule(s);
  return fc.record(parts).map((r) => printable({ ...r } as Record<string, Schedule>, (v) => '\n' + formatSchedules(v)) as TaskSchedules);
}

// ---------------------------------------------------------------------------------------------
// Crash points and completion orders

/**
 * Where a run crashes. `index` picks one of the commits of the uninterrupted run (modulo their
 * number). With scope 'workflow' only the commits of the workflow's own progress count (a step
 * completed, a timer fired, the run started...), not attempt bookkeeping (an attempt started, failed
 * or waits for its retry), so the same crash point stays on the same step while a schedule's
 * failures shrink away; scope 'any' counts every commit. Shrinks towards the first workflow commit.
 */
export interface CrashPoint {
  readonly index: number;
  readonly scope: 'workflow' | 'any';
  /** The 1-based commit to crash at, given the kinds of the first event of each commit of the uninterrupted run. */
  commitOf(commits: readonly (readonly string[])[]): number;
}

const BOOKKEEPING = new Set(['AttemptStarted', 'AttemptFailed', 'RetryScheduled']);

/** Crash points (see `CrashPoint`). */
export function crashPoint(options: { readonly maxIndex?: number } = {}): fc.Arbitrary<CrashPoint> {
  return fc.record({ index: fc.nat({ max: options.maxIndex ?? 63 }), any: fc.boolean() }).map(({ index, any }) =>
    printable<CrashPoint>(
      {
        index,
        scope: any ? 'any' : 'workflow',
        commitOf: (commits) => {
          const eligible = commits.map((kinds, i) => ({ i, kinds })).filter((c) => any || !BOOKKEEPING.has(c.kinds[0] ?? ''));
          const pool = eligible.length > 0 ? eligible : commits.map((kinds, i) => ({ i, kinds }));
          return pool.length === 0 ? 1 : pool[index % pool.length]!.i + 1;
        },
      },
      (v) => `crash at ${v.scope} commit #${v.index}`,
    ),
  );
}

/**
 * The order in which ready concurrent task attempts run and complete: each choice picks one of the
 * attempts ready at that moment (modulo their number); after the choices, FIFO. Shrinks towards FIFO.
 */
export interface CompletionOrder {
  readonly choices: readonly number[];
  /** A fresh chooser following the choices (give it to `createTestEngine({ order })`). */
  chooser(): CompletionChooser;
}

/** Completion orders (see `CompletionOrder`). */
export function completionOrder(options: { readonly maxChoices?: number; readonly maxIndex?: number } = {}): fc.Arbitrary<CompletionOrder> {
  return fc.array(fc.nat({ max: options.maxIndex ?? 7 }), { maxLength: options.maxChoices ?? 24 }).map((choices) =>
    printable<CompletionOrder>({ choices, chooser: () => choicesChooser(choices) }, (v) => `completion choices [${v.choices.join(', ')}]`),
  );
}
