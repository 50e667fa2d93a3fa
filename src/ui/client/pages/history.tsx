/**
 * The History tab: the run's event log, one server page at a time (`?after=SEQ&limit=N`, keyset),
 * with a multi-select type filter, "failures only" and a text search done by the server. At most
 * one page of rows is ever rendered. A row expands to the event's whole JSON (fetched one event at
 * a time). On the last page without filters, live events are appended as they arrive (deduplicated
 * by seq); elsewhere a counter says how many arrived.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { HistoryEventJson, HistoryPage } from '../../api-types';
import { getJson, useFetch, withQuery } from '../api';
import { ErrorBox, Link, stepLink } from '../components/common';
import { clip, fmtClock, isoUtc, oneLine } from '../format';
import { setQuery } from '../router';
import type { RunContext } from './run-detail';

const LIMIT = 100;
export const EVENT_KINDS = [
  'RunStarted', 'TaskScheduled', 'AttemptSubmitted', 'AttemptStarted', 'AttemptHeartbeat', 'AttemptFailed', 'RetryScheduled',
  'TaskCompleted', 'TaskFailed', 'TimerStarted', 'TimerFired', 'ChildRunStarted', 'ChildRunCompleted', 'ChildRunFailed',
  'SignalReceived', 'EventSet', 'UpdateCompleted', 'ProgressReported', 'CancelRequested', 'NondeterminismDetected',
  'NotificationsQueued', 'RunCompleted', 'RunFailed', 'RunCancelled',
];
const FAILURE_KINDS = new Set(['AttemptFailed', 'TaskFailed', 'RunFailed', 'ChildRunFailed', 'NondeterminismDetected']);

type Ev = HistoryEventJson & Record<string, unknown>;

function errText(e: Ev): string {
  const err = e['error'] as { kind?: string; message?: string } | undefined;
  return err ? `${err.kind ?? 'error'}: ${err.message ?? ''}` : '';
}

function args(e: Ev): string {
  const a = (e['args'] as unknown[] | undefined) ?? [];
  const kw = Object.entries((e['kwargs'] as Record<string, unknown> | undefined) ?? {}).map(([k, v]) => `${k}=${oneLine(v, 40)}`);
  return oneLine([...a.map((v) => oneLine(v, 40)), ...kw].join(', '), 90);
}

function site(e: Ev): string {
  const s = e['callSite'] as { file?: string; line?: number } | undefined;
  return s ? ` · ${s.file}:${s.line}` : '';
}

/** One line per event, by kind; anything else shows its fields as compact JSON. */
export function summary(ev: HistoryEventJson): string {
  const e = ev as Ev;
  const attempt = typeof e['attempt'] === 'number' ? `attempt ${e['attempt'] as number}` : '';
  switch (e.kind) {
    case 'RunStarted':
      return `${e['workflow'] as string}(${args(e)}) · ${e['file'] as string}`;
    case 'TaskScheduled':
      return `${e['task'] as string}(${args(e)})${site(e)} · ${e['executor'] as string}`;
    case 'AttemptStarted':
      return `${attempt} on ${e['executor'] as string}`;
    case 'AttemptSubmitted':
      return `${attempt} · ${e['executor'] as string} ${e['backendId'] as string}`;
    case 'AttemptHeartbeat':
      return `${attempt} · ${oneLine(e['details'], 120)}`;
    case 'AttemptFailed':
      return `${attempt} · ${clip(errText(e), 160)}`;
    case 'RetryScheduled':
      return `${attempt} at ${fmtClock(e['fireAt'] as number)}`;
    case 'TaskCompleted':
      return `${attempt} · ${e['source'] as string}${typeof e['durationMs'] === 'number' ? ` · ${e['durationMs'] as number} ms` : ''} → ${oneLine(e['result'], 110)}`;
    case 'TaskFailed':
    case 'RunFailed':
    case 'ChildRunFailed':
      return clip(errText(e), 180);
    case 'TimerStarted':
      return `sleep ${(e['durationMs'] as number) / 1000} s until ${fmtClock(e['fireAt'] as number)}${site(e)}`;
    case 'RunCompleted':
      return `→ ${oneLine(e['result'], 160)}`;
    case 'ProgressReported':
      return clip(String(e['message'] ?? ''), 180);
    case 'CancelRequested':
    case 'RunCancelled':
      return clip(String(e['reason'] ?? ''), 180);
    default: {
      const { seq: _s, at: _a, kind: _k, stepId: _st, waitingAt: _w, ...rest } = e;
      return oneLine(rest, 180);
    }
  }
}

export function HistoryTab(props: { ctx: RunContext }): preact.JSX.Element {
  const { ctx } = props;
  const q = ctx.query;
  const after = Number(q.get('after') ?? 0) || 0;
  const kinds = (q.get('kinds') ?? '').split(',').filter(Boolean);
  const failures = q.get('failures') === '1';
  const text = q.get('q') ?? '';
  const filtered = kinds.length > 0 || failures || text !== '';
  const path = withQuery(`api/runs/${encodeURIComponent(ctx.runId)}/history`, { after: after || undefined, limit: LIMIT, kinds: kinds.join(','), failures: failures ? 1 : undefined, q: text });
  const page = useFetch<HistoryPage>(path);
  const [extra, setExtra] = useState<HistoryEventJson[]>([]);
  const [arrived, setArrived] = useState(0);
  const [expanded, setExpanded] = useState<Set<number>>(new Set());
  const [search, setSearch] = useState(text);
  const [loadMs, setLoadMs] = useState<number | null>(null);
  const started = useRef(performance.now());
  const stack = useRef<number[]>([]);

  useEffect(() => {
    setExtra([]);
    setArrived(0);
    started.current = performance.now();
    setLoadMs(null);
  }, [path]);
  useEffect(() => {
    if (page.data && loadMs === null) setLoadMs(performance.now() - started.current);
  }, [page.data]);
  useEffect(() => setSearch(text), [text]);
  useEffect(() => {
    if (search === text) return;
    const t = setTimeout(() => setQuery({ q: search || undefined, after: undefined }), 350);
    return () => clearTimeout(t);
  }, [search]);

  // Live events: appended on the last unfiltered page while it has room; counted otherwise.
  const pageRef = useRef({ page: page.data, filtered, extra });
  pageRef.current = { page: page.data, filtered, extra };
  useEffect(
    () =>
      ctx.onEvent((e) => {
        const { page: pg, filtered: f, extra: ex } = pageRef.current;
        if (!pg) return;
        const lastSeq = ex.length ? ex[ex.length - 1]!.seq : pg.events.length ? pg.events[pg.events.length - 1]!.seq : after;
        if (!f && pg.next === undefined && pg.events.length + ex.length < LIMIT && e.seq > lastSeq) {
          setExtra((xs) => (xs.length && xs[xs.length - 1]!.seq >= e.seq ? xs : [...xs, e]));
        } else setArrived((n) => n + 1);
      }),
    [ctx.onEvent, path],
  );

  const events = page.data ? [...page.data.events, ...extra] : [];
  const total = page.data ? Math.max(page.data.total, events.length ? events[events.length - 1]!.seq : 0) : ctx.detail.lastSeq;
  const go = (a: number | undefined, push = true): void => {
    if (push) stack.current.push(after);
    setQuery({ after: a ? String(a) : undefined }, { replace: false });
    setExpanded(new Set());
  };
  const toggleKind = (k: string): void => {
    const set = new Set(kinds);
    if (set.has(k)) set.delete(k);
    else set.add(k);
    setQuery({ kinds: [...set].join(',') || undefined, after: undefined });
  };
  const first = events[0]?.seq;
  const last = events[events.length - 1]?.seq;
  // The server's cursor, or (a full last page that live events outgrew) the last seq shown.
  const nextAfter = page.data?.next ?? (arrived > 0 ? last : undefined);
  return (
    <div class="history-tab">
      <form class="toolbar" role="search" onSubmit={(e) => e.preventDefault()}>
        <details class="kinds">
          <summary>Types{kinds.length ? ` (${kinds.length})` : ''}</summary>
          <div class="chips">
            {EVENT_KINDS.map((k) => (
              <label key={k} class={`chip ${kinds.includes(k) ? 'on' : ''}`}>
                <input type="checkbox" checked={kinds.includes(k)} onChange={() => toggleKind(k)} />
                {k}
              </label>
            ))}
          </div>
        </details>
        <label class={`chip ${failures ? 'on' : ''}`}>
          <input type="checkbox" name="failures" checked={failures} onChange={(e) => setQuery({ failures: e.currentTarget.checked ? '1' : undefined, after: undefined })} />
          failures only
        </label>
        <input type="search" placeholder="Search events" aria-label="Search events" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        {filtered ? (
          <button type="button" class="ghost" onClick={() => setQuery({ kinds: undefined, failures: undefined, q: undefined, after: undefined })}>
            Clear
          </button>
        ) : null}
        <span class="spacer" />
        <a class="button ghost" href={`api/runs/${encodeURIComponent(ctx.runId)}/history.json`} download={`${ctx.runId}.history.json`} data-external="">
          ⤓ Download JSON
        </a>
      </form>
      {page.error ? <ErrorBox error={page.error} /> : null}
      <div class="pager">
        <button type="button" disabled={!after} onClick={() => go(undefined)}>
          ⇤ First
        </button>
        <button
          type="button"
          disabled={!after}
          onClick={() => {
            const prev = stack.current.pop();
            go(prev ?? (filtered ? undefined : Math.max(0, (first ?? after) - LIMIT - 1)), false);
          }}
        >
          ← Previous
        </button>
        <button type="button" data-testid="history-next" disabled={!nextAfter} onClick={() => go(nextAfter)}>
          Next →
        </button>
        {!filtered ? (
          <button type="button" disabled={!nextAfter} onClick={() => go(Math.max(0, total + arrived - LIMIT))}>
            Last ⇥
          </button>
        ) : null}
        <form
          class="goto"
          onSubmit={(e) => {
            e.preventDefault();
            const v = Number(new FormData(e.currentTarget).get('seq'));
            if (Number.isFinite(v) && v > 0) go(v - 1);
          }}
        >
          <input name="seq" type="number" min={1} placeholder="seq" aria-label="Go to seq" class="small-input" />
          <button type="submit">Go</button>
        </form>
        <span class="muted small" data-testid="history-range">
          {page.data ? (events.length ? `events ${first}–${last} of ${total}` : `no events${filtered ? ' match' : ''} · ${total} in all`) : 'loading…'}
          {loadMs !== null ? ` · ${Math.round(loadMs)} ms` : ''}
        </span>
        {arrived ? (
          <span class="badge st-running" data-testid="history-arrived">
            +{arrived} new
          </span>
        ) : null}
      </div>
      <div class="table-wrap">
        <table class="table history-table" data-testid="history-table" data-loading={String(page.loading)}>
          <thead>
            <tr>
              <th class="num">Seq</th>
              <th>Time</th>
              <th>Type</th>
              <th>Step</th>
              <th>Summary</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e, i) => (
              <EventRow key={e.seq} ctx={ctx} e={e} line={page.data?.summaries?.[i]} open={expanded.has(e.seq)} onToggle={() => {
                const next = new Set(expanded);
                if (next.has(e.seq)) next.delete(e.seq);
                else next.add(e.seq);
                setExpanded(next);
              }} />
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/** `line`: the server's summary of the event (as `larkflow history` prints it), else the page's own. */
function EventRow(props: { ctx: RunContext; e: HistoryEventJson; line?: string; open: boolean; onToggle: () => void }): preact.JSX.Element {
  const { e } = props;
  const stepId = typeof e['stepId'] === 'string' ? (e['stepId'] as string) : undefined;
  const [full, setFull] = useState<HistoryEventJson | null>(null);
  useEffect(() => {
    if (!props.open || full) return;
    getJson<HistoryEventJson>(`api/runs/${encodeURIComponent(props.ctx.runId)}/events/${e.seq}`).then(setFull, () => setFull(e));
  }, [props.open]);
  return (
    <>
      <tr class={`${FAILURE_KINDS.has(e.kind) ? 'failure-row' : ''} ${props.open ? 'expanded' : ''}`} data-seq={e.seq} data-kind={e.kind} onClick={props.onToggle}>
        <td class="num mono">{e.seq}</td>
        <td class="mono small" title={isoUtc(e.at)}>
          {fmtClock(e.at)}
        </td>
        <td class="kind">{e.kind}</td>
        <td>
          {stepId ? (
            <Link to={stepLink(props.ctx.runId, stepId)} class="mono small">
              {stepId}
            </Link>
          ) : null}
        </td>
        <td class="summary" title={props.line ?? summary(e)}>
          {props.line ?? summary(e)}
        </td>
      </tr>
      {props.open ? (
        <tr class="expanded">
          <td colSpan={5}>
            <pre class="event-json" data-testid="event-json">
              {JSON.stringify(full ?? e, null, 2)}
            </pre>
          </td>
        </tr>
      ) : null}
    </>
  );
}
