/**
 * Linkability of scrambled traffic: can an observer tell that two submissions come from the same image, or which
 * of a set of candidate images a submission comes from?
 *
 * (a) Exact linkability. Scrambling is deterministic for a key, so the same image submitted twice gives the same
 *     PNG bytes (measured by `exactLinkability`): a hash of the PNG identifies an (image, key) pair, and a repeated
 *     submission is visible to anyone who sees the traffic. The attacker needs nothing but the traffic.
 * (b) Near-duplicate linkability. The same source image slightly changed (JPEG re-encoding, a small crop, a
 *     resize: `makeVariants`) against different images: the distance between scrambled images (pixels, or the
 *     cloud's vectors) for "same source" pairs and for "different source" pairs, the ROC AUC of telling them
 *     apart by the distance (`rocAuc`; 0.5 = no signal, 1 = perfect), and the rank-1 rate of finding a variant's
 *     source among all the scrambled originals (`nearDuplicateLinkability`). The attacker needs only the traffic.
 * (c) Re-identification against a pool of candidate plaintexts, with no key and no (plaintext, scrambled) pairs.
 *     The attacker holds the candidate images and one observed submission per candidate, and must say which
 *     candidate each submission is. Two honest, simple attempts:
 *     - `cloud`: the cloud classifies each candidate in the clear itself and compares its answers with the answers
 *       it gave on the scrambled traffic (cosine similarity of ln p);
 *     - `typicality`: the encoder is public (only the key is secret), so the attacker embeds the candidates; a
 *       generator that keeps neighbourhoods would keep how atypical an image is: the mean distance of an image to
 *       the others, among the candidates' embeddings and among the scrambled pixels, is compared by rank
 *       (Spearman correlation, and matching each submission to the candidate of nearest typicality rank).
 *     Both are reported with their chance levels (rank-1 1/pool, mean rank (pool + 1) / 2).
 */
import crypto from 'node:crypto';
import sharp from 'sharp';
import { fail } from '../errors.js';
import { decodeRgb } from '../image/decode.js';
import type { ImageInput } from '../types.js';

// ---------------------------------------------------------------------------------------------------------------
// (a) exact

export interface ExactLinkability {
  /** Images scrambled twice. */
  pairs: number;
  /** Pairs whose two PNGs are byte-identical. */
  identical: number;
  rate: number;
  /** Distinct PNGs among the first submissions (by SHA-256): equal to `pairs` when different images never collide. */
  distinctFirst: number;
}

/** `first[i]` and `second[i]` are two independent scramblings of image i under the same key. */
export function exactLinkability(first: readonly Uint8Array[], second: readonly Uint8Array[]): ExactLinkability {
  if (first.length !== second.length || first.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', `exact linkability: ${first.length} and ${second.length} PNGs; need the same, positive number`);
  let identical = 0;
  first.forEach((a, i) => Buffer.from(a).equals(Buffer.from(second[i]!)) && identical++);
  const hashes = new Set(first.map((p) => crypto.createHash('sha256').update(p).digest('hex')));
  return { pairs: first.length, identical, rate: identical / first.length, distinctFirst: hashes.size };
}

// ---------------------------------------------------------------------------------------------------------------
// Distances, AUC, summaries

/** Root mean squared difference of two equally long vectors. */
export function rmsDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length || a.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', `distance: vectors of ${a.length} and ${b.length} values`);
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return Math.sqrt(s / a.length);
}

/** 1 − cosine similarity. */
export function cosineDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length || a.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', `distance: vectors of ${a.length} and ${b.length} values`);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return aa > 0 && bb > 0 ? 1 - ab / Math.sqrt(aa * bb) : 1;
}

/** Ranks 1..n of `xs` (ties get the mean of their ranks). */
export function ranks(xs: readonly number[]): number[] {
  const order = xs.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    for (let t = i; t <= j; t++) r[order[t]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/**
 * ROC AUC of scores where higher means "positive": the probability that a random positive outscores a random
 * negative, ties counting one half (Mann-Whitney U / (n_pos · n_neg)).
 */
export function rocAuc(positive: readonly number[], negative: readonly number[]): number {
  if (positive.length === 0 || negative.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', `ROC AUC: need positives and negatives (got ${positive.length} and ${negative.length})`);
  const all = [...positive, ...negative];
  if (all.some((x) => !Number.isFinite(x))) fail('OWSD_ERR_BAD_ARGUMENT', 'ROC AUC: scores must be finite');
  const r = ranks(all);
  let sum = 0;
  for (let i = 0; i < positive.length; i++) sum += r[i]!;
  const np = positive.length;
  return (sum - (np * (np + 1)) / 2) / (np * negative.length);
}

/** Spearman rank correlation (Pearson correlation of the ranks); NaN when a side is constant. */
export function spearman(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length < 2) fail('OWSD_ERR_BAD_ARGUMENT', `Spearman: need two equally long lists of 2 or more (got ${a.length} and ${b.length})`);
  const ra = ranks(a);
  const rb = ranks(b);
  const m = (a.length + 1) / 2;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (ra[i]! - m) * (rb[i]! - m);
    aa += (ra[i]! - m) ** 2;
    bb += (rb[i]! - m) ** 2;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : NaN;
}

export interface DistanceSummary {
  n: number;
  mean: number;
  min: number;
  p05: number;
  median: number;
  p95: number;
  max: number;
}

/** Mean and quantiles (linear interpolation) of a list of distances. */
export function summarizeDistances(xs: readonly number[]): DistanceSummary {
  if (xs.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', 'distance summary: no values');
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => {
    const pos = p * (s.length - 1);
    const lo = Math.floor(pos);
    return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
  };
  return { n: s.length, mean: s.reduce((a, b) => a + b, 0) / s.length, min: s[0]!, p05: q(0.05), median: q(0.5), p95: q(0.95), max: s[s.length - 1]! };
}

// ---------------------------------------------------------------------------------------------------------------
// (b) near duplicates

export type VariantName = 'jpeg-q75' | 'crop-90' | 'resize-80';
export const VARIANTS: VariantName[] = ['jpeg-q75', 'crop-90', 'resize-80'];

/**
 * Slightly changed versions of an image, as a user might re-submit it: re-encoded as JPEG quality 75; the central
 * 90% (per side) resized back to the original size; resized to 80% per side.
 */
export async function makeVariant(image: ImageInput, variant: VariantName): Promise<ImageInput> {
  const rgb = await decodeRgb(image);
  const { width, height } = rgb;
  const img = sharp(rgb.data, { raw: { width, height, channels: 3 } });
  let bytes: Buffer;
  switch (variant) {
    case 'jpeg-q75':
      bytes = await img.jpeg({ quality: 75 }).toBuffer();
      break;
    case 'crop-90': {
      const w = Math.max(1, Math.round(width * 0.9));
      const h = Math.max(1, Math.round(height * 0.9));
      const cropped = await img.extract({ left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h }).png().toBuffer();
      bytes = await sharp(cropped).resize({ width, height, fit: 'fill' }).png().toBuffer();
      break;
    }
    case 'resize-80':
      bytes = await img.resize({ width: Math.max(1, Math.round(width * 0.8)), height: Math.max(1, Math.round(height * 0.8)), fit: 'fill' }).png().toBuffer();
      break;
    default:
      return fail('OWSD_ERR_BAD_ARGUMENT', `unknown image variant ${String(variant)} (expected one of ${VARIANTS.join(', ')})`);
  }
  return { kind: 'encoded', bytes: new Uint8Array(bytes), name: `${variant} variant` };
}

export interface NearDuplicateResult {
  /** Source images (each with one variant). */
  sources: number;
  /** Distances between a variant's scrambled image and its own source's. */
  same: DistanceSummary;
  /** Distances between a variant's scrambled image and every other source's. */
  different: DistanceSummary;
  /** ROC AUC of "same source" by smaller distance. */
  auc: number;
  /** Share of variants whose nearest scrambled original is their own source; `chance` = 1 / sources. */
  rank1: number;
  chance: number;
}

/**
 * `originals[i]` and `variants[i]` are what the observer sees for source image i and its changed version (scrambled
 * pixels, cloud vectors, ...); `distance` compares two of them.
 */
export function nearDuplicateLinkability(
  originals: readonly ArrayLike<number>[],
  variants: readonly ArrayLike<number>[],
  distance: (a: ArrayLike<number>, b: ArrayLike<number>) => number = rmsDistance,
): NearDuplicateResult {
  const n = originals.length;
  if (n < 2 || variants.length !== n) fail('OWSD_ERR_BAD_ARGUMENT', `near-duplicate linkability: need 2 or more originals and as many variants (got ${n} and ${variants.length})`);
  const same: number[] = [];
  const different: number[] = [];
  let rank1 = 0;
  for (let i = 0; i < n; i++) {
    let best = -1;
    let bestD = Infinity;
    for (let j = 0; j < n; j++) {
      const d = distance(variants[i]!, originals[j]!);
      (i === j ? same : different).push(d);
      if (d < bestD) {
        bestD = d;
        best = j;
      }
    }
    if (best === i) rank1++;
  }
  return {
    sources: n,
    same: summarizeDistances(same),
    different: summarizeDistances(different),
    auc: rocAuc(same.map((d) => -d), different.map((d) => -d)),
    rank1: rank1 / n,
    chance: 1 / n,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// (c) re-identification against candidates

export interface ReidentificationResult {
  method: string;
  /** Candidates (= observed submissions). */
  pool: number;
  /** Share of submissions whose best-scoring candidate is the true one; chance 1 / pool. */
  top1: number;
  /** Share whose true candidate is among the 5 best. */
  top5: number;
  /** Mean 1-based rank of the true candidate; chance (pool + 1) / 2. */
  meanRank: number;
  chanceTop1: number;
  chanceMeanRank: number;
  /** For `typicality`: Spearman correlation of the candidates' and the submissions' typicality. */
  spearman?: number;
}

/**
 * Rank candidates for each submission by `score(submission, candidate)` (higher = more likely); submission i truly
 * comes from candidate i. Ties rank pessimistically (the true candidate after every equal one).
 */
export function rankReidentification(method: string, pool: number, score: (submission: number, candidate: number) => number): ReidentificationResult {
  if (!Number.isInteger(pool) || pool < 2) fail('OWSD_ERR_BAD_ARGUMENT', `re-identification: need a pool of 2 or more (got ${pool})`);
  let top1 = 0;
  let top5 = 0;
  let rankSum = 0;
  for (let i = 0; i < pool; i++) {
    const own = score(i, i);
    let rank = 1;
    for (let j = 0; j < pool; j++) if (j !== i && score(i, j) >= own) rank++;
    if (rank === 1) top1++;
    if (rank <= 5) top5++;
    rankSum += rank;
  }
  return { method, pool, top1: top1 / pool, top5: top5 / pool, meanRank: rankSum / pool, chanceTop1: 1 / pool, chanceMeanRank: (pool + 1) / 2 };
}

/** `cloud`: the cloud's plaintext answers on the candidates against its answers on the submissions (cosine of ln p). */
export function reidentifyByCloud(candidatePlaintext: readonly ArrayLike<number>[], submissionScrambled: readonly ArrayLike<number>[]): ReidentificationResult {
  if (candidatePlaintext.length !== submissionScrambled.length) fail('OWSD_ERR_BAD_ARGUMENT', `re-identification: ${candidatePlaintext.length} candidates for ${submissionScrambled.length} submissions`);
  const log = (v: ArrayLike<number>): Float64Array => Float64Array.from(v as ArrayLike<number>, (p) => Math.log(Math.max(0, p) + 1e-9));
  const c = candidatePlaintext.map(log);
  const s = submissionScrambled.map(log);
  return rankReidentification('cloud', c.length, (i, j) => -cosineDistance(s[i]!, c[j]!));
}

/** Mean distance of each row to the others. */
export function typicality(rows: readonly ArrayLike<number>[], distance: (a: ArrayLike<number>, b: ArrayLike<number>) => number = rmsDistance): number[] {
  const n = rows.length;
  const t = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const d = distance(rows[i]!, rows[j]!);
      t[i]! += d / (n - 1);
      t[j]! += d / (n - 1);
    }
  }
  return t;
}

/**
 * `typicality`: each submission is matched to the candidate of nearest typicality rank, where typicality is the
 * mean distance to the others, among the candidates' (public-encoder) embeddings and among the submissions' pixels.
 */
export function reidentifyByTypicality(candidateEmbeddings: readonly ArrayLike<number>[], submissionPixels: readonly ArrayLike<number>[]): ReidentificationResult {
  if (candidateEmbeddings.length !== submissionPixels.length) fail('OWSD_ERR_BAD_ARGUMENT', `re-identification: ${candidateEmbeddings.length} candidates for ${submissionPixels.length} submissions`);
  const tc = typicality(candidateEmbeddings);
  const ts = typicality(submissionPixels);
  const rc = ranks(tc);
  const rs = ranks(ts);
  return { ...rankReidentification('typicality', tc.length, (i, j) => -Math.abs(rs[i]! - rc[j]!)), spearman: spearman(tc, ts) };
}
