// Reading one column chunk from its verified bytes: a dictionary page (optional, first) and
// one or more v1 data pages with PLAIN, BYTE_STREAM_SPLIT or RLE_DICTIONARY values, decoded to
// the column's Arrow Data. Anything else (v2 pages, other encodings) is refused by name.
import type { Data, DataType } from 'apache-arrow';
import type { ColumnMetaData } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { concat } from './column-chunk-encode.js';
import { lookUp } from './dictionary.js';
import { decodeLeafValues } from './leaf-values.js';
import { assemble, type LeafValues } from './levels.js';
import { decompressPage } from './page-codec.js';
import type { LeafColumn } from './parquet-schema.js';
import { bitWidth, decodeRleHybrid } from './rle.js';

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
