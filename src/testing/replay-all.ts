/**
 * This file defines the check behind `larkflow replay --all --workflow FILE [--since DATE] [--db PATH]`:
 * replay every recorded run of a workflow file against the (changed) file, oldest first, and stop
 * with exit code 3 at the first run that no longer replays. Meant for CI, before a deploy: a change
 * that passes replays the runs in flight.
 *
 * Exit codes: 0 every run matches (or there is none), 3 a mismatch, 2 a usage error (no file, no
 * database, a bad --since).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatReplayReport, loadScript, readHistories, replayHistory } from './replay.js';
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

/** Options of `replayAllCommand` (the parsed CLI flags). */
export interface ReplayAllOptions {
  /** The changed workflow file; runs recorded from a file of the same name are replayed. */
  readonly workflow?: string;
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
 * Replays all recorded runs of `opts.workflow` (matched by file name, and by `opts.name` if given)
 * against that file; prints one line per run and the first mismatch in full.
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
  let histories = readHistories({ db, file: opts.workflow, ...(opts.name ? { workflow: opts.name } : {}), ...(since !== undefined ? { since } : {}) });
  if (histories.length === 0) {
    // The script may have been renamed: fall back to runs of the workflows it defines, by name.
    const names = opts.name ? [opts.name] : workflowNamesOf(bundle);
    histories = names.flatMap((name) => readHistories({ db, workflow: name, ...(since !== undefined ? { since } : {}) }));
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
