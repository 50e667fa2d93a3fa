/**
 * This file defines the sort behind `sorted`: stable, ascending or descending (`reverse` keeps equal
 * elements in their original order, as go.starlark.net's sort.Stable with a reversed `less` does),
 * with go.starlark.net's error for unordered elements. A small input is sorted at once with V8's
 * stable sort; a large one as incremental work (values/job.ts): runs of RUN elements sorted natively,
 * then merged pairwise, pass after pass, yielding every RUN elements, with the comparisons charged
 * as work before each piece.
 */
import { EvalError } from '../interpreter/errors.js';
import { chargeSteps, compare, type Value } from '../interpreter/values/index.js';


/**
 * Sorts `values` stably by `keys` (ascending, or descending if `reverse`), as go.starlark.net's
 * `sorted` does. The fast path is the engine's stable sort. If some comparison fails, the sort is
 * replayed with Go's own sort.Stable algorithm, which records the *last* failing comparison, so the
 * error message names the same operands as the reference.
 */
export function stableSort(values: Value[], keys: Value[], reverse: boolean): Value[] {
  const n = values.length;
  if (keys === values) {
    // No key function: sort the values themselves (V8's sort is stable), no index indirection.
    const out = values.slice();
    try {
      out.sort(reverse ? (a, b) => -compare(a, b, '<') : (a, b) => compare(a, b, '<'));
    } catch (e) {
      if (!isComparisonError(e)) throw e;
      throw goStableSortError(keys, reverse) ?? e;
    }
    return out;
  }
  const perm = new Array<number>(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  try {
    // Fast paths when every key is a small int or every key is a string (the common cases).
    let allNum = true;
    let allStr = true;
    for (let i = 0; i < n && (allNum || allStr); i++) {
      const t = typeof keys[i];
      if (t !== 'number') allNum = false;
      if (t !== 'string') allStr = false;
    }
    if (allNum || allStr) {
      const k = keys as (number | string)[];
      perm.sort(reverse ? (a, b) => (k[a]! < k[b]! ? 1 : k[a]! > k[b]! ? -1 : 0) : (a, b) => (k[a]! < k[b]! ? -1 : k[a]! > k[b]! ? 1 : 0));
    } else {
      perm.sort((a, b) => {
        const c = compare(keys[a]!, keys[b]!, '<');
        return reverse ? -c : c;
      });
    }
  } catch (e) {
    if (!isComparisonError(e)) throw e;
    throw goStableSortError(keys, reverse) ?? e;
  }
  const out = new Array<Value>(n);
  for (let i = 0; i < n; i++) out[i] = values[perm[i]!]!;
  return out;
}

/** Replays Go's sort.Stable (insertion sort of blocks of 20, then SymMerge) and returns its last error. */
function goStableSortError(keys0: readonly Value[], reverse: boolean): EvalError | undefined {
  const keys = keys0.slice();
  let err: EvalError | undefined;
  const lessRaw = (i: number, j: number): boolean => {
    try {
      return compare(keys[i]!, keys[j]!, '<') < 0;
    } catch (e) {
      if (e instanceof EvalError) {
        err = e;
        return false;
      }
      throw e;
    }
  };
  const less = reverse ? (i: number, j: number) => lessRaw(j, i) : lessRaw;
  const swap = (i: number, j: number): void => {
    const t = keys[i]!;
    keys[i] = keys[j]!;
    keys[j] = t;
  };
  const insertionSort = (a: number, b: number): void => {
    for (let i = a + 1; i < b; i++) for (let j = i; j > a && less(j, j - 1); j--) swap(j, j - 1);
  };
  const swapRange = (a: number, b: number, n: number): void => {
    for (let i = 0; i < n; i++) swap(a + i, b + i);
  };
  const rotate = (a: number, m: number, b: number): void => {
    let i = m - a;
    let j = b - m;
    while (i !== j) {
      if (i > j) {
        swapRange(m - i, m, j);
        i -= j;
      } else {
        swapRange(m - i, m + j - i, i);
        j -= i;
      }
    }
    swapRange(m - i, m, i);
  };
  const symMerge = (a: number, m: number, b: number): void => {
    if (m - a === 1) {
      let i = m;
      let j = b;
      while (i < j) {
        const h = (i + j) >>> 1;
        if (less(h, a)) i = h + 1;
        else j = h;
      }
      for (let k = a; k < i - 1; k++) swap(k, k + 1);
      return;
    }
    if (b - m === 1) {
      let i = a;
      let j = m;
      while (i < j) {
        const h = (i + j) >>> 1;
        if (!less(m, h)) i = h + 1;
        else j = h;
      }
      for (let k = m; k > i; k--) swap(k, k - 1);
      return;
    }
    const mid = (a + b) >>> 1;
    const n = mid + m;
    let start: number;
    let r: number;
    if (m > mid) {
      start = n - b;
      r = mid;
    } else {
      start = a;
      r = m;
    }
    const p = n - 1;
    while (start < r) {
      const c = (start + r) >>> 1;
      if (!less(p - c, c)) start = c + 1;
      else r = c;
    }
    const end = n - start;
    if (start < m && m < end) rotate(start, m, end);
    if (a < start && start < mid) symMerge(a, start, mid);
    if (mid < end && end < b) symMerge(mid, end, b);
  };
  const n = keys.length;
  let blockSize = 20;
  let a = 0;
  let b = blockSize;
  while (b <= n) {
    insertionSort(a, b);
    a = b;
    b += blockSize;
  }
  insertionSort(a, n);
  while (blockSize < n) {
    a = 0;
    b = 2 * blockSize;
    while (b <= n) {
      symMerge(a, a + blockSize, b);
      a = b;
      b += 2 * blockSize;
    }
    const m = a + blockSize;
    if (m < n) symMerge(a, m, n);
    blockSize *= 2;
  }
  return err;
}

/** True for an error of a comparison (replayed for the reference's message), not a budget or cancellation. */
function isComparisonError(e: unknown): e is EvalError {
  return e instanceof EvalError && e.kind === 'eval';
}

/** Elements sorted natively per run, and merged per piece. */
export const RUN = 4096;

/** The comparison of key indices: ascending or descending, with the fast paths of `stableSort`. */
function indexComparator(keys: readonly Value[], reverse: boolean): (a: number, b: number) => number {
  let allNum = true;
  let allStr = true;
  for (let i = 0; i < keys.length && (allNum || allStr); i++) {
    const t = typeof keys[i];
    if (t !== 'number') allNum = false;
    if (t !== 'string') allStr = false;
  }
  if (allNum || allStr) {
    const k = keys as readonly (number | string)[];
    return reverse ? (a, b) => (k[a]! < k[b]! ? 1 : k[a]! > k[b]! ? -1 : 0) : (a, b) => (k[a]! < k[b]! ? -1 : k[a]! > k[b]! ? 1 : 0);
  }
  return reverse ? (a, b) => -compare(keys[a]!, keys[b]!, '<') : (a, b) => compare(keys[a]!, keys[b]!, '<');
}

/**
 * `stableSort` as incremental work: sorts runs of RUN natively, then merges them bottom-up (taking
 * from the left run on ties, so the sort stays stable), yielding after each run and every RUN merged
 * elements. A failing comparison is reported as `stableSort` reports it.
 */
export function* sortPieces(values: readonly Value[], keys: readonly Value[], reverse: boolean): Generator<undefined, Value[], undefined> {
  const n = values.length;
  const cmp = indexComparator(keys, reverse);
  let a = new Array<number>(n);
  let b = new Array<number>(n);
  try {
    for (let lo = 0; lo < n; lo += RUN) {
      const hi = Math.min(n, lo + RUN);
      chargeSteps((hi - lo) * Math.log2(RUN));
      const run = new Array<number>(hi - lo);
      for (let i = lo; i < hi; i++) run[i - lo] = i;
      run.sort(cmp);
      for (let i = lo; i < hi; i++) a[i] = run[i - lo]!;
      yield;
    }
    for (let width = RUN; width < n; width *= 2) {
      let budget = 0;
      for (let lo = 0; lo < n; lo += 2 * width) {
        const mid = Math.min(n, lo + width);
        const hi = Math.min(n, lo + 2 * width);
        let i = lo;
        let j = mid;
        for (let k = lo; k < hi; k++) {
          if (budget === 0) {
            chargeSteps(RUN);
            budget = RUN;
            yield;
          }
          budget--;
          if (i < mid && (j >= hi || cmp(a[i]!, a[j]!) <= 0)) b[k] = a[i++]!;
          else b[k] = a[j++]!;
        }
      }
      const t = a;
      a = b;
      b = t;
    }
  } catch (e) {
    if (!isComparisonError(e)) throw e;
    throw goStableSortError(keys, reverse) ?? e;
  }
  const out = new Array<Value>(n);
  for (let i = 0; i < n; i++) out[i] = values[a[i]!]!;
  return out;
}
