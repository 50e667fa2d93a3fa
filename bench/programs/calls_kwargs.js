// Many small function calls: JavaScript has no keyword arguments, so the idiomatic equivalent
// is an options object with destructuring defaults; rest parameters stand in for *args.
const ROUNDS = 400000;

function scale(x, { factor = 2, offset = 0 } = {}) {
  return x * factor + offset;
}

function clamp(x, { lo = 0, hi = 1000 } = {}) {
  if (x < lo) return lo;
  if (x > hi) return hi;
  return x;
}

function combine(a, b, { op = 'add', weight = 1 } = {}) {
  if (op === 'add') return (a + b) * weight;
  if (op === 'mul') return ((a * b) % 1009) * weight;
  return (a - b) * weight;
}

// Floored modulo, as in Starlark/Python.
function mod(a, m) {
  return ((a % m) + m) % m;
}

function window(x, { lo, hi, wrap = false }) {
  if (wrap) return lo + mod(x - lo, hi - lo);
  return clamp(x, { lo, hi });
}

function totalOf(...args) {
  let t = 0;
  for (const a of args) t += a;
  return t;
}

function main() {
  let total = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const a = scale(i % 100);
    const b = scale(i % 37, { factor: 3 });
    const c = scale(i % 11, { offset: 5, factor: 1 });
    const d = clamp(combine(a, b, { op: 'sub' }), { hi: 150 });
    const e = combine(b, c, { weight: 2 });
    const f = combine(a, c, { op: 'mul' });
    const g = window(e + f, { lo: 10, hi: 500, wrap: true });
    const h = window(a - 20, { lo: 0, hi: 90 });
    total += totalOf(a, b, c, d, e, f, g, h);
    total = total % 1000003;
  }
  return total;
}

console.log(main());
