/**
 * Find a classifier's embedding (the tensor feeding its final classifier layer) and expose it as a graph output,
 * dequantizing it when it is quantized. Works on float graphs (Gemm/MatMul), QOperator int8 graphs
 * (QLinearMatMul/QGemm: add a DequantizeLinear) and QDQ graphs (skip the Quantize→Dequantize pair back to the
 * float source).
 */
import type { onnx } from 'onnx-proto';
import { decodeModel, makeNode, serializeModel, valueInfo } from '../internal/onnx-graph.js';
import { fail } from '../errors.js';
import type { EmbeddingSpec } from '../models/spec.js';

export const EMBEDDING_OUTPUT = 'owsd_embedding';

type Node = { opType?: string | null; input?: string[] | null; output?: string[] | null; domain?: string | null };

const CLASSIFIER_OPS = new Set(['Gemm', 'MatMul', 'QLinearMatMul', 'QGemm', 'MatMulInteger', 'FullyConnected']);
const PASS_THROUGH = new Set(['Add', 'QLinearAdd', 'DequantizeLinear', 'QuantizeLinear', 'Softmax', 'Identity', 'Reshape', 'Flatten', 'Squeeze', 'Cast']);

export interface TapResult {
  model: Uint8Array;
  /** The tensor the embedding was read from (after any dequantization step was added). */
  source: string;
  dequantized: boolean;
}

function producers(nodes: Node[]): Map<string, Node> {
  const m = new Map<string, Node>();
  for (const n of nodes) for (const o of n.output ?? []) m.set(o, n);
  return m;
}

/** Walk back from the graph output to the last classifier layer; return the data tensor it consumes. */
function locate(nodes: Node[], output: string): { tensor: string; quant?: { scale: string; zeroPoint: string } } {
  const byOutput = producers(nodes);
  let current = byOutput.get(output);
  for (let steps = 0; current && steps < 20; steps++) {
    const op = current.opType ?? '';
    if (CLASSIFIER_OPS.has(op)) {
      const inputs = current.input ?? [];
      if (op === 'QLinearMatMul' || op === 'QGemm') return { tensor: inputs[0]!, quant: { scale: inputs[1]!, zeroPoint: inputs[2]! } };
      let tensor = inputs[0]!;
      // QDQ: x → QuantizeLinear → DequantizeLinear → MatMul: use the float x.
      const dq = byOutput.get(tensor);
      if (dq?.opType === 'DequantizeLinear') {
        const q = byOutput.get(dq.input?.[0] ?? '');
        if (q?.opType === 'QuantizeLinear') tensor = q.input![0]!;
      }
      return { tensor };
    }
    if (op === 'Conv' || !PASS_THROUGH.has(op)) break;
    current = byOutput.get(current.input?.[0] ?? '');
  }
  return fail('OWSD_ERR_MODEL_LOAD', `cannot find the classifier layer feeding output '${output}': name the embedding tensor in the manifest ("embedding": {"tensor": ...})`);
}

/** A copy of the model with the embedding exposed as output `owsd_embedding`. */
export function tapEmbedding(modelBytes: Uint8Array, what: string, spec?: EmbeddingSpec, outputName?: string): TapResult {
  const model = decodeModel(modelBytes);
  const graph = model.graph as onnx.GraphProto;
  if (!graph) return fail('OWSD_ERR_MODEL_LOAD', `${what}: not an ONNX model (no graph)`);
  graph.node ??= [];
  graph.input ??= [];
  graph.output ??= [];
  const nodes = graph.node as Node[];
  let found: { tensor: string; quant?: { scale: string; zeroPoint: string } };
  if (spec?.tensor) {
    found = { tensor: spec.tensor, quant: spec.scale && spec.zeroPoint ? { scale: spec.scale, zeroPoint: spec.zeroPoint } : undefined };
    const known = new Set([...nodes.flatMap((n) => n.output ?? []), ...graph.input.map((i) => i.name ?? '')]);
    if (!known.has(spec.tensor)) return fail('OWSD_ERR_MODEL_LOAD', `${what}: the manifest's embedding tensor '${spec.tensor}' is not in the graph`);
  } else {
    const out = outputName ?? graph.output[0]?.name;
    if (!out) return fail('OWSD_ERR_MODEL_LOAD', `${what}: the graph has no outputs`);
    found = locate(nodes, out);
  }
  if (found.quant) {
    graph.node.push(makeNode('DequantizeLinear', [found.tensor, found.quant.scale, found.quant.zeroPoint], [EMBEDDING_OUTPUT]) as never);
  } else {
    graph.node.push(makeNode('Identity', [found.tensor], [EMBEDDING_OUTPUT]) as never);
  }
  graph.output.push(valueInfo(EMBEDDING_OUTPUT, 'FLOAT', []) as never);
  // valueInfo with an empty shape would claim a scalar: drop the shape so the runtime infers it.
  const added = graph.output[graph.output.length - 1]!;
  if (added.type?.tensorType) added.type.tensorType.shape = undefined as never;
  return { model: serializeModel(model), source: found.tensor, dequantized: Boolean(found.quant) };
}
