/**
 * Compiles a Uniflow-style Python workflow file (`my_workflow.py`) to a larkflow Starlark workflow
 * file. The @workflow functions, and the helpers and constants they reach, are compiled; the @task
 * functions are declared as `task("name", function = "module:function", ...)` (their bodies run as
 * real Python elsewhere and are never parsed); the `if __name__ == "__main__":` block gives the
 * defaults of a run. Line N of the Starlark comes from line N of the Python.
 *
 * The emitted Starlark is parsed and resolved with the engine's own front end before it is
 * returned, so what compiles also loads; any problem is a PythonCompileError at a .py position.
 *
 * What is compiled: only what the workflows reach (transitively): helpers and module constants that
 * a workflow (or a task's decorator options) names. Everything else at the top level (other
 * functions, classes, logging setup, ...) is skipped silently, as it is Python the workflow does not
 * use.
 */
import '../stdlib/index.js';
import { compileProgram, EvalError, ParseError, ResolveError, Source, type Diagnostic } from '../interpreter/index.js';
import { loadWorkflowModule, WORKFLOW_FILE_OPTIONS } from '../engine/workflow/machine.js';
import { workflowPredeclared } from '../engine/workflow/surface.js';
import { compileModule } from './emit.js';
import { PythonCompileError, type PythonProblem } from './errors.js';

export { PythonCompileError, type PythonProblem } from './errors.js';

export interface CompiledPython {
  /** Starlark source for the engine; line N of it comes from Python line N. */
  readonly starlark: string;
  /** Names of the @workflow functions, in order. */
  readonly workflows: readonly string[];
  /** The @task functions: name (alias if given), the Python function reference "module:function", the .py line. */
  readonly tasks: readonly { readonly name: string; readonly function: string; readonly line: number }[];
  /** From `if __name__ == "__main__":`: the workflow ctx.run names, its constant keyword arguments and the environment. */
  readonly defaults: { readonly workflow?: string; readonly kwargs: Readonly<Record<string, unknown>>; readonly env: Readonly<Record<string, string>> };
}

export interface CompilePythonOptions {
  /** The Python module of the file, for task references "module:function". Default: the file's basename without .py. */
  readonly module?: string;
  /** Allow `while` loops (the engine allows them; Uniflow's worker does not). @default false */
  readonly allowWhile?: boolean;
  /** Also compile the top-level `test_*` functions (for `larkflow test --workflows`). @default false */
  readonly tests?: boolean;
}

const HINTS: [RegExp, string][] = [
  [/undefined: (\S+)/, 'workflow code can use Starlark builtins, tasks, workflows, and the helpers and constants of this file; Python builtins such as sum, isinstance, round or open do not exist in Starlark'],
  [/cannot reassign global/, 'a module constant can be assigned only once'],
];

function starlarkProblems(text: string, diagnostics: readonly Diagnostic[]): PythonProblem[] {
  const lines = text.split(/\r\n|\r|\n/);
  return diagnostics.map((d) => {
    const p = d.source.position(d.offset);
    const src = lines[p.line - 1] ?? '';
    const column = src.length - src.trimStart().length + 1;
    const hint = HINTS.find(([re]) => re.test(d.message))?.[1];
    return { message: `in the compiled Starlark: ${d.message}`, line: p.line, column, ...(hint ? { hint } : {}) };
  });
}

/**
 * Compiles a Python workflow file to Starlark.
 * @throws PythonCompileError listing every problem found (positions in the .py file)
 */
export function compilePythonWorkflow(text: string, file: string, options: CompilePythonOptions = {}): CompiledPython {
  const r = compileModule(text, file, options);
  if (r.problems.length > 0) throw new PythonCompileError(file, text, r.problems);
  try {
    compileProgram(new Source(file, r.starlark), workflowPredeclared({ current: null }), WORKFLOW_FILE_OPTIONS);
  } catch (e) {
    if (e instanceof ParseError || e instanceof ResolveError) throw new PythonCompileError(file, text, starlarkProblems(text, e.diagnostics));
    throw e;
  }
  // Load the module as the engine will (top level only: constants, task declarations, defs), so that
  // a bad task option (a RayTask keyword it does not know, ...) is reported here, at its .py line.
  try {
    const path = `${file}.compiled.star`;
    loadWorkflowModule({ main: path, files: new Map([[path, r.starlark]]) }, workflowPredeclared({ current: null }), { current: null });
  } catch (e) {
    if (!(e instanceof EvalError)) throw e;
    const line = e.line ?? 1;
    const src = text.split(/\r\n|\r|\n/)[line - 1] ?? '';
    throw new PythonCompileError(file, text, [{ message: `when the compiled file is loaded: ${e.message}`, line, column: src.length - src.trimStart().length + 1 }]);
  }
  return { starlark: r.starlark, workflows: r.workflows, tasks: r.tasks, defaults: r.defaults };
}
