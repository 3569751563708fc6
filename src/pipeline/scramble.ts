/**
 * image → encoder → embedding → scrambler(key) → PNG, in batches. Nothing is sent anywhere: scrambling alone
 * does not use the key's budget; sending does (see pipeline/fit.ts).
 */
import type { Encoder } from '../encoder/encoder.js';
import type { Scrambler } from '../scrambler/scrambler.js';
import type { ImageInput } from '../types.js';
import type { ScrambledImage } from '../scrambler/scrambled.js';

export interface ScrambledBatch {
  start: number;
  embeddings: Float32Array;
  pngs: ScrambledImage[];
}

/** Encode and scramble images batch by batch, in input order. */
export async function* scrambleImages(encoder: Encoder, scrambler: Scrambler, images: ImageInput[], batchSize = 32): AsyncGenerator<ScrambledBatch> {
  for (let start = 0; start < images.length; start += batchSize) {
    const batch = images.slice(start, start + batchSize);
    const embeddings = await encoder.encode(batch);
    const pngs = await scrambler.scramble(embeddings, batch.length);
    yield { start, embeddings, pngs };
  }
}
