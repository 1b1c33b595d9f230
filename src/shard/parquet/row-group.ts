// One verified row group back to the Arrow record batch it was written from, and to the
// one-batch Arrow IPC stream GET /logits serves: the footer's schema message, the batch
// re-encoded (uncompressed) by the same encoder the writer hashed, end-of-stream.
import { makeData, RecordBatch, Struct } from 'apache-arrow';
import { batchStream, serializeBatch } from '../ipc-framing.js';
import { decodeColumnChunk } from './column-chunk-decode.js';
import type { ParquetFooter, RowGroupMeta } from './footer.js';

/** `bytes` are exactly the row group's range, already hashed against the index. */
export function decodeRowGroup(bytes: Uint8Array, rg: RowGroupMeta, footer: ParquetFooter, where: string): RecordBatch {
  const children = footer.leaves.map((leaf, i) => {
    const m = rg.columns[i];
    const start = Number(m.dictionary_page_offset ?? m.data_page_offset) - rg.offset;
    const chunk = bytes.subarray(start, start + Number(m.total_compressed_size));
    return decodeColumnChunk(chunk, m, leaf, footer.schema.fields[i].type, rg.rows, `${where} column ${leaf.field}`);
  });
  const struct = makeData({ type: new Struct(footer.schema.fields), length: rg.rows, nullCount: 0, children });
  return new RecordBatch(footer.schema, struct);
}

/** The served stream of a decoded batch; `alloc` places it (the server's body pool). */
export function streamOf(rb: RecordBatch, schemaMessage: Uint8Array, alloc?: (n: number) => Uint8Array): { stream: Uint8Array; message: Uint8Array } {
  const { batchBytes } = serializeBatch(rb, null);
  const stream = batchStream(schemaMessage, batchBytes, alloc);
  return { stream, message: stream.subarray(schemaMessage.length, schemaMessage.length + batchBytes.length) };
}
