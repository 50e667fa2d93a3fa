/**
 * This file projects a run's history onto its steps, in call order: each task call, durable sleep
 * and child run with its state, attempts (executor, remote job id, logs, error), cache badge,
 * inputs and output (large ones as references), data-flow dependencies and fan-out group. Pure: the
 * history in, `Step[]` out; the cache index is asked through a function.
 *
 * A fan-out group is the task calls (or child runs) one activation of the workflow started from one call site
 * (`[run(train, x) for x in xs]`): the TaskScheduled events between two activation events (the
 * events that woke the workflow) that share a file, line and column. Only groups of two or more
 * calls are named.
 */
import type { CallSite, ErrorInfo, HistoryEvent, Json } from '../../../engine/index.js';
import { ACTIVATION_KINDS } from '../../../engine/workflow/replay.js';
import type { Attempt, CallSiteJson, JsonValue, PayloadRef, Step, StepState } from '../../api-types.js';
import { inlineOrRef, payloadUrl } from './payload.js';

/** What step projection asks of the world outside the history. */
export interface StepContext {
  readonly runId: string;
  /** The run that produced the cache entry under `key`, if the cache index knows it. */
  readonly cacheSource?: (key: string) => string | undefined;
  /** The run this one resumed (reused steps link to it). */
  readonly resumedFrom?: string;
  readonly inlineLimit?: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type MutableStep = Mutable<Omit<Step, 'attempts'>> & { attempts: MutableAttempt[]; groupKey?: string | undefined };
type MutableAttempt = Mutable<Attempt>;

export function siteJson(c: CallSite | undefined): CallSiteJson | undefined {
  if (!c) return undefined;
  return { file: c.file, line: c.line, column: c.column, ...(c.stack ? { stack: [...c.stack] } : {}) };
}

export function errorJson(e: ErrorInfo): { kind: string; message: string; details?: string } {
  return { kind: e.kind, message: e.message, ...(e.details !== undefined ? { details: e.details } : {}) };
}

function inputsOf(runId: string, seq: number, args: readonly Json[], kwargs: { readonly [k: string]: Json }, limit: number | undefined): Step['input'] {
  const a: (JsonValue | PayloadRef)[] = args.map((v, i) => inlineOrRef(v, () => payloadUrl(runId, seq, `args.${i}`), limit));
  const k: { [name: string]: JsonValue | PayloadRef } = {};
  for (const [name, v] of Object.entries(kwargs)) k[name] = inlineOrRef(v, () => payloadUrl(runId, seq, `kwargs.${name}`), limit);
  return { args: a, kwargs: k };
}

const ENDED: ReadonlySet<StepState> = new Set(['completed', 'failed', 'cached', 'cancelled']);

/** The steps of a history, in call order. */
export function projectSteps(history: readonly HistoryEvent[], ctx: StepContext): Step[] {
  const steps = new Map<string, MutableStep>();
  const order: MutableStep[] = [];
  let activation = 0;
  const limit = ctx.inlineLimit;
  const add = (s: MutableStep): void => {
    steps.set(s.stepId, s);
    order.push(s);
  };
  for (const e of history) {
    if (ACTIVATION_KINDS.has(e.kind)) activation = e.seq;
    switch (e.kind) {
      case 'TaskScheduled': {
        const deps = [...new Set(e.inputsFrom.map((o) => o.step))];
        add({
          stepId: e.stepId,
          kind: 'task',
          task: e.task,
          seq: e.seq,
          ...(e.callSite ? { site: siteJson(e.callSite)! } : {}),
          state: 'scheduled',
          attempts: [],
          maxAttempts: e.retry.maxAttempts,
          executor: e.executor,
          cache: e.cacheKey !== undefined ? { outcome: 'miss', key: e.cacheKey, ...(e.cacheKeyParts ? { parts: e.cacheKeyParts } : {}) } : { outcome: 'off' },
          input: inputsOf(ctx.runId, e.seq, e.args, e.kwargs, limit),
          startedAt: e.at,
          deps,
          argsDigest: e.argsDigest,
          ...(e.resources ? { resources: e.resources as unknown as JsonValue } : {}),
          groupKey: e.callSite ? `${activation}|${e.callSite.file}:${e.callSite.line}:${e.callSite.column}` : undefined,
        });
        break;
      }
      case 'AttemptStarted': {
        const s = steps.get(e.stepId);
        if (!s) break;
        s.state = 'running';
        delete s.fireAt;
        s.attempts.push({ attempt: e.attempt, startedAt: e.at, executor: e.executor, ...(e.logs ? { logs: e.logs } : {}) });
        break;
      }
      case 'AttemptSubmitted': {
        const a = steps.get(e.stepId)?.attempts.find((x) => x.attempt === e.attempt);
        if (a) a.backendId = e.backendId;
        break;
      }
      case 'AttemptHeartbeat': {
        const s = steps.get(e.stepId);
        if (s) s.heartbeat = { at: e.at, details: e.details as JsonValue };
        break;
      }
      case 'AttemptFailed': {
        const s = steps.get(e.stepId);
        const a = s?.attempts.find((x) => x.attempt === e.attempt);
        if (a) {
          a.endedAt = e.at;
          a.outcome = 'failed';
          a.error = errorJson(e.error);
        }
        if (s && e.error.kind === 'cancelled' && s.state === 'running') {
          s.state = 'cancelled';
          s.endedAt = e.at;
          s.error = errorJson(e.error);
        }
        break;
      }
      case 'RetryScheduled': {
        const s = steps.get(e.stepId);
        if (!s) break;
        s.state = 'retrying';
        s.fireAt = e.fireAt;
        break;
      }
      case 'TaskCompleted': {
        const s = steps.get(e.stepId);
        if (!s) break;
        s.state = e.source === 'cache' ? 'cached' : 'completed';
        s.source = e.source;
        s.endedAt = e.at;
        s.output = inlineOrRef(e.result, () => payloadUrl(ctx.runId, e.seq, 'result'), limit);
        const a = s.attempts.find((x) => x.attempt === e.attempt);
        if (a) {
          a.endedAt = e.at;
          a.outcome = 'ok';
        }
        const key = s.cache?.key;
        const parts = s.cache?.parts ? { parts: s.cache.parts } : {};
        // The producing run is recorded on the hit (older histories: asked of the cache index).
        if (e.source === 'cache')
          s.cache = { outcome: 'hit', ...(key !== undefined ? { key } : {}), ...parts, ...(e.cachedFrom && e.cachedFrom.runId !== ctx.runId ? { sourceRunId: e.cachedFrom.runId } : e.cachedFrom ? {} : sourceRun(key, ctx)) };
        else if (e.source === 'executed' && key !== undefined) s.cache = { outcome: 'written', key, ...parts };
        else if (e.source === 'reused') {
          s.cache = { outcome: 'off', ...(key !== undefined ? { key } : {}), ...(ctx.resumedFrom ? { sourceRunId: ctx.resumedFrom } : {}) };
        }
        break;
      }
      case 'TaskFailed': {
        const s = steps.get(e.stepId);
        if (!s) break;
        s.state = 'failed';
        s.endedAt = e.at;
        s.error = errorJson(e.error);
        break;
      }
      case 'TimerStarted':
        add({
          stepId: e.stepId,
          kind: 'timer',
          task: 'sleep',
          seq: e.seq,
          site: siteJson(e.callSite)!,
          state: 'running',
          attempts: [],
          input: { args: [], kwargs: { durationMs: e.durationMs } },
          startedAt: e.at,
          fireAt: e.fireAt,
          deps: [],
        });
        break;
      case 'TimerFired': {
        const s = steps.get(e.stepId);
        if (!s) break;
        s.state = 'completed';
        s.endedAt = e.at;
        break;
      }
      case 'ChildRunStarted':
        add({
          stepId: e.stepId,
          kind: 'child',
          task: e.workflow,
          seq: e.seq,
          site: siteJson(e.callSite)!,
          state: 'running',
          attempts: [],
          input: inputsOf(ctx.runId, e.seq, e.args, e.kwargs, limit),
          startedAt: e.at,
          deps: [],
          childRunId: e.childRunId,
          groupKey: `${activation}|${e.callSite.file}:${e.callSite.line}:${e.callSite.column}`,
        });
        break;
      case 'ChildRunCompleted': {
        const s = steps.get(e.stepId);
        if (!s) break;
        s.state = 'completed';
        s.endedAt = e.at;
        s.output = inlineOrRef(e.result, () => payloadUrl(ctx.runId, e.seq, 'result'), limit);
        break;
      }
      case 'ChildRunFailed': {
        const s = steps.get(e.stepId);
        if (!s) break;
        s.state = 'failed';
        s.endedAt = e.at;
        s.error = errorJson(e.error);
        break;
      }
      case 'RunCancelled':
        for (const s of order) {
          if (ENDED.has(s.state)) continue;
          s.state = 'cancelled';
          s.endedAt = e.at;
          for (const a of s.attempts) a.endedAt ??= e.at;
        }
        break;
      default:
        break;
    }
  }
  // Name the fan-out groups (two or more calls of one activation from one call site).
  const members = new Map<string, MutableStep[]>();
  for (const s of order) {
    if (s.groupKey === undefined) continue;
    const list = members.get(s.groupKey);
    if (list) list.push(s);
    else members.set(s.groupKey, [s]);
  }
  for (const list of members.values()) {
    if (list.length < 2) continue;
    const id = `${list[0]!.task}@${list[0]!.seq}`;
    for (const s of list) s.group = id;
  }
  return order.map(({ groupKey: _groupKey, ...s }) => s as Step);
}

function sourceRun(key: string | undefined, ctx: StepContext): { sourceRunId?: string } {
  if (key === undefined || !ctx.cacheSource) return {};
  const run = ctx.cacheSource(key);
  return run !== undefined && run !== ctx.runId ? { sourceRunId: run } : {};
}
