// Which batches have already been hashed and found equal to their checksum, per shard file
// identity. A batch read again from a file whose identity (device, inode, size, mtime and
// ctime in ns, taken with fstat after the read) has not changed since it was verified is
// sent without hashing it again: the guarantee and its limits are in docs/HTTP.md.
import type { BigIntStats } from 'node:fs';
import { type ByteSource, LocalFileSource } from '../shard/byte-source.js';
import type { BatchInfo, VerifiedMemo } from '../shard/shard-reader.js';

/**
 * What must stay equal for earlier verification to still vouch for a file's bytes. ctime is
 * included because it cannot be set back from user space: a rewrite in place that restores
 * the old mtime (cp -p, rsync -t) still changes it.
 */
export const fileIdentity = (st: BigIntStats): string => `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;

export class VerifiedBatches implements VerifiedMemo {
  /** Key -> one bit per batch of the shard; Map order doubles as least-recently-marked order. */
  private readonly files = new Map<string, Uint8Array>();

  /** `maxFiles` bounds memory: one bit per batch for at most that many shard files. */
  constructor(readonly maxFiles: number) {
    if (!Number.isInteger(maxFiles) || maxFiles < 1) throw new RangeError(`verified-batch memory must hold at least one file, got ${maxFiles}`);
  }

  /**
   * Only local files are vouched for, and only while fstat, taken after the read, still shows
   * the identity the file had when it was opened (before any of its bytes were read).
   */
  async vouches(source: ByteSource, info: BatchInfo): Promise<boolean> {
    if (!(source instanceof LocalFileSource)) return false;
    const key = memoKey(source, info);
    if (!this.has(key, info.row)) return false;
    return fileIdentity(await source.stat()) === fileIdentity(source.opened);
  }

  verified(source: ByteSource, info: BatchInfo): void {
    if (source instanceof LocalFileSource) this.mark(memoKey(source, info), info.row, info.shard.batchCount);
  }

  /** `key` names the shard as the manifest describes it and the file identity it was verified under. */
  has(key: string, index: number): boolean {
    const bits = this.files.get(key);
    return bits !== undefined && (bits[index >> 3] & (1 << (index & 7))) !== 0;
  }

  mark(key: string, index: number, batchCount: number): void {
    let bits = this.files.get(key);
    if (bits) this.files.delete(key);
    else bits = new Uint8Array((batchCount + 7) >> 3);
    this.files.set(key, bits);
    bits[index >> 3] |= 1 << (index & 7);
    if (this.files.size > this.maxFiles) this.files.delete(this.files.keys().next().value!);
  }
}

/** The shard as the manifest describes it (name and content hash) and the file as it was opened. */
const memoKey = (source: LocalFileSource, info: BatchInfo): string =>
  `${info.shard.file}\0${info.shard.sha256}\0${info.shard.index.sha256}\0${fileIdentity(source.opened)}`;
