import type { RunContext } from './run-detail';

export function GraphTab(props: { ctx: RunContext }): preact.JSX.Element {
  return <p class="muted">graph: {props.ctx.runId}</p>;
}
