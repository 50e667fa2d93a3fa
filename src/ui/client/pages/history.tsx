import type { RunContext } from './run-detail';

export function HistoryTab(props: { ctx: RunContext }): preact.JSX.Element {
  return <p class="muted">history: {props.ctx.runId}</p>;
}
