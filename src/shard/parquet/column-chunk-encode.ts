// Writing one column chunk of one row group: an optional dictionary page, then a single
// DATA_PAGE (v1) holding the repetition levels, definition levels and values, compressed
// together (levels of top-k lists repeat every k values, which the codec then nearly erases;
// v2 pages would store them uncompressed). Read back by column-chunk-decode.ts.
import type { Data } from 'apache-arrow';
import type { CodecName } from '../types.js';
import { buildDictionary } from './dictionary.js';
import { ENCODING_ID, encodeLeafValues, type ValueEncodingName } from './leaf-values.js';
import { shred } from './levels.js';
import { compressPage, PARQUET_CODEC } from './page-codec.js';
import { type LeafColumn, PHYSICAL_ID } from './parquet-schema.js';
import { bitWidth, encodeRleHybrid } from './rle.js';
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

export function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
