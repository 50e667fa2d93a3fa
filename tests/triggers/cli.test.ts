/**
 * `larkflow trigger get` and `larkflow trigger kill`: a backfill with a batchPolicy starts its runs
 * batch by batch and is recorded; `trigger kill` (another invocation, as from another terminal)
 * stops it from starting the next batch; `trigger get` shows the trigger, its backfills and runs.
 */
import { describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine } from '../../src/engine/index.js';
import { triggerFirer } from '../../src/cli/commands/trigger.js';
import { cli, scratchDirs } from '../helpers/cli.js';

const fresh = scratchDirs('lf-trigger-cli-');

async function until<T>(f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('larkflow trigger get / kill', () => {
  it('kills a running backfill between batches; get shows it, killed, with its runs', async () => {
    const t = fresh();
    t.file('flow.star', '@workflow()\ndef main():\n    return os.environ.get("LARKFLOW_TICK_TIME")\n');
    const yaml = t.file(
      'pipeline.yaml',
      [
        'apiVersion: larkflow.dev/v1',
        'kind: Pipeline',
        'metadata: {name: slow}',
        'spec:',
        '  manifest:',
        '    filePath: flow.star',
        '    triggerMap:',
        '      daily: {cronSchedule: {cron: "0 6 * * *"}, batchPolicy: {batchSize: 1, wait: 1h}}',
        '',
      ].join('\n'),
    );
    expect((await cli('pipeline', 'apply', '-f', yaml, '--db', t.db)).code).toBe(0);
    const backfill = cli('trigger', 'backfill', 'slow', 'daily', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-03T23:00:00Z', '--db', t.db);
    // The first batch (one run) started; the backfill now waits an hour before the next.
    await until(async () => {
      const g = await cli('trigger', 'get', 'slow', 'daily', '--json', '--db', t.db);
      const j = JSON.parse(g.out) as { backfills: { runs: number; status: string }[] };
      return j.backfills[0]?.runs === 1 ? true : undefined;
    });
    const kill = await cli('trigger', 'kill', 'slow', 'daily', '--db', t.db);
    expect(kill.code, kill.err).toBe(0);
    expect(kill.out).toBe('backfill #1 of slow/daily killed after 1 of 3 runs (the runs already started go on)\n');
    const done = await backfill;
    expect(done.code, done.err).toBe(0);
    expect(done.out.trim().split('\n')).toHaveLength(1);
    expect(done.out).toMatch(/^2026-01-01T06:00:00\.000Z {2}default {2}run-[0-9a-f]+\n$/);
    expect(done.err).toContain('backfill #1 of slow/daily was killed after 1 of 3 runs');
    const runs = JSON.parse((await cli('runs', '--json', '--pipeline', 'slow', '--db', t.db)).out) as unknown[];
    expect(runs).toHaveLength(1);

    const get = await cli('trigger', 'get', 'slow', 'daily', '--db', t.db);
    expect(get.code).toBe(0);
    expect(get.out).toMatch(/^trigger slow\/daily\nschedule {3}cron "0 6 \* \* \*"\nlimits {5}batchPolicy 1 runs, wait 1h\n/);
    expect(get.out).toContain('backfill   #1 2026-01-01T00:00:00.000Z .. 2026-01-03T23:00:00.000Z  KILLED  1/3 runs');
    expect(get.out).toMatch(/run {8}run-[0-9a-f]+ {2}2026-01-01T06:00:00\.000Z {2}default {2}completed/);
    const json = JSON.parse((await cli('trigger', 'get', 'slow', 'daily', '--json', '--db', t.db)).out) as Record<string, unknown>;
    expect(json).toMatchObject({ pipeline: 'slow', trigger: 'daily', paused: false, lastTick: null, batch: { size: 1, waitMs: 3_600_000 }, backfills: [{ id: 1, status: 'killed', runs: 1, total: 3 }] });

    // Nothing left to kill; unknown names are usage errors without a stack.
    expect((await cli('trigger', 'kill', 'slow', 'daily', '--db', t.db)).out).toBe('trigger slow/daily has no running backfill\n');
    const noBackfill = await cli('trigger', 'kill', 'slow', 'daily', '--backfill', '7', '--db', t.db);
    expect(noBackfill.code).toBe(2);
    expect(noBackfill.err).toContain('trigger slow/daily has no backfill #7');
    const ended = await cli('trigger', 'kill', 'slow', 'daily', '--backfill', '1', '--db', t.db);
    expect(ended.code).toBe(2);
    expect(ended.err).toContain('backfill #1 of slow/daily is not running (it was killed)');
    const unknown = await cli('trigger', 'get', 'slow', 'weekly', '--db', t.db);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('no trigger weekly in pipeline slow (triggers: slow/daily)');
    for (const r of [noBackfill, ended, unknown]) expect(r.err).not.toMatch(/\n\s+at /);
  });
});

describe('the worker\'s trigger firer and batchPolicy', () => {
  it('starts the next batch only once the engine says the last batch\'s runs ended', async () => {
    const t = fresh();
    t.file('flow.star', '@workflow()\ndef main(k = 0):\n    return signal.wait("go")\n');
    const yaml = t.file(
      'pipeline.yaml',
      [
        'apiVersion: larkflow.dev/v1',
        'kind: Pipeline',
        'metadata: {name: batched}',
        'spec:',
        '  manifest:',
        '    filePath: flow.star',
        '    triggerMap:',
        '      hourly: {intervalSchedule: {interval: 1h}, batchPolicy: {batchSize: 1, wait: 0s}, parametersMap: {a: {kw_args: {k: 1}}, b: {kw_args: {k: 2}}}}',
        '',
      ].join('\n'),
    );
    expect((await cli('pipeline', 'apply', '-f', yaml, '--db', t.db)).code).toBe(0);
    const engine = Engine.open({ db: t.db });
    const firer = triggerFirer(engine, { db: t.db });
    try {
      const warn = (m: string): never => {
        throw new Error(m);
      };
      // Runs end on the engine's (real) clock: the polls' times are the next hours from now.
      const hour = (Math.floor(Date.now() / 3_600_000) + 1) * 3_600_000;
      const at = (s: string): number => hour + (Date.parse(s) - Date.parse('2026-01-01T01:00:00Z'));
      await firer.fire(Date.now(), warn);
      const first = await firer.fire(at('2026-01-01T01:00:01Z'), warn);
      expect(first.map((f) => f.params)).toEqual(['a']);
      // The run waits for a signal: the batch is going, b waits.
      expect(await firer.fire(at('2026-01-01T01:00:02Z'), warn)).toEqual([]);
      engine.signal(first[0]!.runId, 'go', 'done');
      expect((await engine.result(first[0]!.runId)).status).toBe('completed');
      const second = await firer.fire(at('2026-01-01T01:00:03Z'), warn);
      expect(second.map((f) => f.params)).toEqual(['b']);
      engine.signal(second[0]!.runId, 'go', 'done');
      await engine.result(second[0]!.runId);
    } finally {
      firer.close();
      await engine.close();
    }
  });
});
