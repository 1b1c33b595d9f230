// wrk as the load generator: a Lua script picks a random batch per request, and its done()
// hook prints the summary as one JSON line, so nothing is scraped from wrk's human output.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface WrkTarget {
  /** e.g. http://127.0.0.1:8080 */
  base: string;
  /** Request path is `${prefix}${random 0..count-1}${suffix}`. */
  prefix: string;
  suffix: string;
  count: number;
  /**
   * 'random' (default): a random batch per request. 'sequential': batches 0, 1, 2, ... in
   * order (one epoch's access pattern), wrapping after count-1; wrk cannot stop early, so
   * the caller picks a duration that stays within one pass and checks `requests`.
   */
  order?: 'random' | 'sequential';
}

export interface WrkRun {
  threads: number;
  connections: number;
  seconds: number;
  requests: number;
  /** Response bytes read (headers included, as wrk counts them). */
  bytes: number;
  reqPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
}

interface WrkJson {
  requests: number; bytes: number; durationUs: number; p50Us: number; p99Us: number; maxUs: number;
  connectErrors: number; readErrors: number; writeErrors: number; statusErrors: number; timeouts: number;
}

const LUA = `
local prefix, suffix, count = os.getenv("LC_WRK_PREFIX"), os.getenv("LC_WRK_SUFFIX"), tonumber(os.getenv("LC_WRK_COUNT"))
local sequential = os.getenv("LC_WRK_ORDER") == "sequential"
local sent = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  math.randomseed(os.time() * 7919 + tid * 104729)
end
function request()
  if sequential then
    local i = sent % count
    sent = sent + 1
    return wrk.format("GET", prefix .. i .. suffix)
  end
  return wrk.format("GET", prefix .. math.random(0, count - 1) .. suffix)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"bytes":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"maxUs":%d,' ..
    '"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"statusErrors":%d,"timeouts":%d}\\n',
    summary.requests, summary.bytes, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
`;

/** Writes the Lua script into `dir` once; returns its path. */
export function writeWrkScript(dir: string): string {
  const path = join(dir, 'random-batch.lua');
  writeFileSync(path, LUA);
  return path;
}

/** One wrk run; throws when any request failed (a benchmark of errors is no benchmark). */
export function runWrk(script: string, target: WrkTarget, opts: { threads: number; connections: number; seconds: number }): Promise<WrkRun> {
  const args = ['-t', String(opts.threads), '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--timeout', '10s', '-s', script, target.base];
  if (target.order === 'sequential' && opts.threads !== 1) throw new Error('wrk: order "sequential" needs one thread (the batch counter lives in one Lua state)');
  const env = { ...process.env, LC_WRK_PREFIX: target.prefix, LC_WRK_SUFFIX: target.suffix, LC_WRK_COUNT: String(target.count), LC_WRK_ORDER: target.order ?? 'random' };
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { env, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      const line = stdout.split('\n').find((l) => l.startsWith('WRKJSON '));
      if (!line) return reject(new Error(`wrk printed no summary:\n${stdout}\n${stderr}`));
      const j = JSON.parse(line.slice('WRKJSON '.length)) as WrkJson;
      const errors = j.connectErrors + j.readErrors + j.writeErrors + j.statusErrors + j.timeouts;
      if (errors > 0) return reject(new Error(`wrk against ${target.base}${target.prefix}: ${errors} failed requests (${line})\n${stdout}`));
      const seconds = j.durationUs / 1e6;
      resolve({
        threads: opts.threads, connections: opts.connections, seconds, requests: j.requests, bytes: j.bytes,
        reqPerSec: j.requests / seconds, mbPerSec: j.bytes / seconds / 1e6,
        p50Ms: j.p50Us / 1e3, p99Ms: j.p99Us / 1e3, maxMs: j.maxUs / 1e3, errors,
      });
    });
  });
}
