// logit-cache verify <datasetDir>: recompute every checksum; exit 1 naming what is wrong.
import { formatHelp, type OptionTable, parseOptions, runCommand } from './args.js';
import { UsageError } from '../precompute/errors.js';

const OPTIONS = {
  quiet: { type: 'boolean', help: 'no progress on stderr' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies OptionTable;

export async function verifyCommand(argv: string[]): Promise<number> {
  return runCommand('logit-cache verify', async () => {
    const { values, positionals } = parseOptions(argv, OPTIONS);
    if (values.help) {
      process.stdout.write(formatHelp('Usage: logit-cache verify <datasetDir>\n\nChecks every shard sha256, footer and batch checksum against the manifest.', OPTIONS));
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('verify takes exactly one dataset folder');
    const { verifyDataset } = await import('../shard/verify.js');
    const report = verifyDataset(positionals[0], values.quiet ? undefined : (e) => process.stderr.write(`verifying ${e.file} (${e.done + 1}/${e.total})\n`));
    for (const p of report.problems) {
      process.stderr.write(`FAIL ${p.shard ?? report.datasetDir}${p.batch === null ? '' : ` batch ${p.batch}`}: ${p.message}\n`);
    }
    process.stdout.write(`${JSON.stringify({ ok: report.problems.length === 0, shards: report.shards, batches: report.batches, checked: report.checked, problems: report.problems.length })}\n`);
    return report.problems.length === 0 ? 0 : 1;
  });
}
