/**
 * Training of the Internal Inference Network with onnxruntime-node, which has no training API: each epoch is one
 * run of an ONNX graph (graph.ts) that loops over the minibatches with a hand-written backward pass and Adam.
 *
 * Configuration: every default is in the one commented block `IIN_DEFAULTS` in config.ts (hidden 512, dropout 0.5,
 * Adam lr 1e-3 (the paper: 1e-4) with decay 0.95 per epoch, 40 epochs, batch 128, early stopping with patience 5 on a 10% validation
 * split, BN momentum 0.99 and epsilon 1e-3, seed 0). Pass a Partial<IinConfig> to change any of them.
 *
 * What stays in JS: the seeded split, initialization (Glorot uniform weights, zero biases, gamma 1, beta 0; BN running
 * statistics start at the training set's mean and variance instead of 0/1 so that validation is meaningful from the
 * first epoch), the per-epoch shuffle, the dropout masks, the per-step learning rates (decay and Adam bias
 * correction), validation metrics and early stopping. The parameters stay ORT tensors: the outputs of one epoch are
 * the inputs of the next. Everything random comes from `seed`, so two runs with the same seed and thread count give
 * bit-identical weights.
 */
import { fail } from '../errors.js';
import { createSession, Tensor, type OrtTensor, type Session } from '../internal/ort.js';
import { createRng, deriveSeed, type Rng } from '../internal/random.js';
import { checkIinWeights, resolveIinConfig, type IinConfig, type IinWeights } from './config.js';
import {
  EPOCH_IO,
  INFERENCE_PARAMS,
  outName,
  RUNNING_MEAN,
  RUNNING_VAR,
  serializeInference,
  serializeTrainEpoch,
  stateNames,
  stateShapes,
  type IinDims,
} from './graph.js';

export interface IinEpochRecord {
  /** 1-based. */
  epoch: number;
  /** Mean training cross-entropy over the epoch's minibatches (with dropout, batch statistics). */
  loss: number;
  /** Validation cross-entropy and accuracy (running statistics, no dropout); null without a validation split. */
  valLoss: number | null;
  valAccuracy: number | null;
  learningRate: number;
  seconds: number;
}

export interface TrainedIin {
  weights: IinWeights;
  /** The full configuration used. */
  config: IinConfig;
  history: IinEpochRecord[];
  /** 1-based epoch whose weights are returned: the best validation loss with early stopping, else the last. */
  bestEpoch: number;
  /** True when early stopping ended training before config.epochs. */
  stoppedEarly: boolean;
  /** Indices (ascending) of the rows held out for validation; empty when validationFraction is 0. */
  validationRows: Int32Array;
}

export interface TrainIinOptions {
  inputDim: number;
  numClasses: number;
  config?: Partial<IinConfig>;
  onEpoch?: (e: IinEpochRecord) => void;
  /** Cap on minibatches per graph run (default: from MAX_RUN_MASK_VALUES). Results do not depend on it; for tests. */
  maxStepsPerRun?: number;
}

/** How many of `n` samples the trainer holds out for validation under `cfg`. */
export function validationCount(n: number, cfg: Pick<IinConfig, 'validationFraction'>): number {
  return cfg.validationFraction > 0 ? Math.max(1, Math.round(n * cfg.validationFraction)) : 0;
}

function checkArguments(x: unknown, y: unknown, opts: TrainIinOptions): void {
  if (typeof opts !== 'object' || opts === null) fail('OWSD_ERR_BAD_ARGUMENT', 'trainIin: options must be an object');
  const { inputDim, numClasses } = opts;
  if (!Number.isInteger(inputDim) || inputDim < 1) {
    fail('OWSD_ERR_BAD_ARGUMENT', `trainIin: inputDim must be a positive integer, got ${String(inputDim)}`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    fail('OWSD_ERR_BAD_ARGUMENT', `trainIin: numClasses must be an integer >= 2, got ${String(numClasses)}`);
  }
  if (!(x instanceof Float32Array)) fail('OWSD_ERR_BAD_ARGUMENT', 'trainIin: x must be a Float32Array (N rows of inputDim features)');
  if (!(y instanceof Int32Array)) fail('OWSD_ERR_BAD_ARGUMENT', 'trainIin: y must be an Int32Array of N labels');
  const n = y.length;
  if (x.length !== n * inputDim) {
    fail(
      'OWSD_ERR_BAD_ARGUMENT',
      `trainIin: x must have y.length * inputDim = ${n} * ${inputDim} = ${n * inputDim} elements, got ${x.length}`,
    );
  }
  for (let i = 0; i < n; i++) {
    const label = y[i];
    if (label < 0 || label >= numClasses) {
      fail('OWSD_ERR_BAD_ARGUMENT', `trainIin: y[${i}] = ${label} is not a class index in [0, ${numClasses - 1}]`);
    }
  }
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) {
      fail('OWSD_ERR_BAD_ARGUMENT', `trainIin: x[${i}] (row ${Math.floor(i / inputDim)}, feature ${i % inputDim}) is ${x[i]}`);
    }
  }
}

function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  shuffleInPlace(p, rng);
  return p;
}

function shuffleInPlace(a: Int32Array, rng: Rng): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/**
 * Minibatch boundaries over m samples: full batches, and the remainder as a last, smaller batch; a remainder of one
 * sample joins the previous batch (batch statistics need two).
 */
export function batchBounds(m: number, batchSize: number): number[] {
  const bounds = [0];
  for (let start = 0; start < m; start += batchSize) bounds.push(Math.min(m, start + batchSize));
  if (bounds.length > 2 && bounds[bounds.length - 1] - bounds[bounds.length - 2] === 1) bounds.splice(bounds.length - 2, 1);
  return bounds;
}

/** Fills Float32Arrays with dropout masks from one continuous stream (see dropoutMasks). */
export interface DropoutMaskStream {
  fill(out: Float32Array): void;
}

/**
 * Dropout masks: each value is 0 with probability ~p, else 1/keep. Two values per 32-bit random number (16-bit
 * resolution); the scale uses the quantized keep probability, so E[mask] = 1 exactly. Successive fills continue
 * one stream, so how an epoch is cut into fills does not change the masks.
 *
 * The bits come from a private sfc32 stream seeded with four draws of `rng`, written branch-free as integer bit
 * patterns: at paper size (4.6 M values per epoch) that takes ~5 ms, against ~45 ms calling rng.uint32() per pair
 * with a data-dependent branch per value.
 */
export function dropoutMasks(p: number, rng: Rng): DropoutMaskStream {
  if (p === 0) {
    return {
      fill: (out) => {
        out.fill(1);
      },
    };
  }
  const threshold = Math.round((1 - p) * 65536); // keep iff a 16-bit draw < threshold
  if (threshold <= 0) fail('OWSD_ERR_BAD_ARGUMENT', `config.dropout = ${p} leaves no unit active`);
  const scaleBits = new Int32Array(Float32Array.of(65536 / threshold).buffer)[0];
  let a = rng.uint32() | 0;
  let b = rng.uint32() | 0;
  let c = rng.uint32() | 0;
  let d = rng.uint32() | 0;
  let spare = -1; // the unused high half of the last draw, or -1
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t;
  };
  for (let i = 0; i < 12; i++) next(); // warm-up
  return {
    fill(out: Float32Array): void {
      const bits = new Int32Array(out.buffer, out.byteOffset, out.length);
      const n = bits.length;
      let i = 0;
      if (spare >= 0 && n > 0) {
        bits[i++] = ((spare - threshold) >> 31) & scaleBits;
        spare = -1;
      }
      for (; i + 1 < n; i += 2) {
        // inlined next(); (x - threshold) >> 31 is all ones when x < threshold, else 0
        const t = (((a + b) | 0) + d) | 0;
        d = (d + 1) | 0;
        a = b ^ (b >>> 9);
        b = (c + (c << 3)) | 0;
        c = (c << 21) | (c >>> 11);
        c = (c + t) | 0;
        bits[i] = (((t & 0xffff) - threshold) >> 31) & scaleBits;
        bits[i + 1] = (((t >>> 16) - threshold) >> 31) & scaleBits;
      }
      if (i < n) {
        const t = next();
        bits[i] = (((t & 0xffff) - threshold) >> 31) & scaleBits;
        spare = t >>> 16;
      }
    },
  };
}

/** Glorot-uniform weights, zero biases, gamma 1, beta 0; running statistics from the training rows. */
function initialState(
  x: Float32Array,
  rows: Int32Array,
  dims: IinDims,
  rng: Rng,
): Record<string, Float32Array> {
  const { inputDim: D, hidden: H, numClasses: C } = dims;
  const shapes = stateShapes(dims);
  const s: Record<string, Float32Array> = {};
  for (const name of stateNames()) s[name] = new Float32Array(shapes[name].reduce((a, b) => a * b, 1));
  s.gamma.fill(1);
  const glorot = (a: Float32Array, fanIn: number, fanOut: number) => {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    for (let i = 0; i < a.length; i++) a[i] = (2 * rng.next() - 1) * limit;
  };
  glorot(s.w1, D, H);
  glorot(s.w2, H, C);
  const mean = new Float64Array(D);
  const sq = new Float64Array(D);
  for (const r of rows) {
    const off = r * D;
    for (let d = 0; d < D; d++) {
      const v = x[off + d];
      mean[d] += v;
      sq[d] += v * v;
    }
  }
  const n = rows.length;
  for (let d = 0; d < D; d++) {
    const m = mean[d] / n;
    s[RUNNING_MEAN][d] = m;
    s[RUNNING_VAR][d] = Math.max(0, sq[d] / n - m * m) * (n / Math.max(1, n - 1));
  }
  return s;
}

const tensor = (data: Float32Array, dims: number[]): OrtTensor => new Tensor('float32', data, dims);

/**
 * At most this many dropout-mask values per graph run (32 MB): an epoch with more is split into several runs of
 * whole minibatches. At paper size (9,000 x 512) an epoch is one run.
 */
export const MAX_RUN_MASK_VALUES = 8 * 1024 * 1024;

/** Validation cross-entropy and accuracy of the current state, with the inference graph (running statistics). */
async function evaluate(
  session: Session,
  state: Record<string, OrtTensor>,
  xs: Float32Array,
  ys: Int32Array,
  dims: IinDims,
): Promise<{ loss: number; accuracy: number }> {
  const { inputDim: D, numClasses: C } = dims;
  const n = ys.length;
  const chunk = 4096;
  let loss = 0;
  let correct = 0;
  const params: Record<string, OrtTensor> = {};
  for (const name of INFERENCE_PARAMS) params[name] = state[name];
  for (let start = 0; start < n; start += chunk) {
    const rows = Math.min(chunk, n - start);
    const features = tensor(xs.subarray(start * D, (start + rows) * D), [rows, D]);
    const out = await session.run({ features, ...params }, ['log_probabilities']);
    const logp = out.log_probabilities.data as Float32Array;
    for (let i = 0; i < rows; i++) {
      const row = logp.subarray(i * C, (i + 1) * C);
      const label = ys[start + i];
      loss -= row[label];
      let best = 0;
      for (let c = 1; c < C; c++) if (row[c] > row[best]) best = c;
      if (best === label) correct++;
    }
  }
  return { loss: loss / n, accuracy: correct / n };
}

function snapshot(state: Record<string, OrtTensor>, dims: IinDims, bnEpsilon: number): IinWeights {
  const get = (name: string) => (state[name].data as Float32Array).slice();
  return {
    inputDim: dims.inputDim,
    hidden: dims.hidden,
    numClasses: dims.numClasses,
    bnEpsilon,
    gamma: get('gamma'),
    beta: get('beta'),
    runningMean: get(RUNNING_MEAN),
    runningVar: get(RUNNING_VAR),
    w1: get('w1'),
    b1: get('b1'),
    w2: get('w2'),
    b2: get('b2'),
  };
}

/**
 * Trains the IIN on N rows `x` (row-major [N, inputDim]) with labels `y` (class indices). See the file comment.
 * Throws OwsdError OWSD_ERR_BAD_ARGUMENT for inconsistent arguments or config fields.
 */
export async function trainIin(x: Float32Array, y: Int32Array, opts: TrainIinOptions): Promise<TrainedIin> {
  checkArguments(x, y, opts);
  const cfg = resolveIinConfig(opts.config);
  const dims: IinDims = { inputDim: opts.inputDim, hidden: cfg.hidden, numClasses: opts.numClasses };
  const { inputDim: D, hidden: H, numClasses: C } = dims;
  const n = y.length;

  // ---- split
  const order0 = permutation(n, createRng(deriveSeed(cfg.seed, 'iin/split')));
  const nVal = validationCount(n, cfg);
  const nTrain = n - nVal;
  if (nTrain < 2) {
    fail('OWSD_ERR_BAD_ARGUMENT', `trainIin: need at least 2 training samples after the validation split, got ${n} samples in all`);
  }
  const valRows = order0.slice(0, nVal).sort();
  const trainRows = order0.slice(nVal).sort();
  const valX = new Float32Array(nVal * D);
  const valY = new Int32Array(nVal);
  valRows.forEach((r, i) => {
    valX.set(x.subarray(r * D, (r + 1) * D), i * D);
    valY[i] = y[r];
  });
  const oneHot = new Float32Array(n * C);
  for (let i = 0; i < n; i++) oneHot[i * C + y[i]] = 1;

  // ---- state
  const init = initialState(x, trainRows, dims, createRng(deriveSeed(cfg.seed, 'iin/init')));
  const shapes = stateShapes(dims);
  let state: Record<string, OrtTensor> = {};
  for (const name of stateNames()) state[name] = tensor(init[name], shapes[name]);

  const graphOptions = { ...dims, ...cfg, weightDecay: cfg.weightDecay > 0 };
  const epochSession = await createSession(serializeTrainEpoch(graphOptions), { what: 'IIN training graph' });
  const evalSession =
    nVal > 0
      ? await createSession(serializeInference({ ...dims, bnEpsilon: cfg.bnEpsilon, logProbabilities: true }), {
          what: 'IIN validation graph',
        })
      : undefined;

  // ---- per-epoch buffers (reused). An epoch is one graph run, or several "segments" of whole minibatches when its
  // dropout masks would exceed MAX_RUN_MASK_VALUES (large data sets).
  const shuffleRng = createRng(deriveSeed(cfg.seed, 'iin/shuffle'));
  const maskStream = dropoutMasks(cfg.dropout, createRng(deriveSeed(cfg.seed, 'iin/dropout')));
  const visit = trainRows.slice();
  const order = new BigInt64Array(nTrain);
  const bounds = batchBounds(nTrain, cfg.batchSize);
  const steps = bounds.length - 1;
  const stepsPerRun = Math.max(1, Math.min(opts.maxStepsPerRun ?? Infinity, Math.floor(MAX_RUN_MASK_VALUES / (cfg.batchSize * H))));
  const segments: Array<{ s0: number; s1: number; r0: number; r1: number; bounds: OrtTensor }> = [];
  for (let s0 = 0; s0 < steps; s0 += stepsPerRun) {
    const s1 = Math.min(steps, s0 + stepsPerRun);
    const rel = BigInt64Array.from(bounds.slice(s0, s1 + 1), (b) => BigInt(b - bounds[s0]));
    segments.push({ s0, s1, r0: bounds[s0], r1: bounds[s1], bounds: new Tensor('int64', rel, [rel.length]) });
  }
  const masks = new Float32Array(Math.max(...segments.map((g) => g.r1 - g.r0)) * H);
  const invBatches = new Float32Array(steps);
  const rvCoefs = new Float32Array(steps);
  for (let i = 0; i < steps; i++) {
    const b = bounds[i + 1] - bounds[i];
    invBatches[i] = 1 / b;
    rvCoefs[i] = ((1 - cfg.bnMomentum) * b) / (b - 1);
  }
  const data: Record<string, OrtTensor> = { [EPOCH_IO.x]: tensor(x, [n, D]), [EPOCH_IO.y]: tensor(oneHot, [n, C]) };
  const lrs = new Float32Array(steps);
  const wds = new Float32Array(steps);
  const losses = new Float32Array(steps);

  const history: IinEpochRecord[] = [];
  let best: { epoch: number; valLoss: number; weights: IinWeights } | undefined;
  let stoppedEarly = false;
  let t = 0; // Adam step count
  try {
    for (let e = 0; e < cfg.epochs; e++) {
      const t0 = performance.now();
      const lrEpoch = cfg.learningRate * Math.pow(cfg.lrDecay, e);
      shuffleInPlace(visit, shuffleRng);
      for (let i = 0; i < nTrain; i++) order[i] = BigInt(visit[i]);
      for (let i = 0; i < steps; i++) {
        const step = t + i + 1;
        lrs[i] = (lrEpoch * Math.sqrt(1 - Math.pow(cfg.adamBeta2, step))) / (1 - Math.pow(cfg.adamBeta1, step));
        wds[i] = lrEpoch * cfg.weightDecay;
      }
      t += steps;
      for (const g of segments) {
        const rows = g.r1 - g.r0;
        const k = g.s1 - g.s0;
        maskStream.fill(masks.subarray(0, rows * H));
        const feeds: Record<string, OrtTensor> = {
          ...data,
          ...state,
          [EPOCH_IO.order]: new Tensor('int64', order.subarray(g.r0, g.r1), [rows]),
          [EPOCH_IO.bounds]: g.bounds,
          [EPOCH_IO.masks]: tensor(masks.subarray(0, rows * H), [rows, H]),
          [EPOCH_IO.lrs]: tensor(lrs.subarray(g.s0, g.s1), [k]),
          [EPOCH_IO.invBatches]: tensor(invBatches.subarray(g.s0, g.s1), [k]),
          [EPOCH_IO.rvCoefs]: tensor(rvCoefs.subarray(g.s0, g.s1), [k]),
        };
        if (cfg.weightDecay > 0) feeds[EPOCH_IO.wds] = tensor(wds.subarray(g.s0, g.s1), [k]);
        const out = await epochSession.run(feeds);
        const next: Record<string, OrtTensor> = {};
        for (const name of stateNames()) next[name] = out[outName(name)];
        state = next; // the outputs of this run are the inputs of the next: no copy in JS
        losses.set(out[EPOCH_IO.losses].data as Float32Array, g.s0);
      }

      let loss = 0;
      for (let i = 0; i < steps; i++) loss += losses[i] * (bounds[i + 1] - bounds[i]);
      loss /= nTrain;
      if (!Number.isFinite(loss)) {
        fail('OWSD_ERR_BAD_ARGUMENT', `trainIin: training diverged (loss ${loss} in epoch ${e + 1}); lower config.learningRate`);
      }
      const val = evalSession ? await evaluate(evalSession, state, valX, valY, dims) : undefined;
      const record: IinEpochRecord = {
        epoch: e + 1,
        loss,
        valLoss: val ? val.loss : null,
        valAccuracy: val ? val.accuracy : null,
        learningRate: lrEpoch,
        seconds: (performance.now() - t0) / 1000,
      };
      history.push(record);
      opts.onEpoch?.(record);

      if (cfg.earlyStopping && val) {
        if (!best || val.loss < best.valLoss) best = { epoch: e + 1, valLoss: val.loss, weights: snapshot(state, dims, cfg.bnEpsilon) };
        else if (e + 1 - best.epoch >= cfg.patience) {
          stoppedEarly = e + 1 < cfg.epochs;
          break;
        }
      }
    }
  } finally {
    await epochSession.release();
    await evalSession?.release();
  }
  const weights = best ? best.weights : snapshot(state, dims, cfg.bnEpsilon);
  checkIinWeights(weights);
  return { weights, config: cfg, history, bestEpoch: best ? best.epoch : history.length, stoppedEarly, validationRows: valRows };
}
