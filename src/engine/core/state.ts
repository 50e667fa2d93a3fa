/**
 * This file defines the state of a run folded from its history: what `larkflow show` prints, what
 * recovery needs to restart in-flight work, and what drawing a run's graph reads. The fold is pure and
 * its result immutable (immer): `foldHistory(events)` equals folding `applyEvent` one event at a time.
 */
import { produce, type Draft } from 'immer';
import type { ArgOrigin, CallSite, ErrorInfo, HistoryEvent, RunStatus, TaskResources } from './events.js';
import type { Json } from './json.js';

/** Where a step stands. `cancelled`: the run was cancelled while the step had not ended. */
export type StepStatus = 'scheduled' | 'running' | 'retrying' | 'completed' | 'failed' | 'waiting' | 'cancelled';

export interface AttemptState {
  readonly attempt: number;
  readonly executor: string;
  readonly handle: string;
  readonly startedAt: number;
  readonly endedAt?: number;
  readonly logs?: string;
  readonly error?: ErrorInfo;
  /** The latest heartbeat of the attempt (`ctx.heartbeat`). */
  readonly heartbeat?: { readonly at: number; readonly details: Json };
  /** A remote attempt's job (AttemptSubmitted). */
  readonly job?: { readonly executor: string; readonly submissionId: string; readonly backendId: string; readonly backendUid?: string };
}

export interface StepState {
  readonly stepId: string;
  readonly kind: 'task' | 'timer' | 'child';
  /** Task or workflow name ('sleep' for timers). */
  readonly name: string;
  readonly status: StepStatus;
  readonly scheduledAt: number;
  readonly endedAt?: number;
  readonly callSite?: CallSite;
  readonly inputsFrom: readonly ArgOrigin[];
  readonly argsDigest?: string;
  /** A remote task's resources (`config = KubernetesTask(...)`). */
  readonly resources?: TaskResources;
  readonly attempts: readonly AttemptState[];
  readonly result?: Json;
  readonly source?: 'executed' | 'cache' | 'reused';
  readonly error?: ErrorInfo;
  /** For retry waits and timers: when the timer fires. */
  readonly fireAt?: number;
  readonly childRunId?: string;
}

export interface RunState {
  readonly runId: string;
  readonly workflow: string;
  readonly status: RunStatus;
  readonly startedAt: number;
  readonly endedAt?: number;
  /** Step ids in scheduling order. */
  readonly order: readonly string[];
  readonly steps: { readonly [stepId: string]: StepState };
  readonly progress: readonly string[];
  /** Keys the workflow published (`events.set`), with their latest values. */
  readonly events: { readonly [key: string]: Json };
  /** Signals delivered, in order (name and payload), the last 50. */
  readonly signals: readonly { readonly name: string; readonly payload: Json; readonly at: number }[];
  readonly cancelRequested?: string;
  /** Why the run was cancelled. */
  readonly cancelReason?: string;
  readonly result?: Json;
  readonly error?: ErrorInfo;
  readonly lastSeq: number;
  /** Where the workflow waits, as last recorded (empty once it has ended). */
  readonly waitingAt?: readonly CallSite[];
}

export const EMPTY_RUN: RunState = {
  runId: '',
  workflow: '',
  status: 'running',
  startedAt: 0,
  order: [],
  steps: {},
  progress: [],
  events: {},
  signals: [],
  lastSeq: 0,
};

type S = Draft<RunState>;

function step(s: S, id: string): Draft<StepState> | undefined {
  return s.steps[id];
}

/** Applies one event to a draft (the body of the fold). */
function apply(s: S, e: HistoryEvent): void {
  s.lastSeq = e.seq;
  if (e.waitingAt) s.waitingAt = e.waitingAt as Draft<CallSite>[];
  switch (e.kind) {
    case 'RunStarted':
      s.runId = e.runId;
      s.workflow = e.workflow;
      s.startedAt = e.at;
      s.status = 'running';
      return;
    case 'TaskScheduled':
      s.order.push(e.stepId);
      s.steps[e.stepId] = {
        stepId: e.stepId,
        kind: 'task',
        name: e.task,
        status: 'scheduled',
        scheduledAt: e.at,
        callSite: e.callSite as Draft<CallSite>,
        inputsFrom: [...e.inputsFrom],
        argsDigest: e.argsDigest,
        ...(e.resources ? { resources: e.resources as Draft<TaskResources> } : {}),
        attempts: [],
      };
      return;
    case 'AttemptStarted': {
      const st = step(s, e.stepId);
      if (!st) return;
      st.status = 'running';
      delete st.fireAt;
      st.attempts.push({ attempt: e.attempt, executor: e.executor, handle: e.handle, startedAt: e.at, ...(e.logs ? { logs: e.logs } : {}) });
      return;
    }
    case 'AttemptHeartbeat': {
      const a = step(s, e.stepId)?.attempts.find((x) => x.attempt === e.attempt);
      if (a) a.heartbeat = { at: e.at, details: e.details as Draft<Json> };
      return;
    }
    case 'AttemptSubmitted': {
      const a = step(s, e.stepId)?.attempts.find((x) => x.attempt === e.attempt);
      if (a) a.job = { executor: e.executor, submissionId: e.submissionId, backendId: e.backendId, ...(e.backendUid ? { backendUid: e.backendUid } : {}) };
      return;
    }
    case 'AttemptFailed': {
      const st = step(s, e.stepId);
      const a = st?.attempts.find((x) => x.attempt === e.attempt);
      if (a) {
        a.endedAt = e.at;
        a.error = e.error;
      }
      // The attempt a cancellation stopped (the run's cancel records it): the step ends with it.
      if (st && e.error.kind === 'cancelled' && st.status === 'running') {
        st.status = 'cancelled';
        st.endedAt = e.at;
        st.error = e.error;
      }
      return;
    }
    case 'RetryScheduled': {
      const st = step(s, e.stepId);
      if (!st) return;
      st.status = 'retrying';
      st.fireAt = e.fireAt;
      return;
    }
    case 'TaskCompleted': {
      const st = step(s, e.stepId);
      if (!st) return;
      st.status = 'completed';
      st.endedAt = e.at;
      st.result = e.result;
      st.source = e.source;
      const a = st.attempts.find((x) => x.attempt === e.attempt);
      if (a) a.endedAt = e.at;
      return;
    }
    case 'TaskFailed': {
      const st = step(s, e.stepId);
      if (!st) return;
      st.status = 'failed';
      st.endedAt = e.at;
      st.error = e.error;
      return;
    }
    case 'TimerStarted':
      s.order.push(e.stepId);
      s.steps[e.stepId] = { stepId: e.stepId, kind: 'timer', name: 'sleep', status: 'waiting', scheduledAt: e.at, callSite: e.callSite as Draft<CallSite>, inputsFrom: [], attempts: [], fireAt: e.fireAt };
      return;
    case 'TimerFired': {
      const st = step(s, e.stepId);
      if (!st) return;
      st.status = 'completed';
      st.endedAt = e.at;
      return;
    }
    case 'ChildRunStarted':
      s.order.push(e.stepId);
      s.steps[e.stepId] = { stepId: e.stepId, kind: 'child', name: e.workflow, status: 'running', scheduledAt: e.at, callSite: e.callSite as Draft<CallSite>, inputsFrom: [], attempts: [], childRunId: e.childRunId };
      return;
    case 'ChildRunCompleted': {
      const st = step(s, e.stepId);
      if (!st) return;
      st.status = 'completed';
      st.endedAt = e.at;
      st.result = e.result;
      return;
    }
    case 'ChildRunFailed': {
      const st = step(s, e.stepId);
      if (!st) return;
      st.status = 'failed';
      st.endedAt = e.at;
      st.error = e.error;
      return;
    }
    case 'ProgressReported':
      s.progress.push(e.message);
      if (s.progress.length > 20) s.progress.shift();
      return;
    case 'EventSet':
      s.events[e.key] = e.value as Draft<Json>;
      return;
    case 'UpdateCompleted':
      return;
    case 'SignalReceived':
      if (e.name.startsWith('__update__:')) return; // an update (UpdateCompleted records its end)
      s.signals.push({ name: e.name, payload: e.payload as Draft<Json>, at: e.at });
      if (s.signals.length > 50) s.signals.shift();
      return;
    case 'CancelRequested':
      s.cancelRequested = e.reason;
      return;
    case 'NondeterminismDetected':
      s.status = 'blocked';
      s.error = { kind: 'nondeterminism', message: e.message, retryable: false };
      return;
    case 'RunCompleted':
      s.status = 'completed';
      delete s.waitingAt;
      s.endedAt = e.at;
      s.result = e.result;
      return;
    case 'RunFailed':
      s.status = 'failed';
      delete s.waitingAt;
      s.endedAt = e.at;
      s.error = e.error;
      return;
    case 'RunCancelled':
      s.status = 'cancelled';
      delete s.waitingAt;
      s.endedAt = e.at;
      s.cancelReason = e.reason;
      // Steps that had not ended never will: they were cancelled with the run.
      for (const id of s.order) {
        const st = s.steps[id]!;
        if (st.status === 'completed' || st.status === 'failed' || st.status === 'cancelled') continue;
        st.status = 'cancelled';
        st.endedAt = e.at;
        for (const a of st.attempts) a.endedAt ??= e.at;
      }
      return;
    case 'NotificationsQueued':
      // Bookkeeping: the outbox holds the notifications' delivery state.
      return;
    default: {
      const never: never = e;
      throw new Error(`unknown event ${(never as HistoryEvent).kind}`);
    }
  }
}

/** Applies events to a state, returning a new immutable state. */
export function applyEvents(state: RunState, events: readonly HistoryEvent[]): RunState {
  return produce(state, (d) => {
    for (const e of events) apply(d, e);
  });
}

/** Folds a whole history. */
export function foldHistory(events: readonly HistoryEvent[]): RunState {
  return applyEvents(EMPTY_RUN, events);
}
