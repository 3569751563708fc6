export type { ModelSpec, EmbeddingSpec } from './spec.js';
export { inputSize } from './spec.js';
export { readManifest, parseModelEntry, type Manifest, type ManifestProblem } from './manifest.js';
export { resolveModel, listModels, manifestProblems, modelsDirOf, manifestPath, pullCacheDir, type ResolveOptions } from './registry.js';
export { pullModel, type PullOptions } from './pull.js';
export { sha256File, verifySha256 } from './checksum.js';
export { OnnxRunner, softmaxRows, checkInputShape, type BatchMode } from './runner.js';
export { inspectOnnx, type OnnxInspection } from './inspect.js';
export { OnnxClassifier } from './classifier.js';
export { builtinLabels, readLabelsFile, type Labels } from './labels.js';
export {
  convertTfjs,
  prepareTfjsModel,
  readTfjsSource,
  tfjsCachePaths,
  tfjsSourceDigest,
  TFJS_EMBEDDING,
  TFJS_INPUT,
  type TfjsConversion,
  type TfjsConversionInfo,
  type TfjsSource,
} from './tfjs.js';
