/**
 * This file defines `Source`, a named piece of text, and `Span`, a half-open range of UTF-16 offsets
 * into it. Line and column are computed only when an error is printed, so the lexer and parser carry
 * plain numbers (the starlark-rust codemap idea). Columns are 1-based and count UTF-16 code units of
 * the line, as editors do.
 */

/** Named text; `lineOffset` lets a snippet report lines of its enclosing file (graphql-js Source). */
export class Source {
  private lineStarts: number[] | undefined;
  constructor(
    readonly name: string,
    readonly text: string,
    readonly lineOffset = 0,
  ) {}

  /** 1-based line and column of a UTF-16 offset. */
  position(offset: number): Position {
    const starts = this.lineStartOffsets();
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.name, line: lo + 1 + this.lineOffset, column: offset - starts[lo]! + 1 };
  }

  /** The text of a 1-based line (as reported by `position`), without its newline. */
  lineText(line: number): string {
    const starts = this.lineStartOffsets();
    const i = line - 1 - this.lineOffset;
    if (i < 0 || i >= starts.length) return '';
    const end = i + 1 < starts.length ? starts[i + 1]! - 1 : this.text.length;
    return this.text.slice(starts[i]!, end).replace(/\r$/, '');
  }

  private lineStartOffsets(): number[] {
    if (!this.lineStarts) {
      const starts = [0];
      const t = this.text;
      for (let i = 0; i < t.length; i++) if (t.charCodeAt(i) === 10) starts.push(i + 1);
      this.lineStarts = starts;
    }
    return this.lineStarts;
  }
}

/** A resolved position: file name, 1-based line, 1-based column. */
export interface Position {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** Half-open UTF-16 offsets [start, end) into one Source. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/** "file:line:col" */
export function formatPosition(p: Position): string {
  return `${p.file}:${p.line}:${p.column}`;
}

/** The source line of `p` with a caret under its column, for error messages. */
export function codeFrame(source: Source, p: Position): string {
  const line = source.lineText(p.line);
  if (line === '') return '';
  const pad = line.slice(0, p.column - 1).replace(/[^\t]/g, ' ');
  return `${line}\n${pad}^`;
}
