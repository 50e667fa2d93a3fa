/**
 * The Graph tab: the run's data-flow DAG (`/api/runs/:id/graph`: an edge is a task input that came
 * from another task's output; fan-outs arrive collapsed as "×N" nodes), laid out by dagre in the
 * browser and drawn as SVG with state colours. Clicking a node opens its step. dagre is a chunk of
 * its own, loaded the first time a graph is drawn (the other pages never pay for it).
 */

type Dagre = typeof import('@dagrejs/dagre').default;
let dagreModule: Promise<Dagre> | undefined;
function loadDagre(): Promise<Dagre> {
  dagreModule ??= import('@dagrejs/dagre').then((m) => m.default);
  return dagreModule;
}
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Graph } from '../../api-types';
import { useFetch } from '../api';
import { ErrorBox, stepLink } from '../components/common';
import { navigate } from '../router';
import type { RunContext } from './run-detail';

const MAX_NODES = 800;

interface Laid {
  readonly nodes: { id: string; label: string; state: string; count: number; steps: string[]; x: number; y: number; w: number; h: number }[];
  readonly edges: { from: string; to: string; points: { x: number; y: number }[] }[];
  readonly width: number;
  readonly height: number;
  readonly ms: number;
}

export function layoutGraph(dagre: Dagre, g: Graph): Laid {
  const t = performance.now();
  const dg = new dagre.graphlib.Graph();
  dg.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 50, marginx: 16, marginy: 16 });
  dg.setDefaultEdgeLabel(() => ({}));
  for (const n of g.nodes) {
    const text = n.count > 1 && !n.label.includes(`×${n.count}`) ? `${n.label} ×${n.count}` : n.label;
    dg.setNode(n.id, { width: Math.min(260, Math.max(90, text.length * 7.2 + 24)), height: 34 });
  }
  for (const e of g.edges) if (dg.hasNode(e.from) && dg.hasNode(e.to)) dg.setEdge(e.from, e.to);
  dagre.layout(dg);
  const nodes = g.nodes.map((n) => {
    const v = dg.node(n.id);
    return { ...n, x: v.x, y: v.y, w: v.width, h: v.height };
  });
  const edges = dg.edges().map((e) => ({ from: e.v, to: e.w, points: dg.edge(e).points ?? [] }));
  const gl = dg.graph();
  return { nodes, edges, width: gl.width ?? 100, height: gl.height ?? 100, ms: performance.now() - t };
}

export function GraphTab(props: { ctx: RunContext }): preact.JSX.Element {
  const { ctx } = props;
  const graph = useFetch<Graph>(`api/runs/${encodeURIComponent(ctx.runId)}/graph`, ctx.version);
  const key = graph.data ? JSON.stringify(graph.data) : '';
  const [dagre, setDagre] = useState<Dagre | undefined>(undefined);
  const [loadError, setLoadError] = useState<Error | undefined>(undefined);
  useEffect(() => {
    loadDagre().then(setDagre, setLoadError);
  }, []);
  const laid = useMemo(() => (dagre && graph.data && graph.data.nodes.length <= MAX_NODES ? layoutGraph(dagre, graph.data) : undefined), [key, dagre]);
  if (loadError) return <ErrorBox error={loadError} />;
  if (graph.error && !graph.data) return <ErrorBox error={graph.error} />;
  if (!graph.data) return <p class="muted">Loading the graph…</p>;
  if (graph.data.nodes.length === 0) return <p class="empty muted">No task has been called yet.</p>;
  if (!dagre) return <p class="muted">Loading the layout…</p>;
  if (!laid) return <p class="empty muted">The graph has {graph.data.nodes.length} nodes, too many to draw here; use the Steps and Timeline tabs.</p>;
  return (
    <div class="graph-tab">
      <div class="toolbar">
        <div class="legend">
          {['completed', 'running', 'retrying', 'failed', 'cached', 'scheduled', 'cancelled'].map((s) => (
            <span key={s} class={`badge st-${s}`}>
              {s}
            </span>
          ))}
        </div>
        <span class="muted small">
          {graph.data.nodes.length} nodes · {graph.data.edges.length} edges · laid out in {Math.round(laid.ms)} ms
        </span>
      </div>
      <div class="graph">
        <svg width={laid.width} height={laid.height} viewBox={`0 0 ${laid.width} ${laid.height}`} role="img" aria-label="Data-flow graph" data-testid="graph">
          <defs>
            <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path class="g-arrow" d="M0 0 L10 5 L0 10 z" />
            </marker>
          </defs>
          {laid.edges.map((e) => (
            <path key={`${e.from}->${e.to}`} class="g-edge" marker-end="url(#arrow)" data-edge={`${e.from}->${e.to}`} d={e.points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ')} />
          ))}
          {laid.nodes.map((n) => (
            <g
              key={n.id}
              class="g-node"
              data-node={n.id}
              data-state={n.state}
              tabIndex={0}
              role="link"
              onClick={() => n.steps[0] && navigate(stepLink(ctx.runId, n.steps[0]))}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && n.steps[0]) navigate(stepLink(ctx.runId, n.steps[0]));
              }}
            >
              <rect x={n.x - n.w / 2} y={n.y - n.h / 2} width={n.w} height={n.h} rx={6} />
              <text class="g-label" x={n.x} y={n.y + 4} text-anchor="middle">
                {n.label.length > 30 ? `${n.label.slice(0, 29)}…` : n.label}
                {n.count > 1 && !n.label.includes(`×${n.count}`) ? <tspan class="g-count"> ×{n.count}</tspan> : null}
              </text>
              <title>
                {n.label} ({n.state}){n.count > 1 ? `, ${n.count} calls` : ''}
              </title>
            </g>
          ))}
        </svg>
      </div>
    </div>
  );
}
