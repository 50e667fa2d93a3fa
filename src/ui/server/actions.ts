/**
 * This file performs the page's actions on the engine, each also said as its CLI command: cancel a
 * run (with a reason), retry its failed step (a resumed run from that step), resume it from a
 * chosen step, and run its stored script again with the same or edited inputs. Runs it starts are
 * driven by the server's engine; `prepare` gives that engine what a run's tasks need first (the CLI
 * sets up the run's remote executors, as `larkflow resume` does).
 */
import type { Engine, HistoryEvent, RunStarted } from '../../engine/index.js';
import { historyToJs } from '../../engine/workflow/convert.js';
import type { ActionResult } from '../api-types.js';
import { HttpError } from './http.js';
import { shellQuote } from './projections/run.js';

export interface ActionContext {
  readonly engine: Engine;
  /** The `--db` argument of the CLI lines ('' for none). */
  readonly dbArg: string;
  /** Called before a run starts or resumes on the engine (executors it needs). */
  readonly prepare?: (runId: string, started: RunStarted) => Promise<void>;
  /** A run's first event, read alone (default: from the store's history). */
  readonly first?: (runId: string) => HistoryEvent | undefined;
}

function dbFlag(ctx: ActionContext): string {
  return ctx.dbArg ? ` --db ${shellQuote(ctx.dbArg)}` : '';
}

function startedOf(ctx: ActionContext, runId: string): RunStarted {
  const rec = ctx.engine.store.getRun(runId);
  if (!rec) throw new HttpError(404, `no run ${runId}`, 'see the runs list for the ids');
  const first = ctx.first ? ctx.first(runId) : ctx.engine.store.history(runId, 1)[0];
  if (first?.kind !== 'RunStarted') throw new HttpError(404, `no run ${runId}`, 'see the runs list for the ids');
  return first;
}

function stringField(body: unknown, name: string): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'the request body must be a JSON object', 'send {"...": ...}');
  const v = (body as Record<string, unknown>)[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new HttpError(400, `${name} must be a string`, `send {"${name}": "..."}`);
  return v;
}

/** Ends the promise of a started run quietly: its outcome is in its history. */
function detach(result: Promise<unknown>): void {
  result.catch(() => undefined);
}

export function cancelRun(ctx: ActionContext, runId: string, body: unknown): ActionResult {
  const reason = stringField(body, 'reason')?.trim() || 'cancelled from larkflow ui';
  const rec = ctx.engine.store.getRun(runId);
  if (!rec) throw new HttpError(404, `no run ${runId}`, 'see the runs list for the ids');
  if (rec.status !== 'running') throw new HttpError(409, `run ${runId} has already ${rec.status === 'blocked' ? 'blocked' : `ended (${rec.status})`}; nothing to cancel`, 'only running runs can be cancelled');
  ctx.engine.cancel(runId, reason);
  return { ok: true, cli: `larkflow cancel ${runId} --reason ${shellQuote(reason)}${dbFlag(ctx)}` };
}

/** The step id a request names: a step id, or a task name for its first call (as `larkflow resume --from`). */
function stepOf(history: readonly HistoryEvent[], runId: string, step: string): string {
  const ids = new Set<string>();
  for (const e of history) if (e.kind === 'TaskScheduled' || e.kind === 'TimerStarted' || e.kind === 'ChildRunStarted') ids.add(e.stepId);
  if (ids.has(step)) return step;
  if (!step.includes('#') && ids.has(`${step}#1`)) return `${step}#1`;
  throw new HttpError(400, `run ${runId} has no step ${step}`, 'pick a step of the run (see its Steps tab)');
}

async function resumeFrom(ctx: ActionContext, runId: string, fromStep: string | undefined): Promise<ActionResult> {
  const started = startedOf(ctx, runId);
  const rec = ctx.engine.store.getRun(runId)!;
  if (rec.status === 'running') throw new HttpError(409, `run ${runId} is still running`, 'cancel it first, or wait for it to end');
  await ctx.prepare?.(runId, started);
  const handle = ctx.engine.resume(runId, fromStep !== undefined ? { fromStep } : {});
  detach(handle.result);
  return { ok: true, runId: handle.runId, cli: `larkflow resume ${runId}${fromStep !== undefined ? ` --from ${shellQuote(fromStep)}` : ''}${dbFlag(ctx)}` };
}

export async function retryRun(ctx: ActionContext, runId: string, body: unknown): Promise<ActionResult> {
  const requested = stringField(body, 'step');
  const history = ctx.engine.store.history(runId);
  if (history.length === 0) throw new HttpError(404, `no run ${runId}`, 'see the runs list for the ids');
  const failed = new Set<string>();
  for (const e of history) if (e.kind === 'TaskFailed' || e.kind === 'ChildRunFailed') failed.add(e.stepId);
  if (requested !== undefined) {
    const step = stepOf(history, runId, requested);
    if (!failed.has(step)) throw new HttpError(409, `step ${step} of run ${runId} did not fail`, 'retry a failed step, or resume from this step');
    return resumeFrom(ctx, runId, step);
  }
  if (failed.size === 0) throw new HttpError(409, `run ${runId} has no failed step to retry`, 'resume it from a chosen step, or re-run it');
  return resumeFrom(ctx, runId, undefined);
}

export async function resumeRun(ctx: ActionContext, runId: string, body: unknown): Promise<ActionResult> {
  const requested = stringField(body, 'fromStep');
  if (requested === undefined) throw new HttpError(400, 'resume needs fromStep', 'send {"fromStep": "train#1"}');
  const history = ctx.engine.store.history(runId);
  if (history.length === 0) throw new HttpError(404, `no run ${runId}`, 'see the runs list for the ids');
  return resumeFrom(ctx, runId, stepOf(history, runId, requested));
}

export async function rerunRun(ctx: ActionContext, runId: string, body: unknown): Promise<ActionResult> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'the request body must be a JSON object', 'send {} or {"kwargs": {...}}');
  const b = body as { args?: unknown; kwargs?: unknown };
  if (b.args !== undefined && !Array.isArray(b.args)) throw new HttpError(400, 'args must be an array', 'send {"args": [...]}');
  if (b.kwargs !== undefined && (b.kwargs === null || typeof b.kwargs !== 'object' || Array.isArray(b.kwargs))) throw new HttpError(400, 'kwargs must be an object', 'send {"kwargs": {...}}');
  const started = startedOf(ctx, runId);
  const files = ctx.engine.store.getScript(started.scriptDigest);
  if (!files || files.length === 0) throw new HttpError(409, `the script of run ${runId} is missing from the database`, `run the workflow file again: larkflow run ${started.file}`);
  const [main, ...rest] = files;
  const args = (b.args as unknown[] | undefined) ?? (started.args.map((a) => historyToJs(a)));
  const kwargs = (b.kwargs as Record<string, unknown> | undefined) ?? (historyToJs(started.kwargs as never) as Record<string, unknown>);
  await ctx.prepare?.(runId, started);
  const handle = ctx.engine.start({
    source: { name: main!.path, text: main!.text, files: Object.fromEntries(rest.map((f) => [f.path, f.text])) },
    workflow: started.workflow,
    args,
    kwargs,
    env: started.env,
    ...(started.codeDir !== undefined ? { codeDir: started.codeDir } : {}),
    ...(started.remote !== undefined ? { remote: started.remote } : {}),
    ...(started.cacheMode !== undefined ? { cache: started.cacheMode } : {}),
  });
  detach(handle.result);
  const input = args.length > 0 ? JSON.stringify(args) : JSON.stringify(kwargs);
  const env = Object.entries(started.env).map(([k, v]) => ` --env ${shellQuote(`${k}=${v}`)}`).join('');
  return { ok: true, runId: handle.runId, cli: `larkflow run ${shellQuote(started.file)} --workflow ${shellQuote(started.workflow)} --input ${shellQuote(input)}${env}${dbFlag(ctx)}` };
}
