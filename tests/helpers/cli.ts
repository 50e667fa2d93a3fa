/** Shared helpers for the CLI tests: run `main` in-process and make scratch directories. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { main } from '../../src/cli/main.js';

/** What one CLI invocation printed, and its exit code. */
export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Runs `larkflow ARGV...` in this process, capturing stdout and stderr. */
export async function cli(...argv: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

/** A temporary directory with a database path in it and a way to write files there. */
export interface Scratch {
  readonly dir: string;
  readonly db: string;
  file(name: string, text: string): string;
}

/**
 * Returns a factory of fresh scratch directories named `prefix*`; every one it made is removed
 * after the test file's tests (call it at the top level of a test file).
 */
export function scratchDirs(prefix: string): () => Scratch {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return {
      dir,
      db: join(dir, 'runs.db'),
      file: (name, text) => {
        const p = join(dir, name);
        writeFileSync(p, text);
        return p;
      },
    };
  };
}

/** The built CLI (dist/bundle: `npm run build` first) in a child process, LARKFLOW_DB unset: its exit code and output. */
export function builtCli(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  const bin = join(import.meta.dirname, '../../dist/bundle/larkflow.mjs');
  const p = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, LARKFLOW_DB: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((r) => p.on('exit', (code) => r({ code, out, err })));
}
