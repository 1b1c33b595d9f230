// What an interrupted writer must undo before the process exits: temporary files not yet
// committed and locks it holds. Writers register an undo step when they create such a thing
// and drop it when they commit or release; the command's SIGINT/SIGTERM handler runs what is
// left, so Ctrl-C leaves only committed shards (and no lock) behind.
const pending = new Set<() => void>();

/** Registers `undo` to run if the process is interrupted; call the returned function once it is no longer needed. */
export function onInterrupt(undo: () => void): () => void {
  pending.add(undo);
  return () => {
    pending.delete(undo);
  };
}

/** Runs every registered undo step (each at most once), newest first; errors are ignored: the process is exiting. */
export function runInterruptCleanup(): number {
  const steps = [...pending].reverse();
  pending.clear();
  for (const undo of steps) {
    try {
      undo();
    } catch {
      // best effort: a leftover is cleaned by the next run
    }
  }
  return steps.length;
}
