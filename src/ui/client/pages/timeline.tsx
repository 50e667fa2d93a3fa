import type { RunContext } from './run-detail';

export function TimelineTab(props: { ctx: RunContext }): preact.JSX.Element {
  return <p class="muted">timeline: {props.ctx.runId}</p>;
}
