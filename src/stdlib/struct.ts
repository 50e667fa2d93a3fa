/**
 * This file defines the `struct` value type and the `struct(**kwargs)` and `module(name, **kwargs)`
 * builtins, after go.starlark.net's starlarkstruct package. A struct is an immutable record of named
 * fields: `struct(host = "localhost", port = 80)` has type "struct", fields as attributes (listed,
 * sorted, by `dir`), the repr `struct(host = "localhost", port = 80)`, equality by fields, no
 * ordering, and is hashable when all its field values are. `s1 + s2` (via `Struct.plus`) yields a
 * struct with the fields of both, those of s2 winning.
 */
import { EvalError } from '../interpreter/errors.js';
import {
  Builtin,
  equals,
  keyPart,
  Module,
  reprInto,
  StarValue,
  typeName,
  type KwArgs,
  type ThreadContext,
  type Value,
} from '../interpreter/values/index.js';

/** An immutable record of named fields (go.starlark.net's starlarkstruct.Struct, default constructor). */
export class Struct extends StarValue {
  /** Field names, sorted (byte order). */
  readonly names: readonly string[];
  /** Field values, parallel to `names`. */
  readonly values: readonly Value[];
  private frozen = false;

  /** Builds a struct from name/value pairs in any order (a later duplicate name wins). */
  constructor(fields: Iterable<readonly [string, Value]>) {
    super();
    const m = new Map<string, Value>();
    for (const [k, v] of fields) m.set(k, v);
    const names = [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.names = names;
    this.values = names.map((n) => m.get(n)!);
  }

  get type(): string {
    return 'struct';
  }
  /** A struct is true even when it has no fields. */
  override truth(): boolean {
    return true;
  }
  override freeze(): void {
    if (this.frozen) return;
    this.frozen = true;
    for (const v of this.values) if (v !== null && typeof v === 'object') v.freeze();
  }
  repr(out: string[], seen: Set<StarValue>): void {
    out.push('struct(');
    for (let i = 0; i < this.names.length; i++) {
      if (i > 0) out.push(', ');
      out.push(this.names[i]!, ' = ');
      reprInto(this.values[i]!, out, seen);
    }
    out.push(')');
  }
  /** Hashable iff every field value is; throws "unhashable type: T" otherwise. */
  override hashKey(): unknown {
    let k = `\u0100S${this.names.length}(`;
    for (let i = 0; i < this.names.length; i++) {
      const name = this.names[i]!;
      k += `${name.length}:${name}=${keyPart(this.values[i]!)},`;
    }
    return k;
  }
  /** Index of a field by binary search, or -1. */
  private find(name: string): number {
    let lo = 0;
    let hi = this.names.length;
    while (lo < hi) {
      const h = (lo + hi) >>> 1;
      if (this.names[h]! < name) lo = h + 1;
      else hi = h;
    }
    return lo < this.names.length && this.names[lo] === name ? lo : -1;
  }
  override getAttr(name: string): Value | undefined {
    const i = this.find(name);
    return i < 0 ? undefined : this.values[i];
  }
  override attrNames(): string[] {
    return [...this.names];
  }
  /** The reference's message for a missing field: "struct has no .x attribute". */
  noSuchAttrMessage(name: string): string {
    return `struct has no .${name} attribute`;
  }
  override equals(y: Value): boolean {
    if (!(y instanceof Struct) || y.names.length !== this.names.length) return false;
    for (let i = 0; i < this.names.length; i++) {
      if (this.names[i] !== y.names[i]) return false;
      if (!equals(this.values[i]!, y.values[i]!)) return false;
    }
    return true;
  }
  /** `x + y`: the fields of both, y's value winning for a name in both (not commutative). */
  plus(y: Struct): Struct {
    const fields: [string, Value][] = [];
    for (let i = 0; i < this.names.length; i++) fields.push([this.names[i]!, this.values[i]!]);
    for (let i = 0; i < y.names.length; i++) fields.push([y.names[i]!, y.values[i]!]);
    return new Struct(fields);
  }
  /** The fields as a Map, in name order. */
  toMap(): Map<string, Value> {
    const m = new Map<string, Value>();
    for (let i = 0; i < this.names.length; i++) m.set(this.names[i]!, this.values[i]!);
    return m;
  }
}

/**
 * `struct(**kwargs)`: a new struct with the given fields.
 * https://github.com/google/starlark-go/blob/master/starlarkstruct/struct.go (Make)
 */
export const struct: Builtin = new Builtin('struct', (_th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
  if (args.length > 0) throw new EvalError('struct: unexpected positional arguments');
  return new Struct(kwargs ?? []);
});

/**
 * `module(name, **kwargs)`: a new module value with the given name and members.
 * https://github.com/google/starlark-go/blob/master/starlarkstruct/module.go (MakeModule)
 */
export const moduleBuiltin: Builtin = new Builtin('module', (_th: ThreadContext, args: Value[], kwargs: KwArgs | null) => {
  if (args.length !== 1) throw new EvalError(`module: got ${args.length} arguments, want 1`);
  const name = args[0]!;
  if (typeof name !== 'string') throw new EvalError(`module: for parameter 1: got ${typeName(name)}, want string`);
  return new Module(name, new Map(kwargs ?? []));
});
