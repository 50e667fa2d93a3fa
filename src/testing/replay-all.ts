/**
 * This file defines the check behind `larkflow replay --all --workflow FILE [--since DATE] [--db PATH]`:
 * replay every recorded run of a workflow file against the (changed) file, oldest first, and stop
 * with exit code 3 at the first run that no longer replays. Meant for CI, before a deploy: a change
 * that passes replays the runs in flight.
 *
 * Which runs are "of FILE": a run records the name of its main workflow file (`wf.star`, without
 * its directory) and its whole script (stored by digest). A run is replayed when
 *
 * - it was recorded from a file of FILE's name, or
 * - its stored main file is FILE's text exactly (the same code, renamed), or
 * - it was recorded from a file named by `renamedFrom` (`--renamed-from OLD.star`: FILE is OLD.star
 *   renamed, and changed).
 *
 * Runs of another file are never replayed just because they define a workflow of the same name (two
 * files that both define `def main` are different workflows); when such runs exist and none of the
 * rules above matched them, a note says which files they came from and how to include them. Since
 * only the file's name is recorded, two files of the same name in different directories are not told
 * apart: narrow with `name` (`--name`) or `since`.
 *
 * Exit codes: 0 every run matches (or there is none), 3 a mismatch, 2 a usage error (no file, no
 * database, a bad --since).
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { HistoryEvent } from '../engine/core/events.js';
import type { RunRecord } from '../engine/core/ports.js';
import { openSqliteStore } from '../engine/store/index.js';
import { formatReplayReport, loadScript, replayHistory } from './replay.js';
import { loadWorkflowModule, type ScriptBundle } from '../engine/workflow/machine.js';
import { WorkflowFn, workflowPredeclared } from '../engine/workflow/surface.js';

/** Names of the @workflow() functions a script defines (none if it does not load). */
function workflowNamesOf(bundle: ScriptBundle): string[] {
  try {
    const globals = loadWorkflowModule(bundle, workflowPredeclared({ current: null }));
    return [...globals].filter(([, v]) => v instanceof WorkflowFn).map(([k]) => k);
  } catch {
    return [];
  }
}

/** A recorded file name's last component (runs record `wf.star`; older ones may hold a path). */
function fileName(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}

/**
 * The recorded runs of `file` (see the file comment), oldest first, and, by file name, the number of
 * runs of the workflows it defines that were recorded from other files and left out.
 */
export function selectRuns(
  db: string,
  file: string,
  options: { readonly name?: string; readonly since?: number; readonly renamedFrom?: readonly string[] } = {},
): { histories: HistoryEvent[][]; others: Map<string, number> } {
  const names = new Set([fileName(file), ...(options.renamedFrom ?? []).map(fileName)]);
  const store = openSqliteStore(db);
  try {
    const runs: RunRecord[] = store.listRuns({ ...(options.name ? { workflow: options.name } : {}), ...(options.since !== undefined ? { since: options.since } : {}) }).reverse();
    const bundle = loadScript(file);
    const text = bundle.files.get(bundle.main);
    const defined = options.name ? [options.name] : workflowNamesOf(bundle);
    const histories: HistoryEvent[][] = [];
    const others = new Map<string, number>();
    const mainText = new Map<string, string | undefined>();
    for (const r of runs) {
      if (names.has(fileName(r.file))) {
        histories.push(store.history(r.runId));
        continue;
      }
      // Another file's run: taken only if its stored main file is this very text (renamed, unchanged).
      // Only runs of a workflow this file defines can be that, so no other history is read.
      if (!defined.includes(r.workflow)) continue;
      const history = store.history(r.runId);
      const digest = (history[0] as { scriptDigest?: string } | undefined)?.scriptDigest;
      if (digest !== undefined && !mainText.has(digest)) mainText.set(digest, store.getScript(digest)?.[0]?.text);
      if (digest !== undefined && mainText.get(digest) === text) histories.push(history);
      else others.set(fileName(r.file), (others.get(fileName(r.file)) ?? 0) + 1);
    }
    return { histories, others };
  } finally {
    store.close();
  }
}

/** Options of `replayAllCommand` (the parsed CLI flags). */
export interface ReplayAllOptions {
  /** The changed workflow file; its runs (see the file comment) are replayed. */
  readonly workflow?: string;
  /** Names (or paths) of files that `workflow` was renamed from: their runs are replayed too. */
  readonly renamedFrom?: readonly string[];
  /** Only runs started at or after this time: an ISO date/time, or an age such as `7d`, `12h`, `30m`. */
  readonly since?: string;
  /** The run database. @default ".larkflow/larkflow.db" under the current directory */
  readonly db?: string;
  /** Only runs of this @workflow() function. */
  readonly name?: string;
}

/** Where the command writes (the CLI's stdout and stderr). */
export interface ReplayAllIo {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
}

/** Exit code of a run that no longer replays (the same as `larkflow replay RUN`). */
export const REPLAY_ALL_MISMATCH = 3;
const USAGE = 2;

/**
 * Parses `--since`: an ISO date or date-time, or an age (`90s`, `30m`, `12h`, `7d`, `2w`) before `now`.
 * @returns ms since the epoch, or undefined if the text is neither
 */
export function parseSince(text: string, now = Date.now()): number | undefined {
  const age = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/.exec(text.trim());
  if (age) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[age[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return now - Number(age[1]) * unit;
  }
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

/**
 * Replays all recorded runs of `opts.workflow` (see the file comment for which runs those are; only
 * those of `opts.name` if given) against that file; prints one line per run and the first mismatch
 * in full.
 * @returns the exit code: 0 all match, 3 at the first mismatch, 2 for a usage error
 */
export async function replayAllCommand(opts: ReplayAllOptions, io: ReplayAllIo): Promise<number> {
  if (!opts.workflow) {
    io.err('larkflow: replay --all needs --workflow FILE (the changed workflow file)\n');
    return USAGE;
  }
  if (!existsSync(opts.workflow)) {
    io.err(`larkflow: cannot read workflow file ${opts.workflow}: no such file\n`);
    return USAGE;
  }
  const db = resolve(process.cwd(), opts.db ?? '.larkflow/larkflow.db');
  if (!existsSync(db)) {
    io.err(`larkflow: no database at ${db} (no runs yet?); pass --db PATH to use another one\n`);
    return USAGE;
  }
  let since: number | undefined;
  if (opts.since !== undefined) {
    since = parseSince(opts.since);
    if (since === undefined) {
      io.err(`larkflow: --since ${JSON.stringify(opts.since)}: want an ISO date (2026-01-31, 2026-01-31T12:00Z) or an age (30m, 12h, 7d)\n`);
      return USAGE;
    }
  }
  let bundle;
  try {
    bundle = loadScript(opts.workflow);
  } catch (e) {
    io.err(`larkflow: ${(e as Error).message}\n`);
    return USAGE;
  }
  let selected;
  try {
    selected = selectRuns(db, opts.workflow, { ...(opts.name ? { name: opts.name } : {}), ...(since !== undefined ? { since } : {}), renamedFrom: opts.renamedFrom ?? [] });
  } catch (e) {
    io.err(`larkflow: ${(e as Error).message}\n`);
    return USAGE;
  }
  const { histories, others } = selected;
  if (others.size > 0) {
    const files = [...others].map(([f, n]) => `${f}: ${n} run${n === 1 ? '' : 's'}`).join(', ');
    io.err(
      `note: runs of the same workflow name recorded from other files were not replayed (${files}); ` +
        `if ${basename(opts.workflow)} is one of them renamed, pass --renamed-from ${[...others.keys()][0]}\n`,
    );
  }
  const what = `${opts.workflow}${opts.name ? ` (${opts.name})` : ''}${opts.since ? ` since ${new Date(since!).toISOString()}` : ''}`;
  if (histories.length === 0) {
    io.out(`no recorded runs of ${what} in ${db}: nothing to replay\n`);
    return 0;
  }
  let n = 0;
  for (const h of histories) {
    const report = await replayHistory(bundle, h);
    n++;
    io.out(formatReplayReport(report) + '\n');
    if (!report.ok) {
      io.out(`MISMATCH: run ${report.runId} does not replay against ${opts.workflow} (${n} of ${histories.length} replayed; stopping at the first mismatch)\n`);
      return REPLAY_ALL_MISMATCH;
    }
  }
  io.out(`OK: all ${n} recorded runs of ${what} replay against ${opts.workflow}\n`);
  return 0;
}
