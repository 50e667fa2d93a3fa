/**
 * This file defines the local Python executor ("python"): the default executor of a task declared
 * with a Python function reference (`task("train", function = "iris.train:main")`, and every
 * `@task` function of a Uniflow `.py` workflow). Each attempt runs `python3 -m larkflow_runner` as a
 * supervised local process group — the same runner, task I/O and durable job records as a remote
 * backend (SubprocessAdapter, storage in a directory beside the database), so local and remote runs
 * behave alike (retries, cache, timeouts, recovery after a crash) and `--executor k8s` sends the
 * same tasks to a cluster unchanged.
 *
 * The task's module is imported from the workflow's directory (RunStarted.codeDir), then the
 * runner's own directory (the michelangelo.uniflow shim and larkflow module are there).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SubprocessAdapter } from '../executors/subprocess/index.js';
import { FsAttemptIO } from '../remote/attempt-io.js';
import { RemoteExecutor } from './remote-executor.js';

/**
 * The directory of the Python runner and shims, `runners/python` of the package: found by walking up
 * from this module (the same from src/, dist/ and the CLI bundle).
 * @throws Error for a broken install
 */
export function pythonRunnerDir(): string {
  const from = fileURLToPath(import.meta.url);
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    const candidate = join(dir, 'runners', 'python');
    if (existsSync(join(candidate, 'larkflow_runner', '__main__.py'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`cannot find larkflow's Python runner (runners/python/larkflow_runner) above ${from}: is the package installed completely?`);
  }
}

/** Options of the local Python executor. */
export interface LocalPythonOptions {
  /** Where attempts are recorded and their input and result documents kept. */
  readonly workRoot: string;
  /** The Python interpreter. @default LARKFLOW_PYTHON, else "python3" */
  readonly python?: string;
}

/** The local Python executor; see the file comment. */
export function localPythonExecutor(options: LocalPythonOptions): RemoteExecutor {
  const python = options.python ?? process.env.LARKFLOW_PYTHON ?? 'python3';
  let runnerDir: string | undefined;
  return new RemoteExecutor({
    name: 'python',
    adapter: new SubprocessAdapter({ stateDir: join(options.workRoot, 'python-jobs'), inheritEnv: ['PATH', 'HOME', 'LANG', 'TMPDIR'] }),
    storage: new FsAttemptIO(join(options.workRoot, 'io')),
    runners: { python: [python, '-m', 'larkflow_runner'] },
    defaultRunner: 'python',
    pollIntervalMs: 10,
    maxPollIntervalMs: 200,
    extraEnv: (req) => ({
      PYTHONPATH: [req.codeDir, (runnerDir ??= pythonRunnerDir())].filter((d): d is string => d !== undefined).join(':'),
      PYTHONDONTWRITEBYTECODE: '1',
    }),
  });
}
