#!/usr/bin/env node
/**
 * The `larkflow` command line: the composition root for the terminal. Each command lives in
 * commands/; this file parses arguments (commander) and turns errors into exit codes without stack
 * traces.
 */
import { Command, Option } from 'commander';
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import '../stdlib/index.js';
import type { FileOptions } from '../interpreter/index.js';
import { CliError, renderError } from './errors.js';
import { evalExpression, evalFile } from './commands/eval.js';
import { runChunkedTests } from './commands/test.js';
import { addCacheOptions, addEngineOptions, type CliIo } from './engine-options.js';
import { exitGuard } from './exit-guard.js';
import { addRemoteOptions } from './remote.js';
import { registerRunnerCommands } from './commands/runner.js';
import { registerPipelineCommands } from './commands/pipeline.js';
import { registerTriggerCommands } from './commands/trigger.js';
import { BufferedOutput } from './output.js';
// The engine commands (and through them the engine and better-sqlite3) are imported lazily, inside
// their actions, so that `larkflow eval` starts fast.

const DIALECT_FLAGS: [string, keyof FileOptions, string][] = [
  ['--set', 'set', 'allow the set builtin'],
  ['--while', 'while', 'allow while loops'],
  ['--recursion', 'recursion', 'allow recursive functions'],
  ['--globalreassign', 'globalReassign', 'allow reassigning globals'],
  ['--toplevelcontrol', 'topLevelControl', 'allow if/for/while at top level'],
  ['--loadbindsglobally', 'loadBindsGlobally', 'make load bind globals'],
  ['--decorators', 'decorators', 'allow @decorators on def (larkflow extension)'],
];

function addDialectFlags(cmd: Command): Command {
  for (const [flag, , help] of DIALECT_FLAGS) cmd.addOption(new Option(flag, help));
  return cmd;
}

function dialectOptions(opts: Record<string, unknown>): FileOptions {
  const out: Record<string, boolean> = {};
  for (const [flag, key] of DIALECT_FLAGS) {
    const prop = flag.slice(2);
    if (opts[prop]) out[key] = true;
  }
  return out as FileOptions;
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return '0.0.0';
  }
}

/** Collects a repeatable option's values. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Adds `--quiet` and `--log-format` (run, resume). */
function addProgressOptions(cmd: Command): Command {
  cmd.option('-q, --quiet', 'no progress lines on stderr (a run that does not complete is still reported)');
  cmd.addOption(new Option('--log-format <format>', 'progress on stderr as text lines, or as JSON objects, one per line per event (machine-readable)').choices(['text', 'json']).default('text'));
  return cmd;
}

/** The exit statuses of the commands that drive runs, for their help. */
const RUN_EXIT_CODES = `
Exit status:
  0    the run completed (its result is on stdout)
  1    the run failed, was cancelled or blocked, or the script does not load (a parse error)
  2    bad usage (unknown option, no such file or run, bad input)
  3    resume --workflow FILE: the steps to reuse do not replay against FILE
  4    did not finish: the run is left unfinished in the database (a task never settled or
       ended the process, or this process could not record the run's progress)
  130  interrupted (Ctrl-C): the run is left unfinished in the database`;

/**
 * Runs an engine-driving command's action under the exit guard from its first step: a tasks module
 * that ends the process while it is imported must not leave exit status 0 either.
 */
async function guarded(command: string, action: () => Promise<void>): Promise<void> {
  const release = exitGuard.commit({
    fallback: true,
    describe: (reason) =>
      `${command} did not finish: ${reason === 'exit' ? 'the process is exiting before it did (did the tasks module call process.exit()?)' : 'nothing is left that could finish it'}`,
  });
  try {
    await action();
  } finally {
    release();
  }
}

/** True for the engine's `UsageError` (bad run id, unknown step...), without importing the engine. */
function isUsageError(e: unknown): boolean {
  return e instanceof Error && (e.name === 'UsageError' || (e as { code?: unknown }).code === 'usage');
}

/** Adds the workflow engine's commands (run, runs, show, history, replay, resume, cancel, worker, db, cache). */
function addEngineCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  addEngineOptions(
    addCacheOptions(
      addProgressOptions(
        addRemoteOptions(program
          .command('run')
          .description('run a workflow to completion: progress on stderr, the result as JSON on stdout')
          .argument('<file>', 'the workflow .star file')
          .argument('[inputs...]', 'key=value inputs (keyword arguments; values parsed as JSON when they parse)')
          .option('--workflow <name>', 'the @workflow() function to run (default: the file\'s only one)')
          .option('--input <json>', 'inputs as JSON: an object of keyword arguments or an array of positional ones')
          .option('--env <name=value>', 'a variable of the run\'s os.environ (repeatable)', collect)
          .option('--queue <name>', 'the run\'s queue: on a shared database (--db postgres://…) only workers serving it (worker --queues) take the run over (default: default)')
          .option('--notify-webhook <url>', 'POST the run\'s start/end as JSON to URL (repeatable; signed with --notify-secret-env; header x-larkflow-idempotency-key to dedupe by)', collect)
          .option('--notify-slack <url>', 'post a one-line summary to a Slack incoming-webhook URL')
          .option('--notify-email <address>', 'email the run\'s start/end (repeatable; SMTP server from LARKFLOW_SMTP_URL, sender LARKFLOW_SMTP_FROM)', collect)
          .option('--notify-on <events>', 'which events notify: a comma list of STARTED, SUCCEEDED, FAILED, CANCELLED (default: SUCCEEDED,FAILED,CANCELLED)')
          .option('--notify-secret-env <name>', 'the environment variable holding the webhooks\' HMAC-SHA256 secret (header x-larkflow-signature: sha256=HEX)')),
      ),
    ),
    { tasks: true },
  ).addHelpText('after', RUN_EXIT_CODES).action((file: string, inputs: string[], opts: Record<string, unknown>) =>
    guarded('larkflow run', async () => {
      const { runCommand } = await import('./commands/run.js');
      setExit(await runCommand(file, inputs, opts, io));
    }),
  );

  addEngineOptions(
    program
      .command('runs')
      .description('list runs, newest first (id, workflow, status, start, end)')
      .option('--json', 'print JSON')
      .option('--status <status>', 'only runs with this status (running, completed, failed, cancelled, blocked)')
      .option('--workflow <name>', 'only runs of this workflow')
      .option('--pipeline <name>', 'only runs of this pipeline (larkflow pipeline run)')
      .option('--limit <n>', 'at most N runs'),
  ).action(async (opts: Record<string, unknown>) => {
    const { runsCommand } = await import('./commands/runs.js');
    setExit(await runsCommand(opts, io));
  });

  addEngineOptions(
    program
      .command('show')
      .description('show a run: status, result or error, steps with attempts, durations and data flow')
      .argument('<run>', 'the run id')
      .option('--json', 'print the folded run state as JSON'),
  ).action(async (run: string, opts: Record<string, unknown>) => {
    const { showCommand } = await import('./commands/show.js');
    setExit(await showCommand(run, opts, io));
  });

  addEngineOptions(
    program
      .command('history')
      .description('print the events of a run, one per line')
      .argument('<run>', 'the run id')
      .option('--json', 'print the events as a JSON array, as stored (an int beyond 2^53 as {"$bigint": "digits"}, which replayHistory reads back exactly)'),
  ).action(async (run: string, opts: Record<string, unknown>) => {
    const { historyCommand } = await import('./commands/history.js');
    setExit(await historyCommand(run, opts, io));
  });

  addEngineOptions(
    program
      .command('replay')
      .description('replay a run\'s history (or with --all every recorded run of a workflow) against its script or a changed one; exit 0 if it matches, 3 if not')
      .argument('[run]', 'the run id')
      .option('--workflow <file>', 'a workflow file to replay against instead of the recorded script')
      .option('--all', 'replay every recorded run of the workflow file in --workflow FILE (see below)')
      .option('--since <date>', 'with --all: only runs started since DATE (ISO date, or an age like 7d or 12h)')
      .option('--name <workflow>', 'with --all: only runs of this @workflow() function')
      .option('--renamed-from <file>', 'with --all: FILE was renamed from this file; replay its runs too (repeatable)', collect),
    { storage: true },
  ).addHelpText(
    'after',
    `
Which runs --all replays: those recorded from a file of FILE's name (a run records its file's name,
not its directory), and those whose stored script is FILE's text exactly (FILE renamed, unchanged).
Runs of other files are not replayed because they define a workflow of the same name; to replay the
runs of a file FILE was renamed from (and changed), give its name with --renamed-from OLD.star.`,
  ).action(async (run: string | undefined, opts: Record<string, unknown>) => {
    if (opts.all) {
      if (typeof opts.workflow !== 'string') throw new CliError('larkflow replay --all: give the changed script with --workflow FILE');
      if (run) throw new CliError('larkflow replay: give either a RUN or --all, not both');
      const { dbOption, isSharedDbUrl, sharedDbUnsupported } = await import('./shared-db.js');
      if (isSharedDbUrl(dbOption(opts as { db?: string }))) throw sharedDbUnsupported('replay --all');
      const { replayAllCommand } = await import('../testing/replay-all.js');
      setExit(
        await replayAllCommand(
          {
            workflow: opts.workflow,
            ...(typeof opts.since === 'string' ? { since: opts.since } : {}),
            ...(typeof opts.db === 'string' ? { db: opts.db } : {}),
            ...(typeof opts.name === 'string' ? { name: opts.name } : {}),
            ...(Array.isArray(opts.renamedFrom) ? { renamedFrom: opts.renamedFrom as string[] } : {}),
          },
          io,
        ),
      );
      return;
    }
    if (!run) throw new CliError('larkflow replay: give a RUN id, or --all --workflow FILE');
    if (opts.since !== undefined || opts.name !== undefined || opts.renamedFrom !== undefined) throw new CliError('larkflow replay: --since, --name and --renamed-from go with --all');
    const { replayCommand } = await import('./commands/replay.js');
    setExit(await replayCommand(run, opts, io));
  });

  addEngineOptions(
    addCacheOptions(
      addProgressOptions(
        program
          .command('resume')
          .description('start a new run that reuses the results of a run\'s steps before STEP (default: its first failed step)')
          .argument('<run>', 'the run id')
          .option('--from <step>', 'the first step to run again (a step id like train#1, or a task name)')
          .option('--workflow <file>', 'resume with this (fixed) workflow file instead of the run\'s stored script; the steps before STEP must replay against it')
          .option('--ray-address <url>', 'the Ray dashboard for ray tasks (default: RAY_ADDRESS)')
          .option('--livy-url <url>', 'the Livy server for livy tasks (default: LIVY_URL)'),
      ),
    ),
    { tasks: true },
  ).addHelpText('after', RUN_EXIT_CODES).action((run: string, opts: Record<string, unknown>) =>
    guarded('larkflow resume', async () => {
      const { resumeCommand } = await import('./commands/resume.js');
      setExit(await resumeCommand(run, opts, io));
    }),
  );

  addEngineOptions(
    program
      .command('cancel')
      .description('cancel a run: abort its tasks, run its atexit cleanups, end it as cancelled')
      .argument('<run>', 'the run id')
      .option('--reason <text>', 'why (recorded in the history)'),
  ).action(async (run: string, opts: Record<string, unknown>) => {
    const { cancelCommand } = await import('./commands/cancel.js');
    setExit(await cancelCommand(run, opts, io));
  });

  const notifications = program.command('notifications').description('run notifications (larkflow run --notify-*): their outbox and delivery');
  addEngineOptions(
    notifications
      .command('ls')
      .description('list notifications, oldest first: run, event, sink, status (pending, delivered, failed), attempts, last error')
      .option('--status <status>', 'only notifications with this status (pending, delivered, failed)')
      .option('--json', 'print JSON'),
  ).action(async (opts: Record<string, unknown>) => {
    const { notificationsLsCommand } = await import('./commands/notifications.js');
    setExit(await notificationsLsCommand(opts, io));
  });

  addEngineOptions(
    program
      .command('worker')
      .description('finish unfinished runs (after a crash, or cancelled elsewhere), then keep watching for more')
      .option('--until-idle', 'exit when no unfinished run is left')
      .option('--ray-address <url>', 'the Ray dashboard for runs with ray tasks (default: RAY_ADDRESS)')
      .option('--livy-url <url>', 'the Livy server for runs with livy tasks (default: LIVY_URL)')
      .option('--max-runs <n>', 'shared database: most runs held at once (default 50)')
      .option('--concurrency <n>', 'shared database: task functions running at once in this process (default 8)')
      .option('--queues <q1,q2>', 'shared database: take only runs of these queues (run --queue; default: default)')
      .option('--lease-ms <ms>', 'shared database: how long a run stays this worker\'s without renewal (default 15000)')
      .option('--poll-ms <ms>', 'shared database: how often to look for runs to take (default 500)')
      .option('--drain-ms <ms>', 'shared database: on SIGTERM, how long runs in flight may finish before their leases are given up (default 10000)')
      .option('--task-queue <which>', 'shared database: attempts that go to the shared task queue, run by any worker while their run is parked: remote (k8s, ray, spark... jobs; default), all, none, or executor names')
      .option('--task-concurrency <n>', 'shared database: queued attempts running at once in this worker (default: --concurrency)')
      .option('--task-limit <exec=n,...>', 'shared database: most attempts of an executor running at once across all workers, e.g. k8s=4,ray=2'),
    { tasks: true },
  ).addHelpText(
    'after',
    `
Exit status with --until-idle:
  0  every unfinished run it took has ended (completed, failed or cancelled) and is recorded; runs
     another live worker holds are named on stderr and left to it
  1  a run was left unfinished (missing tasks, a blob or the database failed) or its outcome could
     not be recorded; each is named on stderr
  2  bad usage (no database, bad option)
  4  did not finish: a run could not go on in this process (a task never settled, or ended the process)`,
  ).action((opts: Record<string, unknown>) =>
    guarded('larkflow worker', async () => {
      const { dbOption, isSharedDbUrl } = await import('./shared-db.js');
      const db = dbOption(opts);
      if (isSharedDbUrl(db)) {
        const { sharedWorkerCommand } = await import('./commands/shared-worker.js');
        setExit(await sharedWorkerCommand(db, opts, io));
        return;
      }
      const { workerCommand } = await import('./commands/worker.js');
      setExit(await workerCommand(opts, io));
    }),
  );

  program
    .command('workers')
    .description('list the live workers of a shared database (PostgreSQL) and the runs each holds')
    .option('--db <url>', 'the shared database, postgres://… (default: LARKFLOW_DB)')
    .option('--within-ms <ms>', 'count a worker live if seen this recently (default 45000)')
    .option('--json', 'one JSON array on stdout')
    .action((opts: { db?: string; json?: boolean; withinMs?: string }) =>
      guarded('larkflow workers', async () => {
        const { dbOption, isSharedDbUrl } = await import('./shared-db.js');
        const db = dbOption(opts);
        if (!isSharedDbUrl(db)) throw new CliError('larkflow workers lists the workers of a shared database: pass --db postgres://… (or set LARKFLOW_DB); a SQLite database has one process driving its runs');
        const { workersCommand } = await import('./commands/shared-worker.js');
        setExit(await workersCommand(db, opts, io));
      }),
    );

  addEngineOptions(
    program
      .command('signal')
      .description("send a signal to a run (whichever process drives it): the workflow takes it with signal.wait(NAME)")
      .argument('<run>', 'the run id')
      .argument('<name>', 'the signal name')
      .argument('[json]', 'the payload, as JSON (default null)')
      .option('--key <key>', 'an idempotency key: sending again with it is a no-op'),
  ).action((run: string, name: string, json: string | undefined, opts: Record<string, unknown>) =>
    guarded('larkflow signal', async () => {
      const { signalCommand } = await import('./commands/signal.js');
      setExit(await signalCommand(run, name, json, opts, io));
    }),
  );

  addEngineOptions(
    program
      .command('query')
      .description("ask a run a question: a handler it registered with query.handler (or progress, prints), answered from its recorded state")
      .argument('<run>', 'the run id')
      .argument('<name>', 'the query name')
      .argument('[args...]', 'arguments, as JSON (a bare word is a string)'),
  ).action((run: string, name: string, args: string[], opts: Record<string, unknown>) =>
    guarded('larkflow query', async () => {
      const { queryCommand } = await import('./commands/signal.js');
      setExit(await queryCommand(run, name, args, opts, io));
    }),
  );

  addEngineOptions(
    program
      .command('update')
      .description("send an update to a run (its update.handler runs in the workflow; validated first) and print its result")
      .argument('<run>', 'the run id')
      .argument('<name>', 'the update name')
      .argument('[args...]', 'arguments, as JSON (a bare word is a string)'),
  ).action((run: string, name: string, args: string[], opts: Record<string, unknown>) =>
    guarded('larkflow update', async () => {
      const { updateCommand } = await import('./commands/signal.js');
      setExit(await updateCommand(run, name, args, opts, io));
    }),
  );

  addEngineOptions(
    program
      .command('events')
      .description('print the keys a run published with events.set (as JSON), or one key, waiting for it with --wait')
      .argument('<run>', 'the run id')
      .argument('[key]', 'one key')
      .option('--wait <seconds>', 'wait this long for the key to be set'),
  ).action((run: string, key: string | undefined, opts: Record<string, unknown>) =>
    guarded('larkflow events', async () => {
      const { eventsCommand } = await import('./commands/signal.js');
      setExit(await eventsCommand(run, key, opts, io));
    }),
  );

  program
    .command('compile')
    .description('print the Starlark a Uniflow Python workflow file compiles to (line for line), its workflows, tasks and __main__ defaults')
    .argument('<file>', 'the .py workflow file')
    .action((file: string) =>
      guarded('larkflow compile', async () => {
        const { compileCommand } = await import('./python-files.js');
        setExit(compileCommand(file, io.out));
      }),
    );

  program
    .command('python-path')
    .description('print the directory to put on PYTHONPATH so `python3 my_workflow.py` finds the michelangelo.uniflow shim and the larkflow module')
    .action(async () => {
      const { pythonRunnerPath } = await import('./commands/runner.js');
      io.out(pythonRunnerPath() + '\n');
    });

  addEngineOptions(
    program
      .command('logs')
      .description("print a task attempt's logs from wherever they are: the local attempt directory, or the remote job (pod logs)")
      .argument('<run>', 'the run id')
      .argument('[step]', 'the step id (default: the run\'s last step that ran an attempt)')
      .option('--attempt <n>', 'the attempt (default: the last)')
      .option('--follow', 'keep printing new output until the attempt ends')
      .option('--ray-address <url>', 'the Ray dashboard of a ray attempt (default: RAY_ADDRESS)')
      .option('--livy-url <url>', 'the Livy server of a livy attempt (default: LIVY_URL)'),
  ).action((run: string, step: string | undefined, opts: Record<string, unknown>) =>
    guarded('larkflow logs', async () => {
      const { logsCommand } = await import('./commands/logs.js');
      setExit(await logsCommand(run, step, opts, io));
    }),
  );

  const database = program.command('db').description('look after the run database');
  addEngineOptions(
    database
      .command('backup')
      .description('write a consistent copy of the run database to FILE, also while runs go on (SQLite online backup)')
      .argument('<file>', 'where the copy goes')
      .option('--force', 'replace FILE if it exists'),
  ).action(async (file: string, opts: Record<string, unknown>) => {
    const { dbBackupCommand } = await import('./commands/db.js');
    setExit(await dbBackupCommand(file, opts, io));
  });
  const dbOpt = '--db <path|url>';
  const dbHelp = 'the database: a SQLite file or postgres://… (default: LARKFLOW_DB, else .larkflow/larkflow.db)';
  database
    .command('migrate')
    .description('bring the database schema to this larkflow\'s version (PostgreSQL is never migrated implicitly)')
    .option(dbOpt, dbHelp)
    .action((opts: Record<string, unknown>) =>
      guarded('larkflow db migrate', async () => {
        const { dbMigrateCommand } = await import('./commands/db.js');
        setExit(await dbMigrateCommand(opts, io));
      }),
    );
  database
    .command('export')
    .description('write every run (its history) as JSON Lines, one line per run, with the script bundles they ran')
    .option(dbOpt, dbHelp)
    .option('-o, --output <file>', 'write to FILE instead of stdout')
    .action((opts: Record<string, unknown>) =>
      guarded('larkflow db export', async () => {
        const { dbExportCommand } = await import('./commands/db.js');
        setExit(await dbExportCommand(opts, io));
      }),
    );
  database
    .command('import')
    .description('load the runs of a db export into the database; runs already there are skipped and counted')
    .argument('<file>', 'a file written by larkflow db export')
    .option(dbOpt, dbHelp)
    .action((file: string, opts: Record<string, unknown>) =>
      guarded('larkflow db import', async () => {
        const { dbImportCommand } = await import('./commands/db.js');
        setExit(await dbImportCommand(file, opts, io));
      }),
    );

  addEngineOptions(
    program
      .command('ui')
      .description('the run inspector in the browser: runs, steps, timeline, graph, history and source, live (read-only unless --allow-actions or --token)')
      .option('--port <n>', 'the port (0 picks a free one)', '4300')
      .option('--host <address>', 'the address to listen on (anything but loopback exposes your runs: pass --token)', '127.0.0.1')
      .option('--allow-actions', 'let the page cancel, retry, resume and re-run runs')
      .option('--token <token>', 'accept actions with Authorization: Bearer TOKEN (default: LARKFLOW_UI_TOKEN)')
      .option('--allow-host <name>', 'a host name the server answers to besides localhost and IP addresses (repeatable)', collect)
      .option('--base-path <path>', 'serve under this path (behind a proxy)')
      .option('--ray-address <url>', 'the Ray dashboard for resumed runs with ray tasks (default: RAY_ADDRESS)')
      .option('--livy-url <url>', 'the Livy server for resumed runs with livy tasks (default: LIVY_URL)'),
    { tasks: true },
  ).action(async (opts: Record<string, unknown>) => {
    const { uiCommand } = await import('./commands/ui.js');
    setExit(await uiCommand(opts, io));
  });

  const cache = program.command('cache').description('list and remove cached task results (the cache.db beside the run database)');
  addEngineOptions(
    cache
      .command('ls')
      .description('list cached task results, newest first: key, task, size, age, expiry, hits')
      .option('--task <name>', 'only the entries of this task')
      .option('--json', 'print JSON (with full keys)'),
  ).action(async (opts: Record<string, unknown>) => {
    const { cacheLsCommand } = await import('./commands/cache.js');
    setExit(await cacheLsCommand(opts, io));
  });
  addEngineOptions(
    cache
      .command('rm')
      .description('remove a cached result by KEY (or a unique prefix of it), or every result of a task')
      .argument('[key]', 'the cache key, as `larkflow cache ls` shows it')
      .option('--task <name>', 'remove every entry of this task'),
  ).action(async (key: string | undefined, opts: Record<string, unknown>) => {
    const { cacheRmCommand } = await import('./commands/cache.js');
    setExit(await cacheRmCommand(key, opts, io));
  });
  addEngineOptions(cache.command('prune').description('remove the expired cache entries')).action(async (opts: Record<string, unknown>) => {
    const { cachePruneCommand } = await import('./commands/cache.js');
    setExit(await cachePruneCommand(opts, io));
  });
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(
  argv: readonly string[],
  io: CliIo = { out: (s: string) => process.stdout.write(s), err: (s: string) => process.stderr.write(s), live: process.stderr.isTTY === true },
): Promise<number> {
  let exitCode = 0;
  const program = new Command('larkflow')
    .description('Starlark interpreter and durable workflow engine')
    .version(version())
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });

  addDialectFlags(
    program
      .command('eval')
      .description('run a Starlark file, or print the value of an expression with -c')
      .argument('[file]', 'the .star file to run')
      .option('-c, --expr <expr>', 'evaluate an expression and print its value'),
  ).action((file: string | undefined, opts: Record<string, unknown>) => {
    const options = dialectOptions(opts);
    const print = (s: string): void => {
      io.out(s + '\n');
    };
    if (typeof opts.expr === 'string') {
      io.out(evalExpression(opts.expr, options, print) + '\n');
    } else if (file) {
      evalFile(file, options, print);
    } else {
      throw new CliError('larkflow eval: give a FILE or -c EXPR');
    }
  });

  addDialectFlags(
    program
      .command('test')
      .description('run chunked Starlark test files (--- separates chunks, ### marks expected errors), or with --workflows each test_* function of workflow files as a workflow run')
      .argument('<files...>', 'test files')
      .option('--workflows', 'run each top-level test_* function as a workflow run on a virtual clock')
      .option('--env <KEY=VALUE>', 'environment of the workflow runs (repeatable)', (v: string, p: string[]) => [...p, v], [] as string[])
      .option('--filter <text>', 'only workflow tests whose name contains text')
      .option('--tasks <file>', 'with --workflows: a JS/ESM module whose exported functions are registered as tasks'),
  ).addHelpText('after', '\nExit status: 0 every test passed, 1 a test failed (or none was found), 2 bad usage, 4 with --workflows: the\nprocess was ended before every test had run (a task called process.exit).').action(async (files: string[], opts: Record<string, unknown>) => {
    if (opts.workflows) {
      await guarded('larkflow test --workflows', async () => {
        const { runWorkflowTestsCommand } = await import('./commands/test-workflows.js');
        exitCode = await runWorkflowTestsCommand(
          files,
          { env: opts.env as string[], ...(typeof opts.filter === 'string' ? { filter: opts.filter } : {}), ...(typeof opts.tasks === 'string' ? { tasks: opts.tasks } : {}) },
          (s) => io.out(s + '\n'),
        );
      });
      return;
    }
    const { report, ok } = runChunkedTests(files, dialectOptions(opts), (s) => io.out(s + '\n'));
    io.out(report + '\n');
    if (!ok) exitCode = 1;
  });

  addEngineCommands(program, io, (code) => {
    exitCode = code;
  });
  registerPipelineCommands(program, io, (code) => {
    exitCode = code;
  });
  registerTriggerCommands(program, io, (code) => {
    exitCode = code;
  });
  registerRunnerCommands(program, {
    setExit: (code) => {
      exitCode = code;
    },
    exitWhenDone: isMain(),
  });

  try {
    await program.parseAsync(argv as string[], { from: 'user' });
  } catch (e) {
    const ce = e as { code?: string; exitCode?: number };
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) {
      return ce.code === 'commander.helpDisplayed' || ce.code === 'commander.version' ? 0 : 2;
    }
    io.err(renderError(e) + '\n');
    return e instanceof CliError ? e.exitCode : isUsageError(e) ? 2 : 1;
  }
  return exitCode;
}

/** True when this file is the program (also through the npm bin symlink node_modules/.bin/larkflow). */
function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  // Output is buffered (one write per 64 KiB or 100 ms, not one per progress line); the exit guard
  // flushes it, and keeps exit status 0 for commands that finished what they promised. Not for
  // `eval` and chunked `test`: a synchronous script that loops until Ctrl-C (which ends the process
  // without exit handlers) must not lose what it printed.
  const unbuffered = process.argv[2] === 'eval' || (process.argv[2] === 'test' && !process.argv.includes('--workflows'));
  const output = new BufferedOutput(
    { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) },
    { live: process.stderr.isTTY === true, ...(unbuffered ? { limit: 0 } : {}) },
  );
  exitGuard.install({ write: (s) => void process.stderr.write(s), flush: () => output.flush() });
  // A closed pipe (`larkflow history RUN | head`) ends the command quietly, not with a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      process.stderr.write(`larkflow: cannot write to ${stream === process.stdout ? 'stdout' : 'stderr'}: ${e.message}\n`);
      process.exit(1);
    });
  }
  main(process.argv.slice(2), output.io).then(
    (code) => {
      output.flush();
      exitGuard.settle(code);
    },
    (e) => {
      output.flush();
      process.stderr.write(renderError(e) + '\n');
      exitGuard.settle(1);
    },
  );
}
