/**
 * This file defines `repr` and `str` of any value. It is kept apart from value.ts so container
 * types can call it without an import cycle through value.ts.
 */
import { intToString } from './int.js';
import { chargeBytes, chargeSteps, SLOT_BYTES } from './budget.js';
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

/** Elements printed per block: a block's pieces are joined at once, so the output holds few pieces. */
export const REPR_BLOCK = 4096;

/** Charges printing `n` elements: a step each, and the pieces of their block (two slots each). */
export function chargeRepr(n: number): void {
  chargeSteps(n);
  chargeBytes(2 * n * SLOT_BYTES);
}

/**
 * Appends the reprs of `elems[start:end]`, separated by ", " (with one before the first if start > 0),
 * to `out` as one piece.
 */
export function reprBlock(elems: readonly Value[], start: number, end: number, out: string[], seen: Set<StarValue>): void {
  chargeRepr(end - start);
  const block: string[] = [];
  for (let i = start; i < end; i++) {
    if (i > 0) block.push(', ');
    reprInto(elems[i]!, block, seen);
  }
  out.push(block.join(''));
}

/** Appends the reprs of `elems`, separated by ", ", to `out` (in blocks of REPR_BLOCK). */
export function reprElems(elems: readonly Value[], out: string[], seen: Set<StarValue>): void {
  const n = elems.length;
  if (n <= 16) {
    chargeSteps(n);
    for (let i = 0; i < n; i++) {
      if (i > 0) out.push(', ');
      reprInto(elems[i]!, out, seen);
    }
    return;
  }
  for (let i = 0; i < n; i += REPR_BLOCK) reprBlock(elems, i, Math.min(n, i + REPR_BLOCK), out, seen);
}

/** Appends `k: v` for each entry, separated by ", ", to `out` (in blocks). */
export function reprEntries(entries: readonly (readonly [Value, Value])[], out: string[], seen: Set<StarValue>): void {
  const n = entries.length;
  if (n <= 16) {
    chargeSteps(2 * n);
    for (let i = 0; i < n; i++) {
      if (i > 0) out.push(', ');
      reprInto(entries[i]![0], out, seen);
      out.push(': ');
      reprInto(entries[i]![1], out, seen);
    }
    return;
  }
  for (let start = 0; start < n; start += REPR_BLOCK) {
    const end = Math.min(n, start + REPR_BLOCK);
    chargeRepr(2 * (end - start));
    const block: string[] = [];
    for (let i = start; i < end; i++) {
      if (i > 0) block.push(', ');
      reprInto(entries[i]![0], block, seen);
      block.push(': ');
      reprInto(entries[i]![1], block, seen);
    }
    out.push(block.join(''));
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
      if (out.length === 1) return out[0]!;
      // The pieces were charged as they were printed; this charges the joined text.
      const r = out.join('');
      chargeBytes(r.length);
      return r;
    }
  }
}

/** `str(v)`: a string is itself, anything else its repr. */
export function str(v: Value): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return repr(v);
}
