/**
 * The any-inverter bound (src/analysis/bound.ts): the generator's input is drawn exactly as the scrambler draws
 * it, the attacks agree with the analytic figures on synthetic Gaussian classes, more noise never helps the
 * attacker on average, and seeded results are reproducible.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { createKey, Scrambler } from '../src/index.js';
import { addSubmissionNoise, labelBound, noiseSource, publicMeansBound, reidentificationBound, trafficComponents } from '../src/analysis/bound.js';
import { dense } from '../src/analysis/numerics/matrix.js';
import { createRng } from '../src/internal/random.js';
import { Encoder } from '../src/encoder/encoder.js';
import { resolveModel } from '../src/models/registry.js';
import { dataDir, modelsDir } from './helpers.js';

/** Standard normal CDF (Abramowitz-Stegun 26.2.17, |error| < 7.5e-8). */
function phi(x: number): number {
  const t = 1 / (1 + 0.2316419 * Math.abs(x));
  const poly = t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
  const p = 1 - (Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI)) * poly;
  return x >= 0 ? p : 1 - p;
}

test('the generator input is drawn exactly as the scrambler draws it: a noise-free key fed z gives the noisy key\'s pixels', async () => {
  const secret = new Uint8Array(32).fill(7);
  const noisy = createKey({ secret, imageSize: 32, baseChannels: 16, embeddingNoise: 4 });
  const clean = createKey({ secret, imageSize: 32, baseChannels: 16, embeddingNoise: 0 });
  const d = 24;
  const n = 5;
  const rng = createRng(3);
  const e = Float32Array.from({ length: n * d }, () => rng.normal() + 0.5);
  const a = await Scrambler.create(noisy, d, { noiseSeed: 'bound-test' });
  const b = await Scrambler.create(clean, d);
  try {
    for (const call of [0, 1]) {
      const expected = await a.pixels(e, n); // the scrambler's call `call`
      const z = addSubmissionNoise(e, n, d, 4, noiseSource('bound-test', call));
      assert.notDeepEqual(z, e);
      assert.deepEqual(await b.pixels(z, n), expected, `call ${call}`);
    }
  } finally {
    await a.release();
    await b.release();
  }
  // σ = 0 is the identity (a copy).
  assert.deepEqual(addSubmissionNoise(e, n, d, 0, noiseSource('x', 0)), e);
});

/**
 * Two classes whose clean embeddings are exactly ±a on the first axis and b elsewhere (equal norms, so every
 * submission gets the same noise scale σ·r): with the class means known, nearest mean labels z correctly with
 * probability Φ(a / (σ·r)).
 */
function twoClasses(perClass: number, d: number, a: number, b: number, seed: number) {
  const labels: number[] = [];
  const e = new Float32Array(2 * perClass * d);
  for (let i = 0; i < 2 * perClass; i++) {
    const c = i % 2;
    labels.push(c);
    e[i * d] = c === 0 ? a : -a;
    for (let j = 1; j < d; j++) e[i * d + j] = b;
  }
  const r = Math.sqrt((a * a + (d - 1) * b * b) / d);
  return { labels, e, r, seed };
}

test('public class means on z: nearest-mean and LDA accuracy match Φ(a/(σ·r))', async () => {
  const d = 32;
  const sigma = 4;
  const { labels, e, r } = twoClasses(1500, d, 4.1, 1, 0);
  const n = labels.length;
  const z = addSubmissionNoise(e, n, d, sigma, noiseSource('analytic', 0));
  const expected = phi(4.1 / (sigma * r));
  const pub = twoClasses(10, d, 4.1, 1, 1);
  const pm = await publicMeansBound(dense(n, d, z), labels, dense(pub.labels.length, d, pub.e), pub.labels, sigma, 0);
  for (const a of pm.all) assert.ok(Math.abs(a.accuracy - expected) < 0.03, `${a.attacker}: ${a.accuracy} against Φ = ${expected.toFixed(3)}`);
  assert.ok(expected > 0.7 && expected < 0.9, `a test in the informative range (Φ = ${expected})`);
});

test('leaked labels on z: with many leaks the best attack approaches Φ(a/(σ·r)); with none it is near chance at huge noise', async () => {
  const d = 32;
  const sigma = 4;
  const { labels, e, r } = twoClasses(1000, d, 4.1, 1, 0);
  const n = labels.length;
  const z = dense(n, d, addSubmissionNoise(e, n, d, sigma, noiseSource('analytic-leaks', 0)));
  const expected = phi(4.1 / (sigma * r));
  const tc = await trafficComponents(z, 8, 0);
  const got = await labelBound(tc, labels, 200, 0);
  assert.ok(got);
  assert.ok(Math.abs(got.best.accuracy - expected) < 0.04, `best ${got.best.attacker} ${got.best.accuracy} against Φ = ${expected.toFixed(3)}`);
  const lda = got.all.find((x) => x.attacker === 'z-lda')!;
  assert.ok(Math.abs(lda.accuracy - expected) < 0.04, `LDA ${lda.accuracy}`);
  const zHuge = dense(n, d, addSubmissionNoise(e, n, d, 200, noiseSource('analytic-huge', 0)));
  const huge = await labelBound(await trafficComponents(zHuge, 8, 0), labels, 20, 0);
  assert.ok(huge!.best.accuracy < 0.56, `at 200x: ${huge!.best.accuracy}`);
});

/** Five Gaussian classes with spread within classes, embeddings offset from the origin. */
function fiveClasses(perClass: number, d: number, seed: number) {
  const rng = createRng(seed);
  const centres = Array.from({ length: 5 }, () => Float64Array.from({ length: d }, () => 1 + rng.normal()));
  const labels: number[] = [];
  const e = new Float32Array(5 * perClass * d);
  for (let i = 0; i < 5 * perClass; i++) {
    const c = i % 5;
    labels.push(c);
    for (let j = 0; j < d; j++) e[i * d + j] = centres[c]![j]! + 0.7 * rng.normal();
  }
  return { labels, e };
}

test('more noise never helps the attacker on average (k = 5 and public means, three seeds)', async () => {
  const d = 40;
  const sigmas = [0, 1, 2, 4, 8];
  const k5 = sigmas.map(() => 0);
  const pub = sigmas.map(() => 0);
  const reid = sigmas.map(() => 0);
  for (const seed of [1, 2, 3]) {
    const { labels, e } = fiveClasses(80, d, seed);
    const publicSet = fiveClasses(40, d, seed); // the same centres (same seed); only its class means matter here
    const n = labels.length;
    for (const [i, s] of sigmas.entries()) {
      const z = dense(n, d, addSubmissionNoise(e, n, d, s, noiseSource(`mono ${seed}`, i)));
      k5[i]! += (await labelBound(await trafficComponents(z, 16, seed), labels, 5, seed))!.best.accuracy / 3;
      pub[i]! += (await publicMeansBound(z, labels, dense(publicSet.labels.length, d, publicSet.e), publicSet.labels, s, seed)).best.accuracy / 3;
      reid[i]! += reidentificationBound(dense(n, d, e), z, s, seed).top1 / 3;
    }
  }
  for (let i = 1; i < sigmas.length; i++) {
    assert.ok(k5[i]! <= k5[i - 1]! + 0.02, `k=5: ${k5.map((x) => x.toFixed(3)).join(' ')}`);
    assert.ok(pub[i]! <= pub[i - 1]! + 0.02, `public: ${pub.map((x) => x.toFixed(3)).join(' ')}`);
    assert.ok(reid[i]! <= reid[i - 1]! + 0.02, `re-id: ${reid.map((x) => x.toFixed(3)).join(' ')}`);
  }
  assert.ok(k5[0]! > 0.9 && k5[4]! < 0.45, `k=5 from ${k5[0]} down to ${k5[4]}`);
  assert.equal(reid[0], 1);
});

test('seeded results are reproducible', async () => {
  const d = 20;
  const { labels, e } = fiveClasses(40, d, 9);
  const n = labels.length;
  const run = async () => {
    const z = dense(n, d, addSubmissionNoise(e, n, d, 3, noiseSource('repro', 0)));
    const tc = await trafficComponents(z, 8, 4);
    return { k1: await labelBound(tc, labels, 1, 4), k5: await labelBound(tc, labels, 5, 4), reid: reidentificationBound(dense(n, d, e), z, 3, 4) };
  };
  assert.deepEqual(await run(), await run());
});

test('real: Imagenette through MobileNetV2, the bound falls from near-perfect at 0x towards chance at 16x', { skip: !fs.existsSync(path.join(modelsDir, 'models.json')) || !fs.existsSync(path.join(dataDir, 'imagenette-val')) }, async () => {
  const root = path.join(dataDir, 'imagenette-val');
  const wnids = fs.readdirSync(root).filter((x) => x.startsWith('n')).sort().slice(0, 2);
  const images = wnids.flatMap((w, c) => fs.readdirSync(path.join(root, w)).sort().slice(0, 15).map((f) => ({ image: { kind: 'file' as const, path: path.join(root, w, f) }, label: c })));
  const enc = await Encoder.create([await resolveModel('mobilenetv2-12-int8', { modelsDir })]);
  try {
    const e = await enc.encode(images.map((x) => x.image));
    const labels = images.map((x) => x.label);
    const n = labels.length;
    const at = async (s: number) => (await labelBound(await trafficComponents(dense(n, enc.dim, addSubmissionNoise(e, n, enc.dim, s, noiseSource('real', 0))), 8, 0), labels, 5, 0))!.best.accuracy;
    const clean = await at(0);
    const noisy = await at(16);
    assert.ok(clean >= 0.9, `0x: ${clean}`);
    assert.ok(noisy < clean, `16x ${noisy} against 0x ${clean}`);
  } finally {
    await enc.release();
  }
});

test('the study runner: one small data set x encoder, every row and the table (no files written)', { skip: !fs.existsSync(path.join(modelsDir, 'models.json')) || !fs.existsSync(path.join(dataDir, 'cifar-10')) }, async () => {
  const { runBoundStudy, renderBoundTable } = await import('../src/experiments/bound.js');
  const r = await runBoundStudy({ modelsDir, dataDir, datasets: ['cifar-10'], encoders: ['cifar10-resnet20'], noises: [0, 8], perClass: 8, pixel: false, write: false, cacheDir: path.join(fs.mkdtempSync(path.join((await import('node:os')).tmpdir(), 'owsd-bound-')), 'cache') });
  assert.equal(r.rows.length, 2);
  for (const row of r.rows) {
    assert.equal(row.images, 80);
    assert.deepEqual(row.label.map((l) => l.k), [1, 5]); // k = 20 and 100 leave no query with 8 per class
    assert.equal(row.reidentification.candidates, 80);
  }
  assert.equal(r.rows[0]!.reidentification.top1, 1); // no noise: z is the embedding itself
  const md = renderBoundTable(r);
  assert.match(md, /\| cifar-10 \| cifar10-resnet20 \| 10 \| 80 \| 10\.0 \| 8x \|/);
});
