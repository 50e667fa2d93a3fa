/**
 * `larkflow run FILE --executor k8s --image IMG` against the fake kube-apiserver, through the real
 * CLI (dist/bundle: `npm test` builds first), KUBECONFIG pointing at the fake: JS tasks of --tasks
 * run as Jobs with the Node runner, Python tasks with the Python runner; `kill -9` of the engine
 * while a Job runs, then `larkflow worker --until-idle` completes the run with exactly one Job per
 * attempt; `--file-sync` runs the workflow directory's code over the image's; `larkflow logs`.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeKubernetes } from '../fakes/kubernetes.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/bundle/larkflow.mjs');
const IMAGE = 'ml-tasks:1';

let dir: string;
let fake: FakeKubernetes;
let env: NodeJS.ProcessEnv;

/** The image's code: an OLD version of the workflow's tasks (file sync must replace it). */
function writeImage(): string {
  const image = join(dir, 'image');
  mkdirSync(image, { recursive: true });
  writeFileSync(join(image, 'tasks.mjs'), 'export function score(x) { return -1; }\nexport function wait(ms) { return -1; }\n');
  writeFileSync(join(image, 'pytasks.py'), 'def version():\n    return "image"\n');
  return image;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lf-remote-cli-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'larkflow'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(bin, 'larkflow'), 0o755);
  const wf = join(dir, 'wf');
  mkdirSync(wf);
  writeFileSync(join(wf, 'tasks.mjs'), 'export function score(x) { console.log("scoring", x); return x * 10; }\nexport async function wait(ms) { await new Promise((r) => setTimeout(r, ms)); console.log("waited", ms); return ms; }\n');
  writeFileSync(join(wf, 'pytasks.py'), 'def version():\n    print("python task running")\n    return "workflow-dir"\n');
  writeFileSync(
    join(wf, 'flow.star'),
    `
score = task("score")
wait = task("wait")
version = task("version", function = "pytasks:version", config = KubernetesTask(cpu = "250m", memory = "128Mi", runner = "python"))

@workflow()
def main(n = 2, ms = 10):
    w = wait(ms)
    return {"scores": [score(i) for i in range(n)], "waited": w, "version": version()}
`,
  );
  fake = new FakeKubernetes({
    images: { [IMAGE]: { cwd: writeImage(), env: { PATH: `${bin}:${process.env.PATH ?? ''}`, PYTHONPATH: join(ROOT, 'runners/python') } } },
    conditionLagMs: 5,
  });
  await fake.start();
  const kubeconfig = join(dir, 'kubeconfig.yaml');
  writeFileSync(kubeconfig, fake.kubeConfigYaml('default'));
  env = { ...process.env, KUBECONFIG: kubeconfig };
});

afterAll(async () => {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI as a child process (asynchronously: the fake server lives in this process). */
function larkflow(args: string[], cwd = join(dir, 'wf')): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolveRun) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, out, err });
    });
  });
}

describe('larkflow run --executor k8s (fake Kubernetes API; uses dist/)', () => {
  it('runs the tasks as Jobs: JS tasks with the Node runner, Python tasks with the Python runner', async () => {
    const db = join(dir, 'a.db');
    const r = await larkflow(['run', 'flow.star', '--tasks', 'tasks.mjs', '--executor', 'k8s', '--image', IMAGE, '--db', db, '--file-sync', 'n=3']);
    expect(r.err).not.toMatch(/at .*\.js:\d+/);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ scores: [0, 10, 20], waited: 10, version: 'workflow-dir' });
    const runId = /run-[0-9a-z-]+/.exec(r.err)![0];
    const show = await larkflow(['show', runId, '--db', db]);
    expect(show.out).toMatch(/resources: cpu=250m memory=128Mi runner=python/);
    expect(show.out).toMatch(/job default\/version-/);
    const logs = await larkflow(['logs', runId, 'score#2', '--db', db]);
    expect(logs.code, logs.err).toBe(0);
    expect(logs.out).toContain('scoring 1');
    const pyLogs = await larkflow(['logs', runId, 'version', '--db', db]);
    expect(pyLogs.out).toContain('python task running');
  });

  it('without --file-sync the image\'s code runs', async () => {
    const db = join(dir, 'b.db');
    const r = await larkflow(['run', 'flow.star', '--tasks', 'tasks.mjs', '--executor', 'k8s', '--image', IMAGE, '--db', db, 'n=1']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ scores: [-1], waited: -1, version: 'image' });
  });

  it('kill -9 of the engine while a Job runs: the worker re-attaches, exactly one Job per attempt', async () => {
    const db = join(dir, 'c.db');
    const before = { ...fake.jobsCreated() };
    const child = spawn(process.execPath, [CLI, 'run', 'flow.star', '--tasks', 'tasks.mjs', '--executor', 'k8s', '--image', IMAGE, '--db', db, '--file-sync', 'n=1', 'ms=1500'], {
      cwd: join(dir, 'wf'),
      env,
      stdio: 'ignore',
    });
    // Kill it once the slow task's Job runs.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && child.exitCode === null && !fake.processes().some((p) => p.job.startsWith('wait-') && !p.exited && !Object.keys(before).includes(p.job))) {
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const w = await larkflow(['worker', '--until-idle', '--tasks', 'tasks.mjs', '--db', db]);
    expect(w.code, w.err).toBe(0);
    const runs = await larkflow(['runs', '--json', '--db', db]);
    const [run] = JSON.parse(runs.out) as { id: string; status: string }[];
    expect(run!.status).toBe('completed');
    const hist = await larkflow(['history', run!.id, '--json', '--db', db]);
    expect(hist.code, hist.err).toBe(0);
    const history = JSON.parse(hist.out) as { kind: string; result?: unknown }[];
    expect(history.at(-1)).toMatchObject({ kind: 'RunCompleted', result: { scores: [0], waited: 1500, version: 'workflow-dir' } });
    // Exactly one Job per attempt: three attempts, three Jobs, each created once.
    const created = Object.entries(fake.jobsCreated()).filter(([name]) => !(name in before));
    expect(created.map(([, n]) => n)).toEqual([1, 1, 1]);
    expect(history.filter((e) => e.kind === 'AttemptStarted')).toHaveLength(3);
  });

  it('explains a bad executor option', async () => {
    const r = await larkflow(['run', 'flow.star', '--executor', 'mesos', '--db', join(dir, 'd.db')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown executor.*k8s, subprocess/);
    const r2 = await larkflow(['run', 'flow.star', '--image', 'x', '--db', join(dir, 'd.db')]);
    expect(r2.code).toBe(2);
    expect(r2.err).toMatch(/--image configures remote tasks: give --executor k8s too/);
  });
});
