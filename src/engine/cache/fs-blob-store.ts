/**
 * This file defines the local blob store, the default: blobs are files named by their digest under
 * `<root>/blobs/`, sharded by the first two hex characters (`blobs/ab/cdef...`, as git does) so that
 * no directory grows past a few thousand entries. A write goes to a temporary file in
 * `<root>/blobs/tmp/`, is synced, and is renamed into place, so a reader (another process included)
 * sees a whole blob or none, and a crash leaves at worst a stray temporary file, never a short blob
 * under a real name. Reads hash what they read (blob-store.ts), so a file damaged later is reported,
 * not returned.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BlobStoreError, checkDigest, checkPut, isDigest, verifyBlob } from './blob-store.js';
import type { BlobInfo, BlobStore } from './blob-store.js';

/** Options of `FsBlobStore`. */
export interface FsBlobStoreOptions {
  /**
   * The larkflow directory; blobs go to `<root>/blobs/`.
   * @default '.larkflow'
   */
  readonly root?: string;
  /**
   * Sync each blob to disk before it is renamed into place, so a blob that history refers to
   * survives a power loss. Turning it off makes puts several times faster on some disks.
   * @default true
   */
  readonly fsync?: boolean;
}

/** Error codes that trying again will not fix (everything else, EIO, EMFILE, ENOSPC..., may pass). */
const PERMANENT = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP']);

/** A content-addressed blob store on the local file system. */
export class FsBlobStore implements BlobStore {
  /** Absolute path of the root directory. */
  readonly root: string;
  /** Absolute path of `<root>/blobs`. */
  readonly dir: string;
  private readonly tmpDir: string;
  private readonly fsync: boolean;
  private ready: Promise<void> | undefined;

  constructor(options: FsBlobStoreOptions = {}) {
    this.root = resolve(options.root ?? '.larkflow');
    this.dir = join(this.root, 'blobs');
    this.tmpDir = join(this.dir, 'tmp');
    this.fsync = options.fsync ?? true;
  }

  /** The file a blob is kept in: `<root>/blobs/ab/cdef...`. */
  pathOf(digest: string): string {
    checkDigest(digest);
    return join(this.dir, digest.slice(0, 2), digest.slice(2));
  }

  uri(digest: string): string {
    return pathToFileURL(this.pathOf(digest)).href;
  }

  async put(digest: string, bytes: Uint8Array): Promise<void> {
    checkPut(digest, bytes);
    const path = this.pathOf(digest);
    const existing = await statOrUndefined(path, digest, this);
    // Content-addressed: a file of the right size under this name is this blob (a damaged one is
    // reported by get, and deleting it lets the next put write it again).
    if (existing !== undefined && existing === bytes.byteLength) return;
    await this.prepare();
    const tmp = join(this.tmpDir, `${digest.slice(0, 16)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await mkdir(join(this.dir, digest.slice(0, 2)), { recursive: true });
      const fh = await open(tmp, 'wx');
      try {
        await fh.writeFile(bytes);
        if (this.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw fsError(`cannot store blob ${digest} at ${path}`, err, digest);
    }
  }

  async get(digest: string): Promise<Uint8Array | undefined> {
    const path = this.pathOf(digest);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      if (codeOf(err) === 'ENOENT') return undefined;
      throw fsError(`cannot read blob ${digest} at ${path}`, err, digest);
    }
    return verifyBlob(digest, bytes, this.uri(digest));
  }

  async head(digest: string): Promise<{ readonly size: number } | undefined> {
    const size = await statOrUndefined(this.pathOf(digest), digest, this);
    return size === undefined ? undefined : { size };
  }

  async delete(digest: string): Promise<void> {
    const path = this.pathOf(digest);
    try {
      await unlink(path);
    } catch (err) {
      if (codeOf(err) === 'ENOENT') return;
      throw fsError(`cannot delete blob ${digest} at ${path}`, err, digest);
    }
  }

  async *list(): AsyncIterable<BlobInfo> {
    const shards = await readdirOrEmpty(this.dir);
    for (const shard of shards.sort()) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const name of (await readdirOrEmpty(join(this.dir, shard))).sort()) {
        const digest = shard + name;
        if (!isDigest(digest)) continue;
        const size = await statOrUndefined(join(this.dir, shard, name), digest, this);
        if (size !== undefined) yield { digest, size };
      }
    }
  }

  close(): void {
    // Nothing is held open between calls.
  }

  private prepare(): Promise<void> {
    this.ready ??= mkdir(this.tmpDir, { recursive: true })
      .then(() => undefined)
      .catch((err: unknown) => {
        this.ready = undefined;
        throw fsError(`cannot create blob directory ${this.tmpDir}`, err);
      });
    return this.ready;
  }
}

function codeOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function fsError(what: string, err: unknown, digest?: string): BlobStoreError {
  if (err instanceof BlobStoreError) return err;
  const code = codeOf(err);
  const reason = code !== undefined && PERMANENT.has(code) ? 'refused' : 'unavailable';
  return new BlobStoreError(`${what}: ${(err as Error).message}`, reason, digest, { cause: err });
}

async function statOrUndefined(path: string, digest: string, store: FsBlobStore): Promise<number | undefined> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new BlobStoreError(`blob ${digest} at ${store.uri(digest)} is not a file`, 'corrupt', digest);
    return s.size;
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return undefined;
    throw fsError(`cannot look up blob ${digest} at ${path}`, err, digest);
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return [];
    throw fsError(`cannot list blobs in ${dir}`, err);
  }
}
