/**
 * `resume` and `worker` and the workflow file on disk. Before: both silently ran the run's stored
 * script when the file had changed, and `resume` had no way to take the fixed file
 * (`--workflow FILE`, wired to `engine.resume(runId, { file })`; a fixed file whose calls do not
 * reach the reused steps is reported as `larkflow replay` reports a mismatch, exit 3).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli, scratchDirs } from '../helpers/cli.js';
import { collectScript, Engine, type RunStarted } from '../../src/engine/index.js';

const fresh = scratchDirs('lf-resume-');
const BUNDLE = fileURLToPath(new URL('../../dist/bundle/larkflow.mjs', import.meta.url));

/** Runs the built `larkflow ARGV...` in `cwd` (the stored script's file is looked for there). */
function larkflow(cwd: string, ...argv: string[]): { code: number | null; out: string; err: string } {
  expect(existsSync(BUNDLE), 'dist/ is built by npm test (npm run build)').toBe(true);
  const r = spawnSync(process.execPath, [BUNDLE, ...argv], { cwd, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const TASKS = `
export function fetch(n) { return n * 10; }
export function parse(x) { if (x > 5) throw new Error('cannot parse ' + x); return x; }
export function parse_v2(x) { return x + 1; }
`;

const WF = `
fetch = task("fetch")
parse = task("parse")

@workflow()
def main(n = 1):
    data = fetch(n)
    return parse(data)
`;

describe('resume --workflow FIXED.star', () => {
  it('resumes with the fixed file: the recorded steps before the failed one are reused', async () => {
    const t = fresh();
    const tasks = t.file('t.mjs', TASKS);
    const wf = t.file('wf.star', WF);
    const r1 = await cli('run', wf, '--tasks', tasks, '--db', t.db);
    expect(r1.code).toBe(1);
    const runId = /run (run-[0-9a-f]+) started/.exec(r1.err)![1]!;
    const fixed = t.file('fixed.star', WF.replace('parse = task("parse")', 'parse = task("parse_v2")'));
    const r2 = await cli('resume', runId, '--workflow', fixed, '--tasks', tasks, '--db', t.db);
    expect(r2.code, r2.err).toBe(0);
    expect(JSON.parse(r2.out)).toBe(11);
    expect(r2.err).toMatch(/fetch#1\s+completed\s+\(reused\)/);
    expect(r2.err).not.toMatch(/warning/);
    const newId = /run (run-[0-9a-f]+) started/.exec(r2.err)![1]!;
    const engine = Engine.open({ db: t.db });
    try {
      expect((engine.history(newId)[0] as RunStarted).scriptDigest).toBe(collectScript(fixed).digest);
    } finally {
      await engine.close();
    }
  });

  it('a fixed file that does not reach the reused steps with the same calls: the mismatch, as replay prints it, and exit 3', async () => {
    const t = fresh();
    const tasks = t.file('t.mjs', TASKS);
    const wf = t.file('wf.star', WF);
    const r1 = await cli('run', wf, '--tasks', tasks, '--db', t.db);
    const runId = /run (run-[0-9a-f]+) started/.exec(r1.err)![1]!;
    const bad = t.file('bad.star', WF.replace('data = fetch(n)', 'data = fetch(n + 1)'));
    const r2 = await cli('resume', runId, '--workflow', bad, '--tasks', tasks, '--db', t.db);
    expect(r2.code, r2.err).toBe(3);
    expect(r2.out).toBe('');
    expect(r2.err).toMatch(new RegExp(`^MISMATCH: run ${runId} does not replay against .*bad\\.star`, 'm'));
    expect(r2.err).toMatch(/fetch#1/);
    // The details larkflow replay prints: the recorded and the new call.
    const replay = await cli('replay', runId, '--workflow', bad, '--db', t.db);
    expect(replay.code).toBe(3);
    for (const line of replay.out.split('\n').filter((l) => /^\s+(recorded|now|differs):/.test(l))) expect(r2.err).toContain(line);
    // No new run was recorded.
    const runs = await cli('runs', '--json', '--db', t.db);
    expect(JSON.parse(runs.out)).toHaveLength(1);
  });

  it('a missing fixed file is a usage error', async () => {
    const t = fresh();
    const r1 = await cli('run', t.file('wf.star', WF), '--tasks', t.file('t.mjs', TASKS), '--db', t.db);
    const runId = /run (run-[0-9a-f]+) started/.exec(r1.err)![1]!;
    const r = await cli('resume', runId, '--workflow', join(t.dir, 'nope.star'), '--db', t.db);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/cannot read workflow file .*nope\.star/);
  });
});

describe('the script on disk changed', () => {
  it('resume says it resumes with the stored script, and how to use the changed file', () => {
    const t = fresh();
    t.file('t.mjs', TASKS);
    t.file('wf.star', WF);
    const r1 = larkflow(t.dir, 'run', 'wf.star', '--tasks', 't.mjs', '--db', t.db);
    expect(r1.code).toBe(1);
    const runId = /run (run-[0-9a-f]+) started/.exec(r1.err)![1]!;
    // Unchanged: nothing to say.
    expect(larkflow(t.dir, 'resume', runId, '--tasks', 't.mjs', '--db', t.db).err).not.toMatch(/differs/);
    writeFileSync(join(t.dir, 'wf.star'), WF.replace('parse = task("parse")', 'parse = task("parse_v2")'));
    const r2 = larkflow(t.dir, 'resume', runId, '--tasks', 't.mjs', '--db', t.db);
    expect(r2.err).toMatch(
      new RegExp(
        `the script of run ${runId} differs from wf\\.star on disk \\(stored digest [0-9a-f]{12}…, file digest [0-9a-f]{12}…\\): resuming with the stored script; ` +
          `to resume with the changed file, use \`larkflow resume ${runId} --workflow wf\\.star\``,
      ),
    );
    expect(r2.code).toBe(1); // the stored script still calls the failing task
  });

  it('worker says it continues a run with the stored script', () => {
    const t = fresh();
    t.file('wf.star', WF);
    t.file('hang.mjs', 'export function fetch() { return new Promise(() => {}); }\nexport function parse(x) { return x; }\n');
    const r1 = larkflow(t.dir, 'run', 'wf.star', '--tasks', 'hang.mjs', '--db', t.db);
    expect(r1.code).toBe(4);
    const runId = /run (run-[0-9a-f]+) started/.exec(r1.err)![1]!;
    writeFileSync(join(t.dir, 'wf.star'), WF.replace('return parse(data)', 'return parse(data) + 1'));
    t.file('t.mjs', 'export function fetch(n) { return n; }\nexport function parse(x) { return x; }\n');
    const w = larkflow(t.dir, 'worker', '--until-idle', '--tasks', 't.mjs', '--db', t.db);
    expect(w.code, w.err).toBe(0);
    expect(w.err).toMatch(new RegExp(`^worker: the script of run ${runId} differs from wf\\.star on disk .*: continuing it with the stored script`, 'm'));
    expect(w.out).toBe(`${runId} completed (workflow main)\n`);
  });
});
