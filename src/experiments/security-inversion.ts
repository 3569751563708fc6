/**
 * What an attacker who holds N leaked pairs can do with them, as curves against N, on images the attacker has never
 * seen (a fixed, seeded test set). Pairs are made by the library's own path (encoder → the experiment key's
 * generator → the exact uint8 pixels that become the PNG); nothing is sent to a cloud.
 *
 * Scales: the attacks work where a closed-form regressor fits on 2 cores. Originals are average-pooled to
 * 32x32x3 (CIFAR-10 is 32x32 already; Imagenette's 224 px images are pooled 7x7), scrambled images (256 px) to
 * 32x32x3 (8x8 pooling) as the inverters' input and to 64x64x3 (4x4 pooling) as the surrogate generator's output.
 * All pixel values are in [0, 1].
 *
 * a. The paper's sections 5.3/5.4 at the linear level: a linear autoencoder (PCA with k components fitted on the
 *    N training images, not the paper's convolutional autoencoder) on originals (32x32x3) and on scrambled images
 *    (64x64x3), test reconstruction MSE for k in {16, 64, 256}, beside each one's variance (the k = 0 error).
 * b. Known-plaintext inversion: ridge from the scrambled image (32x32x3) to the original (32x32x3) and to the
 *    embedding (the encoder is public, so a recovered embedding can be matched against candidate images'
 *    embeddings); linear ridge and ridge on random ReLU features, the one with the lower holdout error on the
 *    training pairs kept as "best". PSNR/SSIM against the originals and re-identification among candidates.
 * c. Key recovery: a surrogate generator, ridge from the embedding to the scrambled image (64x64x3), linear and on
 *    random ReLU features of the embedding; how close its outputs get to the real key's on new embeddings, and
 *    whether they link real scrambled images to the candidate embedding they came from.
 *
 * Re-identification is by cosine after subtracting the training mean (a correlation), within pools of 100
 * candidates (chance 1%) and within the whole test set.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { fail } from '../errors.js';
import { createRng, deriveSeed, shuffle } from '../internal/random.js';
import { decodeRgb } from '../image/decode.js';
import {
  applyRandomFeatures,
  colSlice,
  createRandomFeatures,
  dense,
  DEFAULT_ALPHAS,
  fitPca,
  fitRidge,
  pcaReconstructionMse,
  predict,
  rowSlice,
  type Dense,
  type RidgeModel,
} from '../analysis/ridge.js';
import {
  crossingFromCurve,
  imageSetMetrics,
  meanRowCorrelation,
  reidentify,
  type CurveCrossing,
  type ImageSetMetrics,
  type ReidResult,
} from '../analysis/inversion.js';
import { lineChart, svgToPng, type Series } from '../analysis/charts.js';
import type { ImageInput, Sample } from '../types.js';
import type { ExperimentContext } from './context.js';

export const INVERSION_FORMAT = 'owsd-inversion-study/1';
export const ORIGINAL_SIDE = 32;
export const INPUT_SIDE = 32;
export const SURROGATE_SIDE = 64;
export const SCRAMBLED_SIDE = 256;
const ENCODER = 'mobilenetv2-12-int8';
const FIGURE_IMAGES = 8;
const AE_KS = [16, 64, 256];
const POOL = 100;

export interface InversionStudyOptions {
  dataset: 'cifar-10' | 'imagenette-val';
  /** A few hundred images (for CI): 240 images, 80 of them unseen, N in {10, 40, 160}. */
  quick: boolean;
  seed: number;
  /** Training pairs N (default: 5, 10, 30, 100, 300, 1000, 3000, 9000 where the data allows, and all of the training pool). */
  nValues?: number[];
  /** Write the reconstruction grid (PNG) here. */
  figurePath?: string;
  /** Also render the PSNR and re-identification curves as PNG charts into this folder. */
  chartDir?: string;
  /** Unseen test images (default 1000 for CIFAR-10, 500 for Imagenette, 80 quick). */
  testImages?: number;
  /** Random ReLU features for the nonlinear variants (default 2048, quick 512; 0 turns them off). */
  randomFeatures?: number;
  /**
   * Fit the random-feature variants only up to this N (default 1000; quick: all). They lost to linear ridge at
   * every N on both datasets (CIFAR-10 up to 9000 with 2048 and 4096 features), and above 1000 pairs they cost
   * most of the run time.
   */
  randomFeaturesMaxN?: number;
  /** Ridge penalties to choose from on the holdout (default DEFAULT_ALPHAS). */
  alphas?: number[];
  encoder?: string;
  key?: string;
  /**
   * The key's per-submission embedding noise (multiple of the embedding's RMS; default 0, the paper's design). With
   * noise the attacker's pairs and the test images are each one fresh draw, as real traffic would be.
   */
  embeddingNoise?: number;
}

export interface PixelScore extends ImageSetMetrics {
  alpha: number;
  validationMse: number;
  /** Re-identification of the plaintext among candidate originals, pools of 100 and the whole test set. */
  reid100: ReidResult;
  reidAll: ReidResult;
}

export interface EmbeddingScore {
  alpha: number;
  validationMse: number;
  /** Mean Pearson correlation of predicted and true embeddings. */
  correlation: number;
  reid100: ReidResult;
  reidAll: ReidResult;
}

export interface SurrogateScore extends ImageSetMetrics {
  alpha: number;
  validationMse: number;
  /** Mean Pearson correlation of the surrogate's output with the real scrambled image (64 px). */
  correlation: number;
  /** The same after subtracting the mean training scrambled image (what is specific to each input). */
  centredCorrelation: number;
  /** Which candidate embedding produced each real scrambled image, by the surrogate's outputs. */
  link100: ReidResult;
  linkAll: ReidResult;
}

export type Variant = 'linear' | 'random-features';

export interface InversionPoint {
  n: number;
  seconds: number;
  /** Seconds per attack. */
  timings: { autoencoder: number; inversion: number; keyRecovery: number };
  /**
   * Linear autoencoder: test MSE per k (null where k >= N) of originals (32 px) and scrambled images (64 px), and
   * the k = 0 error (the test images' MSE against the training mean).
   */
  autoencoder: { ks: number[]; original: Array<number | null>; scrambled: Array<number | null>; originalVariance: number; scrambledVariance: number };
  /** `fromTrueEmbedding`: the same ridge from the true embedding, a reference for what recovering it exactly gives. */
  plaintext: { baseline: ImageSetMetrics; best: Variant; variants: Partial<Record<Variant, PixelScore>>; fromTrueEmbedding: PixelScore };
  embedding: { best: Variant; variants: Partial<Record<Variant, EmbeddingScore>> };
  keyRecovery: { baseline: ImageSetMetrics & { correlation: number }; best: Variant; variants: Partial<Record<Variant, SurrogateScore>> };
}

export interface StudyBudget extends CurveCrossing {
  description: string;
  threshold: number;
}

export interface InversionStudyResult {
  format: typeof INVERSION_FORMAT;
  dataset: string;
  quick: boolean;
  seed: number;
  encoder: string;
  key: string;
  imageSize: number;
  /** The key's per-submission embedding noise (0: the paper's deterministic design; absent in older results). */
  embeddingNoise?: number;
  scales: { original: number; inverterInput: number; surrogateOutput: number; pooling: 'average' };
  images: { selected: number; test: number; trainPool: number };
  /**
   * Per-pixel variance (across the test images, averaged over positions) of the scrambled images at 256 px and
   * after pooling to 64 and 32 px, and of the originals at 32 px: what the pooled scales keep.
   */
  variance: { scrambled256: number; scrambled64: number; scrambled32: number; original32: number };
  nValues: number[];
  /** Random ReLU features of the nonlinear variants, fitted for N <= maxN (null: every N). */
  randomFeatures: { dim: number; maxN: number | null };
  alphas: number[];
  points: InversionPoint[];
  /** Ready for `lineChart` (x = N); `autoencoder` is relative (test MSE / test variance). */
  curves: { psnr: Series[]; ssim: Series[]; reid: Series[]; autoencoder: Series[]; surrogate: Series[] };
  /** Where each attack crosses its threshold; `smallest` is the least N over them. */
  budgets: { thresholds: Record<string, StudyBudget>; smallest: { name: string; n: number } | null };
  figure: { path: string; rows: string[]; testIds: string[] } | null;
  charts: string[];
  seconds: { pairs: number; attacks: number; total: number };
  notes: string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Pairs

/** Average-pool a square HWC uint8 image of side `inSide` to `outSide` (a divisor), values scaled to [0, 1]. */
export function averagePool(src: Uint8Array, inSide: number, outSide: number, out: Float32Array, offset = 0): void {
  const f = inSide / outSide;
  if (!Number.isInteger(f) || f < 1) fail('OWSD_ERR_BAD_ARGUMENT', `average pooling: ${outSide} does not divide ${inSide}`);
  if (src.length !== inSide * inSide * 3) fail('OWSD_ERR_SHAPE', `average pooling: expected ${inSide}x${inSide}x3 = ${inSide * inSide * 3} values, got ${src.length}`);
  const norm = 1 / (255 * f * f);
  for (let y = 0; y < outSide; y++) {
    for (let x = 0; x < outSide; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let dy = 0; dy < f; dy++) {
        let p = ((y * f + dy) * inSide + x * f) * 3;
        for (let dx = 0; dx < f; dx++, p += 3) {
          r += src[p]!;
          g += src[p + 1]!;
          b += src[p + 2]!;
        }
      }
      const o = offset + (y * outSide + x) * 3;
      out[o] = r * norm;
      out[o + 1] = g * norm;
      out[o + 2] = b * norm;
    }
  }
}

/** An image as side x side x 3 values in [0, 1], by average pooling (after a resize to a multiple of side if needed). */
export async function originalPixels(img: ImageInput, side: number, out: Float32Array, offset = 0): Promise<void> {
  const rgb = await decodeRgb(img);
  if (rgb.width === rgb.height && rgb.width % side === 0) return averagePool(rgb.data, rgb.width, side, out, offset);
  const f = Math.max(1, Math.floor(Math.min(rgb.width, rgb.height) / side));
  const r = await decodeRgb(img, { resize: { size: side * f, fit: 'fill' } });
  averagePool(r.data, side * f, side, out, offset);
}

/** What `collectPairs` computes; `collectInversionPairs` adds where it came from. */
type Pairs = Pick<InversionPairs, 'embeddings' | 'originals' | 'scrambled32' | 'scrambled64' | 'full' | 'fullVariance'>;

async function collectPairs(ctx: ExperimentContext, samples: Sample[], encoder: string, keyName: string, embeddingNoise: number, keepFull: number, statsOf: number): Promise<Pairs> {
  const source = await ctx.embeddingSource([encoder]);
  const scrambler = await ctx.scrambler(keyName, SCRAMBLED_SIDE, source.dim, { embeddingNoise });
  const n = samples.length;
  const embeddings = dense(n, source.dim);
  const originals = dense(n, ORIGINAL_SIDE * ORIGINAL_SIDE * 3);
  const scrambled32 = dense(n, INPUT_SIDE * INPUT_SIDE * 3);
  const scrambled64 = dense(n, SURROGATE_SIDE * SURROGATE_SIDE * 3);
  const full: Uint8Array[] = [];
  const per = SCRAMBLED_SIDE * SCRAMBLED_SIDE * 3;
  const fullStats = new PixelStats(per);
  const t0 = performance.now();
  let logged = 0;
  for (let s = 0; s < n; s += 32) {
    const batch = samples.slice(s, s + 32);
    const emb = await source.encode(batch.map((x) => x.image));
    embeddings.data.set(emb, s * source.dim);
    const px = await scrambler.pixels(emb, batch.length);
    for (let j = 0; j < batch.length; j++) {
      const img = px.subarray(j * per, (j + 1) * per);
      averagePool(img, SCRAMBLED_SIDE, INPUT_SIDE, scrambled32.data, (s + j) * scrambled32.cols);
      averagePool(img, SCRAMBLED_SIDE, SURROGATE_SIDE, scrambled64.data, (s + j) * scrambled64.cols);
      if (s + j < keepFull) full.push(img.slice());
      if (s + j < statsOf) fullStats.add(img);
    }
    await Promise.all(batch.map((x, j) => originalPixels(x.image, ORIGINAL_SIDE, originals.data, (s + j) * originals.cols)));
    if (s + batch.length - logged >= 2000 || s + batch.length === n) {
      logged = s + batch.length;
      ctx.log(`  inversion study: ${logged}/${n} pairs (${(logged / ((performance.now() - t0) / 1000)).toFixed(0)}/s)`);
    }
  }
  return { embeddings, originals, scrambled32, scrambled64, full, fullVariance: fullStats.variance() };
}

/** Per-position mean and variance of 256 px scrambled images (for the variance that pooling removes). */
class PixelStats {
  private sum: Float64Array;
  private sq: Float64Array;
  count = 0;
  constructor(size: number) {
    this.sum = new Float64Array(size);
    this.sq = new Float64Array(size);
  }
  add(px: Uint8Array): void {
    for (let i = 0; i < px.length; i++) {
      const v = px[i]! / 255;
      this.sum[i] += v;
      this.sq[i] += v * v;
    }
    this.count++;
  }
  /** Mean over positions of the per-position variance. */
  variance(): number {
    if (this.count < 2) return NaN;
    let t = 0;
    for (let i = 0; i < this.sum.length; i++) {
      const m = this.sum[i]! / this.count;
      t += this.sq[i]! / this.count - m * m;
    }
    return t / this.sum.length;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Attacks

function columnMean(m: Dense): Float32Array {
  const out = new Float64Array(m.cols);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out[j] += m.data[i * m.cols + j]!;
  return Float32Array.from(out, (v) => v / m.rows);
}

/** Mean over columns of each column's variance across rows. */
function meanVariance(m: Dense): number {
  const mu = columnMean(m);
  let t = 0;
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < m.cols; j++) {
      const d = m.data[i * m.cols + j]! - mu[j]!;
      t += d * d;
    }
  }
  return t / (m.rows * m.cols);
}

function repeatRow(row: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * row.length);
  for (let i = 0; i < n; i++) out.set(row, i * row.length);
  return out;
}

function concatCols(a: Dense, b: Dense): Dense {
  const out = dense(a.rows, a.cols + b.cols);
  for (let i = 0; i < a.rows; i++) {
    out.data.set(a.data.subarray(i * a.cols, (i + 1) * a.cols), i * out.cols);
    out.data.set(b.data.subarray(i * b.cols, (i + 1) * b.cols), i * out.cols + a.cols);
  }
  return out;
}

interface Fitted {
  model: RidgeModel;
  test: Dense;
}

/** Linear ridge and ridge on random ReLU features, both fitted on (x, y) and applied to xTest. */
async function fitVariants(x: Dense, y: Dense, xTest: Dense, o: { alphas: number[]; blocks?: number[]; rf: number; seed: number; tag: string }): Promise<Partial<Record<Variant, Fitted>>> {
  const out: Partial<Record<Variant, Fitted>> = {};
  const lin = await fitRidge(x, y, { alphas: o.alphas, blocks: o.blocks, seed: o.seed });
  out.linear = { model: lin, test: await predict(lin, xTest) };
  if (o.rf > 0) {
    const map = createRandomFeatures(x, o.rf, deriveSeed(o.seed, `rf-${o.tag}`));
    const model = await fitRidge(await applyRandomFeatures(map, x), y, { alphas: o.alphas, blocks: o.blocks, seed: o.seed });
    out['random-features'] = { model, test: await predict(model, await applyRandomFeatures(map, xTest)) };
  }
  return out;
}

function bestOf<T extends { validationMse: number }>(variants: Partial<Record<Variant, T>>): Variant {
  const lin = variants.linear!;
  const rf = variants['random-features'];
  return rf && rf.validationMse < lin.validationMse ? 'random-features' : 'linear';
}

interface FigureRows {
  low?: Float32Array;
  high?: Float32Array;
  surrogate?: Float32Array;
  mean?: Float32Array;
  /** The mean training scrambled image at 64 px (what every scrambled image mostly is). */
  meanScrambled?: Float32Array;
}

// ---------------------------------------------------------------------------------------------------------------

function defaultNValues(pool: number, quick: boolean): number[] {
  if (quick) return [10, 40, 160].filter((n) => n <= pool);
  const base = [5, 10, 30, 100, 300, 1000, 3000, 9000].filter((n) => n < 0.8 * pool);
  return [...base, pool];
}

/**
 * Runs the three attacks for each N in `nValues` on the same unseen test images and returns curves, budgets and,
 * with `figurePath`, a grid of reconstructions. Full mode fits in about 10 minutes per dataset on 2 cores.
 */
interface Plan {
  quick: boolean;
  encoder: string;
  keyName: string;
  embeddingNoise: number;
  alphas: number[];
  rf: number;
  rfMaxN: number;
  samples: Sample[];
  testCount: number;
  poolSize: number;
  nValues: number[];
}

async function plan(ctx: ExperimentContext, opts: InversionStudyOptions): Promise<Plan> {
  if (opts.dataset !== 'cifar-10' && opts.dataset !== 'imagenette-val') {
    fail('OWSD_ERR_BAD_ARGUMENT', `inversion study: dataset must be 'cifar-10' or 'imagenette-val', got '${String(opts.dataset)}'`);
  }
  if (!Number.isSafeInteger(opts.seed)) fail('OWSD_ERR_BAD_ARGUMENT', `inversion study: seed must be an integer, got ${opts.seed}`);
  const quick = opts.quick;
  const rf = opts.randomFeatures ?? (quick ? 512 : 2048);
  if (!Number.isInteger(rf) || rf < 0) fail('OWSD_ERR_BAD_ARGUMENT', `inversion study: randomFeatures must be a non-negative integer, got ${rf}`);
  const selected = await ctx.select(quick ? { dataset: opts.dataset, perLabel: 24, seed: opts.seed } : { dataset: opts.dataset, seed: opts.seed });
  const samples = shuffle([...selected.samples], createRng(deriveSeed(opts.seed, `inversion-split-${opts.dataset}`)));
  const testCount = opts.testImages ?? (quick ? 80 : opts.dataset === 'cifar-10' ? 1000 : 500);
  if (!Number.isInteger(testCount) || testCount < 10 || testCount > samples.length - 5) {
    fail('OWSD_ERR_BAD_ARGUMENT', `inversion study: test images must be an integer from 10 to ${samples.length - 5} (${samples.length} images selected), got ${testCount}`);
  }
  const poolSize = samples.length - testCount;
  const nValues = [...(opts.nValues ?? defaultNValues(poolSize, quick))].sort((a, b) => a - b);
  if (nValues.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', 'inversion study: no N values to run');
  for (const n of nValues) {
    if (!Number.isInteger(n) || n < 5 || n > poolSize) fail('OWSD_ERR_BAD_ARGUMENT', `inversion study: each N must be an integer from 5 to the ${poolSize} training images available, got ${n}`);
  }
  const rfMaxN = opts.randomFeaturesMaxN ?? (quick ? Infinity : 1000);
  if (!(rfMaxN >= 0)) fail('OWSD_ERR_BAD_ARGUMENT', `inversion study: randomFeaturesMaxN must be a non-negative number, got ${rfMaxN}`);
  const embeddingNoise = opts.embeddingNoise ?? 0;
  if (!(embeddingNoise >= 0)) fail('OWSD_ERR_BAD_ARGUMENT', `inversion study: embeddingNoise must be a non-negative number, got ${embeddingNoise}`);
  return { quick, encoder: opts.encoder ?? ENCODER, keyName: opts.key ?? 'k0', embeddingNoise, alphas: opts.alphas ?? DEFAULT_ALPHAS, rf, rfMaxN, samples, testCount, poolSize, nValues };
}

/** The pairs a study runs on: its unseen test images first, then the training pool in order (see `collectInversionPairs`). */
export interface InversionPairs {
  dataset: string;
  seed: number;
  encoder: string;
  key: string;
  embeddingNoise: number;
  testCount: number;
  /** Sample ids, row by row. */
  ids: string[];
  embeddings: Dense;
  /** 32x32x3 in [0, 1]. */
  originals: Dense;
  /** The scrambled image average-pooled to 32x32x3 and 64x64x3, in [0, 1]. */
  scrambled32: Dense;
  scrambled64: Dense;
  /** The 256 px scrambled images (uint8 HWC) of the first test images, for the figure. */
  full: Uint8Array[];
  /** Per-pixel variance of the test images' scrambled images at 256 px. */
  fullVariance: number;
  seconds: number;
}

/**
 * Encode and scramble the images a study with these options needs (the seeded test images, then as many training
 * images as the largest N), through the experiment key's generator; nothing is sent anywhere. The result can be
 * handed to several `runInversionStudy` calls with the same dataset, seed and test size.
 */
export async function collectInversionPairs(ctx: ExperimentContext, opts: InversionStudyOptions): Promise<InversionPairs> {
  const t0 = performance.now();
  const p = await plan(ctx, opts);
  const rows = p.samples.slice(0, p.testCount + p.nValues[p.nValues.length - 1]!);
  ctx.log(`inversion study on ${opts.dataset}${p.quick ? ' (quick)' : ''}: encoding and scrambling ${rows.length} images (${p.testCount} unseen test images), key ${p.keyName}, encoder ${p.encoder}`);
  const pairs = await collectPairs(ctx, rows, p.encoder, p.keyName, p.embeddingNoise, FIGURE_IMAGES, p.testCount);
  return {
    dataset: opts.dataset,
    seed: opts.seed,
    encoder: p.encoder,
    key: p.keyName,
    embeddingNoise: p.embeddingNoise,
    testCount: p.testCount,
    ids: rows.map((x) => x.id),
    ...pairs,
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * Runs the three attacks for each N in `nValues` on the same unseen test images and returns curves, budgets and,
 * with `figurePath`, a grid of reconstructions. Pairs come from `collectInversionPairs` (made here when not given).
 * Full mode fits in about 10 minutes per dataset on 2 cores.
 */
export async function runInversionStudy(ctx: ExperimentContext, opts: InversionStudyOptions, given?: InversionPairs): Promise<InversionStudyResult> {
  const started = performance.now();
  const { quick, encoder, keyName, embeddingNoise, alphas, rf: rfDim, rfMaxN, samples, testCount, poolSize, nValues } = await plan(ctx, opts);
  const pairs = given ?? (await collectInversionPairs(ctx, opts));
  const needed = testCount + nValues[nValues.length - 1]!;
  if (
    pairs.dataset !== opts.dataset || pairs.seed !== opts.seed || pairs.testCount !== testCount || pairs.encoder !== encoder || pairs.key !== keyName || pairs.embeddingNoise !== embeddingNoise ||
    pairs.ids.length < needed || pairs.ids.some((id, i) => i < needed && samples[i]!.id !== id)
  ) {
    fail('OWSD_ERR_BAD_ARGUMENT', `inversion study: the given pairs (${pairs.dataset}, seed ${pairs.seed}, ${pairs.ids.length} rows) were not collected for these options (${opts.dataset}, seed ${opts.seed}, ${needed} rows)`);
  }
  const pairsSeconds = given ? 0 : pairs.seconds;
  ctx.log(`inversion study on ${opts.dataset}${quick ? ' (quick)' : ''}: ${testCount} unseen test images, N = ${nValues.join(', ')}`);
  const test = {
    o: rowSlice(pairs.originals, 0, testCount),
    e: rowSlice(pairs.embeddings, 0, testCount),
    s32: rowSlice(pairs.scrambled32, 0, testCount),
    s64: rowSlice(pairs.scrambled64, 0, testCount),
  };
  const pool = Math.min(POOL, testCount);
  const oDim = pairs.originals.cols;
  const points: InversionPoint[] = [];
  const figure: FigureRows = {};
  const attackStart = performance.now();

  for (const n of nValues) {
    const t0 = performance.now();
    const train = {
      o: rowSlice(pairs.originals, testCount, n),
      e: rowSlice(pairs.embeddings, testCount, n),
      s32: rowSlice(pairs.scrambled32, testCount, n),
      s64: rowSlice(pairs.scrambled64, testCount, n),
    };
    const seed = deriveSeed(opts.seed, `inversion-n${n}`);
    const rf = n <= rfMaxN ? rfDim : 0;

    // a. Linear autoencoder (PCA) on originals (32 px) and on scrambled images (64 px).
    const kMax = Math.min(AE_KS[AE_KS.length - 1]!, n - 1);
    const ks = AE_KS.filter((k) => k <= kMax);
    const pcaO = await fitPca(train.o, kMax, { seed });
    const pcaS = await fitPca(train.s64, kMax, { seed });
    const aeO = await pcaReconstructionMse(pcaO, test.o, [0, ...ks]);
    const aeS = await pcaReconstructionMse(pcaS, test.s64, [0, ...ks]);
    const autoencoder = {
      ks: AE_KS,
      original: AE_KS.map((k) => (k <= kMax ? aeO[1 + ks.indexOf(k)]! : null)),
      scrambled: AE_KS.map((k) => (k <= kMax ? aeS[1 + ks.indexOf(k)]! : null)),
      originalVariance: aeO[0]!,
      scrambledVariance: aeS[0]!,
    };
    const tAe = performance.now();

    // b. Scrambled (32 px) → [original (32 px) | embedding].
    const meanO = columnMean(train.o);
    const meanE = columnMean(train.e);
    const shape = { n: testCount, width: ORIGINAL_SIDE, height: ORIGINAL_SIDE, channels: 3 };
    const baseline = imageSetMetrics(repeatRow(meanO, testCount), test.o.data, shape);
    const inv = await fitVariants(train.s32, concatCols(train.o, train.e), test.s32, { alphas, blocks: [oDim, train.e.cols], rf, seed, tag: 'inversion' });
    const pixelScores: Partial<Record<Variant, PixelScore>> = {};
    const embScores: Partial<Record<Variant, EmbeddingScore>> = {};
    const pixelPreds: Partial<Record<Variant, Float32Array>> = {};
    for (const [variant, f] of Object.entries(inv) as Array<[Variant, Fitted]>) {
      const po = colSlice(f.test, 0, oDim);
      const pe = colSlice(f.test, oDim, train.e.cols);
      pixelPreds[variant] = po.data;
      pixelScores[variant] = {
        ...imageSetMetrics(po.data, test.o.data, shape),
        alpha: f.model.blocks[0]!.alpha,
        validationMse: f.model.blocks[0]!.validation,
        reid100: await reidentify(po.data, test.o.data, testCount, oDim, { center: meanO, pool }),
        reidAll: await reidentify(po.data, test.o.data, testCount, oDim, { center: meanO }),
      };
      embScores[variant] = {
        alpha: f.model.blocks[1]!.alpha,
        validationMse: f.model.blocks[1]!.validation,
        correlation: meanRowCorrelation(pe.data, test.e.data, testCount, train.e.cols),
        reid100: await reidentify(pe.data, test.e.data, testCount, train.e.cols, { center: meanE, pool }),
        reidAll: await reidentify(pe.data, test.e.data, testCount, train.e.cols, { center: meanE }),
      };
    }
    const bestPixel = bestOf(pixelScores);
    // Reference: the same regressor from the TRUE embedding (an attacker who recovered it exactly).
    const oracle = await fitRidge(train.e, train.o, { alphas, seed });
    const oraclePred = await predict(oracle, test.e);
    const fromTrueEmbedding: PixelScore = {
      ...imageSetMetrics(oraclePred.data, test.o.data, shape),
      alpha: oracle.blocks[0]!.alpha,
      validationMse: oracle.blocks[0]!.validation,
      reid100: await reidentify(oraclePred.data, test.o.data, testCount, oDim, { center: meanO, pool }),
      reidAll: await reidentify(oraclePred.data, test.o.data, testCount, oDim, { center: meanO }),
    };
    const tInv = performance.now();

    // c. Surrogate generator: embedding → scrambled (64 px).
    const meanS = columnMean(train.s64);
    const sDim = train.s64.cols;
    const shape64 = { n: testCount, width: SURROGATE_SIDE, height: SURROGATE_SIDE, channels: 3 };
    const meanRows = repeatRow(meanS, testCount);
    const keyBaseline = { ...imageSetMetrics(meanRows, test.s64.data, shape64), correlation: meanRowCorrelation(meanRows, test.s64.data, testCount, sDim) };
    const sur = await fitVariants(train.e, train.s64, test.e, { alphas, rf, seed, tag: 'surrogate' });
    const surScores: Partial<Record<Variant, SurrogateScore>> = {};
    const surPreds: Partial<Record<Variant, Float32Array>> = {};
    for (const [variant, f] of Object.entries(sur) as Array<[Variant, Fitted]>) {
      surPreds[variant] = f.test.data;
      surScores[variant] = {
        ...imageSetMetrics(f.test.data, test.s64.data, shape64),
        alpha: f.model.blocks[0]!.alpha,
        validationMse: f.model.blocks[0]!.validation,
        correlation: meanRowCorrelation(f.test.data, test.s64.data, testCount, sDim),
        centredCorrelation: meanRowCorrelation(f.test.data, test.s64.data, testCount, sDim, meanS),
        link100: await reidentify(test.s64.data, f.test.data, testCount, sDim, { center: meanS, pool }),
        linkAll: await reidentify(test.s64.data, f.test.data, testCount, sDim, { center: meanS }),
      };
    }
    const bestSur = bestOf(surScores);

    if (n === nValues[0]) figure.low = pixelPreds[bestPixel]!.slice(0, FIGURE_IMAGES * oDim);
    if (n === nValues[nValues.length - 1]) {
      figure.high = pixelPreds[bestPixel]!.slice(0, FIGURE_IMAGES * oDim);
      figure.surrogate = surPreds[bestSur]!.slice(0, FIGURE_IMAGES * sDim);
      figure.mean = meanO;
      figure.meanScrambled = meanS;
    }
    const seconds = (performance.now() - t0) / 1000;
    points.push({
      n,
      seconds,
      timings: { autoencoder: (tAe - t0) / 1000, inversion: (tInv - tAe) / 1000, keyRecovery: (performance.now() - tInv) / 1000 },
      autoencoder,
      plaintext: { baseline, best: bestPixel, variants: pixelScores, fromTrueEmbedding },
      embedding: { best: bestOf(embScores), variants: embScores },
      keyRecovery: { baseline: keyBaseline, best: bestSur, variants: surScores },
    });
    const bp = pixelScores[bestPixel]!;
    const be = embScores[points[points.length - 1]!.embedding.best]!;
    const bs = surScores[bestSur]!;
    ctx.log(
      `  N=${n}: AE k=${ks[ks.length - 1] ?? '-'} MSE original ${fmt(autoencoder.original[ks.length - 1] ?? NaN)} / scrambled ${fmt(autoencoder.scrambled[ks.length - 1] ?? NaN)}; ` +
        `inversion (${bestPixel}) PSNR ${bp.psnr.toFixed(2)} dB (mean image ${baseline.psnr.toFixed(2)}), reid@${pool} ${pct(bp.reid100.top1)}; ` +
        `embedding reid@${pool} ${pct(be.reid100.top1)}; surrogate (${bestSur}) r=${bs.centredCorrelation.toFixed(3)}, link@${pool} ${pct(bs.link100.top1)} ` +
        `[${((tAe - t0) / 1000).toFixed(1)} + ${((tInv - tAe) / 1000).toFixed(1)} + ${((performance.now() - tInv) / 1000).toFixed(1)} s]`,
    );
  }
  const attackSeconds = (performance.now() - attackStart) / 1000;

  const curves = buildCurves(points);
  const budgets = studyBudgets(points, pool);
  let figureInfo: InversionStudyResult['figure'] = null;
  if (opts.figurePath) {
    figureInfo = await writeFigure(opts.figurePath, {
      dataset: opts.dataset,
      originals: test.o.data.slice(0, FIGURE_IMAGES * oDim),
      full: pairs.full,
      s32: test.s32.data.slice(0, FIGURE_IMAGES * test.s32.cols),
      s64: test.s64.data.slice(0, FIGURE_IMAGES * test.s64.cols),
      rows: figure,
      nLow: nValues[0]!,
      nHigh: nValues[nValues.length - 1]!,
      best: points[points.length - 1]!.plaintext.best,
      bestSurrogate: points[points.length - 1]!.keyRecovery.best,
      count: Math.min(FIGURE_IMAGES, testCount),
      testIds: samples.slice(0, Math.min(FIGURE_IMAGES, testCount)).map((s) => s.id),
    });
  }
  const charts = opts.chartDir ? await writeCharts(opts.chartDir, opts.dataset, curves, pool) : [];
  const total = (performance.now() - started) / 1000;
  ctx.log(`inversion study on ${opts.dataset}: ${total.toFixed(0)} s (pairs ${pairsSeconds.toFixed(0)} s, attacks ${attackSeconds.toFixed(0)} s)`);
  return {
    format: INVERSION_FORMAT,
    dataset: opts.dataset,
    quick,
    seed: opts.seed,
    encoder,
    key: keyName,
    imageSize: SCRAMBLED_SIDE,
    embeddingNoise,
    scales: { original: ORIGINAL_SIDE, inverterInput: INPUT_SIDE, surrogateOutput: SURROGATE_SIDE, pooling: 'average' },
    images: { selected: samples.length, test: testCount, trainPool: poolSize },
    variance: { scrambled256: pairs.fullVariance, scrambled64: meanVariance(test.s64), scrambled32: meanVariance(test.s32), original32: meanVariance(test.o) },
    nValues,
    randomFeatures: { dim: rfDim, maxN: Number.isFinite(rfMaxN) ? rfMaxN : null },
    alphas: [...alphas],
    points,
    curves,
    budgets,
    figure: figureInfo,
    charts,
    seconds: { pairs: pairsSeconds, attacks: attackSeconds, total },
    notes: [
      'Linear autoencoder = PCA fitted on the N training images (not the paper\'s convolutional autoencoder); MSE on [0,1] pixels, originals at 32x32x3, scrambled images at 64x64x3 (4x4 average pooling of the 256 px image, which removes most of their variance: see `variance`).',
      'Inverters: closed-form ridge (α chosen on a 20% holdout of the training pairs), linear and on random ReLU features; "best" is the lower holdout error.',
      `Re-identification: cosine after subtracting the training mean, pools of ${pool} candidates (chance ${pct(1 / pool)}) and the whole test set; ties count against the attacker.`,
      'SSIM: Gaussian window σ=1.5, 11x11, per channel, valid region (= scikit-image gaussian_weights=True).',
    ],
  };
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(4) : '-';
}
function pct(v: number): string {
  return `${(100 * v).toFixed(1)}%`;
}

function buildCurves(points: InversionPoint[]): InversionStudyResult['curves'] {
  const series = (name: string, f: (p: InversionPoint) => number | null | undefined, dashed = false): Series => ({
    name,
    dashed,
    points: points.map((p) => ({ x: p.n, y: f(p) ?? NaN })),
  });
  const variantNames: Array<[Variant, string]> = [
    ['linear', 'linear ridge'],
    ['random-features', 'ridge on random ReLU features'],
  ];
  const has = (v: Variant) => points.some((p) => p.plaintext.variants[v] !== undefined);
  const used = variantNames.filter(([v]) => has(v));
  return {
    psnr: [
      ...used.map(([v, name]) => series(`inversion: ${name}`, (p) => p.plaintext.variants[v]?.psnr)),
      series('from the true embedding (reference)', (p) => p.plaintext.fromTrueEmbedding.psnr, true),
      series('mean training image (trivial)', (p) => p.plaintext.baseline.psnr, true),
    ],
    ssim: [
      ...used.map(([v, name]) => series(`inversion: ${name}`, (p) => p.plaintext.variants[v]?.ssim)),
      series('mean training image (trivial)', (p) => p.plaintext.baseline.ssim, true),
    ],
    reid: [
      series('plaintext from scrambled (best inverter)', (p) => p.plaintext.variants[p.plaintext.best]?.reid100.top1),
      series('embedding from scrambled (best inverter)', (p) => p.embedding.variants[p.embedding.best]?.reid100.top1),
      series('surrogate key links scrambled to embedding', (p) => p.keyRecovery.variants[p.keyRecovery.best]?.link100.top1),
    ],
    // Relative: test MSE / test variance (the share of variance the k components leave), comparable across scales.
    autoencoder: AE_KS.flatMap((k, i) => [
      series(`originals (32 px), k=${k}`, (p) => (p.autoencoder.original[i] ?? NaN) / p.autoencoder.originalVariance),
      series(`scrambled (64 px), k=${k}`, (p) => (p.autoencoder.scrambled[i] ?? NaN) / p.autoencoder.scrambledVariance, true),
    ]),
    surrogate: [
      ...used.map(([v, name]) => series(`surrogate: ${name} (centred r)`, (p) => p.keyRecovery.variants[v]?.centredCorrelation)),
    ],
  };
}

function studyBudgets(points: InversionPoint[], pool: number): InversionStudyResult['budgets'] {
  const chance = 1 / pool;
  const curve = (f: (p: InversionPoint) => number) => points.map((p) => ({ n: p.n, value: f(p) }));
  const defs: Record<string, { description: string; threshold: number; points: Array<{ n: number; value: number }> }> = {
    embeddingReid: {
      description: `embedding recovered from the scrambled image re-identifies its source: top-1 in pools of ${pool} above 10x chance`,
      threshold: 10 * chance,
      points: curve((p) => p.embedding.variants[p.embedding.best]!.reid100.top1),
    },
    plaintextReid: {
      description: `reconstructed plaintext re-identifies its source: top-1 in pools of ${pool} above 10x chance`,
      threshold: 10 * chance,
      points: curve((p) => p.plaintext.variants[p.plaintext.best]!.reid100.top1),
    },
    surrogateLink: {
      description: `surrogate generator links scrambled images to their embeddings: top-1 in pools of ${pool} above 10x chance`,
      threshold: 10 * chance,
      points: curve((p) => p.keyRecovery.variants[p.keyRecovery.best]!.link100.top1),
    },
    plaintextPsnr: {
      description: 'reconstruction beats the mean training image by more than 1 dB PSNR',
      threshold: 1,
      points: curve((p) => p.plaintext.variants[p.plaintext.best]!.psnr - p.plaintext.baseline.psnr),
    },
  };
  const thresholds: Record<string, StudyBudget> = {};
  let smallest: { name: string; n: number } | null = null;
  for (const [name, d] of Object.entries(defs)) {
    const c = crossingFromCurve(d.points, d.threshold);
    thresholds[name] = { description: d.description, threshold: d.threshold, ...c };
    if (c.n !== null && (smallest === null || c.n < smallest.n)) smallest = { name, n: c.n };
  }
  return { thresholds, smallest };
}

// ---------------------------------------------------------------------------------------------------------------
// Figure and charts

const TILE = 128;
const GAP = 6;
const LABEL_W = 330;
const HEADER = 34;

function paste(canvas: Uint8Array, width: number, x0: number, y0: number, src: ArrayLike<number>, side: number, scale255: boolean): void {
  for (let y = 0; y < TILE; y++) {
    for (let x = 0; x < TILE; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      if (side <= TILE) {
        const p = (Math.floor((y * side) / TILE) * side + Math.floor((x * side) / TILE)) * 3;
        r = src[p]!;
        g = src[p + 1]!;
        b = src[p + 2]!;
      } else {
        const f = side / TILE;
        for (let dy = 0; dy < f; dy++) {
          for (let dx = 0; dx < f; dx++) {
            const p = ((y * f + dy) * side + x * f + dx) * 3;
            r += src[p]!;
            g += src[p + 1]!;
            b += src[p + 2]!;
          }
        }
        r /= f * f;
        g /= f * f;
        b /= f * f;
      }
      const k = scale255 ? 255 : 1;
      const o = ((y0 + y) * width + x0 + x) * 3;
      canvas[o] = Math.max(0, Math.min(255, Math.round(r * k)));
      canvas[o + 1] = Math.max(0, Math.min(255, Math.round(g * k)));
      canvas[o + 2] = Math.max(0, Math.min(255, Math.round(b * k)));
    }
  }
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

async function writeFigure(
  file: string,
  f: {
    dataset: string;
    originals: Float32Array;
    full: Uint8Array[];
    s32: Float32Array;
    s64: Float32Array;
    rows: FigureRows;
    nLow: number;
    nHigh: number;
    best: Variant;
    bestSurrogate: Variant;
    count: number;
    testIds: string[];
  },
): Promise<{ path: string; rows: string[]; testIds: string[] }> {
  const o = ORIGINAL_SIDE * ORIGINAL_SIDE * 3;
  const s = SURROGATE_SIDE * SURROGATE_SIDE * 3;
  const i32 = INPUT_SIDE * INPUT_SIDE * 3;
  const full = SCRAMBLED_SIDE * SCRAMBLED_SIDE * 3;
  // What is specific to each input: the deviation from the mean scrambled image, contrast-stretched so that three
  // standard deviations of the real images' deviations fill the range.
  const meanS = f.rows.meanScrambled ?? new Float32Array(s);
  let ss = 0;
  for (let i = 0; i < f.count * s; i++) ss += (f.s64[i]! - meanS[i % s]!) ** 2;
  const gain = 0.5 / (3 * Math.sqrt(ss / Math.max(1, f.count * s)) || 1);
  const stretch = (x: Float32Array): Float32Array => Float32Array.from(x, (v, j) => 0.5 + (v - meanS[j]!) * gain);
  const rows: Array<{ label: string; side: number; bytes: boolean; get: (i: number) => ArrayLike<number> | undefined }> = [
    { label: `original (${ORIGINAL_SIDE} px, the target)`, side: ORIGINAL_SIDE, bytes: false, get: (i) => f.originals.subarray(i * o, (i + 1) * o) },
    { label: `scrambled, as sent (${SCRAMBLED_SIDE} px)`, side: SCRAMBLED_SIDE, bytes: true, get: (i) => f.full[i]?.subarray(0, full) },
    { label: `scrambled, pooled to ${INPUT_SIDE} px (inverter input)`, side: INPUT_SIDE, bytes: false, get: (i) => f.s32.subarray(i * i32, (i + 1) * i32) },
    { label: `reconstruction, N=${f.nLow} (${f.best})`, side: ORIGINAL_SIDE, bytes: false, get: (i) => f.rows.low?.subarray(i * o, (i + 1) * o) },
    { label: `reconstruction, N=${f.nHigh} (${f.best})`, side: ORIGINAL_SIDE, bytes: false, get: (i) => f.rows.high?.subarray(i * o, (i + 1) * o) },
    { label: 'mean training image (trivial guess)', side: ORIGINAL_SIDE, bytes: false, get: () => f.rows.mean },
    { label: `scrambled, pooled to ${SURROGATE_SIDE} px`, side: SURROGATE_SIDE, bytes: false, get: (i) => f.s64.subarray(i * s, (i + 1) * s) },
    { label: `the same minus their mean (x${gain.toFixed(0)})`, side: SURROGATE_SIDE, bytes: false, get: (i) => stretch(f.s64.subarray(i * s, (i + 1) * s)) },
    { label: `surrogate, N=${f.nHigh}, minus the mean (x${gain.toFixed(0)})`, side: SURROGATE_SIDE, bytes: false, get: (i) => (f.rows.surrogate ? stretch(f.rows.surrogate.subarray(i * s, (i + 1) * s)) : undefined) },
  ];
  const width = LABEL_W + f.count * (TILE + GAP) + GAP;
  const height = HEADER + rows.length * (TILE + GAP) + GAP;
  const canvas = new Uint8Array(width * height * 3).fill(255);
  rows.forEach((row, r) => {
    for (let i = 0; i < f.count; i++) {
      const src = row.get(i);
      if (src) paste(canvas, width, LABEL_W + i * (TILE + GAP), HEADER + r * (TILE + GAP), src, row.side, !row.bytes);
    }
  });
  const text = rows
    .map((row, r) => `<text x="10" y="${HEADER + r * (TILE + GAP) + TILE / 2 + 5}" font-family="sans-serif" font-size="14" fill="#222">${xml(row.label)}</text>`)
    .join('');
  const title = `<text x="10" y="22" font-family="sans-serif" font-size="16" font-weight="bold" fill="#222">${xml(`Known-plaintext inversion and key recovery on ${f.dataset}: unseen images`)}</text>`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${title}${text}</svg>`;
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  await sharp(Buffer.from(canvas), { raw: { width, height, channels: 3 } })
    .composite([{ input: Buffer.from(svg), left: 0, top: 0 }])
    .png()
    .toFile(file);
  return { path: file, rows: rows.map((r) => r.label), testIds: f.testIds };
}

async function writeCharts(dir: string, dataset: string, curves: InversionStudyResult['curves'], pool: number): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const xTicks = [...new Set(curves.psnr[0]?.points.map((p) => p.x) ?? [])];
  const files: Array<[string, string]> = [
    [
      `inversion-${dataset}-psnr.png`,
      lineChart({ title: `${dataset}: reconstructing unseen plaintexts from scrambled images`, xLabel: 'leaked pairs N', yLabel: 'PSNR (dB), 32 px', series: curves.psnr, xLog: true, xTicks }),
    ],
    [
      `inversion-${dataset}-reid.png`,
      lineChart({
        title: `${dataset}: re-identification among ${pool} candidates`,
        xLabel: 'leaked pairs N',
        yLabel: 'top-1',
        series: curves.reid,
        references: [
          { label: 'chance', y: 1 / pool },
          { label: '10x chance', y: 10 / pool },
        ],
        xLog: true,
        xTicks,
        yFormat: (v) => `${(v * 100).toFixed(0)}%`,
      }),
    ],
  ];
  const out: string[] = [];
  for (const [name, svg] of files) {
    const p = path.join(dir, name);
    fs.writeFileSync(p, await svgToPng(svg, { density: 144 }));
    out.push(p);
  }
  return out;
}
