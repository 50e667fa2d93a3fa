/**
 * Faults across workers that run their tasks through the shared task queue (PostgreSQL; scale-out
 * notes §5.3): 4 worker processes (fixtures/pg-task-worker.mjs) drive 40 runs of `count(10)`,
 * every `step` attempt a row of `tasks` that any worker's poller runs, its result coming back
 * through the run's inbox (`__task_result__`); runs waiting on a ~300 ms step are parked. One
 * worker is killed (SIGKILL) with tasks in flight, another frozen (SIGSTOP) with tasks in flight
 * for 1.5 leases, then woken (SIGCONT). From the database and the workers' logs:
 *
 * - every run completes with its fault-free result;
 * - each history is contiguous, every `__task_result__` receipt is followed by the end of the
 *   attempt it names (or is stale: that attempt had ended already), every attempt's end follows
 *   its receipt (all attempts went through the queue), and no attempt ends twice;
 * - no task (run, step, attempt) executes more often than it was claimed, which
 *   `task_history.epoch` tells (see `claimsOf`);
 * - `tasks` is empty and no inbox message is left unconsumed.
 *
 * The fixture imports dist/: `npm run build` first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../src/engine/index.js';
import type { PostgresEventStore } from '../../src/engine/store/postgres/index.js';
import '../../src/stdlib/index.js';
import { startPostgres, type PgServer } from '../helpers/postgres.js';
import { COUNT_SCRIPT, migratedDatabase, pgRows, submitRuns, until } from '../helpers/shared-db.js';

const WORKERS = 4;
const RUNS = 40;
const STEPS = 10;
const LEASE_MS = 1500; // runs
const TASK_LEASE_MS = 1000; // tasks
const POLL_MS = 100;
const MAX_RUNS = 20;
const EXPECTED = STEPS * (STEPS - 1); // the sum of 2i for i < STEPS
const TASK_RESULT = '__task_result__';

const dir = mkdtempSync(join(tmpdir(), 'larkflow-tqf-'));
let server: PgServer;
let url: string;
let store: PostgresEventStore;

beforeAll(async () => {
  server = await startPostgres();
  ({ url, store } = await migratedDatabase(server, 'taskfaults'));
}, 60_000);

afterAll(async () => {
  await store?.close();
  await server?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


const sql = <T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> => pgRows<T>(url, text, values);

type Line = Record<string, unknown>;

interface Worker {
  readonly proc: ChildProcess;
  readonly lines: Line[];
  readonly err: string[];
  readonly exited: Promise<number | null>;
}

function startWorker(i: number): Worker {
  const args = [join(__dirname, 'fixtures/pg-task-worker.mjs'), url, String(LEASE_MS), String(TASK_LEASE_MS), String(POLL_MS), String(MAX_RUNS), join(dir, `w${i}`)];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Line[] = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const p of parts) if (p.trim() !== '') lines.push(JSON.parse(p) as Line);
  });
  const err: string[] = [];
  proc.stderr!.on('data', (d: Buffer) => err.push(d.toString()));
  // 'close': after the process exited and its stdout was read to the end.
  const exited = new Promise<number | null>((r) => proc.on('close', (code) => r(code)));
  return { proc, lines, err, exited };
}

/** `run step attempt`: a task's identity. */
const keyOf = (run: unknown, step: unknown, attempt: unknown): string => `${String(run)} ${String(step)} ${String(attempt)}`;

/** The task executions a worker started and has not seen return (by key). */
function inFlight(w: Worker): string[] {
  const open = new Map<string, number>();
  for (const l of w.lines) {
    if (typeof l.exec === 'number') open.set(keyOf(l.run, l.step, l.attempt), (open.get(keyOf(l.run, l.step, l.attempt)) ?? 0) + 1);
    else if (typeof l.done === 'number') open.set(keyOf(l.run, l.step, l.attempt), (open.get(keyOf(l.run, l.step, l.attempt)) ?? 0) - 1);
  }
  return [...open].filter(([, n]) => n > 0).map(([k]) => k);
}

/**
 * How many times a finished task was claimed, from its `task_history.epoch`. A task row starts at
 * epoch 0, queued; the claim statements (claim, claimWithSeats) take only a queued row and add 1;
 * the requeues (requeueExpired, release) take only a running row and add 1; `finish` moves a
 * running row to task_history keeping its epoch. So the row alternates queued → running → queued
 * ... and ends running: claims c and requeues c − 1, epoch = 2c − 1, c = (epoch + 1) / 2 (odd
 * epochs only; asserted). A poller starts the task at most once per claim (and a SIGKILLed or
 * frozen holder's execution is one of them), so executions ≤ c = 1 + the times the task changed
 * hands (each requeue is a change of hands: the next claim may be anyone's, even the same
 * worker's after a freeze, which counts too as the frozen execution may still run).
 */
const claimsOf = (epoch: number): number => (epoch + 1) / 2;

describe('the task queue across 4 workers on PostgreSQL, one killed and one frozen past its lease', () => {
  it('finishes every run as without faults, records each result once, and runs no task more often than it was claimed', async () => {
    const workers = Array.from({ length: WORKERS }, (_, i) => startWorker(i));
    const started = Date.now();
    try {
      // Runs are submitted once every worker is up, so all of them share the work from the start.
      await until('every worker to start', () => workers.every((w) => w.lines.some((l) => typeof l.worker === 'string')), 60_000);
      const ids = await submitRuns(store, COUNT_SCRIPT, { args: [STEPS], count: RUNS, idPrefix: 'run-tqf', name: 'count.star' });
      const submitted = Date.now();

      // The faults, each on a worker with task executions in flight.
      const execs = (w: Worker) => w.lines.filter((l) => typeof l.exec === 'number').length;
      await until('worker 0 to run tasks', () => execs(workers[0]!) >= 5 && inFlight(workers[0]!).length > 0, 30_000);
      const killedInFlight = inFlight(workers[0]!);
      workers[0]!.proc.kill('SIGKILL');
      const killedAt = Date.now();
      await sleep(300);
      await until('worker 1 to run tasks', () => inFlight(workers[1]!).length > 0, 30_000);
      const frozenInFlight = inFlight(workers[1]!);
      workers[1]!.proc.kill('SIGSTOP');
      const frozenAt = Date.now();
      await sleep(Math.max(LEASE_MS, TASK_LEASE_MS) * 1.5);
      workers[1]!.proc.kill('SIGCONT');
      const wokeAt = Date.now();
      process.stdout.write(
        `task-queue faults: killed worker 0 at +${killedAt - submitted} ms with ${killedInFlight.length} tasks in flight; froze worker 1 at +${frozenAt - submitted} ms ` +
          `with ${frozenInFlight.length} in flight, woke it at +${wokeAt - submitted} ms\n`,
      );

      // Every run ends.
      const completed = async () => (await store.listRuns({ status: 'completed' })).length;
      try {
        await until('every run to complete', async () => (await completed()) === RUNS, 45_000);
      } catch (e) {
        const stuck = [];
        for (const id of ids) if ((await store.getRun(id))?.status !== 'completed') stuck.push(id);
        const tasks = await sql('SELECT run_id, step_key, attempt, status, owner, epoch FROM tasks ORDER BY run_id');
        const errors = workers.map((w, i) => `w${i}: ${JSON.stringify(w.lines.filter((l) => typeof l.error === 'string').slice(-5))} ${w.err.join('').slice(0, 1000)}`);
        // The first stuck run: the end of its history, its inbox, its finished tasks.
        const first = stuck[0];
        let detail = '';
        if (first !== undefined) {
          const h = (await store.history(first)).slice(-8).map((x) => {
            const y = x as HistoryEvent & { stepId?: string; attempt?: number; name?: string; inboxId?: number; payload?: { stepId?: string; attempt?: number } };
            return `${y.seq} ${y.kind}${y.name ? ` ${y.name}#${String(y.inboxId)} ${String(y.payload?.stepId)}/${String(y.payload?.attempt)}` : ''}${y.stepId ? ` ${y.stepId}/${String(y.attempt)}` : ''}`;
          });
          const inbox = await sql('SELECT id, run_id, name, key, consumed_seq, payload->>\'stepId\' AS step, payload->>\'attempt\' AS attempt FROM inbox WHERE run_id = $1 ORDER BY id', [first]);
          const th = await sql('SELECT task_id, step_key, attempt, epoch, owner, outcome FROM task_history WHERE run_id = $1 ORDER BY task_id', [first]);
          const logs = workers.flatMap((w, i) => w.lines.filter((l) => l.c === first || l.r === first || l.run === first).map((l) => `w${i} ${JSON.stringify(l)}`));
          detail = `\n${first} history tail: ${h.join(' | ')}\ninbox: ${JSON.stringify(inbox)}\ntask_history: ${JSON.stringify(th.slice(-4))}\nlogs: ${logs.slice(-20).join('\n  ')}`;
        }
        throw new Error(`${(e as Error).message}: ${stuck.length} runs not completed (${stuck.slice(0, 5).join(', ')}); tasks: ${JSON.stringify(tasks.slice(0, 10))}; ${errors.join('; ')}${detail}`);
      }
      const doneAt = Date.now();
      for (const w of workers.slice(1)) w.proc.kill('SIGTERM');
      const codes = await Promise.all(workers.slice(1).map((w) => w.exited));
      await workers[0]!.exited;
      expect(codes, `exit codes; stderr: ${workers.map((w) => w.err.join('')).join(' | ').slice(0, 2000)}`).toEqual(Array(WORKERS - 1).fill(0));

      // Histories: contiguous, the fault-free result, each result recorded once with its receipt.
      let stale = 0;
      const ended = new Set<string>(); // the attempts the histories end, by key
      for (const id of ids) {
        const h = await store.history(id);
        expect(h.map((e) => e.seq), `${id}: seqs`).toEqual(h.map((_, i) => i + 1));
        expect(h[h.length - 1], id).toMatchObject({ kind: 'RunCompleted', result: EXPECTED });
        expect(h.filter((e) => e.kind === 'TaskCompleted').length, `${id}: steps completed`).toBe(STEPS);
        const endedHere = new Set<string>();
        h.forEach((e, i) => {
          if (e.kind === 'TaskCompleted' || e.kind === 'AttemptFailed') {
            const k = keyOf(id, e.stepId, e.attempt);
            expect(endedHere.has(k), `${id} seq ${e.seq}: ${e.stepId} attempt ${e.attempt} ended twice`).toBe(false);
            endedHere.add(k);
            ended.add(k);
            // Every attempt ran through the queue: its end is recorded right after its receipt.
            const before = h[i - 1] as HistoryEvent & { kind: 'SignalReceived' };
            expect(before?.kind === 'SignalReceived' && before.name === TASK_RESULT, `${id} seq ${e.seq}: the end of ${e.stepId}/${e.attempt} without its receipt before it`).toBe(true);
            const p = before.payload as { stepId?: unknown; attempt?: unknown };
            expect([p.stepId, p.attempt], `${id} seq ${e.seq}: the receipt before names another attempt`).toEqual([e.stepId, e.attempt]);
          }
          if (e.kind === 'SignalReceived' && e.name === TASK_RESULT) {
            const p = e.payload as { stepId?: unknown; attempt?: unknown };
            const k = keyOf(id, p.stepId, p.attempt);
            if (endedHere.has(k)) {
              stale++; // its attempt had ended already: recorded as a receipt only
              const next = h[i + 1];
              expect(next?.kind !== 'TaskCompleted' && next?.kind !== 'AttemptFailed', `${id} seq ${e.seq}: a stale receipt followed by an attempt's end`).toBe(true);
              return;
            }
            const next = h.slice(i + 1).find((x) => x.kind !== 'AttemptSubmitted');
            expect(next && (next.kind === 'TaskCompleted' || next.kind === 'AttemptFailed') && next.stepId === p.stepId && next.attempt === p.attempt, `${id} seq ${e.seq}: the receipt of ${String(p.stepId)}/${String(p.attempt)} is followed by ${JSON.stringify(next)}`).toBe(true);
          }
        });
      }

      // The queue: empty; one finished row per attempt recorded, each succeeded; every inbox
      // message consumed.
      expect(await sql('SELECT run_id, step_key, attempt, status, owner FROM tasks')).toEqual([]);
      const finished = await sql<{ run_id: string; step_key: string; attempt: number; epoch: string; outcome: string; owner: string }>(
        'SELECT run_id, step_key, attempt, epoch, outcome, owner FROM task_history',
      );
      const byKey = new Map(finished.map((r) => [keyOf(r.run_id, r.step_key, r.attempt), r]));
      expect(finished.filter((r) => r.outcome !== 'succeeded')).toEqual([]);
      expect([...byKey.keys()].sort()).toEqual([...ended].sort());
      expect(await sql("SELECT run_id, name, key FROM inbox WHERE consumed_seq IS NULL")).toEqual([]);

      // Executions, from every worker's log (written before each task runs, so complete even for
      // the killed worker): at least one per attempt, at most one per claim.
      const executions = new Map<string, number>();
      const where = new Map<string, string[]>();
      workers.forEach((w, wi) => {
        for (const l of w.lines) {
          if (typeof l.exec !== 'number') continue;
          const k = keyOf(l.run, l.step, l.attempt);
          executions.set(k, (executions.get(k) ?? 0) + 1);
          where.set(k, [...(where.get(k) ?? []), `w${wi}@${l.ts as number}`]);
        }
      });
      let changedHands = 0;
      let extra = 0;
      for (const [k, r] of byKey) {
        const epoch = Number(r.epoch);
        expect(epoch % 2, `${k}: epoch ${epoch} is even (claims and requeues do not alternate)`).toBe(1);
        const claims = claimsOf(epoch);
        changedHands += claims - 1;
        const n = executions.get(k) ?? 0;
        extra += Math.max(0, n - 1);
        expect(n, `${k}: never executed`).toBeGreaterThanOrEqual(1);
        expect(n, `${k}: executed ${n} times (${(where.get(k) ?? []).join(', ')}) for ${claims} claims (epoch ${epoch}, finished by ${r.owner})`).toBeLessThanOrEqual(claims);
      }
      for (const k of executions.keys()) expect(byKey.has(k), `${k}: executed but not in task_history`).toBe(true);
      // The faults did hit tasks: some changed hands.
      expect(changedHands).toBeGreaterThan(0);

      // One writer per (run, epoch), across all workers.
      const writer = new Map<string, number>();
      workers.forEach((w, wi) => {
        for (const l of w.lines) {
          if (typeof l.c !== 'string') continue;
          const key = `${l.c}@${l.e as number}`;
          expect(writer.get(key) ?? wi, `two writers of ${key}`).toBe(wi);
          writer.set(key, wi);
        }
      });

      const refused = workers[1]!.lines.filter((l) => typeof l.r === 'string' && (l.ts as number) >= wokeAt).length;
      const total = [...executions.values()].reduce((a, b) => a + b, 0);
      process.stdout.write(
        `task-queue faults: ${RUNS} runs × ${STEPS} steps done ${doneAt - submitted} ms after submission (test ${Date.now() - started} ms); ` +
          `${total} task executions for ${RUNS * STEPS} attempts (${extra} repeated), ${changedHands} task changes of hands, ${stale} stale receipts, ` +
          `${refused} refused writes of the frozen worker after waking\n`,
      );
    } finally {
      for (const w of workers) {
        try {
          w.proc.kill('SIGCONT');
          w.proc.kill('SIGKILL');
        } catch {
          // gone already
        }
      }
    }
  }, 240_000);
});
