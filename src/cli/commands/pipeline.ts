/**
 * This file defines `larkflow pipeline ...` (Uniflow's `ma pipeline`): register a pipeline.yaml as an
 * immutable revision (`apply`), inspect the registry (`list`, `get`, `revisions`), retire a pipeline
 * (`delete`, soft), run a registered revision from its stored files (`run`, also resuming an
 * earlier run of the pipeline with `--resume-from RUN[:STEP]`), run the working tree's files without
 * registering (`dev-run`), and change the notifications without a new revision (`notifications`).
 *
 * A run of a pipeline records `LARKFLOW_PIPELINE=NAME` and `LARKFLOW_PIPELINE_REVISION=REV` in its
 * environment (and so in its history; a dev-run records `LARKFLOW_PIPELINE_REVISION=dev`).
 *
 * The tasks module (`manifest.tasks`) of a registered revision: its text is stored with the revision,
 * and the text that is loaded is the stored one. When the file at the recorded path still has the
 * stored content it is imported from there; otherwise the stored text is written to a hidden
 * sibling file (`.larkflow-tasks-<digest>.mjs`, so that its relative and package imports resolve as
 * they did), imported, and removed.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { CliError } from '../errors.js';
import { addCacheOptions, addEngineOptions, cacheModeOf, closeQuietly, dbPath, iso, loadTasks, openEngine, type CacheCliOptions, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { exactJson } from '../json-out.js';
import type { ProgressCliOptions } from './run.js';
import type { PipelineBuild, PipelineRegistry, PipelineRevision } from '../../pipelines/registry.js';
import type { Engine, RunHandle, RunStarted } from '../../engine/index.js';
import type { NotificationSpec } from '../../pipelines/spec.js';
import type { EffectiveNotifications } from '../../pipelines/registry.js';
import { notifyOf } from '../../pipelines/notify.js';

export { notifyOf };

/** Options of the pipeline commands (all of them take the engine options). */
export interface PipelineCliOptions extends EngineCliOptions, CacheCliOptions, ProgressCliOptions {
  readonly file?: string;
  readonly revision?: string;
  readonly json?: boolean;
  readonly all?: boolean;
  readonly input?: string;
  readonly env?: readonly string[];
  /** `pipeline run --resume-from RUN[:STEP]`. */
  readonly resumeFrom?: string;
  /** `pipeline notifications`: set them from `--file`, clear them (none), or go back to the spec's. */
  readonly set?: boolean;
  readonly clear?: boolean;
  readonly reset?: boolean;
}

/** The environment variables a pipeline run records its pipeline and revision in. */
export const PIPELINE_ENV = 'LARKFLOW_PIPELINE';
export const PIPELINE_REVISION_ENV = 'LARKFLOW_PIPELINE_REVISION';

/** A revision id for people: the first 12 hex digits. */
export function shortRevision(rev: string): string {
  return rev.slice(0, 12);
}

/**
 * Runs a command's body, printing a bad spec (rendered with positions) and unknown names (with what
 * exists) on stderr with exit status 2; other errors go to main's handler.
 */
async function handled(io: CliIo, setExit: (n: number) => void, body: () => Promise<number>): Promise<void> {
  try {
    setExit(await body());
  } catch (e) {
    const { PipelineSpecError } = await import('../../pipelines/spec.js');
    if (e instanceof PipelineSpecError) {
      io.err(e.render() + '\n');
      setExit(2);
      return;
    }
    if (e instanceof Error && e.name === 'UsageError' && (e as { code?: unknown }).code === 'usage') {
      io.err(`larkflow: ${e.message}\n`);
      setExit(2);
      return;
    }
    if (e instanceof Error && /^cannot read pipeline spec /.test(e.message)) throw new CliError(e.message);
    throw e;
  }
}

async function openRegistry(opts: EngineCliOptions): Promise<PipelineRegistry> {
  const { PipelineRegistry } = await import('../../pipelines/registry.js');
  return PipelineRegistry.open(dbPath(opts), opts.synchronous !== undefined ? { synchronous: opts.synchronous } : {});
}

async function withRegistry<T>(opts: EngineCliOptions, f: (r: PipelineRegistry) => Promise<T> | T): Promise<T> {
  const reg = await openRegistry(opts);
  try {
    return await f(reg);
  } finally {
    reg.close();
  }
}

/** `pipeline apply -f FILE`. */
export async function pipelineApplyCommand(opts: PipelineCliOptions, io: CliIo): Promise<number> {
  if (opts.file === undefined) throw new CliError('pipeline apply: give the pipeline spec with -f pipeline.yaml');
  const { buildPipeline } = await import('../../pipelines/registry.js');
  // Validate and build before the database is opened: a bad spec leaves nothing behind.
  const build = await buildPipeline(opts.file);
  const { r, notes } = await withRegistry(opts, (reg) => ({ r: reg.store(build), notes: reg.notifications(build.name) }));
  io.out(`pipeline ${r.name} revision ${shortRevision(r.revision)} (${r.created ? 'created' : 'unchanged'})\n`);
  if (notes.source === 'set') {
    io.err(`note: the notifications of pipeline ${r.name} were set with \`larkflow pipeline notifications\`${notes.updatedAt !== undefined ? ` at ${iso(notes.updatedAt)}` : ''}; they stay in effect over the spec's (\`larkflow pipeline notifications ${r.name} --reset\` goes back to the spec's)\n`);
  }
  return 0;
}

/** `pipeline list`. */
export async function pipelineListCommand(opts: PipelineCliOptions, io: CliIo): Promise<number> {
  if (!existsSync(dbPath(opts))) {
    if (opts.json) io.out('[]\n');
    else io.err(`no database at ${dbPath(opts)}: no pipelines yet (larkflow pipeline apply -f pipeline.yaml)\n`);
    return 0;
  }
  const list = await withRegistry(opts, (reg) => reg.list({ includeDeleted: opts.all === true }));
  if (opts.json) {
    io.out(JSON.stringify(list, null, 2) + '\n');
    return 0;
  }
  if (list.length === 0) {
    io.err('no pipelines (larkflow pipeline apply -f pipeline.yaml)\n');
    return 0;
  }
  const rows = [['NAME', 'NAMESPACE', 'REVISION', 'REVISIONS', 'UPDATED', ...(opts.all ? ['DELETED'] : [])]];
  for (const p of list) rows.push([p.name, p.namespace ?? '-', shortRevision(p.latest), String(p.revisions), iso(p.updatedAt), ...(opts.all ? [p.deletedAt !== undefined ? iso(p.deletedAt) : '-'] : [])]);
  io.out(table(rows));
  return 0;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** A revision as JSON for `get --json`. */
function revisionJson(r: PipelineRevision): Record<string, unknown> {
  return {
    name: r.name,
    revision: r.revision,
    seq: r.seq,
    createdAt: iso(r.createdAt),
    specFile: r.specFile,
    spec: r.spec,
    workflow: r.workflow ?? null,
    inputs: r.inputs,
    environ: r.environ,
    bundleDigest: r.bundleDigest,
    files: r.files.map((f) => f.path),
    tasks: r.tasks ? { path: r.tasks.path, digest: r.tasks.digest } : null,
    code: r.code,
  };
}

function requireDb(opts: EngineCliOptions): void {
  if (!existsSync(dbPath(opts))) throw new CliError(`no database at ${dbPath(opts)}: no pipelines yet (larkflow pipeline apply -f pipeline.yaml), or pass --db PATH`);
}

/** `pipeline get NAME [--revision R] [--json]`: the stored spec (YAML, as applied), or the revision as JSON. */
export async function pipelineGetCommand(name: string, opts: PipelineCliOptions, io: CliIo): Promise<number> {
  requireDb(opts);
  const { r, notes } = await withRegistry(opts, (reg) => ({ r: reg.get(name, opts.revision), notes: reg.notifications(name, opts.revision) }));
  if (opts.json) io.out(exactJson({ ...revisionJson(r), notifications: notificationsJson(notes) }, 2) + '\n');
  else {
    io.out(`# pipeline ${r.name} revision ${r.revision} (#${r.seq}), applied ${iso(r.createdAt)} from ${r.specFile}\n`);
    io.out(r.specText.endsWith('\n') ? r.specText : r.specText + '\n');
    if (notes.source === 'set') io.out(await notificationsYaml(notes));
  }
  return 0;
}

/** The notifications of a pipeline for `get --json` and `notifications --json`. */
function notificationsJson(n: EffectiveNotifications): Record<string, unknown> {
  return { source: n.source, ...(n.updatedAt !== undefined ? { updatedAt: iso(n.updatedAt) } : {}), ...(n.file !== undefined ? { file: n.file } : {}), list: n.notifications };
}

/** Notifications set after apply, as a YAML block (commented header, then `notifications:`). */
async function notificationsYaml(n: EffectiveNotifications): Promise<string> {
  const { stringify } = await import('yaml');
  const head = `# notifications in effect, set after apply${n.updatedAt !== undefined ? ` at ${iso(n.updatedAt)}` : ''}${n.file !== undefined ? ` from ${n.file}` : ''} (they replace spec.notifications above)\n`;
  return head + stringify({ notifications: n.notifications });
}

/**
 * `pipeline notifications NAME [--set -f FILE | --clear | --reset] [--json]`: prints the
 * notifications in effect (the spec's, or those set after apply), or changes them without a new
 * revision: runs started afterwards (`pipeline run`, triggers, backfills) use the new ones.
 */
export async function pipelineNotificationsCommand(name: string, opts: PipelineCliOptions, io: CliIo): Promise<number> {
  const modes = [opts.set, opts.clear, opts.reset].filter((x) => x === true).length;
  if (modes > 1) throw new CliError('pipeline notifications: give one of --set -f FILE, --clear and --reset');
  if (opts.file !== undefined && !opts.set) throw new CliError('pipeline notifications: -f FILE goes with --set (larkflow pipeline notifications NAME --set -f notifications.yaml)');
  if (opts.set && opts.file === undefined) throw new CliError('pipeline notifications --set: give the notifications with -f notifications.yaml (a list as spec.notifications of a pipeline.yaml)');
  requireDb(opts);
  // Validate before the database is opened: a bad file changes nothing.
  let list: NotificationSpec[] | undefined;
  if (opts.set) {
    const { loadNotifications } = await import('../../pipelines/spec.js');
    try {
      list = loadNotifications(opts.file!);
    } catch (e) {
      if (e instanceof Error && /^cannot read notifications file /.test(e.message)) throw new CliError(e.message);
      throw e;
    }
  }
  const notes = await withRegistry(opts, (reg) => {
    if (list !== undefined) reg.setNotifications(name, list, resolve(opts.file!));
    else if (opts.clear) reg.setNotifications(name, []);
    else if (opts.reset) reg.resetNotifications(name);
    return reg.notifications(name);
  });
  if (opts.json) {
    io.out(JSON.stringify(notificationsJson(notes), null, 2) + '\n');
    return 0;
  }
  if (opts.set || opts.clear || opts.reset) {
    const what = opts.set ? `set from ${opts.file} (${notes.notifications.length} entr${notes.notifications.length === 1 ? 'y' : 'ies'})` : opts.clear ? 'cleared (runs notify no one)' : "reset to the latest revision's spec.notifications";
    io.out(`pipeline ${name}: notifications ${what}; runs started from now on use them\n`);
    return 0;
  }
  const { stringify } = await import('yaml');
  io.out(`# notifications of pipeline ${name}: ${notes.source === 'set' ? `set after apply${notes.updatedAt !== undefined ? ` at ${iso(notes.updatedAt)}` : ''}` : "the latest revision's spec.notifications"}\n`);
  io.out(stringify({ notifications: notes.notifications }));
  return 0;
}

/** `pipeline revisions NAME`: oldest first, the latest marked. */
export async function pipelineRevisionsCommand(name: string, opts: PipelineCliOptions, io: CliIo): Promise<number> {
  requireDb(opts);
  const { revs, latest, deleted } = await withRegistry(opts, (reg) => ({ revs: reg.revisions(name), latest: reg.pipeline(name)!.latest, deleted: reg.pipeline(name)!.deletedAt }));
  if (opts.json) {
    io.out(JSON.stringify(revs.map((r) => ({ seq: r.seq, revision: r.revision, createdAt: iso(r.createdAt), latest: r.revision === latest, files: r.files.map((f) => f.path) })), null, 2) + '\n');
    return 0;
  }
  const rows = [['#', 'REVISION', 'CREATED', 'FILES', '']];
  for (const r of revs) rows.push([String(r.seq), shortRevision(r.revision), iso(r.createdAt), String(r.files.length), r.revision === latest ? 'latest' : '']);
  io.out(table(rows));
  if (deleted !== undefined) io.err(`pipeline ${name} was deleted at ${iso(deleted)} (apply it again to restore it)\n`);
  return 0;
}

/** `pipeline delete NAME`: soft (no new runs; revisions kept). */
export async function pipelineDeleteCommand(name: string, opts: PipelineCliOptions, io: CliIo): Promise<number> {
  requireDb(opts);
  const changed = await withRegistry(opts, (reg) => reg.delete(name));
  io.out(changed ? `pipeline ${name} deleted (its revisions are kept; \`pipeline apply\` restores it)\n` : `pipeline ${name} was already deleted\n`);
  return 0;
}

/** `NAME=VALUE` pairs of `--env`. */
function parseEnvPairs(pairs: readonly string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new CliError(`bad --env ${JSON.stringify(p)}: give NAME=VALUE`);
    env[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return env;
}

/**
 * Imports the tasks module of a build: the file itself when its content is the stored one, else the
 * stored text from a temporary sibling file (removed after the import).
 */
async function loadStoredTasks(b: PipelineBuild): Promise<Record<string, unknown> | undefined> {
  const t = b.tasks;
  if (!t) return undefined;
  let current: string | undefined;
  try {
    current = readFileSync(t.path, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === t.text) return loadTasks(t.path);
  const ext = t.path.endsWith('.cjs') ? '.cjs' : '.mjs';
  const dir = existsSync(dirname(t.path)) ? dirname(t.path) : dirname(b.specFile);
  const tmp = join(existsSync(dir) ? dir : process.cwd(), `.larkflow-tasks-${t.digest.slice(0, 16)}-${process.pid}${ext}`);
  writeFileSync(tmp, t.text);
  try {
    return await loadTasks(tmp).catch((e: unknown) => {
      throw new CliError(`${e instanceof Error ? e.message.replace(tmp, `${basename(t.path)} (stored text)`) : String(e)}`);
    });
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Runs a build (a registered revision, or the working tree's for dev-run): inputs are the manifest's
 * overridden by `key=value` pairs (and `--input JSON`), the environment the manifest's `environ`
 * with `--env` over it and the pipeline's name and revision.
 */
/** What one run of a pipeline build takes beyond the build's defaults. */
export interface BuildRunInputs {
  readonly args?: readonly unknown[];
  readonly kwargs?: Readonly<Record<string, unknown>>;
  readonly env?: Readonly<Record<string, string>>;
  readonly idempotencyKey?: string;
}

/**
 * Readies `engine` to run a pipeline build (its stored tasks module, the executors it needs) and
 * returns the function that starts one run of it: the build's inputs and environment, overridden by
 * `over`, with the pipeline and revision recorded in the run's environment.
 */
export async function prepareBuildRun(
  engine: Engine,
  b: PipelineBuild,
  revisionLabel: string,
  opts: PipelineCliOptions,
  /** The notifications in effect (set after apply); default: the build's spec.notifications. */
  notifications?: readonly NotificationSpec[],
): Promise<(over: BuildRunInputs) => RunHandle> {
  const cache = cacheModeOf(opts) ?? b.spec.spec.manifest.cache;
  const tasks = await loadStoredTasks(b);
  if (tasks) engine.registerTasks(tasks, { version: b.tasks!.digest.slice(0, 16) });
  const specStorage = b.spec.spec.manifest.storage;
  const storage = opts.storage ?? (specStorage === undefined ? undefined : /^s3:/i.test(specStorage) ? specStorage : resolve(dirname(b.specFile), specStorage));
  const { fromStored } = await import('../../engine/script.js');
  const main = b.files[0]!;
  // manifest.executor/image/namespace are `larkflow run --executor/--image/--namespace`.
  const m = b.spec.spec.manifest;
  const { ensureExecutors, remoteDefaultsOf } = await import('../remote.js');
  const { storageOf } = await import('../engine-options.js');
  const resolvedStorage = await storageOf(storage);
  const places = { dbDir: dirname(dbPath(opts)), ...(resolvedStorage !== undefined ? { storage: resolvedStorage } : {}) };
  const workflowFile = join(b.codeDir, main.path);
  const image = m.image ?? b.spec.metadata.annotations['michelangelo/uniflow-image'];
  const remoteOpts =
    m.executor === 'local'
      ? { local: true }
      : m.executor !== undefined
        ? { executor: m.executor, ...(image !== undefined ? { image } : {}), ...(m.namespace !== undefined ? { namespace: m.namespace } : {}) }
        : {};
  const remote = await remoteDefaultsOf(remoteOpts, workflowFile, places);
  const baseEnv = { ...b.environ, [PIPELINE_ENV]: b.name, [PIPELINE_REVISION_ENV]: revisionLabel };
  const needed = engine.declaredExecutors(fromStored(b.files), baseEnv, remote);
  if (needed.some((n) => n !== 'local' && n !== 'process' && n !== 'starlark')) {
    await ensureExecutors(engine, needed, remote, places, { ...(b.tasks ? { tasksFile: b.tasks.path } : {}), taskNames: Object.keys(tasks ?? {}), workflowFile }, {}, true);
  }
  const names = engine.workflowNames(fromStored(b.files), b.workflow, baseEnv);
  if (b.workflow !== undefined && !names.includes(b.workflow)) {
    throw new CliError(`pipeline ${b.name}: ${main.path} has no workflow named ${b.workflow} (${names.length > 0 ? `workflows: ${names.join(', ')}` : 'it defines no @workflow() function'})`);
  }
  const files: Record<string, string> = {};
  for (const f of b.files.slice(1)) files[f.path] = f.text;
  const notify = notifyOf(notifications ?? b.spec.spec.notifications ?? []);
  return (over) => {
    const args = [...(over.args ?? [])];
    const inputs: Record<string, unknown> = args.length > 0 ? {} : { ...b.inputs };
    for (const [k, v] of Object.entries(over.kwargs ?? {})) inputs[k] = v;
    return engine.start({
      source: { name: main.path, text: main.text, files },
      ...(b.workflow !== undefined ? { workflow: b.workflow } : {}),
      args,
      kwargs: inputs,
      env: { ...baseEnv, ...(over.env ?? {}) },
      codeDir: b.codeDir,
      ...(cache !== undefined ? { cache } : {}),
      ...(remote ? { remote } : {}),
      ...(notify.length > 0 ? { notify } : {}),
      ...(over.idempotencyKey !== undefined ? { idempotencyKey: over.idempotencyKey } : {}),
    });
  };
}

/** The engine a build runs on (its storage: `--storage`, else the manifest's). */
async function engineFor(b: PipelineBuild, opts: PipelineCliOptions): Promise<Engine> {
  const specStorage = b.spec.spec.manifest.storage;
  const storage = opts.storage ?? (specStorage === undefined ? undefined : /^s3:/i.test(specStorage) ? specStorage : resolve(dirname(b.specFile), specStorage));
  return openEngine({ ...opts, tasks: undefined, ...(storage !== undefined ? { storage } : {}) } as EngineCliOptions);
}

async function runBuild(b: PipelineBuild, revisionLabel: string, pairs: readonly string[], opts: PipelineCliOptions, io: CliIo, notifications?: readonly NotificationSpec[]): Promise<number> {
  const { parseInputs, driveRun } = await import('./run.js');
  const { args, kwargs } = parseInputs(opts.input, pairs);
  const engine = await engineFor(b, opts);
  try {
    const start = await prepareBuildRun(engine, b, revisionLabel, opts, notifications);
    return await driveRun(engine, io, () => start({ args, kwargs, env: parseEnvPairs(opts.env) }), opts);
  } finally {
    await closeQuietly(engine);
  }
}

/** `pipeline run NAME [--revision R] [k=v ...] [--resume-from RUN[:STEP]]`: runs the registered revision's stored files. */
export async function pipelineRunCommand(name: string, pairs: readonly string[], opts: PipelineCliOptions, io: CliIo): Promise<number> {
  requireDb(opts);
  if (opts.resumeFrom !== undefined && (pairs.length > 0 || opts.input !== undefined)) {
    throw new CliError(`pipeline run --resume-from: the resumed run reuses the inputs of run ${opts.resumeFrom.split(':')[0]}; give no key=value inputs or --input (start a new run to change them)`);
  }
  const { rev, notes } = await withRegistry(opts, (reg) => {
    const r = reg.get(name, opts.revision);
    const p = reg.pipeline(name)!;
    if (p.deletedAt !== undefined) throw new CliError(`pipeline ${name} was deleted at ${iso(p.deletedAt)}: it takes no new runs (\`larkflow pipeline apply -f FILE\` restores it)`);
    return { rev: r, notes: reg.notifications(name, opts.revision) };
  });
  if (opts.resumeFrom !== undefined) return resumeBuild(rev, opts.resumeFrom, opts, io, notes.notifications);
  return runBuild(rev, rev.revision, pairs, opts, io, notes.notifications);
}

/**
 * `pipeline run NAME --resume-from RUN[:STEP]`: a new run of the revision that reuses the results of
 * RUN's steps before STEP (default: its first failed step) and runs the rest with the revision's
 * committed code (RUN's stored script when it is the same; otherwise the revision's files, which
 * must reach the reused steps with the same calls). RUN must be a run of the pipeline.
 */
async function resumeBuild(b: PipelineBuild & { readonly revision: string }, ref: string, opts: PipelineCliOptions, io: CliIo, notifications: readonly NotificationSpec[]): Promise<number> {
  const colon = ref.indexOf(':');
  const runRef = colon < 0 ? ref : ref.slice(0, colon);
  let step = colon < 0 ? undefined : ref.slice(colon + 1);
  if (step === '') throw new CliError(`--resume-from ${ref}: give a step after the colon (RUN:STEP), or only the run to rerun what failed`);
  const { driveRun, logFormatOf } = await import('./run.js');
  const { resolveRunId } = await import('../engine-options.js');
  logFormatOf(opts);
  const engine = await engineFor(b, opts);
  let tmp: string | undefined;
  try {
    const runId = resolveRunId(engine, runRef);
    const started = engine.history(runId)[0] as RunStarted | undefined;
    if (!started || started.kind !== 'RunStarted') throw new CliError(`no run ${runRef} (see \`larkflow runs --pipeline ${b.name}\`)`, 2);
    const of = started.env[PIPELINE_ENV];
    if (of !== b.name) {
      throw new CliError(
        of === undefined
          ? `run ${runId} is not a run of a pipeline (it ran ${started.file}); resume it with \`larkflow resume ${runId}\``
          : `run ${runId} is a run of pipeline ${of}, not ${b.name} (larkflow pipeline run ${of} --resume-from ${ref})`,
        2,
      );
    }
    const state = engine.state(runId);
    if (step !== undefined && !state.order.includes(step)) {
      // `:train` names the first call of the task train.
      if (!step.includes('#') && state.order.includes(`${step}#1`)) step = `${step}#1`;
      else throw new CliError(`run ${runId} has no step ${step} (steps: ${state.order.join(', ') || 'none'})`, 2);
    }
    if (step === undefined && !state.order.some((id) => state.steps[id]!.status === 'failed') && state.status === 'completed') {
      io.err(`note: run ${runId} completed and no step of it failed: every step is reused (give RUN:STEP to run a step again)\n`);
    }
    const start = await prepareBuildRun(engine, b, b.revision, opts, notifications);
    void start; // readies the engine (tasks module, executors); the run itself is a resume
    // The revision's committed code: the run's stored script when it is the same bundle, else the
    // revision's files, written to a temporary directory for the engine to read.
    let file: string | undefined;
    if (started.scriptDigest !== b.bundleDigest) {
      tmp = mkdtempSync(join(tmpdir(), 'larkflow-resume-'));
      for (const f of b.files) {
        mkdirSync(dirname(join(tmp, f.path)), { recursive: true });
        writeFileSync(join(tmp, f.path), f.text);
      }
      file = join(tmp, b.files[0]!.path);
    }
    const cache = cacheModeOf(opts);
    const notify = notifyOf(notifications);
    const options = {
      ...(step !== undefined ? { fromStep: step } : {}),
      ...(cache !== undefined ? { cache } : {}),
      ...(file !== undefined ? { file } : {}),
      env: { ...parseEnvPairs(opts.env), [PIPELINE_REVISION_ENV]: b.revision },
      ...(notify.length > 0 ? { notify } : {}),
    };
    try {
      return await driveRun(engine, io, () => engine.resume(runId, options), opts);
    } catch (e) {
      if (!(e instanceof Error && e.name === 'NondeterminismError')) throw e;
      io.err(`larkflow: revision ${shortRevision(b.revision)} of pipeline ${b.name} does not reach the steps of run ${runId} to reuse with the same calls: ${e.message.replace(/^cannot resume run \S+ with \S+: /, '')}\n`);
      const { REPLAY_MISMATCH } = await import('./replay.js');
      return REPLAY_MISMATCH;
    }
  } finally {
    await closeQuietly(engine);
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  }
}

/** `pipeline dev-run -f FILE [k=v ...]`: runs the working tree's files without registering them. */
export async function pipelineDevRunCommand(pairs: readonly string[], opts: PipelineCliOptions, io: CliIo): Promise<number> {
  if (opts.file === undefined) throw new CliError('pipeline dev-run: give the pipeline spec with -f pipeline.yaml');
  const { buildPipeline } = await import('../../pipelines/registry.js');
  const build = await buildPipeline(opts.file);
  return runBuild(build, 'dev', pairs, opts, io);
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function addRunOptions(cmd: Command): Command {
  cmd.argument('[inputs...]', 'key=value inputs over the manifest\'s inputs (values parsed as JSON when they parse)');
  cmd.option('--input <json>', 'inputs as JSON: an object of keyword arguments or an array of positional ones');
  cmd.option('--env <name=value>', 'a variable of the run\'s os.environ over the manifest\'s environ (repeatable)', collect);
  cmd.option('-q, --quiet', 'no progress lines on stderr (a run that does not complete is still reported)');
  cmd.addOption(new Option('--log-format <format>', 'progress on stderr as text lines, or as JSON objects').choices(['text', 'json']).default('text'));
  return addCacheOptions(addEngineOptions(cmd, { storage: true }));
}

/** Adds `larkflow pipeline apply|list|get|revisions|delete|run|dev-run`. */
export function registerPipelineCommands(program: Command, io: CliIo, setExit: (n: number) => void): void {
  const pipeline = program
    .command('pipeline')
    .description('register pipeline.yaml specs as immutable revisions and run them (Uniflow\'s `ma pipeline`)');

  addEngineOptions(
    pipeline
      .command('apply')
      .description('validate a pipeline.yaml and register its workflow files, tasks module and configuration as a revision')
      .option('-f, --file <yaml>', 'the pipeline spec'),
  ).action((opts: PipelineCliOptions) => handled(io, setExit, () => pipelineApplyCommand(opts, io)));

  addEngineOptions(
    pipeline
      .command('list')
      .description('list the registered pipelines (name, namespace, latest revision, number of revisions, last update)')
      .option('--all', 'also the deleted ones')
      .option('--json', 'print JSON'),
  ).action((opts: PipelineCliOptions) => handled(io, setExit, () => pipelineListCommand(opts, io)));

  addEngineOptions(
    pipeline
      .command('get')
      .description('print a revision\'s spec as applied (YAML), or the revision with --json')
      .argument('<name>', 'the pipeline')
      .option('--revision <rev>', 'a revision id (or a unique prefix, or #N); default: the latest')
      .option('--json', 'print the revision as JSON (spec, workflow, inputs, environ, files, digests)'),
  ).action((name: string, opts: PipelineCliOptions) => handled(io, setExit, () => pipelineGetCommand(name, opts, io)));

  addEngineOptions(
    pipeline
      .command('revisions')
      .description('list a pipeline\'s revisions, oldest first')
      .argument('<name>', 'the pipeline')
      .option('--json', 'print JSON'),
  ).action((name: string, opts: PipelineCliOptions) => handled(io, setExit, () => pipelineRevisionsCommand(name, opts, io)));

  addEngineOptions(
    pipeline
      .command('delete')
      .description('delete a pipeline: it takes no new runs; its revisions are kept for history (apply restores it)')
      .argument('<name>', 'the pipeline'),
  ).action((name: string, opts: PipelineCliOptions) => handled(io, setExit, () => pipelineDeleteCommand(name, opts, io)));

  addRunOptions(
    pipeline
      .command('run')
      .description('run a registered revision (its stored files, not the working tree): progress on stderr, the result as JSON on stdout')
      .argument('<name>', 'the pipeline')
      .option('--revision <rev>', 'a revision id (or a unique prefix, or #N); default: the latest')
      .option('--resume-from <run[:step]>', 'resume an earlier run of this pipeline: reuse its steps before STEP (default: its first failed step) and run the rest with the revision\'s code'),
  ).action((name: string, inputs: string[], opts: PipelineCliOptions) => handled(io, setExit, () => pipelineRunCommand(name, inputs, opts, io)));

  addEngineOptions(
    pipeline
      .command('notifications')
      .description('print or change a pipeline\'s notifications without a new revision (runs started afterwards use them)')
      .argument('<name>', 'the pipeline')
      .option('--set', 'set them from -f FILE (a list as spec.notifications of a pipeline.yaml, or a mapping with notifications:)')
      .option('-f, --file <yaml>', 'the notifications file (with --set)')
      .option('--clear', 'no notifications')
      .option('--reset', 'go back to the latest revision\'s spec.notifications')
      .option('--json', 'print JSON'),
  ).action((name: string, opts: PipelineCliOptions) => handled(io, setExit, () => pipelineNotificationsCommand(name, opts, io)));

  addRunOptions(
    pipeline
      .command('dev-run')
      .description('run a pipeline.yaml\'s working-tree files without registering them')
      .option('-f, --file <yaml>', 'the pipeline spec'),
  ).action((inputs: string[], opts: PipelineCliOptions) => handled(io, setExit, () => pipelineDevRunCommand(inputs, opts, io)));
}
