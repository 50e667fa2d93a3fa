/**
 * This file defines the CLI side of run notifications: `larkflow run`'s `--notify-*` options (turned
 * into `StartOptions.notify` here) and `larkflow notifications ls [--status S] [--json]`, which lists
 * the outbox of the run database: one row per notification (run, event, sink), with its delivery
 * status, attempts, last error and delivery time. Delivery itself is the engine's (notify/deliver.ts):
 * the process running the run sends its notifications when the run starts or ends, and what fails is
 * retried by any later engine's poller on the same database (`larkflow worker`).
 */
import { existsSync } from 'node:fs';
import type { OutboxItem, OutboxStatus } from '../../engine/core/ports.js';
import { DEFAULT_NOTIFY_ON, NOTIFY_EVENTS, validateNotify, type NotifyEvent, type NotifySpec } from '../../engine/notify/spec.js';
import { CliError } from '../errors.js';
import { closeQuietly, dbPath, iso, openEngine, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { table } from './runs.js';

/** `larkflow run`'s notification options (as commander gives them). */
export interface NotifyCliOptions {
  readonly notifyWebhook?: readonly string[];
  readonly notifySlack?: string | readonly string[];
  readonly notifyEmail?: readonly string[];
  readonly notifyOn?: string;
  readonly notifySecretEnv?: string;
}

/**
 * The run's notification specs from `--notify-webhook URL` (repeatable), `--notify-slack URL`,
 * `--notify-email ADDRESS` (repeatable: one email to all of them), `--notify-on EVENTS` (a comma
 * list; default SUCCEEDED,FAILED,CANCELLED) and `--notify-secret-env NAME` (signs webhooks);
 * undefined when no sink is given.
 * @throws CliError for an unknown event, a bad URL or address, or --notify-on/--notify-secret-env without a sink
 */
export function notifyOptionsOf(opts: NotifyCliOptions): NotifySpec[] | undefined {
  const webhooks = opts.notifyWebhook ?? [];
  const slack = opts.notifySlack === undefined ? [] : typeof opts.notifySlack === 'string' ? [opts.notifySlack] : opts.notifySlack;
  const emails = opts.notifyEmail ?? [];
  if (webhooks.length === 0 && slack.length === 0 && emails.length === 0) {
    if (opts.notifyOn !== undefined || opts.notifySecretEnv !== undefined) {
      throw new CliError('--notify-on and --notify-secret-env need a sink: --notify-webhook URL, --notify-slack URL or --notify-email ADDRESS');
    }
    return undefined;
  }
  if (opts.notifySecretEnv !== undefined && webhooks.length === 0) throw new CliError('--notify-secret-env signs webhooks: give --notify-webhook URL too');
  let on: NotifyEvent[] = [...DEFAULT_NOTIFY_ON];
  if (opts.notifyOn !== undefined) {
    const names = opts.notifyOn.split(',').map((s) => s.trim().toUpperCase()).filter((s) => s !== '');
    for (const n of names) if (!NOTIFY_EVENTS.includes(n as NotifyEvent)) throw new CliError(`--notify-on: unknown event ${JSON.stringify(n)} (events: ${NOTIFY_EVENTS.join(', ')})`);
    if (names.length === 0) throw new CliError(`--notify-on needs at least one of ${NOTIFY_EVENTS.join(', ')}`);
    on = names as NotifyEvent[];
  }
  const specs: NotifySpec[] = [
    ...webhooks.map((url): NotifySpec => ({ on, sink: { kind: 'webhook', url, ...(opts.notifySecretEnv !== undefined ? { secretEnv: opts.notifySecretEnv } : {}) } })),
    ...slack.map((url): NotifySpec => ({ on, sink: { kind: 'slack', url } })),
    ...(emails.length > 0 ? [{ on, sink: { kind: 'email', to: [...emails] } } satisfies NotifySpec] : []),
  ];
  try {
    return validateNotify(specs);
  } catch (e) {
    // The engine's messages name the spec (notify[0].sink.url); the options are what the user wrote.
    throw new CliError(`bad notification option: ${(e as Error).message.replace(/^notify\[\d+\]\.?/, '')}`);
  }
}

export interface NotificationsLsOptions extends EngineCliOptions {
  readonly status?: string;
  readonly json?: boolean;
}

const STATUSES: readonly OutboxStatus[] = ['pending', 'delivered', 'failed'];

/** Where a notification goes, for people: the URL or the addresses. */
function target(item: OutboxItem): string {
  const s = item.sink;
  return s.kind === 'email' ? `email ${s.to.join(',')}` : `${s.kind} ${s.url}`;
}

/** `larkflow notifications ls`: the outbox, oldest first. */
export async function notificationsLsCommand(opts: NotificationsLsOptions, io: CliIo): Promise<number> {
  if (opts.status !== undefined && !STATUSES.includes(opts.status as OutboxStatus)) {
    throw new CliError(`--status must be one of ${STATUSES.join(', ')} (not ${JSON.stringify(opts.status)})`);
  }
  if (!existsSync(dbPath(opts))) {
    // Nothing recorded yet: say so rather than create a database.
    if (opts.json) io.out('[]\n');
    else io.err(`no notifications: no run database at ${dbPath(opts)}\n`);
    return 0;
  }
  const engine = await openEngine(opts, { mustExist: true });
  try {
    const items = engine.store.listOutbox(opts.status !== undefined ? { status: opts.status as OutboxStatus } : {});
    if (opts.json) {
      io.out(JSON.stringify(items, null, 2) + '\n');
      return 0;
    }
    if (items.length === 0) {
      io.err(`no notifications${opts.status !== undefined ? ` with status ${opts.status}` : ''}\n`);
      return 0;
    }
    const rows = items.map((i) => [
      String(i.id),
      i.runId,
      i.event,
      target(i),
      i.status,
      String(i.attempts),
      i.status === 'delivered' ? iso(i.deliveredAt) : i.status === 'pending' && i.attempts > 0 ? `retry ${iso(i.nextAt)}` : '-',
      i.lastError !== undefined ? i.lastError.split('\n')[0]!.slice(0, 120) : '',
    ]);
    io.out(table(['ID', 'RUN', 'EVENT', 'SINK', 'STATUS', 'ATTEMPTS', 'WHEN', 'LAST ERROR'], rows) + '\n');
    return 0;
  } finally {
    await closeQuietly(engine);
  }
}
