/**
 * This file defines what the engine commands share: the `--db`, `--tasks`, `--synchronous` and
 * `--storage` options (and `--no-cache`/`--refresh-cache` of run and resume), opening the engine (imported lazily, so that `larkflow eval` never loads the engine or
 * better-sqlite3), loading a tasks module, and rendering run outcomes and task errors for people.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Option, type Command } from 'commander';
import type { Engine, ErrorInfo, RunResult, RunState } from '../engine/index.js';
import { CliError } from './errors.js';
import { exactJson } from './json-out.js';
import { dbOption, isSharedDbUrl, sharedDbUnsupported } from './shared-db.js';

/** Where the CLI writes: stdout and stderr (captured in tests). */
export interface CliIo {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  /** stderr is a terminal: `run` shows a live status line. @default false */
  readonly live?: boolean;
}

/** The parsed shared options. */
export interface EngineCliOptions {
  readonly db?: string;
  readonly tasks?: string;
  readonly synchronous?: 'NORMAL' | 'FULL';
  /** Where large results and inputs are stored: `s3://bucket/prefix` or a directory (blobs in DIR/blobs/). */
  readonly storage?: string;
  /** Remote backends (run, worker, resume): the Ray dashboard and the Livy server. */
  readonly rayAddress?: string;
  readonly livyUrl?: string;
}

/** The parsed `--no-cache` (commander sets `cache: false`) and `--refresh-cache` options. */
export interface CacheCliOptions {
  readonly cache?: boolean;
  readonly refreshCache?: boolean;
}

/** The default database, relative to the current directory. */
export const DEFAULT_DB = join('.larkflow', 'larkflow.db');
export { dbOption, isSharedDbUrl } from './shared-db.js';

/**
 * Adds `--db PATH` and `--synchronous MODE`, `--tasks FILE` when the command runs tasks, and
 * `--storage URL|DIR` when it runs tasks or reads their results (`storage` defaults to `tasks`).
 */
export function addEngineOptions(cmd: Command, options: { readonly tasks?: boolean; readonly storage?: boolean } = {}): Command {
  const tasks = options.tasks ?? false;
  const storage = options.storage ?? tasks;
  cmd.option('--db <path>', `the run database (default: ${DEFAULT_DB} under the current directory)`);
  cmd.addOption(new Option('--synchronous <mode>', 'SQLite durability: NORMAL (WAL) or FULL (fsync every commit)').choices(['NORMAL', 'FULL']));
  if (tasks) cmd.option('--tasks <file>', 'a JS/ESM module whose exported functions are registered as tasks');
  if (storage) {
    cmd.option(
      '--storage <url|dir>',
      'where large task results are stored: s3://bucket/prefix (endpoint, region and credentials from the AWS_* environment variables) or a directory (blobs under DIR/blobs/); default: beside the database',
    );
  }
  return cmd;
}

/** Adds `--no-cache` and `--refresh-cache` (run, resume). */
export function addCacheOptions(cmd: Command): Command {
  cmd.option('--no-cache', 'neither look up nor store cached task results in this run');
  cmd.option('--refresh-cache', 'run cacheable tasks even when cached, and store their fresh results');
  return cmd;
}

/**
 * The run's cache mode from `--no-cache`/`--refresh-cache`: 'off', 'refresh', or undefined (the
 * engine's default, 'use').
 * @throws CliError when both are given
 */
export function cacheModeOf(opts: CacheCliOptions): 'off' | 'refresh' | undefined {
  const off = opts.cache === false;
  if (off && opts.refreshCache) throw new CliError('--no-cache and --refresh-cache contradict each other: give one of them');
  return off ? 'off' : opts.refreshCache ? 'refresh' : undefined;
}

/**
 * The `blobs` engine option of `--storage`: an `s3://` URL as is (checked here, so that a typo is a
 * usage error before anything is opened), a directory resolved against the current directory.
 * @throws CliError for a malformed s3:// URL or a path that is not a directory
 */
export async function storageOf(storage: string | undefined): Promise<string | undefined> {
  if (storage === undefined) return undefined;
  if (storage === '') throw new CliError('--storage needs s3://bucket/prefix or a directory');
  if (/^s3:/i.test(storage)) {
    const { parseS3Url } = await import('../engine/cache/index.js');
    try {
      parseS3Url(storage);
    } catch (e) {
      throw new CliError(`--storage: ${(e as Error).message}`);
    }
    return storage;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(storage)) throw new CliError(`--storage ${storage}: only s3:// URLs and directories are supported`);
  const abs = resolve(process.cwd(), storage);
  if (existsSync(abs) && !statSync(abs).isDirectory()) throw new CliError(`--storage ${storage} is a file; give a directory (blobs go under DIR/blobs/) or s3://bucket/prefix`);
  return abs;
}

/** The absolute database path the options name. */
export function dbPath(opts: EngineCliOptions): string {
  const db = dbOption(opts);
  if (isSharedDbUrl(db)) throw sharedDbUnsupported('this command');
  return resolve(process.cwd(), db ?? DEFAULT_DB);
}

/** The directory beside the database where attempts and blobs go (`.larkflow` for a shared database). */
export function dbDirOf(opts: EngineCliOptions): string {
  return isSharedDbUrl(dbOption(opts)) ? resolve(process.cwd(), '.larkflow') : dirname(dbPath(opts));
}

/**
 * Opens the engine on the database the options name, and registers the tasks of `--tasks FILE`.
 * With `mustExist`, a missing database is a usage error (there is nothing to inspect) instead of
 * being created.
 * @throws CliError for a missing database or a bad tasks module; StoreError for a broken database
 */
export async function openEngine(opts: EngineCliOptions, { mustExist = false, remote = false, shared = false } = {}): Promise<Engine> {
  const named = dbOption(opts);
  if (isSharedDbUrl(named)) {
    // A shared database (PostgreSQL): only the commands that drive runs use it so far.
    if (!shared) throw sharedDbUnsupported('this command');
    const tasks = opts.tasks !== undefined ? await loadTasks(opts.tasks) : undefined;
    const blobs = await storageOf(opts.storage);
    const { openSharedEngine } = await import('./shared-db.js');
    const engine = await openSharedEngine(named, { workDir: join('.larkflow', 'attempts'), ...(blobs !== undefined ? { blobs } : {}) });
    if (tasks) engine.registerTasks(tasks, { version: tasksVersion(opts.tasks!) });
    return engine;
  }
  const db = dbPath(opts);
  if (mustExist && !existsSync(db)) {
    throw new CliError(`no database at ${db} (no runs yet?); pass --db PATH to use another one`);
  }
  // Load the tasks module first: a broken one should not leave a database behind.
  const tasks = opts.tasks !== undefined ? await loadTasks(opts.tasks) : undefined;
  const blobs = await storageOf(opts.storage);
  const { Engine } = await import('../engine/index.js');
  const engine = Engine.open({ db, synchronous: opts.synchronous ?? 'NORMAL', workDir: join(dirname(db), 'attempts'), ...(blobs !== undefined ? { blobs } : {}) });
  // The module file's digest versions its tasks, so editing a helper the tasks call (not only the
  // task functions themselves) changes their cache keys: no stale cached results.
  if (tasks) engine.registerTasks(tasks, { version: tasksVersion(opts.tasks!) });
  if (remote) {
    // The executors unfinished runs recorded (`run --executor k8s`), so recovery re-attaches to their jobs.
    const { addRecordedRemoteExecutors } = await import('./remote.js');
    await addRecordedRemoteExecutors(
      engine,
      { dbDir: dirname(db), ...(blobs !== undefined ? { storage: blobs } : {}) },
      { ...(opts.tasks !== undefined ? { tasksFile: opts.tasks } : {}), taskNames: Object.keys(tasks ?? {}) },
      { ...(opts.rayAddress !== undefined ? { rayAddress: opts.rayAddress } : {}), ...(opts.livyUrl !== undefined ? { livyUrl: opts.livyUrl } : {}) },
    );
  }
  return engine;
}

/** A version for the tasks of a module: the digest of the module file and of its package.json. */
export function tasksVersion(file: string): string {
  const abs = resolve(process.cwd(), file);
  const parts = [readFileSync(abs, 'utf8')];
  for (let dir = dirname(abs); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      parts.push(readFileSync(pkg, 'utf8'));
      break;
    }
    if (dirname(dir) === dir) break;
  }
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 16);
}

/** Imports a tasks module: its exported functions (and those of an object default export). */
export async function loadTasks(file: string): Promise<Record<string, unknown>> {
  const abs = resolve(process.cwd(), file);
  if (!existsSync(abs)) throw new CliError(`cannot read tasks file ${file}: no such file`);
  if (statSync(abs).isDirectory()) throw new CliError(`tasks file ${file} is a directory; give a .js or .mjs module`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new CliError(`cannot load tasks file ${file}: ${msg}`);
  }
  const out: Record<string, unknown> = {};
  const def = mod.default;
  if (def !== null && typeof def === 'object') {
    for (const [k, v] of Object.entries(def)) if (typeof v === 'function') out[k] = v;
  }
  for (const [k, v] of Object.entries(mod)) if (k !== 'default' && typeof v === 'function') out[k] = v;
  if (Object.keys(out).length === 0) throw new CliError(`tasks file ${file} exports no functions`);
  return out;
}

/**
 * A run id as the user typed it: the full id, or a unique prefix of it (with or without `run-`).
 * @throws CliError (exit 2) for no match or several
 */
export function resolveRunId(engine: Engine, id: string): string {
  // An empty prefix would match every run.
  if (id.trim() === '' || id.trim() === 'run-') throw new CliError(`no run id given${id === '' ? '' : ` (${JSON.stringify(id)})`}: give a run id or a unique prefix of one (see \`larkflow runs\`)`, 2);
  if (engine.store.getRun(id)) return id;
  const want = id.startsWith('run-') ? id : `run-${id}`;
  const matches = engine.runs({ limit: 100_000 }).filter((r) => r.runId.startsWith(want) || r.runId.startsWith(id));
  if (matches.length === 1) return matches[0]!.runId;
  if (matches.length > 1) {
    throw new CliError(`run id ${id} is ambiguous: ${matches.slice(0, 5).map((r) => r.runId).join(', ')}${matches.length > 5 ? ', ...' : ''}`, 2);
  }
  throw new CliError(`no run ${id} (see \`larkflow runs\`)`, 2);
}

/** Closes an engine, ignoring errors (it is being abandoned anyway). */
export async function closeQuietly(engine: Engine | undefined): Promise<void> {
  try {
    await engine?.close();
  } catch {
    // already reported what matters
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** ISO time of an engine timestamp. */
export function iso(ms: number | undefined): string {
  return ms === undefined ? '-' : new Date(ms).toISOString();
}

/** A duration for people: 12ms, 1.25s, 3m04s, 2h05m. */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Compact JSON (big ints with every digit, see json-out.ts), cut to `max` characters. */
export function brief(v: unknown, max = 80): string {
  let s: string;
  try {
    s = exactJson(v);
  } catch {
    s = String(v);
  }
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

/** larkflow's own install directory: stack frames there are the engine's, not the user's. */
const OWN_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A task error's details for people: a JS stack keeps its message and the user's frames (the tasks
 * module), without larkflow's and Node's own frames (LARKFLOW_DEBUG keeps everything).
 */
export function taskDetails(details: string | undefined): string | undefined {
  if (details === undefined || details.trim() === '') return undefined;
  if (process.env.LARKFLOW_DEBUG) return details;
  const lines = details.split('\n');
  const kept = lines.filter((line) => {
    if (!/^\s+at /.test(line)) return true;
    const loc = line.replace(/^\s+at /, '');
    if (/\bnode:/.test(loc) || loc.includes('<anonymous>') || loc === 'new Promise') return false;
    const path = loc.replace(/^.*\(/, '').replace(/\)$/, '').replace(/^file:\/\//, '');
    return !path.startsWith(OWN_ROOT) && !path.includes('/node_modules/');
  });
  return kept.join('\n').trimEnd();
}

/** Indents every line of a block. */
export function indent(text: string, by = '  '): string {
  return text
    .split('\n')
    .map((l) => by + l)
    .join('\n');
}

/** One error with its details (Starlark traceback or task stack), for stderr. */
export function renderErrorInfo(error: ErrorInfo): string {
  const details = error.kind === 'starlark' || error.kind === 'nondeterminism' ? error.details : taskDetails(error.details);
  if (!details) return error.message;
  // A Starlark traceback already ends with the message.
  if (error.kind === 'starlark' && details.includes(error.message)) return details;
  return `${error.message}\n${indent(details)}`;
}

/**
 * How a run ended, for stderr: one line, then for a failure the Starlark traceback and the error of
 * every step that failed for good (the task's own error and stack).
 */
export function renderOutcome(result: RunResult, state: RunState | undefined, elapsedMs?: number): string {
  const took = elapsedMs !== undefined ? ` in ${duration(elapsedMs)}` : '';
  const lines: string[] = [];
  switch (result.status) {
    case 'completed':
      lines.push(`run ${result.runId} completed${took}`);
      break;
    case 'cancelled':
      lines.push(`run ${result.runId} cancelled${took}${result.error ? `: ${result.error.message}` : ''}`);
      break;
    case 'blocked':
      lines.push(`run ${result.runId} blocked: ${result.error?.message ?? 'nondeterminism'}`);
      lines.push('the script no longer matches the run\'s history; restore the script, or start a new run (larkflow resume)');
      break;
    case 'failed': {
      const e = result.error;
      lines.push(`run ${result.runId} failed${took}${e ? `: ${e.message}` : ''}`);
      if (e?.details) lines.push(e.kind === 'starlark' ? e.details : (taskDetails(e.details) ?? ''));
      for (const id of state?.order ?? []) {
        const s = state!.steps[id]!;
        if (s.status !== 'failed' || !s.error) continue;
        lines.push(`${s.kind === 'child' ? 'child run' : 'task'} ${id} failed: ${s.error.kind !== 'task' ? `[${s.error.kind}] ` : ''}${withAttempts(s.error.message, s.attempts.length)}`);
        const d = taskDetails(s.error.details);
        if (d && d !== s.error.message) lines.push(indent(d));
        const logs = s.attempts[s.attempts.length - 1]?.logs;
        if (logs) lines.push(`  logs: ${logs}`);
      }
      break;
    }
  }
  return lines.filter((l) => l !== '').join('\n');
}

/**
 * A step's error message with how many attempts it took: the engine already ends the message of a
 * step whose retries ran out with `(after N attempts)`; the others (say, a non-retryable error at the
 * third attempt) get it here, so it is said once.
 */
export function withAttempts(message: string, attempts: number): string {
  if (attempts <= 1 || /\(after \d+ attempts\)$/.test(message)) return message;
  return `${message} (after ${attempts} attempts)`;
}

/** The exit code of a finished run: 0 completed, 1 otherwise. */
export function exitCodeOf(result: RunResult): number {
  return result.status === 'completed' ? 0 : 1;
}
