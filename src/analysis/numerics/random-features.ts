/**
 * Random ReLU features: a random one-hidden-layer network whose output layer ridge (../ridge.ts) then fits.
 */
import { fail } from '../../errors.js';
import { createRng, deriveSeed } from '../../internal/random.js';
import { CHUNK_ROWS, columnStats, dense, gatherRows, range, type Dense } from './matrix.js';
import { matmul } from './products.js';

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
    const xs = gatherRows(x, rows, s, count, map.mean, map.scale);
    const p = await matmul(xs, map.projection);
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
