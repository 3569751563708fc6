/**
 * The numerics module of the research code (src/analysis/numerics/): the one symmetric eigensolver on a matrix with
 * known eigenpairs, both PCA paths against the eigen-decomposition of the covariance, and Cholesky solves against a
 * known solution. (The larger checks of the products, the blocked inverse factor and the randomized PCA are in
 * test/security-inversion.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwsdError } from '../src/errors.js';
import { createRng } from '../src/internal/random.js';
import { columnMean, columnStats, concatCols, dense, meanColumnVariance, takeRows } from '../src/analysis/numerics/matrix.js';
import { cholesky, choleskySolve, spdSolve } from '../src/analysis/numerics/cholesky.js';
import { symmetricEigen } from '../src/analysis/numerics/eigen.js';
import { fitPca, pca } from '../src/analysis/numerics/pca.js';
import { symmetricEigen as fromResearch, symmetricEigenQl, predictRidge, pca as researchPca } from '../src/research.js';

const badArgument = (e: unknown) => e instanceof OwsdError && e.code === 'OWSD_ERR_BAD_ARGUMENT';

/** Q·diag(λ)·Qᵀ for the orthonormal Householder matrix Q = I - 2uuᵀ/|u|², whose columns are then its eigenvectors. */
function planted(lambda: number[], u: number[]): { a: Float64Array; q: Float64Array } {
  const n = lambda.length;
  const uu = u.reduce((s, x) => s + x * x, 0);
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) q[i * n + j] = (i === j ? 1 : 0) - (2 * u[i]! * u[j]!) / uu;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] += q[i * n + k]! * lambda[k]! * q[j * n + k]!;
  return { a, q };
}

test('symmetricEigen: a matrix with known eigenvalues and eigenvectors (largest first, unit vectors up to sign)', () => {
  const lambda = [9, 5, 2.5, 1, -3];
  const { a, q } = planted(lambda, [1, -2, 0.5, 3, 1]);
  const n = lambda.length;
  const { values, vectors } = symmetricEigen(a, n);
  assert.deepEqual(Array.from(values, (v) => Number(v.toFixed(10))), lambda);
  for (let j = 0; j < n; j++) {
    let dot = 0;
    for (let i = 0; i < n; i++) dot += vectors[i * n + j]! * q[i * n + j]!;
    assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-12, `eigenvector ${j}: |cos| = ${Math.abs(dot)}`);
  }
  // The research entry keeps the old name of the QL solver.
  assert.equal(fromResearch, symmetricEigen);
  assert.equal(symmetricEigenQl, symmetricEigen);
  assert.equal(typeof predictRidge, 'function');
  assert.equal(researchPca, pca);
  assert.throws(() => symmetricEigen([1, 2, 3], 2), badArgument);
});

test('PCA equals the eigen-decomposition of the covariance: the exact path (pca) and the randomized one (fitPca)', async () => {
  const n = 300;
  const d = 6;
  const rng = createRng(7);
  const x = dense(n, d);
  const sds = [5, 3, 2, 1, 0.5, 0.25];
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x.data[i * d + j] = 1 + j + sds[j]! * rng.normal() + (j > 0 ? 0.5 * x.data[i * d]! : 0);
  const mean = columnMean(x);
  const cov = new Float64Array(d * d);
  for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) cov[a * d + b] += ((x.data[i * d + a]! - mean[a]!) * (x.data[i * d + b]! - mean[b]!)) / (n - 1);
  const eig = symmetricEigen(cov, d);
  const rows = Array.from({ length: n }, (_, i) => x.data.subarray(i * d, (i + 1) * d));
  const exact = pca(rows, 3);
  assert.equal(exact.components, 3);
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(exact.variances[c]! / eig.values[c]! - 1) < 1e-6, `exact variance ${c}: ${exact.variances[c]} vs ${eig.values[c]}`);
    // Scores are the centred rows projected on the eigenvector (up to sign).
    let num = 0;
    let ss = 0;
    let pp = 0;
    for (let i = 0; i < n; i++) {
      let proj = 0;
      for (let j = 0; j < d; j++) proj += (x.data[i * d + j]! - mean[j]!) * eig.vectors[j * d + c]!;
      num += proj * exact.scores[i * 3 + c]!;
      ss += exact.scores[i * 3 + c]! ** 2;
      pp += proj * proj;
    }
    assert.ok(Math.abs(Math.abs(num) / Math.sqrt(ss * pp) - 1) < 1e-6, `exact scores ${c}`);
  }
  const total = eig.values.reduce((s, v) => s + v, 0);
  assert.ok(Math.abs(exact.explained[0]! - eig.values[0]! / total) < 1e-6);
  // fitPca: population variances (divisor n) and unit components along the same eigenvectors.
  const fitted = await fitPca(x, 3, { seed: 1 });
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(fitted.variances[c]! / ((eig.values[c]! * (n - 1)) / n) - 1) < 1e-4, `fitPca variance ${c}: ${fitted.variances[c]} vs ${eig.values[c]}`);
    let dot = 0;
    for (let j = 0; j < d; j++) dot += fitted.components.data[c * d + j]! * eig.vectors[j * d + c]!;
    assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-4, `fitPca component ${c}: |cos| = ${Math.abs(dot)}`);
  }
  assert.throws(() => pca([[1, 2]], 1), badArgument);
});

test('Cholesky: L·Lᵀ = A, and the JS and ORT solves give a known solution', async () => {
  const a = Float64Array.from([4, 2, 0.4, 2, 5, 1, 0.4, 1, 3]);
  const n = 3;
  const l = cholesky(a, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += l[i * n + k]! * l[j * n + k]!;
      assert.ok(Math.abs(s - a[i * n + j]!) < 1e-12, `(L·Lᵀ)[${i}][${j}] = ${s}`);
      if (j > i) assert.equal(l[i * n + j], 0);
    }
  }
  // A·X = B for X = [[1, -1], [2, 0.5], [-3, 2]].
  const want = [1, -1, 2, 0.5, -3, 2];
  const b = new Float64Array(6);
  for (let i = 0; i < n; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < n; k++) b[i * 2 + j] += a[i * n + k]! * want[k * 2 + j]!;
  const got = choleskySolve(l, n, b, 2);
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-12, `JS solve ${i}: ${v} vs ${want[i]}`));
  const ort = await spdSolve(a, n, dense(n, 2, Float32Array.from(b)));
  ort.data.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-5, `ORT solve ${i}: ${v} vs ${want[i]}`));
  assert.throws(() => cholesky(Float64Array.from([1, 2, 2, 1]), 2), (e: unknown) => e instanceof OwsdError && /not positive definite/.test(e.message));
});

test('matrix views: column statistics, concatenation and row copies', () => {
  const m = dense(3, 2, Float32Array.from([1, 10, 2, 10, 3, 10]));
  assert.deepEqual(Array.from(columnMean(m)), [2, 10]);
  const s = columnStats(m);
  assert.ok(Math.abs(s.std[0]! - Math.sqrt(2 / 3)) < 1e-12);
  assert.equal(s.scale[1], 1, 'a constant column gets scale 1');
  assert.ok(Math.abs(meanColumnVariance(m) - 1 / 3) < 1e-6);
  const c = concatCols(m, takeRows(m, [2, 1, 0]));
  assert.deepEqual(Array.from(c.data), [1, 10, 3, 10, 2, 10, 2, 10, 3, 10, 1, 10]);
  assert.throws(() => takeRows(m, [3]), (e: unknown) => e instanceof OwsdError && e.code === 'OWSD_ERR_SHAPE');
});
