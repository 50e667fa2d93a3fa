/**
 * Big integers cross the task boundary exactly (issue 9): a JS task gets a BigInt for history's
 * `{"$bigint": "digits"}` and its BigInt result goes back exactly; a process task reads a plain
 * JSON number with every digit, and a big integer it writes is read without rounding.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRequest } from '../../src/engine/core/ports.js';
import { FunctionExecutor, ProcessExecutor } from '../../src/engine/executors/index.js';
import { isBigintMarker, parseExactJson, writeExactJson } from '../../src/engine/executors/exact-json.js';
import { testEngine, drive } from './helpers.js';

let root = '';
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'larkflow-executors-bigint-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

let seq = 0;
function request(task: string, over: Partial<TaskRequest> = {}): TaskRequest {
  const stepId = `${task}#${++seq}`;
  return { runId: 'run-big', stepId, attempt: 1, idempotencyKey: `run-big/${stepId}/1`, task, args: [], kwargs: {}, signal: new AbortController().signal, ...over };
}

const BIG = '123456789012345678901234567890';
const NEG = '-98765432109876543210';

describe('exact JSON', () => {
  it('writes a big integer marker as the number, with every digit', () => {
    expect(writeExactJson({ a: [1, { $bigint: BIG }], b: { $bigint: NEG }, c: 'x', d: 1.5, e: null })).toBe(`{"a":[1,${BIG}],"b":${NEG},"c":"x","d":1.5,"e":null}`);
    // Not a marker: other keys, or not digits.
    expect(writeExactJson({ $bigint: 'abc' })).toBe('{"$bigint":"abc"}');
    expect(writeExactJson({ $bigint: '1', x: 1 })).toBe('{"$bigint":"1","x":1}');
  });

  it('reads an integer beyond 2^53 exactly, and everything else as JSON.parse does', () => {
    expect(parseExactJson(`{"n": ${BIG}, "m": [${NEG}, 9007199254740991, 9007199254740993], "f": 1e20, "g": 12345678901234567890.5, "s": "12345678901234567890"}`)).toEqual({
      n: { $bigint: BIG },
      m: [{ $bigint: NEG }, 9007199254740991, { $bigint: '9007199254740993' }],
      f: 1e20,
      g: 12345678901234567890.5,
      s: '12345678901234567890',
    });
    const text = '{"a":[true,false,null,"\\u00e9\\n\\"q\\"",-0.5e-3,{}],"b":[],"__proto__":{"x":1},"long":"' + '7'.repeat(40) + '"}';
    expect(parseExactJson(text)).toEqual(JSON.parse(text));
    expect(Object.getPrototypeOf(parseExactJson(text))).toBe(Object.prototype);
    expect(isBigintMarker(parseExactJson(BIG))).toBe(true);
  });

  it('gives JSON.parse\'s own error for text that is not JSON', () => {
    for (const bad of [`{"n": ${BIG},}`, `[${BIG}`, `${BIG} x`, `{"a" ${BIG}}`]) {
      let want = '';
      try {
        JSON.parse(bad);
      } catch (e) {
        want = (e as Error).message;
      }
      expect(() => parseExactJson(bad)).toThrow(want);
    }
  });
});

describe('FunctionExecutor: big integers', () => {
  it('passes a BigInt for a big integer argument (positional and keyword) and returns a BigInt result exactly', async () => {
    const ex = new FunctionExecutor();
    const seen: unknown[] = [];
    ex.register('double', (x: bigint, kw: { y: bigint; small: number }) => {
      seen.push(typeof x, typeof kw.y, typeof kw.small);
      return { doubled: x * 2n, y: kw.y, small: BigInt(kw.small) };
    });
    const outcome = await ex.submit(request('double', { args: [{ $bigint: BIG }], kwargs: { y: { $bigint: NEG }, small: 5 } })).done;
    expect(seen).toEqual(['bigint', 'bigint', 'number']);
    expect(outcome).toEqual({ ok: true, value: { doubled: { $bigint: (BigInt(BIG) * 2n).toString() }, y: { $bigint: NEG }, small: 5 } });
  });

  it('through the engine: a Starlark big int reaches a JS task as a BigInt and comes back exact', async () => {
    const t = testEngine();
    t.engine.registerTask('inc', (x: bigint) => (typeof x === 'bigint' ? x + 1n : 'not a bigint'));
    const src = `inc = task("inc")\n@workflow()\ndef w():\n    return inc(${BIG}) - ${BIG}\n`;
    const h = t.engine.start({ source: { name: 'b.star', text: src } });
    await drive(t);
    expect(await h.result).toMatchObject({ status: 'completed', result: 1 });
  });
});

describe('ProcessExecutor: big integers', () => {
  it('writes big integers into input.json as plain numbers and reads big integers of output.json exactly', async () => {
    const ex = new ProcessExecutor({ workDir: join(root, 'p') });
    // The task copies its input text's numbers through as text: what it reads is what it writes.
    const code = [
      'const fs = require("node:fs");',
      'const text = fs.readFileSync(process.env.LARKFLOW_INPUT, "utf8");',
      'const m = /"args":\\[([^\\]]*)\\]/.exec(text);',
      'fs.writeFileSync(process.env.LARKFLOW_OUTPUT, `{"echo": [${m[1]}], "made": 340282366920938463463374607431768211456}`);',
    ].join('\n');
    const req = request('big', { command: [process.execPath, '-e', code], args: [{ $bigint: BIG }, 7, { $bigint: NEG }] });
    const outcome = await ex.submit(req).done;
    const input = readFileSync(join(ex.attemptDir(req), 'input.json'), 'utf8');
    expect(input).toContain(`"args":[${BIG},7,${NEG}]`);
    expect(input).not.toContain('$bigint');
    expect(outcome).toEqual({ ok: true, value: { echo: [{ $bigint: BIG }, 7, { $bigint: NEG }], made: { $bigint: '340282366920938463463374607431768211456' } } });
  });

  const hasPython = spawnSync('python3', ['--version']).status === 0;
  it.runIf(hasPython)('a Python task reads a big integer as an int and its big int result comes back exact', async () => {
    const ex = new ProcessExecutor({ workDir: join(root, 'py') });
    const code = [
      'import json, os',
      'inp = json.load(open(os.environ["LARKFLOW_INPUT"]))',
      'x = inp["args"][0]',
      'json.dump({"type": type(x).__name__, "next": x + 1, "square": x * x}, open(os.environ["LARKFLOW_OUTPUT"], "w"))',
    ].join('\n');
    const outcome = await ex.submit(request('py', { command: ['python3', '-c', code], args: [{ $bigint: BIG }] })).done;
    const x = BigInt(BIG);
    expect(outcome).toEqual({ ok: true, value: { type: 'int', next: { $bigint: (x + 1n).toString() }, square: { $bigint: (x * x).toString() } } });
  });
});
