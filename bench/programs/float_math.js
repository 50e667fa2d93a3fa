// Float arithmetic: a Mandelbrot escape-count grid plus a midpoint-rule integral of 4/(1+x*x).
const W = 300;
const H = 300;
const MAXIT = 60;
const STEPS = 2000000;

function mandel() {
  let total = 0;
  for (let py = 0; py < H; py++) {
    const ci = (py * 2.0) / H - 1.0;
    for (let px = 0; px < W; px++) {
      const cr = (px * 3.0) / W - 2.0;
      let zr = 0.0;
      let zi = 0.0;
      let it = 0;
      for (let k = 0; k < MAXIT; k++) {
        const zr2 = zr * zr;
        const zi2 = zi * zi;
        if (zr2 + zi2 > 4.0) break;
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
        it += 1;
      }
      total += it;
    }
  }
  return total;
}

function integrate(n) {
  const h = 1.0 / n;
  let s = 0.0;
  for (let i = 0; i < n; i++) {
    const x = (i + 0.5) * h;
    s += 4.0 / (1.0 + x * x);
  }
  return Math.trunc(s * h * 1000000000.0);
}

function main() {
  return mandel() + integrate(STEPS);
}

console.log(main());
