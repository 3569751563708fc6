/**
 * The label-leak check on a run's own traffic, without sending anything: a capped, seeded subset of the images is
 * scrambled again exactly as the key sends them (fresh noise included, where the key's design adds it) and a
 * 1-nearest-neighbour attacker with k labelled leaks per class labels the rest (src/analysis/label-leak.ts).
 */
import { cappedPerClass, nearestNeighbourAttack, type LeakAttackResult } from '../analysis/label-leak.js';
import { createRng, deriveSeed } from '../internal/random.js';
import type { Scrambler } from '../scrambler/scrambler.js';

export interface TrafficLeakOptions {
  k?: number;
  maxClasses?: number;
  perClass?: number;
  seed: number;
}

export async function trafficLeakAttack(scrambler: Scrambler, embeddings: Float32Array, labels: ArrayLike<number>, opts: TrafficLeakOptions): Promise<LeakAttackResult | null> {
  const k = opts.k ?? 5;
  const d = scrambler.inputDim;
  const all = Array.from({ length: labels.length }, (_, i) => i);
  const rows = cappedPerClass(all, (i) => labels[i]!, opts.maxClasses ?? 20, opts.perClass ?? 30, createRng(deriveSeed(opts.seed, 'traffic-leak')));
  if (rows.length === 0) return null;
  const emb = new Float32Array(rows.length * d);
  rows.forEach((r, j) => emb.set(embeddings.subarray(r * d, (r + 1) * d), j * d));
  const per = scrambler.imageSize * scrambler.imageSize * 3;
  const pixels = await scrambler.pixels(emb, rows.length);
  const vectors = rows.map((_, j) => pixels.subarray(j * per, (j + 1) * per));
  return nearestNeighbourAttack(vectors, rows.map((r) => labels[r]!), k, opts.seed);
}
