/**
 * History records where a cached value came from and what its key was made of: TaskScheduled
 * carries the key's parts (implementation digest, cache_version, arguments digest), and a hit's
 * TaskCompleted names the run and step whose attempt produced the value, so the run inspector can
 * link to it and explain a miss after the cache entry is gone.
 */
import { describe, expect, it } from 'vitest';
import { Engine, MemoryEventStore, VirtualClock, type HistoryEvent } from '../../src/engine/index.js';
import { MemoryBlobStore, MemoryCacheIndex } from '../../src/engine/cache/index.js';

const SRC = (version: string) => `
square = task("square", cache = True, cache_version = "${version}")
@workflow()
def w(x):
    return square(x)
`;

async function runOnce(engine: Engine, version: string, x: number): Promise<HistoryEvent[]> {
  const h = engine.start({ source: { name: 'c.star', text: SRC(version) }, args: [x] });
  await h.result;
  return engine.history(h.runId);
}

describe('cache provenance in history', () => {
  it('records the key parts and, on a hit, the producing run and step', async () => {
    const engine = Engine.open({ db: new MemoryEventStore(), clock: new VirtualClock(), cacheIndex: new MemoryCacheIndex(), blobs: new MemoryBlobStore() });
    engine.registerTask('square', (x: number) => x * x);
    const first = await runOnce(engine, 'v1', 3);
    const sched1 = first.find((e) => e.kind === 'TaskScheduled')!;
    expect(sched1).toMatchObject({ cacheKeyParts: { version: 'v1' } });
    const parts1 = (sched1 as { cacheKeyParts: { implementation: string; args: string } }).cacheKeyParts;
    expect(parts1.implementation).toMatch(/^[0-9a-f]{16,}$/);
    const done1 = first.find((e) => e.kind === 'TaskCompleted')!;
    expect(done1).toMatchObject({ source: 'executed' });
    expect('cachedFrom' in done1).toBe(false);

    const second = await runOnce(engine, 'v1', 3);
    const hit = second.find((e) => e.kind === 'TaskCompleted')!;
    expect(hit).toMatchObject({ source: 'cache', result: 9, cachedFrom: { runId: first[0]!.kind === 'RunStarted' ? first[0].runId : '', stepId: (done1 as { stepId: string }).stepId } });

    // Another version: a miss whose parts differ in the version only.
    const third = await runOnce(engine, 'v2', 3);
    const parts3 = (third.find((e) => e.kind === 'TaskScheduled') as { cacheKeyParts: typeof parts1 & { version: string } }).cacheKeyParts;
    expect(parts3).toEqual({ ...parts1, version: 'v2' });
    // Other arguments: only the arguments digest differs.
    const fourth = await runOnce(engine, 'v1', 4);
    const parts4 = (fourth.find((e) => e.kind === 'TaskScheduled') as { cacheKeyParts: typeof parts1 & { version: string } }).cacheKeyParts;
    expect(parts4.implementation).toBe(parts1.implementation);
    expect(parts4.args).not.toBe(parts1.args);
    await engine.close();
  });
});
