import { CodedError } from '../errors.js';

/** A shard whose bytes disagree with the manifest: its data must never be used or sent. */
export class ShardCorruptError extends CodedError {
  declare readonly code: 'LC_ERR_SHARD_CORRUPT';
  constructor(readonly file: string, readonly batchIndex: number | null, detail: string) {
    super('LC_ERR_SHARD_CORRUPT', `shard ${file}${batchIndex === null ? '' : ` batch ${batchIndex}`}: ${detail}`, { file, batchIndex });
    this.name = 'ShardCorruptError';
  }
}
