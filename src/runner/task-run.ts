/**
 * This file defines larkflow's Node task runner (`larkflow task-run`): it runs one attempt of a
 * remote task in a job, with the protocol of the Python runner (runners/python/larkflow_runner):
 *
 * - `LARKFLOW_INPUT_URL` (file:// or http(s) GET): the input document
 *   `{"version": 1, "task", "args", "kwargs", "runId", "stepId", "attempt"}`.
 * - `LARKFLOW_RESULT_URL` (file://, written atomically through a temporary file and a rename; or
 *   http(s), one PUT, e.g. a presigned S3 URL): the result document `{"version": 1, "runId",
 *   "stepId", "attempt", "ok": true, "value"}` or `{..., "ok": false, "error": {"kind", "message",
 *   "retryable", "details"}}`.
 * - `LARKFLOW_CODE_URL` (optional): a tar.gz code bundle, checked against `LARKFLOW_CODE_SHA256` when
 *   set, unpacked into `LARKFLOW_CODE_DIR` (default: a new temporary directory), which becomes the
 *   working directory and the base of the task reference. Only regular files and directories are
 *   unpacked: absolute paths, `..`, links and special files make the whole bundle refused.
 *
 * The task reference: `path/to/file.mjs#exportName` (relative to the code directory, else the
 * working directory; also `./x.js`, `/abs/x.mjs`), or `package#exportName` (resolved from the code
 * directory's node_modules first, then from larkflow's own). Without `#`, the default export.
 * The export is called as `fn(...args)`, and with the kwargs as one more, trailing, argument
 * `fn(...args, kwargs)` only when kwargs is not empty; it may return a promise.
 *
 * Values: ints beyond ±(2^53−1) arrive as BigInt (others as numbers); a returned BigInt is written
 * with all its digits. A returned value must be JSON (null, booleans, finite numbers, strings,
 * BigInts, arrays, plain objects, objects with toJSON such as Date); `undefined` is null.
 *
 * Exit status (as the Python runner):
 *   0  the task returned and its result was written
 *   1  the task threw (ok: false, kind "task", retryable true, the stack in details), or its value is
 *      not JSON (kind "task", retryable false)
 *   2  no such module or export (ok: false, kind "missing-task", retryable false)
 *   3  the runner failed: the input could not be read, the bundle could not be fetched, was damaged
 *      or unsafe (a document of kind "bundle" is written when possible), the result could not be written
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, realpath, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { extract, list } from 'tar';
import type { ReadEntry } from 'tar';
import { IO_ENV } from '../engine/executors/contract.js';
import { parseExactJson, writeExactJson } from '../engine/executors/exact-json.js';
import { fromJsonValue, NotJsonError, toJsonValue } from '../engine/remote/exact-values.js';

export const EXIT_OK = 0;
export const EXIT_TASK_FAILED = 1;
export const EXIT_MISSING_TASK = 2;
export const EXIT_RUNNER_FAILED = 3;

/** Where the unpacked bundle goes when `LARKFLOW_CODE_DIR` is set. */
export const CODE_DIR_ENV = 'LARKFLOW_CODE_DIR';

export interface TaskRunOptions {
  /** Make the code directory the process's working directory. @default true */
  readonly chdir?: boolean;
  /** Where the runner's own messages go. @default process.stderr */
  readonly log?: (line: string) => void;
  /** Tries of an HTTP GET or PUT that fails transiently (5xx, 408, 429, network). @default 5 */
  readonly httpTries?: number;
}

class RunnerError extends Error {
  constructor(
    message: string,
    readonly kind: string = 'runner',
    readonly retryable = false,
  ) {
    super(message);
  }
}

class MissingTask extends Error {}

interface ResultBase {
  readonly version: 1;
  readonly runId: unknown;
  readonly stepId: unknown;
  readonly attempt: unknown;
}

const MAX_DETAILS = 64 * 1024;

/** Runs the attempt the environment describes; resolves to the exit status. Never throws. */
export async function runTaskFromEnv(env: NodeJS.ProcessEnv = process.env, options: TaskRunOptions = {}): Promise<number> {
  const log = options.log ?? ((line: string) => void process.stderr.write(`larkflow-runner: ${line}\n`));
  const tries = options.httpTries ?? 5;
  const inputUrl = env[IO_ENV.input] ?? '';
  const resultUrl = env[IO_ENV.result] ?? '';
  if (inputUrl === '' || resultUrl === '') {
    log(`${IO_ENV.input} and ${IO_ENV.result} must both be set`);
    return EXIT_RUNNER_FAILED;
  }
  let doc: Record<string, unknown>;
  try {
    const text = new TextDecoder().decode(await readUrl(inputUrl, tries, log));
    const parsed = parseExactJson(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || (parsed as Record<string, unknown>).version !== 1) {
      throw new RunnerError(`the input document is not a version 1 larkflow input: ${text.slice(0, 200)}`);
    }
    doc = parsed as Record<string, unknown>;
  } catch (e) {
    log(`cannot read the input document: ${messageOf(e)}`);
    return EXIT_RUNNER_FAILED;
  }
  const args = doc.args ?? [];
  const kwargs = doc.kwargs ?? {};
  if (!Array.isArray(args) || typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
    log("the input document's args must be an array and its kwargs an object");
    return EXIT_RUNNER_FAILED;
  }
  const base: ResultBase = { version: 1, runId: doc.runId, stepId: doc.stepId, attempt: doc.attempt };
  const finish = async (result: object, status: number): Promise<number> => {
    try {
      await writeUrl(resultUrl, writeExactJson(toJsonValue(result, 'result')), tries, log);
      return status;
    } catch (e) {
      log(`cannot write the result: ${messageOf(e)}`);
      return EXIT_RUNNER_FAILED;
    }
  };
  const failure = (kind: string, message: string, retryable: boolean, details?: string): object => ({
    ...base,
    ok: false,
    error: { kind, message, retryable, ...(details ? { details: details.slice(-MAX_DETAILS) } : {}) },
  });

  let codeDir: string | undefined;
  try {
    codeDir = await prepareCode(env, tries, log);
  } catch (e) {
    const err = e instanceof RunnerError ? e : new RunnerError(`cannot unpack the code bundle: ${messageOf(e)}`, 'bundle', true);
    log(err.message);
    return finish(failure(err.kind, err.message, err.retryable), EXIT_RUNNER_FAILED);
  }
  if (codeDir !== undefined && options.chdir !== false) process.chdir(codeDir);
  const baseDir = codeDir ?? process.cwd();

  const task = typeof doc.task === 'string' ? doc.task : '';
  let fn: (...a: unknown[]) => unknown;
  try {
    fn = await loadTask(task, baseDir);
  } catch (e) {
    if (e instanceof MissingTask) {
      log(e.message);
      return finish(failure('missing-task', e.message, false), EXIT_MISSING_TASK);
    }
    const details = stackOf(e);
    process.stderr.write(details + '\n');
    return finish(failure('task', `importing ${task} failed: ${describe(e)}`, true, details), EXIT_TASK_FAILED);
  }

  const callArgs = (args as unknown[]).map((a) => fromJsonValue(a as Parameters<typeof fromJsonValue>[0]));
  if (Object.keys(kwargs).length > 0) callArgs.push(fromJsonValue(kwargs as Parameters<typeof fromJsonValue>[0]));
  let value: unknown;
  try {
    value = await fn(...callArgs);
  } catch (e) {
    const details = stackOf(e);
    process.stderr.write(details + '\n');
    return finish(failure('task', describe(e), true, details), EXIT_TASK_FAILED);
  }
  let text: string;
  try {
    text = writeExactJson(toJsonValue({ ...base, ok: true, value: toJsonValue(value, 'value') }, 'result'));
  } catch (e) {
    const message = `the value ${task} returned is not JSON-serializable: ${e instanceof NotJsonError ? e.message : describe(e)}`;
    log(message);
    return finish(failure('task', message, false), EXIT_TASK_FAILED);
  }
  try {
    await writeUrl(resultUrl, text, tries, log);
  } catch (e) {
    log(`cannot write the result: ${messageOf(e)}`);
    return EXIT_RUNNER_FAILED;
  }
  return EXIT_OK;
}

// ---------------------------------------------------------------------------------------------
// The task

/** Splits `spec#export` at its last `#` (`default` without one). */
export function parseTaskRef(task: string): { readonly spec: string; readonly exportName: string } {
  const i = task.lastIndexOf('#');
  const spec = i < 0 ? task : task.slice(0, i);
  const exportName = i < 0 ? 'default' : task.slice(i + 1);
  if (spec === '' || exportName === '') throw new MissingTask(`bad task reference ${JSON.stringify(task)}: expected "path/to/file.mjs#export" or "package#export"`);
  return { spec, exportName };
}

const PATH_LIKE = /^(?:\.\.?[\\/]|[\\/])|^[A-Za-z]:[\\/]/;

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() === true;
}

async function loadTask(task: string, baseDir: string): Promise<(...a: unknown[]) => unknown> {
  const { spec, exportName } = parseTaskRef(task);
  let url: string;
  const asPath = isAbsolute(spec) ? spec : resolve(baseDir, spec);
  if (PATH_LIKE.test(spec) || (await isFile(asPath))) {
    if (!(await isFile(asPath))) throw new MissingTask(`no file ${asPath} (task ${task})`);
    url = pathToFileURL(asPath).href;
  } else {
    url = resolvePackage(spec, baseDir, task);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    // The module itself is missing (not one it imports).
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && url === spec && messageOf(e).includes(`'${packageName(spec)}`)) {
      throw new MissingTask(`no module ${JSON.stringify(spec)} (task ${task}; looked in ${baseDir} and larkflow's own node_modules)`);
    }
    throw e;
  }
  const fn = mod[exportName];
  if (fn === undefined) throw new MissingTask(`${spec} has no export ${JSON.stringify(exportName)} (task ${task}; it exports ${Object.keys(mod).join(', ') || 'nothing'})`);
  if (typeof fn !== 'function') throw new MissingTask(`export ${JSON.stringify(exportName)} of ${spec} is not a function (task ${task})`);
  return fn as (...a: unknown[]) => unknown;
}

/** `pkg` of `pkg/sub`, `@scope/pkg` of `@scope/pkg/sub`. */
function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** A package's entry as a URL, resolved from `baseDir` first; else the bare specifier (resolved from larkflow). */
function resolvePackage(spec: string, baseDir: string, task: string): string {
  if (spec.startsWith('node:')) return spec;
  try {
    return pathToFileURL(createRequire(join(baseDir, '__larkflow_task__.cjs')).resolve(spec)).href;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw new MissingTask(`cannot resolve ${JSON.stringify(spec)} (task ${task}): ${messageOf(e)}`);
    // An ESM-only package (no "require" export), or one larkflow itself can import.
    return spec;
  }
}

// ---------------------------------------------------------------------------------------------
// Code bundle

async function prepareCode(env: NodeJS.ProcessEnv, tries: number, log: (line: string) => void): Promise<string | undefined> {
  const url = env[IO_ENV.code] ?? '';
  if (url === '') return undefined;
  let bytes: Uint8Array;
  try {
    bytes = await readUrl(url, tries, log);
  } catch (e) {
    throw new RunnerError(`cannot fetch the code bundle: ${messageOf(e)}`, 'bundle', e instanceof RunnerError ? e.retryable : true);
  }
  const expected = (env[IO_ENV.codeSha256] ?? '').trim().toLowerCase();
  if (expected !== '') {
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== expected) throw new RunnerError(`the code bundle from ${redact(url)} does not match ${IO_ENV.codeSha256}: expected sha256 ${expected}, got ${actual}`, 'bundle');
  }
  const wanted = env[CODE_DIR_ENV] ?? '';
  let target: string;
  if (wanted !== '') {
    await mkdir(wanted, { recursive: true });
    target = await realpath(wanted);
  } else {
    target = await realpath(await mkdtemp(join(tmpdir(), 'larkflow-code-')));
  }
  await unpackBundle(bytes, target);
  await linkImageDependencies(target, process.cwd());
  return target;
}

/**
 * The bundle replaces the image's code, not its installed packages: when the bundle brings no
 * `node_modules`, the unpacked directory gets a link to the nearest `node_modules` above the image's
 * working directory, so `import 'some-package'` in the bundle's code resolves as it did in the image.
 */
async function linkImageDependencies(target: string, imageDir: string): Promise<void> {
  const here = join(target, 'node_modules');
  if (await stat(here).then(() => true, () => false)) return;
  for (let dir = imageDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules');
    if (await stat(candidate).then((s) => s.isDirectory(), () => false)) {
      await symlink(candidate, here, 'dir').catch(() => undefined);
      return;
    }
    if (dirname(dir) === dir) return;
  }
}

/** A member path's problem, or undefined when it stays inside the target. */
function unsafePath(path: string): string | undefined {
  if (/^[\\/]/.test(path) || /^[A-Za-z]:/.test(path)) return `absolute path ${JSON.stringify(path)}`;
  if (path.split(/[\\/]/).includes('..')) return `path ${JSON.stringify(path)} climbs out of the target directory`;
  return undefined;
}

/**
 * Unpacks a tar.gz into `target`: regular files and directories only, nothing outside it; every
 * entry is checked before anything is written.
 * @throws RunnerError 'bundle' for an archive that is not a tar.gz or holds an unsafe entry
 */
export async function unpackBundle(bytes: Uint8Array, target: string): Promise<void> {
  // The archive goes to a temporary directory of its own: the target's parent may not be writable.
  const scratch = await mkdtemp(join(tmpdir(), 'larkflow-bundle-'));
  const file = join(scratch, 'bundle.tar.gz');
  try {
    await writeFile(file, bytes);
    const problems: string[] = [];
    let entries = 0;
    try {
      list({
        file,
        sync: true,
        strict: true,
        onReadEntry: (entry: ReadEntry) => {
          entries++;
          const bad = unsafePath(entry.path);
          if (bad !== undefined) problems.push(bad);
          else if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'ContiguousFile' && entry.type !== 'Directory') {
            problems.push(`${JSON.stringify(entry.path)} is a ${entry.type === 'SymbolicLink' || entry.type === 'Link' ? 'link' : `special entry (${entry.type})`}; only regular files and directories are allowed`);
          }
        },
      });
    } catch (e) {
      throw new RunnerError(`the code bundle is not a tar.gz: ${messageOf(e)}`, 'bundle');
    }
    if (problems.length > 0) throw new RunnerError(`unsafe code bundle: ${problems.slice(0, 5).join('; ')}`, 'bundle');
    if (entries === 0 && bytes.byteLength > 0 && !(await looksLikeEmptyTar(bytes))) throw new RunnerError('the code bundle is not a tar.gz (no entries)', 'bundle');
    try {
      // strict: a warning (an entry it would skip) is an error; noMtime: files get the time of now.
      extract({ file, cwd: target, sync: true, strict: true, noMtime: true, preservePaths: false, preserveOwner: false });
    } catch (e) {
      throw new RunnerError(`cannot unpack the code bundle into ${target}: ${messageOf(e)}`, 'bundle');
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function looksLikeEmptyTar(bytes: Uint8Array): Promise<boolean> {
  const { gunzipSync } = await import('node:zlib');
  try {
    const tar = gunzipSync(bytes);
    return tar.every((b) => b === 0);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// URLs

function redact(url: string): string {
  return url.split('?')[0]!;
}

function isHttp(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

async function readUrl(url: string, tries: number, log: (line: string) => void): Promise<Uint8Array> {
  if (url.startsWith('file:')) {
    const path = fileURLToPath(url);
    try {
      return await readFile(path);
    } catch (e) {
      throw new RunnerError(`cannot read ${path}: ${messageOf(e)}`);
    }
  }
  if (isHttp(url)) return new Uint8Array(await http('GET', url, undefined, tries, log));
  throw new RunnerError(`cannot read ${redact(url)}: expected a file:// or http(s) URL`);
}

async function writeUrl(url: string, text: string, tries: number, log: (line: string) => void): Promise<void> {
  if (url.startsWith('file:')) {
    const path = fileURLToPath(url);
    const tmp = join(dirname(path), `.result-${process.pid}-${Date.now()}.tmp`);
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(tmp, text);
      await rename(tmp, path);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new RunnerError(`cannot write ${path}: ${messageOf(e)}`);
    }
    return;
  }
  if (isHttp(url)) {
    // A presigned S3 PUT signs only the host: Content-Type is not part of the signature.
    await http('PUT', url, Buffer.from(text, 'utf8'), tries, log);
    return;
  }
  throw new RunnerError(`cannot write ${redact(url)}: expected a file:// or http(s) URL`);
}

async function http(method: 'GET' | 'PUT', url: string, body: Buffer | undefined, tries: number, log: (line: string) => void): Promise<ArrayBuffer> {
  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    let failure: string;
    let transient: boolean;
    try {
      const res = await fetch(url, {
        method,
        ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}),
        signal: AbortSignal.timeout(60_000),
      });
      if (res.ok) return await res.arrayBuffer();
      const text = (await res.text().catch(() => '')).slice(0, 2000);
      failure = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
      transient = res.status >= 500 || res.status === 408 || res.status === 429;
    } catch (e) {
      failure = messageOf(e);
      transient = true;
    }
    if (!transient || attempt >= tries) throw new RunnerError(`${method} ${redact(url)} failed: ${failure}`, 'runner', transient);
    log(`${method} ${redact(url)} failed (${failure}), trying again in ${delay / 1000} s`);
    await new Promise((r) => setTimeout(r, delay));
    delay *= 2;
  }
}

// ---------------------------------------------------------------------------------------------

function messageOf(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
  }
  return String(e);
}

/** `TypeError: message`, as the Python runner's `ValueError: message`. */
function describe(e: unknown): string {
  if (e instanceof Error) return e.message ? `${e.name}: ${e.message}` : e.name;
  return `thrown ${typeof e}: ${String(e)}`;
}

function stackOf(e: unknown): string {
  return e instanceof Error && typeof e.stack === 'string' ? e.stack : describe(e);
}
