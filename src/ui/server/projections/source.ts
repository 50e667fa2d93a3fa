/**
 * This file projects a run onto its pinned script: the stored files (by the run's script digest)
 * and marks on them: each task call site coloured by the state of its calls (a fan-out is one mark),
 * the lines where a running workflow waits now (the last recorded `waitingAt`), and the line of a
 * nondeterminism or of the workflow's own error. It needs no live worker: all of it is history.
 */
import type { HistoryEvent, ScriptFile } from '../../../engine/index.js';
import type { Source, SourceMark, Step, StepState } from '../../api-types.js';

const WORST: readonly StepState[] = ['failed', 'running', 'retrying', 'scheduled', 'cancelled', 'completed', 'cached'];

export function sourceMarks(history: readonly HistoryEvent[], steps: readonly Step[]): SourceMark[] {
  const marks: SourceMark[] = [];
  const bySite = new Map<string, Step[]>();
  for (const s of steps) {
    if (!s.site) continue;
    const k = `${s.site.file}:${s.site.line}:${s.site.column}`;
    const list = bySite.get(k);
    if (list) list.push(s);
    else bySite.set(k, [s]);
  }
  for (const list of bySite.values()) {
    const first = list[0]!;
    const counts = new Map<StepState, number>();
    for (const s of list) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
    const state = WORST.find((st) => counts.has(st)) ?? first.state;
    const what = first.kind === 'timer' ? 'sleep' : first.kind === 'child' ? `child run of ${first.task}` : first.task;
    const message = list.length === 1 ? `${what}: ${first.stepId} ${first.state}` : `${what} ×${list.length}: ${[...counts].map(([st, n]) => `${n} ${st}`).join(', ')}`;
    marks.push({ file: first.site!.file, line: first.site!.line, column: first.site!.column, kind: 'task', state, stepId: first.stepId, message });
  }
  let waiting: HistoryEvent['waitingAt'];
  let ended = false;
  for (const e of history) {
    if (e.waitingAt) waiting = e.waitingAt;
    switch (e.kind) {
      case 'RunCompleted':
      case 'RunCancelled':
        ended = true;
        break;
      case 'RunFailed':
        ended = true;
        if (e.error.file !== undefined && e.error.line !== undefined) {
          marks.push({ file: e.error.file, line: e.error.line, column: e.error.column ?? 1, kind: 'error', message: e.error.message });
        }
        break;
      case 'NondeterminismDetected':
        ended = true;
        if (e.callSite) marks.push({ file: e.callSite.file, line: e.callSite.line, column: e.callSite.column, kind: 'error', message: e.message, ...(e.stepId ? { stepId: e.stepId } : {}) });
        break;
      default:
        break;
    }
  }
  if (!ended && waiting) {
    for (const w of waiting) marks.push({ file: w.file, line: w.line, column: w.column, kind: 'waiting', message: `waiting here${w.stack && w.stack.length > 0 ? ` (in ${w.stack[w.stack.length - 1]})` : ''}` });
  }
  return marks.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column));
}

/** The Source tab: the stored files of the run's script and the marks. */
export function projectSource(history: readonly HistoryEvent[], steps: readonly Step[], files: readonly ScriptFile[] | undefined): Source {
  const started = history[0]?.kind === 'RunStarted' ? history[0] : undefined;
  return {
    digest: started?.scriptDigest ?? '',
    entry: files?.[0]?.path ?? started?.file ?? '',
    files: (files ?? []).map((f) => ({ path: f.path, text: f.text })),
    marks: sourceMarks(history, steps),
  };
}
