/**
 * Every stage of the organization's side, images/s at batch 1 and 32, with its FLOPs per image and its share of
 * this machine's matmul rate measured in the same run (`machinePeakGflops`): decode + preprocess, each encoder,
 * the generator at 32/64/128/256 px, PNG encoding, IIN prediction, the whole client overhead per image (decode,
 * encoder, generator, PNG and the IIN on the cloud's answer: everything the organization runs), and deriving the
 * generator from the key.
 *
 *   npm run build && node dist/bench/stages.js          (OWSD_MODELS / OWSD_DATA or ../shared; BENCH_SECONDS=3)
 *
 * Targets (issue 8): generator alone at 256x256 >= 50 images/s; whole client overhead >= 30 images/s.
 * Encoder FLOPs are the models' published multiply-adds x2 (MobileNetV2 1.0: 300M MACs; ShuffleNetV2 1.0x: 146M);
 * both run int8 kernels, so their share of the float32 matmul rate can exceed what float32 would allow.
 */
import { createKey, Encoder, resolveModel, Scrambler, loadDataset, countWeights, generatorLayers, preprocessBatch, trainIin, Iin, IIN_DEFAULTS } from '../src/index.js';
import { deriveGeneratorWeights } from '../src/scrambler/generator.js';
import { encodePngBatch } from '../src/scrambler/png.js';
import { createRng } from '../src/internal/random.js';
import { dataDir, modelsDir } from '../test/helpers.js';
import { settings } from '../src/settings.js';
import { BENCH_SECONDS, isMain, machinePeakGflops, printTable, rate, saveResult, time } from './lib.js';

/** Published multiply-adds per image, x2 (MobileNetV2 1.0 and ShuffleNetV2 1.0x at 224 px; ResNet-20 at 32 px). */
export const MODEL_FLOPS: Record<string, number> = {
  'mobilenetv2-12-int8': 2 * 300e6,
  'shufflenet-v2-12-qdq': 2 * 146e6,
  'cifar10-resnet20': 2 * 41e6,
};

export interface StageRow {
  stage: string;
  batch: number;
  imagesPerSecond: number;
  /** FLOPs per image (absent where the stage is not arithmetic: decoding, PNG, hashing). */
  gflopPerImage?: number;
  gflops?: number;
  /** Share of the machine's matmul rate. */
  shareOfPeak?: number;
}

export async function runStagesBench(): Promise<Record<string, unknown>> {
  const peakBefore = await machinePeakGflops();
  const ds = await loadDataset(`${dataDir}/imagenette-val`);
  const images = ds.samples.slice(0, 32).map((s) => s.image);
  const rows: StageRow[] = [];
  const add = (stage: string, batch: number, imagesPerSecond: number, flops?: number): void => {
    rows.push({ stage, batch, imagesPerSecond, gflopPerImage: flops !== undefined ? flops / 1e9 : undefined, gflops: flops !== undefined ? (flops * imagesPerSecond) / 1e9 : undefined });
  };
  const secret = new Uint8Array(32).fill(5);

  const mnSpec = await resolveModel('mobilenetv2-12-int8', { modelsDir });
  for (const b of [1, 32]) add('decode + preprocess (224, NCHW)', b, await rate(b, () => preprocessBatch(images.slice(0, b), mnSpec.preprocess, mnSpec.input.layout)));
  for (const name of ['mobilenetv2-12-int8', 'shufflenet-v2-12-qdq']) {
    const enc = await Encoder.create([await resolveModel(name, { modelsDir })]);
    for (const b of [1, 32]) add(`encoder ${name} (decode+preprocess+run)`, b, await rate(b, () => enc.encode(images.slice(0, b))), MODEL_FLOPS[name]);
    await enc.release();
  }

  const enc = await Encoder.create([mnSpec]);
  const emb = await enc.encode(images);
  // An IIN of the demo's shape: [1280 embedding + 1000 cloud probabilities] -> 512 -> 10 (weights from one short fit).
  const D = enc.dim + 1000;
  const rng = createRng(3);
  const xs = Float32Array.from({ length: 256 * D }, () => rng.next());
  const trained = await trainIin(xs, Int32Array.from({ length: 256 }, (_, i) => i % 10), { inputDim: D, numClasses: 10, config: { epochs: 1, earlyStopping: false } });
  const iin = await Iin.create(trained.weights);
  const iinFlops = 2 * D * IIN_DEFAULTS.hidden + 2 * IIN_DEFAULTS.hidden * 10;
  for (const b of [1, 32]) add('IIN prediction (2280 -> 512 -> 10)', b, await rate(b, () => iin.predict(xs.subarray(0, b * D), b)), iinFlops);

  for (const size of [32, 64, 128, 256]) {
    const s = await Scrambler.create(createKey({ secret, imageSize: size }), enc.dim);
    for (const b of [1, 32]) add(`generator ${size}x${size}`, b, await rate(b, () => s.pixels(emb.subarray(0, b * enc.dim), b)), s.flopsPerImage);
    if (size === 256) {
      // Spinning vs sleeping ORT threads, side by side (interleaved, same inputs): the setting OWSD_ORT_SPIN.
      settings.ortSpinning = true;
      const spinning = await Scrambler.create(createKey({ secret, imageSize: size }), enc.dim);
      settings.ortSpinning = false;
      let sleepRate = 0;
      let spinRate = 0;
      for (let k = 0; k < 3; k++) {
        sleepRate += (await rate(32, () => s.pixels(emb, 32), BENCH_SECONDS / 3)) / 3;
        spinRate += (await rate(32, () => spinning.pixels(emb, 32), BENCH_SECONDS / 3)) / 3;
      }
      await spinning.release();
      add('generator 256x256, ORT threads sleep when idle (default)', 32, sleepRate, s.flopsPerImage);
      add('generator 256x256, ORT threads spin (OWSD_ORT_SPIN=1)', 32, spinRate, s.flopsPerImage);
      const px = await s.pixels(emb, 32);
      for (const b of [1, 32]) add('PNG encoding 256x256', b, await rate(b, () => encodePngBatch(px.subarray(0, b * 256 * 256 * 3), b, 256)));
      const cloudAnswer = new Float32Array(32 * 1000).fill(1e-3);
      for (const b of [1, 32]) {
        add(
          'client overhead: decode + MobileNetV2 + generator 256 + PNG + IIN',
          b,
          await rate(b, async () => {
            const e = await enc.encode(images.slice(0, b));
            await s.scramble(e, b);
            // the IIN on [embedding, the cloud's answer], as predict runs it when the answer comes back
            const x = new Float32Array(b * D);
            for (let i = 0; i < b; i++) {
              x.set(e.subarray(i * enc.dim, (i + 1) * enc.dim), i * D);
              x.set(cloudAnswer.subarray(i * 1000, (i + 1) * 1000), i * D + enc.dim);
            }
            await iin.predict(x, b);
          }),
          MODEL_FLOPS['mobilenetv2-12-int8']! + s.flopsPerImage + iinFlops,
        );
      }
    }
    await s.release();
  }
  await iin.release();
  await enc.release();

  // Key derivation: the demo's generator (1280-d input) and the paper's (2048-d ResNet50 input), 256x256, base 1024.
  const key = createKey({ secret });
  const derive = [];
  for (const dim of [1280, 2048]) {
    const t = await time(() => deriveGeneratorWeights(key, dim));
    const weights = countWeights(generatorLayers(dim, key.generator));
    derive.push({ stage: `key derivation, ${dim}-d input`, weightsMillions: +(weights / 1e6).toFixed(1), seconds: +t.seconds.toFixed(3), mWeightsPerSecond: +(weights / 1e6 / t.seconds).toFixed(0) });
  }

  const peakAfter = await machinePeakGflops();
  const peak = Math.max(peakBefore.median, peakAfter.median);
  for (const r of rows) if (r.gflops !== undefined) r.shareOfPeak = +(r.gflops / peak).toFixed(3);
  for (const r of rows) r.imagesPerSecond = +r.imagesPerSecond.toFixed(1);

  console.log(`matmul rate of this machine (ORT float32 MatMul 1024^3, median): ${peakBefore.median} GFLOP/s before, ${peakAfter.median} after`);
  printTable(
    rows.map((r) => ({ stage: r.stage, batch: r.batch, 'images/s': r.imagesPerSecond, 'GFLOP/img': r.gflopPerImage, 'GFLOP/s': r.gflops, 'share of peak': r.shareOfPeak === undefined ? '' : `${(100 * r.shareOfPeak).toFixed(0)}%` })),
  );
  printTable(derive);
  const gen = rows.find((r) => r.stage === 'generator 256x256' && r.batch === 32)!;
  const client = rows.find((r) => r.stage.startsWith('client overhead') && r.batch === 32)!;
  const verdict = (v: number, target: number): string => `${v.toFixed(1)} images/s vs target ${target}: ${v >= target ? 'MET' : 'MISSED'} (${(v / target).toFixed(2)}x)`;
  console.log(`generator 256x256, batch 32: ${verdict(gen.imagesPerSecond, 50)}`);
  console.log(`client overhead, batch 32:   ${verdict(client.imagesPerSecond, 30)}`);
  const far = rows.filter((r) => r.shareOfPeak !== undefined && r.batch === 32 && r.shareOfPeak < 0.3).map((r) => r.stage);
  if (far.length) console.log(`work list (below 30% of the matmul rate at batch 32): ${far.join('; ')}`);
  const result = { peakGflops: { before: peakBefore, after: peakAfter }, rows, keyDerivation: derive, targets: { generator256: gen.imagesPerSecond, clientOverhead: client.imagesPerSecond } };
  saveResult('stages', result);
  return result;
}

if (isMain(import.meta.url)) await runStagesBench();
