/**
 * Issue 10 (the Go worker runs any function): a plain top-level def runs as a workflow when named,
 * through the engine and the CLI; the module's top level sees the run's environment.
 */
import { describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine, MemoryEventStore } from '../../src/engine/index.js';
import { cli, scratchDirs } from '../helpers/cli.js';

const fresh = scratchDirs('lf-plaindef-');
const SRC = 'add = task("add")\nMODE = os.environ["MODE"]\ndef main(x = 1):\n    return [add(x, 2), MODE]\n';

describe('a plain def as a workflow', () => {
  it('runs when named (engine.start), with os.environ read at the top level', async () => {
    const engine = Engine.open({ db: new MemoryEventStore() });
    engine.registerTask('add', (a: number, b: number) => a + b);
    const h = engine.start({ source: { name: 'p.star', text: SRC }, workflow: 'main', kwargs: { x: 5 }, env: { MODE: 'prod' } });
    expect(await h.result).toMatchObject({ status: 'completed', result: [7, 'prod'] });
    expect(() => engine.start({ source: { name: 'p.star', text: SRC }, workflow: 'MODE', env: { MODE: 'x' } })).toThrow(/no workflow named MODE/);
    await engine.close();
  });

  it('runs when named on the command line (larkflow run FILE --workflow main)', async () => {
    const s = fresh();
    const wf = s.file('p.star', SRC);
    const tasks = s.file('t.mjs', 'export const add = (a, b) => a + b;\n');
    const r = await cli('run', wf, '--db', s.db, '--tasks', tasks, '--workflow', 'main', '--env', 'MODE=dev', '--quiet', 'x=1');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual([3, 'dev']);
  });
});
