/**
 * This file defines cache keys: the SHA-256 of the canonical JSON (keys sorted) of everything that
 * decides a task's result: the task name, the digest of its implementation, its `cache_version`, and
 * its arguments as history records them (big values as blob digests). Two calls that differ in any of
 * these never share an entry; identical calls share one whichever run or workflow makes them.
 *
 * The implementation digest is what Uniflow gets wrong (it hashes an image tag, so changed code
 * returns stale results): here it is the digest of the code itself: a Starlark `@task` body's
 * source, a JS task's function source plus version (FunctionExecutor.implementationDigestOf), a
 * process task's argv, the files of the code it can reach and the environment it receives
 * (processImplementationDigest).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync, readdirSync, statSync, type BigIntStats } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import type { Json } from '../core/json.js';
import { digestOf } from '../../util/hash.js';
import { isBlobMarker } from './blob-store.js';

/** Version of the key's layout; changing what goes into a key bumps it, so old entries miss. */
export const CACHE_KEY_FORMAT = 1;

/** What a cache key is made of. */
export interface CacheKeyInput {
  /** The registered task name. */
  readonly task: string;
  /** Digest of the task's code (see the functions below). */
  readonly implementationDigest: string;
  /** The task's `cache_version` ('' when not given). */
  readonly cacheVersion: string;
  /** Positional arguments as history JSON; offloaded values are blob markers (`{"$blob": digest, ...}`). */
  readonly args: readonly Json[];
  /** Keyword arguments as history JSON. */
  readonly kwargs: { readonly [name: string]: Json };
}

/**
 * The cache key of a task call: hex SHA-256 of the canonical JSON of its inputs, where each argument
 * (each positional one, each keyword one) counts by the SHA-256 of its own canonical JSON. A blob
 * marker's digest is exactly that (blob-store.ts stores a value as its canonical JSON), so an
 * argument gives the same key whether it was offloaded or not, whatever the threshold, and whichever
 * store holds it. Object keys are sorted (kwargs and nested dicts in any order give one key);
 * positional order counts. NaN and ±Infinity, which JSON would turn into `null`, are kept apart.
 */
export function cacheKey(input: CacheKeyInput): string {
  return digestOf({
    format: CACHE_KEY_FORMAT,
    task: input.task,
    implementation: input.implementationDigest,
    version: input.cacheVersion,
    args: input.args.map(argumentDigest),
    // fromEntries defines own properties, so a "__proto__" keyword stays a key.
    kwargs: Object.fromEntries(Object.keys(input.kwargs).map((k) => [k, argumentDigest(input.kwargs[k]!)])),
  });
}

/** The identity of one argument: a blob marker's digest, or the SHA-256 of the value's canonical JSON. */
export function argumentDigest(v: Json): string {
  return isBlobMarker(v) ? v.$blob : digestOf(tagNonFinite(v));
}

/** `v` with NaN/±Infinity tagged (canonical JSON would write them as null); `v` itself if it has none. */
function tagNonFinite(v: Json): Json {
  if (typeof v === 'number') return Number.isFinite(v) ? v : { $nonfinite: String(v) };
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = v.map(tagNonFinite);
    return out.some((x, i) => x !== v[i]) ? out : v;
  }
  const keys = Object.keys(v);
  const tagged = keys.map((k) => tagNonFinite(v[k]!));
  return tagged.some((x, i) => x !== v[keys[i]!]) ? Object.fromEntries(keys.map((k, i) => [k, tagged[i]!])) : v;
}

/** Implementation digest of a Starlark `@task`: the digest of its source text. */
export function starlarkImplementationDigest(sourceText: string): string {
  return digestOf({ kind: 'starlark', source: sourceText });
}

/** What a process task's implementation digest covers besides its argv. */
export interface ProcessDigestOptions {
  /**
   * The task's `code = [...]`: paths and globs (`*`, `?`, `**`, `[abc]`, `{a,b}`), relative to `cwd`,
   * of every file its command may run. Replaces the automatic working tree; `[]` means the argv
   * covers it all. @default undefined (the working tree of the script the command runs)
   */
  readonly code?: readonly string[] | undefined;
  /** The environment the task receives (the run's declared environment). @default {} */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** Files a tree may have before the task is not cached. @default 10000 */
  readonly maxFiles?: number | undefined;
  /** Bytes a tree may hold before the task is not cached. @default 268435456 (256 MiB) */
  readonly maxBytes?: number | undefined;
}

/**
 * Names never part of a task's code, at any depth, with or without git: version control, caches,
 * virtual environments and larkflow's own directory (attempt directories change on every run).
 * `*.ext` matches a file name's end.
 */
export const DEFAULT_IGNORES: readonly string[] = [
  '.git', '.hg', '.svn', '.larkflow', 'node_modules', '__pycache__', '.venv', 'venv', '.tox', '.nox',
  '.mypy_cache', '.pytest_cache', '.ruff_cache', '.ipynb_checkpoints', '.DS_Store', '*.pyc', '*.pyo',
];

/** Directories also skipped outside git (no .gitignore says what is data there). */
export const DATA_DIRECTORIES: readonly string[] = [
  'data', 'datasets', 'output', 'outputs', 'checkpoints', 'logs', 'wandb', 'mlruns', 'lightning_logs',
];

const DEFAULT_MAX_FILES = 10_000;
const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Implementation digest of a process task: everything that decides what its command does, as far as
 * the engine can see it.
 *
 * - Its argv, and the SHA-256 of every argv element that names an existing regular file (relative to
 *   `cwd`), so editing `train.py` in `python train.py` changes the key.
 * - The code it can reach. With `code` (the task's `code = [...]`), exactly the files those paths
 *   and globs name, relative to `cwd` (a directory stands for every file under it); `code = []`
 *   says the argv covers it all. Without `code`, the working tree of the script it runs (the first
 *   argument that names a file; for `python -m pkg`, `cwd`): the git work tree that contains it,
 *   its non-ignored files as `git ls-files --cached --others --exclude-standard` lists them, or,
 *   outside git, every file under the script's directory but the DEFAULT_IGNORES and
 *   DATA_DIRECTORIES. A command with no script (`["make", "all"]`) is only its argv: declare `code`.
 * - The environment it receives (the run's declared environment; the executor's base variables,
 *   PATH, HOME and the locale, are the host's and are left out so that workers share entries).
 *
 * A tree is bounded: more than `maxFiles` files or `maxBytes` bytes, and the task is not cached at
 * all (its digest is new on every call, and a warning says why and what to do), since a partial
 * digest could return a stale result. File digests are kept per process by (path, size, mtime,
 * ctime, inode), so a tree is read once and then only stat()ed; a file changed within the last
 * 3 s (RACY_NS) is never taken from that memo (a coarse mtime could hide a second change, as in
 * git's "racy clean" problem). git is asked for the list of files on every call (a few ms), so a
 * file added a moment ago counts. Paths in the digest are relative to the tree's root, so two
 * checkouts of the same code share entries.
 *
 * Hazards: the interpreter itself (`python3` on PATH), installed packages, and files reached outside
 * the tree (`--in=/data/x.csv`) are not covered; give the task a `cache_version` when they matter.
 * A task that writes into its own tree makes its next call a miss (never a stale hit): write to
 * LARKFLOW_ATTEMPT_DIR, or to an ignored directory.
 */
export function processImplementationDigest(argv: readonly string[], cwd: string, options: ProcessDigestOptions = {}): string {
  const files: { index: number; sha256: string }[] = [];
  argv.forEach((arg, index) => {
    const digest = fileDigest(isAbsolute(arg) ? arg : resolve(cwd, arg));
    if (digest !== undefined) files.push({ index, sha256: digest });
  });
  const limits: Limits = { maxFiles: options.maxFiles ?? DEFAULT_MAX_FILES, maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES };
  let code: Json;
  try {
    code = options.code !== undefined ? declaredCode(options.code, cwd, limits) : reachableCode(argv, cwd, limits);
  } catch (e) {
    if (e instanceof TreeTooLarge) return uncacheable(argv, e.message);
    throw e;
  }
  // fromEntries defines own properties, so even a "__proto__" variable counts.
  const env = Object.fromEntries(Object.entries(options.env ?? {}));
  return digestOf({ kind: 'process', argv, files, code, env });
}

const CHUNK = 1024 * 1024;

/** SHA-256 of a regular file's contents, or undefined if it is not one (or cannot be read). */
function fileDigest(path: string): string | undefined {
  if (path === '') return undefined;
  let fd: number;
  try {
    if (!statSync(path).isFile()) return undefined;
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
    return hash.digest('hex');
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// The code a process task can reach

interface Limits {
  readonly maxFiles: number;
  readonly maxBytes: number;
}

/** Thrown (and caught in processImplementationDigest) when a tree exceeds its limits. */
class TreeTooLarge extends Error {}

/** The files of a task's code, checked against the limits as they are found. */
class Collector implements Sink {
  private readonly files = new Map<string, { readonly abs: string; readonly stat: BigIntStats }>();
  private bytes = 0;
  /** Directory entries looked at (a glob's walk is bounded too, not only what it matches). */
  private visited = 0;

  constructor(
    private readonly limits: Limits,
    private readonly what: string,
  ) {}

  /** Adds the regular file `abs` under the name `rel`; false if it is not one. */
  add(abs: string, rel: string): boolean {
    let stat: BigIntStats;
    try {
      stat = statSync(abs, { bigint: true });
    } catch {
      return false;
    }
    if (!stat.isFile()) return false;
    if (this.files.has(rel)) return true;
    this.files.set(rel, { abs, stat });
    this.bytes += Number(stat.size);
    if (this.files.size > this.limits.maxFiles) throw new TreeTooLarge(`${this.what} has more than ${this.limits.maxFiles} files`);
    if (this.bytes > this.limits.maxBytes) throw new TreeTooLarge(`${this.what} holds more than ${formatBytes(this.limits.maxBytes)}`);
    return true;
  }

  file(abs: string, rel: string): void {
    this.add(abs, rel);
  }

  /** Counts a directory entry looked at. */
  visit(): void {
    if (++this.visited > this.limits.maxFiles * 10) throw new TreeTooLarge(`${this.what} has more than ${this.limits.maxFiles * 10} entries to look at`);
  }

  /** `[name, sha256]` of every file, sorted by name; null for a file that could not be read. */
  digests(): [string, string | null][] {
    return [...this.files.keys()].sort().map((rel) => {
      const f = this.files.get(rel)!;
      return [rel, memoizedFileDigest(f.abs, f.stat)];
    });
  }
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${Math.round(n / (1024 * 1024))} MiB` : `${n} bytes`;
}

/** `rel` with `/` separators (the digest is the same on every platform). */
function posix(rel: string): string {
  return sep === '/' ? rel : rel.split(sep).join('/');
}

function matchesName(name: string, pattern: string): boolean {
  return pattern.startsWith('*.') ? name.endsWith(pattern.slice(1)) : name === pattern;
}

/** True if a component of the path `rel` (`/`-separated) is ignored by default. */
function ignoredByDefault(rel: string, dataDirs: boolean): boolean {
  const parts = rel.split('/');
  for (let i = 0; i < parts.length; i++) {
    const name = parts[i]!;
    if (DEFAULT_IGNORES.some((p) => matchesName(name, p))) return true;
    if (dataDirs && i < parts.length - 1 && DATA_DIRECTORIES.includes(name)) return true;
  }
  return false;
}

/** What a walk reports to: each directory entry it looks at, and each file it finds. */
interface Sink {
  visit(): void;
  file(abs: string, rel: string): void;
}

/**
 * Reports every file under `dir` (named `relBase/...`) but the ignored ones. Symbolic links to
 * files count; links to directories are not followed (they could loop).
 */
function walk(dir: string, relBase: string, dataDirs: boolean, sink: Sink): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    sink.visit();
    if (DEFAULT_IGNORES.some((p) => matchesName(e.name, p))) continue;
    const rel = relBase === '' ? e.name : `${relBase}/${e.name}`;
    const abs = join(dir, e.name);
    if (e.isDirectory()) {
      if (!(dataDirs && DATA_DIRECTORIES.includes(e.name))) walk(abs, rel, dataDirs, sink);
    } else if (e.isFile() || e.isSymbolicLink()) {
      sink.file(abs, rel);
    }
  }
}

/** Where the script a command runs is: its file, or (for `python -m pkg`) only a directory. */
function scriptOf(argv: readonly string[], cwd: string): { readonly dir: string; readonly file?: string } | undefined {
  const isFile = (p: string): boolean => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-m') return { dir: cwd };
    if (a === '' || a.startsWith('-')) continue;
    const abs = isAbsolute(a) ? a : resolve(cwd, a);
    if (isFile(abs)) return { dir: dirname(abs), file: abs };
  }
  // A program given as a relative path (`./run.sh`) is itself the script; an absolute or bare
  // program (`/usr/bin/python3`, `python3`) is the interpreter, not the task's code.
  const p = argv[0] ?? '';
  if (!isAbsolute(p) && (p.includes('/') || p.includes(sep))) {
    const abs = resolve(cwd, p);
    if (isFile(abs)) return { dir: dirname(abs), file: abs };
  }
  return undefined;
}

/** The working tree of the script the command runs, as `[name, sha256]` pairs; null if it has none. */
function reachableCode(argv: readonly string[], cwd: string, limits: Limits): Json {
  const script = scriptOf(argv, cwd);
  if (!script) return { tree: null };
  const root = gitRootOf(script.dir);
  const listed = root === undefined ? undefined : gitFilesOf(root);
  if (root === undefined || listed === undefined) {
    const into = new Collector(limits, `the directory ${script.dir}`);
    walk(script.dir, '', true, into);
    return { tree: into.digests() };
  }
  const into = new Collector(limits, `the git work tree ${root}`);
  for (const rel of listed) if (!ignoredByDefault(rel, false)) into.add(join(root, rel), rel);
  // A script git ignores (a generated one, say) still has its neighbours covered.
  if (script.file !== undefined && !listed.has(posix(relative(root, script.file)))) {
    walk(script.dir, posix(relative(root, script.dir)), true, into);
  }
  return { tree: into.digests() };
}

/** The files `code` names, per entry, relative to `cwd` (absolute entries stay absolute). */
function declaredCode(code: readonly string[], cwd: string, limits: Limits): Json {
  const into = new Collector(limits, 'the code = [...] of the task');
  const entries: [string, string[]][] = [];
  for (const entry of code) {
    const names: string[] = [];
    const absolute = isAbsolute(entry);
    const pattern = posix(entry).replace(/^(\.\/)+/, '');
    const nameOf = (abs: string): string => (absolute ? posix(abs) : posix(relative(cwd, abs)));
    const keep = (match: (rel: string) => boolean): Sink => ({
      visit: () => into.visit(),
      file: (abs, rel) => {
        if (match(rel) && into.add(abs, rel)) names.push(rel);
      },
    });
    if (!/[*?[{]/.test(pattern)) {
      // A path: a file, or every file under a directory. A missing one counts with no files, so
      // the key changes when it appears.
      const abs = absolute ? entry : resolve(cwd, entry);
      let isDir = false;
      try {
        isDir = statSync(abs).isDirectory();
      } catch {
        // missing
      }
      if (isDir) walk(abs, nameOf(abs), false, keep(() => true));
      else keep(() => true).file(abs, nameOf(abs));
    } else {
      // A glob: walk from its longest directory prefix without glob characters.
      const fixed: string[] = [];
      for (const segment of pattern.split('/')) {
        if (/[*?[{]/.test(segment)) break;
        fixed.push(segment);
      }
      const prefix = fixed.join('/');
      const base = absolute ? prefix || '/' : resolve(cwd, prefix || '.');
      const re = globRegex(pattern);
      walk(base, absolute ? posix(base).replace(/\/$/, '') : prefix, false, keep((rel) => re.test(rel)));
    }
    entries.push([entry, names.sort()]);
  }
  return { declared: entries, files: into.digests() };
}

/**
 * A glob as a regular expression over `/`-separated names: `*` and `?` stay within a name, `**`
 * as a whole name crosses directories (`src/**\/*.py` matches `src/a.py` and `src/x/y/a.py`),
 * `[abc]`, `[!abc]` and `{a,b}` as in a shell.
 */
export function globRegex(glob: string): RegExp {
  const escape = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*' && (i === 0 || glob[i - 1] === '/')) {
        if (glob[i + 2] === '/') {
          re += '(?:[^/]*/)*';
          i += 2;
          continue;
        }
        if (i + 2 === glob.length) {
          re += '.*';
          i += 1;
          continue;
        }
      }
      while (glob[i + 1] === '*') i++;
      re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const j = glob.indexOf(']', i + 2);
      if (j < 0) re += '\\[';
      else {
        let cls = glob.slice(i + 1, j);
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = j;
      }
    } else if (c === '{') {
      const j = glob.indexOf('}', i);
      if (j < 0) re += '\\{';
      else {
        re += `(?:${glob.slice(i + 1, j).split(',').map((alt) => [...alt].map(escape).join('')).join('|')})`;
        i = j;
      }
    } else re += escape(c);
  }
  return new RegExp(`^${re}$`);
}

// ---------------------------------------------------------------------------------------------
// git

/**
 * Memo of where work trees are, for the current macrotask only: the keys of a batch of calls (all
 * scheduled in one activation) ask git once. The list of files is asked for on every call, so a
 * file added a moment ago is always seen.
 */
const tickMemo = new Map<string, unknown>();
let tickMemoClear: ReturnType<typeof setImmediate> | undefined;

function memoForTick<T>(key: string, compute: () => T): T {
  if (tickMemo.has(key)) return tickMemo.get(key) as T;
  const v = compute();
  tickMemo.set(key, v);
  if (tickMemoClear === undefined) {
    tickMemoClear = setImmediate(() => {
      tickMemo.clear();
      tickMemoClear = undefined;
    });
    tickMemoClear.unref();
  }
  return v;
}

/** git's environment, without what would point it at another repository. */
function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_OPTIONAL_LOCKS: '0' };
  for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_COMMON_DIR', 'GIT_CEILING_DIRECTORIES']) delete env[k];
  return env;
}

function git(cwd: string, args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd, env: gitEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000, maxBuffer: 256 * 1024 * 1024, windowsHide: true });
  } catch {
    // No git, not a work tree, or a repository git refuses (dubious ownership): no git here.
    return undefined;
  }
}

/** The root of the git work tree that contains `dir`, if any. */
function gitRootOf(dir: string): string | undefined {
  return memoForTick(`root\0${dir}`, () => {
    const out = git(dir, ['rev-parse', '--show-toplevel']);
    const root = out?.trim();
    return root ? resolve(root) : undefined;
  });
}

/** Tracked and untracked, non-ignored files of a work tree (`/`-separated, relative to `root`). */
function gitFilesOf(root: string): ReadonlySet<string> | undefined {
  const out = git(root, ['-c', 'core.quotepath=off', 'ls-files', '-z', '--cached', '--others', '--exclude-standard']);
  return out === undefined ? undefined : new Set(out.split('\0').filter((x) => x !== ''));
}

// ---------------------------------------------------------------------------------------------
// File digests, memoized per process

/** A change this recent (ns) might hide another within the file system's mtime granularity. */
const RACY_NS = 3_000_000_000n;
const MEMO_MAX = 200_000;

interface FileMemo {
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  readonly sha256: string;
}

const fileMemo = new Map<string, FileMemo>();

/** The digest of a tree's file, from the memo when its stat() is unchanged; null if unreadable. */
function memoizedFileDigest(path: string, st: BigIntStats): string | null {
  const m = fileMemo.get(path);
  if (m && m.size === st.size && m.mtimeNs === st.mtimeNs && m.ctimeNs === st.ctimeNs && m.ino === st.ino) return m.sha256;
  const sha256 = fileDigest(path);
  if (sha256 === undefined) return null;
  const now = BigInt(Date.now()) * 1_000_000n;
  if (now - st.mtimeNs > RACY_NS && now - st.ctimeNs > RACY_NS) {
    if (fileMemo.size >= MEMO_MAX) fileMemo.clear();
    fileMemo.set(path, { size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, sha256 });
  } else fileMemo.delete(path);
  return sha256;
}

// ---------------------------------------------------------------------------------------------
// Trees too large to digest

const warned = new Set<string>();

/** A digest no other call shares (the task is not cached), with a warning once per reason. */
function uncacheable(argv: readonly string[], why: string): string {
  if (!warned.has(why)) {
    warned.add(why);
    process.emitWarning(
      `larkflow: not caching ${JSON.stringify(argv)}: ${why}; declare the code it runs with code = [...] on its task (e.g. code = ["src/**/*.py"]), or ignore data in .gitignore`,
      'LarkflowCacheWarning',
    );
  }
  return digestOf({ kind: 'process', uncacheable: randomUUID() });
}
