// Ragged top-p lists (format 2.3) through the real writer and the checked reader, for every
// value encoding: the kept entries decode to what the same batch decodes to at fixed k, the
// padding is id 0 / -Infinity, the counts come back, the server serves the stored stream as it
// is, pyarrow sees list<list<…>>, and a reader is told by name when the shard and manifest disagree.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import { Schema } from 'apache-arrow';
import { DatasetReader, DatasetWriter, layoutFromSchema, shardSchema, type TopkBatch, type TopkLayout } from '../../src/shard/index.js';
import { trimTopP } from '../../src/topk/top-p.js';
import { findPython } from '../python.js';
import { makeBatch } from './make-batch.js';

const root = mkdtempSync(join(tmpdir(), 'lc-ragged-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const K = 16;
const VOCAB = 1000;
const BATCHES = 3;

/** The same random batches, untrimmed (for the fixed-k twin) and trimmed at `topP`. */
function batches(topP: number, minK: number): { fixed: TopkBatch[]; ragged: TopkBatch[] } {
  const fixed: TopkBatch[] = [], ragged: TopkBatch[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const lengths = [50, 0, 170, 90].map((l) => l + b);
    const f = makeBatch({ lengths, k: K, vocabSize: VOCAB, firstSample: b * 4, seed: 40 + b });
    // Token 0 is also the padding id: a reader that took padding for predictions would count hits.
    for (let t = 0; t < f.inputIds.length; t += 5) f.inputIds[t] = 0;
    fixed.push(f);
    const tokens = f.inputIds.length;
    const r: TopkBatch = { ...f, topkIds: f.topkIds.slice(), topkLogprobs: f.topkLogprobs.slice(), topkCounts: new Int32Array(tokens) };
    trimTopP(r.topkIds, r.topkLogprobs, r.topkCounts!, undefined, 0, tokens, K, { topP, minK });
    ragged.push(r);
  }
  return { fixed, ragged };
}

function write(id: string, layout: TopkLayout, list: TopkBatch[]): string {
  const w = new DatasetWriter({ root, datasetId: id, layout, codec: 'zstd', batchSize: 4, batchesPerShard: 2, runConfig: {} });
  for (const b of list) w.append(b);
  const tokens = list.reduce((a, x) => a + x.inputIds.length, 0);
  w.finish({
    teacher: { file: 't.onnx', sha256: 'a'.repeat(64), vocabSize: VOCAB },
    source: { file: 'd.jsonl', sha256: 'b'.repeat(64), samples: list.length * 4, tokens },
  });
  return join(root, id);
}

const encodings: Partial<TopkLayout>[] = [
  { values: 'f32' }, { values: 'f16' }, { values: 'bf16' }, { values: 'q8', q8Scale: 0.1 },
  { values: 'rank-delta', f16Ranks: 4, gridStep: 0.099 },
];

describe('ragged top-p lists through the real writer and reader', () => {
  for (const enc of encodings) {
    it(`${enc.values}: kept entries equal the fixed-k decode, padding is id 0 / -Infinity, counts round-trip`, async () => {
      const { fixed, ragged } = batches(0.9, 2);
      const base = { k: K, vocabSize: VOCAB, ...enc } as TopkLayout;
      const fixedDir = write(`fixed-${enc.values}`, base, fixed);
      const raggedDir = write(`ragged-${enc.values}`, { ...base, topP: 0.9, minK: 2 }, ragged);
      const manifest = JSON.parse(readFileSync(join(raggedDir, 'manifest.json'), 'utf8'));
      expect(manifest.formatVersion).toBe('2.3');
      expect(manifest.topk).toMatchObject({ topP: 0.9, minK: 2, k: K });
      const fr = await DatasetReader.open(fixedDir), rr = await DatasetReader.open(raggedDir);
      let trimmed = 0;
      for (let b = 0; b < BATCHES; b++) {
        const want = await fr.readBatch(b), got = await rr.readBatch(b);
        expect(Array.from(got.topkCounts!)).toEqual(Array.from(ragged[b].topkCounts!));
        expect(got.topkIds.length).toBe(want.topkIds.length);
        for (let t = 0; t < got.inputIds.length; t++) {
          const n = got.topkCounts![t];
          trimmed += K - n;
          for (let r = 0; r < K; r++) {
            const i = t * K + r;
            if (r < n) {
              expect(got.topkIds[i]).toBe(want.topkIds[i]);
              expect(got.topkLogprobs[i]).toBe(want.topkLogprobs[i]);
            } else {
              expect(got.topkIds[i]).toBe(0);
              expect(got.topkLogprobs[i]).toBe(-Infinity);
            }
          }
        }
      }
      expect(trimmed).toBeGreaterThan(0);
      await fr.close();
      await rr.close();
    });
  }

  it('P = 1 stores every entry: decodes exactly like the fixed-k dataset, every count k', async () => {
    const { fixed, ragged } = batches(1, 1);
    const a = await DatasetReader.open(write('p1-fixed', { k: K, vocabSize: VOCAB, values: 'f16' }, fixed));
    const b = await DatasetReader.open(write('p1-ragged', { k: K, vocabSize: VOCAB, values: 'f16', topP: 1, minK: 1 }, ragged));
    for (let i = 0; i < BATCHES; i++) {
      const x = await a.readBatch(i), y = await b.readBatch(i);
      expect(y.topkCounts!.every((c) => c === K)).toBe(true);
      expect(Array.from(y.topkIds)).toEqual(Array.from(x.topkIds));
      expect(Array.from(y.topkLogprobs)).toEqual(Array.from(x.topkLogprobs));
    }
    await a.close();
    await b.close();
  });

  it('GET /logits serves the stored stream unchanged; JSON rows carry the counts; pyarrow sees list<list<…>>', async () => {
    const { ragged } = batches(0.8, 1);
    const dir = write('served', { k: K, vocabSize: VOCAB, values: 'f16', topP: 0.8, minK: 1 }, ragged);
    const reader = await DatasetReader.open(dir);
    const app = buildApp({ root, token: 'tok' });
    try {
      const res = await app.inject({ url: '/logits/served/1', headers: { authorization: 'Bearer tok' } });
      expect(res.statusCode).toBe(200);
      const stored = (await reader.dataset.readStream(1)).stream;
      expect(Buffer.compare(res.rawPayload, Buffer.from(stored))).toBe(0);
      const json = await app.inject({ url: '/logits/served/1?format=json', headers: { authorization: 'Bearer tok' } });
      const rows = (json.json() as { rows: { topkCounts: number[]; topkIds: number[][]; topkLogprobs: (number | null)[][] }[] }).rows;
      const b1 = await reader.readBatch(1);
      expect(rows.flatMap((r) => r.topkCounts)).toEqual(Array.from(b1.topkCounts!));
      const row = rows[0];
      row.topkCounts.forEach((n, t) => expect(row.topkLogprobs[t].slice(n).every((v) => v === null)).toBe(true));
      // The inspector's routes decode the same padded batches: statistics stay finite numbers.
      const stats = await app.inject({ url: '/ui/api/datasets/served/stats', headers: { authorization: 'Bearer tok' } });
      expect(stats.statusCode).toBe(200);
      const st = stats.json() as { sampled: { complete: boolean }; mass: { mean: number }; top1: { inTopk: number } };
      expect(st.sampled.complete).toBe(true);
      let mass = 0, positions = 0, predicted = 0, inKept = 0;
      for (let i = 0; i < BATCHES; i++) {
        const x = await reader.readBatch(i);
        for (let s = 0; s + 1 < x.offsets.length; s++) {
          for (let t = x.offsets[s]; t < x.offsets[s + 1]; t++) {
            const n = x.topkCounts![t];
            for (let r = 0; r < n; r++) mass += Math.exp(x.topkLogprobs[t * K + r]);
            positions++;
            if (t + 1 < x.offsets[s + 1]) {
              predicted++;
              if (Array.from(x.topkIds.subarray(t * K, t * K + n)).includes(x.inputIds[t + 1])) inKept++;
            }
          }
        }
      }
      expect(st.mass.mean).toBeCloseTo(mass / positions, 10);
      expect(st.top1.inTopk).toBeCloseTo(inKept / predicted, 12);
      const sample = await app.inject({ url: '/ui/api/datasets/served/samples/2', headers: { authorization: 'Bearer tok' } });
      expect(sample.statusCode).toBe(200);
      const file = join(root, 'served-1.arrows');
      writeFileSync(file, res.rawPayload);
      const { python } = findPython();
      if (!python || spawnSync(python, ['-c', 'import pyarrow'], { encoding: 'utf8' }).status !== 0) {
        console.log('skipping the pyarrow half: no python with pyarrow');
        return;
      }
      const py = spawnSync(python, ['-c', [
        'import sys, pyarrow as pa',
        'rb = pa.ipc.open_stream(open(sys.argv[1], "rb").read()).read_next_batch()',
        'print(rb.schema.field("topk_ids").type, rb.schema.metadata[b"logit_cache.top_p"].decode())',
        'print(sum(len(p) for row in rb.column("topk_ids").to_pylist() for p in row))',
      ].join('\n'), file], { encoding: 'utf8' });
      expect(py.stderr).toBe('');
      const [type, kept] = py.stdout.trim().split('\n');
      expect(type).toBe('list<item: list<item: uint16 not null> not null> 0.8');
      expect(Number(kept)).toBe(b1.topkCounts!.reduce((a, c) => a + c, 0));
    } finally {
      await app.close();
      await reader.close();
    }
  });

  it('a manifest that disagrees with the shard is refused naming top-p; no top-p in the manifest is refused by column type', async () => {
    const { ragged } = batches(0.9, 2);
    const dir = write('tampered', { k: K, vocabSize: VOCAB, values: 'f16', topP: 0.9, minK: 2 }, ragged);
    const path = join(dir, 'manifest.json');
    const original = readFileSync(path, 'utf8');
    const m = JSON.parse(original);
    m.topk.topP = 0.95;
    writeFileSync(path, JSON.stringify(m));
    const r1 = await DatasetReader.open(dir);
    await expect(r1.readBatch(0)).rejects.toThrow(/top-p 0\.9 min-k 2, manifest topk\.topP 0\.95/);
    await r1.close();
    delete m.topk.topP;
    delete m.topk.minK;
    writeFileSync(path, JSON.stringify(m));
    const r2 = await DatasetReader.open(dir);
    // The shard's own metadata makes its layout ragged; the manifest's fixed layout disagrees.
    await expect(r2.readBatch(0)).rejects.toThrow(/top-p 0\.9 min-k 2, manifest topk\.topP none/);
    await r2.close();
    writeFileSync(path, original);
  });

  it('the writer refuses a ragged batch without counts, or with a count outside [min-k, k]', () => {
    const { ragged } = batches(0.9, 2);
    const layout: TopkLayout = { k: K, vocabSize: VOCAB, values: 'f16', topP: 0.9, minK: 2 };
    const writer = (id: string) => new DatasetWriter({ root, datasetId: id, layout, codec: 'none', batchSize: 4, batchesPerShard: 2, runConfig: {} });
    const w1 = writer('bad1');
    expect(() => w1.append({ ...ragged[0], topkCounts: undefined })).toThrow(/ragged top-p batch has no kept counts/);
    w1.abort();
    const counts = ragged[0].topkCounts!.slice();
    counts[3] = 1;
    const w2 = writer('bad2');
    expect(() => w2.append({ ...ragged[0], topkCounts: counts })).toThrow(/keeps 1 entries; top-p lists keep 2\.\.16/);
    w2.abort();
  });

  it('the writer refuses ctx-table ids on a ragged layout (they code exactly k ids per position)', () => {
    const layout: TopkLayout = { k: K, vocabSize: VOCAB, values: 'f16', topP: 0.9, minK: 2, ids: 'ctx-table' };
    expect(() => new DatasetWriter({ root, datasetId: 'ctx-ragged', layout, codec: 'none', batchSize: 4, batchesPerShard: 2, runConfig: {} }))
      .toThrow(/ctx-table id encoding needs a fixed k per position/);
  });
});

describe('layoutFromSchema on ragged and fixed schemas', () => {
  const ragged: TopkLayout = { k: K, vocabSize: VOCAB, values: 'f16', topP: 0.9, minK: 2 };
  const withMeta = (layout: TopkLayout, edit: (m: Map<string, string>) => void) => {
    const s = shardSchema(layout);
    const meta = new Map(s.metadata);
    edit(meta);
    return new Schema(s.fields, meta);
  };

  it('reads top_p / min_k back, and refuses ragged columns without them by name', () => {
    expect(layoutFromSchema(shardSchema(ragged), 'x')).toMatchObject({ topP: 0.9, minK: 2 });
    expect(() => layoutFromSchema(withMeta(ragged, (m) => { m.delete('logit_cache.top_p'); m.delete('logit_cache.min_k'); }), 'x'))
      .toThrow(/topk_ids is list<list<…>> \(ragged top-p lists, format 2\.3\) but the schema has no logit_cache\.top_p/);
    expect(() => layoutFromSchema(withMeta(ragged, (m) => m.set('logit_cache.min_k', '40')), 'x')).toThrow(/min_k 40 is not an integer in \[1, k=16\]/);
    expect(() => layoutFromSchema(withMeta(ragged, (m) => m.set('logit_cache.top_p', '0')), 'x')).toThrow(/top_p 0 is not in \(0, 1\]/);
  });

  it('refuses a column whose type is not the one the metadata describes, naming both', () => {
    const fixed: TopkLayout = { k: K, vocabSize: VOCAB, values: 'f16' };
    // Fixed-size columns stamped with top-p metadata: the metadata says ragged, the columns do not.
    expect(() => layoutFromSchema(withMeta(fixed, (m) => { m.set('logit_cache.top_p', '0.9'); m.set('logit_cache.min_k', '1'); }), 'x'))
      .toThrow(/schema says logit_cache\.top_p=0\.9 but topk_ids is List<FixedSizeList\[16\]<Uint16>>/);
    // A 32-bit id column where the vocabulary says 16: the generic per-column check.
    const wide = shardSchema({ ...fixed, vocabSize: 100_000 });
    const lying = new Schema(wide.fields, new Map(shardSchema(fixed).metadata));
    expect(() => layoutFromSchema(lying, 'x')).toThrow(/column topk_ids is List<FixedSizeList\[16\]<Uint32>>; format 2\.0 with these settings stores List<FixedSizeList\[16\]<Uint16>>/);
  });
});
