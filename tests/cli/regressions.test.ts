/**
 * Regression tests from a review of the CLI, the testing toolkit and the cache (each was a bug, now
 * fixed): malformed histories, a test run that tested nothing, missing databases, damaged cache
 * entries and cache files.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { cli, scratchDirs } from '../helpers/cli.js';
import { replayHistory, assertWorkflowProperties, assertReplays } from '../../src/testing/index.js';

const fresh = scratchDirs('lf-review-');
const RAW_JS = /Cannot read|undefined \(reading|is not a function|is not iterable|TypeError|internal error/;

const WF = `
add = task("add")

@workflow()
def main(x = 1):
    return add(x, 2)
`;

describe('cli/testing review', () => {
  it('replayHistory: malformed TaskScheduled event gives a clear error, not a raw TypeError', async () => {
    const script = { name: 'wf.star', text: WF };
    const history = [
      { seq: 1, at: 0, kind: 'RunStarted', runId: 'r1', workflow: 'main', file: 'wf.star', scriptDigest: 'x', args: [], kwargs: {}, env: {}, seed: 's', attempt: 1 },
      { seq: 2, at: 0, kind: 'TaskScheduled', stepId: 'add#1', task: 'add' },
      { seq: 3, at: 0, kind: 'TaskCompleted', stepId: 'add#1', attempt: 1, source: 'executed', result: 3 },
    ];
    let msg = '';
    try {
      const r = await replayHistory(script, history as never);
      msg = JSON.stringify(r);
    } catch (e) {
      msg = String(e);
    }
    expect(msg).not.toMatch(RAW_JS);
  });

  it('replayHistory: history with null element', async () => {
    const script = { name: 'wf.star', text: WF };
    const history = [{ seq: 1, at: 0, kind: 'RunStarted', runId: 'r1', workflow: 'main', file: 'wf.star', scriptDigest: 'x', args: [], kwargs: {}, env: {}, seed: 's', attempt: 1 }, null];
    let msg = '';
    try {
      msg = JSON.stringify(await replayHistory(script, history as never));
    } catch (e) {
      msg = String(e);
    }
    expect(msg).not.toMatch(RAW_JS);
  });

  it('test --workflows with a file that has no test_ functions does not report success', async () => {
    const f = fresh();
    const p = f.file('none_test.star', 'def helper():\n    pass\n');
    const r = await cli('test', '--workflows', p);
    expect(r.code).not.toBe(0);
  });
});

describe('cli/testing review 2', () => {
  it('assertReplays on a database path that does not exist fails instead of passing vacuously (and creates no file)', async () => {
    const f = fresh();
    const script = f.file('wf.star', WF);
    const db = join(f.dir, 'typo.db');
    let threw = false;
    try {
      await assertReplays(script, { db });
    } catch {
      threw = true;
    }
    const { existsSync } = await import('node:fs');
    expect({ threw, created: existsSync(db) }).toEqual({ threw: true, created: false });
  });
});

describe('cache review', () => {
  const TASKS = 'export function add(a, b) { return a + b; }\n';
  const CACHED = `
add = task("add", cache=True)

@workflow()
def main(x = 1):
    return add(x, 2)
`;
  async function setup() {
    const f = fresh();
    const wf = f.file('wf.star', CACHED);
    const tasks = f.file('tasks.mjs', TASKS);
    const r = await cli('run', wf, '--tasks', tasks, '--db', f.db);
    expect(r.code).toBe(0);
    const runs = JSON.parse((await cli('runs', '--db', f.db, '--json')).out) as { id: string }[];
    const entries = JSON.parse((await cli('cache', 'ls', '--db', f.db, '--json')).out) as { key: string }[];
    return { f, wf, tasks, runId: runs[0]!.id, key: entries[0]!.key };
  }

  it('a damaged cache entry can still be removed with cache rm KEY (and cache ls still lists the others)', async () => {
    const { f, key } = await setup();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(join(f.dir, 'cache.db'));
    db.prepare("UPDATE cache_entries SET result = '{bad'").run();
    db.close();
    const ls = await cli('cache', 'ls', '--db', f.db);
    const rm = await cli('cache', 'rm', key.slice(0, 16), '--db', f.db);
    expect({ ls: ls.code, rm: rm.code }).toEqual({ ls: 0, rm: 0 });
  });

  it('a broken cache.db does not block reading run histories (history / show)', async () => {
    const { f, runId } = await setup();
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(f.dir, 'cache.db' + suffix), { force: true });
    writeFileSync(join(f.dir, 'cache.db'), 'this is not a database, just junk bytes in the cache file');
    const h = await cli('history', runId, '--db', f.db);
    const s = await cli('show', runId, '--db', f.db);
    expect({ history: h.code, show: s.code, err: h.err }).toEqual({ history: 0, show: 0, err: '' });
  });
});

describe('worker review', () => {
  it('worker --until-idle on a database path that does not exist does not create one', async () => {
    const f = fresh();
    const db = join(f.dir, 'typo', 'typo.db');
    const r = await cli('worker', '--until-idle', '--db', db);
    const { existsSync } = await import('node:fs');
    expect({ created: existsSync(db), code: r.code }).toEqual({ created: false, code: 2 });
  });
});

describe('regression: replay against changed scripts', () => {
  it('replay --all finds the runs of a renamed script with --renamed-from, and a syntax error is not nondeterminism', async () => {
    const { dir } = fresh();
    const db = join(dir, 'l.db');
    writeFileSync(join(dir, 'orig.star'), 'a = task("a")\n@workflow()\ndef pipe():\n    return a(1)\n');
    writeFileSync(join(dir, 't.mjs'), 'export function a(x) { return x; }\n');
    const io = () => {
      const o = { out: '', err: '' };
      return { o, io: { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s) } };
    };
    const r1 = io();
    expect(await main(['run', join(dir, 'orig.star'), '--tasks', join(dir, 't.mjs'), '--db', db], r1.io)).toBe(0);
    // The changed script under another name: the recorded run is found with --renamed-from, and the change caught.
    writeFileSync(join(dir, 'renamed.star'), 'a = task("a")\n@workflow()\ndef pipe():\n    return a(2)\n');
    const r2 = io();
    expect(await main(['replay', '--all', '--workflow', join(dir, 'renamed.star'), '--renamed-from', 'orig.star', '--db', db], r2.io)).toBe(3);
    // A script that does not parse: a parse error (exit 1), not a mismatch (exit 3).
    writeFileSync(join(dir, 'broken.star'), 'a = task("a"\n');
    const runId = /run-[0-9a-f]+/.exec(r1.o.err)![0];
    const r3 = io();
    expect(await main(['replay', runId, '--workflow', join(dir, 'broken.star'), '--db', db], r3.io)).toBe(1);
    expect(r3.o.err).toMatch(/broken\.star:\d+:\d+: /);
    expect(r3.o.out).not.toMatch(/MISMATCH/);
  });
});

describe('test --workflows with JS tasks', () => {
  it('registers the tasks of --tasks FILE', async () => {
    const { dir } = fresh();
    writeFileSync(join(dir, 'w_test.star'), 'double = task("double")\ndef test_double():\n    t = load_test()\n    if double(21) != 42:\n        fail("wrong")\n\ndef load_test():\n    return None\n');
    writeFileSync(join(dir, 't.mjs'), 'export function double(x) { return 2 * x; }\n');
    let out = '';
    const code = await main(['test', '--workflows', join(dir, 'w_test.star'), '--tasks', join(dir, 't.mjs')], { out: (s) => void (out += s), err: (s) => void (out += s) });
    expect(out).toContain('1 passed, 0 failed');
    expect(code).toBe(0);
  });
});

describe('run ids', () => {
  it('commands take a unique prefix of a run id, with or without run-', async () => {
    const { dir } = fresh();
    const db = join(dir, 'l.db');
    writeFileSync(join(dir, 'w.star'), '@workflow()\ndef w():\n    return 7\n');
    let err = '';
    expect(await main(['run', join(dir, 'w.star'), '--db', db], { out: () => {}, err: (s) => void (err += s) })).toBe(0);
    const id = /run-([0-9a-f]+)/.exec(err)![1]!;
    let out = '';
    expect(await main(['show', id.slice(0, 6), '--db', db], { out: (s) => void (out += s), err: () => {} })).toBe(0);
    expect(out).toContain(`run run-${id}`);
    let e2 = '';
    expect(await main(['history', 'nope', '--db', db], { out: () => {}, err: (s) => void (e2 += s) })).toBe(2);
    expect(e2).toMatch(/no run nope \(see `larkflow runs`\)/);
  });
});

describe('cache keys of --tasks modules', () => {
  it('editing a helper in the tasks module (not the task itself) is a cache miss', async () => {
    const { dir } = fresh();
    const db = join(dir, 'l.db');
    writeFileSync(join(dir, 'w.star'), 'f = task("f", cache = True)\n@workflow()\ndef w():\n    return f(1)\n');
    const tasks = (factor: number) => `function helper(x) { return x * ${factor}; }\nexport function f(x) { return helper(x); }\n`;
    const run = async (): Promise<string> => {
      let out = '';
      expect(await main(['run', join(dir, 'w.star'), '--tasks', join(dir, 't.mjs'), '--db', db], { out: (s) => void (out += s), err: () => {} })).toBe(0);
      return out.trim();
    };
    writeFileSync(join(dir, 't.mjs'), tasks(2));
    expect(await run()).toBe('2');
    expect(await run()).toBe('2'); // a hit
    // The helper changed, the task function's own source did not (a new file name: ESM caches by URL).
    writeFileSync(join(dir, 't2.mjs'), tasks(3));
    let out = '';
    expect(await main(['run', join(dir, 'w.star'), '--tasks', join(dir, 't2.mjs'), '--db', db], { out: (s) => void (out += s), err: () => {} })).toBe(0);
    expect(out.trim()).toBe('3'); // not the stale 2
  });
});

describe('larkflow test --workflows over our own workflow tests', () => {
  it('passes every test_* function of tests/testdata/workflows through the CLI', async () => {
    const { readdirSync } = await import('node:fs');
    const wdir = join(import.meta.dirname, '..', 'testdata', 'workflows');
    const files = readdirSync(wdir).filter((f) => f.endsWith('_test.star')).map((f) => join(wdir, f));
    let out = '';
    const code = await main(['test', '--env', 'LARKFLOW_TEST_ENV=yes', '--workflows', ...files], { out: (s) => void (out += s), err: (s) => void (out += s) });
    const last = out.trim().split('\n').pop()!;
    expect(last).toMatch(/^\d+ passed, 0 failed$/);
    expect(Number(last.split(' ')[0])).toBeGreaterThan(20);
    expect(code).toBe(0);
  }, 60_000);
});
