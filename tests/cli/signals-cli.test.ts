/**
 * Signals and events across processes through the CLI (dist/bundle: `npm test` builds first): a run
 * driven by `larkflow run` in one process waits for approval; `larkflow events` (another process)
 * waits for its published stage; `larkflow signal` (a third) approves it, with an idempotency key,
 * and the run ends with the payload.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const CLI = join(resolve(import.meta.dirname, '../..'), 'dist/bundle/larkflow.mjs');
const dir = mkdtempSync(join(tmpdir(), 'lf-signal-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function larkflow(...args: string[]): { done: Promise<{ code: number | null; out: string; err: string }> } {
  const p = spawn(process.execPath, [CLI, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
  return {
    done: new Promise((res) =>
      p.on('close', (code) => {
        clearTimeout(t);
        res({ code, out, err });
      }),
    ),
  };
}

describe('larkflow signal and events (uses dist/)', () => {
  it('approves a run another process drives', async () => {
    writeFileSync(
      join(dir, 'approve.star'),
      '@workflow()\ndef approve(model):\n    events.set("stage", "waiting")\n    progress.report("waiting for the signal")\n    d = signal.wait("approve", timeout = "1h")\n    events.set("stage", "done")\n    return [model, d]\n',
    );
    const run = larkflow('run', 'approve.star', 'model="m1"', '--db', 'a.db', '--quiet', '--workflow', 'approve');
    // Find the run id once the run exists, and wait for its published stage from another process.
    let runId = '';
    for (let i = 0; i < 200 && runId === ''; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const list = await larkflow('runs', '--json', '--db', 'a.db').done;
      if (list.code === 0 && list.out.trim().startsWith('[')) runId = (JSON.parse(list.out) as { id: string }[])[0]?.id ?? '';
    }
    expect(runId).not.toBe('');
    const stage = await larkflow('events', runId, 'stage', '--wait', '10', '--db', 'a.db').done;
    expect(stage.code, stage.err).toBe(0);
    expect(JSON.parse(stage.out)).toBe('waiting');
    const q = await larkflow('query', runId, 'progress', '--db', 'a.db').done;
    expect(q.code, q.err).toBe(0);
    expect(JSON.parse(q.out)).toEqual(['waiting for the signal']);
    const s1 = await larkflow('signal', runId, 'approve', '{"by": "ana"}', '--key', 'k1', '--db', 'a.db').done;
    expect(s1.code, s1.err).toBe(0);
    expect(s1.out).toMatch(/signal approve sent to run/);
    const s2 = await larkflow('signal', runId, 'approve', '{"by": "bob"}', '--key', 'k1', '--db', 'a.db').done;
    expect(s2.out).toMatch(/already sent .* with key k1/);
    const r = await run.done;
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual(['m1', { by: 'ana' }]);
    const all = await larkflow('events', runId, '--db', 'a.db').done;
    expect(JSON.parse(all.out)).toEqual({ stage: 'done' });
    const late = await larkflow('signal', runId, 'approve', '1', '--db', 'a.db').done;
    expect(late.code).toBe(2);
    expect(late.err).toMatch(/has ended/);
    const bad = await larkflow('signal', runId, 'approve', '{nope', '--db', 'a.db').done;
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/not valid JSON/);
  });
});
