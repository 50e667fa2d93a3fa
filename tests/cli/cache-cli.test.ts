/**
 * Tests of the task cache from the command line: `larkflow run` twice serves a `cache=True` task from
 * the cache the second time (show and history mark it), `larkflow cache ls/rm/prune`, `--no-cache`,
 * `--refresh-cache`, `--storage DIR` for large results, and clear usage errors. In process through
 * `main(argv, io)`, on a temporary database (the cache.db and blobs/ beside it).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, scratchDirs, type CliResult } from '../helpers/cli.js';
import { S3rver } from '../helpers/s3rver.js';

const fresh = scratchDirs('larkflow-cache-cli-');

const JS_FRAME = /at .*\.(js|ts):\d+/;

const WORKFLOW = `
double = task("double", cache = True)
fleeting = task("fleeting", cache = True, cache_ttl = "1ms")
plain = task("plain")

@workflow()
def w(n):
    return [double(n), fleeting(n), plain(n)]
`;

const TASKS = `
export function double(x) { return x * 2; }
export function fleeting(x) { return x + 1; }
export function plain(x) { return -x; }
export function big(n) { return 'x'.repeat(n); }
`;

const BIG = `
big = task("big", cache = True)

@workflow()
def w(n):
    return len(big(n))
`;

/** The run id a `larkflow run` names first on stderr. */
function runIdOf(r: CliResult): string {
  const m = /^run (run-[0-9a-f]+) started/.exec(r.err);
  expect(m, r.err).not.toBeNull();
  return m![1]!;
}

/** `TaskCompleted` sources by step, from `larkflow history --json`. */
async function sources(db: string, runId: string): Promise<Record<string, string>> {
  const h = await cli('history', runId, '--json', '--db', db);
  expect(h.code, h.err).toBe(0);
  const out: Record<string, string> = {};
  for (const e of JSON.parse(h.out) as { kind: string; stepId?: string; source?: string }[]) if (e.kind === 'TaskCompleted') out[e.stepId!] = e.source!;
  return out;
}

interface LsEntry {
  key: string;
  task: string;
  size: number;
  hits: number;
  expired: boolean;
  expires: string;
  step: string;
}

async function ls(db: string, ...extra: string[]): Promise<LsEntry[]> {
  const r = await cli('cache', 'ls', '--json', '--db', db, ...extra);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as LsEntry[];
}

describe('larkflow cache', () => {
  it('a second run serves cache=True tasks from the cache; show, history and cache ls say so', async () => {
    const t = fresh();
    const tasks = t.file('tasks.mjs', TASKS);
    const wf = t.file('w.star', WORKFLOW);
    const first = await cli('run', wf, 'n=5', '--tasks', tasks, '--db', t.db);
    expect(first.code, first.err).toBe(0);
    expect(JSON.parse(first.out)).toEqual([10, 6, -5]);
    expect(await sources(t.db, runIdOf(first))).toEqual({ 'double#1': 'executed', 'fleeting#1': 'executed', 'plain#1': 'executed' });
    expect(existsSync(join(t.dir, 'cache.db'))).toBe(true);

    await new Promise((r) => setTimeout(r, 5)); // fleeting's 1ms TTL has passed
    const second = await cli('run', wf, 'n=5', '--tasks', tasks, '--db', t.db);
    expect(second.code, second.err).toBe(0);
    expect(JSON.parse(second.out)).toEqual([10, 6, -5]);
    const id2 = runIdOf(second);
    // double is a hit; fleeting expired, so it ran again; plain is not cacheable.
    expect(await sources(t.db, id2)).toEqual({ 'double#1': 'cache', 'fleeting#1': 'executed', 'plain#1': 'executed' });

    const show = await cli('show', id2, '--db', t.db);
    expect(show.code, show.err).toBe(0);
    expect(show.out).toMatch(/double#1\s+completed \(cached\)/);
    expect(show.out).not.toMatch(/fleeting#1\s+completed \(cached\)/);
    expect(show.out).not.toMatch(/plain#1\s+completed \(cached\)/);
    const history = await cli('history', id2, '--db', t.db);
    expect(history.out).toMatch(/TaskCompleted.*step=double#1 attempt=0 source=cache/);

    const entries = await ls(t.db);
    expect(entries.map((e) => e.task).sort()).toEqual(['double', 'fleeting']);
    const double = entries.find((e) => e.task === 'double')!;
    expect(double).toMatchObject({ hits: 1, expired: false, size: 2, step: 'double#1' });
    expect(double.key).toMatch(/^[0-9a-f]{64}$/);
    // 28 days by default
    expect(Date.parse(double.expires) - Date.now()).toBeGreaterThan(27 * 86_400_000);
    expect(entries.find((e) => e.task === 'fleeting')).toMatchObject({ hits: 0, expired: true });

    // The table: short key, task, size, age, expiry, hits.
    const table = await cli('cache', 'ls', '--db', t.db);
    expect(table.code, table.err).toBe(0);
    const lines = table.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^KEY\s+TASK\s+SIZE\s+AGE\s+EXPIRES\s+HITS$/);
    expect(table.out).toMatch(new RegExp(`${double.key.slice(0, 16)}\\s+double\\s+2 B\\s+\\S+\\s+in 27d23h\\s+1\\n`));
    expect(table.out).toMatch(/fleeting\s+1 B\s+\S+\s+expired\s+0/);
    expect((await cli('cache', 'ls', '--task', 'double', '--db', t.db)).out.trimEnd().split('\n')).toHaveLength(2);
    expect(await ls(t.db, '--task', 'plain')).toEqual([]);

    // prune removes the expired entry only
    const prune = await cli('cache', 'prune', '--db', t.db);
    expect(prune).toMatchObject({ code: 0, out: 'pruned 1 expired cache entry\n' });
    expect((await ls(t.db)).map((e) => e.task)).toEqual(['double']);
    expect((await cli('cache', 'prune', '--db', t.db)).out).toBe('pruned 0 expired cache entries\n');

    // rm --task, then the next run executes double again
    const rm = await cli('cache', 'rm', '--task', 'double', '--db', t.db);
    expect(rm).toMatchObject({ code: 0, out: 'removed 1 cache entry of task double\n' });
    expect(await ls(t.db)).toEqual([]);
    const none = await cli('cache', 'ls', '--db', t.db);
    expect(none).toMatchObject({ code: 0, out: '' });
    expect(none.err).toContain('no cache entries');
    const third = await cli('run', wf, 'n=5', '--tasks', tasks, '--db', t.db);
    expect((await sources(t.db, runIdOf(third)))['double#1']).toBe('executed');
  });

  it('cache rm KEY takes the key or a unique prefix; an unknown key is a clear error', async () => {
    const t = fresh();
    const tasks = t.file('tasks.mjs', TASKS);
    const wf = t.file('w.star', WORKFLOW);
    expect((await cli('run', wf, 'n=1', '--tasks', tasks, '--db', t.db)).code).toBe(0);
    expect((await cli('run', wf, 'n=2', '--tasks', tasks, '--db', t.db)).code).toBe(0);
    const entries = await ls(t.db, '--task', 'double');
    expect(entries).toHaveLength(2);

    const byPrefix = await cli('cache', 'rm', entries[0]!.key.slice(0, 16), '--db', t.db);
    expect(byPrefix.code, byPrefix.err).toBe(0);
    expect(byPrefix.out).toBe(`removed cache entry ${entries[0]!.key.slice(0, 16)} (task double)\n`);
    const byKey = await cli('cache', 'rm', entries[1]!.key.toUpperCase(), '--db', t.db);
    expect(byKey.code, byKey.err).toBe(0);
    expect(await ls(t.db, '--task', 'double')).toEqual([]);

    const again = await cli('cache', 'rm', entries[1]!.key, '--db', t.db);
    expect(again.code).toBe(2);
    expect(again.err).toBe(`larkflow: cache rm: no cache entry ${entries[1]!.key} in ${join(t.dir, 'cache.db')} (\`larkflow cache ls\` lists the entries)\n`);

    const cases: [string[], string][] = [
      [['cache', 'rm'], 'give a KEY (as `larkflow cache ls` shows it) or --task NAME'],
      [['cache', 'rm', 'abcdef0123', '--task', 'double'], 'not both'],
      [['cache', 'rm', 'not-a-key'], '"not-a-key" is not a cache key'],
      [['cache', 'rm', 'abc'], 'too short; give at least 8 characters'],
      [['run', wf, 'n=1', '--no-cache', '--refresh-cache', '--tasks', tasks], '--no-cache and --refresh-cache contradict each other'],
      [['run', wf, 'n=1', '--storage', 's3://'], 'invalid storage URL'],
      [['run', wf, 'n=1', '--storage', 'gs://bucket/x'], 'only s3:// URLs and directories are supported'],
      [['run', wf, 'n=1', '--storage', tasks], 'is a file; give a directory'],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv, '--db', t.db);
      expect(r.code, `${argv.join(' ')}: ${r.err}`).toBe(2);
      expect(r.err).toContain(message);
      expect(r.err).not.toMatch(JS_FRAME);
    }
    const noTask = await cli('cache', 'rm', '--task', 'nope', '--db', t.db);
    expect(noTask).toMatchObject({ code: 0, out: '' });
    expect(noTask.err).toBe('no cache entries of task nope; nothing removed\n');

    // Without a database there is nothing cached, and nothing is created.
    const empty = join(t.dir, 'empty', 'runs.db');
    expect(await ls(empty)).toEqual([]);
    expect((await cli('cache', 'prune', '--db', empty)).out).toBe('pruned 0 expired cache entries\n');
    expect((await cli('cache', 'rm', 'abcdef0123', '--db', empty)).code).toBe(2);
    expect(existsSync(join(t.dir, 'empty'))).toBe(false);
  });

  it('--no-cache runs every task and stores nothing; --refresh-cache runs them and stores fresh results', async () => {
    const t = fresh();
    const tasks = t.file('tasks.mjs', TASKS);
    const wf = t.file('w.star', WORKFLOW);
    const off = await cli('run', wf, 'n=3', '--no-cache', '--tasks', tasks, '--db', t.db);
    expect(off.code, off.err).toBe(0);
    expect(await sources(t.db, runIdOf(off))).toEqual({ 'double#1': 'executed', 'fleeting#1': 'executed', 'plain#1': 'executed' });
    expect(await ls(t.db)).toEqual([]);

    const warm = await cli('run', wf, 'n=3', '--tasks', tasks, '--db', t.db);
    expect(warm.code, warm.err).toBe(0);
    const [before] = await ls(t.db, '--task', 'double');
    const hit = await cli('run', wf, 'n=3', '--tasks', tasks, '--db', t.db);
    expect((await sources(t.db, runIdOf(hit)))['double#1']).toBe('cache');
    expect((await ls(t.db, '--task', 'double'))[0]!.hits).toBe(1);

    const skip = await cli('run', wf, 'n=3', '--no-cache', '--tasks', tasks, '--db', t.db);
    expect((await sources(t.db, runIdOf(skip)))['double#1']).toBe('executed');
    expect((await ls(t.db, '--task', 'double'))[0]!.hits).toBe(1); // not looked up, not replaced

    await new Promise((r) => setTimeout(r, 5));
    const refresh = await cli('run', wf, 'n=3', '--refresh-cache', '--tasks', tasks, '--db', t.db);
    expect(refresh.code, refresh.err).toBe(0);
    const id = runIdOf(refresh);
    expect(await sources(t.db, id)).toEqual({ 'double#1': 'executed', 'fleeting#1': 'executed', 'plain#1': 'executed' });
    const after = (await ls(t.db, '--task', 'double'))[0]!;
    expect(after.key).toBe(before!.key);
    expect(after.hits).toBe(0); // a fresh entry
    expect(Date.parse(after.expires)).toBeGreaterThan(Date.parse(before!.expires));
    const runStarted = JSON.parse((await cli('history', id, '--json', '--db', t.db)).out)[0];
    expect(runStarted).toMatchObject({ kind: 'RunStarted', cacheMode: 'refresh' });
  });

  it('resume --no-cache / --refresh-cache', async () => {
    const t = fresh();
    const tasks = t.file('tasks.mjs', TASKS);
    const wf = t.file('w.star', WORKFLOW);
    const first = await cli('run', wf, 'n=4', '--tasks', tasks, '--db', t.db);
    const id = runIdOf(first);
    const resumed = await cli('resume', id, '--from', 'fleeting', '--no-cache', '--tasks', tasks, '--db', t.db);
    expect(resumed.code, resumed.err).toBe(0);
    expect(JSON.parse(resumed.out)).toEqual([8, 5, -4]);
    const resumedId = runIdOf(resumed);
    expect(await sources(t.db, resumedId)).toEqual({ 'double#1': 'reused', 'fleeting#1': 'executed', 'plain#1': 'executed' });
    const started = JSON.parse((await cli('history', resumedId, '--json', '--db', t.db)).out)[0] as { cacheMode?: string };
    // Engine.resume() takes the cache mode once the engine supports it (reported to the lead); until
    // then the CLI says that it was ignored rather than ignoring it silently.
    if (started.cacheMode === undefined) expect(resumed.err).toContain(`warning: this engine ignores --no-cache on resume; run ${resumedId} uses the task cache`);
    else expect(started.cacheMode).toBe('off');
    const both = await cli('resume', id, '--no-cache', '--refresh-cache', '--tasks', tasks, '--db', t.db);
    expect(both.code).toBe(2);
    expect(both.err).toContain('contradict');
  });

  it('--storage DIR keeps large results as blobs there, and a cache hit reads them back', async () => {
    const t = fresh();
    const tasks = t.file('tasks.mjs', TASKS);
    const wf = t.file('big.star', BIG);
    const store = join(t.dir, 'store');
    const n = 100_000; // above the 64 KiB threshold
    const first = await cli('run', wf, `n=${n}`, '--storage', store, '--tasks', tasks, '--db', t.db);
    expect(first.code, first.err).toBe(0);
    expect(JSON.parse(first.out)).toBe(n);
    const shards = readdirSync(join(store, 'blobs')).filter((d) => /^[0-9a-f]{2}$/.test(d));
    expect(shards).toHaveLength(1);
    expect(existsSync(join(t.dir, 'blobs'))).toBe(false); // not the default place
    const events = JSON.parse((await cli('history', runIdOf(first), '--json', '--db', t.db)).out) as { kind: string; result?: { $blob?: string; size?: number } }[];
    const done = events.find((e) => e.kind === 'TaskCompleted')!;
    expect(done.result).toMatchObject({ $blob: expect.stringMatching(/^[0-9a-f]{64}$/), size: n + 2 });
    expect(shards[0]).toBe(done.result!.$blob!.slice(0, 2));

    const second = await cli('run', wf, `n=${n}`, '--storage', store, '--tasks', tasks, '--db', t.db);
    expect(second.code, second.err).toBe(0);
    expect(JSON.parse(second.out)).toBe(n);
    expect(await sources(t.db, runIdOf(second))).toEqual({ 'big#1': 'cache' });
    const [entry] = await ls(t.db);
    expect(entry).toMatchObject({ task: 'big', size: n + 2, hits: 1 });
    expect((await cli('cache', 'ls', '--db', t.db)).out).toMatch(/big\s+97\.7 KiB/);
  });

  it('--storage s3://bucket/prefix stores large results in S3 (endpoint and credentials from AWS_* variables)', async () => {
    const t = fresh();
    const tasks = t.file('tasks.mjs', TASKS);
    const wf = t.file('big.star', BIG);
    const server = await S3rver.start({ directory: join(t.dir, 's3rver'), bucket: 'cli-bucket' });
    const vars = { AWS_ENDPOINT_URL_S3: server.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
    const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
    Object.assign(process.env, vars);
    try {
      const n = 70_000;
      const first = await cli('run', wf, `n=${n}`, '--storage', 's3://cli-bucket/team/a', '--tasks', tasks, '--db', t.db);
      expect(first.code, first.err).toBe(0);
      const events = JSON.parse((await cli('history', runIdOf(first), '--json', '--db', t.db)).out) as { kind: string; result?: { $blob?: string; uri?: string } }[];
      const marker = events.find((e) => e.kind === 'TaskCompleted')!.result!;
      expect(marker.uri).toBe(`s3://cli-bucket/team/a/blobs/${marker.$blob!.slice(0, 2)}/${marker.$blob!.slice(2)}`);
      expect(existsSync(join(t.dir, 'blobs'))).toBe(false);
      // The hit reads the blob back from S3.
      const second = await cli('run', wf, `n=${n}`, '--storage', 's3://cli-bucket/team/a', '--tasks', tasks, '--db', t.db);
      expect(second.code, second.err).toBe(0);
      expect(JSON.parse(second.out)).toBe(n);
      expect(await sources(t.db, runIdOf(second))).toEqual({ 'big#1': 'cache' });
      // With the server gone, a fresh result cannot be stored: the run fails naming the storage problem.
      await server.stop();
      const down = await cli('run', wf, `n=${n}`, '--refresh-cache', '--storage', 's3://cli-bucket/team/a', '--tasks', tasks, '--db', t.db);
      expect(down.code).toBe(1);
      expect(down.err).toMatch(/cannot store the result of big: cannot store blob [0-9a-f]{64} in s3:\/\/cli-bucket\/team\/a \(endpoint http:\/\/127\.0\.0\.1:\d+\): the server cannot be reached \(ECONNREFUSED\)/);
      expect(down.err).not.toMatch(JS_FRAME);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await server.stop();
    }
  });
});
