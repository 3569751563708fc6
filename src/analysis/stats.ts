/**
 * Small statistics for the reports: mean, sample standard deviation, and the two-sided paired t-test with the
 * Student t distribution computed through the regularized incomplete beta function (Lentz continued fraction,
 * as in Numerical Recipes), so no dependency is needed.
 *
 * Conventions: `mean([])` is NaN (nothing to average); `std` is the sample standard deviation (n - 1) and 0 for
 * fewer than two values. The t-test refuses unusable input (length mismatch, fewer than two pairs, non-finite
 * values) with OWSD_ERR_BAD_ARGUMENT.
 */
import { fail } from '../errors.js';

/** Arithmetic mean; NaN for an empty list. */
export function mean(xs: number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (divides by n - 1); 0 for n < 2. Two-pass, so large offsets do not cost precision. */
export function std(xs: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (n - 1));
}

/** Mean, sample standard deviation and count in one call (mean NaN and std 0 when empty). */
export function meanStd(xs: number[]): { mean: number; std: number; n: number } {
  return { mean: mean(xs), std: std(xs), n: xs.length };
}

export interface TTest {
  /** The t statistic of mean(a - b). */
  t: number;
  /** Degrees of freedom, n - 1. */
  df: number;
  /** Two-sided p-value. */
  p: number;
  /** mean(a[i] - b[i]). */
  meanDiff: number;
  /** Number of pairs. */
  n: number;
}

/**
 * Two-sided paired t-test of a[i] against b[i]: t = mean(d) / (std(d) / sqrt(n)) with d = a - b, df = n - 1.
 *
 * When every difference is the same (std(d) = 0, or below 1e-12 of the data's magnitude, which is floating-point
 * noise around equal differences) the statistic is degenerate: t = ±Infinity with p = 0 when that difference is
 * nonzero, t = 0 with p = 1 when it is zero.
 */
export function pairedTTest(a: number[], b: number[]): TTest {
  if (a.length !== b.length) {
    fail('OWSD_ERR_BAD_ARGUMENT', `paired t-test: the two samples must have the same length (got ${a.length} and ${b.length})`);
  }
  const n = a.length;
  if (n < 2) fail('OWSD_ERR_BAD_ARGUMENT', `paired t-test: need at least 2 pairs (got ${n})`);
  let scale = 0;
  const d: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      fail('OWSD_ERR_BAD_ARGUMENT', `paired t-test: pair ${i} is not finite (${x}, ${y})`);
    }
    scale = Math.max(scale, Math.abs(x), Math.abs(y));
    d.push(x - y);
  }
  const meanDiff = mean(d);
  const sd = std(d);
  const df = n - 1;
  const noise = 1e-12 * scale;
  if (sd <= noise) {
    if (Math.abs(meanDiff) <= noise) return { t: 0, df, p: 1, meanDiff, n };
    return { t: meanDiff > 0 ? Infinity : -Infinity, df, p: 0, meanDiff, n };
  }
  const t = meanDiff / (sd / Math.sqrt(n));
  return { t, df, p: studentTTwoSidedP(t, df), meanDiff, n };
}

function checkDf(df: number): void {
  if (!(Number.isFinite(df) && df > 0)) fail('OWSD_ERR_BAD_ARGUMENT', `Student t: degrees of freedom must be a positive number (got ${df})`);
}

/** P(T <= t) for Student's t distribution with `df` degrees of freedom (df > 0, not necessarily an integer). */
export function studentTCdf(t: number, df: number): number {
  checkDf(df);
  if (Number.isNaN(t)) return NaN;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  // P(|T| >= |t|) = I_x(df/2, 1/2) with x = df / (df + t^2); each tail is half of it.
  const tail = 0.5 * regularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}

/** Two-sided p-value P(|T| >= |t|), computed directly (no 1 - cdf cancellation for small p). */
export function studentTTwoSidedP(t: number, df: number): number {
  checkDf(df);
  if (Number.isNaN(t)) return NaN;
  if (!Number.isFinite(t)) return 0;
  return Math.min(1, regularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5));
}

/** ln Γ(x) for x > 0 (Lanczos approximation, g = 7, 9 coefficients; relative error about 1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x); // reflection
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const z = x - 1;
  let s = c[0]!;
  for (let i = 1; i < 9; i++) s += c[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/** The regularized incomplete beta function I_x(a, b) for 0 <= x <= 1, a, b > 0. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) fail('OWSD_ERR_BAD_ARGUMENT', `incomplete beta: a and b must be positive (got ${a}, ${b})`);
  if (Number.isNaN(x)) return NaN;
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  const front = Math.exp(lnFront);
  // The continued fraction converges quickly for x < (a + 1) / (a + b + 2); otherwise use the symmetry
  // I_x(a, b) = 1 - I_{1-x}(b, a).
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** Continued fraction for the incomplete beta function, modified Lentz's method (Numerical Recipes `betacf`). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const MAX_ITER = 10000;
  const EPS = 1e-15;
  const TINY = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= MAX_ITER; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return h;
  }
  fail('OWSD_ERR_INTERNAL', `incomplete beta: continued fraction did not converge (x=${x}, a=${a}, b=${b})`);
}
