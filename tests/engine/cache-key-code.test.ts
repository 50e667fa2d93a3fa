/**
 * The implementation digest of a process task covers the code it can reach (the working tree of
 * the script it runs, or its declared `code = [...]`) and the environment it receives, so that a
 * code change never returns a stale cached result (issue 9).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { HistoryEvent } from '../../src/engine/core/events.js';
import { Engine, MemoryEventStore, VirtualClock } from '../../src/engine/index.js';
import { MemoryBlobStore, MemoryCacheIndex } from '../../src/engine/cache/index.js';
import { globRegex, processImplementationDigest } from '../../src/engine/cache/cache-key.js';
import { EvalError, List, type ThreadContext, type Value } from '../../src/interpreter/index.js';
import { TaskStub, taskBuiltin } from '../../src/engine/workflow/surface.js';
import { drive } from './helpers.js';

let tmp = '';
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'larkflow-cache-key-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A fresh directory with `files` (name → text) written in it. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmp, 'tree-'));
  for (const [name, text] of Object.entries(files)) write(dir, name, text);
  return dir;
}

function write(dir: string, name: string, text: string): void {
  mkdirSync(join(dir, name, '..'), { recursive: true });
  writeFileSync(join(dir, name), text);
}

const hasGit = ((): boolean => {
  try {
    execFileSync('git', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

function git(dir: string, ...args: string[]): void {
  execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd: dir, stdio: 'ignore' });
}

const TRAIN = 'import helper\nprint(helper.answer())\n';

describe('processImplementationDigest: the working tree of the script', () => {
  it('changes when a module the script imports changes (not only the script)', () => {
    const dir = tree({ 'train.py': TRAIN, 'helper.py': 'def answer():\n    return 1\n' });
    const argv = ['python3', 'train.py'];
    const before = processImplementationDigest(argv, dir);
    expect(processImplementationDigest(argv, dir)).toBe(before);
    write(dir, 'helper.py', 'def answer():\n    return 2\n');
    expect(processImplementationDigest(argv, dir)).not.toBe(before);
  });

  it('covers files in subdirectories and new files, and follows an absolute script path', () => {
    const dir = tree({ 'train.py': TRAIN, 'pkg/util.py': 'X = 1\n' });
    const argv = ['python3', '-u', join(dir, 'train.py')];
    const a = processImplementationDigest(argv, '/');
    write(dir, 'pkg/util.py', 'X = 2\n');
    const b = processImplementationDigest(argv, '/');
    expect(b).not.toBe(a);
    write(dir, 'pkg/extra.py', 'Y = 1\n');
    expect(processImplementationDigest(argv, '/')).not.toBe(b);
  });

  it('sees a same-size edit whose mtime was put back (the memo checks ctime and inode too)', () => {
    const dir = tree({ 'train.py': TRAIN, 'helper.py': 'A = 1\n' });
    const old = new Date(Date.now() - 3600_000);
    utimesSync(join(dir, 'helper.py'), old, old);
    const argv = ['python3', 'train.py'];
    const before = processImplementationDigest(argv, dir);
    expect(processImplementationDigest(argv, dir)).toBe(before); // now memoized (an hour old)
    const { mtime } = statSync(join(dir, 'helper.py'));
    write(dir, 'helper.py', 'A = 2\n');
    utimesSync(join(dir, 'helper.py'), mtime, mtime);
    expect(processImplementationDigest(argv, dir)).not.toBe(before);
  });

  it('ignores caches, virtual environments, larkflow attempt directories and data directories', () => {
    const dir = tree({ 'train.py': TRAIN, 'helper.py': 'A = 1\n' });
    const argv = ['python3', 'train.py'];
    const before = processImplementationDigest(argv, dir);
    write(dir, '__pycache__/helper.cpython-312.pyc', 'bytecode');
    write(dir, 'helper.pyc', 'bytecode');
    write(dir, '.larkflow/attempts/run/step/1/output.json', '1');
    write(dir, 'node_modules/x/index.js', '');
    write(dir, '.venv/bin/python', '');
    write(dir, 'data/train.csv', '1,2,3\n');
    write(dir, 'outputs/model.bin', 'weights');
    expect(processImplementationDigest(argv, dir)).toBe(before);
  });

  it('is the same for two copies of the same tree (paths are relative to the tree)', () => {
    const files = { 'train.py': TRAIN, 'helper.py': 'A = 1\n' };
    const a = tree(files);
    const b = tree(files);
    expect(processImplementationDigest(['python3', join(a, 'train.py')], '/')).not.toBe(processImplementationDigest(['python3', join(b, 'train.py')], '/')); // argv differs
    expect(processImplementationDigest(['python3', 'train.py'], a)).toBe(processImplementationDigest(['python3', 'train.py'], b));
  });

  it('covers the working directory for python -m', () => {
    const dir = tree({ 'pkg/__init__.py': '', 'pkg/train.py': 'X = 1\n' });
    const argv = ['python3', '-m', 'pkg.train'];
    const before = processImplementationDigest(argv, dir);
    write(dir, 'pkg/train.py', 'X = 2\n');
    expect(processImplementationDigest(argv, dir)).not.toBe(before);
  });

  it('a script given as a relative program path (./run.sh) is itself the script', () => {
    const dir = tree({ 'run.sh': '#!/bin/sh\n. ./lib.sh\n', 'lib.sh': 'echo 1\n' });
    const before = processImplementationDigest(['./run.sh'], dir);
    write(dir, 'lib.sh', 'echo 2\n');
    expect(processImplementationDigest(['./run.sh'], dir)).not.toBe(before);
  });

  it.runIf(hasGit)('in a git work tree: covers the whole work tree, honouring .gitignore', () => {
    const dir = tree({ 'scripts/train.py': TRAIN, 'lib/helper.py': 'A = 1\n', '.gitignore': 'scratch/\n*.log\n', 'README.md': 'x' });
    git(dir, 'init', '-q');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'init');
    const argv = ['python3', 'scripts/train.py'];
    const before = processImplementationDigest(argv, dir);
    // Ignored files do not count...
    write(dir, 'scratch/notes.txt', 'anything');
    write(dir, 'scripts/run.log', 'anything');
    expect(processImplementationDigest(argv, dir)).toBe(before);
    // ...but a tracked file outside the script's directory does, and so does an untracked one.
    write(dir, 'lib/helper.py', 'A = 2\n');
    const edited = processImplementationDigest(argv, dir);
    expect(edited).not.toBe(before);
    write(dir, 'lib/new_module.py', 'B = 1\n');
    expect(processImplementationDigest(argv, dir)).not.toBe(edited);
  });

  it.runIf(hasGit)('in a git work tree: a script git ignores still has its directory covered', () => {
    const dir = tree({ '.gitignore': 'gen/\n', 'README.md': 'x', 'gen/train.py': TRAIN, 'gen/helper.py': 'A = 1\n' });
    git(dir, 'init', '-q');
    const argv = ['python3', 'gen/train.py'];
    const before = processImplementationDigest(argv, dir);
    write(dir, 'gen/helper.py', 'A = 2\n');
    expect(processImplementationDigest(argv, dir)).not.toBe(before);
  });

  it('stays argv-only for a command that runs no script from disk (as before)', () => {
    const a = tree({ 'x.txt': '1' });
    const b = tree({ 'y.txt': '2' });
    expect(processImplementationDigest(['ls', '.'], a)).toBe(processImplementationDigest(['ls', '.'], b));
    expect(processImplementationDigest(['echo', 'hi'], a)).toBe(processImplementationDigest(['echo', 'hi'], b));
  });

  it('refuses to cache a tree over its limits, with a warning that says what to do', () => {
    const dir = tree({ 'train.py': TRAIN, 'a.py': '', 'b.py': '', 'c.py': '' });
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const argv = ['python3', 'train.py'];
      const a = processImplementationDigest(argv, dir, { maxFiles: 2 });
      const b = processImplementationDigest(argv, dir, { maxFiles: 2 });
      expect(a).not.toBe(b); // never a hit: a partial digest could be stale
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/not caching .*has more than 2 files.*code = \[/);
      const big = tree({ 'train.py': TRAIN, 'weights.bin': 'x'.repeat(2048) });
      expect(processImplementationDigest(argv, big, { maxBytes: 1024 })).not.toBe(processImplementationDigest(argv, big, { maxBytes: 1024 }));
      expect(String(warn.mock.calls.at(-1)![0])).toMatch(/holds more than 1024 bytes/);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('processImplementationDigest: declared code and environment', () => {
  it('with code = [...]: covers exactly the files its paths and globs name', () => {
    const dir = tree({ 'train.py': TRAIN, 'src/a.py': '1', 'src/deep/b.py': '2', 'src/notes.txt': 'n', 'helper.py': 'h', 'other.py': 'o' });
    const argv = ['python3', 'train.py'];
    const code = ['src/**/*.py', 'helper.py'];
    const before = processImplementationDigest(argv, dir, { code });
    write(dir, 'src/deep/b.py', '3');
    const deep = processImplementationDigest(argv, dir, { code });
    expect(deep).not.toBe(before);
    write(dir, 'helper.py', 'h2');
    const helper = processImplementationDigest(argv, dir, { code });
    expect(helper).not.toBe(deep);
    // Not named: no effect (the declaration replaces the working tree).
    write(dir, 'other.py', 'o2');
    write(dir, 'src/notes.txt', 'n2');
    expect(processImplementationDigest(argv, dir, { code })).toBe(helper);
    // The script named in argv is still covered.
    write(dir, 'train.py', TRAIN + '# edited\n');
    expect(processImplementationDigest(argv, dir, { code })).not.toBe(helper);
  });

  it('with code = [...]: a directory stands for its files; a missing path counts when it appears', () => {
    const dir = tree({ 'run.py': '', 'lib/x.py': '1' });
    const argv = ['python3', 'run.py'];
    const a = processImplementationDigest(argv, dir, { code: ['lib', 'extra.py'] });
    write(dir, 'lib/x.py', '2');
    const b = processImplementationDigest(argv, dir, { code: ['lib', 'extra.py'] });
    expect(b).not.toBe(a);
    write(dir, 'extra.py', '');
    expect(processImplementationDigest(argv, dir, { code: ['lib', 'extra.py'] })).not.toBe(b);
  });

  it('code = [] means the argv covers it all', () => {
    const dir = tree({ 'train.py': TRAIN, 'helper.py': '1' });
    const argv = ['python3', 'train.py'];
    const before = processImplementationDigest(argv, dir, { code: [] });
    write(dir, 'helper.py', '2');
    expect(processImplementationDigest(argv, dir, { code: [] })).toBe(before);
  });

  it('covers the environment the task receives (in any order), and an empty one is no environment', () => {
    const dir = tree({ 'train.py': TRAIN });
    const argv = ['python3', 'train.py'];
    const plain = processImplementationDigest(argv, dir);
    expect(processImplementationDigest(argv, dir, { env: {} })).toBe(plain);
    const a = processImplementationDigest(argv, dir, { env: { MODE: 'fast', SEED: '1' } });
    expect(a).not.toBe(plain);
    expect(processImplementationDigest(argv, dir, { env: { SEED: '1', MODE: 'fast' } })).toBe(a);
    expect(processImplementationDigest(argv, dir, { env: { MODE: 'slow', SEED: '1' } })).not.toBe(a);
  });

  it('globs: * and ? stay within a name, ** crosses directories, {a,b} and [ab] as in a shell', () => {
    const re = globRegex('src/**/*.py');
    expect(['src/a.py', 'src/x/y/a.py'].every((p) => re.test(p))).toBe(true);
    expect(['src/a.pyc', 'lib/a.py', 'src.py'].some((p) => re.test(p))).toBe(false);
    expect(globRegex('*.py').test('a/b.py')).toBe(false);
    expect(globRegex('conf/*.{yaml,json}').test('conf/a.json')).toBe(true);
    expect(globRegex('v[12].txt').test('v2.txt')).toBe(true);
    expect(globRegex('v?.txt').test('v10.txt')).toBe(false);
    expect(globRegex('**').test('any/thing')).toBe(true);
  });
});

describe('task(..., code = [...])', () => {
  const th = null as unknown as ThreadContext;
  const declare = (kwargs: [string, Value][]): TaskStub => taskBuiltin.impl(th, ['t'], kwargs, null) as TaskStub;

  it('is stored on the task stub options as code', () => {
    const stub = declare([
      ['command', new List(['python3', 'train.py'])],
      ['code', new List(['src/**/*.py', 'helper.py'])],
    ]);
    expect(stub.options.code).toEqual(['src/**/*.py', 'helper.py']);
    expect(declare([['command', new List(['python3', 'train.py'])]]).options.code).toBeUndefined();
  });

  it('must be a list of non-empty strings, on a task with a command', () => {
    const command: [string, Value] = ['command', new List(['python3', 'train.py'])];
    expect(() => declare([['code', new List(['a.py'])]])).toThrow(EvalError);
    expect(() => declare([['code', new List(['a.py'])]])).toThrow(/give the task a command/);
    expect(() => declare([command, ['code', 'a.py']])).toThrow(/code must be a list of paths or globs/);
    expect(() => declare([command, ['code', new List([1])]])).toThrow(/code elements must be strings/);
    expect(() => declare([command, ['code', new List([''])]])).toThrow(/must not be empty/);
  });
});

describe('the engine: a code change never returns a stale result', () => {
  function sources(h: readonly HistoryEvent[]): string[] {
    return h.flatMap((e) => (e.kind === 'TaskCompleted' ? [e.source] : []));
  }

  it('a cached process task reruns when a module its script imports changes', async () => {
    const dir = tree({
      'train.mjs': "import { writeFileSync } from 'node:fs';\nimport { answer } from './helper.mjs';\nwriteFileSync(process.env.LARKFLOW_OUTPUT, JSON.stringify(answer()));\n",
      'helper.mjs': 'export const answer = () => 1;\n',
    });
    const clock = new VirtualClock();
    const engine = Engine.open({ db: new MemoryEventStore(), clock, cacheIndex: new MemoryCacheIndex(), blobs: new MemoryBlobStore(), workDir: join(dir, '..', 'attempts-' + Date.now()) });
    const src = `train = task("train", command = [${JSON.stringify(process.execPath)}, ${JSON.stringify(join(dir, 'train.mjs'))}], cache = True)\n@workflow()\ndef w():\n    return train()\n`;
    const run = async () => {
      const h = engine.start({ source: { name: 'w.star', text: src } });
      await drive({ engine, clock });
      const r = await h.result;
      return { result: r.result, sources: sources(engine.history(h.runId)) };
    };
    try {
      expect(await run()).toEqual({ result: 1, sources: ['executed'] });
      expect(await run()).toEqual({ result: 1, sources: ['cache'] });
      write(dir, 'helper.mjs', 'export const answer = () => 2;\n');
      expect(await run()).toEqual({ result: 2, sources: ['executed'] });
    } finally {
      await engine.close();
    }
  });
});
