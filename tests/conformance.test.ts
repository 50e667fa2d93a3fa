/**
 * Runs every chunked test file in tests/testdata/ through the same runner as `larkflow test`.
 * Each chunk is a test; a failure shows the file:line messages.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../src/stdlib/index.js';
import { runChunkedFile, splitChunks } from '../src/testing/chunked.js';

const dir = join(import.meta.dirname, 'testdata');
const files = readdirSync(dir).filter((f) => f.endsWith('.star'));

describe.each(files)('%s', (file) => {
  const text = readFileSync(join(dir, file), 'utf8');
  const result = runChunkedFile(`tests/testdata/${file}`, text);
  const chunks = splitChunks(text);
  it.each(result.chunks.map((c, i) => [c.startLine, i] as const))('chunk at line %i', (_line, i) => {
    const c = result.chunks[i]!;
    expect(c.failures.map((f) => `${file}:${f.line}: ${f.message}`)).toEqual([]);
    expect(chunks[i]!.startLine).toBe(c.startLine);
  });
});

describe('larkflow test over the whole suite', () => {
  it('passes every chunk and ends with the N passed, M failed line', async () => {
    const { main } = await import('../src/cli/main.js');
    let out = '';
    const code = await main(['test', ...files.map((f) => join(dir, f))], { out: (s) => void (out += s), err: (s) => void (out += s) });
    const total = files.reduce((n, f) => n + splitChunks(readFileSync(join(dir, f), 'utf8')).length, 0);
    expect(out.trim().split('\n').pop()).toBe(`${total} passed, 0 failed`);
    expect(code).toBe(0);
  });
});
