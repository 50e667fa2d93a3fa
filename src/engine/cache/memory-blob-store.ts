/**
 * This file defines an in-memory BlobStore, for in-memory engines and tests: the same contract as the
 * file-system and S3 stores (digests verified on put and on get), kept in a Map.
 */
import { BlobStoreError, checkPut, verifyBlob, type BlobInfo, type BlobStore } from './blob-store.js';

export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, Uint8Array>();

  async put(digest: string, bytes: Uint8Array): Promise<void> {
    checkPut(digest, bytes);
    if (!this.blobs.has(digest)) this.blobs.set(digest, new Uint8Array(bytes));
  }
  async get(digest: string): Promise<Uint8Array | undefined> {
    const b = this.blobs.get(digest);
    return b === undefined ? undefined : verifyBlob(digest, b, this.uri(digest));
  }
  /** The bytes, synchronously (in-memory only). */
  getSync(digest: string): Uint8Array | undefined {
    return this.blobs.get(digest);
  }
  async head(digest: string): Promise<{ readonly size: number } | undefined> {
    const b = this.blobs.get(digest);
    return b === undefined ? undefined : { size: b.byteLength };
  }
  async delete(digest: string): Promise<void> {
    this.blobs.delete(digest);
  }
  async *list(): AsyncIterable<BlobInfo> {
    for (const [digest, b] of this.blobs) yield { digest, size: b.byteLength } as BlobInfo;
  }
  uri(digest: string): string {
    return `memory:blobs/${digest}`;
  }
}

export { BlobStoreError };
