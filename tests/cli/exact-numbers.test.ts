/**
 * Ints beyond 2^53 in what the CLI prints: `run` printed "Do not know how to serialize a BigInt" and
 * exited 1 for a completed run, and `show` printed history's internal `{"$bigint": ...}` tag. Every
 * value the CLI prints now has every digit.
 */
import { describe, expect, it } from 'vitest';
import { cli, scratchDirs } from '../helpers/cli.js';
import { exactJson } from '../../src/cli/json-out.js';

const fresh = scratchDirs('lf-bigint-');

const WF = `
big = task("big")

@workflow()
def main(n = 0):
    return {"shift": 1 << 60, "list": [1 << 70, 3], "task": big(), "n": n, "small": 5}
`;
const TASKS = 'export function big() { return 2n ** 64n + 1n; }\n';

const SHIFT = '1152921504606846976';
const LIST = '1180591620717411303424';
const TASK = '18446744073709551617';
const INPUT = '9007199254740993'; // 2^53 + 1: JSON.parse would make it ...992

describe('exact JSON printer', () => {
  it('prints bigints and history tags as exact JSON numbers, everything else as JSON.stringify does', () => {
    expect(exactJson({ a: 2n ** 60n, b: [{ $bigint: '-123456789012345678901' }, 1.5, 'x'], c: undefined }, 2)).toBe(
      `{\n  "a": ${SHIFT},\n  "b": [\n    -123456789012345678901,\n    1.5,\n    "x"\n  ]\n}`,
    );
    for (const v of [null, [], {}, { a: [1, { b: 'c' }] }, 'é"\n', [undefined, NaN]]) {
      expect(exactJson(v)).toBe(JSON.stringify(v));
      expect(exactJson(v, 2)).toBe(JSON.stringify(v, null, 2));
    }
    // Only the exact tag is one: other objects with a $bigint key are printed as they are.
    expect(exactJson({ $bigint: '12', other: 1 })).toBe('{"$bigint":"12","other":1}');
    expect(exactJson({ $bigint: 'not digits' })).toBe('{"$bigint":"not digits"}');
  });
});

describe('larkflow run/show/history print big ints exactly', () => {
  it('run prints the result with every digit and exits 0', async () => {
    const t = fresh();
    const wf = t.file('big.star', WF);
    const tasks = t.file('t.mjs', TASKS);
    const r = await cli('run', wf, `n=${INPUT}`, '--tasks', tasks, '--db', t.db);
    expect(r.code, r.err).toBe(0);
    expect(r.err).not.toMatch(/BigInt|\$bigint/);
    expect(r.out).toContain(`"shift": ${SHIFT}`);
    expect(r.out).toContain(`${LIST},`);
    expect(r.out).toContain(`"task": ${TASK}`);
    expect(r.out).toContain(`"n": ${INPUT}`);
    // The progress line of the task's result, too.
    expect(r.err).toMatch(new RegExp(`big#1\\s+completed .*→ ${TASK}`));
    const runId = /run (run-[0-9a-f]+) started/.exec(r.err)![1]!;

    const show = await cli('show', runId, '--db', t.db);
    expect(show.code).toBe(0);
    expect(show.out).toContain(`result: {"shift":${SHIFT},"list":[${LIST},3],"task":${TASK},"n":${INPUT},"small":5}`);
    expect(show.out).toContain(`inputs: n=${INPUT}`);
    expect(show.out).not.toContain('$bigint');

    const json = await cli('show', runId, '--json', '--db', t.db);
    expect(json.out).toContain(`"shift": ${SHIFT}`);
    expect(json.out).not.toContain('$bigint');
    expect(JSON.parse(json.out).status).toBe('completed');

    const history = await cli('history', runId, '--db', t.db);
    expect(history.out).toMatch(new RegExp(`TaskCompleted .*result=${TASK}`));
    expect(history.out).toContain(`RunCompleted`);
    expect(history.out).toContain(`"shift":${SHIFT}`);
    expect(history.out).not.toContain('$bigint');
  });

  it('time.time_ns() as a result', async () => {
    const t = fresh();
    const wf = t.file('ns.star', '@workflow()\ndef main():\n    return time.time_ns()\n');
    const r = await cli('run', wf, '--db', t.db);
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim()).toMatch(/^\d{19}$/);
  });
});
