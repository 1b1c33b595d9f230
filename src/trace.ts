// Start-up timestamps for bench/precompute: with LOGIT_CACHE_TRACE=1 each stage of a run
// prints "trace <ms since process start> <process CPU ms> <what>" on stderr, from the main
// thread and the teacher worker alike (process.uptime() and process.cpuUsage() are the
// process's clocks in every thread), so the critical path from launch to the first teacher
// result can be read off one run, and on a loaded machine, where wall time is mostly waiting
// for a core, the CPU each stage took. On Linux the calling thread's own CPU follows the stage
// in brackets ("[thread 12.3]", from /proc/thread-self/schedstat): the process clock mixes
// the main thread's and the worker's work, which run at the same time.
import { readFileSync } from 'node:fs';

const enabled = process.env.LOGIT_CACHE_TRACE === '1';

export function trace(what: string): void {
  if (!enabled) return;
  const cpu = process.cpuUsage();
  process.stderr.write(`trace ${(process.uptime() * 1000).toFixed(1)} ${((cpu.user + cpu.system) / 1000).toFixed(1)} ${what}${threadCpu()}\n`);
}

function threadCpu(): string {
  try {
    // First field: nanoseconds this thread has spent on a CPU.
    const ns = Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
    return ` [thread ${(ns / 1e6).toFixed(1)}]`;
  } catch {
    return '';
  }
}
