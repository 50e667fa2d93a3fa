/**
 * The run inspector's projections: steps (call order, fan-out groups, attempts, cache badges,
 * large values as references, data flow), the graph (fan-outs collapsed, edges from recorded
 * provenance), the root failure, source marks (task sites, waiting line, error line), the resume
 * plan and history paging, each over a history recorded by the engine.
 */
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { HistoryEvent, RunRecord } from '../../src/engine/index.js';
import { projectGraph } from '../../src/ui/server/projections/graph.js';
import { FAILURE_KINDS, kindsOf, pageHistory } from '../../src/ui/server/projections/history.js';
import { inlineOrRef, partOf } from '../../src/ui/server/projections/payload.js';
import { resumePlan } from '../../src/ui/server/projections/resume-plan.js';
import { rootFailure, runDetail, runRow } from '../../src/ui/server/projections/run.js';
import { projectSource, sourceMarks } from '../../src/ui/server/projections/source.js';
import { projectSteps } from '../../src/ui/server/projections/steps.js';
import { advanceCounters, NO_COUNTERS } from '../../src/engine/core/run-counters.js';
import { drive, testEngine } from '../engine/helpers.js';
import { FAILING, FANOUT, SLEEPER, registerAll } from './fixtures/workflows.js';

async function recorded(text: string, args: unknown[], name = 'w.star') {
  const t = testEngine();
  registerAll(t.engine);
  const h = t.engine.start({ source: { name, text }, args });
  await drive(t);
  await h.result;
  return { t, runId: h.runId, history: t.engine.history(h.runId) };
}

describe('steps', () => {
  it('lists task calls in call order with fan-out groups, attempts, data flow and large values as references', async () => {
    const { runId, history } = await recorded(FANOUT, [3]);
    const steps = projectSteps(history, { runId });
    expect(steps.map((s) => s.stepId)).toEqual(['get#1', 'train#1', 'train#2', 'train#3', 'big#1', 'pick#1']);
    const trains = steps.filter((s) => s.task === 'train');
    // One activation scheduled the three trains from one call site: one group.
    expect(new Set(trains.map((s) => s.group)).size).toBe(1);
    expect(trains[0]!.group).toBeDefined();
    expect(steps.find((s) => s.stepId === 'get#1')!.group).toBeUndefined();
    expect(trains.map((s) => s.deps)).toEqual([['get#1'], ['get#1'], ['get#1']]);
    expect(steps.find((s) => s.stepId === 'pick#1')!.deps).toEqual(['train#1', 'train#2', 'train#3']);
    const flaky = steps.find((s) => s.stepId === 'train#2')!;
    expect(flaky.state).toBe('completed');
    expect(flaky.maxAttempts).toBe(2);
    expect(flaky.attempts.map((a) => [a.attempt, a.outcome, a.executor])).toEqual([
      [1, 'failed', 'local'],
      [2, 'ok', 'local'],
    ]);
    expect(flaky.attempts[0]!.error).toMatchObject({ kind: 'task', message: 'diverged at lr 0.2' });
    expect(flaky.site).toMatchObject({ file: 'w.star', line: 10 });
    expect(flaky.input.args[1]).toBe(0.2);
    expect(flaky.output).toEqual({ model: 'm-0.2', n: 3 });
    const big = steps.find((s) => s.stepId === 'big#1')!;
    expect(big.output).toMatchObject({ $ref: expect.stringContaining(`api/runs/${runId}/payload?seq=`), bytes: 20_005 });
    const ref = big.output as { $ref: string; preview: string };
    expect(ref.preview.length).toBeLessThanOrEqual(200);
    // The reference names the event and part that hold the whole value.
    const seq = Number(/seq=(\d+)/.exec(ref.$ref)![1]);
    expect(partOf(history[seq - 1] as never, 'result')).toHaveLength(20_003); // 20,005 bytes as JSON
    expect(steps.find((s) => s.stepId === 'pick#1')!.cache).toMatchObject({ outcome: 'written', key: expect.any(String) });
    expect(steps.find((s) => s.stepId === 'get#1')!.cache).toEqual({ outcome: 'off' });
  });

  it('marks a cache hit with the key and the run that produced it', async () => {
    const t = testEngine();
    registerAll(t.engine);
    const first = t.engine.start({ source: { name: 'w.star', text: FANOUT }, args: [3] });
    await drive(t);
    await first.result;
    const second = t.engine.start({ source: { name: 'w.star', text: FANOUT }, args: [3] });
    await drive(t);
    await second.result;
    const steps = projectSteps(t.engine.history(second.runId), { runId: second.runId, cacheSource: (key) => t.engine.cache.lookup(key, t.clock.now())?.runId });
    const pick = steps.find((s) => s.stepId === 'pick#1')!;
    expect(pick.state).toBe('cached');
    expect(pick.source).toBe('cache');
    expect(pick.attempts).toEqual([]);
    expect(pick.cache).toMatchObject({ outcome: 'hit', sourceRunId: first.runId });
  });

  it('shows a durable sleep as a running timer step, and cancelled steps after a cancel', async () => {
    const t = testEngine();
    registerAll(t.engine);
    const h = t.engine.start({ source: { name: 's.star', text: SLEEPER }, args: [] });
    for (let i = 0; i < 20; i++) await tick();
    let steps = projectSteps(t.engine.history(h.runId), { runId: h.runId });
    expect(steps.map((s) => [s.stepId, s.kind, s.state])).toEqual([
      ['step#1', 'task', 'completed'],
      ['sleep#1', 'timer', 'running'],
    ]);
    t.engine.cancel(h.runId, 'enough');
    await drive(t);
    await h.result;
    steps = projectSteps(t.engine.history(h.runId), { runId: h.runId });
    expect(steps[1]!.state).toBe('cancelled');
  });
});

describe('graph', () => {
  it('collapses a fan-out into one node with its count and draws data-flow edges between nodes', async () => {
    const { runId, history } = await recorded(FANOUT, [3]);
    const g = projectGraph(projectSteps(history, { runId }));
    const group = g.nodes.find((n) => n.count === 3)!;
    expect(group).toMatchObject({ label: 'train ×3', state: 'completed', steps: ['train#1', 'train#2', 'train#3'] });
    expect(g.nodes.map((n) => n.id)).toEqual(['get#1', group.id, 'big#1', 'pick#1']);
    expect(g.edges).toEqual([
      { from: 'get#1', to: group.id },
      { from: group.id, to: 'pick#1' },
    ]);
  });
});

describe('run header', () => {
  it('puts the root failure up front: the step, its attempts, message, stack and call site', async () => {
    const { runId, history } = await recorded(FAILING, [7]);
    const f = rootFailure(history)!;
    expect(f).toMatchObject({ kind: 'task', task: 'explode', stepId: 'explode#1', attempt: 2, site: { file: 'w.star', line: 8 } });
    expect(f.message).toContain('exploded on 7');
    expect(f.traceback).toContain('exploded on 7');
    const rec: RunRecord = { runId, workflow: 'main', file: 'w.star', status: 'failed', startedAt: history[0]!.at, endedAt: history.at(-1)!.at, lastSeq: history.length };
    const counters = advanceCounters(NO_COUNTERS, history);
    const d = runDetail(rec, history, { counters, dbArg: '/tmp/x.db' });
    expect(d).toMatchObject({ status: 'failed', progress: { done: 2, total: 2 }, cacheHits: 0, firstError: { task: 'explode' }, inputs: { args: [7], kwargs: {} } });
    expect(d.failure).toEqual(f);
    expect(d.cli.resume).toBe(`larkflow resume ${runId} --db /tmp/x.db`);
    expect(d.cli.rerun).toBe(`larkflow run w.star --workflow main --input '[7]' --db /tmp/x.db`);
    expect(runRow(rec, history[0] as never, counters).durationMs).toBe(rec.endedAt! - rec.startedAt);
  });

  it('says where a running run waits', async () => {
    const t = testEngine();
    registerAll(t.engine);
    const h = t.engine.start({ source: { name: 's.star', text: SLEEPER }, args: [] });
    for (let i = 0; i < 20; i++) await tick();
    const history = t.engine.history(h.runId);
    const rec: RunRecord = { runId: h.runId, workflow: 'main', file: 's.star', status: 'running', startedAt: 0, lastSeq: history.length };
    const d = runDetail(rec, history, { counters: advanceCounters(NO_COUNTERS, history), dbArg: '' });
    expect(d.waitingAt).toEqual([expect.objectContaining({ file: 's.star', line: 7 })]);
    expect(d.failure).toBeUndefined();
    t.engine.cancel(h.runId);
    await drive(t);
  });
});

describe('a blocked run', () => {
  it('puts the nondeterminism up front and marks its line instead of the waiting one', async () => {
    const t = testEngine();
    registerAll(t.engine);
    const h = t.engine.start({ source: { name: 's.star', text: SLEEPER }, args: [] });
    for (let i = 0; i < 20; i++) await tick();
    const recordedHistory = t.engine.history(h.runId);
    const history: HistoryEvent[] = [
      ...recordedHistory,
      { kind: 'NondeterminismDetected', seq: recordedHistory.length + 1, at: 1, message: 'the script calls step(2) where its history has sleep', stepId: 'sleep#1', expected: 'sleep(3600s)', actual: 'step(2)', callSite: { file: 's.star', line: 7, column: 5 } },
    ];
    const f = rootFailure(history)!;
    expect(f).toMatchObject({ kind: 'nondeterminism', stepId: 'sleep#1', site: { file: 's.star', line: 7 } });
    expect(f.traceback).toBe('expected: sleep(3600s)\nactual:   step(2)');
    const marks = sourceMarks(history, projectSteps(history, { runId: h.runId }));
    expect(marks.filter((m) => m.kind !== 'task')).toEqual([expect.objectContaining({ kind: 'error', line: 7, stepId: 'sleep#1' })]);
    t.engine.cancel(h.runId);
    await drive(t);
  });
});

describe('source marks', () => {
  it('colours task call sites by state (a fan-out is one mark) and marks the error line', async () => {
    const { runId, history } = await recorded(FAILING, [1]);
    const steps = projectSteps(history, { runId });
    const marks = sourceMarks(history, steps);
    expect(marks).toEqual([
      expect.objectContaining({ line: 7, kind: 'task', state: 'completed', stepId: 'prep#1' }),
      expect.objectContaining({ line: 8, kind: 'task', state: 'failed', stepId: 'explode#1' }),
      expect.objectContaining({ line: 8, kind: 'error', message: expect.stringContaining('exploded on 1') }),
    ]);
    const fan = await recorded(FANOUT, [2]);
    const fanMarks = sourceMarks(fan.history, projectSteps(fan.history, { runId: fan.runId }));
    expect(fanMarks.filter((m) => m.line === 10)).toEqual([expect.objectContaining({ kind: 'task', state: 'completed', message: 'train ×3: 3 completed' })]);
  });

  it('marks the line a running workflow waits at, and carries the stored script', async () => {
    const t = testEngine();
    registerAll(t.engine);
    const h = t.engine.start({ source: { name: 's.star', text: SLEEPER }, args: [] });
    for (let i = 0; i < 20; i++) await tick();
    const history = t.engine.history(h.runId);
    const started = history[0] as Extract<HistoryEvent, { kind: 'RunStarted' }>;
    const src = projectSource(history, projectSteps(history, { runId: h.runId }), t.engine.store.getScript(started.scriptDigest));
    expect(src.entry).toBe('s.star');
    expect(src.files[0]!.text).toBe(SLEEPER);
    expect(src.marks.filter((m) => m.kind === 'waiting')).toEqual([expect.objectContaining({ line: 7 })]);
    t.engine.cancel(h.runId);
    await drive(t);
  });
});

describe('resume plan and history pages', () => {
  it('reuses the completed steps before the chosen one and runs the rest again', async () => {
    const { runId, history } = await recorded(FAILING, [1]);
    expect(resumePlan(runId, history, undefined, '')).toEqual({ fromStep: 'explode#1', reused: ['prep#1'], rerun: ['explode#1'], cli: `larkflow resume ${runId}` });
    expect(resumePlan(runId, history, 'prep', 'db.sqlite')).toMatchObject({ fromStep: 'prep#1', reused: [], rerun: ['prep#1', 'explode#1'], cli: `larkflow resume ${runId} --from prep#1 --db db.sqlite` });
    expect(() => resumePlan(runId, history, 'nope#1', '')).toThrow(/no step nope#1/);
  });

  it('pages by seq with kind filters, failures only and text search', async () => {
    const { history } = await recorded(FAILING, [1]);
    const p1 = pageHistory(history, history.length, { after: 0, limit: 3 });
    expect(p1.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(p1.next).toBe(3);
    const p2 = pageHistory(history, history.length, { after: 3, limit: 1000 });
    expect(p2.events[0]!.seq).toBe(4);
    expect(p2.next).toBeUndefined();
    const failures = pageHistory(history, history.length, { after: 0, limit: 100, kinds: kindsOf(undefined, true)! });
    expect(failures.events.map((e) => e.kind)).toEqual(['AttemptFailed', 'AttemptFailed', 'TaskFailed', 'RunFailed']);
    expect(failures.events.every((e) => FAILURE_KINDS.includes(e.kind))).toBe(true);
    expect(pageHistory(history, history.length, { after: 0, limit: 100, q: 'EXPLODED ON' }).events.length).toBeGreaterThan(0);
    expect(kindsOf(['TaskFailed', 'TaskScheduled'], true)).toEqual(['TaskFailed']);
  });

  it('keeps small values inline and makes references of large ones and blobs', () => {
    expect(inlineOrRef({ a: 1 }, () => 'r')).toEqual({ a: 1 });
    expect(inlineOrRef('<script>', () => 'r')).toBe('<script>');
    expect(inlineOrRef({ $blob: 'a'.repeat(64), size: 123456, uri: 'file:///b' }, () => 'r')).toMatchObject({ $ref: 'r', bytes: 123456 });
    expect(inlineOrRef(Array.from({ length: 5000 }, (_, i) => i), () => 'r')).toMatchObject({ $ref: 'r' });
  });
});
