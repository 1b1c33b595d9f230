// An open shard file: positional reads of exact byte ranges, size checked on open so a
// truncated shard is caught before any of its bytes are used. Blocking reads serve the CLI
// tools; the server uses readAsync, which runs on libuv's thread pool so one request waiting
// on a cold disk or network volume does not stall every other connection.
import { closeSync, fstatSync, openSync, read, readSync } from 'node:fs';
import { ShardCorruptError } from './errors.js';

function readAt(fd: number, into: Buffer, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, into, at, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

export class ShardFile {
  private fd: number;
  readonly size: number;

  /** `label` names the shard in errors (the server passes the manifest's relative name, not the path). */
  constructor(readonly path: string, expectedBytes: number, private readonly label: string = path) {
    try {
      this.fd = openSync(path, 'r');
    } catch (e) {
      throw new ShardCorruptError(label, null, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    this.size = fstatSync(this.fd).size;
    if (this.size !== expectedBytes) {
      this.close();
      throw new ShardCorruptError(label, null, `size ${this.size} bytes, manifest says ${expectedBytes} (truncated or replaced)`);
    }
  }

  /** Reads exactly `length` bytes at `offset` into `into` (or a new buffer). */
  read(offset: number, length: number, into: Buffer = Buffer.allocUnsafe(length)): Buffer {
    for (let done = 0; done < length;) {
      const n = readSync(this.fd, into, done, length - done, offset + done);
      if (n === 0) throw this.endOfFile(offset + done);
      done += n;
    }
    return into.subarray(0, length);
  }

  /** Fills `into` with the `into.length` bytes at `offset`, off the event loop. */
  async readAsync(offset: number, into: Buffer): Promise<Buffer> {
    for (let done = 0; done < into.length;) {
      const n = await readAt(this.fd, into, done, into.length - done, offset + done);
      if (n === 0) throw this.endOfFile(offset + done);
      done += n;
    }
    return into;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private endOfFile(at: number): ShardCorruptError {
    return new ShardCorruptError(this.label, null, `unexpected end of file at byte ${at}`);
  }
}
