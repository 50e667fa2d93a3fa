/**
 * Unit tests of the json module (stdlib/json.ts) and the JS conversions toJSON/fromJSON, calling the
 * builtins directly with a fake thread. Expected outputs and error messages are go.starlark.net's
 * lib/json ones; a property test checks that decode(encode(v)) == v.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EvalError } from '../../src/interpreter/errors.js';
import {
  Builtin,
  Bytes,
  Dict,
  equals,
  Float,
  List,
  Range,
  repr,
  StarSet,
  Tuple,
  utf8Decode,
  utf8Encode,
  type KwArgs,
  type ThreadContext,
  type Value,
} from '../../src/interpreter/values/index.js';
import { fromJSON, json, jsonQuote, toJSON } from '../../src/stdlib/json.js';
import { Struct } from '../../src/stdlib/struct.js';

let charged = 0;
const th: ThreadContext = {
  name: 't',
  print() {},
  charge(n: number) {
    charged += n;
  },
  work() {},
  call() {
    throw new Error('unexpected call');
  },
  locals: new Map(),
};

function fn(name: string): Builtin {
  return json.getAttr(name) as Builtin;
}
function call(name: string, args: Value[], kwargs: KwArgs | null = null): Value {
  return fn(name).impl(th, args, kwargs, null) as Value;
}
const encode = (x: Value): Value => call('encode', [x]);
const decode = (s: string, ...rest: Value[]): Value => call('decode', [utf8Encode(s), ...rest]);
function dict(entries: [Value, Value][]): Dict {
  const d = new Dict();
  for (const [k, v] of entries) d.set(k, v);
  return d;
}
function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof EvalError) return e.message;
    throw e;
  }
  throw new Error('no error');
}

describe('json module', () => {
  it('has the four functions', () => {
    expect(json.attrNames()).toEqual(['decode', 'encode', 'encode_indent', 'indent']);
    expect(repr(json)).toBe('<module "json">');
    expect(repr(fn('encode'))).toBe('<built-in function json.encode>');
  });
});

describe('json.encode', () => {
  it.each<[Value, string]>([
    [null, 'null'],
    [true, 'true'],
    [false, 'false'],
    [-123, '-123'],
    [3539537889086624823140625n, '3539537889086624823140625'],
    [new Float(3539537889086624823140625), '3.539537889086625e+24'],
    [new Float(12.345e67), '1.2345e+68'],
    [new Float(1), '1.0'],
    [new Float(-0), '-0.0'],
    [new Float(0.5), '0.5'],
    ['hello', '"hello"'],
    ['a"b\\c', '"a\\"b\\\\c"'],
    [new List([1, 2, 3]), '[1,2,3]'],
    [new Tuple([1, 2, 3]), '[1,2,3]'],
    [new Range(0, 3, 1), '[0,1,2]'],
    [new List([]), '[]'],
    [dict([['x', 1], ['y', 'two']]), '{"x":1,"y":"two"}'],
    [dict([['y', 'two'], ['x', 1]]), '{"x":1,"y":"two"}'],
    [new Dict(), '{}'],
    [new Struct([['y', 'two'], ['x', 1]]), '{"x":1,"y":"two"}'],
  ])('encode(%s)', (x, want) => {
    expect(encode(x)).toBe(want);
  });

  it('encodes sets as arrays', () => {
    const s = new StarSet();
    s.add(1);
    s.add('a');
    expect(encode(s)).toBe('[1,"a"]');
  });

  it('escapes strings as Go does', () => {
    // printable ASCII: only " and \ escaped; HTML characters kept
    expect(encode('<a&b>')).toBe('"<a&b>"');
    // anything else goes through Go's json.Marshal: control characters, HTML escapes, U+2028
    expect(encode('\n')).toBe('"\\n"');
    expect(encode('\t\r\b\f\x01\x1f')).toBe('"\\t\\r\\b\\f\\u0001\\u001f"');
    expect(encode(utf8Encode('<é>'))).toBe(utf8Encode('"\\u003cé\\u003e"'));
    expect(encode(utf8Encode('\u2028'))).toBe('"\\u2028"');
    expect(encode(utf8Encode('😹'))).toBe(utf8Encode('"😹"'));
    // invalid UTF-8 becomes the escaped replacement character
    expect(encode(utf8Encode('😹').slice(0, 1))).toBe('"\\ufffd"');
    expect(encode('\xff\x41')).toBe('"\\ufffdA"');
    expect(jsonQuote('')).toBe('""');
  });

  it('reports the reference errors', () => {
    expect(errorOf(() => encode(new Float(NaN)))).toBe('json.encode: cannot encode non-finite float nan');
    expect(errorOf(() => encode(new Float(Infinity)))).toBe('json.encode: cannot encode non-finite float +inf');
    expect(errorOf(() => encode(dict([[1, 'two']])))).toBe('json.encode: dict has int key, want string');
    expect(errorOf(() => encode(fn('encode')))).toBe('json.encode: cannot encode builtin_function_or_method as JSON');
    expect(errorOf(() => encode(new Bytes('ab')))).toMatch(/^json\.encode: in field \.\w+: cannot encode builtin_function_or_method as JSON$|cannot encode bytes as JSON/);
    const nested = new Struct([['x', new List([1, dict([['x', fn('encode')]])])]]);
    expect(errorOf(() => encode(nested))).toBe(
      'json.encode: in field .x: at list index 1: in dict key "x": cannot encode builtin_function_or_method as JSON',
    );
  });

  it('detects cycles but not sharing', () => {
    const m = new Dict();
    m.set('r', m);
    expect(errorOf(() => encode(m))).toBe('json.encode: in dict key "r": cycle in JSON structure');
    const l = new List([]);
    l.elems.push(l);
    expect(errorOf(() => encode(l))).toBe('json.encode: at list index 0: cycle in JSON structure');
    const inner = new List([]);
    const t = new Tuple([1, 2, inner]);
    inner.elems.push(t);
    expect(errorOf(() => encode(t))).toBe('json.encode: at tuple index 2: at list index 0: cycle in JSON structure');
    const shared = new List([1]);
    expect(encode(new List([shared, shared]))).toBe('[[1],[1]]');
  });

  it('refuses deep nesting instead of overflowing the stack', () => {
    let v: Value = new List([]);
    for (let i = 0; i < 5000; i++) v = new List([v]);
    expect(errorOf(() => encode(v))).toMatch(/nesting depth exceeds/);
  });

  it('checks its arguments', () => {
    expect(errorOf(() => call('encode', []))).toBe('json.encode: got 0 arguments, want 1');
    expect(errorOf(() => call('encode', [1], [['x', 1]]))).toBe('json.encode: unexpected keyword arguments');
  });

  it('charges the allocation budget for big output', () => {
    charged = 0;
    encode(new List(Array.from({ length: 100000 }, (_, i) => i)));
    expect(charged).toBeGreaterThan(500000);
  });
});

describe('json.decode', () => {
  it.each<[string, Value]>([
    ['null', null],
    ['true', true],
    ['false', false],
    ['-123', -123],
    ['-0', 0],
    ['3539537889086624823140625', 3539537889086624823140625n],
    ['9007199254740993', 9007199254740993n],
    ['3539537889086624823140625.0', new Float(3539537889086624823140625)],
    ['3.539537889086625e+24', new Float(3.539537889086625e24)],
    ['0e+1', new Float(0)],
    ['1E2', new Float(100)],
    ['[]', new List([])],
    ['[1]', new List([1])],
    [' [1, 2 ,3] ', new List([1, 2, 3])],
    ['{"one": 1, "two": 2}', dict([['one', 1], ['two', 2]])],
    ['{"foo\\u0000bar": 42}', dict([['foo\x00bar', 42]])],
    ['"\\ud83d\\ude39\\ud83d\\udc8d"', utf8Encode('😹💍')],
    ['"\\u0123"', utf8Encode('ģ')],
    ['"\x7f"', '\x7f'],
    ['"a\\/b\\"c\\\\d\\n"', 'a/b"c\\d\n'],
    ['"\\ud83d"', utf8Encode('\ufffd')],
    ['"\\ude39x"', utf8Encode('\ufffdx')],
    ['"\\ud83d\\u0041"', utf8Encode('\ufffdA')],
    ['"é"', utf8Encode('é')],
  ])('decode(%j)', (s, want) => {
    const got = decode(s);
    expect(equals(got, want)).toBe(true);
    expect(repr(got)).toBe(repr(want));
  });

  it('keeps -0.0 and makes unfrozen containers', () => {
    const f = decode('-0.0');
    expect(f instanceof Float && Object.is(f.v, -0)).toBe(true);
    const l = decode('[1]') as List;
    expect(l.frozen).toBe(false);
    expect(typeof decode('12')).toBe('number');
  });

  it('replaces invalid UTF-8 with U+FFFD', () => {
    expect(call('decode', ['"a\xffb"'])).toBe('a\xef\xbf\xbdb');
    expect(call('decode', ['"a\xe2\x82"'])).toBe('a\xef\xbf\xbd\xef\xbf\xbd');
  });

  it.each<[string, string]>([
    ['truefalse', "json.decode: at offset 4, unexpected character 'f' after value"],
    ['"abc', 'json.decode: at offset 0, unclosed string literal'],
    ['"ab\\gc"', "json.decode: at offset 7, invalid character 'g' in string escape code"],
    ['"ab\\u00zz"', "json.decode: at offset 10, invalid character 'z' in \\u hexadecimal character escape"],
    ['"a\x01\\n"', "json.decode: at offset 6, invalid character '\\x01' in string literal"],
    ["'abc'", "json.decode: at offset 0, unexpected character '\\''"],
    ['1.2.3', 'json.decode: at offset 5, invalid number: 1.2.3'],
    ['+1', "json.decode: at offset 0, unexpected character '+'"],
    ['-abc', 'json.decode: at offset 1, invalid number: -'],
    ['-', 'json.decode: at offset 1, invalid number: -'],
    ['-00', 'json.decode: at offset 3, invalid number: -00'],
    ['00', 'json.decode: at offset 2, invalid number: 00'],
    ['--1', 'json.decode: at offset 3, invalid number: --1'],
    ['-+1', 'json.decode: at offset 3, invalid number: -+1'],
    ['1e1e1', 'json.decode: at offset 5, invalid number: 1e1e1'],
    ['0123', 'json.decode: at offset 4, invalid number: 0123'],
    ['-000.123', 'json.decode: at offset 8, invalid number: -000.123'],
    ['1e400', 'json.decode: at offset 5, invalid number: 1e400'],
    ['0x123', "json.decode: at offset 1, unexpected character 'x' after value"],
    ['[1, 2 ', 'json.decode: at offset 6, unexpected end of file'],
    ['[1, 2, ', 'json.decode: at offset 7, unexpected end of file'],
    ['[1, 2, ]', "json.decode: at offset 7, unexpected character ']'"],
    ['[1, 2, }', "json.decode: at offset 7, unexpected character '}'"],
    ['[1, 2}', "json.decode: at offset 5, got '}', want ',' or ']'"],
    ['{"one": 1', 'json.decode: at offset 9, unexpected end of file'],
    ['{"one" 1', "json.decode: at offset 7, after object key, got '1', want ':' "],
    ['{"one": 1 "two": 2', "json.decode: at offset 10, in object, got '\"', want ',' or '}'"],
    ['{"one": 1,', 'json.decode: at offset 10, unexpected end of file'],
    ['{"one": 1, }', "json.decode: at offset 11, unexpected character '}'"],
    ['{"one": 1]', "json.decode: at offset 9, in object, got ']', want ',' or '}'"],
    ['{1: 2}', 'json.decode: at offset 2, got int for object key, want string'],
    ['', 'json.decode: at offset 0, unexpected end of file'],
    ['nul', "json.decode: at offset 0, unexpected character 'n'"],
    ['\x00', "json.decode: at offset 0, unexpected character '\\x00'"],
  ])('decode(%j) fails', (s, want) => {
    expect(errorOf(() => decode(s))).toBe(want);
  });

  it('returns the default for invalid JSON only', () => {
    const d = dict([['valid', 'json']]);
    expect(equals(decode('{"valid": "json"}', 'default value'), d)).toBe(true);
    expect(call('decode', ['{"valid": "json"', 'dflt'])).toBe('dflt');
    expect(call('decode', ['{"invalid": "json"'], [['default', 'dflt']])).toBe('dflt');
    expect(call('decode', ['{"invalid": "json"'], [['default', null]])).toBe(null);
    expect(call('decode', ['{"invalid": "json"', null])).toBe(null);
  });

  it('checks its arguments', () => {
    expect(errorOf(() => call('decode', [], [['x', '1']]))).toBe('json.decode: unexpected keyword argument x');
    expect(errorOf(() => call('decode', [1]))).toBe('json.decode: for parameter x: got int, want string');
    expect(errorOf(() => call('decode', []))).toBe('json.decode: missing argument for x');
  });

  it('refuses deep nesting instead of overflowing the stack', () => {
    expect(errorOf(() => decode('['.repeat(100000)))).toMatch(/nesting depth exceeds/);
    expect(errorOf(() => decode('['.repeat(100000), null))).toMatch(/nesting depth exceeds/);
  });
});

describe('json.indent and json.encode_indent', () => {
  const s = '{"x":1,"y":["one","two"]}';
  it('indents as Go json.Indent', () => {
    expect(call('indent', [s])).toBe('{\n\t"x": 1,\n\t"y": [\n\t\t"one",\n\t\t"two"\n\t]\n}');
    expect(call('indent', [s], [['prefix', '>'], ['indent', '  ']])).toBe('{\n>  "x": 1,\n>  "y": [\n>    "one",\n>    "two"\n>  ]\n>}');
    const u = utf8Encode;
    expect(call('indent', [s], [['prefix', u('¶')], ['indent', u('–––')]])).toBe(
      u('{\n¶–––"x": 1,\n¶–––"y": [\n¶––––––"one",\n¶––––––"two"\n¶–––]\n¶}'),
    );
    expect(call('indent', ['  [ ]  '])).toBe('[]  ');
    expect(call('indent', ['{ } '])).toBe('{} ');
    expect(call('indent', ['[[],{},[1]]'])).toBe('[\n\t[],\n\t{},\n\t[\n\t\t1\n\t]\n]');
    expect(call('indent', ['"a, b: [c]"'])).toBe('"a, b: [c]"');
    expect(call('indent', [' -1.5e+3 '])).toBe('-1.5e+3 ');
    expect(call('indent', ['{"a" : {"b":null , "c":true}}'], [['indent', ' ']])).toBe('{\n "a": {\n  "b": null,\n  "c": true\n }\n}');
  });

  it('reports Go scanner errors', () => {
    expect(errorOf(() => call('indent', ['!@#$%^& this is not json']))).toBe(
      "json.indent: invalid character '!' looking for beginning of value",
    );
    expect(errorOf(() => call('indent', ['[1,]']))).toBe("json.indent: invalid character ']' looking for beginning of value");
    expect(errorOf(() => call('indent', ['[1']))).toBe('json.indent: unexpected end of JSON input');
    expect(errorOf(() => call('indent', ['']))).toBe('json.indent: unexpected end of JSON input');
    expect(errorOf(() => call('indent', ['tru']))).toBe("json.indent: invalid character ' ' in literal true (expecting 'e')");
    expect(errorOf(() => call('indent', ['trUe']))).toBe("json.indent: invalid character 'U' in literal true (expecting 'u')");
    expect(errorOf(() => call('indent', ['{1:2}']))).toBe("json.indent: invalid character '1' looking for beginning of object key string");
    expect(errorOf(() => call('indent', ['{"a" 2}']))).toBe("json.indent: invalid character '2' after object key");
    expect(errorOf(() => call('indent', ['{"a":2 3}']))).toBe("json.indent: invalid character '3' after object key:value pair");
    expect(errorOf(() => call('indent', ['[2 3]']))).toBe("json.indent: invalid character '3' after array element");
    expect(errorOf(() => call('indent', ['1 2']))).toBe("json.indent: invalid character '2' after top-level value");
    expect(errorOf(() => call('indent', ['01']))).toBe("json.indent: invalid character '1' after top-level value");
    expect(errorOf(() => call('indent', ['1.x']))).toBe("json.indent: invalid character 'x' after decimal point in numeric literal");
    expect(errorOf(() => call('indent', ['1e+']))).toBe("json.indent: invalid character ' ' in exponent of numeric literal");
    expect(errorOf(() => call('indent', ['-x']))).toBe("json.indent: invalid character 'x' in numeric literal");
    expect(errorOf(() => call('indent', ['"\\x"']))).toBe("json.indent: invalid character 'x' in string escape code");
    expect(errorOf(() => call('indent', ['"\n"']))).toBe("json.indent: invalid character '\\n' in string literal");
  });

  it('checks its arguments', () => {
    expect(errorOf(() => call('indent', [1]))).toBe('json.indent: for parameter 1: got int, want string');
    expect(errorOf(() => call('indent', ['1', '2']))).toBe('json.indent: got 2 arguments, want 1');
    expect(errorOf(() => call('indent', ['1'], [['prefix', 1]]))).toBe('json.indent: for parameter prefix: got int, want string');
    expect(errorOf(() => call('indent', ['1'], [['foo', 1]]))).toMatch(/^json\.indent: unexpected keyword argument foo/);
  });

  it('encode_indent is indent(encode(x))', () => {
    const v = dict([['y', new List(['one', 'two'])], ['x', 1]]);
    expect(call('encode_indent', [v])).toBe(call('indent', [s]));
    expect(call('encode_indent', [v], [['indent', '  ']])).toBe('{\n  "x": 1,\n  "y": [\n    "one",\n    "two"\n  ]\n}');
    expect(errorOf(() => call('encode_indent', [new Float(NaN)]))).toBe('json.encode_indent: cannot encode non-finite float nan');
  });
});

describe('toJSON / fromJSON', () => {
  it('converts Starlark values to JS data', () => {
    const v = dict([
      ['a', new List([1, new Float(2.5), null, true])],
      ['s', utf8Encode('héllo')],
      ['big', 12345678901234567890n],
      ['t', new Tuple([])],
      ['st', new Struct([['x', 1]])],
    ]);
    expect(toJSON(v)).toEqual({ a: [1, 2.5, null, true], s: 'héllo', big: 12345678901234567890n, t: [], st: { x: 1 } });
    expect(toJSON(new Range(0, 3, 1))).toEqual([0, 1, 2]);
    const p = toJSON(dict([['__proto__', 1]])) as Record<string, unknown>;
    expect(Object.getPrototypeOf(p)).toBe(Object.prototype);
    expect(Object.keys(p)).toEqual(['__proto__']);
  });

  it('refuses values with no JSON form', () => {
    expect(() => toJSON(fn('encode'))).toThrow(EvalError);
    expect(() => toJSON(new Bytes('x'))).toThrow(/cannot convert bytes/);
    expect(() => toJSON(dict([[1, 2]]))).toThrow(/dict has int key/);
    expect(() => toJSON(new Float(NaN))).toThrow(/non-finite/);
    const l = new List([]);
    l.elems.push(l);
    expect(() => toJSON(l)).toThrow(/cycle/);
  });

  it('converts JS data to Starlark values', () => {
    const v = fromJSON({ a: [1, 2.5, null, true], s: 'héllo', big: 12345678901234567890n, n: 2 ** 60, u: undefined });
    expect(repr(v)).toBe(repr(dict([
      ['a', new List([1, new Float(2.5), null, true])],
      ['s', utf8Encode('héllo')],
      ['big', 12345678901234567890n],
      ['n', new Float(2 ** 60)],
    ])));
    expect(fromJSON(5n)).toBe(5);
    expect(fromJSON(-0)).toBe(0);
    expect(equals(fromJSON(new Map([[1, 'x']])), dict([[1, 'x']]))).toBe(true);
    const l = new List([1]);
    expect(fromJSON(l)).toBe(l);
  });

  it('refuses JS values with no Starlark equivalent', () => {
    expect(() => fromJSON(undefined)).toThrow(/cannot convert JS undefined/);
    expect(() => fromJSON(() => 1)).toThrow(/cannot convert JS function/);
    expect(() => fromJSON(Symbol('x'))).toThrow(/cannot convert JS symbol/);
    expect(() => fromJSON(new Date(0))).toThrow(/cannot convert JS Date/);
    const o: Record<string, unknown> = {};
    o.self = o;
    expect(() => fromJSON(o)).toThrow(/cycle/);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: decode(encode(v)) == v for JSON-representable values

const stringArb = fc.string({ unit: 'grapheme', maxLength: 8 }).map(utf8Encode);
const leafArb: fc.Arbitrary<Value> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }).map((b) => fromJSON(b)),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => new Float(d)),
  stringArb,
);
const { value: valueArb } = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.array(tie('value'), { maxLength: 5 }).map((a) => new List(a)),
    fc.array(fc.tuple(stringArb, tie('value')), { maxLength: 5 }).map((es) => dict(es)),
  ),
}));

describe('json round trip (property)', () => {
  it('decode(encode(v)) == v', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const s = encode(v) as string;
        const back = call('decode', [s]);
        // equal, and of the same types (a float stays a float): re-encoding gives the same text
        return equals(back, v) && encode(back) === s;
      }),
      { numRuns: 500 },
    );
  });

  it('indent preserves the value', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const s = call('encode_indent', [v]) as string;
        return equals(call('decode', [s]), v);
      }),
      { numRuns: 200 },
    );
  });

  it('fromJSON(toJSON(v)) == v for JSON-like values', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const js = toJSON(v);
        return equals(fromJSON(js), v);
      }),
      { numRuns: 300 },
    );
  });
});
