/**
 * Cholesky factorisation, triangular inverses and SPD solves. The factor and the leaves of the blocked inverse are
 * computed in JS (float64); the off-diagonal updates of `choleskyInverseFactor` are float64 onnxruntime products.
 */
import { fail } from '../../errors.js';
import { addDiagonal, toF32, type Dense } from './matrix.js';
import { matmul, matmul64 } from './products.js';

/**
 * Cholesky factor L (lower, row-major, A = L·Lᵀ) of a symmetric positive definite n x n matrix, in JS.
 * Only the lower triangle of A is read. Fails when a pivot is not positive (A not positive definite).
 */
export function cholesky(a: Float64Array, n: number): Float64Array {
  if (a.length !== n * n) fail('OWSD_ERR_SHAPE', `cholesky: expected ${n}x${n} = ${n * n} values, got ${a.length}`);
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = a[rj + j]!;
    for (let k = 0; k < j; k++) d -= l[rj + k]! * l[rj + k]!;
    if (!(d > 0) || !Number.isFinite(d)) {
      fail('OWSD_ERR_BAD_ARGUMENT', `cholesky: the matrix is not positive definite (pivot ${j} of ${n} is ${d}); add a ridge penalty`);
    }
    const ljj = Math.sqrt(d);
    l[rj + j] = ljj;
    const inv = 1 / ljj;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = a[ri + j]!;
      for (let k = 0; k < j; k++) s -= l[ri + k]! * l[rj + k]!;
      l[ri + j] = s * inv;
    }
  }
  return l;
}

/** Inverse of a lower-triangular n x n matrix (row-major), in JS; the result is lower triangular. */
export function invertLower(l: Float64Array, n: number): Float64Array {
  const x = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    // Row i of X: (e_i - Σ_{k<i} L[i][k]·X[k]) / L[i][i]; X[k] is zero beyond column k.
    for (let k = 0; k < i; k++) {
      const c = l[ri + k]!;
      if (c === 0) continue;
      const rk = k * n;
      for (let j = 0; j <= k; j++) x[ri + j] -= c * x[rk + j]!;
    }
    const inv = 1 / l[ri + i]!;
    for (let j = 0; j < i; j++) x[ri + j] *= inv;
    x[ri + i] = inv;
  }
  return x;
}

/** Solve A·X = B for X (n x m) given A's Cholesky factor L, in JS: the reference for small systems. */
export function choleskySolve(l: Float64Array, n: number, b: Float64Array, m: number): Float64Array {
  if (b.length !== n * m) fail('OWSD_ERR_SHAPE', `choleskySolve: expected ${n}x${m} right-hand sides, got ${b.length} values`);
  const y = Float64Array.from(b);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < i; k++) {
      const c = l[i * n + k]!;
      for (let j = 0; j < m; j++) y[i * m + j] -= c * y[k * m + j]!;
    }
    const inv = 1 / l[i * n + i]!;
    for (let j = 0; j < m; j++) y[i * m + j] *= inv;
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let k = i + 1; k < n; k++) {
      const c = l[k * n + i]!;
      for (let j = 0; j < m; j++) y[i * m + j] -= c * y[k * m + j]!;
    }
    const inv = 1 / l[i * n + i]!;
    for (let j = 0; j < m; j++) y[i * m + j] *= inv;
  }
  return y;
}

const LEAF = 256;

function block(a: Float64Array, n: number, r0: number, c0: number, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) out.set(a.subarray((r0 + i) * n + c0, (r0 + i) * n + c0 + cols), i * cols);
  return out;
}

/**
 * L⁻¹ for the Cholesky factor L of an SPD n x n matrix A (so A⁻¹ = L⁻ᵀ·L⁻¹), recursively:
 * L11 = chol(A11), L21 = A21·L11⁻ᵀ, L22 = chol(A22 - L21·L21ᵀ), and (L⁻¹)21 = -L22⁻¹·L21·L11⁻¹. Leaves of at
 * most 256 rows are factored and inverted in JS, the products run in float64 by onnxruntime.
 */
export async function choleskyInverseFactor(a: Float64Array, n: number): Promise<Float64Array> {
  if (a.length !== n * n) fail('OWSD_ERR_SHAPE', `choleskyInverseFactor: expected ${n}x${n} = ${n * n} values, got ${a.length}`);
  if (n <= LEAF) return invertLower(cholesky(a, n), n);
  const n1 = Math.ceil(n / 2 / 32) * 32;
  const n2 = n - n1;
  const m11 = await choleskyInverseFactor(block(a, n, 0, 0, n1, n1), n1);
  const a21 = { rows: n2, cols: n1, data: block(a, n, n1, 0, n2, n1) };
  const M11 = { rows: n1, cols: n1, data: m11 };
  const l21 = await matmul64(a21, M11, { transB: true });
  const s = await matmul64(l21, l21, { transB: true });
  const a22 = block(a, n, n1, n1, n2, n2);
  for (let i = 0; i < n2 * n2; i++) s.data[i] = a22[i]! - s.data[i]!;
  const m22 = await choleskyInverseFactor(s.data, n2);
  const t = await matmul64(l21, M11);
  const m21 = await matmul64({ rows: n2, cols: n2, data: m22 }, t);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n1; i++) out.set(m11.subarray(i * n1, i * n1 + i + 1), i * n);
  for (let i = 0; i < n2; i++) {
    const r = (n1 + i) * n;
    for (let j = 0; j < n1; j++) out[r + j] = -m21.data[i * n1 + j]!;
    out.set(m22.subarray(i * n2, i * n2 + i + 1), r + n1);
  }
  return out;
}

/**
 * `choleskyInverseFactor`, retried with a growing diagonal jitter (1e-12 of the mean diagonal, then x100) when
 * rounding has made an SPD matrix look indefinite; fails after five tries.
 */
export async function robustInverseFactor(a: Float64Array, n: number): Promise<Float64Array> {
  let meanDiag = 0;
  for (let i = 0; i < n; i++) meanDiag += a[i * n + i]! / n;
  let jitter = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await choleskyInverseFactor(jitter > 0 ? addDiagonal(a, n, jitter) : a, n);
    } catch (e) {
      if (attempt >= 5 || !(e instanceof Error && /not positive definite/.test(e.message))) throw e;
      jitter = jitter === 0 ? 1e-12 * Math.max(meanDiag, 1e-300) : jitter * 100;
    }
  }
}

/** A⁻¹·B for SPD A (n x n, float64) and B (n x m, float32), through `choleskyInverseFactor` (with jitter if rounding needs it). */
export async function spdSolve(a: Float64Array, n: number, b: Dense): Promise<Dense> {
  if (b.rows !== n) fail('OWSD_ERR_SHAPE', `spdSolve: ${n}x${n} system with ${b.rows} right-hand-side rows`);
  const linv = toF32({ rows: n, cols: n, data: await robustInverseFactor(a, n) });
  return matmul(linv, await matmul(linv, b), { transA: true });
}
