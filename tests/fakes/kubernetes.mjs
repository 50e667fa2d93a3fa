#!/usr/bin/env node
/**
 * A protocol-faithful fake kube-apiserver for batch/v1 Jobs that really runs them.
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
 * Test hooks: `journal`, `failNext`, `failAfterCreate`, `delayNext`, `forget`, `recreate`,
 * `stopListening`/`resume`, `forbid`/`allow`, `jobsCreated`, `processes`, `setTiming`, `job`, `pod`.
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
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';

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
    throw new HttpError(404, 'the server could not find the requested resource', 'NotFound', {});
  }

  /** @param {string} ns @param {string} resource @param {string} method */
  checkForbidden(ns, resource, method) {
    if (!this.forbidden.has(ns)) return;
    const verb = { GET: 'get', POST: 'create', DELETE: 'delete' }[method] ?? method.toLowerCase();
    const group = resource === 'jobs' ? 'batch' : '';
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
  }

  /** @param {any} prec @param {boolean} ok */
  podFinished(prec, ok) {
    prec.finalized = true;
    const rec = prec.job;
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
