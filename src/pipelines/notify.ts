/**
 * This file maps a pipeline's `spec.notifications` (Uniflow's shape: notificationType, eventTypes,
 * emails, slackDestinations, url) to the engine's run notifications (`StartOptions.notify`), and
 * queues the trigger notifications that concern no run (TRIGGER_TICK_SKIPPED) in the outbox.
 *
 * Pipeline-run events map to STARTED, SUCCEEDED, FAILED and CANCELLED; trigger events to the
 * TRIGGER_* events, which the engine raises only for runs a trigger or a backfill started (their
 * environment has LARKFLOW_TRIGGER) and the trigger runner for ticks. A SLACK entry's destinations
 * that are not incoming-webhook URLs (`#channel`) are Uniflow's; larkflow has nowhere to send them.
 */
import type { NotifyEvent, NotifySpec } from '../engine/core/events.js';
import type { NotificationSpec } from './spec.js';

/** The larkflow event of each pipeline.yaml event type (SKIPPED, a pipeline-run state larkflow has no run event for, maps to none). */
export const EVENT_OF: Readonly<Record<string, NotifyEvent>> = {
  EVENT_TYPE_PIPELINE_RUN_STATE_STARTED: 'STARTED',
  EVENT_TYPE_PIPELINE_RUN_STATE_SUCCEEDED: 'SUCCEEDED',
  EVENT_TYPE_PIPELINE_RUN_STATE_FAILED: 'FAILED',
  EVENT_TYPE_PIPELINE_RUN_STATE_KILLED: 'CANCELLED',
  EVENT_TYPE_TRIGGER_RUN_STATE_STARTED: 'TRIGGER_RUN_STARTED',
  EVENT_TYPE_TRIGGER_RUN_STATE_SUCCEEDED: 'TRIGGER_RUN_SUCCEEDED',
  EVENT_TYPE_TRIGGER_RUN_STATE_FAILED: 'TRIGGER_RUN_FAILED',
  EVENT_TYPE_TRIGGER_RUN_STATE_KILLED: 'TRIGGER_RUN_CANCELLED',
  EVENT_TYPE_TRIGGER_TICK_SKIPPED: 'TRIGGER_TICK_SKIPPED',
};

/**
 * The run notifications of a pipeline's notifications: one spec per sink (an EMAIL entry is one
 * sink with all its addresses; each Slack URL and each webhook is one). The index of a sink in the
 * list is part of the idempotency key of its notifications.
 */
export function notifyOf(specs: readonly NotificationSpec[]): NotifySpec[] {
  const out: NotifySpec[] = [];
  for (const n of specs) {
    const on = [...new Set(n.eventTypes.map((e) => EVENT_OF[e]).filter((e): e is NotifyEvent => e !== undefined))];
    if (on.length === 0) continue;
    if (n.notificationType === 'EMAIL' && n.emails && n.emails.length > 0) out.push({ on, sink: { kind: 'email', to: [...n.emails] } });
    if (n.notificationType === 'SLACK') for (const url of n.slackDestinations ?? []) if (/^https?:\/\//.test(url)) out.push({ on, sink: { kind: 'slack', url } });
    if (n.notificationType === 'WEBHOOK' && n.url !== undefined) out.push({ on, sink: { kind: 'webhook', url: n.url } });
  }
  return out;
}
