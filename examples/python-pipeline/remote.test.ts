/**
 * examples/python-pipeline/remote.mjs: the Uniflow file's tasks on Ray (Jobs API), Spark (Livy),
 * KubeRay and SparkApplication, against the fakes — every run completes, each backend job is
 * submitted once per attempt (the first training attempts fail and are retried as new jobs), and
 * KubeRay brings up one fresh cluster per attempt and leaves none. Uses dist/ (`npm test` builds first).
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

describe('examples/python-pipeline/remote.mjs', () => {
  it('runs the pipeline on every backend, one job per attempt', async () => {
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(process.execPath, [join(here, 'remote.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      p.on('close', (c) => resolve({ code: c, out }));
    });
    expect(code, out).toBe(0);
    for (const b of ['ray', 'livy', 'kuberay', 'spark']) expect(out).toMatch(new RegExp(`${b}\\s+exit 0: full chosen; 7 backend jobs for 7 attempts \\(each submitted once\\)`));
    expect(out).toMatch(/7 RayClusters created, 0 left/);
  });
});
