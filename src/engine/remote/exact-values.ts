/**
 * This file converts between the three forms a task's value takes on its way to and from a remote
 * runner: history's JSON (a big int is `{"$bigint": "digits"}`), JSON text (a big int is a plain
 * number with all its digits: `writeExactJson` / `parseExactJson` in ../executors/exact-json.ts), and
 * the values a JavaScript task sees (a big int is a `BigInt`).
 */
import type { Json } from '../core/json.js';
import { isBigintMarker, type ReadonlyJson } from '../executors/exact-json.js';

/** Why a value cannot travel as JSON, with where in the value the problem is (`value.rows[3]`). */
export class NotJsonError extends TypeError {
  override readonly name = 'NotJsonError';
  constructor(
    message: string,
    /** Where in the value: `value`, `value.key`, `value[2]`. */
    readonly at: string,
  ) {
    super(message);
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * History's JSON form of a JavaScript value, strictly: null, booleans, finite numbers, strings,
 * BigInts (a big one becomes `{"$bigint": ...}`, a small one a number), arrays and plain objects
 * (prototype Object or null); an object with `toJSON` (a Date) is converted as JSON.stringify does.
 * `undefined` is `null` at the top and in arrays and is left out of objects, as JSON.stringify does.
 * @throws NotJsonError for a function, a symbol, NaN or ±Infinity, a Map, a class instance without
 *   `toJSON`, a cycle: what JSON.stringify would silently drop or change
 */
export function toJsonValue(v: unknown, at = 'value', seen: Set<object> = new Set()): ReadonlyJson {
  switch (typeof v) {
    case 'undefined':
      return null;
    case 'boolean':
    case 'string':
      return v;
    case 'number':
      if (!Number.isFinite(v)) throw new NotJsonError(`${at} is ${v}, which JSON cannot hold`, at);
      return v;
    case 'bigint':
      return v > MAX_SAFE || v < -MAX_SAFE ? { $bigint: v.toString() } : Number(v);
    case 'function':
    case 'symbol':
      throw new NotJsonError(`${at} is a ${typeof v}, which JSON cannot hold`, at);
    default:
      break;
  }
  if (v === null) return null;
  const obj = v as object;
  if (seen.has(obj)) throw new NotJsonError(`${at} refers back to itself (a cycle), which JSON cannot hold`, at);
  const toJSON = (obj as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    seen.add(obj);
    try {
      return toJsonValue((toJSON as (key: string) => unknown).call(obj, ''), at, seen);
    } finally {
      seen.delete(obj);
    }
  }
  seen.add(obj);
  try {
    if (Array.isArray(obj)) return obj.map((item: unknown, i) => toJsonValue(item, `${at}[${i}]`, seen));
    const proto = Object.getPrototypeOf(obj) as object | null;
    if (proto !== Object.prototype && proto !== null) {
      const what = (proto as { constructor?: { name?: unknown } }).constructor?.name;
      throw new NotJsonError(`${at} is ${typeof what === 'string' && what !== '' ? `a ${what}` : 'an object with a prototype'}, not a plain object, array or JSON value`, at);
    }
    const out: { [key: string]: ReadonlyJson } = {};
    for (const key of Object.keys(obj)) {
      const item = (obj as Record<string, unknown>)[key];
      if (item === undefined) continue;
      const value = toJsonValue(item, `${at}.${key}`, seen);
      if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      else out[key] = value;
    }
    return out;
  } finally {
    seen.delete(obj);
  }
}

/** A JavaScript task's view of history's JSON: every `{"$bigint": ...}` becomes a BigInt. */
export function fromJsonValue(v: Json | ReadonlyJson): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return (v as readonly ReadonlyJson[]).map(fromJsonValue);
  if (isBigintMarker(v)) return BigInt(v.$bigint);
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(v as { readonly [key: string]: ReadonlyJson })) {
    if (key === '__proto__') Object.defineProperty(out, key, { value: fromJsonValue(item), enumerable: true, writable: true, configurable: true });
    else out[key] = fromJsonValue(item);
  }
  return out;
}
