// One column chunk of one row group: an optional dictionary page, then a single DATA_PAGE
// (v1) holding the repetition levels, definition levels and values, compressed together
// (levels of top-k lists repeat every k values, which the codec then nearly erases; v2 pages
// would store them uncompressed). The reader accepts a dictionary page and one or more v1 data
// pages with PLAIN, BYTE_STREAM_SPLIT or RLE_DICTIONARY values, and refuses anything else
// (v2 pages, other encodings) by name.
import type { Data, DataType } from 'apache-arrow';
import type { ColumnMetaData } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import type { CodecName } from '../types.js';
import { buildDictionary, lookUp } from './dictionary.js';
import { decodeLeafValues, ENCODING_ID, encodeLeafValues, type ValueEncodingName } from './leaf-values.js';
import { assemble, type LeafValues, shred } from './levels.js';
import { compressPage, decompressPage, PARQUET_CODEC } from './page-codec.js';
import { type LeafColumn, PHYSICAL_ID } from './parquet-schema.js';
import { bitWidth, decodeRleHybrid, encodeRleHybrid } from './rle.js';
import { encodeStruct, i32, i64, struct, type ThriftStruct } from './thrift-writer.js';

export interface ChunkSettings {
  codec: CodecName;
  zstdLevel?: number;
  /** Value encoding of a leaf (RLE_DICTIONARY falls back to PLAIN past 65,536 distinct values). */
  encodingOf(leaf: LeafColumn): ValueEncodingName;
}

export interface Page { header: Uint8Array; body: Uint8Array; uncompressedSize: number }

export interface EncodedChunk {
  /** Written back to back: the dictionary page (when `dictionary`), then the data page. */
  pages: Page[];
  dictionary: boolean;
  /** Level entries (values for a flat column): the data page's and the chunk's num_values. */
  numValues: number;
  encoding: ValueEncodingName;
}

const DATA_PAGE = 0, DICTIONARY_PAGE = 2;

function withLength(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length, true);
  out.set(bytes, 4);
  return out;
}

function page(settings: ChunkSettings, parts: Uint8Array[], header: (size: number, compressed: number) => ThriftStruct): Page {
  const size = parts.reduce((a, p) => a + p.length, 0);
  const raw = parts.length === 1 ? parts[0] : concat(parts, size);
  const body = compressPage(settings.codec, raw, settings.zstdLevel);
  return { header: encodeStruct(header(size, body.length)), body, uncompressedSize: size };
}

export function encodeColumnChunk(leaf: LeafColumn, column: Data, settings: ChunkSettings): EncodedChunk {
  const { levels, rep, def, values } = shred(column, leaf);
  let encoding = settings.encodingOf(leaf);
  const dict = encoding === 'RLE_DICTIONARY' ? buildDictionary(values) : null;
  if (encoding === 'RLE_DICTIONARY' && !dict) encoding = 'PLAIN';
  const pages: Page[] = [];
  if (dict) {
    pages.push(page(settings, [encodeLeafValues(leaf, dict.values, 'PLAIN')], (size, compressed) => [
      [1, i32(DICTIONARY_PAGE)], [2, i32(size)], [3, i32(compressed)], [7, struct([[1, i32(dict.values.length)], [2, i32(ENCODING_ID.PLAIN)]])],
    ]));
  }
  const parts: Uint8Array[] = [];
  if (leaf.maxRep > 0) {
    const w = bitWidth(leaf.maxRep);
    parts.push(withLength(encodeRleHybrid(rep, levels, w)), withLength(encodeRleHybrid(def, levels, w)));
  }
  if (dict) parts.push(new Uint8Array([dict.width]), encodeRleHybrid(dict.indices, dict.indices.length, dict.width));
  else parts.push(encodeLeafValues(leaf, values, encoding as 'PLAIN' | 'BYTE_STREAM_SPLIT'));
  const numValues = leaf.maxRep > 0 ? levels : values.length;
  pages.push(page(settings, parts, (size, compressed) => [
    [1, i32(DATA_PAGE)], [2, i32(size)], [3, i32(compressed)],
    [5, struct([[1, i32(numValues)], [2, i32(ENCODING_ID[encoding])], [3, i32(ENCODING_ID.RLE)], [4, i32(ENCODING_ID.RLE)]])],
  ]));
  return { pages, dictionary: dict !== null, numValues, encoding };
}

/** The ColumnChunk footer struct of a chunk written at `offset`. */
export function columnChunkStruct(leaf: LeafColumn, chunk: EncodedChunk, offset: number, codec: CodecName): ThriftStruct {
  const sum = (f: (p: Page) => number) => chunk.pages.reduce((a, p) => a + p.header.length + f(p), 0);
  const dictBytes = chunk.dictionary ? chunk.pages[0].header.length + chunk.pages[0].body.length : 0;
  const encodings = chunk.dictionary ? [ENCODING_ID.PLAIN, ENCODING_ID.RLE, ENCODING_ID.RLE_DICTIONARY] : [ENCODING_ID[chunk.encoding], ENCODING_ID.RLE];
  return [
    [2, i64(0)], // file_offset: deprecated, 0 as current writers set it
    [3, struct([
      [1, i32(PHYSICAL_ID[leaf.physical])],
      [2, { t: 'list', elem: 'i32', v: encodings }],
      [3, { t: 'list', elem: 'binary', v: leaf.path }],
      [4, i32(PARQUET_CODEC[codec])],
      [5, i64(chunk.numValues)],
      [6, i64(sum((p) => p.uncompressedSize))],
      [7, i64(sum((p) => p.body.length))],
      [9, i64(offset + dictBytes)],
      [11, chunk.dictionary ? i64(offset) : undefined],
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
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  const reps: Uint8Array[] = [], defs: Uint8Array[] = [], vals: LeafValues[] = [];
  let levels = 0;
  let dict: LeafValues | null = null;
  while (reader.offset < bytes.length) {
    const ph = parquetHeader(reader);
    const start = reader.offset;
    if (start + ph.compressed_page_size > bytes.length) throw new Error(`${where}: page of ${ph.compressed_page_size} bytes overruns the chunk`);
    const body = decompressPage(meta.codec, bytes.subarray(start, start + ph.compressed_page_size), ph.uncompressed_page_size, where);
    reader.offset = start + ph.compressed_page_size;
    if (ph.type === 'DICTIONARY_PAGE' && ph.dictionary_page_header && dict === null && vals.length === 0) {
      const d = ph.dictionary_page_header;
      if (d.encoding !== 'PLAIN' && d.encoding !== 'PLAIN_DICTIONARY') throw new Error(`${where}: dictionary page encoding ${d.encoding} is not read by this reader`);
      dict = decodeLeafValues(leaf, body, d.num_values, 'PLAIN', `${where} dictionary`);
      continue;
    }
    if (ph.type !== 'DATA_PAGE' || !ph.data_page_header) throw new Error(`${where}: page type ${ph.type} is not read by this reader (one DICTIONARY_PAGE first, then DATA_PAGE)`);
    const n = ph.data_page_header.num_values;
    let pos = 0;
    let leafCount = n;
    if (leaf.maxRep > 0) {
      const w = bitWidth(leaf.maxRep);
      const rep = new Uint8Array(n), def = new Uint8Array(n);
      pos = levelsAt(body, pos, w, rep, `${where} repetition levels`);
      pos = levelsAt(body, pos, w, def, `${where} definition levels`);
      leafCount = 0;
      for (let i = 0; i < n; i++) if (def[i] === leaf.maxRep) leafCount++;
      reps.push(rep); defs.push(def);
      levels += n;
    }
    const encoding = ph.data_page_header.encoding;
    if (encoding === 'RLE_DICTIONARY' || encoding === 'PLAIN_DICTIONARY') {
      if (!dict) throw new Error(`${where}: ${encoding} data page without a dictionary page`);
      const width = body[pos++];
      const indices = new Uint32Array(leafCount);
      if (leafCount > 0) decodeRleHybrid(body, pos, body.length, width, indices, `${where} dictionary indices`);
      vals.push(lookUp(dict, indices, where));
    } else vals.push(decodeLeafValues(leaf, body.subarray(pos), leafCount, encoding, where));
  }
  const values = vals.length === 1 ? vals[0] : joinValues(vals);
  if (leaf.maxRep === 0) return assemble(type, leaf, rows, new Uint8Array(0), new Uint8Array(0), 0, values, where);
  const rep = reps.length === 1 ? reps[0] : concat(reps, levels);
  const def = defs.length === 1 ? defs[0] : concat(defs, levels);
  return assemble(type, leaf, rows, rep, def, levels, values, where);
}

/** v1 levels: a uint32 LE byte length, then the RLE/bit-packed hybrid. */
function levelsAt(body: Uint8Array, pos: number, width: number, out: Uint8Array, where: string): number {
  if (pos + 4 > body.length) throw new Error(`${where}: page ends before the levels' length`);
  const length = (body[pos] | (body[pos + 1] << 8) | (body[pos + 2] << 16) | (body[pos + 3] << 24)) >>> 0;
  const start = pos + 4;
  if (start + length > body.length) throw new Error(`${where}: ${length} bytes of levels overrun the page`);
  decodeRleHybrid(body, start, start + length, width, out, where);
  return start + length;
}

function joinValues(parts: LeafValues[]): LeafValues {
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new (parts[0].constructor as new (n: number) => LeafValues)(total);
  let at = 0;
  for (const p of parts) { (out as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(p, at); at += p.length; }
  return out;
}
