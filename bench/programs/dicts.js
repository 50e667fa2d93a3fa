// Maps: set, get, has and delete with string and int keys; get-with-default, entries(),
// keys(), values(), merging, get-or-create and delete. Iteration is in insertion order.
const ROUNDS = 13000;

function main() {
  let total = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const d = new Map();
    for (let i = 0; i < 100; i++) {
      const key = `k${i % 37}`;
      d.set(key, (d.get(key) ?? 0) + i);
    }
    const counts = new Map();
    for (let i = 0; i < 100; i++) {
      const key = (i * r) % 53;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const merged = new Map(d);
    for (const [k, v] of d) {
      if (v % 2 === 0) merged.set(k + '_even', Math.floor(v / 2));
    }
    for (const [k, v] of counts) total += k * v;
    const groups = new Map();
    for (const k of merged.keys()) {
      let g = groups.get(k.length);
      if (g === undefined) {
        g = [];
        groups.set(k.length, g);
      }
      g.push(k);
    }
    for (const [n, names] of groups) total += n * names.length;
    for (const v of merged.values()) total += v % 13;
    let k5 = 0;
    if (merged.has('k5')) {
      k5 = merged.get('k5');
      merged.delete('k5');
    }
    total += merged.size + counts.size + k5;
    if (!merged.has('k5')) total += 1;
    if (counts.has(r % 53)) total += counts.get(r % 53);
    total = total % 1000003;
  }
  return total;
}

console.log(main());
