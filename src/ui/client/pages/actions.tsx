import type { RunContext } from './run-detail';

export function Actions(props: { ctx: RunContext; readOnly: boolean }): preact.JSX.Element {
  return <div class="actions">{props.readOnly ? 'read-only' : props.ctx.runId}</div>;
}
