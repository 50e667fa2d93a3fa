/**
 * What an in-process task raises outside its call (a throw in a timer, a rejected promise nobody
 * awaits, process.exit) fails that task's attempt instead of ending the engine's process; what is
 * raised outside any task goes to the host as before; a thrown plain object reads usefully
 * (issue 9).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TaskRequest } from '../../src/engine/core/ports.js';
import { FunctionExecutor, TaskFailure } from '../../src/engine/executors/index.js';

let seq = 0;
function request(task: string, over: Partial<TaskRequest> = {}): TaskRequest {
  const stepId = `${task}#${++seq}`;
  return { runId: 'run-c', stepId, attempt: 1, idempotencyKey: `run-c/${stepId}/1`, task, args: [], kwargs: {}, signal: new AbortController().signal, ...over };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Two turns of the event loop: the guard is put away one turn after the last attempt ends. */
const settle = async (): Promise<void> => {
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
};

const originalEmit = process.emit;
const originalExit = process.exit;
const originalQueueMicrotask = globalThis.queueMicrotask;

afterEach(async () => {
  await settle();
  // Every test leaves the process as it found it.
  expect(process.emit).toBe(originalEmit);
  expect(process.exit).toBe(originalExit);
  expect(globalThis.queueMicrotask).toBe(originalQueueMicrotask);
});

describe('FunctionExecutor: errors raised outside the call', () => {
  it('a throw in a timer callback fails the attempt that set the timer', async () => {
    const ex = new FunctionExecutor();
    ex.register('timer', async () => {
      setTimeout(() => {
        throw new Error('x from a timer');
      }, 5);
      await sleep(200);
      return 'not reached';
    });
    ex.register('bystander', async () => {
      await sleep(50);
      return 'fine';
    });
    const [failed, fine] = await Promise.all([ex.submit(request('timer')).done, ex.submit(request('bystander')).done]);
    expect(failed).toMatchObject({ ok: false, error: { kind: 'task', message: 'task timer: uncaught exception: x from a timer', retryable: true } });
    if (!failed.ok) expect(failed.error.details).toContain('x from a timer');
    expect(fine).toEqual({ ok: true, value: 'fine' });
  });

  it('a promise rejected without being awaited fails the attempt, even from a task that returns at once', async () => {
    const ex = new FunctionExecutor();
    ex.register('sync', () => {
      void Promise.reject(new TaskFailure('lost', { kind: 'lost', retryable: false }));
      return 1;
    });
    ex.register('async', async () => {
      void (async () => {
        await sleep(5);
        throw new Error('later');
      })();
      await sleep(100);
      return 2;
    });
    expect(await ex.submit(request('sync')).done).toMatchObject({ ok: false, error: { kind: 'lost', message: 'task sync: unhandled rejection: lost', retryable: false } });
    expect(await ex.submit(request('async')).done).toMatchObject({ ok: false, error: { message: 'task async: unhandled rejection: later' } });
  });

  it('a throw in a queued microtask fails the attempt', async () => {
    const ex = new FunctionExecutor();
    ex.register('micro', async () => {
      queueMicrotask(() => {
        throw new Error('from a microtask');
      });
      await sleep(20);
      return 1;
    });
    expect(await ex.submit(request('micro')).done).toMatchObject({ ok: false, error: { message: 'task micro: uncaught exception: from a microtask' } });
  });

  it('process.exit in a task fails the attempt, synchronously or later, and does not end the process', async () => {
    const ex = new FunctionExecutor();
    ex.register('exit-now', () => process.exit(0));
    ex.register('exit-later', async () => {
      setTimeout(() => process.exit(3), 5);
      await sleep(100);
      return 'not reached';
    });
    expect(await ex.submit(request('exit-now')).done).toEqual({ ok: false, error: { kind: 'task', message: 'task exit-now called process.exit(0): tasks must return or throw', retryable: false } });
    expect(await ex.submit(request('exit-later')).done).toEqual({ ok: false, error: { kind: 'task', message: 'task exit-later called process.exit(3): tasks must return or throw', retryable: false } });
  });

  it('passes on what is raised outside any task, while tasks run', async () => {
    const ex = new FunctionExecutor();
    let release!: () => void;
    ex.register('wait', () => new Promise<string>((r) => (release = () => r('done'))));
    const h = ex.submit(request('wait'));
    await sleep(5);
    expect(process.emit).not.toBe(originalEmit); // the guard is in place while the task runs
    const heard: unknown[] = [];
    const listener = (e: unknown): void => void heard.push(e);
    process.on('uncaughtException', listener);
    try {
      const hostError = new Error('the host');
      expect((process.emit as (event: string, ...args: unknown[]) => boolean).call(process, 'uncaughtException', hostError, 'uncaughtException')).toBe(true);
      expect(heard).toEqual([hostError]);
    } finally {
      process.off('uncaughtException', listener);
    }
    release();
    expect(await h.done).toEqual({ ok: true, value: 'done' });
  });

  it('calls the original process.exit for a call outside a task while the guard is in place', async () => {
    const spy = vi.fn();
    process.exit = spy as unknown as typeof process.exit;
    try {
      const ex = new FunctionExecutor();
      let release!: () => void;
      ex.register('wait', () => new Promise<null>((r) => (release = () => r(null))));
      const h = ex.submit(request('wait'));
      await sleep(5);
      expect(process.exit).not.toBe(spy);
      process.exit(4);
      expect(spy).toHaveBeenCalledWith(4);
      release();
      await h.done;
      await settle();
      expect(process.exit).toBe(spy);
    } finally {
      process.exit = originalExit;
    }
  });
});

describe('FunctionExecutor: thrown values that are not Errors', () => {
  it('reads a thrown plain object as its message, or as its JSON, never [object Object]', async () => {
    const ex = new FunctionExecutor();
    ex.register('with-message', () => {
      throw { message: 'quota exceeded', code: 429 };
    });
    ex.register('plain', () => {
      throw { code: 42, reason: 'bad input', big: 10n };
    });
    ex.register('rejects', async () => {
      throw { status: 'failed' };
    });
    ex.register('cyclic', () => {
      const o: { self?: unknown; a: number } = { a: 1 };
      o.self = o;
      throw o;
    });
    ex.register('kinded', () => {
      throw { kind: 'quota', retryable: false, message: 'slow down' };
    });
    expect(await ex.submit(request('with-message')).done).toEqual({ ok: false, error: { kind: 'task', message: 'quota exceeded', retryable: true } });
    expect(await ex.submit(request('plain')).done).toEqual({ ok: false, error: { kind: 'task', message: 'task threw {"code":42,"reason":"bad input","big":"10"}', retryable: true } });
    expect(await ex.submit(request('rejects')).done).toEqual({ ok: false, error: { kind: 'task', message: 'task threw {"status":"failed"}', retryable: true } });
    expect(await ex.submit(request('cyclic')).done).toEqual({ ok: false, error: { kind: 'task', message: 'task threw an object with keys a, self', retryable: true } });
    expect(await ex.submit(request('kinded')).done).toEqual({ ok: false, error: { kind: 'quota', message: 'slow down', retryable: false } });
  });
});
