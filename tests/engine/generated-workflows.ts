/**
 * Generated workflows for property tests: sequences, loops, branches on results, fan-out, sleeps and
 * flaky tasks with retries, over the tasks add, mul and flaky.
 */
import fc from 'fast-check';

export type Op =
  | { kind: 'call'; k: number }
  | { kind: 'loop'; n: number }
  | { kind: 'branch' }
  | { kind: 'fanout'; n: number }
  | { kind: 'sleep'; s: number }
  | { kind: 'flaky'; fails: number };

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('call' as const), k: fc.integer({ min: 1, max: 9 }) }),
  fc.record({ kind: fc.constant('loop' as const), n: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant('branch' as const) }),
  fc.record({ kind: fc.constant('fanout' as const), n: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant('sleep' as const), s: fc.integer({ min: 1, max: 100 }) }),
  fc.record({ kind: fc.constant('flaky' as const), fails: fc.integer({ min: 0, max: 2 }) }),
);

/** Renders a generated workflow as Starlark. */
export function workflowSource(ops: readonly Op[], cached = false): string {
  const body: string[] = ['    v = 1'];
  ops.forEach((op, i) => {
    switch (op.kind) {
      case 'call':
        body.push(`    v = add(v, ${op.k})`);
        break;
      case 'loop':
        body.push(`    for i in range(${op.n}):`, '        v = add(v, i)');
        break;
      case 'branch':
        body.push('    if v % 2 == 0:', '        v = add(v, 1)', '    else:', '        v = mul(v, 3)');
        break;
      case 'fanout':
        body.push(`    fs${i} = [run(add, v, j) for j in range(${op.n})]`, `    for f in fs${i}:`, '        v = v + f.result()');
        break;
      case 'sleep':
        body.push(`    time.sleep(${op.s})`);
        break;
      case 'flaky':
        body.push(`    v = flaky(v, ${op.fails})`);
        break;
    }
    body.push('    v = v % 100003');
  });
  body.push('    return v');
  return [
    `add = task("add"${cached ? ', cache = True' : ''})`,
    `mul = task("mul"${cached ? ', cache = True' : ''})`,
    `flaky = task("flaky", retry = RetryPolicy(max_attempts = 3, initial_interval = "5s", jitter = 0.5)${cached ? ', cache = True' : ''})`,
    '',
    '@workflow()',
    'def generated():',
    ...body,
    '',
  ].join('\n');
}

