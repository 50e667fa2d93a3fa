/**
 * Unit tests of the string and bytes methods (stdlib/methods/{string,bytes}.ts) and of the text
 * builtins (stdlib/string-builtins.ts), called directly with a fake thread. Expected values and
 * error messages are go.starlark.net's. Non-ASCII literals go through `u` (UTF-8 encoding), since
 * Starlark strings are binary strings of UTF-8 bytes.
 */
import { describe, expect, it } from 'vitest';
import {
  Builtin,
  Bytes,
  Dict,
  getAttr,
  List,
  methodsOf,
  Range,
  repr,
  StarValue,
  Tuple,
  utf8Encode,
  type KwArgs,
  type ThreadContext,
  type Value,
} from '../../src/interpreter/values/index.js';
import '../../src/stdlib/methods/bytes.js'; // registers the bytes methods
import type { BytesElems } from '../../src/stdlib/methods/bytes.js';
import { StringCodepoints, StringElems, stringMethods } from '../../src/stdlib/methods/string.js';
import { fnv1a32, javaStringHash, stringBuiltins, utf8Transcode } from '../../src/stdlib/string-builtins.js';

const th: ThreadContext = {
  name: 't',
  print() {},
  charge() {},
  work() {},
  call() {
    throw new Error('unexpected call');
  },
  locals: new Map(),
};

const u = utf8Encode;

/** Calls method `name` of receiver `recv`. */
function m(recv: Value, name: string, ...args: Value[]): Value {
  const impl = methodsOf(typeof recv === 'string' ? 'string' : 'bytes')!.get(name);
  if (!impl) throw new Error(`no method ${name}`);
  return impl(th, args, null, recv) as Value;
}
/** Calls a text builtin. */
function b(name: string, args: Value[], kwargs: KwArgs | null = null): Value {
  return stringBuiltins[name]!(th, args, kwargs, null) as Value;
}
function items(v: Value): Value[] {
  if (!(v instanceof StarValue) || !v.iterate) throw new Error('not iterable');
  return [...v.iterate()];
}
function strs(v: Value): string[] {
  if (!(v instanceof List)) throw new Error('not a list');
  return v.elems as string[];
}

describe('registration', () => {
  it('registers every string method of the spec', () => {
    const names = [...methodsOf('string')!.keys()].sort();
    expect(names).toEqual(
      'capitalize codepoint_ords codepoints count elem_ords elems endswith find format index isalnum isalpha isdigit islower isspace istitle isupper join lower lstrip partition removeprefix removesuffix replace rfind rindex rpartition rsplit rstrip split splitlines startswith strip title upper'.split(
        ' ',
      ),
    );
    expect(Object.keys(stringMethods).length).toBe(names.length);
    expect([...methodsOf('bytes')!.keys()]).toEqual(['elems']);
  });

  it('binds methods through getAttr', () => {
    const f = getAttr('abc', 'upper');
    expect(f).toBeInstanceOf(Builtin);
    expect((f as Builtin).impl(th, [], null, (f as Builtin).recv)).toBe('ABC');
  });

  it('rejects arguments as the reference does', () => {
    expect(() => m('abc', 'upper', 1)).toThrow(/^upper: got 1 arguments, want 0$/);
    expect(() => stringMethods.lower!(th, [], [['x', 1]], 'a')).toThrow(/^lower: unexpected keyword arguments$/);
    expect(() => m('abc', 'find')).toThrow(/^find: got 0 arguments, want at least 1$/);
    expect(() => m('abc', 'find', 'a', 1, 2, 3)).toThrow(/^find: got 4 arguments, want at most 3$/);
    expect(() => m('abc', 'find', 1)).toThrow(/^find: for parameter 1: got int, want string$/);
    expect(() => m('abc', 'replace', 'a', 'b', 'c')).toThrow(/^replace: for parameter 3: got string, want int$/);
    expect(() => m('abc', 'strip', null)).toThrow(/^strip: for parameter 1: got NoneType, want string$/);
    expect(() => m('abc', 'splitlines', 1)).toThrow(/^splitlines: for parameter 1: got int, want bool$/);
  });
});

describe('string iterable views', () => {
  const s = u('abcЙ😿');
  it('elems and elem_ords', () => {
    const e = m(s, 'elems') as StringElems;
    expect(e).toBeInstanceOf(StringElems);
    expect(e.type).toBe('string.elems');
    expect(repr(e)).toBe(`"${s}".elems()`);
    expect(repr(new List(items(e)))).toBe('["a", "b", "c", "\\xd0", "\\x99", "\\xf0", "\\x9f", "\\x98", "\\xbf"]');
    expect(e.len()).toBe(9);
    expect(e.index(2)).toBe('c');
    expect(e.index(-1)).toBe('\xbf');
    expect(() => e.index(9)).toThrow(/^string\.elems index 9 out of range \[-9:8\]$/);
    expect(() => (m('', 'elems') as StringElems).index(0)).toThrow(/^index 0 out of range: empty string\.elems$/);
    expect(() => e.index('x')).toThrow(/^string\.elems index: got string, want int$/);
    const o = m(s, 'elem_ords') as StringElems;
    expect(o.type).toBe('string.elems');
    expect(repr(o)).toBe(`"${s}".elem_ords()`);
    expect(items(o)).toEqual([97, 98, 99, 208, 153, 240, 159, 152, 191]);
    expect(o.index(2)).toBe(99);
    expect(items(m('', 'elems'))).toEqual([]);
    expect(() => o.hashKey()).toThrow(/^unhashable: string\.elems$/);
  });

  it('codepoints and codepoint_ords', () => {
    const c = m(s, 'codepoints') as StringCodepoints;
    expect(c.type).toBe('string.codepoints');
    expect(repr(c)).toBe(`"${s}".codepoints()`);
    expect(items(c)).toEqual(['a', 'b', 'c', u('Й'), u('😿')]);
    expect(c.len).toBeUndefined();
    expect(c.index).toBeUndefined();
    expect(items(m(s, 'codepoint_ords'))).toEqual([97, 98, 99, 1049, 128575]);
    const broken = 'A' + u('😿Z').slice(1);
    expect(items(m(broken, 'codepoint_ords'))).toEqual([65, 0xfffd, 0xfffd, 0xfffd, 90]);
    expect(items(m(broken, 'codepoints'))).toEqual(['A', u('\ufffd'), u('\ufffd'), u('\ufffd'), 'Z']);
    expect(items(m(broken, 'elems'))).toEqual(['A', '\x9f', '\x98', '\xbf', 'Z']);
  });
});

describe('string methods', () => {
  it('capitalize, lower, upper, title', () => {
    expect(m('hElLo, wOrLd!', 'capitalize')).toBe('Hello, world!');
    expect(m(u('¿Por qué?'), 'capitalize')).toBe(u('¿por qué?'));
    expect(m(u('ǆenan'), 'capitalize')).toBe(u('ǅenan'));
    expect(m('', 'capitalize')).toBe('');
    expect(m('Hello, World!', 'lower')).toBe('hello, world!');
    expect(m('Hello, World!', 'upper')).toBe('HELLO, WORLD!');
    expect(m(u('ΑΣ'), 'lower')).toBe(u('ασ')); // simple mapping: no final sigma
    expect(m(u('İ'), 'lower')).toBe('i');
    expect(m(u('straße ﬀ'), 'upper')).toBe(u('STRAßE ﬀ')); // no multi-letter expansions
    expect(m(u('ᾳ'), 'upper')).toBe(u('ᾼ'));
    expect(m('a\xffb', 'upper')).toBe('A' + u('\ufffd') + 'B');
    expect(m('hElLo, WoRlD!', 'title')).toBe('Hello, World!');
    expect(m('catch-22 x1y', 'title')).toBe('Catch-22 X1Y');
    expect(m(u('ǆenan ǉ'), 'title')).toBe(u('ǅenan ǈ'));
    expect(m(u('éCOLE'), 'title')).toBe(u('École'));
  });

  it('is* predicates', () => {
    const predicates = ['alnum', 'alpha', 'digit', 'lower', 'space', 'title', 'upper'];
    const table: [string, string][] = [
      ['Hello, World!', 'title'],
      ['hello, world!', 'lower'],
      ['base64', 'alnum lower'],
      ['HAL-9000', 'upper'],
      ['Catch-22', 'title'],
      ['', ''],
      ['\n\t\r', 'space'],
      ['abc', 'alnum alpha lower'],
      ['ABC', 'alnum alpha upper'],
      ['123', 'alnum digit'],
      ['ǄǇ', 'alnum alpha upper'],
      ['ǅǈ', 'alnum alpha'],
      ['ǅ ǈ', 'title'],
      ['ǆǉ', 'alnum alpha lower'],
      ['ǅenan', 'alnum alpha title'],
      ['Ǆenan', 'alnum alpha'],
      ['\u00a0\u3000', 'space'],
      ['٣', 'alnum digit'],
      ['ß', 'alnum alpha lower upper'], // cased (ẞ folds to it), yet its own upper and lower case
      ['ª', 'alnum alpha'],
    ];
    for (const [s, want] of table) {
      const got = predicates.filter((p) => m(u(s), 'is' + p) === true).join(' ');
      expect([s, got]).toEqual([s, want]);
    }
    expect(m('a\xff', 'islower')).toBe(false);
  });

  it('count, find, rfind, index, rindex', () => {
    expect(m('banana', 'count', 'a')).toBe(3);
    expect(m('banana', 'count', 'a', 2)).toBe(2);
    expect(m('banana', 'count', 'a', -4, -2)).toBe(1);
    expect(m('banana', 'count', 'a', 1, 4)).toBe(2);
    expect(m('banana', 'count', 'a', 0, -100)).toBe(0);
    expect(m('banana', 'count', 'ana')).toBe(1);
    expect(m('abc', 'count', '')).toBe(4);
    expect(m(u('é'), 'count', '')).toBe(2); // code points + 1
    expect(m('abc', 'count', 'a', null, null)).toBe(1);
    expect(() => m('abc', 'count', 'a', 'x')).toThrow(/^count: invalid start index: got string, want int$/);
    expect(() => m('abc', 'count', 'a', 0, 2n ** 40n)).toThrow(/^count: invalid end index: 1099511627776 out of range$/);
    expect(m('foofoo', 'find', 'oo')).toBe(1);
    expect(m('foofoo', 'find', 'ox')).toBe(-1);
    expect(m('foofoo', 'find', 'oo', 2)).toBe(4);
    expect(m('foofoo', 'rfind', 'oo')).toBe(4);
    expect(m('foofoo', 'rfind', 'oo', 1, 4)).toBe(1);
    expect(m('foofoo', 'find', '')).toBe(0);
    expect(m('foofoo', 'rfind', '')).toBe(6);
    expect(m('foofoo', 'find', '', 10)).toBe(6);
    expect(m('bonbon', 'find', 'on', 2, 5)).toBe(-1);
    expect(m('bonbon', 'index', 'on', 2)).toBe(4);
    expect(m('bonbon', 'rindex', 'on', null, 5)).toBe(1);
    expect(() => m('bonbon', 'index', 'on', 2, 5)).toThrow(/^index: substring not found$/);
    expect(() => m('bonbon', 'rindex', 'x')).toThrow(/^rindex: substring not found$/);
    expect(m(u('Hello, 世界'), 'find', u('界'))).toBe(10); // byte offsets
  });

  it('startswith, endswith', () => {
    expect(m('foo', 'endswith', 'oo')).toBe(true);
    expect(m('foo', 'startswith', 'x')).toBe(false);
    expect(m('abc', 'startswith', new Tuple(['a', 'A']))).toBe(true);
    expect(m('ABC', 'startswith', new Tuple(['a', 'A']))).toBe(true);
    expect(m('ABC', 'endswith', new Tuple(['b', 'B']))).toBe(false);
    expect(m('abc', 'startswith', 'bc', 1)).toBe(true);
    expect(m('abc', 'startswith', 'b', 999)).toBe(false);
    expect(m('abc', 'endswith', 'ab', null, -1)).toBe(true);
    expect(m('abc', 'endswith', '', 2, 1)).toBe(true);
    expect(() => m('foo', 'startswith', 1)).toThrow(/^startswith: got int, want string or tuple of string$/);
    expect(() => m('123', 'endswith', new Tuple([1, 2]))).toThrow(/^endswith: want string, got int, for element 0$/);
    expect(() => m('123', 'startswith', new List(['3']))).toThrow(/got list/);
  });

  it('join', () => {
    expect(m(', ', 'join', new List(['one', 'two', 'three']))).toBe('one, two, three');
    expect(m('a', 'join', m('ctmrn', 'codepoints'))).toBe('catamaran');
    expect(m('-', 'join', new Tuple([]))).toBe('');
    const d = new Dict();
    d.set('x', 1);
    d.set('y', 2);
    expect(m('', 'join', d)).toBe('xy');
    expect(() => m(',', 'join', 'abc')).toThrow(/^join: for parameter 1: got string, want iterable$/);
    expect(() => m(',', 'join', new List(['a', 1]))).toThrow(/^join: in list, want string, got int$/);
    expect(() => m(',', 'join', new Range(0, 2, 1))).toThrow(/^join: in list, want string, got int$/);
  });

  it('strip, lstrip, rstrip', () => {
    expect(m(' \tfoo\n ', 'strip')).toBe('foo');
    expect(m(' \tfoo\n ', 'lstrip')).toBe('foo\n ');
    expect(m(' \tfoo\n ', 'rstrip')).toBe(' \tfoo');
    expect(m(' \tfoo\n ', 'strip', '')).toBe('foo');
    expect(m('blah.h', 'strip', 'b.h')).toBe('la');
    expect(m('blah.h', 'lstrip', 'b.h')).toBe('lah.h');
    expect(m('blah.h', 'rstrip', 'b.h')).toBe('bla');
    expect(m('  hello  ', 'strip', 'h o')).toBe('ell');
    expect(m(u('\u3000 x\u00a0'), 'strip')).toBe('x');
    expect(m(u('ééaé'), 'strip', u('é'))).toBe('a');
    expect(m(u('éa'), 'strip', 'a\xc3')).toBe(u('é')); // cutset holds code points, not bytes
    expect(m('\xffa\xff', 'strip', u('\ufffd'))).toBe('a'); // invalid bytes decode as U+FFFD
  });

  it('partition, rpartition, removeprefix, removesuffix', () => {
    expect(repr(m('foo/bar/wiz', 'partition', '/'))).toBe('("foo", "/", "bar/wiz")');
    expect(repr(m('foo/bar/wiz', 'rpartition', '/'))).toBe('("foo/bar", "/", "wiz")');
    expect(repr(m('foo/bar/wiz', 'partition', '.'))).toBe('("foo/bar/wiz", "", "")');
    expect(repr(m('foo/bar/wiz', 'rpartition', '.'))).toBe('("", "", "foo/bar/wiz")');
    expect(() => m('foo', 'partition', '')).toThrow(/^partition: empty separator$/);
    expect(() => m('foo', 'rpartition', '')).toThrow(/^rpartition: empty separator$/);
    expect(m('banana', 'removeprefix', 'ban')).toBe('ana');
    expect(m('banana', 'removeprefix', 'foo')).toBe('banana');
    expect(m('foofoobar', 'removeprefix', 'foo')).toBe('foobar');
    expect(m('banana', 'removesuffix', 'nana')).toBe('ba');
    expect(m('banana', 'removesuffix', '')).toBe('banana');
  });

  it('replace', () => {
    expect(m('banana', 'replace', 'a', 'o', 1)).toBe('bonana');
    expect(m('banana', 'replace', 'a', 'o')).toBe('bonono');
    expect(m('banana', 'replace', 'a', 'o', 2)).toBe('bonona');
    expect(m('banana', 'replace', 'a', 'o', -1)).toBe('bonono');
    expect(m('banana', 'replace', 'a', 'o', 0)).toBe('banana');
    expect(m('abc', 'replace', '', '-')).toBe('-a-b-c-');
    expect(m('abc', 'replace', '', '-', 2)).toBe('-a-bc');
    expect(m(u('éa'), 'replace', '', '.')).toBe(u('.é.a.'));
    expect(m('aaa', 'replace', 'aa', 'b')).toBe('ba');
  });

  it('split, rsplit', () => {
    expect(strs(m('a.b.c.d', 'split', '.'))).toEqual(['a', 'b', 'c', 'd']);
    expect(strs(m('a.b.c.d', 'rsplit', '.', -1))).toEqual(['a', 'b', 'c', 'd']);
    expect(strs(m('a.b.c.d', 'split', '.', 0))).toEqual(['a.b.c.d']);
    expect(strs(m('a.b.c.d', 'rsplit', '.', 0))).toEqual(['a.b.c.d']);
    expect(strs(m('a.b.c.d', 'split', '.', 1))).toEqual(['a', 'b.c.d']);
    expect(strs(m('a.b.c.d', 'rsplit', '.', 1))).toEqual(['a.b.c', 'd']);
    expect(strs(m('a.b.c.d', 'split', '.', 2))).toEqual(['a', 'b', 'c.d']);
    expect(strs(m('a.b.c.d', 'rsplit', '.', 2))).toEqual(['a.b', 'c', 'd']);
    expect(strs(m('', 'split', 'n'))).toEqual(['']);
    const ws = ' a bc\n  def \t  ghi';
    expect(strs(m(ws, 'split'))).toEqual(['a', 'bc', 'def', 'ghi']);
    expect(strs(m(ws, 'split', null))).toEqual(['a', 'bc', 'def', 'ghi']);
    expect(strs(m(ws, 'split', null, 0))).toEqual(['a bc\n  def \t  ghi']);
    expect(strs(m(ws, 'rsplit', null, 0))).toEqual([' a bc\n  def \t  ghi']);
    expect(strs(m(ws, 'split', null, 1))).toEqual(['a', 'bc\n  def \t  ghi']);
    expect(strs(m(ws, 'rsplit', null, 1))).toEqual([' a bc\n  def', 'ghi']);
    expect(strs(m(ws, 'rsplit', null, 3))).toEqual([' a', 'bc', 'def', 'ghi']);
    expect(strs(m(ws, 'rsplit', null, 5))).toEqual(['a', 'bc', 'def', 'ghi']);
    expect(strs(m(ws + ' ', 'rsplit', null, 0))).toEqual([' a bc\n  def \t  ghi']);
    expect(strs(m('--aa--bb--cc--', 'split', '-', 1))).toEqual(['', '-aa--bb--cc--']);
    expect(strs(m('--aa--bb--cc--', 'rsplit', '-', 1))).toEqual(['--aa--bb--cc-', '']);
    expect(strs(m('  aa  bb  cc  ', 'split', null, 1))).toEqual(['aa', 'bb  cc  ']);
    expect(strs(m('  aa  bb  cc  ', 'rsplit', null, 1))).toEqual(['  aa  bb', 'cc']);
    expect(strs(m('  ', 'split', null))).toEqual([]);
    expect(strs(m(u('a\u3000b'), 'split'))).toEqual(['a', 'b']);
    expect(() => m('a', 'split', '')).toThrow(/^split: empty separator$/);
    expect(() => m('a', 'rsplit', '')).toThrow(/^split: empty separator$/);
    expect(() => m('a', 'rsplit', 1)).toThrow(/^split: got int for separator, want string$/);
  });

  it('splitlines', () => {
    const cases: [string, string[], string[]][] = [
      ['\nabc\ndef', ['', 'abc', 'def'], ['\n', 'abc\n', 'def']],
      ['\nabc\ndef\n', ['', 'abc', 'def'], ['\n', 'abc\n', 'def\n']],
      ['', [], []],
      ['a', ['a'], ['a']],
      ['\n', [''], ['\n']],
      ['a\n\nb', ['a', '', 'b'], ['a\n', '\n', 'b']],
      ['a\r\nb', ['a\r', 'b'], ['a\r\n', 'b']],
    ];
    for (const [s, plain, keep] of cases) {
      expect(strs(m(s, 'splitlines'))).toEqual(plain);
      expect(strs(m(s, 'splitlines', true))).toEqual(keep);
    }
  });
});

describe('text builtins', () => {
  it('str and repr', () => {
    expect(b('str', ['x'])).toBe('x');
    expect(b('str', [1])).toBe('1');
    expect(b('str', [new List([1, 'x'])])).toBe('[1, "x"]');
    expect(b('str', [new Bytes(u('hello, 世界'))])).toBe(u('hello, 世界'));
    expect(b('str', [new Bytes(u('世界').slice(0, -1))])).toBe(u('世\ufffd\ufffd'));
    expect(b('str', [new Bytes('\xED\xB0\x80')])).toBe(u('\ufffd\ufffd\ufffd'));
    expect(() => b('str', [])).toThrow(/^str: got 0 arguments, want exactly 1$/);
    expect(() => b('str', [1], [['x', 1]])).toThrow(/^str does not accept keyword arguments$/);
    expect(b('repr', ['x'])).toBe('"x"');
    expect(b('repr', [new Bytes('ab')])).toBe('b"ab"');
    expect(() => b('repr', [])).toThrow(/^repr: got 0 arguments, want 1$/);
  });

  it('chr and ord', () => {
    expect(b('chr', [65])).toBe('A');
    expect(b('chr', [1049])).toBe(u('Й'));
    expect(b('chr', [0x1f63f])).toBe(u('😿'));
    expect(b('chr', [0xd800])).toBe(u('\ufffd'));
    expect(() => b('chr', [-1])).toThrow(/^chr: Unicode code point -1 out of range \(<0\)$/);
    expect(() => b('chr', [0x110000])).toThrow(/^chr: Unicode code point U\+110000 out of range \(>0x10FFFF\)$/);
    expect(() => b('chr', ['a'])).toThrow(/^chr: got string, want int$/);
    expect(() => b('chr', [2 ** 40])).toThrow(/^chr: 1099511627776 out of range$/);
    expect(() => b('chr', [])).toThrow(/^chr: got 0 arguments, want 1$/);
    expect(b('ord', ['A'])).toBe(65);
    expect(b('ord', [u('Й')])).toBe(1049);
    expect(b('ord', [u('😿')])).toBe(0x1f63f);
    expect(b('ord', [u('Й').slice(1)])).toBe(0xfffd);
    expect(b('ord', [new Bytes('a')])).toBe(97);
    expect(() => b('ord', ['abc'])).toThrow(/^ord: string encodes 3 Unicode code points, want 1$/);
    expect(() => b('ord', [''])).toThrow(/^ord: string encodes 0 Unicode code points, want 1$/);
    expect(() => b('ord', [u('😿').slice(1)])).toThrow(/^ord: string encodes 3 Unicode code points, want 1$/);
    expect(() => b('ord', [new Bytes('ab')])).toThrow(/^ord: bytes has length 2, want 1$/);
    expect(() => b('ord', [1])).toThrow(/^ord: got int, want string or bytes$/);
  });

  it('bytes', () => {
    expect(b('bytes', ['hi'])).toEqual(new Bytes('hi'));
    expect((b('bytes', [u('hello, 世界').slice(0, -1)]) as Bytes).s).toBe(u('hello, 世\ufffd\ufffd'));
    expect((b('bytes', [new List([65, 66, 67])]) as Bytes).s).toBe('ABC');
    expect((b('bytes', [new Tuple([0xf0, 0x9f, 0x98, 0xbf])]) as Bytes).s).toBe(u('😿'));
    expect((b('bytes', [new Range(65, 68, 1)]) as Bytes).s).toBe('ABC');
    const x = new Bytes('xyz');
    expect(b('bytes', [x])).toBe(x);
    expect((b('bytes', [m(x, 'elems')]) as Bytes).s).toBe('xyz');
    expect(() => b('bytes', [new List([300])])).toThrow(/^bytes: at index 0, 300 out of range \(want value in unsigned 8-bit range\)$/);
    expect(() => b('bytes', [new List([1, new Bytes('a')])])).toThrow(/^bytes: at index 1, got bytes, want int$/);
    expect(() => b('bytes', [1])).toThrow(/^bytes: got int, want string, bytes, or iterable of ints$/);
    expect(() => b('bytes', [])).toThrow(/^bytes: got 0 arguments, want exactly 1$/);
  });

  it('hash', () => {
    expect(b('hash', [''])).toBe(0);
    expect(b('hash', ['\0'.repeat(100)])).toBe(0);
    expect(b('hash', ['hello'])).toBe(99162322);
    expect(b('hash', ['world'])).toBe(113318802);
    expect(b('hash', [u('Hello, 世界!')])).toBe(417292677);
    expect(javaStringHash('a'.repeat(20))).toBeLessThan(2 ** 31);
    expect(b('hash', [new Bytes('')])).toBe(0x811c9dc5);
    expect(b('hash', [new Bytes('a')])).toBe(0xe40c292c);
    expect(b('hash', [new Bytes('ab')])).toBe(0x4d2505ca);
    expect(fnv1a32('abc')).toBe(0x1a47e90b);
    expect(() => b('hash', [1])).toThrow(/^hash: got int, want string or bytes$/);
  });

  it('utf8Transcode leaves valid text alone', () => {
    const s = u('héllo 😿');
    expect(utf8Transcode(s)).toBe(s);
    expect(utf8Transcode('a\xffb')).toBe('a\xef\xbf\xbdb');
  });
});

describe('bytes methods', () => {
  it('elems', () => {
    const hello = new Bytes(u('hello, 世界'));
    const e = m(hello, 'elems') as BytesElems;
    expect(e.type).toBe('bytes.elems');
    expect(repr(m(new Bytes('a"b'), 'elems'))).toBe('b"a\\"b".elems()');
    expect(items(e)).toEqual([104, 101, 108, 108, 111, 44, 32, 228, 184, 150, 231, 149, 140]);
    expect(items(m(new Bytes(''), 'elems'))).toEqual([]);
    expect(e.len).toBeUndefined();
    expect(() => m(hello, 'elems', 1)).toThrow(/^elems: got 1 arguments, want 0$/);
  });
});
