/**
 * Load test of the embedded cloud server. The server runs in a child process (`owsd cloud serve`, as in
 * production); this process drives `--concurrency` request loops for `--seconds` over loopback, each request a
 * KServe V2 BYTES tensor of `--batch` scrambled-like PNGs (seeded noise, `--size` px square). Prints requests/s,
 * images/s, p50/p90/p99 latency and errors, then one JSON line.
 *
 *   npm run build && node dist/bench/cloud-server.js [--model mobilenetv2-12-int8] [--seconds 10]
 *     [--concurrency 4] [--batch 1] [--size 256] [--threads N] [--wire json|binary]
 *
 * `--wire binary` sends the KServe binary tensor data extension (raw PNGs after the JSON header, FP32 answers);
 * either way the bytes up and down per image of both wires are printed.
 *
 * Server and load generator share the machine's cores, so numbers are a floor for a dedicated server.
 */
import { parseArgs } from 'node:util';
import { buildBinaryImageRequest, buildImageInferenceRequest, HEADER_LENGTH_HEADER } from '../src/cloud/protocol.js';
import { noisePngBytes } from '../test/helpers.js';
import { machinePeakGflops, saveResult, startCloudProcess } from './lib.js';
import { MODEL_FLOPS } from './stages.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'mobilenetv2-12-int8' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '4' },
    batch: { type: 'string', default: '1' },
    size: { type: 'string', default: '256' },
    threads: { type: 'string' },
    wire: { type: 'string', default: 'json' },
  },
});
const model = args.model!;
const seconds = Number(args.seconds);
const warmup = Number(args.warmup);
const concurrency = Number(args.concurrency);
const batch = Number(args.batch);
const size = Number(args.size);
const wire = args.wire!;
if (wire !== 'json' && wire !== 'binary') throw new Error(`--wire: expected json or binary, got ${wire}`);


const noisePng = (seed: number): Promise<Uint8Array> => noisePngBytes(seed, size);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// The machine's matmul rate, measured before the server starts (the cloud's model FLOPs are a share of it).
const peak = await machinePeakGflops();
const modelFlops = MODEL_FLOPS[model];
const t0 = performance.now();
const server = await startCloudProcess(model, { threads: args.threads });
const startupS = (performance.now() - t0) / 1000;
const pngs = await Promise.all(Array.from({ length: Math.max(8, batch) }, (_, i) => noisePng(i + 1)));
const pngBytes = pngs.reduce((a, p) => a + p.length, 0) / pngs.length;
// A few different request bodies, prebuilt, so the load generator spends its time waiting, not encoding.
const batchOf = (k: number): Uint8Array[] => Array.from({ length: batch }, (_, i) => pngs[(k + i) % pngs.length]!);
const jsonBodies = Array.from({ length: 4 }, (_, k) => ({ body: JSON.stringify(buildImageInferenceRequest(batchOf(k).map((p) => Buffer.from(p).toString('base64')))), headers: { 'content-type': 'application/json' } as Record<string, string> }));
const binaryBodies = Array.from({ length: 4 }, (_, k) => {
  const m = buildBinaryImageRequest(batchOf(k), { binaryOutput: true });
  return { body: m.body, headers: { 'content-type': 'application/octet-stream', [HEADER_LENGTH_HEADER]: String(m.headerLength) } as Record<string, string> };
});
const bodies = wire === 'json' ? jsonBodies : binaryBodies;
const inferUrl = `${server.url}/v2/models/${encodeURIComponent(model)}/infer`;
// Bytes per image on each wire: the request bodies above, and one answer of each kind.
const bytesOf = async (b: { body: string | Buffer; headers: Record<string, string> }): Promise<{ up: number; down: number }> => {
  const res = await fetch(inferUrl, { method: 'POST', headers: b.headers, body: b.body });
  return { up: Buffer.byteLength(b.body) / batch, down: (await res.arrayBuffer()).byteLength / batch };
};
const wireBytes = { json: await bytesOf(jsonBodies[0]!), binary: await bytesOf(binaryBodies[0]!) };

const latencies: number[] = [];
let errors = 0;
const errorKinds = new Map<string, number>();
let requests = 0;
let measuring = false;

async function loop(worker: number, until: number): Promise<void> {
  let k = worker;
  while (performance.now() < until) {
    const start = performance.now();
    let ok = false;
    let kind = '';
    try {
      const b = bodies[k++ % bodies.length]!;
      const res = await fetch(inferUrl, { method: 'POST', headers: b.headers, body: b.body });
      const answer = Buffer.from(await res.arrayBuffer());
      const headLength = res.headers.get(HEADER_LENGTH_HEADER);
      const json = JSON.parse((headLength === null ? answer : answer.subarray(0, Number(headLength))).toString('utf8')) as { outputs?: Array<{ shape: number[] }>; error?: string };
      ok = res.status === 200 && json.outputs?.[0]?.shape?.[0] === batch;
      if (!ok) kind = `HTTP ${res.status}${json.error ? `: ${json.error.slice(0, 80)}` : ''}`;
    } catch (e) {
      kind = (e as Error).message;
    }
    if (!measuring) continue;
    requests++;
    if (ok) latencies.push(performance.now() - start);
    else {
      errors++;
      errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
    }
  }
}

// Warm-up (not counted), then the measured window.
await Promise.all(Array.from({ length: concurrency }, (_, w) => loop(w, performance.now() + warmup * 1000)));
measuring = true;
const mStart = performance.now();
await Promise.all(Array.from({ length: concurrency }, (_, w) => loop(w, mStart + seconds * 1000)));
const elapsed = (performance.now() - mStart) / 1000;
const exitCode = await server.stop();

latencies.sort((a, b) => a - b);
const ok = latencies.length;
const result = {
  model,
  imageSize: size,
  pngBytes: Math.round(pngBytes),
  batch,
  concurrency,
  wire,
  bytesPerImage: {
    json: { up: Math.round(wireBytes.json.up), down: Math.round(wireBytes.json.down) },
    binary: { up: Math.round(wireBytes.binary.up), down: Math.round(wireBytes.binary.down) },
  },
  seconds: Number(elapsed.toFixed(2)),
  requests,
  errors,
  requestsPerSecond: Number((ok / elapsed).toFixed(2)),
  imagesPerSecond: Number(((ok * batch) / elapsed).toFixed(2)),
  gflopPerImage: modelFlops !== undefined ? modelFlops / 1e9 : null,
  machinePeakGflops: peak.median,
  shareOfPeak: modelFlops !== undefined ? Number(((modelFlops * ok * batch) / elapsed / 1e9 / peak.median).toFixed(3)) : null,
  latencyMs: {
    p50: Number(percentile(latencies, 50).toFixed(1)),
    p90: Number(percentile(latencies, 90).toFixed(1)),
    p99: Number(percentile(latencies, 99).toFixed(1)),
    max: Number((latencies[ok - 1] ?? NaN).toFixed(1)),
  },
  serverStartupS: Number(startupS.toFixed(2)),
  serverExit: exitCode,
  cores: (await import('node:os')).availableParallelism(),
};

console.log(`cloud server bench (${wire} wire): ${model}, ${size}x${size} noise PNGs (${Math.round(pngBytes / 1024)} KiB), batch ${batch}, concurrency ${concurrency}, ${elapsed.toFixed(1)} s on ${result.cores} cores`);
console.log(`  requests/s ${result.requestsPerSecond}   images/s ${result.imagesPerSecond}   (${wire} wire)`);
console.log(`  bytes per image: JSON ${result.bytesPerImage.json.up} up / ${result.bytesPerImage.json.down} down; binary ${result.bytesPerImage.binary.up} up / ${result.bytesPerImage.binary.down} down`);
if (result.shareOfPeak !== null) console.log(`  model ${result.gflopPerImage} GFLOP/image (published): ${(100 * result.shareOfPeak).toFixed(0)}% of the machine's matmul rate (${peak.median} GFLOP/s)`);
console.log(`  latency ms p50 ${result.latencyMs.p50}  p90 ${result.latencyMs.p90}  p99 ${result.latencyMs.p99}  max ${result.latencyMs.max}`);
console.log(`  requests ${requests}, errors ${errors}${errorKinds.size ? ` (${[...errorKinds].map(([k, n]) => `${n}x ${k}`).join('; ')})` : ''}; server started in ${startupS.toFixed(1)} s, exited with ${exitCode} after SIGTERM`);
saveResult(`cloud-server`, result);
if (errors > 0 || exitCode !== 0) process.exitCode = 1;
