/**
 * fit: labelled private images → encode → scramble(key) → cloud → train the IIN → bundle.
 *
 * Three IINs are trained on the same samples and seed: on [embedding, cloud vectors] (the one predict uses), on
 * the embedding alone and on the cloud vectors alone. Their validation accuracies give the cloud gain: what the
 * cloud adds over what the organization's own encoder already knows.
 */
import path from 'node:path';
import { fail } from '../errors.js';
import type { Key } from '../key/keyfile.js';
import type { ResolveOptions } from '../models/registry.js';
import { IIN_DEFAULTS, trainIin, validationCount, type IinConfig, type IinEpochRecord } from '../iin/index.js';
import { collectFeatures, featureMatrix, type FeatureSet, type Features, type ProgressFn } from './features.js';
import { BUNDLE_FORMAT, writeBundle, type Bundle, type BundleIin } from './bundle.js';
import { closeLedgers, openChannels, openCloud, openEncoder, type CloudSettings } from './session.js';
import { selectData, type DataSelection } from './data.js';
import { sha256File } from '../models/checksum.js';
import type { Sample } from '../types.js';
import type { SkippedImage } from './screen.js';
import { trafficLeakAttack } from './leak.js';
import type { LeakAttackResult } from '../analysis/label-leak.js';
import { trafficBound, type TrafficBound } from './bound.js';

export interface FitOptions extends ResolveOptions {
  keys: Key[];
  encoders: string[];
  /** The cloud; a KServe cloud's `wire` defaults to FIT_DEFAULT_WIRE ('auto') here, not to openCloud's 'json'. */
  cloud: CloudSettings;
  data: DataSelection;
  /** Bundle folder to write. */
  out: string;
  /** Where cloud answers are journaled for resuming (default: `<out>.work`). */
  workDir?: string;
  /** What identifies the cloud's answers in the journal (default: URL and model name). */
  cloudId?: string;
  iin?: Partial<IinConfig>;
  batchSize?: number;
  /**
   * The training sample ids the data selection must give (a key rotation refitting a bundle's training set): if
   * the dataset changed so that it gives others, fit fails before anything is sent.
   */
  expectTrainIds?: string[];
  /** Reproducible noise for keys whose design adds it: demonstrations only (see ScramblerOptions.noiseSeed). */
  noiseSeed?: string;

  /** Phases encode, scramble, send, reuse (see collectFeatures), train (epochs of the three IINs), check (leak attack, bound). */
  onProgress?: ProgressFn;
  onEpoch?: (which: FeatureSet, e: IinEpochRecord) => void;
}

export interface FitResult {
  bundle: Bundle;
  out: string;
  /** Validation top-1 of each IIN, and the cloud gain (both - embedding). */
  validation: Record<FeatureSet, number | null> & { cloudGain: number | null };
  trainSamples: number;
  /** With data.badImages 'skip': unreadable images left out (train and held-out), with the reason. */
  skippedImages: SkippedImage[];
  submissionsSent: number;
  /** The k=5 pixel 1-NN label-leak attack on this run's own traffic (a capped subset, scrambled again, not sent). */
  attack: LeakAttackResult | null;
  /**
   * The any-inverter bound on this run's own embeddings at the first key's noise (src/pipeline/bound.ts), with the
   * default noise rule checked at k = 20 and, when it fails, the smallest noise of the study's grid that meets it.
   */
  bound: TrafficBound | null;
  /** Images the IINs' validation accuracies were measured on (the cloud gain's sample). */
  validationSamples: number;
  seconds: number;
}

export function labelsOf(samples: Sample[]): Int32Array {
  return Int32Array.from(samples, (s) => s.label);
}

/**
 * Train the three IINs on collected features. `onProgress('train', done, total)` counts epochs over the three
 * (total: 3 x the epoch limit; an IIN that stops early jumps to its share).
 */
export async function trainIins(f: Features, y: Int32Array, numClasses: number, config: Partial<IinConfig>, onEpoch?: FitOptions['onEpoch'], onProgress?: ProgressFn): Promise<Record<FeatureSet, BundleIin>> {
  const out = {} as Record<FeatureSet, BundleIin>;
  const sets = ['both', 'embedding', 'cloud'] as const;
  const epochs = config.epochs ?? IIN_DEFAULTS.epochs;
  const total = sets.length * epochs;
  onProgress?.('train', 0, total, 'iin[both]');
  for (const [i, which] of sets.entries()) {
    const { x, dim } = featureMatrix(f, which);
    const t = await trainIin(x, y, {
      inputDim: dim,
      numClasses,
      config,
      onEpoch: (e) => {
        onEpoch?.(which, e);
        if (i * epochs + e.epoch < total) onProgress?.('train', i * epochs + e.epoch, total, `iin[${which}] epoch ${e.epoch}`);
      },
    });
    onProgress?.('train', (i + 1) * epochs, total, i + 1 < sets.length ? `iin[${sets[i + 1]}]` : undefined);
    const best = t.history.find((h) => h.epoch === t.bestEpoch);
    out[which] = { inputs: which, config: t.config, weights: t.weights, history: t.history, bestEpoch: t.bestEpoch, validationAccuracy: best?.valAccuracy ?? null };
  }
  return out;
}

function checkTrainIds(train: Sample[], expected: string[], where: string): void {
  const got = new Set(train.map((s) => s.id));
  const missing = expected.filter((id) => !got.has(id));
  if (missing.length > 0 || got.size !== expected.length) {
    fail(
      'OWSD_ERR_DATASET',
      `${where}: the data no longer gives the bundle's training set (${missing.length} of its ${expected.length} images missing, e.g. ${missing[0] ?? '-'}; ${train.length} selected): nothing was sent; restore the data or fit a new bundle`,
    );
  }
}

/**
 * fit's KServe wire when none is given: 'auto', i.e. the binary tensor data extension when the server lists it in
 * `GET /v2` (Triton, KServe, owsd's cloud), JSON when it does not, cannot say, or refuses a binary body. The
 * binary round trip was shorter at batch 1 in nine of ten runs, by 2 ms at the median (docs/performance-wire.md).
 * TF Serving has only JSON, so it gets no wire. The bundle records it, so predict, eval, serve and key rotate use it.
 */
export const FIT_DEFAULT_WIRE = 'auto' as const;

function withFitWire(c: CloudSettings): CloudSettings {
  if (c.wire !== undefined || (c.protocol ?? 'kserve') !== 'kserve') return c;
  return { ...c, wire: FIT_DEFAULT_WIRE };
}

export async function fit(opts: FitOptions): Promise<FitResult> {
  const started = performance.now();
  const data = await selectData(opts.data);
  const train = data.train;
  const numClasses = data.dataset.classes.length;
  if (numClasses < 2) return fail('OWSD_ERR_DATASET', `${opts.data.path}: fit needs at least 2 labels, found ${numClasses}`);
  if (opts.expectTrainIds) checkTrainIds(train, opts.expectTrainIds, opts.data.path);
  const { encoder, specs } = await openEncoder(opts.encoders, opts);
  const cloud = withFitWire(opts.cloud);
  const client = openCloud(cloud);
  const workDir = opts.workDir ?? `${path.resolve(opts.out)}.work`;
  const channels = await openChannels(opts.keys, encoder.dim, { journalDir: workDir, cloudId: opts.cloudId ?? `${opts.cloud.url}|${opts.cloud.modelName}`, noiseSeed: opts.noiseSeed });
  const progress = opts.onProgress;
  // Everything is sent here: what the ledgers counted ahead and did not spend is given back at once.
  const f = await collectFeatures({
    samples: train,
    encoder,
    channels,
    client,
    batchSize: opts.batchSize,
    onProgress: progress,
  }).finally(() => closeLedgers(channels));
  const y = labelsOf(train);
  const iinConfig = { ...opts.iin, seed: opts.iin?.seed ?? opts.data.seed };
  const iins = await trainIins(f, y, numClasses, iinConfig, opts.onEpoch, progress);
  progress?.('check', 0, 2, 'label-leak attack');
  const attack = await trafficLeakAttack(channels[0]!.scrambler, f.embeddings, y, { seed: opts.data.seed });
  progress?.('check', 1, 2, 'any-inverter bound');
  const bound = await trafficBound(f.embeddings, f.embeddingDim, y, opts.keys[0]!.generator.embeddingNoise ?? 0, { seed: opts.data.seed, checkRule: true });
  progress?.('check', 2, 2);
  const seconds = (performance.now() - started) / 1000;
  const encoders = await Promise.all(
    encoder.describe().map(async (e, i) => ({ ...e, sha256: specs[i]!.sha256 ?? (await sha256File(specs[i]!.path)) })),
  );
  const bundle: Bundle = {
    format: BUNDLE_FORMAT,
    created: new Date().toISOString(),
    keyIds: opts.keys.map((k) => k.id),
    imageSize: opts.keys[0]!.generator.imageSize,
    encoders,
    cloud: { url: cloud.url, protocol: cloud.protocol ?? 'kserve', modelName: cloud.modelName, numClasses: f.cloudDim, ...(cloud.wire && cloud.wire !== 'json' ? { wire: cloud.wire } : {}) },
    classes: data.dataset.classes,
    classNames: data.dataset.classNames,
    features: { embeddingDim: f.embeddingDim, cloudDim: f.cloudDim, keys: f.keys },
    data: { ...data.selection, format: data.dataset.format, train: train.length, test: data.test.length, ...(data.selection.badImages === 'skip' ? { skipped: data.skipped.train.length + data.skipped.test.length } : {}) },
    training: { ids: train.map((s) => s.id), labels: train.map((s) => data.dataset.classes[s.label]!) },
    fit: { submissionsSent: f.sent, seconds },
    bound,
    iins,
  };
  writeBundle(opts.out, bundle);
  await encoder.release();
  for (const c of channels) await c.scrambler.release();
  const v = (k: FeatureSet) => iins[k].validationAccuracy;
  const both = v('both');
  const emb = v('embedding');
  return {
    bundle,
    out: opts.out,
    validation: { both, embedding: emb, cloud: v('cloud'), cloudGain: both !== null && emb !== null ? both - emb : null },
    trainSamples: train.length,
    skippedImages: [...data.skipped.train, ...data.skipped.test],
    submissionsSent: f.sent,
    attack,
    bound,
    validationSamples: validationCount(train.length, iins.both.config),
    seconds,
  };
}
