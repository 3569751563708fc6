/** The pipeline: the stages wired together. runDemo (./demo.ts) starts the embedded cloud server, so it is exported by `owsd/server`, not here. */
export { scrambleImages, type ScrambledBatch } from './scramble.js';
export { VectorJournal, MemoryJournal, journaledAnswers, type AnswerJournal } from './journal.js';
export { collectFeatures, featureMatrix, checkBudgets, pendingSubmissions, type Features, type FeatureSet, type KeyChannel, type CollectOptions, type EmbeddingSource, type ProgressFn } from './features.js';
export { readBundle, writeBundle, BUNDLE_FORMAT, type Bundle, type BundleIin } from './bundle.js';
export { openEncoder, openChannels, openCloud, checkKeysMatch, type CloudSettings } from './session.js';
export { selectData, type DataSelection, type SelectedData } from './data.js';
export { screenImages, type BadImagePolicy, type SkippedImage } from './screen.js';
export { fit, trainIins, labelsOf, type FitOptions, type FitResult } from './fit.js';
export { Predictor, imageError, imageResult, type PredictorOptions, type Classified, type ClassifiedSettled, type PredictOutcome, type KeyUsage } from './predict.js';
export { LocalPredictor, type ClassifiedLocal } from './predict.js';
export { rotateKeys, rotatedBundlePath, currentBundle, openCurrentBundle, SUCCESSOR_FILE, type CurrentBundle, type RotateOptions, type RotateResult, type Successor } from './rotate.js';
export { evaluate, type EvalOptions, type EvalReport, type TopK } from './evaluate.js';
export { scoreTopK, argmax, pairedGain, plaintextScores, type PlaintextScores } from './score.js';
export { trafficBound, boundSentences, boundText, BOUND_NOT_MEASURED, BOUND_TOO_FEW, TRAFFIC_BOUND_KS, TRAFFIC_BOUND_MAX_IMAGES, TRAFFIC_BOUND_MIN_QUERIES, PUBLIC_MEANS_MIN_PER_CLASS, type TrafficBound, type TrafficBoundOptions, type TrafficBoundRule } from './bound.js';
