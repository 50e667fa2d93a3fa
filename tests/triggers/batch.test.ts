/**
 * batchPolicy {batchSize, wait} on the virtual clock: a trigger starts at most batchSize runs (a
 * tick's parameter sets may be split), then waits until every run of the batch ended and `wait`
 * passed; catch-up and backfills go through the same batches; a killed backfill starts no more.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TriggerState, backfill, fireDue, type FiredRun, type StartPipelineRun, type TriggerInfo } from '../../src/pipelines/triggers/runner.js';

const dir = mkdtempSync(join(tmpdir(), 'lf-trigger-batch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (s: string): number => Date.parse(s);
const iso = (t: number): string => new Date(t).toISOString();

/** An idempotent start (same key, same run) that records every call and the clock when made. */
function fakeStart(clock: () => number = () => 0): { start: StartPipelineRun; calls: { key: string; env: Record<string, string>; at: number }[]; runs: Map<string, string> } {
  const runs = new Map<string, string>();
  const calls: { key: string; env: Record<string, string>; at: number }[] = [];
  return {
    calls,
    runs,
    start: async (_p, over) => {
      calls.push({ key: over.idempotencyKey, env: over.env, at: clock() });
      if (!runs.has(over.idempotencyKey)) runs.set(over.idempotencyKey, `run-${runs.size + 1}`);
      return { runId: runs.get(over.idempotencyKey)! };
    },
  };
}

const label = (f: FiredRun): string => `${iso(f.tick).slice(11, 16)} ${f.params}`;

const BATCHED: TriggerInfo = {
  pipeline: 'p',
  trigger: 'b',
  spec: { intervalSchedule: { interval: '1h' }, catchUp: 'all', batchPolicy: { batchSize: 2, wait: '10m' }, parametersMap: { a: {}, b: {}, c: {} } },
  paused: false,
};

describe('batchPolicy', () => {
  it('starts batchSize runs, then the next batch once they all ended and wait passed', async () => {
    const state = new TriggerState(join(dir, 'a.db'));
    const f = fakeStart();
    const ended = new Map<string, number>();
    const opts = { runEnd: (id: string) => ended.get(id) };
    expect(await fireDue([BATCHED], state, at('2026-01-01T00:30:00Z'), f.start, opts)).toEqual([]);
    // The 01:00 tick has three parameter sets: two start, the third waits for the next batch.
    const first = await fireDue([BATCHED], state, at('2026-01-01T01:00:05Z'), f.start, opts);
    expect(first.map(label)).toEqual(['01:00 a', '01:00 b']);
    expect(state.get('p', 'b')).toMatchObject({ batch: { runs: ['run-1', 'run-2'] }, partial: { tick: at('2026-01-01T01:00:00Z'), next: 2 } });
    // Its runs are going: nothing starts.
    expect(await fireDue([BATCHED], state, at('2026-01-01T01:20:00Z'), f.start, opts)).toEqual([]);
    ended.set('run-1', at('2026-01-01T01:25:00Z'));
    expect(await fireDue([BATCHED], state, at('2026-01-01T01:26:00Z'), f.start, opts)).toEqual([]);
    ended.set('run-2', at('2026-01-01T01:30:00Z'));
    // Both ended at 01:30 at the latest: the next batch waits until 01:40.
    expect(await fireDue([BATCHED], state, at('2026-01-01T01:39:59Z'), f.start, opts)).toEqual([]);
    const second = await fireDue([BATCHED], state, at('2026-01-01T01:40:00Z'), f.start, opts);
    expect(second.map(label)).toEqual(['01:00 c']);
    // The rest of the 01:00 tick keeps that tick's time and the tick before it.
    expect(f.calls.at(-1)!.env).toMatchObject({ LARKFLOW_TICK_TIME: '2026-01-01T01:00:00.000Z', LAST_EXECUTION_TIMESTAMP: String(at('2026-01-01T00:30:00Z') / 1000) });
    expect(state.get('p', 'b')).toMatchObject({ lastTick: at('2026-01-01T01:00:00Z') });
    expect(state.get('p', 'b')!.partial).toBeUndefined();
    ended.set('run-3', at('2026-01-01T01:45:00Z'));
    // Downtime until 04:00:30 with catchUp all: 02:00, 03:00 and 04:00 are due (9 runs), two at a time.
    const third = await fireDue([BATCHED], state, at('2026-01-01T04:00:30Z'), f.start, opts);
    expect(third.map(label)).toEqual(['02:00 a', '02:00 b']);
    ended.set('run-4', at('2026-01-01T04:05:00Z'));
    ended.set('run-5', at('2026-01-01T04:06:00Z'));
    expect((await fireDue([BATCHED], state, at('2026-01-01T04:16:00Z'), f.start, opts)).map(label)).toEqual(['02:00 c', '03:00 a']);
    expect(f.calls.at(-1)!.env).toMatchObject({ LARKFLOW_TICK_TIME: '2026-01-01T03:00:00.000Z', LAST_EXECUTION_TIMESTAMP: String(at('2026-01-01T02:00:00Z') / 1000) });
    // Every run was started once: no key twice.
    expect(new Set(f.calls.map((c) => c.key)).size).toBe(f.calls.length);
    state.close();
  });

  it('two workers on one database start a batch once', async () => {
    const a = new TriggerState(join(dir, 'b.db'));
    const b = new TriggerState(join(dir, 'b.db'));
    const f = fakeStart();
    const opts = { runEnd: () => undefined };
    await fireDue([BATCHED], a, at('2026-01-01T00:30:00Z'), f.start, opts);
    const [x, y] = await Promise.all([fireDue([BATCHED], a, at('2026-01-01T01:00:05Z'), f.start, opts), fireDue([BATCHED], b, at('2026-01-01T01:00:05Z'), f.start, opts)]);
    // Both may call start for the same two keys; the runs are the same two.
    expect(new Set([...x, ...y].map((r) => r.runId))).toEqual(new Set(['run-1', 'run-2']));
    expect(f.runs.size).toBe(2);
    // The batch's runs are going (runEnd says so): neither worker starts the third.
    expect(await fireDue([BATCHED], b, at('2026-01-01T01:30:00Z'), f.start, opts)).toEqual([]);
    expect(f.runs.size).toBe(2);
    a.close();
    b.close();
  });

  it('without a runEnd (no way to know when runs end) batchPolicy is not applied', async () => {
    const state = new TriggerState(join(dir, 'c.db'));
    const f = fakeStart();
    await fireDue([BATCHED], state, at('2026-01-01T00:30:00Z'), f.start);
    expect(await fireDue([BATCHED], state, at('2026-01-01T01:00:05Z'), f.start)).toHaveLength(3);
    state.close();
  });
});

describe('backfill through batchPolicy', () => {
  it('starts batch by batch: each after the runs of the last ended and wait passed', async () => {
    let clock = at('2026-02-01T00:00:00Z');
    const f = fakeStart(() => clock);
    const state = new TriggerState(join(dir, 'd.db'));
    const batches: string[][] = [];
    const fired = await backfill(BATCHED, at('2026-01-01T00:00:00Z'), at('2026-01-01T01:00:00Z'), f.start, {
      state,
      now: () => clock,
      sleep: async (ms) => void (clock += ms),
      // Each batch's runs take 5 minutes on the virtual clock.
      waitRuns: async () => (clock += 5 * 60_000),
      onBatch: (runs) => batches.push(runs.map(label)),
    });
    expect(batches).toEqual([
      ['00:00 a', '00:00 b'],
      ['00:00 c', '01:00 a'],
      ['01:00 b', '01:00 c'],
    ]);
    expect(fired).toHaveLength(6);
    // Batch k+1 started 5 minutes (the runs) + 10 minutes (wait) after batch k.
    const startsAt = [...new Set(f.calls.map((c) => c.at))].map((t) => (t - at('2026-02-01T00:00:00Z')) / 60_000);
    expect(startsAt).toEqual([0, 15, 30]);
    expect(state.backfills('p', 'b')).toMatchObject([{ status: 'succeeded', runs: 6, total: 6, from: at('2026-01-01T00:00:00Z'), to: at('2026-01-01T01:00:00Z') }]);
    state.close();
  });

  it('a killed backfill starts no further batch, also while it waits', async () => {
    let clock = at('2026-02-01T00:00:00Z');
    const f = fakeStart(() => clock);
    const state = new TriggerState(join(dir, 'e.db'));
    const killer = new TriggerState(join(dir, 'e.db'));
    let slept = 0;
    const fired = await backfill(BATCHED, at('2026-01-01T00:00:00Z'), at('2026-01-01T02:00:00Z'), f.start, {
      state,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
        // Killed from another connection (`larkflow trigger kill`) during the wait after batch 1.
        if (++slept === 3) killer.killBackfills('p', 'b', clock);
      },
      waitRuns: async () => clock,
    });
    expect(fired.map(label)).toEqual(['00:00 a', '00:00 b']);
    expect(f.runs.size).toBe(2);
    expect(state.backfills('p', 'b')).toMatchObject([{ status: 'killed', runs: 2, total: 9 }]);
    // Killing again finds nothing running.
    expect(killer.killBackfills('p', 'b', clock)).toEqual([]);
    state.close();
    killer.close();
  });

  it('without a batchPolicy a backfill starts every run at once and is recorded', async () => {
    const state = new TriggerState(join(dir, 'f.db'));
    const f = fakeStart();
    const t: TriggerInfo = { pipeline: 'p', trigger: 'm', spec: { intervalSchedule: { interval: '30m' }, maxConcurrency: 1 }, paused: false };
    const fired = await backfill(t, at('2026-01-01T00:00:00Z'), at('2026-01-01T02:00:00Z'), f.start, { state, waitRuns: async () => 0 });
    expect(fired.map(label)).toEqual(['00:00 default', '00:30 default', '01:00 default', '01:30 default', '02:00 default']);
    expect(state.backfills('p', 'm')).toMatchObject([{ status: 'succeeded', runs: 5, total: 5 }]);
    state.close();
  });
});
