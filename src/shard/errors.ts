/** A shard whose bytes disagree with the manifest: its data must never be used or sent. */
export class ShardCorruptError extends Error {
  readonly code = 'LC_ERR_SHARD_CORRUPT';
  constructor(readonly file: string, readonly batchIndex: number | null, detail: string) {
    super(`shard ${file}${batchIndex === null ? '' : ` batch ${batchIndex}`}: ${detail}`);
    this.name = 'ShardCorruptError';
  }
}
