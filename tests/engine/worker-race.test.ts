/**
 * Two `larkflow worker --until-idle` processes started at once on one database with crashed runs
 * (issue 9): the runs are claimed atomically (lease + fencing epoch on the run row), so each run is
 * driven by one worker; no step whose completion was committed runs again, and the step that was in
 * flight runs once more, not twice. Repeated 20 times. (Uses dist/: `npm test` builds first.)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine, openSqliteStore } from '../../src/engine/index.js';

const CLI = resolve('dist/bundle/larkflow.mjs');
const dir = mkdtempSync(join(tmpdir(), 'larkflow-race-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WORKFLOW = 'step = task("step")\n@workflow()\ndef w(tag):\n    a = step(tag + ":1")\n    b = step(tag + ":2")\n    c = step(tag + ":3")\n    d = step(tag + ":4")\n    return [a, b, c, d]\n';
const RUNS = ['ra', 'rb', 'rc'];

function worker(db: string, tasks: string, log: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [CLI, 'worker', '--until-idle', '--db', db, '--tasks', tasks], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RACE_LOG: log } });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => res({ code, stderr }));
  });
}

/** Runs of WORKFLOW left as a crash leaves them: steps 1 and 2 completed, step 3 in flight. */
async function crashedDatabase(db: string, log: string): Promise<void> {
  const engine = Engine.open({ db });
  engine.registerTask('step', (tag: string) => {
    writeFileSync(log, `${tag} first-process\n`, { flag: 'a' });
    return tag.endsWith(':3') ? new Promise(() => {}) : tag;
  });
  for (const r of RUNS) engine.start({ file: join(dir, 'wf.star'), args: [r], runId: r });
  for (let i = 0; i < 500; i++) {
    const inFlight = RUNS.every((r) => engine.history(r).some((e) => e.kind === 'AttemptStarted' && e.stepId === 'step#3'));
    if (inFlight) break;
    await sleep(5);
  }
  // The process "dies": its leases end with it (as a dead pid's are broken at once on this machine).
  await engine.close();
}

describe('two workers recovering the same crashed runs (uses dist/)', () => {
  writeFileSync(join(dir, 'wf.star'), WORKFLOW);
  const tasks = join(dir, 'tasks.mjs');
  writeFileSync(
    tasks,
    "import { appendFileSync } from 'node:fs';\nexport async function step(tag) {\n  appendFileSync(process.env.RACE_LOG, `${tag} worker-${process.pid}\\n`);\n  await new Promise((r) => setTimeout(r, 30));\n  return tag;\n}\n",
  );

  it('regression: 20 races, zero duplicate executions of completed steps, each run driven by one worker', async () => {
    const duplicates: string[] = [];
    for (let round = 0; round < 20; round++) {
      const db = join(dir, `race-${round}.db`);
      const log = join(dir, `race-${round}.log`);
      writeFileSync(log, '');
      await crashedDatabase(db, log);
      const [a, b] = await Promise.all([worker(db, tasks, log), worker(db, tasks, log)]);
      for (const w of [a, b]) {
        expect(w.stderr).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/); // no JS stack trace
        expect(w.code).toBe(0); // a run the other worker drives is waited for, not a failure
      }
      const lines = readFileSync(log, 'utf8').trim().split('\n');
      const byWorkers = lines.filter((l) => l.includes(' worker-')).map((l) => l.split(' ')[0]!);
      const store = openSqliteStore(db);
      for (const r of RUNS) {
        expect(store.getRun(r)!.status).toBe('completed');
        const runSteps = byWorkers.filter((t) => t.startsWith(`${r}:`));
        // Completed before the crash: never again. In flight: once more. Not started: once.
        if (runSteps.includes(`${r}:1`) || runSteps.includes(`${r}:2`)) duplicates.push(`round ${round}: ${r} completed steps ran again`);
        if (runSteps.filter((t) => t === `${r}:3`).length !== 1 || runSteps.filter((t) => t === `${r}:4`).length !== 1) {
          duplicates.push(`round ${round}: ${r} ran ${JSON.stringify(runSteps)}`);
        }
        // One worker wrote the run's recovery: epochs 1 (first process) and 2 (one claim).
        const pids = new Set(lines.filter((l) => l.startsWith(`${r}:`) && l.includes(' worker-')).map((l) => l.split(' ')[1]));
        if (pids.size !== 1) duplicates.push(`round ${round}: ${r} was driven by ${pids.size} workers`);
        expect(store.leaseOf(r)!.epoch).toBe(2);
      }
      store.close();
    }
    expect(duplicates).toEqual([]);
  }, 300_000);
});
