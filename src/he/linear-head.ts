/** The HE peer's classifier: a linear head on the embedding, fitted by ridge regression on one-hot labels. */
import { fail } from '../errors.js';
import { fitRidge } from '../analysis/ridge.js';
import { dense } from '../analysis/numerics/matrix.js';
import type { LinearHead } from './ckks-head.js';

/** Fit scores = x·W + b to one-hot labels (α chosen on a seeded holdout, see `fitRidge`). */
export async function fitLinearHead(embeddings: Float32Array, labels: Int32Array, classes: number, seed = 0): Promise<LinearHead> {
  const n = labels.length;
  if (n < 2 || embeddings.length % n !== 0) fail('OWSD_ERR_SHAPE', `linear head: ${embeddings.length} embedding values do not split into ${n} rows`);
  const dim = embeddings.length / n;
  const y = new Float32Array(n * classes);
  labels.forEach((l, i) => {
    if (!(l >= 0 && l < classes)) fail('OWSD_ERR_BAD_ARGUMENT', `linear head: label ${l} of row ${i} is outside 0..${classes - 1}`);
    y[i * classes + l] = 1;
  });
  const m = await fitRidge(dense(n, dim, embeddings), dense(n, classes, y), { seed });
  return { inputDim: dim, classes, weights: m.weights.data, bias: m.bias };
}
