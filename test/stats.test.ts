import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  mean,
  meanStd,
  pairedTTest,
  regularizedIncompleteBeta,
  std,
  studentTCdf,
  studentTTwoSidedP,
} from '../src/analysis/stats.js';
import { OwsdError } from '../src/errors.js';

function close(actual: number, expected: number, tol: number, what = ''): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what} expected ${expected} ± ${tol}, got ${actual}`);
}

function badArgument(e: unknown): boolean {
  return e instanceof OwsdError && e.code === 'OWSD_ERR_BAD_ARGUMENT';
}

test('mean, std (sample, n - 1) and meanStd on known values', () => {
  const xs = [2, 4, 4, 4, 5, 5, 7, 9];
  assert.equal(mean(xs), 5);
  close(std(xs), Math.sqrt(32 / 7), 1e-12, 'std');
  assert.deepEqual(meanStd(xs), { mean: 5, std: std(xs), n: 8 });
  assert.equal(std([3]), 0);
  assert.equal(std([]), 0);
  assert.ok(Number.isNaN(mean([])));
  assert.deepEqual(meanStd([1.5]), { mean: 1.5, std: 0, n: 1 });
  // Two-pass: a large offset does not destroy the spread.
  close(std([1e9 + 1, 1e9 + 2, 1e9 + 3]), 1, 1e-6, 'std with offset');
});

test('studentTCdf matches the closed forms for df = 1 (Cauchy) and df = 2', () => {
  for (const t of [-30, -3, -1, -0.25, 0, 0.5, 1, 2.5, 10]) {
    close(studentTCdf(t, 1), 0.5 + Math.atan(t) / Math.PI, 1e-12, `df=1 t=${t}`);
    close(studentTCdf(t, 2), 0.5 + t / (2 * Math.sqrt(2 + t * t)), 1e-12, `df=2 t=${t}`);
  }
  assert.equal(studentTCdf(0, 7), 0.5);
  assert.equal(studentTCdf(Infinity, 3), 1);
  assert.equal(studentTCdf(-Infinity, 3), 0);
  close(studentTCdf(1.3, 12) + studentTCdf(-1.3, 12), 1, 1e-14, 'symmetry');
  // Non-integer df (reference values from scipy.stats.t.cdf).
  close(studentTCdf(-3.5, 2.5), 0.026172773480160172, 1e-12, 'df=2.5');
  close(studentTCdf(0.7, 30), 0.7553397782501642, 1e-12, 'df=30');
  assert.throws(() => studentTCdf(1, 0), badArgument);
  assert.throws(() => studentTCdf(1, NaN), badArgument);
});

test('two-sided p-values from t tables', () => {
  close(studentTTwoSidedP(2.0, 10), 0.07339, 1e-5, 't=2, df=10');
  close(studentTTwoSidedP(2.776, 4), 0.05, 1e-4, 't=2.776, df=4 (the 5% critical value)');
  close(studentTTwoSidedP(2.228, 10), 0.05, 1e-4, 't=2.228, df=10');
  close(studentTTwoSidedP(12.706, 1), 0.05, 1e-4, 't=12.706, df=1');
  close(studentTTwoSidedP(1.96, 1e6), 0.05, 1e-4, 'large df is normal');
  close(studentTTwoSidedP(-2.0, 10), 0.07339, 1e-5, 'negative t');
  // Small p-values keep their relative precision (scipy: 2 * t.sf(40, 3)).
  close(studentTTwoSidedP(40, 3) / 3.4380680789158506e-5, 1, 1e-9, 'tiny p');
  assert.equal(studentTTwoSidedP(0, 5), 1);
  assert.equal(studentTTwoSidedP(Infinity, 5), 0);
  // The same value through the cdf.
  close(2 * (1 - studentTCdf(2.0, 10)), studentTTwoSidedP(2.0, 10), 1e-12, 'cdf vs p');
});

test('regularized incomplete beta: edges and I_x(1, 1) = x, I_x(a, 1) = x^a', () => {
  assert.equal(regularizedIncompleteBeta(0, 2, 3), 0);
  assert.equal(regularizedIncompleteBeta(1, 2, 3), 1);
  for (const x of [0.01, 0.3, 0.5, 0.9]) {
    close(regularizedIncompleteBeta(x, 1, 1), x, 1e-13, `I_${x}(1,1)`);
    close(regularizedIncompleteBeta(x, 3.5, 1), Math.pow(x, 3.5), 1e-13, `I_${x}(3.5,1)`);
  }
});

test('paired t-test: Student\'s sleep data (Cushny and Peebles)', () => {
  const drug1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
  const drug2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];
  // R: t.test(extra ~ group, data = sleep, paired = TRUE): t = -4.0621, df = 9, p-value = 0.002833
  const r = pairedTTest(drug1, drug2);
  assert.equal(r.n, 10);
  assert.equal(r.df, 9);
  close(r.meanDiff, -1.58, 1e-12, 'meanDiff');
  close(r.t, -4.062127683382037, 1e-9, 't');
  close(r.p, 0.002832890197384273, 1e-9, 'p');
  // Swapping the samples flips the sign only.
  const s = pairedTTest(drug2, drug1);
  close(s.t, -r.t, 1e-12, 'swapped t');
  close(s.p, r.p, 1e-15, 'swapped p');
});

test('paired t-test: a small example by hand', () => {
  // d = [1, 2, 3]: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 2 sqrt 3, df = 2;
  // df = 2 closed form: p = 1 - t / sqrt(2 + t^2) = 1 - 2 sqrt 3 / sqrt 14.
  const r = pairedTTest([11, 22, 33], [10, 20, 30]);
  close(r.t, 2 * Math.sqrt(3), 1e-12, 't');
  close(r.p, 1 - (2 * Math.sqrt(3)) / Math.sqrt(14), 1e-12, 'p');
  assert.equal(r.meanDiff, 2);
});

test('paired t-test: equal differences give infinite t (p = 0) or t = 0 (p = 1)', () => {
  const up = pairedTTest([2, 3, 4], [1, 2, 3]);
  assert.equal(up.t, Infinity);
  assert.equal(up.p, 0);
  assert.equal(up.meanDiff, 1);
  const down = pairedTTest([0.1, 0.2, 0.3], [0.6, 0.7, 0.8]); // -0.5 each, up to rounding
  assert.equal(down.t, -Infinity);
  assert.equal(down.p, 0);
  const same = pairedTTest([0.9, 0.95, 0.5], [0.9, 0.95, 0.5]);
  assert.equal(same.t, 0);
  assert.equal(same.p, 1);
  assert.equal(same.df, 2);
});

test('paired t-test: clear errors on unusable input', () => {
  assert.throws(() => pairedTTest([1, 2, 3], [1, 2]), (e: unknown) => badArgument(e) && /same length.*3 and 2/.test((e as Error).message));
  assert.throws(() => pairedTTest([1], [2]), (e: unknown) => badArgument(e) && /at least 2/.test((e as Error).message));
  assert.throws(() => pairedTTest([], []), badArgument);
  assert.throws(() => pairedTTest([1, NaN], [2, 3]), (e: unknown) => badArgument(e) && /pair 1/.test((e as Error).message));
});
