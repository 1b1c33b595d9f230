// logit-cache finalize <datasetDir>: write the manifest once every worker's shards are in.
import { formatHelp, type OptionTable, parseOptions, runCommand } from './args.js';
import { UsageError } from '../precompute/errors.js';

const OPTIONS = { help: { type: 'boolean', help: 'show this help' } } satisfies OptionTable;

export async function finalizeCommand(argv: string[]): Promise<number> {
  return runCommand('logit-cache finalize', async () => {
    const { values, positionals } = parseOptions(argv, OPTIONS);
    if (values.help) {
      process.stdout.write(formatHelp('Usage: logit-cache finalize <datasetDir>\n\nChecks every shard the precompute workers committed (sha256 against its sidecar) and writes\nmanifest.json. Exit 1 naming the shards still missing. The last worker to finish does this itself.', OPTIONS));
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('finalize takes exactly one dataset folder');
    const { finalizeDataset } = await import('../shard/finalize.js');
    const result = finalizeDataset(positionals[0]);
    if (Array.isArray(result)) {
      process.stderr.write(`logit-cache finalize: shards ${result.join(', ')} are missing or do not match their sidecars; run the workers that own them\n`);
      process.stdout.write(`${JSON.stringify({ complete: false, missingShards: result })}\n`);
      return 1;
    }
    process.stdout.write(`${JSON.stringify({ complete: true, datasetId: result.datasetId, batches: result.batchCount, shards: result.shards.length, tokens: result.tokenCount })}\n`);
    return 0;
  });
}
