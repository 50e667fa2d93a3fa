/**
 * Property: whatever faults hit 4 workers over one PostgreSQL database — a worker killed (and a
 * new one started in its place), a worker frozen then woken, every worker's database connections
 * terminated by the server (`pg_terminate_backend`), the server itself restarted — every run
 * completes with its fault-free result, every history is contiguous, each (run, epoch) has one
 * writer, and no task runs more often than once per step plus one per change of hands.
 * fast-check draws the schedules; each is played against real processes and a real server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore, type PostgresEventStore } from '../../src/engine/store/postgres/index.js';
import '../../src/stdlib/index.js';
import { startPostgres, type PgServer } from '../helpers/postgres.js';
import { COUNT_SCRIPT, migratedDatabase, submitRuns } from '../helpers/shared-db.js';

const RUNS = 40;
const STEPS = 30;
const LEASE_MS = 1500;
const POLL_MS = 100;

const SCRIPT = COUNT_SCRIPT;

const dir = mkdtempSync(join(tmpdir(), 'larkflow-faults-'));
let server: PgServer;

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);

afterAll(async () => {
  await server?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Fault =
  | { readonly kind: 'kill'; readonly worker: number }
  | { readonly kind: 'freeze'; readonly worker: number; readonly leases: number }
  | { readonly kind: 'terminate-connections' }
  | { readonly kind: 'restart-server' };

const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  fc.record({ kind: fc.constant('kill' as const), worker: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant('freeze' as const), worker: fc.integer({ min: 0, max: 3 }), leases: fc.constantFrom(0.5, 1.5) }),
  fc.constant({ kind: 'terminate-connections' as const }),
  fc.constant({ kind: 'restart-server' as const }),
);

interface Worker {
  proc: ChildProcess;
  readonly lines: Record<string, unknown>[];
  readonly exited: Promise<number | null>;
  readonly err: string[];
}

function startWorker(url: string, name: string): Worker {
  const proc = spawn(process.execPath, [join(__dirname, 'fixtures/pg-worker.mjs'), url, String(LEASE_MS), String(POLL_MS), '60', join(dir, name)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const p of parts) if (p.trim() !== '') lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  const err: string[] = [];
  proc.stderr!.on('data', (d: Buffer) => err.push(d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, lines, exited, err };
}

let dbCount = 0;

/** A fresh migrated database with `RUNS` unowned runs of count(STEPS). */
async function freshDatabase(): Promise<{ url: string; store: PostgresEventStore; ids: string[] }> {
  const { url, store } = await migratedDatabase(server, `faults${++dbCount}`);
  const ids = await submitRuns(store, SCRIPT, { args: [STEPS], count: RUNS, idPrefix: `run-f${dbCount}`, name: 'count.star' });
  return { url, store, ids };
}

async function play(faults: readonly { readonly at: number; readonly fault: Fault }[]): Promise<void> {
  const { url, store, ids } = await freshDatabase();
  const workers: Worker[] = [0, 1, 2, 3].map((i) => startWorker(url, `d${dbCount}w${i}`));
  const retired: Worker[] = [];
  let changes = 0;
  try {
    // The fault clock starts once every worker is up and writing.
    const up = Date.now();
    while (!workers.every((w) => w.lines.some((l) => typeof l.c === 'string')) && Date.now() - up < 30_000) await sleep(50);
    const t0 = Date.now();
    for (const { at, fault } of [...faults].sort((a, b) => a.at - b.at)) {
      const wait = t0 + at - Date.now();
      if (wait > 0) await sleep(wait);
      switch (fault.kind) {
        case 'kill': {
          const w = workers[fault.worker]!;
          w.proc.kill('SIGKILL');
          await w.exited;
          retired.push(w);
          workers[fault.worker] = startWorker(url, `d${dbCount}w${fault.worker}k${changes++}`);
          break;
        }
        case 'freeze': {
          const w = workers[fault.worker]!;
          w.proc.kill('SIGSTOP');
          await sleep(LEASE_MS * fault.leases);
          w.proc.kill('SIGCONT');
          break;
        }
        case 'terminate-connections': {
          const c = new pg.Client({ connectionString: url });
          await c.connect();
          await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
          await c.end();
          break;
        }
        case 'restart-server':
          await server.stop();
          await server.start();
          break;
      }
    }
    const deadline = Date.now() + 120_000;
    let s = store;
    for (;;) {
      let done = 0;
      try {
        done = (await s.listRuns({ status: 'completed' })).length;
      } catch {
        // the pool's connections died with a restart: open another
        await s.close().catch(() => undefined);
        s = await openPostgresStore(url);
      }
      if (done === RUNS || Date.now() > deadline) break;
      await sleep(200);
    }
    if (Date.now() > deadline) for (const w of [...workers, ...retired]) {
      const errors = w.lines.filter((l) => typeof l.error === 'string').slice(0, 3);
      if (w.proc.exitCode !== null || errors.length > 0) process.stderr.write(`worker pid ${w.proc.pid} exit ${w.proc.exitCode}: ${w.err.join('').slice(0, 1500).replace(/\n/g, " | ")} ${JSON.stringify(errors)}\n`);
    }
    for (const w of workers) w.proc.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    const all = [...workers, ...retired];
    const expected = STEPS * (STEPS - 1);
    for (const id of ids) {
      const history = await s.history(id);
      expect(history.map((e) => e.seq), id).toEqual(history.map((_, i) => i + 1));
      expect(history[history.length - 1], id).toMatchObject({ kind: 'RunCompleted', result: expected });
      expect(history.filter((e) => e.kind === 'TaskCompleted').length).toBe(STEPS);
    }
    // One writer per (run, epoch), across every process that ever ran.
    const writer = new Map<string, number>();
    all.forEach((w, wi) => {
      for (const l of w.lines) {
        if (typeof l.c !== 'string') continue;
        const key = `${l.c}@${l.e as number}`;
        expect(writer.get(key) ?? wi, `two writers of ${key}`).toBe(wi);
        writer.set(key, wi);
      }
    });
    // Tasks: once per step, plus at most one per change of hands (a run has one task in flight):
    // a run's epoch counts the claims of it.
    let changesOfHands = 0;
    for (const id of ids) changesOfHands += Math.max(0, ((await s.leaseOf(id))?.epoch ?? 1) - 1);
    const tasksRun = all.reduce((n, w) => n + w.lines.filter((l) => typeof l.task === 'number').length, 0);
    expect(tasksRun).toBeGreaterThanOrEqual(RUNS * STEPS);
    expect(tasksRun).toBeLessThanOrEqual(RUNS * STEPS + changesOfHands);
    process.stdout.write(`faults ${JSON.stringify(faults.map((f) => f.fault.kind))}: ${tasksRun} task executions for ${RUNS * STEPS} steps, ${changesOfHands} changes of hands\n`);
    await s.close();
  } finally {
    for (const w of [...workers, ...retired]) {
      try {
        w.proc.kill('SIGCONT');
        w.proc.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

describe('fault schedules across 4 workers on PostgreSQL (property)', () => {
  it('every run completes exactly as without faults', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ at: fc.integer({ min: 0, max: 2000 }), fault: faultArb }), { minLength: 1, maxLength: 3 }), async (faults) => {
        await play(faults);
      }),
      { numRuns: 4, endOnFailure: true, examples: [[[{ at: 1200, fault: { kind: "restart-server" } }]]] },
    );
  }, 600_000);
});
