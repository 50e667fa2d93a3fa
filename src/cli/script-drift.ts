/**
 * This file defines the check behind "the script of run X differs from FILE on disk": `resume` and
 * `worker` run a run's *stored* script (the code it started with), which silently ignores an edited
 * workflow file. The run records its main file's name (not its directory), so the file looked at is
 * that name under the current directory; when it is not there (or does not load), nothing is said.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { collectScript, type Engine, type RunStarted } from '../engine/index.js';

/** How a run's stored script differs from the file on disk. */
export interface ScriptDrift {
  readonly runId: string;
  /** The file on disk, as the user would type it (relative to the current directory). */
  readonly file: string;
  readonly storedDigest: string;
  readonly fileDigest: string;
}

/** The drift of a run's stored script from its file on disk, or undefined (same, or no file to compare). */
export function scriptDrift(engine: Engine, runId: string, cwd = process.cwd()): ScriptDrift | undefined {
  let started: RunStarted;
  try {
    started = engine.history(runId)[0] as RunStarted;
  } catch {
    return undefined;
  }
  if (!started || started.kind !== 'RunStarted' || !started.file) return undefined;
  const path = isAbsolute(started.file) ? started.file : resolve(cwd, started.file);
  if (!existsSync(path)) return undefined;
  let fileDigest: string;
  try {
    fileDigest = collectScript(path).digest;
  } catch {
    return undefined; // a file it loads is gone: not the same script, but nothing sure to say
  }
  if (fileDigest === started.scriptDigest) return undefined;
  return { runId, file: started.file, storedDigest: started.scriptDigest, fileDigest };
}

/** "the script of run X differs from FILE on disk (stored digest abc…, file digest def…)" */
export function driftText(d: ScriptDrift): string {
  return `the script of run ${d.runId} differs from ${d.file} on disk (stored digest ${d.storedDigest.slice(0, 12)}…, file digest ${d.fileDigest.slice(0, 12)}…)`;
}
