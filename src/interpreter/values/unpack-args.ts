/**
 * This file defines the argument-unpacking helpers for builtins written in JS, after
 * go.starlark.net's UnpackArgs: parameters are named in a spec list, a trailing `?` marks an optional
 * parameter, and errors are worded as the reference words them ("sorted: missing argument for
 * iterable", "got 3 arguments, want at most 2", "unexpected keyword argument...").
 */
import { EvalError } from '../errors.js';
import { suggest } from './ops.js';
import { str } from './repr.js';
import { Bytes, Float, isInt, typeName, type KwArgs, type Value } from './value.js';

/**
 * Binds `args`/`kwargs` to the parameters in `spec` ("name" required, "name?" optional).
 * Returns one slot per parameter; an omitted optional parameter is `undefined`.
 * @throws EvalError with the reference's wording.
 * @example const [iterable, key, reverse] = unpackArgs('sorted', args, kwargs, ['iterable', 'key?', 'reverse?']);
 */
export function unpackArgs(fnName: string, args: readonly Value[], kwargs: KwArgs | null, spec: readonly string[]): (Value | undefined)[] {
  const out = new Array<Value | undefined>(spec.length);
  if (args.length > spec.length) {
    throw new EvalError(`${fnName}: got ${args.length} arguments, want at most ${spec.length}`);
  }
  for (let i = 0; i < args.length; i++) out[i] = args[i];
  if (kwargs !== null) {
    for (const [name, v] of kwargs) {
      let i = -1;
      for (let j = 0; j < spec.length; j++) {
        const p = spec[j]!;
        const n = p.endsWith('?') ? p.slice(0, -1) : p;
        if (n === name) {
          i = j;
          break;
        }
      }
      if (i < 0) {
        const hint = suggest(name, spec.map((p) => p.replace(/\?$/, '')));
        throw new EvalError(`${fnName}: unexpected keyword argument ${name}${hint ? ` (did you mean ${hint}?)` : ''}`);
      }
      if (out[i] !== undefined) throw new EvalError(`${fnName}: got multiple values for keyword argument ${name}`);
      out[i] = v;
    }
  }
  for (let i = 0; i < spec.length; i++) {
    const p = spec[i]!;
    if (out[i] === undefined && !p.endsWith('?')) throw new EvalError(`${fnName}: missing argument for ${p}`);
  }
  return out;
}

/**
 * Checks a builtin that takes only positional arguments: between `min` and `max` of them, no keywords.
 */
export function unpackPositional(fnName: string, args: readonly Value[], kwargs: KwArgs | null, min: number, max = min): void {
  if (kwargs !== null && kwargs.length > 0) throw new EvalError(`${fnName}: unexpected keyword arguments`);
  if (args.length < min) {
    throw new EvalError(`${fnName}: got ${args.length} arguments, want ${min === max ? '' : 'at least '}${min}`);
  }
  if (args.length > max) {
    throw new EvalError(`${fnName}: got ${args.length} arguments, want ${min === max ? '' : 'at most '}${max}`);
  }
}

/** The reference's type error for a parameter: "fn: for parameter p: got T, want W". */
export function wantError(fnName: string, param: string, v: Value, want: string): EvalError {
  return new EvalError(`${fnName}: for parameter ${param}: got ${typeName(v)}, want ${want}`);
}

/** An int parameter as a JS number (ints beyond 2^53 fail as out of range). */
export function asInt(fnName: string, param: string, v: Value): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') throw new EvalError(`${fnName}: for parameter ${param}: ${str(v)} out of range`);
  throw wantError(fnName, param, v, 'int');
}

/** An int parameter, big ints allowed. */
export function asBigInt(fnName: string, param: string, v: Value): number | bigint {
  if (isInt(v)) return v;
  throw wantError(fnName, param, v, 'int');
}

export function asString(fnName: string, param: string, v: Value): string {
  if (typeof v === 'string') return v;
  throw wantError(fnName, param, v, 'string');
}

export function asBool(fnName: string, param: string, v: Value): boolean {
  if (typeof v === 'boolean') return v;
  throw wantError(fnName, param, v, 'bool');
}

/** A number parameter (int or float) as a JS number. */
export function asFloat(fnName: string, param: string, v: Value): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Float) return v.v;
  throw wantError(fnName, param, v, 'float or int');
}

export function asBytes(fnName: string, param: string, v: Value): string {
  if (v instanceof Bytes) return v.s;
  throw wantError(fnName, param, v, 'bytes');
}
