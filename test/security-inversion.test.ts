/**
 * The attack toolkit (src/analysis/ridge.ts, src/analysis/numerics/, src/analysis/inversion.ts) against known answers and JS references,
 * and one quick real run of the inversion study on CIFAR-10 (src/experiments/security-inversion.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { fitRidge, predictRidge } from '../src/analysis/ridge.js';
import { dense, type Dense } from '../src/analysis/numerics/matrix.js';
import { matmul, matmul64 } from '../src/analysis/numerics/products.js';
import { cholesky, choleskyInverseFactor, choleskySolve, invertLower } from '../src/analysis/numerics/cholesky.js';
import { symmetricEigen } from '../src/analysis/numerics/eigen.js';
import { fitPca, pcaReconstructionMse } from '../src/analysis/numerics/pca.js';
import { applyRandomFeatures, createRandomFeatures } from '../src/analysis/numerics/random-features.js';
import { budgetFromCurve, crossingFromCurve, imageSetMetrics, meanRowCorrelation, mse, psnr, reidentify, ssim } from '../src/analysis/inversion.js';
import { ExperimentContext } from '../src/experiments/context.js';
import { runInversionStudy, type InversionPoint } from '../src/experiments/security-inversion.js';
import { averagePool } from '../src/experiments/inversion-pairs.js';
import { createRng } from '../src/internal/random.js';
import { OwsdError } from '../src/errors.js';
import { dataDir, modelsDir, tempDir } from './helpers.js';

function randn(rows: number, cols: number, seed: number, sd = 1): Dense {
  const rng = createRng(seed);
  const m = dense(rows, cols);
  for (let i = 0; i < m.data.length; i++) m.data[i] = rng.normal() * sd;
  return m;
}

function jsMatmul(a: ArrayLike<number>, ar: number, ac: number, b: ArrayLike<number>, bc: number): Float64Array {
  const out = new Float64Array(ar * bc);
  for (let i = 0; i < ar; i++) for (let k = 0; k < ac; k++) for (let j = 0; j < bc; j++) out[i * bc + j] += a[i * ac + k]! * b[k * bc + j]!;
  return out;
}

function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j]!;
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** An SPD matrix XᵀX/n + shift·I from random data. */
function spd(n: number, seed: number, shift = 0.5): Float64Array {
  const x = randn(2 * n, n, seed);
  const g = transpose(x.data, 2 * n, n);
  const a = jsMatmul(g, n, 2 * n, x.data, n);
  for (let i = 0; i < n * n; i++) a[i] /= 2 * n;
  for (let i = 0; i < n; i++) a[i * n + i] += shift;
  return a;
}

const badArgument = (e: unknown) => e instanceof OwsdError && e.code === 'OWSD_ERR_BAD_ARGUMENT';

test('ORT products match JS for every transpose combination, float32 and float64', async () => {
  const a = randn(7, 5, 1);
  const b = randn(5, 4, 2);
  const ref = jsMatmul(a.data, 7, 5, b.data, 4);
  assert.ok(maxAbsDiff((await matmul(a, b)).data, ref) < 1e-5);
  const at = dense(5, 7, Float32Array.from(transpose(a.data, 7, 5)));
  const bt = dense(4, 5, Float32Array.from(transpose(b.data, 5, 4)));
  assert.ok(maxAbsDiff((await matmul(at, b, { transA: true })).data, ref) < 1e-5);
  assert.ok(maxAbsDiff((await matmul(a, bt, { transB: true })).data, ref) < 1e-5);
  assert.ok(maxAbsDiff((await matmul(at, bt, { transA: true, transB: true })).data, ref) < 1e-5);
  const r64 = await matmul64({ rows: 7, cols: 5, data: Float64Array.from(a.data) }, { rows: 4, cols: 5, data: Float64Array.from(bt.data) }, { transB: true });
  assert.ok(maxAbsDiff(r64.data, ref) < 1e-12);
  // Tall inputs are chunked over rows: same answer.
  const tall = randn(5000, 6, 3);
  const w = randn(6, 3, 4);
  assert.ok(maxAbsDiff((await matmul(tall, w)).data, jsMatmul(tall.data, 5000, 6, w.data, 3)) < 1e-4);
  await assert.rejects(matmul(a, a), (e: unknown) => e instanceof OwsdError && e.code === 'OWSD_ERR_SHAPE');
});

test('Cholesky: the textbook 3x3 case, the inverse factor, solves, and refusal of a non-SPD matrix', async () => {
  const a = Float64Array.from([4, 12, -16, 12, 37, -43, -16, -43, 98]);
  const l = cholesky(a, 3);
  assert.deepEqual(Array.from(l), [2, 0, 0, 6, 1, 0, -8, 5, 3]);
  const linv = invertLower(l, 3);
  assert.ok(maxAbsDiff(jsMatmul(l, 3, 3, linv, 3), [1, 0, 0, 0, 1, 0, 0, 0, 1]) < 1e-12);
  // A·x = b with x = [1, 2, 3].
  const b = jsMatmul(a, 3, 3, [1, 2, 3], 1);
  assert.ok(maxAbsDiff(choleskySolve(l, 3, b, 1), [1, 2, 3]) < 1e-10);
  assert.throws(() => cholesky(Float64Array.from([1, 2, 2, 1]), 2), badArgument);
  assert.throws(() => cholesky(Float64Array.from([0, 0, 0, 1]), 2), badArgument);
  await assert.rejects(choleskyInverseFactor(Float64Array.from([1, 2, 2, 1]), 2), badArgument);
});

test('the blocked inverse factor (ORT products above 256 rows) equals the JS one and inverts A', async () => {
  const n = 600;
  const a = spd(n, 11);
  const blocked = await choleskyInverseFactor(a, n);
  const plain = invertLower(cholesky(a, n), n);
  assert.ok(maxAbsDiff(blocked, plain) < 1e-9, `blocked vs plain: ${maxAbsDiff(blocked, plain)}`);
  // Linv·A·Linvᵀ = I.
  const la = await matmul64({ rows: n, cols: n, data: blocked }, { rows: n, cols: n, data: a });
  const eye = await matmul64(la, { rows: n, cols: n, data: blocked }, { transB: true });
  let err = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) err = Math.max(err, Math.abs(eye.data[i * n + j]! - (i === j ? 1 : 0)));
  assert.ok(err < 1e-9, `Linv A Linvᵀ - I: ${err}`);
  // Upper triangle stays zero.
  for (let i = 0; i < n; i += 37) for (let j = i + 1; j < n; j += 41) assert.equal(blocked[i * n + j], 0);
});

test('ridge recovers a known linear map exactly (primal and dual agree), and predicts new rows', async () => {
  const n = 300;
  const d = 20;
  const m = 6;
  const x = randn(n, d, 21, 3);
  for (let i = 0; i < n; i++) x.data[i * d] += 5; // an offset column: standardisation must handle it
  const w = randn(d, m, 22);
  const bias = Float32Array.from([1, -2, 0.5, 0, 3, -1]);
  const y = await matmul(x, w);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) y.data[i * m + j] += bias[j]!;
  const model = await fitRidge(x, y, { alphas: [1e-9] });
  assert.equal(model.solver, 'primal');
  assert.ok(maxAbsDiff(model.weights.data, w.data) < 1e-3, `weights off by ${maxAbsDiff(model.weights.data, w.data)}`);
  assert.ok(maxAbsDiff(model.bias, bias) < 1e-3, `bias off by ${maxAbsDiff(model.bias, bias)}`);
  const xNew = randn(50, d, 23);
  const yNew = await matmul(xNew, w);
  const pred = await predictRidge(model, xNew);
  for (let i = 0; i < 50; i++) for (let j = 0; j < m; j++) yNew.data[i * m + j] += bias[j]!;
  assert.ok(maxAbsDiff(pred.data, yNew.data) < 1e-3);
  // The dual (kernel) solution of the same problem is the same model.
  const dual = await fitRidge(x, y, { alphas: [0.3], solver: 'dual' });
  const primal = await fitRidge(x, y, { alphas: [0.3], solver: 'primal' });
  assert.equal(dual.solver, 'dual');
  assert.ok(maxAbsDiff(dual.weights.data, primal.weights.data) < 1e-3, `dual vs primal: ${maxAbsDiff(dual.weights.data, primal.weights.data)}`);
  assert.ok(maxAbsDiff(dual.bias, primal.bias) < 1e-3);
  // Fewer rows than inputs: auto picks the dual.
  const wide = await fitRidge(randn(30, 80, 24), randn(30, 2, 25), { alphas: [1] });
  assert.equal(wide.solver, 'dual');
});

test('ridge matches a plain JS normal-equations reference (standardised, with intercept)', async () => {
  const n = 40;
  const d = 5;
  const m = 3;
  const x = randn(n, d, 31, 2);
  const y = randn(n, m, 32);
  const alpha = 0.5;
  const model = await fitRidge(x, y, { alphas: [alpha] });
  // Reference: z = (x - mean) / std (population), yc = y - mean, solve (zᵀz + αn I) W = zᵀyc by Gauss-Jordan.
  const mu = new Float64Array(d);
  const sd = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    for (let i = 0; i < n; i++) mu[j] += x.data[i * d + j]! / n;
    for (let i = 0; i < n; i++) sd[j] += (x.data[i * d + j]! - mu[j]!) ** 2 / n;
    sd[j] = Math.sqrt(sd[j]!);
  }
  const my = new Float64Array(m);
  for (let j = 0; j < m; j++) for (let i = 0; i < n; i++) my[j] += y.data[i * m + j]! / n;
  const z = Float64Array.from({ length: n * d }, (_, k) => (x.data[k]! - mu[k % d]!) / sd[k % d]!);
  const yc = Float64Array.from({ length: n * m }, (_, k) => y.data[k]! - my[k % m]!);
  const zt = transpose(z, n, d);
  const aug = jsMatmul(zt, d, n, z, d);
  for (let i = 0; i < d; i++) aug[i * d + i] += alpha * n;
  const rhs = jsMatmul(zt, d, n, yc, m);
  // Gauss-Jordan on [A | rhs].
  const A = Array.from({ length: d }, (_, i) => [...aug.slice(i * d, (i + 1) * d), ...rhs.slice(i * m, (i + 1) * m)]);
  for (let c = 0; c < d; c++) {
    const p = A[c]![c]!;
    for (let k = 0; k < d + m; k++) A[c]![k]! /= p;
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = A[r]![c]!;
      for (let k = 0; k < d + m; k++) A[r]![k] = A[r]![k]! - f * A[c]![k]!;
    }
  }
  const wRef = new Float64Array(d * m);
  for (let i = 0; i < d; i++) for (let j = 0; j < m; j++) wRef[i * m + j] = A[i]![d + j]! / sd[i]!;
  const bRef = Float64Array.from(my);
  for (let i = 0; i < d; i++) for (let j = 0; j < m; j++) bRef[j] -= mu[i]! * wRef[i * m + j]!;
  assert.ok(maxAbsDiff(model.weights.data, wRef) < 1e-5, `weights vs reference: ${maxAbsDiff(model.weights.data, wRef)}`);
  assert.ok(maxAbsDiff(model.bias, bRef) < 1e-5);
});

test('ridge chooses α on the holdout per output block: small for clean signal, large for pure noise', async () => {
  const n = 400;
  const x = randn(n, 30, 41);
  const w = randn(30, 4, 42);
  const signal = await matmul(x, w);
  const noise = randn(n, 4, 43);
  const y = dense(n, 8);
  for (let i = 0; i < n; i++) {
    y.data.set(signal.data.subarray(i * 4, (i + 1) * 4), i * 8);
    y.data.set(noise.data.subarray(i * 4, (i + 1) * 4), i * 8 + 4);
  }
  for (const solver of ['primal', 'dual'] as const) {
    const model = await fitRidge(x, y, { alphas: [1e-4, 1e-2, 1, 100], blocks: [4, 4], seed: 1, solver, refine: false });
    assert.equal(model.holdoutRows, 80);
    assert.deepEqual(model.alphas, [1e-4, 1e-2, 1, 100]);
    assert.equal(model.blocks[0]!.alpha, 1e-4, `${solver}: clean block chose ${model.blocks[0]!.alpha}`);
    assert.equal(model.blocks[1]!.alpha, 100, `${solver}: noise block chose ${model.blocks[1]!.alpha}`);
    assert.ok(model.blocks[0]!.validation < 1e-3);
    assert.ok(model.blocks[1]!.validation > 0.8 && model.blocks[1]!.validation < 1.3);
    assert.equal(model.blocks[0]!.validationMse.length, 4);
    // Refinement steps one grid step beyond an end that wins (and between neighbours otherwise).
    const refined = await fitRidge(x, y, { alphas: [1e-4, 1e-2, 1, 100], blocks: [4, 4], seed: 1, solver });
    assert.deepEqual(refined.alphas.map((a) => Number(a.toPrecision(6))), [1e-6, 1e-4, 1e-3, 1e-2, 1, 10, 100, 1e4]);
    // Pure noise: any strong penalty does (which one wins is chance); clean signal: the weakest.
    assert.ok(refined.blocks[1]!.alpha >= 10, `noise block chose ${refined.blocks[1]!.alpha}`);
    assert.ok(refined.blocks[0]!.alpha <= 1e-4);
    assert.ok(refined.blocks[1]!.validation <= model.blocks[1]!.validation);
    assert.equal(refined.blocks[1]!.validationMse.length, 8);
  }
  const primal = await fitRidge(x, y, { alphas: [1e-2, 1], blocks: [4, 4], seed: 1, solver: 'primal', refine: false });
  const dual = await fitRidge(x, y, { alphas: [1e-2, 1], blocks: [4, 4], seed: 1, solver: 'dual', refine: false });
  assert.ok(maxAbsDiff(primal.blocks[1]!.validationMse, dual.blocks[1]!.validationMse) < 1e-4, 'primal and dual holdout errors agree');
  await assert.rejects(fitRidge(x, y, { blocks: [3, 4] }), badArgument);
  await assert.rejects(fitRidge(x, y, { alphas: [0] }), badArgument);
  await assert.rejects(fitRidge(x, rowSliceCopy(y, 10)), (e: unknown) => e instanceof OwsdError && e.code === 'OWSD_ERR_SHAPE');
});

function rowSliceCopy(m: Dense, rows: number): Dense {
  return dense(rows, m.cols, m.data.slice(0, rows * m.cols));
}

test('random ReLU features: deterministic per seed, non-negative, and they let ridge fit a nonlinear map a linear one cannot', async () => {
  const n = 600;
  const x = randn(n, 3, 51);
  const y = dense(n, 1);
  for (let i = 0; i < n; i++) y.data[i] = Math.abs(x.data[i * 3]!) + x.data[i * 3 + 1]! ** 2;
  const map = createRandomFeatures(x, 256, 7);
  const f1 = await applyRandomFeatures(map, x);
  const f2 = await applyRandomFeatures(createRandomFeatures(x, 256, 7), x);
  assert.deepEqual(f1.data, f2.data);
  assert.ok(f1.data.every((v) => v >= 0));
  const lin = await fitRidge(x, y, { seed: 3 });
  const rf = await fitRidge(f1, y, { seed: 3 });
  assert.ok(rf.blocks[0]!.validation < 0.5 * lin.blocks[0]!.validation, `rf ${rf.blocks[0]!.validation} vs linear ${lin.blocks[0]!.validation}`);
});

test('symmetric eigen-decomposition: known values and A·V = V·Λ on a random matrix', () => {
  const { values } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
  assert.ok(Math.abs(values[0]! - 3) < 1e-12 && Math.abs(values[1]! - 1) < 1e-12);
  const n = 30;
  const a = spd(n, 61, 0);
  const { values: lam, vectors: v } = symmetricEigen(a, n);
  const av = jsMatmul(a, n, n, v, n);
  let err = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) err = Math.max(err, Math.abs(av[i * n + j]! - v[i * n + j]! * lam[j]!));
  assert.ok(err < 1e-9, `residual ${err}`);
  for (let j = 1; j < n; j++) assert.ok(lam[j - 1]! >= lam[j]!);
});

test('PCA finds planted directions and variances; reconstruction MSE per k is exact', async () => {
  const n = 2000;
  const d = 40;
  const sds = [6, 4, 2];
  // Orthonormal directions: the first three of a random orthonormal basis (Gram-Schmidt in JS).
  const rng = createRng(71);
  const dirs: number[][] = [];
  while (dirs.length < 3) {
    const v = Array.from({ length: d }, () => rng.normal());
    for (const u of dirs) {
      const dot = u.reduce((s, x, i) => s + x * v[i]!, 0);
      for (let i = 0; i < d; i++) v[i] -= dot * u[i]!;
    }
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    dirs.push(v.map((x) => x / norm));
  }
  const x = dense(n, d);
  const noise = 0.1;
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < d; i++) x.data[r * d + i] = 3 + noise * rng.normal();
    for (let c = 0; c < 3; c++) {
      const z = rng.normal() * sds[c]!;
      for (let i = 0; i < d; i++) x.data[r * d + i] += z * dirs[c]![i]!;
    }
  }
  const p = await fitPca(x, 5, { seed: 1 });
  assert.equal(p.k, 5);
  // Against the exact eigen-decomposition of the sample covariance (JS), and against the planted directions.
  const mu = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) mu[i] += x.data[r * d + i]! / n;
  const xc = Float64Array.from(x.data, (v, k) => v - mu[k % d]!);
  const cov = jsMatmul(transpose(xc, n, d), d, n, xc, d).map((v) => v / n);
  const exact = symmetricEigen(cov, d);
  for (let c = 0; c < 5; c++) {
    const cosExact = Math.abs(Array.from({ length: d }, (_, i) => exact.vectors[i * d + c]! * p.components.data[c * d + i]!).reduce((a, b) => a + b, 0));
    assert.ok(cosExact > 1 - 1e-6 || c >= 3, `component ${c} vs exact: |cos| = ${cosExact}`);
    assert.ok(Math.abs(p.variances[c]! / exact.values[c]! - 1) < (c < 3 ? 1e-6 : 0.05), `variance ${c}: ${p.variances[c]} vs exact ${exact.values[c]}`);
  }
  for (let c = 0; c < 3; c++) {
    const dot = Math.abs(dirs[c]!.reduce((s, v, i) => s + v * p.components.data[c * d + i]!, 0));
    assert.ok(dot > 0.99, `component ${c} vs planted: |cos| = ${dot}`);
    assert.ok(Math.abs(p.variances[c]! / sds[c]! ** 2 - 1) < 0.1, `variance ${c}: ${p.variances[c]} vs ${sds[c]! ** 2}`);
  }
  let trace = 0;
  for (let i = 0; i < d; i++) trace += cov[i * d + i]!;
  assert.ok(Math.abs(p.totalVariance / trace - 1) < 1e-9);
  // Orthonormal rows.
  for (let a = 0; a < 5; a++) {
    for (let b = 0; b < 5; b++) {
      const dot = p.components.data.subarray(a * d, (a + 1) * d).reduce((s, v, i) => s + v * p.components.data[b * d + i]!, 0);
      assert.ok(Math.abs(dot - (a === b ? 1 : 0)) < 1e-4);
    }
  }
  const [e0, e3] = await pcaReconstructionMse(p, x, [0, 3]);
  // k = 0: the total variance per value; k = 3: only the isotropic noise is left (d - 3 of its d directions).
  const total = (sds.reduce((s, v) => s + v * v, 0) + d * noise * noise) / d;
  assert.ok(Math.abs(e0! / total - 1) < 0.1, `k=0: ${e0} vs ${total}`);
  assert.ok(Math.abs(e3! / ((noise * noise * (d - 3)) / d) - 1) < 0.1, `k=3: ${e3}`);
  // Fewer rows than requested components: k is capped at n - 1.
  const small = await fitPca(rowSliceCopy(x, 4), 10);
  assert.equal(small.k, 3);
  await assert.rejects(pcaReconstructionMse(p, x, [6]), badArgument);
});

/** SSIM by explicit windows (no separable filtering), for checking `ssim`. */
function ssimBrute(a: Float32Array, b: Float32Array, w: number, h: number, ch: number): number {
  const r = 5;
  const g: number[] = [];
  for (let i = -r; i <= r; i++) g.push(Math.exp((-0.5 * i * i) / 2.25));
  const gs = g.reduce((s, v) => s + v, 0);
  const k = g.map((v) => v / gs);
  let total = 0;
  for (let c = 0; c < ch; c++) {
    let s = 0;
    let cnt = 0;
    for (let y = r; y < h - r; y++) {
      for (let x = r; x < w - r; x++) {
        let mx = 0, my = 0, xx = 0, yy = 0, xy = 0;
        for (let dy = -r; dy <= r; dy++) {
          for (let dx = -r; dx <= r; dx++) {
            const wt = k[dy + r]! * k[dx + r]!;
            const p = ((y + dy) * w + x + dx) * ch + c;
            mx += wt * a[p]!;
            my += wt * b[p]!;
            xx += wt * a[p]! * a[p]!;
            yy += wt * b[p]! * b[p]!;
            xy += wt * a[p]! * b[p]!;
          }
        }
        const c1 = 1e-4;
        const c2 = 9e-4;
        s += ((2 * mx * my + c1) * (2 * (xy - mx * my) + c2)) / ((mx * mx + my * my + c1) * (xx - mx * mx + yy - my * my + c2));
        cnt++;
      }
    }
    total += s / cnt;
  }
  return total / ch;
}

test('MSE, PSNR and SSIM: identical images, a constant offset, and an explicit-window SSIM reference', () => {
  const rng = createRng(81);
  const w = 24;
  const h = 20;
  const img = Float32Array.from({ length: w * h * 3 }, () => 0.2 + 0.6 * rng.next());
  assert.equal(mse(img, img), 0);
  assert.equal(psnr(img, img), Infinity);
  assert.ok(Math.abs(ssim(img, img, w, h, 3) - 1) < 1e-12);
  // A constant offset of 0.1: MSE 0.01, PSNR 20 dB; SSIM keeps the structure term at 1, only luminance drops.
  const shifted = img.map((v) => v + 0.1);
  assert.ok(Math.abs(mse(img, shifted) - 0.01) < 1e-8);
  assert.ok(Math.abs(psnr(img, shifted) - 20) < 1e-5);
  const s = ssim(img, shifted, w, h, 3);
  assert.ok(s < 1 && s > 0.9, `offset SSIM ${s}`);
  assert.ok(Math.abs(s - ssimBrute(img, shifted, w, h, 3)) < 1e-6);
  // Noisy and independent images against the reference.
  const noisy = img.map((v) => v + 0.1 * rng.normal());
  const other = Float32Array.from({ length: w * h * 3 }, () => rng.next());
  assert.ok(Math.abs(ssim(img, noisy, w, h, 3) - ssimBrute(img, noisy, w, h, 3)) < 1e-6);
  assert.ok(Math.abs(ssim(img, other, w, h, 3) - ssimBrute(img, other, w, h, 3)) < 1e-6);
  assert.ok(Math.abs(ssim(img, other, w, h, 3)) < 0.15, 'independent images have SSIM near 0');
  assert.ok(ssim(img, noisy, w, h, 3) > ssim(img, other, w, h, 3));
  assert.throws(() => ssim(img.subarray(0, 8 * 8 * 3), img.subarray(0, 8 * 8 * 3), 8, 8, 3), (e: unknown) => e instanceof OwsdError && e.code === 'OWSD_ERR_SHAPE');
  // Set metrics clip predictions to [0, 1] and average per image.
  const pred = Float32Array.from([...img, ...img.map((v) => v + 5)]);
  const truth = Float32Array.from([...img, ...img.map(() => 1)]);
  const m = imageSetMetrics(pred, truth, { n: 2, width: w, height: h, channels: 3 });
  assert.equal(m.images, 2);
  assert.equal(m.psnr, Infinity);
  assert.equal(m.mse, 0);
});

test('re-identification: exact copies are found, noise is at chance, constants score 0; L2 and pools', async () => {
  const n = 250;
  const dim = 64;
  const cand = randn(n, dim, 91).data;
  const near = cand.map((v, i) => v + 0.3 * Math.sin(i));
  const r = await reidentify(near, cand, n, dim, { pool: 100 });
  assert.equal(r.pools, 2);
  assert.equal(r.queries, 200);
  assert.equal(r.top1, 1);
  assert.equal(r.chance1, 0.01);
  assert.equal(r.meanRank, 1);
  const l2 = await reidentify(near, cand, n, dim, { metric: 'l2' });
  assert.equal(l2.top1, 1);
  assert.equal(l2.pool, 250);
  const noise = randn(n, dim, 92).data;
  const chance = await reidentify(noise, cand, n, dim);
  assert.ok(chance.top1 < 0.03, `noise top-1 ${chance.top1}`);
  assert.ok(chance.top5 < 0.08);
  assert.ok(Math.abs(chance.meanRank - 125.5) < 25, `noise mean rank ${chance.meanRank}`);
  // A prediction that does not depend on the input (here: the centre itself) ties with every candidate: 0, not 100%.
  const centre = Float32Array.from({ length: dim }, (_, j) => j / dim);
  const constant = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) constant.set(centre, i * dim);
  for (const metric of ['cosine', 'l2'] as const) {
    const c = await reidentify(constant, cand, n, dim, { center: centre, metric });
    assert.equal(c.top1, metric === 'cosine' ? 0 : c.top1);
    if (metric === 'cosine') assert.equal(c.top5, 0);
  }
  // The centre is subtracted from both sides: a shared offset changes nothing.
  const offset = Float32Array.from({ length: dim }, (_, j) => 50 + j);
  const shiftedQ = near.map((v, i) => v + offset[i % dim]!);
  const shiftedC = cand.map((v, i) => v + offset[i % dim]!);
  const centred = await reidentify(shiftedQ, shiftedC, n, dim, { center: offset, pool: 100 });
  assert.deepEqual(centred, r);
  await assert.rejects(reidentify(near, cand, n, dim + 1), (e: unknown) => e instanceof OwsdError && e.code === 'OWSD_ERR_SHAPE');
  assert.ok(Math.abs(meanRowCorrelation(cand, cand, n, dim) - 1) < 1e-6);
});

test('budgetFromCurve: first crossing, unsorted points, NaN, direction, equality, and nothing crossing', () => {
  const pts = [
    { n: 1000, value: 0.15 },
    { n: 100, value: 0.05 },
    { n: 300, value: 0.08 },
    { n: 3000, value: 0.4 },
  ];
  assert.equal(budgetFromCurve(pts, 0.1), 1000);
  const c = crossingFromCurve(pts, 0.1);
  assert.equal(c.lastSafe, 300);
  assert.ok(c.estimate !== null && c.estimate > 300 && c.estimate < 1000);
  // Interpolation is linear in log N: halfway between 0.05 and 0.15 at N=100 and 1000 is √(100·1000).
  const mid = crossingFromCurve([{ n: 100, value: 0.05 }, { n: 1000, value: 0.15 }], 0.1);
  assert.ok(Math.abs(mid.estimate! - Math.sqrt(1e5)) < 1e-6);
  assert.equal(budgetFromCurve(pts, 1), null);
  assert.equal(budgetFromCurve([], 0.1), null);
  assert.equal(budgetFromCurve(pts, 0.01), 100);
  assert.equal(crossingFromCurve(pts, 0.01).crossedAtSmallest, true);
  assert.equal(crossingFromCurve(pts, 0.01).lastSafe, null);
  assert.equal(budgetFromCurve(pts, 0.15), 3000, 'equal to the threshold is not a crossing');
  assert.equal(budgetFromCurve([{ n: 100, value: NaN }, { n: 200, value: 0.5 }], 0.1), 200);
  assert.equal(budgetFromCurve(pts, { value: 0.07, direction: 'below' }), 100);
  assert.equal(budgetFromCurve([{ n: 10, value: 5 }, { n: 20, value: 3 }, { n: 40, value: 1 }], { value: 2, direction: 'below' }), 40);
  // Not monotone: the first crossing counts.
  assert.equal(budgetFromCurve([{ n: 10, value: 0.2 }, { n: 20, value: 0.0 }], 0.1), 10);
  assert.throws(() => budgetFromCurve([{ n: 0, value: 1 }], 0.5), badArgument);
  assert.throws(() => budgetFromCurve([{ n: 10, value: 1 }], NaN), badArgument);
});

test('average pooling of a scrambled image', () => {
  const src = new Uint8Array(4 * 4 * 3);
  for (let i = 0; i < 16; i++) src.set([i * 10, 255, 0], i * 3);
  const out = new Float32Array(2 * 2 * 3);
  averagePool(src, 4, 2, out);
  // Top-left 2x2 block holds pixels 0, 1, 4, 5: red (0 + 10 + 40 + 50) / 4 = 25.
  assert.ok(Math.abs(out[0]! - 25 / 255) < 1e-7);
  assert.ok(Math.abs(out[1]! - 1) < 1e-7);
  assert.equal(out[2], 0);
  assert.throws(() => averagePool(src, 4, 3, out), badArgument);
});

test('inversion study, quick, on real CIFAR-10 pairs through the real key and encoder', { timeout: 600_000 }, async () => {
  const ctx = new ExperimentContext({ modelsDir, dataDir, workDir: tempDir('owsd-inversion-') });
  const dir = tempDir('owsd-inversion-out-');
  try {
    const figurePath = path.join(dir, 'grid.png');
    const r = await runInversionStudy(ctx, { dataset: 'cifar-10', quick: true, seed: 0, figurePath, chartDir: dir });
    assert.equal(r.images.selected, 240);
    assert.equal(r.images.test, 80);
    assert.deepEqual(r.nValues, [10, 40, 160]);
    assert.equal(r.points.length, 3);
    assert.doesNotThrow(() => JSON.parse(JSON.stringify(r)));
    const [first, , last] = r.points as [InversionPoint, InversionPoint, InversionPoint];
    for (const p of r.points) {
      for (const v of Object.values(p.plaintext.variants)) {
        assert.ok(v.psnr > 8 && v.psnr < 25, `psnr ${v.psnr}`);
        assert.ok(v.ssim > -1 && v.ssim <= 1);
        assert.equal(v.reid100.pool, 80);
        assert.equal(v.reid100.chance1, 1 / 80);
      }
      assert.ok(p.autoencoder.originalVariance > 0.03 && p.autoencoder.originalVariance < 0.12, `original variance ${p.autoencoder.originalVariance}`);
    }
    // Measured on this run (seed 0; linear variants best): N=10 / 40 / 160 →
    //   surrogate links scrambled images to embeddings (top-1 among 80): 67.5% / 100% / 100%;
    //   embedding re-identified from the scrambled image: 11% / 86% / 100%;
    //   plaintext reconstruction PSNR 13.4 dB vs 13.2 dB for the mean image at N=160, re-identification 13.8%;
    //   AE k=16 leaves 37% of the originals' variance and 84% of the (pooled) scrambled images'.
    // The thresholds below leave wide margins for other CPUs (the encoder is int8).
    const link = (p: InversionPoint) => p.keyRecovery.variants[p.keyRecovery.best]!.link100.top1;
    const emb = (p: InversionPoint) => p.embedding.variants[p.embedding.best]!.reid100.top1;
    assert.ok(link(first) > 0.3, `surrogate link at N=10: ${link(first)}`);
    assert.ok(link(last) > 0.9, `surrogate link at N=160: ${link(last)}`);
    assert.ok(emb(last) > 0.8, `embedding re-identification at N=160: ${emb(last)}`);
    assert.ok(emb(last) > emb(first));
    const sur = (p: InversionPoint) => p.keyRecovery.variants[p.keyRecovery.best]!.centredCorrelation;
    assert.ok(sur(last) > sur(first) + 0.15, `surrogate centred correlation ${sur(first)} → ${sur(last)}`);
    // Pixels: the reconstruction is only slightly better than the mean image, yet re-identifies above chance.
    const pix = last.plaintext.variants[last.plaintext.best]!;
    assert.ok(pix.psnr - last.plaintext.baseline.psnr > -0.5 && pix.psnr - last.plaintext.baseline.psnr < 2, `PSNR gain ${pix.psnr - last.plaintext.baseline.psnr}`);
    assert.ok(pix.reid100.top1 > 4 * pix.reid100.chance1, `plaintext re-identification ${pix.reid100.top1}`);
    // Linear autoencoder (paper 5.3): relative to their variance, pooled scrambled images are far harder to compress
    // than originals, though pooling leaves them little variance in absolute terms.
    const relO = last.autoencoder.original[0]! / last.autoencoder.originalVariance;
    const relS = last.autoencoder.scrambled[0]! / last.autoencoder.scrambledVariance;
    assert.ok(relS > relO + 0.2, `AE k=16 unexplained variance: originals ${relO}, scrambled ${relS}`);
    assert.equal(last.autoencoder.original[2], null, 'k=256 needs more than 160 images');
    assert.ok(r.variance.scrambled256 > 5 * r.variance.scrambled64, `variance 256 px ${r.variance.scrambled256} vs 64 px ${r.variance.scrambled64}`);
    assert.ok(r.budgets.smallest !== null && r.budgets.smallest.n <= 40, `smallest budget ${JSON.stringify(r.budgets.smallest)}`);
    // Curves and budgets are consistent with the points.
    assert.equal(r.curves.reid.length, 3);
    assert.equal(r.curves.psnr[0]!.points.length, 3);
    assert.ok('embeddingReid' in r.budgets.thresholds && 'plaintextPsnr' in r.budgets.thresholds);
    // The figure: a PNG with 8 columns and 8 rows of 128 px tiles.
    const meta = await sharp(figurePath).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 330 + 8 * 134 + 6);
    assert.equal(meta.height, 34 + 9 * 134 + 6);
    assert.equal(r.figure!.rows.length, 9);
    assert.equal(r.figure!.testIds.length, 8);
    assert.equal(r.charts.length, 2);
    for (const c of r.charts) assert.ok(fs.statSync(c).size > 1000);
  } finally {
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
