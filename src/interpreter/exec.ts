/**
 * This file defines the execution entry points of the interpreter: compile a file (parse, resolve,
 * compile, cached by content), execute it as a module, evaluate an expression, call a Starlark
 * callable from JS, and a module loader with a cache and cycle detection for `load`.
 */
import { Source } from '../lexer/source.js';
import { parseExpr, parseFile } from './syntax/index.js';
import type * as ast from './syntax/ast.js';
import { EvalError, ParseError } from './errors.js';
import { resolveFileOptions, type FileOptions, type ResolvedFileOptions } from './options.js';
import { resolveFile } from './resolve/resolver.js';
import { compileFile, COMPILER_VERSION, type Program } from './compile/compiler.js';
import { runtime } from './vm/runtime.js';
import { SLICE_END, Thread, type Outcome } from './vm/thread.js';
import { callGen } from './vm/runtime.js';
import { Module } from './values/function.js';
import { Pending, type KwArgs, type Value } from './values/value.js';

/** Names and values visible to a module besides its own globals. */
export type Globals = ReadonlyMap<string, Value>;

let universe: Globals = new Map();
let universeVersion = 0;

/**
 * Installs the universal builtins (len, range, ...). The stdlib calls this when it is imported; the
 * interpreter itself knows no builtins, as in go.starlark.net's split of syntax and library.
 * @internal
 */
export function setUniverse(u: Globals): void {
  universe = u;
  universeVersion++;
}

/** The universal builtins currently installed. */
export function getUniverse(): Globals {
  return universe;
}

/** The result of executing a module: its globals (frozen). */
export type ModuleGlobals = Map<string, Value>;

const programCache = new Map<string, Program>();
const MAX_CACHED = 500;

function toSource(src: Source | string, name = '<expr>'): Source {
  return typeof src === 'string' ? new Source(name, src) : src;
}

/**
 * Parses, resolves and compiles a file; results are cached by (name, text, options, predeclared names).
 * @throws ParseError or ResolveError
 */
export function compileProgram(source: Source, predeclared: Globals, options: FileOptions = {}, moduleName = source.name): Program {
  const opts = resolveFileOptions(options);
  const key = JSON.stringify([COMPILER_VERSION, universeVersion, source.name, source.lineOffset, source.text, opts, moduleName, [...predeclared.keys()].sort()]);
  const hit = programCache.get(key);
  if (hit) return hit;
  const file = parseFile(source);
  const program = compileParsed(file, predeclared, opts, moduleName);
  if (programCache.size >= MAX_CACHED) programCache.delete(programCache.keys().next().value!);
  programCache.set(key, program);
  return program;
}

function compileParsed(file: ast.File, predeclared: Globals, opts: ResolvedFileOptions, moduleName: string): Program {
  try {
    return compileParsedUnguarded(file, predeclared, opts, moduleName);
  } catch (e) {
    // A program nested more deeply than the compiler (or V8's parser) can follow is a clean error.
    if (e instanceof RangeError || (e instanceof SyntaxError && /stack/i.test(e.message))) {
      throw new ParseError([{ source: file.source, offset: 0, message: 'program too deeply nested to compile (split long expressions or chains)' }]);
    }
    throw e;
  }
}

function compileParsedUnguarded(file: ast.File, predeclared: Globals, opts: ResolvedFileOptions, moduleName: string): Program {
  const resolved = resolveFile(
    file,
    opts,
    (n) => predeclared.has(n),
    (n) => universe.has(n),
    () => [...universe.keys(), ...predeclared.keys()],
  );
  return compileFile(resolved, opts, moduleName);
}

/**
 * Runs through the ends of time slices (SLICE_END) of a thread that has `sliceUntil` set: a
 * synchronous entry point does not give the event loop a turn, so a slice end is only a pause.
 */
function throughSlices<T>(thread: Thread, out: Outcome<T>): Outcome<T> {
  while (!out.done && out.pending === SLICE_END) out = thread.resume<T>(null);
  return out;
}

/**
 * Starts executing a compiled program on a thread; see `startFile`. Returns SLICE_END as the pending
 * value when the thread's `sliceUntil` has passed (continue with `thread.resume(null)`).
 */
export function startProgram(thread: Thread, program: Program, predeclared: Globals): Outcome<ModuleGlobals> {
  const fn = program.factory(runtime, program.constants);
  const gen = fn(
    thread,
    (n) => predeclared.get(n)!,
    (n) => universe.get(n)!,
  );
  return thread.start(gen as never, (values) => globalsOf(program, values as unknown as Value[]));
}

/** The exported globals of a finished module, frozen (spec: "freezing"). */
function globalsOf(program: Program, arr: Value[]): ModuleGlobals {
  const globals: ModuleGlobals = new Map();
  program.globals.forEach((name, i) => {
    const v = arr[i];
    if (v !== undefined) globals.set(name, v);
  });
  for (const v of globals.values()) if (v !== null && typeof v === 'object') v.freeze();
  return globals;
}

/**
 * Executes a file as a module; it may suspend at a blocking builtin (see `Thread.resume`).
 * @returns the module's globals when it finishes, or the Pending it waits on
 * @throws ParseError, ResolveError, or EvalError (with a Starlark traceback)
 */
export function startFile(thread: Thread, source: Source | string, predeclared: Globals = new Map(), options: FileOptions = {}): Outcome<ModuleGlobals> {
  const program = compileProgram(toSource(source, '<input>'), predeclared, options);
  return startProgram(thread, program, predeclared);
}

/**
 * Executes a file as a module without blocking the event loop: the script runs in time slices of
 * `sliceMs` (see `Thread.startAsync`), so an AbortSignal aborted by a timer (or anything else)
 * cancels it, within about a slice plus the longest single operator in progress (builtins on large
 * values work incrementally and end a slice like the script does).
 * @throws ParseError, ResolveError, or EvalError (kind 'cancelled' when aborted, 'budget' for a budget)
 */
export async function execFileAsync(
  thread: Thread,
  source: Source | string,
  predeclared: Globals = new Map(),
  options: FileOptions = {},
  sliceMs = 20,
): Promise<ModuleGlobals> {
  const program = compileProgram(toSource(source, '<input>'), predeclared, options);
  const fn = program.factory(runtime, program.constants);
  const gen = fn(thread, (n) => predeclared.get(n)!, (n) => universe.get(n)!);
  const out = await thread.startAsync(gen as never, (values) => globalsOf(program, values as unknown as Value[]), sliceMs);
  if (!out.done) {
    thread.abandon();
    throw new EvalError('the script waited for the host, but execFileAsync cannot supply values (use startFile)');
  }
  return out.value;
}

/**
 * Executes a file as a module, synchronously, and returns its globals (frozen).
 * @throws ParseError, ResolveError, or EvalError; an EvalError too if the script tries to suspend
 * @example
 * const globals = execFile(new Thread(), new Source('a.star', 'x = 1 + 2'), new Map());
 * globals.get('x') // 3
 */
export function execFile(thread: Thread, source: Source | string, predeclared: Globals = new Map(), options: FileOptions = {}): ModuleGlobals {
  const out = throughSlices(thread, startFile(thread, source, predeclared, options));
  if (!out.done) {
    thread.abandon();
    throw new EvalError('the script waited for the host, but execFile runs synchronously (use startFile)');
  }
  return out.value;
}

/**
 * Evaluates one expression.
 * @throws ParseError, ResolveError, or EvalError
 * @example evalExpr(new Thread(), '[x * x for x in range(4)]') // List [0, 1, 4, 9]
 */
export function evalExpr(thread: Thread, source: Source | string, predeclared: Globals = new Map(), options: FileOptions = {}): Value {
  const src = toSource(source, '<expr>');
  const expr = parseExpr(src);
  // An expression is compiled as a one-statement module assigning a hidden global.
  const name: ast.Ident = { kind: 'Ident', name: '_', span: expr.span };
  const file: ast.File = {
    kind: 'File',
    source: src,
    span: expr.span,
    stmts: [{ kind: 'AssignStmt', op: '=', lhs: name, rhs: expr, opPos: expr.span.start, span: expr.span }],
  };
  const opts = resolveFileOptions({ ...options, globalReassign: true });
  const program = compileParsed(file, predeclared, opts, src.name);
  const out = throughSlices(thread, startProgram(thread, program, predeclared));
  if (!out.done) {
    thread.abandon();
    throw new EvalError('the expression waited for the host, but evalExpr runs synchronously');
  }
  return out.value.get('_') ?? null;
}

/**
 * Calls a Starlark callable (function or builtin) from JS, synchronously.
 * @throws EvalError
 */
export function call(thread: Thread, fn: Value, args: Value[] = [], kwargs: KwArgs | null = null): Value {
  return thread.call(fn, args, kwargs);
}

/**
 * Starts a call that may suspend; resume with `thread.resume`. Returns SLICE_END as the pending
 * value when the thread's `sliceUntil` has passed (continue with `thread.resume(null)`).
 */
export function startCall(thread: Thread, fn: Value, args: Value[] = [], kwargs: KwArgs | null = null): Outcome<Value> {
  return thread.start(callGen(thread, fn, args, kwargs), (v) => v);
}

/** What a module loader's `resolve` returns for a module name. */
export type LoadedModule =
  /** Starlark source to execute as a module. */
  | { readonly source: Source; readonly predeclared?: Globals; readonly options?: FileOptions }
  /** A module implemented in JS (e.g. `json.star`): its members. */
  | { readonly members: Globals };

/** Options of `makeLoader`. */
export interface LoaderOptions {
  /** Maps a module name (as written in `load`) to its source or members; undefined if unknown. */
  readonly resolve: (module: string, fromThread: Thread) => LoadedModule | undefined;
  /** Predeclared names for loaded Starlark modules. @default none */
  readonly predeclared?: Globals;
  /** Dialect options for loaded Starlark modules. @default all off */
  readonly options?: FileOptions;
  /** Creates the thread a loaded module runs on. @default a new Thread with the loader */
  readonly makeThread?: (module: string, load: (m: string, t: Thread) => ReadonlyMap<string, Value> | Pending) => Thread;
}

/**
 * Creates a `load` hook with a module cache and cycle detection: each module runs once, and a cycle
 * (a.star loads b.star loads a.star) fails with a clear error.
 */
export function makeLoader(opts: LoaderOptions): (module: string, thread: Thread) => ReadonlyMap<string, Value> {
  const cache = new Map<string, ReadonlyMap<string, Value> | 'loading'>();
  const load = (module: string, thread: Thread): ReadonlyMap<string, Value> => {
    const hit = cache.get(module);
    if (hit === 'loading') throw new EvalError(`cannot load ${module}: cycle in load graph`);
    if (hit) return hit;
    const found = opts.resolve(module, thread);
    if (!found) throw new EvalError(`cannot load ${module}: no such module`);
    if ('members' in found) {
      cache.set(module, found.members);
      return found.members;
    }
    cache.set(module, 'loading');
    try {
      const th = opts.makeThread ? opts.makeThread(module, load) : new Thread({ name: module, load });
      const globals = execFile(th, found.source, found.predeclared ?? opts.predeclared ?? new Map(), found.options ?? opts.options ?? {});
      cache.set(module, globals);
      return globals;
    } catch (e) {
      cache.delete(module);
      if (e instanceof EvalError) throw new EvalError(`cannot load ${module}: ${e.message}`, e.kind, { cause: e });
      throw e;
    }
  };
  return load;
}

/** Wraps module globals as a module value (e.g. for `load("x.star", x = "x")`-style access). */
export function moduleValue(name: string, members: Globals): Module {
  return new Module(name, members);
}
