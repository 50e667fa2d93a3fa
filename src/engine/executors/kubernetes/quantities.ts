/**
 * This file validates Kubernetes resource quantities for CPU and memory, as a workflow declares them
 * (`KubernetesTask(cpu="500m", memory="16Gi")`), so a typo fails when the workflow loads rather than
 * when the API server rejects the Job (or, worse, accepts "512m" of memory: half a byte).
 *
 * The grammar is the API server's (k8s.io/apimachinery `resource.Quantity`):
 * `<number><suffix>` where number is a non-negative decimal ("4", "1.5", ".5") and suffix is one of
 * the binary suffixes `Ki Mi Gi Ti Pi Ei`, the decimal suffixes `n u m k M G T P E` or none, or a
 * decimal exponent `e3`/`E-2`. On top of the grammar:
 * - CPU is a number of cores: "500m", "0.5", "4" (or a plain number, 4). Finer than 1m is refused.
 * - Memory is a number of bytes: "512Mi", "16Gi", "1G", "1073741824". The `m` suffix (milli) is
 *   refused for memory, and so are the non-Kubernetes spellings "16GB", "16gb", "16g", "16GiB".
 * - Zero and negative values are refused for both.
 */

/** Thrown for a quantity Kubernetes would refuse or that cannot be meant. */
export class QuantityError extends Error {
  override readonly name = 'QuantityError';
  constructor(
    message: string,
    readonly kind: QuantityKind,
    readonly input: string,
  ) {
    super(message);
  }
}

/** What a quantity measures. */
export type QuantityKind = 'cpu' | 'memory';

const BINARY: Readonly<Record<string, number>> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Readonly<Record<string, number>> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|[numkMGTPE]?)$/;

const CPU_ACCEPTS = 'a number of cores such as "4", "1.5" or "500m" (millicores)';
const MEMORY_ACCEPTS =
  'a number of bytes with a Kubernetes suffix: "512Mi", "16Gi" (powers of 2: Ki Mi Gi Ti Pi Ei) or "500M", "16G" (powers of 10: k M G T P E)';

function fail(kind: QuantityKind, input: string, why: string): never {
  const accepts = kind === 'cpu' ? CPU_ACCEPTS : MEMORY_ACCEPTS;
  throw new QuantityError(`invalid ${kind} quantity ${JSON.stringify(input)}: ${why}; expected ${accepts}`, kind, input);
}

/** A hint for the usual non-Kubernetes memory spellings: "16GB", "16gb", "16g", "16GiB", "512m". */
function memoryHint(text: string): string | undefined {
  const m = /^(\d+(?:\.\d*)?|\.\d+)\s*([kmgtpe])(i?)(b?)$/i.exec(text);
  if (m === null) return undefined;
  const num = m[1] ?? '';
  const letter = m[2] ?? '';
  const upper = letter.toUpperCase();
  const binary = `${num}${upper}i`;
  const decimal = `${num}${upper === 'K' ? 'k' : upper}`;
  if (letter === 'm' && m[3] === '' && m[4] === '') {
    return `"m" means milli (a thousandth of a byte); did you mean "${binary}" or "${decimal}"?`;
  }
  return `did you mean "${binary}" (binary, ${upper}iB) or "${decimal}" (decimal, ${upper}B)?`;
}

function parse(kind: QuantityKind, input: string | number): { readonly text: string; readonly value: number } {
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) fail(kind, String(input), 'not a finite number');
    if (input <= 0) fail(kind, String(input), 'must be greater than zero');
    const text = String(input);
    if (/e/i.test(text)) fail(kind, text, 'write it without an exponent');
    return { text, value: input };
  }
  const text = input.trim();
  if (text === '') fail(kind, input, 'empty');
  const m = QUANTITY.exec(text);
  if (m === null) {
    const hint = kind === 'memory' ? memoryHint(text) : undefined;
    fail(kind, input, hint ?? 'not a Kubernetes quantity');
  }
  const [, sign, num, suffix] = m as unknown as [string, string, string, string];
  if (sign === '-') fail(kind, input, 'must not be negative');
  let factor: number;
  if (suffix in BINARY) factor = BINARY[suffix] as number;
  else if (/^[eE]/.test(suffix)) factor = 10 ** Number(suffix.slice(1));
  else factor = DECIMAL[suffix] as number;
  const value = Number(num) * factor;
  if (!(value > 0)) fail(kind, input, 'must be greater than zero');
  if (kind === 'memory' && (suffix === 'm' || suffix === 'u' || suffix === 'n')) {
    fail(kind, input, memoryHint(text) ?? `the suffix "${suffix}" means a fraction of a byte`);
  }
  if (kind === 'cpu' && value < 0.001 - 1e-12) fail(kind, input, 'finer than 1m (one millicore) is not allowed');
  return { text, value };
}

/** Cores of a CPU quantity ("500m" → 0.5, "4" → 4, 2 → 2). Throws QuantityError. */
export function parseCpuQuantity(input: string | number): number {
  return parse('cpu', input).value;
}

/** Bytes of a memory quantity ("512Mi" → 536870912, "1G" → 1e9). Approximate beyond 2^53. Throws QuantityError. */
export function parseMemoryQuantity(input: string | number): number {
  return parse('memory', input).value;
}

/**
 * Checks a quantity and returns the text to put in a manifest (the input trimmed, or a number
 * written in decimal). Throws QuantityError with a message that says what is accepted.
 */
export function validateQuantity(kind: QuantityKind, input: string | number): string {
  return parse(kind, input).text;
}
