/**
 * The run's actions, each with its CLI equivalent: cancel (with a reason), retry a failed step,
 * resume from a chosen step (showing the resume plan: which steps are reused, which run again),
 * and re-run with the same or edited inputs. On a read-only server the buttons are disabled and
 * say why; the CLI commands stay visible.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ActionResult, JsonValue, Meta, ResumePlan } from '../../api-types';
import { actionsOff, getJson, postJson, setToken } from '../api';
import { Cli, Modal } from '../components/common';
import { navigate } from '../router';
import type { RunContext } from './run-detail';

type Dialog = 'cancel' | 'retry' | 'resume' | 'rerun';

export function Actions(props: { ctx: RunContext; meta: Meta | undefined }): preact.JSX.Element {
  const { ctx, meta } = props;
  const d = ctx.detail;
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const off = actionsOff(meta);
  const readOnly = off !== undefined;
  const running = d.status === 'running';
  // Without the steps loaded, the root failure names the failed step.
  const failed = ctx.steps ? ctx.steps.filter((s) => s.state === 'failed').map((s) => s.stepId) : d.failure?.stepId ? [d.failure.stepId] : [];
  const why = (ok: boolean, reason: string): string | undefined => off ?? (ok ? undefined : reason);
  const cancelWhy = why(running, 'Only a running run can be cancelled.');
  const retryWhy = why(!running && failed.length > 0, running ? 'The run is still running.' : 'No step failed.');
  const resumeWhy = why(!running, 'The run is still running: cancel it first.');
  const rerunWhy = why(true, '');
  return (
    <div class="actions" data-testid="actions" data-readonly={String(readOnly)}>
      <button type="button" class="danger" disabled={!!cancelWhy} title={cancelWhy ?? 'Cancel this run'} onClick={() => setDialog('cancel')}>
        Cancel run
      </button>
      <button type="button" disabled={!!retryWhy} title={retryWhy ?? 'Start a resumed run from the failed step'} onClick={() => setDialog('retry')}>
        Retry failed step
      </button>
      <button type="button" disabled={!!resumeWhy} title={resumeWhy ?? 'Start a run that reuses the steps before a chosen one'} onClick={() => setDialog('resume')}>
        Resume from step…
      </button>
      <button type="button" disabled={!!rerunWhy} title={rerunWhy ?? 'Start a new run of the same script'} onClick={() => setDialog('rerun')}>
        Re-run…
      </button>
      {readOnly && meta?.tokenAccepted ? (
        <form
          class="note token-form"
          data-testid="token-form"
          onSubmit={(e) => {
            e.preventDefault();
            const t = String(new FormData(e.currentTarget).get('token') ?? '').trim();
            if (t) setToken(t);
          }}
        >
          Actions need the server's token:{' '}
          <input type="password" name="token" aria-label="Token" autocomplete="off" placeholder="token" /> <button type="submit">Use</button>
        </form>
      ) : readOnly ? (
        <span class="note" data-testid="readonly-note">
          Read-only server: actions are off. Start <code>larkflow ui --allow-actions</code> to use them here, or run the commands below.
        </span>
      ) : null}
      {notice ? (
        <span class="note" role="status">
          {notice}
        </span>
      ) : null}
      <details class="cli-list">
        <summary>CLI equivalents</summary>
        <Cli label="cancel" cmd={d.cli.cancel} />
        <Cli label="resume" cmd={d.cli.resume} />
        <Cli label="re-run" cmd={d.cli.rerun} />
        <Cli label="history" cmd={d.cli.history} />
      </details>
      {dialog === 'cancel' ? <CancelDialog ctx={ctx} onClose={() => setDialog(null)} onDone={(r) => setNotice(`Cancel requested (${r.cli})`)} /> : null}
      {dialog === 'retry' ? <ResumeDialog ctx={ctx} mode="retry" initialStep={failed[0]} onClose={() => setDialog(null)} /> : null}
      {dialog === 'resume' ? <ResumeDialog ctx={ctx} mode="resume" initialStep={failed[0]} onClose={() => setDialog(null)} /> : null}
      {dialog === 'rerun' ? <RerunDialog ctx={ctx} onClose={() => setDialog(null)} /> : null}
    </div>
  );
}

function actionPath(ctx: RunContext, action: string): string {
  return `api/runs/${encodeURIComponent(ctx.runId)}/${action}`;
}

function CancelDialog(props: { ctx: RunContext; onClose: () => void; onDone: (r: ActionResult) => void }): preact.JSX.Element {
  const [reason, setReason] = useState('cancelled from larkflow ui');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await postJson<ActionResult>(actionPath(props.ctx, 'cancel'), { reason: reason.trim() || undefined });
      props.onDone(r);
      props.onClose();
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <Modal title="Cancel run" onClose={props.onClose}>
      <form onSubmit={submit}>
        <p>
          Cancel <span class="mono">{props.ctx.runId}</span>? Running attempts are stopped; the run ends as cancelled.
        </p>
        <label class="field">
          Reason
          <textarea name="reason" rows={3} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        </label>
        <Cli label="CLI" cmd={props.ctx.detail.cli.cancel} />
        {error ? <div class="field-error">{error}</div> : null}
        <div class="buttons">
          <button type="button" onClick={props.onClose}>
            Keep running
          </button>
          <button type="submit" class="danger" disabled={busy}>
            Cancel run
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** Resume from a chosen step (mode "resume") or retry a failed one (mode "retry"), showing the plan first. */
export function ResumeDialog(props: { ctx: RunContext; mode: 'resume' | 'retry'; initialStep?: string; onClose: () => void }): preact.JSX.Element {
  const { ctx, mode } = props;
  useEffect(() => ctx.wantSteps(), []);
  const choices = useMemo(() => {
    const all = (ctx.steps ?? []).filter((s) => s.kind !== 'timer').sort((a, b) => a.seq - b.seq);
    return mode === 'retry' ? all.filter((s) => s.state === 'failed') : all;
  }, [ctx.steps, mode]);
  const [step, setStep] = useState(props.initialStep ?? '');
  useEffect(() => {
    if (ctx.steps && !choices.some((s) => s.stepId === step)) setStep(choices[0]?.stepId ?? '');
  }, [ctx.steps]);
  const [plan, setPlan] = useState<ResumePlan | Error | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!step) return;
    setPlan(null);
    const ctl = new AbortController();
    getJson<ResumePlan>(`${actionPath(ctx, 'resume-plan')}?from=${encodeURIComponent(step)}`, ctl.signal).then(setPlan, (e: Error) => {
      if (!ctl.signal.aborted) setPlan(e);
    });
    return () => ctl.abort();
  }, [step]);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = mode === 'retry' ? await postJson<ActionResult>(actionPath(ctx, 'retry'), { step }) : await postJson<ActionResult>(actionPath(ctx, 'resume'), { fromStep: step });
      props.onClose();
      if (r.runId) navigate(`runs/${encodeURIComponent(r.runId)}`);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  const title = mode === 'retry' ? 'Retry failed step' : 'Resume from step';
  return (
    <Modal title={title} onClose={props.onClose} wide>
      <form onSubmit={submit}>
        <p class="muted small">
          {mode === 'retry'
            ? 'Starts a new run that reuses the recorded results of the steps before the failed one and runs it again.'
            : 'Starts a new run that reuses the recorded results of the steps before the chosen one and runs the rest again.'}
        </p>
        <label class="field">
          {mode === 'retry' ? 'Failed step ' : 'From step '}
          {!ctx.steps ? <span class="muted small">loading the steps…</span> : null}
          <select name="step" value={step} onChange={(e) => setStep(e.currentTarget.value)}>
            {choices.map((s) => (
              <option key={s.stepId} value={s.stepId}>
                {s.stepId} ({s.task}, {s.state})
              </option>
            ))}
          </select>
        </label>
        {plan instanceof Error ? <div class="field-error">{plan.message}</div> : null}
        {plan && !(plan instanceof Error) ? (
          <div data-testid="resume-plan">
            <div class="plan">
              <div>
                <strong data-testid="plan-reused">{plan.reused.length} reused</strong>
                <ul>
                  {plan.reused.slice(0, 200).map((s) => (
                    <li key={s}>{s}</li>
                  ))}
                  {plan.reused.length > 200 ? <li>… {plan.reused.length - 200} more</li> : null}
                </ul>
              </div>
              <div>
                <strong data-testid="plan-rerun">{plan.rerun.length} run again</strong>
                <ul>
                  {plan.rerun.slice(0, 200).map((s) => (
                    <li key={s}>{s}</li>
                  ))}
                  {plan.rerun.length > 200 ? <li>… {plan.rerun.length - 200} more</li> : null}
                </ul>
              </div>
            </div>
            <Cli label="CLI" cmd={plan.cli} />
          </div>
        ) : !plan ? (
          <p class="muted small">Loading the plan…</p>
        ) : null}
        {error ? <div class="field-error">{error}</div> : null}
        <div class="buttons">
          <button type="button" onClick={props.onClose}>
            Close
          </button>
          <button type="submit" class="primary" disabled={busy || !step || !plan || plan instanceof Error}>
            {mode === 'retry' ? 'Retry' : 'Resume'}
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** Checks the re-run editor's text: `{ "args": [...], "kwargs": {...} }`, both optional. */
export function parseInputs(text: string): { args: JsonValue[]; kwargs: { [k: string]: JsonValue } } | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `Not valid JSON: ${(e as Error).message}`;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'Expected an object: { "args": [...], "kwargs": {...} }';
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => k !== 'args' && k !== 'kwargs');
  if (extra.length) return `Unknown key${extra.length > 1 ? 's' : ''}: ${extra.join(', ')} (only "args" and "kwargs")`;
  if (o['args'] !== undefined && !Array.isArray(o['args'])) return '"args" must be an array';
  if (o['kwargs'] !== undefined && (typeof o['kwargs'] !== 'object' || o['kwargs'] === null || Array.isArray(o['kwargs']))) return '"kwargs" must be an object';
  return { args: (o['args'] as JsonValue[] | undefined) ?? [], kwargs: (o['kwargs'] as { [k: string]: JsonValue } | undefined) ?? {} };
}

function RerunDialog(props: { ctx: RunContext; onClose: () => void }): preact.JSX.Element {
  const original = JSON.stringify(props.ctx.detail.inputs, null, 2);
  const [text, setText] = useState(original);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const parsed = parseInputs(text);
  const invalid = typeof parsed === 'string' ? parsed : null;
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (typeof parsed === 'string') return;
    setBusy(true);
    setError(null);
    try {
      const r = await postJson<ActionResult>(actionPath(props.ctx, 'rerun'), parsed);
      props.onClose();
      if (r.runId) navigate(`runs/${encodeURIComponent(r.runId)}`);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <Modal title="Re-run" onClose={props.onClose} wide>
      <form onSubmit={submit}>
        <p class="muted small">Starts a new run of the stored script ({props.ctx.detail.workflow}) with these inputs.</p>
        <label class="field">
          Inputs (JSON)
          <textarea name="inputs" rows={12} spellcheck={false} value={text} onInput={(e) => setText(e.currentTarget.value)} aria-invalid={invalid ? 'true' : 'false'} />
        </label>
        {invalid ? (
          <div class="field-error" data-testid="inputs-error">
            {invalid}
          </div>
        ) : (
          <div class="muted small">{text === original ? 'Same inputs as this run.' : 'Edited inputs.'}</div>
        )}
        <Cli label="CLI" cmd={props.ctx.detail.cli.rerun} />
        {error ? <div class="field-error">{error}</div> : null}
        <div class="buttons">
          <button type="button" onClick={() => setText(original)} disabled={text === original}>
            Reset to the run's inputs
          </button>
          <button type="button" onClick={props.onClose}>
            Close
          </button>
          <button type="submit" class="primary" disabled={busy || !!invalid}>
            Re-run
          </button>
        </div>
      </form>
    </Modal>
  );
}
