// Array building with map, stable sort with comparators (numeric and compound keys), descending
// sort, lexicographic tuple ordering, zipping, entries(), and min/max-by via reduce.
const ROUNDS = 1500;
const SIZE = 300;

function cmp(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpTuple(a, b) {
  for (let i = 0; i < a.length; i++) {
    const c = cmp(a[i], b[i]);
    if (c !== 0) return c;
  }
  return 0;
}

function sumPairs(pairs) {
  let s = 0;
  for (const [x, y] of pairs) s += x * 3 + y;
  return s;
}

function main() {
  let total = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const recs = Array.from({ length: SIZE }, (_, i) => [(i * 7919 + r) % 1000, `n${(i * 31 + r) % 97}`, i]);
    const byKey = [...recs].sort((a, b) => a[0] - b[0]);
    const byName = [...recs].sort((a, b) => cmp(a[1], b[1]) || b[2] - a[2]);
    const natural = [...recs].sort(cmpTuple);
    const pairs = byKey.slice(0, 50).map((a, i) => [a[2], byName[i][2]]);
    const top = byKey.filter((t) => t[0] > 900);
    const rev = top.map((t) => t[2]).sort((a, b) => b - a);
    for (const [idx, t] of byName.entries()) total += idx * t[2];
    for (const [idx, t] of natural.slice(0, 100).entries()) total += idx * t[0];
    total += sumPairs(pairs) + rev.length + rev[0];
    // max/min return the first maximal/minimal element, like Python and Starlark.
    total += recs.reduce((m, t) => (t[1] > m[1] ? t : m))[2];
    total += recs.reduce((m, t) => (t[0] - t[2] < m[0] - m[2] ? t : m))[2];
    total = total % 1000003;
  }
  return total;
}

console.log(main());
