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
export { reprPieces, isBig as printsIncrementally } from './repr-pieces.js';
export * from './ops.js';
export * from './unpack-args.js';
export { percentFormat } from './percent-format.js';
export {
  MAX_ELEMENTS,
  checkSize,
  chargeBytes,
  chargeSteps,
  chargeCopy,
  chargeText,
  chargeScan,
  growthBytes,
  SLOT_BYTES,
  OBJECT_BYTES,
  ENTRY_BYTES,
  BYTES_PER_STEP,
  COPIES_PER_STEP,
  STEP_CHUNK,
} from './budget.js';
export { incremental } from './job.js';
