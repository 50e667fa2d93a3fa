import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/interpreter/errors.js';
import { parseExpr, parseFile, printFile } from '../../src/interpreter/syntax/index.js';
import { Source, tokenize } from '../../src/lexer/index.js';
import { CORPUS } from './corpus.js';
import { strip } from './helpers.js';

/** Pieces of Starlark, so random concatenations are often nearly valid. */
const FRAGMENTS = [
  'def ', 'f', '(', ')', '[', ']', '{', '}', ':', ',', ';', '.', '=', '+=', '==', '+', '-', '*', '**', '/', '//',
  '%', '<', '<<', '>>', '|', '&', '^', '~', '!=', '@', '\n', '\n  ', '\n    ', '\t', ' ', '  ', '\\\n', '\\', '#c',
  '"', "'", '"""', "'''", 'r"', 'b"', '"s"', "'\\x41'", '"\\u00e9"', '"\\q"', '1', '0', '0x', '0x1f', '0o7', '0b',
  '1.5', '.5', '1e', '1e5', '0123', 'x', 'y', 'é', 'if ', 'elif ', 'else', 'for ', ' in ', 'not ', 'and ', 'or ',
  'while ', 'lambda', 'return', 'pass', 'break', 'continue', 'load(', '"m"', 'class', 'assert', 'None', '$', '?',
];

const fragmentProgram = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 40 }).map((a) => a.join(''));

type Mutation = { at: number; del: number; insert: string };

/** A corpus program with a few random edits (deletions, insertions, replacements). */
const mutatedProgram = fc
  .tuple(
    fc.constantFrom(...CORPUS),
    fc.array(
      fc.record({
        at: fc.nat(),
        del: fc.nat({ max: 6 }),
        insert: fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ unit: 'binary', maxLength: 3 }), fc.constant('')),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([program, edits]: [string, Mutation[]]) => {
    let s = program;
    for (const { at, del, insert } of edits) {
      const i = at % (s.length + 1);
      s = s.slice(0, i) + insert + s.slice(i + del);
    }
    return s;
  });

const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: fc.constantFrom(...'()[]{}:,.;=+-*/%<>!&|^~@#\\\'" \t\n\rabcdefr0123456789xob_é'.split('')), maxLength: 80 }),
);

/** Parses `text`; the only acceptable failure is a well-formed ParseError. Valid input must round-trip. */
function check(text: string): void {
  const source = new Source('fuzz.star', text);
  let file;
  try {
    file = parseFile(source);
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    expect(e.diagnostics.length).toBeGreaterThan(0);
    expect(e.msg).not.toMatch(/^internal error/);
    for (const d of e.diagnostics) {
      expect(d.offset).toBeGreaterThanOrEqual(0);
      expect(d.offset).toBeLessThanOrEqual(text.length);
    }
    expect(e.line).toBeGreaterThanOrEqual(1);
    expect(e.column).toBeGreaterThanOrEqual(1);
    return;
  }
  // A program that parses prints to one that parses to the same tree.
  const again = parseFile(new Source('again.star', printFile(file)));
  expect(strip(again.stmts)).toEqual(strip(file.stmts));
}

describe('lexer and parser never throw anything but ParseError', () => {
  it('on random text and fragment soups', () => {
    fc.assert(fc.property(fc.oneof(anyText, fragmentProgram), check), { numRuns: 6000 });
  });

  it('on mutated valid programs', () => {
    fc.assert(fc.property(mutatedProgram, check), { numRuns: 5000 });
  });

  it('parseExpr and tokenize on random text', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, fragmentProgram), (text) => {
        const src = new Source('e.star', text);
        expect(() => tokenize(src)).not.toThrow();
        try {
          parseExpr(src);
        } catch (e) {
          expect(e).toBeInstanceOf(ParseError);
          expect((e as ParseError).msg).not.toMatch(/^internal error/);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
