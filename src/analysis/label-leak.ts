/**
 * Label inference from the traffic: an observer (the cloud, or anyone on the wire) who knows the true labels of
 * k scrambled images per class labels the other scrambled images by 1-nearest-neighbour on their pixels. A
 * deterministic, continuous generator keeps neighbourhoods, so this works far above chance unless the design
 * prevents it. Its accuracy is the real confidentiality of the labels.
 */
import sharp from 'sharp';
import { fail } from '../errors.js';
import { createRng, deriveSeed, shuffle, type Rng } from '../internal/random.js';

export interface LeakAttackResult {
  k: number;
  /** Share of the non-leaked images the attacker labels correctly. */
  accuracy: number;
  /** 1 / number of classes. */
  chance: number;
  queries: number;
  classes: number;
  seed: number;
}

/** Decode scrambled PNGs to float pixel vectors (the attacker sees exactly these bytes). */
export async function decodePixels(pngs: Uint8Array[]): Promise<Float32Array[]> {
  return Promise.all(
    pngs.map(async (p) => {
      const raw = await sharp(p).raw().toBuffer();
      return Float32Array.from(raw);
    }),
  );
}

/** A feature vector the attacker compares: decoded pixels (bytes or floats) or any other features. */
export type AttackVector = Float32Array | Uint8Array;

/** Squared Euclidean distance. */
export function sqDist(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return s;
}

/** Which rows are leaked (labels known to the attacker) and which are queried. */
/**
 * A capped, seeded subset of labelled items for an attack measurement: at most `maxClasses` classes (a seeded
 * choice, in order of first appearance before shuffling) and at most `perClass` items of each (seeded), so the
 * attack costs seconds however large the data set.
 */
export function cappedPerClass<T>(items: readonly T[], labelOf: (x: T) => number, maxClasses: number, perClass: number, rng: Rng): T[] {
  const byClass = new Map<number, T[]>();
  for (const x of items) {
    const l = labelOf(x);
    let list = byClass.get(l);
    if (!list) byClass.set(l, (list = []));
    list.push(x);
  }
  const classes = shuffle([...byClass.keys()], rng).slice(0, maxClasses);
  return classes.flatMap((c) => shuffle([...byClass.get(c)!], rng).slice(0, perClass));
}

export interface LeakSplit {
  /** Row indices whose labels the attacker knows. */
  leaked: number[];
  /** Row indices the attacker labels. */
  queries: number[];
  classes: number;
}

/** Row indices per label, in row order, keyed in order of first appearance. */
export function rowsByClass(labels: readonly number[]): Map<number, number[]> {
  const byClass = new Map<number, number[]>();
  labels.forEach((l, i) => {
    const list = byClass.get(l);
    if (list) list.push(i);
    else byClass.set(l, [i]);
  });
  return byClass;
}

/** k labelled leaks per class (seeded choice), the rest queries. Classes with k or fewer rows give leaks only. */
export function leakSplit(labels: readonly number[], k: number, seed: number): LeakSplit {
  if (!Number.isInteger(k) || k < 1) fail('OWSD_ERR_BAD_ARGUMENT', `label inference: k must be a positive integer (got ${k})`);
  const rng = createRng(deriveSeed(seed, `leak-attack-k${k}`));
  const byClass = rowsByClass(labels);
  const leaked: number[] = [];
  const queries: number[] = [];
  for (const idx of byClass.values()) {
    const order = shuffle([...idx], rng);
    leaked.push(...order.slice(0, k));
    queries.push(...order.slice(k));
  }
  return { leaked, queries, classes: byClass.size };
}

/**
 * k labelled leaks per class (seeded choice), 1-NN on the rest. Classes with k or fewer images contribute leaks
 * only. Returns null when no class has a query left.
 */
export function nearestNeighbourAttack(
  vectors: readonly AttackVector[],
  labels: readonly number[],
  k: number,
  seed: number,
  /** The queries as the attacker sees them, when they differ from the leaks (e.g. scrambled with another key). */
  queryVectors: readonly AttackVector[] = vectors,
): LeakAttackResult | null {
  const { leaked, queries, classes } = leakSplit(labels, k, seed);
  if (queries.length === 0) return null;
  let correct = 0;
  for (const q of queries) {
    let best = -1;
    let bestD = Infinity;
    for (const l of leaked) {
      const d = sqDist(queryVectors[q]!, vectors[l]!);
      if (d < bestD) {
        bestD = d;
        best = l;
      }
    }
    if (labels[best] === labels[q]) correct++;
  }
  return { k, accuracy: correct / queries.length, chance: 1 / classes, queries: queries.length, classes, seed };
}
