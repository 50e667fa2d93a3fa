/**
 * The Starlark interpreter: the public embedding API. Pipeline: lexer (src/lexer) → parser
 * (syntax/) → resolver (resolve/) → compiler to JS generators (compile/) → thread driver (vm/).
 * Values live in values/. Builtins are not defined here: the stdlib installs them.
 */
export { Source, type Span, type Position, formatPosition, codeFrame } from '../lexer/source.js';
export * from './errors.js';
export * from './options.js';
export * from './values/index.js';
export { Thread, SLICE_END, type ThreadOptions, type ThreadLimits, type Outcome, type LoadHook } from './vm/thread.js';
export { liveHeapLimit } from './vm/heap-guard.js';
/** Binds call arguments to a Starlark function's parameters (throws the reference's errors). */
export { bindArgs } from './vm/runtime.js';
export {
  execFile,
  execFileAsync,
  startFile,
  evalExpr,
  call,
  startCall,
  compileProgram,
  startProgram,
  makeLoader,
  moduleValue,
  setUniverse,
  getUniverse,
  type Globals,
  type ModuleGlobals,
  type LoadedModule,
  type LoaderOptions,
} from './exec.js';
export type { Program } from './compile/compiler.js';
export { parseFile, parseExpr } from './syntax/index.js';
