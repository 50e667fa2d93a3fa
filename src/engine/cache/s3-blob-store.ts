/**
 * This file defines the S3 blob store (`--storage s3://bucket/prefix`), through `@aws-sdk/client-s3`.
 * Blobs are objects under `<prefix>/blobs/ab/cdef...`, the layout of the local store, so the two
 * can be copied into each other (`aws s3 sync .larkflow/blobs s3://bucket/prefix/blobs`). Where and
 * how to connect comes from the options or, failing those, the standard AWS environment variables
 * (`AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_PROFILE`...). With a custom endpoint (MinIO,
 * Ceph, s3rver) requests are path-style unless told otherwise.
 *
 * Objects above `multipartThresholdBytes` are uploaded in parts of `partSizeBytes` (a few at a
 * time), and an upload that fails is aborted so no parts are left behind to be billed. Single
 * uploads carry `x-amz-checksum-sha256` (our digest, in base64), so S3 itself refuses bytes damaged on
 * the way. Every SDK failure becomes a `BlobStoreError`: network errors, timeouts, throttling and 5xx
 * responses are 'unavailable' (retryable, after the SDK's own retries); credentials, permissions and
 * a missing bucket are 'refused'.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { BlobStoreError, checkDigest, checkPut, isDigest, verifyBlob } from './blob-store.js';
import type { BlobInfo, BlobStore } from './blob-store.js';

/** Options of `S3BlobStore`. */
export interface S3BlobStoreOptions {
  /** Where the blobs go: `s3://bucket` or `s3://bucket/prefix`. */
  readonly url: string;
  /**
   * The S3 endpoint, for S3-compatible servers (`http://127.0.0.1:9000`).
   * @default AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS's own
   */
  readonly endpoint?: string;
  /** @default AWS_REGION or AWS_DEFAULT_REGION, else 'us-east-1' */
  readonly region?: string;
  /** @default the SDK's default credential chain (environment variables, profile, instance role...) */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /**
   * Path-style requests (`endpoint/bucket/key`) instead of virtual-hosted ones (`bucket.endpoint/key`).
   * @default AWS_S3_FORCE_PATH_STYLE if set ('true' or '1'), else true when an endpoint is given
   */
  readonly forcePathStyle?: boolean;
  /**
   * Objects larger than this are uploaded in parts.
   * @default 8 MiB
   */
  readonly multipartThresholdBytes?: number;
  /**
   * Size of each part of a multipart upload (S3 requires at least 5 MiB, except for the last part).
   * @default 8 MiB
   */
  readonly partSizeBytes?: number;
  /**
   * Parts uploaded at the same time.
   * @default 4
   */
  readonly partConcurrency?: number;
  /**
   * Attempts the SDK makes for each request before a retryable error is reported.
   * @default 3
   */
  readonly maxAttempts?: number;
  /**
   * How long to wait for a connection, in milliseconds.
   * @default 5000
   */
  readonly connectionTimeoutMs?: number;
  /**
   * How long a request may wait for the server without progress, in milliseconds.
   * @default 60000
   */
  readonly requestTimeoutMs?: number;
  /**
   * Send `x-amz-checksum-sha256` with single uploads so the server verifies them. Turn it off for
   * S3-compatible servers that refuse the header.
   * @default true
   */
  readonly sendChecksums?: boolean;
  /**
   * Keys asked for per listing request (S3 returns at most 1000).
   * @default 1000
   */
  readonly listPageSize?: number;
  /** A client to use instead of one built from the options above (it is not destroyed by `close`). */
  readonly client?: S3Client;
  /** Environment to read AWS variables from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** The parts of an `s3://bucket/prefix` URL; `prefix` has no leading or trailing slash. */
export interface S3Location {
  readonly bucket: string;
  readonly prefix: string;
}

const MiB = 1024 * 1024;

/**
 * Parses `s3://bucket` or `s3://bucket/some/prefix/`.
 * @throws BlobStoreError 'invalid' for anything else
 */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/.exec(url);
  if (!m) throw new BlobStoreError(`invalid storage URL ${JSON.stringify(url)}: expected s3://bucket or s3://bucket/prefix`, 'invalid');
  const bucket = m[1]!;
  if (!/^[a-z0-9][a-z0-9.\-_]*$/i.test(bucket)) throw new BlobStoreError(`invalid storage URL ${JSON.stringify(url)}: ${JSON.stringify(bucket)} is not a bucket name`, 'invalid');
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  return { bucket, prefix };
}

/** A content-addressed blob store in an S3 bucket (or an S3-compatible server). */
export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  /** Key prefix of the blobs, ending in `blobs/`. */
  readonly keyPrefix: string;
  readonly client: S3Client;
  private readonly ownsClient: boolean;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly partConcurrency: number;
  private readonly sendChecksums: boolean;
  private readonly listPageSize: number;
  private readonly where: string;

  /** @throws BlobStoreError 'invalid' for a bad URL or option */
  constructor(options: S3BlobStoreOptions) {
    const { bucket, prefix } = parseS3Url(options.url);
    this.bucket = bucket;
    this.keyPrefix = prefix === '' ? 'blobs/' : `${prefix}/blobs/`;
    this.multipartThreshold = positive(options.multipartThresholdBytes ?? 8 * MiB, 'multipartThresholdBytes');
    this.partSize = positive(options.partSizeBytes ?? 8 * MiB, 'partSizeBytes');
    this.partConcurrency = positive(options.partConcurrency ?? 4, 'partConcurrency');
    this.sendChecksums = options.sendChecksums ?? true;
    this.listPageSize = positive(options.listPageSize ?? 1000, 'listPageSize');
    const env = options.env ?? process.env;
    const endpoint = options.endpoint ?? nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(env.AWS_ENDPOINT_URL);
    this.where = `s3://${bucket}${prefix === '' ? '' : `/${prefix}`}${endpoint === undefined ? '' : ` (endpoint ${endpoint})`}`;
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
      return;
    }
    const envPathStyle = nonEmpty(env.AWS_S3_FORCE_PATH_STYLE);
    const config: S3ClientConfig = {
      region: options.region ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? 'us-east-1',
      forcePathStyle: options.forcePathStyle ?? (envPathStyle !== undefined ? envPathStyle === 'true' || envPathStyle === '1' : endpoint !== undefined),
      maxAttempts: positive(options.maxAttempts ?? 3, 'maxAttempts'),
      // We verify SHA-256 ourselves; the SDK's default CRC32 headers are refused by some S3-compatible servers.
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

  /** The object key of a blob: `<prefix>/blobs/ab/cdef...`. */
  keyOf(digest: string): string {
    checkDigest(digest);
    return `${this.keyPrefix}${digest.slice(0, 2)}/${digest.slice(2)}`;
  }

  uri(digest: string): string {
    return `s3://${this.bucket}/${this.keyOf(digest)}`;
  }

  async put(digest: string, bytes: Uint8Array): Promise<void> {
    checkPut(digest, bytes);
    const key = this.keyOf(digest);
    if (bytes.byteLength <= this.multipartThreshold) {
      await this.send(`store blob ${digest}`, digest, () =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: bytes,
            ContentLength: bytes.byteLength,
            ContentType: 'application/octet-stream',
            ...(this.sendChecksums ? { ChecksumSHA256: Buffer.from(digest, 'hex').toString('base64') } : {}),
          }),
        ),
      );
      return;
    }
    // Content-addressed: a large blob already there (of the right size) need not be sent again.
    const existing = await this.head(digest);
    if (existing !== undefined && existing.size === bytes.byteLength) return;
    await this.putMultipart(digest, key, bytes);
  }

  private async putMultipart(digest: string, key: string, bytes: Uint8Array): Promise<void> {
    const created = await this.send(`start multipart upload of blob ${digest}`, digest, () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: 'application/octet-stream' })),
    );
    const uploadId = created.UploadId;
    if (uploadId === undefined) throw new BlobStoreError(`cannot store blob ${digest} in ${this.where}: the server started a multipart upload without an upload id`, 'unavailable', digest);
    try {
      const count = Math.ceil(bytes.byteLength / this.partSize);
      const etags: string[] = new Array<string>(count);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < count) {
          const i = next++;
          const body = bytes.subarray(i * this.partSize, Math.min(bytes.byteLength, (i + 1) * this.partSize));
          const out = await this.send(`upload part ${i + 1}/${count} of blob ${digest}`, digest, () =>
            this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: i + 1, Body: body, ContentLength: body.byteLength })),
          );
          if (out.ETag === undefined) throw new BlobStoreError(`cannot store blob ${digest} in ${this.where}: the server returned no ETag for part ${i + 1}`, 'unavailable', digest);
          etags[i] = out.ETag;
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.partConcurrency, count) }, worker));
      await this.send(`complete multipart upload of blob ${digest}`, digest, () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
          }),
        ),
      );
    } catch (err) {
      // Best effort: parts of an abandoned upload are stored (and billed) until aborted.
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
      throw err;
    }
  }

  async get(digest: string): Promise<Uint8Array | undefined> {
    const key = this.keyOf(digest);
    const bytes = await this.send(`read blob ${digest}`, digest, async () => {
      try {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
        if (out.Body === undefined) return new Uint8Array(0);
        return await out.Body.transformToByteArray();
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
    return bytes === undefined ? undefined : verifyBlob(digest, bytes, this.uri(digest));
  }

  async head(digest: string): Promise<{ readonly size: number } | undefined> {
    const key = this.keyOf(digest);
    return this.send(`look up blob ${digest}`, digest, async () => {
      try {
        const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
        return { size: out.ContentLength ?? 0 };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  async delete(digest: string): Promise<void> {
    const key = this.keyOf(digest);
    await this.send(`delete blob ${digest}`, digest, async () => {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    });
  }

  async *list(): AsyncIterable<BlobInfo> {
    let token: string | undefined;
    do {
      const page = await this.send('list blobs', undefined, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.keyPrefix, MaxKeys: this.listPageSize, ...(token !== undefined ? { ContinuationToken: token } : {}) })),
      );
      for (const obj of page.Contents ?? []) {
        const rest = obj.Key?.slice(this.keyPrefix.length) ?? '';
        const m = /^([0-9a-f]{2})\/([0-9a-f]{62})$/.exec(rest);
        if (!m) continue;
        const digest = m[1]! + m[2]!;
        if (isDigest(digest)) yield { digest, size: obj.Size ?? 0 };
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  close(): void {
    if (this.ownsClient) this.client.destroy();
  }

  /** Runs one SDK call, turning its failures into `BlobStoreError`s that say what failed and where. */
  private async send<T>(what: string, digest: string | undefined, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw s3Error(`cannot ${what} in ${this.where}`, err, digest, this.bucket);
    }
  }
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(err: unknown): number | undefined {
  return (err as SdkError | undefined)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as SdkError | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(err) === 404 && name !== 'NoSuchBucket');
}

const REFUSED = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AllAccessDisabled', 'CredentialsProviderError', 'NoSuchBucket', 'InvalidBucketName', 'PermanentRedirect', 'AuthorizationHeaderMalformed']);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

/** Classifies an SDK failure: retryable 'unavailable' or final 'refused', with a message that says why. */
function s3Error(what: string, err: unknown, digest: string | undefined, bucket: string): BlobStoreError {
  if (err instanceof BlobStoreError) return err;
  const e = (err ?? {}) as SdkError;
  const name = e.name ?? 'Error';
  const status = statusOf(err);
  const code = e.code;
  const detail = `${name}${status !== undefined ? ` (HTTP ${status})` : ''}: ${e.message ?? String(err)}`;
  if (code !== undefined && NETWORK.has(code)) {
    return new BlobStoreError(`${what}: the server cannot be reached (${code}); is it running and is the endpoint right? ${detail}`, 'unavailable', digest, { cause: err });
  }
  if (REFUSED.has(name) || status === 403 || status === 401) {
    const hint = name === 'NoSuchBucket' ? `bucket ${bucket} does not exist; create it or fix the storage URL` : 'check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE) and the bucket policy';
    return new BlobStoreError(`${what}: ${hint}. ${detail}`, 'refused', digest, { cause: err });
  }
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429 && e.$retryable === undefined) {
    return new BlobStoreError(`${what}: the server refused the request. ${detail}`, 'refused', digest, { cause: err });
  }
  // 5xx, 408, 429/SlowDown, timeouts, network errors without a code: worth another try later.
  const why = status !== undefined && status >= 500 ? 'the server failed' : status === 429 || name === 'SlowDown' ? 'the server is throttling requests' : 'the server did not answer';
  return new BlobStoreError(`${what}: ${why}, try again later. ${detail}`, 'unavailable', digest, { cause: err });
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function positive(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n <= 0) throw new BlobStoreError(`invalid S3 store option ${name}: ${n} is not a positive integer`, 'invalid');
  return n;
}
