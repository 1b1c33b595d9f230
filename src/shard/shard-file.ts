// The bytes of one shard being written, whatever its format: a temporary file appended to in
// order and hashed as it goes, committed by fsync + rename only when complete, removed on
// abort or Ctrl-C. Then its index file, committed the same way. Both shard writers
// (Arrow IPC and Parquet) write through it, so commit and resume behave the same.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, rmSync } from 'node:fs';
import { CodedError, describeWriteFailure } from '../errors.js';
import { onInterrupt } from './cleanup.js';
import { commitFile, temporaryName, writeAll, writeFileAtomic } from './fs-atomic.js';
import { encodeIndex, type ShardIndex } from './index-file.js';

export class ShardFile {
  private fd: number;
  private readonly tmp: string;
  private readonly hash: Hash = createHash('sha256');
  /** Bytes written so far: the offset of the next write. */
  position = 0;
  private readonly dropInterruptUndo: () => void;

  constructor(readonly path: string) {
    this.tmp = temporaryName(path);
    this.fd = openSync(this.tmp, 'wx');
    // Ctrl-C between here and the commit removes the unfinished file.
    this.dropInterruptUndo = onInterrupt(() => this.abort());
  }

  write(bytes: Uint8Array): void {
    try {
      writeAll(this.fd, bytes);
    } catch (e) {
      throw new CodedError('LC_ERR_WRITE_FAILED', `shard ${this.path}: write failed (${describeWriteFailure(e)}); committed shards are kept, so re-running the same command resumes after them`, { file: this.path }, { cause: e });
    }
    this.hash.update(bytes);
    this.position += bytes.length;
  }

  /** fsync + rename into place; returns the file's size and sha256. */
  commit(): { bytes: number; sha256: string } {
    commitFile(this.fd, this.tmp, this.path);
    this.fd = -1;
    this.dropInterruptUndo();
    return { bytes: this.position, sha256: this.hash.digest('hex') };
  }

  /** Drops the unfinished file; safe to call after a failed write. */
  abort(): void {
    if (this.fd >= 0) {
      try { closeSync(this.fd); } catch { /* already closed by a failed write */ }
      this.fd = -1;
    }
    rmSync(this.tmp, { force: true });
    this.dropInterruptUndo();
  }
}

/** Writes a shard's index file atomically; its size and sha256 go in the manifest. */
export function commitIndex(indexPath: string, index: ShardIndex): { bytes: number; sha256: string } {
  // A shard without its index has no sidecar yet: the next run removes both and redoes it.
  const bytes = encodeIndex(index);
  writeFileAtomic(indexPath, bytes);
  return { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}
