// Bundles the CLI into one file (dist/bundle/larkflow.mjs): loading one module instead of ~80 saves
// tens of milliseconds of cold start for `larkflow eval`. better-sqlite3 (native) stays external;
// chevrotain's bundled build is loaded at run time by src/lexer/tokens.ts.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Start from an empty folder: esbuild does not remove chunks of earlier builds.
rmSync('dist/bundle', { recursive: true, force: true });

await build({
  entryPoints: ['dist/cli/main.js'],
  outdir: 'dist/bundle',
  entryNames: 'larkflow',
  outExtension: { '.js': '.mjs' },
  // Engine commands are imported lazily: splitting keeps them (and better-sqlite3) out of `eval`.
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  sourcemap: 'linked',
  external: ['better-sqlite3'],
  logLevel: 'warning',
  // commander is CommonJS: give the bundle a `require` for its node: built-ins.
  banner: { js: "import { createRequire as __larkflowRequire } from 'node:module'; const require = __larkflowRequire(import.meta.url);" },
});
