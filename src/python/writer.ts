/**
 * Writes Starlark text that keeps Python's line numbers: statements start on their .py line, and
 * inside brackets an expression moves down to the line it came from.
 */
export class Writer {
  /** Output lines; lines[0] is .py line `base`. */
  readonly lines: string[] = [''];
  /** Bracket depth: newlines may only be inserted inside brackets. */
  depth = 0;
  private afterColon = false;

  constructor(readonly base: number) {}

  get line(): number {
    return this.base + this.lines.length - 1;
  }

  write(s: string): void {
    const parts = s.split('\n');
    this.lines[this.lines.length - 1] += parts[0]!;
    for (let k = 1; k < parts.length; k++) this.lines.push(parts[k]!);
    if (s !== '') this.afterColon = false;
  }

  /** Moves down to `line` if inside brackets (an expression continuing on a later line). */
  at(line: number): void {
    if (this.depth <= 0) return;
    while (this.line < line) this.lines.push('        ');
  }

  /** Starts a statement from .py `line` at `indent`. */
  stmt(line: number, indent: number): void {
    while (this.line < line) this.lines.push('');
    const cur = this.lines[this.lines.length - 1]!;
    if (cur.trim() === '') this.lines[this.lines.length - 1] = '    '.repeat(indent);
    else if (this.afterColon) this.lines[this.lines.length - 1] += ' ';
    else if (this.line >= line) {
      if (/:\s*$/.test(cur)) this.lines[this.lines.length - 1] += ' ';
      else this.lines[this.lines.length - 1] += '; ';
    }
    this.afterColon = false;
  }

  /** Ends a block header (`if x:`): an inline body follows on the same line. */
  colon(): void {
    this.write(':');
    this.afterColon = true;
  }

  open(s: string): void {
    this.write(s);
    this.depth++;
  }
  close(s: string): void {
    this.depth--;
    this.write(s);
  }
}
