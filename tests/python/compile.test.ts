/**
 * The Python → Starlark workflow compiler (src/python): the output text keeps the .py lines, the
 * workflows/tasks/defaults it reports, and compiled files run on the test engine with fake tasks.
 */
import { describe, expect, it } from 'vitest';
import { compilePythonWorkflow } from '../../src/python/index.js';
import { numbered, runCompiled } from './helpers.js';

const QUICK = `import michelangelo.uniflow.core as uniflow
from michelangelo.uniflow.plugins.ray import RayTask

@uniflow.task(config=RayTask(head_cpu=1, head_memory="4Gi"))
def prepare_data(data_path: str):
    """Load and split data for training."""
    ...

@uniflow.task(config=RayTask(head_cpu=2, worker_instances=4))
def train_model(train_data, params: dict):
    """Train model with distributed compute."""
    ...

@uniflow.workflow()
def training_pipeline(data_path: str):
    train_data, val_data = prepare_data(data_path)
    result = train_model(train_data, params={"lr": 0.01})
    return result
`;

describe('the quick example of the Uniflow overview', () => {
  const c = compilePythonWorkflow(QUICK, 'examples/my_workflow.py');

  it('keeps every statement on its .py line', () => {
    const lines = c.starlark.split('\n');
    expect(lines.length).toBe(QUICK.split('\n').length);
    expect(lines.slice(0, 3)).toEqual(['', '', '']);
    expect(lines[4]).toBe('prepare_data = task("prepare_data", function = "my_workflow:prepare_data", config = RayTask(head_cpu = 1, head_memory = "4Gi"))');
    expect(lines[5]).toBe('');
    expect(lines[9]).toBe('train_model = task("train_model", function = "my_workflow:train_model", config = RayTask(head_cpu = 2, worker_instances = 4))');
    expect(lines[13]).toBe('@workflow()');
    expect(lines[14]).toBe('def training_pipeline(data_path):');
    expect(lines[15]).toBe('    train_data, val_data = prepare_data(data_path)');
    expect(lines[16]).toBe('    result = train_model(train_data, params = {"lr": 0.01})');
    expect(lines[17]).toBe('    return result');
  });

  it('reports the workflows and the tasks with their function references', () => {
    expect(c.workflows).toEqual(['training_pipeline']);
    expect(c.tasks).toEqual([
      { name: 'prepare_data', function: 'my_workflow:prepare_data', line: 5 },
      { name: 'train_model', function: 'my_workflow:train_model', line: 10 },
    ]);
    expect(c.defaults).toEqual({ kwargs: {}, env: {} });
    expect(compilePythonWorkflow(QUICK, 'x.py', { module: 'pkg.flows.my_workflow' }).tasks[0]!.function).toBe('pkg.flows.my_workflow:prepare_data');
  });

  it('compiles the same with CRLF line ends and tab indentation', () => {
    const crlf = compilePythonWorkflow(QUICK.replaceAll('\n', '\r\n').replaceAll('    ', '\t'), 'examples/my_workflow.py');
    expect(crlf.starlark).toBe(c.starlark);
  });

  it('runs on the engine with fake tasks', async () => {
    const r = await runCompiled(c, 'training_pipeline', { data_path: 's3://bucket/data' }, {
      prepare_data: (args) => [`${String(args[0])}/train`, `${String(args[0])}/val`],
      train_model: (args, kwargs) => ({ model: `m(${String(args[0])})`, lr: (kwargs['params'] as { lr: number }).lr }),
    });
    expect(r).toMatchObject({ status: 'completed', result: { model: 'm(s3://bucket/data/train)', lr: 0.01 } });
    expect(r.calls).toEqual(['prepare_data', 'train_model']);
  });
});

const REALISTIC = `"""A realistic Uniflow workflow file."""
import logging
import michelangelo.uniflow.core as uniflow
from michelangelo.uniflow.plugins.ray import RayTask
from michelangelo.uniflow.plugins.spark import SparkTask
from michelangelo.uniflow.core.lib.concurrent import run, batch_run, new_callable
import pandas as pd
from sklearn.metrics import accuracy_score

logger = logging.getLogger(__name__)

LR: float = 0.1
N_FOLDS = 3
THRESHOLDS = {"good": 0.8, 'ok': 0.5}


@uniflow.task(config=SparkTask(driver_cpu=2, executor_instances=4), cache_enabled=True, cache_version="v1")
def load(path: str) -> pd.DataFrame:
    """Loads the table."""
    df = pd.read_parquet(path)
    with open("/tmp/x") as f:
        f.write(str(len(df)))
    return df


@uniflow.task(alias="train", retry_attempts=2)
def train_fold(data, fold: int, lr: float = LR):
    class Model:
        pass
    return {"fold": fold, "score": accuracy_score([1], [1]) * (fold + 1) / 4}


def grade(score: float) -> str:
    """The grade of a score."""
    if score >= THRESHOLDS["good"]:
        return "good"
    elif THRESHOLDS['ok'] <= score < THRESHOLDS["good"]:
        return "ok"
    return "bad"


def unused_helper():
    try:
        return pd.DataFrame()
    except Exception:
        raise


@uniflow.workflow()
def pipeline(path: str = "s3://data/table", folds: int = N_FOLDS) -> dict:
    """Trains one model per fold
    and grades them."""
    data = load(path)
    first = run(train_fold.with_overrides(retry_attempts=1), data, 0, lr=LR * 2)
    rest = batch_run(
        [new_callable(train_fold, data, k) for k in range(1, folds)],
        max_concurrency=2,
    ).get()
    results = [first.result()] + rest
    scores = [r["score"] for r in results if 0 <= r["score"] <= 1]
    best = max(scores)
    summary = f"{len(scores)} folds, best={best!r}, grade={grade(best)} ({'%' if best > 0.5 else '-'})"
    total = 0
    for s in scores:
        if s < 0.3:
            continue
        total += s
    return {"summary": summary, "grades": {str(i): grade(s) for i, s in enumerate(scores)}, "total": total}


if __name__ == "__main__":
    ctx = uniflow.create_context()
    ctx.environ["MA_NAMESPACE"] = "ml-team"
    ctx.environ["DYNAMIC"] = compute()
    ctx.run(pipeline, path="s3://data/other", folds=4, verbose=True, when=now())
`;

describe('a realistic workflow file', () => {
  const c = compilePythonWorkflow(REALISTIC, '/repo/flows/train_flow.py');
  const lines = c.starlark.split('\n');
  const src = REALISTIC.split('\n');
  const lineOf = (needle: string): number => src.findIndex((l) => l.includes(needle));

  it('compiles line for line', () => {
    const msg = numbered(c.starlark);
    expect(lines.length, msg).toBe(src.length);
    // Imports, the docstring, unreached top-level Python (logger, unused_helper) and task bodies are blank.
    for (const needle of ['import', 'logger =', 'def unused_helper', 'raise', 'with open', 'class Model', '"""Trains one model', 'and grades them', '__main__', 'ctx.run']) {
      expect(lines[lineOf(needle)], `${needle}\n${msg}`).toBe('');
    }
    expect(lines[lineOf('LR: float')]).toBe('LR = 0.1');
    expect(lines[lineOf('THRESHOLDS =')]).toBe('THRESHOLDS = {"good": 0.8, "ok": 0.5}');
    expect(lines[lineOf('def load(')]).toBe('load_ = task("load", function = "train_flow:load", config = SparkTask(driver_cpu = 2, executor_instances = 4), cache = True, cache_version = "v1")');
    expect(lines[lineOf('def train_fold(')]).toBe('train_fold = task("train", function = "train_flow:train_fold", retries = 2)');
    expect(lines[lineOf('def grade(')]).toBe('def grade(score):');
    // A chained comparison evaluates each operand once, left to right: non-trivial ones are bound by a lambda.
    expect(lines[lineOf("elif THRESHOLDS['ok']")]).toBe('    elif ((lambda __c1: __c1 <= score and score < THRESHOLDS["good"])(THRESHOLDS["ok"])):');
    expect(lines[lineOf('def pipeline(')]).toBe('def pipeline(path = "s3://data/table", folds = N_FOLDS):');
    expect(lines[lineOf('data = load(path)')]).toBe('    data = load_(path)');
    expect(lines[lineOf('first = run(')]).toBe('    first = run(train_fold.with_overrides(retry_attempts = 1), data, 0, lr = LR * 2)');
    expect(lines[lineOf('max_concurrency=2')]).toBe('        max_concurrency = 2');
    expect(lines[lineOf(').get()')]).toBe('        ).get()');
    expect(lines[lineOf('summary = f"')]).toBe(
      '    summary = ("%s folds, best=%r, grade=%s (%s)" % (len(scores), best, grade(best), "%" if best > 0.5 else "-"))',
    );
    expect(lines[lineOf('scores = [r["score"]')]).toBe('    scores = [r["score"] for r in results if ((lambda __c0: 0 <= __c0 and __c0 <= 1)(r["score"]))]');
  });

  it('reports workflows, tasks (alias as name) and the __main__ defaults (constants only)', () => {
    expect(c.workflows).toEqual(['pipeline']);
    expect(c.tasks).toEqual([
      { name: 'load', function: 'train_flow:load', line: lineOf('def load(') + 1 },
      { name: 'train', function: 'train_flow:train_fold', line: lineOf('def train_fold(') + 1 },
    ]);
    expect(c.defaults).toEqual({ workflow: 'pipeline', kwargs: { path: 's3://data/other', folds: 4, verbose: true }, env: { MA_NAMESPACE: 'ml-team' } });
  });

  it('runs on the engine with fake tasks', async () => {
    const r = await runCompiled(c, 'pipeline', { folds: 4 }, {
      load: (args) => ({ rows: 10, path: args[0]! }),
      train: (args, kwargs) => ({ fold: args[1]!, score: [0.9, 0.2, 0.6, 0.7][args[1] as number]!, lr: kwargs['lr'] ?? null }),
    });
    expect(r.status, JSON.stringify(r.error)).toBe('completed');
    expect(r.result).toEqual({
      summary: '4 folds, best=0.9, grade=good (%)',
      grades: { '0': 'good', '1': 'bad', '2': 'ok', '3': 'ok' },
      total: 0.9 + 0.6 + 0.7,
    });
    expect(r.calls[0]).toBe('load');
    expect(r.calls.filter((n) => n === 'train')).toHaveLength(4);
  });
});

describe('time functions of michelangelo.uniflow.core.lib.time', () => {
  it('load the @plugin time module under a private name on the import line', async () => {
    const src = [
      'from michelangelo.uniflow.core import workflow',
      'from michelangelo.uniflow.core.lib.time import time, sleep, utc_format_seconds',
      '',
      '@workflow()',
      'def wait(seconds=5):',
      '    start = time()',
      '    sleep(seconds)',
      '    return [time() - start >= seconds, utc_format_seconds("%Y", 0)]',
    ].join('\n');
    const c = compilePythonWorkflow(src, 'w.py');
    const lines = c.starlark.split('\n');
    expect(lines[1]).toBe('load("@plugin", __uf_time = "time")');
    expect(lines[5]).toBe('    start = __uf_time.time()');
    expect(lines[6]).toBe('    __uf_time.sleep(seconds)');
    const r = await runCompiled(c, 'wait', { seconds: 60 }, {});
    expect(r).toMatchObject({ status: 'completed', result: [true, '1970'] });
  });
});

describe('larkflow spellings and other forms', () => {
  it('accepts from larkflow import task, workflow, bare decorators, nested defs, lambdas and inline suites', async () => {
    const src = [
      'from larkflow import task, workflow, KubernetesTask',
      '',
      '@task',
      'def double(x): return 2 * x',
      '',
      '@task(retry_attempts=1)',
      'def add(a, b):',
      '    return a + b',
      '',
      '@workflow',
      'def flow(xs=[1, 2, 3]):',
      '    def inc(v):',
      '        return v + 1',
      '    key = lambda p: -p[1]',
      '    pairs = sorted([(x, double(inc(x))) for x in xs], key=key)',
      "    label = 'a' 'b' \\",
      '        "c"',
      '    if not pairs: return None',
      '    a, b = pairs[0][1], pairs[-1][1]',
      '    out = add(a, b=b); n = len(pairs)',
      '    return {"out": out, "n": n, "label": label, "s": pairs[1:][::-1], "tern": "big" if out > 10 else "small"}',
    ].join('\n');
    const c = compilePythonWorkflow(src, 'flow.py');
    expect(c.starlark.split('\n')[3]).toBe('double = task("double", function = "flow:double")');
    expect(c.starlark.split('\n')[9]).toBe('@workflow()');
    const r = await runCompiled(c, 'flow', {}, { double: (a) => 2 * (a[0] as number), add: (a, k) => (a[0] as number) + (k['b'] as number) });
    expect(r.status, JSON.stringify(r.error)).toBe('completed');
    expect(r.result).toEqual({ out: 12, n: 3, label: 'abc', s: [[1, 4], [2, 6]], tern: 'big' });
  });

  it('keeps strings valid: quotes, escapes, raw strings, triple-quoted text over lines, bytes', () => {
    const src = [
      'from larkflow import workflow',
      "A = 'it\\'s \"q\"'",
      'B = r"C:\\path\\d+"',
      'C = """line1',
      "line2 'x' \"y\"",
      '"""',
      "D = b'\\x00\\xff'",
      "E = '\\d\\q'.replace('x', '') if False else 'tab\\there\\u00e9\\U0001F600'",
      '@workflow()',
      'def w():',
      '    return [A, B, C, E]',
    ].join('\n');
    const c = compilePythonWorkflow(src, 'w.py');
    const lines = c.starlark.split('\n');
    expect(lines[1]).toBe('A = "it\'s \\"q\\""');
    expect(lines[2]).toBe('B = "C:\\\\path\\\\d+"');
    expect(lines[3]).toBe('C = """line1');
    expect(lines[9]).toBe('def w():');
  });

  it('accepts import larkflow and larkflow.task/larkflow.workflow/larkflow.run', async () => {
    const src = ['import larkflow', '@larkflow.task(cache_enabled=True, cache_version="v2")', 'def t(x):', '    pass', '@larkflow.workflow()', 'def w(x=1):', '    f = larkflow.run(t, x)', '    return f.result()'].join('\n');
    const c = compilePythonWorkflow(src, 'lw.py');
    expect(c.starlark.split('\n')[2]).toBe('t = task("t", function = "lw:t", cache = True, cache_version = "v2")');
    expect(c.starlark.split('\n')[6]).toBe('    f = run(t, x)');
    expect(await runCompiled(c, 'w', { x: 4 }, { t: (a) => (a[0] as number) + 1 })).toMatchObject({ status: 'completed', result: 5 });
  });

  it("declares tasks of Michelangelo's other task decorators (pipeline_task) and skips unused Python", () => {
    const src = [
      'import ray',
      'import michelangelo.uniflow.core as uniflow',
      'from michelangelo.canvas.pipeline.task import pipeline_task',
      'from michelangelo.uniflow.plugins.spark import SparkTask',
      'class Cfg:',
      '    n: int',
      '@pipeline_task(config=SparkTask(driver_cpu=1))',
      'def prep(config: Cfg) -> list:',
      '    assert config.n > 0',
      '    return list(range(config.n))',
      '@ray.remote',
      'def shard(rows):',
      '    return sum(1 for r in rows if r is not None)',
      '@uniflow.workflow()',
      'def flow(cfg: dict):',
      '    rows = prep(config=cfg["prep"])',
      '    return len(rows) if "prep" in cfg else 0',
    ].join('\n');
    const c = compilePythonWorkflow(src, 'canvas.py');
    expect(c.tasks).toEqual([{ name: 'prep', function: 'canvas:prep', line: 8 }]);
    expect(c.starlark.split('\n')[7]).toBe('prep = task("prep", function = "canvas:prep", config = SparkTask(driver_cpu = 1))');
  });

  it('maps names of Uniflow modules imported by their dotted path', () => {
    const src = [
      'import michelangelo.uniflow.core',
      'import michelangelo.uniflow.core.lib.concurrent as concurrent',
      '@michelangelo.uniflow.core.task(config=michelangelo.uniflow.core.RayTask(head_cpu=1))',
      'def t(x):',
      '    pass',
      '@michelangelo.uniflow.core.workflow()',
      'def w(xs):',
      '    return concurrent.batch_run([concurrent.new_callable(t, x) for x in xs]).get()',
    ].join('\n');
    expect(compilePythonWorkflow(src, 'a.py').starlark.split('\n')).toEqual([
      '',
      '',
      '',
      't = task("t", function = "a:t", config = RayTask(head_cpu = 1))',
      '',
      '@workflow()',
      'def w(xs):',
      '    return batch_run([new_callable(t, x) for x in xs]).get()',
    ]);
  });

  it('gives strings the values Python gives them', async () => {
    const src = [
      'from larkflow import workflow',
      "A = 'it\\'s \"q\"'",
      'B = r"C:\\path\\d+"',
      'C = """line1',
      "line2 'x' \"y\"",
      '"""',
      "E = 'tab\\there\\u00e9\\U0001F600\\d' 'x' \"y\"",
      '@workflow()',
      'def w():',
      '    return [A, B, C, E]',
    ].join('\n');
    const r = await runCompiled(compilePythonWorkflow(src, 'w.py'), 'w', {}, {});
    expect(r.result).toEqual(['it\'s "q"', 'C:\\path\\d+', 'line1\nline2 \'x\' "y"\n', 'tab\there\u00e9\u{1F600}\\dxy']);
  });
});
