/**
 * `larkflow replay --all --workflow FILE` selects the runs of FILE by the script's file identity, not
 * by workflow name across files: before, when FILE had no runs of its own, the runs of every other
 * file defining a workflow of the same name (`def main`) were replayed against it.
 */
import { describe, expect, it } from 'vitest';
import { cli, scratchDirs } from '../helpers/cli.js';

const fresh = scratchDirs('lf-replay-all-');

const TASKS = 'export function a(x) { return x; }\nexport function b(x) { return -x; }\n';
const A = 'a = task("a")\n\n@workflow()\ndef main(x = 1):\n    return a(x)\n';
const B = 'b = task("b")\n\n@workflow()\ndef main(x = 1):\n    return b(x) + 1\n';

describe('replay --all: which runs are of FILE', () => {
  it('does not replay the runs of another file that defines a workflow of the same name', async () => {
    const t = fresh();
    const tasks = t.file('t.mjs', TASKS);
    const a = t.file('a.star', A);
    const b = t.file('b.star', B);
    expect((await cli('run', a, '--tasks', tasks, '--db', t.db)).code).toBe(0);
    // b.star has no runs: nothing to replay (before: a.star's run was replayed against b.star, exit 3).
    const r = await cli('replay', '--all', '--workflow', b, '--db', t.db);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/no recorded runs of .*b\.star/);
    expect(r.out).not.toMatch(/MISMATCH/);
    expect(r.err).toMatch(/not replayed \(a\.star: 1 run\); if b\.star is one of them renamed, pass --renamed-from a\.star/);
    // Its own runs are replayed, and only those.
    expect((await cli('run', b, '--tasks', tasks, '--db', t.db)).code).toBe(0);
    const own = await cli('replay', '--all', '--workflow', b, '--db', t.db);
    expect(own.code).toBe(0);
    expect(own.out).toMatch(/OK: all 1 recorded runs of .*b\.star/);
  });

  it('finds the runs of a renamed file: unchanged by its text, changed with --renamed-from', async () => {
    const t = fresh();
    const tasks = t.file('t.mjs', TASKS);
    const a = t.file('a.star', A);
    expect((await cli('run', a, '--tasks', tasks, '--db', t.db)).code).toBe(0);
    // The same code under a new name: its stored script is this text, so the run is this file's.
    const moved = t.file('moved.star', A);
    const same = await cli('replay', '--all', '--workflow', moved, '--db', t.db);
    expect(same.code, same.out + same.err).toBe(0);
    expect(same.out).toMatch(/OK: all 1 recorded runs of .*moved\.star/);
    // Renamed and changed: only with --renamed-from (then the change is caught).
    const changed = t.file('changed.star', A.replace('return a(x)', 'return a(x + 1)'));
    const without = await cli('replay', '--all', '--workflow', changed, '--db', t.db);
    expect(without.code).toBe(0);
    expect(without.out).toMatch(/no recorded runs/);
    const withFlag = await cli('replay', '--all', '--workflow', changed, '--renamed-from', 'a.star', '--db', t.db);
    expect(withFlag.code, withFlag.out).toBe(3);
    expect(withFlag.out).toMatch(/MISMATCH run-/);
    // The rule is in the help.
    const help = await cli('replay', '--help');
    expect(help.out).toMatch(/--renamed-from/);
    expect(help.out).toMatch(/Which runs --all replays/);
  });
});
