/**
 * This file defines cache keys: the SHA-256 of the canonical JSON (keys sorted) of everything that
 * decides a task's result: the task name, the digest of its implementation, its `cache_version`, and
 * its arguments as history records them (big values as blob digests). Two calls that differ in any of
 * these never share an entry; identical calls share one whichever run or workflow makes them.
 *
 * The implementation digest is what Uniflow gets wrong (it hashes an image tag, so changed code
 * returns stale results): here it is the digest of the code itself: a Starlark `@task` body's
 * source, a JS task's function source plus version (FunctionExecutor.implementationDigestOf), a
 * process task's argv plus the contents of every file it names.
 */
import { openSync, readSync, closeSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import type { Json } from '../core/json.js';
import { digestOf } from '../../util/hash.js';
import { isDigest } from './blob-store.js';

/** Version of the key's layout; changing what goes into a key bumps it, so old entries miss. */
export const CACHE_KEY_FORMAT = 1;

/** What a cache key is made of. */
export interface CacheKeyInput {
  /** The registered task name. */
  readonly task: string;
  /** Digest of the task's code (see the functions below). */
  readonly implementationDigest: string;
  /** The task's `cache_version` ('' when not given). */
  readonly cacheVersion: string;
  /** Positional arguments as history JSON; offloaded values are blob markers (`{"$blob": digest, ...}`). */
  readonly args: readonly Json[];
  /** Keyword arguments as history JSON. */
  readonly kwargs: { readonly [name: string]: Json };
}

/**
 * The cache key of a task call: hex SHA-256 of the canonical JSON of its inputs. Object keys are
 * sorted (kwargs and nested dicts in any order give one key); positional order counts. A blob marker
 * counts by its digest only (`{"$blob": digest}`), so the same value stored locally or in S3 gives
 * the same key. Non-finite numbers, which JSON would turn into `null`, are kept apart.
 */
export function cacheKey(input: CacheKeyInput): string {
  return digestOf({
    format: CACHE_KEY_FORMAT,
    task: input.task,
    implementation: input.implementationDigest,
    version: input.cacheVersion,
    args: input.args.map(keyForm),
    kwargs: keyForm(input.kwargs as Json),
  });
}

/** The form of a value inside a key: blob markers reduced to their digest, NaN/±Infinity tagged. */
function keyForm(v: Json): Json {
  if (typeof v === 'number') return Number.isFinite(v) ? v : { $nonfinite: String(v) };
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(keyForm);
  if (isDigest(v.$blob) && typeof v.size === 'number' && typeof v.uri === 'string' && Object.keys(v).length === 3) return { $blob: v.$blob };
  // fromEntries defines own properties, so a "__proto__" key stays a key.
  return Object.fromEntries(Object.keys(v).map((k) => [k, keyForm(v[k]!)]));
}

/** Implementation digest of a Starlark `@task`: the digest of its source text. */
export function starlarkImplementationDigest(sourceText: string): string {
  return digestOf({ kind: 'starlark', source: sourceText });
}

/**
 * Implementation digest of a process task: its argv plus the SHA-256 of the contents of every argv
 * element that names an existing regular file (relative to `cwd`), so editing `train.py` in
 * `python train.py` changes the key. Reads the files (in 1 MiB chunks); a file that cannot be read
 * counts as not existing. Hazards: files reached otherwise (imports, `--in=data.csv`, PATH lookups of
 * the program) are not covered; give the task a `cache_version` when they matter.
 */
export function processImplementationDigest(argv: readonly string[], cwd: string): string {
  const files: { index: number; sha256: string }[] = [];
  argv.forEach((arg, index) => {
    const digest = fileDigest(isAbsolute(arg) ? arg : resolve(cwd, arg));
    if (digest !== undefined) files.push({ index, sha256: digest });
  });
  return digestOf({ kind: 'process', argv, files });
}

const CHUNK = 1024 * 1024;

/** SHA-256 of a regular file's contents, or undefined if it is not one (or cannot be read). */
function fileDigest(path: string): string | undefined {
  if (path === '') return undefined;
  let fd: number;
  try {
    if (!statSync(path).isFile()) return undefined;
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
    return hash.digest('hex');
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
