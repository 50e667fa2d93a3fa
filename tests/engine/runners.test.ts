// The task runners as real processes: `python3 -m larkflow_runner` (runners/python) and the Node
// runner (`larkflow task-run`, here from an esbuild bundle of the runner commands, as the CLI ships
// them), each against file and S3 (s3rver, presigned URLs) attempt I/O, with and without a code bundle.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Command } from 'commander';
import { build } from 'esbuild';
import { Header } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttemptRef, TaskInputDoc } from '../../src/engine/executors/contract.js';
import { FsAttemptIO, S3AttemptIO, type AttemptIO } from '../../src/engine/remote/attempt-io.js';
import { packWorkflowDir } from '../../src/engine/remote/file-sync.js';
import { EXIT_RUNNER_FAILED, runTaskFromEnv } from '../../src/runner/task-run.js';
import { pythonRunnerPath, registerRunnerCommands } from '../../src/cli/commands/runner.js';
import { S3rver, S3RVER_CREDENTIALS } from '../helpers/s3rver.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PYTHON_RUNNERS = join(ROOT, 'runners', 'python');
const tmp = mkdtempSync(join(tmpdir(), 'larkflow-runners-'));
const BUCKET = 'runs';
/** The Node runner as the CLI ships it: bundled, inside the package (so runner-path finds runners/). */
const NODE_BUNDLE_DIR = join(ROOT, 'node_modules', '.cache', `larkflow-runner-test-${process.pid}`);
const NODE_CLI = join(NODE_BUNDLE_DIR, 'larkflow.mjs');
let server: S3rver;

const PY_TASKS = `
def add(a, b, scale=1):
    print("adding", a, b)
    return {"sum": (a + b) * scale, "big": 2 ** 80, "type": type(a).__name__}

def boom(x):
    raise ValueError("bad input %s" % x)

def not_json():
    return {"s": {1, 2}}

def version():
    return "old"

def linger():
    import threading, time
    threading.Thread(target=time.sleep, args=(3600,)).start()
    return "done"
`;

const JS_TASKS = `
export function add(a, b, kw) {
  console.log('adding', String(a), String(b));
  return { sum: (a + BigInt(b)) * BigInt(kw.scale), big: 2n ** 80n, type: typeof a };
}
export async function boom(x) {
  await null;
  throw new Error('bad input ' + x);
}
export function notJson() {
  return { f: new Map() };
}
export const version = () => 'old';
export const noArgs = (...a) => a.length;
export function linger() {
  setInterval(() => undefined, 1000);
  return 'done';
}
`;

/** The "image": the code a job's container already has (older than the bundle's). */
const IMAGE = join(tmp, 'image');

beforeAll(async () => {
  const py = spawnSync('python3', ['--version'], { encoding: 'utf8' });
  if (py.error || py.status !== 0) {
    throw new Error(`python3 is required by the Python runner tests and was not found on PATH (${py.error?.message ?? py.stderr}); install Python 3.8+`);
  }
  mkdirSync(IMAGE, { recursive: true });
  writeFileSync(join(IMAGE, 'tasks.py'), PY_TASKS);
  writeFileSync(join(IMAGE, 'tasks.mjs'), JS_TASKS);
  mkdirSync(NODE_BUNDLE_DIR, { recursive: true });
  const entry = `
import { Command } from 'commander';
import { registerRunnerCommands } from ${JSON.stringify(join(ROOT, 'src', 'cli', 'commands', 'runner.ts'))};
const program = new Command('larkflow');
registerRunnerCommands(program, { setExit: (c) => { process.exitCode = c; }, exitWhenDone: true });
await program.parseAsync(process.argv);
`;
  await build({
    stdin: { contents: entry, resolveDir: ROOT, loader: 'ts', sourcefile: 'entry.ts' },
    outfile: NODE_CLI,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    splitting: false,
    logLevel: 'error',
    banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" },
  });
  server = await S3rver.start({ directory: join(tmp, 's3rver'), bucket: BUCKET });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
  rmSync(NODE_BUNDLE_DIR, { recursive: true, force: true });
});

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], env: Record<string, string>, cwd: string): Promise<Ran> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('LARKFLOW_') && k !== 'PYTHONPATH' && k !== 'NODE_OPTIONS') base[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface Runner {
  readonly name: string;
  readonly task: (fn: string) => string;
  readonly exec: (env: Record<string, string>, cwd: string) => Promise<Ran>;
}

const runners: Runner[] = [
  {
    name: 'python',
    task: (fn) => `tasks:${fn === 'notJson' ? 'not_json' : fn}`,
    exec: (env, cwd) => run('python3', ['-m', 'larkflow_runner'], { PYTHONPATH: `${PYTHON_RUNNERS}:${IMAGE}`, PYTHONDONTWRITEBYTECODE: '1', ...env }, cwd),
  },
  {
    name: 'node',
    task: (fn) => `tasks.mjs#${fn}`,
    exec: (env, cwd) => run(process.execPath, [NODE_CLI, 'task-run'], env, cwd),
  },
];

let seq = 0;
const ios: [string, () => AttemptIO][] = [
  ['fs', () => new FsAttemptIO(join(tmp, `io${++seq}`))],
  ['s3', () => new S3AttemptIO({ url: `s3://${BUCKET}/p${++seq}`, endpoint: server.endpoint, credentials: S3RVER_CREDENTIALS, expiresInSeconds: 900 })],
];

function doc(ref: AttemptRef, task: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}): TaskInputDoc {
  return { version: 1, task, args, kwargs, runId: ref.runId, stepId: ref.stepId, attempt: ref.attempt };
}

/** Runs one attempt through `io` and returns the exit status, output and the result read back. */
async function attempt(runner: Runner, io: AttemptIO, input: Omit<TaskInputDoc, 'runId' | 'stepId' | 'attempt'>, extraEnv: Record<string, string> = {}, refOverride?: Partial<AttemptRef>) {
  const ref: AttemptRef = { runId: `run-${++seq}`, stepId: 'step/1', attempt: 1, ...refOverride };
  const inputUrl = await io.putInput(ref, { ...input, runId: ref.runId, stepId: ref.stepId, attempt: ref.attempt });
  const resultUrl = await io.resultUrl(ref);
  const ran = await runner.exec({ LARKFLOW_INPUT_URL: inputUrl, LARKFLOW_RESULT_URL: resultUrl, ...extraEnv }, IMAGE);
  return { ...ran, ref, result: () => io.readResult(ref) };
}

describe.concurrent.each(runners)('$name runner', (runner) => {
  describe.each(ios)('with %s I/O', (_io, makeIO) => {
    it('runs a task: args, kwargs, big ints both ways, the task output passes through', async () => {
      const io = makeIO();
      const r = await attempt(runner, io, doc({ runId: '', stepId: '', attempt: 1 }, runner.task('add'), [{ $bigint: '123456789012345678901234' }, 1], { scale: 2 }));
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('adding 123456789012345678901234 1');
      expect(await r.result()).toEqual({
        version: 1,
        runId: r.ref.runId,
        stepId: r.ref.stepId,
        attempt: 1,
        ok: true,
        value: { sum: { $bigint: '246913578024691357802470' }, big: { $bigint: '1208925819614629174706176' }, type: runner.name === 'python' ? 'int' : 'bigint' },
      });
      io.close();
    });

    it('an exception: ok:false, kind task, retryable, the traceback, exit 1', async () => {
      const io = makeIO();
      const r = await attempt(runner, io, doc({ runId: '', stepId: '', attempt: 1 }, runner.task('boom'), ['x']));
      expect(r.code).toBe(1);
      const res = await r.result();
      expect(res).toMatchObject({ ok: false, error: { kind: 'task', message: runner.name === 'python' ? 'ValueError: bad input x' : 'Error: bad input x', retryable: true } });
      const details = res?.ok === false ? res.error.details : undefined;
      expect(details).toMatch(runner.name === 'python' ? /Traceback[\s\S]*tasks\.py", line \d+, in boom/ : /Error: bad input x\n\s+at boom .*tasks\.mjs/);
      expect(r.stderr).toContain('bad input x');
      io.close();
    });

    it('a missing module or function: kind missing-task, not retryable, exit 2', async () => {
      const io = makeIO();
      const noModule = await attempt(runner, io, doc({ runId: '', stepId: '', attempt: 1 }, runner.name === 'python' ? 'no_such_module:f' : 'no_such_file.mjs#f'));
      expect(noModule.code).toBe(2);
      expect(await noModule.result()).toMatchObject({ ok: false, error: { kind: 'missing-task', retryable: false } });
      const noFunction = await attempt(runner, io, doc({ runId: '', stepId: '', attempt: 1 }, runner.task('nope')));
      expect(noFunction.code).toBe(2);
      expect(await noFunction.result()).toMatchObject({ ok: false, error: { kind: 'missing-task', message: expect.stringMatching(/nope/) as unknown } });
      if (runner.name === 'node') {
        const noPackage = await attempt(runner, io, doc({ runId: '', stepId: '', attempt: 1 }, 'no-such-package-xyz#f'));
        expect(noPackage.code).toBe(2);
      }
      io.close();
    });

    it('a value that is not JSON: ok:false, not retryable, exit 1', async () => {
      const io = makeIO();
      const r = await attempt(runner, io, doc({ runId: '', stepId: '', attempt: 1 }, runner.task('notJson')));
      expect(r.code).toBe(1);
      expect(await r.result()).toMatchObject({ ok: false, error: { kind: 'task', retryable: false, message: expect.stringMatching(/not JSON/) as unknown } });
      io.close();
    });

    it('a code bundle: unpacked, checked, and its code preferred over the image\'s older copy', async () => {
      const io = makeIO();
      const src = join(tmp, `bundle-src-${++seq}`);
      mkdirSync(join(src, 'pkg'), { recursive: true });
      writeFileSync(join(src, 'tasks.py'), PY_TASKS.replace('return "old"', 'import pkg.helper\n    return pkg.helper.NEW'));
      writeFileSync(join(src, 'pkg', '__init__.py'), '');
      writeFileSync(join(src, 'pkg', 'helper.py'), 'NEW = "new"\n');
      writeFileSync(join(src, 'tasks.mjs'), JS_TASKS.replace("() => 'old'", "async () => (await import('./pkg/helper.mjs')).NEW"));
      writeFileSync(join(src, 'pkg', 'helper.mjs'), "export const NEW = 'new';\n");
      const bundle = await packWorkflowDir(src, { useGit: false });
      const url = await io.putBundle(bundle.sha256, bundle.bytes);
      const codeDir = join(tmp, `code-${++seq}`);
      const r = await attempt(runner, io, doc({ runId: '', stepId: '', attempt: 1 }, runner.task('version')), { LARKFLOW_CODE_URL: url, LARKFLOW_CODE_SHA256: bundle.sha256, LARKFLOW_CODE_DIR: codeDir });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(await r.result()).toMatchObject({ ok: true, value: 'new' });
      expect(readFileSync(join(codeDir, 'pkg', 'helper.py'), 'utf8')).toBe('NEW = "new"\n');
      // Without the bundle the image's copy runs.
      const old = await attempt(runner, io, doc({ runId: '', stepId: '', attempt: 1 }, runner.task('version')));
      expect(await old.result()).toMatchObject({ ok: true, value: 'old' });
      // A digest that does not match: refused, nothing imported, exit 3.
      const bad = await attempt(runner, io, doc({ runId: '', stepId: '', attempt: 1 }, runner.task('version')), { LARKFLOW_CODE_URL: url, LARKFLOW_CODE_SHA256: 'f'.repeat(64), LARKFLOW_CODE_DIR: join(tmp, `code-${++seq}`) });
      expect(bad.code).toBe(3);
      expect(await bad.result()).toMatchObject({ ok: false, error: { kind: 'bundle', retryable: false, message: expect.stringMatching(/does not match LARKFLOW_CODE_SHA256: expected sha256 f{64}, got [0-9a-f]{64}/) as unknown } });
      io.close();
    });
  });

  it('refuses a bundle whose entries escape the target, or hold links, before writing anything', async () => {
    const io = new FsAttemptIO(join(tmp, `esc${++seq}`));
    const cases: [string, Uint8Array][] = [
      ['dotdot', craftTar([{ path: 'ok.txt', data: 'ok' }, { path: '../escape.txt', data: 'evil' }])],
      ['absolute', craftTar([{ path: 'ok.txt', data: 'ok' }, { path: '/tmp/larkflow-abs-escape.txt', data: 'evil' }])],
      ['symlink', craftTar([{ path: 'ok.txt', data: 'ok' }, { path: 'evil', type: 'SymbolicLink', linkpath: '/etc' }])],
    ];
    for (const [name, bytes] of cases) {
      const { createHash } = await import('node:crypto');
      const sha = createHash('sha256').update(bytes).digest('hex');
      const url = await io.putBundle(sha, bytes);
      const parent = join(tmp, `escape-${name}-${runner.name}`);
      const codeDir = join(parent, 'code');
      const r = await attempt(runner, io, doc({ runId: '', stepId: '', attempt: 1 }, runner.task('version')), { LARKFLOW_CODE_URL: url, LARKFLOW_CODE_SHA256: sha, LARKFLOW_CODE_DIR: codeDir });
      expect(r.code, `${name}: ${r.stderr}`).toBe(3);
      expect(await r.result()).toMatchObject({ ok: false, error: { kind: 'bundle', message: expect.stringMatching(/unsafe code bundle/) as unknown } });
      expect(existsSync(join(parent, 'escape.txt'))).toBe(false);
      expect(existsSync(join(codeDir, 'ok.txt'))).toBe(false);
      expect(existsSync('/tmp/larkflow-abs-escape.txt')).toBe(false);
    }
  });

  it('a bundle that cannot be fetched, or is not a tar.gz: exit 3, kind bundle', async () => {
    const io = new FsAttemptIO(join(tmp, `badbundle${++seq}`));
    const missing = await attempt(runner, io, doc({ runId: '', stepId: '', attempt: 1 }, runner.task('version')), { LARKFLOW_CODE_URL: pathToFileURL(join(tmp, 'no-such-bundle.tar.gz')).href, LARKFLOW_CODE_DIR: join(tmp, `code-${++seq}`) });
    expect(missing.code).toBe(3);
    expect(await missing.result()).toMatchObject({ ok: false, error: { kind: 'bundle', message: expect.stringMatching(/cannot fetch the code bundle/) as unknown } });
    const junk = new Uint8Array(Buffer.from('this is not gzip at all'));
    const { createHash } = await import('node:crypto');
    const url = await io.putBundle(createHash('sha256').update(junk).digest('hex'), junk);
    const notTar = await attempt(runner, io, doc({ runId: '', stepId: '', attempt: 1 }, runner.task('version')), { LARKFLOW_CODE_URL: url, LARKFLOW_CODE_DIR: join(tmp, `code-${++seq}`) });
    expect(notTar.code).toBe(3);
    expect(await notTar.result()).toMatchObject({ ok: false, error: { kind: 'bundle', message: expect.stringMatching(/not a tar\.gz/) as unknown } });
  });

  it('writes the document the input names: a result for another attempt is refused by readResult', async () => {
    const io = new FsAttemptIO(join(tmp, `stale${++seq}`));
    const ref: AttemptRef = { runId: 'r', stepId: 's', attempt: 2 };
    // The runner is handed the input of attempt 1 but the result URL of attempt 2 (a mix-up).
    const inputUrl = await io.putInput({ ...ref, attempt: 1 }, doc({ ...ref, attempt: 1 }, runner.task('version')));
    const r = await runner.exec({ LARKFLOW_INPUT_URL: inputUrl, LARKFLOW_RESULT_URL: await io.resultUrl(ref) }, IMAGE);
    expect(r.code).toBe(0);
    await expect(io.readResult(ref)).rejects.toThrow(/names attempt 1 of step "s" of run "r" \(a stale or misplaced result\)/);
  });

  it('ends the process once the result is written, even if the task left something running', async () => {
    const io = new FsAttemptIO(join(tmp, `linger${++seq}`));
    const started = Date.now();
    const r = await attempt(runner, io, doc({ runId: '', stepId: '', attempt: 1 }, runner.task('linger')));
    expect(r.code).toBe(0);
    expect(await r.result()).toMatchObject({ ok: true, value: 'done' });
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('an unreadable input: exit 3, nothing written', async () => {
    const resultPath = join(tmp, `nothing-${runner.name}.json`);
    const r = await runner.exec({ LARKFLOW_INPUT_URL: pathToFileURL(join(tmp, 'no-such-input.json')).href, LARKFLOW_RESULT_URL: pathToFileURL(resultPath).href }, IMAGE);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot read the input document/);
    expect(existsSync(resultPath)).toBe(false);
  });
});

describe('Node runner details', () => {
  it('passes kwargs as a trailing object only when there are any', async () => {
    const io = new FsAttemptIO(join(tmp, `kw${++seq}`));
    const node = runners[1]!;
    const none = await attempt(node, io, doc({ runId: '', stepId: '', attempt: 1 }, 'tasks.mjs#noArgs', [1, 2]));
    expect(await none.result()).toMatchObject({ ok: true, value: 2 });
    const some = await attempt(node, io, doc({ runId: '', stepId: '', attempt: 1 }, 'tasks.mjs#noArgs', [1, 2], { k: 1 }));
    expect(await some.result()).toMatchObject({ ok: true, value: 3 });
  });

  it('runTaskFromEnv without the I/O variables: exit 3', async () => {
    const lines: string[] = [];
    expect(await runTaskFromEnv({}, { log: (l) => lines.push(l) })).toBe(EXIT_RUNNER_FAILED);
    expect(lines.join('\n')).toMatch(/LARKFLOW_INPUT_URL and LARKFLOW_RESULT_URL must both be set/);
  });
});

describe('runner-path', () => {
  it('finds runners/python from the source, a dist/cli/commands module and a bundle', () => {
    expect(pythonRunnerPath()).toBe(PYTHON_RUNNERS);
    expect(pythonRunnerPath(pathToFileURL(join(ROOT, 'dist', 'bundle', 'larkflow.mjs')))).toBe(PYTHON_RUNNERS);
    expect(pythonRunnerPath(pathToFileURL(join(ROOT, 'dist', 'cli', 'commands', 'runner.js')))).toBe(PYTHON_RUNNERS);
    // A directory of its own (tmpdir() itself may hold a checkout, such as a clone in /tmp/x).
    const lonely = mkdtempSync(join(tmpdir(), 'lf-no-runner-'));
    expect(() => pythonRunnerPath(pathToFileURL(join(lonely, 'y.mjs')))).toThrow(/cannot find larkflow's Python runner/);
    rmSync(lonely, { recursive: true, force: true });
  });

  it('prints it (in-process commander, and the bundled CLI as a process)', async () => {
    let out = '';
    const program = new Command('larkflow').exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: () => undefined });
    registerRunnerCommands(program);
    await program.parseAsync(['runner-path', 'python'], { from: 'user' });
    expect(out).toBe(PYTHON_RUNNERS + '\n');
    await expect(program.parseAsync(['runner-path', 'ruby'], { from: 'user' })).rejects.toThrow(/unknown runner "ruby"/);
    const r = await run(process.execPath, [NODE_CLI, 'runner-path', 'python'], {}, tmp);
    expect(r.stdout).toBe(PYTHON_RUNNERS + '\n');
    // The path works: python3 finds the runner package there.
    const py = spawnSync('python3', ['-c', 'import larkflow_runner, sys; sys.stdout.write(larkflow_runner.__file__)'], { env: { ...process.env, PYTHONPATH: r.stdout.trim(), PYTHONDONTWRITEBYTECODE: '1' }, encoding: 'utf8' });
    expect(py.stdout).toBe(join(PYTHON_RUNNERS, 'larkflow_runner', '__init__.py'));
  });

  it(
    'the built CLI (dist/bundle: npm test builds first) prints it too',
    async () => {
      const r = await run(process.execPath, [join(ROOT, 'dist', 'bundle', 'larkflow.mjs'), 'runner-path', 'python'], {}, tmp);
      expect(r.stdout).toBe(PYTHON_RUNNERS + '\n');
    },
  );
});

/** A tar.gz with exactly the given entries (to make unsafe ones). */
function craftTar(entries: readonly { path: string; data?: string; type?: 'File' | 'SymbolicLink'; linkpath?: string }[]): Uint8Array {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const block = Buffer.alloc(512);
    new Header({ path: e.path, mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: new Date(0), type: e.type ?? 'File', ...(e.linkpath !== undefined ? { linkpath: e.linkpath } : {}) }).encode(block, 0);
    blocks.push(block, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return new Uint8Array(gzipSync(Buffer.concat(blocks)));
}
