/**
 * The SQLite tailer's contract, on a scripted source: it reads the database only when
 * `data_version` says another connection committed, with one query per change whatever the number
 * of subscribers, fans each run's events out to that run's subscribers and the changed run ids to
 * the runs lists, starts from the end when it had no subscribers, and survives a failed read.
 */
import { describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../src/engine/index.js';
import type { TailRow } from '../../src/ui/server/reader.js';
import { SqliteTailer, type TailSource } from '../../src/ui/server/tailer.js';

class Script implements TailSource {
  closed = false;
  version = 1;
  rows: TailRow[] = [];
  queries = 0;
  fail = false;
  dataVersion(): number {
    return this.version;
  }
  maxRowid(): number {
    return this.rows.at(-1)?.rowid ?? 0;
  }
  tail(after: number, limit: number): TailRow[] {
    this.queries++;
    if (this.fail) throw new Error('database is locked');
    return this.rows.filter((r) => r.rowid > after).slice(0, limit);
  }
  changedSince(after: number): string[] {
    return [...new Set(this.rows.filter((r) => r.rowid > after).map((r) => r.runId))];
  }
  append(runId: string, seq: number): void {
    const e = { kind: 'ProgressReported', seq, at: 0, message: `m${seq}` };
    this.rows.push({ rowid: (this.rows.at(-1)?.rowid ?? 0) + 1, runId, seq, body: JSON.stringify(e) });
    this.version++;
  }
}

describe('the SQLite tailer', () => {
  it('reads once per commit seen and fans out to every subscriber', () => {
    const src = new Script();
    src.append('run-a', 1);
    const t = new SqliteTailer(src, 60_000);
    const a1: number[] = [];
    const a2: number[] = [];
    const b: number[] = [];
    const lists: string[][] = [];
    const offs = [
      t.subscribeRun('run-a', (evs: readonly HistoryEvent[]) => a1.push(...evs.map((e) => e.seq))),
      t.subscribeRun('run-a', (evs: readonly HistoryEvent[]) => a2.push(...evs.map((e) => e.seq))),
      t.subscribeRun('run-b', (evs: readonly HistoryEvent[]) => b.push(...evs.map((e) => e.seq))),
      t.subscribeList((c) => lists.push([...c.runIds])),
    ];
    // Subscribing started from the end: the event before it is not news.
    t.tick();
    expect(src.queries).toBe(1);
    expect(a1).toEqual([]);
    t.tick();
    expect(src.queries).toBe(1); // nothing committed: no query
    src.append('run-a', 2);
    src.append('run-a', 3);
    src.append('run-b', 1);
    t.tick();
    expect(src.queries).toBe(2);
    expect(a1).toEqual([2, 3]);
    expect(a2).toEqual([2, 3]);
    expect(b).toEqual([1]);
    expect(lists).toEqual([['run-a', 'run-b']]);
    expect(t.cursor()).toBe(4);
    expect(t.changedSince(2)).toEqual(['run-a', 'run-b']);
    src.fail = true;
    src.append('run-b', 2);
    t.tick();
    expect(b).toEqual([1]);
    src.fail = false;
    t.tick(); // the failed read is tried again although nothing else committed
    expect(b).toEqual([1, 2]);
    for (const off of offs) off();
    t.close();
  });
});
