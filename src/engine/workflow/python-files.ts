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

registerWorkflowTranslator('.py', (text, path) => compilePythonWorkflow(text, path, { allowWhile: true }).starlark);
