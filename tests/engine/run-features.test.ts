/**
 * Behaviour changes are recorded run features (RunStarted.features): a history recorded before Go's
 * seeded random existed replays with the sequence it was recorded with.
 */
import { describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine, MemoryEventStore, replayAgainst, type HistoryEvent } from '../../src/engine/index.js';
import { fromFiles } from '../../src/engine/script.js';

const SRC = '@workflow()\ndef w():\n    random.seed(1234)\n    return random.randint(0, 100)\n';

describe('run features', () => {
  it('a new run records go-seeded-random and gets the Go worker sequence; an old history replays its own', async () => {
    const store = new MemoryEventStore();
    const engine = Engine.open({ db: store });
    const h = engine.start({ source: { name: 'r.star', text: SRC } });
    expect(await h.result).toMatchObject({ status: 'completed', result: 18 });
    const history = store.history(h.runId);
    expect(history[0]).toMatchObject({ kind: 'RunStarted', features: ['go-seeded-random'] });
    const bundle = fromFiles('r.star', new Map([['r.star', SRC]])).bundle;
    expect(replayAgainst(bundle, history).ok).toBe(true);
    // The same history as an older larkflow would have recorded it: no features, another result.
    const { features: _f, ...started } = history[0] as HistoryEvent & { features?: string[] };
    void _f;
    const old = replayAgainst(bundle, [started as HistoryEvent, ...history.slice(1)]);
    expect(old.ok).toBe(false);
    expect(old.mismatch!.message).toMatch(/history records .*RunCompleted|result/i);
    await engine.close();
  });
});
