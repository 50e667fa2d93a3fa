/** `larkflow db backup FILE`: a consistent copy of the run database (SQLite online backup). */
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, scratchDirs } from '../helpers/cli.js';
import { SqliteEventStore } from '../../src/engine/index.js';

const fresh = scratchDirs('lf-backup-');

const WF = 'add = task("add")\n\n@workflow()\ndef main(x = 1):\n    return add(x, 2)\n';

describe('larkflow db backup', () => {
  it('copies the database, says where and how big, and refuses to overwrite without --force', async () => {
    const t = fresh();
    expect((await cli('run', t.file('wf.star', WF), '--tasks', t.file('t.mjs', 'export function add(a, b) { return a + b; }\n'), '--db', t.db)).code).toBe(0);
    const copy = join(t.dir, 'copy.db');
    const r = await cli('db', 'backup', copy, '--db', t.db);
    if (!('backup' in SqliteEventStore.prototype)) {
      // The store cannot copy itself yet: a clear error, not a crash.
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/not supported yet/);
      return;
    }
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`^backed up .*runs\\.db to .*copy\\.db \\(\\d+(\\.\\d)? (B|KiB|MiB)\\)\\n$`));
    expect(statSync(copy).size).toBeGreaterThan(0);
    // The copy is a database with the run in it.
    const runs = await cli('runs', '--json', '--db', copy);
    expect(runs.code, runs.err).toBe(0);
    expect(JSON.parse(runs.out)).toMatchObject([{ workflow: 'main', status: 'completed' }]);
    // No temporary file is left beside it.
    expect(readdirSync(t.dir).filter((f) => f.includes('.partial-'))).toEqual([]);

    const again = await cli('db', 'backup', copy, '--db', t.db);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/copy\.db already exists; pass --force/);
    expect((await cli('db', 'backup', copy, '--force', '--db', t.db)).code).toBe(0);
  });

  it('usage errors: no database, the database itself, a directory', async () => {
    const t = fresh();
    const none = await cli('db', 'backup', join(t.dir, 'c.db'), '--db', join(t.dir, 'none.db'));
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/no database at/);
    expect(existsSync(join(t.dir, 'none.db'))).toBe(false);
    writeFileSync(t.db, '');
    expect((await cli('db', 'backup', t.db, '--db', t.db)).err).toMatch(/is the database itself/);
    expect((await cli('db', 'backup', t.dir, '--force', '--db', t.db)).err).toMatch(/is a directory/);
  });
});
