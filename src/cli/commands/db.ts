/**
 * This file defines `larkflow db backup FILE [--db PATH] [--force]`: a consistent copy of the run
 * database, taken while runs may be going on (SQLite's online backup, through the store's `backup`).
 * The copy is written beside FILE under a temporary name and renamed into place when complete, so
 * FILE is never a half-written database; an existing FILE is only replaced with `--force`.
 */
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CliError } from '../errors.js';
import { closeQuietly, dbPath, openEngine, type CliIo, type EngineCliOptions } from '../engine-options.js';

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
