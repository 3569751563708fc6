/**
 * The scrambler: embeddings → the key's secret generator → 8-bit PNGs, the only thing that leaves the
 * organisation.
 *
 * **Example:**
 * ```ts
 * const scrambler = await Scrambler.create(key, encoder.dim);
 * const images = await scrambler.scramble(embeddings, n); // ScrambledImage[]: { png: Uint8Array } of 256x256 PNGs
 * ```
 *
 * With a key whose design has `embeddingNoise` σ > 0, every call adds fresh noise N(0, (σ·rms(e))²) to each
 * embedding e before the generator, so the same image never gives the same scrambled image twice.
 */
import crypto from 'node:crypto';
import { createSession, floatTensor, type Session } from '../internal/ort.js';
import { deriveNormals } from '../key/keystream.js';
import { fail } from '../errors.js';
import type { GeneratorDesign, Key } from '../key/keyfile.js';
import { buildGeneratorModel, generatorActivationBytes, generatorLayers, countWeights, generatorFlops } from './generator.js';
import { encodePngBatch } from './png.js';
import { markScrambled, type ScrambledImage } from './scrambled.js';

export interface ScramblerOptions {
  /**
   * Reproducible per-submission noise, for demonstrations and experiments only: the noise of the key's design is
   * then drawn from this seed and a per-scrambler call counter instead of the OS CSPRNG, so anyone who knows the
   * seed can predict it. Never set it for real traffic.
   */
  noiseSeed?: string;
  threads?: number;
  /** Images per generator run (memory grows with it; the default, defaultBatchSize, keeps a run's growth under 150-200 MB and at most 16 images). */
  batchSize?: number;
  exposeActivations?: boolean;
}

/** The activations of 16 images of the paper's generator (256 px, 1024 base channels): what one run may use. */
const BATCH_ACTIVATION_BYTES = 16 * generatorActivationBytes({ imageSize: 256, baseChannels: 1024, design: 'dcgan-he-v1' });

/** The most images per generator run: past it, each layer's activations outgrow the caches and a run costs more CPU per image. */
export const MAX_GENERATOR_BATCH = 16;

/**
 * Images per generator run for a design: as many as fit the activations of 16 paper-size images, and at most
 * MAX_GENERATOR_BATCH. Measured on the 2-core machine (`node` with `Scrambler.pixels`, 576-d input): 256 px, 16
 * images: +151 MB, 122 images/s; 32 px, 185 images: +175 MB, 495 images/s. The old rule scaled by pixels alone
 * (1,024 images at 32 px) and cost +1.6 GB for 411 images/s: small images' early layers are as large as big ones'.
 * The cap: 200 images per call at 256 channels, CPU time per image, runs of the memory rule's size against runs of
 * 16 (interleaved, load 6-7; docs/generator-choice.md): 96 px v1 1.21 against 0.67 ms (200 per run), v3 0.80
 * against 0.56; 256 px v1 3.64 against 2.99 ms (43 per run); the pixels are the same bytes whatever the run size.
 */
export function defaultBatchSize(g: GeneratorDesign): number {
  return Math.max(1, Math.min(MAX_GENERATOR_BATCH, Math.floor(BATCH_ACTIVATION_BYTES / generatorActivationBytes(g))));
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
    /** Per-submission embedding noise of the key's design (multiple of the embedding's RMS; 0: deterministic). */
    readonly embeddingNoise: number,
    private readonly noiseSeed: string | undefined,
  ) {}

  private noiseCalls = 0;

  static async create(key: Key, inputDim: number, opts: ScramblerOptions = {}): Promise<Scrambler> {
    if (!Number.isInteger(inputDim) || inputDim < 1) return fail('OWSD_ERR_BAD_ARGUMENT', `embedding dimension must be a positive integer, got ${inputDim}`);
    const bytes = buildGeneratorModel(key, inputDim, { exposeActivations: opts.exposeActivations });
    const session = await createSession(bytes, { what: `the generator of key ${key.id}`, threads: opts.threads });
    const layers = generatorLayers(inputDim, key.generator);
    const batch = opts.batchSize ?? defaultBatchSize(key.generator);
    const noise = key.generator.embeddingNoise ?? 0;
    return new Scrambler(key.id, inputDim, key.generator.imageSize, session, batch, countWeights(layers), generatorFlops(inputDim, key.generator), noise, opts.noiseSeed);
  }

  /** The embeddings plus this submission's noise (a copy; the input is not changed), or the input itself without noise. */
  private noisy(embeddings: Float32Array, n: number): Float32Array {
    if (this.embeddingNoise === 0) return embeddings;
    const call = this.noiseCalls++;
    const source = this.noiseSeed === undefined ? crypto.randomBytes(32) : noiseSource(this.noiseSeed, call);
    return addSubmissionNoise(embeddings, n, this.inputDim, this.embeddingNoise, source);
  }

  /** Run the generator: N embeddings → N x S x S x 3 pixels (uint8). */
  async pixels(embeddings: Float32Array, n: number): Promise<Uint8Array> {
    if (embeddings.length !== n * this.inputDim) {
      return fail('OWSD_ERR_SHAPE', `scrambler of key ${this.keyId}: expected ${n} embeddings of ${this.inputDim} values (${n * this.inputDim}), got ${embeddings.length} values`);
    }
    embeddings = this.noisy(embeddings, n);
    if (n === 0) return new Uint8Array(0);
    if (n <= this.batchSize) {
      // One run (batch 1, and batches up to a run's size): its output is the answer, without a copy.
      const res = await this.session.run({ embedding: floatTensor(embeddings, [n, this.inputDim]) }, ['pixels']);
      return res.pixels!.data as Uint8Array;
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
    const res = await this.session.run({ embedding: floatTensor(this.noisy(embeddings, n), [n, this.inputDim]) }, names);
    return names.map((x) => res[x]!.data as Float32Array);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** The seeded noise source of call number `call` of a scrambler created with `noiseSeed` (demonstrations, experiments). */
export function noiseSource(noiseSeed: string, call: number): Buffer {
  return crypto.createHash('sha256').update(`owsd noise ${noiseSeed} ${call}`).digest();
}

/**
 * The generator's input for one submission: z = e + σ·rms(e)·n for n rows of d values, n ~ N(0, I) drawn from
 * `source` (32 random bytes from the OS CSPRNG for real traffic; `noiseSource` for seeded runs). Returns a copy.
 * The one definition: the scrambler uses it, and the any-inverter bound (src/analysis/bound.ts) attacks exactly it.
 */
export function addSubmissionNoise(embeddings: Float32Array, n: number, d: number, sigma: number, source: Uint8Array): Float32Array {
  if (embeddings.length !== n * d) return fail('OWSD_ERR_SHAPE', `submission noise: expected ${n} x ${d} values, got ${embeddings.length}`);
  if (!(sigma >= 0)) return fail('OWSD_ERR_BAD_ARGUMENT', `submission noise: σ must be >= 0, got ${sigma}`);
  const out = new Float32Array(embeddings);
  if (sigma === 0) return out;
  const z = deriveNormals(source, 'submission-noise', n * d);
  for (let i = 0; i < n; i++) {
    let sq = 0;
    for (let j = 0; j < d; j++) sq += out[i * d + j]! * out[i * d + j]!;
    const scale = sigma * Math.sqrt(sq / d);
    for (let j = 0; j < d; j++) out[i * d + j]! += scale * z[i * d + j]!;
  }
  return out;
}
