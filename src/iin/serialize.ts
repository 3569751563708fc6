/**
 * IIN weights as plain JSON (for bundles) and as a standard ONNX model.
 *
 * JSON: `{ format: 'owsd-iin/1', inputDim, hidden, numClasses, bnEpsilon, tensors: { name: { dims, data } }, config? }`
 * where `data` is the base64 of the little-endian float32 values, row-major.
 *
 * ONNX: input `features` [batch, inputDim] float32 → output `probabilities` [batch, numClasses], opset 17, only standard
 * operators (BatchNormalization, Gemm, Relu, Softmax), weights as initializers. Any ONNX runtime can run it.
 */
import { fail } from '../errors.js';
import { checkIinWeights, iinWeightDims, IIN_WEIGHT_NAMES, resolveIinConfig, type IinConfig, type IinWeights } from './config.js';
import { serializeInference } from './graph.js';
import { base64ToFloat32, float32ToBase64 } from '../internal/float-base64.js';

export const IIN_JSON_FORMAT = 'owsd-iin/1';

export interface IinTensorJson {
  dims: number[];
  /** base64 of little-endian float32. */
  data: string;
}

export interface IinWeightsJson {
  format: typeof IIN_JSON_FORMAT;
  inputDim: number;
  hidden: number;
  numClasses: number;
  bnEpsilon: number;
  tensors: Record<(typeof IIN_WEIGHT_NAMES)[number], IinTensorJson>;
  /** The training configuration, when given to iinWeightsToJson. */
  config?: IinConfig;
}

/** Weights (and optionally the config they were trained with) as a JSON-able object. */
export function iinWeightsToJson(weights: IinWeights, config?: IinConfig): IinWeightsJson {
  checkIinWeights(weights);
  const dims = iinWeightDims(weights);
  const tensors = {} as IinWeightsJson['tensors'];
  for (const name of IIN_WEIGHT_NAMES) tensors[name] = { dims: dims[name], data: float32ToBase64(weights[name]) };
  const json: IinWeightsJson = {
    format: IIN_JSON_FORMAT,
    inputDim: weights.inputDim,
    hidden: weights.hidden,
    numClasses: weights.numClasses,
    bnEpsilon: weights.bnEpsilon,
    tensors,
  };
  if (config) json.config = config;
  return json;
}

/** Parses and checks what iinWeightsToJson wrote; `what` names the object in errors (OWSD_ERR_BUNDLE). */
export function readIinJson(json: unknown, what = 'IIN weights'): { weights: IinWeights; config: IinConfig | undefined } {
  const bad = (msg: string): never => fail('OWSD_ERR_BUNDLE', `${what}: ${msg}`);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return bad('expected an object');
  const o = json as Record<string, unknown>;
  if (o.format !== IIN_JSON_FORMAT) bad(`format must be "${IIN_JSON_FORMAT}", got ${JSON.stringify(o.format)}`);
  for (const k of ['inputDim', 'hidden', 'numClasses'] as const) {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) bad(`${k} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (typeof o.bnEpsilon !== 'number' || !(o.bnEpsilon > 0)) bad(`bnEpsilon must be a positive number, got ${JSON.stringify(o.bnEpsilon)}`);
  const shape = { inputDim: o.inputDim as number, hidden: o.hidden as number, numClasses: o.numClasses as number };
  const dims = iinWeightDims(shape);
  const tensors = o.tensors;
  if (typeof tensors !== 'object' || tensors === null) return bad('tensors must be an object');
  const arrays = {} as Record<(typeof IIN_WEIGHT_NAMES)[number], Float32Array>;
  for (const name of IIN_WEIGHT_NAMES) {
    const t = (tensors as Record<string, unknown>)[name] as Partial<IinTensorJson> | undefined;
    if (typeof t !== 'object' || t === null) return bad(`tensors.${name} is missing`);
    const want = dims[name];
    if (!Array.isArray(t.dims) || t.dims.length !== want.length || t.dims.some((d, i) => d !== want[i])) {
      bad(`tensors.${name}.dims must be [${want.join(', ')}], got ${JSON.stringify(t.dims)}`);
    }
    const n = want.reduce((a, b) => a * b, 1);
    const data = typeof t.data === 'string' ? base64ToFloat32(t.data, n) : `${typeof t.data}`;
    if (typeof data === 'string') bad(`tensors.${name}.data must be base64 of ${n} float32 values (${4 * n} bytes), got ${data}`);
    arrays[name] = data as Float32Array;
  }
  const weights: IinWeights = { ...shape, bnEpsilon: o.bnEpsilon as number, ...arrays };
  let config: IinConfig | undefined;
  if (o.config !== undefined) {
    try {
      config = resolveIinConfig(o.config as Partial<IinConfig>);
    } catch (e) {
      bad(`config: ${(e as Error).message}`);
    }
  }
  return { weights, config };
}

/** The weights of an object written by iinWeightsToJson. */
export function iinWeightsFromJson(json: unknown, what = 'IIN weights'): IinWeights {
  return readIinJson(json, what).weights;
}

/**
 * A self-contained ONNX model of the trained network: input `features` [batch, inputDim] float32, output
 * `probabilities` [batch, numClasses].
 */
export function exportIinOnnx(weights: IinWeights): Uint8Array {
  checkIinWeights(weights);
  return serializeInference({
    inputDim: weights.inputDim,
    hidden: weights.hidden,
    numClasses: weights.numClasses,
    bnEpsilon: weights.bnEpsilon,
    weights: {
      gamma: weights.gamma,
      beta: weights.beta,
      running_mean: weights.runningMean,
      running_var: weights.runningVar,
      w1: weights.w1,
      b1: weights.b1,
      w2: weights.w2,
      b2: weights.b2,
    },
    docString:
      `OWSD internal inference network: features [batch, ${weights.inputDim}] float32 (embedding(s) then cloud vector(s)) ` +
      `→ probabilities [batch, ${weights.numClasses}]. BatchNormalization → Dense(${weights.hidden}, ReLU) → Dense → Softmax.`,
  });
}
