/**
 * What the cloud's own answers say about scrambled traffic (the paper's section 5.2), measured on arrays.
 *
 * Inputs: the cloud's probability vectors for the plaintext images and for their scrambled versions (same order),
 * and each image's true label mapped to a cloud class (-1 where the cloud does not know the label). The plaintext
 * vectors are a reference only (our own embedded cloud classifying the images in the clear); the attacker — the
 * cloud itself — sees only the scrambled vectors. Measured:
 *
 * - label intersection: how often the scrambled answer's top-1 / top-5 contains the plaintext answer's top-1, and
 *   how often it contains the true label (paper: true label in scrambled top-1 / top-5 0.07% / 0.52%);
 * - confidence (the largest probability) on each, and its reduction;
 * - entropy in nats (natural logarithm; a uniform vector over C classes has ln C; paper: 4.3 scrambled vs 1.97
 *   plaintext, presumably also nats since 4.3 < ln 1000 = 6.9);
 * - the share of scrambled images whose top-1 is the single most common cloud class (collapse of the answers);
 * - a 2-D PCA of the output vectors (exact, `pca` of the numerics module (src/analysis/numerics/pca.ts)), e.g.
 *   for the images of two labels, to see whether the scrambled answers still separate them.
 *
 * The generator's zero activations (paper: about 59%) come from `generatorZeroFraction`, which reuses
 * `scrambleStats` (src/scrambler/stats.ts) on a scrambler created with `exposeActivations`.
 */
import { fail } from '../errors.js';
import { rankOf } from '../cloud/accuracy.js';
import { scrambleStats, type ScrambleStats } from '../scrambler/stats.js';
import type { Scrambler } from '../scrambler/scrambler.js';
import { pca } from './numerics/pca.js';

// ---------------------------------------------------------------------------------------------------------------
// Per-vector measures

/** Shannon entropy in nats (natural log) of a probability vector, normalized by its sum first; 0·ln 0 = 0. */
export function entropyNats(v: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < v.length; i++) {
    if (!(v[i]! >= 0) || !Number.isFinite(v[i]!)) fail('OWSD_ERR_BAD_ARGUMENT', `entropy: entry ${i} is ${v[i]}, expected a probability (>= 0, finite)`);
    sum += v[i]!;
  }
  if (!(sum > 0)) fail('OWSD_ERR_BAD_ARGUMENT', 'entropy: the vector sums to 0');
  let h = 0;
  for (let i = 0; i < v.length; i++) {
    const p = v[i]! / sum;
    if (p > 0) h -= p * Math.log(p);
  }
  return h;
}

/** The largest entry (the cloud's confidence in its top-1), of the vector normalized by its sum. */
export function confidence(v: ArrayLike<number>): number {
  let sum = 0;
  let max = -Infinity;
  for (let i = 0; i < v.length; i++) {
    sum += v[i]!;
    if (v[i]! > max) max = v[i]!;
  }
  return sum > 0 ? max / sum : NaN;
}

/** Index of the largest entry (ties: the lowest index). */
export function argmaxOf(v: ArrayLike<number>): number {
  let b = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[b]!) b = i;
  return b;
}

// ---------------------------------------------------------------------------------------------------------------
// Section 5.2 on arrays

export interface CloudOutputAnalysis {
  /** Images analysed. */
  n: number;
  /** Length of the cloud's vectors. */
  cloudClasses: number;
  /** Share of images whose scrambled top-1 / top-5 contains the plaintext top-1. */
  plaintextTop1InScrambledTop1: number;
  plaintextTop1InScrambledTop5: number;
  /** Images whose true label the cloud knows (mapped >= 0): the denominator of the true-label rates. */
  mapped: number;
  /** Share of mapped images whose scrambled top-1 / top-5 contains the true label (paper: 0.07% / 0.52%). */
  trueInScrambledTop1: number;
  trueInScrambledTop5: number;
  /** The same on the plaintext vectors (the cloud's own accuracy; reference). */
  trueInPlaintextTop1: number;
  trueInPlaintextTop5: number;
  /** Mean of the largest probability. `reduction` = plaintext − scrambled; `relativeReduction` = reduction / plaintext. */
  confidence: { plaintext: number; scrambled: number; reduction: number; relativeReduction: number };
  /** Mean entropy in nats; `max` = ln(cloudClasses), the entropy of a uniform vector. */
  entropy: { base: 'e (nats)'; plaintext: number; scrambled: number; max: number };
  /** The single most common top-1 class and the share of images that fall in it. */
  dominant: { scrambled: { cloudClass: number; share: number }; plaintext: { cloudClass: number; share: number } };
  /** How many distinct cloud classes appear as top-1. */
  distinctTop1: { scrambled: number; plaintext: number };
}

function checkVectors(name: string, vs: readonly ArrayLike<number>[], n: number, dim: number): void {
  if (vs.length !== n) fail('OWSD_ERR_BAD_ARGUMENT', `cloud outputs: ${name} has ${vs.length} vectors, expected ${n} (one per image, same order)`);
  vs.forEach((v, i) => {
    if (v.length !== dim) fail('OWSD_ERR_BAD_ARGUMENT', `cloud outputs: ${name}[${i}] has ${v.length} entries, expected ${dim}`);
  });
}

/** The most common top-1 class of `vs` and its share, and the number of distinct top-1 classes. */
export function dominantClass(vs: readonly ArrayLike<number>[]): { cloudClass: number; share: number; distinct: number } {
  const counts = new Map<number, number>();
  for (const v of vs) {
    const c = argmaxOf(v);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let best = -1;
  let bestN = 0;
  for (const [c, n] of [...counts.entries()].sort((a, b) => a[0] - b[0])) {
    if (n > bestN) {
      best = c;
      bestN = n;
    }
  }
  return { cloudClass: best, share: vs.length ? bestN / vs.length : NaN, distinct: counts.size };
}

const meanOf = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/**
 * Section 5.2's measures for n images: `plaintext[i]` and `scrambled[i]` are the cloud's vectors for image i in the
 * clear and scrambled; `trueCloudLabel[i]` is its true label as a cloud class, or -1 when the cloud lacks it.
 */
export function analyseCloudOutputs(
  plaintext: readonly ArrayLike<number>[],
  scrambled: readonly ArrayLike<number>[],
  trueCloudLabel: readonly number[],
): CloudOutputAnalysis {
  const n = scrambled.length;
  if (n === 0) fail('OWSD_ERR_BAD_ARGUMENT', 'cloud outputs: no vectors to analyse');
  const dim = scrambled[0]!.length;
  checkVectors('plaintext', plaintext, n, dim);
  checkVectors('scrambled', scrambled, n, dim);
  if (trueCloudLabel.length !== n) fail('OWSD_ERR_BAD_ARGUMENT', `cloud outputs: ${trueCloudLabel.length} labels for ${n} images`);
  let p1 = 0;
  let p5 = 0;
  let mapped = 0;
  let t1 = 0;
  let t5 = 0;
  let pt1 = 0;
  let pt5 = 0;
  for (let i = 0; i < n; i++) {
    const s = Float32Array.from(scrambled[i]!);
    const p = Float32Array.from(plaintext[i]!);
    const r = rankOf(s, argmaxOf(p));
    if (r === 0) p1++;
    if (r < 5) p5++;
    const t = trueCloudLabel[i]!;
    if (!Number.isInteger(t) || t < -1 || t >= dim) fail('OWSD_ERR_BAD_ARGUMENT', `cloud outputs: label ${i} is ${t}, expected -1 or a cloud class in [0, ${dim - 1}]`);
    if (t < 0) continue;
    mapped++;
    const rs = rankOf(s, t);
    const rp = rankOf(p, t);
    if (rs === 0) t1++;
    if (rs < 5) t5++;
    if (rp === 0) pt1++;
    if (rp < 5) pt5++;
  }
  const confP = meanOf(plaintext.map(confidence));
  const confS = meanOf(scrambled.map(confidence));
  const domS = dominantClass(scrambled);
  const domP = dominantClass(plaintext);
  const rate = (x: number): number => (mapped ? x / mapped : NaN);
  return {
    n,
    cloudClasses: dim,
    plaintextTop1InScrambledTop1: p1 / n,
    plaintextTop1InScrambledTop5: p5 / n,
    mapped,
    trueInScrambledTop1: rate(t1),
    trueInScrambledTop5: rate(t5),
    trueInPlaintextTop1: rate(pt1),
    trueInPlaintextTop5: rate(pt5),
    confidence: { plaintext: confP, scrambled: confS, reduction: confP - confS, relativeReduction: (confP - confS) / confP },
    entropy: { base: 'e (nats)', plaintext: meanOf(plaintext.map(entropyNats)), scrambled: meanOf(scrambled.map(entropyNats)), max: Math.log(dim) },
    dominant: { scrambled: { cloudClass: domS.cloudClass, share: domS.share }, plaintext: { cloudClass: domP.cloudClass, share: domP.share } },
    distinctTop1: { scrambled: domS.distinct, plaintext: domP.distinct },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Two-label PCA scatter

export interface PcaScatter {
  /** One group per label, in the order asked, with its 2-D points. */
  groups: Array<{ label: number; points: Array<[number, number]> }>;
  /** Share of the variance along the two axes. */
  explained: [number, number];
}

/**
 * 2-D PCA of the vectors of the images of `labelPair` (fitted on those images only), as scatter points per label.
 * `transform: 'log'` uses ln(p + 1e-12) instead of the probabilities (the small probabilities carry the detail).
 */
export function pcaOfTwoLabels(vectors: readonly ArrayLike<number>[], labels: readonly number[], labelPair: [number, number], transform: 'prob' | 'log' = 'prob'): PcaScatter {
  if (vectors.length !== labels.length) fail('OWSD_ERR_BAD_ARGUMENT', `pca: ${vectors.length} vectors for ${labels.length} labels`);
  const rows: number[] = [];
  labels.forEach((l, i) => (l === labelPair[0] || l === labelPair[1]) && rows.push(i));
  if (rows.length < 3) fail('OWSD_ERR_BAD_ARGUMENT', `pca: labels ${labelPair.join(' and ')} have ${rows.length} images, need at least 3`);
  const data = rows.map((i) => (transform === 'log' ? Float64Array.from(vectors[i]!, (p) => Math.log(p + 1e-12)) : vectors[i]!));
  const p = pca(data, 2);
  const groups = labelPair.map((label) => ({ label, points: [] as Array<[number, number]> }));
  rows.forEach((r, j) => {
    const g = groups[labels[r] === labelPair[0] ? 0 : 1]!;
    g.points.push([p.scores[j * p.components]!, p.components > 1 ? p.scores[j * p.components + 1]! : 0]);
  });
  return { groups, explained: [p.explained[0] ?? 0, p.explained[1] ?? 0] };
}

// ---------------------------------------------------------------------------------------------------------------
// Generator activations

export interface GeneratorActivationStats extends ScrambleStats {
  images: number;
}

/**
 * Zero ReLU activations of the generator (and pixel statistics) for n embeddings, through `scrambleStats`. The
 * scrambler must be created with `exposeActivations: true`. Runs `chunk` images at a time to bound memory.
 */
export async function generatorZeroFraction(scrambler: Scrambler, embeddings: Float32Array, n: number, chunk = 4): Promise<GeneratorActivationStats> {
  const dim = scrambler.inputDim;
  if (embeddings.length !== n * dim || n < 1) fail('OWSD_ERR_BAD_ARGUMENT', `generatorZeroFraction: expected ${n} embeddings of ${dim} values, got ${embeddings.length} values`);
  const zeros: number[] = [];
  const totals: number[] = [];
  const pixels = new Uint8Array(n * scrambler.imageSize * scrambler.imageSize * 3);
  const per = pixels.length / n;
  for (let s = 0; s < n; s += chunk) {
    const m = Math.min(chunk, n - s);
    const e = embeddings.subarray(s * dim, (s + m) * dim);
    const acts = await scrambler.activations(e, m);
    const px = await scrambler.pixels(e, m);
    pixels.set(px, s * per);
    // scrambleStats per chunk gives each layer's zero fraction; weighted back to counts to pool the chunks.
    scrambleStats(px, m, acts).zeroFractionByLayer.forEach((f, l) => {
      zeros[l] = (zeros[l] ?? 0) + Math.round(f * acts[l]!.length);
      totals[l] = (totals[l] ?? 0) + acts[l]!.length;
    });
  }
  const pixelStats = scrambleStats(pixels, n, []);
  return {
    ...pixelStats,
    images: n,
    zeroFraction: zeros.reduce((a, b) => a + b, 0) / totals.reduce((a, b) => a + b, 0),
    zeroFractionByLayer: zeros.map((z, l) => z / totals[l]!),
  };
}
