/**
 * Tests of the engine commands of the CLI (run, runs, show, history, replay, resume, cancel,
 * worker): `main(argv, io)` in process with captured output, a temporary database, workflow files and
 * tasks module; plus one end-to-end run of the built `dist/cli/main.js` through a symlink (as npm's
 * bin link calls it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli, scratchDirs } from '../helpers/cli.js';
import { Engine, type HistoryEvent } from '../../src/engine/index.js';

const fresh = scratchDirs('larkflow-cli-');

/** A JS stack frame of larkflow itself (or any .js file): must never reach the user. */
const JS_FRAME = /at .*\.js:\d+/;
const OWN_FRAME = /at .*(function-executor|engine)\.(js|ts):\d+/;

const PIPELINE = `
prepare = task("prepare")
train = task("train")
evaluate = task("evaluate")

@workflow()
def pipeline(data_path, lr = 0.01):
    progress.report("preparing " + data_path)
    train_data, val_data = prepare(data_path)
    model = train(train_data, params = {"lr": lr})
    futures = [run(evaluate, model, m) for m in ["auc", "loss"]]
    return {"model": model, "metrics": [f.result() for f in futures]}
`;

const TASKS = `
export function prepare(p) { return [p + '/train', p + '/val']; }
export function train(d, kw) { return { path: d, lr: kw.params.lr }; }
export function evaluate(m, metric) { return metric === 'auc' ? 0.9 : 0.1; }
export function boom(x) { throw new Error('kaboom ' + x); }
export function note(m) { return 'noted ' + m; }
`;

const FAILING = `
boom = task("boom")

def helper(x):
    return boom(x)

@workflow()
def failing(x = 1):
    return helper(x)
`;

const EXPECTED = { model: { path: 'd/train', lr: 0.5 }, metrics: [0.9, 0.1] };

/** Runs the pipeline; returns the run id. */
async function runPipeline(t: ReturnType<typeof fresh>, tasks: string, wf: string): Promise<string> {
  const r = await cli('run', wf, 'data_path=d', 'lr=0.5', '--tasks', tasks, '--db', t.db);
  expect(r.code, r.err).toBe(0);
  return /^run (run-[0-9a-f]+) started/.exec(r.err)![1]!;
}

function runIdOf(err: string): string {
  const m = /^run (run-[0-9a-f]+) started/.exec(err);
  expect(m, err).not.toBeNull();
  return m![1]!;
}

describe('larkflow run', () => {
  it('prints the result as JSON on stdout and names the run id first on stderr', async () => {
    const t = fresh();
    const tasks = t.file('tasks.mjs', TASKS);
    const wf = t.file('pipe.star', PIPELINE);
    const r = await cli('run', wf, 'data_path=d', 'lr=0.5', '--tasks', tasks, '--db', t.db);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual(EXPECTED);
    const lines = r.err.split('\n');
    expect(lines[0]).toMatch(/^run run-[0-9a-f]+ started \(workflow pipeline\)$/);
    expect(r.err).toMatch(/prepare#1\s+scheduled/);
    expect(r.err).toMatch(/train#1\s+completed/);
    expect(r.err).toContain('progress: preparing d');
    expect(r.err).toMatch(/run run-[0-9a-f]+ completed/);

    // --input as an object (kwargs) and as an array (args)
    const a = await cli('run', wf, '--input', '{"data_path": "d", "lr": 0.5}', '--tasks', tasks, '--db', t.db);
    expect(a.code, a.err).toBe(0);
    expect(JSON.parse(a.out)).toEqual(EXPECTED);
    const b = await cli('run', wf, '--input', '["d", 0.5]', '--workflow', 'pipeline', '--tasks', tasks, '--db', t.db);
    expect(b.code, b.err).toBe(0);
    expect(JSON.parse(b.out)).toEqual(EXPECTED);
  });

  it('exits 1 for a failed run with the Starlark traceback and the task error, no JS stack', async () => {
    const t = fresh();
    const tasks = t.file('tasks.mjs', TASKS);
    const wf = t.file('fail.star', FAILING);
    const r = await cli('run', wf, '--tasks', tasks, '--db', t.db);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    runIdOf(r.err);
    expect(r.err).toContain('Traceback (most recent call last)');
    expect(r.err).toContain('fail.star:9');
    expect(r.err).toContain('in helper');
    expect(r.err).toContain('kaboom 1');
    expect(r.err).toMatch(/at boom \(.*tasks\.mjs:\d+/); // the user's frame is kept
    expect(r.err).not.toMatch(JS_FRAME);
    expect(r.err).not.toMatch(OWN_FRAME);
  });

  it('a missing task says how to provide it (exit 1)', async () => {
    const t = fresh();
    const wf = t.file('fail.star', FAILING);
    const r = await cli('run', wf, '--db', t.db);
    expect(r.code).toBe(1);
    expect(r.err).toContain('task boom has no implementation');
    expect(r.err).toContain('--tasks FILE');
  });

  it('usage errors exit 2 with a clear message', async () => {
    const t = fresh();
    const tasks = t.file('tasks.mjs', TASKS);
    const wf = t.file('pipe.star', PIPELINE);

    const bad = await cli('run', wf, '--input', '{data_path: 1', '--db', t.db);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^larkflow: --input is not valid JSON: /);

    const scalar = await cli('run', wf, '--input', '42', '--db', t.db);
    expect(scalar.code).toBe(2);
    expect(scalar.err).toContain('--input must be a JSON object');

    const pair = await cli('run', wf, 'nonsense', '--db', t.db);
    expect(pair.code).toBe(2);
    expect(pair.err).toContain('key=value');

    const unknown = await cli('run', wf, '--workflow', 'nope', '--tasks', tasks, '--db', t.db);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('no workflow named nope');
    expect(unknown.err).toContain('workflows: pipeline');

    const missing = await cli('run', join(t.dir, 'missing.star'), '--db', t.db);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('no such file');

    const noTasks = await cli('run', wf, '--tasks', join(t.dir, 'missing.mjs'), '--db', t.db);
    expect(noTasks.code).toBe(2);
    expect(noTasks.err).toContain('cannot read tasks file');

    const noRun = await cli('show', 'run-000000000000', '--db', t.db);
    expect(noRun.code).toBe(2);
    expect(noRun.err).toContain('no run run-000000000000');

    // none of them recorded a run
    const runs = await cli('runs', '--json', '--db', t.db);
    expect(JSON.parse(runs.out)).toEqual([]);
    for (const r of [bad, scalar, pair, unknown, missing, noTasks, noRun]) expect(r.err).not.toMatch(JS_FRAME);
  });

  it('a broken database file gives a clear message, not a stack', async () => {
    const t = fresh();
    const wf = t.file('pipe.star', PIPELINE);
    writeFileSync(t.db, 'this is not a database, just some garbage bytes '.repeat(200));
    for (const argv of [['run', wf], ['runs'], ['show', 'run-1'], ['worker', '--until-idle']]) {
      const r = await cli(...argv, '--db', t.db);
      expect([1, 2]).toContain(r.code);
      expect(r.err).toContain('is not a larkflow database');
      expect(r.err).toContain(t.db);
      expect(r.err).not.toMatch(JS_FRAME);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('inspecting runs', () => {
  it('runs, show and history, as text and JSON', async () => {
    const t = fresh();
    const tasks = t.file('tasks.mjs', TASKS);
    const ok = await runPipeline(t, tasks, t.file('pipe.star', PIPELINE));
    const failed = runIdOf((await cli('run', t.file('fail.star', FAILING), '--tasks', tasks, '--db', t.db)).err);

    const runs = await cli('runs', '--db', t.db);
    expect(runs.code).toBe(0);
    const [header, ...rows] = runs.out.trim().split('\n');
    expect(header).toMatch(/^ID\s+WORKFLOW\s+STATUS\s+START\s+END$/);
    expect(rows).toHaveLength(2);
    expect(rows.find((r) => r.startsWith(ok))).toMatch(/pipeline\s+completed\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+\d{4}-\d\d-\d\dT/);
    expect(rows.find((r) => r.startsWith(failed))).toMatch(/failing\s+failed/);

    const json = JSON.parse((await cli('runs', '--json', '--db', t.db)).out) as { id: string; workflow: string; status: string; start: string; end: string }[];
    expect(json.map((r) => r.id).sort()).toEqual([ok, failed].sort());
    const okRow = json.find((r) => r.id === ok)!;
    expect(okRow).toMatchObject({ workflow: 'pipeline', status: 'completed' });
    expect(new Date(okRow.start).toISOString()).toBe(okRow.start);
    expect(new Date(okRow.end).toISOString()).toBe(okRow.end);
    const onlyFailed = JSON.parse((await cli('runs', '--json', '--status', 'failed', '--db', t.db)).out) as { id: string }[];
    expect(onlyFailed.map((r) => r.id)).toEqual([failed]);
    expect((await cli('runs', '--status', 'weird', '--db', t.db)).code).toBe(2);

    const show = await cli('show', ok, '--db', t.db);
    expect(show.code).toBe(0);
    expect(show.out).toContain('status: completed');
    expect(show.out).toContain('"metrics":[0.9,0.1]');
    expect(show.out).toMatch(/prepare#1\s+completed\s+task prepare\s+\S+\s+at pipe\.star:9/);
    expect(show.out).toMatch(/evaluate#2\s+completed/);
    expect(show.out).toContain('inputs from: prepare#1 (arg 0)');
    expect(show.out).toMatch(/attempt 1\s+local/);
    expect(show.out).toContain('preparing d');
    // steps in scheduling order
    const order = ['prepare#1', 'train#1', 'evaluate#1', 'evaluate#2'].map((s) => show.out.indexOf(`  ${s} `));
    expect(order.every((v, i) => v > 0 && (i === 0 || v > order[i - 1]!))).toBe(true);

    const showFailed = await cli('show', failed, '--db', t.db);
    expect(showFailed.out).toContain('status: failed');
    expect(showFailed.out).toContain('kaboom 1');
    expect(showFailed.out).toContain('Traceback');
    expect(showFailed.out).not.toMatch(JS_FRAME);

    const history = await cli('history', ok, '--db', t.db);
    expect(history.code).toBe(0);
    const lines = history.out.trim().split('\n');
    expect(lines[0]).toMatch(/^\s*1\s+\d{4}-\d\d-\d\dT\S+Z\s+RunStarted\s+run=run-/);
    expect(history.out).toMatch(/TaskScheduled\s+step=train#1 task=train at=pipe\.star:10 .*inputsFrom=0<-prepare#1/);
    expect(lines[lines.length - 1]).toMatch(/RunCompleted\s+result=/);
    const events = JSON.parse((await cli('history', ok, '--json', '--db', t.db)).out) as HistoryEvent[];
    expect(events).toHaveLength(lines.length);
    expect(events[0]!.kind).toBe('RunStarted');
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  });
});

describe('replay and resume', () => {
  it('replay exits 0 when the script matches and 3 naming the step when it does not', async () => {
    const t = fresh();
    const tasks = t.file('tasks.mjs', TASKS);
    const id = await runPipeline(t, tasks, t.file('pipe.star', PIPELINE));

    const same = await cli('replay', id, '--db', t.db);
    expect(same.code, same.out + same.err).toBe(0);
    expect(same.out).toMatch(/^OK/);

    const changedArg = t.file('pipe-arg.star', PIPELINE.replace('params = {"lr": lr}', 'params = {"lr": lr * 2}'));
    const r1 = await cli('replay', id, '--workflow', changedArg, '--db', t.db);
    expect(r1.code).toBe(3);
    expect(r1.out).toContain('MISMATCH');
    expect(r1.out).toContain('train#1');
    expect(r1.out).toContain('pipe-arg.star:10');

    const renamed = t.file('pipe-renamed.star', PIPELINE.replace('train = task("train")', 'train = task("fit")'));
    const r2 = await cli('replay', id, '--workflow', renamed, '--db', t.db);
    expect(r2.code).toBe(3);
    expect(r2.out).toMatch(/train#1|fit#1/);
    expect(r2.out).toContain('fit');

    const missing = await cli('replay', id, '--workflow', join(t.dir, 'nope.star'), '--db', t.db);
    expect(missing.code).toBe(2);
  });

  it('resume --from STEP reuses the steps before it', async () => {
    const t = fresh();
    const tasks = t.file('tasks.mjs', TASKS);
    const old = await runPipeline(t, tasks, t.file('pipe.star', PIPELINE));

    const r = await cli('resume', old, '--from', 'train#1', '--tasks', tasks, '--db', t.db);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual(EXPECTED);
    const id = runIdOf(r.err);
    expect(id).not.toBe(old);
    expect(r.err.split('\n')[0]).toContain(`resumed from ${old}`);
    expect(r.err).toMatch(/prepare#1\s+completed\s+\(reused\)/);

    const show = await cli('show', id, '--db', t.db);
    expect(show.out).toContain(`resumed from: ${old} at step train#1`);
    expect(show.out).toMatch(/prepare#1\s+completed \(reused\)/);
    expect(show.out).not.toMatch(/train#1\s+completed \(reused\)/);
    const events = JSON.parse((await cli('history', id, '--json', '--db', t.db)).out) as HistoryEvent[];
    const done = events.filter((e) => e.kind === 'TaskCompleted') as (HistoryEvent & { kind: 'TaskCompleted' })[];
    expect(done.find((e) => e.stepId === 'prepare#1')!.source).toBe('reused');
    expect(done.find((e) => e.stepId === 'train#1')!.source).toBe('executed');

    // a task name stands for its first step; an unknown step is a usage error
    const byName = await cli('resume', old, '--from', 'evaluate', '--tasks', tasks, '--db', t.db);
    expect(byName.code, byName.err).toBe(0);
    const bad = await cli('resume', old, '--from', 'nope#3', '--tasks', tasks, '--db', t.db);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('has no step nope#3');
  });
});

/** Starts a run in process on its own engine, and waits until it is blocked on `until`. */
async function startInProcess(db: string, wf: string, tasks: Record<string, (...a: unknown[]) => unknown>, until: (e: HistoryEvent) => boolean): Promise<{ engine: Engine; runId: string }> {
  const engine = Engine.open({ db });
  engine.registerTasks(tasks);
  let seen!: () => void;
  const reached = new Promise<void>((r) => (seen = r));
  engine.subscribe('*', (e) => {
    if (until(e)) seen();
  });
  const { runId } = engine.start({ file: wf });
  await reached;
  return { engine, runId };
}

describe('cancel and worker', () => {
  it('cancel records the request for a run sleeping elsewhere; a worker finishes it as cancelled', async () => {
    const t = fresh();
    const wf = t.file(
      'sleepy.star',
      `
note = task("note")

@workflow()
def sleepy():
    atexit.register(note, "cleanup")
    time.sleep(3600)
    return "woke"
`,
    );
    const tasks = t.file('tasks.mjs', TASKS);
    const { engine, runId } = await startInProcess(t.db, wf, {}, (e) => e.kind === 'TimerStarted');

    const c = await cli('cancel', runId, '--db', t.db);
    expect(c.code, c.err).toBe(0);
    expect(c.err).toContain(`cancellation of run ${runId} requested`);
    expect(c.err).toContain('larkflow worker');
    expect((await cli('show', runId, '--db', t.db)).out).toContain('cancel requested');
    await engine.close(); // the process that ran it goes away

    const w = await cli('worker', '--until-idle', '--tasks', tasks, '--db', t.db);
    expect(w.code, w.err).toBe(0);
    expect(w.out).toContain(`${runId} cancelled`);
    const show = await cli('show', runId, '--db', t.db);
    expect(show.out).toContain('status: cancelled');
    const events = JSON.parse((await cli('history', runId, '--json', '--db', t.db)).out) as HistoryEvent[];
    expect(events.map((e) => e.kind)).toContain('CancelRequested');
    expect(events[events.length - 1]!.kind).toBe('RunCancelled');
    // the atexit cleanup ran
    expect(events.some((e) => e.kind === 'TaskCompleted' && e.stepId === 'note#1')).toBe(true);

    const again = await cli('cancel', runId, '--db', t.db);
    expect(again.code).toBe(1);
    expect(again.err).toContain('already ended (cancelled)');
  });

  it('worker --until-idle finishes an unfinished run', async () => {
    const t = fresh();
    const wf = t.file(
      'hang.star',
      `
fetch = task("fetch")
double = task("double")

@workflow()
def hanging():
    return double(fetch("x"))
`,
    );
    // A run whose task never resolves, then its process goes away.
    const { engine, runId } = await startInProcess(t.db, wf, { fetch: () => new Promise(() => {}), double: (x: unknown) => [x, x] }, (e) => e.kind === 'AttemptStarted');
    await engine.close();
    expect((await cli('show', runId, '--db', t.db)).out).toContain('status: running');

    const tasks = t.file('worker-tasks.mjs', `export const fetch = (x, ctx) => 'fetched ' + x;\nexport const double = (x) => [x, x];\n`);
    const w = await cli('worker', '--until-idle', '--tasks', tasks, '--db', t.db);
    expect(w.code, w.err).toBe(0);
    expect(w.err).toContain(`recovered 1 unfinished run: ${runId}`);
    expect(w.out.trim()).toBe(`${runId} completed (workflow hanging)`);
    const state = JSON.parse((await cli('show', runId, '--json', '--db', t.db)).out) as { status: string; result: unknown };
    expect(state.status).toBe('completed');
    expect(state.result).toEqual(['fetched x', 'fetched x']);

    const idle = await cli('worker', '--until-idle', '--db', t.db);
    expect(idle.code).toBe(0);
    expect(idle.err).toContain('no unfinished runs');
    expect(idle.out).toBe('');
  });
});

describe('the built CLI', () => {
  const dist = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

  it('runs a workflow end to end through a bin symlink, with the default database (uses dist/: npm test builds first)', () => {
    expect(existsSync(dist), 'dist/ is built by npm test (npm run build)').toBe(true);
    const t = fresh();
    const tasks = t.file('tasks.mjs', TASKS);
    const wf = t.file('pipe.star', PIPELINE);
    const bin = join(t.dir, 'lf-bin');
    symlinkSync(dist, bin);
    const r = spawnSync(process.execPath, [bin, 'run', wf, 'data_path=d', 'lr=0.5', '--tasks', tasks], { cwd: t.dir, encoding: 'utf8', timeout: 15_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(EXPECTED);
    expect(r.stderr.split('\n')[0]).toMatch(/^run run-[0-9a-f]+ started \(workflow pipeline\)$/);
    expect(existsSync(join(t.dir, '.larkflow', 'larkflow.db'))).toBe(true);

    // The npm bin (the bundled CLI, when built) through a symlink, as node_modules/.bin/larkflow is.
    const bundle = fileURLToPath(new URL('../../dist/bundle/larkflow.mjs', import.meta.url));
    const npmBin = join(t.dir, 'larkflow');
    symlinkSync(existsSync(bundle) ? bundle : dist, npmBin);
    const bad = spawnSync(process.execPath, [npmBin, 'run', wf, '--input', '{oops'], { cwd: t.dir, encoding: 'utf8', timeout: 15_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--input is not valid JSON');
    expect(bad.stderr).not.toMatch(JS_FRAME);
    const runs = spawnSync(process.execPath, [npmBin, 'runs', '--json'], { cwd: t.dir, encoding: 'utf8', timeout: 15_000 });
    expect(runs.status, runs.stderr).toBe(0);
    expect(JSON.parse(runs.stdout)).toHaveLength(1);
  });
});
