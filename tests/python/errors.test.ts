/**
 * Compile-time errors of the Python → Starlark compiler: each kind at its file:line:col, with the
 * source line, a caret and a hint.
 */
import { describe, expect, it } from 'vitest';
import { compilePythonWorkflow, PythonCompileError } from '../../src/python/index.js';
import { compileError } from './helpers.js';

/** A workflow file whose workflow body (from line 7) is `body`. */
function wf(...body: string[]): string {
  return [
    'import michelangelo.uniflow.core as uniflow', // 1
    'from michelangelo.uniflow.core.lib.time import datestr', // 2
    'import pandas as pd', // 3
    'from sklearn.metrics import accuracy_score', // 4
    '', // 5
    '@uniflow.workflow()', // 6
    'def wf(x, y=None):', // 7
    ...body.map((l) => `    ${l}`), // 8...
  ].join('\n');
}

interface Case {
  readonly name: string;
  readonly text: string;
  readonly line: number;
  readonly column: number;
  readonly message: RegExp;
  readonly hint?: RegExp;
}

const CASES: Case[] = [
  { name: 'try', text: wf('try:', '    x = 1', 'except Exception:', '    pass', 'return x'), line: 8, column: 5, message: /^try statements are not supported in workflow code$/, hint: /retry_attempts/ },
  { name: 'with', text: wf('with open("f") as f:', '    pass'), line: 8, column: 5, message: /^with statements are not supported/, hint: /@task/ },
  { name: 'class', text: wf('class A:', '    pass'), line: 8, column: 5, message: /^classes are not supported/ },
  { name: 'raise', text: wf('if x:', '    raise ValueError("bad")'), line: 9, column: 9, message: /^raise is not supported/, hint: /fail\("message"\)/ },
  { name: 'global', text: wf('global G'), line: 8, column: 5, message: /^global is not supported/ },
  { name: 'nonlocal', text: wf('def inner():', '    nonlocal x', '    return 1', 'return inner()'), line: 9, column: 9, message: /^nonlocal is not supported/ },
  { name: 'is', text: wf('if x is None:', '    return 1'), line: 8, column: 10, message: /^is is not supported/, hint: /use ==/ },
  { name: 'is not', text: wf('return y is not None'), line: 8, column: 14, message: /^is not is not supported/, hint: /use !=/ },
  { name: 'while', text: wf('while x:', '    x = x - 1'), line: 8, column: 5, message: /^while loops are not allowed in workflow code$/, hint: /for i in range\(N\)/ },
  { name: 'walrus', text: wf('if (n := len(x)) > 1:', '    return n'), line: 8, column: 9, message: /^assignment expressions \(:=\) are not supported/ },
  { name: 'await', text: wf('return await x'), line: 8, column: 12, message: /^await is not supported/ },
  { name: 'yield', text: wf('yield x'), line: 8, column: 5, message: /^yield is not supported/ },
  { name: 'assert', text: wf('assert x > 0, "positive"'), line: 8, column: 5, message: /^assert is not supported/, hint: /if not condition: fail/ },
  { name: 'star unpacking', text: wf('a, *b = x', 'return a'), line: 8, column: 8, message: /^star unpacking in assignments/ },
  { name: 'del', text: wf('del x'), line: 8, column: 5, message: /^del is not supported/ },
  { name: 'set literal', text: wf('return {1, 2}'), line: 8, column: 12, message: /^set literals are not supported/, hint: /set\(\[\.\.\.\]\)/ },
  { name: 'import inside a function', text: wf('import os', 'return 1'), line: 8, column: 5, message: /^import inside workflow code/ },
  { name: 'imported library', text: wf('df = pd.read_csv(x)', 'return df'), line: 8, column: 10, message: /^workflow code cannot call the imported library pd: move it into a @task function$/ },
  { name: 'imported library (from import)', text: wf('return accuracy_score(x, y)'), line: 8, column: 12, message: /^workflow code cannot call the imported library accuracy_score: move it into a @task function$/, hint: /If accuracy_score is a @task or @workflow of sklearn.metrics: tasks and workflows of other modules are not supported yet/ },
  { name: 'datestr', text: wf('return datestr()'), line: 8, column: 12, message: /^not supported yet: datestr/ },
  { name: 'power', text: wf('return x ** 2'), line: 8, column: 12, message: /^\*\* is not supported/ },
  { name: 'f-string spec', text: wf('return f"{x:,}"'), line: 8, column: 14, message: /^not supported yet: format spec ":," in an f-string \(the , grouping\)$/, hint: /\[\[fill\]align\]/ },
  { name: 'for else', text: wf('for i in x:', '    pass', 'else:', '    pass'), line: 8, column: 5, message: /^for \.\.\. else is not supported/ },
  { name: 'async def', text: wf('async def g():', '    pass', 'return 1'), line: 8, column: 5, message: /^async functions are not supported/ },
  { name: 'syntax error', text: wf('x = = 1'), line: 8, column: 9, message: /^invalid syntax/ },
  { name: 'undefined name (the Starlark resolver)', text: wf('return sum(x)'), line: 8, column: 5, message: /^in the compiled Starlark: undefined: sum/, hint: /Python builtins such as sum/ },
  {
    name: 'direct recursion',
    text: ['from larkflow import workflow', 'def fact(n):', '    return 1 if n < 2 else n * fact(n - 1)', '@workflow()', 'def w(n):', '    return fact(n)'].join('\n'),
    line: 3,
    column: 32,
    message: /^recursion is not allowed in workflow code: fact -> fact$/,
    hint: /bounded for loop/,
  },
  {
    name: 'mutual recursion',
    text: ['from larkflow import workflow', 'def even(n):', '    return True if n == 0 else odd(n - 1)', 'def odd(n):', '    return False if n == 0 else even(n - 1)', '@workflow()', 'def w(n):', '    return even(n)'].join('\n'),
    line: 3,
    column: 32,
    message: /^recursion is not allowed in workflow code: (even -> odd -> even|odd -> even -> odd)$/,
  },
  {
    name: 'recursion of a nested def',
    text: ['from larkflow import workflow', '@workflow()', 'def w(n):', '    def f(k):', '        return 0 if k == 0 else f(k - 1)', '    return f(n)'].join('\n'),
    line: 5,
    column: 33,
    message: /^recursion is not allowed in workflow code: f -> f$/,
  },
  {
    name: 'other decorators',
    text: ['import functools', 'from larkflow import workflow', '@functools.lru_cache()', '@workflow()', 'def w(n):', '    return n'].join('\n'),
    line: 3,
    column: 1,
    message: /^decorators other than @task\/@workflow are not supported/,
  },
  {
    name: 'unknown task option',
    text: ['import michelangelo.uniflow.core as uniflow', '@uniflow.task(io=MyIO(), retry_attempts=1)', 'def t(x):', '    return x', '@uniflow.workflow()', 'def w(n):', '    return t(n)'].join('\n'),
    line: 2,
    column: 15,
    message: /^not supported yet: io= /,
  },
  {
    name: 'a task decorator of another library',
    text: ['from celery import Celery', 'app = Celery()', 'from larkflow import workflow', '@app.task(bind=True)', 'def t(x):', '    return x', '@workflow()', 'def w(n):', '    return t(n)'].join('\n'),
    line: 4,
    column: 1,
    message: /^@app\.task is not Uniflow's task decorator/,
  },
  {
    name: 'a task config the engine rejects when it loads the file',
    text: ['import michelangelo.uniflow.core as uniflow', 'from michelangelo.uniflow.plugins.ray import RayTask', '@uniflow.task(', '    config=RayTask(head_cpus=1),', ')', 'def t(x):', '    return x', '@uniflow.workflow()', 'def w(n):', '    return t(n)'].join('\n'),
    line: 6,
    column: 1,
    message: /^when the compiled file is loaded: .*head_cpus/,
  },
  {
    name: 'a reached class',
    text: ['from larkflow import workflow', 'class Config:', '    lr = 0.1', '@workflow()', 'def w():', '    return Config'].join('\n'),
    line: 2,
    column: 1,
    message: /^Config is defined by a class statement: classes are not supported/,
  },
  {
    name: 'a reached constant that does not parse',
    text: ['from larkflow import workflow', 'X = [1 2]', '@workflow()', 'def w():', '    return X'].join('\n'),
    line: 2,
    column: 8,
    message: /^invalid syntax/,
  },
];

describe('compile errors', () => {
  it.each(CASES)('$name', (c) => {
    const e = compileError(c.text);
    const first = e.problems[0]!;
    expect({ line: e.line, column: e.column }, e.render()).toEqual({ line: c.line, column: c.column });
    expect(first.message, e.render()).toMatch(c.message);
    if (c.hint) expect(e.hint, e.render()).toMatch(c.hint);
    expect(e.sourceLine).toBe(c.text.split('\n')[c.line - 1]);
    expect(e.file).toBe('my_workflow.py');
  });

  it('renders file:line:col, the source line, a caret under the column and the hint', () => {
    const e = compileError(wf('if x is None:', '    return 1'));
    expect(e.render()).toBe(['my_workflow.py:8:10: is is not supported in workflow code', '        if x is None:', '             ^', 'hint: use == (x == None for None checks)'].join('\n'));
    expect(e.message).toBe('my_workflow.py:8:10: is is not supported in workflow code');
  });

  it('collects every problem into one error', () => {
    const e = compileError(wf('try:', '    pass', 'finally:', '    pass', 'assert x', 'return x is y'));
    expect(e.problems.map((p) => `${p.line}:${p.column}`)).toEqual(['8:5', '12:5', '13:14']);
    expect(e.message).toMatch(/\(and 2 more problems\)$/);
    expect(e.render().split('\n').filter((l) => l.startsWith('my_workflow.py:'))).toHaveLength(3);
  });

  it('allows while with allowWhile', () => {
    const c = compilePythonWorkflow(wf('while x > 0:', '    x = x - 1', 'return x'), 'my_workflow.py', { allowWhile: true });
    expect(c.starlark.split('\n')[7]).toBe('    while x > 0:');
  });

  it('ignores Python that the workflows do not reach (unused helpers, task bodies, top-level setup)', () => {
    const text = [
      'import logging',
      'import pandas as pd',
      'from larkflow import task, workflow',
      'logging.basicConfig(level=logging.INFO)',
      'class Helper:',
      '    pass',
      'def unused():',
      '    try:',
      '        return pd.DataFrame({1, 2})',
      '    except Exception as e:',
      '        raise RuntimeError(e) from e',
      '@task()',
      'async def t(x):',
      '    async with pd.lock() as l:',
      '        return [y async for y in x if y is not None]',
      '@workflow()',
      'def w(x):',
      '    return t(x)',
    ].join('\n');
    const c = compilePythonWorkflow(text, 'my_workflow.py');
    expect(c.tasks).toEqual([{ name: 't', function: 'my_workflow:t', line: 13 }]);
    expect(c.starlark.split('\n').filter((l) => l !== '')).toEqual(['t = task("t", function = "my_workflow:t")', '@workflow()', 'def w(x):', '    return t(x)']);
  });

  it('accepts bytes literals (Starlark has bytes)', () => {
    const c = compilePythonWorkflow(wf('return b"\\x00ab"'), 'my_workflow.py');
    expect(c.starlark.split('\n')[7]).toBe('    return b"\\x00ab"');
  });

  it('is a PythonCompileError for a file that does not tokenize', () => {
    const e = compileError('x = "unterminated\n');
    expect(e).toBeInstanceOf(PythonCompileError);
    expect([e.line, e.column, e.problems[0]!.message]).toEqual([1, 5, 'unterminated string literal']);
  });
});
