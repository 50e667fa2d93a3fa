/**
 * Task configs of remote tasks, as a workflow declares them: `RayTask(...)` and `SparkTask(...)`
 * with Uniflow's field names, the executor each implies, and every mistake refused when the file
 * loads, with its file:line (not at submission).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, type HistoryEvent } from '../../src/engine/index.js';

const dir = mkdtempSync(join(tmpdir(), 'lf-task-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** The TaskScheduled event of a one-task workflow declared with `decl`. */
async function scheduled(decl: string): Promise<HistoryEvent & { kind: 'TaskScheduled' }> {
  const engine = Engine.open({ db: join(dir, `c${n++}.db`) });
  try {
    const h = engine.start({ source: { name: 'wf.star', text: `t = ${decl}\n\n@workflow()\ndef main():\n    return t()\n` } });
    await h.result;
    return engine.history(h.runId).find((e) => e.kind === 'TaskScheduled') as HistoryEvent & { kind: 'TaskScheduled' };
  } finally {
    await engine.close();
  }
}

function loadError(decl: string): string {
  const engine = Engine.open({ db: join(dir, `c${n++}.db`) });
  try {
    engine.start({ source: { name: 'wf.star', text: `\nt = ${decl}\n\n@workflow()\ndef main():\n    return t()\n` } });
  } catch (e) {
    return (e as { backtrace?: () => string }).backtrace?.() ?? String(e);
  } finally {
    void engine.close();
  }
  return 'no error';
}

describe('RayTask and SparkTask', () => {
  it('RayTask with head/worker sizing runs on a fresh KubeRay cluster per attempt', async () => {
    const e = await scheduled('task("train", function = "pkg.train:main", config = RayTask(head_cpu = 2, head_memory = "8Gi", worker_cpu = "4", worker_memory = "16Gi", worker_gpu = 1, worker_instances = 3, runtime_env = {"pip": ["torch"]}))');
    expect(e.executor).toBe('kuberay');
    expect(e.reference).toBe('pkg.train:main');
    expect(e.resources?.ray).toEqual({ headCpu: '2', headMemory: '8Gi', workerCpu: '4', workerMemory: '16Gi', workerGpu: 1, workerInstances: 3, runtimeEnv: { pip: ['torch'] } });
  });

  it('RayTask without sizing runs on the Ray Jobs API of an existing cluster', async () => {
    const e = await scheduled('task("score", function = "pkg.score:main", config = RayTask(entrypoint_num_cpus = 2, entrypoint_memory = "4Gi"))');
    expect(e.executor).toBe('ray');
    expect(e.resources?.ray).toEqual({ entrypointCpu: 2, entrypointMemory: '4Gi' });
  });

  it('SparkTask runs as a SparkApplication, or on Livy when the task says so', async () => {
    const e = await scheduled('task("etl", function = "pkg.etl:main", config = SparkTask(driver_memory = "4Gi", executor_instances = 4, executor_memory = "8Gi", conf = {"spark.sql.shuffle.partitions": "64"}))');
    expect(e.executor).toBe('spark');
    expect(e.resources?.spark).toEqual({ driverMemory: '4Gi', executorInstances: 4, executorMemory: '8Gi', conf: { 'spark.sql.shuffle.partitions': '64' } });
    const l = await scheduled('task("etl", executor = "livy", function = "pkg.etl:main", config = SparkTask(executor_instances = 2))');
    expect(l.executor).toBe('livy');
  });

  it('with_overrides replaces the given options: alias names the step, config replaces the config', async () => {
    const engine = Engine.open({ db: join(dir, `c${n++}.db`) });
    try {
      const src = 't = task("train", function = "pkg.train:main", config = RayTask(entrypoint_num_cpus = 1), retries = 1)\n\n@workflow()\ndef main():\n    big = t.with_overrides(alias = "train_big", config = RayTask(worker_instances = 2), retry_attempts = 3, cache_enabled = True, cache_version = "v2")\n    return big()\n';
      const h = engine.start({ source: { name: 'wf.star', text: src } });
      await h.result;
      const e = engine.history(h.runId).find((x) => x.kind === 'TaskScheduled') as HistoryEvent & { kind: 'TaskScheduled' };
      expect(e.task).toBe('train_big');
      expect(e.reference).toBe('pkg.train:main');
      expect(e.executor).toBe('kuberay');
      expect(e.resources?.ray).toEqual({ workerInstances: 2 });
      expect(e.retry.maxAttempts).toBe(4);
      expect(e.cacheKey).toBeDefined();
    } finally {
      await engine.close();
    }
  });

  const refused: [string, RegExp][] = [
    ['task("t", executor = "ray", config = RayTask(worker_instances = 4))', /head\/worker sizing needs a fresh cluster.*kuberay/],
    ['task("t", config = RayTask(head_memory = "8GB"))', /RayTask: .*head_memory|RayTask: invalid memory quantity "8GB"/],
    ['task("t", config = RayTask(worker_instances = -1))', /worker_instances must be between 0/],
    ['task("t", config = RayTask(workers = 2))', /unexpected keyword argument workers/],
    ['task("t", config = RayTask(breakpoint = True))', /not supported yet: RayTask\(breakpoint = True\)/],
    ['task("t", config = SparkTask(executor_memory = "1TB"))', /1TB/],
    ['task("t", config = SparkTask(conf = {"shuffle": "64"}))', /not a Spark property/],
    ['task("t", executor = "k8s", config = SparkTask())', /does not fit executor "k8s"/],
    ['task("t", executor = "ray", config = KubernetesTask(cpu = 1))', /KubernetesTask.*does not fit executor "ray"/],
  ];
  for (const [decl, message] of refused) {
    it(`refuses ${decl} at load, with the file:line`, () => {
      const text = loadError(decl);
      expect(text).toMatch(message);
      expect(text).toMatch(/wf\.star:2/);
    });
  }
});
