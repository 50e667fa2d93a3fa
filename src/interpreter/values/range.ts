/**
 * This file defines `range(start, stop, step)`: an immutable, lazily computed sequence of ints.
 * Its bounds are JS numbers (the reference limits ranges to 32/64-bit ints; we limit them to the safe
 * integer range, which `range` enforces).
 */
import { EvalError } from '../errors.js';
import { StarValue, type Value } from './value.js';

export class Range extends StarValue {
  readonly length: number;
  constructor(
    readonly start: number,
    readonly stop: number,
    readonly step: number,
  ) {
    super();
    if (step === 0) throw new EvalError('range: step argument must not be zero');
    const n = step > 0 ? Math.ceil((stop - start) / step) : Math.ceil((start - stop) / -step);
    this.length = n > 0 ? n : 0;
  }
  get type(): string {
    return 'range';
  }
  override truth(): boolean {
    return this.length > 0;
  }
  at(i: number): number {
    return this.start + i * this.step;
  }
  repr(out: string[]): void {
    if (this.step !== 1) out.push(`range(${this.start}, ${this.stop}, ${this.step})`);
    else if (this.start !== 0) out.push(`range(${this.start}, ${this.stop})`);
    else out.push(`range(${this.stop})`);
  }
  override len(): number {
    return this.length;
  }
  override *iterate(): Iterable<Value> {
    for (let i = 0, v = this.start; i < this.length; i++, v += this.step) yield v;
  }
  override equals(y: Value): boolean {
    if (!(y instanceof Range)) return false;
    if (this.length !== y.length) return false;
    if (this.length === 0) return true;
    return this.start === y.start && (this.length === 1 || this.step === y.step);
  }
  override hashKey(): unknown {
    throw new EvalError('unhashable type: range');
  }
}
