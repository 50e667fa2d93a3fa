/**
 * This file defines the runner for chunked Starlark test files, the conformance format Starlark
 * implementations share (go.starlark.net's internal/chunkedfile):
 *
 *   - The file is split into chunks at lines that are exactly `---`; each chunk runs as its own
 *     module, with line numbers as in the whole file.
 *   - A comment `### REGEXP` (optionally in double quotes or backquotes) on a line means the chunk
 *     must fail with an error reported at that line whose message matches REGEXP.
 *   - `option:NAME` anywhere in a chunk turns on dialect option NAME.
 *   - `load("assert.star", "assert")` gives the assert module (and `freeze`); `load("json.star",
 *     "json")`, `load("math.star", "math")` and `load("time.star", "time")` give those library
 *     modules (time without a clock: `time.now()` fails). `struct` and `module` are
 *     predeclared.
 *
 * A chunk passes when it has no failed assertion, no unexpected error and no missing expected error.
 */
import { Source, formatPosition, type Position } from '../lexer/source.js';
import {
  EvalError,
  ParseError,
  ResolveError,
  StarlarkError,
  Thread,
  OPTION_NAMES,
  execFile,
  type FileOptions,
  type Globals,
  type Value,
} from '../interpreter/index.js';
import { freezeBuiltin, json, makeAssertModule, math, moduleBuiltin, struct, time } from '../stdlib/index.js';
import { compileGoRegexp } from '../stdlib/assert.js';

/** One problem found in a chunk, located by file line. */
export interface ChunkFailure {
  readonly line: number;
  readonly message: string;
}

/** The outcome of one chunk. */
export interface ChunkResult {
  /** 1-based line where the chunk starts. */
  readonly startLine: number;
  readonly failures: readonly ChunkFailure[];
}

/** The outcome of a whole file. */
export interface ChunkedFileResult {
  readonly file: string;
  readonly chunks: readonly ChunkResult[];
  readonly passed: number;
  readonly failed: number;
}

interface Expectation {
  readonly line: number;
  readonly pattern: string;
  matched: boolean;
}

/** Splits a file into chunks: [startLine, text]. */
export function splitChunks(text: string): { startLine: number; text: string }[] {
  const lines = text.split('\n');
  const chunks: { startLine: number; text: string }[] = [];
  let start = 0;
  for (let i = 0; i <= lines.length; i++) {
    if (i === lines.length || lines[i]!.replace(/\r$/, '') === '---') {
      chunks.push({ startLine: start + 1, text: lines.slice(start, i).join('\n') });
      start = i + 1;
    }
  }
  return chunks;
}

/** Undoes Go-style quoting of a double-quoted pattern: \\ and \" and the usual letter escapes. */
function unquote(s: string): string {
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' };
  return s.replace(/\\(.)/g, (m, c: string) => simple[c] ?? m);
}

/** Finds `### pattern` expectations in a chunk. */
function expectations(text: string, startLine: number): Expectation[] {
  const out: Expectation[] = [];
  text.split('\n').forEach((line, i) => {
    const m = /###\s*(.*)$/.exec(line);
    if (!m) return;
    let pat = m[1]!.trim();
    if ((pat.startsWith('"') && pat.endsWith('"') && pat.length >= 2) || (pat.startsWith('`') && pat.endsWith('`') && pat.length >= 2)) {
      pat = pat.startsWith('"') ? unquote(pat.slice(1, -1)) : pat.slice(1, -1);
    }
    out.push({ line: startLine + i, pattern: pat, matched: false });
  });
  return out;
}

function chunkOptions(text: string): FileOptions {
  const opts: Record<string, boolean> = {};
  for (const m of text.matchAll(/option:(\w+)/g)) {
    const name = OPTION_NAMES[m[1]!.toLowerCase()];
    if (name) opts[name] = true;
  }
  return opts as FileOptions;
}

/** The located errors of a failed chunk: [line, message] pairs. */
function errorsOf(e: unknown, file: string): { line: number; message: string }[] {
  if (e instanceof ParseError || e instanceof ResolveError) {
    return e.diagnostics.map((d) => ({ line: d.source.position(d.offset).line, message: d.message }));
  }
  if (e instanceof EvalError) {
    // The innermost Starlark frame in this file gives the line.
    const frame = e.frames.find((f) => f.pos && f.pos.file === file) ?? e.frames.find((f) => f.pos);
    return [{ line: frame?.pos?.line ?? 0, message: e.message }];
  }
  if (e instanceof StarlarkError) return [{ line: 0, message: e.message }];
  return [{ line: 0, message: `internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}` }];
}

/** Options for running chunked tests. */
export interface ChunkedTestOptions {
  /** Receives `print` output. @default discarded */
  readonly print?: (msg: string) => void;
  /** Extra predeclared names. */
  readonly predeclared?: Globals;
  /** Options applied to every chunk, besides its own `option:` lines. */
  readonly options?: FileOptions;
}

/** Runs every chunk of a chunked test file. */
export function runChunkedFile(file: string, text: string, opts: ChunkedTestOptions = {}): ChunkedFileResult {
  const results: ChunkResult[] = [];
  for (const chunk of splitChunks(text)) {
    results.push(runChunk(file, chunk.text, chunk.startLine, opts));
  }
  const failed = results.filter((r) => r.failures.length > 0).length;
  return { file, chunks: results, passed: results.length - failed, failed };
}

function runChunk(file: string, text: string, startLine: number, opts: ChunkedTestOptions): ChunkResult {
  const failures: ChunkFailure[] = [];
  const expected = expectations(text, startLine);
  const options = { ...opts.options, ...chunkOptions(text) };
  let thread: Thread;
  const report = (msg: string): void => {
    const pos: Position | undefined = thread.callerPosition();
    failures.push({ line: pos?.line ?? startLine, message: msg });
  };
  const assertMembers: Globals = new Map<string, Value>([
    ['assert', makeAssertModule(report)],
    ['freeze', freezeBuiltin],
  ]);
  const modules: Record<string, Globals> = {
    'assert.star': assertMembers,
    'json.star': new Map<string, Value>([['json', json]]),
    'math.star': new Map<string, Value>([['math', math]]),
    'time.star': new Map<string, Value>([['time', time]]),
  };
  thread = new Thread({
    name: file,
    print: opts.print ?? (() => {}),
    load: (module) => {
      const m = modules[module];
      if (!m) throw new EvalError(`cannot load ${module}: no such module in chunked tests`);
      return m;
    },
  });
  const predeclared = new Map<string, Value>([
    ['struct', struct],
    ['module', moduleBuiltin],
    ...(opts.predeclared ?? new Map()),
  ]);
  const source = new Source(file, text, startLine - 1);
  try {
    execFile(thread, source, predeclared, options);
  } catch (e) {
    for (const err of errorsOf(e, file)) {
      const exp = expected.find((x) => x.line === err.line && !x.matched && safeTest(x.pattern, err.message));
      if (exp) exp.matched = true;
      else failures.push({ line: err.line, message: `unexpected error: ${err.message}` });
    }
  }
  for (const x of expected) {
    if (!x.matched) failures.push({ line: x.line, message: `expected error matching ${JSON.stringify(x.pattern)} did not occur` });
  }
  return { startLine, failures };
}

function safeTest(pattern: string, message: string): boolean {
  try {
    return compileGoRegexp(pattern).test(message);
  } catch {
    return false;
  }
}

/** Renders failures as `file:line: message` lines and the closing `N passed, M failed` line. */
export function formatChunkedResults(results: readonly ChunkedFileResult[]): string {
  const lines: string[] = [];
  let passed = 0;
  let failed = 0;
  for (const r of results) {
    passed += r.passed;
    failed += r.failed;
    for (const c of r.chunks) for (const f of c.failures) lines.push(`${formatPosition({ file: r.file, line: f.line, column: 1 }).replace(/:1$/, '')}: ${f.message}`);
  }
  lines.push(`${passed} passed, ${failed} failed`);
  return lines.join('\n');
}
