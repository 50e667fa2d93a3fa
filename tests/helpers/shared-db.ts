/**
 * Helpers for tests on a shared database: a fresh migrated PostgreSQL database, and runs submitted
 * to a store unowned, as a client that only writes them (no process drives them until a worker
 * claims them). The RunStarted and the script are made by a real engine, so they are exactly what
 * `engine.start` records.
 */
import pg from 'pg';
import { Engine } from '../../src/engine/index.js';
import type { HistoryEvent, StartOptions } from '../../src/engine/index.js';
import type { AsyncEventStore } from '../../src/engine/store/async-store.js';
import { openPostgresStore, type PostgresEventStore } from '../../src/engine/store/postgres/index.js';
import type { PgServer } from './postgres.js';

/** The fault tests' workflow: `count(n)` adds up `step(i)` (= 2i) for i < n, one task at a time. */
export const COUNT_SCRIPT = `step = task("step")

@workflow()
def count(n):
    acc = 0
    for i in range(n):
        acc = acc + step(i)
    return acc
`;

/** A new database on `server`, migrated, and a store open on it. */
export async function migratedDatabase(server: PgServer, name: string): Promise<{ url: string; store: PostgresEventStore }> {
  const url = await server.createDatabase(name);
  const migrator = await openPostgresStore(url, { forMigration: true });
  await migrator.migrate();
  await migrator.close();
  return { url, store: await openPostgresStore(url) };
}

/**
 * Writes `count` unowned runs of `text`'s workflow with `args` (ids `${idPrefix}-N`, or the
 * engine's when `idPrefix` is not given) and their script; returns their ids.
 */
export async function submitRuns(
  store: Pick<AsyncEventStore, 'putScript' | 'createRun'>,
  text: string,
  options: { readonly args?: readonly unknown[]; readonly count?: number; readonly idPrefix?: string; readonly queue?: string; readonly name?: string; readonly notify?: StartOptions['notify']; readonly workflow?: string } = {},
): Promise<string[]> {
  const e = Engine.open({ db: ':memory:' });
  // The template run is abandoned at once: only its RunStarted and its script are used.
  const h = e.start({ source: { name: options.name ?? 'wf.star', text }, args: [...(options.args ?? [])] as never[], ...(options.queue !== undefined ? { queue: options.queue } : {}), ...(options.notify !== undefined ? { notify: options.notify } : {}), ...(options.workflow !== undefined ? { workflow: options.workflow } : {}) });
  const first = e.history(h.runId)[0] as HistoryEvent & { kind: 'RunStarted' };
  await store.putScript(first.scriptDigest, e.store.getScript(first.scriptDigest)!);
  e.abandon();
  const { seq: _seq, ...rest } = first;
  const ids: string[] = [];
  const count = options.count ?? 1;
  for (let i = 0; i < count; i++) {
    const runId = options.idPrefix !== undefined ? `${options.idPrefix}-${String(i).padStart(4, '0')}` : count === 1 ? first.runId : `${first.runId}-${i}`;
    await store.createRun({ ...rest, runId, seed: count === 1 ? first.seed : `${first.seed}-${i}`, at: Date.now() });
    ids.push(runId);
  }
  return ids;
}

/** Polls `fn` every `everyMs` until it returns something truthy (returned), or throws after `ms`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 20_000, everyMs = 25): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs one statement on a connection of its own (the tests' view of the database, beside the store's pool). */
export async function pgRows<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}
