/**
 * How `larkflow run` writes its progress: `--quiet` (no progress lines; a run that does not complete
 * is still reported), `--log-format json` (one JSON object per line per event, for programs), and
 * buffered writes (before: one write system call per progress line, which cost the CLI two thirds of
 * the engine's throughput; the rate itself is measured in bench/engine.mjs, not here).
 */
import { describe, expect, it } from 'vitest';
import { cli, scratchDirs } from '../helpers/cli.js';
import { BufferedOutput } from '../../src/cli/output.js';

const fresh = scratchDirs('lf-progress-');

const TASKS = 'export function step(i) { return i * 2; }\nexport function big() { return 2n ** 64n; }\nexport function boom() { throw new Error("kaboom"); }\n';
const WF = 'step = task("step")\nbig = task("big")\n\n@workflow()\ndef main(n = 3):\n    progress.report("half way")\n    return [step(i) for i in range(n)] + [big()]\n';
const FAILING = 'boom = task("boom")\n\n@workflow()\ndef main():\n    return boom()\n';

describe('--quiet', () => {
  it('prints no progress for a completed run, only its result', async () => {
    const t = fresh();
    const r = await cli('run', t.file('wf.star', WF), '--quiet', '--tasks', t.file('t.mjs', TASKS), '--db', t.db);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toContain('18446744073709551616');
  });

  it('still reports a run that does not complete, with its error', async () => {
    const t = fresh();
    const r = await cli('run', t.file('wf.star', FAILING), '-q', '--tasks', t.file('t.mjs', TASKS), '--db', t.db);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^run run-[0-9a-f]+ failed in \d+ms: step boom#1 failed: kaboom/);
    expect(r.err).toContain('task boom#1 failed: kaboom');
    expect(r.err).not.toMatch(/scheduled|started \(workflow/);
  });
});

describe('--log-format json', () => {
  it('writes one JSON object per line per event, with the step status, and the outcome', async () => {
    const t = fresh();
    const r = await cli('run', t.file('wf.star', WF), '--log-format', 'json', '--tasks', t.file('t.mjs', TASKS), '--db', t.db);
    expect(r.code, r.err).toBe(0);
    const lines = r.err.trimEnd().split('\n');
    const objs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const runId = objs[0]!.runId as string;
    expect(objs[0]).toMatchObject({ kind: 'RunStarted', runId, status: 'running', workflow: 'main', seq: 1 });
    expect(objs[0]).not.toHaveProperty('env');
    expect(objs.find((o) => o.kind === 'ProgressReported')).toMatchObject({ message: 'half way' });
    expect(objs.filter((o) => o.kind === 'TaskScheduled').map((o) => [o.stepId, o.status])).toEqual([
      ['step#1', 'scheduled'],
      ['step#2', 'scheduled'],
      ['step#3', 'scheduled'],
      ['big#1', 'scheduled'],
    ]);
    expect(objs.find((o) => o.kind === 'TaskCompleted' && o.stepId === 'step#2')).toMatchObject({ status: 'completed', result: 2, runId });
    // Big ints are exact JSON numbers in the log too.
    expect(lines.find((l) => l.includes('"stepId":"big#1"') && l.includes('TaskCompleted'))).toContain('"result":18446744073709551616');
    expect(objs.at(-2)).toMatchObject({ kind: 'RunCompleted', status: 'completed' });
    expect(objs.at(-1)).toMatchObject({ kind: 'outcome', runId, status: 'completed' });
    for (const o of objs.slice(0, -1)) expect(typeof o.time === 'string' && !Number.isNaN(Date.parse(o.time))).toBe(true);
  });

  it('a failed run: its outcome is a JSON object with the error', async () => {
    const t = fresh();
    const r = await cli('run', t.file('wf.star', FAILING), '--log-format', 'json', '--tasks', t.file('t.mjs', TASKS), '--db', t.db);
    expect(r.code).toBe(1);
    const last = JSON.parse(r.err.trimEnd().split('\n').at(-1)!) as { kind: string; status: string; error: { message: string } };
    expect(last).toMatchObject({ kind: 'outcome', status: 'failed' });
    expect(last.error.message).toMatch(/kaboom/);
  });

  it('with --quiet: nothing for a completed run, the outcome of a failed one', async () => {
    const t = fresh();
    const tasks = t.file('t.mjs', TASKS);
    const ok = await cli('run', t.file('wf.star', WF), '--quiet', '--log-format', 'json', '--tasks', tasks, '--db', t.db);
    expect(ok.code).toBe(0);
    expect(ok.err).toBe('');
    const bad = await cli('run', t.file('bad.star', FAILING), '--quiet', '--log-format', 'json', '--tasks', tasks, '--db', t.db);
    expect(bad.code).toBe(1);
    expect(bad.err.trimEnd().split('\n').map((l) => (JSON.parse(l) as { kind: string }).kind)).toEqual(['outcome']);
  });

  it('an unknown format is a usage error', async () => {
    const t = fresh();
    const r = await cli('run', t.file('wf.star', WF), '--log-format', 'yaml', '--db', t.db);
    expect(r.code).toBe(2);
  });
});

describe('buffered output', () => {
  it('writes many lines in few writes, keeps the order across stdout and stderr, and flushes on demand', () => {
    const writes: [string, string][] = [];
    const o = new BufferedOutput({ out: (s) => void writes.push(['out', s]), err: (s) => void writes.push(['err', s]) }, { intervalMs: 60_000 });
    for (let i = 0; i < 1000; i++) o.io.err(`line ${i}\n`);
    expect(writes).toEqual([]);
    o.io.out('result\n');
    o.io.err('done\n');
    o.flush();
    expect(writes.map(([s]) => s)).toEqual(['err', 'out', 'err']);
    expect(writes[0]![1].split('\n')).toHaveLength(1001);
    expect(writes.map(([, t]) => t).join('')).toBe([...Array.from({ length: 1000 }, (_, i) => `line ${i}\n`), 'result\n', 'done\n'].join(''));
  });

  it('writes when the buffer is full, and when the last write is old even if the event loop never runs', () => {
    const writes: string[] = [];
    const full = new BufferedOutput({ out: () => {}, err: (s) => void writes.push(s) }, { limit: 100, intervalMs: 60_000 });
    for (let i = 0; i < 25; i++) full.io.err('0123456789');
    expect(writes.map((w) => w.length)).toEqual([100, 100]);
    full.flush();
    expect(writes.map((w) => w.length)).toEqual([100, 100, 50]);
    const timed: string[] = [];
    const slow = new BufferedOutput({ out: (s) => void timed.push(s), err: () => {} }, { intervalMs: 20 });
    const until = Date.now() + 60;
    while (Date.now() < until) slow.io.out('x'); // a synchronous loop (larkflow eval printing)
    expect(timed.length).toBeGreaterThan(0);
    slow.flush();
    // limit 0 (eval, chunked test): every write goes through at once.
    const direct: string[] = [];
    const d = new BufferedOutput({ out: (s) => void direct.push(s), err: (s) => void direct.push(s) }, { limit: 0, intervalMs: 60_000 });
    d.io.out('a');
    d.io.err('b');
    expect(direct).toEqual(['a', 'b']);
  });
});
