// Lists: push, indexing (including from the end), slice, concat, map/filter, includes,
// length, push(...), unshift/pop and indexOf.
const ROUNDS = 20000;

function main() {
  let total = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const xs = [];
    for (let i = 0; i < 120; i++) xs.push((i * 31 + r) % 101);
    const ys = xs.filter((x) => x % 3 !== 0).map((x) => x * 2);
    const zs = xs.slice(10, 60).concat(ys.slice(5, 40));
    let hits = 0;
    for (let k = 0; k < 100; k += 7) {
      if (zs.includes(k)) hits += 1;
    }
    const ws = zs.filter((_, idx) => idx % 2 === 0).map((z) => z + 1);
    ws.push(...xs.slice(-5));
    ws.unshift(r % 7);
    const last = ws.pop();
    total += ys.length + hits + zs[Math.floor(zs.length / 2)] + xs[xs.length - 1] + ws.length + last;
    if (ws.includes(50)) total += ws.indexOf(50);
    total = total % 1000003;
  }
  return total;
}

console.log(main());
