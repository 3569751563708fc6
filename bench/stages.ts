/**
 * Every stage of the organization's side, images/s at batch 1 and 32, with its FLOPs per image and its share of
 * this machine's matmul rate measured in the same run (`machinePeakGflops`): decode + preprocess, each encoder,
 * the generator candidates (the default, the paper's, both graph forms, 32/64 px; `generatorRows`, also alone:
 * `node dist/bench/stages.js generator`), PNG encoding, IIN prediction, the whole client overhead per image (decode,
 * encoder, generator, PNG and the IIN on the cloud's answer: everything the organization runs), and deriving the
 * generator from the key.
 *
 *   npm run build && node dist/bench/stages.js          (OWSD_MODELS / OWSD_DATA or ../shared; BENCH_SECONDS=3)
 *
 * Targets (issue 8): the default generator alone >= 50 images/s; whole client overhead >= 30 images/s.
 * Issue 20: the generator at >= 85% of the matmul rate at batch 32 and >= 50% at batch 1 (printed per design).
 * Encoder FLOPs are the models' published multiply-adds x2 (MobileNetV2 1.0: 300M MACs; ShuffleNetV2 1.0x: 146M);
 * both run int8 kernels, so their share of the float32 matmul rate can exceed what float32 would allow.
 */
import { createKey, Encoder, resolveModel, Scrambler, loadDataset, countWeights, generatorLayers, preprocessBatch, trainIin, Iin, IIN_DEFAULTS } from '../src/index.js';
import { buildGeneratorModel, deriveGeneratorWeights } from '../src/scrambler/generator.js';
import { encodePngBatch } from '../src/scrambler/png.js';
import { DEFAULT_BASE_CHANNELS, DEFAULT_DESIGN, DEFAULT_IMAGE_SIZE, PAPER_BASE_CHANNELS, PAPER_DESIGN, type GeneratorDesignName } from '../src/key/keyfile.js';
import { createRng } from '../src/internal/random.js';
import { createSession, floatTensor } from '../src/internal/ort.js';
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

/** The generators the bench compares: the key default, the paper's, and the design study's other candidates. */
const PAPER = { baseChannels: PAPER_BASE_CHANNELS, design: PAPER_DESIGN };
const DEFAULT_LABEL = `${DEFAULT_IMAGE_SIZE} px/${DEFAULT_BASE_CHANNELS} ch ${DEFAULT_DESIGN} (default)`;
export const GENERATOR_CANDIDATES: Array<{ label: string; imageSize: number; baseChannels: number; design: GeneratorDesignName; share?: boolean }> = [
  { label: DEFAULT_LABEL, imageSize: DEFAULT_IMAGE_SIZE, baseChannels: DEFAULT_BASE_CHANNELS, design: DEFAULT_DESIGN, share: true },
  { label: `${DEFAULT_IMAGE_SIZE} px/${DEFAULT_BASE_CHANNELS} ch dcgan-he-v2`, imageSize: DEFAULT_IMAGE_SIZE, baseChannels: DEFAULT_BASE_CHANNELS, design: 'dcgan-he-v2', share: true },
  { label: `256 px/${PAPER_BASE_CHANNELS} ch ${PAPER_DESIGN} (paper)`, imageSize: 256, baseChannels: PAPER_BASE_CHANNELS, design: PAPER_DESIGN, share: true },
  { label: `256 px/${PAPER_BASE_CHANNELS} ch dcgan-he-v2`, imageSize: 256, baseChannels: PAPER_BASE_CHANNELS, design: 'dcgan-he-v2', share: true },
  { label: `64 px/${PAPER_BASE_CHANNELS} ch ${PAPER_DESIGN}`, imageSize: 64, baseChannels: PAPER_BASE_CHANNELS, design: PAPER_DESIGN },
  { label: `32 px/${PAPER_BASE_CHANNELS} ch ${PAPER_DESIGN}`, imageSize: 32, baseChannels: PAPER_BASE_CHANNELS, design: PAPER_DESIGN },
];

export interface GeneratorShare {
  generator: string;
  batch: number;
  imagesPerSecond: number;
  gflops: number;
  /** GFLOP/s over the matmul rate measured in the same run. */
  shareOfMatmul: number;
}

/**
 * Each candidate generator at batch 1 and 32 (one generator run of that many images), images/s and bytes per PNG,
 * and, for the default and the paper's designs in both graph forms, the share of the matmul rate (issue 20:
 * targets >= 85% at batch 32, >= 50% at batch 1). The forms of one design are timed interleaved, so the load that
 * colleagues put on a shared machine hits both alike.
 */
export async function generatorRows(emb: Float32Array, dim: number, peak: number): Promise<{ rows: StageRow[]; candidates: Array<Record<string, unknown>>; shares: GeneratorShare[] }> {
  const secret = new Uint8Array(32).fill(5);
  const rows: StageRow[] = [];
  const candidates: Array<Record<string, unknown>> = [];
  const shares: GeneratorShare[] = [];
  for (const c of GENERATOR_CANDIDATES) {
    const key = createKey({ secret, imageSize: c.imageSize, baseChannels: c.baseChannels, design: c.design, embeddingNoise: 0 });
    const rates: number[] = [];
    for (const b of [1, 32]) {
      const s = await Scrambler.create(key, dim, { batchSize: b });
      const x = emb.subarray(0, b * dim);
      let r = 0;
      for (let k = 0; k < 2; k++) r += (await rate(b, () => s.pixels(x, b), BENCH_SECONDS / 2)) / 2;
      rates.push(r);
      const gflops = (r * s.flopsPerImage) / 1e9;
      rows.push({ stage: `generator ${c.label}`, batch: b, imagesPerSecond: r, gflopPerImage: s.flopsPerImage / 1e9, gflops });
      if (c.share) shares.push({ generator: c.label, batch: b, imagesPerSecond: +r.toFixed(1), gflops: +gflops.toFixed(1), shareOfMatmul: +(gflops / peak).toFixed(3) });
      if (b === 32) {
        const pngs = await s.scramble(x, b);
        candidates.push({ generator: c.label, imageSize: c.imageSize, baseChannels: c.baseChannels, design: c.design, gflopPerImage: +(s.flopsPerImage / 1e9).toFixed(3), imagesPerSecondBatch1: +rates[0]!.toFixed(1), imagesPerSecondBatch32: +r.toFixed(1), bytesPerImage: Math.round(pngs.reduce((a, p) => a + p.png.length, 0) / b) });
      }
      await s.release();
    }
  }
  return { rows, candidates, shares };
}

export function printShares(shares: GeneratorShare[]): void {
  for (const sh of shares) {
    const target = sh.batch === 32 ? 0.85 : 0.5;
    console.log(`generator ${sh.generator}, batch ${sh.batch}: ${(100 * sh.shareOfMatmul).toFixed(0)}% of the matmul rate (target ${100 * target}%: ${sh.shareOfMatmul >= target ? 'MET' : 'MISSED'})`);
  }
}

/** Only the generators: `node dist/bench/stages.js generator` (a shorter run). */
export async function runGeneratorBench(): Promise<Record<string, unknown>> {
  const peakBefore = await machinePeakGflops();
  const ds = await loadDataset(`${dataDir}/imagenette-val`);
  const enc = await Encoder.create([await resolveModel('mobilenetv2-12-int8', { modelsDir })]);
  const emb = await enc.encode(ds.samples.slice(0, 32).map((x) => x.image));
  await enc.release();
  const gen = await generatorRows(emb, enc.dim, peakBefore.median);
  const peakAfter = await machinePeakGflops();
  const peak = Math.max(peakBefore.median, peakAfter.median);
  for (const sh of gen.shares) sh.shareOfMatmul = +(sh.gflops / peak).toFixed(3);
  console.log(`matmul rate of this machine (ORT float32 MatMul 1024^3, median): ${peakBefore.median} GFLOP/s before, ${peakAfter.median} after`);
  printTable(gen.candidates);
  printShares(gen.shares);
  const result = { peakGflops: { before: peakBefore, after: peakAfter }, generatorCandidates: gen.candidates, generatorShares: gen.shares };
  saveResult('generator', result);
  return result;
}

/**
 * How many 8-bit pixel values the sub-pixel form (dcgan-he-v2) changes against ConvTranspose for the same weights:
 * `node dist/bench/stages.js forms` (Imagenette, every 98th image, MobileNetV2 embeddings; docs/generator-choice.md).
 */
export async function runFormsBench(): Promise<Record<string, unknown>> {
  const ds = await loadDataset(`${dataDir}/imagenette-val`);
  const images = ds.samples.filter((_, i) => i % 98 === 0).slice(0, 40).map((x) => x.image);
  const enc = await Encoder.create([await resolveModel('mobilenetv2-12-int8', { modelsDir })]);
  const emb = await enc.encode(images);
  await enc.release();
  const out = [];
  for (const baseChannels of [DEFAULT_BASE_CHANNELS, PAPER_BASE_CHANNELS]) {
    const key = createKey({ secret: new Uint8Array(32).fill(21), imageSize: 256, baseChannels, design: 'dcgan-he-v2', embeddingNoise: 0 });
    const px: Record<string, Uint8Array> = {};
    for (const form of ['convtranspose', 'hybrid'] as const) {
      const session = await createSession(buildGeneratorModel(key, enc.dim, { form }), { what: form });
      const all = new Uint8Array(images.length * 256 * 256 * 3);
      for (let i = 0; i < images.length; i += 8) {
        const r = await session.run({ embedding: floatTensor(emb.subarray(i * enc.dim, (i + 8) * enc.dim), [8, enc.dim]) });
        all.set(r.pixels!.data as Uint8Array, i * 256 * 256 * 3);
      }
      px[form] = all;
      await session.release();
    }
    let differing = 0;
    let maxLevel = 0;
    for (let j = 0; j < px.hybrid!.length; j++) {
      const d = Math.abs(px.hybrid![j]! - px.convtranspose![j]!);
      if (d) differing++;
      maxLevel = Math.max(maxLevel, d);
    }
    out.push({ generator: `256 px/${baseChannels} ch`, images: images.length, values: px.hybrid!.length, differing, perTenThousand: +((1e4 * differing) / px.hybrid!.length).toFixed(2), maxLevel });
  }
  printTable(out);
  saveResult('generator-forms', { forms: out });
  return { forms: out };
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

  const gen = await generatorRows(emb, enc.dim, peakBefore.median);
  rows.push(...gen.rows);
  const s = await Scrambler.create(createKey({ secret }), enc.dim);
  const size = s.imageSize;
  // Spinning vs sleeping ORT threads, side by side (interleaved, same inputs): the setting OWSD_ORT_SPIN.
  settings.ortSpinning = true;
  const spinning = await Scrambler.create(createKey({ secret }), enc.dim);
  settings.ortSpinning = false;
  let sleepRate = 0;
  let spinRate = 0;
  for (let k = 0; k < 3; k++) {
    sleepRate += (await rate(32, () => s.pixels(emb, 32), BENCH_SECONDS / 3)) / 3;
    spinRate += (await rate(32, () => spinning.pixels(emb, 32), BENCH_SECONDS / 3)) / 3;
  }
  await spinning.release();
  add(`generator ${DEFAULT_LABEL}, ORT threads sleep when idle (default)`, 32, sleepRate, s.flopsPerImage);
  add(`generator ${DEFAULT_LABEL}, ORT threads spin (OWSD_ORT_SPIN=1)`, 32, spinRate, s.flopsPerImage);
  const px = await s.pixels(emb, 32);
  for (const b of [1, 32]) add(`PNG encoding ${size}x${size}`, b, await rate(b, () => encodePngBatch(px.subarray(0, b * size * size * 3), b, size)));
  const cloudAnswer = new Float32Array(32 * 1000).fill(1e-3);
  for (const b of [1, 32]) {
    add(
      `client overhead: decode + MobileNetV2 + generator ${DEFAULT_LABEL} + PNG + IIN`,
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
  await s.release();
  await iin.release();
  await enc.release();

  // Key derivation: the demo's generator (1280-d input) and the paper's (2048-d ResNet50 input), 256x256, base 1024.
  const key = createKey({ secret, ...PAPER });
  const derive = [];
  for (const dim of [1280, 2048]) {
    const t = await time(() => deriveGeneratorWeights(key, dim));
    const weights = countWeights(generatorLayers(dim, key.generator));
    derive.push({ stage: `key derivation, ${dim}-d input`, weightsMillions: +(weights / 1e6).toFixed(1), seconds: +t.seconds.toFixed(3), mWeightsPerSecond: +(weights / 1e6 / t.seconds).toFixed(0) });
  }

  const peakAfter = await machinePeakGflops();
  const peak = Math.max(peakBefore.median, peakAfter.median);
  for (const r of rows) if (r.gflops !== undefined) r.shareOfPeak = +(r.gflops / peak).toFixed(3);
  for (const sh of gen.shares) sh.shareOfMatmul = +(sh.gflops / peak).toFixed(3);
  for (const r of rows) r.imagesPerSecond = +r.imagesPerSecond.toFixed(1);

  console.log(`matmul rate of this machine (ORT float32 MatMul 1024^3, median): ${peakBefore.median} GFLOP/s before, ${peakAfter.median} after`);
  printTable(
    rows.map((r) => ({ stage: r.stage, batch: r.batch, 'images/s': r.imagesPerSecond, 'GFLOP/img': r.gflopPerImage, 'GFLOP/s': r.gflops, 'share of peak': r.shareOfPeak === undefined ? '' : `${(100 * r.shareOfPeak).toFixed(0)}%` })),
  );
  printTable(derive);
  const genDefault = rows.find((r) => r.stage === `generator ${DEFAULT_LABEL}` && r.batch === 32)!;
  const client = rows.find((r) => r.stage.startsWith('client overhead') && r.batch === 32)!;
  const verdict = (v: number, target: number): string => `${v.toFixed(1)} images/s vs target ${target}: ${v >= target ? 'MET' : 'MISSED'} (${(v / target).toFixed(2)}x)`;
  console.log(`generator ${DEFAULT_LABEL}, batch 32: ${verdict(genDefault.imagesPerSecond, 50)}`);
  printShares(gen.shares);
  console.log(`client overhead, batch 32:   ${verdict(client.imagesPerSecond, 30)}`);
  const far = rows.filter((r) => r.shareOfPeak !== undefined && r.batch === 32 && r.shareOfPeak < 0.3).map((r) => r.stage);
  if (far.length) console.log(`work list (below 30% of the matmul rate at batch 32): ${far.join('; ')}`);
  const result = { peakGflops: { before: peakBefore, after: peakAfter }, rows, keyDerivation: derive, generatorCandidates: gen.candidates, generatorShares: gen.shares, targets: { generatorDefault: genDefault.imagesPerSecond, clientOverhead: client.imagesPerSecond } };
  saveResult('stages', result);
  return result;
}

if (isMain(import.meta.url)) await (process.argv[2] === 'generator' ? runGeneratorBench() : process.argv[2] === 'forms' ? runFormsBench() : runStagesBench());
