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
import type { Key } from '../key/keyfile.js';
import type { KeyLedger } from '../key/ledger.js';
import type { ResolveOptions } from '../models/registry.js';
import { Iin, topK } from '../iin/index.js';
import type { ImageInput, LabelScore, Sample } from '../types.js';
import { collectFeatures, featureMatrix, type FeatureSet, type Features, type KeyChannel } from './features.js';
import { readBundle, type Bundle } from './bundle.js';
import { checkKeysMatch, openChannels, openCloud, openEncoder, type CloudSettings } from './session.js';
import type { Encoder } from '../encoder/encoder.js';
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
  async features(images: ImageInput[], ids?: string[], keepScrambled = false): Promise<Features> {
    const samples: Sample[] = images.map((image, i) => ({ id: ids?.[i] ?? String(i), label: -1, image }));
    return collectFeatures({ samples, encoder: this.encoder, channels: this.channels, client: this.client, keepScrambled });
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

  async close(): Promise<void> {
    await this.encoder.release();
    for (const c of this.channels) await c.scrambler.release();
  }
}
