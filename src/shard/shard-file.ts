// An open shard file: positional reads of exact byte ranges, size checked on open so a
// truncated shard is caught before any of its bytes are used.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ShardCorruptError } from './errors.js';

export class ShardFile {
  private fd: number;
  readonly size: number;

  constructor(readonly path: string, expectedBytes: number) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
    if (this.size !== expectedBytes) {
      closeSync(this.fd);
      this.fd = -1;
      throw new ShardCorruptError(path, null, `size ${this.size} bytes, manifest says ${expectedBytes} (truncated or replaced)`);
    }
  }

  /** Reads exactly `length` bytes at `offset` into `into` (or a new buffer). */
  read(offset: number, length: number, into: Buffer = Buffer.allocUnsafe(length)): Buffer {
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, into, done, length - done, offset + done);
      if (n === 0) throw new ShardCorruptError(this.path, null, `unexpected end of file at byte ${offset + done}`);
      done += n;
    }
    return into.subarray(0, length);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
