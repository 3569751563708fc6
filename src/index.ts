/**
 * owsd: the flow, as a library. `import ... from 'owsd'` gives what a user of the scrambling pipeline needs: models,
 * images, keys, the encoder, the scrambler, the cloud clients, the IIN, the pipeline (fit / evaluate / predict /
 * rotate), datasets, types, errors and settings. It loads no server, queue, HE or report code: those are the other
 * entry points, `owsd/server` (src/server/index.ts), `owsd/scale` (src/scale/index.ts) and `owsd/research`
 * (src/research.ts). See docs/architecture.md; test/entry-points.test.ts keeps this entry at most 100 runtime names
 * and checks that importing it loads none of fastify, bullmq, ioredis, node-seal or marked.
 */
export { OwsdError, isOwsdError, ERRORS, fail, describe, withField, fieldOf, type ErrorCode } from './errors.js';
export { settings, readSettings, type Settings } from './settings.js';
export { imageName, type ImageInput, type Sample, type Dataset, type LabelScore, type ImagePredictions, type ImageFailure, type ImageResult } from './types.js';

// models: the manifest, the registry, ONNX runners
export {
  resolveModel,
  listModels,
  pullModel,
  readManifest,
  inputSize,
  OnnxRunner,
  OnnxClassifier,
  builtinLabels,
  readLabelsFile,
  prepareTfjsModel,
  inspectOnnx,
  manifestProblems,
  modelsDirOf,
  type ModelSpec,
  type EmbeddingSpec,
  type Manifest,
  type ResolveOptions,
  type PullOptions,
  type BatchMode,
  type Labels,
  type TfjsConversion,
  type TfjsConversionInfo,
  type TfjsSource,
} from './models/index.js';

// image: decoding and preprocessing
export {
  decodeRgb,
  sniffImageFormat,
  preprocessBatch,
  preprocessBatchSettled,
  loadForModel,
  SUPPORTED_FORMATS,
  MAX_INPUT_PIXELS,
  type RgbImage,
  type DecodeOptions,
  type ImageFormat,
  type SniffResult,
  type Layout,
  type PreprocessSpec,
} from './image/index.js';

// key: the secret key file and its usage ledger
export {
  createKey,
  readKeyFile,
  writeKeyFile,
  keyInfo,
  keyIdOf,
  validateBudget,
  validateImageSize,
  UsageLedger,
  KEY_FORMAT,
  DEFAULT_BUDGET,
  MAX_BUDGET,
  DEFAULT_IMAGE_SIZE,
  DEFAULT_BASE_CHANNELS,
  IMAGE_SIZES,
  DEFAULT_EMBEDDING_NOISE,
  MAX_EMBEDDING_NOISE,
  type Key,
  type KeyInfo,
  type NewKeyOptions,
  type GeneratorDesign,
  type Usage,
  type KeyLedger,
} from './key/index.js';

// encoder: image -> embedding
export { Encoder, type TapResult } from './encoder/index.js';

// scrambler: embedding -> scrambled image (the secret generator)
export {
  Scrambler,
  scrambleStats,
  generatorLayers,
  generatorFlops,
  countWeights,
  encodePng,
  isScrambled,
  assertScrambled,
  type ScramblerOptions,
  type LayerShape,
  type ScrambleStats,
  type ScrambledImage,
} from './scrambler/index.js';

// cloud: the clients that send scrambled images to a classifier
export {
  createCloudClient,
  KServeClient,
  TfServingClient,
  GenericClient,
  BatchingClient,
  type CloudClient,
  type CloudHealth,
  type CloudProtocol,
  type ClassifyOptions,
  type CommonClientOptions,
  type KServeClientOptions,
  type KServeWire,
  type KServeWireOptions,
  type TfServingClientOptions,
  type GenericClientOptions,
  type CreateCloudClientOptions,
  type HttpOptions,
} from './cloud/index.js';

// iin: the Internal Inference Network on [embedding, cloud vector]
export {
  Iin,
  trainIin,
  topK,
  readIinJson,
  exportIinOnnx,
  iinWeightsToJson,
  iinWeightsFromJson,
  IIN_DEFAULTS,
  type IinConfig,
  type IinWeights,
  type IinEpochRecord,
  type TrainIinOptions,
  type TrainedIin,
  type ClassScore,
  type IinWeightsJson,
} from './iin/index.js';

// pipeline: the stages wired together
export {
  fit,
  evaluate,
  Predictor,
  LocalPredictor,
  imageResult,
  journaledAnswers,
  scrambleImages,
  readBundle,
  writeBundle,
  BUNDLE_FORMAT,
  rotateKeys,
  currentBundle,
  openCurrentBundle,
  openCloud,
  selectData,
  VectorJournal,
  trafficBound,
  boundSentences,
  boundText,
  type FitOptions,
  type FitResult,
  type EvalOptions,
  type EvalReport,
  type TopK,
  type PredictorOptions,
  type Classified,
  type ClassifiedSettled,
  type ClassifiedLocal,
  type PredictOutcome,
  type KeyUsage,
  type ScrambledBatch,
  type Bundle,
  type BundleIin,
  type CurrentBundle,
  type RotateOptions,
  type RotateResult,
  type Successor,
  type CloudSettings,
  type DataSelection,
  type SelectedData,
  type BadImagePolicy,
  type SkippedImage,
  type Features,
  type FeatureSet,
  type KeyChannel,
  type CollectOptions,
  type EmbeddingSource,
  type AnswerJournal,
  type TrafficBound,
  type TrafficBoundOptions,
  type TrafficBoundRule,
} from './pipeline/index.js';

// data: dataset readers (CIFAR-10/100, Tiny-ImageNet, GTSRB, class folders) and seeded splits
export {
  loadDataset,
  detectFormat,
  loadFolders,
  loadCifar10,
  loadCifar100,
  loadTinyImagenet,
  loadGtsrb,
  prepareDataset,
  IMAGE_EXTENSIONS,
  isImageFile,
  byCodePoint,
  type DatasetFormat,
  type LoadOptions,
  type PrepareOptions,
  type Prepared,
  type ShortLabel,
} from './data/index.js';
