// Step 3 of the checked read for a Parquet shard (docs/FORMAT.md §9): the tail's bytes hash
// to the manifest's schemaSha256 before the footer is parsed; the footer then has to agree
// with the (already checked) index, row group for row group.
import { createHash } from 'node:crypto';
import type { ByteSource } from '../byte-source.js';
import type { ShardIndex } from '../index-file.js';
import type { ShardEntry } from '../manifest.js';
import { footerIndexProblems, type ParquetFooter, parseTail } from './footer.js';

export async function checkParquetTail(shard: ByteSource, entry: ShardEntry, index: ShardIndex, fail: (detail: string) => never): Promise<ParquetFooter> {
  const tail = await shard.read(entry.bytes - entry.schemaLength, entry.bytes);
  const sha = createHash('sha256').update(tail).digest('hex');
  if (sha !== entry.schemaSha256) fail(`Parquet tail (footer) sha256 ${sha} does not match manifest ${entry.schemaSha256}`);
  let footer: ParquetFooter;
  try {
    footer = parseTail(tail);
  } catch (e) {
    return fail(`Parquet footer: ${(e as Error).message}`);
  }
  const problems = footerIndexProblems(footer, index);
  if (problems.length) fail(problems.join('; '));
  return footer;
}
