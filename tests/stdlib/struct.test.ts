/**
 * Unit tests of struct, module (stdlib/struct.ts) and the test-harness module assert and freeze
 * (stdlib/assert.ts), calling the builtins directly with a fake thread. Expected reprs and messages
 * are go.starlark.net's starlarkstruct and starlarktest ones.
 */
import { describe, expect, it } from 'vitest';
import { EvalError } from '../../src/interpreter/errors.js';
import {
  attrNames,
  Builtin,
  compare,
  Dict,
  equals,
  Float,
  getAttrOrUndefined,
  hashKey,
  List,
  Module,
  repr,
  str,
  Tuple,
  type KwArgs,
  type ThreadContext,
  type Value,
} from '../../src/interpreter/values/index.js';
import { freezeBuiltin, makeAssertModule } from '../../src/stdlib/assert.js';
import { moduleBuiltin, struct, Struct } from '../../src/stdlib/struct.js';

const th: ThreadContext = {
  name: 't',
  print() {},
  charge() {},
  work() {},
  call(fn: Value, args: Value[], kwargs?: KwArgs | null) {
    if (fn instanceof Builtin) return fn.impl(th, args, kwargs ?? null, fn.recv) as Value;
    throw new Error('unexpected call');
  },
  locals: new Map(),
};

function mk(kwargs: KwArgs): Struct {
  return struct.impl(th, [], kwargs, null) as Struct;
}
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof EvalError) return e.message;
    throw e;
  }
  throw new Error('no error');
}

describe('struct', () => {
  const s = mk([['port', 80], ['host', 'localhost']]);

  it('is a builtin', () => {
    expect(str(struct)).toBe('<built-in function struct>');
  });

  it('has sorted fields, a repr and a type', () => {
    expect(s.type).toBe('struct');
    expect(repr(s)).toBe('struct(host = "localhost", port = 80)');
    expect(str(s)).toBe('struct(host = "localhost", port = 80)');
    expect(repr(mk([]))).toBe('struct()');
    expect(mk([]).truth()).toBe(true);
    expect(getAttrOrUndefined(s, 'host')).toBe('localhost');
    expect(getAttrOrUndefined(s, 'port')).toBe(80);
    expect(getAttrOrUndefined(s, 'protocol')).toBeUndefined();
    expect(attrNames(s)).toEqual(['host', 'port']);
    expect(s.noSuchAttrMessage('protocol')).toBe('struct has no .protocol attribute');
  });

  it('compares by fields', () => {
    expect(equals(s, s)).toBe(true);
    expect(equals(s, mk([['host', 'localhost'], ['port', 80]]))).toBe(true);
    expect(equals(s, mk([['host', 'localhost'], ['port', new Float(80)]]))).toBe(true);
    expect(equals(s, mk([['host', 'localhost'], ['port', 81]]))).toBe(false);
    expect(equals(s, mk([['host', 'localhost']]))).toBe(false);
    expect(equals(s, mk([['host', 'localhost'], ['pork', 80]]))).toBe(false);
    expect(equals(s, new Dict())).toBe(false);
    expect(errorOf(() => compare(s, s))).toBe('struct < struct not implemented');
  });

  it('is hashable iff its fields are', () => {
    expect(hashKey(s)).toBe(hashKey(mk([['host', 'localhost'], ['port', 80]])));
    expect(hashKey(s)).not.toBe(hashKey(mk([['host', 'localhost'], ['port', 81]])));
    expect(hashKey(mk([['a', 1]]))).not.toBe(hashKey(mk([['a', '1']])));
    expect(hashKey(mk([['a', new Tuple([1])]]))).toBe(hashKey(mk([['a', new Tuple([1])]])));
    expect(errorOf(() => hashKey(mk([['a', new List([])]])))).toBe('unhashable type: list');
    const d = new Dict();
    d.set(s, 1);
    expect(d.get(mk([['port', 80], ['host', 'localhost']]))).toBe(1);
  });

  it('freezes its field values', () => {
    const l = new List([1]);
    const t = mk([['l', l]]);
    t.freeze();
    expect(l.frozen).toBe(true);
  });

  it('adds (not commutatively)', () => {
    const bob = mk([['name', 'bob'], ['age', 50]]);
    const alice = mk([['name', 'alice'], ['city', 'NYC']]);
    expect(repr(bob.plus(alice))).toBe('struct(age = 50, city = "NYC", name = "alice")');
    expect(repr(alice.plus(bob))).toBe('struct(age = 50, city = "NYC", name = "bob")');
    expect(equals(bob.plus(bob), bob)).toBe(true);
  });

  it('refuses positional arguments', () => {
    expect(errorOf(() => struct.impl(th, [1], null, null))).toBe('struct: unexpected positional arguments');
  });

  it('converts to a map', () => {
    expect([...s.toMap()]).toEqual([['host', 'localhost'], ['port', 80]]);
  });
});

describe('module', () => {
  it('makes a module', () => {
    const m = moduleBuiltin.impl(th, ['mymod'], [['b', 2], ['a', 1]], null) as Module;
    expect(m).toBeInstanceOf(Module);
    expect(repr(m)).toBe('<module "mymod">');
    expect(m.type).toBe('module');
    expect(m.getAttr('a')).toBe(1);
    expect(attrNames(m)).toEqual(['a', 'b']);
  });
  it('checks its arguments', () => {
    expect(errorOf(() => moduleBuiltin.impl(th, [], null, null))).toBe('module: got 0 arguments, want 1');
    expect(errorOf(() => moduleBuiltin.impl(th, [1], null, null))).toBe('module: for parameter 1: got int, want string');
  });
});

describe('assert', () => {
  const reports: string[] = [];
  const assert = makeAssertModule((m) => reports.push(m));
  const call = (name: string, ...args: Value[]): Value => (assert.getAttr(name) as Builtin).impl(th, args, null, null) as Value;
  const failing = new Builtin('boom', () => {
    throw new EvalError('boom: it went wrong');
  });
  const ok = new Builtin('ok', () => null);

  it('reports failures and carries on', () => {
    reports.length = 0;
    expect(call('eq', 1, 1)).toBe(null);
    expect(call('eq', 1, 2)).toBe(null);
    call('eq', 'a', 'b', 'context');
    call('ne', 1, 1);
    call('ne', 1, 2);
    call('true', false);
    call('true', 0, 'custom message');
    call('true', 1);
    call('lt', 2, 1);
    call('lt', 1, 2);
    call('contains', new List([1, 2]), 3);
    call('contains', new List([1, 2]), 2);
    call('fail', 'explicit');
    call('eq', '\xc3\xa9', 'x');
    expect(reports).toEqual([
      '1 != 2',
      'context: "a" != "b"',
      '1 == 1',
      'assertion failed',
      'custom message',
      '2 is not less than 1',
      '[1, 2] does not contain 3',
      'explicit',
      '"é" != "x"',
    ]);
  });

  it('fails() checks the error against a Go regexp', () => {
    reports.length = 0;
    call('fails', failing, 'went wrong');
    call('fails', failing, '^boom: it');
    call('fails', failing, '(?i)WENT');
    call('fails', failing, 'nope');
    call('fails', ok, 'x+');
    expect(reports).toEqual([
      'regular expression (nope) did not match error (boom: it went wrong)',
      'evaluation succeeded unexpectedly (want error matching "x+")',
    ]);
  });

  it('fails() lets budget and cancellation errors through', () => {
    const budget = new Builtin('b', () => {
      throw new EvalError('allocation budget exceeded', 'budget');
    });
    expect(errorOf(() => call('fails', budget, 'budget'))).toBe('allocation budget exceeded');
  });

  it('lt propagates comparison errors', () => {
    expect(errorOf(() => call('lt', 1, 'a'))).toBe('int < string not implemented');
  });

  it('has the reference members', () => {
    expect(attrNames(assert)).toEqual(['contains', 'eq', 'fail', 'fails', 'lt', 'ne', 'true']);
  });
});

describe('freeze', () => {
  it('deep-freezes and returns its argument', () => {
    const inner = new List([1]);
    const d = new Dict();
    d.set('k', inner);
    expect(freezeBuiltin.impl(th, [d], null, null)).toBe(d);
    expect(d.frozen).toBe(true);
    expect(inner.frozen).toBe(true);
    expect(freezeBuiltin.impl(th, [1], null, null)).toBe(1);
    expect(errorOf(() => freezeBuiltin.impl(th, [], null, null))).toBe('freeze got 0 arguments, wants 1');
    expect(errorOf(() => freezeBuiltin.impl(th, [1], [['x', 1]], null))).toBe('freeze does not accept keyword arguments');
  });
});
