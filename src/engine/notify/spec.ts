/**
 * This file defines run notifications' specs (`StartOptions.notify`, recorded in RunStarted): which
 * run events (STARTED, SUCCEEDED, FAILED, CANCELLED) go to which sink (a webhook, a Slack incoming
 * webhook, email), how they are checked, and the NotificationsQueued event the engine appends with
 * the run event a notification is about. The store puts that event's notifications in its outbox
 * in the same transaction (store/), and deliver.ts sends them.
 */
import { UsageError } from '../core/errors.js';
import type { ErrorInfo, NewEvent, NotifyEvent, NotifySink, NotifySpec, QueuedNotification } from '../core/events.js';
import type { Json } from '../core/json.js';

export type { NotifyEvent, NotifySink, NotifySpec, QueuedNotification } from '../core/events.js';

/** The run events a notification can be sent for. */
export const NOTIFY_EVENTS: readonly NotifyEvent[] = ['STARTED', 'SUCCEEDED', 'FAILED', 'CANCELLED'];

/**
 * The trigger events a notification can be sent for: the run events of runs a pipeline trigger
 * started (their environment has LARKFLOW_TRIGGER; backfills included), and TRIGGER_TICK_SKIPPED, a
 * tick that started no run on time (held back by maxConcurrency or batchPolicy, or missed ticks
 * dropped by the catch-up policy; queued by the trigger runner, src/pipelines/triggers/runner.ts).
 */
export const TRIGGER_NOTIFY_EVENTS: readonly NotifyEvent[] = ['TRIGGER_RUN_STARTED', 'TRIGGER_RUN_SUCCEEDED', 'TRIGGER_RUN_FAILED', 'TRIGGER_RUN_CANCELLED', 'TRIGGER_TICK_SKIPPED'];

const ALL_EVENTS: readonly NotifyEvent[] = [...NOTIFY_EVENTS, ...TRIGGER_NOTIFY_EVENTS];

/** The events `larkflow run --notify-*` notifies about unless `--notify-on` says otherwise. */
export const DEFAULT_NOTIFY_ON: readonly NotifyEvent[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

const EMAIL = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks notification specs (as JSON-like input from an embedder or the CLI) and returns them in
 * their canonical form (no unknown fields, events without duplicates).
 * @throws UsageError naming what is wrong: an empty or unknown `on`, a URL that is not http(s), an
 *   address that does not look like an email address, an unknown sink kind
 */
export function validateNotify(specs: readonly NotifySpec[] | undefined): NotifySpec[] | undefined {
  if (specs === undefined) return undefined;
  if (!Array.isArray(specs)) throw new UsageError('notify must be a list of { on, sink } specs');
  return specs.map((spec, i) => {
    const where = `notify[${i}]`;
    if (spec === null || typeof spec !== 'object') throw new UsageError(`${where} must be an object { on, sink }`);
    const on = spec.on as readonly unknown[];
    if (!Array.isArray(on) || on.length === 0) throw new UsageError(`${where}.on must list at least one of ${NOTIFY_EVENTS.join(', ')}`);
    for (const e of on) {
      if (!ALL_EVENTS.includes(e as NotifyEvent)) throw new UsageError(`${where}.on: unknown event ${JSON.stringify(e)} (events: ${ALL_EVENTS.join(', ')})`);
    }
    return { on: ALL_EVENTS.filter((e) => on.includes(e)), sink: checkSink(spec.sink, `${where}.sink`) };
  });
}

function checkSink(sink: NotifySink, where: string): NotifySink {
  if (sink === null || typeof sink !== 'object') throw new UsageError(`${where} must be an object with a kind (webhook, slack, email)`);
  switch (sink.kind) {
    case 'webhook': {
      checkUrl(sink.url, `${where}.url`);
      if (sink.secretEnv !== undefined && (typeof sink.secretEnv !== 'string' || !ENV_NAME.test(sink.secretEnv))) {
        throw new UsageError(`${where}.secretEnv must name an environment variable, not ${JSON.stringify(sink.secretEnv)}`);
      }
      return { kind: 'webhook', url: sink.url, ...(sink.secretEnv !== undefined ? { secretEnv: sink.secretEnv } : {}) };
    }
    case 'slack':
      checkUrl(sink.url, `${where}.url`);
      return { kind: 'slack', url: sink.url };
    case 'email': {
      const to = sink.to as readonly unknown[];
      if (!Array.isArray(to) || to.length === 0) throw new UsageError(`${where}.to must list at least one email address`);
      for (const a of to) if (typeof a !== 'string' || !EMAIL.test(a)) throw new UsageError(`${where}.to: ${JSON.stringify(a)} is not an email address`);
      return { kind: 'email', to: [...(to as string[])] };
    }
    default:
      throw new UsageError(`${where}: unknown sink kind ${JSON.stringify((sink as { kind?: unknown }).kind)} (kinds: webhook, slack, email)`);
  }
}

function checkUrl(url: unknown, where: string): void {
  let ok = false;
  if (typeof url === 'string') {
    try {
      const u = new URL(url);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      ok = false;
    }
  }
  if (!ok) throw new UsageError(`${where} must be an http:// or https:// URL, not ${JSON.stringify(url)}`);
}

/** What the engine knows of a run when it queues its notifications. */
export interface RunFacts {
  readonly runId: string;
  readonly workflow: string;
  readonly startedAt: number;
  /** The run's environment (RunStarted.env): LARKFLOW_PIPELINE names its pipeline. */
  readonly env: Readonly<Record<string, string>>;
  readonly notify?: readonly NotifySpec[];
}

/** The trigger-run event of a run event (TRIGGER_RUN_FAILED for FAILED...), for runs a trigger started. */
export function triggerEventOf(e: NotifyEvent): NotifyEvent | undefined {
  switch (e) {
    case 'STARTED':
      return 'TRIGGER_RUN_STARTED';
    case 'SUCCEEDED':
      return 'TRIGGER_RUN_SUCCEEDED';
    case 'FAILED':
      return 'TRIGGER_RUN_FAILED';
    case 'CANCELLED':
      return 'TRIGGER_RUN_CANCELLED';
    default:
      return undefined;
  }
}

/** The notification event of a run event kind (STARTED for RunStarted, and so on). */
export function notifyEventOf(kind: string): NotifyEvent | undefined {
  switch (kind) {
    case 'RunStarted':
      return 'STARTED';
    case 'RunCompleted':
      return 'SUCCEEDED';
    case 'RunFailed':
      return 'FAILED';
    case 'RunCancelled':
      return 'CANCELLED';
    default:
      return undefined;
  }
}

/**
 * The NotificationsQueued event for a run event (`event` is the run event about to be appended:
 * RunStarted, or a terminal event), or undefined when no spec of the run asks for it. The payload
 * every sink gets: `{ runId, workflow, event, status, result?, error?, startedAt, endedAt?, pipeline? }`.
 */
export function notificationsFor(
  run: RunFacts,
  event: { readonly kind: string; readonly at: number; readonly result?: Json; readonly error?: ErrorInfo; readonly reason?: string },
): NewEvent | undefined {
  const specs = run.notify;
  if (specs === undefined || specs.length === 0) return undefined;
  const which = notifyEventOf(event.kind);
  if (which === undefined) return undefined;
  const status = which === 'STARTED' ? 'running' : which === 'SUCCEEDED' ? 'completed' : which === 'FAILED' ? 'failed' : 'cancelled';
  const payload: { [k: string]: Json } = { runId: run.runId, workflow: run.workflow, event: which, status, startedAt: run.startedAt };
  if (which !== 'STARTED') payload.endedAt = event.at;
  if (event.kind === 'RunCompleted') payload.result = event.result ?? null;
  if (event.kind === 'RunFailed' && event.error) payload.error = { kind: event.error.kind, message: event.error.message };
  if (event.kind === 'RunCancelled') payload.error = { kind: 'cancelled', message: event.reason ?? 'cancelled' };
  const pipeline = run.env.LARKFLOW_PIPELINE;
  if (pipeline !== undefined) payload.pipeline = pipeline;
  // A run a trigger started also raises the trigger-run event (its own idempotency key per sink).
  const trigger = run.env.LARKFLOW_TRIGGER;
  const triggerWhich = trigger !== undefined ? triggerEventOf(which) : undefined;
  const triggerPayload: { [k: string]: Json } | undefined =
    triggerWhich !== undefined ? { ...payload, event: triggerWhich, trigger: trigger!, ...(run.env.LARKFLOW_TICK_TIME !== undefined ? { tick: run.env.LARKFLOW_TICK_TIME } : {}) } : undefined;
  const notifications: QueuedNotification[] = [];
  specs.forEach((spec, sinkIndex) => {
    if (spec.on.includes(which)) notifications.push({ event: which, sinkIndex, sink: spec.sink, payload });
    if (triggerWhich !== undefined && spec.on.includes(triggerWhich)) notifications.push({ event: triggerWhich, sinkIndex, sink: spec.sink, payload: triggerPayload! });
  });
  if (notifications.length === 0) return undefined;
  return { kind: 'NotificationsQueued', at: event.at, notifications };
}

/** A one-line summary of a notification's payload (Slack's text, an email's subject). */
export function summaryLine(payload: Json): string {
  const p = (payload ?? {}) as { runId?: string; workflow?: string; event?: string; error?: { message?: string }; pipeline?: string; startedAt?: number; endedAt?: number; trigger?: string; tick?: string; reason?: string; detail?: string };
  if (p.event === 'TRIGGER_TICK_SKIPPED') return `larkflow: trigger ${p.trigger} skipped the tick ${p.tick}${p.detail ? `: ${p.detail}` : p.reason ? ` (${p.reason})` : ''}`;
  const event = p.event?.startsWith('TRIGGER_RUN_') ? p.event.slice('TRIGGER_RUN_'.length) : p.event;
  const what = event === 'STARTED' ? 'started' : event === 'SUCCEEDED' ? 'succeeded' : event === 'FAILED' ? 'failed' : event === 'CANCELLED' ? 'was cancelled' : String(p.event);
  const took = typeof p.startedAt === 'number' && typeof p.endedAt === 'number' ? ` after ${((p.endedAt - p.startedAt) / 1000).toFixed(1)}s` : '';
  const why = p.error?.message ? `: ${p.error.message.split('\n')[0]}` : '';
  const by = p.trigger ? ` (trigger ${p.trigger}${p.tick ? `, tick ${p.tick}` : ''})` : '';
  return `larkflow: run ${p.runId} of ${p.workflow}${p.pipeline ? ` (pipeline ${p.pipeline})` : ''}${by} ${what}${took}${why}`;
}
