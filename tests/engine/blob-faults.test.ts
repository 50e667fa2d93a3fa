/**
 * Checkpoint storage faults, end to end: an engine on a SQLite database whose large task results go
 * to a real S3-compatible server (s3rver on 127.0.0.1, tests/helpers/s3rver.ts), with a small blob
 * threshold. When the server is up, the result is stored as a blob and the run replays from it. When
 * the server goes down before a result is stored, the attempt fails with a retryable `storage` error
 * and is retried per the task's policy; if it stays down, the run fails with a message that names the
 * storage problem, and every event committed before is still in the database; if it comes back
 * mid-retries, the run completes. Servers answering 5xx (a proxy in front of s3rver) are the same:
 * absorbed by the SDK's own retries, or a retryable storage error for the engine to retry.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine, openSqliteStore, type HistoryEvent } from '../../src/engine/index.js';
import { S3BlobStore, isBlobMarker, type S3BlobStoreOptions } from '../../src/engine/cache/index.js';
import { FaultProxy, S3rver, S3RVER_CREDENTIALS } from '../helpers/s3rver.js';

const BUCKET = 'larkflow-faults';
const tmp = mkdtempSync(join(tmpdir(), 'larkflow-blob-faults-'));
let server: S3rver;
let prefix = 0;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  server = await S3rver.start({ directory: join(tmp, 's3rver'), bucket: BUCKET });
}, 30_000);
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await server.start(); // a test may have left it stopped
});
afterAll(async () => {
  await server.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** A task result well above the 1 KiB threshold. */
const bigValue = (n: number): string[] => Array.from({ length: n }, (_, i) => `row-${i}-${'x'.repeat(20)}`);

const SOURCE = `
prepare = task("prepare")
big = task("big", retry = RetryPolicy(max_attempts = 3, initial_interval = "30ms", backoff = 1, jitter = 0))

@workflow()
def w(n):
    k = prepare(n)
    rows = big(k)
    return len(rows)
`;

interface Setup {
  readonly engine: Engine;
  readonly db: string;
  readonly store: S3BlobStore;
}

/** A fresh engine on its own database, storing blobs above 1 KiB in the bucket under a fresh prefix. */
function setup(endpoint: string, extra: Partial<S3BlobStoreOptions> = {}): Setup {
  const db = join(tmp, `run${++prefix}`, 'larkflow.db');
  const store = new S3BlobStore({
    url: `s3://${BUCKET}/faults${prefix}`,
    endpoint,
    region: 'us-east-1',
    credentials: S3RVER_CREDENTIALS,
    env: {},
    maxAttempts: 1, // the engine's retries are under test, not the SDK's
    connectionTimeoutMs: 1000,
    ...extra,
  });
  const engine = Engine.open({ db, blobs: store, blobThresholdBytes: 1024, pollIntervalMs: 60_000 });
  engine.registerTask('prepare', (n: number) => n);
  cleanups.push(() => engine.close());
  return { engine, db, store };
}

const kinds = (h: readonly HistoryEvent[]): string[] => h.map((e) => e.kind);

/** The history as another process would read it from the database. */
function reread(db: string, runId: string): HistoryEvent[] {
  const store = openSqliteStore(db);
  try {
    return store.history(runId);
  } finally {
    store.close();
  }
}

describe('blob storage faults (S3)', () => {
  it('server up: the result is stored as a blob, the history keeps the marker, replay reads it back', async () => {
    const { engine, db, store } = setup(server.endpoint);
    engine.registerTask('big', (n: number) => bigValue(n));
    const h = engine.start({ source: { name: 'w.star', text: SOURCE }, args: [200] });
    expect(await h.result).toMatchObject({ status: 'completed', result: 200 });
    const done = engine.history(h.runId).find((e) => e.kind === 'TaskCompleted' && e.stepId === 'big#1');
    expect(done?.kind === 'TaskCompleted' && isBlobMarker(done.result)).toBe(true);
    const marker = (done as unknown as { result: { $blob: string; size: number; uri: string } }).result;
    expect(marker.uri).toBe(store.uri(marker.$blob));
    expect(await store.head(marker.$blob)).toEqual({ size: marker.size });

    // A new engine on the same database (nothing in memory) replays the run by fetching the blob.
    await engine.close();
    const fresh = Engine.open({ db, blobs: new S3BlobStore({ url: store.uri(marker.$blob).replace(/\/blobs\/.*$/, ''), endpoint: server.endpoint, credentials: S3RVER_CREDENTIALS, env: {} }), pollIntervalMs: 60_000 });
    try {
      expect(() => fresh.replay(h.runId)).toThrow(/replayAsync/);
      const report = await fresh.replayAsync(h.runId);
      expect(report.ok, report.mismatch?.message).toBe(true);
      expect(fresh.state(h.runId).steps['big#1']?.result).toEqual(marker);
    } finally {
      await fresh.close();
    }
  });

  it('server down before the result is stored: retryable storage errors, then a clear failure; nothing committed is lost', async () => {
    const { engine, db } = setup(server.endpoint);
    let before: HistoryEvent[] = [];
    let calls = 0;
    engine.registerTask('big', async (n: number) => {
      calls++;
      if (calls === 1) {
        // Everything up to this attempt's start is committed; then the server goes away.
        before = reread(db, runId);
        await server.stop();
      }
      return bigValue(n);
    });
    const h = engine.start({ source: { name: 'w.star', text: SOURCE }, args: [200] });
    const runId = h.runId;
    const r = await h.result;
    expect(r.status).toBe('failed');
    expect(calls).toBe(3);
    expect(r.error?.message).toMatch(/cannot store the result of big: cannot store blob [0-9a-f]{64} in s3:\/\/larkflow-faults\/faults\d+ \(endpoint http:\/\/127\.0\.0\.1:\d+\): the server cannot be reached \(ECONNREFUSED\)/);

    const after = reread(db, runId);
    expect(after.slice(0, before.length)).toEqual(before); // every event committed before is still there
    expect(kinds(before)).toEqual(['RunStarted', 'TaskScheduled', 'AttemptStarted', 'TaskCompleted', 'TaskScheduled', 'AttemptStarted']);
    const failures = after.filter((e) => e.kind === 'AttemptFailed');
    expect(failures).toHaveLength(3);
    for (const f of failures) {
      expect(f.kind === 'AttemptFailed' && f.error).toMatchObject({ kind: 'storage', retryable: true });
      expect(f.kind === 'AttemptFailed' && f.error.message).toContain('the server cannot be reached (ECONNREFUSED)');
    }
    expect(after.filter((e) => e.kind === 'RetryScheduled')).toHaveLength(2);
    const taskFailed = after.find((e) => e.kind === 'TaskFailed');
    expect(taskFailed?.kind === 'TaskFailed' && taskFailed.error.kind).toBe('storage');
    expect(kinds(after).at(-1)).toBe('RunFailed');
    expect(after.find((e) => e.kind === 'TaskCompleted' && e.stepId === 'big#1')).toBeUndefined();
    expect(engine.state(runId).steps['prepare#1']).toMatchObject({ status: 'completed', result: 200 });
  });

  it('server back mid-retries: the run completes', async () => {
    const { engine, db } = setup(server.endpoint);
    let calls = 0;
    let restarted: Promise<void> | undefined;
    engine.registerTask('big', async (n: number) => {
      calls++;
      if (calls === 1) await server.stop();
      // The third attempt waits until the server listens again (restarting it takes longer than
      // the 30 ms retry interval).
      if (calls === 3) await restarted;
      return bigValue(n);
    });
    const h = engine.start({ source: { name: 'w.star', text: SOURCE }, args: [300] });
    // Two attempts fail while the server is down; after the second one it comes back.
    let failures = 0;
    cleanups.push(
      engine.subscribe(h.runId, (e) => {
        if (e.kind === 'AttemptFailed' && ++failures === 2) restarted = server.start();
      }),
    );
    const r = await h.result;
    const history = reread(db, h.runId);
    expect(r, JSON.stringify(history.filter((e) => e.kind === 'AttemptFailed'))).toMatchObject({ status: 'completed', result: 300 });
    expect(calls).toBe(3);
    expect(kinds(history)).toEqual([
      'RunStarted',
      'TaskScheduled', 'AttemptStarted', 'TaskCompleted', // prepare
      'TaskScheduled', 'AttemptStarted', 'AttemptFailed', 'RetryScheduled', 'AttemptStarted', 'AttemptFailed', 'RetryScheduled', 'AttemptStarted', 'TaskCompleted', // big
      'RunCompleted',
    ]);
    for (const e of history) if (e.kind === 'AttemptFailed') expect(e.error).toMatchObject({ kind: 'storage', retryable: true });
    const done = history.find((e) => e.kind === 'TaskCompleted' && e.stepId === 'big#1');
    expect(done?.kind === 'TaskCompleted' && done.attempt).toBe(3);
    expect(done?.kind === 'TaskCompleted' && isBlobMarker(done.result)).toBe(true);
    expect((await engine.replayAsync(h.runId)).ok).toBe(true);
  });

  it('5xx from the server: absorbed by the SDK retries, or retried by the engine as a storage error', async () => {
    // Two 503s on PUT. With the SDK allowed three tries, one attempt absorbs them.
    let failPuts = 2;
    const proxy = await FaultProxy.start(() => server.endpoint, (req) => (req.method === 'PUT' && failPuts-- > 0 ? 503 : undefined));
    cleanups.push(() => proxy.close());
    {
      const { engine, db } = setup(proxy.endpoint, { maxAttempts: 3 });
      engine.registerTask('big', (n: number) => bigValue(n));
      const h = engine.start({ source: { name: 'w.star', text: SOURCE }, args: [100] });
      expect(await h.result).toMatchObject({ status: 'completed', result: 100 });
      expect(proxy.failed).toEqual(['PUT 503', 'PUT 503']);
      expect(reread(db, h.runId).some((e) => e.kind === 'AttemptFailed')).toBe(false);
    }
    // With one try per attempt, each 503 fails an attempt with a retryable storage error; the third attempt stores it.
    failPuts = 2;
    {
      const { engine, db } = setup(proxy.endpoint, { maxAttempts: 1 });
      let calls = 0;
      engine.registerTask('big', (n: number) => (calls++, bigValue(n)));
      const h = engine.start({ source: { name: 'w.star', text: SOURCE }, args: [100] });
      expect(await h.result).toMatchObject({ status: 'completed', result: 100 });
      expect(calls).toBe(3);
      const failed = reread(db, h.runId).filter((e) => e.kind === 'AttemptFailed');
      expect(failed).toHaveLength(2);
      for (const f of failed) {
        expect(f.kind === 'AttemptFailed' && f.error).toMatchObject({ kind: 'storage', retryable: true });
        expect(f.kind === 'AttemptFailed' && f.error.message).toMatch(/cannot store the result of big: .*the server failed, try again later.*HTTP 503/);
      }
    }
    // A server that keeps failing: the run fails naming the storage problem.
    proxy.rule = (req) => (req.method === 'PUT' ? 500 : undefined);
    {
      const { engine } = setup(proxy.endpoint, { maxAttempts: 1 });
      engine.registerTask('big', (n: number) => bigValue(n));
      const h = engine.start({ source: { name: 'w.star', text: SOURCE }, args: [100] });
      const r = await h.result;
      expect(r.status).toBe('failed');
      expect(r.error?.message).toMatch(/cannot store the result of big: .*the server failed, try again later.*HTTP 500/);
    }
  });
});
