/**
 * This file holds the HTTP plumbing every route shares: the security headers of every response
 * (a strict Content-Security-Policy, nosniff, no framing, no referrer), JSON answers (with `<`
 * escaped, so no JSON text can ever read as markup), `ApiError` answers with a hint and never a
 * stack trace, and reading a small JSON request body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiError } from '../api-types.js';

export const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'";

/** An answer that is not 2xx, as the API returns it. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Sets the headers every response carries. */
export function securityHeaders(res: ServerResponse): void {
  res.setHeader('content-security-policy', CSP);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
  res.setHeader('cross-origin-resource-policy', 'same-origin');
}

/** JSON text with `<`, `>`, `&` and the line separators escaped (still the same JSON). */
export function safeJson(v: unknown, indent?: number): string {
  return JSON.stringify(v, null, indent)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = safeJson(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, error: string, hint?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body: ApiError = { error, ...(hint !== undefined ? { hint } : {}) };
  sendJson(res, status, body);
}

/** An error thrown by a route, as an answer: HttpError as is, the engine's usage errors as 400/404, anything else 500 without its stack. */
export function sendFailure(res: ServerResponse, e: unknown): void {
  if (e instanceof HttpError) return sendError(res, e.status, e.message, e.hint);
  const err = e as { name?: string; code?: string; message?: string };
  const message = typeof err?.message === 'string' ? err.message : String(e);
  if (err?.name === 'UsageError' || err?.code === 'usage') {
    return sendError(res, /^no run /.test(message) ? 404 : 400, message, 'check the run id and the parameters');
  }
  if (err?.name === 'NondeterminismError') return sendError(res, 409, message, 'the script does not replay against the steps to reuse; resume from an earlier step');
  if (err?.name === 'StoreError' || err?.name === 'SqliteError') return sendError(res, 503, `the database could not be read: ${message}`, 'is the database file there and readable? try again');
  sendError(res, 500, `internal error: ${message}`, 'this is a bug in larkflow ui; the server log may say more');
}

/** Reads a JSON request body of at most `max` bytes. */
export async function readJsonBody(req: IncomingMessage, max = 1 << 20): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new HttpError(413, `request body larger than ${max} bytes`, 'send less');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new HttpError(400, `the request body is not JSON: ${(e as Error).message}`, 'send a JSON object');
  }
}
