/**
 * The npm tarball, installed as a consumer gets it: its declarations type-check in a strict
 * project (`skipLibCheck: false`) that has only what npm installs with larkflow, and its code runs.
 *
 * A declaration file that imports a package's types needs that package (or its `@types/...`)
 * installed with larkflow; a devDependency is not, so such an import fails the consumer's build
 * with TS7016 or TS2307 even though our own `tsc` is happy. This test packs the built tree (run
 * `npm run build` first; `npm test` does), extracts the tarball into a scratch project, links the
 * packages npm would install with it (see `consumer.ts`), and runs the repo's `tsc` on a consumer.
 *
 * The README's TypeScript examples are compiled there too, against the package as published, and
 * those that need no workflow file on disk are run: the documentation cannot drift from the real
 * signatures. (`tests/readme.test.ts` runs the interpreter example against the sources, with
 * assertions.)
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installedWith, makeConsumer, packTarball, readPackageJson, repoRoot, type Consumer } from './consumer.js';
import { codeBlocks } from './markdown.js';

const pkg = readPackageJson(repoRoot);
const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');

/** A strict consumer: NodeNext ESM, no DOM lib, every declaration file checked. */
const tsconfig = {
  compilerOptions: {
    target: 'ES2022',
    lib: ['ES2022'],
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    // Packages reached through the links resolve their imports inside the consumer (as in a real
    // install), not in the repo's node_modules, where the devDependencies are.
    preserveSymlinks: true,
  },
};

/** Uses the main entry point's public types: the interpreter, the engine, the task context. */
const mainConsumer = `
import { Engine, Source, TaskFailure, Thread, evalExpr, execFile, toJSON } from 'larkflow';
import type { HistoryEvent, RunRecord, RunResult, RunState, StepState, TaskContext } from 'larkflow';

const printed: string[] = [];
const thread = new Thread({ print: (msg) => void printed.push(msg), maxSteps: 1e6 });
const globals = execFile(thread, new Source('a.star', 'x = [i * i for i in range(4)]\\n'));
const x: unknown = toJSON(globals.get('x')!);
const three = evalExpr(new Thread(), '1 + 2');

const engine = Engine.open({ db: ':memory:', concurrency: 2 });
engine.registerTask('add', (a: number, b: number) => a + b);
engine.functions.registerWithContext('fetch', async (ctx: TaskContext, url: string) => {
  ctx.log(\`attempt \${ctx.attempt} of \${ctx.task} (\${ctx.idempotencyKey})\`);
  if (ctx.signal.aborted) throw new TaskFailure('gone: ' + url, { kind: 'not_found', retryable: false });
  return { url, step: ctx.stepId };
});
const { runId, result } = engine.start({ source: { name: 'wf.star', text: '' }, kwargs: { n: 1 } });
const done: RunResult = await result;
const again: RunResult = await engine.result(runId);
const runs: RunRecord[] = engine.runs({ status: 'completed', limit: 10 });
const state: RunState = engine.state(runId);
const steps: StepState[] = state.order.map((id) => state.steps[id]!);
const history: HistoryEvent[] = engine.history(runId);
engine.subscribe('*', (event, id) => console.log(id, event.seq, event.kind));
engine.cancel(runId, 'not needed');
await engine.whenIdle();
await engine.close();
export { x, three, done, again, runs, steps, history };
`;

/** Uses `larkflow/testing` (with fast-check, its optional peer, installed as the README says). */
const testingConsumer = `
import { Engine } from 'larkflow';
import { createTestEngine, fakeTask, replayHistory, type TestEngine } from 'larkflow/testing';

const te: TestEngine = createTestEngine({ clock: 0 });
const train = fakeTask(te, 'train', [{ fail: 'flaky', retryable: true }, { return: { acc: 0.9 } }]);
const run = te.start({ source: { name: 'wf.star', text: '' } });
const outcome = await te.runToCompletion(run);
const report = await replayHistory({ name: 'wf.star', text: '' }, te.history(outcome.runId));
const engine: Engine = te.engine;
await te.dispose();
export { train, report, engine };
`;

/** The README's TypeScript examples, as consumer files named after their headings. */
const readmeExamples = codeBlocks(readFileSync(join(repoRoot, 'README.md'), 'utf8'))
  .filter((b) => b.lang === 'ts' || b.lang === 'typescript')
  .map((b, i) => ({
    file: `readme-${String(i + 1).padStart(2, '0')}-${b.heading.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}.ts`,
    line: b.line,
    // `export {}` makes each a module of its own (top-level await, no shared names).
    text: `${b.text}export {};\n`,
    // A run from `file: '...'` needs that workflow file on disk: compiled, not run.
    runs: !/\bfile:\s*['"]/.test(b.text),
  }));

let packDir: string;
/** A consumer with what npm installs with larkflow, and one that also installed fast-check. */
let plain: Consumer;
let withFastCheck: Consumer;
/** The two type checks, started together (each takes seconds: every declaration file is checked). */
let plainCheck: Promise<TscResult>;
let testingCheck: Promise<TscResult>;

beforeAll(() => {
  if (!existsSync(join(repoRoot, 'dist', 'index.d.ts'))) throw new Error('dist/ is not built: run `npm run build` first (npm test does)');
  packDir = mkdtempSync(join(tmpdir(), 'larkflow-pack-'));
  const tarball = packTarball(packDir);
  plain = makeConsumer(tarball);
  plain.link(installedWith(pkg));
  withFastCheck = makeConsumer(tarball);
  withFastCheck.link([...installedWith(pkg), 'fast-check']);
  plainCheck = typeCheck(plain, { 'main.ts': mainConsumer });
  // Emitted to out/, so that the README's examples can run.
  testingCheck = typeCheck(withFastCheck, { 'testing.ts': testingConsumer, ...Object.fromEntries(readmeExamples.map((e) => [e.file, e.text])) }, 'out');
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([plainCheck, testingCheck]);
  for (const d of [packDir, plain?.dir, withFastCheck?.dir]) if (d) rmSync(d, { recursive: true, force: true });
});

interface TscResult {
  readonly code: number;
  readonly out: string;
}

/** Writes `files` into the consumer and runs tsc on them with the strict options (emitting to `outDir`). */
function typeCheck(consumer: Consumer, files: Readonly<Record<string, string>>, outDir?: string): Promise<TscResult> {
  writeFileSync(join(consumer.dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const compilerOptions = outDir === undefined ? tsconfig.compilerOptions : { ...tsconfig.compilerOptions, noEmit: false, outDir };
  writeFileSync(join(consumer.dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: Object.keys(files) }, null, 2));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(consumer.dir, name), text);
  return new Promise((resolve) => {
    execFile(process.execPath, [tsc, '-p', consumer.dir, '--pretty', 'false'], { cwd: consumer.dir, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: stdout + stderr });
    });
  });
}

/** Every .d.ts file under `dir`, recursively. */
function declarationFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.d.ts'))
    .map((f) => join(dir, f));
}

/** The packages a declaration file imports (import/export ... from, import('...'), reference types). */
function importedPackages(text: string): string[] {
  const specifiers: string[] = [];
  for (const line of text.split('\n')) {
    if (/^\s*(\*|\/\/(?!\/))/.test(line)) continue; // doc comments mention `from 'larkflow'`
    for (const m of line.matchAll(/^\s*(?:import|export|\}).*?\bfrom\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|<reference\s+types=['"]([^'"]+)['"]/g)) {
      specifiers.push((m[1] ?? m[2] ?? m[3] ?? m[4])!);
    }
  }
  return specifiers
    .filter((s) => !s.startsWith('.') && !s.startsWith('/'))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!));
}

/** `@types/x` for `x`, `@types/scope__x` for `@scope/x` (DefinitelyTyped's naming). */
function typesPackageOf(name: string): string {
  return `@types/${name.startsWith('@') ? name.slice(1).replace('/', '__') : name}`;
}

/** True if the installed package carries its own declarations. */
function shipsTypes(name: string): boolean {
  const dir = join(repoRoot, 'node_modules', name);
  const text = readFileSync(join(dir, 'package.json'), 'utf8');
  const p = JSON.parse(text) as { types?: string; typings?: string };
  return p.types !== undefined || p.typings !== undefined || /"types"\s*:/.test(text) || existsSync(join(dir, 'index.d.ts'));
}

describe('the published package', () => {
  it('declares every package its declarations import, and its types, as a dependency', () => {
    const own = join(plain.dir, 'node_modules', 'larkflow');
    const installed = new Set(installedWith(pkg));
    const node = new Set(builtinModules);
    const undeclared: string[] = [];
    for (const file of declarationFiles(join(own, 'dist'))) {
      const rel = relative(own, file);
      for (const name of importedPackages(readFileSync(file, 'utf8'))) {
        if (name === pkg.name || name.startsWith('node:') || node.has(name)) continue;
        // fast-check is the optional peer of larkflow/testing (the README says to install it).
        const declared = installed.has(name) || (name === 'fast-check' && rel.startsWith(join('dist', 'testing')));
        if (!declared) undeclared.push(`${rel}: ${name} is not a dependency`);
        else if (!shipsTypes(name) && !installed.has(typesPackageOf(name))) undeclared.push(`${rel}: ${name} has no types and ${typesPackageOf(name)} is not a dependency`);
      }
    }
    expect(undeclared).toEqual([]);
  });

  it('type-checks a strict consumer of larkflow with only what npm installs with it', async () => {
    expect(plain.linked.has('fast-check')).toBe(false);
    expect(await plainCheck).toEqual({ code: 0, out: '' });
  }, 120_000);

  it('type-checks a strict consumer of larkflow/testing, and the README examples, once fast-check is installed', async () => {
    expect(readmeExamples.length).toBeGreaterThan(3);
    expect(await testingCheck).toEqual({ code: 0, out: '' });
  }, 120_000);

  it('runs the README examples that need no workflow file on disk', async () => {
    expect((await testingCheck).code).toBe(0);
    const failures: string[] = [];
    for (const e of readmeExamples.filter((x) => x.runs)) {
      try {
        execFileSync(process.execPath, ['--preserve-symlinks', join('out', e.file.replace(/\.ts$/, '.js'))], { cwd: withFastCheck.dir, encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        const { status, stderr } = err as { status: number; stderr: string };
        failures.push(`README.md:${e.line} (${e.file}) exited ${status}: ${stderr}`);
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('runs a Starlark expression through the installed package', () => {
    writeFileSync(
      join(plain.dir, 'run.mjs'),
      "import { Thread, evalExpr, toJSON } from 'larkflow';\n" +
        "const value = evalExpr(new Thread(), '[x * x for x in range(4)]');\n" +
        'console.log(JSON.stringify(toJSON(value)));\n',
    );
    // --preserve-symlinks: runtime imports, too, resolve inside the consumer's node_modules.
    const out = execFileSync(process.execPath, ['--preserve-symlinks', 'run.mjs'], { cwd: plain.dir, encoding: 'utf8' });
    expect(out).toBe('[0,1,4,9]\n');
  });

  it('loads larkflow/testing once fast-check is installed', () => {
    writeFileSync(join(withFastCheck.dir, 'run.mjs'), "import { createTestEngine } from 'larkflow/testing';\nconsole.log(typeof createTestEngine);\n");
    const out = execFileSync(process.execPath, ['--preserve-symlinks', 'run.mjs'], { cwd: withFastCheck.dir, encoding: 'utf8' });
    expect(out).toBe('function\n');
  });
});
