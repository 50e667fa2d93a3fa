/**
 * This file defines the run-time support that compiled code calls: calls and argument binding,
 * function entry (call depth, recursion check, step budget), error frames, unpacking, loads, and the
 * small inlinable fast paths for arithmetic, comparison and indexing. Generated code receives these as
 * one object (`Runtime`) and binds each to a local constant, so V8 can inline the fast paths.
 *
 * Nothing here may allocate on the common path of an arithmetic op or a positional call.
 */
import type { Source } from '../../lexer/source.js';
import { EvalError, InternalError, StarlarkError } from '../errors.js';
import * as ops from '../values/ops.js';
import { Dict, StarSet, hashKey } from '../values/dict.js';
import { Builtin, Function, TICK, type BuiltinImpl, type FunctionCode, type StarGenerator, type Yielded } from '../values/function.js';
import { List, Tuple, EMPTY_TUPLE, checkMutable } from '../values/list.js';
import { Range } from '../values/range.js';
import { chargeBytes, chargeCopy, checkSize, growthBytes, SLOT_BYTES } from '../values/budget.js';
import { repr } from '../values/repr.js';
import { Float, Pending, StarValue, truth, typeName, type KwArgs, type Value } from '../values/value.js';
import type { Thread } from './thread.js';

const MAX = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------------------------------------
// Fast paths (small, so V8 inlines them into compiled code)

export function add(x: Value, y: Value): Value {
  if (typeof x === 'number' && typeof y === 'number') {
    const r = x + y;
    if (r <= MAX && r >= -MAX) return r;
  }
  return ops.add(x, y);
}
export function sub(x: Value, y: Value): Value {
  if (typeof x === 'number' && typeof y === 'number') {
    const r = x - y;
    if (r <= MAX && r >= -MAX) return r;
  }
  return ops.sub(x, y);
}
export function mul(x: Value, y: Value): Value {
  if (typeof x === 'number' && typeof y === 'number') {
    const r = x * y;
    if (r <= MAX && r >= -MAX) return r === 0 ? 0 : r;
  }
  return ops.mul(x, y);
}
export function mod(x: Value, y: Value): Value {
  if (typeof x === 'number' && typeof y === 'number' && y > 0 && x >= 0) return x % y;
  return ops.mod(x, y);
}
export function floorDiv(x: Value, y: Value): Value {
  if (typeof x === 'number' && typeof y === 'number' && y > 0 && x >= 0) return Math.floor(x / y);
  return ops.floorDiv(x, y);
}
export function lt(x: Value, y: Value): boolean {
  if (typeof x === 'number' && typeof y === 'number') return x < y;
  if (x instanceof StarSet && y instanceof StarSet) return ops.setCompare('<', x, y);
  return ops.compare(x, y, '<') < 0;
}
export function gt(x: Value, y: Value): boolean {
  if (typeof x === 'number' && typeof y === 'number') return x > y;
  if (x instanceof StarSet && y instanceof StarSet) return ops.setCompare('>', x, y);
  return ops.compare(x, y, '>') > 0;
}
export function le(x: Value, y: Value): boolean {
  if (typeof x === 'number' && typeof y === 'number') return x <= y;
  if (x instanceof StarSet && y instanceof StarSet) return ops.setCompare('<=', x, y);
  return ops.compare(x, y, '<=') <= 0;
}
export function ge(x: Value, y: Value): boolean {
  if (typeof x === 'number' && typeof y === 'number') return x >= y;
  if (x instanceof StarSet && y instanceof StarSet) return ops.setCompare('>=', x, y);
  return ops.compare(x, y, '>=') >= 0;
}
export function eq(x: Value, y: Value): boolean {
  if (x === y) return typeof x !== 'object' || ops.equals(x, y); // a cyclic container fails
  const tx = typeof x;
  if (tx !== 'object' && tx === typeof y) return false;
  return ops.equals(x, y);
}
export function ne(x: Value, y: Value): boolean {
  return !eq(x, y);
}
export function isTrue(x: Value): boolean {
  return typeof x === 'boolean' ? x : truth(x);
}
export function index(x: Value, i: Value): Value {
  if (x instanceof List && typeof i === 'number' && i >= 0 && i < x.elems.length) return x.elems[i]!;
  if (x instanceof Dict && (typeof i === 'string' || typeof i === 'number')) {
    const v = x.map.get(i);
    if (v !== undefined) return v;
  }
  return ops.index(x, i);
}
export function setIndex(x: Value, i: Value, v: Value): void {
  if (x instanceof List && typeof i === 'number' && i >= 0 && i < x.elems.length && !x.frozen && x.itercount === 0) {
    x.elems[i] = v;
    return;
  }
  ops.setIndex(x, i, v);
}

/** `x += y` etc.: like the binary op, except that `list += iterable` extends the list in place. */
export function augmented(op: string, x: Value, y: Value): Value {
  if (op === '+') {
    if (typeof x === 'number' && typeof y === 'number') return add(x, y);
    if (x instanceof List) {
      let elems: readonly Value[] | Range | undefined;
      try {
        elems = ops.iterElems(y);
      } catch (err) {
        if (!(err instanceof EvalError && /is not iterable/.test(err.message))) throw err;
        elems = undefined; // not iterable: `list + y` reports the error below
      }
      if (elems !== undefined) {
        checkMutable(x, 'apply += to');
        checkSize(x.elems.length + elems.length, 'list');
        const extra = elems instanceof Range ? ops.toArray(elems) : elems === x.elems ? elems.slice() : elems;
        chargeCopy(extra.length);
        chargeBytes(growthBytes(x.elems.length, extra.length));
        for (let i = 0; i < extra.length; i++) x.elems.push(extra[i]!);
        return x;
      }
    }
    return ops.add(x, y);
  }
  if (op === '|' && x instanceof Dict && y instanceof Dict) {
    checkMutable(x, 'apply |= to');
    chargeCopy(y.size);
    for (const [k, v] of y.entries()) x.set(k, v);
    return x;
  }
  return ops.binary(op, x, y);
}

// ---------------------------------------------------------------------------------------------
// Unbound variables, unpacking, literals

export function unboundLocal(name: string): never {
  throw new EvalError(`local variable ${name} referenced before assignment`);
}
export function unboundGlobal(name: string): never {
  throw new EvalError(`global variable ${name} referenced before assignment`);
}

/** `a, b = v`: the n elements of v, with the reference's errors. Reads no more than it needs. */
export function unpack(v: Value, n: number): readonly Value[] {
  let elems: readonly Value[];
  if (v instanceof Tuple || v instanceof List) elems = v.elems;
  else if (v instanceof Range) {
    if (v.length !== n) throw new EvalError(`too ${v.length > n ? 'many' : 'few'} values to unpack (got ${v.length}, want ${n})`);
    elems = ops.toArray(v);
  } else {
    let e: readonly Value[] | Range;
    try {
      e = ops.iterElems(v);
    } catch (err) {
      if (err instanceof EvalError && /is not iterable/.test(err.message)) throw new EvalError(`got ${typeName(v)} in sequence assignment`);
      throw err;
    }
    elems = e instanceof Range ? ops.toArray(e) : e;
  }
  if (elems.length > n) throw new EvalError(`too many values to unpack (got ${elems.length}, want ${n})`);
  if (elems.length < n) throw new EvalError(`too few values to unpack (got ${elems.length}, want ${n})`);
  return elems;
}

/**
 * One entry of a dict literal `{k: v, ...}`, inserted as soon as it is evaluated (the compiler sets
 * the error position to the entry's colon). As in go.starlark.net, a key already present is an error.
 */
export function dictPut(d: Dict, k: Value, v: Value): Dict {
  const hk = hashKey(k);
  if (d.map.has(hk)) throw new EvalError(`duplicate key: ${repr(k)}`);
  d.set(k, v);
  return d;
}

/**
 * Appends to a comprehension's result list. The list is charged as it doubles (when its length is 0
 * or a power of two, the slots of the next `max(length, 8)` elements and the reallocation of its
 * backing store), so it costs what it holds, amortised, with one test per element.
 */
export function push(_th: Thread, l: List, v: Value): void {
  const n = l.elems.length;
  if ((n & (n - 1)) === 0) {
    chargeBytes((n < 8 ? 8 : 3 * n) * SLOT_BYTES);
    checkSize(2 * n, 'list');
  }
  l.elems.push(v);
}

// ---------------------------------------------------------------------------------------------
// Functions and calls

/** Creates a Function value when a def or lambda is executed. */
export function makeFunction(
  code: FunctionCode,
  defaults: (Value | undefined)[],
  gen: (...args: Value[]) => StarGenerator,
  module: string,
  captured?: () => (Value | undefined)[],
): Function {
  const f = new Function(code, defaults, gen as never, module);
  if (captured) f.captured = captured;
  f.posMask = posMaskOf(code, defaults);
  return f;
}

/**
 * Bitmask of positional argument counts a simple function accepts directly (bit n set: n args are
 * fine without binding). 0 for functions with *args, **kwargs or keyword-only parameters.
 */
export function posMaskOf(code: FunctionCode, defaults: readonly (Value | undefined)[]): number {
  if (code.hasVarargs || code.hasKwargs || code.numKwonly > 0 || code.numPositional > 30) return 0;
  let required = code.numPositional;
  while (required > 0 && defaults[required - 1] !== undefined) required--;
  let mask = 0;
  for (let n = required; n <= code.numPositional; n++) mask |= 1 << n;
  return mask;
}

/** Called on entry to every Starlark function: depth limit, recursion check, step budget. */
export function enter(th: Thread, code: FunctionCode, recursionAllowed: boolean): void {

  const stack = th.stack;
  if (stack.length >= th.maxCallDepth) {
    // go.starlark.net's wording; an ordinary evaluation error, so assert.fails can catch it.
    throw new EvalError(`Starlark stack overflow (call stack deeper than ${th.maxCallDepth} frames)`);
  }
  if (!recursionAllowed) {
    for (let i = stack.length - 1; i >= 0; i--) {
      if (stack[i] === code) throw new EvalError(`function ${code.name} called recursively`);
    }
  }
  stack.push(code);
}

/** Records the Starlark frame an error passes through, and converts host errors. */
export function frame(e: unknown, code: FunctionCode | ModuleCode, offset: number): EvalError {
  const err = toEvalError(e);
  err.frames.push({ name: code.name, pos: code.source.position(offset), source: code.source });
  return err;
}

/** The static description of a module's top-level code, for tracebacks. */
export interface ModuleCode {
  readonly name: string;
  readonly source: Source;
}

/** Converts anything thrown inside compiled code into an EvalError. */
export function toEvalError(e: unknown): EvalError {
  if (e instanceof EvalError) return e;
  if (e instanceof StarlarkError) {
    const err = new EvalError(e.message, e.kind, { cause: e });
    return err;
  }
  // The host's stack ran out before maxCallDepth was reached (calls nest on the JS stack). With
  // little stack left even compiling a regular expression fails (a SyntaxError that says so), so
  // this test uses plain string search.
  if (e instanceof Error && e.message.includes('Maximum call stack size exceeded')) {
    return new EvalError('Starlark stack overflow (the host stack is exhausted)', 'eval', { cause: e });
  }
  if (e instanceof RangeError && /Invalid (string|array) length/i.test(e.message)) {
    return new EvalError('allocation budget exceeded: value too large', 'budget', { cause: e });
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new EvalError(`internal error: ${msg}`, 'internal', { cause: e });
}

/** Calls a builtin, naming it in the traceback if it fails. */
export function callBuiltin(th: Thread, b: Builtin, args: Value[], kw: KwArgs | null, callerOffset = -1): Value | Pending {
  th.callerOffset = callerOffset;
  try {
    return b.impl(th, args, kw, b.recv);
  } catch (e) {
    throw builtinFrame(e, b.name);
  }
}

/** Calls method `impl` named `name` on receiver `recv`. */
export function callMethod(th: Thread, impl: BuiltinImpl, name: string, recv: Value, args: Value[], kw: KwArgs | null, callerOffset = -1): Value | Pending {
  th.callerOffset = callerOffset;
  try {
    return impl(th, args, kw, recv);
  } catch (e) {
    throw builtinFrame(e, name);
  }
}

/** `e` as an EvalError whose innermost frame names the builtin `name` (unless it already has frames). */
export function builtinFrame(e: unknown, name: string): EvalError {
  const err = toEvalError(e);
  if (err.frames.length === 0) err.frames.push({ name });
  return err;
}

/** The method implementation for `recv.name(...)` when recv is a built-in type, else undefined. */
export function method(recv: Value, name: string): BuiltinImpl | undefined {
  if (recv instanceof StarValue && recv.getAttr) return undefined;
  return ops.methodsOf(typeName(recv))?.get(name);
}

/** Any call that is not a fast path: binds arguments, handles every callable kind. */
export function* callGen(th: Thread, f: Value, args: Value[], kw: KwArgs | null, callerOffset = -1): StarGenerator {
  if (f instanceof Function) {
    const bound = bindArgs(f, args, kw);
    return yield* f.gen(th as never, ...bound);
  }
  if (f instanceof Builtin) {
    const r = callBuiltin(th, f, args, kw, callerOffset);
    return r instanceof Pending ? ((yield r) as Value) : r;
  }
  throw new EvalError(`invalid call of non-function (${typeName(f)})`);
}

/** Builds the positional argument array of a call with `*args`. */
export function spreadArgs(pos: Value[], star: Value): Value[] {
  let e: readonly Value[] | Range;
  try {
    e = ops.iterElems(star);
  } catch (err) {
    if (err instanceof EvalError && /is not iterable/.test(err.message)) throw new EvalError(`argument after * must be iterable, not ${typeName(star)}`);
    throw err;
  }
  const elems = e instanceof Range ? ops.toArray(star) : e;
  chargeCopy(pos.length + elems.length);
  return pos.concat(elems);
}

/** Builds the keyword arguments of a call with `**kwargs`. */
export function spreadKwargs(kw: KwArgs | null, starstar: Value): KwArgs {
  if (!(starstar instanceof Dict)) throw new EvalError(`argument after ** must be a mapping, not ${typeName(starstar)}`);
  const out: KwArgs = kw ? kw.slice() : [];
  chargeCopy(3 * starstar.size);
  for (const [k, v] of starstar.entries()) {
    if (typeof k !== 'string') throw new EvalError(`keywords must be strings, not ${typeName(k)}`);
    out.push([k, v]); // a name given twice is reported by the callee's binding, as in the reference
  }
  return out;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Binds a call's arguments to a function's parameters (calling-convention order; see function.ts).
 * Missing optional parameters are passed as undefined so the compiled default applies.
 */
export function bindArgs(f: Function, args: readonly Value[], kw: KwArgs | null): Value[] {
  const code = f.code;
  const np = code.numPositional;
  const nk = code.numKwonly;
  const name = code.name;
  const out: (Value | undefined)[] = new Array(code.params.length);
  // slot indices
  const varargsSlot = code.hasVarargs ? np : -1;
  const kwonlyStart = np + (code.hasVarargs ? 1 : 0);
  const kwargsSlot = code.hasKwargs ? code.params.length - 1 : -1;
  if (code.params.length === 0 && (args.length > 0 || (kw !== null && kw.length > 0))) {
    throw new EvalError(`function ${name} accepts no arguments (${args.length + (kw?.length ?? 0)} given)`);
  }
  if (args.length > np && !code.hasVarargs) {
    // "at most" only when some positional parameter is optional, as in the reference.
    let optional = false;
    for (let i = 0; i < np; i++) if (f.defaults[i] !== undefined) optional = true;
    throw new EvalError(`function ${name} accepts ${optional ? 'at most ' : ''}${plural(np, 'positional argument')} (${args.length} given)`);
  }
  for (let i = 0; i < Math.min(np, args.length); i++) out[i] = args[i];
  if (varargsSlot >= 0) {
    // Only `f(*big)` makes a long tuple here (and spreadArgs charged building its arguments once).
    if (args.length - np > 64) chargeCopy(args.length - np);
    out[varargsSlot] = args.length > np ? new Tuple(args.slice(np)) : EMPTY_TUPLE;
  }
  let kwargsDict: Dict | null = null;
  if (kwargsSlot >= 0) out[kwargsSlot] = kwargsDict = new Dict();
  if (kw !== null) {
    for (const [k, v] of kw) {
      let slot = -1;
      for (let i = 0; i < np; i++) if (code.params[i] === k) slot = i;
      if (slot < 0) for (let i = kwonlyStart; i < kwonlyStart + nk; i++) if (code.params[i] === k) slot = i;
      if (slot < 0) {
        if (kwargsDict) {
          if (kwargsDict.has(k)) throw new EvalError(`function ${name} got multiple values for parameter "${k}"`);
          kwargsDict.set(k, v);
          continue;
        }
        const names = [...code.params.slice(0, np), ...code.params.slice(kwonlyStart, kwonlyStart + nk)];
        const hint = ops.suggest(k, names);
        throw new EvalError(`function ${name} got an unexpected keyword argument ${k}${hint ? ` (did you mean ${hint}?)` : ''}`);
      }
      if (out[slot] !== undefined) throw new EvalError(`function ${name} got multiple values for parameter "${k}"`);
      out[slot] = v;
    }
  }
  // Missing parameters: those without defaults are errors.
  const missing: string[] = [];
  for (let i = 0; i < np; i++) if (out[i] === undefined && f.defaults[i] === undefined) missing.push(code.params[i]!);
  for (let i = 0; i < nk; i++) {
    if (out[kwonlyStart + i] === undefined && f.defaults[np + i] === undefined) missing.push(code.params[kwonlyStart + i]!);
  }
  if (missing.length > 0) {
    throw new EvalError(`function ${name} missing ${plural(missing.length, 'argument')} (${missing.join(', ')})`);
  }
  return out as Value[];
}

// ---------------------------------------------------------------------------------------------
// Budgets and loads

/** Called when the thread's step-budget chunk is spent (see Thread.refill). */
export function* tick(th: Thread): Generator<Yielded, void, Value> {
  if (th.refill()) yield TICK;
}

/** `load("module", ...)`: asks the thread's loader; may suspend. */
export function* load(th: Thread, module: string): Generator<Yielded, ReadonlyMap<string, Value>, Value> {
  const r = th.loadModule(module);
  if (r instanceof Pending) {
    const v = (yield r) as unknown;
    return v as ReadonlyMap<string, Value>;
  }
  return r;
}

export function loadMember(members: ReadonlyMap<string, Value>, name: string, module: string): Value {
  const v = members.get(name);
  if (v === undefined) {
    const hint = ops.suggest(name, members.keys());
    throw new EvalError(`load: name ${name} not found in module ${module}${hint ? ` (did you mean ${hint}?)` : ''}`);
  }
  return v;
}

export function internal(msg: string): never {
  throw new InternalError(msg);
}

/** Everything compiled code uses, passed to the generated factory. */
export const runtime = {
  add,
  sub,
  mul,
  mod,
  floorDiv,
  div: ops.div,
  bitwise: ops.bitwise,
  contains: ops.contains,
  unary: ops.unary,
  lt,
  gt,
  le,
  ge,
  eq,
  ne,
  isTrue,
  index,
  setIndex,
  slice: ops.slice,
  getAttr: ops.getAttr,
  setAttr: ops.setAttr,
  iterElems: ops.iterElems,
  lock: ops.lock,
  unlock: ops.unlock,
  augmented,
  unboundLocal,
  unboundGlobal,
  unpack,
  dictPut,
  push,
  makeFunction,
  posMaskOf,
  enter,
  frame,
  callBuiltin,
  callMethod,
  method,
  callGen,
  bindArgs,
  spreadArgs,
  spreadKwargs,
  tick,
  load,
  loadMember,
  List,
  Tuple,
  Dict,
  Float,
  Range,
  Function,
  Builtin,
  Pending,
  EMPTY_TUPLE,
};
export type Runtime = typeof runtime;
