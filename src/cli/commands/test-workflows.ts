/**
 * This file defines `larkflow test --workflows FILE.star... [--env KEY=VALUE ...]`: runs every
 * top-level `test_*` function of the files as its own workflow run on an in-memory engine with a
 * virtual clock (see src/testing/workflow-tests.ts), prints each failure with its traceback and
 * `N passed, M failed`. Exit 0 when everything passed, 1 on any failure, 2 for bad usage, 4 when the
 * process was ended before every test had run (a task calling process.exit).
 */
import { loadTasks } from '../engine-options.js';
import { CliError } from '../errors.js';
import { exitGuard } from '../exit-guard.js';

/** Parses `KEY=VALUE` pairs of `--env`. @throws CliError for a pair without `=` or with an empty key */
export function parseEnvPairs(pairs: readonly string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new CliError(`bad --env ${JSON.stringify(p)}: give KEY=VALUE`);
    env[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return env;
}

/** Runs the workflow tests; returns the exit code. */
export async function runWorkflowTestsCommand(
  files: readonly string[],
  options: { readonly env?: readonly string[]; readonly filter?: string; readonly tasks?: string },
  out: (s: string) => void,
): Promise<number> {
  if (files.length === 0) throw new CliError('larkflow test --workflows: no files given (usage: larkflow test --workflows FILE.star... [--env KEY=VALUE ...])');
  const env = parseEnvPairs(options.env);
  // Imported lazily, so that `larkflow test` of chunked files never loads the engine.
  const { runWorkflowTests } = await import('../../testing/workflow-tests.js');
  const tasks = options.tasks !== undefined ? await loadTasks(options.tasks) : undefined;
  // Exit 0 must mean every test ran: a task that ends the process (process.exit) must not look like success.
  let reported = 0;
  let last: string | undefined;
  const release = exitGuard.commit({
    describe: (reason) =>
      `larkflow test --workflows did not finish: ${reason === 'idle' ? 'nothing is left that could finish the test in progress' : 'the process is exiting in the middle of a test (did a task call process.exit()?)'}; ` +
      `${reported} test${reported === 1 ? '' : 's'} reported${last ? `, the last one ${last}` : ''}`,
  });
  const count = (s: string): void => {
    const m = /^(?:ok  |FAIL) (\S+)/.exec(s);
    if (m) {
      reported++;
      last = m[1];
    }
    out(s);
  };
  let summary;
  try {
    summary = await runWorkflowTests(files, { env, out: count, ...(options.filter !== undefined ? { filter: options.filter } : {}), ...(tasks ? { tasks } : {}) });
  } finally {
    release();
  }
  const { passed, failed } = summary;
  if (passed + failed === 0) {
    // A run that tested nothing must not look like success in CI.
    out(`no test_* functions found in ${files.join(', ')}${options.filter !== undefined ? ` matching ${JSON.stringify(options.filter)}` : ''}`);
    return 1;
  }
  return failed > 0 ? 1 : 0;
}
