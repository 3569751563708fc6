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
 */

export interface PreprocessSpec {
  /** Shorter side is resized to this; without `centerCrop` the image is resized to exactly resize x resize. */
  resize: number;
  centerCrop?: number;
  /** Per-channel mean and std applied after scaling pixels to [0,1]. */
  mean: [number, number, number];
  std: [number, number, number];
  kernel: 'linear' | 'cubic' | 'lanczos3' | 'nearest';
}

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
}

/** Height/width the model takes, from the preprocessing spec. */
export function inputSize(spec: ModelSpec): number {
  return spec.preprocess.centerCrop ?? spec.preprocess.resize;
}
