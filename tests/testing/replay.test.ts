/**
 * Offline replay for users (larkflow/testing): planted nondeterminism (a branch on a recorded value
 * that changed, a reordered fan-out, a renamed task, a changed argument), a changed final result, a
 * changed Starlark @task body and a changed JS task are each caught and named with the step, the
 * recorded and the new call, and file:line; histories come from arrays, `larkflow history --json`
 * files or a database; `larkflow replay --all` stops with exit code 3 at the first mismatch.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, VirtualClock, type HistoryEvent } from '../../src/engine/index.js';
import { assertReplays, createTestEngine, formatReplayReport, replayHistories, replayHistory } from '../../src/testing/index.js';
import { parseSince, replayAllCommand } from '../../src/testing/replay-all.js';

const BASE = [
  'fetch = task("fetch")',
  'use = task("use")',
  'f = task("f")',
  '',
  '@task()',
  'def score(xs):',
  '    return (xs[0] + xs[1]) * 10',
  '',
  '@workflow()',
  'def w(name):',
  '    x = fetch(name)',
  '    if x > 1:',
  '        use(x)',
  '    fs = [run(f, k) for k in ["p", "q"]]',
  '    ys = [g.result() for g in fs]',
  '    s = score([x, 1])',
  '    return {"x": x, "ys": ys, "score": s}',
  '',
].join('\n');

async function record(text = BASE): Promise<HistoryEvent[]> {
  const te = createTestEngine();
  te.registerTask('fetch', () => 2);
  te.registerTask('use', (x: number) => x);
  te.registerTask('f', (k: string) => k.toUpperCase());
  const h = te.start({ source: { name: 'n.star', text }, args: ['a'], runId: 'run-n' });
  const r = await te.runToCompletion(h);
  expect(r).toMatchObject({ status: 'completed', result: { x: 2, ys: ['P', 'Q'], score: 30 } });
  const history = te.history(h.runId);
  await te.dispose();
  return history;
}

const tmp = mkdtempSync(join(tmpdir(), 'larkflow-replay-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('replayHistory', () => {
  it('the unchanged script replays, and the Starlark step results are recomputed', async () => {
    const rep = await replayHistory({ name: 'n.star', text: BASE }, await record());
    expect(rep.mismatches).toEqual([]);
    expect(rep.ok).toBe(true);
    expect(rep.checkedSteps).toEqual(['score#1']);
    expect(formatReplayReport(rep)).toMatch(/^OK run-n \(w, \d+ events; 1 step results recomputed\)/);
  });

  const cases: { name: string; change: [string, string]; kind: string; step: string; line: number; recorded: RegExp; now: RegExp }[] = [
    { name: 'a renamed task', change: ['fetch = task("fetch")', 'fetch = task("fetch_v2")'], kind: 'call', step: 'fetch_v2#1', line: 11, recorded: /call of task fetch as step fetch#1/, now: /call of task fetch_v2 as step fetch_v2#1/ },
    { name: 'a changed argument', change: ['x = fetch(name)', 'x = fetch(name + "!")'], kind: 'call', step: 'fetch#1', line: 11, recorded: /call of task fetch as step fetch#1 \(args digest/, now: /call of task fetch as step fetch#1 \(args digest/ },
    { name: 'a branch on a recorded value that changed', change: ['if x > 1:', 'if x > 5:'], kind: 'call', step: 'f#1', line: 14, recorded: /call of task use as step use#1/, now: /call of task f as step f#1/ },
    { name: 'a reordered fan-out', change: ['["p", "q"]', '["q", "p"]'], kind: 'call', step: 'f#1', line: 14, recorded: /call of task f as step f#1/, now: /call of task f as step f#1/ },
  ];
  for (const c of cases) {
    it(`catches and names ${c.name}`, async () => {
      const rep = await replayHistory({ name: 'n.star', text: BASE.replace(c.change[0], c.change[1]) }, await record());
      expect(rep.ok).toBe(false);
      expect(rep.mismatches).toHaveLength(1);
      const m = rep.mismatches[0]!;
      expect(m.kind).toBe(c.kind);
      expect(m.stepId).toBe(c.step);
      if (c.name.startsWith('a branch')) expect(m.recordedStepId).toBe('use#1');
      if (c.name === 'a changed argument') {
        expect(m.recorded).toMatch(/ args=\["a"\]$/);
        expect(m.now).toMatch(/ args=\["a!"\]$/);
        expect(m.argumentsDiffer).toBe('args[0]: recorded "a", now "a!"');
      }
      expect(m.site).toMatchObject({ file: 'n.star', line: c.line });
      expect(m.recorded).toMatch(c.recorded);
      expect(m.now).toMatch(c.now);
      expect(m.message).toMatch(new RegExp(`step ${c.step.replace('#', '#')} at n\\.star:${c.line}`));
      expect(formatReplayReport(rep)).toMatch(/MISMATCH run-n[\s\S]*recorded: [\s\S]*now: /);
    });
  }

  it('names the recorded call site when the script no longer makes a call', async () => {
    const text = BASE.replace('    if x > 1:\n        use(x)\n', '');
    const rep = await replayHistory({ name: 'n.star', text }, await record());
    expect(rep.mismatches[0]).toMatchObject({ kind: 'call', stepId: 'f#1' });
    expect(rep.mismatches[0]!.recordedSite).toMatchObject({ file: 'n.star', line: 13 });
  });

  it('compares the final result', async () => {
    const rep = await replayHistory({ name: 'n.star', text: BASE.replace('"score": s}', '"score": s + 1}') }, await record());
    expect(rep.mismatches).toHaveLength(1);
    expect(rep.mismatches[0]).toMatchObject({ kind: 'result', recordedValue: { x: 2, ys: ['P', 'Q'], score: 30 }, newValue: { x: 2, ys: ['P', 'Q'], score: 31 } });
  });

  it('recomputes a completed Starlark step whose body changed', async () => {
    const rep = await replayHistory({ name: 'n.star', text: BASE.replace('(xs[0] + xs[1]) * 10', '(xs[0] + xs[1]) * 100') }, await record());
    // The recorded result is fed to the workflow, so its calls and final result still match...
    expect(rep.mismatches.map((m) => m.kind)).toEqual(['step-result']);
    // ...but the step's body now computes something else from the same arguments.
    expect(rep.mismatches[0]).toMatchObject({ stepId: 'score#1', recordedValue: 30, newValue: 300, recordedSite: { file: 'n.star', line: 16 } });
    expect(rep.mismatches[0]!.message).toMatch(/step score#1 at n\.star:16: task score now computes 300 .* recorded result is 30/);
  });

  it('re-checks deterministic JS tasks given in options.tasks', async () => {
    const h = await record();
    const ok = await replayHistory({ name: 'n.star', text: BASE }, h, { tasks: { f: (k: string) => k.toUpperCase() } });
    expect(ok.ok).toBe(true);
    expect(ok.checkedSteps).toEqual(['f#1', 'f#2', 'score#1']);
    const bad = await replayHistory({ name: 'n.star', text: BASE }, h, { tasks: { f: (k: string) => k } });
    expect(bad.mismatches.map((m) => `${m.kind} ${m.stepId}`)).toEqual(['step-result f#1', 'step-result f#2']);
  });

  it('reports a script that no longer loads', async () => {
    const rep = await replayHistory({ name: 'n.star', text: BASE + '\nthis is not starlark\n' }, await record());
    expect(rep.ok).toBe(false);
    expect(rep.mismatches[0]!.kind).toBe('error');
  });

  it('reads `larkflow history --json` files, and says what an in-flight run would do next', async () => {
    const full = await record();
    const file = join(tmp, 'run-n.json');
    writeFileSync(file, JSON.stringify(full, null, 2));
    const script = join(tmp, 'n.star');
    writeFileSync(script, BASE);
    const s = await replayHistories(script, [file, full.slice(0, 6)]);
    expect(s.ok).toBe(true);
    expect(s.reports[1]!.ended).toBe(false);
    await expect(assertReplays({ name: 'n.star', text: BASE.replace('if x > 1:', 'if x > 5:') }, [file])).rejects.toThrow(/do not replay[\s\S]*MISMATCH run-n[\s\S]*use#1/);
    await expect(replayHistory(script, join(tmp, 'missing.json'))).rejects.toThrow(/cannot read history/);
  });
});

describe('replay --all', () => {
  const dir = join(tmp, 'ci');
  const db = join(dir, 'larkflow.db');
  const wf = join(dir, 'n.star');

  async function recordRuns(): Promise<void> {
    rmSync(dir, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    writeFileSync(wf, BASE);
    const clock = new VirtualClock(Date.UTC(2026, 0, 1));
    const engine = Engine.open({ db, clock, workDir: join(dir, 'attempts') });
    engine.registerTask('fetch', (n: string) => (n === 'small' ? 1 : 2));
    engine.registerTask('use', (x: number) => x);
    engine.registerTask('f', (k: string) => k.toUpperCase());
    // One second apart: runs are ordered by start time (ties by run id, which is random).
    for (const name of ['big', 'small']) {
      expect((await engine.start({ file: wf, args: [name] }).result).status).toBe('completed');
      clock.advance(1000);
    }
    await engine.close();
  }

  function io() {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) }, out, err };
  }

  it('exits 0 when every recorded run replays, 3 at the first that does not', async () => {
    await recordRuns();
    const a = io();
    expect(await replayAllCommand({ workflow: wf, db }, a.io)).toBe(0);
    expect(a.out.join('')).toMatch(/OK: all 2 recorded runs of .*n\.star replay/);
    // The changed branch only matters to the run that took it: the first ('big', x = 2).
    writeFileSync(wf, BASE.replace('if x > 1:', 'if x > 5:'));
    const b = io();
    expect(await replayAllCommand({ workflow: wf, db }, b.io)).toBe(3);
    const text = b.out.join('');
    expect(text).toMatch(/MISMATCH run-\w+ \(w, \d+ events\)\n\s+\[call\] nondeterminism at step f#1 at n\.star:14/);
    expect(text).toMatch(/stopping at the first mismatch/);
    expect(text.match(/^(OK|MISMATCH) run-/gm)).toHaveLength(1);
  });

  it('filters by --since and reports usage errors with exit code 2', async () => {
    await recordRuns();
    const a = io();
    expect(await replayAllCommand({ workflow: wf, db, since: '2030-01-01' }, a.io)).toBe(0);
    expect(a.out.join('')).toMatch(/no recorded runs/);
    expect(await replayAllCommand({ workflow: wf, db, since: 'yesterday-ish' }, io().io)).toBe(2);
    expect(await replayAllCommand({ workflow: join(dir, 'nope.star'), db }, io().io)).toBe(2);
    expect(await replayAllCommand({ workflow: wf, db: join(dir, 'none.db') }, io().io)).toBe(2);
    expect(await replayAllCommand({ db }, io().io)).toBe(2);
    expect(parseSince('7d', 10 * 86_400_000)).toBe(3 * 86_400_000);
    expect(parseSince('2026-01-31T00:00:00Z')).toBe(Date.UTC(2026, 0, 31));
  });
});
