/**
 * The label-leak attack beside every accuracy the suite reports: an observer of the traffic who knows the labels of
 * k scrambled images per class labels the others by 1-nearest-neighbour on their pixels (src/analysis/label-leak.ts).
 * Measured on a capped, seeded subset (at most `maxClasses` classes and `perClass` images each) so that it costs
 * seconds; the pixels are the generator's exact output, i.e. the decoded PNGs the cloud receives.
 */
import { createRng, deriveSeed, shuffle } from '../internal/random.js';
import { nearestNeighbourAttack, type LeakAttackResult } from '../analysis/label-leak.js';
import type { Sample } from '../types.js';
import type { ExperimentContext, FeatureConfig } from './context.js';

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
  const source = await ctx.embeddingSource(cfg.encoders);
  const size = cfg.imageSize ?? 256;
  const scrambler = await ctx.scrambler((cfg.keys ?? ['k0'])[0]!, size, source.dim);
  const per = size * size * 3;
  const vectors: Uint8Array[] = [];
  for (let i = 0; i < chosen.length; i += 32) {
    const batch = chosen.slice(i, i + 32);
    const px = await scrambler.pixels(await source.encode(batch.map((x) => x.image)), batch.length);
    for (let j = 0; j < batch.length; j++) vectors.push(px.slice(j * per, (j + 1) * per));
  }
  return nearestNeighbourAttack(vectors, chosen.map((x) => x.label), s.k, s.seed);
}
