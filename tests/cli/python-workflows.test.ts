/**
 * Uniflow Python workflow files through the CLI (dist/bundle: `npm test` builds first): the example
 * examples/python-pipeline/iris_workflow.py runs as it is (workflow compiled to Starlark, tasks as
 * real Python), is cached, resumed and replayed like a .star workflow; kill -9 then a worker
 * finishes it; a changed .py is reported at its own line; compile errors name file:line:col with a
 * hint; `python3 my_workflow.py` hands the file to larkflow through the shim.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/bundle/larkflow.mjs');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lf-py-cli-'));
  copyFileSync(join(ROOT, 'examples/python-pipeline/iris_workflow.py'), join(dir, 'iris_workflow.py'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const p = spawn(cmd, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', (code) => {
      clearTimeout(t);
      res({ code, out, err });
    });
  });
}
const larkflow = (...args: string[]) => run(process.execPath, [CLI, ...args]);
const runIdOf = (err: string): string => /run-[0-9a-f]+/.exec(err)![0];

describe('Uniflow .py workflows (uses dist/)', () => {
  it('runs as it is, with the __main__ defaults, and is cached, resumed and replayed like .star', async () => {
    const r = await larkflow('run', 'iris_workflow.py', '--db', 'a.db');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ chosen: 'full', report: ['baseline: held-out accuracy 0.4444', 'full: held-out accuracy 0.9556'], train_rows: 105 });
    const runId = runIdOf(r.err);
    const hist = JSON.parse((await larkflow('history', runId, '--json', '--db', 'a.db')).out) as { kind: string; env?: Record<string, string>; kwargs?: unknown; executor?: string; callSite?: { file: string; line: number } }[];
    // The __main__ block's inputs and environment; tasks on the local Python executor, at the .py lines.
    expect(hist[0]).toMatchObject({ kind: 'RunStarted', kwargs: { seed: 7, min_accuracy: 0.9 }, env: { DATASET: 'synthetic-iris' } });
    const scheduled = hist.filter((e) => e.kind === 'TaskScheduled');
    expect(scheduled[0]).toMatchObject({ executor: 'python', callSite: { file: 'iris_workflow.py', line: 94 } });
    // Cached (load_data has cache_enabled=True), and inputs on the command line win.
    const again = await larkflow('run', 'iris_workflow.py', '--db', 'a.db', 'min_accuracy=0.99');
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/no candidate reached 0\.99/);
    const h2 = JSON.parse((await larkflow('history', runIdOf(again.err), '--json', '--db', 'a.db')).out) as { kind: string; source?: string }[];
    expect(h2.find((e) => e.kind === 'TaskCompleted')).toMatchObject({ source: 'cache' });
    expect((await larkflow('replay', runId, '--db', 'a.db')).code).toBe(0);
    const resumed = await larkflow('resume', runId, '--from', 'evaluate#2', '--db', 'a.db');
    expect(resumed.code, resumed.err).toBe(0);
    expect(JSON.parse(resumed.out).chosen).toBe('full');
  });

  it('a changed .py is reported at its own line by replay', async () => {
    const r = await larkflow('run', 'iris_workflow.py', '--db', 'b.db');
    const runId = runIdOf(r.err);
    const changed = readFileSync(join(dir, 'iris_workflow.py'), 'utf8').replace('split = load_data(seed)', 'split = load_data(seed + 1)');
    writeFileSync(join(dir, 'changed.py'), changed);
    const rep = await larkflow('replay', runId, '--workflow', 'changed.py', '--db', 'b.db');
    expect(rep.code).toBe(3);
    expect(rep.out + rep.err).toMatch(/changed\.py:94/);
  });

  it('compile errors name file:line:col, show the line and give a hint', async () => {
    writeFileSync(join(dir, 'bad.py'), 'import michelangelo.uniflow.core as uniflow\n\n@uniflow.workflow()\ndef wf(x):\n    if x is None:\n        return 0\n    return x\n');
    const r = await larkflow('run', 'bad.py', '--db', 'c.db');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/bad\.py:5:\d+: .*is/);
    expect(r.err).toMatch(/if x is None:/);
    expect(r.err).toMatch(/==/);
    expect(r.err).not.toMatch(/at .*\.js:\d+/);
  });

  it('kill -9 of the engine mid-run, then a worker finishes it', async () => {
    // A directory of its own: the jobs folder beside the database shows when a task is in flight.
    const { mkdirSync } = await import('node:fs');
    const k = join(dir, 'k');
    mkdirSync(k);
    copyFileSync(join(dir, 'iris_workflow.py'), join(k, 'iris_workflow.py'));
    const child = spawn(process.execPath, [CLI, 'run', 'iris_workflow.py', '--db', 'd.db'], { cwd: k, stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    // Kill it once a task has been submitted (the run is in flight), before it can finish.
    const { existsSync, readdirSync } = await import('node:fs');
    const jobs = join(k, 'python-jobs');
    for (let i = 0; i < 500 && !(existsSync(jobs) && readdirSync(jobs).some((d) => d.startsWith('train-model'))); i++) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    await exited;
    expect(child.signalCode).toBe('SIGKILL');
    const w = await larkflow('worker', '--until-idle', '--db', 'k/d.db');
    expect(w.code, w.err).toBe(0);
    const runs = JSON.parse((await larkflow('runs', '--json', '--db', 'k/d.db')).out) as { status: string }[];
    expect(runs[0]!.status).toBe('completed');
  });

  it("the overview's quick example: RayTask tasks need a cluster, --local runs them here", async () => {
    writeFileSync(
      join(dir, 'quick.py'),
      [
        'import michelangelo.uniflow.core as uniflow',
        'from michelangelo.uniflow.plugins.ray import RayTask',
        '@uniflow.task(config=RayTask(head_cpu=1, head_memory="4Gi"))',
        'def prepare_data(data_path: str):',
        '    """Load and split data for training."""',
        '    return [data_path + ":train", data_path + ":val"]',
        '@uniflow.task(config=RayTask(head_cpu=2, worker_instances=4))',
        'def train_model(train_data, params: dict):',
        '    """Train model with distributed compute."""',
        '    return {"trained_on": train_data, "lr": params["lr"]}',
        '@uniflow.workflow()',
        'def training_pipeline(data_path: str):',
        '    train_data, val_data = prepare_data(data_path)',
        '    result = train_model(train_data, params={"lr": 0.01})',
        '    return result',
        '',
      ].join('\n'),
    );
    const noKube = { HOME: dir, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' };
    const remote = await run(process.execPath, [CLI, 'run', 'quick.py', 'data_path=s3://d', '--db', 'q.db'], noKube);
    expect(remote.code).toBe(2);
    expect(remote.err).toMatch(/executor kuberay needs a Kubernetes cluster.*--local/);
    const local = await run(process.execPath, [CLI, 'run', 'quick.py', 'data_path=s3://d', '--db', 'q.db', '--local'], noKube);
    expect(local.code, local.err).toBe(0);
    expect(JSON.parse(local.out)).toEqual({ trained_on: 's3://d:train', lr: 0.01 });
  });

  it('larkflow test --workflows runs the test_* functions of a .py file', async () => {
    writeFileSync(
      join(dir, 'flow_test.py'),
      [
        'import michelangelo.uniflow.core as uniflow',
        '',
        '@uniflow.task()',
        'def double(x: int) -> int:',
        '    return 2 * x',
        '',
        '@uniflow.workflow()',
        'def main(n: int):',
        '    return double(n) + 1',
        '',
        'def test_main():',
        '    if main(20) != 41:',
        '        fail("expected 41")',
        '',
        'def test_wrong():',
        '    if main(1) != 0:',
        '        fail("main(1) is %s" % main(1))',
        '',
      ].join('\n'),
    );
    const r = await larkflow('test', '--workflows', 'flow_test.py');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/ok {3}flow_test\.py::test_main/);
    expect(r.out).toMatch(/FAIL flow_test\.py::test_wrong[\s\S]*flow_test\.py:17:\d+: in test_wrong[\s\S]*main\(1\) is 3/);
    expect(r.out).toMatch(/^1 passed, 1 failed$/m);
  });

  it('python3 my_workflow.py runs it with larkflow (the shim on PYTHONPATH)', async () => {
    const path = (await larkflow('python-path')).out.trim();
    const r = await run('python3', ['iris_workflow.py', '--db', 'e.db'], { PYTHONPATH: path, LARKFLOW_CLI: `${process.execPath} ${CLI}` });
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).chosen).toBe('full');
  });
});
