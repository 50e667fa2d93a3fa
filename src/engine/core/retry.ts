/**
 * This file defines the retry decision: pure, deterministic, and the same live and in replay. The
 * delay grows by the backoff coefficient up to the maximum interval, plus jitter derived from the
 * attempt's identity (not from a random source), so a recovered run waits exactly as long.
 */
import type { ErrorInfo, RetryPolicy } from './events.js';

/** A deterministic fraction in [0, 1) from a string (FNV-1a). */
export function unitFraction(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 0x100000000;
}

/**
 * Whether to retry after attempt `attempt` failed with `error`, and after how long.
 * @returns the delay in ms, or null when the step has failed for good
 */
export function retryDelay(policy: RetryPolicy, attempt: number, error: ErrorInfo, key: string): number | null {
  if (!error.retryable) return null;
  if (policy.nonRetryable.includes(error.kind)) return null;
  if (attempt >= policy.maxAttempts) return null;
  const base = Math.min(policy.maxIntervalMs, policy.initialIntervalMs * policy.backoffCoefficient ** (attempt - 1));
  const jitter = base * policy.jitter * unitFraction(`${key}/${attempt}`);
  return Math.round(base + jitter);
}
