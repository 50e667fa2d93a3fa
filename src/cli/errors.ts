/**
 * This file defines how the CLI reports errors: Starlark errors as their users expect them (parse and
 * resolve errors with file:line:col and a code frame, run-time errors as a Starlark traceback), and
 * anything else as one line, never a JS stack trace (unless LARKFLOW_DEBUG is set).
 */
import { EvalError, ParseError, ResolveError, StarlarkError } from '../interpreter/index.js';

/** Renders an error for the terminal. */
export function renderError(e: unknown): string {
  if (e instanceof ParseError) return e.render();
  if (e instanceof ResolveError) return withDialectHints(e.render());
  if (e instanceof EvalError) return withDialectHints(e.backtrace());
  if (e instanceof StarlarkError) return `Error: ${e.message}`;
  // A Uniflow .py file that does not compile: each problem with its line, a caret and a hint.
  if (e instanceof Error && e.name === 'PythonCompileError' && typeof (e as { render?: unknown }).render === 'function') return (e as unknown as { render(): string }).render();
  if (process.env.LARKFLOW_DEBUG && e instanceof Error) return e.stack ?? e.message;
  const msg = e instanceof Error ? e.message : String(e);
  return `larkflow: ${msg}`;
}

const HINTS: [RegExp, string][] = [
  [/does not support while loops/, 'larkflow eval --while'],
  [/does not support sets/, 'larkflow eval --set'],
  [/does not support decorators/, 'larkflow eval --decorators (workflow files: larkflow run or test --workflows)'],
  [/called recursively/, 'larkflow eval --recursion'],
  [/cannot reassign (global|top-level)/, 'larkflow eval --globalreassign'],
  [/(if statement|for loop|while loop) not within a function/, 'larkflow eval --toplevelcontrol'],
];

/** Adds, once each, how to enable the dialect option an error is about. */
function withDialectHints(text: string): string {
  const hints = HINTS.filter(([re]) => re.test(text)).map(([, h]) => h);
  return hints.length === 0 ? text : `${text}\n(to allow this: ${hints.join('; ')})`;
}

/** A usage or input problem the user can fix; exits with the given code and no stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
