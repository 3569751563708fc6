/**
 * `owsd models inspect FILE.onnx`: what an ONNX file takes and gives (inputs, outputs, shapes, element types, read
 * from the model itself), and a manifest entry skeleton for it (its sha256, names and shapes filled in; the
 * preprocessing guessed from the input size, to be checked against the model's documentation).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createSession } from '../internal/ort.js';
import { fail } from '../errors.js';
import { sha256File } from './checksum.js';

export interface TensorInfo {
  name: string;
  /** Element type ("float32", "uint8", ...), when onnxruntime says. */
  type?: string;
  /** Dimensions: numbers, or names for symbolic ones ("batch"). */
  shape?: Array<number | string>;
}

export interface OnnxInspection {
  file: string;
  bytes: number;
  sha256: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** The layout the first input looks like: NCHW (3 channels second), NHWC (3 channels last) or unknown. */
  layout: 'NCHW' | 'NHWC' | 'unknown';
  /** Height x width of the first input when the model fixes them. */
  imageSize?: number;
  /** Classes the first output gives, when the model fixes that dimension. */
  classes?: number;
  /** A models.json entry (or sidecar FILE.onnx.json) for this file: check "preprocess" and "labels" before use. */
  manifestEntry: Record<string, unknown>;
  /** What the skeleton guessed and should be checked. */
  notes: string[];
}

type Meta = { name: string; isTensor?: boolean; type?: string; shape?: Array<number | string> };

function tensorInfo(m: Meta): TensorInfo {
  return { name: m.name, ...(m.type ? { type: m.type } : {}), ...(m.shape ? { shape: m.shape.map((d) => (typeof d === 'number' && d < 0 ? 'batch' : d)) } : {}) };
}

const BUILTIN_BY_CLASSES: Record<number, string> = { 1000: 'imagenet-1k', 10: 'cifar-10', 100: 'cifar-100' };

export async function inspectOnnx(file: string): Promise<OnnxInspection> {
  const abs = path.resolve(file);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    return fail('OWSD_ERR_MODEL_NOT_FOUND', `model file ${abs} does not exist`);
  }
  if (!st.isFile()) fail('OWSD_ERR_BAD_ARGUMENT', `${abs} is not a file: models inspect takes an .onnx file`);
  const session = await createSession(abs, { what: `model file ${abs}`, threads: 1 });
  try {
    const inputs = (session.inputMetadata as unknown as Meta[]).map(tensorInfo);
    const outputs = (session.outputMetadata as unknown as Meta[]).map(tensorInfo);
    const shape = inputs[0]?.shape ?? [];
    const nchw = shape.length === 4 && shape[1] === 3;
    const nhwc = !nchw && shape.length === 4 && shape[3] === 3;
    const layout = nchw ? 'NCHW' : nhwc ? 'NHWC' : 'unknown';
    const [h, w] = nchw ? [shape[2], shape[3]] : nhwc ? [shape[1], shape[2]] : [undefined, undefined];
    const imageSize = typeof h === 'number' && h === w ? h : undefined;
    const outShape = outputs[0]?.shape ?? [];
    const last = outShape[outShape.length - 1];
    const classes = typeof last === 'number' && last > 1 ? last : undefined;
    const notes: string[] = [];
    const size = imageSize ?? 224;
    if (imageSize === undefined) notes.push('the input does not fix a square image size: "preprocess" assumes 224; give the size the model was trained at');
    // ImageNet-sized inputs are usually resized to 256/224 of the size then centre-cropped; small ones resized straight.
    const preprocess: Record<string, unknown> = size >= 160 ? { resize: Math.round((size * 256) / 224), center_crop: size } : { resize: size };
    preprocess.mean = [0.485, 0.456, 0.406];
    preprocess.std = [0.229, 0.224, 0.225];
    notes.push('"preprocess" is a guess (ImageNet mean and std; resize 256/224 then crop for large inputs): check it against the model\'s documentation');
    const labels = classes !== undefined ? BUILTIN_BY_CLASSES[classes] : undefined;
    if (labels) notes.push(`"labels": "${labels}" guessed from ${classes} outputs: check the class order (or give a labels file, one name a line)`);
    else notes.push(`no built-in label list has ${classes ?? 'this many'} classes: set "labels" to a labels file (one name a line) or an array of names`);
    const manifestEntry: Record<string, unknown> = {
      name: path.basename(abs).replace(/\.onnx$/i, ''),
      file: path.basename(abs),
      sha256: await sha256File(abs),
      input: { name: inputs[0]?.name, shape, ...(layout === 'unknown' ? {} : { layout }) },
      output: { name: outputs[0]?.name, shape: outShape, kind: 'logits' },
      preprocess,
      ...(labels ? { labels } : {}),
    };
    notes.push('"output.kind" says "logits": make it "probabilities" if the model ends with a softmax');
    return { file: abs, bytes: st.size, sha256: manifestEntry.sha256 as string, inputs, outputs, layout, ...(imageSize ? { imageSize } : {}), ...(classes ? { classes } : {}), manifestEntry, notes };
  } finally {
    await session.release();
  }
}
