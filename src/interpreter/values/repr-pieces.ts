/**
 * This file defines `repr` as incremental work (job.ts), for the `str` and `repr` builtins: a large
 * list, tuple, dict or set is printed block by block (REPR_BLOCK elements, each block with the
 * ordinary `reprInto`), yielding between blocks, and a large container inside a list, tuple or set is
 * printed the same way. The text is exactly `repr(v)`'s: the brackets and separators below mirror the `repr` methods
 * of list.ts and dict.ts.
 */
import { chargeBytes } from './budget.js';
import { Dict, StarSet } from './dict.js';
import { List, Tuple } from './list.js';
import { REPR_BLOCK, reprBlock, reprEntries, reprInto } from './repr.js';
import type { StarValue, Value } from './value.js';

/** Containers with more elements than this are printed incrementally. */
const BIG = REPR_BLOCK;

/** True if `v` is a list, tuple, dict or set large enough to be printed incrementally. */
export function isBig(v: Value): boolean {
  if (v instanceof List || v instanceof Tuple) return v.elems.length > BIG;
  if (v instanceof Dict || v instanceof StarSet) return v.size > BIG;
  return false;
}

/** `repr(v)`, computed in pieces of at most REPR_BLOCK elements (yielding between them). */
export function* reprPieces(v: Value): Generator<undefined, string, undefined> {
  if (!isBig(v)) {
    const out: string[] = [];
    reprInto(v, out, new Set());
    return joined(out);
  }
  const out: string[] = [];
  yield* reprGen(v as StarValue, out, new Set());
  return joined(out);
}

function joined(out: string[]): string {
  if (out.length === 1) return out[0]!;
  const r = out.join('');
  chargeBytes(r.length);
  return r;
}

/** Appends the elements of a sequence, block by block; a big element is printed the same way. */
function* elemsGen(elems: readonly Value[], out: string[], seen: Set<StarValue>): Generator<undefined, void, undefined> {
  const n = elems.length;
  for (let start = 0; start < n; ) {
    // A block ends before the next big element, which is printed on its own.
    let end = start;
    while (end < n && end - start < REPR_BLOCK && !isBig(elems[end]!)) end++;
    if (end > start) {
      reprBlock(elems, start, end, out, seen);
      start = end;
    } else {
      if (start > 0) out.push(', ');
      yield* reprGen(elems[start] as StarValue, out, seen);
      start++;
    }
    yield;
  }
}

function* reprGen(v: StarValue, out: string[], seen: Set<StarValue>): Generator<undefined, void, undefined> {
  if (v instanceof List) {
    if (seen.has(v)) {
      out.push('[...]');
      return;
    }
    seen.add(v);
    out.push('[');
    yield* elemsGen(v.elems, out, seen);
    out.push(']');
    seen.delete(v);
  } else if (v instanceof Tuple) {
    out.push('(');
    yield* elemsGen(v.elems, out, seen);
    if (v.elems.length === 1) out.push(',');
    out.push(')');
  } else if (v instanceof Dict) {
    if (seen.has(v)) {
      out.push('{...}');
      return;
    }
    seen.add(v);
    out.push('{');
    const entries = v.entries();
    for (let start = 0; start < entries.length; start += REPR_BLOCK) {
      if (start > 0) out.push(', ');
      reprEntries(entries.slice(start, start + REPR_BLOCK), out, seen);
      yield;
    }
    out.push('}');
    seen.delete(v);
  } else if (v instanceof StarSet) {
    out.push('set([');
    yield* elemsGen(v.elems(), out, seen);
    out.push('])');
  } else {
    reprInto(v, out, seen);
  }
}
