/**
 * This file defines the heap guard: the default allocation limit of every thread, derived from the V8
 * heap the process actually has. A thread's cumulative count of estimated bytes (values/budget.ts) is
 * only the trigger: every `HEAP_CHECK_INTERVAL` estimated bytes, and before any single charge of that
 * size or more, the thread asks the guard whether the live heap plus the bytes about to be allocated
 * stays under the limit (`liveHeapLimit`: 75% of `heap_size_limit` less the young generation). So a
 * script that churns (allocates and drops garbage in a loop) never fails, however much it allocates
 * in total, and a script whose live values grow towards the heap limit fails with a clean
 * `EvalError` (kind 'budget') instead of killing the process with "JavaScript heap out of memory".
 *
 * V8's used heap includes garbage not yet collected (after a full GC V8 lets the heap grow to a few
 * times the live size before the next one), so a used heap over the limit is not proof of live data.
 * The guard then forces a full GC and decides on the heap that survives it; after a forced GC, the
 * heap it left plus the bytes charged since bound the live heap, so another is forced only when that
 * bound reaches the limit or `MIN_GC_GAP_FRACTION` of the heap has been charged since (a full GC of
 * a few GB takes a few hundred ms). Node exposes `gc()` only with --expose-gc: the guard turns that
 * V8 flag on just long enough to take `gc` from a fresh vm context, then off again, so no other
 * context sees it. If that is not possible, it decides on the used heap against `HARD_FRACTION`.
 *
 * The heap is shared by everything in the process, so the thread that would take it over the limit is
 * the one that fails, whoever holds the memory.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EvalError } from '../errors.js';

/**
 * Live heap a thread may take the process to, as a fraction of V8's `heap_size_limit` less
 * YOUNG_ALLOWANCE. (V8 itself gives up, "ineffective mark-compacts near heap limit", when the old
 * generation stays over 80% of its maximum, so the limit must stay well under that.)
 */
export const LIVE_HEAP_FRACTION = 0.75;
/** The part of `heap_size_limit` that is V8's young generation (3 × 16 MiB semi-spaces on 64-bit), and some. */
const YOUNG_ALLOWANCE = 64 * 1024 * 1024;
/**
 * Used heap (garbage included) that fails even when no GC could be forced, as a fraction of
 * `heap_size_limit` less YOUNG_ALLOWANCE: at 80% V8 is about to give up.
 */
const HARD_FRACTION = 0.8;
/** Estimated bytes a thread allocates between two heap checks. */
export const HEAP_CHECK_INTERVAL = 1 << 20;
/** Bytes checked since the last forced GC before another may be forced, as a fraction of the limit. */
const MIN_GC_GAP_FRACTION = 1 / 16;

/** The V8 heap limit of this process, in bytes (`--max-old-space-size` and friends included). */
export function heapSizeLimit(): number {
  return getHeapStatistics().heap_size_limit;
}

/** The live-heap limit the guard enforces for a heap of `heapSizeLimit` bytes. */
function limitOf(heapSizeLimit: number): number {
  return Math.floor(Math.max(heapSizeLimit / 2, heapSizeLimit - YOUNG_ALLOWANCE) * LIVE_HEAP_FRACTION);
}

/**
 * The live-heap limit the guard enforces, in bytes: 75% of (V8's `heap_size_limit` − 64 MiB), e.g.
 * 3.2 GB of a 4.3 GB heap, 180 MB with --max-old-space-size=256.
 */
export function liveHeapLimit(): number {
  return limitOf(heapSizeLimit());
}

/** `gc()` taken from a vm context once; null if it cannot be had; undefined before the first try. */
let forceGc: (() => void) | null | undefined;

function gcFunction(): (() => void) | null {
  if (forceGc !== undefined) return forceGc;
  forceGc = null;
  try {
    setFlagsFromString('--expose-gc');
    try {
      const f: unknown = runInNewContext('gc');
      if (typeof f === 'function') forceGc = f as () => void;
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  } catch {
    forceGc = null;
  }
  return forceGc;
}

/** Estimated bytes charged since the last forced GC (all threads together). */
let sinceGc = Infinity;
/** The used heap right after the last forced GC: the live heap then. */
let liveAfterGc = 0;

const MB = 1024 * 1024;

function mb(n: number): string {
  return `${Math.round(n / MB)} MB`;
}

/**
 * Throws the allocation budget error if allocating `pending` more bytes would take the live heap over
 * the limit. `checked` is the number of estimated bytes the caller charged since its previous check.
 * @throws EvalError (kind 'budget')
 */
export function checkHeap(pending: number, checked: number): void {
  sinceGc += checked;
  const stats = getHeapStatistics();
  const limit = limitOf(stats.heap_size_limit);
  const hard = Math.max(stats.heap_size_limit / 2, stats.heap_size_limit - YOUNG_ALLOWANCE) * HARD_FRACTION;
  let used = stats.used_heap_size;
  if (used + pending < limit) return;
  // Over the limit, perhaps only with garbage. A GC forced recently bounds the live heap by what it
  // left plus what was charged since: when that is under the limit, the rest is garbage.
  const recent = sinceGc < stats.heap_size_limit * MIN_GC_GAP_FRACTION;
  if (recent && used + pending < hard && liveAfterGc + sinceGc + pending < limit) return;
  const gc = gcFunction();
  if (gc) {
    gc();
    sinceGc = 0;
    used = liveAfterGc = getHeapStatistics().used_heap_size;
    if (used + pending < limit) return;
  } else if (used + pending < hard) {
    return; // no way to tell garbage from live data: fail only near the end of the heap
  }
  throw new EvalError(
    `allocation budget exceeded: ${mb(used)} of heap in use${pending >= MB ? ` and ${mb(pending)} more wanted` : ''}, ` +
      `limit ${mb(limit)} (of the ${mb(stats.heap_size_limit)} V8 heap)`,
    'budget',
  );
}
