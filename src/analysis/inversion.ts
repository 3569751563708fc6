/**
 * Measures for reconstruction and inversion attacks, on plain arrays:
 *
 * - `mse`, `psnr`: on pixel values in [0, 1] (PSNR = 10·log10(1 / MSE); identical images give +Infinity).
 * - `ssim`: Gaussian-window SSIM (Wang et al. 2004) with σ = 1.5 and an 11x11 window (radius 5, i.e. truncated at
 *   3.5σ), K1 = 0.01, K2 = 0.03, data range 1, population (co)variances, computed per channel over the positions
 *   where the window fits inside the image ("valid"), averaged over positions and channels. This equals
 *   scikit-image's `structural_similarity(a, b, data_range=1, channel_axis=-1, gaussian_weights=True, sigma=1.5,
 *   use_sample_covariance=False)`, which filters with the same truncated Gaussian and crops the 5-pixel border.
 * - `reidentify`: re-identification of the source of each query among candidates (query i's true candidate is
 *   candidate i), by cosine similarity (optionally after subtracting a centre, e.g. the training mean) or by L2
 *   distance, top-1/top-5 within pools of consecutive indices. Ties count against the attacker (a constant
 *   prediction scores 0, not 100%).
 * - `budgetFromCurve`: the smallest N at which an attack curve crosses a threshold.
 */
import { fail } from '../errors.js';
import { matmul } from './numerics/products.js';

function checkSameLength(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) fail('OWSD_ERR_SHAPE', `${what}: the two arrays differ in length (${a.length} and ${b.length})`);
  if (a.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', `${what}: empty arrays`);
}

/** Mean squared error between two arrays of equal length. */
export function mse(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkSameLength(a, b, 'mse');
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return s / a.length;
}

/** PSNR in dB from an MSE, for data range `range` (default 1): 10·log10(range² / mse); +Infinity when mse = 0. */
export function psnrFromMse(m: number, range = 1): number {
  if (!(m >= 0)) fail('OWSD_ERR_BAD_ARGUMENT', `psnr: MSE must be a non-negative number, got ${m}`);
  return m === 0 ? Infinity : 10 * Math.log10((range * range) / m);
}

/** PSNR in dB of `a` against `b` (values in [0, range]). */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>, range = 1): number {
  return psnrFromMse(mse(a, b), range);
}

export interface SsimOptions {
  /** Gaussian σ (default 1.5). */
  sigma?: number;
  /** Window radius (default 5: an 11x11 window). */
  radius?: number;
  /** Data range (default 1). */
  range?: number;
}

function gaussianKernel(sigma: number, radius: number): Float64Array {
  const k = new Float64Array(2 * radius + 1);
  let s = 0;
  for (let i = -radius; i <= radius; i++) s += k[i + radius] = Math.exp((-0.5 * i * i) / (sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

/** Separable "valid" filtering of a w x h plane: (w - 2r) x (h - 2r). */
function filterValid(src: Float64Array, w: number, h: number, k: Float64Array, r: number, tmp: Float64Array, out: Float64Array): void {
  const ow = w - 2 * r;
  const oh = h - 2 * r;
  // Horizontal: h rows x ow columns.
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let t = 0; t <= 2 * r; t++) s += k[t]! * src[y * w + x + t]!;
      tmp[y * ow + x] = s;
    }
  }
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let t = 0; t <= 2 * r; t++) s += k[t]! * tmp[(y + t) * ow + x]!;
      out[y * ow + x] = s;
    }
  }
}

/**
 * SSIM of two images of `width` x `height` with `channels` interleaved channels (HWC), values in [0, range]; see the
 * module comment for the exact definition. Identical images give 1.
 */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, width: number, height: number, channels: number, opts: SsimOptions = {}): number {
  checkSameLength(a, b, 'ssim');
  if (a.length !== width * height * channels) {
    fail('OWSD_ERR_SHAPE', `ssim: ${width}x${height}x${channels} images need ${width * height * channels} values, got ${a.length}`);
  }
  const sigma = opts.sigma ?? 1.5;
  const r = opts.radius ?? 5;
  const range = opts.range ?? 1;
  if (!(sigma > 0) || !Number.isInteger(r) || r < 0 || !(range > 0)) fail('OWSD_ERR_BAD_ARGUMENT', `ssim: invalid sigma ${sigma}, radius ${r} or range ${range}`);
  if (width < 2 * r + 1 || height < 2 * r + 1) {
    fail('OWSD_ERR_SHAPE', `ssim: a ${width}x${height} image is smaller than the ${2 * r + 1}x${2 * r + 1} window (pass a smaller radius)`);
  }
  const c1 = (0.01 * range) ** 2;
  const c2 = (0.03 * range) ** 2;
  const k = gaussianKernel(sigma, r);
  const n = width * height;
  const ow = width - 2 * r;
  const oh = height - 2 * r;
  const planes = Array.from({ length: 5 }, () => new Float64Array(n));
  const maps = Array.from({ length: 5 }, () => new Float64Array(ow * oh));
  const tmp = new Float64Array(ow * height);
  let total = 0;
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < n; i++) {
      const x = a[i * channels + c]!;
      const y = b[i * channels + c]!;
      planes[0]![i] = x;
      planes[1]![i] = y;
      planes[2]![i] = x * x;
      planes[3]![i] = y * y;
      planes[4]![i] = x * y;
    }
    for (let p = 0; p < 5; p++) filterValid(planes[p]!, width, height, k, r, tmp, maps[p]!);
    let s = 0;
    for (let i = 0; i < ow * oh; i++) {
      const mx = maps[0]![i]!;
      const my = maps[1]![i]!;
      const vx = maps[2]![i]! - mx * mx;
      const vy = maps[3]![i]! - my * my;
      const cxy = maps[4]![i]! - mx * my;
      s += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
    }
    total += s / (ow * oh);
  }
  return total / channels;
}

export interface ImageSetMetrics {
  images: number;
  /** Mean squared error over all values. */
  mse: number;
  /** Mean over images of each image's PSNR (dB). */
  psnr: number;
  /** PSNR of the overall MSE (dB). */
  psnrOfMse: number;
  /** Mean SSIM over images. */
  ssim: number;
}

/**
 * MSE, PSNR and SSIM of `n` predicted images against the truth (both n x width x height x channels, HWC, values in
 * [0, 1]). With `clip` (default true) predictions are first clipped to [0, 1], as an attacker would.
 */
export function imageSetMetrics(
  pred: Float32Array,
  truth: Float32Array,
  shape: { n: number; width: number; height: number; channels: number },
  opts: { clip?: boolean; ssim?: SsimOptions } = {},
): ImageSetMetrics {
  const { n, width, height, channels } = shape;
  const per = width * height * channels;
  if (pred.length !== n * per || truth.length !== n * per) {
    fail('OWSD_ERR_SHAPE', `image metrics: ${n} images of ${width}x${height}x${channels} need ${n * per} values, got ${pred.length} and ${truth.length}`);
  }
  if (n < 1) fail('OWSD_ERR_BAD_ARGUMENT', 'image metrics: no images');
  const clip = opts.clip !== false;
  let sumMse = 0;
  let sumPsnr = 0;
  let sumSsim = 0;
  const p = new Float32Array(per);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < per; j++) {
      const v = pred[i * per + j]!;
      p[j] = clip ? (v < 0 ? 0 : v > 1 ? 1 : v) : v;
    }
    const t = truth.subarray(i * per, (i + 1) * per);
    const m = mse(p, t);
    sumMse += m;
    sumPsnr += psnrFromMse(m);
    sumSsim += ssim(p, t, width, height, channels, opts.ssim);
  }
  return { images: n, mse: sumMse / n, psnr: sumPsnr / n, psnrOfMse: psnrFromMse(sumMse / n), ssim: sumSsim / n };
}

export interface ReidOptions {
  /** 'cosine' (default) or 'l2'. */
  metric?: 'cosine' | 'l2';
  /** Subtracted from queries and candidates first (e.g. the training mean): cosine then is a correlation. */
  center?: Float32Array;
  /** Candidates per pool (default: all). Queries are split into pools of consecutive indices; a remainder smaller than the pool is left out. */
  pool?: number;
}

export interface ReidResult {
  metric: 'cosine' | 'l2';
  /** Candidates per pool. */
  pool: number;
  pools: number;
  queries: number;
  /** Share of queries whose true source ranks first / in the first five. */
  top1: number;
  top5: number;
  /** The same for a random guess: 1/pool and min(5, pool)/pool. */
  chance1: number;
  chance5: number;
  /** Mean rank of the true source (1 = first). */
  meanRank: number;
}

/**
 * Re-identification: for each query (a predicted vector of an unseen image), rank the candidates of its pool by
 * similarity and find where its true source (candidate i for query i) lands. Similarities run as one ORT product
 * per pool.
 */
export async function reidentify(queries: Float32Array, candidates: Float32Array, n: number, dim: number, opts: ReidOptions = {}): Promise<ReidResult> {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(dim) || dim < 1) fail('OWSD_ERR_BAD_ARGUMENT', `reidentify: need n >= 1 vectors of dim >= 1, got ${n} x ${dim}`);
  if (queries.length !== n * dim || candidates.length !== n * dim) {
    fail('OWSD_ERR_SHAPE', `reidentify: ${n} vectors of ${dim} need ${n * dim} values, got ${queries.length} queries and ${candidates.length} candidates`);
  }
  if (opts.center && opts.center.length !== dim) fail('OWSD_ERR_SHAPE', `reidentify: centre of length ${opts.center.length}, vectors of ${dim}`);
  const metric = opts.metric ?? 'cosine';
  const pool = Math.min(n, opts.pool ?? n);
  if (!Number.isInteger(pool) || pool < 1) fail('OWSD_ERR_BAD_ARGUMENT', `reidentify: pool size must be a positive integer, got ${opts.pool}`);
  const pools = Math.floor(n / pool);
  const prep = (src: Float32Array, start: number): Float32Array => {
    const out = src.slice(start * dim, (start + pool) * dim);
    for (let i = 0; i < pool; i++) {
      const row = out.subarray(i * dim, (i + 1) * dim);
      if (opts.center) for (let j = 0; j < dim; j++) row[j] -= opts.center[j]!;
      if (metric === 'cosine') {
        let s = 0;
        for (let j = 0; j < dim; j++) s += row[j]! * row[j]!;
        const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
        for (let j = 0; j < dim; j++) row[j] *= inv;
      }
    }
    return out;
  };
  let top1 = 0;
  let top5 = 0;
  let rankSum = 0;
  for (let g = 0; g < pools; g++) {
    const q = prep(queries, g * pool);
    const c = prep(candidates, g * pool);
    const sim = await matmul({ rows: pool, cols: dim, data: q }, { rows: pool, cols: dim, data: c }, { transB: true });
    const penalty = new Float64Array(pool);
    if (metric === 'l2') {
      for (let j = 0; j < pool; j++) {
        let s = 0;
        for (let t = 0; t < dim; t++) s += c[j * dim + t]! ** 2;
        penalty[j] = s;
      }
    }
    for (let i = 0; i < pool; i++) {
      // Higher is better: cosine, or 2q·c - |c|² (= |q|² - |q - c|²).
      const score = (j: number): number => (metric === 'l2' ? 2 * sim.data[i * pool + j]! - penalty[j]! : sim.data[i * pool + j]!);
      const own = score(i);
      let rank = 0;
      if (Number.isNaN(own)) rank = pool - 1;
      else for (let j = 0; j < pool; j++) if (j !== i && !(score(j) < own)) rank++;
      if (rank < 1) top1++;
      if (rank < 5) top5++;
      rankSum += rank + 1;
    }
  }
  const queriesUsed = pools * pool;
  return {
    metric,
    pool,
    pools,
    queries: queriesUsed,
    top1: top1 / queriesUsed,
    top5: top5 / queriesUsed,
    chance1: 1 / pool,
    chance5: Math.min(5, pool) / pool,
    meanRank: rankSum / queriesUsed,
  };
}

/** Mean over rows of the Pearson correlation between predicted and true rows (n x dim); constant rows count 0. */
export function meanRowCorrelation(pred: Float32Array, truth: Float32Array, n: number, dim: number, center?: Float32Array): number {
  if (pred.length !== n * dim || truth.length !== n * dim) fail('OWSD_ERR_SHAPE', `correlation: ${n} x ${dim} rows need ${n * dim} values`);
  let total = 0;
  for (let i = 0; i < n; i++) {
    let sa = 0;
    let sb = 0;
    for (let j = 0; j < dim; j++) {
      sa += pred[i * dim + j]! - (center ? center[j]! : 0);
      sb += truth[i * dim + j]! - (center ? center[j]! : 0);
    }
    const ma = sa / dim;
    const mb = sb / dim;
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let j = 0; j < dim; j++) {
      const x = pred[i * dim + j]! - (center ? center[j]! : 0) - ma;
      const y = truth[i * dim + j]! - (center ? center[j]! : 0) - mb;
      ab += x * y;
      aa += x * x;
      bb += y * y;
    }
    total += aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
  }
  return total / n;
}

export interface CurvePoint {
  n: number;
  value: number;
}

/** A threshold on a curve: a number means "value above it"; `direction: 'below'` for curves that fall (e.g. MSE). */
export type CurveThreshold = number | { value: number; direction?: 'above' | 'below' };

export interface CurveCrossing {
  /** The smallest measured N whose value crosses the threshold (strictly); null if none does. */
  n: number | null;
  /** The measured N just below `n` (the largest N known not to cross before it); null if `n` is the smallest or null. */
  lastSafe: number | null;
  /** Log-linear interpolation of the crossing between `lastSafe` and `n`; null when either is missing. */
  estimate: number | null;
  /** The threshold is already crossed at the smallest N measured: the real budget is below the measured range. */
  crossedAtSmallest: boolean;
}

function readThreshold(t: CurveThreshold): { value: number; above: boolean } {
  const value = typeof t === 'number' ? t : t.value;
  const above = typeof t === 'number' || t.direction !== 'below';
  if (!Number.isFinite(value)) fail('OWSD_ERR_BAD_ARGUMENT', `budgetFromCurve: the threshold must be a finite number, got ${value}`);
  if (typeof t !== 'number' && t.direction !== undefined && t.direction !== 'above' && t.direction !== 'below') {
    fail('OWSD_ERR_BAD_ARGUMENT', `budgetFromCurve: direction must be 'above' or 'below', got ${String(t.direction)}`);
  }
  return { value, above };
}

/**
 * Where an attack curve crosses a threshold. Points are sorted by N (N must be positive and finite); points whose
 * value is NaN are ignored. The curve need not be monotone: the first crossing counts.
 */
export function crossingFromCurve(points: CurvePoint[], threshold: CurveThreshold): CurveCrossing {
  const { value, above } = readThreshold(threshold);
  for (const p of points) {
    if (!(Number.isFinite(p.n) && p.n > 0)) fail('OWSD_ERR_BAD_ARGUMENT', `budgetFromCurve: N must be a positive finite number, got ${p.n}`);
  }
  const pts = points.filter((p) => !Number.isNaN(p.value)).sort((a, b) => a.n - b.n);
  const crosses = (v: number): boolean => (above ? v > value : v < value);
  const i = pts.findIndex((p) => crosses(p.value));
  if (i < 0) return { n: null, lastSafe: null, estimate: null, crossedAtSmallest: false };
  // The last point before the crossing with a smaller N (points with equal N as the crossing do not count).
  let j = i - 1;
  while (j >= 0 && pts[j]!.n === pts[i]!.n) j--;
  if (j < 0) return { n: pts[i]!.n, lastSafe: null, estimate: null, crossedAtSmallest: true };
  const a = pts[j]!;
  const b = pts[i]!;
  let estimate: number | null = null;
  if (Number.isFinite(a.value) && Number.isFinite(b.value) && b.value !== a.value) {
    const f = (value - a.value) / (b.value - a.value);
    const t = Math.min(1, Math.max(0, f));
    estimate = Math.exp(Math.log(a.n) + t * (Math.log(b.n) - Math.log(a.n)));
  }
  return { n: b.n, lastSafe: a.n, estimate, crossedAtSmallest: false };
}

/**
 * The smallest measured N at which the attack crosses the threshold (value strictly above it, or strictly below
 * with `direction: 'below'`), or null if it never does over the measured range. See `crossingFromCurve` for the
 * interpolated estimate and the last N known to be safe.
 */
export function budgetFromCurve(points: CurvePoint[], threshold: CurveThreshold): number | null {
  return crossingFromCurve(points, threshold).n;
}
