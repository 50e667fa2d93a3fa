/**
 * This file defines how the CLI reports errors: Starlark errors as their users expect them (parse and
 * resolve errors with file:line:col and a code frame, run-time errors as a Starlark traceback), and
 * anything else as one line, never a JS stack trace (unless LARKFLOW_DEBUG is set).
 */
import { EvalError, ParseError, ResolveError, StarlarkError } from '../interpreter/index.js';

/** Renders an error for the terminal. */
export function renderError(e: unknown): string {
  if (e instanceof ParseError || e instanceof ResolveError) return e.render();
  if (e instanceof EvalError) return e.backtrace();
  if (e instanceof StarlarkError) return `Error: ${e.message}`;
  if (process.env.LARKFLOW_DEBUG && e instanceof Error) return e.stack ?? e.message;
  const msg = e instanceof Error ? e.message : String(e);
  return `larkflow: ${msg}`;
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
