/** Small shared pieces: links, badges, loading and error boxes, a modal, a copyable command. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { RunStatusName, StepState } from '../../api-types';
import { ApiFailure } from '../api';
import { href } from '../router';

export function Link(props: { to: string; class?: string; title?: string; children: ComponentChildren }): preact.JSX.Element {
  return (
    <a href={href(props.to)} class={props.class} title={props.title}>
      {props.children}
    </a>
  );
}

export function runLink(runId: string, tab = ''): string {
  return `runs/${encodeURIComponent(runId)}${tab ? `/${tab}` : ''}`;
}

export function stepLink(runId: string, stepId: string): string {
  return `${runLink(runId, 'steps')}?step=${encodeURIComponent(stepId)}`;
}

const STATUS_LABEL: Record<RunStatusName, string> = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
  blocked: 'Blocked',
};

export function StatusBadge(props: { status: RunStatusName }): preact.JSX.Element {
  return (
    <span class={`badge st-${props.status}`} data-state={props.status}>
      {STATUS_LABEL[props.status] ?? props.status}
    </span>
  );
}

export function StepBadge(props: { state: StepState }): preact.JSX.Element {
  return (
    <span class={`badge st-${props.state}`} data-state={props.state}>
      {props.state}
    </span>
  );
}

export function Loading(props: { what?: string }): preact.JSX.Element {
  return <p class="muted loading">Loading{props.what ? ` ${props.what}` : ''}…</p>;
}

export function ErrorBox(props: { error: Error }): preact.JSX.Element {
  const e = props.error;
  return (
    <div class="error-box" role="alert">
      <strong>{e instanceof ApiFailure && e.status === 404 ? 'Not found' : 'Error'}:</strong> {e.message}
      {e instanceof ApiFailure && e.hint ? <div class="muted">{e.hint}</div> : null}
    </div>
  );
}

/** A CLI command with a copy button. */
export function Cli(props: { cmd: string; label?: string }): preact.JSX.Element {
  const [copied, setCopied] = useState(false);
  return (
    <div class="cli">
      {props.label ? <span class="cli-label">{props.label}</span> : null}
      <code>{props.cmd}</code>
      <button
        type="button"
        class="ghost small"
        title="Copy to the clipboard"
        onClick={() => {
          void navigator.clipboard?.writeText(props.cmd).then(() => {
            setCopied(true);
            setTimeout(() => setCopied(false), 1200);
          });
        }}
      >
        {copied ? 'copied' : 'copy'}
      </button>
    </div>
  );
}

/** A modal dialog (a `<dialog>` opened with showModal, closed by Escape or Cancel). */
export function Modal(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }): preact.JSX.Element {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    const onClose = (): void => props.onClose();
    d?.addEventListener('close', onClose);
    return () => d?.removeEventListener('close', onClose);
  }, []);
  return (
    <dialog ref={ref} class={props.wide ? 'modal wide' : 'modal'} aria-label={props.title}>
      <header class="modal-head">
        <h2>{props.title}</h2>
        <button type="button" class="ghost" aria-label="Close" onClick={() => ref.current?.close()}>
          ✕
        </button>
      </header>
      {props.children}
    </dialog>
  );
}

export function Empty(props: { children: ComponentChildren }): preact.JSX.Element {
  return <p class="empty muted">{props.children}</p>;
}
