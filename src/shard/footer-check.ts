// The Arrow footer of a shard against its manifest entry: one set of checks for the server
// (which refuses to serve on the first disagreement) and `verify` (which lists them all).
import type { ShardEntry } from './manifest.js';
import { FILE_HEAD, type ParsedFooter, parseFooter } from './ipc-framing.js';
import { layoutFromSchema } from './schema.js';
import type { ShardFile } from './shard-file.js';
import type { TopkLayout } from './types.js';

/** int32 footer length + "ARROW1" after the footer flatbuffer. */
const TAIL_TRAILER = 10;

/** Reads exactly the footer of an open shard (two small reads, whatever the file size). */
export function readShardFooter(file: ShardFile, where: string): ParsedFooter & { footerStart: number } {
  const { size } = file;
  if (size < FILE_HEAD.length + TAIL_TRAILER) throw new Error(`${where}: ${size} bytes is too small for an Arrow file`);
  const footerLength = file.read(size - TAIL_TRAILER, TAIL_TRAILER).readInt32LE(0);
  if (footerLength <= 0 || footerLength + TAIL_TRAILER + FILE_HEAD.length > size) {
    throw new Error(`${where}: footer length ${footerLength} does not fit a ${size}-byte file`);
  }
  const footerStart = size - TAIL_TRAILER - footerLength;
  return { ...parseFooter(file.read(footerStart, footerLength + TAIL_TRAILER), size, where), footerStart };
}

export interface FooterProblem { batch: number | null; message: string }

/** Every way the footer disagrees with the manifest entry (empty when they agree). */
export function footerProblems(footer: ParsedFooter & { footerStart: number }, shard: ShardEntry, layout: TopkLayout): FooterProblem[] {
  const problems: FooterProblem[] = [];
  const fl = layoutFromSchema(footer.schema, `shard ${shard.file}`);
  if (fl.k !== layout.k || fl.values !== layout.values || fl.vocabSize !== layout.vocabSize) {
    problems.push({ batch: null, message: `footer schema k=${fl.k} ${fl.values} vocab ${fl.vocabSize} differs from manifest k=${layout.k} ${layout.values} vocab ${layout.vocabSize}` });
  }
  if (footer.blocks.length !== shard.batchCount) {
    problems.push({ batch: null, message: `footer lists ${footer.blocks.length} record batches, manifest ${shard.batchCount}` });
  }
  if (footer.schemaLength !== shard.schemaLength) {
    problems.push({ batch: null, message: `footer places the first batch after a ${footer.schemaLength}-byte schema message, manifest says ${shard.schemaLength}` });
  }
  footer.blocks.forEach((b, i) => {
    const entry = shard.batches[i];
    const length = b.metaDataLength + b.bodyLength;
    const batch = shard.firstBatch + i;
    if (entry && (b.offset !== entry.offset || length !== entry.length)) {
      problems.push({ batch, message: `footer block ${i} at ${b.offset}+${length} differs from manifest batch ${batch} at ${entry.offset}+${entry.length}` });
    }
    if (b.offset + length > footer.footerStart) problems.push({ batch, message: `footer block ${i} runs into the footer` });
  });
  return problems;
}
