/**
 * Row-major matrix views for the research code (the numerics module: this file, products.ts, cholesky.ts, eigen.ts,
 * pca.ts, random-features.ts). Data matrices are float32 (`Dense`), normal equations and factors float64
 * (`Dense64`). Views share memory where the doc says so; everything else copies.
 */
import { fail } from '../../errors.js';

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

/** Float32 copy of a float64 matrix. */
export function toF32(m: Dense64): Dense {
  return { rows: m.rows, cols: m.cols, data: Float32Array.from(m.data) };
}

/** Rows ã = (x - shift)·scale of the rows idx[from .. from + count), as a new float32 matrix (no shift: a copy). */
export function gatherRows(x: Dense, idx: ArrayLike<number>, from: number, count: number, shift?: Float64Array, scale?: Float64Array): Dense {
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

/** 0, 1, ..., n - 1. */
export function range(n: number): Int32Array {
  const r = new Int32Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  return r;
}

/** A copy of the n x n matrix a with v added to its diagonal. */
export function addDiagonal(a: Float64Array, n: number, v: number): Float64Array {
  const out = Float64Array.from(a);
  for (let i = 0; i < n; i++) out[i * n + i] += v;
  return out;
}

/** [a | b]: the columns of b after those of a (same rows), copied. */
export function concatCols(a: Dense, b: Dense): Dense {
  if (a.rows !== b.rows) fail('OWSD_ERR_SHAPE', `concatCols: ${a.rows} rows beside ${b.rows}`);
  const out = dense(a.rows, a.cols + b.cols);
  for (let i = 0; i < a.rows; i++) {
    out.data.set(a.data.subarray(i * a.cols, (i + 1) * a.cols), i * out.cols);
    out.data.set(b.data.subarray(i * b.cols, (i + 1) * b.cols), i * out.cols + a.cols);
  }
  return out;
}

/** n copies of one row, as row-major values. */
export function repeatRow(row: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * row.length);
  for (let i = 0; i < n; i++) out.set(row, i * row.length);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Column statistics

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

/** Column means (accumulated in float64), as float32. */
export function columnMean(m: Dense): Float32Array {
  const out = new Float64Array(m.cols);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out[j] += m.data[i * m.cols + j]!;
  return Float32Array.from(out, (v) => v / m.rows);
}

/** Mean over columns of each column's (population) variance across rows. */
export function meanColumnVariance(m: Dense): number {
  const mu = columnMean(m);
  let t = 0;
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < m.cols; j++) {
      const d = m.data[i * m.cols + j]! - mu[j]!;
      t += d * d;
    }
  }
  return t / (m.rows * m.cols);
}
