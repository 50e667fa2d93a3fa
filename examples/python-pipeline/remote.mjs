#!/usr/bin/env node
/**
 * Runs iris_workflow.py with its tasks on Ray and Spark — against larkflow's fake servers (the Ray
 * Jobs API, Livy, and the Kubernetes API with the RayJob and SparkApplication resources), which run
 * each submitted job as a local process, since no cluster is at hand:
 *
 *   npm run build && node examples/python-pipeline/remote.mjs [ray|livy|kuberay|spark ...]
 *
 * For each backend it runs, as you would against a real one:
 *   larkflow run iris_workflow.py --executor BACKEND [--ray-address URL | --livy-url URL | --image IMG]
 *       --env IRIS_FAIL_ONCE=...    (the first attempt of each training fails: retries show)
 * and prints the result, the backend jobs per attempt, and for kuberay the RayClusters created and
 * left (one fresh cluster per attempt, none left). Exit code: 0 when every run completed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeKubernetes } from '../../tests/fakes/kubernetes.mjs';
import { FakeLivy } from '../../tests/fakes/livy.mjs';
import { FakeRay } from '../../tests/fakes/ray.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const cli = join(root, 'dist/bundle/larkflow.mjs');
const runners = join(root, 'runners/python');
const entry = join(runners, 'larkflow_entry.py');
const IMAGE = 'iris-py:1';
// What the cluster's image holds: this directory's code and larkflow's Python runner.
const nodeEnv = { PYTHONPATH: `${here}:${runners}` };

const backends = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['ray', 'livy', 'kuberay', 'spark'];
const scratch = mkdtempSync(join(tmpdir(), 'larkflow-iris-compute-'));
let failed = 0;

function larkflow(args, env) {
  return new Promise((res) => {
    const p = spawn(process.execPath, [cli, ...args], { cwd: here, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => res({ code, out }));
  });
}

for (const backend of backends) {
  const dir = join(scratch, backend);
  const common = ['run', 'iris_workflow.py', '--executor', backend, '--db', join(dir, 'iris.db'), '--env', `IRIS_FAIL_ONCE=${join(dir, 'failed')}`, '--quiet'];
  let r;
  let jobs;
  let extra = '';
  if (backend === 'ray') {
    const fake = new FakeRay({ cwd: here, env: nodeEnv, startDelayMs: 20 });
    await fake.start();
    r = await larkflow([...common, '--ray-address', fake.url], {});
    jobs = fake.jobsStarted();
    await fake.close();
  } else if (backend === 'livy') {
    const fake = new FakeLivy({ cwd: here, env: nodeEnv, files: { 'local:/opt/larkflow/runners/python/larkflow_entry.py': entry } });
    await fake.start();
    r = await larkflow([...common, '--livy-url', fake.url], {});
    jobs = fake.batchesStarted();
    await fake.close();
  } else {
    const fake = new FakeKubernetes({ images: { [IMAGE]: { cwd: here, env: nodeEnv, files: { 'local:///opt/larkflow/runners/python/larkflow_entry.py': entry, '/opt/larkflow/runners/python/larkflow_entry.py': entry } } } });
    await fake.start();
    const kubeconfig = join(scratch, `${backend}-kubeconfig.yaml`);
    writeFileSync(kubeconfig, fake.kubeConfigYaml('default'));
    r = await larkflow([...common, '--image', IMAGE], { KUBECONFIG: kubeconfig });
    jobs = backend === 'kuberay' ? fake.rayJobsCreated() : fake.sparkAppsCreated();
    if (backend === 'kuberay') {
      for (let i = 0; i < 100 && fake.clustersAlive().length > 0; i++) await new Promise((res) => setTimeout(res, 20));
      const clusters = Object.values(fake.clustersCreated()).flat();
      extra = `; ${clusters.length} RayClusters created, ${fake.clustersAlive().length} left`;
    }
    await fake.close();
  }
  const counts = Object.values(jobs);
  const once = counts.every((n) => n === 1);
  console.log(`${backend.padEnd(8)} exit ${r.code}: ${r.code === 0 ? JSON.parse(r.out).chosen : 'FAILED'} chosen; ${counts.length} backend jobs for ${counts.length} attempts (${once ? 'each submitted once' : 'SOME SUBMITTED TWICE'})${extra}`);
  if (r.code !== 0 || !once) failed++;
}
rmSync(scratch, { recursive: true, force: true });
process.exit(failed === 0 ? 0 : 1);
