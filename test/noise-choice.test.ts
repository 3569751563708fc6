/**
 * The noise the default key design should use, by the rule in src/experiments/noise-choice.ts on the committed
 * any-inverter bound study (reports/security/bound/results.json, `owsd analyze bound`). `owsd key new`'s
 * default (DEFAULT_EMBEDDING_NOISE, src/key/keyfile.ts) follows it: test/design-choice.test.ts checks that.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chooseNoise, withLargerSamples, preferLargerSamples, noiseRuleLimit, BOUND_DATASETS, BOUND_ENCODERS, BOUND_NOISES, type BoundRow, type BoundStudyResult } from '../src/research.js';
import { repoRoot } from './helpers.js';

/** What the rules pick on the committed results (update with the results, and say why in the commit). */
const PINNED = { kappa: 8, 'twice-chance': 12 } as const;

function committed(): BoundStudyResult {
  return JSON.parse(fs.readFileSync(path.join(repoRoot, 'reports/security/bound/results.json'), 'utf8')) as BoundStudyResult;
}

/** The committed study with the many-class rows of the larger-sample run (reports/security/bound-large). */
function merged(): BoundStudyResult {
  const large = JSON.parse(fs.readFileSync(path.join(repoRoot, 'reports/security/bound-large/results.json'), 'utf8')) as BoundStudyResult;
  assert.equal(large.quick, false);
  return withLargerSamples(committed(), large);
}

test('the committed bound study is a full run over every shared data set, encoder and noise', () => {
  const r = committed();
  assert.equal(r.quick, false);
  for (const d of BOUND_DATASETS) {
    for (const e of BOUND_ENCODERS) {
      for (const n of BOUND_NOISES) {
        const row = r.rows.find((x) => x.dataset === d && x.encoder === e && x.noise === n);
        assert.ok(row, `${d} x ${e} at ${n}x`);
        assert.ok(row.label.some((l) => l.k === 20), `${d} x ${e} at ${n}x has k=20`);
      }
    }
  }
});

test('the rule picks the pinned noise: the smallest of the grid whose k=20 bound meets it everywhere', () => {
  const r = merged();
  for (const rule of ['kappa', 'twice-chance'] as const) {
    const c = chooseNoise(r, rule);
    assert.equal(c.noise, PINNED[rule], `${rule}: picks ${c.noise}; closest ${c.closest.dataset} x ${c.closest.encoder} ${c.closest.accuracy} (limit ${c.closest.limit})`);
    if (c.noise !== null) {
      assert.ok(c.checks.every((x) => x.ok));
      // Every smaller noise of the grid fails somewhere.
      assert.deepEqual(c.rejected.map((x) => x.noise), BOUND_NOISES.filter((n) => n < c.noise!));
      for (const x of c.rejected) assert.ok(x.failing.length > 0);
    }
    for (const x of c.checks) assert.ok(x.standardError > 0 && x.standardError < 0.02 && x.queries >= 1000, `${x.dataset} x ${x.encoder}: ${x.queries} queries, SE ${x.standardError}`);
  }
});

test('the κ rule is "under twice chance" on ten classes and chance-corrected elsewhere', () => {
  assert.ok(Math.abs(noiseRuleLimit('kappa', 0.1) - 0.2) < 1e-12);
  assert.equal(noiseRuleLimit('twice-chance', 0.01), 0.02);
  // On fewer than ten classes twice chance is a loose limit (100% on two): the κ limit, smaller there, applies.
  assert.equal(noiseRuleLimit('twice-chance', 0.5), noiseRuleLimit('kappa', 0.5));
  assert.ok(Math.abs(noiseRuleLimit('twice-chance', 0.1) - 0.2) < 1e-12);
  assert.ok(Math.abs(noiseRuleLimit('kappa', 0.01) - (0.01 + 0.99 / 9)) < 1e-12);
});

test('chooseNoise on a synthetic study: the smallest qualifying noise, null when none qualifies', () => {
  const row = (dataset: string, noise: number, acc: number, classes = 10): BoundRow => ({
    dataset,
    encoder: 'e',
    dim: 4,
    images: 100,
    classes,
    chance: 1 / classes,
    noise,
    label: [{ k: 20, accuracy: acc, attacker: 'z-lda', components: 16, queries: 10, all: {} }],
    publicMeans: { accuracy: 0.5, attacker: 'z-public-lda', all: {}, publicImages: 50, trafficImages: 50 },
    reidentification: { top1: 0.5, chance: 0.01, trials: 10, candidates: 100 },
    seconds: 0,
  });
  const base = { rows: [row('a', 0, 0.9), row('a', 4, 0.3), row('a', 8, 0.15), row('b', 0, 0.5, 100), row('b', 4, 0.03, 100), row('b', 8, 0.015, 100)] } as BoundStudyResult;
  assert.equal(chooseNoise(base, 'kappa').noise, 8);
  assert.equal(chooseNoise(base, 'twice-chance').noise, 8);
  const worse = { rows: base.rows.map((x) => (x.dataset === 'b' && x.noise === 8 ? { ...x, label: [{ ...x.label[0]!, accuracy: 0.05 }] } : x)) } as BoundStudyResult;
  assert.equal(chooseNoise(worse, 'kappa').noise, 8);
  assert.equal(chooseNoise(worse, 'twice-chance').noise, null);
});

test('the larger-sample rows replace the study\'s where they scored more queries, and resolve the Tiny-ImageNet tie', () => {
  const base = committed();
  const r = merged();
  // On the study's own rows the literal rule picks nothing: one Tiny-ImageNet row labels exactly 10 of 1,010 queries at 12x.
  assert.equal(chooseNoise(base, 'twice-chance').noise, null);
  const tiny = r.rows.find((x) => x.dataset === 'tiny-imagenet-val' && x.encoder === 'mobilenetv2-12-int8' && x.noise === 12)!;
  const old = base.rows.find((x) => x.dataset === 'tiny-imagenet-val' && x.encoder === 'mobilenetv2-12-int8' && x.noise === 12)!;
  const q = (row: typeof tiny) => row.label.find((l) => l.k === 20)!;
  assert.equal(q(old).queries, 1010);
  assert.ok(q(tiny).queries >= 6000, `${q(tiny).queries} queries`);
  assert.ok(q(tiny).accuracy < 2 * tiny.chance);
  // Rows the larger run did not measure (the 10- and 43-class sets, the smaller noises) are the study's own.
  assert.equal(r.rows.length, base.rows.length);
  assert.deepEqual(preferLargerSamples(base.rows, undefined), base.rows);
  const c = chooseNoise(r, 'twice-chance');
  assert.ok(c.checks.every((x) => x.queries >= 1000 && x.accuracy < 2 * x.chance));
});
