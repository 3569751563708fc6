/**
 * Configuration and weights of the Internal Inference Network (IIN).
 *
 * Every default lives in the one commented block below (nanoGPT style); `trainIin` takes a Partial<IinConfig> and
 * fills the rest from here. The paper (Savransky et al. 2021) fixes the learning rate (1e-4; ours is 1e-3, see
 * below), the epoch count (40) and early stopping; the rest are Keras-like choices or measured here (see batchSize).
 */
import { fail } from '../errors.js';

export interface IinConfig {
  hidden: number;
  dropout: number;
  learningRate: number;
  lrDecay: number;
  epochs: number;
  batchSize: number;
  earlyStopping: boolean;
  patience: number;
  validationFraction: number;
  seed: number;
  weightDecay: number;
  bnMomentum: number;
  bnEpsilon: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEpsilon: number;
}

// ------------------------------------------------------------------------------------------------------------------
// Defaults
export const IIN_DEFAULTS: Readonly<IinConfig> = Object.freeze({
  // model
  hidden: 512, // units of the hidden Dense layer
  dropout: 0.5, // drop probability after the hidden ReLU (training only); masks are drawn with 16-bit resolution
  // optimizer: Adam
  learningRate: 1e-3, // Adam step size. The paper's 1e-4 leaves the IIN under-trained after 40 epochs (measured, 3
  //                    seeds: Imagenette, MobileNet v1 0.25 encoder, embedding alone 72.0% at 1e-4 vs 87.3% at 1e-3;
  //                    MobileNetV2 94.7 vs 96.2; CIFAR-10 73.1 vs 76.3), which made wider inputs (an added cloud vector,
  //                    even one shuffled across images) look like a cloud gain. 1e-3 stops early in 8-40 epochs
  lrDecay: 0.95, // exponential decay per epoch: lr_e = learningRate * lrDecay^e, e = 0, 1, ...
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-7, // Keras' default ("epsilon hat" form)
  weightDecay: 0, // decoupled (AdamW) decay of W1 and W2 per step, multiplied by the epoch's learning rate; 0 = off
  // schedule
  epochs: 40, // upper bound (paper)
  batchSize: 128, // measured (bench/iin-train, paper size, 2 cores, 40 epochs): 64 → 32 s, val. acc. 0.874, val. loss
  //                 0.38; 128 → 21 s, 0.87, 0.45; 256 → 16 s, 0.85, 0.57. A step's cost is mostly the Adam passes over
  //                 W1, independent of the batch, so 128 keeps most of 64's accuracy at 2/3 of its time
  earlyStopping: true, // stop when the validation loss has not improved for `patience` epochs, keep the best weights
  patience: 5,
  validationFraction: 0.1, // share of the samples held out (seeded random split); 0 = no validation, no early stopping
  seed: 0, // one seed for the split, the initialization, the shuffling and the dropout masks
  // batch normalization of the input features
  bnMomentum: 0.99, // running statistics: r = bnMomentum * r + (1 - bnMomentum) * batch statistic (Keras default)
  bnEpsilon: 1e-3, // Keras default
});
// ------------------------------------------------------------------------------------------------------------------

/**
 * The trained network, as plain data (Float32Arrays, row-major, dims implied by inputDim/hidden/numClasses).
 * w1 is [inputDim, hidden], w2 is [hidden, numClasses]; z = x·W + b.
 */
export interface IinWeights {
  inputDim: number;
  hidden: number;
  numClasses: number;
  bnEpsilon: number;
  gamma: Float32Array;
  beta: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

export const IIN_WEIGHT_NAMES = ['gamma', 'beta', 'runningMean', 'runningVar', 'w1', 'b1', 'w2', 'b2'] as const;
export type IinWeightName = (typeof IIN_WEIGHT_NAMES)[number];

export function iinWeightDims(w: Pick<IinWeights, 'inputDim' | 'hidden' | 'numClasses'>): Record<IinWeightName, number[]> {
  const { inputDim: D, hidden: H, numClasses: C } = w;
  return { gamma: [D], beta: [D], runningMean: [D], runningVar: [D], w1: [D, H], b1: [H], w2: [H, C], b2: [C] };
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1;
}

/** Checks dims and array lengths of weights from any source; `what` names them in errors. */
export function checkIinWeights(w: IinWeights, what = 'weights'): void {
  if (typeof w !== 'object' || w === null) fail('OWSD_ERR_BAD_ARGUMENT', `${what} must be an object`);
  for (const k of ['inputDim', 'hidden', 'numClasses'] as const) {
    if (!isPositiveInt(w[k])) fail('OWSD_ERR_BAD_ARGUMENT', `${what}.${k} must be a positive integer, got ${String(w[k])}`);
  }
  if (w.numClasses < 2) fail('OWSD_ERR_BAD_ARGUMENT', `${what}.numClasses must be at least 2, got ${w.numClasses}`);
  if (typeof w.bnEpsilon !== 'number' || !(w.bnEpsilon > 0)) {
    fail('OWSD_ERR_BAD_ARGUMENT', `${what}.bnEpsilon must be a positive number, got ${String(w.bnEpsilon)}`);
  }
  const dims = iinWeightDims(w);
  for (const k of IIN_WEIGHT_NAMES) {
    const a = w[k];
    const n = dims[k].reduce((x, y) => x * y, 1);
    if (!(a instanceof Float32Array)) fail('OWSD_ERR_BAD_ARGUMENT', `${what}.${k} must be a Float32Array`);
    if (a.length !== n) {
      fail('OWSD_ERR_BAD_ARGUMENT', `${what}.${k} must have ${n} elements (dims [${dims[k].join(', ')}]), got ${a.length}`);
    }
  }
}

type Check = (v: number) => boolean;
const RULES: Record<keyof IinConfig, [Check, string] | 'boolean'> = {
  hidden: [(v) => Number.isInteger(v) && v >= 1, 'an integer >= 1'],
  dropout: [(v) => v >= 0 && v < 1, 'a number in [0, 1)'],
  learningRate: [(v) => v > 0 && Number.isFinite(v), 'a positive number'],
  lrDecay: [(v) => v > 0 && v <= 1, 'a number in (0, 1]'],
  epochs: [(v) => Number.isInteger(v) && v >= 1, 'an integer >= 1'],
  batchSize: [(v) => Number.isInteger(v) && v >= 2, 'an integer >= 2 (batch statistics need two samples)'],
  earlyStopping: 'boolean',
  patience: [(v) => Number.isInteger(v) && v >= 1, 'an integer >= 1'],
  validationFraction: [(v) => v >= 0 && v < 1, 'a number in [0, 1)'],
  seed: [(v) => Number.isSafeInteger(v), 'a safe integer'],
  weightDecay: [(v) => v >= 0 && Number.isFinite(v), 'a number >= 0'],
  bnMomentum: [(v) => v >= 0 && v < 1, 'a number in [0, 1)'],
  bnEpsilon: [(v) => v > 0 && Number.isFinite(v), 'a positive number'],
  adamBeta1: [(v) => v >= 0 && v < 1, 'a number in [0, 1)'],
  adamBeta2: [(v) => v >= 0 && v < 1, 'a number in [0, 1)'],
  adamEpsilon: [(v) => v > 0 && Number.isFinite(v), 'a positive number'],
};

/** Fills a partial config from the defaults and checks every field; errors name the field (`config.<field>`). */
export function resolveIinConfig(partial: Partial<IinConfig> = {}): IinConfig {
  if (typeof partial !== 'object' || partial === null) fail('OWSD_ERR_BAD_ARGUMENT', 'config must be an object');
  const out = { ...IIN_DEFAULTS } as IinConfig;
  for (const [key, value] of Object.entries(partial)) {
    if (!(key in RULES)) {
      fail('OWSD_ERR_BAD_ARGUMENT', `config.${key} is not an IIN setting (known: ${Object.keys(RULES).join(', ')})`);
    }
    if (value === undefined) continue;
    const rule = RULES[key as keyof IinConfig];
    if (rule === 'boolean') {
      if (typeof value !== 'boolean') fail('OWSD_ERR_BAD_ARGUMENT', `config.${key} must be a boolean, got ${String(value)}`);
    } else if (typeof value !== 'number' || Number.isNaN(value) || !rule[0](value)) {
      fail('OWSD_ERR_BAD_ARGUMENT', `config.${key} must be ${rule[1]}, got ${String(value)}`);
    }
    (out as unknown as Record<string, unknown>)[key] = value;
  }
  return out;
}
