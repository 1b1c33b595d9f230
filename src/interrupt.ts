// Interrupt state shared by a command (which owns the SIGINT/SIGTERM handlers, src/cli) and the
// long-lived resources that must stop before the process may exit. A teacher running in a
// worker thread is one: process.exit() while onnxruntime is inside a call tears the thread
// down under the native binding, which aborts the process (SIGABRT) instead of exiting 130.
const stoppers = new Set<() => Promise<void>>();
let interrupted = false;

/** True once an interrupt began: errors raised by the stopping resources are not the story to tell. */
export function isInterrupted(): boolean {
  return interrupted;
}

/** Registers `stop` to run on an interrupt; call the returned function when the resource is gone. */
export function onStop(stop: () => Promise<void>): () => void {
  stoppers.add(stop);
  return () => {
    stoppers.delete(stop);
  };
}

/** Marks the process interrupted and stops every registered resource, waiting at most `timeoutMs`. */
export async function stopAll(timeoutMs: number): Promise<void> {
  interrupted = true;
  const all = Promise.allSettled([...stoppers].map((stop) => stop()));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
    timer.unref();
  });
  await Promise.race([all, late]);
  clearTimeout(timer);
}
