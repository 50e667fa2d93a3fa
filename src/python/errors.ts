/**
 * Errors of the Python → Starlark workflow compiler: every problem carries the .py position
 * (file:line:col, 1-based), the source line, and usually a hint.
 */

/** One located problem in a Python workflow file. */
export interface PythonProblem {
  readonly message: string;
  readonly line: number;
  readonly column: number;
  readonly hint?: string | undefined;
}

function renderOne(file: string, lines: readonly string[], p: PythonProblem): string {
  const src = lines[p.line - 1] ?? '';
  const caretCol = Math.max(1, p.column);
  // The caret sits under the column; tabs in the prefix are kept so it lines up.
  const pad = src.slice(0, caretCol - 1).replace(/[^\t]/g, ' ');
  let out = `${file}:${p.line}:${p.column}: ${p.message}\n    ${src}\n    ${pad}^`;
  if (p.hint) out += `\nhint: ${p.hint}`;
  return out;
}

/**
 * A Python workflow file that cannot be compiled to Starlark. `line`, `column`, `sourceLine` and
 * `hint` describe the first problem; `problems` lists all problems found (in source order).
 */
export class PythonCompileError extends Error {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly sourceLine: string;
  readonly hint?: string | undefined;
  readonly problems: readonly PythonProblem[];
  private readonly lines: readonly string[];

  constructor(file: string, text: string, problems: readonly PythonProblem[]) {
    const lines = text.split(/\r\n|\r|\n/);
    const sorted = [...problems].sort((a, b) => a.line - b.line || a.column - b.column);
    const first = sorted[0]!;
    super(`${file}:${first.line}:${first.column}: ${first.message}${sorted.length > 1 ? ` (and ${sorted.length - 1} more problem${sorted.length > 2 ? 's' : ''})` : ''}`);
    this.name = 'PythonCompileError';
    this.file = file;
    this.line = first.line;
    this.column = first.column;
    this.sourceLine = lines[first.line - 1] ?? '';
    this.hint = first.hint;
    this.problems = sorted;
    this.lines = lines;
  }

  /** "file:line:col: message\n    <source line>\n    ^\nhint: ..." for each problem. */
  render(): string {
    return this.problems.map((p) => renderOne(this.file, this.lines, p)).join('\n');
  }
}

/** Thrown inside the compiler for a problem that stops it (a syntax error); turned into a PythonCompileError. */
export class Problem extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
    readonly hint?: string,
  ) {
    super(message);
  }
  toProblem(): PythonProblem {
    return { message: this.message, line: this.line, column: this.column, ...(this.hint ? { hint: this.hint } : {}) };
  }
}
