/**
 * Helpers for the run inspector's browser tests: Debian's Chromium driven by playwright-core (the
 * recipe of the notes: an explicit executablePath, no --user-data-dir, one browser per test file),
 * the real `createUiHandler` on 127.0.0.1:0 behind a small proxy that can drop the live streams,
 * and screenshots in light and dark (`UPDATE_SCREENSHOTS=1 npx vitest run tests/ui/browser` rewrites
 * docs/screenshots/).
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createUiHandler, type UiHandler, type UiHandlerOptions } from '../../src/ui/server/handler.js';

export const CHROMIUM = process.env['LARKFLOW_CHROMIUM'] ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/**
 * Where screenshots go: docs/screenshots/ (committed, shown by the README) with UPDATE_SCREENSHOTS=1,
 * else a temp folder, so an ordinary test run leaves the tracked PNGs alone (like UPDATE_GOLDEN).
 */
export const SCREENSHOTS = process.env['UPDATE_SCREENSHOTS'] === '1' ? join(process.cwd(), 'docs', 'screenshots') : join(tmpdir(), 'larkflow-ui-screenshots');
/** For `expect.poll`: a loaded 2-core machine can take seconds where an idle one takes milliseconds. */
export const POLL = { timeout: 20_000, interval: 50 };
/** Messages a page may log without failing a test (deliberate stream drops, see the notes §6). */
const BENIGN = [/ERR_INCOMPLETE_CHUNKED_ENCODING/, /net::ERR_EMPTY_RESPONSE/];

export function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (or set LARKFLOW_CHROMIUM)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** A page that records console errors, CSP violations and page errors (see `problems`). */
export async function newPage(browser: Browser, options: { colorScheme?: 'light' | 'dark' } = {}): Promise<Page & { problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1, colorScheme: options.colorScheme ?? 'light' });
  // CSP violations are recorded by the page itself (an init script runs before the app, outside the CSP).
  await context.addInitScript("window.__cspViolations = []; document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));");
  const page = (await context.newPage()) as Page & { problems: string[] };
  page.problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !BENIGN.some((re) => re.test(m.text()))) page.problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  return page;
}

export interface UiServer {
  /** The proxy's URL (what the browser opens), ending in "/". */
  readonly url: string;
  readonly handler: UiHandler;
  /** Ends every open SSE response at the proxy, as a flaky network or a proxy restart would. */
  dropStreams(): number;
  /** `Last-Event-ID` headers of the stream requests seen, in order ('' when absent). */
  readonly streamRequests: { path: string; lastEventId: string }[];
  close(): Promise<void>;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Starts `createUiHandler(options)` on 127.0.0.1:0 and a pass-through proxy in front of it (also on
 * 127.0.0.1:0). The proxy forwards every request as it is and keeps the SSE responses so that
 * `dropStreams()` can cut them.
 */
export async function startUi(options: UiHandlerOptions): Promise<UiServer> {
  const handler = createUiHandler({ pollMs: 100, ...options });
  const upstream = createServer((req, res) => handler(req, res));
  const upstreamPort = await listen(upstream);
  const streams = new Set<ServerResponse>();
  const streamRequests: { path: string; lastEventId: string }[] = [];
  const proxy = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (/\/stream(\?|$)/.test(req.url ?? '')) streamRequests.push({ path: req.url ?? '', lastEventId: String(req.headers['last-event-id'] ?? '') });
    // A new upstream connection per request (agent: false): a kept-alive socket the server has just
    // closed would otherwise reset a request now and then (ECONNRESET), which is the proxy's fault.
    const up = request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent: false }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      if (String(ures.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        streams.add(res);
        res.on('close', () => {
          streams.delete(res);
          ures.destroy();
        });
      }
      ures.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  const port = await listen(proxy);
  return {
    url: `http://127.0.0.1:${port}/`,
    handler,
    streamRequests,
    dropStreams() {
      const n = streams.size;
      for (const s of streams) s.socket?.destroy();
      streams.clear();
      return n;
    },
    async close() {
      await closeServer(proxy);
      await handler.close();
      await closeServer(upstream);
    },
  };
}

/** Saves `docs/screenshots/<name>-<scheme>.png` of the viewport, in light and in dark. */
export async function screenshots(page: Page, name: string): Promise<string[]> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const out: string[] = [];
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    const path = join(SCREENSHOTS, `${name}-${scheme}.png`);
    await page.screenshot({ path });
    out.push(`${path} (${Math.round(statSync(path).size / 1024)} KB)`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
  return out;
}
