import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { OwsdError } from '../src/errors.js';
import { createRng } from '../src/internal/random.js';
import {
  analyseCloudOutputs,
  confidence,
  dominantClass,
  entropyNats,
  pcaOfTwoLabels,
} from '../src/analysis/cloud-outputs.js';
import { pca } from '../src/analysis/numerics/pca.js';
import { symmetricEigen } from '../src/analysis/numerics/eigen.js';
import {
  averagePool,
  cloudLogisticRegression,
  cloudNearestNeighbour,
  featureAttack,
  labelInferenceCurve,
  leakSplit,
  pixelNearestNeighbour,
  scrambledFeatures,
  standardizeColumns,
  trainSoftmaxRegression,
} from '../src/analysis/label-inference.js';
import { nearestNeighbourAttack } from '../src/analysis/label-leak.js';
import {
  exactLinkability,
  makeVariant,
  nearDuplicateLinkability,
  ranks,
  reidentifyByCloud,
  reidentifyByTypicality,
  rocAuc,
  spearman,
  summarizeDistances,
} from '../src/analysis/linkability.js';
import { ExperimentContext } from '../src/experiments/context.js';
import { runTrafficStudy } from '../src/experiments/security-traffic.js';
import { dataDir, modelsDir, tempDir } from './helpers.js';

function close(actual: number, expected: number, tol: number, what = ''): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what} expected ${expected} ± ${tol}, got ${actual}`);
}

const badArgument = (e: unknown): boolean => e instanceof OwsdError && e.code === 'OWSD_ERR_BAD_ARGUMENT';

/** n points per class around well separated centres (class c at 100·e_c), with small seeded noise. */
function clusters(classes: number, perClass: number, dim: number, noise: number, seed: number): { rows: Float32Array[]; labels: number[] } {
  const rng = createRng(seed);
  const rows: Float32Array[] = [];
  const labels: number[] = [];
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < perClass; i++) {
      const v = Float32Array.from({ length: dim }, () => noise * rng.normal());
      v[c % dim]! += 100;
      rows.push(v);
      labels.push(c);
    }
  }
  return { rows, labels };
}

function randomRows(n: number, dim: number, seed: number): Float32Array[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: dim }, () => rng.normal()));
}

// ------------------------------------------------------------------------------------------------------------------
// cloud-outputs

test('entropyNats: ln C for a uniform vector, 0 for one-hot, normalizes by the sum, refuses negatives', () => {
  for (const C of [2, 10, 1000]) close(entropyNats(new Float32Array(C).fill(1 / C)), Math.log(C), 1e-6, `uniform C=${C}`);
  assert.equal(entropyNats([0, 1, 0, 0]), 0);
  close(entropyNats([2, 2]), Math.log(2), 1e-12, 'unnormalized');
  close(entropyNats([0.5, 0.25, 0.25]), 1.5 * Math.log(2), 1e-12, 'known');
  assert.throws(() => entropyNats([0.5, -0.1, 0.6]), badArgument);
  assert.throws(() => entropyNats([0, 0]), badArgument);
  close(confidence([0.2, 0.7, 0.1]), 0.7, 1e-12);
});

test('analyseCloudOutputs: intersection rates, confidence, entropy and the dominant class on a hand-made case', () => {
  const C = 6;
  const oneHot = (c: number, p = 1): Float32Array => {
    const v = new Float32Array(C).fill((1 - p) / (C - 1));
    v[c] = p;
    return v;
  };
  // Plaintext top-1s: 0, 1, 2, 3. Scrambled: always class 5 first; the second-ranked class varies.
  const plain = [oneHot(0), oneHot(1), oneHot(2), oneHot(3)];
  const scr = [
    Float32Array.from([0.2, 0, 0, 0, 0, 0.8]), // plaintext top-1 (0) ranks 2nd
    Float32Array.from([0, 0, 0, 0, 0, 1]), // class 1 tied at 0 with four others: ties count against it, rank 5
    Float32Array.from([0, 0, 0, 0, 0, 1]),
    Float32Array.from([0, 0, 0, 0.5, 0, 0.5]), // 3 tied with 5 at the top: rank 1; argmax (lowest index) is 3
  ];
  const r = analyseCloudOutputs(plain, scr, [0, 1, -1, 3]);
  assert.equal(r.n, 4);
  assert.equal(r.mapped, 3);
  assert.equal(r.cloudClasses, C);
  assert.equal(r.dominant.scrambled.cloudClass, 5);
  assert.equal(r.dominant.scrambled.share, 3 / 4);
  assert.equal(r.dominant.plaintext.share, 1 / 4);
  assert.equal(r.distinctTop1.scrambled, 2);
  assert.equal(r.distinctTop1.plaintext, 4);
  assert.equal(r.trueInPlaintextTop1, 1);
  assert.equal(r.trueInPlaintextTop5, 1);
  assert.equal(r.plaintextTop1InScrambledTop1, 0);
  assert.equal(r.plaintextTop1InScrambledTop5, 2 / 4); // images 0 and 3
  assert.equal(r.trueInScrambledTop1, 0);
  assert.equal(r.trueInScrambledTop5, 2 / 3); // images 0 and 3 of the 3 mapped
  close(r.confidence.plaintext, 1, 1e-7);
  close(r.confidence.scrambled, (0.8 + 1 + 1 + 0.5) / 4, 1e-7);
  close(r.confidence.reduction, 1 - 0.825, 1e-7);
  close(r.entropy.plaintext, 0, 1e-7);
  const h0 = -(0.2 * Math.log(0.2) + 0.8 * Math.log(0.8));
  close(r.entropy.scrambled, (h0 + 0 + 0 + Math.log(2)) / 4, 1e-6);
  close(r.entropy.max, Math.log(6), 1e-12);
  assert.throws(() => analyseCloudOutputs(plain, scr.slice(1), [0, 1, 2]), badArgument);
  assert.throws(() => analyseCloudOutputs(plain, scr, [0, 1, 7, 3]), badArgument);
  assert.deepEqual(dominantClass([oneHot(2), oneHot(2), oneHot(1)]), { cloudClass: 2, share: 2 / 3, distinct: 2 });
});

test('symmetricEigen (the QL solver, src/analysis/numerics/eigen.ts): known 2x2, and A·v = λ·v with orthonormal vectors on a random symmetric matrix', () => {
  const e2 = symmetricEigen([2, 1, 1, 2], 2);
  close(e2.values[0]!, 3, 1e-12);
  close(e2.values[1]!, 1, 1e-12);
  close(Math.abs(e2.vectors[0]!), Math.SQRT1_2, 1e-12);
  const n = 30;
  const rng = createRng(5);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rng.normal();
  const { values, vectors } = symmetricEigen(a, n);
  for (let k = 1; k < n; k++) assert.ok(values[k - 1]! >= values[k]!, 'sorted descending');
  let trace = 0;
  for (let i = 0; i < n; i++) trace += a[i * n + i]!;
  close(values.reduce((s, v) => s + v, 0), trace, 1e-9, 'trace');
  for (const k of [0, 7, n - 1]) {
    for (let i = 0; i < n; i++) {
      let av = 0;
      for (let j = 0; j < n; j++) av += a[i * n + j]! * vectors[j * n + k]!;
      close(av, values[k]! * vectors[i * n + k]!, 1e-9, `A v = λ v, k=${k}, row ${i}`);
    }
    for (const l of [0, 3, n - 1]) {
      let d = 0;
      for (let i = 0; i < n; i++) d += vectors[i * n + k]! * vectors[i * n + l]!;
      close(d, k === l ? 1 : 0, 1e-9, `orthonormal ${k},${l}`);
    }
  }
  assert.throws(() => symmetricEigen([1, 2, 3], 2), badArgument);
});

test('pca recovers the dominant direction (both the Gram and the covariance route)', () => {
  for (const [n, D] of [[200, 5], [40, 300]] as const) {
    const rng = createRng(n);
    const u = Float64Array.from({ length: D }, () => rng.normal());
    const norm = Math.hypot(...u);
    u.forEach((x, i) => (u[i] = x / norm));
    const t = Array.from({ length: n }, () => 10 * rng.normal());
    const rows = t.map((ti) => Float64Array.from(u, (ui) => 3 + ti * ui + 0.1 * rng.normal()));
    const p = pca(rows, 2);
    assert.equal(p.components, 2);
    assert.ok(p.explained[0]! > 0.95, `explained ${p.explained[0]} (n=${n}, D=${D})`);
    // The first scores are the projections on u (up to sign and the centring).
    const s = Array.from({ length: n }, (_, i) => p.scores[i * 2]!);
    const tm = t.reduce((a, b) => a + b, 0) / n;
    let num = 0;
    let aa = 0;
    let bb = 0;
    s.forEach((x, i) => {
      num += x * (t[i]! - tm);
      aa += x * x;
      bb += (t[i]! - tm) ** 2;
    });
    assert.ok(Math.abs(num / Math.sqrt(aa * bb)) > 0.999, `correlation ${num / Math.sqrt(aa * bb)}`);
    // Variance along u: that of t plus a little noise.
    close(p.variances[0]!, bb / (n - 1), 0.02 * (bb / (n - 1)), 'variance along u');
  }
  assert.throws(() => pca([[1, 2]], 1), badArgument);
});

test('pcaOfTwoLabels: only the two labels, one group each, separated along the first axis', () => {
  const { rows, labels } = clusters(3, 10, 8, 1, 1);
  const p = pcaOfTwoLabels(rows, labels, [0, 2]);
  assert.deepEqual(p.groups.map((g) => [g.label, g.points.length]), [[0, 10], [2, 10]]);
  const xs0 = p.groups[0]!.points.map((q) => q[0]);
  const xs2 = p.groups[1]!.points.map((q) => q[0]);
  assert.ok(Math.max(...xs0) < Math.min(...xs2) || Math.max(...xs2) < Math.min(...xs0), 'separated on PC 1');
  assert.ok(p.explained[0] > 0.9);
});

// ------------------------------------------------------------------------------------------------------------------
// label-inference

test('leakSplit draws exactly what nearestNeighbourAttack draws (same accuracy through featureAttack)', () => {
  const rng = createRng(9);
  const labels = Array.from({ length: 90 }, (_, i) => i % 6);
  // Weakly informative features, so the accuracy is neither 0 nor 1 and depends on the split.
  const rows = labels.map((l) => Float32Array.from({ length: 12 }, (_, j) => (j === l ? 1.2 : 0) + rng.normal()));
  for (const k of [1, 3, 5]) {
    const ours = featureAttack('x', rows, labels, k, 4, 'nn-euclid')!;
    const theirs = nearestNeighbourAttack(rows, labels, k, 4)!;
    assert.equal(ours.accuracy, theirs.accuracy, `k=${k}`);
    assert.equal(ours.queries, theirs.queries);
    assert.equal(pixelNearestNeighbour(rows, labels, k, 4)!.accuracy, theirs.accuracy);
  }
  const split = leakSplit(labels, 5, 0);
  assert.equal(split.leaked.length, 30);
  assert.equal(split.queries.length, 60);
  assert.equal(new Set([...split.leaked, ...split.queries]).size, 90);
  assert.throws(() => leakSplit(labels, 0, 0), badArgument);
  assert.equal(featureAttack('x', rows, labels, 15, 0, 'nn-euclid'), null, 'no query left');
});

test('every attacker scores 100% on perfectly separated clusters', () => {
  const { rows, labels } = clusters(5, 12, 10, 1, 2);
  for (const c of ['nn-euclid', 'nn-cosine', 'centroid-cosine', 'logreg'] as const) {
    const r = featureAttack(c, rows, labels, 2, 0, c)!;
    assert.equal(r.accuracy, 1, c);
    assert.equal(r.chance, 1 / 5);
    assert.equal(r.classes, 5);
    assert.equal(r.queries, 50);
  }
  // Cloud vectors: a softmax-like vector peaked at the class.
  const probs = labels.map((l, i) => {
    const v = new Float32Array(5).fill(0.024 + 0.001 * (i % 3));
    v[l] = 0.9;
    return v;
  });
  assert.equal(cloudNearestNeighbour(probs, labels, 1, 0)!.accuracy, 1, 'cloud-1nn');
  assert.equal(cloudNearestNeighbour(probs, labels, 1, 0, 'log')!.accuracy, 1, 'cloud-1nn-log');
  assert.equal(cloudLogisticRegression(probs, labels, 1, 0)!.accuracy, 1, 'cloud-logreg');
});

test('attackers are near chance on random labels (and the test can tell)', () => {
  const n = 400;
  const labels = Array.from({ length: n }, (_, i) => i % 10);
  const rows = randomRows(n, 20, 3);
  for (const c of ['nn-euclid', 'centroid-cosine', 'logreg'] as const) {
    const r = featureAttack(c, rows, labels, 5, 0, c)!;
    assert.equal(r.queries, 350);
    assert.ok(Math.abs(r.accuracy - 0.1) < 0.06, `${c}: ${r.accuracy} should be near chance 0.1`);
  }
});

test('trainSoftmaxRegression fits separable data and is deterministic', () => {
  const { rows, labels } = clusters(3, 8, 4, 0.5, 7);
  const std = standardizeColumns(rows);
  const a = trainSoftmaxRegression(std, labels, { seed: 1 });
  const b = trainSoftmaxRegression(std, labels, { seed: 1 });
  std.forEach((r, i) => assert.equal(a.predict(r), labels[i]));
  assert.deepEqual(Array.from(a.probabilities(std[0]!)), Array.from(b.probabilities(std[0]!)));
  close(a.probabilities(std[0]!).reduce((s, p) => s + p, 0), 1, 1e-12);
  assert.deepEqual(a.classes, [0, 1, 2]);
});

test('averagePool and scrambledFeatures: known block means, shapes, whitened components', () => {
  // 4x4 RGB image: red = x, green = y, blue = 7.
  const px = new Uint8Array(4 * 4 * 3);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) px.set([x, y, 7], (y * 4 + x) * 3);
  const p = averagePool(px, 4, 3, 2);
  assert.deepEqual(Array.from(p), [0.5, 0.5, 7, 2.5, 0.5, 7, 0.5, 2.5, 7, 2.5, 2.5, 7]);
  assert.throws(() => averagePool(px, 4, 3, 3), badArgument);
  const imgs = randomRows(12, 16 * 16 * 3, 4).map((r) => Uint8Array.from(r, (v) => 128 + 30 * v));
  const plain = scrambledFeatures(imgs, { imageSize: 16, pool: 4 });
  assert.equal(plain[0]!.length, 4 * 4 * 3, 'pooled and standardized, no projection');
  close(plain.reduce((a, r) => a + r[7]!, 0) / 12, 0, 1e-5, 'standardized mean');
  const f = scrambledFeatures(imgs, { imageSize: 16, pool: 4, components: 5, whiten: true });
  assert.equal(f.length, 12);
  assert.equal(f[0]!.length, 5);
  for (let c = 0; c < 5; c++) {
    const col = f.map((r) => r[c]!);
    const m = col.reduce((a, b) => a + b, 0) / 12;
    close(m, 0, 1e-4, `component ${c} mean`);
    close(col.reduce((a, b) => a + (b - m) ** 2, 0) / 11, 1, 1e-3, `component ${c} variance`);
  }
});

test('labelInferenceCurve runs every attacker at every k that leaves queries', () => {
  const { rows, labels } = clusters(4, 6, 16 * 16 * 3, 5, 8);
  const pixels = rows.map((r) => Uint8Array.from(r, (v) => Math.max(0, Math.min(255, 100 + v))));
  const cloud = labels.map((l) => {
    const v = new Float32Array(5).fill(0.05);
    v[l] = 0.8;
    return v;
  });
  const res = labelInferenceCurve({ pixels, cloud, labels, imageSize: 16 }, [1, 5, 6], 0);
  assert.deepEqual([...new Set(res.map((r) => r.k))], [1, 5]);
  assert.deepEqual(res.filter((r) => r.k === 1).map((r) => r.attacker), ['pixel-1nn', 'pixel-pooled-centroid-cosine', 'cloud-1nn', 'cloud-1nn-log', 'cloud-logreg']);
  for (const r of res) assert.ok(r.accuracy >= 0 && r.accuracy <= 1);
  assert.equal(res.find((r) => r.attacker === 'cloud-1nn' && r.k === 1)!.accuracy, 1);
});

// ------------------------------------------------------------------------------------------------------------------
// linkability

test('rocAuc: 0.5 for identical or shuffled distributions, 1 / 0 when separated, ties count half', () => {
  const xs = Array.from({ length: 50 }, (_, i) => i % 7);
  assert.equal(rocAuc(xs, xs), 0.5);
  assert.equal(rocAuc([3, 4, 5], [0, 1, 2]), 1);
  assert.equal(rocAuc([0, 1, 2], [3, 4, 5]), 0);
  assert.equal(rocAuc([1, 2], [1, 0]), (1 + 0.5 + 1 + 1) / 4);
  const rng = createRng(11);
  const draws = Array.from({ length: 4000 }, () => rng.normal());
  close(rocAuc(draws.slice(0, 2000), draws.slice(2000)), 0.5, 0.04, 'same distribution');
  // Shift by one standard deviation: AUC = Φ(1/√2) ≈ 0.760.
  close(rocAuc(draws.slice(0, 2000).map((x) => x + 1), draws.slice(2000)), 0.76, 0.03, 'shifted');
  assert.throws(() => rocAuc([], [1]), badArgument);
  assert.deepEqual(ranks([10, 30, 20, 20]), [1, 4, 2.5, 2.5]);
  close(spearman([1, 2, 3, 4], [10, 20, 35, 100]), 1, 1e-12);
  close(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1, 1e-12);
  const sum = summarizeDistances([4, 1, 3, 2, 5]);
  assert.deepEqual([sum.n, sum.mean, sum.min, sum.median, sum.max], [5, 3, 1, 3, 5]);
  close(sum.p05, 1.2, 1e-12, 'p05');
  close(sum.p95, 4.8, 1e-12, 'p95');
});

test('exactLinkability counts byte-identical pairs and distinct first PNGs', () => {
  const a = [Uint8Array.from([1, 2, 3]), Uint8Array.from([4, 5]), Uint8Array.from([1, 2, 3])];
  const b = [Uint8Array.from([1, 2, 3]), Uint8Array.from([4, 6]), Uint8Array.from([1, 2, 3])];
  assert.deepEqual(exactLinkability(a, b), { pairs: 3, identical: 2, rate: 2 / 3, distinctFirst: 2 });
  assert.throws(() => exactLinkability(a, b.slice(1)), badArgument);
});

test('nearDuplicateLinkability: perfect for small perturbations, about chance for unrelated variants', () => {
  const orig = randomRows(30, 50, 12);
  const rng = createRng(13);
  const near = orig.map((r) => Float32Array.from(r, (v) => v + 0.05 * rng.normal()));
  const good = nearDuplicateLinkability(orig, near);
  assert.equal(good.auc, 1);
  assert.equal(good.rank1, 1);
  assert.equal(good.same.n, 30);
  assert.equal(good.different.n, 870);
  assert.ok(good.same.max < good.different.min);
  const bad = nearDuplicateLinkability(orig, randomRows(30, 50, 14));
  assert.ok(Math.abs(bad.auc - 0.5) < 0.15, `unrelated AUC ${bad.auc}`);
  assert.ok(bad.rank1 <= 0.2, `unrelated rank-1 ${bad.rank1}`);
  close(bad.chance, 1 / 30, 1e-12);
});

test('re-identification: perfect when the signal is there, about chance when it is not', () => {
  const rng = createRng(15);
  const probs = Array.from({ length: 20 }, () => {
    const v = Float32Array.from({ length: 10 }, () => rng.next() + 0.01);
    const s = v.reduce((a, b) => a + b, 0);
    return v.map((x) => x / s);
  });
  const same = reidentifyByCloud(probs, probs);
  assert.equal(same.top1, 1);
  assert.equal(same.meanRank, 1);
  assert.equal(same.chanceMeanRank, 10.5);
  const shuffled = reidentifyByCloud(probs, [...probs.slice(1), probs[0]!]);
  assert.equal(shuffled.top1, 0);
  // Pixels = a monotone function of each candidate's typicality: a one-dimensional toy where typicality ranks agree.
  const emb = Array.from({ length: 15 }, (_, i) => Float32Array.from([i * i]));
  const typ = reidentifyByTypicality(emb, emb.map((e) => Float32Array.from([3 * e[0]! + 1])));
  close(typ.spearman!, 1, 1e-12);
  assert.equal(typ.top1, 1);
  const unrelated = reidentifyByTypicality(randomRows(40, 5, 16), randomRows(40, 5, 17));
  assert.ok(Math.abs(unrelated.spearman!) < 0.5, `spearman ${unrelated.spearman}`);
});

test('makeVariant: JPEG re-encode, central crop and resize give decodable images of the expected size', async () => {
  const rng = createRng(18);
  const data = Uint8Array.from({ length: 40 * 30 * 3 }, () => rng.int(256));
  const img = { kind: 'raw' as const, data, width: 40, height: 30, channels: 3 as const };
  const sizes: Record<string, [number, number, string]> = { 'jpeg-q75': [40, 30, 'jpeg'], 'crop-90': [40, 30, 'png'], 'resize-80': [32, 24, 'png'] };
  for (const [name, [w, h, format]] of Object.entries(sizes)) {
    const v = await makeVariant(img, name as 'jpeg-q75');
    assert.equal(v.kind, 'encoded');
    const meta = await sharp((v as { bytes: Uint8Array }).bytes).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [w, h, format], name);
  }
  await assert.rejects(() => makeVariant(img, 'blur' as 'jpeg-q75'), badArgument);
});

// ------------------------------------------------------------------------------------------------------------------
// The study, for real, on a few CIFAR-10 images

test('runTrafficStudy (quick, CIFAR-10): sane ranges through the real pipeline', async () => {
  const out = tempDir('owsd-traffic-');
  const ctx = new ExperimentContext({ modelsDir, dataDir, workDir: path.join(out, 'work') });
  try {
    const r = await runTrafficStudy(ctx, {
      dataset: 'cifar-10',
      quick: true,
      seed: 0,
      sideBySidePath: path.join(out, 'side.png'),
      pcaPath: path.join(out, 'pca.svg'),
    });
    assert.equal(r.selection.images, 120);
    assert.equal(r.cloud, 'cifar10-resnet20');
    // 5.2: the scrambled answers carry (almost) no label and are less confident than the plaintext ones.
    assert.ok(r.cloudOutputs.trueInPlaintextTop1 > 0.7, `cloud plaintext accuracy ${r.cloudOutputs.trueInPlaintextTop1}`);
    assert.ok(r.cloudOutputs.trueInScrambledTop1 < 0.35, `true label in scrambled top-1 ${r.cloudOutputs.trueInScrambledTop1}`);
    assert.ok(r.cloudOutputs.entropy.scrambled <= Math.log(10) + 1e-9);
    assert.ok(r.cloudOutputs.dominant.scrambled.share >= 0.1 && r.cloudOutputs.dominant.scrambled.share <= 1);
    assert.ok(r.generator.zeroFraction > 0.2 && r.generator.zeroFraction < 0.9, `zero activations ${r.generator.zeroFraction}`);
    assert.equal(r.pca.scrambled.groups.length, 2);
    assert.equal(r.pca.scrambled.groups[0]!.points.length + r.pca.scrambled.groups[1]!.points.length, 24);
    // Label inference: k = 20 leaves no query at 12 per label and is skipped.
    assert.deepEqual(r.labelInference.ks, [1, 5]);
    const pixel5 = r.labelInference.results.find((x) => x.attacker === 'pixel-1nn' && x.k === 5)!;
    assert.equal(pixel5.queries, 70);
    assert.ok(pixel5.accuracy >= pixel5.chance + 0.1, `pixel 1-NN at k=5: ${pixel5.accuracy} vs chance ${pixel5.chance}`);
    for (const x of r.labelInference.results) assert.ok(x.accuracy >= 0 && x.accuracy <= 1 && x.chance === 0.1, JSON.stringify(x));
    // The IIN trains on only 84 images here (its learning rate is made for thousands): just above chance.
    assert.ok(r.labelInference.iin.top1.both > 0.15, `IIN ${r.labelInference.iin.top1.both}`);
    assert.equal(r.labelInference.iin.train + r.labelInference.iin.test, 120);
    assert.deepEqual(r.labelInference.embeddingReference.map((x) => x.k), [1, 5]);
    // Linkability: deterministic scrambling, and the encoder itself links near duplicates.
    assert.equal(r.linkability.exact.rate, 1);
    assert.equal(r.linkability.exact.distinctFirst, r.linkability.exact.pairs);
    assert.equal(r.linkability.nearDuplicate.length, 3);
    for (const nd of r.linkability.nearDuplicate) {
      assert.ok(nd.embeddingReference.auc > 0.8, `${nd.variant} embedding AUC ${nd.embeddingReference.auc}`);
      for (const a of [nd.pixels.auc, nd.cloud.auc]) assert.ok(a >= 0 && a <= 1);
    }
    assert.deepEqual(r.linkability.reidentification.map((x) => x.method), ['cloud', 'typicality']);
    assert.ok(r.traffic.scrambledSent >= 120 + 3 * 8);
    // Figures: a PNG of 6 originals over their scrambled images, and an SVG scatter.
    const meta = await sharp(fs.readFileSync(r.figures.sideBySide!)).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [6 * 256 + 5 * 4, 2 * 256 + 4, 'png']);
    assert.match(fs.readFileSync(r.figures.pca!, 'utf8'), /^<svg[\s\S]*<\/svg>\s*$/);
    // JSON-serialisable.
    assert.deepEqual(JSON.parse(JSON.stringify(r)).labelInference.ks, [1, 5]);
  } finally {
    await ctx.close();
    fs.rmSync(out, { recursive: true, force: true });
  }
});
