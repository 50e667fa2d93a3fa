/**
 * This file defines the JSON values that cross the engine's boundaries (history, executors, the
 * database). Starlark values are converted to and from this form at the edge; ints beyond 2^53
 * travel as `{"$bigint": "digits"}` so that canonical JSON can hold them.
 */

/** A JSON value as stored in history. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object. */
export type JsonObject = { [key: string]: Json };
