/**
 * The local Python executor: a task declared with a Python function reference
 * (`task("double", function = "pytasks:double")`) runs `python3 -m larkflow_runner` as a supervised
 * local process, importing its module from the workflow's directory — with retries, the cache, a
 * Python traceback as the error, and a re-attach after a crash (the attempt runs once).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine, type HistoryEvent } from '../../src/engine/index.js';

let dir: string;
const engines: Engine[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lf-local-py-'));
  writeFileSync(
    join(dir, 'pytasks.py'),
    [
      'import os, time',
      'def double(x):',
      '    return 2 * x',
      'def fails_once(marker):',
      '    if not os.path.exists(marker):',
      '        open(marker, "w").close()',
      '        raise ValueError("not yet")',
      '    return "second time"',
      'def slow(log, ms):',
      '    time.sleep(ms / 1000)',
      '    with open(log, "a") as f:',
      '        f.write("ran\\n")',
      '    return ms',
      'import dataclasses, enum',
      '@dataclasses.dataclass',
      'class Split:',
      '    train: list',
      '    test: list',
      'class Color(enum.Enum):',
      '    RED = 1',
      'class Model:',
      '    def __init__(self, w):',
      '        self.w = w',
      'def make():',
      '    return {"split": Split([1, 2], [3]), "blob": b"\\x00\\xff", "color": Color.RED, "model": Model(7), "tags": {"a", "b"} - {"b"}}',
      'def use(split, blob, color, model, tags):',
      '    assert isinstance(split, Split) and isinstance(model, Model) and color is Color.RED',
      '    return [split.train, len(blob), color.name, model.w, sorted(tags)]',
      '',
    ].join('\n'),
  );
});
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

function open(): Engine {
  const e = Engine.open({ db: join(dir, 'runs.db'), workDir: join(dir, '.larkflow', 'attempts') });
  engines.push(e);
  return e;
}

function workflow(body: string): string {
  const file = join(dir, 'flow.star');
  writeFileSync(file, body);
  return file;
}

describe('tasks with a Python function reference run as local Python', () => {
  it('runs the function, with retries and its traceback', async () => {
    const file = workflow(`
double = task("double", function = "pytasks:double", cache = True)
fails_once = task("fails_once", function = "pytasks:fails_once", retry = RetryPolicy(max_attempts = 2, initial_interval = "10ms"))
bad = task("bad", function = "pytasks:no_such_function", retries = 3)

@workflow()
def main(n):
    return [double(n), fails_once(${JSON.stringify(join(dir, 'marker'))})]

@workflow()
def broken():
    return bad()
`);
    const engine = open();
    const h = engine.start({ file, workflow: 'main', args: [21] });
    const r = await h.result;
    expect(r.error).toBeUndefined();
    expect(r.result).toEqual([42, 'second time']);
    const st = engine.state(h.runId);
    expect(st.steps['double#1']!.attempts[0]!.executor).toBe('python');
    expect(st.steps['fails_once#1']!.attempts[0]!.error?.message).toContain('ValueError: not yet');
    expect(st.steps['fails_once#1']!.attempts[0]!.error?.details).toContain('Traceback');
    // A missing function is not retried.
    const b = await engine.start({ file, workflow: 'broken' }).result;
    expect(b.status).toBe('failed');
    expect(b.error?.message).toMatch(/has no 'no_such_function'/);
    // The cache covers Python tasks too.
    const again = engine.start({ file, workflow: 'main', args: [21] });
    await again.result;
    expect(engine.history(again.runId).find((e: HistoryEvent) => e.kind === 'TaskCompleted')).toMatchObject({ source: 'cache' });
  });

  it('passes values between tasks as Uniflow does: codecs for dataclasses, bytes and enums, references for the rest', async () => {
    const file = workflow(`
make = task("make", function = "pytasks:make")
use = task("use", function = "pytasks:use")

@workflow()
def main():
    v = make()
    # a dataclass is a dataclass value; the model is an opaque reference
    return [v["split"].train, type(v["model"]), v["model"].type, use(v["split"], v["blob"], v["color"], v["model"], v["tags"])]
`);
    const engine = open();
    const r = await engine.start({ file }).result;
    expect(r.error).toBeUndefined();
    expect(r.result).toEqual([[1, 2], 'ref', 'pytasks.Model', [[1, 2], 2, 'RED', 7, ['a']]]);
  });

  it('re-attaches to the running Python attempt after a crash: it runs once', async () => {
    const log = join(dir, 'ran.log');
    const file = workflow(`
slow = task("slow", function = "pytasks:slow")

@workflow()
def main():
    return slow(${JSON.stringify(log)}, 500)
`);
    const first = open();
    const h = first.start({ file });
    for (let i = 0; i < 300 && !first.history(h.runId).some((e) => e.kind === 'AttemptSubmitted'); i++) await new Promise((r) => setTimeout(r, 10));
    first.abandon();
    const second = open();
    second.recover();
    const r = await second.result(h.runId);
    expect(r.status).toBe('completed');
    expect(r.result).toBe(500);
    expect(readFileSync(log, 'utf8')).toBe('ran\n');
  });
});
