/**
 * The executor contract suite for the LivyAdapter, against the fake Livy server
 * (tests/fakes/livy.mjs), which runs each batch like spark-submit runs a Python application:
 * `python3 <file>` with the driver environment from the batch's conf.
 *
 * The contract's jobs are `node -e <code>` programs (LaunchSpec.command), but a Livy batch runs its
 * `file`, never a command. So this target's `runnerFile` is a URI the fake maps (its `files`
 * option) to a small Python script, written here, that execs the command it finds, as JSON, in the
 * environment variable LARKFLOW_CONTRACT_EXEC. That variable travels as any task environment does
 * (spark.yarn.appMasterEnv.*), exec keeps the pid (so DELETE kills it) and the exit status
 * (which YARN's diagnostics line reports), and everything else is the adapter's real path.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LaunchSpec } from '../../src/engine/executors/contract.js';
import { LivyAdapter } from '../../src/engine/executors/livy/index.js';
import { FakeLivy } from '../fakes/livy.mjs';
import { executorContract } from './executor-contract.js';

const EXEC_PY = `import json, os, sys
argv = json.loads(os.environ["LARKFLOW_CONTRACT_EXEC"])
sys.stdout.flush()
os.execvp(argv[0], argv)
`;
const RUNNER_URI = 'local:/opt/contract/exec-command.py';

executorContract({
  name: 'livy (fake Livy server)',
  async make() {
    const dir = mkdtempSync(join(tmpdir(), 'larkflow-livy-contract-'));
    const script = join(dir, 'exec-command.py');
    writeFileSync(script, EXEC_PY);
    const fake = new FakeLivy({ files: { [RUNNER_URI]: script }, cwd: dir });
    await fake.start();
    const adapter = new LivyAdapter({ url: fake.url, runnerFile: RUNNER_URI, callTimeoutMs: 2000, retries: { attempts: 4, baseMs: 10, maxMs: 50 } });
    return {
      adapter,
      spec(code: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): LaunchSpec {
        const command = [process.execPath, '-e', code];
        return {
          task: 'contract-task',
          command,
          env: { ...(opts.env ?? {}), LARKFLOW_CONTRACT_EXEC: JSON.stringify(command) },
          resources: {},
          ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        };
      },
      async forget(h) {
        fake.forget(Number(h.backendId));
      },
      async started(submissionId: string) {
        return fake.batchesStarted()[submissionId] ?? 0;
      },
      async close() {
        adapter.close();
        await fake.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
