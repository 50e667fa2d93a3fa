// String building and processing: template formatting, join, split, replaceAll, toUpperCase,
// toLowerCase, indexOf, counting, startsWith, slice, String()/parseInt and string comparison.
const ROUNDS = 60000;
const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];

function main() {
  let total = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const parts = [];
    for (let i = 0; i < 16; i++) {
      const w = WORDS[(r + i) % 8];
      parts.push(`${w}-${(i * r) % 97}`);
    }
    const line = parts.join(',');
    const up = line.toUpperCase();
    const rep = up.replaceAll('A', 'aa').replaceAll('-', ':');
    const fields = rep.split(',');
    total += rep.length + fields.length;
    total += rep.indexOf('THETa');
    if (fields[3].startsWith('DE')) total += 7;
    total += rep.split('aa').length - 1;
    const head = fields[r % 16];
    const [name, num] = head.split(':');
    total += parseInt(num, 10) + name.toLowerCase().length;
    if (name < 'GZ') total += 3;
    total += (String(r * 31) + rep.slice(5, 12)).length;
    total = total % 1000003;
  }
  return total;
}

console.log(main());
