/**
 * Remote tasks through the shared task queue, end to end with the real CLI (dist/bundle: `npm test`
 * builds first): a run of `larkflow run --executor k8s --db postgres://…` whose process dies, two
 * `larkflow worker --task-queue remote` processes, and the fake kube-apiserver running Jobs as local
 * processes. The workers take the run, queue its attempts as task rows, run them as Jobs from
 * their task pollers while the run is parked, and when the worker watching a Job is killed, the
 * other takes the task over and re-attaches: exactly one Job per attempt.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/engine/store/postgres/index.js';
import { FakeKubernetes } from '../fakes/kubernetes.mjs';
import { startPostgres, type PgServer } from '../helpers/postgres.js';
import { pgRows as sql, until as untilWithin } from '../helpers/shared-db.js';

/** CLI processes start slowly on a loaded machine: wait longer than in-process tests. */
const until = <T,>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> => untilWithin(what, fn, 40_000, 50);

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/bundle/larkflow.mjs');
const IMAGE = 'ml-tasks:1';

let dir: string;
let wf: string;
let fake: FakeKubernetes;
let env: NodeJS.ProcessEnv;
let server: PgServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lf-cli-tq-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  // The Jobs' runner calls `larkflow task-run`.
  writeFileSync(join(bin, 'larkflow'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(bin, 'larkflow'), 0o755);
  const image = join(dir, 'image');
  mkdirSync(image);
  wf = join(dir, 'wf');
  mkdirSync(wf);
  writeFileSync(join(wf, 'tasks.mjs'), 'export async function wait(ms) { await new Promise((r) => setTimeout(r, ms)); return ms; }\nexport function score(x) { return x * 10; }\n');
  writeFileSync(join(wf, 'flow.star'), 'wait = task("wait")\nscore = task("score")\n\n@workflow()\ndef main(ms = 10):\n    w = wait(ms)\n    return [w, score(1), score(2)]\n');
  fake = new FakeKubernetes({ images: { [IMAGE]: { cwd: image, env: { PATH: `${bin}:${process.env.PATH ?? ''}` } } }, conditionLagMs: 5 });
  await fake.start();
  const kubeconfig = join(dir, 'kubeconfig.yaml');
  writeFileSync(kubeconfig, fake.kubeConfigYaml('default'));
  env = { ...process.env, KUBECONFIG: kubeconfig };
  server = await startPostgres();
}, 60_000);

afterAll(async () => {
  await fake?.close();
  await server?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function larkflow(args: string[], extraEnv: Record<string, string> = {}) {
  const p = spawn(process.execPath, [CLI, ...args], { cwd: wf, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; out: string; err: string }>((r) => p.on('exit', (code) => r({ code, out, err })));
  return { p, done, out: () => out, err: () => err };
}



describe('larkflow worker --task-queue remote (PostgreSQL, fake Kubernetes; uses dist/)', () => {
  it('queues remote attempts, parks the run while its Job runs, and re-attaches when the watching worker dies', async () => {
    const url = await server.createDatabase('clitq');
    const migrate = await larkflow(['db', 'migrate', '--db', url]).done;
    expect(migrate.code, migrate.err).toBe(0);
    const before = { ...fake.jobsCreated() };
    // A run whose own process dies at once (it may have submitted the first Job: the workers re-attach to it).
    const first = larkflow(['run', 'flow.star', '--db', url, '--tasks', 'tasks.mjs', '--executor', 'k8s', '--image', IMAGE, '--file-sync', 'ms=3000'], { LARKFLOW_LEASE_MS: '1000' });
    const runId = await until('the run id', () => /(run-[0-9a-f]{12})/.exec(first.err())?.[1]);
    const store = await openPostgresStore(url);
    try {
      await until('the run in the database', async () => (await store.getRun(runId)) !== undefined);
      first.p.kill('SIGKILL');
      await first.done;
      const workerArgs = ['worker', '--db', url, '--tasks', 'tasks.mjs', '--poll-ms', '100', '--lease-ms', '1500', '--task-queue', 'remote'];
      const a = larkflow(workerArgs);
      const b = larkflow(workerArgs);
      try {
        // The slow task's Job runs, watched by one worker's task poller; the run itself is parked.
        const [task] = await until('the wait task to be running with its Job recorded', async () => {
          const rows = await sql<{ owner: string }>(url, "SELECT owner FROM tasks WHERE step_key LIKE 'wait%' AND external_ref IS NOT NULL AND status = 'running'");
          return rows.length === 1 ? rows : undefined;
        }).catch(async (e: Error) => {
          throw new Error(`${e.message}\nworker a: ${a.err()}\nworker b: ${b.err()}\nhistory: ${(await store.history(runId)).map((x) => x.kind).join(' ')}\ntasks: ${JSON.stringify(await sql(url, 'SELECT step_key, status, owner, external_ref FROM tasks'))}`);
        });
        await until('the run to be parked', async () => (await store.leaseOf(runId))?.owner === null);
        // Kill the worker that watches the Job.
        const pidOf = (w: ReturnType<typeof larkflow>) => w.p.pid!;
        const watcher = [a, b].find((w) => task!.owner.split('/')[1] === String(pidOf(w)))!;
        expect(watcher).toBeDefined();
        watcher.p.kill('SIGKILL');
        await watcher.done;
        const rec = await until('the run to end', async () => {
          const r = await store.getRun(runId);
          return r && r.status !== 'running' ? r : undefined;
        });
        expect(rec.status).toBe('completed');
        const h = await store.history(runId);
        expect(h[h.length - 1]).toMatchObject({ kind: 'RunCompleted', result: [3000, 10, 20] });
        // Every attempt went through the queue as a k8s task, each ran as exactly one Job.
        const done = await sql<{ step_key: string; executor: string; outcome: string; epoch: string }>(url, 'SELECT step_key, executor, outcome, epoch FROM task_history ORDER BY step_key');
        expect(done.map((d) => [d.executor, d.outcome])).toEqual([
          ['k8s', 'succeeded'],
          ['k8s', 'succeeded'],
          ['k8s', 'succeeded'],
        ]);
        // The wait task changed hands: claimed, requeued when its watcher died, claimed again.
        expect(Number(done.find((d) => d.step_key.startsWith('wait'))!.epoch)).toBeGreaterThanOrEqual(3);
        const created = Object.entries(fake.jobsCreated()).filter(([name]) => !(name in before));
        expect(created.map(([, n]) => n)).toEqual([1, 1, 1]);
        expect(await sql(url, 'SELECT 1 FROM tasks')).toHaveLength(0);
      } finally {
        for (const w of [a, b]) if (w.p.exitCode === null && w.p.signalCode === null) w.p.kill('SIGTERM');
        await Promise.all([a.done, b.done]);
      }
    } finally {
      await store.close();
    }
  }, 120_000);
});
