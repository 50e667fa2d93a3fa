/**
 * This file defines the engine's clocks. The real clock reads the wall clock and uses timers; the
 * virtual clock is for tests: time stands still until advanced, and `runUntilIdle` jumps straight to
 * the next timer, so a workflow that sleeps for a day finishes at once with timers firing in order.
 */
import type { Clock } from './core/ports.js';

/** Wall-clock time and real timers. */
export class RealClock implements Clock {
  now(): number {
    return Date.now();
  }
  setTimer(at: number, fn: () => void): () => void {
    const delay = Math.max(0, at - Date.now());
    // Long timers are re-armed in chunks (setTimeout's limit is about 24.8 days).
    let handle: NodeJS.Timeout;
    const arm = (): void => {
      const left = at - Date.now();
      if (left <= 0) return fn();
      handle = setTimeout(arm, Math.min(left, 2 ** 31 - 1));
    };
    handle = setTimeout(arm, Math.min(delay, 2 ** 31 - 1));
    return () => clearTimeout(handle);
  }
}

interface VTimer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** Virtual time for tests: advances only when told to (or when the engine is idle, if auto). */
export class VirtualClock implements Clock {
  private time: number;
  private timers: VTimer[] = [];
  private seq = 0;
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.time = start;
  }
  now(): number {
    return this.time;
  }
  setTimer(at: number, fn: () => void): () => void {
    const t: VTimer = { at, seq: this.seq++, fn, cancelled: false };
    this.timers.push(t);
    this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    return () => {
      t.cancelled = true;
    };
  }
  /** Number of timers waiting. */
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
  /** Moves time to the next timer and fires every timer due then; false if there is none. */
  fireNext(): boolean {
    this.timers = this.timers.filter((t) => !t.cancelled);
    const next = this.timers[0];
    if (!next) return false;
    this.time = Math.max(this.time, next.at);
    const due = this.timers.filter((t) => t.at <= this.time);
    this.timers = this.timers.filter((t) => t.at > this.time);
    for (const t of due) if (!t.cancelled) t.fn();
    return true;
  }
  /** Advances time by `ms`, firing timers due on the way, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.fireNext();
    }
    this.time = end;
  }
}
