/**
 * This file is the contract suite of the blob stores: one set of tests, run with `describe.each`
 * against the local store (in the temp directory) and the S3 store against a real S3-compatible
 * server, s3rver, which the suite starts on 127.0.0.1 on a free port. s3rver runs in a child process
 * of its own because its truncated listings need Node's `--openssl-legacy-provider` (the listing
 * test asks for pages of 2 keys to go through them), and it accepts only its default credentials
 * (S3RVER/S3RVER). After the contract come what only S3 has: a server that is down or failing, bad
 * credentials, a missing bucket.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BlobStoreError,
  DEFAULT_BLOB_THRESHOLD_BYTES,
  FsBlobStore,
  S3BlobStore,
  getJson,
  isBlobMarker,
  isRetryableStoreError,
  offloadJson,
  parseS3Url,
  putJson,
  resolveJson,
} from '../../src/engine/cache/index.js';
import type { BlobStore } from '../../src/engine/cache/index.js';
import { StoreError } from '../../src/engine/core/errors.js';
import { sha256 } from '../../src/util/hash.js';

// The pinned SDK runs on Node 20 but warns (once per process) that releases after January 2027
// will need Node 22; the warning is not what these tests are about.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'larkflow-blobs-'));
const BUCKET = 'larkflow-test';
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

// ---------------------------------------------------------------------------------------------
// s3rver in a child process

/** Started with `node --openssl-legacy-provider -e`: prints {"port": n} once listening, exits when stdin closes. */
const S3RVER_MAIN = `
const S3rver = require('s3rver');
const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: process.argv[1], configureBuckets: [{ name: process.argv[2] }] });
server.run().then((a) => process.stdout.write(JSON.stringify({ port: a.port }) + '\\n'), (e) => { console.error(e); process.exit(1); });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

interface S3rverProcess {
  readonly endpoint: string;
  readonly child: ChildProcess;
}

function startS3rver(directory: string): Promise<S3rverProcess> {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', S3RVER_MAIN, directory, BUCKET], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`s3rver did not start in 15 s: ${err}`)), 15_000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        resolve({ endpoint: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`, child });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code}: ${err}`));
    });
  });
}

function stopS3rver(s: S3rverProcess | undefined): Promise<void> {
  if (!s || s.child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    s.child.once('exit', () => resolve());
    s.child.stdin!.end();
    setTimeout(() => s.child.kill('SIGKILL'), 3000).unref();
  });
}

let server: S3rverProcess | undefined;
beforeAll(async () => {
  server = await startS3rver(join(tmp, 's3rver'));
}, 30_000);
afterAll(async () => {
  await stopS3rver(server);
  rmSync(tmp, { recursive: true, force: true });
});

let prefixCounter = 0;

function s3Store(extra: Partial<ConstructorParameters<typeof S3BlobStore>[0]> = {}): S3BlobStore {
  return new S3BlobStore({ url: `s3://${BUCKET}/run${++prefixCounter}`, endpoint: server!.endpoint, region: 'us-east-1', credentials: CREDENTIALS, env: {}, ...extra });
}

// ---------------------------------------------------------------------------------------------
// The contract

interface Subject {
  readonly name: string;
  /** A fresh, empty store of its own. */
  make(): BlobStore;
  /** Replaces the stored bytes of a blob behind the store's back. */
  corrupt(store: BlobStore, digest: string, bytes: Uint8Array): Promise<void>;
}

let fsCounter = 0;
const subjects: Subject[] = [
  {
    name: 'fs',
    make: () => new FsBlobStore({ root: join(tmp, `fs${++fsCounter}`) }),
    corrupt: async (store, digest, bytes) => writeFileSync((store as FsBlobStore).pathOf(digest), bytes),
  },
  {
    name: 's3',
    make: () => s3Store({ listPageSize: 2 }),
    corrupt: async (store, digest, bytes) => {
      const s = store as S3BlobStore;
      await s.client.send(new PutObjectCommand({ Bucket: s.bucket, Key: s.keyOf(digest), Body: bytes }));
    },
  },
];

const enc = new TextEncoder();
const blob = (text: string): [string, Uint8Array] => {
  const bytes = enc.encode(text);
  return [sha256(bytes), bytes];
};

async function collect(store: BlobStore): Promise<{ digest: string; size: number }[]> {
  const out: { digest: string; size: number }[] = [];
  for await (const b of store.list()) out.push({ digest: b.digest, size: b.size });
  return out.sort((a, b) => a.digest.localeCompare(b.digest));
}

async function rejection(p: Promise<unknown>): Promise<BlobStoreError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BlobStoreError);
    expect(err).toBeInstanceOf(StoreError);
    return err as BlobStoreError;
  }
  throw new Error('expected a rejection');
}

describe.each(subjects)('BlobStore contract: $name', (subject) => {
  it('stores, reads back, sizes and deletes a blob', async () => {
    const store = subject.make();
    const [digest, bytes] = blob('hello, blobs');
    expect(await store.get(digest)).toBeUndefined();
    expect(await store.head(digest)).toBeUndefined();
    await store.put(digest, bytes);
    expect(Buffer.from((await store.get(digest))!).toString()).toBe('hello, blobs');
    expect(await store.head(digest)).toEqual({ size: bytes.byteLength });
    expect(store.uri(digest)).toContain(digest.slice(2));
    await store.delete(digest);
    expect(await store.get(digest)).toBeUndefined();
    expect(await store.head(digest)).toBeUndefined();
    await store.delete(digest); // deleting a missing blob is fine
    await store.close?.();
  });

  it('stores an empty blob', async () => {
    const store = subject.make();
    const [digest, bytes] = blob('');
    await store.put(digest, bytes);
    expect((await store.get(digest))!.byteLength).toBe(0);
    expect(await store.head(digest)).toEqual({ size: 0 });
    await store.close?.();
  });

  it('is idempotent and safe under concurrent puts of one blob', async () => {
    const store = subject.make();
    const [digest, bytes] = blob('x'.repeat(10_000));
    await Promise.all([store.put(digest, bytes), store.put(digest, bytes), store.put(digest, bytes)]);
    await store.put(digest, bytes);
    expect(await collect(store)).toEqual([{ digest, size: 10_000 }]);
    expect(sha256((await store.get(digest))!)).toBe(digest);
    await store.close?.();
  });

  it('lists every blob, across pages, and no deleted one', async () => {
    const store = subject.make();
    const blobs = Array.from({ length: 7 }, (_, i) => blob(`blob number ${i}`));
    for (const [d, b] of blobs) await store.put(d, b);
    await store.delete(blobs[3]![0]);
    const expected = blobs
      .filter((_, i) => i !== 3)
      .map(([digest, b]) => ({ digest, size: b.byteLength }))
      .sort((a, b) => a.digest.localeCompare(b.digest));
    expect(await collect(store)).toEqual(expected);
    await store.close?.();
  });

  it('refuses bytes that are not the digest, and digests that are not SHA-256', async () => {
    const store = subject.make();
    const [digest] = blob('one');
    const err = await rejection(store.put(digest, enc.encode('two')));
    expect(err.reason).toBe('invalid');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(digest);
    for (const bad of ['../../etc/passwd', digest.toUpperCase(), digest.slice(1), '']) {
      expect((await rejection(store.get(bad))).reason).toBe('invalid');
      expect((await rejection(store.put(bad, enc.encode('x')))).reason).toBe('invalid');
    }
    expect(await collect(store)).toEqual([]);
    await store.close?.();
  });

  it('never returns corrupt bytes: get throws an error naming the blob', async () => {
    const store = subject.make();
    const [digest, bytes] = blob('the real content');
    await store.put(digest, bytes);
    await subject.corrupt(store, digest, enc.encode('the fake content'));
    const err = await rejection(store.get(digest));
    expect(err.reason).toBe('corrupt');
    expect(err.digest).toBe(digest);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(`blob ${digest} is corrupt`);
    expect(err.message).toContain(store.uri(digest));
    await store.close?.();
  });

  it('stores JSON values as blobs: putJson/getJson, offloadJson/resolveJson', async () => {
    const store = subject.make();
    const value = { b: [1, 2.5, 'three', null, true], a: { nested: 'yes' } };
    const ref = await putJson(store, value);
    expect(ref.uri).toBe(store.uri(ref.digest));
    expect(await getJson(store, ref)).toEqual(value);
    // Key order does not matter: canonical JSON, one blob.
    expect((await putJson(store, { a: { nested: 'yes' }, b: [1, 2.5, 'three', null, true] })).digest).toBe(ref.digest);

    const small = { s: 'small' };
    expect(await offloadJson(store, small)).toBe(small);
    const big = { rows: Array.from({ length: 5000 }, (_, i) => ({ i, name: `row ${i}` })) };
    const marker = await offloadJson(store, big);
    expect(isBlobMarker(marker)).toBe(true);
    expect(JSON.stringify(marker).length).toBeLessThan(300);
    expect((marker as { size: number }).size).toBeGreaterThan(DEFAULT_BLOB_THRESHOLD_BYTES);
    expect(await resolveJson(store, marker)).toEqual(big);
    expect(await resolveJson(store, small)).toBe(small);

    const missing = sha256('never stored');
    const err = await rejection(getJson(store, { digest: missing }));
    expect(err.reason).toBe('missing');
    expect(err.message).toContain(missing);
    await store.close?.();
  });

  it('round-trips a large blob (multipart on S3)', async () => {
    const store = subject.make();
    const bytes = new Uint8Array(20 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = (i / 4096) & 0xff;
    const digest = sha256(bytes);
    await store.put(digest, bytes);
    expect(await store.head(digest)).toEqual({ size: bytes.byteLength });
    const back = await store.get(digest);
    expect(back!.byteLength).toBe(bytes.byteLength);
    expect(sha256(back!)).toBe(digest);
    await store.put(digest, bytes); // already there: not sent again
    await store.close?.();
  });
});

// ---------------------------------------------------------------------------------------------
// S3 only

describe('S3BlobStore', () => {
  it('parses storage URLs', () => {
    expect(parseS3Url('s3://bucket')).toEqual({ bucket: 'bucket', prefix: '' });
    expect(parseS3Url('s3://bucket/a/b/')).toEqual({ bucket: 'bucket', prefix: 'a/b' });
    expect(() => parseS3Url('https://bucket/x')).toThrow(/expected s3:\/\/bucket/);
    expect(new S3BlobStore({ url: 's3://b/p', region: 'us-east-1', env: {} }).uri('a'.repeat(64))).toBe(`s3://b/p/blobs/aa/${'a'.repeat(62)}`);
  });

  it('uploads a large blob in parts, once', async () => {
    const store = s3Store({ multipartThresholdBytes: 6 * 1024 * 1024, partSizeBytes: 5 * 1024 * 1024 });
    const commands: string[] = [];
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        commands.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    const bytes = new Uint8Array(12 * 1024 * 1024).fill(7);
    const digest = sha256(bytes);
    await store.put(digest, bytes);
    expect(commands).toEqual(['HeadObjectCommand', 'CreateMultipartUploadCommand', 'UploadPartCommand', 'UploadPartCommand', 'UploadPartCommand', 'CompleteMultipartUploadCommand']);
    commands.length = 0;
    await store.put(digest, bytes);
    expect(commands).toEqual(['HeadObjectCommand']);
    expect(sha256((await store.get(digest))!)).toBe(digest);
    store.close();
  });

  it('reads endpoint and region from the AWS environment variables', async () => {
    const store = new S3BlobStore({ url: `s3://${BUCKET}/env`, credentials: CREDENTIALS, env: { AWS_ENDPOINT_URL: server!.endpoint, AWS_REGION: 'eu-west-1' } });
    expect(await store.client.config.region()).toBe('eu-west-1');
    expect(store.client.config.forcePathStyle).toBe(true);
    const [digest, bytes] = blob('via env');
    await store.put(digest, bytes);
    expect(await store.head(digest)).toEqual({ size: bytes.byteLength });
    store.close();
  });

  it('reports a server that is down as a retryable StoreError', async () => {
    const port = await freePort();
    const store = s3Store({ endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 });
    const [digest, bytes] = blob('nobody home');
    for (const op of [() => store.put(digest, bytes), () => store.get(digest), () => store.head(digest)]) {
      const err = await rejection(op());
      expect(err.retryable).toBe(true);
      expect(isRetryableStoreError(err)).toBe(true);
      expect(err.reason).toBe('unavailable');
      expect(err.message).toMatch(/cannot (store|read|look up) blob [0-9a-f]{64} in s3:\/\/larkflow-test\/run\d+ \(endpoint http:\/\/127\.0\.0\.1:\d+\): the server cannot be reached \(ECONNREFUSED\)/);
    }
    store.close();
  });

  it('reports 5xx responses as a retryable StoreError after the SDK retries', async () => {
    let requests = 0;
    const failing = createServer((req, res) => {
      requests++;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml' }).end('<Error><Code>ServiceUnavailable</Code><Message>down for maintenance</Message></Error>');
    });
    await new Promise<void>((r) => failing.listen(0, '127.0.0.1', r));
    try {
      const store = s3Store({ endpoint: `http://127.0.0.1:${(failing.address() as AddressInfo).port}`, maxAttempts: 2 });
      const [digest, bytes] = blob('server error');
      const err = await rejection(store.put(digest, bytes));
      expect(err.retryable).toBe(true);
      expect(err.message).toContain('the server failed, try again later');
      expect(err.message).toContain('HTTP 503');
      expect(requests).toBe(2);
      store.close();
    } finally {
      failing.close();
    }
  });

  it('reports bad credentials and a missing bucket as refused, not retryable', async () => {
    const [digest, bytes] = blob('refused');
    const badKey = s3Store({ credentials: { accessKeyId: 'NOPE', secretAccessKey: 'NOPE' } });
    const err = await rejection(badKey.put(digest, bytes));
    expect(err.reason).toBe('refused');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('check the credentials');
    badKey.close();

    const noBucket = s3Store({ url: 's3://no-such-bucket/x' });
    const err2 = await rejection(noBucket.put(digest, bytes));
    expect(err2.reason).toBe('refused');
    expect(err2.message).toContain('bucket no-such-bucket does not exist');
    noBucket.close();
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
