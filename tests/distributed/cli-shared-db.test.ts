/**
 * The command line on a shared database: `larkflow db migrate --db postgres://…`, `larkflow run
 * … --db URL` (the run is written there and driven here), `larkflow worker --db URL` in child
 * processes finishing runs another process left, SIGTERM stopping a worker gracefully, `larkflow
 * workers`, and a clear "not supported yet" from the commands that do not work there yet.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/engine/store/postgres/index.js';
import { cli, scratchDirs } from '../helpers/cli.js';
import { startPostgres, type PgServer } from '../helpers/postgres.js';

const scratch = scratchDirs('larkflow-clipg-');
const BIN = join(__dirname, '../../dist/bundle/larkflow.mjs');
let server: PgServer;
let url: string;

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase('clitest');
}, 60_000);

afterAll(async () => {
  await server?.destroy();
});

function larkflow(args: string[], cwd: string, env: Record<string, string> = {}) {
  const p = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; out: string; err: string }>((r) => p.on('exit', (code) => r({ code, out, err })));
  return { p, done, out: () => out, err: () => err };
}

describe('larkflow on PostgreSQL', () => {
  it('says what to do on a database never migrated, then migrates it', async () => {
    const s = scratch();
    const wf = s.file('wf.star', '@workflow()\ndef main():\n    return 1\n');
    const before = await cli('run', wf, '--db', url);
    expect(before.code).not.toBe(0);
    expect(before.err).toMatch(/never migrated|larkflow db migrate/);
    expect(before.err).not.toMatch(/at .*\.js:\d+/);
    const m = await cli('db', 'migrate', '--db', url);
    expect(m.code).toBe(0);
    const again = await cli('db', 'migrate', '--db', url);
    expect(again.code).toBe(0);
  });

  it('runs a workflow end to end with the run recorded in the shared database', async () => {
    const s = scratch();
    const tasks = s.file('tasks.mjs', 'export function double(x) { return 2 * x; }\n');
    const wf = s.file('wf.star', 'double = task("double")\n@workflow()\ndef main(n):\n    return [double(i) for i in range(n)]\n');
    const r = await cli('run', wf, '--db', url, '--tasks', tasks, 'n=4');
    expect(r.err).not.toMatch(/at .*\.js:\d+/);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out.trim())).toEqual([0, 2, 4, 6]);
    const store = await openPostgresStore(url);
    try {
      const runs = await store.listRuns({ status: 'completed' });
      expect(runs.some((x) => x.workflow === 'main')).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('a worker in another process finishes a run whose process died; SIGTERM stops it gracefully; workers lists it', async () => {
    const s = scratch();
    const tasks = s.file('tasks.mjs', 'export async function slow(x) { await new Promise((r) => setTimeout(r, 200)); return x + 1; }\n');
    const wf = s.file('wf.star', 'slow = task("slow")\n@workflow()\ndef main():\n    a = slow(1)\n    b = slow(a)\n    return slow(b)\n');
    // A run started by a process that is killed in the middle.
    const first = larkflow(['run', wf, '--db', url, '--tasks', tasks], s.dir, { LARKFLOW_LEASE_MS: '1500' });
    const t0 = Date.now();
    while (!/run-[0-9a-f]{12}/.test(first.err()) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
    const firstId = /(run-[0-9a-f]{12})/.exec(first.err())![1]!;
    // Killed once its first task has started (the run is in the database by then, not only in memory).
    const probe = await openPostgresStore(url);
    try {
      while (!(await probe.history(firstId)).some((e) => e.kind === 'AttemptStarted') && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await probe.close();
    }
    first.p.kill('SIGKILL');
    await first.done;
    // A worker takes it over once its lease runs out.
    const w = larkflow(['worker', '--db', url, '--tasks', tasks, '--poll-ms', '100', '--lease-ms', '2000'], s.dir);
    const t1 = Date.now();
    while (!/completed 4/.test(w.out()) && Date.now() - t1 < 40_000) await new Promise((r) => setTimeout(r, 100));
    expect(w.out()).toMatch(/run-\S+ completed 4/);
    const listed = await cli('workers', '--db', url);
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(/pid \d+ on /);
    w.p.kill('SIGTERM');
    const end = await w.done;
    expect(end.code).toBe(0);
    expect(end.err).toMatch(/SIGTERM: finishing the runs in flight/);
  }, 90_000);

  it('signal and cancel reach runs held by a worker on another process, through their inboxes', async () => {
    const s = scratch();
    const tasks = s.file('tasks.mjs', "import { existsSync } from 'node:fs';\nexport async function wait_for(p) { while (!existsSync(p)) await new Promise((r) => setTimeout(r, 50)); return 'opened'; }\n");
    const wf = s.file('wf.star', 'wait_for = task("wait_for")\n@workflow()\ndef approve():\n    return signal.wait("go")\n@workflow()\ndef stuck(p):\n    return wait_for(p)\n');
    const store = await openPostgresStore(url);
    const w = larkflow(['worker', '--db', url, '--tasks', tasks, '--poll-ms', '100'], s.dir);
    try {
      const a = larkflow(['run', wf, '--workflow', 'approve', '--db', url, '--tasks', tasks], s.dir, { LARKFLOW_LEASE_MS: '1000' });
      const aId = await (async () => {
        const t = Date.now();
        for (;;) {
          const m = /(run-[0-9a-f]{12})/.exec(a.err());
          if (m) return m[1]!;
          if (Date.now() - t > 20_000) throw new Error('no run id');
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      // The run is in the database once its first activation is committed.
      const tA = Date.now();
      while ((await store.getRun(aId)) === undefined && Date.now() - tA < 20_000) await new Promise((r) => setTimeout(r, 50));
      const sent = await cli('signal', aId, 'go', '{"ok": true}', '--db', url, '--key', 'k1');
      expect(sent.code).toBe(0);
      expect(sent.out).toContain(`signal go sent to run ${aId}`);
      const again = await cli('signal', aId, 'go', '{"ok": true}', '--db', url, '--key', 'k1');
      expect(again.out).toContain('already sent');
      const ra = await Promise.race([a.done, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`run a did not end: ${a.err()} | worker: ${w.err()}`)), 20_000))]);
      expect(ra.code).toBe(0);
      expect(JSON.parse(ra.out.trim())).toEqual({ ok: true });

      // A run whose process died, taken over by the worker, then cancelled from here.
      const b = larkflow(['run', wf, '--workflow', 'stuck', `p=${join(s.dir, 'never')}`, '--db', url, '--tasks', tasks], s.dir, { LARKFLOW_LEASE_MS: '1000' });
      const t0 = Date.now();
      while (!/run-[0-9a-f]{12}/.test(b.err()) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
      const bId = /(run-[0-9a-f]{12})/.exec(b.err())![1]!;
      // Killed once its task has started (the run is in the database by then, not only in memory).
      const tStarted = Date.now();
      while (!(await store.history(bId)).some((e) => e.kind === 'AttemptStarted') && Date.now() - tStarted < 20_000) await new Promise((r) => setTimeout(r, 50));
      b.p.kill('SIGKILL');
      await b.done;
      const t1 = Date.now();
      while ((await store.leaseOf(bId))?.owner?.includes(`/${w.p.pid}/`) !== true && Date.now() - t1 < 20_000) await new Promise((r) => setTimeout(r, 100));
      const c = await cli('cancel', bId, '--db', url, '--reason', 'no longer needed');
      expect(c.err).not.toMatch(/Error|not supported/);
      expect(c.code).toBe(0);
      expect(c.err).toContain('cancellation of run');
      const t2 = Date.now();
      while ((await store.getRun(bId))?.status === 'running' && Date.now() - t2 < 20_000) await new Promise((r) => setTimeout(r, 100));
      const h = await store.history(bId);
      expect(h.at(-1)).toMatchObject({ kind: 'RunCancelled', reason: 'no longer needed' });
      const t3 = Date.now();
      while (!w.out().includes(`${bId} cancelled`) && Date.now() - t3 < 5_000) await new Promise((r) => setTimeout(r, 50));
      expect(w.out()).toContain(`${bId} cancelled: no longer needed`);
      const late = await cli('cancel', bId, '--db', url);
      expect(late.code).toBe(1);
      expect(late.err).toMatch(/already ended \(cancelled\)/);
    } finally {
      w.p.kill('SIGTERM');
      await w.done;
      await store.close();
    }
  }, 90_000);

  it('commands that do not work on a shared database yet say so', async () => {
    const r = await cli('ui', '--db', url);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/not supported yet: .*PostgreSQL/);
    const all = await cli('replay', '--all', '--workflow', 'wf.star', '--db', url);
    expect(all.code).not.toBe(0);
    expect(all.err).toMatch(/not supported yet: larkflow replay --all on a PostgreSQL database/);
    const w = await cli('workers');
    expect(w.code).not.toBe(0);
    expect(w.err).toMatch(/--db postgres/);
  });
});
