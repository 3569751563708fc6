/**
 * Principal component analysis, with the one symmetric eigensolver (eigen.ts):
 *
 * - `fitPca`: top-k components of a large float32 matrix by randomized SVD of the implicitly centred data (Halko,
 *   Martinsson & Tropp 2011; products by onnxruntime, re-orthonormalised by Cholesky-QR with a Gram-Schmidt
 *   fallback), then an exact eigensolve of the (k + oversampling)-sized projected problem. The bound and the
 *   inversion study's linear autoencoder use it.
 * - `pca`: the exact path for small inputs (a few hundred rows or columns): the float64 eigen-decomposition of the
 *   n x n Gram matrix or the D x D covariance, with scores and signs fixed. The traffic study's label-inference
 *   features and its two-label scatter use it.
 */
import { fail } from '../../errors.js';
import { createRng, deriveSeed, type Rng } from '../../internal/random.js';
import { CHUNK_ROWS, columnStats, dense, gatherRows, range, rowSlice, toF32, type Dense, type Dense64 } from './matrix.js';
import { matmul, matmul64 } from './products.js';
import { cholesky, invertLower } from './cholesky.js';
import { symmetricEigen } from './eigen.js';

/** Orthonormalise the columns of a d x p matrix: Cholesky-QR twice, or modified Gram-Schmidt if that fails. */
async function orthonormalise(v: Dense64, rng: Rng): Promise<Dense64> {
  try {
    let q = v;
    for (let pass = 0; pass < 2; pass++) {
      const g = await matmul64(q, q, { transA: true });
      const linv = invertLower(cholesky(g.data, q.cols), q.cols);
      q = await matmul64(q, { rows: q.cols, cols: q.cols, data: linv }, { transB: true });
    }
    return q;
  } catch {
    return gramSchmidt(v, rng);
  }
}

function gramSchmidt(v: Dense64, rng: Rng): Dense64 {
  const { rows: d, cols: p } = v;
  // Work on the transpose, so each vector is contiguous.
  const t = new Float64Array(p * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < p; j++) t[j * d + i] = v.data[i * p + j]!;
  for (let j = 0; j < p; j++) {
    const vj = t.subarray(j * d, (j + 1) * d);
    let norm0 = 0;
    for (let i = 0; i < d; i++) norm0 += vj[i]! * vj[i]!;
    for (let attempt = 0; attempt < 3; attempt++) {
      for (let pass = 0; pass < 2; pass++) {
        for (let k = 0; k < j; k++) {
          const vk = t.subarray(k * d, (k + 1) * d);
          let dot = 0;
          for (let i = 0; i < d; i++) dot += vk[i]! * vj[i]!;
          for (let i = 0; i < d; i++) vj[i] -= dot * vk[i]!;
        }
      }
      let norm = 0;
      for (let i = 0; i < d; i++) norm += vj[i]! * vj[i]!;
      if (norm > 1e-20 * Math.max(norm0, 1e-300) && norm > 0) {
        const inv = 1 / Math.sqrt(norm);
        for (let i = 0; i < d; i++) vj[i] *= inv;
        break;
      }
      // Dependent on the previous vectors: replace by a random direction.
      for (let i = 0; i < d; i++) vj[i] = rng.normal();
      norm0 = d;
    }
  }
  const out = new Float64Array(d * p);
  for (let i = 0; i < d; i++) for (let j = 0; j < p; j++) out[i * p + j] = t[j * d + i]!;
  return { rows: d, cols: p, data: out };
}

export interface Pca {
  dim: number;
  k: number;
  mean: Float32Array;
  /** k x d, orthonormal rows, by decreasing variance. */
  components: Dense;
  /** Variance along each component (population). */
  variances: Float64Array;
  /** Total variance (sum over all d directions). */
  totalVariance: number;
  rows: number;
}

/** (X - 1·μᵀ)·M for a float64 d x p matrix M: X·M in float32 by ORT, the centring as a rank-one correction. */
async function centredTimes(x: Dense, mean: Float64Array, m: Dense64): Promise<Dense64> {
  const xm = await matmul(x, toF32(m));
  const mu = new Float64Array(m.cols);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) mu[j] += mean[i]! * m.data[i * m.cols + j]!;
  const out = new Float64Array(x.rows * m.cols);
  for (let i = 0; i < x.rows; i++) for (let j = 0; j < m.cols; j++) out[i * m.cols + j] = xm.data[i * m.cols + j]! - mu[j]!;
  return { rows: x.rows, cols: m.cols, data: out };
}

/** (X - 1·μᵀ)ᵀ·Q for a float64 n x p matrix Q, chunked over rows (never a transposed copy of X). */
async function centredTransposeTimes(x: Dense, mean: Float64Array, q: Dense64): Promise<Dense64> {
  const d = x.cols;
  const p = q.cols;
  const out = new Float64Array(d * p);
  const colSum = new Float64Array(p);
  for (let s = 0; s < x.rows; s += CHUNK_ROWS) {
    const count = Math.min(CHUNK_ROWS, x.rows - s);
    const qc = { rows: count, cols: p, data: Float32Array.from(q.data.subarray(s * p, (s + count) * p)) };
    const part = await matmul(rowSlice(x, s, count), qc, { transA: true });
    for (let i = 0; i < out.length; i++) out[i] += part.data[i]!;
    for (let i = 0; i < count; i++) for (let j = 0; j < p; j++) colSum[j] += q.data[(s + i) * p + j]!;
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < p; j++) out[i * p + j] -= mean[i]! * colSum[j]!;
  return { rows: d, cols: p, data: out };
}

/**
 * Top-k principal components of X (n x d) by a randomized SVD of the centred data (Halko, Martinsson & Tropp
 * 2011): a random range of k + `oversample` (default 16) directions, `iterations` (default 4) power steps with
 * re-orthonormalisation, then an exact eigen-decomposition of the small projected problem. The centring is
 * implicit and X is only read in chunks, so tall, wide inputs (e.g. 9000 x 12288) cost no copy. k is capped at
 * min(d, n - 1).
 */
export async function fitPca(x: Dense, k: number, opts: { seed?: number; iterations?: number; oversample?: number } = {}): Promise<Pca> {
  if (!Number.isInteger(k) || k < 1) fail('OWSD_ERR_BAD_ARGUMENT', `PCA: number of components must be a positive integer, got ${k}`);
  if (x.rows < 2) fail('OWSD_ERR_BAD_ARGUMENT', `PCA: need at least 2 rows, got ${x.rows}`);
  const d = x.cols;
  const n = x.rows;
  const kk = Math.min(k, d, n - 1);
  // Never more directions than the centred data's rank (n - 1): Cholesky-QR would meet exactly dependent columns.
  const p = Math.min(d, kk + (opts.oversample ?? 16), Math.max(kk, n - 1));
  const { mean, std } = columnStats(x);
  let total = 0;
  for (let j = 0; j < d; j++) total += std[j]! * std[j]!;
  const rng = createRng(deriveSeed(opts.seed ?? 0, 'pca-start'));
  const omega: Dense64 = { rows: d, cols: p, data: new Float64Array(d * p) };
  for (let i = 0; i < omega.data.length; i++) omega.data[i] = rng.normal();
  let q = await orthonormalise(await centredTimes(x, mean, omega), rng);
  for (let it = 0; it < (opts.iterations ?? 4); it++) {
    const z = await orthonormalise(await centredTransposeTimes(x, mean, q), rng);
    q = await orthonormalise(await centredTimes(x, mean, z), rng);
  }
  // Xc ≈ Q·B with Bᵀ = Xcᵀ·Q (d x p); B·Bᵀ = U·S²·Uᵀ gives the right singular vectors V = Bᵀ·U / s.
  const bt = await centredTransposeTimes(x, mean, q);
  const bbt = await matmul64(bt, bt, { transA: true });
  const { values, vectors } = symmetricEigen(bbt.data, p);
  const v = await matmul64(bt, { rows: p, cols: p, data: vectors });
  const components = dense(kk, d);
  for (let j = 0; j < kk; j++) {
    const sv = Math.sqrt(Math.max(values[j]!, 0));
    const inv = sv > 0 ? 1 / sv : 0;
    for (let i = 0; i < d; i++) components.data[j * d + i] = v.data[i * p + j]! * inv;
  }
  const variances = Float64Array.from(values.subarray(0, kk), (e) => Math.max(0, e) / n);
  return { dim: d, k: kk, mean: Float32Array.from(mean), components, variances, totalVariance: total, rows: n };
}

/** Coordinates (x - μ)·Vᵀ of rows on the PCA components (n x k). */
export async function pcaProject(p: Pca, x: Dense): Promise<Dense> {
  if (x.cols !== p.dim) fail('OWSD_ERR_SHAPE', `PCA project: components of dimension ${p.dim}, rows of ${x.cols}`);
  const xc = gatherRows(x, range(x.rows), 0, x.rows, Float64Array.from(p.mean));
  return matmul(xc, p.components, { transB: true });
}

/**
 * The linear autoencoder's reconstruction error: mean squared error per value of x̂ = μ + (x-μ)·VₖᵀVₖ against x,
 * averaged over rows and values, for each k in `ks` (each at most p.k; k = 0 is the mean-image predictor).
 */
export async function pcaReconstructionMse(p: Pca, x: Dense, ks: number[]): Promise<number[]> {
  for (const k of ks) if (!Number.isInteger(k) || k < 0 || k > p.k) fail('OWSD_ERR_BAD_ARGUMENT', `PCA reconstruction: k must be an integer from 0 to ${p.k}, got ${k}`);
  const proj = await pcaProject(p, x);
  const d = p.dim;
  let total = 0;
  for (let i = 0; i < x.rows; i++) {
    for (let j = 0; j < d; j++) {
      const v = x.data[i * d + j]! - p.mean[j]!;
      total += v * v;
    }
  }
  // ||x - x̂||² = ||x - μ||² - Σ_{j<k} coordᵢⱼ² for orthonormal components.
  const captured = new Float64Array(p.k + 1);
  for (let i = 0; i < x.rows; i++) for (let j = 0; j < p.k; j++) captured[j + 1] += proj.data[i * p.k + j]! ** 2;
  for (let j = 1; j <= p.k; j++) captured[j] += captured[j - 1]!;
  return ks.map((k) => Math.max(0, total - captured[k]!) / (x.rows * d));
}

// ---------------------------------------------------------------------------------------------------------------
// The exact path, for small inputs

export interface PrincipalComponents {
  /** Projection of each row on the first `components` principal axes (row-major n x components). */
  scores: Float64Array;
  components: number;
  /** Variance along each axis (eigenvalues of the sample covariance, divisor n - 1). */
  variances: number[];
  /** Share of the total variance along each axis. */
  explained: number[];
}

/**
 * Principal component analysis of n rows (each of the same length D), centred on their mean. Exact: the eigen
 * decomposition of the n x n Gram matrix when n <= D, of the D x D covariance otherwise, so the cost is
 * O(n·D·min(n, D) + min(n, D)³). Signs are fixed so that each axis's largest-magnitude score is positive.
 */
export function pca(rows: readonly ArrayLike<number>[], components: number): PrincipalComponents {
  const n = rows.length;
  if (n < 2) fail('OWSD_ERR_BAD_ARGUMENT', `pca: need at least 2 rows (got ${n})`);
  const D = rows[0]!.length;
  rows.forEach((r, i) => r.length !== D && fail('OWSD_ERR_BAD_ARGUMENT', `pca: row ${i} has ${r.length} values, expected ${D}`));
  const k = Math.min(components, n - 1, D);
  if (!Number.isInteger(components) || components < 1) fail('OWSD_ERR_BAD_ARGUMENT', `pca: components must be a positive integer (got ${components})`);
  const mean = new Float64Array(D);
  for (const r of rows) for (let j = 0; j < D; j++) mean[j]! += r[j]! / n;
  const X = rows.map((r) => Float64Array.from({ length: D }, (_, j) => r[j]! - mean[j]!));
  let total = 0;
  for (const x of X) for (let j = 0; j < D; j++) total += x[j]! * x[j]!;
  total /= n - 1;
  const scores = new Float64Array(n * k);
  const variances: number[] = [];
  if (n <= D) {
    const G = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) G[i * n + j] = G[j * n + i] = dot(X[i]!, X[j]!);
    const eig = symmetricEigen(G, n);
    for (let c = 0; c < k; c++) {
      const lambda = Math.max(0, eig.values[c]!);
      variances.push(lambda / (n - 1));
      const s = Math.sqrt(lambda);
      for (let i = 0; i < n; i++) scores[i * k + c] = eig.vectors[i * n + c]! * s;
    }
  } else {
    const C = new Float64Array(D * D);
    for (const x of X) for (let a = 0; a < D; a++) for (let b = a; b < D; b++) C[a * D + b]! += x[a]! * x[b]!;
    for (let a = 0; a < D; a++) for (let b = 0; b < a; b++) C[a * D + b] = C[b * D + a]!;
    const eig = symmetricEigen(C, D);
    for (let c = 0; c < k; c++) {
      variances.push(Math.max(0, eig.values[c]!) / (n - 1));
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < D; j++) s += X[i]![j]! * eig.vectors[j * D + c]!;
        scores[i * k + c] = s;
      }
    }
  }
  fixSigns(scores, n, k);
  return { scores, components: k, variances, explained: variances.map((v) => (total > 0 ? v / total : 0)) };
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function fixSigns(scores: Float64Array, n: number, k: number): void {
  for (let c = 0; c < k; c++) {
    let big = 0;
    for (let i = 0; i < n; i++) if (Math.abs(scores[i * k + c]!) > Math.abs(big)) big = scores[i * k + c]!;
    if (big < 0) for (let i = 0; i < n; i++) scores[i * k + c] = -scores[i * k + c]!;
  }
}
