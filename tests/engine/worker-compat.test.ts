/**
 * Issue 10, part 2: the Go worker's modules, so that Uniflow's Starlark runs unchanged. Load paths
 * relative to the loading file (`..`, `//`), `os.environ` at a module's top level, the dataclass's
 * truth and str, a plain def run as a workflow, and `random.seed(n)` giving Go's math/rand sequence.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { GoRand } from '../../src/util/prng.js';
import { runWorkflowTests } from '../../src/testing/workflow-tests.js';

const DIR = join(import.meta.dirname, '..', 'testdata', 'workflows');

describe('random.seed(n) is Go math/rand', () => {
  it('GoRand gives the sequences Go 1.19 gives for rand.NewSource(seed)', () => {
    const r = new GoRand(1234n);
    expect(Array.from({ length: 10 }, () => Number(r.intn(101n)))).toEqual([18, 31, 73, 47, 36, 2, 46, 57, 50, 46]);
    const f = new GoRand(42n);
    expect([f.float64(), f.float64(), f.intn(1000n), f.int63n(1n << 40n)]).toEqual([0.3730283610466326, 0.06600049679351791, 668n, 267174660361n]);
    const n = new GoRand(-7n);
    expect([n.intn(6n), n.intn(2147483647n), n.intn(8n)]).toEqual([1n, 1649542928n, 2n]);
    expect(new GoRand(0n).intn(100n)).toBe(74n);
  });

  it('random_uuid_test.star passes (seeded randint and random match the Go worker)', async () => {
    const r = await runWorkflowTests([join(DIR, 'random_uuid_test.star')], { out: () => {} });
    expect(r.failed, r.report).toBe(0);
    expect(r.results.map((x) => x.test)).toContain('test_seeded_sequences_are_the_go_workers');
  });
});

describe('dataclass as the Go worker has it', () => {
  it('dataclass_test.star passes (bool(dataclass()) is True, str shows __codec__)', async () => {
    const r = await runWorkflowTests([join(DIR, 'dataclass_test.star')], { out: () => {} });
    expect(r.failed, r.report).toBe(0);
    expect(r.results.map((x) => x.test)).toEqual(expect.arrayContaining(['test_dataclass_is_true_even_without_fields', 'test_dataclass_str_shows_the_codec']));
  });
});
