/**
 * This file defines the budget meter: how operations that allocate or compute in proportion to the
 * size of their operands charge the running thread (vm/thread.ts), and the size caps of single values.
 * A leaf module, so that every value type can charge without import cycles.
 *
 * The meter has two counters, cheap enough to bump inline on any path:
 *   - `bytes`: the estimated size of the values an operation is about to build (see the `*_BYTES`
 *     estimates below), for the allocation budget and the heap guard;
 *   - `steps`: work, in the unit of the step budget (one step is about one loop iteration of compiled
 *     code: roughly one element compared, hashed or printed, `COPIES_PER_STEP` elements copied, or
 *     `BYTES_PER_STEP` bytes of text scanned or written).
 * When a counter crosses its threshold the running thread's sink takes both (`flush`): it spends the
 * steps from its step budget (so a budget check comes soon in compiled code, and an async run's time
 * slice can end), checks the step limit, the deadline and the AbortSignal, and checks the allocation
 * budget and the heap. Operations charge *before* they build or compute, so an error comes before the
 * work; a long operation charges as it goes (every `STEP_CHUNK` steps of work or so), so its checks
 * keep coming while it runs. A charge of at least a threshold flushes at once.
 */
import { EvalError } from '../errors.js';

/** Where a thread takes the meter's counters; installed by the thread that is running. */
export interface MeterSink {
  /** Takes `meter.bytes` and `meter.steps` (resetting them) and checks the thread's budgets. */
  flush(): void;
  /** Takes the counters without checking anything (another thread is taking over the meter). */
  absorb(): void;
  /** True when the running thread is time-sliced and its slice is spent (see values/job.ts). */
  sliceOver(): boolean;
}

/** No thread is running (a builtin called directly from JS): charges are dropped. */
const NO_SINK: MeterSink = {
  flush(): void {
    meter.bytes = 0;
    meter.steps = 0;
  },
  absorb(): void {
    meter.bytes = 0;
    meter.steps = 0;
  },
  sliceOver: () => false,
};

/** The meter's counters and the sink of the running thread. Mutated only through this module and the thread. */
export const meter = {
  /** Estimated bytes charged since the last flush. */
  bytes: 0,
  /** Steps of work charged since the last flush. */
  steps: 0,
  sink: NO_SINK,
};

/** Bytes charged before the sink checks them (so small charges cost an addition and a compare). */
const BYTES_THRESHOLD = 1 << 16;
/** Steps of work charged before the sink checks them. */
const STEPS_THRESHOLD = 1 << 10;

/** Charges `n` estimated bytes about to be allocated. */
export function chargeBytes(n: number): void {
  if ((meter.bytes += n) >= BYTES_THRESHOLD) meter.sink.flush();
}

/** Charges `n` steps of work about to be done. */
export function chargeSteps(n: number): void {
  if ((meter.steps += n) >= STEPS_THRESHOLD) meter.sink.flush();
}

// ---------------------------------------------------------------------------------------------
// Estimates (64-bit V8, no pointer compression, as in Node)

/** One element slot of a list or tuple, or one argument (a tagged pointer). */
export const SLOT_BYTES = 8;
/** The fixed part of a heap object: a list, tuple, float, dict, small string or cons string. */
export const OBJECT_BYTES = 32;
/** One dict or set entry: key, value and chain in the ordered hash table, plus its bucket and slack. */
export const ENTRY_BYTES = 40;
/** Bytes of text scanned or written per step of work. */
export const BYTES_PER_STEP = 16;
/** Elements copied (slice, concatenation, materialisation) per step of work. */
export const COPIES_PER_STEP = 8;
/**
 * Work is charged in pieces of about this many steps by operations that loop over a large value
 * (so the deadline and the step budget are checked every STEP_CHUNK steps, roughly 0.1–1 ms).
 */
export const STEP_CHUNK = 1 << 14;

/**
 * The bytes of growing a list from `n` to `n + k` elements: the new slots and, when the length
 * crosses a power of two, the reallocation of its backing store (V8 grows it by half again; the new
 * store is allocated while the old one is still live, and the old one is garbage after).
 */
export function growthBytes(n: number, k: number): number {
  const m = n + k;
  return m >= 1024 && Math.clz32(m) !== Math.clz32(n) ? (k + 2 * m) * SLOT_BYTES : k * SLOT_BYTES;
}

/** Charges building an array of `n` elements copied from elsewhere: its slots, and the copying. */
export function chargeCopy(n: number): void {
  chargeBytes(n * SLOT_BYTES);
  chargeSteps(n / COPIES_PER_STEP);
}

/** Charges producing `n` bytes of text: the string, and writing it. */
export function chargeText(n: number): void {
  chargeBytes(n);
  chargeSteps(n / BYTES_PER_STEP);
}

/** Charges scanning `n` bytes of text (searching, comparing) without building anything. */
export function chargeScan(n: number): void {
  chargeSteps(n / BYTES_PER_STEP);
}

// ---------------------------------------------------------------------------------------------
// Size caps of single values

/**
 * Most elements one list (or string/bytes, in bytes) may hold: a value that would grow past it fails
 * with a clean budget error, whatever the budgets, long before the process could run out of memory.
 */
export const MAX_ELEMENTS = 2 ** 26;

/** Throws the budget error if a value of `n` elements would be too large. */
export function checkSize(n: number, what: string): void {
  if (n > MAX_ELEMENTS) throw new EvalError(`allocation budget exceeded: a ${what} may hold at most ${MAX_ELEMENTS} elements`, 'budget');
}
