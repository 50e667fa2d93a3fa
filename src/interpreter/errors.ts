/**
 * This file defines the errors a Starlark program can produce, in the starlark-go forms users of both
 * implementations recognise:
 *   - ParseError: lexing and parsing, one or more diagnostics, each "file:line:col: message".
 *   - ResolveError: all static errors of a file at once (undefined names, misplaced break...).
 *   - EvalError: a run-time error with a Starlark call stack ("Traceback (most recent call last):").
 * `invariant` failures are our bugs and are kept apart (kind 'internal').
 */
import { codeFrame, formatPosition, type Position, type Source } from '../lexer/source.js';

export type StarlarkErrorKind = 'lex' | 'parse' | 'resolve' | 'eval' | 'fail' | 'cancelled' | 'budget' | 'internal';

/** One located message. */
export interface Diagnostic {
  readonly message: string;
  readonly source: Source;
  /** UTF-16 offset into source.text. */
  readonly offset: number;
}

export function diagnosticPosition(d: Diagnostic): Position {
  return d.source.position(d.offset);
}

/** "file:line:col: message" followed by the source line and a caret. */
export function formatDiagnostic(d: Diagnostic, withFrame = true): string {
  const p = diagnosticPosition(d);
  const head = `${formatPosition(p)}: ${d.message}`;
  if (!withFrame) return head;
  const frame = codeFrame(d.source, p);
  return frame ? `${head}\n${frame}` : head;
}

/**
 * Messages often embed Starlark strings, which hold UTF-8 bytes one per char code; a message that is
 * such a byte string (all char codes < 256, valid UTF-8 with some non-ASCII) is shown as the text it
 * encodes. JS text with a Latin-1 character alone (e.g. U+00E9) is not valid UTF-8 and stays as is.
 */
function textOf(message: string): string {
  let nonAscii = false;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c > 0xff) return message;
    if (c >= 0x80) nonAscii = true;
  }
  if (!nonAscii) return message;
  const bytes = new Uint8Array(message.length);
  for (let i = 0; i < message.length; i++) bytes[i] = message.charCodeAt(i);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return message;
  }
}

/** Base class of every error a Starlark program can cause. */
export class StarlarkError extends Error {
  constructor(
    readonly kind: StarlarkErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'StarlarkError';
  }
}

/** Lexing or parsing failed. `diagnostics` holds every error found, in order (at least one). */
export class ParseError extends StarlarkError {
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    super('parse', diagnostics.map((d) => formatDiagnostic(d, false)).join('\n'));
    this.name = 'ParseError';
  }
  get line(): number {
    return diagnosticPosition(this.diagnostics[0]!).line;
  }
  get column(): number {
    return diagnosticPosition(this.diagnostics[0]!).column;
  }
  /** The first diagnostic's bare message (without position). */
  get msg(): string {
    return this.diagnostics[0]!.message;
  }
  /** All diagnostics with code frames. */
  render(): string {
    return this.diagnostics.map((d) => formatDiagnostic(d)).join('\n');
  }
}

/** Static errors found by the resolver: every one of them, in source order. */
export class ResolveError extends StarlarkError {
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    super('resolve', diagnostics.map((d) => formatDiagnostic(d, false)).join('\n'));
    this.name = 'ResolveError';
  }
  get line(): number {
    return diagnosticPosition(this.diagnostics[0]!).line;
  }
  get column(): number {
    return diagnosticPosition(this.diagnostics[0]!).column;
  }
  render(): string {
    return this.diagnostics.map((d) => formatDiagnostic(d)).join('\n');
  }
}

/** One frame of a Starlark call stack. */
export interface CallFrame {
  /** Function name, or "<toplevel>" for module code, "<builtin>" frames are named after the builtin. */
  readonly name: string;
  /** Where the frame was executing (undefined for builtins). */
  readonly pos?: Position;
  /** The source, to print the line (undefined for builtins). */
  readonly source?: Source;
}

/**
 * A run-time error. `callStack` lists frames outermost first, as the traceback prints them.
 * The message is the bare message (e.g. "unsupported binary op: int + string"); `toString()` and
 * `backtrace()` add positions.
 */
export class EvalError extends StarlarkError {
  /** Frames, innermost first while unwinding; read through `callStack`. */
  readonly frames: CallFrame[] = [];
  constructor(
    message: string,
    kind: StarlarkErrorKind = 'eval',
    options?: ErrorOptions,
  ) {
    super(kind, textOf(message), options);
    this.name = 'EvalError';
  }
  /** Frames, outermost first. */
  get callStack(): readonly CallFrame[] {
    return [...this.frames].reverse();
  }
  /** Position of the innermost Starlark frame, if any. */
  get position(): Position | undefined {
    for (const f of this.frames) if (f.pos) return f.pos;
    return undefined;
  }
  get line(): number | undefined {
    return this.position?.line;
  }
  get column(): number | undefined {
    return this.position?.column;
  }
  /** "Traceback (most recent call last):\n  file:3:5: in f\n    source line\nError: msg" */
  backtrace(): string {
    if (this.frames.length === 0) return `Error: ${this.message}`;
    const lines = ['Traceback (most recent call last):'];
    // Runs of the same frame (deep recursion) are shown once, with a count, as Python does.
    const stack = this.callStack;
    for (let i = 0; i < stack.length; i++) {
      const f = stack[i]!;
      let j = i;
      while (j + 1 < stack.length && sameFrame(stack[j + 1]!, f)) j++;
      if (j - i >= 3) {
        pushFrame(lines, f);
        lines.push(`  [Previous line repeated ${j - i} more times]`);
        i = j;
        continue;
      }
      pushFrame(lines, f);
    }
    lines.push(`Error${this.frames[0] && !this.frames[0].pos ? ` in ${this.frames[0].name}` : ''}: ${this.message}`);
    return lines.join('\n');
  }

  override toString(): string {
    const p = this.position;
    return p ? `${formatPosition(p)}: ${this.message}` : this.message;
  }
}

function sameFrame(a: CallFrame, b: CallFrame): boolean {
  return a.name === b.name && a.pos?.file === b.pos?.file && a.pos?.line === b.pos?.line && a.pos?.column === b.pos?.column;
}

function pushFrame(lines: string[], f: CallFrame): void {
  if (f.pos) {
    lines.push(`  ${formatPosition(f.pos)}: in ${f.name}`);
    const text = f.source?.lineText(f.pos.line).trim();
    if (text) lines.push(`    ${text}`);
  } else {
    lines.push(`  <builtin>: in ${f.name}`);
  }
}

/** Thrown by `invariant` for bugs in larkflow itself, never for a user's mistake. */
export class InternalError extends StarlarkError {
  constructor(message: string) {
    super('internal', `internal error: ${message}`);
    this.name = 'InternalError';
  }
}

/** Asserts a condition that only a bug in larkflow can break. */
export function invariant(cond: unknown, message: string): asserts cond {
  if (!cond) throw new InternalError(message);
}

/** For exhaustive switches. */
export function assertNever(x: never): never {
  throw new InternalError(`unexpected value ${JSON.stringify(x)}`);
}
