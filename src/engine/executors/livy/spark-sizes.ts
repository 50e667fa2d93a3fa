/**
 * This file converts Kubernetes resource quantities, as a workflow writes them in `SparkTask(...)`
 * (`driver_memory="4Gi"`, `executor_cpu="2"`), into the sizes Spark's own configuration accepts.
 *
 * Spark's size parser (`JavaUtils.byteStringAs`) knows only the lowercase binary suffixes
 * `k m g t p` (optionally followed by `b`): "4g", "512m". It refuses "4Gi" and "512Mi", and it reads
 * "1G" as 1 GiB, not 10^9 bytes. Spark's driver and executor memory settings are whole MiB, and its
 * core counts (`spark.driver.cores`, `spark.executor.cores`, Livy's `driverCores`/`executorCores`)
 * are integers. So:
 * - `sparkMemory`: a memory quantity → "<n>g" when it is a whole number of GiB, else "<n>m",
 *   rounded UP to the next whole MiB (Spark would truncate a fraction, giving the task less than
 *   it asked for): "4Gi" → "4g", "512Mi" → "512m", "1.5Gi" → "1536m", "1G" → "954m".
 * - `sparkCores`: a CPU quantity → whole cores, rounded UP: "2" → 2, "500m" → 1, "1.5" → 2.
 *
 * Both validate with the Kubernetes quantity grammar (../kubernetes/quantities.ts) and throw a
 * `QuantityError` (kind "cpu" or "memory") whose message says what is accepted.
 */
import { QuantityError, parseCpuQuantity, parseMemoryQuantity } from '../kubernetes/quantities.js';

export { QuantityError } from '../kubernetes/quantities.js';

const MiB = 2 ** 20;
const MIB_PER_GIB = 1024;

/** Rounds up, ignoring floating-point noise below one millionth ("1.1" * 1000 is not 1100.0000001 cores). */
function ceilExact(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - r) <= 1e-9 * Math.max(1, Math.abs(x)) ? r : Math.ceil(x);
}

/**
 * Whole MiB of a Kubernetes memory quantity, rounded up ("512Mi" → 512, "1Gi" → 1024, "1G" → 954).
 * Throws QuantityError for an invalid quantity (including "4g", "4GB" and "512m", with a hint).
 */
export function sparkMemoryMiB(quantity: string | number): number {
  const bytes = parseMemoryQuantity(quantity);
  const mib = ceilExact(bytes / MiB);
  if (!Number.isSafeInteger(mib)) {
    throw new QuantityError(`invalid memory quantity ${JSON.stringify(String(quantity))}: too large for Spark`, 'memory', String(quantity));
  }
  return Math.max(1, mib);
}

/**
 * A Kubernetes memory quantity as a Spark size string, for `spark.driver.memory`,
 * `spark.executor.memory`, Livy's `driverMemory`/`executorMemory` and SparkApplication's
 * `driver.memory`/`executor.memory`: "4Gi" → "4g", "512Mi" → "512m", "1.5Gi" → "1536m",
 * "1G" → "954m" (decimal quantities are rounded up to a whole MiB).
 * Throws QuantityError for an invalid quantity: Spark spellings such as "4g" are refused here
 * (with a hint), since in Kubernetes notation "512m" would mean milli-bytes.
 */
export function sparkMemory(quantity: string | number): string {
  const mib = sparkMemoryMiB(quantity);
  return mib % MIB_PER_GIB === 0 ? `${mib / MIB_PER_GIB}g` : `${mib}m`;
}

/**
 * A Kubernetes CPU quantity as a whole number of cores, for Spark settings that are integers
 * (`spark.driver.cores`, `spark.executor.cores`, Livy's `driverCores`/`executorCores`,
 * SparkApplication's `cores`): rounded up, so a task gets at least what it asked for:
 * "4" → 4, "1.5" → 2, "500m" → 1, 2 → 2.
 * Throws QuantityError for an invalid quantity ("", "-1", "0", "2 cores", "0.1m").
 */
export function sparkCores(quantity: string | number): number {
  const cores = parseCpuQuantity(quantity);
  const n = ceilExact(cores);
  if (!Number.isSafeInteger(n) || n > 2 ** 31 - 1) {
    throw new QuantityError(`invalid cpu quantity ${JSON.stringify(String(quantity))}: too many cores for Spark`, 'cpu', String(quantity));
  }
  return Math.max(1, n);
}
