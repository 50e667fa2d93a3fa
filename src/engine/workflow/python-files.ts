/**
 * This file makes Uniflow Python workflow files (`my_workflow.py`) loadable wherever a `.star` file
 * is: their `@workflow` functions, and the helpers and constants those use, are compiled to Starlark
 * (src/python/), line for line, so tracebacks and nondeterminism reports point at the `.py` lines;
 * their `@task` functions become tasks with a Python function reference ("module:function"), run
 * as real Python by the task runner. The run stores the `.py` text: replay and recovery compile it
 * again, deterministically (the compiler does not depend on an installed Python).
 */
import { compilePythonWorkflow } from '../../python/index.js';
import { registerWorkflowTranslator } from './machine.js';

/** Ends the first line of a `.py` file's text that is already compiled Starlark (the workflow test runner compiles with its tests). */
export const COMPILED_MARKER = '# larkflow: compiled from Python';

registerWorkflowTranslator('.py', (text, path) => {
  const eol = text.indexOf('\n');
  if ((eol < 0 ? text : text.slice(0, eol)).endsWith(COMPILED_MARKER)) return text;
  return compilePythonWorkflow(text, path, { allowWhile: true }).starlark;
});

/** A `.py` workflow file compiled with its top-level `test_*` functions, marked as compiled. */
export function compilePythonWithTests(text: string, path: string): string {
  const starlark = compilePythonWorkflow(text, path, { allowWhile: true, tests: true }).starlark;
  const eol = starlark.indexOf('\n');
  return eol < 0 ? `${starlark}  ${COMPILED_MARKER}` : `${starlark.slice(0, eol)}  ${COMPILED_MARKER}${starlark.slice(eol)}`;
}
