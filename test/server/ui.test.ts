// The inspector's JSON and files through the real app (inject) on datasets written by the
// real writer: statistics against the writer's own totals, samples against the reader,
// tokenizers from the dataset, from serve --tokenizer, and tampered ones.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import { computeStats, spreadBatches } from '../../src/server/ui/stats.js';
import { DatasetReader, type Manifest, type TopkBatch } from '../../src/shard/index.js';
import { attachTokenizer, parseTokenizer } from '../../src/tokenizer/index.js';
import { runCli } from '../cli.js';
import { repoRoot } from '../python.js';
import { tempRoot, writeDataset } from './fixture.js';

const { root, cleanup } = tempRoot();
let manifest: Manifest;
const vocab = (n: number) => Buffer.from(JSON.stringify(Array.from({ length: n }, (_, i) => `t${i}`)));

beforeAll(() => {
  manifest = writeDataset(root, { datasetId: 'plain', batches: 5, batchSize: 3, k: 4, vocabSize: 1000, values: 'f32' });
  writeDataset(root, { datasetId: 'tok', batches: 2, batchSize: 3, k: 4, vocabSize: 1000 });
  attachTokenizer(join(root, 'tok'), parseTokenizer(vocab(1000), 'vocab'), 'test vocab');
});
afterAll(cleanup);

describe('inspector statistics', () => {
  it('spreads the budget evenly, first and last batch included', () => {
    expect(spreadBatches(5, 10)).toEqual([0, 1, 2, 3, 4]);
    expect(spreadBatches(100, 5)).toEqual([0, 25, 50, 74, 99]);
    expect(spreadBatches(100, 1)).toEqual([0]);
  });

  it('over every batch, agrees with the totals the writer computed', async () => {
    const reader = await DatasetReader.open(join(root, 'plain'));
    try {
      // Random fixture ids never agree with the next token; make every third position agree.
      const batches: TopkBatch[] = [];
      for (let b = 0; b < manifest.batchCount; b++) {
        const x = await reader.readBatch(b);
        for (let i = 0; i + 1 < x.offsets.length; i++) {
          for (let t = x.offsets[i]; t + 1 < x.offsets[i + 1]; t += 3) x.inputIds[t + 1] = x.topkIds[t * 4];
        }
        batches.push(x);
      }
      const st = await computeStats(manifest, async (b) => batches[b], { maxBatches: 100, maxTokens: 1e9 });
      expect(st.sampled).toMatchObject({ batches: [0, 1, 2, 3, 4], complete: true, tokens: manifest.tokenCount, positions: manifest.tokenCount });
      // Reference: the definitions, written out plainly over every position of every batch.
      let massSum = 0, positions = 0, agree = 0, predicted = 0;
      for (let b = 0; b < manifest.batchCount; b++) {
        const x = batches[b];
        for (let i = 0; i + 1 < x.offsets.length; i++) {
          for (let t = x.offsets[i]; t < x.offsets[i + 1]; t++) {
            const lps = Array.from(x.topkLogprobs.subarray(t * 4, t * 4 + 4));
            massSum += lps.reduce((a, lp) => a + Math.exp(lp), 0);
            positions++;
            if (t + 1 < x.offsets[i + 1]) {
              predicted++;
              if (x.topkIds[t * 4] === x.inputIds[t + 1]) agree++;
            }
          }
        }
      }
      expect(st.mass.mean).toBeCloseTo(massSum / positions, 9);
      expect(agree).toBeGreaterThan(0);
      expect(st.top1.overall).toBeCloseTo(agree / predicted, 12);
      expect(st.mass.bins.reduce((a, b) => a + b, 0)).toBe(manifest.tokenCount);
      expect(st.entropy.bins.reduce((a, b) => a + b, 0)).toBe(manifest.tokenCount);
      expect(st.top1.buckets.reduce((a, b) => a + b.positions, 0)).toBe(manifest.tokenCount - manifest.sampleCount);
      expect(st.shards.map((s) => s.bytesPerToken)).toEqual(manifest.shards.map((s) => s.bytes / s.tokens));
      // A budget of two batches reads exactly the first and the last.
      const read: number[] = [];
      const part = await computeStats(manifest, async (b) => (read.push(b), batches[b]), { maxBatches: 2, maxTokens: 1e9 });
      expect(read).toEqual([0, 4]);
      expect(part.sampled.complete).toBe(false);
    } finally {
      await reader.close();
    }
  });
});

describe('inspector routes', () => {
  const app = buildApp({ root, tokenizer: null });
  const served = buildApp({ root, tokenizer: parseTokenizer(Buffer.from(JSON.stringify(Array.from({ length: 1000 }, (_, i) => `s${i}`))), 'serve') });
  afterAll(async () => {
    await app.close();
    await served.close();
  });

  it('serves the page shell at / and /ui/..., its files gzipped with ETags', async () => {
    for (const url of ['/', '/ui', '/ui/datasets/plain/samples/3?color=top1']) {
      const res = await app.inject({ url });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.body).toContain('/ui/assets/app.js');
    }
    const js = await app.inject({ url: '/ui/assets/app.js', headers: { 'accept-encoding': 'gzip' } });
    expect(js.headers['content-encoding']).toBe('gzip');
    expect(js.rawPayload.length).toBeLessThan(readFileSync(join(repoRoot, 'dist/ui/static/app.js')).length);
    const again = await app.inject({ url: '/ui/assets/app.js', headers: { 'if-none-match': String(js.headers.etag) } });
    expect(again.statusCode).toBe(304);
    expect((await app.inject({ url: '/ui/assets/nope.js' })).statusCode).toBe(404);
    const unknownApi = await app.inject({ url: '/ui/api/nope' });
    expect(unknownApi.statusCode).toBe(404);
    expect(unknownApi.json().code).toBe('LC_ERR_ROUTE_NOT_FOUND');
    expect((await app.inject({ url: '/' })).headers['content-security-policy']).toMatch(/^default-src 'self'/);
  });

  it('lists settings with the stored tokenizer', async () => {
    const body = (await app.inject({ url: '/ui/api/datasets' })).json();
    expect(body.datasets.map((d: { datasetId: string }) => d.datasetId)).toEqual(['plain', 'tok']);
    expect(body.datasets[0].tokenizer).toBeNull();
    expect(body.datasets[1].tokenizer).toMatchObject({ kind: 'vocab-list', file: 'vocab.json', vocabSize: 1000 });
  });

  it('returns a sample as the reader stores it, with 404 and 400 for bad ids', async () => {
    const v = (await app.inject({ url: '/ui/api/datasets/plain/samples/7' })).json();
    const reader = await DatasetReader.open(join(root, 'plain'));
    const b = await reader.readBatch(2);
    await reader.close();
    expect(v).toMatchObject({ sampleId: 7, batch: 2, indexInBatch: 1, batchSamples: 3, firstSampleOfBatch: 6, k: 4, tokenizer: { source: 'none' }, pieces: {} });
    expect(v.inputIds).toEqual(Array.from(b.inputIds.subarray(b.offsets[1], b.offsets[2])));
    expect(v.topkIds).toEqual(Array.from(b.topkIds.subarray(b.offsets[1] * 4, b.offsets[2] * 4)));
    expect(v.topkLogprobs).toEqual(Array.from(b.topkLogprobs.subarray(b.offsets[1] * 4, b.offsets[2] * 4)));
    const missing = await app.inject({ url: '/ui/api/datasets/plain/samples/15' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('LC_ERR_SAMPLE_NOT_FOUND');
    expect((await app.inject({ url: '/ui/api/datasets/plain/samples/07' })).json().code).toBe('LC_ERR_BAD_REQUEST');
    expect((await app.inject({ url: '/ui/api/datasets/nope/samples/0' })).json().code).toBe('LC_ERR_DATASET_NOT_FOUND');
  });

  it("shows text with the dataset's tokenizer, else serve --tokenizer's, and says when the stored one is tampered", async () => {
    const own = (await served.inject({ url: '/ui/api/datasets/tok/samples/0' })).json();
    expect(own.tokenizer).toEqual({ source: 'dataset', kind: 'vocab-list', error: null });
    for (const id of own.inputIds) expect(own.pieces[id]).toBe(`t${id}`);
    const fallback = (await served.inject({ url: '/ui/api/datasets/plain/samples/0' })).json();
    expect(fallback.tokenizer.source).toBe('serve');
    for (const id of [...fallback.inputIds, ...fallback.topkIds]) expect(fallback.pieces[id]).toBe(`s${id}`);

    // A serve --tokenizer that does not fit a dataset's teacher is not used for it, and the page says why.
    const misfit = buildApp({ root, tokenizer: parseTokenizer(vocab(50), 'small') });
    try {
      const v = (await misfit.inject({ url: '/ui/api/datasets/plain/samples/0' })).json();
      expect(v.tokenizer.source).toBe('none');
      expect(v.tokenizer.error).toMatch(/LC_ERR_TOKENIZER_MISMATCH: serve --tokenizer: tokenizer has 50 ids but the teacher's vocabulary is 1000/);
      expect(v.pieces).toEqual({});
    } finally {
      await misfit.close();
    }

    const fresh = buildApp({ root });
    try {
      const path = join(root, 'tok/vocab.json');
      writeFileSync(path, readFileSync(path).toString().replace('"t5"', '"x5"'));
      const tampered = (await fresh.inject({ url: '/ui/api/datasets/tok/samples/0' })).json();
      expect(tampered.tokenizer.source).toBe('none');
      expect(tampered.tokenizer.error).toMatch(/LC_ERR_TOKENIZER_CORRUPT.*vocab\.json: sha256/);
      expect(tampered.pieces).toEqual({});
    } finally {
      await fresh.close();
    }
  });

  it('computes statistics once per manifest: later views do not read the shards again', async () => {
    const first = await app.inject({ url: '/ui/api/datasets/plain/stats' });
    expect(first.statusCode).toBe(200);
    expect(first.json().sampled.complete).toBe(true);
    // Corrupt every shard in place (same size): a fresh read would now fail its checksum.
    for (const s of manifest.shards) {
      const p = join(root, 'plain', s.file);
      writeFileSync(p, Buffer.alloc(readFileSync(p).length, 0x5a));
    }
    const second = await app.inject({ url: '/ui/api/datasets/plain/stats' });
    expect(second.json()).toEqual(first.json());
    const sample = await app.inject({ url: '/ui/api/datasets/plain/samples/0' });
    expect(sample.json().code).toBe('LC_ERR_SHARD_CORRUPT');
  });
});

describe('tokenizer files', () => {
  it('reads a Hugging Face tokenizer.json with @huggingface/tokenizers', () => {
    const vocabMap = { '<unk>': 0, a: 1, b: 2, ab: 3, 'Ġ': 4, 'Ġab': 5, 'Ċ': 6 };
    const tj = {
      version: '1.0', added_tokens: [], normalizer: null, post_processor: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab: vocabMap, merges: ['a b', 'Ġ ab'] },
    };
    const tok = parseTokenizer(Buffer.from(JSON.stringify(tj)), 'tokenizer.json');
    expect(tok.kind).toBe('hf-tokenizer-json');
    expect(tok.vocabSize).toBe(7);
    expect([3, 5, 6, 99].map((id) => tok.piece(id))).toEqual(['ab', ' ab', '\n', null]);
  });

  it('shows byte tokens of a vocabulary list as text where they are text', () => {
    const tok = parseTokenizer(Buffer.from(JSON.stringify(['<0x41>', '<0x0A>', '<0xE2>', '\u2581the', 'x'])), 'v.json');
    expect([0, 1, 2, 3, 4, 5].map((i) => tok.piece(i))).toEqual(['A', '\n', '<0xE2>', ' the', 'x', null]);
  });

  it('refuses files that are not tokenizers, naming the file', () => {
    expect(() => parseTokenizer(Buffer.from('{nope'), 'bad.json')).toThrow(/bad\.json: not JSON/);
    expect(() => parseTokenizer(Buffer.from('{"a":1}'), 'obj.json')).toThrow(/obj\.json: neither/);
    expect(() => parseTokenizer(Buffer.from('["a", 3]'), 'list.json')).toThrow(/list\.json: entry 1/);
  });

  it('refuses to attach a tokenizer whose vocabulary does not fit the teacher, leaving the manifest as it was', () => {
    const dir = join(root, 'tok');
    const before = readFileSync(join(dir, 'manifest.json'), 'utf8');
    expect(() => attachTokenizer(dir, parseTokenizer(vocab(10), 'small'), '--tokenizer small.json'))
      .toThrow(expect.objectContaining({ code: 'LC_ERR_TOKENIZER_MISMATCH', message: expect.stringMatching(/small\.json: tokenizer has 10 ids but the teacher's vocabulary is 1000/) }));
    expect(readFileSync(join(dir, 'manifest.json'), 'utf8')).toBe(before);
  });

  it('precompute-logits checks --tokenizer before running the teacher', () => {
    const out = join(root, 'cli');
    const r = runCli('precompute-logits', ['--demo', '--out', out, '--tokenizer', join(root, 'missing.json'), '--quiet']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--tokenizer: .*missing\.json: cannot read tokenizer/);
    expect(existsSync(join(out, 'demo'))).toBe(false);
  });

  it('serve refuses an unreadable --tokenizer at start, naming it', () => {
    const bad = join(root, 'bad-tokenizer.json');
    writeFileSync(bad, '{"not": "a tokenizer"}');
    const r = runCli('logit-cache', ['serve', '--root', root, '--port', '0', '--tokenizer', bad]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--tokenizer: .*bad-tokenizer\.json: neither a Hugging Face tokenizer\.json/);
  });
});
