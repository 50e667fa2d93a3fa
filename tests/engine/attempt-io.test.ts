// Attempt I/O (src/engine/remote/attempt-io.ts): input and result documents and code bundles, in a
// directory (file:// URLs) and in S3 (s3rver, presigned URLs fetched with plain HTTP).
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttemptRef, TaskInputDoc } from '../../src/engine/executors/contract.js';
import { AttemptIOError, FsAttemptIO, S3AttemptIO, attemptIOFor, type AttemptIO } from '../../src/engine/remote/attempt-io.js';
import { S3rver, S3RVER_CREDENTIALS } from '../helpers/s3rver.js';

const tmp = mkdtempSync(join(tmpdir(), 'larkflow-attempt-io-'));
const BUCKET = 'io';
let server: S3rver;

beforeAll(async () => {
  server = await S3rver.start({ directory: join(tmp, 's3rver'), bucket: BUCKET });
});

afterAll(async () => {
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const ref: AttemptRef = { runId: 'run/../1', stepId: 'train#2', attempt: 3 };
const input: TaskInputDoc = {
  version: 1,
  task: 'tasks:train',
  args: [{ $bigint: '123456789012345678901234567890' }, 1.5, 'x'],
  kwargs: { n: { $bigint: '-9007199254740993' }, small: 7 },
  runId: ref.runId,
  stepId: ref.stepId,
  attempt: ref.attempt,
};
const EXPECTED_INPUT = '{"version":1,"task":"tasks:train","args":[123456789012345678901234567890,1.5,"x"],"kwargs":{"n":-9007199254740993,"small":7},"runId":"run/../1","stepId":"train#2","attempt":3}';

async function get(url: string): Promise<string> {
  if (url.startsWith('file:')) return readFileSync(fileURLToPath(url), 'utf8');
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${res.status}: ${await res.text()}`);
  return res.text();
}

async function put(url: string, text: string): Promise<void> {
  if (url.startsWith('file:')) {
    writeFileSync(fileURLToPath(url), text);
    return;
  }
  const res = await fetch(url, { method: 'PUT', body: Buffer.from(text), headers: { 'content-type': 'application/json' } });
  if (!res.ok) throw new Error(`PUT ${res.status}: ${await res.text()}`);
}

let n = 0;
const kinds: [string, () => AttemptIO][] = [
  ['fs', () => new FsAttemptIO(join(tmp, `fs${++n}`))],
  ['s3', () => new S3AttemptIO({ url: `s3://${BUCKET}/p${++n}`, endpoint: server.endpoint, credentials: S3RVER_CREDENTIALS, expiresInSeconds: 600 })],
];

describe.each(kinds)('%s attempt I/O', (_kind, make) => {
  it('writes the input with exact big ints, and hands out a URL that reads it', async () => {
    const io = make();
    const url = await io.putInput(ref, input);
    expect(await get(url)).toBe(EXPECTED_INPUT);
    io.close();
  });

  it('reads back a result written to resultUrl, big ints in history form', async () => {
    const io = make();
    expect(await io.readResult(ref)).toBeUndefined();
    const url = await io.resultUrl(ref);
    await put(url, `{"version":1,"runId":"run/../1","stepId":"train#2","attempt":3,"ok":true,"value":{"big":123456789012345678901234567890,"f":0.5}}`);
    expect(await io.readResult(ref)).toEqual({ version: 1, runId: ref.runId, stepId: ref.stepId, attempt: 3, ok: true, value: { big: { $bigint: '123456789012345678901234567890' }, f: 0.5 } });
    // A new input for the same attempt (a re-attach) leaves the result alone.
    await io.putInput(ref, input);
    expect((await io.readResult(ref))?.ok).toBe(true);
    // Other attempts are elsewhere.
    expect(await io.readResult({ ...ref, attempt: 4 })).toBeUndefined();
    await io.removeAttempt(ref);
    expect(await io.readResult(ref)).toBeUndefined();
    await io.removeAttempt(ref);
    io.close();
  });

  it('reads an error result', async () => {
    const io = make();
    await put(await io.resultUrl(ref), JSON.stringify({ version: 1, runId: ref.runId, stepId: ref.stepId, attempt: 3, ok: false, error: { kind: 'task', message: 'ValueError: no', retryable: true, details: 'Traceback...' } }));
    expect(await io.readResult(ref)).toEqual({ version: 1, runId: ref.runId, stepId: ref.stepId, attempt: 3, ok: false, error: { kind: 'task', message: 'ValueError: no', retryable: true, details: 'Traceback...' } });
    io.close();
  });

  it('refuses a result of another attempt, of another version, or not JSON', async () => {
    const io = make();
    const url = await io.resultUrl(ref);
    const cases: [string, RegExp][] = [
      [JSON.stringify({ version: 1, runId: ref.runId, stepId: ref.stepId, attempt: 2, ok: true, value: 1 }), /names attempt 2 of step "train#2".*stale/],
      [JSON.stringify({ version: 1, runId: 'other', stepId: ref.stepId, attempt: 3, ok: true, value: 1 }), /run "other"/],
      [JSON.stringify({ version: 2, runId: ref.runId, stepId: ref.stepId, attempt: 3, ok: true, value: 1 }), /version is 2/],
      [JSON.stringify({ version: 1, runId: ref.runId, stepId: ref.stepId, attempt: 3, ok: false, error: 'x' }), /error is not an object/],
      [JSON.stringify({ version: 1, runId: ref.runId, stepId: ref.stepId, attempt: 3, ok: true }), /no value/],
      ['{"version":1,', /not JSON/],
    ];
    for (const [text, message] of cases) {
      await put(url, text);
      const err = await io.readResult(ref).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AttemptIOError);
      expect((err as AttemptIOError).reason).toBe('corrupt');
      expect((err as AttemptIOError).message).toMatch(message);
    }
    io.close();
  });

  it('stores a bundle by digest, idempotently, and refuses bytes that do not match', async () => {
    const io = make();
    const bytes = new Uint8Array(Buffer.from('not really a tarball'));
    const sha = createHash('sha256').update(bytes).digest('hex');
    const url = await io.putBundle(sha, bytes);
    expect(await get(url)).toBe('not really a tarball');
    const again = await io.putBundle(sha, bytes);
    expect(await get(again)).toBe('not really a tarball');
    await expect(io.putBundle('0'.repeat(64), bytes)).rejects.toThrow(/do not match their digest/);
    await expect(io.putBundle('xyz', bytes)).rejects.toThrow(/invalid bundle digest/);
    io.close();
  });
});

describe('layout and choice of store', () => {
  it('keeps fs documents under attempts/<run>/<step>/<attempt>, ids percent-encoded', async () => {
    const io = new FsAttemptIO(join(tmp, 'layout'));
    const url = await io.putInput(ref, input);
    expect(fileURLToPath(url)).toBe(join(tmp, 'layout', 'attempts', 'run%2F..%2F1', 'train#2', '3', 'input.json'));
    expect(existsSync(join(tmp, 'layout', 'attempts', 'run%2F..%2F1', 'train#2', '3'))).toBe(true);
    const sha = createHash('sha256').update('b').digest('hex');
    expect(fileURLToPath(await io.putBundle(sha, Buffer.from('b')))).toBe(join(tmp, 'layout', 'bundles', `${sha}.tar.gz`));
  });

  it('keeps s3 documents under <prefix>/attempts/... and bundles under <prefix>/bundles/, with presigned URLs', async () => {
    const io = new S3AttemptIO({ url: `s3://${BUCKET}/some/prefix/`, endpoint: server.endpoint, credentials: S3RVER_CREDENTIALS });
    expect(io.attemptKey(ref, 'result.json')).toBe('some/prefix/attempts/run%2F..%2F1/train#2/3/result.json');
    expect(io.bundleKey('ab')).toBe('some/prefix/bundles/ab.tar.gz');
    const url = await io.resultUrl(ref);
    expect(url).toContain('X-Amz-Expires=86400');
    expect(url).toContain('X-Amz-SignedHeaders=host');
    io.close();
    expect(() => new S3AttemptIO({ url: `s3://${BUCKET}`, expiresInSeconds: 8 * 24 * 3600 })).toThrow(/at most|7 days/);
  });

  it('a PUT without a Content-Type works too (only the host is signed)', async () => {
    const io = new S3AttemptIO({ url: `s3://${BUCKET}/noct`, endpoint: server.endpoint, credentials: S3RVER_CREDENTIALS });
    const res = await fetch(await io.resultUrl(ref), { method: 'PUT', body: Buffer.from(JSON.stringify({ version: 1, runId: ref.runId, stepId: ref.stepId, attempt: 3, ok: true, value: null })) });
    expect(res.status).toBe(200);
    expect(await io.readResult(ref)).toMatchObject({ ok: true, value: null });
    io.close();
  });

  it('attemptIOFor picks the store by the storage setting', () => {
    expect(attemptIOFor(undefined)).toBeInstanceOf(FsAttemptIO);
    expect((attemptIOFor(undefined) as FsAttemptIO).root).toBe(join(process.cwd(), '.larkflow', 'io'));
    expect((attemptIOFor(join(tmp, 'x')) as FsAttemptIO).root).toBe(join(tmp, 'x'));
    expect((attemptIOFor(`file://${join(tmp, 'y')}`) as FsAttemptIO).root).toBe(join(tmp, 'y'));
    const s3 = attemptIOFor(`s3://${BUCKET}/p`, { endpoint: server.endpoint, credentials: S3RVER_CREDENTIALS });
    expect(s3).toBeInstanceOf(S3AttemptIO);
    expect(s3.where).toBe(`s3://${BUCKET}/p (endpoint ${server.endpoint})`);
    s3.close();
    expect(() => attemptIOFor('gs://bucket/x')).toThrow(/unsupported storage for task I\/O "gs:\/\/bucket\/x"/);
    expect(() => attemptIOFor('s3://')).toThrow(/invalid storage URL/);
  });

  it('refuses an input that cannot be JSON, and a bad attempt number', async () => {
    const io = new FsAttemptIO(join(tmp, 'bad'));
    await expect(io.putInput(ref, { ...input, args: [Number.NaN] })).rejects.toThrow(/input\.args\[0\] is NaN/);
    await expect(io.putInput({ ...ref, attempt: 0 }, input)).rejects.toThrow(/invalid attempt number 0/);
  });
});
