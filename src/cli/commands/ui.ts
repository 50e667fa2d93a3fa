/**
 * This file defines `larkflow ui`: the run inspector in the browser. It serves the prebuilt app and
 * its JSON API and live streams (src/ui/server/) on 127.0.0.1 (a free port with `--port 0`, the
 * default 4300 otherwise), prints the URL on stdout, and runs until SIGINT/SIGTERM, when it ends
 * every open stream and stops.
 *
 * Read-only by default. `--allow-actions` lets anyone who reaches the server cancel, retry, resume
 * and re-run runs; `--token T` (or LARKFLOW_UI_TOKEN) lets requests with `Authorization: Bearer T`
 * do so. Runs it starts or resumes are driven by this process, with the tasks of `--tasks FILE` and
 * the remote executors their runs recorded (as `larkflow resume` sets them up); when it stops, a
 * `larkflow worker` finishes them.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { RunStarted } from '../../engine/index.js';
import { CliError } from '../errors.js';
import { closeQuietly, dbOption, dbPath, isSharedDbUrl, openEngine, storageOf, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { sharedDbUnsupported } from '../shared-db.js';

export interface UiCliOptions extends EngineCliOptions {
  readonly port?: string;
  readonly host?: string;
  readonly allowActions?: boolean;
  readonly token?: string;
  readonly allowHost?: readonly string[];
  readonly basePath?: string;
}

/** The port `larkflow ui` listens on without `--port`. */
export const DEFAULT_UI_PORT = 4300;

export async function uiCommand(opts: UiCliOptions, io: CliIo, signal?: AbortSignal): Promise<number> {
  const port = opts.port === undefined ? DEFAULT_UI_PORT : Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port must be a port number (0 picks a free one), not ${JSON.stringify(opts.port)}`);
  const host = opts.host ?? '127.0.0.1';
  const token = opts.token ?? process.env.LARKFLOW_UI_TOKEN ?? undefined;
  if (token !== undefined && token.length < 16) throw new CliError('--token must be at least 16 characters (e.g. `openssl rand -hex 16`)');
  // The inspector reads a SQLite file (and tails it across processes); a PostgreSQL database not yet.
  if (isSharedDbUrl(dbOption(opts))) throw sharedDbUnsupported('ui');
  const { startUiServer, isLoopback, defaultStaticDir } = await import('../../ui/server/index.js');
  const engine = await openEngine(opts);
  const storage = await storageOf(opts.storage);
  const prepareRun = async (runId: string, started: RunStarted): Promise<void> => {
    const { ensureExecutors } = await import('../remote.js');
    await ensureExecutors(
      engine,
      engine.executorsOfRun(runId),
      started.remote,
      { dbDir: dirname(dbPath(opts)), ...(storage !== undefined ? { storage } : {}) },
      { ...(opts.tasks !== undefined ? { tasksFile: opts.tasks, taskNames: engine.functions.taskNames() } : {}), workflowFile: started.file },
      { ...(opts.rayAddress !== undefined ? { rayAddress: opts.rayAddress } : {}), ...(opts.livyUrl !== undefined ? { livyUrl: opts.livyUrl } : {}) },
      true,
    );
  };
  let srv;
  try {
    srv = await startUiServer({
      engine,
      host,
      port,
      allowActions: opts.allowActions === true,
      ...(token !== undefined ? { token } : {}),
      ...(opts.allowHost && opts.allowHost.length > 0 ? { allowedHosts: opts.allowHost } : {}),
      ...(opts.basePath !== undefined ? { basePath: opts.basePath } : {}),
      dbLabel: dbOption(opts) ?? '',
      prepareRun,
    });
  } catch (e) {
    await closeQuietly(engine);
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') throw new CliError(`port ${port} on ${host} is in use: pass --port N (or --port 0 for a free one)`);
    if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') throw new CliError(`cannot listen on ${host}: no such address on this machine`);
    throw e;
  }
  if (!isLoopback(host) && token === undefined) {
    io.err(
      `WARNING: larkflow ui listens on ${host}, not only on this machine, and has no --token: anyone who reaches ` +
        `port ${srv.port} can read every run (inputs, results, errors, logs)${opts.allowActions ? ', and cancel, resume and start runs' : ''}. ` +
        `Bind to 127.0.0.1 (the default) or pass --token.\n`,
    );
  }
  if (!existsSync(join(defaultStaticDir(), 'index.html'))) {
    io.err('larkflow ui: the browser app is not built (npm run build); the page says so, the API works\n');
  }
  io.err(`larkflow ui: serving ${dbPath(opts)} (${opts.allowActions ? 'actions allowed' : token !== undefined ? 'actions with the token' : 'read-only'}); Ctrl-C to stop\n`);
  io.out(`${srv.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop);
  });
  await srv.close();
  await closeQuietly(engine);
  io.err('larkflow ui: stopped\n');
  return 0;
}
