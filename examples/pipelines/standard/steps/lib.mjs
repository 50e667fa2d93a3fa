// Shared by the step scripts: a process task reads its input from the JSON file LARKFLOW_INPUT
// ({"args": [...], "kwargs": {...}, ...}) and writes its result as JSON to LARKFLOW_OUTPUT.
import { readFileSync, writeFileSync } from 'node:fs';

export function input() {
  return JSON.parse(readFileSync(process.env.LARKFLOW_INPUT, 'utf8')).kwargs;
}

export function output(result) {
  writeFileSync(process.env.LARKFLOW_OUTPUT, JSON.stringify(result));
}

/** A small seeded PRNG (mulberry32), so the data is the same on every machine. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const round = (x, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;
