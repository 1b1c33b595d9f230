// logit-cache finalize <datasetDir>: write the manifest once every worker's shards are in.
import { CodedError } from '../errors.js';
import { folderCommand } from './args.js';

export const finalizeCommand = folderCommand(
  'finalize',
  'Usage: logit-cache finalize <datasetDir>\n\nChecks every shard the precompute workers committed (sha256 against its sidecar) and writes\nmanifest.json. Exit 1 naming the shards still missing. The last worker to finish does this itself.',
  { help: { type: 'boolean', help: 'show this help' } },
  async (dir) => {
    const { finalizeDataset } = await import('../shard/finalize.js');
    const result = finalizeDataset(dir);
    if (Array.isArray(result)) {
      process.stdout.write(`${JSON.stringify({ complete: false, missingShards: result })}\n`);
      throw new CodedError('LC_ERR_INCOMPLETE',
        `shards ${result.join(', ')} of ${dir} are missing or do not match their sidecars; re-run the precompute command that started this dataset (it resumes after the committed shards and writes the manifest itself); with --num-workers, re-run the workers that own those shards`,
        { dir, missingShards: result });
    }
    process.stdout.write(`${JSON.stringify({ complete: true, datasetId: result.datasetId, batches: result.batchCount, shards: result.shards.length, tokens: result.tokenCount })}\n`);
    return 0;
  },
);
