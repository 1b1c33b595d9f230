// LZ4 frame implementations compared on real shard buffers (stories260k teacher top-8, f16):
// lz4-napi (Rust, prebuilt binaries) against lz4 (node-lz4, node-gyp build), with zstd-napi for
// reference. Same buffers, interleaved repetitions, one run. Also checks each LZ4 frame decodes
// with the other library, since pyarrow must read whatever we write.
// Run: npx tsx bench/codecs.ts   (writes bench/results/codecs.json and prints a table)
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { VectorAssembler } from 'apache-arrow/visitor/vectorassembler';
import { precompute } from '../src/precompute/index.js';
import { DatasetReader } from '../src/shard/index.js';
import { toRecordBatch } from '../src/shard/record-batch.js';
import { shardSchema } from '../src/shard/schema.js';

const require = createRequire(import.meta.url);
const lz4napi = require('lz4-napi') as { compressFrameSync(b: Uint8Array): Buffer; decompressFrameSync(b: Uint8Array): Buffer };
const lz4js = require('lz4') as { encode(b: Buffer): Buffer; decode(b: Buffer): Buffer };
const zstd = require('zstd-napi') as { compress(b: Uint8Array): Buffer; decompress(b: Uint8Array): Buffer };

const repo = resolve(import.meta.dirname, '..');
const stories = resolve(repo, '../shared/teachers/stories260k');

const codecs = {
  'lz4-napi (LZ4 frame)': { enc: (b: Buffer) => lz4napi.compressFrameSync(b), dec: (b: Buffer) => lz4napi.decompressFrameSync(b) },
  'lz4 / node-lz4 (LZ4 frame)': { enc: (b: Buffer) => lz4js.encode(b), dec: (b: Buffer) => lz4js.decode(b) },
  'zstd-napi (ZSTD)': { enc: (b: Buffer) => zstd.compress(b), dec: (b: Buffer) => zstd.decompress(b) },
};

async function buffers(): Promise<Buffer[]> {
  const work = mkdtempSync(join(tmpdir(), 'lc-bench-codecs-'));
  await precompute({
    model: join(stories, 'model.onnx'), data: join(stories, 'stories.jsonl'), out: work, datasetId: 's', k: 8, values: 'f16',
    codec: 'none', batchSize: 32, batchesPerShard: 1000, topkOn: 'graph', device: 'cpu', overwrite: true,
  });
  const reader = await DatasetReader.open(join(work, 's'));
  const schema = shardSchema(reader.layout);
  const out: Buffer[] = [];
  // The exact buffers apache-arrow hands a codec: one per column buffer of each record batch.
  for (let b = 0; b < reader.batchCount; b++) {
    const rb = toRecordBatch(schema, reader.layout, await reader.readBatch(b));
    for (const buf of VectorAssembler.assemble(rb).buffers) if (buf.byteLength > 0) out.push(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
  }
  await reader.close();
  rmSync(work, { recursive: true, force: true });
  return out;
}

async function main() {
  const bufs = await buffers();
  const total = bufs.reduce((a, b) => a + b.length, 0);
  // Interop: frames from each LZ4 library decode with the other to the same bytes.
  for (const b of bufs.slice(0, 50)) {
    if (!lz4js.decode(lz4napi.compressFrameSync(b)).equals(b)) throw new Error('lz4-napi frame did not decode with node-lz4');
    if (!lz4napi.decompressFrameSync(lz4js.encode(b)).equals(b)) throw new Error('node-lz4 frame did not decode with lz4-napi');
  }
  const best: Record<string, { ratio: number; encMBs: number; decMBs: number }> = {};
  for (let rep = 0; rep < 5; rep++) {
    for (const [name, c] of Object.entries(codecs)) {
      const t0 = performance.now();
      const enc = bufs.map((b) => c.enc(b));
      const t1 = performance.now();
      for (const e of enc) c.dec(e);
      const t2 = performance.now();
      const compressed = enc.reduce((a, e) => a + e.length, 0);
      const row = { ratio: total / compressed, encMBs: total / 1e6 / ((t1 - t0) / 1000), decMBs: total / 1e6 / ((t2 - t1) / 1000) };
      const prev = best[name];
      best[name] = prev ? { ratio: row.ratio, encMBs: Math.max(prev.encMBs, row.encMBs), decMBs: Math.max(prev.decMBs, row.decMBs) } : row;
    }
  }
  const base = best['lz4 / node-lz4 (LZ4 frame)'];
  mkdirSync(join(repo, 'bench/results'), { recursive: true });
  writeFileSync(join(repo, 'bench/results/codecs.json'), JSON.stringify({ bench: 'codecs', date: new Date().toISOString(), node: process.version, buffers: bufs.length, bytes: total, rows: best }, null, 2) + '\n');
  console.log(`${bufs.length} column buffers, ${(total / 1e6).toFixed(1)} MB uncompressed (stories260k top-8, f16); best of 5 interleaved runs`);
  console.log('| codec | ratio | encode MB/s | decode MB/s | encode vs node-lz4 | decode vs node-lz4 |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, r] of Object.entries(best)) {
    console.log(`| ${name} | ${r.ratio.toFixed(3)} | ${r.encMBs.toFixed(0)} | ${r.decMBs.toFixed(0)} | ${(r.encMBs / base.encMBs).toFixed(2)}x | ${(r.decMBs / base.decMBs).toFixed(2)}x |`);
  }
}

await main();
