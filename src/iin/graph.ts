/**
 * ONNX graphs of the Internal Inference Network (IIN):
 *
 *   features [B,D] → BatchNormalization → Dense(H) → ReLU → Dropout → Dense(C) → softmax
 *
 * onnxruntime-node has no training API, so training is itself ONNX, built here with a hand-written backward pass.
 *
 * ## One training step (`emitStep`)
 *   inputs   x [B,D], y [B,C] (one-hot), mask [B,H] (dropout mask, 0 or 1/(1-p), drawn in JS from the seeded RNG),
 *            the parameters, their Adam moments, the BN running statistics and three scalars;
 *   outputs  the loss (mean cross-entropy over the batch), the updated parameters, moments and running statistics.
 *
 * Forward, with batch statistics (biased variance, as Keras and PyTorch do in training mode):
 *   mu = mean_b x, var = mean_b (x-mu)², xhat = (x-mu)/sqrt(var+eps), xn = gamma·xhat + beta
 *   z1 = xn W1 + b1, h = relu(z1)·mask, logits = h W2 + b2, loss = -(1/B) Σ y·logsoftmax(logits)
 *
 * Backward (x is data, so no gradient flows into it, and BN needs only dgamma and dbeta):
 *   dlogits = (softmax - y)/B, dW2 = hᵀ dlogits, db2 = Σ_b dlogits, dh = dlogits W2ᵀ
 *   dz1 = dh·mask·[z1 > 0], db1 = Σ_b dz1
 *   S = xhatᵀ dz1                      the one large backward matmul, [D,H]
 *   dW1 = gamma ⊙_rows S + beta ⊗ db1  (= xnᵀ dz1, since xn = gamma·xhat + beta)
 *   dgamma_d = Σ_b dxn_bd xhat_bd = Σ_h W1_dh S_dh   (dxn = dz1 W1ᵀ, a third B·D·H matmul, is never formed)
 *   dbeta = Σ_b dxn = W1 db1
 *
 * Adam (Kingma & Ba; the "epsilon hat" form Keras uses): m' = β1 m + (1-β1) g, v' = β2 v + (1-β2) g²,
 * p' = p - α_t m'/(sqrt(v') + ε) with α_t = lr·sqrt(1-β2^t)/(1-β1^t) computed in JS and fed as `lr`.
 * To save elementwise passes over the [D,H] tensors (which, not the matmuls, dominate a step at B ≤ 256) the
 * gradients carry the factor (1-β1) from dlogits on, and the second moment is stored scaled:
 *   gs = (1-β1) g, m' = β1 m + gs, u' = β2 u + gs²   (u = v·(1-β1)²/(1-β2)),
 *   p' = p - k α_t m'/(sqrt(u') + k ε), k = (1-β1)/sqrt(1-β2)          — the same update, 10 passes instead of 12.
 * Optional decoupled weight decay (AdamW) on W1 and W2: p' -= wd·p, with `wd` = lr·weightDecay fed in.
 * BN running statistics: rm' = μ·rm + (1-μ)·mean, rv' = μ·rv + rv_coef·var, rv_coef = (1-μ)·B/(B-1) (unbiased)
 * fed in because B changes on the last batch of an epoch.
 *
 * ## One epoch (`buildTrainEpochGraph`)
 * An ONNX Loop over the minibatches of an epoch, carrying the state. onnxruntime-node copies every output of a
 * run into a fresh JS ArrayBuffer (about 14 MB at paper size: W1 and its two moments), which cost ~3 ms per run,
 * a quarter of a step; with the loop that copy happens once per epoch. The epoch's inputs are the whole feature
 * matrix (passed zero-copy), the one-hot labels, the shuffled order, the batch boundaries, the dropout masks (in
 * order of position in the epoch) and per-step scalars.
 *
 * ## Inference (`buildInferenceGraph`)
 * The standard BatchNormalization (running statistics) → Gemm → Relu → Gemm → Softmax, opset 17.
 *
 * All graphs can be built in float64 too, which the gradient check uses.
 */
import onnxProto from 'onnx-proto';
import type { onnx as O } from 'onnx-proto';
import { makeGraph, makeModel, makeNode, OPSET, serializeModel, type AttrValue } from '../internal/onnx-graph.js';

const { onnx } = onnxProto;

export type Precision = 'float32' | 'float64';

/** ONNX TensorProto.DataType codes. */
const ELEM: Record<Precision, number> = { float32: 1, float64: 11 };
const INT64 = 7;
const BOOL = 9;

export interface IinDims {
  inputDim: number;
  hidden: number;
  numClasses: number;
}

/** The trained parameters, in the order the graphs take them. */
export const PARAM_NAMES = ['gamma', 'beta', 'w1', 'b1', 'w2', 'b2'] as const;
export type ParamName = (typeof PARAM_NAMES)[number];

export function paramShapes(d: IinDims): Record<ParamName, number[]> {
  return {
    gamma: [d.inputDim],
    beta: [d.inputDim],
    w1: [d.inputDim, d.hidden],
    b1: [d.hidden],
    w2: [d.hidden, d.numClasses],
    b2: [d.numClasses],
  };
}

export interface TrainGraphOptions extends IinDims {
  bnEpsilon: number;
  bnMomentum: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEpsilon: number;
  /** Add the decoupled weight decay input (`wd` / `wds`) and its update on W1 and W2. */
  weightDecay: boolean;
  precision?: Precision;
}

/** Names of the state tensors a step consumes (`<name>`) and replaces (`<name>_out`). */
export const RUNNING_MEAN = 'running_mean';
export const RUNNING_VAR = 'running_var';
export const momentName = (kind: 'm' | 'v', p: ParamName): string => `${kind}_${p}`;
export const outName = (name: string): string => `${name}_out`;

/**
 * Parameters, Adam moments (`m_<p>`, and `v_<p>` which holds the scaled second moment u described above) and the
 * BN running statistics, in a fixed order.
 */
export function stateNames(): string[] {
  const names: string[] = [];
  for (const p of PARAM_NAMES) names.push(p, momentName('m', p), momentName('v', p));
  names.push(RUNNING_MEAN, RUNNING_VAR);
  return names;
}

export function stateShapes(d: IinDims): Record<string, number[]> {
  const ps = paramShapes(d);
  const out: Record<string, number[]> = {};
  for (const p of PARAM_NAMES) {
    out[p] = ps[p];
    out[momentName('m', p)] = ps[p];
    out[momentName('v', p)] = ps[p];
  }
  out[RUNNING_MEAN] = [d.inputDim];
  out[RUNNING_VAR] = [d.inputDim];
  return out;
}

function vinfo(name: string, elemType: number, dims: ReadonlyArray<number | string>): O.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

type RawData = Float32Array | Float64Array | BigInt64Array | Uint8Array;
function rawTensor(name: string, dims: number[], elemType: number, data: RawData): O.ITensorProto {
  const n = dims.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new RangeError(`tensor '${name}': expected ${n} elements, got ${data.length}`);
  return { name, dims, dataType: elemType, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Accumulates nodes and constants; names get the builder's prefix so that a loop body cannot clash with its parent. */
class Builder {
  readonly nodes: O.INodeProto[] = [];
  readonly inits: O.ITensorProto[] = [];
  private count = 0;
  private consts = new Map<string, string>();
  constructor(
    readonly precision: Precision,
    readonly prefix = '',
  ) {}

  get elem(): number {
    return ELEM[this.precision];
  }

  op(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, out?: string): string {
    const o = out ?? `${this.prefix}${type.toLowerCase()}_${this.count++}`;
    this.nodes.push(makeNode(type, inputs, [o], attrs));
    return o;
  }

  private constant(key: string, make: (name: string) => O.ITensorProto): string {
    let name = this.consts.get(key);
    if (!name) {
      name = `${this.prefix}const_${this.consts.size}`;
      this.inits.push(make(name));
      this.consts.set(key, name);
    }
    return name;
  }

  /** A scalar constant of the graph's float type. */
  scalar(value: number): string {
    return this.constant(`f:${value}`, (name) =>
      rawTensor(name, [], this.elem, this.precision === 'float32' ? Float32Array.of(value) : Float64Array.of(value)),
    );
  }

  /** An int64 constant: a vector, or a scalar when `scalar` is set. */
  ints(values: number[], scalar = false): string {
    return this.constant(`i:${scalar ? 's' : 'v'}:${values.join(',')}`, (name) =>
      rawTensor(name, scalar ? [] : [values.length], INT64, BigInt64Array.from(values.map((v) => BigInt(v)))),
    );
  }

  bool(value: boolean): string {
    return this.constant(`b:${value}`, (name) => rawTensor(name, [], BOOL, Uint8Array.of(value ? 1 : 0)));
  }

  /** A float tensor constant (weights of the inference graph). */
  tensor(name: string, dims: number[], data: Float32Array): string {
    const d = this.precision === 'float32' ? data : Float64Array.from(data);
    this.inits.push(rawTensor(name, dims, this.elem, d));
    return name;
  }
}

/** Where a step reads its inputs and writes its outputs. */
interface StepIO {
  x: string;
  y: string;
  mask: string;
  lr: string;
  invBatch: string;
  rvCoef: string;
  wd: string;
  /** Name of a state tensor (see stateNames) as the step reads it. */
  state(name: string): string;
  /** Name under which the step writes the new value of a state tensor. */
  stateOut(name: string): string;
  loss: string;
  /** When set, the gradients (unscaled) are written under these names. */
  grad?: (p: ParamName) => string;
}

/** Adam update of one tensor (see the file comment for the scaled form). */
function adam(b: Builder, io: StepIO, p: ParamName, gs: string, lrk: string, o: TrainGraphOptions, decay: boolean): void {
  const P = b.prefix;
  const k = (1 - o.adamBeta1) / Math.sqrt(1 - o.adamBeta2);
  const mIn = io.state(momentName('m', p));
  const vIn = io.state(momentName('v', p));
  const mDecayed = b.op('Mul', [mIn, b.scalar(o.adamBeta1)], {}, `${P}${p}_m_decayed`);
  const mNew = b.op('Add', [mDecayed, gs], {}, io.stateOut(momentName('m', p)));
  const g2 = b.op('Mul', [gs, gs], {}, `${P}${p}_g2`);
  const vDecayed = b.op('Mul', [vIn, b.scalar(o.adamBeta2)], {}, `${P}${p}_v_decayed`);
  const vNew = b.op('Add', [vDecayed, g2], {}, io.stateOut(momentName('v', p)));
  const denom = b.op('Add', [b.op('Sqrt', [vNew], {}, `${P}${p}_sqrt_v`), b.scalar(o.adamEpsilon * k)], {}, `${P}${p}_denom`);
  const step = b.op('Mul', [b.op('Div', [mNew, denom], {}, `${P}${p}_ratio`), lrk], {}, `${P}${p}_step`);
  const pIn = io.state(p);
  if (decay) {
    const shrunk = b.op('Sub', [pIn, b.op('Mul', [pIn, io.wd], {}, `${P}${p}_decay`)], {}, `${P}${p}_shrunk`);
    b.op('Sub', [shrunk, step], {}, io.stateOut(p));
  } else {
    b.op('Sub', [pIn, step], {}, io.stateOut(p));
  }
}

/** Adds the nodes of one training step (see the file comment). */
function emitStep(b: Builder, o: TrainGraphOptions, io: StepIO): void {
  const P = b.prefix;
  const D = o.inputDim;
  const s = (name: string) => io.state(name);
  const ax0 = b.ints([0]);

  // ---- forward, BN with batch statistics
  const mu = b.op('ReduceMean', [io.x], { axes: [0], keepdims: 0 }, `${P}bn_mean`);
  const xc = b.op('Sub', [io.x, mu], {}, `${P}x_centered`);
  const variance = b.op('ReduceMean', [b.op('Mul', [xc, xc])], { axes: [0], keepdims: 0 }, `${P}bn_var`);
  const invStd = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [variance, b.scalar(o.bnEpsilon)])])], {}, `${P}bn_inv_std`);
  const xhat = b.op('Mul', [xc, invStd], {}, `${P}xhat`);
  const xn = b.op('Add', [b.op('Mul', [xhat, s('gamma')]), s('beta')], {}, `${P}xn`);
  const z1 = b.op('Gemm', [xn, s('w1'), s('b1')], {}, `${P}z1`);
  const h = b.op('Mul', [b.op('Relu', [z1]), io.mask], {}, `${P}h`);
  const logits = b.op('Gemm', [h, s('w2'), s('b2')], {}, `${P}logits`);
  const logp = b.op('LogSoftmax', [logits], { axis: -1 }, `${P}logp`);
  const total = b.op('ReduceSum', [b.op('Mul', [io.y, logp])], { keepdims: 0 }, `${P}sum_y_logp`);
  b.op('Neg', [b.op('Mul', [total, io.invBatch])], {}, io.loss);

  // ---- backward; every gradient tensor carries the factor (1-β1), folded into dlogits (see adam)
  const b1 = o.adamBeta1;
  const gScale = b.op('Mul', [io.invBatch, b.scalar(1 - b1)], {}, `${P}grad_scale`);
  const dlogits = b.op('Mul', [b.op('Sub', [b.op('Exp', [logp]), io.y]), gScale], {}, `${P}d_logits`);
  const g = {} as Record<ParamName, string>;
  g.w2 = b.op('Gemm', [h, dlogits], { transA: 1 }, `${P}d_w2`);
  g.b2 = b.op('ReduceSum', [dlogits, ax0], { keepdims: 0 }, `${P}d_b2`);
  const dh = b.op('Gemm', [dlogits, s('w2')], { transB: 1 }, `${P}d_h`);
  const active = b.op('Greater', [z1, b.scalar(0)], {}, `${P}relu_active`);
  const dz1 = b.op('Where', [active, b.op('Mul', [dh, io.mask]), b.scalar(0)], {}, `${P}d_z1`);
  g.b1 = b.op('ReduceSum', [dz1, ax0], { keepdims: 0 }, `${P}d_b1`);
  // An explicit transpose (a B·D copy) then a plain Gemm: as fast as transA=1 at B=128, ~10% faster at B=256.
  const xhatT = b.op('Transpose', [xhat], { perm: [1, 0] }, `${P}xhat_t`);
  const S = b.op('Gemm', [xhatT, dz1], {}, `${P}s`); // [D,H] = xhatᵀ dz1
  const gammaCol = b.op('Unsqueeze', [s('gamma'), b.ints([1])], {}, `${P}gamma_col`);
  const betaCol = b.op('Unsqueeze', [s('beta'), b.ints([1])], {}, `${P}beta_col`);
  const db1Row = b.op('Unsqueeze', [g.b1, ax0], {}, `${P}d_b1_row`);
  const gammaS = b.op('Mul', [S, gammaCol], {}, `${P}gamma_s`);
  g.w1 = b.op('Add', [gammaS, b.op('Mul', [betaCol, db1Row], {}, `${P}beta_db1`)], {}, `${P}d_w1`);
  g.gamma = b.op('ReduceSum', [b.op('Mul', [S, s('w1')], {}, `${P}w1_s`), b.ints([1])], { keepdims: 0 }, `${P}d_gamma`);
  g.beta = b.op('Reshape', [b.op('Gemm', [db1Row, s('w1')], { transB: 1 }), b.ints([D])], {}, `${P}d_beta`);

  // ---- updates
  const lrk = b.op('Mul', [io.lr, b.scalar((1 - b1) / Math.sqrt(1 - o.adamBeta2))], {}, `${P}lr_scaled`);
  for (const p of PARAM_NAMES) {
    adam(b, io, p, g[p], lrk, o, o.weightDecay && (p === 'w1' || p === 'w2'));
    if (io.grad) b.op('Mul', [g[p], b.scalar(1 / (1 - b1))], {}, io.grad(p));
  }
  const mom = o.bnMomentum;
  const rm = b.op('Mul', [s(RUNNING_MEAN), b.scalar(mom)]);
  b.op('Add', [rm, b.op('Mul', [mu, b.scalar(1 - mom)])], {}, io.stateOut(RUNNING_MEAN));
  const rv = b.op('Mul', [s(RUNNING_VAR), b.scalar(mom)]);
  b.op('Add', [rv, b.op('Mul', [variance, io.rvCoef])], {}, io.stateOut(RUNNING_VAR));
}

/** Names of the single-step graph's inputs and outputs. */
export const STEP_IO = {
  x: 'x',
  y: 'y',
  mask: 'mask',
  lr: 'lr',
  invBatch: 'inv_batch',
  rvCoef: 'rv_coef',
  wd: 'wd',
  loss: 'loss',
  grad: (p: ParamName) => `grad_${p}`,
} as const;

/**
 * A single training step as a graph: inputs x, y, mask, lr, inv_batch (1/B), rv_coef ((1-μ)·B/(B-1)), [wd], and
 * the state; outputs loss, `<state>_out`, and with `exposeGradients` the unscaled gradients `grad_<param>`.
 * The trainer runs epochs (buildTrainEpochGraph); this graph is for the gradient check and the tests.
 */
export function buildTrainStepGraph(o: TrainGraphOptions & { exposeGradients?: boolean }): O.IModelProto {
  const b = new Builder(o.precision ?? 'float32');
  const E = b.elem;
  const { inputDim: D, hidden: H, numClasses: C } = o;
  const io: StepIO = {
    ...STEP_IO,
    state: (n) => n,
    stateOut: outName,
    grad: o.exposeGradients ? STEP_IO.grad : undefined,
  };
  emitStep(b, o, io);
  const inputs = [
    vinfo(io.x, E, ['batch', D]),
    vinfo(io.y, E, ['batch', C]),
    vinfo(io.mask, E, ['batch', H]),
    vinfo(io.lr, E, []),
    vinfo(io.invBatch, E, []),
    vinfo(io.rvCoef, E, []),
  ];
  if (o.weightDecay) inputs.push(vinfo(io.wd, E, []));
  const outputs = [vinfo(io.loss, E, [])];
  const shapes = stateShapes(o);
  for (const n of stateNames()) {
    inputs.push(vinfo(n, E, shapes[n]));
    outputs.push(vinfo(outName(n), E, shapes[n]));
  }
  if (o.exposeGradients) {
    const ps = paramShapes(o);
    for (const p of PARAM_NAMES) outputs.push(vinfo(STEP_IO.grad(p), E, ps[p]));
  }
  return makeModel(makeGraph('iin_train_step', b.nodes, inputs, outputs, b.inits), {
    docString: 'OWSD internal inference network: one Adam training step (forward, hand-written backward, update)',
  });
}

/** Names of the epoch graph's inputs besides the state, and of its per-step loss output. */
export const EPOCH_IO = {
  /** [n, D] all feature rows (only those listed in `order` are used). */
  x: 'x_all',
  /** [n, C] one-hot labels of all rows. */
  y: 'y_all',
  /** [m] int64: row indices in the order the epoch visits them. */
  order: 'order',
  /** [steps+1] int64: step i uses order[bounds[i] .. bounds[i+1]). */
  bounds: 'bounds',
  /** [m, H]: the dropout mask of the sample at each position of `order`. */
  masks: 'masks',
  /** [steps] per-step scalars. */
  lrs: 'lrs',
  invBatches: 'inv_batches',
  rvCoefs: 'rv_coefs',
  wds: 'wds',
  /** [steps] output: each step's mean loss. */
  losses: 'losses',
} as const;

/**
 * An epoch of training as one graph: a Loop over the minibatches carrying the state (see the file comment).
 * State inputs and outputs have the same names as in the single-step graph.
 */
export function buildTrainEpochGraph(o: TrainGraphOptions): O.IModelProto {
  const precision = o.precision ?? 'float32';
  const outer = new Builder(precision);
  const E = outer.elem;
  const { inputDim: D, hidden: H, numClasses: C } = o;
  const names = stateNames();
  const shapes = stateShapes(o);
  const X = EPOCH_IO;

  // ---- loop body: slice this step's batch out of the epoch's inputs, then one step
  const body = new Builder(precision, 'body_');
  const iter = 'body_iter';
  const condIn = 'body_cond_in';
  const start = body.op('Unsqueeze', [body.op('Gather', [X.bounds, iter], { axis: 0 }), body.ints([0])], {}, 'body_start');
  const next = body.op('Add', [iter, body.ints([1], true)], {}, 'body_iter_next');
  const end = body.op('Unsqueeze', [body.op('Gather', [X.bounds, next], { axis: 0 }), body.ints([0])], {}, 'body_end');
  const rows = body.op('Slice', [X.order, start, end], {}, 'body_rows');
  const io: StepIO = {
    x: body.op('Gather', [X.x, rows], { axis: 0 }, 'body_x'),
    y: body.op('Gather', [X.y, rows], { axis: 0 }, 'body_y'),
    mask: body.op('Slice', [X.masks, start, end], {}, 'body_mask'),
    lr: body.op('Gather', [X.lrs, iter], { axis: 0 }, 'body_lr'),
    invBatch: body.op('Gather', [X.invBatches, iter], { axis: 0 }, 'body_inv_batch'),
    rvCoef: body.op('Gather', [X.rvCoefs, iter], { axis: 0 }, 'body_rv_coef'),
    wd: o.weightDecay ? body.op('Gather', [X.wds, iter], { axis: 0 }, 'body_wd') : '',
    state: (n) => `body_${n}`,
    stateOut: (n) => `body_${n}_next`,
    loss: 'body_loss',
  };
  emitStep(body, o, io);
  body.op('Identity', [condIn], {}, 'body_cond_out');
  const bodyGraph = makeGraph(
    'iin_epoch_body',
    body.nodes,
    [vinfo(iter, INT64, []), vinfo(condIn, BOOL, []), ...names.map((n) => vinfo(io.state(n), E, shapes[n]))],
    [vinfo('body_cond_out', BOOL, []), ...names.map((n) => vinfo(io.stateOut(n), E, shapes[n])), vinfo(io.loss, E, [])],
    body.inits,
  );

  // ---- outer graph: the trip count is the number of per-step learning rates
  const tripCount = outer.op('Squeeze', [outer.op('Shape', [X.lrs]), outer.ints([0])], {}, 'trip_count');
  outer.nodes.push({
    opType: 'Loop',
    name: 'epoch_loop',
    input: [tripCount, outer.bool(true), ...names],
    output: [...names.map(outName), X.losses],
    attribute: [{ name: 'body', type: onnx.AttributeProto.AttributeType.GRAPH, g: bodyGraph }],
  });
  const inputs = [
    vinfo(X.x, E, ['rows', D]),
    vinfo(X.y, E, ['rows', C]),
    vinfo(X.order, INT64, ['visits']),
    vinfo(X.bounds, INT64, ['steps_plus_1']),
    vinfo(X.masks, E, ['visits', H]),
    vinfo(X.lrs, E, ['steps']),
    vinfo(X.invBatches, E, ['steps']),
    vinfo(X.rvCoefs, E, ['steps']),
  ];
  if (o.weightDecay) inputs.push(vinfo(X.wds, E, ['steps']));
  const outputs: O.IValueInfoProto[] = [];
  for (const n of names) {
    inputs.push(vinfo(n, E, shapes[n]));
    outputs.push(vinfo(outName(n), E, shapes[n]));
  }
  outputs.push(vinfo(X.losses, E, ['steps']));
  return makeModel(makeGraph('iin_train_epoch', outer.nodes, inputs, outputs, outer.inits), {
    docString: 'OWSD internal inference network: one epoch of Adam training steps in a Loop',
  });
}

export function serializeTrainStep(o: TrainGraphOptions & { exposeGradients?: boolean }): Uint8Array {
  return serializeModel(buildTrainStepGraph(o));
}

export function serializeTrainEpoch(o: TrainGraphOptions): Uint8Array {
  return serializeModel(buildTrainEpochGraph(o));
}

/** Inference-graph inputs besides `features`: parameters and BN running statistics. */
export const INFERENCE_PARAMS = ['gamma', 'beta', RUNNING_MEAN, RUNNING_VAR, 'w1', 'b1', 'w2', 'b2'] as const;
export type InferenceParamName = (typeof INFERENCE_PARAMS)[number];

export interface InferenceGraphOptions extends IinDims {
  bnEpsilon: number;
  precision?: Precision;
  /** Embed these values as initializers (a self-contained model); without them the parameters are graph inputs. */
  weights?: Record<InferenceParamName, Float32Array>;
  /** Also output `log_probabilities` (LogSoftmax), for an exact validation loss. */
  logProbabilities?: boolean;
  docString?: string;
}

/**
 * Inference: features [batch, D] → BatchNormalization (running statistics) → Gemm → Relu → Gemm → Softmax →
 * probabilities [batch, C]. Only standard opset-17 operators, so any ONNX runtime can run it.
 */
export function buildInferenceGraph(o: InferenceGraphOptions): O.IModelProto {
  const b = new Builder(o.precision ?? 'float32');
  const E = b.elem;
  const { inputDim: D, hidden: H, numClasses: C } = o;
  const dims: Record<InferenceParamName, number[]> = {
    gamma: [D],
    beta: [D],
    running_mean: [D],
    running_var: [D],
    w1: [D, H],
    b1: [H],
    w2: [H, C],
    b2: [C],
  };
  const inputs: O.IValueInfoProto[] = [vinfo('features', E, ['batch', D])];
  for (const name of INFERENCE_PARAMS) {
    if (o.weights) b.tensor(name, dims[name], o.weights[name]);
    else inputs.push(vinfo(name, E, dims[name]));
  }
  // epsilon must be a FLOAT attribute even when it looks like an integer
  const bnInputs = ['features', 'gamma', 'beta', RUNNING_MEAN, RUNNING_VAR];
  const xn = b.op('BatchNormalization', bnInputs, { epsilon: { float: o.bnEpsilon } }, 'normalized');
  const hidden = b.op('Relu', [b.op('Gemm', [xn, 'w1', 'b1'], {}, 'dense1')], {}, 'hidden');
  const logits = b.op('Gemm', [hidden, 'w2', 'b2'], {}, 'logits');
  b.op('Softmax', [logits], { axis: -1 }, 'probabilities');
  const outputs = [vinfo('probabilities', E, ['batch', C])];
  if (o.logProbabilities) {
    b.op('LogSoftmax', [logits], { axis: -1 }, 'log_probabilities');
    outputs.push(vinfo('log_probabilities', E, ['batch', C]));
  }
  return makeModel(makeGraph('iin_inference', b.nodes, inputs, outputs, b.inits), {
    opset: OPSET,
    docString: o.docString ?? 'OWSD internal inference network',
  });
}

export function serializeInference(o: InferenceGraphOptions): Uint8Array {
  return serializeModel(buildInferenceGraph(o));
}
