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
import { isBlobMarker } from './blob-store.js';

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
 * The cache key of a task call: hex SHA-256 of the canonical JSON of its inputs, where each argument
 * (each positional one, each keyword one) counts by the SHA-256 of its own canonical JSON. A blob
 * marker's digest is exactly that (blob-store.ts stores a value as its canonical JSON), so an
 * argument gives the same key whether it was offloaded or not, whatever the threshold, and whichever
 * store holds it. Object keys are sorted (kwargs and nested dicts in any order give one key);
 * positional order counts. NaN and ±Infinity, which JSON would turn into `null`, are kept apart.
 */
export function cacheKey(input: CacheKeyInput): string {
  return digestOf({
    format: CACHE_KEY_FORMAT,
    task: input.task,
    implementation: input.implementationDigest,
    version: input.cacheVersion,
    args: input.args.map(argumentDigest),
    // fromEntries defines own properties, so a "__proto__" keyword stays a key.
    kwargs: Object.fromEntries(Object.keys(input.kwargs).map((k) => [k, argumentDigest(input.kwargs[k]!)])),
  });
}

/** The identity of one argument: a blob marker's digest, or the SHA-256 of the value's canonical JSON. */
export function argumentDigest(v: Json): string {
  return isBlobMarker(v) ? v.$blob : digestOf(tagNonFinite(v));
}

/** `v` with NaN/±Infinity tagged (canonical JSON would write them as null); `v` itself if it has none. */
function tagNonFinite(v: Json): Json {
  if (typeof v === 'number') return Number.isFinite(v) ? v : { $nonfinite: String(v) };
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = v.map(tagNonFinite);
    return out.some((x, i) => x !== v[i]) ? out : v;
  }
  const keys = Object.keys(v);
  const tagged = keys.map((k) => tagNonFinite(v[k]!));
  return tagged.some((x, i) => x !== v[keys[i]!]) ? Object.fromEntries(keys.map((k, i) => [k, tagged[i]!])) : v;
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
