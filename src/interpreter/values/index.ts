/**
 * The values of the language: their representation (value.ts), containers, callables, the operators
 * (ops.ts) and the helpers builtins use to unpack their arguments. The stdlib imports from here.
 */
export * from './value.js';
export * from './int.js';
export * from './list.js';
export * from './dict.js';
export * from './range.js';
export * from './function.js';
export * from './repr.js';
export * from './ops.js';
export * from './unpack-args.js';
export { percentFormat } from './percent-format.js';
export { MAX_ELEMENTS, checkSize } from './allocation.js';
