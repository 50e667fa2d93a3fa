/** Shared helpers for engine tests: a virtual-clock engine and a driver that runs it to idle. */
import { setImmediate as tick } from 'node:timers/promises';
import '../../src/stdlib/index.js';
import { Engine, VirtualClock, type EventStore, MemoryEventStore } from '../../src/engine/index.js';

export interface TestEngine {
  readonly engine: Engine;
  readonly clock: VirtualClock;
  readonly store: EventStore;
}

export function testEngine(store: EventStore = new MemoryEventStore(), clock = new VirtualClock()): TestEngine {
  const engine = Engine.open({ db: store, clock });
  return { engine, clock, store };
}

/** Lets promises settle, firing virtual timers whenever the engine is otherwise waiting. */
export async function drive(t: { engine: Engine; clock: VirtualClock }, maxTimers = 10_000): Promise<void> {
  for (let i = 0; i < maxTimers; i++) {
    for (let k = 0; k < 5; k++) await tick();
    if (t.engine.liveRuns === 0) return;
    if (!t.clock.fireNext()) {
      // nothing scheduled: give in-flight promises another chance before giving up
      for (let k = 0; k < 20; k++) await tick();
      if (t.engine.liveRuns === 0 || !t.clock.pending) return;
    }
  }
}
