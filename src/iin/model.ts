/**
 * A trained IIN ready to predict: an ORT session of the same standard ONNX model exportIinOnnx writes.
 */
import { fail } from '../errors.js';
import { createSession, floatTensor, type Session } from '../internal/ort.js';
import { checkIinWeights, type IinWeights } from './config.js';
import { exportIinOnnx } from './serialize.js';

/** Rows per session run; bounds the memory of the hidden activations for large n. */
const CHUNK_ROWS = 4096;

export class Iin {
  private constructor(
    private readonly session: Session,
    readonly inputDim: number,
    readonly numClasses: number,
  ) {}

  static async create(weights: IinWeights): Promise<Iin> {
    checkIinWeights(weights);
    const session = await createSession(exportIinOnnx(weights), { what: 'IIN model' });
    return new Iin(session, weights.inputDim, weights.numClasses);
  }

  /** Class probabilities, row-major n × numClasses, for n rows of inputDim features. */
  async predict(x: Float32Array, n: number): Promise<Float32Array> {
    const D = this.inputDim;
    const C = this.numClasses;
    if (!(x instanceof Float32Array)) fail('OWSD_ERR_BAD_ARGUMENT', 'Iin.predict: x must be a Float32Array');
    if (!Number.isInteger(n) || n < 0) fail('OWSD_ERR_BAD_ARGUMENT', `Iin.predict: n must be a non-negative integer, got ${n}`);
    if (x.length !== n * D) {
      fail('OWSD_ERR_SHAPE', `Iin.predict: x must have n * inputDim = ${n} * ${D} = ${n * D} elements, got ${x.length}`);
    }
    const out = new Float32Array(n * C);
    for (let start = 0; start < n; start += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, n - start);
      const features = floatTensor(x.subarray(start * D, (start + rows) * D), [rows, D]);
      const result = await this.session.run({ features });
      out.set(result.probabilities.data as Float32Array, start * C);
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export interface ClassScore {
  index: number;
  score: number;
}

/**
 * The k highest-scoring classes of each of n rows of C probabilities, best first (ties: lower index first).
 * k is clipped to C.
 */
export function topK(probs: Float32Array, n: number, C: number, k: number): ClassScore[][] {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(C) || C < 1 || probs.length !== n * C) {
    fail('OWSD_ERR_BAD_ARGUMENT', `topK: probs must have n * C = ${n} * ${C} = ${n * C} elements, got ${probs.length}`);
  }
  if (!Number.isInteger(k) || k < 1) fail('OWSD_ERR_BAD_ARGUMENT', `topK: k must be a positive integer, got ${k}`);
  const kk = Math.min(k, C);
  const out: ClassScore[][] = [];
  for (let i = 0; i < n; i++) {
    const row = probs.subarray(i * C, (i + 1) * C);
    const best: ClassScore[] = [];
    for (let c = 0; c < C; c++) {
      const s = row[c];
      if (best.length === kk && !(s > best[kk - 1].score)) continue;
      let j = best.length < kk ? best.length : kk - 1;
      while (j > 0 && s > best[j - 1].score) j--;
      best.splice(j, 0, { index: c, score: s });
      if (best.length > kk) best.pop();
    }
    out.push(best);
  }
  return out;
}
