/**
 * Properties of signals and queries: for any interleaving of signals and task completions, the run
 * gets the signals in the order they were sent, its history replays identically, and a query at any
 * point leaves the history as it was.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/index.js';

const SRC = `
t = task("t")

@workflow()
def main(n):
    fs = [run(t, i) for i in range(n)]
    got = []
    query.handler("got", lambda: list(got))
    ch = signal.channel("s")
    for _ in range(n):
        got.append(ch.receive())
    return [got, [f.result() for f in fs]]
`;

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 2));

describe('signals and queries (property)', () => {
  it('any interleaving of signals and task completions: signals in order, an identical replay, queries change nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }).chain((n) =>
          fc.tuple(
            fc.constant(n),
            fc.shuffledSubarray([...Array(n).keys()].flatMap((i) => [`signal:${i}`, `task:${i}`]), { minLength: 2 * n, maxLength: 2 * n }),
            fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: n, maxLength: n }),
          ),
        ),
        async ([n, order, payloads]) => {
          const engine = Engine.open({ db: ':memory:' });
          const release: ((v: number) => void)[] = [];
          engine.registerTask('t', (i: number) => new Promise<number>((r) => (release[i] = () => r(i * 10))));
          try {
            const h = engine.start({ source: { name: 'wf.star', text: SRC }, args: [n] });
            const handle = engine.handle(h.runId);
            let sent = 0;
            for (const step of order) {
              await tick();
              const before = engine.history(h.runId).length;
              handle.query('got');
              expect(engine.history(h.runId).length).toBe(before);
              const [kind, idx] = step.split(':') as [string, string];
              if (kind === 'signal') handle.signal('s', payloads[sent++]);
              else {
                for (let k = 0; k < 50 && !release[Number(idx)]; k++) await tick();
                release[Number(idx)]!(0);
              }
            }
            const r = await h.result;
            expect(r.result).toEqual([payloads, [...Array(n).keys()].map((i) => i * 10)]);
            expect(engine.replay(h.runId).ok).toBe(true);
          } finally {
            await engine.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});
