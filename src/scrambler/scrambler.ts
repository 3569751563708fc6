/**
 * The scrambler: embeddings → the key's secret generator → 8-bit PNGs, the only thing that leaves the
 * organisation.
 *
 * **Example:**
 * ```ts
 * const scrambler = await Scrambler.create(key, encoder.dim);
 * const images = await scrambler.scramble(embeddings, n); // ScrambledImage[]: { png: Uint8Array } of 256x256 PNGs
 * ```
 */
import { createSession, floatTensor, type Session } from '../internal/ort.js';
import { fail } from '../errors.js';
import type { Key } from '../key/keyfile.js';
import { buildGeneratorModel, generatorLayers, countWeights, generatorFlops } from './generator.js';
import { encodePngBatch } from './png.js';
import { markScrambled, type ScrambledImage } from './scrambled.js';

export interface ScramblerOptions {
  threads?: number;
  /** Images per generator run (memory grows with it; 16 keeps a 256px batch under 200 MB). */
  batchSize?: number;
  exposeActivations?: boolean;
}

export class Scrambler {
  private constructor(
    readonly keyId: string,
    readonly inputDim: number,
    readonly imageSize: number,
    private readonly session: Session,
    readonly batchSize: number,
    readonly weightCount: number,
    readonly flopsPerImage: number,
  ) {}

  static async create(key: Key, inputDim: number, opts: ScramblerOptions = {}): Promise<Scrambler> {
    if (!Number.isInteger(inputDim) || inputDim < 1) return fail('OWSD_ERR_BAD_ARGUMENT', `embedding dimension must be a positive integer, got ${inputDim}`);
    const bytes = buildGeneratorModel(key, inputDim, { exposeActivations: opts.exposeActivations });
    const session = await createSession(bytes, { what: `the generator of key ${key.id}`, threads: opts.threads });
    const layers = generatorLayers(inputDim, key.generator);
    const batch = opts.batchSize ?? Math.max(1, Math.round(16 * (256 / key.generator.imageSize) ** 2));
    return new Scrambler(key.id, inputDim, key.generator.imageSize, session, batch, countWeights(layers), generatorFlops(inputDim, key.generator));
  }

  /** Run the generator: N embeddings → N x S x S x 3 pixels (uint8). */
  async pixels(embeddings: Float32Array, n: number): Promise<Uint8Array> {
    if (embeddings.length !== n * this.inputDim) {
      return fail('OWSD_ERR_SHAPE', `scrambler of key ${this.keyId}: expected ${n} embeddings of ${this.inputDim} values (${n * this.inputDim}), got ${embeddings.length} values`);
    }
    const per = this.imageSize * this.imageSize * 3;
    const out = new Uint8Array(n * per);
    for (let s = 0; s < n; s += this.batchSize) {
      const count = Math.min(this.batchSize, n - s);
      const input = floatTensor(embeddings.subarray(s * this.inputDim, (s + count) * this.inputDim), [count, this.inputDim]);
      const res = await this.session.run({ embedding: input }, ['pixels']);
      out.set(res.pixels!.data as Uint8Array, s * per);
    }
    return out;
  }

  /** N embeddings → N scrambled PNGs, marked as the only thing a cloud client will send. */
  async scramble(embeddings: Float32Array, n: number): Promise<ScrambledImage[]> {
    return (await encodePngBatch(await this.pixels(embeddings, n), n, this.imageSize)).map(markScrambled);
  }

  /** Every ReLU activation of the generator for these embeddings, for the zero-fraction report. */
  async activations(embeddings: Float32Array, n: number): Promise<Float32Array[]> {
    const names = this.session.outputNames.filter((x) => x.startsWith('relu'));
    if (names.length === 0) return fail('OWSD_ERR_BAD_ARGUMENT', 'create the scrambler with exposeActivations: true to read activations');
    const res = await this.session.run({ embedding: floatTensor(embeddings, [n, this.inputDim]) }, names);
    return names.map((x) => res[x]!.data as Float32Array);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
