/**
 * The per-key submission budget, derived from measured known-plaintext attack curves.
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
