// logit-cache migrate <datasetDir>: converts a format 1.x dataset to 2.0 in place.
import { folderCommand } from './args.js';

export const migrateCommand = folderCommand(
  'migrate',
  'Usage: logit-cache migrate <datasetDir>\n\nConverts a format 1.x dataset to 2.0 in place without rewriting its shards: checks every shard\nand batch against the 1.x manifest, writes an index file beside each shard, then commits the 2.0\nmanifest atomically. Exit 1, changing nothing a reader uses, when the shards disagree with the\nmanifest. A 2.x dataset is left as it is.',
  { help: { type: 'boolean', help: 'show this help' } },
  async (dir) => {
    const { migrateDataset } = await import('../shard/migrate.js');
    const r = await migrateDataset(dir);
    if (!r.migrated) process.stderr.write(`logit-cache migrate: ${dir} is already format ${r.from}; nothing to do\n`);
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  },
);
