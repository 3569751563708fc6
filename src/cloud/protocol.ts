/**
 * The KServe V2 / Open Inference Protocol (OIP) REST messages: one type per message, and pure functions that
 * build and parse them. Nothing here touches the network; the server (./server) and the clients (./clients) are
 * the transports.
 *
 * Source: kserve/kserve `docs/predict-api/v2/required_api.md` ("Predict Protocol - Version 2", the protocol now
 * called the Open Inference Protocol). The grammar quoted in the doc comments below is the spec's own notation:
 * `$number`, `$string`, `$boolean`, `$object`, `$array` are JSON types, `#optional` marks an optional field.
 *
 * Endpoints (the `versions` part is optional):
 * ```
 *  GET  v2/health/live
 *  GET  v2/health/ready
 *  GET  v2/models/${MODEL_NAME}[/versions/${MODEL_VERSION}]/ready
 *  GET  v2
 *  GET  v2/models/${MODEL_NAME}[/versions/${MODEL_VERSION}]
 *  POST v2/models/${MODEL_NAME}[/versions/${MODEL_VERSION}]/infer
 * ```
 * "A health request is made with an HTTP GET to a health endpoint. The HTTP response status code indicates a
 * boolean result for the health request. A 200 status code indicates true and a 4xx status code indicates false.
 * The HTTP response body should be empty."
 *
 * ## What owsd's embedded cloud accepts (a profile of the protocol)
 * An inference request carries exactly one input tensor (any name), one of:
 * - `BYTES`, shape `[N]`: each element is an encoded image (PNG, JPEG, WebP, ...) in base64, either as a JSON
 *   string or as `{"b64": "..."}` (TensorFlow Serving's convention for binary values);
 * - `UINT8`, shape `[N,H,W,3]` or `[N,3,H,W]`: raw RGB pixels, 0..255;
 * - `FP32`, shape `[N,H,W,3]` or `[N,3,H,W]`: raw RGB pixels **in 0..255** (not normalised: the server applies the
 *   model's own normalisation); values are rounded to 8 bits before the model's resize/crop.
 *
 * The layout of a 4-d tensor is read from which dimension is 3 (`[N,3,H,W]` when dim 1 is 3 and dim 3 is not;
 * `[N,H,W,3]` otherwise). Any image size is accepted: the server resizes and crops as the model's spec says.
 * The answer has one output, `{"name": "probabilities", "datatype": "FP32", "shape": [N, C], "data": [...]}`,
 * softmax already applied where the model gives logits.
 *
 * Extension `binary_tensor_data` (Triton's "Binary Tensor Data Extension", also in KServe's OIP docs): a request
 * body may be the JSON request followed by raw tensor bytes, with the header `Inference-Header-Content-Length`
 * giving the JSON's length in bytes. An input sent this way has `"parameters": {"binary_data_size": S}` and no
 * `data`; its S bytes follow the JSON in input order: little-endian, row-major; a BYTES element is a 4-byte
 * little-endian unsigned length followed by its bytes (so a BYTES [N] input carries N raw PNG/JPEG files, no
 * base64). An output is answered in binary when the request's output has `"parameters": {"binary_data": true}`,
 * or the request has `"parameters": {"binary_data_output": true}`; the answer is then the JSON response followed
 * by the FP32 little-endian probabilities, its output carrying `binary_data_size`, with the same header.
 *
 * Extension `owsd_labels`: model metadata carries an extra top-level field `"labels": {"ids": [...],
 * "names": [...]}` (class i of the output is `ids[i]`, e.g. an ImageNet wnid) when the model's labels are known,
 * and scalar `parameters` (`num_classes`, `input_size`, `layout`, `model_input`, `accepts`). The server metadata's
 * `extensions` lists `owsd_labels`.
 */
import { fail } from '../errors.js';
import { nestsDeeperThan as nestsDeeper } from '../internal/json-depth.js';

/**
 * Tensor data types.
 * ```
 * | BOOL | UINT8 | UINT16 | UINT32 | UINT64 | INT8 | INT16 | INT32 | INT64 | FP16 | FP32 | FP64 | BYTES |
 * ```
 */
export type Datatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64'
  | 'BYTES';

export const DATATYPES: readonly Datatype[] = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'];

/**
 * ```
 * $parameters = { $parameter, ... }
 * $parameter = $string : $string | $number | $boolean
 * ```
 */
export type Parameters = Record<string, string | number | boolean>;

/**
 * "Tensor data must be presented in row-major order of the tensor elements. [...] Tensor elements may be
 * presented in their nature multi-dimensional representation, or as a flattened one-dimensional representation."
 * A BYTES element is a string here, or `{"b64": "..."}`.
 */
export type TensorData = Array<number | string | boolean | { b64: string } | TensorData>;

/**
 * ```
 * $metadata_server_response =
 * {
 *   "name" : $string,
 *   "version" : $string,
 *   "extensions" : [ $string, ... ]
 * }
 * ```
 */
export interface ServerMetadataResponse {
  name: string;
  version: string;
  extensions: string[];
}

/**
 * ```
 * $metadata_tensor =
 * {
 *   "name" : $string,
 *   "datatype" : $string,
 *   "shape" : [ $number, ... ]
 * }
 * ```
 * "Variable-size dimensions are specified as -1."
 */
export interface MetadataTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
}

/**
 * ```
 * $metadata_model_response =
 * {
 *   "name" : $string,
 *   "versions" : [ $string, ... ] #optional,
 *   "platform" : $string,
 *   "inputs" : [ $metadata_tensor, ... ],
 *   "outputs" : [ $metadata_tensor, ... ]
 * }
 * ```
 * owsd adds `parameters` (scalars, as later OIP revisions allow) and the `owsd_labels` extension field `labels`.
 */
export interface ModelMetadataResponse {
  name: string;
  versions?: string[];
  platform: string;
  inputs: MetadataTensor[];
  outputs: MetadataTensor[];
  parameters?: Parameters;
  /** Extension `owsd_labels`: class i of the output is `ids[i]`. */
  labels?: { ids: string[]; names: string[] };
}

/**
 * ```
 * $request_input =
 * {
 *   "name" : $string,
 *   "shape" : [ $number, ... ],
 *   "datatype"  : $string,
 *   "parameters" : $parameters #optional,
 *   "data" : $tensor_data
 * }
 * ```
 * "If the input is batched, the shape and data must represent the full shape and contents of the entire batch."
 */
export interface RequestInput {
  name: string;
  shape: number[];
  datatype: Datatype;
  parameters?: Parameters;
  data: TensorData;
  /** Extension binary_tensor_data: the input's raw bytes (then `data` is empty). */
  raw?: Uint8Array;
}

/**
 * ```
 * $request_output =
 * {
 *   "name" : $string,
 *   "parameters" : $parameters #optional,
 * }
 * ```
 */
export interface RequestOutput {
  name: string;
  parameters?: Parameters;
}

/**
 * ```
 * $inference_request =
 * {
 *   "id" : $string #optional,
 *   "parameters" : $parameters #optional,
 *   "inputs" : [ $request_input, ... ],
 *   "outputs" : [ $request_output, ... ] #optional
 * }
 * ```
 */
export interface InferenceRequest {
  id?: string;
  parameters?: Parameters;
  inputs: RequestInput[];
  outputs?: RequestOutput[];
}

/**
 * ```
 * $response_output =
 * {
 *   "name" : $string,
 *   "shape" : [ $number, ... ],
 *   "datatype"  : $string,
 *   "parameters" : $parameters #optional,
 *   "data" : $tensor_data
 * }
 * ```
 */
export interface ResponseOutput {
  name: string;
  shape: number[];
  datatype: Datatype;
  parameters?: Parameters;
  data: TensorData;
}

/**
 * ```
 * $inference_response =
 * {
 *   "model_name" : $string,
 *   "model_version" : $string #optional,
 *   "id" : $string,
 *   "parameters" : $parameters #optional,
 *   "outputs" : [ $response_output, ... ]
 * }
 * ```
 */
export interface InferenceResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Parameters;
  outputs: ResponseOutput[];
}

/**
 * ```
 * $inference_error_response =
 * {
 *   "error": <error message string>
 * }
 * ```
 * (The same shape as `$metadata_server_error_response` and `$metadata_model_error_response`.)
 */
export interface ErrorResponse {
  error: string;
}

/** The output owsd's cloud answers with. */
export const PROBABILITIES_OUTPUT = 'probabilities';
/** The input name owsd's clients send images under (the server accepts any name). */
export const IMAGE_INPUT = 'image';
/** Platform name of ONNX Runtime models, as Triton reports it (the v2 document's list names it `onnx_onnxv1`). */
export const ONNX_PLATFORM = 'onnxruntime_onnx';
export const LABELS_EXTENSION = 'owsd_labels';
/** The name Triton (and owsd's cloud) list in server metadata `extensions` when they take binary tensor data. */
export const BINARY_EXTENSION = 'binary_tensor_data';
/** The header giving the length of the JSON part of a binary request or response (HTTP headers are case-insensitive). */
export const HEADER_LENGTH_HEADER = 'inference-header-content-length';

// ---------------------------------------------------------------------------------------------------------------
// Parsing (server side): untrusted JSON -> checked messages. Every failure is an OwsdError naming the field.
// ---------------------------------------------------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function brief(v: unknown): string {
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function checkParameters(v: unknown, where: string): Parameters | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) return fail('OWSD_ERR_REQUEST', `${where}: expected an object of name: string|number|boolean pairs, got ${brief(v)}`);
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') {
      return fail('OWSD_ERR_REQUEST', `${where}.${k}: a parameter must be a string, number or boolean, got ${brief(x)}`);
    }
  }
  return v as Parameters;
}

function checkShape(v: unknown, where: string): number[] {
  if (!Array.isArray(v) || !v.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
    return fail('OWSD_ERR_SHAPE', `${where}: expected an array of non-negative integers, got ${brief(v)}`);
  }
  return v as number[];
}

/**
 * Parse and check the structure of `$inference_request` (not what the tensors mean: see tensorToImageBatch).
 * `binary`: the bytes after the JSON of a binary_tensor_data request; each input with `binary_data_size` takes
 * its share in order, and they must add up to exactly all of it.
 */
export function parseInferenceRequest(body: unknown, binary?: Uint8Array): InferenceRequest {
  if (body === undefined || body === null) return fail('OWSD_ERR_REQUEST', 'request body is empty; expected a JSON object {"inputs": [...]}');
  if (!isObject(body)) return fail('OWSD_ERR_REQUEST', `request body: expected a JSON object {"inputs": [...]}, got ${brief(body)}`);
  if (body.id !== undefined && typeof body.id !== 'string') return fail('OWSD_ERR_REQUEST', `id: expected a string, got ${brief(body.id)}`);
  const parameters = checkParameters(body.parameters, 'parameters');
  if (body.inputs === undefined) return fail('OWSD_ERR_REQUEST', 'inputs: missing; expected [{"name", "shape", "datatype", "data"}]');
  if (!Array.isArray(body.inputs) || body.inputs.length === 0) {
    return fail('OWSD_ERR_REQUEST', `inputs: expected a non-empty array of tensors, got ${brief(body.inputs)}`);
  }
  let offset = 0;
  const inputs = body.inputs.map((x: unknown, i: number): RequestInput => {
    const where = `inputs[${i}]`;
    if (!isObject(x)) return fail('OWSD_ERR_REQUEST', `${where}: expected an object {"name", "shape", "datatype", "data"}, got ${brief(x)}`);
    if (typeof x.name !== 'string') return fail('OWSD_ERR_REQUEST', `${where}.name: expected a string, got ${brief(x.name)}`);
    if (x.shape === undefined) return fail('OWSD_ERR_SHAPE', `${where}.shape: missing`);
    const shape = checkShape(x.shape, `${where}.shape`);
    if (typeof x.datatype !== 'string' || !(DATATYPES as readonly string[]).includes(x.datatype)) {
      return fail('OWSD_ERR_DATATYPE', `${where}.datatype: expected one of ${DATATYPES.join(', ')}, got ${brief(x.datatype)}`);
    }
    const parameters = checkParameters(x.parameters, `${where}.parameters`);
    const size = parameters?.binary_data_size;
    if (size !== undefined) {
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
        return fail('OWSD_ERR_REQUEST', `${where}.parameters.binary_data_size: expected a non-negative integer (bytes), got ${brief(size)}`);
      }
      if (x.data !== undefined) return fail('OWSD_ERR_REQUEST', `${where}: has both "data" and parameters.binary_data_size; send the tensor one way`);
      if (binary === undefined) {
        return fail('OWSD_ERR_REQUEST', `${where}.parameters.binary_data_size: binary tensor data needs the header Inference-Header-Content-Length (the length of the JSON part) and the bytes after the JSON`);
      }
      if (offset + size > binary.length) {
        return fail('OWSD_ERR_REQUEST', `${where}.parameters.binary_data_size: declares ${size} bytes but only ${binary.length - offset} bytes of binary data remain after the JSON header (truncated body, or a wrong Inference-Header-Content-Length?)`);
      }
      const raw = binary.subarray(offset, offset + size);
      offset += size;
      return { name: x.name, shape, datatype: x.datatype as Datatype, parameters, data: [], raw };
    }
    if (x.data === undefined) return fail('OWSD_ERR_REQUEST', `${where}.data: missing (or give parameters.binary_data_size and send the bytes after the JSON)`);
    if (!Array.isArray(x.data)) return fail('OWSD_ERR_REQUEST', `${where}.data: expected an array, got ${brief(x.data)}`);
    return {
      name: x.name,
      shape,
      datatype: x.datatype as Datatype,
      parameters,
      data: x.data as TensorData,
    };
  });
  if (binary !== undefined && offset !== binary.length) {
    return fail('OWSD_ERR_REQUEST', `request body: ${binary.length} bytes follow the JSON header (Inference-Header-Content-Length) but the inputs' binary_data_size add up to ${offset}`);
  }
  let outputs: RequestOutput[] | undefined;
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) return fail('OWSD_ERR_REQUEST', `outputs: expected an array of {"name"}, got ${brief(body.outputs)}`);
    outputs = body.outputs.map((o: unknown, i: number): RequestOutput => {
      if (!isObject(o) || typeof o.name !== 'string') return fail('OWSD_ERR_REQUEST', `outputs[${i}].name: expected a string, got ${brief(isObject(o) ? o.name : o)}`);
      return { name: o.name, parameters: checkParameters(o.parameters, `outputs[${i}].parameters`) };
    });
  }
  return { id: body.id as string | undefined, parameters, inputs, outputs };
}

/** Row-major flattening of nested tensor data (the spec allows both forms). */
export function flattenData(data: TensorData): Array<number | string | boolean | { b64: string }> {
  if (!data.some((x) => Array.isArray(x))) return data as Array<number | string | boolean | { b64: string }>;
  const out: Array<number | string | boolean | { b64: string }> = [];
  const walk = (xs: TensorData): void => {
    for (const x of xs) {
      if (Array.isArray(x)) walk(x);
      else out.push(x);
    }
  };
  walk(data);
  return out;
}

/** A decoded image input: encoded image files, or raw pixels as interleaved RGB bytes. */
export type ImageBatch =
  | { kind: 'encoded'; images: Uint8Array[] }
  | { kind: 'pixels'; n: number; height: number; width: number; /** N images, interleaved RGB, row-major. */ data: Uint8Array; from: { datatype: 'UINT8' | 'FP32'; layout: 'NHWC' | 'NCHW' } };

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function decodeBase64(s: string, where: string): Uint8Array {
  const clean = s.includes('\n') || s.includes('\r') || s.includes(' ') ? s.replace(/\s+/g, '') : s;
  if (!BASE64.test(clean)) return fail('OWSD_ERR_REQUEST', `${where}: not base64 (expected a base64-encoded PNG or JPEG)`);
  const bytes = Buffer.from(clean, 'base64');
  if (bytes.length === 0) return fail('OWSD_ERR_IMAGE', `${where}: empty image (0 bytes)`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Where a 4-d pixel tensor keeps its channels: `[N,3,H,W]` when dim 1 is 3 and dim 3 is not, `[N,H,W,3]` when dim 3 is 3. */
export function pixelLayout(shape: readonly number[]): 'NHWC' | 'NCHW' | undefined {
  if (shape.length !== 4) return undefined;
  if (shape[3] === 3) return 'NHWC';
  if (shape[1] === 3) return 'NCHW';
  return undefined;
}

/** The N elements of a binary BYTES tensor: each a 4-byte little-endian length and that many bytes. */
export function splitBinaryBytes(raw: Uint8Array, count: number, where: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > raw.length) return fail('OWSD_ERR_REQUEST', `${where}: binary data ends after ${i} of ${count} BYTES elements (each is a 4-byte little-endian length, then the bytes)`);
    const len = view.getUint32(at, true);
    at += 4;
    if (at + len > raw.length) return fail('OWSD_ERR_REQUEST', `${where}: BYTES element ${i} declares ${len} bytes but only ${raw.length - at} remain in binary_data_size`);
    if (len === 0) return fail('OWSD_ERR_IMAGE', `${where}: element ${i}: empty image (0 bytes)`);
    out.push(raw.subarray(at, at + len));
    at += len;
  }
  if (at !== raw.length) return fail('OWSD_ERR_REQUEST', `${where}: ${raw.length - at} bytes left over after ${count} BYTES elements (shape says ${count})`);
  return out;
}

/**
 * Interpret the one input tensor of an owsd cloud request (see the module doc): BYTES of base64 images (or raw
 * images in binary), or raw UINT8 / FP32 (0..255) pixels [N,H,W,3] or [N,3,H,W], as JSON numbers or binary.
 * Checks datatype, shape and data length.
 */
export function tensorToImageBatch(input: RequestInput, where = 'inputs[0]', maxImages = 1024): ImageBatch {
  const { shape, datatype, raw } = input;
  const data = raw ? [] : flattenData(input.data);
  const count = shape.reduce((a, b) => a * b, 1);
  if (datatype === 'BYTES') {
    if (shape.length !== 1 && !(shape.length === 2 && shape[1] === 1)) {
      return fail('OWSD_ERR_SHAPE', `${where}.shape: a BYTES tensor of images must have shape [N] (or [N,1]), got ${brief(shape)}`);
    }
    if (!raw && data.length !== count) return fail('OWSD_ERR_SHAPE', `${where}.data: has ${data.length} elements but shape ${brief(shape)} needs ${count}`);
    if (count === 0) return fail('OWSD_ERR_SHAPE', `${where}.shape: no images (N is 0)`);
    if (count > maxImages) return fail('OWSD_ERR_SHAPE', `${where}.shape: ${count} images in one request, at most ${maxImages} allowed`);
    if (raw) return { kind: 'encoded', images: splitBinaryBytes(raw, count, `${where} (binary)`) };
    const images = data.map((x, i) => {
      const at = `${where}.data[${i}]`;
      if (typeof x === 'string') return decodeBase64(x, at);
      if (isObject(x) && typeof (x as { b64?: unknown }).b64 === 'string') return decodeBase64((x as { b64: string }).b64, `${at}.b64`);
      return fail('OWSD_ERR_DATATYPE', `${at}: a BYTES element must be a base64 string or {"b64": "..."}, got ${brief(x)}`);
    });
    return { kind: 'encoded', images };
  }
  if (datatype !== 'UINT8' && datatype !== 'FP32') {
    return fail('OWSD_ERR_DATATYPE', `${where}.datatype: ${datatype} is not accepted; send BYTES (base64 PNG/JPEG images), or raw pixels as UINT8 or FP32 (0..255)`);
  }
  const layout = pixelLayout(shape);
  if (!layout) {
    return fail('OWSD_ERR_SHAPE', `${where}.shape: raw ${datatype} pixels need shape [N,H,W,3] or [N,3,H,W], got ${brief(shape)}`);
  }
  const [n, a, b, c] = shape as [number, number, number, number];
  const height = layout === 'NHWC' ? a : b;
  const width = layout === 'NHWC' ? b : c;
  if (n === 0 || height === 0 || width === 0) return fail('OWSD_ERR_SHAPE', `${where}.shape: has a zero dimension: ${brief(shape)}`);
  if (n > maxImages) return fail('OWSD_ERR_SHAPE', `${where}.shape: ${n} images in one request, at most ${maxImages} allowed`);
  let at: (i: number) => unknown;
  if (raw) {
    const width8 = datatype === 'UINT8' ? 1 : 4;
    if (raw.length !== count * width8) {
      return fail('OWSD_ERR_SHAPE', `${where}.parameters.binary_data_size: ${raw.length} bytes but shape ${brief(shape)} of ${datatype} needs ${count * width8}`);
    }
    if (datatype === 'UINT8' && layout === 'NHWC') return { kind: 'pixels', n, height, width, data: raw, from: { datatype, layout } };
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    at = datatype === 'UINT8' ? (i) => raw[i] : (i) => view.getFloat32(i * 4, true);
  } else {
    if (data.length !== count) return fail('OWSD_ERR_SHAPE', `${where}.data: has ${data.length} elements but shape ${brief(shape)} needs ${count}`);
    at = (i) => data[i];
  }
  const out = new Uint8Array(count);
  const plane = height * width;
  for (let i = 0; i < count; i++) {
    const v = at(i);
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail('OWSD_ERR_DATATYPE', `${where}.data[${i}]: expected a number, got ${brief(v)}`);
    if (datatype === 'UINT8' ? !Number.isInteger(v) || v < 0 || v > 255 : v < -0.5 || v >= 255.5) {
      return fail('OWSD_ERR_DATATYPE', `${where}.data[${i}]: ${v} is outside ${datatype === 'UINT8' ? 'UINT8 0..255' : 'the pixel range 0..255 (FP32 pixels are not normalised)'}`);
    }
    const byte = datatype === 'UINT8' ? v : Math.round(v);
    if (layout === 'NHWC') {
      out[i] = byte;
    } else {
      // [N,3,H,W] -> interleaved [N,H,W,3]
      const img = Math.floor(i / (3 * plane));
      const rest = i - img * 3 * plane;
      const ch = Math.floor(rest / plane);
      const p = rest - ch * plane;
      out[img * 3 * plane + p * 3 + ch] = byte;
    }
  }
  return { kind: 'pixels', n, height, width, data: out, from: { datatype, layout } };
}

/**
 * Split a binary_tensor_data body at `headerLength` (the Inference-Header-Content-Length header's value): the JSON
 * part and the tensor bytes after it. A missing, non-numeric, zero or too-large length is OWSD_ERR_REQUEST.
 */
export function splitBinaryBody(body: Uint8Array, headerLength: string): { json: Uint8Array; binary: Uint8Array } {
  const v = headerLength.trim();
  if (!/^\d{1,15}$/.test(v)) return fail('OWSD_ERR_REQUEST', `header Inference-Header-Content-Length: expected the length of the JSON part in bytes (a decimal integer), got ${brief(headerLength)}`);
  const len = Number(v);
  if (len === 0) return fail('OWSD_ERR_REQUEST', 'header Inference-Header-Content-Length: is 0, but the JSON request must come first in the body');
  if (len > body.length) {
    return fail('OWSD_ERR_REQUEST', `header Inference-Header-Content-Length: says the JSON part is ${len} bytes but the whole body is ${body.length} bytes (truncated body, or a wrong length?)`);
  }
  return { json: body.subarray(0, len), binary: body.subarray(len) };
}

/** Whether output `name` is to be answered in binary: its own `binary_data` parameter, else the request's `binary_data_output`. */
export function wantsBinaryOutput(request: InferenceRequest, name: string): boolean {
  const own = request.outputs?.find((o) => o.name === name)?.parameters?.binary_data;
  if (own !== undefined) return own === true;
  return request.parameters?.binary_data_output === true;
}

/** Row-major FP32 values as little-endian bytes. */
export function float32Bytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}

/** A binary_tensor_data message: the JSON part, then the tensor bytes; `headerLength` goes in Inference-Header-Content-Length. */
export function binaryMessage(json: unknown, tensors: Uint8Array[]): { body: Buffer; headerLength: number } {
  const head = Buffer.from(JSON.stringify(json), 'utf8');
  return { body: Buffer.concat([head, ...tensors]), headerLength: head.length };
}

// ---------------------------------------------------------------------------------------------------------------
// Building (server side)
// ---------------------------------------------------------------------------------------------------------------

export function buildProbabilitiesResponse(opts: { modelName: string; modelVersion?: string; id?: string; probs: Float32Array; n: number; numClasses: number }): InferenceResponse {
  const res: InferenceResponse = {
    model_name: opts.modelName,
    model_version: opts.modelVersion,
    id: opts.id,
    outputs: [{ name: PROBABILITIES_OUTPUT, datatype: 'FP32', shape: [opts.n, opts.numClasses], data: Array.from(opts.probs) }],
  };
  if (res.id === undefined) delete res.id;
  if (res.model_version === undefined) delete res.model_version;
  return res;
}

/** The probabilities answer with its output in binary (extension binary_tensor_data). */
export function buildBinaryProbabilitiesResponse(opts: { modelName: string; modelVersion?: string; id?: string; probs: Float32Array; n: number; numClasses: number }): { body: Buffer; headerLength: number } {
  const res = buildProbabilitiesResponse({ ...opts, probs: new Float32Array(0) });
  const bytes = float32Bytes(opts.probs);
  const out = res.outputs[0]!;
  delete (out as Partial<ResponseOutput>).data;
  out.parameters = { binary_data_size: bytes.length };
  return binaryMessage(res, [bytes]);
}

// ---------------------------------------------------------------------------------------------------------------
// Building and parsing (client side)
// ---------------------------------------------------------------------------------------------------------------

/**
 * A binary_tensor_data `$inference_request` carrying N encoded images as one BYTES tensor of shape [N], the files
 * themselves after the JSON (4-byte little-endian length, then the bytes: no base64). With `binaryOutput`, asks for
 * the probabilities in binary too (on the named output, or on every output by the request's `binary_data_output`).
 */
export function buildBinaryImageRequest(images: Uint8Array[], opts: { inputName?: string; outputName?: string; id?: string; binaryOutput?: boolean } = {}): { body: Buffer; headerLength: number } {
  const size = images.reduce((a, x) => a + 4 + x.length, 0);
  const tensor = new Uint8Array(size);
  const view = new DataView(tensor.buffer);
  let at = 0;
  for (const x of images) {
    view.setUint32(at, x.length, true);
    tensor.set(x, at + 4);
    at += 4 + x.length;
  }
  const req: InferenceRequest = {
    inputs: [{ name: opts.inputName ?? IMAGE_INPUT, shape: [images.length], datatype: 'BYTES', parameters: { binary_data_size: size }, data: [] }],
  };
  delete (req.inputs[0] as Partial<RequestInput>).data;
  if (opts.id !== undefined) req.id = opts.id;
  if (opts.outputName !== undefined) req.outputs = [{ name: opts.outputName, ...(opts.binaryOutput ? { parameters: { binary_data: true } } : {}) }];
  else if (opts.binaryOutput) req.parameters = { binary_data_output: true };
  return binaryMessage(req, [tensor]);
}

/**
 * The N probability vectors of an answer that may be binary_tensor_data (`headerLength` is the answer's
 * Inference-Header-Content-Length, null when absent: then the whole answer is JSON). Binary outputs are read in
 * order (FP32 or FP64, little-endian) and checked as parseProbabilitiesResponse checks JSON ones.
 */
export function parseBinaryProbabilitiesResponse(bytes: Uint8Array, headerLength: string | null, n: number, opts: { where: string; outputName?: string; numClasses?: number }): Float32Array[] {
  const where = opts.where;
  const parse = (text: Uint8Array, what: string): unknown => {
    if (nestsDeeper(text)) return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: ${what} nests arrays or objects too deeply`);
    try {
      return JSON.parse(Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8'));
    } catch (e) {
      return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: ${what} is not JSON (${(e as Error).message})`);
    }
  };
  if (headerLength === null) return parseProbabilitiesResponse(parse(bytes, 'the answer'), n, opts);
  const v = headerLength.trim();
  const len = /^\d{1,15}$/.test(v) ? Number(v) : NaN;
  if (!(len > 0 && len <= bytes.length)) {
    return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: answer header Inference-Header-Content-Length is ${brief(headerLength)} but the answer is ${bytes.length} bytes`);
  }
  const body = parse(bytes.subarray(0, len), 'the JSON part of the binary answer');
  const binary = bytes.subarray(len);
  if (isObject(body) && Array.isArray(body.outputs)) {
    let offset = 0;
    for (const [i, o] of (body.outputs as unknown[]).entries()) {
      if (!isObject(o) || !isObject(o.parameters) || o.parameters.binary_data_size === undefined) continue;
      const size = o.parameters.binary_data_size;
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || offset + size > binary.length) {
        return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: outputs[${i}].parameters.binary_data_size is ${brief(size)} but ${binary.length - offset} bytes of binary data remain`);
      }
      const raw = binary.subarray(offset, offset + size);
      offset += size;
      const width = o.datatype === 'FP32' ? 4 : o.datatype === 'FP64' ? 8 : 0;
      if (width === 0) {
        o.data = [];
        continue; // not a probability output; parseProbabilitiesResponse names it if it was the wanted one
      }
      if (size % width !== 0) return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: outputs[${i}] has ${size} bytes, not a whole number of ${o.datatype} values`);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const values: number[] = new Array(size / width);
      for (let j = 0; j < values.length; j++) {
        const x = width === 4 ? view.getFloat32(j * width, true) : view.getFloat64(j * width, true);
        values[j] = Number.isFinite(x) ? x : (null as unknown as number);
      }
      o.data = values;
    }
    if (offset !== binary.length) return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: ${binary.length} bytes follow the JSON part but the outputs' binary_data_size add up to ${offset}`);
  }
  return parseProbabilitiesResponse(body, n, opts);
}

/** `$inference_request` carrying N encoded images (already base64) as one BYTES tensor of shape [N]. */
export function buildImageInferenceRequest(base64Images: string[], opts: { inputName?: string; outputName?: string; id?: string } = {}): InferenceRequest {
  const req: InferenceRequest = {
    inputs: [{ name: opts.inputName ?? IMAGE_INPUT, shape: [base64Images.length], datatype: 'BYTES', data: base64Images }],
  };
  if (opts.id !== undefined) req.id = opts.id;
  if (opts.outputName !== undefined) req.outputs = [{ name: opts.outputName }];
  return req;
}

/**
 * The N probability vectors of an `$inference_response`: the output named `outputName` (or the only output),
 * shape [N, C] (or [N*C] flattened with [N, C] implied by N). Throws OWSD_ERR_CLOUD_RESPONSE with `where` (the URL)
 * in the message when anything is missing, has the wrong length, or holds a non-finite number.
 */
export function parseProbabilitiesResponse(body: unknown, n: number, opts: { where: string; outputName?: string; numClasses?: number }): Float32Array[] {
  const where = opts.where;
  if (!isObject(body)) return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: expected a JSON object {"outputs": [...]}, got ${brief(body)}`);
  if (!Array.isArray(body.outputs) || body.outputs.length === 0) {
    return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: response has no "outputs" array${typeof body.error === 'string' ? ` (error: ${body.error})` : ''}`);
  }
  const outputs = body.outputs as unknown[];
  const wanted = opts.outputName ?? PROBABILITIES_OUTPUT;
  let out = outputs.find((o) => isObject(o) && o.name === wanted);
  if (!out && opts.outputName === undefined && outputs.length === 1) out = outputs[0];
  if (!isObject(out)) {
    const names = outputs.map((o) => (isObject(o) ? String(o.name) : '?')).join(', ');
    return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: response has no output '${wanted}' (outputs: ${names})`);
  }
  if (!Array.isArray(out.data)) return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: output '${String(out.name)}' has no "data" array`);
  const flat = flattenData(out.data as TensorData);
  const shape = Array.isArray(out.shape) ? (out.shape as unknown[]) : undefined;
  if (shape && (shape.length !== 2 || shape[0] !== n)) {
    return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: output '${String(out.name)}' has shape ${brief(shape)}, expected [${n}, C] for ${n} image${n === 1 ? '' : 's'}`);
  }
  if (flat.length === 0 || flat.length % n !== 0) {
    return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: output '${String(out.name)}' has ${flat.length} values, not a multiple of ${n} images`);
  }
  const c = flat.length / n;
  if (shape && shape[1] !== c) return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: output '${String(out.name)}' has shape ${brief(shape)} but ${flat.length} values`);
  return splitVectors(flat, n, c, opts.numClasses, where);
}

/** Split N*C values into N checked vectors (finite numbers; C equal to `numClasses` when given). */
export function splitVectors(flat: unknown[], n: number, c: number, numClasses: number | undefined, where: string): Float32Array[] {
  if (numClasses !== undefined && c !== numClasses) {
    return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: probability vectors have ${c} values, expected ${numClasses} classes`);
  }
  const vectors: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const v = new Float32Array(c);
    for (let j = 0; j < c; j++) {
      const x = flat[i * c + j];
      if (typeof x !== 'number' || !Number.isFinite(x)) {
        return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: image ${i} class ${j}: expected a finite number, got ${x === null ? 'null (NaN or Infinity?)' : brief(x)}`);
      }
      v[j] = x;
    }
    vectors.push(v);
  }
  return vectors;
}
