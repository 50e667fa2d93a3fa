/**
 * Firing triggers: due ticks start runs (one per tick × parameter set, keyed so that two workers —
 * or one after a crash — start each once), pause and resume, backfill; and through the CLI,
 * `larkflow trigger list` and `trigger backfill` on a registered pipeline.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TriggerState, backfill, fireDue, type StartPipelineRun, type TriggerInfo } from '../../src/pipelines/triggers/runner.js';
import { cli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'lf-triggers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (s: string): number => Date.parse(s);

/** A start that, like an idempotent engine start, gives the same run for the same key. */
function fakeStart(): { start: StartPipelineRun; calls: { key: string; env: Record<string, string>; kwargs?: Record<string, unknown> }[]; runs: Map<string, string> } {
  const runs = new Map<string, string>();
  const calls: { key: string; env: Record<string, string>; kwargs?: Record<string, unknown> }[] = [];
  return {
    calls,
    runs,
    start: async (_p, over) => {
      calls.push({ key: over.idempotencyKey, env: over.env, ...(over.kwargs ? { kwargs: over.kwargs } : {}) });
      if (!runs.has(over.idempotencyKey)) runs.set(over.idempotencyKey, `run-${runs.size + 1}`);
      return { runId: runs.get(over.idempotencyKey)! };
    },
  };
}

const HOURLY: TriggerInfo = {
  pipeline: 'p',
  trigger: 'hourly',
  spec: { cronSchedule: { cron: '0 * * * *' }, maxConcurrency: 2, parametersMap: { a: { kw_args: { seed: 1 } }, b: { kw_args: { seed: 2 }, environ: { X: 'y' } } } },
  paused: false,
};

describe('firing triggers', () => {
  it('starts each due tick × parameter set once, with its tick time; two workers agree', async () => {
    const state = new TriggerState(join(dir, 'a.db'));
    const other = new TriggerState(join(dir, 'a.db'));
    const f = fakeStart();
    // First sight: from now, nothing due.
    expect(await fireDue([HOURLY], state, at('2026-01-01T00:30:00Z'), f.start)).toEqual([]);
    // An hour later, both workers look at once.
    const [x, y] = await Promise.all([fireDue([HOURLY], state, at('2026-01-01T01:00:05Z'), f.start), fireDue([HOURLY], other, at('2026-01-01T01:00:05Z'), f.start)]);
    expect(x.map((r) => r.runId).sort()).toEqual(['run-1', 'run-2']);
    expect(y.map((r) => r.runId).sort()).toEqual(['run-1', 'run-2']);
    expect(f.runs.size).toBe(2);
    expect(f.calls[0]!.env).toMatchObject({ LARKFLOW_TICK_TIME: '2026-01-01T01:00:00.000Z', LARKFLOW_TRIGGER: 'p/hourly', LAST_EXECUTION_TIMESTAMP: String(at('2026-01-01T00:30:00Z') / 1000) });
    expect(f.calls.find((c) => c.kwargs?.seed === 2)!.env.X).toBe('y');
    // After three hours of downtime, 'latest' fires only the last missed tick.
    const late = await fireDue([HOURLY], state, at('2026-01-01T04:10:00Z'), f.start);
    expect(new Set(late.map((r) => new Date(r.tick).toISOString()))).toEqual(new Set(['2026-01-01T04:00:00.000Z']));
    state.close();
    other.close();
  });

  it('a paused trigger fires nothing; resumed, it goes on from then', async () => {
    const state = new TriggerState(join(dir, 'b.db'));
    const f = fakeStart();
    await fireDue([HOURLY], state, at('2026-01-01T00:30:00Z'), f.start);
    state.setPaused('p', 'hourly', true, at('2026-01-01T00:31:00Z'));
    expect(await fireDue([HOURLY], state, at('2026-01-01T02:00:05Z'), f.start)).toEqual([]);
    state.setPaused('p', 'hourly', false, at('2026-01-01T02:30:00Z'));
    expect(await fireDue([HOURLY], state, at('2026-01-01T02:40:00Z'), f.start)).toEqual([]);
    expect((await fireDue([HOURLY], state, at('2026-01-01T03:00:01Z'), f.start)).length).toBe(2);
    state.close();
  });

  it('backfill starts every tick of an inclusive range, and again gives the same runs', async () => {
    const f = fakeStart();
    const a = await backfill(HOURLY, at('2026-01-01T00:00:00Z'), at('2026-01-01T02:00:00Z'), f.start);
    expect(a).toHaveLength(6);
    const b = await backfill(HOURLY, at('2026-01-01T00:00:00Z'), at('2026-01-01T02:00:00Z'), f.start);
    expect(b.map((r) => r.runId)).toEqual(a.map((r) => r.runId));
    expect(f.runs.size).toBe(6);
  });
});

describe('larkflow trigger (CLI)', () => {
  it('lists the triggers of a registered pipeline and backfills them, once', async () => {
    writeFileSync(join(dir, 'flow.star'), '@workflow()\ndef main(seed = 0):\n    return [seed, os.environ.get("LARKFLOW_TICK_TIME")]\n');
    writeFileSync(
      join(dir, 'pipeline.yaml'),
      [
        'apiVersion: larkflow.dev/v1',
        'kind: Pipeline',
        'metadata: {name: ticker}',
        'spec:',
        '  manifest:',
        '    filePath: flow.star',
        '    triggerMap:',
        '      daily: {cronSchedule: {cron: "0 6 * * *", timezone: Europe/Berlin}, maxConcurrency: 1, parametersMap: {one: {kw_args: {seed: 1}}}}',
        '',
      ].join('\n'),
    );
    const db = join(dir, 'runs.db');
    expect((await cli('pipeline', 'apply', '-f', join(dir, 'pipeline.yaml'), '--db', db)).code).toBe(0);
    const list = await cli('trigger', 'list', '--db', db);
    expect(list.out).toMatch(/^ticker\/daily {2}cron "0 6 \* \* \*" Europe\/Berlin {2}last -$/m);
    const b1 = await cli('trigger', 'backfill', 'ticker', 'daily', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-03T23:00:00Z', '--db', db);
    expect(b1.code, b1.err).toBe(0);
    const lines = b1.out.trim().split('\n');
    expect(lines.map((l) => l.split('  ')[0])).toEqual(['2026-01-01T05:00:00.000Z', '2026-01-02T05:00:00.000Z', '2026-01-03T05:00:00.000Z']);
    const b2 = await cli('trigger', 'backfill', 'ticker', 'daily', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-03T23:00:00Z', '--db', db);
    expect(b2.out).toBe(b1.out);
    const runs = JSON.parse((await cli('runs', '--json', '--pipeline', 'ticker', '--db', db)).out) as { status: string }[];
    expect(runs).toHaveLength(3);
    expect(runs.every((r) => r.status === 'completed')).toBe(true);
    expect((await cli('trigger', 'pause', 'ticker', 'nope', '--db', db)).code).toBe(2);
    expect((await cli('trigger', 'pause', 'ticker', 'daily', '--db', db)).out).toBe('trigger ticker/daily paused\n');
    expect((await cli('trigger', 'list', '--db', db)).out).toMatch(/PAUSED/);
  });
});

describe('interval triggers, catch-up and maxConcurrency', () => {
  it('an interval trigger ticks every interval; catchUp all fires every missed tick', async () => {
    const state = new TriggerState(join(dir, 'c.db'));
    const f = fakeStart();
    const every15: TriggerInfo = { pipeline: 'p', trigger: 'q', spec: { intervalSchedule: { interval: '15m' }, catchUp: 'all', maxConcurrency: 10 }, paused: false };
    await fireDue([every15], state, at('2026-01-01T00:05:00Z'), f.start);
    const fired = await fireDue([every15], state, at('2026-01-01T01:00:00Z'), f.start);
    expect(fired.map((r) => new Date(r.tick).toISOString())).toEqual(['2026-01-01T00:15:00.000Z', '2026-01-01T00:30:00.000Z', '2026-01-01T00:45:00.000Z', '2026-01-01T01:00:00.000Z']);
    state.close();
  });

  it('maxConcurrency holds ticks back while the trigger has that many runs going', async () => {
    const state = new TriggerState(join(dir, 'd.db'));
    const f = fakeStart();
    const t: TriggerInfo = { pipeline: 'p', trigger: 'm', spec: { intervalSchedule: { interval: '1h' }, catchUp: 'all', maxConcurrency: 2 }, paused: false };
    let running = 2;
    await fireDue([t], state, at('2026-01-01T00:30:00Z'), f.start, undefined, () => running);
    // Two runs going: the due tick waits.
    expect(await fireDue([t], state, at('2026-01-01T01:00:01Z'), f.start, undefined, () => running)).toEqual([]);
    running = 1;
    const later = await fireDue([t], state, at('2026-01-01T02:00:01Z'), f.start, undefined, () => running);
    // One slot: only the first of the two due ticks starts; the other stays due.
    expect(later.map((r) => new Date(r.tick).toISOString())).toEqual(['2026-01-01T01:00:00.000Z']);
    running = 0;
    const rest = await fireDue([t], state, at('2026-01-01T02:00:02Z'), f.start, undefined, () => running);
    expect(rest.map((r) => new Date(r.tick).toISOString())).toEqual(['2026-01-01T02:00:00.000Z']);
    state.close();
  });
});
