/**
 * predict: new images → encode → scramble → cloud → IIN → true labels, with a fitted bundle and its key(s).
 *
 * **Example:**
 * ```ts
 * const p = await Predictor.open({ bundle: 'my.bundle', keys: [readKeyFile('k.key')] });
 * const [top] = await p.predict([{ kind: 'file', path: 'x.jpg' }], 5);
 * // top = [{ label: 'n03888257', name: 'parachute', index: 9, score: 0.97 }, ...]
 * ```
 */
import { describe, fail, fieldOf, OwsdError } from '../errors.js';
import type { Key } from '../key/keyfile.js';
import type { KeyLedger } from '../key/ledger.js';
import type { ResolveOptions } from '../models/registry.js';
import { Iin, topK } from '../iin/index.js';
import { imageName, type ImageFailure, type ImageInput, type ImagePredictions, type ImageResult, type LabelScore, type Sample } from '../types.js';
import { collectFeatures, featureMatrix, type EmbeddingSource, type FeatureSet, type Features, type KeyChannel, type ProgressFn } from './features.js';
import { readBundle, type Bundle } from './bundle.js';
import { checkKeysMatch, closeLedgers, openChannels, openCloud, openEncoder, type CloudSettings } from './session.js';
import type { Encoder } from '../encoder/encoder.js';
import type { PreprocessSpec } from '../models/spec.js';
import type { CloudClient } from '../cloud/client.js';

export interface PredictorOptions extends ResolveOptions {
  bundle: string | Bundle;
  keys: Key[];
  /** Override the cloud the bundle names (e.g. another replica). */
  cloud?: Partial<CloudSettings>;
  /** Reproducible noise for keys whose design adds it: demonstrations only (see ScramblerOptions.noiseSeed). */
  noiseSeed?: string;
  /** Count submissions here instead of each key's file ledger (a shared RedisLedger for workers and replicas). */
  ledgerFor?: (key: Key) => KeyLedger | Promise<KeyLedger>;
}

/** What `classify` returns: the top-k true labels per image, and the features they came from. */
export interface Classified {
  predictions: LabelScore[][];
  /** With `keepScrambled`, `features.scrambled` holds the first key's PNGs exactly as sent. */
  features: Features;
}

/**
 * What `classifySettled` returns: every image's own outcome. An image that cannot be read or preprocessed gets its
 * error (naming it) and costs no submission; the others are classified as if it were not there.
 */
export interface ClassifiedSettled {
  /** Per image: its top-k labels, or undefined when it failed. */
  predictions: Array<LabelScore[] | undefined>;
  /** Per image: why it failed, or undefined. */
  errors: Array<OwsdError | undefined>;
  /** Features of the images that succeeded, in order (undefined when none did); `row[i]` is image i's row, -1 when it failed. */
  features: Features | undefined;
  row: number[];
}

/** One image's outcome from `predictSettled`. */
export type PredictOutcome = { predictions: LabelScore[] } | { error: OwsdError };

/**
 * One image's outcome as the JSON every output gives (`ImageResult`: `{name, predictions}` or
 * `{name, error, code, field?}`): `field` is the one the error names (the gateway's request field), else `field`.
 */
export function imageResult(name: string, outcome: { predictions: LabelScore[] }): ImagePredictions;
export function imageResult(name: string, outcome: { error: OwsdError }, field?: string): ImageFailure;
export function imageResult(name: string, outcome: PredictOutcome, field?: string): ImageResult;
export function imageResult(name: string, outcome: PredictOutcome, field?: string): ImageResult {
  if ('error' in outcome) {
    const f = fieldOf(outcome.error) ?? field;
    return { name, error: outcome.error.message, code: outcome.error.code, ...(f ? { field: f } : {}) };
  }
  return { name, predictions: outcome.predictions };
}

/** An image's failure as an OwsdError naming the image (foreign errors wrapped). */
export function imageError(e: unknown, image: ImageInput): OwsdError {
  if (e instanceof OwsdError) return e;
  return new OwsdError('OWSD_ERR_IMAGE', `${imageName(image)}: cannot be prepared for the encoder: ${describe(e)}`, { cause: e });
}

/** One key's budget and use. */
export interface KeyUsage {
  keyId: string;
  budget: number;
  used: number;
  remaining: number;
}

export class Predictor {
  private constructor(
    readonly bundle: Bundle,
    private readonly encoder: Encoder,
    private readonly channels: KeyChannel[],
    /** The cloud client (its health and metadata; `classify` only ever sends scrambled images). */
    readonly client: CloudClient,
    private readonly iins: Partial<Record<FeatureSet, Iin>>,
  ) {}

  static async open(opts: PredictorOptions, which: FeatureSet[] = ['both']): Promise<Predictor> {
    const bundle = typeof opts.bundle === 'string' ? readBundle(opts.bundle) : opts.bundle;
    checkKeysMatch(opts.keys, bundle.keyIds, typeof opts.bundle === 'string' ? `bundle ${opts.bundle}` : 'the bundle');
    const { encoder } = await openEncoder(bundle.encoders.map((e) => e.name), opts);
    const channels = await openChannels(opts.keys, encoder.dim, { cloudId: bundle.cloud.url, noiseSeed: opts.noiseSeed === undefined ? undefined : `${opts.noiseSeed} predict`, ledgerFor: opts.ledgerFor });
    const client = openCloud({ ...bundle.cloud, ...opts.cloud });
    const iins: Partial<Record<FeatureSet, Iin>> = {};
    for (const w of which) iins[w] = await Iin.create(bundle.iins[w].weights);
    return new Predictor(bundle, encoder, channels, client, iins);
  }

  /** Encode, scramble, send (counted against each key's budget) and collect features. */
  async features(images: ImageInput[], ids?: string[], keepScrambled = false, onProgress?: ProgressFn): Promise<Features> {
    const samples: Sample[] = images.map((image, i) => ({ id: ids?.[i] ?? String(i), label: -1, image }));
    return collectFeatures({ samples, encoder: this.encoder, channels: this.channels, client: this.client, keepScrambled, onProgress });
  }

  /** Class probabilities of an IIN for collected features (n x classes). */
  async probabilities(f: Features, which: FeatureSet = 'both'): Promise<Float32Array> {
    const iin = this.iins[which];
    if (!iin) throw new Error(`IIN '${which}' was not opened`);
    const { x } = featureMatrix(f, which);
    return iin.predict(x, f.n);
  }

  /** The top-k true labels of images, with the features (and, with `keepScrambled`, the PNGs sent). */
  async classify(images: ImageInput[], k = 5, opts: { keepScrambled?: boolean } = {}): Promise<Classified> {
    const f = await this.features(images, undefined, opts.keepScrambled);
    const probs = await this.probabilities(f);
    const c = this.bundle.classes.length;
    const { classes, classNames } = this.bundle;
    const predictions = topK(probs, f.n, c, k).map((row) => row.map(({ index, score }) => ({ label: classes[index]!, name: classNames[index]!, index, score })));
    return { predictions, features: f };
  }

  /**
   * Like `classify`, image by image: an image that cannot be read, decoded or preprocessed gets its own error and
   * the others their labels (only they are sent, and counted). Failures of the whole batch (the cloud, the budget)
   * still throw.
   */
  async classifySettled(images: ImageInput[], k = 5, opts: { keepScrambled?: boolean; onProgress?: ProgressFn } = {}): Promise<ClassifiedSettled> {
    const dim = this.encoder.dim;
    opts.onProgress?.('encode', 0, images.length);
    const { embeddings, failed } = await this.encoder.encodeSettled(images);
    opts.onProgress?.('encode', images.length, images.length);
    const errors = images.map((image, i) => (failed.has(i) ? imageError(failed.get(i), image) : undefined));
    const ok = images.map((_, i) => i).filter((i) => !failed.has(i));
    const row = images.map(() => -1);
    ok.forEach((i, r) => (row[i] = r));
    const predictions: Array<LabelScore[] | undefined> = images.map(() => undefined);
    if (ok.length === 0) return { predictions, errors, features: undefined, row };
    // The embeddings are computed once, above; collectFeatures takes them from here.
    const byImage = new Map<ImageInput, Float32Array>(ok.map((i) => [images[i]!, embeddings.subarray(i * dim, (i + 1) * dim)]));
    const source: EmbeddingSource = {
      dim,
      encode: async (batch) => {
        const out = new Float32Array(batch.length * dim);
        batch.forEach((image, j) => out.set(byImage.get(image)!, j * dim));
        return out;
      },
    };
    const samples: Sample[] = ok.map((i) => ({ id: String(i), label: -1, image: images[i]! }));
    // Encoding was reported above; collectFeatures reports scramble and send.
    const onProgress: ProgressFn | undefined = opts.onProgress && ((phase, done, total, detail) => phase !== 'encode' && opts.onProgress!(phase, done, total, detail));
    const f = await collectFeatures({ samples, encoder: source, channels: this.channels, client: this.client, keepScrambled: opts.keepScrambled, onProgress });
    const probs = await this.probabilities(f);
    const { classes, classNames } = this.bundle;
    const top = topK(probs, f.n, classes.length, k).map((r) => r.map(({ index, score }) => ({ label: classes[index]!, name: classNames[index]!, index, score })));
    ok.forEach((i, r) => (predictions[i] = top[r]));
    return { predictions, errors, features: f, row };
  }

  /** Every image's top-k labels, or its own error. */
  async predictSettled(images: ImageInput[], k = 5, opts: { onProgress?: ProgressFn } = {}): Promise<PredictOutcome[]> {
    const r = await this.classifySettled(images, k, opts);
    return images.map((_, i) => (r.errors[i] ? { error: r.errors[i]! } : { predictions: r.predictions[i]! }));
  }

  /** The preprocessing of each encoder (what an image is resized to before encoding). */
  get preprocess(): PreprocessSpec[] {
    return this.encoder.preprocess;
  }

  async predict(images: ImageInput[], k = 5): Promise<LabelScore[][]> {
    return (await this.classify(images, k)).predictions;
  }

  /** Re-read shared ledgers, so that `usage()` is current. */
  async refreshUsage(): Promise<void> {
    for (const c of this.channels) await c.ledger.refresh?.();
  }

  /** Each key's budget and use, as its ledger has it now. */
  usage(): KeyUsage[] {
    return this.channels.map(({ ledger }) => ({ keyId: ledger.keyId, budget: ledger.budget, used: ledger.used, remaining: ledger.remaining }));
  }

  /** Release the models and give back what the keys' ledgers counted ahead and did not spend. */
  async close(): Promise<void> {
    try {
      await closeLedgers(this.channels);
    } finally {
      await this.encoder.release();
      for (const c of this.channels) await c.scrambler.release();
    }
  }
}

/** What `LocalPredictor.classifySettled` returns: like `ClassifiedSettled`, with no cloud features (nothing was sent). */
export interface ClassifiedLocal {
  /** Per image: its top-k labels, or undefined when it failed. */
  predictions: Array<LabelScore[] | undefined>;
  /** Per image: why it failed, or undefined. */
  errors: Array<OwsdError | undefined>;
  /** The embeddings of the images that succeeded, in order (n x embeddingDim); `row[i]` is image i's row, -1 when it failed. */
  embeddings: Float32Array;
  row: number[];
}

/**
 * Local serving (`owsd serve --local`): the bundle's encoders and its embedding-alone IIN (`iins.embedding`, which
 * `owsd fit` trains beside the main one), and nothing else. It opens no key, no scrambler and no cloud client, so
 * it cannot send anything anywhere; use it when fit's verdict says the cloud adds nothing measurable.
 */
export class LocalPredictor {
  private constructor(
    readonly bundle: Bundle,
    private readonly encoder: Encoder,
    private readonly iin: Iin,
  ) {}

  static async open(opts: ResolveOptions & { bundle: string | Bundle }): Promise<LocalPredictor> {
    const where = typeof opts.bundle === 'string' ? `bundle ${opts.bundle}` : 'the bundle';
    const bundle = typeof opts.bundle === 'string' ? readBundle(opts.bundle) : opts.bundle;
    const emb = (bundle.iins as Partial<Bundle['iins']>).embedding;
    if (!emb?.weights) {
      return fail('OWSD_ERR_BUNDLE', `${where} has no embedding-alone IIN (iins.embedding), which local serving needs: refit it with owsd fit (which trains and stores one), or serve it with the cloud (owsd serve without --local)`);
    }
    if (emb.weights.inputDim !== bundle.features.embeddingDim) {
      return fail('OWSD_ERR_BUNDLE', `${where}: its embedding-alone IIN takes ${emb.weights.inputDim} inputs, but its encoders give ${bundle.features.embeddingDim}: refit it with owsd fit`);
    }
    const { encoder } = await openEncoder(bundle.encoders.map((e) => e.name), opts);
    try {
      if (encoder.dim !== emb.weights.inputDim) fail('OWSD_ERR_BUNDLE', `${where}: its encoders now give ${encoder.dim}-dimensional embeddings, but its embedding-alone IIN takes ${emb.weights.inputDim}: the encoder models changed; refit it with owsd fit`);
      return new LocalPredictor(bundle, encoder, await Iin.create(emb.weights));
    } catch (e) {
      await encoder.release();
      throw e;
    }
  }

  /** Every image's top-k labels from its embedding alone, or its own error (naming it). Nothing is sent anywhere. */
  async classifySettled(images: ImageInput[], k = 5): Promise<ClassifiedLocal> {
    const dim = this.encoder.dim;
    const { embeddings, failed } = await this.encoder.encodeSettled(images);
    const errors = images.map((image, i) => (failed.has(i) ? imageError(failed.get(i), image) : undefined));
    const ok = images.map((_, i) => i).filter((i) => !failed.has(i));
    const row = images.map(() => -1);
    ok.forEach((i, r) => (row[i] = r));
    const x = new Float32Array(ok.length * dim);
    ok.forEach((i, r) => x.set(embeddings.subarray(i * dim, (i + 1) * dim), r * dim));
    const predictions: Array<LabelScore[] | undefined> = images.map(() => undefined);
    if (ok.length > 0) {
      const probs = await this.iin.predict(x, ok.length);
      const { classes, classNames } = this.bundle;
      const top = topK(probs, ok.length, classes.length, k).map((r) => r.map(({ index, score }) => ({ label: classes[index]!, name: classNames[index]!, index, score })));
      ok.forEach((i, r) => (predictions[i] = top[r]));
    }
    return { predictions, errors, embeddings: x, row };
  }

  /** Every image's top-k labels, or its own error. */
  async predictSettled(images: ImageInput[], k = 5): Promise<PredictOutcome[]> {
    const r = await this.classifySettled(images, k);
    return images.map((_, i) => (r.errors[i] ? { error: r.errors[i]! } : { predictions: r.predictions[i]! }));
  }

  /** The preprocessing of each encoder (what an image is resized to before encoding). */
  get preprocess(): PreprocessSpec[] {
    return this.encoder.preprocess;
  }

  async close(): Promise<void> {
    await this.encoder.release();
  }
}
