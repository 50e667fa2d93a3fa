/**
 * The shared-database worker on a real PostgreSQL, in process: runs submitted to the database are
 * claimed, driven and recorded; a run that sleeps longer than `parkAfterMs` is parked (its lease
 * given up) and claimed again when due; a run waiting on a signal is parked and woken by the signal;
 * nothing is started on the strength of an event the database has not committed; a worker that
 * loses a run (another claimed it) writes nothing more to it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/index.js';
import type { HistoryEvent } from '../../src/engine/index.js';
import { SharedWorker } from '../../src/engine/distributed/shared-worker.js';
import { pendingWork } from '../../src/engine/distributed/pending-work.js';
import type { PostgresEventStore } from '../../src/engine/store/postgres/index.js';
import type { AsyncEventStore } from '../../src/engine/store/async-store.js';
import '../../src/stdlib/index.js';
import { startPostgres, type PgServer } from '../helpers/postgres.js';
import { migratedDatabase, submitRuns, until } from '../helpers/shared-db.js';

const dir = mkdtempSync(join(tmpdir(), 'larkflow-sw-'));
let server: PgServer;
let n = 0;

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);

afterAll(async () => {
  await server?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function freshStore(): Promise<PostgresEventStore> {
  return (await migratedDatabase(server, `sw${++n}`)).store;
}

/** Submits a run of `text` to the database, unowned (as a client would), and returns its id. */
async function submit(store: PostgresEventStore, text: string, args: unknown[] = []): Promise<string> {
  return (await submitRuns(store, text, { args }))[0]!;
}


const completed = (store: PostgresEventStore, runId: string) => async () => {
  const r = await store.getRun(runId);
  return r && r.status !== 'running' ? r : undefined;
};

describe('SharedWorker on PostgreSQL', () => {
  it('drives a submitted run to the end; every task starts only after its TaskScheduled is committed', async () => {
    const store = await freshStore();
    const seen: boolean[] = [];
    const w = SharedWorker.start({
      store,
      pollIntervalMs: 50,
      leaseMs: 2000,
      engine: { workDir: join(dir, 'a') },
      setup: (e) =>
        e.registerTaskWithContext('add', async (ctx, a: number, b: number) => {
          const h = await store.history(ctx.runId);
          seen.push(h.some((ev) => ev.kind === 'TaskScheduled' && ev.stepId === ctx.stepId));
          return a + b;
        }),
    });
    try {
      const runId = await submit(store, 'add = task("add")\n@workflow()\ndef main(x):\n    return add(add(x, 1), 2)\n', [5]);
      const rec = await until('the run to end', completed(store, runId));
      expect(rec.status).toBe('completed');
      const h = await store.history(runId);
      expect(h[h.length - 1]).toMatchObject({ kind: 'RunCompleted', result: 8 });
      expect(seen).toEqual([true, true]);
      expect(w.stats.claimed).toBe(1);
    } finally {
      await w.stop({ drainMs: 1000 });
      await store.close();
    }
  });

  it('parks a run that sleeps past parkAfterMs and claims it again when it is due', async () => {
    const store = await freshStore();
    const w = SharedWorker.start({ store, pollIntervalMs: 50, leaseMs: 2000, parkAfterMs: 300, engine: { workDir: join(dir, 'b') }, setup: (e) => e.registerTask('one', () => 1) });
    try {
      const runId = await submit(store, 'one = task("one")\n@workflow()\ndef main():\n    a = one()\n    time.sleep(1.5)\n    return a + one()\n');
      await until('the run to be parked', async () => w.stats.parked >= 1 && (await store.leaseOf(runId))?.owner === null);
      expect(w.engine.liveRunIds()).not.toContain(runId);
      const rec = await until('the run to end', completed(store, runId));
      expect(rec.status).toBe('completed');
      const h = await store.history(runId);
      expect(h[h.length - 1]).toMatchObject({ kind: 'RunCompleted', result: 2 });
      expect(w.stats.claimed).toBe(2);
    } finally {
      await w.stop({ drainMs: 1000 });
      await store.close();
    }
  });

  it('parks a run that waits on a signal, and a signal posted to the database wakes it', async () => {
    const store = await freshStore();
    const w = SharedWorker.start({ store, pollIntervalMs: 50, leaseMs: 2000, parkAfterMs: 300, engine: { workDir: join(dir, 'c') } });
    try {
      const runId = await submit(store, '@workflow()\ndef main():\n    return signal.wait("go")\n');
      await until('the run to be parked', async () => w.stats.parked >= 1);
      await store.postInbox(runId, { kind: 'signal', name: 'go', payload: { ok: 1 }, key: 'k1' });
      const rec = await until('the run to end', completed(store, runId));
      expect(rec.status).toBe('completed');
      const h = await store.history(runId);
      expect(h[h.length - 1]).toMatchObject({ kind: 'RunCompleted', result: { ok: 1 } });
      expect(h.filter((e) => e.kind === 'SignalReceived')).toHaveLength(1);
    } finally {
      await w.stop({ drainMs: 1000 });
      await store.close();
    }
  });

  it('a run that took a signal, was parked and is woken again is taken over with its received messages', async () => {
    const store = await freshStore();
    const w = SharedWorker.start({ store, pollIntervalMs: 50, leaseMs: 2000, parkAfterMs: 300, engine: { workDir: join(dir, 'c2') } });
    try {
      const runId = await submit(store, '@workflow()\ndef main():\n    a = signal.wait("a")\n    b = signal.wait("b")\n    return [a, b]\n');
      await until('the run to be parked', async () => w.stats.parked >= 1);
      await store.postInbox(runId, { kind: 'signal', name: 'a', payload: 1 });
      // Taken again, it records "a" and is parked again, waiting on "b".
      await until('the run to be parked again', async () => w.stats.parked >= 2 && (await store.history(runId)).some((e) => e.kind === 'SignalReceived'));
      // Claimed a third time: its history now holds a SignalReceived, which adoption must replay.
      await store.postInbox(runId, { kind: 'signal', name: 'b', payload: 2 });
      const rec = await until('the run to end', completed(store, runId));
      expect(rec.status).toBe('completed');
      const h = await store.history(runId);
      expect(h[h.length - 1]).toMatchObject({ kind: 'RunCompleted', result: [1, 2] });
    } finally {
      await w.stop({ drainMs: 1000 });
      await store.close();
    }
  });

  it('a worker whose run was claimed by another stops writing to it at once', async () => {
    const store = await freshStore();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a = SharedWorker.start({ store, pollIntervalMs: 50, leaseMs: 60_000, engine: { workDir: join(dir, 'd') }, setup: (e) => e.registerTask('slow', () => gate.then(() => 'a')) });
    try {
      const runId = await submit(store, 'slow = task("slow")\n@workflow()\ndef main():\n    return slow()\n');
      await until('worker a to start the task', async () => (await store.history(runId)).some((e) => e.kind === 'AttemptStarted'));
      const before = (await store.getRun(runId))!.lastSeq;
      // Another worker takes the run over (as after a's lease ran out): a's epoch is stale now.
      const other = await store.claimRuns('other-worker', 10, 60_000);
      expect(other).toEqual([]); // held: not claimable before the lease runs out
      await store.releaseLeases(a.workerId, [{ runId, owner: a.workerId, epoch: (await store.leaseOf(runId))!.epoch }]);
      const taken = await store.claimRuns('other-worker', 10, 60_000);
      expect(taken.map((c) => c.runId)).toEqual([runId]);
      release();
      await until('worker a to drop the run', async () => !a.mirror.holds(runId) || undefined);
      expect((await store.getRun(runId))!.lastSeq).toBe(before);
    } finally {
      release();
      await a.stop({ drainMs: 500 });
      await store.close();
    }
  });
});

describe('queues', () => {
  const QSRC = 'one = task("one")\n@workflow()\ndef main():\n    return one()\n';

  /** Submits a run on `queue` (none: the default queue). */
  async function submitOn(store: Pick<AsyncEventStore, 'putScript' | 'createRun'>, queue?: string): Promise<string> {
    return (await submitRuns(store, QSRC, queue !== undefined ? { queue } : {}))[0]!;
  }

  it('a worker takes only runs of the queues it serves (PostgreSQL), and RunStarted records the queue', async () => {
    const store = await freshStore();
    const gpuRun = await submitOn(store, 'gpu');
    const plainRun = await submitOn(store);
    expect((await store.history(gpuRun))[0]).toMatchObject({ kind: 'RunStarted', queue: 'gpu' });
    const cpu = SharedWorker.start({ store, pollIntervalMs: 50, leaseMs: 2000, queues: ['default'], engine: { workDir: join(dir, 'q1') }, setup: (e) => e.registerTask('one', () => 'cpu') });
    try {
      await until('the default run to end', completed(store, plainRun));
      await new Promise((r) => setTimeout(r, 300));
      expect((await store.getRun(gpuRun))!.status).toBe('running');
      expect((await store.leaseOf(gpuRun))!.epoch).toBe(0);
      const gpu = SharedWorker.start({ store, pollIntervalMs: 50, leaseMs: 2000, queues: ['gpu'], engine: { workDir: join(dir, 'q2') }, setup: (e) => e.registerTask('one', () => 'gpu') });
      try {
        await until('the gpu run to end', completed(store, gpuRun));
        expect((await store.history(gpuRun)).at(-1)).toMatchObject({ kind: 'RunCompleted', result: 'gpu' });
      } finally {
        await gpu.stop({ drainMs: 500 });
      }
    } finally {
      await cpu.stop({ drainMs: 500 });
      await store.close();
    }
  });

  it('claimRuns filters by queue on SQLite too', async () => {
    const { openSqliteStore } = await import('../../src/engine/store/index.js');
    const { asyncStoreOf } = await import('../../src/engine/store/sqlite-async.js');
    const sync = openSqliteStore(join(dir, 'queues.db'));
    const store = asyncStoreOf(sync);
    try {
      const a = await submitOn(store, 'gpu');
      const b = await submitOn(store);
      expect((await store.claimRuns('w1', 10, 10_000, ['gpu'])).map((c) => c.runId)).toEqual([a]);
      expect((await store.claimRuns('w2', 10, 10_000, ['default', 'gpu'])).map((c) => c.runId)).toEqual([b]);
      expect(() => Engine.open({ db: ':memory:' }).start({ source: { name: 'q.star', text: QSRC }, queue: 'bad queue' })).toThrow(/queue name/);
    } finally {
      sync.close();
    }
  });
});

describe('child runs on a shared database', () => {
  const FAMILY = 'slow = task("slow")\n\n@workflow()\ndef kid(x):\n    return slow(x)\n\n@workflow()\ndef main(x):\n    return kid(x) + 1\n';

  it('a parent and its child driven by different workers after a takeover: the parent learns the end of the child', async () => {
    const store = await freshStore();
    const slow = (ms: number) => (e: Engine) => e.registerTask('slow', async (x: number) => {
      await new Promise((r) => setTimeout(r, ms));
      return x * 10;
    });
    const a = SharedWorker.start({ store, pollIntervalMs: 50, leaseMs: 1000, engine: { workDir: join(dir, 'ca') }, setup: slow(60_000) });
    const workers: SharedWorker[] = [];
    try {
      const [runId] = (await submitRuns(store, FAMILY, { args: [4], workflow: 'main' })) as [string];
      const childId = await until('the child to run its task', async () => {
        const started = (await store.history(runId)).find((e) => e.kind === 'ChildRunStarted');
        const id = started?.kind === 'ChildRunStarted' ? started.childRunId : undefined;
        return id !== undefined && (await store.history(id)).some((e) => e.kind === 'AttemptStarted') ? id : undefined;
      });
      a.abandon();
      // Two workers that hold one run each: the parent and the child end up on different workers.
      for (const name of ['cb', 'cc']) workers.push(SharedWorker.start({ store, pollIntervalMs: 50, leaseMs: 1000, maxRuns: 1, claimBatch: 1, engine: { workDir: join(dir, name) }, setup: slow(200) }));
      await until('both runs to be taken', async () => workers.every((w) => w.mirror.heldRunIds().length === 1));
      expect(new Set(workers.map((w) => w.mirror.heldRunIds()[0]))).toEqual(new Set([runId, childId]));
      const child = await until('the child to end', completed(store, childId));
      expect(child.status).toBe('completed');
      const rec = await until('the parent to end', completed(store, runId));
      expect(rec.status).toBe('completed');
      const h = await store.history(runId);
      expect(h[h.length - 1]).toMatchObject({ kind: 'RunCompleted', result: 41 });
      expect(h.filter((e) => e.kind === 'ChildRunCompleted')).toHaveLength(1);
      expect((await store.history(childId)).filter((e) => e.kind === 'RunStarted')).toHaveLength(1);
    } finally {
      await Promise.all(workers.map((w) => w.stop({ drainMs: 100 })));
      await store.close();
    }
  }, 30_000);

  it('a parent waiting on a long child is parked, and the child\'s end wakes it', async () => {
    const store = await freshStore();
    const slow = (e: Engine) => e.registerTask('slow', async (x: number) => {
      await new Promise((r) => setTimeout(r, 3000));
      return x * 10;
    });
    const workers = ['pa', 'pb'].map((name) => SharedWorker.start({ store, pollIntervalMs: 50, leaseMs: 1000, engine: { workDir: join(dir, name) }, setup: slow }));
    try {
      const [runId] = (await submitRuns(store, FAMILY, { args: [2], workflow: 'main' })) as [string];
      await until('the parent to be parked while its child runs', async () => {
        const h = await store.history(runId);
        return h.some((e) => e.kind === 'ChildRunStarted') && (await store.leaseOf(runId))?.owner === null;
      });
      const rec = await until('the parent to end', completed(store, runId));
      expect(rec.status).toBe('completed');
      const h = await store.history(runId);
      expect(h[h.length - 1]).toMatchObject({ kind: 'RunCompleted', result: 21 });
      // Woken by the child's end (a hint posted to its inbox; taken, or left unread when the parent
      // ended first), long before the 60 s backstop.
      const hinted = h.some((e) => e.kind === 'SignalReceived' && e.name === '__child_ended__') || (await store.pendingInbox(runId)).some((m) => m.name === '__child_ended__');
      expect(hinted).toBe(true);
      expect(h.filter((e) => e.kind === 'ChildRunCompleted')).toHaveLength(1);
    } finally {
      await Promise.all(workers.map((w) => w.stop({ drainMs: 100 })));
      await store.close();
    }
  }, 30_000);
});

describe('child runs on a shared database: cancellation', () => {
  it('cancelling a parent reaches its child on another worker through the child\'s inbox', async () => {
    const store = await freshStore();
    const forever = (e: Engine) => e.registerTask('slow', (x: number) => new Promise<number>(() => void x));
    const a = SharedWorker.start({ store, pollIntervalMs: 50, leaseMs: 1000, engine: { workDir: join(dir, 'xa') }, setup: forever });
    const workers: SharedWorker[] = [];
    try {
      const src = 'slow = task("slow")\n\n@workflow()\ndef kid(x):\n    return slow(x)\n\n@workflow()\ndef main(x):\n    return kid(x) + 1\n';
      const [runId] = (await submitRuns(store, src, { args: [1], workflow: 'main' })) as [string];
      const childId = await until('the child to run its task', async () => {
        const started = (await store.history(runId)).find((e) => e.kind === 'ChildRunStarted');
        const id = started?.kind === 'ChildRunStarted' ? started.childRunId : undefined;
        return id !== undefined && (await store.history(id)).some((e) => e.kind === 'AttemptStarted') ? id : undefined;
      });
      a.abandon();
      for (const name of ['xb', 'xc']) workers.push(SharedWorker.start({ store, pollIntervalMs: 50, leaseMs: 1000, maxRuns: 1, claimBatch: 1, engine: { workDir: join(dir, name) }, setup: forever }));
      await until('both runs to be taken', async () => workers.every((w) => w.mirror.heldRunIds().length === 1));
      await store.postInbox(runId, { kind: 'signal', name: '__cancel__', payload: { reason: 'stop it' } });
      expect((await until('the parent to end', completed(store, runId))).status).toBe('cancelled');
      expect((await until('the child to end', completed(store, childId))).status).toBe('cancelled');
    } finally {
      await Promise.all(workers.map((w) => w.stop({ drainMs: 100 })));
      await store.close();
    }
  }, 30_000);
});

describe('notifications on a shared database', () => {
  it('a worker delivers the notifications of the runs it drives, once, with their idempotency keys', async () => {
    const store = await freshStore();
    const got: { key: string | undefined; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        got.push({ key: req.headers['x-larkflow-idempotency-key'] as string | undefined, body });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const [runId] = await submitRuns(store, 'add = task("add")\n@workflow()\ndef main(x):\n    return add(x, 1)\n', { args: [1], notify: [{ on: ['SUCCEEDED'], sink: { kind: 'webhook', url } }] });
    const w = SharedWorker.start({ store, pollIntervalMs: 50, leaseMs: 2000, engine: { workDir: join(dir, 'n') }, setup: (e) => e.registerTask('add', (a: number, b: number) => a + b) });
    try {
      await until('the notification', async () => got.length >= 1);
      await new Promise((r) => setTimeout(r, 300)); // no second delivery
      expect(got).toHaveLength(1);
      expect(got[0]!.key).toBe(`${runId}:SUCCEEDED:0`);
      expect(JSON.parse(got[0]!.body)).toMatchObject({ runId, event: 'SUCCEEDED' });
      const rows = await store.listOutbox();
      expect(rows.map((r) => r.status)).toEqual(['delivered']);
    } finally {
      await w.stop({ drainMs: 100 });
      await store.close();
      server.close();
    }
  });
});

describe('pendingWork', () => {
  const base = { at: 0 } as const;
  it('sees attempts in flight, retries, timers and children', () => {
    const h = (events: object[]) => events.map((e, i) => ({ ...base, seq: i + 1, ...e })) as unknown as HistoryEvent[];
    expect(pendingWork(h([{ kind: 'TaskScheduled', stepId: 's1' }]))).toMatchObject({ busy: true });
    expect(pendingWork(h([{ kind: 'TaskScheduled', stepId: 's1' }, { kind: 'RetryScheduled', stepId: 's1', fireAt: 500 }]))).toEqual({ busy: false, wakeAt: 500, ended: false, queuedSince: null, children: [], childrenSince: null });
    expect(pendingWork(h([{ kind: 'TimerStarted', stepId: 't', fireAt: 900 }, { kind: 'TimerStarted', stepId: 'u', fireAt: 700 }]))).toEqual({ busy: false, wakeAt: 700, ended: false, queuedSince: null, children: [], childrenSince: null });
    expect(pendingWork(h([{ kind: 'TimerStarted', stepId: 't', fireAt: 900 }, { kind: 'TimerFired', stepId: 't' }]))).toEqual({ busy: false, wakeAt: null, ended: false, queuedSince: null, children: [], childrenSince: null });
    expect(pendingWork(h([{ kind: 'ChildRunStarted', stepId: 'c', childRunId: 'run-kid' }]))).toMatchObject({ busy: false, children: ['run-kid'], childrenSince: 0 });
    expect(pendingWork(h([{ kind: 'RunCompleted', result: 1 }]))).toMatchObject({ ended: true });
  });

  it('an attempt in the shared task queue is not busy work; a step deadline wakes the run', () => {
    const h = (events: object[]) => events.map((e, i) => ({ seq: i + 1, ...e })) as unknown as HistoryEvent[];
    const queued = (x: string) => x === 'k8s';
    const events = [
      { kind: 'TaskScheduled', at: 10, stepId: 's1', overallTimeoutMs: 5000 },
      { kind: 'AttemptStarted', at: 20, stepId: 's1', attempt: 1, executor: 'k8s' },
    ];
    expect(pendingWork(h(events), queued)).toEqual({ busy: false, wakeAt: 5010, ended: false, queuedSince: 20, children: [], childrenSince: null });
    // Without the queue, the same attempt runs in the owner's process.
    expect(pendingWork(h(events))).toMatchObject({ busy: true, queuedSince: null, children: [], childrenSince: null });
    expect(pendingWork(h([...events, { kind: 'TaskCompleted', at: 30, stepId: 's1', attempt: 1, result: 1 }]), queued)).toEqual({ busy: false, wakeAt: null, ended: false, queuedSince: null, children: [], childrenSince: null });
  });
});
