/**
 * This file defines the large-string algorithms of the string methods `replace`, `split` and `join`
 * as incremental work (values/job.ts): generators that process a string in windows of about a MiB
 * with V8's native split and join, charge each window's work before doing it, and yield between
 * windows. So a method on a 64 MB string is fast (native code), bounded in the time it holds the
 * thread without a budget check, and, in a time-sliced run, gives the event loop a turn when the slice
 * is spent. Small inputs take one window, which is the plain native call.
 *
 * Windows follow the left-to-right scan of the separator exactly: a window is cut after the last
 * occurrence it contains (the scan position is known there), and a window with no occurrence is cut
 * `sep.length - 1` bytes before its end (an occurrence may start there). So the result equals the
 * one-shot native result, overlapping patterns included ("aaa".replace("aa", "b") == "ba").
 */
import { chargeBytes, chargeSteps, BYTES_PER_STEP, OBJECT_BYTES, SLOT_BYTES, STEP_CHUNK, type Value } from '../../interpreter/values/index.js';

/** Bytes of input processed per window (between two charges of work). */
const WINDOW = STEP_CHUNK * BYTES_PER_STEP;

/** The window size for a separator of length `n`: big enough that a window always advances. */
function windowFor(n: number): number {
  return Math.max(WINDOW, 2 * n);
}

/**
 * Replaces every occurrence of non-empty `old` in `s` by `repl`, window by window. The caller has
 * charged the result's bytes; this charges the work.
 */
export function* replaceAllPieces(s: string, old: string, repl: string): Generator<undefined, Value, undefined> {
  const w = windowFor(old.length);
  const parts: string[] = [];
  let start = 0;
  for (;;) {
    const e = start + w;
    chargeSteps(Math.min(w, s.length - start) / BYTES_PER_STEP);
    if (e >= s.length) {
      parts.push((start === 0 ? s : s.slice(start)).split(old).join(repl));
      break;
    }
    const pieces = s.slice(start, e).split(old);
    if (pieces.length === 1) {
      const cut = e - old.length + 1;
      parts.push(s.slice(start, cut));
      start = cut;
    } else {
      const tail = pieces.pop()!;
      parts.push(pieces.join(repl), repl);
      start = e - tail.length;
    }
    yield;
  }
  chargeSteps(s.length / BYTES_PER_STEP); // the final concatenation
  return parts.length === 1 ? parts[0]! : parts.join('');
}

/** Splits `s` at every occurrence of non-empty `sep`, window by window, charging the fields as they come. */
export function* splitPieces(s: string, sep: string): Generator<undefined, string[], undefined> {
  const w = windowFor(sep.length);
  const out: string[] = [];
  let fieldStart = 0;
  let start = 0;
  for (;;) {
    const e = start + w;
    chargeSteps(Math.min(w, s.length - start) / BYTES_PER_STEP);
    const last = e >= s.length;
    const pieces = (last ? (start === 0 ? s : s.slice(start)) : s.slice(start, e)).split(sep);
    if (!last && pieces.length === 1) {
      start = e - sep.length + 1; // the field goes on
      yield;
      continue;
    }
    const tail = last ? undefined : pieces.pop()!;
    if (fieldStart < start) pieces[0] = s.slice(fieldStart, start + pieces[0]!.length);
    chargeBytes(pieces.length * (SLOT_BYTES + OBJECT_BYTES));
    for (const p of pieces) out.push(p);
    if (tail === undefined) break;
    start = fieldStart = e - tail.length;
    yield;
  }
  return out;
}

/** Elements joined per window. */
const JOIN_WINDOW = STEP_CHUNK;

/**
 * `parts.join(sep)`, in groups of JOIN_WINDOW elements and then the groups, so that no single native
 * call runs long. The caller has charged the result's bytes (`size`); this charges the work.
 */
export function* joinPieces(parts: readonly string[], sep: string, size: number): Generator<undefined, Value, undefined> {
  if (parts.length <= JOIN_WINDOW && size <= WINDOW) {
    chargeSteps(size / BYTES_PER_STEP);
    return parts.join(sep);
  }
  const groups: string[] = [];
  for (let i = 0; i < parts.length; i += JOIN_WINDOW) {
    const group = parts.slice(i, i + JOIN_WINDOW);
    let n = sep.length * group.length;
    for (const p of group) n += p.length;
    chargeSteps(n / BYTES_PER_STEP + group.length / 8);
    groups.push(group.join(sep));
    yield;
  }
  chargeSteps(size / BYTES_PER_STEP);
  return groups.join(sep);
}

/** The number of non-overlapping occurrences of non-empty `sep` in `s`, window by window. */
export function* countPieces(s: string, sep: string): Generator<undefined, number, undefined> {
  const w = windowFor(sep.length);
  let count = 0;
  let start = 0;
  for (;;) {
    const e = start + w;
    chargeSteps(Math.min(w, s.length - start) / BYTES_PER_STEP);
    if (e >= s.length) return count + (start === 0 ? s : s.slice(start)).split(sep).length - 1;
    const pieces = s.slice(start, e).split(sep);
    if (pieces.length === 1) {
      start = e - sep.length + 1;
    } else {
      count += pieces.length - 1;
      start = e - pieces[pieces.length - 1]!.length;
    }
    yield;
  }
}
