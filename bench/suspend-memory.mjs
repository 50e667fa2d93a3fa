// Measures the memory of a paused Starlark thread: N threads, each suspended at a blocking builtin
// inside 10 nested Starlark frames (with a loop and a comprehension on the way), kept alive at once.
// Run: node --expose-gc bench/suspend-memory.mjs [N]
import '../dist/stdlib/index.js';
import { Builtin, Pending, Source, Thread, startFile } from '../dist/interpreter/index.js';

const N = Number(process.argv[2] ?? 10000);
const wait = new Builtin('wait', () => new Pending('w'));
const frames = [
  'def f0(x):\n    return [wait(x) for i in range(1)]\n',
  ...Array.from({ length: 9 }, (_, i) => `def f${i + 1}(x):\n    for j in range(1):\n        return f${i}(x + 1)\n`),
  'r = f9(0)\n',
].join('');
const src = new Source('deep.star', frames);
const pre = new Map([['wait', wait]]);
const gc = globalThis.gc ?? (() => {});

function heap() {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

// Warm up: compile once (the program is cached and shared by all threads).
startFile(new Thread(), src, pre);
const before = heap();
const threads = [];
for (let i = 0; i < N; i++) {
  const th = new Thread({ name: `t${i}` });
  const out = startFile(th, src, pre);
  if (out.done) throw new Error('expected a suspension');
  if (th.stack.length !== 11) throw new Error(`expected 11 frames (module + 10), got ${th.stack.length}`);
  threads.push(th);
}
const after = heap();
const per = (after - before) / N;
console.log(`paused threads: ${N}, frames each: 10 (+ module), heap per paused thread: ${(per / 1024).toFixed(1)} KiB (${Math.round(per)} bytes)`);
// Resume them all to show they are intact.
let ok = 0;
for (const th of threads) if (th.resume(1).done) ok++;
console.log(`resumed: ${ok}`);
