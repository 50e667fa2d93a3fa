/**
 * The Source tab: the run's pinned script (by digest) with line numbers, each task-call site
 * marked in its step's state colour, the line where the run waits now, and the line of a script or
 * nondeterminism error. `?line=N&file=F` scrolls to a line. Lines are text nodes (escaped).
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Source, SourceMark } from '../../api-types';
import { useFetch } from '../api';
import { ErrorBox, Link, stepLink } from '../components/common';
import { shortDigest } from '../format';
import type { RunContext } from './run-detail';

export function SourceTab(props: { ctx: RunContext }): preact.JSX.Element {
  const { ctx } = props;
  const src = useFetch<Source>(`api/runs/${encodeURIComponent(ctx.runId)}/source`, ctx.version);
  const wantFile = ctx.query.get('file') ?? undefined;
  const wantLine = Number(ctx.query.get('line') ?? 0) || undefined;
  const [file, setFile] = useState<string | undefined>(wantFile);
  useEffect(() => {
    if (wantFile) setFile(wantFile);
  }, [wantFile]);
  const data = src.data;
  const current = data ? data.files.find((f) => f.path === file) ?? data.files.find((f) => f.path === data.entry) ?? data.files[0] : undefined;
  const marks = useMemo(() => {
    const m = new Map<number, SourceMark[]>();
    for (const k of data?.marks ?? []) {
      if (current && k.file !== current.path && !current.path.endsWith(`/${k.file}`) && !k.file.endsWith(`/${current.path}`)) continue;
      m.set(k.line, [...(m.get(k.line) ?? []), k]);
    }
    return m;
  }, [data, current?.path]);
  // Scroll to the asked line, else to the waiting line, else to the error.
  const target = wantLine ?? [...marks.values()].flat().find((k) => k.kind === 'waiting')?.line ?? [...marks.values()].flat().find((k) => k.kind === 'error')?.line;
  useEffect(() => {
    if (!target) return;
    const t = setTimeout(() => document.querySelector(`[data-line="${target}"]`)?.scrollIntoView({ block: 'center' }), 30);
    return () => clearTimeout(t);
  }, [target, current?.path, !!data]);

  if (src.error && !data) return <ErrorBox error={src.error} />;
  if (!data || !current) return <p class="muted">Loading the source…</p>;
  const lines = current.text.split('\n');
  return (
    <div class="source-tab">
      <div class="toolbar">
        <span class="muted small">
          script <span class="mono">{shortDigest(data.digest, 16)}</span> · entry {data.entry}
        </span>
        <div class="legend">
          <span class="badge st-completed">task call</span>
          <span class="badge st-running">waiting here</span>
          <span class="badge st-failed">error</span>
        </div>
      </div>
      {data.files.length > 1 ? (
        <div class="src-files">
          {data.files.map((f) => (
            <button key={f.path} type="button" class={f.path === current.path ? 'on' : ''} onClick={() => setFile(f.path)}>
              {f.path}
            </button>
          ))}
        </div>
      ) : null}
      <div class="source" data-testid="source" data-file={current.path}>
        {lines.map((text, i) => {
          const n = i + 1;
          const ms = marks.get(n) ?? [];
          const waiting = ms.some((k) => k.kind === 'waiting');
          const error = ms.some((k) => k.kind === 'error');
          const cls = `src-line${waiting ? ' mark-waiting' : ''}${error ? ' mark-error' : ''}${n === wantLine ? ' target' : ''}`;
          return (
            <div key={n} class={cls} data-line={n} data-marks={ms.map((k) => k.kind).join(' ') || undefined}>
              <span class="src-no">{n}</span>
              <span class="src-gutter">{error ? '✖' : waiting ? '‖' : ms.length ? '●' : ''}</span>
              <span class="src-code">
                {text || ' '}
                {ms.length ? (
                  <span class="src-marks">
                    {ms.slice(0, 6).map((k, j) =>
                      k.kind === 'task' ? (
                        k.stepId ? (
                          <Link key={j} to={stepLink(ctx.runId, k.stepId)} class={`badge st-${k.state ?? 'scheduled'}`}>
                            {k.stepId} {k.state ?? ''}
                          </Link>
                        ) : (
                          <span key={j} class={`badge st-${k.state ?? 'scheduled'}`}>
                            {k.state ?? 'task'}
                          </span>
                        )
                      ) : (
                        <span key={j} class={`badge ${k.kind === 'error' ? 'st-failed' : 'st-running'}`} title={k.message}>
                          {k.kind === 'error' ? `error: ${k.message ?? ''}` : 'waiting here'}
                        </span>
                      ),
                    )}
                    {ms.length > 6 ? <span class="muted">+{ms.length - 6}</span> : null}
                  </span>
                ) : null}
              </span>
            </div>
          );
        })}
      </div>
    </div>
  );
}
