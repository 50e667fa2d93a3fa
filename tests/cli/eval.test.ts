/** `larkflow eval` and `larkflow test`: output, exit codes, and errors without JS stack traces. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'larkflow-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const NO_JS_STACK = /\bat .*\.(js|ts|mjs):\d+/;

describe('larkflow eval', () => {
  it('runs a file: print to stdout, exit 0', async () => {
    const r = await cli('eval', file('ok.star', 'print("héllo", 1 + 2)\nprint(sorted([3, 1, 2]))\n'));
    expect(r).toEqual({ code: 0, out: 'héllo 3\n[1, 2, 3]\n', err: '' });
  });

  it('prints the value of an expression with -c', async () => {
    expect(await cli('eval', '-c', '{"a": [x * x for x in range(3)]}')).toEqual({ code: 0, out: '{"a": [0, 1, 4]}\n', err: '' });
  });

  it('reports a syntax error with file:line:col and the line, exit 1', async () => {
    const p = file('bad.star', 'x = 1\ny = (2 +\n');
    const r = await cli('eval', p);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
    expect(r.err).not.toMatch(NO_JS_STACK);
  });

  it('reports a run-time error as a Starlark traceback, exit 1', async () => {
    const p = file('boom.star', 'def f(d):\n    return d["missing"]\nf({})\n');
    const r = await cli('eval', p);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`Traceback (most recent call last):\n  ${p}:3:2: in <toplevel>\n    f({})\n  ${p}:2:13: in f\n    return d["missing"]\nError: key "missing" not in dict\n`);
  });

  it('turns dialect options on with flags', async () => {
    const p = file('while.star', 'def f():\n    n = 0\n    while n < 3:\n        n += 1\n    return n\nprint(f())\n');
    expect((await cli('eval', p)).code).toBe(1);
    expect(await cli('eval', '--while', p)).toMatchObject({ code: 0, out: '3\n' });
  });

  it('loads files relative to the script and the json/math libraries', async () => {
    file('lib.star', 'def sq(x):\n    return x * x\n');
    const p = file('main.star', 'load("lib.star", "sq")\nload("json.star", "json")\nprint(json.encode({"v": sq(4)}))\n');
    expect(await cli('eval', p)).toMatchObject({ code: 0, out: '{"v":16}\n' });
  });

  it('says clearly when the file is missing, exit 1', async () => {
    const r = await cli('eval', join(dir, 'nope.star'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot read .*nope\.star: no such file/);
    expect(r.err).not.toMatch(NO_JS_STACK);
  });
});

describe('larkflow test', () => {
  it('runs chunks, reports failures as file:line: message and ends with N passed, M failed', async () => {
    const p = file(
      'chunks.star',
      [
        'load("assert.star", "assert")',
        'assert.eq(1 + 1, 2)',
        '---',
        'load("assert.star", "assert")',
        'assert.eq(1 + 1, 3)',
        '---',
        'x = 1 + "a" ### "unknown binary op"',
        '---',
        'y = 1 ### "never happens"',
        '',
      ].join('\n'),
    );
    const r = await cli('test', p);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${p}:5: 2 != 3`);
    expect(r.out).toContain(`${p}:9: expected error matching "never happens" did not occur`);
    expect(r.out.trim().split('\n').pop()).toBe('2 passed, 2 failed');
  });

  it('exits 0 when everything passes', async () => {
    const p = file('pass.star', 'load("assert.star", "assert")\nassert.true(True)\n');
    expect(await cli('test', p)).toMatchObject({ code: 0 });
  });
});
