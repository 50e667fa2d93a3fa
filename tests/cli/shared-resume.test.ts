/**
 * `larkflow replay` and `larkflow resume` on a shared database (PostgreSQL): replay reads the run
 * from the database (read only) and says what it says on SQLite, with the same exit codes; resume
 * starts the new run in the database, reusing the old run's completed steps as on SQLite, and
 * drives it to its end. Unknown run ids are the same usage errors as on SQLite. A real PostgreSQL
 * server; the in-process CLI, and the built one (dist/, `npm run build` first) for a real process.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../src/engine/index.js';
import type { PostgresEventStore } from '../../src/engine/store/postgres/index.js';
import { builtCli, cli, scratchDirs, type Scratch } from '../helpers/cli.js';
import { startPostgres, type PgServer } from '../helpers/postgres.js';
import { migratedDatabase } from '../helpers/shared-db.js';

const scratch = scratchDirs('larkflow-shresume-');
const BIN = join(__dirname, '../../dist/bundle/larkflow.mjs');
let server: PgServer;
let url: string;
let store: PostgresEventStore;

beforeAll(async () => {
  server = await startPostgres();
  ({ url, store } = await migratedDatabase(server, 'resumetest'));
}, 60_000);

afterAll(async () => {
  await store?.close();
  await server?.destroy();
});

const larkflow = (args: string[], cwd: string) => builtCli(args, cwd);

/** Output with what differs between two runs of the same workflow masked: run ids, times, durations. */
function masked(text: string, ...ids: string[]): string {
  let s = text;
  for (const id of ids) s = s.split(id).join('RUN');
  return s
    .replace(/run-[0-9a-f]{12}/g, 'RUN')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, 'TIME')
    .replace(/\b\d+(\.\d+)?(ms|s)\b/g, 'DUR')
    .replace(/\b\d+m\d\ds\b/g, 'DUR');
}

/**
 * `prep` counts its calls (one line per call in prep-calls.txt); `flaky` fails while the file
 * `fail` exists beside the module.
 */
const TASKS = `import { appendFileSync, existsSync } from 'node:fs';
const here = new URL('.', import.meta.url).pathname;
export function prep(n) { appendFileSync(here + 'prep-calls.txt', 'x\\n'); return n * 10; }
export function flaky(x) { if (existsSync(here + 'fail')) throw new Error('flaky failed on ' + x); return x + 1; }
export function finish(x) { return { total: x }; }
`;
const WF = 'prep = task("prep")\nflaky = task("flaky", retries = 0)\nfinish = task("finish")\n@workflow()\ndef main(n):\n    a = prep(n)\n    b = flaky(a)\n    return finish(b)\n';

function runIdOf(text: string): string {
  const m = /(run-[0-9a-f]{12})/.exec(text);
  if (!m) throw new Error(`no run id in: ${text}`);
  return m[1]!;
}

/** Runs `WF` on the database `db` in the scratch directory `s`; returns the run's id and exit code. */
async function runOn(s: Scratch, db: string): Promise<{ runId: string; code: number; err: string }> {
  const r = await cli('run', join(s.dir, 'wf.star'), '--db', db, '--tasks', join(s.dir, 'tasks.mjs'), 'n=4');
  return { runId: runIdOf(r.err), code: r.code, err: r.err };
}

function prepCalls(s: Scratch): number {
  const f = join(s.dir, 'prep-calls.txt');
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).length : 0;
}

describe('replay on PostgreSQL', () => {
  let s: Scratch;
  let pgRun: string;
  let sqliteRun: string;

  beforeAll(async () => {
    s = scratch();
    s.file('tasks.mjs', TASKS);
    s.file('wf.star', WF);
    const pg = await runOn(s, url);
    expect(pg.code, pg.err).toBe(0);
    pgRun = pg.runId;
    const lite = await runOn(s, s.db);
    expect(lite.code, lite.err).toBe(0);
    sqliteRun = lite.runId;
  }, 60_000);

  it('a completed run replays against its stored script: OK and exit 0, as on SQLite; nothing is written', async () => {
    const before = await store.history(pgRun);
    const pg = await cli('replay', pgRun, '--db', url);
    expect(pg.err).toBe('');
    expect(pg.code).toBe(0);
    expect(pg.out).toBe(`OK: run ${pgRun} replays against the script it was recorded with (${before.length} events match)\n`);
    const lite = await cli('replay', sqliteRun, '--db', s.db);
    expect(lite.code).toBe(0);
    expect(masked(pg.out, pgRun)).toBe(masked(lite.out, sqliteRun));
    // A unique prefix, as on SQLite.
    const byPrefix = await cli('replay', pgRun.slice('run-'.length, 'run-'.length + 8), '--db', url);
    expect(byPrefix.code).toBe(0);
    expect(byPrefix.out).toContain(`OK: run ${pgRun}`);
    expect(await store.history(pgRun)).toEqual(before);
    expect((await store.getRun(pgRun))?.status).toBe('completed');
  });

  it('a changed script that diverges is a mismatch naming the step, exit 3, as on SQLite', async () => {
    const changed = s.file('changed.star', WF.replace('a = prep(n)', 'a = prep(n + 1)'));
    const pg = await cli('replay', pgRun, '--workflow', changed, '--db', url);
    expect(pg.code).toBe(3);
    expect(pg.out).toContain(`MISMATCH: run ${pgRun} does not replay against ${changed}`);
    expect(pg.out).toContain('prep#1');
    const lite = await cli('replay', sqliteRun, '--workflow', changed, '--db', s.db);
    expect(lite.code).toBe(3);
    expect(masked(pg.out, pgRun)).toBe(masked(lite.out, sqliteRun));
    expect(pg.err).toBe(lite.err);
    // A missing file is a usage error before the database is read.
    const missing = await cli('replay', pgRun, '--workflow', join(s.dir, 'nope.star'), '--db', url);
    expect(missing.code).toBe(2);
  });

  it('an unknown or empty run id gives the SQLite error and exit code', async () => {
    const pg = await cli('replay', 'run-000000000000', '--db', url);
    const lite = await cli('replay', 'run-000000000000', '--db', s.db);
    expect(pg.code).toBe(2);
    expect(pg.err).toContain('no run run-000000000000 (see `larkflow runs`)');
    expect(pg).toEqual(lite);
    const ambiguousLike = await cli('replay', 'run-', '--db', url);
    expect(ambiguousLike.code).toBe(2);
    expect(ambiguousLike.err).toContain('no run id given');
    expect(ambiguousLike).toEqual(await cli('replay', 'run-', '--db', s.db));
  });
});

describe('resume on PostgreSQL', () => {
  let s: Scratch;
  let pgFailed: string;
  let sqliteFailed: string;

  beforeAll(async () => {
    s = scratch();
    s.file('tasks.mjs', TASKS);
    s.file('wf.star', WF);
    s.file('fail', '');
    const pg = await runOn(s, url);
    expect(pg.code).toBe(1);
    expect(pg.err).toContain('flaky failed on 40');
    pgFailed = pg.runId;
    const lite = await runOn(s, s.db);
    expect(lite.code).toBe(1);
    sqliteFailed = lite.runId;
    rmSync(join(s.dir, 'fail'));
  }, 60_000);

  it('resume --from STEP starts a new run in PostgreSQL that reuses the earlier steps and completes, as on SQLite', async () => {
    const oldHistory = await store.history(pgFailed);
    const calls = prepCalls(s);
    const pg = await cli('resume', pgFailed, '--from', 'flaky', '--tasks', join(s.dir, 'tasks.mjs'), '--db', url);
    expect(pg.code, pg.err).toBe(0);
    expect(JSON.parse(pg.out)).toEqual({ total: 41 });
    const id = runIdOf(pg.err);
    expect(id).not.toBe(pgFailed);
    expect(pg.err.split('\n')[0]).toContain(`resumed from ${pgFailed} at step flaky#1`);
    expect(pg.err).toMatch(/prep#1\s+completed\s+\(reused\)/);
    // prep was not called again.
    expect(prepCalls(s)).toBe(calls);

    // The new run is in the database, ended, linked to the old one; the old one is untouched.
    expect(await store.getRun(id)).toMatchObject({ runId: id, status: 'completed', resumedFrom: pgFailed });
    expect(await store.history(pgFailed)).toEqual(oldHistory);
    const events = await store.history(id);
    const started = events[0] as HistoryEvent & { kind: 'RunStarted' };
    expect(started.resumedFrom).toEqual({ runId: pgFailed, fromStep: 'flaky#1' });
    const done = events.filter((e): e is HistoryEvent & { kind: 'TaskCompleted' } => e.kind === 'TaskCompleted');
    expect(done.map((e) => [e.stepId, e.source])).toEqual([
      ['prep#1', 'reused'],
      ['flaky#1', 'executed'],
      ['finish#1', 'executed'],
    ]);
    expect(events.at(-1)).toMatchObject({ kind: 'RunCompleted', result: { total: 41 } });

    // The same as on SQLite: the command's output, and the new run's history and show.
    const lite = await cli('resume', sqliteFailed, '--from', 'flaky', '--tasks', join(s.dir, 'tasks.mjs'), '--db', s.db);
    expect(lite.code, lite.err).toBe(0);
    const liteId = runIdOf(lite.err);
    expect(pg.out).toBe(lite.out);
    expect(masked(pg.err, id, pgFailed)).toBe(masked(lite.err, liteId, sqliteFailed));
    const pgHistory = await cli('history', id, '--db', url);
    const liteHistory = await cli('history', liteId, '--db', s.db);
    expect(pgHistory.code).toBe(0);
    expect(pgHistory.out).toMatch(/TaskCompleted\s+step=prep#1 attempt=\d+ source=reused/);
    expect(masked(pgHistory.out, id, pgFailed)).toBe(masked(liteHistory.out, liteId, sqliteFailed));
    const pgShow = await cli('show', id, '--db', url);
    expect(pgShow.out).toContain(`resumed from: ${pgFailed} at step flaky#1`);
    expect(pgShow.out).toMatch(/prep#1\s+completed \(reused\)/);
    const liteShow = await cli('show', liteId, '--db', s.db);
    expect(masked(pgShow.out, id, pgFailed)).toBe(masked(liteShow.out, liteId, sqliteFailed));
  }, 60_000);

  it('resume without --from restarts at the first failed step; a run-id prefix works', async () => {
    const calls = prepCalls(s);
    const prefix = pgFailed.slice('run-'.length, 'run-'.length + 8);
    const r = await cli('resume', prefix, '--tasks', join(s.dir, 'tasks.mjs'), '--db', url, '--quiet');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual({ total: 41 });
    expect(prepCalls(s)).toBe(calls);
    const mine = (await store.listRuns({ limit: 100 })).filter((x) => x.resumedFrom === pgFailed);
    expect(mine).toHaveLength(2);
    expect(mine.every((x) => x.status === 'completed')).toBe(true);
  }, 60_000);

  it('resume --workflow FILE resumes with a fixed script (stored in PostgreSQL); one that diverges before the step is exit 3, as on SQLite', async () => {
    const fixed = s.file('fixed.star', WF.replace('return finish(b)', 'return finish(b * 2)'));
    const r = await cli('resume', pgFailed, '--workflow', fixed, '--tasks', join(s.dir, 'tasks.mjs'), '--db', url);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ total: 82 });
    const id = runIdOf(r.err);
    const started = (await store.history(id))[0] as HistoryEvent & { kind: 'RunStarted' };
    const oldStarted = (await store.history(pgFailed))[0] as HistoryEvent & { kind: 'RunStarted' };
    expect(started.scriptDigest).not.toBe(oldStarted.scriptDigest);
    // The fixed script is in the database (a worker taking the run over finds it).
    const files = await store.getScript(started.scriptDigest);
    expect(files?.[0]?.text).toContain('finish(b * 2)');

    const diverging = s.file('diverging.star', WF.replace('a = prep(n)', 'a = prep(n + 1)'));
    const runsBefore = (await store.listRuns({ limit: 1000 })).length;
    const pg = await cli('resume', pgFailed, '--workflow', diverging, '--tasks', join(s.dir, 'tasks.mjs'), '--db', url);
    const lite = await cli('resume', sqliteFailed, '--workflow', diverging, '--tasks', join(s.dir, 'tasks.mjs'), '--db', s.db);
    expect(pg.code).toBe(3);
    expect(pg.err).toContain(`MISMATCH: run ${pgFailed} does not replay against ${diverging}`);
    expect(lite.code).toBe(3);
    expect(pg.out).toBe(lite.out);
    expect(masked(pg.err, pgFailed)).toBe(masked(lite.err, sqliteFailed));
    expect((await store.listRuns({ limit: 1000 })).length).toBe(runsBefore);
  }, 60_000);

  it('resume errors are the SQLite ones: an unknown run (exit 2), an unknown step', async () => {
    const pg = await cli('resume', 'run-000000000000', '--tasks', join(s.dir, 'tasks.mjs'), '--db', url);
    const lite = await cli('resume', 'run-000000000000', '--tasks', join(s.dir, 'tasks.mjs'), '--db', s.db);
    expect(pg.code).toBe(2);
    expect(pg.err).toContain('no run run-000000000000 (see `larkflow runs`)');
    expect(pg).toEqual(lite);
    const runsBefore = (await store.listRuns({ limit: 1000 })).length;
    const badStep = await cli('resume', pgFailed, '--from', 'nope#3', '--tasks', join(s.dir, 'tasks.mjs'), '--db', url);
    const liteBad = await cli('resume', sqliteFailed, '--from', 'nope#3', '--tasks', join(s.dir, 'tasks.mjs'), '--db', s.db);
    expect(badStep.code).toBe(2);
    expect(badStep.err).toContain(`run ${pgFailed} has no step nope#3`);
    expect(badStep.code).toBe(liteBad.code);
    expect(masked(badStep.err, pgFailed)).toBe(masked(liteBad.err, sqliteFailed));
    // Nothing was started.
    expect((await store.listRuns({ limit: 1000 })).length).toBe(runsBefore);
  });

  it('the built CLI: resume in a real process completes the run in PostgreSQL and exits 0; an unknown run exits 2', async () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);
    const r = await larkflow(['resume', pgFailed, '--from', 'flaky#1', '--tasks', join(s.dir, 'tasks.mjs'), '--db', url], s.dir);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ total: 41 });
    const id = runIdOf(r.err);
    expect(await store.getRun(id)).toMatchObject({ status: 'completed', resumedFrom: pgFailed });
    const unknown = await larkflow(['resume', 'run-000000000000', '--db', url], s.dir);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('no run run-000000000000');
    const replayed = await larkflow(['replay', id, '--db', url], s.dir);
    expect(replayed.code, replayed.err).toBe(0);
    expect(replayed.out).toMatch(/^OK: run /);
  }, 60_000);

  it('a resumed run whose process died is finished by a worker, reusing the old run\'s steps', async () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);
    const d = scratch();
    d.file('tasks.mjs', TASKS.replace('export function finish(x) { return { total: x }; }', "export async function finish(x) { if (existsSync(here + 'slow')) await new Promise((r) => setTimeout(r, 3000)); return { total: x }; }"));
    d.file('wf.star', WF);
    d.file('fail', '');
    const failed = await runOn(d, url);
    expect(failed.code).not.toBe(0);
    rmSync(join(d.dir, 'fail'));
    d.file('slow', '');
    const p = spawn(process.execPath, [BIN, 'resume', failed.runId, '--from', 'flaky#1', '--tasks', join(d.dir, 'tasks.mjs'), '--db', url], {
      cwd: d.dir,
      env: { ...process.env, LARKFLOW_DB: '', LARKFLOW_LEASE_MS: '1000' },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => p.on('exit', r));
    let resumed: string | undefined;
    const t0 = Date.now();
    while (Date.now() - t0 < 30_000) {
      resumed = (await store.listRuns({ limit: 50 })).find((r) => r.resumedFrom === failed.runId)?.runId;
      if (resumed && (await store.history(resumed)).some((e) => e.kind === 'AttemptStarted' && e.stepId.startsWith('finish'))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(resumed).toBeDefined();
    p.kill('SIGKILL');
    await exited;
    rmSync(join(d.dir, 'slow'));
    const before = prepCalls(d);
    const w = await larkflow(['worker', '--db', url, '--tasks', join(d.dir, 'tasks.mjs'), '--until-idle', '--poll-ms', '100', '--lease-ms', '1000'], d.dir);
    expect(w.code, w.err).toBe(0);
    const h = await store.history(resumed!);
    expect(h[h.length - 1], w.err + JSON.stringify(await store.leaseOf(resumed!)) + JSON.stringify(h.map((e) => e.kind))).toMatchObject({ kind: 'RunCompleted', result: { total: 41 } });
    expect(prepCalls(d)).toBe(before); // prep#1 came from the old run, also after the takeover
  }, 90_000);
});
