// The byte sources under the checked reader: positional local reads, and HTTP Range reads
// against a real static file server (Range, 206 and Content-Range as any such server sends).
import { copyFileSync, createReadStream, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckedDataset, DatasetReader, HttpRangeSource, LocalFileSource, ShardCorruptError } from '../../src/shard/index.js';
import { writeFixture } from './fixture.js';

let root: string, base: string, server: Server;
const requests: { url: string; range: string | undefined }[] = [];
/** Paths for which the server pretends not to know Range (answers 200 with the whole file). */
const ignoreRange = new Set<string>();

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'lc-bytesource-'));
  writeFixture({ root, datasetId: 'web', batches: 5, batchesPerShard: 2 });
  // A minimal static file server: GET with an optional single "bytes=a-b" range.
  server = createServer((req, res) => {
    const rel = normalize(decodeURIComponent(new URL(req.url!, 'http://x').pathname)).replace(/^\/+/, '');
    requests.push({ url: rel, range: req.headers.range });
    const path = join(root, rel);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m || ignoreRange.has(rel)) {
      res.writeHead(200, { 'content-length': size });
      createReadStream(path).pipe(res);
      return;
    }
    const start = Number(m[1]), end = Math.min(Number(m[2]), size - 1);
    if (start >= size) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
    createReadStream(path, { start, end }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

describe('LocalFileSource', () => {
  it('reads exact ranges and refuses ranges outside the file', async () => {
    const path = join(root, 'web', 'shards', 'shard-000000.arrow');
    const bytes = readFileSync(path);
    const src = await LocalFileSource.open(path, 'shards/shard-000000.arrow');
    expect(src.byteLength).toBe(bytes.length);
    expect(Buffer.from(await src.read(100, 200)).equals(bytes.subarray(100, 200))).toBe(true);
    expect((await src.read(5, 5)).length).toBe(0);
    await expect(src.read(0, bytes.length + 1)).rejects.toThrow(/shards\/shard-000000\.arrow: read \[0, \d+\) is outside its \d+ bytes/);
    await src.close();
  });

  it('a file that shrank after it was opened is LC_ERR_SOURCE_READ naming it', async () => {
    const path = join(root, 'shrinking.bin');
    writeFileSync(path, Buffer.alloc(1000, 7));
    const src = await LocalFileSource.open(path, 'shrinking.bin');
    truncateSync(path, 100);
    try {
      await expect(src.read(50, 500)).rejects.toMatchObject({ code: 'LC_ERR_SOURCE_READ', message: expect.stringMatching(/^shrinking\.bin: unexpected end of file at byte 100/) });
    } finally {
      await src.close();
    }
  });

  it('shares an fstat only among callers that all called before it was issued', async () => {
    const path = join(root, 'web', 'stat-copy.arrow');
    copyFileSync(join(root, 'web', 'shards', 'shard-000000.arrow'), path);
    const src = await LocalFileSource.open(path, 'stat-copy.arrow');
    const first = src.stat(); // issued now, before the change below
    const joined = [src.stat(), src.stat()]; // called while `first` is in flight: queued behind it
    expect(joined[0]).toBe(joined[1]); // one fstat for both
    expect(joined[0]).not.toBe(first);
    utimesSync(path, 1_000_000, 1_000_000); // a change after the first stat was issued...
    const late = src.stat(); // ...and a caller after it: must not be given `first`
    const mtimes = (await Promise.all([first, ...joined, late])).map((st) => Number(st.mtimeMs));
    // (`first` may or may not see it: it ran on the thread pool while utimes ran here.)
    expect(mtimes[3]).toBe(1_000_000_000);
    expect(src.stat()).not.toBe(late); // nothing in flight now: a fresh fstat
    await src.close();
    rmSync(path);
  });

  it('closes its descriptor only after reads in flight have finished', async () => {
    const path = join(root, 'web', 'shards', 'shard-000000.arrow');
    const bytes = readFileSync(path);
    const src = await LocalFileSource.open(path, 'shards/shard-000000.arrow');
    const reads = [src.read(0, bytes.length), src.read(8, 64)];
    const closed = src.close();
    const [all, part] = await Promise.all(reads);
    expect(Buffer.from(all).equals(bytes)).toBe(true);
    expect(Buffer.from(part).equals(bytes.subarray(8, 64))).toBe(true);
    await closed;
    expect(src.close()).toBe(closed);
    await expect(src.read(0, 8)).rejects.toThrow(/shards\/shard-000000\.arrow: read after close/);
  });
});

describe('HttpRangeSource', () => {
  it('reads exact ranges with 206 responses and learns the size from Content-Range', async () => {
    const rel = 'web/shards/shard-000001.arrow';
    const bytes = readFileSync(join(root, rel));
    const src = await HttpRangeSource.open(`${base}/${rel}`);
    expect(src.byteLength).toBe(bytes.length);
    requests.length = 0;
    const got = await src.read(8, 300);
    expect(Buffer.from(got).equals(bytes.subarray(8, 300))).toBe(true);
    expect(requests).toEqual([{ url: rel, range: 'bytes=8-299' }]);
    await expect(src.read(0, bytes.length + 1)).rejects.toThrow(/outside/);
  });

  it('refuses a server that ignores Range (200 with the whole object)', async () => {
    const rel = 'web/shards/shard-000002.arrow';
    ignoreRange.add(rel);
    try {
      await expect(HttpRangeSource.open(`${base}/${rel}`)).rejects.toThrow(/answered 200, expected 206/);
      await expect(HttpRangeSource.open(`${base}/${rel}`)).rejects.toMatchObject({ code: 'LC_ERR_SOURCE_READ', message: expect.stringContaining(`${base}/${rel}: `) });
    } finally {
      ignoreRange.delete(rel);
    }
    // A server that honoured Range at open and ignores it later (a proxy swapped in) is refused on read too.
    const src = await HttpRangeSource.open(`${base}/${rel}`);
    ignoreRange.add(rel);
    try {
      await expect(src.read(8, 100)).rejects.toMatchObject({ code: 'LC_ERR_SOURCE_READ', message: expect.stringMatching(/range 8-99 answered 200, expected 206 \(the server ignores Range\)/) });
    } finally {
      ignoreRange.delete(rel);
    }
  });

  it('reports HTTP errors, a refused connection and a short body as LC_ERR_SOURCE_READ naming the URL', async () => {
    await expect(HttpRangeSource.open(`${base}/web/shards/nope.arrow`)).rejects.toMatchObject({ code: 'LC_ERR_SOURCE_READ', message: expect.stringMatching(/nope\.arrow: range request answered 404/) });
    // A port nothing listens on: the network failure itself carries the code.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    await expect(HttpRangeSource.open(`http://127.0.0.1:${port}/x.arrow`)).rejects.toMatchObject({ code: 'LC_ERR_SOURCE_READ', message: expect.stringContaining(`http://127.0.0.1:${port}/x.arrow: `) });
    // A body shorter than the Content-Range it declared.
    const rel = 'web/shards/shard-000001.arrow';
    const src = await HttpRangeSource.open(`${base}/${rel}`);
    const short: typeof fetch = async () => new Response(new Uint8Array(10), { status: 206, headers: { 'content-range': `bytes 0-99/${src.byteLength}` } });
    const cut = await HttpRangeSource.open(`${base}/${rel}`, { fetch: async (u, i) => (String((i?.headers as Record<string, string>)?.range) === 'bytes=0-0' ? fetch(u, i) : short(u, i)) });
    await expect(cut.read(0, 100)).rejects.toMatchObject({ code: 'LC_ERR_SOURCE_READ', message: expect.stringMatching(/range 0-99 returned 10 bytes/) });
  });

  it('openUrl: no manifest (404) is LC_ERR_MANIFEST_INVALID, another status LC_ERR_SOURCE_READ', async () => {
    await expect(CheckedDataset.openUrl(`${base}/absent`)).rejects.toMatchObject({ code: 'LC_ERR_MANIFEST_INVALID', message: expect.stringContaining(`${base}/absent/manifest.json: answered 404`) });
    const failing: typeof fetch = async () => new Response('oops', { status: 503 });
    await expect(CheckedDataset.openUrl(`${base}/web`, { http: { fetch: failing } })).rejects.toMatchObject({ code: 'LC_ERR_SOURCE_READ', message: expect.stringContaining('manifest.json: answered 503') });
  });

  it('reads a whole dataset over HTTP through the checked reader, equal to the local read', async () => {
    const remote = await CheckedDataset.openUrl(`${base}/web`);
    const local = await DatasetReader.open(join(root, 'web'));
    for (let b = 0; b < local.batchCount; b++) {
      const [r, l] = [await remote.readStream(b), await local.readStream(b)];
      expect(Buffer.from(r.stream).equals(Buffer.from(l.stream)), `batch ${b}`).toBe(true);
      expect(r.info.streamSha256).toBe(l.info.streamSha256);
      expect(Array.from((await remote.readBatch(b)).sampleIds)).toEqual(Array.from((await local.readBatch(b)).sampleIds));
    }
    await remote.close();
    await local.close();
  });

  it('refuses a corrupted shard read over HTTP, naming it', async () => {
    const dir = join(root, 'web');
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    const bad = structuredClone(m);
    bad.shards[2].schemaSha256 = '0'.repeat(64); // the server's bytes no longer match what the manifest vouches for
    const remote = new CheckedDataset(bad, (name) => HttpRangeSource.open(`${base}/web/${name}`, { name }), `${base}/web-bad`);
    await expect(remote.readStream(4)).rejects.toThrow(ShardCorruptError);
    await expect(remote.readStream(4)).rejects.toThrow(/^shard shards\/shard-000002\.arrow: schema message sha256/);
    expect((await remote.readStream(0)).info.batch).toBe(0);
    await remote.close();
  });
});
