/**
 * Label inference from the traffic: how well an observer labels scrambled images after learning the true labels
 * of k of them per class ("leaks": a few records that became known, or that the observer could guess).
 *
 * The attacker is assumed to have: every scrambled image (the PNG bytes the cloud receives), the cloud's answer
 * vector for each (the cloud has them; anyone on the wire sees them when the traffic is not encrypted end to end),
 * and the labels of k images per class. Not the key, the embeddings or any plaintext. Since the attacker holds the
 * whole unlabelled traffic, fitting unsupervised transforms (standardization, PCA) on all of it is fair
 * (transductive); only the leaked images' labels are used.
 *
 * Attackers (each seeded, each on the same choice of leaks for the same k and seed):
 * - `pixel-1nn`: 1-NN on the scrambled pixels (`nearestNeighbourAttack` of label-leak.ts; Euclidean);
 * - `cloud-1nn`: 1-NN on the cloud's probability vectors (Euclidean); `cloud-1nn-log` on ln(p + 1e-9);
 * - `cloud-logreg`: multinomial logistic regression (L2, full-batch Adam) on the standardized ln(p + 1e-9);
 * - `pixel-pooled-centroid-cosine`: the stronger pixel attacker: average-pool each scrambled image (4x4 blocks,
 *   256 px → 64 x 64 x 3 = 12,288 values), standardize every pooled value over the traffic, and give each query
 *   the label of the nearest class mean of the leaks under cosine similarity.
 *
 * How (d) was chosen (seed 0, 10 labels x 60 images, k = 1 / 5 / 20; pixel 1-NN for comparison):
 * CIFAR-10 pixel 1-NN 39.5 / 45.6 / 57.8%, pooled + class means 40.8 / 55.5 / 67.3%; Imagenette 74.6 / 90.7 /
 * 95.0% against 75.8 / 94.0 / 96.8%. Pools of 2 to 8 do about as well (16 is worse); PCA to 16-256 components
 * adds nothing, whitening the components costs up to 20 points, 1-NN under cosine and logistic regression on the
 * components are no better than class means. The same class-mean classifier on the TRUE embeddings (which the
 * attacker does not have) scores 40.2 / 56.5 / 68.3% and 76.6 / 94.0 / 96.8%: the scrambled pixels keep about
 * all of the embedding's label information, so no pixel attacker can be expected to do much better than that.
 *
 * Leaks and queries: per class, a seeded shuffle puts k images in the leaks and the rest in the queries, exactly
 * as `nearestNeighbourAttack` draws them (`leakSplit`); classes with k or fewer images give leaks only.
 * Accuracy is over the queries; chance is 1 / classes.
 */
import { fail } from '../errors.js';
import { createRng, deriveSeed } from '../internal/random.js';
import { leakSplit, nearestNeighbourAttack, sqDist, type AttackVector, type LeakAttackResult, type LeakSplit } from './label-leak.js';
import { pca } from './numerics/pca.js';
import { cosineDistance } from './linkability.js';

export { leakSplit, type LeakSplit };

/** A label-leak attack's result (see label-leak.ts), named by its attacker. */
export interface LabelInferenceResult extends LeakAttackResult {
  attacker: string;
}

/** Label every query with `predict` and score it; null when there is no query. */
function scoreSplit(attacker: string, split: LeakSplit, labels: readonly number[], k: number, seed: number, predict: (q: number) => number): LabelInferenceResult | null {
  if (split.queries.length === 0) return null;
  let correct = 0;
  for (const q of split.queries) if (predict(q) === labels[q]) correct++;
  return { attacker, k, accuracy: correct / split.queries.length, chance: 1 / split.classes, queries: split.queries.length, classes: split.classes, seed };
}

function checkRows(what: string, rows: readonly ArrayLike<number>[], labels: readonly number[]): void {
  if (rows.length !== labels.length) fail('OWSD_ERR_BAD_ARGUMENT', `label inference: ${rows.length} ${what} for ${labels.length} labels`);
  const d = rows[0]?.length ?? 0;
  rows.forEach((r, i) => r.length !== d && fail('OWSD_ERR_BAD_ARGUMENT', `label inference: ${what} ${i} has ${r.length} values, expected ${d}`));
}

// ---------------------------------------------------------------------------------------------------------------
// Distances and small classifiers


function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return 1 - cosineDistance(a, b);
}

export type FeatureClassifier = 'nn-euclid' | 'nn-cosine' | 'centroid-cosine' | 'logreg';

/** A classifier fitted on the leaked rows, labelling any row. */
function fitClassifier(kind: FeatureClassifier, rows: readonly ArrayLike<number>[], labels: readonly number[], leaked: number[], seed: number): (q: number) => number {
  if (kind === 'nn-euclid' || kind === 'nn-cosine') {
    const score = kind === 'nn-euclid' ? (a: ArrayLike<number>, b: ArrayLike<number>) => -sqDist(a, b) : cosine;
    return (q) => {
      let best = leaked[0]!;
      let bestS = -Infinity;
      for (const l of leaked) {
        const s = score(rows[q]!, rows[l]!);
        if (s > bestS) {
          bestS = s;
          best = l;
        }
      }
      return labels[best]!;
    };
  }
  if (kind === 'centroid-cosine') {
    const classes = [...new Set(leaked.map((l) => labels[l]!))].sort((a, b) => a - b);
    const D = rows[0]!.length;
    const centroids = classes.map((c) => {
      const m = new Float64Array(D);
      const members = leaked.filter((l) => labels[l] === c);
      for (const l of members) for (let j = 0; j < D; j++) m[j]! += rows[l]![j]! / members.length;
      return m;
    });
    return (q) => {
      let best = 0;
      let bestS = -Infinity;
      centroids.forEach((m, c) => {
        const s = cosine(rows[q]!, m);
        if (s > bestS) {
          bestS = s;
          best = c;
        }
      });
      return classes[best]!;
    };
  }
  const model = trainSoftmaxRegression(leaked.map((l) => rows[l]!), leaked.map((l) => labels[l]!), { seed });
  return (q) => model.predict(rows[q]!);
}

export interface SoftmaxRegressionOptions {
  /** L2 penalty on the weights (not the biases), per sample (default 1e-2). */
  l2?: number;
  /** Full-batch Adam steps (default 300). */
  iterations?: number;
  learningRate?: number;
  seed?: number;
}

export interface SoftmaxRegression {
  classes: number[];
  /** The most probable class of a row. */
  predict(x: ArrayLike<number>): number;
  /** Class probabilities of a row, in `classes` order. */
  probabilities(x: ArrayLike<number>): Float64Array;
}

/**
 * Multinomial logistic regression on rows (ideally standardized): minimises mean cross-entropy + l2/2·|W|² by
 * full-batch Adam from small seeded random weights. Deterministic for a seed.
 */
export function trainSoftmaxRegression(x: readonly ArrayLike<number>[], y: readonly number[], opts: SoftmaxRegressionOptions = {}): SoftmaxRegression {
  const n = x.length;
  if (n === 0 || y.length !== n) fail('OWSD_ERR_BAD_ARGUMENT', `logistic regression: ${n} rows for ${y.length} labels`);
  const classes = [...new Set(y)].sort((a, b) => a - b);
  const C = classes.length;
  const D = x[0]!.length;
  const index = new Map(classes.map((c, i) => [c, i]));
  const yi = y.map((l) => index.get(l)!);
  const l2 = opts.l2 ?? 1e-2;
  const lr = opts.learningRate ?? 0.05;
  const iters = opts.iterations ?? 300;
  const rng = createRng(deriveSeed(opts.seed ?? 0, 'softmax-regression'));
  const P = (D + 1) * C; // weights row-major [D, C], then C biases
  const w = Float64Array.from({ length: P }, (_, i) => (i < D * C ? 0.01 * rng.normal() : 0));
  const m = new Float64Array(P);
  const v = new Float64Array(P);
  const g = new Float64Array(P);
  const z = new Float64Array(C);
  const logits = (row: ArrayLike<number>, out: Float64Array): void => {
    for (let c = 0; c < C; c++) out[c] = w[D * C + c]!;
    for (let j = 0; j < D; j++) {
      const xj = row[j]!;
      if (xj === 0) continue;
      for (let c = 0; c < C; c++) out[c]! += xj * w[j * C + c]!;
    }
    softmaxInPlace(out);
  };
  for (let t = 1; t <= iters; t++) {
    g.fill(0);
    for (let i = 0; i < n; i++) {
      logits(x[i]!, z);
      z[yi[i]!]! -= 1;
      const row = x[i]!;
      for (let j = 0; j < D; j++) {
        const xj = row[j]! / n;
        if (xj === 0) continue;
        for (let c = 0; c < C; c++) g[j * C + c]! += xj * z[c]!;
      }
      for (let c = 0; c < C; c++) g[D * C + c]! += z[c]! / n;
    }
    for (let p = 0; p < D * C; p++) g[p]! += l2 * w[p]!;
    const b1 = 1 - 0.9 ** t;
    const b2 = 1 - 0.999 ** t;
    for (let p = 0; p < P; p++) {
      m[p] = 0.9 * m[p]! + 0.1 * g[p]!;
      v[p] = 0.999 * v[p]! + 0.001 * g[p]! * g[p]!;
      w[p]! -= (lr * (m[p]! / b1)) / (Math.sqrt(v[p]! / b2) + 1e-8);
    }
  }
  return {
    classes,
    probabilities(row) {
      const out = new Float64Array(C);
      logits(row, out);
      return out;
    },
    predict(row) {
      const out = new Float64Array(C);
      logits(row, out);
      let b = 0;
      for (let c = 1; c < C; c++) if (out[c]! > out[b]!) b = c;
      return classes[b]!;
    },
  };
}

function softmaxInPlace(z: Float64Array): void {
  let max = -Infinity;
  for (const v of z) max = Math.max(max, v);
  let s = 0;
  for (let c = 0; c < z.length; c++) s += z[c] = Math.exp(z[c]! - max);
  for (let c = 0; c < z.length; c++) z[c]! /= s;
}

// ---------------------------------------------------------------------------------------------------------------
// Feature preparation

/** Standardize every column over all rows (mean 0, std 1; constant columns become 0). */
export function standardizeColumns(rows: readonly ArrayLike<number>[]): Float32Array[] {
  const n = rows.length;
  const D = rows[0]?.length ?? 0;
  const mean = new Float64Array(D);
  const sq = new Float64Array(D);
  for (const r of rows) for (let j = 0; j < D; j++) mean[j]! += r[j]! / n;
  for (const r of rows) for (let j = 0; j < D; j++) sq[j]! += (r[j]! - mean[j]!) ** 2 / n;
  const sd = Float64Array.from(sq, (s) => Math.sqrt(s));
  return rows.map((r) => Float32Array.from({ length: D }, (_, j) => (sd[j]! > 1e-12 ? (r[j]! - mean[j]!) / sd[j]! : 0)));
}

/** ln(p + 1e-9) of every entry: the cloud's small probabilities carry most of its detail. */
export function logProbabilities(rows: readonly ArrayLike<number>[]): Float32Array[] {
  return rows.map((r) => Float32Array.from(r as ArrayLike<number>, (p) => Math.log(Math.max(0, p) + 1e-9)));
}

/** Mean of each `factor` x `factor` block of an S x S x channels interleaved image (S divisible by factor). */
export function averagePool(pixels: ArrayLike<number>, size: number, channels: number, factor: number): Float32Array {
  if (pixels.length !== size * size * channels) fail('OWSD_ERR_BAD_ARGUMENT', `averagePool: expected ${size}x${size}x${channels} = ${size * size * channels} values, got ${pixels.length}`);
  if (!Number.isInteger(factor) || factor < 1 || size % factor !== 0) fail('OWSD_ERR_BAD_ARGUMENT', `averagePool: factor ${factor} must be a positive integer dividing ${size}`);
  const out = size / factor;
  const res = new Float32Array(out * out * channels);
  const norm = 1 / (factor * factor);
  for (let y = 0; y < size; y++) {
    const oy = Math.floor(y / factor);
    for (let x = 0; x < size; x++) {
      const base = ((oy * out + Math.floor(x / factor)) * channels) | 0;
      const src = (y * size + x) * channels;
      for (let c = 0; c < channels; c++) res[base + c]! += pixels[src + c]! * norm;
    }
  }
  return res;
}

export interface ScrambledFeatureOptions {
  /** Side of the (square, RGB) scrambled images. */
  imageSize: number;
  /** Average-pooling block (default 4). */
  pool?: number;
  /** Standardize every pooled value over the traffic (default true). */
  standardize?: boolean;
  /** Project on this many principal components of the traffic (default 0: no projection). */
  components?: number;
  /** With `components`: divide each component by its standard deviation (default false; it hurts, see above). */
  whiten?: boolean;
}

/**
 * The stronger pixel attacker's features, fitted on all the observed traffic (no labels): pooled pixels,
 * standardized, optionally projected on the first principal components (and whitened).
 */
export function scrambledFeatures(pixels: readonly ArrayLike<number>[], opts: ScrambledFeatureOptions): Float32Array[] {
  const pooled = pixels.map((p) => averagePool(p, opts.imageSize, 3, opts.pool ?? 4));
  const rows = opts.standardize ?? true ? standardizeColumns(pooled) : pooled;
  if (!opts.components) return rows;
  const p = pca(rows, opts.components);
  const k = p.components;
  const whiten = opts.whiten ?? false;
  return rows.map((_, i) =>
    Float32Array.from({ length: k }, (_, c) => {
      const s = p.scores[i * k + c]!;
      return whiten ? (p.variances[c]! > 1e-12 ? s / Math.sqrt(p.variances[c]!) : 0) : s;
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The attackers

/** (a) 1-NN on the scrambled pixels (Euclidean), through label-leak.ts's `nearestNeighbourAttack`. */
export function pixelNearestNeighbour(pixels: readonly AttackVector[], labels: readonly number[], k: number, seed: number): LabelInferenceResult | null {
  checkRows('images', pixels, labels);
  const r = nearestNeighbourAttack(pixels, labels, k, seed);
  return r && { attacker: 'pixel-1nn', k, accuracy: r.accuracy, chance: r.chance, queries: r.queries, classes: r.classes, seed };
}

/** Any rows (features of the traffic) labelled by a classifier fitted on the leaks; `attacker` names the result. */
export function featureAttack(attacker: string, rows: readonly ArrayLike<number>[], labels: readonly number[], k: number, seed: number, classifier: FeatureClassifier): LabelInferenceResult | null {
  checkRows('rows', rows, labels);
  const split = leakSplit(labels, k, seed);
  if (split.queries.length === 0) return null;
  return scoreSplit(attacker, split, labels, k, seed, fitClassifier(classifier, rows, labels, split.leaked, seed));
}

/** (b) 1-NN on the cloud's vectors: Euclidean on the probabilities, or on their logarithms with `log`. */
export function cloudNearestNeighbour(vectors: readonly ArrayLike<number>[], labels: readonly number[], k: number, seed: number, transform: 'prob' | 'log' = 'prob'): LabelInferenceResult | null {
  const rows = transform === 'log' ? logProbabilities(vectors) : vectors;
  return featureAttack(transform === 'log' ? 'cloud-1nn-log' : 'cloud-1nn', rows, labels, k, seed, 'nn-euclid');
}

/** (c) Logistic regression on the cloud's vectors (ln p, standardized over the traffic). */
export function cloudLogisticRegression(vectors: readonly ArrayLike<number>[], labels: readonly number[], k: number, seed: number): LabelInferenceResult | null {
  return featureAttack('cloud-logreg', standardizeColumns(logProbabilities(vectors)), labels, k, seed, 'logreg');
}

/** (d) The stronger pixel attacker on features from `scrambledFeatures` (compute them once for all k). */
export function pooledPixelAttack(features: readonly ArrayLike<number>[], labels: readonly number[], k: number, seed: number, classifier: FeatureClassifier = 'centroid-cosine'): LabelInferenceResult | null {
  return featureAttack(`pixel-pooled-${classifier}`, features, labels, k, seed, classifier);
}

export interface TrafficObservation {
  /** Scrambled pixels (S x S x 3, interleaved), one per image. */
  pixels: readonly AttackVector[];
  /** The cloud's vectors, same order. */
  cloud: readonly ArrayLike<number>[];
  labels: readonly number[];
  imageSize: number;
}

/** Every attacker at every k (skipping the k that leave no query), in a fixed order. */
export function labelInferenceCurve(obs: TrafficObservation, ks: number[], seed: number, pixelOptions: Partial<ScrambledFeatureOptions> = {}): LabelInferenceResult[] {
  const features = scrambledFeatures(obs.pixels, { imageSize: obs.imageSize, ...pixelOptions });
  const out: LabelInferenceResult[] = [];
  for (const k of ks) {
    const results = [
      pixelNearestNeighbour(obs.pixels, obs.labels, k, seed),
      pooledPixelAttack(features, obs.labels, k, seed, 'centroid-cosine'),
      cloudNearestNeighbour(obs.cloud, obs.labels, k, seed, 'prob'),
      cloudNearestNeighbour(obs.cloud, obs.labels, k, seed, 'log'),
      cloudLogisticRegression(obs.cloud, obs.labels, k, seed),
    ];
    for (const r of results) if (r) out.push(r);
  }
  return out;
}
