/**
 * A key's two budgets.
 *
 * 1. The LEAK budget (the labelled leaks per class a key tolerates, from the any-inverter bound; bottom of this
 *    file): at the key's noise, the largest k of the bound study (1, 5, 20, 100 labelled submissions per class) at
 *    which an observer who could invert the scrambler perfectly still labels the traffic under the default noise
 *    rule's limit (κ ≤ 1/9: twice chance on ten classes) on every data set x encoder measured. `owsd key show`
 *    prints it (`leakBudgetSentences`); `LEAK_BUDGETS` is pinned to reports/security/bound/results.json. It bounds
 *    every traffic attacker of that kind, measured or not; it does not cover public class means or
 *    re-identification, which the same lines state.
 * 2. The SUBMISSION budget (`DEFAULT_BUDGET`), derived from measured known-plaintext attack curves, below.
 *
 * The rule (stated in SECURITY.md, applied to `owsd analyze`'s results and pinned by a test against the committed
 * reports, so `DEFAULT_BUDGET` cannot drift from what was measured):
 * - the attacks that count are those against what OWSD claims to protect, the image itself: reconstructing it
 *   (`plaintextPsnr`: the inverted image beats the mean image by 1 dB) and re-identifying it from the
 *   reconstruction (`plaintextReid`: top-1 among 100 candidates above 10x chance). The linking attacks (a recovered
 *   embedding or a surrogate generator matched against candidates the attacker already holds) cross their
 *   thresholds at the smallest N measured: no budget that can train an IIN stops them, and the docs say so;
 * - for each dataset and counted attack, the largest measured number of leaked pairs N at which the attack was
 *   still below its threshold (`lastSafe`; the smallest measured N halved when even that crossed);
 * - the least of these over datasets and attacks, divided by the share of submissions whose plaintext the attacker
 *   is assumed to know (default 1 in 10), rounded down to one significant figure.
 */
import { fail } from '../errors.js';
import type { CurveCrossing } from './inversion.js';
import { DEFAULT_NOISE_RULE, inverterSentence, noiseRuleLimit, type NoiseRule } from './bound.js';

export interface BudgetRule {
  /** Threshold names (as in the inversion study's `budgets.thresholds`) that count. */
  attacks: string[];
  /** Share of a key's submissions whose plaintext the attacker is assumed to hold, in (0, 1]. */
  leakFraction: number;
}

export const BUDGET_RULE: BudgetRule = { attacks: ['plaintextPsnr', 'plaintextReid'], leakFraction: 0.1 };

export interface BudgetEvidence {
  dataset: string;
  thresholds: Record<string, CurveCrossing>;
}

export interface DerivedBudget {
  budget: number;
  /** The binding attack: the dataset and attack whose safe N set the budget. */
  binding: { dataset: string; attack: string; safePairs: number };
  rule: BudgetRule;
  /** Every (dataset, attack) considered, with the largest N measured safe. */
  considered: Array<{ dataset: string; attack: string; safePairs: number | null }>;
}

/** Largest leaked-pair count known safe for one crossing: `lastSafe`; half the smallest N if that already crossed; null if never crossed. */
function safePairs(c: CurveCrossing): number | null {
  if (c.n === null) return null;
  if (c.crossedAtSmallest || c.lastSafe === null) return c.n / 2;
  return c.lastSafe;
}

function floorOneFigure(x: number): number {
  if (x < 1) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  return Math.floor(x / p) * p;
}

export function deriveBudget(evidence: BudgetEvidence[], rule: BudgetRule = BUDGET_RULE): DerivedBudget {
  if (!(rule.leakFraction > 0 && rule.leakFraction <= 1)) fail('OWSD_ERR_BAD_ARGUMENT', `leakFraction must be in (0, 1], got ${rule.leakFraction}`);
  const considered: DerivedBudget['considered'] = [];
  for (const e of evidence) {
    for (const attack of rule.attacks) {
      const c = e.thresholds[attack];
      if (c) considered.push({ dataset: e.dataset, attack, safePairs: safePairs(c) });
    }
  }
  const bounded = considered.filter((c): c is { dataset: string; attack: string; safePairs: number } => c.safePairs !== null);
  if (considered.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', `no measured curve for ${rule.attacks.join(', ')}: run owsd analyze with its inversion part first`);
  if (bounded.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', `no counted attack crossed its threshold over the measured range: the curves set no budget`);
  const binding = bounded.reduce((a, b) => (b.safePairs < a.safePairs ? b : a));
  return { budget: floorOneFigure(binding.safePairs / rule.leakFraction), binding, rule, considered };
}

// ---------------------------------------------------------------------------------------------------------------
// The leak budget: labelled leaks per class a key tolerates, from the any-inverter bound

/**
 * One row of the any-inverter bound study (`owsd analyze bound`, reports/security/bound/results.json; the study's
 * `BoundRow` has these fields): the best label accuracy on the generator's input at each k, with no leak from
 * public class means, and re-identification among 100 candidates.
 */
export interface BoundEvidenceRow {
  dataset: string;
  encoder: string;
  noise: number;
  chance: number;
  label: ReadonlyArray<{ k: number; accuracy: number; queries?: number }>;
  publicMeans: { accuracy: number };
  reidentification: { top1: number; chance: number };
}

/** One (data set, encoder) figure the leak budget names. */
export interface LeakFigure {
  dataset: string;
  encoder: string;
  k: number;
  accuracy: number;
  chance: number;
  /** The accuracy the rule allows (`noiseRuleLimit`). */
  limit: number;
}

/** The labelled leaks per class a key of one noise tolerates, by the any-inverter bound. */
export interface LeakBudget {
  /** The noise of the study's grid these figures were measured at. */
  noise: number;
  rule: NoiseRule;
  /**
   * Largest k measured (1, 5, 20, 100) at which, and at every smaller k, the best any-inverter label accuracy stays
   * under the rule's limit on every data set x encoder measured; 0 when k = 1 already breaks it.
   */
  leaksPerClass: number;
  /** The largest k measured; `leaksPerClass` equal to it means "at least that many". */
  largestMeasured: number;
  /** At `leaksPerClass`: the row nearest its limit (highest accuracy / limit); null when leaksPerClass is 0. */
  closest: LeakFigure | null;
  /** The first k that breaks the limit: the row furthest over it; null when none up to `largestMeasured`. */
  broken: LeakFigure | null;
  /** No leak at all, class means of public images: the row of highest chance-corrected accuracy (κ). */
  publicMeans: LeakFigure;
  /** Which of 100 candidates was sent: the highest top-1 (chance 1%). */
  reidentification: { dataset: string; encoder: string; top1: number; chance: number };
}

const kappa = (accuracy: number, chance: number) => (accuracy - chance) / (1 - chance);

/** The leak budget at each noise of the bound study's rows (sorted by noise), by `rule` (default: the default noise rule). */
export function deriveLeakBudgets(rows: readonly BoundEvidenceRow[], rule: NoiseRule = DEFAULT_NOISE_RULE): LeakBudget[] {
  if (rows.length === 0) return fail('OWSD_ERR_BAD_ARGUMENT', 'no bound rows: run owsd analyze bound first');
  const noises = [...new Set(rows.map((r) => r.noise))].sort((a, b) => a - b);
  return noises.map((noise) => {
    const at = rows.filter((r) => r.noise === noise);
    const ks = [...new Set(at.flatMap((r) => r.label.map((l) => l.k)))].sort((a, b) => a - b);
    const figure = (r: BoundEvidenceRow, k: number): LeakFigure | null => {
      const p = r.label.find((l) => l.k === k);
      return p ? { dataset: r.dataset, encoder: r.encoder, k, accuracy: p.accuracy, chance: r.chance, limit: noiseRuleLimit(rule, r.chance) } : null;
    };
    const worst = (k: number): LeakFigure => at.map((r) => figure(r, k)).filter((f): f is LeakFigure => f !== null).reduce((a, f) => (f.accuracy / f.limit > a.accuracy / a.limit ? f : a));
    let leaksPerClass = 0;
    let closest: LeakFigure | null = null;
    let broken: LeakFigure | null = null;
    for (const k of ks) {
      const w = worst(k);
      if (!(w.accuracy < w.limit)) {
        broken = w;
        break;
      }
      leaksPerClass = k;
      closest = w;
    }
    const pm = at.reduce((a, r) => (kappa(r.publicMeans.accuracy, r.chance) > kappa(a.publicMeans.accuracy, a.chance) ? r : a));
    const reid = at.reduce((a, r) => (r.reidentification.top1 > a.reidentification.top1 ? r : a));
    return {
      noise,
      rule,
      leaksPerClass,
      largestMeasured: ks[ks.length - 1] ?? 0,
      closest,
      broken,
      publicMeans: { dataset: pm.dataset, encoder: pm.encoder, k: 0, accuracy: pm.publicMeans.accuracy, chance: pm.chance, limit: noiseRuleLimit(rule, pm.chance) },
      reidentification: { dataset: reid.dataset, encoder: reid.encoder, top1: reid.reidentification.top1, chance: reid.reidentification.chance },
    };
  });
}

/**
 * `deriveLeakBudgets` on the committed study (reports/security/bound/results.json, with the larger-sample rows of
 * reports/security/bound-large: `preferLargerSamples`), figures rounded to 6 decimals.
 * Kept here so that `owsd key show` needs no report folder; test/budget.test.ts fails when the committed results
 * stop giving exactly this.
 */
export const LEAK_BUDGETS: readonly LeakBudget[] = [
  {
    noise: 0,
    rule: 'twice-chance',
    leaksPerClass: 0,
    largestMeasured: 100,
    closest: null,
    broken: {
      dataset: 'cifar-100',
      encoder: 'cifar100-mobilenetv3-small-128',
      k: 1,
      accuracy: 0.397959,
      chance: 0.01,
      limit: 0.02,
    },
    publicMeans: {
      dataset: 'gtsrb-test',
      encoder: 'shufflenet-v2-12-qdq',
      k: 0,
      accuracy: 0.970332,
      chance: 0.023256,
      limit: 0.046512,
    },
    reidentification: {
      dataset: 'imagenette-val',
      encoder: 'mobilenetv2-12-int8',
      top1: 1,
      chance: 0.01,
    },
  },
  {
    noise: 4,
    rule: 'twice-chance',
    leaksPerClass: 0,
    largestMeasured: 100,
    closest: null,
    broken: {
      dataset: 'cifar-100',
      encoder: 'cifar100-mobilenetv3-small-128',
      k: 1,
      accuracy: 0.057755,
      chance: 0.01,
      limit: 0.02,
    },
    publicMeans: {
      dataset: 'imagenette-val',
      encoder: 'mobilenetv2-12-int8',
      k: 0,
      accuracy: 0.842266,
      chance: 0.1,
      limit: 0.2,
    },
    reidentification: {
      dataset: 'imagenette-val',
      encoder: 'mobilenetv2-12-int8',
      top1: 1,
      chance: 0.01,
    },
  },
  {
    noise: 6,
    rule: 'twice-chance',
    leaksPerClass: 0,
    largestMeasured: 100,
    closest: null,
    broken: {
      dataset: 'gtsrb-test',
      encoder: 'mobilenetv2-12-int8',
      k: 1,
      accuracy: 0.060888,
      chance: 0.023256,
      limit: 0.046512,
    },
    publicMeans: {
      dataset: 'imagenette-val',
      encoder: 'mobilenetv2-12-int8',
      k: 0,
      accuracy: 0.676876,
      chance: 0.1,
      limit: 0.2,
    },
    reidentification: {
      dataset: 'cifar-100',
      encoder: 'mobilenetv2-12-int8',
      top1: 0.968,
      chance: 0.01,
    },
  },
  {
    noise: 8,
    rule: 'twice-chance',
    leaksPerClass: 0,
    largestMeasured: 100,
    closest: null,
    broken: {
      dataset: 'gtsrb-test',
      encoder: 'shufflenet-v2-12-qdq',
      k: 1,
      accuracy: 0.051858,
      chance: 0.023256,
      limit: 0.046512,
    },
    publicMeans: {
      dataset: 'imagenette-val',
      encoder: 'mobilenetv2-12-int8',
      k: 0,
      accuracy: 0.548239,
      chance: 0.1,
      limit: 0.2,
    },
    reidentification: {
      dataset: 'cifar-100',
      encoder: 'mobilenetv2-12-int8',
      top1: 0.892,
      chance: 0.01,
    },
  },
  {
    noise: 12,
    rule: 'twice-chance',
    leaksPerClass: 20,
    largestMeasured: 100,
    closest: {
      dataset: 'cifar-100',
      encoder: 'cifar100-mobilenetv3-small-128',
      k: 20,
      accuracy: 0.017,
      chance: 0.01,
      limit: 0.02,
    },
    broken: {
      dataset: 'gtsrb-test',
      encoder: 'cifar100-mobilenetv3-small-128',
      k: 100,
      accuracy: 0.07191,
      chance: 0.023256,
      limit: 0.046512,
    },
    publicMeans: {
      dataset: 'imagenette-val',
      encoder: 'mobilenetv2-12-int8',
      k: 0,
      accuracy: 0.379786,
      chance: 0.1,
      limit: 0.2,
    },
    reidentification: {
      dataset: 'cifar-10',
      encoder: 'mobilenetv2-12-int8',
      top1: 0.682,
      chance: 0.01,
    },
  },
  {
    noise: 16,
    rule: 'twice-chance',
    leaksPerClass: 20,
    largestMeasured: 100,
    closest: {
      dataset: 'gtsrb-test',
      encoder: 'cifar100-mobilenetv3-small-128',
      k: 20,
      accuracy: 0.041844,
      chance: 0.023256,
      limit: 0.046512,
    },
    broken: {
      dataset: 'gtsrb-test',
      encoder: 'cifar100-mobilenetv3-small-128',
      k: 100,
      accuracy: 0.049438,
      chance: 0.023256,
      limit: 0.046512,
    },
    publicMeans: {
      dataset: 'imagenette-val',
      encoder: 'mobilenetv2-12-int8',
      k: 0,
      accuracy: 0.287392,
      chance: 0.1,
      limit: 0.2,
    },
    reidentification: {
      dataset: 'cifar-100',
      encoder: 'mobilenetv2-12-int8',
      top1: 0.542,
      chance: 0.01,
    },
  },
];

/** A key's leak budget: the study's figures at the largest measured noise not above the key's (none above: the smallest). */
export interface KeyLeakBudget extends LeakBudget {
  /** The key's own noise. */
  keyNoise: number;
}

export function leakBudgetFor(keyNoise: number, budgets: readonly LeakBudget[] = LEAK_BUDGETS): KeyLeakBudget {
  if (!(keyNoise >= 0) || !Number.isFinite(keyNoise)) return fail('OWSD_ERR_BAD_ARGUMENT', `noise must be a number >= 0, got ${keyNoise}`);
  const below = budgets.filter((b) => b.noise <= keyNoise);
  const b = below.length ? below.reduce((a, x) => (x.noise > a.noise ? x : a)) : budgets.reduce((a, x) => (x.noise < a.noise ? x : a));
  return { ...b, keyNoise };
}

const pc = (x: number) => `${(100 * x).toFixed(1)}%`;
const where = (f: { dataset: string; encoder: string }) => `${f.dataset} with ${f.encoder}`;

/**
 * The leak budget in plain words (`owsd key show` prints these lines; `owsd analyze`'s report and SECURITY.md say
 * the same): how many labelled submissions per class may leak before the any-inverter bound passes the rule, the
 * sentence of the bound at that k, and what no leak budget covers (public class means, re-identification).
 */
export function leakBudgetSentences(b: KeyLeakBudget): string[] {
  const noise = (x: number) => (x > 0 ? `${x}x noise` : 'no noise');
  const at = b.noise === b.keyNoise ? noise(b.noise) : `${noise(b.noise)} (the largest noise measured not above this key's ${b.keyNoise}x)`;
  const limit = b.rule === 'kappa' ? 'twice chance on ten classes, κ ≤ 1/9' : 'twice chance';
  const labels = (k: number) => `${k} label${k === 1 ? '' : 's'}`;
  const broken = (f: LeakFigure) => `${pc(f.accuracy)} on ${where(f)} (limit ${pc(f.limit)})`;
  const head = b.leaksPerClass === 0 || !b.closest
    ? `0 labelled leaks per class: with ${at}, ${b.broken ? `${inverterSentence([{ k: b.broken.k, accuracy: b.broken.accuracy }], b.broken.chance, 'the traffic')} on ${where(b.broken)}, over the limit of ${limit}` : 'no figure was measured'}; rotate the key as soon as any label of its traffic may be known`
    : `${b.leaksPerClass === b.largestMeasured && !b.broken ? 'at least ' : ''}${b.leaksPerClass} labelled leaks per class: with ${at}, ${inverterSentence([{ k: b.leaksPerClass, accuracy: b.closest.accuracy }], b.closest.chance, 'the traffic')} on ${where(b.closest)}, the nearest to the limit of every data set and encoder measured (all under ${limit})` +
      (b.broken ? `; with ${labels(b.broken.k)} per class, ${broken(b.broken)}` : '') +
      `; rotate the key before more than ${labels(b.leaksPerClass)} per class of its traffic may be known`;
  return [
    head,
    `not covered by it: knowing no label, only public images of the same classes, up to ${pc(b.publicMeans.accuracy)} on ${where(b.publicMeans)} (chance ${pc(b.publicMeans.chance)}); which of 100 candidate images was sent, up to ${pc(b.reidentification.top1)} (chance ${pc(b.reidentification.chance)}); docs/leak-bound.md`,
  ];
}
