/**
 * This file defines the callable values: `Function` (a Starlark def or lambda, compiled to a JS
 * generator function by compile/) and `Builtin` (a function written in JS), plus `Module`.
 *
 * Calling convention of a compiled Function: its generator is invoked with one JS argument per
 * parameter, in the order of `code.params` (positional params, then `*args` as a Tuple if present,
 * then keyword-only params, then `**kwargs` as a Dict if present). The call machinery in vm/call.ts
 * binds a call's positional and keyword arguments to that order and fills defaults.
 * The generator yields only to the thread driver (a Pending value, or the budget tick), and returns
 * the function's result.
 */
import type { Source } from '../../lexer/source.js';
import { EvalError } from '../errors.js';
import { identityKey } from './dict.js';
import { StarValue, type KwArgs, type Pending, type ThreadContext, type Value } from './value.js';

/** What a compiled generator yields to the thread driver. */
export type Yielded = Pending | typeof TICK;
/** Yielded when the step budget's chunk is spent: the driver checks budgets and cancellation. */
export const TICK: unique symbol = Symbol('larkflow.tick');

export type StarGenerator = Generator<Yielded, Value, Value>;

/** The static description of a def or lambda (one per site in the source). */
export interface FunctionCode {
  readonly name: string;
  readonly source: Source;
  /** Offset of the def/lambda keyword. */
  readonly pos: number;
  /** End offset of the def/lambda (its source text is source.text.slice(pos, end)). */
  readonly end?: number;
  /** Parameter names in calling-convention order (see file comment). */
  readonly params: readonly string[];
  /** Number of ordinary (positional-or-keyword) parameters. */
  readonly numPositional: number;
  readonly numKwonly: number;
  readonly hasVarargs: boolean;
  readonly hasKwargs: boolean;
  /** Defaults of positional params then kw-only ones: index i is for params slot; undefined = required. */
  readonly hasDefaults: boolean;
}

/** A function defined in Starlark. */
export class Function extends StarValue {
  /** Positional argument counts accepted without binding (see vm/runtime.ts posMaskOf). */
  posMask = 0;
  /** The values of the variables the function captures (set by the compiler when there are any). */
  captured: (() => (Value | undefined)[]) | undefined;
  private frozen = false;
  constructor(
    readonly code: FunctionCode,
    /** Default values, one slot per non-variadic param (undefined where required). */
    readonly defaults: readonly (Value | undefined)[],
    /** The compiled body. `this` is unused. */
    readonly gen: (...args: Value[]) => StarGenerator,
    /** The name of the module that defined it. */
    readonly module: string,
  ) {
    super();
  }
  get type(): string {
    return 'function';
  }
  get name(): string {
    return this.code.name;
  }
  repr(out: string[]): void {
    out.push(`<function ${this.code.name}>`);
  }
  override freeze(): void {
    if (this.frozen) return;
    this.frozen = true;
    for (const d of this.defaults) if (d !== undefined && d !== null && typeof d === 'object') d.freeze();
    // Freezing a function freezes what it captures, as in the reference.
    if (this.captured) for (const v of this.captured()) if (v !== undefined && v !== null && typeof v === 'object') v.freeze();
  }
  override hashKey(): unknown {
    return identityKey(this);
  }
}

/**
 * The implementation of a builtin. `recv` is the receiver for methods (`x.append(y)`), else null.
 * It may return a `Pending` to suspend the calling thread; the value the host resumes with becomes
 * the call's result.
 */
export type BuiltinImpl = (th: ThreadContext, args: Value[], kwargs: KwArgs | null, recv: Value) => Value | Pending;

/** A function or bound method written in JS. */
export class Builtin extends StarValue {
  constructor(
    readonly name: string,
    readonly impl: BuiltinImpl,
    /** The receiver of a bound method, or null. */
    readonly recv: Value = null,
    readonly isMethod = false,
  ) {
    super();
  }
  get type(): string {
    return 'builtin_function_or_method';
  }
  repr(out: string[]): void {
    if (this.isMethod && this.recv !== null) {
      const t = typeof this.recv === 'object' ? this.recv.type : typeof this.recv === 'string' ? 'string' : typeof this.recv === 'boolean' ? 'bool' : 'int';
      out.push(`<built-in method ${this.name} of ${t} value>`);
    } else {
      out.push(`<built-in function ${this.name}>`);
    }
  }
  override hashKey(): unknown {
    return identityKey(this);
  }
  /** Binds a method to a receiver. */
  bind(recv: Value): Builtin {
    return new Builtin(this.name, this.impl, recv, true);
  }
}

/** A module value, e.g. what `load("json.star", "json")` or `module("m", x = 1)` gives. */
export class Module extends StarValue {
  frozen = true;
  constructor(
    readonly name: string,
    readonly members: ReadonlyMap<string, Value>,
  ) {
    super();
  }
  get type(): string {
    return 'module';
  }
  repr(out: string[]): void {
    out.push(`<module "${this.name}">`);
  }
  override getAttr(name: string): Value | undefined {
    return this.members.get(name);
  }
  override attrNames(): string[] {
    return [...this.members.keys()].sort();
  }
  override freeze(): void {
    for (const v of this.members.values()) if (v !== null && typeof v === 'object') v.freeze();
  }
  /** As in go.starlark.net's starlarkstruct.Module, a module is not hashable. */
  override hashKey(): unknown {
    throw new EvalError(`unhashable: ${this.type}`);
  }
}
