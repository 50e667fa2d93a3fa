/**
 * This file answers the runs list (`GET /api/runs`): filters by status (several), workflow,
 * pipeline, trigger, text and start time, newest first in keyset pages whose cursor is the store's
 * (`runCursor`), so a page costs its own rows. Filters the store cannot apply (several statuses, a
 * pipeline, a trigger) are applied while scanning the store's pages. It also finds the runs started from a run
 * (resumes and retries), for the run page's links: one query on SQLite, else a scan of the newest
 * runs started after it.
 */
import { runCursor, type RunRecord, type RunStatus } from '../../engine/index.js';
import type { RunDetail, RunPage, RunRow } from '../api-types.js';
import { HttpError } from './http.js';
import { runRow, triggerOf } from './projections/run.js';
import type { RunData } from './run-data.js';
import { SqliteReader } from './reader.js';

const STATUSES: readonly RunStatus[] = ['running', 'completed', 'failed', 'cancelled', 'blocked'];
const SCAN_PAGE = 200;
export const DEFAULT_RUNS = 50;
export const MAX_RUNS = 500;

/** A time parameter: ms since the epoch, or an ISO date. */
export function timeParam(name: string, v: string | null): number | undefined {
  if (v === null || v === '') return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw new HttpError(400, `${name} must be ms since the epoch or an ISO date, not ${JSON.stringify(v)}`, `e.g. ${name}=2026-01-31T00:00:00Z`);
  return n;
}

export function intParam(name: string, v: string | null, def: number, min: number, max: number): number {
  if (v === null || v === '') return def;
  if (!/^\d+$/.test(v)) throw new HttpError(400, `${name} must be a whole number, not ${JSON.stringify(v)}`, `e.g. ${name}=${def}`);
  return Math.min(max, Math.max(min, Number(v)));
}

export function row(data: RunData, rec: RunRecord): RunRow {
  const s = data.summary(rec);
  return runRow(rec, s.started, s.counters);
}

export function listRuns(data: RunData, q: URLSearchParams): RunPage {
  const statuses = (q.get('status') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const s of statuses) if (!(STATUSES as readonly string[]).includes(s)) throw new HttpError(400, `unknown status ${JSON.stringify(s)}`, `statuses: ${STATUSES.join(', ')}`);
  const limit = intParam('limit', q.get('limit'), DEFAULT_RUNS, 1, MAX_RUNS);
  const pipeline = q.get('pipeline') || undefined;
  const trigger = q.get('trigger') || undefined;
  const base = {
    ...(statuses.length === 1 ? { status: statuses[0] as RunStatus } : {}),
    ...(q.get('workflow') ? { workflow: q.get('workflow')! } : {}),
    ...(q.get('q') ? { search: q.get('q')! } : {}),
    ...(timeParam('since', q.get('since')) !== undefined ? { since: timeParam('since', q.get('since'))! } : {}),
    ...(timeParam('until', q.get('until')) !== undefined ? { until: timeParam('until', q.get('until'))! } : {}),
  };
  let after = q.get('after') || undefined;
  const store = data.engine.store;
  const keep = (rec: RunRecord): boolean => {
    if (statuses.length > 1 && !statuses.includes(rec.status)) return false;
    if (pipeline !== undefined && data.summary(rec).started?.env.LARKFLOW_PIPELINE !== pipeline) return false;
    if (trigger !== undefined && !(triggerOf(rec, data.summary(rec).started) ?? '').startsWith(trigger)) return false;
    return true;
  };
  const kept: RunRecord[] = [];
  const scanning = statuses.length > 1 || pipeline !== undefined || trigger !== undefined;
  for (;;) {
    const page = store.listRuns({ ...base, limit: scanning ? SCAN_PAGE : limit + 1, ...(after !== undefined ? { after } : {}) });
    for (const r of page) {
      if (!keep(r)) continue;
      kept.push(r);
      if (kept.length > limit) {
        const runs = kept.slice(0, limit);
        return { runs: runs.map((r) => row(data, r)), next: runCursor(runs[runs.length - 1]!) };
      }
    }
    if (!scanning || page.length < SCAN_PAGE) return { runs: kept.map((r) => row(data, r)) };
    after = runCursor(page[page.length - 1]!);
  }
}

/** The runs that resumed or retried `rec` (looked for among the runs started after it, at most `max`). */
export function resumesOf(data: RunData, rec: RunRecord, max = 2000): RunDetail['related'] {
  const out: { runId: string; relation: 'resumed' | 'retried' }[] = [];
  const relation = (runId: string): 'resumed' | 'retried' => {
    const first = data.reader.event(runId, 1);
    return first?.kind === 'RunStarted' && first.resumedFrom?.fromStep !== undefined ? 'resumed' : 'retried';
  };
  if (data.reader instanceof SqliteReader) return data.reader.resumesOf(rec.runId).map((runId) => ({ runId, relation: relation(runId) }));
  let after: string | undefined;
  let seen = 0;
  while (seen < max) {
    const page = data.engine.store.listRuns({ since: rec.startedAt, limit: SCAN_PAGE, ...(after !== undefined ? { after } : {}) });
    for (const r of page) {
      if (r.resumedFrom === rec.runId) out.push({ runId: r.runId, relation: relation(r.runId) });
    }
    seen += page.length;
    if (page.length < SCAN_PAGE) break;
    after = runCursor(page[page.length - 1]!);
  }
  return out;
}
