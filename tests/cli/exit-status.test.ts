/**
 * "Exit 0 means completed", through the built CLI (dist/bundle/larkflow.mjs, a process of its own:
 * what is tested here is the process's exit handlers). Before: a task that never settles let the
 * event loop empty and Node exit 0 with the run unfinished; a `process.exit(0)` from a tasks module
 * did the same; a stray error thrown by task code after the result was printed crashed the CLI with
 * a Node stack trace; process warnings came out as raw `(node:PID) Warning:` lines.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { scratchDirs } from '../helpers/cli.js';

const fresh = scratchDirs('lf-exit-');
const BUNDLE = fileURLToPath(new URL('../../dist/bundle/larkflow.mjs', import.meta.url));
const NODE_TRACE = /^\s+at .*:\d+:\d+\)?$|^Node\.js v\d+/m;

/** Runs the built `larkflow ARGV...` in `cwd`. */
function larkflow(cwd: string, ...argv: string[]): { code: number | null; out: string; err: string } {
  expect(existsSync(BUNDLE), 'dist/ is built by npm test (npm run build)').toBe(true);
  const r = spawnSync(process.execPath, [BUNDLE, ...argv], { cwd, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The status of a run in the database, through `larkflow runs --json`. */
function statusOf(cwd: string, db: string, runId: string): string {
  const r = larkflow(cwd, 'runs', '--json', '--db', db);
  return (JSON.parse(r.out) as { id: string; status: string }[]).find((x) => x.id === runId)!.status;
}

const WAITS = `
slow = task("slow")

@workflow()
def main():
    return slow()
`;

describe('a run that cannot finish does not exit 0', () => {
  it('a task that never settles: exit 4, what it waits on, the run stays unfinished; so does worker --until-idle', () => {
    const t = fresh();
    t.file('wf.star', WAITS);
    t.file('t.mjs', 'export function slow() { return new Promise(() => {}); }\n');
    const r = larkflow(t.dir, 'run', 'wf.star', '--tasks', 't.mjs', '--db', t.db);
    expect(r.code, r.err).toBe(4);
    expect(r.out).toBe('');
    const runId = /run (run-[0-9a-f]+) started/.exec(r.err)![1]!;
    expect(r.err).toContain(`larkflow: run ${runId} did not finish: nothing is left in this process that could finish it`);
    expect(r.err).toMatch(/waiting on task slow \(step slow#1, attempt 1, started \d\d:\d\d:\d\d, at wf\.star:6\) for \d+/);
    expect(r.err).toContain(`\`larkflow cancel ${runId}\` cancels it`);
    expect(r.err).not.toMatch(NODE_TRACE);
    expect(statusOf(t.dir, t.db, runId)).toBe('running');

    const w = larkflow(t.dir, 'worker', '--until-idle', '--tasks', 't.mjs', '--db', t.db);
    expect(w.code, w.err).toBe(4);
    expect(w.err).toContain(`worker: run ${runId} did not finish`);
    expect(w.err).toMatch(/waiting on task slow \(step slow#1/);
    expect(w.out).toBe(`${runId} unfinished (workflow main): it did not finish in this worker\n`);
  });

  it('--log-format json: the unfinished run is a JSON line too', () => {
    const t = fresh();
    t.file('wf.star', WAITS);
    t.file('t.mjs', 'export function slow() { return new Promise(() => {}); }\n');
    const r = larkflow(t.dir, 'run', 'wf.star', '--tasks', 't.mjs', '--db', t.db, '--log-format', 'json');
    expect(r.code).toBe(4);
    const last = JSON.parse(r.err.trim().split('\n').pop()!) as { kind: string; waiting: string[] };
    expect(last.kind).toBe('unfinished');
    expect(last.waiting[0]).toMatch(/^waiting on task slow \(step slow#1/);
  });

  it('process.exit(0) from the tasks module while the run waits: exit 4 and what it waited on', () => {
    const t = fresh();
    t.file('wf.star', WAITS);
    // Outside any task's call (module code), so no executor can turn it into a failed attempt.
    t.file('t.mjs', 'setTimeout(() => process.exit(0), 300);\nexport function slow() { return new Promise((r) => setTimeout(() => r(1), 5000)); }\n');
    const r = larkflow(t.dir, 'run', 'wf.star', '--tasks', 't.mjs', '--db', t.db);
    expect(r.code, r.err).toBe(4);
    expect(r.out).toBe('');
    const runId = /run (run-[0-9a-f]+) started/.exec(r.err)![1]!;
    expect(r.err).toContain(`larkflow: run ${runId} did not finish: the process is exiting before the run ended`);
    expect(r.err).toMatch(/waiting on task slow \(step slow#1, attempt 1/);
    expect(statusOf(t.dir, t.db, runId)).toBe('running');
  });

  it('--log-format json: the guard reports in JSON too', () => {
    const t = fresh();
    t.file('wf.star', WAITS);
    t.file('t.mjs', 'setTimeout(() => process.exit(0), 300);\nexport function slow() { return new Promise((r) => setTimeout(() => r(1), 5000)); }\n');
    const r = larkflow(t.dir, 'run', 'wf.star', '--tasks', 't.mjs', '--db', t.db, '--log-format', 'json');
    expect(r.code, r.err).toBe(4);
    const lines = r.err.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; message?: string; details?: string[] });
    expect(lines.at(-1)).toMatchObject({ kind: 'unfinished' });
    expect(lines.at(-1)!.message).toMatch(/did not finish: the process is exiting/);
    expect(lines.at(-1)!.details![0]).toMatch(/^waiting on task slow/);
  });

  it('a tasks module that ends the process while it is imported: exit 4, not 0', () => {
    const t = fresh();
    t.file('wf.star', WAITS);
    t.file('t.mjs', 'process.exit(0);\nexport function slow() { return 1; }\n');
    const r = larkflow(t.dir, 'run', 'wf.star', '--tasks', 't.mjs', '--db', t.db);
    expect(r.code, r.err).toBe(4);
    expect(r.err).toContain('larkflow run did not finish: the process is exiting before it did');
    const w = larkflow(t.dir, 'worker', '--until-idle', '--tasks', 't.mjs', '--db', t.db);
    expect(w.code).not.toBe(0);
  });

  it('a stray process.exit(0) after a failed run keeps exit status 1', () => {
    const t = fresh();
    t.file('wf.star', 'boom = task("boom")\n\n@workflow()\ndef main():\n    return boom()\n');
    t.file('t.mjs', 'export function boom() { setTimeout(() => process.exit(0), 200); throw new Error("no"); }\n');
    const r = larkflow(t.dir, 'run', 'wf.star', '--tasks', 't.mjs', '--db', t.db);
    expect(r.code, r.err).toBe(1);
    expect(r.err).toMatch(/failed/);
  });
});

describe('errors outside a task call', () => {
  it('print one line, no stack trace, and keep the exit status of the run', () => {
    const t = fresh();
    t.file('wf.star', 'late = task("late")\n\n@workflow()\ndef main():\n    return late(1)\n');
    t.file(
      't.mjs',
      'Promise.reject(new Error("module rejection"));\n' + 'export function late(x) { setTimeout(() => { throw new Error("late boom"); }, 100); return x; }\n',
    );
    const r = larkflow(t.dir, 'run', 'wf.star', '--tasks', 't.mjs', '--db', t.db);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toBe(1);
    expect(r.err).toContain('larkflow: a task raised an error outside its call: late boom');
    expect(r.err).toContain('larkflow: a task raised an error outside its call: module rejection');
    expect(r.err).not.toMatch(NODE_TRACE);
  });
});

describe('process warnings', () => {
  it('print as one larkflow line, not as "(node:PID) Warning:"', () => {
    const t = fresh();
    t.file('wf.star', 'a = task("a")\n\n@workflow()\ndef main():\n    return a()\n');
    t.file('t.mjs', 'process.emitWarning("the tasks module is old");\nexport function a() { return 2; }\n');
    const r = larkflow(t.dir, 'run', 'wf.star', '--tasks', 't.mjs', '--db', t.db);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('larkflow: warning: the tasks module is old');
    expect(r.err).not.toContain('(node:');
  });
});
