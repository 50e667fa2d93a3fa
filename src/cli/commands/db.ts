/**
 * This file defines the `larkflow db` commands.
 *
 * - `db backup FILE [--db PATH] [--force]`: a consistent copy of the run database, taken while runs
 *   may be going on (SQLite's online backup, through the store's `backup`). The copy is written
 *   beside FILE under a temporary name and renamed into place when complete, so FILE is never a
 *   half-written database; an existing FILE is only replaced with `--force`.
 * - `db migrate`, `db export`, `db import`: the same on a SQLite file and on a PostgreSQL URL
 *   (`--db` or LARKFLOW_DB), through the asynchronous store both implement. Exports are JSON Lines,
 *   one line per run (its whole history) with script bundles before the runs that name them, so
 *   runs move between SQLite and PostgreSQL (scale-out notes §5.5).
 */
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import type { HistoryEvent } from '../../engine/core/events.js';
import type { AsyncEventStore } from '../../engine/store/async-store.js';
import { runCursor } from '../../engine/store/schema.js';
import { CliError } from '../errors.js';
import { closeQuietly, dbPath, DEFAULT_DB, openEngine, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { dbOption, isSharedDbUrl, redactUrl } from '../shared-db.js';

export interface DbBackupOptions extends EngineCliOptions {
  readonly force?: boolean;
}

/** A size for people: 512 B, 12.3 KiB, 4.0 MiB. */
export function byteSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** A store that can copy itself (SqliteEventStore, once it has `backup`). */
interface BackupStore {
  backup(file: string): Promise<void>;
}

function canBackup(store: unknown): store is BackupStore {
  return typeof store === 'object' && store !== null && 'backup' in store && typeof (store as { backup?: unknown }).backup === 'function';
}

export async function dbBackupCommand(file: string, opts: DbBackupOptions, io: CliIo): Promise<number> {
  if (file.trim() === '') throw new CliError('larkflow db backup: give the FILE to write the copy to');
  const target = resolve(process.cwd(), file);
  const source = dbPath(opts);
  if (target === source) throw new CliError(`${file} is the database itself; give another file`);
  if (!existsSync(dirname(target))) throw new CliError(`cannot write ${file}: no directory ${dirname(target)}`);
  if (existsSync(target)) {
    if (statSync(target).isDirectory()) throw new CliError(`${file} is a directory; give a file name`);
    if (!opts.force) throw new CliError(`${file} already exists; pass --force to replace it`);
  }
  const engine = await openEngine(opts, { mustExist: true });
  try {
    const store: unknown = engine.store;
    if (!canBackup(store)) throw new CliError('larkflow db backup is not supported yet: this engine\'s store cannot copy itself online (it needs SqliteEventStore.backup)', 1);
    const partial = `${target}.partial-${process.pid}`;
    try {
      await store.backup(partial);
      renameSync(partial, target);
    } catch (e) {
      rmSync(partial, { force: true });
      throw new CliError(`cannot back up ${source} to ${file}: ${e instanceof Error ? e.message : String(e)}`, 1);
    }
    io.out(`backed up ${source} to ${target} (${byteSize(statSync(target).size)})\n`);
    return 0;
  } finally {
    await closeQuietly(engine);
  }
}

// ---------------------------------------------------------------------------------------------
// db migrate | export | import: the same commands for a SQLite file and a PostgreSQL URL

/** Options of `db migrate`, `db export` and `db import`: `--db PATH|URL` (else LARKFLOW_DB, else the default file). */
export interface DbMoveOptions {
  readonly db?: string;
  /** `db export -o FILE` (default: stdout). */
  readonly output?: string;
}

/** What `--db` (or LARKFLOW_DB) names: a PostgreSQL URL, or a SQLite file (absolute path). */
function dbTarget(opts: DbMoveOptions): { readonly kind: 'postgres'; readonly url: string } | { readonly kind: 'sqlite'; readonly path: string } {
  const db = dbOption(opts);
  if (isSharedDbUrl(db)) return { kind: 'postgres', url: db };
  return { kind: 'sqlite', path: resolve(process.cwd(), db ?? DEFAULT_DB) };
}

/** Opens the store `--db` names as an `AsyncEventStore`; a SQLite file must exist unless `create`. */
async function openAsyncStore(opts: DbMoveOptions, { create = false, forMigration = false } = {}): Promise<AsyncEventStore> {
  const t = dbTarget(opts);
  if (t.kind === 'postgres') {
    const { openPostgresStore } = await import('../../engine/store/postgres/index.js');
    return openPostgresStore(t.url, { forMigration });
  }
  if (!create && !existsSync(t.path)) throw new CliError(`no database at ${t.path} (no runs yet?); pass --db PATH or --db postgres://… to use another one`);
  const { openSqliteStore } = await import('../../engine/store/sqlite-store.js');
  const { asyncStoreOf } = await import('../../engine/store/sqlite-async.js');
  return asyncStoreOf(openSqliteStore(t.path));
}

/** What the store's location is called in messages (a URL without its password, or a path). */
function shownDb(opts: DbMoveOptions): string {
  const t = dbTarget(opts);
  return t.kind === 'postgres' ? redactUrl(t.url) : t.path;
}

/**
 * `larkflow db migrate [--db PATH|URL]`: brings the database's schema to this larkflow's version,
 * serialized across processes. PostgreSQL is never migrated implicitly (a worker refuses a database
 * that is behind); a SQLite file is also migrated whenever larkflow opens it.
 */
export async function dbMigrateCommand(opts: DbMoveOptions, io: CliIo): Promise<number> {
  const t = dbTarget(opts);
  let from: number | undefined;
  if (t.kind === 'sqlite') from = existsSync(t.path) ? sqliteVersion(t.path) : 0;
  const store = await openAsyncStore(opts, { create: true, forMigration: true });
  try {
    const report = await store.migrate();
    const before = from ?? report.from;
    const to = report.to;
    io.out(before === to ? `${shownDb(opts)}: schema v${to}, up to date\n` : `${shownDb(opts)}: schema v${before} → v${to}\n`);
    return 0;
  } finally {
    await store.close();
  }
}

/** The schema version a SQLite file is at before larkflow opens (and so migrates) it; 0 if it has none. */
function sqliteVersion(path: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const v = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get();
    return v === undefined ? 0 : Number(v);
  } catch {
    return 0;
  } finally {
    db.close();
  }
}

/**
 * One line of an export (JSON Lines): a script bundle (before the first run that names it), or one
 * whole run: its idempotency key, if any, and its history in order. Inbox messages, the outbox,
 * leases and workers are not exported: they belong to the database the runs are driven on.
 */
export type ExportLine =
  | { readonly type: 'script'; readonly digest: string; readonly files: readonly { readonly path: string; readonly text: string }[] }
  | { readonly type: 'run'; readonly runId: string; readonly idempotencyKey?: string; readonly events: readonly HistoryEvent[] };

/**
 * `larkflow db export [--db PATH|URL] [-o FILE]`: every run as one JSON line (its history), newest
 * first, with the script bundles they ran before them. Written to FILE through a temporary name
 * (FILE is never half written), or to stdout.
 */
export async function dbExportCommand(opts: DbMoveOptions, io: CliIo): Promise<number> {
  const target = opts.output === undefined || opts.output === '-' ? undefined : resolve(process.cwd(), opts.output);
  if (target !== undefined && !existsSync(dirname(target))) throw new CliError(`cannot write ${opts.output}: no directory ${dirname(target)}`);
  const store = await openAsyncStore(opts);
  const partial = target === undefined ? undefined : `${target}.partial-${process.pid}`;
  const out = partial === undefined ? undefined : createWriteStream(partial);
  const write = async (line: ExportLine): Promise<void> => {
    const text = `${JSON.stringify(line)}\n`;
    if (out === undefined) io.out(text);
    else if (!out.write(text)) await once(out, 'drain');
  };
  let runs = 0;
  let events = 0;
  try {
    const scripts = new Set<string>();
    let after: string | undefined;
    for (;;) {
      const page = await store.listRuns({ limit: 200, ...(after !== undefined ? { after } : {}) });
      if (page.length === 0) break;
      for (const r of page) {
        const history = await store.history(r.runId);
        const first = history[0];
        if (first?.kind === 'RunStarted' && !scripts.has(first.scriptDigest)) {
          scripts.add(first.scriptDigest);
          const files = await store.getScript(first.scriptDigest);
          if (files !== undefined) await write({ type: 'script', digest: first.scriptDigest, files });
        }
        await write({ type: 'run', runId: r.runId, ...(r.idempotencyKey !== undefined ? { idempotencyKey: r.idempotencyKey } : {}), events: history });
        runs++;
        events += history.length;
      }
      after = runCursor(page[page.length - 1]!);
    }
    if (out !== undefined && partial !== undefined && target !== undefined) {
      await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
      renameSync(partial, target);
      io.err(`exported ${runs} run${runs === 1 ? '' : 's'} (${events} events) from ${shownDb(opts)} to ${target}\n`);
    }
    return 0;
  } catch (e) {
    out?.destroy();
    if (partial !== undefined) rmSync(partial, { force: true });
    throw e;
  } finally {
    await store.close();
  }
}

/**
 * `larkflow db import FILE [--db PATH|URL]`: loads an export into the database (a SQLite file is
 * created if missing; a PostgreSQL database must be migrated). Idempotent: a run that exists
 * already (same id, or same idempotency key) is skipped and counted, never changed.
 */
export async function dbImportCommand(file: string, opts: DbMoveOptions, io: CliIo): Promise<number> {
  const source = resolve(process.cwd(), file);
  if (!existsSync(source)) throw new CliError(`no file ${file} to import`);
  if (statSync(source).isDirectory()) throw new CliError(`${file} is a directory; give the file db export wrote`);
  const store = await openAsyncStore(opts, { create: true });
  let imported = 0;
  let skipped = 0;
  let scripts = 0;
  let lineNo = 0;
  try {
    const lines = createInterface({ input: createReadStream(source, 'utf8'), crlfDelay: Infinity });
    for await (const text of lines) {
      lineNo++;
      if (text.trim() === '') continue;
      let line: ExportLine;
      try {
        line = JSON.parse(text) as ExportLine;
      } catch (e) {
        throw new CliError(`${file}:${lineNo}: not JSON (${(e as Error).message}); give a file db export wrote`, 1);
      }
      if (line.type === 'script') {
        await store.putScript(line.digest, line.files);
        scripts++;
      } else if (line.type === 'run' && Array.isArray(line.events)) {
        try {
          await store.importRun(line.events, line.idempotencyKey !== undefined ? { idempotencyKey: line.idempotencyKey } : {});
          imported++;
        } catch (e) {
          if (e instanceof Error && e.name === 'DuplicateRunError') skipped++;
          else throw new CliError(`${file}:${lineNo}: ${e instanceof Error ? e.message : String(e)}`, 1);
        }
      } else {
        throw new CliError(`${file}:${lineNo}: not a line of db export (type ${JSON.stringify((line as { type?: unknown }).type)})`, 1);
      }
    }
  } finally {
    await store.close();
  }
  io.out(`imported ${imported} run${imported === 1 ? '' : 's'} into ${shownDb(opts)}; skipped ${skipped} already there; ${scripts} script bundle${scripts === 1 ? '' : 's'}\n`);
  return 0;
}
