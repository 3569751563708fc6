/**
 * Model preprocessing as data (PreprocessSpec, defined here; models/spec.ts re-exports it): resize, centre crop, scale to [0,1], normalise
 * per channel, lay out as NCHW or NHWC float32.
 */
import type { ImageInput } from '../types.js';
import { decodeRgb, type DecodeOptions, type RgbImage } from './decode.js';

export type Layout = 'NCHW' | 'NHWC';

/** How images are preprocessed for a model (the `preprocess` of a models.json entry, normalised; see models/spec.ts). */
export interface PreprocessSpec {
  /** Shorter side is resized to this; without `centerCrop` the image is resized to exactly resize x resize. */
  resize: number;
  centerCrop?: number;
  /** Per-channel mean and std applied after scaling pixels to [0,1]. */
  mean: [number, number, number];
  std: [number, number, number];
  kernel: 'linear' | 'cubic' | 'lanczos3' | 'nearest';
}

export function outputSize(spec: PreprocessSpec): number {
  return spec.centerCrop ?? spec.resize;
}

/** Crop the centre (size x size) of an RGB image and normalise it into `out` at `offset` (3*size*size floats). */
export function normalizeInto(img: RgbImage, spec: PreprocessSpec, layout: Layout, out: Float32Array, offset = 0): void {
  const size = outputSize(spec);
  const x0 = Math.floor((img.width - size) / 2);
  const y0 = Math.floor((img.height - size) / 2);
  if (x0 < 0 || y0 < 0) throw new RangeError(`image ${img.width}x${img.height} is smaller than the crop ${size}`);
  const plane = size * size;
  const scale = [1 / (255 * spec.std[0]), 1 / (255 * spec.std[1]), 1 / (255 * spec.std[2])];
  const shift = [spec.mean[0] / spec.std[0], spec.mean[1] / spec.std[1], spec.mean[2] / spec.std[2]];
  const src = img.data;
  for (let y = 0; y < size; y++) {
    let s = ((y + y0) * img.width + x0) * 3;
    const row = y * size;
    for (let x = 0; x < size; x++, s += 3) {
      const p = row + x;
      if (layout === 'NCHW') {
        out[offset + p] = src[s]! * scale[0]! - shift[0]!;
        out[offset + plane + p] = src[s + 1]! * scale[1]! - shift[1]!;
        out[offset + 2 * plane + p] = src[s + 2]! * scale[2]! - shift[2]!;
      } else {
        const q = offset + p * 3;
        out[q] = src[s]! * scale[0]! - shift[0]!;
        out[q + 1] = src[s + 1]! * scale[1]! - shift[1]!;
        out[q + 2] = src[s + 2]! * scale[2]! - shift[2]!;
      }
    }
  }
}

/**
 * Decode an image at the model's resize (the shorter side to `spec.resize` when it centre-crops, else exactly
 * size x size). `deadlineMs` and `signal` go to decodeRgb; the aspect limit bounds the resize's output.
 */
export async function loadForModel(input: ImageInput, spec: PreprocessSpec, opts: Pick<DecodeOptions, 'deadlineMs' | 'signal'> = {}): Promise<RgbImage> {
  return decodeRgb(input, { resize: { size: spec.resize, fit: spec.centerCrop ? 'outside' : 'fill', kernel: spec.kernel }, ...opts });
}

/**
 * Preprocess a batch of images into one [N,3,S,S] (or [N,S,S,3]) float32 array; decodes concurrently. Every image
 * is attempted (allSettled): `failed[i]` holds the error of image i, whose slot in `data` stays zero; the others are
 * unaffected by it.
 */
export async function preprocessBatchSettled(inputs: ImageInput[], spec: PreprocessSpec, layout: Layout = 'NCHW'): Promise<{ data: Float32Array; failed: Map<number, unknown> }> {
  const size = outputSize(spec);
  const per = 3 * size * size;
  const out = new Float32Array(inputs.length * per);
  const failed = new Map<number, unknown>();
  const settled = await Promise.allSettled(
    inputs.map(async (input, i) => {
      const img = await loadForModel(input, spec);
      normalizeInto(img, spec, layout, out, i * per);
    }),
  );
  settled.forEach((r, i) => {
    if (r.status === 'rejected') {
      out.fill(0, i * per, (i + 1) * per);
      failed.set(i, r.reason);
    }
  });
  return { data: out, failed };
}

/** Preprocess a batch of images into one [N,3,S,S] (or [N,S,S,3]) float32 array; the first image (in order) that fails fails the batch. */
export async function preprocessBatch(inputs: ImageInput[], spec: PreprocessSpec, layout: Layout = 'NCHW'): Promise<Float32Array> {
  const { data, failed } = await preprocessBatchSettled(inputs, spec, layout);
  for (const e of failed.values()) throw e;
  return data;
}
