// One column chunk of one row group: a single DATA_PAGE (v1) holding the repetition levels,
// definition levels and values, compressed together (levels of top-k lists repeat every k
// values, which the codec then nearly erases; v2 pages would store them uncompressed). The
// reader accepts one or more v1 data pages, PLAIN or BYTE_STREAM_SPLIT values, and refuses
// anything else (dictionary pages, v2 pages, other encodings) by name.
import type { Data, DataType } from 'apache-arrow';
import type { ColumnMetaData } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { readRleBitPackedHybrid } from 'hyparquet/src/encoding.js';
import type { CodecName } from '../types.js';
import { decodeLeafValues, ENCODING_ID, encodeLeafValues, type ValueEncodingName } from './leaf-values.js';
import { assemble, type LeafValues, shred } from './levels.js';
import { compressPage, decompressPage, PARQUET_CODEC } from './page-codec.js';
import { type LeafColumn, PHYSICAL_ID } from './parquet-schema.js';
import { bitWidth, encodeRleHybrid } from './rle.js';
import { encodeStruct, i32, i64, struct, type ThriftStruct } from './thrift-writer.js';

export interface ChunkSettings {
  codec: CodecName;
  zstdLevel?: number;
  /** Value encoding of a leaf (BYTE_STREAM_SPLIT or PLAIN). */
  encodingOf(leaf: LeafColumn): ValueEncodingName;
}

export interface EncodedChunk {
  /** Page header then page body: written back to back. */
  header: Uint8Array;
  body: Uint8Array;
  uncompressedSize: number;
  /** Level entries (values for a flat column): the page's and the chunk's num_values. */
  numValues: number;
  encoding: ValueEncodingName;
}

const DATA_PAGE = 0;

function withLength(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length, true);
  out.set(bytes, 4);
  return out;
}

export function encodeColumnChunk(leaf: LeafColumn, column: Data, settings: ChunkSettings): EncodedChunk {
  const { levels, rep, def, values } = shred(column, leaf);
  const encoding = settings.encodingOf(leaf);
  const parts: Uint8Array[] = [];
  if (leaf.maxRep > 0) {
    const w = bitWidth(leaf.maxRep);
    parts.push(withLength(encodeRleHybrid(rep, levels, w)), withLength(encodeRleHybrid(def, levels, w)));
  }
  parts.push(encodeLeafValues(leaf, values, encoding));
  const size = parts.reduce((a, p) => a + p.length, 0);
  const page = parts.length === 1 ? parts[0] : concat(parts, size);
  const body = compressPage(settings.codec, page, settings.zstdLevel);
  const numValues = leaf.maxRep > 0 ? levels : values.length;
  const header = encodeStruct([
    [1, i32(DATA_PAGE)], [2, i32(size)], [3, i32(body.length)],
    [5, struct([[1, i32(numValues)], [2, i32(ENCODING_ID[encoding])], [3, i32(ENCODING_ID.RLE)], [4, i32(ENCODING_ID.RLE)]])],
  ]);
  return { header, body, uncompressedSize: size, numValues, encoding };
}

/** The ColumnChunk footer struct of a chunk written at `offset`. */
export function columnChunkStruct(leaf: LeafColumn, chunk: EncodedChunk, offset: number, codec: CodecName): ThriftStruct {
  const h = chunk.header.length;
  return [
    [2, i64(0)], // file_offset: deprecated, 0 as current writers set it
    [3, struct([
      [1, i32(PHYSICAL_ID[leaf.physical])],
      [2, { t: 'list', elem: 'i32', v: [ENCODING_ID[chunk.encoding], ENCODING_ID.RLE] }],
      [3, { t: 'list', elem: 'binary', v: leaf.path }],
      [4, i32(PARQUET_CODEC[codec])],
      [5, i64(chunk.numValues)],
      [6, i64(h + chunk.uncompressedSize)],
      [7, i64(h + chunk.body.length)],
      [9, i64(offset)],
    ])],
  ];
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/**
 * Decodes a chunk from its (verified) bytes into the column's Arrow Data of `rows` rows.
 * `meta` comes from the verified footer; `bytes` are exactly the chunk's range.
 */
export function decodeColumnChunk(bytes: Uint8Array, meta: ColumnMetaData, leaf: LeafColumn, type: DataType, rows: number, where: string): Data {
  if (meta.dictionary_page_offset !== undefined) throw new Error(`${where}: dictionary pages are not read by this reader`);
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  const reps: Uint8Array[] = [], defs: Uint8Array[] = [], vals: LeafValues[] = [];
  let levels = 0;
  while (reader.offset < bytes.length) {
    const ph = parquetHeader(reader);
    if (ph.type !== 'DATA_PAGE' || !ph.data_page_header) throw new Error(`${where}: page type ${ph.type} is not read by this reader (DATA_PAGE only)`);
    const start = reader.offset;
    if (start + ph.compressed_page_size > bytes.length) throw new Error(`${where}: page of ${ph.compressed_page_size} bytes overruns the chunk`);
    const page = decompressPage(meta.codec, bytes.subarray(start, start + ph.compressed_page_size), ph.uncompressed_page_size, where);
    reader.offset = start + ph.compressed_page_size;
    const n = ph.data_page_header.num_values;
    const pr = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: 0 };
    let leafCount = n;
    if (leaf.maxRep > 0) {
      const w = bitWidth(leaf.maxRep);
      const rep = new Uint8Array(n), def = new Uint8Array(n);
      readRleBitPackedHybrid(pr, w, rep);
      readRleBitPackedHybrid(pr, w, def);
      leafCount = 0;
      for (let i = 0; i < n; i++) if (def[i] === leaf.maxRep) leafCount++;
      reps.push(rep); defs.push(def);
      levels += n;
    }
    vals.push(decodeLeafValues(leaf, page.subarray(pr.offset), leafCount, ph.data_page_header.encoding, where));
  }
  const values = vals.length === 1 ? vals[0] : joinValues(vals);
  if (leaf.maxRep === 0) return assemble(type, leaf, rows, new Uint8Array(0), new Uint8Array(0), 0, values, where);
  const rep = reps.length === 1 ? reps[0] : concat(reps, levels);
  const def = defs.length === 1 ? defs[0] : concat(defs, levels);
  return assemble(type, leaf, rows, rep, def, levels, values, where);
}

function joinValues(parts: LeafValues[]): LeafValues {
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new (parts[0].constructor as new (n: number) => LeafValues)(total);
  let at = 0;
  for (const p of parts) { (out as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(p, at); at += p.length; }
  return out;
}
