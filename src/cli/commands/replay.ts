/**
 * This file defines `larkflow replay RUN [--workflow FILE]`: replay a run's recorded history, offline,
 * against the script it was recorded with or a changed one, and say whether every call (and the final
 * result) matches. Exit 0 when it matches, 3 when it does not. On a shared database (PostgreSQL),
 * the run is read into a read-only snapshot (shared-read.ts) and replayed from there, the same way.
 */
import { existsSync } from 'node:fs';
import type { Engine } from '../../engine/index.js';
import { CliError } from '../errors.js';
import type { CliIo, EngineCliOptions } from '../engine-options.js';
import { openRunView } from '../shared-read.js';

export interface ReplayOptions extends EngineCliOptions {
  /** A workflow file to replay against instead of the stored script. */
  readonly workflow?: string;
}

/** Exit code of a replay that does not match its history. */
export const REPLAY_MISMATCH = 3;

export async function replayCommand(runId: string, opts: ReplayOptions, io: CliIo): Promise<number> {
  if (opts.workflow !== undefined && !existsSync(opts.workflow)) throw new CliError(`cannot read workflow file ${opts.workflow}: no such file`);
  const view = await openRunView(opts, runId);
  const engine = view.engine;
  try {
    runId = view.runId;
    const against = opts.workflow !== undefined ? opts.workflow : 'the script it was recorded with';
    const report = await engine.replayAsync(runId, opts.workflow !== undefined ? { file: opts.workflow } : {});
    if (report.ok) {
      io.out(`OK: run ${runId} replays against ${against} (${report.events} events match)\n`);
      return 0;
    }
    io.out(await renderMismatch(engine, runId, report.mismatch!, { script: opts.workflow, headline: `MISMATCH: run ${runId} does not replay against ${against}` }));
    return REPLAY_MISMATCH;
  } finally {
    await view.close();
  }
}

/**
 * A mismatch between a run's history and a script, as `larkflow replay RUN` prints it: the headline,
 * the engine's message, then the details larkflow/testing finds (the recorded and the new call, where
 * their arguments differ). Also used by `resume --workflow FILE` when the steps it would reuse do not
 * replay against FILE.
 * @param options.script the changed workflow file (default: the run's stored script)
 * @param options.onlyStep show the details only when their first mismatch is at this step
 */
export async function renderMismatch(
  engine: Engine,
  runId: string,
  mismatch: { readonly message: string },
  options: { readonly headline: string; readonly script?: string | undefined; readonly onlyStep?: string | undefined },
): Promise<string> {
  let text = `${options.headline}\n${mismatch.message}\n`;
  // The details (recorded vs new call, where arguments differ), as larkflow/testing reports them.
  try {
    const { replayHistory, formatReplayReport } = await import('../../testing/replay.js');
    const history = engine.history(runId);
    let script: string | { name: string; text: string; files: Record<string, string> } | undefined = options.script;
    if (script === undefined) {
      const started = history[0] as { scriptDigest?: string };
      const files = started.scriptDigest ? engine.store.getScript(started.scriptDigest) : undefined;
      if (files && files.length > 0) script = { name: files[0]!.path, text: files[0]!.text, files: Object.fromEntries(files.slice(1).map((f) => [f.path, f.text])) };
    }
    if (script !== undefined) {
      const detail = await replayHistory(script, history);
      const first = detail.mismatches[0];
      if (!detail.ok && (options.onlyStep === undefined || first?.stepId === options.onlyStep || first?.recordedStepId === options.onlyStep)) {
        text += formatReplayReport(detail).split('\n').slice(1).join('\n') + '\n';
      }
    }
  } catch {
    // the summary above is the answer; details are a bonus
  }
  return text;
}
