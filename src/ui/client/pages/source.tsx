import type { RunContext } from './run-detail';

export function SourceTab(props: { ctx: RunContext }): preact.JSX.Element {
  return <p class="muted">source: {props.ctx.runId}</p>;
}
