// Code bundles (src/engine/remote/file-sync.ts): which files go in, and bytes that are the same for
// the same content (the digest goes into cache keys).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FileSyncError, packWorkflowDir } from '../../src/engine/remote/file-sync.js';

const tmp = mkdtempSync(join(tmpdir(), 'larkflow-file-sync-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function tree(files: Record<string, string>): string {
  const dir = join(tmp, `t${++n}`);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

function git(cwd: string, ...args: string[]): void {
  execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', '-c', 'init.defaultBranch=main', ...args], { cwd, stdio: 'pipe' });
}

/** Names, modes, uids and mtimes of a tar's entries (ustar headers, PAX paths). */
function entries(bytes: Uint8Array): { path: string; mode: number; uid: number; mtime: number; size: number }[] {
  const tar = gunzipSync(bytes);
  const out: { path: string; mode: number; uid: number; mtime: number; size: number }[] = [];
  let off = 0;
  let paxPath: string | undefined;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, l: number): string => h.subarray(a, a + l).toString('utf8').replace(/\0.*$/s, '');
    const num = (a: number, l: number): number => parseInt(str(a, l).trim() || '0', 8);
    const size = num(124, 12);
    const type = str(156, 1);
    const body = tar.subarray(off + 512, off + 512 + size);
    if (type === 'x') {
      paxPath = /\d+ path=(.*)\n/.exec(body.toString('utf8'))?.[1];
    } else {
      const prefix = str(345, 155);
      const path = paxPath ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100));
      out.push({ path, mode: num(100, 8), uid: num(108, 8), mtime: num(136, 12), size });
      paxPath = undefined;
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe('packWorkflowDir', () => {
  it('gives the same bytes for the same content, whatever the mtimes, and other bytes when a file changes', async () => {
    const files = { 'b.star': 'b', 'a/x.py': 'print(1)\n', 'a/y.mjs': 'export const y = 1;\n' };
    const one = tree(files);
    const two = tree(files);
    utimesSync(join(two, 'b.star'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const p1 = await packWorkflowDir(one, { useGit: false });
    const p1again = await packWorkflowDir(one, { useGit: false });
    const p2 = await packWorkflowDir(two, { useGit: false });
    expect(p1.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(p1again.sha256).toBe(p1.sha256);
    expect(p2.sha256).toBe(p1.sha256);
    expect(Buffer.from(p2.bytes).equals(Buffer.from(p1.bytes))).toBe(true);
    expect(p1.files).toEqual(['a/x.py', 'a/y.mjs', 'b.star']);
    // gzip header: mtime 0, OS Unix.
    expect([...p1.bytes.subarray(4, 10)]).toEqual([0, 0, 0, 0, 2, 3]);
    for (const e of entries(p1.bytes)) expect(e).toMatchObject({ mode: 0o644, uid: 0, mtime: 0 });

    writeFileSync(join(two, 'a', 'x.py'), 'print(2)\n');
    expect((await packWorkflowDir(two, { useGit: false })).sha256).not.toBe(p1.sha256);
  });

  it('keeps the executable bit (only)', async () => {
    const dir = tree({ 'run.sh': '#!/bin/sh\n', 'lib.py': '' });
    const before = await packWorkflowDir(dir, { useGit: false });
    chmodSync(join(dir, 'run.sh'), 0o750);
    chmodSync(join(dir, 'lib.py'), 0o600);
    const after = await packWorkflowDir(dir, { useGit: false });
    expect(after.sha256).not.toBe(before.sha256);
    expect(entries(after.bytes).map((e) => [e.path, e.mode])).toEqual([
      ['lib.py', 0o644],
      ['run.sh', 0o755],
    ]);
  });

  it('outside git: everything but .git, node_modules and .larkflow; symlinks to files as their content', async () => {
    const dir = tree({ 'w.star': 'x', 'node_modules/p/index.js': '', '.larkflow/io/x.json': '{}', '.git/HEAD': 'ref', 'sub/.hidden': 'h' });
    symlinkSync('w.star', join(dir, 'link.star'));
    const p = await packWorkflowDir(dir, { useGit: false });
    expect(p.files).toEqual(['link.star', 'sub/.hidden', 'w.star']);
    expect(entries(p.bytes).find((e) => e.path === 'link.star')?.size).toBe(1);
  });

  it('in a git work tree: tracked and untracked-not-ignored files under the directory only', async () => {
    const repo = tree({
      '.gitignore': 'data/\n*.log\n',
      'outside.txt': 'not under the workflow dir',
      'wf/main.star': 'main',
      'wf/tasks.py': 'def f(): pass\n',
      'wf/data/big.csv': '1,2,3',
      'wf/run.log': 'log',
      'wf/new_untracked.py': 'new',
      'wf/.larkflow/io/attempts/x.json': '{}',
      'wf/node_modules/dep/index.js': 'untracked dependency',
    });
    git(repo, 'init', '-q');
    git(repo, 'add', '.gitignore', 'outside.txt', 'wf/main.star', 'wf/tasks.py');
    git(repo, 'commit', '-q', '-m', 'init');
    const p = await packWorkflowDir(join(repo, 'wf'));
    expect(p.files).toEqual(['main.star', 'new_untracked.py', 'tasks.py']);
    const first = p.sha256;
    // An ignored file changing does not change the bundle; a tracked one does.
    writeFileSync(join(repo, 'wf', 'run.log'), 'more log');
    expect((await packWorkflowDir(join(repo, 'wf'))).sha256).toBe(first);
    writeFileSync(join(repo, 'wf', 'tasks.py'), 'def f(): return 1\n');
    expect((await packWorkflowDir(join(repo, 'wf'))).sha256).not.toBe(first);
    // A tracked file deleted from the work tree is not packed.
    rmSync(join(repo, 'wf', 'main.star'));
    expect((await packWorkflowDir(join(repo, 'wf'))).files).toEqual(['new_untracked.py', 'tasks.py']);
  });

  it('in a git work tree that ignores the whole directory: what is there', async () => {
    const repo = tree({ '.gitignore': 'scratch/\n', 'scratch/wf/a.py': 'a', 'scratch/wf/node_modules/x.js': 'x' });
    git(repo, 'init', '-q');
    expect((await packWorkflowDir(join(repo, 'scratch', 'wf'))).files).toEqual(['a.py']);
  });

  it('writes long and non-ASCII paths (PAX) that read back', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(120)}.py`;
    const dir = tree({ [long]: 'long', 'ünï/cödé.py': 'u' });
    const p = await packWorkflowDir(dir, { useGit: false });
    expect(entries(p.bytes).map((e) => e.path).sort()).toEqual([long, 'ünï/cödé.py'].sort());
  });

  it('refuses more than maxBytes, a symlink to a directory, and a missing directory, with clear errors', async () => {
    const dir = tree({ 'a.bin': 'x'.repeat(2000) });
    await expect(packWorkflowDir(dir, { maxBytes: 1000, useGit: false })).rejects.toThrow(/exceed the code bundle limit of 1000 bytes .* at a\.bin/);
    mkdirSync(join(dir, 'real'));
    symlinkSync('real', join(dir, 'linked'));
    await expect(packWorkflowDir(dir, { useGit: false })).rejects.toThrow(/symlink to a directory/);
    await expect(packWorkflowDir(join(tmp, 'nope'))).rejects.toBeInstanceOf(FileSyncError);
  });
});
