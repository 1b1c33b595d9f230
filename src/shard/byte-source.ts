// Where shard bytes come from: a local file or an HTTP server answering Range requests
// (object storage plugs in the same way). Reads are positional and async, so a reader never
// blocks its event loop and never needs a whole file in memory.
import type { BigIntStats } from 'node:fs';
import { close as fsCloseCb, fstat, open as openCb, read } from 'node:fs';
import { CodedError } from '../errors.js';

export interface ByteSource {
  /** Size of the underlying object, fixed when the source was opened. */
  readonly byteLength: number;
  /** Exactly the bytes [start, end); rejects when fewer are available. */
  read(start: number, end: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Fills `into` with bytes [start, start + into.length) where the source allows it without a copy. */
export async function readInto(source: ByteSource, start: number, into: Uint8Array): Promise<void> {
  if (source instanceof LocalFileSource) return source.readInto(start, into);
  into.set(await source.read(start, start + into.length));
}

/** A byte range that could not be read as asked: names the file or URL (never a query string). */
function readError(name: string, detail: string, cause?: unknown): CodedError {
  return new CodedError('LC_ERR_SOURCE_READ', `${name}: ${detail}`, { source: name }, cause === undefined ? undefined : { cause });
}

/** fetch, with a network failure (DNS, refused, reset) reported as LC_ERR_SOURCE_READ naming the source. */
async function fetchRange(opts: HttpSourceOptions, url: string, name: string, range: string): Promise<Response> {
  try {
    return await (opts.fetch ?? fetch)(url, { headers: { ...opts.headers, range } });
  } catch (e) {
    throw readError(name, `range ${range} failed: ${(e as Error)?.message ?? String(e)}`, e);
  }
}

function checkRange(start: number, end: number, size: number, name: string): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > size) {
    throw new RangeError(`${name}: read [${start}, ${end}) is outside its ${size} bytes`);
  }
}

// Callback fs, not the FileHandle promise API: on the request path each promise-API read
// cost 3-20 µs and each fstat ~8 µs more CPU (bench/serve.ts profiles), which at thousands of
// batches a second was a visible share of the server's CPU per request.
const fsRead = (fd: number, into: Uint8Array, offset: number, length: number, position: number) =>
  new Promise<number>((resolve, reject) => read(fd, into, offset, length, position, (e, n) => (e ? reject(e) : resolve(n))));
const fsFstat = (fd: number) => new Promise<BigIntStats>((resolve, reject) => fstat(fd, { bigint: true }, (e, st) => (e ? reject(e) : resolve(st))));
const fsClose = (fd: number) => new Promise<void>((resolve, reject) => fsCloseCb(fd, (e) => (e ? reject(e) : resolve())));
const ignore = () => undefined;

export class LocalFileSource implements ByteSource {
  /** Reads and fstats in flight: the descriptor is closed only after they finish (a closed number can be reused by another open). */
  private busy = 0;
  private idle: (() => void) | null = null;
  private closing: Promise<void> | null = null;
  /** The fstat in flight, and the one queued behind it that callers arriving meanwhile share. */
  private statInFlight: Promise<BigIntStats> | null = null;
  private statQueued: Promise<BigIntStats> | null = null;

  private constructor(
    private readonly fd: number,
    readonly byteLength: number,
    readonly name: string,
    /** The file's stat when it was opened, before any byte was read (identity checks compare against it). */
    readonly opened: BigIntStats,
  ) {}

  /** Opens `path` for positional reads; `name` is what errors call it (never the resolved path). */
  static async open(path: string, name: string = path): Promise<LocalFileSource> {
    const fd = await new Promise<number>((resolve, reject) => openCb(path, 'r', (e, n) => (e ? reject(e) : resolve(n))));
    try {
      const st = await fsFstat(fd);
      return new LocalFileSource(fd, Number(st.size), name, st);
    } catch (e) {
      await fsClose(fd).catch(ignore);
      throw e;
    }
  }

  async read(start: number, end: number): Promise<Uint8Array> {
    checkRange(start, end, this.byteLength, this.name);
    const out = Buffer.allocUnsafe(end - start);
    await this.readInto(start, out);
    return out;
  }

  async readInto(start: number, into: Uint8Array): Promise<void> {
    checkRange(start, start + into.length, this.byteLength, this.name);
    this.enter();
    try {
      for (let done = 0; done < into.length;) {
        const bytesRead = await fsRead(this.fd, into, done, into.length - done, start + done);
        if (bytesRead === 0) throw readError(this.name, `unexpected end of file at byte ${start + done} (the file shrank after it was opened)`);
        done += bytesRead;
      }
    } finally {
      this.leave();
    }
  }

  /**
   * The file's stat now (fstat on the open descriptor, off the event loop), always taken
   * after this call: concurrent callers share one fstat only when it was issued after all
   * of them called, so a caller that read first and stats after still sees a later stat.
   */
  stat(): Promise<BigIntStats> {
    if (this.statInFlight === null) return this.issueStat();
    return (this.statQueued ??= this.statInFlight.then(ignore, ignore).then(() => {
      this.statQueued = null;
      return this.issueStat();
    }));
  }

  private issueStat(): Promise<BigIntStats> {
    this.enter();
    const p = fsFstat(this.fd);
    this.statInFlight = p;
    const done = () => {
      if (this.statInFlight === p) this.statInFlight = null;
      this.leave();
    };
    p.then(done, done);
    return p;
  }

  close(): Promise<void> {
    this.closing ??= (this.busy === 0 ? Promise.resolve() : new Promise<void>((resolve) => { this.idle = resolve; })).then(() => fsClose(this.fd));
    return this.closing;
  }

  private enter(): void {
    if (this.closing) throw new Error(`${this.name}: read after close`);
    this.busy++;
  }

  private leave(): void {
    if (--this.busy === 0 && this.idle) this.idle();
  }
}

export interface HttpSourceOptions {
  headers?: Record<string, string>;
  /** Name used in errors (default: the URL without its query string). */
  name?: string;
  fetch?: typeof fetch;
}

/** A remote object read with HTTP Range requests; every answer must be a 206 for exactly the range asked. */
export class HttpRangeSource implements ByteSource {
  private constructor(
    readonly url: string,
    readonly byteLength: number,
    private readonly opts: HttpSourceOptions,
    readonly name: string,
  ) {}

  /** Learns the size from a one-byte range request (servers that ignore Range are refused). */
  static async open(url: string, opts: HttpSourceOptions = {}): Promise<HttpRangeSource> {
    const name = opts.name ?? url.split('?')[0];
    const res = await fetchRange(opts, url, name, 'bytes=0-0');
    try {
      if (res.status !== 206) throw readError(name, `range request answered ${res.status}, expected 206 Partial Content${res.status === 200 ? ' (the server ignores Range)' : ''}`);
      const total = parseContentRange(res.headers.get('content-range'), name).total;
      return new HttpRangeSource(url, total, opts, name);
    } finally {
      // Never buffer an answer we did not ask for (a server ignoring Range sends the whole object).
      await res.body?.cancel();
    }
  }

  async read(start: number, end: number): Promise<Uint8Array> {
    checkRange(start, end, this.byteLength, this.name);
    if (end === start) return new Uint8Array(0);
    const res = await fetchRange(this.opts, this.url, this.name, `bytes=${start}-${end - 1}`);
    // Status and Content-Range are checked before the body is read, so a server that ignores
    // the range never makes us buffer more than we asked for.
    try {
      if (res.status !== 206) throw readError(this.name, `range ${start}-${end - 1} answered ${res.status}, expected 206${res.status === 200 ? ' (the server ignores Range)' : ''}`);
      const cr = parseContentRange(res.headers.get('content-range'), this.name);
      if (cr.start !== start || cr.end !== end - 1 || cr.total !== this.byteLength) {
        throw readError(this.name, `asked bytes ${start}-${end - 1}/${this.byteLength}, server sent ${cr.start}-${cr.end}/${cr.total} (object changed?)`);
      }
    } catch (e) {
      await res.body?.cancel();
      throw e;
    }
    let body: Uint8Array;
    try {
      body = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw readError(this.name, `range ${start}-${end - 1}: body failed: ${(e as Error)?.message ?? String(e)}`, e);
    }
    if (body.length !== end - start) throw readError(this.name, `range ${start}-${end - 1} returned ${body.length} bytes`);
    return body;
  }

  async close(): Promise<void> {
    // Stateless: each read is its own request.
  }
}

function parseContentRange(value: string | null, name: string): { start: number; end: number; total: number } {
  const m = /^bytes ([0-9]+)-([0-9]+)\/([0-9]+)$/.exec(value ?? '');
  if (!m) throw readError(name, `Content-Range ${JSON.stringify(value)} is not "bytes a-b/size"`);
  return { start: Number(m[1]), end: Number(m[2]), total: Number(m[3]) };
}
