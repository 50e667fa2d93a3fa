/**
 * Issue 10, part 2: the Go worker's modules, so that Uniflow's Starlark runs unchanged. Load paths
 * relative to the loading file (`..`, `//`), `os.environ` at a module's top level, the dataclass's
 * truth and str, a plain def run as a workflow, and `random.seed(n)` giving Go's math/rand sequence.
 */
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { MemoryEventStore, VirtualClock, collectScript, fromFiles, type HistoryEvent, type Json, type RunStarted } from '../../src/engine/index.js';
import { WorkflowMachine, loadWorkflowModule, resolveLoad, workflowEntry } from '../../src/engine/workflow/machine.js';
import { workflowPredeclared } from '../../src/engine/workflow/surface.js';
import { replayHistory } from '../../src/engine/workflow/replay.js';
import { drive, testEngine } from './helpers.js';
import { GoRand } from '../../src/util/prng.js';
import { runWorkflowTests } from '../../src/testing/workflow-tests.js';

const DIR = join(import.meta.dirname, '..', 'testdata', 'workflows');

describe('random.seed(n) is Go math/rand', () => {
  it('GoRand gives the sequences Go 1.19 gives for rand.NewSource(seed)', () => {
    const r = new GoRand(1234n);
    expect(Array.from({ length: 10 }, () => Number(r.intn(101n)))).toEqual([18, 31, 73, 47, 36, 2, 46, 57, 50, 46]);
    const f = new GoRand(42n);
    expect([f.float64(), f.float64(), f.intn(1000n), f.int63n(1n << 40n)]).toEqual([0.3730283610466326, 0.06600049679351791, 668n, 267174660361n]);
    const n = new GoRand(-7n);
    expect([n.intn(6n), n.intn(2147483647n), n.intn(8n)]).toEqual([1n, 1649542928n, 2n]);
    expect(new GoRand(0n).intn(100n)).toBe(74n);
  });

  it('random_uuid_test.star passes (seeded randint and random match the Go worker)', async () => {
    const r = await runWorkflowTests([join(DIR, 'random_uuid_test.star')], { out: () => {} });
    expect(r.failed, r.report).toBe(0);
    expect(r.results.map((x) => x.test)).toContain('test_seeded_sequences_are_the_go_workers');
  });
});

describe('dataclass as the Go worker has it', () => {
  it('dataclass_test.star passes (bool(dataclass()) is True, str shows __codec__)', async () => {
    const r = await runWorkflowTests([join(DIR, 'dataclass_test.star')], { out: () => {} });
    expect(r.failed, r.report).toBe(0);
    expect(r.results.map((x) => x.test)).toEqual(expect.arrayContaining(['test_dataclass_is_true_even_without_fields', 'test_dataclass_str_shows_the_codec']));
  });
});

const APP = join(DIR, 'loadpaths', 'app');

describe('load() paths as the Go worker resolves them', () => {
  it('resolveLoad: relative to the loading file with .. kept above the root, // from the root, / as is', () => {
    expect(resolveLoad('main.star', '../lib/math.star')).toBe('../lib/math.star');
    expect(resolveLoad('../lib/a.star', 'b.star')).toBe('../lib/b.star');
    expect(resolveLoad('../lib/a.star', '../../x/b.star')).toBe('../../x/b.star');
    expect(resolveLoad('steps/more.star', '../../lib/math.star')).toBe('../lib/math.star');
    expect(resolveLoad('steps/more.star', '//lib/m.star')).toBe('lib/m.star');
    expect(resolveLoad('../far/away.star', '//lib/m.star')).toBe('lib/m.star');
    expect(resolveLoad('a/b.star', './c/../d.star')).toBe('a/d.star');
    expect(resolveLoad('main.star', '/abs/m.star')).toBe('/abs/m.star');
    expect(() => resolveLoad('main.star', '//../lib/m.star', '/w')).toThrow('cannot load //../lib/m.star: ../lib/m.star is outside the workflow root /w');
  });

  it('load_paths_test.star passes (.., // and a path through a subdirectory)', async () => {
    const r = await runWorkflowTests([join(DIR, 'load_paths_test.star')], { out: () => {} });
    expect(r.failed, r.report).toBe(0);
    expect(r.passed).toBe(1);
  });

  it('collects files above the workflow root into the bundle under ../ keys', () => {
    const s = collectScript(join(APP, 'main.star'));
    expect(s.bundle.main).toBe('main.star');
    expect(s.files.map((f) => f.path)).toEqual(['main.star', '../lib/math.star', 'steps/more.star']);
  });

  it('a // load that leaves the root is a usage error naming the path and the root', () => {
    expect(() => collectScript(join(APP, 'escape.star'))).toThrow(`escape.star: cannot load //../lib/math.star: ../lib/math.star is outside the workflow root ${APP}`);
    const bundle = fromFiles('escape.star', new Map([['escape.star', 'load("//../lib/math.star", "double")\n']])).bundle;
    expect(() => loadWorkflowModule(bundle, workflowPredeclared({ current: null }))).toThrow('../lib/math.star is outside the workflow root (the directory of escape.star)');
  });

  it('runs a workflow that loads from a parent directory, and recovers it from the stored script alone', async () => {
    const store = new MemoryEventStore();
    // The first engine's close() must not close the store the second one goes on with.
    const kept = new Proxy(store, {
      get: (t, p) => (p === 'close' ? () => {} : typeof Reflect.get(t, p) === 'function' ? (Reflect.get(t, p) as (...a: unknown[]) => unknown).bind(t) : Reflect.get(t, p)),
    });
    const clock1 = new VirtualClock();
    const t1 = testEngine(kept, clock1);
    const first = t1.engine.start({ file: join(APP, 'main.star'), args: [20], runId: 'r1' });
    first.result.catch(() => {});
    for (let k = 0; k < 20; k++) await tick(); // the run now waits on its sleep; the process stops
    await t1.engine.close();
    expect(store.getRun('r1')!.status).toBe('running');
    const started = store.history('r1')[0] as RunStarted;
    expect(store.getScript(started.scriptDigest)!.map((f) => f.path)).toContain('../lib/math.star');
    const t2 = testEngine(store, new VirtualClock(clock1.now()));
    expect(t2.engine.recover()).toEqual(['r1']);
    await drive(t2);
    expect(await t2.engine.result('r1')).toMatchObject({ status: 'completed', result: 41 });
    expect(t2.engine.replay('r1')).toMatchObject({ ok: true });
  });
});

describe('os.environ at a module top level', () => {
  const source = (osFrom: string): string =>
    [
      osFrom,
      'MODE = os.environ.get("MODE", "none")',
      'SEEN = sorted(os.environ.keys())',
      'ENV = os.environ  # frozen with the globals; the run goes on with its own mutable copy',
      '',
      '@workflow()',
      'def main():',
      '    os.environ["LATER"] = "x"',
      '    return [MODE, SEEN, os.environ["LATER"], "LATER" in ENV, ENV.get("MODE")]',
    ].join('\n');

  for (const [label, osFrom] of [
    ['the @plugin os', 'load("@plugin", "os")'],
    ['the predeclared os', ''],
  ] as const) {
    it(`${label}: the run's environment during a run, an empty dict when only listing workflows`, async () => {
      const t = testEngine();
      const text = source(osFrom);
      expect(t.engine.workflowNames(fromFiles('env.star', new Map([['env.star', text]])).bundle)).toEqual(['main']);
      const h = t.engine.start({ source: { name: 'env.star', text }, env: { MODE: 'fast', OTHER: '1' } });
      await drive(t);
      expect(await h.result).toMatchObject({ status: 'completed', result: ['fast', ['MODE', 'OTHER'], 'x', false, 'fast'] });
      expect(t.engine.replay(h.runId)).toMatchObject({ ok: true });
      const h2 = t.engine.start({ source: { name: 'env.star', text } });
      await drive(t);
      expect(await h2.result).toMatchObject({ status: 'completed', result: ['none', [], 'x', false, null] });
    });
  }

  it('a file loaded outside a run shows the HostRef env (what the run will start with) at its top level', () => {
    for (const osFrom of ['load("@plugin", "os")', '']) {
      const bundle = fromFiles('env.star', new Map([['env.star', `${osFrom}\nMODE = os.environ["MODE"]\n`]])).bundle;
      const env = { MODE: 'fast' };
      expect(loadWorkflowModule(bundle, workflowPredeclared({ current: null, env }), { current: null, env }).get('MODE')).toBe('fast');
      expect(() => loadWorkflowModule(bundle, workflowPredeclared({ current: null }))).toThrow(/MODE/);
    }
  });

  it('environ_top_level_test.star passes', async () => {
    const r = await runWorkflowTests([join(DIR, 'environ_top_level_test.star')], { env: { LARKFLOW_TEST_ENV: 'yes' }, out: () => {} });
    expect(r.failed, r.report).toBe(0);
    expect(r.passed).toBe(1);
  });
});

describe('a plain top-level def runs as a workflow when named', () => {
  const text = [
    'def helper(x):',
    '    return x * 10',
    '',
    'def main(x, y = 2):',
    '    time.sleep(1)',
    '    return helper(x) + y',
    '',
    '@workflow()',
    'def parent():',
    '    return main(4, y = 3)',
    '',
    'LIMIT = 3',
  ].join('\n');
  const bundle = fromFiles('plain.star', new Map([['plain.star', text]])).bundle;
  const started = (workflow: string, args: Json[] = []): RunStarted => ({
    kind: 'RunStarted', seq: 1, at: 1000, runId: 'r', workflow, file: 'plain.star', scriptDigest: 'd', args, kwargs: {}, env: {}, seed: 's', attempt: 1,
  });

  it('the machine runs `main` (no decorator) with its arguments', () => {
    const m = new WorkflowMachine(bundle);
    const first = m.activate(started('main', [5]));
    expect(first).toMatchObject([{ kind: 'StartTimer', stepId: 'sleep#1', durationMs: 1000 }]);
    expect(m.activate({ kind: 'TimerFired', seq: 3, at: 2000, stepId: 'sleep#1' } as HistoryEvent)).toEqual([{ kind: 'CompleteRun', result: 52 }]);
  });

  it('a name that is not a function fails the run with a clear error', () => {
    const m = new WorkflowMachine(bundle);
    expect(m.activate(started('LIMIT'))).toMatchObject([{ kind: 'FailRun', error: { message: 'LIMIT in plain.star is a int, not a function to run as a workflow' } }]);
    const m2 = new WorkflowMachine(bundle);
    expect(m2.activate(started('nope'))).toMatchObject([{ kind: 'FailRun', error: { message: 'no workflow named nope in plain.star (workflows: parent)' } }]);
  });

  it('workflowEntry finds @workflow() functions and plain defs, nothing else', () => {
    const globals = loadWorkflowModule(bundle, workflowPredeclared({ current: null }));
    expect(workflowEntry(globals, 'parent')?.name).toBe('parent');
    expect(workflowEntry(globals, 'main')?.name).toBe('main');
    expect(workflowEntry(globals, 'LIMIT')).toBeUndefined();
    expect(workflowEntry(globals, 'time')).toBeUndefined();
  });

  it('replay of a plain-def run checks it as it checks a @workflow() run', () => {
    const history: HistoryEvent[] = [
      started('main', [1]),
      { kind: 'TimerStarted', seq: 2, at: 1000, stepId: 'sleep#1', durationMs: 1000, fireAt: 2000, callSite: { file: 'plain.star', line: 6, column: 15 } } as HistoryEvent,
      { kind: 'TimerFired', seq: 3, at: 2000, stepId: 'sleep#1' } as HistoryEvent,
      { kind: 'RunCompleted', seq: 4, at: 2000, result: 12 } as HistoryEvent,
    ];
    const ok = replayHistory(new WorkflowMachine(bundle), history);
    expect(ok.mismatch).toBeUndefined();
    const wrongResult = history.map((e) => (e.kind === 'RunCompleted' ? { ...e, result: 13 } : e));
    expect(replayHistory(new WorkflowMachine(bundle), wrongResult).mismatch).toBeDefined();
    const changed = history.map((e) => (e.kind === 'TimerStarted' ? { ...e, durationMs: 2000 } : e));
    expect(replayHistory(new WorkflowMachine(bundle), changed).mismatch?.message).toMatch(/nondeterminism at step sleep#1/);
  });
});
