/**
 * The gateway's request batching, measured side by side in one run: the same `--images` single-image requests
 * sent one after another, and by `--concurrency` clients at once (the gateway batches them), and the same images
 * in one request. A small real fit first (4 Imagenette labels, 10 images each, `--size` px key), the embedded
 * cloud (`--model`) and the gateway in this process, all on loopback. Prints images/s and the ratios, then one
 * JSON line.
 *
 *   npm run build && OWSD_MODELS=../shared/models OWSD_DATA=../shared/data node dist/bench/gateway.js
 *     [--model shufflenet-v2-12-qdq] [--size DEFAULT_IMAGE_SIZE] [--images 64] [--concurrency 16]
 *
 * Gateway, cloud and clients share the machine's cores. The key's usage ledger lives in the bench's temporary
 * folder (OWSD_STATE), not in this user's state folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createKey, DEFAULT_IMAGE_SIZE, fit, readKeyFile, writeKeyFile } from '../src/index.js';
import { startCloudServer, startGateway } from '../src/server/index.js';
import { dataDir, modelsDir } from '../test/helpers.js';
import { saveResult } from './lib.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'shufflenet-v2-12-qdq' },
    size: { type: 'string', default: String(DEFAULT_IMAGE_SIZE) },
    images: { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '16' },
  },
});
const n = Number(args.images);
const concurrency = Number(args.concurrency);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'owsd-bench-gateway-'));
process.env.OWSD_STATE = path.join(dir, 'state');
const keyFile = path.join(dir, 'bench.key');
writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(5), imageSize: Number(args.size), budget: 100_000 }));
const cloud = await startCloudServer({ model: args.model!, modelsDir, logger: false });
const data = { path: path.join(dataDir, 'imagenette-val'), labels: 4, perLabel: 10, testFraction: 0, seed: 0 };
const bundle = path.join(dir, 'bench.bundle');
await fit({ keys: [readKeyFile(keyFile)], encoders: ['mobilenetv2-12-int8'], cloud: { url: cloud.url, modelName: args.model! }, data, out: bundle, modelsDir, iin: { epochs: 10 } });
const gw = await startGateway({ bundle, keyFiles: [keyFile], port: 0, modelsDir, log: false });

const folder = path.join(dataDir, 'imagenette-val', 'n03000684');
const images = fs.readdirSync(folder).sort().slice(-n).map((f) => fs.readFileSync(path.join(folder, f)).toString('base64'));
const post = async (imgs: string[]): Promise<void> => {
  const res = await fetch(`${gw.url}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ images: imgs }) });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
};

async function timed(name: string, fn: () => Promise<void>): Promise<{ name: string; seconds: number; imagesPerSecond: number; batches: number }> {
  const before = (await gw.gateway.status()).served.batches;
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  const batches = (await gw.gateway.status()).served.batches - before;
  return { name, seconds, imagesPerSecond: n / seconds, batches };
}

await post(images.slice(0, 4)); // warm-up
const rows = [
  await timed(`${n} requests of 1 image, one after another`, async () => {
    for (const img of images) await post([img]);
  }),
  await timed(`${n} requests of 1 image, ${concurrency} clients at once (batched)`, async () => {
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < n) await post([images[next++]!]);
    }));
  }),
  await timed(`1 request of ${n} images`, () => post(images)),
];
await gw.close();
await cloud.close();
fs.rmSync(dir, { recursive: true, force: true });

console.log(`gateway: encoder mobilenetv2-12-int8, ${args.size}px key, cloud ${args.model} (embedded, loopback), ${os.availableParallelism()} cores, Node ${process.versions.node}`);
for (const r of rows) console.log(`${r.name.padEnd(58)} ${r.imagesPerSecond.toFixed(1).padStart(6)} images/s  (${r.seconds.toFixed(2)} s, ${r.batches} batches)`);
console.log(`batched / sequential: ${(rows[1]!.imagesPerSecond / rows[0]!.imagesPerSecond).toFixed(2)}x; one request / sequential: ${(rows[2]!.imagesPerSecond / rows[0]!.imagesPerSecond).toFixed(2)}x`);
saveResult('gateway', { model: args.model, size: Number(args.size), images: n, concurrency, rows: rows.map((r) => ({ ...r, seconds: +r.seconds.toFixed(3), imagesPerSecond: +r.imagesPerSecond.toFixed(1) })) });
