// logit-cache verify <datasetDir>: recompute every checksum; exit 1 naming what is wrong.
import { folderCommand } from './args.js';

export const verifyCommand = folderCommand(
  'verify',
  'Usage: logit-cache verify <datasetDir>\n\nChecks every file the manifest names: each shard\'s size and sha256, its index file and schema\nmessage (hashed before they are parsed), and every batch\'s sha256 and decoded contents.',
  {
    quiet: { type: 'boolean', help: 'no progress on stderr' },
    help: { type: 'boolean', help: 'show this help' },
  },
  async (dir, values) => {
    const { verifyDataset } = await import('../shard/verify.js');
    const report = await verifyDataset(dir, values.quiet ? undefined : (e) => process.stderr.write(`verifying ${e.file} (${e.done + 1}/${e.total})\n`));
    for (const p of report.problems) {
      process.stderr.write(`FAIL ${p.shard ?? report.datasetDir}${p.batch === null ? '' : ` batch ${p.batch}`}: ${p.message}${p.code ? ` [${p.code}]` : ''}\n`);
    }
    process.stdout.write(`${JSON.stringify({ ok: report.problems.length === 0, shards: report.shards, batches: report.batches, checked: report.checked, problems: report.problems.length })}\n`);
    return report.problems.length === 0 ? 0 : 1;
  },
);
