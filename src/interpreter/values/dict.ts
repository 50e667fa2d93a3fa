/**
 * This file defines dict and set, and the hashing that keys them. Both keep insertion order.
 *
 * Keys are stored in a JS Map under a *normalised key*: a JS primitive that is the same for equal
 * Starlark values. Strings, small ints, bools and None are their own normalised key (the fast path);
 * a float equal to an int normalises to that int (so `{1: x}[1.0]` works); other hashable values
 * (tuples, bytes, non-integral floats, big ints, functions) normalise to a string starting with
 * U+0100, a char code no Starlark string contains (strings hold bytes 0..255), so they can never
 * collide with a string key. The original key is kept beside the value for iteration.
 */
import { EvalError } from '../errors.js';
import { checkMutable } from './list.js';
import { chargeBytes, chargeSteps, ENTRY_BYTES } from './budget.js';
import { reprElems, reprEntries } from './repr.js';
import { Float, StarValue, typeName, type Value } from './value.js';

let nextId = 1;
const identities = new WeakMap<object, number>();

/** An identity key for values hashed by identity (functions, builtins, modules). */
export function identityKey(o: object): string {
  let id = identities.get(o);
  if (id === undefined) {
    id = nextId++;
    identities.set(o, id);
  }
  return `\u0100#${id}`;
}

/** The normalised dict key of a value; throws "unhashable type: T" for mutable values. */
export function hashKey(v: Value): unknown {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
      return v;
    case 'bigint':
      return `\u0100n${v}`;
    case 'object': {
      if (v === null) return null;
      if (v instanceof Float) {
        const f = v.v;
        if (Number.isInteger(f)) {
          if (Math.abs(f) <= Number.MAX_SAFE_INTEGER) return f === 0 ? 0 : f;
          return `\u0100n${BigInt(f)}`;
        }
        return Number.isNaN(f) ? '\u0100nan' : `\u0100f${f}`;
      }
      if (v.hashKey) return v.hashKey();
      return identityKey(v);
    }
    default:
      throw new EvalError(`unhashable type: ${typeName(v)}`);
  }
}

/** A part of a composite key: primitives are tagged so that e.g. 1 and "1" differ inside tuples. */
export function keyPart(v: Value): string {
  const k = hashKey(v);
  switch (typeof k) {
    case 'string':
      return k.charCodeAt(0) === 0x100 ? k : `s${k.length}:${k}`;
    case 'number':
      return `n${k}`;
    case 'boolean':
      return k ? 'T' : 'F';
    default:
      return k === null ? 'N' : String(k);
  }
}

/** Most entries a dict or set may hold (a JS Map holds at most 2^24). */
export const MAX_ENTRIES = 2 ** 24 - 1;

/**
 * Before a new entry: refuses to grow past MAX_ENTRIES, and charges entries as the table doubles
 * (when `size` is 0 or a power of two, the next `max(size, 4)` entries: their bytes and the new
 * table's, and a step each for hashing and inserting), so a dict costs what it holds, amortised,
 * with one test per insertion.
 */
function growCheck(size: number, type: string): void {
  if ((size & (size - 1)) === 0) {
    if (size >= MAX_ENTRIES) throw new EvalError(`allocation budget exceeded: a ${type} may hold at most ${MAX_ENTRIES} entries`, 'budget');
    const n = size < 4 ? 4 : size;
    chargeBytes(2 * n * ENTRY_BYTES);
    chargeSteps(n);
  } else if (size >= MAX_ENTRIES) {
    throw new EvalError(`allocation budget exceeded: a ${type} may hold at most ${MAX_ENTRIES} entries`, 'budget');
  }
}

/** A mutable, insertion-ordered hash map. */
export class Dict extends StarValue {
  frozen = false;
  itercount = 0;
  /** normalised key → value */
  readonly map = new Map<unknown, Value>();
  /** normalised key → original key, only where they differ */
  private orig: Map<unknown, Value> | null = null;

  get type(): string {
    return 'dict';
  }
  override truth(): boolean {
    return this.map.size > 0;
  }
  get size(): number {
    return this.map.size;
  }
  override freeze(): void {
    if (this.frozen) return;
    this.frozen = true;
    for (const [k, v] of this.entries()) {
      if (k !== null && typeof k === 'object') k.freeze();
      if (v !== null && typeof v === 'object') v.freeze();
    }
  }
  override hashKey(): unknown {
    throw new EvalError('unhashable type: dict');
  }
  get(k: Value): Value | undefined {
    return this.map.get(hashKey(k));
  }
  has(k: Value): boolean {
    return this.map.has(hashKey(k));
  }
  /** Sets k to v (checks mutability). */
  set(k: Value, v: Value): void {
    checkMutable(this);
    const hk = hashKey(k);
    if (!this.map.has(hk)) {
      growCheck(this.map.size, 'dict');
      if (hk !== k) (this.orig ??= new Map()).set(hk, k);
    }
    this.map.set(hk, v);
  }
  /** Removes k, returning its value or undefined (checks mutability). */
  delete(k: Value): Value | undefined {
    checkMutable(this, 'delete from');
    const hk = hashKey(k);
    const v = this.map.get(hk);
    if (v === undefined) return undefined;
    this.map.delete(hk);
    this.orig?.delete(hk);
    return v;
  }
  clear(): void {
    checkMutable(this, 'clear');
    this.map.clear();
    this.orig = null;
  }
  private origKey(hk: unknown): Value {
    if (this.orig !== null) {
      const o = this.orig.get(hk);
      if (o !== undefined) return o;
    }
    return hk as Value;
  }
  /** The first key in insertion order, or undefined when empty (O(1)). */
  firstKey(): Value | undefined {
    for (const hk of this.map.keys()) return this.origKey(hk);
    return undefined;
  }

  /** Keys in insertion order (a snapshot). */
  keys(): Value[] {
    const out: Value[] = [];
    for (const hk of this.map.keys()) out.push(this.origKey(hk));
    return out;
  }
  values(): Value[] {
    return [...this.map.values()];
  }
  entries(): [Value, Value][] {
    const out: [Value, Value][] = [];
    for (const [hk, v] of this.map) out.push([this.origKey(hk), v]);
    return out;
  }
  repr(out: string[], seen: Set<StarValue>): void {
    if (seen.has(this)) {
      out.push('{...}');
      return;
    }
    seen.add(this);
    out.push('{');
    reprEntries(this.entries(), out, seen);
    out.push('}');
    seen.delete(this);
  }
}

/** A mutable, insertion-ordered set (dialect option `set`). */
export class StarSet extends StarValue {
  frozen = false;
  itercount = 0;
  readonly map = new Map<unknown, Value>();

  get type(): string {
    return 'set';
  }
  override truth(): boolean {
    return this.map.size > 0;
  }
  get size(): number {
    return this.map.size;
  }
  override freeze(): void {
    if (this.frozen) return;
    this.frozen = true;
    for (const v of this.map.values()) if (v !== null && typeof v === 'object') v.freeze();
  }
  override hashKey(): unknown {
    throw new EvalError('unhashable type: set');
  }
  has(k: Value): boolean {
    return this.map.has(hashKey(k));
  }
  add(k: Value): void {
    checkMutable(this);
    const hk = hashKey(k);
    if (!this.map.has(hk)) {
      growCheck(this.map.size, 'set');
      this.map.set(hk, k);
    }
  }
  delete(k: Value): boolean {
    checkMutable(this, 'delete from');
    return this.map.delete(hashKey(k));
  }
  clear(): void {
    checkMutable(this, 'clear');
    this.map.clear();
  }
  elems(): Value[] {
    return [...this.map.values()];
  }
  repr(out: string[], seen: Set<StarValue>): void {
    out.push('set([');
    reprElems(this.elems(), out, seen);
    out.push('])');
  }
}
