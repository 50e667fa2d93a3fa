/**
 * This file defines the methods of the built-in `bytes` type and registers them with
 * `defineMethods`; importing it is enough to install them. go.starlark.net gives bytes a single
 * method, `elems()`, whose result iterates over the byte values as ints (bytes themselves are not
 * iterable). Indexing, slicing, `in`, `+`, `*` and comparison of bytes live in values/ops.ts.
 */
import { EvalError } from '../../interpreter/errors.js';
import { Bytes, defineMethods, quoteBytes, StarValue, typeName, unpackPositional, type BuiltinImpl, type Value } from '../../interpreter/values/index.js';

/**
 * The value of `b.elems()`: an iterable (with no len and no indexing, as in the reference) of the
 * byte values of b as ints, of type "bytes.elems", printed as `b"abc".elems()`.
 */
export class BytesElems extends StarValue {
  constructor(readonly b: Bytes) {
    super();
  }
  get type(): string {
    return 'bytes.elems';
  }
  repr(out: string[]): void {
    out.push(quoteBytes(this.b.s) + '.elems()');
  }
  override hashKey(): unknown {
    throw new EvalError(`unhashable: ${this.type}`);
  }
  override equals(y: Value): boolean {
    return y instanceof BytesElems && y.b.s === this.b.s;
  }
  override *iterate(): Iterable<Value> {
    const s = this.b.s;
    for (let i = 0; i < s.length; i++) yield s.charCodeAt(i);
  }
}

/** The methods of `bytes`, keyed by Starlark name. */
export const bytesMethods: Record<string, BuiltinImpl> = {
  // https://github.com/google/starlark-go/blob/master/doc/spec.md#bytes·elems
  // Example: list(b"AB".elems()) == [65, 66]
  elems: (_th, args, kwargs, recv) => {
    unpackPositional('elems', args, kwargs, 0);
    if (!(recv instanceof Bytes)) throw new EvalError(`bytes method called on ${typeName(recv)}`);
    return new BytesElems(recv);
  },
};

defineMethods('bytes', bytesMethods);
