/**
 * A small ONNX graph builder, named after onnx.helper (makeNode, makeTensor, makeGraph, makeModel), over the
 * `onnx-proto` protobuf definitions. The scrambler and the IIN build their graphs in memory with it and hand the
 * bytes to onnxruntime; nothing is written to disk.
 */
import onnxProto from 'onnx-proto';
import type { onnx as O } from 'onnx-proto';

const { onnx } = onnxProto;
export { onnx };

export const OPSET = 17;

export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9 } as const;
export type DataTypeName = keyof typeof DataType;

export type AttrValue = number | string | number[] | string[] | { float: number } | { floats: number[] } | O.ITensorProto;

function makeAttribute(name: string, value: AttrValue): O.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: A.INT, i: value } : { name, type: A.FLOAT, f: value };
  }
  if (Array.isArray(value)) {
    if (value.length > 0 && typeof value[0] === 'string') {
      return { name, type: A.STRINGS, strings: (value as string[]).map((s) => new TextEncoder().encode(s)) };
    }
    return { name, type: A.INTS, ints: value as number[] };
  }
  if ('float' in value) return { name, type: A.FLOAT, f: value.float };
  if ('floats' in value) return { name, type: A.FLOATS, floats: value.floats };
  return { name, type: A.TENSOR, t: value };
}

/** One node. Integer attribute values become INT, others FLOAT; use `{float: 1}` to force a float. */
export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  attributes: Record<string, AttrValue> = {},
  name?: string,
): O.INodeProto {
  return {
    opType,
    input: inputs,
    output: outputs,
    name: name ?? `${opType}_${outputs[0]}`,
    attribute: Object.entries(attributes).map(([k, v]) => makeAttribute(k, v)),
  };
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** A constant tensor (an initializer). Checks that the data has as many elements as the dims say. */
export function makeTensor(
  name: string,
  dims: readonly number[],
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array | number[],
  type: DataTypeName = 'FLOAT',
): O.ITensorProto {
  const n = product(dims);
  if (data.length !== n) {
    throw new RangeError(`tensor '${name}': expected ${n} elements for dims [${dims.join(',')}], but got ${data.length}`);
  }
  let raw: Uint8Array;
  if (type === 'FLOAT') {
    const f = data instanceof Float32Array ? data : Float32Array.from(data as number[]);
    raw = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  } else if (type === 'INT64') {
    const b = data instanceof BigInt64Array ? data : BigInt64Array.from(Array.from(data as ArrayLike<number>, (x) => BigInt(x)));
    raw = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } else if (type === 'INT32') {
    const b = data instanceof Int32Array ? data : Int32Array.from(data as number[]);
    raw = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } else {
    const b = data instanceof Uint8Array ? data : Uint8Array.from(data as number[]);
    raw = b;
  }
  return { name, dims: [...dims], dataType: DataType[type], rawData: raw };
}

export const floatTensor = (name: string, dims: readonly number[], data: Float32Array | number[]) =>
  makeTensor(name, dims, data, 'FLOAT');
export const int64Tensor = (name: string, dims: readonly number[], data: number[]) => makeTensor(name, dims, data, 'INT64');

/** A graph input/output description; a string dim is symbolic (e.g. 'batch'). */
export function valueInfo(name: string, type: DataTypeName, dims: ReadonlyArray<number | string>): O.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export function makeGraph(
  name: string,
  nodes: O.INodeProto[],
  inputs: O.IValueInfoProto[],
  outputs: O.IValueInfoProto[],
  initializers: O.ITensorProto[] = [],
): O.IGraphProto {
  return { name, node: nodes, input: inputs, output: outputs, initializer: initializers };
}

export function makeModel(graph: O.IGraphProto, opts: { opset?: number; producer?: string; docString?: string } = {}): O.IModelProto {
  return {
    irVersion: 8,
    producerName: opts.producer ?? 'owsd',
    docString: opts.docString,
    opsetImport: [{ domain: '', version: opts.opset ?? OPSET }],
    graph,
  };
}

/** Serialize a model to the bytes onnxruntime's InferenceSession.create accepts. */
export function serializeModel(model: O.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

export function decodeModel(bytes: Uint8Array): O.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
