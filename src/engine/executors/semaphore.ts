/**
 * This file defines a counting semaphore, the executors' concurrency limit. Waiters are served in
 * FIFO order; a waiter whose AbortSignal fires leaves the queue without taking a slot, so a
 * cancelled attempt that never started never runs.
 */

/** Gives a slot back; calling it more than once has no effect. */
export type Release = () => void;

interface Waiter {
  readonly grant: (release: Release) => void;
}

/** A counting semaphore with FIFO waiters and abortable waits. */
export class Semaphore {
  private active = 0;
  private readonly waiters: Waiter[] = [];

  /**
   * @param limit slots available at once (an integer ≥ 1)
   * @throws RangeError if `limit` is not an integer ≥ 1
   */
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be an integer >= 1, got ${limit}`);
  }

  /** Slots in use. */
  get inFlight(): number {
    return this.active;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Waits for a slot.
   * @throws the signal's reason (the promise rejects) if `signal` aborts before a slot is free
   */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise<Release>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // The slot passes straight to the next waiter, so `active` stays the same.
      if (next) next.grant(this.releaser());
      else this.active--;
    };
  }
}
