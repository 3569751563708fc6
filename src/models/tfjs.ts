/**
 * TensorFlow.js layers models (a Keras `model.json` with its `weightsManifest` and weight shard files) converted
 * to ONNX, so that the encoder, the classifier and the embedded cloud run them like any other ONNX model.
 *
 * The ONNX graph takes owsd's standard input, float32 NCHW `[batch, 3, H, W]` named `input` (already normalised
 * as the manifest's preprocessing says), and gives `probabilities` `[batch, classes]` (or `logits` when the Keras
 * model does not end in a softmax). Feature maps are kept NCHW throughout: Keras HWIO kernels become OIHW,
 * depthwise kernels `[kh, kw, C, M]` become `[C*M, 1, kh, kw]` with `group = C`, Keras 'same' padding becomes
 * explicit pads with TF's rule (the odd pixel at the bottom/right, e.g. stride 2 on 224), and BatchNormalization
 * is folded into the convolution before it where it can be (otherwise a per-channel Mul+Add). The output of the
 * last global pooling layer is named `pooled_features`: the embedding.
 *
 * Supported layers: InputLayer, Conv2D, DepthwiseConv2D, SeparableConv2D, Dense, BatchNormalization, Activation
 * (linear, relu, relu6, sigmoid, tanh, softmax, elu, selu, softplus, softsign, hard_sigmoid, swish), ReLU,
 * LeakyReLU, Softmax, ZeroPadding2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D,
 * GlobalMaxPooling2D, Reshape, Flatten, Add, Concatenate, and Dropout-like layers (identity at inference).
 * Weights must be float32; quantized weights (uint8/uint16/float16) are refused. Anything else fails with an
 * OwsdError naming the file and the layer.
 *
 * `prepareTfjsModel` (called by `resolveModel`) converts once per content: the ONNX file is written atomically into
 * `<cacheDir>/tfjs/` under the sha256 of the source files, and reused until they change.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { onnx as O } from 'onnx-proto';
import { fail } from '../errors.js';
import { writeFileAtomic } from '../internal/files.js';
import { floatTensor, int64Tensor, makeGraph, makeModel, makeNode, serializeModel, valueInfo } from '../internal/onnx-graph.js';
import { inputSize, type ModelSpec } from './spec.js';

/** Bump when the converter's output changes, so cached conversions are redone. */
export const TFJS_CONVERTER_VERSION = 1;
export const TFJS_INPUT = 'input';
/** The tensor holding the output of the last global pooling layer (the embedding). */
export const TFJS_EMBEDDING = 'pooled_features';

type Json = Record<string, unknown>;
/** A Keras shape without the batch dimension's value: [null, H, W, C] or [null, D]; null = unknown. */
type Shape = Array<number | null>;

interface Weight {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** The source files of a TF.js layers model, read into memory. */
export interface TfjsSource {
  /** Absolute path of model.json. */
  file: string;
  json: Json;
  /** Weight shard paths as the weightsManifest gives them (relative to model.json's folder), in manifest order. */
  shards: string[];
  /** model.json's bytes and each shard's bytes, by the same relative names ('model.json' is the basename). */
  bytes: Map<string, Buffer>;
}

export interface TfjsConversionInfo {
  converter: number;
  /** sha256 over the source files: see `tfjsSourceDigest`. */
  digest: string;
  /** Keras input shape without the batch: [H, W, C] (null: any). */
  inputHWC: [number | null, number | null, number];
  output: string;
  kind: 'probabilities' | 'logits';
  classes: number;
  embedding?: { tensor: string; dim: number | null };
  layers: number;
  /** Conv layers BatchNormalization was folded into. */
  folded: number;
  seconds: number;
}

export interface TfjsConversion {
  model: Uint8Array;
  info: TfjsConversionInfo;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function readBytes(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message;
    return fail('OWSD_ERR_MODEL_LOAD', `cannot read ${what} ${file}: ${why}`);
  }
}

/** Read model.json and every weight shard it names. */
export function readTfjsSource(modelJson: string): TfjsSource {
  const file = path.resolve(modelJson);
  const raw = readBytes(file, 'TF.js model');
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    return fail('OWSD_ERR_MODEL_LOAD', `${file}: not a TF.js model.json (invalid JSON: ${(e as Error).message})`);
  }
  if (!isObject(json) || !isObject(json.modelTopology) || !Array.isArray(json.weightsManifest)) {
    return fail('OWSD_ERR_MODEL_LOAD', `${file}: not a TF.js layers model: expected a JSON object with "modelTopology" and "weightsManifest"`);
  }
  if (typeof json.format === 'string' && json.format !== 'layers-model') {
    return fail('OWSD_ERR_MODEL_LOAD', `${file}: TF.js format "${json.format}" is not supported: only layers models ("layers-model") can be converted`);
  }
  const dir = path.dirname(file);
  const shards: string[] = [];
  const bytes = new Map<string, Buffer>([[path.basename(file), raw]]);
  json.weightsManifest.forEach((group, g) => {
    const paths = isObject(group) ? group.paths : undefined;
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string' && p.length > 0)) {
      return fail('OWSD_ERR_MODEL_LOAD', `${file}: weightsManifest[${g}].paths: expected a list of shard file names`);
    }
    for (const p of paths as string[]) {
      if (path.isAbsolute(p) || /^[a-z][a-z0-9+.-]*:\/\//i.test(p) || p.split(/[\\/]/).includes('..')) {
        return fail('OWSD_ERR_MODEL_LOAD', `${file}: weightsManifest[${g}].paths: "${p}" is not a file name inside the model's folder`);
      }
      if (!bytes.has(p)) bytes.set(p, readBytes(path.join(dir, p), `weight shard of ${file}:`));
      shards.push(p);
    }
  });
  return { file, json, shards, bytes };
}

/**
 * sha256 over a TF.js model's files: the sha256 of the `sha256sum`-style listing of model.json and then each
 * weight shard in weightsManifest order, i.e. what
 * `cd DIR && sha256sum model.json SHARD1 SHARD2 ... | sha256sum` prints. A manifest's `sha256` for a TF.js
 * model is checked against this; converted files are named by it.
 */
export function tfjsSourceDigest(src: TfjsSource): string {
  const names = [path.basename(src.file), ...new Set(src.shards)];
  const listing = names.map((n) => `${crypto.createHash('sha256').update(src.bytes.get(n)!).digest('hex')}  ${n}\n`).join('');
  return crypto.createHash('sha256').update(listing).digest('hex');
}

/** Float32 weights by name (`layer/param`, without any `:0` suffix). */
function readWeights(src: TfjsSource): Map<string, Weight> {
  const out = new Map<string, Weight>();
  const groups = src.json.weightsManifest as unknown[];
  groups.forEach((group, g) => {
    const where = `${src.file}: weightsManifest[${g}]`;
    const g0 = group as Json;
    const blob = Buffer.concat((g0.paths as string[]).map((p) => src.bytes.get(p)!));
    const list = g0.weights;
    if (!Array.isArray(list)) return fail('OWSD_ERR_MODEL_LOAD', `${where}.weights: expected a list of {name, shape, dtype}`);
    let offset = 0;
    for (const w of list) {
      if (!isObject(w) || typeof w.name !== 'string' || !Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
        return fail('OWSD_ERR_MODEL_LOAD', `${where}.weights: expected entries {name, shape: [integers], dtype}, got ${JSON.stringify(w).slice(0, 120)}`);
      }
      if (w.quantization !== undefined && w.quantization !== null) {
        const q = isObject(w.quantization) ? String(w.quantization.dtype) : JSON.stringify(w.quantization);
        return fail('OWSD_ERR_MODEL_LOAD', `${where}: weight '${w.name}' is quantized (${q}); only float32 weights are supported: re-export the model without weight quantization`);
      }
      const dtype = w.dtype ?? 'float32';
      if (dtype !== 'float32') return fail('OWSD_ERR_MODEL_LOAD', `${where}: weight '${w.name}' has dtype ${JSON.stringify(dtype)}; only float32 weights are supported`);
      const shape = w.shape as number[];
      const n = shape.reduce((a, b) => a * b, 1);
      const end = offset + 4 * n;
      if (end > blob.length) {
        return fail('OWSD_ERR_MODEL_LOAD', `${where}: the shard files (${(g0.paths as string[]).join(', ')}) hold ${blob.length} bytes, too few for weight '${w.name}' ending at byte ${end}: truncated or not this model's shards`);
      }
      // Copy: shard offsets need not be 4-byte aligned. TF.js stores little-endian floats, as does every Node host.
      const data = new Float32Array(n);
      new Uint8Array(data.buffer).set(blob.subarray(offset, end));
      offset = end;
      out.set(w.name.replace(/:\d+$/, ''), { name: w.name, shape, data });
    }
    if (offset !== blob.length) {
      return fail('OWSD_ERR_MODEL_LOAD', `${where}: the shard files (${(g0.paths as string[]).join(', ')}) hold ${blob.length} bytes, but its weights take ${offset}: not this model's shards`);
    }
  });
  return out;
}

interface KerasLayer {
  className: string;
  name: string;
  config: Json;
  /** Names of the layers whose outputs this layer reads, in order. */
  inputs: string[];
}

/** The Keras model config inside modelTopology (older exports wrap it in `model_config`). */
function modelConfig(src: TfjsSource): { className: string; config: unknown } {
  const topo = src.json.modelTopology as Json;
  const mc = isObject(topo.model_config) ? topo.model_config : topo;
  if (typeof mc.class_name !== 'string') return fail('OWSD_ERR_MODEL_LOAD', `${src.file}: modelTopology has no Keras model (expected "class_name" and "config")`);
  return { className: mc.class_name, config: mc.config };
}

/** Inbound layer names of a functional-model layer, from Keras 2 (`[[[name, 0, 0, {}]]]`) or Keras 3 node lists. */
function inboundOf(layer: Json, file: string, name: string): string[] {
  const nodes = layer.inbound_nodes;
  if (nodes === undefined || (Array.isArray(nodes) && nodes.length === 0)) return [];
  if (!Array.isArray(nodes)) return fail('OWSD_ERR_MODEL_LOAD', `${file}: layer '${name}': inbound_nodes is not a list`);
  if (nodes.length > 1) return fail('OWSD_ERR_MODEL_LOAD', `${file}: layer '${name}' is applied ${nodes.length} times (shared layers are not supported)`);
  const node = nodes[0];
  const refs: unknown[][] = [];
  if (Array.isArray(node)) {
    for (const r of node) if (Array.isArray(r)) refs.push(r);
  } else if (isObject(node)) {
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (isObject(v)) {
        const hist = isObject(v.config) ? v.config.keras_history : undefined;
        if (Array.isArray(hist)) refs.push(hist);
        else Object.values(v).forEach(walk);
      }
    };
    walk(node.args);
  }
  return refs.map((r) => {
    if (typeof r[0] !== 'string') return fail('OWSD_ERR_MODEL_LOAD', `${file}: layer '${name}': cannot read its inbound node ${JSON.stringify(r)}`);
    if ((r[1] ?? 0) !== 0 || (r[2] ?? 0) !== 0) {
      return fail('OWSD_ERR_MODEL_LOAD', `${file}: layer '${name}' reads output ${r[2]} of call ${r[1]} of '${r[0]}' (shared layers and multi-output layers are not supported)`);
    }
    return r[0];
  });
}

function refNames(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  if (typeof v[0] === 'string') return [v[0]];
  return v.map((r) => (Array.isArray(r) && typeof r[0] === 'string' ? r[0] : '')).filter((s) => s);
}

/** The model's layers in order, with their inputs; the model's input and output layer names. */
function readLayers(src: TfjsSource): { layers: KerasLayer[]; inputs: string[]; outputs: string[] } {
  const { className, config } = modelConfig(src);
  const file = src.file;
  const toLayer = (l: unknown, i: number): KerasLayer => {
    if (!isObject(l) || typeof l.class_name !== 'string' || !isObject(l.config)) {
      return fail('OWSD_ERR_MODEL_LOAD', `${file}: layers[${i}]: expected {"class_name", "config"}`);
    }
    const name = typeof l.name === 'string' ? l.name : typeof l.config.name === 'string' ? l.config.name : `layer_${i}`;
    return { className: l.class_name, name, config: l.config, inputs: inboundOf(l, file, name) };
  };
  if (className === 'Sequential') {
    const list = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
    if (!Array.isArray(list) || list.length === 0) return fail('OWSD_ERR_MODEL_LOAD', `${file}: Sequential model has no layers`);
    const layers = list.map(toLayer);
    if (layers[0]!.className !== 'InputLayer') {
      const first = layers[0]!.config;
      const shape = first.batch_input_shape ?? first.batch_shape;
      if (!Array.isArray(shape)) return fail('OWSD_ERR_MODEL_LOAD', `${file}: Sequential model: the first layer '${layers[0]!.name}' gives no batch_input_shape`);
      layers.unshift({ className: 'InputLayer', name: `${layers[0]!.name}_input`, config: { batch_input_shape: shape, dtype: first.dtype ?? 'float32' }, inputs: [] });
    }
    for (let i = 1; i < layers.length; i++) layers[i]!.inputs = [layers[i - 1]!.name];
    return { layers, inputs: [layers[0]!.name], outputs: [layers[layers.length - 1]!.name] };
  }
  if (className !== 'Model' && className !== 'Functional') {
    return fail('OWSD_ERR_MODEL_LOAD', `${file}: Keras model class '${className}' is not supported (expected Model, Functional or Sequential)`);
  }
  if (!isObject(config) || !Array.isArray(config.layers)) return fail('OWSD_ERR_MODEL_LOAD', `${file}: the model config has no "layers" list`);
  return { layers: config.layers.map(toLayer), inputs: refNames(config.input_layers), outputs: refNames(config.output_layers) };
}

/** A tensor of the ONNX graph: NCHW feature maps ('nchw', Keras shape [null,H,W,C]) or in Keras's own order ('plain'). */
interface T {
  name: string;
  shape: Shape;
  layout: 'nchw' | 'plain';
  /** Produced by a softmax, possibly through reshapes and identities. */
  softmax: boolean;
}

const LINEAR_LIKE = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'ActivityRegularization']);
const GLOBAL_POOL = new Set(['GlobalAveragePooling2D', 'GlobalMaxPooling2D']);

class Converter {
  readonly nodes: O.INodeProto[] = [];
  readonly inits: O.ITensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly consts = new Map<string, string>();
  folded = 0;

  constructor(readonly file: string) {}

  private readonly reserved = new Set<string>();

  /** A tensor name not used yet, from `base`; a reserved name only when `claim` is set (its one designated use). */
  fresh(base: string, claim = false): string {
    const taken = (n: string): boolean => this.used.has(n) || (this.reserved.has(n) && !(claim && n === base));
    let name = base;
    for (let i = 1; taken(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Keep `name` free for its designated tensor (the graph's input, output and embedding). */
  reserve(name: string): void {
    this.reserved.add(name);
  }

  node(op: string, inputs: string[], output: string, attrs: Parameters<typeof makeNode>[3] = {}): string {
    this.nodes.push(makeNode(op, inputs, [output], attrs));
    return output;
  }

  init(base: string, dims: number[], data: Float32Array | number[]): string {
    const name = this.fresh(base);
    this.inits.push(floatTensor(name, dims, data));
    return name;
  }

  /** A shared constant (scalar floats or int64 vectors). */
  constant(kind: 'f' | 'i', values: number[]): string {
    const key = `${kind}:${values.join(',')}`;
    const hit = this.consts.get(key);
    if (hit) return hit;
    const name = this.fresh(`const_${kind === 'f' ? 'f' : 'i64'}_${values.join('_').replace(/[^0-9a-z_]/gi, 'm')}`);
    this.inits.push(kind === 'f' ? floatTensor(name, values.length === 1 ? [] : [values.length], values) : int64Tensor(name, [values.length], values));
    this.consts.set(key, name);
    return name;
  }
}

function num(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * Convert a TF.js layers model to ONNX bytes. Pure: reads nothing beyond `src`.
 */
export function convertTfjs(src: TfjsSource): TfjsConversion {
  const started = process.hrtime.bigint();
  const file = src.file;
  const weights = readWeights(src);
  const { layers, inputs: inputNames, outputs: outputNames } = readLayers(src);
  if (inputNames.length !== 1) return fail('OWSD_ERR_MODEL_LOAD', `${file}: the model has ${inputNames.length} inputs; exactly one image input is supported`);
  if (outputNames.length !== 1) return fail('OWSD_ERR_MODEL_LOAD', `${file}: the model has ${outputNames.length} outputs; exactly one is supported`);
  const outputLayer = outputNames[0]!;

  const cv = new Converter(file);
  const consumers = new Map<string, string[]>();
  for (const l of layers) for (const i of l.inputs) consumers.set(i, [...(consumers.get(i) ?? []), l.name]);
  const byName = new Map(layers.map((l) => [l.name, l]));
  const lastPool = [...layers].reverse().find((l) => GLOBAL_POOL.has(l.className))?.name;
  cv.fresh(TFJS_INPUT);
  cv.reserve('probabilities');
  cv.reserve('logits');
  cv.reserve(TFJS_EMBEDDING);

  const tensors = new Map<string, T>();
  const skip = new Set<string>();
  let inputHWC: TfjsConversionInfo['inputHWC'] | undefined;

  for (const layer of layers) {
    if (skip.has(layer.name)) continue;
    const cfg = layer.config;
    const where = `${file}: layer '${layer.name}' (${layer.className})`;
    const bad: (what: string) => never = (what) => fail('OWSD_ERR_MODEL_LOAD', `${where}: ${what}`);
    const ins = layer.inputs.map((n) => tensors.get(n) ?? bad(`reads '${n}', which is not defined before it`));
    const one = (): T => {
      if (ins.length !== 1) bad(`expected exactly one input, got ${ins.length}`);
      return ins[0]!;
    };
    const w = (param: string, shape?: number[]): Weight => {
      const found = weights.get(`${layer.name}/${param}`) ?? [...weights.entries()].find(([k]) => k.endsWith(`/${layer.name}/${param}`))?.[1];
      if (!found) return bad(`weight '${layer.name}/${param}' is missing from the weightsManifest`);
      if (shape && (found.shape.length !== shape.length || found.shape.some((d, i) => d !== shape[i]))) {
        return bad(`weight '${found.name}' has shape [${found.shape.join(',')}], expected [${shape.join(',')}]`);
      }
      return found;
    };
    const pair = (v: unknown, what: string): [number, number] => {
      if (Number.isInteger(v)) return [v as number, v as number];
      if (Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x))) return [v[0] as number, v[1] as number];
      return bad(`${what}: expected an integer or a pair of integers, got ${JSON.stringify(v)}`);
    };
    const channelsLast = (): void => {
      if (cfg.data_format !== undefined && cfg.data_format !== null && cfg.data_format !== 'channels_last') {
        bad(`data_format "${String(cfg.data_format)}" is not supported (only channels_last)`);
      }
    };
    const spatial = (x: T): T => {
      if (x.layout !== 'nchw') bad(`expected a 4-D image feature map input, got shape [${x.shape.map(String).join(',')}]`);
      return x;
    };
    const define = (t: Omit<T, 'softmax'> & { softmax?: boolean }): void => {
      tensors.set(layer.name, { softmax: false, ...t });
    };
    const outName = (): string => (layer.name === lastPool ? cv.fresh(TFJS_EMBEDDING, true) : cv.fresh(layer.name));

    switch (layer.className) {
      case 'InputLayer': {
        const shape = (cfg.batch_input_shape ?? cfg.batch_shape) as unknown;
        if (!Array.isArray(shape) || shape.length !== 4 || !num(shape[3]) || ![1, 2].every((i) => shape[i] === null || num(shape[i]))) {
          bad(`expected an image input [batch, height, width, channels], got batch_input_shape ${JSON.stringify(shape)}`);
        }
        const s = shape as Shape;
        if (cfg.dtype !== undefined && cfg.dtype !== 'float32') bad(`input dtype ${JSON.stringify(cfg.dtype)} is not supported (only float32)`);
        if (layer.name !== inputNames[0]) bad(`is not the model's input layer ('${inputNames[0]}')`);
        inputHWC = [s[1] ?? null, s[2] ?? null, s[3] as number];
        tensors.set(layer.name, { name: TFJS_INPUT, shape: [null, s[1] ?? null, s[2] ?? null, s[3] ?? null], layout: 'nchw', softmax: false });
        break;
      }

      case 'Conv2D':
      case 'DepthwiseConv2D':
      case 'SeparableConv2D': {
        channelsLast();
        const x = spatial(one());
        const cin = x.shape[3];
        if (!num(cin)) bad('the number of input channels is unknown');
        const [kh, kw] = pair(cfg.kernel_size, 'kernel_size');
        const [sh, sw] = pair(cfg.strides ?? 1, 'strides');
        const [dh, dw] = pair(cfg.dilation_rate ?? 1, 'dilation_rate');
        const padding = cfg.padding ?? 'valid';
        if (padding !== 'same' && padding !== 'valid') bad(`padding "${String(padding)}" is not supported (only "same" and "valid")`);
        const activation = typeof cfg.activation === 'string' ? cfg.activation : cfg.activation === null || cfg.activation === undefined ? 'linear' : bad(`activation ${JSON.stringify(cfg.activation)} is not supported`);
        const useBias = cfg.use_bias !== false;
        const geo = convGeometry(x.shape, [kh, kw], [sh, sw], [dh, dw], padding, bad);
        let weight: Float32Array;
        let wdims: number[];
        let group = 1;
        let cout: number;
        let pointwise: { data: Float32Array; dims: number[] } | undefined;
        if (layer.className === 'Conv2D') {
          const filters = cfg.filters;
          if (!Number.isInteger(filters)) bad(`filters: expected an integer, got ${JSON.stringify(filters)}`);
          group = (cfg.groups as number | undefined) ?? 1;
          if (!Number.isInteger(group) || group < 1 || cin % group !== 0) bad(`groups ${JSON.stringify(cfg.groups)} does not divide the ${cin} input channels`);
          cout = filters as number;
          const k = w('kernel', [kh, kw, cin / group, cout]);
          weight = hwioToOihw(k.data, kh, kw, cin / group, cout);
          wdims = [cout, cin / group, kh, kw];
        } else {
          const mult = (cfg.depth_multiplier as number | undefined) ?? 1;
          if (!Number.isInteger(mult) || mult < 1) bad(`depth_multiplier: expected a positive integer, got ${JSON.stringify(cfg.depth_multiplier)}`);
          const k = w('depthwise_kernel', [kh, kw, cin, mult]);
          weight = depthwiseToOihw(k.data, kh, kw, cin, mult);
          wdims = [cin * mult, 1, kh, kw];
          group = cin;
          cout = cin * mult;
          if (layer.className === 'SeparableConv2D') {
            const filters = cfg.filters;
            if (!Number.isInteger(filters)) bad(`filters: expected an integer, got ${JSON.stringify(filters)}`);
            const p = w('pointwise_kernel', [1, 1, cin * mult, filters as number]);
            pointwise = { data: hwioToOihw(p.data, 1, 1, cin * mult, filters as number), dims: [filters as number, cin * mult, 1, 1] };
          }
        }
        const finalOut = pointwise ? pointwise.dims[0]! : cout;
        let bias = useBias ? Float32Array.from(w('bias', [finalOut]).data) : undefined;
        // Fold a BatchNormalization that is this layer's only reader into the (last) convolution.
        const readers = consumers.get(layer.name) ?? [];
        const bnLayer = readers.length === 1 ? byName.get(readers[0]!) : undefined;
        let resultLayer = layer.name;
        if (activation === 'linear' && layer.name !== outputLayer && bnLayer?.className === 'BatchNormalization' && bnLayer.inputs.length === 1) {
          const bn = batchNormParams(bnLayer, finalOut, 4, weights, file);
          const target = pointwise ? pointwise.data : weight;
          const per = target.length / finalOut;
          bias ??= new Float32Array(finalOut);
          for (let o = 0; o < finalOut; o++) {
            for (let j = 0; j < per; j++) target[o * per + j] = target[o * per + j]! * bn.scale[o]!;
            bias[o] = bias[o]! * bn.scale[o]! + bn.shift[o]!;
          }
          skip.add(bnLayer.name);
          resultLayer = bnLayer.name;
          cv.folded++;
        }
        const attrs = (k: [number, number], s: [number, number], d: [number, number], g: number, pads: number[] | undefined): Parameters<typeof makeNode>[3] => ({
          kernel_shape: k,
          strides: s,
          dilations: d,
          group: g,
          ...(pads ? { pads } : { auto_pad: 'SAME_UPPER' }),
        });
        const outShape: Shape = [null, geo.out[0], geo.out[1], finalOut];
        const name = cv.fresh(activation === 'linear' ? resultLayer : `${resultLayer}/preact`);
        const wName = cv.init(`${layer.name}/weight`, wdims, weight);
        if (pointwise) {
          const mid = cv.fresh(`${layer.name}/depthwise`);
          cv.node('Conv', [x.name, wName], mid, attrs([kh, kw], [sh, sw], [dh, dw], group, geo.pads));
          const pwName = cv.init(`${layer.name}/pointwise_weight`, pointwise.dims, pointwise.data);
          const inputs = [mid, pwName, ...(bias ? [cv.init(`${layer.name}/bias`, [finalOut], bias)] : [])];
          cv.node('Conv', inputs, name, attrs([1, 1], [1, 1], [1, 1], 1, [0, 0, 0, 0]));
        } else {
          const inputs = [x.name, wName, ...(bias ? [cv.init(`${layer.name}/bias`, [finalOut], bias)] : [])];
          cv.node('Conv', inputs, name, attrs([kh, kw], [sh, sw], [dh, dw], group, geo.pads));
        }
        let t: T = { name, shape: outShape, layout: 'nchw', softmax: false };
        if (activation !== 'linear') t = activate(cv, t, activation, cv.fresh(resultLayer), bad);
        tensors.set(layer.name, t);
        tensors.set(resultLayer, t);
        break;
      }

      case 'Dense': {
        const x = one();
        if (x.layout !== 'plain' || x.shape.length !== 2) bad(`expected a [batch, features] input, got shape [${x.shape.map(String).join(',')}] (add a Flatten layer)`);
        const din = x.shape[1];
        if (!num(din)) bad('the number of input features is unknown');
        const units = cfg.units;
        if (!Number.isInteger(units)) bad(`units: expected an integer, got ${JSON.stringify(units)}`);
        const k = w('kernel', [din, units as number]);
        const inputs = [x.name, cv.init(`${layer.name}/kernel`, [din, units as number], k.data)];
        if (cfg.use_bias !== false) inputs.push(cv.init(`${layer.name}/bias`, [units as number], w('bias', [units as number]).data));
        const activation = typeof cfg.activation === 'string' ? cfg.activation : 'linear';
        const name = cv.fresh(activation === 'linear' ? layer.name : `${layer.name}/preact`);
        cv.node('Gemm', inputs, name);
        let t: T = { name, shape: [null, units as number], layout: 'plain', softmax: false };
        if (activation !== 'linear') t = activate(cv, t, activation, outName(), bad);
        tensors.set(layer.name, t);
        break;
      }

      case 'BatchNormalization': {
        const x = one();
        const rank = x.shape.length;
        const axis = Array.isArray(cfg.axis) ? (cfg.axis.length === 1 ? cfg.axis[0] : NaN) : (cfg.axis ?? -1);
        if (axis !== -1 && axis !== rank - 1) bad(`axis ${JSON.stringify(cfg.axis)} is not supported (only the channel axis, -1)`);
        const c = x.shape[rank - 1];
        if (!num(c)) bad('the number of channels is unknown');
        const bn = batchNormParams(layer, c, rank, weights, file);
        const dims = x.layout === 'nchw' ? [c, 1, 1] : [c];
        if (x.layout === 'plain' && rank !== 2) bad('BatchNormalization on inputs of rank other than 2 or 4 is not supported');
        const scaled = cv.node('Mul', [x.name, cv.init(`${layer.name}/scale`, dims, bn.scale)], cv.fresh(`${layer.name}/scaled`));
        const out = cv.node('Add', [scaled, cv.init(`${layer.name}/shift`, dims, bn.shift)], outName());
        define({ name: out, shape: x.shape, layout: x.layout });
        break;
      }

      case 'Activation': {
        const x = one();
        const activation = typeof cfg.activation === 'string' ? cfg.activation : bad(`activation ${JSON.stringify(cfg.activation)} is not supported`);
        tensors.set(layer.name, activation === 'linear' ? x : activate(cv, x, activation, outName(), bad));
        break;
      }

      case 'ReLU': {
        const x = one();
        const max = cfg.max_value;
        const slope = cfg.negative_slope ?? 0;
        const threshold = cfg.threshold ?? 0;
        if (threshold !== 0) bad(`threshold ${JSON.stringify(threshold)} is not supported (only 0)`);
        if (!num(slope)) bad(`negative_slope: expected a number, got ${JSON.stringify(slope)}`);
        if (max !== undefined && max !== null && !num(max)) bad(`max_value: expected a number, got ${JSON.stringify(max)}`);
        const out = outName();
        if (slope === 0 && num(max)) {
          cv.node('Clip', [x.name, cv.constant('f', [0]), cv.constant('f', [max])], out);
        } else {
          const r = slope === 0 ? cv.node('Relu', [x.name], num(max) ? cv.fresh(`${layer.name}/relu`) : out) : cv.node('LeakyRelu', [x.name], num(max) ? cv.fresh(`${layer.name}/relu`) : out, { alpha: { float: slope } });
          if (num(max)) cv.node('Clip', [r, '', cv.constant('f', [max])], out);
        }
        define({ name: out, shape: x.shape, layout: x.layout });
        break;
      }

      case 'LeakyReLU': {
        const x = one();
        const alpha = cfg.alpha ?? cfg.negative_slope ?? 0.3;
        if (!num(alpha)) bad(`alpha: expected a number, got ${JSON.stringify(alpha)}`);
        define({ name: cv.node('LeakyRelu', [x.name], outName(), { alpha: { float: alpha } }), shape: x.shape, layout: x.layout });
        break;
      }

      case 'Softmax': {
        const x = one();
        const axis = cfg.axis ?? -1;
        if (axis !== -1 && axis !== x.shape.length - 1) bad(`axis ${JSON.stringify(axis)} is not supported (only -1)`);
        tensors.set(layer.name, activate(cv, x, 'softmax', outName(), bad));
        break;
      }

      case 'ZeroPadding2D': {
        channelsLast();
        const x = spatial(one());
        const p = cfg.padding ?? 1;
        let top: number, bottom: number, left: number, right: number;
        if (Array.isArray(p) && p.length === 2 && p.every((q) => Array.isArray(q))) {
          [top, bottom] = pair(p[0], 'padding[0]');
          [left, right] = pair(p[1], 'padding[1]');
        } else {
          [top, left] = pair(p, 'padding');
          [bottom, right] = [top, left];
        }
        const out = cv.node('Pad', [x.name, cv.constant('i', [0, 0, top, left, 0, 0, bottom, right])], outName(), { mode: 'constant' });
        const [h, wd, c] = [x.shape[1], x.shape[2], x.shape[3]];
        define({ name: out, shape: [null, num(h) ? h + top + bottom : null, num(wd) ? wd + left + right : null, c ?? null], layout: 'nchw' });
        break;
      }

      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        channelsLast();
        const x = spatial(one());
        const k = pair(cfg.pool_size ?? 2, 'pool_size');
        const s = cfg.strides === null || cfg.strides === undefined ? k : pair(cfg.strides, 'strides');
        const padding = cfg.padding ?? 'valid';
        if (padding !== 'same' && padding !== 'valid') bad(`padding "${String(padding)}" is not supported (only "same" and "valid")`);
        const geo = convGeometry(x.shape, k, s, [1, 1], padding, bad);
        const op = layer.className === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool';
        // TF averages over the real pixels only: count_include_pad = 0, ONNX's default.
        const out = cv.node(op, [x.name], outName(), { kernel_shape: k, strides: s, ...(geo.pads ? { pads: geo.pads } : { auto_pad: 'SAME_UPPER' }) });
        define({ name: out, shape: [null, geo.out[0], geo.out[1], x.shape[3] ?? null], layout: 'nchw' });
        break;
      }

      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        channelsLast();
        const x = spatial(one());
        const op = layer.className === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool';
        if (cfg.keepdims === true) {
          define({ name: cv.node(op, [x.name], outName()), shape: [null, 1, 1, x.shape[3] ?? null], layout: 'nchw' });
        } else {
          const pooled = cv.node(op, [x.name], cv.fresh(`${layer.name}/pool`));
          define({ name: cv.node('Flatten', [pooled], outName(), { axis: 1 }), shape: [null, x.shape[3] ?? null], layout: 'plain' });
        }
        break;
      }

      case 'Flatten': {
        const x = one();
        const source = x.layout === 'nchw' ? toNhwc(cv, x, layer.name) : x.name;
        const known = x.shape.slice(1).every(num) ? (x.shape.slice(1) as number[]).reduce((a, b) => a * b, 1) : null;
        const out = x.layout === 'plain' && x.shape.length === 2 ? x.name : cv.node('Flatten', [source], outName(), { axis: 1 });
        define({ name: out, shape: [null, known], layout: 'plain', softmax: x.softmax });
        break;
      }

      case 'Reshape': {
        const x = one();
        const target = cfg.target_shape;
        if (!Array.isArray(target) || target.length < 1 || !target.every((d) => Number.isInteger(d) && (d === -1 || d > 0)) || target.filter((d) => d === -1).length > 1) {
          bad(`target_shape: expected positive integers (at most one -1), got ${JSON.stringify(target)}`);
        }
        const tgt = target as number[];
        const total = x.shape.slice(1).every(num) ? (x.shape.slice(1) as number[]).reduce((a, b) => a * b, 1) : null;
        const knownPart = tgt.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
        if (total !== null && (tgt.includes(-1) ? total % knownPart !== 0 : total !== knownPart)) {
          bad(`cannot reshape [${x.shape.slice(1).join(',')}] (${total} values) to [${tgt.join(',')}]`);
        }
        const shape: Shape = [null, ...tgt.map((d) => (d === -1 ? (total === null ? null : total / knownPart) : d))];
        const source = x.layout === 'nchw' ? toNhwc(cv, x, layer.name) : x.name;
        if (tgt.length === 3) {
          const r = cv.node('Reshape', [source, cv.constant('i', [0, ...tgt])], cv.fresh(`${layer.name}/nhwc`));
          define({ name: cv.node('Transpose', [r], outName(), { perm: [0, 3, 1, 2] }), shape, layout: 'nchw', softmax: x.softmax });
        } else {
          define({ name: cv.node('Reshape', [source, cv.constant('i', [0, ...tgt])], outName()), shape, layout: 'plain', softmax: x.softmax });
        }
        break;
      }

      case 'Add': {
        if (ins.length < 2) bad(`expected at least two inputs, got ${ins.length}`);
        const layout = ins[0]!.layout;
        if (ins.some((t) => t.layout !== layout || t.shape.length !== ins[0]!.shape.length)) bad('inputs of different ranks are not supported');
        define({ name: cv.node('Sum', ins.map((t) => t.name), outName()), shape: ins[0]!.shape, layout });
        break;
      }

      case 'Concatenate': {
        if (ins.length < 1) bad('expected at least one input');
        const rank = ins[0]!.shape.length;
        const layout = ins[0]!.layout;
        if (ins.some((t) => t.layout !== layout || t.shape.length !== rank)) bad('inputs of different ranks are not supported');
        const a = (cfg.axis as number | undefined) ?? -1;
        const axis = a < 0 ? rank + a : a;
        if (!Number.isInteger(axis) || axis < 1 || axis >= rank) bad(`axis ${JSON.stringify(cfg.axis)} is not supported`);
        // Keras NHWC axis → the NCHW storage axis.
        const stored = layout === 'nchw' ? [0, 2, 3, 1][axis]! : axis;
        const shape = [...ins[0]!.shape];
        shape[axis] = ins.every((t) => num(t.shape[axis])) ? ins.reduce((s, t) => s + (t.shape[axis] as number), 0) : null;
        define({ name: cv.node('Concat', ins.map((t) => t.name), outName(), { axis: stored }), shape, layout });
        break;
      }

      default: {
        if (LINEAR_LIKE.has(layer.className)) {
          tensors.set(layer.name, one());
          break;
        }
        return bad(`layer type ${layer.className} is not supported (supported: InputLayer, Conv2D, DepthwiseConv2D, SeparableConv2D, Dense, BatchNormalization, Activation, ReLU, LeakyReLU, Softmax, ZeroPadding2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Reshape, Flatten, Add, Concatenate, Dropout)`);
      }
    }
  }

  if (!inputHWC) return fail('OWSD_ERR_MODEL_LOAD', `${file}: the model has no InputLayer`);
  const last = tensors.get(outputLayer);
  if (!last) return fail('OWSD_ERR_MODEL_LOAD', `${file}: the output layer '${outputLayer}' is not among the model's layers`);
  if (last.layout !== 'plain' || last.shape.length !== 2 || !num(last.shape[1])) {
    return fail('OWSD_ERR_MODEL_LOAD', `${file}: the output layer '${outputLayer}' gives shape [${last.shape.map(String).join(',')}]; expected a classifier's [batch, classes]`);
  }
  const kind = last.softmax ? 'probabilities' : 'logits';
  const classes = last.shape[1] as number;
  const outputName = cv.node('Identity', [last.name], cv.fresh(kind, true));
  const pooled = lastPool ? tensors.get(lastPool) : undefined;
  const embedding = pooled?.name === TFJS_EMBEDDING ? { tensor: TFJS_EMBEDDING, dim: pooled.shape[pooled.shape.length - 1] ?? null } : undefined;

  const digest = tfjsSourceDigest(src);
  const [h, wd, c] = inputHWC;
  const graph = makeGraph(
    modelConfigName(src),
    cv.nodes,
    [valueInfo(TFJS_INPUT, 'FLOAT', ['batch', c, h ?? 'height', wd ?? 'width'])],
    [valueInfo(outputName, 'FLOAT', ['batch', classes])],
    cv.inits,
  );
  const model = makeModel(graph, {
    producer: `owsd tfjs converter v${TFJS_CONVERTER_VERSION}`,
    docString: `Converted by owsd from the TF.js layers model ${path.basename(file)} (source sha256 ${digest}). Input NCHW, normalised; output ${kind}${embedding ? `; embedding ${TFJS_EMBEDDING}` : ''}.`,
  });
  const bytes = serializeModel(model);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    model: bytes,
    info: { converter: TFJS_CONVERTER_VERSION, digest, inputHWC, output: outputName, kind, classes, embedding, layers: layers.length, folded: cv.folded, seconds },
  };
}

function modelConfigName(src: TfjsSource): string {
  const { config } = modelConfig(src);
  return isObject(config) && typeof config.name === 'string' ? config.name : path.basename(path.dirname(src.file));
}

/** Output size and explicit ONNX pads [top, left, bottom, right] (undefined: unknown input size, use SAME_UPPER). */
function convGeometry(
  shape: Shape,
  k: [number, number],
  s: [number, number],
  d: [number, number],
  padding: unknown,
  bad: (what: string) => never,
): { out: [number | null, number | null]; pads?: number[] } {
  const out: [number | null, number | null] = [null, null];
  const before = [0, 0];
  const after = [0, 0];
  let known = true;
  for (const i of [0, 1]) {
    const n = shape[1 + i];
    const eff = (k[i]! - 1) * d[i]! + 1;
    if (typeof n !== 'number') {
      known = padding === 'valid';
      continue;
    }
    if (padding === 'valid') {
      if (n < eff) bad(`input ${n} pixels is smaller than the kernel's ${eff}`);
      out[i] = Math.floor((n - eff) / s[i]!) + 1;
    } else {
      // TensorFlow 'same': ceil(n / stride) outputs; the odd padding pixel goes after (bottom / right).
      const o = Math.ceil(n / s[i]!);
      const total = Math.max((o - 1) * s[i]! + eff - n, 0);
      before[i] = Math.floor(total / 2);
      after[i] = total - before[i]!;
      out[i] = o;
    }
  }
  return { out, pads: known ? [before[0]!, before[1]!, after[0]!, after[1]!] : undefined };
}

/** Keras HWIO [kh, kw, ci, co] → ONNX OIHW [co, ci, kh, kw]. */
export function hwioToOihw(k: Float32Array, kh: number, kw: number, ci: number, co: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = k[((y * kw + x) * ci + i) * co + o]!;
  return out;
}

/** Keras depthwise [kh, kw, C, M] → ONNX grouped OIHW [C*M, 1, kh, kw] (output channel c*M + m, as in TF). */
export function depthwiseToOihw(k: Float32Array, kh: number, kw: number, c: number, m: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < c; i++)
        for (let j = 0; j < m; j++) out[((i * m + j) * kh + y) * kw + x] = k[((y * kw + x) * c + i) * m + j]!;
  return out;
}

/** y = x * scale + shift per channel, computed in float64 from gamma, beta, moving mean and variance. */
function batchNormParams(layer: KerasLayer, c: number, rank: number, weights: Map<string, Weight>, file: string): { scale: Float32Array; shift: Float32Array } {
  const cfg = layer.config;
  const where = `${file}: layer '${layer.name}' (BatchNormalization)`;
  if (rank !== 2 && rank !== 4) fail('OWSD_ERR_MODEL_LOAD', `${where}: inputs of rank ${rank} are not supported`);
  const axis = Array.isArray(cfg.axis) ? (cfg.axis.length === 1 ? cfg.axis[0] : NaN) : (cfg.axis ?? -1);
  if (axis !== -1 && axis !== rank - 1) fail('OWSD_ERR_MODEL_LOAD', `${where}: axis ${JSON.stringify(cfg.axis)} is not supported (only the channel axis, -1)`);
  const get = (param: string): Float32Array => {
    const wt = weights.get(`${layer.name}/${param}`) ?? [...weights.entries()].find(([k]) => k.endsWith(`/${layer.name}/${param}`))?.[1];
    if (!wt) return fail('OWSD_ERR_MODEL_LOAD', `${where}: weight '${layer.name}/${param}' is missing from the weightsManifest`);
    if (wt.shape.length !== 1 || wt.shape[0] !== c) return fail('OWSD_ERR_MODEL_LOAD', `${where}: weight '${wt.name}' has shape [${wt.shape.join(',')}], expected [${c}]`);
    return wt.data;
  };
  const eps = typeof cfg.epsilon === 'number' ? cfg.epsilon : 1e-3;
  const gamma = cfg.scale === false ? undefined : get('gamma');
  const beta = cfg.center === false ? undefined : get('beta');
  const mean = get('moving_mean');
  const variance = get('moving_variance');
  const scale = new Float32Array(c);
  const shift = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    const s = (gamma ? gamma[i]! : 1) / Math.sqrt(variance[i]! + eps);
    scale[i] = s;
    shift[i] = (beta ? beta[i]! : 0) - mean[i]! * s;
  }
  return { scale, shift };
}

/** NCHW feature map → NHWC (Keras order), for layers that reorder values (Flatten, Reshape). */
function toNhwc(cv: Converter, x: T, layer: string): string {
  return cv.node('Transpose', [x.name], cv.fresh(`${layer}/to_nhwc`), { perm: [0, 2, 3, 1] });
}

/** A Keras activation by name on `x`, written to `out`. */
function activate(cv: Converter, x: T, activation: string, out: string, bad: (what: string) => never): T {
  const same = (name: string, softmax = false): T => ({ name, shape: x.shape, layout: x.layout, softmax });
  switch (activation) {
    case 'linear':
      return same(cv.node('Identity', [x.name], out));
    case 'relu':
      return same(cv.node('Relu', [x.name], out));
    case 'relu6':
      return same(cv.node('Clip', [x.name, cv.constant('f', [0]), cv.constant('f', [6])], out));
    case 'sigmoid':
      return same(cv.node('Sigmoid', [x.name], out));
    case 'tanh':
      return same(cv.node('Tanh', [x.name], out));
    case 'elu':
      return same(cv.node('Elu', [x.name], out, { alpha: { float: 1 } }));
    case 'selu':
      return same(cv.node('Selu', [x.name], out));
    case 'softplus':
      return same(cv.node('Softplus', [x.name], out));
    case 'softsign':
      return same(cv.node('Softsign', [x.name], out));
    case 'hard_sigmoid':
      return same(cv.node('HardSigmoid', [x.name], out, { alpha: { float: 0.2 }, beta: { float: 0.5 } }));
    case 'swish':
    case 'silu': {
      const sig = cv.node('Sigmoid', [x.name], cv.fresh(`${out}/sigmoid`));
      return same(cv.node('Mul', [x.name, sig], out));
    }
    case 'softmax':
      // Keras: over the last (channel) axis; that is axis 1 of an NCHW feature map.
      return same(cv.node('Softmax', [x.name], out, { axis: x.layout === 'nchw' ? 1 : -1 }), true);
    default:
      return bad(`activation "${activation}" is not supported (supported: linear, relu, relu6, sigmoid, tanh, softmax, elu, selu, softplus, softsign, hard_sigmoid, swish)`);
  }
}

export interface PrepareTfjsOptions {
  cacheDir: string;
  skipChecksum?: boolean;
}

/** Where converted models live: `<cacheDir>/tfjs/<source sha256>.v<converter>.onnx` (+ `.info.json`). */
export function tfjsCachePaths(cacheDir: string, digest: string): { onnx: string; info: string } {
  const base = path.join(cacheDir, 'tfjs', `${digest}.v${TFJS_CONVERTER_VERSION}`);
  return { onnx: `${base}.onnx`, info: `${base}.info.json` };
}

function writeAtomic(file: string, data: Uint8Array | string): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
  } catch (e) {
    return fail('OWSD_ERR_FILE', `cannot write the converted model ${file}: ${(e as Error).message} (set OWSD_CACHE to a writable folder)`);
  }
  writeFileAtomic(file, data);
}

function readCachedInfo(paths: { onnx: string; info: string }, digest: string): TfjsConversionInfo | undefined {
  if (!fs.existsSync(paths.onnx)) return undefined;
  try {
    const info = JSON.parse(fs.readFileSync(paths.info, 'utf8')) as TfjsConversionInfo;
    return info.digest === digest && info.converter === TFJS_CONVERTER_VERSION ? info : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A ModelSpec of format 'tfjs' → the spec of its ONNX conversion (converted now, or found in the cache).
 * Checks the manifest's `sha256` (if any) against `tfjsSourceDigest`.
 */
export async function prepareTfjsModel(spec: ModelSpec, opts: PrepareTfjsOptions): Promise<ModelSpec> {
  const src = readTfjsSource(spec.path);
  const digest = tfjsSourceDigest(src);
  if (spec.sha256 && !opts.skipChecksum && spec.sha256 !== digest) {
    return fail(
      'OWSD_ERR_CHECKSUM',
      `${src.file}: the TF.js model's files (model.json and ${new Set(src.shards).size} weight shards) have sha256 ${digest}, but its manifest expects ${spec.sha256}: a file is corrupt or not the model named`,
    );
  }
  const paths = tfjsCachePaths(opts.cacheDir, digest);
  let info = readCachedInfo(paths, digest);
  if (!info) {
    const converted = convertTfjs(src);
    info = converted.info;
    writeAtomic(paths.info, `${JSON.stringify({ ...info, source: src.file }, null, 2)}\n`);
    writeAtomic(paths.onnx, converted.model);
  }
  const [h, w, c] = info.inputHWC;
  const size = inputSize(spec);
  if ((h !== null && h !== size) || (w !== null && w !== size)) {
    return fail('OWSD_ERR_MANIFEST', `model '${spec.name}' (${src.file}): its preprocessing gives ${size}x${size} images, but the model takes ${h}x${w}`);
  }
  if (c !== 3) return fail('OWSD_ERR_MODEL_LOAD', `model '${spec.name}' (${src.file}): the input has ${c} channels; owsd feeds RGB images (3)`);
  if (spec.labels && spec.labels.ids.length !== info.classes) {
    return fail('OWSD_ERR_MANIFEST', `model '${spec.name}' (${src.file}): ${spec.labels.ids.length} labels are given, but the model has ${info.classes} outputs`);
  }
  return {
    ...spec,
    path: paths.onnx,
    sha256: undefined,
    format: 'onnx',
    input: { name: TFJS_INPUT, shape: ['batch', c, h ?? size, w ?? size], layout: 'NCHW' },
    output: { name: info.output, shape: ['batch', info.classes], kind: info.kind },
    embedding: spec.embedding?.tensor || !info.embedding ? spec.embedding : { ...spec.embedding, tensor: info.embedding.tensor, dim: spec.embedding?.dim ?? info.embedding.dim ?? undefined },
    convertedFrom: { path: src.file, format: 'tfjs', sha256: digest },
  };
}
