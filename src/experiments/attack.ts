/**
 * The label-leak attack beside every accuracy the suite reports: an observer of the traffic who knows the labels of
 * k scrambled images per class labels the others by 1-nearest-neighbour on their pixels (src/analysis/label-leak.ts).
 * Measured on a capped, seeded subset (at most `maxClasses` classes and `perClass` images each) so that it costs
 * seconds; the pixels are the generator's exact output, i.e. the decoded PNGs the cloud receives.
 */
import { createRng, deriveSeed, shuffle } from '../internal/random.js';
import { nearestNeighbourAttack, type LeakAttackResult } from '../analysis/label-leak.js';
import type { Sample } from '../types.js';
import { poolKeyOf, type ExperimentContext, type FeatureConfig } from './context.js';

export interface AttackSettings {
  k: number;
  maxClasses: number;
  perClass: number;
  seed: number;
}

export const ATTACK_DEFAULTS: AttackSettings = { k: 5, maxClasses: 20, perClass: 30, seed: 0 };

export async function pixelAttack(ctx: ExperimentContext, cfg: FeatureConfig, samples: Sample[], settings: Partial<AttackSettings> = {}): Promise<LeakAttackResult | null> {
  const s = { ...ATTACK_DEFAULTS, ...settings };
  const rng = createRng(deriveSeed(s.seed, 'experiment-attack'));
  const byClass = new Map<number, Sample[]>();
  for (const x of samples) byClass.set(x.label, [...(byClass.get(x.label) ?? []), x]);
  const classes = shuffle([...byClass.keys()], rng).slice(0, s.maxClasses);
  const chosen = classes.flatMap((c) => shuffle([...byClass.get(c)!], rng).slice(0, s.perClass));
  const vectors = await scrambledPixels(ctx, cfg, chosen);
  return nearestNeighbourAttack(vectors, chosen.map((x) => x.label), s.k, s.seed);
}

/**
 * The scrambled pixels the observer sees for each sample under a config: the first key's (or, with a key pool,
 * each image's pool key's), with the config's noise.
 */
export async function scrambledPixels(ctx: ExperimentContext, cfg: FeatureConfig, samples: Sample[]): Promise<Uint8Array[]> {
  const source = await ctx.scramblerInput(cfg);
  const size = cfg.imageSize ?? 256;
  const per = size * size * 3;
  const pool = cfg.keyPool ?? 1;
  const vectors = new Array<Uint8Array>(samples.length);
  const groups = Array.from({ length: pool }, () => [] as number[]);
  samples.forEach((x, i) => groups[pool > 1 ? poolKeyOf(x.image, pool) : 0]!.push(i));
  for (const [k, rows] of groups.entries()) {
    const scrambler = await ctx.scrambler(pool > 1 ? `k${k}` : (cfg.keys ?? ['k0'])[0]!, size, source.dim);
    for (let i = 0; i < rows.length; i += 32) {
      const batch = rows.slice(i, i + 32);
      const px = await scrambler.pixels(await source.encode(batch.map((r) => samples[r]!.image)), batch.length);
      batch.forEach((r, j) => (vectors[r] = px.slice(j * per, (j + 1) * per)));
    }
  }
  return vectors;
}
