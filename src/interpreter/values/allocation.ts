/**
 * This file defines the allocation hook: operations that build large values charge it, and the
 * running thread installs its budget check here while it runs (vm/thread.ts). A leaf module, so that
 * every value type can charge without import cycles.
 */
import { EvalError } from '../errors.js';

export const allocation = { charge: (_n: number): void => {} };

/**
 * Most elements one list (or string/bytes, in bytes) may hold: a value that would grow past it fails
 * with a clean budget error long before the process could run out of memory.
 */
export const MAX_ELEMENTS = 2 ** 26;

/** Throws the budget error if a value of `n` elements would be too large. */
export function checkSize(n: number, what: string): void {
  if (n > MAX_ELEMENTS) throw new EvalError(`allocation budget exceeded: a ${what} may hold at most ${MAX_ELEMENTS} elements`, 'budget');
}

