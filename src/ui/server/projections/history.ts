/**
 * This file filters and pages a history for the History tab: by event kinds, "failures only" and a
 * text search, in keyset pages (`after` a seq). The server uses SQL for SQLite databases
 * (reader.ts); this is the same filter over events in memory, for other stores and for tests.
 */
import type { HistoryEvent } from '../../../engine/index.js';
import type { HistoryEventJson, HistoryPage } from '../../api-types.js';

/** The event kinds "failures only" keeps. */
export const FAILURE_KINDS: readonly string[] = ['AttemptFailed', 'TaskFailed', 'ChildRunFailed', 'NondeterminismDetected', 'RunFailed', 'RunCancelled', 'CancelRequested'];

export interface HistoryFilter {
  readonly after: number;
  readonly limit: number;
  /** Only these kinds (undefined: all). */
  readonly kinds?: readonly string[];
  /** Case-insensitive text the event's JSON contains. */
  readonly q?: string;
}

/** The kinds a query asks for: `kinds=A,B` and `failures=1` together keep the kinds in both. */
export function kindsOf(kinds: readonly string[] | undefined, failures: boolean): readonly string[] | undefined {
  if (!failures) return kinds;
  return kinds ? kinds.filter((k) => FAILURE_KINDS.includes(k)) : FAILURE_KINDS;
}

export function matches(e: HistoryEvent, f: Pick<HistoryFilter, 'kinds' | 'q'>, text?: string): boolean {
  if (f.kinds && !f.kinds.includes(e.kind)) return false;
  if (f.q !== undefined && f.q !== '') return (text ?? JSON.stringify(e)).toLowerCase().includes(f.q.toLowerCase());
  return true;
}

/** A page of `events` (a whole history, in order) after the filter. */
export function pageHistory(events: readonly HistoryEvent[], total: number, f: HistoryFilter): HistoryPage {
  const out: HistoryEventJson[] = [];
  // Seqs are 1-based positions: start the scan at the first event after `after`.
  for (let i = Math.max(0, f.after); i < events.length; i++) {
    const e = events[i]!;
    if (e.seq <= f.after || !matches(e, f)) continue;
    if (out.length === f.limit) return { events: out, next: out[out.length - 1]!.seq, total };
    out.push(e as unknown as HistoryEventJson);
  }
  return { events: out, total };
}
