/**
 * The label-leak attack beside every accuracy the suite reports: an observer of the traffic who knows the labels of
 * k scrambled images per class labels the others by 1-nearest-neighbour on their pixels (src/analysis/label-leak.ts).
 * Measured on a capped, seeded subset (at most `maxClasses` classes and `perClass` images each) so that it costs
 * seconds; the pixels are the generator's exact output, i.e. the decoded PNGs the cloud receives.
 */
import { createRng, deriveSeed } from '../internal/random.js';
import { cappedPerClass, nearestNeighbourAttack, type LeakAttackResult } from '../analysis/label-leak.js';
import { labelInferenceCurve, type LabelInferenceResult } from '../analysis/label-inference.js';
import type { Features } from '../pipeline/features.js';
import type { Sample } from '../types.js';
import { poolKeyOf, type ExperimentContext, type FeatureConfig } from './context.js';

export interface AttackSettings {
  k: number;
  maxClasses: number;
  perClass: number;
  seed: number;
}

export const ATTACK_DEFAULTS: AttackSettings = { k: 5, maxClasses: 20, perClass: 30, seed: 0 };

/** The capped, seeded subset the attacks run on: at most `maxClasses` classes of at most `perClass` images. */
function attackSubset(samples: Sample[], s: AttackSettings): Sample[] {
  return cappedPerClass(samples, (x) => x.label, s.maxClasses, s.perClass, createRng(deriveSeed(s.seed, 'experiment-attack')));
}

export async function pixelAttack(ctx: ExperimentContext, cfg: FeatureConfig, samples: Sample[], settings: Partial<AttackSettings> = {}): Promise<LeakAttackResult | null> {
  const s = { ...ATTACK_DEFAULTS, ...settings };
  const chosen = attackSubset(samples, s);
  const vectors = await scrambledPixels(ctx, cfg, chosen);
  return nearestNeighbourAttack(vectors, chosen.map((x) => x.label), s.k, s.seed);
}

/**
 * Every attacker of the suite (labelInferenceCurve) at each k, on the same subset as `pixelAttack`: the scrambled
 * pixels the observer sees, and the cloud's answers to the scrambled images (the first key's columns of `f`,
 * whose rows follow `samples`).
 */
export async function attackCurve(ctx: ExperimentContext, cfg: FeatureConfig, samples: Sample[], f: Features, ks: number[], settings: Partial<AttackSettings> = {}): Promise<LabelInferenceResult[]> {
  const s = { ...ATTACK_DEFAULTS, ...settings };
  const chosen = attackSubset(samples, s);
  const row = new Map(samples.map((x, i) => [x, i]));
  const cw = f.keys * f.cloudDim;
  const cloud = chosen.map((x) => f.cloud.slice(row.get(x)! * cw, row.get(x)! * cw + f.cloudDim));
  const pixels = await scrambledPixels(ctx, cfg, chosen);
  return labelInferenceCurve({ pixels, cloud, labels: chosen.map((x) => x.label), imageSize: cfg.imageSize ?? 256 }, ks, s.seed);
}

/**
 * The scrambled pixels the observer sees for each sample under a config: the first key's (or, with a key pool,
 * each image's pool key's), with the config's noise.
 */
export async function scrambledPixels(ctx: ExperimentContext, cfg: FeatureConfig, samples: Sample[]): Promise<Uint8Array[]> {
  if (cfg.blocks) return ctx.blockScrambled(cfg, samples);
  const source = await ctx.embeddingSource(cfg.encoders);
  const size = cfg.imageSize ?? 256;
  const per = size * size * 3;
  const pool = cfg.keyPool ?? 1;
  const vectors = new Array<Uint8Array>(samples.length);
  const groups = Array.from({ length: pool }, () => [] as number[]);
  samples.forEach((x, i) => groups[pool > 1 ? poolKeyOf(x.image, pool) : 0]!.push(i));
  for (const [k, rows] of groups.entries()) {
    const scrambler = await ctx.scrambler(pool > 1 ? `k${k}` : (cfg.keys ?? ['k0'])[0]!, size, source.dim, { baseChannels: cfg.baseChannels, embeddingNoise: cfg.embeddingNoise });
    for (let i = 0; i < rows.length; i += 32) {
      const batch = rows.slice(i, i + 32);
      const px = await scrambler.pixels(await source.encode(batch.map((r) => samples[r]!.image)), batch.length);
      batch.forEach((r, j) => (vectors[r] = px.slice(j * per, (j + 1) * per)));
    }
  }
  return vectors;
}
