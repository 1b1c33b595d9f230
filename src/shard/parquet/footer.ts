// The tail of a Parquet shard (footer, its length, "PAR1"), parsed only after its sha256
// matched the manifest. It must describe exactly what the index says: one row group per
// batch at the index's byte range, its column chunks back to back, columns that are the
// Arrow schema's (ARROW:schema) leaf columns with the same physical types.
import { RecordBatchReader, type Schema } from 'apache-arrow';
import { type ColumnMetaData, parquetMetadata } from 'hyparquet';
import { EOS } from '../ipc-framing.js';
import type { ShardIndex } from '../index-file.js';
import { ARROW_SCHEMA_KEY, type LeafColumn, leafColumns, PARQUET_MAGIC } from './parquet-schema.js';

export interface RowGroupMeta { offset: number; length: number; rows: number; columns: ColumnMetaData[] }

export interface ParquetFooter {
  /** The Arrow IPC schema message from ARROW:schema: the head of every stream served. */
  schemaMessage: Uint8Array;
  schema: Schema;
  leaves: LeafColumn[];
  rowGroups: RowGroupMeta[];
}

/** Parses a verified tail. Throws an Error whose message says what is wrong (the caller names the shard). */
export function parseTail(tail: Uint8Array): ParquetFooter {
  for (let i = 0; i < 4; i++) if (tail[tail.length - 4 + i] !== PARQUET_MAGIC[i]) throw new Error('tail does not end in PAR1');
  const footerLength = new DataView(tail.buffer, tail.byteOffset, tail.byteLength).getUint32(tail.length - 8, true);
  if (footerLength !== tail.length - 8) throw new Error(`footer length ${footerLength} does not fill the ${tail.length}-byte tail`);
  const meta = parquetMetadata(tail);
  const b64 = meta.key_value_metadata?.find((kv) => kv.key === ARROW_SCHEMA_KEY)?.value;
  if (!b64) throw new Error(`footer has no ${ARROW_SCHEMA_KEY}`);
  const schemaMessage = new Uint8Array(Buffer.from(b64, 'base64'));
  const withEos = new Uint8Array(schemaMessage.length + EOS.length);
  withEos.set(schemaMessage, 0);
  withEos.set(EOS, schemaMessage.length);
  const schema = RecordBatchReader.from(withEos).open().schema;
  const leaves = leafColumns(schema);
  const rowGroups = meta.row_groups.map((rg, r): RowGroupMeta => {
    if (rg.columns.length !== leaves.length) throw new Error(`row group ${r} has ${rg.columns.length} columns, the Arrow schema ${leaves.length}`);
    let offset = -1, end = -1;
    const columns = rg.columns.map((c, i) => {
      const m = c.meta_data;
      if (!m) throw new Error(`row group ${r} column ${i} has no metadata`);
      const leaf = leaves[i];
      if (m.path_in_schema.join('.') !== leaf.path.join('.') || m.type !== leaf.physical) {
        throw new Error(`row group ${r} column ${i} is ${m.path_in_schema.join('.')} ${m.type}, the Arrow schema says ${leaf.path.join('.')} ${leaf.physical}`);
      }
      const start = Number(m.dictionary_page_offset ?? m.data_page_offset);
      if (offset < 0) offset = start;
      else if (start !== end) throw new Error(`row group ${r} column ${i} starts at ${start}, not where column ${i - 1} ended (${end})`);
      end = start + Number(m.total_compressed_size);
      return m;
    });
    return { offset, length: end - offset, rows: Number(rg.num_rows), columns };
  });
  return { schemaMessage, schema, leaves, rowGroups };
}

/** The footer's row groups against the checked index: same count, same byte ranges, same rows. */
export function footerIndexProblems(footer: ParquetFooter, index: ShardIndex): string[] {
  const out: string[] = [];
  if (footer.rowGroups.length !== index.rows) out.push(`footer lists ${footer.rowGroups.length} row groups, index ${index.rows}`);
  footer.rowGroups.forEach((rg, i) => {
    if (i >= index.rows) return;
    if (rg.offset !== index.offset[i] || rg.length !== index.length[i] || rg.rows !== index.samples[i]) {
      out.push(`footer row group ${i} at ${rg.offset}+${rg.length} (${rg.rows} rows) differs from index row ${i} at ${index.offset[i]}+${index.length[i]} (${index.samples[i]} samples)`);
    }
  });
  return out;
}
