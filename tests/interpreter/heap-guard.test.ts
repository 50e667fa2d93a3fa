/**
 * The default allocation budget (issue 9 §2): derived from the V8 heap the process has, it stops a
 * script whose live values grow towards the heap limit with a clean EvalError instead of an
 * out-of-memory crash, on every value-producing path, while a script that only churns (allocates and
 * drops garbage) runs to the end. Each run is a child `node` process on the built package (dist/;
 * npm test builds first) with a small heap, so a crash shows as the child dying.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = new URL('../../dist/index.js', import.meta.url);

interface Result {
  readonly name: string;
  readonly kind?: string;
  readonly message?: string;
  readonly ok?: boolean;
}

/** Runs each script on a fresh default Thread in one child with `heapMb` of V8 heap; its results. */
function runInChild(scripts: Record<string, string>, heapMb: number): { status: number | null; signal: string | null; results: Result[]; stderr: string } {
  const child = `
    import { Thread, execFile, json } from ${JSON.stringify(dist.href)};
    const scripts = ${JSON.stringify(scripts)};
    for (const [name, text] of Object.entries(scripts)) {
      let r;
      try {
        execFile(new Thread(), text, new Map([['json', json]]), { set: true, while: true });
        r = { name, ok: true };
      } catch (e) {
        r = { name, kind: e.kind, message: e.message };
      }
      console.log(JSON.stringify(r));
    }`;
  const r = spawnSync(process.execPath, [`--max-old-space-size=${heapMb}`, '--input-type=module', '-e', child], {
    encoding: 'utf8',
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    timeout: 240_000,
  });
  const results = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Result);
  return { status: r.status, signal: r.signal, results, stderr: r.stderr };
}

describe('the default allocation budget (issue 9 §2)', () => {
  it('dist/ is built (npm test builds first)', () => {
    expect(existsSync(dist)).toBe(true);
  });

  it('[[0] * 1000000 for _ in range(1000)] fails with a budget error, not an out-of-memory crash', () => {
    const { status, signal, results, stderr } = runInChild({ runaway: 'r = [[0] * 1000000 for _ in range(1000)]\n' }, 384);
    expect({ status, signal }, stderr.slice(-2000)).toEqual({ status: 0, signal: null });
    expect(results).toHaveLength(1);
    expect(results[0]!.kind).toBe('budget');
    expect(results[0]!.message).toMatch(/^allocation budget exceeded: \d+ MB of heap in use( and \d+ MB more wanted)?, limit \d+ MB \(of the \d+ MB V8 heap\)$/);
  }, 240_000);

  it('holds on every value-producing path, and lets a churning script finish', () => {
    const scripts: Record<string, string> = {
      // Churn first: 800 MB of garbage through a 160 MB heap must not fail.
      churn: 'def f():\n    for i in range(100):\n        x = [0] * 1000000\n        y = "ab" * 100000 + str(i)\n        z = {j: j for j in range(1000)}\nf()\n',
      comprehension: 'r = [[i] for i in range(100000000)]\n',
      append: 'def f():\n    l = []\n    for i in range(100000000):\n        l.append([i])\nf()\n',
      repeat: 'r = [[0] * 1000000 for _ in range(1000)]\n',
      concat: 'r = [[0] * 100000 + [1] * 100000 for _ in range(10000)]\n',
      augmented: 'def f():\n    l = []\n    for i in range(10000):\n        l += [0] * 100000\nf()\n',
      extend: 'def f():\n    l = [[] for _ in range(10000)]\n    for x in l:\n        x.extend(range(100000))\nf()\n',
      range: 'r = [list(range(1000000)) for _ in range(1000)]\n',
      dict: 'r = {i: i for i in range(100000000)}\n',
      dicts: 'r = [dict([(j, j) for j in range(100000)]) for _ in range(1000)]\n',
      set: 'r = [set(range(1000000)) for _ in range(1000)]\n',
      tuple: 'r = [tuple(range(1000000)) for _ in range(1000)]\n',
      zip: 'big = list(range(1000000))\nr = [zip(big, big) for _ in range(1000)]\n',
      enumerate: 'big = list(range(1000000))\nr = [enumerate(big) for _ in range(1000)]\n',
      sorted: 'big = list(range(1000000))\nr = [sorted(big) for _ in range(1000)]\n',
      reversed: 'big = list(range(1000000))\nr = [reversed(big) for _ in range(1000)]\n',
      slices: 'big = list(range(1000000))\nr = [big[1:] for _ in range(1000)]\n',
      strings: 'r = [("ab" * 1000000).upper() for _ in range(1000)]\n',
      replace: 'r = [("ab" * 1000000).replace("a", "xy") for _ in range(1000)]\n',
      join: 'parts = [str(i) for i in range(100000)]\nr = [",".join(parts) for _ in range(10000)]\n',
      split: 'text = ",".join([str(i) for i in range(100000)])\nr = [text.split(",") for _ in range(10000)]\n',
      repr: 'big = list(range(100000))\nr = [str(big) for _ in range(10000)]\n',
      format: 'big = list(range(100000))\nr = ["%s" % big for _ in range(10000)]\n',
      json: 'text = json.encode(list(range(100000)))\nr = [json.decode(text) for _ in range(10000)]\n',
      items: 'd = {i: i for i in range(100000)}\nr = [d.items() for _ in range(10000)]\n',
    };
    const { status, signal, results, stderr } = runInChild(scripts, 160);
    expect({ status, signal }, stderr.slice(-2000)).toEqual({ status: 0, signal: null });
    const byName = new Map(results.map((r) => [r.name, r]));
    expect(byName.get('churn')).toEqual({ name: 'churn', ok: true });
    for (const name of Object.keys(scripts).filter((n) => n !== 'churn')) {
      const r = byName.get(name);
      expect(r, name).toBeDefined();
      expect([name, r!.kind, r!.message]).toEqual([name, 'budget', expect.stringMatching(/^allocation budget exceeded/)]);
    }
  }, 240_000);
});
