/**
 * This file defines the pipeline registry (`larkflow pipeline apply/list/get/revisions/delete`): named
 * pipelines and their immutable revisions, stored in the run database's file in tables of their own
 * (`pipelines`, `pipeline_revisions`, created if missing; the engine's schema is left alone).
 *
 * A revision is everything a run of the pipeline needs, frozen at apply time: the workflow bundle
 * (the main file and every file it loads, as `collectScript` collects them; a standard pipeline's
 * generated source), the tasks module's text, and the resolved configuration (the validated spec,
 * the workflow name, default inputs and environment). Its id is the SHA-256 of the canonical JSON of
 * {bundle digest, files, config}, so applying unchanged content is a no-op that returns the existing
 * revision, and a run of a revision never reads the working tree's workflow files.
 *
 * A pipeline's notifications can be changed after it is applied without a new revision
 * (`larkflow pipeline notifications NAME --set -f FILE`): they are kept beside the revisions
 * (`pipeline_notifications`) and, while set, replace every revision's `spec.notifications` for the
 * runs started afterwards (by `pipeline run`, triggers and backfills); `--reset` goes back to them.
 */
import Database from 'better-sqlite3';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, relative, resolve, sep } from 'node:path';
import { collectScript, fromFiles } from '../engine/script.js';
import { openSqliteStore } from '../engine/store/index.js';
import type { ScriptFile } from '../engine/core/ports.js';
import { digestOf, sha256 } from '../util/hash.js';
import { loadPipelineSpec, type LoadedPipelineSpec, type NotificationSpec, type PipelineSpec } from './spec.js';
import { generateStandardWorkflow } from './standard/index.js';

/** A problem the user fixes by naming something else (unknown pipeline or revision): exit status 2. */
export class PipelineUsageError extends Error {
  readonly code = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The tasks module of a revision. */
export interface StoredTasksModule {
  /** The module's absolute path when it was applied. */
  readonly path: string;
  readonly text: string;
  /** SHA-256 of the text. */
  readonly digest: string;
}

/** What a run of a pipeline needs, resolved from a spec (the part of a revision its id covers). */
export interface PipelineBuild {
  readonly name: string;
  readonly spec: PipelineSpec;
  /** The yaml's absolute path and text when it was built. */
  readonly specFile: string;
  readonly specText: string;
  /** The bundle: main file first, paths relative to the workflow's directory. */
  readonly files: readonly ScriptFile[];
  readonly bundleDigest: string;
  /** The workflow's directory (local Python tasks import from it). */
  readonly codeDir: string;
  /** The @workflow() function to run (undefined: the file's only one). */
  readonly workflow?: string;
  /** Default keyword inputs and environment. */
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly environ: Readonly<Record<string, string>>;
  readonly tasks?: StoredTasksModule;
  /** Files the commands of a standard pipeline run: absolute path → sha256. */
  readonly code: Readonly<Record<string, string>>;
  /** The revision id: sha256 of the canonical JSON of {bundle digest, files, config}. */
  readonly revision: string;
}

/** A stored revision. */
export interface PipelineRevision extends PipelineBuild {
  /** 1 for the first revision of the pipeline, 2 for the next... */
  readonly seq: number;
  readonly createdAt: number;
}

/** A registered pipeline. */
export interface PipelineRecord {
  readonly name: string;
  readonly namespace?: string;
  /** The latest revision's id. */
  readonly latest: string;
  readonly revisions: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When it was deleted (it refuses new runs; its revisions are kept for history). */
  readonly deletedAt?: number;
}

/** The notifications that apply to a pipeline's runs now. */
export interface EffectiveNotifications {
  readonly notifications: readonly NotificationSpec[];
  /** `spec`: the revision's spec.notifications; `set`: set after apply (`pipeline notifications --set/--clear`). */
  readonly source: 'spec' | 'set';
  /** When they were set (for `set`). */
  readonly updatedAt?: number;
  /** The file they were set from (for `set` with a file). */
  readonly file?: string;
}

/** What `apply` did. */
export interface ApplyResult {
  readonly name: string;
  readonly revision: string;
  readonly seq: number;
  /** false when the content was already the pipeline's latest revision (nothing was written). */
  readonly created: boolean;
}

function toPosix(p: string): string {
  return p.split(sep).join('/');
}

/**
 * Builds a spec's revision content from the working tree (apply, and dev-run without registering).
 * @throws PipelineSpecError for a bad spec; Error/UsageError for unreadable files
 */
export async function buildPipeline(specFile: string): Promise<PipelineBuild> {
  const loaded = loadPipelineSpec(specFile);
  return buildFromSpec(loaded);
}

/** Builds the revision content of a loaded spec. */
export async function buildFromSpec(loaded: LoadedPipelineSpec): Promise<PipelineBuild> {
  const { spec, dir } = loaded;
  const m = spec.spec.manifest;
  let files: ScriptFile[];
  let bundleDigest: string;
  let codeDir = dir;
  let workflow = m.workflow;
  let inputs: Record<string, unknown> = { ...m.inputs };
  let environ: Record<string, string> = { ...m.environ };
  let code: Record<string, string> = {};
  if (spec.spec.standard !== undefined) {
    const gen = generateStandardWorkflow(spec.spec.standard, spec.spec.config ?? { tasks: {}, params: {} }, dir);
    const script = fromFiles(gen.name, new Map([[gen.name, gen.text]]));
    files = script.files;
    bundleDigest = script.digest;
    workflow = gen.workflow;
    code = { ...gen.code };
  } else {
    const wf = resolve(dir, m.filePath!);
    if (!existsSync(wf)) throw new PipelineUsageError(`${loaded.file}: spec.manifest.filePath ${m.filePath}: no such file (${wf})`);
    if (statSync(wf).isDirectory()) throw new PipelineUsageError(`${loaded.file}: spec.manifest.filePath ${m.filePath} is a directory; give a .star or .py workflow file`);
    codeDir = dirname(wf);
    if (wf.endsWith('.py')) {
      // A Uniflow .py file is one file; its `__main__` block gives defaults (as `larkflow run` reads
      // them): the spec's inputs and environ win.
      const name = basename(wf);
      const script = fromFiles(name, new Map([[name, readFileSync(wf, 'utf8')]]));
      files = script.files;
      bundleDigest = script.digest;
      const { pythonDefaults } = await import('../cli/python-files.js');
      const d = pythonDefaults(wf);
      if (workflow === undefined && d.workflow !== undefined) workflow = d.workflow;
      inputs = { ...d.kwargs, ...inputs };
      environ = { ...d.env, ...environ };
    } else {
      const script = collectScript(wf);
      files = script.files;
      bundleDigest = script.digest;
    }
  }
  await checkWorkflow(loaded.file, files, workflow, environ);
  let tasks: StoredTasksModule | undefined;
  if (m.tasks !== undefined) {
    const path = resolve(dir, m.tasks);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new PipelineUsageError(`${loaded.file}: spec.manifest.tasks ${m.tasks}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message} (${path})`);
    }
    tasks = { path, text, digest: sha256(text) };
  }
  const config = {
    spec,
    workflow: workflow ?? null,
    inputs,
    environ,
    tasks: tasks ? { file: toPosix(relative(dir, tasks.path)), digest: tasks.digest } : null,
    code: Object.fromEntries(Object.entries(code).map(([p, d]) => [toPosix(relative(dir, p)), d])),
  };
  const revision = digestOf({ bundleDigest, files, config });
  return {
    name: spec.metadata.name,
    spec,
    specFile: loaded.file,
    specText: loaded.text,
    files,
    bundleDigest,
    codeDir,
    ...(workflow !== undefined ? { workflow } : {}),
    inputs,
    environ,
    ...(tasks ? { tasks } : {}),
    code,
    revision,
  };
}

/**
 * Loads the bundle's module (as a run would, with the default environment) and checks that the
 * workflow to run exists, so that a typo is refused at apply time rather than at the first run.
 * @throws ParseError/ResolveError for a script that does not load; PipelineUsageError for an unknown
 *   or ambiguous workflow
 */
async function checkWorkflow(specFile: string, files: readonly ScriptFile[], workflow: string | undefined, environ: Readonly<Record<string, string>>): Promise<void> {
  const { Engine } = await import('../engine/engine.js');
  const { fromStored } = await import('../engine/script.js');
  const engine = Engine.open({ db: ':memory:' });
  try {
    const main = files[0]!.path;
    const names = engine.workflowNames(fromStored(files), workflow, environ);
    if (workflow !== undefined && !names.includes(workflow)) {
      throw new PipelineUsageError(`${specFile}: spec.manifest.workflow ${workflow}: ${main} has no such workflow (${names.length ? `workflows: ${names.join(', ')}` : 'it defines no @workflow() function'})`);
    }
    if (workflow === undefined && names.length !== 1) {
      throw new PipelineUsageError(
        names.length === 0 ? `${specFile}: ${main} defines no @workflow() function` : `${specFile}: ${main} defines several workflows (${names.join(', ')}): choose one with spec.manifest.workflow`,
      );
    }
  } finally {
    await engine.close();
  }
}

interface RevisionRow {
  name: string;
  revision: string;
  seq: number;
  created_at: number;
  spec_file: string;
  spec_text: string;
  spec_json: string;
  files_json: string;
  bundle_digest: string;
  code_dir: string;
  workflow: string | null;
  inputs_json: string;
  environ_json: string;
  tasks_path: string | null;
  tasks_text: string | null;
  code_json: string;
}

interface PipelineRow {
  name: string;
  namespace: string | null;
  latest: string;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
  revisions: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS pipelines (
  name TEXT PRIMARY KEY,
  namespace TEXT,
  latest TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER
);
CREATE TABLE IF NOT EXISTS pipeline_revisions (
  name TEXT NOT NULL,
  revision TEXT NOT NULL,
  seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  spec_file TEXT NOT NULL,
  spec_text TEXT NOT NULL,
  spec_json TEXT NOT NULL,
  files_json TEXT NOT NULL,
  bundle_digest TEXT NOT NULL,
  code_dir TEXT NOT NULL,
  workflow TEXT,
  inputs_json TEXT NOT NULL,
  environ_json TEXT NOT NULL,
  tasks_path TEXT,
  tasks_text TEXT,
  code_json TEXT NOT NULL,
  PRIMARY KEY (name, revision)
);
CREATE UNIQUE INDEX IF NOT EXISTS pipeline_revisions_seq ON pipeline_revisions (name, seq);
CREATE TABLE IF NOT EXISTS pipeline_notifications (
  name TEXT PRIMARY KEY,
  notifications_json TEXT NOT NULL,
  file TEXT,
  updated_at INTEGER NOT NULL
);
`;

/** Options of `PipelineRegistry.open`. */
export interface PipelineRegistryOptions {
  readonly synchronous?: 'NORMAL' | 'FULL';
  readonly busyTimeoutMs?: number;
  /** The clock of `createdAt`/`updatedAt`. @default Date.now */
  readonly now?: () => number;
}

/** Named pipelines and their revisions, in the run database's file. */
export class PipelineRegistry {
  readonly #db: Database.Database;
  readonly #now: () => number;

  private constructor(db: Database.Database, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  /**
   * Opens the registry on a run database file, creating the file (with the engine's schema, through
   * the engine's own store, so that `larkflow run` accepts the file afterwards) and the registry's
   * tables when missing.
   */
  static open(path: string, options: PipelineRegistryOptions = {}): PipelineRegistry {
    const busy = options.busyTimeoutMs ?? 5000;
    const synchronous = options.synchronous ?? 'NORMAL';
    // The engine's store creates or checks (and migrates) its schema: a file that is not a larkflow
    // database is refused with its message.
    openSqliteStore(path, { synchronous, busyTimeoutMs: busy }).close();
    const db = new Database(path, { timeout: busy });
    try {
      db.pragma(`busy_timeout = ${busy}`);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
      db.exec(SCHEMA);
    } catch (e) {
      db.close();
      throw e;
    }
    return new PipelineRegistry(db, options.now ?? Date.now);
  }

  close(): void {
    this.#db.close();
  }

  /**
   * Registers a pipeline.yaml: builds its revision from the working tree and stores it as the
   * pipeline's latest. Unchanged content (the latest revision, or an earlier one) stores nothing new
   * and returns that revision with `created: false` (an earlier one becomes the latest again).
   * Applying a deleted pipeline restores it.
   */
  async apply(specFile: string): Promise<ApplyResult> {
    return this.store(await buildPipeline(specFile));
  }

  /** Stores a built revision (see `apply`). */
  store(b: PipelineBuild): ApplyResult {
    const now = this.#now();
    const tx = this.#db.transaction((): ApplyResult => {
      const p = this.#db.prepare<[string], PipelineRow>('SELECT *, 0 AS revisions FROM pipelines WHERE name = ?').get(b.name);
      const existing = this.#db.prepare<[string, string], { seq: number }>('SELECT seq FROM pipeline_revisions WHERE name = ? AND revision = ?').get(b.name, b.revision);
      if (existing) {
        if (p && p.latest === b.revision && p.deleted_at === null) return { name: b.name, revision: b.revision, seq: existing.seq, created: false };
        this.#db.prepare('UPDATE pipelines SET latest = ?, updated_at = ?, deleted_at = NULL, namespace = ? WHERE name = ?').run(b.revision, now, b.spec.metadata.namespace ?? null, b.name);
        return { name: b.name, revision: b.revision, seq: existing.seq, created: false };
      }
      const seq = (this.#db.prepare<[string], number>('SELECT COALESCE(MAX(seq), 0) FROM pipeline_revisions WHERE name = ?').pluck().get(b.name) ?? 0) + 1;
      this.#db
        .prepare(
          `INSERT INTO pipeline_revisions (name, revision, seq, created_at, spec_file, spec_text, spec_json, files_json, bundle_digest, code_dir, workflow, inputs_json, environ_json, tasks_path, tasks_text, code_json)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          b.name,
          b.revision,
          seq,
          now,
          b.specFile,
          b.specText,
          JSON.stringify(b.spec),
          JSON.stringify(b.files),
          b.bundleDigest,
          b.codeDir,
          b.workflow ?? null,
          JSON.stringify(b.inputs),
          JSON.stringify(b.environ),
          b.tasks?.path ?? null,
          b.tasks?.text ?? null,
          JSON.stringify(b.code),
        );
      if (p) this.#db.prepare('UPDATE pipelines SET latest = ?, updated_at = ?, deleted_at = NULL, namespace = ? WHERE name = ?').run(b.revision, now, b.spec.metadata.namespace ?? null, b.name);
      else this.#db.prepare('INSERT INTO pipelines (name, namespace, latest, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run(b.name, b.spec.metadata.namespace ?? null, b.revision, now, now);
      return { name: b.name, revision: b.revision, seq, created: true };
    });
    return tx.immediate();
  }

  /** The registered pipelines by name (deleted ones only with `includeDeleted`). */
  list(options: { readonly includeDeleted?: boolean } = {}): PipelineRecord[] {
    const rows = this.#db
      .prepare<[], PipelineRow>('SELECT p.*, (SELECT COUNT(*) FROM pipeline_revisions r WHERE r.name = p.name) AS revisions FROM pipelines p ORDER BY p.name')
      .all();
    return rows.filter((r) => options.includeDeleted || r.deleted_at === null).map(toRecord);
  }

  /** One pipeline's record (deleted ones too), or undefined. */
  pipeline(name: string): PipelineRecord | undefined {
    const r = this.#db.prepare<[string], PipelineRow>('SELECT p.*, (SELECT COUNT(*) FROM pipeline_revisions r WHERE r.name = p.name) AS revisions FROM pipelines p WHERE p.name = ?').get(name);
    return r ? toRecord(r) : undefined;
  }

  /**
   * A revision of a pipeline: the latest by default, or `revision` (the full id, a unique prefix of
   * it, or the revision's number as `#3`/`3`).
   * @throws PipelineUsageError for an unknown pipeline or revision, naming what exists
   */
  get(name: string, revision?: string): PipelineRevision {
    const p = this.pipeline(name);
    if (!p) {
      const names = this.list({ includeDeleted: true }).map((x) => x.name);
      throw new PipelineUsageError(`no pipeline named ${name} (${names.length ? `pipelines: ${names.join(', ')}` : 'none is registered: larkflow pipeline apply -f pipeline.yaml'})`);
    }
    const want = revision ?? p.latest;
    const rows = this.#db.prepare<[string], RevisionRow>('SELECT * FROM pipeline_revisions WHERE name = ? ORDER BY seq').all(name);
    // `#N` is the N-th revision; bare digits are an id prefix when one matches, else the N-th.
    const byPrefix = want.startsWith('#') || want === '' ? [] : rows.filter((r) => r.revision.startsWith(want.toLowerCase()));
    const bySeq = /^#?\d+$/.test(want) && (want.startsWith('#') || byPrefix.length === 0) ? rows.filter((r) => r.seq === Number(want.replace('#', ''))) : [];
    const matches = bySeq.length > 0 ? bySeq : byPrefix;
    if (matches.length === 1) return fromRow(matches[0]!);
    const known = rows.map((r) => `#${r.seq} ${r.revision.slice(0, 12)}`).join(', ');
    if (matches.length > 1) throw new PipelineUsageError(`revision ${want} of pipeline ${name} is ambiguous (revisions: ${known})`);
    throw new PipelineUsageError(`pipeline ${name} has no revision ${want} (revisions: ${known})`);
  }

  /** A pipeline's revisions, oldest first. @throws PipelineUsageError for an unknown pipeline */
  revisions(name: string): PipelineRevision[] {
    this.get(name); // the unknown-pipeline message
    return this.#db.prepare<[string], RevisionRow>('SELECT * FROM pipeline_revisions WHERE name = ? ORDER BY seq').all(name).map(fromRow);
  }

  /**
   * The notifications of a pipeline's runs: those set after apply when there are, else the
   * spec.notifications of `revision` (default: the latest).
   * @throws PipelineUsageError for an unknown pipeline or revision
   */
  notifications(name: string, revision?: string): EffectiveNotifications {
    const rev = this.get(name, revision);
    const row = this.#db.prepare<[string], { notifications_json: string; file: string | null; updated_at: number }>('SELECT notifications_json, file, updated_at FROM pipeline_notifications WHERE name = ?').get(name);
    if (!row) return { notifications: rev.spec.spec.notifications ?? [], source: 'spec' };
    return { notifications: JSON.parse(row.notifications_json) as NotificationSpec[], source: 'set', updatedAt: row.updated_at, ...(row.file !== null ? { file: row.file } : {}) };
  }

  /**
   * Sets a pipeline's notifications (validated by the caller: `parseNotifications`) without a new
   * revision: runs started afterwards use them, whatever revision they run. `[]` means none.
   * @throws PipelineUsageError for an unknown pipeline
   */
  setNotifications(name: string, notifications: readonly NotificationSpec[], file?: string): void {
    this.get(name);
    this.#db
      .prepare('INSERT INTO pipeline_notifications (name, notifications_json, file, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET notifications_json = excluded.notifications_json, file = excluded.file, updated_at = excluded.updated_at')
      .run(name, JSON.stringify(notifications), file ?? null, this.#now());
  }

  /**
   * Drops the notifications set after apply: runs use their revision's spec.notifications again.
   * Returns false when none were set. @throws PipelineUsageError for an unknown pipeline
   */
  resetNotifications(name: string): boolean {
    this.get(name);
    return this.#db.prepare('DELETE FROM pipeline_notifications WHERE name = ?').run(name).changes > 0;
  }

  /**
   * Deletes a pipeline softly: it refuses new runs and leaves `list`, its revisions are kept (runs
   * recorded them). Returns false when it was already deleted.
   * @throws PipelineUsageError for an unknown pipeline
   */
  delete(name: string): boolean {
    const p = this.get(name) && this.pipeline(name)!;
    if (p.deletedAt !== undefined) return false;
    this.#db.prepare('UPDATE pipelines SET deleted_at = ?, updated_at = ? WHERE name = ?').run(this.#now(), this.#now(), name);
    return true;
  }
}

function toRecord(r: PipelineRow): PipelineRecord {
  return {
    name: r.name,
    ...(r.namespace !== null ? { namespace: r.namespace } : {}),
    latest: r.latest,
    revisions: r.revisions,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    ...(r.deleted_at !== null ? { deletedAt: r.deleted_at } : {}),
  };
}

function fromRow(r: RevisionRow): PipelineRevision {
  return {
    name: r.name,
    revision: r.revision,
    seq: r.seq,
    createdAt: r.created_at,
    spec: JSON.parse(r.spec_json) as PipelineSpec,
    specFile: r.spec_file,
    specText: r.spec_text,
    files: JSON.parse(r.files_json) as ScriptFile[],
    bundleDigest: r.bundle_digest,
    codeDir: r.code_dir,
    ...(r.workflow !== null ? { workflow: r.workflow } : {}),
    inputs: JSON.parse(r.inputs_json) as Record<string, unknown>,
    environ: JSON.parse(r.environ_json) as Record<string, string>,
    ...(r.tasks_path !== null && r.tasks_text !== null ? { tasks: { path: r.tasks_path, text: r.tasks_text, digest: sha256(r.tasks_text) } } : {}),
    code: JSON.parse(r.code_json) as Record<string, string>,
  };
}
