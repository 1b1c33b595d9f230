// logit-cache finalize <datasetDir>: write the manifest once every worker's shards are in.
import { folderCommand } from './args.js';

export const finalizeCommand = folderCommand(
  'finalize',
  'Usage: logit-cache finalize <datasetDir>\n\nChecks every shard the precompute workers committed (sha256 against its sidecar) and writes\nmanifest.json. Exit 1 naming the shards still missing. The last worker to finish does this itself.',
  { help: { type: 'boolean', help: 'show this help' } },
  async (dir) => {
    const { finalizeDataset } = await import('../shard/finalize.js');
    const result = finalizeDataset(dir);
    if (Array.isArray(result)) {
      process.stderr.write(`logit-cache finalize: shards ${result.join(', ')} are missing or do not match their sidecars; run the workers that own them\n`);
      process.stdout.write(`${JSON.stringify({ complete: false, missingShards: result })}\n`);
      return 1;
    }
    process.stdout.write(`${JSON.stringify({ complete: true, datasetId: result.datasetId, batches: result.batchCount, shards: result.shards.length, tokens: result.tokenCount })}\n`);
    return 0;
  },
);
