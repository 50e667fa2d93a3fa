/**
 * This file is the CLI's door to a shared database (`--db postgres://…` or `LARKFLOW_DB`): it
 * tells a connection string from a SQLite path, opens the PostgreSQL store (which refuses a
 * database that was never migrated, saying to run `larkflow db migrate`), and opens an engine over
 * it for the commands that drive runs (`run`, `worker`). Commands that only read runs on a shared
 * database say clearly that they are not supported there yet.
 */
import type { Engine, EngineOptions } from '../engine/index.js';
import type { AsyncEventStore } from '../engine/store/async-store.js';
import { CliError } from './errors.js';

/** True for a PostgreSQL connection string. */
export function isSharedDbUrl(db: string | undefined): db is string {
  return db !== undefined && /^postgres(ql)?:\/\//i.test(db);
}

/** The database the options name: `--db`, else LARKFLOW_DB, else undefined (the SQLite default). */
export function dbOption(opts: { readonly db?: string }): string | undefined {
  return opts.db ?? (process.env.LARKFLOW_DB || undefined);
}

/** The URL with its password hidden, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]+:)[^@]*@/i, '$1***@');
}

/**
 * Opens the shared store; a bad URL or an unreachable server is a clear error. With `retryMs`, a
 * server that is down or restarting is tried again (every 0.5 s) for that long first (a worker
 * started with its database).
 */
export async function openSharedStore(url: string, options: { readonly retryMs?: number; readonly onRetry?: (e: Error) => void } = {}): Promise<AsyncEventStore> {
  const until = Date.now() + (options.retryMs ?? 0);
  for (let tries = 0; ; tries++) {
    try {
      return await openSharedStoreOnce(url);
    } catch (e) {
      const transient = /connection refused|shutting down|starting up|in recovery|ECONNRESET|timeout/i.test((e as Error).message);
      if (!transient || Date.now() + 500 > until) throw e;
      if (tries === 0) options.onRetry?.(e as Error);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function openSharedStoreOnce(url: string): Promise<AsyncEventStore> {
  const { openPostgresStore } = await import('../engine/store/postgres/index.js');
  return openPostgresStore(url);
}

/**
 * An engine whose runs live in the shared database: the runs it starts are written there (under
 * this process's lease, `LARKFLOW_LEASE_MS` long, 15 s by default) and driven here; if this process dies, any `larkflow worker` on the
 * database takes them over when the lease runs out. Closing the engine flushes and closes the
 * database connection.
 */
export async function openSharedEngine(url: string, options: Omit<EngineOptions, 'db'>): Promise<Engine> {
  const store = await openSharedStore(url);
  const { MirrorStore } = await import('../engine/distributed/mirror-store.js');
  const { Engine } = await import('../engine/index.js');
  const fromEnv = Number(process.env.LARKFLOW_LEASE_MS);
  const leaseMs = options.leaseMs ?? (Number.isSafeInteger(fromEnv) && fromEnv > 0 ? fromEnv : 15_000);
  const mirror = new MirrorStore(store, '', leaseMs, {}, { closeRemote: true });
  const engine = Engine.open({ ...options, db: mirror, leaseMs });
  mirror.owner = engine.workerId;
  // Signals and cancellations sent to the runs this process drives arrive through their inboxes.
  const { refreshInboxes } = await import('../engine/distributed/shared-worker.js');
  let polling = false;
  const timer = setInterval(() => {
    if (polling) return;
    polling = true;
    refreshInboxes(store, mirror, engine)
      .catch(() => undefined)
      .finally(() => (polling = false));
  }, 500);
  timer.unref();
  const close = engine.close.bind(engine);
  engine.close = async () => {
    clearInterval(timer);
    await close();
  };
  return engine;
}

/** The error for a command that cannot use a shared database yet. */
export function sharedDbUnsupported(command: string): CliError {
  return new CliError(
    `not supported yet: ${command === 'this command' ? command : `larkflow ${command}`} on a PostgreSQL database. Supported there: run, resume, worker, workers, signal, cancel, runs, show, history, logs, replay RUN, db migrate/export/import. ` +
      'For the other commands, export the runs (larkflow db export --db URL -o runs.jsonl) and import them into a SQLite file.',
  );
}

/**
 * Sends a message to a run of the shared database through its inbox (the run's worker, on any
 * host, takes it): a signal, or a cancellation (the reserved `__cancel__` signal).
 * @throws CliError for an unknown or ended run, or a reserved signal name
 */
export async function postToSharedRun(
  url: string,
  runId: string,
  msg: { readonly name: string; readonly payload: unknown; readonly key?: string },
): Promise<{ readonly id: number; readonly duplicate: boolean; readonly status: string }> {
  const store = await openSharedStore(url);
  try {
    const rec = await store.getRun(runId);
    if (!rec) throw new CliError(`no run ${runId} in ${redactUrl(url)} (give the full run id)`);
    if (rec.status !== 'running') throw new CliError(`run ${runId} has already ${rec.status === 'blocked' ? 'blocked' : `ended (${rec.status})`}`, 1);
    const posted = await store.postInbox(runId, { kind: 'signal', name: msg.name, payload: msg.payload as never, ...(msg.key !== undefined ? { key: msg.key } : {}) });
    return { ...posted, status: rec.status };
  } finally {
    await store.close();
  }
}
