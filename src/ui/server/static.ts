/**
 * This file serves the prebuilt browser app (`dist/ui/`): hashed assets (`assets/*-HASH.js`) with a
 * year-long immutable cache, `index.html` uncached with a `<base href>` for the mount path, the
 * app's page for any other GET outside `/api/` (the app routes itself), and a plain page that says
 * how to build the app when `dist/ui/` is missing.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** larkflow's `dist/ui`: found from this module's place in the package (src/, dist/ or the CLI bundle). */
export function defaultStaticDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'larkflow') return join(dir, 'dist', 'ui');
      } catch {
        // not ours
      }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'dist', 'ui');
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>larkflow ui: not built</title><link rel="icon" href="data:,"></head>
<body><h1>UI not built: run npm run build</h1>
<p>The run inspector's browser app is missing from <code>DIR</code>. Build it with <code>npm run build</code> in the larkflow checkout, then reload. The JSON API under <code>api/</code> works without it.</p>
</body></html>
`;

export class StaticFiles {
  #index: { text: string; mtime: number } | undefined;

  constructor(
    readonly dir: string,
    /** The mount path, with a trailing slash ("/" or "/larkflow/"). */
    private readonly base: string,
  ) {}

  get built(): boolean {
    return existsSync(join(this.dir, 'index.html'));
  }

  /** Serves `path` (relative to the mount, no leading slash); false if it is no file. */
  serveFile(path: string, res: ServerResponse, head: boolean): boolean {
    if (path === '' || path === 'index.html') return false;
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return false;
    }
    if (decoded.includes('\0')) return false;
    // dist/ui also holds the compiled server and the API types (tsc's output): not the app's files.
    if (/^(server\/|api-types\.)/.test(decoded.replace(/^\/+/, '')) || decoded.endsWith('.d.ts')) return false;
    const root = resolve(this.dir);
    const file = resolve(root, decoded);
    if (!file.startsWith(root + sep)) return false;
    let st;
    try {
      st = statSync(file);
    } catch {
      return false;
    }
    if (!st.isFile()) return false;
    const hashed = /(^|\/)assets\//.test(decoded) && /[-.][A-Za-z0-9_-]{8,}\.[a-z0-9]+$/.test(decoded);
    res.writeHead(200, {
      'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': String(st.size),
      'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    res.end(head ? undefined : readFileSync(file));
    return true;
  }

  /** The app's page with `<base href>` for the mount path, or the not-built page (503). */
  serveIndex(res: ServerResponse, head: boolean): void {
    const file = join(this.dir, 'index.html');
    let st;
    try {
      st = statSync(file);
    } catch {
      res.writeHead(503, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(head ? undefined : NOT_BUILT.replace('DIR', escapeAttr(this.dir)));
      return;
    }
    if (!this.#index || this.#index.mtime !== st.mtimeMs) {
      let text = readFileSync(file, 'utf8');
      const tag = `<base href="${escapeAttr(this.base)}">`;
      text = /<base\s[^>]*>/i.test(text) ? text.replace(/<base\s[^>]*>/i, tag) : /<head[^>]*>/i.test(text) ? text.replace(/<head[^>]*>/i, (m) => `${m}\n    ${tag}`) : tag + text;
      this.#index = { text, mtime: st.mtimeMs };
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
    res.end(head ? undefined : this.#index.text);
  }
}
