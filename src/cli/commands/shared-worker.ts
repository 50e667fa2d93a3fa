/**
 * This file defines `larkflow worker --db postgres://…`: one of any number of identical workers on
 * any hosts over one PostgreSQL database. It claims the runs nobody holds (new ones, and those of a
 * worker that died or stalled past its lease), drives them, and prints one stdout line per run that
 * ends here. SIGINT/SIGTERM stop it gracefully: no new runs, the runs in flight finish for up to
 * `--drain-ms`, the rest are given up at once for another worker. `larkflow workers` lists the live
 * workers and the runs they hold.
 */
import type { CliIo, EngineCliOptions } from '../engine-options.js';
import { loadTasks, storageOf, tasksVersion } from '../engine-options.js';
import { resolve } from 'node:path';
import { CliError } from '../errors.js';
import type { AsyncEventStore } from '../../engine/store/async-store.js';
import { openSharedStore, redactUrl } from '../shared-db.js';

export interface SharedWorkerCliOptions extends EngineCliOptions {
  /** Most runs held at once. */
  readonly maxRuns?: string;
  /** In-process task functions at once. */
  readonly concurrency?: string;
  readonly leaseMs?: string;
  readonly pollMs?: string;
  readonly queues?: string;
  readonly drainMs?: string;
  readonly untilIdle?: boolean;
  /** 'remote' (default), 'all', 'none', or executor names. */
  readonly taskQueue?: string;
  readonly taskConcurrency?: string;
  /** `exec=N,exec2=M`: concurrency limits across all workers. */
  readonly taskLimit?: string;
  readonly rayAddress?: string;
  readonly livyUrl?: string;
}

/** `--task-queue`: which executors' attempts go to the shared task queue (undefined: none). */
export function taskQueueExecutors(v: string | undefined, remoteKinds: readonly string[]): 'all' | readonly string[] | undefined {
  const s = (v ?? 'remote').trim();
  if (s === 'none') return undefined;
  if (s === 'all') return 'all';
  if (s === 'remote') return remoteKinds;
  const names = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (names.length === 0) throw new CliError('--task-queue takes remote, all, none, or executor names (k8s,ray,...)');
  if (names.includes('starlark')) throw new CliError('--task-queue: starlark tasks run inside the workflow\'s interpreter and cannot be queued');
  return names;
}

/** `--task-limit k8s=4,ray=2`. */
export function taskLimits(v: string | undefined): Record<string, number> | undefined {
  if (v === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const part of v.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    const m = /^([A-Za-z0-9_.-]+)=(\d+)$/.exec(part);
    if (!m || Number(m[2]) < 1) throw new CliError(`--task-limit takes EXECUTOR=N pairs (N ≥ 1), comma-separated, e.g. k8s=4,ray=2; not ${JSON.stringify(part)}`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

function positive(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new CliError(`${name} must be a positive whole number, not ${JSON.stringify(v)}`);
  return n;
}

export async function sharedWorkerCommand(url: string, opts: SharedWorkerCliOptions, io: CliIo): Promise<number> {
  const maxRuns = positive('--max-runs', opts.maxRuns, 50);
  const concurrency = positive('--concurrency', opts.concurrency, 8);
  const leaseMs = positive('--lease-ms', opts.leaseMs, 15_000);
  const pollIntervalMs = positive('--poll-ms', opts.pollMs, 500);
  const drainMs = positive('--drain-ms', opts.drainMs, 10_000);
  const queues = (opts.queues ?? 'default').split(',').map((q) => q.trim()).filter((q) => q !== '');
  if (queues.length === 0) throw new CliError('--queues needs at least one queue name');
  const { KNOWN_EXECUTORS, ensureExecutors } = await import('../remote.js');
  const queued = taskQueueExecutors(opts.taskQueue, KNOWN_EXECUTORS);
  const taskConcurrency = positive('--task-concurrency', opts.taskConcurrency, concurrency);
  const limits = taskLimits(opts.taskLimit);
  if (limits && !queued) throw new CliError('--task-limit needs the task queue (not --task-queue none)');
  const tasks = opts.tasks !== undefined ? await loadTasks(opts.tasks) : undefined;
  const blobs = await storageOf(opts.storage);
  // Remote executors are set up on demand, for the runs this worker takes and the attempts its
  // task poller takes, from what they recorded (as a SQLite worker does for its unfinished runs).
  const places = { dbDir: resolve('.larkflow'), ...(blobs !== undefined ? { storage: blobs } : {}) };
  const sources = { ...(opts.tasks !== undefined ? { tasksFile: opts.tasks } : {}), taskNames: Object.keys(tasks ?? {}) };
  const endpoints = { ...(opts.rayAddress !== undefined ? { rayAddress: opts.rayAddress } : {}), ...(opts.livyUrl !== undefined ? { livyUrl: opts.livyUrl } : {}) };
  const store = await openSharedStore(url, { retryMs: 60_000, onRetry: (e) => io.err(`worker: ${e.message}; trying again for up to 60 s\n`) });
  const { SharedWorker } = await import('../../engine/distributed/shared-worker.js');
  const worker = SharedWorker.start({
    store,
    maxRuns,
    leaseMs,
    pollIntervalMs,
    queues,
    engine: { concurrency, workDir: '.larkflow/attempts', ...(blobs !== undefined ? { blobs } : {}) },
    setup: (engine) => {
      if (tasks) engine.registerTasks(tasks, { version: tasksVersion(opts.tasks!) });
    },
    prepareRuns: async (engine, runIds) => {
      for (const runId of runIds) {
        const first = engine.history(runId)[0];
        if (first?.kind !== 'RunStarted') continue;
        await ensureExecutors(engine, engine.executorsOfRun(runId), first.remote, places, { ...sources, ...(first.file !== undefined ? { workflowFile: first.file } : {}) }, endpoints, false);
      }
    },
    prepareAttempt: async (engine, a) => {
      if ((KNOWN_EXECUTORS as readonly string[]).includes(a.executor)) await ensureExecutors(engine, [a.executor], a.runDefaults, places, sources, endpoints, true);
    },
    ...(queued ? { taskQueue: { executors: queued, concurrency: taskConcurrency, leaseMs, ...(limits ? { limits } : {}) } } : {}),
    onError: (e) => io.err(`worker: ${e.message}\n`),
  });
  io.err(
    `worker: ${worker.workerId} on ${redactUrl(url)} (queues ${queues.join(',')}, up to ${maxRuns} runs, lease ${leaseMs} ms; ` +
      `task queue: ${queued === undefined ? 'off' : queued === 'all' ? 'all executors' : queued.join(',')}${limits ? `, limits ${Object.entries(limits).map(([k, v]) => `${k}=${v}`).join(',')}` : ''})\n`,
  );
  // Every run's events ('*'): one line per run that ends here.
  const unsubscribe = worker.engine.subscribe('*', (e, runId) => {
    if (e.kind === 'RunCompleted') io.out(`${runId} completed ${JSON.stringify(e.result)}\n`);
    else if (e.kind === 'RunFailed') io.out(`${runId} failed: ${e.error.message}\n`);
    else if (e.kind === 'RunCancelled') io.out(`${runId} cancelled: ${e.reason}\n`);
  });
  let stopping: Promise<void> | undefined;
  const stop = (why: string): Promise<void> => {
    if (!stopping) {
      io.err(`worker: ${why}: finishing the runs in flight (up to ${drainMs} ms), then giving up the rest\n`);
      stopping = worker.stop({ drainMs }).then(() => unsubscribe());
    }
    return stopping;
  };
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      void stop(sig).then(() => {
        // Everything is recorded and the leases are given up; a task that ignored its abort (an
        // in-process function looping on) must not keep the process alive.
        setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
        resolve();
      });
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    if (opts.untilIdle) {
      let checking = false;
      const check = setInterval(() => {
        if (checking || worker.stats.polls <= 1 || !worker.idle) return;
        checking = true;
        orphansLeft(store, worker.workerId, queues, leaseMs)
          .then((left) => {
            // A dead process's runs are claimed once their leases run out; a poll that began
            // meanwhile may have claimed some.
            if (left > 0 || !worker.idle) return;
            clearInterval(check);
            void stop('idle').then(resolve);
          })
          .catch(() => undefined)
          .finally(() => (checking = false));
      }, pollIntervalMs);
    }
  });
  return 0;
}

/**
 * How many unfinished runs of `queues` are held by an owner that is not another live worker (a
 * `larkflow run` process, a worker not seen for 3 leases, or this worker itself while it takes a
 * run up): `--until-idle` waits for them (the others' leases run out and it takes them). Runs parked until later, and runs of live workers, are left to their time and
 * their workers.
 */
async function orphansLeft(store: AsyncEventStore, me: string, queues: readonly string[], leaseMs: number): Promise<number> {
  const live = new Set((await store.listWorkers(3 * leaseMs)).map((w) => w.workerId));
  live.delete(me);
  let left = 0;
  for (const r of await store.listRuns({ status: 'running' })) {
    const lease = await store.leaseOf(r.runId);
    // A run this worker owns in the database is one it is taking up (its claim answered the
    // database before this query did): not idle yet.
    if (!lease || lease.owner === null || live.has(lease.owner)) continue;
    const first = (await store.history(r.runId, 1))[0];
    const queue = first?.kind === 'RunStarted' ? (first.queue ?? 'default') : 'default';
    if (queues.includes(queue)) left++;
  }
  return left;
}

/** `larkflow workers --db postgres://…`: the live workers (seen within 3 leases) and the runs each holds. */
export async function workersCommand(url: string, opts: { readonly json?: boolean; readonly withinMs?: string }, io: CliIo): Promise<number> {
  const withinMs = positive('--within-ms', opts.withinMs, 45_000);
  const store = await openSharedStore(url);
  try {
    const workers = await store.listWorkers(withinMs);
    const now = await store.dbNow();
    if (opts.json) {
      io.out(JSON.stringify(workers) + '\n');
      return 0;
    }
    if (workers.length === 0) {
      io.err(`no live workers on ${redactUrl(url)} (none seen in the last ${Math.round(withinMs / 1000)} s)\n`);
      return 0;
    }
    for (const w of workers) {
      const ago = Math.max(0, Math.round((now - w.seenAt) / 100) / 10);
      io.out(`${w.workerId}  pid ${w.pid} on ${w.host}  queues ${w.queues.join(',')}  seen ${ago}s ago  ${w.runs.length} run${w.runs.length === 1 ? '' : 's'}${w.runs.length > 0 ? ': ' + w.runs.join(' ') : ''}\n`);
    }
    return 0;
  } finally {
    await store.close();
  }
}
