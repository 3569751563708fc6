/**
 * Every stage of the organization's side, images/s at batch 1 and 32, with its FLOPs per image and its share of
 * this machine's matmul rate measured in the same run (`machinePeakGflops`): decode + preprocess, each encoder
 * with and without its decode + preprocess (`encoderRows`, also alone: `node dist/bench/stages.js encoders`),
 * the generator candidates (the default, 96 and 256 px at 256 channels and the paper's, each in designs v1, v2 and
 * v3 timed interleaved, and 32/64 px; `generatorRows`, also alone: `node dist/bench/stages.js generator`), PNG encoding, IIN prediction, the whole client overhead per image (decode,
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
import { OnnxRunner } from '../src/models/runner.js';
import { outputSize } from '../src/image/preprocess.js';
import { EMBEDDING_OUTPUT, tapEmbedding } from '../src/encoder/tap.js';
import type { ImageInput } from '../src/types.js';
import { dataDir, modelsDir } from '../test/helpers.js';
import { settings } from '../src/settings.js';
import fs from 'node:fs';
import { BENCH_SECONDS, isMain, machinePeakGflops, printTable, rate, rateAndCpu, saveResult, time } from './lib.js';

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
  /** CPU time of this process per image, ms, and GFLOP per CPU-second over the matmul's (encoder rows). */
  cpuMsPerImage?: number;
  cpuShareOfPeak?: number;
}

/** The generators the bench compares: the key default, 96 and 256 px at 256 channels, and the paper's, each in the three designs (graph forms); the design study's 64 and 32 px candidates in v1. */
const PAPER = { baseChannels: PAPER_BASE_CHANNELS, design: PAPER_DESIGN };
const DESIGNS = ['dcgan-he-v1', 'dcgan-he-v2', 'dcgan-he-v3'] as const;
export function generatorLabel(imageSize: number, baseChannels: number, design: GeneratorDesignName): string {
  const tag = imageSize === DEFAULT_IMAGE_SIZE && baseChannels === DEFAULT_BASE_CHANNELS && design === DEFAULT_DESIGN ? ' (default)' : imageSize === 256 && baseChannels === PAPER_BASE_CHANNELS && design === PAPER_DESIGN ? ' (paper)' : '';
  return `${imageSize} px/${baseChannels} ch ${design}${tag}`;
}
const DEFAULT_LABEL = generatorLabel(DEFAULT_IMAGE_SIZE, DEFAULT_BASE_CHANNELS, DEFAULT_DESIGN);
/** Groups of one size and width whose designs are timed interleaved (share: printed against the issue 20 targets). */
export const GENERATOR_GROUPS: Array<{ imageSize: number; baseChannels: number; designs: readonly GeneratorDesignName[]; share: boolean }> = [
  { imageSize: DEFAULT_IMAGE_SIZE, baseChannels: DEFAULT_BASE_CHANNELS, designs: DESIGNS, share: true },
  ...[96, 256]
    .filter((size) => size !== DEFAULT_IMAGE_SIZE || DEFAULT_BASE_CHANNELS !== 256)
    .map((imageSize) => ({ imageSize, baseChannels: 256, designs: DESIGNS, share: true })),
  { imageSize: 256, baseChannels: PAPER_BASE_CHANNELS, designs: DESIGNS, share: true },
  { imageSize: 64, baseChannels: PAPER_BASE_CHANNELS, designs: [PAPER_DESIGN], share: false },
  { imageSize: 32, baseChannels: PAPER_BASE_CHANNELS, designs: [PAPER_DESIGN], share: false },
];

export interface GeneratorShare {
  generator: string;
  batch: number;
  imagesPerSecond: number;
  gflops: number;
  /** GFLOP/s over the matmul rate measured in the same run. */
  shareOfMatmul: number;
  /** CPU time of this process per image (ms) and GFLOP per CPU-second over the matmul's, measured in the same run. */
  cpuMsPerImage: number;
  gflopPerCpuSecond: number;
  cpuShareOfMatmul: number;
}

/**
 * Each candidate generator at batch 1 and 32 (one generator run of that many images), images/s and bytes per PNG,
 * and, for the groups marked `share`, the share of the matmul rate (issue 20: targets >= 85% at batch 32, >= 50% at
 * batch 1). The designs (graph forms) of one size and width are timed interleaved, three rounds each, so the load
 * that colleagues put on a shared machine hits them alike.
 */
export async function generatorRows(emb: Float32Array, dim: number, peak: number, peakPerCpuSecond: number): Promise<{ rows: StageRow[]; candidates: Array<Record<string, unknown>>; shares: GeneratorShare[] }> {
  const secret = new Uint8Array(32).fill(5);
  const rows: StageRow[] = [];
  const candidates: Array<Record<string, unknown>> = [];
  const shares: GeneratorShare[] = [];
  for (const group of GENERATOR_GROUPS) {
    const keys = group.designs.map((design) => createKey({ secret, imageSize: group.imageSize, baseChannels: group.baseChannels, design, embeddingNoise: 0 }));
    const rates = new Map<string, number[]>();
    for (const b of [1, 32]) {
      const scramblers = await Promise.all(keys.map((key) => Scrambler.create(key, dim, { batchSize: b })));
      const x = emb.subarray(0, b * dim);
      const r = scramblers.map(() => 0);
      const cpu = scramblers.map(() => 0);
      for (let round = 0; round < 3; round++) {
        for (const [k, s] of scramblers.entries()) {
          const m = await rateAndCpu(b, () => s.pixels(x, b), BENCH_SECONDS / 3);
          r[k]! += m.rate / 3;
          cpu[k]! += m.cpuMsPerItem / 3;
        }
      }
      for (const [k, s] of scramblers.entries()) {
        const design = group.designs[k]!;
        const label = generatorLabel(group.imageSize, group.baseChannels, design);
        rates.set(label, [...(rates.get(label) ?? []), r[k]!]);
        const gflops = (r[k]! * s.flopsPerImage) / 1e9;
        rows.push({ stage: `generator ${label}`, batch: b, imagesPerSecond: r[k]!, gflopPerImage: s.flopsPerImage / 1e9, gflops });
        const perCpu = s.flopsPerImage / (cpu[k]! * 1e6);
        if (group.share) shares.push({ generator: label, batch: b, imagesPerSecond: +r[k]!.toFixed(1), gflops: +gflops.toFixed(1), shareOfMatmul: +(gflops / peak).toFixed(3), cpuMsPerImage: +cpu[k]!.toFixed(3), gflopPerCpuSecond: +perCpu.toFixed(1), cpuShareOfMatmul: +(perCpu / peakPerCpuSecond).toFixed(3) });
        if (b === 32) {
          const pngs = await s.scramble(x, b);
          const [r1, r32] = rates.get(label)!;
          candidates.push({ generator: label, imageSize: group.imageSize, baseChannels: group.baseChannels, design, gflopPerImage: +(s.flopsPerImage / 1e9).toFixed(3), imagesPerSecondBatch1: +r1!.toFixed(1), imagesPerSecondBatch32: +r32!.toFixed(1), bytesPerImage: Math.round(pngs.reduce((a, p) => a + p.png.length, 0) / b) });
        }
      }
      for (const s of scramblers) await s.release();
    }
  }
  return { rows, candidates, shares };
}

export const ENCODERS = ['mobilenetv2-12-int8', 'shufflenet-v2-12-qdq'] as const;

/**
 * Decode + preprocess alone, each encoder with its decode and preprocess (what `Encoder.encode` costs), and each
 * encoder's model run alone on preprocessed input (the embedding graph `Encoder` runs, through the same
 * OnnxRunner), at batch 1 and 32. The encoders' share of the matmul rate is printed for both (printEncoderShares):
 * the first is what the issue measured, the second the model's own. shufflenet-v2-12-qdq's input is fixed at
 * batch 1, so its batch 32 is 32 runs.
 */
export async function encoderRows(images: ImageInput[]): Promise<StageRow[]> {
  const rows: StageRow[] = [];
  const add = (stage: string, batch: number, imagesPerSecond: number, flops?: number): void => {
    rows.push({ stage, batch, imagesPerSecond, gflopPerImage: flops !== undefined ? flops / 1e9 : undefined, gflops: flops !== undefined ? (flops * imagesPerSecond) / 1e9 : undefined });
  };
  const mnSpec = await resolveModel('mobilenetv2-12-int8', { modelsDir });
  for (const b of [1, 32]) add('decode + preprocess (224, NCHW)', b, await rate(b, () => preprocessBatch(images.slice(0, b), mnSpec.preprocess, mnSpec.input.layout)));
  for (const name of ENCODERS) {
    const spec = await resolveModel(name, { modelsDir });
    const enc = await Encoder.create([spec]);
    const tapped = tapEmbedding(fs.readFileSync(spec.path), name, spec.embedding, spec.output.name);
    const side = outputSize(spec.preprocess);
    const itemDims = spec.input.layout === 'NHWC' ? [side, side, 3] : [3, side, side];
    const runner = await OnnxRunner.create(tapped.model, { what: name, itemDims, inputName: spec.input.name });
    const input = await preprocessBatch(images.slice(0, 32), spec.preprocess, spec.input.layout);
    for (const b of [1, 32]) {
      // interleaved: with and without decode + preprocess
      const whole = { rate: 0, cpuMsPerItem: 0 };
      const model = { rate: 0, cpuMsPerItem: 0 };
      for (let round = 0; round < 2; round++) {
        for (const [acc, fn] of [
          [whole, () => enc.encode(images.slice(0, b))],
          [model, () => runner.run(input.subarray(0, b * 3 * side * side), b, [EMBEDDING_OUTPUT], 32)],
        ] as const) {
          const m = await rateAndCpu(b, fn, BENCH_SECONDS / 2);
          acc.rate += m.rate / 2;
          acc.cpuMsPerItem += m.cpuMsPerItem / 2;
        }
      }
      add(`encoder ${name} (decode+preprocess+run)`, b, whole.rate, MODEL_FLOPS[name]);
      rows[rows.length - 1]!.cpuMsPerImage = +whole.cpuMsPerItem.toFixed(3);
      add(`encoder ${name} (model run only)`, b, model.rate, MODEL_FLOPS[name]);
      rows[rows.length - 1]!.cpuMsPerImage = +model.cpuMsPerItem.toFixed(3);
    }
    await runner.release();
    await enc.release();
  }
  return rows;
}

export function printEncoderShares(rows: StageRow[]): void {
  for (const r of rows) {
    if (!r.stage.startsWith('encoder ') || r.shareOfPeak === undefined) continue;
    const cpu = r.cpuShareOfPeak === undefined ? '' : `; per CPU-second ${(100 * r.cpuShareOfPeak).toFixed(0)}% of the matmul's (${r.cpuMsPerImage} CPU-ms/image)`;
    console.log(`${r.stage}, batch ${r.batch}: ${r.imagesPerSecond.toFixed(1)} images/s, ${(100 * r.shareOfPeak).toFixed(0)}% of the matmul rate${cpu}`);
  }
}

/** Only the encoders: `node dist/bench/stages.js encoders` (a shorter run). */
export async function runEncodersBench(): Promise<Record<string, unknown>> {
  const peakBefore = await machinePeakGflops();
  const ds = await loadDataset(`${dataDir}/imagenette-val`);
  const rows = await encoderRows(ds.samples.slice(0, 32).map((x) => x.image));
  const peakAfter = await machinePeakGflops();
  const peak = Math.max(peakBefore.median, peakAfter.median);
  const perCpu = Math.max(peakBefore.perCpuSecond, peakAfter.perCpuSecond);
  for (const r of rows) {
    if (r.gflops !== undefined) r.shareOfPeak = +(r.gflops / peak).toFixed(3);
    if (r.cpuMsPerImage !== undefined && r.gflopPerImage !== undefined) r.cpuShareOfPeak = +(r.gflopPerImage / (r.cpuMsPerImage * 1e-3) / perCpu).toFixed(3);
    r.imagesPerSecond = +r.imagesPerSecond.toFixed(1);
  }
  console.log(`matmul rate of this machine (ORT float32 MatMul 1024^3, median): ${peakBefore.median} GFLOP/s before, ${peakAfter.median} after; per CPU-second ${peakBefore.perCpuSecond} and ${peakAfter.perCpuSecond}`);
  printEncoderShares(rows);
  const result = { peakGflops: { before: peakBefore, after: peakAfter }, rows };
  saveResult('encoders', result);
  return result;
}

export function printShares(shares: GeneratorShare[]): void {
  for (const sh of shares) {
    const target = sh.batch === 32 ? 0.85 : 0.5;
    console.log(
      `generator ${sh.generator}, batch ${sh.batch}: ${(100 * sh.shareOfMatmul).toFixed(0)}% of the matmul rate (target ${100 * target}%: ${sh.shareOfMatmul >= target ? 'MET' : 'MISSED'}); per CPU-second ${(100 * sh.cpuShareOfMatmul).toFixed(0)}% of the matmul's (${sh.cpuMsPerImage} CPU-ms/image)`,
    );
  }
}

/** Only the generators: `node dist/bench/stages.js generator` (a shorter run). */
export async function runGeneratorBench(): Promise<Record<string, unknown>> {
  const peakBefore = await machinePeakGflops();
  const ds = await loadDataset(`${dataDir}/imagenette-val`);
  const enc = await Encoder.create([await resolveModel('mobilenetv2-12-int8', { modelsDir })]);
  const emb = await enc.encode(ds.samples.slice(0, 32).map((x) => x.image));
  await enc.release();
  const gen = await generatorRows(emb, enc.dim, peakBefore.median, peakBefore.perCpuSecond);
  const peakAfter = await machinePeakGflops();
  const peak = Math.max(peakBefore.median, peakAfter.median);
  const perCpu = Math.max(peakBefore.perCpuSecond, peakAfter.perCpuSecond);
  for (const sh of gen.shares) {
    sh.shareOfMatmul = +(sh.gflops / peak).toFixed(3);
    sh.cpuShareOfMatmul = +(sh.gflopPerCpuSecond / perCpu).toFixed(3);
  }
  console.log(`matmul rate of this machine (ORT float32 MatMul 1024^3, median): ${peakBefore.median} GFLOP/s before, ${peakAfter.median} after; per CPU-second ${peakBefore.perCpuSecond} and ${peakAfter.perCpuSecond}`);
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
  rows.push(...(await encoderRows(images)));

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

  const gen = await generatorRows(emb, enc.dim, peakBefore.median, peakBefore.perCpuSecond);
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
  const perCpu = Math.max(peakBefore.perCpuSecond, peakAfter.perCpuSecond);
  for (const sh of gen.shares) {
    sh.shareOfMatmul = +(sh.gflops / peak).toFixed(3);
    sh.cpuShareOfMatmul = +(sh.gflopPerCpuSecond / perCpu).toFixed(3);
  }
  for (const r of rows) {
    if (r.cpuMsPerImage !== undefined && r.gflopPerImage !== undefined) r.cpuShareOfPeak = +(r.gflopPerImage / (r.cpuMsPerImage * 1e-3) / perCpu).toFixed(3);
    r.imagesPerSecond = +r.imagesPerSecond.toFixed(1);
  }

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
  printEncoderShares(rows);
  console.log(`client overhead, batch 32:   ${verdict(client.imagesPerSecond, 30)}`);
  const far = rows.filter((r) => r.shareOfPeak !== undefined && r.batch === 32 && r.shareOfPeak < 0.3).map((r) => r.stage);
  if (far.length) console.log(`work list (below 30% of the matmul rate at batch 32): ${far.join('; ')}`);
  const result = { peakGflops: { before: peakBefore, after: peakAfter }, rows, keyDerivation: derive, generatorCandidates: gen.candidates, generatorShares: gen.shares, targets: { generatorDefault: genDefault.imagesPerSecond, clientOverhead: client.imagesPerSecond } };
  saveResult('stages', result);
  return result;
}

if (isMain(import.meta.url)) {
  const part = process.argv[2];
  await (part === 'generator' ? runGeneratorBench() : part === 'forms' ? runFormsBench() : part === 'encoders' ? runEncodersBench() : runStagesBench());
}
