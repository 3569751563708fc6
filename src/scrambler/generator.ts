/**
 * The secret generator as an ONNX graph: the paper's DCGAN-style deconvolutional network with random weights
 * derived from the key.
 *
 *   embedding [N,D] ─MatMul─▶ [N,s²·C] ─Reshape─▶ [N,C,s,s] ─ReLU─▶ ConvT(4,s2,p1) ─ReLU─▶ … ─ConvT─▶ [N,3,S,S]
 *     ─per-image standardise─▶ tanh ─▶ ×127.5+127.5, round ─▶ uint8 [N,S,S,3] (what becomes the PNG)
 *
 * Channels start at C (paper: 1024 for 256x256, about 45M weights) and halve at each upsampling; the last layer
 * has 3. Weights are N(0, 0.02²) as in DCGAN, rescaled per layer to He variance (std √(2/fan_in)) so the signal
 * survives the depth: without it the paper's initialisation collapses to a flat grey image (see issue notes).
 * There are no biases, so the network is positively homogeneous; the per-image standardisation before tanh then
 * makes the output use the full 0-255 range whatever the embedding's scale.
 */
import { makeGraph, makeModel, makeNode, makeTensor, serializeModel, valueInfo, int64Tensor } from '../internal/onnx-graph.js';
import { deriveNormals } from '../key/keystream.js';
import type { GeneratorDesign, Key } from '../key/keyfile.js';

export interface LayerShape {
  name: string;
  /** MatMul: [D, 16C]; ConvTranspose: [Cin, Cout, 4, 4]. */
  dims: number[];
  fanIn: number;
}

/**
 * The side of the first feature map: the image side halved while it stays even and at least 3 (32 to 512 px
 * powers of two: 4, as in DCGAN; 96 px: 3, five upsamplings; 80 px: 5, four). Each layer costs about
 * start² · C² / 2 multiply-adds whatever its depth (channels halve as the side doubles), so the smallest start
 * is the cheapest generator for a size.
 */
export function startSide(imageSize: number): number {
  let s = imageSize;
  while (s % 2 === 0 && s / 2 >= 3) s /= 2;
  return s;
}

/** The generator's layer shapes for an input dimension and design. */
export function generatorLayers(inputDim: number, g: GeneratorDesign): LayerShape[] {
  const s0 = startSide(g.imageSize);
  const ups = Math.log2(g.imageSize / s0);
  const layers: LayerShape[] = [{ name: 'dense', dims: [inputDim, s0 * s0 * g.baseChannels], fanIn: inputDim }];
  let c = g.baseChannels;
  for (let i = 0; i < ups; i++) {
    const out = i === ups - 1 ? 3 : Math.max(1, c >> 1);
    // A stride-2, 4x4 transposed convolution feeds each output pixel from Cin x 2 x 2 inputs.
    layers.push({ name: `deconv${i + 1}`, dims: [c, out, 4, 4], fanIn: c * 4 });
    c = out;
  }
  return layers;
}

export function countWeights(layers: LayerShape[]): number {
  return layers.reduce((a, l) => a + l.dims.reduce((x, y) => x * y, 1), 0);
}

/** Multiply-adds x2 per image. */
export function generatorFlops(inputDim: number, g: GeneratorDesign): number {
  let side = startSide(g.imageSize);
  let flops = 2 * inputDim * side * side * g.baseChannels;
  for (const l of generatorLayers(inputDim, g).slice(1)) {
    const [cin, cout] = l.dims as [number, number];
    flops += 2 * side * side * cin * cout * 16;
    side *= 2;
  }
  return flops;
}

/**
 * Bytes of float activations one image needs in a generator run: each layer's output plus a transposed
 * convolution's column buffer (Cout x 4 x 4 per input pixel). An estimate for sizing batches: ORT reuses some
 * buffers, so the measured growth is about half of it (bench figures in Scrambler.create's comment).
 */
export function generatorActivationBytes(g: GeneratorDesign): number {
  let side = startSide(g.imageSize);
  let floats = side * side * g.baseChannels;
  for (const l of generatorLayers(1, g).slice(1)) {
    const cout = l.dims[1]!;
    floats += (2 * side) ** 2 * cout + cout * 16 * side * side;
    side *= 2;
  }
  return 4 * floats;
}

const DCGAN_STD = 0.02;

/** Derive the layer weights from the key: the DCGAN N(0, 0.02²) draw, rescaled to He variance. */
export function deriveGeneratorWeights(key: Key, inputDim: number): Array<{ layer: LayerShape; weights: Float32Array }> {
  const g = key.generator;
  return generatorLayers(inputDim, g).map((layer) => {
    const count = layer.dims.reduce((a, b) => a * b, 1);
    const label = `generator/${g.design}/in${inputDim}/size${g.imageSize}/c${g.baseChannels}/${layer.name}`;
    const he = Math.sqrt(2 / layer.fanIn);
    // N(0, 0.02²) · (he / 0.02): written as one multiplication so the result is bit-identical everywhere.
    const weights = deriveNormals(key.secret, label, count, DCGAN_STD * (he / DCGAN_STD));
    return { layer, weights };
  });
}

export interface GeneratorGraphOptions {
  /** Also output every ReLU activation (for the zero-fraction report). */
  exposeActivations?: boolean;
  /** Also output the float image in [-1,1] before quantisation. */
  exposeFloat?: boolean;
  /** How each stride-2 layer is written (default: the key design's form, `generatorForm`). */
  form?: GeneratorForm;
  /** Experiments (bench, tests): each layer's form, overriding `form`'s. */
  layerForms?: LayerForm[];
  /** Experiments: the tail ('separate': v1's fourteen nodes; 'fused': the 'fused' form's four). Default: the form's. */
  tail?: 'separate' | 'fused';
}

/**
 * How one stride-2 layer is written: a ConvTranspose, the four phase Convs (2x2) with Concat and DepthToSpace, or
 * one 3x3 Conv with 4·Cout outputs (each phase's kernel in its 2x2 corner of the window, zeros elsewhere: 2.25x the
 * multiply-adds, one node) and DepthToSpace. conv3x3 was measured slower than both at 96 and 256 px
 * (docs/generator-choice.md) and is kept for the bench.
 */
export type LayerForm = 'convtranspose' | 'subpixel' | 'conv3x3';

/**
 * How the stride-2, 4x4, pad-1 transposed convolutions are written in the graph.
 * - 'convtranspose': one ConvTranspose node each (design dcgan-he-v1).
 * - 'subpixel': the same linear map as four 2x2 convolutions, one per output phase, interleaved by DepthToSpace.
 *   Output pixel 2m+a takes input rows m-1, m (a = 0: taps 3, 1) or m, m+1 (a = 1: taps 2, 0), so phase (a, b) is
 *   a 2x2 Conv with kernel W[:, :, KY[a], KX[b]] (transposed to [Cout, Cin]) and padding 1 before (a = 0) or after
 *   (a = 1). The products and sums are the same; only their order differs, so the floats differ in the last bits.
 * - 'hybrid' (design dcgan-he-v2): 'subpixel' for the layers whose input is at most HYBRID_MAX_SIDE pixels
 *   wide (many channels, few pixels), ConvTranspose for the rest. On onnxruntime's CPU provider the 2x2 Convs
 *   run in its blocked (NCHWc) kernels, faster than ConvTranspose's per-image GEMM + single-threaded col2im where
 *   channels are many and pixels few (profile: the paper's first layer 307 -> 164 ms per 16 images); on the large,
 *   few-channel layers the Concat, DepthToSpace and layout reorders cost more than they save
 *   (docs/generator-choice.md).
 * - 'fused' (design dcgan-he-v3): 'hybrid''s layers and a four-node tail (`tail: 'fused'`): LayerNormalization
 *   over each image (scale 2), Sigmoid, QuantizeLinear to uint8, and the NHWC Transpose on the 8-bit values.
 *   255·σ(2z) = 127.5·tanh(z) + 127.5, and QuantizeLinear rounds half to even and saturates as Round and Clip do,
 *   so it is v1's function up to float rounding; v1's fourteen-node tail passed over the float image about a dozen
 *   times, this one four, and its Sub with an [N,1,1,1] operand was v1's slowest node at batch 32
 *   (docs/generator-choice.md).
 */
export type GeneratorForm = 'convtranspose' | 'subpixel' | 'hybrid' | 'fused';

/** In the 'hybrid' form, the layers whose input side is at most this many pixels are sub-pixel Convs. */
export const HYBRID_MAX_SIDE = 8;

/** Kernel taps of phase a (0: even output rows/columns, 1: odd), for window offsets 0 and 1. */
const PHASE_TAPS = [
  [3, 1],
  [2, 0],
] as const;

/** The phase-(a, b) 2x2 Conv kernel [Cout, Cin, 2, 2] of a ConvTranspose kernel [Cin, Cout, 4, 4]. */
export function phaseKernel(w: Float32Array, cin: number, cout: number, a: number, b: number): Float32Array {
  const k = new Float32Array(cout * cin * 4);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      for (let dy = 0; dy < 2; dy++) {
        for (let dx = 0; dx < 2; dx++) {
          k[((co * cin + ci) * 2 + dy) * 2 + dx] = w[((ci * cout + co) * 4 + PHASE_TAPS[a]![dy]!) * 4 + PHASE_TAPS[b]![dx]!]!;
        }
      }
    }
  }
  return k;
}

/**
 * The 3x3 Conv kernel [4·Cout, Cin, 3, 3] of a ConvTranspose kernel [Cin, Cout, 4, 4]: output channel
 * (2a + b)·Cout + c is phase (a, b) of channel c (DCR order for DepthToSpace); phase a reads window rows a, a + 1
 * with taps PHASE_TAPS[a], the other row is zero.
 */
export function conv3x3Kernel(w: Float32Array, cin: number, cout: number): Float32Array {
  const k = new Float32Array(4 * cout * cin * 9);
  for (let a = 0; a < 2; a++) {
    for (let b = 0; b < 2; b++) {
      for (let co = 0; co < cout; co++) {
        for (let ci = 0; ci < cin; ci++) {
          for (let dy = 0; dy < 2; dy++) {
            for (let dx = 0; dx < 2; dx++) {
              k[((((2 * a + b) * cout + co) * cin + ci) * 3 + a + dy) * 3 + b + dx] = w[((ci * cout + co) * 4 + PHASE_TAPS[a]![dy]!) * 4 + PHASE_TAPS[b]![dx]!]!;
            }
          }
        }
      }
    }
  }
  return k;
}

/** The graph form a design is run with. */
export function generatorForm(g: GeneratorDesign): GeneratorForm {
  return g.design === 'dcgan-he-v1' ? 'convtranspose' : g.design === 'dcgan-he-v2' ? 'hybrid' : 'fused';
}

/** The ONNX model bytes of the key's generator for `inputDim`-dimensional embeddings. */
export function buildGeneratorModel(key: Key, inputDim: number, opts: GeneratorGraphOptions = {}): Uint8Array {
  const g = key.generator;
  const form = opts.form ?? generatorForm(g);
  const derived = deriveGeneratorWeights(key, inputDim);
  const nodes = [];
  const inits = [];
  const extraOutputs = [];
  const relus: string[] = [];
  const dense = derived[0]!;
  inits.push(makeTensor('w_dense', dense.layer.dims, dense.weights));
  const s0 = startSide(g.imageSize);
  // Named shape_4x4 for every 4-px start, so the keys made before other starts existed build the same bytes.
  inits.push(int64Tensor(`shape_${s0}x${s0}`, [4], [-1, g.baseChannels, s0, s0]));
  nodes.push(makeNode('MatMul', ['embedding', 'w_dense'], ['dense_out']));
  nodes.push(makeNode('Reshape', ['dense_out', `shape_${s0}x${s0}`], ['fmap0']));
  let x = 'fmap0';
  derived.slice(1).forEach((d, i) => {
    nodes.push(makeNode('Relu', [x], [`relu${i}`]));
    relus.push(`relu${i}`);
    const out = `deconv${i + 1}`;
    const side = s0 << i;
    const [cin, cout] = d.layer.dims as [number, number];
    const lf: LayerForm = opts.layerForms?.[i] ?? (form === 'convtranspose' || (form !== 'subpixel' && side > HYBRID_MAX_SIDE) ? 'convtranspose' : 'subpixel');
    if (lf === 'convtranspose') {
      inits.push(makeTensor(`w_${d.layer.name}`, d.layer.dims, d.weights));
      nodes.push(makeNode('ConvTranspose', [`relu${i}`, `w_${d.layer.name}`], [out], { kernel_shape: [4, 4], strides: [2, 2], pads: [1, 1, 1, 1] }));
    } else if (lf === 'conv3x3') {
      inits.push(makeTensor(`w_${d.layer.name}_3x3`, [4 * cout, cin, 3, 3], conv3x3Kernel(d.weights, cin, cout)));
      nodes.push(makeNode('Conv', [`relu${i}`, `w_${d.layer.name}_3x3`], [`${out}_phases`], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }));
      nodes.push(makeNode('DepthToSpace', [`${out}_phases`], [out], { blocksize: 2, mode: 'DCR' }));
    } else {
      const phases: string[] = [];
      for (let a = 0; a < 2; a++) {
        for (let b = 0; b < 2; b++) {
          const w = `w_${d.layer.name}_p${a}${b}`;
          inits.push(makeTensor(w, [cout, cin, 2, 2], phaseKernel(d.weights, cin, cout, a, b)));
          // pads: [top, left, bottom, right]
          nodes.push(makeNode('Conv', [`relu${i}`, w], [`${out}_p${a}${b}`], { kernel_shape: [2, 2], pads: [1 - a, 1 - b, a, b] }));
          phases.push(`${out}_p${a}${b}`);
        }
      }
      // Channel (2a + b)·Cout + c of the concatenation goes to pixel (2m + a, 2n + b) of channel c: DCR order.
      nodes.push(makeNode('Concat', phases, [`${out}_phases`], { axis: 1 }));
      nodes.push(makeNode('DepthToSpace', [`${out}_phases`], [out], { blocksize: 2, mode: 'DCR' }));
    }
    x = out;
  });
  if ((opts.tail ?? (form === 'fused' ? 'fused' : 'separate')) === 'fused') {
    // The same function in four passes: LayerNormalization over each image (its mean and variance, eps 1e-6) with
    // scale 2, then 255·sigmoid(2z) = 127.5·tanh(z) + 127.5, rounded half to even and saturated to 0-255 by
    // QuantizeLinear (scale 1/255, zero point 0), then NHWC on the 8-bit values.
    const S = g.imageSize;
    inits.push(int64Tensor('shape_flat', [2], [-1, 3 * S * S]));
    inits.push(int64Tensor('shape_image', [4], [-1, 3, S, S]));
    inits.push(makeTensor('ln_scale', [3 * S * S], new Float32Array(3 * S * S).fill(2)));
    inits.push(makeTensor('q_scale', [], [1 / 255]));
    inits.push(makeTensor('q_zero', [], [0], 'UINT8'));
    nodes.push(
      makeNode('Reshape', [x, 'shape_flat'], ['flat']),
      makeNode('LayerNormalization', ['flat', 'ln_scale'], ['standard2_flat'], { axis: 1, epsilon: 1e-6 }),
      makeNode('Reshape', ['standard2_flat', 'shape_image'], ['standard2']),
      makeNode('Sigmoid', ['standard2'], ['unit']),
      makeNode('QuantizeLinear', ['unit', 'q_scale', 'q_zero'], ['pixels_nchw']),
      makeNode('Transpose', ['pixels_nchw'], ['pixels'], { perm: [0, 2, 3, 1] }),
    );
    if (opts.exposeFloat) {
      inits.push(makeTensor('two_f', [], [2]), makeTensor('one_f', [], [1]));
      nodes.push(makeNode('Mul', ['unit', 'two_f'], ['unit2']), makeNode('Sub', ['unit2', 'one_f'], ['image_float']));
    }
  } else {
    // Per-image standardisation over all pixels and channels, then tanh.
    inits.push(makeTensor('eps', [], [1e-6]));
    inits.push(makeTensor('half_range', [], [127.5]));
    inits.push(makeTensor('zero_f', [], [0]));
    inits.push(makeTensor('max_f', [], [255]));
    nodes.push(
      makeNode('ReduceMean', [x], ['mean'], { axes: [1, 2, 3], keepdims: 1 }),
      makeNode('Sub', [x, 'mean'], ['centred']),
      makeNode('Mul', ['centred', 'centred'], ['sq']),
      makeNode('ReduceMean', ['sq'], ['var'], { axes: [1, 2, 3], keepdims: 1 }),
      makeNode('Add', ['var', 'eps'], ['var_eps']),
      makeNode('Sqrt', ['var_eps'], ['std']),
      makeNode('Div', ['centred', 'std'], ['standard']),
      makeNode('Tanh', ['standard'], ['image_float']),
      // [-1,1] → [0,255], rounded half to even, clipped, uint8, NHWC for the PNG encoder.
      makeNode('Mul', ['image_float', 'half_range'], ['scaled']),
      makeNode('Add', ['scaled', 'half_range'], ['shifted']),
      makeNode('Round', ['shifted'], ['rounded']),
      makeNode('Clip', ['rounded', 'zero_f', 'max_f'], ['clipped']),
      makeNode('Transpose', ['clipped'], ['nhwc'], { perm: [0, 2, 3, 1] }),
      makeNode('Cast', ['nhwc'], ['pixels'], { to: 2 }),
    );
  }
  if (opts.exposeActivations) for (const r of relus) extraOutputs.push(valueInfo(r, 'FLOAT', ['batch', 'c', 'h', 'w']));
  if (opts.exposeFloat) extraOutputs.push(valueInfo('image_float', 'FLOAT', ['batch', 3, g.imageSize, g.imageSize]));
  const graph = makeGraph(
    'owsd_generator',
    nodes,
    [valueInfo('embedding', 'FLOAT', ['batch', inputDim])],
    [valueInfo('pixels', 'UINT8', ['batch', g.imageSize, g.imageSize, 3]), ...extraOutputs],
    inits,
  );
  return serializeModel(makeModel(graph, { docString: `owsd secret generator ${key.id} (${inputDim} → ${g.imageSize}x${g.imageSize}x3)` }));
}
