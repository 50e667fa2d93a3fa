/**
 * This file defines where a remote attempt's data travels (docs/remote.md, "task I/O"): the engine
 * writes the attempt's input document, hands the job URLs in `IO_ENV` variables, and reads back the
 * result document the runner wrote. Two stores:
 *
 * - `FsAttemptIO` (a directory, for jobs that share the engine's file system: local processes, a
 *   mounted volume): `<root>/attempts/<runId>/<stepId>/<attempt>/{input,result}.json` and
 *   `<root>/bundles/<sha256>.tar.gz`, handed out as `file://` URLs. Ids are percent-encoded path
 *   segments (`attemptDirOf`), so no id climbs out of the root or collides with another.
 * - `S3AttemptIO` (`s3://bucket/prefix`): keys `<prefix>/attempts/<runId>/<stepId>/<attempt>/input.json`
 *   and `result.json`, `<prefix>/bundles/<sha256>.tar.gz`, handed out as presigned URLs (GET for the
 *   input and the bundle, PUT for the result), valid for `expiresInSeconds` (24 h by default, at most
 *   7 days, SigV4's limit; URLs signed with temporary credentials end with those credentials).
 *
 * Integers beyond ±(2^53−1) are plain JSON numbers with all their digits on the wire (a Python
 * runner's `json` reads them as ints), and `readResult` gives them back in history's form,
 * `{"$bigint": "digits"}`.
 *
 * Stale results: a result document names the attempt it answers (runId, stepId, attempt) and
 * `readResult` refuses one that names another. Each retry is a new attempt number, so a new path; a
 * re-submission of the *same* attempt (the engine re-attaching after a crash) adopts the job that was
 * already started, and a result that job wrote is that attempt's genuine result. So nothing here
 * deletes a result before a submission: `putInput` never touches `result.json`. `removeAttempt` is
 * for cleaning up once the outcome is recorded in history.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseS3Url } from '../cache/s3-blob-store.js';
import type { AttemptRef, TaskInputDoc, TaskResultDoc } from '../executors/contract.js';
import { parseExactJson, writeExactJson } from '../executors/exact-json.js';
import { attemptDirOf } from '../executors/function-executor.js';
import { NotJsonError, toJsonValue } from './exact-values.js';

/** Where an attempt's input, result and code bundle are kept, and the URLs a runner uses for them. */
export interface AttemptIO {
  /** Writes the attempt's input document; returns the URL a runner GETs it from (file:// or presigned, valid for the expiry). */
  putInput(ref: AttemptRef, doc: TaskInputDoc): Promise<string>;
  /** A URL the runner writes the result document to (file:// URL, or a presigned PUT). */
  resultUrl(ref: AttemptRef): Promise<string>;
  /**
   * The result document if the runner wrote one, verified: JSON, version 1, and naming this very
   * attempt (runId, stepId, attempt); undefined if there is none. Big ints in history's form.
   * @throws AttemptIOError 'corrupt' for a document that is not a valid result of this attempt,
   *   'unavailable' (retryable) or 'refused' when the store cannot be read
   */
  readResult(ref: AttemptRef): Promise<TaskResultDoc | undefined>;
  /** Stores a code bundle under its sha256 (idempotent, the digest is checked); returns a GET URL. */
  putBundle(sha256: string, bytes: Uint8Array): Promise<string>;
  /** Removes an attempt's input and result (once its outcome is in history); a no-op if they are gone. */
  removeAttempt(ref: AttemptRef): Promise<void>;
  /** Where the documents are, for messages: a directory, or `s3://bucket/prefix (endpoint ...)`. */
  readonly where: string;
  /** Releases the store's connections. */
  close(): void;
}

/** Why an AttemptIO call failed. */
export type AttemptIOErrorReason =
  /** A bad argument or option (a storage URL, a digest, a document that cannot be written). */
  | 'invalid'
  /** A result document that is not valid, or answers another attempt. */
  | 'corrupt'
  /** The store did not answer (network, 5xx, throttling): try again later. */
  | 'unavailable'
  /** The store refused (credentials, permissions, no such bucket). */
  | 'refused';

export class AttemptIOError extends Error {
  override readonly name = 'AttemptIOError';
  readonly retryable: boolean;
  constructor(
    message: string,
    readonly reason: AttemptIOErrorReason,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.retryable = reason === 'unavailable';
  }
}

const SHA256 = /^[0-9a-f]{64}$/;

function checkBundle(sha256: string, bytes: Uint8Array): void {
  if (!SHA256.test(sha256)) throw new AttemptIOError(`invalid bundle digest ${JSON.stringify(sha256)}: expected 64 lowercase hex digits (sha256)`, 'invalid');
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) throw new AttemptIOError(`bundle bytes do not match their digest: expected sha256 ${sha256}, got ${actual}`, 'invalid');
}

function checkRef(ref: AttemptRef): void {
  if (!Number.isSafeInteger(ref.attempt) || ref.attempt < 1) throw new AttemptIOError(`invalid attempt number ${ref.attempt}: expected an integer ≥ 1`, 'invalid');
}

/** JSON text of an input document, big ints with all their digits. */
export function inputDocText(doc: TaskInputDoc): string {
  try {
    return writeExactJson(toJsonValue(doc, 'input'));
  } catch (e) {
    if (e instanceof NotJsonError) throw new AttemptIOError(`cannot write the input of ${doc.task}: ${e.message}`, 'invalid', { cause: e });
    throw e;
  }
}

/**
 * Parses and checks a result document's text for `ref`.
 * @throws AttemptIOError 'corrupt' with what is wrong and where the document came from
 */
export function parseResultDoc(text: string, ref: AttemptRef, where: string): TaskResultDoc {
  let doc: unknown;
  try {
    doc = parseExactJson(text);
  } catch (e) {
    throw new AttemptIOError(`the result document at ${where} is not JSON (${e instanceof Error ? e.message : String(e)}): ${JSON.stringify(text.slice(0, 200))}`, 'corrupt', { cause: e });
  }
  const bad = (why: string): AttemptIOError => new AttemptIOError(`the result document at ${where} is not a result of attempt ${ref.attempt} of step ${JSON.stringify(ref.stepId)} of run ${JSON.stringify(ref.runId)}: ${why}`, 'corrupt');
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('it is not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.version !== 1) throw bad(`its version is ${JSON.stringify(d.version)}, expected 1`);
  if (d.runId !== ref.runId || d.stepId !== ref.stepId || d.attempt !== ref.attempt) {
    throw bad(`it names attempt ${JSON.stringify(d.attempt)} of step ${JSON.stringify(d.stepId)} of run ${JSON.stringify(d.runId)} (a stale or misplaced result)`);
  }
  if (d.ok === true) {
    if (!('value' in d)) throw bad('ok is true but it has no value');
    return { version: 1, runId: ref.runId, stepId: ref.stepId, attempt: ref.attempt, ok: true, value: d.value };
  }
  if (d.ok === false) {
    const err = d.error;
    if (typeof err !== 'object' || err === null || Array.isArray(err)) throw bad('ok is false but error is not an object');
    const e = err as Record<string, unknown>;
    if (typeof e.kind !== 'string' || typeof e.message !== 'string' || typeof e.retryable !== 'boolean') throw bad('its error needs a string kind, a string message and a boolean retryable');
    if (e.details !== undefined && typeof e.details !== 'string') throw bad('its error details are not a string');
    const error = { kind: e.kind, message: e.message, retryable: e.retryable, ...(typeof e.details === 'string' ? { details: e.details } : {}) };
    return { version: 1, runId: ref.runId, stepId: ref.stepId, attempt: ref.attempt, ok: false, error };
  }
  throw bad(`ok is ${JSON.stringify(d.ok)}, expected true or false`);
}

/** The relative path of an attempt's folder: `<runId>/<stepId>/<attempt>`, ids percent-encoded, `/`-separated. */
export function attemptPathOf(ref: AttemptRef): string {
  checkRef(ref);
  return attemptDirOf('', ref).split(sep).join('/');
}

// ---------------------------------------------------------------------------------------------
// File system

/** Attempt I/O in a directory, with file:// URLs (the runner must see the same file system). */
export class FsAttemptIO implements AttemptIO {
  /** Absolute root directory. */
  readonly root: string;
  readonly where: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.where = this.root;
  }

  /** Where runners store task values that are not JSON (passed on by reference): `<root>/refs`. */
  refsUrl(): string {
    return `file://${join(this.root, 'refs')}`;
  }

  /** The folder of an attempt's documents. */
  attemptDir(ref: AttemptRef): string {
    checkRef(ref);
    return attemptDirOf(join(this.root, 'attempts'), ref);
  }

  bundlePath(sha256: string): string {
    return join(this.root, 'bundles', `${sha256}.tar.gz`);
  }

  async putInput(ref: AttemptRef, doc: TaskInputDoc): Promise<string> {
    const path = join(this.attemptDir(ref), 'input.json');
    await atomicWrite(path, inputDocText(doc));
    return pathToFileURL(path).href;
  }

  async resultUrl(ref: AttemptRef): Promise<string> {
    const dir = this.attemptDir(ref);
    // The runner writes a temporary file next to result.json and renames it: the folder must exist.
    await mkdir(dir, { recursive: true });
    return pathToFileURL(join(dir, 'result.json')).href;
  }

  async readResult(ref: AttemptRef): Promise<TaskResultDoc | undefined> {
    const path = join(this.attemptDir(ref), 'result.json');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fsError(`cannot read the result of attempt ${ref.attempt} from ${path}`, e);
    }
    return parseResultDoc(text, ref, path);
  }

  async putBundle(sha256: string, bytes: Uint8Array): Promise<string> {
    checkBundle(sha256, bytes);
    const path = this.bundlePath(sha256);
    const existing = await stat(path).catch(() => undefined);
    if (existing === undefined || existing.size !== bytes.byteLength) await atomicWrite(path, bytes);
    return pathToFileURL(path).href;
  }

  async removeAttempt(ref: AttemptRef): Promise<void> {
    const dir = this.attemptDir(ref);
    try {
      await rm(join(dir, 'input.json'), { force: true });
      await rm(join(dir, 'result.json'), { force: true });
    } catch (e) {
      throw fsError(`cannot remove the documents of attempt ${ref.attempt} in ${dir}`, e);
    }
  }

  close(): void {}
}

async function atomicWrite(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw fsError(`cannot write ${path}`, e);
  }
}

function fsError(what: string, e: unknown): AttemptIOError {
  const code = (e as NodeJS.ErrnoException).code;
  // Out of space, I/O errors, too many open files: may pass. Permissions, a read-only disk, a file
  // where a folder should be: will not.
  const reason: AttemptIOErrorReason = code === 'ENOSPC' || code === 'EIO' || code === 'EMFILE' || code === 'ENFILE' || code === 'EBUSY' || code === 'EAGAIN' ? 'unavailable' : 'refused';
  return new AttemptIOError(`${what}: ${e instanceof Error ? e.message : String(e)}`, reason, { cause: e });
}

// ---------------------------------------------------------------------------------------------
// S3

/** Options of `S3AttemptIO`; connection options as `S3BlobStoreOptions`. */
export interface S3AttemptIOOptions {
  /** `s3://bucket` or `s3://bucket/prefix`. */
  readonly url: string;
  /** @default AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS's own */
  readonly endpoint?: string;
  /** @default AWS_REGION or AWS_DEFAULT_REGION, else 'us-east-1' */
  readonly region?: string;
  /** @default the SDK's default credential chain */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** @default AWS_S3_FORCE_PATH_STYLE if set ('true' or '1'), else true when an endpoint is given */
  readonly forcePathStyle?: boolean;
  /**
   * How long presigned URLs stay valid, in seconds: long enough for the job to wait in a queue and
   * run. At most 604800 (7 days).
   * @default 86400 (24 h)
   */
  readonly expiresInSeconds?: number;
  /** @default 3 */
  readonly maxAttempts?: number;
  /** @default 5000 */
  readonly connectionTimeoutMs?: number;
  /** @default 60000 */
  readonly requestTimeoutMs?: number;
  /** A client to use instead of one built from the options (not destroyed by `close`). */
  readonly client?: S3Client;
  /** Environment to read AWS variables from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

const MAX_EXPIRY = 7 * 24 * 3600;

/** Attempt I/O in an S3 bucket (or an S3-compatible server), with presigned URLs. */
export class S3AttemptIO implements AttemptIO {
  readonly bucket: string;
  /** Key prefix, empty or ending in `/`. */
  readonly keyPrefix: string;
  readonly client: S3Client;
  readonly where: string;
  readonly expiresInSeconds: number;
  private readonly ownsClient: boolean;

  /** @throws AttemptIOError 'invalid' for a bad URL or option */
  constructor(options: S3AttemptIOOptions) {
    let loc: { bucket: string; prefix: string };
    try {
      loc = parseS3Url(options.url);
    } catch (e) {
      throw new AttemptIOError(e instanceof Error ? e.message : String(e), 'invalid', { cause: e });
    }
    this.bucket = loc.bucket;
    this.keyPrefix = loc.prefix === '' ? '' : `${loc.prefix}/`;
    const expiry = options.expiresInSeconds ?? 24 * 3600;
    if (!Number.isSafeInteger(expiry) || expiry < 1 || expiry > MAX_EXPIRY) {
      throw new AttemptIOError(`invalid presigned URL expiry ${expiry}: expected whole seconds from 1 to ${MAX_EXPIRY} (7 days)`, 'invalid');
    }
    this.expiresInSeconds = expiry;
    const env = options.env ?? process.env;
    const endpoint = options.endpoint ?? nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(env.AWS_ENDPOINT_URL);
    this.where = `s3://${loc.bucket}${loc.prefix === '' ? '' : `/${loc.prefix}`}${endpoint === undefined ? '' : ` (endpoint ${endpoint})`}`;
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
      return;
    }
    const envPathStyle = nonEmpty(env.AWS_S3_FORCE_PATH_STYLE);
    const config: S3ClientConfig = {
      region: options.region ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? 'us-east-1',
      forcePathStyle: options.forcePathStyle ?? (envPathStyle !== undefined ? envPathStyle === 'true' || envPathStyle === '1' : endpoint !== undefined),
      maxAttempts: options.maxAttempts ?? 3,
      // No CRC32 headers by default: S3-compatible servers refuse some, and a presigned PUT must not
      // require the runner to send checksum headers it cannot compute in advance.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: options.connectionTimeoutMs ?? 5000,
        requestTimeout: options.requestTimeoutMs ?? 60_000,
      },
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    };
    this.client = new S3Client(config);
    this.ownsClient = true;
  }

  /** `<prefix>/attempts/<runId>/<stepId>/<attempt>/<name>`. */
  attemptKey(ref: AttemptRef, name: 'input.json' | 'result.json'): string {
    return `${this.keyPrefix}attempts/${attemptPathOf(ref)}/${name}`;
  }

  bundleKey(sha256: string): string {
    return `${this.keyPrefix}bundles/${sha256}.tar.gz`;
  }

  async putInput(ref: AttemptRef, doc: TaskInputDoc): Promise<string> {
    const key = this.attemptKey(ref, 'input.json');
    const body = Buffer.from(inputDocText(doc), 'utf8');
    await this.send(`cannot write the input of attempt ${ref.attempt} to ${this.uri(key)}`, () =>
      this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.byteLength, ContentType: 'application/json' })),
    );
    return this.presign(`cannot sign a GET URL for ${this.uri(key)}`, new GetObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async resultUrl(ref: AttemptRef): Promise<string> {
    const key = this.attemptKey(ref, 'result.json');
    // Only the host header is signed: a runner may PUT with or without a Content-Type.
    return this.presign(`cannot sign a PUT URL for ${this.uri(key)}`, new PutObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async readResult(ref: AttemptRef): Promise<TaskResultDoc | undefined> {
    const key = this.attemptKey(ref, 'result.json');
    const what = `cannot read the result of attempt ${ref.attempt} from ${this.uri(key)}`;
    let text: string;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (out.Body === undefined) throw new AttemptIOError(`${what}: the server sent no body`, 'unavailable');
      text = await out.Body.transformToString('utf8');
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw s3Error(what, e, this.bucket);
    }
    return parseResultDoc(text, ref, this.uri(key));
  }

  async putBundle(sha256: string, bytes: Uint8Array): Promise<string> {
    checkBundle(sha256, bytes);
    const key = this.bundleKey(sha256);
    let present = false;
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      present = head.ContentLength === bytes.byteLength;
    } catch (e) {
      if (!isNotFound(e)) throw s3Error(`cannot look for bundle ${sha256} at ${this.uri(key)}`, e, this.bucket);
    }
    if (!present) {
      await this.send(`cannot store bundle ${sha256} at ${this.uri(key)}`, () =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: bytes,
            ContentLength: bytes.byteLength,
            ContentType: 'application/gzip',
            ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'),
          }),
        ),
      );
    }
    return this.presign(`cannot sign a GET URL for ${this.uri(key)}`, new GetObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async removeAttempt(ref: AttemptRef): Promise<void> {
    for (const name of ['input.json', 'result.json'] as const) {
      const key = this.attemptKey(ref, name);
      await this.send(`cannot remove ${this.uri(key)}`, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
    }
  }

  close(): void {
    if (this.ownsClient) this.client.destroy();
  }

  private uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  private async presign(what: string, command: GetObjectCommand | PutObjectCommand): Promise<string> {
    try {
      return await getSignedUrl(this.client, command, { expiresIn: this.expiresInSeconds });
    } catch (e) {
      throw s3Error(what, e, this.bucket);
    }
  }

  private async send<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      throw s3Error(what, e, this.bucket);
    }
  }
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function isNotFound(err: unknown): boolean {
  const e = err as SdkError | undefined;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || (e?.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket');
}

const REFUSED = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AllAccessDisabled', 'CredentialsProviderError', 'NoSuchBucket', 'InvalidBucketName', 'PermanentRedirect', 'AuthorizationHeaderMalformed', 'BadDigest', 'InvalidDigest']);

function s3Error(what: string, err: unknown, bucket: string): AttemptIOError {
  if (err instanceof AttemptIOError) return err;
  const e = (err ?? {}) as SdkError;
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const detail = `${name}${status !== undefined ? ` (HTTP ${status})` : ''}: ${e.message ?? String(err)}`;
  if (REFUSED.has(name) || status === 401 || status === 403) {
    const hint = name === 'NoSuchBucket' ? `bucket ${bucket} does not exist` : 'check the credentials and the bucket policy';
    return new AttemptIOError(`${what}: ${hint}. ${detail}`, 'refused', { cause: err });
  }
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return new AttemptIOError(`${what}: the server refused the request. ${detail}`, 'refused', { cause: err });
  }
  return new AttemptIOError(`${what}: the server did not answer or failed, try again later. ${detail}`, 'unavailable', { cause: err });
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

// ---------------------------------------------------------------------------------------------

/** Options of `attemptIOFor`. */
export interface AttemptIOForOptions extends Omit<S3AttemptIOOptions, 'url'> {
  /** The directory for file storage when `storage` is undefined. @default '.larkflow/io' */
  readonly defaultDir?: string;
}

/**
 * The attempt I/O for a storage setting: undefined → `FsAttemptIO(defaultDir)`; a path or a
 * `file://` URL → `FsAttemptIO`; `s3://bucket/prefix` → `S3AttemptIO`.
 * @throws AttemptIOError 'invalid' for any other URL (http://, gs://...)
 */
export function attemptIOFor(storage: string | undefined, opts: AttemptIOForOptions = {}): AttemptIO {
  const { defaultDir, ...s3 } = opts;
  if (storage === undefined || storage === '') return new FsAttemptIO(defaultDir ?? '.larkflow/io');
  if (storage.startsWith('s3://')) return new S3AttemptIO({ ...s3, url: storage });
  if (storage.startsWith('file://')) {
    try {
      return new FsAttemptIO(fileURLToPath(storage));
    } catch (e) {
      throw new AttemptIOError(`invalid storage URL ${JSON.stringify(storage)}: ${e instanceof Error ? e.message : String(e)}`, 'invalid', { cause: e });
    }
  }
  // A Windows drive path (C:\x) looks like a URL scheme of one letter: it is a path.
  if (/^[a-z][a-z0-9+.-]+:/i.test(storage)) {
    throw new AttemptIOError(`unsupported storage for task I/O ${JSON.stringify(storage)}: expected a directory path, a file:// URL or s3://bucket/prefix`, 'invalid');
  }
  return new FsAttemptIO(storage);
}
