// An open shard file with non-blocking positional reads. ShardFile (src/shard) reads with
// readSync, which is right for CLI tools but would stall every connection of the server
// while one request waits on a cold disk or a network volume; this keeps ShardFile's
// size check on open and adds reads that run on libuv's thread pool.
import { closeSync, fstatSync, openSync, read, readSync } from 'node:fs';
import { ShardCorruptError } from '../shard/index.js';

function readAt(fd: number, into: Buffer, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, into, at, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

export class ShardHandle {
  private fd: number;
  readonly size: number;

  /** `file` is the manifest's name for the shard, used in messages instead of the full path. */
  constructor(path: string, private readonly file: string, expectedBytes: number) {
    try {
      this.fd = openSync(path, 'r');
    } catch (e) {
      throw new ShardCorruptError(file, null, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    this.size = fstatSync(this.fd).size;
    if (this.size !== expectedBytes) {
      this.close();
      throw new ShardCorruptError(file, null, `size ${this.size} bytes, manifest says ${expectedBytes} (truncated or replaced)`);
    }
  }

  /** Blocking read, for the few small reads made once when the shard is opened. */
  readSync(offset: number, length: number): Buffer {
    const into = Buffer.allocUnsafe(length);
    for (let done = 0; done < length;) {
      const n = readSync(this.fd, into, done, length - done, offset + done);
      if (n === 0) throw new ShardCorruptError(this.file, null, `unexpected end of file at byte ${offset + done}`);
      done += n;
    }
    return into;
  }

  /** Fills `into` with the `into.length` bytes at `offset`, off the event loop. */
  async read(offset: number, into: Buffer): Promise<Buffer> {
    for (let done = 0; done < into.length;) {
      const n = await readAt(this.fd, into, done, into.length - done, offset + done);
      if (n === 0) throw new ShardCorruptError(this.file, null, `unexpected end of file at byte ${offset + done}`);
      done += n;
    }
    return into;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
