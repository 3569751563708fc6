import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  batchBounds,
  exportIinOnnx,
  dropoutMasks,
  Iin,
  iinWeightsFromJson,
  iinWeightsToJson,
  readIinJson,
  topK,
  trainIin,
  type IinWeights,
} from '../src/iin/index.js';
import {
  EPOCH_IO,
  outName,
  PARAM_NAMES,
  serializeTrainEpoch,
  serializeTrainStep,
  stateNames,
  stateShapes,
  STEP_IO,
  type TrainGraphOptions,
} from '../src/iin/graph.js';
import { createSession, Tensor, type OrtTensor, type Session } from '../src/internal/ort.js';
import { createRng, type Rng } from '../src/internal/random.js';

// ------------------------------------------------------------------------------------------------------------------
// helpers

type F64 = Float64Array;
const prod = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

/** Tiny problem for the graph checks; z1 is kept away from the ReLU kink so finite differences are valid. */
const TINY = { inputDim: 5, hidden: 7, numClasses: 3, batch: 6 };
const GRAPH_OPTS: TrainGraphOptions = {
  inputDim: TINY.inputDim,
  hidden: TINY.hidden,
  numClasses: TINY.numClasses,
  bnEpsilon: 1e-3,
  bnMomentum: 0.9,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-7,
  weightDecay: false,
};

interface TinyProblem {
  x: F64;
  y: F64;
  mask: F64;
  state: Record<string, F64>;
}

function tinyProblem(rng: Rng, batch = TINY.batch): TinyProblem {
  const { inputDim: D, hidden: H, numClasses: C } = TINY;
  const x = Float64Array.from({ length: batch * D }, () => 2 * rng.normal() + 0.5);
  const y = new Float64Array(batch * C);
  for (let b = 0; b < batch; b++) y[b * C + (b % C)] = 1;
  const mask = Float64Array.from({ length: batch * H }, () => (rng.next() < 0.3 ? 0 : 1 / 0.7));
  const shapes = stateShapes(GRAPH_OPTS);
  const state: Record<string, F64> = {};
  for (const n of stateNames()) state[n] = new Float64Array(prod(shapes[n]));
  const fill = (a: F64, f: () => number) => a.forEach((_, i) => (a[i] = f()));
  fill(state.gamma, () => 1 + 0.3 * rng.normal());
  fill(state.beta, () => 0.3 * rng.normal());
  fill(state.w1, () => 0.6 * rng.normal());
  fill(state.b1, () => 0.2 * rng.normal());
  fill(state.w2, () => 0.6 * rng.normal());
  fill(state.b2, () => 0.2 * rng.normal());
  // non-trivial Adam moments and running statistics, so the update check is not a special case
  for (const p of PARAM_NAMES) {
    fill(state[`m_${p}`], () => 0.01 * rng.normal());
    fill(state[`v_${p}`], () => 1e-4 * rng.next());
  }
  fill(state.running_mean, () => rng.normal());
  fill(state.running_var, () => 0.5 + rng.next());
  return { x, y, mask, state };
}

/** Independent float64 forward pass in JS: the mean cross-entropy and z1 (pre-ReLU). */
function jsForward(pr: TinyProblem, params: Record<string, F64>, batch = TINY.batch): { loss: number; z1: F64 } {
  const { inputDim: D, hidden: H, numClasses: C } = TINY;
  const eps = GRAPH_OPTS.bnEpsilon;
  const xn = new Float64Array(batch * D);
  for (let d = 0; d < D; d++) {
    let m = 0;
    for (let b = 0; b < batch; b++) m += pr.x[b * D + d];
    m /= batch;
    let v = 0;
    for (let b = 0; b < batch; b++) v += (pr.x[b * D + d] - m) ** 2;
    v /= batch;
    for (let b = 0; b < batch; b++) xn[b * D + d] = ((pr.x[b * D + d] - m) / Math.sqrt(v + eps)) * params.gamma[d] + params.beta[d];
  }
  const z1 = new Float64Array(batch * H);
  let loss = 0;
  for (let b = 0; b < batch; b++) {
    const h = new Float64Array(H);
    for (let j = 0; j < H; j++) {
      let z = params.b1[j];
      for (let d = 0; d < D; d++) z += xn[b * D + d] * params.w1[d * H + j];
      z1[b * H + j] = z;
      h[j] = Math.max(0, z) * pr.mask[b * H + j];
    }
    const logits = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      let s = params.b2[c];
      for (let j = 0; j < H; j++) s += h[j] * params.w2[j * C + c];
      logits[c] = s;
    }
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((a, l) => a + Math.exp(l - max), 0));
    for (let c = 0; c < C; c++) loss -= pr.y[b * C + c] * (logits[c] - lse);
  }
  return { loss: loss / batch, z1 };
}

const t64 = (data: F64, dims: number[]): OrtTensor => new Tensor('float64', data, dims);
const t32 = (data: Float32Array, dims: number[]): OrtTensor => new Tensor('float32', data, dims);

function stepFeeds(pr: TinyProblem, state: Record<string, F64>, lr: number, batch = TINY.batch): Record<string, OrtTensor> {
  const { inputDim: D, hidden: H, numClasses: C } = TINY;
  const shapes = stateShapes(GRAPH_OPTS);
  const feeds: Record<string, OrtTensor> = {
    [STEP_IO.x]: t64(pr.x, [batch, D]),
    [STEP_IO.y]: t64(pr.y, [batch, C]),
    [STEP_IO.mask]: t64(pr.mask, [batch, H]),
    [STEP_IO.lr]: t64(Float64Array.of(lr), []),
    [STEP_IO.invBatch]: t64(Float64Array.of(1 / batch), []),
    [STEP_IO.rvCoef]: t64(Float64Array.of(((1 - GRAPH_OPTS.bnMomentum) * batch) / (batch - 1)), []),
  };
  for (const n of stateNames()) feeds[n] = t64(state[n], shapes[n]);
  return feeds;
}

let stepSession64: Session | undefined;
async function step64(): Promise<Session> {
  stepSession64 ??= await createSession(serializeTrainStep({ ...GRAPH_OPTS, precision: 'float64', exposeGradients: true }), {
    what: 'test step graph',
  });
  return stepSession64;
}

function relErr(a: number, b: number, floor: number): number {
  return Math.abs(a - b) / Math.max(floor, Math.abs(a) + Math.abs(b));
}

// ------------------------------------------------------------------------------------------------------------------
// the train-step graph

test('train-step graph: loss matches an independent JS forward pass (float64)', async () => {
  const pr = tinyProblem(createRng(11));
  const out = await (await step64()).run(stepFeeds(pr, pr.state, 1e-3));
  const js = jsForward(pr, pr.state);
  const loss = (out[STEP_IO.loss].data as F64)[0];
  assert.ok(Math.abs(loss - js.loss) < 1e-12 * Math.max(1, js.loss), `graph loss ${loss} vs JS ${js.loss}`);
});

test('train-step graph: every gradient matches central finite differences (float64, rel. error < 1e-6)', async (t) => {
  const pr = tinyProblem(createRng(11));
  const session = await step64();
  // finite differences are only valid away from the ReLU kink
  const minAbsZ = Math.min(...Array.from(jsForward(pr, pr.state).z1, Math.abs));
  assert.ok(minAbsZ > 1e-3, `test problem has |z1| = ${minAbsZ} too close to the ReLU kink`);
  const out = await session.run(stepFeeds(pr, pr.state, 1e-3));
  const h = 1e-6;
  const lossAt = async (params: Record<string, F64>) => {
    const r = await session.run(stepFeeds(pr, params, 1e-3), [STEP_IO.loss]);
    return (r[STEP_IO.loss].data as F64)[0];
  };
  let worst = { err: 0, where: '' };
  let checked = 0;
  let nonzero = 0;
  for (const p of PARAM_NAMES) {
    const analytic = out[STEP_IO.grad(p)].data as F64;
    assert.equal(analytic.length, pr.state[p].length, `grad_${p} has the shape of ${p}`);
    for (let i = 0; i < analytic.length; i++) {
      const plus = { ...pr.state, [p]: pr.state[p].slice() };
      const minus = { ...pr.state, [p]: pr.state[p].slice() };
      plus[p][i] += h;
      minus[p][i] -= h;
      const numeric = ((await lossAt(plus)) - (await lossAt(minus))) / (2 * h);
      const err = relErr(numeric, analytic[i], 1e-7);
      if (err > worst.err) worst = { err, where: `${p}[${i}]: analytic ${analytic[i]}, numeric ${numeric}` };
      checked++;
      if (Math.abs(numeric) > 1e-4) nonzero++;
    }
  }
  t.diagnostic(`${checked} entries, worst relative error ${worst.err.toExponential(2)} at ${worst.where}`);
  assert.ok(worst.err < 1e-6, `worst relative error ${worst.err.toExponential(2)} at ${worst.where}`);
  assert.ok(nonzero > checked / 2, `only ${nonzero} of ${checked} gradient entries are non-negligible: weak test problem`);
});

test('train-step graph: Adam and BN running-statistics updates match a JS reference (float64)', async () => {
  const pr = tinyProblem(createRng(12));
  const lr = 3e-3;
  const out = await (await step64()).run(stepFeeds(pr, pr.state, lr));
  const { adamBeta1: b1, adamBeta2: b2, adamEpsilon: eps, bnMomentum: mom } = GRAPH_OPTS;
  for (const p of PARAM_NAMES) {
    const g = out[STEP_IO.grad(p)].data as F64;
    const [m0, u0, p0] = [pr.state[`m_${p}`], pr.state[`v_${p}`], pr.state[p]];
    const [m1, u1, p1] = [`m_${p}`, `v_${p}`, p].map((n) => out[outName(n)].data as F64);
    for (let i = 0; i < g.length; i++) {
      // stored form: m exact, u = v·(1-β1)²/(1-β2)
      const m = b1 * m0[i] + (1 - b1) * g[i];
      const u = b2 * u0[i] + ((1 - b1) * g[i]) ** 2;
      assert.ok(relErr(m1[i], m, 1e-300) < 1e-12, `m_${p}[${i}]`);
      assert.ok(relErr(u1[i], u, 1e-300) < 1e-12, `v_${p}[${i}]`);
      // textbook Adam on the unscaled second moment gives the same parameter
      const v0 = (u0[i] * (1 - b2)) / (1 - b1) ** 2;
      const v = b2 * v0 + (1 - b2) * g[i] ** 2;
      const textbook = p0[i] - (lr * m) / (Math.sqrt(v) + eps);
      assert.ok(Math.abs(p1[i] - textbook) < 1e-12, `${p}[${i}]: ${p1[i]} vs textbook Adam ${textbook}`);
      assert.notEqual(p1[i], p0[i]);
    }
  }
  const { inputDim: D } = TINY;
  const B = TINY.batch;
  const rm = out[outName('running_mean')].data as F64;
  const rv = out[outName('running_var')].data as F64;
  for (let d = 0; d < D; d++) {
    let mean = 0;
    for (let b = 0; b < B; b++) mean += pr.x[b * D + d];
    mean /= B;
    let ss = 0;
    for (let b = 0; b < B; b++) ss += (pr.x[b * D + d] - mean) ** 2;
    assert.ok(Math.abs(rm[d] - (mom * pr.state.running_mean[d] + (1 - mom) * mean)) < 1e-12, `running_mean[${d}]`);
    assert.ok(Math.abs(rv[d] - (mom * pr.state.running_var[d] + (1 - mom) * (ss / (B - 1)))) < 1e-12, `running_var[${d}]`);
  }
});

test('train-step graph: float32 build agrees with float64 (the trainer runs float32)', async () => {
  const pr = tinyProblem(createRng(13));
  const s32 = await createSession(serializeTrainStep({ ...GRAPH_OPTS, exposeGradients: true }), { what: 'test step graph f32' });
  const f64 = await (await step64()).run(stepFeeds(pr, pr.state, 1e-3));
  const feeds32: Record<string, OrtTensor> = {};
  for (const [name, t] of Object.entries(stepFeeds(pr, pr.state, 1e-3))) {
    feeds32[name] = t32(Float32Array.from(t.data as F64), t.dims as number[]);
  }
  const f32 = await s32.run(feeds32);
  for (const p of PARAM_NAMES) {
    const a = f64[STEP_IO.grad(p)].data as F64;
    const b = f32[STEP_IO.grad(p)].data as Float32Array;
    const scale = Math.max(...Array.from(a, Math.abs));
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-4 * scale, `grad_${p}[${i}] f32 ${b[i]} vs f64 ${a[i]}`);
  }
  await s32.release();
});

test('epoch graph (Loop over minibatches) equals single steps run one after another', async () => {
  const { inputDim: D, hidden: H, numClasses: C } = TINY;
  const rng = createRng(14);
  const rows = 17; // batches of 6, 6, 5 over a shuffled order
  const all = tinyProblem(rng, rows);
  const order = [3, 16, 0, 9, 4, 12, 1, 7, 15, 2, 10, 5, 14, 8, 11, 6, 13];
  const bounds = batchBounds(rows, 6);
  assert.deepEqual(bounds, [0, 6, 12, 17]);
  const steps = bounds.length - 1;
  const masks = new Float64Array(rows * H);
  fillMasks64(masks, rng);
  const lrs = Float64Array.of(1e-2, 8e-3, 6e-3);
  const sizes = Array.from({ length: steps }, (_, i) => bounds[i + 1] - bounds[i]);
  const epoch = await createSession(serializeTrainEpoch({ ...GRAPH_OPTS, precision: 'float64' }), { what: 'test epoch graph' });
  const shapes = stateShapes(GRAPH_OPTS);
  const feeds: Record<string, OrtTensor> = {
    [EPOCH_IO.x]: t64(all.x, [rows, D]),
    [EPOCH_IO.y]: t64(all.y, [rows, C]),
    [EPOCH_IO.order]: new Tensor('int64', BigInt64Array.from(order, BigInt), [rows]),
    [EPOCH_IO.bounds]: new Tensor('int64', BigInt64Array.from(bounds, BigInt), [bounds.length]),
    [EPOCH_IO.masks]: t64(masks, [rows, H]),
    [EPOCH_IO.lrs]: t64(lrs, [steps]),
    [EPOCH_IO.invBatches]: t64(Float64Array.from(sizes, (b) => 1 / b), [steps]),
    [EPOCH_IO.rvCoefs]: t64(Float64Array.from(sizes, (b) => ((1 - GRAPH_OPTS.bnMomentum) * b) / (b - 1)), [steps]),
  };
  for (const n of stateNames()) feeds[n] = t64(all.state[n], shapes[n]);
  const looped = await epoch.run(feeds);

  let state = all.state;
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const idx = order.slice(bounds[s], bounds[s + 1]);
    const B = idx.length;
    const pr: TinyProblem = {
      x: Float64Array.from(idx.flatMap((r) => Array.from(all.x.subarray(r * D, (r + 1) * D)))),
      y: Float64Array.from(idx.flatMap((r) => Array.from(all.y.subarray(r * C, (r + 1) * C)))),
      mask: masks.slice(bounds[s] * H, bounds[s + 1] * H),
      state,
    };
    const out = await (await step64()).run(stepFeeds(pr, state, lrs[s], B));
    losses.push((out[STEP_IO.loss].data as F64)[0]);
    state = Object.fromEntries(stateNames().map((n) => [n, out[outName(n)].data as F64]));
  }
  assert.deepEqual(Array.from(looped[EPOCH_IO.losses].data as F64), losses);
  for (const n of stateNames()) assert.deepEqual(looped[outName(n)].data, state[n], `${n} after the epoch`);
  await epoch.release();
});

function fillMasks64(out: F64, rng: Rng): void {
  const f = new Float32Array(out.length);
  dropoutMasks(0.5, rng).fill(f);
  out.set(f);
}

// ------------------------------------------------------------------------------------------------------------------
// training

/** Gaussian blobs: class centres at distance ~3σ·sqrt(D) apart, offset and scaled features. */
function blobs(n: number, D: number, C: number, seed: number, separation = 1.5): { x: Float32Array; y: Int32Array } {
  const rng = createRng(seed);
  const centres = Float64Array.from({ length: C * D }, () => separation * rng.normal());
  const x = new Float32Array(n * D);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % C;
    y[i] = c;
    for (let d = 0; d < D; d++) x[i * D + d] = 10 + 3 * (centres[c * D + d] + rng.normal());
  }
  return { x, y };
}

const SMALL = { hidden: 32, learningRate: 3e-3, epochs: 12, batchSize: 32 };

test('learns a separable synthetic problem to high validation accuracy', async () => {
  const D = 20;
  const C = 4;
  const { x, y } = blobs(800, D, C, 3);
  const epochs: number[] = [];
  const r = await trainIin(x, y, { inputDim: D, numClasses: C, config: { ...SMALL, epochs: 20 }, onEpoch: (e) => epochs.push(e.epoch) });
  const last = r.history[r.history.length - 1];
  const first = r.history[0];
  assert.deepEqual(epochs, r.history.map((h) => h.epoch));
  assert.ok(last.loss < first.loss / 2, `training loss fell from ${first.loss} to ${last.loss}`);
  const best = r.history[r.bestEpoch - 1];
  assert.ok(best.valAccuracy !== null && best.valAccuracy >= 0.95, `validation accuracy ${best.valAccuracy}`);
  assert.equal(r.validationRows.length, 80);
  // the returned model agrees with the recorded validation accuracy
  const iin = await Iin.create(r.weights);
  const vx = new Float32Array(r.validationRows.length * D);
  r.validationRows.forEach((row, i) => vx.set(x.subarray(row * D, (row + 1) * D), i * D));
  const top = topK(await iin.predict(vx, r.validationRows.length), r.validationRows.length, C, 1);
  const acc = top.filter((t, i) => t[0].index === y[r.validationRows[i]]).length / r.validationRows.length;
  assert.equal(acc, best.valAccuracy);
  await iin.release();
});

test('determinism: same seed gives identical weights, a different seed different ones', async () => {
  const D = 12;
  const C = 3;
  const { x, y } = blobs(300, D, C, 4);
  const cfg = { ...SMALL, epochs: 3, dropout: 0.5 };
  const a = await trainIin(x, y, { inputDim: D, numClasses: C, config: { ...cfg, seed: 42 } });
  const b = await trainIin(x, y, { inputDim: D, numClasses: C, config: { ...cfg, seed: 42 } });
  const c = await trainIin(x, y, { inputDim: D, numClasses: C, config: { ...cfg, seed: 43 } });
  assert.deepEqual(a.weights, b.weights);
  assert.deepEqual(a.history.map((h) => [h.loss, h.valLoss]), b.history.map((h) => [h.loss, h.valLoss]));
  assert.deepEqual(a.validationRows, b.validationRows);
  assert.notDeepEqual(a.weights.w1, c.weights.w1);
  assert.notDeepEqual(a.validationRows, c.validationRows);
  // splitting an epoch into several graph runs (done for large data sets) changes nothing
  const d = await trainIin(x, y, { inputDim: D, numClasses: C, config: { ...cfg, seed: 42 }, maxStepsPerRun: 2 });
  assert.deepEqual(d.weights, a.weights);
});

test('early stopping stops after `patience` epochs without improvement and restores the best epoch', async () => {
  // random labels: the training loss falls while the validation loss rises, so the best epoch is early
  const D = 30;
  const C = 3;
  const rng = createRng(5);
  const n = 240;
  const x = Float32Array.from({ length: n * D }, () => rng.normal());
  const y = Int32Array.from({ length: n }, () => rng.int(C));
  const patience = 3;
  const r = await trainIin(x, y, {
    inputDim: D,
    numClasses: C,
    config: { hidden: 128, dropout: 0, learningRate: 1e-2, lrDecay: 1, epochs: 40, batchSize: 16, patience, validationFraction: 0.25 },
  });
  const vals = r.history.map((h) => h.valLoss as number);
  const argmin = vals.indexOf(Math.min(...vals)) + 1;
  assert.ok(r.stoppedEarly, `expected early stopping, ran ${r.history.length} epochs`);
  assert.equal(r.bestEpoch, argmin);
  assert.equal(r.history.length, r.bestEpoch + patience);
  // the returned weights are the best epoch's, not the last one's: recompute the validation loss with them
  const iin = await Iin.create(r.weights);
  const m = r.validationRows.length;
  const vx = new Float32Array(m * D);
  r.validationRows.forEach((row, i) => vx.set(x.subarray(row * D, (row + 1) * D), i * D));
  const probs = await iin.predict(vx, m);
  let loss = 0;
  r.validationRows.forEach((row, i) => (loss -= Math.log(probs[i * C + y[row]])));
  loss /= m;
  const bestVal = vals[r.bestEpoch - 1];
  const lastVal = vals[vals.length - 1];
  assert.ok(Math.abs(loss - bestVal) < 1e-4, `restored weights give validation loss ${loss}, best epoch had ${bestVal}`);
  assert.ok(Math.abs(loss - lastVal) > 1e-3, `last epoch's ${lastVal} should differ from the best`);
  await iin.release();
});

// ------------------------------------------------------------------------------------------------------------------
// export and serialization

/** Independent JS forward pass of an IIN in inference mode (float64). */
function jsPredict(w: IinWeights, x: Float32Array, n: number): Float64Array {
  const { inputDim: D, hidden: H, numClasses: C } = w;
  const out = new Float64Array(n * C);
  for (let i = 0; i < n; i++) {
    const xn = Array.from({ length: D }, (_, d) => ((x[i * D + d] - w.runningMean[d]) / Math.sqrt(w.runningVar[d] + w.bnEpsilon)) * w.gamma[d] + w.beta[d]);
    const h = Array.from({ length: H }, (_, j) => Math.max(0, xn.reduce((s, v, d) => s + v * w.w1[d * H + j], w.b1[j])));
    const logits = Array.from({ length: C }, (_, c) => h.reduce((s, v, j) => s + v * w.w2[j * C + c], w.b2[c]));
    const max = Math.max(...logits);
    const e = logits.map((l) => Math.exp(l - max));
    const sum = e.reduce((a, b) => a + b, 0);
    e.forEach((v, c) => (out[i * C + c] = v / sum));
  }
  return out;
}

test('export: the standalone ONNX model in a fresh session gives Iin.predict probabilities; JSON round-trips', async () => {
  const D = 16;
  const C = 5;
  const { x, y } = blobs(200, D, C, 6);
  const r = await trainIin(x, y, { inputDim: D, numClasses: C, config: { ...SMALL, epochs: 2 } });
  const n = 50;
  const xs = x.subarray(0, n * D);
  const iin = await Iin.create(r.weights);
  const probs = await iin.predict(xs, n);
  assert.equal(probs.length, n * C);

  const bytes = exportIinOnnx(r.weights);
  const fresh = await createSession(bytes, { what: 'exported IIN', threads: 1 });
  assert.deepEqual(fresh.inputNames, ['features']);
  assert.deepEqual(fresh.outputNames, ['probabilities']);
  const out = await fresh.run({ features: t32(xs.slice(), [n, D]) });
  assert.deepEqual(out.probabilities.dims, [n, C]);
  const p2 = out.probabilities.data as Float32Array;
  for (let i = 0; i < probs.length; i++) assert.ok(Math.abs(p2[i] - probs[i]) < 1e-6, `probability ${i}: ${p2[i]} vs ${probs[i]}`);
  const ref = jsPredict(r.weights, xs, n);
  for (let i = 0; i < probs.length; i++) assert.ok(Math.abs(ref[i] - probs[i]) < 1e-5, `probability ${i}: ${probs[i]} vs JS ${ref[i]}`);
  for (let i = 0; i < n; i++) {
    const row = probs.subarray(i * C, (i + 1) * C);
    assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  }
  await fresh.release();

  const json = JSON.parse(JSON.stringify(iinWeightsToJson(r.weights, r.config)));
  assert.deepEqual(iinWeightsFromJson(json), r.weights);
  assert.deepEqual(readIinJson(json).config, r.config);
  const again = await Iin.create(iinWeightsFromJson(json));
  assert.deepEqual(await again.predict(xs, n), probs);
  assert.equal((await again.predict(new Float32Array(0), 0)).length, 0);
  await again.release();
  await iin.release();
});

// ------------------------------------------------------------------------------------------------------------------
// arguments and helpers

test('bad arguments throw OwsdError naming the argument', async () => {
  const D = 4;
  const x = new Float32Array(10 * D);
  const y = new Int32Array(10);
  const opts = { inputDim: D, numClasses: 3 };
  const rejects = (p: Promise<unknown>, re: RegExp, code = 'OWSD_ERR_BAD_ARGUMENT') => assert.rejects(p, { name: 'OwsdError', code, message: re });
  await rejects(trainIin(new Float32Array(39), y, opts), /x must have .* 40 elements, got 39/);
  await rejects(trainIin(x, Int32Array.of(0, 1, 2, 3, 0, 1, 2, 0, 1, 2), opts), /y\[3\] = 3 is not a class index in \[0, 2\]/);
  await rejects(trainIin(x, Int32Array.from(y, () => -1), opts), /y\[0\] = -1/);
  await rejects(trainIin(x, y, { inputDim: D, numClasses: 1 }), /numClasses must be an integer >= 2/);
  await rejects(trainIin(x, y, { inputDim: 0, numClasses: 3 }), /inputDim must be a positive integer/);
  await rejects(trainIin([] as unknown as Float32Array, y, opts), /x must be a Float32Array/);
  await rejects(trainIin(x, [0] as unknown as Int32Array, opts), /y must be an Int32Array/);
  const nan = x.slice();
  nan[6] = Number.NaN;
  await rejects(trainIin(nan, y, opts), /x\[6\] \(row 1, feature 2\) is NaN/);
  await rejects(trainIin(x, y, { ...opts, config: { batchSize: 1 } }), /config\.batchSize must be an integer >= 2/);
  await rejects(trainIin(x, y, { ...opts, config: { dropout: 1 } }), /config\.dropout must be a number in \[0, 1\)/);
  await rejects(trainIin(x, y, { ...opts, config: { learningRate: -1 } }), /config\.learningRate/);
  await rejects(trainIin(x, y, { ...opts, config: { earlyStopping: 'yes' as unknown as boolean } }), /config\.earlyStopping must be a boolean/);
  await rejects(trainIin(x, y, { ...opts, config: { hiden: 3 } as never }), /config\.hiden is not an IIN setting/);
  await rejects(trainIin(x.subarray(0, 2 * D), y.subarray(0, 2), opts), /at least 2 training samples/);

  const { x: bx, y: by } = blobs(60, D, 3, 7);
  const r = await trainIin(bx, by, { ...opts, config: { ...SMALL, epochs: 1 } });
  const iin = await Iin.create(r.weights);
  await rejects(iin.predict(new Float32Array(7), 2), /x must have n \* inputDim = 2 \* 4 = 8 elements, got 7/, 'OWSD_ERR_SHAPE');
  await iin.release();
  await rejects(Iin.create({ ...r.weights, w1: new Float32Array(3) }), /weights\.w1 must have 128 elements/);
  const json = iinWeightsToJson(r.weights);
  assert.throws(() => iinWeightsFromJson({ ...json, tensors: { ...json.tensors, w1: { dims: [4, 32], data: 'AAAA' } } }, 'bundle x.json: iins.both.weights'), {
    name: 'OwsdError',
    code: 'OWSD_ERR_BUNDLE',
    message: /^bundle x\.json: iins\.both\.weights: tensors\.w1\.data must be base64 of 128 float32 values \(512 bytes\), got 3 bytes$/,
  });
  assert.throws(() => iinWeightsFromJson({ ...json, format: 'x' }), { name: 'OwsdError', message: /format must be "owsd-iin\/1"/ });
  assert.throws(() => iinWeightsFromJson({ ...json, tensors: { ...json.tensors, b2: { dims: [2], data: '' } } }), {
    name: 'OwsdError',
    message: /tensors\.b2\.dims must be \[3\], got \[2\]/,
  });
});

test('topK, batchBounds and dropout masks', () => {
  const probs = Float32Array.of(0.1, 0.5, 0.2, 0.2, /* row 2 */ 0.7, 0.1, 0.1, 0.1);
  assert.deepEqual(topK(probs, 2, 4, 3), [
    [
      { index: 1, score: 0.5 },
      { index: 2, score: probs[2] },
      { index: 3, score: probs[3] },
    ],
    [
      { index: 0, score: probs[4] },
      { index: 1, score: probs[5] },
      { index: 2, score: probs[6] },
    ],
  ]);
  assert.equal(topK(probs, 2, 4, 10)[0].length, 4);
  assert.throws(() => topK(probs, 3, 4, 1), { name: 'OwsdError', message: /probs must have n \* C = 3 \* 4 = 12 elements, got 8/ });

  assert.deepEqual(batchBounds(10, 4), [0, 4, 8, 10]);
  assert.deepEqual(batchBounds(9, 4), [0, 4, 9]); // a remainder of one joins the previous batch
  assert.deepEqual(batchBounds(8, 4), [0, 4, 8]);
  assert.deepEqual(batchBounds(3, 4), [0, 3]);

  const m = new Float32Array(100_001);
  dropoutMasks(0.3, createRng(1)).fill(m);
  const kept = m.filter((v) => v !== 0);
  assert.ok(Math.abs(kept.length / m.length - 0.7) < 0.01, `kept ${kept.length / m.length}`);
  assert.ok(Math.abs(m.reduce((a, b) => a + b, 0) / m.length - 1) < 0.01, 'E[mask] = 1');
  assert.ok(kept.every((v) => v === kept[0]));
  // one stream: cutting it into odd-sized fills gives the same masks
  const pieces = new Float32Array(m.length);
  const stream = dropoutMasks(0.3, createRng(1));
  for (const [a, b] of [[0, 7], [7, 8], [8, 50_001], [50_001, 100_001]]) stream.fill(pieces.subarray(a, b));
  assert.deepEqual(pieces, m);
  dropoutMasks(0, createRng(1)).fill(m);
  assert.ok(m.every((v) => v === 1), 'dropout 0: all ones');
});

after(async () => {
  await stepSession64?.release();
});
