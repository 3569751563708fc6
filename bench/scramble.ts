/**
 * Scrambling throughput: images/s of each encoder, the generator (32-256 px), PNG encoding, and the whole
 * client path, at batch 1 and 32. Run: `npm run build && node dist/bench/scramble.js` (OWSD_MODELS set).
 * Target (issue 2): generator alone at 256x256 >= 50 images/s on a 2-core machine.
 */
import os from 'node:os';
import { createKey, Encoder, resolveModel, Scrambler, encodePngBatch, loadDataset, deriveGeneratorWeights, countWeights, generatorLayers } from '../src/index.js';
import { dataDir, modelsDir } from '../test/helpers.js';

const REPEAT_S = Number(process.env.BENCH_SECONDS ?? 3);

async function rate(n: number, fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm-up
  let images = 0;
  const start = performance.now();
  while (performance.now() - start < REPEAT_S * 1000) {
    await fn();
    images += n;
  }
  return images / ((performance.now() - start) / 1000);
}

const ds = await loadDataset(`${dataDir}/imagenette-val`);
const images = ds.samples.slice(0, 32).map((s) => s.image);
const rows: Array<{ stage: string; batch: number; imagesPerSecond: number }> = [];
const key = createKey({ secret: new Uint8Array(32).fill(5) });

for (const name of ['mobilenetv2-12-int8', 'shufflenet-v2-12-qdq']) {
  const enc = await Encoder.create([await resolveModel(name, { modelsDir })]);
  for (const b of [1, 32]) rows.push({ stage: `encoder ${name} (decode+preprocess+run)`, batch: b, imagesPerSecond: await rate(b, () => enc.encode(images.slice(0, b))) });
  await enc.release();
}
const enc = await Encoder.create([await resolveModel('mobilenetv2-12-int8', { modelsDir })]);
const emb = await enc.encode(images);
for (const size of [32, 64, 128, 256]) {
  const s = await Scrambler.create(createKey({ secret: key.secret, imageSize: size }), enc.dim);
  for (const b of [1, 32]) {
    rows.push({ stage: `generator ${size}x${size} (${(s.flopsPerImage / 1e9).toFixed(2)} GFLOP/img)`, batch: b, imagesPerSecond: await rate(b, () => s.pixels(emb.subarray(0, b * enc.dim), b)) });
  }
  if (size === 256) {
    const px = await s.pixels(emb, 32);
    for (const b of [1, 32]) rows.push({ stage: 'PNG encoding 256x256', batch: b, imagesPerSecond: await rate(b, () => encodePngBatch(px.subarray(0, b * 256 * 256 * 3), b, 256)) });
    for (const b of [1, 32]) {
      rows.push({
        stage: 'client path: mobilenetv2 + generator 256 + PNG',
        batch: b,
        imagesPerSecond: await rate(b, async () => s.scramble(await enc.encode(images.slice(0, b)), b)),
      });
    }
  }
  await s.release();
}

// Key derivation at paper size (2048-d input, 256x256x3 output, base 1024 channels: about 45M weights).
const deriveStart = performance.now();
deriveGeneratorWeights(key, 2048);
const deriveSeconds = (performance.now() - deriveStart) / 1000;

console.log(`machine: ${os.cpus()[0]?.model} x${os.availableParallelism()}, node ${process.version}`);
console.log(`key derivation: ${(countWeights(generatorLayers(2048, key.generator)) / 1e6).toFixed(1)}M generator weights in ${deriveSeconds.toFixed(2)} s (target < 1 s)`);
console.log('stage'.padEnd(62), 'batch', 'images/s');
for (const r of rows) console.log(r.stage.padEnd(62), String(r.batch).padStart(5), r.imagesPerSecond.toFixed(1).padStart(8));
const gen = rows.find((r) => r.stage.startsWith('generator 256') && r.batch === 32)!;
console.log(`generator 256x256 at batch 32: ${gen.imagesPerSecond.toFixed(1)} images/s, target 50: ${gen.imagesPerSecond >= 50 ? 'met' : 'NOT met'} (${(gen.imagesPerSecond / 50).toFixed(2)}x)`);
console.log(JSON.stringify({ bench: 'scramble', deriveSeconds, rows }));
