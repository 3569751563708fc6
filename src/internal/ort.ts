/**
 * The one place that imports onnxruntime-node. Sessions run on the CPU execution provider with the configured
 * number of intra-op threads.
 */
import ort from 'onnxruntime-node';
import { settings } from '../settings.js';
import { describe, fail } from '../errors.js';

export { ort };
export type Session = ort.InferenceSession;
export type OrtTensor = ort.Tensor;
export const Tensor = ort.Tensor;

export interface SessionOptions {
  threads?: number;
  /** Name of the model for error messages. */
  what: string;
}

export async function createSession(model: string | Uint8Array, opts: SessionOptions): Promise<ort.InferenceSession> {
  try {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads: opts.threads ?? settings.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      // onnxruntime's session config entries session.intra_op.allow_spinning / session.inter_op.allow_spinning
      ...(settings.ortSpinning ? {} : { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }),
    };
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model, options);
  } catch (e) {
    return fail('OWSD_ERR_MODEL_LOAD', `cannot load ${opts.what}: ${describe(e)}`, e);
  }
}

export function floatTensor(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims as number[]);
}
