/**
 * The inspection commands on a shared database (PostgreSQL): `runs`, `show`, `history` and `logs`
 * read it as they read a SQLite file, with the same output for the same workflow (ids and times
 * masked), the same run-id prefixes, and the same errors and exit codes for unknown or ambiguous
 * ids. The commands still limited to SQLite say so. A real PostgreSQL server; the in-process CLI,
 * and the built one (dist/, `npm run build` first) for the exit codes of a real process.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresEventStore } from '../../src/engine/store/postgres/index.js';
import { builtCli, cli, scratchDirs, type Scratch } from '../helpers/cli.js';
import { startPostgres, type PgServer } from '../helpers/postgres.js';
import { COUNT_SCRIPT, migratedDatabase, submitRuns } from '../helpers/shared-db.js';

const scratch = scratchDirs('larkflow-shread-');
const BIN = join(__dirname, '../../dist/bundle/larkflow.mjs');
let server: PgServer;
let url: string;
let store: PostgresEventStore;

beforeAll(async () => {
  server = await startPostgres();
  ({ url, store } = await migratedDatabase(server, 'readtest'));
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
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, 'TIME')
    .replace(/\b\d+(\.\d+)?(ms|s)\b/g, 'DUR')
    .replace(/\b\d+m\d\ds\b/g, 'DUR');
}

/** A JSON value with run ids masked and times (keys ending in `at`/`At`, durations) zeroed. */
function normalized(v: unknown, runId: string, key = ''): unknown {
  if (typeof v === 'string') return masked(v, runId);
  if (typeof v === 'number') return /(^at|At|Ms)$/.test(key) ? 0 : v;
  if (Array.isArray(v)) return v.map((x) => normalized(x, runId));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalized(x, runId, k)]));
  return v;
}

const TASKS = 'export function double(x) { return 2 * x; }\nexport function boom(x) { throw new Error(`boom ${x}`); }\n';
const WF = 'double = task("double")\nboom = task("boom", retries = 0)\n@workflow()\ndef main(n):\n    out = [double(i) for i in range(n)]\n    progress.report("doubled " + str(n))\n    return out\n@workflow()\ndef bad():\n    return boom(7)\n';

/** Runs `WF` on the database `db`; returns the run's id. */
async function runOn(s: Scratch, db: string, ...args: string[]): Promise<{ runId: string; code: number }> {
  const r = await cli('run', join(s.dir, 'wf.star'), '--db', db, '--tasks', join(s.dir, 'tasks.mjs'), ...args);
  const m = /(run-[0-9a-f]{12})/.exec(r.err);
  if (!m) throw new Error(`no run id in: ${r.err}`);
  return { runId: m[1]!, code: r.code };
}

describe('inspection commands on PostgreSQL', () => {
  let s: Scratch;
  let pgRun: string;
  let sqliteRun: string;
  let pgFailed: string;

  beforeAll(async () => {
    s = scratch();
    s.file('tasks.mjs', TASKS);
    s.file('wf.star', WF);
    // The same workflow, the same file, on both databases.
    ({ runId: pgRun } = await runOn(s, url, '--workflow', 'main', 'n=3'));
    ({ runId: sqliteRun } = await runOn(s, s.db, '--workflow', 'main', 'n=3'));
    const bad = await runOn(s, url, '--workflow', 'bad');
    expect(bad.code).toBe(1);
    pgFailed = bad.runId;
  }, 60_000);

  it('show lists a finished run\'s steps and result, as on SQLite', async () => {
    const pg = await cli('show', pgRun, '--db', url);
    expect(pg.err).toBe('');
    expect(pg.code).toBe(0);
    expect(pg.out).toContain(`run ${pgRun}`);
    expect(pg.out).toContain('  workflow: main (');
    expect(pg.out).toContain('  status: completed');
    expect(pg.out).toContain('  result: [0,2,4]');
    expect(pg.out).toMatch(/steps \(3\):/);
    expect(pg.out).toMatch(/double#1\s+completed\s+task double/);
    expect(pg.out).toContain('  result: 4');
    expect(pg.out).toContain('progress (latest last):\n  doubled 3');
    const lite = await cli('show', sqliteRun, '--db', s.db);
    expect(lite.code).toBe(0);
    expect(masked(pg.out, pgRun)).toBe(masked(lite.out, sqliteRun));

    const pgJson = JSON.parse((await cli('show', pgRun, '--db', url, '--json')).out) as unknown;
    const liteJson = JSON.parse((await cli('show', sqliteRun, '--db', s.db, '--json')).out) as unknown;
    expect(pgJson).toMatchObject({ runId: pgRun, status: 'completed', result: [0, 2, 4] });
    expect(normalized(pgJson, pgRun)).toEqual(normalized(liteJson, sqliteRun));
  });

  it('show of a failed run gives its error, as on SQLite', async () => {
    const pg = await cli('show', pgFailed, '--db', url);
    expect(pg.code).toBe(0);
    expect(pg.out).toContain('  status: failed');
    expect(pg.out).toContain('boom 7');
    expect(pg.out).toMatch(/boom#1\s+failed\s+task boom/);
  });

  it('history prints the run\'s events, as on SQLite; --json is the stored history', async () => {
    const pg = await cli('history', pgRun, '--db', url);
    expect(pg.code).toBe(0);
    const lines = pg.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^ 1  \\S+  RunStarted\\s+run=${pgRun} workflow=main file=`));
    expect(pg.out).toMatch(/TaskScheduled\s+step=double#1 task=double/);
    expect(pg.out).toMatch(/TaskCompleted\s+step=double#3 attempt=1 source=executed .*result=4/);
    expect(lines.at(-1)).toMatch(/RunCompleted\s+result=\[0,2,4\]$/);
    const lite = await cli('history', sqliteRun, '--db', s.db);
    expect(lite.code).toBe(0);
    expect(masked(pg.out, pgRun)).toBe(masked(lite.out, sqliteRun));
    const json = await cli('history', pgRun, '--db', url, '--json');
    expect(JSON.parse(json.out)).toEqual(JSON.parse(JSON.stringify(await store.history(pgRun))));
  });

  it('runs lists the runs with their status, with the filters of SQLite', async () => {
    const all = await cli('runs', '--db', url);
    expect(all.code).toBe(0);
    const header = all.out.split('\n')[0]!;
    expect(header).toMatch(/^ID\s+WORKFLOW\s+STATUS\s+START\s+END$/);
    expect(all.out).toMatch(new RegExp(`^${pgRun}\\s+main\\s+completed\\s+\\S+Z\\s+\\S+Z$`, 'm'));
    expect(all.out).toMatch(new RegExp(`^${pgFailed}\\s+bad\\s+failed\\s+`, 'm'));
    // Newest first.
    expect(all.out.indexOf(pgFailed)).toBeLessThan(all.out.indexOf(pgRun));

    const failed = await cli('runs', '--db', url, '--status', 'failed');
    expect(failed.out).toContain(pgFailed);
    expect(failed.out).not.toContain(pgRun);
    const byWorkflow = await cli('runs', '--db', url, '--workflow', 'main', '--json');
    const listed = JSON.parse(byWorkflow.out) as { id: string; status: string; events: number }[];
    expect(listed.map((r) => r.id)).toContain(pgRun);
    expect(listed.every((r) => r.id !== pgFailed)).toBe(true);
    expect(listed.find((r) => r.id === pgRun)).toMatchObject({ status: 'completed', workflow: 'main', end: expect.stringMatching(/Z$/), events: (await store.history(pgRun)).length });
    const one = JSON.parse((await cli('runs', '--db', url, '--limit', '1', '--json')).out) as { id: string }[];
    expect(one.map((r) => r.id)).toEqual([pgFailed]);
    const none = await cli('runs', '--db', url, '--status', 'blocked');
    expect(none.code).toBe(0);
    expect(none.err).toBe('no runs with status blocked\n');
    const pipeline = await cli('runs', '--db', url, '--pipeline', 'nightly', '--json');
    expect(JSON.parse(pipeline.out)).toEqual([]);

    // The same JSON fields as on SQLite.
    const lite = JSON.parse((await cli('runs', '--db', s.db, '--json')).out) as Record<string, unknown>[];
    const pgOne = listed.find((r) => r.id === pgRun)!;
    expect(Object.keys(pgOne).sort()).toEqual(Object.keys(lite[0]!).sort());
  });

  it('a run submitted and not yet driven shows as running with no steps', async () => {
    const [id] = await submitRuns(store, COUNT_SCRIPT, { args: [2], idPrefix: 'run-waiting' });
    const shown = await cli('show', id!, '--db', url);
    expect(shown.code).toBe(0);
    expect(shown.out).toContain('  status: running');
    expect(shown.out).toContain('steps (0):\n  (none)');
    const running = await cli('runs', '--db', url, '--status', 'running');
    expect(running.out).toMatch(new RegExp(`^${id}\\s+count\\s+running\\s+\\S+Z\\s+-$`, 'm'));
    const logs = await cli('logs', id!, '--db', url);
    expect(logs.code).toBe(2);
    expect(logs.err).toContain(`run ${id} has no task attempts yet`);
  });

  it('run ids: a unique prefix works, with or without run-, as on SQLite; unknown and ambiguous ids are exit 2', async () => {
    const short = pgRun.slice('run-'.length, 'run-'.length + 8);
    const byPrefix = await cli('show', short, '--db', url);
    expect(byPrefix.code).toBe(0);
    expect(byPrefix.out).toContain(`run ${pgRun}`);
    const withRun = await cli('history', `run-${short}`, '--db', url);
    expect(withRun.code).toBe(0);
    expect(withRun.out).toContain(`run=${pgRun}`);

    const unknownPg = await cli('show', 'run-000000000000', '--db', url);
    const unknownLite = await cli('show', 'run-000000000000', '--db', s.db);
    expect(unknownPg.code).toBe(2);
    expect(unknownPg.err).toContain('no run run-000000000000 (see `larkflow runs`)');
    expect(unknownPg).toEqual(unknownLite);
    for (const cmd of ['history', 'logs']) {
      const r = await cli(cmd, 'nosuchrun', '--db', url);
      expect(r.code).toBe(2);
      expect(r.err).toContain('no run nosuchrun');
    }
    const empty = await cli('show', '', '--db', url);
    expect(empty.code).toBe(2);
    expect(empty.err).toContain('no run id given');

    await submitRuns(store, COUNT_SCRIPT, { args: [2], count: 2, idPrefix: 'run-twin' });
    const ambiguous = await cli('show', 'twin', '--db', url);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.err).toMatch(/run id twin is ambiguous: run-twin-000[01], run-twin-000[01]\n/);
    // LARKFLOW_DB names the database as --db does.
    process.env.LARKFLOW_DB = url;
    try {
      const fromEnv = await cli('show', 'twin-0001');
      expect(fromEnv.code).toBe(0);
      expect(fromEnv.out).toContain('run run-twin-0001');
    } finally {
      delete process.env.LARKFLOW_DB;
    }
  });

  it('logs reads the run from PostgreSQL and says what it says on SQLite', async () => {
    const pg = await cli('logs', pgRun, '--db', url);
    const lite = await cli('logs', sqliteRun, '--db', s.db);
    expect(pg.code).toBe(1);
    expect(pg.err).toContain('step double#3 attempt 1 ran in process (executor local)');
    expect(pg).toEqual(lite);
    const noStep = await cli('logs', pgRun, 'nope', '--db', url);
    expect(noStep.code).toBe(2);
    expect(noStep.err).toContain(`run ${pgRun} has no step nope (steps: double#1, double#2, double#3)`);
  });

  it('logs --follow prints a live process attempt\'s output from PostgreSQL until the attempt ends', async () => {
    const d = scratch();
    const go = join(d.dir, 'go');
    const script = d.file('slow.mjs', `import { existsSync } from 'node:fs';\nconsole.log('first line');\nwhile (!existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 50));\nconsole.log('second line');\n`);
    const wf = d.file('wf.star', `slow = task("slow", command = [${JSON.stringify(process.execPath)}, ${JSON.stringify(script)}])\n@workflow()\ndef main():\n    return slow()\n`);
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);
    const driver = spawn(process.execPath, [BIN, 'run', wf, '--db', url], { cwd: d.dir, env: { ...process.env, LARKFLOW_DB: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let driverErr = '';
    driver.stderr.on('data', (b: Buffer) => (driverErr += b.toString()));
    const driverDone = new Promise<number | null>((r) => driver.on('exit', r));
    try {
      const t0 = Date.now();
      let runId: string | undefined;
      while (Date.now() - t0 < 30_000) {
        runId = /(run-[0-9a-f]{12})/.exec(driverErr)?.[1];
        if (runId !== undefined && (await store.history(runId)).some((e) => e.kind === 'AttemptStarted')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(runId, driverErr).toBeDefined();
      const following = cli('logs', runId!, '--db', url, '--follow');
      // The attempt prints its first line, then waits for the file.
      const t1 = Date.now();
      while (Date.now() - t1 < 10_000) {
        const plain = await cli('logs', runId!, '--db', url);
        if (plain.out.includes('first line')) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      d.file('go', '');
      const followed = await following;
      expect(followed.err).toBe('');
      expect(followed.code).toBe(0);
      expect(followed.out).toBe('first line\nsecond line\n');
      expect(await driverDone).toBe(0);
      const after = await cli('show', runId!, '--db', url);
      expect(after.out).toContain('  status: completed');
      expect(after.out).toMatch(/attempt 1 {2}process {2}\S+ {2}ok {2}logs \//);
    } finally {
      if (driver.exitCode === null) driver.kill('SIGKILL');
    }
  }, 60_000);

  it('commands still limited to SQLite name the ones that work on PostgreSQL', async () => {
    const r = await cli('ui', '--db', url);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/not supported yet: larkflow ui on a PostgreSQL/);
    expect(r.err).toContain('runs, show, history, logs, replay RUN');
  });

  it('the built CLI: runs and show on PostgreSQL, exit 2 for an unknown run', async () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);
    const listed = await larkflow(['runs', '--db', url], s.dir);
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(new RegExp(`^${pgRun}\\s+main\\s+completed`, 'm'));
    const shown = await larkflow(['show', pgRun, '--db', url], s.dir);
    expect(shown.code).toBe(0);
    expect(shown.out).toContain('  status: completed');
    const unknown = await larkflow(['show', 'run-000000000000', '--db', url], s.dir);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('no run run-000000000000');
    expect(unknown.err).not.toMatch(/at .*\.js:\d+/);
  }, 30_000);
});
