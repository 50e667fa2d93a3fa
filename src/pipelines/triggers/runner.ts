/**
 * This file fires the triggers of registered pipelines (`spec.manifest.triggerMap` entries with a
 * `cronSchedule` or an `intervalSchedule`): each due tick × parameter set starts one run of the
 * pipeline's latest revision.
 *
 * Exactly one run per tick and parameter set, across workers and crashes: the run is started with
 * the idempotency key `trigger/PIPELINE/TRIGGER/TICK/PARAMS`, so a second worker (or the same one
 * after a crash) that fires the same tick gets the existing run. The state kept here (the last tick
 * fired, paused, the current batch) only saves work and paces starts; it never decides alone which
 * run exists.
 *
 * Each run gets its logical tick time (`LARKFLOW_TICK_TIME`, ISO) and the previous tick's as Uniflow's
 * `LAST_EXECUTION_TIMESTAMP` (seconds since the epoch) in its environment, and the parameter set's
 * `environ`, `kw_args` and `args`. A trigger seen for the first time starts from now (no backfill
 * of the past: `backfill` does that, explicitly).
 *
 * How many runs start at once:
 * - `maxConcurrency: N`: at most N of the trigger's runs going; a tick that cannot start waits.
 * - `batchPolicy: {batchSize: B, wait: W}` (Uniflow's defaults: 10, 600s): the due runs (ticks ×
 *   parameter sets, in order) start B at a time; the next batch starts once every run of the
 *   current one has ended and W has passed since the last of them ended. A tick's parameter sets
 *   may be split across batches. Catch-up and backfills go through the same batches.
 *
 * A due tick that starts no run on time (held back by either limit, or missed ticks the catch-up
 * policy drops) queues TRIGGER_TICK_SKIPPED for the sinks that ask for it, once per tick and sink:
 * the outbox row is keyed `trigger/PIPELINE/TRIGGER/TICK:TRIGGER_TICK_SKIPPED:SINK` and written
 * with INSERT OR IGNORE (one transaction for all the rows of a poll) before the trigger acts on the
 * ticks, so a crash after it leaves the row to be delivered and a repeat poll adds none.
 */
import Database from 'better-sqlite3';
import type { NotifySpec } from '../../engine/core/events.js';
import type { TriggerSpec } from '../spec.js';
import { dueTicks, nextTick, ticksBetween, type CatchUpPolicy, type TriggerSchedule } from './schedule.js';

/** A trigger of a registered pipeline, with its state. */
export interface TriggerInfo {
  readonly pipeline: string;
  readonly trigger: string;
  readonly spec: TriggerSpec;
  readonly lastTick?: number;
  readonly paused: boolean;
  /** The pipeline's notifications now (`notifyOf` of its effective notifications): TRIGGER_TICK_SKIPPED goes to those that ask. */
  readonly notify?: readonly NotifySpec[];
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

/** When a run ended (ms since the epoch), or undefined while it runs. */
export type RunEnd = (runId: string) => number | undefined;

/** Uniflow's batchPolicy defaults. */
export const DEFAULT_BATCH_SIZE = 10;
export const DEFAULT_BATCH_WAIT = '600s';

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

/** A trigger's batchPolicy with its defaults filled in, or undefined when it has none. */
export function batchOf(spec: TriggerSpec): { size: number; waitMs: number } | undefined {
  if (!spec.batchPolicy) return undefined;
  return { size: spec.batchPolicy.batchSize ?? DEFAULT_BATCH_SIZE, waitMs: durationMs(spec.batchPolicy.wait ?? DEFAULT_BATCH_WAIT) };
}

/** The batch a trigger started last: its runs, and when the last of them ended (once known). */
export interface TriggerBatch {
  readonly runs: readonly string[];
  readonly endedAt?: number;
}

/** Where a backfill stands. */
export type BackfillStatus = 'running' | 'succeeded' | 'killed';

/** A backfill of a trigger (`larkflow trigger backfill`), as recorded. */
export interface BackfillRecord {
  readonly id: number;
  readonly pipeline: string;
  readonly trigger: string;
  readonly from: number;
  readonly to: number;
  readonly status: BackfillStatus;
  /** Runs started (or found started) so far. */
  readonly runs: number;
  /** Runs it will start in all (ticks × parameter sets). */
  readonly total: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A tick that started no run on time, for TRIGGER_TICK_SKIPPED. */
export interface SkippedTick {
  readonly tick: number;
  readonly reason: 'maxConcurrency' | 'batchPolicy' | 'catchUp';
  readonly detail: string;
}

interface StateRow {
  last_tick: number | null;
  paused: number;
  batch_runs: string | null;
  batch_ended_at: number | null;
  partial_tick: number | null;
  partial_next: number | null;
}

/** The trigger state tables, beside the pipelines in the run database. */
export class TriggerState {
  readonly #db: Database.Database;

  constructor(dbPath: string) {
    this.#db = new Database(dbPath);
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec('CREATE TABLE IF NOT EXISTS trigger_state (pipeline TEXT NOT NULL, trigger TEXT NOT NULL, last_tick INTEGER, paused INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (pipeline, trigger))');
    // Columns added after the table's first version (a database made before keeps its rows).
    const have = new Set(this.#db.prepare<[], { name: string }>('PRAGMA table_info(trigger_state)').all().map((c) => c.name));
    for (const [col, type] of [
      ['batch_runs', 'TEXT'],
      ['batch_ended_at', 'INTEGER'],
      ['partial_tick', 'INTEGER'],
      ['partial_next', 'INTEGER'],
    ] as const) {
      if (!have.has(col)) {
        try {
          this.#db.exec(`ALTER TABLE trigger_state ADD COLUMN ${col} ${type}`);
        } catch (e) {
          // Another process added it first.
          if (!/duplicate column/i.test((e as Error).message)) throw e;
        }
      }
    }
    this.#db.exec(
      `CREATE TABLE IF NOT EXISTS trigger_backfills (
        id INTEGER PRIMARY KEY AUTOINCREMENT, pipeline TEXT NOT NULL, trigger TEXT NOT NULL,
        from_ms INTEGER NOT NULL, to_ms INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'running',
        runs INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`,
    );
  }

  #row(pipeline: string, trigger: string): StateRow | undefined {
    return this.#db.prepare<[string, string], StateRow>('SELECT last_tick, paused, batch_runs, batch_ended_at, partial_tick, partial_next FROM trigger_state WHERE pipeline = ? AND trigger = ?').get(pipeline, trigger);
  }

  get(pipeline: string, trigger: string): { lastTick?: number; paused: boolean; batch?: TriggerBatch; partial?: { tick: number; next: number } } | undefined {
    const row = this.#row(pipeline, trigger);
    if (row === undefined) return undefined;
    return {
      ...(row.last_tick !== null ? { lastTick: row.last_tick } : {}),
      paused: row.paused === 1,
      ...(row.batch_runs !== null ? { batch: { runs: JSON.parse(row.batch_runs) as string[], ...(row.batch_ended_at !== null ? { endedAt: row.batch_ended_at } : {}) } } : {}),
      ...(row.partial_tick !== null && row.partial_next !== null ? { partial: { tick: row.partial_tick, next: row.partial_next } } : {}),
    };
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
    if (!paused) this.#db.prepare('UPDATE trigger_state SET last_tick = MAX(COALESCE(last_tick, 0), ?), partial_tick = NULL, partial_next = NULL WHERE pipeline = ? AND trigger = ?').run(now, pipeline, trigger);
  }

  /**
   * Records a batch just started (its runs), where the trigger stands (`lastTick`: the last tick all
   * of whose runs started; `partial`: the tick whose first `next` parameter sets started), in one
   * transaction.
   */
  startedBatch(pipeline: string, trigger: string, runs: readonly string[], lastTick: number | undefined, partial: { tick: number; next: number } | undefined): void {
    this.#db.transaction(() => {
      if (lastTick !== undefined) this.advance(pipeline, trigger, lastTick);
      this.#db
        .prepare('UPDATE trigger_state SET batch_runs = ?, batch_ended_at = NULL, partial_tick = ?, partial_next = ? WHERE pipeline = ? AND trigger = ?')
        .run(JSON.stringify(runs), partial?.tick ?? null, partial?.next ?? null, pipeline, trigger);
    }).immediate();
  }

  /** Records when the last run of the current batch ended. */
  batchEnded(pipeline: string, trigger: string, endedAt: number): void {
    this.#db.prepare('UPDATE trigger_state SET batch_ended_at = ? WHERE pipeline = ? AND trigger = ?').run(endedAt, pipeline, trigger);
  }

  /** Forgets a partially started tick (the catch-up policy moved past it). */
  clearPartial(pipeline: string, trigger: string): void {
    this.#db.prepare('UPDATE trigger_state SET partial_tick = NULL, partial_next = NULL WHERE pipeline = ? AND trigger = ?').run(pipeline, trigger);
  }

  /**
   * Queues TRIGGER_TICK_SKIPPED for the ticks given, to each sink of `notify` that asks for it, in
   * the outbox of the run database (INSERT OR IGNORE by key: once per tick and sink), in one
   * transaction. Nothing when no sink asks. Returns the rows added.
   * @throws Error when the database has no outbox (not a larkflow run database)
   */
  queueSkipped(pipeline: string, trigger: string, skipped: readonly SkippedTick[], notify: readonly NotifySpec[] | undefined, now: number): number {
    const sinks = (notify ?? []).map((n, i) => [n, i] as const).filter(([n]) => n.on.includes('TRIGGER_TICK_SKIPPED'));
    if (sinks.length === 0 || skipped.length === 0) return 0;
    let queued = 0;
    this.#db.transaction(() => {
      const insert = this.#db.prepare('INSERT OR IGNORE INTO outbox (run_id, event, sink_index, sink, payload, key, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
      for (const s of skipped) {
        const id = `trigger/${pipeline}/${trigger}/${new Date(s.tick).toISOString()}`;
        const payload = { event: 'TRIGGER_TICK_SKIPPED', pipeline, trigger: `${pipeline}/${trigger}`, tick: new Date(s.tick).toISOString(), reason: s.reason, detail: s.detail, at: now };
        for (const [n, i] of sinks) {
          queued += insert.run(id, 'TRIGGER_TICK_SKIPPED', i, JSON.stringify(n.sink), JSON.stringify(payload), `${id}:TRIGGER_TICK_SKIPPED:${i}`, now, now).changes;
        }
      }
    }).immediate();
    return queued;
  }

  /** Records a backfill about to start; returns its id. */
  createBackfill(pipeline: string, trigger: string, from: number, to: number, total: number, now: number): number {
    return Number(this.#db.prepare('INSERT INTO trigger_backfills (pipeline, trigger, from_ms, to_ms, total, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(pipeline, trigger, from, to, total, now, now).lastInsertRowid);
  }

  /** Records a backfill's progress (runs started) or end. A killed backfill stays killed. */
  updateBackfill(id: number, runs: number, status: BackfillStatus, now: number): void {
    this.#db.prepare("UPDATE trigger_backfills SET runs = ?, status = CASE WHEN status = 'killed' THEN status ELSE ? END, updated_at = ? WHERE id = ?").run(runs, status, now, id);
  }

  backfill(id: number): BackfillRecord | undefined {
    const r = this.#db.prepare<[number], BackfillRow>('SELECT * FROM trigger_backfills WHERE id = ?').get(id);
    return r ? backfillOf(r) : undefined;
  }

  /** A trigger's backfills, newest first. */
  backfills(pipeline: string, trigger: string): BackfillRecord[] {
    return this.#db.prepare<[string, string], BackfillRow>('SELECT * FROM trigger_backfills WHERE pipeline = ? AND trigger = ? ORDER BY id DESC').all(pipeline, trigger).map(backfillOf);
  }

  /** Marks a trigger's running backfills (or only `id`) killed: they start no more runs. Returns those killed. */
  killBackfills(pipeline: string, trigger: string, now: number, id?: number): BackfillRecord[] {
    return this.#db.transaction(() => {
      const running = this.backfills(pipeline, trigger).filter((b) => b.status === 'running' && (id === undefined || b.id === id));
      for (const b of running) this.#db.prepare("UPDATE trigger_backfills SET status = 'killed', updated_at = ? WHERE id = ?").run(now, b.id);
      return running.map((b) => ({ ...b, status: 'killed' as const, updatedAt: now }));
    }).immediate();
  }

  close(): void {
    this.#db.close();
  }
}

interface BackfillRow {
  id: number;
  pipeline: string;
  trigger: string;
  from_ms: number;
  to_ms: number;
  status: string;
  runs: number;
  total: number;
  created_at: number;
  updated_at: number;
}

function backfillOf(r: BackfillRow): BackfillRecord {
  return { id: r.id, pipeline: r.pipeline, trigger: r.trigger, from: r.from_ms, to: r.to_ms, status: r.status as BackfillStatus, runs: r.runs, total: r.total, createdAt: r.created_at, updatedAt: r.updated_at };
}

type Params = { environ?: Readonly<Record<string, string>>; kw_args?: Readonly<Record<string, unknown>>; args?: readonly unknown[] };

/** The parameter sets of a trigger, by name (one unnamed set when it has none). */
function parameterSets(spec: TriggerSpec): [string, Params][] {
  const sets = Object.entries(spec.parametersMap ?? {});
  return sets.length > 0 ? sets : [['default', {}]];
}

/** The key that makes a tick's run unique. */
export function tickKey(pipeline: string, trigger: string, tick: number, params: string): string {
  return `trigger/${pipeline}/${trigger}/${new Date(tick).toISOString()}/${params}`;
}

/** One run to start: a tick × parameter set (`index` in the trigger's sets), with the tick before it. */
interface Unit {
  readonly tick: number;
  readonly index: number;
  readonly name: string;
  readonly params: Params;
  readonly previous: number | undefined;
}

/** The runs of `ticks` (each × parameter set, in order); the first `skipFirst` sets of `ticks[0]` left out. */
function unitsOf(spec: TriggerSpec, ticks: readonly number[], previous: number | undefined, skipFirst = 0): Unit[] {
  const sets = parameterSets(spec);
  const out: Unit[] = [];
  let prev = previous;
  ticks.forEach((tick, i) => {
    sets.forEach(([name, params], index) => {
      if (i === 0 && index < skipFirst) return;
      out.push({ tick, index, name, params, previous: prev });
    });
    prev = tick;
  });
  return out;
}

async function startUnits(pipeline: string, trigger: string, units: readonly Unit[], start: StartPipelineRun): Promise<FiredRun[]> {
  const out: FiredRun[] = [];
  for (const u of units) {
    const env: Record<string, string> = {
      ...(u.params.environ ?? {}),
      LARKFLOW_TICK_TIME: new Date(u.tick).toISOString(),
      LARKFLOW_TRIGGER: `${pipeline}/${trigger}`,
      ...(u.previous !== undefined ? { LAST_EXECUTION_TIMESTAMP: String(Math.floor(u.previous / 1000)) } : {}),
    };
    const p = u.params;
    const run = await start(pipeline, { ...(p.kw_args ? { kwargs: { ...p.kw_args } } : {}), ...(p.args ? { args: p.args } : {}), env, idempotencyKey: tickKey(pipeline, trigger, u.tick, u.name) });
    out.push({ pipeline, trigger, tick: u.tick, params: u.name, runId: run.runId });
  }
  return out;
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
  void schedule;
  return startUnits(pipeline, trigger, unitsOf(spec, ticks, previous), start);
}

/**
 * Whether the trigger's current batch lets a new one start at `now`: every run of it ended, and
 * `wait` passed since the last ended. Records the end time once known. Returns undefined when a
 * batch may start, else why not.
 */
function batchBlocked(t: TriggerInfo, state: TriggerState, batch: TriggerBatch | undefined, waitMs: number, now: number, runEnd: RunEnd): string | undefined {
  if (!batch || batch.runs.length === 0) return undefined;
  let endedAt = batch.endedAt;
  if (endedAt === undefined) {
    const ends = batch.runs.map((r) => runEnd(r));
    const going = ends.filter((e) => e === undefined).length;
    if (going > 0) return `${going} of the ${batch.runs.length} runs of the current batch ${going === 1 ? 'is' : 'are'} still running`;
    endedAt = Math.max(...(ends as number[]));
    state.batchEnded(t.pipeline, t.trigger, endedAt);
  }
  if (now < endedAt + waitMs) return `the next batch starts at ${new Date(endedAt + waitMs).toISOString()} (batchPolicy.wait after the last run of the batch ended)`;
  return undefined;
}

/** Options of `fireDue`. */
export interface FireOptions {
  /** Overrides every trigger's catch-up policy. */
  readonly policy?: CatchUpPolicy;
  /** How many of a trigger's runs are going (maxConcurrency counts them). */
  readonly running?: (pipeline: string, trigger: string) => number;
  /** When a run ended (batchPolicy waits for the runs of a batch); without it batchPolicy is not applied. */
  readonly runEnd?: RunEnd;
}

/**
 * Fires what is due at `now` for every trigger given (not paused): by `policy`, the ticks missed
 * since the last one fired, within the trigger's maxConcurrency or batchPolicy. Returns the runs
 * started (or found started for their ticks).
 */
export async function fireDue(
  triggers: readonly TriggerInfo[],
  state: TriggerState,
  now: number,
  start: StartPipelineRun,
  policyOrOptions?: CatchUpPolicy | FireOptions,
  running?: (pipeline: string, trigger: string) => number,
): Promise<FiredRun[]> {
  const o: FireOptions = typeof policyOrOptions === 'object' ? policyOrOptions : { ...(policyOrOptions !== undefined ? { policy: policyOrOptions } : {}), ...(running ? { running } : {}) };
  const out: FiredRun[] = [];
  for (const t of triggers) {
    const schedule = scheduleOf(t.spec);
    if (!schedule) continue;
    state.init(t.pipeline, t.trigger, now);
    const s = state.get(t.pipeline, t.trigger)!;
    if (s.paused) continue;
    const last = s.lastTick ?? now;
    const policy = o.policy ?? t.spec.catchUp ?? 'latest';
    let ticks = dueTicks(schedule, last, now, policy);
    // Ticks missed and dropped by the catch-up policy (reported once, keyed by the first of them).
    const firstMissed = nextTick(schedule, last);
    const dropped: SkippedTick[] =
      firstMissed !== undefined && firstMissed <= now && (ticks.length === 0 || ticks[0]! > firstMissed) && !(s.partial && s.partial.tick === firstMissed && ticks[0] === firstMissed)
        ? [{ tick: firstMissed, reason: 'catchUp', detail: `the ticks from ${new Date(firstMissed).toISOString()}${ticks.length > 0 ? ` until ${new Date(ticks[0]!).toISOString()}` : ''} were missed and not fired (catchUp: ${policy})` }]
        : [];
    if (ticks.length === 0) {
      if (dropped.length > 0) state.queueSkipped(t.pipeline, t.trigger, dropped, t.notify, now);
      continue;
    }
    const batch = o.runEnd ? batchOf(t.spec) : undefined;
    if (batch) {
      out.push(...(await fireBatch(t, state, s, ticks, dropped, batch, now, start, o)));
      continue;
    }
    // maxConcurrency: at most that many of the trigger's runs at once; a tick that cannot start now
    // waits (its time stays due) until runs end.
    const max = t.spec.maxConcurrency;
    if (max !== undefined && max > 0 && o.running) {
      const perTick = Math.max(1, Object.keys(t.spec.parametersMap ?? {}).length);
      const free = Math.max(0, max - o.running(t.pipeline, t.trigger));
      const fit = Math.floor(free / perTick);
      const held = ticks.slice(fit).map((tick): SkippedTick => ({ tick, reason: 'maxConcurrency', detail: `maxConcurrency ${max}: the trigger has ${max - free} runs going; the tick starts when runs end` }));
      ticks = ticks.slice(0, fit);
      if (held.length > 0 || dropped.length > 0) state.queueSkipped(t.pipeline, t.trigger, [...dropped, ...held], t.notify, now);
      if (ticks.length === 0) continue;
    } else if (dropped.length > 0) {
      state.queueSkipped(t.pipeline, t.trigger, dropped, t.notify, now);
    }
    out.push(...(await startTicks(t.pipeline, t.trigger, t.spec, schedule, ticks, s.lastTick, start)));
    state.advance(t.pipeline, t.trigger, ticks[ticks.length - 1]!);
  }
  return out;
}

/** fireDue for a trigger with a batchPolicy: at most one batch, if the last one allows it. */
async function fireBatch(
  t: TriggerInfo,
  state: TriggerState,
  s: NonNullable<ReturnType<TriggerState['get']>>,
  ticks: readonly number[],
  dropped: readonly SkippedTick[],
  batch: { size: number; waitMs: number },
  now: number,
  start: StartPipelineRun,
  o: FireOptions,
): Promise<FiredRun[]> {
  // A tick started in part goes on with its next parameter set, unless the catch-up policy dropped it.
  const partial = s.partial && s.partial.tick === ticks[0] ? s.partial : undefined;
  if (s.partial && !partial) state.clearPartial(t.pipeline, t.trigger);
  const units = unitsOf(t.spec, ticks, s.lastTick, partial?.next ?? 0);
  const blocked = batchBlocked(t, state, s.batch, batch.waitMs, now, o.runEnd!);
  let size = batch.size;
  let why = blocked;
  const max = t.spec.maxConcurrency;
  if (!blocked && max !== undefined && max > 0 && o.running) {
    const free = Math.max(0, max - o.running(t.pipeline, t.trigger));
    if (free < size) {
      size = free;
      why = `maxConcurrency ${max}: the trigger has ${max - free} runs going`;
    }
  }
  const take = blocked ? [] : units.slice(0, size);
  const rest = units.slice(take.length);
  // Every tick with a run not started now is held back (once per tick: the outbox key).
  const heldTicks = [...new Set(rest.map((u) => u.tick))];
  const held: SkippedTick[] = heldTicks.map((tick) => ({ tick, reason: blocked || why === undefined ? 'batchPolicy' : 'maxConcurrency', detail: why ?? `batchPolicy: at most ${batch.size} runs per batch; the rest start in the next batch` }));
  if (held.length > 0 || dropped.length > 0) state.queueSkipped(t.pipeline, t.trigger, [...dropped, ...held], t.notify, now);
  if (take.length === 0) return [];
  const fired = await startUnits(t.pipeline, t.trigger, take, start);
  // Where the trigger now stands: the last tick all of whose runs started, and a tick started in part.
  const lastUnit = take[take.length - 1]!;
  const perTick = parameterSets(t.spec).length;
  const complete = lastUnit.index === perTick - 1;
  const lastDone = complete ? lastUnit.tick : lastUnit.previous;
  state.startedBatch(
    t.pipeline,
    t.trigger,
    fired.map((f) => f.runId),
    lastDone !== undefined && lastDone !== s.lastTick ? lastDone : undefined,
    complete ? undefined : { tick: lastUnit.tick, next: lastUnit.index + 1 },
  );
  return fired;
}

/** Options of `backfill`. */
export interface BackfillOptions {
  /** Where the backfill is recorded (and `trigger kill` marks it killed); without it nothing is recorded. */
  readonly state?: TriggerState;
  /** The clock. @default Date.now */
  readonly now?: () => number;
  /** Waits for runs to end; returns when the last of them ended (batchPolicy: without it, no batches). */
  readonly waitRuns?: (runIds: readonly string[]) => Promise<number>;
  /** Waits `ms` (the virtual clock of tests moves on). @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called with each batch started. */
  readonly onBatch?: (runs: readonly FiredRun[]) => void;
}

/**
 * Starts one run per tick in [from, to] (inclusive) × parameter set: a backfill. With a batchPolicy
 * (and `waitRuns`), B runs at a time: the next batch once the runs of the last one ended and `wait`
 * passed. A backfill marked killed (`TriggerState.killBackfills`) starts no further batch.
 */
export async function backfill(t: TriggerInfo, from: number, to: number, start: StartPipelineRun, options: BackfillOptions = {}): Promise<FiredRun[]> {
  const schedule = scheduleOf(t.spec);
  if (!schedule) throw new Error(`trigger ${t.trigger} of pipeline ${t.pipeline} has no schedule to backfill`);
  const now = options.now ?? Date.now;
  const units = unitsOf(t.spec, ticksBetween(schedule, from, to), undefined);
  const state = options.state;
  const id = state?.createBackfill(t.pipeline, t.trigger, from, to, units.length, now());
  const batch = options.waitRuns ? batchOf(t.spec) : undefined;
  const size = batch?.size ?? Math.max(1, units.length);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const out: FiredRun[] = [];
  for (let i = 0; i < units.length; i += size) {
    if (id !== undefined && state!.backfill(id)?.status === 'killed') return out;
    const fired = await startUnits(t.pipeline, t.trigger, units.slice(i, i + size), start);
    out.push(...fired);
    if (id !== undefined) state!.updateBackfill(id, out.length, 'running', now());
    options.onBatch?.(fired);
    if (batch && i + size < units.length) {
      const endedAt = await options.waitRuns!(fired.map((f) => f.runId));
      const until = endedAt + batch.waitMs;
      // The wait is slept a second at a time, so that a kill stops it soon.
      while (now() < until) {
        if (id !== undefined && state!.backfill(id)?.status === 'killed') return out;
        await sleep(Math.min(1000, until - now()));
      }
    }
  }
  if (id !== undefined) state!.updateBackfill(id, out.length, 'succeeded', now());
  return out;
}
