import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildLexer, RESERVED_WORDS, Source, tokenize, tokenKind, tokens, utf8Decode, utf8Encode } from '../../src/lexer/index.js';

type Row = [kind: string, image: string, line: number, column: number];

/** Tokenizes `text` into [kind, image, line, column] rows; fails the test on lexical errors. */
function lex(text: string): Row[] {
  const src = new Source('t.star', text);
  const r = tokenize(src);
  expect(r.errors.map((e) => e.message)).toEqual([]);
  return r.tokens.map((t) => {
    const p = src.position(t.startOffset);
    return [tokenKind(t), t.image, p.line, p.column];
  });
}

/** Kinds only. */
function kinds(text: string): string[] {
  return lex(text).map((r) => r[0]);
}

/** The lexical errors of `text` as [message, line, column]. */
function lexErrors(text: string): [string, number, number][] {
  const src = new Source('t.star', text);
  return tokenize(src).errors.map((e) => {
    const p = src.position(e.offset);
    return [e.message, p.line, p.column];
  });
}

/** The decoded value of the single literal in `text`. */
function value(text: string): unknown {
  const toks = tokenize(new Source('t.star', text));
  expect(toks.errors).toEqual([]);
  return (toks.tokens[0]!.payload as { value: unknown }).value;
}

describe('tokenize: layout', () => {
  it('emits tokens with positions and a final NEWLINE at end of input', () => {
    expect(lex('x = 1')).toEqual<Row[]>([
      ['Identifier', 'x', 1, 1],
      ['Eq', '=', 1, 3],
      ['Int', '1', 1, 5],
      ['Newline', '', 1, 6],
    ]);
  });

  it('places NEWLINE on the newline character', () => {
    expect(lex('x\ny\n')).toEqual<Row[]>([
      ['Identifier', 'x', 1, 1],
      ['Newline', '\n', 1, 2],
      ['Identifier', 'y', 2, 1],
      ['Newline', '\n', 2, 2],
    ]);
  });

  it('emits INDENT at the first character of the indented line and NEWLINE + OUTDENT at EOF', () => {
    expect(lex('def f():\n  pass')).toEqual<Row[]>([
      ['Def', 'def', 1, 1],
      ['Identifier', 'f', 1, 5],
      ['LParen', '(', 1, 6],
      ['RParen', ')', 1, 7],
      ['Colon', ':', 1, 8],
      ['Newline', '\n', 1, 9],
      ['Indent', '', 2, 3],
      ['Pass', 'pass', 2, 3],
      ['Newline', '', 2, 7],
      ['Outdent', '', 2, 7],
    ]);
  });

  it('emits one OUTDENT per closed level, at the dedented line', () => {
    expect(lex('if x:\n  if y:\n    a\nb\n')).toEqual<Row[]>([
      ['If', 'if', 1, 1],
      ['Identifier', 'x', 1, 4],
      ['Colon', ':', 1, 5],
      ['Newline', '\n', 1, 6],
      ['Indent', '', 2, 3],
      ['If', 'if', 2, 3],
      ['Identifier', 'y', 2, 6],
      ['Colon', ':', 2, 7],
      ['Newline', '\n', 2, 8],
      ['Indent', '', 3, 5],
      ['Identifier', 'a', 3, 5],
      ['Newline', '\n', 3, 6],
      ['Outdent', '', 4, 1],
      ['Outdent', '', 4, 1],
      ['Identifier', 'b', 4, 1],
      ['Newline', '\n', 4, 2],
    ]);
  });

  it('closes open blocks at EOF after a trailing newline without an extra NEWLINE', () => {
    expect(lex('if x:\n  if y:\n    a\n')).toEqual<Row[]>([
      ['If', 'if', 1, 1],
      ['Identifier', 'x', 1, 4],
      ['Colon', ':', 1, 5],
      ['Newline', '\n', 1, 6],
      ['Indent', '', 2, 3],
      ['If', 'if', 2, 3],
      ['Identifier', 'y', 2, 6],
      ['Colon', ':', 2, 7],
      ['Newline', '\n', 2, 8],
      ['Indent', '', 3, 5],
      ['Identifier', 'a', 3, 5],
      ['Newline', '\n', 3, 6],
      ['Outdent', '', 4, 1],
      ['Outdent', '', 4, 1],
    ]);
  });

  it('ignores blank lines, comment-only lines and trailing whitespace (Go scan tests)', () => {
    expect(kinds('pass\n\n\npass')).toEqual(['Pass', 'Newline', 'Pass', 'Newline']);
    expect(kinds('pass\n \n')).toEqual(['Pass', 'Newline']);
    expect(kinds('def f():\n\tpass\n# oops')).toEqual(
      ['Def', 'Identifier', 'LParen', 'RParen', 'Colon', 'Newline', 'Indent', 'Pass', 'Newline', 'Outdent'],
    );
    expect(kinds('def f():\n    pass\n    ')).toEqual(
      ['Def', 'Identifier', 'LParen', 'RParen', 'Colon', 'Newline', 'Indent', 'Pass', 'Newline', 'Outdent'],
    );
    expect(kinds('x # comment\n  # indented comment\ny')).toEqual(['Identifier', 'Newline', 'Identifier', 'Newline']);
    expect(kinds('')).toEqual([]);
    expect(kinds('\n\n  \n# c\n')).toEqual([]);
  });

  it('joins lines inside brackets and after a backslash', () => {
    expect(kinds('\nprint(\n1\n)\n')).toEqual(['Identifier', 'LParen', 'Int', 'RParen', 'Newline']);
    expect(kinds('x = [1,\n      2]\n')).toEqual(['Identifier', 'Eq', 'LBrack', 'Int', 'Comma', 'Int', 'RBrack', 'Newline']);
    expect(kinds('x = 1 + \\\n2')).toEqual(['Identifier', 'Eq', 'Int', 'Plus', 'Int', 'Newline']);
    expect(kinds('def f():\n\tpass \\\n')).toEqual(
      ['Def', 'Identifier', 'LParen', 'RParen', 'Colon', 'Newline', 'Indent', 'Pass', 'Newline', 'Outdent'],
    );
    expect(kinds('([{<>}])')).toEqual(['LParen', 'LBrack', 'LBrace', 'Lt', 'Gt', 'RBrace', 'RBrack', 'RParen', 'Newline']);
  });

  it('treats \\r\\n and \\r as newlines', () => {
    expect(kinds('a\r\nb')).toEqual(['Identifier', 'Newline', 'Identifier', 'Newline']);
    expect(kinds('a\rb')).toEqual(['Identifier', 'Newline', 'Identifier', 'Newline']);
    expect(lex('a\r\nb')[1]).toEqual(['Newline', '\r\n', 1, 2]);
  });

  it("counts a tab as Go does: to the next multiple of 8 of the characters before it", () => {
    // "\t\t" is column 15 (8 + 7), "  \t" is column 8: a dedent to the first level.
    expect(lex('if x:\n\tif y:\n\t\ta\n  \tb\n').filter((r) => r[0] === 'Indent' || r[0] === 'Outdent')).toEqual<Row[]>([
      ['Indent', '', 2, 2],
      ['Indent', '', 3, 3],
      ['Outdent', '', 4, 4],
      ['Outdent', '', 5, 1],
    ]);
  });

  it('keeps no state between calls', () => {
    const a = 'def f():\n  if x:\n    (y'; // ends inside a block and inside brackets
    const b = 'x = 1\n';
    const before = lex(b);
    tokenize(new Source('a', a));
    expect(lex(b)).toEqual(before);
    expect(tokenize(new Source('a', a)).tokens.map(tokenKind)).toEqual(tokenize(new Source('a', a)).tokens.map(tokenKind));
  });
});

describe('tokenize: identifiers and keywords', () => {
  it('does not split identifiers that start with a keyword', () => {
    expect(lex('formal iffy in_ notin andor lambda_ return1 elif_ def0 for')).toEqual<Row[]>([
      ['Identifier', 'formal', 1, 1],
      ['Identifier', 'iffy', 1, 8],
      ['Identifier', 'in_', 1, 13],
      ['Identifier', 'notin', 1, 17],
      ['Identifier', 'andor', 1, 23],
      ['Identifier', 'lambda_', 1, 29],
      ['Identifier', 'return1', 1, 37],
      ['Identifier', 'elif_', 1, 45],
      ['Identifier', 'def0', 1, 51],
      ['For', 'for', 1, 56],
      ['Newline', '', 1, 59],
    ]);
  });

  it('lexes every keyword', () => {
    const words = 'and break continue def elif else for if in lambda load not or pass return while';
    expect(kinds(words).slice(0, -1)).toEqual([
      'And', 'Break', 'Continue', 'Def', 'Elif', 'Else', 'For', 'If', 'In', 'Lambda', 'Load', 'Not', 'Or', 'Pass',
      'Return', 'While',
    ]);
  });

  it('lexes reserved words as their own tokens, except assert (as in Go)', () => {
    for (const w of RESERVED_WORDS) expect(kinds(w)[0]).toBe(`Reserved_${w}`);
    expect(kinds('assert')[0]).toBe('Identifier');
    expect(kinds('classy')[0]).toBe('Identifier');
  });

  it('accepts Unicode letters in identifiers, and ASCII digits after the first character', () => {
    expect(lex('chocolate.éclair _x1 名前 ǅ')).toEqual<Row[]>([
      ['Identifier', 'chocolate', 1, 1],
      ['Dot', '.', 1, 10],
      ['Identifier', 'éclair', 1, 11],
      ['Identifier', '_x1', 1, 18],
      ['Identifier', '名前', 1, 22],
      ['Identifier', 'ǅ', 1, 25],
      ['Newline', '', 1, 26],
    ]);
    // U+0661 ARABIC-INDIC DIGIT ONE is not a letter, and only ASCII digits may continue an identifier.
    expect(lexErrors('x١')).toEqual([["unexpected input character '١'", 1, 2]]);
  });
});

describe('tokenize: punctuation', () => {
  it('lexes every operator, longest match first', () => {
    const ops =
      '+ - * / // % = += -= *= /= //= %= == != ^ < > << >> & | ^= <= >= <<= >>= &= |= . , ; : ~ ** ( ) [ ] { } @';
    expect(lex(ops).slice(0, -1).map((r) => r[1])).toEqual(ops.split(' '));
    expect(kinds('/ // /= //= ///=').slice(0, -1)).toEqual(['Slash', 'SlashSlash', 'SlashEq', 'SlashSlashEq', 'SlashSlash', 'SlashEq']);
    expect(kinds('~= ~= 5').slice(0, -1)).toEqual(['Tilde', 'Eq', 'Tilde', 'Eq', 'Int']);
    expect(kinds('**=').slice(0, -1)).toEqual(['StarStar', 'Eq']);
    expect(kinds('a@b').slice(0, -1)).toEqual(['Identifier', 'At', 'Identifier']);
  });
});

describe('tokenize: numbers', () => {
  it.each<[string, string, number | bigint]>([
    ['0', 'Int', 0],
    ['00', 'Int', 0],
    ['123', 'Int', 123],
    ['0xA', 'Int', 10],
    ['0XA', 'Int', 10],
    ['0x1f', 'Int', 31],
    ['0o123', 'Int', 83],
    ['0O17', 'Int', 15],
    ['0b1010', 'Int', 10],
    ['0B111101', 'Int', 61],
    ['9007199254740991', 'Int', 9007199254740991],
    ['9007199254740992', 'Int', 9007199254740992n],
    ['999999999999999999999999999999', 'Int', 999999999999999999999999999999n],
    ['0x12345678deadbeef12345678', 'Int', 0x12345678deadbeef12345678n],
    ['0.', 'Float', 0],
    ['1.', 'Float', 1],
    ['.5', 'Float', 0.5],
    ['0.0', 'Float', 0],
    ['1e10', 'Float', 1e10],
    ['1e+10', 'Float', 1e10],
    ['1.5E-3', 'Float', 1.5e-3],
    ['.1e1', 'Float', 1],
    ['0.e1', 'Float', 0],
    ['123e45', 'Float', 123e45],
    ['012934.', 'Float', 12934],
    ['0123.1', 'Float', 123.1],
    ['012934e1', 'Float', 129340],
  ])('%s is %s %s', (text, kind, v) => {
    expect(kinds(text)).toEqual([kind, 'Newline']);
    expect(value(text)).toBe(v);
  });

  it('splits numbers as Go does', () => {
    expect(lex('0xAAG').map((r) => r[0])).toEqual(['Int', 'Identifier', 'Newline']);
    expect(lex('0b1010201').map((r) => r[1])).toEqual(['0b1010', '201', '']);
    expect(lex('0o12934.1').map((r) => r[1])).toEqual(['0o12', '934.1', '']);
    expect(lex('0xA.e1').map((r) => r[0])).toEqual(['Int', 'Dot', 'Identifier', 'Newline']);
    expect(lex('.e1').map((r) => r[0])).toEqual(['Dot', 'Identifier', 'Newline']);
    expect(lex('0in 6or').map((r) => r[0])).toEqual(['Int', 'In', 'Int', 'Or', 'Newline']);
    expect(lex('1_000').map((r) => r[0])).toEqual(['Int', 'Identifier', 'Newline']);
  });
});

describe('tokenize: strings', () => {
  it.each<[string, string, string]>([
    ['"hello"', 'String', 'hello'],
    ["'hello'", 'String', 'hello'],
    ['"""a\nb"""', 'String', 'a\nb'],
    ["'''a'b''c'''", 'String', "a'b''c"],
    ["''''a'b'c'''", 'String', "'a'b'c"],
    ['"it\'s"', 'String', "it's"],
    ['"\\a\\b\\f\\n\\r\\t\\v\\\\\\\'\\""', 'String', '\x07\x08\x0c\n\r\t\x0b\\\'"'],
    ['"\\0\\12\\101-\\132\\119"', 'String', '\x00\nA-Z\t9'],
    ['"\\037\\378"', 'String', '\x1f\x1f8'],
    ['"\\x00\\x20\\x41\\x7e\\x7F"', 'String', '\x00 A~\x7f'],
    ['"\\u0400"', 'String', '\xd0\x80'],
    ['"\\u04000"', 'String', '\xd0\x800'],
    ['"\\u4E16"', 'String', '\xe4\xb8\x96'],
    ['"\\U0001F63F"', 'String', '\xf0\x9f\x98\xbf'],
    ['"\\U0010FFFF"', 'String', '\xf4\x8f\xbf\xbf'],
    ['"é"', 'String', '\xc3\xa9'],
    ['"😿"', 'String', '\xf0\x9f\x98\xbf'],
    ['"abc\\\ndef"', 'String', 'abcdef'],
    ['"abc\\\r\ndef"', 'String', 'abcdef'],
    ["'''a\rb'''", 'String', 'a\nb'],
    ["'''a\r\nb'''", 'String', 'a\nb'],
    ["'''a\n\rb'''", 'String', 'a\n\nb'],
    ['r"a\\nb"', 'String', 'a\\nb'],
    ['R"a\\nb"', 'String', 'a\\nb'],
    ['r"\\""', 'String', '\\"'],
    ["r'\\''", 'String', "\\'"],
    ["r'''\\''''", 'String', "\\'"],
    ['r"a\\\nb"', 'String', 'a\\\nb'],
    ['r"a\\\r\nb"', 'String', 'a\\\nb'],
    ['r"\\w"', 'String', '\\w'],
    ['b"abc"', 'Bytes', 'abc'],
    ['B"abc"', 'Bytes', 'abc'],
    ['b"AЀ世😿"', 'Bytes', 'A\xd0\x80\xe4\xb8\x96\xf0\x9f\x98\xbf'],
    ['b"\\x41\\u0400\\u4e16\\U0001F63F"', 'Bytes', 'A\xd0\x80\xe4\xb8\x96\xf0\x9f\x98\xbf'],
    ['b"\\377\\378\\x80\\xff\\xFf"', 'Bytes', '\xff\x1f8\x80\xff\xff'],
    ['rb"\\x00"', 'Bytes', '\\x00'],
    ['br"\\x00"', 'Bytes', '\\x00'],
    ['Rb"\\x00"', 'Bytes', '\\x00'],
    ["bR'''x'''", 'Bytes', 'x'],
  ])('%s', (text, kind, v) => {
    expect(kinds(text)).toEqual([kind, 'Newline']);
    expect(value(text)).toBe(v);
  });

  it('records the literal as written in the token image', () => {
    expect(lex('x = r"a\\n" + b\'\'\'z\'\'\'')).toEqual<Row[]>([
      ['Identifier', 'x', 1, 1],
      ['Eq', '=', 1, 3],
      ['String', 'r"a\\n"', 1, 5],
      ['Plus', '+', 1, 12],
      ['Bytes', "b'''z'''", 1, 14],
      ['Newline', '', 1, 22],
    ]);
  });

  it('does not take an identifier ending in r or b for a prefix', () => {
    expect(kinds('rb br rr bb rbx "x"')).toEqual(['Identifier', 'Identifier', 'Identifier', 'Identifier', 'Identifier', 'String', 'Newline']);
    expect(kinds('bb"x"')).toEqual(['Identifier', 'String', 'Newline']);
  });
});

describe('tokenize: errors', () => {
  it.each<[string, string, number, number]>([
    // characters
    ['x ! 0', "unexpected input character '!'", 1, 3],
    ['a $', "unexpected input character '$'", 1, 3],
    ['a ?', "unexpected input character '?'", 1, 3],
    ['`', "unexpected input character '`'", 1, 1],
    ['x\x00', "unexpected input character '\\x00'", 1, 2],
    ['x\f', "unexpected input character '\\f'", 1, 2],
    ['\u00a0', "unexpected input character '\\u00a0'", 1, 1],
    ['x = 1 \\ 2', 'stray backslash in program', 1, 8],
    ['x = 1 \\', 'stray backslash in program', 1, 8],
    // brackets
    ['a = max(range(10)))', "unexpected ')'", 1, 19],
    [']', "unexpected ']'", 1, 1],
    ['}', "unexpected '}'", 1, 1],
    // indentation
    ['def f():\n  pass\n pass', 'unindent does not match any outer indentation level', 3, 2],
    // numbers
    ['0xG', 'invalid hex literal', 1, 1],
    ['0x', 'invalid hex literal', 1, 1],
    ['0b3', 'invalid binary literal', 1, 3],
    ['0or', 'invalid octal literal', 1, 3],
    ['0123', 'obsolete form of octal literal; use 0o123', 1, 5],
    ['012834', 'invalid int literal', 1, 1],
    ['i = 012934', 'invalid int literal', 1, 5],
    ['1e', 'invalid float literal', 1, 3],
    ['1e+', 'invalid float literal', 1, 4],
    ['1.5e-x', 'invalid float literal', 1, 6],
    ['1e400', 'invalid float literal', 1, 6],
    // unterminated strings, at the start of the literal
    ["x = 'abc", 'unexpected EOF in string', 1, 5],
    ["x = r'a\nb'", 'unexpected newline in string', 1, 5],
    ['x = """abc\n', 'unexpected EOF in string', 1, 5],
    ['x = "abc\\', 'unexpected EOF in string', 1, 5],
    // escapes, at the opening quote
    ['"\\377"', 'non-ASCII octal escape \\377 (use \\u00FF for the UTF-8 encoding of U+00FF)', 1, 1],
    ['"\\400"', 'non-ASCII octal escape \\400 (use \\u0100 for the UTF-8 encoding of U+0100)', 1, 1],
    ['b"\\400"', 'invalid escape sequence \\400', 1, 2],
    ['"\\x80"', 'non-ASCII hex escape \\x80 (use \\u0080 for the UTF-8 encoding of U+0080)', 1, 1],
    ['"\\xFf"', 'non-ASCII hex escape \\xFf (use \\u00FF for the UTF-8 encoding of U+00FF)', 1, 1],
    ['"\\xF"', 'truncated escape sequence \\xF', 1, 1],
    ['"\\x"', 'truncated escape sequence \\x', 1, 1],
    ['"\\xfg"', 'invalid escape sequence \\xfg', 1, 1],
    ['s = "\\x-0"', 'invalid escape sequence \\x-0', 1, 5],
    ['"\\u100"', 'truncated escape sequence \\u100', 1, 1],
    ['"\\u100g"', 'invalid escape sequence \\u100g', 1, 1],
    ['"\\udc00"', 'invalid Unicode code point U+DC00', 1, 1],
    ['"\\U0000400"', 'truncated escape sequence \\U0000400', 1, 1],
    ['"\\U1000000g"', 'invalid escape sequence \\U1000000g', 1, 1],
    ['"\\U00110000"', 'code point out of range: \\U00110000 (max \\U0010ffff)', 1, 1],
    ['"\\U0000dc00"', 'invalid Unicode code point U+DC00', 1, 1],
    ['b"\\udc00"', 'invalid Unicode code point U+DC00', 1, 2],
    ['"foo\\(bar"', 'invalid escape sequence \\(', 1, 1],
    ['"\\w"', 'invalid escape sequence \\w', 1, 1],
    ["'''\\w'''", 'invalid escape sequence \\w', 1, 1],
    ['"\\o123"', 'invalid escape sequence \\o', 1, 1],
    ['x = rb"ok" + "\\q"', 'invalid escape sequence \\q', 1, 14],
  ])('%j: %s at %i:%i', (text, message, line, column) => {
    expect(lexErrors(text)[0]).toEqual([message, line, column]);
  });

  it('reports every lexical error, in order', () => {
    expect(lexErrors('a = $\nb = "\\q"\nc = 0x\n')).toEqual([
      ["unexpected input character '$'", 1, 5],
      ['invalid escape sequence \\q', 2, 5],
      ['invalid hex literal', 3, 5],
    ]);
  });
});

describe('the chevrotain lexer', () => {
  it('comes from the bundled build (the package entry point costs ~300 ms to load)', () => {
    expect(tokens.chevrotainLoadedFrom).toBe('chevrotain.min.mjs');
  });

  it('passes chevrotain validations with first-character optimizations on', () => {
    expect(() => buildLexer({ validate: true })).not.toThrow();
  });
});

describe('UTF-8 helpers', () => {
  it('encode text as binary UTF-8 and decode it back', () => {
    expect(utf8Encode('aé世😿')).toBe('a\xc3\xa9\xe4\xb8\x96\xf0\x9f\x98\xbf');
    expect(utf8Encode('\ud800')).toBe('\xef\xbf\xbd'); // lone surrogate -> U+FFFD
    expect(utf8Decode('\xff')).toBe('\ufffd');
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const bin = utf8Encode(s);
        expect(Buffer.from(bin, 'latin1').equals(Buffer.from(new TextEncoder().encode(s)))).toBe(true);
        expect(utf8Decode(bin)).toBe(new TextDecoder().decode(new TextEncoder().encode(s)));
      }),
      { numRuns: 300 },
    );
  });
});

describe('identifiers beyond the BMP', () => {
  it('segments words as the reference regular expression does', () => {
    const word = /(?:[A-Za-z_]|\p{L})(?:[A-Za-z0-9_]|\p{L})*/gu;
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'Z', '_', '1', 'é', '名', '\u{1d400}', ' '), { maxLength: 20 }), (parts) => {
        const text = parts.join('');
        const want = text.match(word) ?? [];
        const got = tokenize(new Source('w', text)).tokens.filter((t) => t.tokenType.name === 'Identifier');
        // A digit after a space starts an Int, which the reference skips too.
        expect(got.map((t) => t.image)).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps surrogate pairs together', () => {
    // U+1D400 MATHEMATICAL BOLD CAPITAL A is a letter outside the BMP.
    expect(lex('\u{1d400}x \u{1d400} a\u{1d400}b')).toEqual<Row[]>([
      ['Identifier', '\u{1d400}x', 1, 1],
      ['Identifier', '\u{1d400}', 1, 5],
      ['Identifier', 'a\u{1d400}b', 1, 8],
      ['Newline', '', 1, 12],
    ]);
  });
});
