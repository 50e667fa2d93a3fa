/** Kubernetes quantities → Spark sizes (src/engine/executors/livy/spark-sizes.ts). */
import { describe, expect, it } from 'vitest';
import { QuantityError, sparkCores, sparkMemory, sparkMemoryMiB } from '../../src/engine/executors/livy/spark-sizes.js';

function thrown(f: () => unknown): QuantityError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(QuantityError);
    return e as QuantityError;
  }
  throw new Error('expected a QuantityError');
}

describe('sparkMemory', () => {
  it.each([
    ['4Gi', '4g'],
    ['512Mi', '512m'],
    ['1.5Gi', '1536m'],
    ['1Gi', '1g'],
    ['1024Mi', '1g'],
    ['1536Mi', '1536m'],
    ['2Ti', '2048g'],
    ['16Gi', '16g'],
    [' 8Gi ', '8g'],
    ['1048576Ki', '1g'],
    ['1073741824', '1g'],
    [1073741824, '1g'],
    // decimal quantities are rounded up to a whole MiB: 10^9 bytes = 953.67 MiB
    ['1G', '954m'],
    ['500M', '477m'],
    ['0.1Gi', '103m'],
    // less than one MiB is one MiB
    ['1Ki', '1m'],
    ['1e6', '1m'],
  ] as const)('%j → %s', (q, want) => {
    expect(sparkMemory(q)).toBe(want);
  });

  it('whole MiB, rounded up', () => {
    expect(sparkMemoryMiB('4Gi')).toBe(4096);
    expect(sparkMemoryMiB('1G')).toBe(954);
    expect(sparkMemoryMiB('512Mi')).toBe(512);
  });

  it.each(['4g', '4GB', '4GiB', '512m', '', '-1Gi', '0', 'lots', '1.5.Gi', Number.NaN, -5])('refuses %j with a clear QuantityError', (q) => {
    const e = thrown(() => sparkMemory(q));
    expect(e.kind).toBe('memory');
    expect(e.message).toMatch(/invalid memory quantity/);
    expect(e.message).toMatch(/expected a number of bytes/);
  });

  it('says what was probably meant for Spark spellings', () => {
    expect(thrown(() => sparkMemory('4g')).message).toContain('"4Gi"');
    expect(thrown(() => sparkMemory('512m')).message).toMatch(/milli/);
  });
});

describe('sparkCores', () => {
  it.each([
    ['4', 4],
    ['1', 1],
    [2, 2],
    ['1.5', 2],
    ['500m', 1],
    ['1000m', 1],
    ['1001m', 2],
    ['2500m', 3],
    ['0.001', 1],
    ['1.1', 2],
    ['3.0', 3],
    ['2e0', 2],
  ] as const)('%j → %d', (q, want) => {
    expect(sparkCores(q)).toBe(want);
  });

  it.each(['', '0', '-1', '2 cores', 'two', '0.1m', '1Gi x', Number.POSITIVE_INFINITY])('refuses %j with a clear QuantityError', (q) => {
    const e = thrown(() => sparkCores(q));
    expect(e.kind).toBe('cpu');
    expect(e.message).toMatch(/invalid cpu quantity/);
  });

  it('refuses absurd core counts', () => {
    expect(thrown(() => sparkCores('3e9')).message).toMatch(/too many cores/);
  });
});
