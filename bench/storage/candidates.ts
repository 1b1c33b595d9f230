// Candidate encodings of one stored batch, measured by bench/storage.ts. Each turns a batch into
// the byte buffers a codec would see (one per Arrow buffer: byte planes are separate buffers)
// and back. The shipped ones are built from src/shard/encodings; the rest are the comparisons.
import { float16ToFloat32, float32ToFloat16 } from '../../src/shard/float16.js';
import { fromBytePlanes, toBytePlanes } from '../../src/shard/encodings/byte-planes.js';
import { decodeIdRefs, encodeIdRefs, idRefPlanes, type IdRefOptions } from '../../src/shard/encodings/id-refs.js';
import { decodeRankDelta, encodeRankDelta, type RankDeltaParams } from '../../src/shard/encodings/rank-delta.js';
import { buildCtxTable, type CtxTable, ctxTableFromMeta, ctxTableToMeta, decodeCtxTable, encodeCtxTable } from '../../src/shard/encodings/ctx-table.js';
import type { TopkBatch } from '../../src/shard/types.js';

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export interface ValueCandidate {
  name: string;
  encode(values: Float32Array, k: number): Uint8Array[];
  decode(buffers: Uint8Array[], k: number, count: number): Float32Array;
}

export interface IdCandidate {
  name: string;
  encode(b: TopkBatch, k: number, vocab: number): Uint8Array[];
  decode(buffers: Uint8Array[], b: TopkBatch, k: number, vocab: number): Uint16Array | Uint32Array;
}

const u16 = (buf: Uint8Array): Uint16Array => new Uint16Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));

export const f16Plain: ValueCandidate = {
  name: 'f16',
  encode: (v) => [bytesOf(float32ToFloat16(v))],
  decode: ([b]) => float16ToFloat32(u16(b)),
};

export const f16Planes: ValueCandidate = {
  name: 'f16 planes',
  encode: (v) => toBytePlanes(float32ToFloat16(v), 2),
  decode: (bufs, _k, n) => float16ToFloat32(fromBytePlanes(bufs, new Uint16Array(n))),
};

export function q8(scale: number): ValueCandidate {
  return {
    name: `q8 s=${scale}`,
    encode: (v) => {
      const out = new Uint8Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(-v[i] / scale)));
      return [out];
    },
    decode: ([b]) => Float32Array.from(b, (q) => -q * scale),
  };
}

/** Rank deltas (src/shard/encodings/rank-delta.ts), as one uint16 stream or two byte planes. */
export function rankDelta(f16Ranks: number | 'k', step: number, planes: boolean): ValueCandidate {
  const params = (k: number): RankDeltaParams => ({ k, f16Ranks: f16Ranks === 'k' ? k : Math.min(f16Ranks, k), step });
  const label = f16Ranks === 'k' ? 'f16' : f16Ranks === 0 ? `grid ${step}` : `f16 top-${f16Ranks} + grid ${step}`;
  return {
    name: `${label} rank-delta${planes ? ' planes' : ''}`,
    encode: (v, k) => {
      const d = encodeRankDelta(v, params(k));
      return planes ? toBytePlanes(d, 2) : [bytesOf(d)];
    },
    decode: (bufs, k, n) => decodeRankDelta(planes ? fromBytePlanes(bufs, new Uint16Array(n)) : u16(bufs[0]), params(k)),
  };
}

function idWidth(vocab: number): number {
  return vocab <= 65536 ? 2 : 4;
}

export const idsPlain: IdCandidate = {
  name: 'ids',
  encode: (b, _k, vocab) => [bytesOf(idWidth(vocab) === 2 ? Uint16Array.from(b.topkIds) : Uint32Array.from(b.topkIds))],
  decode: ([buf], _b, _k, vocab) => (idWidth(vocab) === 2 ? u16(buf) : new Uint32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))),
};

export const idsPlanes: IdCandidate = {
  name: 'ids planes',
  encode: (b, _k, vocab) => toBytePlanes(b.topkIds, vocab <= 65536 ? 2 : 3),
  decode: (bufs, b) => fromBytePlanes(bufs, new Uint32Array(b.topkIds.length)),
};

export function idRefs(opts: IdRefOptions): IdCandidate {
  const which = opts.next && opts.prev ? 'next+prev' : opts.next ? 'next' : 'prev';
  return {
    name: `id refs ${which} planes`,
    encode: (b, k, vocab) => toBytePlanes(encodeIdRefs(b.topkIds, b.offsets, b.inputIds, k, vocab, opts), idRefPlanes(vocab, k)),
    decode: (bufs, b, k, vocab) => {
      const codes = fromBytePlanes(bufs, new Uint32Array(b.topkIds.length));
      return decodeIdRefs(codes, b.offsets, b.inputIds, k, vocab, new Uint32Array(codes.length));
    },
  };
}

/**
 * ctx-table (src/shard/encodings/ctx-table.ts) as the writer stores it: the shard's table from its
 * first batch (`first`), counted once, with that batch, as the schema metadata carries it
 * (ZSTD-compressed, base64); the rank-major codes; the literals and their per-sample offsets.
 */
/** Buffers stored as they are (not through the body codec): the ctx-table table in the schema message. */
export const STORED_RAW = new WeakSet<Uint8Array>();

export function ctxTable(first: TopkBatch, k: number, vocab: number): IdCandidate {
  const meta = ctxTableToMeta(buildCtxTable(first.topkIds, first.inputIds, k));
  const table: CtxTable = ctxTableFromMeta(meta.table, meta.size, vocab, 'bench');
  const tableBytes = new TextEncoder().encode(meta.table);
  STORED_RAW.add(tableBytes);
  return {
    name: 'ctx-table',
    encode: (b) => {
      const c = encodeCtxTable(b.topkIds, b.offsets, b.inputIds, k, table);
      const lits = vocab <= 65536 ? Uint16Array.from(c.literals) : c.literals;
      // The table sits in the (uncompressed) schema message: a codec must not shrink it again.
      return [c.codes, bytesOf(lits), bytesOf(c.literalOffsets), ...(b === first ? [tableBytes] : [])];
    },
    decode: (bufs, b, _k, v) => {
      const lits = v <= 65536 ? Uint32Array.from(u16(bufs[1])) : new Uint32Array(bufs[1].buffer.slice(bufs[1].byteOffset, bufs[1].byteOffset + bufs[1].byteLength));
      const offs = new Int32Array(bufs[2].buffer.slice(bufs[2].byteOffset, bufs[2].byteOffset + bufs[2].byteLength));
      return decodeCtxTable({ codes: bufs[0], literals: lits, literalOffsets: offs }, b.offsets, b.inputIds, k, table, v, new Uint32Array(b.topkIds.length));
    },
  };
}

/** The columns every encoding stores unchanged: sample ids, input ids and the list offsets. */
export function baseBuffers(b: TopkBatch): Uint8Array[] {
  const n = b.offsets.length - 1;
  const sample = new BigUint64Array(n);
  for (let i = 0; i < n; i++) sample[i] = BigInt(b.sampleIds[i]);
  // input_ids, topk_ids and topk_logprobs each carry their own copy of the offsets.
  return [bytesOf(sample), bytesOf(b.inputIds), bytesOf(b.offsets), bytesOf(b.offsets), bytesOf(b.offsets)];
}
