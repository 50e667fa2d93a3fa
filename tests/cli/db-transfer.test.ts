/**
 * `larkflow db migrate | export | import` on a SQLite file and on a real PostgreSQL server: a round
 * trip SQLite → PostgreSQL → SQLite gives identical histories (and run rows, idempotency keys and
 * script bundles), importing again skips what is there, and a PostgreSQL database is migrated only
 * by `db migrate`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asyncStoreOf } from '../../src/engine/store/sqlite-async.js';
import { openSqliteStore } from '../../src/engine/store/sqlite-store.js';
import { openPostgresStore } from '../../src/engine/store/postgres/index.js';
import type { AsyncEventStore } from '../../src/engine/store/async-store.js';
import { cli, scratchDirs } from '../helpers/cli.js';
import { startPostgres, type PgServer } from '../helpers/postgres.js';
import { completed, failed, notifications, progress, received, scheduled, signal, started, taskCompleted, taskFailed } from '../store/helpers.js';

const fresh = scratchDirs('lf-db-transfer-');
let server: PgServer;
let n = 0;
beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server?.destroy();
}, 60_000);

/** Every run of a store: its row (with counters) and its history. */
async function dump(store: AsyncEventStore): Promise<unknown[]> {
  const runs = await store.listRunsWithCounters();
  return Promise.all(runs.map(async (r) => ({ run: r, history: await store.history(r.runId) })));
}

describe('larkflow db migrate/export/import', () => {
  it('moves runs SQLite → PostgreSQL → SQLite with identical histories, and skips runs already there', async () => {
    const t = fresh();
    const src = asyncStoreOf(openSqliteStore(t.db));
    await src.putScript('digest-1', [{ path: 'wf.star', text: 'x = "é ☃ \\u2028"\n' }]);
    await src.createRun(started('done', 1000), undefined, 'key-1');
    await src.append('done', 1, [scheduled(1001, 'a#1'), taskCompleted(1002, 'a#1', { big: 2 ** 53 - 1, f: 0.1, s: 'é\n"q"' }, 'cache'), completed(1003, [1, null, { z: true }])]);
    await src.createRun(started('bad', 2000, { parent: { runId: 'done', stepId: 'c#1' } }));
    await src.append('bad', 1, [scheduled(2001, 'b#1'), taskFailed(2002, 'b#1', 'oom'), failed(2003, 'oom')]);
    await src.createRun(started('open', 3000, { workflow: 'train' }), { owner: 'w1', leaseMs: 60_000 });
    const { id } = await src.postInbox('open', signal('go', { n: 1 }));
    await src.append('open', 1, [received(3001, id, 'go', { n: 1 }), notifications('open', ['https://hook.example']), progress(3002)], { owner: 'w1', epoch: 1 });
    const before = await dump(src);
    await src.close();

    // SQLite → JSONL
    const exported = join(t.dir, 'runs.jsonl');
    const ex = await cli('db', 'export', '--db', t.db, '-o', exported);
    expect(ex.code, ex.err).toBe(0);
    expect(ex.err).toMatch(/^exported 3 runs \(12 events\) from .*runs\.db to .*runs\.jsonl\n$/);
    const lines = readFileSync(exported, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; runId?: string });
    expect(lines.map((l) => l.type)).toEqual(['script', 'run', 'run', 'run']);
    expect(lines.filter((l) => l.type === 'run').map((l) => l.runId)).toEqual(['open', 'bad', 'done']);
    // stdout when no -o.
    const toStdout = await cli('db', 'export', '--db', t.db);
    expect(toStdout.out).toBe(readFileSync(exported, 'utf8'));

    // JSONL → PostgreSQL: refused until migrated.
    const url = await server.createDatabase(`dbt${process.pid}_${++n}`);
    const early = await cli('db', 'import', exported, '--db', url);
    expect(early.code).not.toBe(0);
    expect(early.err).toContain(`has no larkflow schema (never migrated); run \`larkflow db migrate --db ${url}\``);
    const mig = await cli('db', 'migrate', '--db', url);
    expect(mig.code, mig.err).toBe(0);
    expect(mig.out).toMatch(/: schema v0 → v\d+\n$/);
    expect((await cli('db', 'migrate', '--db', url)).out).toMatch(/: schema v\d+, up to date\n$/);
    const im = await cli('db', 'import', exported, '--db', url);
    expect(im.code, im.err).toBe(0);
    expect(im.out).toBe(`imported 3 runs into ${url}; skipped 0 already there; 1 script bundle\n`);
    const again = await cli('db', 'import', exported, '--db', url);
    expect(again.out).toBe(`imported 0 runs into ${url}; skipped 3 already there; 1 script bundle\n`);

    const pg = await openPostgresStore(url);
    try {
      expect(await dump(pg)).toEqual(before);
      expect(await pg.runByIdempotencyKey('key-1')).toMatchObject({ runId: 'done' });
      expect(await pg.getScript('digest-1')).toEqual([{ path: 'wf.star', text: 'x = "é ☃ \\u2028"\n' }]);
      // The unfinished run comes in unowned: a worker may take it.
      expect((await pg.claimRuns('w2', 10, 60_000)).map((c) => c.runId)).toEqual(['open']);
    } finally {
      await pg.close();
    }

    // PostgreSQL → JSONL → a new SQLite file (LARKFLOW_DB names the source this time).
    const back = join(t.dir, 'back.jsonl');
    const prev = process.env.LARKFLOW_DB;
    process.env.LARKFLOW_DB = url;
    try {
      const ex2 = await cli('db', 'export', '-o', back);
      expect(ex2.code, ex2.err).toBe(0);
    } finally {
      if (prev === undefined) delete process.env.LARKFLOW_DB;
      else process.env.LARKFLOW_DB = prev;
    }
    const target = join(t.dir, 'copy', 'again.db');
    const im2 = await cli('db', 'import', back, '--db', target);
    expect(im2.code, im2.err).toBe(0);
    expect(im2.out).toBe(`imported 3 runs into ${target}; skipped 0 already there; 1 script bundle\n`);
    const copy = asyncStoreOf(openSqliteStore(target));
    try {
      expect(await dump(copy)).toEqual(before);
      expect(await copy.getScript('digest-1')).toEqual([{ path: 'wf.star', text: 'x = "é ☃ \\u2028"\n' }]);
    } finally {
      await copy.close();
    }
  }, 60_000);

  it('says what is wrong: no database, a missing file, a line that is not an export', async () => {
    const t = fresh();
    const none = await cli('db', 'export', '--db', join(t.dir, 'none.db'));
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/no database at .*none\.db/);
    expect(existsSync(join(t.dir, 'none.db'))).toBe(false);
    expect((await cli('db', 'import', join(t.dir, 'nope.jsonl'), '--db', t.db)).err).toMatch(/no file .*nope\.jsonl to import/);
    const bad = join(t.dir, 'bad.jsonl');
    writeFileSync(bad, '{"type":"run","runId":"x","events":[]}\nnot json\n');
    const r = await cli('db', 'import', bad, '--db', t.db);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.jsonl:1: cannot import a run: its history must start with RunStarted/);
    const refused = await cli('db', 'migrate', '--db', 'postgres://larkflow:secret@127.0.0.1:1/x');
    expect(refused.code).not.toBe(0);
    expect(refused.err).toContain('cannot connect to PostgreSQL at postgres://larkflow:***@127.0.0.1:1/x: connection refused');
    expect(refused.err).not.toContain('secret');
  });

  it('migrates a SQLite file and reports its version', async () => {
    const t = fresh();
    const r = await cli('db', 'migrate', '--db', t.db);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/runs\.db: schema v0 → v5\n$/);
    expect((await cli('db', 'migrate', '--db', t.db)).out).toMatch(/runs\.db: schema v5, up to date\n$/);
  });
});
