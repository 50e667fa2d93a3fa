/**
 * This file defines the sequence types list and tuple. A list is mutable until frozen and refuses
 * mutation while it is being iterated (the `itercount` guard), as the spec requires.
 */
import { EvalError } from '../errors.js';
import { StarValue, type Value } from './value.js';
import { reprElems } from './repr.js';
import { keyPart } from './dict.js';
import { chargeSteps } from './budget.js';

/**
 * Throws the reference's error for mutating a frozen or iterated container. As in go.starlark.net,
 * a dict or set is named by its representation ("cannot insert into frozen hash table").
 */
export function checkMutable(v: { frozen: boolean; itercount: number; type: string }, verb = 'insert into'): void {
  if (v.frozen) throw new EvalError(`cannot ${verb} frozen ${containerNoun(v.type)}`);
  if (v.itercount > 0) throw new EvalError(`cannot ${verb} ${containerNoun(v.type)} during iteration`);
}

function containerNoun(type: string): string {
  return type === 'dict' || type === 'set' ? 'hash table' : type;
}

export class List extends StarValue {
  frozen = false;
  itercount = 0;
  constructor(public elems: Value[] = []) {
    super();
  }
  get type(): string {
    return 'list';
  }
  override truth(): boolean {
    return this.elems.length > 0;
  }
  override freeze(): void {
    if (this.frozen) return;
    this.frozen = true;
    for (const e of this.elems) if (e !== null && typeof e === 'object') e.freeze();
  }
  repr(out: string[], seen: Set<StarValue>): void {
    if (seen.has(this)) {
      out.push('[...]');
      return;
    }
    seen.add(this);
    out.push('[');
    reprElems(this.elems, out, seen);
    out.push(']');
    seen.delete(this);
  }
  override hashKey(): unknown {
    throw new EvalError('unhashable type: list');
  }
}

export class Tuple extends StarValue {
  constructor(readonly elems: readonly Value[]) {
    super();
  }
  get type(): string {
    return 'tuple';
  }
  override truth(): boolean {
    return this.elems.length > 0;
  }
  override freeze(): void {
    for (const e of this.elems) if (e !== null && typeof e === 'object') e.freeze();
  }
  repr(out: string[], seen: Set<StarValue>): void {
    out.push('(');
    reprElems(this.elems, out, seen);
    if (this.elems.length === 1) out.push(',');
    out.push(')');
  }
  override hashKey(): unknown {
    chargeSteps(this.elems.length);
    let k = `\u0100t${this.elems.length}(`;
    for (const e of this.elems) k += keyPart(e) + ',';
    return k;
  }
}

/** The empty tuple, shared. */
export const EMPTY_TUPLE = new Tuple([]);
