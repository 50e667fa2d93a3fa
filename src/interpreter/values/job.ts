/**
 * This file defines incremental builtins: a builtin whose work on a large value may take long writes
 * it as a generator that yields after each bounded piece (a few ms at most) and returns its result,
 * and returns `incremental(name, work)`. While nothing asks for a turn, the pieces simply run one
 * after another. When the running thread is time-sliced (`Thread.sliceUntil`) and its slice is spent,
 * the builtin returns a Pending holding the rest of the work: the call site yields it to the thread's
 * driver, which ends the slice (SLICE_END) so the event loop can turn (and a timer abort the signal),
 * and continues the work on the next `resume` before the call expression evaluates to its result.
 * The host never sees such a Pending. A builtin called back from another builtin (`Thread.call`) or
 * directly from JS runs its pieces to the end at once.
 *
 * A piece must leave no half-done state visible to Starlark: the work builds a new value and only
 * then returns it (or mutates only values nothing else can see until it returns).
 */
import { meter } from './budget.js';
import { Pending, type Value } from './value.js';

/** The remaining work of an incremental builtin, held by the driver between slices. */
export class Job {
  constructor(
    /** The builtin's name, for the traceback of an error in a later piece. */
    readonly name: string,
    readonly work: Generator<undefined, Value, undefined>,
  ) {}
}

/** The Job a yielded Pending carries, or undefined for a host request. */
export function jobOf(p: unknown): Job | undefined {
  return p instanceof Pending && p.request instanceof Job ? p.request : undefined;
}

/**
 * Runs `work` (a builtin's generator: yield between pieces, return the result) while the running
 * thread's time slice lasts; returns the result, or a Pending for the driver to continue the work.
 * @example return incremental('sorted', sortPieces(values));
 */
export function incremental(name: string, work: Generator<undefined, Value, undefined>): Value | Pending {
  for (;;) {
    const step = work.next();
    if (step.done) return step.value;
    if (meter.sink.sliceOver()) return new Pending(new Job(name, work));
  }
}
