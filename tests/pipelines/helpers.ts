/** Drives the pipeline commands in-process: a commander program with only them (main.ts wires them later). */
import { Command } from 'commander';
import '../../src/stdlib/index.js';
import { registerPipelineCommands } from '../../src/cli/commands/pipeline.js';
import { CliError, renderError } from '../../src/cli/errors.js';
import type { CliResult } from '../helpers/cli.js';

/** Runs `larkflow pipeline ...` (argv without `larkflow`), as main() would: exit codes and errors alike. */
export async function pcli(...argv: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  let code = 0;
  const io = { out: (s: string) => void (out += s), err: (s: string) => void (err += s) };
  const program = new Command('larkflow').exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  registerPipelineCommands(program, io, (n) => {
    code = n;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    const ce = e as { code?: string };
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) return { code: ce.code === 'commander.helpDisplayed' ? 0 : 2, out, err };
    err += renderError(e) + '\n';
    code = e instanceof CliError ? e.exitCode : e instanceof Error && (e.name === 'UsageError' || (e as { code?: unknown }).code === 'usage') ? 2 : 1;
  }
  return { code, out, err };
}
