/**
 * Suspension: a builtin returning a Pending pauses the whole thread (nested frames, loops,
 * comprehensions); resume continues exactly there, re-executing nothing.
 */
import { describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Builtin, EvalError, Pending, Source, Thread, startFile, startCall, type Value, List, type Outcome, type ModuleGlobals } from '../../src/interpreter/index.js';

const printed: string[] = [];
function thread(): Thread {
  printed.length = 0;
  return new Thread({ print: (m) => printed.push(m) });
}
const wait = new Builtin('wait', (_th, args) => new Pending({ asked: args[0] }));
const predeclared = new Map<string, Value>([['wait', wait]]);

const DEEP = `
def f0(x):
    print("enter f0", x)
    return [wait(x + i) for i in range(2)]
${Array.from({ length: 9 }, (_, i) => `
def f${i + 1}(x):
    out = []
    for j in range(1):
        out.append(f${i}(x + 1))
    return out[0]
`).join('')}
result = f9(0)
print("done")
`;

describe('suspension', () => {
  it('pauses 10 nested frames inside a loop and a comprehension, and resumes without re-execution', () => {
    const th = thread();
    let out: Outcome<ModuleGlobals> = startFile(th, new Source('deep.star', DEEP), predeclared);
    const asked: unknown[] = [];
    let n = 0;
    while (!out.done) {
      const req = out.pending.request as { asked: Value };
      asked.push(req.asked);
      expect(th.stack.map((c) => c.name)).toEqual(['<toplevel>', 'f9', 'f8', 'f7', 'f6', 'f5', 'f4', 'f3', 'f2', 'f1', 'f0']);
      out = th.resume(`r${n++}`);
    }
    expect(asked).toEqual([9, 10]);
    const result = out.value.get('result') as List;
    expect(result.elems).toEqual(['r0', 'r1']);
    // "enter f0" printed once: nothing before the pause ran twice.
    expect(printed).toEqual(['enter f0 9', 'done']);
  });

  it('resumeWithError raises a Starlark error at the pending call, with a traceback', () => {
    const th = thread();
    const out = startFile(th, new Source('e.star', 'def g():\n    return wait(1)\nx = g()\n'), predeclared);
    expect(out.done).toBe(false);
    let err: unknown;
    try {
      th.resumeWithError(new EvalError('task failed: boom'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EvalError);
    const bt = (err as EvalError).backtrace();
    expect(bt).toContain('e.star:3:6: in <toplevel>');
    expect(bt).toContain('e.star:2:16: in g');
    expect(bt).toContain('Error: task failed: boom');
  });

  it('many paused threads coexist independently', () => {
    const src = new Source('m.star', 'def h(n):\n    a = wait(n)\n    b = wait(a + 1)\n    return a * b\nr = h(N)\n');
    const threads = Array.from({ length: 50 }, (_, i) => {
      const th = new Thread();
      const out = startFile(th, src, new Map<string, Value>([...predeclared, ['N', i]]));
      return { th, out };
    });
    const results = threads.map(({ th, out }, i) => {
      expect(out.done).toBe(false);
      const o1 = th.resume(i * 10);
      expect(o1.done).toBe(false);
      const o2 = th.resume(i * 10 + 1) as Outcome<ModuleGlobals>;
      if (!o2.done) throw new Error('expected done');
      return o2.value.get('r');
    });
    expect(results).toEqual(threads.map((_, i) => i * 10 * (i * 10 + 1)));
  });

  it('startCall suspends a function called from JS', () => {
    const th = thread();
    const mod = startFile(th, new Source('c.star', 'def k(x):\n    return wait(x) + 1\n'), predeclared);
    if (!mod.done) throw new Error('module should finish');
    const k = mod.value.get('k')!;
    const th2 = new Thread();
    const out = startCall(th2, k, [41]);
    expect(out.done).toBe(false);
    const fin = th2.resume(41);
    expect(fin).toEqual({ done: true, value: 42 });
  });

  it('a suspension inside a builtin callback is a clean error', () => {
    const th = thread();
    expect(() => startFile(th, new Source('s.star', 'x = sorted([3, 1], key = lambda v: wait(v))\n'), predeclared)).toThrow(/cannot suspend inside a builtin callback/);
  });

  it('when nothing blocks, evaluation completes synchronously', () => {
    const th = thread();
    const out = startFile(th, new Source('n.star', 'x = [i for i in range(10)]\n'), predeclared);
    expect(out.done).toBe(true);
  });
});
