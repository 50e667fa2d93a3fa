/**
 * This file defines `repr` and `str` of any value. It is kept apart from value.ts so container
 * types can call it without an import cycle through value.ts.
 */
import { intToString } from './int.js';
import { quoteString, type StarValue, type Value } from './value.js';

/** Appends repr(v) to out. */
export function reprInto(v: Value, out: string[], seen: Set<StarValue>): void {
  switch (typeof v) {
    case 'string':
      out.push(quoteString(v));
      return;
    case 'number':
    case 'bigint':
      out.push(intToString(v));
      return;
    case 'boolean':
      out.push(v ? 'True' : 'False');
      return;
    case 'object':
      if (v === null) out.push('None');
      else v.repr(out, seen);
      return;
    default:
      out.push('<invalid>');
  }
}

/** `repr(v)`: the Starlark representation. */
export function repr(v: Value): string {
  switch (typeof v) {
    case 'string':
      return quoteString(v);
    case 'number':
      return String(v);
    case 'boolean':
      return v ? 'True' : 'False';
    default: {
      const out: string[] = [];
      reprInto(v, out, new Set());
      return out.join('');
    }
  }
}

/** `str(v)`: a string is itself, anything else its repr. */
export function str(v: Value): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return repr(v);
}
