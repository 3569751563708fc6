/**
 * eval: top-1/top-5 of the fitted IINs on labelled images, the cloud gain, and, when asked, the paper's second
 * measure: agreement with the cloud's own prediction on the PLAINTEXT image plus the cloud's plaintext accuracy.
 * That reference sends unscrambled images to the cloud: only for a cloud you run yourself (the demo's embedded
 * one), never for a real third party. It is off unless `plaintextReference` is set.
 */
import { fail } from '../errors.js';
import type { Key } from '../key/keyfile.js';
import type { ResolveOptions } from '../models/registry.js';
import type { Sample } from '../types.js';
import { buildLabelMap, createPlaintextCloudProbe } from '../cloud/accuracy.js';
import { pairedGain, plaintextScores, scoreTopK, type PlaintextScores, type TopK } from './score.js';
import type { FeatureSet, ProgressFn } from './features.js';
import { readBundle, type Bundle } from './bundle.js';
import { decodePixels, nearestNeighbourAttack, type LeakAttackResult } from '../analysis/label-leak.js';
import { Predictor } from './predict.js';
import { trafficBound, type TrafficBound } from './bound.js';
import { selectData, type DataSelection } from './data.js';
import type { SkippedImage } from './screen.js';
import type { CloudSettings } from './session.js';

export type { TopK } from './score.js';

export interface EvalOptions extends ResolveOptions {
  bundle: string | Bundle;
  keys: Key[];
  /** Labelled data; default: the held-out part of the bundle's own data selection. */
  data?: DataSelection;
  cloud?: Partial<CloudSettings>;
  plaintextReference?: boolean;
  /** Reproducible noise for keys whose design adds it: demonstrations only (see ScramblerOptions.noiseSeed). */
  noiseSeed?: string;
  /** Phases encode, scramble, send (see collectFeatures), plaintext (the reference's images sent). */
  onProgress?: ProgressFn;
}

export interface EvalReport {
  bundleKeyIds: string[];
  /** The fitted settings this result depends on: encoders, cloud, image size, how the training data was chosen, IIN configs (seeds included). */
  fitted: Pick<Bundle, 'encoders' | 'cloud' | 'imageSize' | 'data' | 'created'> & { iin: Record<FeatureSet, Bundle['iins']['both']['config']> };
  data: DataSelection & { split: 'test' | 'all' };
  samples: number;
  /** Samples whose label the bundle does not know (left out, counted). */
  skippedUnknownLabel: number;
  /** With badImages 'skip' (given, or the bundle's own): unreadable images left out, with the reason. */
  skippedImages: SkippedImage[];
  classes: number;
  accuracy: Record<FeatureSet, TopK>;
  /** Top-1 with the cloud minus top-1 with the embedding alone, in points of accuracy (0-1 scale). */
  cloudGain: number;
  /** Standard error of the gain, paired over the same images (McNemar): sqrt(b + c - (b - c)²/n) / n. */
  cloudGainStdErr: number;
  plaintext?: PlaintextScores;
  /**
   * A 1-nearest-neighbour attacker on the scrambled pixels with k=5 labelled leaks per class, run on these
   * evaluation images (null when a class has too few images): how well the traffic gives the labels away.
   */
  attack: LeakAttackResult | null;
  /**
   * The any-inverter bound on these evaluation images' embeddings at the first key's noise (src/pipeline/bound.ts):
   * at each k the data allows, and with public class means (null with fewer than two labels).
   */
  bound: TrafficBound | null;
  submissionsSent: number;
  seconds: number;
}

/** Images the attack measurement decodes at most (memory and time stay bounded). */
export const ATTACK_MAX_IMAGES = 2000;

async function evalSamples(bundle: Bundle, data: EvalOptions['data']): Promise<{ samples: Sample[]; skipped: number; skippedImages: SkippedImage[]; selection: EvalReport['data'] }> {
  const sameData = !data || data.path === bundle.data.path;
  const sel: DataSelection = data ?? { path: bundle.data.path, labels: bundle.data.labels, perLabel: bundle.data.perLabel, testFraction: bundle.data.testFraction, seed: bundle.data.seed, badImages: bundle.data.badImages };
  if (sameData) {
    if (bundle.data.testFraction <= 0 && !data) return fail('OWSD_ERR_BAD_ARGUMENT', 'the bundle was fitted on all of its data: give labelled images to evaluate with --data PATH');
    const own = await selectData({ ...sel, labels: bundle.data.labels, perLabel: bundle.data.perLabel, testFraction: bundle.data.testFraction, seed: bundle.data.seed });
    if (own.test.length > 0) return { samples: own.test, skipped: 0, skippedImages: own.skipped.test, selection: { ...own.selection, split: 'test' } };
  }
  const picked = await selectData({ ...sel, testFraction: 0 });
  const index = new Map(bundle.classes.map((c, i) => [c, i]));
  const samples: Sample[] = [];
  let skipped = 0;
  for (const s of picked.train) {
    const i = index.get(picked.dataset.classes[s.label]!);
    if (i === undefined) skipped++;
    else samples.push({ ...s, label: i });
  }
  if (samples.length === 0) return fail('OWSD_ERR_DATASET', `${sel.path}: none of its labels are among the bundle's ${bundle.classes.length} labels`);
  return { samples, skipped, skippedImages: picked.skipped.train, selection: { ...picked.selection, split: 'all' } };
}

export async function evaluate(opts: EvalOptions): Promise<EvalReport> {
  const t0 = performance.now();
  const bundle = typeof opts.bundle === 'string' ? readBundle(opts.bundle) : opts.bundle;
  const { samples, skipped, skippedImages, selection } = await evalSamples(bundle, opts.data);
  const predictor = await Predictor.open({ ...opts, bundle }, ['both', 'embedding', 'cloud']);
  let f: Awaited<ReturnType<Predictor['features']>>;
  let probs: { both: Float32Array; embedding: Float32Array; cloud: Float32Array };
  try {
    f = await predictor.features(samples.map((s) => s.image), samples.map((s) => s.id), samples.length <= ATTACK_MAX_IMAGES, opts.onProgress);
    probs = {
      both: await predictor.probabilities(f, 'both'),
      embedding: await predictor.probabilities(f, 'embedding'),
      cloud: await predictor.probabilities(f, 'cloud'),
    };
  } catch (e) {
    await predictor.close(); // the models released and the keys' unspent blocks given back
    throw e;
  }
  const C = bundle.classes.length;
  const targets = samples.map((s) => s.label);
  const accuracy = {
    both: scoreTopK(probs.both, targets, C),
    embedding: scoreTopK(probs.embedding, targets, C),
    cloud: scoreTopK(probs.cloud, targets, C),
  };
  await predictor.close();
  const gain = pairedGain(probs.both, probs.embedding, targets, C);
  const report: EvalReport = {
    bundleKeyIds: bundle.keyIds,
    fitted: {
      encoders: bundle.encoders,
      cloud: bundle.cloud,
      imageSize: bundle.imageSize,
      data: bundle.data,
      created: bundle.created,
      iin: { both: bundle.iins.both.config, embedding: bundle.iins.embedding.config, cloud: bundle.iins.cloud.config },
    },
    data: selection,
    samples: samples.length,
    skippedUnknownLabel: skipped,
    skippedImages,
    classes: C,
    accuracy,
    cloudGain: accuracy.both.top1 - accuracy.embedding.top1,
    cloudGainStdErr: gain.stdErr,
    attack: f.scrambled ? nearestNeighbourAttack(await decodePixels(f.scrambled), targets, 5, selection.seed) : null,
    bound: await trafficBound(f.embeddings, f.embeddingDim, targets, opts.keys[0]!.generator.embeddingNoise ?? 0, { seed: selection.seed }),
    submissionsSent: f.sent,
    seconds: 0,
  };
  if (opts.plaintextReference) {
    const url = opts.cloud?.url ?? bundle.cloud.url;
    const probe = createPlaintextCloudProbe({ url, modelName: opts.cloud?.modelName ?? bundle.cloud.modelName });
    const meta = (await probe.metadata()) as { labels?: { ids: string[] } };
    const cloudIds = meta.labels?.ids;
    // Dataset label → cloud class.
    const toCloud = cloudIds ? buildLabelMap(bundle.classes, cloudIds, bundle.classNames) : bundle.classes.map(() => -1);
    const vectors: Float32Array[] = [];
    opts.onProgress?.('plaintext', 0, samples.length);
    for await (const part of probe.classifySamples(samples, 64)) {
      vectors.push(...part.vectors);
      opts.onProgress?.('plaintext', vectors.length, samples.length);
    }
    report.plaintext = plaintextScores(probs.both, C, targets, vectors, toCloud);
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
