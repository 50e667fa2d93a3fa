/**
 * This file defines the conversion between Starlark values and the JSON kept in history. Every value
 * a workflow receives from outside (inputs, task results) goes through history's form first, live and
 * in replay alike, so both see exactly the same values. Ints beyond 2^53 travel as
 * `{"$bigint": "digits"}`; tuples become lists; a float with an integral value becomes an int.
 */
import { EvalError, type Value } from '../../interpreter/index.js';
import { fromJSON, toJSON } from '../../stdlib/index.js';
import type { Json } from '../core/json.js';
import { decodeCodecs } from './plugins/predeclared.js';

function tagBigints(x: unknown): Json {
  if (typeof x === 'bigint') return { $bigint: x.toString() };
  if (Array.isArray(x)) return x.map(tagBigints);
  if (x !== null && typeof x === 'object') {
    const out: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(x as Record<string, unknown>)) out[k] = tagBigints(v);
    return out;
  }
  return x as Json;
}

function untagBigints(x: Json): unknown {
  if (Array.isArray(x)) return x.map(untagBigints);
  if (x !== null && typeof x === 'object') {
    const keys = Object.keys(x);
    if (keys.length === 1 && keys[0] === '$bigint' && typeof x.$bigint === 'string') return BigInt(x.$bigint);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) out[k] = untagBigints(v);
    return out;
  }
  return x;
}

/** A Starlark value as history JSON. @throws EvalError for values that have no JSON form. */
export function toHistory(v: Value, what = 'value'): Json {
  try {
    return tagBigints(toJSON(v));
  } catch (e) {
    throw new EvalError(`cannot record ${what}: ${(e as Error).message}`);
  }
}

/** History JSON as a Starlark value. */
export function fromHistory(j: Json): Value {
  return decodeCodecs(fromJSON(untagBigints(j)));
}

/** A JS value (e.g. a task result) as history JSON. */
export function jsToHistory(x: unknown): Json {
  return tagBigints(x);
}

/** History JSON as plain JS (bigints restored), for JS callers. */
export function historyToJs(j: Json): unknown {
  return untagBigints(j);
}
