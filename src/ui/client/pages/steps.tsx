/**
 * The Steps tab: step cards in call order. A fan-out (steps sharing a `group`) is one collapsed
 * "task ×N" card with counts per state; expanding it shows its members a page at a time. The list
 * itself is paged too (STEP_PAGE cards, then "show more"), so thousands of steps never become
 * thousands of cards at once. `?step=ID` focuses a card (expanding its group and page as needed).
 */
import { useContext, useEffect, useMemo, useState } from 'preact/hooks';
import type { Attempt, LogTail, Step, StepState } from '../../api-types';
import { MetaContext, actionsOff, getJson, useNow } from '../api';
import { Link, StepBadge, runLink, stepLink } from '../components/common';
import { Compact, JsonTree } from '../components/json-tree';
import { fmtDuration, fmtTime, isoUtc, shortDigest } from '../format';
import { setQuery } from '../router';
import { ResumeDialog } from './actions';
import type { RunContext } from './run-detail';

const STEP_PAGE = 100;
const GROUP_PAGE = 50;
const STATES: StepState[] = ['scheduled', 'running', 'retrying', 'completed', 'failed', 'cached', 'cancelled'];

type Item = { type: 'step'; step: Step } | { type: 'group'; key: string; task: string; steps: Step[] };

/** Call order, with each fan-out group (more than one member) folded at its first member's place. */
export function itemsOf(steps: readonly Step[]): Item[] {
  const sizes = new Map<string, number>();
  for (const s of steps) if (s.group) sizes.set(s.group, (sizes.get(s.group) ?? 0) + 1);
  const groups = new Map<string, Item & { type: 'group' }>();
  const items: Item[] = [];
  for (const s of [...steps].sort((a, b) => a.seq - b.seq)) {
    if (s.group && (sizes.get(s.group) ?? 0) > 1) {
      let g = groups.get(s.group);
      if (!g) {
        g = { type: 'group', key: s.group, task: s.task, steps: [] };
        groups.set(s.group, g);
        items.push(g);
      }
      g.steps.push(s);
    } else items.push({ type: 'step', step: s });
  }
  return items;
}

export function stateCounts(steps: readonly Step[]): [StepState, number][] {
  const m = new Map<StepState, number>();
  for (const s of steps) m.set(s.state, (m.get(s.state) ?? 0) + 1);
  return STATES.filter((s) => m.has(s)).map((s) => [s, m.get(s)!]);
}

export function StepsTab(props: { ctx: RunContext }): preact.JSX.Element {
  const { ctx } = props;
  const focus = ctx.query.get('step') ?? undefined;
  const stateFilter = (ctx.query.get('state') ?? '').split(',').filter(Boolean) as StepState[];
  const [text, setText] = useState('');
  const [page, setPage] = useState(0);
  const [openGroups, setOpenGroups] = useState<Set<string>>(new Set());
  const steps = ctx.steps;

  const filtered = useMemo(() => {
    if (!steps) return [];
    const t = text.trim().toLowerCase();
    return steps.filter((s) => (!stateFilter.length || stateFilter.includes(s.state)) && (!t || s.task.toLowerCase().includes(t) || s.stepId.toLowerCase().includes(t)));
  }, [steps, text, ctx.query.get('state')]);
  const items = useMemo(() => itemsOf(filtered), [filtered]);
  useEffect(() => {
    if (page * STEP_PAGE >= items.length) setPage(Math.max(0, Math.ceil(items.length / STEP_PAGE) - 1));
  }, [items.length]);

  // Focus: open the focused step's group and page, then scroll to it.
  useEffect(() => {
    if (!focus) return;
    const i = items.findIndex((it) => (it.type === 'step' ? it.step.stepId === focus : it.steps.some((s) => s.stepId === focus)));
    if (i < 0) return;
    setPage(Math.floor(i / STEP_PAGE));
    const it = items[i]!;
    if (it.type === 'group' && !openGroups.has(it.key)) setOpenGroups(new Set(openGroups).add(it.key));
    const t = setTimeout(() => document.querySelector(`[data-step="${CSS.escape(focus)}"]`)?.scrollIntoView({ block: 'center' }), 50);
    return () => clearTimeout(t);
  }, [focus, items.length]);

  if (!steps) return <p class="muted">Loading steps…</p>;
  if (steps.length === 0) return <p class="empty muted">No task has been called yet.</p>;
  const toggleState = (s: StepState): void => {
    const set = new Set(stateFilter);
    if (set.has(s)) set.delete(s);
    else set.add(s);
    setQuery({ state: [...set].join(',') || undefined });
  };
  return (
    <div class="steps-tab">
      <div class="toolbar">
        <div class="chips">
          {stateCounts(steps).map(([s, n]) => (
            <label key={s} class={`chip ${stateFilter.includes(s) ? 'on' : ''}`}>
              <input type="checkbox" checked={stateFilter.includes(s)} onChange={() => toggleState(s)} />
              <span class={`dot st-${s}`} />
              {s} <span class="muted">{n}</span>
            </label>
          ))}
        </div>
        <input type="search" placeholder="Filter steps by task or id" aria-label="Filter steps" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <span class="muted small">
          {filtered.length} of {steps.length} steps · {items.length} cards
        </span>
      </div>
      <div class="step-list" data-testid="step-list">
        {items.slice(page * STEP_PAGE, (page + 1) * STEP_PAGE).map((it) =>
          it.type === 'step' ? (
            <StepCard key={it.step.stepId} ctx={ctx} step={it.step} focused={focus === it.step.stepId} />
          ) : (
            <GroupCard
              key={it.key}
              ctx={ctx}
              group={it}
              open={openGroups.has(it.key)}
              focus={focus}
              onToggle={() => {
                const next = new Set(openGroups);
                if (next.has(it.key)) next.delete(it.key);
                else next.add(it.key);
                setOpenGroups(next);
              }}
            />
          ),
        )}
      </div>
      {items.length > STEP_PAGE ? (
        <Pager page={page} size={STEP_PAGE} total={items.length} what="cards" onPage={(p) => {
          setPage(p);
          document.querySelector('nav.tabs')?.scrollIntoView();
        }} />
      ) : null}
    </div>
  );
}

function GroupCard(props: { ctx: RunContext; group: Item & { type: 'group' }; open: boolean; focus?: string; onToggle: () => void }): preact.JSX.Element {
  const g = props.group;
  const [page, setPage] = useState(0);
  useEffect(() => {
    const i = props.focus ? g.steps.findIndex((s) => s.stepId === props.focus) : -1;
    if (i >= 0) setPage(Math.floor(i / GROUP_PAGE));
  }, [props.focus]);
  const counts = stateCounts(g.steps);
  const worst: StepState = counts.find(([s]) => s === 'failed')?.[0] ?? counts.find(([s]) => s === 'running' || s === 'retrying')?.[0] ?? counts[0]?.[0] ?? 'scheduled';
  return (
    <div class="group-card" data-group={g.key} data-state={worst}>
      <div class="group-head">
        <button type="button" class="ghost" aria-expanded={props.open} onClick={props.onToggle}>
          {props.open ? '▾' : '▸'} <strong>{g.task}</strong> <span class="mono">×{g.steps.length}</span>
        </button>
        <span class="muted small">fan-out</span>
        {counts.map(([s, n]) => (
          <span key={s} class={`badge st-${s}`} data-count-state={s}>
            {n} {s}
          </span>
        ))}
        <span class="muted small mono">
          {g.steps[0]!.stepId} … {g.steps[g.steps.length - 1]!.stepId}
        </span>
      </div>
      {props.open ? (
        <div class="group-members">
          {g.steps.length > GROUP_PAGE ? <Pager page={page} size={GROUP_PAGE} total={g.steps.length} what={g.task} onPage={setPage} /> : null}
          {g.steps.slice(page * GROUP_PAGE, (page + 1) * GROUP_PAGE).map((s) => (
            <StepCard key={s.stepId} ctx={props.ctx} step={s} focused={props.focus === s.stepId} />
          ))}
        </div>
      ) : null}
    </div>
  );
}

/** Previous/next buttons over pages of `size` items. */
function Pager(props: { page: number; size: number; total: number; what: string; onPage: (p: number) => void }): preact.JSX.Element {
  const { page, size, total } = props;
  const last = Math.ceil(total / size) - 1;
  return (
    <div class="pager" data-testid="step-pager">
      <button type="button" disabled={page === 0} onClick={() => props.onPage(page - 1)}>
        ← Previous {size}
      </button>
      <span class="muted small">
        {props.what} {page * size + 1}–{Math.min(total, (page + 1) * size)} of {total}
      </span>
      <button type="button" disabled={page >= last} onClick={() => props.onPage(page + 1)}>
        Next {size} →
      </button>
    </div>
  );
}

function lastError(s: Step): Attempt['error'] | undefined {
  if (s.error) return s.error;
  for (let i = s.attempts.length - 1; i >= 0; i--) if (s.attempts[i]!.error) return s.attempts[i]!.error;
  return undefined;
}

function CacheBadge(props: { step: Step }): preact.JSX.Element | null {
  const c = props.step.cache?.outcome === 'off' ? undefined : props.step.cache;
  if (!c) return props.step.source === 'reused' ? <span class="cache-badge" title="result reused from the run this one resumed">reused</span> : null;
  const label = c.outcome === 'hit' ? 'cache hit' : c.outcome === 'miss' ? 'cache miss' : c.outcome === 'written' ? 'cached' : 'cache off';
  // The key's parts in the tooltip: which one changed explains a miss.
  const title = c.key
    ? `cache key ${c.key}` + (c.parts ? `\nimplementation ${c.parts.implementation.slice(0, 16)}\nversion ${c.parts.version === '' ? '(none)' : c.parts.version}\narguments ${c.parts.args.slice(0, 16)}` : '')
    : undefined;
  return (
    <span class="cache-badge" data-cache={c.outcome} title={title}>
      {label}
      {c.outcome === 'hit' && c.sourceRunId ? (
        <>
          {' '}
          from{' '}
          <Link to={runLink(c.sourceRunId)} class="mono">
            {c.sourceRunId.slice(0, 12)}
          </Link>
        </>
      ) : null}
    </span>
  );
}

export function StepCard(props: { ctx: RunContext; step: Step; focused: boolean }): preact.JSX.Element {
  const { ctx, step: s } = props;
  const meta = useContext(MetaContext);
  const [open, setOpen] = useState(props.focused);
  const [dialog, setDialog] = useState<'retry' | 'resume' | null>(null);
  useEffect(() => {
    if (props.focused) setOpen(true);
  }, [props.focused]);
  const live = s.state === 'running' || s.state === 'retrying' || s.state === 'scheduled';
  const now = useNow(live);
  const last = s.attempts[s.attempts.length - 1];
  const err = lastError(s);
  const executor = s.executor ?? last?.executor;
  const backendId = last?.backendId;
  const end = s.endedAt ?? (live ? now : undefined);
  const runOver = ctx.detail.status !== 'running';
  const off = actionsOff(meta);
  const readOnly = off !== undefined;
  return (
    <article class={`step-card${props.focused ? ' focused' : ''}`} data-step={s.stepId} data-state={s.state}>
      <div class="step-head">
        <button type="button" class="ghost small" aria-expanded={open} aria-label={open ? 'Collapse step' : 'Expand step'} onClick={() => setOpen(!open)}>
          {open ? '▾' : '▸'}
        </button>
        <h3>{s.kind === 'timer' ? `sleep` : s.task}</h3>
        <span class="mono small muted">{s.stepId}</span>
        <StepBadge state={s.state} />
        <CacheBadge step={s} />
        {s.kind === 'child' || s.childRunId ? (
          s.childRunId ? (
            <Link to={runLink(s.childRunId)} class="small">
              child run {s.childRunId.slice(0, 12)} →
            </Link>
          ) : (
            <span class="small muted">child run</span>
          )
        ) : null}
        <span class="spacer" />
        {s.state === 'failed' && runOver ? (
          <button type="button" class="small" disabled={readOnly} title={off ?? 'Start a resumed run from this failed step'} onClick={() => setDialog('retry')}>
            Retry
          </button>
        ) : null}
        {runOver && s.kind !== 'timer' ? (
          <button type="button" class="small ghost" disabled={readOnly} title={off ?? 'Resume the run from this step'} onClick={() => setDialog('resume')}>
            Resume from here
          </button>
        ) : null}
      </div>
      <div class="step-meta">
        <span>
          attempts{' '}
          <b data-testid="attempts">
            {s.attempts.length}
            {s.maxAttempts ? `/${s.maxAttempts}` : ''}
          </b>
        </span>
        {executor ? (
          <span>
            executor <b>{executor}</b>
            {backendId ? <span class="mono"> · {backendId}</span> : null}
          </span>
        ) : null}
        <span title={isoUtc(s.startedAt)}>start {fmtTime(s.startedAt)}</span>
        {s.endedAt ? <span title={isoUtc(s.endedAt)}>end {fmtTime(s.endedAt)}</span> : null}
        <span>
          duration <b>{fmtDuration(end !== undefined ? end - s.startedAt : undefined)}</b>
        </span>
        {s.kind === 'timer' && s.fireAt ? <span>fires {fmtTime(s.fireAt)}</span> : null}
        {s.site ? (
          <Link to={`${runLink(ctx.runId, 'source')}?line=${s.site.line}&file=${encodeURIComponent(s.site.file)}`} class="mono">
            {s.site.file}:{s.site.line}
          </Link>
        ) : null}
        {s.deps.length ? (
          <span>
            inputs from{' '}
            {s.deps.slice(0, 5).map((d, i) => (
              <span key={d}>
                {i ? ', ' : ''}
                <Link to={stepLink(ctx.runId, d)} class="mono">
                  {d}
                </Link>
              </span>
            ))}
            {s.deps.length > 5 ? ` +${s.deps.length - 5}` : ''}
          </span>
        ) : null}
        {s.heartbeat ? <span title={JSON.stringify(s.heartbeat.details)}>heartbeat {fmtTime(s.heartbeat.at)}</span> : null}
      </div>
      {err && s.state !== 'completed' && s.state !== 'cached' ? (
        <div class="step-error" data-testid="step-error">
          {s.state === 'retrying' || s.state === 'running' ? 'last error: ' : ''}
          <strong>{err.kind}</strong>: {err.message}
        </div>
      ) : null}
      {open ? <StepDetails ctx={ctx} step={s} /> : null}
      {dialog ? <ResumeDialog ctx={ctx} mode={dialog} initialStep={s.stepId} onClose={() => setDialog(null)} /> : null}
    </article>
  );
}

function StepDetails(props: { ctx: RunContext; step: Step }): preact.JSX.Element {
  const s = props.step;
  const hasInput = s.input.args.length > 0 || Object.keys(s.input.kwargs).length > 0;
  return (
    <div class="step-details">
      <div class="step-body">
        <details open>
          <summary>Inputs</summary>
          {hasInput ? <Compact value={s.input as never} /> : <p class="muted small">No arguments.</p>}
        </details>
        <details open>
          <summary>Output</summary>
          {s.output !== undefined ? <Compact value={s.output} /> : <p class="muted small">{s.state === 'failed' ? 'Failed: no output.' : 'Not yet.'}</p>}
        </details>
      </div>
      {s.error?.details ? (
        <details open>
          <summary>Error details</summary>
          <pre class="traceback">{s.error.details}</pre>
        </details>
      ) : null}
      {s.attempts.length ? (
        <table class="table attempts">
          <thead>
            <tr>
              <th>#</th>
              <th>Start</th>
              <th>End</th>
              <th>Duration</th>
              <th>Outcome</th>
              <th>Executor</th>
              <th>Error</th>
              <th>Log</th>
            </tr>
          </thead>
          <tbody>
            {s.attempts.map((a) => (
              <tr key={a.attempt} data-attempt={a.attempt} data-outcome={a.outcome ?? 'running'}>
                <td>{a.attempt}</td>
                <td>{fmtTime(a.startedAt)}</td>
                <td>{a.endedAt ? fmtTime(a.endedAt) : '—'}</td>
                <td>{fmtDuration(a.endedAt !== undefined ? a.endedAt - a.startedAt : undefined)}</td>
                <td>{a.outcome ? <span class={`badge st-${a.outcome === 'ok' ? 'completed' : 'failed'}`}>{a.outcome}</span> : <span class="badge st-running">running</span>}</td>
                <td>
                  {a.executor ?? '—'}
                  {a.backendId ? <div class="mono small">{a.backendId}</div> : null}
                </td>
                <td class="error-cell">{a.error ? `${a.error.kind}: ${a.error.message}` : ''}</td>
                <td>
                  <LogButton runId={props.ctx.runId} stepId={s.stepId} attempt={a.attempt} logs={a.logs} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {s.cache?.key || s.argsDigest ? (
        <p class="small muted">
          {s.cache?.key ? (
            <>
              cache key <span class="mono">{shortDigest(s.cache.key, 20)}</span>{' '}
            </>
          ) : null}
          {s.argsDigest ? (
            <>
              {s.cache?.key ? '· ' : ''}args digest <span class="mono">{shortDigest(s.argsDigest, 20)}</span>
            </>
          ) : null}
        </p>
      ) : null}
      {s.resources !== undefined ? (
        <details>
          <summary>Resources</summary>
          <JsonTree value={s.resources} open={1} />
        </details>
      ) : null}
    </div>
  );
}

function LogButton(props: { runId: string; stepId: string; attempt: number; logs?: string }): preact.JSX.Element {
  const [tail, setTail] = useState<LogTail | Error | null>(null);
  const [open, setOpen] = useState(false);
  const load = (): void => {
    setOpen(!open);
    if (tail) return;
    getJson<LogTail>(`api/runs/${encodeURIComponent(props.runId)}/logs?step=${encodeURIComponent(props.stepId)}&attempt=${props.attempt}`).then(setTail, (e: Error) => setTail(e));
  };
  return (
    <div>
      {props.logs && /^https?:\/\//.test(props.logs) ? (
        <a href={props.logs} target="_blank" rel="noopener noreferrer" data-external="">
          open ↗
        </a>
      ) : null}{' '}
      <button type="button" class="link-button small" onClick={load}>
        {open ? 'hide tail' : 'tail'}
      </button>
      {open && tail ? (
        tail instanceof Error ? (
          <div class="field-error">{tail.message}</div>
        ) : (
          <div>
            {tail.location ? <div class="mono small muted">{tail.location}</div> : null}
            {tail.text ? <pre class="log-tail">{(tail.truncated ? '…\n' : '') + tail.text}</pre> : <div class="muted small">{tail.note ?? 'empty log'}</div>}
            <div class="mono small muted">{tail.cli}</div>
          </div>
        )
      ) : null}
    </div>
  );
}
