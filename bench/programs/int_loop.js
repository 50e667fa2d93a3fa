// Nested integer loops: arithmetic, modulo, floor division, branches, accumulation.
const N = 1900;

function main() {
  let total = 0;
  for (let i = 0; i < N; i++) {
    const a = (i * 7 + 3) % 1009;
    for (let j = 0; j < N; j++) {
      const b = (a * j + i) % 997;
      if (b % 3 === 0) {
        total += Math.floor(b / 3);
      } else if (b % 5 === 1) {
        total += j % 11;
      } else {
        total += (a + b) % 17;
      }
    }
    total = total % 1000000007;
  }
  return total;
}

console.log(main());
