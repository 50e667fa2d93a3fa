/**
 * This file defines content hashing: SHA-256 over canonical JSON (fast-json-stable-stringify, keys
 * sorted), as the engine uses for script digests, argument digests and cache keys. Deterministic by
 * construction: the same value always gives the same digest, on every machine.
 */
import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';
import stringify from 'fast-json-stable-stringify';

/** Canonical JSON text of a JSON value (object keys sorted). */
export function canonicalJson(v: unknown): string {
  return stringify(v);
}

// crypto.hash (Node >= 20.12) is a one-shot digest, about 3x cheaper than createHash for small inputs.
const oneShot = (crypto as { hash?: (alg: string, data: string | Uint8Array, enc: 'hex') => string }).hash;

/** Hex SHA-256 of a string (UTF-8) or bytes. */
export function sha256(data: string | Uint8Array): string {
  return oneShot ? oneShot('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex');
}

/** Hex SHA-256 of the canonical JSON of a value. */
export function digestOf(v: unknown): string {
  return sha256(canonicalJson(v));
}
