/**
 * Dense linear algebra for the attack studies: multi-output ridge regression in closed form, PCA, random ReLU
 * features, with every large product run by onnxruntime (an ONNX MatMul graph built in memory, about 60 GFLOP/s
 * a core against about 1 for plain JS loops) and the small, sequential parts (Cholesky pivots, Jacobi rotations)
 * in JS.
 *
 * Conventions: matrices are row-major `{ rows, cols, data }`; data matrices are float32, normal equations and
 * factors float64. Products of tall data matrices are chunked over rows (`CHUNK_ROWS`), so memory stays at a few
 * chunks plus the d x d and d x m results.
 *
 * **Ridge** (`fitRidge`): inputs are standardised (centred, divided by their standard deviation; constant columns
 * are only centred) and outputs centred, then W minimises ||Yc - Xs W||² + λ||W||² with λ = α·n, n the rows fitted
 * (so α is scale-free: α = 1 halves a direction whose variance is 1). With n >= d the primal normal equations
 * (d x d, float64) are solved, with n < d the dual ones (n x n kernel, float64); both give the same W. Several α
 * are compared on a seeded holdout of the training rows (20% by default), separately for each block of output
 * columns (a coarse grid, then refined around each block's best), then the model is refitted on all rows. The SPD
 * solves use `choleskyInverseFactor`: a recursive blocked Cholesky whose leaves (<= 256) are factored and
 * inverted in JS and whose off-diagonal updates are float64 ORT products; right-hand sides go through float32.
 *
 * **PCA** (`fitPca`): top-k principal components by randomized SVD of the implicitly centred data (products in
 * ORT, re-orthonormalised by Cholesky-QR with a Gram-Schmidt fallback), then an exact cyclic-Jacobi eigensolve of
 * the (k + oversampling)-sized projected problem.
 */
import { fail } from '../errors.js';
import { createSession, Tensor, type Session } from '../internal/ort.js';
import { makeGraph, makeModel, makeNode, serializeModel } from '../internal/onnx-graph.js';
import { createRng, deriveSeed, shuffle, type Rng } from '../internal/random.js';

/** A row-major float32 matrix. */
export interface Dense {
  rows: number;
  cols: number;
  data: Float32Array;
}

/** A row-major float64 matrix. */
export interface Dense64 {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** Rows per ORT call for products over tall data matrices. */
export const CHUNK_ROWS = 1024;

/** A matrix view (no copy when `data` is given). Checks the length. */
export function dense(rows: number, cols: number, data?: Float32Array): Dense {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 1) {
    fail('OWSD_ERR_SHAPE', `matrix shape must be non-negative integer rows and positive integer columns, got ${rows} x ${cols}`);
  }
  const d = data ?? new Float32Array(rows * cols);
  if (d.length !== rows * cols) fail('OWSD_ERR_SHAPE', `matrix ${rows} x ${cols} needs ${rows * cols} values, got ${d.length}`);
  return { rows, cols, data: d };
}

/** Rows [start, start + count) of a matrix, as a view. */
export function rowSlice(m: Dense, start: number, count: number): Dense {
  if (start < 0 || count < 0 || start + count > m.rows) fail('OWSD_ERR_SHAPE', `rows ${start}..${start + count} of a ${m.rows}-row matrix`);
  return { rows: count, cols: m.cols, data: m.data.subarray(start * m.cols, (start + count) * m.cols) };
}

/** Copy of the given rows. */
export function takeRows(m: Dense, idx: ArrayLike<number>): Dense {
  const out = new Float32Array(idx.length * m.cols);
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i]!;
    if (!(r >= 0 && r < m.rows)) fail('OWSD_ERR_SHAPE', `row ${r} of a ${m.rows}-row matrix`);
    out.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols);
  }
  return { rows: idx.length, cols: m.cols, data: out };
}

/** Copy of columns [start, start + count). */
export function colSlice(m: Dense, start: number, count: number): Dense {
  if (start < 0 || count < 1 || start + count > m.cols) fail('OWSD_ERR_SHAPE', `columns ${start}..${start + count} of a ${m.cols}-column matrix`);
  const out = new Float32Array(m.rows * count);
  for (let i = 0; i < m.rows; i++) out.set(m.data.subarray(i * m.cols + start, i * m.cols + start + count), i * count);
  return { rows: m.rows, cols: count, data: out };
}

// ---------------------------------------------------------------------------------------------------------------
// ORT products

type Dtype = 'float32' | 'float64';
const ELEM = { float32: 1, float64: 11 } as const;
const sessions = new Map<string, Promise<Session>>();

function tensorInfo(name: string, dtype: Dtype, dims: string[]) {
  return { name, type: { tensorType: { elemType: ELEM[dtype], shape: { dim: dims.map((d) => ({ dimParam: d })) } } } };
}

/** A MatMul graph with optional transposes of either input, for one element type; one session per variant. */
function productSession(dtype: Dtype, transA: boolean, transB: boolean): Promise<Session> {
  const id = `${dtype}/${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`;
  let s = sessions.get(id);
  if (!s) {
    const nodes: ReturnType<typeof makeNode>[] = [];
    let a = 'A';
    let b = 'B';
    if (transA) {
      nodes.push(makeNode('Transpose', ['A'], ['At'], { perm: [1, 0] }));
      a = 'At';
    }
    if (transB) {
      nodes.push(makeNode('Transpose', ['B'], ['Bt'], { perm: [1, 0] }));
      b = 'Bt';
    }
    nodes.push(makeNode('MatMul', [a, b], ['Y']));
    const graph = makeGraph(
      'owsd_matmul',
      nodes,
      [tensorInfo('A', dtype, ['a0', 'a1']), tensorInfo('B', dtype, ['b0', 'b1'])],
      [tensorInfo('Y', dtype, ['y0', 'y1'])],
    );
    s = createSession(serializeModel(makeModel(graph, { docString: `owsd dense product ${id}` })), { what: `the ${id} matrix product` });
    sessions.set(id, s);
  }
  return s;
}

async function runProduct<T extends Float32Array | Float64Array>(
  dtype: Dtype,
  a: { rows: number; cols: number; data: T },
  b: { rows: number; cols: number; data: T },
  transA: boolean,
  transB: boolean,
): Promise<{ rows: number; cols: number; data: T }> {
  const [m, k1] = transA ? [a.cols, a.rows] : [a.rows, a.cols];
  const [k2, n] = transB ? [b.cols, b.rows] : [b.rows, b.cols];
  if (k1 !== k2) {
    fail('OWSD_ERR_SHAPE', `matrix product: inner dimensions differ (${a.rows}x${a.cols}${transA ? 'ᵀ' : ''} times ${b.rows}x${b.cols}${transB ? 'ᵀ' : ''})`);
  }
  if (m === 0 || n === 0) return { rows: m, cols: n, data: (dtype === 'float32' ? new Float32Array(0) : new Float64Array(0)) as T };
  if (k1 === 0) return { rows: m, cols: n, data: (dtype === 'float32' ? new Float32Array(m * n) : new Float64Array(m * n)) as T };
  const session = await productSession(dtype, transA, transB);
  const ta = dtype === 'float32' ? new Tensor('float32', a.data as Float32Array, [a.rows, a.cols]) : new Tensor('float64', a.data as Float64Array, [a.rows, a.cols]);
  const tb = dtype === 'float32' ? new Tensor('float32', b.data as Float32Array, [b.rows, b.cols]) : new Tensor('float64', b.data as Float64Array, [b.rows, b.cols]);
  const res = await session.run({ A: ta, B: tb }, ['Y']);
  return { rows: m, cols: n, data: res.Y!.data as T };
}

/**
 * A·B (float32) with optional transposes, by onnxruntime. Without `transA`, a tall A is processed in chunks of
 * `CHUNK_ROWS` rows.
 */
export async function matmul(a: Dense, b: Dense, opts: { transA?: boolean; transB?: boolean } = {}): Promise<Dense> {
  const transA = opts.transA === true;
  const transB = opts.transB === true;
  if (transA || a.rows <= CHUNK_ROWS * 2) return runProduct('float32', a, b, transA, transB);
  const n = transB ? b.rows : b.cols;
  if ((transB ? b.cols : b.rows) !== a.cols) fail('OWSD_ERR_SHAPE', `matrix product: inner dimensions differ (${a.rows}x${a.cols} times ${b.rows}x${b.cols}${transB ? 'ᵀ' : ''})`);
  const out = new Float32Array(a.rows * n);
  for (let s = 0; s < a.rows; s += CHUNK_ROWS) {
    const part = await runProduct('float32', rowSlice(a, s, Math.min(CHUNK_ROWS, a.rows - s)), b, false, transB);
    out.set(part.data, s * n);
  }
  return { rows: a.rows, cols: n, data: out };
}

/** A·B in float64 with optional transposes, by onnxruntime (for factorisations). */
export function matmul64(a: Dense64, b: Dense64, opts: { transA?: boolean; transB?: boolean } = {}): Promise<Dense64> {
  return runProduct('float64', a, b, opts.transA === true, opts.transB === true);
}

function toF32(m: Dense64): Dense {
  return { rows: m.rows, cols: m.cols, data: Float32Array.from(m.data) };
}

// ---------------------------------------------------------------------------------------------------------------
// Cholesky and triangular inverses

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

/** A⁻¹·B for SPD A (n x n, float64) and B (n x m, float32), through `choleskyInverseFactor` (with jitter if rounding needs it). */
export async function spdSolve(a: Float64Array, n: number, b: Dense): Promise<Dense> {
  if (b.rows !== n) fail('OWSD_ERR_SHAPE', `spdSolve: ${n}x${n} system with ${b.rows} right-hand-side rows`);
  const linv = toF32({ rows: n, cols: n, data: await robustInverseFactor(a, n) });
  return matmul(linv, await matmul(linv, b), { transA: true });
}

// ---------------------------------------------------------------------------------------------------------------
// Column statistics and cross products over (optionally transformed) rows

/** Column means and standard deviations (population), in float64. A constant column gets scale 1. */
export function columnStats(x: Dense): { mean: Float64Array; std: Float64Array; scale: Float64Array } {
  const { rows, cols, data } = x;
  const mean = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) mean[j] += data[i * cols + j]!;
  for (let j = 0; j < cols; j++) mean[j] /= Math.max(1, rows);
  const v = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const d = data[i * cols + j]! - mean[j]!;
      v[j] += d * d;
    }
  }
  const std = new Float64Array(cols);
  const scale = new Float64Array(cols);
  for (let j = 0; j < cols; j++) {
    std[j] = Math.sqrt(v[j]! / Math.max(1, rows));
    scale[j] = std[j]! > 1e-12 * (1 + Math.abs(mean[j]!)) ? 1 / std[j]! : 1;
  }
  return { mean, std, scale };
}

/** (x - shift) * scale for the given rows, as float32. */
function gather(x: Dense, idx: ArrayLike<number>, from: number, count: number, shift?: Float64Array, scale?: Float64Array): Dense {
  const d = x.cols;
  const out = new Float32Array(count * d);
  for (let i = 0; i < count; i++) {
    const r = idx[from + i]!;
    const src = r * d;
    const dst = i * d;
    if (shift && scale) for (let j = 0; j < d; j++) out[dst + j] = (x.data[src + j]! - shift[j]!) * scale[j]!;
    else if (shift) for (let j = 0; j < d; j++) out[dst + j] = x.data[src + j]! - shift[j]!;
    else out.set(x.data.subarray(src, src + d), dst);
  }
  return { rows: count, cols: d, data: out };
}

interface Transform {
  shift?: Float64Array;
  scale?: Float64Array;
}

/**
 * Σ over the rows idx of ãᵢ·ãᵢᵀ (d x d), ã = (a - shift)·scale, with float64 products: the normal equations must
 * stay positive definite for penalties far below float32's resolution of their largest entries.
 */
async function gramOf(a: Dense, idx: ArrayLike<number>, t: Transform): Promise<Float64Array> {
  const g = new Float64Array(a.cols * a.cols);
  for (let s = 0; s < idx.length; s += CHUNK_ROWS) {
    const c = gather(a, idx, s, Math.min(CHUNK_ROWS, idx.length - s), t.shift, t.scale);
    const c64 = { rows: c.rows, cols: c.cols, data: Float64Array.from(c.data) };
    const p = await matmul64(c64, c64, { transA: true });
    for (let i = 0; i < g.length; i++) g[i] += p.data[i]!;
  }
  return g;
}

/**
 * `choleskyInverseFactor`, retried with a growing diagonal jitter (1e-12 of the mean diagonal, then x100) when
 * rounding has made an SPD matrix look indefinite; fails after five tries.
 */
async function robustInverseFactor(a: Float64Array, n: number): Promise<Float64Array> {
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

/** Σ over the rows idx of ãᵢ·b̃ᵢᵀ (d x m, float32 accumulated in float64 per chunk pair). */
async function crossOf(a: Dense, ta: Transform, b: Dense, tb: Transform, idx: ArrayLike<number>): Promise<Dense> {
  const out = new Float32Array(a.cols * b.cols);
  for (let s = 0; s < idx.length; s += CHUNK_ROWS) {
    const count = Math.min(CHUNK_ROWS, idx.length - s);
    const ca = gather(a, idx, s, count, ta.shift, ta.scale);
    const cb = gather(b, idx, s, count, tb.shift, tb.scale);
    const p = await runProduct('float32', ca, cb, true, false);
    for (let i = 0; i < out.length; i++) out[i] += p.data[i]!;
  }
  return { rows: a.cols, cols: b.cols, data: out };
}

function range(n: number): Int32Array {
  const r = new Int32Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  return r;
}

// ---------------------------------------------------------------------------------------------------------------
// Ridge regression

export interface RidgeOptions {
  /**
   * Penalties relative to the rows fitted (λ = α·n on standardised inputs). With more than one, each output block
   * takes the one with the lowest holdout MSE. Default `DEFAULT_ALPHAS`.
   */
  alphas?: number[];
  /** Fraction of the training rows held out to choose α (default 0.2), at most `maxHoldout` rows (default 1000). */
  holdout?: number;
  maxHoldout?: number;
  /** Sizes of consecutive output column blocks that choose their α separately (default: one block). */
  blocks?: number[];
  /** Seed of the holdout split (default 0). */
  seed?: number;
  /** 'auto' (default): primal when rows >= inputs, dual otherwise. */
  solver?: 'auto' | 'primal' | 'dual';
  /**
   * After the grid, also try the geometric midpoints between each block's best α and its neighbours (one grid step
   * further out when the best is at an end of the grid). Default true.
   */
  refine?: boolean;
}

/** A wide, coarse grid (factor 100); with `refine` the best is then narrowed to a factor 10. */
export const DEFAULT_ALPHAS = [1e-5, 1e-3, 1e-1, 10, 1e3];

export interface RidgeBlock {
  start: number;
  size: number;
  /** The chosen α. */
  alpha: number;
  /** Holdout MSE of this block for each α tried (`RidgeModel.alphas`; empty when only one α was given). */
  validationMse: number[];
  /** Holdout MSE at the chosen α (NaN when there was no holdout). */
  validation: number;
}

export interface RidgeModel {
  inputDim: number;
  outputDim: number;
  /** d x m, in the inputs' original units: ŷ = x·W + bias. */
  weights: Dense;
  bias: Float32Array;
  /** Every α tried on the holdout, increasing (the grid and its refinements). */
  alphas: number[];
  blocks: RidgeBlock[];
  solver: 'primal' | 'dual';
  rows: number;
  holdoutRows: number;
}

function checkRidgeInputs(x: Dense, y: Dense, o: RidgeOptions): { alphas: number[]; blocks: number[] } {
  if (x.rows !== y.rows) fail('OWSD_ERR_SHAPE', `ridge: X has ${x.rows} rows but Y has ${y.rows}`);
  if (x.rows < 2) fail('OWSD_ERR_BAD_ARGUMENT', `ridge: need at least 2 training rows, got ${x.rows}`);
  const alphas = o.alphas ?? DEFAULT_ALPHAS;
  if (alphas.length === 0 || alphas.some((a) => !(a > 0) || !Number.isFinite(a))) {
    fail('OWSD_ERR_BAD_ARGUMENT', `ridge: alphas must be positive finite numbers, got [${alphas.join(', ')}]`);
  }
  const blocks = o.blocks ?? [y.cols];
  if (blocks.some((b) => !Number.isInteger(b) || b < 1) || blocks.reduce((s, b) => s + b, 0) !== y.cols) {
    fail('OWSD_ERR_BAD_ARGUMENT', `ridge: output blocks [${blocks.join(', ')}] must be positive integers summing to the ${y.cols} output columns`);
  }
  const h = o.holdout ?? 0.2;
  if (!(h > 0 && h < 1)) fail('OWSD_ERR_BAD_ARGUMENT', `ridge: holdout fraction must be strictly between 0 and 1, got ${h}`);
  if (alphas.length > 1 && x.rows < 5) fail('OWSD_ERR_BAD_ARGUMENT', `ridge: choosing among ${alphas.length} alphas needs at least 5 rows, got ${x.rows}`);
  return { alphas, blocks };
}

function addDiagonal(a: Float64Array, n: number, v: number): Float64Array {
  const out = Float64Array.from(a);
  for (let i = 0; i < n; i++) out[i * n + i] += v;
  return out;
}

function blockErrors(pred: Dense, truth: Dense, offset: Float64Array, blocks: number[]): number[] {
  const errs: number[] = [];
  let start = 0;
  for (const size of blocks) {
    let s = 0;
    for (let i = 0; i < truth.rows; i++) {
      const r = i * truth.cols;
      for (let j = start; j < start + size; j++) {
        const d = truth.data[r + j]! - pred.data[r + j]! - offset[j]!;
        s += d * d;
      }
    }
    errs.push(s / (truth.rows * size));
    start += size;
  }
  return errs;
}

function splitRows(n: number, holdout: number, maxHoldout: number, seed: number, needed: boolean): { fit: Int32Array; hold: Int32Array } {
  if (!needed) return { fit: range(n), hold: new Int32Array(0) };
  const order = shuffle(Array.from(range(n)), createRng(deriveSeed(seed, 'ridge-holdout')));
  const h = Math.min(n - 2, maxHoldout, Math.max(1, Math.round(n * holdout)));
  return { hold: Int32Array.from(order.slice(0, h)).sort(), fit: Int32Array.from(order.slice(h)).sort() };
}

/**
 * Multi-output ridge regression X (n x d) → Y (n x m) in closed form; see the module comment. Returns W in the
 * original units with a bias, and for each output block the chosen α with its holdout MSE.
 */
export async function fitRidge(x: Dense, y: Dense, opts: RidgeOptions = {}): Promise<RidgeModel> {
  const { alphas, blocks } = checkRidgeInputs(x, y, opts);
  const n = x.rows;
  const d = x.cols;
  const m = y.cols;
  const solver = opts.solver === 'primal' || opts.solver === 'dual' ? opts.solver : n >= d ? 'primal' : 'dual';
  const xs = columnStats(x);
  const ys = columnStats(y);
  const tx: Transform = { shift: xs.mean, scale: xs.scale };
  const ty: Transform = { shift: ys.mean };
  const maxHoldout = opts.maxHoldout ?? 1000;
  if (!Number.isInteger(maxHoldout) || maxHoldout < 1) fail('OWSD_ERR_BAD_ARGUMENT', `ridge: maxHoldout must be a positive integer, got ${maxHoldout}`);
  const { fit, hold } = splitRows(n, opts.holdout ?? 0.2, maxHoldout, opts.seed ?? 0, alphas.length > 1);
  const all = range(n);

  const validation: number[][] = blocks.map(() => []);
  let ws: Dense; // standardised weights, d x m
  let chosen: number[];
  let tried: number[];
  /** Holdout MSE per output block of the model fitted on the fit rows with penalty α (set when there is a holdout). */
  let evaluate: ((alpha: number) => Promise<number[]>) | null = null;

  if (solver === 'primal') {
    // Normal equations on each part, centred at the overall means; the fit part is re-centred exactly below.
    const gFit = await gramOf(x, fit, tx);
    const cFit = await crossOf(x, tx, y, ty, fit);
    let gAll = gFit;
    let cAll = cFit;
    if (hold.length > 0) {
      const gHold = await gramOf(x, hold, tx);
      const cHold = await crossOf(x, tx, y, ty, hold);
      gAll = new Float64Array(gFit.length);
      for (let i = 0; i < gAll.length; i++) gAll[i] = gFit[i]! + gHold[i]!;
      cAll = { rows: d, cols: m, data: new Float32Array(cFit.data.length) };
      for (let i = 0; i < cAll.data.length; i++) cAll.data[i] = cFit.data[i]! + cHold.data[i]!;
      const nf = fit.length;
      // Means of the fit part in standardised units (δ) and of its centred outputs (η).
      const delta = new Float64Array(d);
      const eta = new Float64Array(m);
      for (const r of fit) {
        for (let j = 0; j < d; j++) delta[j] += (x.data[r * d + j]! - xs.mean[j]!) * xs.scale[j]!;
        for (let j = 0; j < m; j++) eta[j] += y.data[r * m + j]! - ys.mean[j]!;
      }
      for (let j = 0; j < d; j++) delta[j] /= nf;
      for (let j = 0; j < m; j++) eta[j] /= nf;
      const gFitC = new Float64Array(gFit.length);
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) gFitC[i * d + j] = gFit[i * d + j]! - nf * delta[i]! * delta[j]!;
      const cFitC = new Float32Array(cFit.data.length);
      for (let i = 0; i < d; i++) for (let j = 0; j < m; j++) cFitC[i * m + j] = cFit.data[i * m + j]! - nf * delta[i]! * eta[j]!;
      const xh = gather(x, hold, 0, hold.length, xs.mean, xs.scale);
      for (let i = 0; i < xh.rows; i++) for (let j = 0; j < d; j++) xh.data[i * d + j] -= delta[j]!;
      const yh = gather(y, hold, 0, hold.length, ys.mean);
      evaluate = async (alpha) => {
        // Holdout predictions Xh·A⁻¹·C as ((Xh·L⁻ᵀ)·L⁻¹)·C: no d x m intermediate, so wide outputs stay cheap.
        const linv = toF32({ rows: d, cols: d, data: await robustInverseFactor(addDiagonal(gFitC, d, alpha * nf), d) });
        const t = await matmul(await matmul(xh, linv, { transB: true }), linv);
        return blockErrors(await matmul(t, { rows: d, cols: m, data: cFitC }), yh, eta, blocks);
      };
    }
    ({ chosen, tried } = await selectAlphas(alphas, blocks.length, evaluate, opts.refine !== false, validation));
    ws = { rows: d, cols: m, data: new Float32Array(d * m) };
    for (const alpha of new Set(chosen)) {
      const linv = toF32({ rows: d, cols: d, data: await robustInverseFactor(addDiagonal(gAll, d, alpha * n), d) });
      const w = await matmul(linv, await matmul(linv, cAll), { transA: true });
      copyBlocks(w, ws, blocks, chosen, alpha);
    }
  } else {
    // Dual: K = Z·Zᵀ with Z the standardised inputs (centred at the overall mean, so K is centred for all rows).
    const z = gather(x, all, 0, n, xs.mean, xs.scale);
    const yc = gather(y, all, 0, n, ys.mean);
    const z64 = { rows: n, cols: d, data: Float64Array.from(z.data) };
    const k = (await matmul64(z64, z64, { transB: true })).data;
    if (hold.length > 0) {
      const nf = fit.length;
      // Re-centre on the fit part: kc(a,b) = K(a,b) - r(a) - r(b) + c with r(a) = mean over fit rows s of K(s,a).
      const r = new Float64Array(n);
      for (const s of fit) for (let a = 0; a < n; a++) r[a] += k[s * n + a]!;
      for (let a = 0; a < n; a++) r[a] /= nf;
      let c = 0;
      for (const s of fit) c += r[s]!;
      c /= nf;
      const kff = new Float64Array(nf * nf);
      for (let i = 0; i < nf; i++) for (let j = 0; j < nf; j++) kff[i * nf + j] = k[fit[i]! * n + fit[j]!]! - r[fit[i]!]! - r[fit[j]!]! + c;
      const khf = new Float32Array(hold.length * nf);
      for (let i = 0; i < hold.length; i++) for (let j = 0; j < nf; j++) khf[i * nf + j] = k[hold[i]! * n + fit[j]!]! - r[hold[i]!]! - r[fit[j]!]! + c;
      const eta = new Float64Array(m);
      for (const s of fit) for (let j = 0; j < m; j++) eta[j] += yc.data[s * m + j]!;
      for (let j = 0; j < m; j++) eta[j] /= nf;
      const yf = takeRows(yc, fit);
      for (let i = 0; i < nf; i++) for (let j = 0; j < m; j++) yf.data[i * m + j] -= eta[j]!;
      const yh = takeRows(yc, hold);
      evaluate = async (alpha) => {
        // Kh·(K + λI)⁻¹·Yf as ((Kh·L⁻ᵀ)·L⁻¹)·Yf.
        const linv = toF32({ rows: nf, cols: nf, data: await robustInverseFactor(addDiagonal(kff, nf, alpha * nf), nf) });
        const t = await matmul(await matmul({ rows: hold.length, cols: nf, data: khf }, linv, { transB: true }), linv);
        return blockErrors(await matmul(t, yf), yh, eta, blocks);
      };
    }
    ({ chosen, tried } = await selectAlphas(alphas, blocks.length, evaluate, opts.refine !== false, validation));
    ws = { rows: d, cols: m, data: new Float32Array(d * m) };
    for (const alpha of new Set(chosen)) {
      const a = await spdSolve(addDiagonal(k, n, alpha * n), n, yc);
      copyBlocks(await matmul(z, a, { transA: true }), ws, blocks, chosen, alpha);
    }
  }

  // Back to original units: W = diag(scale)·Ws, bias = μy - μxᵀ·W.
  const weights = ws;
  for (let i = 0; i < d; i++) {
    const s = xs.scale[i]!;
    for (let j = 0; j < m; j++) weights.data[i * m + j] *= s;
  }
  const bias = new Float32Array(m);
  const acc = Float64Array.from(ys.mean);
  for (let i = 0; i < d; i++) {
    const mu = xs.mean[i]!;
    if (mu === 0) continue;
    for (let j = 0; j < m; j++) acc[j] -= mu * weights.data[i * m + j]!;
  }
  bias.set(acc);
  let start = 0;
  const blockInfo: RidgeBlock[] = blocks.map((size, b) => {
    const info = {
      start,
      size,
      alpha: chosen[b]!,
      validationMse: validation[b]!,
      validation: validation[b]!.length > 0 ? validation[b]![tried.indexOf(chosen[b]!)]! : NaN,
    };
    start += size;
    return info;
  });
  return { inputDim: d, outputDim: m, weights, bias, alphas: tried, blocks: blockInfo, solver, rows: n, holdoutRows: hold.length };
}

/**
 * Evaluate the grid (and, with `refine`, each block's neighbourhood of its best α), fill `validation` (per block,
 * aligned with the returned `tried`, increasing) and return each block's best α. Without a holdout (`evaluate`
 * null: a single α was given) that α is used.
 */
async function selectAlphas(
  alphas: number[],
  blocks: number,
  evaluate: ((alpha: number) => Promise<number[]>) | null,
  refine: boolean,
  validation: number[][],
): Promise<{ chosen: number[]; tried: number[] }> {
  if (!evaluate) return { chosen: Array.from({ length: blocks }, () => alphas[0]!), tried: [alphas[0]!] };
  const errors = new Map<number, number[]>();
  for (const a of alphas) if (!errors.has(a)) errors.set(a, await evaluate(a));
  const best = (): number[] => {
    const sorted = [...errors.keys()].sort((a, b) => a - b);
    return Array.from({ length: blocks }, (_, b) => {
      let i = 0;
      sorted.forEach((a, j) => {
        if (errors.get(a)![b]! < errors.get(sorted[i]!)![b]!) i = j;
      });
      return i;
    });
  };
  if (refine && errors.size > 1) {
    const sorted = [...errors.keys()].sort((a, b) => a - b);
    const extra = new Set<number>();
    for (const i of best()) {
      const a = sorted[i]!;
      extra.add(i > 0 ? Math.sqrt(a * sorted[i - 1]!) : (a * a) / sorted[1]!);
      extra.add(i < sorted.length - 1 ? Math.sqrt(a * sorted[i + 1]!) : (a * a) / sorted[i - 1]!);
    }
    for (const a of extra) if (!errors.has(a) && a > 0 && Number.isFinite(a)) errors.set(a, await evaluate(a));
  }
  const tried = [...errors.keys()].sort((a, b) => a - b);
  for (let b = 0; b < blocks; b++) validation[b]!.push(...tried.map((a) => errors.get(a)![b]!));
  return { chosen: best().map((i) => tried[i]!), tried };
}

function copyBlocks(src: Dense, dst: Dense, blocks: number[], chosen: number[], alpha: number): void {
  let start = 0;
  blocks.forEach((size, b) => {
    if (chosen[b] === alpha) {
      for (let i = 0; i < src.rows; i++) dst.data.set(src.data.subarray(i * src.cols + start, i * src.cols + start + size), i * dst.cols + start);
    }
    start += size;
  });
}

/** Predictions x·W + bias of a ridge model (chunked over rows). */
export async function predict(model: RidgeModel, x: Dense): Promise<Dense> {
  if (x.cols !== model.inputDim) fail('OWSD_ERR_SHAPE', `ridge predict: the model takes ${model.inputDim} inputs, got rows of ${x.cols}`);
  const out = await matmul(x, model.weights);
  const m = model.outputDim;
  for (let i = 0; i < out.rows; i++) for (let j = 0; j < m; j++) out.data[i * m + j] += model.bias[j]!;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Random ReLU features

export interface RandomFeatureMap {
  inputDim: number;
  dim: number;
  mean: Float64Array;
  scale: Float64Array;
  /** d x D, entries N(0, 1/d). */
  projection: Dense;
  /** D offsets, N(0, 1). */
  offset: Float32Array;
}

/**
 * Random ReLU features φ(x) = max(0, xs·R + b) of standardised inputs xs (statistics of `x`), with R ~ N(0, 1/d)
 * and b ~ N(0, 1): a random one-hidden-layer network whose output layer ridge then fits.
 */
export function createRandomFeatures(x: Dense, dim: number, seed: number): RandomFeatureMap {
  if (!Number.isInteger(dim) || dim < 1) fail('OWSD_ERR_BAD_ARGUMENT', `random features: dimension must be a positive integer, got ${dim}`);
  const { mean, scale } = columnStats(x);
  const rng = createRng(deriveSeed(seed, `random-features-${x.cols}-${dim}`));
  const sd = 1 / Math.sqrt(x.cols);
  const projection = dense(x.cols, dim);
  for (let i = 0; i < projection.data.length; i++) projection.data[i] = rng.normal() * sd;
  const offset = new Float32Array(dim);
  for (let i = 0; i < dim; i++) offset[i] = rng.normal();
  return { inputDim: x.cols, dim, mean, scale, projection, offset };
}

export async function applyRandomFeatures(map: RandomFeatureMap, x: Dense): Promise<Dense> {
  if (x.cols !== map.inputDim) fail('OWSD_ERR_SHAPE', `random features take ${map.inputDim} inputs, got rows of ${x.cols}`);
  const out = dense(x.rows, map.dim);
  const rows = range(x.rows);
  for (let s = 0; s < x.rows; s += CHUNK_ROWS) {
    const count = Math.min(CHUNK_ROWS, x.rows - s);
    const xs = gather(x, rows, s, count, map.mean, map.scale);
    const p = await runProduct('float32', xs, map.projection, false, false);
    const D = map.dim;
    for (let i = 0; i < count; i++) {
      for (let j = 0; j < D; j++) {
        const v = p.data[i * D + j]! + map.offset[j]!;
        out.data[(s + i) * D + j] = v > 0 ? v : 0;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Symmetric eigenproblems and PCA

/**
 * Eigen-decomposition of a symmetric n x n matrix by cyclic Jacobi rotations, in JS (for n up to a few hundred).
 * Returns eigenvalues in decreasing order and the eigenvectors as the columns of `vectors` (row-major n x n).
 */
export function symmetricEigen(a: Float64Array, n: number, opts: { tolerance?: number; maxSweeps?: number } = {}): { values: Float64Array; vectors: Float64Array } {
  if (a.length !== n * n) fail('OWSD_ERR_SHAPE', `symmetricEigen: expected ${n}x${n} = ${n * n} values, got ${a.length}`);
  const m = Float64Array.from(a);
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) m[i * n + j] = m[j * n + i] = (m[i * n + j]! + m[j * n + i]!) / 2;
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const tol = opts.tolerance ?? 1e-14;
  const maxSweeps = opts.maxSweeps ?? 60;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += m[i]! * m[i]!;
  scale = Math.sqrt(scale);
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q]! * m[p * n + q]!;
    if (Math.sqrt(2 * off) <= tol * scale || scale === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (Math.abs(apq) <= 1e-300) continue;
        const app = m[p * n + p]!;
        const aqq = m[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p]!;
          const mkq = m[k * n + q]!;
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k]!;
          const mqk = m[q * n + k]!;
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j * n + j]! - m[i * n + i]!);
  const values = Float64Array.from(order, (i) => m[i * n + i]!);
  const vectors = new Float64Array(n * n);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) vectors[r * n + c] = v[r * n + order[c]!]!;
  return { values, vectors };
}

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
    const part = await runProduct('float32', rowSlice(x, s, count), qc, true, false);
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
  const xc = gather(x, range(x.rows), 0, x.rows, Float64Array.from(p.mean));
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
