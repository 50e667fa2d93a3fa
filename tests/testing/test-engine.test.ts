/**
 * The test engine of larkflow/testing: virtual time that skips ahead with timers in order, fake tasks
 * answered from programmed schedules (values, failures, timeouts, durations), a controllable
 * completion order, SQLite or memory stores, and simulated crashes recovered by restart().
 */
import { describe, expect, it } from 'vitest';
import { choicesChooser, createTestEngine, fakeTask } from '../../src/testing/index.js';

const DAY = 86_400_000;

describe('createTestEngine', () => {
  it('skips virtual time: a workflow that sleeps for a day finishes at once, timers in order', async () => {
    const te = createTestEngine();
    const fired: string[] = [];
    te.registerTask('note', (what: string) => (fired.push(what), what));
    const src = [
      'note = task("note")',
      'def later(s, what):',
      '    time.sleep(s)',
      '    return note(what)',
      '@workflow()',
      'def w():',
      '    fs = [run(later, 86400, "day"), run(later, 60, "minute"), run(later, 3600, "hour")]',
      '    return [f.result() for f in fs]',
      '',
    ].join('\n');
    const t0 = Date.now();
    const r = await te.runToCompletion(te.start({ source: { name: 'sleep.star', text: src } }));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(r).toMatchObject({ status: 'completed', result: ['day', 'minute', 'hour'] });
    expect(fired).toEqual(['minute', 'hour', 'day']);
    expect(te.clock.now() - Date.UTC(2026, 0, 1)).toBe(DAY);
    await te.dispose();
  });

  it('answers fake tasks from their schedule: failures, retries, durations, values', async () => {
    const te = createTestEngine();
    const fetch = fakeTask(te, 'fetch', [{ fail: 'connection reset' }, { takes: 30_000, then: { fail: 'again' } }, { takes: 5_000, then: { return: [1, 2] } }]);
    fakeTask(te, 'sum', [{ return: (xs: number[]) => xs.reduce((a, b) => a + b, 0) }]);
    const src = 'fetch = task("fetch", retry = RetryPolicy(max_attempts = 3, initial_interval = "10s", backoff = 1, jitter = 0))\nsum = task("sum")\n@workflow()\ndef w():\n    return sum(fetch())\n';
    const r = await te.runToCompletion(te.start({ source: { name: 'f.star', text: src }, runId: 'r' }));
    expect(r).toMatchObject({ status: 'completed', result: 3 });
    expect(fetch.calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
    // 10s + 30s + 10s + 5s of virtual time
    expect(te.clock.now() - Date.UTC(2026, 0, 1)).toBe(55_000);
    const failures = te.history('r').filter((e) => e.kind === 'AttemptFailed');
    expect(failures.map((e) => (e.kind === 'AttemptFailed' ? e.error.message : ''))).toEqual(['connection reset', 'again']);
    await te.dispose();
  });

  it('times attempts out in virtual time, and fails non-retryable errors for good', async () => {
    const te = createTestEngine();
    fakeTask(te, 'slow', [{ takes: 2 * 60_000, then: { return: 1 } }, { timeout: true }, { return: 7 }]);
    fakeTask(te, 'broken', [{ fail: 'bad input', retryable: false }]);
    const src = 'slow = task("slow", timeout = "1m", retries = 2)\nbroken = task("broken", retries = 3)\n@workflow()\ndef w():\n    x = slow()\n    return x\n@workflow()\ndef b():\n    return broken()\n';
    const r = await te.runToCompletion(te.start({ source: { name: 't.star', text: src }, workflow: 'w', runId: 'w1' }));
    expect(r).toMatchObject({ status: 'completed', result: 7 });
    const errs = te.history('w1').flatMap((e) => (e.kind === 'AttemptFailed' ? [e.error.kind] : []));
    expect(errs).toEqual(['timeout', 'timeout']);
    const rb = await te.runToCompletion(te.start({ source: { name: 't.star', text: src }, workflow: 'b' }));
    expect(rb.status).toBe('failed');
    expect(rb.error!.message).toMatch(/bad input/);
    await te.dispose();
  });

  it('consumes schedules per call when asked', async () => {
    const te = createTestEngine();
    fakeTask(te, 'next', [{ return: 'a' }, { return: 'b' }, { return: 'c' }], { by: 'call' });
    const src = 'next = task("next")\n@workflow()\ndef w():\n    return [next(), next(), next(), next()]\n';
    const r = await te.runToCompletion(te.start({ source: { name: 'c.star', text: src } }));
    expect(r.result).toEqual(['a', 'b', 'c', 'c']);
    await te.dispose();
  });

  it('lets a chooser decide the completion order of concurrent tasks', async () => {
    const order: string[] = [];
    const te = createTestEngine({ order: choicesChooser([2, 1]) });
    te.registerTask('work', (x: string) => (order.push(x), x));
    const src = 'work = task("work")\n@workflow()\ndef w():\n    fs = [run(work, x) for x in ["p", "q", "r"]]\n    return [f.result() for f in fs]\n';
    const r = await te.runToCompletion(te.start({ source: { name: 'o.star', text: src } }));
    expect(r.result).toEqual(['p', 'q', 'r']);
    expect(order).toEqual(['r', 'q', 'p']);
    expect(te.completions).toEqual(['work#3@1', 'work#2@1', 'work#1@1']);
    await te.dispose();
  });

  for (const store of ['memory', 'sqlite'] as const) {
    it(`crashes at a commit and recovers on restart (${store})`, async () => {
      const te = createTestEngine({ store, crashAtCommit: 3 });
      const calls: string[] = [];
      te.registerTaskWithContext('step', (ctx, x: number) => (calls.push(`${ctx.stepId}@${ctx.attempt}`), x + 1));
      const src = 'step = task("step")\n@workflow()\ndef w():\n    x = step(1)\n    time.sleep(60)\n    return step(x)\n';
      const h = te.start({ source: { name: 'c.star', text: src }, runId: 'c1' });
      await te.runUntilIdle();
      expect(te.crashed).toMatchObject({ commit: 3, runId: 'c1' });
      await expect(te.runToCompletion(h)).rejects.toThrow(/crashed at commit 3; call restart\(\)/);
      expect(te.restart()).toEqual(['c1']);
      const r = await te.runToCompletion('c1');
      expect(r).toMatchObject({ status: 'completed', result: 3 });
      expect(te.attempts.map((a) => `${a.stepId}@${a.attempt}/g${a.generation}`)).toContain('step#2@1/g1');
      if (store === 'sqlite') expect(te.dbPath).toMatch(/larkflow\.db$/);
      await te.dispose();
    });
  }
});
