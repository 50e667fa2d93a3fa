/**
 * This file defines `larkflow test FILE.star...`: runs chunked Starlark test files and prints each
 * failure as `file:line: message`, then `N passed, M failed`.
 */
import { readFileSync } from 'node:fs';
import { formatChunkedResults, runChunkedFile, type ChunkedFileResult } from '../../testing/chunked.js';
import type { FileOptions } from '../../interpreter/index.js';
import { CliError } from '../errors.js';

/** Runs the files; returns the report text and whether everything passed. */
export function runChunkedTests(files: readonly string[], options: FileOptions = {}, print?: (s: string) => void): { report: string; ok: boolean } {
  if (files.length === 0) throw new CliError('larkflow test: no files given (usage: larkflow test FILE.star...)');
  const results: ChunkedFileResult[] = files.map((f) => {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new CliError(`cannot read ${f}: ${code === 'EISDIR' ? 'it is a directory' : code === 'ENOENT' ? 'no such file' : (e as Error).message}`, 1);
    }
    return runChunkedFile(f, text, { options, ...(print ? { print } : {}) });
  });
  return { report: formatChunkedResults(results), ok: results.every((r) => r.failed === 0) };
}
