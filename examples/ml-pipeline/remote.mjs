#!/usr/bin/env node
/**
 * Runs the Iris pipeline with its tasks as Kubernetes Jobs — against the fake Kubernetes API server
 * of larkflow's tests (tests/fakes/kubernetes.mjs), which runs each Job's container as a local
 * process, since no cluster is at hand:
 *
 *   npm run build && node examples/ml-pipeline/remote.mjs [--file-sync] [--db PATH]
 *
 * What it does, as you would against a real cluster:
 *   1. starts the fake API server on 127.0.0.1 and writes a kubeconfig for it (KUBECONFIG);
 *   2. declares the image `larkflow-iris:1`: its code is this directory, and `larkflow` (the Node
 *      task runner, `larkflow task-run`) is on its PATH — what `npm install larkflow` in a Dockerfile gives;
 *   3. runs `larkflow run pipeline.star --tasks tasks.mjs --executor k8s --image larkflow-iris:1`:
 *      the workflow runs here, every JS task of tasks.mjs runs as one Job per attempt (the
 *      Starlark `@task` body macro_average stays in the engine);
 *   4. prints the result, and how many Jobs the API server saw.
 * Exit code: the CLI's (0 when the run completed).
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FakeKubernetes } from '../../tests/fakes/kubernetes.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const cli = join(root, 'dist/bundle/larkflow.mjs');
const IMAGE = 'larkflow-iris:1';

const { values: opts } = parseArgs({ options: { 'file-sync': { type: 'boolean', default: false }, db: { type: 'string' } } });
const scratch = mkdtempSync(join(tmpdir(), 'larkflow-iris-k8s-'));
const bin = join(scratch, 'bin');
mkdirSync(bin);
// The image has the `larkflow` command (the Node task runner).
writeFileSync(join(bin, 'larkflow'), `#!/bin/sh\nexec "${process.execPath}" "${cli}" "$@"\n`);
chmodSync(join(bin, 'larkflow'), 0o755);

const fake = new FakeKubernetes({ images: { [IMAGE]: { cwd: here, env: { PATH: `${bin}:${process.env.PATH ?? ''}` } } } });
await fake.start();
const kubeconfig = join(scratch, 'kubeconfig.yaml');
writeFileSync(kubeconfig, fake.kubeConfigYaml('default'));
console.error(`fake Kubernetes API on ${fake.url}; KUBECONFIG=${kubeconfig}`);

const args = [
  cli,
  'run',
  'pipeline.star',
  '--tasks',
  'tasks.mjs',
  '--executor',
  'k8s',
  '--image',
  IMAGE,
  '--db',
  opts.db ?? join(scratch, 'iris.db'),
  ...(opts['file-sync'] ? ['--file-sync'] : []),
  `registry=${join(scratch, 'models')}`,
];
console.error(`$ larkflow ${args.slice(1).join(' ')}`);
// Asynchronously: the fake API server lives in this process.
const code = await new Promise((res) => {
  const p = spawn(process.execPath, args, { cwd: here, env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: 'inherit' });
  p.on('close', (c) => res(c ?? 1));
});
const jobs = Object.entries(fake.jobsCreated());
console.error(`the API server created ${jobs.length} Jobs (${jobs.filter(([, n]) => n !== 1).length} created more than once)`);
await fake.close();
rmSync(scratch, { recursive: true, force: true });
process.exit(code);
