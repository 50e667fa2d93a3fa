/**
 * The Timeline tab: an SVG Gantt with one row per task call (in call order) and one segment per
 * attempt (failed attempts red, the running one growing up to now), retry waits between attempts,
 * durable sleeps, and cache hits or reused results as markers. It follows the run live: rows come
 * from the steps the page refetches on each event, and "now" ticks while the run is running.
 * Rows are paged (ROWS per page) so a run with thousands of steps draws a bounded SVG.
 */
import { useMemo, useState } from 'preact/hooks';
import type { Step } from '../../api-types';
import { useNow } from '../api';
import { stepLink } from '../components/common';
import { fmtDuration, fmtTime } from '../format';
import { navigate } from '../router';
import type { RunContext } from './run-detail';

const ROWS = 200;
const W = 1200;
const LABEL = 250;
const ROW_H = 22;
const AXIS_H = 26;

function niceStep(span: number, target: number): number {
  const raw = span / target;
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map((s) => s * 1000);
  const sub = [1, 2, 5, 10, 20, 50, 100, 200, 500];
  for (const s of sub) if (s >= raw) return s;
  for (const s of steps) if (s >= raw) return s;
  return Math.ceil(raw / 86_400_000) * 86_400_000;
}

export function TimelineTab(props: { ctx: RunContext }): preact.JSX.Element {
  const { ctx } = props;
  const d = ctx.detail;
  const running = d.status === 'running';
  const now = useNow(running, 500);
  const [page, setPage] = useState(0);
  const [latestOnly, setLatestOnly] = useState(false);
  const steps = useMemo(() => [...(ctx.steps ?? [])].sort((a, b) => a.seq - b.seq), [ctx.steps]);
  const pages = Math.max(1, Math.ceil(steps.length / ROWS));
  const p = Math.min(page, pages - 1);
  const rows = steps.slice(p * ROWS, (p + 1) * ROWS);

  const t0 = d.startedAt;
  let t1 = d.endedAt ?? (running ? now : t0);
  for (const s of steps) {
    t1 = Math.max(t1, s.endedAt ?? s.startedAt, s.fireAt ?? 0);
    for (const a of s.attempts) t1 = Math.max(t1, a.endedAt ?? a.startedAt);
  }
  if (running) t1 = Math.max(t1, now);
  const span = Math.max(t1 - t0, 1);
  const plotW = W - LABEL - 16;
  const x = (t: number): number => LABEL + ((Math.min(Math.max(t, t0), t1) - t0) / span) * plotW;
  const H = AXIS_H + rows.length * ROW_H + 8;
  const tick = niceStep(span, 8);
  const ticks: number[] = [];
  for (let t = 0; t <= span && ticks.length < 40; t += tick) ticks.push(t);

  if (!ctx.steps) return <p class="muted">Loading steps…</p>;
  return (
    <div class="timeline-tab">
      <div class="toolbar">
        <div class="legend">
          <span><i class="l-ok" />attempt ok</span>
          <span><i class="l-failed" />attempt failed</span>
          <span><i class="l-running" />running</span>
          <span><i class="l-wait" />retry wait</span>
          <span><i class="l-timer" />durable sleep</span>
          <span><i class="l-cached" />cache hit / reused</span>
        </div>
        <label class="small">
          <input type="checkbox" checked={latestOnly} onChange={(e) => setLatestOnly(e.currentTarget.checked)} /> latest attempt only
        </label>
        <span class="muted small">
          {fmtTime(t0)} → {running ? 'now' : fmtTime(t1)} · {fmtDuration(span)}
        </span>
      </div>
      {steps.length === 0 ? <p class="empty muted">No task has been called yet.</p> : null}
      {steps.length > 0 ? (
        <div class="timeline">
          <svg viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label="Timeline of the run's steps" data-testid="timeline" data-rows={rows.length}>
            {ticks.map((t) => (
              <g key={t}>
                <line class="tl-axis" x1={x(t0 + t)} x2={x(t0 + t)} y1={AXIS_H - 6} y2={H} />
                <text class="tl-tick" x={x(t0 + t) + 3} y={AXIS_H - 10}>
                  +{fmtDuration(t)}
                </text>
              </g>
            ))}
            {rows.map((s, i) => (
              <Row key={s.stepId} ctx={ctx} step={s} y={AXIS_H + i * ROW_H} x={x} now={now} latestOnly={latestOnly} />
            ))}
            {running ? <line class="tl-now" x1={x(now)} x2={x(now)} y1={AXIS_H - 6} y2={H} /> : null}
          </svg>
        </div>
      ) : null}
      {pages > 1 ? (
        <div class="pager">
          <button type="button" disabled={p === 0} onClick={() => setPage(p - 1)}>
            ← Previous rows
          </button>
          <span class="muted small">
            rows {p * ROWS + 1}–{Math.min((p + 1) * ROWS, steps.length)} of {steps.length}
          </span>
          <button type="button" disabled={p >= pages - 1} onClick={() => setPage(p + 1)}>
            Next rows →
          </button>
        </div>
      ) : null}
    </div>
  );
}

function Row(props: { ctx: RunContext; step: Step; y: number; x: (t: number) => number; now: number; latestOnly: boolean }): preact.JSX.Element {
  const { step: s, y, x, now } = props;
  const mid = y + ROW_H / 2;
  const segH = 12;
  const attempts = props.latestOnly ? s.attempts.slice(-1) : s.attempts;
  const marker = s.state === 'cached' || s.source === 'cache' || s.source === 'reused' || s.cache?.outcome === 'hit';
  const label = s.kind === 'timer' ? 'sleep' : s.task;
  const parts: preact.JSX.Element[] = [];
  if (s.kind === 'timer') {
    const end = s.endedAt ?? s.fireAt ?? now;
    parts.push(<rect key="t" class="seg seg-timer" x={x(s.startedAt)} y={mid - segH / 2} width={Math.max(2, x(end) - x(s.startedAt))} height={segH} />);
  }
  attempts.forEach((a, i) => {
    const end = a.endedAt ?? (a.outcome ? a.startedAt : now);
    const cls = a.outcome === 'ok' ? 'seg-ok' : a.outcome === 'failed' ? 'seg-failed' : s.state === 'cancelled' ? 'seg-cancelled' : 'seg-running';
    parts.push(
      <rect key={`a${a.attempt}`} class={`seg ${cls}`} data-outcome={a.outcome ?? 'running'} x={x(a.startedAt)} y={mid - segH / 2} width={Math.max(2, x(end) - x(a.startedAt))} height={segH}>
        <title>
          attempt {a.attempt}: {a.outcome ?? 'running'} · {fmtDuration(end - a.startedAt)}
          {a.error ? ` · ${a.error.kind}: ${a.error.message}` : ''}
        </title>
      </rect>,
    );
    const next = attempts[i + 1];
    if (!props.latestOnly && next && a.endedAt !== undefined && next.startedAt > a.endedAt) {
      parts.push(<rect key={`w${a.attempt}`} class="seg seg-wait" x={x(a.endedAt)} y={mid - segH / 2 + 3} width={Math.max(1, x(next.startedAt) - x(a.endedAt))} height={segH - 6} />);
    }
  });
  if (!attempts.length && s.kind !== 'timer' && !marker && (s.state === 'retrying' || s.state === 'scheduled')) {
    parts.push(<rect key="q" class="seg seg-wait" x={x(s.startedAt)} y={mid - segH / 2 + 3} width={Math.max(1, x(s.fireAt ?? now) - x(s.startedAt))} height={segH - 6} />);
  }
  if (marker) {
    const cx = x(s.startedAt);
    parts.push(
      <path key="m" class="seg-cached" data-marker="cache" d={`M${cx} ${mid - 7} L${cx + 6} ${mid} L${cx} ${mid + 7} L${cx - 6} ${mid} Z`}>
        <title>{s.source === 'reused' ? 'reused from the resumed run' : 'cache hit'}</title>
      </path>,
    );
  }
  return (
    <g class="tl-row" data-step={s.stepId} data-state={s.state} onClick={() => navigate(stepLink(props.ctx.runId, s.stepId))}>
      <rect class="tl-bg" x={0} y={y} width={W} height={ROW_H} />
      <text class="tl-label" x={8} y={mid + 4}>
        {label.length > 22 ? `${label.slice(0, 21)}…` : label}
      </text>
      <text class="tl-sublabel" x={LABEL - 8} y={mid + 4} text-anchor="end">
        {s.stepId.length > 14 ? `…${s.stepId.slice(-13)}` : s.stepId}
      </text>
      {parts}
      <title>
        {s.task} {s.stepId}: {s.state}
      </title>
    </g>
  );
}
