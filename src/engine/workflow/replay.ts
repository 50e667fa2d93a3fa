/**
 * This file defines replay: driving a fresh machine with a recorded history and checking that the
 * script makes exactly the calls the history recorded, in the same order, with the same arguments.
 * Scheduling events (TaskScheduled, TimerStarted, ...) are the records of commands; activation events
 * (RunStarted, TaskCompleted, ...) are fed to the machine; attempt bookkeeping is the driver's and is
 * skipped. The first difference is reported as nondeterminism, naming the step, the recorded and the
 * new call, and the new call's file:line.
 */
import { canonicalJson } from '../../util/hash.js';
import { COMMAND_EVENT_KINDS, commandMatchesEvent, describeCommand, describeEvent, type Command } from '../core/commands.js';
import { NondeterminismError } from '../core/errors.js';
import type { CallSite, HistoryEvent } from '../core/events.js';
import type { Json } from '../core/json.js';
import type { WorkflowMachine } from './machine.js';

/** Events that wake the workflow. */
export const ACTIVATION_KINDS: ReadonlySet<string> = new Set([
  'RunStarted',
  'TaskCompleted',
  'TaskFailed',
  'TimerFired',
  'ChildRunCompleted',
  'ChildRunFailed',
  'CancelRequested',
  'SignalReceived',
]);

/** The outcome of replaying a history. */
export interface ReplayOutcome {
  /** Commands the script made after the history ended (new work, for a live run). */
  readonly pending: Command[];
  /** The first mismatch, if any. */
  readonly mismatch?: NondeterminismError;
}

function siteText(c: Command): { site?: CallSite; text: string } {
  const site = 'callSite' in c ? c.callSite : undefined;
  return site ? { site, text: ` at ${site.file}:${site.line}` } : { text: '' };
}

/** Replays `history` through `machine` (which must be fresh). */
export function replayHistory(machine: WorkflowMachine, history: readonly HistoryEvent[]): ReplayOutcome {
  const queue: Command[] = [];
  const canonical = (v: Json): string => canonicalJson(v);
  for (const e of history) {
    if (COMMAND_EVENT_KINDS.has(e.kind)) {
      const c = queue.shift();
      if (!c) {
        const stepId = 'stepId' in e ? (e.stepId as string) : undefined;
        return {
          pending: [],
          mismatch: new NondeterminismError(
            `nondeterminism${stepId ? ` at step ${stepId}` : ''}: history records ${describeEvent(e)} (event ${e.seq}), but the script made no such call`,
            stepId,
            describeEvent(e),
            undefined,
          ),
        };
      }
      if (!commandMatchesEvent(c, e, canonical)) {
        const stepId = ('stepId' in c ? c.stepId : undefined) ?? ('stepId' in e ? (e.stepId as string) : undefined);
        const { site, text } = siteText(c);
        return {
          pending: [],
          mismatch: new NondeterminismError(
            `nondeterminism${stepId ? ` at step ${stepId}` : ''}${text}: history records ${describeEvent(e)} (event ${e.seq}), but the script now makes ${describeCommand(c)}`,
            stepId,
            describeEvent(e),
            describeCommand(c),
            site,
          ),
        };
      }
    } else if (ACTIVATION_KINDS.has(e.kind)) {
      try {
        queue.push(...machine.activate(e));
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        return {
          pending: [],
          mismatch: new NondeterminismError(`replay failed at event ${e.seq} (${e.kind}): ${msg}`, 'stepId' in e ? (e.stepId as string) : undefined, e.kind, undefined),
        };
      }
    }
  }
  return { pending: queue };
}
