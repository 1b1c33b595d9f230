// The HTTP Range source against nginx serving a dataset folder as plain static files: a
// dataset published on any static host (or object store with Range) reads through the same
// checked reader. Skips with a reason when nginx is not installed.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckedDataset, DatasetReader, ShardCorruptError } from '../../src/shard/index.js';
import { writeFixture } from './fixture.js';

const nginx = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
const skip = nginx.error ? `nginx not found (${nginx.error.message})` : null;
if (skip) console.log(`skipping nginx Range tests: ${skip}`);

let work: string, child: ChildProcess | null = null, base = '';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

beforeAll(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'lc-nginx-'));
  chmodSync(work, 0o755); // nginx workers may run as another user (nobody) when started by root
  const root = join(work, 'www');
  mkdirSync(root);
  writeFixture({ root, datasetId: 'pub', batches: 7, batchesPerShard: 3, codec: 'zstd' });
  const port = await freePort();
  const conf = join(work, 'nginx.conf');
  writeFileSync(conf, `
daemon off;
worker_processes 1;
pid ${work}/nginx.pid;
error_log ${work}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${work}/tmp;
  proxy_temp_path ${work}/tmp;
  fastcgi_temp_path ${work}/tmp;
  uwsgi_temp_path ${work}/tmp;
  scgi_temp_path ${work}/tmp;
  server { listen 127.0.0.1:${port}; root ${root}; }
}
`);
  mkdirSync(join(work, 'tmp'));
  child = spawn('nginx', ['-p', work, '-c', conf], { stdio: 'ignore' });
  base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/pub/manifest.json`)).status === 200) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not start: ${readFileSync(join(work, 'error.log'), 'utf8')}`);
});
afterAll(() => {
  child?.kill('SIGQUIT');
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!!skip)('HttpRangeSource against nginx', () => {
  it('reads every batch of a statically served dataset, byte-identical to the local read', async () => {
    const remote = await CheckedDataset.openUrl(`${base}/pub`);
    const local = await DatasetReader.open(join(work, 'www', 'pub'));
    expect(remote.batchCount).toBe(7);
    for (let b = 0; b < 7; b++) {
      const [r, l] = [await remote.readStream(b), await local.readStream(b)];
      expect(Buffer.from(r.stream).equals(Buffer.from(l.stream)), `batch ${b}`).toBe(true);
      expect(Array.from((await remote.readBatch(b)).topkIds)).toEqual(Array.from((await local.readBatch(b)).topkIds));
    }
    await remote.close();
    await local.close();
  });

  it('refuses a batch whose bytes changed on the server, naming shard and batch', async () => {
    const remote = await CheckedDataset.openUrl(`${base}/pub`);
    await remote.readStream(4); // shard 1's index and schema now checked and cached
    const info = await remote.info(4);
    const path = join(work, 'www', 'pub', info.shard.file);
    const bytes = readFileSync(path);
    bytes[info.offset + info.length - 5] ^= 0xff;
    writeFileSync(path, bytes);
    await expect(remote.readStream(4)).rejects.toThrow(ShardCorruptError);
    await expect(remote.readStream(4)).rejects.toThrow(/^shard shards\/shard-000001\.arrow batch 4: sha256/);
    expect((await remote.readStream(0)).info.batch).toBe(0);
    await remote.close();
  });
});
