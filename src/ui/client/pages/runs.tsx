/**
 * The runs list: filters in the URL (status, workflow, pipeline, text, time range), keyset pages
 * (`after` cursor), sorting of the page by column, and live rows from `/api/stream` (one event per
 * changed run; a row is replaced only by a newer one, by `lastSeq`).
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { RunPage, RunRow, RunStatusName } from '../../api-types';
import { useEventStream, useFetch, useNow, withQuery } from '../api';
import { ErrorBox, Link, Loading, StatusBadge, runLink } from '../components/common';
import { clip, fmtDuration, fmtTime, isoUtc, shortDigest } from '../format';
import { setQuery } from '../router';

const STATUSES: RunStatusName[] = ['running', 'completed', 'failed', 'cancelled', 'blocked'];
const PAGE = 50;

type SortKey = 'started' | 'duration' | 'status' | 'workflow' | 'progress' | 'cache';

/** datetime-local value ⇄ epoch ms (local time). */
function toLocalInput(ms: string | null): string {
  if (!ms) return '';
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
function fromLocalInput(v: string): string | undefined {
  if (!v) return undefined;
  const t = new Date(v).getTime();
  return Number.isNaN(t) ? undefined : String(t);
}

export function durationOf(r: RunRow, now: number): number | undefined {
  if (r.durationMs !== undefined) return r.durationMs;
  if (r.endedAt !== undefined) return r.endedAt - r.startedAt;
  return r.status === 'running' ? now - r.startedAt : undefined;
}

function matches(r: RunRow, f: { statuses: string[]; trigger: string; workflow: string; pipeline: string; q: string; since?: number; until?: number }): boolean {
  if (f.statuses.length && !f.statuses.includes(r.status)) return false;
  if (f.trigger && !(r.trigger ?? '').startsWith(f.trigger)) return false;
  if (f.workflow && !r.workflow.includes(f.workflow)) return false;
  if (f.pipeline && r.pipeline !== f.pipeline) return false;
  if (f.since !== undefined && r.startedAt < f.since) return false;
  if (f.until !== undefined && r.startedAt > f.until) return false;
  if (f.q) {
    const hay = `${r.runId} ${r.workflow} ${r.file} ${r.pipeline ?? ''} ${r.firstError?.message ?? ''} ${r.trigger ?? ''}`.toLowerCase();
    if (!hay.includes(f.q.toLowerCase())) return false;
  }
  return true;
}

export function Progress(props: { done: number; total: number; status?: RunStatusName }): preact.JSX.Element {
  const pct = props.total > 0 ? Math.round((props.done / props.total) * 100) : props.status === 'completed' ? 100 : 0;
  return (
    <span class="progress" title={`${props.done} of ${props.total} task calls done`}>
      <span class="progress-bar">
        <span class={`progress-fill st-${props.status ?? 'running'}`} style={{ width: `${pct}%` }} />
      </span>
      <span class="progress-text">
        {props.done}/{props.total}
      </span>
    </span>
  );
}

export function RunsPage(props: { query: URLSearchParams }): preact.JSX.Element {
  const q = props.query;
  const statuses = (q.get('status') ?? '').split(',').filter(Boolean);
  const filters = {
    statuses,
    trigger: q.get('trigger') ?? '',
    workflow: q.get('workflow') ?? '',
    pipeline: q.get('pipeline') ?? '',
    q: q.get('q') ?? '',
    since: q.get('since') ? Number(q.get('since')) : undefined,
    until: q.get('until') ? Number(q.get('until')) : undefined,
  };
  const after = q.get('after') ?? undefined;
  const sort = (q.get('sort') as SortKey | null) ?? 'started';
  const dir = q.get('dir') === 'asc' ? 'asc' : 'desc';
  const path = withQuery('api/runs', {
    status: statuses.join(','),
    workflow: filters.workflow,
    pipeline: filters.pipeline,
    trigger: filters.trigger,
    q: filters.q,
    since: q.get('since') ?? undefined,
    until: q.get('until') ?? undefined,
    after,
    limit: PAGE,
  });
  const page = useFetch<RunPage>(path);
  // Live rows: runs changed since the page loaded, keyed by id (newest lastSeq wins).
  const [live, setLive] = useState<Map<string, RunRow>>(new Map());
  useEffect(() => setLive(new Map()), [path]);
  const stream = useEventStream(
    'api/stream',
    {
      run: (data) => {
        const r = data as RunRow;
        setLive((m) => {
          const old = m.get(r.runId);
          if (old && old.lastSeq >= r.lastSeq) return m;
          const next = new Map(m);
          next.set(r.runId, r);
          // A long session on a busy server: forget the oldest news (the page's own rows are refetched on navigation).
          if (next.size > 1000) for (const k of [...next.keys()].slice(0, next.size - 1000)) next.delete(k);
          return next;
        });
      },
    },
    // After a reconnect, fetch the page again: it is the truth; live rows then only add news.
    (reconnected) => {
      if (reconnected) page.reload();
    },
  );

  const rows = useMemo(() => {
    const base = page.data?.runs ?? [];
    const seen = new Set(base.map((r) => r.runId));
    const merged = base.map((r) => {
      const l = live.get(r.runId);
      return l && l.lastSeq >= r.lastSeq ? l : r;
    });
    // New runs appear on the first page only (they are the newest).
    const fresh = after ? [] : [...live.values()].filter((r) => !seen.has(r.runId) && matches(r, filters)).sort((a, b) => b.startedAt - a.startedAt).slice(0, PAGE);
    return [...fresh, ...merged];
  }, [page.data, live, after, path]);

  const anyRunning = rows.some((r) => r.status === 'running');
  const now = useNow(anyRunning);
  const sorted = useMemo(() => {
    const key = (r: RunRow): number | string => {
      switch (sort) {
        case 'duration':
          return durationOf(r, now) ?? -1;
        case 'status':
          return r.status;
        case 'workflow':
          return (r.pipeline ?? r.workflow).toLowerCase();
        case 'progress':
          return r.progress.total ? r.progress.done / r.progress.total : 0;
        case 'cache':
          return r.cacheHits;
        default:
          return r.startedAt;
      }
    };
    const s = [...rows].sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    return dir === 'desc' ? s.reverse() : s;
  }, [rows, sort, dir, now]);

  const sortHeader = (k: SortKey, label: string): preact.JSX.Element => (
    <th aria-sort={sort === k ? (dir === 'asc' ? 'ascending' : 'descending') : undefined}>
      <button type="button" class="th-sort" onClick={() => setQuery({ sort: k === 'started' ? undefined : k, dir: sort === k && dir === 'desc' ? 'asc' : undefined })}>
        {label}
        {sort === k ? (dir === 'asc' ? ' ▲' : ' ▼') : ''}
      </button>
    </th>
  );

  return (
    <section class="page runs-page">
      <div class="page-head">
        <h1>Runs</h1>
        <span class={`live-dot ${stream}`} data-stream={stream} title={`Live updates: ${stream}`}>
          {stream === 'live' ? 'live' : stream}
        </span>
      </div>
      <RunFilters statuses={statuses} query={q} />
      {page.error ? <ErrorBox error={page.error} /> : null}
      {!page.data && page.loading ? <Loading what="runs" /> : null}
      {page.data ? (
        <div class="table-wrap">
          <table class="table runs-table" data-testid="runs-table">
            <thead>
              <tr>
                <th>Run</th>
                {sortHeader('workflow', 'Workflow')}
                {sortHeader('status', 'Status')}
                {sortHeader('started', 'Started')}
                {sortHeader('duration', 'Duration')}
                {sortHeader('progress', 'Progress')}
                {sortHeader('cache', 'Cache hits')}
                <th>First error</th>
              </tr>
            </thead>
            <tbody>
              {sorted.length === 0 ? (
                <tr>
                  <td colSpan={8} class="empty muted">
                    No runs match these filters.
                  </td>
                </tr>
              ) : null}
              {sorted.map((r) => (
                <tr key={r.runId} data-run={r.runId} data-state={r.status}>
                  <td>
                    <Link to={runLink(r.runId)} class="mono">
                      {clip(r.runId, 26)}
                    </Link>
                    {r.trigger ? <div class="muted small">{r.trigger}</div> : null}
                  </td>
                  <td>
                    <div>{r.pipeline ? <Link to={`?pipeline=${encodeURIComponent(r.pipeline)}`}>{r.pipeline}</Link> : r.workflow}</div>
                    <div class="muted small" title={r.scriptDigest}>
                      {r.pipeline ? `${r.workflow} · ` : ''}
                      {r.file} {r.scriptDigest ? `· ${shortDigest(r.scriptDigest, 8)}` : ''}
                    </div>
                  </td>
                  <td>
                    <StatusBadge status={r.status} />
                  </td>
                  <td title={isoUtc(r.startedAt)}>{fmtTime(r.startedAt)}</td>
                  <td class="num">{fmtDuration(durationOf(r, now))}</td>
                  <td>
                    <Progress done={r.progress.done} total={r.progress.total} status={r.status} />
                  </td>
                  <td class="num">{r.cacheHits || <span class="muted">0</span>}</td>
                  <td class="error-cell">
                    {r.firstError ? (
                      <span title={r.firstError.message}>
                        {r.firstError.task ? <strong>{r.firstError.task}: </strong> : null}
                        {clip(r.firstError.message, 90)}
                      </span>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <div class="pager">
        {after ? (
          <button type="button" onClick={() => setQuery({ after: undefined }, { replace: false })}>
            ⇤ Newest
          </button>
        ) : null}
        {page.data?.next ? (
          <button type="button" data-testid="runs-next" onClick={() => setQuery({ after: page.data!.next }, { replace: false })}>
            Older →
          </button>
        ) : null}
        <span class="muted small">{page.data ? `${sorted.length} run${sorted.length === 1 ? '' : 's'} on this page` : ''}</span>
      </div>
    </section>
  );
}

function RunFilters(props: { statuses: string[]; query: URLSearchParams }): preact.JSX.Element {
  const q = props.query;
  const [text, setText] = useState(q.get('q') ?? '');
  useEffect(() => setText(q.get('q') ?? ''), [q.get('q')]);
  useEffect(() => {
    if (text === (q.get('q') ?? '')) return;
    const t = setTimeout(() => setQuery({ q: text || undefined, after: undefined }), 300);
    return () => clearTimeout(t);
  }, [text]);
  const toggle = (s: string): void => {
    const set = new Set(props.statuses);
    if (set.has(s)) set.delete(s);
    else set.add(s);
    setQuery({ status: [...set].join(',') || undefined, after: undefined });
  };
  const any = ['status', 'workflow', 'pipeline', 'trigger', 'q', 'since', 'until'].some((k) => q.get(k));
  return (
    <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
      <fieldset class="chips">
        <legend class="sr-only">Status</legend>
        {STATUSES.map((s) => (
          <label key={s} class={`chip ${props.statuses.includes(s) ? 'on' : ''}`}>
            <input type="checkbox" checked={props.statuses.includes(s)} onChange={() => toggle(s)} />
            <span class={`dot st-${s}`} />
            {s}
          </label>
        ))}
      </fieldset>
      <input type="search" placeholder="Search id, workflow, error…" aria-label="Search" value={text} onInput={(e) => setText(e.currentTarget.value)} />
      <input
        type="text"
        placeholder="workflow"
        aria-label="Workflow"
        value={q.get('workflow') ?? ''}
        onChange={(e) => setQuery({ workflow: e.currentTarget.value || undefined, after: undefined })}
      />
      <input
        type="text"
        placeholder="pipeline"
        aria-label="Pipeline"
        value={q.get('pipeline') ?? ''}
        onChange={(e) => setQuery({ pipeline: e.currentTarget.value || undefined, after: undefined })}
      />
      <select aria-label="Started by" value={q.get('trigger') ?? ''} onChange={(e) => setQuery({ trigger: e.currentTarget.value || undefined, after: undefined })}>
        <option value="">started by: any</option>
        <option value="trigger:">a trigger</option>
        <option value="pipeline">pipeline run</option>
        <option value="resume">resume / retry</option>
        <option value="child">child run</option>
      </select>
      <label class="small muted">
        from{' '}
        <input type="datetime-local" aria-label="Started after" value={toLocalInput(q.get('since'))} onChange={(e) => setQuery({ since: fromLocalInput(e.currentTarget.value), after: undefined })} />
      </label>
      <label class="small muted">
        to{' '}
        <input type="datetime-local" aria-label="Started before" value={toLocalInput(q.get('until'))} onChange={(e) => setQuery({ until: fromLocalInput(e.currentTarget.value), after: undefined })} />
      </label>
      {any ? (
        <button type="button" class="ghost" onClick={() => setQuery({ status: undefined, workflow: undefined, pipeline: undefined, trigger: undefined, q: undefined, since: undefined, until: undefined, after: undefined })}>
          Clear filters
        </button>
      ) : null}
    </form>
  );
}
