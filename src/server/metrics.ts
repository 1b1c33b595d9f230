// Prometheus text exposition without a client library: a few counters, a histogram and
// gauges are all the server needs, and owning them keeps label cardinality bounded
// (route patterns, never raw URLs).

import type { StreamCacheStats } from './stream-cache.js';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Histogram { counts: number[]; sum: number; count: number }

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  private readonly bytes = new Map<string, number>();

  constructor(private readonly openShardFiles: () => number, private readonly streamCache?: () => StreamCacheStats) {}

  /** Records one finished request; `route` is the route pattern, not the URL. */
  observe(route: string, method: string, status: number, seconds: number, bytesSent: number): void {
    const rk = `route="${esc(route)}",method="${esc(method)}",status="${status}"`;
    this.requests.set(rk, (this.requests.get(rk) ?? 0) + 1);
    const lk = `route="${esc(route)}"`;
    let h = this.latency.get(lk);
    if (!h) this.latency.set(lk, (h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]) h.counts[i]++;
    h.sum += seconds;
    h.count++;
    if (bytesSent > 0) this.bytes.set(lk, (this.bytes.get(lk) ?? 0) + bytesSent);
  }

  render(): string {
    const out: string[] = [];
    out.push('# HELP logit_cache_http_requests_total HTTP requests answered, by route pattern, method and status.');
    out.push('# TYPE logit_cache_http_requests_total counter');
    for (const [k, v] of this.requests) out.push(`logit_cache_http_requests_total{${k}} ${v}`);
    out.push('# HELP logit_cache_http_request_duration_seconds Time from request to response end.');
    out.push('# TYPE logit_cache_http_request_duration_seconds histogram');
    for (const [k, h] of this.latency) {
      BUCKETS.forEach((b, i) => out.push(`logit_cache_http_request_duration_seconds_bucket{${k},le="${b}"} ${h.counts[i]}`));
      out.push(`logit_cache_http_request_duration_seconds_bucket{${k},le="+Inf"} ${h.count}`);
      out.push(`logit_cache_http_request_duration_seconds_sum{${k}} ${h.sum}`);
      out.push(`logit_cache_http_request_duration_seconds_count{${k}} ${h.count}`);
    }
    out.push('# HELP logit_cache_http_response_bytes_total Response body bytes sent, by route pattern.');
    out.push('# TYPE logit_cache_http_response_bytes_total counter');
    for (const [k, v] of this.bytes) out.push(`logit_cache_http_response_bytes_total{${k}} ${v}`);
    out.push('# HELP logit_cache_open_shard_files Shard files currently open (pooled or still in use).');
    out.push('# TYPE logit_cache_open_shard_files gauge');
    out.push(`logit_cache_open_shard_files ${this.openShardFiles()}`);
    if (this.streamCache) {
      const c = this.streamCache();
      const family = (name: string, type: 'counter' | 'gauge', help: string, v: number) => {
        out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${v}`);
      };
      family('logit_cache_reencode_cache_hits_total', 'counter', 'Re-encoded batch streams (Parquet, shared prefixes) served from memory.', c.hits);
      family('logit_cache_reencode_cache_misses_total', 'counter', 'Re-encoded batch streams built for a request (one re-encode each).', c.misses);
      family('logit_cache_reencode_cache_coalesced_total', 'counter', 'Requests that waited for a re-encode another request had started.', c.coalesced);
      family('logit_cache_reencode_cache_evictions_total', 'counter', 'Streams dropped to stay within the cache size.', c.evictions);
      family('logit_cache_reencode_cache_bytes', 'gauge', 'Bytes of streams held.', c.bytes);
      family('logit_cache_reencode_cache_entries', 'gauge', 'Streams held.', c.entries);
      family('logit_cache_reencode_cache_capacity_bytes', 'gauge', 'Configured size (0 = off).', c.capacityBytes);
    }
    return `${out.join('\n')}\n`;
  }
}
