#!/usr/bin/env node
/**
 * The `larkflow` command line: the composition root for the terminal. Each command lives in
 * commands/; this file parses arguments (commander) and turns errors into exit codes without stack
 * traces.
 */
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import '../stdlib/index.js';
import type { FileOptions } from '../interpreter/index.js';
import { CliError, renderError } from './errors.js';
import { evalExpression, evalFile } from './commands/eval.js';
import { runChunkedTests } from './commands/test.js';

const DIALECT_FLAGS: [string, keyof FileOptions, string][] = [
  ['--set', 'set', 'allow the set builtin'],
  ['--while', 'while', 'allow while loops'],
  ['--recursion', 'recursion', 'allow recursive functions'],
  ['--globalreassign', 'globalReassign', 'allow reassigning globals'],
  ['--toplevelcontrol', 'topLevelControl', 'allow if/for/while at top level'],
  ['--loadbindsglobally', 'loadBindsGlobally', 'make load bind globals'],
  ['--decorators', 'decorators', 'allow @decorators on def (larkflow extension)'],
];

function addDialectFlags(cmd: Command): Command {
  for (const [flag, , help] of DIALECT_FLAGS) cmd.addOption(new Option(flag, help));
  return cmd;
}

function dialectOptions(opts: Record<string, unknown>): FileOptions {
  const out: Record<string, boolean> = {};
  for (const [flag, key] of DIALECT_FLAGS) {
    const prop = flag.slice(2);
    if (opts[prop]) out[key] = true;
  }
  return out as FileOptions;
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return '0.0.0';
  }
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: readonly string[], io = { out: (s: string) => process.stdout.write(s), err: (s: string) => process.stderr.write(s) }): Promise<number> {
  let exitCode = 0;
  const program = new Command('larkflow')
    .description('Starlark interpreter and durable workflow engine')
    .version(version())
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });

  addDialectFlags(
    program
      .command('eval')
      .description('run a Starlark file, or print the value of an expression with -c')
      .argument('[file]', 'the .star file to run')
      .option('-c, --expr <expr>', 'evaluate an expression and print its value'),
  ).action((file: string | undefined, opts: Record<string, unknown>) => {
    const options = dialectOptions(opts);
    const print = (s: string): void => {
      io.out(s + '\n');
    };
    if (typeof opts.expr === 'string') {
      io.out(evalExpression(opts.expr, options, print) + '\n');
    } else if (file) {
      evalFile(file, options, print);
    } else {
      throw new CliError('larkflow eval: give a FILE or -c EXPR');
    }
  });

  addDialectFlags(
    program
      .command('test')
      .description('run chunked Starlark test files (--- separates chunks, ### marks expected errors)')
      .argument('<files...>', 'test files'),
  ).action((files: string[], opts: Record<string, unknown>) => {
    const { report, ok } = runChunkedTests(files, dialectOptions(opts), (s) => io.out(s + '\n'));
    io.out(report + '\n');
    if (!ok) exitCode = 1;
  });

  try {
    await program.parseAsync(argv as string[], { from: 'user' });
  } catch (e) {
    const ce = e as { code?: string; exitCode?: number };
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) {
      return ce.code === 'commander.helpDisplayed' || ce.code === 'commander.version' ? 0 : 2;
    }
    io.err(renderError(e) + '\n');
    return e instanceof CliError ? e.exitCode : 1;
  }
  return exitCode;
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain || process.argv[1]?.endsWith('/larkflow')) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(renderError(e) + '\n');
      process.exitCode = 1;
    },
  );
}
