/**
 * Defences against the label-leak attack, each measured for both accuracy (the IIN, and its cloud gain) and attack
 * success (1-NN on scrambled pixels with k=5 labelled leaks per class):
 * - randomised scrambling: fresh Gaussian noise added to the embedding before each submission (σ as a multiple of
 *   the embedding's RMS); the IIN keeps the clean embedding;
 * - a key pool: each image scrambled with one of P keys, chosen by a hash of the image;
 * - key rotation: leaks labelled under the old key, queries scrambled under the new one.
 * Settings: the default design (MobileNetV2 encoder) and, on Imagenette, a weak encoder (MobileNet v1 0.25) with a
 * strong cloud (MobileNetV2), where the cloud does add accuracy.
 */
import { createRng, deriveSeed, shuffle } from '../internal/random.js';
import { nearestNeighbourAttack, type LeakAttackResult } from '../analysis/label-leak.js';
import type { Sample } from '../types.js';
import { CIFAR10_CLOUD, ENCODER, IMAGENET_CLOUD, WEAK_ENCODER } from './catalog.js';
import type { ExperimentContext, FeatureConfig } from './context.js';
import { runSetting, type Setting, type SettingResult } from './setting.js';
import { scrambledPixels } from './attack.js';

export type SecurityDataset = 'cifar-10' | 'imagenette-val';

export interface RotationResult {
  config: string;
  /** Leaks and queries under the same key. */
  sameKey: LeakAttackResult | null;
  /** Leaks under key k0, queries under key k1 (after rotation). */
  afterRotation: LeakAttackResult | null;
}

export interface DefenceResult {
  dataset: SecurityDataset;
  settings: SettingResult[];
  rotation: RotationResult[];
  seconds: number;
}

function baseConfigs(dataset: SecurityDataset): Array<{ name: string; features: FeatureConfig }> {
  if (dataset === 'cifar-10') return [{ name: 'MobileNetV2 encoder, ResNet-20 cloud', features: { dataset, encoders: [ENCODER], cloud: CIFAR10_CLOUD } }];
  return [
    { name: 'MobileNetV2 encoder, ShuffleNetV2 cloud', features: { dataset, encoders: [ENCODER], cloud: IMAGENET_CLOUD } },
    { name: 'weak encoder MobileNet v1 0.25, MobileNetV2 cloud', features: { dataset, encoders: [WEAK_ENCODER], cloud: ENCODER } },
  ];
}

export function defenceSettings(dataset: SecurityDataset, quick: boolean): Setting[] {
  const selection = { dataset, perLabel: quick ? 8 : 50 };
  const noises = quick ? [0, 1] : [0, 1, 2, 4];
  const pools = quick ? [2] : [2, 4];
  const out: Setting[] = [];
  for (const [c, base] of baseConfigs(dataset).entries()) {
    const common = { selection, testFraction: 0.3, inputs: ['both', 'embedding', 'cloud'] as Setting['inputs'] };
    for (const noise of noises) {
      out.push({ ...common, id: `c${c}-noise-${noise}`, label: `${base.name}; embedding noise ${noise}x RMS`, features: { ...base.features, embeddingNoise: noise } });
    }
    for (const pool of pools) {
      out.push({ ...common, id: `c${c}-pool-${pool}`, label: `${base.name}; pool of ${pool} keys`, features: { ...base.features, keyPool: pool } });
    }
  }
  return out;
}

async function rotationAttack(ctx: ExperimentContext, cfg: FeatureConfig, samples: Sample[], seed: number): Promise<Omit<RotationResult, 'config'>> {
  const rng = createRng(deriveSeed(seed, 'rotation-attack'));
  const chosen = shuffle([...samples], rng).slice(0, 300);
  const labels = chosen.map((s) => s.label);
  const before = await scrambledPixels(ctx, { ...cfg, keys: ['k0'] }, chosen);
  const after = await scrambledPixels(ctx, { ...cfg, keys: ['k1'] }, chosen);
  return {
    sameKey: nearestNeighbourAttack(before, labels, 5, seed),
    afterRotation: nearestNeighbourAttack(before, labels, 5, seed, after),
  };
}

export async function runDefenceStudy(ctx: ExperimentContext, opts: { dataset: SecurityDataset; quick: boolean; seeds: number[] }): Promise<DefenceResult> {
  const t0 = performance.now();
  const settings: SettingResult[] = [];
  for (const s of defenceSettings(opts.dataset, opts.quick)) {
    settings.push(await runSetting(ctx, opts.quick ? { ...s, iin: { epochs: 5 } } : s, opts.seeds));
  }
  const rotation: RotationResult[] = [];
  const ds = await ctx.select({ dataset: opts.dataset, perLabel: opts.quick ? 8 : 50 });
  for (const base of baseConfigs(opts.dataset)) {
    rotation.push({ config: base.name, ...(await rotationAttack(ctx, base.features, ds.samples, opts.seeds[0] ?? 0)) });
  }
  return { dataset: opts.dataset, settings, rotation, seconds: (performance.now() - t0) / 1000 };
}
