/**
 * `larkflow worker` says what it could not finish, and its exit status says so too. Before: it exited
 * 0 with `--until-idle` when it left runs alone (another worker's, or ones whose blobs it could not
 * read), printed only the runs whose tasks were missing, and reported a run as "failed" when the
 * engine gave it up on a storage error although the database still held it as running.
 */
import { describe, expect, it } from 'vitest';
import { cli, scratchDirs } from '../helpers/cli.js';
import { Engine } from '../../src/engine/index.js';
import { reportOutcome, type Tally } from '../../src/cli/commands/worker.js';

const fresh = scratchDirs('lf-worker-');

const WF = 'slow = task("slow")\n\n@workflow()\ndef main():\n    return slow()\n';

/** Starts a run whose task never ends on an engine of its own; resolves when its attempt has started. */
async function unfinishedRun(db: string, wf: string): Promise<{ engine: Engine; runId: string }> {
  const engine = Engine.open({ db });
  engine.registerTask('slow', () => new Promise(() => {}));
  const h = engine.start({ file: wf });
  for (let i = 0; i < 200 && !engine.history(h.runId).some((e) => e.kind === 'AttemptStarted'); i++) await new Promise((r) => setTimeout(r, 10));
  return { engine, runId: h.runId };
}

describe('worker --until-idle', () => {
  it('names every run it leaves alone and exits 1: tasks missing here', async () => {
    const t = fresh();
    const { engine, runId } = await unfinishedRun(t.db, t.file('wf.star', WF));
    await engine.close();
    const r = await cli('worker', '--until-idle', '--db', t.db);
    expect(r.code, r.err).toBe(1);
    expect(r.err).toMatch(new RegExp(`^worker: .*run ${runId}.*slow`, 'm'));
    expect(r.err).not.toContain('(node:');
  });

  it('names a run another live worker holds and leaves it to that worker (not a failure of its own: exit 0)', async () => {
    const t = fresh();
    const { engine, runId } = await unfinishedRun(t.db, t.file('wf.star', WF));
    try {
      const r = await cli('worker', '--until-idle', '--db', t.db);
      expect(r.code, r.err).toBe(0);
      expect(r.err).toMatch(new RegExp(`run ${runId} is being run by worker .*it is left to that worker`));
      expect(r.err).toMatch(new RegExp(`^worker: .*run ${runId}`, 'm'));
      expect(r.out).toBe('');
    } finally {
      await engine.close();
    }
  });

  it('a run whose outcome could not be recorded is reported unfinished, not failed', async () => {
    let out = '';
    const tally: Tally = { ended: new Set(), unfinished: new Set() };
    const fake = {
      result: async () => ({ runId: 'run-1', status: 'failed', error: { kind: 'storage', message: 'database is locked', retryable: true } }),
      store: { getRun: () => ({ status: 'running', workflow: 'main' }) },
      recoveryIssues: new Map(),
      skippedRecoveries: new Map(),
    } as unknown as Engine;
    await reportOutcome(fake, 'run-1', { out: (s) => void (out += s), err: () => {} }, tally);
    expect(out).toBe('run-1 unfinished (workflow main): could not record the outcome of run run-1 (database is locked): it stays unfinished\n');
    expect([...tally.unfinished]).toEqual(['run-1']);
    expect(tally.ended.size).toBe(0);
  });

  it('finishes what it can and exits 0', async () => {
    const t = fresh();
    const wf = t.file('wf.star', WF);
    const { engine, runId } = await unfinishedRun(t.db, wf);
    await engine.close();
    const r = await cli('worker', '--until-idle', '--db', t.db, '--tasks', t.file('t.mjs', 'export function slow() { return 7; }\n'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(`${runId} completed (workflow main)\n`);
  });
});
