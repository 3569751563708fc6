/**
 * `npm run bench`: every bench, one after another, each in its own process (so one's memory and threads do not
 * disturb the next), then docs/benchmarks.md from their records (bench/summary.ts). Each is also runnable alone:
 * `node dist/bench/<name>.js`.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBenchSummary } from './summary.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const benches = ['stages', 'latency', 'privacy', 'iin-train', 'cloud-server', 'gateway', 'scale', 'he-vs-owsd', 'growth'];
let failed = 0;
for (const b of benches) {
  console.log(`\n=== ${b} ===`);
  const r = spawnSync(process.execPath, [path.join(here, `${b}.js`)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
// docs/benchmarks.md from the records just written (and any a failed bench left from before).
console.log(`\nwrote ${path.relative(process.cwd(), writeBenchSummary())} from reports/bench/`);
process.exitCode = failed ? 1 : 0;
