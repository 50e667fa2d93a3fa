/** The README's embedding example, run as written (through the package entry point). */
import { describe, expect, it } from 'vitest';
import { Builtin, List, Pending, Source, Thread, call, evalExpr, execFile, startFile, toJSON, unpackArgs } from '../src/index.js';

describe('README embedding example', () => {
  it('runs a module, calls a function, evaluates an expression and suspends', () => {
    const printed: string[] = [];
    const thread = new Thread({ print: (msg) => printed.push(msg), maxSteps: 1e7, maxCallDepth: 500 });
    const greet = new Builtin('greet', (_th, args, kwargs) => {
      const [name, punct] = unpackArgs('greet', args, kwargs, ['name', 'punct?']);
      return `hello ${String(name)}${String(punct ?? '!')}`;
    });
    const globals = execFile(thread, new Source('app.star', 'msg = greet("world")\ndef double(x):\n    return 2 * x\nprint(msg)\n'), new Map([['greet', greet]]));
    expect(toJSON(globals.get('msg')!)).toBe('hello world!');
    expect(printed).toEqual(['hello world!']);
    expect(call(thread, globals.get('double')!, [21])).toBe(42);
    expect((evalExpr(new Thread(), '[x * x for x in range(4)]') as List).elems).toEqual([0, 1, 4, 9]);

    const ask = new Builtin('ask', (_th, args) => new Pending({ question: args[0] }));
    const t = new Thread();
    let out = startFile(t, new Source('q.star', 'answer = ask("meaning?") + 1\n'), new Map([['ask', ask]]));
    expect(out.done).toBe(false);
    if (!out.done) expect(out.pending.request).toEqual({ question: 'meaning?' });
    if (!out.done) out = t.resume(41);
    expect(out.done && out.value.get('answer')).toBe(42);
  });
});
