/**
 * The Python runner's session setup (Uniflow's pre_run): with LARKFLOW_SESSION=ray it calls
 * ray.init() with the job's address before the task, with LARKFLOW_SESSION=spark it builds a
 * SparkSession with the given properties; without the library the task runs as plain Python. Also
 * the entry script launchers run as a file (larkflow_entry.py). Stub `ray` and `pyspark` packages
 * stand in for the real ones (the same import paths and calls).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'lf-session-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const stubs = join(dir, 'stubs');
mkdirSync(join(stubs, 'ray'), { recursive: true });
writeFileSync(join(stubs, 'ray', '__init__.py'), '_address = None\ndef is_initialized():\n    return _address is not None\ndef init(address=None):\n    global _address\n    _address = address\n');
mkdirSync(join(stubs, 'pyspark', 'sql'), { recursive: true });
writeFileSync(join(stubs, 'pyspark', '__init__.py'), '');
writeFileSync(
  join(stubs, 'pyspark', 'sql', '__init__.py'),
  'class _Builder:\n    def __init__(self):\n        self.conf = {}\n    def appName(self, n):\n        self.conf["app"] = n\n        return self\n    def config(self, k, v):\n        self.conf[k] = v\n        return self\n    def getOrCreate(self):\n        SparkSession.active = dict(self.conf)\n        return SparkSession\nclass SparkSession:\n    active = None\n    builder = _Builder()\n',
);
const code = join(dir, 'code');
mkdirSync(code);
writeFileSync(join(code, 'jobs.py'), 'def which():\n    try:\n        import ray\n        ray_state = ray._address\n    except ImportError:\n        ray_state = "no ray"\n    try:\n        from pyspark.sql import SparkSession\n        spark_state = SparkSession.active\n    except ImportError:\n        spark_state = "no spark"\n    return {"ray": ray_state, "spark": spark_state}\n');

let n = 0;
function runTask(env: Record<string, string>, pythonPath: string[], viaEntry = false): { code: number | null; result: { ok: boolean; value?: unknown; error?: unknown }; err: string } {
  const at = join(dir, `a${n++}`);
  mkdirSync(at);
  writeFileSync(join(at, 'input.json'), JSON.stringify({ version: 1, task: 'jobs:which', args: [], kwargs: {}, runId: 'r', stepId: 's', attempt: 1 }));
  const args = viaEntry ? [join(ROOT, 'runners/python/larkflow_entry.py')] : ['-m', 'larkflow_runner'];
  const p = spawnSync('python3', args, {
    cwd: code,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '',
      PYTHONPATH: pythonPath.join(':'),
      LARKFLOW_INPUT_URL: pathToFileURL(join(at, 'input.json')).href,
      LARKFLOW_RESULT_URL: pathToFileURL(join(at, 'result.json')).href,
      ...env,
    },
  });
  return { code: p.status, result: JSON.parse(readFileSync(join(at, 'result.json'), 'utf8')), err: p.stderr };
}

describe('the Python runner sets up the task\'s session (pre_run)', () => {
  const runner = join(ROOT, 'runners/python');
  it('ray: ray.init() with RAY_ADDRESS before the call', () => {
    const r = runTask({ LARKFLOW_SESSION: 'ray', RAY_ADDRESS: 'http://head:8265' }, [runner, stubs]);
    expect(r.code, r.err).toBe(0);
    expect(r.result.value).toEqual({ ray: 'http://head:8265', spark: null });
  });
  it('ray without RAY_ADDRESS joins the cluster it runs in ("auto")', () => {
    const r = runTask({ LARKFLOW_SESSION: 'ray' }, [runner, stubs]);
    expect(r.result.value).toEqual({ ray: 'auto', spark: null });
  });
  it('spark: a SparkSession from the builder, with the app name and properties', () => {
    const r = runTask({ LARKFLOW_SESSION: 'spark', LARKFLOW_SPARK_APP_NAME: 'etl-a1', LARKFLOW_SPARK_PROPERTIES: 'spark.sql.shuffle.partitions=8, spark.x=y' }, [runner, stubs]);
    expect(r.code, r.err).toBe(0);
    expect(r.result.value).toEqual({ ray: null, spark: { app: 'etl-a1', 'spark.sql.shuffle.partitions': '8', 'spark.x': 'y' } });
  });
  it('without the library the task runs as plain Python, and says so', () => {
    const r = runTask({ LARKFLOW_SESSION: 'ray' }, [runner]);
    expect(r.code, r.err).toBe(0);
    expect(r.result.value).toEqual({ ray: 'no ray', spark: 'no spark' });
    expect(r.err).toMatch(/ray is not importable here: the task runs as plain Python/);
  });
  it('larkflow_entry.py (what spark-submit runs) works without the runner on PYTHONPATH', () => {
    const r = runTask({ LARKFLOW_SESSION: 'spark' }, [stubs], true);
    expect(r.code, r.err).toBe(0);
    expect(r.result.value).toEqual({ ray: null, spark: { app: 'larkflow-task' } });
  });
});
