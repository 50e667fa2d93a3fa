/**
 * Helpers of the Python compiler tests: run compiled Starlark on the test engine, with fake task
 * implementations for in-process tasks (te.fake) and for remote ones (RayTask/SparkTask/
 * KubernetesTask configs route tasks to the kuberay/ray/spark/k8s executors: a fake executor per
 * name answers them from the same implementations; a task with function = "module:fn" and no
 * config goes to the engine's "python" executor, faked the same way).
 */
import type { Executor, TaskOutcome } from '../../src/engine/core/ports.js';
import type { Json } from '../../src/engine/core/json.js';
import { createTestEngine } from '../../src/testing/index.js';
import { compilePythonWorkflow, PythonCompileError, type CompiledPython } from '../../src/python/index.js';

export type FakeImpl = (args: readonly Json[], kwargs: Readonly<Record<string, Json>>) => Json;

function fakeExecutor(name: string, impls: Readonly<Record<string, FakeImpl>>, calls: string[]): Executor {
  return {
    name,
    canRun: (task) => task in impls,
    cancel: () => {},
    submit: (req) => {
      calls.push(req.task);
      let outcome: TaskOutcome;
      try {
        outcome = { ok: true, value: impls[req.task]!(req.args, req.kwargs) };
      } catch (e) {
        outcome = { ok: false, error: { kind: 'task', message: String(e), retryable: false } };
      }
      return { id: req.idempotencyKey, done: Promise.resolve(outcome) };
    },
  };
}

export interface RunResult {
  readonly status: string;
  readonly result?: unknown;
  readonly error?: unknown;
  /** Task names in call order. */
  readonly calls: readonly string[];
}

/** Runs `workflow` of a compiled file to completion with fake tasks. */
export async function runCompiled(compiled: CompiledPython | string, workflow: string, kwargs: Record<string, unknown>, impls: Readonly<Record<string, FakeImpl>>): Promise<RunResult> {
  const text = typeof compiled === 'string' ? compiled : compiled.starlark;
  const calls: string[] = [];
  const remote = ['python', 'kuberay', 'ray', 'spark', 'livy', 'k8s'].map((n) => fakeExecutor(n, impls, calls));
  const te = createTestEngine({ engineOptions: { executors: remote } });
  try {
    for (const [name, fn] of Object.entries(impls)) {
      // The exact args and kwargs of the call are the fake's last recorded call.
      const fake = te.fake(name, [
        {
          return: () => {
            calls.push(name);
            const call = fake.calls[fake.calls.length - 1]!;
            return fn(call.args, call.kwargs);
          },
        },
      ]);
    }
    const h = te.start({ source: { name: 'wf.star', text }, workflow, kwargs, runId: 'run-1' });
    const r = (await te.runToCompletion(h)) as { status: string; result?: unknown; error?: unknown };
    return { status: r.status, ...(r.result !== undefined ? { result: r.result } : {}), ...(r.error !== undefined ? { error: r.error } : {}), calls };
  } finally {
    await te.dispose();
  }
}

/** Compiles and returns the error (fails the test if it compiles). */
export function compileError(text: string, options: { allowWhile?: boolean } = {}): PythonCompileError {
  try {
    compilePythonWorkflow(text, 'my_workflow.py', options);
  } catch (e) {
    if (e instanceof PythonCompileError) return e;
    throw e;
  }
  throw new Error(`expected a PythonCompileError for:\n${text}`);
}

/** Numbered lines, for failure messages. */
export function numbered(s: string): string {
  return s
    .split('\n')
    .map((l, i) => `${String(i + 1).padStart(3)} ${l}`)
    .join('\n');
}
