/**
 * Load from a separate process: autocannon (npm) against a loopback URL for a fixed time, and the RSS of a server
 * process from /proc. Shared by the embedded cloud's load test and, later, the gateway's.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, tempDir } from './helpers.js';

export interface LoadResult {
  requests: number;
  requestsPerSecond: number;
  p99Ms: number;
  /** Socket errors and timeouts. */
  errors: number;
  timeouts: number;
  status: { '2xx': number; '4xx': number; '5xx': number };
}

/** Run autocannon in its own process: POST `body` to `url` (127.0.0.1 only) for `seconds` with `connections`. */
export async function autocannon(url: string, body: string, opts: { seconds: number; connections: number }): Promise<LoadResult> {
  if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(url)) throw new Error(`load tests target 127.0.0.1 only, got ${url}`);
  const file = path.join(tempDir('owsd-load-'), 'body.json');
  fs.writeFileSync(file, body);
  const bin = path.join(repoRoot, 'node_modules', 'autocannon', 'autocannon.js');
  const { stdout } = await promisify(execFile)(process.execPath, [bin, '-j', '-d', String(opts.seconds), '-c', String(opts.connections), '-t', '20', '-m', 'POST', '-H', 'content-type=application/json', '-i', file, url], { maxBuffer: 1 << 26 });
  const j = JSON.parse(stdout) as { requests: { average: number; total: number }; latency: { p99: number }; errors: number; timeouts: number; '2xx': number; '4xx': number; '5xx': number };
  return { requests: j.requests.total, requestsPerSecond: j.requests.average, p99Ms: j.latency.p99, errors: j.errors, timeouts: j.timeouts, status: { '2xx': j['2xx'], '4xx': j['4xx'], '5xx': j['5xx'] } };
}

/** Resident memory of a process, in MiB (Linux /proc). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export function describeLoad(what: string, r: LoadResult, rss: number): string {
  return `${what}: ${r.requestsPerSecond.toFixed(0)} req/s, p99 ${r.p99Ms} ms, ${r.requests} requests (2xx ${r.status['2xx']}, 4xx ${r.status['4xx']}, 5xx ${r.status['5xx']}), errors ${r.errors}, timeouts ${r.timeouts}, server RSS ${rss.toFixed(0)} MiB`;
}
