/**
 * The traffic study: what the cloud (or anyone on the wire) learns from the scrambled images and the cloud's own
 * answers, measured through the real pipeline (encoder mobilenetv2-12-int8 → key `k0` at 256 px → PNG → the
 * embedded cloud over HTTP: cifar10-resnet20 for CIFAR-10, shufflenet-v2-12-qdq for Imagenette).
 *
 * Reports, for one seeded choice of images (10 labels x `perLabel`):
 * - the paper's section 5.1 figure (originals above their scrambled images, one PNG) and section 5.2 measures
 *   (src/analysis/cloud-outputs.ts), with a PCA scatter SVG of the cloud's answers for two labels;
 * - the generator's zero activations;
 * - the label-inference curve (src/analysis/label-inference.ts) for k = 1, 5, 20 leaked labels per class, beside
 *   the IIN's own accuracy on the same images (trained as every experiment trains it, `runSetting`, 70/30 split);
 * - linkability (src/analysis/linkability.ts): exact repeats, near duplicates, re-identification from candidates.
 *
 * The attacker is assumed to have the scrambled PNGs, the cloud's answers and, for label inference, the labels of
 * k images per class; never the key or the embeddings (each analysis module's doc says exactly what it assumes).
 * Everything is seeded; the images are the same for every attacker.
 *
 * Measured (seed 0, 10 labels x 60 images, about 3 minutes each on the 2-core machine):
 * - CIFAR-10 / ResNet-20: every scrambled image gets the same top-1 class (100%), so the true label is in the
 *   scrambled top-1 10.0% of the time (= that class's share); entropy 0.59 vs 0.08 nats plaintext. Label
 *   inference at k = 1 / 5 / 20: pixel 1-NN 39.5 / 45.6 / 57.8%, pooled pixels + class means 40.8 / 55.5 / 67.3%,
 *   cloud-vector attackers 10-15%; the IIN with the key, trained on 42 per label: 67.2%.
 * - Imagenette / ShuffleNetV2: true label in scrambled top-1 / top-5 0.0% / 0.0% (paper 0.07% / 0.52%); entropy
 *   3.50 vs 1.40 nats (paper 4.3 vs 1.97); 28.8% in the most common class. Pixel 1-NN 74.6 / 90.7 / 95.0%, pooled
 *   pixels + class means 75.8 / 94.0 / 96.8%, cloud logistic regression 13.6 / 23.3 / 38.0%; the IIN: 93.3%.
 * - Both: the same image twice gives byte-identical PNGs (30 of 30); a JPEG-75 re-encode, 90% crop or 80% resize
 *   is linked to its source by pixel distance with ROC AUC 1.000 and rank-1 100% among 30 sources.
 *
 * Run alone: `owsd analyze traffic --dataset cifar-10 [--quick] [--seed 0] [--out DIR] [--noise 0]` (--noise: the
 * key's per-submission embedding noise, a multiple of its RMS; `writeTrafficStudy` in security.ts) writes
 * DIR/traffic-<dataset>.json and the two figures (traffic-figures.ts draws them).
 */
import { fail } from '../errors.js';
import { Scrambler } from '../scrambler/scrambler.js';
import {
  analyseCloudOutputs,
  generatorZeroFraction,
  pcaOfTwoLabels,
  type CloudOutputAnalysis,
  type GeneratorActivationStats,
  type PcaScatter,
} from '../analysis/cloud-outputs.js';
import { featureAttack, labelInferenceCurve, logProbabilities, standardizeColumns, type LabelInferenceResult } from '../analysis/label-inference.js';
import {
  exactLinkability,
  makeVariant,
  nearDuplicateLinkability,
  reidentifyByCloud,
  reidentifyByTypicality,
  rmsDistance,
  VARIANTS,
  type ExactLinkability,
  type NearDuplicateResult,
  type ReidentificationResult,
  type VariantName,
} from '../analysis/linkability.js';
import type { Sample } from '../types.js';
import { keyTag, type ExperimentContext, type FeatureConfig, type Selection } from './context.js';
import { runSetting, type Setting } from './setting.js';
import { trafficPcaSvg, writeFile, writeSideBySide } from './traffic-figures.js';

export const TRAFFIC_ENCODER = 'mobilenetv2-12-int8';
export const TRAFFIC_CLOUDS = { 'cifar-10': 'cifar10-resnet20', 'imagenette-val': 'shufflenet-v2-12-qdq' } as const;
export type TrafficDataset = keyof typeof TRAFFIC_CLOUDS;

export interface TrafficStudyOptions {
  dataset: TrafficDataset;
  /** A few dozen images (CI); otherwise 10 labels x 60 images. */
  quick: boolean;
  seed: number;
  /** Images per label (default 60, quick 12). */
  perLabel?: number;
  /** Leaked labels per class for the label-inference curve (default 1, 5, 20; those leaving no query are skipped). */
  ks?: number[];
  /** Write the section 5.1 figure (originals above their scrambled images) here, as PNG. */
  sideBySidePath?: string;
  /** Write the PCA scatter of the cloud's answers on scrambled images of two labels here, as SVG. */
  pcaPath?: string;
  /**
   * The key's per-submission embedding noise (multiple of the embedding's RMS; default 0, the paper's design). With
   * noise every scrambling is a fresh draw, as for real traffic: the pixels the attackers study are another draw of
   * the same images than the ones the cloud answered, and a resubmission is a third.
   */
  embeddingNoise?: number;
}

export interface TrafficStudyResult {
  dataset: TrafficDataset;
  quick: boolean;
  seed: number;
  encoder: string;
  cloud: string;
  key: string;
  imageSize: number;
  /** The key's per-submission embedding noise (0: the paper's deterministic design; absent in older results). */
  embeddingNoise?: number;
  selection: Selection & { classes: string[]; images: number };
  /** Section 5.2 on every selected image. */
  cloudOutputs: CloudOutputAnalysis;
  generator: GeneratorActivationStats;
  /** 2-D PCA of the cloud's vectors for two labels (probabilities), on the scrambled and on the plaintext images. */
  pca: { labels: [string, string]; scrambled: PcaScatter; plaintext: PcaScatter };
  labelInference: {
    ks: number[];
    results: LabelInferenceResult[];
    /**
     * NOT an attacker: the same class-mean classifier on the TRUE embeddings (standardized), which the observer
     * does not have. The ceiling the pixel attackers approach when the generator keeps the embedding's geometry.
     */
    embeddingReference: LabelInferenceResult[];
    /** The IIN (key holder) on the same images: 70/30 split, mean top-1 per input set. */
    iin: { train: number; test: number; top1: { both: number; embedding: number; cloud: number } };
  };
  linkability: {
    exact: ExactLinkability;
    /** Per variant: on scrambled pixels, on the cloud's vectors (ln p), and on the embeddings (reference: what the generator is given). */
    nearDuplicate: Array<{ variant: VariantName; pixels: NearDuplicateResult; cloud: NearDuplicateResult; embeddingReference: NearDuplicateResult }>;
    reidentification: ReidentificationResult[];
  };
  figures: { sideBySide?: string; pca?: string };
  /** Scrambled images sent to the cloud and plaintext reference images classified during the study. */
  traffic: { scrambledSent: number; plaintextReference: number };
  seconds: Record<string, number>;
}

interface Sizes {
  perLabel: number;
  activationImages: number;
  exactImages: number;
  nearDuplicateSources: number;
  reidentificationPool: number;
  figureImages: number;
}

function sizes(opts: TrafficStudyOptions): Sizes {
  const perLabel = opts.perLabel ?? (opts.quick ? 12 : 60);
  if (!Number.isInteger(perLabel) || perLabel < 2) fail('OWSD_ERR_BAD_ARGUMENT', `traffic study: perLabel must be an integer >= 2 (got ${perLabel})`);
  const q = (full: number, quick: number): number => (opts.quick ? quick : full);
  return { perLabel, activationImages: q(16, 4), exactImages: q(30, 8), nearDuplicateSources: q(30, 8), reidentificationPool: q(100, 30), figureImages: 6 };
}

/** Row i of a row-major matrix of `width` columns, copied. */
const rowsOf = (m: Float32Array, n: number, width: number): Float32Array[] => Array.from({ length: n }, (_, i) => m.slice(i * width, (i + 1) * width));

/** One sample of each of the first `count` labels (the first in selection order), for the figure and PCA. */
function onePerLabel(samples: Sample[], count: number): number[] {
  const seen = new Set<number>();
  const rows: number[] = [];
  samples.forEach((s, i) => {
    if (!seen.has(s.label) && seen.size < count) {
      seen.add(s.label);
      rows.push(i);
    }
  });
  return rows;
}

export async function runTrafficStudy(ctx: ExperimentContext, opts: TrafficStudyOptions): Promise<TrafficStudyResult> {
  const cloud = TRAFFIC_CLOUDS[opts.dataset];
  if (!cloud) fail('OWSD_ERR_BAD_ARGUMENT', `traffic study: dataset must be one of ${Object.keys(TRAFFIC_CLOUDS).join(', ')} (got ${String(opts.dataset)})`);
  const seconds: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string): void => {
    seconds[name] = (performance.now() - t) / 1000;
    t = performance.now();
  };
  const sz = sizes(opts);
  const noise = opts.embeddingNoise ?? 0;
  const v = { embeddingNoise: noise };
  const tag = keyTag('k0', 256, v);
  const sentBefore = ctx.submissions()[tag] ?? 0;
  const plainBefore = ctx.plaintextSent;
  const selection: Selection = { dataset: opts.dataset, labels: 10, perLabel: sz.perLabel, seed: opts.seed };
  const ds = await ctx.select(selection);
  const samples = ds.samples;
  const n = samples.length;
  const cfg: FeatureConfig = { dataset: opts.dataset, encoders: [TRAFFIC_ENCODER], cloud, keys: ['k0'], imageSize: 256, ...(noise ? { embeddingNoise: noise } : {}) };
  ctx.log(`traffic study on ${opts.dataset}: ${n} images, ${ds.classes.length} labels, cloud ${cloud}, key ${tag}${noise ? ` (fresh noise at ${noise}x the embedding's RMS per submission)` : ' (deterministic: the paper\'s design)'}`);

  // The traffic: embeddings, the cloud's answers on the scrambled images, the scrambled pixels, plaintext reference.
  const f = await ctx.features(cfg, samples);
  const source = await ctx.embeddingSource(cfg.encoders);
  const scrambler = await ctx.scrambler('k0', 256, source.dim, v);
  const per = 256 * 256 * 3;
  const allPixels = await scrambler.pixels(f.embeddings, n);
  const pixels = Array.from({ length: n }, (_, i) => allPixels.subarray(i * per, (i + 1) * per));
  const scrambledVectors = rowsOf(f.cloud, n, f.cloudDim);
  const plain = await ctx.plaintextVectors(opts.dataset, cloud, samples);
  const toCloud = await ctx.cloudLabelMap(cloud, ds);
  const labels = samples.map((s) => s.label);
  lap('traffic');

  // Section 5.2.
  const cloudOutputs = analyseCloudOutputs(plain, scrambledVectors, labels.map((l) => toCloud[l]!));
  const pair: [number, number] = [0, 1];
  const pca = {
    labels: [ds.classNames[0]!, ds.classNames[1]!] as [string, string],
    scrambled: pcaOfTwoLabels(scrambledVectors, labels, pair),
    plaintext: pcaOfTwoLabels(plain, labels, pair),
  };
  const key = ctx.key('k0', 256, v).key;
  const exposing = await Scrambler.create(key, source.dim, { exposeActivations: true, noiseSeed: `experiment ${tag} activations` });
  let generator: GeneratorActivationStats;
  try {
    const m = Math.min(sz.activationImages, n);
    generator = await generatorZeroFraction(exposing, f.embeddings.subarray(0, m * source.dim), m);
  } finally {
    await exposing.release();
  }
  lap('cloudOutputs');
  ctx.log(`  5.2: true label in scrambled top-1/top-5 ${pct(cloudOutputs.trueInScrambledTop1)} / ${pct(cloudOutputs.trueInScrambledTop5)}, entropy ${cloudOutputs.entropy.scrambled.toFixed(2)} vs ${cloudOutputs.entropy.plaintext.toFixed(2)} nats, dominant class ${pct(cloudOutputs.dominant.scrambled.share)}, zero activations ${pct(generator.zeroFraction)}`);

  // Label inference, and the IIN on the same images.
  const ks = (opts.ks ?? [1, 5, 20]).filter((k) => k < sz.perLabel);
  const results = labelInferenceCurve({ pixels, cloud: scrambledVectors, labels, imageSize: 256 }, ks, opts.seed);
  const embStd = standardizeColumns(rowsOf(f.embeddings, n, f.embeddingDim));
  const embeddingReference = ks
    .map((k) => featureAttack('embedding-centroid-cosine (reference)', embStd, labels, k, opts.seed, 'centroid-cosine'))
    .filter((r): r is LabelInferenceResult => r !== null);
  for (const r of [...results, ...embeddingReference]) ctx.log(`  k=${r.k} ${r.attacker}: ${pct(r.accuracy)} (chance ${pct(r.chance)}, ${r.queries} queries)`);
  lap('labelInference');
  const setting: Setting = {
    id: `traffic-${opts.dataset}-iin`,
    label: `IIN on the traffic study's images (${opts.dataset})`,
    selection,
    features: cfg,
    testFraction: 0.3,
    inputs: ['both', 'embedding', 'cloud'],
    attack: false,
  };
  const iinRun = await runSetting(ctx, setting, [opts.seed]);
  const rep = iinRun.repetitions[0]!;
  const iin = { train: rep.train, test: rep.test, top1: { both: rep.accuracy.both!.top1, embedding: rep.accuracy.embedding!.top1, cloud: rep.accuracy.cloud!.top1 } };
  lap('iin');

  // Linkability.
  const exactRows = spreadRows(n, Math.min(sz.exactImages, n));
  const exact = await exactRepeat(ctx, key, exactRows.map((i) => samples[i]!), embeddingRows(f, exactRows), scrambler, `experiment ${tag} resubmission`);
  const nearDuplicate = await nearDuplicates(ctx, cfg, spreadRows(n, Math.min(sz.nearDuplicateSources, n)), samples, f, scrambledVectors, pixels, scrambler);
  const pool = Math.min(sz.reidentificationPool, n);
  const poolRows = spreadRows(n, pool);
  const reidentification = [
    reidentifyByCloud(poolRows.map((i) => plain[i]!), poolRows.map((i) => scrambledVectors[i]!)),
    reidentifyByTypicality(poolRows.map((i) => f.embeddings.subarray(i * f.embeddingDim, (i + 1) * f.embeddingDim)), poolRows.map((i) => pixels[i]!)),
  ];
  lap('linkability');

  // Figures.
  const figures: TrafficStudyResult['figures'] = {};
  if (opts.sideBySidePath) {
    const rows = onePerLabel(samples, sz.figureImages);
    await writeSideBySide(opts.sideBySidePath, rows.map((i) => samples[i]!), rows.map((i) => pixels[i]!));
    figures.sideBySide = opts.sideBySidePath;
  }
  if (opts.pcaPath) {
    writeFile(opts.pcaPath, trafficPcaSvg(pca.scrambled, pca.labels, opts.dataset, cloud));
    figures.pca = opts.pcaPath;
  }
  lap('figures');

  return {
    dataset: opts.dataset,
    quick: opts.quick,
    seed: opts.seed,
    encoder: TRAFFIC_ENCODER,
    cloud,
    key: 'k0',
    imageSize: 256,
    embeddingNoise: noise,
    selection: { ...selection, classes: ds.classNames, images: n },
    cloudOutputs,
    generator,
    pca,
    labelInference: { ks, results, embeddingReference, iin },
    linkability: { exact, nearDuplicate, reidentification },
    figures,
    traffic: { scrambledSent: (ctx.submissions()[tag] ?? 0) - sentBefore, plaintextReference: ctx.plaintextSent - plainBefore },
    seconds,
  };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** The embeddings of `rows`, concatenated. */
function embeddingRows(f: { embeddings: Float32Array; embeddingDim: number }, rows: number[]): Float32Array {
  const d = f.embeddingDim;
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, j) => out.set(f.embeddings.subarray(r * d, (r + 1) * d), j * d));
  return out;
}

/** `count` row indices spread evenly over 0..n-1 (so every label is represented). */
function spreadRows(n: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.floor((i * n) / count));
}

/**
 * (a) The same images submitted twice: the first PNGs come from the study's scrambler and cached embeddings;
 * the second from a fresh encoder run (no cache) and a freshly derived generator.
 */
async function exactRepeat(ctx: ExperimentContext, key: ReturnType<ExperimentContext['key']>['key'], samples: Sample[], embeddings: Float32Array, scrambler: Scrambler, noiseSeed: string): Promise<ExactLinkability> {
  const m = samples.length;
  const first = (await scrambler.scramble(embeddings, m)).map((s) => s.png);
  const encoder = await ctx.encoder([TRAFFIC_ENCODER]);
  const again = await encoder.encode(samples.map((s) => s.image));
  const fresh = await Scrambler.create(key, scrambler.inputDim, { noiseSeed });
  try {
    const second = (await fresh.scramble(again, m)).map((s) => s.png);
    return exactLinkability(first, second);
  } finally {
    await fresh.release();
  }
}

/** (b) Each variant of the source rows, scrambled and sent, against the originals. */
async function nearDuplicates(
  ctx: ExperimentContext,
  cfg: FeatureConfig,
  rows: number[],
  samples: Sample[],
  f: { embeddings: Float32Array; embeddingDim: number },
  scrambledVectors: Float32Array[],
  pixels: Uint8Array[],
  scrambler: Scrambler,
): Promise<TrafficStudyResult['linkability']['nearDuplicate']> {
  const m = rows.length;
  const d = f.embeddingDim;
  const sources = rows.map((r) => samples[r]!);
  const origEmb = rows.map((r) => f.embeddings.subarray(r * d, (r + 1) * d));
  const origCloud = logProbabilities(rows.map((r) => scrambledVectors[r]!));
  const origPixels = rows.map((r) => pixels[r]!);
  const out: TrafficStudyResult['linkability']['nearDuplicate'] = [];
  for (const variant of VARIANTS) {
    const changed: Sample[] = await Promise.all(sources.map(async (s) => ({ id: `${s.id}#${variant}`, label: s.label, image: await makeVariant(s.image, variant) })));
    const vf = await ctx.features({ ...cfg, dataset: `${cfg.dataset}#${variant}` }, changed);
    const vpx = await scrambler.pixels(vf.embeddings, m);
    const per = vpx.length / m;
    const varPixels = Array.from({ length: m }, (_, i) => vpx.subarray(i * per, (i + 1) * per));
    const result = {
      variant,
      pixels: nearDuplicateLinkability(origPixels, varPixels, rmsDistance),
      cloud: nearDuplicateLinkability(origCloud, logProbabilities(rowsOf(vf.cloud, m, vf.cloudDim)), rmsDistance),
      embeddingReference: nearDuplicateLinkability(origEmb, Array.from({ length: m }, (_, i) => vf.embeddings.subarray(i * d, (i + 1) * d)), rmsDistance),
    };
    ctx.log(`  near duplicates (${variant}): pixel AUC ${result.pixels.auc.toFixed(3)}, rank-1 ${pct(result.pixels.rank1)}; cloud AUC ${result.cloud.auc.toFixed(3)}, rank-1 ${pct(result.cloud.rank1)} (chance ${pct(1 / m)})`);
    out.push(result);
  }
  return out;
}
