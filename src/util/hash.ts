/**
 * This file defines content hashing: SHA-256 over canonical JSON (fast-json-stable-stringify, keys
 * sorted), as the engine uses for script digests, argument digests and cache keys. Deterministic by
 * construction: the same value always gives the same digest, on every machine.
 */
import { createHash } from 'node:crypto';
import stringify from 'fast-json-stable-stringify';

/** Canonical JSON text of a JSON value (object keys sorted). */
export function canonicalJson(v: unknown): string {
  return stringify(v);
}

/** Hex SHA-256 of a string (UTF-8) or bytes. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Hex SHA-256 of the canonical JSON of a value. */
export function digestOf(v: unknown): string {
  return sha256(canonicalJson(v));
}
