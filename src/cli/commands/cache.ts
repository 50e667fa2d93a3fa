/**
 * This file defines `larkflow cache`: the task cache of a database (its `cache.db` beside the run
 * database). `cache ls [--task NAME] [--json]` lists the entries, newest first, with key, task, size,
 * age, expiry ("expired" once past) and hits; `cache rm KEY` removes one entry (KEY may be a unique
 * prefix of at least 8 characters, as `ls` shows them) and `cache rm --task NAME` every entry of a
 * task; `cache prune` removes the expired entries. Blobs that entries refer to are left alone: run
 * histories may refer to them too.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CacheEntry, CacheIndex } from '../../engine/cache/index.js';
import { CliError } from '../errors.js';
import { closeQuietly, dbPath, iso, openEngine, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { table } from './runs.js';

export interface CacheLsOptions extends EngineCliOptions {
  readonly task?: string;
  readonly json?: boolean;
}

export interface CacheRmOptions extends EngineCliOptions {
  readonly task?: string;
}

/** Characters of a key `cache ls` shows; `cache rm` takes any unique prefix at least this long. */
export const SHORT_KEY = 16;
const MIN_PREFIX = 8;

/** A byte count for people: 812 B, 1.5 KiB, 64.0 MiB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** A span of time for people, with days: 850ms, 12s, 5m03s, 3h12m, 27d23h. */
export function span(ms: number): string {
  const t = Math.max(0, ms);
  if (t < 1000) return `${Math.round(t)}ms`;
  const s = Math.floor(t / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}

/** An entry as `cache ls --json` prints it. */
export function entryJson(e: CacheEntry, now: number): Record<string, unknown> {
  return {
    key: e.key,
    task: e.task,
    size: e.size,
    created: iso(e.createdAt),
    expires: iso(e.expiresAt),
    expired: e.expiresAt <= now,
    hits: e.hits,
    lastHit: e.lastHitAt !== undefined ? iso(e.lastHitAt) : null,
    run: e.runId,
    step: e.stepId,
    blob: typeof e.result === 'object' && e.result !== null && !Array.isArray(e.result) && typeof (e.result as Record<string, unknown>).$blob === 'string',
  };
}

/**
 * Opens the cache of the database the options name and runs `fn` on it; with no database yet, runs
 * `fn` on nothing (undefined) instead of creating one.
 */
async function withCache<T>(opts: EngineCliOptions, fn: (cache: CacheIndex | undefined) => T): Promise<T> {
  if (!existsSync(dbPath(opts))) return fn(undefined);
  const engine = await openEngine(opts);
  try {
    return fn(engine.cache);
  } finally {
    await closeQuietly(engine);
  }
}

export async function cacheLsCommand(opts: CacheLsOptions, io: CliIo): Promise<number> {
  const now = Date.now();
  const entries = await withCache(opts, (cache) => cache?.list(opts.task !== undefined ? { task: opts.task } : {}) ?? []);
  if (opts.json) {
    io.out(JSON.stringify(entries.map((e) => entryJson(e, now)), null, 2) + '\n');
    return 0;
  }
  if (entries.length === 0) {
    io.err(`no cache entries${opts.task !== undefined ? ` of task ${opts.task}` : ''}\n`);
    return 0;
  }
  const rows = entries.map((e) => [e.key.slice(0, SHORT_KEY), e.task, bytes(e.size), span(now - e.createdAt), e.expiresAt <= now ? 'expired' : `in ${span(e.expiresAt - now)}`, String(e.hits)]);
  io.out(table(['KEY', 'TASK', 'SIZE', 'AGE', 'EXPIRES', 'HITS'], rows) + '\n');
  return 0;
}

export async function cacheRmCommand(key: string | undefined, opts: CacheRmOptions, io: CliIo): Promise<number> {
  if (key !== undefined && opts.task !== undefined) throw new CliError('cache rm: give a KEY or --task NAME, not both');
  if (key === undefined && opts.task === undefined) throw new CliError('cache rm: give a KEY (as `larkflow cache ls` shows it) or --task NAME');
  if (opts.task !== undefined) {
    const task = opts.task;
    const n = await withCache(opts, (cache) => cache?.removeTask(task) ?? 0);
    if (n === 0) io.err(`no cache entries of task ${task}; nothing removed\n`);
    else io.out(`removed ${n} cache entr${n === 1 ? 'y' : 'ies'} of task ${task}\n`);
    return 0;
  }
  const wanted = key!.trim().toLowerCase();
  if (!/^[0-9a-f]+$/.test(wanted)) throw new CliError(`cache rm: ${JSON.stringify(key)} is not a cache key (keys are hex digests, as \`larkflow cache ls\` shows them)`);
  if (wanted.length < MIN_PREFIX) throw new CliError(`cache rm: key ${key} is too short; give at least ${MIN_PREFIX} characters of it`);
  const removed = await withCache(opts, (cache) => {
    if (!cache) return undefined;
    const matches = cache.list().filter((e) => e.key.startsWith(wanted));
    if (matches.length > 1) throw new CliError(`cache rm: key ${key} is ambiguous: ${matches.length} entries start with it (${matches.slice(0, 3).map((e) => `${e.key.slice(0, SHORT_KEY)} ${e.task}`).join(', ')}${matches.length > 3 ? ', ...' : ''}); give more of it`);
    const m = matches[0];
    return m !== undefined && cache.remove(m.key) ? m : undefined;
  });
  if (!removed) throw new CliError(`cache rm: no cache entry ${key} in ${join(dirname(dbPath(opts)), 'cache.db')} (\`larkflow cache ls\` lists the entries)`);
  io.out(`removed cache entry ${removed.key.slice(0, SHORT_KEY)} (task ${removed.task})\n`);
  return 0;
}

export async function cachePruneCommand(opts: EngineCliOptions, io: CliIo): Promise<number> {
  const n = await withCache(opts, (cache) => cache?.prune(Date.now()) ?? 0);
  io.out(`pruned ${n} expired cache entr${n === 1 ? 'y' : 'ies'}\n`);
  return 0;
}
