/**
 * A run live in one process is not taken over by another process's recover(); a run whose process
 * died is.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/index.js';
import '../../src/stdlib/index.js';

const dir = mkdtempSync(join(tmpdir(), 'larkflow-own-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('run ownership', () => {
  it('recover() leaves runs that a live process owns, and takes those of dead processes', async () => {
    const db = join(dir, 'o.db');
    const a = Engine.open({ db });
    a.registerTask('never', () => new Promise(() => {}));
    const h = a.start({ source: { name: 'o.star', text: 'never = task("never")\n@workflow()\ndef w():\n    return never()\n' } });
    // Pretend process A is another live process: its pid file names a running process.
    const other = spawn('sleep', ['30']);
    writeFileSync(join(dir, 'locks', `${h.runId}.pid`), String(other.pid));
    const b = Engine.open({ db });
    b.registerTask('never', () => 'done');
    expect(b.recover()).toEqual([]);
    other.kill('SIGKILL');
    await new Promise((r) => other.once('exit', r));
    expect(b.recover()).toEqual([h.runId]);
    await b.whenIdle();
    expect(await b.result(h.runId)).toMatchObject({ status: 'completed', result: 'done' });
    await b.close();
    await a.close();
  });
});
