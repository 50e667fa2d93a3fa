/**
 * This file fires the triggers of registered pipelines (`spec.manifest.triggerMap` entries with a
 * `cronSchedule`): each due tick × parameter set starts one run of the pipeline's latest revision.
 *
 * Exactly one run per tick and parameter set, across workers and crashes: the run is started with
 * the idempotency key `trigger/PIPELINE/TRIGGER/TICK/PARAMS`, so a second worker (or the same one
 * after a crash) that fires the same tick gets the existing run. The state kept here (the last tick
 * fired, paused) only saves work; it never decides alone.
 *
 * Each run gets its logical tick time (`LARKFLOW_TICK_TIME`, ISO) and the previous tick's as Uniflow's
 * `LAST_EXECUTION_TIMESTAMP` (seconds since the epoch) in its environment, and the parameter set's
 * `environ`, `kw_args` and `args`. A trigger seen for the first time starts from now (no backfill
 * of the past: `backfill` does that, explicitly).
 */
import Database from 'better-sqlite3';
import type { TriggerSpec } from '../spec.js';
import { dueTicks, ticksBetween, type CatchUpPolicy, type TriggerSchedule } from './schedule.js';

/** A trigger of a registered pipeline, with its state. */
export interface TriggerInfo {
  readonly pipeline: string;
  readonly trigger: string;
  readonly spec: TriggerSpec;
  readonly lastTick?: number;
  readonly paused: boolean;
}

/** One run a trigger started (or found already started for its tick). */
export interface FiredRun {
  readonly pipeline: string;
  readonly trigger: string;
  readonly tick: number;
  readonly params: string;
  readonly runId: string;
}

/** What starts one run of a pipeline's latest revision (the CLI's prepareBuildRun). */
export type StartPipelineRun = (pipeline: string, over: { kwargs?: Record<string, unknown>; args?: readonly unknown[]; env: Record<string, string>; idempotencyKey: string }) => Promise<{ runId: string }>;

/** The schedule of a trigger spec: its cron, or its interval ("15m": ticks every 15 minutes from the epoch). */
export function scheduleOf(spec: TriggerSpec): TriggerSchedule | undefined {
  if (spec.cronSchedule) return { cron: { expression: spec.cronSchedule.cron, ...(spec.cronSchedule.timezone !== undefined ? { timezone: spec.cronSchedule.timezone } : {}) } };
  if (spec.intervalSchedule) return { intervalMs: durationMs(spec.intervalSchedule.interval) };
  return undefined;
}

/** Milliseconds of a duration such as "1h30m", "15m", "600s", "250ms", "1d". */
export function durationMs(text: string): number {
  const UNIT: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(m[1]) * UNIT[m[2]!]!;
  return total;
}

/** The trigger state table, beside the pipelines in the run database. */
export class TriggerState {
  readonly #db: Database.Database;

  constructor(dbPath: string) {
    this.#db = new Database(dbPath);
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec('CREATE TABLE IF NOT EXISTS trigger_state (pipeline TEXT NOT NULL, trigger TEXT NOT NULL, last_tick INTEGER, paused INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (pipeline, trigger))');
  }

  get(pipeline: string, trigger: string): { lastTick?: number; paused: boolean } | undefined {
    const row = this.#db.prepare<[string, string], { last_tick: number | null; paused: number }>('SELECT last_tick, paused FROM trigger_state WHERE pipeline = ? AND trigger = ?').get(pipeline, trigger);
    return row === undefined ? undefined : { ...(row.last_tick !== null ? { lastTick: row.last_tick } : {}), paused: row.paused === 1 };
  }

  /** Records the first sight of a trigger (from `now`), if it has none. */
  init(pipeline: string, trigger: string, now: number): void {
    this.#db.prepare('INSERT OR IGNORE INTO trigger_state (pipeline, trigger, last_tick, paused) VALUES (?, ?, ?, 0)').run(pipeline, trigger, now);
  }

  /** Moves the last tick forward (never back: two workers may record the same ticks). */
  advance(pipeline: string, trigger: string, tick: number): void {
    this.#db.prepare('UPDATE trigger_state SET last_tick = MAX(COALESCE(last_tick, 0), ?) WHERE pipeline = ? AND trigger = ?').run(tick, pipeline, trigger);
  }

  setPaused(pipeline: string, trigger: string, paused: boolean, now: number): void {
    this.init(pipeline, trigger, now);
    this.#db.prepare('UPDATE trigger_state SET paused = ? WHERE pipeline = ? AND trigger = ?').run(paused ? 1 : 0, pipeline, trigger);
    // A resumed trigger goes on from now: the ticks it missed while paused are not fired.
    if (!paused) this.#db.prepare('UPDATE trigger_state SET last_tick = MAX(COALESCE(last_tick, 0), ?) WHERE pipeline = ? AND trigger = ?').run(now, pipeline, trigger);
  }

  close(): void {
    this.#db.close();
  }
}

/** The parameter sets of a trigger, by name (one unnamed set when it has none). */
function parameterSets(spec: TriggerSpec): [string, { environ?: Readonly<Record<string, string>>; kw_args?: Readonly<Record<string, unknown>>; args?: readonly unknown[] }][] {
  const sets = Object.entries(spec.parametersMap ?? {});
  return sets.length > 0 ? sets : [['default', {}]];
}

/** The key that makes a tick's run unique. */
export function tickKey(pipeline: string, trigger: string, tick: number, params: string): string {
  return `trigger/${pipeline}/${trigger}/${new Date(tick).toISOString()}/${params}`;
}

/** Starts the runs of `ticks` (each × parameter set); returns them. */
export async function startTicks(
  pipeline: string,
  trigger: string,
  spec: TriggerSpec,
  schedule: TriggerSchedule,
  ticks: readonly number[],
  previous: number | undefined,
  start: StartPipelineRun,
): Promise<FiredRun[]> {
  const out: FiredRun[] = [];
  let prev = previous;
  for (const tick of ticks) {
    for (const [name, p] of parameterSets(spec)) {
      const env: Record<string, string> = {
        ...(p.environ ?? {}),
        LARKFLOW_TICK_TIME: new Date(tick).toISOString(),
        LARKFLOW_TRIGGER: `${pipeline}/${trigger}`,
        ...(prev !== undefined ? { LAST_EXECUTION_TIMESTAMP: String(Math.floor(prev / 1000)) } : {}),
      };
      const run = await start(pipeline, { ...(p.kw_args ? { kwargs: { ...p.kw_args } } : {}), ...(p.args ? { args: p.args } : {}), env, idempotencyKey: tickKey(pipeline, trigger, tick, name) });
      out.push({ pipeline, trigger, tick, params: name, runId: run.runId });
    }
    prev = tick;
  }
  void schedule;
  return out;
}

/**
 * Fires what is due at `now` for every trigger given (not paused): by `policy`, the ticks missed
 * since the last one fired. Returns the runs started (or found started for their ticks).
 */
export async function fireDue(
  triggers: readonly TriggerInfo[],
  state: TriggerState,
  now: number,
  start: StartPipelineRun,
  policy?: CatchUpPolicy,
  running?: (pipeline: string, trigger: string) => number,
): Promise<FiredRun[]> {
  const out: FiredRun[] = [];
  for (const t of triggers) {
    const schedule = scheduleOf(t.spec);
    if (!schedule) continue;
    state.init(t.pipeline, t.trigger, now);
    const s = state.get(t.pipeline, t.trigger)!;
    if (s.paused) continue;
    const last = s.lastTick ?? now;
    let ticks = dueTicks(schedule, last, now, policy ?? t.spec.catchUp ?? 'latest');
    if (ticks.length === 0) continue;
    // maxConcurrency: at most that many of the trigger's runs at once; a tick that cannot start now
    // waits (its time stays due) until runs end.
    const max = t.spec.maxConcurrency;
    if (max !== undefined && max > 0 && running) {
      const perTick = Math.max(1, Object.keys(t.spec.parametersMap ?? {}).length);
      const free = Math.max(0, max - running(t.pipeline, t.trigger));
      ticks = ticks.slice(0, Math.floor(free / perTick));
      if (ticks.length === 0) continue;
    }
    out.push(...(await startTicks(t.pipeline, t.trigger, t.spec, schedule, ticks, s.lastTick, start)));
    state.advance(t.pipeline, t.trigger, ticks[ticks.length - 1]!);
  }
  return out;
}

/** Starts one run per tick in [from, to] (inclusive) × parameter set: a backfill. */
export async function backfill(t: TriggerInfo, from: number, to: number, start: StartPipelineRun): Promise<FiredRun[]> {
  const schedule = scheduleOf(t.spec);
  if (!schedule) throw new Error(`trigger ${t.trigger} of pipeline ${t.pipeline} has no cron schedule to backfill`);
  const ticks = ticksBetween(schedule, from, to);
  return startTicks(t.pipeline, t.trigger, t.spec, schedule, ticks, undefined, start);
}
