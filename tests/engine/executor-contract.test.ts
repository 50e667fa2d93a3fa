/**
 * The executor contract suite for the SubprocessAdapter (temporary state directories), and what is
 * particular to it: jobs that outlive a kill -9 of the engine that started them, a crashed claimer,
 * reused pids, the exact environment, log cursors and tails, cleanup.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { AdapterError, submissionIdOf, type AttemptRef, type ExecutionHandle, type LaunchSpec } from '../../src/engine/executors/contract.js';
import { SubprocessAdapter, type SubprocessJobRecord } from '../../src/engine/executors/subprocess/index.js';
import { executorContract, waitPhase, waitTerminal } from './executor-contract.js';

const root = mkdtempSync(join(tmpdir(), 'larkflow-subprocess-'));
const stateDirs: string[] = [];
afterAll(async () => {
  for (const d of stateDirs) await killJobs(d);
  rmSync(root, { recursive: true, force: true });
});

function newStateDir(): string {
  const d = mkdtempSync(join(root, 'state-'));
  stateDirs.push(d);
  return d;
}

function nodeSpec(code: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): LaunchSpec {
  return {
    task: 'contract-task',
    command: [process.execPath, '-e', code],
    env: opts.env ?? {},
    resources: {},
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  };
}

interface Ident {
  pid: number;
  startTime?: string;
}

function readIdent(path: string): Ident | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Ident;
  } catch {
    return undefined;
  }
}

/** True iff the process runs (not a zombie) with the recorded start time. */
function alive(p: Ident): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return f[0] !== 'Z' && (p.startTime === undefined || f[19] === p.startTime);
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** SIGKILLs the task group and the supervisor of a job directory, and waits until both are gone. */
async function killJob(dir: string): Promise<void> {
  const task = readIdent(join(dir, 'task.json'));
  const sup = readIdent(join(dir, 'supervisor.json'));
  if (sup !== undefined && alive(sup)) process.kill(sup.pid, 'SIGKILL');
  if (task !== undefined && alive(task)) {
    try {
      process.kill(-task.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await until(() => (sup === undefined || !alive(sup)) && (task === undefined || !alive(task)), 3000, `the processes of ${dir} to stop`);
}

/** Stops every process of every job under a state directory. */
async function killJobs(stateDir: string): Promise<void> {
  if (!existsSync(stateDir)) return;
  for (const name of readdirSync(stateDir)) if (!name.startsWith('.')) await killJob(join(stateDir, name));
}

function spawnCount(stateDir: string, submissionId: string): number {
  const p = join(stateDir, submissionId, 'spawns');
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter((l) => l !== '').length : 0;
}

executorContract({
  name: 'subprocess',
  async make() {
    const stateDir = newStateDir();
    const adapter = new SubprocessAdapter({ stateDir, killGraceMs: 300 });
    return {
      adapter,
      spec: nodeSpec,
      forget: (h: ExecutionHandle) => killJob(adapter.jobDirOf(h.submissionId)),
      started: async (id: string) => spawnCount(stateDir, id),
      async close() {
        adapter.close();
        await killJobs(stateDir);
      },
    };
  },
});

const ref = (attempt = 1): AttemptRef => ({ runId: `run-${randomUUID()}`, stepId: 'step-1', attempt });

describe('SubprocessAdapter', () => {
  it('a job outlives a kill -9 of the process that submitted it, and a new adapter follows it to the end', async () => {
    const stateDir = newStateDir();
    const work = mkdtempSync(join(root, 'kill9-'));
    const driver = join(work, 'driver.mjs');
    const adapterPath = resolve(import.meta.dirname, '../../src/engine/executors/subprocess/index.ts');
    await build({
      stdin: {
        contents: `
          import { SubprocessAdapter } from ${JSON.stringify(adapterPath)};
          const [stateDir, ref, out] = process.argv.slice(2);
          const adapter = new SubprocessAdapter({ stateDir });
          const code = "setTimeout(() => require('fs').appendFileSync(process.env.JOB_OUT, 'ran\\\\n'), 1500)";
          const h = await adapter.submit({ task: 'survivor', command: [process.execPath, '-e', code], env: { JOB_OUT: out }, resources: {} }, JSON.parse(ref));
          process.stdout.write(JSON.stringify(h) + '\\n');
          setInterval(() => {}, 1000);
        `,
        resolveDir: work,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: driver,
      logLevel: 'silent',
    });
    const r = ref();
    const out = join(work, 'ran.txt');
    // The child leads its own process group, and the kill -9 goes to the whole group: the job must
    // not be in it (as when a terminal's Ctrl-C or a service manager stops the engine's group).
    const child = spawn(process.execPath, [driver, stateDir, JSON.stringify(r), out], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    try {
      await until(() => stdout.includes('\n') || child.exitCode !== null, 10_000, 'the child to submit');
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
      await exited;
    }
    expect(stderr).toBe('');
    const submitted = JSON.parse(stdout.trim()) as ExecutionHandle;

    const adapter = new SubprocessAdapter({ stateDir });
    const h = await adapter.lookup(r);
    expect(h).toEqual(submitted);
    expect((await adapter.status(h!)).phase).toMatch(/^(PENDING|RUNNING)$/);
    await waitPhase(adapter, h!, (p) => p === 'RUNNING', 2000);
    expect(existsSync(out)).toBe(false);
    expect((await waitTerminal(adapter, h!, 8000)).phase).toBe('SUCCEEDED');
    expect(readFileSync(out, 'utf8')).toBe('ran\n');
    expect(spawnCount(stateDir, h!.submissionId)).toBe(1);
    // Submitting the attempt again adopts the finished job.
    const again = await adapter.submit({ task: 'survivor', command: [process.execPath, '-e', '0'], env: {}, resources: {} }, r);
    expect(again).toEqual(h);
    expect(spawnCount(stateDir, h!.submissionId)).toBe(1);
    expect(readFileSync(out, 'utf8')).toBe('ran\n');
  });

  it('records the job on disk as documented', async () => {
    const stateDir = newStateDir();
    const adapter = new SubprocessAdapter({ stateDir });
    const r = ref();
    const h = await adapter.submit(nodeSpec('console.log("x")'), r);
    expect(h.submissionId).toBe(submissionIdOf(r, 'contract-task'));
    await waitTerminal(adapter, h);
    const dir = join(stateDir, h.submissionId);
    const job = JSON.parse(readFileSync(join(dir, 'job.json'), 'utf8')) as SubprocessJobRecord;
    expect(job.ref).toEqual(r);
    expect(String(job.pid)).toBe(h.backendId);
    expect(job.startTime).toBe(h.backendUid);
    expect(job.startTime).toMatch(/^\d+$/);
    expect(job.command).toEqual(nodeSpec('console.log("x")').command);
    expect(JSON.parse(readFileSync(join(dir, 'exit.json'), 'utf8'))).toMatchObject({ code: 0, signal: null });
    expect(readFileSync(join(dir, 'log'), 'utf8')).toBe('x\n');
  });

  it('a task gets exactly spec.env, plus PATH and HOME from the engine unless spec.env sets them', async () => {
    const adapter = new SubprocessAdapter({ stateDir: newStateDir() });
    const code = 'console.log(JSON.stringify(process.env))';
    const h1 = await adapter.submit(nodeSpec(code, { env: { ONLY_THIS: '1' } }), ref());
    expect((await waitTerminal(adapter, h1)).phase).toBe('SUCCEEDED');
    const env1 = JSON.parse((await adapter.logs(h1)).text) as Record<string, string>;
    const want: Record<string, string> = { ONLY_THIS: '1' };
    for (const k of ['PATH', 'HOME']) if (process.env[k] !== undefined) want[k] = process.env[k]!;
    expect(env1).toEqual(want);
    const h2 = await adapter.submit(nodeSpec(code, { env: { PATH: '/nowhere' } }), ref());
    expect((await waitTerminal(adapter, h2)).phase).toBe('SUCCEEDED');
    expect((JSON.parse((await adapter.logs(h2)).text) as Record<string, string>).PATH).toBe('/nowhere');
  });

  it('logs: a byte cursor follows a growing log; tailLines keeps the last lines', async () => {
    const adapter = new SubprocessAdapter({ stateDir: newStateDir() });
    const code = 'console.log("one"); setTimeout(() => { for (let i = 2; i <= 6; i++) console.log("line " + i + " é"); }, 400)';
    const h = await adapter.submit(nodeSpec(code), ref());
    let first = await adapter.logs(h);
    for (let i = 0; i < 100 && first.text === ''; i++) {
      await new Promise((r) => setTimeout(r, 20));
      first = await adapter.logs(h);
    }
    expect(first.text).toBe('one\n');
    expect(first.nextCursor).toBe('4');
    await waitTerminal(adapter, h);
    const rest = await adapter.logs(h, { cursor: first.nextCursor! });
    expect(rest.text).toBe(['line 2 é', 'line 3 é', 'line 4 é', 'line 5 é', 'line 6 é', ''].join('\n'));
    expect(await adapter.logs(h, { cursor: rest.nextCursor! })).toMatchObject({ text: '', nextCursor: rest.nextCursor, truncated: false });
    const tail = await adapter.logs(h, { tailLines: 2 });
    expect(tail.text).toBe('line 5 é\nline 6 é\n');
    expect(tail.truncated).toBe(true);
    await expect(adapter.logs(h, { cursor: 'x' })).rejects.toMatchObject({ category: 'invalid' });
  });

  it('a command that cannot start is FAILED with reason StartError', async () => {
    const adapter = new SubprocessAdapter({ stateDir: newStateDir() });
    const h = await adapter.submit({ task: 't', command: ['/no/such/program'], env: {}, resources: {} }, ref());
    const s = await waitTerminal(adapter, h);
    expect(s).toMatchObject({ phase: 'FAILED', reason: 'StartError' });
    await expect(adapter.submit({ task: 't', command: [], env: {}, resources: {} }, ref())).rejects.toBeInstanceOf(AdapterError);
  });

  it('another adapter on the same state directory adopts the job instead of starting one', async () => {
    const stateDir = newStateDir();
    const a = new SubprocessAdapter({ stateDir });
    const b = new SubprocessAdapter({ stateDir });
    const r = ref();
    const spec = nodeSpec('setTimeout(() => {}, 300)');
    const [h1, h2] = await Promise.all([a.submit(spec, r), b.submit(spec, r)]);
    expect(h2).toEqual(h1);
    expect((await waitTerminal(b, h1)).phase).toBe('SUCCEEDED');
    expect(spawnCount(stateDir, h1.submissionId)).toBe(1);
  });

  it('a claim left by a submitter that died before starting the job is recovered by the next submit', async () => {
    const stateDir = newStateDir();
    const adapter = new SubprocessAdapter({ stateDir, claimWaitMs: 200 });
    const r = ref();
    const spec = nodeSpec('console.log("recovered")');
    const id = submissionIdOf(r, spec.task);
    mkdirSync(join(stateDir, id), { recursive: true }); // the claim, and nothing more
    expect(await adapter.lookup(r)).toBeNull();
    const h = await adapter.submit(spec, r);
    expect((await waitTerminal(adapter, h)).phase).toBe('SUCCEEDED');
    expect((await adapter.logs(h)).text).toBe('recovered\n');
    expect(spawnCount(stateDir, id)).toBe(1);
    expect(await adapter.lookup(r)).toEqual(h);
  });

  it('lookup with the task name as a hint finds a job whose index entry is missing', async () => {
    const stateDir = newStateDir();
    const adapter = new SubprocessAdapter({ stateDir, claimWaitMs: 100 });
    const r = ref();
    const h = await adapter.submit(nodeSpec('0'), r);
    await waitTerminal(adapter, h);
    rmSync(join(stateDir, '.index'), { recursive: true });
    expect(await adapter.lookup(r)).toBeNull();
    expect(await adapter.lookup(r, { task: 'contract-task' })).toEqual(h);
    expect(await adapter.lookup(r)).toEqual(h); // the entry is back
    expect(await adapter.lookup({ ...r, attempt: 2 }, { task: 'contract-task' })).toBeNull();
  });

  it('a pid whose start time is not the recorded one is not our supervisor: LOST', async () => {
    const stateDir = newStateDir();
    const adapter = new SubprocessAdapter({ stateDir, killGraceMs: 200 });
    const h = await adapter.submit(nodeSpec('setInterval(() => {}, 1000)'), ref());
    await waitPhase(adapter, h, (p) => p === 'RUNNING');
    const jobPath = join(stateDir, h.submissionId, 'job.json');
    const job = JSON.parse(readFileSync(jobPath, 'utf8')) as SubprocessJobRecord;
    writeFileSync(jobPath, JSON.stringify({ ...job, startTime: '1' }));
    const forged: ExecutionHandle = { ...h, backendUid: '1' };
    expect((await adapter.status(forged)).phase).toBe('LOST');
    // The real handle no longer matches the record either.
    expect((await adapter.status(h)).phase).toBe('LOST');
    writeFileSync(jobPath, JSON.stringify(job));
    expect((await adapter.status(h)).phase).toBe('RUNNING');
    expect(await adapter.cancel(h)).toBe('requested');
    expect((await waitTerminal(adapter, h)).phase).toBe('CANCELLED');
  });

  it('cleanup removes a finished job; the job is then LOST to status and unknown to lookup', async () => {
    const stateDir = newStateDir();
    const adapter = new SubprocessAdapter({ stateDir, killGraceMs: 200 });
    const r = ref();
    const running = await adapter.submit(nodeSpec('setInterval(() => {}, 1000)'), r);
    await expect(adapter.cleanup(running)).rejects.toMatchObject({ category: 'invalid' });
    await adapter.cancel(running);
    expect((await waitTerminal(adapter, running)).phase).toBe('CANCELLED');
    await adapter.cleanup(running);
    await adapter.cleanup(running); // idempotent
    expect(existsSync(join(stateDir, running.submissionId))).toBe(false);
    expect((await adapter.status(running)).phase).toBe('LOST');
    expect(await adapter.lookup(r)).toBeNull();
    expect(await adapter.cancel(running)).toBe('not-found');
    await expect(adapter.logs(running)).rejects.toMatchObject({ category: 'not-found' });
  });

  it('a job whose directory was removed while it ran is LOST', async () => {
    const stateDir = newStateDir();
    const adapter = new SubprocessAdapter({ stateDir });
    const h = await adapter.submit(nodeSpec('setInterval(() => {}, 1000)'), ref());
    await waitPhase(adapter, h, (p) => p === 'RUNNING');
    const dir = join(stateDir, h.submissionId);
    await killJob(dir);
    rmSync(dir, { recursive: true, force: true });
    expect((await adapter.status(h)).phase).toBe('LOST');
  });

  it('a task that ignores SIGTERM is killed after the grace period', async () => {
    const adapter = new SubprocessAdapter({ stateDir: newStateDir(), killGraceMs: 200 });
    const h = await adapter.submit(nodeSpec('process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'), ref());
    await waitPhase(adapter, h, (p) => p === 'RUNNING');
    await new Promise((r) => setTimeout(r, 200)); // let the task install its handler
    const t0 = Date.now();
    expect(await adapter.cancel(h)).toBe('requested');
    const s = await waitTerminal(adapter, h);
    expect(s).toMatchObject({ phase: 'CANCELLED', rawState: 'signal SIGKILL' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
  });
});
