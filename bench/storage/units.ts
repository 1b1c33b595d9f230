// Larger compression units: the stored batch is the random-access unit, so storing n batches
// as one unit makes reading one batch decompress and decode all n. This measures what that buys
// (bytes per token) against what it costs (ms to get one batch), per part and codec.
import type { TopkBatch } from '../../src/shard/types.js';
import type { IdCandidate, ValueCandidate } from './candidates.js';
import { type Codec, storedSize } from './codecs.js';

export interface UnitRow { teacher: string; k: number; batchesPerUnit: number; part: string; codec: string; bytesPerToken: number; msPerBatchRead: number }

/** Consecutive batches joined into one (offsets rebased). */
export function joinBatches(bs: TopkBatch[]): TopkBatch {
  const tokens = bs.reduce((a, b) => a + b.inputIds.length, 0);
  const k = bs[0].topkLogprobs.length / Math.max(1, bs[0].inputIds.length) || 1;
  const offsets: number[] = [0];
  const inputIds = new Int32Array(tokens);
  const topkIds = new Uint32Array(tokens * k);
  const topkLogprobs = new Float32Array(tokens * k);
  const sampleIds: number[] = [];
  let at = 0;
  for (const b of bs) {
    for (let i = 1; i < b.offsets.length; i++) offsets.push(at + b.offsets[i]);
    inputIds.set(b.inputIds, at);
    topkIds.set(b.topkIds, at * k);
    topkLogprobs.set(b.topkLogprobs, at * k);
    sampleIds.push(...Array.from(b.sampleIds));
    at += b.inputIds.length;
  }
  return { sampleIds, offsets: Int32Array.from(offsets), inputIds, topkIds, topkLogprobs };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Bytes/token and the time to read one batch when `n` batches form one unit. */
export function measureUnits(
  teacher: string, batches: TopkBatch[], k: number, vocab: number, ns: number[],
  parts: { name: string; ids?: (first: TopkBatch) => IdCandidate; values?: ValueCandidate }[], codec: Codec,
): UnitRow[] {
  const tokens = batches.reduce((a, b) => a + b.inputIds.length, 0);
  const rows: UnitRow[] = [];
  for (const n of ns) {
    const units: TopkBatch[] = [];
    for (let i = 0; i < batches.length; i += n) units.push(joinBatches(batches.slice(i, i + n)));
    for (const p of parts) {
      const ids = p.ids?.(units[0]);
      let bytes = 0;
      const times: number[] = [];
      for (const u of units) {
        const bufs = ids ? ids.encode(u, k, vocab) : p.values!.encode(u.topkLogprobs, k);
        bytes += bufs.reduce((a, b) => a + storedSize(codec, b), 0);
        const packed = bufs.map((b) => codec.compress(b));
        const t0 = performance.now();
        const raw = packed.map((b) => codec.decompress(b));
        if (ids) ids.decode(raw, u, k, vocab);
        else p.values!.decode(raw, k, u.topkLogprobs.length);
        // Reading one batch costs the whole unit.
        times.push(performance.now() - t0);
      }
      rows.push({ teacher, k, batchesPerUnit: n, part: p.name, codec: codec.name, bytesPerToken: bytes / tokens, msPerBatchRead: median(times) });
    }
  }
  return rows;
}
