/**
 * The SQLite store under the faults issue 9 found: many processes opening a fresh file at once, a
 * damaged event row, a database copied without its WAL, an online backup.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore, StoreError } from '../../src/engine/index.js';

const dir = mkdtempSync(join(tmpdir(), 'larkflow-store-faults-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const STORE = resolve('dist/engine/store/index.js');
const first = (runId: string) =>
  ({ kind: 'RunStarted', at: 1, runId, workflow: 'w', file: 'w.star', scriptDigest: 'd', args: [], kwargs: {}, env: {}, seed: 's', attempt: 1 }) as const;

/** Runs `node -e code args...`; resolves with the exit code and stderr. */
function node(code: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', code, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (c) => res({ code: c, stderr }));
  });
}

describe('SQLite store faults (uses dist/: npm test builds first)', () => {
  it('regression: 48 processes opening one fresh database at once (FULL sync) all succeed (no SQLITE_BUSY)', async () => {
    for (let round = 0; round < 2; round++) {
      const path = join(dir, `fresh-${round}.db`);
      const code = `const m = await import(${JSON.stringify(STORE)}); const s = m.openSqliteStore(process.argv[1], { synchronous: 'FULL' }); s.createRun({ kind: 'RunStarted', at: 1, runId: 'r' + process.pid, workflow: 'w', file: 'w.star', scriptDigest: 'd', args: [], kwargs: {}, env: {}, seed: 's', attempt: 1 }); s.close();`;
      const results = await Promise.all(Array.from({ length: 48 }, () => node(code, [path])));
      const failed = results.filter((r) => r.code !== 0);
      expect(failed.map((f) => f.stderr.split('\n').find((l) => l.includes('Error')) ?? f.stderr)).toEqual([]);
      const store = openSqliteStore(path);
      expect(store.listRuns()).toHaveLength(48);
      store.close();
    }
  }, 120_000);

  it('regression: a damaged event row names the database, run and event, and what to do', () => {
    const path = join(dir, 'damaged.db');
    const store = openSqliteStore(path);
    store.createRun(first('r1'));
    store.append('r1', 1, [{ kind: 'ProgressReported', at: 2, message: 'ok' }]);
    store.close();
    const raw = new Database(path);
    raw.prepare("UPDATE events SET body = '{\"kind\": \"Progr' WHERE run_id = 'r1' AND seq = 2").run();
    raw.close();
    const again = openSqliteStore(path);
    let err: unknown;
    try {
      again.history('r1');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(new RegExp(`^event 2 of run r1 in database ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is damaged \\(.*\\); .*restore the database from a backup`));
    again.close();
  });

  it('regression: after close the database file alone holds the history (the WAL is checkpointed)', () => {
    const path = join(dir, 'copy.db');
    const store = openSqliteStore(path);
    store.createRun(first('r1'));
    for (let i = 0; i < 50; i++) store.append('r1', i + 1, [{ kind: 'ProgressReported', at: 2, message: `p${i}` }]);
    store.close();
    const copy = join(dir, 'copied-alone.db');
    copyFileSync(path, copy); // without copy.db-wal
    expect(existsSync(`${copy}-wal`)).toBe(false);
    const opened = openSqliteStore(copy);
    expect(opened.history('r1')).toHaveLength(51);
    opened.close();
  });

  it('backup() writes a complete database while the store stays open and in use', async () => {
    const path = join(dir, 'live.db');
    const store = openSqliteStore(path);
    store.createRun(first('r1'));
    for (let i = 0; i < 20; i++) store.append('r1', i + 1, [{ kind: 'ProgressReported', at: 2, message: `p${i}` }]);
    const target = join(dir, 'backup.db');
    await store.backup(target);
    store.append('r1', 21, [{ kind: 'ProgressReported', at: 2, message: 'after' }]);
    const copy = openSqliteStore(target);
    expect(copy.history('r1')).toHaveLength(21);
    copy.close();
    await expect(store.backup(join(dir, 'no-such-dir', 'x.db'))).rejects.toThrow(/cannot back up to .*no-such-dir/);
    store.close();
  });
});
