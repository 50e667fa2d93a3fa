import type { RunContext } from './run-detail';

export function StepsTab(props: { ctx: RunContext }): preact.JSX.Element {
  return <p class="muted">steps: {props.ctx.runId}</p>;
}
