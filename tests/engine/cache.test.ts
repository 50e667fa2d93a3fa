/**
 * This file tests the task cache's parts: cache keys (fast-check properties: any change of task name,
 * implementation, version or argument gives another key; key order never does), implementation
 * digests, and the cache index contract, run with `describe.each` against the memory index and the
 * SQLite index on a real file: TTL enforced on lookup and by prune, listing, removal, hit counts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FsBlobStore,
  MemoryCacheIndex,
  S3BlobStore,
  cacheKey,
  isBlobMarker,
  planOffload,
  openSqliteCacheIndex,
  processImplementationDigest,
  starlarkImplementationDigest,
} from '../../src/engine/cache/index.js';
import type { CacheIndex, CacheKeyInput, NewCacheEntry } from '../../src/engine/cache/index.js';
import { StoreError } from '../../src/engine/core/errors.js';
import type { Json } from '../../src/engine/core/json.js';
import { openSqliteStore } from '../../src/engine/store/index.js';

// The pinned AWS SDK runs on Node 20 but warns that releases after January 2027 will need Node 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const tmp = mkdtempSync(join(tmpdir(), 'larkflow-cache-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// Cache keys

const json: fc.Arbitrary<Json> = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;
const input: fc.Arbitrary<CacheKeyInput> = fc.record({
  task: fc.string({ minLength: 1, maxLength: 12 }),
  implementationDigest: fc.stringMatching(/^[0-9a-f]{64}$/),
  cacheVersion: fc.string({ maxLength: 6 }),
  args: fc.array(json, { maxLength: 4 }),
  kwargs: fc.dictionary(fc.string({ maxLength: 6 }), json, { maxKeys: 4 }),
});

/** The same JSON value with every object's keys in reverse order. */
function reorder(v: Json): Json {
  if (Array.isArray(v)) return v.map(reorder);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.keys(v).reverse().map((k) => [k, reorder(v[k]!)]));
}

describe('cacheKey', () => {
  it('is a hex SHA-256, equal for identical inputs whatever the key order', () => {
    fc.assert(
      fc.property(input, (i) => {
        const k = cacheKey(i);
        expect(k).toMatch(/^[0-9a-f]{64}$/);
        const copy: CacheKeyInput = { ...i, args: i.args.map(reorder), kwargs: reorder(i.kwargs as Json) as { [k: string]: Json } };
        expect(cacheKey(copy)).toBe(k);
        expect(cacheKey(JSON.parse(JSON.stringify(i)) as CacheKeyInput)).toBe(k);
      }),
    );
  });

  it('differs when the task name, implementation, version or any argument differs', () => {
    /** Different as values, not merely in key order. */
    const differ = (x: Json, y: Json) => JSON.stringify(sortKeys(x)) !== JSON.stringify(sortKeys(y));
    fc.assert(
      fc.property(input, input, (a, b) => {
        const base = cacheKey(a);
        if (a.task !== b.task) expect(cacheKey({ ...a, task: b.task })).not.toBe(base);
        if (a.implementationDigest !== b.implementationDigest) expect(cacheKey({ ...a, implementationDigest: b.implementationDigest })).not.toBe(base);
        if (a.cacheVersion !== b.cacheVersion) expect(cacheKey({ ...a, cacheVersion: b.cacheVersion })).not.toBe(base);
        if (differ(a.args as Json[], b.args as Json[])) expect(cacheKey({ ...a, args: b.args })).not.toBe(base);
        if (differ(a.kwargs as Json, b.kwargs as Json)) expect(cacheKey({ ...a, kwargs: b.kwargs })).not.toBe(base);
      }),
      { numRuns: 300 },
    );
  });

  it('differs when one argument changes anywhere inside it', () => {
    fc.assert(
      fc.property(input, json, fc.nat(), (i, replacement, at) => {
        fc.pre(i.args.length > 0);
        const idx = at % i.args.length;
        fc.pre(JSON.stringify(sortKeys(i.args[idx]!)) !== JSON.stringify(sortKeys(replacement)));
        const args = [...i.args];
        args[idx] = replacement;
        expect(cacheKey({ ...i, args })).not.toBe(cacheKey(i));
      }),
    );
  });

  it('separates cases JSON would confuse: arg position, args vs kwargs, NaN vs null, strings vs numbers', () => {
    const base = { task: 't', implementationDigest: 'a'.repeat(64), cacheVersion: '', kwargs: {} };
    const keys = [
      cacheKey({ ...base, args: [1, 2] }),
      cacheKey({ ...base, args: [2, 1] }),
      cacheKey({ ...base, args: [[1, 2]] }),
      cacheKey({ ...base, args: ['1', 2] }),
      cacheKey({ ...base, args: [null] }),
      cacheKey({ ...base, args: [Number.NaN] }),
      cacheKey({ ...base, args: [Number.POSITIVE_INFINITY] }),
      cacheKey({ ...base, args: [], kwargs: { x: 1 } }),
      cacheKey({ ...base, args: [{ x: 1 }] }),
      cacheKey({ ...base, args: [] }),
      cacheKey({ ...base, args: [], cacheVersion: 'v2' }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('counts an offloaded argument by its digest: the same key offloaded or not, in any store', async () => {
    const base = { task: 't', implementationDigest: 'a'.repeat(64), cacheVersion: '', kwargs: {} };
    const big: Json = { rows: Array.from({ length: 3000 }, (_, i) => ({ i, name: `row ${i}` })) };
    const inline = cacheKey({ ...base, args: [big] });
    const local = planOffload(new FsBlobStore({ root: join(tmp, 'plan') }), big);
    const s3 = planOffload(new S3BlobStore({ url: 's3://bucket/p', region: 'us-east-1', env: {} }), big);
    expect(isBlobMarker(local.value) && isBlobMarker(s3.value)).toBe(true);
    expect(local.value).not.toEqual(s3.value); // different URIs
    expect(cacheKey({ ...base, args: [local.value] })).toBe(inline);
    expect(cacheKey({ ...base, args: [s3.value] })).toBe(inline);
    expect(cacheKey({ ...base, args: [], kwargs: { data: local.value } })).toBe(cacheKey({ ...base, args: [], kwargs: { data: big } }));
    expect(cacheKey({ ...base, args: [{ $blob: 'c'.repeat(64), size: 10, uri: 'x' }] })).not.toBe(inline);
  });
});

function sortKeys(v: Json): Json {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k]!)]));
}

describe('implementation digests', () => {
  it('a Starlark task: its source', () => {
    const a = starlarkImplementationDigest('def f(x):\n    return x + 1\n');
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(starlarkImplementationDigest('def f(x):\n    return x + 1\n')).toBe(a);
    expect(starlarkImplementationDigest('def f(x):\n    return x + 2\n')).not.toBe(a);
  });

  it('a process task: its argv and the contents of the files it names', () => {
    const dir = mkdtempSync(join(tmp, 'proc-'));
    writeFileSync(join(dir, 'train.py'), 'print("v1")\n');
    const argv = ['python3', 'train.py', '--epochs', '3'];
    const v1 = processImplementationDigest(argv, dir);
    expect(processImplementationDigest(argv, dir)).toBe(v1);
    expect(processImplementationDigest(['python3', 'train.py', '--epochs', '4'], dir)).not.toBe(v1);
    writeFileSync(join(dir, 'train.py'), 'print("v2")\n');
    const v2 = processImplementationDigest(argv, dir);
    expect(v2).not.toBe(v1);
    // An absolute path is the same file.
    expect(processImplementationDigest(['python3', join(dir, 'train.py'), '--epochs', '3'], '/')).not.toBe(processImplementationDigest(['python3', join(dir, 'nothing.py'), '--epochs', '3'], '/'));
    // A directory, or a name that is not a file, counts as plain text.
    expect(processImplementationDigest(['ls', '.'], dir)).toBe(processImplementationDigest(['ls', '.'], tmp));
  });
});

// ---------------------------------------------------------------------------------------------
// The cache index contract

const DAY = 86_400_000;
const entry = (key: string, extra: Partial<NewCacheEntry> = {}): NewCacheEntry => ({
  key,
  task: 'train',
  result: { accuracy: 0.9, model: [1, 2, 3] },
  size: 42,
  createdAt: 1_000,
  expiresAt: 1_000 + 28 * DAY,
  runId: 'run-1',
  stepId: 'train#1',
  ...extra,
});

let dbCounter = 0;
const indexes: { name: string; open: () => CacheIndex }[] = [
  { name: 'memory', open: () => new MemoryCacheIndex() },
  { name: 'sqlite', open: () => openSqliteCacheIndex(join(tmp, `idx${++dbCounter}`, 'cache.db')) },
];

describe.each(indexes)('CacheIndex contract: $name', ({ open }) => {
  it('looks up what was put, until it expires', () => {
    const idx = open();
    expect(idx.lookup('k1', 1_000)).toBeUndefined();
    idx.put(entry('k1'));
    expect(idx.lookup('k1', 1_000)).toEqual({ ...entry('k1'), hits: 0 });
    expect(idx.lookup('k1', 1_000 + 28 * DAY - 1)?.key).toBe('k1');
    // TTL enforced on lookup, before any prune.
    expect(idx.lookup('k1', 1_000 + 28 * DAY)).toBeUndefined();
    expect(idx.lookup('k1', 1_000 + 365 * DAY)).toBeUndefined();
    expect(idx.list()).toHaveLength(1); // still there until pruned
    idx.close();
  });

  it('prune removes exactly the expired entries', () => {
    const idx = open();
    idx.put(entry('a', { expiresAt: 100 }));
    idx.put(entry('b', { expiresAt: 200 }));
    idx.put(entry('c', { expiresAt: 300 }));
    expect(idx.prune(99)).toBe(0);
    expect(idx.prune(200)).toBe(2);
    expect(idx.list().map((e) => e.key)).toEqual(['c']);
    expect(idx.lookup('c', 250)?.key).toBe('c');
    expect(idx.prune(1_000)).toBe(1);
    expect(idx.list()).toEqual([]);
    idx.close();
  });

  it('counts hits', () => {
    const idx = open();
    idx.put(entry('k'));
    idx.recordHit('k', 2_000);
    idx.recordHit('k', 3_000);
    expect(idx.lookup('k', 3_000)).toMatchObject({ hits: 2, lastHitAt: 3_000 });
    idx.recordHit('missing', 3_000); // no-op
    // A refreshed result restarts the count.
    idx.put(entry('k', { result: 'new', createdAt: 4_000 }));
    expect(idx.lookup('k', 4_000)).toMatchObject({ hits: 0, result: 'new', createdAt: 4_000 });
    expect(idx.lookup('k', 4_000)?.lastHitAt).toBeUndefined();
    idx.close();
  });

  it('lists (newest first, by task), removes by key and by task', () => {
    const idx = open();
    idx.put(entry('t1', { createdAt: 10 }));
    idx.put(entry('t2', { createdAt: 30 }));
    idx.put(entry('p1', { task: 'prep', createdAt: 20, result: { $blob: 'd'.repeat(64), size: 1 << 20, uri: 'file:///b' } }));
    expect(idx.list().map((e) => e.key)).toEqual(['t2', 'p1', 't1']);
    expect(idx.list({ task: 'train' }).map((e) => e.key)).toEqual(['t2', 't1']);
    expect(idx.list({ task: 'nope' })).toEqual([]);
    expect(idx.lookup('p1', 20)?.result).toEqual({ $blob: 'd'.repeat(64), size: 1 << 20, uri: 'file:///b' });
    expect(idx.remove('t2')).toBe(true);
    expect(idx.remove('t2')).toBe(false);
    expect(idx.removeTask('train')).toBe(1);
    expect(idx.removeTask('train')).toBe(0);
    expect(idx.list().map((e) => e.key)).toEqual(['p1']);
    idx.close();
  });

  it('refuses an entry without a key or with non-integer times', () => {
    const idx = open();
    expect(() => idx.put(entry(''))).toThrow(StoreError);
    expect(() => idx.put(entry('k', { expiresAt: Number.NaN }))).toThrow(/expiresAt must be an integer/);
    idx.close();
  });
});

describe('SqliteCacheIndex', () => {
  it('keeps entries across reopening, in WAL mode', () => {
    const path = join(tmp, 'reopen', 'cache.db');
    const a = openSqliteCacheIndex(path);
    a.put(entry('k'));
    a.recordHit('k', 5);
    a.close();
    const b = openSqliteCacheIndex(path);
    expect(b.lookup('k', 5)).toMatchObject({ key: 'k', hits: 1 });
    b.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('refuses a file that is not a cache database: a run database, another program\'s, a directory', () => {
    const runs = join(tmp, 'runs', 'runs.db');
    openSqliteStore(runs).close();
    expect(() => openSqliteCacheIndex(runs)).toThrow(/is not a larkflow cache database/);
    const other = join(tmp, 'other.db');
    const db = new Database(other);
    db.exec('CREATE TABLE people (name TEXT)');
    db.close();
    expect(() => openSqliteCacheIndex(other)).toThrow(/holds tables people/);
    expect(() => openSqliteCacheIndex(tmp)).toThrow(/is a directory/);
  });

  it('refuses a cache database of a newer larkflow', () => {
    const path = join(tmp, 'newer', 'cache.db');
    openSqliteCacheIndex(path).close();
    const db = new Database(path);
    db.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run();
    db.close();
    expect(() => openSqliteCacheIndex(path)).toThrow(/newer larkflow \(cache schema 99/);
  });
});
