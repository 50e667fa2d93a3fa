/**
 * What compiled f-strings and chained comparisons evaluate to, run on the engine, against Python's
 * values (hard-coded; computed with CPython 3.11). Where Starlark's repr of a string differs from
 * Python's (double quotes), the expected value says so.
 */
import { describe, expect, it } from 'vitest';
import { compilePythonWorkflow } from '../../src/python/index.js';
import { numbered, runCompiled } from './helpers.js';

const FSTRINGS = `from larkflow import workflow

@workflow()
def w(a: int = 5, name: str = "Ann", pi: float = 3.14159, items: list = [1, 2], d: dict = {"k": "v"}) -> list:
    return [
        f"{a} and {name!r}",
        f"{{literal}} {a*2} }}",
        f'{name}\\'s {"q"} {d["k"]}',
        f"{a:d}|{a:x}|{a:X}|{a:o}|{pi:f}|{pi:e}|{255:x}",
        f"{a=}",
        f"{a + 1 = }",
        f"{items}",
        f"100% {a}%",
        f"""multi
line {a}""",
        f"{name!s:s}",
        f"{'nested ' + f'{a}'}",
        rf"\\d{a}",
        f"{a}" "plain" f"{name}",
        f"{3 if a > 2 else 4}",
        f"{a!r}",
        f"no fields",
        f"{name}",
        f"{d["k"]}{a, name}",
    ]
`;

const PYTHON_FSTRINGS = [
  // Python: "5 and 'Ann'" (Starlark's repr quotes strings with ")
  '5 and "Ann"',
  '{literal} 10 }',
  "Ann's q v",
  '5|5|5|5|3.141590|3.141590e+00|ff',
  'a=5',
  'a + 1 = 6',
  '[1, 2]',
  '100% 5%',
  'multi\nline 5',
  'Ann',
  'nested 5',
  '\\d5',
  '5plainAnn',
  '3',
  '5',
  'no fields',
  'Ann',
  // Python 3.12: "v(5, 'Ann')"
  'v(5, "Ann")',
];

const CHAINS = `from larkflow import task, workflow

@task()
def f(x):
    ...

@workflow()
def w(a=5, name="Ann", items=[1, 2]):
    pure = [0 < a < 10, 0 < a < 3, 1 < 2 < a < 6, a > 4 > 3 >= 3, 1 < 2 > 3, "a" < name < "B", 1 == 1.0 != 2, 2 in items not in [False], a < 10 == True]
    r1 = 0 < f(1) < 3
    r2 = 5 < f(2) < f(3)
    r3 = f(4) < f(5) < f(6)
    r4 = [x for x in range(8) if 2 <= x < 5]
    r5 = 0 <= -a < 10
    return {"pure": pure, "calls": [r1, r2, r3], "comp": r4, "neg": r5}
`;

describe('f-strings', () => {
  it('evaluate as in Python: each field once, left to right, conversions, supported specs, escapes', async () => {
    const c = compilePythonWorkflow(FSTRINGS, 'fs.py');
    expect(c.starlark.split('\n').length).toBe(FSTRINGS.split('\n').length);
    const r = await runCompiled(c, 'w', {}, {});
    expect(r.status, `${JSON.stringify(r.error)}\n${numbered(c.starlark)}`).toBe('completed');
    expect(r.result).toEqual(PYTHON_FSTRINGS);
  });

  it('are emitted as % formatting, a lone field as str()', () => {
    const c = compilePythonWorkflow(FSTRINGS, 'fs.py');
    const lines = c.starlark.split('\n');
    expect(lines[5]).toBe('        ("%s and %r" % (a, name)),');
    expect(lines[9]).toBe('        ("a=%r" % (a,)),');
    expect(lines[12]).toBe('        ("100%% %s%%" % (a,)),');
    expect(lines[13]).toBe('        ("""multi');
    expect(lines[14]).toBe('line %s""" % (a,)),');
    expect(lines[22]).toBe('        str(name),');
  });

  it('evaluate each field exactly once, in order (task calls in fields)', async () => {
    const text = ['from larkflow import task, workflow', '@task()', 'def f(x):', '    ...', '@workflow()', 'def w():', '    return f"{f(1)}-{f(2)}-{f(1)!r}"'].join('\n');
    const seen: unknown[] = [];
    const r = await runCompiled(compilePythonWorkflow(text, 'w.py'), 'w', {}, {
      f: (args) => {
        seen.push(args[0]);
        return `v${String(args[0])}`;
      },
    });
    expect(r.result).toBe('v1-v2-"v1"');
    expect(seen).toEqual([1, 2, 1]);
  });
});

const SPECS = `from larkflow import workflow

@workflow()
def w(acc=0.91234, n=42, name="Ann", neg=-3.14159, t=2.675, big=1234567.891, half=0.125, z=0):
    return [f"{acc:.2f}", f"{acc:.0f}", f"{n:5d}", f"{n:<5}|", f"{name:>6}", f"{name:*^7}", f"{neg:+.3f}", f"{n:+d}", f"{n:05d}", f"{neg:08.2f}", f"{t:.2f}", f"{big:.1f}", f"{half:.1%}", f"{half:.2f}", f"{n:x>4}", f"{name:.2}", f"{n:10.3f}", f"{z:.3f}", f"{acc:f}", f"{1.5:.0f}", f"{2.5:.0f}", f"{name!r:>8}", f"{n: d}", f"{-7:5}", f"{True:.1f}", f"acc={acc:.3f} n={n}"]
`;

describe('f-string format specs beyond % formatting', () => {
  it('evaluate as in Python through the appended __uf_fmt helper (exact half-even rounding)', async () => {
    const c = compilePythonWorkflow(SPECS, 'specs.py');
    const lines = c.starlark.split('\n');
    // The helper comes after the file's last line: the .py lines keep their numbers.
    expect(lines.slice(0, 5).join('\n')).toMatch(/^\n\n@workflow\(\)\ndef w\(/);
    expect(lines[4]).toContain('__uf_fmt(acc, "f", 2, " ", "", 0, "-")');
    expect(lines.slice(5).some((l) => l.startsWith('def __uf_fmt('))).toBe(true);
    const r = await runCompiled(c, 'w', {}, {});
    expect(r.status, `${JSON.stringify(r.error)}\n${numbered(c.starlark)}`).toBe('completed');
    expect(r.result).toEqual([
      '0.91', '1', '   42', '42   |', '   Ann', '**Ann**', '-3.142', '+42', '00042', '-0003.14', '2.67', '1234567.9', '12.5%', '0.12', 'xx42', 'An',
      '    42.000', '0.000', '0.912340', '2', '2',
      // Python: "   'Ann'" (Starlark's repr quotes strings with ")
      '   "Ann"',
      ' 42', '   -7', '1.0', 'acc=0.912 n=42',
    ]);
  });

  it('are compile errors where the helper cannot follow Python', () => {
    for (const [spec, why] of [
      [':,d', 'the , grouping'],
      [':#x', 'the # flag'],
      [':.3e', 'precision with type e'],
      [':g', 'type g'],
      [':{w}', 'nested replacement fields'],
    ] as const) {
      const text = ['from larkflow import workflow', '@workflow()', 'def w(x, w=3):', `    return f"{x${spec}}"`].join('\n');
      let message = '';
      try {
        compilePythonWorkflow(text, 'w.py');
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toContain(`w.py:4:14: not supported yet: format spec "${spec}" in an f-string (${why})`);
    }
  });
});

describe('chained comparisons', () => {
  it('evaluate as in Python, each operand once, stopping at the first false comparison', async () => {
    const c = compilePythonWorkflow(CHAINS, 'ch.py');
    const seen: unknown[] = [];
    const r = await runCompiled(c, 'w', {}, {
      f: (args) => {
        seen.push(args[0]);
        return (args[0] as number) * 2;
      },
    });
    expect(r.status, `${JSON.stringify(r.error)}\n${numbered(c.starlark)}`).toBe('completed');
    expect(r.result).toEqual({
      pure: [true, false, true, true, false, false, true, true, false],
      calls: [true, false, true],
      comp: [2, 3, 4],
      neg: false,
    });
    // f(3) is never called: 5 < f(2) is already false.
    expect(seen).toEqual([1, 2, 4, 5, 6]);
  });

  it('bind non-trivial operands with lambdas and use simple ones directly', () => {
    const c = compilePythonWorkflow(CHAINS, 'ch.py');
    const lines = c.starlark.split('\n');
    expect(lines[8]).toMatch(/^    pure = \[\(0 < a and a < 10\), /);
    expect(lines[9]).toBe('    r1 = ((lambda __c0: 0 < __c0 and __c0 < 3)(f(1)))');
    expect(lines[11]).toBe('    r3 = ((lambda __c2: (lambda __c3: __c2 < __c3 and __c3 < f(6))(f(5)))(f(4)))');
  });
});
