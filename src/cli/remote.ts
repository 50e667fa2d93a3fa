/**
 * This file defines the CLI's remote execution: the options of `larkflow run FILE --executor k8s
 * --image IMG --namespace NS --storage s3://bucket/prefix --file-sync`, the run's recorded remote
 * defaults (RunStarted.remote) they become, and the executors built from them — for the run that
 * starts, and again for every unfinished run a `worker` or `resume` opens, so a restarted engine
 * re-attaches to the jobs of the runs it takes.
 *
 * Backends: `k8s` (Kubernetes Jobs; cluster and credentials from KUBECONFIG or the in-cluster
 * service account) and `subprocess` (a local process group per attempt, recorded on disk beside the
 * database: the same runners and task I/O as a remote backend, without a cluster).
 */
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import type { Engine, RemoteDefaults } from '../engine/index.js';
import { CliError } from './errors.js';

/** The executors `--executor` knows. */
export const REMOTE_KINDS = ['k8s', 'subprocess'] as const;

/** The parsed remote options. */
export interface RemoteCliOptions {
  readonly executor?: string;
  readonly image?: string;
  readonly namespace?: string;
  readonly fileSync?: boolean;
}

/** Adds `--executor`, `--image`, `--namespace` and `--file-sync` (run). */
export function addRemoteOptions(cmd: Command): Command {
  cmd.option('--executor <name>', `run the tasks that name no executor remotely: ${REMOTE_KINDS.join(' or ')} (the workflow itself stays in this process)`);
  cmd.option('--image <image>', 'default container image of remote tasks (KubernetesTask(image = ...) wins)');
  cmd.option('--namespace <ns>', 'default Kubernetes namespace of remote tasks (default: the kubeconfig context\'s, else "default")');
  cmd.option('--file-sync', "pack the workflow's directory (git-tracked and untracked-not-ignored files) and unpack it over the image's code before each remote task");
  return cmd;
}

/** Where the CLI keeps remote bookkeeping beside the database. */
interface Places {
  /** The database's directory. */
  readonly dbDir: string;
  /** `--storage` as resolved (an s3:// URL or an absolute directory), if given. */
  readonly storage?: string;
}

/** The attempt I/O location for a storage setting: s3 as is, a directory's `io/`, or `io/` beside the database. */
function ioLocation(places: Places, storage: string | undefined): string {
  if (storage !== undefined && /^s3:/i.test(storage)) return storage;
  return join(storage ?? places.dbDir, 'io');
}

/**
 * The run's remote defaults from the options (after packing and storing the code bundle for
 * `--file-sync`), or undefined when no `--executor` is given.
 * @throws CliError for an unknown executor, or options that need `--executor`
 */
export async function remoteDefaultsOf(opts: RemoteCliOptions, workflowFile: string, places: Places): Promise<RemoteDefaults | undefined> {
  if (opts.executor === undefined) {
    for (const [flag, v] of [['--image', opts.image], ['--namespace', opts.namespace], ['--file-sync', opts.fileSync]] as const) {
      if (v !== undefined && v !== false) throw new CliError(`${flag} configures remote tasks: give --executor k8s too`);
    }
    return undefined;
  }
  if (!(REMOTE_KINDS as readonly string[]).includes(opts.executor)) {
    throw new CliError(`--executor ${opts.executor}: unknown executor (known: ${REMOTE_KINDS.join(', ')}; local and process tasks need no --executor)`);
  }
  if (opts.executor === 'k8s' && opts.image === undefined) {
    process.emitWarning('larkflow: --executor k8s without --image: every task must name its image in KubernetesTask(image = ...)');
  }
  const storage = ioLocation(places, places.storage);
  let bundle: RemoteDefaults['bundle'];
  if (opts.fileSync) {
    const { packWorkflowDir } = await import('../engine/remote/file-sync.js');
    const { attemptIOFor } = await import('../engine/remote/attempt-io.js');
    let packed;
    try {
      packed = await packWorkflowDir(dirname(resolve(workflowFile)));
    } catch (e) {
      throw new CliError(`--file-sync: ${(e as Error).message}`);
    }
    const io = attemptIOFor(storage);
    const url = await io.putBundle(packed.sha256, packed.bytes);
    bundle = { sha256: packed.sha256, url };
  }
  return {
    executor: opts.executor,
    ...(opts.image !== undefined ? { image: opts.image } : {}),
    ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}),
    storage,
    ...(bundle ? { bundle } : {}),
  };
}

/** What the CLI knows of the tasks a remote executor runs. */
export interface TaskSources {
  /** `--tasks FILE`: its exports run with the Node runner as `FILE#export`. */
  readonly tasksFile?: string;
  /** The task names that file exports. */
  readonly taskNames?: readonly string[];
  /** The workflow file: task references are relative to its directory (the image's working directory, or the unpacked bundle). */
  readonly workflowFile?: string;
}

/**
 * Adds to `engine` the executor that `remote` names (once per engine and name): a RemoteExecutor over
 * the backend's adapter, with task I/O at `remote.storage`.
 */
export async function addRemoteExecutor(engine: Engine, remote: RemoteDefaults, places: Places, sources: TaskSources = {}): Promise<void> {
  if (engine.executor(remote.executor)) return;
  const { RemoteExecutor } = await import('../engine/attempts/remote-executor.js');
  const { attemptIOFor } = await import('../engine/remote/attempt-io.js');
  let adapter;
  if (remote.executor === 'k8s') {
    const { KubernetesAdapter } = await import('../engine/executors/kubernetes/index.js');
    try {
      adapter = new KubernetesAdapter({ ...(remote.namespace !== undefined ? { namespace: remote.namespace } : {}) });
    } catch (e) {
      throw new CliError(`--executor k8s: cannot load the Kubernetes configuration (set KUBECONFIG, or run in a cluster): ${(e as Error).message}`);
    }
  } else if (remote.executor === 'subprocess') {
    const { SubprocessAdapter } = await import('../engine/executors/subprocess/index.js');
    adapter = new SubprocessAdapter({ stateDir: join(places.dbDir, 'subprocess'), ...(sources.workflowFile ? { cwd: dirname(resolve(sources.workflowFile)) } : {}) });
  } else {
    throw new CliError(`run needs executor ${JSON.stringify(remote.executor)}, which this larkflow does not know (known: ${REMOTE_KINDS.join(', ')})`);
  }
  const names = new Set(sources.taskNames ?? []);
  const base = sources.workflowFile ? dirname(resolve(sources.workflowFile)) : process.cwd();
  const tasksRef = sources.tasksFile ? relative(base, resolve(sources.tasksFile)).split(sep).join('/') : undefined;
  engine.addExecutor(
    new RemoteExecutor({
      name: remote.executor,
      adapter,
      storage: attemptIOFor(remote.storage ?? ioLocation(places, undefined)),
      defaults: { ...(remote.image !== undefined ? { image: remote.image } : {}), ...(remote.namespace !== undefined ? { namespace: remote.namespace } : {}) },
      ...(remote.bundle ? { bundle: remote.bundle } : {}),
      referenceOf: (task) => (tasksRef && names.has(task) ? `${tasksRef.startsWith('.') ? '' : './'}${tasksRef}#${task}` : undefined),
      runnerOf: (task) => (names.has(task) ? 'node' : undefined),
    }),
  );
}

/**
 * Adds the executors the unfinished runs of `engine`'s database recorded (RunStarted.remote), so
 * that recovery re-attaches to their jobs.
 */
export async function addRecordedRemoteExecutors(engine: Engine, places: Places, sources: TaskSources = {}): Promise<void> {
  for (const r of engine.runs({ status: 'running', limit: 100_000 })) {
    const first = engine.history(r.runId)[0];
    if (first?.kind !== 'RunStarted' || !first.remote || engine.executor(first.remote.executor)) continue;
    try {
      await addRemoteExecutor(engine, first.remote, places, { ...sources, workflowFile: sources.workflowFile ?? first.file });
    } catch (e) {
      // The run is then left unfinished by recovery, which names the missing executor.
      process.emitWarning(`larkflow: cannot set up executor ${first.remote.executor} for run ${r.runId}: ${(e as Error).message}`);
    }
  }
}
