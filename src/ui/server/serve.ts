/**
 * This file starts the run inspector on its own node:http server (what `larkflow ui` and tests
 * use): it binds (127.0.0.1 by default; port 0 picks a free one), names its URL, and `close()`
 * ends every open stream and connection before the server stops, so shutdown never waits on a
 * browser's EventSource.
 */
import { createServer, type Server } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { createUiHandler, type UiHandler, type UiHandlerOptions } from './handler.js';

/** Options of `startUiServer`: the handler's, and where to listen. */
export interface UiServerOptions extends UiHandlerOptions {
  /** @default "127.0.0.1" */
  readonly host?: string;
  /** 0 picks a free port. @default 0 */
  readonly port?: number;
}

/** A running inspector. */
export interface UiServer {
  /** The inspector's address, with the base path ("http://127.0.0.1:4321/"). */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  readonly handler: UiHandler;
  close(): Promise<void>;
}

/** True for a host that only this machine reaches. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\./.test(h);
}

export async function startUiServer(options: UiServerOptions = {}): Promise<UiServer> {
  const host = options.host ?? '127.0.0.1';
  // A server bound to a host name answers to that name too.
  const named = isIP(host.replace(/^\[|\]$/g, '')) === 0 && host !== 'localhost';
  const handler = createUiHandler(named && !(options.allowedHosts ?? []).includes('*') ? { ...options, allowedHosts: [...(options.allowedHosts ?? []), host] } : options);
  const server = createServer(handler);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await handler.close();
    throw e;
  }
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const base = (options.basePath ?? '/').replace(/^\/?/, '/').replace(/\/?$/, '/');
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shown}:${port}${base}`,
    port,
    server,
    handler,
    close: () =>
      (closing ??= (async () => {
        await handler.close();
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await done;
      })()),
  };
}
