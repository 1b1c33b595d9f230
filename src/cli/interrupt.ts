// Ctrl-C (SIGINT) or SIGTERM during a precompute: stop the teacher worker after its current
// call (src/interrupt.ts says why it cannot simply be torn down), undo what is not committed
// (temporary shard, lock), say how to resume, exit 130 (LC_ERR_INTERRUPTED). The undo runs
// after the worker stopped, so nothing the pipeline did meanwhile is left half-written.
import { ERRORS } from '../errors.js';
import { stopAll } from '../interrupt.js';
import { runInterruptCleanup } from '../shard/cleanup.js';

/** How long an interrupt waits for the teacher's current call before exiting anyway. */
const STOP_TIMEOUT_MS = 30_000;

export function exitOnInterrupt(name: string, resumeHint: string): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    void stopAll(STOP_TIMEOUT_MS).finally(() => {
      runInterruptCleanup();
      process.stderr.write(`\n${name}: [LC_ERR_INTERRUPTED] interrupted by ${signal}; committed shards are kept: ${resumeHint}\n`);
      process.exit(ERRORS.LC_ERR_INTERRUPTED.exit);
    });
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
