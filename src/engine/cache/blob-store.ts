/**
 * This file defines the blob store port: content-addressed storage of checkpointed task results and
 * large workflow inputs, keyed by the hex SHA-256 of their bytes. The local file system
 * (fs-blob-store.ts) and S3 (s3-blob-store.ts) implement it and pass one contract suite
 * (tests/engine/blob-store-contract.test.ts). Two rules hold for every implementation: a blob is
 * stored only under the digest of its own bytes (`put` checks), and `get` hashes what it read and
 * throws a `BlobStoreError` naming the blob when the bytes do not match, so a damaged or tampered
 * object is never returned as data. The JSON helpers below offload big history values to a store and
 * bring them back: history keeps a small marker `{"$blob": digest, "size": n, "uri": "..."}`.
 */
import { StoreError } from '../core/errors.js';
import type { Json } from '../core/json.js';
import { canonicalJson, sha256 } from '../../util/hash.js';

/** A stored blob as listed: its digest and size in bytes. */
export interface BlobInfo {
  readonly digest: string;
  readonly size: number;
}

/** Where a blob is: its digest, its size in bytes, and a URI for people and tools (file:// or s3://). */
export interface BlobRef {
  readonly digest: string;
  readonly size: number;
  readonly uri: string;
}

/**
 * Content-addressed blob storage. `digest` is always the lowercase hex SHA-256 of the bytes; any
 * other string is refused with a `BlobStoreError` (reason 'invalid') before the store is touched.
 */
export interface BlobStore {
  /**
   * Stores `bytes` under `digest`. Idempotent: storing a blob that is already there is cheap and
   * leaves it as it is. Atomic: a reader sees the whole blob or none.
   * @throws BlobStoreError 'invalid' if `digest` is not the SHA-256 of `bytes`; 'unavailable'
   *   (retryable) if the storage cannot be reached
   */
  put(digest: string, bytes: Uint8Array): Promise<void>;
  /**
   * The blob's bytes, verified against `digest`; undefined if there is no such blob.
   * @throws BlobStoreError 'corrupt' (naming the blob) if the stored bytes do not hash to `digest`
   */
  get(digest: string): Promise<Uint8Array | undefined>;
  /** The blob's size, without reading it; undefined if there is no such blob. */
  head(digest: string): Promise<{ readonly size: number } | undefined>;
  /** Removes the blob; removing a missing blob is not an error. */
  delete(digest: string): Promise<void>;
  /** Every stored blob, in no particular order. */
  list(): AsyncIterable<BlobInfo>;
  /** The URI of the blob (whether or not it exists), for history and messages. */
  uri(digest: string): string;
  /** Releases connections; the store is not used afterwards. */
  close?(): Promise<void> | void;
}

/** Why a blob operation failed. */
export type BlobErrorReason =
  /** The blob's stored bytes do not hash to its digest (or it is not the JSON it should be). */
  | 'corrupt'
  /** A blob that history refers to is not in the store. */
  | 'missing'
  /** A bad digest, URL or option: a bug or a mistake, retrying does not help. */
  | 'invalid'
  /** The storage could not be reached or failed (network, 5xx, throttling, disk busy): retryable. */
  | 'unavailable'
  /** The storage refused (credentials, permissions, no such bucket): not retryable. */
  | 'refused';

/**
 * A blob store failure. A `StoreError` (code 'store'), so callers that handle store failures handle
 * it too; `retryable` says whether trying again later may succeed, `digest` names the blob when the
 * failure concerns one.
 */
export class BlobStoreError extends StoreError {
  readonly retryable: boolean;
  constructor(
    message: string,
    readonly reason: BlobErrorReason,
    readonly digest?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'BlobStoreError';
    this.retryable = reason === 'unavailable';
  }
}

/** True if `err` is a store failure that may succeed when retried (a `BlobStoreError` that says so). */
export function isRetryableStoreError(err: unknown): boolean {
  return err instanceof StoreError && (err as Partial<BlobStoreError>).retryable === true;
}

const DIGEST = /^[0-9a-f]{64}$/;

/** True if `s` is a lowercase hex SHA-256 digest. */
export function isDigest(s: unknown): s is string {
  return typeof s === 'string' && DIGEST.test(s);
}

/**
 * Checks that `digest` is a lowercase hex SHA-256 (it ends up in file names and object keys).
 * @throws BlobStoreError 'invalid'
 */
export function checkDigest(digest: string): void {
  if (!isDigest(digest)) throw new BlobStoreError(`invalid blob digest ${JSON.stringify(String(digest)).slice(0, 80)}: expected 64 lowercase hex characters (SHA-256)`, 'invalid');
}

/**
 * Checks that `bytes` hash to `digest` before they are stored.
 * @throws BlobStoreError 'invalid'
 */
export function checkPut(digest: string, bytes: Uint8Array): void {
  checkDigest(digest);
  const actual = sha256(bytes);
  if (actual !== digest) throw new BlobStoreError(`cannot store blob ${digest}: its bytes hash to ${actual}; a blob is stored only under the SHA-256 of its bytes`, 'invalid', digest);
}

/**
 * Checks bytes read from `uri` against `digest`.
 * @throws BlobStoreError 'corrupt', naming the blob and where it is
 */
export function verifyBlob(digest: string, bytes: Uint8Array, uri: string): Uint8Array {
  const actual = sha256(bytes);
  if (actual !== digest) {
    throw new BlobStoreError(`blob ${digest} is corrupt: the ${bytes.byteLength} bytes stored at ${uri} hash to ${actual}; delete it (larkflow cache rm, or remove the object) and re-run the step that produced it`, 'corrupt', digest);
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// JSON values as blobs

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The bytes a JSON value is stored as: its canonical JSON in UTF-8 (equal values, one blob). */
export function jsonBytes(value: Json): Uint8Array {
  return encoder.encode(canonicalJson(value));
}

/**
 * Stores `value` as canonical JSON and returns where it is.
 * @throws BlobStoreError from the store
 */
export async function putJson(store: BlobStore, value: Json): Promise<BlobRef> {
  const bytes = jsonBytes(value);
  const digest = sha256(bytes);
  await store.put(digest, bytes);
  return { digest, size: bytes.byteLength, uri: store.uri(digest) };
}

/**
 * Reads back a value stored by `putJson`.
 * @throws BlobStoreError 'missing' if the blob is not in the store, 'corrupt' if its bytes do not
 *   match its digest or size or are not JSON; both name the blob
 */
export async function getJson(store: BlobStore, ref: { readonly digest: string; readonly size?: number }): Promise<Json> {
  checkDigest(ref.digest);
  const bytes = await store.get(ref.digest);
  const uri = store.uri(ref.digest);
  if (bytes === undefined) throw new BlobStoreError(`blob ${ref.digest} is missing: nothing is stored at ${uri}`, 'missing', ref.digest);
  if (ref.size !== undefined && bytes.byteLength !== ref.size) {
    throw new BlobStoreError(`blob ${ref.digest} at ${uri} has ${bytes.byteLength} bytes, but history recorded ${ref.size}`, 'corrupt', ref.digest);
  }
  try {
    return JSON.parse(decoder.decode(bytes)) as Json;
  } catch (err) {
    throw new BlobStoreError(`blob ${ref.digest} at ${uri} is not JSON: ${(err as Error).message}`, 'corrupt', ref.digest, { cause: err });
  }
}

/**
 * The marker that stands for an offloaded value in history: `{"$blob": digest, "size": n, "uri": u}`.
 * Only the digest identifies the value (cache keys use `{"$blob": digest}` alone).
 */
export interface BlobMarker {
  readonly $blob: string;
  readonly size: number;
  readonly uri: string;
}

/** True if `v` is a blob marker (an object with a `$blob` digest, `size` and `uri`, nothing else). */
export function isBlobMarker(v: unknown): v is BlobMarker {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  return keys.length === 3 && isDigest(o.$blob) && typeof o.size === 'number' && typeof o.uri === 'string';
}

/** The marker of a stored blob, as history keeps it. */
export function blobMarker(ref: BlobRef): BlobMarker & Json {
  return { $blob: ref.digest, size: ref.size, uri: ref.uri };
}

/** Default size above which `offloadJson` stores a value as a blob: 64 KiB of canonical JSON. */
export const DEFAULT_BLOB_THRESHOLD_BYTES = 64 * 1024;

/** What `planOffload` decided: the value for history, and the blob to store first, if any. */
export interface OffloadPlan {
  /** `value` itself, or the blob marker that stands for it. */
  readonly value: Json;
  /** The blob to `put` before anything that refers to `value` is committed. */
  readonly blob?: { readonly digest: string; readonly bytes: Uint8Array };
}

/**
 * The synchronous half of `offloadJson`, for code that must decide inside a synchronous step (an
 * activation) and store the blob afterwards: `value` itself if its canonical JSON is at most
 * `thresholdBytes` long, otherwise its marker plus the bytes to store. The marker's digest is the
 * SHA-256 of the value's canonical JSON, so it is the same whichever store or threshold is used.
 */
export function planOffload(store: BlobStore, value: Json, thresholdBytes: number = DEFAULT_BLOB_THRESHOLD_BYTES): OffloadPlan {
  // Scalars are never offloaded, and a string shorter than the threshold in UTF-8's worst case
  // (3 bytes per UTF-16 unit, plus quotes and escapes) need not be encoded to know it.
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return { value };
  if (typeof value === 'string' && value.length * 6 + 2 <= thresholdBytes) return { value };
  const bytes = jsonBytes(value);
  if (bytes.byteLength <= thresholdBytes) return { value };
  const digest = sha256(bytes);
  return { value: blobMarker({ digest, size: bytes.byteLength, uri: store.uri(digest) }), blob: { digest, bytes } };
}

/**
 * `value` itself if its canonical JSON is at most `thresholdBytes` long, otherwise a blob marker
 * after storing it. Whole values only: the engine calls it per task result and per argument.
 * @throws BlobStoreError from the store
 */
export async function offloadJson(store: BlobStore, value: Json, thresholdBytes: number = DEFAULT_BLOB_THRESHOLD_BYTES): Promise<Json> {
  const plan = planOffload(store, value, thresholdBytes);
  if (plan.blob !== undefined) await store.put(plan.blob.digest, plan.blob.bytes);
  return plan.value;
}

/**
 * `value` with a blob marker (at the top level) replaced by the stored value; other values as they are.
 * @throws BlobStoreError 'missing' or 'corrupt', naming the blob
 */
export async function resolveJson(store: BlobStore, value: Json): Promise<Json> {
  if (!isBlobMarker(value)) return value;
  return getJson(store, { digest: value.$blob, size: value.size });
}
