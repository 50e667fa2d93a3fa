/** Issue 9: a `__proto__` key in `--input` is refused with a usage error, never dropped silently. */
import { describe, expect, it } from 'vitest';
import { cli, scratchDirs } from '../helpers/cli.js';

const fresh = scratchDirs('lf-proto-');

describe('larkflow run --input with a __proto__ key', () => {
  it('regression: is a usage error (exit 2), at the top level and nested', async () => {
    const s = fresh();
    const wf = s.file('wf.star', '@workflow()\ndef w(**kw):\n    return kw\n');
    const top = await cli('run', wf, '--db', s.db, '--input', '{"__proto__": {"polluted": 1}, "a": 1}');
    expect(top.code).toBe(2);
    expect(top.err).toMatch(/__proto__/);
    const nested = await cli('run', wf, '--db', s.db, '--input', '{"a": {"__proto__": {"x": 1}}}');
    expect(nested.code).toBe(2);
    expect(nested.err).toMatch(/input a has a key "__proto__"/);
    const fine = await cli('run', wf, '--db', s.db, '--quiet', '--input', '{"a": {"proto": 1}}');
    expect(fine.code).toBe(0);
    expect(JSON.parse(fine.out)).toEqual({ a: { proto: 1 } });
  });
});
