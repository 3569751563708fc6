/**
 * Multi-output ridge regression in closed form (fit, the choice of α, prediction) for the attack studies. The
 * matrix views, onnxruntime products and Cholesky solves it runs on are the numerics module's
 * (src/analysis/numerics/).
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
 * `predictRidge` applies a fitted model.
 */
import { fail } from '../errors.js';
import { createRng, deriveSeed, shuffle } from '../internal/random.js';
import { addDiagonal, CHUNK_ROWS, columnStats, gatherRows as gather, range, takeRows, toF32, type Dense } from './numerics/matrix.js';
import { matmul, matmul64 } from './numerics/products.js';
import { robustInverseFactor, spdSolve } from './numerics/cholesky.js';

// ---------------------------------------------------------------------------------------------------------------
// Normal equations over (optionally transformed) rows

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
/** Σ over the rows idx of ãᵢ·b̃ᵢᵀ (d x m, float32 accumulated in float64 per chunk pair). */
async function crossOf(a: Dense, ta: Transform, b: Dense, tb: Transform, idx: ArrayLike<number>): Promise<Dense> {
  const out = new Float32Array(a.cols * b.cols);
  for (let s = 0; s < idx.length; s += CHUNK_ROWS) {
    const count = Math.min(CHUNK_ROWS, idx.length - s);
    const ca = gather(a, idx, s, count, ta.shift, ta.scale);
    const cb = gather(b, idx, s, count, tb.shift, tb.scale);
    const p = await matmul(ca, cb, { transA: true });
    for (let i = 0; i < out.length; i++) out[i] += p.data[i]!;
  }
  return { rows: a.cols, cols: b.cols, data: out };
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
export async function predictRidge(model: RidgeModel, x: Dense): Promise<Dense> {
  if (x.cols !== model.inputDim) fail('OWSD_ERR_SHAPE', `ridge predict: the model takes ${model.inputDim} inputs, got rows of ${x.cols}`);
  const out = await matmul(x, model.weights);
  const m = model.outputDim;
  for (let i = 0; i < out.rows; i++) for (let j = 0; j < m; j++) out.data[i * m + j] += model.bias[j]!;
  return out;
}
