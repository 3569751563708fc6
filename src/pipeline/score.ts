/**
 * Scoring class-probability rows against targets: top-1/top-5, the paired standard error of the cloud gain, and
 * the paper's second measure (agreement with the cloud's own prediction on the plaintext image). Shared by
 * `evaluate` and the experiment suite.
 */
import { rankOf } from '../cloud/accuracy.js';

export interface TopK {
  top1: number;
  top5: number;
}

/** Top-1/top-5 of n rows of `width` scores against `targets` (row i's true class). */
export function scoreTopK(probs: Float32Array, targets: ArrayLike<number>, width: number): TopK {
  let c1 = 0;
  let c5 = 0;
  for (let i = 0; i < targets.length; i++) {
    const r = rankOf(probs.subarray(i * width, (i + 1) * width), targets[i]!);
    if (r === 0) c1++;
    if (r < 5) c5++;
  }
  const n = targets.length || 1;
  return { top1: c1 / n, top5: c5 / n };
}

export function argmax(v: Float32Array): number {
  let b = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[b]!) b = i;
  return b;
}

/**
 * Top-1 of `a` minus top-1 of `b` over the same rows, with its paired standard error (McNemar): with b rows right
 * only under `a` and c rows right only under `b`, se = sqrt(b + c - (b - c)²/n) / n.
 */
export function pairedGain(a: Float32Array, b: Float32Array, targets: ArrayLike<number>, width: number): { gain: number; stdErr: number } {
  let onlyA = 0;
  let onlyB = 0;
  for (let i = 0; i < targets.length; i++) {
    const ra = argmax(a.subarray(i * width, (i + 1) * width)) === targets[i];
    const rb = argmax(b.subarray(i * width, (i + 1) * width)) === targets[i];
    if (ra && !rb) onlyA++;
    if (!ra && rb) onlyB++;
  }
  const n = targets.length || 1;
  return { gain: (onlyA - onlyB) / n, stdErr: Math.sqrt(Math.max(0, onlyA + onlyB - (onlyA - onlyB) ** 2 / n)) / n };
}

export interface PlaintextScores {
  /** Samples whose class the cloud knows. */
  mapped: number;
  /** The cloud's accuracy on the plaintext images (over the mapped samples). */
  cloud: TopK;
  /** The IIN's top-1/top-5 against the cloud's plaintext top-1, over all samples (a plaintext top-1 outside the dataset's labels counts as disagreement). */
  agreement: TopK;
}

/**
 * Score the cloud's plaintext vectors against the truth, and the IIN's rows (`probs`, width C) against the cloud's
 * plaintext top-1. `toCloud[d]` is the cloud class of dataset label d, or -1.
 */
export function plaintextScores(probs: Float32Array, C: number, targets: ArrayLike<number>, vectors: Float32Array[], toCloud: number[]): PlaintextScores {
  const fromCloud = new Map<number, number>();
  toCloud.forEach((c, d) => c >= 0 && fromCloud.set(c, d));
  let mapped = 0;
  let c1 = 0;
  let c5 = 0;
  const agreeTargets: number[] = [];
  const agreeRows: number[] = [];
  vectors.forEach((v, i) => {
    const t = toCloud[targets[i]!]!;
    if (t >= 0) {
      mapped++;
      const r = rankOf(v, t);
      if (r === 0) c1++;
      if (r < 5) c5++;
    }
    const cloudTop = fromCloud.get(argmax(v));
    if (cloudTop !== undefined) {
      agreeTargets.push(cloudTop);
      agreeRows.push(i);
    }
  });
  const rows = new Float32Array(agreeRows.length * C);
  agreeRows.forEach((r, j) => rows.set(probs.subarray(r * C, (r + 1) * C), j * C));
  const agreeKnown = scoreTopK(rows, agreeTargets, C);
  const frac = agreeRows.length / (vectors.length || 1);
  return {
    mapped,
    cloud: { top1: mapped ? c1 / mapped : 0, top5: mapped ? c5 / mapped : 0 },
    agreement: { top1: agreeKnown.top1 * frac, top5: agreeKnown.top5 * frac },
  };
}
