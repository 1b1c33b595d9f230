// Start-up timestamps for bench/precompute: with LOGIT_CACHE_TRACE=1 each stage of a run
// prints "trace <ms since process start> <what>" on stderr, from the main thread and the
// teacher worker alike (process.uptime() is the process's clock in every thread), so the
// critical path from launch to the first teacher result can be read off one run.
const enabled = process.env.LOGIT_CACHE_TRACE === '1';

export function trace(what: string): void {
  if (enabled) process.stderr.write(`trace ${(process.uptime() * 1000).toFixed(1)} ${what}\n`);
}
