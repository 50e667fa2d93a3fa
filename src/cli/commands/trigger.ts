/**
 * This file defines `larkflow trigger list | get | pause | resume | backfill | kill` and what
 * `larkflow worker` uses to fire the triggers of registered pipelines (src/pipelines/triggers/runner.ts):
 * each due tick × parameter set starts one run of the pipeline's latest revision, exactly once
 * across workers (the run's idempotency key names the tick), within the trigger's maxConcurrency or
 * batchPolicy. A backfill is recorded; with a batchPolicy it starts its runs batch by batch, and
 * `trigger kill` stops it from starting more.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { Engine } from '../../engine/index.js';
import type { PipelineRegistry } from '../../pipelines/registry.js';
import type { NotificationSpec } from '../../pipelines/spec.js';
import { notifyOf } from '../../pipelines/notify.js';
import type { FiredRun, RunEnd, TriggerInfo, TriggerState } from '../../pipelines/triggers/runner.js';
import { CliError } from '../errors.js';
import { addEngineOptions, closeQuietly, dbPath, openEngine, type CliIo, type EngineCliOptions } from '../engine-options.js';
import type { PipelineCliOptions } from './pipeline.js';

/** The triggers of the registered (not deleted) pipelines, with their state. */
function listTriggers(reg: PipelineRegistry, state: TriggerState): (TriggerInfo & { notifications: readonly NotificationSpec[] })[] {
  const out: (TriggerInfo & { notifications: readonly NotificationSpec[] })[] = [];
  for (const p of reg.list()) {
    const rev = reg.get(p.name);
    const triggers = Object.entries(rev.spec.spec.manifest.triggerMap ?? {});
    if (triggers.length === 0) continue;
    const notifications = reg.notifications(p.name).notifications;
    const notify = notifyOf(notifications);
    for (const [name, spec] of triggers) {
      const s = state.get(p.name, name);
      out.push({ pipeline: p.name, trigger: name, spec, ...(s?.lastTick !== undefined ? { lastTick: s.lastTick } : {}), paused: s?.paused ?? false, ...(notify.length > 0 ? { notify } : {}), notifications });
    }
  }
  return out;
}

/** When a run of `engine`'s database ended (its terminal event's time), or undefined while it runs. */
function runEndOf(engine: Engine): RunEnd {
  return (runId) => {
    let status: string;
    try {
      status = engine.handle(runId).status();
    } catch {
      // A run no longer in the database (removed by hand) holds no batch back.
      return 0;
    }
    if (status === 'running') return undefined;
    const h = engine.history(runId);
    return h[h.length - 1]?.at;
  };
}

/** `listTriggers` on the database at `db` (opened and closed here). */
async function triggersOf(db: string): Promise<ReturnType<typeof listTriggers>> {
  const { PipelineRegistry } = await import('../../pipelines/registry.js');
  const { TriggerState } = await import('../../pipelines/triggers/runner.js');
  const reg = PipelineRegistry.open(db);
  const state = new TriggerState(db);
  try {
    return listTriggers(reg, state);
  } finally {
    reg.close();
    state.close();
  }
}

/**
 * What a worker calls every poll: fires the due ticks of every trigger, starting their runs on
 * `engine` (which then drives them). The registry and trigger state stay open between polls;
 * `close()` releases them.
 */
export function triggerFirer(engine: Engine, opts: EngineCliOptions): { fire(now: number, warn: (text: string) => void): Promise<FiredRun[]>; close(): void } {
  const starters = new Map<string, Awaited<ReturnType<typeof import('./pipeline.js').prepareBuildRun>>>();
  let open: { reg: PipelineRegistry; state: TriggerState } | undefined;
  // The trigger's runs still running (maxConcurrency counts them).
  const running = (pipeline: string, trigger: string): number =>
    engine.runs({ status: 'running', limit: 10_000 }).filter((r) => {
      const first = engine.history(r.runId)[0];
      return first?.kind === 'RunStarted' && first.env.LARKFLOW_TRIGGER === `${pipeline}/${trigger}`;
    }).length;
  const fire = async (now: number, warn: (text: string) => void): Promise<FiredRun[]> => {
    const { PipelineRegistry } = await import('../../pipelines/registry.js');
    const { TriggerState, fireDue } = await import('../../pipelines/triggers/runner.js');
    const { prepareBuildRun } = await import('./pipeline.js');
    const db = dbPath(opts);
    open ??= { reg: PipelineRegistry.open(db), state: new TriggerState(db) };
    const { reg, state } = open;
    const triggers = listTriggers(reg, state);
    if (triggers.length === 0) return [];
    return fireDue(
      triggers,
      state,
      now,
      async (pipeline, over) => {
        const rev = reg.get(pipeline);
        // Notifications changed after apply apply to the runs started afterwards.
        const notifications = triggers.find((t) => t.pipeline === pipeline)?.notifications;
        const key = `${pipeline}@${rev.revision}:${JSON.stringify(notifications ?? null)}`;
        let start = starters.get(key);
        if (!start) {
          start = await prepareBuildRun(engine, rev, rev.revision, opts as PipelineCliOptions, notifications);
          starters.set(key, start);
        }
        try {
          return start(over);
        } catch (e) {
          warn(`trigger of pipeline ${pipeline}: ${(e as Error).message}`);
          throw e;
        }
      },
      { running, runEnd: runEndOf(engine) },
    );
  };
  return {
    fire,
    close: () => {
      open?.reg.close();
      open?.state.close();
      open = undefined;
    },
  };
}

function parseTime(v: string | undefined, flag: string): number {
  if (v === undefined) throw new CliError(`${flag} is required (an ISO time such as 2026-01-01T00:00:00Z)`);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new CliError(`${flag} ${JSON.stringify(v)} is not a time (give ISO 8601, e.g. 2026-01-01T00:00:00Z)`);
  return t;
}

async function find(db: string, pipeline: string, trigger: string): Promise<ReturnType<typeof listTriggers>[number]> {
  const all = await triggersOf(db);
  const t = all.find((x) => x.pipeline === pipeline && x.trigger === trigger);
  if (!t) throw new CliError(`no trigger ${trigger} in pipeline ${pipeline} (triggers: ${all.map((x) => `${x.pipeline}/${x.trigger}`).join(', ') || 'none'})`);
  return t;
}

/** Adds `trigger list | get | pause | resume | backfill | kill`. */
export function registerTriggerCommands(program: Command, io: CliIo, setExit: (n: number) => void): void {
  const trigger = program.command('trigger').description("the triggers of registered pipelines (spec.manifest.triggerMap); `larkflow worker` fires them");
  addEngineOptions(trigger.command('list').description('list triggers: schedule, last tick fired, paused').option('--json', 'print JSON')).action(async (opts: EngineCliOptions & { json?: boolean }) => {
    const all = await triggersOf(dbPath(opts));
    if (opts.json) io.out(JSON.stringify(all.map(({ notify: _n, notifications: _ns, ...t }) => t), null, 2) + '\n');
    else if (all.length === 0) io.err('no triggers (apply a pipeline whose spec.manifest has a triggerMap)\n');
    else {
      for (const t of all) {
        const cron = t.spec.cronSchedule
          ? `cron "${t.spec.cronSchedule.cron}"${t.spec.cronSchedule.timezone ? ` ${t.spec.cronSchedule.timezone}` : ''}`
          : t.spec.intervalSchedule
            ? `every ${t.spec.intervalSchedule.interval}`
            : 'no schedule';
        io.out(`${t.pipeline}/${t.trigger}  ${cron}  last ${t.lastTick !== undefined ? new Date(t.lastTick).toISOString() : '-'}${t.paused ? '  PAUSED' : ''}\n`);
      }
    }
    setExit(0);
  });
  for (const [verb, paused] of [['pause', true], ['resume', false]] as const) {
    addEngineOptions(trigger.command(verb).description(`${verb} a trigger${paused ? '' : ' (it goes on from now: the ticks missed while paused are not fired)'}`).argument('<pipeline>').argument('<trigger>')).action(
      async (pipeline: string, name: string, opts: EngineCliOptions) => {
        try {
          await find(dbPath(opts), pipeline, name);
          const { TriggerState } = await import('../../pipelines/triggers/runner.js');
          const state = new TriggerState(dbPath(opts));
          state.setPaused(pipeline, name, paused, Date.now());
          state.close();
          io.out(`trigger ${pipeline}/${name} ${paused ? 'paused' : 'resumed'}\n`);
          setExit(0);
        } catch (e) {
          if (!(e instanceof CliError)) throw e;
          io.err(`larkflow: ${e.message}\n`);
          setExit(2);
        }
      },
    );
  }
  addEngineOptions(
    trigger
      .command('get')
      .description('show a trigger: its spec, schedule and next tick, state (last tick, paused, current batch), backfills and recent runs')
      .argument('<pipeline>')
      .argument('<trigger>')
      .option('--json', 'print JSON'),
  ).action(async (pipeline: string, name: string, opts: EngineCliOptions & { json?: boolean }) => {
    try {
      if (!existsSync(dbPath(opts))) throw new CliError(`no database at ${dbPath(opts)}: no pipelines yet (larkflow pipeline apply -f pipeline.yaml), or pass --db PATH`);
      const t = await find(dbPath(opts), pipeline, name);
      const { TriggerState, scheduleOf, batchOf } = await import('../../pipelines/triggers/runner.js');
      const { nextTick } = await import('../../pipelines/triggers/schedule.js');
      const state = new TriggerState(dbPath(opts));
      let s: ReturnType<TriggerState['get']>;
      let backfills: ReturnType<TriggerState['backfills']>;
      try {
        s = state.get(pipeline, name);
        backfills = state.backfills(pipeline, name);
      } finally {
        state.close();
      }
      const schedule = scheduleOf(t.spec);
      const next = schedule && !t.paused ? nextTick(schedule, s?.lastTick ?? Date.now()) : undefined;
      const runs = await triggerRuns(opts, pipeline, name, 10);
      const batch = batchOf(t.spec);
      const out = {
        pipeline,
        trigger: name,
        spec: t.spec,
        paused: t.paused,
        lastTick: s?.lastTick !== undefined ? new Date(s.lastTick).toISOString() : null,
        nextTick: next !== undefined ? new Date(next).toISOString() : null,
        ...(batch ? { batch: { size: batch.size, waitMs: batch.waitMs, runs: s?.batch?.runs ?? [], endedAt: s?.batch?.endedAt !== undefined ? new Date(s.batch.endedAt).toISOString() : null, ...(s?.partial ? { partialTick: new Date(s.partial.tick).toISOString(), nextParameterSet: s.partial.next } : {}) } } : {}),
        backfills: backfills.map((b) => ({ id: b.id, from: new Date(b.from).toISOString(), to: new Date(b.to).toISOString(), status: b.status, runs: b.runs, total: b.total, createdAt: new Date(b.createdAt).toISOString() })),
        runs,
      };
      if (opts.json) io.out(JSON.stringify(out, null, 2) + '\n');
      else {
        const lines = [
          `trigger ${pipeline}/${name}${t.paused ? '  PAUSED' : ''}`,
          `schedule   ${scheduleText(t.spec)}${t.spec.catchUp ? `, catchUp ${t.spec.catchUp}` : ''}`,
          `limits     ${[t.spec.maxConcurrency !== undefined ? `maxConcurrency ${t.spec.maxConcurrency}` : '', batch ? `batchPolicy ${batch.size} runs, wait ${t.spec.batchPolicy?.wait ?? '600s'}` : ''].filter(Boolean).join(', ') || '-'}`,
          `parameters ${Object.keys(t.spec.parametersMap ?? {}).join(', ') || 'default'}`,
          `last tick  ${out.lastTick ?? '-'}`,
          `next tick  ${t.paused ? '- (paused)' : (out.nextTick ?? '-')}`,
        ];
        if (out.batch) lines.push(`batch      ${out.batch.runs.length} run${out.batch.runs.length === 1 ? '' : 's'}${out.batch.endedAt ? `, ended ${out.batch.endedAt}` : out.batch.runs.length > 0 ? ', running' : ''}${out.batch.partialTick ? `; tick ${out.batch.partialTick} started up to parameter set ${out.batch.nextParameterSet}` : ''}`);
        for (const b of out.backfills) lines.push(`backfill   #${b.id} ${b.from} .. ${b.to}  ${b.status.toUpperCase()}  ${b.runs}/${b.total} runs`);
        for (const r of runs) lines.push(`run        ${r.runId}  ${r.tick ?? '-'}  ${r.params ?? '-'}  ${r.status}`);
        io.out(lines.join('\n') + '\n');
      }
      setExit(0);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      io.err(`larkflow: ${e.message}\n`);
      setExit(2);
    }
  });

  addEngineOptions(
    trigger
      .command('backfill')
      .description('start one run per tick in [--from, --to] (both included) × parameter set, batch by batch with a batchPolicy; a tick already run is not run again')
      .argument('<pipeline>')
      .argument('<trigger>')
      .option('--from <time>', 'the first time (ISO 8601)')
      .option('--to <time>', 'the last time (ISO 8601)'),
  ).action(async (pipeline: string, name: string, opts: EngineCliOptions & { from?: string; to?: string }) => {
    try {
      const from = parseTime(opts.from, '--from');
      const to = parseTime(opts.to, '--to');
      if (to < from) throw new CliError('--to is before --from');
      const t = await find(dbPath(opts), pipeline, name);
      const engine = await openEngine(opts);
      const { backfill, TriggerState } = await import('../../pipelines/triggers/runner.js');
      const state = new TriggerState(dbPath(opts));
      try {
        const { PipelineRegistry } = await import('../../pipelines/registry.js');
        const { prepareBuildRun } = await import('./pipeline.js');
        const reg = PipelineRegistry.open(dbPath(opts));
        const rev = reg.get(pipeline);
        reg.close();
        const start = await prepareBuildRun(engine, rev, rev.revision, opts as PipelineCliOptions, t.notifications);
        const runEnd = runEndOf(engine);
        const fired = await backfill(t, from, to, async (_p, over) => start(over), {
          state,
          onBatch: (runs) => {
            for (const f of runs) io.out(`${new Date(f.tick).toISOString()}  ${f.params}  ${f.runId}\n`);
          },
          // batchPolicy: the next batch once this one's runs ended (they run here, or on a worker).
          waitRuns: async (ids) => {
            await Promise.all(ids.map((id) => engine.result(id).catch(() => undefined)));
            return Math.max(0, ...ids.map((id) => runEnd(id) ?? Date.now()));
          },
        });
        const record = state.backfills(pipeline, name).find((b) => b.from === from && b.to === to);
        if (record?.status === 'killed') io.err(`backfill #${record.id} of ${pipeline}/${name} was killed after ${fired.length} of ${record.total} runs\n`);
        // The runs go on here until they end (or a worker finishes them).
        await Promise.all(fired.map((f) => engine.result(f.runId).catch(() => undefined)));
        setExit(0);
      } finally {
        state.close();
        await closeQuietly(engine);
      }
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      io.err(`larkflow: ${e.message}\n`);
      setExit(2);
    }
  });

  addEngineOptions(
    trigger
      .command('kill')
      .description("stop a trigger's running backfills from starting more runs (the runs already started go on: `larkflow cancel RUN` stops one)")
      .argument('<pipeline>')
      .argument('<trigger>')
      .option('--backfill <id>', 'only this backfill (its number in `trigger get`)'),
  ).action(async (pipeline: string, name: string, opts: EngineCliOptions & { backfill?: string }) => {
    try {
      if (!existsSync(dbPath(opts))) throw new CliError(`no database at ${dbPath(opts)}: no pipelines yet (larkflow pipeline apply -f pipeline.yaml), or pass --db PATH`);
      const id = opts.backfill === undefined ? undefined : Number(opts.backfill.replace(/^#/, ''));
      if (id !== undefined && !(Number.isInteger(id) && id > 0)) throw new CliError(`--backfill ${JSON.stringify(opts.backfill)}: give a backfill number (see \`larkflow trigger get ${pipeline} ${name}\`)`);
      await find(dbPath(opts), pipeline, name);
      const { TriggerState } = await import('../../pipelines/triggers/runner.js');
      const state = new TriggerState(dbPath(opts));
      try {
        if (id !== undefined) {
          const b = state.backfill(id);
          if (!b || b.pipeline !== pipeline || b.trigger !== name) throw new CliError(`trigger ${pipeline}/${name} has no backfill #${id} (see \`larkflow trigger get ${pipeline} ${name}\`)`);
          if (b.status !== 'running') throw new CliError(`backfill #${id} of ${pipeline}/${name} is not running (it ${b.status === 'killed' ? 'was killed' : 'finished'})`);
        }
        const killed = state.killBackfills(pipeline, name, Date.now(), id);
        if (killed.length === 0) io.out(`trigger ${pipeline}/${name} has no running backfill\n`);
        for (const b of killed) io.out(`backfill #${b.id} of ${pipeline}/${name} killed after ${b.runs} of ${b.total} runs (the runs already started go on)\n`);
      } finally {
        state.close();
      }
      setExit(0);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      io.err(`larkflow: ${e.message}\n`);
      setExit(2);
    }
  });
}

/** A trigger's schedule for people. */
function scheduleText(spec: TriggerInfo['spec']): string {
  return spec.cronSchedule
    ? `cron "${spec.cronSchedule.cron}"${spec.cronSchedule.timezone ? ` ${spec.cronSchedule.timezone}` : ''}`
    : spec.intervalSchedule
      ? `every ${spec.intervalSchedule.interval}`
      : 'no schedule';
}

/** The latest runs a trigger started (LARKFLOW_TRIGGER in their environment), newest first. */
async function triggerRuns(opts: EngineCliOptions, pipeline: string, trigger: string, limit: number): Promise<{ runId: string; status: string; tick: string | null; params: string | null; startedAt: string }[]> {
  const engine = await openEngine(opts, { mustExist: true });
  try {
    const out: { runId: string; status: string; tick: string | null; params: string | null; startedAt: string }[] = [];
    for (const r of engine.listRuns({ limit: 500, pipeline }).runs) {
      const first = engine.history(r.runId)[0];
      if (first?.kind !== 'RunStarted' || first.env.LARKFLOW_TRIGGER !== `${pipeline}/${trigger}`) continue;
      const key = r.idempotencyKey ?? '';
      out.push({ runId: r.runId, status: r.status, tick: first.env.LARKFLOW_TICK_TIME ?? null, params: key.startsWith('trigger/') ? key.slice(key.lastIndexOf('/') + 1) : null, startedAt: new Date(r.startedAt).toISOString() });
      if (out.length >= limit) break;
    }
    return out;
  } finally {
    await closeQuietly(engine);
  }
}
