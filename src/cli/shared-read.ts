/**
 * This file lets the inspection commands (`runs`, `show`, `history`, `logs`) read a shared database
 * (PostgreSQL, `--db postgres://…` or `LARKFLOW_DB`) as they read a SQLite file, so that their
 * formatting is the same code on both.
 *
 * For one run (`openRunView`): the run id is resolved as on SQLite (the full id, or a unique prefix
 * with or without `run-`), then its row, history and script are read from the shared store into a
 * read-only in-memory snapshot, and an engine is opened over that snapshot without recovering or
 * driving anything, so that the commands use the engine's `state()`/`history()` as they do on
 * SQLite. `refresh()` reads the events appended since (for `logs --follow`); `replay` replays
 * the snapshot's history. For `runs` (`listSharedRuns`): the store's own list, with the same
 * filters. For `resume` (`noteSharedRun`): the old run is read into the mirror of an engine that
 * drives runs on the shared database, so that the engine's `resume` sees it as on SQLite.
 */
import { join } from 'node:path';
import type { Engine, HistoryEvent, RunFilter, RunRecord } from '../engine/index.js';
import type { AsyncEventStore } from '../engine/store/async-store.js';
import type { EventStore, ScriptFile } from '../engine/core/ports.js';
import { CliError } from './errors.js';
import { closeQuietly, openEngine, resolveRunId, storageOf, type EngineCliOptions } from './engine-options.js';
import { dbOption, isSharedDbUrl, openSharedStore } from './shared-db.js';

/** One run opened for reading: an engine that sees it, its full id, and how to catch up and close. */
export interface RunView {
  readonly engine: Engine;
  readonly runId: string;
  /** Reads what the run recorded since (a no-op on SQLite, where the engine reads the file itself). */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the run `runArg` names on the database the options name (SQLite or PostgreSQL).
 * @throws CliError (exit 2) for no run id, an unknown run or an ambiguous prefix; CliError for a
 *   missing SQLite database; the store's error for a shared database it cannot open
 */
export async function openRunView(opts: EngineCliOptions, runArg: string): Promise<RunView> {
  const url = dbOption(opts);
  if (!isSharedDbUrl(url)) {
    const engine = await openEngine(opts, { mustExist: true });
    try {
      const runId = resolveRunId(engine, runArg);
      return { engine, runId, refresh: async () => undefined, close: () => closeQuietly(engine) };
    } catch (e) {
      await closeQuietly(engine);
      throw e;
    }
  }
  const store = await openSharedStore(url);
  let engine: Engine | undefined;
  try {
    const runId = await resolveSharedRunId(store, runArg);
    const snapshot = await newSnapshot();
    await snapshot.load(store, runId);
    const blobs = await storageOf(opts.storage);
    const { Engine } = await import('../engine/index.js');
    // No recover(), no start(): this engine only reads the snapshot (whose writes fail, it holds no
    // run of its own), and owns no lease on the shared database.
    engine = Engine.open({ db: snapshot, workDir: join('.larkflow', 'attempts'), ...(blobs !== undefined ? { blobs } : {}) });
    const opened = engine;
    return {
      engine: opened,
      runId,
      refresh: () => snapshot.load(store, runId),
      close: async () => {
        await closeQuietly(opened);
        await store.close().catch(() => undefined);
      },
    };
  } catch (e) {
    await closeQuietly(engine);
    await store.close().catch(() => undefined);
    throw e;
  }
}

/**
 * Lets an engine opened over a shared database (`openSharedEngine`, whose store is a `MirrorStore`)
 * see a run it does not drive, as `resume` needs it: the run id is resolved as on SQLite, the run's
 * row and history are read from the database and noted in the mirror (`noteForeign`: its `getRun`
 * and `history` answer with them; nothing is written), and its script is cached there (already in
 * the database, it is not written again when the new run names it).
 * @returns the run's full id
 * @throws CliError (exit 2) for no run id, an unknown run or an ambiguous prefix
 */
export async function noteSharedRun(engine: Engine, runArg: string): Promise<string> {
  const { MirrorStore } = await import('../engine/distributed/mirror-store.js');
  const mirror = engine.store;
  if (!(mirror instanceof MirrorStore)) throw new Error('noteSharedRun: the engine is not over a shared database');
  const store = mirror.remote;
  const runId = await resolveSharedRunId(store, runArg);
  const [record, history] = await Promise.all([store.getRun(runId), store.history(runId)]);
  if (!record || history.length === 0) throw new CliError(`no run ${runId} (see \`larkflow runs\`)`, 2);
  const first = history[0];
  if (first?.kind === 'RunStarted' && mirror.getScript(first.scriptDigest) === undefined) {
    const files = await store.getScript(first.scriptDigest);
    if (files) mirror.cacheScript(first.scriptDigest, files);
  }
  mirror.noteForeign(record, history);
  return runId;
}

/** What `larkflow runs` filters by. */
export interface SharedRunsQuery {
  readonly status?: RunRecord['status'];
  readonly workflow?: string;
  readonly limit?: number;
  /** Only the runs of this pipeline (LARKFLOW_PIPELINE in the environment of their RunStarted). */
  readonly pipeline?: string;
}

/** The runs of a shared database, newest first, as `larkflow runs` lists them on SQLite. */
export async function listSharedRuns(url: string, query: SharedRunsQuery): Promise<RunRecord[]> {
  const store = await openSharedStore(url);
  try {
    const filter: RunFilter = {
      ...(query.status ? { status: query.status } : {}),
      ...(query.workflow ? { workflow: query.workflow } : {}),
    };
    if (query.pipeline === undefined) return await store.listRuns({ ...filter, ...(query.limit ? { limit: query.limit } : {}) });
    // A pipeline's runs record it in their environment: look at each run's first event, newest
    // first, until `limit` of them are found.
    const kept: RunRecord[] = [];
    for (const r of await store.listRuns(filter)) {
      const first = (await store.history(r.runId))[0];
      if (first?.kind === 'RunStarted' && first.env.LARKFLOW_PIPELINE === query.pipeline) kept.push(r);
      if (query.limit && kept.length >= query.limit) break;
    }
    return kept;
  } finally {
    await store.close().catch(() => undefined);
  }
}

/**
 * A run id as the user typed it, on a shared store: the full id, or a unique prefix of it (with or
 * without `run-`); the same rules and messages as `resolveRunId` on SQLite.
 * @throws CliError (exit 2) for no match or several
 */
export async function resolveSharedRunId(store: AsyncEventStore, id: string): Promise<string> {
  if (id.trim() === '' || id.trim() === 'run-') throw new CliError(`no run id given${id === '' ? '' : ` (${JSON.stringify(id)})`}: give a run id or a unique prefix of one (see \`larkflow runs\`)`, 2);
  if (await store.getRun(id)) return id;
  const want = id.startsWith('run-') ? id : `run-${id}`;
  // The store narrows by substring (ignoring case); the prefix rule is applied here, exactly.
  const matches = (await store.listRuns({ search: id, limit: 100_000 })).filter((r) => r.runId.startsWith(want) || r.runId.startsWith(id));
  if (matches.length === 1) return matches[0]!.runId;
  if (matches.length > 1) {
    throw new CliError(`run id ${id} is ambiguous: ${matches.slice(0, 5).map((r) => r.runId).join(', ')}${matches.length > 5 ? ', ...' : ''}`, 2);
  }
  throw new CliError(`no run ${id} (see \`larkflow runs\`)`, 2);
}

/** The snapshot store, a `MemoryEventStore` whose reads of runs answer from what was loaded. */
interface Snapshot {
  /** Reads the run's row and the events it recorded since the last load (all of them the first time). */
  load(store: AsyncEventStore, runId: string): Promise<void>;
}

/**
 * A read-only copy of runs of a shared store, as an `EventStore` an engine can be opened over. The
 * events are kept as the shared store returned them (a signal's `inboxId` names that store's inbox,
 * so they are not re-appended, which would consume messages this copy does not have); the engine's
 * reads (`history`, `getRun`, `listRuns`) answer from them, and anything that would write to a run
 * fails, as the underlying memory store holds none.
 */
async function newSnapshot(): Promise<Snapshot & EventStore> {
  const { MemoryEventStore } = await import('../engine/store/memory-store.js');
  class SnapshotStore extends MemoryEventStore implements Snapshot {
    readonly #runs = new Map<string, { record: RunRecord; events: HistoryEvent[] }>();

    async load(store: AsyncEventStore, runId: string): Promise<void> {
      const had = this.#runs.get(runId);
      const from = (had?.events.length ?? 0) + 1;
      const [record, events] = await Promise.all([store.getRun(runId), store.history(runId, from)]);
      if (!record) throw new CliError(`no run ${runId} (see \`larkflow runs\`)`, 2);
      const all = [...(had?.events ?? []), ...events.filter((e) => e.seq >= from)];
      this.#runs.set(runId, { record, events: all });
      const first = all[0];
      if (had === undefined && first?.kind === 'RunStarted' && super.getScript(first.scriptDigest) === undefined) {
        const files: ScriptFile[] | undefined = await store.getScript(first.scriptDigest);
        if (files) super.putScript(first.scriptDigest, files);
      }
    }

    override history(runId: string, fromSeq = 1): HistoryEvent[] {
      return (this.#runs.get(runId)?.events ?? []).filter((e) => e.seq >= fromSeq);
    }

    override getRun(runId: string): RunRecord | undefined {
      return this.#runs.get(runId)?.record;
    }

    override listRuns(filter: RunFilter = {}): RunRecord[] {
      const runs = [...this.#runs.values()].map((r) => r.record).filter((r) => (filter.status === undefined || r.status === filter.status) && (filter.workflow === undefined || r.workflow === filter.workflow));
      return filter.limit !== undefined ? runs.slice(0, filter.limit) : runs;
    }

    /** Nothing to recover: the runs are driven elsewhere, if at all. */
    override unfinishedRuns(): RunRecord[] {
      return [];
    }
  }
  return new SnapshotStore();
}
