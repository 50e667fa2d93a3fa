/**
 * This file is the barrel of the task cache and checkpoint storage: the `BlobStore` port with its
 * local (fs) and S3 adapters, cache keys, and the cache index (SQLite, memory). The engine composes
 * them (engine.ts); only successful attempts are ever put into a cache index.
 */
export {
  BlobStoreError,
  DEFAULT_BLOB_THRESHOLD_BYTES,
  blobMarker,
  checkDigest,
  getJson,
  isBlobMarker,
  isDigest,
  isRetryableStoreError,
  jsonBytes,
  offloadJson,
  planOffload,
  putJson,
  resolveJson,
  verifyBlob,
} from './blob-store.js';
export type { BlobErrorReason, BlobInfo, BlobMarker, BlobRef, BlobStore, OffloadPlan } from './blob-store.js';
export { FsBlobStore } from './fs-blob-store.js';
export type { FsBlobStoreOptions } from './fs-blob-store.js';
export { S3BlobStore, parseS3Url } from './s3-blob-store.js';
export type { S3BlobStoreOptions, S3Location } from './s3-blob-store.js';
export { CACHE_KEY_FORMAT, argumentDigest, cacheKey, processImplementationDigest, starlarkImplementationDigest } from './cache-key.js';
export type { CacheKeyInput } from './cache-key.js';
export { CACHE_SCHEMA_VERSION, MemoryCacheIndex, SqliteCacheIndex, openSqliteCacheIndex } from './cache-index.js';
export type { CacheEntry, CacheIndex, NewCacheEntry, SqliteCacheIndexOptions } from './cache-index.js';
export { MemoryBlobStore } from './memory-blob-store.js';
