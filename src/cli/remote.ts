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
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import type { Engine, ExecutorAdapter, RemoteDefaults } from '../engine/index.js';
import { CliError } from './errors.js';

/** The executors `--executor` knows. */
export const REMOTE_KINDS = ['k8s', 'subprocess', 'ray', 'kuberay', 'livy', 'spark'] as const;

/** The parsed remote options. */
export interface RemoteCliOptions {
  readonly executor?: string;
  readonly local?: boolean;
  readonly rayAddress?: string;
  readonly livyUrl?: string;
  readonly image?: string;
  readonly namespace?: string;
  readonly fileSync?: boolean;
}

/** Adds `--executor`, `--image`, `--namespace` and `--file-sync` (run). */
export function addRemoteOptions(cmd: Command): Command {
  cmd.option('--executor <name>', `run the tasks that name no executor remotely: ${REMOTE_KINDS.join(' or ')} (the workflow itself stays in this process)`);
  cmd.option('--image <image>', 'default container image of remote tasks (KubernetesTask(image = ...) wins)');
  cmd.option('--namespace <ns>', 'default Kubernetes namespace of remote tasks (default: the kubeconfig context\'s, else "default")');
  cmd.option('--local', "run every Python task as a local process, whatever its config says (Uniflow's local run, with the same engine: retries, cache, concurrency)");
  cmd.option('--ray-address <url>', 'the Ray dashboard of the cluster ray tasks go to (default: RAY_ADDRESS)');
  cmd.option('--livy-url <url>', 'the Livy server livy tasks go to (default: LIVY_URL)');
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
  if (opts.local) {
    if (opts.executor !== undefined) throw new CliError('--local and --executor contradict each other: give one of them');
    return { executor: 'python', all: true };
  }
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

/** Where the backends are, beyond KUBECONFIG: `--ray-address` / RAY_ADDRESS, `--livy-url` / LIVY_URL. */
export interface BackendEndpoints {
  readonly rayAddress?: string;
  readonly livyUrl?: string;
}

/** The adapter of a backend kind (imported on demand: the Kubernetes client takes half a second to load). */
async function adapterFor(kind: string, remote: RemoteDefaults | undefined, places: Places, sources: TaskSources, endpoints: BackendEndpoints): Promise<ExecutorAdapter> {
  const namespace = remote?.namespace !== undefined ? { namespace: remote.namespace } : {};
  const kube = async <T>(make: () => T): Promise<T> => {
    // No configuration at all would make the client talk to localhost:8080 and retry for minutes.
    const configured = process.env.KUBECONFIG || process.env.KUBERNETES_SERVICE_HOST || existsSync(join(homedir(), '.kube', 'config'));
    if (!configured) {
      throw new CliError(`executor ${kind} needs a Kubernetes cluster: set KUBECONFIG (or run inside a cluster); to run every Python task on this machine instead, pass --local`);
    }
    try {
      return make();
    } catch (e) {
      throw new CliError(`executor ${kind}: cannot load the Kubernetes configuration (set KUBECONFIG, or run in a cluster): ${(e as Error).message}`);
    }
  };
  switch (kind) {
    case 'k8s': {
      const { KubernetesAdapter } = await import('../engine/executors/kubernetes/index.js');
      return kube(() => new KubernetesAdapter(namespace));
    }
    case 'kuberay': {
      const { KubeRayAdapter } = await import('../engine/executors/kuberay/index.js');
      return kube(() => new KubeRayAdapter(namespace));
    }
    case 'spark': {
      const { SparkOperatorAdapter } = await import('../engine/executors/spark-operator/index.js');
      return kube(() => new SparkOperatorAdapter(namespace));
    }
    case 'subprocess': {
      const { SubprocessAdapter } = await import('../engine/executors/subprocess/index.js');
      return new SubprocessAdapter({ stateDir: join(places.dbDir, 'subprocess'), ...(sources.workflowFile ? { cwd: dirname(resolve(sources.workflowFile)) } : {}) });
    }
    case 'ray': {
      const address = endpoints.rayAddress ?? process.env.RAY_ADDRESS;
      if (!address) throw new CliError('executor ray needs the Ray dashboard address: set RAY_ADDRESS (http://head:8265) or pass --ray-address; to run every Python task on this machine instead, pass --local');
      const { RayJobsAdapter } = await import('../engine/executors/ray/index.js');
      try {
        return new RayJobsAdapter({ address });
      } catch (e) {
        throw new CliError(`executor ray: ${(e as Error).message}`);
      }
    }
    case 'livy': {
      const url = endpoints.livyUrl ?? process.env.LIVY_URL;
      if (!url) throw new CliError('executor livy needs the Livy server: set LIVY_URL (http://livy:8998) or pass --livy-url; to run every Python task on this machine instead, pass --local');
      const { LivyAdapter } = await import('../engine/executors/livy/index.js');
      try {
        return new LivyAdapter({ url });
      } catch (e) {
        throw new CliError(`executor livy: ${(e as Error).message}`);
      }
    }
    default:
      throw new CliError(`executor ${JSON.stringify(kind)} is not one this larkflow knows (known: ${KNOWN_EXECUTORS.join(', ')})`);
  }
}

/** Every remote executor the CLI can set up. */
export const KNOWN_EXECUTORS = ['k8s', 'subprocess', 'ray', 'kuberay', 'livy', 'spark'] as const;

/** Backends whose every attempt gets a fresh cluster or application: removed as soon as the attempt's outcome is read. */
const FRESH_CLUSTER = new Set(['kuberay', 'spark']);

/**
 * Adds to `engine` the executor named `kind` (once per engine and name): a RemoteExecutor over the
 * backend's adapter, with task I/O at the run's storage (`remote.storage`, else `--storage`, else
 * beside the database).
 */
export async function addExecutorOfKind(
  engine: Engine,
  kind: string,
  remote: RemoteDefaults | undefined,
  places: Places,
  sources: TaskSources = {},
  endpoints: BackendEndpoints = {},
): Promise<void> {
  if (engine.executor(kind) || kind === 'local' || kind === 'process' || kind === 'starlark') return;
  const { RemoteExecutor } = await import('../engine/attempts/remote-executor.js');
  const { attemptIOFor } = await import('../engine/remote/attempt-io.js');
  const adapter = await adapterFor(kind, remote, places, sources, endpoints);
  const names = new Set(sources.taskNames ?? []);
  const base = sources.workflowFile ? dirname(resolve(sources.workflowFile)) : process.cwd();
  const tasksRef = sources.tasksFile ? relative(base, resolve(sources.tasksFile)).split(sep).join('/') : undefined;
  engine.addExecutor(
    new RemoteExecutor({
      name: kind,
      adapter,
      storage: attemptIOFor(remote?.storage ?? ioLocation(places, places.storage)),
      ...(remote?.bundle ? { bundle: remote.bundle } : {}),
      referenceOf: (task) => (tasksRef && names.has(task) ? `${tasksRef.startsWith('.') ? '' : './'}${tasksRef}#${task}` : undefined),
      runnerOf: (task) => (names.has(task) ? 'node' : undefined),
      ...(FRESH_CLUSTER.has(kind) ? { cleanup: true } : {}),
    }),
  );
}

/** Adds the executor that a run's remote defaults name. */
export async function addRemoteExecutor(engine: Engine, remote: RemoteDefaults, places: Places, sources: TaskSources = {}, endpoints: BackendEndpoints = {}): Promise<void> {
  await addExecutorOfKind(engine, remote.executor, remote, places, sources, endpoints);
}

/**
 * Adds every executor in `names` that this larkflow knows and `engine` lacks. With `strict`, a
 * backend that cannot be set up is a CliError; otherwise a warning (the task that needs it then
 * fails, or recovery leaves its run, naming the executor).
 */
export async function ensureExecutors(
  engine: Engine,
  names: readonly string[],
  remote: RemoteDefaults | undefined,
  places: Places,
  sources: TaskSources,
  endpoints: BackendEndpoints,
  strict: boolean,
): Promise<void> {
  for (const name of names) {
    if (!(KNOWN_EXECUTORS as readonly string[]).includes(name) || engine.executor(name)) continue;
    try {
      await addExecutorOfKind(engine, name, remote, places, sources, endpoints);
    } catch (e) {
      if (strict) throw e;
      process.emitWarning(`larkflow: cannot set up executor ${name}: ${(e as Error).message}`);
    }
  }
}

/**
 * Adds the executors the unfinished runs of `engine`'s database need (their remote defaults, the
 * executors of their scheduled and declared tasks), so that recovery re-attaches to their jobs.
 */
export async function addRecordedRemoteExecutors(engine: Engine, places: Places, sources: TaskSources = {}, endpoints: BackendEndpoints = {}): Promise<void> {
  for (const r of engine.runs({ status: 'running', limit: 100_000 })) {
    const first = engine.history(r.runId)[0];
    if (first?.kind !== 'RunStarted') continue;
    await ensureExecutors(engine, engine.executorsOfRun(r.runId), first.remote, places, { ...sources, workflowFile: sources.workflowFile ?? first.file }, endpoints, false);
  }
}
