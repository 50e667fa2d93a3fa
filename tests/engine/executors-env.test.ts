/**
 * Tasks get the run's declared environment (TaskRequest.env), not the engine's shell environment:
 * process tasks on top of a minimal base, in-process tasks on their context (issue 9).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRequest } from '../../src/engine/core/ports.js';
import { FunctionExecutor, ProcessExecutor, type TaskContext } from '../../src/engine/executors/index.js';
import { BASE_ENV, taskEnvironment } from '../../src/engine/executors/process-executor.js';

let root = '';
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'larkflow-executors-env-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

let seq = 0;
function request(task: string, over: Partial<TaskRequest> = {}): TaskRequest {
  const stepId = `${task}#${++seq}`;
  return { runId: 'run-env', stepId, attempt: 1, idempotencyKey: `run-env/${stepId}/1`, task, args: [], kwargs: {}, signal: new AbortController().signal, ...over };
}

/** A node process task that writes its whole environment as its result. */
const printEnv = [process.execPath, '-e', 'require("node:fs").writeFileSync(process.env.LARKFLOW_OUTPUT, JSON.stringify(process.env))'];

describe('ProcessExecutor: the environment of a task', () => {
  it("gives the run's declared environment on a minimal base, not the engine's shell environment", async () => {
    process.env.LARKFLOW_TEST_SHELL_ONLY = 'from the shell';
    try {
      const ex = new ProcessExecutor({ workDir: join(root, 'a') });
      const outcome = await ex.submit(request('env', { command: printEnv, env: { MODE: 'prod', PATH_EXTRA: '1' } })).done;
      expect(outcome.ok).toBe(true);
      const env = (outcome as { value: Record<string, string> }).value;
      expect(env.MODE).toBe('prod');
      expect(env.PATH_EXTRA).toBe('1');
      expect(env.LARKFLOW_TEST_SHELL_ONLY).toBeUndefined();
      expect(env.PATH).toBe(process.env.PATH);
      if (process.env.HOME !== undefined) expect(env.HOME).toBe(process.env.HOME);
      expect(env.LARKFLOW_ATTEMPT).toBe('1');
      // Nothing but the base, the declared variables and the executor's own.
      const allowed = (k: string): boolean => ['PATH', 'HOME', 'LANG', 'TMPDIR', 'MODE', 'PATH_EXTRA'].includes(k) || k.startsWith('LC_') || k.startsWith('LARKFLOW_');
      expect(Object.keys(env).filter((k) => !allowed(k))).toEqual([]);
    } finally {
      delete process.env.LARKFLOW_TEST_SHELL_ONLY;
    }
  });

  it("layers: base < passEnv < the executor's env < the run's env < LARKFLOW_* (which a run cannot override)", async () => {
    process.env.LARKFLOW_TEST_PASSED = 'passed';
    process.env.LARKFLOW_TEST_GPU_0 = 'gpu';
    try {
      const ex = new ProcessExecutor({ workDir: join(root, 'b'), passEnv: ['LARKFLOW_TEST_PASSED', 'LARKFLOW_TEST_GPU_*'], env: { SHARED: 'executor', ONLY_EXECUTOR: 'x' } });
      const outcome = await ex.submit(request('env', { command: printEnv, env: { SHARED: 'run', LARKFLOW_ATTEMPT: '99' } })).done;
      const env = (outcome as { value: Record<string, string> }).value;
      expect(env).toMatchObject({ LARKFLOW_TEST_PASSED: 'passed', LARKFLOW_TEST_GPU_0: 'gpu', SHARED: 'run', ONLY_EXECUTOR: 'x', LARKFLOW_ATTEMPT: '1' });
    } finally {
      delete process.env.LARKFLOW_TEST_PASSED;
      delete process.env.LARKFLOW_TEST_GPU_0;
    }
  });

  it('taskEnvironment takes exactly the base names (and LC_* prefixes) from the engine', () => {
    const from = { PATH: '/bin', HOME: '/h', LANG: 'C.UTF-8', LC_ALL: 'C', TMPDIR: '/t', SECRET_TOKEN: 's', AWS_ACCESS_KEY_ID: 'k' };
    expect(taskEnvironment({ A: '1' }, {}, BASE_ENV, from)).toEqual({ PATH: '/bin', HOME: '/h', LANG: 'C.UTF-8', LC_ALL: 'C', TMPDIR: '/t', A: '1' });
    expect(taskEnvironment(undefined, {}, BASE_ENV, from)).not.toHaveProperty('SECRET_TOKEN');
  });
});

describe('FunctionExecutor: the environment of a task', () => {
  it("gives a context task the run's declared environment, frozen, and {} when there is none", async () => {
    const ex = new FunctionExecutor();
    let seen: TaskContext['env'] | undefined;
    ex.registerWithContext('env', (ctx) => {
      seen = ctx.env;
      return ctx.env.MODE ?? null;
    });
    expect(await ex.submit(request('env', { env: { MODE: 'prod' } })).done).toEqual({ ok: true, value: 'prod' });
    expect(Object.isFrozen(seen)).toBe(true);
    expect(await ex.submit(request('env')).done).toEqual({ ok: true, value: null });
    expect(seen).toEqual({});
  });
});
