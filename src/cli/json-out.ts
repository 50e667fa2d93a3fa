/**
 * This file defines how the CLI prints values as JSON without losing digits. Workflow values reach the
 * CLI in two forms: plain JS (from `engine.result()`, where an int beyond 2^53 is a `bigint`) and
 * history JSON (events and folded state, where the same int is `{"$bigint": "digits"}`, see
 * engine/workflow/convert.ts). `JSON.stringify` throws on the first and shows the internal tag for
 * the second; `exactJson` prints both as a JSON number with every digit (`1152921504606846976`),
 * which is valid JSON that a reader with arbitrary-precision numbers reads back exactly.
 */

/** True for history's tag of a big int: an object whose only key is `$bigint`, with digits. */
function isBigintTag(v: object): v is { $bigint: string } {
  const tag = (v as { $bigint?: unknown }).$bigint;
  if (typeof tag !== 'string' || !/^-?\d+$/.test(tag)) return false;
  for (const k in v) if (k !== '$bigint') return false;
  return true;
}

/**
 * `v` as JSON text, like `JSON.stringify(v, null, indent)`, except that bigints and history's
 * `{"$bigint": "digits"}` print as exact JSON numbers.
 * @param indent spaces per level (0: compact, on one line)
 */
export function exactJson(v: unknown, indent = 0): string {
  // The common case (no big ints anywhere) stays on V8's native path.
  let text: string | undefined;
  try {
    text = JSON.stringify(v, null, indent);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e; // a bigint (or a cycle, which the slow path reports too)
  }
  if (text !== undefined && !text.includes('"$bigint"')) return text;
  return write(v, indent, '', new Set()) ?? 'null';
}

/** One value; `undefined` for what JSON.stringify leaves out (undefined, functions, symbols). */
function write(v: unknown, indent: number, pad: string, seen: Set<object>): string | undefined {
  switch (typeof v) {
    case 'bigint':
      return v.toString();
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'string':
    case 'boolean':
      return JSON.stringify(v);
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    default:
      break;
  }
  if (v === null) return 'null';
  const obj = v as object;
  if (isBigintTag(obj)) return obj.$bigint;
  if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') return write((obj as { toJSON(): unknown }).toJSON(), indent, pad, seen);
  if (seen.has(obj)) throw new TypeError('cannot print a value that contains itself');
  seen.add(obj);
  const inner = pad + ' '.repeat(indent);
  const nl = indent > 0 ? '\n' : '';
  const colon = indent > 0 ? ': ' : ':';
  let out: string;
  if (Array.isArray(obj)) {
    if (obj.length === 0) out = '[]';
    else out = `[${nl}${obj.map((x) => inner + (write(x, indent, inner, seen) ?? 'null')).join(`,${nl}`)}${nl}${pad}]`;
  } else {
    const parts: string[] = [];
    for (const [k, x] of Object.entries(obj)) {
      const s = write(x, indent, inner, seen);
      if (s !== undefined) parts.push(`${inner}${JSON.stringify(k)}${colon}${s}`);
    }
    out = parts.length === 0 ? '{}' : `{${nl}${parts.join(`,${nl}`)}${nl}${pad}}`;
  }
  seen.delete(obj);
  return out;
}
