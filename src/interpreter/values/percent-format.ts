/** Placeholder until the string-formatting module lands; replaced by the stdlib work. */
import { EvalError } from '../errors.js';
import type { Value } from './value.js';
export function percentFormat(_format: string, _arg: Value): string {
  throw new EvalError('not supported yet: % formatting');
}
