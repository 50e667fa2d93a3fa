/**
 * This file defines `larkflow trigger list | pause | resume | backfill` and what `larkflow worker`
 * uses to fire the triggers of registered pipelines (src/pipelines/triggers/runner.ts): each due
 * tick × parameter set starts one run of the pipeline's latest revision, exactly once across workers
 * (the run's idempotency key names the tick).
 */
import type { Command } from 'commander';
import type { Engine } from '../../engine/index.js';
import type { PipelineRegistry } from '../../pipelines/registry.js';
import type { FiredRun, TriggerInfo, TriggerState } from '../../pipelines/triggers/runner.js';
import { CliError } from '../errors.js';
import { addEngineOptions, closeQuietly, dbPath, openEngine, type CliIo, type EngineCliOptions } from '../engine-options.js';
import type { PipelineCliOptions } from './pipeline.js';

/** The triggers of the registered (not deleted) pipelines, with their state. */
function listTriggers(reg: PipelineRegistry, state: TriggerState): TriggerInfo[] {
  const out: TriggerInfo[] = [];
  for (const p of reg.list()) {
    const rev = reg.get(p.name);
    for (const [name, spec] of Object.entries(rev.spec.spec.manifest.triggerMap ?? {})) {
      const s = state.get(p.name, name);
      out.push({ pipeline: p.name, trigger: name, spec, ...(s?.lastTick !== undefined ? { lastTick: s.lastTick } : {}), paused: s?.paused ?? false });
    }
  }
  return out;
}

/** `listTriggers` on the database at `db` (opened and closed here). */
async function triggersOf(db: string): Promise<TriggerInfo[]> {
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
        const key = `${pipeline}@${rev.revision}`;
        let start = starters.get(key);
        if (!start) {
          start = await prepareBuildRun(engine, rev, rev.revision, opts as PipelineCliOptions);
          starters.set(key, start);
        }
        try {
          return start(over);
        } catch (e) {
          warn(`trigger of pipeline ${pipeline}: ${(e as Error).message}`);
          throw e;
        }
      },
      undefined,
      running,
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

async function find(db: string, pipeline: string, trigger: string): Promise<TriggerInfo> {
  const all = await triggersOf(db);
  const t = all.find((x) => x.pipeline === pipeline && x.trigger === trigger);
  if (!t) throw new CliError(`no trigger ${trigger} in pipeline ${pipeline} (triggers: ${all.map((x) => `${x.pipeline}/${x.trigger}`).join(', ') || 'none'})`);
  return t;
}

/** Adds `trigger list | pause | resume | backfill`. */
export function registerTriggerCommands(program: Command, io: CliIo, setExit: (n: number) => void): void {
  const trigger = program.command('trigger').description("the triggers of registered pipelines (spec.manifest.triggerMap); `larkflow worker` fires them");
  addEngineOptions(trigger.command('list').description('list triggers: schedule, last tick fired, paused').option('--json', 'print JSON')).action(async (opts: EngineCliOptions & { json?: boolean }) => {
    const all = await triggersOf(dbPath(opts));
    if (opts.json) io.out(JSON.stringify(all, null, 2) + '\n');
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
      .command('backfill')
      .description('start one run per tick in [--from, --to] (both included) × parameter set; a tick already run is not run again')
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
      try {
        const { backfill } = await import('../../pipelines/triggers/runner.js');
        const { PipelineRegistry } = await import('../../pipelines/registry.js');
        const { prepareBuildRun } = await import('./pipeline.js');
        const reg = PipelineRegistry.open(dbPath(opts));
        const rev = reg.get(pipeline);
        reg.close();
        const start = await prepareBuildRun(engine, rev, rev.revision, opts as PipelineCliOptions);
        const fired = await backfill(t, from, to, async (_p, over) => start(over));
        for (const f of fired) io.out(`${new Date(f.tick).toISOString()}  ${f.params}  ${f.runId}\n`);
        // The runs go on here until they end (or a worker finishes them).
        await Promise.all(fired.map((f) => engine.result(f.runId).catch(() => undefined)));
        setExit(0);
      } finally {
        await closeQuietly(engine);
      }
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      io.err(`larkflow: ${e.message}\n`);
      setExit(2);
    }
  });
}
