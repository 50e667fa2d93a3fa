/**
 * This file delivers the notifications of the outbox (see spec.ts and the store's outbox): it claims
 * the rows that are due, sends each to its sink and records the outcome in the row.
 *
 * - webhook: POST of the payload as JSON, with `content-type: application/json`,
 *   `x-larkflow-idempotency-key: <key>`, `x-larkflow-event: <event>` and, when the sink's
 *   `secretEnv` names a variable set in this process's environment,
 *   `x-larkflow-signature: sha256=<hex HMAC-SHA256 of the body with that secret>`.
 * - slack: POST of `{ "text": "<one-line summary>" }` to the incoming-webhook URL.
 * - email: SMTP through nodemailer, to `LARKFLOW_SMTP_URL` (e.g. smtp://127.0.0.1:2525), from
 *   `LARKFLOW_SMTP_FROM` (default larkflow@localhost); subject and text summarize the run, and the
 *   Message-ID and the `X-Larkflow-Idempotency-Key` header carry the key.
 *
 * A 2xx answer (or an accepted email) marks the row delivered. Anything else (another status, a
 * network error, no answer within 10 s) counts an attempt and makes the row due again after a
 * backoff (1 s, 2 s, 4 s ... at most 10 min, with jitter); after 10 attempts the row is failed.
 *
 * Exactly once, as far as a receiver can see: the row is created in the transaction that records
 * the run event, so a notification exists exactly when its event does. A crash after sending but
 * before the row is marked delivered sends it again (once the claim's lease runs out) with the SAME
 * idempotency key `${runId}:${event}:${sinkIndex}`: receivers must dedupe by that key (the
 * `x-larkflow-idempotency-key` header; the Message-ID of an email).
 */
import { createHmac } from 'node:crypto';
import type { Json } from '../core/json.js';
import type { EventStore, OutboxItem } from '../core/ports.js';
import { summaryLine } from './spec.js';

/** Options of `deliverDue`. */
/** The outbox of a store, synchronous (SQLite, memory) or not (PostgreSQL). */
export interface OutboxStore {
  claimOutbox(...args: Parameters<EventStore['claimOutbox']>): OutboxItem[] | Promise<OutboxItem[]>;
  completeOutbox(...args: Parameters<EventStore['completeOutbox']>): void | Promise<void>;
}

export interface DeliverOptions {
  /** Who claims the rows (recorded on them while claimed). @default "larkflow" */
  readonly owner?: string;
  /** The time now, ms since the epoch (tests move it forward to reach retries). @default Date.now() */
  readonly now?: number;
  /** At most this many rows per call. @default 50 */
  readonly limit?: number;
  /** How long a claim keeps other deliverers off a row (longer than a delivery takes). @default 60000 */
  readonly leaseMs?: number;
  /** How long one delivery may take. @default 10000 */
  readonly timeoutMs?: number;
  /** Attempts before a row is given up (status failed). @default 10 */
  readonly maxAttempts?: number;
  /** The first retry's delay (doubled each attempt, at most `maxBackoffMs`). @default 1000 */
  readonly backoffMs?: number;
  /** @default 600000 (10 min) */
  readonly maxBackoffMs?: number;
  /** Where secrets (`secretEnv`) and the SMTP settings are read. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** What one `deliverDue` call did. */
export interface DeliverReport {
  readonly delivered: number;
  /** Attempts that failed and will be retried. */
  readonly retrying: number;
  /** Rows given up on this call (status failed). */
  readonly failed: number;
}

/** The delay before attempt `attempts + 1` after `attempts` failed ones: exponential, capped, with ±20% jitter. */
export function backoffDelay(attempts: number, baseMs = 1000, maxMs = 600_000): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
  return Math.max(0, Math.round(raw * (0.8 + Math.random() * 0.4)));
}

/**
 * Claims the due rows of the outbox and delivers them (concurrently), recording each outcome.
 * Never throws for a delivery's failure (it is recorded in the row); throws only if the store fails
 * to claim.
 */
export async function deliverDue(store: OutboxStore, options: DeliverOptions = {}): Promise<DeliverReport> {
  const now = options.now ?? Date.now();
  const items = await store.claimOutbox(options.owner ?? 'larkflow', now, options.limit ?? 50, options.leaseMs ?? 60_000);
  let delivered = 0;
  let retrying = 0;
  let failed = 0;
  await Promise.all(
    items.map(async (item) => {
      let error: string | undefined;
      try {
        await deliverOne(item, options);
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
      try {
        if (error === undefined) {
          await store.completeOutbox(item.id, true);
          delivered++;
          return;
        }
        const attempts = item.attempts + 1;
        const giveUp = attempts >= (options.maxAttempts ?? 10);
        await store.completeOutbox(item.id, false, error, (options.now ?? Date.now()) + backoffDelay(attempts, options.backoffMs, options.maxBackoffMs), giveUp);
        if (giveUp) failed++;
        else retrying++;
      } catch {
        // The store is closed or failing: the claim runs out and the row is delivered again, with
        // the same idempotency key.
      }
    }),
  );
  return { delivered, retrying, failed };
}

/**
 * Sends one notification.
 * @throws Error saying why it was not delivered (status, network error, timeout)
 */
export async function deliverOne(item: OutboxItem, options: DeliverOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const env = options.env ?? process.env;
  const sink = item.sink;
  switch (sink.kind) {
    case 'webhook': {
      const body = JSON.stringify(item.payload);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'x-larkflow-idempotency-key': item.key,
        'x-larkflow-event': item.event,
      };
      const secret = sink.secretEnv !== undefined ? env[sink.secretEnv] : undefined;
      if (secret !== undefined && secret !== '') headers['x-larkflow-signature'] = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
      await post(sink.url, body, headers, timeoutMs);
      return;
    }
    case 'slack': {
      await post(sink.url, JSON.stringify({ text: summaryLine(item.payload) }), { 'content-type': 'application/json' }, timeoutMs);
      return;
    }
    case 'email': {
      await sendEmail(item, sink.to, env, timeoutMs);
      return;
    }
    default:
      throw new Error(`unknown sink kind ${JSON.stringify((sink as { kind?: unknown }).kind)}`);
  }
}

async function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
  } catch (e) {
    const err = e as Error & { cause?: { message?: string } };
    if (err.name === 'TimeoutError' || err.name === 'AbortError') throw new Error(`POST ${url}: no answer within ${timeoutMs} ms`);
    throw new Error(`POST ${url}: ${err.message}${err.cause?.message ? ` (${err.cause.message})` : ''}`);
  }
  // The body is read (and dropped) so the connection is released.
  const text = await res.text().catch(() => '');
  if (res.status < 200 || res.status > 299) throw new Error(`POST ${url}: HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
}

async function sendEmail(item: OutboxItem, to: readonly string[], env: Readonly<Record<string, string | undefined>>, timeoutMs: number): Promise<void> {
  const url = env.LARKFLOW_SMTP_URL;
  if (url === undefined || url === '') throw new Error('cannot send email: LARKFLOW_SMTP_URL is not set (e.g. smtp://127.0.0.1:2525)');
  const { default: nodemailer } = await import('nodemailer');
  const transport = nodemailer.createTransport({ url, connectionTimeout: timeoutMs, greetingTimeout: timeoutMs, socketTimeout: timeoutMs });
  try {
    const subject = summaryLine(item.payload);
    await transport.sendMail({
      from: env.LARKFLOW_SMTP_FROM || 'larkflow@localhost',
      to: [...to],
      subject,
      text: `${subject}\n\n${JSON.stringify(item.payload as Json, null, 2)}\n\nidempotency key: ${item.key}\n`,
      messageId: `<${item.key.replace(/[^A-Za-z0-9._:-]/g, '_')}@larkflow>`,
      headers: { 'X-Larkflow-Idempotency-Key': item.key, 'X-Larkflow-Event': item.event },
    });
  } finally {
    transport.close();
  }
}
