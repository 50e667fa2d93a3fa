/**
 * This file defines the test-harness module `assert` (`load("assert.star", "assert")`) and the
 * `freeze` builtin, after go.starlark.net's starlarktest package (assert.star and starlarktest.go):
 * `assert.eq`, `ne`, `true`, `lt`, `contains`, `fails` and `fail`. A failed assertion does not stop
 * the script: it is passed to the `report` callback, and execution continues, as Go's
 * `error(msg)` reports to testing.T. Messages use the reference's wording ("1 != 2",
 * "evaluation succeeded unexpectedly (want error matching ...)").
 */
import { EvalError, StarlarkError } from '../interpreter/errors.js';
import {
  Builtin,
  compare,
  contains,
  equals,
  Module,
  repr,
  str,
  truth,
  typeName,
  unpackArgs,
  utf8Decode,
  type KwArgs,
  type ThreadContext,
  type Value,
} from '../interpreter/values/index.js';

/**
 * Compiles a Go (RE2) regular expression as a JS RegExp. Leading inline flags such as `(?i)` or
 * `(?s)` become RegExp flags; the rest of RE2's syntax used in tests is also JS syntax.
 * @throws EvalError "matches: ..." for an invalid pattern.
 */
export function compileGoRegexp(pattern: string): RegExp {
  let flags = '';
  let p = pattern;
  const m = /^\(\?([imsU]+)\)/.exec(p);
  if (m) {
    p = p.slice(m[0].length);
    for (const f of m[1]!) if (f !== 'U' && !flags.includes(f)) flags += f;
  }
  p = p.replace(/\\z/g, '$(?![\\s\\S])').replace(/\\A/g, '^');
  try {
    return new RegExp(p, flags);
  } catch (e) {
    throw new EvalError(`matches: error parsing regexp: ${(e as Error).message}`);
  }
}

/** Reports whether the error message `msg` matches the Go regexp `pattern` (both Starlark strings). */
function matches(pattern: string, msg: string): boolean {
  if (compileGoRegexp(pattern).test(msg)) return true;
  // A message built from JS text rather than UTF-8 bytes: compare as text too.
  const dp = utf8Decode(pattern);
  const dm = utf8Decode(msg);
  return (dp !== pattern || dm !== msg) && compileGoRegexp(dp).test(dm);
}

/** True for errors `assert.fails` catches: run-time errors and `fail()`, not budget or cancellation. */
function isCatchable(e: unknown): e is StarlarkError {
  return e instanceof StarlarkError && (e.kind === 'eval' || e.kind === 'fail');
}

/**
 * Makes the `assert` module. Each failed assertion calls `report` with its message (JS text) and
 * returns None, so the script goes on.
 */
export function makeAssertModule(report: (msg: string) => void): Module {
  const fail = (msg: string): null => {
    report(utf8Decode(msg));
    return null;
  };
  const withMsg = (msg: Value | undefined, text: string): string => (msg === undefined || msg === null ? text : `${str(msg)}: ${text}`);

  // https://github.com/google/starlark-go/blob/master/starlarktest/assert.star (_eq)
  const eq = (_th: ThreadContext, args: Value[], kwargs: KwArgs | null): Value => {
    const [x, y, msg] = unpackArgs('assert.eq', args, kwargs, ['x', 'y', 'msg?']);
    if (!equals(x!, y!)) return fail(withMsg(msg, `${repr(x!)} != ${repr(y!)}`));
    return null;
  };
  // https://github.com/google/starlark-go/blob/master/starlarktest/assert.star (_ne)
  const ne = (_th: ThreadContext, args: Value[], kwargs: KwArgs | null): Value => {
    const [x, y, msg] = unpackArgs('assert.ne', args, kwargs, ['x', 'y', 'msg?']);
    if (equals(x!, y!)) return fail(withMsg(msg, `${repr(x!)} == ${repr(y!)}`));
    return null;
  };
  // https://github.com/google/starlark-go/blob/master/starlarktest/assert.star (_true)
  const true_ = (_th: ThreadContext, args: Value[], kwargs: KwArgs | null): Value => {
    const [cond, msg] = unpackArgs('assert.true', args, kwargs, ['cond', 'msg?']);
    if (!truth(cond!)) return fail(msg === undefined ? 'assertion failed' : str(msg));
    return null;
  };
  // https://github.com/google/starlark-go/blob/master/starlarktest/assert.star (_lt)
  const lt = (_th: ThreadContext, args: Value[], kwargs: KwArgs | null): Value => {
    const [x, y, msg] = unpackArgs('assert.lt', args, kwargs, ['x', 'y', 'msg?']);
    if (!(compare(x!, y!, '<') < 0)) return fail(withMsg(msg, `${str(x!)} is not less than ${str(y!)}`));
    return null;
  };
  // https://github.com/google/starlark-go/blob/master/starlarktest/assert.star (_contains)
  const contains_ = (_th: ThreadContext, args: Value[], kwargs: KwArgs | null): Value => {
    const [x, y, msg] = unpackArgs('assert.contains', args, kwargs, ['x', 'y', 'msg?']);
    if (!contains(x!, y!)) return fail(withMsg(msg, `${str(x!)} does not contain ${str(y!)}`));
    return null;
  };
  // https://github.com/google/starlark-go/blob/master/starlarktest/assert.star (_fails)
  const fails = (th: ThreadContext, args: Value[], kwargs: KwArgs | null): Value => {
    const [fn, pattern] = unpackArgs('assert.fails', args, kwargs, ['f', 'pattern']);
    if (typeof pattern !== 'string') {
      throw new EvalError(`assert.fails: for parameter pattern: got ${typeName(pattern!)}, want string`);
    }
    let msg: string;
    try {
      th.call(fn!, [], null);
      return fail(`evaluation succeeded unexpectedly (want error matching ${repr(pattern)})`);
    } catch (e) {
      if (!isCatchable(e)) throw e;
      msg = e.message;
    }
    if (!matches(pattern, msg)) return fail(`regular expression (${pattern}) did not match error (${msg})`);
    return null;
  };
  // https://github.com/google/starlark-go/blob/master/starlarktest/starlarktest.go (error_)
  const failFn = (_th: ThreadContext, args: Value[], kwargs: KwArgs | null): Value => {
    if (args.length !== 1 || (kwargs !== null && kwargs.length > 0)) {
      throw new EvalError(`error: got ${args.length} arguments, want 1`);
    }
    return fail(str(args[0]!));
  };

  return new Module(
    'assert',
    new Map<string, Value>([
      ['fail', new Builtin('error', failFn)],
      ['eq', new Builtin('assert.eq', eq)],
      ['ne', new Builtin('assert.ne', ne)],
      ['true', new Builtin('assert.true', true_)],
      ['lt', new Builtin('assert.lt', lt)],
      ['contains', new Builtin('assert.contains', contains_)],
      ['fails', new Builtin('assert.fails', fails)],
    ]),
  );
}

/**
 * `freeze(x)`: makes x and everything reachable from it immutable, and returns x.
 * https://github.com/google/starlark-go/blob/master/starlarktest/starlarktest.go (freeze)
 */
export const freezeBuiltin: Builtin = new Builtin('freeze', (_th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
  if (kwargs !== null && kwargs.length > 0) throw new EvalError('freeze does not accept keyword arguments');
  if (args.length !== 1) throw new EvalError(`freeze got ${args.length} arguments, wants 1`);
  const x = args[0]!;
  if (x !== null && typeof x === 'object') x.freeze();
  return x;
});
