/** The key budget rule, and DEFAULT_BUDGET pinned to what the committed security report measured. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_BUDGET } from '../src/index.js';
import { deriveBudget, BUDGET_RULE, readSecurityResults } from '../src/research.js';
import { repoRoot } from './helpers.js';

const crossing = (n: number | null, lastSafe: number | null) => ({ n, lastSafe, estimate: null, crossedAtSmallest: n !== null && lastSafe === null });

test('deriveBudget: the least safe N over datasets and counted attacks, over the leak share, one significant figure', () => {
  const d = deriveBudget([
    { dataset: 'a', thresholds: { plaintextPsnr: crossing(1000, 300), plaintextReid: crossing(300, 100), embeddingReid: crossing(5, null) } },
    { dataset: 'b', thresholds: { plaintextPsnr: crossing(3000, 1000), plaintextReid: crossing(null, null) } },
  ]);
  assert.equal(d.budget, 1000);
  assert.deepEqual(d.binding, { dataset: 'a', attack: 'plaintextReid', safePairs: 100 });
  // The linking attack (embeddingReid) is not counted by the default rule; a rule that counts it halves the smallest N.
  assert.equal(deriveBudget([{ dataset: 'a', thresholds: { embeddingReid: crossing(5, null) } }], { attacks: ['embeddingReid'], leakFraction: 1 }).budget, 2);
  assert.equal(deriveBudget([{ dataset: 'a', thresholds: { plaintextReid: crossing(3000, 1370) } }], { attacks: ['plaintextReid'], leakFraction: 0.5 }).budget, 2000);
  assert.throws(() => deriveBudget([{ dataset: 'a', thresholds: { plaintextReid: crossing(null, null) } }]), { code: 'OWSD_ERR_BAD_ARGUMENT', message: /set no budget/ });
  assert.throws(() => deriveBudget([], { ...BUDGET_RULE, leakFraction: 0 }), { message: /leakFraction/ });
});

test('DEFAULT_BUDGET is what the rule gives on the committed reports/security results', () => {
  const results = readSecurityResults(path.join(repoRoot, 'reports/security'));
  const evidence = results.filter((r) => r.inversion && !r.quick).map((r) => ({ dataset: r.dataset, thresholds: r.inversion!.budgets.thresholds }));
  assert.ok(evidence.length >= 2, 'the committed report holds inversion curves for at least two datasets');
  const d = deriveBudget(evidence);
  assert.equal(d.budget, DEFAULT_BUDGET, `re-derive DEFAULT_BUDGET: the curves now give ${d.budget} (${JSON.stringify(d.binding)})`);
});
