/**
 * What owsd needs to know about a model: where its file is, how to preprocess images for it, what it outputs and
 * where its embedding lives. A `ModelSpec` is the normalised form of one entry of a `models.json` manifest (or of
 * a sidecar `<file>.json` next to a bare `.onnx` file).
 *
 * Manifest entry format (the format of ../shared/models/models.json, extended with optional fields):
 * ```jsonc
 * {
 *   "name": "mobilenetv2-12-int8",            // required: the name used on the command line
 *   "file": "mobilenetv2-12-int8.onnx",       // required: path relative to the manifest's directory
 *   "sha256": "8353...",                      // optional: checked before the file is used
 *   "task": "ImageNet-1k classification",     // optional: free text; "ImageNet-1k"/"CIFAR-10"/"CIFAR-100" pick built-in labels
 *   "input": {"name": "input", "shape": ["batch", 3, 224, 224], "layout": "NCHW"},
 *   "output": {"name": "output", "shape": ["batch", 1000], "kind": "logits"},   // or "probabilities"
 *   "preprocess": {"resize": 256, "center_crop": 224, "mean": [..3], "std": [..3]},  // or "scale": "x/127.5 - 1"
 *   "embedding": {"tensor": "464_quantized", "scale": "464_scale", "zero_point": "464_zero_point", "dim": 1280},
 *   "labels": "imagenet-1k" | "cifar-10" | "cifar-100" | "labels.txt" | ["cat", "dog"],
 *   "official_url": "https://..."             // optional: where `owsd models pull` downloads it from
 * }
 * ```
 * Without `embedding.tensor`, the encoder finds the embedding itself (the tensor feeding the last classifier layer).
 *
 * **TensorFlow.js layers models.** A `file` that is not `.onnx` is a TF.js layers `model.json` (Keras topology and
 * a `weightsManifest` naming float32 weight shards beside it), e.g. `"mobilenet-v1-0.25-224-tfjs/mobilenet_model.json"`.
 * `resolveModel` converts it to ONNX (models/tfjs.ts) into `<cache>/tfjs/<sha256>.v<N>.onnx` (`<cache>`: $OWSD_CACHE,
 * default ~/.cache/owsd), reconverting only when the files change, and returns the spec of the converted model: input
 * `input`, float32 NCHW `[batch, 3, H, W]`; output `probabilities` (or `logits` without a final softmax)
 * `[batch, classes]`; `embedding.tensor` `pooled_features` (the last global pooling layer's output) unless the
 * entry names one. The entry's `input`/`output` describe the TF.js model (NHWC) and are replaced. Its `sha256`, if
 * given, covers all the files: `cd DIR && sha256sum model.json SHARD... | sha256sum`, shards in weightsManifest
 * order. `"scale": "x/127.5 - 1"` is mean 0.5, std 0.5 on [0,1] pixels.
 */

import type { PreprocessSpec } from '../image/preprocess.js';

/** How images are preprocessed for a model; defined beside the preprocessing in image/preprocess.ts. */
export type { PreprocessSpec };

export interface EmbeddingSpec {
  tensor?: string;
  scale?: string;
  zeroPoint?: string;
  dim?: number;
}

export interface ModelSpec {
  name: string;
  /** Absolute path of the model file. */
  path: string;
  sha256?: string;
  format: 'onnx' | 'tfjs';
  task?: string;
  input: { name?: string; shape: Array<number | string>; layout: 'NCHW' | 'NHWC' };
  output: { name?: string; shape?: Array<number | string>; kind: 'logits' | 'probabilities' };
  preprocess: PreprocessSpec;
  embedding?: EmbeddingSpec;
  /** Label ids and names, parallel arrays, when known. */
  labels?: { ids: string[]; names: string[] };
  officialUrl?: string;
  /** The manifest entry as written, for reports. */
  source?: string;
  /** Set when `path` is an ONNX conversion made by owsd: the original model and the sha256 over its files. */
  convertedFrom?: { path: string; format: 'tfjs'; sha256: string };
}

/** Height/width the model takes, from the preprocessing spec. */
export function inputSize(spec: ModelSpec): number {
  return spec.preprocess.centerCrop ?? spec.preprocess.resize;
}
