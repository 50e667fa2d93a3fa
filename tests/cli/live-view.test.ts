/** `larkflow run` on a terminal: the step lines scroll, and a status line is redrawn below them. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';

const dir = mkdtempSync(join(tmpdir(), 'larkflow-live-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('live view', () => {
  it('redraws a status line under the step lines on a terminal, and clears it at the end', async () => {
    writeFileSync(join(dir, 'w.star'), 'a = task("a")\n@workflow()\ndef w():\n    return [a(i) for i in range(3)]\n');
    writeFileSync(join(dir, 't.mjs'), 'export function a(i) { return i * 2; }\n');
    let err = '';
    let out = '';
    const code = await main(['run', join(dir, 'w.star'), '--tasks', join(dir, 't.mjs'), '--db', join(dir, 'l.db')], {
      out: (s) => void (out += s),
      err: (s) => void (err += s),
      live: true,
    });
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual([0, 2, 4]);
    expect(err).toContain('\r\x1b[K');
    expect(err).toMatch(/… \d+ running, \d+ retrying, \d+ waiting, 3 done, 0 failed — [\d.]+s/);
    // Every status line is cleared before the next line and at the end.
    const lastClear = err.lastIndexOf('\r\x1b[K');
    expect(err.slice(lastClear + 4)).not.toMatch(/… /);
  });

  it('prints plain lines when stderr is not a terminal', async () => {
    let err = '';
    await main(['run', join(dir, 'w.star'), '--tasks', join(dir, 't.mjs'), '--db', join(dir, 'l2.db')], { out: () => {}, err: (s) => void (err += s) });
    expect(err).not.toContain('\x1b[');
  });
});
