/**
 * One `larkflow worker` of bench/scale-out.mjs: a SharedWorker over the PostgreSQL store, with the
 * no-op task `step`, that exits on SIGTERM (draining). Prints one line "ready" once it polls.
 *
 *   node bench/lib/scale-worker.mjs URL WORKDIR [queue]
 *
 * With "queue", every `step` attempt goes through the shared task queue (any worker's poller runs
 * it; its result comes back through the run's inbox).
 */
import { SharedWorker } from '../../dist/engine/distributed/shared-worker.js';
import { openPostgresStore } from '../../dist/engine/store/postgres/index.js';
import '../../dist/stdlib/index.js';

const [url, workDir, mode] = process.argv.slice(2);
const store = await openPostgresStore(url, { poolSize: 4 });
const worker = SharedWorker.start({
  store,
  leaseMs: 15_000,
  pollIntervalMs: 20,
  maxRuns: 200,
  claimBatch: 20,
  engine: { concurrency: 64, workDir, print: () => {} },
  setup: (engine) => engine.registerTask('step', (i) => i * 2),
  onError: (e) => process.stderr.write(`worker: ${e.message}\n`),
  ...(mode === 'queue' ? { taskQueue: { executors: ['local'], concurrency: 64 } } : {}),
});
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  worker.stop({ drainMs: 2000 }).then(() => process.exit(0), () => process.exit(1));
});
