/** The simple pages: registered pipelines, triggers and cache entries, one table each. */
import { useState } from 'preact/hooks';
import type { CacheRow, PipelineRow, TriggerRow } from '../../api-types';
import { useFetch } from '../api';
import { Empty, ErrorBox, Link, Loading, runLink, stepLink } from '../components/common';
import { fmtBytes, fmtTime, isoUtc, shortDigest } from '../format';

function useItems<T>(path: string): { items?: T[]; error?: Error; loading: boolean } {
  const f = useFetch<{ items: T[] }>(path);
  return { items: f.data?.items, error: f.error, loading: f.loading };
}

const ROWS = 100;

/** The rows of one page of a long table (the cache holds up to 1,000 entries), and its pager. */
function usePaged<T>(items: T[] | undefined): { rows: T[]; pager: preact.JSX.Element | null } {
  const [page, setPage] = useState(0);
  if (!items) return { rows: [], pager: null };
  const last = Math.max(0, Math.ceil(items.length / ROWS) - 1);
  const p = Math.min(page, last);
  const rows = items.slice(p * ROWS, (p + 1) * ROWS);
  const pager =
    items.length > ROWS ? (
      <div class="pager">
        <button type="button" disabled={p === 0} onClick={() => setPage(p - 1)}>
          ← Previous
        </button>
        <span class="muted small">
          {p * ROWS + 1}–{Math.min(items.length, (p + 1) * ROWS)} of {items.length}
        </span>
        <button type="button" disabled={p >= last} onClick={() => setPage(p + 1)}>
          Next →
        </button>
      </div>
    ) : null;
  return { rows, pager };
}

export function PipelinesPage(): preact.JSX.Element {
  const { items, error } = useItems<PipelineRow>('api/pipelines');
  const { rows, pager } = usePaged(items);
  return (
    <section class="page">
      <div class="page-head">
        <h1>Pipelines</h1>
      </div>
      {error ? <ErrorBox error={error} /> : null}
      {!items && !error ? <Loading what="pipelines" /> : null}
      {items && items.length === 0 ? <Empty>No pipelines are registered (larkflow pipeline apply).</Empty> : null}
      {items && items.length > 0 ? (
        <div class="table-wrap">
          <table class="table" data-testid="pipelines-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Namespace</th>
                <th>Kind</th>
                <th>Revision</th>
                <th class="num">Revisions</th>
                <th>Updated</th>
                <th>Runs</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((p) => (
                <tr key={`${p.namespace ?? ''}/${p.name}`}>
                  <td>
                    <strong>{p.name}</strong>
                  </td>
                  <td>{p.namespace ?? <span class="muted">—</span>}</td>
                  <td>{p.kind}</td>
                  <td class="mono" title={p.revision}>
                    {shortDigest(p.revision)}
                  </td>
                  <td class="num">{p.revisions}</td>
                  <td title={isoUtc(p.updatedAt)}>{fmtTime(p.updatedAt)}</td>
                  <td>
                    <Link to={`?pipeline=${encodeURIComponent(p.name)}`}>runs →</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {pager}
    </section>
  );
}

export function TriggersPage(): preact.JSX.Element {
  const { items, error } = useItems<TriggerRow>('api/triggers');
  const { rows, pager } = usePaged(items);
  return (
    <section class="page">
      <div class="page-head">
        <h1>Triggers</h1>
      </div>
      {error ? <ErrorBox error={error} /> : null}
      {!items && !error ? <Loading what="triggers" /> : null}
      {items && items.length === 0 ? <Empty>No triggers (declare them in a pipeline's spec.triggers).</Empty> : null}
      {items && items.length > 0 ? (
        <div class="table-wrap">
          <table class="table" data-testid="triggers-table">
            <thead>
              <tr>
                <th>Pipeline</th>
                <th>Trigger</th>
                <th>Schedule</th>
                <th>State</th>
                <th>Last tick</th>
                <th>Next tick</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((t) => (
                <tr key={`${t.pipeline}/${t.trigger}`}>
                  <td>
                    <Link to={`?pipeline=${encodeURIComponent(t.pipeline)}`}>{t.pipeline}</Link>
                  </td>
                  <td>{t.trigger}</td>
                  <td class="mono">{t.schedule}</td>
                  <td>
                    <span class={`badge ${t.paused ? 'st-cancelled' : 'st-completed'}`}>{t.paused ? 'paused' : 'active'}</span>
                  </td>
                  <td title={isoUtc(t.lastTick)}>{fmtTime(t.lastTick)}</td>
                  <td title={isoUtc(t.nextTick)}>{t.paused ? <span class="muted">paused</span> : fmtTime(t.nextTick)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {pager}
    </section>
  );
}

export function CachePage(): preact.JSX.Element {
  const { items, error } = useItems<CacheRow>('api/cache');
  const { rows, pager } = usePaged(items);
  const now = Date.now();
  return (
    <section class="page">
      <div class="page-head">
        <h1>Cache</h1>
      </div>
      {error ? <ErrorBox error={error} /> : null}
      {!items && !error ? <Loading what="cache entries" /> : null}
      {items && items.length === 0 ? <Empty>The task cache is empty.</Empty> : null}
      {items && items.length > 0 ? (
        <div class="table-wrap">
          <table class="table" data-testid="cache-table">
            <thead>
              <tr>
                <th>Task</th>
                <th>Key</th>
                <th class="num">Size</th>
                <th>Created</th>
                <th>Expires</th>
                <th class="num">Hits</th>
                <th>Last hit</th>
                <th>Producing run</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((c) => (
                <tr key={c.key}>
                  <td>
                    <strong>{c.task}</strong>
                  </td>
                  <td class="mono" title={c.key}>
                    {shortDigest(c.key, 16)}
                  </td>
                  <td class="num">{fmtBytes(c.bytes)}</td>
                  <td title={isoUtc(c.createdAt)}>{fmtTime(c.createdAt)}</td>
                  <td title={isoUtc(c.expiresAt)}>
                    {c.expiresAt === undefined ? <span class="muted">never</span> : c.expiresAt < now ? <span class="badge st-failed">expired</span> : fmtTime(c.expiresAt)}
                  </td>
                  <td class="num">{c.hits ?? '—'}</td>
                  <td title={isoUtc(c.lastHitAt)}>{c.lastHitAt ? fmtTime(c.lastHitAt) : <span class="muted">—</span>}</td>
                  <td>
                    {c.runId ? (
                      <Link to={c.stepId ? stepLink(c.runId, c.stepId) : runLink(c.runId)} class="mono">
                        {c.runId}
                        {c.stepId ? ` · ${c.stepId}` : ''}
                      </Link>
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {pager}
    </section>
  );
}
