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
 *
 * Split by job: the plan and the pairs are inversion-pairs.ts's, the figures inversion-figures.ts's; this file runs
 * the attacks and returns the curves and budgets. The numerics (views, PCA, random features) are
 * src/analysis/numerics/'s, the regressor src/analysis/ridge.ts's.
 */
import { fail } from '../errors.js';
import { deriveSeed } from '../internal/random.js';
import { colSlice, columnMean, concatCols, meanColumnVariance, repeatRow, rowSlice, type Dense } from '../analysis/numerics/matrix.js';
import { fitPca, pcaReconstructionMse } from '../analysis/numerics/pca.js';
import { applyRandomFeatures, createRandomFeatures } from '../analysis/numerics/random-features.js';
import { fitRidge, predictRidge, type RidgeModel } from '../analysis/ridge.js';
import {
  crossingFromCurve,
  imageSetMetrics,
  meanRowCorrelation,
  reidentify,
  type CurveCrossing,
  type ImageSetMetrics,
  type ReidResult,
} from '../analysis/inversion.js';
import type { Series } from '../analysis/charts.js';
import type { ExperimentContext } from './context.js';
import {
  collectInversionPairs,
  FIGURE_IMAGES,
  INPUT_SIDE,
  ORIGINAL_SIDE,
  planInversion,
  SCRAMBLED_SIDE,
  SURROGATE_SIDE,
  type InversionPairs,
  type InversionStudyOptions,
} from './inversion-pairs.js';
import { writeInversionCharts, writeInversionFigure, type FigureRows, type Variant } from './inversion-figures.js';

export const INVERSION_FORMAT = 'owsd-inversion-study/1';
const AE_KS = [16, 64, 256];
const POOL = 100;

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
// Attacks

interface Fitted {
  model: RidgeModel;
  test: Dense;
}

/** Linear ridge and ridge on random ReLU features, both fitted on (x, y) and applied to xTest. */
async function fitVariants(x: Dense, y: Dense, xTest: Dense, o: { alphas: number[]; blocks?: number[]; rf: number; seed: number; tag: string }): Promise<Partial<Record<Variant, Fitted>>> {
  const out: Partial<Record<Variant, Fitted>> = {};
  const lin = await fitRidge(x, y, { alphas: o.alphas, blocks: o.blocks, seed: o.seed });
  out.linear = { model: lin, test: await predictRidge(lin, xTest) };
  if (o.rf > 0) {
    const map = createRandomFeatures(x, o.rf, deriveSeed(o.seed, `rf-${o.tag}`));
    const model = await fitRidge(await applyRandomFeatures(map, x), y, { alphas: o.alphas, blocks: o.blocks, seed: o.seed });
    out['random-features'] = { model, test: await predictRidge(model, await applyRandomFeatures(map, xTest)) };
  }
  return out;
}

function bestOf<T extends { validationMse: number }>(variants: Partial<Record<Variant, T>>): Variant {
  const lin = variants.linear!;
  const rf = variants['random-features'];
  return rf && rf.validationMse < lin.validationMse ? 'random-features' : 'linear';
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Runs the three attacks for each N in `nValues` on the same unseen test images and returns curves, budgets and,
 * with `figurePath`, a grid of reconstructions. Pairs come from `collectInversionPairs` (made here when not given).
 * Full mode fits in about 10 minutes per dataset on 2 cores.
 */
export async function runInversionStudy(ctx: ExperimentContext, opts: InversionStudyOptions, given?: InversionPairs): Promise<InversionStudyResult> {
  const started = performance.now();
  const { quick, encoder, keyName, embeddingNoise, alphas, rf: rfDim, rfMaxN, samples, testCount, poolSize, nValues } = await planInversion(ctx, opts);
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
    const oraclePred = await predictRidge(oracle, test.e);
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
    figureInfo = await writeInversionFigure(opts.figurePath, {
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
  const charts = opts.chartDir ? await writeInversionCharts(opts.chartDir, opts.dataset, curves, pool) : [];
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
    variance: { scrambled256: pairs.fullVariance, scrambled64: meanColumnVariance(test.s64), scrambled32: meanColumnVariance(test.s32), original32: meanColumnVariance(test.o) },
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

