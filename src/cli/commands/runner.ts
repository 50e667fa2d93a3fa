/**
 * This file defines the CLI commands of remote task jobs: `larkflow task-run` (the Node task runner,
 * src/runner/task-run.ts) and `larkflow runner-path python` (where the Python runner package is, for
 * PYTHONPATH). It imports nothing heavy: the runner is loaded when `task-run` runs.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How long `task-run` lets the event loop drain after the result is written before it exits anyway. */
const EXIT_GRACE_MS = 2000;

/**
 * The absolute directory holding the Python runner package (`larkflow_runner`), i.e.
 * `<package root>/runners/python`: found by walking up from `from` (this module's URL), so it is the
 * same from src/cli/commands, dist/cli/commands and the esbuild bundle dist/bundle/larkflow.mjs.
 * @throws Error when no such directory is found (a broken install)
 */
export function pythonRunnerPath(from: string | URL = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'runners', 'python');
    if (existsSync(join(candidate, 'larkflow_runner', '__main__.py'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`cannot find larkflow's Python runner (runners/python/larkflow_runner) above ${fileURLToPath(from)}: is the package installed completely?`);
}

/** Options of `registerRunnerCommands`. */
export interface RunnerCommandOptions {
  /** Receives `task-run`'s exit status (main.ts passes its own). @default sets process.exitCode */
  readonly setExit?: (code: number) => void;
  /**
   * After `task-run` has written the result, end the process (with its status) if something the task
   * left behind (a server, an interval) still keeps it alive after a grace period: a job must not
   * run on until its deadline. Only for the real program, never when main() runs inside tests.
   * @default false
   */
  readonly exitWhenDone?: boolean;
}

/** Adds `task-run` and `runner-path` to the CLI. */
export function registerRunnerCommands(program: Command, options: RunnerCommandOptions = {}): void {
  const setExit =
    options.setExit ??
    ((code: number) => {
      process.exitCode = code;
    });
  program
    .command('task-run')
    .description('run one attempt of a remote task (inside a job): read LARKFLOW_INPUT_URL, call the task, write LARKFLOW_RESULT_URL')
    .addHelpText(
      'after',
      `
The task reference in the input is "path/to/file.mjs#export" (relative to the unpacked code bundle
or the working directory) or "package#export". It is called as fn(...args), with the kwargs as a
trailing object argument only when there are any. Environment: LARKFLOW_INPUT_URL,
LARKFLOW_RESULT_URL, optional LARKFLOW_CODE_URL, LARKFLOW_CODE_SHA256, LARKFLOW_CODE_DIR.

Exit status:
  0  the task returned and its result was written
  1  the task threw, or returned a value that is not JSON (an ok:false result was written)
  2  no such module or export (an ok:false result of kind "missing-task" was written)
  3  the runner failed (input unreadable, code bundle missing, damaged or unsafe, result not written)`,
    )
    .action(async () => {
      const { runTaskFromEnv } = await import('../../runner/task-run.js');
      const code = await runTaskFromEnv(process.env);
      setExit(code);
      // An unref'd timer fires only if something else keeps the event loop alive.
      if (options.exitWhenDone === true) setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
    });

  program
    .command('runner-path')
    .description('print the directory of a task runner: "python" gives the one to put on PYTHONPATH (python3 -m larkflow_runner)')
    .argument('<language>', 'python')
    .action((language: string, _opts: unknown, cmd: Command) => {
      if (language !== 'python') {
        const e = new Error(`runner-path: unknown runner ${JSON.stringify(language)}; expected "python" (the Node runner is "larkflow task-run")`);
        (e as Error & { code?: string }).code = 'usage';
        throw e;
      }
      const out = cmd.configureOutput().writeOut ?? ((s: string) => void process.stdout.write(s));
      out(pythonRunnerPath() + '\n');
    });
}
