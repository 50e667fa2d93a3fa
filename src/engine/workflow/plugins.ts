/**
 * This file defines the Uniflow-compatible library modules a workflow file loads with
 * `load("@plugin", "time", "concurrent", t = "test")`, with the names, signatures and semantics of
 * the reference Go worker's plugins:
 *
 *   time        time(), time_ns(), sleep(seconds=), utc_format_seconds(format, seconds); a run whose
 *               environment has STARLARK_TIME=unix:<seconds> sees its clock start at that time
 *   concurrent  run(fn, *args, **kwargs), new_callable(fn, ...), batch_run(callables, max_concurrency=0)
 *   random      seed(n), randint(a, b), random()          uuid   uuid4() (.hex, .urn, str())
 *               (after seed(<int>), Go's math/rand sequence for that seed, as the Go worker gives)
 *   os          environ (the run's environment, a mutable dict; at a file's top level too, and an
 *               empty dict when the file is loaded outside a run, to list its workflows)
 *   json        dumps(obj) (compact, keys sorted), loads(s) (with the dataclass codec)
 *   hashlib     blake2b_hex(data, digest_size=)          atexit  register(fn, ...), unregister(fn)
 *   progress    report(message)                          test    equal, not_equal, true, false
 *   request     do(method, url, body=None, headers=None): an HTTP call made as the task `request.do`
 *   workflow    execute_activity(name, ...), execute_workflow(name, ...), execution_id,
 *               execution_run_id (the module is also the `@workflow()` decorator, so loading it
 *               does not hide the predeclared one)
 *
 * Everything that touches time, randomness or the outside world goes through the run's
 * WorkflowHost (recorded in, or derived from, history), so replay sees what the live run saw.
 * Importing this file registers the modules with the machine (`registerWorkflowLibrary`).
 */
import {
  Builtin,
  Bytes,
  Dict,
  EvalError,
  Float,
  Function,
  List,
  Module,
  Pending,
  StarValue,
  Tuple,
  bytesFromBinary,
  equals,
  normBig,
  repr,
  str,
  truth,
  typeName,
  unpackArgs,
  utf8Decode,
  utf8Encode,
  type ThreadContext,
  type Value,
} from '../../interpreter/index.js';
import { decodeJSON, encodeJSON } from '../../stdlib/index.js';
import type { Engine } from '../engine.js';
import { registerWorkflowLibrary } from './machine.js';
import { blake2bHex } from './plugins/blake2b.js';
import { decodeCodecs } from './plugins/predeclared.js';
import {
  BatchFuture,
  DEFAULT_RETRY,
  Future,
  HOST_KEY,
  NewCallable,
  Struct,
  TaskStub,
  UuidValue,
  WorkflowFn,
  awaitFuture,
  makeBatchRun,
  parseDuration,
  seedOf,
  siteOf,
  unboundEnviron,
  workflowBuiltin,
  type HostRef,
  type HostRequest,
  type TaskOptions,
  type WorkflowHost,
} from './surface.js';

export { pluginPredeclared, Dataclass, CallableObject, decodeCodecs } from './plugins/predeclared.js';
export { BatchFuture };
export { blake2b, blake2bHex } from './plugins/blake2b.js';


/** The name of the task `request.do` schedules (registered by `registerPluginTasks`). */
export const REQUEST_TASK = 'request.do';

// ---------------------------------------------------------------------------------------------
// Helpers

/** The host of the calling coroutine (or, at a file's top level, of the run being loaded). */
function hostOf(th: ThreadContext, ref: HostRef, what: string): WorkflowHost {
  const h = (th.locals.get(HOST_KEY) as WorkflowHost | undefined) ?? ref.current;
  if (!h) throw new EvalError(`${what} can only be used while a workflow runs`);
  return h;
}

function mod(name: string, members: Record<string, Value>): Module {
  return new Module(name, new Map(Object.entries(members)));
}

/** A future settled with `map(value)` of another's value (or its error). */
function mapFuture(f: Future, label: string, map: (v: Value) => Value): Future {
  const out = new Future(label);
  const settle = (s: NonNullable<Future['outcome']>): void => {
    if ('error' in s) {
      out.settle(s);
      return;
    }
    try {
      out.settle({ value: map(s.value) });
    } catch (e) {
      out.settle({ error: e instanceof EvalError ? e : new EvalError(String(e)) });
    }
  };
  if (f.outcome) settle(f.outcome);
  else f.waiters.push(settle);
  return out;
}

/** A module whose attributes depend on the run (os.environ, workflow.execution_id). */
class RunBoundModule extends StarValue {
  constructor(
    readonly moduleName: string,
    readonly ref: HostRef,
    readonly members: (h: WorkflowHost) => Record<string, Value>,
    readonly names: readonly string[],
    /** The members that work with no run (a file loaded only to list its workflows). */
    readonly unbound?: (ref: HostRef) => Record<string, Value>,
  ) {
    super();
  }
  get type(): string {
    return 'module';
  }
  repr(out: string[]): void {
    out.push(`<module "${this.moduleName}">`);
  }
  override getAttr(name: string): Value | undefined {
    if (!this.names.includes(name)) return undefined;
    const h = this.ref.current;
    if (h) return this.members(h)[name];
    const members = this.unbound?.(this.ref);
    if (members && name in members) return members[name];
    throw new EvalError(`${this.moduleName}.${name} can only be used while a workflow runs`);
  }
  override attrNames(): string[] {
    return [...this.names].sort();
  }
}

// ---------------------------------------------------------------------------------------------
// time

/** Per run: milliseconds added to the run's clock (from STARLARK_TIME). */
const clockOffsets = new WeakMap<WorkflowHost, number>();

/**
 * The clock offset of a run, from `STARLARK_TIME=unix:<seconds>` in its environment: the run's
 * clock starts at that time. Computed while the run's files load, when the host's clock is the
 * RunStarted time, so it is the same live and in replay.
 */
function computeOffset(h: WorkflowHost): number {
  const cached = clockOffsets.get(h);
  if (cached !== undefined) return cached;
  let offset = 0;
  const raw = h.env?.get('STARLARK_TIME');
  if (typeof raw === 'string' && raw !== '') {
    const m = /^unix:(-?\d+(?:\.\d+)?)$/.exec(utf8Decode(raw).trim());
    if (!m) throw new EvalError(`STARLARK_TIME: invalid value ${repr(raw)}: want unix:<seconds>, e.g. unix:1700000000`);
    offset = Math.round(parseFloat(m[1]!) * 1000) - h.now();
  }
  clockOffsets.set(h, offset);
  return offset;
}

function runNow(h: WorkflowHost): number {
  return h.now() + (clockOffsets.get(h) ?? 0);
}

const TIME_DIRECTIVES: Record<string, (d: Date) => string> = {
  Y: (d) => String(d.getUTCFullYear()).padStart(4, '0'),
  m: (d) => String(d.getUTCMonth() + 1).padStart(2, '0'),
  d: (d) => String(d.getUTCDate()).padStart(2, '0'),
  H: (d) => String(d.getUTCHours()).padStart(2, '0'),
  M: (d) => String(d.getUTCMinutes()).padStart(2, '0'),
  S: (d) => String(d.getUTCSeconds()).padStart(2, '0'),
  y: (d) => String(d.getUTCFullYear() % 100).padStart(2, '0'),
};

/** `utc_format_seconds(format, seconds)`: %Y %m %d %H %M %S %y of the UTC time, seconds truncated. */
export function utcFormatSeconds(format: string, seconds: number): string {
  const d = new Date(Math.trunc(seconds) * 1000);
  if (Number.isNaN(d.getTime())) throw new EvalError(`utc_format_seconds: time out of range: ${seconds}`);
  let out = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c === '%') {
      const f = TIME_DIRECTIVES[format[i + 1] ?? ''];
      if (!f) throw new EvalError(`utc_format_seconds: unsupported date format: ${format} (use %Y %m %d %H %M %S %y)`);
      out += f(d);
      i++;
    } else out += c;
  }
  return out;
}

function timeModule(ref: HostRef): Module {
  return mod('time', {
    time: new Builtin('time', (th, args, kwargs) => {
      unpackArgs('time', args, kwargs, []);
      return new Float(runNow(hostOf(th, ref, 'time.time')) / 1000);
    }),
    time_ns: new Builtin('time_ns', (th, args, kwargs) => {
      unpackArgs('time_ns', args, kwargs, []);
      return normBig(BigInt(Math.round(runNow(hostOf(th, ref, 'time.time_ns')))) * 1_000_000n);
    }),
    sleep: new Builtin('sleep', (th, args, kwargs) => {
      const [secs] = unpackArgs('sleep', args, kwargs, ['seconds']);
      hostOf(th, ref, 'time.sleep');
      const ms = parseDuration(secs!, 'sleep');
      if (ms < 0) throw new EvalError(`sleep: negative duration ${repr(secs!)}`);
      return new Pending({ kind: 'sleep', ms, site: siteOf(th) } satisfies HostRequest);
    }),
    utc_format_seconds: new Builtin('utc_format_seconds', (_th, args, kwargs) => {
      const [format, seconds] = unpackArgs('utc_format_seconds', args, kwargs, ['format', 'seconds']);
      if (typeof format !== 'string') throw new EvalError(`utc_format_seconds: for parameter format: got ${typeName(format!)}, want string`);
      const s = typeof seconds === 'number' ? seconds : typeof seconds === 'bigint' ? Number(seconds) : seconds instanceof Float ? seconds.v : NaN;
      if (Number.isNaN(s)) throw new EvalError(`utc_format_seconds: for parameter seconds: got ${typeName(seconds!)}, want float or int`);
      return utf8Encode(utcFormatSeconds(utf8Decode(format), s));
    }),
  });
}

// ---------------------------------------------------------------------------------------------
// concurrent

function concurrentModule(ref: HostRef): Module {
  return mod('concurrent', {
    run: new Builtin('run', (th, args, kwargs) => {
      if (args.length === 0) throw new EvalError('run: missing argument for fn');
      return hostOf(th, ref, 'concurrent.run').spawn(args[0]!, args.slice(1), kwargs, siteOf(th));
    }),
    new_callable: new Builtin('new_callable', (_th, args, kwargs) => {
      if (args.length === 0) throw new EvalError('new_callable: missing argument for fn');
      return new NewCallable(args[0]!, args.slice(1), kwargs);
    }),
    batch_run: makeBatchRun((th) => hostOf(th, ref, 'concurrent.batch_run'), 'concurrent.new_callable'),
  });
}

// ---------------------------------------------------------------------------------------------
// random, uuid, os, progress, atexit

function randomModule(ref: HostRef): Module {
  return mod('random', {
    seed: new Builtin('seed', (th, args, kwargs) => {
      const [s] = unpackArgs('seed', args, kwargs, ['seed']);
      hostOf(th, ref, 'random.seed').seed(seedOf(s!));
      return null;
    }),
    randint: new Builtin('randint', (th, args, kwargs) => {
      const [a, b] = unpackArgs('randint', args, kwargs, ['min', 'max']);
      if (typeof a !== 'number' || typeof b !== 'number') throw new EvalError(`randint: min and max must be ints, not ${typeName(a!)} and ${typeName(b!)}`);
      if (b < a) throw new EvalError(`randint: empty range (${a}, ${b})`);
      return hostOf(th, ref, 'random.randint').randint(a, b);
    }),
    random: new Builtin('random', (th, args, kwargs) => {
      unpackArgs('random', args, kwargs, []);
      return new Float(hostOf(th, ref, 'random.random').random());
    }),
  });
}

function uuidModule(ref: HostRef): Module {
  return mod('uuid', {
    uuid4: new Builtin('uuid4', (th, args, kwargs) => {
      unpackArgs('uuid4', args, kwargs, []);
      const b = hostOf(th, ref, 'uuid.uuid4').uuidBytes();
      b[6] = (b[6]! & 0x0f) | 0x40;
      b[8] = (b[8]! & 0x3f) | 0x80;
      return new UuidValue(Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(''));
    }),
  });
}

function progressModule(ref: HostRef): Module {
  return mod('progress', {
    report: new Builtin('report', (th, args, kwargs) => {
      const [msg] = unpackArgs('report', args, kwargs, ['message']);
      hostOf(th, ref, 'progress.report').progress(utf8Decode(str(msg!)));
      return null;
    }),
  });
}

function atexitModule(ref: HostRef): Module {
  return mod('atexit', {
    register: new Builtin('register', (th, args, kwargs) => {
      if (args.length === 0) throw new EvalError('register: missing argument for fn');
      hostOf(th, ref, 'atexit.register').registerExit(args[0]!, args.slice(1), kwargs, siteOf(th));
      return null;
    }),
    unregister: new Builtin('unregister', (th, args, kwargs) => {
      const [fn] = unpackArgs('unregister', args, kwargs, ['fn']);
      hostOf(th, ref, 'atexit.unregister').unregisterExit(fn!);
      return null;
    }),
  });
}

// ---------------------------------------------------------------------------------------------
// json, hashlib, test

const jsonModule = mod('json', {
  dumps: new Builtin('dumps', (th, args, kwargs) => {
    const [obj] = unpackArgs('dumps', args, kwargs, ['obj']);
    if (obj instanceof Bytes) return `"${Buffer.from(bytesFromBinary(obj.s)).toString('base64')}"`;
    return encodeJSON(th, obj!, 'dumps');
  }),
  loads: new Builtin('loads', (th, args, kwargs) => {
    const [s] = unpackArgs('loads', args, kwargs, ['s']);
    let text: string;
    if (typeof s === 'string') text = s;
    else if (s instanceof Bytes) text = s.s;
    else throw new EvalError(`loads: argument must be a string or bytes, not ${typeName(s!)}`);
    return decodeCodecs(decodeJSON(th, text));
  }),
});

const hashlibModule = mod('hashlib', {
  blake2b_hex: new Builtin('blake2b_hex', (_th, args, kwargs) => {
    const [data, size] = unpackArgs('blake2b_hex', args, kwargs, ['data', 'digest_size?']);
    let bytes: string;
    if (typeof data === 'string') bytes = data;
    else if (data instanceof Bytes) bytes = data.s;
    else throw new EvalError(`blake2b_hex: for parameter data: got ${typeName(data!)}, want string`);
    const n = size === undefined || size === null ? 64 : size;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 64) throw new EvalError(`blake2b_hex: digest_size must be an int between 1 and 64, not ${repr(n)}`);
    return blake2bHex(bytesFromBinary(bytes), n);
  }),
});

/** The failure of a `test` assertion: `assert[: message]` and, for equal, the two values. */
function assertionError(message: Value | undefined, lines: string[] = []): EvalError {
  let text = 'assert';
  if (message !== undefined && message !== null) text += `: ${utf8Decode(str(message))}`;
  for (const l of lines) text += `\n${l}`;
  return new EvalError(text, 'fail');
}

const testModule = mod('test', {
  equal: new Builtin('equal', (_th, args, kwargs) => {
    const [expected, actual, message] = unpackArgs('equal', args, kwargs, ['expected', 'actual', 'message?']);
    if (!equals(expected!, actual!)) throw assertionError(message, [`Expected : ${utf8Decode(repr(expected!))}`, `Actual   : ${utf8Decode(repr(actual!))}`]);
    return null;
  }),
  not_equal: new Builtin('not_equal', (_th, args, kwargs) => {
    const [expected, actual, message] = unpackArgs('not_equal', args, kwargs, ['expected', 'actual', 'message?']);
    if (equals(expected!, actual!)) throw assertionError(message, [`Expected : ${utf8Decode(repr(expected!))}`, `Actual   : ${utf8Decode(repr(actual!))}`]);
    return null;
  }),
  true: new Builtin('true', (_th, args, kwargs) => {
    const [v, message] = unpackArgs('true', args, kwargs, ['v', 'message?']);
    if (!truth(v!)) throw assertionError(message);
    return null;
  }),
  false: new Builtin('false', (_th, args, kwargs) => {
    const [v, message] = unpackArgs('false', args, kwargs, ['v', 'message?']);
    if (truth(v!)) throw assertionError(message);
    return null;
  }),
});

// ---------------------------------------------------------------------------------------------
// request

/** Retried on transport errors (the response, whatever its status, is the result). */
const REQUEST_OPTIONS: TaskOptions = {
  retry: { ...DEFAULT_RETRY, maxAttempts: 3, initialIntervalMs: 1000, backoffCoefficient: 2, maxIntervalMs: 30_000, jitter: 0.1 },
  executor: 'local',
  cache: false,
  cacheVersion: '',
  cacheTtlMs: 0,
};

const requestStub = new TaskStub(REQUEST_TASK, REQUEST_OPTIONS);

/** The result of `request.do`: `status_code`, `headers`, `text`, `json()`. */
export class ResponseValue extends StarValue {
  constructor(
    readonly statusCode: number,
    readonly headers: Dict,
    readonly body: string,
  ) {
    super();
  }
  get type(): string {
    return 'response';
  }
  repr(out: string[]): void {
    out.push(`<response ${this.statusCode}>`);
  }
  override getAttr(name: string): Value | undefined {
    switch (name) {
      case 'status_code':
        return this.statusCode;
      case 'headers':
        return this.headers;
      case 'text':
        return this.body;
      case 'json':
        return new Builtin('json', (th, args, kwargs) => {
          unpackArgs('json', args, kwargs, []);
          return decodeCodecs(decodeJSON(th, this.body));
        });
      default:
        return undefined;
    }
  }
  override attrNames(): string[] {
    return ['headers', 'json', 'status_code', 'text'];
  }
}

function toResponse(v: Value): Value {
  if (!(v instanceof Dict)) throw new EvalError(`request.do: unexpected task result ${typeName(v)}`);
  const code = v.get('status_code');
  const headers = v.get('headers');
  const body = v.get('body');
  return new ResponseValue(typeof code === 'number' ? code : 0, headers instanceof Dict ? headers : new Dict(), typeof body === 'string' ? body : '');
}

function requestModule(ref: HostRef): Module {
  return mod('request', {
    do: new Builtin('do', (th, args, kwargs) => {
      const [method, url, body, headers] = unpackArgs('do', args, kwargs, ['method', 'url', 'body?', 'headers?']);
      if (typeof method !== 'string') throw new EvalError(`do: for parameter method: got ${typeName(method!)}, want string`);
      if (typeof url !== 'string') throw new EvalError(`do: for parameter url: got ${typeName(url!)}, want string`);
      let b: Value = null;
      if (typeof body === 'string') b = body;
      else if (body instanceof Bytes) b = body.s;
      else if (body !== undefined && body !== null) b = encodeJSON(th, body, 'do: body');
      const h = new Dict();
      if (headers !== undefined && headers !== null) {
        if (!(headers instanceof Dict)) throw new EvalError(`do: headers must be a dict, not ${typeName(headers)}`);
        for (const [k, v] of headers.entries()) {
          if (typeof k !== 'string') throw new EvalError(`do: header names must be strings, not ${typeName(k)}`);
          if (typeof v === 'string') h.set(k, new List([v]));
          else if ((v instanceof List || v instanceof Tuple) && v.elems.every((x) => typeof x === 'string')) h.set(k, new List([...v.elems]));
          else throw new EvalError(`do: header ${k} must be a string or a list of strings, not ${typeName(v)}`);
        }
      }
      const host = hostOf(th, ref, 'request.do');
      const f = host.spawn(requestStub, [method.toUpperCase(), url, b, h], null, siteOf(th));
      return awaitFuture(th, mapFuture(f, REQUEST_TASK, toResponse));
    }),
  });
}

/**
 * Registers the JS implementations of the plugins' tasks (`request.do`, using fetch) on an engine.
 * Safe to call twice.
 */
export function registerPluginTasks(engine: Pick<Engine, 'functions'>): void {
  if (engine.functions.taskNames().includes(REQUEST_TASK)) return;
  engine.functions.registerWithContext(
    REQUEST_TASK,
    async (ctx, method: string, url: string, body: string | null, headers: Record<string, string[]> | null) => {
      const h = new Headers();
      for (const [k, vs] of Object.entries(headers ?? {})) for (const v of vs) h.append(k, v);
      const res = await fetch(url, { method, headers: h, ...(body !== null && body !== undefined && method !== 'GET' && method !== 'HEAD' ? { body } : {}), signal: ctx.signal });
      const outHeaders: Record<string, string> = {};
      res.headers.forEach((v, k) => (outHeaders[k] = v));
      return { status_code: res.status, headers: outHeaders, body: await res.text() };
    },
  );
}

// ---------------------------------------------------------------------------------------------
// workflow

const ACTIVITY_OPTIONS: TaskOptions = { retry: DEFAULT_RETRY, executor: 'local', cache: false, cacheVersion: '', cacheTtlMs: 0 };

/** Keyword arguments of the reference worker that have no meaning here (dropped). */
const IGNORED_KWARGS = new Set(['task_list', 'domain']);

function runIdOf(h: WorkflowHost): Value {
  return h.ctx instanceof Struct ? (h.ctx.getAttr('run_id') ?? null) : null;
}

/** The plugin `workflow` module; calling it is `@workflow()`, as the predeclared `workflow`. */
class WorkflowModule extends Builtin {
  private readonly members: Map<string, Value>;
  constructor(readonly ref: HostRef) {
    super('workflow', workflowBuiltin.impl);
    this.members = new Map<string, Value>([
      [
        'execute_activity',
        new Builtin('execute_activity', (th, args, kwargs) => {
          const name = args[0];
          if (typeof name !== 'string') throw new EvalError(`execute_activity: the first argument must be the task name, not ${name === undefined ? 'nothing' : typeName(name)}`);
          const host = hostOf(th, ref, 'workflow.execute_activity');
          const declared = (host as unknown as { declaredTasks?: Map<string, TaskStub> }).declaredTasks?.get(utf8Decode(name));
          const stub = declared ?? new TaskStub(utf8Decode(name), ACTIVITY_OPTIONS);
          const kw = (kwargs ?? []).filter(([k]) => !IGNORED_KWARGS.has(k));
          return new Pending({ kind: 'task', stub, args: args.slice(1), kwargs: kw.length ? kw : null, site: siteOf(th) } satisfies HostRequest);
        }),
      ],
      [
        'execute_workflow',
        new Builtin('execute_workflow', (th, args, kwargs) => {
          const name = args[0];
          if (typeof name !== 'string') throw new EvalError(`execute_workflow: the first argument must be the workflow name, not ${name === undefined ? 'nothing' : typeName(name)}`);
          const host = hostOf(th, ref, 'workflow.execute_workflow');
          const wf = workflowNamed(host, utf8Decode(name));
          const kw = (kwargs ?? []).filter(([k]) => !IGNORED_KWARGS.has(k));
          return new Pending({ kind: 'child', workflow: wf, args: args.slice(1), kwargs: kw.length ? kw : null, site: siteOf(th) } satisfies HostRequest);
        }),
      ],
    ]);
  }
  override get type(): string {
    return 'module';
  }
  override repr(out: string[]): void {
    out.push('<module "workflow">');
  }
  override getAttr(name: string): Value | undefined {
    if (name === 'execution_id' || name === 'execution_run_id') {
      const h = this.ref.current;
      if (!h) throw new EvalError(`workflow.${name} can only be used while a workflow runs`);
      return runIdOf(h);
    }
    return this.members.get(name);
  }
  override attrNames(): string[] {
    return ['execute_activity', 'execute_workflow', 'execution_id', 'execution_run_id'];
  }
}

/** The @workflow() of the run's script named `name` (a child run starts it by name). */
function workflowNamed(host: WorkflowHost, name: string): WorkflowFn {
  const globals = (host as unknown as { globals?: Map<string, Value> | null }).globals;
  const v = globals?.get(name);
  if (v instanceof WorkflowFn) return v;
  // As the Go worker, any top-level function of the script runs as a (child) workflow.
  if (v instanceof Function && v.name === name) return new WorkflowFn(v);
  if (globals) {
    const names = [...globals].filter(([, x]) => x instanceof WorkflowFn).map(([k]) => k);
    throw new EvalError(
      `execute_workflow: no workflow named ${name} in this script${v !== undefined ? ` (${name} is a ${typeName(v)}, not a function)` : names.length ? ` (workflows: ${names.join(', ')})` : ''}`,
    );
  }
  throw new EvalError(`execute_workflow: cannot find workflow ${name}`);
}

// ---------------------------------------------------------------------------------------------
// Registration

/** The members of `load("@plugin", ...)` for one run. */
export function pluginModules(ref: HostRef): Map<string, Value> {
  return new Map<string, Value>([
    ['time', timeModule(ref)],
    ['concurrent', concurrentModule(ref)],
    ['random', randomModule(ref)],
    ['uuid', uuidModule(ref)],
    ['os', new RunBoundModule('os', ref, (h) => ({ environ: h.env }), ['environ'], unboundEnviron)],
    ['json', jsonModule],
    ['hashlib', hashlibModule],
    ['atexit', atexitModule(ref)],
    ['progress', progressModule(ref)],
    ['test', testModule],
    ['request', requestModule(ref)],
    ['workflow', new WorkflowModule(ref)],
  ]);
}

/** The library name the workflow test runner loads its helper from. @internal */
export const TEST_HARNESS_MODULE = '@larkflow/test-harness';

const testHarness = new Map<string, Value>([
  [
    'as_workflow',
    new Builtin('as_workflow', (_th, args) => {
      const fn = args[0];
      if (!(fn instanceof Function)) throw new EvalError(`as_workflow: got ${typeName(fn ?? null)}, want a def`);
      return new WorkflowFn(fn);
    }),
  ],
]);

const perRun = new WeakMap<HostRef, Map<string, Value>>();

registerWorkflowLibrary((module, ref) => {
  if (module === TEST_HARNESS_MODULE) return testHarness;
  if (module !== '@plugin') return undefined;
  // Loading happens while RunStarted is processed: the host's clock is the run's start time.
  if (ref.current) computeOffset(ref.current);
  let m = perRun.get(ref);
  if (!m) perRun.set(ref, (m = pluginModules(ref)));
  return m;
});
