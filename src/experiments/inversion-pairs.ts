/**
 * The inversion study's pairs (src/experiments/security-inversion.ts): the seeded choice of test and training images
 * for the given options (`planInversion`), and the images made by the library's own path (encoder → the experiment
 * key's generator → the exact uint8 pixels that become the PNG), average-pooled to the scales the attacks use.
 * Nothing is sent to a cloud.
 */
import { fail } from '../errors.js';
import { createRng, deriveSeed, shuffle } from '../internal/random.js';
import { decodeRgb } from '../image/decode.js';
import { dense, type Dense } from '../analysis/numerics/matrix.js';
import { DEFAULT_ALPHAS } from '../analysis/ridge.js';
import type { ImageInput, Sample } from '../types.js';
import type { ExperimentContext } from './context.js';

export const ORIGINAL_SIDE = 32;
export const INPUT_SIDE = 32;
export const SURROGATE_SIDE = 64;
export const SCRAMBLED_SIDE = 256;
const ENCODER = 'mobilenetv2-12-int8';
/** Test images shown in the reconstruction figure (their 256 px scrambled images are kept for it). */
export const FIGURE_IMAGES = 8;

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
// The plan

function defaultNValues(pool: number, quick: boolean): number[] {
  if (quick) return [10, 40, 160].filter((n) => n <= pool);
  const base = [5, 10, 30, 100, 300, 1000, 3000, 9000].filter((n) => n < 0.8 * pool);
  return [...base, pool];
}

/** What a study with these options runs on: the checked options and the seeded image order. */
export interface InversionPlan {
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

export async function planInversion(ctx: ExperimentContext, opts: InversionStudyOptions): Promise<InversionPlan> {
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
  const p = await planInversion(ctx, opts);
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

