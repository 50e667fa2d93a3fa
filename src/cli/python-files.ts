/**
 * This file defines what the CLI does with Uniflow Python workflow files (`my_workflow.py`): the
 * defaults of their `if __name__ == "__main__":` block, `larkflow compile FILE.py` (the Starlark a
 * file compiles to) and `larkflow python-path` (where the Python runner and the michelangelo.uniflow
 * shim are, for PYTHONPATH, so `python3 my_workflow.py` works).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { compilePythonWorkflow, type CompiledPython } from '../python/index.js';
import { CliError } from './errors.js';

/** The `__main__` defaults of a .py workflow file (compile errors are the run's to report). */
export function pythonDefaults(file: string): { workflow?: string; kwargs: Record<string, unknown>; env: Record<string, string> } {
  try {
    const compiled = compileFile(file);
    return { ...(compiled.defaults.workflow !== undefined ? { workflow: compiled.defaults.workflow } : {}), kwargs: { ...compiled.defaults.kwargs }, env: { ...compiled.defaults.env } };
  } catch {
    return { kwargs: {}, env: {} };
  }
}


function compileFile(file: string): CompiledPython {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return compilePythonWorkflow(text, basename(file), { allowWhile: true });
}

/** `larkflow compile FILE.py`: the Starlark, then (as comments) the workflows, tasks and defaults. */
export function compileCommand(file: string, out: (s: string) => void): number {
  if (!file.endsWith('.py')) throw new CliError(`${file}: larkflow compile takes a Uniflow Python workflow file (.py)`);
  const c = compileFile(file);
  out(c.starlark.endsWith('\n') ? c.starlark : `${c.starlark}\n`);
  out(`# workflows: ${c.workflows.join(', ') || 'none'}\n`);
  for (const t of c.tasks) out(`# task ${t.name}: ${t.function} (line ${t.line})\n`);
  if (c.defaults.workflow !== undefined || Object.keys(c.defaults.kwargs).length > 0 || Object.keys(c.defaults.env).length > 0) {
    out(`# defaults (__main__): workflow ${c.defaults.workflow ?? '-'}, inputs ${JSON.stringify(c.defaults.kwargs)}, environment ${JSON.stringify(c.defaults.env)}\n`);
  }
  return 0;
}
