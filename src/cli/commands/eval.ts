/**
 * This file defines `larkflow eval`: run a Starlark file as a module (print goes to stdout, errors to
 * stderr), or print the value of an expression with `-c`.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  Source,
  Thread,
  execFile,
  evalExpr,
  makeLoader,
  repr,
  utf8Decode,
  utf8Encode,
  type FileOptions,
  type Globals,
  type Value,
} from '../../interpreter/index.js';
import { json, math, moduleBuiltin, struct } from '../../stdlib/index.js';
import { CliError } from '../errors.js';

/** Names every `larkflow eval` script sees besides the universe. */
export function evalPredeclared(): Globals {
  return new Map<string, Value>([
    ['struct', struct],
    ['module', moduleBuiltin],
    ['json', json],
    ['math', math],
  ]);
}

/** Library modules `load` can name without a file. */
const LIBRARY: Record<string, Globals> = {
  'json.star': new Map<string, Value>([['json', json]]),
  'math.star': new Map<string, Value>([['math', math]]),
};

/** Reads a file as UTF-16 text, with a clear error if it is missing. */
export function readSourceFile(path: string): Source {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `cannot read ${path}: no such file` : code === 'EISDIR' ? `cannot read ${path}: it is a directory` : `cannot read ${path}: ${(e as Error).message}`, 1);
  }
  return new Source(path, text);
}

/** Runs a file; returns nothing (output goes through print). */
export function evalFile(path: string, options: FileOptions, out: (s: string) => void): void {
  const source = readSourceFile(path);
  const predeclared = evalPredeclared();
  const baseDir = dirname(resolve(path));
  const load = makeLoader({
    predeclared,
    options,
    resolve: (module) => {
      if (LIBRARY[module]) return { members: LIBRARY[module] };
      const file = resolve(baseDir, module);
      return { source: readSourceFile(file) };
    },
    makeThread: (module, loadFn) => new Thread({ name: module, load: loadFn, print: (m) => out(m) }),
  });
  const thread = new Thread({ name: path, load, print: (m) => out(m) });
  execFile(thread, source, predeclared, options);
}

/** Evaluates an expression and returns its repr as text. */
export function evalExpression(expr: string, options: FileOptions, out: (s: string) => void): string {
  const thread = new Thread({ name: '<expr>', print: (m) => out(m) });
  const v = evalExpr(thread, new Source('<expr>', expr), evalPredeclared(), options);
  void utf8Encode;
  return utf8Decode(repr(v));
}
