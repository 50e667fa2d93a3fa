/**
 * This file projects a run's steps onto its data-flow graph: one node per step, an edge from the
 * step whose result an argument came from (TaskScheduled.inputsFrom, the recorded ArgOrigin) to the
 * step that took it. A fan-out group is one node with its count, so `[run(f, x) for x in 1000 xs]`
 * draws as one "f ×1000" node. Pure: steps in, graph out (the browser lays it out with dagre).
 */
import type { Graph, Step, StepState } from '../../api-types.js';

/** The state a collapsed group shows: the worst of its steps (failed, then running, ...). */
const RANK: readonly StepState[] = ['failed', 'running', 'retrying', 'scheduled', 'cancelled', 'completed', 'cached'];

function groupState(states: readonly StepState[]): StepState {
  for (const s of RANK) if (states.includes(s)) return s;
  return states[0] ?? 'scheduled';
}

export function projectGraph(steps: readonly Step[]): Graph {
  const nodeOf = new Map<string, string>();
  const nodes = new Map<string, { id: string; label: string; states: StepState[]; steps: string[] }>();
  for (const s of steps) {
    const id = s.group ?? s.stepId;
    nodeOf.set(s.stepId, id);
    const n = nodes.get(id);
    if (n) {
      n.states.push(s.state);
      n.steps.push(s.stepId);
    } else {
      nodes.set(id, { id, label: s.group ? s.task : s.stepId, states: [s.state], steps: [s.stepId] });
    }
  }
  const edges: { from: string; to: string }[] = [];
  const seen = new Set<string>();
  for (const s of steps) {
    const to = nodeOf.get(s.stepId)!;
    for (const d of s.deps) {
      const from = nodeOf.get(d);
      if (from === undefined || from === to) continue;
      const k = `${from}\u0000${to}`;
      if (seen.has(k)) continue;
      seen.add(k);
      edges.push({ from, to });
    }
  }
  return {
    nodes: [...nodes.values()].map((n) => ({
      id: n.id,
      label: n.steps.length > 1 ? `${n.label} ×${n.steps.length}` : n.label,
      state: groupState(n.states),
      count: n.steps.length,
      steps: n.steps,
    })),
    edges,
  };
}
