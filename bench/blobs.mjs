#!/usr/bin/env node
/**
 * The blob store benchmark (`node bench/blobs.mjs` after `npm run build`): put and get throughput of
 * the local store and the S3 store, measured in the same run on the same machine. The S3 store talks
 * to s3rver, an S3-compatible server this script starts on 127.0.0.1 (in a child process with
 * `--openssl-legacy-provider`, as the tests do) and stops at the end; s3rver keeps objects on the
 * local disk, so the S3 numbers measure the client, HTTP and signing costs plus s3rver's own, not
 * AWS's network. Workloads:
 *
 *   small  N × 64 KiB blobs (default 200), one request at a time: latency-bound, like per-step
 *          checkpoints of results just above the 64 KiB offload threshold
 *   large  M × 8 MiB blobs (default 5): bandwidth-bound; with --large-mib above 8 the S3 store
 *          takes its multipart path
 *
 * Every round writes fresh random blobs (so no put is skipped as already stored), reads them all
 * back (each read verifies the SHA-256), and deletes them. Stores are interleaved round by round and
 * the table shows medians.
 *
 * Options: --runs N (default 3), --small N (default 200), --large N (default 5), --large-mib N
 * (default 8), --json, --help. Environment: LARKFLOW_DIST, the build to load (default dist).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE_MODULE = join(process.env.LARKFLOW_DIST ?? join(ROOT, 'dist'), 'engine', 'cache', 'index.js');
const BUCKET = 'larkflow-bench';

function parseArgs(argv) {
  const opts = { runs: 3, small: 200, large: 5, largeMiB: 8, json: false };
  const names = { '--runs': 'runs', '--small': 'small', '--large': 'large', '--large-mib': 'largeMiB' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? argv[i].split(/=(.*)/s) : [argv[i], undefined];
    if (flag === '--help') {
      console.log('usage: node bench/blobs.mjs [--runs N] [--small N] [--large N] [--large-mib N] [--json]');
      process.exit(0);
    } else if (flag === '--json') opts.json = true;
    else if (flag in names) {
      const n = Number(inline ?? argv[++i]);
      if (!Number.isInteger(n) || n < 1) fatal(`${flag} must be a positive integer`);
      opts[names[flag]] = n;
    } else fatal(`unknown option ${argv[i]}`);
  }
  return opts;
}

function fatal(msg) {
  console.error(`bench/blobs.mjs: ${msg}`);
  process.exit(2);
}

const S3RVER_MAIN = `
const S3rver = require('s3rver');
const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: process.argv[1], configureBuckets: [{ name: process.argv[2] }] });
server.run().then((a) => process.stdout.write(JSON.stringify({ port: a.port }) + '\\n'), (e) => { console.error(e); process.exit(1); });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

function startS3rver(directory) {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', S3RVER_MAIN, directory, BUCKET], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ child, endpoint: `http://127.0.0.1:${JSON.parse(out.split('\n')[0]).port}` });
    });
    child.on('exit', (code) => reject(new Error(`s3rver exited with ${code}: ${err}`)));
  });
}

function stopS3rver(s) {
  return new Promise((resolve) => {
    if (s.child.exitCode !== null) return resolve();
    s.child.once('exit', () => resolve());
    s.child.stdin.end();
    setTimeout(() => s.child.kill('SIGKILL'), 3000).unref();
  });
}

function blobs(count, size) {
  return Array.from({ length: count }, () => {
    const bytes = randomBytes(size);
    return { digest: createHash('sha256').update(bytes).digest('hex'), bytes };
  });
}

/** Puts, gets and deletes `items` one at a time; returns seconds for the puts and for the gets. */
async function measure(store, items) {
  let t = performance.now();
  for (const { digest, bytes } of items) await store.put(digest, bytes);
  const put = (performance.now() - t) / 1000;
  t = performance.now();
  for (const { digest, bytes } of items) {
    const back = await store.get(digest);
    if (!back || back.byteLength !== bytes.byteLength) throw new Error(`blob ${digest} did not come back`);
  }
  const get = (performance.now() - t) / 1000;
  for (const { digest } of items) await store.delete(digest);
  return { put, get };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  // The pinned SDK runs on Node 20 but warns that releases after January 2027 will need Node 22.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(CACHE_MODULE)) fatal(`${CACHE_MODULE} is missing; run npm run build first`);
  const { FsBlobStore, S3BlobStore } = await import(pathToFileURL(CACHE_MODULE).href);
  const tmp = mkdtempSync(join(tmpdir(), 'larkflow-bench-blobs-'));
  const server = await startS3rver(join(tmp, 's3rver'));
  try {
    const stores = [
      { name: 'fs', store: new FsBlobStore({ root: join(tmp, 'fs') }) },
      { name: 'fs (no fsync)', store: new FsBlobStore({ root: join(tmp, 'fs-nosync'), fsync: false }) },
      {
        name: 's3 (s3rver)',
        store: new S3BlobStore({ url: `s3://${BUCKET}/bench`, endpoint: server.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, env: {} }),
      },
    ];
    const workloads = [
      { name: `${opts.small} × 64 KiB`, count: opts.small, size: 64 * 1024 },
      { name: `${opts.large} × ${opts.largeMiB} MiB`, count: opts.large, size: opts.largeMiB * 1024 * 1024 },
    ];
    const samples = new Map(); // "store|workload" -> { put: [], get: [] }
    for (let round = 0; round < opts.runs; round++) {
      for (const w of workloads) {
        const order = round % 2 === 0 ? stores : [...stores].reverse();
        for (const s of order) {
          const r = await measure(s.store, blobs(w.count, w.size));
          const key = `${s.name}|${w.name}`;
          if (!samples.has(key)) samples.set(key, { put: [], get: [] });
          samples.get(key).put.push(r.put);
          samples.get(key).get.push(r.get);
        }
      }
    }
    const rows = [];
    for (const w of workloads) {
      for (const s of stores) {
        const m = samples.get(`${s.name}|${w.name}`);
        const mib = (w.count * w.size) / (1024 * 1024);
        const put = median(m.put);
        const get = median(m.get);
        rows.push({ store: s.name, workload: w.name, putMiBs: mib / put, putOps: w.count / put, getMiBs: mib / get, getOps: w.count / get });
      }
    }
    const pad = (v, n) => String(v).padStart(n);
    console.log(`blob stores: ${opts.runs} rounds, medians; one request at a time; node ${process.version}`);
    console.log(`${'workload'.padEnd(14)}${'store'.padEnd(15)}${pad('put MiB/s', 11)}${pad('put/s', 9)}${pad('get MiB/s', 11)}${pad('get/s', 9)}`);
    for (const r of rows) {
      console.log(`${r.workload.padEnd(14)}${r.store.padEnd(15)}${pad(r.putMiBs.toFixed(1), 11)}${pad(r.putOps.toFixed(0), 9)}${pad(r.getMiBs.toFixed(1), 11)}${pad(r.getOps.toFixed(0), 9)}`);
    }
    if (opts.json) console.log(JSON.stringify(rows));
    for (const s of stores) await s.store.close?.();
  } finally {
    await stopS3rver(server);
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
