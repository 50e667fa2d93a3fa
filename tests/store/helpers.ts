/**
 * Shared pieces of the async store tests: events built by hand, and harnesses that open a fresh
 * store of each kind (a SQLite file in a temp directory; a database of its own on one real
 * PostgreSQL server per test file).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { StoreError } from '../../src/engine/core/errors.js';
import type { NewEvent, RunStarted } from '../../src/engine/core/events.js';
import type { AsyncEventStore } from '../../src/engine/store/async-store.js';
import { openPostgresStore } from '../../src/engine/store/postgres/index.js';
import { asyncStoreOf } from '../../src/engine/store/sqlite-async.js';
import { openSqliteStore } from '../../src/engine/store/sqlite-store.js';
import type { PgServer } from '../helpers/postgres.js';

export function started(runId: string, at = 1000, extra: Partial<Omit<RunStarted, 'kind' | 'seq'>> = {}): Omit<RunStarted, 'seq'> {
  return {
    kind: 'RunStarted',
    at,
    runId,
    workflow: 'wf',
    file: 'wf.star',
    scriptDigest: 'digest-1',
    args: [1, 'two'],
    kwargs: { k: { nested: [true, null] } },
    env: { HOME: '/home/x' },
    seed: 'seed-1',
    attempt: 1,
    ...extra,
  };
}

const site = { file: 'wf.star', line: 1, column: 1 };
const retry = { maxAttempts: 1, initialIntervalMs: 0, backoffCoefficient: 2, maxIntervalMs: 0, jitter: 0, nonRetryable: [] };

export const progress = (at: number, message = 'working'): NewEvent => ({ kind: 'ProgressReported', at, message });
export const completed = (at: number, result: unknown = 42): NewEvent => ({ kind: 'RunCompleted', at, result: result as never });
export const failed = (at: number, message = 'boom'): NewEvent => ({ kind: 'RunFailed', at, error: { kind: 'task', message, retryable: false } });
export const cancelled = (at: number): NewEvent => ({ kind: 'RunCancelled', at, reason: 'user' });
export const blocked = (at: number): NewEvent => ({ kind: 'NondeterminismDetected', at, message: 'script changed', stepId: 'a#1' });
export const scheduled = (at: number, stepId: string, task = stepId.split('#')[0]!): NewEvent =>
  ({ kind: 'TaskScheduled', at, stepId, task, args: [], kwargs: {}, argsDigest: 'd', callSite: site, inputsFrom: [], executor: 'local', retry }) as NewEvent;
export const taskCompleted = (at: number, stepId: string, result: unknown = null, source: 'executed' | 'cache' | 'reused' = 'executed'): NewEvent => ({
  kind: 'TaskCompleted',
  at,
  stepId,
  attempt: 1,
  result: result as never,
  source,
});
export const taskFailed = (at: number, stepId: string, message: string): NewEvent => ({ kind: 'TaskFailed', at, stepId, error: { kind: 'task', message, retryable: false } });
export const received = (at: number, inboxId: number, name = 'go', payload: unknown = null): NewEvent =>
  ({ kind: 'SignalReceived', at, name, payload: payload as never, inboxId }) as NewEvent;
export const notifications = (runId: string, urls: string[], at = 2000): NewEvent => ({
  kind: 'NotificationsQueued',
  at,
  notifications: urls.map((url, sinkIndex) => ({ event: 'SUCCEEDED' as const, sinkIndex, sink: { kind: 'webhook' as const, url }, payload: { runId, n: sinkIndex } })),
});
export const signal = (name: string, payload: unknown = null, key?: string) => ({ kind: 'signal' as const, name, payload: payload as never, ...(key !== undefined ? { key } : {}) });

/** Awaits `p`, expecting a StoreError (of `cls` if given); returns it. */
export async function rejects<T extends StoreError>(p: Promise<unknown>, cls: new (...a: never[]) => T = StoreError as never): Promise<T> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(cls);
    return err as T;
  }
  throw new Error('expected a StoreError, nothing was thrown');
}

/** Opens stores of one kind, each test on a fresh database. */
export interface Harness {
  readonly name: 'sqlite' | 'postgres';
  /** How the suite names it. */
  readonly label: string;
  /** Once per file. */
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A fresh, migrated database; returns where it is. */
  fresh(): Promise<string>;
  /** Opens (another connection to) the database at `where`. */
  open(where: string): Promise<AsyncEventStore>;
}

export function sqliteHarness(): Harness {
  let root = '';
  let n = 0;
  return {
    name: 'sqlite',
    label: 'sqlite',
    async setup() {
      root = mkdtempSync(join(tmpdir(), 'larkflow-async-'));
    },
    async teardown() {
      rmSync(root, { recursive: true, force: true });
    },
    async fresh() {
      const dir = join(root, `db${++n}`);
      mkdirSync(dir);
      return join(dir, 'runs.db');
    },
    async open(where) {
      return asyncStoreOf(openSqliteStore(where));
    },
  };
}

/** Databases on `server()`, a server the test file starts once (beforeAll) and destroys (afterAll). */
export function postgresHarness(server: () => PgServer, options: { readonly preparedStatements?: boolean } = {}): Harness {
  let n = 0;
  const tag = options.preparedStatements === false ? 'u' : 'p';
  return {
    name: 'postgres',
    label: options.preparedStatements === false ? 'postgres (unnamed statements)' : 'postgres',
    async setup() {},
    async teardown() {},
    async fresh() {
      const url = await server().createDatabase(`t${process.pid}_${tag}${++n}`);
      const s = await openPostgresStore(url, { forMigration: true, poolSize: 1 });
      try {
        await s.migrate();
      } finally {
        await s.close();
      }
      return url;
    },
    async open(where) {
      return openPostgresStore(where, { poolSize: 4, ...options });
    },
  };
}
