/**
 * One row of an experiment table: a fixed choice of images, a feature config (encoders, keys, image size, cloud),
 * a split, and the IINs to train. Runs every repetition (a seeded split per seed), trains one IIN per input set
 * on the training part and scores it on the test part, and summarises mean (std) over the repetitions, with the
 * cloud gain, its paired t-test over repetitions, the cloud's plaintext reference and the label-leak attack.
 *
 * Input sets: `both` [embedding, cloud vector(s) of the scrambled image] (the IIN OWSD deploys), `embedding` (no
 * cloud at all), `cloud` (cloud vectors alone); and, as references that need the plaintext image sent to the
 * cloud, `plain-both` [embedding, cloud vector of the PLAINTEXT image] and `plain-cloud`: what the same cloud
 * would add if it could see the image. `both-shuffled` is the control for the cloud gain: the same IIN with every
 * image's cloud vector swapped for another image's (a seeded permutation within the training part and within the
 * test part), so the vectors keep their distribution but carry nothing about the image; a gain that survives the
 * shuffle comes from the wider input, not from the cloud.
 */
import { fail } from '../errors.js';
import { PAPER_BASE_CHANNELS, PAPER_DESIGN } from '../key/keyfile.js';
import { generatorFlops } from '../scrambler/generator.js';
import { createRng, deriveSeed, shuffle } from '../internal/random.js';
import { stratifiedSplit } from '../data/split.js';
import { trainIin, Iin, IIN_DEFAULTS, type IinConfig } from '../iin/index.js';
import type { Features } from '../pipeline/features.js';
import { pairedGain, plaintextScores, scoreTopK, type TopK } from '../pipeline/score.js';
import { meanStd, pairedTTest } from '../analysis/stats.js';
import type { LeakAttackResult } from '../analysis/label-leak.js';
import type { LabelInferenceResult } from '../analysis/label-inference.js';
import type { ExperimentContext, FeatureConfig, Selection } from './context.js';
import { attackCurve, pixelAttack, type AttackSettings } from './attack.js';

export type InputSet = 'both' | 'embedding' | 'cloud' | 'plain-both' | 'plain-cloud' | 'both-shuffled';

export interface Setting {
  /** Stable id inside the experiment (used by the report). */
  id: string;
  /** Row label for tables. */
  label: string;
  selection: Selection;
  features: FeatureConfig;
  testFraction: number;
  /** Keep at most this many training images per label (seeded per repetition); the test part is unchanged. */
  trainPerLabel?: number;
  inputs: InputSet[];
  /** Score the cloud on the plaintext test images and the IIN against the cloud's plaintext prediction. */
  plaintextReference?: boolean;
  /** Run the label-leak attack (default true). */
  attack?: boolean | Partial<AttackSettings>;
  /**
   * Also run every attacker of the attack suite (pixel 1-NN, pooled pixels + class means, cloud-vector 1-NN and
   * logistic regression) at these k (labelled leaks per class), on the same capped subset as `attack`.
   */
  attackCurve?: number[];
  iin?: Partial<IinConfig>;
}

export interface Summary {
  mean: number;
  std: number;
  n: number;
}

export interface RepetitionResult {
  seed: number;
  train: number;
  test: number;
  accuracy: Partial<Record<InputSet, TopK>>;
  /** both − embedding on this repetition's test images, with its paired (McNemar) standard error. */
  cloudGain?: { gain: number; stdErr: number };
  /** plain-both − embedding. */
  plaintextGain?: { gain: number; stdErr: number };
  /** both-shuffled − embedding: the part of the cloud gain that is not the cloud's (should be about 0). */
  shuffledGain?: { gain: number; stdErr: number };
  plaintext?: { mapped: number; cloud: TopK; agreement: TopK };
  epochs: Partial<Record<InputSet, number>>;
  seconds: number;
}

export interface SettingResult {
  id: string;
  label: string;
  selection: Selection & { classes: number; images: number };
  features: Required<Omit<FeatureConfig, 'blocks'>> & Pick<FeatureConfig, 'blocks'>;
  testFraction: number;
  trainPerLabel?: number;
  iin: IinConfig;
  repetitions: RepetitionResult[];
  summary: {
    top1: Partial<Record<InputSet, Summary>>;
    top5: Partial<Record<InputSet, Summary>>;
    cloudGain?: Summary & { tTestP: number };
    plaintextGain?: Summary & { tTestP: number };
    shuffledGain?: Summary & { tTestP: number };
    cloudPlaintextTop1?: Summary;
    cloudPlaintextTop5?: Summary;
    agreementTop1?: Summary;
    agreementTop5?: Summary;
  };
  attack: LeakAttackResult | null;
  /** With `attackCurve`: every attacker at every k. */
  attacks?: LabelInferenceResult[];
  /** The generator's cost per image (all keys of one submission), GFLOP. */
  generatorGflops?: number;
  seconds: number;
}

/** The rows of `f` (and of `plain`) for an input set, as one IIN input matrix. */
function inputMatrix(f: Features, plain: Float32Array[] | undefined, rows: number[], which: InputSet, seed = 0): { x: Float32Array; dim: number } {
  const cw = f.keys * f.cloudDim;
  const parts: Array<(i: number, j: number) => Float32Array> = [];
  if (which === 'both' || which === 'embedding' || which === 'plain-both' || which === 'both-shuffled') parts.push((i) => f.embeddings.subarray(i * f.embeddingDim, (i + 1) * f.embeddingDim));
  if (which === 'both' || which === 'cloud') parts.push((i) => f.cloud.subarray(i * cw, (i + 1) * cw));
  if (which === 'both-shuffled') {
    const other = shuffle([...rows], createRng(deriveSeed(seed, `shuffled-cloud-${rows.length}`)));
    parts.push((_, j) => f.cloud.subarray(other[j]! * cw, (other[j]! + 1) * cw));
  }
  if (which === 'plain-both' || which === 'plain-cloud') {
    if (!plain) fail('OWSD_ERR_BAD_ARGUMENT', `input set ${which} needs the plaintext vectors`);
    parts.push((i) => plain[i]!);
  }
  const dim = parts.reduce((a, p) => a + p(rows[0] ?? 0, 0).length, 0);
  const x = new Float32Array(rows.length * dim);
  rows.forEach((r, j) => {
    let off = j * dim;
    for (const p of parts) {
      const v = p(r, j);
      x.set(v, off);
      off += v.length;
    }
  });
  return { x, dim };
}

function summarise(xs: Array<number | undefined>): Summary | undefined {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return v.length ? meanStd(v) : undefined;
}

function gainSummary(reps: RepetitionResult[], key: 'cloudGain' | 'plaintextGain' | 'shuffledGain', a: InputSet, b: InputSet): (Summary & { tTestP: number }) | undefined {
  const s = summarise(reps.map((r) => r[key]?.gain));
  if (!s) return undefined;
  const xa = reps.map((r) => r.accuracy[a]!.top1);
  const xb = reps.map((r) => r.accuracy[b]!.top1);
  return { ...s, tTestP: xa.length >= 2 ? pairedTTest(xa, xb).p : NaN };
}

export async function runSetting(ctx: ExperimentContext, setting: Setting, seeds: number[]): Promise<SettingResult> {
  const t0 = performance.now();
  const ds = await ctx.select(setting.selection);
  const samples = ds.samples;
  const C = ds.classes.length;
  ctx.log(`${setting.id}: ${setting.label} (${samples.length} images, ${C} labels)`);
  const f = await ctx.features(setting.features, samples);
  const needPlain = setting.plaintextReference || setting.inputs.some((i) => i.startsWith('plain'));
  const plain = needPlain ? await ctx.plaintextVectors(setting.features.dataset, setting.features.cloud, samples) : undefined;
  const toCloud = setting.plaintextReference ? await ctx.cloudLabelMap(setting.features.cloud, ds) : [];
  const labels = Int32Array.from(samples, (s) => s.label);
  const index = new Map(samples.map((s, i) => [s.id, i]));
  const iinConfig: IinConfig = { ...IIN_DEFAULTS, ...setting.iin };
  const repetitions: RepetitionResult[] = [];
  for (const seed of seeds) {
    const r0 = performance.now();
    const split = stratifiedSplit(samples, setting.testFraction, createRng(deriveSeed(seed, 'split')));
    let trainRows = split.train.map((s) => index.get(s.id)!);
    const testRows = split.test.map((s) => index.get(s.id)!);
    if (setting.trainPerLabel !== undefined) {
      const rng = createRng(deriveSeed(seed, `train-per-label-${setting.trainPerLabel}`));
      const byLabel = new Map<number, number[]>();
      for (const r of trainRows) byLabel.set(labels[r]!, [...(byLabel.get(labels[r]!) ?? []), r]);
      trainRows = [...byLabel.values()].flatMap((rows) => shuffle(rows, rng).slice(0, setting.trainPerLabel)).sort((a, b) => a - b);
    }
    const yTrain = Int32Array.from(trainRows, (r) => labels[r]!);
    const targets = testRows.map((r) => labels[r]!);
    const rep: RepetitionResult = { seed, train: trainRows.length, test: testRows.length, accuracy: {}, epochs: {}, seconds: 0 };
    const probs: Partial<Record<InputSet, Float32Array>> = {};
    for (const which of setting.inputs) {
      const tr = inputMatrix(f, plain, trainRows, which, seed);
      const te = inputMatrix(f, plain, testRows, which, seed + 1);
      const trained = await trainIin(tr.x, yTrain, { inputDim: tr.dim, numClasses: C, config: { ...iinConfig, seed } });
      const iin = await Iin.create(trained.weights);
      probs[which] = await iin.predict(te.x, testRows.length);
      await iin.release();
      rep.accuracy[which] = scoreTopK(probs[which]!, targets, C);
      rep.epochs[which] = trained.history.length;
    }
    if (probs.both && probs.embedding) rep.cloudGain = pairedGain(probs.both, probs.embedding, targets, C);
    if (probs['both-shuffled'] && probs.embedding) rep.shuffledGain = pairedGain(probs['both-shuffled'], probs.embedding, targets, C);
    if (probs['plain-both'] && probs.embedding) rep.plaintextGain = pairedGain(probs['plain-both'], probs.embedding, targets, C);
    if (setting.plaintextReference && plain && probs.both) {
      rep.plaintext = plaintextScores(probs.both, C, targets, testRows.map((r) => plain[r]!), toCloud);
    }
    rep.seconds = (performance.now() - r0) / 1000;
    repetitions.push(rep);
    const acc = setting.inputs.map((w) => `${w} ${(rep.accuracy[w]!.top1 * 100).toFixed(1)}`).join(', ');
    ctx.log(`  seed ${seed}: train ${rep.train}, test ${rep.test}: top-1 ${acc} (${rep.seconds.toFixed(1)} s)`);
  }
  const top1: SettingResult['summary']['top1'] = {};
  const top5: SettingResult['summary']['top5'] = {};
  for (const w of setting.inputs) {
    top1[w] = summarise(repetitions.map((r) => r.accuracy[w]?.top1));
    top5[w] = summarise(repetitions.map((r) => r.accuracy[w]?.top5));
  }
  const hasPlain = repetitions.some((r) => r.plaintext && r.plaintext.mapped > 0);
  const attackOpt = setting.attack ?? true;
  const attack = attackOpt === false ? null : await pixelAttack(ctx, setting.features, samples, attackOpt === true ? {} : attackOpt);
  if (attack) ctx.log(`  attack: 1-NN on scrambled pixels, k=${attack.k}: ${(attack.accuracy * 100).toFixed(1)}% (chance ${(attack.chance * 100).toFixed(1)}%)`);
  const attacks = setting.attackCurve ? await attackCurve(ctx, setting.features, samples, f, setting.attackCurve, attackOpt === true || attackOpt === false ? {} : attackOpt) : undefined;
  for (const k of setting.attackCurve ?? []) {
    const best = bestAttack(attacks ?? [], k);
    if (best) ctx.log(`  best attack at k=${k}: ${best.attacker} ${(best.accuracy * 100).toFixed(1)}%`);
  }
  return {
    id: setting.id,
    label: setting.label,
    selection: { ...setting.selection, classes: C, images: samples.length },
    features: { keys: ['k0'], imageSize: 256, baseChannels: PAPER_BASE_CHANNELS, embeddingNoise: 0, keyPool: 1, ...setting.features },
    testFraction: setting.testFraction,
    trainPerLabel: setting.trainPerLabel,
    iin: iinConfig,
    repetitions,
    summary: {
      top1,
      top5,
      cloudGain: setting.inputs.includes('both') && setting.inputs.includes('embedding') ? gainSummary(repetitions, 'cloudGain', 'both', 'embedding') : undefined,
      plaintextGain: setting.inputs.includes('plain-both') && setting.inputs.includes('embedding') ? gainSummary(repetitions, 'plaintextGain', 'plain-both', 'embedding') : undefined,
      shuffledGain: setting.inputs.includes('both-shuffled') && setting.inputs.includes('embedding') ? gainSummary(repetitions, 'shuffledGain', 'both-shuffled', 'embedding') : undefined,
      cloudPlaintextTop1: hasPlain ? summarise(repetitions.map((r) => r.plaintext?.cloud.top1)) : undefined,
      cloudPlaintextTop5: hasPlain ? summarise(repetitions.map((r) => r.plaintext?.cloud.top5)) : undefined,
      agreementTop1: hasPlain ? summarise(repetitions.map((r) => r.plaintext?.agreement.top1)) : undefined,
      agreementTop5: hasPlain ? summarise(repetitions.map((r) => r.plaintext?.agreement.top5)) : undefined,
    },
    attack,
    attacks,
    generatorGflops: setting.features.blocks ? 0 : ((setting.features.keys?.length ?? 1) * generatorFlops(f.embeddingDim, { imageSize: setting.features.imageSize ?? 256, baseChannels: setting.features.baseChannels ?? PAPER_BASE_CHANNELS, design: PAPER_DESIGN })) / 1e9,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The most successful attacker at k (null when none ran at that k). */
export function bestAttack(attacks: readonly LabelInferenceResult[], k: number): LabelInferenceResult | null {
  return attacks.filter((a) => a.k === k).reduce<LabelInferenceResult | null>((b, a) => (b === null || a.accuracy > b.accuracy ? a : b), null);
}
