/**
 * This file defines the two values Uniflow-compiled workflow files find predeclared:
 *
 *   dataclass(**kwargs)   a record with settable attributes; `dir()` lists `__codec__` and its
 *                         fields; equality by fields; JSON-encodes (json.dumps, history) as
 *                         `{"__codec__": "dataclass", ...fields}`, and such an object decodes back
 *                         to a dataclass (`decodeCodecs`).
 *   callable_object(fn)   a callable that carries settable attributes (for `.with_overrides`).
 *
 * It depends only on the interpreter (and, inside functions, on the workflow surface), so that
 * surface.ts and convert.ts may import it without an import cycle at load time.
 */
import {
  Builtin,
  Dict,
  EvalError,
  Function,
  List,
  Pending,
  StarValue,
  equals,
  reprInto,
  typeName,
  utf8Decode,
  utf8Encode,
  type KwArgs,
  type ThreadContext,
  type Value,
} from '../../../interpreter/index.js';
import { HOST_KEY, siteOf, type HostRequest, type WorkflowHost } from '../surface.js';

export const DATACLASS_CODEC = 'dataclass';

/** Uniflow's dataclass: named fields, settable (existing fields only, as the reference worker). */
export class Dataclass extends StarValue {
  private readonly attrs: Map<string, Value>;
  private frozen = false;

  constructor(fields: Iterable<readonly [string, Value]>) {
    super();
    this.attrs = new Map();
    for (const [k, v] of fields) {
      if (k === '__codec__') throw new EvalError('dataclass: __codec__ is reserved');
      this.attrs.set(k, v);
    }
  }
  get type(): string {
    return DATACLASS_CODEC;
  }
  /** Field names, sorted. */
  get names(): string[] {
    return [...this.attrs.keys()].sort();
  }
  /** Always true, even with no fields: the reference worker's dataclass is a struct-like value. */
  override truth(): boolean {
    return true;
  }
  override freeze(): void {
    if (this.frozen) return;
    this.frozen = true;
    for (const v of this.attrs.values()) if (v !== null && typeof v === 'object') v.freeze();
  }
  /** `<dataclass {__codec__: "dataclass", a: 1, b: "x"}>`, as the reference worker prints it. */
  repr(out: string[], seen: Set<StarValue>): void {
    if (seen.has(this)) {
      out.push('<dataclass ...>');
      return;
    }
    seen.add(this);
    out.push(`<dataclass {__codec__: "${DATACLASS_CODEC}"`);
    this.names.forEach((n) => {
      out.push(', ', n, ': ');
      reprInto(this.attrs.get(n)!, out, seen);
    });
    out.push('}>');
    seen.delete(this);
  }
  override hashKey(): unknown {
    throw new EvalError('unhashable type: dataclass');
  }
  override getAttr(name: string): Value | undefined {
    if (name === '__codec__') return DATACLASS_CODEC;
    return this.attrs.get(name);
  }
  override attrNames(): string[] {
    return ['__codec__', ...this.names];
  }
  override setAttr(name: string, v: Value): void {
    if (this.frozen) throw new EvalError(`cannot set .${name} of a frozen dataclass`);
    if (!this.attrs.has(name)) throw new EvalError(`dataclass has no attribute ${name} (fields: ${this.names.join(', ') || 'none'}); attributes are fixed when it is created`);
    this.attrs.set(name, v);
  }
  override equals(y: Value): boolean {
    if (!(y instanceof Dataclass) || y.attrs.size !== this.attrs.size) return false;
    for (const [k, v] of this.attrs) {
      if (!y.attrs.has(k)) return false;
      if (!equals(v, y.attrs.get(k)!)) return false;
    }
    return true;
  }
  noSuchAttrMessage(name: string): string {
    return `dataclass has no .${name} attribute`;
  }
}

/** The codec of a value a task stored by reference (a DataFrame, a model): runners/python/larkflow_runner/codecs.py. */
export const REF_CODEC = 'larkflow.ref';

/**
 * A value a task returned that is not JSON (a DataFrame, an array, a model), stored by the runner and
 * passed by reference: a workflow can pass it to other tasks (which receive the original value) but
 * cannot look inside; `.type` names what it is. Its JSON form (URL, sha256, format, type) is what
 * history records, so a task's cache key covers the content's digest.
 */
export class OpaqueRef extends StarValue {
  constructor(private readonly json: Readonly<Record<string, unknown>>) {
    super();
  }
  get type(): string {
    return 'ref';
  }
  repr(out: string[]): void {
    out.push(`<ref ${String(this.json.type ?? 'value')} ${String(this.json.sha256 ?? '').slice(0, 12)}>`);
  }
  override truth(): boolean {
    return true;
  }
  override hashKey(): unknown {
    throw new EvalError('unhashable type: ref');
  }
  override getAttr(name: string): Value | undefined {
    if (name === 'type') return utf8Encode(String(this.json.type ?? ''));
    return undefined;
  }
  override attrNames(): string[] {
    return ['type'];
  }
  override equals(y: Value): boolean {
    return y instanceof OpaqueRef && y.json.sha256 === this.json.sha256 && y.json.url === this.json.url;
  }
  noSuchAttrMessage(name: string): string {
    return `a ref (a ${String(this.json.type ?? 'value')} stored by a task) has no .${name}: pass it to another task, which receives the value itself`;
  }
  /** The JSON form, for history and the next task's arguments. */
  jsonValue(): unknown {
    return this.json;
  }
}

/** `dataclass(**kwargs)` */
export const dataclassBuiltin = new Builtin('dataclass', (_th, args, kwargs) => {
  if (args.length > 0) throw new EvalError('dataclass() takes no positional arguments');
  return new Dataclass(kwargs ?? []);
});

/**
 * Replaces, inside decoded JSON, every object `{"__codec__": "dataclass", ...}` by a dataclass
 * (the reference worker's codec). Returns the value, changed in place where it is a container.
 */
export function decodeCodecs(v: Value): Value {
  if (v instanceof List) {
    for (let i = 0; i < v.elems.length; i++) {
      const e = v.elems[i]!;
      const r = decodeCodecs(e);
      if (r !== e) (v.elems as Value[])[i] = r;
    }
    return v;
  }
  if (v instanceof Dict) {
    for (const [k, e] of v.entries()) {
      const r = decodeCodecs(e);
      if (r !== e) v.set(k, r);
    }
    if (v.get('__codec__') === REF_CODEC) {
      const json: Record<string, unknown> = {};
      for (const [k, e] of v.entries()) if (typeof k === 'string') json[k] = typeof e === 'string' ? utf8Decode(e) : e;
      return new OpaqueRef(json);
    }
    if (v.get('__codec__') === DATACLASS_CODEC) {
      const fields: [string, Value][] = [];
      for (const [k, e] of v.entries()) if (k !== '__codec__' && typeof k === 'string') fields.push([k, e]);
      return new Dataclass(fields);
    }
    return v;
  }
  return v;
}

/** Calls `fn` so that it may wait (a task, a sleep): as a coroutine of the run when a run is live. */
export function callResumable(th: ThreadContext, fn: Value, args: Value[], kwargs: KwArgs | null): Value | Pending {
  if (fn instanceof Builtin) return fn.impl(th, args, kwargs, fn.recv);
  const host = th.locals.get(HOST_KEY) as WorkflowHost | undefined;
  if (!host) return th.call(fn, args, kwargs);
  const site = siteOf(th);
  const f = host.spawn(fn, args, kwargs, site);
  if (f.outcome) {
    if ('value' in f.outcome) return f.outcome.value;
    throw f.outcome.error;
  }
  return new Pending({ kind: 'await', future: f, site } satisfies HostRequest);
}

/** `callable_object(fn)`: calls fn; any attribute may be set on it (e.g. `with_overrides`). */
export class CallableObject extends Builtin {
  private readonly attrs = new Map<string, Value>();
  private frozenAttrs = false;
  constructor(readonly fn: Value) {
    super(fn instanceof Function || fn instanceof Builtin ? fn.name : 'callable_object', (th, args, kwargs) =>
      callResumable(th, this.fn, args, kwargs),
    );
  }
  override get type(): string {
    return 'callable_object';
  }
  override repr(out: string[]): void {
    out.push(`<callable_object ${this.name}>`);
  }
  override freeze(): void {
    if (this.frozenAttrs) return;
    this.frozenAttrs = true;
    for (const v of this.attrs.values()) if (v !== null && typeof v === 'object') v.freeze();
  }
  override getAttr(name: string): Value | undefined {
    return this.attrs.get(name);
  }
  override attrNames(): string[] {
    return [...this.attrs.keys()].sort();
  }
  override setAttr(name: string, v: Value): void {
    if (this.frozenAttrs) throw new EvalError(`cannot set .${name} of a frozen callable_object`);
    this.attrs.set(name, v);
  }
}

export const callableObjectBuiltin = new Builtin('callable_object', (_th, args, kwargs) => {
  if ((kwargs?.length ?? 0) > 0 || args.length !== 1) throw new EvalError(`callable_object: got ${args.length} arguments, want 1 (a callable)`);
  const fn = args[0]!;
  if (!(fn instanceof Builtin || fn instanceof Function)) {
    throw new EvalError(`callable_object: got ${typeName(fn)}, want a function`);
  }
  return new CallableObject(fn);
});

/** The names Uniflow-compiled workflow files find predeclared; merged into workflowPredeclared. */
export function pluginPredeclared(): Map<string, Value> {
  return new Map<string, Value>([
    ['dataclass', dataclassBuiltin],
    ['callable_object', callableObjectBuiltin],
  ]);
}
