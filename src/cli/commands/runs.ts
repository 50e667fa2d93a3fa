/**
 * This file defines `larkflow runs`: the runs of a database, newest first, as a table (id, workflow,
 * status, start, end in ISO time) or as JSON with `--json`.
 */
import type { RunRecord, RunStatus } from '../../engine/index.js';
import { CliError } from '../errors.js';
import { closeQuietly, dbOption, dbPath, isSharedDbUrl, iso, openEngine, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { existsSync } from 'node:fs';

const STATUSES: readonly RunStatus[] = ['running', 'completed', 'failed', 'cancelled', 'blocked'];

export interface RunsOptions extends EngineCliOptions {
  readonly json?: boolean;
  /** Only the runs of this pipeline. */
  readonly pipeline?: string;
  readonly status?: string;
  readonly workflow?: string;
  readonly limit?: string;
}

/** A run as `runs --json` prints it. */
export function runJson(r: RunRecord): Record<string, unknown> {
  return {
    id: r.runId,
    workflow: r.workflow,
    status: r.status,
    start: iso(r.startedAt),
    end: r.endedAt !== undefined ? iso(r.endedAt) : null,
    file: r.file,
    ...(r.parentRunId ? { parent: r.parentRunId } : {}),
    ...(r.resumedFrom ? { resumedFrom: r.resumedFrom } : {}),
    events: r.lastSeq,
  };
}

/** Lays out rows as columns separated by two spaces. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export async function runsCommand(opts: RunsOptions, io: CliIo): Promise<number> {
  if (opts.status !== undefined && !STATUSES.includes(opts.status as RunStatus)) {
    throw new CliError(`--status must be one of ${STATUSES.join(', ')} (not ${JSON.stringify(opts.status)})`);
  }
  let limit: number | undefined;
  if (opts.limit !== undefined) {
    limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit <= 0) throw new CliError(`--limit must be a positive integer (not ${JSON.stringify(opts.limit)})`);
  }
  const runs = await listRuns(opts, limit);
  if (runs === undefined) {
    // Nothing recorded yet: say so rather than create a database.
    if (opts.json) io.out('[]\n');
    else io.err(`no runs (no database at ${dbPath(opts)})\n`);
    return 0;
  }
  if (opts.json) {
    io.out(JSON.stringify(runs.map(runJson), null, 2) + '\n');
    return 0;
  }
  if (runs.length === 0) {
    io.err(`no runs${opts.status ? ` with status ${opts.status}` : ''}\n`);
    return 0;
  }
  const rows = runs.map((r) => {
    const note = r.parentRunId ? `child of ${r.parentRunId}` : r.resumedFrom ? `resumed from ${r.resumedFrom}` : '';
    return [r.runId, r.workflow, r.status, iso(r.startedAt), r.endedAt !== undefined ? iso(r.endedAt) : '-', note];
  });
  io.out(table(['ID', 'WORKFLOW', 'STATUS', 'START', 'END', ''], rows) + '\n');
  return 0;
}

/**
 * The runs the options select, newest first, from the SQLite file or the shared database
 * (PostgreSQL); undefined when the SQLite file does not exist.
 */
async function listRuns(opts: RunsOptions, limit: number | undefined): Promise<RunRecord[] | undefined> {
  const db = dbOption(opts);
  if (isSharedDbUrl(db)) {
    const { listSharedRuns } = await import('../shared-read.js');
    return listSharedRuns(db, {
      ...(opts.status ? { status: opts.status as RunStatus } : {}),
      ...(opts.workflow ? { workflow: opts.workflow } : {}),
      ...(limit ? { limit } : {}),
      ...(opts.pipeline !== undefined ? { pipeline: opts.pipeline } : {}),
    });
  }
  if (!existsSync(dbPath(opts))) return undefined;
  const engine = await openEngine(opts);
  try {
    let runs = engine.runs({
      ...(opts.status ? { status: opts.status as RunStatus } : {}),
      ...(opts.workflow ? { workflow: opts.workflow } : {}),
      ...(opts.pipeline === undefined && limit ? { limit } : {}),
    });
    if (opts.pipeline !== undefined) {
      // A pipeline's runs record it in their environment (LARKFLOW_PIPELINE, set by larkflow pipeline run).
      runs = runs.filter((r) => {
        const first = engine.history(r.runId)[0];
        return first?.kind === 'RunStarted' && first.env.LARKFLOW_PIPELINE === opts.pipeline;
      });
      if (limit) runs = runs.slice(0, limit);
    }
    return runs;
  } finally {
    await closeQuietly(engine);
  }
}
