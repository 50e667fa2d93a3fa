/**
 * Regression tests for bugs that new users found in the CLI (issue 9): each failed before its fix.
 */
import { describe, expect, it } from 'vitest';
import { cli, scratchDirs } from '../helpers/cli.js';

const fresh = scratchDirs('lf-first-use-');

const NOOP_TASKS = 'export function add(a, b) { return a + b; }\nexport function flaky() { throw new Error("nope"); }\n';

describe('retries', () => {
  it('a step whose retries ran out says "(after 3 attempts)" once on its line', async () => {
    const t = fresh();
    const wf = t.file('flaky.star', 'flaky = task("flaky", retry = RetryPolicy(max_attempts = 3, initial_interval = "1ms"))\n\n@workflow()\ndef main():\n    return flaky()\n');
    const r = await cli('run', wf, '--tasks', t.file('t.mjs', NOOP_TASKS), '--db', t.db);
    expect(r.code).toBe(1);
    const line = r.err.split('\n').find((l) => l.startsWith('task flaky#1'));
    expect(line).toBe('task flaky#1 failed: nope (after 3 attempts)');
  });
});

describe('run ids', () => {
  it('an empty or blank run id is a usage error, not a prefix of every run', async () => {
    const t = fresh();
    const wf = t.file('wf.star', 'add = task("add")\n\n@workflow()\ndef main():\n    return add(1, 2)\n');
    expect((await cli('run', wf, '--tasks', t.file('t.mjs', NOOP_TASKS), '--db', t.db)).code).toBe(0);
    for (const id of ['', ' ', 'run-']) {
      for (const cmd of ['show', 'history', 'cancel']) {
        const r = await cli(cmd, id, '--db', t.db);
        expect({ cmd, id, code: r.code }).toEqual({ cmd, id, code: 2 });
        expect(r.err).toMatch(/no run id given/);
      }
    }
  });
});
