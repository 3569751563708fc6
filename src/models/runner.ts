/**
 * Run an ONNX model on a batch of N items whatever its batch dimension says: symbolic (one run), fixed at B
 * (runs of B, the last one padded), or absent (one run per item). Outputs come back as N x (per-item size).
 */
import { createSession, floatTensor, type Session } from '../internal/ort.js';
import { fail } from '../errors.js';

export type BatchMode = { kind: 'dynamic' } | { kind: 'fixed'; size: number } | { kind: 'none' };

export class OnnxRunner {
  private constructor(
    readonly session: Session,
    readonly inputName: string,
    /** Per-item input dims, without the batch dimension. */
    readonly itemDims: number[],
    readonly batch: BatchMode,
    readonly what: string,
  ) {}

  /**
   * @param itemDims the per-item input shape, e.g. [3,224,224]; the batch mode is read from the model's input.
   */
  static async create(model: string | Uint8Array, opts: { what: string; itemDims: number[]; inputName?: string; threads?: number }): Promise<OnnxRunner> {
    const session = await createSession(model, { what: opts.what, threads: opts.threads });
    const inputName = opts.inputName ?? session.inputNames[0]!;
    if (!session.inputNames.includes(inputName)) {
      return fail('OWSD_ERR_MODEL_LOAD', `${opts.what}: has no input '${inputName}' (inputs: ${session.inputNames.join(', ')})`);
    }
    const meta = (session.inputMetadata as Array<{ name: string; isTensor: boolean; shape?: Array<number | string> }>).find((m) => m.name === inputName);
    const shape = meta?.shape ?? [];
    checkInputShape(shape, opts.itemDims, inputName, opts.what);
    let batch: BatchMode;
    if (shape.length === opts.itemDims.length) batch = { kind: 'none' };
    else if (typeof shape[0] === 'number' && shape[0] > 0) batch = { kind: 'fixed', size: shape[0] };
    else batch = { kind: 'dynamic' };
    return new OnnxRunner(session, inputName, opts.itemDims, batch, opts.what);
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Run N items (data holds N * prod(itemDims) floats); returns each requested output as N x per-item floats. */
  async run(data: Float32Array, n: number, outputs: string[], maxBatch = 64): Promise<Float32Array[]> {
    const per = this.itemDims.reduce((a, b) => a * b, 1);
    if (data.length !== n * per) throw new RangeError(`${this.what}: expected ${n * per} input floats for ${n} items, got ${data.length}`);
    const chunk = this.batch.kind === 'dynamic' ? maxBatch : this.batch.kind === 'fixed' ? this.batch.size : 1;
    const results: Float32Array[][] = outputs.map(() => []);
    for (let start = 0; start < n; start += chunk) {
      const count = Math.min(chunk, n - start);
      let slice = data.subarray(start * per, (start + count) * per);
      let runCount = count;
      if (this.batch.kind === 'fixed' && count < chunk) {
        const padded = new Float32Array(chunk * per);
        padded.set(slice);
        slice = padded;
        runCount = chunk;
      }
      const dims = this.batch.kind === 'none' ? this.itemDims : [runCount, ...this.itemDims];
      const out = await this.session.run({ [this.inputName]: floatTensor(slice, dims) }, outputs);
      outputs.forEach((name, k) => {
        const t = out[name]!;
        const values = t.data as Float32Array;
        const itemSize = values.length / runCount;
        results[k]!.push(values.subarray(0, count * itemSize));
      });
    }
    return results.map((parts) => {
      if (parts.length === 1) return parts[0]!;
      const total = parts.reduce((a, p) => a + p.length, 0);
      const joined = new Float32Array(total);
      let o = 0;
      for (const p of parts) {
        joined.set(p, o);
        o += p.length;
      }
      return joined;
    });
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * The per-item dims the manifest's preprocessing gives against the model's own input shape (where it names
 * numbers): a mismatch is a manifest error naming the field to change, found at load rather than as
 * onnxruntime's "Got invalid dimensions" on the first image.
 */
export function checkInputShape(shape: ReadonlyArray<number | string>, itemDims: readonly number[], inputName: string, what: string): void {
  const tail = shape.slice(-itemDims.length);
  if (tail.length !== itemDims.length) return;
  const nhwc = itemDims[2] === 3 && itemDims[0] !== 3;
  const [h, w] = nhwc ? [tail[0], tail[1]] : [tail[1], tail[2]];
  const c = nhwc ? tail[2] : tail[0];
  const size = nhwc ? itemDims[0]! : itemDims[1]!;
  const shown = `[${shape.join(', ')}]`;
  if (typeof c === 'number' && c !== 3) {
    fail('OWSD_ERR_MANIFEST', `${what}: input '${inputName}' has shape ${shown}, which is not ${nhwc ? 'NHWC' : 'NCHW'} with 3 colour channels: set "input.layout" in its manifest entry or sidecar to ${nhwc ? '"NCHW"' : '"NHWC"'} if the channels are elsewhere`);
  }
  for (const [dim, which] of [[h, 'height'], [w, 'width']] as const) {
    if (typeof dim === 'number' && dim > 0 && dim !== size) {
      fail(
        'OWSD_ERR_MANIFEST',
        `${what}: input '${inputName}' takes ${which} ${dim} (shape ${shown}), but its manifest entry's "preprocess" gives ${size}x${size} images: set "preprocess.center_crop" to ${dim} (or "preprocess.resize" to ${dim} without a center_crop)`,
      );
    }
  }
}

/** In-place softmax over rows of length `width`. */
export function softmaxRows(values: Float32Array, width: number): Float32Array {
  for (let r = 0; r < values.length; r += width) {
    let max = -Infinity;
    for (let i = 0; i < width; i++) max = Math.max(max, values[r + i]!);
    let sum = 0;
    for (let i = 0; i < width; i++) {
      const e = Math.exp(values[r + i]! - max);
      values[r + i] = e;
      sum += e;
    }
    for (let i = 0; i < width; i++) values[r + i]! /= sum;
  }
  return values;
}
