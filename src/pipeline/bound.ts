/**
 * The any-inverter bound on a run's own data (fit, eval, demo): what an observer who could invert the scrambler
 * perfectly would learn about the labels. It sees the generator's input z = e + σ·rms(e)·n, drawn exactly as the
 * scrambler draws it (`addSubmissionNoise`, σ the key's `embeddingNoise`), for a capped, seeded subset of the
 * run's own embeddings; nothing is scrambled or sent. The attacks are src/analysis/bound.ts's, as in the bound
 * study (src/experiments/bound.ts, `boundRow`): PCA on all the traffic (16 and 64 components), the best of several
 * classifiers at k = 1, 5, 20 labelled submissions per class (a k is reported only when every class has at least
 * k + 5 images, so that at least five per class are scored), and, with no leak at all, class means from a
 * "public" set: a disjoint half of the same images (clean embeddings, seeded per-class split), the other half as
 * traffic.
 *
 * With `checkRule` (fit), the k = 20 figure is held against the default noise rule (`DEFAULT_NOISE_RULE` in src/analysis/bound.ts,
 * κ ≤ 1/9 at k = 20; src/experiments/noise-choice.ts applies it to the study); when it fails, the same embeddings are tried at the larger noises of the study's grid and
 * the smallest that meets the rule is named.
 */
import {
  addSubmissionNoise,
  BOUND_CLASSIFIERS,
  BOUND_COMPONENTS,
  BOUND_NOISES,
  boundPercent,
  DEFAULT_NOISE_RULE,
  inverterSentence,
  labelBound,
  NOISE_RULE_K,
  noiseRuleLimit,
  noiseSource,
  publicMeansBound,
  publicSplit,
  trafficComponents,
  type NoiseRule,
} from '../analysis/bound.js';
import { cappedPerClass } from '../analysis/label-leak.js';
import { dense, takeRows, type Dense } from '../analysis/numerics/matrix.js';
import { createRng, deriveSeed } from '../internal/random.js';

/** The leaks per class the bound is reported at. */
export const TRAFFIC_BOUND_KS = [1, 5, 20] as const;
/** Embeddings the bound uses at most (seeded, balanced per class): it must cost only a few seconds. */
export const TRAFFIC_BOUND_MAX_IMAGES = 1000;
/** A k is reported only when every class has at least k + this many images. */
export const TRAFFIC_BOUND_MIN_QUERIES = 5;
/** Public means need this many images in every class (two public, two traffic at least). */
export const PUBLIC_MEANS_MIN_PER_CLASS = 4;

export interface TrafficBoundRule {
  rule: NoiseRule;
  k: number;
  /** The accuracy the k = 20 figure must stay under. */
  limit: number;
  ok: boolean;
  /** When not ok: the smallest larger noise of the grid whose k = 20 figure meets the rule here (null: none of the grid). */
  suggestedNoise: number | null;
  /** The k = 20 figure at each noise tried. */
  tried: Array<{ noise: number; accuracy: number }>;
}

export interface TrafficBound {
  /** The key's per-submission noise σ (multiple of the embedding's RMS). */
  noise: number;
  classes: number;
  chance: number;
  /** Embeddings used (capped, seeded). */
  images: number;
  /** Best any-inverter label accuracy with k labelled submissions per class, for each k the data allows. */
  k: Record<string, number>;
  /** Scored submissions at each k. */
  queries: Record<string, number>;
  /**
   * Label accuracy with no leak, from class means of a disjoint "public" half of the same images; null when a
   * class has fewer than PUBLIC_MEANS_MIN_PER_CLASS images or the public half's scatter is singular (said in
   * `publicMeansNote`).
   */
  publicMeans: number | null;
  publicMeansNote?: string;
  publicImages: number;
  trafficImages: number;
  /** Present when the rule was checked (fit). */
  rule?: TrafficBoundRule;
  seconds: number;
}

export interface TrafficBoundOptions {
  seed: number;
  maxImages?: number;
  checkRule?: boolean;
}

/** Best any-inverter label accuracy at each k on z (n x d), and the scored counts. */
async function labelFigures(z: Dense, labels: number[], ks: readonly number[], seed: number): Promise<Map<number, { accuracy: number; queries: number }>> {
  const out = new Map<number, { accuracy: number; queries: number }>();
  const tcs = [];
  for (const p of BOUND_COMPONENTS) tcs.push(await trafficComponents(z, Math.min(p, z.rows - 1, z.cols), seed));
  for (const k of ks) {
    for (const tc of tcs) {
      const r = await labelBound(tc, labels, k, seed).catch((err: unknown) => {
        // Shrinkage LDA is undefined when the leaks' scatter is singular (identical images, no noise): the other
        // classifiers still count.
        if (!singular(err)) throw err;
        return labelBound(tc, labels, k, seed, { classifiers: BOUND_CLASSIFIERS.filter((c) => c !== 'lda') });
      });
      if (!r) continue;
      const prev = out.get(k);
      if (!prev || r.best.accuracy > prev.accuracy) out.set(k, { accuracy: r.best.accuracy, queries: r.best.queries });
    }
  }
  return out;
}

const singular = (err: unknown): boolean => (err as { code?: string }).code === 'OWSD_ERR_BAD_ARGUMENT' && /not positive definite/.test((err as Error).message);

function noisy(e: Dense, sigma: number, seed: number): Dense {
  return dense(e.rows, e.cols, addSubmissionNoise(e.data, e.rows, e.cols, sigma, noiseSource(`traffic bound ${sigma} ${seed}`, 0)));
}

/**
 * The any-inverter bound on `embeddings` (n x d, row-major) with `labels`, at the key's noise `sigma`. Returns null
 * when there are fewer than two classes with at least two images.
 */
export async function trafficBound(embeddings: Float32Array, d: number, labels: ArrayLike<number>, sigma: number, opts: TrafficBoundOptions): Promise<TrafficBound | null> {
  const t0 = performance.now();
  const n = labels.length;
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) counts.set(labels[i]!, (counts.get(labels[i]!) ?? 0) + 1);
  const classes = [...counts.keys()].filter((c) => counts.get(c)! >= 2);
  if (classes.length < 2) return null;
  const perClass = Math.max(2, Math.floor((opts.maxImages ?? TRAFFIC_BOUND_MAX_IMAGES) / classes.length));
  const keep = new Set(classes);
  const all = Array.from({ length: n }, (_, i) => i).filter((i) => keep.has(labels[i]!));
  const rows = cappedPerClass(all, (i) => labels[i]!, classes.length, perClass, createRng(deriveSeed(opts.seed, 'traffic-bound'))).sort((a, b) => a - b);
  const y = rows.map((r) => labels[r]!);
  const e = takeRows(dense(n, d, embeddings), rows);
  const used = new Map<number, number>();
  for (const l of y) used.set(l, (used.get(l) ?? 0) + 1);
  const smallest = Math.min(...used.values());
  const ks = TRAFFIC_BOUND_KS.filter((k) => smallest >= k + TRAFFIC_BOUND_MIN_QUERIES);
  const z = noisy(e, sigma, opts.seed);
  const figures = await labelFigures(z, y, ks, opts.seed);
  const { publicRows, trafficRows } = publicSplit(y, opts.seed);
  let publicMeans: number | null = null;
  let publicMeansNote: string | undefined;
  if (smallest < PUBLIC_MEANS_MIN_PER_CLASS) publicMeansNote = `a class has ${smallest} images; public means need ${PUBLIC_MEANS_MIN_PER_CLASS}`;
  else {
    try {
      const pm = await publicMeansBound(takeRows(z, trafficRows), trafficRows.map((i) => y[i]!), takeRows(e, publicRows), publicRows.map((i) => y[i]!), sigma, opts.seed);
      publicMeans = pm.best.accuracy;
    } catch (err) {
      // A singular public scatter (e.g. identical images and no noise): the figure is not defined, the run goes on.
      if (!singular(err)) throw err;
      publicMeansNote = (err as Error).message;
    }
  }
  const chance = 1 / classes.length;
  const out: TrafficBound = {
    noise: sigma,
    classes: classes.length,
    chance,
    images: rows.length,
    k: Object.fromEntries([...figures].map(([k, f]) => [String(k), f.accuracy])),
    queries: Object.fromEntries([...figures].map(([k, f]) => [String(k), f.queries])),
    publicMeans,
    ...(publicMeansNote ? { publicMeansNote } : {}),
    publicImages: publicRows.length,
    trafficImages: trafficRows.length,
    seconds: 0,
  };
  const at = figures.get(NOISE_RULE_K);
  if (opts.checkRule && at) {
    const limit = noiseRuleLimit(DEFAULT_NOISE_RULE, chance);
    const tried = [{ noise: sigma, accuracy: at.accuracy }];
    let suggestedNoise: number | null = null;
    const ok = at.accuracy < limit;
    if (!ok) {
      for (const s of BOUND_NOISES.filter((x) => x > sigma)) {
        const f = (await labelFigures(noisy(e, s, opts.seed), y, [NOISE_RULE_K], opts.seed)).get(NOISE_RULE_K);
        if (!f) break;
        tried.push({ noise: s, accuracy: f.accuracy });
        if (f.accuracy < limit) {
          suggestedNoise = s;
          break;
        }
      }
    }
    out.rule = { rule: DEFAULT_NOISE_RULE, k: NOISE_RULE_K, limit, ok, suggestedNoise, tried };
  }
  out.seconds = (performance.now() - t0) / 1000;
  return out;
}

const pc = boundPercent;

/**
 * The any-inverter bound in plain words and, when fit checked the default noise rule and the figure exceeds it, the
 * warning naming the noise that would meet it. `owsd fit` / `eval` / `demo` print it (src/cli/render.ts) and the
 * gateway's status and key page show it (src/server/gateway.ts), so both say the same words.
 */
export function boundSentences(b: TrafficBound): string[] {
  const ks = Object.keys(b.k).map(Number).sort((x, y) => x - y);
  const noise = b.noise > 0 ? `noise ${b.noise}x` : 'no noise';
  const out = [
    `any-inverter bound (key ${noise}; ${b.images} of these images, seeded): ${inverterSentence(ks.map((k) => ({ k, accuracy: b.k[String(k)]! })), b.chance)}${b.publicMeans === null ? '' : `; knowing no label, only public images of your classes (here: ${b.publicImages} other images of this run), ${pc(b.publicMeans)}`}`,
  ];
  const r = b.rule;
  if (r && !r.ok) {
    const fix = r.suggestedNoise !== null
      ? `a key made with \`owsd key new --noise ${r.suggestedNoise}\` would meet it here (${r.suggestedNoise}x: ${pc(r.tried.find((t) => t.noise === r.suggestedNoise)!.accuracy)})`
      : `no noise up to ${Math.max(...r.tried.map((t) => t.noise))}x meets it here (${r.tried.map((t) => `${t.noise}x: ${pc(t.accuracy)}`).join(', ')})`;
    out.push(`Warning: with ${r.k} labels per class that is above the default noise rule's limit of ${pc(r.limit)} on this data (docs/leak-bound.md); ${fix}.`);
  }
  return out;
}

/** What the gateway says for a bundle fitted before fit stored its bound. */
export const BOUND_NOT_MEASURED = 'not measured (refit with this version)';
/** What it says when fit stored no bound because the data had fewer than two classes with two images. */
export const BOUND_TOO_FEW = 'not measured (fewer than two classes with at least two training images)';

/** The bound a bundle stored (`bundle.bound`: undefined before fit stored it, null when fit could not measure it) in plain words. */
export function boundText(b: TrafficBound | null | undefined): string {
  if (b === undefined) return BOUND_NOT_MEASURED;
  if (b === null) return BOUND_TOO_FEW;
  return boundSentences(b).join(' ');
}
