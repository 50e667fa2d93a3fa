import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { intAdd, intFloorDiv, intMod, intMul, intSub, intAnd, intOr, intXor, intShl, intShr, normBig, type Int } from '../../src/interpreter/values/int.js';

const BOUND = 2n ** 53n;
// Operands clustered around the small/big boundary (2^53) as well as small and huge values.
const bigOperand = fc.oneof(
  fc.bigInt({ min: -1000n, max: 1000n }),
  fc.bigInt({ min: BOUND - 1000n, max: BOUND + 1000n }),
  fc.bigInt({ min: -BOUND - 1000n, max: -BOUND + 1000n }),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }),
);
const asInt = (b: bigint): Int => normBig(b);
const asBig = (x: Int): bigint => BigInt(x);

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}
function floorMod(a: bigint, b: bigint): bigint {
  const r = a % b;
  return r !== 0n && r < 0n !== b < 0n ? r + b : r;
}

describe('int arithmetic equals BigInt arithmetic', () => {
  const ops: [string, (x: Int, y: Int) => Int, (a: bigint, b: bigint) => bigint | undefined][] = [
    ['+', intAdd, (a, b) => a + b],
    ['-', intSub, (a, b) => a - b],
    ['*', intMul, (a, b) => a * b],
    ['//', intFloorDiv, (a, b) => (b === 0n ? undefined : floorDiv(a, b))],
    ['%', intMod, (a, b) => (b === 0n ? undefined : floorMod(a, b))],
    ['&', intAnd, (a, b) => a & b],
    ['|', intOr, (a, b) => a | b],
    ['^', intXor, (a, b) => a ^ b],
  ];
  for (const [name, op, ref] of ops) {
    it(`x ${name} y`, () => {
      fc.assert(
        fc.property(bigOperand, bigOperand, (a, b) => {
          const want = ref(a, b);
          if (want === undefined) return;
          const got = op(asInt(a), asInt(b));
          expect(asBig(got)).toBe(want);
          // normalised: a number exactly when in the safe range
          expect(typeof got === 'number').toBe(want >= -(BOUND - 1n) && want <= BOUND - 1n);
        }),
        { numRuns: 2000 },
      );
    });
  }
  it('shifts', () => {
    fc.assert(
      fc.property(bigOperand, fc.integer({ min: 0, max: 100 }), (a, s) => {
        expect(asBig(intShl(asInt(a), s))).toBe(a << BigInt(s));
        expect(asBig(intShr(asInt(a), s))).toBe(a >> BigInt(s));
      }),
      { numRuns: 2000 },
    );
  });
});
