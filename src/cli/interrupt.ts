// Ctrl-C (SIGINT) or SIGTERM during a precompute: undo what is not committed (temporary shard,
// lock), say how to resume, exit 130 (LC_ERR_INTERRUPTED). Synchronous on purpose: signal
// handlers run between JavaScript tasks, never inside a write, so every committed shard is whole.
import { ERRORS } from '../errors.js';
import { runInterruptCleanup } from '../shard/cleanup.js';

export function exitOnInterrupt(name: string, resumeHint: string): () => void {
  const handler = (signal: NodeJS.Signals) => {
    runInterruptCleanup();
    process.stderr.write(`\n${name}: [LC_ERR_INTERRUPTED] interrupted by ${signal}; committed shards are kept: ${resumeHint}\n`);
    process.exit(ERRORS.LC_ERR_INTERRUPTED.exit);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
