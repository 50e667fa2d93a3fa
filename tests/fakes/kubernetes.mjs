#!/usr/bin/env node
/**
 * A protocol-faithful fake kube-apiserver for batch/v1 Jobs that really runs them, and for the
 * KubeRay RayJob and spark-operator SparkApplication custom resources (see below).
 *
 * It serves, over plain HTTP on 127.0.0.1 (bearer token required, 401 Status otherwise):
 * - `POST   /apis/batch/v1/namespaces/{ns}/jobs` (201; 409 AlreadyExists; 422 Invalid; 400 BadRequest; `?dryRun=All`)
 * - `GET    /apis/batch/v1/namespaces/{ns}/jobs[?labelSelector=&fieldSelector=&watch=true]`
 * - `GET    /apis/batch/v1/namespaces/{ns}/jobs/{name}[/status]` (404 NotFound `jobs.batch "x" not found`)
 * - `DELETE /apis/batch/v1/namespaces/{ns}/jobs/{name}` (propagationPolicy from the query or a
 *   DeleteOptions body; preconditions uid/resourceVersion → 409 Conflict). The default, as for real
 *   batch/v1 Jobs, is Orphan: the answer carries the Warning header, the journal entry a `warning`,
 *   and the pod and its process keep running (until `close()`). Background removes the Job and its
 *   pods at once and kills the process group (SIGTERM, then SIGKILL after `killGraceMs`).
 *   Foreground answers the Job with `deletionTimestamp` and removes it once its processes are gone.
 * - `GET    /api/v1/namespaces/{ns}/pods[?labelSelector=&fieldSelector=&watch=true]`, `GET …/pods/{pod}`
 * - `GET    /api/v1/namespaces/{ns}/pods/{pod}/log?container=&tailLines=&limitBytes=` (text/plain:
 *   stdout and stderr interleaved; 400 while the container waits to start; 404 for no such pod)
 * - `GET    /version`
 * Errors are `Status` objects with the real `code`, `reason`, `message` and `details`.
 *
 * Running a Job: after `podDelayMs` a pod object appears (Pending, ContainerCreating, Job
 * active=1 ready=0); after `startDelayMs` more its container's `command` + `args` is spawned as a
 * local process (no shell, `detached: true`: its own process group) with exactly the container's
 * env, plus PATH and HOME of this process and the image's env (container env wins). The pod goes
 * Running (Job ready=1), then Succeeded/Failed with the exit code in containerStatuses (128+signal
 * for a signal; 128 and reason StartError when the executable cannot be spawned). The Job then
 * gets SuccessCriteriaMet (or FailureTarget/BackoffLimitExceeded) and, `conditionLagMs` later,
 * Complete with completionTime (or Failed). A failed pod is replaced while failures ≤ backoffLimit
 * (default 6, as the API server defaults it). activeDeadlineSeconds is enforced from startTime:
 * the process group is killed and the Job fails with reason DeadlineExceeded.
 * ttlSecondsAfterFinished is honoured (the Job and its pods are removed). `suspend: true` Jobs never start.
 *
 * Images (`images` option): `{ [image]: { cwd?, env?, command? } }` simulates what an image
 * contains: the process's working directory (default: this process's cwd), environment defaults,
 * and the entrypoint used when the container has no command. When `images` is given, an image not
 * in it never runs: its pod stays Pending with the container waiting in ErrImagePull, then
 * ImagePullBackOff (and activeDeadlineSeconds, if any, fails the Job). Without `images` every image
 * runs in this process's cwd.
 *
 * Custom resources, with a fake operator each (`/apis/{group}/{version}/namespaces/{ns}/{plural}`):
 * - `ray.io/v1` `rayjobs` (and `rayclusters`, which the RayJob operator makes), and
 *   `sparkoperator.k8s.io/v1beta2` `sparkapplications`: POST (201; 409 AlreadyExists; 422 Invalid
 *   with causes: a RayJob name over 47 characters or not DNS-1035, a bad rayClusterSpec, a
 *   SparkApplication without type/sparkVersion/driver/executor, cores < 1, ...; `?dryRun=All`),
 *   GET list (labelSelector, fieldSelector), GET `{name}` and `{name}/status`, PATCH with
 *   `application/merge-patch+json` (spec, labels, annotations; `/status`: status; other patch
 *   types 415; a patch has no further effect: no suspend), DELETE (preconditions uid and
 *   resourceVersion → 409; the default and Background/Foreground remove what the object owns at
 *   once: pods, processes, a RayJob's RayCluster and submitter Job; Orphan leaves them).
 * - RayJob: `operatorLagMs` after the create, jobDeploymentStatus Initializing (jobId,
 *   rayClusterName `<name>-xxxxx`, startTime) and a RayCluster whose head and worker replicas are
 *   pod objects without processes (labels `ray.io/cluster`, `ray.io/node-type`, `ray.io/group`);
 *   after `clusterStartMs` the pods run and the cluster is `ready` (an image not in `images`:
 *   ErrImagePull, the cluster never gets ready). Then jobDeploymentStatus Running (jobStatus
 *   PENDING, RUNNING once started) and the submitter: a batch/v1 Job named like the RayJob
 *   (container "ray-job-submitter", image of the head, owned by the RayJob, backoffLimit 0)
 *   whose pod runs `/bin/sh -c <entrypoint>` through the Job machinery above (detached process
 *   group, cwd and env of the image), with env = head container env + runtimeEnvYAML env_vars (which
 *   win) + RAY_ADDRESS/RAY_JOB_SUBMISSION_ID. Its pod log is the job's log. Exit 0 → Complete /
 *   SUCCEEDED; otherwise jobStatus FAILED with jobDeploymentStatus Failed + reason AppFailed (or
 *   Complete with `rayFailedStatus: 'Complete'`, as older KubeRay), message "Job entrypoint command
 *   failed with exit code N, last available logs ...". activeDeadlineSeconds (from startTime) →
 *   Failed/DeadlineExceeded, the entrypoint killed. With shutdownAfterJobFinishes the RayCluster and
 *   its pods go ttlSecondsAfterFinished after the end; the RayJob and its submitter stay until
 *   deleted. `clustersCreated()` and `clustersAlive()` record the clusters per RayJob.
 * - SparkApplication: `operatorLagMs` after the create, spark-submit: SUBMISSION_FAILED when a
 *   driver/executor memory is not a Spark size ("4Gi" is not), else SUBMITTED with driverInfo and a
 *   driver pod `<name>-driver` (container "spark-kubernetes-driver"). After `startDelayMs` the
 *   driver runs `python3 <mainApplicationFile>` (`local://` stripped, then mapped by the image's
 *   `files`, else found under its cwd) with the driver's env + the image env; RUNNING, with
 *   `executor.instances` executor pods `<name>-exec-N` (no processes). Driver exit 0 → SUCCEEDING,
 *   then (`conditionLagMs`) COMPLETED; otherwise FAILING, then FAILED with errorMessage "driver
 *   container failed with ExitCode: N, Reason: Error". Executor pods go at the end; the driver pod
 *   stays (logs) until the application goes (timeToLiveSeconds, or a delete).
 *
 * Test hooks: `journal`, `failNext`, `failAfterCreate`, `delayNext`, `forget`, `recreate`,
 * `stopListening`/`resume`, `forbid`/`allow`, `jobsCreated`, `processes`, `setTiming`, `job`, `pod`;
 * for custom resources `rayJobsCreated`, `sparkAppsCreated`, `clustersCreated`, `clustersAlive`,
 * `rayJob`, `rayCluster`, `sparkApplication`, `podsWith`, `forgetRayJob`, `forgetSparkApplication`,
 * `setOperatorTiming` (failNext, failAfterCreate and delayNext apply to them as well).
 * `jobsCreated()` also counts RayJob submitter Jobs.
 *
 * Standalone: `node tests/fakes/kubernetes.mjs --kubeconfig /tmp/kc.yaml [--image NAME=DIR ...]
 * [--token T] [--start-delay-ms N] [--port P]` writes a kubeconfig (server http://127.0.0.1:PORT,
 * insecure-skip-tls-verify, a token user, namespace default), prints
 * `fake kubernetes listening on http://127.0.0.1:PORT`, and stops on SIGTERM/SIGINT, killing the
 * processes it started. `--image NAME=DIR` declares an image whose processes run in DIR with
 * PYTHONPATH=DIR.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join as joinPath, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';

/** The token the fake accepts unless told otherwise. */
export const DEFAULT_TOKEN = 'larkflow-fake-token';

const ORPHAN_WARNING =
  '299 - "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|[numkMGTPE])?$/;

const REASONS = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'AlreadyExists',
  410: 'Expired',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };

/** @param {number} code @param {string} message @param {string} [reason] @param {object} [details] */
function status(code, message, reason, details) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: reason ?? REASONS[/** @type {keyof typeof REASONS} */ (code)] ?? 'Unknown',
    ...(details !== undefined ? { details } : {}),
    code,
  };
}

class HttpError extends Error {
  /** @param {number} code @param {string} message @param {string} [reason] @param {object} [details] */
  constructor(code, message, reason, details) {
    super(message);
    this.code = code;
    this.body = status(code, message, reason, details);
  }
}

const notFound = (/** @type {string} */ kind, /** @type {string} */ name, group = 'batch') =>
  new HttpError(404, `${kind}${group === '' ? '' : `.${group}`} "${name}" not found`, 'NotFound', { name, ...(group === '' ? {} : { group }), kind });

function now() {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const clone = (/** @type {any} */ v) => structuredClone(v);
const rand5 = () => randomBytes(8).toString('hex').replace(/[^a-z0-9]/g, '').slice(0, 5);

/**
 * @typedef {{ op: 'eq'|'neq'|'in'|'notin'|'exists'|'notexists', key: string, values: string[] }} Requirement
 */

/** @param {string} text @returns {Requirement[]} */
function parseSelector(text) {
  /** @type {Requirement[]} */
  const reqs = [];
  const parts = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  for (const raw of parts) {
    const p = raw.trim();
    if (p === '') continue;
    let m;
    if ((m = /^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p))) {
      reqs.push({ key: m[1], op: /** @type {'in'|'notin'} */ (m[2]), values: m[3].split(',').map((s) => s.trim()) });
    } else if ((m = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(p))) {
      reqs.push({ key: m[1], op: m[2] === '!=' ? 'neq' : 'eq', values: [m[3]] });
    } else if ((m = /^!([^\s!=(),]+)$/.exec(p))) {
      reqs.push({ key: m[1], op: 'notexists', values: [] });
    } else if ((m = /^([^\s!=(),]+)$/.exec(p))) {
      reqs.push({ key: m[1], op: 'exists', values: [] });
    } else {
      throw new HttpError(400, `unable to parse requirement: ${JSON.stringify(p)}`);
    }
  }
  return reqs;
}

/** @param {Requirement[]} reqs @param {(key: string) => string | undefined} get */
function matches(reqs, get) {
  return reqs.every((r) => {
    const v = get(r.key);
    switch (r.op) {
      case 'eq':
        return v === r.values[0];
      case 'neq':
        return v !== r.values[0];
      case 'in':
        return v !== undefined && r.values.includes(v);
      case 'notin':
        return v === undefined || !r.values.includes(v);
      case 'exists':
        return v !== undefined;
      case 'notexists':
        return v === undefined;
    }
    return false;
  });
}

/** @param {any} obj @param {string} key */
function fieldOf(obj, key) {
  const v = key.split('.').reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), obj);
  return v === undefined || v === null ? undefined : String(v);
}

/** @param {import('node:http').IncomingMessage} req @returns {Promise<Buffer>} */
function readBody(req) {
  return new Promise((res, rej) => {
    /** @type {Buffer[]} */
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => res(Buffer.concat(chunks)));
    req.on('close', () => res(Buffer.concat(chunks)));
    req.on('error', rej);
  });
}

/** Validation of a Job manifest, as the API server's causes. @param {any} job @returns {{field: string, message: string}[]} */
function validateJob(job) {
  /** @type {{field: string, message: string}[]} */
  const causes = [];
  const add = (/** @type {string} */ field, /** @type {string} */ message) => causes.push({ field, message });
  const name = job?.metadata?.name;
  if (typeof name !== 'string' || name === '') add('metadata.name', 'Required value: name or generateName is required');
  else {
    if (name.length > 63) add('metadata.name', `Invalid value: "${name}": must be no more than 63 characters`);
    if (!DNS1123_LABEL.test(name)) {
      add(
        'metadata.name',
        `Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
      );
    }
  }
  const checkLabels = (/** @type {any} */ labels, /** @type {string} */ path) => {
    if (labels === undefined || labels === null) return;
    for (const [k, v] of Object.entries(labels)) {
      if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) add(`${path}`, `Invalid value: "${String(v)}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (key ${k})`);
    }
  };
  checkLabels(job?.metadata?.labels, 'metadata.labels');
  const spec = job?.spec;
  if (spec === undefined || spec === null) {
    add('spec.template', 'Required value');
    return causes;
  }
  const nonNegInt = (/** @type {any} */ v, /** @type {string} */ f, positive = false) => {
    if (v === undefined || v === null) return;
    if (!Number.isInteger(v) || v < 0 || (positive && v === 0)) add(f, `Invalid value: ${JSON.stringify(v)}: must be ${positive ? 'greater than' : 'greater than or equal to'} 0`);
  };
  nonNegInt(spec.backoffLimit, 'spec.backoffLimit');
  nonNegInt(spec.activeDeadlineSeconds, 'spec.activeDeadlineSeconds', true);
  nonNegInt(spec.ttlSecondsAfterFinished, 'spec.ttlSecondsAfterFinished');
  nonNegInt(spec.completions, 'spec.completions');
  nonNegInt(spec.parallelism, 'spec.parallelism');
  const tpl = spec.template;
  checkLabels(tpl?.metadata?.labels, 'spec.template.metadata.labels');
  const ps = tpl?.spec;
  const rp = ps?.restartPolicy;
  if (rp === undefined) add('spec.template.spec.restartPolicy', 'Required value: valid values: "OnFailure", "Never"');
  else if (rp !== 'Never' && rp !== 'OnFailure') add('spec.template.spec.restartPolicy', `Unsupported value: "${rp}": supported values: "OnFailure", "Never"`);
  const containers = ps?.containers;
  if (!Array.isArray(containers) || containers.length === 0) {
    add('spec.template.spec.containers', 'Required value');
    return causes;
  }
  containers.forEach((c, i) => {
    const f = `spec.template.spec.containers[${i}]`;
    if (typeof c?.name !== 'string' || c.name === '') add(`${f}.name`, 'Required value');
    else if (!DNS1123_LABEL.test(c.name) || c.name.length > 63) add(`${f}.name`, `Invalid value: "${c.name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'`);
    if (typeof c?.image !== 'string' || c.image.trim() === '') add(`${f}.image`, 'Required value');
    for (const key of ['command', 'args']) {
      if (c?.[key] !== undefined && (!Array.isArray(c[key]) || c[key].some((/** @type {unknown} */ s) => typeof s !== 'string'))) add(`${f}.${key}`, 'Invalid value: must be a list of strings');
    }
    if (c?.env !== undefined) {
      if (!Array.isArray(c.env)) add(`${f}.env`, 'Invalid value: must be a list');
      else
        c.env.forEach((/** @type {any} */ e, /** @type {number} */ j) => {
          if (typeof e?.name !== 'string' || e.name === '' || e.name.includes('=')) add(`${f}.env[${j}].name`, `Invalid value: ${JSON.stringify(e?.name)}: a valid environment variable name must consist only of printable ASCII characters other than '='`);
        });
    }
    for (const kind of ['requests', 'limits']) {
      const m = c?.resources?.[kind];
      if (m === undefined || m === null) continue;
      for (const [rk, rv] of Object.entries(m)) {
        if (!QUANTITY.test(String(rv)) || String(rv).startsWith('-')) add(`${f}.resources.${kind}[${rk}]`, `Invalid value: "${String(rv)}": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
      }
    }
  });
  return causes;
}

/**
 * @typedef {object} ImageSpec
 * @property {string} [cwd] working directory of the processes (default: the fake's cwd)
 * @property {Record<string,string>} [env] environment defaults of the image (container env wins)
 * @property {string[]} [command] entrypoint used when the container has no command
 * @property {Record<string,string>} [files] files of the image (path in the image → path here), e.g. a SparkApplication's mainApplicationFile
 */

/**
 * @typedef {object} FakeKubernetesOptions
 * @property {string} [token] bearer token required (default DEFAULT_TOKEN)
 * @property {Record<string, ImageSpec>} [images] known images; when given, others fail to pull
 * @property {number} [podDelayMs] time from Job creation to its pod object (default 0)
 * @property {number} [startDelayMs] time a pod stays Pending before its process starts (default 0)
 * @property {number} [conditionLagMs] time between SuccessCriteriaMet/FailureTarget and Complete/Failed (default 10)
 * @property {number} [killGraceMs] time between SIGTERM and SIGKILL (default 100)
 * @property {number} [port] port to listen on (default 0: random)
 * @property {number} [maxLogBytes] log bytes kept per pod (default 8 MiB)
 * @property {number} [clusterStartMs] time a RayJob's RayCluster takes to become ready (default 10)
 * @property {number} [operatorLagMs] time before an operator acts on a new RayJob/SparkApplication (default 5)
 * @property {'Failed'|'Complete'} [rayFailedStatus] jobDeploymentStatus of a RayJob whose Ray job FAILED: 'Failed' with reason AppFailed (KubeRay ≥ 1.3, default) or 'Complete' (older KubeRay)
 * @property {string} [python] the Python a SparkApplication's driver runs (default "python3")
 */

/**
 * @typedef {object} Proc
 * @property {import('node:child_process').ChildProcess} child
 * @property {number} pid
 * @property {string} namespace
 * @property {string} job
 * @property {string} pod
 * @property {boolean} exited
 * @property {boolean} orphan
 * @property {Promise<void>} done
 */

export class FakeKubernetes {
  /** @param {FakeKubernetesOptions} [opts] */
  constructor(opts = {}) {
    this.token = opts.token ?? DEFAULT_TOKEN;
    /** @type {Record<string, ImageSpec> | undefined} */
    this.images = opts.images;
    this.podDelayMs = opts.podDelayMs ?? 0;
    this.startDelayMs = opts.startDelayMs ?? 0;
    this.conditionLagMs = opts.conditionLagMs ?? 10;
    this.killGraceMs = opts.killGraceMs ?? 100;
    this.maxLogBytes = opts.maxLogBytes ?? 8 * 1024 * 1024;
    this.requestedPort = opts.port ?? 0;
    /** @type {{method: string, path: string, query: Record<string,string>, status: number, warning?: string, time: number}[]} */
    this.journal = [];
    /** @type {Map<string, any>} job records by "ns/name" */
    this.jobs = new Map();
    /** @type {Map<string, any>} pod records by "ns/name" */
    this.pods = new Map();
    /** @type {Map<string, number>} */
    this.created = new Map();
    /** @type {Set<Proc>} */
    this.procs = new Set();
    /** @type {Set<NodeJS.Timeout>} */
    this.timers = new Set();
    /** @type {{remaining: number, status: number, path?: string|RegExp, method?: string, retryAfterSeconds?: number}[]} */
    this.faults = [];
    /** @type {{remaining: number, ms: number, path?: string|RegExp, method?: string}[]} */
    this.delays = [];
    this.afterCreate = 0;
    this.clusterStartMs = opts.clusterStartMs ?? 10;
    this.operatorLagMs = opts.operatorLagMs ?? 5;
    this.rayFailedStatus = opts.rayFailedStatus ?? 'Failed';
    this.python = opts.python ?? 'python3';
    /** @type {Map<string, any>} custom objects by "plural/ns/name" */
    this.crs = new Map();
    /** @type {Map<string, Map<string, number>>} creates per plural, per "ns/name" */
    this.crCreated = new Map();
    /** @type {Map<string, string[]>} RayClusters ("ns/cluster") per RayJob ("ns/name") */
    this.rayClusters = new Map();
    /** @type {Set<string>} */
    this.forbidden = new Set();
    /** @type {Set<{res: import('node:http').ServerResponse, kind: 'jobs'|'pods', namespace: string, labels: Requirement[], fields: Requirement[]}>} */
    this.watchers = new Set();
    this.rv = 1;
    this.port = 0;
    this.closed = false;
    this.listening = false;
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        try {
          this.send(res, req, 500, status(500, `Internal error occurred: ${e instanceof Error ? e.message : String(e)}`));
        } catch {
          /* connection gone */
        }
      });
    });
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /** Starts listening on 127.0.0.1. @returns {Promise<{url: string, port: number, kubeConfigYaml: string}>} */
  async start() {
    await new Promise((res, rej) => {
      this.server.once('error', rej);
      this.server.listen(this.requestedPort, '127.0.0.1', () => {
        this.server.off('error', rej);
        res(undefined);
      });
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    this.listening = true;
    return { url: this.url, port: this.port, kubeConfigYaml: this.kubeConfigYaml() };
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A kubeconfig (YAML) for this server: insecure-skip-tls-verify, a token user, namespace `namespace`. */
  kubeConfigYaml(namespace = 'default') {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: ${this.url}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: fake-user',
      '  user:',
      `    token: ${this.token}`,
      'contexts:',
      '- name: fake',
      '  context:',
      '    cluster: fake',
      '    user: fake-user',
      `    namespace: ${namespace}`,
      'current-context: fake',
      '',
    ].join('\n');
  }

  /** The same, as options for `KubeConfig.loadFromOptions`. */
  kubeConfigOptions(namespace = 'default', token = this.token) {
    return {
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fake-user', ...(token === '' ? {} : { token }) }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake-user', namespace }],
      currentContext: 'fake',
    };
  }

  /** Stops accepting connections (clients get ECONNREFUSED); Jobs keep running. */
  async stopListening() {
    if (!this.listening) return;
    this.listening = false;
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    const closed = new Promise((res) => this.server.close(() => res(undefined)));
    this.server.closeAllConnections();
    await closed;
  }

  /** Listens again on the same port. */
  async resume() {
    if (this.listening || this.closed) return;
    await new Promise((res, rej) => {
      this.server.once('error', rej);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', rej);
        res(undefined);
      });
    });
    this.listening = true;
  }

  /** Stops the server, every timer, and every process it spawned (by process group). */
  async close() {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    const waits = [];
    for (const p of this.procs) {
      if (!p.exited) {
        killGroup(p.pid, 'SIGKILL');
        waits.push(p.done);
      }
    }
    if (this.listening) {
      this.listening = false;
      const closed = new Promise((res) => this.server.close(() => res(undefined)));
      this.server.closeAllConnections();
      await closed;
    }
    await Promise.race([Promise.all(waits), new Promise((res) => setTimeout(res, 1000).unref())]);
  }

  // ---- hooks -----------------------------------------------------------------------------------

  /**
   * The next `n` requests matching `opts` (method, and a path substring or RegExp) are answered with
   * `status` (500 InternalError, 503 ServiceUnavailable, 429 TooManyRequests with Retry-After, ...)
   * before any handling.
   * @param {number} n @param {number} [code] @param {{path?: string|RegExp, method?: string, retryAfterSeconds?: number}} [opts]
   */
  failNext(n, code = 500, opts = {}) {
    this.faults.push({ remaining: n, status: code, ...opts });
  }

  /** The next `n` creates are performed, but answered 500 (the ambiguous case). @param {number} [n] */
  failAfterCreate(n = 1) {
    this.afterCreate += n;
  }

  /** The next `n` (default 1) requests matching `opts` wait `ms` before being handled. @param {number} ms @param {{path?: string|RegExp, method?: string, n?: number}} [opts] */
  delayNext(ms, opts = {}) {
    this.delays.push({ remaining: opts.n ?? 1, ms, ...(opts.path !== undefined ? { path: opts.path } : {}), ...(opts.method !== undefined ? { method: opts.method } : {}) });
  }

  /** Requests in namespace `ns` get 403 Forbidden. @param {string} ns */
  forbid(ns) {
    this.forbidden.add(ns);
  }
  /** @param {string} ns */
  allow(ns) {
    this.forbidden.delete(ns);
  }

  /** @param {{podDelayMs?: number, startDelayMs?: number, conditionLagMs?: number, killGraceMs?: number}} t */
  setTiming(t) {
    if (t.podDelayMs !== undefined) this.podDelayMs = t.podDelayMs;
    if (t.startDelayMs !== undefined) this.startDelayMs = t.startDelayMs;
    if (t.conditionLagMs !== undefined) this.conditionLagMs = t.conditionLagMs;
    if (t.killGraceMs !== undefined) this.killGraceMs = t.killGraceMs;
  }

  /** Jobs created (201 or the ambiguous 500) per "ns/name". @returns {Record<string, number>} */
  jobsCreated() {
    return Object.fromEntries(this.created);
  }

  /** Processes spawned so far. */
  processes() {
    return [...this.procs].map((p) => ({ pid: p.pid, namespace: p.namespace, job: p.job, pod: p.pod, exited: p.exited, orphan: p.orphan }));
  }

  /** A stored Job (a copy), or undefined. @param {string} ns @param {string} name */
  job(ns, name) {
    const r = this.jobs.get(`${ns}/${name}`);
    return r === undefined ? undefined : clone(r.obj);
  }

  /** The pods of a Job (copies). @param {string} ns @param {string} jobName */
  podsOf(ns, jobName) {
    return [...this.pods.values()].filter((p) => p.obj.metadata.namespace === ns && p.obj.metadata.labels?.['batch.kubernetes.io/job-name'] === jobName).map((p) => clone(p.obj));
  }

  /** The Job disappears (as after an external delete or GC): 404 afterwards, its processes killed. @param {string} ns @param {string} name */
  forget(ns, name) {
    const rec = this.jobs.get(`${ns}/${name}`);
    if (rec === undefined) return false;
    this.removeJob(rec, 'kill');
    return true;
  }

  /** The Job is deleted and created again with the same name and spec: a new uid. @param {string} ns @param {string} name @returns {string | undefined} the new uid */
  recreate(ns, name) {
    const rec = this.jobs.get(`${ns}/${name}`);
    if (rec === undefined) return undefined;
    const md = rec.obj.metadata;
    const body = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: md.name, namespace: md.namespace, labels: md.labels, annotations: md.annotations },
      spec: clone(rec.original.spec),
    };
    this.removeJob(rec, 'kill');
    const created = this.createJob(ns, body);
    return created.metadata.uid;
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res */
  async handle(req, res) {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const matchHook = (/** @type {{path?: string|RegExp, method?: string}} */ h) =>
      (h.method === undefined || h.method.toUpperCase() === method) &&
      (h.path === undefined || (typeof h.path === 'string' ? path.includes(h.path) : h.path.test(path)));

    // The request is received whole first: a slow server still performs what it was sent.
    const raw = await readBody(req);
    const delay = this.delays.find((d) => d.remaining > 0 && matchHook(d));
    if (delay !== undefined) {
      delay.remaining--;
      this.delays = this.delays.filter((d) => d.remaining > 0);
      await new Promise((r) => {
        const t = setTimeout(() => {
          this.timers.delete(t);
          r(undefined);
        }, delay.ms);
        this.timers.add(t);
      });
      if (this.closed) return;
    }
    const fault = this.faults.find((f) => f.remaining > 0 && matchHook(f));
    if (fault !== undefined) {
      fault.remaining--;
      this.faults = this.faults.filter((f) => f.remaining > 0);
      const messages = { 500: 'Internal error occurred: injected fault', 503: 'the server is currently unable to handle the request', 429: 'the server has received too many requests and has asked us to try again later', 504: 'the server was unable to return a response in the time allotted' };
      const headers = fault.status === 429 || fault.status === 503 ? { 'Retry-After': String(fault.retryAfterSeconds ?? 1) } : {};
      this.send(res, req, fault.status, status(fault.status, messages[/** @type {keyof typeof messages} */ (fault.status)] ?? 'injected fault', undefined, fault.status === 429 || fault.status === 503 ? { retryAfterSeconds: fault.retryAfterSeconds ?? 1 } : undefined), headers);
      return;
    }
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      this.send(res, req, 401, status(401, 'Unauthorized'));
      return;
    }
    try {
      await this.route(req, res, url, method, raw);
    } catch (e) {
      if (e instanceof HttpError) this.send(res, req, e.code, e.body);
      else throw e;
    }
  }

  /** @param {import('node:http').ServerResponse} res @param {import('node:http').IncomingMessage} req @param {number} code @param {unknown} body @param {Record<string,string>} [headers] @param {string} [warning] */
  send(res, req, code, body, headers = {}, warning) {
    const url = new URL(req.url ?? '/', 'http://x');
    this.journal.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status: code,
      ...(warning !== undefined ? { warning } : {}),
      time: Date.now(),
    });
    if (res.destroyed || res.writableEnded) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(code, {
      'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json',
      'Content-Length': Buffer.byteLength(text),
      ...headers,
      ...(warning !== undefined ? { Warning: warning } : {}),
    });
    res.end(text);
  }

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {URL} url @param {string} method @param {Buffer} raw */
  async route(req, res, url, method, raw) {
    const path = url.pathname;
    const q = url.searchParams;
    if (path === '/version' && method === 'GET') {
      this.send(res, req, 200, { major: '1', minor: '33', gitVersion: 'v1.33.0-fake', platform: `${process.platform}/${process.arch}` });
      return;
    }
    let m;
    if ((m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs(?:\/([^/]+)(\/status)?)?$/.exec(path))) {
      const ns = decodeURIComponent(m[1]);
      const name = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
      this.checkForbidden(ns, 'jobs', method);
      if (name === undefined) {
        if (method === 'POST') return this.handleCreate(req, res, ns, q, raw);
        if (method === 'GET') return q.get('watch') === 'true' || q.get('watch') === '1' ? this.handleWatch(req, res, 'jobs', ns, q) : this.handleList(req, res, 'jobs', ns, q);
      } else {
        if (method === 'GET') {
          const rec = this.jobs.get(`${ns}/${name}`);
          if (rec === undefined) throw notFound('jobs', name);
          this.send(res, req, 200, rec.obj);
          return;
        }
        if (method === 'DELETE' && m[3] === undefined) return this.handleDelete(req, res, ns, name, q, raw);
      }
      throw new HttpError(405, `the server does not allow this method on the requested resource`);
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+)(\/log|\/status)?)?$/.exec(path))) {
      const ns = decodeURIComponent(m[1]);
      const name = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
      this.checkForbidden(ns, 'pods', method);
      if (method !== 'GET') throw new HttpError(405, `the server does not allow this method on the requested resource`);
      if (name === undefined) return q.get('watch') === 'true' || q.get('watch') === '1' ? this.handleWatch(req, res, 'pods', ns, q) : this.handleList(req, res, 'pods', ns, q);
      const rec = this.pods.get(`${ns}/${name}`);
      if (rec === undefined) throw notFound('pods', name, '');
      if (m[3] === '/log') return this.handleLog(req, res, rec, q);
      this.send(res, req, 200, rec.obj);
      return;
    }
    if ((m = CR_PATH.exec(path))) {
      const [, group, version, nsEnc, plural, nameEnc, sub] = m;
      const ns = decodeURIComponent(nsEnc);
      const kind = CR_KINDS[`${group}/${version}/${plural}`];
      if (kind !== undefined) {
        this.checkForbidden(ns, plural, method, group);
        return this.routeCustom(req, res, kind, ns, nameEnc === undefined ? undefined : decodeURIComponent(nameEnc), sub, method, q, raw);
      }
    }
    throw new HttpError(404, 'the server could not find the requested resource', 'NotFound', {});
  }

  /** @param {string} ns @param {string} resource @param {string} method */
  checkForbidden(ns, resource, method, group = resource === 'jobs' ? 'batch' : '') {
    if (!this.forbidden.has(ns)) return;
    const verb = { GET: 'get', POST: 'create', DELETE: 'delete', PATCH: 'patch' }[method] ?? method.toLowerCase();
    throw new HttpError(403, `${resource}${group === '' ? '' : `.${group}`} is forbidden: User "fake-user" cannot ${verb} resource "${resource}" in API group "${group}" in the namespace "${ns}"`, 'Forbidden', { ...(group === '' ? {} : { group }), kind: resource });
  }

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {string} ns @param {URLSearchParams} q @param {Buffer} raw */
  handleCreate(req, res, ns, q, raw) {
    /** @type {any} */
    let body;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw new HttpError(400, `the object provided is unrecognized (couldn't get version/kind; json parse error: ${e instanceof Error ? e.message : String(e)})`);
    }
    if (typeof body !== 'object' || body === null || body.kind !== 'Job' || body.apiVersion !== 'batch/v1') {
      throw new HttpError(400, `the API version in the data (${body?.apiVersion}) does not match the expected API version (batch/v1)`);
    }
    if (body.metadata?.namespace !== undefined && body.metadata.namespace !== ns) {
      throw new HttpError(400, 'the namespace of the provided object does not match the namespace sent on the request');
    }
    if ((body.metadata?.name === undefined || body.metadata.name === '') && typeof body.metadata?.generateName === 'string') {
      body.metadata.name = `${body.metadata.generateName}${rand5()}`;
    }
    const name = String(body.metadata?.name ?? '');
    const causes = validateJob(body);
    if (causes.length > 0) {
      const list = causes.map((c) => `${c.field}: ${c.message}`);
      throw new HttpError(422, `Job.batch "${name}" is invalid: ${list.length === 1 ? list[0] : `[${list.join(', ')}]`}`, 'Invalid', {
        name,
        group: 'batch',
        kind: 'Job',
        causes: causes.map((c) => ({ reason: c.message.startsWith('Required') ? 'FieldValueRequired' : 'FieldValueInvalid', message: c.message, field: c.field })),
      });
    }
    if (this.jobs.has(`${ns}/${name}`)) {
      throw new HttpError(409, `jobs.batch "${name}" already exists`, 'AlreadyExists', { name, group: 'batch', kind: 'jobs' });
    }
    if (q.get('dryRun') === 'All') {
      this.send(res, req, 201, this.withDefaults(ns, clone(body)));
      return;
    }
    const obj = this.createJob(ns, body);
    if (this.afterCreate > 0) {
      this.afterCreate--;
      this.send(res, req, 500, status(500, 'Internal error occurred: injected fault after the Job was stored'));
      return;
    }
    this.send(res, req, 201, obj);
  }

  /** @param {string} ns @param {any} body */
  withDefaults(ns, body) {
    const uid = randomUUID();
    const name = body.metadata.name;
    const tplLabels = { ...(body.spec.template.metadata?.labels ?? {}) };
    const sysLabels = { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': name, 'controller-uid': uid, 'job-name': name };
    const containers = body.spec.template.spec.containers.map((/** @type {any} */ c) => ({
      ...c,
      imagePullPolicy: c.imagePullPolicy ?? (/:latest$/.test(c.image) || !/:[^/]+$/.test(c.image) ? 'Always' : 'IfNotPresent'),
      resources: c.resources ?? {},
      terminationMessagePath: c.terminationMessagePath ?? '/dev/termination-log',
      terminationMessagePolicy: c.terminationMessagePolicy ?? 'File',
    }));
    return {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        ...body.metadata,
        namespace: ns,
        uid,
        resourceVersion: String(++this.rv),
        generation: 1,
        creationTimestamp: now(),
        labels: body.metadata.labels ?? { ...tplLabels, ...sysLabels },
      },
      spec: {
        parallelism: 1,
        completions: 1,
        backoffLimit: 6,
        completionMode: 'NonIndexed',
        suspend: false,
        podReplacementPolicy: 'TerminatingOrFailed',
        manualSelector: false,
        ...body.spec,
        selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } },
        template: {
          metadata: { ...(body.spec.template.metadata ?? {}), labels: { ...tplLabels, ...sysLabels } },
          spec: {
            dnsPolicy: 'ClusterFirst',
            schedulerName: 'default-scheduler',
            securityContext: {},
            terminationGracePeriodSeconds: 30,
            ...body.spec.template.spec,
            containers,
          },
        },
      },
      status: {},
    };
  }

  /** Stores a validated Job and starts running it. @param {string} ns @param {any} body */
  createJob(ns, body) {
    const obj = this.withDefaults(ns, clone(body));
    const key = `${ns}/${obj.metadata.name}`;
    const rec = { key, obj, original: clone(body), pods: [], timers: new Set(), finished: false, deadlineHit: false, procs: new Set() };
    this.jobs.set(key, rec);
    this.created.set(key, (this.created.get(key) ?? 0) + 1);
    this.emit('jobs', 'ADDED', obj);
    if (obj.spec.suspend !== true) this.later(rec, this.podDelayMs, () => this.createPod(rec));
    return clone(obj);
  }

  /** @param {any} rec @param {number} ms @param {() => void} fn */
  later(rec, ms, fn) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      rec?.timers.delete(t);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(t);
    rec?.timers.add(t);
    return t;
  }

  /** @param {any} rec */
  touchJob(rec) {
    rec.obj.metadata.resourceVersion = String(++this.rv);
    if (this.jobs.get(rec.key) === rec) this.emit('jobs', 'MODIFIED', rec.obj);
  }

  /** @param {any} prec */
  touchPod(prec) {
    prec.obj.metadata.resourceVersion = String(++this.rv);
    if (this.pods.get(prec.key) === prec) this.emit('pods', 'MODIFIED', prec.obj);
  }

  /** @param {any} rec */
  createPod(rec) {
    if (this.jobs.get(rec.key) !== rec || rec.finished) return;
    const job = rec.obj;
    const ns = job.metadata.namespace;
    const name = `${job.metadata.name}-${rand5()}`;
    const tpl = job.spec.template;
    const c0 = tpl.spec.containers[0];
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        generateName: `${job.metadata.name}-`,
        namespace: ns,
        uid: randomUUID(),
        resourceVersion: String(++this.rv),
        creationTimestamp: now(),
        labels: { ...tpl.metadata.labels },
        ...(tpl.metadata.annotations !== undefined ? { annotations: { ...tpl.metadata.annotations } } : {}),
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid: job.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: { ...clone(tpl.spec), nodeName: 'fake-node' },
      status: {
        phase: 'Pending',
        hostIP: '127.0.0.1',
        startTime: now(),
        qosClass: 'BestEffort',
        conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: now() }],
        containerStatuses: tpl.spec.containers.map((/** @type {any} */ c) => ({
          name: c.name,
          image: c.image,
          imageID: '',
          ready: false,
          restartCount: 0,
          started: false,
          state: { waiting: { reason: 'ContainerCreating' } },
        })),
      },
    };
    const prec = { key: `${ns}/${name}`, obj: pod, job: rec, log: /** @type {Buffer[]} */ ([]), logBytes: 0, proc: /** @type {Proc | undefined} */ (undefined), finalized: false };
    this.pods.set(prec.key, prec);
    rec.pods.push(prec);
    this.emit('pods', 'ADDED', pod);
    const st = job.status;
    st.active = 1;
    st.ready = 0;
    st.terminating = 0;
    st.uncountedTerminatedPods = {};
    if (st.startTime === undefined) {
      st.startTime = now();
      const ads = job.spec.activeDeadlineSeconds;
      if (typeof ads === 'number') this.later(rec, ads * 1000, () => this.deadline(rec));
    }
    this.touchJob(rec);
    const image = this.images === undefined ? {} : this.images[c0.image];
    if (image === undefined) {
      this.later(rec, 5, () => {
        if (prec.finalized) return;
        pod.status.containerStatuses[0].state = { waiting: { reason: 'ErrImagePull', message: `rpc error: code = NotFound desc = failed to pull and unpack image "${c0.image}": not found` } };
        this.touchPod(prec);
        this.later(rec, 20, () => {
          if (prec.finalized) return;
          pod.status.containerStatuses[0].state = { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c0.image}"` } };
          this.touchPod(prec);
        });
      });
      return;
    }
    this.later(rec, this.startDelayMs, () => this.runContainer(prec, c0, image));
  }

  /** @param {any} prec @param {any} c @param {ImageSpec} image */
  runContainer(prec, c, image) {
    const rec = prec.job;
    if (prec.finalized || this.pods.get(prec.key) !== prec) return;
    const pod = prec.obj;
    const argv = [...(c.command ?? image.command ?? []), ...(c.args ?? [])];
    /** @type {Record<string, string>} */
    const env = {};
    if (process.env.PATH !== undefined) env.PATH = process.env.PATH;
    if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
    Object.assign(env, image.env ?? {});
    for (const e of c.env ?? []) if (typeof e.value === 'string') env[e.name] = e.value;
    const cs = pod.status.containerStatuses[0];
    const startFailed = (/** @type {string} */ message) => {
      cs.state = { terminated: { exitCode: 128, reason: 'StartError', message, startedAt: '1970-01-01T00:00:00Z', finishedAt: now() } };
      cs.lastState = {};
      pod.status.phase = 'Failed';
      this.touchPod(prec);
      this.podFinished(prec, false);
    };
    if (argv.length === 0) {
      startFailed('failed to create containerd task: no command specified');
      return;
    }
    let child;
    try {
      child = spawn(argv[0], argv.slice(1), { cwd: image.cwd ?? process.cwd(), env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      startFailed(`failed to create containerd task: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    /** @type {(v?: unknown) => void} */
    let markDone = () => {};
    /** @type {Proc} */
    const proc = {
      child,
      pid: child.pid ?? -1,
      namespace: pod.metadata.namespace,
      job: rec.obj.metadata.name,
      pod: pod.metadata.name,
      exited: child.pid === undefined,
      orphan: false,
      done: new Promise((r) => (markDone = r)),
    };
    prec.proc = proc;
    const onData = (/** @type {Buffer} */ chunk) => {
      if (prec.logBytes >= this.maxLogBytes) return;
      const part = chunk.subarray(0, this.maxLogBytes - prec.logBytes);
      prec.log.push(part);
      prec.logBytes += part.length;
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    let ended = false;
    const end = (/** @type {number | null} */ code, /** @type {NodeJS.Signals | null} */ signal) => {
      if (ended) return;
      ended = true;
      proc.exited = true;
      markDone();
      if (prec.finalized) return;
      const exitCode = code ?? 128 + (SIGNALS[/** @type {keyof typeof SIGNALS} */ (signal ?? 'SIGKILL')] ?? 9);
      cs.state = { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: cs.state?.running?.startedAt ?? now(), finishedAt: now(), ...(signal !== null ? { signal: SIGNALS[/** @type {keyof typeof SIGNALS} */ (signal)] } : {}) } };
      cs.ready = false;
      cs.started = false;
      pod.status.phase = exitCode === 0 ? 'Succeeded' : 'Failed';
      pod.status.conditions = [...pod.status.conditions.filter((/** @type {any} */ x) => x.type !== 'Ready' && x.type !== 'ContainersReady'), { type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: now() }];
      this.touchPod(prec);
      this.podFinished(prec, exitCode === 0);
    };
    child.on('error', (err) => {
      // a spawn failure (ENOENT, EACCES): the container never starts
      if (child.pid !== undefined || ended) return;
      ended = true;
      proc.exited = true;
      markDone();
      const code = /** @type {NodeJS.ErrnoException} */ (err).code;
      startFailed(`failed to create containerd task: exec: "${argv[0]}": ${code === 'ENOENT' ? 'executable file not found in $PATH' : err.message}`);
    });
    if (child.pid === undefined) return; // 'error' follows
    this.procs.add(proc);
    rec.procs.add(proc);
    child.on('exit', (code, signal) => {
      // wait for stdio to drain, but not forever (a grandchild may hold the pipes)
      const t = setTimeout(() => end(code, signal), 50);
      child.once('close', () => {
        clearTimeout(t);
        end(code, signal);
      });
    });
    cs.state = { running: { startedAt: now() } };
    cs.ready = true;
    cs.started = true;
    pod.status.phase = 'Running';
    pod.status.podIP = '127.0.0.1';
    pod.status.conditions = [...pod.status.conditions, { type: 'Initialized', status: 'True' }, { type: 'ContainersReady', status: 'True' }, { type: 'Ready', status: 'True', lastTransitionTime: now() }];
    this.touchPod(prec);
    if (!rec.finished && this.jobs.get(rec.key) === rec) {
      rec.obj.status.ready = 1;
      this.touchJob(rec);
    }
    rec.hooks?.running?.(prec);
  }

  /** @param {any} prec @param {boolean} ok */
  podFinished(prec, ok) {
    prec.finalized = true;
    const rec = prec.job;
    // the owner of a RayJob's submitter Job or a SparkApplication's driver hears of it first
    rec.hooks?.podFinished?.(prec, ok);
    if (rec.standalone === true) return;
    if (this.jobs.get(rec.key) !== rec || rec.finished) return;
    const st = rec.obj.status;
    st.active = 0;
    st.ready = 0;
    if (ok) {
      st.succeeded = (st.succeeded ?? 0) + 1;
      this.finish(rec, 'SuccessCriteriaMet', 'Complete', 'CompletionsReached', 'Reached expected number of succeeded pods');
      return;
    }
    st.failed = (st.failed ?? 0) + 1;
    if (st.failed <= (rec.obj.spec.backoffLimit ?? 6)) {
      this.touchJob(rec);
      this.later(rec, 10 * 2 ** (st.failed - 1), () => this.createPod(rec));
      return;
    }
    this.finish(rec, 'FailureTarget', 'Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
  }

  /** Adds the interim condition, then (after conditionLagMs) the final one. @param {any} rec @param {string} interim @param {string} final @param {string} reason @param {string} message */
  finish(rec, interim, final, reason, message, waitFor = /** @type {Promise<unknown>} */ (Promise.resolve())) {
    rec.finished = true;
    const st = rec.obj.status;
    const at = now();
    st.conditions = [...(st.conditions ?? []), { type: interim, status: 'True', reason, message, lastProbeTime: at, lastTransitionTime: at }];
    this.touchJob(rec);
    void waitFor.then(() => {
      if (this.closed || this.jobs.get(rec.key) !== rec) return;
      this.later(rec, this.conditionLagMs, () => {
        if (this.jobs.get(rec.key) !== rec) return;
        const t = now();
        st.conditions = [...st.conditions, { type: final, status: 'True', reason, message, lastProbeTime: t, lastTransitionTime: t }];
        if (final === 'Complete') st.completionTime = t;
        st.terminating = 0;
        this.touchJob(rec);
        const ttl = rec.obj.spec.ttlSecondsAfterFinished;
        if (typeof ttl === 'number') this.later(rec, ttl * 1000, () => this.removeJob(rec, 'kill'));
      });
    });
  }

  /** activeDeadlineSeconds passed. @param {any} rec */
  deadline(rec) {
    if (this.jobs.get(rec.key) !== rec || rec.finished) return;
    rec.deadlineHit = true;
    const st = rec.obj.status;
    const live = rec.pods.filter((/** @type {any} */ p) => !p.finalized);
    for (const p of live) {
      p.finalized = true;
      const cs = p.obj.status.containerStatuses[0];
      if (cs.state.running !== undefined) {
        cs.state = { terminated: { exitCode: 137, reason: 'Error', startedAt: cs.state.running.startedAt, finishedAt: now(), signal: 9 } };
      } else {
        cs.state = { terminated: { exitCode: 0, reason: 'ContainerCannotRun', message: 'deleted before it started', startedAt: now(), finishedAt: now() } };
      }
      p.obj.status.phase = 'Failed';
      p.obj.status.reason = 'DeadlineExceeded';
      p.obj.status.message = 'Pod was active on the node longer than the specified deadline';
      this.touchPod(p);
    }
    st.active = 0;
    st.ready = 0;
    st.failed = (st.failed ?? 0) + live.length;
    const procs = live.map((/** @type {any} */ p) => p.proc).filter((/** @type {Proc | undefined} */ p) => p !== undefined && !p.exited);
    for (const p of procs) this.terminate(p);
    this.finish(rec, 'FailureTarget', 'Failed', 'DeadlineExceeded', 'Job was active longer than specified deadline', Promise.all(procs.map((/** @type {Proc} */ p) => p.done)));
  }

  /** SIGTERM to the process group, SIGKILL after killGraceMs. @param {Proc} p */
  terminate(p) {
    if (p.exited) return;
    killGroup(p.pid, 'SIGTERM');
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!p.exited) killGroup(p.pid, 'SIGKILL');
    }, this.killGraceMs);
    this.timers.add(t);
  }

  /** Removes a Job. 'kill': its pods go and their processes are killed; 'orphan': pods and processes stay. @param {any} rec @param {'kill'|'orphan'} mode */
  removeJob(rec, mode) {
    if (this.jobs.get(rec.key) !== rec) return;
    this.jobs.delete(rec.key);
    rec.finished = true;
    for (const t of rec.timers) {
      clearTimeout(t);
      this.timers.delete(t);
    }
    rec.timers.clear();
    rec.obj.metadata.resourceVersion = String(++this.rv);
    this.emit('jobs', 'DELETED', rec.obj);
    for (const p of rec.pods) {
      if (mode === 'orphan') {
        delete p.obj.metadata.ownerReferences;
        if (p.proc !== undefined) p.proc.orphan = true;
        continue;
      }
      p.finalized = true;
      if (p.proc !== undefined) this.terminate(p.proc);
      if (this.pods.get(p.key) === p) {
        this.pods.delete(p.key);
        p.obj.metadata.resourceVersion = String(++this.rv);
        this.emit('pods', 'DELETED', p.obj);
      }
    }
  }

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {string} ns @param {string} name @param {URLSearchParams} q @param {Buffer} raw */
  handleDelete(req, res, ns, name, q, raw) {
    /** @type {any} */
    let opts = {};
    if (raw.length > 0) {
      try {
        opts = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new HttpError(400, 'the body of the request was in an unknown format');
      }
    }
    const rec = this.jobs.get(`${ns}/${name}`);
    if (rec === undefined) throw notFound('jobs', name);
    const pre = opts?.preconditions;
    if (pre?.uid !== undefined && pre.uid !== rec.obj.metadata.uid) {
      throw new HttpError(409, `Operation cannot be fulfilled on jobs.batch "${name}": Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${rec.obj.metadata.uid}`, 'Conflict', { name, group: 'batch', kind: 'jobs' });
    }
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== rec.obj.metadata.resourceVersion) {
      throw new HttpError(409, `Operation cannot be fulfilled on jobs.batch "${name}": Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${rec.obj.metadata.resourceVersion}`, 'Conflict', { name, group: 'batch', kind: 'jobs' });
    }
    const qp = q.get('propagationPolicy') ?? undefined;
    const bp = typeof opts?.propagationPolicy === 'string' ? opts.propagationPolicy : undefined;
    if (qp !== undefined && bp !== undefined && qp !== bp) throw new HttpError(400, 'propagationPolicy in the query and the body differ');
    let policy = qp ?? bp;
    if (policy === undefined && opts?.orphanDependents !== undefined) policy = opts.orphanDependents ? 'Orphan' : 'Background';
    if (policy !== undefined && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
      throw new HttpError(422, `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`, 'Invalid');
    }
    const ok = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: 'batch', kind: 'jobs', uid: rec.obj.metadata.uid } };
    if (policy === undefined || policy === 'Orphan') {
      this.removeJob(rec, 'orphan');
      this.send(res, req, 200, ok, {}, policy === undefined ? ORPHAN_WARNING : undefined);
      return;
    }
    if (policy === 'Background') {
      this.removeJob(rec, 'kill');
      this.send(res, req, 200, ok);
      return;
    }
    // Foreground: the Job stays, with deletionTimestamp, until its processes are gone.
    rec.obj.metadata.deletionTimestamp = now();
    rec.obj.metadata.deletionGracePeriodSeconds = 0;
    rec.obj.metadata.finalizers = ['foregroundDeletion'];
    this.touchJob(rec);
    const procs = rec.pods.map((/** @type {any} */ p) => p.proc).filter((/** @type {Proc | undefined} */ p) => p !== undefined && !p.exited);
    for (const p of procs) this.terminate(p);
    void Promise.all(procs.map((/** @type {Proc} */ p) => p.done)).then(() => this.removeJob(rec, 'kill'));
    this.send(res, req, 200, rec.obj);
  }

  /** @param {'jobs'|'pods'} kind @param {string} ns @param {URLSearchParams} q */
  select(kind, ns, q) {
    const labels = parseSelector(q.get('labelSelector') ?? '');
    const fields = parseSelector(q.get('fieldSelector') ?? '');
    const store = kind === 'jobs' ? this.jobs : this.pods;
    return {
      labels,
      fields,
      items: [...store.values()].map((r) => r.obj).filter((o) => o.metadata.namespace === ns && matches(labels, (k) => o.metadata.labels?.[k]) && matches(fields, (k) => fieldOf(o, k))),
    };
  }

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {'jobs'|'pods'} kind @param {string} ns @param {URLSearchParams} q */
  handleList(req, res, kind, ns, q) {
    const { items } = this.select(kind, ns, q);
    this.send(res, req, 200, {
      apiVersion: kind === 'jobs' ? 'batch/v1' : 'v1',
      kind: kind === 'jobs' ? 'JobList' : 'PodList',
      metadata: { resourceVersion: String(this.rv) },
      items,
    });
  }

  /**
   * A watch: newline-delimited events. Without resourceVersion (or "0") it starts with ADDED events
   * for what exists; an older resourceVersion than the current one gets ERROR 410 Expired (this
   * fake keeps no history); the stream ends after timeoutSeconds (default 30).
   * @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {'jobs'|'pods'} kind @param {string} ns @param {URLSearchParams} q
   */
  handleWatch(req, res, kind, ns, q) {
    const { labels, fields, items } = this.select(kind, ns, q);
    const url = new URL(req.url ?? '/', 'http://x');
    this.journal.push({ method: 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), status: 200, time: Date.now() });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const rv = q.get('resourceVersion');
    if (rv !== null && rv !== '' && rv !== '0' && Number(rv) < this.rv) {
      res.write(`${JSON.stringify({ type: 'ERROR', object: status(410, `too old resource version: ${rv} (${this.rv})`, 'Expired') })}\n`);
      res.end();
      return;
    }
    if (rv === null || rv === '' || rv === '0') for (const o of items) res.write(`${JSON.stringify({ type: 'ADDED', object: o })}\n`);
    const w = { res, kind, namespace: ns, labels, fields };
    this.watchers.add(w);
    const secs = Number(q.get('timeoutSeconds') ?? '30');
    const t = setTimeout(() => res.end(), Math.max(0, secs) * 1000);
    this.timers.add(t);
    res.on('close', () => {
      clearTimeout(t);
      this.timers.delete(t);
      this.watchers.delete(w);
    });
  }

  /** @param {'jobs'|'pods'} kind @param {'ADDED'|'MODIFIED'|'DELETED'} type @param {any} obj */
  emit(kind, type, obj) {
    for (const w of this.watchers) {
      if (w.kind !== kind || w.namespace !== obj.metadata.namespace) continue;
      if (!matches(w.labels, (k) => obj.metadata.labels?.[k]) || !matches(w.fields, (k) => fieldOf(obj, k))) continue;
      w.res.write(`${JSON.stringify({ type, object: obj })}\n`);
    }
  }

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {any} prec @param {URLSearchParams} q */
  handleLog(req, res, prec, q) {
    const pod = prec.obj;
    const names = pod.spec.containers.map((/** @type {any} */ c) => c.name);
    const container = q.get('container') ?? (names.length === 1 ? names[0] : undefined);
    if (container === undefined) throw new HttpError(400, `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`);
    if (!names.includes(container)) throw new HttpError(400, `container ${container} is not valid for pod ${pod.metadata.name}`);
    if (q.get('previous') === 'true') throw new HttpError(400, `previous terminated container "${container}" in pod "${pod.metadata.name}" not found`);
    const cs = pod.status.containerStatuses.find((/** @type {any} */ c) => c.name === container);
    if (cs?.state?.waiting !== undefined) {
      throw new HttpError(400, `container "${container}" in pod "${pod.metadata.name}" is waiting to start: ${cs.state.waiting.reason}`);
    }
    let text = Buffer.concat(prec.log).toString('utf8');
    const tail = q.get('tailLines');
    if (tail !== null) {
      const n = Number(tail);
      const lines = text.split('\n');
      const nl = lines[lines.length - 1] === '';
      if (nl) lines.pop();
      text = n <= 0 ? '' : lines.slice(-n).join('\n') + (nl && lines.length > 0 ? '\n' : '');
    }
    const limit = q.get('limitBytes');
    if (limit !== null) text = Buffer.from(text, 'utf8').subarray(0, Number(limit)).toString('utf8');
    this.send(res, req, 200, text);
  }

  // ---- custom resources: KubeRay RayJobs (+ RayClusters) and SparkApplications ------------------

  /**
   * @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res
   * @param {{group: string, version: string, plural: string, kind: string, listKind: string}} kind
   * @param {string} ns @param {string | undefined} name @param {string | undefined} sub @param {string} method
   * @param {URLSearchParams} q @param {Buffer} raw
   */
  routeCustom(req, res, kind, ns, name, sub, method, q, raw) {
    const notAllowed = () => new HttpError(405, 'the server does not allow this method on the requested resource');
    if (name === undefined) {
      if (method === 'POST') return this.handleCustomCreate(req, res, kind, ns, q, raw);
      if (method === 'GET') {
        const labels = parseSelector(q.get('labelSelector') ?? '');
        const fields = parseSelector(q.get('fieldSelector') ?? '');
        const items = [...this.crs.values()]
          .filter((r) => r.plural === kind.plural && r.obj.metadata.namespace === ns)
          .map((r) => r.obj)
          .filter((o) => matches(labels, (k) => o.metadata.labels?.[k]) && matches(fields, (k) => fieldOf(o, k)));
        this.send(res, req, 200, { apiVersion: `${kind.group}/${kind.version}`, kind: kind.listKind, metadata: { resourceVersion: String(this.rv) }, items });
        return;
      }
      throw notAllowed();
    }
    const rec = this.crs.get(crKey(kind.plural, ns, name));
    if (method === 'GET') {
      if (rec === undefined) throw notFound(kind.plural, name, kind.group);
      this.send(res, req, 200, rec.obj);
      return;
    }
    if (method === 'DELETE' && sub === undefined) return this.handleCustomDelete(req, res, kind, ns, name, q, raw);
    if (method === 'PATCH') {
      if (rec === undefined) throw notFound(kind.plural, name, kind.group);
      const ct = String(req.headers['content-type'] ?? '').split(';')[0]?.trim();
      if (ct !== 'application/merge-patch+json') {
        throw new HttpError(415, `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json (this fake)`, 'UnsupportedMediaType');
      }
      /** @type {any} */
      let patch;
      try {
        patch = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new HttpError(400, 'the body of the request was in an unknown format');
      }
      if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new HttpError(422, 'a merge patch must be a JSON object', 'Invalid');
      if (sub === '/status') {
        if (patch.status !== undefined) rec.obj.status = mergePatch(rec.obj.status ?? {}, patch.status);
      } else {
        if (patch.spec !== undefined) rec.obj.spec = mergePatch(rec.obj.spec, patch.spec);
        if (patch.metadata?.labels !== undefined) rec.obj.metadata.labels = mergePatch(rec.obj.metadata.labels ?? {}, patch.metadata.labels);
        if (patch.metadata?.annotations !== undefined) rec.obj.metadata.annotations = mergePatch(rec.obj.metadata.annotations ?? {}, patch.metadata.annotations);
        rec.obj.metadata.generation = (rec.obj.metadata.generation ?? 1) + (patch.spec !== undefined ? 1 : 0);
      }
      this.touchCr(rec);
      this.send(res, req, 200, rec.obj);
      return;
    }
    throw notAllowed();
  }

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {{group: string, version: string, plural: string, kind: string}} kind @param {string} ns @param {URLSearchParams} q @param {Buffer} raw */
  handleCustomCreate(req, res, kind, ns, q, raw) {
    /** @type {any} */
    let body;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw new HttpError(400, `the object provided is unrecognized (couldn't get version/kind; json parse error: ${e instanceof Error ? e.message : String(e)})`);
    }
    const apiVersion = `${kind.group}/${kind.version}`;
    if (typeof body !== 'object' || body === null || body.kind !== kind.kind || body.apiVersion !== apiVersion) {
      throw new HttpError(400, `the API version in the data (${body?.apiVersion}) does not match the expected API version (${apiVersion})`);
    }
    if (body.metadata?.namespace !== undefined && body.metadata.namespace !== ns) {
      throw new HttpError(400, 'the namespace of the provided object does not match the namespace sent on the request');
    }
    const name = String(body.metadata?.name ?? '');
    const causes = kind.kind === 'RayJob' ? validateRayJob(body) : kind.kind === 'SparkApplication' ? validateSparkApplication(body) : validateMeta(body, 63);
    if (causes.length > 0) {
      const list = causes.map((c) => `${c.field}: ${c.message}`);
      throw new HttpError(422, `${kind.kind}.${kind.group} "${name}" is invalid: ${list.length === 1 ? list[0] : `[${list.join(', ')}]`}`, 'Invalid', {
        name,
        group: kind.group,
        kind: kind.kind,
        causes: causes.map((c) => ({ reason: c.message.startsWith('Required') ? 'FieldValueRequired' : 'FieldValueInvalid', message: c.message, field: c.field })),
      });
    }
    if (this.crs.has(crKey(kind.plural, ns, name))) {
      throw new HttpError(409, `${kind.plural}.${kind.group} "${name}" already exists`, 'AlreadyExists', { name, group: kind.group, kind: kind.plural });
    }
    if (q.get('dryRun') === 'All') {
      this.send(res, req, 201, { ...clone(body), metadata: { ...body.metadata, namespace: ns, uid: randomUUID(), creationTimestamp: now() } });
      return;
    }
    const obj = this.createCustom(kind, ns, body);
    if (this.afterCreate > 0) {
      this.afterCreate--;
      this.send(res, req, 500, status(500, `Internal error occurred: injected fault after the ${kind.kind} was stored`));
      return;
    }
    this.send(res, req, 201, obj);
  }

  /** Stores a custom object and starts its operator's work. @param {{group: string, version: string, plural: string, kind: string}} kind @param {string} ns @param {any} body */
  createCustom(kind, ns, body) {
    const obj = {
      ...clone(body),
      apiVersion: `${kind.group}/${kind.version}`,
      kind: kind.kind,
      metadata: { ...clone(body.metadata), namespace: ns, uid: randomUUID(), resourceVersion: String(++this.rv), generation: 1, creationTimestamp: now() },
      status: {},
    };
    const key = crKey(kind.plural, ns, obj.metadata.name);
    const rec = { key, plural: kind.plural, kind, obj, timers: new Set(), finished: false, standalone: true, procs: new Set(), pods: /** @type {any[]} */ ([]), hooks: /** @type {any} */ (undefined), submitter: /** @type {any} */ (undefined), cluster: /** @type {any} */ (undefined), owner: /** @type {any} */ (undefined) };
    this.crs.set(key, rec);
    const counts = this.crCreated.get(kind.plural) ?? new Map();
    counts.set(`${ns}/${obj.metadata.name}`, (counts.get(`${ns}/${obj.metadata.name}`) ?? 0) + 1);
    this.crCreated.set(kind.plural, counts);
    if (kind.kind === 'RayJob') this.later(rec, this.operatorLagMs, () => this.rayJobInitialize(rec));
    if (kind.kind === 'SparkApplication') this.later(rec, this.operatorLagMs, () => this.sparkSubmit(rec));
    return clone(obj);
  }

  /** @param {any} rec */
  touchCr(rec) {
    rec.obj.metadata.resourceVersion = String(++this.rv);
  }

  /** @param {any} rec */
  crAlive(rec) {
    return this.crs.get(rec.key) === rec;
  }

  /** A pod object owned by a custom resource (no Job), stored and listed like a Job's pods. @param {any} owner @param {string} name @param {Record<string,string>} labels @param {any[]} containers @param {any} [podSpec] */
  addPod(owner, name, labels, containers, podSpec = {}) {
    const ns = owner.obj.metadata.namespace;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: ns,
        uid: randomUUID(),
        resourceVersion: String(++this.rv),
        creationTimestamp: now(),
        labels: { ...labels },
        ownerReferences: [{ apiVersion: owner.obj.apiVersion, kind: owner.obj.kind, name: owner.obj.metadata.name, uid: owner.obj.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: { restartPolicy: 'Never', ...clone(podSpec), containers: clone(containers), nodeName: 'fake-node' },
      status: {
        phase: 'Pending',
        hostIP: '127.0.0.1',
        startTime: now(),
        conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: now() }],
        containerStatuses: containers.map((/** @type {any} */ c) => ({ name: c.name, image: c.image, imageID: '', ready: false, restartCount: 0, started: false, state: { waiting: { reason: 'ContainerCreating' } } })),
      },
    };
    const prec = { key: `${ns}/${name}`, obj: pod, job: owner, log: /** @type {Buffer[]} */ ([]), logBytes: 0, proc: /** @type {Proc | undefined} */ (undefined), finalized: false };
    this.pods.set(prec.key, prec);
    owner.pods.push(prec);
    this.emit('pods', 'ADDED', pod);
    return prec;
  }

  /** A process-less pod's containers are running (or cannot pull their image). @param {any} prec */
  podUp(prec) {
    if (prec.finalized || this.pods.get(prec.key) !== prec) return;
    const pod = prec.obj;
    for (const cs of pod.status.containerStatuses) {
      if (this.images !== undefined && this.images[cs.image] === undefined) {
        cs.state = { waiting: { reason: 'ErrImagePull', message: `rpc error: code = NotFound desc = failed to pull and unpack image "${cs.image}": not found` } };
        continue;
      }
      cs.state = { running: { startedAt: now() } };
      cs.ready = true;
      cs.started = true;
    }
    if (pod.status.containerStatuses.every((/** @type {any} */ cs) => cs.state.running !== undefined)) {
      pod.status.phase = 'Running';
      pod.status.podIP = '127.0.0.1';
    }
    this.touchPod(prec);
  }

  /** Removes a pod (its process is killed unless 'orphan'). @param {any} prec @param {'kill'|'orphan'} [mode] */
  removePod(prec, mode = 'kill') {
    if (mode === 'orphan') {
      delete prec.obj.metadata.ownerReferences;
      if (prec.proc !== undefined) prec.proc.orphan = true;
      return;
    }
    prec.finalized = true;
    if (prec.proc !== undefined) this.terminate(prec.proc);
    if (this.pods.get(prec.key) === prec) {
      this.pods.delete(prec.key);
      prec.obj.metadata.resourceVersion = String(++this.rv);
      this.emit('pods', 'DELETED', prec.obj);
    }
  }

  /** Removes a custom object, and (unless 'orphan') what it owns: pods, the RayCluster, the submitter Job. @param {any} rec @param {'kill'|'orphan'} mode */
  removeCustom(rec, mode) {
    if (!this.crAlive(rec)) return;
    this.crs.delete(rec.key);
    rec.finished = true;
    for (const t of rec.timers) {
      clearTimeout(t);
      this.timers.delete(t);
    }
    rec.timers.clear();
    rec.obj.metadata.resourceVersion = String(++this.rv);
    for (const p of rec.pods) this.removePod(p, mode);
    if (mode === 'orphan') return;
    if (rec.submitter !== undefined) this.removeJob(rec.submitter, 'kill');
    if (rec.cluster !== undefined) this.removeCustom(rec.cluster, 'kill');
  }

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {{group: string, version: string, plural: string, kind: string}} kind @param {string} ns @param {string} name @param {URLSearchParams} q @param {Buffer} raw */
  handleCustomDelete(req, res, kind, ns, name, q, raw) {
    /** @type {any} */
    let opts = {};
    if (raw.length > 0) {
      try {
        opts = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new HttpError(400, 'the body of the request was in an unknown format');
      }
    }
    const rec = this.crs.get(crKey(kind.plural, ns, name));
    if (rec === undefined) throw notFound(kind.plural, name, kind.group);
    const res409 = (/** @type {string} */ what, /** @type {string} */ want, /** @type {string} */ have) =>
      new HttpError(409, `Operation cannot be fulfilled on ${kind.plural}.${kind.group} "${name}": Precondition failed: ${what} in precondition: ${want}, ${what} in object meta: ${have}`, 'Conflict', { name, group: kind.group, kind: kind.plural });
    const pre = opts?.preconditions;
    if (pre?.uid !== undefined && pre.uid !== rec.obj.metadata.uid) throw res409('UID', pre.uid, rec.obj.metadata.uid);
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== rec.obj.metadata.resourceVersion) throw res409('ResourceVersion', pre.resourceVersion, rec.obj.metadata.resourceVersion);
    const qp = q.get('propagationPolicy') ?? undefined;
    const bp = typeof opts?.propagationPolicy === 'string' ? opts.propagationPolicy : undefined;
    if (qp !== undefined && bp !== undefined && qp !== bp) throw new HttpError(400, 'propagationPolicy in the query and the body differ');
    let policy = qp ?? bp;
    if (policy === undefined && opts?.orphanDependents !== undefined) policy = opts.orphanDependents ? 'Orphan' : 'Background';
    if (policy !== undefined && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
      throw new HttpError(422, `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`, 'Invalid');
    }
    // Custom resources default to Background (no Orphan warning, unlike batch/v1 Jobs).
    // Foreground is treated as Background here: the object goes at once with what it owns.
    this.removeCustom(rec, policy === 'Orphan' ? 'orphan' : 'kill');
    this.send(res, req, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: kind.group, kind: kind.plural, uid: rec.obj.metadata.uid } });
  }

  // -- RayJob --

  /** Initializing: a RayCluster (head + workers as pod objects) is starting. @param {any} rec */
  rayJobInitialize(rec) {
    if (!this.crAlive(rec) || rec.finished) return;
    const job = rec.obj;
    const ns = job.metadata.namespace;
    const st = job.status;
    const clusterName = `${job.metadata.name}-${rand5()}`;
    st.jobId = job.spec.jobId ?? job.metadata.name;
    st.rayClusterName = clusterName;
    st.dashboardURL = `${clusterName}-head-svc.${ns}.svc.cluster.local:8265`;
    st.jobDeploymentStatus = 'Initializing';
    st.startTime = now();
    st.observedGeneration = job.metadata.generation;
    // the RayCluster
    const cspec = clone(job.spec.rayClusterSpec);
    const cluster = {
      apiVersion: 'ray.io/v1',
      kind: 'RayCluster',
      metadata: {
        name: clusterName,
        namespace: ns,
        uid: randomUUID(),
        resourceVersion: String(++this.rv),
        generation: 1,
        creationTimestamp: now(),
        labels: { 'ray.io/originated-from-crd': 'RayJob', 'ray.io/originated-from-cr-name': job.metadata.name },
        ownerReferences: [{ apiVersion: 'ray.io/v1', kind: 'RayJob', name: job.metadata.name, uid: job.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: cspec,
      status: { state: '', desiredWorkerReplicas: 0, availableWorkerReplicas: 0 },
    };
    const ckey = crKey('rayclusters', ns, clusterName);
    const crec = { key: ckey, plural: 'rayclusters', kind: CR_KINDS['ray.io/v1/rayclusters'], obj: cluster, timers: new Set(), finished: false, standalone: true, procs: new Set(), pods: /** @type {any[]} */ ([]), hooks: undefined, submitter: undefined, cluster: undefined, owner: rec };
    this.crs.set(ckey, crec);
    rec.cluster = crec;
    const list = this.rayClusters.get(`${ns}/${job.metadata.name}`) ?? [];
    list.push(`${ns}/${clusterName}`);
    this.rayClusters.set(`${ns}/${job.metadata.name}`, list);
    const clusterLabels = (/** @type {string} */ type, /** @type {string} */ group) => ({ 'ray.io/cluster': clusterName, 'ray.io/node-type': type, 'ray.io/group': group, 'ray.io/is-ray-node': 'yes' });
    const head = cspec?.headGroupSpec?.template;
    this.addPod(crec, `${clusterName}-head-${rand5()}`, { ...(head?.metadata?.labels ?? {}), ...clusterLabels('head', 'headgroup') }, head?.spec?.containers ?? [], { ...(head?.spec ?? {}) });
    let desired = 0;
    for (const g of cspec?.workerGroupSpecs ?? []) {
      const n = (g.replicas ?? 1) * (g.numOfHosts ?? 1);
      desired += n;
      for (let i = 0; i < n; i++) this.addPod(crec, `${clusterName}-${g.groupName}-worker-${rand5()}`, { ...(g.template?.metadata?.labels ?? {}), ...clusterLabels('worker', g.groupName) }, g.template?.spec?.containers ?? [], { ...(g.template?.spec ?? {}) });
    }
    cluster.status.desiredWorkerReplicas = desired;
    this.touchCr(rec);
    const ads = job.spec.activeDeadlineSeconds;
    if (typeof ads === 'number') this.later(rec, ads * 1000, () => this.rayJobDeadline(rec));
    this.later(crec, this.clusterStartMs, () => {
      for (const p of crec.pods) this.podUp(p);
      const headImage = head?.spec?.containers?.[0]?.image;
      if (this.images !== undefined && this.images[headImage] === undefined) return; // never ready
      cluster.status.state = 'ready';
      cluster.status.availableWorkerReplicas = desired;
      cluster.status.readyWorkerReplicas = desired;
      this.touchCr(crec);
      this.rayJobRun(rec);
    });
  }

  /** The cluster is ready: the submitter Job (K8sJobMode) runs the entrypoint. @param {any} rec */
  rayJobRun(rec) {
    if (!this.crAlive(rec) || rec.finished) return;
    const job = rec.obj;
    const ns = job.metadata.namespace;
    const st = job.status;
    st.jobDeploymentStatus = 'Running';
    st.jobStatus = 'PENDING';
    st.rayClusterStatus = clone(rec.cluster.obj.status);
    this.touchCr(rec);
    const headC = job.spec.rayClusterSpec?.headGroupSpec?.template?.spec?.containers?.[0] ?? {};
    /** @type {Record<string, string>} */
    const env = {};
    for (const e of headC.env ?? []) if (typeof e?.value === 'string') env[e.name] = e.value;
    let runtimeEnv = {};
    if (typeof job.spec.runtimeEnvYAML === 'string' && job.spec.runtimeEnvYAML.trim() !== '') {
      try {
        runtimeEnv = parseYaml(job.spec.runtimeEnvYAML) ?? {};
      } catch {
        runtimeEnv = {};
      }
    }
    const vars = /** @type {any} */ (runtimeEnv).env_vars;
    if (typeof vars === 'object' && vars !== null) for (const [k, v] of Object.entries(vars)) env[k] = String(v);
    env.RAY_ADDRESS = `http://${st.dashboardURL}`;
    env.RAY_JOB_SUBMISSION_ID = st.jobId;
    const body = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: job.metadata.name,
        namespace: ns,
        labels: { 'ray.io/originated-from-crd': 'RayJob', 'ray.io/originated-from-cr-name': job.metadata.name },
        ownerReferences: [{ apiVersion: 'ray.io/v1', kind: 'RayJob', name: job.metadata.name, uid: job.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: {
        backoffLimit: job.spec.submitterConfig?.backoffLimit ?? 0,
        template: {
          metadata: { labels: { 'ray.io/originated-from-cr-name': job.metadata.name } },
          spec: {
            restartPolicy: 'Never',
            containers: [{ name: 'ray-job-submitter', image: headC.image, command: ['/bin/sh', '-c', String(job.spec.entrypoint ?? '')], env: Object.entries(env).map(([name, value]) => ({ name, value })) }],
          },
        },
      },
    };
    const existing = this.jobs.get(`${ns}/${job.metadata.name}`);
    if (existing !== undefined) this.removeJob(existing, 'kill');
    this.createJob(ns, body);
    const sub = this.jobs.get(`${ns}/${job.metadata.name}`);
    rec.submitter = sub;
    sub.hooks = {
      running: () => {
        if (!this.crAlive(rec) || rec.finished) return;
        st.jobStatus = 'RUNNING';
        st.rayJobInfo = { startTime: now() };
        this.touchCr(rec);
      },
      podFinished: (/** @type {any} */ prec, /** @type {boolean} */ ok) => {
        if (!this.crAlive(rec) || rec.finished) return;
        const code = prec.obj.status.containerStatuses[0]?.state?.terminated?.exitCode ?? (ok ? 0 : 1);
        this.rayJobFinish(rec, ok, code, Buffer.concat(prec.log).toString('utf8'));
      },
    };
  }

  /** The Ray job ended. @param {any} rec @param {boolean} ok @param {number} code @param {string} log */
  rayJobFinish(rec, ok, code, log) {
    rec.finished = true;
    const st = rec.obj.status;
    st.jobStatus = ok ? 'SUCCEEDED' : 'FAILED';
    st.endTime = now();
    st.rayJobInfo = { ...(st.rayJobInfo ?? {}), endTime: st.endTime };
    if (ok) {
      st.jobDeploymentStatus = 'Complete';
      st.message = 'Job finished successfully.';
      st.succeeded = 1;
    } else {
      st.jobDeploymentStatus = this.rayFailedStatus;
      if (this.rayFailedStatus === 'Failed') st.reason = 'AppFailed';
      st.message = `Job entrypoint command failed with exit code ${code}, last available logs (truncated to 20,000 chars):\n${log.slice(-20000)}`;
      st.failed = 1;
    }
    this.touchCr(rec);
    this.rayJobShutdown(rec);
  }

  /** activeDeadlineSeconds passed. @param {any} rec */
  rayJobDeadline(rec) {
    if (!this.crAlive(rec) || rec.finished) return;
    rec.finished = true;
    const st = rec.obj.status;
    st.jobDeploymentStatus = 'Failed';
    st.reason = 'DeadlineExceeded';
    st.message = `The RayJob has passed the activeDeadlineSeconds. StartTime: ${st.startTime}. ActiveDeadlineSeconds: ${rec.obj.spec.activeDeadlineSeconds}`;
    st.endTime = now();
    st.failed = 1;
    this.touchCr(rec);
    if (rec.submitter !== undefined) this.deadline(rec.submitter);
    this.rayJobShutdown(rec);
  }

  /** shutdownAfterJobFinishes: the RayCluster goes ttlSecondsAfterFinished after the end. @param {any} rec */
  rayJobShutdown(rec) {
    if (rec.obj.spec.shutdownAfterJobFinishes !== true || rec.cluster === undefined) return;
    const crec = rec.cluster;
    const ttl = rec.obj.spec.ttlSecondsAfterFinished ?? 0;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.closed) return;
      this.removeCustom(crec, 'kill');
      if (this.crAlive(rec)) {
        rec.obj.status.rayClusterStatus = { ...(rec.obj.status.rayClusterStatus ?? {}), state: '' };
        this.touchCr(rec);
      }
    }, ttl * 1000);
    this.timers.add(t);
  }

  // -- SparkApplication --

  /** spark-submit: the driver pod appears (SUBMITTED), or SUBMISSION_FAILED. @param {any} rec */
  sparkSubmit(rec) {
    if (!this.crAlive(rec) || rec.finished) return;
    const app = rec.obj;
    const spec = app.spec;
    const st = app.status;
    const name = app.metadata.name;
    st.lastSubmissionAttemptTime = now();
    st.submissionAttempts = 1;
    const bad = ['driver', 'executor'].map((r) => [r, spec[r]?.memory]).find(([, m]) => m !== undefined && !SPARK_SIZE.test(String(m)));
    if (bad !== undefined) {
      rec.finished = true;
      st.applicationState = { state: 'SUBMISSION_FAILED', errorMessage: `failed to run spark-submit for SparkApplication ${app.metadata.namespace}/${name}: Exception in thread "main" java.lang.NumberFormatException: Size must be specified as bytes (b), kibibytes (k), mebibytes (m), gibibytes (g), tebibytes (t), or pebibytes(p). E.g. 50b, 100k, or 250m.\nFailed to parse byte string: ${bad[1]}` };
      st.terminationTime = now();
      this.touchCr(rec);
      this.sparkTtl(rec);
      return;
    }
    const appId = `spark-${randomBytes(16).toString('hex')}`;
    st.sparkApplicationId = appId;
    st.submissionID = randomUUID();
    st.driverInfo = { podName: `${name}-driver`, webUIServiceName: `${name}-ui-svc`, webUIPort: 4040 };
    st.applicationState = { state: 'SUBMITTED' };
    st.executionAttempts = 1;
    this.touchCr(rec);
    const driver = spec.driver ?? {};
    const env = (driver.env ?? []).filter((/** @type {any} */ e) => typeof e?.value === 'string');
    const c = { name: 'spark-kubernetes-driver', image: driver.image ?? spec.image, env, args: ['driver', '--properties-file', '/opt/spark/conf/spark.properties', '--class', 'org.apache.spark.deploy.PythonRunner', String(spec.mainApplicationFile ?? '')] };
    const labels = { ...(driver.labels ?? {}), 'spark-role': 'driver', 'spark-app-selector': appId, 'spark-app-name': name, 'sparkoperator.k8s.io/app-name': name, 'sparkoperator.k8s.io/launched-by-spark-operator': 'true', 'sparkoperator.k8s.io/submission-id': st.submissionID };
    const prec = this.addPod(rec, `${name}-driver`, labels, [c], { ...(driver.serviceAccount !== undefined ? { serviceAccountName: driver.serviceAccount } : {}) });
    const image = this.images === undefined ? {} : this.images[c.image];
    if (image === undefined) {
      this.later(rec, 5, () => {
        if (prec.finalized) return;
        prec.obj.status.containerStatuses[0].state = { waiting: { reason: 'ErrImagePull', message: `rpc error: code = NotFound desc = failed to pull and unpack image "${c.image}": not found` } };
        this.touchPod(prec);
      });
      return;
    }
    const file = resolveImageFile(image, String(spec.mainApplicationFile ?? ''));
    rec.hooks = {
      running: () => {
        if (!this.crAlive(rec) || rec.finished) return;
        st.applicationState = { state: 'RUNNING' };
        const n = spec.executor?.instances ?? 1;
        st.executorState = {};
        for (let i = 1; i <= n; i++) {
          const ename = `${name}-exec-${i}`;
          const ec = { name: 'spark-kubernetes-executor', image: spec.executor?.image ?? spec.image, env: spec.executor?.env ?? [] };
          const ep = this.addPod(rec, ename, { ...(spec.executor?.labels ?? {}), 'spark-role': 'executor', 'spark-app-selector': appId, 'sparkoperator.k8s.io/app-name': name, 'spark-exec-id': String(i) }, [ec]);
          this.podUp(ep);
          st.executorState[ename] = 'RUNNING';
        }
        this.touchCr(rec);
      },
      podFinished: (/** @type {any} */ p, /** @type {boolean} */ ok) => {
        if (p !== prec || !this.crAlive(rec) || rec.finished) return;
        rec.finished = true;
        const term = p.obj.status.containerStatuses[0]?.state?.terminated;
        const code = term?.exitCode ?? (ok ? 0 : 1);
        st.applicationState = ok ? { state: 'SUCCEEDING' } : { state: 'FAILING', errorMessage: `driver container failed with ExitCode: ${code}, Reason: ${term?.reason ?? 'Error'}` };
        this.touchCr(rec);
        // executors wind down, then the final state
        this.later(rec, this.conditionLagMs, () => {
          for (const ep of rec.pods.filter((/** @type {any} */ x) => x !== prec)) {
            if (st.executorState !== undefined) st.executorState[ep.obj.metadata.name] = ok ? 'COMPLETED' : 'FAILED';
            if (spec.executor?.deleteOnTermination !== false) this.removePod(ep);
          }
          st.applicationState = ok ? { state: 'COMPLETED' } : { state: 'FAILED', errorMessage: st.applicationState.errorMessage };
          st.terminationTime = now();
          this.touchCr(rec);
          this.sparkTtl(rec);
        });
      },
    };
    this.later(rec, this.startDelayMs, () => this.runContainer(prec, { ...c, command: [this.python, file, ...(spec.arguments ?? [])], args: [] }, image));
  }

  /** timeToLiveSeconds after the end, the application (and its pods) is removed. @param {any} rec */
  sparkTtl(rec) {
    const ttl = rec.obj.spec.timeToLiveSeconds;
    if (typeof ttl !== 'number') return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) this.removeCustom(rec, 'kill');
    }, ttl * 1000);
    this.timers.add(t);
  }

  // -- hooks --

  /** RayJobs created (201 or the ambiguous 500) per "ns/name". @returns {Record<string, number>} */
  rayJobsCreated() {
    return Object.fromEntries(this.crCreated.get('rayjobs') ?? new Map());
  }

  /** SparkApplications created (201 or the ambiguous 500) per "ns/name". @returns {Record<string, number>} */
  sparkAppsCreated() {
    return Object.fromEntries(this.crCreated.get('sparkapplications') ?? new Map());
  }

  /** The RayClusters each RayJob ("ns/name") brought up, as "ns/cluster", in order. @returns {Record<string, string[]>} */
  clustersCreated() {
    return Object.fromEntries([...this.rayClusters].map(([k, v]) => [k, [...v]]));
  }

  /** The RayClusters that exist now ("ns/cluster"). @returns {string[]} */
  clustersAlive() {
    return [...this.crs.values()].filter((r) => r.plural === 'rayclusters').map((r) => `${r.obj.metadata.namespace}/${r.obj.metadata.name}`);
  }

  /** A stored RayJob (a copy), or undefined. @param {string} ns @param {string} name */
  rayJob(ns, name) {
    const r = this.crs.get(crKey('rayjobs', ns, name));
    return r === undefined ? undefined : clone(r.obj);
  }

  /** A stored RayCluster (a copy), or undefined. @param {string} ns @param {string} name */
  rayCluster(ns, name) {
    const r = this.crs.get(crKey('rayclusters', ns, name));
    return r === undefined ? undefined : clone(r.obj);
  }

  /** A stored SparkApplication (a copy), or undefined. @param {string} ns @param {string} name */
  sparkApplication(ns, name) {
    const r = this.crs.get(crKey('sparkapplications', ns, name));
    return r === undefined ? undefined : clone(r.obj);
  }

  /** Pods whose labels match a selector ("k=v,..."), copies. @param {string} ns @param {string} selector */
  podsWith(ns, selector) {
    const reqs = parseSelector(selector);
    return [...this.pods.values()].map((p) => p.obj).filter((o) => o.metadata.namespace === ns && matches(reqs, (k) => o.metadata.labels?.[k])).map((o) => clone(o));
  }

  /** The RayJob disappears with its cluster and submitter (as after an external delete): 404 afterwards. @param {string} ns @param {string} name */
  forgetRayJob(ns, name) {
    const rec = this.crs.get(crKey('rayjobs', ns, name));
    if (rec === undefined) return false;
    this.removeCustom(rec, 'kill');
    return true;
  }

  /** The SparkApplication disappears with its pods: 404 afterwards. @param {string} ns @param {string} name */
  forgetSparkApplication(ns, name) {
    const rec = this.crs.get(crKey('sparkapplications', ns, name));
    if (rec === undefined) return false;
    this.removeCustom(rec, 'kill');
    return true;
  }

  /** @param {{clusterStartMs?: number, operatorLagMs?: number}} t */
  setOperatorTiming(t) {
    if (t.clusterStartMs !== undefined) this.clusterStartMs = t.clusterStartMs;
    if (t.operatorLagMs !== undefined) this.operatorLagMs = t.operatorLagMs;
  }
}

// ---- custom resources ------------------------------------------------------------------------

/** `/apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}[/status]]` */
const CR_PATH = /^\/apis\/([^/]+)\/([^/]+)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+)(\/status)?)?$/;

/** The custom resources the fake serves. @type {Record<string, {group: string, version: string, plural: string, kind: string, listKind: string}>} */
const CR_KINDS = {
  'ray.io/v1/rayjobs': { group: 'ray.io', version: 'v1', plural: 'rayjobs', kind: 'RayJob', listKind: 'RayJobList' },
  'ray.io/v1/rayclusters': { group: 'ray.io', version: 'v1', plural: 'rayclusters', kind: 'RayCluster', listKind: 'RayClusterList' },
  'sparkoperator.k8s.io/v1beta2/sparkapplications': { group: 'sparkoperator.k8s.io', version: 'v1beta2', plural: 'sparkapplications', kind: 'SparkApplication', listKind: 'SparkApplicationList' },
};

const crKey = (/** @type {string} */ plural, /** @type {string} */ ns, /** @type {string} */ name) => `${plural}/${ns}/${name}`;

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** Spark's byte strings (JavaUtils.byteStringAs): a number with an optional b/k/m/g/t/p suffix (also kb, mb...). */
const SPARK_SIZE = /^\d+([bkmgtp]b?)?$/i;

/** RFC 7386 JSON merge patch. @param {any} target @param {any} patch @returns {any} */
function mergePatch(target, patch) {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return clone(patch);
  const out = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Metadata checks common to custom objects. @param {any} obj @param {number} maxName @param {boolean} [dns1035] */
function validateMeta(obj, maxName, dns1035 = false) {
  /** @type {{field: string, message: string}[]} */
  const causes = [];
  const name = obj?.metadata?.name;
  if (typeof name !== 'string' || name === '') causes.push({ field: 'metadata.name', message: 'Required value: name or generateName is required' });
  else {
    if (name.length > maxName) causes.push({ field: 'metadata.name', message: `Invalid value: "${name}": must be no more than ${maxName} characters` });
    if (!(dns1035 ? DNS1035_LABEL : DNS1123_LABEL).test(name)) {
      causes.push({
        field: 'metadata.name',
        message: dns1035
          ? `Invalid value: "${name}": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`
          : `Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`,
      });
    }
  }
  for (const [k, v] of Object.entries(obj?.metadata?.labels ?? {})) {
    if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) causes.push({ field: 'metadata.labels', message: `Invalid value: "${String(v)}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (key ${k})` });
  }
  return causes;
}

/** Container checks (image, env names, resource quantities). @param {any} c @param {string} f @param {{field: string, message: string}[]} causes */
function validateContainer(c, f, causes) {
  if (typeof c?.name !== 'string' || c.name === '') causes.push({ field: `${f}.name`, message: 'Required value' });
  if (typeof c?.image !== 'string' || c.image.trim() === '') causes.push({ field: `${f}.image`, message: 'Required value' });
  for (const [j, e] of (Array.isArray(c?.env) ? c.env : []).entries()) {
    if (typeof e?.name !== 'string' || e.name === '' || e.name.includes('=')) causes.push({ field: `${f}.env[${j}].name`, message: `Invalid value: ${JSON.stringify(e?.name)}: a valid environment variable name must consist only of printable ASCII characters other than '='` });
  }
  for (const kind of ['requests', 'limits']) {
    for (const [rk, rv] of Object.entries(c?.resources?.[kind] ?? {})) {
      if (!QUANTITY.test(String(rv)) || String(rv).startsWith('-')) causes.push({ field: `${f}.resources.${kind}[${rk}]`, message: `Invalid value: "${String(rv)}": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'` });
    }
  }
}

/** A RayJob as the CRD schema and KubeRay's validation see it (name ≤ 47, DNS-1035). @param {any} job */
function validateRayJob(job) {
  const causes = validateMeta(job, 47, true);
  const add = (/** @type {string} */ field, /** @type {string} */ message) => causes.push({ field, message });
  const spec = job?.spec;
  if (typeof spec !== 'object' || spec === null) {
    add('spec', 'Required value');
    return causes;
  }
  if (spec.entrypoint !== undefined && typeof spec.entrypoint !== 'string') add('spec.entrypoint', 'Invalid value: must be a string');
  if (spec.runtimeEnvYAML !== undefined) {
    if (typeof spec.runtimeEnvYAML !== 'string') add('spec.runtimeEnvYAML', 'Invalid value: must be a string');
    else {
      try {
        const v = parseYaml(spec.runtimeEnvYAML);
        if (v !== null && v !== undefined && (typeof v !== 'object' || Array.isArray(v))) add('spec.runtimeEnvYAML', 'Invalid value: not a YAML map');
      } catch (e) {
        add('spec.runtimeEnvYAML', `Invalid value: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  for (const f of ['backoffLimit', 'ttlSecondsAfterFinished']) {
    if (spec[f] !== undefined && (!Number.isInteger(spec[f]) || spec[f] < 0)) add(`spec.${f}`, `Invalid value: ${JSON.stringify(spec[f])}: must be greater than or equal to 0`);
  }
  if (spec.activeDeadlineSeconds !== undefined && (!Number.isInteger(spec.activeDeadlineSeconds) || spec.activeDeadlineSeconds <= 0)) add('spec.activeDeadlineSeconds', 'Invalid value: must be greater than 0');
  if (spec.submissionMode !== undefined && !['K8sJobMode', 'HTTPMode', 'InteractiveMode', 'SidecarMode'].includes(spec.submissionMode)) add('spec.submissionMode', `Unsupported value: "${spec.submissionMode}"`);
  if (spec.shutdownAfterJobFinishes !== true && spec.ttlSecondsAfterFinished !== undefined && spec.ttlSecondsAfterFinished > 0 && spec.clusterSelector === undefined) {
    add('spec.ttlSecondsAfterFinished', 'Invalid value: ttlSecondsAfterFinished is only effective when shutdownAfterJobFinishes is true');
  }
  const cs = spec.rayClusterSpec;
  if (cs === undefined && spec.clusterSelector === undefined) add('spec.rayClusterSpec', 'Required value: one of rayClusterSpec or clusterSelector');
  if (cs !== undefined) {
    const head = cs?.headGroupSpec;
    if (typeof head?.rayStartParams !== 'object' || head.rayStartParams === null) add('spec.rayClusterSpec.headGroupSpec.rayStartParams', 'Required value');
    const checkParams = (/** @type {any} */ p, /** @type {string} */ f) => {
      for (const [k, v] of Object.entries(p ?? {})) if (typeof v !== 'string') add(`${f}.${k}`, `Invalid value: ${JSON.stringify(v)}: must be a string`);
    };
    checkParams(head?.rayStartParams, 'spec.rayClusterSpec.headGroupSpec.rayStartParams');
    const hc = head?.template?.spec?.containers;
    if (!Array.isArray(hc) || hc.length === 0) add('spec.rayClusterSpec.headGroupSpec.template.spec.containers', 'Required value');
    else hc.forEach((c, i) => validateContainer(c, `spec.rayClusterSpec.headGroupSpec.template.spec.containers[${i}]`, causes));
    for (const [gi, g] of (Array.isArray(cs.workerGroupSpecs) ? cs.workerGroupSpecs : []).entries()) {
      const f = `spec.rayClusterSpec.workerGroupSpecs[${gi}]`;
      if (typeof g?.groupName !== 'string' || !DNS1123_LABEL.test(g.groupName)) add(`${f}.groupName`, 'Required value');
      for (const k of ['replicas', 'minReplicas', 'maxReplicas']) if (g?.[k] !== undefined && (!Number.isInteger(g[k]) || g[k] < 0)) add(`${f}.${k}`, 'Invalid value: must be greater than or equal to 0');
      if (Number.isInteger(g?.minReplicas) && Number.isInteger(g?.maxReplicas) && g.minReplicas > g.maxReplicas) add(`${f}.minReplicas`, 'Invalid value: minReplicas must not exceed maxReplicas');
      checkParams(g?.rayStartParams, `${f}.rayStartParams`);
      const wc = g?.template?.spec?.containers;
      if (!Array.isArray(wc) || wc.length === 0) add(`${f}.template.spec.containers`, 'Required value');
      else wc.forEach((c, i) => validateContainer(c, `${f}.template.spec.containers[${i}]`, causes));
    }
  }
  return causes;
}

/** A SparkApplication as the CRD schema sees it. @param {any} app */
function validateSparkApplication(app) {
  const causes = validateMeta(app, 63);
  const add = (/** @type {string} */ field, /** @type {string} */ message) => causes.push({ field, message });
  const spec = app?.spec;
  if (typeof spec !== 'object' || spec === null) {
    add('spec', 'Required value');
    return causes;
  }
  if (!['Java', 'Scala', 'Python', 'R'].includes(spec.type)) add('spec.type', `Unsupported value: ${JSON.stringify(spec.type)}: supported values: "Java", "Python", "Scala", "R"`);
  if (spec.mode !== undefined && !['cluster', 'client'].includes(spec.mode)) add('spec.mode', `Unsupported value: ${JSON.stringify(spec.mode)}`);
  if (typeof spec.sparkVersion !== 'string' || spec.sparkVersion === '') add('spec.sparkVersion', 'Required value');
  if (spec.restartPolicy?.type !== undefined && !['Never', 'OnFailure', 'Always'].includes(spec.restartPolicy.type)) add('spec.restartPolicy.type', `Unsupported value: ${JSON.stringify(spec.restartPolicy.type)}`);
  if (spec.arguments !== undefined && (!Array.isArray(spec.arguments) || spec.arguments.some((/** @type {unknown} */ a) => typeof a !== 'string'))) add('spec.arguments', 'Invalid value: must be a list of strings');
  if (spec.timeToLiveSeconds !== undefined && (!Number.isInteger(spec.timeToLiveSeconds) || spec.timeToLiveSeconds < 0)) add('spec.timeToLiveSeconds', 'Invalid value: must be an integer ≥ 0');
  for (const [k, v] of Object.entries(spec.sparkConf ?? {})) if (typeof v !== 'string') add(`spec.sparkConf.${k}`, `Invalid value: ${JSON.stringify(v)}: must be a string`);
  if (typeof spec.image !== 'string' && typeof spec.driver?.image !== 'string') add('spec.image', 'Required value');
  for (const role of ['driver', 'executor']) {
    const r = spec[role];
    if (typeof r !== 'object' || r === null) {
      add(`spec.${role}`, 'Required value');
      continue;
    }
    if (r.cores !== undefined && (!Number.isInteger(r.cores) || r.cores < 1)) add(`spec.${role}.cores`, `Invalid value: ${JSON.stringify(r.cores)}: should be greater than or equal to 1`);
    if (r.memory !== undefined && typeof r.memory !== 'string') add(`spec.${role}.memory`, 'Invalid value: must be a string');
    if (r.coreLimit !== undefined && (!QUANTITY.test(String(r.coreLimit)) || String(r.coreLimit).startsWith('-'))) add(`spec.${role}.coreLimit`, `Invalid value: "${String(r.coreLimit)}"`);
    if (role === 'executor' && r.instances !== undefined && (!Number.isInteger(r.instances) || r.instances < 1)) add('spec.executor.instances', 'Invalid value: should be greater than or equal to 1');
    if (r.gpu !== undefined && (typeof r.gpu?.name !== 'string' || !Number.isInteger(r.gpu?.quantity) || r.gpu.quantity < 1)) add(`spec.${role}.gpu`, 'Invalid value: needs a name and a quantity ≥ 1');
    for (const [j, e] of (Array.isArray(r.env) ? r.env : []).entries()) {
      if (typeof e?.name !== 'string' || e.name === '' || e.name.includes('=')) add(`spec.${role}.env[${j}].name`, `Invalid value: ${JSON.stringify(e?.name)}`);
    }
    for (const [k, v] of Object.entries(r.labels ?? {})) if (typeof v !== 'string' || !LABEL_VALUE.test(v)) add(`spec.${role}.labels.${k}`, `Invalid value: ${JSON.stringify(v)}`);
  }
  return causes;
}

/**
 * Where a file of an image is on this machine: `local://` stripped, then the image's `files`
 * mapping, else the path under the image's cwd when it exists there, else the path itself.
 * @param {ImageSpec} image @param {string} file
 */
function resolveImageFile(image, file) {
  const p = file.replace(/^local:\/\//, '');
  const mapped = image.files?.[p];
  if (mapped !== undefined) return mapped;
  if (image.cwd !== undefined) {
    const under = joinPath(image.cwd, p);
    if (existsSync(under)) return under;
  }
  return p;
}

/** @param {number} pid @param {NodeJS.Signals} signal */
function killGroup(pid, signal) {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
}

/** Creates and starts a fake. @param {FakeKubernetesOptions} [opts] */
export async function startFakeKubernetes(opts) {
  const fake = new FakeKubernetes(opts);
  await fake.start();
  return fake;
}

async function main() {
  const args = process.argv.slice(2);
  /** @type {string | undefined} */
  let kubeconfig;
  /** @type {Record<string, ImageSpec>} */
  const images = {};
  let anyImage = false;
  /** @type {FakeKubernetesOptions} */
  const opts = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = () => {
      const x = args[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--kubeconfig') kubeconfig = v();
    else if (a === '--image') {
      const spec = v();
      const eq = spec.indexOf('=');
      if (eq <= 0) throw new Error(`--image wants NAME=DIR, not ${spec}`);
      const dir = resolvePath(spec.slice(eq + 1));
      images[spec.slice(0, eq)] = { cwd: dir, env: { PYTHONPATH: dir } };
      anyImage = true;
    } else if (a === '--token') opts.token = v();
    else if (a === '--start-delay-ms') opts.startDelayMs = Number(v());
    else if (a === '--port') opts.port = Number(v());
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node tests/fakes/kubernetes.mjs --kubeconfig PATH [--image NAME=DIR ...] [--token T] [--start-delay-ms N] [--port P]\n');
      return;
    } else throw new Error(`unknown argument ${a}`);
  }
  if (anyImage) opts.images = images;
  const fake = new FakeKubernetes(opts);
  await fake.start();
  if (kubeconfig !== undefined) writeFileSync(kubeconfig, fake.kubeConfigYaml());
  process.stdout.write(`fake kubernetes listening on ${fake.url}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void fake.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolvePath(process.argv[1])).href) {
  main().catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  });
}
