/**
 * This file defines `larkflow pipeline ...` (Uniflow's `ma pipeline`): register a pipeline.yaml as an
 * immutable revision (`apply`), inspect the registry (`list`, `get`, `revisions`), retire a pipeline
 * (`delete`, soft), run a registered revision from its stored files (`run`), and run the working
 * tree's files without registering (`dev-run`).
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
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { CliError } from '../errors.js';
import { addCacheOptions, addEngineOptions, cacheModeOf, closeQuietly, dbPath, iso, loadTasks, openEngine, type CacheCliOptions, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { exactJson } from '../json-out.js';
import type { ProgressCliOptions } from './run.js';
import type { PipelineBuild, PipelineRegistry, PipelineRevision } from '../../pipelines/registry.js';
import type { Engine, RunHandle } from '../../engine/index.js';
import type { NotificationSpec } from '../../pipelines/spec.js';
import type { NotifyEvent, NotifySpec } from '../../engine/core/events.js';

/** Options of the pipeline commands (all of them take the engine options). */
export interface PipelineCliOptions extends EngineCliOptions, CacheCliOptions, ProgressCliOptions {
  readonly file?: string;
  readonly revision?: string;
  readonly json?: boolean;
  readonly all?: boolean;
  readonly input?: string;
  readonly env?: readonly string[];
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
  const r = await withRegistry(opts, (reg) => reg.store(build));
  io.out(`pipeline ${r.name} revision ${shortRevision(r.revision)} (${r.created ? 'created' : 'unchanged'})\n`);
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
  const r = await withRegistry(opts, (reg) => reg.get(name, opts.revision));
  if (opts.json) io.out(exactJson(revisionJson(r), 2) + '\n');
  else {
    io.out(`# pipeline ${r.name} revision ${r.revision} (#${r.seq}), applied ${iso(r.createdAt)} from ${r.specFile}\n`);
    io.out(r.specText.endsWith('\n') ? r.specText : r.specText + '\n');
  }
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
export async function prepareBuildRun(engine: Engine, b: PipelineBuild, revisionLabel: string, opts: PipelineCliOptions): Promise<(over: BuildRunInputs) => RunHandle> {
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
  const notify = notifyOf(b.spec.spec.notifications ?? []);
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

async function runBuild(b: PipelineBuild, revisionLabel: string, pairs: readonly string[], opts: PipelineCliOptions, io: CliIo): Promise<number> {
  const { parseInputs, driveRun } = await import('./run.js');
  const { args, kwargs } = parseInputs(opts.input, pairs);
  const specStorage = b.spec.spec.manifest.storage;
  const storage = opts.storage ?? (specStorage === undefined ? undefined : /^s3:/i.test(specStorage) ? specStorage : resolve(dirname(b.specFile), specStorage));
  const engine = await openEngine({ ...opts, tasks: undefined, ...(storage !== undefined ? { storage } : {}) } as EngineCliOptions);
  try {
    const start = await prepareBuildRun(engine, b, revisionLabel, opts);
    return await driveRun(engine, io, () => start({ args, kwargs, env: parseEnvPairs(opts.env) }), opts);
  } finally {
    await closeQuietly(engine);
  }
}

/** The run notifications of a pipeline's `spec.notifications` (pipeline-run events; trigger-run events come with triggers). */
export function notifyOf(specs: readonly NotificationSpec[]): NotifySpec[] {
  const EVENTS: Readonly<Record<string, NotifyEvent>> = {
    EVENT_TYPE_PIPELINE_RUN_STATE_STARTED: 'STARTED',
    EVENT_TYPE_PIPELINE_RUN_STATE_SUCCEEDED: 'SUCCEEDED',
    EVENT_TYPE_PIPELINE_RUN_STATE_FAILED: 'FAILED',
    EVENT_TYPE_PIPELINE_RUN_STATE_KILLED: 'CANCELLED',
  };
  const out: NotifySpec[] = [];
  for (const n of specs) {
    if (n.resourceType !== undefined && n.resourceType !== 'PIPELINE_RUN') continue;
    const on = [...new Set(n.eventTypes.map((e) => EVENTS[e]).filter((e): e is NotifyEvent => e !== undefined))];
    if (on.length === 0) continue;
    if (n.notificationType === 'EMAIL' && n.emails && n.emails.length > 0) out.push({ on, sink: { kind: 'email', to: [...n.emails] } });
    if (n.notificationType === 'SLACK') for (const url of n.slackDestinations ?? []) if (/^https?:\/\//.test(url)) out.push({ on, sink: { kind: 'slack', url } });
    if (n.notificationType === 'WEBHOOK' && n.url !== undefined) out.push({ on, sink: { kind: 'webhook', url: n.url } });
  }
  return out;
}

/** `pipeline run NAME [--revision R] [k=v ...]`: runs the registered revision's stored files. */
export async function pipelineRunCommand(name: string, pairs: readonly string[], opts: PipelineCliOptions, io: CliIo): Promise<number> {
  requireDb(opts);
  const rev = await withRegistry(opts, (reg) => {
    const r = reg.get(name, opts.revision);
    const p = reg.pipeline(name)!;
    if (p.deletedAt !== undefined) throw new CliError(`pipeline ${name} was deleted at ${iso(p.deletedAt)}: it takes no new runs (\`larkflow pipeline apply -f FILE\` restores it)`);
    return r;
  });
  return runBuild(rev, rev.revision, pairs, opts, io);
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
      .option('--revision <rev>', 'a revision id (or a unique prefix, or #N); default: the latest'),
  ).action((name: string, inputs: string[], opts: PipelineCliOptions) => handled(io, setExit, () => pipelineRunCommand(name, inputs, opts, io)));

  addRunOptions(
    pipeline
      .command('dev-run')
      .description('run a pipeline.yaml\'s working-tree files without registering them')
      .option('-f, --file <yaml>', 'the pipeline spec'),
  ).action((inputs: string[], opts: PipelineCliOptions) => handled(io, setExit, () => pipelineDevRunCommand(inputs, opts, io)));
}
