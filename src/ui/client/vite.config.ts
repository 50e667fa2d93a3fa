/**
 * Builds the run inspector's browser app (src/ui/client) into dist/ui/: index.html plus hashed
 * assets under dist/ui/assets/. The server (src/ui/server) serves that folder and injects a
 * `<base href>` into index.html, so every URL in the build is relative (`base: './'`).
 *
 * JSX is compiled by esbuild (no Babel, no preset). dist/ui/ also holds tsc's output for
 * src/ui/server and src/ui/api-types.ts, so the build must not empty the folder: it removes only
 * its own earlier output (index.html and assets/) first.
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const outDir = fileURLToPath(new URL('../../../dist/ui', import.meta.url));

/** Removes the previous build's index.html and assets (hashed names would pile up otherwise). */
function cleanOwnOutput(): Plugin {
  return {
    name: 'larkflow-clean-ui-output',
    apply: 'build',
    buildStart() {
      rmSync(`${outDir}/assets`, { recursive: true, force: true });
      rmSync(`${outDir}/index.html`, { force: true });
    },
  };
}

export default defineConfig({
  root,
  base: './',
  publicDir: false,
  logLevel: 'warn',
  plugins: [cleanOwnOutput()],
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir,
    emptyOutDir: false,
    target: 'es2022',
    // Strict CSP (script-src 'self'): no inline module preload polyfill, no data: URLs for assets.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    sourcemap: false,
    reportCompressedSize: false,
  },
});
