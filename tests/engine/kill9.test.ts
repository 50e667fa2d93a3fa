/**
 * Crash recovery with a real kill -9: a child process runs a workflow on a SQLite file and is killed
 * at a random moment; a new process recovers the run. The result equals an uninterrupted run, and
 * no step whose completion was committed before the kill runs again. (Uses dist/: `npm test` builds
 * first.)
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/engine/index.js';

const child = join(import.meta.dirname, 'fixtures', 'crash-child.mjs');
const dir = mkdtempSync(join(tmpdir(), 'larkflow-kill9-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runChild(db: string, log: string, mode: string, runId: string): { result: { status: string; result: unknown } } {
  const p = spawnSync(process.execPath, [child, db, log, mode, runId], { encoding: 'utf8', timeout: 60_000 });
  if (p.status !== 0) throw new Error(`child failed: ${p.stderr}`);
  return { result: JSON.parse(p.stdout.trim().split('\n').pop()!) };
}

async function killedRun(db: string, log: string, runId: string, afterMs: number): Promise<void> {
  const p = spawn(process.execPath, [child, db, log, 'start', runId], { stdio: 'ignore' });
  const exited = new Promise((r) => p.once('exit', r));
  await new Promise((r) => setTimeout(r, afterMs));
  p.kill('SIGKILL');
  await exited;
}

describe('kill -9 (uses dist/: npm test builds first)', () => {
  const want = (() => {
    const db = join(dir, 'ref.db');
    return runChild(db, join(dir, 'ref.log'), 'start', 'ref').result;
  })();

  it('the uninterrupted reference run completes', () => {
    expect(want.status).toBe('completed');
  });

  for (const afterMs of [120, 250, 400, 600, 900]) {
    it(`recovers a run killed after ${afterMs} ms`, async () => {
      const db = join(dir, `k${afterMs}.db`);
      const log = join(dir, `k${afterMs}.log`);
      await killedRun(db, log, 'r', afterMs);
      // What was committed before the kill:
      const store = openSqliteStore(db);
      const before = new Set(store.history('r').filter((e) => e.kind === 'TaskCompleted').map((e) => (e as { stepId: string }).stepId));
      const rec = store.getRun('r');
      store.close();
      // Killed before the run was created: nothing was committed, so starting it is the recovery.
      const got = rec === undefined ? runChild(db, log, 'start', 'r').result : rec.status === 'completed' ? want : runChild(db, log, 'recover', 'r').result;
      expect(got.status).toBe('completed');
      expect(got.result).toEqual(want.result);
      const after = readFileSync(log, 'utf8').split('\n').filter((l) => l.endsWith(' recover')).map((l) => l.split(' ')[0]!);
      for (const s of after) expect(before.has(s)).toBe(false);
    });
  }
});
