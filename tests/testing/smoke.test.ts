import { it, expect } from 'vitest';
import { createTestEngine, fakeTask } from '../../src/testing/index.js';
it('smoke', async () => {
  const te = createTestEngine();
  fakeTask(te, 'fetch', [{ fail: 'flaky' }, { takes: 86_400_000, then: { return: [1, 2, 3] } }]);
  te.registerTask('double', (x: number) => x * 2);
  const src = 'fetch = task("fetch", retries = 2)\ndouble = task("double")\n@workflow()\ndef w():\n    xs = fetch()\n    time.sleep(3600)\n    fs = [run(double, x) for x in xs]\n    return [f.result() for f in fs]\n';
  const t0 = Date.now();
  const r = await te.runToCompletion(te.start({ source: { name: 'w.star', text: src } }));
  expect(r).toMatchObject({ status: 'completed', result: [2, 4, 6] });
  console.log(Date.now() - t0, te.completions, te.clock.now() - Date.UTC(2026,0,1));
});
