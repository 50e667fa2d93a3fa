// JSON: build nested objects/arrays/strings/numbers/booleans/null, JSON.stringify, JSON.parse,
// re-stringify and compare. Keys are written in sorted order, matching Starlark's json.encode.
const ROUNDS = 2000;

function main() {
  let total = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const items = [];
    for (let i = 0; i < 40; i++) {
      items.push({
        id: i + r,
        name: `item${i}`,
        nested: { a: i * 3, b: [i, i + 1, null], c: `x${i % 7}` },
        ok: i % 2 === 0,
        tags: [`t${i % 5}`, 'x'],
      });
    }
    const doc = { count: items.length, items, round: r };
    const s = JSON.stringify(doc);
    const back = JSON.parse(s);
    total += s.length + back.count + back.items[7].nested.a + back.round;
    if (back.items[3].ok) total += 1;
    if (back.items[4].nested.b[2] === null) total += 2;
    const s2 = JSON.stringify(back);
    if (s2 === s) total += 5;
    total = total % 1000003;
  }
  return total;
}

console.log(main());
