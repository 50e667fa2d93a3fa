/**
 * This file packs a workflow's directory into a code bundle ("file sync"): a tar.gz a remote runner
 * downloads (`LARKFLOW_CODE_URL`), checks (`LARKFLOW_CODE_SHA256`) and unpacks before it imports the
 * task, so a job runs the code of the workflow's directory rather than whatever its image holds.
 *
 * What goes in: when the directory is inside a git work tree, the files git tracks plus the
 * untracked files it does not ignore (`git ls-files -co --exclude-standard`), under the directory
 * only; otherwise (or when git lists nothing there: an ignored directory) every file under it. Never `.git` or `.larkflow` (the engine's own state, which
 * holds bundles), and `node_modules` only where git tracks it. Submodules (gitlinks) are left out.
 * A symlink to a file is stored as that file's content; a symlink to a directory, or a dangling
 * one, is an error. Only regular files are entries (no directory or link entries), so an unpacker
 * can refuse anything else.
 *
 * The bytes are deterministic for the same content, because the sha256 goes into cache keys:
 * entries sorted by path (UTF-8 bytes), ustar headers (PAX for long or non-ASCII paths) with uid/gid
 * 0, no user or group names, mtime 0, mode 0644 or 0755 (only the owner's executable bit is kept,
 * as git does); gzip at level 9 with a zero header mtime and OS byte 3 (Unix) on every platform.
 * (A zlib of another version could in principle compress differently; the digest is of the bytes.)
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header, Pax } from 'tar';

/** A packed code bundle. */
export interface CodeBundle {
  /** The tar.gz. */
  readonly bytes: Uint8Array;
  /** Lowercase hex sha256 of `bytes`. */
  readonly sha256: string;
  /** The files in it, `/`-separated relative paths, in bundle order. */
  readonly files: string[];
}

export interface PackOptions {
  /**
   * Largest total size of the files (before compression), in bytes.
   * @default 256 MiB
   */
  readonly maxBytes?: number;
  /** Use git to pick the files when the directory is in a work tree. @default true */
  readonly useGit?: boolean;
}

export class FileSyncError extends Error {
  override readonly name = 'FileSyncError';
}

const MiB = 1024 * 1024;
/** Directory names never packed. */
const ALWAYS_SKIPPED = new Set(['.git', '.larkflow']);
/** Directory names packed only when git tracks them. */
const SKIPPED_UNLESS_TRACKED = new Set(['node_modules']);

/**
 * Packs `dir` into a deterministic tar.gz.
 * @throws FileSyncError when `dir` is not a directory, a file cannot be read, a symlink points to a
 *   directory or nowhere, or the files exceed `maxBytes`
 */
export async function packWorkflowDir(dir: string, options: PackOptions = {}): Promise<CodeBundle> {
  const root = resolve(dir);
  const maxBytes = options.maxBytes ?? 256 * MiB;
  const rootStat = await stat(root).catch((e: unknown) => {
    throw new FileSyncError(`cannot pack ${root}: ${e instanceof Error ? e.message : String(e)}`);
  });
  if (!rootStat.isDirectory()) throw new FileSyncError(`cannot pack ${root}: not a directory`);

  const listed = options.useGit === false ? undefined : await gitFiles(root);
  // Git sees nothing (the directory is ignored as a whole, or empty): pack what is there.
  const candidates = listed !== undefined && listed.length > 0 ? listed : await walk(root);
  const unique = [...new Set(candidates)].filter((p) => p !== '' && !p.split('/').some((part) => ALWAYS_SKIPPED.has(part)));
  // Sorted by UTF-8 bytes: the same order everywhere, whatever the locale.
  unique.sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));

  const entries: { path: string; data: Buffer; executable: boolean }[] = [];
  let total = 0;
  for (const path of unique) {
    const full = join(root, ...path.split('/'));
    let st = await lstat(full).catch((e: NodeJS.ErrnoException) => {
      // Tracked by git but deleted in the work tree: not part of the directory any more.
      if (e.code === 'ENOENT') return undefined;
      throw new FileSyncError(`cannot pack ${full}: ${e.message}`);
    });
    if (st === undefined) continue;
    if (st.isSymbolicLink()) {
      const target = await stat(full).catch(() => undefined);
      if (target === undefined) throw new FileSyncError(`cannot pack ${full}: it is a symlink that points nowhere (${await realpath(full).catch(() => 'dangling')})`);
      if (!target.isFile()) throw new FileSyncError(`cannot pack ${full}: it is a symlink to a directory or special file; a code bundle holds regular files only`);
      st = target;
    } else if (st.isDirectory()) {
      // A git submodule (gitlink): its own repository, not this one's files.
      continue;
    } else if (!st.isFile()) {
      throw new FileSyncError(`cannot pack ${full}: not a regular file (a socket, FIFO or device)`);
    }
    total += st.size;
    if (total > maxBytes) throw tooLarge(root, maxBytes, path);
    const data = await readFile(full).catch((e: unknown) => {
      throw new FileSyncError(`cannot pack ${full}: ${e instanceof Error ? e.message : String(e)}`);
    });
    entries.push({ path, data, executable: (st.mode & 0o100) !== 0 });
  }

  const tar = tarOf(entries);
  const gz = gzipSync(tar, { level: 9 });
  // The header's mtime is already 0 (Node writes none); the OS byte is the build's (3 on Unix, 10 on
  // Windows): fix it so the bytes are the same everywhere. The gzip CRC covers the data only.
  gz[9] = 3;
  const bytes = new Uint8Array(gz.buffer, gz.byteOffset, gz.byteLength);
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex'), files: entries.map((e) => e.path) };
}

function tooLarge(root: string, maxBytes: number, at: string): FileSyncError {
  return new FileSyncError(
    `cannot pack ${root}: its files exceed the code bundle limit of ${maxBytes} bytes (${(maxBytes / MiB).toFixed(1)} MiB) at ${at}. Keep data out of the workflow directory (or add it to .gitignore), or raise the limit`,
  );
}

const EPOCH = new Date(0);

/** A ustar archive of regular files with normalised metadata. */
function tarOf(entries: readonly { path: string; data: Buffer; executable: boolean }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const fields = { path: e.path, mode: e.executable ? 0o755 : 0o644, uid: 0, gid: 0, size: e.data.byteLength, mtime: EPOCH, type: 'File' as const, uname: '', gname: '' };
    const header = new Header(fields);
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    if (header.needPax) blocks.push(new Pax({ path: e.path }).encode());
    blocks.push(block, e.data);
    const pad = (512 - (e.data.byteLength % 512)) % 512;
    if (pad > 0) blocks.push(Buffer.alloc(pad));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/**
 * The files git sees under `root` (relative, `/`-separated), or undefined when `root` is not in a
 * work tree or git is not installed.
 */
async function gitFiles(root: string): Promise<string[] | undefined> {
  const tracked = await git(root, ['ls-files', '-c', '-z']);
  if (tracked === undefined) return undefined;
  const untracked = (await git(root, ['ls-files', '-o', '--exclude-standard', '-z'])) ?? [];
  return [...tracked, ...untracked.filter((p) => !p.split('/').some((part) => SKIPPED_UNLESS_TRACKED.has(part)))];
}

function git(cwd: string, args: readonly string[]): Promise<string[] | undefined> {
  return new Promise((resolvePromise, reject) => {
    execFile('git', [...args], { cwd, maxBuffer: 256 * MiB, encoding: 'buffer', env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' } }, (err, stdout) => {
      if (err) {
        const code = (err as { code?: unknown }).code;
        // git not installed, or "not a git repository" (exit 128): pack the directory instead.
        if (code === 'ENOENT' || code === 128) return resolvePromise(undefined);
        return reject(new FileSyncError(`cannot list the files of ${cwd} with git ${args.join(' ')}: ${err.message}`));
      }
      const text = stdout.toString('utf8');
      resolvePromise(text.split('\0').filter((p) => p !== ''));
    });
  });
}

/** Every file under `root` (relative, `/`-separated), skipping `.git`, `.larkflow` and `node_modules`. */
async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    const items = await readdir(dir, { withFileTypes: true }).catch((e: unknown) => {
      throw new FileSyncError(`cannot pack ${dir}: ${e instanceof Error ? e.message : String(e)}`);
    });
    for (const item of items) {
      const full = join(dir, item.name);
      if (item.isDirectory()) {
        if (ALWAYS_SKIPPED.has(item.name) || SKIPPED_UNLESS_TRACKED.has(item.name)) continue;
        await visit(full);
      } else {
        out.push(relative(root, full).split(sep).join('/'));
      }
    }
  };
  await visit(root);
  return out;
}
