/**
 * The run page: a header (status, timing, inputs, result or root failure, links, actions) and the
 * tabs Steps, Timeline, Graph, History and Source.
 *
 * Live updates: the page loads the run, then opens one EventSource on
 * `/api/runs/:id/stream?after=<lastSeq>`. Each `history` event passes a SeqGate (a replay after a
 * reconnect never applies an event twice), goes to the History tab's listener, and schedules one
 * throttled refetch of the run and its steps: the server's projections stay the single truth, and
 * a burst of events costs one refetch per 300 ms.
 */
import { useContext, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { HistoryEventJson, JsonValue, RunDetail, Step } from '../../api-types';
import { MetaContext, SeqGate, useEventStream, useFetch, useNow, useThrottle } from '../api';
import { ErrorBox, Link, Loading, StatusBadge, runLink, stepLink } from '../components/common';
import { Compact, JsonTree } from '../components/json-tree';
import { fmtDuration, fmtTime, isoUtc, shortDigest } from '../format';
import { Actions } from './actions';
import { GraphTab } from './graph';
import { HistoryTab } from './history';
import { Progress } from './runs';
import { SourceTab } from './source';
import { StepsTab } from './steps';
import { TimelineTab } from './timeline';

const TABS = [
  ['steps', 'Steps'],
  ['timeline', 'Timeline'],
  ['graph', 'Graph'],
  ['history', 'History'],
  ['source', 'Source'],
] as const;

export type HistoryListener = (e: HistoryEventJson) => void;

export interface RunContext {
  readonly runId: string;
  readonly detail: RunDetail;
  /** Loaded for the Steps and Timeline tabs, and after `wantSteps()`. */
  readonly steps: Step[] | undefined;
  /** Asks for the steps on any tab (a dialog that lists them). */
  readonly wantSteps: () => void;
  /** Bumped on every live change (after the throttle). */
  readonly version: number;
  /** Registers a listener for live history events (already deduplicated); returns the unsubscriber. */
  readonly onEvent: (l: HistoryListener) => () => void;
  readonly query: URLSearchParams;
}

export function RunDetailPage(props: { runId: string; tab: string; query: URLSearchParams }): preact.JSX.Element {
  const { runId } = props;
  const enc = encodeURIComponent(runId);
  const [version, setVersion] = useState(0);
  const detail = useFetch<RunDetail>(`api/runs/${enc}`, version);
  // The steps (the biggest answer of a big run) are fetched only for the tabs and dialogs that use them.
  const [stepsWanted, setStepsWanted] = useState(false);
  const needSteps = props.tab === 'steps' || props.tab === 'timeline' || !TABS.some(([t]) => t === props.tab) || stepsWanted;
  const steps = useFetch<{ steps: Step[] }>(needSteps ? `api/runs/${enc}/steps` : null, version);
  const [streamAfter, setStreamAfter] = useState<{ runId: string; after: number } | null>(null);
  const gate = useRef(new SeqGate());
  const listeners = useRef(new Set<HistoryListener>());
  const [applied, setApplied] = useState(0);

  // The stream starts where the loaded run ends; it is opened once per run, not per refetch.
  useEffect(() => {
    if (detail.data && detail.data.runId === runId && streamAfter?.runId !== runId) {
      gate.current = new SeqGate(detail.data.lastSeq);
      setStreamAfter({ runId, after: detail.data.lastSeq });
      setApplied(0);
    }
  }, [detail.data, runId]);

  // Refetching the steps of a big run costs more: refresh it less often.
  const stepCount = steps.data?.steps.length ?? 0;
  const refresh = useThrottle(() => setVersion((v) => v + 1), stepCount > 1000 ? 2000 : stepCount > 200 ? 800 : 300);
  const streamPath = streamAfter && streamAfter.runId === runId ? `api/runs/${enc}/stream?after=${streamAfter.after}` : null;
  const stream = useEventStream(
    streamPath,
    {
      history: (data) => {
        const e = data as HistoryEventJson;
        if (typeof e?.seq !== 'number' || !gate.current.admit(e.seq)) return;
        setApplied((n) => n + 1);
        for (const l of listeners.current) l(e);
        refresh();
      },
    },
    (reconnected) => {
      if (reconnected) refresh();
    },
  );

  const ctx = useMemo<RunContext | undefined>(
    () =>
      detail.data && detail.data.runId === runId
        ? {
            runId,
            detail: detail.data,
            steps: steps.data?.steps,
            wantSteps: () => setStepsWanted(true),
            version,
            query: props.query,
            onEvent: (l) => {
              listeners.current.add(l);
              return () => listeners.current.delete(l);
            },
          }
        : undefined,
    [detail.data, steps.data, version, props.query, runId],
  );

  if (detail.error && !detail.data) {
    return (
      <section class="page">
        <p>
          <Link to="">← Runs</Link>
        </p>
        <ErrorBox error={detail.error} />
      </section>
    );
  }
  if (!ctx) return <section class="page"><Loading what="run" /></section>;
  const tab = TABS.some(([t]) => t === props.tab) ? props.tab : 'steps';
  return (
    <section class="page run-page" data-run={runId} data-state={ctx.detail.status} data-last-seq={gate.current.seq} data-applied={applied}>
      <RunHeader ctx={ctx} stream={stream} />
      <nav class="tabs" role="tablist" aria-label="Run views">
        {TABS.map(([t, label]) => (
          <Link key={t} to={runLink(runId, t)} class={t === tab ? 'tab active' : 'tab'}>
            <span role="tab" aria-selected={t === tab}>
              {label}
              {t === 'steps' ? <span class="count">{ctx.steps ? ctx.steps.length : ctx.detail.progress.total}</span> : null}
              {t === 'history' ? <span class="count">{ctx.detail.lastSeq}</span> : null}
            </span>
          </Link>
        ))}
      </nav>
      <div class="tab-body" data-tab={tab}>
        {tab === 'steps' ? <StepsTab ctx={ctx} /> : null}
        {tab === 'timeline' ? <TimelineTab ctx={ctx} /> : null}
        {tab === 'graph' ? <GraphTab ctx={ctx} /> : null}
        {tab === 'history' ? <HistoryTab ctx={ctx} /> : null}
        {tab === 'source' ? <SourceTab ctx={ctx} /> : null}
      </div>
    </section>
  );
}

function RunHeader(props: { ctx: RunContext; stream: string }): preact.JSX.Element {
  const d = props.ctx.detail;
  const meta = useContext(MetaContext);
  const now = useNow(d.status === 'running');
  const duration = d.durationMs ?? (d.endedAt !== undefined ? d.endedAt - d.startedAt : now - d.startedAt);
  const hasInputs = d.inputs.args.length > 0 || Object.keys(d.inputs.kwargs).length > 0;
  return (
    <header class="run-header">
      <div class="crumbs">
        <Link to="">Runs</Link> <span class="muted">/</span> {d.pipeline ? <><Link to={`?pipeline=${encodeURIComponent(d.pipeline)}`}>{d.pipeline}</Link> <span class="muted">/</span> </> : null}
        <span class="mono">{d.runId}</span>
      </div>
      <div class="run-title">
        <h1>{d.workflow}</h1>
        <span id="run-state" data-state={d.status}>
          <StatusBadge status={d.status} />
        </span>
        <span class={`live-dot ${props.stream}`} data-stream={props.stream} title={`Live updates: ${props.stream}`}>
          {props.stream}
        </span>
        <span class="spacer" />
        <a class="button ghost" href={`api/runs/${encodeURIComponent(d.runId)}/history.json`} download={`${d.runId}.history.json`} data-external="">
          ⤓ History JSON
        </a>
      </div>
      <dl class="facts">
        <div>
          <dt>Started</dt>
          <dd title={isoUtc(d.startedAt)}>{fmtTime(d.startedAt)}</dd>
        </div>
        <div>
          <dt>Ended</dt>
          <dd title={isoUtc(d.endedAt)}>{d.endedAt ? fmtTime(d.endedAt) : <span class="muted">—</span>}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd data-testid="run-duration">{fmtDuration(duration)}</dd>
        </div>
        <div>
          <dt>Progress</dt>
          <dd>
            <Progress done={d.progress.done} total={d.progress.total} status={d.status} />
          </dd>
        </div>
        <div>
          <dt>Cache hits</dt>
          <dd>{d.cacheHits}</dd>
        </div>
        <div>
          <dt>Script</dt>
          <dd>
            <span title={d.file}>{d.file}</span>{' '}
            {d.scriptDigest ? (
              <Link to={runLink(d.runId, 'source')} class="mono small" title={d.scriptDigest}>
                {shortDigest(d.scriptDigest)}
              </Link>
            ) : null}
          </dd>
        </div>
        {d.trigger ? (
          <div>
            <dt>Started by</dt>
            <dd>{d.trigger}</dd>
          </div>
        ) : null}
        {d.parent ? (
          <div>
            <dt>Parent</dt>
            <dd>
              <Link to={stepLink(d.parent.runId, d.parent.stepId)} class="mono">
                {d.parent.runId}
              </Link>{' '}
              <span class="muted small">step {d.parent.stepId}</span>
            </dd>
          </div>
        ) : null}
        {d.resumedFrom ? (
          <div>
            <dt>Resumed from</dt>
            <dd>
              <Link to={runLink(d.resumedFrom.runId)} class="mono" title="the run this one resumed">
                {d.resumedFrom.runId}
              </Link>
              {d.resumedFrom.fromStep ? <span class="muted small"> at step {d.resumedFrom.fromStep}</span> : null}
            </dd>
          </div>
        ) : null}
        {d.related.length ? (
          <div class="wide">
            <dt>Related runs</dt>
            <dd class="related">
              {d.related.map((r) => (
                <span key={r.runId} data-relation={r.relation}>
                  <span class="muted small">{r.relation}</span>{' '}
                  <Link to={runLink(r.runId)} class="mono">
                    {r.runId}
                  </Link>
                </span>
              ))}
            </dd>
          </div>
        ) : null}
      </dl>
      {d.waitingAt && d.waitingAt.length && d.status === 'running' ? (
        <p class="waiting" data-testid="waiting-at">
          <span class="pause-icon" aria-hidden="true" />
          Suspended at{' '}
          {d.waitingAt.map((w, i) => (
            <Link key={i} to={`${runLink(d.runId, 'source')}?line=${w.line}&file=${encodeURIComponent(w.file)}`} class="mono">
              {w.file}:{w.line}
              {w.stack?.length ? ` in ${w.stack.join(' → ')}` : ''}
            </Link>
          ))}
        </p>
      ) : null}
      {d.failure ? <FailureBox runId={d.runId} failure={d.failure} /> : null}
      <div class="io">
        <details open>
          <summary>Inputs</summary>
          {hasInputs ? <Compact value={d.inputs as unknown as JsonValue} /> : <p class="muted small">No arguments.</p>}
        </details>
        {d.status === 'completed' ? (
          <details open data-testid="run-result">
            <summary>Result</summary>
            <Compact value={d.result ?? null} />
          </details>
        ) : null}
        {Object.keys(d.env).length ? (
          <details>
            <summary>Environment</summary>
            <JsonTree value={d.env} open={1} />
          </details>
        ) : null}
      </div>
      <Actions ctx={props.ctx} meta={meta} />
    </header>
  );
}

function FailureBox(props: { runId: string; failure: NonNullable<RunDetail['failure']> }): preact.JSX.Element {
  const f = props.failure;
  return (
    <div class="failure" role="alert" data-testid="root-failure">
      <div class="failure-head">
        <strong>Root failure</strong>
        <span class="badge st-failed">{f.kind}</span>
        {f.task ? (
          <span>
            in task{' '}
            {f.stepId ? (
              <Link to={stepLink(props.runId, f.stepId)}>
                <strong>{f.task}</strong> <span class="mono small">{f.stepId}</span>
              </Link>
            ) : (
              <strong>{f.task}</strong>
            )}
          </span>
        ) : null}
        {f.attempt !== undefined ? <span class="muted">attempt {f.attempt}</span> : null}
        {f.site ? (
          <Link to={`${runLink(props.runId, 'source')}?line=${f.site.line}&file=${encodeURIComponent(f.site.file)}`} class="mono small">
            {f.site.file}:{f.site.line}
          </Link>
        ) : null}
        {f.log ? (
          /^https?:\/\//.test(f.log) ? (
            <a href={f.log} target="_blank" rel="noopener noreferrer" data-external="">
              log ↗
            </a>
          ) : (
            <span class="mono small" title="log location">
              log: {f.log}
            </span>
          )
        ) : null}
      </div>
      <p class="failure-message">{f.message}</p>
      {f.traceback ? (
        <details open>
          <summary>Traceback</summary>
          <pre class="traceback">{f.traceback}</pre>
        </details>
      ) : null}
    </div>
  );
}

