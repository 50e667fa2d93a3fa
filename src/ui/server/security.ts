/**
 * This file decides who may do what. Reads are open to anyone who reaches the server (bind it to
 * 127.0.0.1, the default); actions (POST) need three things:
 * - actions enabled: `allowActions`, or `Authorization: Bearer <token>` with the server's token
 *   (compared in constant time);
 * - `content-type: application/json`, which a cross-site form cannot send without a CORS
 *   preflight, which this server never grants;
 * - an `Origin` (when the browser sends one) whose host is the request's own Host.
 * Every request's Host must be one the server answers to (loopback names and IP literals, plus
 * `allowedHosts`), so a page on an attacker's domain that rebinds its name to 127.0.0.1 cannot
 * read the API (DNS rebinding).
 */
import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http.js';

export interface AccessOptions {
  readonly allowActions?: boolean;
  readonly token?: string;
  /** Host names (without port) the server answers to besides loopback names and IP literals; '*' for any. */
  readonly allowedHosts?: readonly string[];
}

/** The host name of a Host header value (`[::1]:80` → `::1`, `Example.com:8080` → `example.com`). */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

/** @throws HttpError 403 for a Host the server does not answer to. */
export function checkHost(req: IncomingMessage, opts: AccessOptions): void {
  const host = req.headers.host;
  if (host === undefined || host === '') throw new HttpError(400, 'the request has no Host header', 'use a browser or an HTTP/1.1 client');
  const allowed = opts.allowedHosts ?? [];
  if (allowed.includes('*')) return;
  const name = hostName(host);
  if (name === 'localhost' || name.endsWith('.localhost') || isIP(name) !== 0 || allowed.map((a) => a.toLowerCase()).includes(name)) return;
  throw new HttpError(403, `this server does not answer to host ${JSON.stringify(host)}`, 'open it by its IP address or localhost, or start it with the host allowed');
}

function sameToken(given: string, want: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** @throws HttpError 403 unless the request may act (see the file comment). */
export function checkAction(req: IncomingMessage, opts: AccessOptions): void {
  const auth = req.headers.authorization;
  const bearer = typeof auth === 'string' && /^Bearer\s+/i.test(auth) ? auth.replace(/^Bearer\s+/i, '').trim() : undefined;
  const byToken = opts.token !== undefined && opts.token !== '' && bearer !== undefined && sameToken(bearer, opts.token);
  if (!opts.allowActions && !byToken) {
    throw new HttpError(
      403,
      bearer !== undefined && opts.token ? 'wrong token' : 'this server is read-only',
      opts.token ? 'send Authorization: Bearer <token> (the token larkflow ui was started with)' : 'start larkflow ui with --allow-actions (or --token T) to allow actions',
    );
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new HttpError(415, 'actions take content-type: application/json', 'send the body as JSON with content-type: application/json');
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let originHost: string;
    try {
      originHost = new URL(origin).host.toLowerCase();
    } catch {
      throw new HttpError(403, `refused origin ${JSON.stringify(origin)}`, 'actions are accepted from the inspector\'s own pages only');
    }
    if (originHost !== (req.headers.host ?? '').toLowerCase()) {
      throw new HttpError(403, `refused origin ${JSON.stringify(origin)}: not this server (${req.headers.host ?? '?'})`, 'actions are accepted from the inspector\'s own pages only');
    }
  }
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new HttpError(403, `refused a ${site} request`, 'actions are accepted from the inspector\'s own pages only');
  }
}
