/**
 * This file defines the workflow test runner behind `larkflow test --workflows FILE...`: every
 * top-level function of a file whose name starts with `test_` runs as its own workflow run, on an
 * in-memory engine with a virtual clock (sleeps take no wall time and run time advances exactly),
 * with the given environment. A test passes when its run completes; a failing test is printed with
 * its error and Starlark traceback. The report ends with `N passed, M failed`.
 *
 * A plain `def test_x()` is not a `@workflow()`, and the machine runs only those: the runner starts
 * the run from the test file plus two appended lines that wrap the function
 * (`__larkflow_test__ = as_workflow(test_x)`, loaded from a private library module). The appended
 * lines come after the file's own, so positions in tracebacks are those of the file.
 */
import { setImmediate as tick } from 'node:timers/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import '../stdlib/index.js';
import { EvalError, ParseError, ResolveError, Source, StarlarkError, parseFile } from '../interpreter/index.js';
import { VirtualClock } from '../engine/clock.js';
import { Engine, type RunResult } from '../engine/engine.js';
import type { HistoryEvent } from '../engine/core/events.js';
import { collectScript } from '../engine/script.js';
import { registerPluginTasks, TEST_HARNESS_MODULE } from '../engine/workflow/plugins.js';
import { compilePythonWithTests } from '../engine/workflow/python-files.js';
import { dirname, resolve } from 'node:path';

/** Options of `runWorkflowTests`. */
export interface WorkflowTestOptions {
  /** The environment of every test run (`os.environ`, STARLARK_TIME...). @default {} */
  readonly env?: Readonly<Record<string, string>>;
  /** Receives the report as it is produced, one line per call (without newline). */
  readonly out: (s: string) => void;
  /** Only tests whose name contains this text. @default every test */
  readonly filter?: string;
  /** Wall-clock limit of one test, for work outside the virtual clock (HTTP calls). @default 60 s */
  readonly timeoutMs?: number;
  /** Virtual timers one test may fire before it is considered stuck in a loop. @default 100000 */
  readonly maxTimers?: number;
  /** Prints a line for each passing test too. @default true */
  readonly verbose?: boolean;
  /** Task implementations (name → function) registered on every test's engine. @default none */
  readonly tasks?: Readonly<Record<string, unknown>>;
}

/** The outcome of one test. */
export interface WorkflowTestResult {
  readonly file: string;
  readonly test: string;
  readonly ok: boolean;
  /** Run time on the virtual clock, in ms. */
  readonly runTimeMs: number;
  /** The error and traceback of a failing test. */
  readonly error?: string;
  /** The workflow's return value (completed tests). */
  readonly result?: unknown;
}

/** The outcome of a test session. */
export interface WorkflowTestReport {
  readonly passed: number;
  readonly failed: number;
  /** The whole report, as printed. */
  readonly report: string;
  readonly results: readonly WorkflowTestResult[];
}

const WRAPPED = '__larkflow_test__';
const WRAP_FN = '__larkflow_as_workflow';

/** The names of a file's top-level `test_*` functions, in source order, and which are @workflow(). */
export function findTests(name: string, text: string): { name: string; isWorkflow: boolean }[] {
  const file = parseFile(new Source(name, text));
  const out: { name: string; isWorkflow: boolean }[] = [];
  for (const s of file.stmts) {
    if (s.kind === 'DefStmt' && s.name.name.startsWith('test_')) out.push({ name: s.name.name, isWorkflow: s.decorators.length > 0 });
  }
  return out;
}

function renderError(e: unknown): string {
  if (e instanceof ParseError || e instanceof ResolveError) return e.render();
  if (e instanceof EvalError) return e.backtrace();
  if (e instanceof StarlarkError) return `Error: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

function indent(text: string, by = '    '): string {
  return text
    .split('\n')
    .map((l) => (l ? by + l : l))
    .join('\n');
}

function seconds(ms: number): string {
  return `${+(ms / 1000).toFixed(3)}s`;
}

/** Counts task attempts in flight in every run of an engine (children too). Call before starting runs. */
export function trackAttempts(engine: Engine): { readonly inflight: number } {
  const t = { inflight: 0 };
  engine.subscribe('*', (e) => {
    if (e.kind === 'AttemptStarted') t.inflight++;
    else if (e.kind === 'AttemptFailed' || (e.kind === 'TaskCompleted' && e.attempt >= 1)) t.inflight = Math.max(0, t.inflight - 1);
  });
  return t;
}

/**
 * Drives an engine on a virtual clock until `result` settles: lets promises run, waits in real time
 * while task attempts are in flight (work outside the virtual clock, such as HTTP calls), and
 * otherwise jumps the clock to its next timer. Returns why it gave up, or undefined once settled.
 */
export async function driveVirtual(
  clock: VirtualClock,
  result: Promise<unknown>,
  tracker: { readonly inflight: number },
  options: { readonly timeoutMs?: number; readonly maxTimers?: number } = {},
): Promise<string | undefined> {
  let done = false;
  void result.then(
    () => (done = true),
    () => (done = true),
  );
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const maxTimers = options.maxTimers ?? 100_000;
  const start = clock.now();
  let timers = 0;
  while (!done) {
    for (let k = 0; k < 5 && !done; k++) await tick();
    if (done) break;
    if (Date.now() > deadline) return `the test did not finish within ${seconds(timeoutMs)} of wall time`;
    if (tracker.inflight > 0) {
      await Promise.race([result, sleep(2)]);
      continue;
    }
    if (clock.fireNext()) {
      if (++timers > maxTimers) return `the test was still running after ${maxTimers} timers (${seconds(clock.now() - start)} of run time): an endless loop?`;
      continue;
    }
    for (let k = 0; k < 20 && !done; k++) await tick();
    if (!done && tracker.inflight === 0 && clock.pending === 0) return 'the run waits for something that never happens (no timer, no task in flight)';
  }
  return undefined;
}

/**
 * Runs one test function as a workflow run; resolves when the run ends (or is given up on). The
 * caller closes the returned engine.
 * @internal exported for tests
 */
export async function runOneTest(
  file: { main: string; text: string; files: Record<string, string>; codeDir?: string },
  test: { name: string; isWorkflow: boolean },
  options: Pick<WorkflowTestOptions, 'env' | 'timeoutMs' | 'maxTimers' | 'tasks'> = {},
): Promise<{ result: RunResult; runTimeMs: number; engine: Engine; history: HistoryEvent[] }> {
  const clock = new VirtualClock();
  const engine = Engine.open({ db: ':memory:', clock });
  registerPluginTasks(engine);
  if (options.tasks) engine.registerTasks(options.tasks);
  const tracker = trackAttempts(engine);
  const text = test.isWorkflow ? file.text : `${file.text}\n\nload("${TEST_HARNESS_MODULE}", ${WRAP_FN} = "as_workflow")\n${WRAPPED} = ${WRAP_FN}(${test.name})\n`;
  const start = clock.now();
  const handle = engine.start({
    source: { name: file.main, text, files: file.files },
    ...(file.codeDir !== undefined ? { codeDir: file.codeDir } : {}),
    workflow: test.isWorkflow ? test.name : WRAPPED,
    env: { ...(options.env ?? {}) },
    runId: `test-${test.name}`,
    seed: test.name,
  });
  let result: RunResult | undefined;
  void handle.result.then((r) => (result = r));
  const giveUp = await driveVirtual(clock, handle.result, tracker, options);
  if (giveUp !== undefined) {
    // Stop the run (its cleanups still run, on the virtual clock) and report why.
    engine.cancel(handle.runId, giveUp);
    await driveVirtual(clock, handle.result, tracker, { timeoutMs: 2000, maxTimers: 1000 });
    result = { runId: handle.runId, status: 'failed', error: { kind: 'timeout', message: giveUp, retryable: false } };
  }
  const history = engine.history(handle.runId);
  const end = history[history.length - 1]?.at ?? clock.now();
  return { result: result!, runTimeMs: end - start, engine, history };
}

/** The text of a failure: the traceback when there is one (it ends with the message). */
function failureText(r: RunResult): string {
  const e = r.error;
  if (!e) return `run ${r.status}`;
  const details = e.details?.trim();
  if (details && details.includes(e.message.split('\n')[0]!)) return details;
  return details ? `${e.message}\n${details}` : e.message;
}

/** Runs the `test_*` functions of the files; see the file comment. */
export async function runWorkflowTests(files: readonly string[], opts: WorkflowTestOptions): Promise<WorkflowTestReport> {
  const lines: string[] = [];
  const emit = (s: string): void => {
    lines.push(s);
    opts.out(s);
  };
  const results: WorkflowTestResult[] = [];
  const fail = (file: string, test: string, error: string, runTimeMs = 0): void => {
    results.push({ file, test, ok: false, runTimeMs, error });
    emit(`FAIL ${file}::${test}`);
    emit(indent(error));
  };
  for (const path of files) {
    let script;
    let tests: { name: string; isWorkflow: boolean }[];
    try {
      script = collectScript(path);
      if (script.bundle.main.endsWith('.py')) {
        // A Uniflow file: compiled with its test_* functions, then tested as Starlark (same lines).
        const files = new Map(script.bundle.files);
        files.set(script.bundle.main, compilePythonWithTests(files.get(script.bundle.main)!, script.bundle.main));
        script = { ...script, bundle: { main: script.bundle.main, files } };
      }
      tests = findTests(script.bundle.main, script.bundle.files.get(script.bundle.main)!);
    } catch (e) {
      fail(path, '<file>', renderError(e));
      continue;
    }
    if (opts.filter !== undefined) tests = tests.filter((t) => t.name.includes(opts.filter!));
    const main = script.bundle.main;
    const others: Record<string, string> = {};
    for (const [p, t] of script.bundle.files) if (p !== main) others[p] = t;
    for (const t of tests) {
      let outcome;
      try {
        outcome = await runOneTest({ main, text: script.bundle.files.get(main)!, files: others, codeDir: dirname(resolve(path)) }, t, opts);
      } catch (e) {
        fail(path, t.name, renderError(e));
        continue;
      }
      const { result, runTimeMs, engine } = outcome;
      await engine.close();
      if (result.status === 'completed') {
        results.push({ file: path, test: t.name, ok: true, runTimeMs, result: result.result });
        if (opts.verbose !== false) emit(`ok   ${path}::${t.name} (${seconds(runTimeMs)} run time)`);
      } else {
        fail(path, t.name, failureText(result), runTimeMs);
      }
    }
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  emit(`${passed} passed, ${failed} failed`);
  return { passed, failed, report: lines.join('\n'), results };
}
